/* The payment state machine in the dev stack's PostgreSQL (sql/0003), through
 * the one-function-per-operation layer (payment.h), as the restricted role
 * ussdgw_app: idempotent create per session step, compare-and-set on
 * created -> requested, forward-only moves, a paid result never downgraded,
 * a late success lifted and flagged, reference conflicts, velocity limit and
 * daily cap, callback de-duplication, lookup by token hash, and no direct
 * writes for the app role. A superuser connection plays the DBA to show the
 * trigger refuses a downgrade even for a role that may UPDATE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ussdgw/clock.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/health.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"
#include "ussdgw/payment.h"
#include "ussdgw/store_pg.h"

static struct ev_loop *loop;
static struct store_pg *pg;
static bool guard_fired;
static char run[40];

static void guard_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
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

/* ---- synchronous wrappers (the loop runs until the callback) ------------- */

struct cr {
	int calls, err;
	enum payment_create_outcome o;
	char id[37];
	enum pay_state st;
};
static void cr_cb(void *cls, int err, enum payment_create_outcome o, const char *id,
		  enum pay_state st, const char *ref)
{
	(void)ref;
	struct cr *c = cls;
	c->calls++;
	c->err = err;
	c->o = o;
	c->st = st;
	snprintf(c->id, sizeof(c->id), "%s", id ? id : "");
}

static struct cr create(const char *session, unsigned step, int64_t amount, const char *msisdn,
			const struct payment_limits *lim, char id_out[37])
{
	char sid[160], id[37], tok[65], hash[65];
	uint8_t rnd[32];
	snprintf(sid, sizeof(sid), "%s-%s", run, session);
	assert_int_equal(crypto_uuid4(id), 0);
	assert_int_equal(crypto_random(rnd, sizeof(rnd)), 0);
	crypto_hex(rnd, sizeof(rnd), tok);
	payment_token_hash(tok, hash);
	struct pay_intent in = {.provider = "mpesa",
				.amount_minor = amount,
				.currency = "KES",
				.msisdn = msisdn,
				.account_ref = "ACC",
				.session_id = sid,
				.step = step};
	struct cr c = {0};
	assert_int_equal(payment_db_create(pg, id, &in, hash, lim, cr_cb, &c), 0);
	RUN_UNTIL(c.calls == 1);
	if (id_out)
		snprintf(id_out, 37, "%s", id);
	return c;
}

struct ad {
	int calls, err;
	enum payment_advance_outcome o;
	enum pay_state old_s, new_s;
	char receipt[32];
};
static void ad_cb(void *cls, int err, const struct payment_advance_res *r)
{
	struct ad *a = cls;
	a->calls++;
	a->err = err;
	if (r) {
		a->o = r->outcome;
		a->old_s = r->old_state;
		a->new_s = r->new_state;
		snprintf(a->receipt, sizeof(a->receipt), "%s", r->receipt ? r->receipt : "");
	}
}

static struct ad advance(const char *id, const enum pay_state *from, size_t n, enum pay_state to,
			 const char *ref, const char *receipt)
{
	struct payment_move mv = {
	    .from = from, .n_from = n, .to = to, .provider_ref = ref, .receipt = receipt};
	struct ad a = {0};
	assert_int_equal(payment_db_advance(pg, id, &mv, ad_cb, &a), 0);
	RUN_UNTIL(a.calls == 1);
	assert_int_equal(a.err, 0);
	return a;
}

struct rows {
	int calls, err;
	size_t n;
	struct payment_row r;
};
static void rows_cb(void *cls, int err, const struct payment_row *rows, size_t n)
{
	struct rows *x = cls;
	x->calls++;
	x->err = err;
	x->n = n;
	if (n)
		x->r = rows[0];
}

static struct payment_row by_id(const char *id)
{
	struct rows x = {0};
	assert_int_equal(payment_db_by_id(pg, id, rows_cb, &x), 0);
	RUN_UNTIL(x.calls == 1);
	assert_int_equal(x.err, 0);
	assert_int_equal(x.n, 1);
	return x.r;
}

/* A distinct phone per test and run (velocity and caps are per MSISDN). */
static void phone(char out[13], unsigned k)
{
	snprintf(out, 13, "2547%02u%06u", k, (unsigned)(getpid() % 1000000));
}

/* References and receipts are unique in the table: make them this run's. */
static const char *R(const char *s)
{
	static char buf[8][96];
	static unsigned i;
	char *b = buf[i++ % 8];
	snprintf(b, 96, "%s_%s", s, run);
	return b;
}

