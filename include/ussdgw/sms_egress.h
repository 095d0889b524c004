/** @file
 * THE single MT egress point (DESIGN: "Message classes and consent"). Every MT
 * SMS — from the REST API, menus, SMPP server accounts — passes through
 * sms_egress_submit(), which
 *  1. checks consent for the message class: `promotional` is refused when the
 *     recipient opted out of the service (or of everything); `reply` and
 *     `transactional` pass, and a pass over an opt-out is counted;
 *  2. routes by the config's routes[] table: the longest prefix of the E.164
 *     destination wins; its links are tried in order;
 *  3. enqueues the MT durably into the link's MT queue in Redis (smpp_mtq.h)
 *     before the callback reports success, so a caller acknowledges only what
 *     is in the queue.
 * After a link failed an MT for good, sms_egress_failover() re-queues it on the
 * next link of its route when the failure's class is listed in the route's
 * failover_on (see the links hook smpp_mt_failed_hook).
 *
 * Consent view in Redis (written by the keyword/STOP handling before its
 * deliver_sm_resp; read here):
 *
 *   ussdgw:consent:{TOKEN}   hash   SERVICE -> "1" opted out, "0" (or absent) not
 *                                   "*"     -> "1" opted out of everything (STOPALL)
 *
 * TOKEN is crypto_msisdn_token() of the canonical E.164 MSISDN (hex), so the key
 * holds no number in clear. SERVICE is the MT's service name (an SMPP account's
 * name, a keyword service), "default" when none is given.
 *
 * Metrics: ussdgw_sms_egress_total{class, outcome} (outcome: queued, opted_out,
 * no_route, overload, error) and ussdgw_sms_consent_override_total{class}.
 *
 * Ownership: the egress borrows the Redis store, key ring and config; strings of
 * a submitted MT are copied before sms_egress_submit() returns. Callbacks run
 * exactly once, on the loop, never from inside the call.
 */
#ifndef USSDGW_SMS_EGRESS_H
#define USSDGW_SMS_EGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct store_redis;
struct crypto_keyring;
struct smpp_mtq_entry;

/** Message class (DESIGN). */
enum sms_class {
	SMS_CLASS_REPLY = 0,
	SMS_CLASS_TRANSACTIONAL = 1,
	SMS_CLASS_PROMOTIONAL = 2,
};

/** "reply", "transactional", "promotional". */
const char *sms_class_name(enum sms_class c);
/** @return 0 and the class, or GW_EINVAL. */
int sms_class_parse(const char *s, enum sms_class *out);

/** The SMPP status for "refused: the recipient opted out" (vendor range, documented in
 *  the README; SMPP 3.4 has no standard code for it). */
#define SMS_EGRESS_STATUS_OPTED_OUT 0x00000401u

/** An MT as callers hand it over. Strings are borrowed for the call. */
struct sms_mt {
	const char *mt_id; /**< NULL: a UUID v4 is made */
	const char *to;	   /**< E.164 digits */
	const char *from;
	const char *text; /**< UTF-8 */
	uint8_t src_ton, src_npi, dst_ton, dst_npi;
	enum sms_class cls;
	const char *service;	 /**< consent service; NULL = "default" */
	const char *account;	 /**< SMPP server account that submitted it, or NULL */
	int registered_delivery; /**< -1 = the link's default */
};

/** Outcome of one submit. */
struct sms_egress_result {
	int err;	      /**< 0 queued; GW_EACCES opted out; GW_ENOENT no route;
			       *   GW_EOVERLOAD every queue full; GW_EDEPENDENCY Redis */
	uint32_t smpp_status; /**< the status an SMPP server answers with (0 on success) */
	const char *mt_id;    /**< the MT id (valid during the callback) */
	const char *link;     /**< the link it was queued on, or NULL */
};

typedef void (*sms_egress_cb)(void *cls, const struct sms_egress_result *res);

struct sms_egress;

/**
 * @param routes config routes[] (borrowed; each { prefix, links[], failover_on })
 * @param links_cfg config links[] (borrowed; for mt_queue_max per link)
 */
int sms_egress_new(struct store_redis *redis, const struct crypto_keyring *keys, json_t *routes,
		   json_t *links_cfg, struct sms_egress **out);
void sms_egress_free(struct sms_egress *eg);

/** Submit an MT (see the file comment). @return 0 (callback follows), GW_EINVAL, GW_ENOMEM. */
int sms_egress_submit(struct sms_egress *eg, const struct sms_mt *mt, sms_egress_cb cb, void *cls);

/** The error class of an SMPP status as routes[].failover_on names it:
 *  "throttled" (0x58, 0x14), "temporary" (system errors, no answer), "address"
 *  (invalid source or destination), "permanent" (everything else). */
const char *sms_egress_error_class(uint32_t status);

/**
 * Re-queue a failed MT on the next link of its route, when the route's failover_on
 * lists the failure's class. @p done runs exactly once (never from inside the call)
 * with rerouted true when the MT is queued on another link.
 * @return true when @p done will run; false when there is nothing to fail over to.
 */
bool sms_egress_failover(struct sms_egress *eg, const char *link, const struct smpp_mtq_entry *e,
			 uint32_t status, void (*done)(void *cls, bool rerouted), void *cls);

#endif
