/* Unit tests of the SMPP text codecs: GSM 03.38 with extension table, packing,
 * UCS2 with surrogates, Latin-1, part planning, UDH and sar_* concatenation,
 * data_coding mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/smpp_pdu.h"
#include "ussdgw/smpp_text.h"

static uint8_t enc[4096];
static char dec[8192];

static size_t encode_ok(enum smpp_text_enc e, const char *s)
{
	size_t n = 0;
	assert_int_equal(smpp_text_encode(e, s, strlen(s), enc, sizeof(enc), &n), 0);
	return n;
}

static void assert_roundtrip(enum smpp_text_enc e, const char *s)
{
	size_t n = encode_ok(e, s), m = 0;
	assert_int_equal(smpp_text_decode(e, enc, n, dec, sizeof(dec), &m), 0);
	assert_int_equal(m, strlen(s));
	assert_memory_equal(dec, s, m);
}

static void test_gsm_basic(void **state)
{
	size_t n = encode_ok(SMPP_ENC_GSM7, "Hi @£$¥_\n");
	static const uint8_t want[] = {'H', 'i', ' ', 0x00, 0x01, 0x02, 0x03, 0x11, 0x0A};
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(enc, want, n);
	n = encode_ok(SMPP_ENC_GSM7, "Café ñ Δ");
	static const uint8_t want2[] = {0x43, 0x61, 0x66, 0x05, 0x20, 0x7d, 0x20, 0x10};
	assert_int_equal(n, sizeof(want2));
	assert_memory_equal(enc, want2, n);
	assert_roundtrip(SMPP_ENC_GSM7, "Café ñ Δ ÆæßÉ ¤ ¡¿ §");
}

static void test_gsm_extension(void **state)
{
	size_t n = encode_ok(SMPP_ENC_GSM7, "€ {x} [y] ~^|\\");
	static const uint8_t want[] = {0x1b, 0x65, 0x20, 0x1b, 0x28, 0x78, 0x1b, 0x29,
				       0x20, 0x1b, 0x3c, 0x79, 0x1b, 0x3e, 0x20, 0x1b,
				       0x3d, 0x1b, 0x14, 0x1b, 0x40, 0x1b, 0x2f};
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(enc, want, n);
	assert_roundtrip(SMPP_ENC_GSM7, "€ {x} [y] ~^|\\ \f");
}

static void test_gsm_full_table(void **state)
{
	/* Every default-table septet except ESC decodes and re-encodes to itself. */
	uint8_t all[127];
	size_t k = 0;
	for (unsigned i = 0; i < 128; i++)
		if (i != 0x1B)
			all[k++] = (uint8_t)i;
	size_t m, n;
	assert_int_equal(smpp_text_decode(SMPP_ENC_GSM7, all, k, dec, sizeof(dec), &m), 0);
	assert_int_equal(smpp_text_encode(SMPP_ENC_GSM7, dec, m, enc, sizeof(enc), &n), 0);
	assert_int_equal(n, k);
	assert_memory_equal(enc, all, k);
}

static void test_gsm_decode_odd(void **state)
{
	size_t m;
	/* ESC + code without extension character: the default-table character */
	static const uint8_t a[] = {0x1b, 0x41};
	assert_int_equal(smpp_text_decode(SMPP_ENC_GSM7, a, 2, dec, sizeof(dec), &m), 0);
	assert_int_equal(m, 1);
	assert_int_equal(dec[0], 'A');
	/* lone ESC at the end: space; bytes above 0x7F: '?' */
	static const uint8_t b[] = {0xff, 0x1b};
	assert_int_equal(smpp_text_decode(SMPP_ENC_GSM7, b, 2, dec, sizeof(dec), &m), 0);
	assert_int_equal(m, 2);
	assert_memory_equal(dec, "? ", 2);
	/* worst case expansion fits SMPP_TEXT_UTF8_MAX */
	uint8_t euro[254];
	for (size_t i = 0; i < sizeof(euro); i += 2) {
		euro[i] = 0x1b;
		euro[i + 1] = 0x65;
	}
	char out[SMPP_TEXT_UTF8_MAX(sizeof(euro))];
	assert_int_equal(smpp_text_decode(SMPP_ENC_GSM7, euro, sizeof(euro), out, sizeof(out), &m),
			 0);
	assert_int_equal(m, 127 * 3);
	assert_int_equal(smpp_text_decode(SMPP_ENC_GSM7, euro, sizeof(euro), out, m - 1, &m),
			 GW_EMSGSIZE);
}

