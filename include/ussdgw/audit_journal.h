/** @file
 * audit/: the node's local append-only journal.
 *
 * A directory of segment files `<16 hex digits>.jnl`, numbered from 1. A segment
 * starts with a 16-byte header (magic "USGJRNL1" + segment number, big-endian);
 * then frames: u32 payload length, u32 CRC-32C of the payload (both big-endian),
 * payload. A new segment is fsynced and so is the directory before any record is
 * written into it. Appends are buffered and made durable in groups by
 * audit_journal_commit() (write + fdatasync); a failed commit truncates what it
 * wrote, so a group is either wholly durable or wholly absent.
 *
 * Recovery (audit_journal_open) reads every segment in order. A frame that is
 * short, oversized or fails its CRC in the LAST segment is a torn tail: the file
 * is truncated there and recovery stops cleanly. The same in an earlier segment
 * is corruption: the journal refuses to open (GW_EIO) and says where.
 *
 * Threads: one writer thread owns appends and commits; any thread may read
 * segments through struct audit_jreader up to the durable end it obtained from
 * audit_journal_durable_end(), and call audit_journal_trim(). The journal does
 * not log: it returns codes and fills a message buffer.
 */
#ifndef USSDGW_AUDIT_JOURNAL_H
#define USSDGW_AUDIT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** Largest payload of one frame. */
#define AUDIT_JOURNAL_MAX_PAYLOAD (1u << 20)
/** Size of a segment header. */
#define AUDIT_JOURNAL_SEG_HDR 16
/** Size of a frame header. */
#define AUDIT_JOURNAL_FRAME_HDR 8

/** A position in the journal: segment number and byte offset within it. */
struct audit_jpos {
	uint64_t seg;
	uint64_t off;
};

/** @return <0, 0, >0 as @p a is before, at, after @p b. */
int audit_jpos_cmp(struct audit_jpos a, struct audit_jpos b);

struct audit_journal_opts {
	const char *dir;        /**< created (0700) when missing */
	uint64_t segment_bytes; /**< rotate when a segment would grow past this */
	uint64_t max_bytes;     /**< appends refused with GW_ENOSPC past this total */
};

/** Called by recovery for each intact frame, in order. @p at is the frame's position. */
typedef void (*audit_journal_scan_fn)(void *cls, struct audit_jpos at, const uint8_t *payload,
				      size_t len);

struct audit_journal_recovery {
	uint64_t frames;        /**< intact frames found */
	uint64_t torn_bytes;    /**< bytes cut from the tail of the last segment */
	uint64_t segments;      /**< segment files found */
	struct audit_jpos end;  /**< where appends continue */
};

struct audit_journal;

/**
 * Open (create) the journal in @p o->dir, recover it, and leave it ready to append.
 * @param[in] scan called for every intact frame (may be NULL)
 * @param[out] rep recovery report (may be NULL)
 * @param[out] msg a one-line reason on failure
 * @return 0, GW_EIO (corruption before the last segment, I/O failure), GW_ENOMEM, GW_EINVAL.
 * The caller owns *out and frees it with audit_journal_close().
 */
int audit_journal_open(const struct audit_journal_opts *o, audit_journal_scan_fn scan, void *cls,
		       struct audit_journal **out, struct audit_journal_recovery *rep, char *msg,
		       size_t msgsz);
/** Close; pending (uncommitted) appends are discarded. NULL allowed. */
void audit_journal_close(struct audit_journal *j);

/**
 * Buffer one frame for the next commit. Rotation to a new segment happens here
 * when the current one would pass segment_bytes (the new segment is created at
 * commit). @return 0, GW_EMSGSIZE (payload too large), GW_ENOSPC (max_bytes),
 * GW_ENOMEM.
 */
int audit_journal_append(struct audit_journal *j, const void *payload, size_t len);
/** Position the next append() will land at (segment may be one not yet created). */
struct audit_jpos audit_journal_next_pos(const struct audit_journal *j);
/**
 * Write everything appended since the last commit and fdatasync it (and fsync the
 * directory when a segment was created). On failure the group is removed again
 * (files truncated back) and the error returned: GW_ENOSPC (disk full), GW_EIO.
 */
int audit_journal_commit(struct audit_journal *j);
/** Frames appended but not committed. */
size_t audit_journal_pending(const struct audit_journal *j);
/** End of the durable part (thread-safe). */
struct audit_jpos audit_journal_durable_end(struct audit_journal *j);
/** Total bytes in segment files (thread-safe). */
uint64_t audit_journal_bytes(struct audit_journal *j);
/** Oldest segment number still on disk (thread-safe). */
uint64_t audit_journal_first_seg(struct audit_journal *j);
/**
 * Delete every segment whose number is below @p seg and below the segment being
 * written (thread-safe). @return number of segments removed, or a GW_E* code.
 */
int audit_journal_trim(struct audit_journal *j, uint64_t seg);
/** Directory of the journal (borrowed). */
const char *audit_journal_dir(const struct audit_journal *j);

/** mkdir -p (missing parents get @p mode too). @return 0, GW_EIO, GW_EINVAL. */
int audit_mkdir_p(const char *dir, mode_t mode);

/** CRC-32C (Castagnoli) of @p n bytes, continuing @p crc (start with 0). */
uint32_t audit_crc32c(uint32_t crc, const void *data, size_t n);

/**
 * Sequential reader of committed frames; independent of the writer's descriptors.
 * It never reads past @p limit, so a half-written group is never seen.
 */
struct audit_jreader;
int audit_jreader_open(const char *dir, struct audit_jpos from, struct audit_jreader **out);
void audit_jreader_close(struct audit_jreader *r);
/**
 * Next frame before @p limit. @return 1 with the payload (valid until the next
 * call) and its position, 0 at @p limit, or GW_EIO on a bad frame / missing segment.
 * @p after receives the position just past the frame.
 */
int audit_jreader_next(struct audit_jreader *r, struct audit_jpos limit, const uint8_t **payload,
		       size_t *len, struct audit_jpos *at, struct audit_jpos *after);

#endif
