/* Payment states and their database operations (see payment.h). */
#include "ussdgw/payment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/clock.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"
#include "ussdgw/store_pg.h"

/* ---- states -------------------------------------------------------------- */

static const char *const state_names[PAY_STATE_COUNT] = {
    [PAY_CREATED] = "created",	   [PAY_REQUESTED] = "requested", [PAY_PENDING] = "pending",
    [PAY_SUCCEEDED] = "succeeded", [PAY_FAILED] = "failed",	  [PAY_CANCELLED] = "cancelled",
    [PAY_EXPIRED] = "expired",	   [PAY_UNKNOWN] = "unknown",	  [PAY_REFUNDED] = "refunded",
    [PAY_REVERSED] = "reversed",
};

const char *pay_state_name(enum pay_state s)
{
	return (unsigned)s < PAY_STATE_COUNT ? state_names[s] : "invalid";
}

int pay_state_parse(const char *name, enum pay_state *out)
{
	for (unsigned i = 0; name && i < PAY_STATE_COUNT; i++)
		if (!strcmp(name, state_names[i])) {
			*out = (enum pay_state)i;
			return 0;
		}
	return GW_EINVAL;
}

#define B(s) (1u << (s))
/* Allowed next states; the same table as payment_transition_ok() in SQL. */
static const unsigned next_states[PAY_STATE_COUNT] = {
    [PAY_CREATED] = B(PAY_REQUESTED) | B(PAY_FAILED) | B(PAY_EXPIRED) | B(PAY_UNKNOWN),
    [PAY_REQUESTED] = B(PAY_PENDING) | B(PAY_SUCCEEDED) | B(PAY_FAILED) | B(PAY_CANCELLED) |
		      B(PAY_EXPIRED) | B(PAY_UNKNOWN),
    [PAY_PENDING] =
	B(PAY_SUCCEEDED) | B(PAY_FAILED) | B(PAY_CANCELLED) | B(PAY_EXPIRED) | B(PAY_UNKNOWN),
    [PAY_UNKNOWN] = B(PAY_SUCCEEDED) | B(PAY_FAILED) | B(PAY_CANCELLED) | B(PAY_EXPIRED),
    [PAY_FAILED] = B(PAY_SUCCEEDED),
    [PAY_CANCELLED] = B(PAY_SUCCEEDED),
    [PAY_EXPIRED] = B(PAY_SUCCEEDED),
    [PAY_SUCCEEDED] = B(PAY_REFUNDED) | B(PAY_REVERSED),
};

bool pay_transition_ok(enum pay_state from, enum pay_state to)
{
	return (unsigned)from < PAY_STATE_COUNT && (unsigned)to < PAY_STATE_COUNT &&
	       (next_states[from] & B(to));
}

bool pay_state_settled(enum pay_state s)
{
	return s == PAY_SUCCEEDED || s == PAY_FAILED || s == PAY_CANCELLED || s == PAY_EXPIRED ||
	       s == PAY_REFUNDED || s == PAY_REVERSED;
}

static const char *const create_names[] = {"created", "existing", "velocity", "daily_cap",
					   "mismatch"};
const char *payment_create_outcome_name(enum payment_create_outcome o)
{
	return (unsigned)o < 5 ? create_names[o] : "invalid";
}

static const char *const advance_names[] = {"moved", "same", "refused", "conflict", "missing"};
const char *payment_advance_outcome_name(enum payment_advance_outcome o)
{
	return (unsigned)o < 5 ? advance_names[o] : "invalid";
}

void payment_token_hash(const char *token, char out[65])
{
	uint8_t h[32];
	crypto_sha256(token, strlen(token), h);
	crypto_hex(h, sizeof(h), out);
	out[64] = '\0';
}

/* ---- statements ---------------------------------------------------------- */

#define ROW_COLS                                                                                   \
	"id::text, session_id, step, provider, state, amount_minor, currency::text, msisdn, "      \
	"account_ref, coalesce(provider_ref, ''), coalesce(receipt, ''), "                         \
	"coalesce(result_code, ''), needs_review, coalesce(review_reason, ''), "                   \
	"(extract(epoch from created_at) * 1000)::bigint, "                                        \
	"(extract(epoch from updated_at) * 1000)::bigint"

