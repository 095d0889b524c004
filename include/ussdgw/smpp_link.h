/** @file
 * SMPP client links: the contract between the SMPP layer and the USSD / SMS
 * layers above it (DESIGN.md, "SMPP to USSD/SMS").
 *
 * A link (config `links[]`) is one operator connection with one or more binds,
 * each bind a TCP/TLS session on which ussdgw is the ESME. Inbound PDUs that
 * carry traffic (deliver_sm, data_sm; not receipts, which the link layer matches
 * itself) are handed up with the link name and a reply handle. The handler
 * answers each exactly once with smpp_mo_respond(): ESME_ROK once the step is
 * journaled, ESME_RX_T_APPN when it could not be made durable (the SMSC then
 * redelivers). Responding after the bind dropped is allowed and does nothing
 * on the wire (the SMSC will redeliver on the next bind).
 *
 * Outbound:
 *  - smpp_links_submit(): a session-bound reply (USSD continue/end) sent at once
 *    on a bound bind of the link, preferring the bind the request came in on;
 *    fails fast (callback with an error) when no bind of the link is up on this
 *    node or the window stays full past the deadline. Not queued in Redis: a
 *    USSD reply that cannot leave within the answer budget is worthless.
 *  - MT SMS go through the durable MT queue in Redis (smpp_mtq.h), filled by the
 *    MT egress point and drained by whichever node has a bind of the link up.
 */
#ifndef USSDGW_SMPP_LINK_H
#define USSDGW_SMPP_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>
#include <jansson.h>

#include "ussdgw/daemon.h"
#include "ussdgw/smpp_pdu.h"

struct smpp_links;
struct smpp_mo;
struct crypto_keyring;
struct store_redis;

/** Inbound traffic handler. The PDU and its strings stay valid until smpp_mo_respond(). */
typedef void (*smpp_mo_handler)(struct smpp_mo *mo, void *cls);

/** The decoded PDU (owned by @p mo; valid until smpp_mo_respond()). */
const struct smpp_pdu *smpp_mo_pdu(const struct smpp_mo *mo);
/** Link name ("mno1"), bind name ("mno1/0"), and the link's config object (borrowed). */
const char *smpp_mo_link(const struct smpp_mo *mo);
const char *smpp_mo_bind(const struct smpp_mo *mo);
json_t *smpp_mo_link_config(const struct smpp_mo *mo);
/** Monotonic time (ev_now) at which the PDU was read: the start of the answer budget. */
double smpp_mo_received_at(const struct smpp_mo *mo);
/** True when the bind this came in on is still bound. */
bool smpp_mo_bind_alive(const struct smpp_mo *mo);
/** Number of SMS parts this MO was reassembled from (1 for a single PDU). A reassembled
 *  MO carries the joined text in short_message (sm_length may exceed 254), UDHI cleared. */
unsigned smpp_mo_parts(const struct smpp_mo *mo);
/** Answer with deliver_sm_resp / data_sm_resp carrying @p status, then free @p mo. Exactly once. */
void smpp_mo_respond(struct smpp_mo *mo, uint32_t status);

/** Result of a submit: @p status is the SMSC's command_status (0 = accepted) or, when
 *  @p err is non-zero, the request never got an answer (no bind, timeout, dropped). */
struct smpp_submit_result {
	int err;	     /**< 0, GW_ETIMEDOUT_PEER, GW_EAGAIN (no bind up), GW_ESHUTDOWN... */
	uint32_t status;     /**< command_status of the response when err == 0 */
	char message_id[66]; /**< normalised message id from the response, "" if none */
	const char *bind;    /**< bind that carried it (static storage of the link) */
};
typedef void (*smpp_submit_cb)(void *cls, const struct smpp_submit_result *res);

/**
 * Send @p pdu (submit_sm or data_sm; sequence number assigned here) on a bound
 * bind of @p link, preferring @p prefer_bind when it is up. @p cb runs exactly once.
 * @p deadline is absolute ev_now() time; the request fails with GW_ETIMEDOUT_PEER when
 * no response arrives by then.
 * @return 0 (callback will run) or GW_ENOENT (no such link) / GW_EAGAIN (no bind up:
 *  callback will not run).
 */
int smpp_links_submit(struct smpp_links *links, const char *link, const char *prefer_bind,
		      const struct smpp_pdu *pdu, double deadline, smpp_submit_cb cb, void *cls);

/** What the links need from the node. All borrowed; they must outlive the links. */
struct smpp_links_opts {
	const struct crypto_keyring *keys; /**< for TLS contexts (NULL: no TLS link allowed) */
	struct store_redis *redis; /**< MT queue, receipts, reassembly (NULL: none of them) */
	const char *node_id;	   /**< consumer name in the MT queue groups */
};

/** Create the links of config `links[]` on @p loop (they connect when started).
 *  @p links_cfg is borrowed (the loaded config outlives the links). */
int smpp_links_new(struct ev_loop *loop, json_t *links_cfg, const struct smpp_links_opts *opts,
		   struct smpp_links **out);
void smpp_links_set_mo_handler(struct smpp_links *links, smpp_mo_handler fn, void *cls);

/** A filter that sees every MO (not receipts) before the handler; it returns true when it
 *  took @p mo (and so answers it with smpp_mo_respond() itself). Used by the SMPP server to
 *  deliver MO for its accounts' addresses. */
typedef bool (*smpp_mo_filter)(struct smpp_mo *mo, void *cls);
void smpp_links_set_mo_filter(struct smpp_links *links, smpp_mo_filter fn, void *cls);

struct smpp_mtq_entry;
struct smpp_dlr;
/** Continue finishing a failed MT; @p rerouted: it was queued on another link. */
typedef void (*smpp_mt_failed_done)(void *done_cls, bool rerouted);
/**
 * Called when an MT fails for good on @p link with @p status, before the queue entry is
 * finished (so a failover enqueue is durable before the original is dropped). Return true
 * to take it: then call @p done exactly once (on the loop, never from inside the hook).
 */
typedef bool (*smpp_mt_failed_hook)(void *cls, const char *link, const struct smpp_mtq_entry *e,
				    uint32_t status, smpp_mt_failed_done done, void *done_cls);
void smpp_links_set_mt_failed_hook(struct smpp_links *links, smpp_mt_failed_hook fn, void *cls);
/** Called after a receipt was matched to the MT @p mt_id of @p link (not for parked ones). */
typedef void (*smpp_receipt_hook)(void *cls, const char *link, const char *mt_id,
				  const struct smpp_dlr *d);
void smpp_links_set_receipt_hook(struct smpp_links *links, smpp_receipt_hook fn, void *cls);
int smpp_links_start(struct smpp_links *links);
/** Graceful: stop taking new work, drain windows, unbind, close; @p done runs once. */
void smpp_links_drain(struct smpp_links *links, void (*done)(void *cls), void *cls);
void smpp_links_free(struct smpp_links *links);
/** Number of binds currently bound (all links). */
unsigned smpp_links_bound(const struct smpp_links *links);
/** The Redis store the links use (borrowed), or NULL. */
struct store_redis *smpp_links_redis(const struct smpp_links *links);

/** The daemon service "smpp-links": links[] of the config, with its own Redis connection
 *  (redis.*). Health part "smpp-binds" (DEGRADES) is down while no bind is bound. */
extern const struct gw_service smpp_links_service;
/** The links of the running service (its state from daemon_service_state("smpp-links")). */
struct smpp_links *smpp_links_of_service(void *state);

#endif