static void test_encode_rejects(void **state)
{
	size_t n;
	assert_int_equal(smpp_text_encode(SMPP_ENC_GSM7, "`", 1, enc, sizeof(enc), &n), GW_EINVAL);
	assert_int_equal(smpp_text_encode(SMPP_ENC_GSM7, "ê", 2, enc, sizeof(enc), &n), GW_EINVAL);
	assert_int_equal(smpp_text_encode(SMPP_ENC_LATIN1, "€", 3, enc, sizeof(enc), &n),
			 GW_EINVAL);
	static const char *bad[] = {"\xc0\x80",		"\xed\xa0\x80", "\xe2\x82",
				    "\xf4\x90\x80\x80", "\x80",		"\xff"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    smpp_text_encode(SMPP_ENC_UCS2, bad[i], strlen(bad[i]), enc, sizeof(enc), &n),
		    GW_EINVAL);
		assert_int_equal(
		    smpp_text_encode(SMPP_ENC_GSM7, bad[i], strlen(bad[i]), enc, sizeof(enc), &n),
		    GW_EINVAL);
	}
	assert_int_equal(smpp_text_encode(SMPP_ENC_GSM7, "abc", 3, enc, 2, &n), GW_EMSGSIZE);
}

static void test_ucs2(void **state)
{
	size_t n = encode_ok(SMPP_ENC_UCS2, "Aé€😀");
	static const uint8_t want[] = {0x00, 0x41, 0x00, 0xe9, 0x20, 0xac, 0xd8, 0x3d, 0xde, 0x00};
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(enc, want, n);
	assert_roundtrip(SMPP_ENC_UCS2, "Aé€😀 日本語 𝄞");
	size_t m;
	/* lone surrogates become U+FFFD; odd length is malformed */
	static const uint8_t lone[] = {0xd8, 0x3d, 0x00, 0x41, 0xde, 0x00};
	assert_int_equal(smpp_text_decode(SMPP_ENC_UCS2, lone, 6, dec, sizeof(dec), &m), 0);
	assert_int_equal(m, 7);
	assert_memory_equal(dec,
			    "\xef\xbf\xbd"
			    "A\xef\xbf\xbd",
			    7);
	assert_int_equal(smpp_text_decode(SMPP_ENC_UCS2, lone, 5, dec, sizeof(dec), &m),
			 GW_EPROTO_MALFORMED);
}

static void test_latin1(void **state)
{
	size_t n = encode_ok(SMPP_ENC_LATIN1, "Café ÿ");
	assert_int_equal(n, 6);
	assert_memory_equal(enc, "Caf\xe9 \xff", 6);
	assert_roundtrip(SMPP_ENC_LATIN1, "Café ÿ ¤ ê");
}

