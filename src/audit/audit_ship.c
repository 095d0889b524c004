/* The shipper: journal -> PostgreSQL in batches, on its own thread and
 * connection. See audit_ship.h. */
#include "ussdgw/audit_ship.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "ussdgw/audit_chain.h"
#include "ussdgw/audit_journal.h"
#include "ussdgw/clock.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"

#define LAT_MAX 4096
#define KEYS_PER_STMT 1000

struct sbuf {
	char *p;
	size_t len, cap;
};

static int sb_reserve(struct sbuf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t nc = b->cap ? b->cap : 65536;
	while (nc < b->len + more)
		nc *= 2;
	char *np = realloc(b->p, nc);
	if (!np)
		return GW_ENOMEM;
	b->p = np;
	b->cap = nc;
	return 0;
}

static void sb_add(struct sbuf *b, const void *d, size_t n)
{
	if (sb_reserve(b, n))
		return;
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* COPY text format: escape backslash and the control characters it reserves. */
static void sb_copy_text(struct sbuf *b, const char *s, size_t n)
{
	if (sb_reserve(b, 2 * n))
		return;
	char *o = b->p + b->len;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		switch (c) {
		case '\\': *o++ = '\\'; *o++ = '\\'; break;
		case '\n': *o++ = '\\'; *o++ = 'n'; break;
		case '\r': *o++ = '\\'; *o++ = 'r'; break;
		case '\t': *o++ = '\\'; *o++ = 't'; break;
		default: *o++ = c;
		}
	}
	b->len = (size_t)(o - b->p);
}

static void sb_copy_bytea(struct sbuf *b, const uint8_t *p, size_t n)
{
	char hx[2 * 64 + 1];
	sb_add(b, "\\\\x", 3);
	audit_hex(p, n, hx);
	sb_add(b, hx, 2 * n);
}

/* Microseconds since the epoch as a timestamptz literal (UTC). */
static void fmt_ts(int64_t us, char out[64])
{
	int64_t s = us / 1000000, f = us % 1000000;
	if (f < 0) {
		f += 1000000;
		s -= 1;
	}
	time_t t = (time_t)s;
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, 64, "%04d-%02d-%02d %02d:%02d:%02d.%06" PRId64 "+00", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, f);
}

struct key_row {
	char token[AUDIT_TOKEN_HEX + 1];
	char key_id[AUDIT_KEYID_HEX + 1];
	uint8_t wrapped[AUDIT_WRAPPED_LEN];
	int64_t created_us;
};

struct audit_shipper {
	char *dsn, *chain;
	struct audit_journal *j;
	unsigned batch, retry_min, retry_max, idle_poll;

	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;   /* kicks and stop */
	pthread_cond_t prog; /* progress (wait_idle) */
	bool stop, kicked;
	uint64_t stop_deadline_ns;

	PGconn *conn;
	struct audit_jpos pos; /* committed up to here */
	struct audit_jreader *rd;

	/* the batch being shipped */
	bool ready;
	struct sbuf copy;
	size_t nrec;
	uint64_t seq_lo, seq_hi;
	bool multi_chain;
	char first_chain[AUDIT_CHAIN_MAX + 1];
	struct sbuf raw; /* the batch's record payloads, for the slow path */
	struct rec_ref {
		size_t off, len;
	} *recs;
	size_t recs_cap;
	struct key_row *keys;
	size_t nkeys, keys_cap;
	struct audit_entry *cps;
	size_t ncps, cps_cap;
	struct audit_jpos end;
	int64_t first_occurred;

	_Atomic uint64_t shipped, committed, replays, conflicts, alarms, batches, failures;
	_Atomic uint64_t committed_seq;
	void (*on_commit)(void *cls, uint64_t seq);
	void *on_commit_cls;
	_Atomic int64_t oldest;
	_Atomic bool up;
	double lat[LAT_MAX];
	size_t nlat;
};

static uint64_t mono_ns(void)
{
	return gw_mono_ns();
}

