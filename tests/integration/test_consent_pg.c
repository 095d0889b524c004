/* sms_consent against the dev stack's Redis and PostgreSQL (tools/devstack env):
 * a change writes the live view and the outbox in one step; the drainer copies
 * the outbox into the ledger (consent_record) and removes each entry after its
 * commit; a replayed entry is a no-op; START clears the service and STOPALL; an
 * entry the database refuses moves to the refused list. Fails, never skips,
 * without the env. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/health.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"
#include "ussdgw/sms_consent.h"
#include "ussdgw/store_pg.h"
#include "ussdgw/store_redis.h"

static struct ev_loop *loop;
static bool guard_fired;
static char tmpdir[] = "/tmp/consent-XXXXXX";
static struct crypto_keyring *kr;

static void guard_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l, (void)w, (void)revents;
	guard_fired = true;
}

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

/* Blocking side connections for the checks. */
static redisContext *rc_(void)
{
	redisContext *c = redisConnect("127.0.0.1", atoi(need_env("USSDGW_REDIS_PORT")));
	if (!c || c->err)
		fail_msg("redis connect");
	return c;
}

static long long r_int(const char *fmt, const char *a, const char *b)
{
	redisContext *c = rc_();
	redisReply *r = redisCommand(c, fmt, a, b);
	long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
	freeReplyObject(r);
	redisFree(c);
	return v;
}

