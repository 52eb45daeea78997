/* mysql_packet.h - MySQL wire framing helpers shared by sessions, checks and admin. */
#ifndef MYSQL_PACKET_H
#define MYSQL_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MYSQL_HEADER_LEN  4
#define MYSQL_MAX_PAYLOAD 0xffffffu

/* Build an ERR packet (header + payload) with sequence id SEQ into BUF. With
 * SQLSTATE NULL the pre-4.1 form is used, as a server does before the handshake.
 * Returns its length, or 0 if BUF is too small. */
size_t mysql_err_packet(uint8_t *buf, size_t len, uint8_t seq, uint16_t err, const char *sqlstate,
                        const char *msg);

/* ON_PACKET's FIRST for the header of a packet that continues a 16 MiB one: its payload is
 * the rest of the same logical packet, but it carries a sequence id of its own. */
#define MYSQL_TRACK_CONT (-2)

/* Follows packet boundaries in one direction of a MySQL stream as bytes pass, without
 * copying them: only each 4-byte header and the first payload byte are looked at (and, for an
 * ERR packet, its 2-byte error number; for a packet the caller asks about, its status flags).
 * The caller gets one call of ON_PACKET per packet header. Bytes may arrive split anywhere. */
struct mysql_tracker {
    uint32_t left;    /* payload bytes of the current packet still to pass */
    uint32_t len;     /* length being assembled from a split header */
    uint8_t hdr_have; /* header bytes seen of the next packet (0..4) */
    uint8_t seq;      /* sequence id of the current packet (less SEQ_SKEW) */
    uint8_t seq_skew; /* taken off each header's sequence id: inside compressed packets a side
                       * numbers its packets after the compressed ones (observe_compress.c) */
    uint8_t first;    /* first payload byte of the current packet */
    uint8_t err_have; /* ERR packet: error number bytes seen (0..2) */
    uint16_t err;
    /* A status scan (mysql_track_status): length-encoded integers still to pass, bytes still
     * to skip, status bytes seen (0..2) and the status assembled. A few bytes of state carry a
     * scan across reads, so nothing is copied. */
    uint8_t scan_ints, scan_skip, scan_have;
    uint16_t status;
    bool scan;         /* a status scan is going on */
    bool want_first;   /* the current packet's first payload byte is still to come */
    bool continuation; /* the current packet continues a 16 MiB one: not a new packet */
    uint64_t packets;  /* packets started */
    /* Called at each packet start (for ERR packets once the error number is known).
     * FIRST is the first payload byte, -1 for an empty packet, or MYSQL_TRACK_CONT for
     * the header of a continuation packet. */
    void (*on_packet)(struct mysql_tracker *t, int first, uint8_t seq, uint16_t err);
    /* Called once a status scan the caller asked for found the 2-byte status flags. */
    void (*on_status)(struct mysql_tracker *t, uint16_t status);
};

/* Where a packet's status flags sit, after its first byte. */
enum mysql_status_layout {
    MYSQL_STATUS_OK,  /* OK packet: affected rows, last insert id (length-encoded), status */
    MYSQL_STATUS_EOF, /* EOF packet (protocol 4.1): warnings (2 bytes), status */
};

/* From ON_PACKET, for the packet whose first byte it was just given: read its status flags
 * as LAYOUT says, as the bytes pass, and hand them to ON_STATUS. A packet that ends before
 * them (or holds a length-encoded integer that is no integer) gives nothing. */
void mysql_track_status(struct mysql_tracker *t, enum mysql_status_layout layout);

/* Feed N bytes that passed; calls t->on_packet as packets start. */
void mysql_track(struct mysql_tracker *t, const uint8_t *p, size_t n);

/* Does the stream stop exactly at a packet boundary? (Between the parts of a 16 MiB
 * packet counts as inside it.) */
static inline bool mysql_track_at_boundary(const struct mysql_tracker *t)
{
    return t->left == 0 && t->hdr_have == 0 && !t->want_first && t->err_have == 0 &&
           !t->continuation;
}

/* What the first bytes a server sends (its greeting) turned out to be. */
enum mysql_greeting_kind {
    MYSQL_GREETING_PARTIAL, /* not complete yet */
    MYSQL_GREETING_OK,      /* a well-formed protocol-10 greeting, nothing after it */
    MYSQL_GREETING_ERR,     /* an ERR packet in its place (too many connections...) */
    MYSQL_GREETING_BAD,     /* anything else: not a MySQL server, or a broken one */
};

/* Largest greeting accepted; real ones are about 100 bytes. */
#define MYSQL_GREETING_MAX 1024

/* Judge the N bytes P a server sent before the client said anything. For ERR, *ERR gets
 * the error number; for BAD, *WHY a short reason. */
enum mysql_greeting_kind mysql_greeting_parse(const uint8_t *p, size_t n, uint16_t *err,
                                              const char **why);

