/* HTTP forwards to the business: durable in Redis, signed, retried, dead-lettered
 * (sms_forward.h). */
#include "ussdgw/sms_forward.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/clock.h"
#include "ussdgw/config.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/http_client.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"
#include "ussdgw/secfile.h"
#include "ussdgw/store_redis.h"

#define DUE	     "ussdgw:fwd:due:"
#define DEAD	     "ussdgw:fwd:dead"
#define JOB	     "ussdgw:fwd:job:"
#define CLAIM_BATCH  16
#define MAX_FORWARDS 16

/* KEYS[1] job, KEYS[2] due; ARGV: id, due_ms, name, body, to, from, service. */
static const char enqueue_lua[] =
    "redis.call('HSET', KEYS[1], 'name', ARGV[3], 'body', ARGV[4], 'to', ARGV[5], "
    "'from', ARGV[6], 'service', ARGV[7], 'attempts', 0) "
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) return 1";

/* KEYS[1] due; ARGV: now_ms, lease_until_ms, batch. Returns per job
 * [id, name, body, to, from, service, attempts]. */
static const char claim_lua[] =
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3]) "
    "local out = {} "
    "for _, id in ipairs(ids) do "
    "  local j = redis.call('HMGET', '" JOB "' .. id, 'name', 'body', 'to', 'from', 'service', "
    "'attempts') "
    "  if j[1] then "
    "    redis.call('ZADD', KEYS[1], ARGV[2], id) "
    "    local a = tonumber(j[6] or '0') + 1 "
    "    redis.call('HSET', '" JOB "' .. id, 'attempts', a) "
    "    table.insert(out, {id, j[1], j[2], j[3] or '', j[4] or '', j[5] or '', tostring(a)}) "
    "  else redis.call('ZREM', KEYS[1], id) end "
    "end return out";

/* KEYS[1] job, KEYS[2] due; ARGV: id. */
static const char done_lua[] = "redis.call('DEL', KEYS[1]) redis.call('ZREM', KEYS[2], ARGV[1]) "
			       "return 1";
/* KEYS[1] job, KEYS[2] due; ARGV: id, next_ms, error. */
static const char retry_lua[] = "if redis.call('EXISTS', KEYS[1]) == 1 then "
				"redis.call('HSET', KEYS[1], 'last_error', ARGV[3]) "
				"redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) end return 1";
/* KEYS[1] job, KEYS[2] due, KEYS[3] dead; ARGV: id, dead-letter JSON. */
static const char dead_lua[] = "redis.call('LPUSH', KEYS[3], ARGV[2]) redis.call('DEL', KEYS[1]) "
			       "redis.call('ZREM', KEYS[2], ARGV[1]) return 1";

struct fwd_target {
	char name[64];
	char *url;
	char *secret;
	size_t secret_len;
};

struct sms_forward {
	struct ev_loop *loop;
	struct store_redis *redis;
	struct http_client *http;
	struct sms_forward_opts o;
	struct fwd_target t[MAX_FORWARDS];
	unsigned nt;
	sms_forward_reply_fn reply;
	void *reply_cls;
	ev_timer timer;
	unsigned polling; /* claim scripts out */
	unsigned inflight;
	bool freeing;
};

struct attempt {
	struct sms_forward *f;
	char id[40];
	char name[64];
	char *body;
	char to[24], from[24], service[40];
	unsigned n;
};

struct enq {
	sms_forward_cb cb;
	void *cls;
	char id[37];
};

static void count(const char *outcome)
{
	char lb[40];
	snprintf(lb, sizeof(lb), "outcome=\"%s\"", outcome);
	metric_inc(
	    metrics_counter("ussdgw_sms_forward_total", "HTTP forward attempts by outcome", lb));
}

static const struct fwd_target *target(const struct sms_forward *f, const char *name)
{
	for (unsigned i = 0; i < f->nt; i++)
		if (!strcmp(f->t[i].name, name))
			return &f->t[i];
	return NULL;
}

bool sms_forward_known(const struct sms_forward *f, const char *name)
{
	return f && name && target(f, name);
}