/* ---- tests --------------------------------------------------------------- */

static void test_create_idempotent_per_step(void **state)
{
	(void)state;
	char ph[13], id1[37], id2[37];
	phone(ph, 1);
	struct cr a = create("s1", 4, 1000, ph, NULL, id1);
	assert_int_equal(a.err, 0);
	assert_int_equal(a.o, PAYMENT_CREATED);
	assert_string_equal(a.id, id1);
	/* the step re-sent: another key offered, the first payment returned */
	struct cr b = create("s1", 4, 1000, ph, NULL, id2);
	assert_int_equal(b.o, PAYMENT_EXISTING);
	assert_string_equal(b.id, id1);
	assert_string_not_equal(id1, id2);
	/* the same step with another amount: a mismatch, no new row */
	struct cr c = create("s1", 4, 2000, ph, NULL, NULL);
	assert_int_equal(c.o, PAYMENT_MISMATCH);
	/* the next step is another payment */
	struct cr d = create("s1", 5, 1000, ph, NULL, NULL);
	assert_int_equal(d.o, PAYMENT_CREATED);
	assert_string_not_equal(d.id, id1);
}

static void test_compare_and_set_and_forward_only(void **state)
{
	(void)state;
	char ph[13], id[37];
	phone(ph, 2);
	create("s2", 1, 1000, ph, NULL, id);
	static const enum pay_state created[] = {PAY_CREATED};
	struct ad a = advance(id, created, 1, PAY_REQUESTED, NULL, NULL);
	assert_int_equal(a.o, PAYMENT_MOVED);
	/* a second sender loses the compare-and-set: no second request */
	a = advance(id, created, 1, PAY_REQUESTED, NULL, NULL);
	assert_int_equal(a.o, PAYMENT_SAME);
	static const enum pay_state req[] = {PAY_REQUESTED};
	a = advance(id, created, 1, PAY_PENDING, NULL, NULL);
	assert_int_equal(a.o, PAYMENT_REFUSED);
	a = advance(id, req, 1, PAY_PENDING, R("ws_CO_1"), NULL);
	assert_int_equal(a.o, PAYMENT_MOVED);
	/* another reference is a conflict */
	a = advance(id, NULL, 0, PAY_SUCCEEDED, R("ws_CO_2"), R("R2"));
	assert_int_equal(a.o, PAYMENT_CONFLICT);
	a = advance(id, NULL, 0, PAY_SUCCEEDED, R("ws_CO_1"), R("RCPT1"));
	assert_int_equal(a.o, PAYMENT_MOVED);
	assert_int_equal(a.old_s, PAY_PENDING);
	assert_string_equal(a.receipt, R("RCPT1"));
	/* a paid result is never downgraded (a later query saying failed) */
	a = advance(id, NULL, 0, PAY_FAILED, NULL, NULL);
	assert_int_equal(a.o, PAYMENT_REFUSED);
	a = advance(id, NULL, 0, PAY_EXPIRED, NULL, NULL);
	assert_int_equal(a.o, PAYMENT_REFUSED);
	a = advance(id, NULL, 0, PAY_PENDING, NULL, NULL);
	assert_int_equal(a.o, PAYMENT_REFUSED);
	struct payment_row r = by_id(id);
	assert_int_equal(r.state, PAY_SUCCEEDED);
	assert_string_equal(r.receipt, R("RCPT1"));
	assert_string_equal(r.provider_ref, R("ws_CO_1"));
	assert_false(r.needs_review);
	/* refunds move on from succeeded */
	a = advance(id, NULL, 0, PAY_REFUNDED, NULL, NULL);
	assert_int_equal(a.o, PAYMENT_MOVED);
	a = advance(id, NULL, 0, PAY_SUCCEEDED, NULL, NULL);
	assert_int_equal(a.o, PAYMENT_REFUSED);
}

