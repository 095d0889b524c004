/* The SMPP client bind: a table-driven FSM over one connection (link_int.h).
 *
 * Every state change goes through bind_fsm(), which looks the (state, event)
 * pair up in the transition table, logs "OLD -> NEW (EVENT)", runs the new
 * state's onenter and arms its timer from the link's config. Events that a
 * state does not list are logged and ignored, never acted on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_int.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"

static const char *const state_names[SB_STATE_COUNT] = {
    [SB_CLOSED] = "CLOSED",
    [SB_CONNECTING] = "CONNECTING",
    [SB_TLS_HANDSHAKE] = "TLS_HANDSHAKE",
    [SB_BINDING] = "BINDING",
    [SB_BOUND] = "BOUND",
    [SB_DRAINING] = "DRAINING",
    [SB_UNBINDING] = "UNBINDING",
    [SB_BACKOFF] = "BACKOFF",
};

static const char *const event_names[SB_EVENT_COUNT] = {
    [SBE_START] = "START",
    [SBE_TCP_UP] = "TCP_UP",
    [SBE_TLS_UP] = "TLS_UP",
    [SBE_BIND_OK] = "BIND_OK",
    [SBE_BIND_REFUSED] = "BIND_REFUSED",
    [SBE_IO_DOWN] = "IO_DOWN",
    [SBE_TIMEOUT] = "TIMEOUT",
    [SBE_DRAIN] = "DRAIN",
    [SBE_WINDOW_EMPTY] = "WINDOW_EMPTY",
    [SBE_UNBIND_RESP] = "UNBIND_RESP",
    [SBE_PEER_UNBIND] = "PEER_UNBIND",
    [SBE_STOP] = "STOP",
};

const char *smpp_bind_state_name(enum smpp_bind_state s)
{
	return s < SB_STATE_COUNT ? state_names[s] : "UNKNOWN";
}

const char *smpp_bind_event_name(enum smpp_bind_event e)
{
	return e < SB_EVENT_COUNT ? event_names[e] : "UNKNOWN";
}

/* The transition table: (state, event) -> next state. */
static const struct {
	enum smpp_bind_state from;
	enum smpp_bind_event ev;
	enum smpp_bind_state to;
} transitions[] = {
    {SB_CLOSED, SBE_START, SB_CONNECTING},
    {SB_CONNECTING, SBE_TCP_UP, SB_BINDING},
    {SB_CONNECTING, SBE_TLS_UP, SB_TLS_HANDSHAKE}, /* TCP up, TLS handshake starts */
    {SB_CONNECTING, SBE_IO_DOWN, SB_BACKOFF},
    {SB_CONNECTING, SBE_TIMEOUT, SB_BACKOFF},
    {SB_CONNECTING, SBE_DRAIN, SB_CLOSED},
    {SB_CONNECTING, SBE_STOP, SB_CLOSED},
    {SB_TLS_HANDSHAKE, SBE_TCP_UP, SB_BINDING}, /* handshake done */
    {SB_TLS_HANDSHAKE, SBE_IO_DOWN, SB_BACKOFF},
    {SB_TLS_HANDSHAKE, SBE_TIMEOUT, SB_BACKOFF},
    {SB_TLS_HANDSHAKE, SBE_DRAIN, SB_CLOSED},
    {SB_TLS_HANDSHAKE, SBE_STOP, SB_CLOSED},
    {SB_BINDING, SBE_BIND_OK, SB_BOUND},
    {SB_BINDING, SBE_BIND_REFUSED, SB_BACKOFF},
    {SB_BINDING, SBE_IO_DOWN, SB_BACKOFF},
    {SB_BINDING, SBE_TIMEOUT, SB_BACKOFF},
    {SB_BINDING, SBE_PEER_UNBIND, SB_BACKOFF},
    {SB_BINDING, SBE_DRAIN, SB_CLOSED},
    {SB_BINDING, SBE_STOP, SB_CLOSED},
    {SB_BOUND, SBE_DRAIN, SB_DRAINING},
    {SB_BOUND, SBE_IO_DOWN, SB_BACKOFF},
    {SB_BOUND, SBE_TIMEOUT, SB_BACKOFF},
    {SB_BOUND, SBE_PEER_UNBIND, SB_BACKOFF},
    {SB_BOUND, SBE_STOP, SB_CLOSED},
    {SB_DRAINING, SBE_WINDOW_EMPTY, SB_UNBINDING},
    {SB_DRAINING, SBE_TIMEOUT, SB_UNBINDING},
    {SB_DRAINING, SBE_IO_DOWN, SB_CLOSED},
    {SB_DRAINING, SBE_PEER_UNBIND, SB_CLOSED},
    {SB_DRAINING, SBE_STOP, SB_CLOSED},
    {SB_UNBINDING, SBE_UNBIND_RESP, SB_CLOSED},
    {SB_UNBINDING, SBE_TIMEOUT, SB_CLOSED},
    {SB_UNBINDING, SBE_IO_DOWN, SB_CLOSED},
    {SB_UNBINDING, SBE_PEER_UNBIND, SB_CLOSED},
    {SB_UNBINDING, SBE_STOP, SB_CLOSED},
    {SB_BACKOFF, SBE_TIMEOUT, SB_CONNECTING},
    {SB_BACKOFF, SBE_DRAIN, SB_CLOSED},
    {SB_BACKOFF, SBE_STOP, SB_CLOSED},
};

