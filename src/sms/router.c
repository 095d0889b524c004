/* The MO SMS router: keywords -> built-ins, menu flows, forwards, replies (sms_router.h). */
#include "ussdgw/sms_router.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/audit.h"
#include "ussdgw/clock.h"
#include "ussdgw/config.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/http_client.h"
#include "ussdgw/log.h"
#include "ussdgw/menu.h"
#include "ussdgw/metrics.h"
#include "ussdgw/msisdn.h"
#include "ussdgw/pay.h"
#include "ussdgw/smpp_link.h"
#include "ussdgw/smpp_pdu.h"
#include "ussdgw/smpp_text.h"
#include "ussdgw/sms_consent.h"
#include "ussdgw/sms_egress.h"
#include "ussdgw/sms_forward.h"
#include "ussdgw/sms_keywords.h"
#include "ussdgw/store_pg.h"
#include "ussdgw/store_redis.h"

#define MAX_MENUS      16
#define FLOW_INPUT_MAX 182
#define NOT_BY_SMS     "Sorry, this service is not available by SMS right now. Please try later."

struct flow_menu {
	char id[64];
	struct menu *m;
};

struct router {
	struct gw_node *node;
	struct store_redis *redis;
	struct http_client *http;
	struct sms_egress *egress;
	struct sms_keywords *kw, *dflt;
	struct sms_consent *consent;
	struct sms_forward *fwd;
	struct flow_menu menus[MAX_MENUS];
	unsigned nmenus;
	unsigned flow_ttl_s;
	bool receipts;
	char receipt_from[24];
	char node_id[64];
	unsigned inflight; /* MOs being handled */
	bool draining;
};

/* One MO being handled. */
struct mo_ctx {
	struct router *r;
	struct smpp_mo *mo;
	char msisdn[MSISDN_BUFSZ];
	char tok[CRYPTO_TOKEN_HEX + 1];
	char to[24];
	char *text;
	size_t len;
	struct sms_kw_match m;
	const char *target; /* audit outcome and metric label */
	const char *service;
	enum audit_kind akind;
	char consent_event[40];
	char screen[64];
	char flow_key[128];
	const struct flow_menu *fm;
	char reply[MENU_TEXT_MAX];
	/* Fire-and-forget SMS actions of a flow step (sent after the answer). */
	struct menu_output out;
	bool have_out;
};

static void ignore_reply(void *cls, int err, redisReply *reply)
{
	(void)cls, (void)reply;
	if (err)
		LOGP(DSMS, LOG_INFO, "flow state not removed (%s); it expires", gw_strerror(err));
}

static void count_mo(const char *outcome, const char *target)
{
	char lb[96];
	snprintf(lb, sizeof(lb), "outcome=\"%s\",target=\"%s\"", outcome, target);
	metric_inc(
	    metrics_counter("ussdgw_sms_mo_total", "MO SMS handled by outcome and target", lb));
}

static void ctx_free(struct mo_ctx *c)
{
	struct router *r = c->r;
	if (c->have_out)
		menu_output_clear(&c->out);
	free(c->text);
	free(c);
	if (--r->inflight == 0 && r->draining)
		daemon_drained(r->node, "sms");
}

/* The end of every MO: the answer to the SMSC, exactly once. */
static void respond(struct mo_ctx *c, uint32_t status)
{
	char mb[LOG_MSISDN_BUFSZ];
	if (status == ESME_ROK)
		LOGP(DSMS, LOG_INFO, "MO from %s to %s: %s%s%s, answered",
		     log_msisdn(mb, c->msisdn), c->to, c->target, c->m.entry ? " " : "",
		     c->m.entry ? c->m.entry->keyword : "");
	else
		LOGP(DSMS, LOG_NOTICE, "MO from %s to %s (%s): ESME_RX_T_APPN, the SMSC redelivers",
		     log_msisdn(mb, c->msisdn), c->to, c->target);
	count_mo(status == ESME_ROK ? "ok" : "deferred", c->target);
	smpp_mo_respond(c->mo, status);
	ctx_free(c);
}

/* ---- answers through the egress point ------------------------------------------------- */

static void mt_done(void *cls, const struct sms_egress_result *res)
{
	struct mo_ctx *c = cls;
	if (res->err)
		LOGP(DSMS, LOG_NOTICE, "answer to the MO (%s) not queued: %s (status 0x%08x)",
		     c->target, gw_strerror(res->err), res->smpp_status);
	else
		LOGP(DSMS, LOG_INFO, "answer %s to the MO (%s) queued on %s", res->mt_id, c->target,
		     res->link);
	respond(c, ESME_ROK);
}

