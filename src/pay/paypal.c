/* PayPal client: OAuth2, Orders v2 create / capture on approval, webhook
 * verification with a fetched certificate (see pay_paypal.h). */
#include "ussdgw/pay_paypal.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "pay_int.h"
#include "ussdgw/clock.h"
#include "ussdgw/config.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/http_client.h"
#include "ussdgw/log.h"
#include "ussdgw/pay_webhook.h"
#include "ussdgw/secfile.h"

#define PP_MAX_HOSTS  8
#define PP_CERT_CACHE 8

enum op_kind { OP_CREATE, OP_GET, OP_CAPTURE, OP_VERIFY };
static const char *const kind_names[] = {"create", "get order", "capture", "verify"};

struct paypal;

struct pay_op {
	struct paypal *pp;
	enum op_kind kind;
	pay_result_cb cb;
	pay_verify_cb vcb;
	void *cls;
	char ref[96];	      /* order id */
	char request_id[110]; /* PayPal-Request-Id */
	char *body;
	struct http_call *call;
	ev_timer timer;
	unsigned attempt;
	int64_t deadline_ms;
	bool maybe_sent, waiting, reread;
	/* verify */
	int verdict;
	char cert_url[1100];
	char *msg;
	char sig[1400];
	struct pay_op *next;
};

struct cert_entry {
	char url[1100];
	char *pem;
	size_t len;
};

struct paypal {
	struct pay_provider base;
	struct ev_loop *loop;
	struct http_client *http;
	char base_url[256];
	bool loopback;
	char *client_id, *client_secret;
	size_t id_len, secret_len;
	char webhook_id[128];
	char return_url[256];
	char hosts[PP_MAX_HOSTS][128];
	unsigned n_hosts;
	char *ca_pem;
	size_t ca_len;
	unsigned max_age_s;
	unsigned timeout_ms, connect_timeout_ms, retry_budget_ms;
	char token[2048];
	int64_t token_expires_ms;
	struct http_call *token_call;
	struct cert_entry certs[PP_CERT_CACHE];
	unsigned cert_next;
	struct pay_op *ops;
};

/* ---- event parsing (pure) ------------------------------------------------ */

static bool money(json_t *amount, struct pay_webhook_event *out)
{
	char cur[8], val[40];
	if (!pay_jcopy(amount, "currency_code", cur, sizeof(cur)) || strlen(cur) != 3 ||
	    !pay_jcopy(amount, "value", val, sizeof(val)) ||
	    pay_amount_from_decimal(val, strlen(val), cur, &out->amount_minor) ||
	    out->amount_minor <= 0)
		return false;
	memcpy(out->currency, cur, 4);
	return true;
}

static bool custom_id(json_t *o, struct pay_webhook_event *out)
{
	json_t *c = json_object_get(o, "custom_id");
	if (!c)
		return true;
	char id[40];
	if (!pay_jcopy(o, "custom_id", id, sizeof(id)) || strlen(id) != 36)
		return false;
	memcpy(out->payment_id, id, 37);
	return true;
}

