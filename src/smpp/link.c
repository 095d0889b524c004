/* SMPP client links: binds of config links[], MO hand-up with reply handles,
 * session-bound submits, the MT queue consumer, receipts and MO reassembly
 * (smpp_link.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_int.h"
#include "ussdgw/config.h"
#include "ussdgw/crypto.h"
#include "ussdgw/daemon.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/health.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"
#include "ussdgw/secfile.h"
#include "ussdgw/smpp_dlr.h"
#include "ussdgw/smpp_mtq.h"
#include "ussdgw/smpp_reassembly.h"
#include "ussdgw/smpp_text.h"
#include "ussdgw/store_redis.h"

/* --- MO reply handles ---------------------------------------------------------------- */

struct smpp_mo {
	struct smpp_links *links;
	struct smpp_bind *bind;
	uint64_t epoch;
	uint32_t seq, command_id;
	double received_at;
	uint8_t *frame;	 /* copy of the PDU bytes: the decoded PDU points into it */
	uint8_t *joined; /* reassembled text (owned) */
	struct smpp_pdu pdu;
	bool reasm;
	struct smpp_concat concat;
	char msisdn[24];
	bool receipt;
};

static unsigned mo_outstanding(const struct smpp_links *ls)
{
	unsigned n = 0;
	for (unsigned i = 0; i < ls->nlinks; i++)
		for (unsigned j = 0; j < ls->links[i].nbinds; j++)
			n += ls->links[i].binds[j].mo_outstanding;
	return n;
}

const struct smpp_pdu *smpp_mo_pdu(const struct smpp_mo *mo)
{
	return &mo->pdu;
}

const char *smpp_mo_link(const struct smpp_mo *mo)
{
	return mo->bind->link->name;
}

const char *smpp_mo_bind(const struct smpp_mo *mo)
{
	return mo->bind->name;
}

json_t *smpp_mo_link_config(const struct smpp_mo *mo)
{
	return mo->bind->link->cfg;
}

double smpp_mo_received_at(const struct smpp_mo *mo)
{
	return mo->received_at;
}

bool smpp_mo_bind_alive(const struct smpp_mo *mo)
{
	return mo->bind->epoch == mo->epoch &&
	       (mo->bind->state == SB_BOUND || mo->bind->state == SB_DRAINING);
}

unsigned smpp_mo_parts(const struct smpp_mo *mo)
{
	return mo->reasm ? mo->concat.total : 1;
}

void smpp_mo_respond(struct smpp_mo *mo, uint32_t status)
{
	struct smpp_bind *b = mo->bind;
	if (smpp_mo_bind_alive(mo)) {
		struct smpp_pdu r;
		smpp_pdu_init(&r, mo->command_id | SMPP_RESP_BIT, mo->seq);
		r.command_status = status;
		if (status != ESME_ROK)
			r.flags |= SMPP_PDU_F_HEADER_ONLY;
		smpp_bind_respond(b, &r);
	} else {
		LOGP(DSMPP, LOG_INFO,
		     "bind %s: response 0x%02x to seq %u dropped: bind went down "
		     "(the SMSC redelivers)",
		     b->name, status, mo->seq);
	}
	if (mo->reasm && status == ESME_ROK && b->link->links->redis)
		smpp_reasm_release(b->link->links->redis, b->link->name, mo->msisdn, &mo->concat);
	if (b->mo_outstanding)
		b->mo_outstanding--;
	struct smpp_links *ls = mo->links;
	free(mo->frame);
	free(mo->joined);
	free(mo);
	if (ls->draining)
		smpp_link_check_drained(ls);
}

static struct smpp_mo *mo_new(struct smpp_bind *b, const struct smpp_pdu *pdu, const uint8_t *frame,
			      size_t len)
{
	struct smpp_mo *mo = calloc(1, sizeof(*mo));
	if (!mo)
		return NULL;
	mo->frame = malloc(len);
	if (!mo->frame) {
		free(mo);
		return NULL;
	}
	memcpy(mo->frame, frame, len);
	struct smpp_decode_opts o = {.max_pdu_len = b->link->max_pdu_len};
	if (smpp_decode(mo->frame, len, &o, &mo->pdu) != 0) {
		free(mo->frame);
		free(mo);
		return NULL;
	}
	mo->links = b->link->links;
	mo->bind = b;
	mo->epoch = b->epoch;
	mo->seq = pdu->sequence_number;
	mo->command_id = pdu->command_id;
	mo->received_at = ev_now(b->link->links->loop);
	size_t n = pdu->source_addr.len < sizeof(mo->msisdn) - 1 ? pdu->source_addr.len
								 : sizeof(mo->msisdn) - 1;
	memcpy(mo->msisdn, pdu->source_addr.ptr, n);
	mo->msisdn[n] = '\0';
	b->mo_outstanding++;
	return mo;
}

static void hand_up(struct smpp_mo *mo)
{
	struct smpp_links *ls = mo->links;
	if (!ls->mo_fn && !ls->mo_filter) {
		LOGP(DSMPP, LOG_ERROR, "bind %s: no MO handler: answered ESME_RX_T_APPN",
		     mo->bind->name);
		smpp_mo_respond(mo, ESME_RX_T_APPN);
		return;
	}
	if (ls->mo_filter && ls->mo_filter(mo, ls->mo_filter_cls))
		return;
	ls->mo_fn(mo, ls->mo_cls);
}

/* receipts */
static void receipt_done(void *cls, int err, const char *mt_id)
{
	struct smpp_mo *mo = cls;
	if (err) {
		LOGP(DSMPP, LOG_NOTICE, "bind %s: receipt not stored (%s): ESME_RX_T_APPN",
		     mo->bind->name, gw_strerror(err));
		smpp_mo_respond(mo, ESME_RX_T_APPN);
		return;
	}
	LOGP(DSMPP, LOG_INFO, "bind %s: receipt %s", mo->bind->name,
	     mt_id ? "matched" : "parked (early)");
	metric_inc(metrics_counter("ussdgw_smpp_receipts_total", "Receipts by outcome",
				   mt_id ? "outcome=\"matched\"" : "outcome=\"parked\""));
	struct smpp_dlr d;
	if (mt_id && mo->links->receipt_hook && smpp_dlr_parse_pdu(&mo->pdu, &d) == 0)
		mo->links->receipt_hook(mo->links->receipt_cls, mo->bind->link->name, mt_id, &d);
	smpp_mo_respond(mo, ESME_ROK);
}

