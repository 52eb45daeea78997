/* test_observe_stream.c - unit tests for following a session's MySQL stream (observe.c):
 * legitimate exchanges that must never look malformed (16 MiB packets, LOCAL INFILE past a
 * sequence wrap, pipelining, auth switches, unanswered commands, out-of-band ERR packets), a
 * server that breaks the sequence, and who is to blame when the server goes away. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "observe.h"

#define BIG (16u * 1024 * 1024) /* a buffer for the 16 MiB cases */

static struct obs_stream st;
static uint8_t *big;

/* Feed one packet of LEN payload bytes (first byte FIRST, the rest zeros) with sequence id SEQ,
 * from the client (TO_SERVER) or from the server, split in two reads to exercise the tracker. */
static void packet(bool to_server, uint8_t seq, int first, size_t len)
{
    uint8_t hdr[5] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), seq, (uint8_t)first};
    size_t rest = len ? len - 1 : 0;

    if (to_server) {
        observe_client_bytes(&st, hdr, len ? 5 : 4);
        observe_client_bytes(&st, big, rest);
    } else {
        observe_server_bytes(&st, hdr, len ? 5 : 4);
        observe_server_bytes(&st, big, rest);
    }
}

static void from_client(uint8_t seq, int first, size_t len)
{
    packet(true, seq, first, len);
}

static void from_server(uint8_t seq, int first, size_t len)
{
    packet(false, seq, first, len);
}

/* A logical packet of LEN bytes (>= 16 MiB - 1 splits into parts) starting at sequence id
 * SEQ; returns the sequence id after it. */
static uint8_t long_packet(bool to_server, uint8_t seq, int first, size_t len)
{
    size_t part;

    do {
        part = len >= 0xffffff ? 0xffffff : len;
        packet(to_server, seq++, first, part);
        len -= part;
        first = 0;
    } while (part == 0xffffff);
    return seq;
}

/* The handshake response (plain, no TLS or compression) and the server's OK. */
static void login(void)
{
    uint8_t resp[36] = {32, 0, 0, 1, 0x0d, 0xa2, 0x0f, 0x00};

    observe_stream_start(&st, true, true);
    observe_client_bytes(&st, resp, sizeof(resp));
    from_server(2, 0x00, 7);
    assert_true(st.authed);
}

static void expect_clean(void)
{
    assert_true(st.followed);
    assert_false(st.client_fault);
    assert_int_equal(st.event, -1);
}

/* A text result set of ROWS rows: column count, one column, EOF, rows, EOF. Returns the
 * sequence id after it. */
static uint8_t result_set(uint8_t seq, int rows)
{
    from_server(seq++, 0x01, 1);
    from_server(seq++, 0x03, 20);
    from_server(seq++, 0xfe, 5);
    for (int i = 0; i < rows; i++)
        from_server(seq++, 0x05, 6);
    from_server(seq++, 0xfe, 5);
    return seq;
}

static int setup(void **state)
{
    (void)state;
    memset(&st, 0, sizeof(st));
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    big = calloc(1, BIG);
    return big ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    free(big);
    return 0;
}

/* A result set long enough to wrap the sequence id several times. */
static void test_long_result_wraps(void **state)
{
    (void)state;
    login();
    for (int i = 0; i < 3; i++) {
        from_client(0, 0x03, 20);
        result_set(1, 1000);
        expect_clean();
    }
    assert_int_equal(observe_server_gone(&st, false, false), OBS__COUNT);
}

/* A row of exactly 16 MiB - 1 bytes and one larger: continuation packets carry ids too. */
static void test_16mib_rows(void **state)
{
    uint8_t seq;
    (void)state;
    login();
    for (size_t len = 0xffffff; len <= 0xffffff + 10; len += 10) {
        from_client(0, 0x03, 30);
        from_server(1, 0x01, 1);
        from_server(2, 0x03, 20);
        from_server(3, 0xfe, 5);
        seq = long_packet(false, 4, 0xfd, len);
        from_server(seq, 0xfe, 5);
        expect_clean();
    }
}

/* A 16 MiB command from the client: the answer starts after its last part. */
static void test_16mib_command(void **state)
{
    uint8_t seq;
    (void)state;
    login();
    seq = long_packet(true, 0, 0x03, 0xffffff + 100);
    assert_int_equal(seq, 2);
    from_server(seq, 0x00, 7);
    expect_clean();
}

/* LOAD DATA LOCAL INFILE: the server asks (0xfb), the client sends the file in packets that
 * continue the sequence past 255 and ends it with an empty packet; the OK continues it. */
static void test_local_infile_wraps(void **state)
{
    uint8_t seq = 2;
    (void)state;
    login();
    for (int round = 0; round < 2; round++) {
        from_client(0, 0x03, 40);
        from_server(1, 0xfb, 10);
        seq = 2;
        for (int i = 0; i < 600; i++)
            from_client(seq++, 'x', 100);
        from_client(seq++, -1, 0);
        from_server(seq, 0x00, 7);
        expect_clean();
    }
    assert_int_equal(st.may, OBS_CLIENT_NOTHING);
}

