/* The node's local append-only journal: segments of CRC-checked frames, group
 * commit with fdatasync, clean recovery at a torn tail. See audit_journal.h. */
#include "ussdgw/audit_journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ussdgw/gw_error.h"

static const char seg_magic[8] = {'U', 'S', 'G', 'J', 'R', 'N', 'L', '1'};

/* --- CRC-32C ------------------------------------------------------------- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t n)
{
	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n)
{
	uint64_t c = ~crc;
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		n -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (n--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return ~c32;
}
#endif

uint32_t audit_crc32c(uint32_t crc, const void *data, size_t n)
{
#if defined(__x86_64__) && defined(__GNUC__)
	static int hw = -1;
	if (hw < 0)
		hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	if (hw)
		return crc_hw(crc, data, n);
#endif
	return crc_sw(crc, data, n);
}

/* --- helpers --------------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

int audit_jpos_cmp(struct audit_jpos a, struct audit_jpos b)
{
	if (a.seg != b.seg)
		return a.seg < b.seg ? -1 : 1;
	if (a.off != b.off)
		return a.off < b.off ? -1 : 1;
	return 0;
}

static void seg_path(char *buf, size_t n, const char *dir, uint64_t seg)
{
	snprintf(buf, n, "%s/%016" PRIx64 ".jnl", dir, seg);
}

static int err_from_errno(int e)
{
	/* EFBIG: a file-size limit is a full disk for our purposes. */
	return e == ENOSPC || e == EDQUOT || e == EFBIG ? GW_ENOSPC : GW_EIO;
}

static int write_all(int fd, const void *buf, size_t n, off_t off)
{
	const uint8_t *p = buf;
	while (n) {
		ssize_t w = pwrite(fd, p, n, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return err_from_errno(errno);
		}
		if (w == 0)
			return GW_EIO;
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

/* --- the journal -------------------------------------------------------------- */

struct pend_chunk {
	uint64_t seg;
	uint64_t off;  /* where the chunk starts in its segment */
	size_t boff;   /* where it starts in the buffer */
	size_t len;
};

struct audit_journal {
	char *dir;
	int dirfd;
	uint64_t seg_bytes, max_bytes;
	int fd;          /* segment being written */
	uint64_t seg;    /* its number */
	uint64_t off;    /* durable end in it */
	bool broken;     /* a failed rollback: refuse further commits */

	uint8_t *buf;
	size_t len, cap;
	struct pend_chunk *chunks;
	size_t nchunks, chunks_cap;
	size_t pend_frames;

	pthread_mutex_t mu; /* guards durable, first_seg */
	struct audit_jpos durable;
	uint64_t first_seg;
	_Atomic uint64_t total;
};

static int seg_create(struct audit_journal *j, uint64_t seg, int *fd_out)
{
	char path[4096];
	seg_path(path, sizeof(path), j->dir, seg);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_from_errno(errno);
	uint8_t hdr[AUDIT_JOURNAL_SEG_HDR];
	memcpy(hdr, seg_magic, 8);
	put_be64(hdr + 8, seg);
	int rc = write_all(fd, hdr, sizeof(hdr), 0);
	if (!rc && fsync(fd) < 0)
		rc = err_from_errno(errno);
	if (!rc && fsync(j->dirfd) < 0)
		rc = err_from_errno(errno);
	if (rc) {
		close(fd);
		unlink(path);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Segment numbers present in @p dir, sorted. */
static int list_segments(const char *dir, uint64_t **out, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d)
		return GW_EIO;
	uint64_t *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l != 20 || strcmp(e->d_name + 16, ".jnl") != 0)
			continue;
		char *end;
		uint64_t s = strtoull(e->d_name, &end, 16);
		if (end != e->d_name + 16 || s == 0)
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return GW_ENOMEM;
			}
			v = nv;
		}
		v[cnt++] = s;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_u64);
	*out = v;
	*n = cnt;
	return 0;
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return GW_EIO;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return GW_EIO;
	}
	size_t n = (size_t)st.st_size;
	uint8_t *b = malloc(n ? n : 1);
	if (!b) {
		close(fd);
		return GW_ENOMEM;
	}
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, b + got, n - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	*buf = b;
	*len = got;
	return 0;
}

/* Scan one segment; *good receives the end of the intact prefix. @return 0 intact,
 * 1 torn (a bad frame at *good), or a GW_E* code. */