static void on_receipt(struct smpp_mo *mo)
{
	struct smpp_link *l = mo->bind->link;
	struct smpp_dlr d;
	if (smpp_dlr_parse_pdu(&mo->pdu, &d) != 0) {
		GW_PEER_VIOLATION(DSMPP, mo->bind->name, "receipt without a message id");
		smpp_mo_respond(mo, ESME_ROK);
		return;
	}
	LOGP(DSMPP, LOG_DEBUG, "bind %s: receipt id %s state %s err %d", mo->bind->name, d.id,
	     smpp_msg_state_name(d.state), d.err);
	int rc = l->links->redis ? smpp_dlr_correlate(l->links->redis, l->name, &d,
						      (unsigned)cfg_int(l->cfg, "dlr_early_ttl_s"),
						      receipt_done, mo)
				 : GW_EDEPENDENCY;
	if (rc)
		receipt_done(mo, rc, NULL);
}

/* reassembly */
static void reasm_done(void *cls, int err, bool complete, uint8_t *data, size_t len)
{
	struct smpp_mo *mo = cls;
	if (err) {
		LOGP(DSMPP, LOG_NOTICE, "bind %s: MO part not stored (%s): ESME_RX_T_APPN",
		     mo->bind->name, gw_strerror(err));
		smpp_mo_respond(mo, ESME_RX_T_APPN);
		return;
	}
	if (!complete) {
		char mb[LOG_MSISDN_BUFSZ];
		LOGP(DSMPP, LOG_INFO, "bind %s: MO part %u/%u from %s stored (ref %u)",
		     mo->bind->name, mo->concat.seq, mo->concat.total, log_msisdn(mb, mo->msisdn),
		     mo->concat.ref);
		mo->reasm = false; /* a stored part: nothing to release */
		smpp_mo_respond(mo, ESME_ROK);
		return;
	}
	mo->joined = data;
	mo->pdu.short_message = data;
	mo->pdu.sm_length = len;
	mo->pdu.esm_class &= (uint8_t)~0x40;
	char mb[LOG_MSISDN_BUFSZ];
	LOGP(DSMPP, LOG_INFO, "bind %s: MO from %s reassembled: %u parts, %zu bytes",
	     mo->bind->name, log_msisdn(mb, mo->msisdn), mo->concat.total, len);
	hand_up(mo);
}

void smpp_link_on_deliver(struct smpp_bind *b, const struct smpp_pdu *pdu, const uint8_t *frame,
			  size_t len)
{
	struct smpp_mo *mo = mo_new(b, pdu, frame, len);
	if (!mo) {
		struct smpp_pdu r;
		smpp_pdu_init(&r, pdu->command_id | SMPP_RESP_BIT, pdu->sequence_number);
		r.command_status = ESME_RX_T_APPN;
		r.flags |= SMPP_PDU_F_HEADER_ONLY;
		smpp_bind_respond(b, &r);
		return;
	}
	if (smpp_dlr_is_receipt(&mo->pdu)) {
		mo->receipt = true;
		on_receipt(mo);
		return;
	}
	struct smpp_concat c;
	bool found = false;
	size_t udh_len = 0;
	if ((mo->pdu.esm_class & 0x40) && mo->pdu.sm_length) {
		if (smpp_udh_parse(mo->pdu.short_message, mo->pdu.sm_length, &udh_len, &c,
				   &found) != 0) {
			GW_PEER_VIOLATION(DSMPP, b->name, "bad UDH in deliver_sm");
			found = false;
			udh_len = 0;
		}
	}
	if (!found && smpp_sar_get(&mo->pdu, &c) == 0)
		found = true;
	if (found && c.total > 1) {
		mo->reasm = true;
		mo->concat = c;
		const uint8_t *part = mo->pdu.short_message + udh_len;
		size_t plen = mo->pdu.sm_length - udh_len;
		struct smpp_link *l = b->link;
		int rc = l->links->redis
			     ? smpp_reasm_add(l->links->redis, l->name, mo->msisdn, &c, part, plen,
					      (unsigned)cfg_int(l->cfg, "reassembly_timeout_s"),
					      reasm_done, mo)
			     : GW_EDEPENDENCY;
		if (rc)
			reasm_done(mo, rc, false, NULL, 0);
		return;
	}
	hand_up(mo);
}

/* --- MT entries ----------------------------------------------------------------------- */

struct mt_entry {
	struct smpp_link *link;
	struct mt_entry *next_ready;
	struct mt_entry *next_all, *prev_all;
	bool in_ready;
	struct smpp_mtq_entry e;
	struct smpp_text_plan plan;
	uint8_t *enc;
	uint8_t dcs;
	uint16_t ref;
	bool payload; /* one message_payload PDU */
	unsigned nparts;
	uint8_t *state; /* per part: 0 pending, 1 in flight, 2 done */
	unsigned inflight;
	unsigned attempts; /* temporary failures so far (the retry limit) */
	unsigned sends;	   /* times the MT went out (recorded as "attempts") */
	char smsc_ids[512];
	bool finishing;
	ev_timer retry;
};

static bool mt_needs_send(const struct mt_entry *m)
{
	if (m->finishing || ev_is_active(&m->retry))
		return false;
	for (unsigned i = 0; i < m->nparts; i++)
		if (m->state[i] == 0)
			return true;
	return false;
}

static void ready_push(struct smpp_link *l, struct mt_entry *m, bool front)
{
	if (m->in_ready)
		return;
	m->in_ready = true;
	l->ready_count++;
	if (front) {
		m->next_ready = l->ready_head;
		l->ready_head = m;
		if (!l->ready_tail)
			l->ready_tail = m;
	} else {
		m->next_ready = NULL;
		if (l->ready_tail)
			l->ready_tail->next_ready = m;
		else
			l->ready_head = m;
		l->ready_tail = m;
	}
}

