/* M-Pesa Daraja client: OAuth, STK push, STK query (see pay_mpesa.h). */
#include "ussdgw/pay_mpesa.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "pay_int.h"
#include "ussdgw/clock.h"
#include "ussdgw/config.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/http_client.h"
#include "ussdgw/log.h"
#include "ussdgw/secfile.h"

/* ---- pure helpers -------------------------------------------------------- */

char *pay_mpesa_timestamp(int64_t unix_ms, char out[15])
{
	time_t t = (time_t)(unix_ms / 1000) + 3 * 3600; /* EAT has no DST */
	struct tm tm;
	gmtime_r(&t, &tm);
	if (strftime(out, 15, "%Y%m%d%H%M%S", &tm) != 14)
		out[0] = '\0';
	return out;
}

int pay_mpesa_password(const char *shortcode, const char *passkey, const char *timestamp, char *out,
		       size_t n)
{
	char plain[256];
	int len = snprintf(plain, sizeof(plain), "%s%s%s", shortcode, passkey, timestamp);
	if (len < 0 || (size_t)len >= sizeof(plain) || n < (size_t)(4 * ((len + 2) / 3) + 1))
		return GW_EMSGSIZE;
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)plain, len);
	return 0;
}

enum pay_state pay_mpesa_map_result(const char *code)
{
	if (!code || !*code)
		return PAY_FAILED;
	if (strcmp(code, "0") == 0)
		return PAY_SUCCEEDED;
	if (strcmp(code, "1032") == 0)
		return PAY_CANCELLED;
	if (strcmp(code, "1019") == 0)
		return PAY_EXPIRED;
	return PAY_FAILED; /* 1, 2, 3, 4, 8, 17, 1001, 1025, 1037, 2001, 2028, 8006, 9999,
			      SFC_IC0003... */
}

static const char *const err_names[] = {
    [MPESA_ERR_REFUSED] = "REFUSED",   [MPESA_ERR_THROTTLED] = "THROTTLED",
    [MPESA_ERR_TOKEN] = "TOKEN",       [MPESA_ERR_PROCESSING] = "PROCESSING",
    [MPESA_ERR_NOTFOUND] = "NOTFOUND", [MPESA_ERR_AMBIGUOUS] = "AMBIGUOUS",
};

const char *pay_mpesa_error_name(enum pay_mpesa_error e)
{
	return (unsigned)e < sizeof(err_names) / sizeof(err_names[0]) ? err_names[e] : "invalid";
}

static bool contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

enum pay_mpesa_error pay_mpesa_classify(long http_status, const char *body, size_t len)
{
	json_t *j = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, NULL);
	const char *code = j ? json_string_value(json_object_get(j, "errorCode")) : NULL;
	const char *msg = j ? json_string_value(json_object_get(j, "errorMessage")) : NULL;
	enum pay_mpesa_error e;
	if (!code) {
		/* No Daraja envelope (an HTML error page from a proxy, say). */
		e = (http_status >= 400 && http_status < 500 && http_status != 408 &&
		     http_status != 429)
			? MPESA_ERR_REFUSED
			: MPESA_ERR_AMBIGUOUS;
		if (http_status == 429)
			e = MPESA_ERR_THROTTLED;
	} else if (!strcmp(code, "500.003.02") || !strcmp(code, "500.003.03")) {
		e = MPESA_ERR_THROTTLED;
	} else if (!strcmp(code, "404.001.03") || !strcmp(code, "400.003.01")) {
		e = MPESA_ERR_TOKEN;
	} else if (!strcmp(code, "500.001.1001")) {
		/* Overloaded: classify by the message. */
		if (msg && contains_ci(msg, "being processed"))
			e = MPESA_ERR_PROCESSING;
		else if (msg && (contains_ci(msg, "wrong credentials") ||
				 contains_ci(msg, "merchant does not exist") ||
				 contains_ci(msg, "unable to lock subscriber")))
			e = MPESA_ERR_REFUSED;
		else
			e = MPESA_ERR_AMBIGUOUS;
	} else if (!strcmp(code, "400.002.02") && msg && contains_ci(msg, "CheckoutRequestID")) {
		e = MPESA_ERR_NOTFOUND;
	} else if (code[0] == '4') {
		e = MPESA_ERR_REFUSED;
	} else {
		e = MPESA_ERR_AMBIGUOUS; /* 500.003.1001 and unknown server-side codes */
	}
	json_decref(j);
	return e;
}

