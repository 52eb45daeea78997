/* test_admin_packet.c - the admin port's wire side without sockets: packet building
 * (length-encoded values, OK/EOF/ERR, column definitions), both auth plugins, and the
 * protocol from greeting to a result set, including oversized and malformed packets,
 * pipelined commands answered one piece of work at a time, and a long result streamed with
 * its error in place of a row. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "admin.h"
#include "conf.h"
#include "mysql_packet.h"
#include "rebound.h"

#define PW "unit-test-password"

static struct conf *conf;

static int setup(void **state)
{
    char err[256];
    (void)state;

    rb_loop = ev_default_loop(0);
    conf = conf_parse("global\n admin 127.0.0.1:1 user admin password \"" PW "\"\n"
                      " admin-ro user viewer password viewer-pass-1\n"
                      "listen rw\n bind 127.0.0.1:2\n server a 127.0.0.1:3\n",
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
    return 0;
}

static void test_lenenc(void **state)
{
    static const uint64_t vals[] = {0, 250, 251, 0xffff, 0x10000, 0xffffff, 0x1000000, UINT64_MAX};
    static const size_t sizes[] = {1, 1, 3, 3, 4, 4, 9, 9};
    struct mysql_wbuf w;
    (void)state;

    for (size_t i = 0; i < ARRAY_SIZE(vals); i++) {
        uint64_t v = 0;
        mysql_wbuf_init(&w, 64);
        mysql_put_lenenc(&w, vals[i]);
        assert_int_equal(w.len, sizes[i]);
        assert_int_equal(mysql_get_lenenc(w.data, w.len, &v), sizes[i]);
        assert_true(v == vals[i]);
        assert_int_equal(mysql_get_lenenc(w.data, w.len - 1, &v), w.len == 1 ? 0 : 0);
        mysql_wbuf_free(&w);
    }
    uint64_t v;
    assert_int_equal(mysql_get_lenenc((const uint8_t *)"\xfb", 1, &v), 0); /* NULL */
}

static void test_packets(void **state)
{
    struct mysql_wbuf w;
    (void)state;

    mysql_wbuf_init(&w, 1024);
    mysql_ok_packet(&w, 2, 3, 0, 2, 0, NULL);
    assert_int_equal(w.len, 4 + 7);
    assert_memory_equal(w.data, "\x07\x00\x00\x02\x00\x03\x00\x02\x00\x00\x00", 11);
    mysql_wbuf_truncate(&w, 0);
    mysql_eof_packet(&w, 5, 2, false);
    assert_memory_equal(w.data, "\x05\x00\x00\x05\xfe\x00\x00\x02\x00", 9);
    mysql_wbuf_truncate(&w, 0);
    mysql_eof_packet(&w, 5, 2, true);
    assert_memory_equal(w.data, "\x07\x00\x00\x05\xfe\x00\x00\x02\x00\x00\x00", 11);
    mysql_wbuf_truncate(&w, 0);
    mysql_err_append(&w, 1, 1045, "28000", "no");
    assert_memory_equal(w.data, "\x0b\x00\x00\x01\xff\x15\x04#28000no", 15);
    mysql_wbuf_truncate(&w, 0);
    mysql_column_def(&w, 2, "rebound", "", "id", MYSQL_TYPE_LONGLONG, 63, 21, 0x8080, 0);
    assert_int_equal(w.data[3], 2);
    assert_int_equal(mysql_payload_len(w.data), w.len - 4);
    assert_memory_equal(w.data + 4,
                        "\x03"
                        "def"
                        "\x07"
                        "rebound",
                        12);
    mysql_wbuf_free(&w);
    /* The limit: writes past it fail once, and are ignored after. */
    mysql_wbuf_init(&w, 8);
    mysql_put_bytes(&w, "0123456789", 10);
    assert_true(w.failed);
    assert_int_equal(w.len, 0);
    mysql_wbuf_free(&w);
}

static void native_resp(const uint8_t *scramble, uint8_t out[20])
{
    uint8_t s1[20], s2[20], buf[40];

    SHA1((const uint8_t *)PW, strlen(PW), s1);
    SHA1(s1, 20, s2);
    memcpy(buf, scramble, 20);
    memcpy(buf + 20, s2, 20);
    SHA1(buf, 40, out);
    for (int i = 0; i < 20; i++)
        out[i] ^= s1[i];
}