static void test_late_success_after_expiry(void **state)
{
	(void)state;
	char ph[13], id[37];
	phone(ph, 3);
	create("s3", 1, 1000, ph, NULL, id);
	advance(id, NULL, 0, PAY_REQUESTED, NULL, NULL);
	advance(id, NULL, 0, PAY_PENDING, R("ws_CO_late"), NULL);
	assert_int_equal(advance(id, NULL, 0, PAY_EXPIRED, NULL, NULL).o, PAYMENT_MOVED);
	struct ad a = advance(id, NULL, 0, PAY_SUCCEEDED, R("ws_CO_late"), R("LATE1"));
	assert_int_equal(a.o, PAYMENT_MOVED);
	assert_int_equal(a.old_s, PAY_EXPIRED);
	struct payment_row r = by_id(id);
	assert_int_equal(r.state, PAY_SUCCEEDED);
	assert_true(r.needs_review); /* reported to a person, never lost */
	/* and a created payment (never sent) cannot jump to succeeded */
	char id2[37];
	create("s3", 2, 1000, ph, NULL, id2);
	assert_int_equal(advance(id2, NULL, 0, PAY_SUCCEEDED, NULL, NULL).o, PAYMENT_REFUSED);
}

static void test_velocity_and_daily_cap(void **state)
{
	(void)state;
	char ph[13];
	phone(ph, 4);
	struct payment_limits lim = {.window_s = 3600, .window_max = 2};
	assert_int_equal(create("s4", 1, 100, ph, &lim, NULL).o, PAYMENT_CREATED);
	assert_int_equal(create("s4", 2, 100, ph, &lim, NULL).o, PAYMENT_CREATED);
	assert_int_equal(create("s4", 3, 100, ph, &lim, NULL).o, PAYMENT_VELOCITY);
	/* a re-sent step still finds its payment */
	assert_int_equal(create("s4", 2, 100, ph, &lim, NULL).o, PAYMENT_EXISTING);

	char ph2[13], id[37];
	phone(ph2, 5);
	struct payment_limits cap = {.daily_cap_minor = 10000};
	assert_int_equal(create("s5", 1, 7000, ph2, &cap, id).o, PAYMENT_CREATED);
	assert_int_equal(create("s5", 2, 4000, ph2, &cap, NULL).o, PAYMENT_DAILY_CAP);
	/* a failed payment frees its share of the cap */
	advance(id, NULL, 0, PAY_FAILED, NULL, NULL);
	assert_int_equal(create("s5", 3, 4000, ph2, &cap, NULL).o, PAYMENT_CREATED);
}

struct cbr {
	int calls, err;
	bool dup;
};
static void cbr_cb(void *cls, int err, bool dup)
{
	struct cbr *c = cls;
	c->calls++;
	c->err = err;
	c->dup = dup;
}

static void test_callback_dedupe_and_token(void **state)
{
	(void)state;
	char ph[13], id[37], sid[160], tok[65] = "", hash[65];
	phone(ph, 6);
	snprintf(sid, sizeof(sid), "%s-s6", run);
	assert_int_equal(crypto_uuid4(id), 0);
	snprintf(tok, sizeof(tok), "tok-%s-0123456789", run);
	payment_token_hash(tok, hash);
	struct pay_intent in = {.provider = "mpesa",
				.amount_minor = 500,
				.currency = "KES",
				.msisdn = ph,
				.account_ref = "A",
				.session_id = sid,
				.step = 1};
	struct cr c = {0};
	assert_int_equal(payment_db_create(pg, id, &in, hash, NULL, cr_cb, &c), 0);
	RUN_UNTIL(c.calls == 1);
	assert_int_equal(c.o, PAYMENT_CREATED);

	struct rows x = {0};
	assert_int_equal(payment_db_by_token(pg, hash, rows_cb, &x), 0);
	RUN_UNTIL(x.calls == 1);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.r.id, id);
	assert_string_equal(x.r.msisdn, ph);
	/* the clear token is not what is stored */
	struct rows y = {0};
	assert_int_equal(payment_db_by_token(pg, tok, rows_cb, &y), 0);
	RUN_UNTIL(y.calls == 1);
	assert_int_equal(y.n, 0);

	for (int i = 0; i < 3; i++) {
		struct cbr r = {0};
		assert_int_equal(
		    payment_db_callback_record(pg, id, R("ws_CO_d"), "0", "127.0.0.1", cbr_cb, &r),
		    0);
		RUN_UNTIL(r.calls == 1);
		assert_int_equal(r.err, 0);
		assert_int_equal(r.dup, i > 0);
	}
	/* another result for the same reference is a distinct delivery */
	struct cbr r = {0};
	assert_int_equal(
	    payment_db_callback_record(pg, id, R("ws_CO_d"), "1032", "127.0.0.1", cbr_cb, &r), 0);
	RUN_UNTIL(r.calls == 1);
	assert_false(r.dup);
}