int pay_paypal_parse_event(const char *body, size_t len, struct pay_webhook_event *out)
{
	memset(out, 0, sizeof(*out));
	out->amount_minor = -1;
	out->state = PAY_PENDING;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	int rc = GW_EPROTO_MALFORMED;
	json_t *res = json_object_get(j, "resource");
	if (!json_is_object(j) || !pay_jcopy(j, "id", out->event_id, sizeof(out->event_id)) ||
	    !pay_jcopy(j, "event_type", out->event_type, sizeof(out->event_type)) ||
	    !out->event_id[0] || !json_is_object(res) ||
	    !pay_jcopy(res, "id", out->object_id, sizeof(out->object_id)) || !out->object_id[0])
		goto out;
	const char *t = out->event_type;
	if (!strncmp(t, "CHECKOUT.ORDER.", 15)) {
		memcpy(out->provider_ref, out->object_id, sizeof(out->object_id));
		json_t *pu = json_array_get(json_object_get(res, "purchase_units"), 0);
		if (!json_is_object(pu) || !custom_id(pu, out) ||
		    !money(json_object_get(pu, "amount"), out))
			goto out;
		/* approved: the capture is ours to do; completed: confirmed by reading */
		out->state = !strcmp(t + 15, "COMPLETED") ? PAY_SUCCEEDED : PAY_PENDING;
	} else if (!strncmp(t, "PAYMENT.CAPTURE.", 16)) {
		json_t *rel =
		    json_object_get(json_object_get(res, "supplementary_data"), "related_ids");
		if (!pay_jcopy(rel, "order_id", out->provider_ref, sizeof(out->provider_ref)) ||
		    !out->provider_ref[0] || !custom_id(res, out) ||
		    !money(json_object_get(res, "amount"), out))
			goto out;
		t += 16;
		out->state = !strcmp(t, "COMPLETED")			      ? PAY_SUCCEEDED
			     : !strcmp(t, "DENIED") || !strcmp(t, "DECLINED") ? PAY_FAILED
									      : PAY_PENDING;
	} else {
		rc = GW_ENOTSUP;
		goto out;
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* ---- ops ----------------------------------------------------------------- */

static void op_send(struct pay_op *op);
static void op_done(void *cls, const struct http_result *res);
static void token_fetch(struct paypal *pp);
static void verify_run(struct pay_op *op);

static void op_free(struct pay_op *op)
{
	struct paypal *pp = op->pp;
	ev_timer_stop(pp->loop, &op->timer);
	for (struct pay_op **q = &pp->ops; *q; q = &(*q)->next)
		if (*q == op) {
			*q = op->next;
			break;
		}
	free(op->body);
	free(op->msg);
	free(op);
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

static void op_end(struct pay_op *op, enum pay_call_class c, int err, long status, const char *code)
{
	if (op->kind != OP_CREATE && (c == PAY_CALL_REFUSED || c == PAY_CALL_AMBIGUOUS))
		c = PAY_CALL_TRANSIENT; /* reading or capturing: ask again later */
	else if (op->kind == OP_CREATE && c == PAY_CALL_REFUSED && op->maybe_sent)
		c = PAY_CALL_AMBIGUOUS;
	struct pay_result r = {.cls = c,
			       .err = err,
			       .http_status = status,
			       .state = PAY_FAILED,
			       .provider_ref = op->ref,
			       .result_code = code};
	op_finish(op, &r);
}

static void verify_end(struct pay_op *op, int verdict)
{
	pay_verify_cb cb = op->vcb;
	void *cls = op->cls;
	op_free(op);
	cb(cls, verdict);
}

static void op_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct pay_op *op = w->data;
	if (op->kind == OP_VERIFY)
		verify_end(op, op->verdict);
	else
		op_send(op);
}

static bool op_retry(struct pay_op *op)
{
	double d = pay_backoff_s(op->attempt++);
	if (gw_now_ms() + (int64_t)(d * 1000) > op->deadline_ms)
		return false;
	ev_timer_set(&op->timer, d, 0.);
	ev_timer_start(op->pp->loop, &op->timer);
	return true;
}

static struct pay_op *op_new(struct paypal *pp, enum op_kind kind, void *cls)
{
	struct pay_op *op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	op->pp = pp;
	op->kind = kind;
	op->cls = cls;
	op->deadline_ms = gw_now_ms() + pp->retry_budget_ms;
	ev_timer_init(&op->timer, op_timer_cb, 0., 0.);
	op->timer.data = op;
	op->next = pp->ops;
	pp->ops = op;
	return op;
}

static void waiters_run(struct paypal *pp, int err)
{
	for (;;) {
		struct pay_op *op = pp->ops;
		while (op && !op->waiting)
			op = op->next;
		if (!op)
			return;
		op->waiting = false;
		if (!err)
			op_send(op);
		else if (!op_retry(op))
			op_end(op, PAY_CALL_REFUSED, err, 0, "token");
	}
}

static void token_done(void *cls, const struct http_result *res)
{
	struct paypal *pp = cls;
	pp->token_call = NULL;
	int err = pay_token_answer(pp->base.name, res, 300, pp->token, sizeof(pp->token),
				   &pp->token_expires_ms);
	waiters_run(pp, err);
}

static void token_fetch(struct paypal *pp)
{
	if (pp->token_call)
		return;
	char cred[1024], b64[1400], auth[1420], url[320];
	if (pp->id_len + pp->secret_len + 2 > sizeof(cred)) {
		waiters_run(pp, GW_EINVAL);
		return;
	}
	memcpy(cred, pp->client_id, pp->id_len);
	cred[pp->id_len] = ':';
	memcpy(cred + pp->id_len + 1, pp->client_secret, pp->secret_len);
	EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)cred,
			(int)(pp->id_len + 1 + pp->secret_len));
	OPENSSL_cleanse(cred, sizeof(cred));
	snprintf(auth, sizeof(auth), "Basic %s", b64);
	OPENSSL_cleanse(b64, sizeof(b64));
	snprintf(url, sizeof(url), "%s/v1/oauth2/token", pp->base_url);
	struct http_header h[] = {{"Authorization", auth},
				  {"Content-Type", "application/x-www-form-urlencoded"}};
	static const char form[] = "grant_type=client_credentials";
	struct http_request rq = {
	    .method = "POST",
	    .url = url,
	    .headers = h,
	    .n_headers = 2,
	    .body = form,
	    .body_len = sizeof(form) - 1,
	    .timeout_ms = pp->timeout_ms,
	    .connect_timeout_ms = pp->connect_timeout_ms,
	    .body_cap = 16384,
	    .insecure_loopback = pp->loopback,
	};
	pp->token_call = http_client_request(pp->http, &rq, token_done, pp);
	OPENSSL_cleanse(auth, sizeof(auth));
	if (!pp->token_call)
		waiters_run(pp, GW_ENOMEM);
}

