/** @file
 * ussd/: the USSD session store in Redis.
 *
 * One record per subscriber of a link, key `ussd:{LINK:MSISDN}:s` (hash-tagged,
 * so Redis Cluster keeps it on one slot): a hash with `gen` (a step counter)
 * and `rec` (the record as JSON: gateway session id, network session id,
 * service code, menu id and version, the menu state, the last request's
 * fingerprint and the answer given to it). The network keeps one USSD dialog
 * per subscriber, so a new dial replaces the record: one live session per
 * subscriber and service.
 *
 * Saves are compare-and-set on `gen` by a Lua script (EVAL): the save that
 * expected the generation it loaded wins, any other gets GW_ECONFLICT, so two
 * nodes (or two deliveries on one node) can never both apply one step. The
 * loser reloads and finds the winner's fingerprint and answer, which it
 * returns without advancing.
 *
 * The record's TTL (set on every save) covers the idle limit plus the resume
 * window; whether a session is still live is decided from its timestamps.
 *
 * A PIN never reaches a record: the menu state holds none (menu.h), and the
 * answer text is the rendered screen, which never shows one.
 *
 * Ownership: records are owned by the caller (ussd_session_rec_clear()).
 * Callbacks run exactly once, on the loop, never inside the submitting call.
 */
#ifndef USSDGW_USSD_SESSION_H
#define USSDGW_USSD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_redis;

/** One session record. */
struct ussd_session_rec {
	uint64_t gen;        /**< generation it was loaded at (0 = no record) */
	char sid[37];        /**< gateway session id (UUID v4) */
	char net[12];        /**< network session id, "" when the dialect has none */
	char svc[41];        /**< service code dialled ("*384#") */
	char menu[64];       /**< menu id */
	char ver[17];        /**< menu version the session runs on */
	char *state;         /**< menu state JSON (malloc'd), NULL when none */
	char fp[33];         /**< fingerprint of the last request handled */
	uint32_t smpp_seq;   /**< its SMPP sequence number */
	int64_t in_ms;       /**< when it arrived */
	char *ans;           /**< answer given to it (malloc'd UTF-8), NULL when none */
	bool ans_end;        /**< that answer ended the session */
	char screen[64];     /**< screen id of that answer */
	bool ended;          /**< the session is over */
	char reason[16];     /**< end reason: user app network timeout error overload lockout */
	int64_t t0_ms;       /**< session start */
	int64_t last_ms;     /**< last step */
	uint32_t steps;      /**< steps served */
};

void ussd_session_rec_clear(struct ussd_session_rec *r);
/** Deep copy into @p dst (overwritten). @return 0 or GW_ENOMEM. */
int ussd_session_rec_copy(struct ussd_session_rec *dst, const struct ussd_session_rec *src);
/** JSON of the record (without gen), malloc'd. */
char *ussd_session_rec_to_json(const struct ussd_session_rec *r);
/** Parse a record. @return 0 or GW_EINVAL. */
int ussd_session_rec_from_json(const char *buf, size_t len, struct ussd_session_rec *out);

/** The Redis key of a subscriber's session (writes at most @p cap bytes). */
void ussd_session_key(const char *link, const char *msisdn, char *out, size_t cap);

/** Load: @p rec is NULL when there is none; owned by the store, valid during the callback. */
typedef void (*ussd_session_load_cb)(void *cls, int err, const struct ussd_session_rec *rec);
/** @return 0 (callback follows) or the store's error (no callback). */
int ussd_session_load(struct store_redis *r, const char *link, const char *msisdn, int timeout_ms,
		      ussd_session_load_cb cb, void *cls);

/** Save result: 0, GW_ECONFLICT (someone saved since @p expect_gen), or a store error. */
typedef void (*ussd_session_save_cb)(void *cls, int err, uint64_t new_gen);
/**
 * Compare-and-set: write @p rec as generation @p expect_gen + 1 if the stored
 * generation is still @p expect_gen (0: no record), with a TTL of @p ttl_ms.
 * @return 0 (callback follows) or the store's error (no callback).
 */
int ussd_session_save(struct store_redis *r, const char *link, const char *msisdn,
		      const struct ussd_session_rec *rec, uint64_t expect_gen, int ttl_ms,
		      int timeout_ms, ussd_session_save_cb cb, void *cls);

#endif
