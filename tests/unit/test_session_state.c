/* test_session_state.c - unit tests for the session state the stream follower reads
 * (observe_state, observe_in_transaction): packet sequences laid out as a MariaDB server
 * sends them (autocommit, BEGIN/COMMIT/ROLLBACK, SET autocommit, multi-statements, cursors,
 * errors inside a transaction, XA, LOCAL INFILE, with and without CLIENT_DEPRECATE_EOF),
 * each fed whole and again one byte per read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "observe.h"

/* Server status flags, as the server sets them. */
#define ST_IN_TRANS   0x0001
#define ST_AUTOCOMMIT 0x0002
#define ST_MORE       0x0008
#define ST_CURSOR     0x0040
#define ST_LAST_ROW   0x0080
#define ST_READONLY   0x2000

static struct obs_stream st;
static bool bytewise; /* feed one byte per read instead of each turn in one read */

/* One side's turn: bytes built up, then fed. */
struct turn {
    uint8_t b[512];
    size_t n;
};

static void put(struct turn *t, const uint8_t *p, size_t n)
{
    assert_true(t->n + n <= sizeof(t->b));
    memcpy(t->b + t->n, p, n);
    t->n += n;
}

/* A packet with sequence id SEQ and payload P (N bytes). */
static void pkt(struct turn *t, uint8_t seq, const uint8_t *p, size_t n)
{
    uint8_t hdr[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), seq};

    put(t, hdr, 4);
    put(t, p, n);
}

/* A length-encoded integer into P; returns its length. */
static size_t lenenc(uint8_t *p, uint64_t v)
{
    if (v < 251) {
        p[0] = (uint8_t)v;
        return 1;
    }
    size_t n = v < 0x10000 ? 2 : v < 0x1000000 ? 3 : 8;
    p[0] = n == 2 ? 0xfc : n == 3 ? 0xfd : 0xfe;
    for (size_t i = 0; i < n; i++)
        p[1 + i] = (uint8_t)(v >> (8 * i));
    return 1 + n;
}

/* An OK packet (HDR 0x00, or 0xfe for the one ending a result set with
 * CLIENT_DEPRECATE_EOF), with an info string after the warnings. */
static void ok_full(struct turn *t, uint8_t seq, uint8_t hdr, uint64_t affected, uint64_t id,
                    uint16_t status, const char *info)
{
    uint8_t p[64];
    size_t n = 0;

    p[n++] = hdr;
    n += lenenc(p + n, affected);
    n += lenenc(p + n, id);
    p[n++] = (uint8_t)status;
    p[n++] = (uint8_t)(status >> 8);
    p[n++] = 0; /* warnings */
    p[n++] = 0;
    if (info) {
        memcpy(p + n, info, strlen(info));
        n += strlen(info);
    }
    pkt(t, seq, p, n);
}

static void ok(struct turn *t, uint8_t seq, uint16_t status)
{
    ok_full(t, seq, 0x00, 0, 0, status, NULL);
}

/* An EOF packet (protocol 4.1). */
static void eof(struct turn *t, uint8_t seq, uint16_t status)
{
    uint8_t p[5] = {0xfe, 0, 0, (uint8_t)status, (uint8_t)(status >> 8)};
    pkt(t, seq, p, sizeof(p));
}

static void err(struct turn *t, uint8_t seq, uint16_t code)
{
    uint8_t p[] = {
        0xff, (uint8_t)code, (uint8_t)(code >> 8), '#', '2', '3', '0', '0', '0', 'd', 'u', 'p'};
    pkt(t, seq, p, sizeof(p));
}

/* A text result set of two columns and one row ('' and 3 bytes): misread as an OK packet,
 * its status would be 0x2009 (a read-only transaction, more results). Without
 * DEPRECATE_EOF an EOF ends the definitions and the rows; with it an OK packet (0xfe) ends
 * the rows. Returns the next sequence id. */
