/* The durable MT queue on Redis Streams (smpp_mtq.h). */
#include "ussdgw/smpp_mtq.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/clock.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/store_redis.h"

#define MTQ_GROUP "ussdgw"

static void stream_key(char *out, size_t n, const char *link)
{
	snprintf(out, n, "ussdgw:mtq:{%s}", link);
}

struct op {
	smpp_mtq_cb cb;
	smpp_mtq_read_cb rcb;
	void *cls;
	char mt_id[64];
};

static struct op *op_new(smpp_mtq_cb cb, smpp_mtq_read_cb rcb, void *cls)
{
	struct op *o = calloc(1, sizeof(*o));
	if (o) {
		o->cb = cb;
		o->rcb = rcb;
		o->cls = cls;
	}
	return o;
}

static int reply_err(int err, redisReply *r)
{
	if (err)
		return err;
	if (r->type == REDIS_REPLY_ERROR)
		return strncmp(r->str, "OVERLOAD", 8) == 0 ? GW_EOVERLOAD : GW_EDEPENDENCY;
	return 0;
}

static void simple_done(void *cls, int err, redisReply *reply)
{
	struct op *o = cls;
	err = reply_err(err, reply);
	if (o->cb)
		o->cb(o->cls, err, o->mt_id[0] ? o->mt_id : NULL);
	free(o);
}

/* KEYS: stream, MT hash. ARGV: max_len, now_ms, ttl, account, to, from, field/value pairs. */
static const char enqueue_lua[] =
    "if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then\n"
    "  return redis.error_reply('OVERLOAD MT queue full')\n"
    "end\n"
    "local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 7))\n"
    "redis.call('HSET', KEYS[2], 'state', 'queued', 'queued_at', ARGV[2], 'acct', ARGV[4],"
    " 'to', ARGV[5], 'from', ARGV[6])\n"
    "redis.call('EXPIRE', KEYS[2], ARGV[3])\n"
    "return id\n";

int smpp_mtq_enqueue(struct store_redis *r, const char *link, const struct smpp_mt *mt,
		     unsigned max_len, smpp_mtq_cb cb, void *cls)
{
	if (!r || !link || !mt || !mt->to || !mt->to[0] || !mt->text || !cb)
		return GW_EINVAL;
	struct op *o = op_new(cb, NULL, cls);
	if (!o)
		return GW_ENOMEM;
	if (mt->mt_id && mt->mt_id[0])
		snprintf(o->mt_id, sizeof(o->mt_id), "%s", mt->mt_id);
	else if (crypto_uuid4(o->mt_id) != 0) {
		free(o);
		return GW_ECRYPTO;
	}
	char skey[160], hkey[240], maxs[16], now[24], ton[4][4], rd[8];
	stream_key(skey, sizeof(skey), link);
	snprintf(hkey, sizeof(hkey), "ussdgw:mt:{%s}:%s", link, o->mt_id);
	snprintf(maxs, sizeof(maxs), "%u", max_len ? max_len : 100000);
	snprintf(now, sizeof(now), "%" PRId64, gw_now_ms());
	snprintf(ton[0], 4, "%u", mt->src_ton);
	snprintf(ton[1], 4, "%u", mt->src_npi);
	snprintf(ton[2], 4, "%u", mt->dst_ton);
	snprintf(ton[3], 4, "%u", mt->dst_npi);
	snprintf(rd, sizeof(rd), "%d", mt->registered_delivery);
	const char *argv[] = {
	    "EVAL",  enqueue_lua,
	    "2",     skey,
	    hkey,    maxs,
	    now,     "172800",
	    mt->account ? mt->account : "",
	    mt->to,
	    mt->from ? mt->from : "",
	    "id",    o->mt_id,
	    "to",    mt->to,
	    "from",  mt->from ? mt->from : "",
	    "text",  mt->text,
	    "st",    ton[0],
	    "sn",    ton[1],
	    "dt",    ton[2],
	    "dn",    ton[3],
	    "class", mt->msg_class ? mt->msg_class : "transactional",
	    "rd",    rd,
	    "acct",  mt->account ? mt->account : "",
	    "route", mt->route ? mt->route : "",
	};
	size_t argc = sizeof(argv) / sizeof(argv[0]);
	size_t argvlen[sizeof(argv) / sizeof(argv[0])];
	for (size_t i = 0; i < argc; i++)
		argvlen[i] = strlen(argv[i]);
	int rc = store_redis_command_argv(r, simple_done, o, 0, (int)argc, argv, argvlen);
	if (rc)
		free(o);
	return rc;
}