static void op_send(struct pay_op *op)
{
	struct paypal *pp = op->pp;
	if (!pp->token[0] || gw_now_ms() >= pp->token_expires_ms) {
		op->waiting = true;
		token_fetch(pp);
		return;
	}
	char url[400], auth[2100];
	snprintf(auth, sizeof(auth), "Bearer %s", pp->token);
	struct http_header h[4] = {{"Authorization", auth}, {"Content-Type", "application/json"}};
	size_t nh = 2;
	const char *method = "POST";
	switch (op->kind) {
	case OP_CREATE:
		snprintf(url, sizeof(url), "%s/v2/checkout/orders", pp->base_url);
		break;
	case OP_CAPTURE:
		snprintf(url, sizeof(url), "%s/v2/checkout/orders/%s/capture", pp->base_url,
			 op->ref);
		break;
	default:
		snprintf(url, sizeof(url), "%s/v2/checkout/orders/%s", pp->base_url, op->ref);
		method = "GET";
		break;
	}
	if (op->request_id[0])
		h[nh++] = (struct http_header){"PayPal-Request-Id", op->request_id};
	struct http_request rq = {
	    .method = method,
	    .url = url,
	    .headers = h,
	    .n_headers = nh,
	    .body = op->body,
	    .body_len = op->body ? strlen(op->body) : 0,
	    .timeout_ms = pp->timeout_ms,
	    .connect_timeout_ms = pp->connect_timeout_ms,
	    .body_cap = 262144,
	    .insecure_loopback = pp->loopback,
	};
	op->call = http_client_request(pp->http, &rq, op_done, op);
	OPENSSL_cleanse(auth, sizeof(auth));
	if (!op->call)
		op_end(op, PAY_CALL_REFUSED, GW_ENOMEM, 0, NULL);
}