static void side_done(void *cls, const struct sms_egress_result *res)
{
	(void)cls;
	if (res->err)
		LOGP(DSMS, LOG_NOTICE, "flow SMS %s not queued: %s", res->mt_id,
		     gw_strerror(res->err));
}

/* Fire-and-forget SMS actions of a flow step. */
static void flow_side_sms(struct mo_ctx *c)
{
	for (size_t i = 0; c->have_out && i < c->out.nactions; i++) {
		const struct menu_action *a = &c->out.actions[i];
		if (a->kind != MENU_ACT_SMS) {
			LOGP(DSMS, LOG_NOTICE, "flow %s: %s action not run in an SMS flow",
			     c->fm->id, menu_action_kind_name(a->kind));
			continue;
		}
		const char *to = json_string_value(json_object_get(a->params, "to"));
		const char *text = json_string_value(json_object_get(a->params, "text"));
		enum sms_class k = SMS_CLASS_TRANSACTIONAL;
		sms_class_parse(json_string_value(json_object_get(a->params, "class")), &k);
		struct sms_mt mt = {.to = to,
				    .from = c->to,
				    .text = text,
				    .cls = k,
				    .service = c->service,
				    .dst_ton = 1,
				    .dst_npi = 1,
				    .registered_delivery = -1};
		if (to && text)
			sms_egress_submit(c->r->egress, &mt, side_done, NULL);
	}
}

static void answer_and_ack(struct mo_ctx *c)
{
	flow_side_sms(c);
	if (!c->reply[0] || !c->msisdn[0]) {
		respond(c, ESME_ROK);
		return;
	}
	struct sms_mt mt = {
	    .to = c->msisdn,
	    .from = c->to,
	    .text = c->reply,
	    .cls = SMS_CLASS_REPLY,
	    .service = c->service,
	    .src_ton = 0,
	    .src_npi = 0,
	    .dst_ton = 1,
	    .dst_npi = 1,
	    .registered_delivery = -1,
	};
	int rc = sms_egress_submit(c->r->egress, &mt, mt_done, c);
	if (rc) {
		LOGP(DSMS, LOG_NOTICE, "answer to the MO not submitted: %s", gw_strerror(rc));
		respond(c, ESME_ROK);
	}
}

/* ---- audit ---------------------------------------------------------------------------- */

static void audited(void *cls, int rc)
{
	struct mo_ctx *c = cls;
	char mb[LOG_MSISDN_BUFSZ];
	if (rc) {
		LOGP(DSMS, LOG_NOTICE, "MO from %s on %s not audited (%s): ESME_RX_T_APPN",
		     log_msisdn(mb, c->msisdn), smpp_mo_bind(c->mo), gw_strerror(rc));
		respond(c, ESME_RX_T_APPN);
		return;
	}
	LOGP(DSMS, LOG_INFO, "MO from %s on %s audited (%u parts, %zu bytes)",
	     log_msisdn(mb, c->msisdn), smpp_mo_bind(c->mo), smpp_mo_parts(c->mo),
	     smpp_mo_pdu(c->mo)->sm_length);
	answer_and_ack(c);
}

static void audit_then_answer(struct mo_ctx *c)
{
	const struct smpp_pdu *p = smpp_mo_pdu(c->mo);
	char parts[8], len[16];
	snprintf(parts, sizeof(parts), "%u", smpp_mo_parts(c->mo));
	snprintf(len, sizeof(len), "%zu", p->sm_length);
	struct audit_var vars[8];
	size_t n = 0;
	vars[n++] = (struct audit_var){"to", c->to, false};
	vars[n++] = (struct audit_var){"parts", parts, false};
	vars[n++] = (struct audit_var){"length", len, false};
	vars[n++] = (struct audit_var){"service", c->service, false};
	if (c->m.entry)
		vars[n++] = (struct audit_var){"keyword", c->m.entry->keyword, false};
	else if (c->m.first[0])
		vars[n++] = (struct audit_var){"first_word", c->m.first, true};
	if (c->consent_event[0])
		vars[n++] = (struct audit_var){"consent_event", c->consent_event, false};
	struct audit_record rec = {
	    .kind = c->akind,
	    .link = smpp_mo_bind(c->mo),
	    .msisdn = c->msisdn[0] ? c->msisdn : NULL,
	    .screen_id = c->screen[0] ? c->screen : NULL,
	    .event = c->akind == AUDIT_CONSENT_CHANGE ? c->target : "mo",
	    .outcome = c->target,
	    .actor = "subscriber",
	    .vars = vars,
	    .n_vars = n,
	};
	int rc = audit_append(&rec, audited, c);
	if (rc)
		audited(c, rc);
}

