/* Consent: live view in Redis, ledger in PostgreSQL through a Redis outbox (sms_consent.h). */
#include "ussdgw/sms_consent.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ussdgw/clock.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"
#include "ussdgw/msisdn.h"
#include "ussdgw/store_pg.h"
#include "ussdgw/store_redis.h"

#define OUTBOX	    "ussdgw:consent:outbox"
#define OUTBOX_BAD  "ussdgw:consent:outbox-refused"
#define DRAIN_BATCH 50
#define STMT	    "sms_consent_record"

/* KEYS[1] outbox, KEYS[2] refused list; ARGV[1] the entry: moved when still there. */
static const char refuse_lua[] = "if redis.call('LREM', KEYS[1], 1, ARGV[1]) > 0 then "
				 "redis.call('LPUSH', KEYS[2], ARGV[1]) end return 1";

/* KEYS[1] the view, KEYS[2] the outbox; ARGV[1] action, ARGV[2] service, ARGV[3] event. */
static const char change_lua[] =
    "if ARGV[1] == 'stop' then redis.call('HSET', KEYS[1], ARGV[2], '1') "
    "elseif ARGV[1] == 'stopall' then redis.call('HSET', KEYS[1], '*', '1') "
    "else redis.call('HDEL', KEYS[1], ARGV[2], '*') end "
    "redis.call('RPUSH', KEYS[2], ARGV[3]) return 1";

struct sms_consent {
	struct ev_loop *loop;
	struct store_redis *redis;
	struct store_pg *pg;
	const struct crypto_keyring *keys;
	char node[64];
	ev_timer timer;
	bool draining;	   /* one drain round at a time */
	unsigned inflight; /* ledger writes of the round still out */
	bool round_failed;
	bool freeing;
};

struct change_job {
	sms_consent_cb cb;
	void *cls;
	char event_id[37];
};

struct ledger_job {
	struct sms_consent *c;
	char *entry; /* the outbox element, byte for byte (for LREM) */
};

const char *sms_consent_action_name(enum sms_consent_action a)
{
	switch (a) {
	case SMS_CONSENT_STOP:
		return "stop";
	case SMS_CONSENT_STOPALL:
		return "stopall";
	case SMS_CONSENT_START:
		return "start";
	}
	return "UNKNOWN";
}

static void ledger_count(const char *outcome)
{
	char lb[48];
	snprintf(lb, sizeof(lb), "outcome=\"%s\"", outcome);
	metric_inc(metrics_counter("ussdgw_sms_consent_ledger_total",
				   "Consent changes copied to the PostgreSQL ledger", lb));
}

static void change_done(void *cls, int err, redisReply *reply)
{
	struct change_job *j = cls;
	if (!err && (!reply || reply->type == REDIS_REPLY_ERROR)) {
		LOGP(DSMS, LOG_ERROR, "consent write refused by Redis: %s",
		     reply ? reply->str : "no reply");
		err = GW_EDEPENDENCY;
	}
	j->cb(j->cls, err, j->event_id);
	free(j);
}

int sms_consent_change(struct sms_consent *c, const struct sms_consent_change *ch,
		       sms_consent_cb cb, void *cls)
{
	if (!c || !ch || !cb || !ch->msisdn || !ch->service || !ch->channel ||
	    !msisdn_is_canonical(ch->msisdn))
		return GW_EINVAL;
	char tok[CRYPTO_TOKEN_HEX + 1];
	int rc = crypto_msisdn_token(c->keys, ch->msisdn, tok);
	if (rc)
		return rc;
	struct change_job *j = calloc(1, sizeof(*j));
	if (!j)
		return GW_ENOMEM;
	j->cb = cb;
	j->cls = cls;
	if ((rc = crypto_uuid4(j->event_id))) {
		free(j);
		return rc;
	}
	json_t *ev = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s, s:s?, s:I}", "id", j->event_id,
	    "token", tok, "service", ch->service, "action", sms_consent_action_name(ch->action),
	    "channel", ch->channel, "shortcode", ch->shortcode, "keyword", ch->keyword, "link",
	    ch->link, "node", c->node, "answered", ch->answered, "at_ms", (json_int_t)gw_now_ms());
	char *evs = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (!evs) {
		free(j);
		return GW_ENOMEM;
	}
	char view[96];
	snprintf(view, sizeof(view), "ussdgw:consent:{%s}", tok);
	const char *argv[] = {"EVAL",	   change_lua, "2",
			      view,	   OUTBOX,     sms_consent_action_name(ch->action),
			      ch->service, evs};
	rc = store_redis_command_argv(c->redis, change_done, j, 0, 8, argv, NULL);
	free(evs);
	if (rc) {
		free(j);
		return rc;
	}
	return 0;
}

/* ---- the ledger drainer --------------------------------------------------------------- */

/* Called last by every drain callback: @p c may be gone afterwards. */
static void round_end(struct sms_consent *c)
{
	if (c->inflight)
		return;
	c->draining = false;
	if (c->freeing)
		free(c);
}

static void removed(void *cls, int err, redisReply *reply)
{
	struct ledger_job *lj = cls;
	struct sms_consent *c = lj->c;
	(void)reply;
	if (err)
		LOGP(DSMS, LOG_NOTICE,
		     "consent outbox: entry committed but not removed (%s); "
		     "it will be replayed (a no-op)",
		     gw_strerror(err));
	free(lj->entry);
	free(lj);
	c->inflight--;
	round_end(c);
}