static void test_pack(void **state)
{
	size_t n, m;
	uint8_t sept[200], back[200];
	assert_int_equal(
	    smpp_gsm7_pack((const uint8_t *)"hellohello", 10, 0, 0, enc, sizeof(enc), &n), 0);
	static const uint8_t hh[] = {0xe8, 0x32, 0x9b, 0xfd, 0x46, 0x97, 0xd9, 0xec, 0x37};
	assert_int_equal(n, sizeof(hh));
	assert_memory_equal(enc, hh, n);
	assert_int_equal(smpp_gsm7_unpack(enc, n, 0, 10, 0, back, sizeof(back), &m), 0);
	assert_int_equal(m, 10);
	assert_memory_equal(back, "hellohello", 10);

	/* USSD padding (TS 23.038 6.1.2.3.1): 7 chars leave 7 free bits, filled with CR */
	assert_int_equal(smpp_gsm7_pack((const uint8_t *)"AAAAAAA", 7, 0, 0, enc, sizeof(enc), &n),
			 0);
	assert_int_equal(n, 7);
	assert_int_equal(enc[6], 0x01);
	assert_int_equal(smpp_gsm7_pack((const uint8_t *)"AAAAAAA", 7, 0, SMPP_GSM7_USSD_PAD, enc,
					sizeof(enc), &n),
			 0);
	assert_int_equal(n, 7);
	assert_int_equal(enc[6], 0x1b);
	assert_int_equal(
	    smpp_gsm7_unpack(enc, n, 0, SMPP_GSM7_ALL, SMPP_GSM7_USSD_PAD, back, sizeof(back), &m),
	    0);
	assert_int_equal(m, 7);
	assert_memory_equal(back, "AAAAAAA", 7);
	/* 182 septets fill the 160-octet USSD string */
	memset(sept, 'x', 182);
	assert_int_equal(smpp_gsm7_pack(sept, 182, 0, SMPP_GSM7_USSD_PAD, enc, sizeof(enc), &n), 0);
	assert_int_equal(n, 160);

	/* with fill bits (after a UDH) the septets still round-trip */
	for (unsigned fill = 0; fill <= 6; fill++) {
		for (size_t i = 0; i < 153; i++)
			sept[i] = (uint8_t)((i * 37 + fill) & 0x7F);
		assert_int_equal(smpp_gsm7_pack(sept, 153, fill, 0, enc, sizeof(enc), &n), 0);
		assert_int_equal(smpp_gsm7_unpack(enc, n, fill, 153, 0, back, sizeof(back), &m), 0);
		assert_int_equal(m, 153);
		assert_memory_equal(back, sept, 153);
	}
	assert_int_equal(smpp_gsm7_unpack(enc, 2, 0, 3, 0, back, sizeof(back), &m),
			 GW_EPROTO_MALFORMED);
	/* zero septets: zero octets, and unpacking zero reads none (regression:
	 * 0 used to mean "as many as fit") */
	assert_int_equal(smpp_gsm7_pack(sept, 0, 1, 0, enc, sizeof(enc), &n), 0);
	assert_int_equal(n, 0);
	static const uint8_t one[] = {0xbe};
	assert_int_equal(smpp_gsm7_unpack(one, 1, 1, 0, 0, back, sizeof(back), &m), 0);
	assert_int_equal(m, 0);
	assert_int_equal(smpp_gsm7_unpack(one, 1, 1, SMPP_GSM7_ALL, 0, back, sizeof(back), &m), 0);
	assert_int_equal(m, 1);
	sept[0] = 0x80;
	assert_int_equal(smpp_gsm7_pack(sept, 1, 0, 0, enc, sizeof(enc), &n), GW_EINVAL);
}

static void fill(char *s, const char *unit, unsigned count)
{
	s[0] = 0;
	for (unsigned i = 0; i < count; i++)
		strcat(s, unit);
}

