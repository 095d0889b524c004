/** @file
 * Consent (STOP / STOPALL / START): the live view in Redis that the MT egress
 * point reads (sms_egress.h), and the ledger in PostgreSQL.
 *
 * sms_consent_change() makes one atomic Redis script call that
 *  - updates the live view `ussdgw:consent:{TOKEN}` (stop: SERVICE -> "1";
 *    stopall: "*" -> "1"; start: SERVICE and "*" removed), and
 *  - appends the change, with a fresh event id, to the outbox list
 *    `ussdgw:consent:outbox`.
 * Its callback reports success only once Redis answered, so a caller (the STOP's
 * deliver_sm_resp) acknowledges only a change every node already honours, with
 * or without PostgreSQL.
 *
 * A drainer on every node copies the outbox into PostgreSQL (consent_record()
 * in sql/0004-consent.sql, idempotent by event id) and removes each entry after
 * its commit (LREM of that exact entry, so two nodes draining at once lose
 * nothing and a replay is a no-op). While PostgreSQL is away the outbox grows
 * and drains when it returns; an entry the database refuses outright (a failed
 * check) moves to `ussdgw:consent:outbox-refused` for review. Metric: ussdgw_sms_consent_outbox
 * (gauge, entries seen at the last drain), ussdgw_sms_consent_ledger_total{outcome}.
 *
 * The outbox and the views are separate Redis keys touched by one script: this
 * needs a single Redis (or the keys in one cluster slot), as the MT queue does today.
 *
 * Ownership: borrows the loop, stores and key ring; strings are copied.
 */
#ifndef USSDGW_SMS_CONSENT_H
#define USSDGW_SMS_CONSENT_H

#include <ev.h>

struct store_redis;
struct store_pg;
struct crypto_keyring;
struct sms_consent;

enum sms_consent_action { SMS_CONSENT_STOP, SMS_CONSENT_STOPALL, SMS_CONSENT_START };
/** "stop", "stopall", "start". */
const char *sms_consent_action_name(enum sms_consent_action a);

/** One change, as the keyword router (or later the API) reports it. Strings are borrowed. */
struct sms_consent_change {
	const char *msisdn;  /**< canonical E.164 */
	const char *service; /**< consent service ([A-Za-z0-9_-]) */
	enum sms_consent_action action;
	const char *channel;   /**< "sms", "ussd", "api", "operator" */
	const char *shortcode; /**< or NULL */
	const char *keyword;   /**< what the subscriber sent (normalised), or NULL */
	const char *link;      /**< or NULL */
	const char *answered;  /**< the text answered, or NULL */
};

/** @p err 0 once the live view and the outbox are written; @p event_id valid during the call. */
typedef void (*sms_consent_cb)(void *cls, int err, const char *event_id);

/**
 * @param pg the ledger's store, or NULL (then the outbox is only filled)
 * @param flush_ms how often the outbox is drained
 */
int sms_consent_new(struct ev_loop *loop, struct store_redis *redis, struct store_pg *pg,
		    const struct crypto_keyring *keys, const char *node_id, unsigned flush_ms,
		    struct sms_consent **out);
void sms_consent_free(struct sms_consent *c);

/** Record a change (see the file comment). @return 0 (callback follows, never from inside),
 *  GW_EINVAL, GW_ENOMEM. */
int sms_consent_change(struct sms_consent *c, const struct sms_consent_change *ch,
		       sms_consent_cb cb, void *cls);

/** Drain the outbox now (tests, shutdown). */
void sms_consent_flush(struct sms_consent *c);

#endif