static void sha2_resp(const uint8_t *scramble, uint8_t out[32])
{
    uint8_t s1[32], s2[32], buf[52];

    SHA256((const uint8_t *)PW, strlen(PW), s1);
    SHA256(s1, 32, s2);
    memcpy(buf, s2, 32);
    memcpy(buf + 32, scramble, 20);
    SHA256(buf, 52, out);
    for (int i = 0; i < 32; i++)
        out[i] ^= s1[i];
}

static void test_auth_plugins(void **state)
{
    uint8_t scramble[20], r[32];
    (void)state;

    memset(scramble, 'a', sizeof(scramble));
    native_resp(scramble, r);
    assert_true(admin_native_ok(PW, scramble, r, 20));
    assert_false(admin_native_ok("other-password", scramble, r, 20));
    assert_false(admin_native_ok(PW, scramble, r, 19));
    sha2_resp(scramble, r);
    assert_true(admin_sha2_ok(PW, scramble, r, 32));
    r[0] ^= 1;
    assert_false(admin_sha2_ok(PW, scramble, r, 32));
}

/* A handshake response for USER with plugin PLUGIN and auth data RESP. */
static size_t handshake(uint8_t *pkt, const char *user, const char *plugin, const uint8_t *resp,
                        size_t rlen, uint32_t extra_caps)
{
    uint32_t caps = MYSQL_CLIENT_PROTOCOL_41 | MYSQL_CLIENT_SECURE_CONNECTION |
                    MYSQL_CLIENT_PLUGIN_AUTH | extra_caps;
    size_t n = 4;

    memset(pkt, 0, 256);
    memcpy(pkt + n, &caps, 4);
    n += 32;
    memcpy(pkt + n, user, strlen(user) + 1);
    n += strlen(user) + 1;
    pkt[n++] = (uint8_t)rlen;
    memcpy(pkt + n, resp, rlen);
    n += rlen;
    memcpy(pkt + n, plugin, strlen(plugin) + 1);
    n += strlen(plugin) + 1;
    pkt[0] = (uint8_t)(n - 4);
    pkt[3] = 1;
    return n;
}

/* The first payload byte of the last packet in OUT. */
static int last_first_byte(const struct mysql_wbuf *w)
{
    size_t off = 0, last = 0;

    while (off + 4 <= w->len) {
        last = off;
        off += 4 + mysql_payload_len(w->data + off);
    }
    return w->len ? w->data[last + 4] : -1;
}

static void test_proto_native_login_and_query(void **state)
{
    struct admin_proto ap;
    uint8_t pkt[256], r[20];
    size_t n;
    (void)state;

    assert_int_equal(admin_proto_init(&ap, 7, "127.0.0.1:1", false), 0);
    assert_int_equal(ap.out.data[4], 10); /* protocol version */
    mysql_wbuf_truncate(&ap.out, 0);
    native_resp(ap.scramble, r);
    n = handshake(pkt, "admin", "mysql_native_password", r, 20, MYSQL_CLIENT_DEPRECATE_EOF);
    /* Split anywhere: byte by byte. */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(admin_proto_input(&ap, pkt + i, 1), 0);
    assert_int_equal(ap.phase, AP_COMMAND);
    assert_int_equal(ap.out.data[4], 0x00);
    assert_int_equal(ap.out.data[3], 2);
    mysql_wbuf_truncate(&ap.out, 0);
    assert_int_equal(admin_proto_input(&ap, (const uint8_t *)"\x09\x00\x00\x00\x03SELECT 1", 13),
                     0);
    /* column count, column def, row, OK-as-EOF (deprecate EOF) */
    assert_int_equal(ap.out.data[4], 1);
    assert_int_equal(last_first_byte(&ap.out), 0xfe);
    mysql_wbuf_truncate(&ap.out, 0);
    /* Oversized: ERR and close. */
    assert_int_equal(admin_proto_input(&ap, (const uint8_t *)"\xff\xff\xff\x00", 4), -1);
    assert_int_equal(ap.out.data[4], 0xff);
    admin_proto_fini(&ap);
}

