/* The payments service: providers from config, pay_intent_start(), state
 * application with audit and settlement, circuit breaker, admin routes. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "pay_int.h"
#include "ussdgw/audit.h"
#include "ussdgw/clock.h"
#include "ussdgw/config.h"
#include "ussdgw/crypto.h"
#include "ussdgw/daemon.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/http_callbacks.h"
#include "ussdgw/http_client.h"
#include "ussdgw/http_listeners.h"
#include "ussdgw/http_server.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"
#include "ussdgw/msisdn.h"
#include "ussdgw/pay_momo.h"
#include "ussdgw/pay_mpesa.h"
#include "ussdgw/pay_paypal.h"
#include "ussdgw/pay_stripe.h"
#include "ussdgw/store_pg.h"

struct pay_svc *pay_svc_current;

static const struct pay_provider_ops *const builtin[] = {&pay_mpesa_ops, &pay_stripe_ops,
							 &pay_paypal_ops, &pay_momo_ops};

const struct pay_provider_ops *pay_provider_ops_find(const char *type)
{
	for (size_t i = 0; type && i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (!strcmp(builtin[i]->type, type))
			return builtin[i];
	return NULL;
}

static const char *const class_names[] = {"OK",	     "REFUSED",	  "AMBIGUOUS",
					  "PENDING", "TRANSIENT", "NOTFOUND"};
const char *pay_call_class_name(enum pay_call_class c)
{
	return (unsigned)c < 6 ? class_names[c] : "invalid";
}

struct pay_prov *pay_prov_find(struct pay_svc *s, const char *name)
{
	for (unsigned i = 0; s && name && i < s->n_prov; i++)
		if (!strcmp(s->prov[i].name, name))
			return &s->prov[i];
	return NULL;
}

/* ---- circuit breaker ----------------------------------------------------- */

bool pay_breaker_allows(struct pay_prov *pv)
{
	if (pv->fails < pv->breaker_threshold)
		return true;
	/* Open; after the window one trial goes through (half-open). */
	if (gw_now_ms() >= pv->open_until_ms) {
		pv->open_until_ms = gw_now_ms() + pv->breaker_open_ms;
		return true;
	}
	return false;
}

void pay_breaker_record(struct pay_prov *pv, enum pay_call_class c, int err)
{
	bool bad = c == PAY_CALL_AMBIGUOUS || c == PAY_CALL_TRANSIENT ||
		   (c == PAY_CALL_REFUSED &&
		    (err == GW_ETHROTTLED || err == GW_ECONNREFUSED || err == GW_EPERM));
	if (!bad) {
		if (pv->fails >= pv->breaker_threshold)
			LOGP(DPAY, LOG_NOTICE, "%s: circuit closed", pv->name);
		pv->fails = 0;
		return;
	}
	if (++pv->fails == pv->breaker_threshold) {
		pv->open_until_ms = gw_now_ms() + pv->breaker_open_ms;
		LOGP(DPAY, LOG_ERROR, "%s: circuit open for %u ms after %u failures", pv->name,
		     pv->breaker_open_ms, pv->fails);
	}
}

/* ---- test crash points --------------------------------------------------- */

static const char *const crash_names[] = {"none", "committed", "pushed", "stored", "callback"};

void pay_crash_point(struct pay_svc *s, enum pay_crash at)
{
	if (s && s->crash_at == at && at != PAY_CRASH_NONE) {
		LOGP(DPAY, LOG_ERROR, "payments.test_crash_at=%s: killing the process",
		     crash_names[at]);
		raise(SIGKILL);
	}
}

/* ---- audit and settlement ------------------------------------------------ */

static void audit_done(void *cls, int rc)
{
	(void)cls;
	if (rc)
		LOGP(DPAY, LOG_ERROR, "payment audit record not durable: %s", gw_strerror(rc));
}

