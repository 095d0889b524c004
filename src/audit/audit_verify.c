/* The verifier: recompute the chain from the table, check links, signed heads
 * (table and export file), partitions and indexed columns. See audit_verify.h. */
#include "ussdgw/audit_verify.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ussdgw/audit_chain.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"

static const char *const finding_names[AF_KIND_COUNT] = {
	[AF_CHANGED] = "changed",
	[AF_REMOVED] = "removed",
	[AF_INSERTED] = "inserted",
	[AF_PARTITION_MISSING] = "partition-missing",
	[AF_TAIL_REMOVED] = "tail-removed",
	[AF_CHECKPOINT_MISMATCH] = "checkpoint-mismatch",
	[AF_CHECKPOINT_BAD_SIG] = "checkpoint-bad-signature",
	[AF_CHECKPOINT_MISSING] = "checkpoint-missing",
	[AF_COLUMN_MISMATCH] = "column-mismatch",
	[AF_DEFAULT_ROWS] = "default-partition-rows",
};

const char *audit_finding_name(enum audit_finding_kind k)
{
	return (unsigned)k < AF_KIND_COUNT ? finding_names[k] : "unknown";
}

static void add_finding(struct audit_verify_report *rep, enum audit_finding_kind k, const char *chain,
			uint64_t seq, uint64_t seq_to, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void add_finding(struct audit_verify_report *rep, enum audit_finding_kind k, const char *chain,
			uint64_t seq, uint64_t seq_to, const char *fmt, ...)
{
	if (rep->nf == rep->cap) {
		size_t nc = rep->cap ? rep->cap * 2 : 16;
		struct audit_finding *nf = realloc(rep->f, nc * sizeof(*nf));
		if (!nf)
			return;
		rep->f = nf;
		rep->cap = nc;
	}
	struct audit_finding *f = &rep->f[rep->nf++];
	memset(f, 0, sizeof(*f));
	f->kind = k;
	snprintf(f->chain, sizeof(f->chain), "%s", chain ? chain : "");
	f->seq = seq;
	f->seq_to = seq_to;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
	va_end(ap);
}

void audit_verify_report_free(struct audit_verify_report *rep)
{
	free(rep->f);
	memset(rep, 0, sizeof(*rep));
}

const struct audit_finding *audit_verify_find(const struct audit_verify_report *rep,
					      enum audit_finding_kind kind, const char *chain)
{
	for (size_t i = 0; i < rep->nf; i++)
		if (rep->f[i].kind == kind && (!chain || strcmp(rep->f[i].chain, chain) == 0))
			return &rep->f[i];
	return NULL;
}

/* --- helpers --------------------------------------------------------------------------- */

static int bytea_parse(const char *s, uint8_t *out, size_t n)
{
	if (!s || s[0] != '\\' || s[1] != 'x')
		return GW_EINVAL;
	return audit_unhex(s + 2, out, n);
}

static void month_of(int64_t us, int *y, int *m)
{
	time_t t = (time_t)(us / 1000000 - (us % 1000000 < 0));
	struct tm tm;
	gmtime_r(&t, &tm);
	*y = tm.tm_year + 1900;
	*m = tm.tm_mon + 1;
}

static void fmt_time(int64_t us, char *out, size_t n)
{
	time_t t = (time_t)(us / 1000000 - (us % 1000000 < 0));
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct cpt {
	uint64_t seq;
	uint8_t hash[32];
	int64_t at;
	bool table, exported;
};

struct rng {
	uint64_t first, last;
	uint8_t last_hash[32];
};

struct row {
	uint64_t seq;
	int64_t occ;
	char *body;
	uint8_t prev[32], hash[32];
	char *cols[4];
	bool is_default;
};

struct walk {
	const char *chain;
	struct audit_verify_report *rep;
	struct cpt *cps;
	size_t ncps;
	struct rng *rngs;
	size_t nrngs;
	char **parts;
	size_t nparts;
	bool range_mode;
	bool started;
	uint64_t expected;
	uint8_t prev[32];
	int64_t last_occ;
	uint64_t default_rows;
	struct row grp[8];
	size_t ngrp;
};

static void row_free(struct row *r)
{
	free(r->body);
	for (int i = 0; i < 4; i++)
		free(r->cols[i]);
	memset(r, 0, sizeof(*r));
}

static bool row_selfok(const char *chain, const struct row *r)
{
	uint8_t h[32];
	audit_chain_hash(chain, r->seq, r->occ, r->prev, r->body, strlen(r->body), h);
	return memcmp(h, r->hash, 32) == 0;
}

static bool have_partition(struct walk *w, int y, int m)
{
	char name[32];
	snprintf(name, sizeof(name), "audit_%04d_%02d", y, m);
	for (size_t i = 0; i < w->nparts; i++)
		if (strcmp(w->parts[i], name) == 0)
			return true;
	return false;
}

static void gap(struct walk *w, const struct row *r)
{
	/* Ranges documented by retention, possibly several in a row. */
	bool moved = true;
	while (moved && w->expected < r->seq) {
		moved = false;
		for (size_t i = 0; i < w->nrngs; i++)
			if (w->rngs[i].first <= w->expected && w->rngs[i].last >= w->expected) {
				w->expected = w->rngs[i].last + 1;
				memcpy(w->prev, w->rngs[i].last_hash, 32);
				w->rep->retention_ranges++;
				moved = true;
			}
	}
	if (w->expected >= r->seq)
		return;
	uint64_t a = w->expected, b = r->seq - 1;
	char t1[32] = "?", t2[32];
	if (w->last_occ)
		fmt_time(w->last_occ, t1, sizeof(t1));
	fmt_time(r->occ, t2, sizeof(t2));
	add_finding(w->rep, AF_REMOVED, w->chain, a, b,
		    "records seq %" PRIu64 "..%" PRIu64 " removed (between %s and %s)", a, b, t1, t2);
	/* Which months between the neighbours have no partition any more? */
	if (w->last_occ) {
		int y, m, y2, m2;
		month_of(w->last_occ, &y, &m);
		month_of(r->occ, &y2, &m2);
		for (int guard = 0; (y < y2 || (y == y2 && m <= m2)) && guard < 1200; guard++) {
			if (!have_partition(w, y, m))
				add_finding(w->rep, AF_PARTITION_MISSING, w->chain, a, b,
					    "partition audit_%04d_%02d is gone without a retention record "
					    "(records seq %" PRIu64 "..%" PRIu64 " missing)",
					    y, m, a, b);
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
	memcpy(w->prev, r->prev, 32); /* resynchronise after the hole */
	w->expected = r->seq;
}

static void check_columns(struct walk *w, const struct row *r)
{
	static const char *const keys[4] = {"kind", "session", "payment", "msisdn"};
	static const char *const colname[4] = {"kind", "session_id", "payment_id", "msisdn_token"};
	json_error_t e;
	json_t *b = json_loads(r->body, 0, &e);
	if (!b)
		return; /* an unparsable body is already a hash failure or was hashed that way */
	for (int i = 0; i < 4; i++) {
		const char *want = json_string_value(json_object_get(b, keys[i]));
		const char *have = r->cols[i];
		if ((want == NULL) != (have == NULL) || (want && strcmp(want, have) != 0)) {
			add_finding(w->rep, AF_COLUMN_MISMATCH, w->chain, r->seq, r->seq,
				    "record seq %" PRIu64 ": column %s does not match the record body",
				    r->seq, colname[i]);
			break;
		}
	}
	json_decref(b);
}

static void check_row(struct walk *w, const struct row *r)
{
	w->rep->records++;
	if (!w->started) {
		w->started = true;
		if (w->range_mode) {
			w->expected = r->seq;
			memcpy(w->prev, r->prev, 32);
		}
	}
	bool gapped = r->seq > w->expected;
	if (gapped)
		gap(w, r);
	bool selfok = row_selfok(w->chain, r);
	if (!selfok) {
		add_finding(w->rep, AF_CHANGED, w->chain, r->seq, r->seq,
			    "record seq %" PRIu64 " changed: its content no longer matches its hash",
			    r->seq);
	} else if (memcmp(r->prev, w->prev, 32) != 0) {
		uint64_t s = r->seq > 1 ? r->seq - 1 : r->seq;
		add_finding(w->rep, AF_CHANGED, w->chain, s, r->seq,
			    "chain broken between seq %" PRIu64 " and %" PRIu64 ": seq %" PRIu64
			    " was changed (hash recomputed) or seq %" PRIu64 " replaced",
			    s, r->seq, s, r->seq);
	}
	if (r->is_default)
		w->default_rows++;
	check_columns(w, r);
	for (size_t i = 0; i < w->ncps; i++)
		if (w->cps[i].seq == r->seq && memcmp(w->cps[i].hash, r->hash, 32) != 0)
			add_finding(w->rep, AF_CHECKPOINT_MISMATCH, w->chain, r->seq, r->seq,
				    "record seq %" PRIu64 " differs from the signed head (%s): it or an "
				    "earlier record was rewritten",
				    r->seq, w->cps[i].exported ? "export file" : "audit_checkpoint");
	memcpy(w->prev, r->hash, 32);
	w->expected = r->seq + 1;
	w->last_occ = r->occ;
}

/* Decide among rows sharing one sequence number; @p next_prev is the next record's link. */
static void flush_group(struct walk *w, const uint8_t *next_prev)
{
	if (!w->ngrp)
		return;
	size_t g = 0;
	if (w->ngrp > 1) {
		bool found = false;
		for (size_t i = 0; next_prev && i < w->ngrp && !found; i++)
			if (memcmp(w->grp[i].hash, next_prev, 32) == 0) {
				g = i;
				found = true;
			}
		for (size_t i = 0; i < w->ngrp && !found; i++)
			if (row_selfok(w->chain, &w->grp[i]) && memcmp(w->grp[i].prev, w->prev, 32) == 0) {
				g = i;
				found = true;
			}
		for (size_t i = 0; i < w->ngrp; i++) {
			if (i == g)
				continue;
			char t[32];
			fmt_time(w->grp[i].occ, t, sizeof(t));
			add_finding(w->rep, AF_INSERTED, w->chain, w->grp[i].seq, w->grp[i].seq,
				    "record seq %" PRIu64 " (occurred %s) inserted: a second record under "
				    "that sequence number, not part of the chain",
				    w->grp[i].seq, t);
			w->rep->records++;
		}
	}
	check_row(w, &w->grp[g]);
	for (size_t i = 0; i < w->ngrp; i++)
		row_free(&w->grp[i]);
	w->ngrp = 0;
}

static int load_checkpoints(PGconn *c, const struct audit_verify_opts *o, const char *chain,
			    struct walk *w, struct audit_entry *heads, size_t nheads)
{
	const char *v[1] = {chain};
	PGresult *r = PQexecParams(c,
				   "SELECT seq, hash, signed_at_us, sig FROM audit_checkpoint WHERE chain = $1 "
				   "ORDER BY seq",
				   1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return GW_EDEPENDENCY;
	}
	int n = PQntuples(r);
	w->cps = calloc((size_t)n + nheads + 1, sizeof(*w->cps));
	if (!w->cps) {
		PQclear(r);
		return GW_ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct cpt *cp = &w->cps[w->ncps];
		uint8_t sig[64];
		cp->seq = strtoull(PQgetvalue(r, i, 0), NULL, 10);
		cp->at = strtoll(PQgetvalue(r, i, 2), NULL, 10);
		if (bytea_parse(PQgetvalue(r, i, 1), cp->hash, 32) ||
		    bytea_parse(PQgetvalue(r, i, 3), sig, 64))
			continue;
		cp->table = true;
		w->rep->checkpoints++;
		if (o->pubkey) {
			char msg[256];
			size_t ml = audit_checkpoint_msg(chain, cp->seq, cp->hash, cp->at, msg, sizeof(msg));
			if (crypto_verify(o->pubkey, msg, ml, sig) != 0) {
				add_finding(w->rep, AF_CHECKPOINT_BAD_SIG, chain, cp->seq, cp->seq,
					    "checkpoint at seq %" PRIu64 " in audit_checkpoint: signature "
					    "does not verify (ignored)",
					    cp->seq);
				continue;
			}
		}
		w->ncps++;
	}
	PQclear(r);
	for (size_t k = 0; k < nheads; k++) {
		struct audit_entry *h = &heads[k];
		if (strcmp(h->chain, chain) != 0)
			continue;
		w->rep->exported_heads++;
		if (o->pubkey) {
			char msg[256];
			size_t ml = audit_checkpoint_msg(chain, h->seq, h->hash, h->signed_at_us, msg,
							 sizeof(msg));
			if (crypto_verify(o->pubkey, msg, ml, h->sig) != 0) {
				add_finding(w->rep, AF_CHECKPOINT_BAD_SIG, chain, h->seq, h->seq,
					    "exported head at seq %" PRIu64 ": signature does not verify "
					    "(ignored)",
					    h->seq);
				continue;
			}
		}
		struct cpt *same = NULL;
		for (size_t i = 0; i < w->ncps; i++)
			if (w->cps[i].seq == h->seq)
				same = &w->cps[i];
		if (same && memcmp(same->hash, h->hash, 32) == 0) {
			same->exported = true;
			continue;
		}
		if (same)
			add_finding(w->rep, AF_CHECKPOINT_MISMATCH, chain, h->seq, h->seq,
				    "exported head at seq %" PRIu64 " differs from audit_checkpoint's: the "
				    "table's checkpoint was rewritten",
				    h->seq);
		else if (!o->from_us && !o->to_us)
			add_finding(w->rep, AF_CHECKPOINT_MISSING, chain, h->seq, h->seq,
				    "exported head at seq %" PRIu64 " has no row in audit_checkpoint "
				    "(removed, or not shipped yet: see the node's journal)",
				    h->seq);
		struct cpt *cp = &w->cps[w->ncps++];
		cp->seq = h->seq;
		memcpy(cp->hash, h->hash, 32);
		cp->at = h->signed_at_us;
		cp->exported = true;
	}
	return 0;
}

static int load_ranges(PGconn *c, const char *chain, struct walk *w)
{
	const char *v[1] = {chain};
	PGresult *r = PQexecParams(c,
				   "SELECT (e->>'first')::bigint, (e->>'last')::bigint, e->>'last_hash' "
				   "FROM audit_retention, jsonb_array_elements(ranges) e WHERE e->>'chain' = $1",
				   1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return GW_EDEPENDENCY;
	}
	int n = PQntuples(r);
	w->rngs = calloc((size_t)n + 1, sizeof(*w->rngs));
	for (int i = 0; w->rngs && i < n; i++) {
		struct rng *g = &w->rngs[w->nrngs];
		g->first = strtoull(PQgetvalue(r, i, 0), NULL, 10);
		g->last = strtoull(PQgetvalue(r, i, 1), NULL, 10);
		if (audit_unhex(PQgetvalue(r, i, 2), g->last_hash, 32) == 0)
			w->nrngs++;
	}
	PQclear(r);
	return w->rngs ? 0 : GW_ENOMEM;
}

static int verify_chain(PGconn *c, const struct audit_verify_opts *o, const char *chain,
			struct audit_verify_report *rep, char **parts, size_t nparts,
			struct audit_entry *heads, size_t nheads)
{
	struct walk w = {.chain = chain, .rep = rep, .parts = parts, .nparts = nparts, .expected = 1};
	w.range_mode = o->from_us || o->to_us;
	int rc = load_checkpoints(c, o, chain, &w, heads, nheads);
	if (!rc)
		rc = load_ranges(c, chain, &w);
	if (rc)
		goto out;
	char from[24], to[24];
	snprintf(from, sizeof(from), "%" PRId64, o->from_us);
	snprintf(to, sizeof(to), "%" PRId64, o->to_us ? o->to_us : INT64_MAX / 2);
	const char *v[3] = {chain, from, to};
	if (!PQsendQueryParams(c,
			       "SELECT seq, (extract(epoch FROM occurred) * 1000000)::bigint, body, "
			       "prev_hash, hash, kind, session_id, payment_id, msisdn_token, "
			       "tableoid::regclass::text = 'audit_default' FROM audit WHERE chain = $1 AND "
			       "occurred >= 'epoch'::timestamptz + $2::bigint * interval '1 microsecond' AND "
			       "occurred < 'epoch'::timestamptz + $3::bigint * interval '1 microsecond' "
			       "ORDER BY seq, occurred",
			       3, NULL, v, NULL, NULL, 0) ||
	    !PQsetSingleRowMode(c)) {
		rc = GW_EDEPENDENCY;
		goto out;
	}
	PGresult *r;
	while ((r = PQgetResult(c))) {
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_SINGLE_TUPLE) {
			struct row row = {0};
			row.seq = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
			row.occ = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
			row.body = strdup(PQgetvalue(r, 0, 2));
			bytea_parse(PQgetvalue(r, 0, 3), row.prev, 32);
			bytea_parse(PQgetvalue(r, 0, 4), row.hash, 32);
			for (int i = 0; i < 4; i++)
				row.cols[i] = PQgetisnull(r, 0, 5 + i) ? NULL : strdup(PQgetvalue(r, 0, 5 + i));
			row.is_default = PQgetvalue(r, 0, 9)[0] == 't';
			if (w.ngrp && w.grp[0].seq != row.seq)
				flush_group(&w, row.prev);
			if (w.ngrp < sizeof(w.grp) / sizeof(w.grp[0]))
				w.grp[w.ngrp++] = row;
			else
				row_free(&row);
		} else if (st != PGRES_TUPLES_OK) {
			rc = GW_EDEPENDENCY;
		}
		PQclear(r);
	}
	if (rc)
		goto out;
	flush_group(&w, NULL);
	uint64_t last = w.expected - 1;
	if (w.default_rows)
		add_finding(rep, AF_DEFAULT_ROWS, chain, 0, 0,
			    "%" PRIu64 " records are in audit_default: their months have no partition",
			    w.default_rows);
	uint64_t max_cp = 0;
	const struct cpt *beyond = NULL;
	for (size_t i = 0; i < w.ncps; i++) {
		if (w.cps[i].seq > max_cp)
			max_cp = w.cps[i].seq;
		if (w.cps[i].seq > last && (!beyond || w.cps[i].seq > beyond->seq))
			beyond = &w.cps[i];
	}
	if (beyond && !o->to_us) {
		char t[32];
		fmt_time(beyond->at, t, sizeof(t));
		add_finding(rep, AF_TAIL_REMOVED, chain, last + 1, beyond->seq,
			    "records seq %" PRIu64 "..%" PRIu64 " removed from the tail: a head signed at %s "
			    "(%s) covers seq %" PRIu64,
			    last + 1, beyond->seq, t, beyond->exported ? "export file" : "audit_checkpoint",
			    beyond->seq);
	}
	if (last > max_cp)
		rep->unsigned_tail += last - max_cp;
out:
	for (size_t i = 0; i < w.ngrp; i++)
		row_free(&w.grp[i]);
	free(w.cps);
	free(w.rngs);
	return rc;
}

static int read_heads(const char *path, struct audit_entry **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!path)
		return 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return GW_EIO;
	char line[512];
	size_t cap = 0;
	while (fgets(line, sizeof(line), f)) {
		struct audit_entry e;
		if (audit_head_parse(line, &e))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			struct audit_entry *ne = realloc(*out, cap * sizeof(*ne));
			if (!ne)
				break;
			*out = ne;
		}
		(*out)[(*n)++] = e;
	}
	fclose(f);
	return 0;
}

int audit_verify(PGconn *c, const struct audit_verify_opts *o, struct audit_verify_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	rep->signatures_checked = o->pubkey != NULL;
	struct audit_entry *heads;
	size_t nheads;
	int rc = read_heads(o->export_file, &heads, &nheads);
	if (rc)
		return rc;
	PGresult *r = PQexec(c, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
				"WHERE i.inhparent = 'audit'::regclass");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		free(heads);
		return GW_EDEPENDENCY;
	}
	size_t nparts = (size_t)PQntuples(r);
	char **parts = calloc(nparts + 1, sizeof(*parts));
	for (size_t i = 0; parts && i < nparts; i++)
		parts[i] = strdup(PQgetvalue(r, (int)i, 0));
	PQclear(r);

	char **chains = NULL;
	size_t nchains = 0;
	if (o->chain) {
		chains = calloc(1, sizeof(*chains));
		chains[0] = strdup(o->chain);
		nchains = 1;
	} else {
		/* Distinct chains by a loose index scan, plus chains known only from heads. */
		r = PQexec(c, "WITH RECURSIVE c AS (SELECT min(chain) AS chain FROM audit UNION ALL "
			      "SELECT (SELECT min(chain) FROM audit WHERE chain > c.chain) FROM c WHERE "
			      "c.chain IS NOT NULL) SELECT chain FROM c WHERE chain IS NOT NULL UNION "
			      "SELECT DISTINCT chain FROM audit_checkpoint ORDER BY 1");
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			PQclear(r);
			rc = GW_EDEPENDENCY;
			goto out;
		}
		nchains = (size_t)PQntuples(r);
		chains = calloc(nchains + nheads + 1, sizeof(*chains));
		for (size_t i = 0; i < nchains; i++)
			chains[i] = strdup(PQgetvalue(r, (int)i, 0));
		PQclear(r);
		for (size_t k = 0; k < nheads; k++) {
			bool known = false;
			for (size_t i = 0; i < nchains && !known; i++)
				known = strcmp(chains[i], heads[k].chain) == 0;
			if (!known)
				chains[nchains++] = strdup(heads[k].chain);
		}
		r = PQexec(c, "SELECT count(*) FROM audit_default");
		if (PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "0") != 0)
			add_finding(rep, AF_DEFAULT_ROWS, "", 0, 0,
				    "%s rows in audit_default: their months have no partition (alarm)",
				    PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	for (size_t i = 0; i < nchains && !rc; i++) {
		rep->chains++;
		rc = verify_chain(c, o, chains[i], rep, parts, nparts, heads, nheads);
	}
out:
	for (size_t i = 0; chains && i < nchains; i++)
		free(chains[i]);
	free(chains);
	for (size_t i = 0; parts && i < nparts; i++)
		free(parts[i]);
	free(parts);
	free(heads);
	return rc;
}