static void test_plan(void **state)
{
	static char text[4096];
	static struct smpp_text_plan p;
	struct smpp_text_plan_opts o = {SMPP_BEARER_SMS, SMPP_CONCAT_UDH8, false};

	fill(text, "a", 160);
	assert_int_equal(smpp_text_plan(text, strlen(text), &o, enc, sizeof(enc), &p), 0);
	assert_int_equal(p.enc, SMPP_ENC_GSM7);
	assert_int_equal(p.parts, 1);
	fill(text, "a", 161);
	assert_int_equal(smpp_text_plan(text, strlen(text), &o, enc, sizeof(enc), &p), 0);
	assert_int_equal(p.parts, 2);
	assert_int_equal(p.split[1], 153);
	assert_int_equal(p.split[2], 161);
	o.concat = SMPP_CONCAT_UDH16;
	assert_int_equal(smpp_text_plan(text, strlen(text), &o, enc, sizeof(enc), &p), 0);
	assert_int_equal(p.split[1], 152);
	o.concat = SMPP_CONCAT_NONE;
	assert_int_equal(smpp_text_plan(text, strlen(text), &o, enc, sizeof(enc), &p), GW_EMSGSIZE);
	o.concat = SMPP_CONCAT_UDH8;

	/* an escape pair is never split: '€' at septets 152-153 moves to part 2 */
	fill(text, "a", 152);
	strcat(text, "€bbbbbbbbbb");
	assert_int_equal(smpp_text_plan(text, strlen(text), &o, enc, sizeof(enc), &p), 0);
	assert_int_equal(p.enc, SMPP_ENC_GSM7);
	assert_int_equal(p.split[1], 152);
	assert_int_equal(enc[152], 0x1b);

	/* UCS2: 70 units in one part, 71 in two (67 + 4) */
	fill(text, "ж", 70);
	assert_int_equal(smpp_text_plan(text, strlen(text), &o, enc, sizeof(enc), &p), 0);
	assert_int_equal(p.enc, SMPP_ENC_UCS2);
	assert_int_equal(p.parts, 1);
	assert_int_equal(p.units, 70);
	fill(text, "ж", 71);
	assert_int_equal(smpp_text_plan(text, strlen(text), &o, enc, sizeof(enc), &p), 0);
	assert_int_equal(p.parts, 2);
	assert_int_equal(p.split[1], 134);
	/* a surrogate pair across the 67-unit boundary stays together */
	fill(text, "ж", 66);
	strcat(text, "😀");
	strcat(text, "жжжжж");
	assert_int_equal(smpp_text_plan(text, strlen(text), &o, enc, sizeof(enc), &p), 0);
	assert_int_equal(p.parts, 2);
	assert_int_equal(p.split[1], 132);
	assert_int_equal(enc[132], 0xd8);

	/* Latin-1 wins where allowed and cheaper; GSM keeps ties */
	fill(text, "{", 100); /* 200 septets (2 parts) vs 100 Latin-1 octets */
	assert_int_equal(smpp_text_plan(text, strlen(text), &o, enc, sizeof(enc), &p), 0);
	assert_int_equal(p.enc, SMPP_ENC_GSM7);
	assert_int_equal(p.parts, 2);
	o.allow_latin1 = true;
	assert_int_equal(smpp_text_plan(text, strlen(text), &o, enc, sizeof(enc), &p), 0);
	assert_int_equal(p.enc, SMPP_ENC_LATIN1);
	assert_int_equal(p.parts, 1);
	assert_int_equal(smpp_text_plan("Ça", 3, &o, enc, sizeof(enc), &p), 0);
	assert_int_equal(p.enc, SMPP_ENC_GSM7);
	assert_int_equal(smpp_text_plan("être", 5, &o, enc, sizeof(enc), &p), 0);
	assert_int_equal(p.enc, SMPP_ENC_LATIN1);
	o.allow_latin1 = false;
	assert_int_equal(smpp_text_plan("être", 5, &o, enc, sizeof(enc), &p), 0);
	assert_int_equal(p.enc, SMPP_ENC_UCS2);

	/* USSD: 182 septets or 80 UCS2 units, one part */
	struct smpp_text_plan_opts u = {SMPP_BEARER_USSD, SMPP_CONCAT_UDH8, true};
	fill(text, "1", 182);
	assert_int_equal(smpp_text_plan(text, strlen(text), &u, enc, sizeof(enc), &p), 0);
	assert_int_equal(p.parts, 1);
	assert_int_equal(p.concat, SMPP_CONCAT_NONE);
	fill(text, "1", 183);
	assert_int_equal(smpp_text_plan(text, strlen(text), &u, enc, sizeof(enc), &p), GW_EMSGSIZE);
	fill(text, "ж", 80);
	assert_int_equal(smpp_text_plan(text, strlen(text), &u, enc, sizeof(enc), &p), 0);
	assert_int_equal(p.enc, SMPP_ENC_UCS2);
	fill(text, "ж", 81);
	assert_int_equal(smpp_text_plan(text, strlen(text), &u, enc, sizeof(enc), &p), GW_EMSGSIZE);

	/* more than 255 parts */
	static char huge[40000];
	memset(huge, 'a', 153 * 255 + 1);
	static uint8_t hbuf[90000];
	assert_int_equal(smpp_text_plan(huge, 153 * 255, &o, hbuf, sizeof(hbuf), &p), 0);
	assert_int_equal(p.parts, 255);
	assert_int_equal(smpp_text_plan(huge, 153 * 255 + 1, &o, hbuf, sizeof(hbuf), &p),
			 GW_EMSGSIZE);
	assert_int_equal(smpp_text_plan("\xff", 1, &o, enc, sizeof(enc), &p), GW_EINVAL);
}