/* Turn a GET or GET-after-capture answer into a capture or a result. */
static void order_result(struct pay_op *op, json_t *o, long status)
{
	char st[40] = "", id[96] = "", cst[32] = "", cid[40] = "";
	if (!pay_jcopy(o, "status", st, sizeof(st)) || !pay_jcopy(o, "id", id, sizeof(id))) {
		GW_PEER_VIOLATION(DPAY, op->pp->base.name, "%s answer without an order",
				  kind_names[op->kind]);
		op_end(op, PAY_CALL_TRANSIENT, GW_EPROTO_MALFORMED, status, NULL);
		return;
	}
	struct pay_result r = {
	    .cls = PAY_CALL_OK, .http_status = status, .provider_ref = op->ref, .result_code = st};
	if (!strcmp(st, "APPROVED")) {
		/* The payer approved: capture it, keyed so a retry captures once. */
		op->kind = OP_CAPTURE;
		op->attempt = 0;
		op->deadline_ms = gw_now_ms() + op->pp->retry_budget_ms;
		snprintf(op->request_id, sizeof(op->request_id), "cap-%s", op->ref);
		free(op->body);
		op->body = strdup("{}");
		LOGP(DPAY, LOG_INFO, "%s: order %s approved: capturing", op->pp->base.name,
		     op->ref);
		op_send(op);
		return;
	}
	if (!strcmp(st, "COMPLETED")) {
		json_t *cap = json_array_get(
		    json_object_get(
			json_object_get(json_array_get(json_object_get(o, "purchase_units"), 0),
					"payments"),
			"captures"),
		    0);
		pay_jcopy(cap, "status", cst, sizeof(cst));
		pay_jcopy(cap, "id", cid, sizeof(cid));
		if (!strcmp(cst, "COMPLETED") && cid[0] && strlen(cid) < 32) {
			r.state = PAY_SUCCEEDED;
			r.receipt = cid;
		} else if (!strcmp(cst, "DECLINED") || !strcmp(cst, "FAILED")) {
			r.state = PAY_FAILED;
			r.result_code = cst;
		} else {
			r.cls = PAY_CALL_PENDING; /* capture PENDING: not money in hand yet */
			r.state = PAY_PENDING;
		}
	} else if (!strcmp(st, "VOIDED")) {
		r.state = PAY_CANCELLED;
	} else { /* CREATED, SAVED, PAYER_ACTION_REQUIRED: awaiting approval */
		r.cls = PAY_CALL_PENDING;
		r.state = PAY_PENDING;
	}
	op_finish(op, &r);
}

static const char *issue(json_t *j)
{
	return json_string_value(
	    json_object_get(json_array_get(json_object_get(j, "details"), 0), "issue"));
}

