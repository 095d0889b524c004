/* The USSD step pipeline (ussd_engine.h). */
#include "ussdgw/ussd_engine.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "ussdgw/audit.h"
#include "ussdgw/clock.h"
#include "ussdgw/config.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/http_admin.h"
#include "ussdgw/http_client.h"
#include "ussdgw/http_json.h"
#include "ussdgw/log.h"
#include "ussdgw/menu.h"
#include "ussdgw/metrics.h"
#include "ussdgw/smpp_link.h"
#include "ussdgw/smpp_mtq.h"
#include "ussdgw/sms_mo_basic.h"
#include "ussdgw/store_redis.h"
#include "ussdgw/ussd_dialect.h"
#include "ussdgw/ussd_menu_store.h"
#include "ussdgw/ussd_session.h"

/* Time kept back from the answer budget for the save, the audit and the submit. */
#define BUDGET_RESERVE_MS 1500
/* Attempts of one step when another delivery saved first. */
#define CAS_ATTEMPTS 3
/* Actions run in one step at most (a chain of awaited actions). */
#define STEP_ACTIONS_MAX 8

static const char busy_text[] = "Service busy, please try again later.";
static const char expired_text[] = "Your session has expired. Please dial again.";
static const char unknown_text[] = "Unknown service code.";
static const char error_text[] = "Service unavailable. Please try again later.";

struct engine {
	struct gw_node *node;
	struct ev_loop *loop;
	struct smpp_links *links;
	struct store_redis *redis;
	struct ussd_menus *menus;
	struct http_client *http;
	json_t *services; /* borrowed from the config: name -> base URL */
	int idle_ms, keep_ms, dedup_ms, redis_ms;
	unsigned max_inflight, inflight;
	bool draining;
	struct cfg *cfg;
};

struct step {
	struct engine *e;
	struct smpp_mo *mo;
	struct ussd_link_cfg lc;
	struct ussd_event ev;
	char link[64], bind[64];
	double deadline;  /* absolute ev_now() time by which the reply must be out */
	int64_t t0_us;
	int attempts;

	struct ussd_session_rec old; /* as loaded (gen 0: none) */
	struct ussd_session_rec rec; /* what is saved */
	const struct menu *menu;
	struct menu_state st;
	struct menu_output out;
	int nactions;
	bool pin_step;   /* the input was a PIN: it is not fingerprinted nor audited */
	bool replay;     /* a re-sent request: the stored answer goes out again */
	bool no_reply;   /* abort/timeout/end from the network: nothing to send */
	bool shed;
	bool expired;    /* the subscriber answered an idle-expired session */
	const char *event_name;

	/* the awaited action in flight */
	struct http_call *call;
	ev_timer timer;
	char act_id[16];
	bool timer_on;
};

static void step_free(struct step *s)
{
	if (s->timer_on)
		ev_timer_stop(s->e->loop, &s->timer);
	if (s->call)
		http_client_cancel(s->call);
	menu_state_clear(&s->st);
	menu_output_clear(&s->out);
	ussd_session_rec_clear(&s->old);
	ussd_session_rec_clear(&s->rec);
	struct engine *e = s->e;
	free(s);
	if (--e->inflight == 0 && e->draining)
		daemon_drained(e->node, "ussd");
}

static void finish(struct step *s, uint32_t status)
{
	static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
	struct metric *m = metrics_histogram("ussdgw_ussd_step_seconds",
					     "USSD step time from deliver_sm to deliver_sm_resp", NULL,
					     bounds, sizeof(bounds) / sizeof(bounds[0]));
	if (m)
		metric_observe(m, (double)(gw_now_us() - s->t0_us) / 1e6);
	char lbl[64];
	snprintf(lbl, sizeof(lbl), "outcome=\"%s\"",
		 status == ESME_ROK ? (s->replay ? "replay" : s->shed ? "shed" : "ok") : "deferred");
	metric_inc(metrics_counter("ussdgw_ussd_steps_total", "USSD steps by outcome", lbl));
	smpp_mo_respond(s->mo, status);
	s->mo = NULL;
	step_free(s);
}

static int remaining_ms(const struct step *s)
{
	return (int)((s->deadline - ev_now(s->e->loop)) * 1000.0);
}

/* ---- reply ------------------------------------------------------------- */

static void on_submitted(void *cls, const struct smpp_submit_result *res)
{
	struct step *s = cls;
	if (res->err || res->status != ESME_ROK)
		LOGP(DUSSD, LOG_NOTICE, "session %s: reply not accepted on %s (%s, status 0x%02x)",
		     s->rec.sid, s->link, res->err ? gw_strerror(res->err) : "refused", res->status);
	finish(s, res->err ? ESME_RX_T_APPN : ESME_ROK);
}