static void bind_fsm(struct smpp_bind *b, enum smpp_bind_event ev, const char *why);

static double now_of(struct smpp_bind *b)
{
	return ev_now(b->link->links->loop);
}

static struct ev_loop *loop_of(struct smpp_bind *b)
{
	return b->link->links->loop;
}

static void arm(struct smpp_bind *b, ev_timer *t, double after)
{
	ev_timer_stop(loop_of(b), t);
	if (after >= 0) {
		ev_timer_set(t, after > 0 ? after : 1e-6, 0.);
		ev_timer_start(loop_of(b), t);
	}
}

static void count_pdu(struct smpp_bind *b, const char *dir, uint32_t cmd, uint32_t status)
{
	/* The few series a bind uses are kept at hand: no label formatting per PDU. */
	bool out = dir[0] == 'o';
	for (unsigned i = 0; i < b->n_pdu_m; i++) {
		struct bind_pdu_metric *c = &b->pdu_m[i];
		if (c->cmd == cmd && c->status == status && c->out == out) {
			metric_inc(c->m);
			return;
		}
	}
	char labels[256];
	snprintf(labels, sizeof(labels), "bind=\"%s\",dir=\"%s\",command=\"%s\",status=\"%s\"",
		 b->name, dir, smpp_command_name(cmd), smpp_status_name(status));
	struct metric *m = metrics_counter("ussdgw_smpp_pdus_total",
					   "SMPP PDUs by bind, direction, command and status", labels);
	metric_inc(m);
	if (m && b->n_pdu_m < sizeof(b->pdu_m) / sizeof(b->pdu_m[0]))
		b->pdu_m[b->n_pdu_m++] = (struct bind_pdu_metric){m, cmd, status, out};
}

static int send_pdu(struct smpp_bind *b, const struct smpp_pdu *pdu)
{
	uint8_t buf[70000];
	size_t len;
	int rc = smpp_encode(pdu, buf, sizeof(buf), &len);
	if (rc) {
		LOGP(DSMPP, LOG_ERROR, "bind %s: cannot encode %s: %s", b->name,
		     smpp_command_name(pdu->command_id), gw_strerror(rc));
		return rc;
	}
	rc = smpp_conn_send(b->conn, buf, len);
	if (!rc)
		count_pdu(b, "out", pdu->command_id, pdu->command_status);
	return rc;
}

static uint32_t next_seq(struct smpp_bind *b)
{
	if (b->next_seq == 0 || b->next_seq >= 0x7FFFFFFFu)
		b->next_seq = 1;
	return b->next_seq++;
}

