/* The audit front: record bodies (tokens, sealed values) on the loop, the
 * journal writer thread (chain + group commit + checkpoints), callbacks back on
 * the loop, the shipper, readiness parts and metrics. See audit.h. */
#include "ussdgw/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ussdgw/audit_chain.h"
#include "ussdgw/audit_journal.h"
#include "ussdgw/audit_ship.h"
#include "ussdgw/clock.h"
#include "ussdgw/config.h"
#include "ussdgw/crypto.h"
#include "ussdgw/daemon.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/health.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"

#define AUDIT_MAX_ID 128
#define AUDIT_MAX_VARS 32
#define AUDIT_MAX_VALUE 8192
#define DEK_SLOTS 4096

static const char *const kind_names[AUDIT_KIND_COUNT] = {
	[AUDIT_SESSION_STEP] = "session_step",     [AUDIT_PAYMENT_STATE] = "payment_state",
	[AUDIT_BIND_EVENT] = "bind_event",         [AUDIT_CONSENT_CHANGE] = "consent_change",
	[AUDIT_KEY_OPERATION] = "key_operation",   [AUDIT_ADMIN_CALL] = "admin_call",
	[AUDIT_API_CALL] = "api_call",             [AUDIT_SMS_MO] = "sms_mo",
	[AUDIT_SMS_MT] = "sms_mt",                 [AUDIT_RETENTION] = "retention",
};

const char *audit_kind_name(enum audit_kind k)
{
	return (unsigned)k < AUDIT_KIND_COUNT ? kind_names[k] : "unknown";
}

int audit_kind_parse(const char *name, enum audit_kind *out)
{
	for (int i = 0; i < AUDIT_KIND_COUNT; i++)
		if (name && strcmp(name, kind_names[i]) == 0) {
			*out = (enum audit_kind)i;
			return 0;
		}
	return GW_EINVAL;
}

/* --- state --------------------------------------------------------------------- */

enum witem_type { WI_RECORD, WI_CHECKPOINT };

struct witem {
	struct witem *next;
	enum witem_type type;
	int rc;
	bool inject_fail;
	bool in_group;
	bool has_key;
	audit_durable_cb cb;
	void *cls;
	uint64_t t_enq_ns;
	int64_t occurred_us;
	char *body;
	size_t body_len;
	const char *idx[AUDIT_IDX_COUNT];
	uint8_t idx_len[AUDIT_IDX_COUNT];
	struct audit_entry key;
	/* body and index copies follow */
};

struct dek_slot {
	bool used;
	char token[AUDIT_TOKEN_HEX + 1];
	char key_id[AUDIT_KEYID_HEX + 1];
	uint8_t wrapped[AUDIT_WRAPPED_LEN];
};

struct audit_state {
	struct ev_loop *loop;
	char chain[AUDIT_CHAIN_MAX + 1];
	char node_token[AUDIT_TOKEN_HEX + 1];
	const struct crypto_keyring *keys;
	struct audit_journal *j;
	struct audit_shipper *ship;
	uint64_t max_bytes;
	unsigned max_queue;
	int export_fd;
	bool closing;
	unsigned fail_next;

	/* writer thread */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct witem *q_head, *q_tail;
	unsigned qlen;
	bool stop;
	/* writer-owned */
	uint64_t head_seq;
	uint8_t head_hash[AUDIT_HASH_LEN];
	uint64_t last_cp_seq;
	uint8_t *scratch;
	size_t scratch_cap;

	/* done list, handed back to the loop */
	pthread_mutex_t done_mu;
	struct witem *d_head, *d_tail;
	ev_async done_async;

	_Atomic bool journal_ok;
	_Atomic bool journal_full;
	_Atomic int last_err;
	_Atomic uint64_t checkpoints;
	_Atomic uint64_t head_seq_pub;

	/* loop-owned */
	ev_timer cp_timer, stats_timer;
	struct dek_slot *deks;
	uint64_t journaled, failed;
	bool warned_80;
	struct audit_ship_stats last_ship;
	struct metric *m_journaled, *m_failed, *m_shipped, *m_committed, *m_replays, *m_conflicts,
		*m_alarms, *m_checkpoints, *m_bytes, *m_oldest, *m_commit, *m_durable, *m_pg_up;
};

static struct audit_state *A;

/* --- bodies (loop thread) --------------------------------------------------------- */

static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u;
	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

