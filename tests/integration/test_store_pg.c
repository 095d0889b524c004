/* store_pg against the dev stack's PostgreSQL (tools/devstack env), connected
 * as the restricted role ussdgw_app. Fails, never skips, without the env.
 * A superuser connection (PGHOST/PGUSER from the env) plays the DBA: it
 * terminates our backend to simulate a lost connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ussdgw/config.h"
#include "ussdgw/daemon.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/health.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"
#include "ussdgw/store_pg.h"

struct outcome {
	int calls;
	enum store_pg_qs status;
	int err;
	char sqlstate[8];
	char message[256];
	char v0[128], v1[128];
	long rows;
};

static void record(void *cls, const struct store_pg_result *r)
{
	struct outcome *o = cls;
	o->calls++;
	o->status = r->status;
	o->err = r->err;
	snprintf(o->sqlstate, sizeof(o->sqlstate), "%s", r->sqlstate);
	snprintf(o->message, sizeof(o->message), "%s", r->message);
	o->rows = r->rows;
	o->v0[0] = o->v1[0] = '\0';
	if (r->status == STORE_PG_ROWS && r->res && PQntuples(r->res) > 0) {
		snprintf(o->v0, sizeof(o->v0), "%s", PQgetvalue(r->res, 0, 0));
		if (PQnfields(r->res) > 1)
			snprintf(o->v1, sizeof(o->v1), "%s", PQgetvalue(r->res, 0, 1));
	}
}

static struct ev_loop *loop;
static bool guard_fired;

static void guard_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	guard_fired = true;
}

/* Run the loop until cond holds; the guard only stops a hung test. */
#define RUN_UNTIL(cond)                                                                            \
	do {                                                                                       \
		ev_timer g;                                                                        \
		ev_timer_init(&g, guard_cb, 20., 0.);                                              \
		guard_fired = false;                                                               \
		ev_timer_start(loop, &g);                                                          \
		while (!(cond) && !guard_fired)                                                    \
			ev_run(loop, EVRUN_ONCE);                                                  \
		ev_timer_stop(loop, &g);                                                           \
		if (guard_fired)                                                                   \
			fail_msg("gave up waiting for: %s", #cond);                                \
	} while (0)

static const char *need_env(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v)
		fail_msg(
		    "%s is not set: run under tools/run-tests or eval \"$(tools/devstack env)\"",
		    name);
	return v;
}

static struct store_pg_opts app_opts(void)
{
	struct store_pg_opts o = {
	    .dsn = need_env("USSDGW_PG_DSN"),
	    .query_timeout_ms = 5000,
	    .reconnect_min_ms = 20,
	    .reconnect_max_ms = 200,
	};
	return o;
}

static struct store_pg *open_ready(const struct store_pg_opts *o)
{
	struct store_pg *pg = NULL;
	assert_int_equal(store_pg_new(loop, o, &pg), 0);
	RUN_UNTIL(store_pg_ready(pg));
	return pg;
}

/* The DBA's blocking connection (superuser over the private socket). */
static PGconn *dba(void)
{
	need_env("PGHOST");
	need_env("PGUSER");
	PGconn *c = PQconnectdb("");
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("superuser connect: %s", PQerrorMessage(c));
	return c;
}