static void r_str(char *out, size_t n, const char *fmt, const char *a, const char *b)
{
	redisContext *c = rc_();
	redisReply *r = redisCommand(c, fmt, a, b);
	snprintf(out, n, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
	freeReplyObject(r);
	redisFree(c);
}

static void pg_str(char *out, size_t n, const char *sql, const char *p1)
{
	need_env("PGHOST");
	PGconn *c = PQconnectdb("");
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("superuser connect: %s", PQerrorMessage(c));
	const char *v[] = {p1};
	PGresult *r = PQexecParams(c, sql, 1, NULL, v, NULL, NULL, 0);
	snprintf(out, n, "%s",
		 PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	PQfinish(c);
}

struct done {
	int calls, err;
	char id[40];
};

static void changed(void *cls, int err, const char *id)
{
	struct done *d = cls;
	d->calls++;
	d->err = err;
	snprintf(d->id, sizeof(d->id), "%s", id ? id : "");
}

static int setup(void **state)
{
	(void)state;
	loop = ev_loop_new(EVFLAG_AUTO);
	log_set_all_levels(LOG_WARN);
	if (!mkdtemp(tmpdir))
		return -1;
	char kd[64];
	snprintf(kd, sizeof(kd), "%s/keys", tmpdir);
	if (crypto_create_keydir(kd) || crypto_open(kd, &kr))
		return -1;
	return loop ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	crypto_close(kr);
	ev_loop_destroy(loop);
	health_reset();
	metrics_reset();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void change(struct sms_consent *c, const char *msisdn, enum sms_consent_action a,
		   struct done *d)
{
	struct sms_consent_change ch = {.msisdn = msisdn,
					.service = "svc1",
					.action = a,
					.channel = "sms",
					.shortcode = "384",
					.keyword = "STOP",
					.link = "l1",
					.answered = "ok, stopped"};
	memset(d, 0, sizeof(*d));
	assert_int_equal(sms_consent_change(c, &ch, changed, d), 0);
	assert_int_equal(d->calls, 0); /* never from inside the call */
	RUN_UNTIL(d->calls == 1);
	assert_int_equal(d->err, 0);
}

static void test_view_outbox_ledger(void **state)
{
	(void)state;
	struct store_redis_opts ro = {.host = "127.0.0.1",
				      .port = atoi(need_env("USSDGW_REDIS_PORT"))};
	struct store_redis *r = NULL;
	assert_int_equal(store_redis_new(loop, &ro, &r), 0);
	RUN_UNTIL(store_redis_connected(r));
	struct store_pg_opts po = {.dsn = need_env("USSDGW_PG_DSN"), .reconnect_min_ms = 20};
	struct store_pg *pg = NULL;
	assert_int_equal(store_pg_new(loop, &po, &pg), 0);
	RUN_UNTIL(store_pg_ready(pg));

	/* A run-unique subscriber. */
	char msisdn[16], tok[CRYPTO_TOKEN_HEX + 1], view[96];
	snprintf(msisdn, sizeof(msisdn), "2547%08d", (int)(getpid() * 7919 % 100000000));
	assert_int_equal(crypto_msisdn_token(kr, msisdn, tok), 0);
	snprintf(view, sizeof(view), "ussdgw:consent:{%s}", tok);

	/* Without PostgreSQL: the view and the outbox only. */
	struct sms_consent *c = NULL;
	assert_int_equal(sms_consent_new(loop, r, NULL, kr, "t1", 50, &c), 0);
	struct done d;
	change(c, msisdn, SMS_CONSENT_STOP, &d);
	char v[64];
	r_str(v, sizeof(v), "HGET %s %s", view, "svc1");
	assert_string_equal(v, "1");
	char stop_id[40];
	snprintf(stop_id, sizeof(stop_id), "%s", d.id);
	change(c, msisdn, SMS_CONSENT_STOPALL, &d);
	r_str(v, sizeof(v), "HGET %s %s", view, "*");
	assert_string_equal(v, "1");
	sms_consent_free(c);

	/* Nothing reached the ledger yet. */
	char n[16];
	pg_str(n, sizeof(n), "SELECT count(*) FROM consent_event WHERE msisdn_token = $1", tok);
	assert_string_equal(n, "0");

	/* With PostgreSQL: the outbox drains into the ledger. */
	assert_int_equal(sms_consent_new(loop, r, pg, kr, "t1", 50, &c), 0);
	for (int i = 0; i < 400; i++) {
		pg_str(n, sizeof(n), "SELECT count(*) FROM consent_event WHERE msisdn_token = $1",
		       tok);
		if (!strcmp(n, "2"))
			break;
		ev_run(loop, EVRUN_ONCE);
		usleep(10000);
	}
	assert_string_equal(n, "2");
	pg_str(v, sizeof(v),
	       "SELECT string_agg(service || ':' || opted_out, ',' ORDER BY service) FROM "
	       "consent_state WHERE msisdn_token = $1",
	       tok);
	assert_string_equal(v, "*:true,svc1:true");
	pg_str(v, sizeof(v), "SELECT answered FROM consent_event WHERE id = $1::uuid", stop_id);
	assert_string_equal(v, "ok, stopped");

	/* START: the view and the state clear the service and STOPALL. */
	change(c, msisdn, SMS_CONSENT_START, &d);
	assert_int_equal(r_int("HEXISTS %s %s", view, "svc1"), 0);
	assert_int_equal(r_int("HEXISTS %s %s", view, "*"), 0);
	for (int i = 0; i < 400; i++) {
		pg_str(v, sizeof(v),
		       "SELECT string_agg(service || ':' || opted_out, ',' ORDER BY service) FROM "
		       "consent_state WHERE msisdn_token = $1",
		       tok);
		if (!strcmp(v, "*:false,svc1:false"))
			break;
		ev_run(loop, EVRUN_ONCE);
		usleep(10000);
	}
	assert_string_equal(v, "*:false,svc1:false");

	/* A replayed entry (a node died between commit and removal) is a no-op; an entry
	 * the database refuses moves to the refused list. */
	char replay[512], bad[512];
	snprintf(replay, sizeof(replay),
		 "{\"id\":\"%s\",\"token\":\"%s\",\"service\":\"svc1\",\"action\":\"stop\","
		 "\"channel\":\"sms\",\"node\":\"t1\",\"at_ms\":1}",
		 stop_id, tok);
	snprintf(bad, sizeof(bad),
		 "{\"id\":\"%s\",\"token\":\"%s\",\"service\":\"svc1\",\"action\":\"stop\","
		 "\"channel\":\"pigeon\",\"node\":\"t1\",\"at_ms\":1}",
		 "00000000-0000-4000-8000-000000000001", tok);
	assert_true(r_int("RPUSH ussdgw:consent:outbox %s %s", replay, bad) >= 2);
	for (int i = 0; i < 400; i++) {
		redisContext *rc = rc_();
		redisReply *rr = redisCommand(rc, "LPOS ussdgw:consent:outbox-refused %s", bad);
		bool moved = rr && rr->type == REDIS_REPLY_INTEGER;
		freeReplyObject(rr);
		rr = redisCommand(rc, "LPOS ussdgw:consent:outbox %s", replay);
		bool gone = rr && rr->type == REDIS_REPLY_NIL;
		freeReplyObject(rr);
		redisFree(rc);
		if (moved && gone)
			break;
		ev_run(loop, EVRUN_ONCE);
		usleep(10000);
	}
	assert_int_equal(r_int("LREM ussdgw:consent:outbox-refused 1 %s", bad, NULL), 1);
	pg_str(n, sizeof(n), "SELECT count(*) FROM consent_event WHERE msisdn_token = $1", tok);
	assert_string_equal(n, "3"); /* stop, stopall, start: the replay added nothing */
	pg_str(v, sizeof(v),
	       "SELECT string_agg(service || ':' || opted_out, ',' ORDER BY service) FROM "
	       "consent_state WHERE msisdn_token = $1",
	       tok);
	assert_string_equal(v, "*:false,svc1:false"); /* an old replay does not move state back */

	/* Bad calls. */
	struct sms_consent_change bad_ch = {.msisdn = "12", .service = "s", .channel = "sms"};
	assert_int_equal(sms_consent_change(c, &bad_ch, changed, &d), GW_EINVAL);
	sms_consent_free(c);
	store_pg_free(pg);
	store_redis_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_view_outbox_ledger),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
