/* Text encodings for SMPP/USSD: GSM 03.38 (3GPP TS 23.038 §6.2.1 and the
 * extension table §6.2.1.1), UCS2/UTF-16BE, Latin-1, part planning,
 * concatenation (UDH, sar_* TLVs) and data_coding mapping. */
#include "ussdgw/smpp_text.h"

#include <string.h>

#include "smpp/wire.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/smpp_pdu.h"

#define GSM_ESC	    0x1B
#define REPLACEMENT 0xFFFD

/* GSM 03.38 default alphabet: septet -> Unicode code point. 0x1B is the escape
 * to the extension table; decoding maps it separately. */
static const uint16_t gsm_default[128] = {
    0x0040, 0x00A3, 0x0024, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, /* 00 */
    0x00F2, 0x00C7, 0x000A, 0x00D8, 0x00F8, 0x000D, 0x00C5, 0x00E5, /* 08 */
    0x0394, 0x005F, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, /* 10 */
    0x03A3, 0x0398, 0x039E, 0x0020, 0x00C6, 0x00E6, 0x00DF, 0x00C9, /* 18; 1B is ESC */
    0x0020, 0x0021, 0x0022, 0x0023, 0x00A4, 0x0025, 0x0026, 0x0027, /* 20 */
    0x0028, 0x0029, 0x002A, 0x002B, 0x002C, 0x002D, 0x002E, 0x002F, /* 28 */
    0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x0035, 0x0036, 0x0037, /* 30 */
    0x0038, 0x0039, 0x003A, 0x003B, 0x003C, 0x003D, 0x003E, 0x003F, /* 38 */
    0x00A1, 0x0041, 0x0042, 0x0043, 0x0044, 0x0045, 0x0046, 0x0047, /* 40 */
    0x0048, 0x0049, 0x004A, 0x004B, 0x004C, 0x004D, 0x004E, 0x004F, /* 48 */
    0x0050, 0x0051, 0x0052, 0x0053, 0x0054, 0x0055, 0x0056, 0x0057, /* 50 */
    0x0058, 0x0059, 0x005A, 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7, /* 58 */
    0x00BF, 0x0061, 0x0062, 0x0063, 0x0064, 0x0065, 0x0066, 0x0067, /* 60 */
    0x0068, 0x0069, 0x006A, 0x006B, 0x006C, 0x006D, 0x006E, 0x006F, /* 68 */
    0x0070, 0x0071, 0x0072, 0x0073, 0x0074, 0x0075, 0x0076, 0x0077, /* 70 */
    0x0078, 0x0079, 0x007A, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0, /* 78 */
};

/* The extension table (after ESC): code -> code point. */
static const struct {
	uint8_t code;
	uint16_t cp;
} gsm_ext[] = {
    {0x0A, 0x000C}, {0x14, 0x005E}, {0x28, 0x007B}, {0x29, 0x007D}, {0x2F, 0x005C},
    {0x3C, 0x005B}, {0x3D, 0x007E}, {0x3E, 0x005D}, {0x40, 0x007C}, {0x65, 0x20AC},
};

const char *smpp_text_enc_name(enum smpp_text_enc e)
{
	switch (e) {
	case SMPP_ENC_GSM7:
		return "GSM7";
	case SMPP_ENC_LATIN1:
		return "LATIN1";
	case SMPP_ENC_UCS2:
		return "UCS2";
	case SMPP_ENC_8BIT:
		return "8BIT";
	case SMPP_ENC_UNKNOWN:
		break;
	}
	return "UNKNOWN";
}

/* ---- UTF-8 ---------------------------------------------------------------- */

/* Strict UTF-8 reader: no overlongs, no surrogates, nothing above U+10FFFF.
 * @return the code point, or -1 for invalid input. */