/* The data key for @p token: cached, or new (then *fresh is set and the KEY entry filled). */
static int dek_for(const char *token, struct dek_slot **out, bool *fresh, struct audit_entry *key)
{
	struct dek_slot *d = &A->deks[str_hash(token) % DEK_SLOTS];
	*fresh = false;
	if (d->used && strcmp(d->token, token) == 0) {
		*out = d;
		return 0;
	}
	uint8_t wrapped[CRYPTO_WRAPPED_DEK_LEN];
	int rc = crypto_dek_new(A->keys, wrapped);
	if (rc)
		return rc;
	uint8_t h[32];
	crypto_sha256(wrapped, sizeof(wrapped), h);
	d->used = true;
	snprintf(d->token, sizeof(d->token), "%s", token);
	audit_hex(h, AUDIT_KEYID_HEX / 2, d->key_id);
	memcpy(d->wrapped, wrapped, sizeof(wrapped));
	memset(key, 0, sizeof(*key));
	key->type = AUDIT_ENT_KEY;
	memcpy(key->token, d->token, sizeof(key->token));
	memcpy(key->key_id, d->key_id, sizeof(key->key_id));
	memcpy(key->wrapped, wrapped, sizeof(wrapped));
	key->created_us = gw_now_us();
	*fresh = true;
	*out = d;
	return 0;
}

static void dek_forget(const struct audit_entry *key)
{
	struct dek_slot *d = &A->deks[str_hash(key->token) % DEK_SLOTS];
	if (d->used && strcmp(d->key_id, key->key_id) == 0)
		d->used = false;
}

static int set_str(json_t *o, const char *k, const char *v)
{
	if (!v)
		return 0;
	if (strlen(v) > AUDIT_MAX_ID && strcmp(k, "actor") != 0)
		return GW_EINVAL;
	json_t *s = json_string(v);
	if (!s)
		return GW_EINVAL; /* not UTF-8 */
	json_object_set_new(o, k, s);
	return 0;
}

static bool name_ok(const char *n)
{
	size_t l = n ? strlen(n) : 0;
	if (l == 0 || l > 64)
		return false;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '.' || *p == '-'))
			return false;
	return true;
}

static int seal_var(const char *token, const char *name, const char *value, struct dek_slot *d,
		    json_t **out)
{
	size_t n = strlen(value);
	uint8_t *ct = malloc(n + CRYPTO_SEAL_OVERHEAD);
	char aad[AUDIT_TOKEN_HEX + 80];
	int al = snprintf(aad, sizeof(aad), "ussdgw-audit|%s|%s", token, name);
	size_t cl = 0;
	if (!ct)
		return GW_ENOMEM;
	int rc = crypto_seal(A->keys, d->wrapped, aad, (size_t)al, value, n, ct, &cl);
	if (rc) {
		free(ct);
		return rc;
	}
	char *b64 = malloc(4 * ((cl + 2) / 3) + 1);
	if (!b64) {
		free(ct);
		return GW_ENOMEM;
	}
	EVP_EncodeBlock((unsigned char *)b64, ct, (int)cl);
	free(ct);
	*out = json_pack("{s:s, s:s}", "sealed", b64, "key", d->key_id);
	free(b64);
	return *out ? 0 : GW_ENOMEM;
}

