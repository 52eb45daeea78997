/* test_observe_compress.c - unit tests for following compressed sessions (observe_compress.c
 * under observe.c): compressed streams built here with zlib's compress2 and ZSTD_compress, fed
 * whole, byte by byte and cut across compressed packets. The judgements of a plain stream
 * (state, transaction, unhealthy ERR packets, malformed server streams) must hold, a broken
 * compressed stream must mark the session unreadable, and no buffer may outlive a compressed
 * packet. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "observe.h"

#define CAPS_41    0x000fa20du /* protocol 4.1, secure connection, plugin auth... */
#define CAPS_ZLIB  (CAPS_41 | 0x20u)
#define CAPS_ZSTD  (CAPS_41 | 0x04000000u)
#define STORED     (-1) /* zpacket: the payload as is (length before compression 0) */
#define IN_TRANS   0x0001u
#define AUTOCOMMIT 0x0002u

static struct obs_stream st;

/* MySQL packets, assembled into a buffer. */
struct buf {
    uint8_t b[65536];
    size_t n;
};

/* Append a packet with sequence id SEQ and the LEN payload bytes at P. */
static void put_packet(struct buf *o, uint8_t seq, const uint8_t *p, size_t len)
{
    o->b[o->n++] = (uint8_t)len;
    o->b[o->n++] = (uint8_t)(len >> 8);
    o->b[o->n++] = (uint8_t)(len >> 16);
    o->b[o->n++] = seq;
    memcpy(o->b + o->n, p, len);
    o->n += len;
}

/* An OK packet with status flags STATUS. */
static void put_ok(struct buf *o, uint8_t seq, uint16_t status)
{
    uint8_t ok[7] = {0x00, 0, 0, (uint8_t)status, (uint8_t)(status >> 8), 0, 0};
    put_packet(o, seq, ok, sizeof(ok));
}

static void put_err(struct buf *o, uint8_t seq, uint16_t err)
{
    uint8_t e[] = {0xff, (uint8_t)err, (uint8_t)(err >> 8), '#', 'H', 'Y', '0', '0', '0', 'x'};
    put_packet(o, seq, e, sizeof(e));
}

static void put_query(struct buf *o, const char *sql)
{
    uint8_t q[256] = {0x03};
    size_t n = strlen(sql);

    memcpy(q + 1, sql, n);
    put_packet(o, 0, q, n + 1);
}

/* A text result set of ROWS rows from sequence id SEQ (column count, a column, EOF, rows, EOF
 * with STATUS). Returns the sequence id after it. */
static uint8_t put_result(struct buf *o, uint8_t seq, int rows, uint16_t status)
{
    uint8_t count = 1, col[20] = {3, 'd', 'e', 'f'}, row[6] = {5, 'h', 'e', 'l', 'l', 'o'};
    uint8_t eof[5] = {0xfe, 0, 0, (uint8_t)status, (uint8_t)(status >> 8)};

    put_packet(o, seq++, &count, 1);
    put_packet(o, seq++, col, sizeof(col));
    put_packet(o, seq++, eof, sizeof(eof));
    for (int i = 0; i < rows; i++)
        put_packet(o, seq++, row, sizeof(row));
    put_packet(o, seq++, eof, sizeof(eof));
    return seq;
}

/* Wrap the N bytes at P into one compressed packet with compressed id CSEQ, appended to O:
 * compressed with zlib (ALGO OBS_Z_ZLIB), zstd, or STORED as is. */
static void zpacket(struct buf *o, uint8_t cseq, const uint8_t *p, size_t n, int algo)
{
    uint8_t *h = o->b + o->n, *dst = h + OBS_Z_HEADER_LEN;
    size_t room = sizeof(o->b) - o->n - OBS_Z_HEADER_LEN, clen = n, ulen = n;
    uLongf zlen = room;

    if (algo == OBS_Z_ZLIB) {
        assert_int_equal(compress2(dst, &zlen, p, n, 6), Z_OK);
        clen = zlen;
    } else if (algo == OBS_Z_ZSTD) {
        clen = ZSTD_compress(dst, room, p, n, 3);
        assert_false(ZSTD_isError(clen));
    } else {
        memcpy(dst, p, n);
        ulen = 0;
    }
    h[0] = (uint8_t)clen, h[1] = (uint8_t)(clen >> 8), h[2] = (uint8_t)(clen >> 16);
    h[3] = cseq;
    h[4] = (uint8_t)ulen, h[5] = (uint8_t)(ulen >> 8), h[6] = (uint8_t)(ulen >> 16);
    o->n += OBS_Z_HEADER_LEN + clen;
}