static void notice_cb(void *cls, const char *msg)
{
	struct audit_shipper *s = cls;
	if (strstr(msg, "USSDGW-ALARM")) {
		atomic_fetch_add(&s->alarms, 1);
		size_t n = strlen(msg);
		LOGP(DAUDIT, LOG_ERROR, "database alarm: %.*s", (int)(n && msg[n - 1] == '\n' ? n - 1 : n),
		     msg);
	}
}

static void disconnect(struct audit_shipper *s)
{
	if (s->conn)
		PQfinish(s->conn);
	s->conn = NULL;
	atomic_store(&s->up, false);
}

static int connect_pg(struct audit_shipper *s)
{
	const char *kw[] = {"dbname", "connect_timeout", "tcp_user_timeout", "keepalives_idle",
			    "keepalives_interval", "keepalives_count", "application_name", NULL};
	const char *val[] = {s->dsn, "3", "10000", "5", "2", "3", "ussdgw-audit-shipper", NULL};
	s->conn = PQconnectdbParams(kw, val, 1);
	if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
		char m[256] = "out of memory";
		if (s->conn)
			snprintf(m, sizeof(m), "%s", PQerrorMessage(s->conn));
		m[strcspn(m, "\n")] = 0;
		LOGP(DAUDIT, LOG_WARN, "shipper: PostgreSQL unreachable: %s", m);
		disconnect(s);
		return GW_EDEPENDENCY;
	}
	PQsetNoticeProcessor(s->conn, notice_cb, s);
	LOGP(DAUDIT, LOG_INFO, "shipper: connected to PostgreSQL");
	return 0;
}

/* --- reading a batch from the journal ----------------------------------------- */

static void batch_reset(struct audit_shipper *s)
{
	s->ready = false;
	s->copy.len = 0;
	s->raw.len = 0;
	s->nrec = 0;
	s->nkeys = 0;
	s->ncps = 0;
	s->multi_chain = false;
	s->first_chain[0] = 0;
	s->first_occurred = 0;
}

static void add_record(struct audit_shipper *s, const struct audit_entry *e)
{
	struct sbuf *b = &s->copy;
	char num[32], ts[64];
	sb_copy_text(b, e->chain, strlen(e->chain));
	snprintf(num, sizeof(num), "\t%" PRIu64 "\t", e->seq);
	sb_str(b, num);
	fmt_ts(e->occurred_us, ts);
	sb_str(b, ts);
	sb_add(b, "\t", 1);
	sb_copy_text(b, (const char *)e->body, e->body_len);
	sb_add(b, "\t", 1);
	sb_copy_bytea(b, e->prev, 32);
	sb_add(b, "\t", 1);
	sb_copy_bytea(b, e->hash, 32);
	for (int i = 0; i < AUDIT_IDX_COUNT; i++) {
		sb_add(b, "\t", 1);
		if (e->idx_len[i] || i == AUDIT_IDX_KIND)
			sb_copy_text(b, e->idx[i] ? e->idx[i] : "", e->idx_len[i]);
		else
			sb_add(b, "\\N", 2);
	}
	sb_add(b, "\n", 1);
	if (!s->nrec) {
		snprintf(s->first_chain, sizeof(s->first_chain), "%s", e->chain);
		s->seq_lo = s->seq_hi = e->seq;
		s->first_occurred = e->occurred_us;
	} else {
		if (strcmp(s->first_chain, e->chain) != 0)
			s->multi_chain = true;
		if (e->seq < s->seq_lo)
			s->seq_lo = e->seq;
		if (e->seq > s->seq_hi)
			s->seq_hi = e->seq;
	}
	s->nrec++;
}

