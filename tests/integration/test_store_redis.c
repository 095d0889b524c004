/* store_redis against the dev stack's Redis (tools/devstack env). Fails, never
 * skips, when the environment is missing. The restart test stops and starts
 * the dev Redis, so this test runs alone (RUN_SERIAL, cmake/area-devstack.cmake). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "ussdgw/config.h"
#include "ussdgw/daemon.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/health.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"
#include "ussdgw/store_redis.h"

struct outcome {
	int calls;
	int err;
	int type;
	char str[256];
	size_t len;
	long long integer;
};

static void record(void *cls, int err, redisReply *reply)
{
	struct outcome *o = cls;
	o->calls++;
	o->err = err;
	o->type = reply ? reply->type : -1;
	o->str[0] = '\0';
	o->len = 0;
	if (reply && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS ||
		      reply->type == REDIS_REPLY_ERROR)) {
		o->len = reply->len < sizeof(o->str) - 1 ? reply->len : sizeof(o->str) - 1;
		memcpy(o->str, reply->str, o->len);
		o->str[o->len] = '\0';
	}
	if (reply && reply->type == REDIS_REPLY_INTEGER)
		o->integer = reply->integer;
	if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
		o->len = reply->element[1]->len < sizeof(o->str) - 1 ? reply->element[1]->len
								     : sizeof(o->str) - 1;
		memcpy(o->str, reply->element[1]->str, o->len);
		o->str[o->len] = '\0';
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

/* Run the loop until *flag is true. The guard only stops a hung test. */
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

static struct store_redis_opts tcp_opts(const char *name)
{
	struct store_redis_opts o = {
	    .host = need_env("USSDGW_REDIS_HOST"),
	    .port = atoi(need_env("USSDGW_REDIS_PORT")),
	    .command_timeout_ms = 2000,
	    .reconnect_min_ms = 20,
	    .reconnect_max_ms = 200,
	    .health_name = name,
	};
	return o;
}

static struct store_redis *open_store(const struct store_redis_opts *o)
{
	struct store_redis *r = NULL;
	assert_int_equal(store_redis_new(loop, o, &r), 0);
	RUN_UNTIL(store_redis_connected(r));
	return r;
}