/* ---- built-ins ------------------------------------------------------------------------ */

static void consent_done(void *cls, int err, const char *event_id)
{
	struct mo_ctx *c = cls;
	if (err) {
		LOGP(DSMS, LOG_ERROR, "consent %s not written to Redis: %s", c->target,
		     gw_strerror(err));
		respond(c, ESME_RX_T_APPN);
		return;
	}
	snprintf(c->consent_event, sizeof(c->consent_event), "%s", event_id);
	/* A STOP also ends a conversation in progress on this short code. */
	if (c->m.entry->builtin != SMS_KW_START && c->flow_key[0])
		store_redis_command(c->r->redis, ignore_reply, NULL, 0, "DEL %s", c->flow_key);
	audit_then_answer(c);
}

static void handle_builtin(struct mo_ctx *c)
{
	const struct sms_kw_code *code = c->m.code;
	enum sms_kw_builtin b = c->m.entry->builtin;
	c->target = sms_kw_builtin_name(b);
	static const enum sms_kw_text texts[] = {SMS_KW_TEXT_HELP, SMS_KW_TEXT_STOP,
						 SMS_KW_TEXT_STOPALL, SMS_KW_TEXT_START};
	sms_kw_code_render(code, texts[b], NULL, c->reply, sizeof(c->reply));
	if (b == SMS_KW_HELP || !c->msisdn[0]) {
		audit_then_answer(c);
		return;
	}
	static const enum sms_consent_action acts[] = {SMS_CONSENT_STOP, SMS_CONSENT_STOP,
						       SMS_CONSENT_STOPALL, SMS_CONSENT_START};
	c->akind = AUDIT_CONSENT_CHANGE;
	struct sms_consent_change ch = {
	    .msisdn = c->msisdn,
	    .service = c->service,
	    .action = acts[b],
	    .channel = "sms",
	    .shortcode = c->to,
	    .keyword = c->m.word,
	    .link = smpp_mo_link(c->mo),
	    .answered = c->reply,
	};
	int rc = sms_consent_change(c->r->consent, &ch, consent_done, c);
	if (rc) {
		LOGP(DSMS, LOG_ERROR, "consent %s not started: %s", c->target, gw_strerror(rc));
		respond(c, ESME_RX_T_APPN);
	}
}

/* ---- menu flows ----------------------------------------------------------------------- */

static const struct flow_menu *find_menu(const struct router *r, const char *id)
{
	for (unsigned i = 0; i < r->nmenus; i++)
		if (!strcmp(r->menus[i].id, id))
			return &r->menus[i];
	return NULL;
}

static void flow_saved(void *cls, int err, redisReply *reply)
{
	struct mo_ctx *c = cls;
	if (err || !reply || reply->type == REDIS_REPLY_ERROR) {
		LOGP(DSMS, LOG_NOTICE, "flow %s: state not saved (%s)", c->fm->id,
		     err ? gw_strerror(err) : "error reply");
		respond(c, ESME_RX_T_APPN);
		return;
	}
	audit_then_answer(c);
}