/* Fill the batch from the journal. @return entries read (0 = nothing new) or <0. */
static int read_batch(struct audit_shipper *s)
{
	struct audit_jpos limit = audit_journal_durable_end(s->j);
	if (audit_jpos_cmp(s->pos, limit) >= 0)
		return 0;
	if (!s->rd && audit_jreader_open(audit_journal_dir(s->j), s->pos, &s->rd))
		return GW_ENOMEM;
	batch_reset(s);
	s->end = s->pos;
	unsigned n = 0;
	const uint8_t *p;
	size_t len;
	struct audit_jpos at, after;
	int rc;
	while (n < s->batch && (rc = audit_jreader_next(s->rd, limit, &p, &len, &at, &after)) == 1) {
		struct audit_entry e;
		s->end = after;
		n++;
		if (audit_entry_decode(p, len, &e)) {
			LOGP(DAUDIT, LOG_ERROR, "shipper: undecodable journal entry at %016" PRIx64 ":%" PRIu64
			     " skipped", at.seg, at.off);
			continue;
		}
		switch (e.type) {
		case AUDIT_ENT_RECORD:
			if (s->nrec == s->recs_cap) {
				size_t nc = s->recs_cap ? s->recs_cap * 2 : 1024;
				struct rec_ref *nr = realloc(s->recs, nc * sizeof(*nr));
				if (!nr)
					return GW_ENOMEM;
				s->recs = nr;
				s->recs_cap = nc;
			}
			s->recs[s->nrec] = (struct rec_ref){s->raw.len, len};
			sb_add(&s->raw, p, len);
			add_record(s, &e);
			break;
		case AUDIT_ENT_KEY:
			if (s->nkeys == s->keys_cap) {
				size_t nc = s->keys_cap ? s->keys_cap * 2 : 64;
				struct key_row *nk = realloc(s->keys, nc * sizeof(*nk));
				if (!nk)
					return GW_ENOMEM;
				s->keys = nk;
				s->keys_cap = nc;
			}
			struct key_row *k = &s->keys[s->nkeys++];
			memcpy(k->token, e.token, sizeof(k->token));
			memcpy(k->key_id, e.key_id, sizeof(k->key_id));
			memcpy(k->wrapped, e.wrapped, sizeof(k->wrapped));
			k->created_us = e.created_us;
			break;
		case AUDIT_ENT_CHECKPOINT:
			if (s->ncps == s->cps_cap) {
				size_t nc = s->cps_cap ? s->cps_cap * 2 : 8;
				struct audit_entry *ne = realloc(s->cps, nc * sizeof(*ne));
				if (!ne)
					return GW_ENOMEM;
				s->cps = ne;
				s->cps_cap = nc;
			}
			s->cps[s->ncps++] = e;
			break;
		case AUDIT_ENT_HEAD:
			break;
		}
	}
	if (rc < 0 && n == 0) {
		LOGP(DAUDIT, LOG_ERROR, "shipper: cannot read the journal at %016" PRIx64 ":%" PRIu64,
		     s->pos.seg, s->pos.off);
		audit_jreader_close(s->rd);
		s->rd = NULL;
		return GW_EIO;
	}
	s->ready = true;
	if (s->nrec)
		atomic_store(&s->oldest, s->first_occurred);
	return (int)n;
}

/* --- one transaction --------------------------------------------------------------- */

/* @return 0, GW_EDEPENDENCY (connection lost), GW_EIO (SQL error), GW_ECONFLICT (rows stored). */
static int res_ok(struct audit_shipper *s, PGresult *r, ExecStatusType want, const char *what)
{
	ExecStatusType st = PQresultStatus(r);
	if (st == want)
		return 0;
	const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	char m[512];
	snprintf(m, sizeof(m), "%s", PQresultErrorMessage(r));
	m[strcspn(m, "\n")] = 0;
	if (PQstatus(s->conn) != CONNECTION_OK) {
		LOGP(DAUDIT, LOG_WARN, "shipper: connection lost during %s: %s", what, m);
		return GW_EDEPENDENCY;
	}
	if (code && strcmp(code, "23505") == 0)
		return GW_ECONFLICT;
	LOGP(DAUDIT, LOG_ERROR, "shipper: %s failed: %s (%s)", what, m, code ? code : "-");
	return GW_EIO;
}