void sms_forward_sign(const char *secret, size_t secret_len, const char *ts, const char *body,
		      char out[3 + 64 + 1])
{
	size_t tl = strlen(ts), bl = strlen(body);
	char *msg = malloc(tl + 1 + bl);
	uint8_t mac[32];
	if (!msg) {
		out[0] = '\0';
		return;
	}
	memcpy(msg, ts, tl);
	msg[tl] = '.';
	memcpy(msg + tl + 1, body, bl);
	crypto_hmac_sha256(secret, secret_len, msg, tl + 1 + bl, mac);
	free(msg);
	memcpy(out, "v1=", 3);
	crypto_hex(mac, sizeof(mac), out + 3);
	out[3 + 64] = '\0';
}

/* ---- enqueue -------------------------------------------------------------------------- */

static void enqueued(void *cls, int err, redisReply *reply)
{
	struct enq *e = cls;
	if (!err && (!reply || reply->type == REDIS_REPLY_ERROR))
		err = GW_EDEPENDENCY;
	e->cb(e->cls, err, e->id);
	free(e);
}

int sms_forward_enqueue(struct sms_forward *f, const struct sms_forward_job *j, sms_forward_cb cb,
			void *cls)
{
	if (!f || !j || !j->name || !j->body || !cb)
		return GW_EINVAL;
	if (!target(f, j->name))
		return GW_ENOENT;
	struct enq *e = calloc(1, sizeof(*e));
	if (!e)
		return GW_ENOMEM;
	e->cb = cb;
	e->cls = cls;
	int rc = crypto_uuid4(e->id);
	if (rc) {
		free(e);
		return rc;
	}
	char key[96], due[24], dkey[96];
	snprintf(key, sizeof(key), JOB "%s", e->id);
	snprintf(dkey, sizeof(dkey), DUE "%s", j->name);
	snprintf(due, sizeof(due), "%" PRId64, gw_now_ms());
	const char *argv[] = {"EVAL",
			      enqueue_lua,
			      "2",
			      key,
			      dkey,
			      e->id,
			      due,
			      j->name,
			      j->body,
			      j->to ? j->to : "",
			      j->from ? j->from : "",
			      j->service ? j->service : "default"};
	rc = store_redis_command_argv(f->redis, enqueued, e, 0, 12, argv, NULL);
	if (rc)
		free(e);
	return rc;
}

/* ---- attempts ------------------------------------------------------------------------- */

static void attempt_free(struct attempt *a)
{
	struct sms_forward *f = a->f;
	free(a->body);
	free(a);
	f->inflight--;
	if (f->freeing && f->inflight == 0 && f->polling == 0)
		free(f);
}

static void settled(void *cls, int err, redisReply *reply)
{
	struct attempt *a = cls;
	if (err || !reply || reply->type == REDIS_REPLY_ERROR)
		LOGP(DSMS, LOG_NOTICE,
		     "forward %s (%s): outcome not stored (%s); the lease ends and "
		     "it is tried again",
		     a->id, a->name, err ? gw_strerror(err) : "error reply");
	attempt_free(a);
}

static uint64_t backoff_ms(const struct sms_forward *f, unsigned attempt)
{
	uint64_t d = f->o.backoff_min_ms;
	for (unsigned i = 1; i < attempt && d < f->o.backoff_max_ms; i++)
		d *= 2;
	if (d > f->o.backoff_max_ms)
		d = f->o.backoff_max_ms;
	uint32_t r = 0;
	crypto_random(&r, sizeof(r));
	return d / 2 + (d / 2 + 1) * (uint64_t)r / UINT32_MAX;
}

static void failed(struct attempt *a, const char *why)
{
	struct sms_forward *f = a->f;
	char key[96], dkey[96];
	snprintf(key, sizeof(key), JOB "%s", a->id);
	snprintf(dkey, sizeof(dkey), DUE "%s", a->name);
	int rc;
	if (a->n >= f->o.max_attempts) {
		LOGP(DSMS, LOG_WARN, "forward %s (%s): attempt %u failed (%s): dead-lettered",
		     a->id, a->name, a->n, why);
		count("dead");
		json_t *d = json_pack("{s:s, s:s, s:s, s:i, s:s, s:I}", "id", a->id, "name",
				      a->name, "body", a->body, "attempts", (int)a->n, "last_error",
				      why, "at_ms", (json_int_t)gw_now_ms());
		char *ds = d ? json_dumps(d, JSON_COMPACT) : NULL;
		json_decref(d);
		if (!ds) {
			attempt_free(a);
			return;
		}
		const char *argv[] = {"EVAL", dead_lua, "3", key, dkey, DEAD, a->id, ds};
		rc = store_redis_command_argv(f->redis, settled, a, 0, 8, argv, NULL);
		free(ds);
	} else {
		uint64_t delay = backoff_ms(f, a->n);
		LOGP(DSMS, LOG_NOTICE,
		     "forward %s (%s): attempt %u failed (%s): retry in %" PRIu64 " ms", a->id,
		     a->name, a->n, why, delay);
		count("retry");
		char next[24];
		snprintf(next, sizeof(next), "%" PRId64, gw_now_ms() + (int64_t)delay);
		const char *argv[] = {"EVAL", retry_lua, "2", key, dkey, a->id, next, why};
		rc = store_redis_command_argv(f->redis, settled, a, 0, 8, argv, NULL);
	}
	if (rc)
		attempt_free(a);
}