void pay_audit(const char *payment_id, const char *session_id, const char *msisdn,
	       const char *event, const char *outcome, const char *k1, const char *v1,
	       const char *k2, const char *v2)
{
	struct audit_var vars[2];
	size_t n = 0;
	if (k1 && v1)
		vars[n++] = (struct audit_var){k1, v1, false};
	if (k2 && v2)
		vars[n++] = (struct audit_var){k2, v2, false};
	struct audit_record rec = {
	    .kind = AUDIT_PAYMENT_STATE,
	    .session_id = session_id && *session_id ? session_id : NULL,
	    .payment_id = payment_id,
	    .msisdn = msisdn && *msisdn ? msisdn : NULL,
	    .event = event,
	    .outcome = outcome,
	    .actor = "system",
	    .vars = vars,
	    .n_vars = n,
	};
	int rc = audit_append(&rec, audit_done, NULL);
	if (rc)
		LOGP(DPAY, LOG_ERROR, "payment %s %s: audit refused: %s", payment_id, event,
		     gw_strerror(rc));
}

struct apply_ctx {
	struct pay_svc *s;
	char provider[33];
	char id[37];
	char why[48];
	char receipt[32];
	char kind[16];
	char link[512];
};

static void notify_link(struct pay_svc *s, struct apply_ctx *a, const struct payment_advance_res *r)
{
	struct pay_notice n = {
	    .payment_id = a->id,
	    .session_id = r->session_id,
	    .provider = a->provider,
	    .msisdn = r->msisdn,
	    .kind = a->kind,
	    .url = a->link,
	};
	if (s->notify) {
		s->notify(s->notify_cls, &n);
		pay_audit(a->id, r->session_id, r->msisdn, "link", "handed_to_sms", "kind", a->kind,
			  NULL, NULL);
	} else {
		/* The SMS egress is not wired yet: say so, never print the URL
		 * (it lets its holder act on the payment). */
		LOGP(DPAY, LOG_NOTICE,
		     "payment %s: %s link for the subscriber not sent: no notify handler installed",
		     a->id, a->kind);
		pay_audit(a->id, r->session_id, r->msisdn, "link", "not_sent", "kind", a->kind,
			  "why", "no notify handler");
	}
}

static void apply_done(void *cls, int err, const struct payment_advance_res *r)
{
	struct apply_ctx *a = cls;
	struct pay_svc *s = a->s;
	s->inflight--;
	if (err) {
		LOGP(DPAY, LOG_ERROR,
		     "payment %s: state change (%s) not stored: %s; the sweep retries", a->id,
		     a->why, gw_strerror(err));
		free(a);
		return;
	}
	if (r->outcome != PAYMENT_MOVED) {
		LOGP(DPAY, r->outcome == PAYMENT_CONFLICT ? LOG_ERROR : LOG_INFO,
		     "payment %s: %s -> %s %s (%s)", a->id, pay_state_name(r->old_state),
		     pay_state_name(r->new_state), payment_advance_outcome_name(r->outcome),
		     a->why);
		if (r->outcome == PAYMENT_CONFLICT)
			pay_audit(a->id, r->session_id, r->msisdn, "conflict", "refused", "why",
				  a->why, NULL, NULL);
		free(a);
		return;
	}
	bool late = r->new_state == PAY_SUCCEEDED &&
		    (r->old_state == PAY_EXPIRED || r->old_state == PAY_FAILED ||
		     r->old_state == PAY_CANCELLED || r->old_state == PAY_UNKNOWN);
	LOGP(DPAY, late ? LOG_NOTICE : LOG_INFO, "payment %s: %s -> %s (%s)%s", a->id,
	     pay_state_name(r->old_state), pay_state_name(r->new_state), a->why,
	     late ? ": late success, flagged for review" : "");
	pay_audit(a->id, r->session_id, r->msisdn, pay_state_name(r->new_state),
		  late ? "late" : "ok", "from", pay_state_name(r->old_state), "why", a->why);
	if (r->new_state == PAY_PENDING)
		pay_crash_point(s, PAY_CRASH_STORED);
	if (a->link[0])
		notify_link(s, a, r);
	if (pay_state_settled(r->new_state)) {
		struct pay_settlement st = {
		    .payment_id = a->id,
		    .session_id = r->session_id,
		    .provider = a->provider,
		    .msisdn = r->msisdn,
		    .amount_minor = r->amount_minor,
		    .currency = r->currency,
		    .account_ref = r->account_ref,
		    .state = r->new_state,
		    .receipt = r->receipt ? r->receipt : "",
		    .late = late,
		};
		if (s->settled)
			s->settled(s->settled_cls, &st);
		else
			LOGP(DPAY, LOG_NOTICE,
			     "payment %s settled %s (receipt %s): no receipt SMS, no settlement "
			     "handler installed",
			     a->id, pay_state_name(r->new_state), st.receipt[0] ? st.receipt : "-");
	}
	free(a);
}