static void test_parts_and_udh(void **state)
{
	static char text[1024];
	static struct smpp_text_plan p;
	struct smpp_text_plan_opts o = {SMPP_BEARER_SMS, SMPP_CONCAT_UDH16, false};
	fill(text, "0123456789", 40); /* 400 septets: 3 parts of <= 152 */
	assert_int_equal(smpp_text_plan(text, strlen(text), &o, enc, sizeof(enc), &p), 0);
	assert_int_equal(p.parts, 3);
	size_t total = 0;
	for (unsigned i = 0; i < p.parts; i++) {
		uint8_t sm[160];
		size_t n, hl;
		struct smpp_concat c;
		bool found;
		assert_int_equal(smpp_text_part(&p, enc, i, 0xBEEF, sm, sizeof(sm), &n), 0);
		assert_int_equal(smpp_udh_parse(sm, n, &hl, &c, &found), 0);
		assert_true(found);
		assert_int_equal(hl, 7);
		assert_true(c.ref16);
		assert_int_equal(c.ref, 0xBEEF);
		assert_int_equal(c.total, 3);
		assert_int_equal(c.seq, i + 1);
		assert_memory_equal(sm + hl, text + total, n - hl);
		total += n - hl;
	}
	assert_int_equal(total, 400);
	uint8_t sm[8];
	size_t n;
	assert_int_equal(smpp_text_part(&p, enc, 3, 1, sm, sizeof(sm), &n), GW_EINVAL);
	assert_int_equal(smpp_text_part(&p, enc, 0, 1, sm, sizeof(sm), &n), GW_EMSGSIZE);

	/* UDH8 build; parser skips other IEs; malformed headers are refused */
	struct smpp_concat c = {.ref = 0x42, .total = 2, .seq = 1}, d;
	uint8_t h[8];
	size_t hl;
	bool found;
	assert_int_equal(smpp_udh_concat_build(&c, h, sizeof(h), &hl), 0);
	assert_int_equal(hl, 6);
	assert_memory_equal(h, "\x05\x00\x03\x42\x02\x01", 6);
	c.ref = 0x142;
	assert_int_equal(smpp_udh_concat_build(&c, h, sizeof(h), &hl), GW_EINVAL);
	static const uint8_t ports[] = {0x0b, 0x05, 0x04, 0x0b, 0x84, 0x23, 0xf0,
					0x00, 0x03, 0x07, 0x03, 0x02, 'x'};
	assert_int_equal(smpp_udh_parse(ports, sizeof(ports), &hl, &d, &found), 0);
	assert_true(found);
	assert_int_equal(hl, 12);
	assert_int_equal(d.ref, 7);
	assert_int_equal(d.seq, 2);
	static const uint8_t noconcat[] = {0x04, 0x05, 0x02, 0x0b, 0x84};
	assert_int_equal(smpp_udh_parse(noconcat, sizeof(noconcat), &hl, &d, &found), 0);
	assert_false(found);
	static const uint8_t over[] = {0x09, 0x00, 0x03, 0x01, 0x02, 0x01};
	assert_int_equal(smpp_udh_parse(over, sizeof(over), &hl, &d, &found), GW_EPROTO_MALFORMED);
	static const uint8_t ie_over[] = {0x03, 0x00, 0x03, 0x01, 0x02};
	assert_int_equal(smpp_udh_parse(ie_over, sizeof(ie_over), &hl, &d, &found),
			 GW_EPROTO_MALFORMED);
	static const uint8_t seq_bad[] = {0x05, 0x00, 0x03, 0x01, 0x02, 0x03};
	assert_int_equal(smpp_udh_parse(seq_bad, sizeof(seq_bad), &hl, &d, &found),
			 GW_EPROTO_MALFORMED);
	static const uint8_t len_bad[] = {0x05, 0x08, 0x03, 0x01, 0x02, 0x01};
	assert_int_equal(smpp_udh_parse(len_bad, sizeof(len_bad), &hl, &d, &found),
			 GW_EPROTO_MALFORMED);
	assert_int_equal(smpp_udh_parse(NULL, 0, &hl, &d, &found), GW_EPROTO_MALFORMED);
}

static void test_sar(void **state)
{
	static struct smpp_pdu pdu, back;
	smpp_pdu_init(&pdu, SMPP_SUBMIT_SM, 5);
	struct smpp_concat c = {.ref = 0x1234, .total = 3, .seq = 2}, d;
	assert_int_equal(smpp_sar_get(&pdu, &d), GW_ENOENT);
	assert_int_equal(smpp_sar_add(&pdu, &c), 0);
	uint8_t buf[128];
	size_t n;
	assert_int_equal(smpp_encode(&pdu, buf, sizeof(buf), &n), 0);
	assert_int_equal(smpp_decode(buf, n, NULL, &back), 0);
	assert_int_equal(smpp_sar_get(&back, &d), 0);
	assert_int_equal(d.ref, 0x1234);
	assert_int_equal(d.total, 3);
	assert_int_equal(d.seq, 2);
	/* only some of the three, or seq > total: malformed */
	back.tlv_count = 2;
	assert_int_equal(smpp_sar_get(&back, &d), GW_EPROTO_MALFORMED);
	smpp_pdu_init(&pdu, SMPP_SUBMIT_SM, 5);
	smpp_pdu_add_tlv_u16(&pdu, SMPP_TLV_SAR_MSG_REF_NUM, 1);
	smpp_pdu_add_tlv_u8(&pdu, SMPP_TLV_SAR_TOTAL_SEGMENTS, 2);
	smpp_pdu_add_tlv_u8(&pdu, SMPP_TLV_SAR_SEGMENT_SEQNUM, 3);
	assert_int_equal(smpp_sar_get(&pdu, &d), GW_EPROTO_MALFORMED);
	c.seq = 0;
	assert_int_equal(smpp_sar_add(&pdu, &c), GW_EINVAL);
}

