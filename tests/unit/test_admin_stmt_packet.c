/* test_admin_stmt_packet.c - prepared statements on the admin port without a socket: the binary
 * protocol's decoders and encoders byte for byte (every parameter type, truncated and unknown
 * ones; rows, the NULL bitmap, COM_STMT_PREPARE_OK), then the commands through the protocol:
 * prepare and execute with each kind of parameter, shortcuts, long data, reset, close,
 * cursors and COM_STMT_FETCH, the statement cap, and every malformed or out-of-order packet
 * answered with its error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "conf.h"
#include "mysql_packet.h"
#include "rebound.h"
#include "worker.h"

static struct conf *conf;

static int setup(void **state)
{
    char err[256];
    (void)state;

    rb_loop = ev_default_loop(0);
    /* A real worker thread: the sessions table parks it at the barrier. */
    if (workers_start(1) < 0)
        return -1;
    conf = conf_parse("global\n admin 127.0.0.1:1 user admin password unit-test-pw-1\n"
                      "listen rw\n bind 127.0.0.1:2\n server a 127.0.0.1:3 check tcp\n"
                      " server b 127.0.0.1:4 check tcp backup\n",
                      "unit", err, sizeof(err));
    if (!conf)
        return -1;
    return admin_init(conf);
}

static int teardown(void **state)
{
    (void)state;
    admin_stop();
    conf_free(conf);
    workers_stop();
    workers_free();
    return 0;
}

/* ---- decoders ---- */

/* Decode TYPE from the N bytes P; the status, with V and *USED filled. */
static enum mysql_bin_status decode(const char *p, size_t n, uint8_t type, bool is_unsigned,
                                    struct mysql_bin_value *v, size_t *used)
{
    return mysql_bin_decode((const uint8_t *)p, n, type, is_unsigned, v, used);
}

static void test_decode_integers(void **state)
{
    struct mysql_bin_value v;
    size_t used;
    (void)state;

    assert_int_equal(decode("\xff", 1, MYSQL_TYPE_TINY, false, &v, &used), MYSQL_BIN_OK);
    assert_int_equal(v.kind, MYSQL_BIN_INT);
    assert_int_equal(v.i, -1);
    assert_int_equal(used, 1);
    assert_int_equal(decode("\xff", 1, MYSQL_TYPE_TINY, true, &v, &used), MYSQL_BIN_OK);
    assert_int_equal(v.kind, MYSQL_BIN_UINT);
    assert_int_equal(v.u, 255);
    assert_int_equal(decode("\x00\x80", 2, MYSQL_TYPE_SHORT, false, &v, &used), MYSQL_BIN_OK);
    assert_int_equal(v.i, -32768);
    assert_int_equal(decode("\xe8\x07", 2, MYSQL_TYPE_YEAR, false, &v, &used), MYSQL_BIN_OK);
    assert_int_equal(v.i, 2024);
    assert_int_equal(decode("\xfe\xff\xff\xff", 4, MYSQL_TYPE_LONG, false, &v, &used),
                     MYSQL_BIN_OK);
    assert_int_equal(v.i, -2);
    assert_int_equal(decode("\x01\x00\x01\x00", 4, MYSQL_TYPE_INT24, false, &v, &used),
                     MYSQL_BIN_OK);
    assert_int_equal(v.i, 65537);
    assert_int_equal(
        decode("\xff\xff\xff\xff\xff\xff\xff\xff", 8, MYSQL_TYPE_LONGLONG, true, &v, &used),
        MYSQL_BIN_OK);
    assert_true(v.u == UINT64_MAX);
    assert_int_equal(used, 8);
    assert_int_equal(
        decode("\x00\x00\x00\x00\x00\x00\x00\x80", 8, MYSQL_TYPE_LONGLONG, false, &v, &used),
        MYSQL_BIN_OK);
    assert_true(v.i == INT64_MIN);
    /* One byte short, every width. */
    assert_int_equal(decode("\x01", 1, MYSQL_TYPE_SHORT, false, &v, &used), MYSQL_BIN_TRUNCATED);
    assert_int_equal(decode("\x01\x02\x03", 3, MYSQL_TYPE_LONG, false, &v, &used),
                     MYSQL_BIN_TRUNCATED);
    assert_int_equal(decode("1234567", 7, MYSQL_TYPE_LONGLONG, false, &v, &used),
                     MYSQL_BIN_TRUNCATED);
    assert_int_equal(decode("", 0, MYSQL_TYPE_TINY, false, &v, &used), MYSQL_BIN_TRUNCATED);
}