static uint8_t result(struct turn *t, uint8_t seq, bool deprecate_eof, uint16_t status)
{
    static const uint8_t count[] = {0x02};
    static const uint8_t def[] = {3,    'd', 'e', 'f', 0, 0,    0, 1, 'a', 0, 0x0c,
                                  0x21, 0,   0,   0,   0, 0xfd, 0, 0, 0,   0, 0};
    static const uint8_t row[] = {0x00, 0x03, 0x00, 0x09, 0x20};

    pkt(t, seq++, count, sizeof(count));
    pkt(t, seq++, def, sizeof(def));
    pkt(t, seq++, def, sizeof(def));
    if (!deprecate_eof)
        eof(t, seq++, status);
    pkt(t, seq++, row, sizeof(row));
    if (deprecate_eof)
        ok_full(t, seq++, 0xfe, 0, 0, status, NULL);
    else
        eof(t, seq++, status);
    return seq;
}

static void feed(bool from_server, const struct turn *t)
{
    size_t step = bytewise ? 1 : t->n;

    for (size_t off = 0; off < t->n; off += step) {
        size_t n = t->n - off < step ? t->n - off : step;
        if (from_server)
            observe_server_bytes(&st, t->b + off, n);
        else
            observe_client_bytes(&st, t->b + off, n);
    }
}

/* The server's turn T, then the state it leaves. */
static void server(struct turn *t, enum obs_state want, int in_trans)
{
    feed(true, t);
    t->n = 0;
    assert_true(st.followed);
    assert_string_equal(observe_state_str(observe_state(&st)), observe_state_str(want));
    assert_int_equal(observe_in_transaction(&st), in_trans);
}

/* The client sends a command (COM_QUERY with SQL, or CMD with no argument): the session
 * waits for its answer. */
static void command(uint8_t cmd, const char *sql)
{
    struct turn t = {0};
    uint8_t p[128];

    p[0] = cmd;
    memcpy(p + 1, sql, strlen(sql));
    pkt(&t, 0, p, 1 + strlen(sql));
    feed(false, &t);
    assert_int_equal(observe_state(&st), OBS_STATE_COMMAND);
}

static void query(const char *sql)
{
    command(0x03, sql);
}

/* A plain login (no TLS, no compression; CLIENT_DEPRECATE_EOF or not makes no difference to
 * the follower), ended by the server's OK with autocommit on. */
static void login(void)
{
    uint8_t resp[36] = {32, 0, 0, 1, 0x0d, 0xa2, 0x0f, 0x01};
    struct turn t = {0};

    observe_stream_start(&st, true, true);
    assert_int_equal(observe_state(&st), OBS_STATE_LOGIN);
    assert_int_equal(observe_in_transaction(&st), -1);
    observe_client_bytes(&st, resp, sizeof(resp));
    assert_int_equal(observe_state(&st), OBS_STATE_LOGIN);
    ok(&t, 2, ST_AUTOCOMMIT);
    server(&t, OBS_STATE_IDLE, 0);
}

/* Run SCENARIO whole, then one byte per read. */
static void both(void (*scenario)(void))
{
    bytewise = false;
    scenario();
    bytewise = true;
    scenario();
}

/* ---- scenarios ---- */

/* Autocommit on: a SELECT opens no transaction; while it streams the state is result, and a
 * row beginning with 0x00 is no OK packet. */
static void autocommit_select(void)
{
    struct turn t = {0}, last = {0};

    login();
    query("SELECT ''");
    result(&t, 1, false, ST_AUTOCOMMIT);
    /* all but the final EOF (4 + 5 bytes): the rows are still coming */
    last.n = 9;
    memcpy(last.b, t.b + t.n - 9, 9);
    t.n -= 9;
    server(&t, OBS_STATE_RESULT, 0);
    server(&last, OBS_STATE_IDLE, 0);
    query("SELECT ''");
    result(&t, 1, true, ST_AUTOCOMMIT);
    server(&t, OBS_STATE_IDLE, 0);
}

static void test_autocommit_select(void **state)
{
    (void)state;
    both(autocommit_select);
}