static void dba_exec(const char *sql)
{
	PGconn *c = dba();
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

static int setup(void **state)
{
	(void)state;
	loop = ev_loop_new(EVFLAG_AUTO);
	log_set_all_levels(LOG_WARN);
	return loop ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	ev_loop_destroy(loop);
	health_reset();
	metrics_reset();
	return 0;
}

static void test_prepared_roundtrip_prepared_once(void **state)
{
	(void)state;
	struct store_pg_opts o = app_opts();
	struct store_pg *pg = open_ready(&o);
	assert_int_equal(
	    store_pg_statement(pg, "add_one", "SELECT $1::int + 1, upper($2::text)", 2), 0);
	assert_int_equal(
	    store_pg_statement(pg, "add_one", "SELECT $1::int + 1, upper($2::text)", 2), 0);
	assert_int_equal(store_pg_statement(pg, "add_one", "SELECT 2", 0), GW_EEXIST);

	const char *p1[] = {"41", "menu"};
	struct outcome a = {0}, b = {0};
	assert_int_equal(store_pg_exec(pg, "add_one", 2, p1, NULL, NULL, 0, record, &a), 0);
	assert_int_equal(a.calls, 0); /* never inside the submitting call */
	const char *p2[] = {"-1", "x"};
	assert_int_equal(store_pg_exec(pg, "add_one", 2, p2, NULL, NULL, 0, record, &b), 0);
	RUN_UNTIL(b.calls == 1);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, STORE_PG_ROWS);
	assert_string_equal(a.v0, "42");
	assert_string_equal(a.v1, "MENU");
	assert_int_equal(b.status, STORE_PG_ROWS);
	assert_string_equal(b.v0, "0");

	/* Prepared once on this connection, though used twice back to back. */
	struct outcome n = {0};
	store_pg_query(pg, "SELECT count(*) FROM pg_prepared_statements WHERE name = 'add_one'", 0,
		       NULL, 0, record, &n);
	RUN_UNTIL(n.calls == 1);
	assert_string_equal(n.v0, "1");

	/* Unknown statement or wrong arity: refused, no callback. */
	assert_int_equal(store_pg_exec(pg, "nope", 0, NULL, NULL, NULL, 0, record, &n), GW_ENOENT);
	assert_int_equal(store_pg_exec(pg, "add_one", 1, p1, NULL, NULL, 0, record, &n), GW_EINVAL);

	struct outcome none = {0};
	store_pg_query(pg, "SELECT 1 WHERE false", 0, NULL, 0, record, &none);
	RUN_UNTIL(none.calls == 1);
	assert_int_equal(none.status, STORE_PG_NO_ROWS);
	assert_int_equal(none.err, 0);
	store_pg_free(pg);
}

/* Many queries in the pipeline at once come back in order. */
static void test_pipeline_in_order(void **state)
{
	(void)state;
	struct store_pg_opts o = app_opts();
	struct store_pg *pg = open_ready(&o);
	assert_int_equal(store_pg_statement(pg, "echo", "SELECT $1::int", 1), 0);
	enum { N = 64 };
	struct outcome out[N];
	memset(out, 0, sizeof(out));
	for (int i = 0; i < N; i++) {
		char v[16];
		snprintf(v, sizeof(v), "%d", i);
		const char *p[] = {v};
		assert_int_equal(store_pg_exec(pg, "echo", 1, p, NULL, NULL, 0, record, &out[i]),
				 0);
	}
	RUN_UNTIL(out[N - 1].calls == 1);
	for (int i = 0; i < N; i++) {
		char v[16];
		snprintf(v, sizeof(v), "%d", i);
		assert_int_equal(out[i].calls, 1);
		assert_string_equal(out[i].v0, v);
	}
	store_pg_free(pg);
}

/* SQL errors are hard errors, one failing query does not spoil the next, and
 * a statement that fails to prepare reports the real cause. */
static void test_errors_map_to_hard_error(void **state)
{
	(void)state;
	struct store_pg_opts o = app_opts();
	struct store_pg *pg = open_ready(&o);
	struct outcome div = {0}, after = {0}, bad = {0}, bad2 = {0};
	store_pg_query(pg, "SELECT 1/0", 0, NULL, 0, record, &div);
	store_pg_query(pg, "SELECT 'still fine'", 0, NULL, 0, record, &after);
	assert_int_equal(store_pg_statement(pg, "broken", "SELEC nonsense", 0), 0);
	assert_int_equal(store_pg_exec(pg, "broken", 0, NULL, NULL, NULL, 0, record, &bad), 0);
	assert_int_equal(store_pg_exec(pg, "broken", 0, NULL, NULL, NULL, 0, record, &bad2), 0);
	RUN_UNTIL(bad2.calls == 1);
	assert_int_equal(div.calls, 1);
	assert_int_equal(div.status, STORE_PG_HARD_ERROR);
	assert_int_equal(div.err, GW_EPEER_STATUS);
	assert_string_equal(div.sqlstate, "22012");
	assert_non_null(strstr(div.message, "division by zero"));
	assert_int_equal(after.status, STORE_PG_ROWS);
	assert_string_equal(after.v0, "still fine");
	assert_int_equal(bad.calls, 1);
	assert_int_equal(bad.status, STORE_PG_HARD_ERROR);
	assert_string_equal(bad.sqlstate, "42601"); /* syntax error, from the PREPARE */
	assert_int_equal(bad2.status, STORE_PG_HARD_ERROR);
	assert_true(store_pg_ready(pg));
	store_pg_free(pg);
}

