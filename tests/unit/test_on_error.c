/* test_observe.c - passive observation: the error table, which layer counts which
 * event, error-limit, and every on-error mode asserted on counters, state and log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "healthlog.h"
#include "listener.h"
#include "observe.h"
#include "rebound.h"
#include "server.h"
#include "worker.h"

/* A listen "rw" built by hand from a parsed config: servers, no sockets. */
struct fixture {
    struct conf *conf;
    struct listener l;
};

static struct fixture *make(const char *server_opts)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char text[1024], err[256];

    snprintf(text, sizeof(text),
             "global\n health-log-ring 100\n"
             "listen rw\n bind 127.0.0.1:1\n rise 2 fall 3\n"
             " server master 127.0.0.1:2 %s\n"
             " server replica 127.0.0.1:3 backup\n",
             server_opts);
    f->conf = conf_parse(text, "t.conf", err, sizeof(err));
    assert_non_null(f->conf);
    assert_int_equal(healthlog_open(f->conf), 0);
    f->l.conf = &f->conf->listens[0];
    f->l.fd = -1;
    f->l.nservers = f->l.conf->nservers;
    f->l.servers = calloc((size_t)f->l.nservers, sizeof(struct server));
    for (int i = 0; i < f->l.nservers; i++)
        assert_int_equal(server_init(&f->l.servers[i], &f->l, &f->l.conf->servers[i], i), 0);
    return f;
}

/* Traffic errors counted on SRV, over every thread. */
static uint64_t observed(const struct server *srv)
{
    struct srv_totals t;

    server_totals(srv, &t);
    return t.observed_errors;
}

static void destroy(struct fixture *f)
{
    for (int i = 0; i < f->l.nservers; i++)
        server_fini(&f->l.servers[i]);
    free(f->l.servers);
    healthlog_close();
    conf_free(f->conf);
    free(f);
}

/* Does the newest health-log line contain NEEDLE? */
static bool last_line_has(const char *needle)
{
    size_t n = healthlog_ring_count();
    const struct hl_record *r = n ? healthlog_ring_get(n - 1) : NULL;

    return r && strstr(r->line, needle);
}

/* N errors as a worker counts them, each followed by a turn of the control thread's loop,
 * which runs the on-error message one of them may have posted. */
static void errors(struct server *srv, enum obs_event ev, int n)
{
    for (int i = 0; i < n; i++) {
        server_traffic_error(srv, ev, "Connection refused");
        ev_run(rb_loop, EVRUN_NOWAIT);
    }
}

static void test_error_table(void **state)
{
    (void)state;
    assert_non_null(observe_unhealthy_errno(1040, true));
    assert_non_null(observe_unhealthy_errno(1053, false));
    assert_non_null(observe_unhealthy_errno(1290, true));
    assert_null(observe_unhealthy_errno(1290, false)); /* read-only is a backup's nature */
    assert_null(observe_unhealthy_errno(1205, true));  /* lock wait */
    assert_null(observe_unhealthy_errno(1213, true));  /* deadlock */
    assert_null(observe_unhealthy_errno(1064, true));  /* syntax */
    assert_null(observe_unhealthy_errno(1062, true));  /* duplicate key */
    assert_null(observe_unhealthy_errno(1045, true));  /* access denied */
}

static void test_not_observing_counts_nothing(void **state)
{
    struct fixture *f = make("check tcp");
    struct server *m = &f->l.servers[0];
    (void)state;

    errors(m, OBS_CONNECT_FAILED, 50);
    assert_int_equal(observed(m), 0);
    assert_int_equal(m->state, SRV_UP);
    destroy(f);
}

static void test_layer4_ignores_layer7_events(void **state)
{
    struct fixture *f = make("check tcp observe layer4 error-limit 2 on-error mark-down");
    struct server *m = &f->l.servers[0];
    (void)state;

    errors(m, OBS_SERVER_ERROR, 5);
    errors(m, OBS_MID_RESPONSE, 5);
    assert_int_equal(observed(m), 0);
    errors(m, OBS_GREETING_TIMEOUT, 1);
    assert_int_equal(observed(m), 1);
    assert_int_equal(m->state, SRV_UP);
    destroy(f);
}