static char keybuf[128];
static const char *key(const char *what)
{
	snprintf(keybuf, sizeof(keybuf), "test:store_redis:%d:%s", (int)getpid(), what);
	return keybuf;
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

static void test_roundtrip_tcp_binary(void **state)
{
	(void)state;
	struct store_redis_opts o = tcp_opts("redis");
	struct store_redis *r = open_store(&o);
	struct metric *cmds = metrics_counter("gw_redis_commands_total", "", "instance=\"redis\"");
	double before = metric_value(cmds);

	static const char val[] = "a\0b\r\nc";
	const char *k = key("bin");
	const char *argv[] = {"SET", k, val};
	size_t argvlen[] = {3, strlen(k), sizeof(val) - 1};
	struct outcome set = {0}, get = {0};
	assert_int_equal(store_redis_command_argv(r, record, &set, 0, 3, argv, argvlen), 0);
	assert_int_equal(set.calls, 0); /* never inside the submitting call */
	assert_int_equal(store_redis_command(r, record, &get, 0, "GET %s", k), 0);
	RUN_UNTIL(get.calls == 1);
	assert_int_equal(set.calls, 1);
	assert_int_equal(set.err, 0);
	assert_string_equal(set.str, "OK");
	assert_int_equal(get.err, 0);
	assert_int_equal(get.type, REDIS_REPLY_STRING);
	assert_int_equal(get.len, sizeof(val) - 1);
	assert_memory_equal(get.str, val, sizeof(val) - 1);
	assert_true(metric_value(cmds) >= before + 2);

	/* An error reply is a reply: err 0, type ERROR, counted as an error. */
	struct outcome bad = {0};
	struct metric *errs = metrics_counter("gw_redis_errors_total", "", "instance=\"redis\"");
	double e0 = metric_value(errs);
	assert_int_equal(store_redis_command(r, record, &bad, 0, "INCR %s", k), 0);
	RUN_UNTIL(bad.calls == 1);
	assert_int_equal(bad.err, 0);
	assert_int_equal(bad.type, REDIS_REPLY_ERROR);
	assert_non_null(strstr(bad.str, "not an integer"));
	assert_true(metric_value(errs) == e0 + 1);

	struct outcome del = {0};
	store_redis_command(r, record, &del, 0, "DEL %s", k);
	RUN_UNTIL(del.calls == 1);
	assert_int_equal(del.integer, 1);

	char *json = NULL;
	assert_int_equal(health_check(&json), HEALTH_READY);
	assert_non_null(strstr(json, "\"redis\""));
	free(json);
	store_redis_free(r);
	/* Unregistered with the store. */
	assert_int_equal(health_check(NULL), HEALTH_READY);
}

static void test_roundtrip_unix_socket(void **state)
{
	(void)state;
	struct store_redis_opts o = tcp_opts("redis-unix");
	o.socket = need_env("USSDGW_REDIS_SOCKET");
	o.port = 1; /* ignored when a socket is given */
	struct store_redis *r = open_store(&o);
	struct outcome inc = {0};
	const char *k = key("unix");
	store_redis_command(r, record, &inc, 0, "INCRBY %s %d", k, 41);
	store_redis_command(r, record, &inc, 0, "INCR %s", k);
	RUN_UNTIL(inc.calls == 2);
	assert_int_equal(inc.err, 0);
	assert_int_equal(inc.integer, 42);
	struct outcome del = {0};
	store_redis_command(r, record, &del, 0, "DEL %s", k);
	RUN_UNTIL(del.calls == 1);
	store_redis_free(r);
}

/* BLPOP blocks only this connection: the deadline passes, the callback runs
 * once with GW_ETIMEDOUT, and the late reply (after an LPUSH from another
 * connection) is dropped without reaching the next command's callback. */
static void test_timeout_fires_once_late_reply_dropped(void **state)
{
	(void)state;
	struct store_redis_opts o = tcp_opts("redis");
	struct store_redis *r = open_store(&o);
	struct store_redis_opts o2 = tcp_opts("redis-aux");
	struct store_redis *aux = open_store(&o2);
	struct metric *tmo = metrics_counter("gw_redis_timeouts_total", "", "instance=\"redis\"");
	double t0 = metric_value(tmo);

	const char *k = key("blpop");
	struct outcome blocked = {0}, ping = {0}, push = {0};
	assert_int_equal(store_redis_command(r, record, &blocked, 100, "BLPOP %s 30", k), 0);
	RUN_UNTIL(blocked.calls == 1);
	assert_int_equal(blocked.err, GW_ETIMEDOUT);
	assert_int_equal(blocked.type, -1);
	assert_int_equal(metric_value(tmo), t0 + 1);
	assert_int_equal(store_redis_pending(r), 1); /* still owed by the server */

	/* A command queued behind the blocked one. */
	assert_int_equal(store_redis_command(r, record, &ping, 5000, "ECHO %s", "after"), 0);
	assert_int_equal(store_redis_command(aux, record, &push, 0, "LPUSH %s late", k), 0);
	RUN_UNTIL(ping.calls == 1 && push.calls == 1);
	assert_int_equal(ping.err, 0);
	assert_string_equal(ping.str, "after"); /* not the late "late" */
	assert_int_equal(blocked.calls, 1);
	assert_int_equal(store_redis_pending(r), 0);
	assert_true(store_redis_connected(r));

	/* The late reply did pop the value: the list is empty now. */
	struct outcome len = {0};
	store_redis_command(aux, record, &len, 0, "LLEN %s", k);
	RUN_UNTIL(len.calls == 1);
	assert_int_equal(len.integer, 0);
	store_redis_free(aux);
	store_redis_free(r);
}

/* CLIENT KILL our connection while a command is pending: its callback runs
 * once with GW_EDEPENDENCY, commands while down fail (later, never inside the
 * call), and the store reconnects by itself. */
static void test_disconnect_fails_pending_once_then_reconnects(void **state)
{
	(void)state;
	struct store_redis_opts o = tcp_opts("redis");
	struct store_redis *r = open_store(&o);
	struct store_redis_opts o2 = tcp_opts("redis-aux");
	struct store_redis *aux = open_store(&o2);
	unsigned connects = store_redis_connects(r);

	struct outcome id = {0}, blocked = {0}, kill = {0};
	store_redis_command(r, record, &id, 0, "CLIENT ID");
	RUN_UNTIL(id.calls == 1);
	assert_int_equal(id.type, REDIS_REPLY_INTEGER);
	store_redis_command(r, record, &blocked, 10000, "BLPOP %s 30", key("never"));
	store_redis_command(aux, record, &kill, 0, "CLIENT KILL ID %lld", id.integer);
	RUN_UNTIL(blocked.calls == 1 && kill.calls == 1);
	assert_int_equal(kill.integer, 1);
	assert_int_equal(blocked.err, GW_EDEPENDENCY);

	/* Right after the loss: refused, but from the loop. */
	struct outcome down = {0};
	if (!store_redis_connected(r)) {
		assert_int_equal(store_redis_command(r, record, &down, 0, "PING"), 0);
		assert_int_equal(down.calls, 0);
		RUN_UNTIL(down.calls == 1);
		assert_int_equal(down.err, GW_EDEPENDENCY);
	}
	RUN_UNTIL(store_redis_connected(r));
	assert_int_equal(store_redis_connects(r), connects + 1);
	struct outcome ping = {0};
	store_redis_command(r, record, &ping, 0, "PING");
	RUN_UNTIL(ping.calls == 1);
	assert_int_equal(ping.err, 0);
	assert_string_equal(ping.str, "PONG");
	/* Let any stray callback show itself. */
	ev_run(loop, EVRUN_NOWAIT);
	assert_int_equal(blocked.calls, 1);
	store_redis_free(aux);
	store_redis_free(r);
}

static void devstack(const char *what)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "\"%s/tools/devstack\" %s", need_env("GW_SOURCE_DIR"), what);
	assert_int_equal(system(cmd), 0);
}