/* BEGIN, an INSERT, COMMIT; START TRANSACTION READ ONLY, ROLLBACK. */
static void begin_commit_rollback(void)
{
    struct turn t = {0};

    login();
    query("BEGIN");
    ok(&t, 1, ST_AUTOCOMMIT | ST_IN_TRANS);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    query("INSERT INTO t VALUES (1)");
    ok_full(&t, 1, 0x00, 1, 70000, ST_AUTOCOMMIT | ST_IN_TRANS, NULL);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    query("COMMIT");
    ok(&t, 1, ST_AUTOCOMMIT);
    server(&t, OBS_STATE_IDLE, 0);
    query("START TRANSACTION READ ONLY");
    ok(&t, 1, ST_AUTOCOMMIT | ST_IN_TRANS | ST_READONLY);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    assert_true(st.trans_ro);
    query("SELECT ''");
    result(&t, 1, false, ST_AUTOCOMMIT | ST_IN_TRANS | ST_READONLY);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    query("ROLLBACK");
    ok(&t, 1, ST_AUTOCOMMIT);
    server(&t, OBS_STATE_IDLE, 0);
    assert_false(st.trans_ro);
}

static void test_begin_commit_rollback(void **state)
{
    (void)state;
    both(begin_commit_rollback);
}

/* SET autocommit=0 opens nothing yet; the next INSERT does, COMMIT ends it. */
static void autocommit_off(void)
{
    struct turn t = {0};

    login();
    query("SET autocommit=0");
    ok(&t, 1, 0);
    server(&t, OBS_STATE_IDLE, 0);
    query("INSERT INTO t VALUES (1)");
    ok_full(&t, 1, 0x00, 1, 1, ST_IN_TRANS, NULL);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    query("COMMIT");
    ok(&t, 1, 0);
    server(&t, OBS_STATE_IDLE, 0);
}

static void test_autocommit_off(void **state)
{
    (void)state;
    both(autocommit_off);
}

/* "SELECT ''; BEGIN; SELECT ''": each result but the last says more follow, so the answer is
 * not over even where a read ends between them. */
static void multi_statements(bool deprecate_eof)
{
    struct turn t = {0};
    uint8_t seq;

    login();
    query("SELECT ''; BEGIN; SELECT ''");
    seq = result(&t, 1, deprecate_eof, ST_AUTOCOMMIT | ST_MORE);
    server(&t, OBS_STATE_RESULT, 0);
    ok(&t, seq++, ST_AUTOCOMMIT | ST_IN_TRANS | ST_MORE);
    server(&t, OBS_STATE_RESULT, 1);
    result(&t, seq, deprecate_eof, ST_AUTOCOMMIT | ST_IN_TRANS);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    /* An error stops a multi-statement: the answer ends there, the transaction stays. */
    query("INSERT INTO t VALUES (1); COMMIT");
    err(&t, 1, 1062);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    query("COMMIT; SELECT ''");
    ok(&t, 1, ST_AUTOCOMMIT | ST_MORE);
    err(&t, 2, 1146);
    server(&t, OBS_STATE_IDLE, 0);
}

static void multi_eof(void)
{
    multi_statements(false);
}

static void multi_deprecate_eof(void)
{
    multi_statements(true);
}

static void test_multi_statements(void **state)
{
    (void)state;
    both(multi_eof);
    both(multi_deprecate_eof);
}

/* An ERR packet carries no status: an error inside a transaction leaves it open. */
static void error_in_transaction(void)
{
    struct turn t = {0};

    login();
    query("START TRANSACTION");
    ok(&t, 1, ST_AUTOCOMMIT | ST_IN_TRANS);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    query("INSERT INTO t VALUES (1)");
    err(&t, 1, 1062);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    query("ROLLBACK");
    ok(&t, 1, ST_AUTOCOMMIT);
    server(&t, OBS_STATE_IDLE, 0);
}

static void test_error_in_transaction(void **state)
{
    (void)state;
    both(error_in_transaction);
}