static void arm_req_timer(struct smpp_bind *b)
{
	double d = smpp_window_next_deadline(&b->win);
	if (d == 0)
		ev_timer_stop(loop_of(b), &b->req_timer);
	else
		arm(b, &b->req_timer, d - now_of(b));
	metric_set(b->m_window, b->win.used);
}

int smpp_bind_request(struct smpp_bind *b, struct smpp_pdu *pdu, double deadline,
		      struct smpp_req *req, bool take_token)
{
	if (!b->conn)
		return GW_ESHUTDOWN;
	pdu->sequence_number = next_seq(b);
	int rc = smpp_window_add(&b->win, pdu->sequence_number, pdu->command_id, now_of(b),
				 deadline, req, take_token);
	if (rc)
		return rc;
	rc = send_pdu(b, pdu);
	if (rc) {
		smpp_window_take(&b->win, pdu->sequence_number, NULL);
		return rc;
	}
	arm_req_timer(b);
	return 0;
}

int smpp_bind_respond(struct smpp_bind *b, const struct smpp_pdu *resp)
{
	if (!b->conn || (b->state != SB_BOUND && b->state != SB_DRAINING &&
			 b->state != SB_UNBINDING && b->state != SB_BINDING))
		return GW_ESHUTDOWN;
	return send_pdu(b, resp);
}

bool smpp_bind_can_submit(struct smpp_bind *b)
{
	return b->state == SB_BOUND && b->link->bind_cmd != SMPP_BIND_RECEIVER &&
	       smpp_window_can_send(&b->win, now_of(b));
}

void smpp_bind_schedule_send(struct smpp_bind *b)
{
	if (b->state != SB_BOUND)
		return;
	double t = smpp_window_ready_at(&b->win, now_of(b));
	if (t > 0)
		arm(b, &b->send_timer, t - now_of(b));
}

/* Fail every outstanding request: the connection is gone. */
static void fail_window(struct smpp_bind *b)
{
	struct smpp_window_slot s;
	while (smpp_window_pop(&b->win, &s)) {
		struct smpp_req *req = s.cookie;
		if (req && (req->kind == REQ_SUBMIT_USER || req->kind == REQ_SUBMIT_MT))
			smpp_link_on_resp(b, req, GW_EAGAIN, NULL, 0);
		else
			free(req);
	}
	arm_req_timer(b);
}

static void close_conn(struct smpp_bind *b)
{
	if (b->conn) {
		smpp_conn_free(b->conn);
		b->conn = NULL;
	}
	ev_timer_stop(loop_of(b), &b->idle_timer);
	ev_timer_stop(loop_of(b), &b->send_timer);
	b->enquire_out = false;
}

/* --- connection callbacks -------------------------------------------------------------- */

static void conn_tls_start(void *cls)
{
	bind_fsm(cls, SBE_TLS_UP, "TCP connected");
}

static void conn_up(void *cls)
{
	bind_fsm(cls, SBE_TCP_UP, "connected");
}

static void conn_down(void *cls, int err, const char *why)
{
	struct smpp_bind *b = cls;
	smpp_conn_free(b->conn); /* torn down already; the memory goes on an idle turn */
	b->conn = NULL;
	LOGP(DSMPP, LOG_NOTICE, "bind %s: connection down: %s (%s)", b->name, why,
	     gw_strerror(err));
	bind_fsm(b, SBE_IO_DOWN, why);
}