static void ready_remove(struct smpp_link *l, struct mt_entry *m)
{
	if (!m->in_ready)
		return;
	struct mt_entry **pp = &l->ready_head, *prev = NULL;
	while (*pp && *pp != m) {
		prev = *pp;
		pp = &(*pp)->next_ready;
	}
	if (*pp) {
		*pp = m->next_ready;
		if (l->ready_tail == m)
			l->ready_tail = prev;
	}
	m->in_ready = false;
	m->next_ready = NULL;
	l->ready_count--;
}

static void mt_free(struct mt_entry *m)
{
	struct smpp_link *l = m->link;
	ready_remove(l, m);
	ev_timer_stop(l->links->loop, &m->retry);
	if (m->prev_all)
		m->prev_all->next_all = m->next_all;
	else
		l->all = m->next_all;
	if (m->next_all)
		m->next_all->prev_all = m->prev_all;
	l->inmem_count--;
	smpp_mtq_entry_clear(&m->e);
	free(m->enc);
	free(m->state);
	free(m);
}

static struct mt_entry *mt_find(struct smpp_link *l, const char *stream_id)
{
	for (struct mt_entry *m = l->all; m; m = m->next_all)
		if (!strcmp(m->e.stream_id, stream_id))
			return m;
	return NULL;
}

static void link_pump(struct smpp_link *l);
static void link_fill(struct smpp_link *l);

static void mt_finished(void *cls, int err, const char *mt_id)
{
	struct mt_entry *m = cls;
	(void)mt_id;
	if (err)
		LOGP(DSMS, LOG_ERROR,
		     "link %s: MT %s: could not record its outcome (%s); it stays pending "
		     "and is sent again",
		     m->link->name, m->e.mt_id, gw_strerror(err));
	struct smpp_link *l = m->link;
	mt_free(m);
	link_fill(l);
}

static void mt_finish_now(struct mt_entry *m, const char *state, uint32_t status);

struct mt_fail_ctx {
	struct mt_entry *m;
	uint32_t status;
};

static void mt_failed_done(void *cls, bool rerouted)
{
	struct mt_fail_ctx *f = cls;
	struct mt_entry *m = f->m;
	uint32_t st = f->status;
	free(f);
	mt_finish_now(m, rerouted ? "rerouted" : "failed", st);
}

static void mt_finish(struct mt_entry *m, const char *state, uint32_t status)
{
	struct smpp_link *l = m->link;
	m->finishing = true;
	ready_remove(l, m);
	struct smpp_links *ls = l->links;
	if (!strcmp(state, "failed") && ls->mt_failed) {
		struct mt_fail_ctx *f = malloc(sizeof(*f));
		if (f) {
			f->m = m;
			f->status = status;
			if (ls->mt_failed(ls->mt_failed_cls, l->name, &m->e, status, mt_failed_done,
					  f))
				return;
			free(f);
		}
	}
	mt_finish_now(m, state, status);
}

static void mt_finish_now(struct mt_entry *m, const char *state, uint32_t status)
{
	struct smpp_link *l = m->link;
	metric_inc(metrics_counter("ussdgw_smpp_mt_total", "MT SMS finished by outcome",
				   !strcmp(state, "submitted")	? "outcome=\"submitted\""
				   : !strcmp(state, "rerouted") ? "outcome=\"rerouted\""
								: "outcome=\"failed\""));
	if (strcmp(state, "submitted") != 0) {
		char mb[LOG_MSISDN_BUFSZ];
		LOGP(DSMS, LOG_NOTICE, "link %s: MT %s to %s failed: %s (0x%08x) after %u sends",
		     l->name, m->e.mt_id, log_msisdn(mb, m->e.to), smpp_status_name(status), status,
		     m->sends);
	}
	int rc = smpp_mtq_finish(l->links->redis, l->name, m->e.stream_id, m->e.mt_id, state,
				 status, m->smsc_ids, m->sends,
				 (unsigned)cfg_int(l->cfg, "dlr_ttl_s"), mt_finished, m);
	if (rc)
		mt_finished(m, rc, NULL);
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct mt_entry *m = w->data;
	ev_timer_stop(loop, w);
	ready_push(m->link, m, true);
	link_pump(m->link);
}

static bool status_temporary(uint32_t st)
{
	return st == ESME_RSYSERR || st == ESME_RMSGQFUL || st == ESME_RTHROTTLED ||
	       st == ESME_RX_T_APPN || st == ESME_RUNKNOWNERR || st == ESME_RINVBNDSTS;
}

/* A temporary failure of one part: retry later, or fail after mt_retry_max. */
static void mt_temp_fail(struct mt_entry *m, uint32_t status, const char *why)
{
	struct smpp_link *l = m->link;
	m->attempts++;
	unsigned max = (unsigned)cfg_int(l->cfg, "mt_retry_max");
	if (m->attempts > max) {
		if (m->inflight == 0)
			mt_finish(m, "failed", status ? status : ESME_RUNKNOWNERR);
		return;
	}
	double d = (double)cfg_int(l->cfg, "mt_retry_min_ms") / 1000.0;
	for (unsigned i = 1; i < m->attempts && i < 16; i++)
		d *= 2;
	/* Stay well under the claim idle time, so no other node takes it over meanwhile. */
	double cap = (double)cfg_int(l->cfg, "mt_claim_idle_ms") / 2000.0;
	if (d > cap)
		d = cap;
	LOGP(DSMS, LOG_INFO, "link %s: MT %s: %s, retry %u in %.1f s", l->name, m->e.mt_id, why,
	     m->attempts, d);
	ready_remove(l, m);
	ev_timer_stop(l->links->loop, &m->retry);
	ev_timer_set(&m->retry, d, 0.);
	ev_timer_start(l->links->loop, &m->retry);
}

static void dlr_mapped(void *cls, int err, const char *mt_id)
{
	(void)cls;
	if (err)
		LOGP(DSMS, LOG_ERROR, "receipt map not stored: %s", gw_strerror(err));
	else if (mt_id)
		LOGP(DSMS, LOG_INFO, "MT %s: early receipt applied", mt_id);
}

