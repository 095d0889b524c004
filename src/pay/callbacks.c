/* Provider callbacks on the public listener: /callbacks/{provider}/{token}.
 *
 * Two kinds. Per-payment callbacks (Daraja, MoMo) carry the payment's own
 * secret token in the path. Webhooks (Stripe, PayPal) arrive at one endpoint
 * per provider (its webhook_token in the path) and are authenticated by their
 * signature over the raw body, checked before anything is parsed; the event
 * names the payment by the gateway's id (Stripe metadata, PayPal custom_id)
 * and is de-duplicated by event id and by (object, event type). From there
 * both kinds take the same path:
 *
 * Order: source address allowed -> body parsed and checked (shape, types) ->
 * payment found by its token -> provider reference, amount and MSISDN checked
 * against the payment -> delivery recorded (de-duplicated) -> raw body into
 * the audit journal, encrypted -> 200 once that is durable -> the result is
 * confirmed by a provider query and only then applied. A forged or stale
 * callback is refused and audited; a refused callback changes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pay_int.h"
#include "ussdgw/audit.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/http_server.h"
#include "ussdgw/log.h"
#include "ussdgw/pay_webhook.h"

struct cbjob {
	struct pay_svc *s;
	struct pay_prov *pv;
	struct http_req *req; /* NULL once aborted or answered */
	struct pay_callback_info info;
	struct payment_row row;
	char remote[48];
	char *body;
	size_t body_len;
	bool duplicate;
	/* webhooks */
	bool webhook;
	struct pay_op *vop; /* signature check in progress */
	struct pay_webhook_event ev;
};

static void job_free(struct cbjob *j)
{
	j->s->inflight--;
	free(j->body);
	free(j);
}

static void job_abort(struct http_req *req, void *cls)
{
	(void)req;
	struct cbjob *j = cls;
	j->req = NULL;
	if (j->vop) { /* the signature check is still running: stop it */
		j->pv->p->ops->abandon(j->vop);
		j->vop = NULL;
		job_free(j);
	}
}

static void job_refuse(struct cbjob *j, int err, const char *why)
{
	LOGP(DPAY, LOG_NOTICE, "%s callback from %s refused: %s", j->pv->name, j->remote, why);
	pay_audit(j->row.id[0] ? j->row.id : "-", j->row.session_id, NULL, "callback", "refused",
		  "why", why, "remote", j->remote);
	if (j->req) {
		http_req_on_abort(j->req, NULL, NULL);
		http_problem(j->req, err, NULL);
		j->req = NULL;
	}
	job_free(j);
}

static void job_journaled(void *cls, int rc)
{
	struct cbjob *j = cls;
	if (j->req) {
		http_req_on_abort(j->req, NULL, NULL);
		if (rc)
			http_problem(j->req, GW_EAUDIT, NULL);
		else if (j->webhook)
			http_reply_text(j->req, 200, "application/json", "{\"received\":true}");
		else
			http_reply_text(j->req, 200, "application/json",
					"{\"ResultCode\":0,\"ResultDesc\":\"Accepted\"}");
		j->req = NULL;
	}
	if (rc) {
		LOGP(DPAY, LOG_ERROR, "payment %s: callback not journaled (%s): answered 503",
		     j->row.id, gw_strerror(rc));
		job_free(j);
		return;
	}
	/* Processing. A stored reference is adopted first if the request's answer
	 * was lost (crash or timeout between the push and storing its id). */
	const enum pay_state req[] = {PAY_REQUESTED};
	if (!j->row.provider_ref[0] && j->row.state == PAY_REQUESTED)
		pay_apply(j->s, j->pv, j->row.id, PAY_PENDING, req, 1, j->info.provider_ref, NULL,
			  NULL, NULL, NULL, "reference from the callback");
	if (!j->duplicate || !pay_state_settled(j->row.state))
		pay_confirm(j->s, j->pv, j->row.id, j->info.provider_ref, j->info.state,
			    j->info.receipt, false);
	job_free(j);
}

static void job_recorded(void *cls, int err, bool duplicate)
{
	struct cbjob *j = cls;
	if (err) {
		if (j->req) {
			http_req_on_abort(j->req, NULL, NULL);
			http_problem(j->req, GW_EDEPENDENCY, NULL);
			j->req = NULL;
		}
		job_free(j);
		return;
	}
	j->duplicate = duplicate;
	struct audit_var vars[4] = {
	    {"provider_ref", j->info.provider_ref, false},
	    {"result_code", j->info.result_code, false},
	    {"remote", j->remote, false},
	    {"body", j->body, true}, /* sealed by audit/ */
	};
	struct audit_record rec = {
	    .kind = AUDIT_PAYMENT_STATE,
	    .session_id = j->row.session_id,
	    .payment_id = j->row.id,
	    .msisdn = j->row.msisdn,
	    .event = "callback",
	    .outcome = duplicate ? "duplicate" : "accepted",
	    .actor = j->pv->name,
	    .vars = vars,
	    .n_vars = 4,
	};
	int rc = audit_append(&rec, job_journaled, j);
	if (rc)
		job_journaled(j, rc);
}