/* Build the canonical body. Fills token (or empty) and, for a new data key, *key. */
static int build_body(const struct audit_record *r, char token[AUDIT_TOKEN_HEX + 1], char **body,
		      bool *has_key, struct audit_entry *key)
{
	int rc = 0;
	token[0] = 0;
	*has_key = false;
	if ((unsigned)r->kind >= AUDIT_KIND_COUNT || r->n_vars > AUDIT_MAX_VARS ||
	    (r->n_vars && !r->vars))
		return GW_EINVAL;
	if (r->msisdn && r->msisdn[0]) {
		rc = crypto_msisdn_token(A->keys, r->msisdn, token);
		if (rc)
			return rc;
	}
	json_t *o = json_object();
	if (!o)
		return GW_ENOMEM;
	json_object_set_new(o, "v", json_integer(1));
	json_object_set_new(o, "kind", json_string(audit_kind_name(r->kind)));
	if ((rc = set_str(o, "session", r->session_id)) || (rc = set_str(o, "payment", r->payment_id)) ||
	    (rc = set_str(o, "link", r->link)) || (rc = set_str(o, "msisdn", token[0] ? token : NULL)) ||
	    (rc = set_str(o, "screen", r->screen_id)) || (rc = set_str(o, "event", r->event)) ||
	    (rc = set_str(o, "outcome", r->outcome)) || (rc = set_str(o, "actor", r->actor)))
		goto out;
	if (r->elapsed_us)
		json_object_set_new(o, "elapsed_us", json_integer(r->elapsed_us));
	if (r->n_vars) {
		json_t *vars = json_object();
		json_object_set_new(o, "vars", vars);
		struct dek_slot *d = NULL;
		const char *ktok = token[0] ? token : A->node_token;
		for (size_t i = 0; i < r->n_vars; i++) {
			const struct audit_var *v = &r->vars[i];
			if (!name_ok(v->name) || !v->value || strlen(v->value) > AUDIT_MAX_VALUE) {
				rc = GW_EINVAL;
				goto out;
			}
			json_t *jv;
			if (v->sensitive) {
				if (!d) {
					rc = dek_for(ktok, &d, has_key, key);
					if (rc)
						goto out;
				}
				rc = seal_var(ktok, v->name, v->value, d, &jv);
				if (rc)
					goto out;
			} else if (!(jv = json_string(v->value))) {
				rc = GW_EINVAL;
				goto out;
			}
			json_object_set_new(vars, v->name, jv);
		}
	}
	*body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!*body)
		rc = GW_ENOMEM;
out:
	json_decref(o);
	if (rc && *has_key) {
		dek_forget(key);
		*has_key = false;
	}
	return rc;
}

/* --- writer thread --------------------------------------------------------------------- */

static uint8_t *scratch(size_t n)
{
	if (n > A->scratch_cap) {
		size_t nc = A->scratch_cap ? A->scratch_cap : 4096;
		while (nc < n)
			nc *= 2;
		uint8_t *p = realloc(A->scratch, nc);
		if (!p)
			return NULL;
		A->scratch = p;
		A->scratch_cap = nc;
	}
	return A->scratch;
}

static int append_entry(const struct audit_entry *e)
{
	size_t n = audit_entry_size(e);
	uint8_t *b = scratch(n);
	if (!b)
		return GW_ENOMEM;
	long l = audit_entry_encode(e, b, n);
	if (l < 0)
		return (int)l;
	return audit_journal_append(A->j, b, (size_t)l);
}

static void export_head(const struct audit_entry *cp)
{
	if (A->export_fd < 0)
		return;
	char line[512];
	size_t n = audit_head_line(cp, line, sizeof(line));
	if (n == 0 || write(A->export_fd, line, n) != (ssize_t)n || fdatasync(A->export_fd) < 0)
		LOGP(DAUDIT, LOG_ERROR, "ALARM audit: cannot append chain head seq %" PRIu64
		     " to the export file: %s", cp->seq, strerror(errno));
}

