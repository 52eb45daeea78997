/* test_server.c - unit tests for the server state machine and server selection, on real
 * structs: a config from conf_parse, listeners and servers built by hand (no sockets are
 * bound, the event loop never runs), check verdicts fed to server_check_done(), and the
 * health log written to a temp file whose lines are compared exactly. The GTID guard's tests
 * report whole checks (server_check_report), each with the GTID position it read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "check.h"
#include "conf.h"
#include "healthlog.h"
#include "listener.h"
#include "rebound.h"
#include "server.h"

/* rw: the product's main case; ro: option allbackups; multi: two actives, two backups;
 * rr/lc: the balance algorithms among actives; gt: a master with a GTID guard. All checks are
 * `check tcp`, but gt's. */
static const char conf_fmt[] =
    "global\n"
    "    health-log file %s\n"
    "defaults\n"
    "    check tcp\n"
    "listen rw\n"
    "    bind 127.0.0.1:3306\n"
    "    server master 127.0.0.1:3310 rise 2 fall 3 on-marked-up shutdown-backup-sessions "
    "on-marked-down shutdown-sessions\n"
    "    server replica1 127.0.0.1:3311 backup\n"
    "    server replica2 127.0.0.1:3312 backup rise 1 fall 1\n"
    "listen ro\n"
    "    bind 127.0.0.1:3307\n"
    "    option allbackups\n"
    "    server m 127.0.0.1:3310\n"
    "    server b1 127.0.0.1:3311 backup\n"
    "    server b2 127.0.0.1:3312 backup\n"
    "    server b3 127.0.0.1:3313 backup\n"
    "listen multi\n"
    "    bind 127.0.0.1:3308\n"
    "    server a1 127.0.0.1:3320 rise 3 fall 2\n"
    "    server a2 127.0.0.1:3321 no-check\n"
    "    server b1 127.0.0.1:3322 backup\n"
    "    server b2 127.0.0.1:3323 backup\n"
    "listen rr\n"
    "    bind 127.0.0.1:3309\n"
    "    balance roundrobin\n"
    "    server a1 127.0.0.1:3330\n"
    "    server a2 127.0.0.1:3331\n"
    "    server a3 127.0.0.1:3332\n"
    "listen lc\n"
    "    bind 127.0.0.1:3305\n"
    "    balance leastconn\n"
    "    server a1 127.0.0.1:3340\n"
    "    server a2 127.0.0.1:3341\n"
    "    server a3 127.0.0.1:3342\n"
    "listen gt\n"
    "    bind 127.0.0.1:3304\n"
    "    check mysql user u\n"
    "    server m 127.0.0.1:3350 rise 1 fall 1 expect gtid-covers backups\n"
    "    server b1 127.0.0.1:3351 backup\n"
    "    server b2 127.0.0.1:3352 backup\n";

/* The world of one test: config, listeners, the health log file and how far it is read. */
static struct {
    struct conf *conf;
    struct listener *ls;
    int nls;
    char log_path[64];
    long log_read;
} w;

/* Check verdicts, as check.c would report them. */
static const struct check_result r_l4con = {CHK_L4CON, 0, 0, "Connection refused"};
static const struct check_result r_l4ok = {CHK_L4OK, 0, 1, ""};
static const struct check_result r_l7ok = {CHK_L7OK, 0, 3, "10.11.6-MariaDB-log"};
static const struct check_result r_l7sts = {CHK_L7STS, 1045, 2, "Access denied"};
static const struct check_result r_l7okc = {CHK_L7OKC, 0, 4, "replication lag 40s > 30s"};
static const struct check_result r_unk = {CHK_UNK, 0, 0, ""};
static const struct check_result r_ini = {CHK_INI, 0, 0, ""};
static const struct check_result r_sockerr = {CHK_SOCKERR, 0, 0, "Too many open files"};

/* The "reason: ..." texts of those verdicts in the health log. */
#define RES_L4CON                                                                                  \
    "reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms"
#define RES_L4OK "reason: Layer4 check passed, info: \"\", check duration: 1ms"
#define RES_L7OK                                                                                   \
    "reason: Layer7 check passed, code: 0, info: \"10.11.6-MariaDB-log\", check duration: 3ms"
#define RES_L7STS                                                                                  \
    "reason: Layer7 wrong status, code: 1045, info: \"Access denied\", check duration: 2ms"
#define RES_L7OKC                                                                                  \
    "reason: Layer7 check conditionally passed, code: 0, info: \"replication lag 40s > 30s\", "    \
    "check duration: 4ms"

static int group_setup(void **state)
{
    (void)state;
    rb_loop = ev_default_loop(0);
    return rb_loop ? 0 : -1;
}

static int setup(void **state)
{
    char text[sizeof(conf_fmt) + 64], err[512] = "";
    int fd;
    (void)state;

    memset(&w, 0, sizeof(w));
    snprintf(w.log_path, sizeof(w.log_path), "/tmp/rebound-test-health-XXXXXX");
    fd = mkstemp(w.log_path);
    if (fd < 0)
        return -1;
    close(fd);
    snprintf(text, sizeof(text), conf_fmt, w.log_path);
    w.conf = conf_parse(text, "t.conf", err, sizeof(err));
    if (!w.conf) {
        print_error("%s\n", err);
        return -1;
    }
    if (healthlog_open(w.conf) < 0)
        return -1;
    w.nls = w.conf->nlistens;
    w.ls = calloc((size_t)w.nls, sizeof(*w.ls));
    if (!w.ls)
        return -1;
    for (int i = 0; i < w.nls; i++) {
        struct listener *l = &w.ls[i];
        l->conf = &w.conf->listens[i];
        l->fd = -1;
        l->nservers = l->conf->nservers;
        l->servers = calloc((size_t)l->nservers, sizeof(*l->servers));
        if (!l->servers)
            return -1;
        for (int j = 0; j < l->nservers; j++)
            server_init(&l->servers[j], l, &l->conf->servers[j], j);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < w.nls; i++) {
        for (int j = 0; j < w.ls[i].nservers; j++)
            server_fini(&w.ls[i].servers[j]);
        free(w.ls[i].servers);
    }
    free(w.ls);
    healthlog_close();
    conf_free(w.conf);
    unlink(w.log_path);
    return 0;
}