static void handle_resp(struct smpp_bind *b, const struct smpp_pdu *pdu)
{
	struct smpp_window_slot s;
	if (smpp_window_take(&b->win, pdu->sequence_number, &s) != 0) {
		GW_PEER_VIOLATION(DSMPP, b->name, "%s with unknown sequence number %u dropped",
				  smpp_command_name(pdu->command_id), pdu->sequence_number);
		return;
	}
	arm_req_timer(b);
	struct smpp_req *req = s.cookie;
	double rtt = now_of(b) - s.sent_at;
	metric_observe(b->m_rtt, rtt);
	switch (req->kind) {
	case REQ_BIND:
		free(req);
		if (pdu->command_status == ESME_ROK && pdu->command_id != SMPP_GENERIC_NACK) {
			bind_fsm(b, SBE_BIND_OK, "bind accepted");
		} else {
			char why[96];
			snprintf(why, sizeof(why), "bind refused: %s (0x%08x)",
				 smpp_status_name(pdu->command_status), pdu->command_status);
			LOGP(DSMPP, LOG_ERROR, "bind %s: %s", b->name, why);
			bind_fsm(b, SBE_BIND_REFUSED, why);
		}
		return;
	case REQ_ENQUIRE:
		free(req);
		b->enquire_out = false;
		return;
	case REQ_UNBIND:
		free(req);
		bind_fsm(b, SBE_UNBIND_RESP, "unbind_resp");
		return;
	case REQ_SUBMIT_USER:
	case REQ_SUBMIT_MT:
		if (pdu->command_status == ESME_RTHROTTLED ||
		    pdu->command_status == ESME_RMSGQFUL) {
			smpp_window_throttled(&b->win, now_of(b));
			metric_inc(b->m_throttles);
			LOGP(DSMPP, LOG_NOTICE, "bind %s: %s: window %u, pause %.1f s", b->name,
			     smpp_status_name(pdu->command_status), b->win.effective,
			     b->win.pause_cur);
		} else if (pdu->command_status == ESME_ROK) {
			smpp_window_ok(&b->win);
		}
		smpp_link_on_resp(b, req, 0, pdu, rtt);
		if (b->state == SB_DRAINING && b->win.used == 0)
			bind_fsm(b, SBE_WINDOW_EMPTY, "window drained");
		else if (b->state == SB_BOUND)
			smpp_link_can_send(b);
		return;
	}
}

static void conn_pdu(void *cls, const uint8_t *frame, size_t len)
{
	struct smpp_bind *b = cls;
	struct smpp_pdu pdu;
	struct smpp_decode_opts o = {.max_pdu_len = b->link->max_pdu_len};
	b->last_rx = now_of(b);
	int rc = smpp_decode(frame, len, &o, &pdu);
	if (rc) {
		if (pdu.header_valid && smpp_is_resp(pdu.command_id)) {
			/* An answer we cannot parse still answers its request. */
			GW_PEER_VIOLATION(DSMPP, b->name, "undecodable %s (%s)",
					  smpp_command_name(pdu.command_id), gw_strerror(rc));
			if (pdu.command_status == ESME_ROK)
				pdu.command_status = ESME_RSYSERR;
			count_pdu(b, "in", pdu.command_id, pdu.command_status);
			handle_resp(b, &pdu);
			return;
		}
		GW_PEER_VIOLATION(DSMPP, b->name, "undecodable PDU 0x%08x: %s", pdu.command_id,
				  gw_strerror(rc));
		uint8_t out[16];
		size_t ol;
		if (b->conn && smpp_encode_error(pdu.header_valid ? &pdu : NULL, pdu.error_status,
						 out, sizeof(out), &ol) == 0)
			smpp_conn_send(b->conn, out, ol);
		return;
	}
	count_pdu(b, "in", pdu.command_id, pdu.command_status);
	if (smpp_is_resp(pdu.command_id)) {
		handle_resp(b, &pdu);
		return;
	}
	struct smpp_pdu resp;
	switch (pdu.command_id) {
	case SMPP_ENQUIRE_LINK:
		smpp_pdu_init_resp(&resp, &pdu);
		send_pdu(b, &resp);
		return;
	case SMPP_UNBIND:
		smpp_pdu_init_resp(&resp, &pdu);
		send_pdu(b, &resp);
		bind_fsm(b, SBE_PEER_UNBIND, "unbind from the SMSC");
		return;
	case SMPP_DELIVER_SM:
	case SMPP_DATA_SM:
		if (b->state == SB_BOUND && b->link->bind_cmd != SMPP_BIND_TRANSMITTER) {
			smpp_link_on_deliver(b, &pdu, frame, len);
		} else {
			/* Not taking new work: the SMSC delivers it again elsewhere. */
			smpp_pdu_init_resp(&resp, &pdu);
			resp.command_status =
			    b->state == SB_BOUND ? ESME_RINVBNDSTS : ESME_RX_T_APPN;
			resp.flags |= SMPP_PDU_F_HEADER_ONLY;
			send_pdu(b, &resp);
		}
		return;
	case SMPP_OUTBIND:
	case SMPP_ALERT_NOTIFICATION:
		return; /* no response defined */
	default:
		smpp_pdu_init_resp(&resp, &pdu);
		resp.command_status = ESME_RINVCMDID;
		resp.flags |= SMPP_PDU_F_HEADER_ONLY;
		send_pdu(b, &resp);
		return;
	}
}