int smpp_mtq_prepare(struct store_redis *r, const char *link, smpp_mtq_cb cb, void *cls)
{
	char skey[160];
	stream_key(skey, sizeof(skey), link);
	struct op *o = op_new(cb, NULL, cls);
	if (!o)
		return GW_ENOMEM;
	/* BUSYGROUP (the group exists) is success: map it in the callback. */
	int rc = store_redis_command(r, simple_done, o, 0, "EVAL %s 1 %s %s",
				     "local ok, e = pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], "
				     "ARGV[1], '0', 'MKSTREAM')\n"
				     "return 1",
				     skey, MTQ_GROUP);
	if (rc)
		free(o);
	return rc;
}

void smpp_mtq_entry_clear(struct smpp_mtq_entry *e)
{
	free(e->text);
	e->text = NULL;
}

static void copy_str(char *dst, size_t n, const redisReply *v)
{
	size_t l = v->len < n - 1 ? v->len : n - 1;
	memcpy(dst, v->str, l);
	dst[l] = '\0';
}

/* Parse one [id, [f, v, ...]] element. */
static bool parse_entry(const redisReply *el, struct smpp_mtq_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->registered_delivery = -1;
	if (el->type != REDIS_REPLY_ARRAY || el->elements < 2 ||
	    el->element[0]->type != REDIS_REPLY_STRING)
		return false;
	copy_str(e->stream_id, sizeof(e->stream_id), el->element[0]);
	const redisReply *f = el->element[1];
	if (f->type != REDIS_REPLY_ARRAY) {
		e->deleted = true;
		return true;
	}
	for (size_t i = 0; i + 1 < f->elements; i += 2) {
		const redisReply *k = f->element[i], *v = f->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		char key[8];
		copy_str(key, sizeof(key), k);
		char num[16];
		if (!strcmp(key, "id"))
			copy_str(e->mt_id, sizeof(e->mt_id), v);
		else if (!strcmp(key, "to"))
			copy_str(e->to, sizeof(e->to), v);
		else if (!strcmp(key, "from"))
			copy_str(e->from, sizeof(e->from), v);
		else if (!strcmp(key, "text")) {
			free(e->text);
			e->text = malloc(v->len + 1);
			if (e->text) {
				memcpy(e->text, v->str, v->len);
				e->text[v->len] = '\0';
			}
		} else if (!strcmp(key, "class"))
			copy_str(e->msg_class, sizeof(e->msg_class), v);
		else if (!strcmp(key, "acct"))
			copy_str(e->account, sizeof(e->account), v);
		else if (!strcmp(key, "route"))
			copy_str(e->route, sizeof(e->route), v);
		else {
			copy_str(num, sizeof(num), v);
			long x = strtol(num, NULL, 10);
			if (!strcmp(key, "st"))
				e->src_ton = (uint8_t)x;
			else if (!strcmp(key, "sn"))
				e->src_npi = (uint8_t)x;
			else if (!strcmp(key, "dt"))
				e->dst_ton = (uint8_t)x;
			else if (!strcmp(key, "dn"))
				e->dst_npi = (uint8_t)x;
			else if (!strcmp(key, "rd"))
				e->registered_delivery = (int)x;
		}
	}
	if (!e->text || !e->mt_id[0]) {
		smpp_mtq_entry_clear(e);
		e->deleted = true; /* unusable entry: acknowledge it away */
	}
	return true;
}

static void deliver_entries(struct op *o, int err, const redisReply *list)
{
	size_t n = 0;
	struct smpp_mtq_entry *es = NULL;
	if (!err && list && list->type == REDIS_REPLY_ARRAY && list->elements) {
		es = calloc(list->elements, sizeof(*es));
		if (!es)
			err = GW_ENOMEM;
		for (size_t i = 0; es && i < list->elements; i++)
			if (parse_entry(list->element[i], &es[n]))
				n++;
	}
	o->rcb(o->cls, err, es, n);
	for (size_t i = 0; i < n; i++)
		smpp_mtq_entry_clear(&es[i]);
	free(es);
}

static void read_done(void *cls, int err, redisReply *reply)
{
	struct op *o = cls;
	err = reply_err(err, reply);
	const redisReply *list = NULL;
	/* [[stream, [entries]]] or nil */
	if (!err && reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
	    reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements == 2)
		list = reply->element[0]->element[1];
	deliver_entries(o, err, list);
	free(o);
}

int smpp_mtq_read(struct store_redis *r, const char *link, const char *consumer, unsigned count,
		  bool own_pending, smpp_mtq_read_cb cb, void *cls)
{
	char skey[160], cnt[16];
	stream_key(skey, sizeof(skey), link);
	snprintf(cnt, sizeof(cnt), "%u", count ? count : 1);
	struct op *o = op_new(NULL, cb, cls);
	if (!o)
		return GW_ENOMEM;
	const char *argv[] = {"XREADGROUP", "GROUP", MTQ_GROUP,
			      consumer,	    "COUNT", cnt,
			      "STREAMS",    skey,    own_pending ? "0" : ">"};
	size_t argvlen[9];
	for (int i = 0; i < 9; i++)
		argvlen[i] = strlen(argv[i]);
	int rc = store_redis_command_argv(r, read_done, o, 0, 9, argv, argvlen);
	if (rc)
		free(o);
	return rc;
}