/* Compress the packets in M into O, one compressed packet with id CSEQ. */
static void zwrap(struct buf *o, uint8_t cseq, const struct buf *m, int algo)
{
    zpacket(o, cseq, m->b, m->n, algo);
}

static void from_client(const struct buf *o)
{
    observe_client_bytes(&st, o->b, o->n);
}

static void from_server(const struct buf *o)
{
    observe_server_bytes(&st, o->b, o->n);
}

/* The packets in M, from the client / the server in one compressed packet with id CSEQ. */
static void zclient(uint8_t cseq, const struct buf *m, int algo)
{
    static struct buf z;

    z.n = 0;
    zwrap(&z, cseq, m, algo);
    from_client(&z);
}

static void zserver(uint8_t cseq, const struct buf *m, int algo)
{
    static struct buf z;

    z.n = 0;
    zwrap(&z, cseq, m, algo);
    from_server(&z);
}

/* A login asking for CAPS: the handshake response and the server's OK, both plain. */
static void login(uint32_t caps)
{
    uint8_t resp[36] = {32,
                        0,
                        0,
                        1,
                        (uint8_t)caps,
                        (uint8_t)(caps >> 8),
                        (uint8_t)(caps >> 16),
                        (uint8_t)(caps >> 24)};
    struct buf ok = {.n = 0};

    observe_stream_start(&st, true, true);
    observe_client_bytes(&st, resp, sizeof(resp));
    put_ok(&ok, 2, AUTOCOMMIT);
    from_server(&ok);
    assert_true(st.authed);
    assert_true(st.z.srv_on);
}

/* The client sends query SQL, compressed as ALGO, in a compressed packet with id 0. */
static void query(const char *sql, int algo)
{
    struct buf m = {.n = 0};

    put_query(&m, sql);
    zclient(0, &m, algo);
}

static void expect_clean(void)
{
    assert_true(st.followed);
    assert_false(st.client_fault);
    assert_int_equal(st.event, -1);
}

/* Between compressed packets neither direction holds a buffer. */
static void expect_no_buffer(void)
{
    assert_null(st.z.srv.buf);
    assert_null(st.z.cli.buf);
}

static int setup(void **state)
{
    (void)state;
    memset(&st, 0, sizeof(st));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    observe_stream_end(&st);
    return 0;
}

/* The negotiated compression: zlib when CLIENT_COMPRESS is set (with zstd too), zstd alone. */
static void test_algorithm(void **state)
{
    (void)state;
    assert_int_equal(obs_compress_algo(CAPS_41), OBS_Z_NONE);
    assert_int_equal(obs_compress_algo(CAPS_ZLIB), OBS_Z_ZLIB);
    assert_int_equal(obs_compress_algo(CAPS_ZSTD), OBS_Z_ZSTD);
    assert_int_equal(obs_compress_algo(CAPS_ZLIB | CAPS_ZSTD), OBS_Z_ZLIB);
    login(CAPS_ZSTD);
    assert_int_equal(st.z.algo, OBS_Z_ZSTD);
}

/* BEGIN, answered by a compressed OK: the session is idle in a transaction. */
static void test_compressed_ok(void **state)
{
    struct buf m = {.n = 0};
    enum obs_event ev;
    char detail[96];
    (void)state;

    login(CAPS_ZLIB);
    query("BEGIN", OBS_Z_ZLIB);
    assert_int_equal(observe_state(&st), OBS_STATE_COMMAND);
    put_ok(&m, 1, AUTOCOMMIT | IN_TRANS);
    zserver(1, &m, OBS_Z_ZLIB);
    expect_clean();
    assert_int_equal(observe_state(&st), OBS_STATE_IDLE_TRANS);
    assert_int_equal(observe_in_transaction(&st), 1);
    assert_true(observe_take(&st, &ev, detail, sizeof(detail)));
    assert_int_equal(ev, OBS__COUNT);
    expect_no_buffer();
}

/* The server's OK ends the login and its next byte starts a compressed packet, even within
 * one read: here an ERR (a server shutting down) right after the OK, judged as in a plain
 * stream. */
