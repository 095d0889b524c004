/* ussd_load: a load generator that plays the operator's USSD centre / SMSC.
 *
 * It listens on loopback; the gateway (or Kannel's bearerbox) binds to it as a
 * transceiver. N subscribers each walk a fixed path of the demo menu: every step
 * is a deliver_sm (standard dialect: ussd_service_op 1 to dial, 18 to answer,
 * its_session_info with the network's session id and the dialog sequence), and
 * the gateway's submit_sm reply is checked against the expected screen (a
 * substring, and continue vs end). A window caps the deliver_sm outstanding per
 * bind. Latency is taken from deliver_sm written to reply submit_sm read.
 *
 * In SMS mode each subscriber sends a keyword MO (deliver_sm, no USSD TLVs) and
 * waits for its deliver_sm_resp and, with --expect-reply TEXT, for the reply MT.
 *
 * Output: progress on stderr; "measuring" and "measured" lines on stdout at the
 * window's edges (the driver samples the gateway there), then a text summary and
 * one JSON line. Bounded: it stops after --warmup + --duration seconds (and at
 * most --drain-ms more), or at --max-wait-bind-s without the binds it expects.
 *
 * Not a test; a tool. Uses our own codec (smpp_pdu.h, smpp_text.h) and libev. */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ussdgw/smpp_pdu.h"
#include "ussdgw/smpp_text.h"

#define MAX_CONNS   16
#define RBUF	    (256 * 1024)
#define HIST_US	    1000000 /* 1 us buckets up to 1 s; above counts in the last */
#define MAX_STEPS   16

struct step {
	const char *input;  /* text sent; the first step of a path is the dial string */
	const char *expect; /* substring of the reply screen */
	bool ends;	    /* the reply ends the session (PSSR_RESP) */
};

struct path {
	const char *name;
	unsigned n;
	struct step s[MAX_STEPS];
};

/* Paths of menus/demo.json whose steps are pure menu steps (no wallet call, so no
 * PIN scrypt): every one ends on an end screen, so no session is left to resume. */
static const struct path paths[] = {
	{"bill-cancel", 6,
	 {{"*384#", "DemoPesa", false},
	  {"3", "Enter business number", false},
	  {"12345", "Enter account number", false},
	  {"ACC-1", "Enter amount", false},
	  {"100", "Pay KES", false},
	  {"2", "Cancelled", true}}},
	{"lang-airtime-nav", 13,
	 {{"*384#", "DemoPesa", false},
	  {"5", "Choose language", false},
	  {"1", "DemoPesa", false},
	  {"2", "Buy airtime for", false},
	  {"1", "Choose airtime amount", false},
	  {"98", "Other amount", false},
	  {"0", "KES 5,000", false},
	  {"00", "DemoPesa", false},
	  {"3", "Enter business number", false},
	  {"54321", "Enter account number", false},
	  {"X1", "Enter amount", false},
	  {"250", "Pay KES 250.00 to 54321", false},
	  {"2", "Cancelled", true}}},
};
#define N_PATHS (sizeof(paths) / sizeof(paths[0]))

struct conn;

struct sub {
	unsigned idx;
	char msisdn[24];
	const struct path *p;
	unsigned step;
	uint8_t net_id;
	uint8_t dseq;
	bool waiting;	  /* a step is outstanding */
	bool queued;	  /* waiting for window room */
	bool got_resp;	  /* SMS: deliver_sm_resp seen */
	bool got_reply;	  /* SMS: reply seen */
	uint64_t t_sent;  /* ns */
	uint32_t seq;	  /* deliver_sm sequence */
	struct conn *c;	  /* where the outstanding step went */
	struct sub *qnext;
	unsigned sessions;
};

struct conn {
	int fd;
	bool bound;
	bool dead;
	unsigned id;
	ev_io rio, wio;
	uint8_t *rb;
	size_t rlen;
	uint8_t *wb;
	size_t wlen, wcap;
	unsigned outstanding; /* deliver_sm without resp */
	uint32_t next_seq;
	struct sub *q_head, *q_tail; /* subscribers waiting for window room */
	uint64_t steps;
};