static void test_proto_sha2_and_switch(void **state)
{
    struct admin_proto ap;
    uint8_t pkt[256], r[32];
    size_t n;
    (void)state;

    /* Fast path. */
    assert_int_equal(admin_proto_init(&ap, 8, "127.0.0.1:1", false), 0);
    mysql_wbuf_truncate(&ap.out, 0);
    sha2_resp(ap.scramble, r);
    n = handshake(pkt, "admin", "caching_sha2_password", r, 32, 0);
    assert_int_equal(admin_proto_input(&ap, pkt, n), 0);
    assert_int_equal(ap.phase, AP_COMMAND);
    assert_memory_equal(ap.out.data, "\x02\x00\x00\x02\x01\x03", 6);
    admin_proto_fini(&ap);
    /* Unknown plugin: switch to native, then log in as the read-only user... who fails. */
    assert_int_equal(admin_proto_init(&ap, 9, "127.0.0.1:1", false), 0);
    mysql_wbuf_truncate(&ap.out, 0);
    n = handshake(pkt, "viewer", "client_ed25519", (const uint8_t *)"x", 1, 0);
    assert_int_equal(admin_proto_input(&ap, pkt, n), 0);
    assert_int_equal(ap.phase, AP_AUTH_SWITCH);
    assert_int_equal(ap.out.data[4], 0xfe);
    mysql_wbuf_truncate(&ap.out, 0);
    assert_int_equal(admin_proto_input(&ap,
                                       (const uint8_t *)"\x14\x00\x00\x03"
                                                        "01234567890123456789",
                                       24),
                     -1);
    assert_int_equal(ap.out.data[4], 0xff);
    assert_int_equal(ap.out.data[5] | ap.out.data[6] << 8, 1045);
    admin_proto_fini(&ap);
}

/* A logged-in protocol (deprecate EOF), its output emptied. */
static void login(struct admin_proto *ap, uint32_t id)
{
    uint8_t pkt[256], r[20];
    size_t n;

    assert_int_equal(admin_proto_init(ap, id, "127.0.0.1:1", false), 0);
    mysql_wbuf_truncate(&ap->out, 0);
    native_resp(ap->scramble, r);
    n = handshake(pkt, "admin", "mysql_native_password", r, 20, MYSQL_CLIENT_DEPRECATE_EOF);
    assert_int_equal(admin_proto_input(ap, pkt, n), 0);
    assert_int_equal(ap->phase, AP_COMMAND);
    admin_proto_sent(ap, ap->out.len);
}

/* A COM_QUERY packet for SQL at BUF; its length. */
static size_t query_packet(uint8_t *buf, const char *sql)
{
    size_t len = strlen(sql) + 1;

    buf[0] = (uint8_t)len;
    buf[1] = (uint8_t)(len >> 8);
    buf[2] = (uint8_t)(len >> 16);
    buf[3] = 0;
    buf[4] = 0x03;
    memcpy(buf + 5, sql, len - 1);
    return len + 4;
}

/* Packets in OUT. */
static int count_packets(const struct mysql_wbuf *w)
{
    int n = 0;

    for (size_t off = 0; off + 4 <= w->len; off += 4 + mysql_payload_len(w->data + off))
        n++;
    return n;
}

/* Three commands in one read: one answered per piece of work, in order. */
static void test_proto_pipelined(void **state)
{
    struct admin_proto ap;
    uint8_t buf[512];
    size_t n = 0;
    (void)state;

    login(&ap, 20);
    n += query_packet(buf + n, "SELECT 1");
    n += query_packet(buf + n, "DO_NOT_PARSE");
    n += query_packet(buf + n, "SELECT 2");
    assert_true(n <= admin_proto_room(&ap));
    admin_proto_feed(&ap, buf, n);
    assert_true(admin_proto_pending(&ap));
    assert_int_equal(admin_proto_work(&ap), 0);
    assert_int_equal(count_packets(&ap.out), 4); /* count, column, row, OK */
    admin_proto_sent(&ap, ap.out.len);
    assert_true(admin_proto_pending(&ap));
    assert_int_equal(admin_proto_work(&ap), 0);
    assert_int_equal(count_packets(&ap.out), 1); /* the syntax error */
    assert_int_equal(ap.out.data[4], 0xff);
    admin_proto_sent(&ap, ap.out.len);
    assert_int_equal(admin_proto_work(&ap), 0);
    assert_int_equal(count_packets(&ap.out), 4);
    assert_false(admin_proto_pending(&ap));
    admin_proto_fini(&ap);
}

/* A result too long for the row limit streams a piece of work at a time while the output is
 * at its cap; once rows have been sent, its error comes in place of the next row. */
