/* Stripe client: PaymentIntents off-session, idempotent retries, webhook
 * verification (see pay_stripe.h). */
#include "ussdgw/pay_stripe.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "pay_int.h"
#include "ussdgw/clock.h"
#include "ussdgw/config.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/http_client.h"
#include "ussdgw/log.h"
#include "ussdgw/pay_webhook.h"
#include "ussdgw/secfile.h"

#define STRIPE_MAX_SECRETS 4

enum op_kind { OP_CREATE, OP_RETRIEVE, OP_CANCEL, OP_VERIFY };
static const char *const kind_names[] = {"create", "retrieve", "cancel", "verify"};

struct stripe;

struct pay_op {
	struct stripe *s;
	enum op_kind kind;
	pay_result_cb cb;
	void *cls;
	pay_verify_cb vcb;
	int verdict;
	char path[160];
	char *form;    /* POST body */
	char idem[72]; /* Idempotency-Key */
	char ref[96];
	struct http_call *call;
	ev_timer timer;
	unsigned attempt;
	int64_t deadline_ms;
	bool maybe_sent; /* an attempt may have reached Stripe */
	struct pay_op *next;
};

struct stripe {
	struct pay_provider base;
	struct ev_loop *loop;
	struct http_client *http;
	char base_url[256];
	bool loopback;
	char *sk;
	size_t sk_len;
	char *wh[STRIPE_MAX_SECRETS];
	size_t wh_len[STRIPE_MAX_SECRETS];
	unsigned n_wh;
	unsigned tolerance_s, timeout_ms, connect_timeout_ms, retry_budget_ms;
	json_t *methods;
	char action_url[256];
	struct pay_op *ops;
};

/* ---- event parsing (pure) ------------------------------------------------ */

static int64_t jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

int pay_stripe_parse_event(const char *body, size_t len, struct pay_webhook_event *out)
{
	memset(out, 0, sizeof(*out));
	out->amount_minor = -1;
	out->state = PAY_PENDING;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	int rc = GW_EPROTO_MALFORMED;
	json_t *obj = json_object_get(json_object_get(j, "data"), "object");
	if (!json_is_object(j) || !pay_jcopy(j, "id", out->event_id, sizeof(out->event_id)) ||
	    !pay_jcopy(j, "type", out->event_type, sizeof(out->event_type)) ||
	    strncmp(out->event_id, "evt_", 4) != 0 || !json_is_object(obj))
		goto out;
	const char *ob = json_string_value(json_object_get(obj, "object"));
	if (strncmp(out->event_type, "payment_intent.", 15) != 0 || !ob ||
	    strcmp(ob, "payment_intent") != 0) {
		rc = GW_ENOTSUP;
		goto out;
	}
	char cur[8] = "";
	if (!pay_jcopy(obj, "id", out->object_id, sizeof(out->object_id)) ||
	    strncmp(out->object_id, "pi_", 3) != 0 ||
	    !pay_jcopy(obj, "currency", cur, sizeof(cur)) || strlen(cur) != 3)
		goto out;
	memcpy(out->provider_ref, out->object_id, sizeof(out->object_id));
	for (int i = 0; i < 3; i++)
		out->currency[i] = (char)toupper((unsigned char)cur[i]);
	out->amount_minor = jint(obj, "amount");
	if (out->amount_minor <= 0)
		goto out;
	json_t *md = json_object_get(obj, "metadata");
	if (json_is_object(md) && json_object_get(md, "payment_id")) {
		char id[40];
		if (!pay_jcopy(md, "payment_id", id, sizeof(id)) || strlen(id) != 36)
			goto out;
		memcpy(out->payment_id, id, 37);
	}
	const char *t = out->event_type + 15;
	out->state = !strcmp(t, "succeeded")	    ? PAY_SUCCEEDED
		     : !strcmp(t, "payment_failed") ? PAY_FAILED
		     : !strcmp(t, "canceled")	    ? PAY_CANCELLED
						    : PAY_PENDING;
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* ---- ops ----------------------------------------------------------------- */

static void op_send(struct pay_op *op);
static void op_done(void *cls, const struct http_result *res);

static void op_free(struct pay_op *op)
{
	struct stripe *s = op->s;
	ev_timer_stop(s->loop, &op->timer);
	for (struct pay_op **pp = &s->ops; *pp; pp = &(*pp)->next)
		if (*pp == op) {
			*pp = op->next;
			break;
		}
	free(op->form);
	free(op);
}

static void op_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct pay_op *op = w->data;
	if (op->kind == OP_VERIFY) {
		pay_verify_cb cb = op->vcb;
		void *cls = op->cls;
		int v = op->verdict;
		op_free(op);
		cb(cls, v);
		return;
	}
	op_send(op);
}

