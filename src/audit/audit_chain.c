/* Journal entry wire form, the chain hash, checkpoint messages and export lines. */
#include "ussdgw/audit_chain.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ussdgw/gw_error.h"

const char *audit_entry_type_name(enum audit_entry_type t)
{
	switch (t) {
	case AUDIT_ENT_RECORD: return "RECORD";
	case AUDIT_ENT_KEY: return "KEY";
	case AUDIT_ENT_CHECKPOINT: return "CHECKPOINT";
	case AUDIT_ENT_HEAD: return "HEAD";
	}
	return "UNKNOWN";
}

/* --- a bounds-checked cursor with a sticky error ------------------------------ */

struct wcur {
	uint8_t *p;
	size_t n, off;
	bool err;
};

static void w_bytes(struct wcur *w, const void *b, size_t n)
{
	if (n == 0)
		return;
	if (w->err || n > w->n - w->off) {
		w->err = true;
		return;
	}
	memcpy(w->p + w->off, b, n);
	w->off += n;
}

static void w_u8(struct wcur *w, uint8_t v)
{
	w_bytes(w, &v, 1);
}

static void w_u32(struct wcur *w, uint32_t v)
{
	uint8_t b[4] = {v >> 24, v >> 16, v >> 8, v};
	w_bytes(w, b, 4);
}

static void w_u64(struct wcur *w, uint64_t v)
{
	w_u32(w, (uint32_t)(v >> 32));
	w_u32(w, (uint32_t)v);
}

struct rcur {
	const uint8_t *p;
	size_t n, off;
	bool err;
};

static const uint8_t *r_bytes(struct rcur *r, size_t n)
{
	if (r->err || n > r->n - r->off) {
		r->err = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

static void r_copy(struct rcur *r, void *out, size_t n)
{
	const uint8_t *p = r_bytes(r, n);
	if (p)
		memcpy(out, p, n);
	else
		memset(out, 0, n);
}

static uint8_t r_u8(struct rcur *r)
{
	const uint8_t *p = r_bytes(r, 1);
	return p ? *p : 0;
}

static uint32_t r_u32(struct rcur *r)
{
	const uint8_t *p = r_bytes(r, 4);
	return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] : 0;
}

static uint64_t r_u64(struct rcur *r)
{
	uint64_t hi = r_u32(r);
	return hi << 32 | r_u32(r);
}

static void r_str(struct rcur *r, char *out, size_t cap)
{
	size_t l = r_u8(r);
	if (l >= cap) {
		r->err = true;
		out[0] = 0;
		return;
	}
	r_copy(r, out, l);
	out[l] = 0;
}

/* --- entries ------------------------------------------------------------------ */

size_t audit_entry_size(const struct audit_entry *e)
{
	size_t c = 2 + strlen(e->chain);
	switch (e->type) {
	case AUDIT_ENT_RECORD: {
		size_t n = c + 8 + 8 + 32 + 32 + 4 + e->body_len;
		for (int i = 0; i < AUDIT_IDX_COUNT; i++)
			n += 1 + e->idx_len[i];
		return n;
	}
	case AUDIT_ENT_KEY: return 1 + 1 + AUDIT_TOKEN_HEX + 1 + AUDIT_KEYID_HEX + AUDIT_WRAPPED_LEN + 8;
	case AUDIT_ENT_CHECKPOINT: return c + 8 + 32 + 8 + 64;
	case AUDIT_ENT_HEAD: return c + 8 + 32;
	}
	return 0;
}

long audit_entry_encode(const struct audit_entry *e, uint8_t *out, size_t cap)
{
	struct wcur w = {out, cap, 0, false};
	size_t cl = strlen(e->chain);
	if (cl > AUDIT_CHAIN_MAX)
		return GW_EINVAL;
	w_u8(&w, (uint8_t)e->type);
	switch (e->type) {
	case AUDIT_ENT_RECORD:
		if (e->body_len > UINT32_MAX)
			return GW_EMSGSIZE;
		w_u8(&w, (uint8_t)cl);
		w_bytes(&w, e->chain, cl);
		w_u64(&w, e->seq);
		w_u64(&w, (uint64_t)e->occurred_us);
		w_bytes(&w, e->prev, 32);
		w_bytes(&w, e->hash, 32);
		w_u32(&w, (uint32_t)e->body_len);
		w_bytes(&w, e->body, e->body_len);
		for (int i = 0; i < AUDIT_IDX_COUNT; i++) {
			w_u8(&w, e->idx_len[i]);
			w_bytes(&w, e->idx[i], e->idx_len[i]);
		}
		break;
	case AUDIT_ENT_KEY:
		w_u8(&w, AUDIT_TOKEN_HEX);
		w_bytes(&w, e->token, AUDIT_TOKEN_HEX);
		w_u8(&w, AUDIT_KEYID_HEX);
		w_bytes(&w, e->key_id, AUDIT_KEYID_HEX);
		w_bytes(&w, e->wrapped, AUDIT_WRAPPED_LEN);
		w_u64(&w, (uint64_t)e->created_us);
		break;
	case AUDIT_ENT_CHECKPOINT:
		w_u8(&w, (uint8_t)cl);
		w_bytes(&w, e->chain, cl);
		w_u64(&w, e->seq);
		w_bytes(&w, e->hash, 32);
		w_u64(&w, (uint64_t)e->signed_at_us);
		w_bytes(&w, e->sig, 64);
		break;
	case AUDIT_ENT_HEAD:
		w_u8(&w, (uint8_t)cl);
		w_bytes(&w, e->chain, cl);
		w_u64(&w, e->seq);
		w_bytes(&w, e->hash, 32);
		break;
	default:
		return GW_EINVAL;
	}
	return w.err ? GW_EMSGSIZE : (long)w.off;
}

int audit_entry_decode(const uint8_t *p, size_t n, struct audit_entry *e)
{
	struct rcur r = {p, n, 0, false};
	memset(e, 0, sizeof(*e));
	e->type = r_u8(&r);
	switch (e->type) {
	case AUDIT_ENT_RECORD:
		r_str(&r, e->chain, sizeof(e->chain));
		e->seq = r_u64(&r);
		e->occurred_us = (int64_t)r_u64(&r);
		r_copy(&r, e->prev, 32);
		r_copy(&r, e->hash, 32);
		e->body_len = r_u32(&r);
		e->body = r_bytes(&r, e->body_len);
		for (int i = 0; i < AUDIT_IDX_COUNT; i++) {
			e->idx_len[i] = r_u8(&r);
			e->idx[i] = (const char *)r_bytes(&r, e->idx_len[i]);
		}
		break;
	case AUDIT_ENT_KEY:
		r_str(&r, e->token, sizeof(e->token));
		r_str(&r, e->key_id, sizeof(e->key_id));
		r_copy(&r, e->wrapped, AUDIT_WRAPPED_LEN);
		e->created_us = (int64_t)r_u64(&r);
		break;
	case AUDIT_ENT_CHECKPOINT:
		r_str(&r, e->chain, sizeof(e->chain));
		e->seq = r_u64(&r);
		r_copy(&r, e->hash, 32);
		e->signed_at_us = (int64_t)r_u64(&r);
		r_copy(&r, e->sig, 64);
		break;
	case AUDIT_ENT_HEAD:
		r_str(&r, e->chain, sizeof(e->chain));
		e->seq = r_u64(&r);
		r_copy(&r, e->hash, 32);
		break;
	default:
		return GW_EPROTO_MALFORMED;
	}
	if (r.err || r.off != n)
		return GW_EPROTO_MALFORMED;
	return 0;
}

/* --- hashes, checkpoints --------------------------------------------------------- */

void audit_chain_hash(const char *chain, uint64_t seq, int64_t occurred_us,
		      const uint8_t prev[AUDIT_HASH_LEN], const void *body, size_t body_len,
		      uint8_t out[AUDIT_HASH_LEN])
{
	uint8_t hdr[6 + 1 + AUDIT_CHAIN_MAX + 8 + 8 + 32 + 4];
	struct wcur w = {hdr, sizeof(hdr), 0, false};
	size_t cl = strlen(chain);
	if (cl > AUDIT_CHAIN_MAX)
		cl = AUDIT_CHAIN_MAX;
	w_bytes(&w, "USGA1", 6); /* includes the NUL */
	w_u8(&w, (uint8_t)cl);
	w_bytes(&w, chain, cl);
	w_u64(&w, seq);
	w_u64(&w, (uint64_t)occurred_us);
	w_bytes(&w, prev, 32);
	w_u32(&w, (uint32_t)body_len);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int ol = 0;
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, hdr, w.off) || !EVP_DigestUpdate(ctx, body, body_len) ||
	    !EVP_DigestFinal_ex(ctx, out, &ol))
		memset(out, 0, AUDIT_HASH_LEN); /* never matches a real hash */
	EVP_MD_CTX_free(ctx);
}

