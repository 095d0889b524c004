/** @file
 * audit/: the wire forms shared by the journal, the shipper and the verifier:
 * journal entries, the per-writer hash chain, signed checkpoints and the export
 * file of chain heads. Pure functions, no I/O, no logging; safe on any thread.
 *
 * The chain: record n of chain C has
 *   hash_n = SHA-256("USGA1" 0x00 | len(C) u8 | C | seq u64 | occurred_us i64 |
 *                    hash_{n-1} (32) | len(body) u32 | body)       (big-endian)
 * with hash_0 = 32 zero bytes (or the anchor a retention drop recorded). The body
 * is the record's canonical JSON exactly as stored, sealed values included, so a
 * destroyed data key never breaks verification.
 */
#ifndef USSDGW_AUDIT_CHAIN_H
#define USSDGW_AUDIT_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Longest chain (writer) id. */
#define AUDIT_CHAIN_MAX 63
#define AUDIT_HASH_LEN 32
#define AUDIT_SIG_LEN 64
#define AUDIT_TOKEN_HEX 32
#define AUDIT_KEYID_HEX 16
#define AUDIT_WRAPPED_LEN 60

enum audit_entry_type {
	AUDIT_ENT_RECORD = 1,     /**< one chained audit record */
	AUDIT_ENT_KEY = 2,        /**< a new wrapped per-subscriber data key */
	AUDIT_ENT_CHECKPOINT = 3, /**< a signed chain head */
	AUDIT_ENT_HEAD = 4,       /**< the chain head as a writer started (not shipped) */
};

const char *audit_entry_type_name(enum audit_entry_type t);

/** Indexed columns a RECORD carries beside its body. */
enum audit_idx { AUDIT_IDX_KIND, AUDIT_IDX_SESSION, AUDIT_IDX_PAYMENT, AUDIT_IDX_MSISDN, AUDIT_IDX_COUNT };

/** One decoded journal entry; pointers borrow from the decoded buffer. */
struct audit_entry {
	enum audit_entry_type type;
	char chain[AUDIT_CHAIN_MAX + 1];
	/* RECORD, CHECKPOINT, HEAD */
	uint64_t seq;
	uint8_t hash[AUDIT_HASH_LEN];
	/* RECORD */
	int64_t occurred_us;
	uint8_t prev[AUDIT_HASH_LEN];
	const uint8_t *body;
	size_t body_len;
	/** Copies of body fields for the table's indexed columns (not hashed: the
	 *  verifier checks them against the body). Not NUL-terminated; len <= 255. */
	const char *idx[AUDIT_IDX_COUNT];
	uint8_t idx_len[AUDIT_IDX_COUNT];
	/* KEY */
	char token[AUDIT_TOKEN_HEX + 1];
	char key_id[AUDIT_KEYID_HEX + 1];
	uint8_t wrapped[AUDIT_WRAPPED_LEN];
	int64_t created_us;
	/* CHECKPOINT */
	int64_t signed_at_us;
	uint8_t sig[AUDIT_SIG_LEN];
};

/** Bytes audit_entry_encode() needs for @p e. */
size_t audit_entry_size(const struct audit_entry *e);
/** Encode @p e into @p out (cap bytes). @return bytes written, or GW_EMSGSIZE / GW_EINVAL. */
long audit_entry_encode(const struct audit_entry *e, uint8_t *out, size_t cap);
/** Decode; @p e borrows from @p p. @return 0 or GW_EPROTO_MALFORMED. */
int audit_entry_decode(const uint8_t *p, size_t n, struct audit_entry *e);

/** The chain hash of one record (see the file comment). */
void audit_chain_hash(const char *chain, uint64_t seq, int64_t occurred_us,
		      const uint8_t prev[AUDIT_HASH_LEN], const void *body, size_t body_len,
		      uint8_t out[AUDIT_HASH_LEN]);

/** The message a checkpoint signs. @return its length (< cap) or 0 if @p cap is too small. */
size_t audit_checkpoint_msg(const char *chain, uint64_t seq, const uint8_t hash[AUDIT_HASH_LEN],
			    int64_t signed_at_us, char *out, size_t cap);

/** One line of the export file: "v1 CHAIN SEQ HASHHEX SIGNED_AT_US SIGHEX\n". */
size_t audit_head_line(const struct audit_entry *cp, char *out, size_t cap);
/** Parse one export-file line into a CHECKPOINT entry. @return 0 or GW_EPROTO_MALFORMED. */
int audit_head_parse(const char *line, struct audit_entry *cp);

/** Lower-case hex of @p n bytes into @p out (2n+1 bytes). */
void audit_hex(const uint8_t *p, size_t n, char *out);
/** Parse exactly 2n hex characters. @return 0 or GW_EINVAL. */
int audit_unhex(const char *s, uint8_t *out, size_t n);

#endif
