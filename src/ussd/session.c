/* USSD session store in Redis with compare-and-set saves (ussd_session.h). */
#include "ussdgw/ussd_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/store_redis.h"

/* KEYS[1] the record; ARGV expected gen, new gen, record JSON, TTL ms.
 * {1, gen} saved; {0, current gen} conflict. */
static const char cas_script[] =
	"local g = redis.call('HGET', KEYS[1], 'gen')\n"
	"if not g then g = '0' end\n"
	"if g ~= ARGV[1] then return {0, g} end\n"
	"redis.call('HSET', KEYS[1], 'gen', ARGV[2], 'rec', ARGV[3])\n"
	"redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))\n"
	"return {1, ARGV[2]}\n";

void ussd_session_rec_clear(struct ussd_session_rec *r)
{
	if (!r)
		return;
	free(r->state);
	free(r->ans);
	memset(r, 0, sizeof(*r));
}

int ussd_session_rec_copy(struct ussd_session_rec *dst, const struct ussd_session_rec *src)
{
	*dst = *src;
	dst->state = src->state ? strdup(src->state) : NULL;
	dst->ans = src->ans ? strdup(src->ans) : NULL;
	if ((src->state && !dst->state) || (src->ans && !dst->ans)) {
		ussd_session_rec_clear(dst);
		return GW_ENOMEM;
	}
	return 0;
}

char *ussd_session_rec_to_json(const struct ussd_session_rec *r)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:s, s:b, s:s, s:I, s:I, s:I}",
			      "sid", r->sid, "net", r->net, "svc", r->svc, "menu", r->menu, "ver",
			      r->ver, "fp", r->fp, "sq", (json_int_t)r->smpp_seq, "in",
			      (json_int_t)r->in_ms, "ae", r->ans_end, "scr", r->screen, "end",
			      r->ended, "why", r->reason, "t0", (json_int_t)r->t0_ms, "last",
			      (json_int_t)r->last_ms, "n", (json_int_t)r->steps);
	if (!o)
		return NULL;
	if (r->state)
		json_object_set_new(o, "st", json_string(r->state));
	if (r->ans)
		json_object_set_new(o, "ans", json_string(r->ans));
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static int copy_str(json_t *o, const char *k, char *dst, size_t cap)
{
	json_t *v = json_object_get(o, k);
	if (!v) {
		dst[0] = '\0';
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) >= cap)
		return GW_EINVAL;
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

int ussd_session_rec_from_json(const char *buf, size_t len, struct ussd_session_rec *out)
{
	memset(out, 0, sizeof(*out));
	json_t *o = json_loadb(buf, len, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return GW_EINVAL;
	}
	int rc = 0;
	rc |= copy_str(o, "sid", out->sid, sizeof(out->sid));
	rc |= copy_str(o, "net", out->net, sizeof(out->net));
	rc |= copy_str(o, "svc", out->svc, sizeof(out->svc));
	rc |= copy_str(o, "menu", out->menu, sizeof(out->menu));
	rc |= copy_str(o, "ver", out->ver, sizeof(out->ver));
	rc |= copy_str(o, "fp", out->fp, sizeof(out->fp));
	rc |= copy_str(o, "scr", out->screen, sizeof(out->screen));
	rc |= copy_str(o, "why", out->reason, sizeof(out->reason));
	out->smpp_seq = (uint32_t)json_integer_value(json_object_get(o, "sq"));
	out->in_ms = json_integer_value(json_object_get(o, "in"));
	out->t0_ms = json_integer_value(json_object_get(o, "t0"));
	out->last_ms = json_integer_value(json_object_get(o, "last"));
	out->steps = (uint32_t)json_integer_value(json_object_get(o, "n"));
	out->ans_end = json_is_true(json_object_get(o, "ae"));
	out->ended = json_is_true(json_object_get(o, "end"));
	json_t *st = json_object_get(o, "st"), *ans = json_object_get(o, "ans");
	if (json_is_string(st))
		out->state = strdup(json_string_value(st));
	if (json_is_string(ans))
		out->ans = strdup(json_string_value(ans));
	json_decref(o);
	if (rc) {
		ussd_session_rec_clear(out);
		return GW_EINVAL;
	}
	return 0;
}

