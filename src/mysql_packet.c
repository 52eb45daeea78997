/* mysql_packet.c - MySQL wire framing helpers, and the binary protocol's values. */
#include "mysql_packet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t mysql_err_packet(uint8_t *buf, size_t len, uint8_t seq, uint16_t err, const char *sqlstate,
                        const char *msg)
{
    size_t mlen = strlen(msg);
    size_t payload = 1 + 2 + (sqlstate ? 6 : 0) + mlen;
    uint8_t *p = buf;

    if (payload > MYSQL_MAX_PAYLOAD || len < MYSQL_HEADER_LEN + payload ||
        (sqlstate && strlen(sqlstate) != 5))
        return 0;
    *p++ = (uint8_t)payload;
    *p++ = (uint8_t)(payload >> 8);
    *p++ = (uint8_t)(payload >> 16);
    *p++ = seq;
    *p++ = 0xff;
    *p++ = (uint8_t)err;
    *p++ = (uint8_t)(err >> 8);
    if (sqlstate) {
        *p++ = '#';
        memcpy(p, sqlstate, 5);
        p += 5;
    }
    memcpy(p, msg, mlen);
    return MYSQL_HEADER_LEN + payload;
}

/* The packet's first payload byte is known: report it now, unless it is an ERR packet,
 * which is reported once its error number is known too. */
static void first_byte(struct mysql_tracker *t, uint8_t b)
{
    t->want_first = false;
    t->first = b;
    if (b == 0xff && t->left >= 2) {
        t->err_have = 2;
        t->err = 0;
        return;
    }
    t->on_packet(t, b, t->seq, 0);
}

void mysql_track_status(struct mysql_tracker *t, enum mysql_status_layout layout)
{
    if (t->left == 0 || t->want_first || t->err_have)
        return; /* not right after a first byte, or nothing follows it */
    t->scan = true;
    t->scan_ints = layout == MYSQL_STATUS_OK ? 2 : 0;
    t->scan_skip = layout == MYSQL_STATUS_OK ? 0 : 2;
    t->scan_have = 0;
    t->status = 0;
}

/* One byte B of a status scan (its packet has it, counted in LEFT already). */
static void scan_byte(struct mysql_tracker *t, uint8_t b)
{
    if (t->scan_skip) {
        t->scan_skip--;
    } else if (t->scan_ints) { /* the first byte of a length-encoded integer */
        t->scan_ints--;
        if (b == 0xfc || b == 0xfd || b == 0xfe)
            t->scan_skip = b == 0xfc ? 2 : b == 0xfd ? 3 : 8;
        else if (b == 0xfb || b == 0xff)
            t->scan = false; /* a NULL or ERR marker: not an OK packet after all */
    } else {
        t->status |= (uint16_t)(b << (8 * t->scan_have));
        if (++t->scan_have == 2) {
            t->scan = false;
            if (t->on_status)
                t->on_status(t, t->status);
            return;
        }
    }
    if (t->left == 0) /* the packet ended first: no status */
        t->scan = false;
}

void mysql_track(struct mysql_tracker *t, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;

    while (p < end) {
        if (t->left == 0 && !t->want_first && t->err_have == 0) {
            /* Between packets: assemble the next header. */
            if (t->hdr_have < 3)
                t->len |= (uint32_t)*p << (8 * t->hdr_have);
            else
                t->seq = (uint8_t)(*p - t->seq_skew);
            p++;
            if (++t->hdr_have < MYSQL_HEADER_LEN)
                continue;
            bool cont = t->continuation;
            t->left = t->len;
            t->continuation = t->len == MYSQL_MAX_PAYLOAD;
            t->hdr_have = 0;
            t->len = 0;
            if (cont) { /* the tail of a 16 MiB packet: nothing new starts */
                t->on_packet(t, MYSQL_TRACK_CONT, t->seq, 0);
                continue;
            }
            t->packets++;
            if (t->left == 0)
                t->on_packet(t, -1, t->seq, 0);
            else
                t->want_first = true;
            continue;
        }
        if (t->want_first) {
            t->left--;
            first_byte(t, *p++);
            continue;
        }
        if (t->err_have) {
            /* ERR: two bytes of error number, little-endian. */
            t->err |= (uint16_t)(*p++ << (8 * (2 - t->err_have)));
            t->left--;
            if (--t->err_have == 0)
                t->on_packet(t, 0xff, t->seq, t->err);
            continue;
        }
        if (t->scan) {
            t->left--;
            scan_byte(t, *p++);
            continue;
        }
        /* Inside a payload: skip it whole, or to the end of what we have. */
        size_t skip = (size_t)(end - p) < t->left ? (size_t)(end - p) : t->left;
        p += skip;
        t->left -= (uint32_t)skip;
    }
}