static int exec_simple(struct audit_shipper *s, const char *sql, ExecStatusType want)
{
	PGresult *r = PQexec(s->conn, sql);
	int rc = res_ok(s, r, want, sql);
	PQclear(r);
	return rc;
}

static int copy_in(struct audit_shipper *s, const char *sql)
{
	PGresult *r = PQexec(s->conn, sql);
	int rc = res_ok(s, r, PGRES_COPY_IN, "COPY");
	PQclear(r);
	if (rc)
		return rc;
	if (PQputCopyData(s->conn, s->copy.p, (int)s->copy.len) != 1 ||
	    PQputCopyEnd(s->conn, NULL) != 1) {
		disconnect(s);
		return GW_EDEPENDENCY;
	}
	rc = 0;
	while ((r = PQgetResult(s->conn))) {
		int r2 = res_ok(s, r, PGRES_COMMAND_OK, "COPY");
		if (r2 && !rc)
			rc = r2;
		PQclear(r);
	}
	return rc;
}

static int insert_keys(struct audit_shipper *s)
{
	for (size_t base = 0; base < s->nkeys; base += KEYS_PER_STMT) {
		size_t n = s->nkeys - base < KEYS_PER_STMT ? s->nkeys - base : KEYS_PER_STMT;
		struct sbuf q = {0};
		sb_str(&q, "INSERT INTO audit_subscriber_key (msisdn_token, key_id, wrapped, created) VALUES ");
		const char **vals = calloc(4 * n, sizeof(*vals));
		int *lens = calloc(4 * n, sizeof(*lens));
		int *fmts = calloc(4 * n, sizeof(*fmts));
		char (*ts)[64] = calloc(n, sizeof(*ts));
		if (!vals || !lens || !fmts || !ts) {
			free(vals), free(lens), free(fmts), free(ts), free(q.p);
			return GW_ENOMEM;
		}
		for (size_t i = 0; i < n; i++) {
			struct key_row *k = &s->keys[base + i];
			char ph[96];
			snprintf(ph, sizeof(ph), "%s($%zu,$%zu,$%zu,$%zu)", i ? "," : "", 4 * i + 1,
				 4 * i + 2, 4 * i + 3, 4 * i + 4);
			sb_str(&q, ph);
			fmt_ts(k->created_us, ts[i]);
			vals[4 * i] = k->token;
			vals[4 * i + 1] = k->key_id;
			vals[4 * i + 2] = (const char *)k->wrapped;
			lens[4 * i + 2] = AUDIT_WRAPPED_LEN;
			fmts[4 * i + 2] = 1;
			vals[4 * i + 3] = ts[i];
		}
		sb_str(&q, " ON CONFLICT DO NOTHING");
		sb_add(&q, "", 1);
		PGresult *r = PQexecParams(s->conn, q.p, (int)(4 * n), NULL, vals, lens, fmts, 0);
		int rc = res_ok(s, r, PGRES_COMMAND_OK, "INSERT audit_subscriber_key");
		PQclear(r);
		free(vals), free(lens), free(fmts), free(ts), free(q.p);
		if (rc)
			return rc;
	}
	return 0;
}

static int insert_checkpoints(struct audit_shipper *s)
{
	for (size_t i = 0; i < s->ncps; i++) {
		struct audit_entry *c = &s->cps[i];
		char seq[24], at[24], ts[64];
		snprintf(seq, sizeof(seq), "%" PRIu64, c->seq);
		snprintf(at, sizeof(at), "%" PRId64, c->signed_at_us);
		fmt_ts(c->signed_at_us, ts);
		const char *vals[6] = {c->chain, seq, (const char *)c->hash, ts, at, (const char *)c->sig};
		int lens[6] = {0, 0, AUDIT_HASH_LEN, 0, 0, AUDIT_SIG_LEN};
		int fmts[6] = {0, 0, 1, 0, 0, 1};
		PGresult *r = PQexecParams(s->conn,
					   "INSERT INTO audit_checkpoint (chain, seq, hash, signed_at, "
					   "signed_at_us, sig) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING",
					   6, NULL, vals, lens, fmts, 0);
		int rc = res_ok(s, r, PGRES_COMMAND_OK, "INSERT audit_checkpoint");
		PQclear(r);
		if (rc)
			return rc;
	}
	return 0;
}