static void mt_on_resp(struct smpp_bind *b, struct smpp_req *req, int err,
		       const struct smpp_pdu *resp)
{
	struct mt_entry *m = req->owner;
	unsigned part = req->part;
	struct smpp_link *l = m->link;
	free(req);
	if (m->inflight)
		m->inflight--;
	if (m->state[part] == 1)
		m->state[part] = 0;
	if (err == GW_ESHUTDOWN) {
		/* Freed with the links: the entry stays pending in Redis for the next start. */
		if (m->inflight == 0)
			mt_free(m);
		return;
	}
	if (err == GW_EAGAIN) {
		/* The bind dropped: retried on the next bind up, here or on another node. */
		ready_push(l, m, true);
		return;
	}
	if (err) {
		mt_temp_fail(m, 0, "no response");
		return;
	}
	uint32_t st = resp->command_status;
	if (resp->command_id == SMPP_GENERIC_NACK && st == ESME_ROK)
		st = ESME_RSYSERR;
	if (st == ESME_ROK) {
		m->state[part] = 2;
		char mid[SMPP_DLR_ID_MAX];
		size_t n =
		    resp->message_id.len < sizeof(mid) - 1 ? resp->message_id.len : sizeof(mid) - 1;
		memcpy(mid, resp->message_id.ptr, n);
		mid[n] = '\0';
		if (n) {
			size_t cur = strlen(m->smsc_ids);
			snprintf(m->smsc_ids + cur, sizeof(m->smsc_ids) - cur, "%s%s",
				 cur ? "," : "", mid);
			smpp_dlr_map(l->links->redis, l->name, mid, m->e.mt_id,
				     (unsigned)cfg_int(l->cfg, "dlr_ttl_s"),
				     (unsigned)cfg_int(l->cfg, "dlr_early_ttl_s"), dlr_mapped,
				     NULL);
		}
		for (unsigned i = 0; i < m->nparts; i++)
			if (m->state[i] != 2)
				return;
		mt_finish(m, "submitted", ESME_ROK);
		return;
	}
	if (st == ESME_RTHROTTLED || st == ESME_RMSGQFUL) {
		ready_push(l, m, true); /* the bind's pause does the waiting */
		smpp_bind_schedule_send(b);
		return;
	}
	if (status_temporary(st)) {
		char why[64];
		snprintf(why, sizeof(why), "%s (0x%08x)", smpp_status_name(st), st);
		mt_temp_fail(m, st, why);
		return;
	}
	/* Permanent for this message. */
	if (m->inflight == 0)
		mt_finish(m, "failed", st);
	else
		m->finishing = true;
}