static void recorded(void *cls, const struct store_pg_result *r)
{
	struct ledger_job *lj = cls;
	struct sms_consent *c = lj->c;
	if (r->status == STORE_PG_HARD_ERROR && r->err == GW_EPEER_STATUS && !c->freeing) {
		/* The database refuses the entry itself (a check failed): it would block
		 * nothing but would be retried forever; it moves to a list for review. */
		LOGP(DSMS, LOG_ERROR, "consent ledger: entry refused (%s %s); moved to " OUTBOX_BAD,
		     r->sqlstate, r->message);
		ledger_count("refused");
		const char *argv[] = {"EVAL", refuse_lua, "2", OUTBOX, OUTBOX_BAD, lj->entry};
		if (store_redis_command_argv(c->redis, removed, lj, 0, 6, argv, NULL) == 0)
			return;
		free(lj->entry);
		free(lj);
		c->inflight--;
		round_end(c);
		return;
	}
	if (r->status < 0) {
		LOGP(DSMS, LOG_INFO,
		     "consent ledger: PostgreSQL not available (%s); kept in "
		     "the outbox",
		     gw_strerror(r->err));
		ledger_count("deferred");
		c->round_failed = true;
		free(lj->entry);
		free(lj);
		c->inflight--;
		round_end(c);
		return;
	}
	bool fresh = r->res && PQntuples(r->res) == 1 && !strcmp(PQgetvalue(r->res, 0, 0), "t");
	ledger_count(fresh ? "recorded" : "replay");
	if (c->freeing ||
	    store_redis_command(c->redis, removed, lj, 0, "LREM " OUTBOX " 1 %s", lj->entry) != 0) {
		free(lj->entry);
		free(lj);
		c->inflight--;
		round_end(c);
	}
}

static void send_entry(struct sms_consent *c, const char *s, size_t len)
{
	json_error_t je;
	json_t *ev = json_loadb(s, len, 0, &je);
	const char *f[10];
	static const char *const names[10] = {"id",	 "token",     "service", "action",
					      "channel", "shortcode", "keyword", "link",
					      "node",	 "answered"};
	char at[24];
	if (!ev) {
		LOGP(DSMS, LOG_ERROR, "consent outbox: unreadable entry dropped (%s)", je.text);
		return;
	}
	for (int i = 0; i < 10; i++)
		f[i] = json_string_value(json_object_get(ev, names[i]));
	snprintf(at, sizeof(at), "%lld",
		 (long long)json_integer_value(json_object_get(ev, "at_ms")));
	const char *vals[11] = {f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], at};
	struct ledger_job *lj = calloc(1, sizeof(*lj));
	if (lj)
		lj->entry = strndup(s, len);
	if (!lj || !lj->entry || !f[0] || !f[1] || !f[2] || !f[3] || !f[4] || !f[8]) {
		if (lj && lj->entry)
			LOGP(DSMS, LOG_ERROR, "consent outbox: entry lacks fields; left in place");
		if (lj)
			free(lj->entry);
		free(lj);
		json_decref(ev);
		return;
	}
	lj->c = c;
	c->inflight++;
	int rc = store_pg_exec(c->pg, STMT, 11, vals, NULL, NULL, 0, recorded, lj);
	json_decref(ev);
	if (rc) {
		c->inflight--;
		free(lj->entry);
		free(lj);
	}
}

static void outbox_read(void *cls, int err, redisReply *reply)
{
	struct sms_consent *c = cls;
	c->inflight--;
	if (err || !reply || reply->type != REDIS_REPLY_ARRAY) {
		round_end(c);
		return;
	}
	metric_set(metrics_gauge("ussdgw_sms_consent_outbox",
				 "Consent changes waiting for the PostgreSQL ledger (last drain)",
				 NULL),
		   (double)reply->elements);
	for (size_t i = 0; !c->freeing && i < reply->elements; i++) {
		redisReply *e = reply->element[i];
		if (e->type == REDIS_REPLY_STRING)
			send_entry(c, e->str, e->len);
	}
	round_end(c);
}

void sms_consent_flush(struct sms_consent *c)
{
	if (!c || c->draining || !c->pg || !store_pg_ready(c->pg))
		return;
	c->draining = true;
	c->round_failed = false;
	c->inflight = 1;
	if (store_redis_command(c->redis, outbox_read, c, 0, "LRANGE " OUTBOX " 0 %d",
				DRAIN_BATCH - 1) != 0) {
		c->inflight = 0;
		c->draining = false;
	}
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	sms_consent_flush(w->data);
}

int sms_consent_new(struct ev_loop *loop, struct store_redis *redis, struct store_pg *pg,
		    const struct crypto_keyring *keys, const char *node_id, unsigned flush_ms,
		    struct sms_consent **out)
{
	if (!loop || !redis || !keys)
		return GW_EINVAL;
	struct sms_consent *c = calloc(1, sizeof(*c));
	if (!c)
		return GW_ENOMEM;
	c->loop = loop;
	c->redis = redis;
	c->pg = pg;
	c->keys = keys;
	snprintf(c->node, sizeof(c->node), "%s", node_id && node_id[0] ? node_id : "node");
	if (pg) {
		int rc = store_pg_statement(pg, STMT,
					    "SELECT consent_record($1::uuid, $2, $3, $4, $5, $6, "
					    "$7, $8, $9, $10, $11::bigint)",
					    11);
		if (rc) {
			free(c);
			return rc;
		}
		double s = (flush_ms ? flush_ms : 1000) / 1000.0;
		ev_timer_init(&c->timer, on_timer, s, s);
		c->timer.data = c;
		ev_timer_start(loop, &c->timer);
	}
	*out = c;
	return 0;
}

void sms_consent_free(struct sms_consent *c)
{
	if (!c)
		return;
	if (c->pg)
		ev_timer_stop(c->loop, &c->timer);
	/* Drain work still out holds c: the stores stop after this service and answer it
	 * (GW_ECANCELED at the latest); the last callback frees c. */
	c->freeing = true;
	if (c->inflight == 0)
		free(c);
}
