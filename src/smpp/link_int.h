/* Internal structures shared by the SMPP client modules (bind.c, link.c, mtq.c, reassembly.c). */
#ifndef USSDGW_SMPP_LINK_INT_H
#define USSDGW_SMPP_LINK_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "ussdgw/smpp_conn.h"
#include "ussdgw/smpp_link.h"
#include "ussdgw/smpp_pdu.h"
#include "ussdgw/smpp_window.h"

struct metric;
struct store_redis;
struct smpp_link;

/* Bind FSM states (table in bind.c). */
enum smpp_bind_state {
	SB_CLOSED,	  /* not started, or stopped for good */
	SB_CONNECTING,	  /* TCP connect in progress */
	SB_TLS_HANDSHAKE, /* TLS handshake in progress */
	SB_BINDING,	  /* bind_* sent, waiting for the response */
	SB_BOUND,	  /* traffic flows */
	SB_DRAINING,	  /* bound, no new work, waiting for the window to empty */
	SB_UNBINDING,	  /* unbind sent, waiting for unbind_resp */
	SB_BACKOFF,	  /* waiting to reconnect */
	SB_STATE_COUNT
};

enum smpp_bind_event {
	SBE_START,
	SBE_TCP_UP,
	SBE_TLS_UP,
	SBE_BIND_OK,
	SBE_BIND_REFUSED,
	SBE_IO_DOWN,
	SBE_TIMEOUT,
	SBE_DRAIN,
	SBE_WINDOW_EMPTY,
	SBE_UNBIND_RESP,
	SBE_PEER_UNBIND,
	SBE_STOP,
	SB_EVENT_COUNT
};

const char *smpp_bind_state_name(enum smpp_bind_state s);
const char *smpp_bind_event_name(enum smpp_bind_event e);

/* What a window slot carries. */
enum smpp_req_kind { REQ_BIND, REQ_ENQUIRE, REQ_UNBIND, REQ_SUBMIT_USER, REQ_SUBMIT_MT };

struct smpp_req {
	enum smpp_req_kind kind;
	void *owner;   /* user submit: struct user_submit; MT: struct mt_entry */
	unsigned part; /* MT part index */
};

struct smpp_bind {
	struct smpp_link *link;
	char name[80];
	const char *host;
	int port;
	unsigned index;
	enum smpp_bind_state state;
	struct smpp_conn *conn;
	uint64_t epoch; /* bumped on each new connection (MO reply handles check it) */
	uint32_t next_seq;
	struct smpp_window win;
	ev_timer state_timer; /* state timeout (connect, bind, unbind, backoff) */
	ev_timer req_timer;   /* next request deadline */
	ev_timer idle_timer;  /* enquire_link on idleness */
	ev_timer send_timer;  /* window / tps / pause reopens */
	double last_rx;
	unsigned backoff_ms;
	unsigned mo_outstanding; /* MO handed up, not answered yet */
	bool enquire_out;
	/* metrics */
	struct metric *m_state, *m_window, *m_throttles, *m_rtt, *m_transitions;
};

struct smpp_link {
	struct smpp_links *links;
	char name[64];
	json_t *cfg; /* borrowed link object */
	char system_id[16], password[9], system_type[13], address_range[41];
	uint32_t bind_cmd;
	uint8_t addr_ton, addr_npi;
	SSL_CTX *tls;
	char tls_name[256];
	unsigned window, tps, enquire_s, resp_timeout_ms, connect_timeout_ms;
	unsigned reconnect_min_ms, reconnect_max_ms, throttle_pause_ms, unbind_timeout_ms;
	uint32_t max_pdu_len;
	unsigned nbinds;
	struct smpp_bind *binds;
	unsigned rr; /* round robin over binds */
	/* MT queue consumer (link.c) */
	struct mt_entry *ready_head, *ready_tail; /* waiting for a bind */
	unsigned ready_count, inmem_count;
	struct mt_entry *all; /* every entry held in memory */
	bool reading;	      /* an XREADGROUP is out */
	bool read_own_pel;    /* our consumer's pending entries re-read */
	ev_timer poll_timer;
	ev_timer claim_timer;
	char consumer[160];
};

struct smpp_links {
	struct ev_loop *loop;
	json_t *cfg;
	struct store_redis *redis; /* borrowed */
	const char *node_id;
	struct smpp_link *links;
	unsigned nlinks;
	smpp_mo_handler mo_fn;
	void *mo_cls;
	smpp_mo_filter mo_filter;
	void *mo_filter_cls;
	smpp_mt_failed_hook mt_failed;
	void *mt_failed_cls;
	smpp_receipt_hook receipt_hook;
	void *receipt_cls;
	bool draining;
	void (*drain_done)(void *cls);
	void *drain_cls;
	ev_timer drain_timer;
	struct metric *m_pdu_in_unknown;
};

/* bind.c */
int smpp_bind_init(struct smpp_bind *b, struct smpp_link *l, unsigned index, const char *host,
		   int port);
void smpp_bind_start(struct smpp_bind *b);
void smpp_bind_drain(struct smpp_bind *b);
void smpp_bind_stop(struct smpp_bind *b);
void smpp_bind_cleanup(struct smpp_bind *b);
bool smpp_bind_can_submit(struct smpp_bind *b);
/* Send a request; the window slot remembers @p req. @return 0 or GW_E*. */
int smpp_bind_request(struct smpp_bind *b, struct smpp_pdu *pdu, double deadline,
		      struct smpp_req *req, bool take_token);
/* Send a response PDU (no window). */
int smpp_bind_respond(struct smpp_bind *b, const struct smpp_pdu *resp);
/* Re-arm the timer that wakes the sender when the window / bucket reopens. */
void smpp_bind_schedule_send(struct smpp_bind *b);

/* link.c: called by bind.c */
void smpp_link_bind_up(struct smpp_bind *b);
void smpp_link_bind_down(struct smpp_bind *b);
void smpp_link_can_send(struct smpp_bind *b);
/* A response (or a timeout / drop when @p err) for a request of kind SUBMIT_*. */
void smpp_link_on_resp(struct smpp_bind *b, struct smpp_req *req, int err,
		       const struct smpp_pdu *resp, double rtt);
/* deliver_sm / data_sm from the SMSC; @p frame holds the raw PDU. */
void smpp_link_on_deliver(struct smpp_bind *b, const struct smpp_pdu *pdu, const uint8_t *frame,
			  size_t len);
void smpp_link_check_drained(struct smpp_links *ls);

#endif