#define COLS "(chain, seq, occurred, body, prev_hash, hash, kind, session_id, payment_id, msisdn_token)"

/* Rows already stored for this batch's sequence numbers? */
static int range_taken(struct audit_shipper *s, bool *taken)
{
	if (!s->nrec || s->multi_chain) {
		*taken = s->nrec > 0;
		return 0;
	}
	char lo[24], hi[24];
	snprintf(lo, sizeof(lo), "%" PRIu64, s->seq_lo);
	snprintf(hi, sizeof(hi), "%" PRIu64, s->seq_hi);
	const char *v[3] = {s->first_chain, lo, hi};
	PGresult *r = PQexecParams(s->conn,
				   "SELECT EXISTS (SELECT 1 FROM audit WHERE chain = $1 AND seq BETWEEN $2 AND $3)",
				   3, NULL, v, NULL, NULL, 0);
	int rc = res_ok(s, r, PGRES_TUPLES_OK, "range check");
	if (!rc)
		*taken = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	return rc;
}

/* The slow path, record by record (the gateway's role may not create temporary
 * tables): insert what is new, ignore byte-identical replays, keep the
 * different ones in audit_conflict and alarm. */
static int ship_rowwise(struct audit_shipper *s, uint64_t *inserted)
{
	uint64_t ins = 0, same = 0, diff = 0;
	for (size_t i = 0; i < s->nrec; i++) {
		struct audit_entry e;
		if (audit_entry_decode((const uint8_t *)s->raw.p + s->recs[i].off, s->recs[i].len, &e))
			continue;
		char seq[24], ts[64], *idx[AUDIT_IDX_COUNT];
		snprintf(seq, sizeof(seq), "%" PRIu64, e.seq);
		fmt_ts(e.occurred_us, ts);
		for (int k = 0; k < AUDIT_IDX_COUNT; k++)
			idx[k] = e.idx_len[k] || k == AUDIT_IDX_KIND ? strndup(e.idx[k] ? e.idx[k] : "", e.idx_len[k])
								      : NULL;
		char *body = strndup((const char *)e.body, e.body_len);
		const char *v[10] = {e.chain, seq, ts, body, (const char *)e.prev, (const char *)e.hash,
				     idx[0], idx[1], idx[2], idx[3]};
		int lens[10] = {0, 0, 0, 0, 32, 32, 0, 0, 0, 0};
		int fmts[10] = {0, 0, 0, 0, 1, 1, 0, 0, 0, 0};
		PGresult *r = PQexecParams(s->conn,
					   "INSERT INTO audit " COLS " SELECT $1, $2::bigint, $3::timestamptz, $4, "
					   "$5::bytea, $6::bytea, $7, $8, $9, $10 WHERE NOT EXISTS (SELECT 1 FROM "
					   "audit WHERE chain = $1 AND seq = $2::bigint)",
					   10, NULL, v, lens, fmts, 0);
		int rc = res_ok(s, r, PGRES_COMMAND_OK, "insert");
		bool added = !rc && strcmp(PQcmdTuples(r), "1") == 0;
		PQclear(r);
		if (!rc && added)
			ins++;
		if (!rc && !added) {
			r = PQexecParams(s->conn,
					 "SELECT bool_and(occurred = $3::timestamptz AND body = $4 AND prev_hash = "
					 "$5::bytea AND hash = $6::bytea) FROM audit WHERE chain = $1 AND seq = $2::bigint",
					 6, NULL, v, lens, fmts, 0);
			rc = res_ok(s, r, PGRES_TUPLES_OK, "replay check");
			bool identical = !rc && PQgetvalue(r, 0, 0)[0] == 't';
			PQclear(r);
			if (!rc && identical) {
				same++;
			} else if (!rc) {
				r = PQexecParams(s->conn,
						 "INSERT INTO audit_conflict (chain, seq, occurred, body, prev_hash, "
						 "hash) VALUES ($1, $2::bigint, $3::timestamptz, $4, $5::bytea, $6::bytea)",
						 6, NULL, v, lens, fmts, 0);
				rc = res_ok(s, r, PGRES_COMMAND_OK, "insert audit_conflict");
				PQclear(r);
				if (!rc) {
					diff++;
					LOGP(DAUDIT, LOG_ERROR,
					     "ALARM audit conflict: chain %s seq %s: a different record is stored "
					     "under this key; the journal's record was refused and kept in "
					     "audit_conflict", e.chain, seq);
				}
			}
		}
		free(body);
		for (int k = 0; k < AUDIT_IDX_COUNT; k++)
			free(idx[k]);
		if (rc)
			return rc;
	}
	*inserted = ins;
	atomic_fetch_add(&s->conflicts, diff);
	atomic_fetch_add(&s->replays, same);
	if (same)
		LOGP(DAUDIT, LOG_NOTICE, "shipper: %" PRIu64 " replayed records already stored, ignored", same);
	return 0;
}