/* Step the flow's menu with @p ev from @p in; save or drop the state; then audit. */
static void flow_step(struct mo_ctx *c, const struct menu_state *in, const struct menu_event *ev)
{
	struct menu_state out;
	const struct menu *m = c->fm->m;
	int rc = menu_step(m, in, ev, &out, &c->out);
	c->have_out = true;
	if (rc) {
		LOGP(DSMS, LOG_NOTICE, "flow %s: step refused (%s); flow ended", c->fm->id,
		     gw_strerror(rc));
		snprintf(c->reply, sizeof(c->reply), "%s", NOT_BY_SMS);
		menu_state_clear(&out);
		store_redis_command(c->r->redis, ignore_reply, NULL, 0, "DEL %s", c->flow_key);
		audit_then_answer(c);
		return;
	}
	if (out.screen >= 0)
		snprintf(c->screen, sizeof(c->screen), "%s",
			 menu_screen_id(m, (size_t)out.screen)
			     ? menu_screen_id(m, (size_t)out.screen)
			     : "");
	bool live = c->out.kind == MENU_OUT_CONTINUE;
	if (c->out.kind == MENU_OUT_WAIT) {
		/* An awaited action (HTTP, payment, PIN check) has no runner on the SMS side. */
		LOGP(DSMS, LOG_NOTICE, "flow %s: screen %s waits for an action: not run by SMS",
		     c->fm->id, c->screen);
		snprintf(c->reply, sizeof(c->reply), "%s", NOT_BY_SMS);
	} else {
		snprintf(c->reply, sizeof(c->reply), "%s", c->out.text);
	}
	if (!live) {
		menu_state_clear(&out);
		store_redis_command(c->r->redis, ignore_reply, NULL, 0, "DEL %s", c->flow_key);
		audit_then_answer(c);
		return;
	}
	char *js = menu_state_to_json(m, &out);
	menu_state_clear(&out);
	if (!js) {
		respond(c, ESME_RX_T_APPN);
		return;
	}
	size_t il = strlen(c->fm->id), jl = strlen(js);
	char *val = malloc(il + 1 + jl + 1);
	if (!val) {
		free(js);
		respond(c, ESME_RX_T_APPN);
		return;
	}
	memcpy(val, c->fm->id, il);
	val[il] = '\n';
	memcpy(val + il + 1, js, jl + 1);
	free(js);
	char ttl[16];
	snprintf(ttl, sizeof(ttl), "%u", c->r->flow_ttl_s);
	const char *argv[] = {"SET", c->flow_key, val, "EX", ttl};
	rc = store_redis_command_argv(c->r->redis, flow_saved, c, 0, 5, argv, NULL);
	free(val);
	if (rc)
		respond(c, ESME_RX_T_APPN);
}

static void flow_new(struct mo_ctx *c)
{
	c->target = "menu";
	c->fm = find_menu(c->r, c->m.entry->ref);
	if (!c->fm || !c->msisdn[0]) {
		snprintf(c->reply, sizeof(c->reply), "%s", NOT_BY_SMS);
		audit_then_answer(c);
		return;
	}
	struct menu_state in;
	menu_state_init(&in);
	struct menu_event ev = {.kind = MENU_EV_NEW,
				.now_ms = gw_now_ms(),
				.text = c->m.entry->keyword,
				.msisdn = c->msisdn};
	flow_step(c, &in, &ev);
	menu_state_clear(&in);
}

static void by_keyword(struct mo_ctx *c);

/* A live flow's state, "MENU_ID\nSTATE_JSON". */
static bool flow_input(struct mo_ctx *c, const char *val, size_t len)
{
	const char *nl = memchr(val, '\n', len);
	if (!nl)
		return false;
	char id[64];
	snprintf(id, sizeof(id), "%.*s", (int)(nl - val), val);
	c->fm = find_menu(c->r, id);
	if (!c->fm)
		return false;
	struct menu_state in;
	if (menu_state_from_json(c->fm->m, nl + 1, len - (size_t)(nl + 1 - val), &in) != 0 ||
	    in.ended != MENU_END_NONE) {
		menu_state_clear(&in);
		return false;
	}
	c->target = "menu";
	char input[FLOW_INPUT_MAX + 1];
	const char *t = c->text;
	size_t n = c->len;
	while (n && (*t == ' ' || *t == '\n' || *t == '\r' || *t == '\t'))
		t++, n--;
	while (n && (t[n - 1] == ' ' || t[n - 1] == '\n' || t[n - 1] == '\r'))
		n--;
	if (n > FLOW_INPUT_MAX)
		n = FLOW_INPUT_MAX;
	memcpy(input, t, n);
	input[n] = '\0';
	struct menu_event ev = {.kind = MENU_EV_INPUT, .now_ms = gw_now_ms(), .text = input};
	flow_step(c, &in, &ev);
	menu_state_clear(&in);
	return true;
}

static void flow_loaded(void *cls, int err, redisReply *reply)
{
	struct mo_ctx *c = cls;
	if (err || !reply || reply->type == REDIS_REPLY_ERROR) {
		LOGP(DSMS, LOG_NOTICE, "flow state not readable (%s)",
		     err ? gw_strerror(err) : "error reply");
		c->target = "flow";
		respond(c, ESME_RX_T_APPN);
		return;
	}
	if (reply->type == REDIS_REPLY_STRING && flow_input(c, reply->str, reply->len))
		return;
	by_keyword(c);
}

/* ---- forwards and replies ------------------------------------------------------------- */

static void forward_queued(void *cls, int err, const char *id)
{
	struct mo_ctx *c = cls;
	if (err) {
		LOGP(DSMS, LOG_NOTICE, "forward %s not queued: %s", c->m.entry->ref,
		     gw_strerror(err));
		respond(c, ESME_RX_T_APPN);
		return;
	}
	LOGP(DSMS, LOG_INFO, "forward %s queued as %s", c->m.entry->ref, id);
	if (c->m.entry->reply)
		snprintf(c->reply, sizeof(c->reply), "%s", c->m.entry->reply);
	audit_then_answer(c);
}