static const struct {
	const char *name, *sql;
	int nparams;
} stmts[] = {
    {"pay_create",
     "SELECT outcome, id::text, state, coalesce(provider_ref, '') FROM payment_create("
     "$1::uuid, $2, $3::integer, $4, $5::bigint, $6, $7, $8, $9, $10::bigint, $11::integer, "
     "$12::integer, $13::bigint)",
     13},
    {"pay_advance",
     "SELECT outcome, old_state, new_state, session_id, amount_minor, currency, msisdn, "
     "account_ref, coalesce(receipt, '') FROM payment_advance($1::uuid, $2::text[], $3, $4, "
     "$5, $6, $7, $8, $9::bigint)",
     9},
    {"pay_by_token", "SELECT " ROW_COLS " FROM payment WHERE callback_hash = $1", 1},
    {"pay_by_id", "SELECT " ROW_COLS " FROM payment WHERE id = $1::uuid", 1},
    {"pay_list_stale",
     "SELECT " ROW_COLS " FROM payment WHERE (state IN ('created', 'requested', 'pending') "
     "AND updated_at < to_timestamp($1::bigint / 1000.0)) OR ($2::bigint > 0 AND "
     "state IN ('expired', 'unknown') AND provider_ref IS NOT NULL AND "
     "updated_at >= to_timestamp(($1::bigint - $2::bigint) / 1000.0)) "
     "ORDER BY updated_at LIMIT $3::integer",
     3},
    {"pay_list_review",
     "SELECT " ROW_COLS " FROM payment WHERE needs_review OR state = 'unknown' "
     "ORDER BY updated_at DESC LIMIT $1::integer",
     1},
    {"pay_callback",
     "SELECT outcome FROM payment_callback_record($1::uuid, $2, $3, $4, $5::bigint)", 5},
};

int payment_db_prepare(struct store_pg *pg)
{
	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		int rc = store_pg_statement(pg, stmts[i].name, stmts[i].sql, stmts[i].nparams);
		if (rc)
			return rc;
	}
	return 0;
}

static int qs_err(const struct store_pg_result *r)
{
	if (r->status >= 0)
		return 0;
	if (r->err)
		return r->err;
	return r->status == STORE_PG_RETRY ? GW_EAGAIN : GW_EIO;
}

static void log_fail(const char *what, const struct store_pg_result *r)
{
	LOGP(DPAY, LOG_ERROR, "%s: %s %s (%s)", what, store_pg_qs_name(r->status), r->sqlstate,
	     r->message);
}

/* One small context per query: the caller's callback and its closure. */
struct qctx {
	void (*cb)(void);
	void *cls;
};

static struct qctx *qctx_new(void (*cb)(void), void *cls)
{
	struct qctx *q = malloc(sizeof(*q));
	if (q) {
		q->cb = cb;
		q->cls = cls;
	}
	return q;
}

static int run(struct store_pg *pg, const char *name, int n, const char *const *v, store_pg_cb done,
	       struct qctx *q)
{
	if (!q)
		return GW_ENOMEM;
	int rc = store_pg_exec(pg, name, n, v, NULL, NULL, 0, done, q);
	if (rc)
		free(q);
	return rc;
}

/* create */

static void create_done(void *cls, const struct store_pg_result *r)
{
	struct qctx *q = cls;
	payment_create_cb cb = (payment_create_cb)q->cb;
	void *ucls = q->cls;
	free(q);
	int err = qs_err(r);
	if (err || !r->res || PQntuples(r->res) != 1) {
		if (err)
			log_fail("payment create", r);
		cb(ucls, err ? err : GW_EIO, PAYMENT_MISMATCH, NULL, PAY_CREATED, NULL);
		return;
	}
	const char *o = PQgetvalue(r->res, 0, 0);
	enum payment_create_outcome oc = PAYMENT_MISMATCH;
	for (unsigned i = 0; i < 5; i++)
		if (!strcmp(o, create_names[i]))
			oc = (enum payment_create_outcome)i;
	enum pay_state st = PAY_CREATED;
	if (!PQgetisnull(r->res, 0, 2))
		pay_state_parse(PQgetvalue(r->res, 0, 2), &st);
	cb(ucls, 0, oc, PQgetisnull(r->res, 0, 1) ? NULL : PQgetvalue(r->res, 0, 1), st,
	   PQgetisnull(r->res, 0, 3) ? "" : PQgetvalue(r->res, 0, 3));
}