static void autoclaim_done(void *cls, int err, redisReply *reply)
{
	struct op *o = cls;
	err = reply_err(err, reply);
	const redisReply *list = NULL;
	if (!err && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2)
		list = reply->element[1];
	deliver_entries(o, err, list);
	free(o);
}

int smpp_mtq_autoclaim(struct store_redis *r, const char *link, const char *consumer,
		       unsigned min_idle_ms, unsigned count, smpp_mtq_read_cb cb, void *cls)
{
	char skey[160], idle[16], cnt[16];
	stream_key(skey, sizeof(skey), link);
	snprintf(idle, sizeof(idle), "%u", min_idle_ms);
	snprintf(cnt, sizeof(cnt), "%u", count ? count : 1);
	struct op *o = op_new(NULL, cb, cls);
	if (!o)
		return GW_ENOMEM;
	const char *argv[] = {"XAUTOCLAIM", skey, MTQ_GROUP, consumer, idle, "0-0", "COUNT", cnt};
	size_t argvlen[8];
	for (int i = 0; i < 8; i++)
		argvlen[i] = strlen(argv[i]);
	int rc = store_redis_command_argv(r, autoclaim_done, o, 0, 8, argv, argvlen);
	if (rc)
		free(o);
	return rc;
}

static void ignore_done(void *cls, int err, redisReply *reply)
{
	(void)cls, (void)err, (void)reply;
}

/* KEYS: stream, MT hash. ARGV: group, consumer, stream id. */
static const char touch_lua[] =
    "redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], '0', ARGV[3], 'JUSTID')\n"
    "redis.call('HINCRBY', KEYS[2], 'attempts', 1)\n"
    "return 1\n";

int smpp_mtq_touch(struct store_redis *r, const char *link, const char *consumer,
		   const char *stream_id, const char *mt_id)
{
	char skey[160], hkey[240];
	stream_key(skey, sizeof(skey), link);
	snprintf(hkey, sizeof(hkey), "ussdgw:mt:{%s}:%s", link, mt_id);
	const char *argv[] = {"EVAL", touch_lua, "2", skey, hkey, MTQ_GROUP, consumer, stream_id};
	size_t argvlen[8];
	for (int i = 0; i < 8; i++)
		argvlen[i] = strlen(argv[i]);
	return store_redis_command_argv(r, ignore_done, NULL, 0, 8, argv, argvlen);
}

/* KEYS: stream, MT hash. ARGV: group, stream id, state, status, smsc ids, attempts, ttl, now. */
static const char finish_lua[] =
    "redis.call('HSET', KEYS[2], 'state', ARGV[3], 'status', ARGV[4], 'smsc_ids', ARGV[5],"
    " 'finished_at', ARGV[8])\n"
    "if redis.call('HEXISTS', KEYS[2], 'attempts') == 0 then redis.call('HSET', KEYS[2], "
    "'attempts', ARGV[6]) end\n"
    "redis.call('EXPIRE', KEYS[2], ARGV[7])\n"
    "redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('XDEL', KEYS[1], ARGV[2])\n"
    "return 1\n";

int smpp_mtq_finish(struct store_redis *r, const char *link, const char *stream_id,
		    const char *mt_id, const char *state, uint32_t status, const char *smsc_ids,
		    unsigned attempts, unsigned ttl_s, smpp_mtq_cb cb, void *cls)
{
	char skey[160], hkey[240], st[16], att[16], ttl[16], now[24];
	stream_key(skey, sizeof(skey), link);
	snprintf(hkey, sizeof(hkey), "ussdgw:mt:{%s}:%s", link, mt_id && mt_id[0] ? mt_id : "-");
	snprintf(st, sizeof(st), "0x%08x", status);
	snprintf(att, sizeof(att), "%u", attempts);
	snprintf(ttl, sizeof(ttl), "%u", ttl_s);
	snprintf(now, sizeof(now), "%" PRId64, gw_now_ms());
	struct op *o = op_new(cb, NULL, cls);
	if (!o)
		return GW_ENOMEM;
	if (mt_id)
		snprintf(o->mt_id, sizeof(o->mt_id), "%s", mt_id);
	const char *argv[] = {"EVAL",	 finish_lua, "2",   skey, hkey,
			      MTQ_GROUP, stream_id,  state, st,	  smsc_ids ? smsc_ids : "",
			      att,	 ttl,	     now};
	size_t argvlen[13];
	for (int i = 0; i < 13; i++)
		argvlen[i] = strlen(argv[i]);
	int rc = store_redis_command_argv(r, simple_done, o, 0, 13, argv, argvlen);
	if (rc)
		free(o);
	return rc;
}