static struct listener *L(const char *name)
{
    for (int i = 0; i < w.nls; i++)
        if (!strcmp(w.ls[i].conf->name, name))
            return &w.ls[i];
    fail_msg("no listen %s", name);
    return NULL;
}

static struct server *S(const char *listen, const char *name)
{
    struct listener *l = L(listen);

    for (int i = 0; i < l->nservers; i++)
        if (!strcmp(l->servers[i].conf->name, name))
            return &l->servers[i];
    fail_msg("no server %s/%s", listen, name);
    return NULL;
}

static void feed(struct server *srv, const struct check_result *r, int times)
{
    for (int i = 0; i < times; i++)
        server_check_done(srv, r);
}

/* Does LINE match PAT, where "{N}" in PAT stands for one or more digits? */
static bool matches(const char *line, const char *pat)
{
    while (*pat) {
        if (!strncmp(pat, "{N}", 3)) {
            if (*line < '0' || *line > '9')
                return false;
            while (*line >= '0' && *line <= '9')
                line++;
            pat += 3;
            continue;
        }
        if (*line++ != *pat++)
            return false;
    }
    return *line == '\0';
}

/* The health log lines written since the last call, timestamps checked and removed,
 * must be exactly the NULL-terminated list of patterns given. */
static void expect_log(const char *first, ...)
{
    static char buf[64 * 1024];
    const char *want[64];
    int nwant = 0, ngot = 0;
    char *line, *save = NULL;
    size_t n;
    va_list ap;
    FILE *f;

    va_start(ap, first);
    for (const char *p = first; p; p = va_arg(ap, const char *))
        want[nwant++] = p;
    va_end(ap);

    f = fopen(w.log_path, "r");
    assert_non_null(f);
    assert_int_equal(fseek(f, w.log_read, SEEK_SET), 0);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    w.log_read += (long)n;
    if (n)
        assert_int_equal(buf[n - 1], '\n');

    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *text = line + 25;
        /* "2026-11-23T20:00:20.744Z " */
        assert_true(strlen(line) > 25);
        assert_true(line[4] == '-' && line[7] == '-' && line[10] == 'T' && line[13] == ':' &&
                    line[16] == ':' && line[19] == '.' && line[23] == 'Z' && line[24] == ' ');
        if (ngot >= nwant || !matches(text, want[ngot])) {
            print_error("health log line %d:\n  got:  %s\n  want: %s\n", ngot + 1, text,
                        ngot < nwant ? want[ngot] : "(no more lines)");
            fail();
        }
        ngot++;
    }
    if (ngot != nwant)
        print_error("health log: %d lines, want %d (first missing: %s)\n", ngot, nwant, want[ngot]);
    assert_int_equal(ngot, nwant);
}

/* --- start-up --- */

static void test_starts_up_at_rise(void **state)
{
    struct server *m = S("rw", "master"), *a1 = S("multi", "a1"), *a2 = S("multi", "a2");
    (void)state;

    assert_int_equal(m->state, SRV_UP);
    assert_int_equal(m->admin, ADMIN_READY);
    assert_int_equal(m->health, 2);
    assert_int_equal(m->last.status, CHK_INI);
    assert_int_equal(m->last_class, CHK_NEUTRAL);
    assert_string_equal(m->id, "rw/master");
    assert_int_equal(m->index, 0);
    assert_ptr_equal(m->listener, L("rw"));
    assert_true(server_usable(m));
    assert_int_equal(a1->health, 3);
    assert_string_equal(a1->last.info, "");
    assert_string_equal(a2->last.info, "not checked");
    assert_int_equal(S("rw", "replica2")->health, 1);
    assert_string_equal(server_state_str(SRV_DOWN), "DOWN");
    assert_string_equal(server_state_str(SRV_UP), "UP");
    assert_string_equal(server_state_str(SRV_DRAIN), "DRAIN");
    assert_string_equal(admin_state_str(ADMIN_READY), "ready");
    assert_string_equal(admin_state_str(ADMIN_DRAIN), "drain");
    assert_string_equal(admin_state_str(ADMIN_MAINT), "maint");
    expect_log(NULL);
}

/* At start the counter sits at rise: one failure is enough to go DOWN. */
static void test_first_failure_marks_down(void **state)
{
    struct server *m = S("rw", "master");
    (void)state;

    feed(m, &r_l4con, 1);
    assert_int_equal(m->state, SRV_DOWN);
    assert_int_equal(m->health, 0);
    assert_int_equal(m->check_failures, 1);
    assert_int_equal(m->last.status, CHK_L4CON);
    assert_string_equal(m->last.info, "Connection refused");
    assert_int_equal(m->last_class, CHK_FAILED);
    assert_false(server_usable(m));
    expect_log("Server rw/master is DOWN, " RES_L4CON ". 0 active and 2 backup servers online.",
               "Killed 0 sessions on rw/master after it went DOWN, in {N} ms.", NULL);
}

/* Passes at start: UP, climbing to the top of the counter, nothing logged. */
static void test_passes_climb_to_top(void **state)
{
    struct server *m = S("rw", "master");
    (void)state;

    feed(m, &r_l7ok, 2);
    assert_int_equal(m->state, SRV_UP);
    assert_int_equal(m->health, 4); /* rise + fall - 1 */
    feed(m, &r_l7ok, 5);
    assert_int_equal(m->health, 4);
    assert_int_equal(m->check_failures, 0);
    expect_log(NULL);
}