static void handle_forward(struct mo_ctx *c)
{
	c->target = "forward";
	const struct smpp_pdu *p = smpp_mo_pdu(c->mo);
	char *text = strndup(c->text, c->len);
	char *args = strndup(c->text + c->m.args_off, c->len - c->m.args_off);
	json_t *b = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s, s:s, s:s, s:I, s:i}", "shortcode",
			      c->to, "keyword", c->m.entry->keyword, "service", c->service, "text",
			      text, "args", args, "msisdn", c->msisdn, "msisdn_token", c->tok,
			      "link", smpp_mo_link(c->mo), "received_at_ms",
			      (json_int_t)gw_now_ms(), "data_coding", (int)p->data_coding);
	free(text);
	free(args);
	char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	struct sms_forward_job j = {.name = c->m.entry->ref,
				    .to = c->msisdn,
				    .from = c->to,
				    .service = c->service,
				    .body = body};
	int rc = body ? sms_forward_enqueue(c->r->fwd, &j, forward_queued, c) : GW_ENOMEM;
	free(body);
	if (rc) {
		LOGP(DSMS, LOG_ERROR, "forward %s: %s", c->m.entry->ref, gw_strerror(rc));
		respond(c, ESME_RX_T_APPN);
	}
}

static void by_keyword(struct mo_ctx *c)
{
	if (!c->m.entry) {
		c->target = "unknown";
		sms_kw_code_render(c->m.code, SMS_KW_TEXT_UNKNOWN, c->m.first[0] ? c->m.first : "",
				   c->reply, sizeof(c->reply));
		audit_then_answer(c);
		return;
	}
	switch (c->m.entry->target) {
	case SMS_KW_BUILTIN:
		handle_builtin(c);
		return;
	case SMS_KW_MENU:
		flow_new(c);
		return;
	case SMS_KW_FORWARD:
		handle_forward(c);
		return;
	case SMS_KW_REPLY:
		c->target = "reply";
		snprintf(c->reply, sizeof(c->reply), "%s", c->m.entry->reply);
		audit_then_answer(c);
		return;
	}
}

/* ---- the MO handler ------------------------------------------------------------------- */

/* The MO's text as UTF-8 (malloc'd into c->text). */
static void decode_text(struct mo_ctx *c, const struct smpp_pdu *p)
{
	const uint8_t *sm = p->short_message;
	size_t n = p->sm_length;
	if (n == 0) {
		for (unsigned i = 0; i < p->tlv_count; i++)
			if (p->tlv[i].tag == SMPP_TLV_MESSAGE_PAYLOAD) {
				sm = p->tlv[i].val ? p->tlv[i].val : p->tlv[i].inl;
				n = p->tlv[i].len;
			}
	}
	if ((p->esm_class & 0x40) && n) {
		size_t ul = 0;
		struct smpp_concat cc;
		bool found;
		if (smpp_udh_parse(sm, n, &ul, &cc, &found) == 0 && ul <= n)
			sm += ul, n -= ul;
	}
	enum smpp_text_enc enc = smpp_dcs_to_enc(p->data_coding, SMPP_DCS_SMPP);
	if (enc == SMPP_ENC_8BIT || enc == SMPP_ENC_UNKNOWN)
		n = 0; /* binary: no keyword to read */
	size_t cap = SMPP_TEXT_UTF8_MAX(n);
	c->text = malloc(cap);
	c->len = 0;
	if (c->text && n && smpp_text_decode(enc, sm, n, c->text, cap, &c->len) != 0)
		c->len = 0;
	if (c->text)
		c->text[c->len < cap ? c->len : cap - 1] = '\0';
}

static bool is_ussd(const struct smpp_pdu *p)
{
	if (p->service_type.len == 4 && !memcmp(p->service_type.ptr, "USSD", 4))
		return true;
	for (unsigned i = 0; i < p->tlv_count; i++)
		if (p->tlv[i].tag == SMPP_TLV_USSD_SERVICE_OP)
			return true;
	return false;
}