static void process_group(struct witem *list)
{
	uint64_t t_seq = A->head_seq;
	uint8_t t_hash[AUDIT_HASH_LEN];
	memcpy(t_hash, A->head_hash, sizeof(t_hash));
	struct audit_entry cp;
	bool have_cp = false;
	bool any = false, full = false;
	for (struct witem *it = list; it; it = it->next) {
		it->rc = 0;
		if (it->inject_fail) {
			it->rc = GW_EAUDIT;
			continue;
		}
		if (it->type == WI_CHECKPOINT) {
			if (t_seq == 0 || t_seq == A->last_cp_seq || !A->keys)
				continue;
			memset(&cp, 0, sizeof(cp));
			cp.type = AUDIT_ENT_CHECKPOINT;
			memcpy(cp.chain, A->chain, sizeof(cp.chain));
			cp.seq = t_seq;
			memcpy(cp.hash, t_hash, sizeof(t_hash));
			cp.signed_at_us = gw_now_us();
			char msg[256];
			size_t ml = audit_checkpoint_msg(cp.chain, cp.seq, cp.hash, cp.signed_at_us, msg,
							 sizeof(msg));
			int rc = ml ? crypto_sign(A->keys, msg, ml, cp.sig) : GW_EINVAL;
			if (!rc)
				rc = append_entry(&cp);
			if (rc) {
				LOGP(DAUDIT, LOG_ERROR, "ALARM audit: checkpoint at seq %" PRIu64 " failed: %s",
				     cp.seq, gw_strerror(rc));
				continue;
			}
			have_cp = true;
			it->in_group = true;
			any = true;
			continue;
		}
		int rc = 0;
		if (it->has_key)
			rc = append_entry(&it->key);
		struct audit_entry e = {.type = AUDIT_ENT_RECORD, .seq = t_seq + 1,
					.occurred_us = it->occurred_us,
					.body = (const uint8_t *)it->body, .body_len = it->body_len};
		if (!rc) {
			memcpy(e.chain, A->chain, sizeof(e.chain));
			memcpy(e.prev, t_hash, sizeof(t_hash));
			memcpy(e.idx, it->idx, sizeof(e.idx));
			memcpy(e.idx_len, it->idx_len, sizeof(e.idx_len));
			audit_chain_hash(A->chain, e.seq, e.occurred_us, t_hash, e.body, e.body_len, e.hash);
			rc = append_entry(&e);
		}
		if (rc) {
			it->rc = rc;
			full |= rc == GW_ENOSPC;
			continue;
		}
		t_seq = e.seq;
		memcpy(t_hash, e.hash, sizeof(t_hash));
		it->in_group = true;
		any = true;
	}
	int rc = any ? audit_journal_commit(A->j) : 0;
	if (rc) {
		for (struct witem *it = list; it; it = it->next)
			if (it->in_group)
				it->rc = rc;
		if (atomic_exchange(&A->journal_ok, false))
			LOGP(DAUDIT, LOG_ERROR, "ALARM audit journal: commit failed: %s; appends are "
			     "refused until the journal can be written", gw_strerror(rc));
		atomic_store(&A->last_err, rc);
	} else if (any) {
		A->head_seq = t_seq;
		memcpy(A->head_hash, t_hash, sizeof(t_hash));
		atomic_store(&A->head_seq_pub, t_seq);
		if (!atomic_exchange(&A->journal_ok, true))
			LOGP(DAUDIT, LOG_NOTICE, "audit journal writable again");
		if (have_cp) {
			A->last_cp_seq = cp.seq;
			export_head(&cp);
			atomic_fetch_add(&A->checkpoints, 1);
		}
	}
	if (full != atomic_exchange(&A->journal_full, full) && full)
		LOGP(DAUDIT, LOG_ERROR, "ALARM audit journal full (%" PRIu64 " bytes, cap %" PRIu64
		     "): PostgreSQL must drain it; appends are refused", audit_journal_bytes(A->j),
		     A->max_bytes);
	pthread_mutex_lock(&A->done_mu);
	struct witem *last = list;
	while (last->next)
		last = last->next;
	if (A->d_tail)
		A->d_tail->next = list;
	else
		A->d_head = list;
	A->d_tail = last;
	pthread_mutex_unlock(&A->done_mu);
	ev_async_send(A->loop, &A->done_async);
	if (A->ship && !rc && any)
		audit_ship_kick(A->ship);
}

static void *writer_thread(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&A->mu);
		while (!A->q_head && !A->stop)
			pthread_cond_wait(&A->cv, &A->mu);
		struct witem *list = A->q_head;
		A->q_head = A->q_tail = NULL;
		A->qlen = 0;
		bool st = A->stop;
		pthread_mutex_unlock(&A->mu);
		if (list)
			process_group(list);
		else if (st)
			break;
	}
	return NULL;
}

static void enqueue(struct witem *it)
{
	pthread_mutex_lock(&A->mu);
	if (A->q_tail)
		A->q_tail->next = it;
	else
		A->q_head = it;
	A->q_tail = it;
	A->qlen++;
	pthread_cond_signal(&A->cv);
	pthread_mutex_unlock(&A->mu);
}

/* --- back on the loop ------------------------------------------------------------------ */

static void run_done(void)
{
	pthread_mutex_lock(&A->done_mu);
	struct witem *list = A->d_head;
	A->d_head = A->d_tail = NULL;
	pthread_mutex_unlock(&A->done_mu);
	uint64_t now = gw_mono_ns();
	while (list) {
		struct witem *it = list;
		list = it->next;
		if (it->type == WI_RECORD) {
			if (it->rc == 0) {
				A->journaled++;
				metric_inc(A->m_journaled);
			} else {
				A->failed++;
				metric_inc(A->m_failed);
				if (it->has_key)
					dek_forget(&it->key);
			}
			metric_observe(A->m_durable, (double)(now - it->t_enq_ns) / 1e9);
			if (it->cb)
				it->cb(it->cls, it->rc);
		}
		free(it);
	}
}

static void done_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	run_done();
}

static void cp_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	audit_checkpoint_now();
}