enum mysql_greeting_kind mysql_greeting_parse(const uint8_t *p, size_t n, uint16_t *err,
                                              const char **why)
{
    uint32_t len;
    const uint8_t *nul;

    if (n < MYSQL_HEADER_LEN + 1)
        return MYSQL_GREETING_PARTIAL;
    len = mysql_payload_len(p);
    if (p[3] != 0 || len == 0 || len > MYSQL_GREETING_MAX) {
        *why = "not a MySQL greeting";
        return MYSQL_GREETING_BAD;
    }
    if (p[4] != 0x0a && p[4] != 0xff) {
        *why = "unsupported protocol version";
        return MYSQL_GREETING_BAD;
    }
    if (n < MYSQL_HEADER_LEN + len)
        return MYSQL_GREETING_PARTIAL;
    if (n > MYSQL_HEADER_LEN + len) {
        *why = "bytes after the greeting";
        return MYSQL_GREETING_BAD;
    }
    if (p[4] == 0xff) {
        if (len < 3) {
            *why = "truncated ERR packet";
            return MYSQL_GREETING_BAD;
        }
        *err = (uint16_t)(p[5] | p[6] << 8);
        return MYSQL_GREETING_ERR;
    }
    /* Protocol 10: version string, NUL, thread id (4), scramble (8), filler (1),
     * capability flags (2) at least. */
    nul = memchr(p + 5, 0, len - 1);
    if (!nul || (size_t)(p + MYSQL_HEADER_LEN + len - nul) < 1 + 4 + 8 + 1 + 2) {
        *why = "truncated greeting";
        return MYSQL_GREETING_BAD;
    }
    return MYSQL_GREETING_OK;
}

/* ---- building packets ---- */

void mysql_wbuf_init(struct mysql_wbuf *w, size_t limit)
{
    memset(w, 0, sizeof(*w));
    w->limit = limit;
}

void mysql_wbuf_free(struct mysql_wbuf *w)
{
    free(w->data);
    memset(w, 0, sizeof(*w));
}

void mysql_wbuf_consume(struct mysql_wbuf *w, size_t n)
{
    if (n >= w->len) {
        w->len = 0;
        return;
    }
    memmove(w->data, w->data + n, w->len - n);
    w->len -= n;
}

void mysql_wbuf_truncate(struct mysql_wbuf *w, size_t len)
{
    if (len < w->len)
        w->len = len;
    w->failed = false;
}

/* Room for N more bytes; false (and FAILED) past the limit or out of memory. */
static bool reserve(struct mysql_wbuf *w, size_t n)
{
    size_t cap;
    uint8_t *grown;

    if (w->failed)
        return false;
    if (n > w->limit || w->len > w->limit - n) {
        w->failed = true;
        return false;
    }
    if (w->len + n <= w->cap)
        return true;
    cap = w->cap ? w->cap : 256;
    while (cap < w->len + n)
        cap *= 2;
    if (cap > w->limit)
        cap = w->limit;
    if (!(grown = realloc(w->data, cap))) {
        w->failed = true;
        return false;
    }
    w->data = grown;
    w->cap = cap;
    return true;
}

void mysql_put_bytes(struct mysql_wbuf *w, const void *p, size_t n)
{
    if (!n || !reserve(w, n))
        return;
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

void mysql_put_u8(struct mysql_wbuf *w, uint8_t v)
{
    mysql_put_bytes(w, &v, 1);
}

void mysql_put_u16(struct mysql_wbuf *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    mysql_put_bytes(w, b, 2);
}

void mysql_put_u32(struct mysql_wbuf *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    mysql_put_bytes(w, b, 4);
}

void mysql_put_str0(struct mysql_wbuf *w, const char *s)
{
    mysql_put_bytes(w, s, strlen(s) + 1);
}

void mysql_put_lenenc(struct mysql_wbuf *w, uint64_t v)
{
    uint8_t b[9];
    size_t n;

    if (v < 251) {
        b[0] = (uint8_t)v;
        n = 1;
    } else if (v < 0x10000) {
        b[0] = 0xfc;
        n = 3;
    } else if (v < 0x1000000) {
        b[0] = 0xfd;
        n = 4;
    } else {
        b[0] = 0xfe;
        n = 9;
    }
    for (size_t i = 1; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * (i - 1)));
    mysql_put_bytes(w, b, n);
}