/* Build the MT's parts once. */
static int mt_prepare(struct mt_entry *m)
{
	struct smpp_link *l = m->link;
	const char *concat = cfg_str(l->cfg, "concat");
	enum smpp_concat_mode mode = SMPP_CONCAT_UDH8;
	if (!strcmp(concat, "udh16"))
		mode = SMPP_CONCAT_UDH16;
	else if (!strcmp(concat, "sar"))
		mode = SMPP_CONCAT_SAR;
	m->payload = !strcmp(concat, "payload");
	struct smpp_text_plan_opts o = {
	    .bearer = SMPP_BEARER_SMS,
	    .concat = m->payload ? SMPP_CONCAT_UDH8 : mode,
	    .allow_latin1 = cfg_bool(l->cfg, "allow_latin1"),
	};
	size_t tl = strlen(m->e.text);
	size_t cap = 2 * tl + 16;
	m->enc = malloc(cap);
	if (!m->enc)
		return GW_ENOMEM;
	int rc = smpp_text_plan(m->e.text, tl, &o, m->enc, cap, &m->plan);
	if (rc)
		return rc;
	enum smpp_dcs_profile prof =
	    !strcmp(cfg_str(l->cfg, "dcs_profile"), "ussd") ? SMPP_DCS_USSD : SMPP_DCS_SMPP;
	rc = smpp_dcs_from_enc(m->plan.enc, prof, &m->dcs);
	if (rc)
		return rc;
	m->nparts = m->payload ? 1 : m->plan.parts;
	m->state = calloc(m->nparts, 1);
	if (!m->state)
		return GW_ENOMEM;
	/* The reference is derived from the MT id, so every retry reuses it. */
	uint32_t h = 2166136261u;
	for (const char *p = m->e.mt_id; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	m->ref = (uint16_t)(mode == SMPP_CONCAT_UDH8 || mode == SMPP_CONCAT_SAR ? (h & 0xFF)
										: (h & 0xFFFF));
	return 0;
}

static int mt_send_part(struct smpp_bind *b, struct mt_entry *m, unsigned part)
{
	struct smpp_link *l = m->link;
	struct smpp_pdu p;
	smpp_pdu_init(&p, SMPP_SUBMIT_SM, 0);
	p.source_addr = smpp_str_c(m->e.from);
	p.source_addr_ton = m->e.src_ton;
	p.source_addr_npi = m->e.src_npi;
	p.destination_addr = smpp_str_c(m->e.to);
	p.dest_addr_ton = m->e.dst_ton;
	p.dest_addr_npi = m->e.dst_npi;
	p.data_coding = m->dcs;
	p.registered_delivery =
	    (uint8_t)(m->e.registered_delivery >= 0 ? m->e.registered_delivery
						    : cfg_int(l->cfg, "registered_delivery"));
	uint8_t sm[SMPP_SM_MAX];
	size_t smlen = 0;
	if (m->payload) {
		smpp_pdu_add_tlv(&p, SMPP_TLV_MESSAGE_PAYLOAD, m->enc, m->plan.enc_len);
	} else {
		int rc = smpp_text_part(&m->plan, m->enc, part, m->ref, sm, sizeof(sm), &smlen);
		if (rc)
			return rc;
		p.short_message = sm;
		p.sm_length = smlen;
		if (m->plan.parts > 1 && m->plan.concat == SMPP_CONCAT_SAR) {
			struct smpp_concat c = {.ref = m->ref,
						.total = (uint8_t)m->plan.parts,
						.seq = (uint8_t)(part + 1)};
			smpp_sar_add(&p, &c);
		} else if (m->plan.parts > 1) {
			p.esm_class |= 0x40;
		}
	}
	struct smpp_req *req = calloc(1, sizeof(*req));
	if (!req)
		return GW_ENOMEM;
	req->kind = REQ_SUBMIT_MT;
	req->owner = m;
	req->part = part;
	double now = ev_now(l->links->loop);
	int rc = smpp_bind_request(b, &p, now + l->resp_timeout_ms / 1000.0, req, true);
	if (rc) {
		free(req);
		return rc;
	}
	m->state[part] = 1;
	m->inflight++;
	return 0;
}

static struct smpp_bind *pick_bind(struct smpp_link *l)
{
	for (unsigned k = 0; k < l->nbinds; k++) {
		struct smpp_bind *b = &l->binds[(l->rr + k) % l->nbinds];
		if (smpp_bind_can_submit(b)) {
			l->rr = (l->rr + k + 1) % l->nbinds;
			return b;
		}
	}
	return NULL;
}

/* Send ready MT parts while some bind has room. */
static void link_pump(struct smpp_link *l)
{
	if (l->links->draining)
		return;
	while (l->ready_head) {
		struct mt_entry *m = l->ready_head;
		if (!mt_needs_send(m)) {
			ready_remove(l, m);
			continue;
		}
		struct smpp_bind *b = pick_bind(l);
		if (!b)
			break;
		unsigned part = 0;
		while (part < m->nparts && m->state[part] != 0)
			part++;
		if (m->inflight == 0) {
			smpp_mtq_touch(l->links->redis, l->name, l->consumer, m->e.stream_id,
				       m->e.mt_id);
			m->sends++;
		}
		int rc = mt_send_part(b, m, part);
		if (rc) {
			LOGP(DSMS, LOG_ERROR, "link %s: MT %s: cannot send: %s", l->name,
			     m->e.mt_id, gw_strerror(rc));
			ready_remove(l, m);
			if (rc == GW_EINVAL || rc == GW_EMSGSIZE)
				mt_finish(m, "failed", ESME_RINVMSGLEN);
			continue;
		}
		if (!mt_needs_send(m))
			ready_remove(l, m);
	}
	/* Wake when a window / bucket / pause reopens. */
	if (l->ready_head)
		for (unsigned i = 0; i < l->nbinds; i++)
			smpp_bind_schedule_send(&l->binds[i]);
	link_fill(l);
}

static bool link_any_bound(const struct smpp_link *l)
{
	for (unsigned i = 0; i < l->nbinds; i++)
		if (l->binds[i].state == SB_BOUND && l->bind_cmd != SMPP_BIND_RECEIVER)
			return true;
	return false;
}

static void ack_deleted(struct smpp_link *l, const char *stream_id)
{
	smpp_mtq_finish(l->links->redis, l->name, stream_id, NULL, "gone", 0, "", 0, 60, NULL,
			NULL);
}

static void add_entries(struct smpp_link *l, struct smpp_mtq_entry *es, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (es[i].deleted) {
			ack_deleted(l, es[i].stream_id);
			continue;
		}
		if (mt_find(l, es[i].stream_id))
			continue;
		struct mt_entry *m = calloc(1, sizeof(*m));
		if (!m)
			break;
		m->link = l;
		m->e = es[i];
		es[i].text = NULL; /* stolen */
		ev_timer_init(&m->retry, retry_cb, 0., 0.);
		m->retry.data = m;
		m->next_all = l->all;
		if (l->all)
			l->all->prev_all = m;
		l->all = m;
		l->inmem_count++;
		int rc = mt_prepare(m);
		if (rc) {
			LOGP(DSMS, LOG_ERROR, "link %s: MT %s cannot be encoded: %s", l->name,
			     m->e.mt_id, gw_strerror(rc));
			mt_finish(m, "failed", ESME_RINVMSGLEN);
			continue;
		}
		ready_push(l, m, false);
	}
}

static void read_cb(void *cls, int err, struct smpp_mtq_entry *es, size_t n)
{
	struct smpp_link *l = cls;
	l->reading = false;
	if (err) {
		if (err != GW_ECANCELED)
			LOGP(DSMS, LOG_NOTICE, "link %s: MT queue read failed: %s", l->name,
			     gw_strerror(err));
		if (err == GW_ECANCELED)
			return;
		ev_timer_set(&l->poll_timer, 1.0, 0.);
		ev_timer_start(l->links->loop, &l->poll_timer);
		return;
	}
	if (!link_any_bound(l)) {
		/* Nothing can go out: leave the entries pending, read them again later. */
		l->read_own_pel = false;
		return;
	}
	add_entries(l, es, n);
	if (n == 0 && !l->ready_head) {
		ev_timer_set(&l->poll_timer, 0.05, 0.);
		ev_timer_start(l->links->loop, &l->poll_timer);
	}
	link_pump(l);
}

static void prepared_cb(void *cls, int err, const char *unused)
{
	(void)unused;
	struct smpp_link *l = cls;
	l->reading = false;
	if (err) {
		ev_timer_set(&l->poll_timer, 1.0, 0.);
		ev_timer_start(l->links->loop, &l->poll_timer);
		return;
	}
	l->read_own_pel = true;
	/* First our own pending entries (from before a restart of this node). */
	if (smpp_mtq_read(l->links->redis, l->name, l->consumer, 100, true, read_cb, l) == 0)
		l->reading = true;
}

/* Read more entries when there is room in memory. */
static void link_fill(struct smpp_link *l)
{
	struct smpp_links *ls = l->links;
	if (!ls->redis || l->reading || ls->draining || !link_any_bound(l) ||
	    ev_is_active(&l->poll_timer))
		return;
	unsigned cap = l->window * l->nbinds * 2 + 8;
	if (l->inmem_count >= cap || l->ready_count >= l->window * l->nbinds)
		return;
	if (!l->read_own_pel) {
		if (smpp_mtq_prepare(ls->redis, l->name, prepared_cb, l) == 0)
			l->reading = true;
		return;
	}
	if (smpp_mtq_read(ls->redis, l->name, l->consumer, cap - l->inmem_count, false, read_cb,
			  l) == 0)
		l->reading = true;
}

static void poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	ev_timer_stop(loop, w);
	link_fill(w->data);
}

