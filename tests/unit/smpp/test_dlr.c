/* Receipt parsing and message id normalisation (smpp_dlr.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/smpp_dlr.h"
#include "ussdgw/smpp_pdu.h"

static int parse(const char *t, struct smpp_dlr *d)
{
	return smpp_dlr_parse_text(t, strlen(t), d);
}

static void test_standard_text(void **state)
{
	(void)state;
	struct smpp_dlr d;
	assert_int_equal(parse("id:0123456789 sub:001 dlvrd:001 submit date:2611251200 done "
			       "date:2611251201 stat:DELIVRD err:000 text:hello world",
			       &d),
			 0);
	assert_string_equal(d.id, "0123456789");
	assert_int_equal(d.sub, 1);
	assert_int_equal(d.dlvrd, 1);
	assert_string_equal(d.submit_date, "2611251200");
	assert_string_equal(d.done_date, "2611251201");
	assert_string_equal(d.stat, "DELIVRD");
	assert_int_equal(d.state, SMPP_STATE_DELIVERED);
	assert_int_equal(d.err, 0);
}

static void test_lenient_variants(void **state)
{
	(void)state;
	struct smpp_dlr d;
	/* Upper-case keys, underscores, 12-digit dates, Text: with a fake id inside. */
	assert_int_equal(parse("ID:1A2B submit_date:261125120059 done_date:261125120100 "
			       "STAT:undeliv ERR:034 Text:id:999 stat:DELIVRD",
			       &d),
			 0);
	assert_string_equal(d.id, "1A2B");
	assert_string_equal(d.done_date, "261125120100");
	assert_int_equal(d.state, SMPP_STATE_UNDELIVERABLE);
	assert_int_equal(d.err, 34);
	/* Fields in another order, missing ones absent. */
	assert_int_equal(parse("stat:EXPIRED id:77", &d), 0);
	assert_string_equal(d.id, "77");
	assert_int_equal(d.state, SMPP_STATE_EXPIRED);
	assert_int_equal(d.err, -1);
	/* "uid:" is not "id:". */
	assert_int_equal(parse("uid:5 stat:REJECTD", &d), GW_ENOENT);
	assert_int_equal(d.state, SMPP_STATE_REJECTED);
	/* Long stat words and unknown ones. */
	assert_int_equal(parse("id:1 stat:DELIVERED", &d), 0);
	assert_int_equal(d.state, SMPP_STATE_DELIVERED);
	assert_int_equal(parse("id:1 stat:WEIRD", &d), 0);
	assert_int_equal(d.state, 0);
	assert_int_equal(parse("", &d), GW_ENOENT);
	assert_int_equal(smpp_dlr_parse_text(NULL, 0, &d), GW_ENOENT);
}

static void test_pdu_tlvs_win(void **state)
{
	(void)state;
	struct smpp_pdu p;
	smpp_pdu_init(&p, SMPP_DELIVER_SM, 3);
	const char *txt = "id:111 stat:UNDELIV err:005 text:x";
	p.esm_class = 0x04;
	p.short_message = (const uint8_t *)txt;
	p.sm_length = strlen(txt);
	static const char rid[] = "00A1";
	static const uint8_t nec[] = {3, 0, 9};
	assert_int_equal(smpp_pdu_add_tlv(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, rid, sizeof(rid)), 0);
	assert_int_equal(smpp_pdu_add_tlv_u8(&p, SMPP_TLV_MESSAGE_STATE, SMPP_STATE_DELIVERED), 0);
	assert_int_equal(smpp_pdu_add_tlv(&p, SMPP_TLV_NETWORK_ERROR_CODE, nec, 3), 0);
	assert_true(smpp_dlr_is_receipt(&p));
	struct smpp_dlr d;
	assert_int_equal(smpp_dlr_parse_pdu(&p, &d), 0);
	assert_string_equal(d.id, "00A1"); /* TLV wins, NUL stripped */
	assert_int_equal(d.state, SMPP_STATE_DELIVERED);
	assert_true(d.from_tlv);
	assert_int_equal(d.err, 5); /* text err kept; the TLV only fills a missing one */
	smpp_pdu_init(&p, SMPP_DELIVER_SM, 4);
	assert_false(smpp_dlr_is_receipt(&p));
}

static bool shares_form(const char *a, const char *b)
{
	struct smpp_dlr_ids x, y;
	assert_int_equal(smpp_dlr_normalise(a, strlen(a), &x), 0);
	assert_int_equal(smpp_dlr_normalise(b, strlen(b), &y), 0);
	/* The receipt's primary form must be one of the response's forms. */
	for (unsigned i = 0; i < x.n; i++)
		if (!strcmp(x.id[i], y.id[0]))
			return true;
	return false;
}

static void test_normalise(void **state)
{
	(void)state;
	struct smpp_dlr_ids ids;
	assert_int_equal(smpp_dlr_normalise(" 000ABCdef ", 11, &ids), 0);
	assert_string_equal(ids.id[0], "abcdef");
	assert_int_equal(ids.n, 2);
	assert_string_equal(ids.id[1], "11259375");
	assert_int_equal(smpp_dlr_normalise("0000", 4, &ids), 0);
	assert_string_equal(ids.id[0], "0");
	assert_int_equal(smpp_dlr_normalise("", 0, &ids), GW_EINVAL);
	assert_int_equal(smpp_dlr_normalise("   ", 3, &ids), GW_EINVAL);
	/* hex response, decimal receipt; padded; upper/lower case; decimal response, hex receipt */
	assert_true(shares_form("1A2B3C", "1715004"));
	assert_true(shares_form("00000000001a2b3c", "1A2B3C"));
	assert_true(shares_form("1715004", "1a2b3c"));
	assert_true(shares_form("0001715004", "1715004"));
	assert_false(shares_form("1a2b3c", "1a2b3d"));
	/* Not numbers: only the plain form. */
	assert_int_equal(smpp_dlr_normalise("msg-42", 6, &ids), 0);
	assert_int_equal(ids.n, 1);
	assert_string_equal(ids.id[0], "msg-42");
	/* Too long for 64 bits: no alternative base. */
	assert_int_equal(smpp_dlr_normalise("123456789012345678901", 21, &ids), 0);
	assert_int_equal(ids.n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_standard_text),
	    cmocka_unit_test(test_lenient_variants),
	    cmocka_unit_test(test_pdu_tlvs_win),
	    cmocka_unit_test(test_normalise),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
