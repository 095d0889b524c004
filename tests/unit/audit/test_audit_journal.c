/* The journal: group commit, recovery at a torn tail, corruption refused,
 * rotation with a reader across segments, trimming, size cap, failed writes. */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ussdgw/audit_journal.h"
#include "ussdgw/gw_error.h"

struct seen {
	int n;
	char last[64];
	struct audit_jpos at[4096];
};

static void scan_cb(void *cls, struct audit_jpos at, const uint8_t *p, size_t len)
{
	struct seen *s = cls;
	if (s->n < 4096)
		s->at[s->n] = at;
	s->n++;
	size_t l = len < sizeof(s->last) - 1 ? len : sizeof(s->last) - 1;
	memcpy(s->last, p, l);
	s->last[l] = 0;
}

static char *mkdir_tmp(void)
{
	char *d = strdup("/tmp/gw-jrnl-XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static void rm_rf(const char *d)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

static void seg_file(char *buf, size_t n, const char *dir, uint64_t seg)
{
	snprintf(buf, n, "%s/%016llx.jnl", dir, (unsigned long long)seg);
}

static off_t fsize(const char *p)
{
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	return st.st_size;
}

static struct audit_journal *open_j(const char *dir, uint64_t segb, uint64_t maxb, struct seen *s,
				    struct audit_journal_recovery *rep, int *rc_out)
{
	struct audit_journal_opts o = {.dir = dir, .segment_bytes = segb, .max_bytes = maxb};
	struct audit_journal *j = NULL;
	char msg[256];
	int rc = audit_journal_open(&o, scan_cb, s, &j, rep, msg, sizeof(msg));
	if (rc_out)
		*rc_out = rc;
	else
		assert_int_equal(rc, 0);
	return j;
}

static void put(struct audit_journal *j, int i)
{
	char b[64];
	int n = snprintf(b, sizeof(b), "record-%06d", i);
	assert_int_equal(audit_journal_append(j, b, (size_t)n), 0);
}

static void test_commit_and_reopen(void **state)
{
	char *d = mkdir_tmp();
	struct seen s = {0};
	struct audit_journal_recovery rep;
	struct audit_journal *j = open_j(d, 1 << 20, 0, &s, &rep, NULL);
	assert_int_equal(rep.frames, 0);
	for (int i = 0; i < 10; i++)
		put(j, i);
	assert_int_equal(audit_journal_pending(j), 10);
	/* Before the commit, nothing is durable. */
	assert_int_equal(audit_journal_durable_end(j).off, AUDIT_JOURNAL_SEG_HDR);
	assert_int_equal(audit_journal_commit(j), 0);
	assert_int_equal(audit_journal_pending(j), 0);
	put(j, 10);
	audit_journal_close(j); /* the uncommitted record is lost, the others are not */

	memset(&s, 0, sizeof(s));
	j = open_j(d, 1 << 20, 0, &s, &rep, NULL);
	assert_int_equal(s.n, 10);
	assert_string_equal(s.last, "record-000009");
	assert_int_equal(rep.torn_bytes, 0);
	put(j, 11);
	assert_int_equal(audit_journal_commit(j), 0);
	audit_journal_close(j);
	memset(&s, 0, sizeof(s));
	j = open_j(d, 1 << 20, 0, &s, &rep, NULL);
	assert_int_equal(s.n, 11);
	assert_string_equal(s.last, "record-000011");
	audit_journal_close(j);
	rm_rf(d);
	free(d);
}

/* Write @p n raw bytes at the end of segment @p seg. */
static void append_raw(const char *dir, uint64_t seg, const void *b, size_t n)
{
	char p[512];
	seg_file(p, sizeof(p), dir, seg);
	int fd = open(p, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
}

static void test_torn_tail(void **state)
{
	char *d = mkdir_tmp();
	struct seen s = {0};
	struct audit_journal_recovery rep;
	struct audit_journal *j = open_j(d, 1 << 20, 0, &s, &rep, NULL);
	for (int i = 0; i < 5; i++)
		put(j, i);
	assert_int_equal(audit_journal_commit(j), 0);
	struct audit_jpos end = audit_journal_durable_end(j);
	audit_journal_close(j);
	char p[512];
	seg_file(p, sizeof(p), d, end.seg);

	/* A frame header promising 100 bytes followed by only 7 (a crash mid-write). */
	uint8_t torn[15] = {0, 0, 0, 100, 1, 2, 3, 4, 'p', 'a', 'r', 't', 'i', 'a', 'l'};
	append_raw(d, end.seg, torn, sizeof(torn));
	memset(&s, 0, sizeof(s));
	j = open_j(d, 1 << 20, 0, &s, &rep, NULL);
	assert_int_equal(s.n, 5);
	assert_int_equal(rep.torn_bytes, sizeof(torn));
	assert_int_equal(fsize(p), (off_t)end.off);
	/* Appends continue right where the intact part ends. */
	assert_int_equal(audit_journal_next_pos(j).off, end.off);
	put(j, 5);
	assert_int_equal(audit_journal_commit(j), 0);
	audit_journal_close(j);

	/* A complete frame whose CRC does not match: also a torn tail. */
	uint8_t bad[12] = {0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef, 'x', 'y', 'z', 'w'};
	append_raw(d, end.seg, bad, sizeof(bad));
	/* Trailing zeros (preallocated blocks) too, behind the bad frame. */
	uint8_t zeros[32] = {0};
	append_raw(d, end.seg, zeros, sizeof(zeros));
	memset(&s, 0, sizeof(s));
	j = open_j(d, 1 << 20, 0, &s, &rep, NULL);
	assert_int_equal(s.n, 6);
	assert_string_equal(s.last, "record-000005");
	assert_int_equal(rep.torn_bytes, sizeof(bad) + sizeof(zeros));
	audit_journal_close(j);
	rm_rf(d);
	free(d);
}

static void test_rotation_reader_trim(void **state)
{
	char *d = mkdir_tmp();
	struct seen s = {0};
	struct audit_journal *j = open_j(d, 4096, 0, &s, NULL, NULL);
	/* 1000 frames of 21 bytes = 21 kB over 4 kB segments, committed in groups of 7. */
	for (int i = 0; i < 1000; i++) {
		put(j, i);
		if (i % 7 == 6)
			assert_int_equal(audit_journal_commit(j), 0);
	}
	struct audit_jpos limit = audit_journal_durable_end(j);
	assert_true(limit.seg >= 5);
	/* The last 6 appends are not committed: the reader must stop before them. */
	struct audit_jreader *r;
	assert_int_equal(audit_jreader_open(d, (struct audit_jpos){1, 0}, &r), 0);
	const uint8_t *p;
	size_t len;
	struct audit_jpos at, after;
	int n = 0, rc;
	while ((rc = audit_jreader_next(r, limit, &p, &len, &at, &after)) == 1) {
		char want[32];
		snprintf(want, sizeof(want), "record-%06d", n);
		assert_int_equal(len, strlen(want));
		assert_memory_equal(p, want, len);
		assert_true(after.off <= 4096 || at.off == AUDIT_JOURNAL_SEG_HDR);
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 994);
	assert_int_equal(audit_jpos_cmp(after, limit), 0);
	assert_int_equal(audit_journal_commit(j), 0);
	limit = audit_journal_durable_end(j);
	/* The same reader continues with the newly committed frames. */
	while ((rc = audit_jreader_next(r, limit, &p, &len, &at, &after)) == 1)
		n++;
	assert_int_equal(n, 1000);
	audit_jreader_close(r);

	uint64_t before = audit_journal_bytes(j);
	int removed = audit_journal_trim(j, limit.seg + 10); /* never the active segment */
	assert_int_equal(removed, (int)(limit.seg - 1));
	assert_int_equal(audit_journal_first_seg(j), limit.seg);
	assert_true(audit_journal_bytes(j) < before);
	char pth[512];
	seg_file(pth, sizeof(pth), d, limit.seg);
	assert_int_equal(audit_journal_bytes(j), (uint64_t)fsize(pth));
	audit_journal_close(j);

	/* Recovery after trimming starts at the first remaining segment. */
	memset(&s, 0, sizeof(s));
	struct audit_journal_recovery rep;
	j = open_j(d, 4096, 0, &s, &rep, NULL);
	assert_int_equal(rep.segments, 1);
	assert_string_equal(s.last, "record-000999");
	audit_journal_close(j);
	rm_rf(d);
	free(d);
}

static void test_corruption_before_tail_refused(void **state)
{
	char *d = mkdir_tmp();
	struct audit_journal *j = open_j(d, 4096, 0, NULL, NULL, NULL);
	for (int i = 0; i < 600; i++) {
		put(j, i);
		if (i % 50 == 49)
			assert_int_equal(audit_journal_commit(j), 0);
	}
	audit_journal_close(j);
	/* Flip one byte inside the first segment's frames. */
	char p[512];
	seg_file(p, sizeof(p), d, 1);
	off_t size1 = fsize(p);
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, 100), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, 100), 1);
	close(fd);
	int rc;
	struct seen s = {0};
	j = open_j(d, 4096, 0, &s, NULL, &rc);
	assert_int_equal(rc, GW_EIO);
	assert_null(j);
	/* Nothing was cut: the damaged segment is left for an operator. */
	assert_int_equal(fsize(p), size1);
	rm_rf(d);
	free(d);
}