/* DOWN -> rise passes -> UP at rise+fall-1, each pass while DOWN logged. */
static void test_rise_passes_mark_up(void **state)
{
    struct server *m = S("rw", "master");
    (void)state;

    feed(m, &r_l4con, 1);
    expect_log("Server rw/master is DOWN, " RES_L4CON ". 0 active and 2 backup servers online.",
               "Killed 0 sessions on rw/master after it went DOWN, in {N} ms.", NULL);
    feed(m, &r_l7ok, 1);
    assert_int_equal(m->state, SRV_DOWN);
    assert_int_equal(m->health, 1);
    expect_log("Health check for server rw/master succeeded, " RES_L7OK ", status: 1/2 DOWN.",
               NULL);
    feed(m, &r_l7ok, 1);
    assert_int_equal(m->state, SRV_UP);
    assert_int_equal(m->health, 4);
    assert_true(server_usable(m));
    expect_log(
        "Server rw/master is UP, " RES_L7OK ". 1 active and 2 backup servers online.",
        "Killed 0 sessions on backup servers of rw after rw/master came UP, in {N} ms (clients "
        "disconnected in {N} ms).",
        NULL);
    /* Steady passes while UP at the top: nothing more. */
    feed(m, &r_l7ok, 3);
    assert_int_equal(m->health, 4);
    expect_log(NULL);
}

/* A rise of 3 needs three passes; fall 2 then needs two failures. */
static void test_rise3_fall2(void **state)
{
    struct server *a1 = S("multi", "a1");
    (void)state;

    feed(a1, &r_l7sts, 1);
    assert_int_equal(a1->state, SRV_DOWN);
    expect_log("Server multi/a1 is DOWN, " RES_L7STS ". 1 active and 2 backup servers online.",
               NULL);
    feed(a1, &r_l4ok, 2);
    assert_int_equal(a1->state, SRV_DOWN);
    assert_int_equal(a1->health, 2);
    feed(a1, &r_l4ok, 1);
    assert_int_equal(a1->state, SRV_UP);
    assert_int_equal(a1->health, 4); /* 3 + 2 - 1 */
    expect_log("Health check for server multi/a1 succeeded, " RES_L4OK ", status: 1/3 DOWN.",
               "Health check for server multi/a1 succeeded, " RES_L4OK ", status: 2/3 DOWN.",
               "Server multi/a1 is UP, " RES_L4OK ". 2 active and 2 backup servers online.", NULL);
    feed(a1, &r_l4con, 1);
    assert_int_equal(a1->state, SRV_UP);
    assert_int_equal(a1->health, 3);
    feed(a1, &r_l4con, 1);
    assert_int_equal(a1->state, SRV_DOWN);
    assert_int_equal(a1->health, 0);
    assert_int_equal(a1->check_failures, 3);
    expect_log("Health check for server multi/a1 failed, " RES_L4CON ", status: 1/2 UP.",
               "Server multi/a1 is DOWN, " RES_L4CON ". 1 active and 2 backup servers online.",
               NULL);
}

/* From the top, fall failures: the first fall-1 are logged with the counter, the last
 * one is the transition. */
static void test_fall_failures_mark_down(void **state)
{
    struct server *m = S("rw", "master");
    (void)state;

    feed(m, &r_l7ok, 2); /* to the top */
    feed(m, &r_l4con, 1);
    assert_int_equal(m->state, SRV_UP);
    assert_int_equal(m->health, 3);
    expect_log("Health check for server rw/master failed, " RES_L4CON ", status: 2/3 UP.", NULL);
    feed(m, &r_l7sts, 1);
    assert_int_equal(m->state, SRV_UP);
    assert_int_equal(m->health, 2);
    assert_true(server_usable(m));
    expect_log("Health check for server rw/master failed, " RES_L7STS ", status: 1/3 UP.", NULL);
    feed(m, &r_l4con, 1);
    assert_int_equal(m->state, SRV_DOWN);
    assert_int_equal(m->health, 0);
    assert_int_equal(m->check_failures, 3);
    expect_log("Server rw/master is DOWN, " RES_L4CON ". 0 active and 2 backup servers online.",
               "Killed 0 sessions on rw/master after it went DOWN, in {N} ms.", NULL);
    /* Failures while DOWN and not rising are not logged. */
    feed(m, &r_l4con, 5);
    assert_int_equal(m->health, 0);
    assert_int_equal(m->check_failures, 8);
    expect_log(NULL);
}

/* Falling then recovering: the pass that interrupts the fall is logged. */
static void test_alternating_while_up(void **state)
{
    struct server *m = S("rw", "master");
    (void)state;

    feed(m, &r_l7ok, 2);
    feed(m, &r_l4con, 1);
    feed(m, &r_l7ok, 1);
    assert_int_equal(m->state, SRV_UP);
    assert_int_equal(m->health, 4);
    expect_log("Health check for server rw/master failed, " RES_L4CON ", status: 2/3 UP.",
               "Health check for server rw/master succeeded, " RES_L7OK ", status: 3/3 UP.", NULL);
    /* F P F P ... never goes DOWN. */
    for (int i = 0; i < 10; i++) {
        feed(m, &r_l4con, 1);
        feed(m, &r_l7ok, 1);
        assert_int_equal(m->state, SRV_UP);
    }
    assert_int_equal(m->check_failures, 11);
}

/* Rising then failing: the failure that interrupts the rise is logged, the ones after
 * it (no longer rising) are not. */
static void test_alternating_while_down(void **state)
{
    struct server *m = S("rw", "master");
    (void)state;

    feed(m, &r_l4con, 1);
    expect_log("Server rw/master is DOWN, " RES_L4CON ". 0 active and 2 backup servers online.",
               "Killed 0 sessions on rw/master after it went DOWN, in {N} ms.", NULL);
    feed(m, &r_l7ok, 1);
    feed(m, &r_l4con, 1);
    assert_int_equal(m->state, SRV_DOWN);
    assert_int_equal(m->health, 0);
    feed(m, &r_l4con, 1);
    expect_log("Health check for server rw/master succeeded, " RES_L7OK ", status: 1/2 DOWN.",
               "Health check for server rw/master failed, " RES_L4CON ", status: 0/2 DOWN.", NULL);
    /* P F P F ... never comes UP. */
    for (int i = 0; i < 5; i++) {
        feed(m, &r_l7ok, 1);
        feed(m, &r_l4con, 1);
        assert_int_equal(m->state, SRV_DOWN);
    }
}