/* The daemon's role has no DDL: neither tables nor temporary tables. */
static void test_restricted_role_cannot_create(void **state)
{
	(void)state;
	struct store_pg_opts o = app_opts();
	struct store_pg *pg = open_ready(&o);
	struct outcome who = {0}, t = {0}, tmp = {0}, sv = {0}, ins = {0};
	store_pg_query(pg, "SELECT current_user", 0, NULL, 0, record, &who);
	store_pg_query(pg, "CREATE TABLE app_may_not (a int)", 0, NULL, 0, record, &t);
	store_pg_query(pg, "CREATE TEMP TABLE app_may_not_tmp (a int)", 0, NULL, 0, record, &tmp);
	store_pg_query(pg, "SELECT count(*) FROM schema_version", 0, NULL, 0, record, &sv);
	store_pg_query(pg, "INSERT INTO schema_version VALUES (999, 'x', now(), repeat('0', 64))",
		       0, NULL, 0, record, &ins);
	RUN_UNTIL(ins.calls == 1);
	assert_string_equal(who.v0, "ussdgw_app");
	assert_int_equal(t.status, STORE_PG_HARD_ERROR);
	assert_string_equal(t.sqlstate, "42501");
	assert_int_equal(tmp.status, STORE_PG_HARD_ERROR);
	assert_string_equal(tmp.sqlstate, "42501");
	assert_int_equal(sv.status, STORE_PG_ROWS); /* it may read the version */
	assert_int_equal(ins.status, STORE_PG_HARD_ERROR);
	assert_string_equal(ins.sqlstate, "42501");
	store_pg_free(pg);
}

/* The DBA kills our backend with a query in flight: the callback runs once,
 * retryable; the store reconnects and prepares its statements again. */
static void test_disconnect_fails_pending_and_reconnects(void **state)
{
	(void)state;
	struct store_pg_opts o = app_opts();
	struct store_pg *pg = open_ready(&o);
	assert_int_equal(store_pg_statement(pg, "echo", "SELECT $1::text", 1), 0);
	const char *p[] = {"before"};
	struct outcome warm = {0};
	store_pg_exec(pg, "echo", 1, p, NULL, NULL, 0, record, &warm);
	RUN_UNTIL(warm.calls == 1);
	assert_string_equal(warm.v0, "before");

	unsigned connects = store_pg_connects(pg);
	int pid = store_pg_backend_pid(pg);
	assert_true(pid > 0);
	struct outcome slow = {0}, queued = {0};
	store_pg_query(pg, "SELECT pg_sleep(30)", 0, NULL, 20000, record, &slow);
	store_pg_exec(pg, "echo", 1, p, NULL, NULL, 20000, record, &queued);
	ev_run(loop, EVRUN_NOWAIT); /* flush them out */
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", pid);
	dba_exec(sql);
	RUN_UNTIL(slow.calls == 1 && queued.calls == 1);
	/* Terminated backends send 57P01 before closing, or the socket just closes. */
	assert_int_equal(slow.status, STORE_PG_RETRY);
	assert_int_equal(queued.status, STORE_PG_RETRY);

	RUN_UNTIL(store_pg_ready(pg));
	assert_int_equal(store_pg_connects(pg), connects + 1);
	assert_int_not_equal(store_pg_backend_pid(pg), pid);
	const char *p2[] = {"after"};
	struct outcome again = {0};
	store_pg_exec(pg, "echo", 1, p2, NULL, NULL, 0, record, &again);
	RUN_UNTIL(again.calls == 1);
	assert_int_equal(again.status, STORE_PG_ROWS);
	assert_string_equal(again.v0, "after");
	ev_run(loop, EVRUN_NOWAIT);
	assert_int_equal(slow.calls, 1);
	assert_int_equal(queued.calls, 1);
	store_pg_free(pg);
}