static int ship_batch(struct audit_shipper *s)
{
	uint64_t t0 = mono_ns();
	int rc = exec_simple(s, "BEGIN", PGRES_COMMAND_OK);
	bool taken = false;
	uint64_t inserted = s->nrec;
	if (!rc)
		rc = range_taken(s, &taken);
	if (!rc && s->nrec) {
		if (taken)
			rc = ship_rowwise(s, &inserted);
		else
			rc = copy_in(s, "COPY audit " COLS " FROM STDIN");
	}
	if (!rc)
		rc = insert_keys(s);
	if (!rc)
		rc = insert_checkpoints(s);
	if (!rc)
		rc = exec_simple(s, "COMMIT", PGRES_COMMAND_OK);
	if (rc) {
		if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
			exec_simple(s, "ROLLBACK", PGRES_COMMAND_OK);
		if (rc == GW_ECONFLICT) {
			/* A row appeared between the check and the COPY: go the slow way. */
			rc = exec_simple(s, "BEGIN", PGRES_COMMAND_OK);
			if (!rc)
				rc = ship_rowwise(s, &inserted);
			if (!rc)
				rc = insert_keys(s);
			if (!rc)
				rc = insert_checkpoints(s);
			if (!rc)
				rc = exec_simple(s, "COMMIT", PGRES_COMMAND_OK);
			if (rc && s->conn && PQstatus(s->conn) == CONNECTION_OK)
				exec_simple(s, "ROLLBACK", PGRES_COMMAND_OK);
		}
	}
	atomic_fetch_add(&s->shipped, s->nrec);
	if (rc)
		return rc;
	atomic_fetch_add(&s->committed, inserted);
	atomic_fetch_add(&s->batches, 1);
	double lat = (double)(mono_ns() - t0) / 1e9;
	pthread_mutex_lock(&s->mu);
	if (s->nlat < LAT_MAX)
		s->lat[s->nlat++] = lat;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* --- the shipped position ----------------------------------------------------------- */

static void pos_path(struct audit_shipper *s, char *buf, size_t n, const char *suffix)
{
	snprintf(buf, n, "%s/shipped%s", audit_journal_dir(s->j), suffix);
}

static void pos_load(struct audit_shipper *s)
{
	char p[4096];
	pos_path(s, p, sizeof(p), "");
	uint64_t first = audit_journal_first_seg(s->j);
	s->pos = (struct audit_jpos){first, AUDIT_JOURNAL_SEG_HDR};
	FILE *f = fopen(p, "r");
	if (!f)
		return;
	uint64_t seg, off;
	if (fscanf(f, "%" SCNu64 " %" SCNu64, &seg, &off) == 2 && seg >= first &&
	    audit_jpos_cmp((struct audit_jpos){seg, off}, audit_journal_durable_end(s->j)) <= 0)
		s->pos = (struct audit_jpos){seg, off};
	fclose(f);
}

/* Not fsynced on purpose: after a crash the shipper at worst re-sends records,
 * which are recognised as byte-identical replays. */
static void pos_save(struct audit_shipper *s)
{
	char p[4096], t[4096];
	pos_path(s, p, sizeof(p), "");
	pos_path(s, t, sizeof(t), ".tmp");
	FILE *f = fopen(t, "w");
	if (!f)
		return;
	fprintf(f, "%" PRIu64 " %" PRIu64 "\n", s->pos.seg, s->pos.off);
	if (fclose(f) == 0)
		rename(t, p);
}

/* --- the thread -------------------------------------------------------------------- */

/* Wait @p ms or until stopped; kicks end the wait only when @p kicks is set (idle
 * polling), not during a back-off after a failure. */
static void timed_wait_k(struct audit_shipper *s, unsigned ms, bool kicks)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	while (!(kicks && s->kicked) && !s->stop)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT)
			break;
	if (kicks)
		s->kicked = false;
	pthread_mutex_unlock(&s->mu);
}