static void test_consecutive_run_broken_by_success(void **state)
{
    struct fixture *f = make("check tcp observe layer7 error-limit 3 on-error mark-down");
    struct server *m = &f->l.servers[0];
    (void)state;

    errors(m, OBS_SERVER_ERROR, 2);
    server_traffic_ok(m);
    errors(m, OBS_SERVER_ERROR, 2);
    assert_int_equal(m->state, SRV_UP);
    assert_int_equal(observed(m), 4);
    errors(m, OBS_SERVER_ERROR, 1);
    assert_int_equal(m->state, SRV_DOWN);
    destroy(f);
}

static void test_mark_down(void **state)
{
    struct fixture *f = make("check tcp observe layer4 error-limit 3 on-error mark-down");
    struct server *m = &f->l.servers[0];
    (void)state;

    m->health = 4; /* steadily UP: rise + fall - 1 */
    errors(m, OBS_CONNECT_FAILED, 2);
    assert_int_equal(m->state, SRV_UP);
    errors(m, OBS_CONNECT_FAILED, 1);
    assert_int_equal(m->state, SRV_DOWN);
    assert_int_equal(m->health, 0);
    assert_int_equal(m->last.status, CHK_HANA);
    assert_non_null(strstr(m->last.info, "3 consecutive errors in traffic"));
    assert_true(last_line_has("Server rw/master is DOWN, reason: Health analyze, info: \"3 "
                              "consecutive errors in traffic, last: connect failed "
                              "(Connection refused)\""));
    destroy(f);
}

static void test_fail_check(void **state)
{
    struct fixture *f = make("check tcp observe layer4 error-limit 2 on-error fail-check");
    struct server *m = &f->l.servers[0];
    (void)state;

    m->health = 4;
    errors(m, OBS_CONNECT_TIMEOUT, 2);
    assert_int_equal(m->health, 3); /* one failed check */
    assert_int_equal(m->state, SRV_UP);
    assert_int_equal(m->check_failures, 1);
    assert_true(last_line_has("Health check for server rw/master failed, reason: Health "
                              "analyze"));
    assert_true(last_line_has("status: 2/3 UP."));
    errors(m, OBS_CONNECT_TIMEOUT, 4); /* two more failed checks: DOWN */
    assert_int_equal(m->state, SRV_DOWN);
    destroy(f);
}

static void test_sudden_death(void **state)
{
    struct fixture *f = make("check tcp observe layer4 error-limit 2 on-error sudden-death");
    struct server *m = &f->l.servers[0];
    (void)state;

    m->health = 4;
    errors(m, OBS_SERVER_RESET, 2);
    assert_int_equal(m->state, SRV_UP);
    assert_int_equal(m->health, 2); /* rise: the next failure takes it DOWN */
    assert_true(last_line_has("status: 1/3 UP."));
    errors(m, OBS_SERVER_RESET, 2);
    assert_int_equal(m->state, SRV_DOWN);
    destroy(f);
}

static void test_fastinter_keeps_health(void **state)
{
    struct fixture *f = make("check tcp observe layer4 error-limit 2 on-error fastinter");
    struct server *m = &f->l.servers[0];
    (void)state;

    m->health = 4;
    errors(m, OBS_CONNECT_FAILED, 6);
    assert_int_equal(m->state, SRV_UP);
    assert_int_equal(m->health, 4);
    assert_int_equal(observed(m), 6);
    assert_int_equal(m->obs_consecutive, 0);
    destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_not_observing_counts_nothing),
        cmocka_unit_test(test_layer4_ignores_layer7_events),
        cmocka_unit_test(test_consecutive_run_broken_by_success),
        cmocka_unit_test(test_mark_down),
        cmocka_unit_test(test_fail_check),
        cmocka_unit_test(test_sudden_death),
        cmocka_unit_test(test_fastinter_keeps_health),
    };

    rb_loop = ev_default_loop(0);
    if (workers_create(1) < 0) /* the control thread's mailbox; no thread runs the worker */
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