static struct pay_op *op_new(struct stripe *s, enum op_kind kind, void *cls)
{
	struct pay_op *op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	op->s = s;
	op->kind = kind;
	op->cls = cls;
	op->deadline_ms = gw_now_ms() + s->retry_budget_ms;
	ev_timer_init(&op->timer, op_timer_cb, 0., 0.);
	op->timer.data = op;
	op->next = s->ops;
	s->ops = op;
	return op;
}

static void op_finish(struct pay_op *op, struct pay_result *r)
{
	pay_result_cb cb = op->cb;
	void *cls = op->cls;
	/* the strings may live in the op: copy them before it is freed */
	struct pay_result_strings keep;
	pay_result_detach(r, &keep);
	op_free(op);
	cb(cls, r);
}

static void op_end(struct pay_op *op, enum pay_call_class c, int err, long status, const char *code,
		   const char *desc)
{
	struct pay_result r = {.cls = c,
			       .err = err,
			       .http_status = status,
			       .state = PAY_FAILED,
			       .result_code = code,
			       .result_desc = desc};
	op_finish(op, &r);
}

/* Another attempt with the same key, if the budget allows; @p min_s from Retry-After. */
static bool op_retry(struct pay_op *op, double min_s)
{
	double d = pay_backoff_s(op->attempt++);
	if (d < min_s)
		d = min_s;
	if (gw_now_ms() + (int64_t)(d * 1000) > op->deadline_ms)
		return false;
	ev_timer_set(&op->timer, d, 0.);
	ev_timer_start(op->s->loop, &op->timer);
	return true;
}

/* Out of retries: what the caller may conclude. */
static void op_give_up(struct pay_op *op, int err, long status)
{
	enum pay_call_class c;
	if (op->kind == OP_RETRIEVE)
		c = PAY_CALL_TRANSIENT;
	else
		c = op->maybe_sent ? PAY_CALL_AMBIGUOUS : PAY_CALL_REFUSED;
	op_end(op, c, err, status, NULL, "retries exhausted");
}

static void op_send(struct pay_op *op)
{
	struct stripe *s = op->s;
	char url[512], auth[256];
	snprintf(url, sizeof(url), "%s%s", s->base_url, op->path);
	if (s->sk_len + 8 > sizeof(auth)) {
		op_end(op, PAY_CALL_REFUSED, GW_EINVAL, 0, NULL, "secret key too long");
		return;
	}
	snprintf(auth, sizeof(auth), "Bearer %s", s->sk);
	struct http_header h[3] = {{"Authorization", auth}};
	size_t nh = 1;
	if (op->form) {
		h[nh++] = (struct http_header){"Content-Type", "application/x-www-form-urlencoded"};
		h[nh++] = (struct http_header){"Idempotency-Key", op->idem};
	}
	static const char *const want[] = {"Stripe-Should-Retry", "Retry-After",
					   "Idempotent-Replayed", "Request-Id"};
	struct http_request rq = {
	    .method = op->form ? "POST" : "GET",
	    .url = url,
	    .headers = h,
	    .n_headers = nh,
	    .body = op->form,
	    .body_len = op->form ? strlen(op->form) : 0,
	    .timeout_ms = s->timeout_ms,
	    .connect_timeout_ms = s->connect_timeout_ms,
	    .body_cap = 262144,
	    .want_headers = want,
	    .n_want_headers = 4,
	    .insecure_loopback = s->loopback,
	};
	op->call = http_client_request(s->http, &rq, op_done, op);
	OPENSSL_cleanse(auth, sizeof(auth));
	if (!op->call)
		op_end(op, op->maybe_sent ? PAY_CALL_AMBIGUOUS : PAY_CALL_REFUSED, GW_ENOMEM, 0,
		       NULL, NULL);
}

static const char *hdr(const struct http_result *res, const char *name)
{
	for (size_t i = 0; i < res->n_headers; i++)
		if (!strcasecmp(res->headers[i].name, name))
			return res->headers[i].value;
	return NULL;
}

