/** @file
 * audit/: the verifier behind `ussdgw-audit verify`. Reads the audit table in
 * chain order over a blocking libpq connection (a tool, never the daemon's
 * loop), recomputes every hash, follows the chain links, checks the signed
 * checkpoints (table and export file) and names the first record changed,
 * removed or inserted, months whose partition is gone, and rows in the default
 * partition. Retention drops recorded by audit_drop_partition() are accepted
 * when the chain resumes exactly after the recorded range.
 */
#ifndef USSDGW_AUDIT_VERIFY_H
#define USSDGW_AUDIT_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

enum audit_finding_kind {
	AF_CHANGED,          /**< a record's content does not match its hash, or a link is broken */
	AF_REMOVED,          /**< sequence numbers missing */
	AF_INSERTED,         /**< a record that is not part of the chain */
	AF_PARTITION_MISSING,/**< a month's partition was dropped outside the retention procedure */
	AF_TAIL_REMOVED,     /**< a signed head is beyond the last stored record */
	AF_CHECKPOINT_MISMATCH, /**< a signed head's hash differs from the stored record's */
	AF_CHECKPOINT_BAD_SIG,  /**< a checkpoint's signature does not verify */
	AF_CHECKPOINT_MISSING,  /**< an exported head has no row in audit_checkpoint */
	AF_COLUMN_MISMATCH,  /**< an indexed column differs from the body */
	AF_DEFAULT_ROWS,     /**< rows in the default partition */
	AF_KIND_COUNT
};

const char *audit_finding_name(enum audit_finding_kind k);

struct audit_finding {
	enum audit_finding_kind kind;
	char chain[64];
	uint64_t seq;     /**< first sequence number concerned (0 = none) */
	uint64_t seq_to;  /**< last one for ranges */
	char detail[320];
};

struct audit_verify_opts {
	const char *chain;           /**< NULL = every chain */
	int64_t from_us, to_us;      /**< occurred range [from, to); 0 = open */
	const char *export_file;     /**< exported heads to check; NULL = none */
	const uint8_t *pubkey;       /**< 32 bytes; NULL = signatures not checked (reported) */
};

struct audit_verify_report {
	uint64_t chains, records, checkpoints, exported_heads, retention_ranges;
	uint64_t unsigned_tail;      /**< records after the last signed head */
	bool signatures_checked;
	struct audit_finding *f;
	size_t nf, cap;
};

/**
 * Verify. @return 0 when the run completed (findings may be present), or a
 * GW_E* code (GW_EDEPENDENCY database error, GW_EIO export file unreadable).
 * The report is the caller's; free it with audit_verify_report_free().
 */
int audit_verify(PGconn *conn, const struct audit_verify_opts *o, struct audit_verify_report *rep);
void audit_verify_report_free(struct audit_verify_report *rep);
/** The first finding of @p kind for @p chain, or NULL. */
const struct audit_finding *audit_verify_find(const struct audit_verify_report *rep,
					      enum audit_finding_kind kind, const char *chain);

#endif