static struct {
	struct ev_loop *loop;
	int lfd;
	ev_io lio;
	ev_timer tick;
	struct conn *conns[MAX_CONNS];
	unsigned nconns, nbound;
	/* options */
	unsigned port, nsubs, window, binds, duration_s, warmup_s, timeout_ms, drain_ms,
		max_wait_bind_s;
	bool sms;
	const char *keyword, *expect_reply, *short_code, *path_sel, *label;
	uint64_t msisdn_base;
	bool trace, hold;
	ev_signal usr1;
	/* state */
	struct sub *subs;
	enum { PH_WAIT_BIND, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_DONE } phase;
	uint64_t t_phase;
	uint64_t t_measure0, t_measure1;
	bool stop_sending;
	unsigned rr;
	/* counters (measured window only, except totals) */
	uint64_t steps, sessions, errors, mismatches, timeouts, nacks, resp_err, unexpected;
	uint64_t total_steps, total_errors, total_mismatches;
	uint32_t *hist;
	uint64_t hist_n, lat_max_ns, lat_sum_ns;
	uint32_t *hist_resp;
	uint64_t hist_resp_n;
	char first_mismatch[1400];
} G;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool measuring(void)
{
	return G.phase == PH_MEASURE;
}

/* Above 1 s: 1 ms buckets up to 60 s (the last counts everything beyond). */
#define HIST_SLOW_MS 60000
static uint32_t hist_slow[2][HIST_SLOW_MS];

static void hist_add(uint32_t *h, uint64_t *n, uint64_t ns)
{
	uint64_t us = ns / 1000;
	if (us < HIST_US) {
		h[us]++;
	} else {
		uint64_t ms = us / 1000;
		hist_slow[h == G.hist ? 0 : 1][ms < HIST_SLOW_MS ? ms : HIST_SLOW_MS - 1]++;
	}
	(*n)++;
}

static double hist_q(const uint32_t *h, uint64_t n, double q)
{
	if (!n)
		return 0;
	uint64_t want = (uint64_t)(q * (double)n);
	if (want >= n)
		want = n - 1;
	uint64_t acc = 0;
	for (unsigned i = 0; i < HIST_US; i++) {
		acc += h[i];
		if (acc > want)
			return (double)i / 1000.0 + 0.0005; /* bucket middle, ms */
	}
	const uint32_t *hs = hist_slow[h == G.hist ? 0 : 1];
	for (unsigned i = HIST_US / 1000; i < HIST_SLOW_MS; i++) {
		acc += hs[i];
		if (acc > want)
			return (double)i + 0.5;
	}
	return (double)HIST_SLOW_MS;
}

/* --- connections -------------------------------------------------------------------- */

static void conn_close(struct conn *c, const char *why);

static void conn_flush(struct conn *c)
{
	while (c->wlen) {
		ssize_t n = write(c->fd, c->wb, c->wlen);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_close(c, strerror(errno));
			return;
		}
		memmove(c->wb, c->wb + n, c->wlen - (size_t)n);
		c->wlen -= (size_t)n;
	}
	if (c->wlen && !ev_is_active(&c->wio))
		ev_io_start(G.loop, &c->wio);
	else if (!c->wlen && ev_is_active(&c->wio))
		ev_io_stop(G.loop, &c->wio);
}

static int conn_send(struct conn *c, const struct smpp_pdu *pdu)
{
	if (c->dead)
		return -1;
	if (c->wcap - c->wlen < SMPP_DEFAULT_MAX_PDU_LEN) {
		size_t nc = c->wcap * 2;
		uint8_t *nb = realloc(c->wb, nc);
		if (!nb)
			return -1;
		c->wb = nb;
		c->wcap = nc;
	}
	size_t len = 0;
	if (smpp_encode(pdu, c->wb + c->wlen, c->wcap - c->wlen, &len))
		return -1;
	c->wlen += len;
	return 0;
}

static void send_resp(struct conn *c, const struct smpp_pdu *req, uint32_t status)
{
	struct smpp_pdu r;
	smpp_pdu_init_resp(&r, req);
	r.command_status = status;
	char mid[24];
	if (req->command_id == SMPP_SUBMIT_SM && status == 0) {
		static uint64_t msgid;
		snprintf(mid, sizeof(mid), "%" PRIx64, ++msgid);
		r.message_id.ptr = mid;
		r.message_id.len = strlen(mid);
	}
	if (req->command_id == SMPP_BIND_TRANSCEIVER) {
		r.system_id.ptr = "ussdload";
		r.system_id.len = 8;
	}
	conn_send(c, &r);
}

/* --- subscribers -------------------------------------------------------------------- */