static void on_mo(struct smpp_mo *mo, void *cls)
{
	struct router *r = cls;
	const struct smpp_pdu *p = smpp_mo_pdu(mo);
	struct mo_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		smpp_mo_respond(mo, ESME_RX_T_APPN);
		return;
	}
	c->r = r;
	c->mo = mo;
	r->inflight++;
	if (r->draining) {
		respond(c, ESME_RX_T_APPN);
		return;
	}
	c->akind = AUDIT_SMS_MO;
	c->target = "none";
	c->service = "default";
	snprintf(c->to, sizeof(c->to), "%.*s", (int)p->destination_addr.len,
		 p->destination_addr.ptr);
	char src[32];
	snprintf(src, sizeof(src), "%.*s", (int)p->source_addr.len, p->source_addr.ptr);
	const char *digits = src[0] == '+' ? src + 1 : src;
	size_t dlen = strlen(digits);
	if (msisdn_is_canonical(digits) && dlen < sizeof(c->msisdn)) {
		memcpy(c->msisdn, digits, dlen + 1);
		if (crypto_msisdn_token(r->node->keys, c->msisdn, c->tok) != 0)
			c->msisdn[0] = '\0';
	}
	decode_text(c, p);
	if (!c->text) {
		respond(c, ESME_RX_T_APPN);
		return;
	}
	if (is_ussd(p)) {
		/* USSD is the session engine's (src/ussd/); recorded and acknowledged here. */
		c->target = "ussd";
		audit_then_answer(c);
		return;
	}
	if (sms_keywords_match(r->kw, c->to, c->text, c->len, &c->m) == GW_ENOENT)
		sms_keywords_match(r->dflt, c->to, c->text, c->len, &c->m);
	c->service = sms_kw_code_service(c->m.code);
	if (!c->msisdn[0]) {
		/* Not a number we can answer or keep consent for: recorded only. */
		c->target = "no_msisdn";
		audit_then_answer(c);
		return;
	}
	snprintf(c->flow_key, sizeof(c->flow_key), "ussdgw:smsflow:{%s}:%s", c->tok, c->to);
	if (c->m.entry && c->m.entry->target == SMS_KW_BUILTIN) {
		handle_builtin(c);
		return;
	}
	if (r->nmenus == 0) {
		by_keyword(c);
		return;
	}
	if (store_redis_command(r->redis, flow_loaded, c, 0, "GET %s", c->flow_key) != 0)
		respond(c, ESME_RX_T_APPN);
}

static struct router *router_current; /* the running service, for sms_router_handle() */

bool sms_router_handle(struct smpp_mo *mo)
{
	if (!router_current)
		return false;
	on_mo(mo, router_current);
	return true;
}

/* ---- payment receipts ----------------------------------------------------------------- */

static void receipt_done(void *cls, const struct sms_egress_result *res)
{
	(void)cls;
	char lb[48];
	snprintf(lb, sizeof(lb), "outcome=\"%s\"", res->err ? "refused" : "queued");
	metric_inc(metrics_counter("ussdgw_sms_receipts_total", "Payment receipt SMS", lb));
	if (res->err)
		LOGP(DSMS, LOG_NOTICE, "payment receipt %s not queued: %s", res->mt_id,
		     gw_strerror(res->err));
	else
		LOGP(DSMS, LOG_INFO, "payment receipt %s queued on %s", res->mt_id, res->link);
}

static void on_settled(void *cls, const struct pay_settlement *s)
{
	struct router *r = cls;
	if (!r->receipts || !s->msisdn || !msisdn_is_canonical(s->msisdn))
		return;
	char text[320];
	int64_t a = s->amount_minor;
	if (s->state == PAY_SUCCEEDED)
		snprintf(text, sizeof(text),
			 "Payment received: %s %" PRId64 ".%02" PRId64 " for %s. Receipt %s. "
			 "Thank you.",
			 s->currency, a / 100, a % 100, s->account_ref,
			 s->receipt && s->receipt[0] ? s->receipt : "-");
	else
		snprintf(text, sizeof(text),
			 "Your payment of %s %" PRId64 ".%02" PRId64 " for %s did not go through "
			 "(%s). You were not charged.",
			 s->currency, a / 100, a % 100, s->account_ref, pay_state_name(s->state));
	/* The payment id makes the MT id: a settlement reported twice queues one receipt. */
	char mt_id[64];
	snprintf(mt_id, sizeof(mt_id), "rcpt-%s", s->payment_id);
	struct sms_mt mt = {
	    .mt_id = mt_id,
	    .to = s->msisdn,
	    .from = r->receipt_from,
	    .text = text,
	    .cls = SMS_CLASS_TRANSACTIONAL,
	    .service = "payments",
	    .dst_ton = 1,
	    .dst_npi = 1,
	    .registered_delivery = -1,
	};
	int rc = sms_egress_submit(r->egress, &mt, receipt_done, NULL);
	if (rc)
		LOGP(DSMS, LOG_ERROR, "payment %s: receipt not submitted: %s", s->payment_id,
		     gw_strerror(rc));
}

