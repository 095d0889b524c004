/* Delivery receipts: parsing, id normalisation, correlation in Redis (smpp_dlr.h). */
#include "ussdgw/smpp_dlr.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/clock.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/smpp_pdu.h"
#include "ussdgw/store_redis.h"

static const char *const state_names[] = {
    "UNKNOWN",	     "ENROUTE",	 "DELIVERED", "EXPIRED",  "DELETED",
    "UNDELIVERABLE", "ACCEPTED", "UNKNOWN",   "REJECTED",
};

const char *smpp_msg_state_name(unsigned state)
{
	return state < sizeof(state_names) / sizeof(state_names[0]) ? state_names[state]
								    : "UNKNOWN";
}

bool smpp_msg_state_final(unsigned state)
{
	return state == SMPP_STATE_DELIVERED || state == SMPP_STATE_EXPIRED ||
	       state == SMPP_STATE_DELETED || state == SMPP_STATE_UNDELIVERABLE ||
	       state == SMPP_STATE_REJECTED;
}

static const struct {
	const char *word;
	unsigned state;
} stat_words[] = {
    {"delivrd", SMPP_STATE_DELIVERED},	   {"delivered", SMPP_STATE_DELIVERED},
    {"expired", SMPP_STATE_EXPIRED},	   {"deleted", SMPP_STATE_DELETED},
    {"undeliv", SMPP_STATE_UNDELIVERABLE}, {"undeliverable", SMPP_STATE_UNDELIVERABLE},
    {"failed", SMPP_STATE_UNDELIVERABLE},  {"acceptd", SMPP_STATE_ACCEPTED},
    {"accepted", SMPP_STATE_ACCEPTED},	   {"unknown", SMPP_STATE_UNKNOWN},
    {"rejectd", SMPP_STATE_REJECTED},	   {"rejected", SMPP_STATE_REJECTED},
    {"enroute", SMPP_STATE_ENROUTE},
};

/* Find "key" followed by optional blanks and ':' at a word boundary in s[0..n).
 * @return offset just after the ':' or -1. */
static long find_key(const char *s, size_t n, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i + kl <= n; i++) {
		if (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '_'))
			continue;
		if (strncasecmp(s + i, key, kl) != 0)
			continue;
		size_t j = i + kl;
		while (j < n && s[j] == ' ')
			j++;
		if (j < n && s[j] == ':')
			return (long)(j + 1);
	}
	return -1;
}

/* Copy the value starting at @p off (blanks skipped) up to the next blank. */
static size_t value_at(const char *s, size_t n, long off, char *out, size_t cap)
{
	size_t i = (size_t)off, k = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n' &&
	       s[i] != '\0') {
		if (k + 1 < cap)
			out[k++] = s[i];
		i++;
	}
	if (cap)
		out[k] = '\0';
	return k;
}

static unsigned parse_uint(const char *v, bool *ok)
{
	char *end;
	unsigned long x = strtoul(v, &end, 10);
	*ok = end != v && *end == '\0' && x <= 100000000ul;
	return *ok ? (unsigned)x : 0;
}