static void apply_ex(struct pay_svc *s, struct pay_prov *pv, const char *id, enum pay_state to,
		     const enum pay_state *from, size_t n_from, const char *provider_ref,
		     const char *receipt, const char *code, const char *desc, const char *review,
		     const char *why, const char *kind, const char *link)
{
	struct apply_ctx *a = calloc(1, sizeof(*a));
	if (!a)
		return;
	if (link && *link && strlen(link) < sizeof(a->link)) {
		snprintf(a->kind, sizeof(a->kind), "%s", kind ? kind : "link");
		snprintf(a->link, sizeof(a->link), "%s", link);
	}
	a->s = s;
	snprintf(a->provider, sizeof(a->provider), "%s", pv ? pv->name : "");
	snprintf(a->id, sizeof(a->id), "%s", id);
	snprintf(a->why, sizeof(a->why), "%s", why ? why : "");
	struct payment_move mv = {
	    .from = from,
	    .n_from = n_from,
	    .to = to,
	    .provider_ref = provider_ref,
	    .receipt = receipt,
	    .result_code = code,
	    .result_desc = desc,
	    .review_reason = review,
	};
	s->inflight++;
	if (payment_db_advance(s->pg, id, &mv, apply_done, a)) {
		s->inflight--;
		LOGP(DPAY, LOG_ERROR, "payment %s: cannot send the state change (%s)", id, a->why);
		free(a);
	}
}

void pay_apply(struct pay_svc *s, struct pay_prov *pv, const char *id, enum pay_state to,
	       const enum pay_state *from, size_t n_from, const char *provider_ref,
	       const char *receipt, const char *code, const char *desc, const char *review,
	       const char *why)
{
	apply_ex(s, pv, id, to, from, n_from, provider_ref, receipt, code, desc, review, why, NULL,
		 NULL);
}

void pay_apply_link(struct pay_svc *s, struct pay_prov *pv, const char *id, enum pay_state to,
		    const enum pay_state *from, size_t n_from, const char *provider_ref,
		    const char *receipt, const char *why, const char *kind, const char *link)
{
	apply_ex(s, pv, id, to, from, n_from, provider_ref, receipt, NULL, NULL, NULL, why, kind,
		 link);
}

/* ---- confirmation by query ----------------------------------------------- */

struct confirm_ctx {
	struct pay_svc *s;
	struct pay_prov *pv;
	char id[37];
	char ref[96];
	enum pay_state cb_state;
	char receipt[32];
	bool expire_if_pending;
};

static const enum pay_state open_states[] = {PAY_CREATED, PAY_REQUESTED, PAY_PENDING, PAY_UNKNOWN};