static void test_decode_floats_and_strings(void **state)
{
    struct mysql_bin_value v;
    size_t used;
    (void)state;

    assert_int_equal(decode("\x00\x00\xc0\x3f", 4, MYSQL_TYPE_FLOAT, false, &v, &used),
                     MYSQL_BIN_OK);
    assert_int_equal(v.kind, MYSQL_BIN_DOUBLE);
    assert_true(v.d == 1.5);
    assert_int_equal(
        decode("\x9a\x99\x99\x99\x99\x99\xb9\x3f", 8, MYSQL_TYPE_DOUBLE, false, &v, &used),
        MYSQL_BIN_OK);
    assert_true(v.d == 0.1);
    assert_int_equal(decode("\x00\x00\xc0", 3, MYSQL_TYPE_FLOAT, false, &v, &used),
                     MYSQL_BIN_TRUNCATED);
    assert_int_equal(decode("\x05"
                            "12.50",
                            6, MYSQL_TYPE_NEWDECIMAL, false, &v, &used),
                     MYSQL_BIN_OK);
    assert_int_equal(v.kind, MYSQL_BIN_DECIMAL);
    assert_int_equal(v.len, 5);
    assert_memory_equal(v.s, "12.50", 5);
    assert_int_equal(decode("\x03"
                            "abcXYZ",
                            7, MYSQL_TYPE_VAR_STRING, false, &v, &used),
                     MYSQL_BIN_OK);
    assert_int_equal(v.kind, MYSQL_BIN_STRING);
    assert_int_equal(used, 4);
    assert_memory_equal(v.s, "abc", 3);
    assert_int_equal(decode("\x00", 1, MYSQL_TYPE_STRING, false, &v, &used), MYSQL_BIN_OK);
    assert_int_equal(v.len, 0);
    assert_int_equal(decode("\x02\x00\xff", 3, MYSQL_TYPE_BLOB, false, &v, &used), MYSQL_BIN_OK);
    assert_int_equal(v.kind, MYSQL_BIN_BLOB);
    assert_int_equal(v.len, 2);
    /* A 300-byte string: 0xfc and two length bytes. */
    {
        char buf[303] = "\xfc\x2c\x01";
        memset(buf + 3, 'a', 300);
        assert_int_equal(decode(buf, sizeof(buf), MYSQL_TYPE_VARCHAR, false, &v, &used),
                         MYSQL_BIN_OK);
        assert_int_equal(v.len, 300);
        assert_int_equal(used, 303);
        assert_int_equal(decode(buf, sizeof(buf) - 1, MYSQL_TYPE_VARCHAR, false, &v, &used),
                         MYSQL_BIN_TRUNCATED);
    }
    /* The length runs past the packet; a NULL marker is no length. */
    assert_int_equal(decode("\x05"
                            "ab",
                            3, MYSQL_TYPE_VAR_STRING, false, &v, &used),
                     MYSQL_BIN_TRUNCATED);
    assert_int_equal(decode("\xfb", 1, MYSQL_TYPE_VAR_STRING, false, &v, &used),
                     MYSQL_BIN_TRUNCATED);
    assert_int_equal(decode("", 0, MYSQL_TYPE_JSON, false, &v, &used), MYSQL_BIN_TRUNCATED);
    /* NULL takes no byte. */
    assert_int_equal(decode("", 0, MYSQL_TYPE_NULL, false, &v, &used), MYSQL_BIN_OK);
    assert_int_equal(v.kind, MYSQL_BIN_NULL);
    assert_int_equal(used, 0);
    /* Types that never come as parameters. */
    assert_int_equal(decode("\x00", 1, 17, false, &v, &used), MYSQL_BIN_BAD_TYPE);
    assert_int_equal(decode("\x00", 1, 243, false, &v, &used), MYSQL_BIN_BAD_TYPE);
    assert_int_equal(mysql_bin_kind(MYSQL_TYPE_LONG_BLOB), MYSQL_BIN_BLOB);
    assert_int_equal(mysql_bin_kind(MYSQL_TYPE_ENUM), MYSQL_BIN_STRING);
}

static void test_decode_temporal(void **state)
{
    static const struct {
        const char *bytes;
        size_t n;
        uint8_t type;
        const char *text;
    } ok[] = {
        {"\x04\xe8\x07\x05\x01", 5, MYSQL_TYPE_DATE, "2024-05-01"},
        {"\x00", 1, MYSQL_TYPE_DATE, "0000-00-00"},
        {"\x00", 1, MYSQL_TYPE_DATETIME, "0000-00-00 00:00:00"},
        {"\x04\xe8\x07\x05\x01", 5, MYSQL_TYPE_DATETIME, "2024-05-01 00:00:00"},
        {"\x07\xe8\x07\x05\x01\x0c\x22\x38", 8, MYSQL_TYPE_DATETIME, "2024-05-01 12:34:56"},
        {"\x0b\xe8\x07\x05\x01\x0c\x22\x38\x90\xd0\x03\x00", 12, MYSQL_TYPE_TIMESTAMP,
         "2024-05-01 12:34:56.250000"},
        {"\x00", 1, MYSQL_TYPE_TIME, "00:00:00"},
        {"\x08\x01\x22\x00\x00\x00\x16\x3b\x3b", 9, MYSQL_TYPE_TIME, "-838:59:59"},
        {"\x0c\x00\x00\x00\x00\x00\x01\x02\x03\x01\x00\x00\x00", 13, MYSQL_TYPE_TIME,
         "01:02:03.000001"},
    };
    static const struct {
        const char *bytes;
        size_t n;
        uint8_t type;
    } bad[] = {
        {"", 0, MYSQL_TYPE_DATE},
        {"\x05\xe8\x07\x05\x01\x00", 6, MYSQL_TYPE_DATETIME}, /* no such length */
        {"\x07\xe8\x07\x05\x01", 5, MYSQL_TYPE_DATETIME},     /* cut short */
        {"\x0b\xe8\x07\x05\x01\x0c\x22\x38\x90", 9, MYSQL_TYPE_TIMESTAMP},
        {"\x08\x01\x22", 3, MYSQL_TYPE_TIME},
        {"\x04\x00\x00\x00\x00", 5, MYSQL_TYPE_TIME},
    };
    struct mysql_bin_value v;
    size_t used;
    (void)state;

    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        assert_int_equal(decode(ok[i].bytes, ok[i].n, ok[i].type, false, &v, &used), MYSQL_BIN_OK);
        assert_int_equal(v.kind, MYSQL_BIN_TEMPORAL);
        assert_int_equal(used, ok[i].n);
        assert_int_equal(v.len, strlen(ok[i].text));
        assert_memory_equal(v.s, ok[i].text, v.len);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(decode(bad[i].bytes, bad[i].n, bad[i].type, false, &v, &used),
                         MYSQL_BIN_TRUNCATED);
}