int pay_mpesa_msisdn(const char *e164, char out[13])
{
	if (!e164 || strlen(e164) != 12 || strncmp(e164, "254", 3) != 0 ||
	    (e164[3] != '7' && e164[3] != '1'))
		return GW_EINVAL;
	for (const char *p = e164; *p; p++)
		if (!isdigit((unsigned char)*p))
			return GW_EINVAL;
	memcpy(out, e164, 13);
	return 0;
}

/* ---- the client ---------------------------------------------------------- */

enum op_kind { OP_PUSH, OP_QUERY };

struct mpesa;

struct pay_op {
	struct mpesa *m;
	enum op_kind kind;
	pay_result_cb cb;
	void *cls;
	/* push */
	char amount[24];
	char phone[13];
	char account_ref[13];
	char callback_url[512];
	/* query */
	char ref[96];
	struct http_call *call;
	ev_timer retry;
	unsigned attempt;
	int64_t deadline_ms;
	bool token_replayed;
	unsigned token_gen;  /* generation of the token the last send used */
	struct pay_op *next; /* every live op of the client */
	bool waiting;
	bool run_now;
};

struct mpesa {
	struct pay_provider base;
	struct ev_loop *loop;
	struct http_client *http;
	char base_url[256];
	char shortcode[16];
	char party_b[16];
	char transaction_type[32];
	char *consumer_key;
	char *consumer_secret;
	char *passkey;
	size_t ck_len, cs_len, pk_len;
	unsigned timeout_ms, connect_timeout_ms, retry_budget_ms;
	bool loopback;
	/* token */
	char token[128];
	int64_t token_expires_ms;
	unsigned token_gen;
	struct http_call *token_call;
	ev_timer token_retry;
	unsigned token_attempt;
	struct pay_op *ops; /* every live op (for destroy) */
};

static void op_send(struct pay_op *op);
static void token_fetch(struct mpesa *m);

static void ops_unlink(struct mpesa *m, struct pay_op *op)
{
	for (struct pay_op **pp = &m->ops; *pp; pp = &(*pp)->next)
		if (*pp == op) {
			*pp = op->next;
			return;
		}
}

static void op_free(struct pay_op *op)
{
	struct mpesa *m = op->m;
	ev_timer_stop(m->loop, &op->retry);
	ops_unlink(m, op);
	free(op);
}

static void op_finish(struct pay_op *op, const struct pay_result *r)
{
	pay_result_cb cb = op->cb;
	void *cls = op->cls;
	op->call = NULL;
	op_free(op);
	cb(cls, r);
}

static void op_finish_class(struct pay_op *op, enum pay_call_class c, int err, long status,
			    const char *code, const char *desc)
{
	struct pay_result r = {
	    .cls = c,
	    .err = err,
	    .http_status = status,
	    .provider_ref = "",
	    .state = PAY_FAILED,
	    .result_code = code ? code : "",
	    .result_desc = desc ? desc : "",
	};
	op_finish(op, &r);
}

/* Backoff: 500 ms doubling to 5 s, jitter into the upper half. */
static double backoff_s(unsigned attempt)
{
	double base = 0.5;
	for (unsigned i = 0; i < attempt && base < 5.0; i++)
		base *= 2;
	if (base > 5.0)
		base = 5.0;
	uint32_t r = 0;
	crypto_random(&r, sizeof(r));
	return base / 2 + (base / 2) * ((double)r / 4294967296.0);
}

static void op_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	op_send(w->data);
}

/* Schedule another attempt if the budget allows. @return false when it does not. */
static bool op_schedule_retry(struct pay_op *op)
{
	double d = backoff_s(op->attempt++);
	if (gw_now_ms() + (int64_t)(d * 1000) > op->deadline_ms)
		return false;
	ev_timer_stop(op->m->loop, &op->retry);
	ev_timer_set(&op->retry, d, 0.);
	ev_timer_start(op->m->loop, &op->retry);
	return true;
}

/* Not processed for sure, but no more time: a push fails, a query waits. */
static void op_give_up(struct pay_op *op, int err, long status, const char *code, const char *desc)
{
	op_finish_class(op, op->kind == OP_PUSH ? PAY_CALL_REFUSED : PAY_CALL_TRANSIENT, err,
			status, code, desc);
}

static void token_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	token_fetch(w->data);
}