static void stats_update(void)
{
	uint64_t bytes = audit_journal_bytes(A->j);
	metric_set(A->m_bytes, (double)bytes);
	metric_set(A->m_checkpoints, (double)atomic_load(&A->checkpoints));
	if (A->max_bytes && bytes >= A->max_bytes / 10 * 8) {
		if (!A->warned_80)
			LOGP(DAUDIT, LOG_WARN, "ALARM audit journal at %" PRIu64 " of %" PRIu64
			     " bytes (80%%): PostgreSQL is not keeping up or is away", bytes, A->max_bytes);
		A->warned_80 = true;
	} else {
		A->warned_80 = false;
	}
	if (!A->ship)
		return;
	struct audit_ship_stats s;
	audit_ship_stats(A->ship, &s);
	metric_add(A->m_shipped, (double)(s.shipped - A->last_ship.shipped));
	metric_add(A->m_committed, (double)(s.committed - A->last_ship.committed));
	metric_add(A->m_replays, (double)(s.replays - A->last_ship.replays));
	metric_add(A->m_conflicts, (double)(s.conflicts - A->last_ship.conflicts));
	metric_add(A->m_alarms, (double)(s.alarms - A->last_ship.alarms));
	metric_set(A->m_pg_up, s.up ? 1 : 0);
	A->last_ship = s;
	double age = s.oldest_unshipped_us ? (double)(gw_now_us() - s.oldest_unshipped_us) / 1e6 : 0;
	metric_set(A->m_oldest, age > 0 ? age : 0);
	double lat[256];
	size_t n;
	while ((n = audit_ship_take_latencies(A->ship, lat, 256)) > 0)
		for (size_t i = 0; i < n; i++)
			metric_observe(A->m_commit, lat[i]);
}

static void stats_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	stats_update();
}

static enum health_state probe_journal(void *cls, char *detail, size_t n)
{
	(void)cls;
	uint64_t bytes = audit_journal_bytes(A->j);
	if (!atomic_load(&A->journal_ok)) {
		snprintf(detail, n, "journal cannot be written: %s", gw_strerror(atomic_load(&A->last_err)));
		return HEALTH_DOWN;
	}
	if (atomic_load(&A->journal_full)) {
		snprintf(detail, n, "journal full: %" PRIu64 " of %" PRIu64 " bytes", bytes, A->max_bytes);
		return HEALTH_DOWN;
	}
	snprintf(detail, n, "%" PRIu64 " bytes, head seq %" PRIu64, bytes,
		 (uint64_t)atomic_load(&A->head_seq_pub));
	return HEALTH_UP;
}

static enum health_state probe_shipper(void *cls, char *detail, size_t n)
{
	(void)cls;
	if (!A->ship) {
		snprintf(detail, n, "no PostgreSQL configured: the journal keeps the audit");
		return HEALTH_DOWN;
	}
	struct audit_ship_stats s;
	audit_ship_stats(A->ship, &s);
	if (!s.up) {
		snprintf(detail, n, "PostgreSQL unreachable; backlog %" PRIu64 " journal bytes",
			 audit_journal_bytes(A->j));
		return HEALTH_DOWN;
	}
	snprintf(detail, n, "%" PRIu64 " records committed", s.committed);
	return HEALTH_UP;
}

/* --- recovery ----------------------------------------------------------------------------- */

static void recover_cb(void *cls, struct audit_jpos at, const uint8_t *p, size_t len)
{
	(void)cls, (void)at;
	struct audit_entry e;
	if (audit_entry_decode(p, len, &e) || strcmp(e.chain, A->chain) != 0)
		return;
	if (e.type == AUDIT_ENT_RECORD || e.type == AUDIT_ENT_HEAD) {
		if (e.seq >= A->head_seq) {
			A->head_seq = e.seq;
			memcpy(A->head_hash, e.hash, AUDIT_HASH_LEN);
		}
	} else if (e.type == AUDIT_ENT_CHECKPOINT && e.seq > A->last_cp_seq) {
		A->last_cp_seq = e.seq;
	}
}

/* --- API ---------------------------------------------------------------------------------- */

static void state_free(struct audit_state *s)
{
	if (!s)
		return;
	audit_journal_close(s->j);
	if (s->export_fd >= 0)
		close(s->export_fd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->done_mu);
	free(s->deks);
	free(s->scratch);
	free(s);
}