/* ---- encoders ---- */

static void test_encoders(void **state)
{
    struct mysql_wbuf w;
    uint8_t bitmap[MYSQL_NULL_BITMAP_LEN(7, 2)] = {0};
    (void)state;

    mysql_wbuf_init(&w, 256);
    mysql_put_u64(&w, 0x0102030405060708ull);
    assert_memory_equal(w.data, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
    assert_true(mysql_get_u64(w.data) == 0x0102030405060708ull);
    mysql_wbuf_truncate(&w, 0);
    mysql_put_double(&w, 2.5);
    assert_memory_equal(w.data, "\x00\x00\x00\x00\x00\x00\x04\x40", 8);
    mysql_wbuf_truncate(&w, 0);
    mysql_prepare_ok(&w, 1, 7, 3, 2, 0);
    assert_int_equal(w.len, 4 + 12);
    assert_memory_equal(w.data, "\x0c\x00\x00\x01\x00\x07\x00\x00\x00\x03\x00\x02\x00\x00\x00\x00",
                        16);
    mysql_wbuf_free(&w);
    /* Rows put the NULL bits at offset 2: 7 columns take 2 bytes. */
    assert_int_equal(sizeof(bitmap), 2);
    mysql_set_null_bit(bitmap, 0, 2);
    mysql_set_null_bit(bitmap, 6, 2);
    assert_int_equal(bitmap[0], 0x04);
    assert_int_equal(bitmap[1], 0x01);
    assert_true(mysql_null_bit(bitmap, 6, 2));
    assert_false(mysql_null_bit(bitmap, 5, 2));
    assert_int_equal(MYSQL_NULL_BITMAP_LEN(8, 0), 1);
    assert_int_equal(MYSQL_NULL_BITMAP_LEN(9, 0), 2);
}

/* ---- the commands, through the protocol ---- */

/* A logged-in protocol (DEPRECATE_EOF as CAPS says), its greeting gone. */
static void proto(struct admin_proto *ap, uint32_t caps, bool readonly)
{
    assert_int_equal(admin_proto_init(ap, 1, "127.0.0.1:1", false), 0);
    ap->phase = AP_COMMAND;
    ap->caps = MYSQL_CLIENT_PROTOCOL_41 | caps;
    ap->client.readonly = readonly;
    snprintf(ap->client.user, sizeof(ap->client.user), "%s", readonly ? "viewer" : "admin");
    mysql_wbuf_truncate(&ap->out, 0);
}

/* Send one command packet (COM, then N bytes of BODY) and do all the work it brings. */
static void send_cmd(struct admin_proto *ap, uint8_t com, const void *body, size_t n)
{
    uint8_t pkt[4096];

    assert_true(n + 5 <= sizeof(pkt));
    pkt[0] = (uint8_t)(n + 1);
    pkt[1] = (uint8_t)((n + 1) >> 8);
    pkt[2] = 0;
    pkt[3] = 0;
    pkt[4] = com;
    memcpy(pkt + 5, body, n);
    mysql_wbuf_truncate(&ap->out, 0);
    assert_int_equal(admin_proto_input(ap, pkt, n + 5), 0);
}

/* The payload of packet I of the output (NULL if there is none), its length in *LEN. */
static const uint8_t *packet_at(const struct admin_proto *ap, int i, size_t *len)
{
    size_t off = 0;

    *len = 0;
    for (; off + 4 <= ap->out.len; i--) {
        size_t n = mysql_payload_len(ap->out.data + off);
        if (i == 0) {
            *len = n;
            return ap->out.data + off + 4;
        }
        off += 4 + n;
    }
    return NULL;
}

static int count_packets(const struct admin_proto *ap)
{
    size_t len;
    int n = 0;

    while (packet_at(ap, n, &len))
        n++;
    return n;
}

/* The answer is an ERR packet with error number CODE. */
static void expect_err(const struct admin_proto *ap, unsigned code)
{
    size_t len;
    const uint8_t *p = packet_at(ap, 0, &len);

    assert_non_null(p);
    if (p[0] != 0xff)
        fail_msg("expected error %u, got a packet starting 0x%02x", code, p[0]);
    if (mysql_get_u16(p + 1) != code)
        fail_msg("expected error %u, got %u: %.*s", code, mysql_get_u16(p + 1), (int)len - 9,
                 (const char *)p + 9);
    assert_int_equal(count_packets(ap), 1);
}

/* The error number of the only packet in AP's output, which must be an ERR packet. */
static unsigned err_code(const struct admin_proto *ap)
{
    size_t len;
    const uint8_t *p = packet_at(ap, 0, &len);

    assert_non_null(p);
    assert_int_equal(p[0], 0xff);
    assert_int_equal(count_packets(ap), 1);
    return mysql_get_u16(p + 1);
}

/* Prepare SQL; the statement id. The answer is checked: PREPARE_OK with NPARAMS and NCOLS,
 * then as many definitions, each list with its EOF unless deprecated. */
static uint32_t prepare(struct admin_proto *ap, const char *sql, int nparams, int ncols)
{
    bool eof = !(ap->caps & MYSQL_CLIENT_DEPRECATE_EOF);
    size_t len;
    const uint8_t *p;

    send_cmd(ap, 0x16, sql, strlen(sql));
    p = packet_at(ap, 0, &len);
    assert_non_null(p);
    if (p[0] != 0x00)
        fail_msg("prepare %s: error %u %.*s", sql, mysql_get_u16(p + 1), (int)len - 9,
                 (const char *)p + 9);
    assert_int_equal(len, 12);
    assert_int_equal(mysql_get_u16(p + 5), ncols);
    assert_int_equal(mysql_get_u16(p + 7), nparams);
    assert_int_equal(count_packets(ap), 1 + nparams + (eof && nparams) + ncols + (eof && ncols));
    return mysql_get_u32(p + 1);
}

/* A COM_STMT_EXECUTE body for statement ID with N parameters of TYPES (type | flags << 8);
 * NULLS a bitmap, VALUES their encoded values. Its length. */
static size_t execute_body(uint8_t *buf, uint32_t id, int n, const uint16_t *types, uint8_t nulls,
                           const void *values, size_t vlen)
{
    size_t off = 0;

    memcpy(buf, &id, 4);
    buf[4] = 0; /* no cursor */
    memcpy(buf + 5, "\x01\x00\x00\x00", 4);
    off = 9;
    if (n == 0)
        return off;
    buf[off++] = nulls;
    buf[off++] = 1; /* new parameters bound */
    for (int i = 0; i < n; i++) {
        buf[off++] = (uint8_t)types[i];
        buf[off++] = (uint8_t)(types[i] >> 8);
    }
    if (vlen)
        memcpy(buf + off, values, vlen);
    return off + vlen;
}

/* The types of the result columns of the answer in the output (column count first). */
static void column_types(const struct admin_proto *ap, int ncols, const uint8_t *want)
{
    size_t len;
    const uint8_t *p = packet_at(ap, 0, &len);

    assert_non_null(p);
    assert_int_equal(p[0], ncols);
    for (int i = 0; i < ncols; i++) {
        p = packet_at(ap, 1 + i, &len);
        assert_non_null(p);
        assert_int_equal(p[len - 6], want[i]); /* type, flags (2), decimals, filler (2) */
    }
}

/* Parameters of every kind in, a binary row out, byte for byte. */
static void test_prepare_execute_row(void **state)
{
    static const uint16_t types[] = {MYSQL_TYPE_LONGLONG,      MYSQL_TYPE_DOUBLE,
                                     MYSQL_TYPE_VAR_STRING,    MYSQL_TYPE_NULL,
                                     MYSQL_TYPE_TINY | 0x8000, MYSQL_TYPE_DATETIME};
    static const uint8_t want_types[] = {MYSQL_TYPE_LONGLONG,   MYSQL_TYPE_DOUBLE,
                                         MYSQL_TYPE_VAR_STRING, MYSQL_TYPE_VAR_STRING,
                                         MYSQL_TYPE_LONGLONG,   MYSQL_TYPE_VAR_STRING};
    static const uint8_t values[] = {
        42,   0,    0,   0, 0, 0,  0,  0,    /* 42 */
        0,    0,    0,   0, 0, 0,  4,  0x40, /* 2.5 */
        2,    'h',  'i',                     /* "hi" */
        0xff,                                /* 255 unsigned */
        7,    0xe8, 7,   5, 1, 12, 34, 56,   /* 2024-05-01 12:34:56 */
    };
    static const uint8_t want_row[] = {
        0x00, 0x20,                                /* header; NULL bitmap: column 4 (bit 3 + 2) */
        42,   0,    0,   0,   0,   0,   0,   0,    /* LONGLONG */
        0,    0,    0,   0,   0,   0,   4,   0x40, /* DOUBLE */
        2,    'h',  'i',                           /* text */
        255,  0,    0,   0,   0,   0,   0,   0,    /* LONGLONG */
        19,   '2',  '0', '2', '4', '-', '0', '5',  '-', '0',
        '1',  ' ',  '1', '2', ':', '3', '4', ':',  '5', '6',
    };
    struct admin_proto ap;
    uint8_t body[256];
    const uint8_t *row;
    size_t n, len;
    uint32_t id;
    (void)state;

    proto(&ap, 0, false);
    id = prepare(&ap, "SELECT ? AS a, ? AS b, ? AS c, ? AS d, ? AS e, ? AS f", 6, 6);
    n = execute_body(body, id, 6, types, 0x08, values, sizeof(values));
    send_cmd(&ap, 0x17, body, n);
    /* count, 6 columns, EOF, the row, EOF */
    assert_int_equal(count_packets(&ap), 1 + 6 + 1 + 1 + 1);
    column_types(&ap, 6, want_types);
    row = packet_at(&ap, 8, &len);
    assert_int_equal(len, sizeof(want_row));
    assert_memory_equal(row, want_row, sizeof(want_row));
    assert_int_equal(packet_at(&ap, 9, &len)[0], 0xfe);
    /* Again without new types: the last ones are used. */
    body[9 + 1] = 0;
    memmove(body + 9 + 2, body + 9 + 2 + 12, sizeof(values));
    send_cmd(&ap, 0x17, body, 9 + 2 + sizeof(values));
    row = packet_at(&ap, 8, &len);
    assert_memory_equal(row, want_row, sizeof(want_row));
    admin_proto_fini(&ap);
}

/* Columns of a table are declared at prepare; a write answers OK with its row count. (No
 * listener runs here: the servers and sessions tables are empty; the integration test
 * writes for real.) */
static void test_prepare_tables_and_writes(void **state)
{
    static const uint16_t str2[] = {MYSQL_TYPE_STRING, MYSQL_TYPE_STRING};
    static const uint16_t i64[] = {MYSQL_TYPE_LONGLONG};
    struct admin_proto ap;
    uint8_t body[256];
    const uint8_t *p;
    size_t n, len;
    uint32_t id;
    (void)state;

    proto(&ap, MYSQL_CLIENT_DEPRECATE_EOF, false);
    id = prepare(&ap, "SELECT name, value FROM status WHERE name = ?", 1, 2);
    p = packet_at(&ap, 1, &len); /* the parameter's definition */
    assert_int_equal(p[len - 6], MYSQL_TYPE_VAR_STRING);
    p = packet_at(&ap, 3, &len); /* value */
    assert_int_equal(p[len - 6], MYSQL_TYPE_LONGLONG);
    n = execute_body(body, id, 1, str2, 0,
                     "\x09"
                     "listeners",
                     10);
    send_cmd(&ap, 0x17, body, n);
    /* count, 2 columns, 1 row, OK-as-EOF */
    assert_int_equal(count_packets(&ap), 5);
    p = packet_at(&ap, 3, &len);
    assert_int_equal(len, 2 + 10 + 8);
    assert_memory_equal(p,
                        "\x00\x00\x09"
                        "listeners"
                        "\x00\x00\x00\x00\x00\x00\x00\x00",
                        20);
    id = prepare(&ap, "UPDATE servers SET admin_state = ? WHERE name = ?", 2, 0);
    n = execute_body(body, id, 2, str2, 0,
                     "\x05"
                     "drain"
                     "\x01"
                     "a",
                     8);
    send_cmd(&ap, 0x17, body, n);
    assert_int_equal(count_packets(&ap), 1);
    assert_memory_equal(packet_at(&ap, 0, &len), "\x00\x00", 2); /* OK, no row */
    id = prepare(&ap, "DELETE FROM sessions WHERE id = ?", 1, 0);
    n = execute_body(body, id, 1, i64, 0, "\x07\x00\x00\x00\x00\x00\x00\x00", 8);
    send_cmd(&ap, 0x17, body, n);
    assert_memory_equal(packet_at(&ap, 0, &len), "\x00\x00", 2);
    admin_proto_fini(&ap);
}

/* Shortcuts: SQL ones take parameters; those that answer by themselves run at execution. */
static void test_prepare_shortcuts(void **state)
{
    static const uint16_t str[] = {MYSQL_TYPE_VAR_STRING};
    struct admin_proto ap;
    uint8_t body[64];
    size_t n;
    uint32_t id;
    (void)state;

    proto(&ap, MYSQL_CLIENT_DEPRECATE_EOF, false);
    id = prepare(&ap, "SHOW STATUS LIKE ?", 1, 2);
    n = execute_body(body, id, 1, str, 0,
                     "\x0a"
                     "listeners%",
                     11);
    send_cmd(&ap, 0x17, body, n);
    assert_int_equal(count_packets(&ap), 1 + 2 + 1 + 1);
    id = prepare(&ap, "SHOW SERVERS", 0, 9);
    id = prepare(&ap, "SHOW FULL SERVERS", 0, 31);
    id = prepare(&ap, "select @@version_comment limit 1", 0, 1);
    id = prepare(&ap, "DESCRIBE servers", 0, 6);
    n = execute_body(body, id, 0, NULL, 0, NULL, 0);
    send_cmd(&ap, 0x17, body, n);
    assert_int_equal(count_packets(&ap), 1 + 6 + 31 + 1); /* a row per column */
    id = prepare(&ap, "SET NAMES utf8mb4", 0, 0);
    send_cmd(&ap, 0x17, body, execute_body(body, id, 0, NULL, 0, NULL, 0));
    assert_int_equal(packet_at(&ap, 0, &n)[0], 0x00);
    id = prepare(&ap, "KILL 12345", 0, 0);
    send_cmd(&ap, 0x17, body, execute_body(body, id, 0, NULL, 0, NULL, 0));
    expect_err(&ap, 1094); /* checked at the execution */
    admin_proto_fini(&ap);
}

/* What the text path refuses is refused at prepare, with the same errors. */
static void test_prepare_refusals(void **state)
{
    static const struct {
        const char *sql;
        bool readonly;
        unsigned err;
    } cases[] = {
        {"UPDATE servers SET admin_state = ?", true, 1142},
        {"DELETE FROM sessions WHERE id = ?", true, 1142},
        {"CREATE TABLE t(a)", false, 1227},
        {"VACUUM", false, 1227},
        {"SELECT load_extension(?)", false, 1305},
        {"SELECT * FROM nosuchtable WHERE a = ?", false, 1146},
        {"SELEKT ?", false, 1064},
        {"SELECT 1; SELECT 2", false, 1064},
        {"SELECT :name", false, 1064},
        {"SELECT @uservar", false, 1064},
        {"SELECT ?2", false, 1064},
        {"", false, 1065},
        {"SHOW HEALTH LOG LIMIT ?", false, 1064},
    };
    struct admin_proto ap;
    (void)state;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        proto(&ap, 0, cases[i].readonly);
        send_cmd(&ap, 0x16, cases[i].sql, strlen(cases[i].sql));
        expect_err(&ap, cases[i].err);
        assert_null(LIST_FIRST(&ap.stmts.list));
        admin_proto_fini(&ap);
    }
}