static void test_switch_within_a_read(void **state)
{
    uint8_t resp[36] = {
        32, 0, 0, 1, (uint8_t)CAPS_ZLIB, (uint8_t)(CAPS_ZLIB >> 8), (uint8_t)(CAPS_ZLIB >> 16), 0};
    struct buf m = {.n = 0}, s = {.n = 0};
    (void)state;

    observe_stream_start(&st, true, true);
    observe_client_bytes(&st, resp, sizeof(resp));
    assert_false(st.z.srv_on);
    put_ok(&s, 2, AUTOCOMMIT); /* plain */
    put_err(&m, 0, 1053);
    zwrap(&s, 0, &m, STORED);
    from_server(&s);
    assert_true(st.followed);
    assert_true(st.authed);
    assert_int_equal(st.event, OBS_SERVER_ERROR);
    assert_int_equal(st.err, 1053);
}

/* A result set in one compressed packet, fed a byte at a time (zlib, then zstd): the answer
 * is not over until its last byte, a buffer is held only inside the compressed packet. */
static void result_byte_by_byte(uint32_t caps, int algo)
{
    struct buf m = {.n = 0}, z = {.n = 0};
    size_t i;

    login(caps);
    query("SELECT 'hello' FROM t", algo);
    put_result(&m, 1, 200, AUTOCOMMIT);
    zwrap(&z, 1, &m, algo);
    assert_true(z.n < m.n); /* it did compress */
    for (i = 0; i + 1 < z.n; i++) {
        observe_server_bytes(&st, z.b + i, 1);
        if (i >= OBS_Z_HEADER_LEN + 20)
            assert_non_null(st.z.srv.buf);
    }
    /* Its rows (zlib) or nothing yet (zstd decodes whole blocks): the answer is not over. */
    assert_int_equal(observe_state(&st), algo == OBS_Z_ZLIB ? OBS_STATE_RESULT : OBS_STATE_COMMAND);
    observe_server_bytes(&st, z.b + i, 1);
    expect_clean();
    assert_int_equal(observe_state(&st), OBS_STATE_IDLE);
    assert_int_equal(st.srv.packets, 1 + 1 + 1 + 1 + 200 + 1); /* the OK of the login first */
    expect_no_buffer();
}

static void test_result_byte_by_byte_zlib(void **state)
{
    (void)state;
    result_byte_by_byte(CAPS_ZLIB, OBS_Z_ZLIB);
}

static void test_result_byte_by_byte_zstd(void **state)
{
    (void)state;
    result_byte_by_byte(CAPS_ZSTD, OBS_Z_ZSTD);
}

/* A result set larger than the 16 KiB buffer, in one compressed packet read whole: it streams
 * through the buffer. */
static void test_larger_than_buffer(void **state)
{
    struct buf m = {.n = 0};
    (void)state;

    login(CAPS_ZLIB);
    query("SELECT 'hello' FROM t", OBS_Z_ZLIB);
    put_result(&m, 1, 5000, AUTOCOMMIT | IN_TRANS); /* 50 KB: its sequence ids wrap too */
    zserver(1, &m, OBS_Z_ZLIB);
    expect_clean();
    assert_int_equal(observe_state(&st), OBS_STATE_IDLE_TRANS);
    expect_no_buffer();
}

/* An ordinary packet cut across two compressed packets (the first stored, the second zlib):
 * the answer is not over until the second one ends. */
static void test_packet_spans_two(void **state)
{
    struct buf m = {.n = 0}, z1 = {.n = 0}, z2 = {.n = 0};
    (void)state;

    login(CAPS_ZLIB);
    query("SELECT 'hello' FROM t", OBS_Z_ZLIB);
    put_result(&m, 1, 30, AUTOCOMMIT | IN_TRANS);
    zpacket(&z1, 1, m.b, m.n - 6, STORED); /* the last EOF packet cut after its first 3 bytes */
    zpacket(&z2, 2, m.b + m.n - 6, 6, OBS_Z_ZLIB);
    from_server(&z1);
    expect_clean();
    assert_int_equal(observe_state(&st), OBS_STATE_RESULT);
    assert_null(st.z.srv.buf);
    from_server(&z2);
    expect_clean();
    assert_int_equal(observe_state(&st), OBS_STATE_IDLE_TRANS);
    expect_no_buffer();
}

/* A stored compressed packet (length before compression 0) needs no buffer, even when it
 * arrives in pieces. */