void mysql_put_lenenc_str(struct mysql_wbuf *w, const void *s, size_t n)
{
    mysql_put_lenenc(w, n);
    mysql_put_bytes(w, s, n);
}

size_t mysql_get_lenenc(const uint8_t *p, size_t n, uint64_t *v)
{
    size_t len;

    if (n < 1 || p[0] == 0xfb || p[0] == 0xff)
        return 0;
    if (p[0] < 0xfb) {
        *v = p[0];
        return 1;
    }
    len = p[0] == 0xfc ? 3 : p[0] == 0xfd ? 4 : 9;
    if (n < len)
        return 0;
    *v = 0;
    for (size_t i = 1; i < len; i++)
        *v |= (uint64_t)p[i] << (8 * (i - 1));
    return len;
}

void mysql_pkt_begin(struct mysql_wbuf *w, uint8_t seq)
{
    uint8_t hdr[4] = {0, 0, 0, seq};

    w->pkt = w->len;
    mysql_put_bytes(w, hdr, sizeof(hdr));
}

void mysql_pkt_end(struct mysql_wbuf *w)
{
    size_t n;

    if (w->failed)
        return;
    n = w->len - w->pkt - MYSQL_HEADER_LEN;
    if (n >= MYSQL_MAX_PAYLOAD) {
        w->failed = true;
        return;
    }
    w->data[w->pkt] = (uint8_t)n;
    w->data[w->pkt + 1] = (uint8_t)(n >> 8);
    w->data[w->pkt + 2] = (uint8_t)(n >> 16);
}

void mysql_ok_packet(struct mysql_wbuf *w, uint8_t seq, uint64_t affected, uint64_t insert_id,
                     uint16_t status, uint16_t warnings, const char *info)
{
    mysql_pkt_begin(w, seq);
    mysql_put_u8(w, 0x00);
    mysql_put_lenenc(w, affected);
    mysql_put_lenenc(w, insert_id);
    mysql_put_u16(w, status);
    mysql_put_u16(w, warnings);
    /* Length-encoded, as MySQL and MariaDB servers send it and their clients read it. */
    if (info && *info)
        mysql_put_lenenc_str(w, info, strlen(info));
    mysql_pkt_end(w);
}

void mysql_eof_packet(struct mysql_wbuf *w, uint8_t seq, uint16_t status, bool deprecate_eof)
{
    mysql_pkt_begin(w, seq);
    mysql_put_u8(w, 0xfe);
    if (deprecate_eof) { /* an OK packet in EOF clothing: affected, insert id, status */
        mysql_put_lenenc(w, 0);
        mysql_put_lenenc(w, 0);
        mysql_put_u16(w, status);
        mysql_put_u16(w, 0);
    } else {
        mysql_put_u16(w, 0); /* warnings */
        mysql_put_u16(w, status);
    }
    mysql_pkt_end(w);
}

void mysql_err_append(struct mysql_wbuf *w, uint8_t seq, uint16_t err, const char *sqlstate,
                      const char *msg)
{
    size_t mlen = strlen(msg);

    mysql_pkt_begin(w, seq);
    mysql_put_u8(w, 0xff);
    mysql_put_u16(w, err);
    mysql_put_u8(w, '#');
    mysql_put_bytes(w, sqlstate, 5);
    mysql_put_bytes(w, msg, mlen > 512 ? 512 : mlen);
    mysql_pkt_end(w);
}

void mysql_column_def(struct mysql_wbuf *w, uint8_t seq, const char *db, const char *table,
                      const char *name, uint8_t type, uint16_t charset, uint32_t length,
                      uint16_t flags, uint8_t decimals)
{
    mysql_pkt_begin(w, seq);
    mysql_put_lenenc_str(w, "def", 3);
    mysql_put_lenenc_str(w, db, strlen(db));
    mysql_put_lenenc_str(w, table, strlen(table));
    mysql_put_lenenc_str(w, table, strlen(table));
    mysql_put_lenenc_str(w, name, strlen(name));
    mysql_put_lenenc_str(w, name, strlen(name));
    mysql_put_u8(w, 0x0c);
    mysql_put_u16(w, charset);
    mysql_put_u32(w, length);
    mysql_put_u8(w, type);
    mysql_put_u16(w, flags);
    mysql_put_u8(w, decimals);
    mysql_put_u16(w, 0);
    mysql_pkt_end(w);
}