/* A cursor: COM_STMT_EXECUTE with CURSOR_TYPE_READ_ONLY answers with the definitions alone
 * and SERVER_STATUS_CURSOR_EXISTS; each COM_STMT_FETCH answers binary rows (which begin with
 * 0x00: misread as an OK packet, no transaction) and an EOF. */
static void cursor(bool deprecate_eof)
{
    static const uint8_t count[] = {0x01};
    static const uint8_t def[] = {3,    'd', 'e', 'f', 0, 0, 0, 1, 'a', 0, 0x0c,
                                  0x3f, 0,   11,  0,   0, 0, 3, 0, 0,   0, 0};
    static const uint8_t row[] = {0x00, 0x00, 0x01, 0x00, 0x00, 0x00};
    static const uint8_t execute[] = {0x17, 1, 0, 0, 0, 0x01, 1, 0, 0, 0};
    static const uint8_t fetch[] = {0x1c, 1, 0, 0, 0, 2, 0, 0, 0};
    struct turn t = {0}, c = {0};
    const uint16_t open = ST_AUTOCOMMIT | ST_IN_TRANS;

    login();
    query("BEGIN");
    ok(&t, 1, open);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    pkt(&c, 0, execute, sizeof(execute));
    feed(false, &c);
    c.n = 0;
    pkt(&t, 1, count, 1);
    pkt(&t, 2, def, sizeof(def));
    if (deprecate_eof)
        ok_full(&t, 3, 0xfe, 0, 0, open | ST_CURSOR, NULL);
    else
        eof(&t, 3, open | ST_CURSOR);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    for (int i = 0; i < 2; i++) {
        pkt(&c, 0, fetch, sizeof(fetch));
        feed(false, &c);
        c.n = 0;
        assert_int_equal(observe_state(&st), OBS_STATE_COMMAND);
        pkt(&t, 1, row, sizeof(row));
        server(&t, OBS_STATE_RESULT, 1);
        pkt(&t, 2, row, sizeof(row));
        uint16_t status = open | (i ? ST_LAST_ROW : ST_CURSOR);
        if (deprecate_eof)
            ok_full(&t, 3, 0xfe, 0, 0, status, NULL);
        else
            eof(&t, 3, status);
        server(&t, OBS_STATE_IDLE_TRANS, 1);
        assert_false(st.more);
    }
}

static void cursor_eof(void)
{
    cursor(false);
}

static void cursor_deprecate_eof(void)
{
    cursor(true);
}

static void test_cursor(void **state)
{
    (void)state;
    both(cursor_eof);
    both(cursor_deprecate_eof);
}

/* XA: the transaction is open from XA START to XA COMMIT, through XA END and XA PREPARE, as
 * MariaDB's status flags say (0x0003 at each step, 0x0002 after XA COMMIT). */
static void xa(void)
{
    struct turn t = {0};
    const uint16_t open = ST_AUTOCOMMIT | ST_IN_TRANS;

    login();
    query("XA START 'x'");
    ok(&t, 1, open);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    query("INSERT INTO t VALUES (1)");
    ok_full(&t, 1, 0x00, 1, 0, open, NULL);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    query("XA END 'x'");
    ok(&t, 1, open);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    query("XA PREPARE 'x'");
    ok(&t, 1, open);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    query("XA COMMIT 'x'");
    ok(&t, 1, ST_AUTOCOMMIT);
    server(&t, OBS_STATE_IDLE, 0);
}

static void test_xa(void **state)
{
    (void)state;
    both(xa);
}

/* LOAD DATA LOCAL INFILE: the server asks for the file (0xfb), the client sends it up to an
 * empty packet, the server answers with an OK. */