static void job_event_recorded(void *cls, int err, bool duplicate)
{
	struct cbjob *j = cls;
	if (err || duplicate) {
		job_recorded(j, err, duplicate);
		return;
	}
	if (payment_db_callback_record(j->s->pg, j->row.id, j->ev.object_id, j->ev.event_type,
				       j->remote, job_recorded, j))
		job_recorded(j, GW_EDEPENDENCY, false);
}

static void job_found(void *cls, int err, const struct payment_row *rows, size_t n)
{
	struct cbjob *j = cls;
	if (err) {
		if (j->req) {
			http_req_on_abort(j->req, NULL, NULL);
			http_problem(j->req, GW_EDEPENDENCY, NULL);
			j->req = NULL;
		}
		job_free(j);
		return;
	}
	if (n != 1 || strcmp(rows[0].provider, j->pv->name) != 0) {
		job_refuse(j, GW_ENOENT, j->webhook ? "unknown payment" : "unknown token");
		return;
	}
	j->row = rows[0];
	const struct pay_callback_info *in = &j->info;
	if (j->row.provider_ref[0] && strcmp(j->row.provider_ref, in->provider_ref) != 0) {
		job_refuse(j, GW_ECONFLICT, "provider reference does not match the payment");
		return;
	}
	if (!j->row.provider_ref[0] && j->row.state != PAY_REQUESTED) {
		/* created (never sent) or settled without a reference */
		job_refuse(j, GW_ECONFLICT, "no request of this payment awaits a callback");
		return;
	}
	if (in->state == PAY_SUCCEEDED) {
		if (in->amount_minor >= 0 && in->amount_minor != j->row.amount_minor) {
			job_refuse(j, GW_ECONFLICT, "amount does not match the payment");
			return;
		}
		if (in->msisdn[0] && strcmp(in->msisdn, j->row.msisdn) != 0) {
			job_refuse(j, GW_ECONFLICT, "MSISDN does not match the payment");
			return;
		}
	}
	if (j->webhook) {
		if (j->ev.currency[0] && strcmp(j->ev.currency, j->row.currency) != 0) {
			job_refuse(j, GW_ECONFLICT, "currency does not match the payment");
			return;
		}
		/* First the event id, then (object, type): a re-sent event and
		 * a second Event object for the same change are both duplicates. */
		char key[104];
		snprintf(key, sizeof(key), "event:%s", j->ev.event_id);
		if (payment_db_callback_record(j->s->pg, j->row.id, key, j->ev.event_type,
					       j->remote, job_event_recorded, j))
			job_recorded(j, GW_EDEPENDENCY, false);
		return;
	}
	if (payment_db_callback_record(j->s->pg, j->row.id, in->provider_ref, in->result_code,
				       j->remote, job_recorded, j))
		job_recorded(j, GW_EDEPENDENCY, false);
}

static bool source_allowed(const struct pay_prov *pv, const char *remote)
{
	for (unsigned i = 0; i < pv->n_sources; i++)
		if (!strcmp(pv->sources[i], remote))
			return true;
	return false;
}

static const char *req_header(void *cls, const char *name)
{
	return http_req_header(cls, name);
}