int smpp_dlr_parse_text(const char *text, size_t len, struct smpp_dlr *out)
{
	if (!out || (!text && len))
		return GW_EINVAL;
	memset(out, 0, sizeof(*out));
	out->err = -1;
	if (!text)
		return GW_ENOENT;
	/* Everything after "text:" is the message body: never search in it. */
	long t = find_key(text, len, "text");
	size_t n = t >= 0 ? (size_t)t - 5 : len;
	char v[SMPP_DLR_ID_MAX];
	bool ok;
	long o;
	if ((o = find_key(text, n, "id")) >= 0)
		value_at(text, n, o, out->id, sizeof(out->id));
	if ((o = find_key(text, n, "sub")) >= 0 && value_at(text, n, o, v, sizeof(v)))
		out->sub = parse_uint(v, &ok);
	if ((o = find_key(text, n, "dlvrd")) >= 0 && value_at(text, n, o, v, sizeof(v)))
		out->dlvrd = parse_uint(v, &ok);
	if ((o = find_key(text, n, "submit date")) >= 0 ||
	    (o = find_key(text, n, "submit_date")) >= 0)
		value_at(text, n, o, out->submit_date, sizeof(out->submit_date));
	if ((o = find_key(text, n, "done date")) >= 0 || (o = find_key(text, n, "done_date")) >= 0)
		value_at(text, n, o, out->done_date, sizeof(out->done_date));
	if ((o = find_key(text, n, "stat")) >= 0 && value_at(text, n, o, v, sizeof(v))) {
		size_t sl = strlen(v) < sizeof(out->stat) - 1 ? strlen(v) : sizeof(out->stat) - 1;
		memcpy(out->stat, v, sl);
		out->stat[sl] = '\0';
		for (size_t i = 0; i < sizeof(stat_words) / sizeof(stat_words[0]); i++)
			if (strcasecmp(v, stat_words[i].word) == 0)
				out->state = stat_words[i].state;
	}
	if ((o = find_key(text, n, "err")) >= 0 && value_at(text, n, o, v, sizeof(v))) {
		unsigned e = parse_uint(v, &ok);
		if (ok)
			out->err = (int)e;
	}
	return out->id[0] ? 0 : GW_ENOENT;
}

bool smpp_dlr_is_receipt(const struct smpp_pdu *pdu)
{
	unsigned type = pdu->esm_class & 0x3C;
	return type == 0x04 || type == 0x08 ||
	       smpp_pdu_find_tlv(pdu, SMPP_TLV_RECEIPTED_MESSAGE_ID) != NULL;
}

int smpp_dlr_parse_pdu(const struct smpp_pdu *pdu, struct smpp_dlr *out)
{
	if (!pdu || !out)
		return GW_EINVAL;
	const uint8_t *sm = pdu->short_message;
	size_t smlen = pdu->sm_length;
	const struct smpp_tlv *pl = smpp_pdu_find_tlv(pdu, SMPP_TLV_MESSAGE_PAYLOAD);
	if (!smlen && pl) {
		sm = smpp_tlv_value(pl);
		smlen = pl->len;
	}
	smpp_dlr_parse_text((const char *)sm, smlen, out);
	const struct smpp_tlv *t = smpp_pdu_find_tlv(pdu, SMPP_TLV_RECEIPTED_MESSAGE_ID);
	if (t && t->len) {
		const uint8_t *v = smpp_tlv_value(t);
		size_t l = t->len;
		while (l && v[l - 1] == '\0')
			l--;
		if (l && l < sizeof(out->id)) {
			memcpy(out->id, v, l);
			out->id[l] = '\0';
			out->from_tlv = true;
		}
	}
	uint32_t st;
	if (smpp_pdu_tlv_uint(pdu, SMPP_TLV_MESSAGE_STATE, &st) == 0 && st <= 8) {
		out->state = st;
		out->from_tlv = true;
	}
	t = smpp_pdu_find_tlv(pdu, SMPP_TLV_NETWORK_ERROR_CODE);
	if (t && t->len == 3 && out->err < 0) {
		const uint8_t *v = smpp_tlv_value(t);
		out->err = (v[1] << 8) | v[2];
	}
	return out->id[0] ? 0 : GW_ENOENT;
}