static void send_reply(struct step *s)
{
	if (s->no_reply || !s->rec.ans) {
		finish(s, ESME_ROK);
		return;
	}
	struct smpp_pdu pdu;
	struct ussd_reply_buf buf;
	struct ussd_reply r = {.end = s->rec.ans_end, .text = s->rec.ans};
	int rc = ussd_dialect_encode_reply(&s->lc, &s->ev, &r, &pdu, &buf);
	if (!rc)
		rc = smpp_links_submit(s->e->links, s->link, s->bind, &pdu, s->deadline, on_submitted, s);
	if (rc) {
		LOGP(DUSSD, LOG_NOTICE, "session %s: reply not sent on %s: %s", s->rec.sid, s->link,
		     gw_strerror(rc));
		finish(s, ESME_RX_T_APPN);
	}
}

static void on_durable(void *cls, int rc)
{
	struct step *s = cls;
	if (rc) {
		LOGP(DUSSD, LOG_NOTICE, "session %s: step not audited (%s): ESME_RX_T_APPN", s->rec.sid,
		     gw_strerror(rc));
		finish(s, ESME_RX_T_APPN);
		return;
	}
	send_reply(s);
}

static void audit_step(struct step *s)
{
	char steps[16], ms[24];
	snprintf(steps, sizeof(steps), "%u", s->rec.steps);
	snprintf(ms, sizeof(ms), "%lld", (long long)(gw_now_us() - s->t0_us) / 1000);
	struct audit_var vars[6];
	size_t n = 0;
	vars[n++] = (struct audit_var){"menu_version", s->rec.ver, false};
	vars[n++] = (struct audit_var){"step", steps, false};
	vars[n++] = (struct audit_var){"dialect", ussd_dialect_name(s->lc.dialect), false};
	if (s->rec.ended)
		vars[n++] = (struct audit_var){"end_reason", s->rec.reason, false};
	/* What the subscriber typed is sealed; a PIN is not recorded at all. */
	if (!s->pin_step && !s->replay && s->ev.text[0])
		vars[n++] = (struct audit_var){"input", s->ev.text, true};
	if (s->pin_step)
		vars[n++] = (struct audit_var){"input", "(pin withheld)", false};
	struct audit_record rec = {
		.kind = AUDIT_SESSION_STEP,
		.session_id = s->rec.sid[0] ? s->rec.sid : NULL,
		.link = s->bind,
		.msisdn = s->ev.msisdn,
		.screen_id = s->rec.screen[0] ? s->rec.screen : NULL,
		.event = s->event_name,
		.outcome = s->rec.ended ? "end" : "continue",
		.actor = "subscriber",
		.vars = vars,
		.n_vars = n,
		.elapsed_us = gw_now_us() - s->t0_us,
	};
	int rc = audit_append(&rec, on_durable, s);
	if (rc)
		on_durable(s, rc);
}

/* ---- save -------------------------------------------------------------- */

static void load_and_step(struct step *s);

static void on_saved(void *cls, int err, uint64_t gen)
{
	struct step *s = cls;
	(void)gen;
	if (err == GW_ECONFLICT && ++s->attempts < CAS_ATTEMPTS) {
		/* Another delivery (this node or another) applied a step first: start over
		 * from what it saved; a re-send then finds its answer. */
		LOGP(DUSSD, LOG_INFO, "session %s: saved concurrently, reloading", s->rec.sid);
		menu_state_clear(&s->st);
		menu_output_clear(&s->out);
		ussd_session_rec_clear(&s->old);
		ussd_session_rec_clear(&s->rec);
		s->menu = NULL;
		s->pin_step = false;
		s->nactions = 0;
		load_and_step(s);
		return;
	}
	if (err) {
		LOGP(DUSSD, LOG_NOTICE, "session %s: not saved (%s): ESME_RX_T_APPN", s->rec.sid,
		     gw_strerror(err));
		finish(s, ESME_RX_T_APPN);
		return;
	}
	audit_step(s);
}

/* The fingerprint kept in Redis: without the text when it was a PIN. */
static void stored_fp(const struct step *s, char out[33])
{
	if (!s->pin_step || s->ev.fp_strong) {
		if (!s->pin_step) {
			memcpy(out, s->ev.fp, 33);
			return;
		}
	}
	char buf[96];
	int n = snprintf(buf, sizeof(buf), "pin|%u|%02x%02x|%u|%u", s->ev.op, s->ev.its[0],
			 s->ev.its[1], s->ev.umr, s->ev.smpp_seq);
	uint8_t h[32];
	crypto_sha256(buf, (size_t)n, h);
	crypto_hex(h, 16, out);
	out[32] = '\0';
}

