#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/msisdn.h"

/* Kenya: +254, trunk 0, 9-digit NSN. */
static struct msisdn_rules ke;
/* NANP: +1, trunk 1, international prefix 011, 10-digit NSN. */
static struct msisdn_rules us;
/* A plan with no NSN lengths configured (Tanzania +255, trunk 0). */
static struct msisdn_rules tz_any;

static int setup(void **state)
{
	(void)state;
	assert_int_equal(msisdn_rules_set(&ke, "254", "0", NULL, "9"), 0);
	assert_int_equal(msisdn_rules_set(&us, "1", "1", "011", "10"), 0);
	assert_int_equal(msisdn_rules_set(&tz_any, "255", "0", NULL, NULL), 0);
	return 0;
}

struct norm_case {
	const char *addr;
	uint8_t ton, npi;
	const char *want; /* NULL: GW_EINVAL */
};

static void run_cases(const struct msisdn_rules *r, const struct norm_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char out[MSISDN_BUFSZ];
		memset(out, 'x', sizeof(out));
		int rc = msisdn_normalize(r, c[i].addr, c[i].ton, c[i].npi, out);
		if (c[i].want) {
			if (rc != 0 || strcmp(out, c[i].want) != 0)
				fail_msg("case %zu '%s' ton %u npi %u: rc %d out '%s', want '%s'",
					 i, c[i].addr, c[i].ton, c[i].npi, rc, rc ? "" : out,
					 c[i].want);
		} else {
			if (rc != GW_EINVAL)
				fail_msg("case %zu '%s' ton %u: rc %d out '%s', want GW_EINVAL", i,
					 c[i].addr, c[i].ton, rc, out);
			assert_string_equal(out, ""); /* never a half-made number */
		}
	}
}

