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

/** Confirm by a provider query, then apply (callbacks and reconciliation); a
 *  payment still pending at the provider is expired when @p expire_if_pending.
 *  @p cb_state / @p receipt: what a callback claimed (PAY_STATE_COUNT: none). */
void pay_confirm(struct pay_svc *s, struct pay_prov *pv, const char *id, const char *ref,
		 enum pay_state cb_state, const char *receipt, bool expire_if_pending);

/** callbacks.c: the public listener's handler for provider @p pv. */
int pay_callback_http(struct http_req *req, const char *token, void *cls);

/** reconcile.c */
void pay_reconcile_start(struct pay_svc *s);
void pay_reconcile_stop(struct pay_svc *s);
void pay_reconcile_now(struct pay_svc *s);

#endif