static struct conn *pick_conn(struct sub *s)
{
	if (!G.nbound)
		return NULL;
	/* Successive steps of one session go to different binds when there are
	 * several (on two nodes: the session crosses nodes every step). */
	unsigned k = (s->idx + s->step + s->sessions) % G.nbound, seen = 0;
	for (unsigned i = 0; i < G.nconns; i++) {
		struct conn *c = G.conns[i];
		if (c && c->bound && !c->dead) {
			if (seen == k)
				return c;
			seen++;
		}
	}
	return NULL;
}

static void sub_send(struct sub *s, struct conn *c)
{
	struct smpp_pdu d;
	uint32_t seq = c->next_seq++;
	if (c->next_seq > 0x7FFFFFFF)
		c->next_seq = 1;
	smpp_pdu_init(&d, SMPP_DELIVER_SM, seq);
	d.source_addr_ton = 1;
	d.source_addr_npi = 1;
	d.source_addr.ptr = s->msisdn;
	d.source_addr.len = strlen(s->msisdn);
	uint8_t sm[200], its[2]; /* the PDU points at these until encoded */
	size_t smlen = 0;
	const char *text;
	if (G.sms) {
		d.service_type.ptr = "";
		d.destination_addr.ptr = G.short_code;
		d.destination_addr.len = strlen(G.short_code);
		text = G.keyword;
		d.data_coding = 0;
	} else {
		d.service_type.ptr = "USSD";
		d.service_type.len = 4;
		d.destination_addr.ptr = "384";
		d.destination_addr.len = 3;
		text = s->p->s[s->step].input;
		d.data_coding = 0x0F;
		smpp_pdu_add_tlv_u8(&d, SMPP_TLV_USSD_SERVICE_OP,
				    s->step == 0 ? SMPP_USSD_PSSR_IND : SMPP_USSD_USSR_CONF);
		its[0] = s->net_id;
		its[1] = (uint8_t)((s->dseq & 0x7F) << 1);
		smpp_pdu_add_tlv(&d, SMPP_TLV_ITS_SESSION_INFO, its, 2);
	}
	if (smpp_text_encode(SMPP_ENC_GSM7, text, strlen(text), sm, sizeof(sm), &smlen))
		smlen = 0;
	d.short_message = sm;
	d.sm_length = smlen;
	s->seq = seq;
	s->c = c;
	s->waiting = true;
	s->got_resp = s->got_reply = false;
	s->t_sent = now_ns();
	c->outstanding++;
	conn_send(c, &d);
}

/* Send the subscriber's next step now, or queue it for window room. */
static void sub_go(struct sub *s)
{
	if (G.stop_sending || s->waiting || s->queued)
		return;
	struct conn *c = pick_conn(s);
	if (!c)
		return;
	if (c->outstanding >= G.window) {
		s->queued = true;
		s->qnext = NULL;
		if (c->q_tail)
			c->q_tail->qnext = s;
		else
			c->q_head = s;
		c->q_tail = s;
		return;
	}
	sub_send(s, c);
}

static void conn_drain_queue(struct conn *c)
{
	while (c->q_head && c->outstanding < G.window && !G.stop_sending) {
		struct sub *s = c->q_head;
		c->q_head = s->qnext;
		if (!c->q_head)
			c->q_tail = NULL;
		s->queued = false;
		sub_send(s, c);
	}
}

static void sub_new_session(struct sub *s)
{
	s->step = 0;
	s->dseq = 0;
	s->net_id = (uint8_t)(s->net_id + 1);
	s->sessions++;
}

static void note_error(struct sub *s, const char *what, const char *detail)
{
	if (measuring())
		G.errors++;
	G.total_errors++;
	if (G.trace || G.total_errors <= 5)
		fprintf(stderr, "ussd_load: error: %s (%s step %u): %s\n", what, s->msisdn, s->step,
			detail);
}

/* A step completed (reply checked). */
static void step_done(struct sub *s, bool ok_step, bool session_end)
{
	uint64_t lat = now_ns() - s->t_sent;
	s->waiting = false;
	if (measuring()) {
		if (ok_step) {
			G.steps++;
			hist_add(G.hist, &G.hist_n, lat);
			G.lat_sum_ns += lat;
			if (lat > G.lat_max_ns)
				G.lat_max_ns = lat;
		}
		if (session_end && ok_step)
			G.sessions++;
	}
	G.total_steps++;
	if (session_end || !ok_step) {
		sub_new_session(s);
	} else {
		s->step++;
		s->dseq++;
	}
	sub_go(s);
}