static void http_done(void *cls, const struct http_result *res)
{
	struct attempt *a = cls;
	struct sms_forward *f = a->f;
	char why[96];
	if (res->err) {
		snprintf(why, sizeof(why), "%s", gw_strerror(res->err));
		failed(a, why);
		return;
	}
	if (res->status < 200 || res->status > 299) {
		snprintf(why, sizeof(why), "HTTP %ld", res->status);
		failed(a, why);
		return;
	}
	LOGP(DSMS, LOG_INFO, "forward %s (%s): delivered on attempt %u (HTTP %ld)", a->id, a->name,
	     a->n, res->status);
	count("delivered");
	json_t *b = json_loadb(res->body, res->body_len, 0, NULL);
	const char *text = json_string_value(json_object_get(b, "reply"));
	if (text && text[0] && a->to[0] && f->reply)
		f->reply(f->reply_cls, a->to, a->from, a->service, text);
	json_decref(b);
	char key[96], dkey[96];
	snprintf(key, sizeof(key), JOB "%s", a->id);
	snprintf(dkey, sizeof(dkey), DUE "%s", a->name);
	const char *argv[] = {"EVAL", done_lua, "2", key, dkey, a->id};
	if (store_redis_command_argv(f->redis, settled, a, 0, 6, argv, NULL) != 0)
		attempt_free(a);
}

static void start_attempt(struct sms_forward *f, redisReply *j)
{
	if (j->type != REDIS_REPLY_ARRAY || j->elements != 7)
		return;
	for (size_t i = 0; i < 7; i++)
		if (j->element[i]->type != REDIS_REPLY_STRING)
			return;
	struct attempt *a = calloc(1, sizeof(*a));
	if (!a)
		return;
	a->f = f;
	f->inflight++;
	snprintf(a->id, sizeof(a->id), "%s", j->element[0]->str);
	snprintf(a->name, sizeof(a->name), "%s", j->element[1]->str);
	a->body = strndup(j->element[2]->str, j->element[2]->len);
	snprintf(a->to, sizeof(a->to), "%s", j->element[3]->str);
	snprintf(a->from, sizeof(a->from), "%s", j->element[4]->str);
	snprintf(a->service, sizeof(a->service), "%s", j->element[5]->str);
	a->n = (unsigned)strtoul(j->element[6]->str, NULL, 10);
	const struct fwd_target *t = target(f, a->name);
	if (!a->body || !t) {
		failed(a, t ? "out of memory" : "forward no longer configured");
		return;
	}
	char ts[24], sig[3 + 64 + 1], att[12];
	snprintf(ts, sizeof(ts), "%" PRId64, gw_now_ms() / 1000);
	snprintf(att, sizeof(att), "%u", a->n);
	sms_forward_sign(t->secret, t->secret_len, ts, a->body, sig);
	struct http_header h[] = {{"Content-Type", "application/json"},
				  {"X-Ussdgw-Delivery", a->id},
				  {"X-Ussdgw-Attempt", att},
				  {"X-Ussdgw-Timestamp", ts},
				  {"X-Ussdgw-Signature", sig}};
	struct http_request rq = {
	    .method = "POST",
	    .url = t->url,
	    .headers = h,
	    .n_headers = 5,
	    .body = a->body,
	    .body_len = strlen(a->body),
	    .timeout_ms = f->o.timeout_ms,
	    .connect_timeout_ms = f->o.timeout_ms,
	    .body_cap = 64 * 1024,
	};
	if (!http_client_request(f->http, &rq, http_done, a))
		failed(a, "request not started");
}