static int scan_segment(uint64_t seg, const uint8_t *b, size_t n, audit_journal_scan_fn scan,
			void *cls, uint64_t *frames, size_t *good, char *msg, size_t msgsz)
{
	if (n < AUDIT_JOURNAL_SEG_HDR || memcmp(b, seg_magic, 8) != 0 || get_be64(b + 8) != seg) {
		*good = 0;
		snprintf(msg, msgsz, "segment %016" PRIx64 ": bad header", seg);
		return 1;
	}
	size_t off = AUDIT_JOURNAL_SEG_HDR;
	while (off < n) {
		if (n - off < AUDIT_JOURNAL_FRAME_HDR)
			goto torn;
		uint32_t len = get_be32(b + off);
		uint32_t crc = get_be32(b + off + 4);
		if (len == 0 || len > AUDIT_JOURNAL_MAX_PAYLOAD ||
		    len > n - off - AUDIT_JOURNAL_FRAME_HDR)
			goto torn;
		const uint8_t *p = b + off + AUDIT_JOURNAL_FRAME_HDR;
		if (audit_crc32c(0, p, len) != crc)
			goto torn;
		if (scan)
			scan(cls, (struct audit_jpos){seg, off}, p, len);
		(*frames)++;
		off += AUDIT_JOURNAL_FRAME_HDR + len;
	}
	*good = off;
	return 0;
torn:
	*good = off;
	snprintf(msg, msgsz, "segment %016" PRIx64 ": bad frame at offset %zu", seg, off);
	return 1;
}