static void claim_read_cb(void *cls, int err, struct smpp_mtq_entry *es, size_t n)
{
	struct smpp_link *l = cls;
	if (err || !link_any_bound(l))
		return;
	if (n)
		LOGP(DSMS, LOG_NOTICE, "link %s: took over %zu MT pending with a dead consumer",
		     l->name, n);
	add_entries(l, es, n);
	link_pump(l);
}

static void claim_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct smpp_link *l = w->data;
	if (l->links->redis && link_any_bound(l) && !l->links->draining)
		smpp_mtq_autoclaim(l->links->redis, l->name, l->consumer,
				   (unsigned)cfg_int(l->cfg, "mt_claim_idle_ms"), 50, claim_read_cb,
				   l);
}

/* --- bind events ---------------------------------------------------------------------- */

void smpp_link_bind_up(struct smpp_bind *b)
{
	struct smpp_link *l = b->link;
	link_pump(l);
}

void smpp_link_bind_down(struct smpp_bind *b)
{
	struct smpp_link *l = b->link;
	if (link_any_bound(l))
		return;
	/* No bind of the link is up on this node: drop what is held in memory (it stays
	 * pending in Redis; our own list is re-read at the next bind up, and another node
	 * takes entries over after mt_claim_idle_ms). */
	struct mt_entry *m = l->all;
	while (m) {
		struct mt_entry *next = m->next_all;
		if (m->inflight == 0 && !m->finishing)
			mt_free(m);
		m = next;
	}
	l->read_own_pel = false;
}

void smpp_link_can_send(struct smpp_bind *b)
{
	link_pump(b->link);
}

/* --- session-bound submits -------------------------------------------------------------- */

struct user_submit {
	smpp_submit_cb cb;
	void *cls;
};

void smpp_link_on_resp(struct smpp_bind *b, struct smpp_req *req, int err,
		       const struct smpp_pdu *resp, double rtt)
{
	(void)rtt;
	if (req->kind == REQ_SUBMIT_MT) {
		mt_on_resp(b, req, err, resp);
		return;
	}
	struct user_submit *u = req->owner;
	free(req);
	struct smpp_submit_result r = {.err = err, .bind = b->name};
	if (!err) {
		r.status = resp->command_status;
		struct smpp_dlr_ids ids;
		if (resp->message_id.len &&
		    smpp_dlr_normalise(resp->message_id.ptr, resp->message_id.len, &ids) == 0)
			snprintf(r.message_id, sizeof(r.message_id), "%.65s", ids.id[0]);
	}
	u->cb(u->cls, &r);
	free(u);
}

int smpp_links_submit(struct smpp_links *ls, const char *link, const char *prefer_bind,
		      const struct smpp_pdu *pdu, double deadline, smpp_submit_cb cb, void *cls)
{
	struct smpp_link *l = NULL;
	for (unsigned i = 0; i < ls->nlinks; i++)
		if (!strcmp(ls->links[i].name, link))
			l = &ls->links[i];
	if (!l)
		return GW_ENOENT;
	if (ls->draining)
		return GW_ESHUTDOWN;
	struct smpp_bind *b = NULL;
	for (unsigned i = 0; prefer_bind && i < l->nbinds; i++)
		if (!strcmp(l->binds[i].name, prefer_bind) && l->binds[i].state == SB_BOUND &&
		    l->binds[i].win.used < l->binds[i].win.size)
			b = &l->binds[i];
	for (unsigned i = 0; !b && i < l->nbinds; i++)
		if (l->binds[i].state == SB_BOUND && l->binds[i].win.used < l->binds[i].win.size)
			b = &l->binds[i];
	if (!b)
		return GW_EAGAIN;
	struct user_submit *u = malloc(sizeof(*u));
	struct smpp_req *req = calloc(1, sizeof(*req));
	if (!u || !req) {
		free(u);
		free(req);
		return GW_ENOMEM;
	}
	*u = (struct user_submit){cb, cls};
	req->kind = REQ_SUBMIT_USER;
	req->owner = u;
	struct smpp_pdu p = *pdu;
	double max = ev_now(ls->loop) + l->resp_timeout_ms / 1000.0;
	int rc = smpp_bind_request(b, &p, deadline < max ? deadline : max, req, true);
	if (rc) {
		free(u);
		free(req);
		return GW_EAGAIN;
	}
	return 0;
}

/* --- construction ---------------------------------------------------------------------- */