/* Commands sent before the previous answers (pipelining): each answer starts at 1. */
static void test_pipelined_commands(void **state)
{
    (void)state;
    login();
    from_client(0, 0x16, 30); /* COM_STMT_PREPARE */
    from_client(0, 0x17, 30); /* COM_STMT_EXECUTE */
    from_client(0, 0x03, 30);
    from_server(1, 0x00, 12); /* prepare OK */
    from_server(2, 0x03, 20);
    from_server(3, 0xfe, 5);
    result_set(1, 300); /* execute */
    from_server(1, 0x00, 7);
    expect_clean();
}

/* Commands the server never answers do not leave an answer expected. */
static void test_unanswered_commands(void **state)
{
    (void)state;
    login();
    from_client(0, 0x18, 100); /* COM_STMT_SEND_LONG_DATA */
    from_client(0, 0x18, 100);
    from_client(0, 0x19, 5); /* COM_STMT_CLOSE */
    assert_int_equal(st.queued, 0);
    from_client(0, 0x17, 30);
    from_server(1, 0x00, 7);
    expect_clean();
    assert_int_equal(observe_server_gone(&st, false, false), OBS__COUNT);
}

/* An auth switch during the login, then COM_CHANGE_USER with one, then COM_RESET_CONNECTION. */
static void test_auth_switch_and_change_user(void **state)
{
    uint8_t resp[40] = {36, 0, 0, 1, 0x0d, 0xa2, 0x0f, 0x00};
    (void)state;

    observe_stream_start(&st, true, true);
    observe_client_bytes(&st, resp, sizeof(resp));
    from_server(2, 0xfe, 30); /* auth switch request */
    from_client(3, 0x11, 20);
    from_server(4, 0x00, 7);
    assert_true(st.authed);
    from_client(0, 0x11, 60); /* COM_CHANGE_USER */
    from_server(1, 0xfe, 30);
    from_client(2, 0x22, 20);
    from_server(3, 0x00, 7);
    from_client(0, 0x1f, 1); /* COM_RESET_CONNECTION */
    from_server(1, 0x00, 7);
    expect_clean();
}

/* caching_sha2_password's fast path: "more data" (0x01 0x03), then OK, no client reply. */
static void test_auth_more_data(void **state)
{
    uint8_t resp[40] = {36, 0, 0, 1, 0x0d, 0xa2, 0x0f, 0x00};
    (void)state;

    observe_stream_start(&st, true, true);
    observe_client_bytes(&st, resp, sizeof(resp));
    from_server(2, 0x01, 2);
    from_server(3, 0x00, 7);
    assert_true(st.authed);
    from_client(0, 0x0e, 1); /* COM_PING */
    from_server(1, 0x00, 7);
    expect_clean();
}

/* A server closing an idle session may say why out of turn (sequence id 0): judged by its
 * error number, never as a broken stream. */
static void test_out_of_band_err(void **state)
{
    uint8_t err[13] = {9, 0, 0, 0, 0xff, 0x1d, 0x04, '#', 'H', 'Y', '0', '0', '0'}; /* 1053 */
    (void)state;

    login();
    observe_server_bytes(&st, err, sizeof(err));
    assert_int_equal(st.event, OBS_SERVER_ERROR);
    assert_int_equal(st.err, 1053);
    assert_true(st.last_err);
    assert_int_equal(observe_server_gone(&st, false, false), OBS__COUNT);
}

/* The server answers a command with sequence id 0 (1 is due): a broken stream, once. */
static void test_server_breaks_sequence(void **state)
{
    (void)state;
    login();
    from_client(0, 0x03, 20);
    from_server(0, 0x00, 7);
    assert_int_equal(st.event, OBS_MALFORMED);
    assert_false(st.followed);
    st.event = -1;
    from_server(7, 0x00, 7);
    assert_int_equal(st.event, -1); /* not judged after it */
}

/* An answer nobody asked for (no command outstanding) is a broken stream too. */
static void test_unsolicited_answer(void **state)
{
    (void)state;
    login();
    from_client(0, 0x03, 20);
    from_server(1, 0x00, 7);
    from_server(1, 0x00, 7);
    assert_int_equal(st.event, OBS_MALFORMED);
}

/* Who is to blame when the server goes away. */
static void test_blame_server(void **state)
{
    (void)state;
    login();
    /* At rest a close or a reset (MariaDB's wait_timeout resets) is nobody's fault. */
    assert_int_equal(observe_server_gone(&st, false, false), OBS__COUNT);
    assert_int_equal(observe_server_gone(&st, true, false), OBS__COUNT);
    /* A command waits for its answer: closing or resetting now is the server's doing. */
    from_client(0, 0x03, 20);
    assert_int_equal(observe_server_gone(&st, false, false), OBS_MID_RESPONSE);
    assert_int_equal(observe_server_gone(&st, true, false), OBS_SERVER_RESET);
    /* ... also in the middle of an answer's packet. */
    from_server(1, 0x01, 1);
    observe_server_bytes(&st, (const uint8_t *)"\x10\0\0\2\3", 5);
    assert_int_equal(observe_server_gone(&st, false, false), OBS_MID_RESPONSE);
}