/* The dev Redis goes away and comes back: readiness follows, pending commands
 * fail once, and the store reconnects with backoff. */
static void test_reconnect_after_server_restart(void **state)
{
	(void)state;
	struct store_redis_opts o = tcp_opts("redis");
	struct store_redis *r = open_store(&o);
	struct metric *rec = metrics_counter("gw_redis_reconnects_total", "", "instance=\"redis\"");
	double rec0 = metric_value(rec);
	const char *k = key("restart");
	struct outcome set = {0};
	store_redis_command(r, record, &set, 0, "SET %s survives", k);
	RUN_UNTIL(set.calls == 1);

	devstack("stop-redis");
	RUN_UNTIL(!store_redis_connected(r));
	char *json = NULL;
	assert_int_equal(health_check(&json), HEALTH_NOT_READY);
	assert_non_null(strstr(json, "\"missing\":[\"redis\"]"));
	free(json);
	struct outcome down = {0};
	store_redis_command(r, record, &down, 0, "GET %s", k);
	RUN_UNTIL(down.calls == 1);
	assert_int_equal(down.err, GW_EDEPENDENCY);
	/* Let it try (and fail) a few times. */
	RUN_UNTIL(metric_value(rec) >= rec0 + 3);

	devstack("start-redis");
	RUN_UNTIL(store_redis_connected(r));
	assert_int_equal(health_check(NULL), HEALTH_READY);
	struct outcome get = {0};
	store_redis_command(r, record, &get, 0, "GET %s", k);
	RUN_UNTIL(get.calls == 1);
	assert_int_equal(get.err, 0);
	assert_string_equal(get.str, "survives"); /* AOF kept it across the restart */
	struct outcome del = {0};
	store_redis_command(r, record, &del, 0, "DEL %s", k);
	RUN_UNTIL(del.calls == 1);
	store_redis_free(r);
}

static void test_free_cancels_pending(void **state)
{
	(void)state;
	struct store_redis_opts o = tcp_opts("redis");
	struct store_redis *r = open_store(&o);
	struct outcome a = {0}, b = {0};
	store_redis_command(r, record, &a, 5000, "BLPOP %s 30", key("cancel"));
	store_redis_command(r, record, &b, 5000, "PING");
	ev_run(loop, EVRUN_NOWAIT);
	store_redis_free(r);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.err, GW_ECANCELED);
	assert_int_equal(b.calls, 1);
	/* PING may have been answered before the free; otherwise it was cancelled. */
	assert_true(b.err == GW_ECANCELED || (b.err == 0 && !strcmp(b.str, "PONG")));
	ev_run(loop, EVRUN_NOWAIT);
	assert_int_equal(a.calls, 1);
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void test_connect_refused_backs_off(void **state)
{
	(void)state;
	struct store_redis_opts o = tcp_opts("redis");
	o.host = "127.0.0.1";
	o.port = free_port();
	struct store_redis *r = NULL;
	assert_int_equal(store_redis_new(loop, &o, &r), 0);
	struct metric *rec = metrics_counter("gw_redis_reconnects_total", "", "instance=\"redis\"");
	double rec0 = metric_value(rec);
	RUN_UNTIL(metric_value(rec) >= rec0 + 2);
	assert_false(store_redis_connected(r));
	char *json = NULL;
	assert_int_equal(health_check(&json), HEALTH_NOT_READY);
	assert_non_null(strstr(json, "refused"));
	free(json);
	struct outcome c = {0};
	assert_int_equal(store_redis_command(r, record, &c, 0, "PING"), 0);
	assert_int_equal(c.calls, 0);
	RUN_UNTIL(c.calls == 1);
	assert_int_equal(c.err, GW_EDEPENDENCY);
	store_redis_free(r);
}