static void waiters_run(struct mpesa *m, int err)
{
	/* Mark first: an op that fails now may free itself, so rescan each time. */
	for (struct pay_op *op = m->ops; op; op = op->next)
		if (op->waiting) {
			op->waiting = false;
			op->run_now = true;
		}
	for (;;) {
		struct pay_op *op = m->ops;
		while (op && !op->run_now)
			op = op->next;
		if (!op)
			break;
		op->run_now = false;
		if (err == 0)
			op_send(op);
		else if (!op_schedule_retry(op))
			op_give_up(op, err, 0, NULL, "no access token");
	}
}

static void token_done(void *cls, const struct http_result *res)
{
	struct mpesa *m = cls;
	m->token_call = NULL;
	int err = 0;
	if (res->err) {
		err = res->err;
	} else if (res->status != 200) {
		err = GW_EPEER_STATUS;
		LOGP(DPAY, LOG_ERROR, "%s: OAuth answered %ld", m->base.name, res->status);
	} else {
		json_t *j = json_loadb(res->body, res->body_len, JSON_REJECT_DUPLICATES, NULL);
		const char *tok = j ? json_string_value(json_object_get(j, "access_token")) : NULL;
		json_t *ei = j ? json_object_get(j, "expires_in") : NULL;
		long long exp = -1;
		if (json_is_integer(ei))
			exp = json_integer_value(ei);
		else if (json_is_string(ei)) { /* Daraja sends "3599" */
			char *end;
			exp = strtoll(json_string_value(ei), &end, 10);
			if (*end || end == json_string_value(ei))
				exp = -1;
		}
		if (!tok || !*tok || strlen(tok) >= sizeof(m->token) || exp <= 0) {
			err = GW_EPROTO_MALFORMED;
			LOGP(DPAY, LOG_ERROR, "%s: OAuth answer malformed", m->base.name);
		} else {
			snprintf(m->token, sizeof(m->token), "%s", tok);
			/* Refresh a minute early (or at 90 % of a short lifetime). */
			long long margin = exp > 600 ? 60 : exp / 10;
			m->token_expires_ms = gw_now_ms() + (exp - margin) * 1000;
			m->token_gen++;
			m->token_attempt = 0;
			LOGP(DPAY, LOG_INFO, "%s: access token %u, valid %llds", m->base.name,
			     m->token_gen, exp);
		}
		json_decref(j);
	}
	if (err && res->err == GW_ECONNREFUSED)
		LOGP(DPAY, LOG_NOTICE, "%s: OAuth connection refused", m->base.name);
	waiters_run(m, err);
}