/* UNK and INI say nothing about health: state and counter stay as they were. */
static void test_neutral_results(void **state)
{
    struct server *m = S("rw", "master");
    (void)state;

    feed(m, &r_unk, 3);
    /* rebound's own shortage (no descriptor for the check) says nothing of the server. */
    feed(m, &r_sockerr, 10);
    assert_int_equal(m->last.status, CHK_SOCKERR);
    feed(m, &r_ini, 3);
    assert_int_equal(m->state, SRV_UP);
    assert_int_equal(m->health, 2);
    assert_int_equal(m->check_failures, 0);
    assert_int_equal(m->last.status, CHK_INI);
    assert_int_equal(m->last_class, CHK_NEUTRAL);
    feed(m, &r_l4con, 1);
    assert_int_equal(m->state, SRV_DOWN);
    feed(m, &r_unk, 5);
    assert_int_equal(m->state, SRV_DOWN);
    assert_int_equal(m->health, 0);
    assert_int_equal(m->check_failures, 1);
    expect_log("Server rw/master is DOWN, " RES_L4CON ". 0 active and 2 backup servers online.",
               "Killed 0 sessions on rw/master after it went DOWN, in {N} ms.", NULL);
}

/* L7OKC: passed, but DRAIN (no new sessions); a full pass makes it UP again. */
static void test_conditional_pass_drains(void **state)
{
    struct server *m = S("rw", "master");
    (void)state;

    feed(m, &r_l7ok, 2);
    feed(m, &r_l7okc, 1);
    assert_int_equal(m->state, SRV_DRAIN);
    assert_int_equal(m->health, 4);
    assert_false(server_usable(m));
    assert_ptr_equal(server_pick(L("rw"), 0), S("rw", "replica1"));
    expect_log("Server rw/master is DRAIN, " RES_L7OKC ". 0 active and 2 backup servers online.",
               NULL);
    feed(m, &r_l7okc, 1);
    expect_log(NULL);
    feed(m, &r_l4con, 1);
    assert_int_equal(m->state, SRV_DRAIN);
    expect_log("Health check for server rw/master failed, " RES_L4CON ", status: 2/3 DRAIN.", NULL);
    feed(m, &r_l7ok, 1);
    assert_int_equal(m->state, SRV_UP);
    assert_true(server_usable(m));
    expect_log(
        "Server rw/master is UP, " RES_L7OK ". 1 active and 2 backup servers online.",
        "Killed 0 sessions on backup servers of rw after rw/master came UP, in {N} ms (clients "
        "disconnected in {N} ms).",
        NULL);
}

/* The last usable server going DOWN also says the listener has none left. */
static void test_no_server_left(void **state)
{
    (void)state;

    feed(S("rw", "replica2"), &r_l4con, 1);
    expect_log("Server rw/replica2 is DOWN, " RES_L4CON ". 1 active and 1 backup servers online.",
               NULL);
    feed(S("rw", "replica1"), &r_l4con, 1);
    expect_log("Server rw/replica1 is DOWN, " RES_L4CON ". 1 active and 0 backup servers online.",
               NULL);
    feed(S("rw", "master"), &r_l4con, 1);
    expect_log("Server rw/master is DOWN, " RES_L4CON ". 0 active and 0 backup servers online.",
               "Listener rw has no server available!",
               "Killed 0 sessions on rw/master after it went DOWN, in {N} ms.", NULL);
    assert_null(server_pick(L("rw"), 0));
    /* A backup coming back: no failback kill (only active servers do that). */
    feed(S("rw", "replica2"), &r_l4ok, 1);
    expect_log("Server rw/replica2 is UP, " RES_L4OK ". 0 active and 1 backup servers online.",
               NULL);
    assert_ptr_equal(server_pick(L("rw"), 0), S("rw", "replica2"));
}

/* server_set_state with no reason, and to the state it already has. */
static void test_set_state_direct(void **state)
{
    struct server *b1 = S("multi", "b1");
    (void)state;

    server_set_state(b1, SRV_UP, NULL);
    expect_log(NULL);
    server_set_state(b1, SRV_DOWN, NULL);
    assert_int_equal(b1->state, SRV_DOWN);
    expect_log("Server multi/b1 is DOWN, reason: maintenance mode entered by the operator. 2 "
               "active and 1 backup servers online.",
               NULL);
}

/* The ring keeps a structured record of each event. */
static void test_ring_records(void **state)
{
    const struct hl_record *rec;
    size_t n0 = healthlog_ring_count();
    (void)state;

    feed(S("multi", "a1"), &r_l4con, 1);
    assert_int_equal(healthlog_ring_count(), n0 + 1);
    rec = healthlog_ring_get(n0);
    assert_non_null(rec);
    assert_int_equal(rec->kind, HL_TRANSITION);
    assert_string_equal(rec->server, "multi/a1");
    assert_string_equal(rec->listener, "multi");
    assert_string_equal(rec->state, "DOWN");
    assert_true(rec->has_result);
    assert_int_equal(rec->result.status, CHK_L4CON);
    assert_string_equal(rec->line, "Server multi/a1 is DOWN, " RES_L4CON
                                   ". 1 active and 2 backup servers online.");
    expect_log("Server multi/a1 is DOWN, " RES_L4CON ". 1 active and 2 backup servers online.",
               NULL);
}

/* --- admin states --- */