static void save(struct step *s)
{
	struct engine *e = s->e;
	int64_t now = gw_now_ms();
	struct ussd_session_rec *r = &s->rec;
	stored_fp(s, r->fp);
	r->smpp_seq = s->ev.smpp_seq;
	r->in_ms = now;
	r->last_ms = now;
	r->steps = s->old.gen && !strcmp(s->old.sid, r->sid) ? s->old.steps + 1 : 1;
	if (s->menu) {
		free(r->state);
		r->state = menu_state_to_json(s->menu, &s->st);
	}
	int ttl = r->ended ? (e->keep_ms > e->dedup_ms ? e->keep_ms : e->dedup_ms)
			   : e->idle_ms + e->keep_ms;
	int rc = ussd_session_save(e->redis, s->link, s->ev.msisdn, r, s->old.gen, ttl, e->redis_ms,
				   on_saved, s);
	if (rc)
		on_saved(s, rc, 0);
}

/* Set the answer from the menu output (or a fixed text). */
static void set_answer(struct step *s, const char *text, bool end, const char *reason)
{
	free(s->rec.ans);
	s->rec.ans = strdup(text ? text : "");
	s->rec.ans_end = end;
	s->rec.ended = end;
	snprintf(s->rec.reason, sizeof(s->rec.reason), "%s", end ? reason : "");
}

static void answer_from_output(struct step *s)
{
	bool end = s->out.kind == MENU_OUT_END;
	const char *why = menu_end_reason_name(s->out.reason);
	if (s->out.reason == MENU_END_LOCKOUT)
		why = "lockout";
	set_answer(s, s->out.text, end, why);
	if (s->menu && s->st.screen >= 0)
		snprintf(s->rec.screen, sizeof(s->rec.screen), "%s",
			 menu_screen_id(s->menu, (size_t)s->st.screen));
}

/* ---- actions ----------------------------------------------------------- */

static void after_step(struct step *s, int rc);

static void action_result(struct step *s, enum menu_action_status st, json_t *result)
{
	struct menu_event ev = {
		.kind = MENU_EV_ACTION_RESULT,
		.now_ms = gw_now_ms(),
		.action_id = s->act_id,
		.status = st,
		.result = result,
	};
	struct menu_state in;
	menu_state_init(&in);
	int rc = menu_state_copy(&in, &s->st);
	menu_state_clear(&s->st);
	menu_output_clear(&s->out);
	if (!rc)
		rc = menu_step(s->menu, &in, &ev, &s->st, &s->out);
	menu_state_clear(&in);
	json_decref(result);
	after_step(s, rc);
}

static void on_action_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct step *s = w->data;
	s->timer_on = false;
	if (s->call) {
		http_client_cancel(s->call);
		s->call = NULL;
	}
	LOGP(DUSSD, LOG_NOTICE, "session %s: action %s timed out", s->rec.sid, s->act_id);
	action_result(s, MENU_RES_TIMEOUT, NULL);
}

static void on_http_done(void *cls, const struct http_result *res)
{
	struct step *s = cls;
	s->call = NULL;
	if (s->timer_on) {
		ev_timer_stop(s->e->loop, &s->timer);
		s->timer_on = false;
	}
	if (res->err == GW_ETIMEDOUT) {
		action_result(s, MENU_RES_TIMEOUT, NULL);
		return;
	}
	if (res->err) {
		LOGP(DUSSD, LOG_NOTICE, "session %s: action %s failed: %s", s->rec.sid, s->act_id,
		     gw_strerror(res->err));
		action_result(s, MENU_RES_ERROR, json_pack("{s:i}", "status", 503));
		return;
	}
	json_t *body = json_loadb(res->body, res->body_len, 0, NULL);
	if (!json_is_object(body)) {
		json_decref(body);
		body = json_object();
	}
	bool ok = res->status >= 200 && res->status < 300;
	if (!ok && !json_object_get(body, "status"))
		json_object_set_new(body, "status", json_integer(res->status));
	LOGP(DUSSD, LOG_INFO, "session %s: action %s answered %ld in %.0f ms", s->rec.sid, s->act_id,
	     res->status, res->total_s * 1000);
	action_result(s, ok ? MENU_RES_OK : MENU_RES_ERROR, body);
}

static void url_append(char *url, size_t cap, const char *s)
{
	size_t n = strlen(url);
	for (; *s && n + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
			url[n++] = (char)c;
		} else {
			snprintf(url + n, cap - n, "%%%02X", c);
			n += 3;
		}
	}
	url[n] = '\0';
}