/* What a client does to itself never makes the server guilty. */
static void test_blame_client(void **state)
{
    uint8_t half[24] = {100, 0, 0, 0, 0x03, 'S', 'E', 'L'};
    (void)state;

    /* Half a command, then the client half-closes. */
    login();
    observe_client_bytes(&st, half, sizeof(half));
    assert_int_equal(observe_server_gone(&st, false, false), OBS__COUNT);
    assert_int_equal(observe_server_gone(&st, true, false), OBS__COUNT);
    /* A whole command, but the client half-closed. */
    login();
    from_client(0, 0x03, 20);
    assert_int_equal(observe_server_gone(&st, false, true), OBS__COUNT);
    /* A wrong sequence id from the client. */
    login();
    from_client(5, 0x03, 20);
    assert_true(st.client_fault);
    assert_int_equal(observe_server_gone(&st, true, false), OBS__COUNT);
    /* Bytes after COM_QUIT. */
    login();
    from_client(0, 0x01, 1);
    assert_int_equal(observe_server_gone(&st, true, false), OBS__COUNT);
    from_client(0, 0x03, 20);
    assert_true(st.client_fault);
    /* The server answered with an ERR, then closed: it said why. */
    login();
    from_client(0, 0x03, 20);
    from_server(1, 0xff, 30);
    assert_int_equal(observe_server_gone(&st, false, false), OBS__COUNT);
}

/* During the login the client speaks only when asked; and a server that goes away before
 * the login ended is never blamed. */
static void test_login_out_of_turn(void **state)
{
    uint8_t resp[36] = {32, 0, 0, 1, 0x0d, 0xa2, 0x0f, 0x00};
    (void)state;

    observe_stream_start(&st, true, true);
    observe_client_bytes(&st, resp, sizeof(resp));
    assert_int_equal(observe_server_gone(&st, true, false), OBS__COUNT);
    from_client(2, 0x00, 3000); /* extra bytes nobody asked for */
    assert_true(st.client_fault);
    assert_int_equal(observe_server_gone(&st, true, false), OBS__COUNT);
}

/* A handshake response asking for TLS (passed through): the stream cannot be followed. One
 * asking for compression is followed (test_observe_compress.c). */
static void test_tls_not_followed(void **state)
{
    uint8_t resp[36] = {32, 0, 0, 1, 0x2d, 0xa2, 0x0f, 0x00}; /* CLIENT_COMPRESS */
    (void)state;

    observe_stream_start(&st, true, true);
    observe_client_bytes(&st, resp, sizeof(resp));
    assert_true(st.followed);
    assert_int_equal(observe_state(&st), OBS_STATE_LOGIN);
    resp[4] = 0x0d;
    resp[5] = 0xaa; /* CLIENT_SSL */
    observe_stream_start(&st, true, true);
    observe_client_bytes(&st, resp, sizeof(resp));
    assert_false(st.followed);
    assert_int_equal(observe_server_gone(&st, true, false), OBS__COUNT);
}

/* Unhealthy error numbers count, application errors do not; 1290 only on an active server. */
static void test_error_numbers(void **state)
{
    uint8_t e1290[13] = {9, 0, 0, 1, 0xff, 0x0a, 0x05, '#', 'H', 'Y', '0', '0', '0'};
    uint8_t e1064[13] = {9, 0, 0, 1, 0xff, 0x28, 0x04, '#', '4', '2', '0', '0', '0'};
    (void)state;

    login();
    from_client(0, 0x03, 20);
    observe_server_bytes(&st, e1064, sizeof(e1064));
    assert_int_equal(st.event, -1);
    from_client(0, 0x03, 20);
    observe_server_bytes(&st, e1290, sizeof(e1290));
    assert_int_equal(st.event, OBS_SERVER_ERROR);
    login();
    st.active = false;
    from_client(0, 0x03, 20);
    observe_server_bytes(&st, e1290, sizeof(e1290));
    assert_int_equal(st.event, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_long_result_wraps, setup),
        cmocka_unit_test_setup(test_16mib_rows, setup),
        cmocka_unit_test_setup(test_16mib_command, setup),
        cmocka_unit_test_setup(test_local_infile_wraps, setup),
        cmocka_unit_test_setup(test_pipelined_commands, setup),
        cmocka_unit_test_setup(test_unanswered_commands, setup),
        cmocka_unit_test_setup(test_auth_switch_and_change_user, setup),
        cmocka_unit_test_setup(test_auth_more_data, setup),
        cmocka_unit_test_setup(test_out_of_band_err, setup),
        cmocka_unit_test_setup(test_server_breaks_sequence, setup),
        cmocka_unit_test_setup(test_unsolicited_answer, setup),
        cmocka_unit_test_setup(test_blame_server, setup),
        cmocka_unit_test_setup(test_blame_client, setup),
        cmocka_unit_test_setup(test_login_out_of_turn, setup),
        cmocka_unit_test_setup(test_tls_not_followed, setup),
        cmocka_unit_test_setup(test_error_numbers, setup),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