static void test_admin_drain(void **state)
{
    struct server *m = S("rw", "master");
    (void)state;

    server_set_admin(m, ADMIN_DRAIN, "test");
    assert_int_equal(m->admin, ADMIN_DRAIN);
    assert_int_equal(m->state, SRV_UP);
    assert_false(server_usable(m));
    assert_ptr_equal(server_pick(L("rw"), 0), S("rw", "replica1"));
    expect_log("Server rw/master admin state changed from ready to drain by test.", NULL);
    /* Setting the same state again says nothing. */
    server_set_admin(m, ADMIN_DRAIN, "test");
    expect_log(NULL);
    /* Checks still count while draining; the status shows DRAIN. */
    feed(m, &r_l7ok, 2);
    feed(m, &r_l4con, 1);
    expect_log("Health check for server rw/master failed, " RES_L4CON ", status: 2/3 DRAIN.", NULL);
    server_set_admin(m, ADMIN_READY, "admin@127.0.0.1");
    assert_true(server_usable(m));
    assert_ptr_equal(server_pick(L("rw"), 0), m);
    expect_log("Server rw/master admin state changed from drain to ready by admin@127.0.0.1.",
               "Killed 0 sessions on backup servers of rw after rw/master was set ready, in {N} ms "
               "(clients disconnected in {N} ms).",
               NULL);
}

/* An operator's change of admin state while a server is DOWN does not restart its downtime:
 * the outage counts from when it went DOWN. */
static void test_admin_change_keeps_downtime(void **state)
{
    struct server *m = S("rw", "master");
    (void)state;

    feed(m, &r_l4con, 3);
    assert_int_equal(m->state, SRV_DOWN);
    m->down_since -= 100; /* it went DOWN 100 s ago */
    server_set_admin(m, ADMIN_DRAIN, "test");
    server_set_admin(m, ADMIN_READY, "test");
    feed(m, &r_l7ok, 2);
    assert_int_equal(m->state, SRV_UP);
    assert_true(m->downtime >= 100);
}

/* Time in maintenance is the operator's choice, not an outage: not counted as downtime. */
static void test_maint_is_not_downtime(void **state)
{
    struct server *m = S("rw", "master");
    (void)state;

    server_set_admin(m, ADMIN_MAINT, "test");
    assert_string_equal(server_shown_state(m), "MAINT");
    m->down_since -= 100; /* in maint for 100 s */
    assert_true(server_downtime(m) < 1);
    server_set_admin(m, ADMIN_READY, "test");
    assert_true(m->downtime < 1);
}

/* maint: not routed to, not checked; back to ready restarts the checks. */
static void test_admin_maint_stops_checks(void **state)
{
    struct server *m = S("rw", "master");
    (void)state;

    server_check_start(m);
    assert_true(ev_is_active(&m->check.next));
    server_set_admin(m, ADMIN_MAINT, "test");
    assert_int_equal(m->admin, ADMIN_MAINT);
    assert_false(server_usable(m));
    assert_false(ev_is_active(&m->check.next));
    assert_false(m->check.running);
    /* server_check_start is refused while in maint */
    server_check_start(m);
    assert_false(ev_is_active(&m->check.next));
    assert_ptr_equal(server_pick(L("rw"), 0), S("rw", "replica1"));
    assert_int_equal(m->state, SRV_DOWN);
    expect_log("Server rw/master admin state changed from ready to maint by test.",
               "Server rw/master is in MAINT, reason: maintenance mode entered by the operator. 0 "
               "active and 2 backup servers online.",
               "Killed 0 sessions on rw/master after it went DOWN, in {N} ms.", NULL);
    /* Back only through rise passed checks: nothing is known about it after maint. */
    server_set_admin(m, ADMIN_READY, "test");
    assert_true(ev_is_active(&m->check.next));
    assert_false(server_usable(m));
    expect_log("Server rw/master admin state changed from maint to ready by test.", NULL);
    feed(m, &r_l7ok, 2);
    assert_true(server_usable(m));
    expect_log(
        "Health check for server rw/master succeeded, " RES_L7OK ", status: 1/2 DOWN.",
        "Server rw/master is UP, " RES_L7OK ". 1 active and 2 backup servers online.",
        "Killed 0 sessions on backup servers of rw after rw/master came UP, in {N} ms (clients "
        "disconnected in {N} ms).",
        NULL);
}

/* A server without checks comes back as soon as it leaves maint. */
static void test_admin_maint_unchecked(void **state)
{
    struct server *a2 = S("multi", "a2");
    (void)state;

    server_set_admin(a2, ADMIN_MAINT, "x");
    assert_false(server_usable(a2));
    server_set_admin(a2, ADMIN_READY, "x");
    assert_false(ev_is_active(&a2->check.next));
    assert_true(server_usable(a2));
    expect_log("Server multi/a2 admin state changed from ready to maint by x.",
               "Server multi/a2 is in MAINT, reason: maintenance mode entered by the operator. {N} "
               "active and {N} backup servers online.",
               "Server multi/a2 admin state changed from maint to ready by x.",
               "Server multi/a2 is UP, reason: maintenance mode left by the operator. {N} active "
               "and {N} backup servers online.",
               NULL);
}

/* An admin-drained server going DOWN and back UP stays unusable. */
static void test_admin_drain_survives_transitions(void **state)
{
    struct server *m = S("rw", "master");
    (void)state;

    server_set_admin(m, ADMIN_DRAIN, "t");
    feed(m, &r_l4con, 1);
    feed(m, &r_l7ok, 2);
    assert_int_equal(m->state, SRV_UP);
    assert_false(server_usable(m));
    /* not usable: no failback kill on the way UP, and not counted online */
    expect_log("Server rw/master admin state changed from ready to drain by t.",
               "Server rw/master is DOWN, " RES_L4CON ". 0 active and 2 backup servers online.",
               "Killed 0 sessions on rw/master after it went DOWN, in {N} ms.",
               "Health check for server rw/master succeeded, " RES_L7OK ", status: 1/2 DOWN.",
               "Server rw/master is UP, " RES_L7OK ". 0 active and 2 backup servers online.", NULL);
}

/* --- server selection --- */

