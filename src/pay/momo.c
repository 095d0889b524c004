/* MTN MoMo Collections client: request-to-pay, status, callbacks (see
 * pay_momo.h). */
#include "ussdgw/pay_momo.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

enum op_kind { OP_PAY, OP_STATUS };

struct momo;

struct pay_op {
	struct momo *m;
	enum op_kind kind;
	pay_result_cb cb;
	void *cls;
	char ref[40]; /* X-Reference-Id = the payment's UUID */
	char *body;   /* request-to-pay body */
	char callback_url[512];
	struct http_call *call;
	ev_timer timer;
	unsigned attempt;
	int64_t deadline_ms;
	bool maybe_sent;
	bool waiting; /* for a token */
	struct pay_op *next;
};

struct momo {
	struct pay_provider base;
	struct ev_loop *loop;
	struct http_client *http;
	char base_url[256];
	bool loopback;
	char *sub_key, *api_key;
	size_t sub_len, api_len;
	char api_user[64];
	char env[32];
	bool send_callback;
	unsigned timeout_ms, connect_timeout_ms, retry_budget_ms;
	char token[2048];
	int64_t token_expires_ms;
	struct http_call *token_call;
	struct pay_op *ops;
};

enum pay_state pay_momo_map_result(const char *st)
{
	if (!st || !*st)
		return PAY_FAILED;
	if (!strcmp(st, "SUCCESSFUL"))
		return PAY_SUCCEEDED;
	if (!strcmp(st, "PENDING") || !strcmp(st, "ONGOING") || !strcmp(st, "DELAYED"))
		return PAY_PENDING;
	if (!strcmp(st, "REJECTED"))
		return PAY_CANCELLED;
	if (!strcmp(st, "EXPIRED") || !strcmp(st, "COULD_NOT_PERFORM_TRANSACTION"))
		return PAY_EXPIRED;
	return PAY_FAILED; /* FAILED and the other reasons */
}