static void timed_wait(struct audit_shipper *s, unsigned ms)
{
	timed_wait_k(s, ms, true);
}

static void backoff(struct audit_shipper *s, unsigned ms)
{
	timed_wait_k(s, ms, false);
}

static bool stopping(struct audit_shipper *s, bool *past_deadline)
{
	pthread_mutex_lock(&s->mu);
	bool st = s->stop;
	uint64_t dl = s->stop_deadline_ns;
	pthread_mutex_unlock(&s->mu);
	*past_deadline = st && mono_ns() >= dl;
	return st;
}

static void *ship_thread(void *arg)
{
	struct audit_shipper *s = arg;
	unsigned delay = s->retry_min;
	for (;;) {
		bool late;
		bool st = stopping(s, &late);
		if (late)
			break;
		if (!s->ready) {
			int n = read_batch(s);
			if (n == 0) {
				atomic_store(&s->oldest, 0);
				pthread_mutex_lock(&s->mu);
				pthread_cond_broadcast(&s->prog);
				pthread_mutex_unlock(&s->mu);
				if (st)
					break;
				timed_wait(s, s->idle_poll);
				continue;
			}
			if (n < 0) {
				backoff(s, delay);
				continue;
			}
		}
		if (!s->conn) {
			if (st || connect_pg(s)) {
				if (st)
					break;
				atomic_fetch_add(&s->failures, 1);
				backoff(s, delay);
				delay = delay * 2 > s->retry_max ? s->retry_max : delay * 2;
				continue;
			}
		}
		int rc = (s->nrec || s->nkeys || s->ncps) ? ship_batch(s) : 0;
		if (rc) {
			atomic_fetch_add(&s->failures, 1);
			atomic_store(&s->up, false);
			if (rc == GW_EDEPENDENCY || !s->conn || PQstatus(s->conn) != CONNECTION_OK)
				disconnect(s);
			if (st)
				break;
			backoff(s, delay);
			delay = delay * 2 > s->retry_max ? s->retry_max : delay * 2;
			continue;
		}
		delay = s->retry_min;
		atomic_store(&s->up, true);
		s->ready = false;
		if (s->nrec && s->seq_hi > atomic_load(&s->committed_seq)) {
			atomic_store(&s->committed_seq, s->seq_hi);
			if (s->on_commit)
				s->on_commit(s->on_commit_cls, s->seq_hi);
		}
		pthread_mutex_lock(&s->mu);
		s->pos = s->end;
		pthread_cond_broadcast(&s->prog);
		pthread_mutex_unlock(&s->mu);
		pos_save(s);
		/* Keep the segment being written and the one before it: the chain head
		 * always stays in the journal (recovery continues the chain from it). */
		struct audit_jpos dur = audit_journal_durable_end(s->j);
		uint64_t keep = dur.seg > 1 ? dur.seg - 1 : 1;
		audit_journal_trim(s->j, s->pos.seg < keep ? s->pos.seg : keep);
	}
	disconnect(s);
	return NULL;
}