/* Start an HTTP-backed action (http, pin_check). @return 0 or an error (result: error). */
static int start_http(struct step *s, struct menu_action *a)
{
	json_t *p = a->params;
	const char *svc = json_string_value(json_object_get(p, "service"));
	const char *base = svc ? json_string_value(json_object_get(s->e->services, svc)) : NULL;
	if (!base) {
		LOGP(DUSSD, LOG_ERROR, "action %s: service %s is not configured (ussd.services)", a->id,
		     svc ? svc : "(none)");
		return GW_ECONFIG;
	}
	const char *path = json_string_value(json_object_get(p, "path"));
	char url[2048];
	snprintf(url, sizeof(url), "%s%s", base, path ? path : "");
	json_t *q = json_object_get(p, "query");
	if (json_is_object(q)) {
		const char *k;
		json_t *v;
		char sep = '?';
		json_object_foreach(q, k, v) {
			char val[256];
			if (json_is_string(v))
				snprintf(val, sizeof(val), "%s", json_string_value(v));
			else if (json_is_integer(v))
				snprintf(val, sizeof(val), "%lld", (long long)json_integer_value(v));
			else
				continue;
			size_t n = strlen(url);
			snprintf(url + n, sizeof(url) - n, "%c", sep);
			url_append(url, sizeof(url), k);
			n = strlen(url);
			snprintf(url + n, sizeof(url) - n, "=");
			url_append(url, sizeof(url), val);
			sep = '&';
		}
	}
	const char *method = json_string_value(json_object_get(p, "method"));
	json_t *body = json_object_get(p, "body");
	bool pin = a->kind == MENU_ACT_PIN_CHECK;
	if (!method)
		method = pin || body ? "POST" : "GET";
	char *js = NULL;
	if (pin || json_is_object(body)) {
		json_t *b = json_is_object(body) ? json_deep_copy(body) : json_object();
		if (pin)
			json_object_set_new(b, a->secret_field[0] ? a->secret_field : "pin",
					    json_string(a->secret));
		if (json_is_true(json_object_get(p, "idempotent"))) {
			/* Fixed before the first send: the same step of the same session
			 * (a re-run after a concurrent save included) sends the same key. */
			char key[96];
			snprintf(key, sizeof(key), "%s.%u.%s", s->rec.sid,
				 s->old.gen && !strcmp(s->old.sid, s->rec.sid) ? s->old.steps + 1 : 1,
				 a->id);
			json_object_set_new(b, "idempotency_key", json_string(key));
		}
		js = json_dumps(b, JSON_COMPACT);
		json_decref(b);
		if (!js)
			return GW_ENOMEM;
	}
	int left = remaining_ms(s) - BUDGET_RESERVE_MS;
	int dl = a->deadline_ms > 0 && a->deadline_ms < left ? a->deadline_ms : left;
	if (dl < 100)
		dl = 100;
	struct http_header hdr[] = {{"Content-Type", "application/json"}};
	struct http_request req = {
		.method = method,
		.url = url,
		.headers = js ? hdr : NULL,
		.n_headers = js ? 1 : 0,
		.body = js,
		.body_len = js ? strlen(js) : 0,
		.timeout_ms = (unsigned)dl + 500, /* our timer fires first */
		.connect_timeout_ms = (unsigned)dl,
		.body_cap = 64 * 1024,
	};
	s->call = http_client_request(s->e->http, &req, on_http_done, s);
	if (js) {
		/* The body may hold the PIN: wipe it now that the client copied it. */
		OPENSSL_cleanse(js, strlen(js));
		free(js);
	}
	if (!s->call)
		return GW_EINVAL;
	ev_timer_init(&s->timer, on_action_timeout, dl / 1000.0, 0);
	s->timer.data = s;
	ev_timer_start(s->e->loop, &s->timer);
	s->timer_on = true;
	return 0;
}

static void on_sms_queued(void *cls, int err, const char *mt_id)
{
	(void)cls;
	if (err)
		LOGP(DUSSD, LOG_NOTICE, "menu SMS not queued: %s", gw_strerror(err));
	else
		LOGP(DUSSD, LOG_INFO, "menu SMS queued as %s", mt_id);
}

/* Fire-and-forget SMS of a menu: into the link's MT queue. */
static void start_sms(struct step *s, const struct menu_action *a)
{
	struct store_redis *r = smpp_links_redis(s->e->links);
	const char *to = json_string_value(json_object_get(a->params, "to"));
	const char *text = json_string_value(json_object_get(a->params, "text"));
	const char *cls = json_string_value(json_object_get(a->params, "class"));
	if (!r || !text)
		return;
	char from[24];
	snprintf(from, sizeof(from), "%s", s->ev.service_addr);
	struct smpp_mt mt = {
		.to = to && to[0] ? to : s->ev.msisdn,
		.from = from,
		.text = text,
		.src_ton = 3, /* network specific: a short code */
		.src_npi = 0,
		.dst_ton = 1,
		.dst_npi = 1,
		.msg_class = cls ? cls : "transactional",
		.registered_delivery = -1,
	};
	json_t *lcfg = smpp_mo_link_config(s->mo);
	json_t *mq = json_object_get(lcfg, "mt_queue_max");
	unsigned max = json_is_integer(mq) ? (unsigned)json_integer_value(mq) : 100000;
	if (smpp_mtq_enqueue(r, s->link, &mt, max, on_sms_queued, NULL))
		LOGP(DUSSD, LOG_NOTICE, "session %s: menu SMS refused", s->rec.sid);
}