/* Every malformed or misdirected packet gets its error; the statement still works after. */
static void test_bad_packets(void **state)
{
    static const uint16_t two_str[] = {MYSQL_TYPE_VAR_STRING, MYSQL_TYPE_VAR_STRING};
    static const uint16_t bad_type[] = {17, MYSQL_TYPE_VAR_STRING};
    struct admin_proto ap;
    uint8_t body[256] = {0};
    size_t n;
    uint32_t id, other = 999;
    (void)state;

    proto(&ap, 0, false);
    id = prepare(&ap, "SELECT ? || ?", 2, 1);
    send_cmd(&ap, 0x17, body, 5); /* shorter than the header */
    expect_err(&ap, 1835);
    send_cmd(&ap, 0x17, body, execute_body(body, other, 0, NULL, 0, NULL, 0));
    expect_err(&ap, 1243);
    send_cmd(&ap, 0x17, body, execute_body(body, id, 0, NULL, 0, NULL, 0)); /* no parameters */
    expect_err(&ap, 1210);
    n = execute_body(body, id, 2, two_str, 0, NULL, 0);
    body[10] = 0; /* no types, and none sent before */
    send_cmd(&ap, 0x17, body, 11);
    expect_err(&ap, 1210);
    send_cmd(&ap, 0x17, body, 10); /* the bitmap, then nothing */
    expect_err(&ap, 1835);
    n = execute_body(body, id, 2, two_str, 0, NULL, 0);
    send_cmd(&ap, 0x17, body, n - 1); /* types cut short */
    expect_err(&ap, 1835);
    send_cmd(&ap, 0x17, body, n); /* no values */
    expect_err(&ap, 1835);
    n = execute_body(body, id, 2, two_str, 0,
                     "\x01"
                     "a"
                     "\x09"
                     "b",
                     4); /* length too long */
    send_cmd(&ap, 0x17, body, n);
    expect_err(&ap, 1835);
    n = execute_body(body, id, 2, bad_type, 0,
                     "\x01"
                     "a"
                     "\x01"
                     "b",
                     4);
    send_cmd(&ap, 0x17, body, n);
    expect_err(&ap, 1210);
    /* Trailing bytes are ignored; the NULL bit skips a value. */
    n = execute_body(body, id, 2, two_str, 0x02,
                     "\x01"
                     "a"
                     "??",
                     4);
    send_cmd(&ap, 0x17, body, n);
    assert_int_equal(count_packets(&ap), 1 + 1 + 1 + 1 + 1);
    assert_memory_equal(packet_at(&ap, 3, &n), "\x00\x04", 2); /* NULL: 'a' || NULL */
    /* Other commands. */
    send_cmd(&ap, 0x1a, "\x01\x02", 2);
    expect_err(&ap, 1835);
    send_cmd(&ap, 0x1a, &other, 4);
    expect_err(&ap, 1243);
    send_cmd(&ap, 0x1c, &id, 4);
    expect_err(&ap, 1835);
    memcpy(body, &id, 4);
    memcpy(body + 4, "\x10\x00\x00\x00", 4);
    send_cmd(&ap, 0x1c, body, 8);
    expect_err(&ap, 1421);
    memcpy(body, &other, 4);
    send_cmd(&ap, 0x1c, body, 8);
    expect_err(&ap, 1243);
    send_cmd(&ap, 0x18, "\x01", 1); /* no answer to long data, nor to close */
    assert_int_equal(ap.out.len, 0);
    send_cmd(&ap, 0x19, &other, 4);
    assert_int_equal(ap.out.len, 0);
    send_cmd(&ap, 0x19, "", 0);
    assert_int_equal(ap.out.len, 0);
    /* COM_STMT_RESET answers OK; COM_STMT_CLOSE frees: the id is unknown after. */
    send_cmd(&ap, 0x1a, &id, 4);
    assert_int_equal(packet_at(&ap, 0, &n)[0], 0x00);
    send_cmd(&ap, 0x19, &id, 4);
    assert_int_equal(ap.out.len, 0);
    send_cmd(&ap, 0x17, body, execute_body(body, id, 0, NULL, 0, NULL, 0));
    expect_err(&ap, 1243);
    admin_proto_fini(&ap);
}