static void test_wrong_password_not_ready(void **state)
{
	(void)state;
	char path[] = "/tmp/test_store_redis_pw_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not-the-password\n", 17), 17);
	close(fd);
	struct store_redis_opts o = tcp_opts("redis");
	o.password_file = path;
	struct store_redis *r = NULL;
	assert_int_equal(store_redis_new(loop, &o, &r), 0);
	char *json = NULL;
	RUN_UNTIL((free(json), health_check(&json), strstr(json, "AUTH refused") != NULL));
	assert_false(store_redis_connected(r));
	free(json);
	store_redis_free(r);

	/* A secret file readable by others is refused at creation. */
	chmod(path, 0644);
	r = NULL;
	assert_int_equal(store_redis_new(loop, &o, &r), GW_EINSECURE);
	assert_null(r);
	unlink(path);
}

/* With a ping interval, a Redis that stops answering (CLIENT PAUSE, shared
 * but this test runs alone) takes the node out of readiness without a
 * disconnect, and back in when it answers again. */
static void test_ping_marks_stalled_redis_down(void **state)
{
	(void)state;
	struct store_redis_opts o = tcp_opts("redis");
	o.ping_interval_ms = 50;
	struct store_redis *r = open_store(&o);
	struct store_redis_opts o2 = tcp_opts("redis-aux");
	struct store_redis *aux = open_store(&o2);
	assert_int_equal(health_check(NULL), HEALTH_READY);
	struct outcome pause = {0};
	store_redis_command(aux, record, &pause, 0, "CLIENT PAUSE %d ALL", 1500);
	RUN_UNTIL(pause.calls == 1);
	assert_string_equal(pause.str, "OK");
	char *json = NULL;
	RUN_UNTIL((free(json), health_check(&json) == HEALTH_NOT_READY));
	assert_non_null(strstr(json, "PING not answered"));
	free(json);
	assert_true(store_redis_connected(r)); /* still connected, just not answering */
	RUN_UNTIL(health_check(NULL) == HEALTH_READY);
	store_redis_free(aux);
	store_redis_free(r);
}

static struct cfg *load_cfg(int command_timeout_ms)
{
	char json[512], err[256];
	snprintf(json, sizeof(json),
		 "{\"keys\": {\"dir\": \"/nonexistent\"}, \"redis\": {\"host\": \"%s\", "
		 "\"port\": %s, \"command_timeout_ms\": %d}}",
		 need_env("USSDGW_REDIS_HOST"), need_env("USSDGW_REDIS_PORT"), command_timeout_ms);
	char *env[] = {NULL};
	struct cfg *c = NULL;
	if (cfg_load_string(json, env, &c, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	return c;
}

/* The daemon service: config keys reach the store, SIGHUP's reload changes
 * the default deadline, stop closes it. */
static void test_daemon_service_and_reload(void **state)
{
	(void)state;
	struct cfg *c1 = load_cfg(60000);
	struct gw_node node = {.loop = loop, .cfg = c1};
	void *st = NULL;
	assert_int_equal(store_redis_service.start(&node, &st), 0);
	assert_string_equal(store_redis_service.name, "redis");
	struct store_redis *r = st;
	RUN_UNTIL(store_redis_connected(r));

	struct cfg *c2 = load_cfg(50);
	store_redis_service.reload(&node, st, c2);
	struct outcome blocked = {0};
	/* Deadline 0 = the store's default, now 50 ms instead of a minute. */
	store_redis_command(r, record, &blocked, 0, "BLPOP %s 30", key("reload"));
	RUN_UNTIL(blocked.calls == 1);
	assert_int_equal(blocked.err, GW_ETIMEDOUT);
	store_redis_service.stop(&node, st);
	assert_int_equal(health_check(NULL), HEALTH_READY); /* part gone with the store */
	cfg_free(c1);
	cfg_free(c2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roundtrip_tcp_binary, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_roundtrip_unix_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_fires_once_late_reply_dropped, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_fails_pending_once_then_reconnects,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_cancels_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connect_refused_backs_off, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_password_not_ready, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_daemon_service_and_reload, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ping_marks_stalled_redis_down, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reconnect_after_server_restart, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