/* A value the doc shows as string or number, as text. */
static bool jtext(json_t *v, char *out, size_t n)
{
	if (json_is_string(v) && json_string_length(v) < n) {
		memcpy(out, json_string_value(v), json_string_length(v) + 1);
		return true;
	}
	if (json_is_integer(v)) {
		int w = snprintf(out, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return w > 0 && (size_t)w < n;
	}
	return false;
}

/* status, or the failure reason (a string, or {code, message}) */
static void status_code(json_t *j, char *out, size_t n)
{
	out[0] = '\0';
	const char *st = json_string_value(json_object_get(j, "status"));
	json_t *r = json_object_get(j, "reason");
	if (json_is_object(r))
		r = json_object_get(r, "code");
	if (st && !strcmp(st, "FAILED") && json_is_string(r))
		snprintf(out, n, "%s", json_string_value(r));
	else if (st)
		snprintf(out, n, "%s", st);
}

static int momo_parse_callback(const char *body, size_t len, struct pay_callback_info *out)
{
	memset(out, 0, sizeof(*out));
	out->amount_minor = -1;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	int rc = GW_EPROTO_MALFORMED;
	char amount[32], cur[8] = "";
	if (!json_is_object(j) ||
	    !jtext(json_object_get(j, "externalId"), out->provider_ref,
		   sizeof(out->provider_ref)) ||
	    !*out->provider_ref || !json_is_string(json_object_get(j, "status")))
		goto out;
	for (const char *c = out->provider_ref; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '-')
			goto out;
	status_code(j, out->result_code, sizeof(out->result_code));
	out->state = pay_momo_map_result(out->result_code);
	if (out->state == PAY_SUCCEEDED) {
		if (!jtext(json_object_get(j, "financialTransactionId"), out->receipt,
			   sizeof(out->receipt)) ||
		    !*out->receipt || !pay_jcopy(j, "currency", cur, sizeof(cur)) ||
		    !jtext(json_object_get(j, "amount"), amount, sizeof(amount)) ||
		    pay_amount_from_decimal(amount, strlen(amount), cur, &out->amount_minor) ||
		    out->amount_minor <= 0)
			goto out;
		json_t *payer = json_object_get(j, "payer");
		char party[24];
		size_t plen;
		if (jtext(json_object_get(payer, "partyId"), party, sizeof(party)) &&
		    strspn(party, "0123456789") == (plen = strlen(party)) && plen < 16 &&
		    plen < sizeof(out->msisdn))
			memcpy(out->msisdn, party, plen + 1);
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* ---- ops ----------------------------------------------------------------- */

static void op_send(struct pay_op *op);
static void token_fetch(struct momo *m);

static void op_free(struct pay_op *op)
{
	struct momo *m = op->m;
	ev_timer_stop(m->loop, &op->timer);
	for (struct pay_op **pp = &m->ops; *pp; pp = &(*pp)->next)
		if (*pp == op) {
			*pp = op->next;
			break;
		}
	free(op->body);
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

/* Out of time or refused. A request that may have reached MoMo is reported
 * accepted with its reference: the reference is ours, so a status query
 * settles it either way (a 404 later means it never arrived). */
static void op_end(struct pay_op *op, enum pay_call_class c, int err, long status, const char *code)
{
	struct pay_result r = {
	    .cls = c, .err = err, .http_status = status, .state = PAY_FAILED, .result_code = code};
	if (op->kind == OP_PAY && op->maybe_sent && c != PAY_CALL_OK) {
		r.cls = PAY_CALL_OK;
		r.err = 0;
		r.state = PAY_PENDING;
		r.provider_ref = op->ref;
		LOGP(DPAY, LOG_NOTICE,
		     "%s: request-to-pay %s: outcome unknown, left to the status query",
		     op->m->base.name, op->ref);
	} else if (op->kind == OP_STATUS && c == PAY_CALL_REFUSED) {
		r.cls = PAY_CALL_TRANSIENT;
	}
	op_finish(op, &r);
}

static void op_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	op_send(w->data);
}

static bool op_retry(struct pay_op *op)
{
	double d = pay_backoff_s(op->attempt++);
	if (gw_now_ms() + (int64_t)(d * 1000) > op->deadline_ms)
		return false;
	ev_timer_set(&op->timer, d, 0.);
	ev_timer_start(op->m->loop, &op->timer);
	return true;
}

static void waiters_run(struct momo *m, int err)
{
	for (;;) {
		struct pay_op *op = m->ops;
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
	struct momo *m = cls;
	m->token_call = NULL;
	int err = pay_token_answer(m->base.name, res, 60, m->token, sizeof(m->token),
				   &m->token_expires_ms);
	waiters_run(m, err);
}

static void token_fetch(struct momo *m)
{
	if (m->token_call)
		return;
	char cred[512], b64[700], auth[720], url[320];
	size_t ul = strlen(m->api_user);
	if (ul + m->api_len + 2 > sizeof(cred)) {
		waiters_run(m, GW_EINVAL);
		return;
	}
	memcpy(cred, m->api_user, ul);
	cred[ul] = ':';
	memcpy(cred + ul + 1, m->api_key, m->api_len);
	EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)cred, (int)(ul + 1 + m->api_len));
	OPENSSL_cleanse(cred, sizeof(cred));
	snprintf(auth, sizeof(auth), "Basic %s", b64);
	OPENSSL_cleanse(b64, sizeof(b64));
	snprintf(url, sizeof(url), "%s/collection/token/", m->base_url);
	struct http_header h[] = {{"Authorization", auth},
				  {"Ocp-Apim-Subscription-Key", m->sub_key}};
	struct http_request rq = {
	    .method = "POST",
	    .url = url,
	    .headers = h,
	    .n_headers = 2,
	    .body = "",
	    .body_len = 0,
	    .timeout_ms = m->timeout_ms,
	    .connect_timeout_ms = m->connect_timeout_ms,
	    .body_cap = 16384,
	    .insecure_loopback = m->loopback,
	};
	m->token_call = http_client_request(m->http, &rq, token_done, m);
	OPENSSL_cleanse(auth, sizeof(auth));
	if (!m->token_call)
		waiters_run(m, GW_ENOMEM);
}

static void op_done(void *cls, const struct http_result *res);

static void op_send(struct pay_op *op)
{
	struct momo *m = op->m;
	if (!m->token[0] || gw_now_ms() >= m->token_expires_ms) {
		op->waiting = true;
		token_fetch(m);
		return;
	}
	char url[400], auth[2100];
	snprintf(auth, sizeof(auth), "Bearer %s", m->token);
	struct http_header h[6] = {{"Authorization", auth},
				   {"Ocp-Apim-Subscription-Key", m->sub_key},
				   {"X-Target-Environment", m->env}};
	size_t nh = 3;
	if (op->kind == OP_PAY) {
		snprintf(url, sizeof(url), "%s/collection/v1_0/requesttopay", m->base_url);
		h[nh++] = (struct http_header){"X-Reference-Id", op->ref};
		h[nh++] = (struct http_header){"Content-Type", "application/json"};
		if (m->send_callback && op->callback_url[0])
			h[nh++] = (struct http_header){"X-Callback-Url", op->callback_url};
	} else {
		snprintf(url, sizeof(url), "%s/collection/v1_0/requesttopay/%s", m->base_url,
			 op->ref);
	}
	struct http_request rq = {
	    .method = op->kind == OP_PAY ? "POST" : "GET",
	    .url = url,
	    .headers = h,
	    .n_headers = nh,
	    .body = op->body,
	    .body_len = op->body ? strlen(op->body) : 0,
	    .timeout_ms = m->timeout_ms,
	    .connect_timeout_ms = m->connect_timeout_ms,
	    .body_cap = 65536,
	    .insecure_loopback = m->loopback,
	};
	op->call = http_client_request(m->http, &rq, op_done, op);
	OPENSSL_cleanse(auth, sizeof(auth));
	if (!op->call)
		op_end(op, PAY_CALL_REFUSED, GW_ENOMEM, 0, NULL);
}

static void op_done(void *cls, const struct http_result *res)
{
	struct pay_op *op = cls;
	struct momo *m = op->m;
	op->call = NULL;
	const char *what = op->kind == OP_PAY ? "request-to-pay" : "status";
	if (res->err) {
		LOGP(DPAY, LOG_NOTICE, "%s: %s: %s (%s)", m->base.name, what, gw_strerror(res->err),
		     res->errtext);
		if (res->err != GW_ECONNREFUSED && op->kind == OP_PAY)
			op->maybe_sent = true;
		/* The same X-Reference-Id again: a duplicate meets 409. */
		if (op_retry(op))
			return;
		op_end(op, op->kind == OP_PAY ? PAY_CALL_REFUSED : PAY_CALL_TRANSIENT, res->err, 0,
		       NULL);
		return;
	}
	json_t *j = json_loadb(res->body, res->body_len, JSON_REJECT_DUPLICATES, NULL);
	const char *code = json_string_value(json_object_get(j, "code"));
	char st[40];
	if (op->kind == OP_PAY) {
		if (res->status == 202 ||
		    (res->status == 409 && code && !strcmp(code, "RESOURCE_ALREADY_EXIST"))) {
			/* 409: an earlier attempt of ours made it; the status says how it went */
			struct pay_result r = {.cls = PAY_CALL_OK,
					       .http_status = res->status,
					       .provider_ref = op->ref,
					       .state = PAY_PENDING};
			json_decref(j);
			op_finish(op, &r);
			return;
		}
		if (res->status == 401 && op->attempt == 0) {
			m->token[0] = '\0'; /* refreshed once */
			op->attempt++;
			json_decref(j);
			op_send(op);
			return;
		}
		if (res->status >= 500 || res->status == 429) {
			if (res->status != 429 && res->status != 503)
				op->maybe_sent = true;
			json_decref(j);
			if (op_retry(op))
				return;
			op_end(op, PAY_CALL_REFUSED,
			       res->status == 429 ? GW_ETHROTTLED : GW_EPEER_STATUS, res->status,
			       NULL);
			return;
		}
		snprintf(st, sizeof(st), "%s", code ? code : "");
		json_decref(j);
		op_end(op, PAY_CALL_REFUSED, res->status == 401 ? GW_EPERM : GW_EPEER_STATUS,
		       res->status, st);
		return;
	}
	if (res->status == 200 && json_is_string(json_object_get(j, "status"))) {
		char rcpt[40] = "";
		status_code(j, st, sizeof(st));
		jtext(json_object_get(j, "financialTransactionId"), rcpt, sizeof(rcpt));
		enum pay_state s = pay_momo_map_result(st);
		struct pay_result r = {.cls = s == PAY_PENDING ? PAY_CALL_PENDING : PAY_CALL_OK,
				       .http_status = 200,
				       .provider_ref = op->ref,
				       .state = s,
				       .result_code = st,
				       .receipt = rcpt[0] && strlen(rcpt) < 32 ? rcpt : NULL};
		if (s == PAY_SUCCEEDED && !r.receipt) {
			GW_PEER_VIOLATION(DPAY, m->base.name,
					  "SUCCESSFUL without a transaction id");
			r.cls = PAY_CALL_TRANSIENT;
		}
		json_decref(j);
		op_finish(op, &r);
		return;
	}
	if (res->status == 404) {
		json_decref(j);
		op_end(op, PAY_CALL_NOTFOUND, GW_ENOENT, 404, "RESOURCE_NOT_FOUND");
		return;
	}
	if (res->status == 401)
		m->token[0] = '\0';
	json_decref(j);
	op_end(op, PAY_CALL_TRANSIENT, GW_EPEER_STATUS, res->status, NULL);
}

static struct pay_op *op_new(struct momo *m, enum op_kind kind, pay_result_cb cb, void *cls)
{
	struct pay_op *op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	op->m = m;
	op->kind = kind;
	op->cb = cb;
	op->cls = cls;
	op->deadline_ms = gw_now_ms() + m->retry_budget_ms;
	ev_timer_init(&op->timer, op_timer_cb, 0., 0.);
	op->timer.data = op;
	op->next = m->ops;
	m->ops = op;
	return op;
}

static int momo_wire_amount(int64_t minor, const char *currency, char *out, size_t n)
{
	int e = pay_currency_exponent(currency);
	return e < 0 ? GW_EINVAL : pay_amount_to_decimal(minor, currency, e, out, n);
}

static struct pay_op *momo_start(struct pay_provider *p, const struct pay_request *rq,
				 pay_result_cb cb, void *cls)
{
	struct momo *m = (struct momo *)p;
	char amount[32];
	if (momo_wire_amount(rq->amount_minor, rq->currency, amount, sizeof(amount)) ||
	    strlen(rq->payment_id) != 36 || strlen(rq->callback_url) >= 512)
		return NULL;
	struct pay_op *op = op_new(m, OP_PAY, cb, cls);
	if (!op)
		return NULL;
	snprintf(op->ref, sizeof(op->ref), "%s", rq->payment_id);
	snprintf(op->callback_url, sizeof(op->callback_url), "%s", rq->callback_url);
	/* MSISDN with country code, no '+' (the canonical form already is) */
	json_t *b = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:s}", "amount", amount,
			      "currency", rq->currency, "externalId", rq->payment_id, "payer",
			      "partyIdType", "MSISDN", "partyId", rq->msisdn, "payerMessage",
			      rq->account_ref, "payeeNote", rq->account_ref);
	op->body = b ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	if (!op->body) {
		op_free(op);
		return NULL;
	}
	op_send(op);
	return op;
}