static void op_done(void *cls, const struct http_result *res)
{
	struct pay_op *op = cls;
	struct paypal *pp = op->pp;
	op->call = NULL;
	const char *what = kind_names[op->kind];
	if (res->err) {
		LOGP(DPAY, LOG_NOTICE, "%s: %s: %s (%s)", pp->base.name, what,
		     gw_strerror(res->err), res->errtext);
		if (res->err != GW_ECONNREFUSED && op->kind != OP_GET)
			op->maybe_sent = true;
		/* the same PayPal-Request-Id: PayPal returns the stored result */
		if (op_retry(op))
			return;
		op_end(op, PAY_CALL_REFUSED, res->err, 0, NULL);
		return;
	}
	json_t *j = json_loadb(res->body, res->body_len, JSON_REJECT_DUPLICATES, NULL);
	const char *is = issue(j);
	LOGP(DPAY, LOG_INFO, "%s: %s answered %ld%s%s", pp->base.name, what, res->status,
	     is ? " " : "", is ? is : "");
	if (res->status == 401 && op->attempt == 0) {
		pp->token[0] = '\0';
		op->attempt++;
		json_decref(j);
		op_send(op);
		return;
	}
	if (op->kind == OP_CREATE && (res->status == 200 || res->status == 201)) {
		char id[96] = "", link[512] = "";
		size_t i;
		json_t *l;
		json_array_foreach(json_object_get(j, "links"), i, l)
		{
			const char *rel = json_string_value(json_object_get(l, "rel"));
			if (rel && (!strcmp(rel, "approve") || !strcmp(rel, "payer-action")))
				pay_jcopy(l, "href", link, sizeof(link));
		}
		if (!pay_jcopy(j, "id", id, sizeof(id)) || !id[0] || !link[0]) {
			GW_PEER_VIOLATION(DPAY, pp->base.name, "order created without id or link");
			json_decref(j);
			op_end(op, PAY_CALL_AMBIGUOUS, GW_EPROTO_MALFORMED, res->status, NULL);
			return;
		}
		struct pay_result r = {.cls = PAY_CALL_OK,
				       .http_status = res->status,
				       .provider_ref = id,
				       .state = PAY_PENDING,
				       .customer_link = link,
				       .link_kind = "approve"};
		json_decref(j);
		op_finish(op, &r);
		return;
	}
	if ((op->kind == OP_GET || op->kind == OP_CAPTURE) &&
	    (res->status == 200 || res->status == 201)) {
		order_result(op, j, res->status);
		json_decref(j);
		return;
	}
	if (op->kind == OP_CAPTURE && res->status == 422 && is) {
		if (!strcmp(is, "ORDER_ALREADY_CAPTURED") && !op->reread) {
			/* the request id was pruned (6 h): read the order instead */
			op->reread = true;
			op->kind = OP_GET;
			op->request_id[0] = '\0';
			free(op->body);
			op->body = NULL;
			json_decref(j);
			op_send(op);
			return;
		}
		struct pay_result r = {.cls = PAY_CALL_PENDING,
				       .http_status = 422,
				       .provider_ref = op->ref,
				       .state = PAY_PENDING,
				       .result_code = is};
		if (!strcmp(is, "TRANSACTION_REFUSED") ||
		    !strcmp(is, "PAYEE_BLOCKED_TRANSACTION") ||
		    !strcmp(is, "COMPLIANCE_VIOLATION") ||
		    !strcmp(is, "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED")) {
			r.cls = PAY_CALL_OK;
			r.state = PAY_FAILED;
		}
		/* INSTRUMENT_DECLINED, ORDER_NOT_APPROVED...: the payer may act again */
		op_finish(op, &r);
		json_decref(j);
		return;
	}
	if (op->kind == OP_GET && res->status == 404) {
		json_decref(j);
		op_end(op, PAY_CALL_NOTFOUND, GW_ENOENT, 404, "RESOURCE_NOT_FOUND");
		return;
	}
	if (res->status == 409 || res->status == 429 || res->status >= 500) {
		if (res->status >= 500 && res->status != 503 && op->kind != OP_GET)
			op->maybe_sent = true;
		if (res->status == 409)
			op->maybe_sent = true; /* the first request with this id is running */
		json_decref(j);
		if (op_retry(op))
			return;
		op_end(op, PAY_CALL_REFUSED, res->status == 429 ? GW_ETHROTTLED : GW_EPEER_STATUS,
		       res->status, NULL);
		return;
	}
	char code[32];
	snprintf(code, sizeof(code), "%s", is ? is : "");
	json_decref(j);
	op_end(op, PAY_CALL_REFUSED, res->status == 401 ? GW_EPERM : GW_EPEER_STATUS, res->status,
	       code);
}

/* ---- webhook verification ------------------------------------------------ */

static const struct cert_entry *cert_find(struct paypal *pp, const char *url)
{
	for (unsigned i = 0; i < PP_CERT_CACHE; i++)
		if (pp->certs[i].pem && !strcmp(pp->certs[i].url, url))
			return &pp->certs[i];
	return NULL;
}

static void verify_with(struct pay_op *op, const struct cert_entry *c)
{
	struct paypal *pp = op->pp;
	op->verdict = pay_paypal_verify(c->pem, c->len, pp->ca_pem, pp->ca_len, op->msg,
					strlen(op->msg), op->sig, gw_now_ms() / 1000);
}

