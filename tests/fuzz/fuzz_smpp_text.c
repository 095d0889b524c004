/* Fuzz target for the text codecs. The first byte picks what the rest is:
 *   0: peer bytes for the GSM7 / Latin-1 / UCS2 decoders (output must be valid
 *      UTF-8 that re-encodes; GSM7 output round-trips through the encoder);
 *   1: UTF-8 for the encoders and the part planner (round trips, and the split
 *      points obey the limits and never cut an ESC pair or a surrogate pair);
 *   2: a short_message with a UDH for the UDH parser, and septets for the packer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/smpp_text.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t enc[1 << 16], enc2[1 << 16], sept[1 << 16];
static char text[SMPP_TEXT_UTF8_MAX(1 << 16)], text2[SMPP_TEXT_UTF8_MAX(1 << 16)];
static struct smpp_text_plan plan;

static void decoders(const uint8_t *d, size_t n)
{
	static const enum smpp_text_enc e[] = {SMPP_ENC_GSM7, SMPP_ENC_LATIN1, SMPP_ENC_UCS2};
	for (unsigned k = 0; k < 3; k++) {
		size_t m, l;
		int rc = smpp_text_decode(e[k], d, n, text, sizeof(text), &m);
		if (rc) {
			CHECK(e[k] == SMPP_ENC_UCS2 && (n & 1));
			continue;
		}
		CHECK(m <= SMPP_TEXT_UTF8_MAX(n));
		/* decoder output is valid UTF-8: UCS2 can always carry it */
		CHECK(smpp_text_encode(SMPP_ENC_UCS2, text, m, enc, sizeof(enc), &l) == 0);
		if (e[k] == SMPP_ENC_GSM7) {
			size_t m2;
			CHECK(smpp_text_encode(SMPP_ENC_GSM7, text, m, enc, sizeof(enc), &l) == 0);
			CHECK(smpp_text_decode(SMPP_ENC_GSM7, enc, l, text2, sizeof(text2), &m2) ==
			      0);
			CHECK(m2 == m && memcmp(text, text2, m) == 0);
		}
	}
}

static void check_plan(const struct smpp_text_plan *p, bool ussd, const char *s, size_t n)
{
	CHECK(p->parts >= 1 && p->parts <= SMPP_TEXT_MAX_PARTS);
	CHECK(p->split[0] == 0 && p->split[p->parts] == p->enc_len);
	for (unsigned i = 0; i < p->parts; i++) {
		uint32_t a = p->split[i], b = p->split[i + 1];
		CHECK(a <= b);
		if (p->parts > 1) {
			CHECK(b - a <= 153);
			if (b < p->enc_len && p->enc == SMPP_ENC_GSM7)
				CHECK(enc[b - 1] != 0x1B);
			if (b < p->enc_len && p->enc == SMPP_ENC_UCS2)
				CHECK((b & 1) == 0 && (enc[b - 2] & 0xFC) != 0xD8);
		}
		uint8_t sm[200];
		size_t l, hl;
		CHECK(smpp_text_part(p, enc, i, (uint16_t)i, sm, sizeof(sm), &l) == 0);
		CHECK(l <= (ussd ? 182u : 160u));
		if (p->parts > 1 && p->concat != SMPP_CONCAT_SAR) {
			struct smpp_concat c;
			bool found;
			CHECK(smpp_udh_parse(sm, l, &hl, &c, &found) == 0 && found);
			CHECK(c.seq == i + 1 && c.total == p->parts);
		}
	}
	size_t m;
	CHECK(smpp_text_decode(p->enc, enc, p->enc_len, text, sizeof(text), &m) == 0);
	CHECK(m == n && memcmp(text, s, n) == 0);
}

static void encoders(const uint8_t *d, size_t n)
{
	const char *s = (const char *)d;
	static const enum smpp_text_enc e[] = {SMPP_ENC_GSM7, SMPP_ENC_LATIN1, SMPP_ENC_UCS2};
	int ucs2_rc = 0;
	for (unsigned k = 0; k < 3; k++) {
		size_t l, m;
		int rc = smpp_text_encode(e[k], s, n, enc, sizeof(enc), &l);
		if (e[k] == SMPP_ENC_UCS2)
			ucs2_rc = rc;
		if (rc) {
			CHECK(rc == GW_EINVAL);
			continue;
		}
		CHECK(smpp_text_decode(e[k], enc, l, text, sizeof(text), &m) == 0);
		CHECK(m == n && memcmp(text, s, n) == 0);
	}
	static const struct smpp_text_plan_opts opts[] = {
	    {SMPP_BEARER_SMS, SMPP_CONCAT_UDH8, false},	 {SMPP_BEARER_SMS, SMPP_CONCAT_UDH16, true},
	    {SMPP_BEARER_SMS, SMPP_CONCAT_SAR, true},	 {SMPP_BEARER_SMS, SMPP_CONCAT_NONE, false},
	    {SMPP_BEARER_USSD, SMPP_CONCAT_NONE, false},
	};
	for (unsigned k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
		int rc = smpp_text_plan(s, n, &opts[k], enc, sizeof(enc), &plan);
		if (rc == 0)
			check_plan(&plan, opts[k].bearer == SMPP_BEARER_USSD, s, n);
		else
			CHECK(rc == GW_EMSGSIZE || (rc == GW_EINVAL && ucs2_rc == GW_EINVAL));
	}
}

static void udh_and_packing(const uint8_t *d, size_t n)
{
	size_t hl, l, m;
	struct smpp_concat c;
	bool found;
	if (smpp_udh_parse(d, n, &hl, &c, &found) == 0)
		CHECK(hl >= 1 && hl <= n && (!found || (c.seq >= 1 && c.seq <= c.total)));
	if (n == 0)
		return;
	unsigned fill = d[0] % 7;
	for (size_t i = 1; i < n; i++)
		enc2[i - 1] = d[i] & 0x7F;
	CHECK(smpp_gsm7_pack(enc2, n - 1, fill, 0, enc, sizeof(enc), &l) == 0);
	CHECK(smpp_gsm7_unpack(enc, l, fill, n - 1, 0, sept, sizeof(sept), &m) == 0);
	CHECK(m == n - 1 && memcmp(sept, enc2, m) == 0);
	(void)smpp_gsm7_unpack(d, n, fill, SMPP_GSM7_ALL, SMPP_GSM7_USSD_PAD, enc, sizeof(enc), &m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 8192)
		return 0;
	switch (data[0] % 3) {
	case 0:
		decoders(data + 1, size - 1);
		break;
	case 1:
		encoders(data + 1, size - 1);
		break;
	case 2:
		udh_and_packing(data + 1, size - 1);
		break;
	}
	return 0;
}