/* Long data replaces a parameter's value for one execution; errors wait for the execution. */
static void test_long_data(void **state)
{
    static const uint16_t types[] = {MYSQL_TYPE_BLOB, MYSQL_TYPE_LONGLONG};
    struct admin_proto ap;
    uint8_t body[256], ld[64];
    size_t n, len;
    uint32_t id;
    const uint8_t *p;
    char *big;
    (void)state;

    proto(&ap, MYSQL_CLIENT_DEPRECATE_EOF, false);
    id = prepare(&ap, "SELECT length(?) AS l, ? AS i", 2, 2);
    memcpy(ld, &id, 4);
    memcpy(ld + 4,
           "\x00\x00"
           "hello ",
           8);
    send_cmd(&ap, 0x18, ld, 12);
    memcpy(ld + 4,
           "\x00\x00"
           "world",
           7);
    send_cmd(&ap, 0x18, ld, 11);
    assert_int_equal(ap.out.len, 0);
    assert_int_equal(ap.stmts.long_data, 11);
    /* The long-data parameter has no value in the packet, whatever its NULL bit says. */
    n = execute_body(body, id, 2, types, 0x01, "\x07\x00\x00\x00\x00\x00\x00\x00", 8);
    send_cmd(&ap, 0x17, body, n);
    p = packet_at(&ap, 3, &len);
    assert_memory_equal(p, "\x00\x00\x0b\x00\x00\x00\x00\x00\x00\x00\x07", 11);
    assert_int_equal(ap.stmts.long_data, 0); /* one execution only */
    /* A parameter that does not exist: told by the next execution, once. */
    memcpy(ld + 4,
           "\x05\x00"
           "x",
           3);
    send_cmd(&ap, 0x18, ld, 7);
    assert_int_equal(ap.out.len, 0);
    send_cmd(&ap, 0x17, body, n);
    expect_err(&ap, 1210);
    n = execute_body(body, id, 2, types, 0, "\x01x\x07\x00\x00\x00\x00\x00\x00\x00", 10);
    send_cmd(&ap, 0x17, body, n);
    assert_int_equal(count_packets(&ap), 5);
    /* More than a value may hold: refused at the execution, memory given back. */
    big = calloc(1, 40000);
    assert_non_null(big);
    memcpy(big, &id, 4);
    send_cmd(&ap, 0x18, big, 3000);
    assert_int_equal(ap.stmts.long_data, 2994);
    for (int i = 0; i < 30; i++)
        send_cmd(&ap, 0x18, big, 3000);
    assert_true(ap.stmts.long_data <= ADMIN_SQL_MAX_VALUE);
    send_cmd(&ap, 0x17, body, n);
    expect_err(&ap, 1041);
    assert_int_equal(ap.stmts.long_data, 0);
    /* COM_STMT_RESET forgets long data. */
    send_cmd(&ap, 0x18, big, 100);
    send_cmd(&ap, 0x1a, &id, 4);
    assert_int_equal(ap.stmts.long_data, 0);
    free(big);
    /* Closing with long data held frees it (ASan tells). */
    memcpy(ld + 4,
           "\x01\x00"
           "abc",
           5);
    send_cmd(&ap, 0x18, ld, 9);
    assert_int_equal(ap.stmts.long_data, 3);
    admin_proto_fini(&ap);
}