/* A deadline passes: answered once with a timeout; the late result does not
 * leak into the next query's answer. */
static void test_timeout_once_late_result_dropped(void **state)
{
	(void)state;
	struct store_pg_opts o = app_opts();
	struct store_pg *pg = open_ready(&o);
	struct metric *tmo = metrics_counter("gw_pg_timeouts_total", "", "instance=\"postgres\"");
	double t0 = metric_value(tmo);
	struct outcome slow = {0}, next = {0};
	store_pg_query(pg, "SELECT 'late' FROM pg_sleep(0.5)", 0, NULL, 50, record, &slow);
	store_pg_query(pg, "SELECT 'next'", 0, NULL, 5000, record, &next);
	RUN_UNTIL(slow.calls == 1);
	assert_int_equal(slow.status, STORE_PG_RETRY);
	assert_int_equal(slow.err, GW_ETIMEDOUT);
	assert_int_equal(metric_value(tmo), t0 + 1);
	RUN_UNTIL(next.calls == 1);
	assert_int_equal(next.status, STORE_PG_ROWS);
	assert_string_equal(next.v0, "next");
	assert_int_equal(slow.calls, 1);
	assert_true(store_pg_ready(pg));
	store_pg_free(pg);
}

/* A query the server sits on past a further deadline resets the connection. */
static void test_stuck_query_resets_connection(void **state)
{
	(void)state;
	struct store_pg_opts o = app_opts();
	o.query_timeout_ms = 200;
	struct store_pg *pg = open_ready(&o);
	unsigned connects = store_pg_connects(pg);
	struct outcome stuck = {0}, behind = {0};
	store_pg_query(pg, "SELECT pg_sleep(5)", 0, NULL, 50, record, &stuck);
	store_pg_query(pg, "SELECT 1", 0, NULL, 10000, record, &behind);
	RUN_UNTIL(behind.calls == 1);
	assert_int_equal(stuck.calls, 1);
	assert_int_equal(stuck.err, GW_ETIMEDOUT);
	assert_int_equal(behind.status, STORE_PG_RETRY);
	assert_int_equal(behind.err, GW_EDEPENDENCY);
	RUN_UNTIL(store_pg_ready(pg));
	assert_int_equal(store_pg_connects(pg), connects + 1);
	store_pg_free(pg);
}

/* At the expected version the store is ready; at another it refuses queries,
 * names both versions, and the node reports degraded (PostgreSQL DEGRADES). */
static void test_schema_version_check(void **state)
{
	(void)state;
	struct store_pg_opts o = app_opts();
	struct store_pg *pg = open_ready(&o);
	assert_true(store_pg_build_schema() >= 1);
	assert_int_equal(store_pg_schema_version(pg), store_pg_build_schema());
	assert_int_equal(health_check(NULL), HEALTH_READY);
	store_pg_free(pg);

	o.expected_schema = store_pg_build_schema() + 1;
	pg = NULL;
	assert_int_equal(store_pg_new(loop, &o, &pg), 0);
	char *json = NULL;
	RUN_UNTIL(store_pg_schema_version(pg) >= 0);
	assert_false(store_pg_ready(pg));
	assert_int_equal(health_check(&json), HEALTH_DEGRADED);
	char want[128];
	snprintf(want, sizeof(want), "schema version %d, this build expects %d",
		 store_pg_build_schema(), store_pg_build_schema() + 1);
	assert_non_null(strstr(json, want));
	free(json);
	struct outcome q = {0};
	assert_int_equal(store_pg_query(pg, "SELECT 1", 0, NULL, 0, record, &q), 0);
	assert_int_equal(q.calls, 0);
	RUN_UNTIL(q.calls == 1);
	assert_int_equal(q.status, STORE_PG_HARD_ERROR);
	assert_int_equal(q.err, GW_ESCHEMA);
	assert_non_null(strstr(q.message, "ussdgw-migrate"));
	store_pg_free(pg);
}