static void confirm_done(void *cls, const struct pay_result *r)
{
	struct confirm_ctx *c = cls;
	struct pay_svc *s = c->s;
	s->inflight--;
	pay_breaker_record(c->pv, r->cls, r->err);
	switch (r->cls) {
	case PAY_CALL_OK:
		if (r->state == PAY_SUCCEEDED) {
			/* Any state may be lifted to succeeded (late success); a paid
			 * result is never downgraded, the SQL refuses that. */
			pay_apply(s, c->pv, c->id, PAY_SUCCEEDED, NULL, 0, c->ref,
				  c->receipt[0] ? c->receipt
						: (r->receipt && *r->receipt ? r->receipt : NULL),
				  r->result_code, r->result_desc, NULL, "confirmed by query");
		} else if (c->cb_state == PAY_SUCCEEDED) {
			/* The callback says paid (with a receipt), the query says not:
			 * neither fulfil nor fail; a person decides. */
			pay_apply(s, c->pv, c->id, PAY_UNKNOWN, open_states, 4, c->ref, NULL,
				  r->result_code, r->result_desc, "callback and query disagree",
				  "callback and query disagree");
		} else {
			pay_apply(s, c->pv, c->id, r->state, open_states, 4, c->ref, NULL,
				  r->result_code, r->result_desc, NULL, "query");
		}
		break;
	case PAY_CALL_PENDING:
		if (c->expire_if_pending)
			pay_apply(s, c->pv, c->id, PAY_EXPIRED, open_states, 3, c->ref, NULL, NULL,
				  "still pending at the cut-off", NULL, "cut-off");
		else
			LOGP(DPAY, LOG_INFO, "payment %s: still pending at %s", c->id, c->pv->name);
		break;
	case PAY_CALL_NOTFOUND:
		if (c->expire_if_pending)
			pay_apply(s, c->pv, c->id, PAY_UNKNOWN, open_states, 3, c->ref, NULL, NULL,
				  "provider does not know the reference",
				  "provider does not know the reference", "cut-off");
		else
			LOGP(DPAY, LOG_NOTICE, "payment %s: %s does not know the reference", c->id,
			     c->pv->name);
		break;
	default:
		if (c->expire_if_pending)
			pay_apply(s, c->pv, c->id, PAY_EXPIRED, open_states, 3, c->ref, NULL, NULL,
				  "provider unreachable at the cut-off",
				  "provider unreachable at the cut-off", "cut-off");
		else
			LOGP(DPAY, LOG_NOTICE, "payment %s: query %s (%s); the sweep asks again",
			     c->id, pay_call_class_name(r->cls), gw_strerror(r->err));
		break;
	}
	free(c);
}

void pay_confirm(struct pay_svc *s, struct pay_prov *pv, const char *id, const char *ref,
		 enum pay_state cb_state, const char *receipt, bool expire_if_pending)
{
	struct confirm_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->s = s;
	c->pv = pv;
	snprintf(c->id, sizeof(c->id), "%s", id);
	snprintf(c->ref, sizeof(c->ref), "%s", ref);
	c->cb_state = cb_state;
	snprintf(c->receipt, sizeof(c->receipt), "%s", receipt ? receipt : "");
	c->expire_if_pending = expire_if_pending;
	s->inflight++;
	if (!pv->p->ops->query(pv->p, ref, confirm_done, c)) {
		s->inflight--;
		LOGP(DPAY, LOG_ERROR, "payment %s: query not started", id);
		free(c);
	}
}

/* ---- pay_intent_start ---------------------------------------------------- */

struct intent {
	struct pay_svc *s;
	struct pay_prov *pv;
	struct pay_intent in;
	char provider[33], currency[4], msisdn[16], account_ref[65], session_id[129];
	char id[37];
	char token[65];
	pay_started_cb cb;
	void *cls;
	ev_timer defer;
	struct pay_started res;
	char reason[48];
};

static void intent_report_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct intent *it = w->data;
	it->s->inflight--;
	it->res.payment_id = it->id[0] ? it->id : NULL;
	it->res.reason = it->reason;
	it->cb(it->cls, &it->res);
	OPENSSL_cleanse(it->token, sizeof(it->token));
	free(it);
}

/* Report from the loop, never from inside pay_intent_start(). */
static void intent_report(struct intent *it, int err, enum pay_state st, bool replay,
			  const char *reason)
{
	it->res.err = err;
	it->res.state = st;
	it->res.replay = replay;
	snprintf(it->reason, sizeof(it->reason), "%s", reason ? reason : "");
	ev_timer_init(&it->defer, intent_report_cb, 0., 0.);
	it->defer.data = it;
	ev_timer_start(it->s->loop, &it->defer);
}