/* At most ADMIN_STMT_MAX statements; closing one makes room; a reset closes them all. */
static void test_statement_cap(void **state)
{
    struct admin_proto ap;
    uint8_t body[64];
    uint32_t id = 0, first = 0;
    (void)state;

    proto(&ap, MYSQL_CLIENT_DEPRECATE_EOF, false);
    for (int i = 0; i < ADMIN_STMT_MAX; i++) {
        id = prepare(&ap, "SELECT 1", 0, 1);
        if (i == 0)
            first = id;
    }
    send_cmd(&ap, 0x16, "SELECT 1", 8);
    expect_err(&ap, 1461);
    send_cmd(&ap, 0x19, &first, 4);
    assert_true(prepare(&ap, "SELECT 2", 0, 1) != id);
    send_cmd(&ap, 0x1f, "", 0); /* COM_RESET_CONNECTION */
    assert_int_equal(ap.stmts.count, 0);
    send_cmd(&ap, 0x17, body, execute_body(body, id, 0, NULL, 0, NULL, 0));
    expect_err(&ap, 1243);
    admin_proto_fini(&ap);
}

/* A COM_STMT_FETCH body: statement ID, NROWS rows. */
static void fetch_body(uint8_t *buf, uint32_t id, uint32_t nrows)
{
    memcpy(buf, &id, 4);
    memcpy(buf + 4, &nrows, 4);
}