static struct sub *sub_by_msisdn(struct smpp_str a)
{
	char buf[24];
	if (a.len == 0 || a.len >= sizeof(buf))
		return NULL;
	memcpy(buf, a.ptr, a.len);
	buf[a.len] = '\0';
	if (buf[0] == '+')
		memmove(buf, buf + 1, a.len);
	char *end;
	unsigned long long v = strtoull(buf, &end, 10);
	if (*end || v < G.msisdn_base || v - G.msisdn_base >= G.nsubs)
		return NULL;
	return &G.subs[v - G.msisdn_base];
}

static void on_submit(struct conn *c, const struct smpp_pdu *pdu)
{
	send_resp(c, pdu, ESME_ROK);
	struct sub *s = sub_by_msisdn(pdu->destination_addr);
	if (!s || !s->waiting) {
		G.unexpected++;
		if (G.trace)
			fprintf(stderr, "ussd_load: unexpected submit_sm to %.*s\n",
				(int)pdu->destination_addr.len, pdu->destination_addr.ptr);
		return;
	}
	char text[800];
	size_t tl = 0;
	const uint8_t *b = pdu->short_message;
	size_t n = pdu->sm_length;
	if (!n) {
		const struct smpp_tlv *t = smpp_pdu_find_tlv(pdu, SMPP_TLV_MESSAGE_PAYLOAD);
		if (t) {
			b = smpp_tlv_value(t);
			n = t->len;
		}
	}
	enum smpp_text_enc enc =
		smpp_dcs_to_enc(pdu->data_coding, G.sms ? SMPP_DCS_SMPP : SMPP_DCS_USSD);
	if (enc == SMPP_ENC_UNKNOWN || enc == SMPP_ENC_8BIT)
		enc = SMPP_ENC_LATIN1;
	if (n > 250)
		n = 250;
	if (smpp_text_decode(enc, b, n, text, sizeof(text) - 1, &tl))
		tl = 0;
	text[tl] = '\0';
	if (G.trace)
		fprintf(stderr, "ussd_load: %s step %u <- [%s]\n", s->msisdn, s->step, text);
	if (G.sms) {
		bool ok = G.expect_reply && strstr(text, G.expect_reply);
		if (!ok) {
			if (measuring())
				G.mismatches++;
			G.total_mismatches++;
			if (!G.first_mismatch[0])
				snprintf(G.first_mismatch, sizeof(G.first_mismatch), "sms: [%s]", text);
		}
		s->got_reply = true;
		if (s->got_resp)
			step_done(s, ok, true);
		return;
	}
	const struct smpp_tlv *its = smpp_pdu_find_tlv(pdu, SMPP_TLV_ITS_SESSION_INFO);
	if (its && its->len == 2 && smpp_tlv_value(its)[0] != s->net_id) {
		G.unexpected++; /* a late answer to an abandoned session */
		if (G.trace)
			fprintf(stderr, "ussd_load: %s: answer for net id %u, current %u\n", s->msisdn,
				smpp_tlv_value(its)[0], s->net_id);
		return;
	}
	const struct step *st = &s->p->s[s->step];
	uint32_t op = 0xFF;
	smpp_pdu_tlv_uint(pdu, SMPP_TLV_USSD_SERVICE_OP, &op);
	bool ends = op == SMPP_USSD_PSSR_RESP;
	bool ok = strstr(text, st->expect) != NULL && ends == st->ends;
	if (!ok) {
		if (measuring())
			G.mismatches++;
		G.total_mismatches++;
		if (!G.first_mismatch[0] || G.trace) {
			snprintf(G.first_mismatch, sizeof(G.first_mismatch),
				 "%s step %u sent [%s] expected [%s]%s got [%s] op %u", s->p->name, s->step,
				 st->input, st->expect, st->ends ? " (end)" : "", text, op);
			if (G.trace)
				fprintf(stderr, "ussd_load: mismatch: %s\n", G.first_mismatch);
		}
	}
	/* The reply may overtake our read of deliver_sm_resp; the window counts the resp. */
	step_done(s, ok, ends || !ok || s->step + 1 >= s->p->n);
}