static void push_done(void *cls, const struct pay_result *r)
{
	char *id = cls;
	struct pay_svc *s = pay_svc_current;
	if (!s) {
		free(id);
		return;
	}
	s->inflight--;
	struct pay_prov *pv = pay_prov_find(s, id + 37);
	pay_crash_point(s, PAY_CRASH_PUSHED);
	pay_breaker_record(pv, r->cls, r->err);
	static const enum pay_state req[] = {PAY_REQUESTED};
	switch (r->cls) {
	case PAY_CALL_OK:
		if (r->state == PAY_SUCCEEDED || r->state == PAY_FAILED ||
		    r->state == PAY_CANCELLED)
			/* settled in the answer itself (a card charged at once) */
			pay_apply(s, pv, id, r->state, req, 1, r->provider_ref,
				  r->receipt && *r->receipt ? r->receipt : NULL, r->result_code,
				  r->result_desc, NULL, "settled in the provider's answer");
		else if (r->customer_link && *r->customer_link)
			pay_apply_link(s, pv, id, PAY_PENDING, req, 1, r->provider_ref, NULL,
				       "accepted, the subscriber must act",
				       r->link_kind ? r->link_kind : "approve", r->customer_link);
		else
			pay_apply(s, pv, id, PAY_PENDING, req, 1, r->provider_ref, NULL, NULL, NULL,
				  NULL, "accepted by the provider");
		break;
	case PAY_CALL_REFUSED:
		/* a decline may name the provider's object (Stripe's PaymentIntent):
		 * keep it, so its webhooks match the payment */
		pay_apply(s, pv, id, PAY_FAILED, req, 1,
			  r->provider_ref && *r->provider_ref ? r->provider_ref : NULL, NULL,
			  r->result_code[0] ? r->result_code : gw_errname(r->err),
			  r->result_desc[0] ? r->result_desc : gw_strerror(r->err), NULL,
			  "refused by the provider");
		break;
	default:
		/* May have been processed: never re-sent. The callback on this
		 * payment's token or the sweep resolves it. */
		LOGP(DPAY, LOG_NOTICE, "payment %s: request outcome unknown (%s, %s)", id,
		     pay_call_class_name(r->cls), gw_strerror(r->err));
		pay_audit(id, NULL, NULL, "request_ambiguous", gw_errslug(r->err), NULL, NULL, NULL,
			  NULL);
		break;
	}
	free(id);
}

static void intent_requested(void *cls, int err, const struct payment_advance_res *r)
{
	struct intent *it = cls;
	if (err) {
		/* The row stays created (nothing was sent); the sweep expires it. */
		intent_report(it, GW_EDEPENDENCY, PAY_CREATED, false, "database");
		return;
	}
	if (r->outcome != PAYMENT_MOVED) {
		/* Another attempt of the same step won the compare-and-set. */
		intent_report(it, 0, r->new_state, true, "concurrent");
		return;
	}
	pay_audit(it->id, it->session_id, it->msisdn, "requested", "ok", "provider", it->provider,
		  NULL, NULL);
	char url[512];
	snprintf(url, sizeof(url), "%s/callbacks/%s/%s", it->pv->callback_base, it->pv->name,
		 it->token);
	struct pay_request rq = {
	    .payment_id = it->id,
	    .amount_minor = it->in.amount_minor,
	    .currency = it->currency,
	    .msisdn = it->msisdn,
	    .account_ref = it->account_ref,
	    .callback_url = url,
	};
	/* id + provider name for the completion (the intent is gone by then) */
	char *key = malloc(37 + sizeof(it->provider));
	if (!key) {
		intent_report(it, GW_ENOMEM, PAY_REQUESTED, false, "memory");
		return;
	}
	memcpy(key, it->id, 37);
	memcpy(key + 37, it->provider, sizeof(it->provider));
	it->s->inflight++;
	struct pay_op *op = it->pv->p->ops->start(it->pv->p, &rq, push_done, key);
	OPENSSL_cleanse(url, sizeof(url));
	if (!op) {
		it->s->inflight--;
		free(key);
		static const enum pay_state req[] = {PAY_REQUESTED};
		pay_apply(it->s, it->pv, it->id, PAY_FAILED, req, 1, NULL, NULL, "invalid",
			  "request not valid for the provider", NULL, "not sent");
		intent_report(it, GW_EINVAL, PAY_FAILED, false, "not valid for the provider");
		return;
	}
	intent_report(it, 0, PAY_REQUESTED, false, "sent");
}