/* Run what the menu asked for; step again on results until a screen is ready. */
static void after_step(struct step *s, int rc)
{
	if (rc) {
		LOGP(DUSSD, LOG_ERROR, "session %s: menu step failed: %s", s->rec.sid, gw_strerror(rc));
		set_answer(s, error_text, true, "error");
		save(s);
		return;
	}
	int awaited = -1;
	for (size_t i = 0; i < s->out.nactions; i++) {
		struct menu_action *a = &s->out.actions[i];
		if (a->kind == MENU_ACT_PIN_CHECK)
			s->pin_step = true;
		if (a->awaited && awaited < 0)
			awaited = (int)i;
		else if (a->kind == MENU_ACT_SMS)
			start_sms(s, a);
	}
	if (s->out.kind != MENU_OUT_WAIT || awaited < 0) {
		answer_from_output(s);
		save(s);
		return;
	}
	struct menu_action *a = &s->out.actions[awaited];
	snprintf(s->act_id, sizeof(s->act_id), "%s", a->id);
	if (++s->nactions > STEP_ACTIONS_MAX || remaining_ms(s) < BUDGET_RESERVE_MS + 100) {
		/* No time left for it: the menu's timeout path gives the holding/end screen. */
		action_result(s, MENU_RES_TIMEOUT, NULL);
		return;
	}
	switch (a->kind) {
	case MENU_ACT_HTTP:
	case MENU_ACT_PIN_CHECK:
		rc = start_http(s, a);
		/* The PIN is not needed any more, whatever happens. */
		OPENSSL_cleanse(a->secret, sizeof(a->secret));
		if (rc)
			action_result(s, MENU_RES_ERROR, json_pack("{s:i}", "status", 503));
		return;
	case MENU_ACT_PAY:
		/* Payments are not wired into this node yet: the menu's error path. */
		LOGP(DUSSD, LOG_NOTICE, "session %s: pay action refused (payments not available)",
		     s->rec.sid);
		action_result(s, MENU_RES_ERROR,
			      json_pack("{s:i, s:s}", "status", 503, "detail", "payments unavailable"));
		return;
	case MENU_ACT_SMS:
		start_sms(s, a);
		action_result(s, MENU_RES_OK, json_object());
		return;
	}
}

/* ---- the step ---------------------------------------------------------- */

static bool same_net(const struct step *s, const struct ussd_session_rec *r)
{
	char net[12] = "";
	if (s->ev.has_net_id)
		snprintf(net, sizeof(net), "%u", s->ev.net_id);
	return !strcmp(net, r->net);
}

static bool is_resend(const struct step *s, const struct ussd_session_rec *r)
{
	if (!r->gen || !r->ans || !same_net(s, r))
		return false;
	char pinfp[33];
	struct step tmp = *s;
	tmp.pin_step = true;
	stored_fp(&tmp, pinfp);
	bool text_fp = !strcmp(r->fp, s->ev.fp);
	if (!text_fp && strcmp(r->fp, pinfp))
		return false;
	if (s->ev.fp_strong)
		return true;
	if (r->smpp_seq == s->ev.smpp_seq)
		return true;
	return text_fp && gw_now_ms() - r->in_ms <= s->e->dedup_ms;
}

static bool is_live(const struct step *s, const struct ussd_session_rec *r)
{
	int64_t now = gw_now_ms();
	return r->gen && !r->ended && r->state && now - r->last_ms <= s->e->idle_ms &&
	       now - r->t0_ms <= s->lc.session_ms;
}

static void new_sid(struct step *s)
{
	if (crypto_uuid4(s->rec.sid))
		snprintf(s->rec.sid, sizeof(s->rec.sid), "%016llx", (unsigned long long)gw_now_us());
	if (s->ev.has_net_id)
		snprintf(s->rec.net, sizeof(s->rec.net), "%u", s->ev.net_id);
	s->rec.t0_ms = gw_now_ms();
}

/* Step a menu state with a plain event into s->st / s->out. */
static int run_event(struct step *s, const struct menu_state *in, const struct menu_event *ev)
{
	menu_state_clear(&s->st);
	menu_output_clear(&s->out);
	return menu_step(s->menu, in, ev, &s->st, &s->out);
}