int smpp_dlr_normalise(const char *id, size_t len, struct smpp_dlr_ids *out)
{
	if (!id || !out)
		return GW_EINVAL;
	memset(out, 0, sizeof(*out));
	while (len && (id[len - 1] == ' ' || id[len - 1] == '\0' || id[len - 1] == '\t'))
		len--;
	while (len && (*id == ' ' || *id == '\t')) {
		id++;
		len--;
	}
	if (!len || len > SMPP_DLR_ID_MAX - 1)
		return GW_EINVAL;
	char *p = out->id[0];
	bool dec = true, hex = true;
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		char c = (char)tolower((unsigned char)id[i]);
		if (!isprint((unsigned char)c))
			return GW_EINVAL;
		if (k == 0 && c == '0' && i + 1 < len)
			continue; /* leading zeros */
		dec = dec && isdigit((unsigned char)c);
		hex = hex && isxdigit((unsigned char)c);
		p[k++] = c;
	}
	p[k] = '\0';
	out->n = 1;
	/* Alternative bases only where the number fits 64 bits. */
	if (dec && k <= 19) {
		uint64_t v = strtoull(p, NULL, 10);
		snprintf(out->id[out->n], sizeof(out->id[0]), "%" PRIx64, v);
		if (strcmp(out->id[out->n], p) != 0)
			out->n++;
	}
	if (hex && k <= 16) {
		uint64_t v = strtoull(p, NULL, 16);
		snprintf(out->id[out->n], sizeof(out->id[0]), "%" PRIu64, v);
		bool dup = false;
		for (unsigned i = 0; i < out->n; i++)
			dup = dup || strcmp(out->id[i], out->id[out->n]) == 0;
		if (!dup)
			out->n++;
	}
	return 0;
}

/* --- correlation in Redis ---------------------------------------------------------------- */

/* KEYS: map keys (n), early keys (n), the MT hash, the events stream.
 * ARGV: mt_id, ttl, n, smsc_id, now_ms. Returns the MT id when a parked receipt was applied. */
static const char map_lua[] =
    "local n = tonumber(ARGV[3])\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])\n"
    "for i = 2, n do redis.call('SET', KEYS[i], ARGV[1], 'EX', ARGV[2], 'NX') end\n"
    "local h = KEYS[2*n+1]\n"
    "redis.call('HSET', h, 'smsc_id', ARGV[4], 'submitted_at', ARGV[5])\n"
    "redis.call('EXPIRE', h, ARGV[2])\n"
    "for i = 1, n do\n"
    "  local e = redis.call('GET', KEYS[n+i])\n"
    "  if e then\n"
    "    redis.call('DEL', KEYS[n+i])\n"
    "    local st, err, stat, at = string.match(e, '^(%d+)|(-?%d+)|([^|]*)|(%d+)$')\n"
    "    redis.call('HSET', h, 'dlr_state', st, 'dlr_err', err, 'dlr_stat', stat, 'dlr_at', at, "
    "'dlr_early', '1')\n"
    "    redis.call('XADD', KEYS[2*n+2], 'MAXLEN', '~', '100000', '*', 'mt_id', ARGV[1], 'state', "
    "st, 'err', err, 'early', '1')\n"
    "    return ARGV[1]\n"
    "  end\n"
    "end\n"
    "return false\n";

/* KEYS: map key, early key, events stream. ARGV: serialised receipt, early ttl, hash prefix,
 * state, err. Returns the MT id when matched, false when parked. */
static const char correlate_lua[] =
    "local mt = redis.call('GET', KEYS[1])\n"
    "if not mt then\n"
    "  redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])\n"
    "  return false\n"
    "end\n"
    "local st, err, stat, at = string.match(ARGV[1], '^(%d+)|(-?%d+)|([^|]*)|(%d+)$')\n"
    "local h = ARGV[3] .. mt\n"
    "redis.call('HSET', h, 'dlr_state', st, 'dlr_err', err, 'dlr_stat', stat, 'dlr_at', at)\n"
    "redis.call('XADD', KEYS[3], 'MAXLEN', '~', '100000', '*', 'mt_id', mt, 'state', st, 'err', "
    "err, 'early', '0')\n"
    "return mt\n";

struct dlr_op {
	smpp_dlr_cb cb;
	void *cls;
};

static void dlr_done(void *cls, int err, redisReply *reply)
{
	struct dlr_op *op = cls;
	char mt[128] = "";
	if (!err && reply->type == REDIS_REPLY_ERROR)
		err = GW_EDEPENDENCY;
	if (!err && reply->type == REDIS_REPLY_STRING)
		snprintf(mt, sizeof(mt), "%.*s", (int)reply->len, reply->str);
	if (op->cb)
		op->cb(op->cls, err, mt[0] ? mt : NULL);
	free(op);
}