static void token_fetch(struct mpesa *m)
{
	if (m->token_call)
		return; /* one fetch at a time: a new token invalidates the old */
	char cred[512], b64[700], auth[720], url[320];
	if (m->ck_len + m->cs_len + 2 > sizeof(cred)) {
		waiters_run(m, GW_EINVAL);
		return;
	}
	memcpy(cred, m->consumer_key, m->ck_len);
	cred[m->ck_len] = ':';
	memcpy(cred + m->ck_len + 1, m->consumer_secret, m->cs_len);
	EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)cred,
			(int)(m->ck_len + 1 + m->cs_len));
	OPENSSL_cleanse(cred, sizeof(cred));
	snprintf(auth, sizeof(auth), "Basic %s", b64);
	OPENSSL_cleanse(b64, sizeof(b64));
	snprintf(url, sizeof(url), "%s/oauth/v1/generate?grant_type=client_credentials",
		 m->base_url);
	struct http_header h[] = {{"Authorization", auth}};
	struct http_request rq = {
	    .method = "GET",
	    .url = url,
	    .headers = h,
	    .n_headers = 1,
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

static bool token_valid(const struct mpesa *m)
{
	return m->token[0] && gw_now_ms() < m->token_expires_ms;
}

static void op_http_done(void *cls, const struct http_result *res);

static void op_send(struct pay_op *op)
{
	struct mpesa *m = op->m;
	if (!token_valid(m)) {
		op->waiting = true;
		token_fetch(m);
		return;
	}
	char ts[15], pw[256], url[320], auth[160];
	pay_mpesa_timestamp(gw_now_ms(), ts);
	if (pay_mpesa_password(m->shortcode, m->passkey, ts, pw, sizeof(pw))) {
		op_finish_class(op, PAY_CALL_REFUSED, GW_EINVAL, 0, NULL, "password too long");
		return;
	}
	json_t *b;
	if (op->kind == OP_PUSH) {
		b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
			      "BusinessShortCode", m->shortcode, "Password", pw, "Timestamp", ts,
			      "TransactionType", m->transaction_type, "Amount", op->amount,
			      "PartyA", op->phone, "PartyB", m->party_b, "PhoneNumber", op->phone,
			      "CallBackURL", op->callback_url, "AccountReference", op->account_ref,
			      "TransactionDesc", "Payment");
		snprintf(url, sizeof(url), "%s/mpesa/stkpush/v1/processrequest", m->base_url);
	} else {
		b = json_pack("{s:s, s:s, s:s, s:s}", "BusinessShortCode", m->shortcode, "Password",
			      pw, "Timestamp", ts, "CheckoutRequestID", op->ref);
		snprintf(url, sizeof(url), "%s/mpesa/stkpushquery/v1/query", m->base_url);
	}
	OPENSSL_cleanse(pw, sizeof(pw));
	char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	if (!body) {
		op_finish_class(op, PAY_CALL_REFUSED, GW_ENOMEM, 0, NULL, NULL);
		return;
	}
	snprintf(auth, sizeof(auth), "Bearer %s", m->token);
	struct http_header h[] = {{"Authorization", auth}, {"Content-Type", "application/json"}};
	struct http_request rq = {
	    .method = "POST",
	    .url = url,
	    .headers = h,
	    .n_headers = 2,
	    .body = body,
	    .body_len = strlen(body),
	    .timeout_ms = m->timeout_ms,
	    .connect_timeout_ms = m->connect_timeout_ms,
	    .body_cap = 65536,
	    .insecure_loopback = m->loopback,
	};
	op->token_gen = m->token_gen;
	op->call = http_client_request(m->http, &rq, op_http_done, op);
	free(body);
	if (!op->call)
		op_finish_class(op, PAY_CALL_REFUSED, GW_ENOMEM, 0, NULL, NULL);
}

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A result code given as a JSON string or integer, as text. */
static bool jcode(json_t *v, char *out, size_t n)
{
	if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < n) {
		snprintf(out, n, "%s", json_string_value(v));
		return true;
	}
	if (json_is_integer(v)) {
		snprintf(out, n, "%lld", (long long)json_integer_value(v));
		return true;
	}
	return false;
}