int audit_open(struct ev_loop *loop, const struct audit_opts *o)
{
	if (A)
		return GW_EEXIST;
	if (!loop || !o || !o->chain_id || !o->chain_id[0] || strlen(o->chain_id) > AUDIT_CHAIN_MAX ||
	    !o->journal_dir || !o->keys)
		return GW_EINVAL;
	struct audit_state *s = calloc(1, sizeof(*s));
	if (!s || !(s->deks = calloc(DEK_SLOTS, sizeof(*s->deks)))) {
		free(s);
		return GW_ENOMEM;
	}
	s->loop = loop;
	s->export_fd = -1;
	snprintf(s->chain, sizeof(s->chain), "%s", o->chain_id);
	s->keys = o->keys;
	s->max_bytes = o->max_bytes;
	s->max_queue = o->max_queue ? o->max_queue : 65536;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_mutex_init(&s->done_mu, NULL);
	char nt[80];
	snprintf(nt, sizeof(nt), "node:%s", s->chain);
	uint8_t h[32];
	crypto_sha256(nt, strlen(nt), h);
	audit_hex(h, AUDIT_TOKEN_HEX / 2, s->node_token);
	A = s;

	struct audit_journal_opts jo = {.dir = o->journal_dir,
					.segment_bytes = o->segment_bytes ? o->segment_bytes : 64 << 20,
					.max_bytes = o->max_bytes};
	struct audit_journal_recovery rep;
	char msg[512];
	int rc = audit_journal_open(&jo, recover_cb, NULL, &s->j, &rep, msg, sizeof(msg));
	if (rc) {
		LOGP(DAUDIT, LOG_ERROR, "ALARM audit journal: %s", msg);
		goto fail;
	}
	if (rep.torn_bytes)
		LOGP(DAUDIT, LOG_WARN, "audit journal: torn tail of %" PRIu64 " bytes cut (%s)",
		     rep.torn_bytes, msg);
	LOGP(DAUDIT, LOG_INFO, "audit journal %s: %" PRIu64 " entries in %" PRIu64
	     " segments, chain %s at seq %" PRIu64, o->journal_dir, rep.frames, rep.segments, s->chain,
	     s->head_seq);
	/* Mark where this writer starts, so the head survives trimming of older segments. */
	struct audit_entry head = {.type = AUDIT_ENT_HEAD, .seq = s->head_seq};
	memcpy(head.chain, s->chain, sizeof(head.chain));
	memcpy(head.hash, s->head_hash, AUDIT_HASH_LEN);
	if ((rc = append_entry(&head)) || (rc = audit_journal_commit(s->j))) {
		LOGP(DAUDIT, LOG_ERROR, "ALARM audit journal %s cannot be written: %s", o->journal_dir,
		     gw_strerror(rc));
		goto fail;
	}
	atomic_store(&s->journal_ok, true);
	atomic_store(&s->head_seq_pub, s->head_seq);
	if (o->export_file && o->export_file[0]) {
		char parent[4096];
		snprintf(parent, sizeof(parent), "%s", o->export_file);
		char *slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = 0;
			audit_mkdir_p(parent, 0700);
		}
		s->export_fd = open(o->export_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (s->export_fd < 0) {
			LOGP(DAUDIT, LOG_ERROR, "audit export file %s: %s", o->export_file, strerror(errno));
			rc = GW_EIO;
			goto fail;
		}
	}
	const char *fail = getenv("USSDGW_AUDIT_FAIL_NEXT");
	if (fail && *fail)
		s->fail_next = (unsigned)strtoul(fail, NULL, 10);

	s->m_journaled = metrics_counter("ussdgw_audit_records_journaled_total",
					 "Audit records durable in the local journal", NULL);
	s->m_failed = metrics_counter("ussdgw_audit_records_failed_total",
				      "Audit appends that failed (callback got an error)", NULL);
	s->m_shipped = metrics_counter("ussdgw_audit_records_shipped_total",
				       "Audit records sent to PostgreSQL", NULL);
	s->m_committed = metrics_counter("ussdgw_audit_records_committed_total",
					 "Audit records committed in PostgreSQL", NULL);
	s->m_replays = metrics_counter("ussdgw_audit_replays_total",
				       "Replayed audit records already stored byte for byte (ignored)", NULL);
	s->m_conflicts = metrics_counter("ussdgw_audit_conflicts_total",
					 "Audit records refused: a different record is stored under the key",
					 NULL);
	s->m_alarms = metrics_counter("ussdgw_audit_db_alarms_total",
				      "Alarms raised by the database (rows in the default partition, ...)",
				      NULL);
	s->m_checkpoints = metrics_gauge("ussdgw_audit_checkpoints", "Signed checkpoints written since start",
					 NULL);
	s->m_bytes = metrics_gauge("ussdgw_audit_journal_bytes", "Bytes in the local audit journal", NULL);
	s->m_oldest = metrics_gauge("ussdgw_audit_oldest_unshipped_seconds",
				    "Age of the oldest audit record not yet committed in PostgreSQL", NULL);
	s->m_pg_up = metrics_gauge("ussdgw_audit_postgres_up", "1 while the shipper reaches PostgreSQL",
				   NULL);
	s->m_commit = metrics_histogram("ussdgw_audit_commit_seconds",
					"PostgreSQL transaction time per shipped batch", NULL,
					metrics_latency_buckets, metrics_latency_buckets_n);
	s->m_durable = metrics_histogram("ussdgw_audit_durable_seconds",
					 "Time from audit_append to durable in the journal", NULL,
					 metrics_latency_buckets, metrics_latency_buckets_n);

	ev_async_init(&s->done_async, done_cb);
	ev_async_start(loop, &s->done_async);
	if (pthread_create(&s->th, NULL, writer_thread, NULL)) {
		ev_async_stop(loop, &s->done_async);
		rc = GW_ENOMEM;
		goto fail;
	}
	if (o->pg_dsn && o->pg_dsn[0]) {
		struct audit_ship_opts so = {.dsn = o->pg_dsn, .chain = s->chain, .journal = s->j,
					     .batch_size = o->batch_size};
		rc = audit_ship_start(&so, &s->ship);
		if (rc)
			LOGP(DAUDIT, LOG_ERROR, "audit shipper not started: %s", gw_strerror(rc));
	}
	health_register("audit-journal", HEALTH_REQUIRED, probe_journal, NULL);
	health_register("audit-shipper", HEALTH_DEGRADES, probe_shipper, NULL);
	if (o->checkpoint_interval_s) {
		ev_timer_init(&s->cp_timer, cp_cb, o->checkpoint_interval_s, o->checkpoint_interval_s);
		ev_timer_start(loop, &s->cp_timer);
	}
	ev_timer_init(&s->stats_timer, stats_cb, 1.0, 1.0);
	ev_timer_start(loop, &s->stats_timer);
	ev_unref(loop); /* the stats timer alone does not keep the loop alive */
	return 0;
fail:
	A = NULL;
	state_free(s);
	return rc;
}

