/* MO concatenation in Redis (smpp_reassembly.h). */
#include "ussdgw/smpp_reassembly.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/smpp_text.h"
#include "ussdgw/store_redis.h"

/* KEYS: the parts hash. ARGV: seq, part, timeout, total. */
static const char add_lua[] =
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
    "local total = tonumber(ARGV[4])\n"
    "if redis.call('HLEN', KEYS[1]) < total then return redis.call('HLEN', KEYS[1]) end\n"
    "local parts = {}\n"
    "for i = 1, total do\n"
    "  local p = redis.call('HGET', KEYS[1], tostring(i))\n"
    "  if not p then return 0 end\n"
    "  parts[i] = p\n"
    "end\n"
    "return parts\n";

static void key_of(char *out, size_t n, const char *link, const char *msisdn,
		   const struct smpp_concat *c)
{
	snprintf(out, n, "ussdgw:mo:{%s}:%s:%u:%u", link, msisdn, c->ref, c->total);
}

struct reasm_op {
	smpp_reasm_cb cb;
	void *cls;
};

static void add_done(void *cls, int err, redisReply *reply)
{
	struct reasm_op *o = cls;
	if (!err && reply->type == REDIS_REPLY_ERROR)
		err = GW_EDEPENDENCY;
	if (err || reply->type != REDIS_REPLY_ARRAY) {
		o->cb(o->cls, err, false, NULL, 0);
		free(o);
		return;
	}
	size_t len = 0;
	for (size_t i = 0; i < reply->elements; i++)
		len += reply->element[i]->len;
	uint8_t *data = malloc(len + 1);
	if (!data) {
		o->cb(o->cls, GW_ENOMEM, false, NULL, 0);
		free(o);
		return;
	}
	size_t off = 0;
	for (size_t i = 0; i < reply->elements; i++) {
		memcpy(data + off, reply->element[i]->str, reply->element[i]->len);
		off += reply->element[i]->len;
	}
	o->cb(o->cls, 0, true, data, len);
	free(o);
}

int smpp_reasm_add(struct store_redis *r, const char *link, const char *msisdn,
		   const struct smpp_concat *c, const uint8_t *part, size_t len, unsigned timeout_s,
		   smpp_reasm_cb cb, void *cls)
{
	if (!c || c->total == 0 || c->seq == 0 || c->seq > c->total || !cb)
		return GW_EINVAL;
	char key[256], seq[8], to[16], total[8];
	key_of(key, sizeof(key), link, msisdn, c);
	snprintf(seq, sizeof(seq), "%u", c->seq);
	snprintf(to, sizeof(to), "%u", timeout_s);
	snprintf(total, sizeof(total), "%u", c->total);
	struct reasm_op *o = malloc(sizeof(*o));
	if (!o)
		return GW_ENOMEM;
	o->cb = cb;
	o->cls = cls;
	const char *argv[] = {"EVAL", add_lua, "1", key, seq, (const char *)part, to, total};
	size_t argvlen[] = {4,		strlen(add_lua), 1, strlen(key), strlen(seq), len,
			    strlen(to), strlen(total)};
	if (!part)
		argv[5] = "";
	int rc = store_redis_command_argv(r, add_done, o, 0, 8, argv, argvlen);
	if (rc)
		free(o);
	return rc;
}

static void ignore(void *cls, int err, redisReply *reply)
{
	(void)cls, (void)err, (void)reply;
}

int smpp_reasm_release(struct store_redis *r, const char *link, const char *msisdn,
		       const struct smpp_concat *c)
{
	char key[256];
	key_of(key, sizeof(key), link, msisdn, c);
	return store_redis_command(r, ignore, NULL, 0, "DEL %s", key);
}