/* NEW: the menu (current version) is known; the old record may seed a resume. */
static void on_menu_new(void *cls, int err, const struct menu *m)
{
	struct step *s = cls;
	if (err || !m) {
		LOGP(DUSSD, LOG_ERROR, "menu for %s not available: %s", s->ev.text, gw_strerror(err));
		new_sid(s);
		set_answer(s, error_text, true, "error");
		save(s);
		return;
	}
	s->menu = m;
	new_sid(s);
	snprintf(s->rec.menu, sizeof(s->rec.menu), "%s", menu_id(m));
	snprintf(s->rec.ver, sizeof(s->rec.ver), "%s", menu_version(m));
	snprintf(s->rec.svc, sizeof(s->rec.svc), "%.40s", s->ev.text);
	struct menu_state in;
	menu_state_init(&in);
	/* The previous session of this subscriber, on the same menu version, may be resumed. */
	if (s->old.gen && s->old.state && !strcmp(s->old.menu, menu_id(m)) &&
	    !strcmp(s->old.ver, menu_version(m)) &&
	    menu_state_from_json(m, s->old.state, strlen(s->old.state), &in) == 0) {
		if (in.ended == MENU_END_NONE) {
			/* It was cut off (replaced by this dial, or idle): end it as timed out. */
			struct menu_event te = {.kind = MENU_EV_TIMEOUT, .now_ms = gw_now_ms()};
			if (run_event(s, &in, &te) == 0) {
				menu_state_clear(&in);
				menu_state_init(&in);
				menu_state_copy(&in, &s->st);
			}
		}
	} else {
		menu_state_clear(&in);
		menu_state_init(&in);
	}
	struct menu_event ev = {
		.kind = MENU_EV_NEW,
		.now_ms = gw_now_ms(),
		.text = s->ev.text,
		.msisdn = s->ev.msisdn,
	};
	int rc = run_event(s, &in, &ev);
	menu_state_clear(&in);
	after_step(s, rc);
}

static void on_menu_continue(void *cls, int err, const struct menu *m)
{
	struct step *s = cls;
	if (err || !m) {
		LOGP(DUSSD, LOG_ERROR, "session %s: menu %s version %s not available: %s", s->rec.sid,
		     s->old.menu, s->old.ver, gw_strerror(err));
		set_answer(s, error_text, true, "error");
		save(s);
		return;
	}
	s->menu = m;
	struct menu_state in;
	int rc = menu_state_from_json(m, s->old.state, strlen(s->old.state), &in);
	if (rc) {
		menu_state_clear(&in);
		after_step(s, rc);
		return;
	}
	struct menu_event ev = {.now_ms = gw_now_ms()};
	switch (s->ev.kind) {
	case USSD_EV_CONTINUE:
		ev.kind = MENU_EV_INPUT;
		ev.text = s->ev.text;
		break;
	case USSD_EV_TIMEOUT:
		ev.kind = MENU_EV_TIMEOUT;
		break;
	default:
		ev.kind = MENU_EV_ABORT;
		break;
	}
	rc = run_event(s, &in, &ev);
	menu_state_clear(&in);
	if (s->no_reply && !rc) {
		/* The dialog is gone: keep the state (for resume) and the reason. */
		const char *why = s->ev.kind == USSD_EV_TIMEOUT ? "timeout"
				  : s->ev.kind == USSD_EV_END	? "app"
				  : s->ev.end_bit && s->ev.op == SMPP_USSD_USSR_CONF ? "network"
										   : "user";
		if (s->expired) {
			/* The subscriber typed into a session that had gone idle. */
			set_answer(s, expired_text, true, "timeout");
			s->no_reply = false;
		} else {
			set_answer(s, NULL, true, why);
			free(s->rec.ans);
			s->rec.ans = NULL;
		}
		if (s->menu && s->st.screen >= 0)
			snprintf(s->rec.screen, sizeof(s->rec.screen), "%s",
				 menu_screen_id(s->menu, (size_t)s->st.screen));
		save(s);
		return;
	}
	after_step(s, rc);
}