/* A verified webhook: parse it and find its payment. */
static void webhook_verified(void *cls, int verdict)
{
	struct cbjob *j = cls;
	j->vop = NULL;
	if (!j->req) { /* client gone meanwhile */
		job_free(j);
		return;
	}
	if (verdict != PAY_WH_OK) {
		GW_PEER_VIOLATION(DPAY, j->remote, "%s webhook refused: %s", j->pv->name,
				  pay_webhook_verdict_name(verdict));
		job_refuse(j, verdict == PAY_WH_MALFORMED ? GW_EPROTO_MALFORMED : GW_EPERM,
			   pay_webhook_verdict_name(verdict));
		return;
	}
	int rc = j->pv->p->ops->parse_webhook(j->body, j->body_len, &j->ev);
	if (rc == GW_ENOTSUP || (rc == 0 && !j->ev.payment_id[0])) {
		/* Authentic, but about nothing we started: acknowledge so the
		 * provider stops re-sending, and keep a trace. */
		pay_audit("-", NULL, NULL, "webhook", "ignored", "type",
			  j->ev.event_type[0] ? j->ev.event_type : "unknown", "remote", j->remote);
		http_req_on_abort(j->req, NULL, NULL);
		http_reply_text(j->req, 200, "application/json", "{\"received\":true}");
		j->req = NULL;
		job_free(j);
		return;
	}
	if (rc) {
		GW_PEER_VIOLATION(DPAY, j->remote, "%s webhook malformed", j->pv->name);
		job_refuse(j, GW_EPROTO_MALFORMED, "malformed");
		return;
	}
	struct pay_callback_info *in = &j->info;
	snprintf(in->provider_ref, sizeof(in->provider_ref), "%s", j->ev.provider_ref);
	snprintf(in->result_code, sizeof(in->result_code), "%.31s", j->ev.event_type);
	snprintf(in->result_desc, sizeof(in->result_desc), "%s", j->ev.event_id);
	in->state = j->ev.state;
	in->amount_minor = j->ev.amount_minor;
	if (payment_db_by_id(j->s->pg, j->ev.payment_id, job_found, j))
		job_found(j, GW_EDEPENDENCY, NULL, 0);
}

static int webhook_http(struct http_req *req, const char *token, struct cbjob *j)
{
	struct pay_prov *pv = j->pv;
	size_t tl = strlen(token), wl = strlen(pv->webhook_token);
	if (tl != wl || !crypto_equal(token, pv->webhook_token, wl)) {
		GW_PEER_VIOLATION(DPAY, j->remote, "%s webhook on an unknown path", pv->name);
		pay_audit("-", NULL, NULL, "webhook", "refused", "why", "unknown path", "remote",
			  j->remote);
		job_free(j);
		return GW_ENOENT;
	}
	size_t len;
	const char *body = http_req_body(req, &len);
	j->body = malloc(len + 1);
	if (!j->body) {
		job_free(j);
		return GW_ENOMEM;
	}
	memcpy(j->body, body, len);
	j->body[len] = '\0';
	j->body_len = len;
	j->webhook = true;
	j->req = req;
	http_req_on_abort(req, job_abort, j);
	j->vop =
	    pv->p->ops->verify_webhook(pv->p, req_header, req, j->body, len, webhook_verified, j);
	if (!j->vop) {
		http_req_on_abort(req, NULL, NULL);
		job_free(j);
		return GW_ENOMEM;
	}
	return 0;
}

int pay_callback_http(struct http_req *req, const char *token, void *cls)
{
	struct pay_prov *pv = cls;
	struct pay_svc *s = pv->svc;
	pay_crash_point(s, PAY_CRASH_CALLBACK);
	const char *remote = http_req_remote(req);
	if (strcmp(http_req_method(req), "POST") != 0 && strcmp(http_req_method(req), "PUT") != 0)
		return GW_EMETHOD;
	struct cbjob *j = calloc(1, sizeof(*j));
	if (!j)
		return GW_ENOMEM;
	j->s = s;
	j->pv = pv;
	s->inflight++;
	snprintf(j->remote, sizeof(j->remote), "%s", remote ? remote : "?");
	if (!remote || !source_allowed(pv, remote)) {
		GW_PEER_VIOLATION(DPAY, j->remote, "%s callback from a source not allowed",
				  pv->name);
		pay_audit("-", NULL, NULL, "callback", "refused", "why", "source not allowed",
			  "remote", j->remote);
		job_free(j);
		return GW_EACCES;
	}
	if (pv->p->ops->verify_webhook)
		return webhook_http(req, token, j);
	size_t len;
	const char *body = http_req_body(req, &len);
	if (pv->p->ops->parse_callback(body, len, &j->info)) {
		GW_PEER_VIOLATION(DPAY, j->remote, "%s callback malformed", pv->name);
		pay_audit("-", NULL, NULL, "callback", "refused", "why", "malformed", "remote",
			  j->remote);
		job_free(j);
		return GW_EPROTO_MALFORMED;
	}
	j->body = malloc(len + 1);
	if (!j->body) {
		job_free(j);
		return GW_ENOMEM;
	}
	memcpy(j->body, body, len);
	j->body[len] = '\0';
	j->body_len = len;
	char hash[65];
	payment_token_hash(token, hash);
	j->req = req;
	http_req_on_abort(req, job_abort, j);
	if (payment_db_by_token(s->pg, hash, job_found, j)) {
		http_req_on_abort(req, NULL, NULL);
		job_free(j);
		return GW_EDEPENDENCY;
	}
	return 0;
}
