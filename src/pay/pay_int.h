/* pay/ internals shared by the files of the area (not a public API). */
#ifndef USSDGW_PAY_INT_H
#define USSDGW_PAY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "ussdgw/pay.h"
#include "ussdgw/payment.h"

struct store_pg;
struct http_req;

/** Every provider client starts with this. */
struct pay_provider {
	const struct pay_provider_ops *ops;
	char name[40];
};

#define PAY_MAX_PROVIDERS 8
#define PAY_MAX_SOURCES	  32

/** One configured provider with its gateway-side settings. */
struct pay_prov {
	struct pay_provider *p;
	char name[33];
	char currency[4];
	char callback_base[256];
	char sources[PAY_MAX_SOURCES][48]; /**< allowed callback source addresses */
	unsigned n_sources;
	/** webhook providers: the path token of /callbacks/<name>/<token> */
	char webhook_token[129];
	/* circuit breaker */
	unsigned breaker_threshold;
	unsigned breaker_open_ms;
	unsigned fails;
	int64_t open_until_ms;
	struct pay_svc *svc;
};

/** Test-only crash points (payments.test_crash_at). */
enum pay_crash {
	PAY_CRASH_NONE,
	PAY_CRASH_COMMITTED,
	PAY_CRASH_PUSHED,
	PAY_CRASH_STORED,
	PAY_CRASH_CALLBACK
};

struct pay_svc {
	struct ev_loop *loop;
	struct store_pg *pg;
	struct http_client *http;
	struct pay_prov prov[PAY_MAX_PROVIDERS];
	unsigned n_prov;
	struct payment_limits lim;
	/* reconciliation */
	ev_timer sweep;
	unsigned sweep_interval_s, query_after_s, expire_after_s, late_window_s, batch;
	unsigned sweep_busy;
	/* hooks */
	pay_settled_fn settled;
	void *settled_cls;
	pay_notify_fn notify;
	void *notify_cls;
	enum pay_crash crash_at;
	bool test_trigger;
	bool stopping;
	unsigned inflight; /**< intents and callback jobs in progress */
};

/** The running service (NULL when stopped). */
extern struct pay_svc *pay_svc_current;

struct pay_prov *pay_prov_find(struct pay_svc *s, const char *name);
/** Circuit breaker: may a new payment start? */
bool pay_breaker_allows(struct pay_prov *pv);
/** Report a call's class to the breaker. */
void pay_breaker_record(struct pay_prov *pv, enum pay_call_class c, int err);

/** Test hook: die like kill -9 when @p at is the configured crash point. */
void pay_crash_point(struct pay_svc *s, enum pay_crash at);

/** Audit a payment event (fire and forget: a failure is logged). */
void pay_audit(const char *payment_id, const char *session_id, const char *msisdn,
	       const char *event, const char *outcome, const char *k1, const char *v1,
	       const char *k2, const char *v2);

/**
 * Apply a state a provider reported for payment @p id: advance, audit, and
 * when the payment settles, call the settlement hook. @p review flags it.
 */
void pay_apply(struct pay_svc *s, struct pay_prov *pv, const char *id, enum pay_state to,
	       const enum pay_state *from, size_t n_from, const char *provider_ref,
	       const char *receipt, const char *code, const char *desc, const char *review,
	       const char *why);

/** pay_apply(), and once the move is committed, send @p link (kind @p kind)
 *  to the subscriber through the notify hook (pay_set_notify_handler()). */
void pay_apply_link(struct pay_svc *s, struct pay_prov *pv, const char *id, enum pay_state to,
		    const enum pay_state *from, size_t n_from, const char *provider_ref,
		    const char *receipt, const char *why, const char *kind, const char *link);

/** Confirm by a provider query, then apply (callbacks and reconciliation); a
 *  payment still pending at the provider is expired when @p expire_if_pending.
 *  @p cb_state / @p receipt: what a callback claimed (PAY_STATE_COUNT: none). */
void pay_confirm(struct pay_svc *s, struct pay_prov *pv, const char *id, const char *ref,
		 enum pay_state cb_state, const char *receipt, bool expire_if_pending);

/** callbacks.c: the public listener's handler for provider @p pv. */
int pay_callback_http(struct http_req *req, const char *token, void *cls);

/* ---- provider_util.c: shared by the provider clients ---- */

/** Check a provider base URL (https; plain http only on loopback), copy it
 *  without a trailing '/'. @return 0 or GW_ECONFIG (logged). */
int pay_base_url(const char *name, const char *url, char *out, size_t n, bool *loopback);
/** Read a secret file (0600), trailing newlines cut. Free with secfile_free(). */
int pay_read_secret(const char *path, char **out, size_t *len);
/** Backoff for attempt @p n: 500 ms doubling to 5 s, jitter into the upper half. */
double pay_backoff_s(unsigned n);
/** Copy a JSON string member into @p out; false when absent, not a string or too long. */
bool pay_jcopy(json_t *o, const char *key, char *out, size_t n);
/** Copies of a result's strings, so the result outlives the op that held them. */
struct pay_result_strings {
	char ref[96], code[64], desc[128], receipt[64], link[512];
};
/** Point @p r's strings at copies in @p keep (the op they lived in is about to be freed). */
void pay_result_detach(struct pay_result *r, struct pay_result_strings *keep);

struct http_result;
/**
 * Read an OAuth-style token answer ({"access_token", "expires_in"}) into
 * @p token, and the time to refresh it into @p expires_ms: @p early_s before
 * expiry for long lifetimes, at 90 % of a lifetime of ten minutes or less.
 * @return 0, the transport error, GW_EPERM (401), GW_EPEER_STATUS (other
 * status) or GW_EPROTO_MALFORMED; @p token is emptied on failure. Logs as @p name.
 */
int pay_token_answer(const char *name, const struct http_result *res, long long early_s,
		     char *token, size_t token_sz, int64_t *expires_ms);
/** Form-encode @p v (application/x-www-form-urlencoded) into @p out. */
int pay_form_escape(const char *v, char *out, size_t n);

/** reconcile.c */
void pay_reconcile_start(struct pay_svc *s);
void pay_reconcile_stop(struct pay_svc *s);
void pay_reconcile_now(struct pay_svc *s);

#endif