void ussd_session_key(const char *link, const char *msisdn, char *out, size_t cap)
{
	snprintf(out, cap, "ussd:{%s:%s}:s", link, msisdn);
}

struct load_ctx {
	ussd_session_load_cb cb;
	void *cls;
};

static void on_load(void *cls, int err, redisReply *reply)
{
	struct load_ctx *c = cls;
	if (err) {
		c->cb(c->cls, err, NULL);
		free(c);
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
		c->cb(c->cls, GW_EDEPENDENCY, NULL);
		free(c);
		return;
	}
	redisReply *g = reply->element[0], *r = reply->element[1];
	if (g->type != REDIS_REPLY_STRING || r->type != REDIS_REPLY_STRING) {
		c->cb(c->cls, 0, NULL);
		free(c);
		return;
	}
	struct ussd_session_rec rec;
	if (ussd_session_rec_from_json(r->str, r->len, &rec)) {
		/* An unreadable record is treated as none: the step starts afresh. */
		c->cb(c->cls, 0, NULL);
		free(c);
		return;
	}
	rec.gen = strtoull(g->str, NULL, 10);
	c->cb(c->cls, 0, &rec);
	ussd_session_rec_clear(&rec);
	free(c);
}

int ussd_session_load(struct store_redis *r, const char *link, const char *msisdn, int timeout_ms,
		      ussd_session_load_cb cb, void *cls)
{
	char key[160];
	ussd_session_key(link, msisdn, key, sizeof(key));
	struct load_ctx *c = malloc(sizeof(*c));
	if (!c)
		return GW_ENOMEM;
	c->cb = cb;
	c->cls = cls;
	int rc = store_redis_command(r, on_load, c, timeout_ms, "HMGET %s gen rec", key);
	if (rc)
		free(c);
	return rc;
}

struct save_ctx {
	ussd_session_save_cb cb;
	void *cls;
};

static void on_save(void *cls, int err, redisReply *reply)
{
	struct save_ctx *c = cls;
	uint64_t gen = 0;
	if (!err) {
		if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
		    reply->element[0]->type == REDIS_REPLY_INTEGER) {
			redisReply *g = reply->element[1];
			if (g->type == REDIS_REPLY_STRING)
				gen = strtoull(g->str, NULL, 10);
			err = reply->element[0]->integer == 1 ? 0 : GW_ECONFLICT;
		} else {
			err = GW_EDEPENDENCY;
		}
	}
	c->cb(c->cls, err, gen);
	free(c);
}

int ussd_session_save(struct store_redis *r, const char *link, const char *msisdn,
		      const struct ussd_session_rec *rec, uint64_t expect_gen, int ttl_ms,
		      int timeout_ms, ussd_session_save_cb cb, void *cls)
{
	char key[160], eg[24], ng[24], ttl[24];
	ussd_session_key(link, msisdn, key, sizeof(key));
	snprintf(eg, sizeof(eg), "%llu", (unsigned long long)expect_gen);
	snprintf(ng, sizeof(ng), "%llu", (unsigned long long)expect_gen + 1);
	snprintf(ttl, sizeof(ttl), "%d", ttl_ms > 0 ? ttl_ms : 1);
	char *js = ussd_session_rec_to_json(rec);
	if (!js)
		return GW_ENOMEM;
	struct save_ctx *c = malloc(sizeof(*c));
	if (!c) {
		free(js);
		return GW_ENOMEM;
	}
	c->cb = cb;
	c->cls = cls;
	const char *argv[] = {"EVAL", cas_script, "1", key, eg, ng, js, ttl};
	size_t lens[8];
	for (int i = 0; i < 8; i++)
		lens[i] = strlen(argv[i]);
	int rc = store_redis_command_argv(r, on_save, c, timeout_ms, 8, argv, lens);
	free(js);
	if (rc)
		free(c);
	return rc;
}