static int link_init(struct smpp_links *ls, struct smpp_link *l, json_t *cfg,
		     const struct smpp_links_opts *o)
{
	l->links = ls;
	l->cfg = cfg;
	snprintf(l->name, sizeof(l->name), "%s", cfg_str(cfg, "name"));
	snprintf(l->consumer, sizeof(l->consumer), "%s", o->node_id ? o->node_id : "node1");
	const char *sid = cfg_str(cfg, "system_id");
	if (strlen(sid) > 15 || strlen(cfg_str(cfg, "system_type")) > 12 ||
	    strlen(cfg_str(cfg, "address_range")) > 40) {
		LOGP(DSMPP, LOG_ERROR, "link %s: system_id, system_type or address_range too long",
		     l->name);
		return GW_ECONFIG;
	}
	snprintf(l->system_id, sizeof(l->system_id), "%s", sid);
	snprintf(l->system_type, sizeof(l->system_type), "%s", cfg_str(cfg, "system_type"));
	snprintf(l->address_range, sizeof(l->address_range), "%s", cfg_str(cfg, "address_range"));
	const char *pwf = cfg_str(cfg, "password_file");
	if (pwf && pwf[0]) {
		char *pw;
		size_t pl;
		int rc = secfile_read(pwf, &pw, &pl);
		if (rc)
			return rc;
		while (pl && (pw[pl - 1] == '\n' || pw[pl - 1] == '\r'))
			pl--;
		if (pl > 8) {
			secfile_free(pw, pl);
			LOGP(DSMPP, LOG_ERROR, "link %s: password longer than 8 bytes", l->name);
			return GW_ECONFIG;
		}
		memcpy(l->password, pw, pl);
		l->password[pl] = '\0';
		secfile_free(pw, pl);
	}
	const char *bt = cfg_str(cfg, "bind_type");
	l->bind_cmd = !strcmp(bt, "transmitter") ? SMPP_BIND_TRANSMITTER
		      : !strcmp(bt, "receiver")	 ? SMPP_BIND_RECEIVER
						 : SMPP_BIND_TRANSCEIVER;
	l->addr_ton = (uint8_t)cfg_int(cfg, "addr_ton");
	l->addr_npi = (uint8_t)cfg_int(cfg, "addr_npi");
	l->window = (unsigned)cfg_int(cfg, "window");
	l->tps = (unsigned)cfg_int(cfg, "tps");
	l->enquire_s = (unsigned)cfg_int(cfg, "enquire_link_s");
	l->resp_timeout_ms = (unsigned)cfg_int(cfg, "response_timeout_ms");
	l->connect_timeout_ms = (unsigned)cfg_int(cfg, "connect_timeout_ms");
	l->reconnect_min_ms = (unsigned)cfg_int(cfg, "reconnect_min_ms");
	l->reconnect_max_ms = (unsigned)cfg_int(cfg, "reconnect_max_ms");
	l->throttle_pause_ms = (unsigned)cfg_int(cfg, "throttle_pause_ms");
	l->unbind_timeout_ms = (unsigned)cfg_int(cfg, "unbind_timeout_ms");
	l->max_pdu_len = (uint32_t)cfg_int(cfg, "max_pdu_len");
	snprintf(l->tls_name, sizeof(l->tls_name), "%s", cfg_str(cfg, "tls_server_name"));
	if (cfg_bool(cfg, "tls")) {
		const char *ca = cfg_str(cfg, "tls_ca_file");
		const char *cc = cfg_str(cfg, "tls_client_cert");
		if (!o->keys) {
			LOGP(DSMPP, LOG_ERROR, "link %s: TLS needs the key directory (keys.dir)",
			     l->name);
			return GW_ECONFIG;
		}
		int rc = crypto_tls_client_ctx(o->keys, ca && ca[0] ? ca : NULL,
					       cc && cc[0] ? cc : NULL, &l->tls);
		if (rc) {
			LOGP(DSMPP, LOG_ERROR, "link %s: TLS context: %s", l->name,
			     gw_strerror(rc));
			return rc;
		}
	}
	json_t *binds = cfg_get(cfg, "binds");
	l->nbinds = (unsigned)json_array_size(binds);
	if (l->nbinds == 0)
		return GW_ECONFIG;
	l->binds = calloc(l->nbinds, sizeof(*l->binds));
	if (!l->binds)
		return GW_ENOMEM;
	for (unsigned i = 0; i < l->nbinds; i++) {
		json_t *bc = json_array_get(binds, i);
		int rc = smpp_bind_init(&l->binds[i], l, i, cfg_str(bc, "host"),
					(int)cfg_int(bc, "port"));
		if (rc)
			return rc;
	}
	ev_timer_init(&l->poll_timer, poll_cb, 0., 0.);
	l->poll_timer.data = l;
	double ci = (double)cfg_int(cfg, "mt_claim_idle_ms") / 2000.0;
	ev_timer_init(&l->claim_timer, claim_cb, ci, ci);
	l->claim_timer.data = l;
	return 0;
}

int smpp_links_new(struct ev_loop *loop, json_t *links_cfg, const struct smpp_links_opts *o,
		   struct smpp_links **out)
{
	static const struct smpp_links_opts none = {0};
	if (!o)
		o = &none;
	struct smpp_links *ls = calloc(1, sizeof(*ls));
	if (!ls)
		return GW_ENOMEM;
	ls->loop = loop;
	ls->cfg = links_cfg;
	ls->redis = o->redis;
	ls->node_id = o->node_id;
	ls->nlinks = (unsigned)json_array_size(links_cfg);
	ls->links = calloc(ls->nlinks ? ls->nlinks : 1, sizeof(*ls->links));
	if (!ls->links) {
		free(ls);
		return GW_ENOMEM;
	}
	for (unsigned i = 0; i < ls->nlinks; i++) {
		int rc = link_init(ls, &ls->links[i], json_array_get(links_cfg, i), o);
		if (rc) {
			smpp_links_free(ls);
			return rc;
		}
	}
	*out = ls;
	return 0;
}

void smpp_links_set_mo_filter(struct smpp_links *ls, smpp_mo_filter fn, void *cls)
{
	ls->mo_filter = fn;
	ls->mo_filter_cls = cls;
}

void smpp_links_set_mt_failed_hook(struct smpp_links *ls, smpp_mt_failed_hook fn, void *cls)
{
	ls->mt_failed = fn;
	ls->mt_failed_cls = cls;
}

void smpp_links_set_receipt_hook(struct smpp_links *ls, smpp_receipt_hook fn, void *cls)
{
	ls->receipt_hook = fn;
	ls->receipt_cls = cls;
}

void smpp_links_set_mo_handler(struct smpp_links *ls, smpp_mo_handler fn, void *cls)
{
	ls->mo_fn = fn;
	ls->mo_cls = cls;
}

int smpp_links_start(struct smpp_links *ls)
{
	for (unsigned i = 0; i < ls->nlinks; i++) {
		ev_timer_start(ls->loop, &ls->links[i].claim_timer);
		for (unsigned j = 0; j < ls->links[i].nbinds; j++)
			smpp_bind_start(&ls->links[i].binds[j]);
	}
	return 0;
}

unsigned smpp_links_bound(const struct smpp_links *ls)
{
	unsigned n = 0;
	for (unsigned i = 0; ls && i < ls->nlinks; i++)
		for (unsigned j = 0; j < ls->links[i].nbinds; j++)
			n += ls->links[i].binds[j].state == SB_BOUND;
	return n;
}

void smpp_link_check_drained(struct smpp_links *ls)
{
	if (!ls->draining || !ls->drain_done)
		return;
	for (unsigned i = 0; i < ls->nlinks; i++)
		for (unsigned j = 0; j < ls->links[i].nbinds; j++)
			if (ls->links[i].binds[j].state != SB_CLOSED)
				return;
	if (mo_outstanding(ls) && ev_is_active(&ls->drain_timer))
		return;
	void (*done)(void *) = ls->drain_done;
	ls->drain_done = NULL;
	ev_timer_stop(ls->loop, &ls->drain_timer);
	LOGP(DSMPP, LOG_NOTICE, "SMPP links drained");
	done(ls->drain_cls);
}