/* Payload length of the packet whose header starts at P. */
static inline uint32_t mysql_payload_len(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

/* ---- building packets (admin port; reusable by anything that answers a client) ---- */

/* Capability flags rebound's admin port speaks about (protocol 4.1). */
#define MYSQL_CLIENT_LONG_PASSWORD      0x00000001u
#define MYSQL_CLIENT_FOUND_ROWS         0x00000002u
#define MYSQL_CLIENT_LONG_FLAG          0x00000004u
#define MYSQL_CLIENT_CONNECT_WITH_DB    0x00000008u
#define MYSQL_CLIENT_PROTOCOL_41        0x00000200u
#define MYSQL_CLIENT_INTERACTIVE        0x00000400u
#define MYSQL_CLIENT_SSL                0x00000800u
#define MYSQL_CLIENT_TRANSACTIONS       0x00002000u
#define MYSQL_CLIENT_SECURE_CONNECTION  0x00008000u
#define MYSQL_CLIENT_MULTI_RESULTS      0x00020000u
#define MYSQL_CLIENT_PLUGIN_AUTH        0x00080000u
#define MYSQL_CLIENT_CONNECT_ATTRS      0x00100000u
#define MYSQL_CLIENT_PLUGIN_AUTH_LENENC 0x00200000u
#define MYSQL_CLIENT_DEPRECATE_EOF      0x01000000u
#define MYSQL_SERVER_STATUS_AUTOCOMMIT  0x0002u

/* Field types: of result columns, and of the parameters of COM_STMT_EXECUTE. */
#define MYSQL_TYPE_DECIMAL     0
#define MYSQL_TYPE_TINY        1
#define MYSQL_TYPE_SHORT       2
#define MYSQL_TYPE_LONG        3
#define MYSQL_TYPE_FLOAT       4
#define MYSQL_TYPE_DOUBLE      5
#define MYSQL_TYPE_NULL        6
#define MYSQL_TYPE_TIMESTAMP   7
#define MYSQL_TYPE_LONGLONG    8
#define MYSQL_TYPE_INT24       9
#define MYSQL_TYPE_DATE        10
#define MYSQL_TYPE_TIME        11
#define MYSQL_TYPE_DATETIME    12
#define MYSQL_TYPE_YEAR        13
#define MYSQL_TYPE_VARCHAR     15
#define MYSQL_TYPE_BIT         16
#define MYSQL_TYPE_JSON        245
#define MYSQL_TYPE_NEWDECIMAL  246
#define MYSQL_TYPE_ENUM        247
#define MYSQL_TYPE_SET         248
#define MYSQL_TYPE_TINY_BLOB   249
#define MYSQL_TYPE_MEDIUM_BLOB 250
#define MYSQL_TYPE_LONG_BLOB   251
#define MYSQL_TYPE_BLOB        252
#define MYSQL_TYPE_VAR_STRING  253
#define MYSQL_TYPE_STRING      254
#define MYSQL_TYPE_GEOMETRY    255
#define MYSQL_NUM_FLAG         0x8000u
#define MYSQL_BINARY_FLAG      0x0080u
#define MYSQL_CHARSET_UTF8MB4  45 /* utf8mb4_general_ci */
#define MYSQL_CHARSET_BINARY   63

/* A growing output buffer of whole packets, bounded by LIMIT bytes. Once a write would
 * pass the limit (or memory runs out) FAILED is set and further writes are ignored, so
 * a caller checks once at the end. */
struct mysql_wbuf {
    uint8_t *data;
    size_t len, cap;
    size_t limit;
    size_t pkt;  /* offset of the header of the packet being written */
    bool failed; /* limit reached or out of memory */
};

void mysql_wbuf_init(struct mysql_wbuf *w, size_t limit);
void mysql_wbuf_free(struct mysql_wbuf *w);
/* Forget the first N bytes (sent). */
void mysql_wbuf_consume(struct mysql_wbuf *w, size_t n);
/* Cut the buffer back to LEN bytes (undo a partial result) and clear FAILED. */
void mysql_wbuf_truncate(struct mysql_wbuf *w, size_t len);

/* Start a packet with sequence id SEQ; end it (fills in the length). A payload of
 * 16 MiB or more is refused (FAILED): nothing here needs one. */
void mysql_pkt_begin(struct mysql_wbuf *w, uint8_t seq);
void mysql_pkt_end(struct mysql_wbuf *w);

void mysql_put_u8(struct mysql_wbuf *w, uint8_t v);
void mysql_put_u16(struct mysql_wbuf *w, uint16_t v);
void mysql_put_u32(struct mysql_wbuf *w, uint32_t v);
void mysql_put_bytes(struct mysql_wbuf *w, const void *p, size_t n);
/* A NUL-terminated string, NUL included. */
void mysql_put_str0(struct mysql_wbuf *w, const char *s);
/* Length-encoded integer: 1, 3, 4 or 9 bytes. */
void mysql_put_lenenc(struct mysql_wbuf *w, uint64_t v);
/* Length-encoded string. */
void mysql_put_lenenc_str(struct mysql_wbuf *w, const void *s, size_t n);

/* Read a length-encoded integer from P (N bytes available). Returns the bytes it
 * took, or 0 if truncated or if it is a NULL (0xfb) or ERR (0xff) marker. */
size_t mysql_get_lenenc(const uint8_t *p, size_t n, uint64_t *v);

/* Whole packets. DEPRECATE_EOF: the client set CLIENT_DEPRECATE_EOF, so a result set ends
 * with an OK packet whose header is 0xfe (mysql_eof_packet writes that form). */
void mysql_ok_packet(struct mysql_wbuf *w, uint8_t seq, uint64_t affected, uint64_t insert_id,
                     uint16_t status, uint16_t warnings, const char *info);
void mysql_eof_packet(struct mysql_wbuf *w, uint8_t seq, uint16_t status, bool deprecate_eof);
void mysql_err_append(struct mysql_wbuf *w, uint8_t seq, uint16_t err, const char *sqlstate,
                      const char *msg);
/* A column definition (protocol 4.1) in schema DB, table TABLE. */
void mysql_column_def(struct mysql_wbuf *w, uint8_t seq, const char *db, const char *table,
                      const char *name, uint8_t type, uint16_t charset, uint32_t length,
                      uint16_t flags, uint8_t decimals);

/* ---- the binary protocol (prepared statements) ---- */

/* Little-endian integers read from P (the caller has checked the length). */
static inline uint16_t mysql_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t mysql_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t mysql_get_u64(const uint8_t *p);
void mysql_put_u64(struct mysql_wbuf *w, uint64_t v);
/* An IEEE 754 double, little-endian, as MYSQL_TYPE_DOUBLE travels. */
void mysql_put_double(struct mysql_wbuf *w, double v);

/* COM_STMT_PREPARE's first answer: statement ID, its NCOLS result columns and NPARAMS
 * parameters (their definitions follow, then the columns'). */
void mysql_prepare_ok(struct mysql_wbuf *w, uint8_t seq, uint32_t id, uint16_t ncols,
                      uint16_t nparams, uint16_t warnings);

/* The NULL bitmap of the binary protocol: bit I + OFFSET, where OFFSET is 2 in a result row
 * and 0 among COM_STMT_EXECUTE's parameters. MYSQL_NULL_BITMAP_LEN bytes for N values. */
#define MYSQL_NULL_BITMAP_LEN(n, offset) (((size_t)(n) + (offset) + 7) / 8)
static inline bool mysql_null_bit(const uint8_t *bitmap, size_t i, unsigned offset)
{
    return bitmap[(i + offset) / 8] & (1u << ((i + offset) % 8));
}
static inline void mysql_set_null_bit(uint8_t *bitmap, size_t i, unsigned offset)
{
    bitmap[(i + offset) / 8] |= (uint8_t)(1u << ((i + offset) % 8));
}

/* What a binary-protocol value holds once decoded. */
enum mysql_bin_kind {
    MYSQL_BIN_UNKNOWN,  /* a type no client sends as a parameter */
    MYSQL_BIN_NULL,     /* MYSQL_TYPE_NULL */
    MYSQL_BIN_INT,      /* integer types, signed: I */
    MYSQL_BIN_UINT,     /* integer types with the unsigned flag: U */
    MYSQL_BIN_DOUBLE,   /* FLOAT, DOUBLE: D */
    MYSQL_BIN_DECIMAL,  /* DECIMAL, NEWDECIMAL: their digits as text in S */
    MYSQL_BIN_STRING,   /* character strings (VARCHAR, VAR_STRING, STRING, ENUM, SET, JSON): S */
    MYSQL_BIN_BLOB,     /* blobs, BIT, GEOMETRY: S */
    MYSQL_BIN_TEMPORAL, /* DATE, DATETIME, TIMESTAMP, TIME: formatted as MySQL shows them, in S */
};

/* One value of the binary protocol. S and LEN point into the packet, or into TEXT for a
 * temporal value ("2024-05-01", "2024-05-01 12:00:00.250000", "-838:59:59"). */
struct mysql_bin_value {
    enum mysql_bin_kind kind;
    int64_t i;
    uint64_t u;
    double d;
    const uint8_t *s;
    size_t len;
    char text[48];
};

/* What a value of field type TYPE decodes to (integers: MYSQL_BIN_INT, whatever their sign). */
enum mysql_bin_kind mysql_bin_kind(uint8_t type);

/* Outcome of mysql_bin_decode(). */
enum mysql_bin_status {
    MYSQL_BIN_OK,
    MYSQL_BIN_TRUNCATED, /* the value runs past the N bytes, or its length byte is invalid */
    MYSQL_BIN_BAD_TYPE,  /* a type no client sends as a parameter */
};

/* Decode one value of field type TYPE (UNSIGNED: the flag that comes with the type) from the
 * N bytes at P into V; *USED gets the bytes it took. */
enum mysql_bin_status mysql_bin_decode(const uint8_t *p, size_t n, uint8_t type, bool is_unsigned,
                                       struct mysql_bin_value *v, size_t *used);

#endif
