/** @file
 * audit/: the tamper-evident, append-only audit trail.
 *
 * Callers describe what happened in a struct audit_record and call
 * audit_append(). The module (on the loop thread) tokenises the MSISDN (keyed
 * HMAC), seals sensitive variables (AES-256-GCM under the subscriber's data key,
 * itself wrapped by the master key) and builds the record's canonical JSON body;
 * a journal writer thread chains the record (SHA-256 over the previous hash and
 * the body, ciphertext included), appends it to the node's local journal and
 * makes it durable with one fdatasync per group; one ev_async back to the loop
 * then fires the callbacks of the whole group. A shipper thread with its own
 * blocking libpq connection copies the journal into PostgreSQL in batches and
 * trims it after commit; while PostgreSQL is away the journal grows (bounded by
 * max_bytes, alarmed) and drains in order when it returns. Signed checkpoints of
 * the chain head go into the journal (so into PostgreSQL) and into an
 * append-only export file outside PostgreSQL.
 *
 * Threads: every function here is for the loop thread.
 *
 * Readiness parts: "audit-journal" (REQUIRED; down while the journal cannot be
 * written or is full) and "audit-shipper" (DEGRADES; down while PostgreSQL is
 * unreachable). Metrics: ussdgw_audit_* (see audit.c).
 */
#ifndef USSDGW_AUDIT_H
#define USSDGW_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

struct crypto_keyring;

/** What a record is about. Names (audit_kind_name) are stored in the record. */
enum audit_kind {
	AUDIT_SESSION_STEP,   /**< one USSD step (screen shown, input given) */
	AUDIT_PAYMENT_STATE,  /**< a payment changed state */
	AUDIT_BIND_EVENT,     /**< SMPP bind up/down/refused */
	AUDIT_CONSENT_CHANGE, /**< STOP / START / STOPALL */
	AUDIT_KEY_OPERATION,  /**< key created, rotated, destroyed (erasure) */
	AUDIT_ADMIN_CALL,     /**< a sensitive admin operation */
	AUDIT_API_CALL,       /**< a sensitive REST API call */
	AUDIT_SMS_MO,         /**< an MO SMS handled */
	AUDIT_SMS_MT,         /**< an MT SMS accepted or refused */
	AUDIT_RETENTION,      /**< audit retention (partition dropped) */
	AUDIT_KIND_COUNT
};

/** @return "session_step", ... or "unknown". */
const char *audit_kind_name(enum audit_kind k);
/** @return 0 and the kind, or GW_EINVAL for an unknown name. */
int audit_kind_parse(const char *name, enum audit_kind *out);

/** One variable of a record. Sensitive ones are sealed, never stored in clear. */
struct audit_var {
	const char *name;  /**< [A-Za-z0-9_.-], at most 64 bytes */
	const char *value; /**< UTF-8 text */
	bool sensitive;    /**< typed numbers, PINs, provider bodies: sealed */
};

/**
 * A record as callers give it. Every pointer is borrowed for the duration of
 * audit_append() only; NULL / 0 means "not applicable". Never put rendered
 * screen text with secrets here: the screen id and the variables rebuild it.
 */
struct audit_record {
	enum audit_kind kind;
	const char *session_id; /**< gateway session id */
	const char *payment_id; /**< payment id (idempotency key) */
	const char *link;       /**< SMPP link or bind ("mno1/0") */
	const char *msisdn;     /**< E.164 in clear; tokenised here, never stored */
	const char *screen_id;  /**< menu screen shown */
	const char *event;      /**< what happened: "new", "input", "end", "paid", "bind_up" */
	const char *outcome;    /**< result: "ok", "timeout", "refused", ... */
	const char *actor;      /**< "subscriber", "system", "admin:alice", "api:KEYID" */
	const struct audit_var *vars;
	size_t n_vars;          /**< at most 32 */
	int64_t occurred_us;    /**< when it happened (gw_now_us()); 0 = now */
	int64_t elapsed_us;     /**< time the step took; 0 = not measured */
};