int payment_db_create(struct store_pg *pg, const char *id, const struct pay_intent *in,
		      const char *token_hash, const struct payment_limits *lim,
		      payment_create_cb cb, void *cls)
{
	char step[16], amount[24], now[24], ws[16], wm[16], cap[24];
	snprintf(step, sizeof(step), "%u", in->step);
	snprintf(amount, sizeof(amount), "%lld", (long long)in->amount_minor);
	snprintf(now, sizeof(now), "%lld", (long long)gw_now_ms());
	snprintf(ws, sizeof(ws), "%u", lim ? lim->window_s : 0);
	snprintf(wm, sizeof(wm), "%u", lim ? lim->window_max : 0);
	snprintf(cap, sizeof(cap), "%lld", (long long)(lim ? lim->daily_cap_minor : 0));
	const char *v[13] = {
	    id,		in->session_id,	 step,	     in->provider, amount, in->currency,
	    in->msisdn, in->account_ref, token_hash, now,	   ws,	   wm,
	    cap};
	return run(pg, "pay_create", 13, v, create_done, qctx_new((void (*)(void))cb, cls));
}

/* advance */

static void advance_done(void *cls, const struct store_pg_result *r)
{
	struct qctx *q = cls;
	payment_advance_cb cb = (payment_advance_cb)q->cb;
	void *ucls = q->cls;
	free(q);
	int err = qs_err(r);
	if (err || !r->res || PQntuples(r->res) != 1) {
		if (err)
			log_fail("payment advance", r);
		cb(ucls, err ? err : GW_EIO, NULL);
		return;
	}
	const PGresult *p = r->res;
	struct payment_advance_res a = {.outcome = PAYMENT_MISSING};
	const char *o = PQgetvalue(p, 0, 0);
	for (unsigned i = 0; i < 5; i++)
		if (!strcmp(o, advance_names[i]))
			a.outcome = (enum payment_advance_outcome)i;
	if (a.outcome != PAYMENT_MISSING) {
		pay_state_parse(PQgetvalue(p, 0, 1), &a.old_state);
		pay_state_parse(PQgetvalue(p, 0, 2), &a.new_state);
		a.session_id = PQgetvalue(p, 0, 3);
		a.amount_minor = strtoll(PQgetvalue(p, 0, 4), NULL, 10);
		a.currency = PQgetvalue(p, 0, 5);
		a.msisdn = PQgetvalue(p, 0, 6);
		a.account_ref = PQgetvalue(p, 0, 7);
		a.receipt = PQgetvalue(p, 0, 8);
	}
	cb(ucls, 0, &a);
}

int payment_db_advance(struct store_pg *pg, const char *id, const struct payment_move *mv,
		       payment_advance_cb cb, void *cls)
{
	char from[256] = "";
	if (mv->from) {
		size_t l = 0;
		from[l++] = '{';
		for (size_t i = 0; i < mv->n_from; i++)
			l += (size_t)snprintf(from + l, sizeof(from) - l, "%s%s", i ? "," : "",
					      pay_state_name(mv->from[i]));
		snprintf(from + l, sizeof(from) - l, "}");
	}
	char now[24];
	snprintf(now, sizeof(now), "%lld", (long long)gw_now_ms());
	const char *v[9] = {id,
			    mv->from ? from : NULL,
			    pay_state_name(mv->to),
			    mv->provider_ref && *mv->provider_ref ? mv->provider_ref : NULL,
			    mv->receipt && *mv->receipt ? mv->receipt : NULL,
			    mv->result_code && *mv->result_code ? mv->result_code : NULL,
			    mv->result_desc && *mv->result_desc ? mv->result_desc : NULL,
			    mv->review_reason,
			    now};
	return run(pg, "pay_advance", 9, v, advance_done, qctx_new((void (*)(void))cb, cls));
}

/* rows */