static void intent_created(void *cls, int err, enum payment_create_outcome o, const char *id,
			   enum pay_state st, const char *ref)
{
	(void)ref;
	struct intent *it = cls;
	if (err) {
		intent_report(it, GW_EDEPENDENCY, PAY_CREATED, false, "database");
		return;
	}
	switch (o) {
	case PAYMENT_VELOCITY:
	case PAYMENT_DAILY_CAP:
		it->id[0] = '\0';
		pay_audit("-", it->session_id, it->msisdn, "limit", payment_create_outcome_name(o),
			  "provider", it->provider, NULL, NULL);
		intent_report(it, GW_ETHROTTLED, PAY_CREATED, false,
			      payment_create_outcome_name(o));
		return;
	case PAYMENT_MISMATCH:
		snprintf(it->id, sizeof(it->id), "%s", id ? id : "");
		intent_report(it, GW_ECONFLICT, st, true, "mismatch");
		return;
	case PAYMENT_EXISTING:
		/* A re-sent step: never a second request. A row still in
		 * `created` was left by an attempt that died before sending
		 * (or is sending now); the sweep expires it if nothing went out. */
		snprintf(it->id, sizeof(it->id), "%s", id);
		intent_report(it, 0, st, true, "replay");
		return;
	case PAYMENT_CREATED:
		break;
	}
	pay_audit(it->id, it->session_id, it->msisdn, "created", "ok", "provider", it->provider,
		  "account_ref", it->account_ref);
	pay_crash_point(it->s, PAY_CRASH_COMMITTED);
	static const enum pay_state from[] = {PAY_CREATED};
	struct payment_move mv = {.from = from, .n_from = 1, .to = PAY_REQUESTED};
	if (payment_db_advance(it->s->pg, it->id, &mv, intent_requested, it))
		intent_report(it, GW_EDEPENDENCY, PAY_CREATED, false, "database");
}