static void test_kenya_forms(void **state)
{
	(void)state;
	static const struct norm_case cases[] = {
	    /* The forms from the field. */
	    {"+254712345678", 1, 1, "254712345678"},
	    {"254712345678", 1, 1, "254712345678"},
	    {"0712345678", 2, 1, "254712345678"},
	    {"0712345678", 0, 0, "254712345678"},
	    {"712345678", 2, 1, "254712345678"},
	    {"712345678", 0, 0, "254712345678"},
	    {"712345678", 4, 1, "254712345678"},
	    {"00254712345678", 0, 0, "254712345678"},
	    {"00254712345678", 2, 1, "254712345678"},
	    {"00254712345678", 1, 1, "254712345678"},
	    {"254712345678", 0, 0, "254712345678"},
	    {"+254712345678", 2, 8, "254712345678"}, /* '+' wins over a wrong TON */
	    {"254712345678", 2, 1, "254712345678"},  /* mislabelled national */
	    {"0110123456", 2, 1, "254110123456"},    /* 01x numbers */
	    /* Foreign numbers keep their own country code. */
	    {"+255700000001", 1, 1, "255700000001"},
	    {"255700000001", 1, 1, "255700000001"},
	    {"0044207946000", 0, 0, "44207946000"},
	    {"+4915112345678", 2, 1, "4915112345678"},
	    /* Not MSISDNs. */
	    {"MPESA", 5, 0, NULL},
	    {"254712345678", 5, 0, NULL}, /* alphanumeric TON, even if digits */
	    {"384", 6, 0, NULL},	  /* abbreviated: a short code */
	    {"254712345678", 3, 1, NULL}, /* network specific */
	    {"254712345678", 7, 1, NULL}, /* TON out of range */
	    {"254712345678", 1, 3, NULL}, /* NPI X.121 data */
	    {"254712345678", 1, 6, NULL}, /* NPI land mobile (E.212) */
	    {"254712345678", 1, 9, NULL}, /* NPI private */
	    {"254712345678", 1, 14, NULL},
	    /* Malformed. */
	    {"", 1, 1, NULL},
	    {"+", 1, 1, NULL},
	    {"++254712345678", 1, 1, NULL},
	    {"+254 712345678", 1, 1, NULL},
	    {"254-712-345678", 1, 1, NULL},
	    {" 254712345678", 1, 1, NULL},
	    {"254712345678 ", 1, 1, NULL},
	    {"25471234567a", 1, 1, NULL},
	    {"０712345678", 2, 1, NULL}, /* full-width digit (UTF-8) */
	    {"254712345678+", 1, 1, NULL},
	    /* Lengths. */
	    {"2547123456789", 1, 1, NULL},     /* Kenyan, NSN 10 */
	    {"25471234567", 1, 1, NULL},       /* Kenyan, NSN 8 */
	    {"07123456789", 2, 1, NULL},       /* national, NSN 10 */
	    {"071234567", 2, 1, NULL},	       /* national, NSN 8 */
	    {"12345678", 0, 0, NULL},	       /* unknown TON, neither length */
	    {"+1234567890123456", 1, 1, NULL}, /* 16 digits */
	    {"+123456", 1, 1, NULL},	       /* 6 digits */
	    {"+0712345678", 1, 1, NULL},       /* country code cannot start with 0 */
	    {"0712345678", 1, 1, NULL},	       /* TON 1 but a national form */
	    {"000254712345678", 0, 0, NULL},   /* 00 + 0254...: no country code 0 */
	    {"254012345678", 1, 1, NULL},      /* NSN starting with the trunk prefix */
	    {"123456789012345678901234567890123", 1, 1, NULL}, /* 33 chars */
	};
	run_cases(&ke, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_nanp_prefixes(void **state)
{
	(void)state;
	static const struct norm_case cases[] = {
	    {"+12025550123", 1, 1, "12025550123"},
	    {"12025550123", 1, 1, "12025550123"},
	    {"12025550123", 2, 1, "12025550123"}, /* trunk 1 stripped, cc 1 added */
	    {"2025550123", 2, 1, "12025550123"},
	    {"2025550123", 0, 0, "12025550123"},
	    {"011254712345678", 0, 0, "254712345678"},
	    {"00254712345678", 0, 0, NULL}, /* "00" is not NANP's international prefix */
	    {"202555012", 2, 1, NULL},
	};
	run_cases(&us, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_rules_without_lengths(void **state)
{
	(void)state;
	static const struct norm_case cases[] = {
	    {"0754000001", 2, 1, "255754000001"},
	    {"754000001", 2, 1, "255754000001"},
	    {"75400000", 2, 1, "25575400000"},	    /* any length within E.164 */
	    {"255754000001", 0, 0, "255754000001"}, /* unknown TON: starts with cc */
	    {"754000001", 0, 0, NULL},		    /* unknown TON, no cc: ambiguous */
	    {"2557540", 1, 1, "2557540"},	    /* 7 digits is the floor */
	    {"+2550754000001", 1, 1, NULL},	    /* cc + trunk + NSN */
	    {"2550754000001", 0, 0, NULL},
	    {"255754", 1, 1, NULL},
	    {"7540000011112222", 2, 1, NULL}, /* 255 + 16 digits */
	};
	run_cases(&tz_any, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_plan_without_trunk(void **state)
{
	(void)state;
	/* Italy: no trunk prefix, NSNs of landlines start with 0. */
	struct msisdn_rules it;
	assert_int_equal(msisdn_rules_set(&it, "39", "", "00", NULL), 0);
	static const struct norm_case cases[] = {
	    {"0612345678", 2, 1, "390612345678"},
	    {"3471234567", 2, 1, "393471234567"},
	    {"+390612345678", 1, 1, "390612345678"},
	    {"00390612345678", 0, 0, "390612345678"},
	    /* A national form "00..." would read as international: refused. */
	    {"+39007946000", 1, 1, NULL},
	};
	run_cases(&it, cases, sizeof(cases) / sizeof(cases[0]));
	char buf[32];
	assert_int_equal(msisdn_to_national(&it, "390612345678", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0612345678");
}

static void test_rules_set_validation(void **state)
{
	(void)state;
	struct msisdn_rules r;
	assert_int_equal(msisdn_rules_set(&r, "254", "0", NULL, "9,10"), 0);
	assert_string_equal(r.country_code, "254");
	assert_string_equal(r.trunk_prefix, "0");
	assert_string_equal(r.intl_prefix, "00");
	assert_int_equal(r.nsn_len[0], 9);
	assert_int_equal(r.nsn_len[1], 10);
	assert_int_equal(r.nsn_len[2], 0);
	assert_int_equal(msisdn_rules_set(&r, "44", "", "00", ""), 0);
	assert_string_equal(r.trunk_prefix, "");
	assert_int_equal(r.nsn_len[0], 0);
	assert_int_equal(msisdn_rules_set(&r, "44", NULL, NULL, "10"), 0);

	static const char *const bad_cc[] = {"", "0", "025", "2544", "25a", NULL};
	for (int i = 0; i < 6; i++)
		assert_int_equal(msisdn_rules_set(&r, bad_cc[i], "0", NULL, "9"), GW_EINVAL);
	assert_int_equal(msisdn_rules_set(&r, "254", "0000", NULL, "9"), GW_EINVAL);
	assert_int_equal(msisdn_rules_set(&r, "254", "x", NULL, "9"), GW_EINVAL);
	assert_int_equal(msisdn_rules_set(&r, "254", "0", "", "9"), GW_EINVAL);
	assert_int_equal(msisdn_rules_set(&r, "254", "0", "00000", "9"), GW_EINVAL);
	static const char *const bad_len[] = {"9,", ",9",   "9,,10",	 "3",	"13",
					      "x",  "9;10", "9,9,9,9,9", "100", " 9"};
	for (size_t i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++)
		if (msisdn_rules_set(&r, "254", "0", NULL, bad_len[i]) != GW_EINVAL)
			fail_msg("nsn lengths '%s' accepted", bad_len[i]);
	/* 3-digit cc + 12-digit NSN is exactly 15. */
	assert_int_equal(msisdn_rules_set(&r, "254", "0", NULL, "12"), 0);

	/* Zeroed rules (never set) normalise nothing. */
	struct msisdn_rules zero;
	memset(&zero, 0, sizeof(zero));
	char out[MSISDN_BUFSZ];
	assert_int_equal(msisdn_normalize(&zero, "+254712345678", 1, 1, out), GW_EINVAL);
}

static void test_canonical_and_conversions(void **state)
{
	(void)state;
	assert_true(msisdn_is_canonical("254712345678"));
	assert_true(msisdn_is_canonical("1234567"));
	assert_true(msisdn_is_canonical("123456789012345"));
	assert_false(msisdn_is_canonical("123456"));
	assert_false(msisdn_is_canonical("1234567890123456"));
	assert_false(msisdn_is_canonical("+254712345678"));
	assert_false(msisdn_is_canonical("0712345678"));
	assert_false(msisdn_is_canonical(""));
	assert_false(msisdn_is_canonical(NULL));

	char buf[32];
	assert_int_equal(msisdn_to_plus("254712345678", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "+254712345678");
	assert_int_equal(msisdn_to_plus("123456789012345", buf, 17), 0);
	assert_string_equal(buf, "+123456789012345");
	assert_int_equal(msisdn_to_plus("123456789012345", buf, 16), GW_EINVAL);
	assert_string_equal(buf, "");
	assert_int_equal(msisdn_to_plus("0712345678", buf, sizeof(buf)), GW_EINVAL);

	assert_int_equal(msisdn_to_national(&ke, "254712345678", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0712345678");
	assert_int_equal(msisdn_to_national(&us, "12025550123", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "12025550123");
	assert_int_equal(msisdn_to_national(&ke, "255700000001", buf, sizeof(buf)), GW_EINVAL);
	assert_int_equal(msisdn_to_national(&ke, "254712345678", buf, 10), GW_EINVAL);
	assert_int_equal(msisdn_to_national(&ke, "254712345678", buf, 11), 0);

	/* Round trip: national -> canonical -> national and -> plus -> canonical. */
	char canon[MSISDN_BUFSZ], back[MSISDN_BUFSZ];
	assert_int_equal(msisdn_normalize(&ke, "0722000111", 2, 1, canon), 0);
	assert_int_equal(msisdn_to_national(&ke, canon, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0722000111");
	assert_int_equal(msisdn_to_plus(canon, buf, sizeof(buf)), 0);
	assert_int_equal(msisdn_normalize(&ke, buf, 0, 0, back), 0);
	assert_string_equal(back, canon);
}

static void test_ton_names(void **state)
{
	(void)state;
	assert_string_equal(msisdn_ton_name(MSISDN_TON_INTERNATIONAL), "INTERNATIONAL");
	assert_string_equal(msisdn_ton_name(MSISDN_TON_ALPHANUMERIC), "ALPHANUMERIC");
	assert_string_equal(msisdn_ton_name(0), "UNKNOWN");
	assert_string_equal(msisdn_ton_name(7), "TON?");
	assert_string_equal(msisdn_ton_name(255), "TON?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kenya_forms),
	    cmocka_unit_test(test_nanp_prefixes),
	    cmocka_unit_test(test_rules_without_lengths),
	    cmocka_unit_test(test_plan_without_trunk),
	    cmocka_unit_test(test_rules_set_validation),
	    cmocka_unit_test(test_canonical_and_conversions),
	    cmocka_unit_test(test_ton_names),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