static void test_pick_first_active(void **state)
{
    struct listener *l = L("multi");
    (void)state;

    assert_ptr_equal(server_pick(l, 0), S("multi", "a1"));
    assert_ptr_equal(server_pick(l, 0), S("multi", "a1")); /* always the first */
    assert_ptr_equal(server_pick(l, UINT64_C(1) << 0), S("multi", "a2"));
    feed(S("multi", "a1"), &r_l4con, 1);
    assert_ptr_equal(server_pick(l, 0), S("multi", "a2"));
    assert_ptr_equal(server_pick(L("rw"), 0), S("rw", "master"));
}

/* Backups only when no active server is usable; then the first usable one. */
static void test_pick_backup(void **state)
{
    struct listener *l = L("multi");
    (void)state;

    feed(S("multi", "a1"), &r_l4con, 1);
    server_set_admin(S("multi", "a2"), ADMIN_MAINT, "t");
    assert_ptr_equal(server_pick(l, 0), S("multi", "b1"));
    assert_ptr_equal(server_pick(l, 0), S("multi", "b1")); /* no rotation */
    assert_ptr_equal(server_pick(l, UINT64_C(1) << 2), S("multi", "b2"));
    feed(S("multi", "b1"), &r_l4con, 1);
    assert_ptr_equal(server_pick(l, 0), S("multi", "b2"));
    assert_null(server_pick(l, UINT64_C(1) << 3));
    /* an excluded active does not make the backups skip */
    server_set_admin(S("multi", "a2"), ADMIN_READY, "t");
    assert_ptr_equal(server_pick(l, 0), S("multi", "a2"));
    assert_ptr_equal(server_pick(l, UINT64_C(1) << 1), S("multi", "b2"));
}

static void test_pick_exclude_all(void **state)
{
    (void)state;

    assert_null(server_pick(L("multi"), 0xf));
    assert_null(server_pick(L("rw"), 0x7));
    assert_ptr_equal(server_pick(L("rw"), 0x3), S("rw", "replica2"));
    assert_ptr_equal(server_pick(L("rw"), ~UINT64_C(0) ^ 2), S("rw", "replica1"));
}

static void test_pick_skips_drain_maint_down(void **state)
{
    struct listener *l = L("multi");
    (void)state;

    server_set_admin(S("multi", "a1"), ADMIN_DRAIN, "t");
    assert_ptr_equal(server_pick(l, 0), S("multi", "a2"));
    server_set_admin(S("multi", "a2"), ADMIN_MAINT, "t");
    assert_ptr_equal(server_pick(l, 0), S("multi", "b1"));
    feed(S("multi", "b1"), &r_l4con, 1);
    assert_ptr_equal(server_pick(l, 0), S("multi", "b2"));
    server_set_admin(S("multi", "b2"), ADMIN_DRAIN, "t");
    assert_null(server_pick(l, 0));
}

/* option allbackups: each usable backup in turn. */
static void test_pick_allbackups_rotates(void **state)
{
    struct listener *l = L("ro");
    struct server *b1 = S("ro", "b1"), *b2 = S("ro", "b2"), *b3 = S("ro", "b3");
    (void)state;

    /* while the active server is usable, always it */
    for (int i = 0; i < 4; i++)
        assert_ptr_equal(server_pick(l, 0), S("ro", "m"));
    feed(S("ro", "m"), &r_l4con, 1);
    l->rr = 0;
    assert_ptr_equal(server_pick(l, 0), b1);
    assert_ptr_equal(server_pick(l, 0), b2);
    assert_ptr_equal(server_pick(l, 0), b3);
    assert_ptr_equal(server_pick(l, 0), b1);
    /* b2 gone: between b1 and b3 */
    server_set_admin(b2, ADMIN_MAINT, "t");
    l->rr = 0;
    assert_ptr_equal(server_pick(l, 0), b1);
    assert_ptr_equal(server_pick(l, 0), b3);
    assert_ptr_equal(server_pick(l, 0), b1);
    assert_ptr_equal(server_pick(l, 0), b3);
    /* excluding b1 leaves one candidate, every time */
    assert_ptr_equal(server_pick(l, UINT64_C(1) << 1), b3);
    assert_ptr_equal(server_pick(l, UINT64_C(1) << 1), b3);
    feed(b3, &r_l4con, 1);
    assert_ptr_equal(server_pick(l, 0), b1);
    assert_null(server_pick(l, UINT64_C(1) << 1));
}

static void test_pick_roundrobin_actives(void **state)
{
    struct listener *l = L("rr");
    struct server *a1 = S("rr", "a1"), *a2 = S("rr", "a2"), *a3 = S("rr", "a3");
    (void)state;

    l->rr = 0;
    assert_ptr_equal(server_pick(l, 0), a1);
    assert_ptr_equal(server_pick(l, 0), a2);
    assert_ptr_equal(server_pick(l, 0), a3);
    assert_ptr_equal(server_pick(l, 0), a1);
    feed(a2, &r_l4con, 1);
    l->rr = 0;
    assert_ptr_equal(server_pick(l, 0), a1);
    assert_ptr_equal(server_pick(l, 0), a3);
    assert_ptr_equal(server_pick(l, 0), a1);
}

static void test_pick_leastconn_actives(void **state)
{
    struct listener *l = L("lc");
    struct server *a1 = S("lc", "a1"), *a2 = S("lc", "a2"), *a3 = S("lc", "a3");
    (void)state;

    assert_ptr_equal(server_pick(l, 0), a1); /* tie: config order */
    a1->tally[0].nsessions = 5;
    a2->tally[0].nsessions = 3;
    a3->tally[0].nsessions = 3;
    assert_ptr_equal(server_pick(l, 0), a2);
    a2->tally[0].nsessions = 4;
    assert_ptr_equal(server_pick(l, 0), a3);
    assert_ptr_equal(server_pick(l, UINT64_C(1) << 2), a2);
    server_set_admin(a3, ADMIN_DRAIN, "t");
    assert_ptr_equal(server_pick(l, 0), a2);
    a1->tally[0].nsessions = a2->tally[0].nsessions = a3->tally[0].nsessions = 0;
}