static void on_loaded(void *cls, int err, const struct ussd_session_rec *rec)
{
	struct step *s = cls;
	if (err) {
		LOGP(DUSSD, LOG_NOTICE, "session of %s on %s not loaded (%s): ESME_RX_T_APPN",
		     s->ev.msisdn, s->link, gw_strerror(err));
		finish(s, ESME_RX_T_APPN);
		return;
	}
	if (rec && ussd_session_rec_copy(&s->old, rec)) {
		finish(s, ESME_RX_T_APPN);
		return;
	}
	/* A re-sent request: the same answer again, the session does not move. */
	if (is_resend(s, &s->old)) {
		s->replay = true;
		s->event_name = "resend";
		ussd_session_rec_copy(&s->rec, &s->old);
		LOGP(DUSSD, LOG_INFO, "session %s: re-sent step %u answered again", s->rec.sid,
		     s->rec.steps);
		audit_step(s);
		return;
	}
	s->event_name = ussd_ev_kind_name(s->ev.kind);
	int rc;
	switch (s->ev.kind) {
	case USSD_EV_NEW: {
		const char *id = ussd_menus_match(s->e->menus, s->ev.text);
		if (!id) {
			new_sid(s);
			snprintf(s->rec.svc, sizeof(s->rec.svc), "%.40s", s->ev.text);
			set_answer(s, unknown_text, true, "error");
			save(s);
			return;
		}
		rc = ussd_menus_get(s->e->menus, id, NULL, s->e->redis_ms, on_menu_new, s);
		if (rc)
			on_menu_new(s, rc, NULL);
		return;
	}
	case USSD_EV_CONTINUE:
	case USSD_EV_ABORT:
	case USSD_EV_TIMEOUT:
	case USSD_EV_END:
	case USSD_EV_PUSH:
		break;
	}
	s->no_reply = s->ev.kind != USSD_EV_CONTINUE;
	if (!is_live(s, &s->old) || !same_net(s, &s->old)) {
		/* Nothing to continue: the session is over, expired or belongs to another dialog. */
		if (s->no_reply) {
			s->event_name = "late_end";
			snprintf(s->rec.sid, sizeof(s->rec.sid), "%s", s->old.sid);
			audit_step(s);
			return;
		}
		if (s->old.gen) {
			ussd_session_rec_clear(&s->rec);
			ussd_session_rec_copy(&s->rec, &s->old);
			if (!s->old.ended && s->old.state) {
				/* Idle past the limit: end it as timed out (resume stays possible). */
				s->ev.kind = USSD_EV_TIMEOUT;
				s->no_reply = true;
				s->expired = true;
				rc = ussd_menus_get(s->e->menus, s->old.menu, s->old.ver, s->e->redis_ms,
						    on_menu_continue, s);
				if (rc)
					on_menu_continue(s, rc, NULL);
				return;
			}
		} else {
			new_sid(s);
		}
		set_answer(s, expired_text, true, "timeout");
		s->no_reply = false;
		save(s);
		return;
	}
	ussd_session_rec_copy(&s->rec, &s->old);
	rc = ussd_menus_get(s->e->menus, s->old.menu, s->old.ver, s->e->redis_ms, on_menu_continue, s);
	if (rc)
		on_menu_continue(s, rc, NULL);
}

static void load_and_step(struct step *s)
{
	int rc = ussd_session_load(s->e->redis, s->link, s->ev.msisdn, s->e->redis_ms, on_loaded, s);
	if (rc)
		on_loaded(s, rc, NULL);
}

/* Overload: the "busy" end screen, audited, nothing stored. */
static void shed(struct step *s)
{
	s->shed = true;
	s->event_name = "shed";
	new_sid(s);
	set_answer(s, busy_text, true, "overload");
	LOGP(DUSSD, LOG_NOTICE, "overload: %u steps in flight, step shed", s->e->inflight);
	audit_step(s);
}

static void on_mo(struct smpp_mo *mo, void *cls)
{
	struct engine *e = cls;
	const struct smpp_pdu *pdu = smpp_mo_pdu(mo);
	struct ussd_link_cfg lc;
	if (ussd_link_cfg_from_json(smpp_mo_link_config(mo), &lc)) {
		LOGP(DUSSD, LOG_ERROR, "link %s: bad USSD settings", smpp_mo_link(mo));
		ussd_link_cfg_from_json(NULL, &lc);
	}
	if (!ussd_pdu_is_ussd(&lc, pdu)) {
		sms_mo_basic_handle(mo);
		return;
	}
	struct step *s = calloc(1, sizeof(*s));
	if (!s) {
		smpp_mo_respond(mo, ESME_RX_T_APPN);
		return;
	}
	s->e = e;
	s->mo = mo;
	s->lc = lc;
	s->t0_us = gw_now_us();
	menu_state_init(&s->st);
	e->inflight++;
	snprintf(s->link, sizeof(s->link), "%s", smpp_mo_link(mo));
	snprintf(s->bind, sizeof(s->bind), "%s", smpp_mo_bind(mo));
	s->deadline = smpp_mo_received_at(mo) + lc.answer_budget_ms / 1000.0;
	int rc = ussd_dialect_decode(&lc, pdu, &s->ev);
	if (rc) {
		LOGP(DUSSD, LOG_NOTICE, "USSD PDU on %s refused: %s", s->bind, gw_strerror(rc));
		finish(s, rc == GW_EINVAL ? ESME_RINVSRCADR : ESME_RX_P_APPN);
		return;
	}
	char mb[LOG_MSISDN_BUFSZ];
	LOGP(DUSSD, LOG_DEBUG, "%s from %s on %s (op %u, net %u)", ussd_ev_kind_name(s->ev.kind),
	     log_msisdn(mb, s->ev.msisdn), s->bind, s->ev.op, s->ev.net_id);
	if ((e->inflight > e->max_inflight || e->draining) && s->ev.kind == USSD_EV_NEW) {
		shed(s);
		return;
	}
	load_and_step(s);
}