static void drain_binds(struct smpp_links *ls)
{
	for (unsigned i = 0; i < ls->nlinks; i++) {
		struct smpp_link *l = &ls->links[i];
		ev_timer_stop(ls->loop, &l->claim_timer);
		ev_timer_stop(ls->loop, &l->poll_timer);
		for (unsigned j = 0; j < l->nbinds; j++)
			smpp_bind_drain(&l->binds[j]);
	}
}

static void drain_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct smpp_links *ls = w->data;
	ev_timer_stop(loop, w);
	/* MO answers still pending after the grace time: unbind anyway (the SMSC redelivers). */
	drain_binds(ls);
	smpp_link_check_drained(ls);
}

void smpp_links_drain(struct smpp_links *ls, void (*done)(void *cls), void *cls)
{
	ls->draining = true;
	ls->drain_done = done;
	ls->drain_cls = cls;
	LOGP(DSMPP, LOG_NOTICE, "SMPP links draining: no new work, %u MO answers outstanding",
	     mo_outstanding(ls));
	/* Stop taking new MT work at once (the pump checks draining). MO answers in progress
	 * get a grace time before the binds drain their windows and unbind. */
	ev_timer_init(&ls->drain_timer, drain_timer_cb, 0., 0.);
	ls->drain_timer.data = ls;
	double grace = 0;
	for (unsigned i = 0; mo_outstanding(ls) && i < ls->nlinks; i++)
		if (ls->links[i].unbind_timeout_ms / 1000.0 > grace)
			grace = ls->links[i].unbind_timeout_ms / 1000.0;
	ev_timer_set(&ls->drain_timer, grace > 0 ? grace : 1e-6, 0.);
	ev_timer_start(ls->loop, &ls->drain_timer);
}

void smpp_links_free(struct smpp_links *ls)
{
	if (!ls)
		return;
	for (unsigned i = 0; i < ls->nlinks; i++) {
		struct smpp_link *l = &ls->links[i];
		ev_timer_stop(ls->loop, &l->poll_timer);
		ev_timer_stop(ls->loop, &l->claim_timer);
		for (unsigned j = 0; l->binds && j < l->nbinds; j++)
			if (l->binds[j].win.slots)
				smpp_bind_cleanup(&l->binds[j]);
		while (l->all)
			mt_free(l->all);
		free(l->binds);
		if (l->tls)
			SSL_CTX_free(l->tls);
		memset(l->password, 0, sizeof(l->password));
	}
	ev_timer_stop(ls->loop, &ls->drain_timer);
	free(ls->links);
	free(ls);
}

/* --- the daemon service ----------------------------------------------------------------- */

struct links_svc {
	struct store_redis *redis;
	struct smpp_links *links;
	struct gw_node *node;
};

static enum health_state links_probe(void *cls, char *detail, size_t n)
{
	struct links_svc *s = cls;
	unsigned up = smpp_links_bound(s->links);
	snprintf(detail, n, "%u binds bound", up);
	return up ? HEALTH_UP : HEALTH_DOWN;
}

static int svc_start(struct gw_node *node, void **state)
{
	json_t *root = cfg_root(node->cfg);
	json_t *lc = cfg_get(root, "links");
	*state = NULL;
	if (!lc || json_array_size(lc) == 0)
		return 0;
	struct links_svc *s = calloc(1, sizeof(*s));
	if (!s)
		return GW_ENOMEM;
	s->node = node;
	const char *sock = cfg_str(root, "redis.socket");
	const char *pwf = cfg_str(root, "redis.password_file");
	struct store_redis_opts ro = {
	    .host = cfg_str(root, "redis.host"),
	    .port = (int)cfg_int(root, "redis.port"),
	    .socket = sock && sock[0] ? sock : NULL,
	    .password_file = pwf && pwf[0] ? pwf : NULL,
	    .db = (int)cfg_int(root, "redis.db"),
	    .command_timeout_ms = (int)cfg_int(root, "redis.command_timeout_ms"),
	    .connect_timeout_ms = (int)cfg_int(root, "redis.connect_timeout_ms"),
	    .reconnect_min_ms = (int)cfg_int(root, "redis.reconnect_min_ms"),
	    .reconnect_max_ms = (int)cfg_int(root, "redis.reconnect_max_ms"),
	    .health_name = "redis-smpp",
	};
	int rc = store_redis_new(node->loop, &ro, &s->redis);
	if (rc) {
		free(s);
		return rc;
	}
	struct smpp_links_opts o = {
	    .keys = node->keys, .redis = s->redis, .node_id = cfg_str(root, "node.id")};
	rc = smpp_links_new(node->loop, lc, &o, &s->links);
	if (rc) {
		store_redis_free(s->redis);
		free(s);
		return rc;
	}
	health_register("smpp-binds", HEALTH_DEGRADES, links_probe, s);
	smpp_links_start(s->links);
	*state = s;
	return 0;
}

static void svc_drained(void *cls)
{
	struct links_svc *s = cls;
	daemon_drained(s->node, "smpp-links");
}

static void svc_drain(struct gw_node *node, void *state)
{
	struct links_svc *s = state;
	if (!s) {
		daemon_drained(node, "smpp-links");
		return;
	}
	smpp_links_drain(s->links, svc_drained, s);
}

static void svc_stop(struct gw_node *node, void *state)
{
	(void)node;
	struct links_svc *s = state;
	if (!s)
		return;
	health_unregister("smpp-binds");
	smpp_links_free(s->links);
	store_redis_free(s->redis);
	free(s);
}

struct smpp_links *smpp_links_of_service(void *state)
{
	return state ? ((struct links_svc *)state)->links : NULL;
}

struct store_redis *smpp_links_redis(const struct smpp_links *ls)
{
	return ls ? ls->redis : NULL;
}

const struct gw_service smpp_links_service = {
    .name = "smpp-links",
    .start = svc_start,
    .drain = svc_drain,
    .stop = svc_stop,
};
