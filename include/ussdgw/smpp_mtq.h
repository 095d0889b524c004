/** @file
 * The durable MT queue in Redis (DESIGN: an MT accepted is in Redis before the
 * response). One stream per link, ussdgw:mtq:{LINK}, with one consumer group
 * ("ussdgw"); each node consumes as NODE_ID (one consumer per node and link), so
 * an entry read by a node stays in that consumer's pending list until the SMSC
 * accepted it (submit_sm_resp ESME_ROK for every part) or it failed for good;
 * only then is it acknowledged (XACK) and deleted. Entries of a node or bind
 * that died are taken over by XAUTOCLAIM after links[].mt_claim_idle_ms.
 *
 * Per MT, the hash ussdgw:mt:{LINK}:MTID records its life: state (queued,
 * submitted, failed), status, smsc_ids, attempts (times it went out, from any node), and later the
 * receipt (smpp_dlr.h). Its TTL is links[].dlr_ttl_s.
 *
 * The queue is bounded: enqueue refuses (GW_EOVERLOAD) when the stream holds
 * links[].mt_queue_max entries. Durability is Redis's (AOF; the dev stack uses
 * appendfsync everysec).
 *
 * Callbacks run exactly once, on the loop, never from inside the call.
 */
#ifndef USSDGW_SMPP_MTQ_H
#define USSDGW_SMPP_MTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_redis;

/** An MT SMS as the MT egress point hands it over. Strings are borrowed for the call. */
struct smpp_mt {
	const char *mt_id; /**< per-MT id for receipts and status; NULL = a UUID v4 is made */
	const char *to;	   /**< E.164 digits */
	const char *from;  /**< sender: short code, alphanumeric or number */
	const char *text;  /**< UTF-8; split per the link's concat setting */
	uint8_t src_ton, src_npi, dst_ton, dst_npi;
	const char
	    *msg_class; /**< "reply", "transactional", "promotional" (NULL = transactional) */
	int registered_delivery; /**< -1 = the link's default */
	const char *account; /**< submitting SMPP server account (receipts go back to it), or NULL */
	const char *route;   /**< links still to try on failover, comma-separated, or NULL */
};

typedef void (*smpp_mtq_cb)(void *cls, int err, const char *mt_id);

/**
 * Append @p mt to the queue of @p link. @p cb gets err 0 and the MT id once the
 * entry is in Redis, GW_EOVERLOAD when the queue is full, GW_EDEPENDENCY /
 * GW_ETIMEDOUT when Redis did not take it.
 * @return 0 (callback follows), GW_EINVAL (missing fields), GW_ENOMEM.
 */
int smpp_mtq_enqueue(struct store_redis *r, const char *link, const struct smpp_mt *mt,
		     unsigned max_len, smpp_mtq_cb cb, void *cls);

/* --- the consumer side, used by the links --------------------------------------------- */

/** One queued MT, copied out of the Redis reply. */
struct smpp_mtq_entry {
	char stream_id[48];
	char mt_id[64];
	char to[24], from[24];
	char *text; /**< malloc'd UTF-8 */
	uint8_t src_ton, src_npi, dst_ton, dst_npi;
	char msg_class[16];
	int registered_delivery;
	char account[32]; /**< "" when the MT did not come from an SMPP account */
	char route[256];  /**< failover links left, comma-separated ("" none) */
	bool deleted; /**< the entry vanished (acknowledged elsewhere): ack and forget */
};

/** Entries read; @p e is an array of @p n owned by the callee (copy what you keep, or steal
 *  the text pointers and set them NULL). */
typedef void (*smpp_mtq_read_cb)(void *cls, int err, struct smpp_mtq_entry *e, size_t n);

/** XGROUP CREATE ... MKSTREAM (an existing group is fine). */
int smpp_mtq_prepare(struct store_redis *r, const char *link, smpp_mtq_cb cb, void *cls);
/** Read up to @p count new entries (@p own_pending: this consumer's pending ones instead). */
int smpp_mtq_read(struct store_redis *r, const char *link, const char *consumer, unsigned count,
		  bool own_pending, smpp_mtq_read_cb cb, void *cls);
/** Take over entries pending longer than @p min_idle_ms with any consumer. */
int smpp_mtq_autoclaim(struct store_redis *r, const char *link, const char *consumer,
		       unsigned min_idle_ms, unsigned count, smpp_mtq_read_cb cb, void *cls);
/** Before each send of an entry: reset its idle time (so no other node claims it while we
 *  hold it) and count the send in the MT hash ("attempts", kept across nodes and restarts). */
int smpp_mtq_touch(struct store_redis *r, const char *link, const char *consumer,
		   const char *stream_id, const char *mt_id);
/**
 * Finish an entry: record @p state ("submitted" / "failed") with @p status and the SMSC
 * ids, then XACK and XDEL it, in one script. @p cb may be NULL.
 */
int smpp_mtq_finish(struct store_redis *r, const char *link, const char *stream_id,
		    const char *mt_id, const char *state, uint32_t status, const char *smsc_ids,
		    unsigned attempts, unsigned ttl_s, smpp_mtq_cb cb, void *cls);
void smpp_mtq_entry_clear(struct smpp_mtq_entry *e);

#endif