static void local_infile(void)
{
    static const uint8_t ask[] = {0xfb, 'f', '.', 'c', 's', 'v'};
    static const uint8_t data[] = {'1', '\n', '2', '\n'};
    struct turn t = {0}, c = {0};

    login();
    query("BEGIN");
    ok(&t, 1, ST_AUTOCOMMIT | ST_IN_TRANS);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    query("LOAD DATA LOCAL INFILE 'f.csv' INTO TABLE t");
    pkt(&t, 1, ask, sizeof(ask));
    server(&t, OBS_STATE_INFILE, 1);
    pkt(&c, 2, data, sizeof(data));
    feed(false, &c);
    c.n = 0;
    assert_int_equal(observe_state(&st), OBS_STATE_INFILE);
    pkt(&c, 3, data, 0);
    feed(false, &c);
    assert_int_equal(observe_state(&st), OBS_STATE_RESULT); /* the server's OK is awaited */
    ok_full(&t, 4, 0x00, 2, 0, ST_AUTOCOMMIT | ST_IN_TRANS, "Records: 2  Deleted: 0");
    server(&t, OBS_STATE_IDLE_TRANS, 1);
}

static void test_local_infile(void **state)
{
    (void)state;
    both(local_infile);
}

/* A result set of 256 packets ends with sequence id 0: the next answer's first packet (1)
 * also reads as its continuation, but the result set is over, so it begins the next answer. */
static void sequence_wrap(void)
{
    static const uint8_t row[] = {0x01, 'x'};
    struct turn t = {0};
    uint8_t seq = 1;

    login();
    for (int i = 0; i < 3; i++) {
        static const uint8_t count[] = {0x01};
        static const uint8_t def[] = {3,    'd', 'e', 'f', 0, 0,    0, 1, 'a', 0, 0x0c,
                                      0x21, 0,   0,   0,   0, 0xfd, 0, 0, 0,   0, 0};
        query("SELECT 'x' FROM seq_1_to_252");
        seq = 1;
        pkt(&t, seq++, count, sizeof(count));
        pkt(&t, seq++, def, sizeof(def));
        eof(&t, seq++, ST_AUTOCOMMIT);
        server(&t, OBS_STATE_RESULT, 0);
        for (int r = 0; r < 252; r++) {
            pkt(&t, seq++, row, sizeof(row));
            if (t.n > sizeof(t.b) - 16)
                server(&t, OBS_STATE_RESULT, 0);
        }
        eof(&t, seq++, i == 1 ? ST_AUTOCOMMIT | ST_IN_TRANS : ST_AUTOCOMMIT);
        assert_int_equal(seq, 1);
        server(&t, i == 1 ? OBS_STATE_IDLE_TRANS : OBS_STATE_IDLE, i == 1);
        query("DO 1");
        ok(&t, 1, ST_AUTOCOMMIT);
        server(&t, OBS_STATE_IDLE, 0);
        assert_int_equal(st.queued, 0);
    }
}

static void test_sequence_wrap(void **state)
{
    (void)state;
    both(sequence_wrap);
}

/* A driver pipelines COM_STMT_PREPARE and COM_STMT_EXECUTE: the prepare's answer begins with
 * 0x00 but is no OK packet (read as one, its status would open a transaction); the layout of
 * each queued command's answer is known. */
static void pipelined_prepare(void)
{
    static const uint8_t prepare[] = {0x16, 'D', 'O', ' ', '1'};
    static const uint8_t execute[] = {0x17, 5, 0, 1, 0x20, 0, 1, 0, 0, 0};
    static const uint8_t prepared[] = {0x00, 5, 0, 1, 0x20, 0, 0, 0, 0, 0, 0, 0};
    struct turn t = {0}, c = {0};

    login();
    pkt(&c, 0, prepare, sizeof(prepare));
    pkt(&c, 0, execute, sizeof(execute));
    feed(false, &c);
    assert_int_equal(st.queued, 2);
    pkt(&t, 1, prepared, sizeof(prepared));
    server(&t, OBS_STATE_COMMAND, 0);
    ok(&t, 1, ST_AUTOCOMMIT);
    server(&t, OBS_STATE_IDLE, 0);
}

static void test_pipelined_prepare(void **state)
{
    (void)state;
    both(pipelined_prepare);
}

/* An OK packet cut between reads inside its status flags, and inside long length-encoded
 * integers: the few bytes of scan state carry over. */