/* ---- service ----------------------------------------------------------- */

static struct engine *g_engine; /* the running service, for the admin route */

static void on_reloaded(void *cls, int err, const char *detail)
{
	struct http_req *req = cls;
	if (err)
		LOGP(DMENU, LOG_ERROR, "menu reload: %s", detail);
	if (!req)
		return;
	json_t *b = json_pack("{s:s, s:s, s:i}", "status", err ? "error" : "ok", "detail",
			      detail ? detail : "", "held",
			      g_engine ? (int)ussd_menus_held(g_engine->menus) : 0);
	http_reply_json(req, err ? 422 : 200, b); /* takes the reference */
}

static void admin_reload(struct http_req *req, void *cls)
{
	struct engine *e = cls;
	int rc = ussd_menus_reload(e->menus, on_reloaded, req);
	if (rc)
		http_problem_status(req, 422, rc, "menus directory has no menu");
}

static int read_opts(struct engine *e, const struct cfg *c)
{
	json_t *root = cfg_root(c);
	e->idle_ms = (int)cfg_int(root, "ussd.idle_timeout_ms");
	e->keep_ms = (int)cfg_int(root, "ussd.resume_keep_ms");
	e->dedup_ms = (int)cfg_int(root, "ussd.dedup_window_ms");
	e->redis_ms = (int)cfg_int(root, "ussd.redis_timeout_ms");
	e->max_inflight = (unsigned)cfg_int(root, "ussd.max_inflight");
	e->services = cfg_get(root, "ussd.services");
	return 0;
}

static int svc_start(struct gw_node *node, void **state)
{
	struct smpp_links *links = smpp_links_of_service(daemon_service_state("smpp-links"));
	struct store_redis *redis = daemon_service_state("redis");
	json_t *lcfg = cfg_get(cfg_root(node->cfg), "links");
	if (!json_array_size(lcfg)) {
		LOGP(DUSSD, LOG_INFO, "no SMPP link configured: the USSD engine stays idle");
		*state = NULL;
		return 0;
	}
	if (!links || !redis) {
		LOGP(DUSSD, LOG_FATAL, "the USSD engine needs the redis and smpp-links services");
		return GW_ECONFIG;
	}
	struct engine *e = calloc(1, sizeof(*e));
	if (!e)
		return GW_ENOMEM;
	e->node = node;
	e->loop = node->loop;
	e->links = links;
	e->redis = redis;
	read_opts(e, node->cfg);
	struct http_client_config hc = {.allow_insecure_loopback = false};
	e->http = http_client_new(node->loop, &hc);
	int rc = e->http ? ussd_menus_new(redis, cfg_str(cfg_root(node->cfg), "ussd.menus_dir"),
					  &e->menus)
			 : GW_ENOMEM;
	if (rc) {
		http_client_free(e->http);
		free(e);
		return rc;
	}
	rc = ussd_menus_reload(e->menus, on_reloaded, NULL);
	if (rc)
		LOGP(DUSSD, LOG_WARN, "no menu loaded from %s",
		     cfg_str(cfg_root(node->cfg), "ussd.menus_dir"));
	http_admin_register("POST", "/admin/menus/reload", admin_reload, e);
	smpp_links_set_mo_handler(links, on_mo, e);
	g_engine = e;
	*state = e;
	LOGP(DUSSD, LOG_NOTICE, "USSD engine up (idle %d ms, max %u steps in flight)", e->idle_ms,
	     e->max_inflight);
	return 0;
}

static void svc_drain(struct gw_node *node, void *state)
{
	struct engine *e = state;
	if (!e) {
		daemon_drained(node, "ussd");
		return;
	}
	e->draining = true;
	if (e->inflight == 0)
		daemon_drained(node, "ussd");
}

static void svc_stop(struct gw_node *node, void *state)
{
	(void)node;
	struct engine *e = state;
	if (!e)
		return;
	http_admin_unregister("POST", "/admin/menus/reload");
	g_engine = NULL;
	http_client_free(e->http);
	ussd_menus_free(e->menus);
	free(e);
}

static void svc_reload(struct gw_node *node, void *state, const struct cfg *newcfg)
{
	(void)node;
	struct engine *e = state;
	if (!e)
		return;
	read_opts(e, newcfg);
	ussd_menus_reload(e->menus, on_reloaded, NULL);
}

const struct gw_service ussd_engine_service = {
	.name = "ussd",
	.start = svc_start,
	.drain = svc_drain,
	.stop = svc_stop,
	.reload = svc_reload,
};