static void cert_done(void *cls, const struct http_result *res)
{
	struct pay_op *op = cls;
	struct paypal *pp = op->pp;
	op->call = NULL;
	if (res->err || res->status != 200 || res->body_len == 0) {
		LOGP(DPAY, LOG_NOTICE, "%s: signing certificate not fetched (%s, %ld)",
		     pp->base.name, gw_strerror(res->err), res->status);
		verify_end(op, PAY_WH_CERT_CHAIN);
		return;
	}
	struct cert_entry tmp = {.pem = (char *)res->body, .len = res->body_len};
	verify_with(op, &tmp);
	if (op->verdict != PAY_WH_CERT_CHAIN) {
		/* cache only certificates that chain to the CA */
		struct cert_entry *c = &pp->certs[pp->cert_next++ % PP_CERT_CACHE];
		free(c->pem);
		c->pem = malloc(res->body_len + 1);
		if (c->pem) {
			memcpy(c->pem, res->body, res->body_len);
			c->pem[res->body_len] = '\0';
			c->len = res->body_len;
			snprintf(c->url, sizeof(c->url), "%s", op->cert_url);
		}
	}
	verify_end(op, op->verdict);
}

static void verify_run(struct pay_op *op)
{
	struct paypal *pp = op->pp;
	const struct cert_entry *c = cert_find(pp, op->cert_url);
	if (c) {
		verify_with(op, c);
		ev_timer_start(pp->loop, &op->timer);
		return;
	}
	struct http_request rq = {
	    .method = "GET",
	    .url = op->cert_url,
	    .timeout_ms = pp->timeout_ms,
	    .connect_timeout_ms = pp->connect_timeout_ms,
	    .body_cap = 65536,
	    .insecure_loopback = false, /* http on loopback needs no TLS; https is verified */
	};
	op->call = http_client_request(pp->http, &rq, cert_done, op);
	if (!op->call) {
		op->verdict = PAY_WH_CERT_HOST;
		ev_timer_start(pp->loop, &op->timer);
	}
}

static int64_t rfc3339_s(const char *t)
{
	struct tm tm = {0};
	const char *e = t ? strptime(t, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!e)
		return -1;
	if (*e == '.')
		for (e++; isdigit((unsigned char)*e); e++)
			;
	if (strcmp(e, "Z") != 0 && strcmp(e, "+00:00") != 0)
		return -1;
	return (int64_t)timegm(&tm);
}

static struct pay_op *paypal_verify(struct pay_provider *p, pay_header_fn get, void *hcls,
				    const char *body, size_t len, pay_verify_cb cb, void *cls)
{
	struct paypal *pp = (struct paypal *)p;
	struct pay_op *op = op_new(pp, OP_VERIFY, cls);
	if (!op)
		return NULL;
	op->vcb = cb;
	const char *tid = get(hcls, "PAYPAL-TRANSMISSION-ID");
	const char *tt = get(hcls, "PAYPAL-TRANSMISSION-TIME");
	const char *sig = get(hcls, "PAYPAL-TRANSMISSION-SIG");
	const char *url = get(hcls, "PAYPAL-CERT-URL");
	const char *algo = get(hcls, "PAYPAL-AUTH-ALGO");
	char msg[1024];
	int ml;
	int64_t ts = rfc3339_s(tt);
	op->verdict = PAY_WH_MALFORMED;
	if (!tid || !tt || !sig || !url || !algo || strcmp(algo, "SHA256withRSA") != 0 ||
	    strlen(sig) >= sizeof(op->sig) || strlen(url) >= sizeof(op->cert_url) || ts < 0 ||
	    (ml = pay_paypal_message(tid, tt, pp->webhook_id, body, len, msg, sizeof(msg))) < 0) {
		ev_timer_start(pp->loop, &op->timer);
		return op;
	}
	int64_t age = gw_now_ms() / 1000 - ts;
	if (age > (int64_t)pp->max_age_s || -age > 300) {
		op->verdict = PAY_WH_STALE;
		ev_timer_start(pp->loop, &op->timer);
		return op;
	}
	const char *hosts[PP_MAX_HOSTS];
	for (unsigned i = 0; i < pp->n_hosts; i++)
		hosts[i] = pp->hosts[i];
	if (!pay_paypal_cert_url_allowed(url, hosts, pp->n_hosts, pp->loopback)) {
		op->verdict = PAY_WH_CERT_HOST; /* never fetched */
		ev_timer_start(pp->loop, &op->timer);
		return op;
	}
	snprintf(op->cert_url, sizeof(op->cert_url), "%s", url);
	snprintf(op->sig, sizeof(op->sig), "%s", sig);
	op->msg = strdup(msg);
	if (!op->msg) {
		op_free(op);
		return NULL;
	}
	verify_run(op);
	return op;
}