void audit_hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int audit_unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hi < 0 ? -1 : hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return GW_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return hexval(s[2 * n]) >= 0 ? GW_EINVAL : 0;
}

size_t audit_checkpoint_msg(const char *chain, uint64_t seq, const uint8_t hash[AUDIT_HASH_LEN],
			    int64_t signed_at_us, char *out, size_t cap)
{
	char hx[2 * AUDIT_HASH_LEN + 1];
	audit_hex(hash, AUDIT_HASH_LEN, hx);
	int n = snprintf(out, cap, "ussdgw-audit-checkpoint-v1\n%s\n%" PRIu64 "\n%s\n%" PRId64, chain,
			 seq, hx, signed_at_us);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

size_t audit_head_line(const struct audit_entry *cp, char *out, size_t cap)
{
	char hx[2 * AUDIT_HASH_LEN + 1], sx[2 * AUDIT_SIG_LEN + 1];
	audit_hex(cp->hash, AUDIT_HASH_LEN, hx);
	audit_hex(cp->sig, AUDIT_SIG_LEN, sx);
	int n = snprintf(out, cap, "v1 %s %" PRIu64 " %s %" PRId64 " %s\n", cp->chain, cp->seq, hx,
			 cp->signed_at_us, sx);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

int audit_head_parse(const char *line, struct audit_entry *cp)
{
	char chain[AUDIT_CHAIN_MAX + 1], hx[2 * AUDIT_HASH_LEN + 2], sx[2 * AUDIT_SIG_LEN + 2];
	uint64_t seq;
	int64_t at;
	memset(cp, 0, sizeof(*cp));
	if (sscanf(line, "v1 %63s %" SCNu64 " %65s %" SCNd64 " %129s", chain, &seq, hx, &at, sx) != 5)
		return GW_EPROTO_MALFORMED;
	if (audit_unhex(hx, cp->hash, AUDIT_HASH_LEN) || audit_unhex(sx, cp->sig, AUDIT_SIG_LEN))
		return GW_EPROTO_MALFORMED;
	cp->type = AUDIT_ENT_CHECKPOINT;
	memcpy(cp->chain, chain, sizeof(chain));
	cp->seq = seq;
	cp->signed_at_us = at;
	return 0;
}