static void op_http_done(void *cls, const struct http_result *res)
{
	struct pay_op *op = cls;
	struct mpesa *m = op->m;
	op->call = NULL;
	const char *what = op->kind == OP_PUSH ? "STK push" : "STK query";
	if (res->err) {
		LOGP(DPAY, LOG_NOTICE, "%s: %s: %s (%s)", m->base.name, what, gw_strerror(res->err),
		     res->errtext);
		/* No connection at all: nothing reached the provider. */
		if (res->err == GW_ECONNREFUSED && op_schedule_retry(op))
			return;
		if (res->err == GW_ECONNREFUSED)
			op_give_up(op, res->err, 0, NULL, "connection refused");
		else
			op_finish_class(
			    op, op->kind == OP_PUSH ? PAY_CALL_AMBIGUOUS : PAY_CALL_TRANSIENT,
			    res->err, 0, NULL, NULL);
		return;
	}
	if (res->status == 200) {
		json_t *j = json_loadb(res->body, res->body_len, JSON_REJECT_DUPLICATES, NULL);
		char rc[32] = "", code[32] = "";
		const char *desc = j ? jstr(j, "ResultDesc") : NULL;
		bool ok = j && jcode(json_object_get(j, "ResponseCode"), rc, sizeof(rc));
		if (op->kind == OP_PUSH) {
			const char *ref = j ? jstr(j, "CheckoutRequestID") : NULL;
			if (ok && !strcmp(rc, "0") && ref && *ref && strlen(ref) < 96) {
				struct pay_result r = {
				    .cls = PAY_CALL_OK,
				    .http_status = 200,
				    .provider_ref = ref,
				    .state = PAY_PENDING,
				    .result_code = "",
				    .result_desc = "",
				};
				op_finish(op, &r);
			} else if (ok && strcmp(rc, "0") != 0) {
				op_finish_class(op, PAY_CALL_REFUSED, GW_EPEER_STATUS, 200, rc,
						j ? jstr(j, "ResponseDescription") : NULL);
			} else {
				GW_PEER_VIOLATION(DPAY, m->base.name,
						  "STK push 200 without a usable body");
				op_finish_class(op, PAY_CALL_AMBIGUOUS, GW_EPROTO_MALFORMED, 200,
						NULL, NULL);
			}
		} else if (ok && !strcmp(rc, "0") &&
			   jcode(json_object_get(j, "ResultCode"), code, sizeof(code))) {
			struct pay_result r = {
			    .cls = PAY_CALL_OK,
			    .http_status = 200,
			    .provider_ref = op->ref,
			    .state = pay_mpesa_map_result(code),
			    .result_code = code,
			    .result_desc = desc ? desc : "",
			};
			op_finish(op, &r);
		} else {
			GW_PEER_VIOLATION(DPAY, m->base.name,
					  "STK query 200 without a usable body");
			op_finish_class(op, PAY_CALL_TRANSIENT, GW_EPROTO_MALFORMED, 200, NULL,
					NULL);
		}
		json_decref(j);
		return;
	}
	enum pay_mpesa_error e = pay_mpesa_classify(res->status, res->body, res->body_len);
	LOGP(DPAY, LOG_INFO, "%s: %s answered %ld: %s", m->base.name, what, res->status,
	     pay_mpesa_error_name(e));
	switch (e) {
	case MPESA_ERR_TOKEN:
		if (!op->token_replayed) {
			op->token_replayed = true;
			/* Only drop the token this call used; a newer one is kept. */
			if (op->token_gen == m->token_gen)
				m->token[0] = '\0';
			op_send(op);
			return;
		}
		op_give_up(op, GW_EPERM, res->status, NULL, "token refused twice");
		return;
	case MPESA_ERR_THROTTLED:
		if (op_schedule_retry(op))
			return;
		op_give_up(op, GW_ETHROTTLED, res->status, NULL, "throttled");
		return;
	case MPESA_ERR_PROCESSING:
		op_finish_class(op, op->kind == OP_QUERY ? PAY_CALL_PENDING : PAY_CALL_AMBIGUOUS, 0,
				res->status, NULL, NULL);
		return;
	case MPESA_ERR_NOTFOUND:
		op_finish_class(op, op->kind == OP_QUERY ? PAY_CALL_NOTFOUND : PAY_CALL_REFUSED,
				GW_ENOENT, res->status, NULL, NULL);
		return;
	case MPESA_ERR_REFUSED:
		op_finish_class(op, op->kind == OP_PUSH ? PAY_CALL_REFUSED : PAY_CALL_TRANSIENT,
				GW_EPEER_STATUS, res->status, NULL, NULL);
		return;
	case MPESA_ERR_AMBIGUOUS:
	default:
		op_finish_class(op, op->kind == OP_PUSH ? PAY_CALL_AMBIGUOUS : PAY_CALL_TRANSIENT,
				GW_EPEER_STATUS, res->status, NULL, NULL);
		return;
	}
}

static struct pay_op *op_new(struct mpesa *m, enum op_kind kind, pay_result_cb cb, void *cls)
{
	struct pay_op *op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	op->m = m;
	op->kind = kind;
	op->cb = cb;
	op->cls = cls;
	op->deadline_ms = gw_now_ms() + m->retry_budget_ms;
	ev_timer_init(&op->retry, op_retry_cb, 0., 0.);
	op->retry.data = op;
	op->next = m->ops;
	m->ops = op;
	return op;
}

static int mpesa_wire_amount(int64_t minor, const char *currency, char *out, size_t n)
{
	/* Daraja carries whole shillings only. */
	if (!currency || strcmp(currency, "KES") != 0 || minor <= 0 || minor % 100 != 0)
		return GW_EINVAL;
	snprintf(out, n, "%lld", (long long)(minor / 100));
	return 0;
}

static struct pay_op *mpesa_start(struct pay_provider *p, const struct pay_request *rq,
				  pay_result_cb cb, void *cls)
{
	struct mpesa *m = (struct mpesa *)p;
	struct pay_op *op = op_new(m, OP_PUSH, cb, cls);
	if (!op)
		return NULL;
	if (mpesa_wire_amount(rq->amount_minor, rq->currency, op->amount, sizeof(op->amount)) ||
	    pay_mpesa_msisdn(rq->msisdn, op->phone) || strlen(rq->account_ref) > 12 ||
	    strlen(rq->callback_url) >= sizeof(op->callback_url)) {
		op_free(op);
		return NULL;
	}
	snprintf(op->account_ref, sizeof(op->account_ref), "%s", rq->account_ref);
	snprintf(op->callback_url, sizeof(op->callback_url), "%s", rq->callback_url);
	op_send(op);
	return op;
}