static int32_t utf8_next(const uint8_t *s, size_t len, size_t *i)
{
	size_t p = *i;
	uint8_t c = s[p];
	uint32_t cp, min;
	unsigned n;
	if (c < 0x80) {
		*i = p + 1;
		return c;
	} else if ((c & 0xE0) == 0xC0) {
		cp = c & 0x1F;
		n = 1;
		min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		cp = c & 0x0F;
		n = 2;
		min = 0x800;
	} else if ((c & 0xF8) == 0xF0) {
		cp = c & 0x07;
		n = 3;
		min = 0x10000;
	} else {
		return -1;
	}
	if (len - p - 1 < n)
		return -1;
	for (unsigned k = 1; k <= n; k++) {
		uint8_t cc = s[p + k];
		if ((cc & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (cc & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*i = p + 1 + n;
	return (int32_t)cp;
}

static void put_utf8(struct wire *w, uint32_t cp)
{
	if (cp < 0x80) {
		wire_put_u8(w, (uint8_t)cp, GW_EMSGSIZE);
	} else if (cp < 0x800) {
		uint8_t b[2] = {(uint8_t)(0xC0 | (cp >> 6)), (uint8_t)(0x80 | (cp & 0x3F))};
		wire_put_bytes(w, b, 2, GW_EMSGSIZE);
	} else if (cp < 0x10000) {
		uint8_t b[3] = {(uint8_t)(0xE0 | (cp >> 12)), (uint8_t)(0x80 | ((cp >> 6) & 0x3F)),
				(uint8_t)(0x80 | (cp & 0x3F))};
		wire_put_bytes(w, b, 3, GW_EMSGSIZE);
	} else {
		uint8_t b[4] = {(uint8_t)(0xF0 | (cp >> 18)), (uint8_t)(0x80 | ((cp >> 12) & 0x3F)),
				(uint8_t)(0x80 | ((cp >> 6) & 0x3F)),
				(uint8_t)(0x80 | (cp & 0x3F))};
		wire_put_bytes(w, b, 4, GW_EMSGSIZE);
	}
}

/* ---- GSM 03.38 ------------------------------------------------------------- */

/* @return the default-table septet for @p cp, or -1. */
static int gsm_lookup(uint32_t cp)
{
	if ((cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9'))
		return (int)cp;
	if (cp >= 0x20 && cp <= 0x3F && cp != '$')
		return (int)cp;
	switch (cp) {
	case '@':
		return 0x00;
	case '$':
		return 0x02;
	case '_':
		return 0x11;
	case '\n':
		return 0x0A;
	case '\r':
		return 0x0D;
	}
	if (cp < 0x80)
		return -1;
	for (unsigned i = 0; i < 128; i++)
		if (gsm_default[i] == cp && i != GSM_ESC)
			return (int)i;
	return -1;
}

/* @return the extension-table code for @p cp, or -1. */
static int gsm_ext_lookup(uint32_t cp)
{
	for (unsigned i = 0; i < sizeof(gsm_ext) / sizeof(gsm_ext[0]); i++)
		if (gsm_ext[i].cp == cp)
			return gsm_ext[i].code;
	return -1;
}

static uint32_t gsm_ext_cp(uint8_t code)
{
	for (unsigned i = 0; i < sizeof(gsm_ext) / sizeof(gsm_ext[0]); i++)
		if (gsm_ext[i].code == code)
			return gsm_ext[i].cp;
	return 0;
}

static int encode_gsm(const uint8_t *s, size_t len, struct wire *w)
{
	for (size_t i = 0; i < len;) {
		int32_t cp = utf8_next(s, len, &i);
		if (cp < 0)
			return GW_EINVAL;
		int g = gsm_lookup((uint32_t)cp);
		if (g >= 0) {
			wire_put_u8(w, (uint8_t)g, GW_EMSGSIZE);
			continue;
		}
		g = gsm_ext_lookup((uint32_t)cp);
		if (g < 0)
			return GW_EINVAL;
		wire_put_u8(w, GSM_ESC, GW_EMSGSIZE);
		wire_put_u8(w, (uint8_t)g, GW_EMSGSIZE);
	}
	return w->err;
}

static void decode_gsm(const uint8_t *in, size_t len, struct wire *w)
{
	for (size_t i = 0; i < len && wire_ok(w); i++) {
		uint8_t c = in[i];
		if (c > 0x7F) {
			put_utf8(w, '?');
		} else if (c != GSM_ESC) {
			put_utf8(w, gsm_default[c]);
		} else if (i + 1 >= len) {
			put_utf8(w, ' ');
		} else {
			uint8_t x = in[++i];
			uint32_t cp = x <= 0x7F ? gsm_ext_cp(x) : 0;
			if (!cp)
				cp = x <= 0x7F && x != GSM_ESC ? gsm_default[x] : ' ';
			put_utf8(w, cp);
		}
	}
}

/* ---- UCS2 and Latin-1 ------------------------------------------------------ */

static int encode_ucs2(const uint8_t *s, size_t len, struct wire *w)
{
	for (size_t i = 0; i < len;) {
		int32_t cp = utf8_next(s, len, &i);
		if (cp < 0)
			return GW_EINVAL;
		if (cp < 0x10000) {
			wire_put_u16(w, (uint16_t)cp, GW_EMSGSIZE);
		} else {
			uint32_t v = (uint32_t)cp - 0x10000;
			wire_put_u16(w, (uint16_t)(0xD800 | (v >> 10)), GW_EMSGSIZE);
			wire_put_u16(w, (uint16_t)(0xDC00 | (v & 0x3FF)), GW_EMSGSIZE);
		}
	}
	return w->err;
}

static void decode_ucs2(const uint8_t *in, size_t len, struct wire *w)
{
	for (size_t i = 0; i + 1 < len && wire_ok(w); i += 2) {
		uint32_t u = ((uint32_t)in[i] << 8) | in[i + 1];
		if (u >= 0xD800 && u <= 0xDBFF && i + 3 < len) {
			uint32_t lo = ((uint32_t)in[i + 2] << 8) | in[i + 3];
			if (lo >= 0xDC00 && lo <= 0xDFFF) {
				put_utf8(w, 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
				i += 2;
				continue;
			}
		}
		put_utf8(w, (u >= 0xD800 && u <= 0xDFFF) ? REPLACEMENT : u);
	}
}

static int encode_latin1(const uint8_t *s, size_t len, struct wire *w)
{
	for (size_t i = 0; i < len;) {
		int32_t cp = utf8_next(s, len, &i);
		if (cp < 0 || cp > 0xFF)
			return GW_EINVAL;
		wire_put_u8(w, (uint8_t)cp, GW_EMSGSIZE);
	}
	return w->err;
}

int smpp_text_encode(enum smpp_text_enc enc, const char *utf8, size_t len, uint8_t *out, size_t cap,
		     size_t *out_len)
{
	if ((!utf8 && len) || (!out && cap) || !out_len)
		return GW_EINVAL;
	struct wire w;
	wire_init_write(&w, out, cap);
	const uint8_t *s = (const uint8_t *)utf8;
	int rc;
	switch (enc) {
	case SMPP_ENC_GSM7:
		rc = encode_gsm(s, len, &w);
		break;
	case SMPP_ENC_LATIN1:
		rc = encode_latin1(s, len, &w);
		break;
	case SMPP_ENC_UCS2:
		rc = encode_ucs2(s, len, &w);
		break;
	default:
		return GW_EINVAL;
	}
	if (rc)
		return rc;
	*out_len = w.pos;
	return 0;
}

int smpp_text_decode(enum smpp_text_enc enc, const uint8_t *in, size_t len, char *out, size_t cap,
		     size_t *out_len)
{
	if ((!in && len) || (!out && cap) || !out_len)
		return GW_EINVAL;
	struct wire w;
	wire_init_write(&w, (uint8_t *)out, cap);
	switch (enc) {
	case SMPP_ENC_GSM7:
		decode_gsm(in, len, &w);
		break;
	case SMPP_ENC_LATIN1:
		for (size_t i = 0; i < len && wire_ok(&w); i++)
			put_utf8(&w, in[i]);
		break;
	case SMPP_ENC_UCS2:
		if (len & 1)
			return GW_EPROTO_MALFORMED;
		decode_ucs2(in, len, &w);
		break;
	default:
		return GW_EINVAL;
	}
	if (!wire_ok(&w))
		return w.err;
	*out_len = w.pos;
	return 0;
}

/* ---- packing --------------------------------------------------------------- */

int smpp_gsm7_pack(const uint8_t *septets, size_t n, unsigned fill_bits, unsigned flags,
		   uint8_t *out, size_t cap, size_t *out_len)
{
	if (fill_bits > 6 || (!septets && n) || (!out && cap) || !out_len)
		return GW_EINVAL;
	size_t bits = n ? fill_bits + 7 * n : 0; /* no septets: no octets */
	bool pad = (flags & SMPP_GSM7_USSD_PAD) && bits % 8 == 1;
	if (pad)
		bits += 7;
	size_t octets = (bits + 7) / 8;
	if (octets > cap)
		return GW_EMSGSIZE;
	if (octets)
		memset(out, 0, octets);
	for (size_t i = 0; i < n + (pad ? 1 : 0); i++) {
		uint8_t s = i < n ? septets[i] : 0x0D;
		if (s > 0x7F)
			return GW_EINVAL;
		size_t b = fill_bits + 7 * i;
		unsigned sh = b % 8;
		out[b / 8] |= (uint8_t)(s << sh);
		if (sh > 1)
			out[b / 8 + 1] |= (uint8_t)(s >> (8 - sh));
	}
	*out_len = octets;
	return 0;
}

int smpp_gsm7_unpack(const uint8_t *in, size_t len, unsigned fill_bits, size_t nsept,
		     unsigned flags, uint8_t *out, size_t cap, size_t *out_len)
{
	if (fill_bits > 6 || (!in && len) || (!out && cap) || !out_len)
		return GW_EINVAL;
	size_t avail = len * 8 > fill_bits ? (len * 8 - fill_bits) / 7 : 0;
	bool derived = nsept == SMPP_GSM7_ALL;
	if (derived)
		nsept = avail;
	else if (nsept > avail)
		return GW_EPROTO_MALFORMED;
	if (nsept > cap)
		return GW_EMSGSIZE;
	for (size_t i = 0; i < nsept; i++) {
		size_t b = fill_bits + 7 * i;
		unsigned sh = b % 8;
		unsigned v = in[b / 8] >> sh;
		if (sh > 1)
			v |= (unsigned)in[b / 8 + 1] << (8 - sh);
		out[i] = (uint8_t)(v & 0x7F);
	}
	/* USSD: a CR filling the last 7 free bits is padding, not text. */
	if (derived && (flags & SMPP_GSM7_USSD_PAD) && nsept > 0 && out[nsept - 1] == 0x0D &&
	    (fill_bits + 7 * nsept) % 8 == 0)
		nsept--;
	*out_len = nsept;
	return 0;
}

/* ---- planning ------------------------------------------------------------- */

struct limits {
	unsigned single; /* octets */
	unsigned part;	 /* octets per part when concatenated */
};

static bool enc_limits(enum smpp_text_enc enc, const struct smpp_text_plan_opts *o,
		       struct limits *l)
{
	if (o->bearer == SMPP_BEARER_USSD) {
		if (enc == SMPP_ENC_LATIN1)
			return false;
		l->single = enc == SMPP_ENC_GSM7 ? 182 : 160;
		l->part = 0;
		return true;
	}
	unsigned udh = o->concat == SMPP_CONCAT_UDH16 ? 7 : 6;
	switch (enc) {
	case SMPP_ENC_GSM7:
		l->single = 160;
		/* septets: (140 octets - UDH) * 8 / 7, rounded down */
		l->part = (140 - udh) * 8 / 7;
		break;
	case SMPP_ENC_LATIN1:
		l->single = 140;
		l->part = 140 - udh;
		break;
	default:
		l->single = 140;
		l->part = (140 - udh) & ~1u;
		break;
	}
	if (o->concat == SMPP_CONCAT_NONE)
		l->part = 0;
	return true;
}

/* Greedy split; @return the number of parts, or 0 when over the maximum. */
static unsigned split_parts(enum smpp_text_enc enc, const uint8_t *b, size_t len,
			    const struct limits *l, uint32_t *split)
{
	split[0] = 0;
	if (len <= l->single) {
		split[1] = (uint32_t)len;
		return 1;
	}
	if (!l->part)
		return 0;
	unsigned parts = 0;
	size_t pos = 0;
	while (pos < len) {
		if (parts >= SMPP_TEXT_MAX_PARTS)
			return 0;
		size_t end = pos + l->part;
		if (end >= len) {
			end = len;
		} else if (enc == SMPP_ENC_GSM7 && b[end - 1] == GSM_ESC) {
			end--; /* keep ESC with its character */
		} else if (enc == SMPP_ENC_UCS2 && (b[end - 2] & 0xFC) == 0xD8) {
			end -= 2; /* keep a high surrogate with its low half */
		}
		split[++parts] = (uint32_t)end;
		pos = end;
	}
	return parts;
}

int smpp_text_plan(const char *utf8, size_t len, const struct smpp_text_plan_opts *opts,
		   uint8_t *out, size_t cap, struct smpp_text_plan *plan)
{
	static const struct smpp_text_plan_opts defaults = {SMPP_BEARER_SMS, SMPP_CONCAT_UDH8,
							    false};
	if (!plan || (!utf8 && len))
		return GW_EINVAL;
	const struct smpp_text_plan_opts *o = opts ? opts : &defaults;
	static const enum smpp_text_enc order[] = {SMPP_ENC_GSM7, SMPP_ENC_LATIN1, SMPP_ENC_UCS2};
	enum smpp_text_enc best = SMPP_ENC_UNKNOWN;
	unsigned best_parts = 0;
	bool too_small = false;

	for (unsigned k = 0; k < 3; k++) {
		enum smpp_text_enc e = order[k];
		struct limits l;
		size_t n;
		if (e == SMPP_ENC_LATIN1 && !o->allow_latin1)
			continue;
		if (!enc_limits(e, o, &l))
			continue;
		int rc = smpp_text_encode(e, utf8, len, out, cap, &n);
		if (rc == GW_EMSGSIZE) {
			too_small = true;
			continue;
		}
		if (rc == GW_EINVAL && e == SMPP_ENC_UCS2)
			return GW_EINVAL; /* UCS2 carries every valid text: UTF-8 is bad */
		if (rc)
			continue;
		unsigned p = split_parts(e, out, n, &l, plan->split);
		if (p && (!best_parts || p < best_parts)) {
			best = e;
			best_parts = p;
			if (p == 1)
				break; /* nothing beats a single part */
		}
	}
	/* A candidate that did not fit @p cap might have been the cheapest. */
	if (best == SMPP_ENC_UNKNOWN || too_small)
		return GW_EMSGSIZE;
	/* Re-encode the winner (a later candidate may have overwritten @p out). */
	struct limits l;
	size_t n;
	enc_limits(best, o, &l);
	int rc = smpp_text_encode(best, utf8, len, out, cap, &n);
	if (rc)
		return rc;
	plan->enc = best;
	plan->enc_len = n;
	plan->units = best == SMPP_ENC_UCS2 ? n / 2 : n;
	plan->parts = split_parts(best, out, n, &l, plan->split);
	plan->concat = o->bearer == SMPP_BEARER_USSD ? SMPP_CONCAT_NONE : o->concat;
	return 0;
}

/* ---- concatenation ---------------------------------------------------------- */

int smpp_udh_concat_build(const struct smpp_concat *c, uint8_t *out, size_t cap, size_t *out_len)
{
	if (!c || !out_len || c->total == 0 || c->seq == 0 || c->seq > c->total)
		return GW_EINVAL;
	struct wire w;
	wire_init_write(&w, out, cap);
	if (c->ref16) {
		uint8_t h[7] = {6,	  0x08,	 4, (uint8_t)(c->ref >> 8), (uint8_t)c->ref,
				c->total, c->seq};
		wire_put_bytes(&w, h, sizeof(h), GW_EMSGSIZE);
	} else {
		if (c->ref > 0xFF)
			return GW_EINVAL;
		uint8_t h[6] = {5, 0x00, 3, (uint8_t)c->ref, c->total, c->seq};
		wire_put_bytes(&w, h, sizeof(h), GW_EMSGSIZE);
	}
	if (!wire_ok(&w))
		return w.err;
	*out_len = w.pos;
	return 0;
}

int smpp_udh_parse(const uint8_t *sm, size_t len, size_t *udh_len, struct smpp_concat *c,
		   bool *found)
{
	if ((!sm && len) || !udh_len || !c || !found)
		return GW_EINVAL;
	memset(c, 0, sizeof(*c));
	*found = false;
	struct wire w;
	wire_init_read(&w, sm, len);
	uint8_t udhl = wire_get_u8(&w, GW_EPROTO_MALFORMED);
	const uint8_t *h = wire_get_ref(&w, udhl, GW_EPROTO_MALFORMED);
	if (!wire_ok(&w))
		return GW_EPROTO_MALFORMED;
	struct wire ie;
	wire_init_read(&ie, h, udhl);
	while (wire_left(&ie) > 0) {
		uint8_t iei = wire_get_u8(&ie, GW_EPROTO_MALFORMED);
		uint8_t iel = wire_get_u8(&ie, GW_EPROTO_MALFORMED);
		const uint8_t *v = wire_get_ref(&ie, iel, GW_EPROTO_MALFORMED);
		if (!wire_ok(&ie))
			return GW_EPROTO_MALFORMED;
		if (iei == 0x00 || iei == 0x08) {
			unsigned need = iei == 0x00 ? 3 : 4;
			if (iel != need)
				return GW_EPROTO_MALFORMED;
			c->ref16 = iei == 0x08;
			c->ref = c->ref16 ? (uint16_t)((v[0] << 8) | v[1]) : v[0];
			c->total = v[need - 2];
			c->seq = v[need - 1];
			if (c->total == 0 || c->seq == 0 || c->seq > c->total)
				return GW_EPROTO_MALFORMED;
			*found = true;
		}
	}
	*udh_len = 1u + udhl;
	return 0;
}

int smpp_text_part(const struct smpp_text_plan *plan, const uint8_t *enc, unsigned index,
		   uint16_t ref, uint8_t *out, size_t cap, size_t *out_len)
{
	if (!plan || !out_len || index >= plan->parts || plan->parts > SMPP_TEXT_MAX_PARTS)
		return GW_EINVAL;
	struct wire w;
	wire_init_write(&w, out, cap);
	if (plan->parts > 1 &&
	    (plan->concat == SMPP_CONCAT_UDH8 || plan->concat == SMPP_CONCAT_UDH16)) {
		struct smpp_concat c = {
		    .ref = plan->concat == SMPP_CONCAT_UDH8 ? (uint8_t)ref : ref,
		    .total = (uint8_t)plan->parts,
		    .seq = (uint8_t)(index + 1),
		    .ref16 = plan->concat == SMPP_CONCAT_UDH16,
		};
		uint8_t h[7];
		size_t hl;
		int rc = smpp_udh_concat_build(&c, h, sizeof(h), &hl);
		if (rc)
			return rc;
		wire_put_bytes(&w, h, hl, GW_EMSGSIZE);
	}
	uint32_t a = plan->split[index], b = plan->split[index + 1];
	if (b < a || b > plan->enc_len)
		return GW_EINVAL;
	wire_put_bytes(&w, enc + a, b - a, GW_EMSGSIZE);
	if (!wire_ok(&w))
		return w.err;
	*out_len = w.pos;
	return 0;
}

int smpp_sar_add(struct smpp_pdu *pdu, const struct smpp_concat *c)
{
	if (!pdu || !c || c->total == 0 || c->seq == 0 || c->seq > c->total)
		return GW_EINVAL;
	if (pdu->tlv_count + 3 > SMPP_MAX_TLVS)
		return GW_ENOSPC;
	smpp_pdu_add_tlv_u16(pdu, SMPP_TLV_SAR_MSG_REF_NUM, c->ref);
	smpp_pdu_add_tlv_u8(pdu, SMPP_TLV_SAR_TOTAL_SEGMENTS, c->total);
	smpp_pdu_add_tlv_u8(pdu, SMPP_TLV_SAR_SEGMENT_SEQNUM, c->seq);
	return 0;
}

int smpp_sar_get(const struct smpp_pdu *pdu, struct smpp_concat *c)
{
	uint32_t ref, total, seq;
	int r1 = smpp_pdu_tlv_uint(pdu, SMPP_TLV_SAR_MSG_REF_NUM, &ref);
	int r2 = smpp_pdu_tlv_uint(pdu, SMPP_TLV_SAR_TOTAL_SEGMENTS, &total);
	int r3 = smpp_pdu_tlv_uint(pdu, SMPP_TLV_SAR_SEGMENT_SEQNUM, &seq);
	if (r1 == GW_ENOENT && r2 == GW_ENOENT && r3 == GW_ENOENT)
		return GW_ENOENT;
	if (r1 || r2 || r3 || ref > 0xFFFF || total == 0 || total > 0xFF || seq == 0 || seq > total)
		return GW_EPROTO_MALFORMED;
	c->ref = (uint16_t)ref;
	c->total = (uint8_t)total;
	c->seq = (uint8_t)seq;
	c->ref16 = true;
	return 0;
}

/* ---- data_coding ------------------------------------------------------------ */

/* Bits 3..2 of a general-coding DCS. */
static enum smpp_text_enc dcs_alphabet(uint8_t dcs)
{
	switch ((dcs >> 2) & 3) {
	case 0:
		return SMPP_ENC_GSM7;
	case 1:
		return SMPP_ENC_8BIT;
	case 2:
		return SMPP_ENC_UCS2;
	}
	return SMPP_ENC_UNKNOWN;
}

enum smpp_text_enc smpp_dcs_to_enc(uint8_t dcs, enum smpp_dcs_profile profile)
{
	if (profile == SMPP_DCS_USSD) {
		switch (dcs >> 4) {
		case 0x0:
		case 0x2:
		case 0x3:
			return SMPP_ENC_GSM7; /* language groups, 7-bit */
		case 0x1:
			return dcs == 0x10   ? SMPP_ENC_GSM7
			       : dcs == 0x11 ? SMPP_ENC_UCS2
					     : SMPP_ENC_UNKNOWN;
		case 0x4:
		case 0x5:
		case 0x6:
		case 0x7:
		case 0x9:
			return (dcs & 0x20) ? SMPP_ENC_UNKNOWN : dcs_alphabet(dcs);
		case 0xF:
			return (dcs & 0x04) ? SMPP_ENC_8BIT : SMPP_ENC_GSM7;
		}
		return SMPP_ENC_UNKNOWN;
	}
	switch (dcs) {
	case 0x00:
	case 0x0F:
		return SMPP_ENC_GSM7;
	case 0x01:
	case 0x03:
		return SMPP_ENC_LATIN1; /* IA5 is a subset */
	case 0x02:
	case 0x04:
		return SMPP_ENC_8BIT;
	case 0x08:
		return SMPP_ENC_UCS2;
	}
	if (dcs < 0x10)
		return SMPP_ENC_UNKNOWN;
	if (dcs < 0x80)
		return (dcs & 0x20) ? SMPP_ENC_UNKNOWN : dcs_alphabet(dcs);
	if (dcs >= 0xC0 && dcs < 0xE0)
		return SMPP_ENC_GSM7;
	if (dcs >= 0xE0 && dcs < 0xF0)
		return SMPP_ENC_UCS2;
	if (dcs >= 0xF0)
		return (dcs & 0x04) ? SMPP_ENC_8BIT : SMPP_ENC_GSM7;
	return SMPP_ENC_UNKNOWN;
}

int smpp_dcs_from_enc(enum smpp_text_enc enc, enum smpp_dcs_profile profile, uint8_t *dcs)
{
	static const uint8_t smpp[] = {[SMPP_ENC_GSM7] = 0x00,
				       [SMPP_ENC_LATIN1] = 0x03,
				       [SMPP_ENC_UCS2] = 0x08,
				       [SMPP_ENC_8BIT] = 0x04};
	static const uint8_t ussd[] = {[SMPP_ENC_GSM7] = 0x0F,
				       [SMPP_ENC_LATIN1] = 0xFF,
				       [SMPP_ENC_UCS2] = 0x48,
				       [SMPP_ENC_8BIT] = 0x44};
	if (!dcs || (unsigned)enc > SMPP_ENC_8BIT)
		return GW_ENOTSUP;
	uint8_t v = profile == SMPP_DCS_USSD ? ussd[enc] : smpp[enc];
	if (v == 0xFF)
		return GW_ENOTSUP;
	*dcs = v;
	return 0;
}