static void test_stored_packet(void **state)
{
    struct buf m = {.n = 0}, z = {.n = 0};
    (void)state;

    login(CAPS_ZLIB);
    query("COMMIT", STORED);
    put_ok(&m, 1, AUTOCOMMIT);
    zwrap(&z, 1, &m, STORED);
    observe_server_bytes(&st, z.b, 9);
    assert_null(st.z.srv.buf);
    assert_false(obs_zdir_between(&st.z.srv));
    assert_int_equal(observe_state(&st), OBS_STATE_COMMAND); /* 2 bytes of its OK's header */
    observe_server_bytes(&st, z.b + 9, z.n - 9);
    expect_clean();
    assert_int_equal(observe_state(&st), OBS_STATE_IDLE);
    assert_int_equal(observe_in_transaction(&st), 0);
}

/* ERR packets inside compressed packets: an unhealthy error number counts, an application's
 * error does not. */
static void test_err_counted(void **state)
{
    struct buf m = {.n = 0};
    enum obs_event ev;
    char detail[96];
    (void)state;

    login(CAPS_ZLIB);
    query("SELEC 1", OBS_Z_ZLIB);
    put_err(&m, 1, 1064);
    zserver(1, &m, OBS_Z_ZLIB);
    expect_clean();
    query("INSERT INTO t VALUES (1)", OBS_Z_ZLIB);
    m.n = 0;
    put_err(&m, 1, 1290);
    zserver(1, &m, OBS_Z_ZLIB);
    assert_int_equal(st.event, OBS_SERVER_ERROR);
    assert_true(observe_take(&st, &ev, detail, sizeof(detail)));
    assert_int_equal(ev, OBS_SERVER_ERROR);
    assert_string_equal(detail, "error 1290, server is read-only");
    assert_int_equal(observe_state(&st), OBS_STATE_IDLE);
    expect_no_buffer();
}

/* A command in several compressed packets: the server numbers its answer after them (inner
 * sequence id 3 here), which is no broken sequence. Then LOCAL INFILE after a result set in one
 * compressed packet: the client numbers its file after the compressed packets too. */
static void test_sequence_ids_follow_compressed(void **state)
{
    struct buf m = {.n = 0}, z = {.n = 0};
    uint8_t data[100] = {'x'};
    uint8_t fb[] = {0xfb, 'f'};
    uint8_t seq;
    (void)state;

    login(CAPS_ZLIB);
    put_query(&m, "INSERT INTO t VALUES ('a long statement')");
    zpacket(&z, 0, m.b, 10, STORED);
    zpacket(&z, 1, m.b + 10, 10, OBS_Z_ZLIB);
    zpacket(&z, 2, m.b + 20, m.n - 20, STORED);
    from_client(&z);
    m.n = z.n = 0;
    put_ok(&m, 3, AUTOCOMMIT);
    zserver(3, &m, OBS_Z_ZLIB);
    expect_clean();
    assert_int_equal(observe_state(&st), OBS_STATE_IDLE);

    /* SELECT ...; LOAD DATA LOCAL INFILE ...: a result set then the file request, one
     * compressed packet (inner ids 1 to 6); the client answers from compressed id 2. */
    query("SELECT 'hello' FROM t; LOAD DATA LOCAL INFILE 'f' INTO TABLE t", OBS_Z_ZLIB);
    m.n = 0;
    seq = put_result(&m, 1, 1, AUTOCOMMIT | 0x0008u); /* more results */
    put_packet(&m, seq, fb, sizeof(fb));
    zserver(1, &m, OBS_Z_ZLIB);
    expect_clean();
    assert_int_equal(observe_state(&st), OBS_STATE_INFILE);
    m.n = 0;
    put_packet(&m, 2, data, sizeof(data));
    put_packet(&m, 3, data, sizeof(data));
    put_packet(&m, 4, data, 0); /* the end of the file */
    zclient(2, &m, OBS_Z_ZLIB);
    expect_clean();
    m.n = 0;
    put_ok(&m, 3, AUTOCOMMIT);
    zserver(3, &m, OBS_Z_ZLIB);
    expect_clean();
    assert_int_equal(observe_state(&st), OBS_STATE_IDLE);
}

/* Garbage from the server (a broken zlib stream; a stated length the payload does not have):
 * unreadable, one malformed event, the buffer freed. From the client: its fault, no event. */