static void row_read(const PGresult *p, int i, struct payment_row *w)
{
	memset(w, 0, sizeof(*w));
#define CP(dst, col) snprintf(dst, sizeof(dst), "%s", PQgetvalue(p, i, col))
	CP(w->id, 0);
	CP(w->session_id, 1);
	w->step = (unsigned)strtoul(PQgetvalue(p, i, 2), NULL, 10);
	CP(w->provider, 3);
	pay_state_parse(PQgetvalue(p, i, 4), &w->state);
	w->amount_minor = strtoll(PQgetvalue(p, i, 5), NULL, 10);
	CP(w->currency, 6);
	CP(w->msisdn, 7);
	CP(w->account_ref, 8);
	CP(w->provider_ref, 9);
	CP(w->receipt, 10);
	CP(w->result_code, 11);
	w->needs_review = PQgetvalue(p, i, 12)[0] == 't';
	CP(w->review_reason, 13);
	w->created_ms = strtoll(PQgetvalue(p, i, 14), NULL, 10);
	w->updated_ms = strtoll(PQgetvalue(p, i, 15), NULL, 10);
#undef CP
}

static void rows_done(void *cls, const struct store_pg_result *r)
{
	struct qctx *q = cls;
	payment_rows_cb cb = (payment_rows_cb)q->cb;
	void *ucls = q->cls;
	free(q);
	int err = qs_err(r);
	if (err) {
		log_fail("payment read", r);
		cb(ucls, err, NULL, 0);
		return;
	}
	int n = r->res ? PQntuples(r->res) : 0;
	struct payment_row *rows = n ? calloc((size_t)n, sizeof(*rows)) : NULL;
	if (n && !rows) {
		cb(ucls, GW_ENOMEM, NULL, 0);
		return;
	}
	for (int i = 0; i < n; i++)
		row_read(r->res, i, &rows[i]);
	cb(ucls, 0, rows, (size_t)n);
	free(rows);
}

int payment_db_by_token(struct store_pg *pg, const char *token_hash, payment_rows_cb cb, void *cls)
{
	const char *v[1] = {token_hash};
	return run(pg, "pay_by_token", 1, v, rows_done, qctx_new((void (*)(void))cb, cls));
}

int payment_db_by_id(struct store_pg *pg, const char *id, payment_rows_cb cb, void *cls)
{
	const char *v[1] = {id};
	return run(pg, "pay_by_id", 1, v, rows_done, qctx_new((void (*)(void))cb, cls));
}

int payment_db_list_stale(struct store_pg *pg, int64_t older_than_ms, int64_t late_window_ms,
			  unsigned limit, payment_rows_cb cb, void *cls)
{
	char a[24], b[24], c[16];
	snprintf(a, sizeof(a), "%lld", (long long)older_than_ms);
	snprintf(b, sizeof(b), "%lld", (long long)late_window_ms);
	snprintf(c, sizeof(c), "%u", limit);
	const char *v[3] = {a, b, c};
	return run(pg, "pay_list_stale", 3, v, rows_done, qctx_new((void (*)(void))cb, cls));
}

int payment_db_list_review(struct store_pg *pg, unsigned limit, payment_rows_cb cb, void *cls)
{
	char c[16];
	snprintf(c, sizeof(c), "%u", limit);
	const char *v[1] = {c};
	return run(pg, "pay_list_review", 1, v, rows_done, qctx_new((void (*)(void))cb, cls));
}

/* callbacks */

static void callback_done(void *cls, const struct store_pg_result *r)
{
	struct qctx *q = cls;
	payment_callback_cb cb = (payment_callback_cb)q->cb;
	void *ucls = q->cls;
	free(q);
	int err = qs_err(r);
	if (err || !r->res || PQntuples(r->res) != 1) {
		if (err)
			log_fail("payment callback record", r);
		cb(ucls, err ? err : GW_EIO, false);
		return;
	}
	cb(ucls, 0, !strcmp(PQgetvalue(r->res, 0, 0), "duplicate"));
}

int payment_db_callback_record(struct store_pg *pg, const char *id, const char *provider_ref,
			       const char *result_code, const char *remote, payment_callback_cb cb,
			       void *cls)
{
	char now[24];
	snprintf(now, sizeof(now), "%lld", (long long)gw_now_ms());
	const char *v[5] = {id, provider_ref, result_code, remote, now};
	return run(pg, "pay_callback", 5, v, callback_done, qctx_new((void (*)(void))cb, cls));
}