/* ---- provider ops -------------------------------------------------------- */

static int paypal_wire_amount(int64_t minor, const char *currency, char *out, size_t n)
{
	int places = pay_paypal_places(currency);
	return places < 0 ? GW_EINVAL : pay_amount_to_decimal(minor, currency, places, out, n);
}

static struct pay_op *paypal_start(struct pay_provider *p, const struct pay_request *rq,
				   pay_result_cb cb, void *cls)
{
	struct paypal *pp = (struct paypal *)p;
	char value[40];
	if (paypal_wire_amount(rq->amount_minor, rq->currency, value, sizeof(value)))
		return NULL;
	struct pay_op *op = op_new(pp, OP_CREATE, cls);
	if (!op)
		return NULL;
	op->cb = cb;
	json_t *b =
	    json_pack("{s:s, s:[{s:s, s:s, s:s, s:{s:s, s:s}}], s:{s:s, s:s, s:s}}", "intent",
		      "CAPTURE", "purchase_units", "reference_id", "default", "custom_id",
		      rq->payment_id, "description", rq->account_ref, "amount", "currency_code",
		      rq->currency, "value", value, "application_context", "return_url",
		      pp->return_url, "cancel_url", pp->return_url, "user_action", "PAY_NOW");
	op->body = b ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	if (!op->body) {
		op_free(op);
		return NULL;
	}
	snprintf(op->request_id, sizeof(op->request_id), "%s", rq->payment_id);
	op_send(op);
	return op;
}

static bool ref_ok(const char *ref)
{
	if (!ref || !*ref || strlen(ref) >= 96)
		return false;
	for (const char *c = ref; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
			return false;
	return true;
}

static struct pay_op *paypal_query(struct pay_provider *p, const char *ref, pay_result_cb cb,
				   void *cls)
{
	struct paypal *pp = (struct paypal *)p;
	if (!ref_ok(ref))
		return NULL;
	struct pay_op *op = op_new(pp, OP_GET, cls);
	if (!op)
		return NULL;
	op->cb = cb;
	snprintf(op->ref, sizeof(op->ref), "%s", ref);
	op_send(op);
	return op;
}

static void paypal_abandon(struct pay_op *op)
{
	if (op->call)
		http_client_cancel(op->call);
	op_free(op);
}

static int paypal_parse_callback(const char *body, size_t len, struct pay_callback_info *out)
{
	(void)body;
	(void)len;
	memset(out, 0, sizeof(*out));
	return GW_ENOTSUP; /* webhooks only */
}

static enum pay_state paypal_map(const char *code)
{
	if (!code)
		return PAY_FAILED;
	return !strcmp(code, "COMPLETED") ? PAY_SUCCEEDED
	       : !strcmp(code, "VOIDED")  ? PAY_CANCELLED
	       : !strcmp(code, "CREATED") || !strcmp(code, "APPROVED") ||
		       !strcmp(code, "PAYER_ACTION_REQUIRED") || !strcmp(code, "PENDING")
		   ? PAY_PENDING
		   : PAY_FAILED;
}

static void paypal_destroy(struct pay_provider *p)
{
	struct paypal *pp = (struct paypal *)p;
	if (!pp)
		return;
	while (pp->ops)
		paypal_abandon(pp->ops);
	if (pp->token_call)
		http_client_cancel(pp->token_call);
	if (pp->client_id)
		secfile_free(pp->client_id, pp->id_len);
	if (pp->client_secret)
		secfile_free(pp->client_secret, pp->secret_len);
	for (unsigned i = 0; i < PP_CERT_CACHE; i++)
		free(pp->certs[i].pem);
	free(pp->ca_pem);
	OPENSSL_cleanse(pp->token, sizeof(pp->token));
	free(pp);
}

static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = path && *path ? fopen(path, "rb") : NULL;
	if (!f)
		return GW_ENOENT;
	char *b = malloc(262145);
	size_t n = b ? fread(b, 1, 262144, f) : 0;
	fclose(f);
	if (!b || n == 0) {
		free(b);
		return GW_EINVAL;
	}
	b[n] = '\0';
	*out = b;
	*len = n;
	return 0;
}