static void test_garbage(void **state)
{
    struct buf m = {.n = 0}, z = {.n = 0};
    (void)state;

    login(CAPS_ZLIB);
    query("SELECT 1", OBS_Z_ZLIB);
    put_ok(&m, 1, AUTOCOMMIT);
    zwrap(&z, 1, &m, OBS_Z_ZLIB);
    z.b[OBS_Z_HEADER_LEN] ^= 0xff; /* the zlib header */
    from_server(&z);
    assert_false(st.followed);
    assert_int_equal(st.event, OBS_MALFORMED);
    assert_int_equal(observe_state(&st), OBS_STATE_UNREADABLE);
    expect_no_buffer();

    login(CAPS_ZLIB);
    query("SELECT 1", OBS_Z_ZLIB);
    z.n = 0;
    zwrap(&z, 1, &m, OBS_Z_ZLIB);
    z.b[4]++; /* one byte more than the payload holds */
    observe_server_bytes(&st, z.b, z.n - 1);
    assert_true(st.followed);
    assert_non_null(st.z.srv.buf);
    observe_server_bytes(&st, z.b + z.n - 1, 1);
    assert_false(st.followed);
    assert_int_equal(st.event, OBS_MALFORMED);
    expect_no_buffer();

    login(CAPS_ZLIB);
    z.n = 0;
    zwrap(&z, 0, &m, OBS_Z_ZLIB);
    z.b[z.n - 1] ^= 0x55; /* the checksum */
    from_client(&z);
    assert_false(st.followed);
    assert_true(st.client_fault);
    assert_int_equal(st.event, -1);
    expect_no_buffer();
    assert_int_equal(observe_server_gone(&st, true, false), OBS__COUNT);
}

/* A zstd frame asking for a window larger than rebound holds (32 MiB): the stream is no longer
 * followed, and nobody is blamed. */
static void test_zstd_window_too_large(void **state)
{
    static const uint8_t ok[] = {7, 0, 0, 1, 0x00, 0, 0, 2, 0, 0, 0};
    ZSTD_CCtx *c = ZSTD_createCCtx();
    struct buf z = {.n = OBS_Z_HEADER_LEN};
    size_t clen;
    (void)state;

    login(CAPS_ZSTD);
    query("COMMIT", OBS_Z_ZSTD);
    assert_non_null(c);
    /* No content size: the frame header carries a window descriptor (byte 5), made 32 MiB. */
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0)));
    clen = ZSTD_compress2(c, z.b + OBS_Z_HEADER_LEN, 256, ok, sizeof(ok));
    ZSTD_freeCCtx(c);
    assert_false(ZSTD_isError(clen));
    assert_int_equal(z.b[OBS_Z_HEADER_LEN + 4] & 0x20, 0); /* not a single segment */
    z.b[OBS_Z_HEADER_LEN + 5] = (25 - 10) << 3;
    z.b[0] = (uint8_t)clen, z.b[1] = 0, z.b[2] = 0, z.b[3] = 1;
    z.b[4] = sizeof(ok), z.b[5] = 0, z.b[6] = 0;
    z.n += clen;
    from_server(&z);
    assert_false(st.followed);
    assert_int_equal(st.event, -1);
    expect_no_buffer();
}

/* A session at rest holds no buffer; one cut inside a compressed packet does until the stream
 * ends, and a server that goes away there is to blame. */
static void test_idle_holds_nothing(void **state)
{
    struct buf m = {.n = 0}, z = {.n = 0};
    (void)state;

    login(CAPS_ZLIB);
    expect_no_buffer();
    query("SELECT 'hello' FROM t", OBS_Z_ZLIB);
    expect_no_buffer();
    put_result(&m, 1, 100, AUTOCOMMIT);
    zwrap(&z, 1, &m, OBS_Z_ZLIB);
    observe_server_bytes(&st, z.b, z.n / 2);
    assert_non_null(st.z.srv.buf);
    assert_int_equal(observe_server_gone(&st, false, false), OBS_MID_RESPONSE);
    observe_stream_end(&st);
    expect_no_buffer();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_algorithm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compressed_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_switch_within_a_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_byte_by_byte_zlib, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_byte_by_byte_zstd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_larger_than_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_packet_spans_two, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stored_packet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequence_ids_follow_compressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zstd_window_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_holds_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