void audit_close_deadline(unsigned ship_deadline_ms)
{
	if (!A)
		return;
	struct audit_state *s = A;
	s->closing = true;
	ev_timer_stop(s->loop, &s->cp_timer);
	ev_ref(s->loop);
	ev_timer_stop(s->loop, &s->stats_timer);
	audit_checkpoint_now();
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	run_done();
	ev_async_stop(s->loop, &s->done_async);
	if (s->ship) {
		audit_ship_stop(s->ship, ship_deadline_ms);
		s->ship = NULL;
	}
	health_unregister("audit-journal");
	health_unregister("audit-shipper");
	LOGP(DAUDIT, LOG_INFO, "audit closed: chain %s at seq %" PRIu64, s->chain, s->head_seq);
	A = NULL;
	state_free(s);
}

void audit_close(void)
{
	audit_close_deadline(2000);
}

void audit_set_fail_next(unsigned n)
{
	if (A)
		A->fail_next = n;
}

void audit_checkpoint_now(void)
{
	if (!A)
		return;
	struct witem *it = calloc(1, sizeof(*it));
	if (!it)
		return;
	it->type = WI_CHECKPOINT;
	it->t_enq_ns = gw_mono_ns();
	enqueue(it);
}

int audit_append(const struct audit_record *rec, audit_durable_cb on_durable, void *cls)
{
	if (!A || A->closing)
		return GW_ESHUTDOWN;
	if (!rec)
		return GW_EINVAL;
	char token[AUDIT_TOKEN_HEX + 1];
	char *body = NULL;
	bool has_key = false;
	struct audit_entry key;
	int rc = build_body(rec, token, &body, &has_key, &key);
	if (rc) {
		if (rc != GW_EINVAL)
			LOGP(DAUDIT, LOG_ERROR, "audit record not built: %s", gw_strerror(rc));
		return rc == GW_ENOMEM ? rc : GW_EINVAL;
	}
	const char *idx[AUDIT_IDX_COUNT] = {audit_kind_name(rec->kind), rec->session_id, rec->payment_id,
					    token[0] ? token : NULL};
	size_t il[AUDIT_IDX_COUNT], extra = 0;
	for (int i = 0; i < AUDIT_IDX_COUNT; i++) {
		il[i] = idx[i] ? strlen(idx[i]) : 0;
		extra += il[i];
	}
	size_t blen = strlen(body);
	struct witem *it = malloc(sizeof(*it) + blen + extra);
	if (!it) {
		free(body);
		if (has_key)
			dek_forget(&key);
		return GW_ENOMEM;
	}
	memset(it, 0, sizeof(*it));
	char *p = (char *)(it + 1);
	memcpy(p, body, blen);
	free(body);
	it->body = p;
	it->body_len = blen;
	p += blen;
	for (int i = 0; i < AUDIT_IDX_COUNT; i++) {
		memcpy(p, idx[i] ? idx[i] : "", il[i]);
		it->idx[i] = p;
		it->idx_len[i] = (uint8_t)il[i];
		p += il[i];
	}
	it->type = WI_RECORD;
	it->cb = on_durable;
	it->cls = cls;
	it->t_enq_ns = gw_mono_ns();
	it->occurred_us = rec->occurred_us ? rec->occurred_us : gw_now_us();
	it->has_key = has_key;
	if (has_key)
		it->key = key;
	if (A->fail_next) {
		A->fail_next--;
		it->inject_fail = true;
	}
	pthread_mutex_lock(&A->mu);
	bool over = A->qlen >= A->max_queue;
	pthread_mutex_unlock(&A->mu);
	if (over) {
		/* Shed: fail through the done list, so the callback still runs later. */
		it->rc = GW_EOVERLOAD;
		it->inject_fail = true;
	}
	enqueue(it);
	return 0;
}

