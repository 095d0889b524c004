/** @file
 * audit/: the shipper. One thread with its own blocking libpq connection (it
 * never touches the loop) copies the journal into PostgreSQL in batches: one
 * transaction per batch (COPY into the audit table; data keys and checkpoints
 * beside it), the shipped position saved after the commit, and the journal
 * trimmed behind it. A batch that meets rows already stored for its sequence
 * numbers is shipped record by record: byte-identical records are
 * ignored (a replay after a crash), different ones are refused, kept in
 * audit_conflict and alarmed. While PostgreSQL is away the shipper retries with
 * a growing delay; the journal grows meanwhile and drains in order.
 *
 * Threads: audit_ship_start/kick/stop/stats may be called from any one thread
 * (the loop); the shipper reports through atomics and a sample buffer.
 */
#ifndef USSDGW_AUDIT_SHIP_H
#define USSDGW_AUDIT_SHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct audit_journal;
struct audit_shipper;

struct audit_ship_opts {
	const char *dsn;            /**< libpq connection string (app role) */
	const char *chain;          /**< this writer's chain id */
	struct audit_journal *journal; /**< borrowed; must outlive the shipper */
	unsigned batch_size;        /**< records per transaction */
	unsigned retry_min_ms;      /**< first reconnect delay (doubles up to retry_max_ms) */
	unsigned retry_max_ms;
	unsigned idle_poll_ms;      /**< look for new journal data at least this often */
	/** Called on the shipper thread after each committed transaction with the highest
	 *  record seq of this chain committed so far; NULL = none. Must not block. */
	void (*on_commit)(void *cls, uint64_t seq);
	void *on_commit_cls;
};

struct audit_ship_stats {
	uint64_t shipped;      /**< records sent in transactions that committed or failed */
	uint64_t committed;    /**< records in committed transactions (new rows) */
	uint64_t replays;      /**< byte-identical records already stored */
	uint64_t conflicts;    /**< different records under a stored key */
	uint64_t alarms;       /**< USSDGW-ALARM warnings from the database */
	uint64_t batches;
	uint64_t failures;     /**< failed transactions / connection attempts */
	int64_t oldest_unshipped_us; /**< occurred time of the oldest unshipped record, 0 = none */
	bool up;               /**< connected and the last transaction committed */
};

/** Start the shipper thread. @return 0, GW_EINVAL, GW_ENOMEM. */
int audit_ship_start(const struct audit_ship_opts *o, struct audit_shipper **out);
/** New durable data in the journal. */
void audit_ship_kick(struct audit_shipper *s);
/** Stop: ship what is durable for at most @p deadline_ms (if PostgreSQL is up), then join. */
void audit_ship_stop(struct audit_shipper *s, unsigned deadline_ms);
void audit_ship_stats(struct audit_shipper *s, struct audit_ship_stats *out);
/** Highest record seq of this chain committed in PostgreSQL by this shipper (0 = none yet). */
uint64_t audit_ship_committed_seq(struct audit_shipper *s);
/** Move up to @p max commit latencies (seconds) recorded since the last call into @p out. */
size_t audit_ship_take_latencies(struct audit_shipper *s, double *out, size_t max);
/** Wait until everything durable at call time is committed, or @p timeout_ms passes.
 *  @return 0 or GW_ETIMEDOUT. For tests and tools. */
int audit_ship_wait_idle(struct audit_shipper *s, unsigned timeout_ms);

#endif