static void claimed(void *cls, int err, redisReply *reply)
{
	struct sms_forward *f = cls;
	f->polling--;
	if (f->freeing) {
		if (f->inflight == 0 && f->polling == 0)
			free(f);
		return;
	}
	if (err || !reply || reply->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < reply->elements; i++)
		start_attempt(f, reply->element[i]);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct sms_forward *f = w->data;
	if (f->polling || f->inflight >= CLAIM_BATCH * 4)
		return;
	char now[24], lease[24], batch[8];
	int64_t t = gw_now_ms();
	snprintf(now, sizeof(now), "%" PRId64, t);
	snprintf(lease, sizeof(lease), "%" PRId64, t + (int64_t)f->o.lease_ms);
	snprintf(batch, sizeof(batch), "%d", CLAIM_BATCH);
	/* Only the forwards this node knows: a job of a forward another node has (a
	 * config being rolled out) waits for that node. */
	for (unsigned i = 0; i < f->nt; i++) {
		char dkey[96];
		snprintf(dkey, sizeof(dkey), DUE "%s", f->t[i].name);
		const char *argv[] = {"EVAL", claim_lua, "1", dkey, now, lease, batch};
		if (store_redis_command_argv(f->redis, claimed, f, 0, 7, argv, NULL) == 0)
			f->polling++;
	}
}

int sms_forward_new(struct ev_loop *loop, struct store_redis *redis, struct http_client *http,
		    json_t *forwards, const struct sms_forward_opts *o, sms_forward_reply_fn reply,
		    void *reply_cls, struct sms_forward **out)
{
	struct sms_forward *f = calloc(1, sizeof(*f));
	if (!f)
		return GW_ENOMEM;
	f->loop = loop;
	f->redis = redis;
	f->http = http;
	f->o = *o;
	if (f->o.max_attempts < 1)
		f->o.max_attempts = 1;
	if (!f->o.lease_ms)
		f->o.lease_ms = f->o.timeout_ms * 2 + 1000;
	f->reply = reply;
	f->reply_cls = reply_cls;
	const char *name;
	json_t *v;
	json_object_foreach(forwards, name, v)
	{
		if (f->nt >= MAX_FORWARDS) {
			LOGP(DCONF, LOG_ERROR, "forwards: more than %d", MAX_FORWARDS);
			sms_forward_free(f);
			return GW_ECONFIG;
		}
		struct fwd_target *t = &f->t[f->nt];
		snprintf(t->name, sizeof(t->name), "%s", name);
		const char *url = cfg_str(v, "url");
		const char *sf = cfg_str(v, "secret_file");
		if (!url || strncmp(url, "http", 4) != 0 || !sf || !sf[0]) {
			LOGP(DCONF, LOG_ERROR,
			     "forwards.%s: needs url (http/https) and secret_file", name);
			sms_forward_free(f);
			return GW_ECONFIG;
		}
		int rc = secfile_read(sf, &t->secret, &t->secret_len);
		if (rc) {
			LOGP(DCONF, LOG_ERROR, "forwards.%s.secret_file %s: %s", name, sf,
			     gw_strerror(rc));
			sms_forward_free(f);
			return GW_ECONFIG;
		}
		while (t->secret_len && (t->secret[t->secret_len - 1] == '\n' ||
					 t->secret[t->secret_len - 1] == '\r'))
			t->secret[--t->secret_len] = '\0';
		f->nt++;
		if (!(t->url = strdup(url))) {
			sms_forward_free(f);
			return GW_ENOMEM;
		}
	}
	double s = (f->o.poll_ms ? f->o.poll_ms : 500) / 1000.0;
	ev_timer_init(&f->timer, on_timer, s, s);
	f->timer.data = f;
	if (f->nt)
		ev_timer_start(loop, &f->timer);
	*out = f;
	return 0;
}

void sms_forward_free(struct sms_forward *f)
{
	if (!f)
		return;
	ev_timer_stop(f->loop, &f->timer);
	for (unsigned i = 0; i < f->nt; i++) {
		free(f->t[i].url);
		if (f->t[i].secret)
			secfile_free(f->t[i].secret, f->t[i].secret_len);
		f->t[i].url = NULL;
		f->t[i].secret = NULL;
	}
	f->nt = 0;
	/* Attempts and a poll still out hold f; the last of them frees it. */
	f->freeing = true;
	if (f->inflight == 0 && f->polling == 0)
		free(f);
}