static void on_deliver_resp(struct conn *c, const struct smpp_pdu *pdu)
{
	if (c->outstanding)
		c->outstanding--;
	if (pdu->command_status != ESME_ROK) {
		if (measuring())
			G.resp_err++;
	}
	/* find the subscriber by sequence: scan is avoided by keeping seq -> sub small */
	struct sub *s = NULL;
	if (G.sms) {
		/* MO subscribers: match on the sequence number */
		for (unsigned i = 0; i < G.nsubs; i++)
			if (G.subs[i].waiting && G.subs[i].c == c && G.subs[i].seq == pdu->sequence_number) {
				s = &G.subs[i];
				break;
			}
		if (s) {
			if (measuring())
				hist_add(G.hist_resp, &G.hist_resp_n, now_ns() - s->t_sent);
			s->got_resp = true;
			if (pdu->command_status != ESME_ROK) {
				note_error(s, "deliver_sm_resp", smpp_status_name(pdu->command_status));
				step_done(s, false, true);
			} else if (!G.expect_reply || s->got_reply) {
				step_done(s, true, true);
			}
		}
	} else if (pdu->command_status != ESME_ROK) {
		for (unsigned i = 0; i < G.nsubs; i++)
			if (G.subs[i].waiting && G.subs[i].c == c && G.subs[i].seq == pdu->sequence_number) {
				note_error(&G.subs[i], "deliver_sm_resp",
					   smpp_status_name(pdu->command_status));
				step_done(&G.subs[i], false, true);
				break;
			}
	}
	conn_drain_queue(c);
}

static void on_pdu(struct conn *c, const uint8_t *buf, size_t len)
{
	static struct smpp_pdu pdu;
	if (smpp_decode(buf, len, NULL, &pdu)) {
		if (measuring())
			G.nacks++;
		if (pdu.header_valid && !smpp_is_resp(pdu.command_id)) {
			uint8_t out[64];
			size_t ol = 0;
			if (!smpp_encode_error(&pdu, pdu.error_status, out, sizeof(out), &ol) &&
			    c->wcap - c->wlen >= ol) {
				memcpy(c->wb + c->wlen, out, ol);
				c->wlen += ol;
			}
		}
		return;
	}
	switch (pdu.command_id) {
	case SMPP_BIND_TRANSCEIVER:
		send_resp(c, &pdu, c->bound ? ESME_RALYBND : ESME_ROK);
		if (!c->bound) {
			c->bound = true;
			G.nbound++;
			fprintf(stderr, "ussd_load: bind %u up (%.*s), %u bound\n", c->id,
				(int)pdu.system_id.len, pdu.system_id.ptr, G.nbound);
		}
		break;
	case SMPP_BIND_RECEIVER:
	case SMPP_BIND_TRANSMITTER:
		send_resp(c, &pdu, ESME_RBINDFAIL);
		break;
	case SMPP_ENQUIRE_LINK:
		send_resp(c, &pdu, ESME_ROK);
		break;
	case SMPP_UNBIND:
		send_resp(c, &pdu, ESME_ROK);
		conn_flush(c);
		conn_close(c, "unbind");
		break;
	case SMPP_SUBMIT_SM:
		on_submit(c, &pdu);
		break;
	case SMPP_DELIVER_SM_RESP:
		on_deliver_resp(c, &pdu);
		break;
	case SMPP_ENQUIRE_LINK_RESP:
		break;
	case SMPP_GENERIC_NACK:
		if (measuring())
			G.nacks++;
		break;
	default:
		if (!smpp_is_resp(pdu.command_id))
			send_resp(c, &pdu, ESME_RINVCMDID);
		break;
	}
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop, (void)revents;
	struct conn *c = w->data;
	for (;;) {
		ssize_t n = read(c->fd, c->rb + c->rlen, RBUF - c->rlen);
		if (n == 0) {
			conn_close(c, "peer closed");
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_close(c, strerror(errno));
			return;
		}
		c->rlen += (size_t)n;
		size_t off = 0;
		for (;;) {
			size_t fl = 0;
			enum smpp_frame_result fr =
				smpp_frame(c->rb + off, c->rlen - off, SMPP_DEFAULT_MAX_PDU_LEN, &fl);
			if (fr == SMPP_FRAME_NEED_MORE)
				break;
			if (fr == SMPP_FRAME_BAD) {
				conn_close(c, "bad frame");
				return;
			}
			on_pdu(c, c->rb + off, fl);
			if (c->dead)
				return;
			off += fl;
		}
		memmove(c->rb, c->rb + off, c->rlen - off);
		c->rlen -= off;
		if ((size_t)n < RBUF / 2)
			break;
	}
	conn_flush(c);
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop, (void)revents;
	conn_flush(w->data);
}