void audit_get_stats(struct audit_stats *o)
{
	memset(o, 0, sizeof(*o));
	if (!A)
		return;
	o->journaled = A->journaled;
	o->failed = A->failed;
	o->checkpoints = atomic_load(&A->checkpoints);
	o->head_seq = atomic_load(&A->head_seq_pub);
	o->journal_bytes = audit_journal_bytes(A->j);
	o->journal_ok = atomic_load(&A->journal_ok) && !atomic_load(&A->journal_full);
	if (A->ship) {
		struct audit_ship_stats s;
		audit_ship_stats(A->ship, &s);
		o->shipped = s.shipped;
		o->committed = s.committed;
		o->replays = s.replays;
		o->conflicts = s.conflicts;
		o->alarms = s.alarms;
		o->pg_up = s.up;
		o->oldest_unshipped_s =
			s.oldest_unshipped_us ? (double)(gw_now_us() - s.oldest_unshipped_us) / 1e6 : 0;
	}
}

int audit_wait_shipped(unsigned timeout_ms)
{
	if (!A || !A->ship)
		return GW_ENOENT;
	return audit_ship_wait_idle(A->ship, timeout_ms);
}

/* --- the daemon service ----------------------------------------------------------------- */

static int svc_start(struct gw_node *node, void **state)
{
	json_t *r = cfg_root(node->cfg);
	if (!node->keys) {
		LOGP(DAUDIT, LOG_ERROR, "audit needs the key directory (keys.dir)");
		return GW_ECONFIG;
	}
	struct audit_opts o = {
		.chain_id = cfg_str(r, "node.id"),
		.journal_dir = cfg_str(r, "audit.journal_dir"),
		.segment_bytes = (uint64_t)cfg_int(r, "audit.segment_bytes"),
		.max_bytes = (uint64_t)cfg_int(r, "audit.max_bytes"),
		.checkpoint_interval_s = (unsigned)cfg_int(r, "audit.checkpoint_interval_s"),
		.export_file = cfg_str(r, "audit.export_file"),
		.pg_dsn = cfg_str(r, "postgres.dsn"),
		.batch_size = (unsigned)cfg_int(r, "audit.batch_size"),
		.keys = node->keys,
	};
	*state = NULL;
	return audit_open(node->loop, &o);
}

static void svc_stop(struct gw_node *node, void *state)
{
	(void)node, (void)state;
	audit_close();
}

const struct gw_service audit_service = {
	.name = "audit",
	.start = svc_start,
	.stop = svc_stop,
};