/* An execution asking for a read-only cursor gets its columns and an EOF saying the cursor
 * exists; COM_STMT_FETCH hands out the rows, the last fetch says so, then there is none. */
static void test_cursor(void **state)
{
    struct admin_proto ap;
    uint8_t body[64];
    const uint8_t *p;
    size_t n, len;
    uint32_t id;
    unsigned code;
    int rows;
    (void)state;

    proto(&ap, 0, false);
    id = prepare(&ap,
                 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 5) "
                 "SELECT x FROM c",
                 0, 1);
    n = execute_body(body, id, 0, NULL, 0, NULL, 0);
    body[4] = 0x01; /* CURSOR_TYPE_READ_ONLY */
    send_cmd(&ap, 0x17, body, n);
    assert_int_equal(count_packets(&ap), 3); /* count, column, EOF */
    p = packet_at(&ap, 2, &len);
    assert_memory_equal(p, "\xfe\x00\x00\x42\x00", 5); /* autocommit, cursor exists */
    fetch_body(body, id, 2);
    send_cmd(&ap, 0x1c, body, 8);
    assert_int_equal(count_packets(&ap), 3);
    assert_int_equal(ap.out.data[3], 1); /* sequence ids start again */
    assert_memory_equal(packet_at(&ap, 0, &len), "\x00\x00\x01\x00", 4);
    assert_memory_equal(packet_at(&ap, 1, &len), "\x00\x00\x02\x00", 4);
    assert_memory_equal(packet_at(&ap, 2, &len), "\xfe\x00\x00\x42\x00", 5);
    fetch_body(body, id, 100);
    send_cmd(&ap, 0x1c, body, 8);
    assert_int_equal(count_packets(&ap), 4);
    assert_memory_equal(packet_at(&ap, 2, &len), "\x00\x00\x05\x00", 4);
    assert_memory_equal(packet_at(&ap, 3, &len), "\xfe\x00\x00\x82\x00", 5); /* last row */
    send_cmd(&ap, 0x1c, body, 8);
    expect_err(&ap, 1421);
    /* Re-executed: a new cursor; a reset closes it. */
    n = execute_body(body, id, 0, NULL, 0, NULL, 0);
    body[4] = 0x01;
    send_cmd(&ap, 0x17, body, n);
    assert_int_equal(count_packets(&ap), 3);
    assert_true(ap.stmts.cursor_bytes > 0);
    send_cmd(&ap, 0x1a, &id, 4);
    assert_int_equal(ap.stmts.cursor_bytes, 0);
    fetch_body(body, id, 1);
    send_cmd(&ap, 0x1c, body, 8);
    expect_err(&ap, 1421);
    /* No cursor for a statement without a result. */
    id = prepare(&ap, "UPDATE servers SET admin_state = 'ready' WHERE 0", 0, 0);
    n = execute_body(body, id, 0, NULL, 0, NULL, 0);
    body[4] = 0x01;
    send_cmd(&ap, 0x17, body, n);
    assert_int_equal(packet_at(&ap, 0, &len)[0], 0x00);
    fetch_body(body, id, 1);
    send_cmd(&ap, 0x1c, body, 8);
    expect_err(&ap, 1421);
    /* An error after the columns: the fetch past the last row answers it. 200,000 rows end at
     * the row limit (1104), or earlier at the statement's time budget (3024) on a machine (or
     * a sanitizer) slow enough: either is the error a fetch must then answer. */
    id = prepare(&ap,
                 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c "
                 "LIMIT 200000) SELECT x FROM c",
                 0, 1);
    n = execute_body(body, id, 0, NULL, 0, NULL, 0);
    body[4] = 0x01;
    send_cmd(&ap, 0x17, body, n);
    assert_int_equal(count_packets(&ap), 3);
    fetch_body(body, id, 0xffffffffu);
    send_cmd(&ap, 0x1c, body, 8);
    rows = count_packets(&ap) - 1;
    assert_true(rows > 0 && rows <= ADMIN_SQL_MAX_ROWS);
    assert_memory_equal(packet_at(&ap, rows, &len), "\xfe\x00\x00\x42", 4);
    send_cmd(&ap, 0x1c, body, 8);
    code = err_code(&ap);
    if (!(code == 3024 || (code == 1104 && rows == ADMIN_SQL_MAX_ROWS)))
        fail_msg("error %u after %d rows", code, rows);
    /* With CLIENT_DEPRECATE_EOF there is no cursor: the whole result comes. */
    ap.caps |= MYSQL_CLIENT_DEPRECATE_EOF;
    id = prepare(&ap, "SELECT 1", 0, 1);
    n = execute_body(body, id, 0, NULL, 0, NULL, 0);
    body[4] = 0x01;
    send_cmd(&ap, 0x17, body, n);
    assert_int_equal(count_packets(&ap), 4); /* count, column, row, OK-as-EOF */
    /* A cursor left open is freed with the connection (ASan tells). */
    ap.caps &= ~MYSQL_CLIENT_DEPRECATE_EOF;
    send_cmd(&ap, 0x17, body, n);
    assert_true(ap.stmts.cursor_bytes > 0);
    admin_proto_fini(&ap);
}