static void conn_close(struct conn *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = true;
	fprintf(stderr, "ussd_load: bind %u closed: %s\n", c->id, why);
	ev_io_stop(G.loop, &c->rio);
	ev_io_stop(G.loop, &c->wio);
	close(c->fd);
	if (c->bound)
		G.nbound--;
	c->bound = false;
	for (unsigned i = 0; i < G.nsubs; i++) {
		struct sub *s = &G.subs[i];
		if (s->c == c && (s->waiting || s->queued)) {
			s->waiting = s->queued = false;
			s->c = NULL;
			note_error(s, "bind lost", why);
			sub_new_session(s);
		}
	}
	c->q_head = c->q_tail = NULL;
	/* freed at exit; a closed bind is rare and the slot is reused by index only */
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)w, (void)revents;
	int fd = accept(G.lfd, NULL, NULL);
	if (fd < 0)
		return;
	if (G.nconns >= MAX_CONNS) {
		close(fd);
		return;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct conn *c = calloc(1, sizeof(*c));
	c->fd = fd;
	c->id = G.nconns;
	c->rb = malloc(RBUF);
	c->wcap = 64 * 1024;
	c->wb = malloc(c->wcap);
	c->next_seq = 1;
	ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	ev_io_start(loop, &c->rio);
	G.conns[G.nconns++] = c;
}

/* --- phases ------------------------------------------------------------------------- */

static void start_all(void)
{
	for (unsigned i = 0; i < G.nsubs; i++)
		sub_go(&G.subs[i]);
	for (unsigned i = 0; i < G.nconns; i++)
		if (G.conns[i] && !G.conns[i]->dead)
			conn_flush(G.conns[i]);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w, (void)revents;
	uint64_t t = now_ns();
	double el = (double)(t - G.t_phase) / 1e9;
	switch (G.phase) {
	case PH_WAIT_BIND:
		if (G.nbound >= G.binds && !G.hold) {
			fprintf(stderr, "ussd_load: %u binds up; warm-up %u s\n", G.nbound, G.warmup_s);
			G.phase = PH_WARMUP;
			G.t_phase = t;
			start_all();
		} else if (el > G.max_wait_bind_s) {
			fprintf(stderr, "ussd_load: only %u of %u binds after %u s\n", G.nbound, G.binds,
				G.max_wait_bind_s);
			G.phase = PH_DONE;
			ev_break(loop, EVBREAK_ALL);
		}
		break;
	case PH_WARMUP:
		if (el >= G.warmup_s) {
			G.phase = PH_MEASURE;
			G.t_phase = G.t_measure0 = t;
			printf("measuring\n");
			fflush(stdout);
		}
		break;
	case PH_MEASURE:
		if (el >= G.duration_s) {
			G.t_measure1 = t;
			G.phase = PH_DRAIN;
			G.t_phase = t;
			G.stop_sending = true;
			printf("measured\n");
			fflush(stdout);
		} else if ((uint64_t)(el * 10) % 50 == 0) {
			fprintf(stderr, "ussd_load: %.0f s: %" PRIu64 " steps, %" PRIu64
				" errors, %" PRIu64 " mismatches\n", el, G.steps, G.errors, G.mismatches);
		}
		break;
	case PH_DRAIN: {
		bool busy = false;
		for (unsigned i = 0; i < G.nsubs; i++)
			busy |= G.subs[i].waiting;
		if (!busy || el * 1000 >= G.drain_ms) {
			G.phase = PH_DONE;
			ev_break(loop, EVBREAK_ALL);
		}
		break;
	}
	case PH_DONE:
		ev_break(loop, EVBREAK_ALL);
		break;
	}
	/* timeouts */
	if (G.phase == PH_WARMUP || G.phase == PH_MEASURE) {
		uint64_t lim = (uint64_t)G.timeout_ms * 1000000ull;
		for (unsigned i = 0; i < G.nsubs; i++) {
			struct sub *s = &G.subs[i];
			if (s->waiting && t > s->t_sent && t - s->t_sent > lim) {
				if (measuring())
					G.timeouts++;
				note_error(s, "timeout", "no reply");
				if (s->c && s->c->outstanding && !s->got_resp && G.sms)
					s->c->outstanding--;
				s->waiting = false;
				sub_new_session(s);
				sub_go(s);
			}
		}
	}
	for (unsigned i = 0; i < G.nconns; i++)
		if (G.conns[i] && !G.conns[i]->dead)
			conn_flush(G.conns[i]);
}