/* ---- the binary protocol ---- */

uint64_t mysql_get_u64(const uint8_t *p)
{
    return (uint64_t)mysql_get_u32(p) | (uint64_t)mysql_get_u32(p + 4) << 32;
}

void mysql_put_u64(struct mysql_wbuf *w, uint64_t v)
{
    mysql_put_u32(w, (uint32_t)v);
    mysql_put_u32(w, (uint32_t)(v >> 32));
}

void mysql_put_double(struct mysql_wbuf *w, double v)
{
    uint64_t bits;

    memcpy(&bits, &v, sizeof(bits));
    mysql_put_u64(w, bits);
}

void mysql_prepare_ok(struct mysql_wbuf *w, uint8_t seq, uint32_t id, uint16_t ncols,
                      uint16_t nparams, uint16_t warnings)
{
    mysql_pkt_begin(w, seq);
    mysql_put_u8(w, 0x00);
    mysql_put_u32(w, id);
    mysql_put_u16(w, ncols);
    mysql_put_u16(w, nparams);
    mysql_put_u8(w, 0x00);
    mysql_put_u16(w, warnings);
    mysql_pkt_end(w);
}

/* A fixed-size integer of N bytes (1, 2, 4, 8), sign-extended unless IS_UNSIGNED. */
static void bin_integer(const uint8_t *p, size_t n, bool is_unsigned, struct mysql_bin_value *v)
{
    uint64_t u = 0;

    for (size_t i = 0; i < n; i++)
        u |= (uint64_t)p[i] << (8 * i);
    if (is_unsigned) {
        v->kind = MYSQL_BIN_UINT;
        v->u = u;
        return;
    }
    if (n < 8 && (u & (1ull << (8 * n - 1))))
        u |= ~0ull << (8 * n); /* negative: sign-extend */
    v->kind = MYSQL_BIN_INT;
    v->i = (int64_t)u;
}

/* DATE, DATETIME, TIMESTAMP: a length (0, 4, 7 or 11), then year, month, day, hour, minute,
 * second, microseconds as far as the length goes. A DATE shows the date only. */
static enum mysql_bin_status bin_datetime(const uint8_t *p, size_t n, uint8_t type,
                                          struct mysql_bin_value *v, size_t *used)
{
    unsigned len = n ? p[0] : 0, year = 0, mon = 0, day = 0, h = 0, m = 0, s = 0;
    uint32_t us = 0;
    int k;

    if (n < 1 || (len != 0 && len != 4 && len != 7 && len != 11) || n < 1 + (size_t)len)
        return MYSQL_BIN_TRUNCATED;
    if (len >= 4) {
        year = mysql_get_u16(p + 1);
        mon = p[3];
        day = p[4];
    }
    if (len >= 7) {
        h = p[5];
        m = p[6];
        s = p[7];
    }
    if (len == 11)
        us = mysql_get_u32(p + 8);
    if (type == MYSQL_TYPE_DATE)
        k = snprintf(v->text, sizeof(v->text), "%04u-%02u-%02u", year, mon, day);
    else if (us)
        k = snprintf(v->text, sizeof(v->text), "%04u-%02u-%02u %02u:%02u:%02u.%06lu", year, mon,
                     day, h, m, s, (unsigned long)us);
    else
        k = snprintf(v->text, sizeof(v->text), "%04u-%02u-%02u %02u:%02u:%02u", year, mon, day, h,
                     m, s);
    v->kind = MYSQL_BIN_TEMPORAL;
    v->s = (const uint8_t *)v->text;
    v->len = k > 0 ? (size_t)k : 0;
    *used = 1 + len;
    return MYSQL_BIN_OK;
}

/* TIME: a length (0, 8 or 12), then negative, days, hour, minute, second, microseconds;
 * shown as MySQL does, hours counting the days: "-838:59:59". */