static void test_split_status(void **state)
{
    struct turn t = {0};
    (void)state;

    bytewise = false;
    login();
    query("BEGIN");
    ok(&t, 1, ST_AUTOCOMMIT | ST_IN_TRANS);
    /* header 4, 0x00, affected, insert id, then the status: cut after its first byte */
    observe_server_bytes(&st, t.b, 8);
    assert_int_equal(observe_state(&st), OBS_STATE_RESULT);
    observe_server_bytes(&st, t.b + 8, t.n - 8);
    assert_int_equal(observe_state(&st), OBS_STATE_IDLE_TRANS);
    t.n = 0;
    for (size_t cut = 1; cut < 22; cut++) {
        uint16_t status = cut & 1 ? ST_AUTOCOMMIT : ST_IN_TRANS;
        query("COMMIT");
        ok_full(&t, 1, 0x00, 300000, 0x123456789aULL, status, NULL);
        assert_int_equal(t.n, 4 + 1 + 4 + 9 + 2 + 2);
        observe_server_bytes(&st, t.b, cut);
        observe_server_bytes(&st, t.b + cut, t.n - cut);
        t.n = 0;
        assert_int_equal(observe_in_transaction(&st), cut & 1 ? 0 : 1);
        assert_int_equal(observe_state(&st), cut & 1 ? OBS_STATE_IDLE : OBS_STATE_IDLE_TRANS);
    }
}

/* Malformed OK packets give no status and leave the transaction as it was: one too short
 * for its status, one whose "integer" is a NULL marker. */
static void test_malformed_ok(void **state)
{
    static const uint8_t short_ok[] = {0x00, 0x00, 0x00, 0x03};
    static const uint8_t null_ok[] = {0x00, 0xfb, 0x00, 0x00, 0x00, 0x00, 0x00};
    static const uint8_t cut_ok[] = {0x00, 0xfe, 1, 2};
    struct turn t = {0};
    (void)state;

    bytewise = false;
    login();
    query("BEGIN");
    ok(&t, 1, ST_AUTOCOMMIT | ST_IN_TRANS);
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    query("DO 1");
    pkt(&t, 1, short_ok, sizeof(short_ok));
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    query("DO 1");
    pkt(&t, 1, null_ok, sizeof(null_ok));
    server(&t, OBS_STATE_IDLE_TRANS, 1);
    query("DO 1");
    pkt(&t, 1, cut_ok, sizeof(cut_ok));
    server(&t, OBS_STATE_IDLE_TRANS, 1);
}

/* TLS or compression: nothing can be read, the transaction is unknown. */
static void test_unreadable(void **state)
{
    uint8_t tls[36] = {32, 0, 0, 1, 0x0d, 0xaa, 0x0f, 0x01};
    (void)state;

    observe_stream_start(&st, true, true);
    observe_client_bytes(&st, tls, sizeof(tls));
    assert_int_equal(observe_state(&st), OBS_STATE_UNREADABLE);
    assert_string_equal(observe_state_str(observe_state(&st)), "unreadable");
    assert_int_equal(observe_in_transaction(&st), -1);
}

/* Every state has a name. */
static void test_names(void **state)
{
    (void)state;
    assert_string_equal(observe_state_str(OBS_STATE_IDLE_TRANS), "idle in transaction");
    assert_string_equal(observe_state_str(OBS_STATE_INFILE), "local infile");
    for (int i = 0; i < OBS_STATE__COUNT; i++)
        assert_non_null(observe_state_str((enum obs_state)i));
    assert_string_equal(observe_state_str(OBS_STATE__COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_autocommit_select),
        cmocka_unit_test(test_begin_commit_rollback),
        cmocka_unit_test(test_autocommit_off),
        cmocka_unit_test(test_multi_statements),
        cmocka_unit_test(test_error_in_transaction),
        cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_xa),
        cmocka_unit_test(test_local_infile),
        cmocka_unit_test(test_sequence_wrap),
        cmocka_unit_test(test_pipelined_prepare),
        cmocka_unit_test(test_split_status),
        cmocka_unit_test(test_malformed_ok),
        cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
