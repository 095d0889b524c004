/** @file
 * The payment state machine in PostgreSQL: one function per database
 * operation (prepared statements on store_pg, each one statement calling a
 * function of sql/0003-payments.sql, so each is atomic on its own).
 *
 * Every operation returns 0 when the statement was accepted, and then its
 * callback runs exactly once, never from inside the call, with err 0 or a
 * GW_E* code (GW_EDEPENDENCY / GW_ETIMEDOUT / GW_EAGAIN / GW_ECONFLICT:
 * transient, the caller may run the step again; others: hard). Strings handed
 * to callbacks are valid during the callback only. Nothing is retried here:
 * PostgreSQL holds the truth, and the reconciliation sweep re-drives a payment
 * whose step did not land.
 *
 * Times passed to the database come from gw_now_ms() (the shiftable clock).
 */
#ifndef USSDGW_PAYMENT_H
#define USSDGW_PAYMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ussdgw/pay.h"

struct store_pg;

/** Register the prepared statements on @p pg. @return 0 or GW_E*. */
int payment_db_prepare(struct store_pg *pg);

/** SHA-256 of a callback token, hex (65 bytes with the NUL). */
void payment_token_hash(const char *token, char out[65]);

/** A payment as read from the table. */
struct payment_row {
	char id[37];
	char session_id[129];
	unsigned step;
	char provider[33];
	enum pay_state state;
	int64_t amount_minor;
	char currency[4];
	char msisdn[16];
	char account_ref[65];
	char provider_ref[96]; /**< "" when not known */
	char receipt[32];
	char result_code[32];
	bool needs_review;
	char review_reason[64];
	int64_t created_ms, updated_ms;
};

enum payment_create_outcome {
	PAYMENT_CREATED,   /**< a new row */
	PAYMENT_EXISTING,  /**< the step's row already existed (same values) */
	PAYMENT_VELOCITY,  /**< refused: too many payments for the MSISDN in the window */
	PAYMENT_DAILY_CAP, /**< refused: the MSISDN's daily amount would pass the cap */
	PAYMENT_MISMATCH,  /**< the step exists with another amount, MSISDN or provider */
};
const char *payment_create_outcome_name(enum payment_create_outcome o);

/** Limits applied by payment_db_create() (0 = off). */
struct payment_limits {
	unsigned window_s;
	unsigned window_max;
	int64_t daily_cap_minor;
};

typedef void (*payment_create_cb)(void *cls, int err, enum payment_create_outcome o, const char *id,
				  enum pay_state state, const char *provider_ref);

/**
 * Create the payment of (@p in->session_id, @p in->step) with key @p id and
 * token hash @p token_hash, or find the existing one.
 */
int payment_db_create(struct store_pg *pg, const char *id, const struct pay_intent *in,
		      const char *token_hash, const struct payment_limits *lim,
		      payment_create_cb cb, void *cls);

/** What payment_db_advance() did. */
enum payment_advance_outcome {
	PAYMENT_MOVED,	  /**< the state changed */
	PAYMENT_SAME,	  /**< already in the target state (fields filled if empty) */
	PAYMENT_REFUSED,  /**< not a forward move, or not in one of @p from */
	PAYMENT_CONFLICT, /**< another provider reference or receipt is stored */
	PAYMENT_MISSING,  /**< no such payment */
};
const char *payment_advance_outcome_name(enum payment_advance_outcome o);

struct payment_advance_res {
	enum payment_advance_outcome outcome;
	enum pay_state old_state, new_state;
	const char *session_id, *currency, *msisdn, *account_ref, *receipt;
	int64_t amount_minor;
};

/** Fields of a move; NULL leaves a field alone. */
struct payment_move {
	const enum pay_state *from; /**< allowed current states (compare-and-set); NULL: any */
	size_t n_from;
	enum pay_state to;
	const char *provider_ref;
	const char *receipt;
	const char *result_code;
	const char *result_desc;
	const char *review_reason; /**< flags the payment for a person */
};

typedef void (*payment_advance_cb)(void *cls, int err, const struct payment_advance_res *r);

/** Move payment @p id forward (the SQL enforces the forward-only rule). */
int payment_db_advance(struct store_pg *pg, const char *id, const struct payment_move *mv,
		       payment_advance_cb cb, void *cls);

typedef void (*payment_rows_cb)(void *cls, int err, const struct payment_row *rows, size_t n);

/** The payment whose callback token hashes to @p token_hash (0 or 1 row). */
int payment_db_by_token(struct store_pg *pg, const char *token_hash, payment_rows_cb cb, void *cls);
/** The payment with key @p id (0 or 1 row). */
int payment_db_by_id(struct store_pg *pg, const char *id, payment_rows_cb cb, void *cls);

/**
 * Open payments (created, requested, pending) not updated since
 * @p older_than_ms, oldest first, at most @p limit; plus, when
 * @p late_window_ms > 0, expired / unknown ones updated within that window that
 * have a provider reference (a late success is still found).
 */
int payment_db_list_stale(struct store_pg *pg, int64_t older_than_ms, int64_t late_window_ms,
			  unsigned limit, payment_rows_cb cb, void *cls);

/** Payments that need a person (unknown, or flagged), newest first. */
int payment_db_list_review(struct store_pg *pg, unsigned limit, payment_rows_cb cb, void *cls);

typedef void (*payment_callback_cb)(void *cls, int err, bool duplicate);

/** Record one callback delivery (de-duplicated on payment, reference and result). */
int payment_db_callback_record(struct store_pg *pg, const char *id, const char *provider_ref,
			       const char *result_code, const char *remote, payment_callback_cb cb,
			       void *cls);

#endif