static void test_password_file_over_tcp(void **state)
{
	(void)state;
	struct store_pg_opts o = app_opts();
	o.dsn = need_env("USSDGW_PG_TCP_DSN");
	o.password_file = need_env("USSDGW_PG_APP_PASSWORD_FILE");
	struct store_pg *pg = open_ready(&o);
	struct outcome who = {0};
	store_pg_query(pg, "SELECT current_user, inet_server_addr()", 0, NULL, 0, record, &who);
	RUN_UNTIL(who.calls == 1);
	assert_string_equal(who.v0, "ussdgw_app");
	assert_string_equal(who.v1, "127.0.0.1");
	store_pg_free(pg);

	char path[] = "/tmp/test_store_pg_pw_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "wrong\n", 6), 6);
	close(fd);
	o.password_file = path;
	pg = NULL;
	assert_int_equal(store_pg_new(loop, &o, &pg), 0);
	char *json = NULL;
	RUN_UNTIL(
	    (free(json), health_check(&json), strstr(json, "password authentication failed")));
	assert_false(store_pg_ready(pg));
	free(json);
	store_pg_free(pg);
	unlink(path);
}

static void test_free_cancels_pending(void **state)
{
	(void)state;
	struct store_pg_opts o = app_opts();
	struct store_pg *pg = open_ready(&o);
	struct outcome a = {0}, b = {0};
	store_pg_query(pg, "SELECT pg_sleep(3)", 0, NULL, 20000, record, &a);
	store_pg_query(pg, "SELECT 1", 0, NULL, 20000, record, &b);
	ev_run(loop, EVRUN_NOWAIT);
	store_pg_free(pg);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.err, GW_ECANCELED);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.err, GW_ECANCELED);
	ev_run(loop, EVRUN_NOWAIT);
	assert_int_equal(a.calls, 1);
}

static struct cfg *load_cfg(const char *dsn)
{
	char json[1024], err[256];
	snprintf(json, sizeof(json),
		 "{\"keys\": {\"dir\": \"/nonexistent\"}, \"postgres\": {\"dsn\": \"%s\"}}", dsn);
	char *env[] = {NULL};
	struct cfg *c = NULL;
	if (cfg_load_string(json, env, &c, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	return c;
}

/* The daemon service: postgres.dsn reaches the store; an empty DSN stops the
 * start with a configuration error. */
static void test_daemon_service(void **state)
{
	(void)state;
	struct cfg *c = load_cfg(need_env("USSDGW_PG_DSN"));
	struct gw_node node = {.loop = loop, .cfg = c};
	void *st = NULL;
	assert_string_equal(store_pg_service.name, "postgres");
	assert_int_equal(store_pg_service.start(&node, &st), 0);
	RUN_UNTIL(store_pg_ready(st));
	struct outcome who = {0};
	store_pg_query(st, "SELECT current_user", 0, NULL, 0, record, &who);
	RUN_UNTIL(who.calls == 1);
	assert_string_equal(who.v0, "ussdgw_app");
	store_pg_service.reload(&node, st, c);
	store_pg_service.stop(&node, st);
	cfg_free(c);

	c = load_cfg("");
	node.cfg = c;
	st = NULL;
	assert_int_equal(store_pg_service.start(&node, &st), GW_ECONFIG);
	assert_null(st);
	cfg_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_prepared_roundtrip_prepared_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipeline_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors_map_to_hard_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restricted_role_cannot_create, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_fails_pending_and_reconnects, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_once_late_result_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stuck_query_resets_connection, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_schema_version_check, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_password_file_over_tcp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_cancels_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_daemon_service, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