static void test_size_cap(void **state)
{
	char *d = mkdir_tmp();
	struct audit_journal *j = open_j(d, 65536, 2048, NULL, NULL, NULL);
	int ok = 0, rc = 0;
	for (int i = 0; i < 200; i++) {
		char b[64];
		int n = snprintf(b, sizeof(b), "record-%06d", i);
		rc = audit_journal_append(j, b, (size_t)n);
		if (rc)
			break;
		ok++;
	}
	assert_int_equal(rc, GW_ENOSPC);
	assert_true(ok > 10 && ok < 200);
	assert_int_equal(audit_journal_commit(j), 0);
	assert_true(audit_journal_bytes(j) <= 2048);
	/* Oversized payloads are refused whatever the cap. */
	assert_int_equal(audit_journal_append(j, "x", 0), GW_EMSGSIZE);
	audit_journal_close(j);
	rm_rf(d);
	free(d);
}

static void test_failed_write_rolls_back(void **state)
{
	char *d = mkdir_tmp();
	struct seen s = {0};
	struct audit_journal *j = open_j(d, 1 << 20, 0, &s, NULL, NULL);
	for (int i = 0; i < 3; i++)
		put(j, i);
	assert_int_equal(audit_journal_commit(j), 0);
	struct audit_jpos end = audit_journal_durable_end(j);
	/* Make the file system refuse growth past a few more bytes (as a full disk does). */
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = end.off + 30;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (int i = 3; i < 8; i++)
		put(j, i);
	assert_int_equal(audit_journal_commit(j), GW_ENOSPC);
	assert_int_equal(audit_journal_pending(j), 0);
	assert_int_equal(audit_jpos_cmp(audit_journal_durable_end(j), end), 0);
	char p[512];
	seg_file(p, sizeof(p), d, end.seg);
	assert_int_equal(fsize(p), (off_t)end.off); /* the partial group is gone */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	/* Space again: appends work again. */
	put(j, 8);
	assert_int_equal(audit_journal_commit(j), 0);
	audit_journal_close(j);
	memset(&s, 0, sizeof(s));
	j = open_j(d, 1 << 20, 0, &s, NULL, NULL);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.last, "record-000008");
	audit_journal_close(j);
	rm_rf(d);
	free(d);
}