/* --hold: the driver sends SIGUSR1 once it has taken its baselines. */
static void usr1_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	G.hold = false;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ussd_load [--port P] [--binds B] [--subscribers N] [--window W]\n"
		"  [--duration S] [--warmup S] [--timeout-ms MS] [--path bill-cancel|lang-airtime-nav|mix]\n"
		"  [--sms --keyword WORD --short-code CODE [--expect-reply TEXT]] [--msisdn-base N]\n"
		"  [--label TEXT] [--trace] [--hold (start on SIGUSR1)] [--max-wait-bind-s S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	G.port = 0;
	G.nsubs = 200;
	G.window = 64;
	G.binds = 1;
	G.duration_s = 60;
	G.warmup_s = 3;
	G.timeout_ms = 5000;
	G.drain_ms = 3000;
	G.max_wait_bind_s = 30;
	G.msisdn_base = 254710000000ull;
	G.keyword = "BAL";
	G.short_code = "384";
	G.path_sel = "mix";
	G.label = "";
	static const struct option lo[] = {
		{"port", 1, 0, 'p'},	    {"binds", 1, 0, 'b'},	  {"subscribers", 1, 0, 'n'},
		{"window", 1, 0, 'w'},	    {"duration", 1, 0, 'd'},	  {"warmup", 1, 0, 'W'},
		{"timeout-ms", 1, 0, 't'},  {"path", 1, 0, 'P'},	  {"sms", 0, 0, 's'},
		{"keyword", 1, 0, 'k'},	    {"expect-reply", 1, 0, 'r'},  {"short-code", 1, 0, 'c'},
		{"msisdn-base", 1, 0, 'm'}, {"label", 1, 0, 'l'},	  {"trace", 0, 0, 'T'},
		{"max-wait-bind-s", 1, 0, 'B'}, {"hold", 0, 0, 'H'}, {0, 0, 0, 0}};
	int o;
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'p': G.port = (unsigned)atoi(optarg); break;
		case 'b': G.binds = (unsigned)atoi(optarg); break;
		case 'n': G.nsubs = (unsigned)atoi(optarg); break;
		case 'w': G.window = (unsigned)atoi(optarg); break;
		case 'd': G.duration_s = (unsigned)atoi(optarg); break;
		case 'W': G.warmup_s = (unsigned)atoi(optarg); break;
		case 't': G.timeout_ms = (unsigned)atoi(optarg); break;
		case 'P': G.path_sel = optarg; break;
		case 's': G.sms = true; break;
		case 'k': G.keyword = optarg; break;
		case 'r': G.expect_reply = optarg; break;
		case 'c': G.short_code = optarg; break;
		case 'm': G.msisdn_base = strtoull(optarg, NULL, 10); break;
		case 'l': G.label = optarg; break;
		case 'T': G.trace = true; break;
		case 'B': G.max_wait_bind_s = (unsigned)atoi(optarg); break;
		case 'H': G.hold = true; break;
		default: usage();
		}
	}
	if (!G.nsubs || G.nsubs > 1000000 || !G.window || !G.binds || G.binds > MAX_CONNS ||
	    G.duration_s > 3600 || G.warmup_s > 600)
		usage();
	signal(SIGPIPE, SIG_IGN);
	G.hist = calloc(HIST_US, sizeof(uint32_t));
	G.hist_resp = calloc(HIST_US, sizeof(uint32_t));
	G.subs = calloc(G.nsubs, sizeof(struct sub));
	if (!G.hist || !G.hist_resp || !G.subs)
		return 1;
	for (unsigned i = 0; i < G.nsubs; i++) {
		struct sub *s = &G.subs[i];
		s->idx = i;
		snprintf(s->msisdn, sizeof(s->msisdn), "%" PRIu64, G.msisdn_base + i);
		if (!strcmp(G.path_sel, "mix"))
			s->p = &paths[i % N_PATHS];
		else {
			s->p = NULL;
			for (unsigned k = 0; k < N_PATHS; k++)
				if (!strcmp(paths[k].name, G.path_sel))
					s->p = &paths[k];
			if (!s->p)
				usage();
		}
		s->net_id = (uint8_t)(i * 7);
	}

	G.lfd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(G.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)G.port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(G.lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(G.lfd, 16)) {
		perror("ussd_load: listen");
		return 1;
	}
	socklen_t sl = sizeof(sa);
	getsockname(G.lfd, (struct sockaddr *)&sa, &sl);
	fcntl(G.lfd, F_SETFL, fcntl(G.lfd, F_GETFL) | O_NONBLOCK);
	printf("listening %u\n", ntohs(sa.sin_port));
	fflush(stdout);

	G.loop = ev_default_loop(0);
	ev_io_init(&G.lio, accept_cb, G.lfd, EV_READ);
	ev_io_start(G.loop, &G.lio);
	ev_signal_init(&G.usr1, usr1_cb, SIGUSR1);
	ev_signal_start(G.loop, &G.usr1);
	ev_timer_init(&G.tick, tick_cb, 0.1, 0.1);
	ev_timer_start(G.loop, &G.tick);
	G.phase = PH_WAIT_BIND;
	G.t_phase = now_ns();
	ev_run(G.loop, 0);

	double secs = G.t_measure1 > G.t_measure0 ? (double)(G.t_measure1 - G.t_measure0) / 1e9 : 0;
	double sps = secs > 0 ? (double)G.steps / secs : 0;
	double ses = secs > 0 ? (double)G.sessions / secs : 0;
	double p50 = hist_q(G.hist, G.hist_n, 0.50), p95 = hist_q(G.hist, G.hist_n, 0.95),
	       p99 = hist_q(G.hist, G.hist_n, 0.99), p999 = hist_q(G.hist, G.hist_n, 0.999);
	double mx = (double)G.lat_max_ns / 1e6;
	double mean = G.hist_n ? (double)G.lat_sum_ns / (double)G.hist_n / 1e6 : 0;
	double r50 = hist_q(G.hist_resp, G.hist_resp_n, 0.50),
	       r99 = hist_q(G.hist_resp, G.hist_resp_n, 0.99);
	uint64_t errs = G.errors + G.nacks; /* errors counts timeouts and error resps */
	const char *mode = G.sms ? "sms" : "ussd";
	printf("mode %s path %s subscribers %u binds %u window %u: %.1f s measured\n", mode,
	       G.sms ? G.keyword : G.path_sel, G.nsubs, G.binds, G.window, secs);
	printf("  %s/s %.0f, sessions/s %.0f (%" PRIu64 " %s, %" PRIu64 " sessions)\n",
	       G.sms ? "round trips" : "steps", sps, ses, G.steps, G.sms ? "round trips" : "steps",
	       G.sessions);
	printf("  latency ms: p50 %.3f p95 %.3f p99 %.3f p99.9 %.3f max %.3f mean %.3f\n", p50, p95,
	       p99, p999, mx, mean);
	if (G.sms)
		printf("  deliver_sm_resp ms: p50 %.3f p99 %.3f\n", r50, r99);
	printf("  errors %" PRIu64 " (timeouts %" PRIu64 ", error resps %" PRIu64 ", nacks %" PRIu64
	       "), mismatches %" PRIu64 ", unexpected %" PRIu64 "\n",
	       errs, G.timeouts, G.resp_err, G.nacks, G.mismatches, G.unexpected);
	if (G.first_mismatch[0])
		printf("  first mismatch: %s\n", G.first_mismatch);
	printf("{\"tool\":\"ussd_load\",\"label\":\"%s\",\"mode\":\"%s\",\"path\":\"%s\","
	       "\"subscribers\":%u,\"binds\":%u,\"window\":%u,\"seconds\":%.2f,\"steps\":%" PRIu64
	       ",\"steps_per_s\":%.1f,\"sessions\":%" PRIu64 ",\"sessions_per_s\":%.1f,"
	       "\"lat_ms\":{\"p50\":%.3f,\"p95\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,"
	       "\"mean\":%.3f},\"resp_ms\":{\"p50\":%.3f,\"p99\":%.3f},\"errors\":%" PRIu64
	       ",\"timeouts\":%" PRIu64 ",\"error_resps\":%" PRIu64 ",\"nacks\":%" PRIu64
	       ",\"mismatches\":%" PRIu64 ",\"unexpected\":%" PRIu64 "}\n",
	       G.label, mode, G.sms ? G.keyword : G.path_sel, G.nsubs, G.binds, G.window, secs,
	       G.steps, sps, G.sessions, ses, p50, p95, p99, p999, mx, mean, r50, r99, errs,
	       G.timeouts, G.resp_err, G.nacks, G.mismatches, G.unexpected);
	fflush(stdout);
	bool bad = G.phase != PH_DONE || secs == 0;
	return bad ? 1 : 0;
}