static const struct smpp_conn_cbs conn_cbs = {
    .tls_start = conn_tls_start,
    .up = conn_up,
    .pdu = conn_pdu,
    .down = conn_down,
};

/* --- timers ------------------------------------------------------------------------ */

static void state_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	bind_fsm(w->data, SBE_TIMEOUT, "state timer");
}

static void req_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct smpp_bind *b = w->data;
	struct smpp_window_slot s;
	bool dead = false;
	while (smpp_window_expire(&b->win, now_of(b) + 1e-3, &s)) {
		struct smpp_req *req = s.cookie;
		LOGP(DSMPP, LOG_NOTICE, "bind %s: no response to %s seq %u", b->name,
		     smpp_command_name(s.command_id), s.seq);
		if (req->kind == REQ_SUBMIT_USER || req->kind == REQ_SUBMIT_MT) {
			smpp_link_on_resp(b, req, GW_ETIMEDOUT_PEER, NULL, 0);
		} else {
			free(req);
			dead = true;
		}
	}
	arm_req_timer(b);
	if (dead)
		bind_fsm(b, SBE_TIMEOUT, "response timeout");
	else if (b->state == SB_DRAINING && b->win.used == 0)
		bind_fsm(b, SBE_WINDOW_EMPTY, "window drained");
	else if (b->state == SB_BOUND)
		smpp_link_can_send(b);
}

static void idle_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct smpp_bind *b = w->data;
	double iv = b->link->enquire_s;
	double idle = now_of(b) - b->last_rx;
	if (idle >= iv - 0.01 && !b->enquire_out && b->conn) {
		struct smpp_pdu p;
		smpp_pdu_init(&p, SMPP_ENQUIRE_LINK, 0);
		struct smpp_req *req = calloc(1, sizeof(*req));
		if (req) {
			req->kind = REQ_ENQUIRE;
			if (smpp_bind_request(b, &p, now_of(b) + b->link->resp_timeout_ms / 1000.0,
					      req, false) == 0)
				b->enquire_out = true;
			else
				free(req);
		}
		idle = 0;
	}
	arm(b, &b->idle_timer, iv - idle);
}

static void send_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct smpp_bind *b = w->data;
	if (b->state == SB_BOUND)
		smpp_link_can_send(b);
}

/* --- the FSM ------------------------------------------------------------------------ */

static void send_bind(struct smpp_bind *b)
{
	struct smpp_link *l = b->link;
	struct smpp_pdu p;
	smpp_pdu_init(&p, l->bind_cmd, 0);
	p.system_id = smpp_str_c(l->system_id);
	p.password = smpp_str_c(l->password);
	p.system_type = smpp_str_c(l->system_type);
	p.interface_version = SMPP_INTERFACE_VERSION;
	p.addr_ton = l->addr_ton;
	p.addr_npi = l->addr_npi;
	p.address_range = smpp_str_c(l->address_range);
	struct smpp_req *req = calloc(1, sizeof(*req));
	if (!req || smpp_bind_request(b, &p, now_of(b) + l->resp_timeout_ms / 1000.0, req, false)) {
		free(req);
		arm(b, &b->state_timer, 0); /* -> BACKOFF */
	}
}