static void test_dcs(void **state)
{
	assert_int_equal(smpp_dcs_to_enc(0x00, SMPP_DCS_SMPP), SMPP_ENC_GSM7);
	assert_int_equal(smpp_dcs_to_enc(0x03, SMPP_DCS_SMPP), SMPP_ENC_LATIN1);
	assert_int_equal(smpp_dcs_to_enc(0x08, SMPP_DCS_SMPP), SMPP_ENC_UCS2);
	assert_int_equal(smpp_dcs_to_enc(0x04, SMPP_DCS_SMPP), SMPP_ENC_8BIT);
	assert_int_equal(smpp_dcs_to_enc(0x0F, SMPP_DCS_SMPP), SMPP_ENC_GSM7);
	assert_int_equal(smpp_dcs_to_enc(0x05, SMPP_DCS_SMPP), SMPP_ENC_UNKNOWN);
	assert_int_equal(smpp_dcs_to_enc(0xF0, SMPP_DCS_SMPP), SMPP_ENC_GSM7);
	assert_int_equal(smpp_dcs_to_enc(0xF4, SMPP_DCS_SMPP), SMPP_ENC_8BIT);
	assert_int_equal(smpp_dcs_to_enc(0x18, SMPP_DCS_SMPP), SMPP_ENC_UCS2);
	assert_int_equal(smpp_dcs_to_enc(0x0F, SMPP_DCS_USSD), SMPP_ENC_GSM7);
	assert_int_equal(smpp_dcs_to_enc(0x00, SMPP_DCS_USSD), SMPP_ENC_GSM7);
	assert_int_equal(smpp_dcs_to_enc(0x44, SMPP_DCS_USSD), SMPP_ENC_8BIT);
	assert_int_equal(smpp_dcs_to_enc(0x48, SMPP_DCS_USSD), SMPP_ENC_UCS2);
	assert_int_equal(smpp_dcs_to_enc(0x11, SMPP_DCS_USSD), SMPP_ENC_UCS2);
	assert_int_equal(smpp_dcs_to_enc(0x60, SMPP_DCS_USSD), SMPP_ENC_UNKNOWN);
	assert_int_equal(smpp_dcs_to_enc(0x08, SMPP_DCS_USSD), SMPP_ENC_GSM7);
	uint8_t d;
	assert_int_equal(smpp_dcs_from_enc(SMPP_ENC_UCS2, SMPP_DCS_USSD, &d), 0);
	assert_int_equal(d, 0x48);
	assert_int_equal(smpp_dcs_from_enc(SMPP_ENC_GSM7, SMPP_DCS_USSD, &d), 0);
	assert_int_equal(d, 0x0F);
	assert_int_equal(smpp_dcs_from_enc(SMPP_ENC_LATIN1, SMPP_DCS_USSD, &d), GW_ENOTSUP);
	assert_int_equal(smpp_dcs_from_enc(SMPP_ENC_LATIN1, SMPP_DCS_SMPP, &d), 0);
	assert_int_equal(d, 0x03);
	assert_string_equal(smpp_text_enc_name(SMPP_ENC_UCS2), "UCS2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gsm_basic),
	    cmocka_unit_test(test_gsm_extension),
	    cmocka_unit_test(test_gsm_full_table),
	    cmocka_unit_test(test_gsm_decode_odd),
	    cmocka_unit_test(test_encode_rejects),
	    cmocka_unit_test(test_ucs2),
	    cmocka_unit_test(test_latin1),
	    cmocka_unit_test(test_pack),
	    cmocka_unit_test(test_plan),
	    cmocka_unit_test(test_parts_and_udh),
	    cmocka_unit_test(test_sar),
	    cmocka_unit_test(test_dcs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
