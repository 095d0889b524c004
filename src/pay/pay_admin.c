/* Payment routes on the admin listener (loopback by default):
 *   GET  /payments/review   payments that need a person (unknown, late
 *                           successes, disagreements), as JSON, no MSISDNs
 * and, only with the test-only key payments.test_trigger (off by default):
 *   POST /test/pay          start a payment as the menu `pay` action would
 *   POST /test/reconcile    run a reconciliation sweep now
 * A separate service so it starts after the listeners. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pay_int.h"
#include "ussdgw/daemon.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/http_json.h"
#include "ussdgw/http_listeners.h"
#include "ussdgw/http_server.h"
#include "ussdgw/log.h"

struct review_ctx {
	struct http_req *req;
};

static void review_abort(struct http_req *req, void *cls)
{
	(void)req;
	((struct review_ctx *)cls)->req = NULL;
}

static void review_rows(void *cls, int err, const struct payment_row *rows, size_t n)
{
	struct review_ctx *c = cls;
	if (c->req) {
		http_req_on_abort(c->req, NULL, NULL);
		if (err) {
			http_problem(c->req, err, NULL);
		} else {
			json_t *a = json_array();
			for (size_t i = 0; i < n; i++) {
				const struct payment_row *r = &rows[i];
				json_array_append_new(
				    a, json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:I}",
						 "id", r->id, "provider", r->provider, "state",
						 pay_state_name(r->state), "amount_minor",
						 (json_int_t)r->amount_minor, "currency",
						 r->currency, "provider_ref", r->provider_ref,
						 "receipt", r->receipt, "reason", r->review_reason,
						 "updated_ms", (json_int_t)r->updated_ms));
			}
			http_reply_json(
			    c->req, 200,
			    json_pack("{s:I, s:o}", "count", (json_int_t)n, "payments", a));
		}
	}
	free(c);
}

static void review_handler(struct http_req *req, void *cls)
{
	(void)cls;
	struct pay_svc *s = pay_svc_current;
	if (!s) {
		http_problem(req, GW_ESHUTDOWN, "payments are not running");
		return;
	}
	struct review_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		http_problem(req, GW_ENOMEM, NULL);
		return;
	}
	c->req = req;
	http_req_on_abort(req, review_abort, c);
	if (payment_db_list_review(s->pg, 500, review_rows, c)) {
		http_req_on_abort(req, NULL, NULL);
		free(c);
		http_problem(req, GW_EDEPENDENCY, NULL);
	}
}

struct trig_ctx {
	struct http_req *req;
};

static void trig_abort(struct http_req *req, void *cls)
{
	(void)req;
	((struct trig_ctx *)cls)->req = NULL;
}

static void trig_started(void *cls, const struct pay_started *r)
{
	struct trig_ctx *c = cls;
	if (c->req) {
		http_req_on_abort(c->req, NULL, NULL);
		http_reply_json(c->req, r->err ? 409 : 200,
				json_pack("{s:s, s:s?, s:s, s:b, s:s}", "error", gw_errname(r->err),
					  "payment_id", r->payment_id, "state",
					  pay_state_name(r->state), "replay", r->replay, "reason",
					  r->reason ? r->reason : ""));
	}
	free(c);
}

static void trigger_handler(struct http_req *req, void *cls)
{
	(void)cls;
	const char *provider = NULL, *msisdn = NULL, *account = NULL, *session = NULL;
	int64_t amount = 0, step = 0;
	char currency[4] = "";
	const struct http_json_spec spec[] = {
	    {.field = "provider", .type = HTTP_JSON_T_STRING, .dest = &provider, .max_len = 32},
	    {.field = "amount_minor",
	     .type = HTTP_JSON_T_AMOUNT,
	     .dest = &amount,
	     .min = 1,
	     .max = 100000000000LL},
	    {.field = "currency", .type = HTTP_JSON_T_CURRENCY, .dest = currency},
	    {.field = "msisdn", .type = HTTP_JSON_T_STRING, .dest = &msisdn, .max_len = 15},
	    {.field = "account_ref", .type = HTTP_JSON_T_STRING, .dest = &account, .max_len = 64},
	    {.field = "session_id", .type = HTTP_JSON_T_STRING, .dest = &session, .max_len = 128},
	    {.field = "step", .type = HTTP_JSON_T_INT, .dest = &step, .min = 0, .max = 1000000},
	    HTTP_JSON_END,
	};
	if (http_parse_json_body(req, spec, NULL))
		return;
	struct trig_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		http_problem(req, GW_ENOMEM, NULL);
		return;
	}
	struct pay_intent in = {
	    .provider = provider,
	    .amount_minor = amount,
	    .currency = currency,
	    .msisdn = msisdn,
	    .account_ref = account,
	    .session_id = session,
	    .step = (unsigned)step,
	};
	c->req = req;
	http_req_on_abort(req, trig_abort, c);
	int rc = pay_intent_start(&in, trig_started, c);
	if (rc) {
		http_req_on_abort(req, NULL, NULL);
		free(c);
		http_problem(req, rc, NULL);
	}
}

static void reconcile_handler(struct http_req *req, void *cls)
{
	(void)cls;
	if (pay_svc_current)
		pay_reconcile_now(pay_svc_current);
	http_reply_text(req, 202, "application/json", "{\"started\":true}");
}

static int admin_start(struct gw_node *node, void **state)
{
	(void)node;
	*state = NULL;
	struct pay_svc *s = pay_svc_current;
	struct http_server *srv = http_listener("http-admin");
	if (!s || !srv)
		return 0;
	int rc = http_server_route(srv, "GET", "/payments/review", review_handler, NULL);
	if (!rc && s->test_trigger) {
		rc = http_server_route(srv, "POST", "/test/pay", trigger_handler, NULL);
		if (!rc)
			rc = http_server_route(srv, "POST", "/test/reconcile", reconcile_handler,
					       NULL);
	}
	return rc;
}

const struct gw_service pay_admin_service = {
    .name = "payments-admin",
    .start = admin_start,
};