static void onenter(struct smpp_bind *b, enum smpp_bind_state old)
{
	struct smpp_link *l = b->link;
	bool was_up = old == SB_BOUND || old == SB_DRAINING || old == SB_UNBINDING;
	switch (b->state) {
	case SB_CONNECTING: {
		b->epoch++;
		b->next_seq = 1;
		int rc = smpp_conn_open(loop_of(b), b->host, b->port, l->tls,
					l->tls_name[0] ? l->tls_name : b->host, l->max_pdu_len,
					&conn_cbs, b, &b->conn);
		if (rc) {
			LOGP(DSMPP, LOG_NOTICE, "bind %s: connect to %s:%d: %s", b->name, b->host,
			     b->port, gw_strerror(rc));
			arm(b, &b->state_timer, 0);
		} else {
			arm(b, &b->state_timer, l->connect_timeout_ms / 1000.0);
		}
		return;
	}
	case SB_TLS_HANDSHAKE:
		return; /* the connect deadline covers the handshake */
	case SB_BINDING:
		arm(b, &b->state_timer, -1);
		send_bind(b);
		return;
	case SB_BOUND:
		arm(b, &b->state_timer, -1);
		b->backoff_ms = 0;
		b->last_rx = now_of(b);
		arm(b, &b->idle_timer, l->enquire_s);
		LOGP(DSMPP, LOG_NOTICE, "bind %s: bound to %s:%d as %s", b->name, b->host, b->port,
		     smpp_command_name(l->bind_cmd));
		smpp_link_bind_up(b);
		return;
	case SB_DRAINING:
		arm(b, &b->state_timer, l->unbind_timeout_ms / 1000.0);
		if (b->win.used == 0)
			arm(b, &b->state_timer, 0);
		return;
	case SB_UNBINDING: {
		arm(b, &b->state_timer, l->unbind_timeout_ms / 1000.0);
		struct smpp_pdu p;
		smpp_pdu_init(&p, SMPP_UNBIND, 0);
		struct smpp_req *req = calloc(1, sizeof(*req));
		if (req) {
			req->kind = REQ_UNBIND;
			if (smpp_bind_request(b, &p, now_of(b) + l->unbind_timeout_ms / 1000.0, req,
					      false))
				free(req);
		}
		return;
	}
	case SB_BACKOFF: {
		close_conn(b);
		fail_window(b);
		if (was_up)
			smpp_link_bind_down(b);
		unsigned base = b->backoff_ms ? b->backoff_ms * 2 : l->reconnect_min_ms;
		if (base > l->reconnect_max_ms)
			base = l->reconnect_max_ms;
		b->backoff_ms = base;
		/* Full jitter in [base/2, base]: binds of many nodes do not reconnect in step. */
		double d = (base / 2.0 + (double)(random() % (base / 2 + 1))) / 1000.0;
		LOGP(DSMPP, LOG_INFO, "bind %s: reconnect in %.2f s", b->name, d);
		arm(b, &b->state_timer, d);
		return;
	}
	case SB_CLOSED:
		arm(b, &b->state_timer, -1);
		close_conn(b);
		fail_window(b);
		if (was_up)
			smpp_link_bind_down(b);
		smpp_link_check_drained(l->links);
		return;
	case SB_STATE_COUNT:
		return;
	}
}