static void test_torn_new_segment(void **state)
{
	char *d = mkdir_tmp();
	struct audit_journal *j = open_j(d, 4096, 0, NULL, NULL, NULL);
	put(j, 0);
	assert_int_equal(audit_journal_commit(j), 0);
	audit_journal_close(j);
	/* A crash while creating segment 2: only part of its header reached the disk. */
	char p[512];
	seg_file(p, sizeof(p), d, 2);
	int fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_int_equal(write(fd, "USGJ", 4), 4);
	close(fd);
	struct seen s = {0};
	struct audit_journal_recovery rep;
	j = open_j(d, 4096, 0, &s, &rep, NULL);
	assert_int_equal(s.n, 1);
	assert_int_equal(rep.torn_bytes, 4);
	put(j, 1);
	assert_int_equal(audit_journal_commit(j), 0);
	audit_journal_close(j);
	memset(&s, 0, sizeof(s));
	j = open_j(d, 4096, 0, &s, NULL, NULL);
	assert_int_equal(s.n, 2);
	audit_journal_close(j);
	rm_rf(d);
	free(d);
}

static void test_crc32c_vector(void **state)
{
	/* The check value of CRC-32C (RFC 3720 B.4): "123456789" -> 0xE3069283. */
	assert_int_equal(audit_crc32c(0, "123456789", 9), 0xE3069283u);
	/* Continuation gives the same result as one call. */
	uint32_t c = audit_crc32c(0, "12345", 5);
	assert_int_equal(audit_crc32c(c, "6789", 4), 0xE3069283u);
	uint8_t zeros[32] = {0};
	assert_int_equal(audit_crc32c(0, zeros, 32), 0x8A9136AAu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vector),
		cmocka_unit_test(test_commit_and_reopen),
		cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_rotation_reader_trim),
		cmocka_unit_test(test_corruption_before_tail_refused),
		cmocka_unit_test(test_size_cap),
		cmocka_unit_test(test_failed_write_rolls_back),
		cmocka_unit_test(test_torn_new_segment),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