static void link_done(void *cls, const struct sms_egress_result *res)
{
	(void)cls;
	char lb[48];
	snprintf(lb, sizeof(lb), "outcome=\"%s\"", res->err ? "refused" : "queued");
	metric_inc(metrics_counter("ussdgw_sms_payment_links_total", "Payment link SMS", lb));
	if (res->err)
		LOGP(DSMS, LOG_NOTICE, "payment link SMS %s not queued: %s", res->mt_id,
		     gw_strerror(res->err));
	else
		LOGP(DSMS, LOG_INFO, "payment link SMS %s queued on %s", res->mt_id, res->link);
}

/* A payment needs the subscriber (PayPal approval, Stripe authentication): the
 * link goes out as a transactional SMS. The payment id makes the MT id, so a
 * notice reported twice queues one SMS. */
static void on_notify(void *cls, const struct pay_notice *n)
{
	struct router *r = cls;
	if (!n->msisdn || !msisdn_is_canonical(n->msisdn) || !n->url)
		return;
	char text[600];
	snprintf(text, sizeof(text), "%s your payment: %s",
		 strcmp(n->kind, "approve") == 0 ? "To approve" : "To confirm", n->url);
	char mt_id[64];
	snprintf(mt_id, sizeof(mt_id), "link-%s", n->payment_id);
	struct sms_mt mt = {
	    .mt_id = mt_id,
	    .to = n->msisdn,
	    .from = r->receipt_from,
	    .text = text,
	    .cls = SMS_CLASS_TRANSACTIONAL,
	    .service = "payments",
	    .dst_ton = 1,
	    .dst_npi = 1,
	    .registered_delivery = -1,
	};
	int rc = sms_egress_submit(r->egress, &mt, link_done, NULL);
	if (rc)
		LOGP(DSMS, LOG_ERROR, "payment %s: link SMS not submitted: %s", n->payment_id,
		     gw_strerror(rc));
}

/* A 2xx from a forward carried a reply for the subscriber. */
static void forward_reply(void *cls, const char *to, const char *from, const char *service,
			  const char *text)
{
	struct router *r = cls;
	struct sms_mt mt = {.to = to,
			    .from = from,
			    .text = text,
			    .cls = SMS_CLASS_REPLY,
			    .service = service,
			    .dst_ton = 1,
			    .dst_npi = 1,
			    .registered_delivery = -1};
	if (sms_egress_submit(r->egress, &mt, side_done, NULL) != 0)
		LOGP(DSMS, LOG_NOTICE, "forward reply not submitted");
}

/* ---- the service ---------------------------------------------------------------------- */

static void router_free(struct router *r)
{
	if (!r)
		return;
	sms_forward_free(r->fwd);
	sms_consent_free(r->consent);
	if (r->http)
		http_client_free(r->http);
	sms_egress_free(r->egress);
	for (unsigned i = 0; i < r->nmenus; i++)
		menu_free(r->menus[i].m);
	sms_keywords_free(r->kw);
	sms_keywords_free(r->dflt);
	free(r);
}

static int load_menus(struct router *r, const char *dir)
{
	for (size_t i = 0; sms_keywords_menu_ref(r->kw, i); i++) {
		const char *id = sms_keywords_menu_ref(r->kw, i);
		if (r->nmenus >= MAX_MENUS) {
			LOGP(DCONF, LOG_ERROR, "sms: more than %d menus", MAX_MENUS);
			return GW_ECONFIG;
		}
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s.json", dir, id);
		struct menu_diags d = {0};
		int rc = menu_load_file(path, &r->menus[r->nmenus].m, &d);
		for (size_t k = 0; k < d.n; k++)
			LOGP(DCONF, LOG_ERROR, "%s:%d:%d: %s", path, d.v[k].line, d.v[k].col,
			     d.v[k].msg);
		menu_diags_free(&d);
		if (rc) {
			LOGP(DCONF, LOG_ERROR, "sms: menu %s (%s): %s", id, path, gw_strerror(rc));
			return GW_ECONFIG;
		}
		snprintf(r->menus[r->nmenus].id, sizeof(r->menus[r->nmenus].id), "%s", id);
		r->nmenus++;
	}
	return 0;
}