/* The latest charge as a string id (or an expanded object's id). */
static const char *charge_id(json_t *pi)
{
	json_t *c = json_object_get(pi, "latest_charge");
	if (json_is_object(c))
		c = json_object_get(c, "id");
	return json_is_string(c) && json_string_length(c) < 32 ? json_string_value(c) : NULL;
}

static void link_for(struct stripe *s, json_t *pi, const char *id, char *out, size_t n)
{
	out[0] = '\0';
	json_t *na = json_object_get(pi, "next_action");
	const char *u =
	    json_string_value(json_object_get(json_object_get(na, "redirect_to_url"), "url"));
	if (u && !strncmp(u, "http", 4) && strlen(u) < n) {
		snprintf(out, n, "%s", u);
		return;
	}
	const char *p = strstr(s->action_url, "{id}");
	if (s->action_url[0] && p)
		snprintf(out, n, "%.*s%s%s", (int)(p - s->action_url), s->action_url, id, p + 4);
}

/* A PaymentIntent object as the answer of @p op. */
static void pi_result(struct pay_op *op, json_t *pi, long status)
{
	struct stripe *s = op->s;
	char id[96] = "", st[40] = "", link[512] = "";
	if (!pay_jcopy(pi, "id", id, sizeof(id)) || !pay_jcopy(pi, "status", st, sizeof(st))) {
		GW_PEER_VIOLATION(DPAY, s->base.name, "%s answer without a PaymentIntent",
				  kind_names[op->kind]);
		op_end(op, op->kind == OP_RETRIEVE ? PAY_CALL_TRANSIENT : PAY_CALL_AMBIGUOUS,
		       GW_EPROTO_MALFORMED, status, NULL, NULL);
		return;
	}
	const char *lpe =
	    json_string_value(json_object_get(json_object_get(pi, "last_payment_error"), "code"));
	struct pay_result r = {.cls = PAY_CALL_OK,
			       .http_status = status,
			       .provider_ref = id,
			       .result_code = st,
			       .result_desc = lpe ? lpe : ""};
	if (!strcmp(st, "succeeded")) {
		r.state = PAY_SUCCEEDED;
		r.receipt = charge_id(pi);
	} else if (!strcmp(st, "canceled")) {
		r.state = PAY_CANCELLED;
	} else if (!strcmp(st, "requires_payment_method") &&
		   !(lpe && !strcmp(lpe, "authentication_required"))) {
		r.state = PAY_FAILED;
	} else if (!strcmp(st, "requires_action") || !strcmp(st, "requires_payment_method")) {
		/* the customer must act: pending, with a link for them */
		r.state = PAY_PENDING;
		link_for(s, pi, id, link, sizeof(link));
		r.customer_link = link;
		r.link_kind = "authenticate";
		if (op->kind == OP_RETRIEVE)
			r.cls = PAY_CALL_PENDING;
	} else { /* processing, requires_confirmation, requires_capture */
		r.state = PAY_PENDING;
		if (op->kind == OP_RETRIEVE)
			r.cls = PAY_CALL_PENDING;
	}
	op_finish(op, &r);
}