static void test_count_usable(void **state)
{
    int active = -1, backup = -1;
    (void)state;

    server_count_usable(L("multi"), &active, &backup);
    assert_int_equal(active, 2);
    assert_int_equal(backup, 2);
    feed(S("multi", "a1"), &r_l4con, 1);
    server_set_admin(S("multi", "b2"), ADMIN_DRAIN, "t");
    server_count_usable(L("multi"), &active, &backup);
    assert_int_equal(active, 1);
    assert_int_equal(backup, 1);
    server_set_admin(S("multi", "a2"), ADMIN_MAINT, "t");
    feed(S("multi", "b1"), &r_l7okc, 1);
    server_count_usable(L("multi"), &active, &backup);
    assert_int_equal(active, 0);
    assert_int_equal(backup, 0);
    server_count_usable(L("ro"), &active, &backup);
    assert_int_equal(active, 1);
    assert_int_equal(backup, 3);
}

/* --- consecutive counts (HAProxy's health counter) --- */

/* DOWN only after `fall` consecutive failures: a pass in between restores the top. */
static void test_fall_needs_consecutive_failures(void **state)
{
    struct server *m = S("rw", "master");
    (void)state;

    feed(m, &r_l7ok, 2); /* top: 4 */
    feed(m, &r_l4con, 2);
    feed(m, &r_l7ok, 1);
    feed(m, &r_l4con, 2);
    assert_int_equal(m->state, SRV_UP); /* only 2 consecutive failures, fall is 3 */
    feed(m, &r_l4con, 1);
    assert_int_equal(m->state, SRV_DOWN);
}

/* Likewise UP only after `rise` consecutive passes: a failure drops a rising DOWN
 * server back to 0. */
static void test_rise_needs_consecutive_passes(void **state)
{
    struct server *a1 = S("multi", "a1"); /* rise 3 */
    (void)state;

    feed(a1, &r_l4con, 1);
    feed(a1, &r_l4ok, 2);
    feed(a1, &r_l4con, 1);
    feed(a1, &r_l4ok, 2);
    assert_int_equal(a1->state, SRV_DOWN); /* only 2 consecutive passes, rise is 3 */
    feed(a1, &r_l4ok, 1);
    assert_int_equal(a1->state, SRV_UP);
}

/* A neutral result between a failure and a pass must not hide the pass that stops
 * the fall from the health log. */
static void test_neutral_hides_recovery_line(void **state)
{
    struct server *m = S("rw", "master");
    (void)state;

    feed(m, &r_l7ok, 2);
    feed(m, &r_l4con, 1);
    expect_log("Health check for server rw/master failed, " RES_L4CON ", status: 2/3 UP.", NULL);
    feed(m, &r_unk, 1);
    feed(m, &r_l7ok, 1);
    expect_log("Health check for server rw/master succeeded, " RES_L7OK ", status: 3/3 UP.", NULL);
}

/* --- the GTID guard --- */

/* SRV's check passed (L7OK) and read POS (NULL: asked, but got WHY instead). */
static void report_gtid(struct server *srv, const char *pos, const char *why)
{
    struct check_gtid *g = &srv->check.gtid;

    *g = (struct check_gtid){.asked = true, .ok = pos != NULL, .flavor = GTID_MARIADB};
    snprintf(g->pos, sizeof(g->pos), "%s", pos ? pos : "");
    snprintf(g->why, sizeof(g->why), "%s", why ? why : "");
    server_check_report(srv, &r_l7ok);
}

#define GT_DOWN_LINE "Server gt/m is DOWN, " RES_L4CON ". 0 active and 2 backup servers online."
#define GT_HELD_LINE                                                                               \
    "Health check for server gt/m failed, reason: Layer7 missing transactions, info: \"b1 has "    \
    "0-2-1044, master stops at 0-1-1040\", check duration: 3ms, status: 0/1 DOWN."

/* The master back with a backup ahead of it stays DOWN (L7GTID, logged once); once it holds
 * what the backup holds it comes UP. */
static void test_gtid_guard_holds_back(void **state)
{
    struct server *m = S("gt", "m"), *b1 = S("gt", "b1"), *b2 = S("gt", "b2");
    (void)state;

    report_gtid(b1, "0-1-1040", NULL);
    report_gtid(b2, "0-1-1040", NULL);
    feed(m, &r_l4con, 1);
    expect_log(GT_DOWN_LINE, NULL);
    report_gtid(b1, "0-2-1044", NULL);
    report_gtid(m, "0-1-1040", NULL);
    report_gtid(m, "0-1-1040", NULL);
    expect_log(GT_HELD_LINE, NULL);
    assert_int_equal(m->state, SRV_DOWN);
    assert_int_equal(m->last.status, CHK_L7GTID);
    assert_string_equal(m->last.info, "b1 has 0-2-1044, master stops at 0-1-1040");
    assert_true(m->guard.behind);
    assert_int_equal(m->guard.blocks, 2);
    assert_string_equal(server_gtid_guard_str(m), "on");
    assert_string_equal(server_gtid_guard_str(b1), "off");

    report_gtid(m, "0-2-1044", NULL); /* caught up from b1 */
    expect_log("Server gt/m is UP, " RES_L7OK ". 1 active and 2 backup servers online.", NULL);
    assert_false(m->guard.behind);
}

/* A DOWN backup, or a domain only the master has, never holds the master back. */
static void test_gtid_guard_ignores_down_backup_and_own_domain(void **state)
{
    struct server *m = S("gt", "m"), *b1 = S("gt", "b1"), *b2 = S("gt", "b2");
    (void)state;

    report_gtid(b1, "0-2-1044", NULL);
    report_gtid(b2, "0-1-1040", NULL);
    feed(m, &r_l4con, 1);
    feed(b1, &r_l4con, 3); /* b1 (fall 3) goes DOWN */
    assert_int_equal(b1->state, SRV_DOWN);
    report_gtid(m, "0-1-1040,7-1-3", NULL);
    assert_int_equal(m->state, SRV_UP);
    assert_int_equal(m->guard.blocks, 0);
}