static void bind_fsm(struct smpp_bind *b, enum smpp_bind_event ev, const char *why)
{
	for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++) {
		if (transitions[i].from != b->state || transitions[i].ev != ev)
			continue;
		enum smpp_bind_state old = b->state;
		b->state = transitions[i].to;
		LOGP(DSMPP, LOG_INFO, "bind %s: %s -> %s (%s: %s)", b->name, state_names[old],
		     state_names[b->state], event_names[ev], why ? why : "");
		metric_set(b->m_state, b->state);
		metric_inc(b->m_transitions);
		char labels[160];
		for (int s = 0; s < SB_STATE_COUNT; s++) {
			snprintf(labels, sizeof(labels), "bind=\"%s\",state=\"%s\"", b->name,
				 state_names[s]);
			metric_set(metrics_gauge("ussdgw_smpp_bind_in_state",
						 "1 for the state the bind is in", labels),
				   s == (int)b->state);
		}
		onenter(b, old);
		return;
	}
	LOGP(DSMPP, LOG_DEBUG, "bind %s: event %s ignored in %s", b->name, event_names[ev],
	     state_names[b->state]);
}

/* --- API for link.c ------------------------------------------------------------------- */

int smpp_bind_init(struct smpp_bind *b, struct smpp_link *l, unsigned index, const char *host,
		   int port)
{
	memset(b, 0, sizeof(*b));
	b->link = l;
	b->index = index;
	b->host = host;
	b->port = port;
	snprintf(b->name, sizeof(b->name), "%s/%u", l->name, index);
	int rc = smpp_window_init(&b->win, l->window, l->tps, l->throttle_pause_ms / 1000.0,
				  ev_now(l->links->loop));
	if (rc)
		return rc;
	ev_timer_init(&b->state_timer, state_timer_cb, 0., 0.);
	ev_timer_init(&b->req_timer, req_timer_cb, 0., 0.);
	ev_timer_init(&b->idle_timer, idle_timer_cb, 0., 0.);
	ev_timer_init(&b->send_timer, send_timer_cb, 0., 0.);
	b->state_timer.data = b->req_timer.data = b->idle_timer.data = b->send_timer.data = b;
	char labels[128];
	snprintf(labels, sizeof(labels), "bind=\"%s\"", b->name);
	b->m_state = metrics_gauge("ussdgw_smpp_bind_state",
				   "Bind FSM state (0 CLOSED 1 CONNECTING 2 TLS_HANDSHAKE 3 "
				   "BINDING 4 BOUND 5 DRAINING 6 UNBINDING 7 BACKOFF)",
				   labels);
	b->m_window = metrics_gauge("ussdgw_smpp_window_in_use", "Outstanding requests", labels);
	b->m_throttles = metrics_counter("ussdgw_smpp_throttles_total",
					 "ESME_RTHROTTLED / ESME_RMSGQFUL answers", labels);
	b->m_transitions =
	    metrics_counter("ussdgw_smpp_bind_transitions_total", "Bind state changes", labels);
	static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					0.25,  0.5,    1,     2.5,  5,	   10};
	b->m_rtt = metrics_histogram("ussdgw_smpp_rtt_seconds", "Request to response round trip",
				     labels, bounds, sizeof(bounds) / sizeof(bounds[0]));
	metric_set(b->m_state, SB_CLOSED);
	return 0;
}

void smpp_bind_start(struct smpp_bind *b)
{
	bind_fsm(b, SBE_START, "start");
}

void smpp_bind_drain(struct smpp_bind *b)
{
	bind_fsm(b, SBE_DRAIN, "shutdown");
}

void smpp_bind_stop(struct smpp_bind *b)
{
	bind_fsm(b, SBE_STOP, "stop");
}

void smpp_bind_cleanup(struct smpp_bind *b)
{
	struct ev_loop *loop = loop_of(b);
	ev_timer_stop(loop, &b->state_timer);
	ev_timer_stop(loop, &b->req_timer);
	ev_timer_stop(loop, &b->idle_timer);
	ev_timer_stop(loop, &b->send_timer);
	close_conn(b);
	struct smpp_window_slot s;
	while (smpp_window_pop(&b->win, &s)) {
		struct smpp_req *req = s.cookie;
		if (req && (req->kind == REQ_SUBMIT_USER || req->kind == REQ_SUBMIT_MT))
			smpp_link_on_resp(b, req, GW_ESHUTDOWN, NULL, 0);
		else
			free(req);
	}
	smpp_window_free(&b->win);
}