static void op_done(void *cls, const struct http_result *res)
{
	struct pay_op *op = cls;
	struct stripe *s = op->s;
	op->call = NULL;
	const char *what = kind_names[op->kind];
	if (res->err) {
		LOGP(DPAY, LOG_NOTICE, "%s: %s: %s (%s)", s->base.name, what, gw_strerror(res->err),
		     res->errtext);
		if (res->err != GW_ECONNREFUSED && op->form)
			op->maybe_sent = true;
		/* Same key, same parameters: Stripe replays, never charges twice. */
		if (op_retry(op, 0))
			return;
		op_give_up(op, res->err, 0);
		return;
	}
	const char *sr = hdr(res, "Stripe-Should-Retry");
	const char *replayed = hdr(res, "Idempotent-Replayed");
	if (replayed && !strcmp(replayed, "true"))
		LOGP(DPAY, LOG_INFO, "%s: %s answered %ld (replayed under its key)", s->base.name,
		     what, res->status);
	json_t *j = json_loadb(res->body, res->body_len, JSON_REJECT_DUPLICATES, NULL);
	json_t *e = json_object_get(j, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *decline = json_string_value(json_object_get(e, "decline_code"));
	if (res->status == 200) {
		pi_result(op, j, res->status);
		json_decref(j);
		return;
	}
	LOGP(DPAY, LOG_INFO, "%s: %s answered %ld %s (Stripe-Should-Retry: %s)", s->base.name, what,
	     res->status, code ? code : "-", sr ? sr : "-");
	if (res->status >= 500 || res->status == 409)
		op->maybe_sent = op->maybe_sent || res->status != 503;
	bool retry = sr ? !strcmp(sr, "true")
			: (res->status == 409 || res->status == 429 || res->status >= 500);
	if (retry) {
		const char *ra = hdr(res, "Retry-After");
		double min_s = ra ? atof(ra) : 0;
		if (min_s > 60)
			min_s = 60;
		json_decref(j);
		if (op_retry(op, min_s))
			return;
		op_give_up(op, res->status == 429 ? GW_ETHROTTLED : GW_EPEER_STATUS, res->status);
		return;
	}
	if (res->status == 402 && json_is_object(json_object_get(e, "payment_intent"))) {
		/* A decline carries the PaymentIntent; authentication_required
		 * leaves it waiting for the customer. */
		json_t *pi = json_incref(json_object_get(e, "payment_intent"));
		if (code && !strcmp(code, "authentication_required") && s->action_url[0] &&
		    op->kind == OP_CREATE) {
			json_decref(j);
			pi_result(op, pi, res->status);
			json_decref(pi);
			return;
		}
		char id[96] = "";
		pay_jcopy(pi, "id", id, sizeof(id));
		json_decref(pi);
		struct pay_result r = {.cls = op->kind == OP_RETRIEVE ? PAY_CALL_TRANSIENT
								      : PAY_CALL_REFUSED,
				       .err = GW_EPEER_STATUS,
				       .http_status = 402,
				       .provider_ref = id,
				       .state = PAY_FAILED,
				       .result_code = decline ? decline : code,
				       .result_desc = "card declined"};
		op_finish(op, &r);
		json_decref(j);
		return;
	}
	if (res->status == 404 && op->kind == OP_RETRIEVE) {
		op_end(op, PAY_CALL_NOTFOUND, GW_ENOENT, 404, code, NULL);
		json_decref(j);
		return;
	}
	const char *type = json_string_value(json_object_get(e, "type"));
	if (type && !strcmp(type, "idempotency_error")) {
		/* Our key was used with other parameters: something went out
		 * under it; never conclude "not charged". */
		LOGP(DPAY, LOG_ERROR, "%s: %s: idempotency key %s refused: %s", s->base.name, what,
		     op->idem, code ? code : "idempotency_error");
		op_end(op, op->kind == OP_RETRIEVE ? PAY_CALL_TRANSIENT : PAY_CALL_AMBIGUOUS,
		       GW_ECONFLICT, res->status, code, NULL);
		json_decref(j);
		return;
	}
	enum pay_call_class c = op->kind == OP_RETRIEVE ? PAY_CALL_TRANSIENT
				: op->maybe_sent	? PAY_CALL_AMBIGUOUS
							: PAY_CALL_REFUSED;
	op_end(op, c, res->status == 401 || res->status == 403 ? GW_EPERM : GW_EPEER_STATUS,
	       res->status, code, NULL);
	json_decref(j);
}

/* ---- provider ops -------------------------------------------------------- */

static int stripe_wire_amount(int64_t minor, const char *currency, char *out, size_t n)
{
	int64_t a;
	char lc[4];
	int rc = pay_stripe_amount(minor, currency, &a, lc);
	if (!rc)
		snprintf(out, n, "%" PRId64, a);
	return rc;
}

static int append(char *b, size_t n, size_t *o, const char *k, const char *v)
{
	char esc[512];
	if (pay_form_escape(v, esc, sizeof(esc)))
		return GW_EMSGSIZE;
	int w = snprintf(b + *o, n - *o, "%s%s=%s", *o ? "&" : "", k, esc);
	if (w < 0 || (size_t)w >= n - *o)
		return GW_EMSGSIZE;
	*o += (size_t)w;
	return 0;
}

static struct pay_op *stripe_start(struct pay_provider *p, const struct pay_request *rq,
				   pay_result_cb cb, void *cls)
{
	struct stripe *s = (struct stripe *)p;
	int64_t amount;
	char lc[4], amt[24];
	const char *m = json_string_value(json_object_get(s->methods, rq->account_ref));
	if (pay_stripe_amount(rq->amount_minor, rq->currency, &amount, lc) || !m) {
		if (!m)
			LOGP(DPAY, LOG_NOTICE, "%s: no saved payment method for the account",
			     s->base.name);
		return NULL;
	}
	char cus[96] = "", pm[96];
	const char *slash = strchr(m, '/');
	if (slash) {
		snprintf(cus, sizeof(cus), "%.*s", (int)(slash - m), m);
		snprintf(pm, sizeof(pm), "%s", slash + 1);
	} else {
		snprintf(pm, sizeof(pm), "%s", m);
	}
	snprintf(amt, sizeof(amt), "%" PRId64, amount);
	struct pay_op *op = op_new(s, OP_CREATE, cls);
	if (!op)
		return NULL;
	op->cb = cb;
	size_t n = 2048, o = 0;
	op->form = malloc(n);
	int rc = op->form ? 0 : GW_ENOMEM;
	if (!rc)
		op->form[0] = '\0';
	if (!rc)
		rc = append(op->form, n, &o, "amount", amt);
	if (!rc)
		rc = append(op->form, n, &o, "currency", lc);
	if (!rc)
		rc = append(op->form, n, &o, "confirm", "true");
	if (!rc)
		rc = append(op->form, n, &o, "off_session", "true");
	if (!rc)
		rc = append(op->form, n, &o, "payment_method", pm);
	if (!rc && cus[0])
		rc = append(op->form, n, &o, "customer", cus);
	if (!rc)
		rc = append(op->form, n, &o, "metadata[payment_id]", rq->payment_id);
	if (!rc)
		rc = append(op->form, n, &o, "metadata[account_ref]", rq->account_ref);
	if (!rc)
		rc = append(op->form, n, &o, "description", rq->account_ref);
	if (rc) {
		op_free(op);
		return NULL;
	}
	/* One key per payment, fixed before the first send (the payment's UUID). */
	snprintf(op->idem, sizeof(op->idem), "%s", rq->payment_id);
	snprintf(op->path, sizeof(op->path), "/v1/payment_intents");
	op_send(op);
	return op;
}

static bool ref_ok(const char *ref)
{
	if (!ref || strncmp(ref, "pi_", 3) != 0 || strlen(ref) >= 96)
		return false;
	for (const char *c = ref; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_')
			return false;
	return true;
}

static struct pay_op *stripe_query(struct pay_provider *p, const char *ref, pay_result_cb cb,
				   void *cls)
{
	struct stripe *s = (struct stripe *)p;
	if (!ref_ok(ref))
		return NULL;
	struct pay_op *op = op_new(s, OP_RETRIEVE, cls);
	if (!op)
		return NULL;
	op->cb = cb;
	snprintf(op->path, sizeof(op->path), "/v1/payment_intents/%s", ref);
	op_send(op);
	return op;
}

static struct pay_op *stripe_cancel(struct pay_provider *p, const char *ref, pay_result_cb cb,
				    void *cls)
{
	struct stripe *s = (struct stripe *)p;
	if (!ref_ok(ref))
		return NULL;
	struct pay_op *op = op_new(s, OP_CANCEL, cls);
	if (!op)
		return NULL;
	op->cb = cb;
	op->form = strdup("cancellation_reason=abandoned");
	snprintf(op->idem, sizeof(op->idem), "cancel-%s", ref);
	snprintf(op->path, sizeof(op->path), "/v1/payment_intents/%s/cancel", ref);
	if (!op->form) {
		op_free(op);
		return NULL;
	}
	op_send(op);
	return op;
}

static void stripe_abandon(struct pay_op *op)
{
	if (op->call)
		http_client_cancel(op->call);
	op_free(op);
}

static struct pay_op *stripe_verify(struct pay_provider *p, pay_header_fn get, void *hcls,
				    const char *body, size_t len, pay_verify_cb cb, void *cls)
{
	struct stripe *s = (struct stripe *)p;
	struct pay_op *op = op_new(s, OP_VERIFY, cls);
	if (!op)
		return NULL;
	op->vcb = cb;
	const char *secrets[STRIPE_MAX_SECRETS];
	for (unsigned i = 0; i < s->n_wh; i++)
		secrets[i] = s->wh[i];
	op->verdict = pay_stripe_verify(get(hcls, "Stripe-Signature"), body, len, secrets, s->n_wh,
					gw_now_ms() / 1000, s->tolerance_s, NULL);
	/* the verdict is reported from the loop, never from inside this call */
	ev_timer_start(s->loop, &op->timer);
	return op;
}

static enum pay_state stripe_map(const char *code)
{
	if (!code)
		return PAY_FAILED;
	return !strcmp(code, "succeeded")					 ? PAY_SUCCEEDED
	       : !strcmp(code, "canceled")					 ? PAY_CANCELLED
	       : !strcmp(code, "processing") || !strcmp(code, "requires_action") ? PAY_PENDING
										 : PAY_FAILED;
}

static int stripe_parse_callback(const char *body, size_t len, struct pay_callback_info *out)
{
	(void)body;
	(void)len;
	memset(out, 0, sizeof(*out));
	return GW_ENOTSUP; /* webhooks only (parse_webhook) */
}

static void stripe_destroy(struct pay_provider *p)
{
	struct stripe *s = (struct stripe *)p;
	if (!s)
		return;
	while (s->ops)
		stripe_abandon(s->ops);
	if (s->sk)
		secfile_free(s->sk, s->sk_len);
	for (unsigned i = 0; i < s->n_wh; i++)
		secfile_free(s->wh[i], s->wh_len[i]);
	json_decref(s->methods);
	free(s);
}

static int stripe_create(struct ev_loop *loop, struct http_client *http, const char *name,
			 json_t *cfg, struct pay_provider **out)
{
	struct stripe *s = calloc(1, sizeof(*s));
	if (!s)
		return GW_ENOMEM;
	s->base.ops = &pay_stripe_ops;
	snprintf(s->base.name, sizeof(s->base.name), "%s", name);
	s->loop = loop;
	s->http = http;
	int rc = pay_base_url(name, cfg_str(cfg, "base_url"), s->base_url, sizeof(s->base_url),
			      &s->loopback);
	s->timeout_ms = (unsigned)cfg_int(cfg, "timeout_ms");
	s->connect_timeout_ms = (unsigned)cfg_int(cfg, "connect_timeout_ms");
	s->retry_budget_ms = (unsigned)cfg_int(cfg, "retry_budget_ms");
	s->tolerance_s = (unsigned)cfg_int(cfg, "webhook_tolerance_s");
	snprintf(s->action_url, sizeof(s->action_url), "%s",
		 cfg_str(cfg, "action_url") ? cfg_str(cfg, "action_url") : "");
	json_t *m = cfg_get(cfg, "saved_methods");
	s->methods = json_is_object(m) ? json_incref(m) : json_object();
	if (!rc && (rc = pay_read_secret(cfg_str(cfg, "secret_key_file"), &s->sk, &s->sk_len)))
		LOGP(DPAY, LOG_ERROR, "providers.%s.secret_key_file: %s", name, gw_strerror(rc));
	json_t *whf = cfg_get(cfg, "webhook_secret_files");
	size_t i;
	json_t *e;
	json_array_foreach(whf, i, e)
	{
		if (rc || s->n_wh >= STRIPE_MAX_SECRETS)
			break;
		rc = pay_read_secret(json_string_value(e), &s->wh[s->n_wh], &s->wh_len[s->n_wh]);
		if (rc)
			LOGP(DPAY, LOG_ERROR, "providers.%s.webhook_secret_files[%zu]: %s", name, i,
			     gw_strerror(rc));
		else
			s->n_wh++;
	}
	if (!rc && s->n_wh == 0) {
		LOGP(DPAY, LOG_ERROR, "providers.%s.webhook_secret_files: at least one", name);
		rc = GW_ECONFIG;
	}
	if (rc) {
		stripe_destroy(&s->base);
		return rc;
	}
	*out = &s->base;
	return 0;
}

const struct pay_provider_ops pay_stripe_ops = {
    .type = "stripe",
    .create = stripe_create,
    .destroy = stripe_destroy,
    .start = stripe_start,
    .query = stripe_query,
    .cancel = stripe_cancel,
    .abandon = stripe_abandon,
    .parse_callback = stripe_parse_callback,
    .map_result = stripe_map,
    .wire_amount = stripe_wire_amount,
    .verify_webhook = stripe_verify,
    .parse_webhook = pay_stripe_parse_event,
};