struct q {
	int calls;
	enum store_pg_qs st;
	char sqlstate[8];
};
static void q_cb(void *cls, const struct store_pg_result *r)
{
	struct q *q = cls;
	q->calls++;
	q->st = r->status;
	snprintf(q->sqlstate, sizeof(q->sqlstate), "%s", r->sqlstate);
}

static void test_no_direct_writes_and_trigger(void **state)
{
	(void)state;
	char ph[13], id[37];
	phone(ph, 7);
	create("s7", 1, 1000, ph, NULL, id);
	advance(id, NULL, 0, PAY_REQUESTED, NULL, NULL);
	advance(id, NULL, 0, PAY_SUCCEEDED, R("ws_CO_t"), R("RT1"));
	const char *v[1] = {id};
	struct q q = {0};
	assert_int_equal(store_pg_query(pg,
					"UPDATE payment SET state = 'failed' WHERE id = $1::uuid",
					1, v, 0, q_cb, &q),
			 0);
	RUN_UNTIL(q.calls == 1);
	assert_int_equal(q.st, STORE_PG_HARD_ERROR);
	assert_string_equal(q.sqlstate, "42501"); /* insufficient privilege */

	/* Even a role that may UPDATE cannot downgrade: the trigger refuses. */
	setenv("PGDATABASE", getenv("PGDATABASE") ? getenv("PGDATABASE") : "ussdgw", 0);
	PGconn *c = PQconnectdb("");
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("superuser connect: %s", PQerrorMessage(c));
	const char *pv[1] = {id};
	PGresult *r = PQexecParams(c, "UPDATE payment SET state = 'failed' WHERE id = $1::uuid", 1,
				   NULL, pv, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23000");
	PQclear(r);
	r = PQexecParams(c, "DELETE FROM payment WHERE id = $1::uuid", 1, NULL, pv, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	PQclear(r);
	PQfinish(c);
	assert_int_equal(by_id(id).state, PAY_SUCCEEDED);
}

static void test_stale_and_review_lists(void **state)
{
	(void)state;
	char ph[13], id[37];
	phone(ph, 8);
	create("s8", 1, 1000, ph, NULL, id);
	advance(id, NULL, 0, PAY_REQUESTED, NULL, NULL);
	/* seen as stale once the clock passes its last update */
	gw_clock_shift(60000);
	struct rows x = {0};
	assert_int_equal(payment_db_list_stale(pg, gw_now_ms() - 1000, 0, 100000, rows_cb, &x), 0);
	RUN_UNTIL(x.calls == 1);
	assert_int_equal(x.err, 0);
	assert_true(x.n >= 1);
	assert_int_equal(advance(id, NULL, 0, PAY_UNKNOWN, NULL, NULL).o, PAYMENT_MOVED);
	gw_clock_set_shift(0);
	struct rows y = {0};
	assert_int_equal(payment_db_list_review(pg, 100000, rows_cb, &y), 0);
	RUN_UNTIL(y.calls == 1);
	assert_true(y.n >= 1);
	assert_true(by_id(id).needs_review);
}

static int setup(void **state)
{
	(void)state;
	loop = ev_loop_new(EVFLAG_AUTO);
	log_set_all_levels(LOG_WARN);
	const char *dsn = getenv("USSDGW_PG_DSN");
	if (!dsn || !*dsn || !getenv("PGHOST")) {
		fprintf(stderr, "USSDGW_PG_DSN / PGHOST not set: run under tools/run-tests\n");
		return -1;
	}
	struct store_pg_opts o = {.dsn = dsn, .query_timeout_ms = 5000};
	if (store_pg_new(loop, &o, &pg))
		return -1;
	RUN_UNTIL(store_pg_ready(pg));
	snprintf(run, sizeof(run), "t%d-%lld", (int)getpid(), (long long)gw_now_ms());
	return payment_db_prepare(pg);
}

static int teardown(void **state)
{
	(void)state;
	store_pg_free(pg);
	ev_loop_destroy(loop);
	health_reset();
	metrics_reset();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_idempotent_per_step),
	    cmocka_unit_test(test_compare_and_set_and_forward_only),
	    cmocka_unit_test(test_late_success_after_expiry),
	    cmocka_unit_test(test_velocity_and_daily_cap),
	    cmocka_unit_test(test_callback_dedupe_and_token),
	    cmocka_unit_test(test_no_direct_writes_and_trigger),
	    cmocka_unit_test(test_stale_and_review_lists),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