static int svc_start(struct gw_node *node, void **state)
{
	*state = NULL;
	json_t *root = cfg_root(node->cfg);
	json_t *sms = cfg_get(root, "sms");
	struct store_redis *redis = daemon_service_state("redis");
	struct smpp_links *ls = smpp_links_of_service(daemon_service_state("smpp-links"));
	if (!redis) {
		LOGP(DSMS, LOG_FATAL, "sms: needs the redis service");
		return GW_EINVAL;
	}
	struct router *r = calloc(1, sizeof(*r));
	if (!r)
		return GW_ENOMEM;
	r->node = node;
	r->redis = redis;
	r->flow_ttl_s = (unsigned)cfg_int(sms, "flow_ttl_s");
	r->receipts = cfg_bool(sms, "receipts");
	snprintf(r->receipt_from, sizeof(r->receipt_from), "%s", cfg_str(sms, "receipt_from"));
	snprintf(r->node_id, sizeof(r->node_id), "%s", cfg_str(root, "node.id"));
	char err[512] = "";
	const char *kf = cfg_str(sms, "keywords_file");
	int rc = sms_keywords_default(&r->dflt);
	if (!rc)
		rc = kf && kf[0] ? sms_keywords_load_file(kf, &r->kw, err, sizeof(err))
				 : sms_keywords_default(&r->kw);
	if (rc) {
		LOGP(DCONF, LOG_ERROR, "sms.keywords_file %s: %s (%s)", kf, err, gw_strerror(rc));
		router_free(r);
		return GW_ECONFIG;
	}
	if ((rc = load_menus(r, cfg_str(sms, "menus_dir")))) {
		router_free(r);
		return rc;
	}
	rc = sms_egress_new(redis, node->keys, cfg_get(root, "routes"), cfg_get(root, "links"),
			    &r->egress);
	if (rc) {
		router_free(r);
		return rc;
	}
	struct http_client_config hc = {.max_connections = 16};
	r->http = http_client_new(node->loop, &hc);
	if (!r->http) {
		router_free(r);
		return GW_ENOMEM;
	}
	struct sms_forward_opts fo = {
	    .max_attempts = (unsigned)cfg_int(sms, "forward_max_attempts"),
	    .backoff_min_ms = (unsigned)cfg_int(sms, "forward_backoff_min_ms"),
	    .backoff_max_ms = (unsigned)cfg_int(sms, "forward_backoff_max_ms"),
	    .timeout_ms = (unsigned)cfg_int(sms, "forward_timeout_ms"),
	    .poll_ms = (unsigned)cfg_int(sms, "forward_poll_ms"),
	};
	rc = sms_forward_new(node->loop, redis, r->http, cfg_get(root, "forwards"), &fo,
			     forward_reply, r, &r->fwd);
	if (rc) {
		router_free(r);
		return rc;
	}
	for (size_t i = 0; sms_keywords_forward_ref(r->kw, i); i++)
		if (!sms_forward_known(r->fwd, sms_keywords_forward_ref(r->kw, i))) {
			LOGP(DCONF, LOG_ERROR,
			     "sms.keywords_file: forward \"%s\" is not in forwards{}",
			     sms_keywords_forward_ref(r->kw, i));
			router_free(r);
			return GW_ECONFIG;
		}
	rc = sms_consent_new(node->loop, redis, daemon_service_state("postgres"), node->keys,
			     r->node_id, (unsigned)cfg_int(sms, "consent_flush_ms"), &r->consent);
	if (rc) {
		router_free(r);
		return rc;
	}
	if (ls)
		smpp_links_set_mo_handler(ls, on_mo, r);
	pay_set_settled_handler(on_settled, r);
	pay_set_notify_handler(on_notify, r);
	router_current = r;
	LOGP(DSMS, LOG_NOTICE, "sms: keyword router up (%s, %u menu flows)",
	     kf && kf[0] ? kf : "built-ins only", r->nmenus);
	*state = r;
	return 0;
}

static void svc_drain(struct gw_node *node, void *state)
{
	struct router *r = state;
	if (!r || r->inflight == 0) {
		daemon_drained(node, "sms");
		return;
	}
	r->draining = true;
}

static void svc_stop(struct gw_node *node, void *state)
{
	(void)node;
	struct router *r = state;
	if (!r)
		return;
	pay_set_settled_handler(NULL, NULL);
	pay_set_notify_handler(NULL, NULL);
	router_current = NULL;
	struct smpp_links *ls = smpp_links_of_service(daemon_service_state("smpp-links"));
	if (ls)
		smpp_links_set_mo_handler(ls, NULL, NULL);
	router_free(r);
}

const struct gw_service sms_router_service = {
    .name = "sms",
    .start = svc_start,
    .drain = svc_drain,
    .stop = svc_stop,
};