static enum mysql_bin_status bin_time(const uint8_t *p, size_t n, struct mysql_bin_value *v,
                                      size_t *used)
{
    unsigned len = n ? p[0] : 0, m = 0, s = 0;
    unsigned long long h = 0;
    uint32_t us = 0;
    bool neg = false;
    int k;

    if (n < 1 || (len != 0 && len != 8 && len != 12) || n < 1 + (size_t)len)
        return MYSQL_BIN_TRUNCATED;
    if (len >= 8) {
        neg = p[1] != 0;
        h = (unsigned long long)mysql_get_u32(p + 2) * 24 + p[6];
        m = p[7];
        s = p[8];
    }
    if (len == 12)
        us = mysql_get_u32(p + 9);
    if (us)
        k = snprintf(v->text, sizeof(v->text), "%s%02llu:%02u:%02u.%06lu", neg ? "-" : "", h, m, s,
                     (unsigned long)us);
    else
        k = snprintf(v->text, sizeof(v->text), "%s%02llu:%02u:%02u", neg ? "-" : "", h, m, s);
    v->kind = MYSQL_BIN_TEMPORAL;
    v->s = (const uint8_t *)v->text;
    v->len = k > 0 ? (size_t)k : 0;
    *used = 1 + len;
    return MYSQL_BIN_OK;
}

/* A length-encoded string of KIND. */
static enum mysql_bin_status bin_lenenc(const uint8_t *p, size_t n, enum mysql_bin_kind kind,
                                        struct mysql_bin_value *v, size_t *used)
{
    uint64_t len;
    size_t k = mysql_get_lenenc(p, n, &len);

    if (!k || len > n - k)
        return MYSQL_BIN_TRUNCATED;
    v->kind = kind;
    v->s = p + k;
    v->len = (size_t)len;
    *used = k + (size_t)len;
    return MYSQL_BIN_OK;
}

enum mysql_bin_kind mysql_bin_kind(uint8_t type)
{
    switch (type) {
    case MYSQL_TYPE_NULL:
        return MYSQL_BIN_NULL;
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_YEAR:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONGLONG:
        return MYSQL_BIN_INT;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
        return MYSQL_BIN_DOUBLE;
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_TIMESTAMP:
    case MYSQL_TYPE_TIME:
        return MYSQL_BIN_TEMPORAL;
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
        return MYSQL_BIN_DECIMAL;
    case MYSQL_TYPE_VARCHAR:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_ENUM:
    case MYSQL_TYPE_SET:
    case MYSQL_TYPE_JSON:
        return MYSQL_BIN_STRING;
    case MYSQL_TYPE_BIT:
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_GEOMETRY:
        return MYSQL_BIN_BLOB;
    default:
        return MYSQL_BIN_UNKNOWN;
    }
}

/* The width of a fixed-size integer or floating-point type. */
static size_t fixed_width(uint8_t type)
{
    switch (type) {
    case MYSQL_TYPE_TINY:
        return 1;
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_YEAR:
        return 2;
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_FLOAT:
        return 4;
    default:
        return 8;
    }
}

enum mysql_bin_status mysql_bin_decode(const uint8_t *p, size_t n, uint8_t type, bool is_unsigned,
                                       struct mysql_bin_value *v, size_t *used)
{
    enum mysql_bin_kind kind = mysql_bin_kind(type);
    size_t width = fixed_width(type);
    uint64_t bits;
    float f;

    memset(v, 0, sizeof(*v));
    *used = 0;
    switch (kind) {
    case MYSQL_BIN_NULL:
        v->kind = MYSQL_BIN_NULL;
        return MYSQL_BIN_OK;
    case MYSQL_BIN_INT:
        if (n < width)
            return MYSQL_BIN_TRUNCATED;
        bin_integer(p, width, is_unsigned, v);
        *used = width;
        return MYSQL_BIN_OK;
    case MYSQL_BIN_DOUBLE:
        if (n < width)
            return MYSQL_BIN_TRUNCATED;
        v->kind = MYSQL_BIN_DOUBLE;
        if (width == 4) {
            uint32_t b32 = mysql_get_u32(p);
            memcpy(&f, &b32, sizeof(f));
            v->d = f;
        } else {
            bits = mysql_get_u64(p);
            memcpy(&v->d, &bits, sizeof(v->d));
        }
        *used = width;
        return MYSQL_BIN_OK;
    case MYSQL_BIN_TEMPORAL:
        if (type == MYSQL_TYPE_TIME)
            return bin_time(p, n, v, used);
        return bin_datetime(p, n, type, v, used);
    case MYSQL_BIN_DECIMAL:
    case MYSQL_BIN_STRING:
    case MYSQL_BIN_BLOB:
        return bin_lenenc(p, n, kind, v, used);
    default:
        return MYSQL_BIN_BAD_TYPE;
    }
}