int smpp_dlr_map(struct store_redis *r, const char *link, const char *smsc_id, const char *mt_id,
		 unsigned ttl_s, unsigned early_ttl_s, smpp_dlr_cb cb, void *cls)
{
	(void)early_ttl_s;
	struct smpp_dlr_ids ids;
	int rc = smpp_dlr_normalise(smsc_id, strlen(smsc_id), &ids);
	if (rc)
		return rc;
	char keys[8][200];
	const char *argv[20];
	size_t argvlen[20];
	int argc = 0;
	char nkeys[8], ttl[16], n[4], now[24];
	unsigned k = 0;
	for (unsigned i = 0; i < ids.n; i++)
		snprintf(keys[k++], sizeof(keys[0]), "ussdgw:dlr:{%s}:%s", link, ids.id[i]);
	for (unsigned i = 0; i < ids.n; i++)
		snprintf(keys[k++], sizeof(keys[0]), "ussdgw:dlr:{%s}:early:%s", link, ids.id[i]);
	snprintf(keys[k++], sizeof(keys[0]), "ussdgw:mt:{%s}:%s", link, mt_id);
	snprintf(keys[k++], sizeof(keys[0]), "ussdgw:dlr-events:{%s}", link);
	snprintf(nkeys, sizeof(nkeys), "%u", k);
	snprintf(ttl, sizeof(ttl), "%u", ttl_s);
	snprintf(n, sizeof(n), "%u", ids.n);
	snprintf(now, sizeof(now), "%" PRId64, gw_now_ms());
	argv[argc++] = "EVAL";
	argv[argc++] = map_lua;
	argv[argc++] = nkeys;
	for (unsigned i = 0; i < k; i++)
		argv[argc++] = keys[i];
	argv[argc++] = mt_id;
	argv[argc++] = ttl;
	argv[argc++] = n;
	argv[argc++] = smsc_id;
	argv[argc++] = now;
	for (int i = 0; i < argc; i++)
		argvlen[i] = strlen(argv[i]);
	struct dlr_op *op = malloc(sizeof(*op));
	if (!op)
		return GW_ENOMEM;
	*op = (struct dlr_op){cb, cls};
	rc = store_redis_command_argv(r, dlr_done, op, 0, argc, argv, argvlen);
	if (rc)
		free(op);
	return rc;
}

int smpp_dlr_correlate(struct store_redis *r, const char *link, const struct smpp_dlr *d,
		       unsigned early_ttl_s, smpp_dlr_cb cb, void *cls)
{
	struct smpp_dlr_ids ids;
	int rc = smpp_dlr_normalise(d->id, strlen(d->id), &ids);
	if (rc)
		return rc;
	char k1[200], k2[200], k3[200], ser[64], ttl[16], prefix[160];
	snprintf(k1, sizeof(k1), "ussdgw:dlr:{%s}:%s", link, ids.id[0]);
	snprintf(k2, sizeof(k2), "ussdgw:dlr:{%s}:early:%s", link, ids.id[0]);
	snprintf(k3, sizeof(k3), "ussdgw:dlr-events:{%s}", link);
	char stat[9];
	size_t j = 0;
	for (size_t i = 0; d->stat[i] && j + 1 < sizeof(stat); i++)
		if (d->stat[i] != '|')
			stat[j++] = d->stat[i];
	stat[j] = '\0';
	snprintf(ser, sizeof(ser), "%u|%d|%s|%" PRId64, d->state, d->err, stat, gw_now_ms());
	snprintf(ttl, sizeof(ttl), "%u", early_ttl_s);
	snprintf(prefix, sizeof(prefix), "ussdgw:mt:{%s}:", link);
	const char *argv[] = {"EVAL", correlate_lua, "3", k1, k2, k3, ser, ttl, prefix};
	size_t argvlen[9];
	for (int i = 0; i < 9; i++)
		argvlen[i] = strlen(argv[i]);
	struct dlr_op *op = malloc(sizeof(*op));
	if (!op)
		return GW_ENOMEM;
	*op = (struct dlr_op){cb, cls};
	rc = store_redis_command_argv(r, dlr_done, op, 0, 9, argv, argvlen);
	if (rc)
		free(op);
	return rc;
}