static struct pay_op *momo_query(struct pay_provider *p, const char *ref, pay_result_cb cb,
				 void *cls)
{
	struct momo *m = (struct momo *)p;
	if (!ref || strlen(ref) != 36 || strspn(ref, "0123456789abcdefABCDEF-") != 36)
		return NULL;
	struct pay_op *op = op_new(m, OP_STATUS, cb, cls);
	if (!op)
		return NULL;
	snprintf(op->ref, sizeof(op->ref), "%s", ref);
	op_send(op);
	return op;
}

static void momo_abandon(struct pay_op *op)
{
	if (op->call)
		http_client_cancel(op->call);
	op_free(op);
}

static void momo_destroy(struct pay_provider *p)
{
	struct momo *m = (struct momo *)p;
	if (!m)
		return;
	while (m->ops)
		momo_abandon(m->ops);
	if (m->token_call)
		http_client_cancel(m->token_call);
	if (m->sub_key)
		secfile_free(m->sub_key, m->sub_len);
	if (m->api_key)
		secfile_free(m->api_key, m->api_len);
	OPENSSL_cleanse(m->token, sizeof(m->token));
	free(m);
}

static int momo_create(struct ev_loop *loop, struct http_client *http, const char *name,
		       json_t *cfg, struct pay_provider **out)
{
	struct momo *m = calloc(1, sizeof(*m));
	if (!m)
		return GW_ENOMEM;
	m->base.ops = &pay_momo_ops;
	snprintf(m->base.name, sizeof(m->base.name), "%s", name);
	m->loop = loop;
	m->http = http;
	int rc = pay_base_url(name, cfg_str(cfg, "base_url"), m->base_url, sizeof(m->base_url),
			      &m->loopback);
	m->timeout_ms = (unsigned)cfg_int(cfg, "timeout_ms");
	m->connect_timeout_ms = (unsigned)cfg_int(cfg, "connect_timeout_ms");
	m->retry_budget_ms = (unsigned)cfg_int(cfg, "retry_budget_ms");
	m->send_callback = cfg_bool(cfg, "send_callback_url");
	snprintf(m->api_user, sizeof(m->api_user), "%s", cfg_str(cfg, "api_user"));
	snprintf(m->env, sizeof(m->env), "%s", cfg_str(cfg, "target_environment"));
	if (!rc && !m->api_user[0]) {
		LOGP(DPAY, LOG_ERROR, "providers.%s.api_user: required", name);
		rc = GW_ECONFIG;
	}
	if (!rc &&
	    (rc = pay_read_secret(cfg_str(cfg, "subscription_key_file"), &m->sub_key, &m->sub_len)))
		LOGP(DPAY, LOG_ERROR, "providers.%s.subscription_key_file: %s", name,
		     gw_strerror(rc));
	if (!rc && (rc = pay_read_secret(cfg_str(cfg, "api_key_file"), &m->api_key, &m->api_len)))
		LOGP(DPAY, LOG_ERROR, "providers.%s.api_key_file: %s", name, gw_strerror(rc));
	if (rc) {
		momo_destroy(&m->base);
		return rc;
	}
	*out = &m->base;
	return 0;
}

const struct pay_provider_ops pay_momo_ops = {
    .type = "momo",
    .create = momo_create,
    .destroy = momo_destroy,
    .start = momo_start,
    .query = momo_query,
    .cancel = NULL, /* MoMo has no way to withdraw a request-to-pay */
    .abandon = momo_abandon,
    .parse_callback = momo_parse_callback,
    .map_result = pay_momo_map_result,
    .wire_amount = momo_wire_amount,
};