int audit_mkdir_p(const char *dir, mode_t mode)
{
	char p[4096];
	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
		return GW_EINVAL;
	for (char *c = p + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = 0;
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return GW_EIO;
		*c = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return GW_EIO;
	return 0;
}

int audit_journal_open(const struct audit_journal_opts *o, audit_journal_scan_fn scan, void *cls,
		       struct audit_journal **out, struct audit_journal_recovery *rep, char *msg,
		       size_t msgsz)
{
	char dummy[8];
	if (!msg) {
		msg = dummy;
		msgsz = sizeof(dummy);
	}
	msg[0] = 0;
	if (!o || !o->dir || !o->dir[0] || o->segment_bytes < 4096) {
		snprintf(msg, msgsz, "journal: bad options");
		return GW_EINVAL;
	}
	if (audit_mkdir_p(o->dir, 0700)) {
		snprintf(msg, msgsz, "journal: mkdir %s: %s", o->dir, strerror(errno));
		return GW_EIO;
	}
	struct audit_journal *j = calloc(1, sizeof(*j));
	if (!j || !(j->dir = strdup(o->dir))) {
		free(j);
		return GW_ENOMEM;
	}
	j->fd = -1;
	j->seg_bytes = o->segment_bytes;
	j->max_bytes = o->max_bytes ? o->max_bytes : UINT64_MAX;
	pthread_mutex_init(&j->mu, NULL);
	j->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct audit_journal_recovery r = {0};
	uint64_t *segs = NULL;
	size_t nsegs = 0;
	int rc;
	if (j->dirfd < 0) {
		snprintf(msg, msgsz, "journal: open %s: %s", o->dir, strerror(errno));
		rc = GW_EIO;
		goto fail;
	}
	rc = list_segments(o->dir, &segs, &nsegs);
	if (rc) {
		snprintf(msg, msgsz, "journal: cannot list %s", o->dir);
		goto fail;
	}
	r.segments = nsegs;
	uint64_t total = 0;
	for (size_t i = 0; i < nsegs; i++) {
		if (i && segs[i] != segs[i - 1] + 1) {
			snprintf(msg, msgsz, "journal: segment %016" PRIx64 " missing",
				 segs[i - 1] + 1);
			rc = GW_EIO;
			goto fail;
		}
		char path[4096];
		seg_path(path, sizeof(path), o->dir, segs[i]);
		uint8_t *b;
		size_t n;
		rc = read_file(path, &b, &n);
		if (rc) {
			snprintf(msg, msgsz, "journal: cannot read %s", path);
			goto fail;
		}
		size_t good;
		bool last = i + 1 == nsegs;
		int s = scan_segment(segs[i], b, n, scan, cls, &r.frames, &good, msg, msgsz);
		free(b);
		if (s == 1 && !last) {
			rc = GW_EIO; /* corruption before the tail: an operator must look */
			goto fail;
		}
		if (s == 1) {
			/* Torn tail: cut it off (a torn header: rewrite the whole segment). */
			r.torn_bytes = n - good;
			if (good == 0) {
				unlink(path);
				if (fsync(j->dirfd) < 0) {
					rc = GW_EIO;
					goto fail;
				}
				nsegs--;
				r.segments--;
				break;
			}
			if (truncate(path, (off_t)good) < 0) {
				snprintf(msg, msgsz, "journal: truncate %s: %s", path, strerror(errno));
				rc = GW_EIO;
				goto fail;
			}
			n = good;
		}
		total += n;
		if (last) {
			j->fd = open(path, O_WRONLY | O_CLOEXEC);
			if (j->fd < 0 || fdatasync(j->fd) < 0) {
				snprintf(msg, msgsz, "journal: open %s: %s", path, strerror(errno));
				rc = GW_EIO;
				goto fail;
			}
			j->seg = segs[i];
			j->off = n;
		}
	}
	if (j->fd < 0) {
		uint64_t s = nsegs ? segs[nsegs - 1] + 1 : 1;
		rc = seg_create(j, s, &j->fd);
		if (rc) {
			snprintf(msg, msgsz, "journal: cannot create a segment in %s", o->dir);
			goto fail;
		}
		j->seg = s;
		j->off = AUDIT_JOURNAL_SEG_HDR;
		total += AUDIT_JOURNAL_SEG_HDR;
		if (!nsegs)
			j->first_seg = s;
	}
	if (nsegs)
		j->first_seg = segs[0];
	free(segs);
	atomic_store(&j->total, total);
	j->durable = (struct audit_jpos){j->seg, j->off};
	r.end = j->durable;
	if (rep)
		*rep = r;
	*out = j;
	return 0;
fail:
	free(segs);
	audit_journal_close(j);
	return rc;
}

void audit_journal_close(struct audit_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	pthread_mutex_destroy(&j->mu);
	free(j->buf);
	free(j->chunks);
	free(j->dir);
	free(j);
}

static struct pend_chunk *last_chunk(struct audit_journal *j)
{
	return j->nchunks ? &j->chunks[j->nchunks - 1] : NULL;
}

struct audit_jpos audit_journal_next_pos(const struct audit_journal *j)
{
	if (!j->nchunks)
		return (struct audit_jpos){j->seg, j->off};
	const struct pend_chunk *c = &j->chunks[j->nchunks - 1];
	return (struct audit_jpos){c->seg, c->off + c->len};
}

int audit_journal_append(struct audit_journal *j, const void *payload, size_t len)
{
	if (len == 0 || len > AUDIT_JOURNAL_MAX_PAYLOAD)
		return GW_EMSGSIZE;
	size_t f = AUDIT_JOURNAL_FRAME_HDR + len;
	if (atomic_load(&j->total) + j->len + f + AUDIT_JOURNAL_SEG_HDR > j->max_bytes)
		return GW_ENOSPC;
	if (j->len + f > j->cap) {
		size_t nc = j->cap ? j->cap : 65536;
		while (nc < j->len + f)
			nc *= 2;
		uint8_t *nb = realloc(j->buf, nc);
		if (!nb)
			return GW_ENOMEM;
		j->buf = nb;
		j->cap = nc;
	}
	struct audit_jpos at = audit_journal_next_pos(j);
	bool rotate = at.off > AUDIT_JOURNAL_SEG_HDR && at.off + f > j->seg_bytes;
	struct pend_chunk *c = last_chunk(j);
	if (!c || rotate) {
		if (j->nchunks == j->chunks_cap) {
			size_t nc = j->chunks_cap ? j->chunks_cap * 2 : 4;
			struct pend_chunk *nv = realloc(j->chunks, nc * sizeof(*nv));
			if (!nv)
				return GW_ENOMEM;
			j->chunks = nv;
			j->chunks_cap = nc;
		}
		c = &j->chunks[j->nchunks++];
		c->seg = rotate ? at.seg + 1 : at.seg;
		c->off = rotate ? AUDIT_JOURNAL_SEG_HDR : at.off;
		c->boff = j->len;
		c->len = 0;
	}
	uint8_t *p = j->buf + j->len;
	put_be32(p, (uint32_t)len);
	put_be32(p + 4, audit_crc32c(0, payload, len));
	memcpy(p + AUDIT_JOURNAL_FRAME_HDR, payload, len);
	j->len += f;
	c->len += f;
	j->pend_frames++;
	return 0;
}

size_t audit_journal_pending(const struct audit_journal *j)
{
	return j->pend_frames;
}

static void pending_clear(struct audit_journal *j)
{
	j->len = 0;
	j->nchunks = 0;
	j->pend_frames = 0;
}

/* Undo a failed commit: truncate the start segment, remove segments created. */
static void rollback(struct audit_journal *j, uint64_t seg0, uint64_t off0, int fd0)
{
	char path[4096];
	for (uint64_t s = j->seg; s > seg0; s--) {
		seg_path(path, sizeof(path), j->dir, s);
		struct stat st;
		if (stat(path, &st) == 0)
			atomic_fetch_sub(&j->total, (uint64_t)st.st_size);
		unlink(path);
	}
	if (j->fd >= 0 && j->fd != fd0)
		close(j->fd);
	j->fd = fd0;
	j->seg = seg0;
	if (ftruncate(fd0, (off_t)off0) < 0 || fdatasync(fd0) < 0 || fsync(j->dirfd) < 0)
		j->broken = true;
	j->off = off0;
}

int audit_journal_commit(struct audit_journal *j)
{
	if (j->broken) {
		pending_clear(j);
		return GW_EIO;
	}
	if (!j->nchunks)
		return 0;
	uint64_t seg0 = j->seg, off0 = j->off;
	int fd0 = j->fd;
	uint64_t added = 0;
	int rc = 0;
	for (size_t i = 0; i < j->nchunks && !rc; i++) {
		struct pend_chunk *c = &j->chunks[i];
		if (c->seg != j->seg) {
			/* Rotation: the finished segment must be durable before the next. */
			if (fdatasync(j->fd) < 0) {
				rc = err_from_errno(errno);
				break;
			}
			int nfd;
			rc = seg_create(j, c->seg, &nfd);
			if (rc)
				break;
			if (j->fd != fd0)
				close(j->fd);
			j->fd = nfd;
			j->seg = c->seg;
			j->off = AUDIT_JOURNAL_SEG_HDR;
			atomic_fetch_add(&j->total, AUDIT_JOURNAL_SEG_HDR);
		}
		rc = write_all(j->fd, j->buf + c->boff, c->len, (off_t)j->off);
		if (!rc) {
			j->off += c->len;
			added += c->len;
		}
	}
	if (!rc && fdatasync(j->fd) < 0)
		rc = err_from_errno(errno);
	if (rc) {
		rollback(j, seg0, off0, fd0);
		pending_clear(j);
		return rc;
	}
	if (j->fd != fd0)
		close(fd0);
	atomic_fetch_add(&j->total, added);
	pthread_mutex_lock(&j->mu);
	j->durable = (struct audit_jpos){j->seg, j->off};
	pthread_mutex_unlock(&j->mu);
	pending_clear(j);
	return 0;
}

struct audit_jpos audit_journal_durable_end(struct audit_journal *j)
{
	pthread_mutex_lock(&j->mu);
	struct audit_jpos p = j->durable;
	pthread_mutex_unlock(&j->mu);
	return p;
}

uint64_t audit_journal_bytes(struct audit_journal *j)
{
	return atomic_load(&j->total);
}

uint64_t audit_journal_first_seg(struct audit_journal *j)
{
	pthread_mutex_lock(&j->mu);
	uint64_t s = j->first_seg;
	pthread_mutex_unlock(&j->mu);
	return s;
}

const char *audit_journal_dir(const struct audit_journal *j)
{
	return j->dir;
}

int audit_journal_trim(struct audit_journal *j, uint64_t seg)
{
	pthread_mutex_lock(&j->mu);
	uint64_t active = j->durable.seg;
	uint64_t first = j->first_seg;
	int removed = 0;
	char path[4096];
	for (uint64_t s = first; s < seg && s < active; s++) {
		seg_path(path, sizeof(path), j->dir, s);
		struct stat st;
		if (stat(path, &st) == 0)
			atomic_fetch_sub(&j->total, (uint64_t)st.st_size);
		if (unlink(path) < 0 && errno != ENOENT)
			break;
		j->first_seg = s + 1;
		removed++;
	}
	pthread_mutex_unlock(&j->mu);
	if (removed)
		(void)fsync(j->dirfd);
	return removed;
}

/* --- reader ---------------------------------------------------------------------- */

#define RD_BUF (1u << 20)

struct audit_jreader {
	char *dir;
	int fd;
	struct audit_jpos pos;
	uint8_t *buf;     /* window of the file */
	size_t cap;
	uint64_t win_off; /* file offset of buf[0] */
	size_t win_len;
};

static int rd_open_seg(struct audit_jreader *r, uint64_t seg)
{
	if (r->fd >= 0)
		close(r->fd);
	char path[4096];
	seg_path(path, sizeof(path), r->dir, seg);
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	r->win_len = 0;
	r->win_off = 0;
	return r->fd < 0 ? GW_EIO : 0;
}

int audit_jreader_open(const char *dir, struct audit_jpos from, struct audit_jreader **out)
{
	struct audit_jreader *r = calloc(1, sizeof(*r));
	if (!r || !(r->dir = strdup(dir)) || !(r->buf = malloc(RD_BUF + AUDIT_JOURNAL_MAX_PAYLOAD +
								   AUDIT_JOURNAL_FRAME_HDR))) {
		if (r)
			free(r->dir);
		free(r);
		return GW_ENOMEM;
	}
	r->cap = RD_BUF + AUDIT_JOURNAL_MAX_PAYLOAD + AUDIT_JOURNAL_FRAME_HDR;
	r->fd = -1;
	if (from.off < AUDIT_JOURNAL_SEG_HDR)
		from.off = AUDIT_JOURNAL_SEG_HDR;
	r->pos = from;
	*out = r;
	return 0;
}

void audit_jreader_close(struct audit_jreader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	free(r->dir);
	free(r);
}

/* Make [off, off+n) of the current segment available in the window; @return the
 * number of bytes available from off (may be < n at end of file). */
static ssize_t rd_fill(struct audit_jreader *r, uint64_t off, size_t n)
{
	if (off >= r->win_off && off + n <= r->win_off + r->win_len)
		return (ssize_t)n;
	size_t want = n > RD_BUF ? n : RD_BUF;
	if (want > r->cap)
		want = r->cap;
	size_t got = 0;
	while (got < want) {
		ssize_t rr = pread(r->fd, r->buf + got, want - got, (off_t)(off + got));
		if (rr < 0 && errno == EINTR)
			continue;
		if (rr < 0)
			return GW_EIO;
		if (rr == 0)
			break;
		got += (size_t)rr;
	}
	r->win_off = off;
	r->win_len = got;
	return (ssize_t)(got < n ? got : n);
}

int audit_jreader_next(struct audit_jreader *r, struct audit_jpos limit, const uint8_t **payload,
		       size_t *len, struct audit_jpos *at, struct audit_jpos *after)
{
	for (;;) {
		if (audit_jpos_cmp(r->pos, limit) >= 0)
			return 0;
		if (r->fd < 0 && rd_open_seg(r, r->pos.seg))
			return GW_EIO;
		ssize_t got = rd_fill(r, r->pos.off, AUDIT_JOURNAL_FRAME_HDR);
		if (got < 0)
			return GW_EIO;
		if (got == 0 && r->pos.seg < limit.seg) {
			/* End of a finished segment: go on with the next one. */
			r->pos.seg++;
			r->pos.off = AUDIT_JOURNAL_SEG_HDR;
			close(r->fd);
			r->fd = -1;
			continue;
		}
		if (got < AUDIT_JOURNAL_FRAME_HDR)
			return GW_EIO;
		const uint8_t *h = r->buf + (r->pos.off - r->win_off);
		uint32_t l = get_be32(h), crc = get_be32(h + 4);
		if (l == 0 || l > AUDIT_JOURNAL_MAX_PAYLOAD)
			return GW_EIO;
		got = rd_fill(r, r->pos.off, AUDIT_JOURNAL_FRAME_HDR + l);
		if (got < (ssize_t)(AUDIT_JOURNAL_FRAME_HDR + l))
			return GW_EIO;
		const uint8_t *p = r->buf + (r->pos.off - r->win_off) + AUDIT_JOURNAL_FRAME_HDR;
		if (audit_crc32c(0, p, l) != crc)
			return GW_EIO;
		*payload = p;
		*len = l;
		if (at)
			*at = r->pos;
		r->pos.off += AUDIT_JOURNAL_FRAME_HDR + l;
		if (after)
			*after = r->pos;
		return 1;
	}
}