static void test_proto_streamed_error(void **state)
{
    const char *sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c "
                      "LIMIT 200000) SELECT x FROM c";
    struct admin_proto ap;
    uint8_t buf[256];
    size_t sent = 0;
    int pieces = 0;
    (void)state;

    login(&ap, 21);
    admin_proto_feed(&ap, buf, query_packet(buf, sql));
    while (admin_proto_pending(&ap)) {
        assert_int_equal(admin_proto_work(&ap), 0);
        assert_true(ap.out.len < ADMIN_OUT_CAP + 1024); /* paused at the cap */
        pieces++;
        if (!admin_proto_pending(&ap))
            break;
        sent += ap.out.len;
        admin_proto_sent(&ap, ap.out.len);
    }
    assert_true(pieces > 2);
    assert_true(sent > 0);
    assert_int_equal(last_first_byte(&ap.out), 0xff);
    /* The ERR is the only packet whose first byte is 0xff, and it names the row limit (1104),
     * or the statement's time budget (3024) where that ran out first on a slow machine. */
    assert_true(memmem(ap.out.data, ap.out.len, "\x50\x04", 2) ||
                memmem(ap.out.data, ap.out.len, "\xd0\x0b", 2));
    admin_proto_fini(&ap);
}

static void test_proto_malformed(void **state)
{
    static const char *const bad[] = {
        "\x02\x00\x00\x01\x00\x02",         /* too short */
        "\x20\x00\x00\x01\x00\x00\x00\x00", /* no 4.1 (and truncated: waits) */
    };
    struct admin_proto ap;
    (void)state;

    assert_int_equal(admin_proto_init(&ap, 10, "x", false), 0);
    assert_int_equal(admin_proto_input(&ap, (const uint8_t *)bad[0], 6), -1);
    admin_proto_fini(&ap);
    assert_int_equal(admin_proto_init(&ap, 11, "x", false), 0);
    assert_int_equal(admin_proto_input(&ap, (const uint8_t *)bad[1], 8), 0); /* incomplete */
    admin_proto_fini(&ap);
    /* An SSL request where TLS is not offered. */
    uint8_t ssl[36] = {32, 0, 0, 1};
    uint32_t caps = MYSQL_CLIENT_PROTOCOL_41 | MYSQL_CLIENT_SSL;
    memcpy(ssl + 4, &caps, 4);
    assert_int_equal(admin_proto_init(&ap, 12, "x", false), 0);
    assert_int_equal(admin_proto_input(&ap, ssl, sizeof(ssl)), -1);
    admin_proto_fini(&ap);
    /* Offered: the protocol asks for TLS. */
    assert_int_equal(admin_proto_init(&ap, 13, "x", true), 0);
    assert_int_equal(admin_proto_input(&ap, ssl, sizeof(ssl)), 0);
    assert_true(ap.want_tls);
    admin_proto_fini(&ap);
}

/* A client sends its SSL request and, without waiting, the start of its TLS handshake: a
 * reader that takes no more than the room leaves the TLS bytes unread, for OpenSSL. */
static void test_proto_ssl_request_then_hello(void **state)
{
    static const uint8_t hello[] = {0x16, 0x03, 0x01, 0x00, 0xf4, 0x01, 0x00, 0x00, 0xf0};
    uint8_t wire[36 + sizeof(hello)] = {32, 0, 0, 1};
    uint32_t caps = MYSQL_CLIENT_PROTOCOL_41 | MYSQL_CLIENT_SSL;
    struct admin_proto ap;
    size_t off = 0;
    (void)state;

    memcpy(wire + 4, &caps, 4);
    memcpy(wire + 36, hello, sizeof(hello));
    assert_int_equal(admin_proto_init(&ap, 14, "x", true), 0);
    for (int i = 0; i < 10 && off < sizeof(wire) && !ap.want_tls; i++) {
        size_t room = admin_proto_room(&ap), take = sizeof(wire) - off;
        if (take > room)
            take = room;
        admin_proto_feed(&ap, wire + off, take);
        off += take;
        while (admin_proto_pending(&ap))
            assert_int_equal(admin_proto_work(&ap), 0);
    }
    assert_true(ap.want_tls);
    assert_int_equal(off, 36); /* the ClientHello is still unread */
    admin_proto_tls_started(&ap);
    assert_true(admin_proto_room(&ap) > sizeof(hello));
    admin_proto_fini(&ap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lenenc),
        cmocka_unit_test(test_packets),
        cmocka_unit_test(test_auth_plugins),
        cmocka_unit_test(test_proto_native_login_and_query),
        cmocka_unit_test(test_proto_sha2_and_switch),
        cmocka_unit_test(test_proto_malformed),
        cmocka_unit_test(test_proto_ssl_request_then_hello),
        cmocka_unit_test(test_proto_pipelined),
        cmocka_unit_test(test_proto_streamed_error),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