static struct pay_op *mpesa_query(struct pay_provider *p, const char *ref, pay_result_cb cb,
				  void *cls)
{
	struct mpesa *m = (struct mpesa *)p;
	if (!ref || !*ref || strlen(ref) >= 96)
		return NULL;
	struct pay_op *op = op_new(m, OP_QUERY, cb, cls);
	if (!op)
		return NULL;
	snprintf(op->ref, sizeof(op->ref), "%s", ref);
	op_send(op);
	return op;
}

static void mpesa_abandon(struct pay_op *op)
{
	if (op->call)
		http_client_cancel(op->call);
	op_free(op);
}

/* ---- callback parsing ---------------------------------------------------- */

static int mpesa_parse_callback(const char *body, size_t len, struct pay_callback_info *out)
{
	memset(out, 0, sizeof(*out));
	out->amount_minor = -1;
	json_error_t jerr;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	int rc = GW_EPROTO_MALFORMED;
	json_t *cb = json_object_get(json_object_get(j, "Body"), "stkCallback");
	if (!json_is_object(cb))
		goto out;
	const char *ref = jstr(cb, "CheckoutRequestID");
	const char *desc = jstr(cb, "ResultDesc");
	if (!ref || !*ref || strlen(ref) >= sizeof(out->provider_ref) ||
	    !jstr(cb, "MerchantRequestID") ||
	    !jcode(json_object_get(cb, "ResultCode"), out->result_code, sizeof(out->result_code)))
		goto out;
	for (const char *c = ref; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
			goto out;
	snprintf(out->provider_ref, sizeof(out->provider_ref), "%s", ref);
	snprintf(out->result_desc, sizeof(out->result_desc), "%s", desc ? desc : "");
	out->state = pay_mpesa_map_result(out->result_code);
	json_t *items = json_object_get(json_object_get(cb, "CallbackMetadata"), "Item");
	if (out->state == PAY_SUCCEEDED) {
		if (!json_is_array(items))
			goto out; /* a success without metadata is not a success */
		size_t i;
		json_t *it;
		json_array_foreach(items, i, it)
		{
			const char *name = jstr(it, "Name");
			json_t *v = json_object_get(it, "Value");
			if (!name)
				goto out;
			if (!strcmp(name, "Amount") && v) {
				/* Whole shillings, written 1 or 1.00. */
				if (json_is_integer(v))
					out->amount_minor = json_integer_value(v) * 100;
				else if (json_is_real(v)) {
					double d = json_real_value(v);
					long long w = (long long)d;
					if ((double)w != d || w < 0 || w > 1000000000LL)
						goto out;
					out->amount_minor = w * 100;
				} else
					goto out;
			} else if (!strcmp(name, "MpesaReceiptNumber")) {
				if (!json_is_string(v) || json_string_length(v) == 0 ||
				    json_string_length(v) >= sizeof(out->receipt))
					goto out;
				snprintf(out->receipt, sizeof(out->receipt), "%s",
					 json_string_value(v));
			} else if (!strcmp(name, "PhoneNumber") && v) {
				if (json_is_integer(v))
					snprintf(out->msisdn, sizeof(out->msisdn), "%lld",
						 (long long)json_integer_value(v));
				else if (json_is_string(v) && json_string_length(v) == 12)
					snprintf(out->msisdn, sizeof(out->msisdn), "%s",
						 json_string_value(v));
				/* masked or hashed numbers are left out */
				for (char *c = out->msisdn; *c; c++)
					if (!isdigit((unsigned char)*c)) {
						out->msisdn[0] = '\0';
						break;
					}
			}
		}
		if (!out->receipt[0] || out->amount_minor < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* ---- lifecycle ----------------------------------------------------------- */

static bool url_is_loopback(const char *u, bool *https)
{
	*https = strncmp(u, "https://", 8) == 0;
	const char *h = *https ? u + 8 : (strncmp(u, "http://", 7) == 0 ? u + 7 : NULL);
	if (!h)
		return false;
	return !strncmp(h, "127.0.0.1", 9) || !strncmp(h, "localhost", 9) ||
	       !strncmp(h, "[::1]", 5);
}

static int read_secret(const char *path, char **out, size_t *len)
{
	if (!path || !*path)
		return GW_EINVAL;
	int rc = secfile_read(path, out, len);
	if (rc)
		return rc;
	while (*len && ((*out)[*len - 1] == '\n' || (*out)[*len - 1] == '\r'))
		(*out)[--*len] = '\0';
	return 0;
}

static void mpesa_destroy(struct pay_provider *p)
{
	struct mpesa *m = (struct mpesa *)p;
	if (!m)
		return;
	while (m->ops)
		mpesa_abandon(m->ops);
	if (m->token_call)
		http_client_cancel(m->token_call);
	ev_timer_stop(m->loop, &m->token_retry);
	if (m->consumer_key)
		secfile_free(m->consumer_key, m->ck_len);
	if (m->consumer_secret)
		secfile_free(m->consumer_secret, m->cs_len);
	if (m->passkey)
		secfile_free(m->passkey, m->pk_len);
	OPENSSL_cleanse(m->token, sizeof(m->token));
	free(m);
}

static int mpesa_create(struct ev_loop *loop, struct http_client *http, const char *name,
			json_t *cfg, struct pay_provider **out)
{
	struct mpesa *m = calloc(1, sizeof(*m));
	if (!m)
		return GW_ENOMEM;
	m->base.ops = &pay_mpesa_ops;
	snprintf(m->base.name, sizeof(m->base.name), "%s", name);
	m->loop = loop;
	m->http = http;
	ev_timer_init(&m->token_retry, token_retry_cb, 0., 0.);
	m->token_retry.data = m;
	const char *base = cfg_str(cfg, "base_url");
	bool https;
	bool lo = base && url_is_loopback(base, &https);
	if (!base || strlen(base) >= sizeof(m->base_url) || (!https && !lo) ||
	    (strncmp(base, "https://", 8) && strncmp(base, "http://", 7))) {
		LOGP(DPAY, LOG_ERROR,
		     "providers.%s.base_url: an https:// URL (plain http only on loopback)", name);
		free(m);
		return GW_ECONFIG;
	}
	snprintf(m->base_url, sizeof(m->base_url), "%s", base);
	size_t bl = strlen(m->base_url);
	if (bl && m->base_url[bl - 1] == '/')
		m->base_url[bl - 1] = '\0';
	m->loopback = lo;
	snprintf(m->shortcode, sizeof(m->shortcode), "%s", cfg_str(cfg, "shortcode"));
	const char *pb = cfg_str(cfg, "party_b");
	snprintf(m->party_b, sizeof(m->party_b), "%s", pb && *pb ? pb : m->shortcode);
	snprintf(m->transaction_type, sizeof(m->transaction_type), "%s",
		 cfg_str(cfg, "transaction_type"));
	m->timeout_ms = (unsigned)cfg_int(cfg, "timeout_ms");
	m->connect_timeout_ms = (unsigned)cfg_int(cfg, "connect_timeout_ms");
	m->retry_budget_ms = (unsigned)cfg_int(cfg, "retry_budget_ms");
	int rc = read_secret(cfg_str(cfg, "consumer_key_file"), &m->consumer_key, &m->ck_len);
	if (!rc)
		rc = read_secret(cfg_str(cfg, "consumer_secret_file"), &m->consumer_secret,
				 &m->cs_len);
	if (!rc)
		rc = read_secret(cfg_str(cfg, "passkey_file"), &m->passkey, &m->pk_len);
	if (rc) {
		LOGP(DPAY, LOG_ERROR, "providers.%s: credential files: %s", name, gw_strerror(rc));
		mpesa_destroy(&m->base);
		return rc;
	}
	if (strlen(m->shortcode) < 5 || strlen(m->shortcode) > 7) {
		LOGP(DPAY, LOG_ERROR, "providers.%s.shortcode: 5 to 7 digits", name);
		mpesa_destroy(&m->base);
		return GW_ECONFIG;
	}
	*out = &m->base;
	return 0;
}

const struct pay_provider_ops pay_mpesa_ops = {
    .type = "daraja",
    .create = mpesa_create,
    .destroy = mpesa_destroy,
    .start = mpesa_start,
    .query = mpesa_query,
    .cancel = NULL, /* Daraja has no way to withdraw an STK prompt */
    .abandon = mpesa_abandon,
    .parse_callback = mpesa_parse_callback,
    .map_result = pay_mpesa_map_result,
    .wire_amount = mpesa_wire_amount,
};