/** Called exactly once per accepted append: @p rc 0 when durable in the journal, else a
 *  GW_E* code (GW_EAUDIT, GW_ENOSPC, GW_EOVERLOAD, GW_ESHUTDOWN). */
typedef void (*audit_durable_cb)(void *cls, int rc);

struct audit_opts {
	const char *chain_id;              /**< writer id, e.g. node.id (1..63 bytes) */
	const char *journal_dir;
	uint64_t segment_bytes;
	uint64_t max_bytes;
	unsigned checkpoint_interval_s;    /**< 0 = no periodic checkpoints */
	const char *export_file;           /**< signed heads, append-only; NULL = none */
	const char *pg_dsn;                /**< app role; NULL or "" = no shipping */
	unsigned batch_size;               /**< records per shipped transaction */
	unsigned max_queue;                /**< appends waiting for the writer (0 = 65536) */
	const struct crypto_keyring *keys; /**< borrowed; tokens, data keys, signing */
	/** Bench-only (default false): on_durable runs only once the record is also
	 *  committed in PostgreSQL (needs pg_dsn), so a reply waits for its commit.
	 *  For measuring the cost of per-commit acknowledgement; never for production. */
	bool bench_wait_commit;
};

/**
 * Open the journal (recovering it), start the writer and shipper threads,
 * register the health parts and metrics. @return 0, GW_EINVAL, GW_EIO (journal
 * corrupt or unwritable), GW_ENOMEM, GW_EEXIST (already open).
 * The environment variable USSDGW_AUDIT_FAIL_NEXT=N makes the first N appends
 * fail (subprocess tests of callers' error paths).
 */
int audit_open(struct ev_loop *loop, const struct audit_opts *o);
/**
 * Drain and close: every queued record is made durable (or failed) and its
 * callback fired, a last checkpoint is written, the shipper gets a last chance
 * to ship (bounded by @p ship_deadline_ms), threads are joined, parts and
 * the health parts are unregistered (metrics stay). No-op when not open.
 */
void audit_close_deadline(unsigned ship_deadline_ms);
/** audit_close_deadline(2000). */
void audit_close(void);

/**
 * Append a record. @return 0: @p on_durable will run exactly once, later, on the
 * loop (never from inside this call). <0 (GW_EINVAL bad record, GW_ESHUTDOWN not
 * open): the callback is not called.
 */
int audit_append(const struct audit_record *rec, audit_durable_cb on_durable, void *cls);

/** Test hook: the next @p n appends fail with GW_EAUDIT (through their callbacks). */
void audit_set_fail_next(unsigned n);

/** Ask for a checkpoint of the chain head now (also done every interval). */
void audit_checkpoint_now(void);

/** Counters, readable on the loop thread. */
struct audit_stats {
	uint64_t journaled;     /**< records durable in the journal */
	uint64_t failed;        /**< appends failed */
	uint64_t shipped;       /**< records sent to PostgreSQL */
	uint64_t committed;     /**< records whose transaction committed */
	uint64_t replays;       /**< byte-identical records already in PostgreSQL (ignored) */
	uint64_t conflicts;     /**< different records under a stored key (refused, alarmed) */
	uint64_t alarms;        /**< alarms raised by the database (default partition, ...) */
	uint64_t checkpoints;   /**< checkpoints written */
	uint64_t journal_commits; /**< group commits (one fdatasync each) of the journal */
	uint64_t head_seq;      /**< chain head */
	uint64_t journal_bytes;
	double oldest_unshipped_s;
	bool journal_ok;
	bool pg_up;
};
void audit_get_stats(struct audit_stats *out);

/** Block until every record durable now is committed in PostgreSQL, or @p timeout_ms
 *  passes (tests and tools only: this blocks the caller). @return 0, GW_ETIMEDOUT,
 *  GW_ENOENT (no shipper). */
int audit_wait_shipped(unsigned timeout_ms);

/** A daemon service ("audit") built from the node's config (node.id, audit.*, postgres.dsn). */
extern const struct gw_service audit_service;

#endif