static int paypal_create(struct ev_loop *loop, struct http_client *http, const char *name,
			 json_t *cfg, struct pay_provider **out)
{
	struct paypal *pp = calloc(1, sizeof(*pp));
	if (!pp)
		return GW_ENOMEM;
	pp->base.ops = &pay_paypal_ops;
	snprintf(pp->base.name, sizeof(pp->base.name), "%s", name);
	pp->loop = loop;
	pp->http = http;
	int rc = pay_base_url(name, cfg_str(cfg, "base_url"), pp->base_url, sizeof(pp->base_url),
			      &pp->loopback);
	pp->timeout_ms = (unsigned)cfg_int(cfg, "timeout_ms");
	pp->connect_timeout_ms = (unsigned)cfg_int(cfg, "connect_timeout_ms");
	pp->retry_budget_ms = (unsigned)cfg_int(cfg, "retry_budget_ms");
	pp->max_age_s = (unsigned)cfg_int(cfg, "webhook_max_age_s");
	snprintf(pp->webhook_id, sizeof(pp->webhook_id), "%s", cfg_str(cfg, "webhook_id"));
	snprintf(pp->return_url, sizeof(pp->return_url), "%s", cfg_str(cfg, "return_url"));
	size_t i;
	json_t *e;
	json_array_foreach(cfg_get(cfg, "cert_hosts"), i, e)
	{
		if (pp->n_hosts < PP_MAX_HOSTS && json_string_length(e) < 128)
			snprintf(pp->hosts[pp->n_hosts++], 128, "%s", json_string_value(e));
	}
	if (!rc && !pp->webhook_id[0]) {
		LOGP(DPAY, LOG_ERROR, "providers.%s.webhook_id: required", name);
		rc = GW_ECONFIG;
	}
	if (!rc && (rc = read_file(cfg_str(cfg, "ca_file"), &pp->ca_pem, &pp->ca_len)))
		LOGP(DPAY, LOG_ERROR, "providers.%s.ca_file: %s", name, gw_strerror(rc));
	if (!rc &&
	    (rc = pay_read_secret(cfg_str(cfg, "client_id_file"), &pp->client_id, &pp->id_len)))
		LOGP(DPAY, LOG_ERROR, "providers.%s.client_id_file: %s", name, gw_strerror(rc));
	if (!rc && (rc = pay_read_secret(cfg_str(cfg, "client_secret_file"), &pp->client_secret,
					 &pp->secret_len)))
		LOGP(DPAY, LOG_ERROR, "providers.%s.client_secret_file: %s", name, gw_strerror(rc));
	if (rc) {
		paypal_destroy(&pp->base);
		return rc;
	}
	*out = &pp->base;
	return 0;
}

const struct pay_provider_ops pay_paypal_ops = {
    .type = "paypal",
    .create = paypal_create,
    .destroy = paypal_destroy,
    .start = paypal_start,
    .query = paypal_query,
    .cancel = NULL, /* an unapproved order simply expires */
    .abandon = paypal_abandon,
    .parse_callback = paypal_parse_callback,
    .map_result = paypal_map,
    .wire_amount = paypal_wire_amount,
    .verify_webhook = paypal_verify,
    .parse_webhook = pay_paypal_parse_event,
};