/* A long result from a prepared statement streams a slice at a time under the output cap, like
 * a text one, and its limit error comes in place of the next row. */
static void test_execute_in_slices(void **state)
{
    struct admin_proto ap;
    uint8_t pkt[64];
    size_t sent = 0, n;
    int pieces = 0;
    uint32_t id, long_id;
    (void)state;

    proto(&ap, MYSQL_CLIENT_DEPRECATE_EOF, false);
    long_id = prepare(&ap,
                      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 200000) "
                      "SELECT x FROM c",
                      0, 1);
    mysql_wbuf_truncate(&ap.out, 0);
    n = execute_body(pkt + 5, long_id, 0, NULL, 0, NULL, 0);
    pkt[0] = (uint8_t)(n + 1);
    pkt[1] = pkt[2] = pkt[3] = 0;
    pkt[4] = 0x17;
    admin_proto_feed(&ap, pkt, n + 5);
    while (admin_proto_pending(&ap)) {
        assert_int_equal(admin_proto_work(&ap), 0);
        assert_true(ap.out.len < ADMIN_OUT_CAP + 1024);
        pieces++;
        if (!admin_proto_pending(&ap))
            break;
        sent += ap.out.len;
        admin_proto_sent(&ap, ap.out.len);
    }
    assert_true(pieces > 2);
    assert_true(sent > 0);
    /* 1104 at the row limit, or 3024 if the statement's time ran out first (a slow machine). */
    assert_true(memmem(ap.out.data, ap.out.len, "\xff\x50\x04", 3) ||
                memmem(ap.out.data, ap.out.len, "\xff\xd0\x0b", 3));
    /* Another statement runs meanwhile; the long one is reset and runs again. */
    admin_proto_sent(&ap, ap.out.len);
    id = prepare(&ap, "SELECT COUNT(*) FROM servers", 0, 1);
    send_cmd(&ap, 0x17, pkt + 5, execute_body(pkt + 5, id, 0, NULL, 0, NULL, 0));
    assert_memory_equal(packet_at(&ap, 2, &sent), "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 10);
    mysql_wbuf_truncate(&ap.out, 0);
    n = execute_body(pkt + 5, long_id, 0, NULL, 0, NULL, 0);
    admin_proto_feed(&ap, pkt, n + 5);
    assert_int_equal(admin_proto_work(&ap), 0);
    assert_non_null(ap.run); /* paused at the output cap */
    /* The connection ends while it runs: run and statements are freed (ASan tells). */
    admin_proto_fini(&ap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_integers),
        cmocka_unit_test(test_decode_floats_and_strings),
        cmocka_unit_test(test_decode_temporal),
        cmocka_unit_test(test_encoders),
        cmocka_unit_test(test_prepare_execute_row),
        cmocka_unit_test(test_prepare_tables_and_writes),
        cmocka_unit_test(test_prepare_shortcuts),
        cmocka_unit_test(test_prepare_refusals),
        cmocka_unit_test(test_bad_packets),
        cmocka_unit_test(test_long_data),
        cmocka_unit_test(test_statement_cap),
        cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_execute_in_slices),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