int audit_ship_start(const struct audit_ship_opts *o, struct audit_shipper **out)
{
	if (!o || !o->dsn || !o->chain || !o->journal)
		return GW_EINVAL;
	struct audit_shipper *s = calloc(1, sizeof(*s));
	if (!s)
		return GW_ENOMEM;
	s->dsn = strdup(o->dsn);
	s->chain = strdup(o->chain);
	if (!s->dsn || !s->chain) {
		free(s->dsn);
		free(s->chain);
		free(s);
		return GW_ENOMEM;
	}
	s->j = o->journal;
	s->batch = o->batch_size ? o->batch_size : 1000;
	s->retry_min = o->retry_min_ms ? o->retry_min_ms : 200;
	s->retry_max = o->retry_max_ms ? o->retry_max_ms : 5000;
	s->idle_poll = o->idle_poll_ms ? o->idle_poll_ms : 1000;
	s->on_commit = o->on_commit;
	s->on_commit_cls = o->on_commit_cls;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&s->prog, NULL);
	pos_load(s);
	if (pthread_create(&s->th, NULL, ship_thread, s)) {
		free(s->dsn);
		free(s->chain);
		free(s);
		return GW_ENOMEM;
	}
	*out = s;
	return 0;
}

void audit_ship_kick(struct audit_shipper *s)
{
	pthread_mutex_lock(&s->mu);
	s->kicked = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void audit_ship_stop(struct audit_shipper *s, unsigned deadline_ms)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	s->stop_deadline_ns = mono_ns() + (uint64_t)deadline_ms * 1000000ull;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	audit_jreader_close(s->rd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->prog);
	free(s->copy.p);
	free(s->raw.p);
	free(s->recs);
	free(s->keys);
	free(s->cps);
	free(s->dsn);
	free(s->chain);
	free(s);
}

uint64_t audit_ship_committed_seq(struct audit_shipper *s)
{
	return atomic_load(&s->committed_seq);
}

void audit_ship_stats(struct audit_shipper *s, struct audit_ship_stats *o)
{
	o->shipped = atomic_load(&s->shipped);
	o->committed = atomic_load(&s->committed);
	o->replays = atomic_load(&s->replays);
	o->conflicts = atomic_load(&s->conflicts);
	o->alarms = atomic_load(&s->alarms);
	o->batches = atomic_load(&s->batches);
	o->failures = atomic_load(&s->failures);
	o->oldest_unshipped_us = atomic_load(&s->oldest);
	o->up = atomic_load(&s->up);
}

size_t audit_ship_take_latencies(struct audit_shipper *s, double *out, size_t max)
{
	pthread_mutex_lock(&s->mu);
	size_t n = s->nlat < max ? s->nlat : max;
	memcpy(out, s->lat, n * sizeof(*out));
	memmove(s->lat, s->lat + n, (s->nlat - n) * sizeof(*out));
	s->nlat -= n;
	pthread_mutex_unlock(&s->mu);
	return n;
}

int audit_ship_wait_idle(struct audit_shipper *s, unsigned timeout_ms)
{
	struct audit_jpos target = audit_journal_durable_end(s->j);
	uint64_t dl = mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	audit_ship_kick(s);
	pthread_mutex_lock(&s->mu);
	/* s->pos is written by the shipper thread; read under the mutex it signals with. */
	while (audit_jpos_cmp(s->pos, target) < 0) {
		if (mono_ns() >= dl) {
			pthread_mutex_unlock(&s->mu);
			return GW_ETIMEDOUT;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->prog, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	return 0;
}