/* The override lets the held-back master up once, logged with who; the UP line says what it
 * lacks. It is refused on a server without a guard and on one that is UP. */
static void test_gtid_guard_override(void **state)
{
    struct server *m = S("gt", "m"), *b1 = S("gt", "b1");
    char err[200];
    (void)state;

    report_gtid(b1, "0-2-1044", NULL);
    feed(m, &r_l4con, 1);
    report_gtid(m, "0-1-1040", NULL);
    expect_log(GT_DOWN_LINE, GT_HELD_LINE, NULL);
    assert_int_equal(server_gtid_override(b1, true, "admin a@h:1", err, sizeof(err)), -1);
    assert_string_equal(err, "server gt/b1 has no GTID guard (expect gtid-covers backups)");
    assert_int_equal(server_gtid_override(m, true, "admin a@h:1", err, sizeof(err)), 0);
    assert_string_equal(server_gtid_guard_str(m), "override");
    assert_int_equal(server_gtid_override(m, false, "admin a@h:1", err, sizeof(err)), 0);
    assert_int_equal(server_gtid_override(m, true, "admin a@h:1", err, sizeof(err)), 0);
    expect_log("GTID guard of server gt/m overridden by admin a@h:1: it may come UP as it is, "
               "although b1 has 0-2-1044, master stops at 0-1-1040.",
               "GTID guard of server gt/m restored by admin a@h:1.",
               "GTID guard of server gt/m overridden by admin a@h:1: it may come UP as it is, "
               "although b1 has 0-2-1044, master stops at 0-1-1040.",
               NULL);
    report_gtid(m, "0-1-1040", NULL);
    expect_log("Server gt/m is UP, reason: Layer7 check passed, code: 0, info: "
               "\"10.11.6-MariaDB-log, GTID guard overridden (b1 has 0-2-1044, master stops at "
               "0-1-1040)\", check duration: 3ms. 1 active and 2 backup servers online.",
               NULL);
    assert_string_equal(server_gtid_guard_str(m), "on"); /* used up */
    assert_int_equal(server_gtid_override(m, true, "admin a@h:1", err, sizeof(err)), -1);
    assert_string_equal(err, "server gt/m is UP: the GTID guard only holds back a DOWN server");
}

/* While UP a backup ahead is reported when it starts and when it ends, never acted on; a
 * position that cannot be compared is said once and never blocks. */
static void test_gtid_guard_reports_while_up(void **state)
{
    struct server *m = S("gt", "m"), *b1 = S("gt", "b1"), *b2 = S("gt", "b2");
    (void)state;

    report_gtid(b1, "0-1-1040", NULL);
    report_gtid(b2, "0-1-1040", NULL);
    report_gtid(m, "0-1-1040", NULL);
    report_gtid(b1, "0-2-1041", NULL);
    report_gtid(m, "0-1-1040", NULL);
    report_gtid(m, "0-1-1040", NULL);
    assert_int_equal(m->state, SRV_UP);
    report_gtid(m, "0-2-1041", NULL);
    expect_log("Server gt/m lacks transactions a backup holds: b1 has 0-2-1041, master stops at "
               "0-1-1040 (reported; the server stays UP).",
               "Server gt/m holds every transaction of its backups again.", NULL);

    report_gtid(b2, NULL, "error 1193: Unknown system variable 'gtid_current_pos'");
    report_gtid(m, "0-2-1041", NULL);
    report_gtid(m, "0-2-1041", NULL);
    report_gtid(b2, "0-1-x", NULL);
    report_gtid(m, "0-2-1041", NULL);
    expect_log("GTID guard of server gt/m does not block: b2: error 1193: Unknown system "
               "variable 'gtid_current_pos'.",
               NULL);
    feed(m, &r_l4con, 1);
    report_gtid(b1, "0-2-1050", NULL);
    report_gtid(m, "0-2-1041", NULL); /* b2 garbage: cannot tell, but b1 is ahead: held */
    assert_int_equal(m->state, SRV_DOWN);
    assert_int_equal(m->last.status, CHK_L7GTID);
    report_gtid(b1, NULL, "error 1227: Access denied");
    report_gtid(m, NULL, "error 1227: Access denied");
    assert_int_equal(m->state, SRV_UP); /* nothing to compare: not held */
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_starts_up_at_rise),
        T(test_first_failure_marks_down),
        T(test_passes_climb_to_top),
        T(test_rise_passes_mark_up),
        T(test_rise3_fall2),
        T(test_fall_failures_mark_down),
        T(test_alternating_while_up),
        T(test_alternating_while_down),
        T(test_neutral_results),
        T(test_conditional_pass_drains),
        T(test_no_server_left),
        T(test_set_state_direct),
        T(test_ring_records),
        T(test_admin_drain),
        T(test_admin_change_keeps_downtime),
        T(test_maint_is_not_downtime),
        T(test_admin_maint_stops_checks),
        T(test_admin_maint_unchecked),
        T(test_admin_drain_survives_transitions),
        T(test_pick_first_active),
        T(test_pick_backup),
        T(test_pick_exclude_all),
        T(test_pick_skips_drain_maint_down),
        T(test_pick_allbackups_rotates),
        T(test_pick_roundrobin_actives),
        T(test_pick_leastconn_actives),
        T(test_count_usable),
        T(test_fall_needs_consecutive_failures),
        T(test_rise_needs_consecutive_passes),
        T(test_neutral_hides_recovery_line),
        T(test_gtid_guard_holds_back),
        T(test_gtid_guard_ignores_down_backup_and_own_domain),
        T(test_gtid_guard_override),
        T(test_gtid_guard_reports_while_up),
    };

    return cmocka_run_group_tests(tests, group_setup, NULL);
}