static bool text_ok(const char *s, size_t max)
{
	if (!s || !*s || strlen(s) > max)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int pay_intent_start(const struct pay_intent *in, pay_started_cb cb, void *cls)
{
	struct pay_svc *s = pay_svc_current;
	if (!s || s->stopping)
		return GW_ESHUTDOWN;
	if (!in || !cb || !in->provider || !text_ok(in->session_id, 128) ||
	    !text_ok(in->account_ref, 64) || !in->currency || strlen(in->currency) != 3 ||
	    !msisdn_is_canonical(in->msisdn) || in->amount_minor <= 0)
		return GW_EINVAL;
	struct intent *it = calloc(1, sizeof(*it));
	if (!it)
		return GW_ENOMEM;
	it->s = s;
	it->cb = cb;
	it->cls = cls;
	snprintf(it->provider, sizeof(it->provider), "%s", in->provider);
	snprintf(it->currency, sizeof(it->currency), "%s", in->currency);
	snprintf(it->msisdn, sizeof(it->msisdn), "%s", in->msisdn);
	snprintf(it->account_ref, sizeof(it->account_ref), "%s", in->account_ref);
	snprintf(it->session_id, sizeof(it->session_id), "%s", in->session_id);
	it->in = *in;
	it->in.provider = it->provider;
	it->in.currency = it->currency;
	it->in.msisdn = it->msisdn;
	it->in.account_ref = it->account_ref;
	it->in.session_id = it->session_id;
	s->inflight++;
	it->pv = pay_prov_find(s, in->provider);
	char wire[32];
	if (!it->pv) {
		intent_report(it, GW_ENOENT, PAY_CREATED, false, "no such provider");
		return 0;
	}
	if (strcmp(it->currency, it->pv->currency) != 0 ||
	    (it->pv->p->ops->wire_amount &&
	     it->pv->p->ops->wire_amount(in->amount_minor, it->currency, wire, sizeof(wire)))) {
		intent_report(it, GW_EINVAL, PAY_CREATED, false, "amount or currency");
		return 0;
	}
	if (!pay_breaker_allows(it->pv)) {
		intent_report(it, GW_EDEPENDENCY, PAY_CREATED, false, "circuit open");
		return 0;
	}
	uint8_t rnd[32];
	if (crypto_uuid4(it->id) || crypto_random(rnd, sizeof(rnd))) {
		intent_report(it, GW_ENOMEM, PAY_CREATED, false, "random");
		return 0;
	}
	crypto_hex(rnd, sizeof(rnd), it->token);
	OPENSSL_cleanse(rnd, sizeof(rnd));
	char hash[65];
	payment_token_hash(it->token, hash);
	if (payment_db_create(s->pg, it->id, &it->in, hash, &s->lim, intent_created, it))
		intent_report(it, GW_EDEPENDENCY, PAY_CREATED, false, "database");
	return 0;
}

void pay_set_notify_handler(pay_notify_fn fn, void *cls)
{
	struct pay_svc *s = pay_svc_current;
	if (!s)
		return;
	s->notify = fn;
	s->notify_cls = cls;
}

void pay_set_settled_handler(pay_settled_fn fn, void *cls)
{
	struct pay_svc *s = pay_svc_current;
	if (!s)
		return;
	s->settled = fn;
	s->settled_cls = cls;
}

/* ---- service ------------------------------------------------------------- */

static int prov_setup(struct pay_svc *s, struct gw_node *node, const char *name, json_t *pc)
{
	if (s->n_prov >= PAY_MAX_PROVIDERS) {
		LOGP(DPAY, LOG_ERROR, "providers: at most %d", PAY_MAX_PROVIDERS);
		return GW_ECONFIG;
	}
	const struct pay_provider_ops *ops = pay_provider_ops_find(cfg_str(pc, "type"));
	if (!ops) {
		LOGP(DPAY, LOG_ERROR, "providers.%s.type: unknown", name);
		return GW_ECONFIG;
	}
	struct pay_prov *pv = &s->prov[s->n_prov];
	memset(pv, 0, sizeof(*pv));
	pv->svc = s;
	snprintf(pv->name, sizeof(pv->name), "%s", name);
	snprintf(pv->currency, sizeof(pv->currency), "%s", cfg_str(pc, "currency"));
	const char *cbb = cfg_str(pc, "callback_base_url");
	if (!cbb || !*cbb || strlen(cbb) >= sizeof(pv->callback_base)) {
		LOGP(DPAY, LOG_ERROR, "providers.%s.callback_base_url: required", name);
		return GW_ECONFIG;
	}
	snprintf(pv->callback_base, sizeof(pv->callback_base), "%s", cbb);
	size_t l = strlen(pv->callback_base);
	if (l && pv->callback_base[l - 1] == '/')
		pv->callback_base[l - 1] = '\0';
	json_t *src = cfg_get(pc, "allowed_sources");
	size_t i;
	json_t *e;
	json_array_foreach(src, i, e)
	{
		if (pv->n_sources >= PAY_MAX_SOURCES)
			break;
		snprintf(pv->sources[pv->n_sources++], 48, "%s", json_string_value(e));
	}
	const char *wt = cfg_str(pc, "webhook_token");
	if (ops->verify_webhook) {
		if (!wt || strlen(wt) < 16 || strlen(wt) >= sizeof(pv->webhook_token) ||
		    strspn(wt,
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
			strlen(wt)) {
			LOGP(DPAY, LOG_ERROR,
			     "providers.%s.webhook_token: 16-128 characters of [A-Za-z0-9_-]",
			     name);
			return GW_ECONFIG;
		}
		snprintf(pv->webhook_token, sizeof(pv->webhook_token), "%s", wt);
	}
	pv->breaker_threshold = (unsigned)cfg_int(pc, "breaker_failures");
	pv->breaker_open_ms = (unsigned)cfg_int(pc, "breaker_open_ms");
	int rc = ops->create(node->loop, s->http, name, pc, &pv->p);
	if (rc)
		return rc;
	rc = http_register_callback_handler(name, pay_callback_http, pv);
	if (rc) {
		ops->destroy(pv->p);
		return rc;
	}
	s->n_prov++;
	LOGP(DPAY, LOG_NOTICE, "provider %s (%s) at %s", name, ops->type, cfg_str(pc, "base_url"));
	return 0;
}

static void svc_free(struct pay_svc *s)
{
	pay_reconcile_stop(s);
	for (unsigned i = 0; i < s->n_prov; i++) {
		http_unregister_callback_handler(s->prov[i].name);
		s->prov[i].p->ops->destroy(s->prov[i].p);
	}
	if (s->http)
		http_client_free(s->http);
	if (pay_svc_current == s)
		pay_svc_current = NULL;
	free(s);
}

static void read_settings(struct pay_svc *s, const struct cfg *c)
{
	json_t *r = cfg_root(c);
	s->lim.window_s = (unsigned)cfg_int(r, "payments.velocity_window_s");
	s->lim.window_max = (unsigned)cfg_int(r, "payments.velocity_max");
	s->lim.daily_cap_minor = cfg_int(r, "payments.daily_cap_minor");
	s->sweep_interval_s = (unsigned)cfg_int(r, "payments.reconcile_interval_s");
	s->query_after_s = (unsigned)cfg_int(r, "payments.query_after_s");
	s->expire_after_s = (unsigned)cfg_int(r, "payments.expire_after_s");
	s->late_window_s = (unsigned)cfg_int(r, "payments.late_window_s");
	s->batch = (unsigned)cfg_int(r, "payments.reconcile_batch");
}

static int svc_start(struct gw_node *node, void **state)
{
	json_t *r = cfg_root(node->cfg);
	json_t *provs = cfg_get(r, "providers");
	if (!provs || json_object_size(provs) == 0) {
		*state = NULL;
		return 0; /* no providers: nothing to run */
	}
	struct store_pg *pg = daemon_service_state("postgres");
	if (!pg) {
		LOGP(DPAY, LOG_ERROR, "payments need PostgreSQL (postgres.dsn)");
		return GW_ECONFIG;
	}
	struct pay_svc *s = calloc(1, sizeof(*s));
	if (!s)
		return GW_ENOMEM;
	s->loop = node->loop;
	s->pg = pg;
	read_settings(s, node->cfg);
	const char *crash = cfg_str(r, "payments.test_crash_at");
	for (unsigned i = 0; crash && i < 5; i++)
		if (!strcmp(crash, crash_names[i]))
			s->crash_at = (enum pay_crash)i;
	s->test_trigger = cfg_bool(r, "payments.test_trigger");
	if (s->crash_at != PAY_CRASH_NONE || s->test_trigger)
		LOGP(DPAY, LOG_WARN, "payments test hooks on (test_trigger=%d test_crash_at=%s)",
		     s->test_trigger, crash_names[s->crash_at]);
	struct http_client_config hc = {.allow_insecure_loopback = true};
	s->http = http_client_new(node->loop, &hc);
	int rc = s->http ? payment_db_prepare(pg) : GW_ENOMEM;
	const char *name;
	json_t *pc;
	json_object_foreach(provs, name, pc)
	{
		if (rc)
			break;
		rc = prov_setup(s, node, name, pc);
	}
	if (rc) {
		svc_free(s);
		return rc;
	}
	pay_svc_current = s;
	pay_reconcile_start(s);
	*state = s;
	return 0;
}

static void svc_drain(struct gw_node *node, void *state)
{
	struct pay_svc *s = state;
	if (s)
		s->stopping = true;
	daemon_drained(node, "payments");
}

static void svc_stop(struct gw_node *node, void *state)
{
	(void)node;
	if (state)
		svc_free(state);
}

static void svc_reload(struct gw_node *node, void *state, const struct cfg *newcfg)
{
	(void)node;
	if (state)
		read_settings(state, newcfg);
}

const struct gw_service pay_service = {
    .name = "payments",
    .start = svc_start,
    .drain = svc_drain,
    .stop = svc_stop,
    .reload = svc_reload,
};
