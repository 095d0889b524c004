/* Card and wallet provider helpers: currency exponents and amount
 * conversion, the Stripe v1 signature (spec 2.6 vector, rotation, tolerance,
 * downgrade), PayPal's CRC32 message (spec 3.6 vector), the certificate URL
 * allow-list and the RSA-SHA256 check against a CA (fixtures made with the
 * openssl command line: tests/unit/pay/data/paypal). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/pay_webhook.h"

static const char vec_body[] = "{\"id\":\"evt_test\",\"object\":\"event\"}";
static const char vec_v1[] = "691252e266ce41cb94d709c84e9580d4172b117a510bbc81723f657d2cd5d215";

static void test_currency_exponent(void **state)
{
	(void)state;
	assert_int_equal(pay_currency_exponent("JPY"), 0);
	assert_int_equal(pay_currency_exponent("KRW"), 0);
	assert_int_equal(pay_currency_exponent("UGX"), 0);
	assert_int_equal(pay_currency_exponent("RWF"), 0);
	assert_int_equal(pay_currency_exponent("XOF"), 0);
	assert_int_equal(pay_currency_exponent("BHD"), 3);
	assert_int_equal(pay_currency_exponent("KWD"), 3);
	assert_int_equal(pay_currency_exponent("OMR"), 3);
	assert_int_equal(pay_currency_exponent("TND"), 3);
	assert_int_equal(pay_currency_exponent("JOD"), 3);
	assert_int_equal(pay_currency_exponent("USD"), 2);
	assert_int_equal(pay_currency_exponent("KES"), 2);
	assert_int_equal(pay_currency_exponent("usd"), -1);
	assert_int_equal(pay_currency_exponent("US"), -1);
	assert_int_equal(pay_currency_exponent(NULL), -1);
}

static void test_stripe_amount(void **state)
{
	(void)state;
	int64_t a;
	char lc[4];
	assert_int_equal(pay_stripe_amount(1050, "USD", &a, lc), 0);
	assert_int_equal(a, 1050);
	assert_string_equal(lc, "usd");
	assert_int_equal(pay_stripe_amount(500, "JPY", &a, lc), 0); /* 500 yen */
	assert_int_equal(a, 500);
	assert_int_equal(pay_stripe_amount(1230, "BHD", &a, lc), 0); /* 1.230 BHD */
	assert_int_equal(pay_stripe_amount(1234, "BHD", &a, lc), GW_EINVAL);
	assert_int_equal(pay_stripe_amount(100000000, "USD", &a, lc), GW_EINVAL);
	assert_int_equal(pay_stripe_amount(0, "USD", &a, lc), GW_EINVAL);
	assert_int_equal(pay_stripe_amount(10, "usd", &a, lc), GW_EINVAL);
}

static void test_decimal_out(void **state)
{
	(void)state;
	char b[32];
	assert_int_equal(pay_amount_to_decimal(1050, "USD", 2, b, sizeof(b)), 0);
	assert_string_equal(b, "10.50");
	assert_int_equal(pay_amount_to_decimal(5, "EUR", 2, b, sizeof(b)), 0);
	assert_string_equal(b, "0.05");
	assert_int_equal(pay_amount_to_decimal(500, "JPY", 2, b, sizeof(b)), 0);
	assert_string_equal(b, "500");
	assert_int_equal(pay_amount_to_decimal(1234, "BHD", 3, b, sizeof(b)), 0);
	assert_string_equal(b, "1.234");
	assert_int_equal(pay_amount_to_decimal(1230, "BHD", 2, b, sizeof(b)), 0);
	assert_string_equal(b, "1.23");
	assert_int_equal(pay_amount_to_decimal(1234, "BHD", 2, b, sizeof(b)), GW_EINVAL);
	/* PayPal: HUF takes no decimals */
	assert_int_equal(pay_paypal_places("HUF"), 0);
	assert_int_equal(pay_paypal_places("TWD"), 0);
	assert_int_equal(pay_paypal_places("USD"), 2);
	assert_int_equal(pay_paypal_places("KWD"), 2);
	assert_int_equal(pay_amount_to_decimal(150000, "HUF", 0, b, sizeof(b)), 0);
	assert_string_equal(b, "1500");
	assert_int_equal(pay_amount_to_decimal(150050, "HUF", 0, b, sizeof(b)), GW_EINVAL);
	char tiny[4];
	assert_int_equal(pay_amount_to_decimal(1050, "USD", 2, tiny, sizeof(tiny)), GW_EMSGSIZE);
}

static void test_decimal_in(void **state)
{
	(void)state;
	int64_t m;
	assert_int_equal(pay_amount_from_decimal("10.50", 5, "USD", &m), 0);
	assert_int_equal(m, 1050);
	assert_int_equal(pay_amount_from_decimal("10.5", 4, "USD", &m), 0);
	assert_int_equal(m, 1050);
	assert_int_equal(pay_amount_from_decimal("10", 2, "USD", &m), 0);
	assert_int_equal(m, 1000);
	assert_int_equal(pay_amount_from_decimal("500", 3, "UGX", &m), 0);
	assert_int_equal(m, 500);
	assert_int_equal(pay_amount_from_decimal("500.00", 6, "UGX", &m), 0);
	assert_int_equal(m, 500);
	assert_int_equal(pay_amount_from_decimal("500.5", 5, "UGX", &m), GW_EINVAL);
	assert_int_equal(pay_amount_from_decimal("1.234", 5, "KWD", &m), 0);
	assert_int_equal(m, 1234);
	assert_int_equal(pay_amount_from_decimal("10.505", 6, "USD", &m), GW_EINVAL);
	assert_int_equal(pay_amount_from_decimal("-1", 2, "USD", &m), GW_EINVAL);
	assert_int_equal(pay_amount_from_decimal("1.", 2, "USD", &m), GW_EINVAL);
	assert_int_equal(pay_amount_from_decimal(".5", 2, "USD", &m), GW_EINVAL);
	assert_int_equal(pay_amount_from_decimal("01", 2, "USD", &m), GW_EINVAL);
	assert_int_equal(pay_amount_from_decimal("1e3", 3, "USD", &m), GW_EINVAL);
}

static void test_stripe_vector(void **state)
{
	(void)state;
	char v1[65];
	pay_stripe_sign("whsec_test_secret", 1492774577, vec_body, strlen(vec_body), v1);
	assert_string_equal(v1, vec_v1);
	const char *secrets[] = {"whsec_test_secret"};
	char hdr[256];
	snprintf(hdr, sizeof(hdr),
		 "t=1492774577,v1=%s,v0="
		 "6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
		 vec_v1);
	int64_t t = 0;
	assert_int_equal(pay_stripe_verify(hdr, vec_body, strlen(vec_body), secrets, 1,
					   1492774577 + 10, 300, &t),
			 PAY_WH_OK);
	assert_int_equal(t, 1492774577);
	/* tampered body */
	assert_int_equal(pay_stripe_verify(hdr, "{\"id\":\"evt_tesT\",\"object\":\"event\"}",
					   strlen(vec_body), secrets, 1, 1492774577, 300, NULL),
			 PAY_WH_BAD_SIG);
	/* stale and future */
	assert_int_equal(pay_stripe_verify(hdr, vec_body, strlen(vec_body), secrets, 1,
					   1492774577 + 301, 300, NULL),
			 PAY_WH_STALE);
	assert_int_equal(pay_stripe_verify(hdr, vec_body, strlen(vec_body), secrets, 1,
					   1492774577 - 301, 300, NULL),
			 PAY_WH_STALE);
	/* wrong secret */
	const char *wrong[] = {"whsec_other"};
	assert_int_equal(
	    pay_stripe_verify(hdr, vec_body, strlen(vec_body), wrong, 1, 1492774577, 300, NULL),
	    PAY_WH_BAD_SIG);
}

static void test_stripe_rotation_and_downgrade(void **state)
{
	(void)state;
	char a[65], b[65], hdr[512];
	pay_stripe_sign("whsec_new", 1700000000, vec_body, strlen(vec_body), a);
	pay_stripe_sign("whsec_old", 1700000000, vec_body, strlen(vec_body), b);
	snprintf(hdr, sizeof(hdr), "t=1700000000,v1=%s,v1=%s", a, b);
	const char *only_old[] = {"whsec_old"};
	const char *only_new[] = {"whsec_new"};
	const char *both[] = {"whsec_gone", "whsec_new"};
	assert_int_equal(
	    pay_stripe_verify(hdr, vec_body, strlen(vec_body), only_old, 1, 1700000000, 300, NULL),
	    PAY_WH_OK);
	assert_int_equal(
	    pay_stripe_verify(hdr, vec_body, strlen(vec_body), only_new, 1, 1700000000, 300, NULL),
	    PAY_WH_OK);
	assert_int_equal(
	    pay_stripe_verify(hdr, vec_body, strlen(vec_body), both, 2, 1700000000, 300, NULL),
	    PAY_WH_OK);
	/* a correct value under v0 only is not accepted */
	snprintf(hdr, sizeof(hdr), "t=1700000000,v0=%s", a);
	assert_int_equal(
	    pay_stripe_verify(hdr, vec_body, strlen(vec_body), only_new, 1, 1700000000, 300, NULL),
	    PAY_WH_MALFORMED);
	/* upper-case hex is the same value */
	for (char *c = a; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 32);
	snprintf(hdr, sizeof(hdr), "t=1700000000,v1=%s", a);
	assert_int_equal(
	    pay_stripe_verify(hdr, vec_body, strlen(vec_body), only_new, 1, 1700000000, 300, NULL),
	    PAY_WH_OK);
	assert_int_equal(pay_stripe_verify("", vec_body, 1, only_new, 1, 1, 300, NULL),
			 PAY_WH_MALFORMED);
	assert_int_equal(pay_stripe_verify("t=abc,v1=00", vec_body, 1, only_new, 1, 1, 300, NULL),
			 PAY_WH_MALFORMED);
	assert_int_equal(pay_stripe_verify("t=1,t=2,v1=00", vec_body, 1, only_new, 1, 1, 300, NULL),
			 PAY_WH_MALFORMED);
	/* tolerance 0 would disable the check: refused */
	assert_int_equal(
	    pay_stripe_verify(hdr, vec_body, strlen(vec_body), only_new, 1, 1700000000, 0, NULL),
	    PAY_WH_MALFORMED);
}

static void test_crc32_vector(void **state)
{
	(void)state;
	assert_int_equal(pay_crc32(vec_body, strlen(vec_body)), 601642980u);
	assert_int_equal(pay_crc32("123456789", 9), 0xCBF43926u); /* the CRC-32 check value */
	assert_int_equal(pay_crc32("", 0), 0u);
	char m[256];
	int n = pay_paypal_message("tid", "2026-11-25T13:46:14Z", "1JE4291016473214C", vec_body,
				   strlen(vec_body), m, sizeof(m));
	assert_int_equal(n, (int)strlen(m));
	assert_string_equal(m, "tid|2026-11-25T13:46:14Z|1JE4291016473214C|601642980");
	assert_int_equal(pay_paypal_message("t|d", "x", "w", "", 0, m, sizeof(m)), GW_EINVAL);
	assert_int_equal(pay_paypal_message("tid", "x", "w", "", 0, m, 8), GW_EMSGSIZE);
}

static void test_cert_url(void **state)
{
	(void)state;
	const char *hosts[] = {"api.paypal.com", "api.sandbox.paypal.com", "127.0.0.1"};
	assert_true(pay_paypal_cert_url_allowed(
	    "https://api.paypal.com/v1/notifications/certs/CERT-1", hosts, 3, false));
	assert_true(
	    pay_paypal_cert_url_allowed("https://API.PayPal.com:443/v1/x", hosts, 3, false));
	assert_false(pay_paypal_cert_url_allowed("http://api.paypal.com/v1/x", hosts, 3, true));
	assert_false(pay_paypal_cert_url_allowed(
	    "https://api.paypal.com.attacker.invalid/v1/notifications/certs/CERT-1", hosts, 3,
	    true));
	assert_false(
	    pay_paypal_cert_url_allowed("https://evil.invalid/api.paypal.com", hosts, 3, true));
	assert_false(
	    pay_paypal_cert_url_allowed("https://api.paypal.com@evil.invalid/x", hosts, 3, true));
	assert_false(pay_paypal_cert_url_allowed("https://xapi.paypal.com/x", hosts, 3, true));
	assert_false(pay_paypal_cert_url_allowed("ftp://api.paypal.com/x", hosts, 3, true));
	assert_true(pay_paypal_cert_url_allowed("http://127.0.0.1:4000/v1/notifications/certs/C",
						hosts, 3, true));
	assert_false(pay_paypal_cert_url_allowed("http://127.0.0.1:4000/v1/c", hosts, 3, false));
	assert_false(pay_paypal_cert_url_allowed("http://127.0.0.1:40x0/v1/c", hosts, 3, true));
	assert_false(pay_paypal_cert_url_allowed("http://localhost:4000/v1/c", hosts, 3, true));
}

static char *slurp(const char *name, size_t *len)
{
	const char *src = getenv("GW_SOURCE_DIR");
	char path[1024];
	snprintf(path, sizeof(path), "%s/tests/unit/pay/data/paypal/%s", src ? src : ".", name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *b = calloc(1, 65536);
	size_t n = fread(b, 1, 65535, f);
	fclose(f);
	while (n && (b[n - 1] == '\n' || b[n - 1] == '\r'))
		b[--n] = '\0';
	*len = n;
	return b;
}

static void test_paypal_rsa(void **state)
{
	(void)state;
	size_t ca_l, rca_l, leaf_l, rleaf_l, msg_l, sig_l, rsig_l;
	char *ca = slurp("ca.pem", &ca_l), *rca = slurp("rogue-ca.pem", &rca_l);
	char *leaf = slurp("leaf.pem", &leaf_l), *rleaf = slurp("rogue-leaf.pem", &rleaf_l);
	char *msg = slurp("message.txt", &msg_l), *sig = slurp("sig.b64", &sig_l);
	char *rsig = slurp("rogue-sig.b64", &rsig_l);
	int64_t now = 1830000000; /* 2027-12-28: inside the fixtures' validity */
	assert_int_equal(pay_paypal_verify(leaf, leaf_l, ca, ca_l, msg, msg_l, sig, now),
			 PAY_WH_OK);
	/* the message is the one built from the spec's CRC vector */
	char m[256];
	assert_int_equal(pay_paypal_message("d6b4b1a0-0d6c-11ef-9c58-0123456789ab",
					    "2026-11-25T13:46:14Z", "1JE4291016473214C", vec_body,
					    strlen(vec_body), m, sizeof(m)),
			 (int)msg_l);
	assert_memory_equal(m, msg, msg_l);
	/* another message (another webhook id) */
	assert_int_equal(pay_paypal_verify(leaf, leaf_l, ca, ca_l, "x|y|z|1", 7, sig, now),
			 PAY_WH_BAD_SIG);
	/* same names, another CA: the chain check refuses it */
	assert_int_equal(pay_paypal_verify(rleaf, rleaf_l, ca, ca_l, msg, msg_l, rsig, now),
			 PAY_WH_CERT_CHAIN);
	/* the rogue signature with the good certificate */
	assert_int_equal(pay_paypal_verify(leaf, leaf_l, ca, ca_l, msg, msg_l, rsig, now),
			 PAY_WH_BAD_SIG);
	/* the good certificate against the rogue CA */
	assert_int_equal(pay_paypal_verify(leaf, leaf_l, rca, rca_l, msg, msg_l, sig, now),
			 PAY_WH_CERT_CHAIN);
	/* expired (well past notAfter) */
	assert_int_equal(pay_paypal_verify(leaf, leaf_l, ca, ca_l, msg, msg_l, sig, 2500000000LL),
			 PAY_WH_CERT_CHAIN);
	/* the CA itself used as the signing certificate: chain ok, signature not */
	assert_int_equal(pay_paypal_verify(ca, ca_l, ca, ca_l, msg, msg_l, sig, now),
			 PAY_WH_BAD_SIG);
	assert_int_equal(pay_paypal_verify("junk", 4, ca, ca_l, msg, msg_l, sig, now),
			 PAY_WH_MALFORMED);
	assert_int_equal(pay_paypal_verify(leaf, leaf_l, ca, ca_l, msg, msg_l, "%%%%", now),
			 PAY_WH_MALFORMED);
	free(ca);
	free(rca);
	free(leaf);
	free(rleaf);
	free(msg);
	free(sig);
	free(rsig);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_currency_exponent),
	    cmocka_unit_test(test_stripe_amount),
	    cmocka_unit_test(test_decimal_out),
	    cmocka_unit_test(test_decimal_in),
	    cmocka_unit_test(test_stripe_vector),
	    cmocka_unit_test(test_stripe_rotation_and_downgrade),
	    cmocka_unit_test(test_crc32_vector),
	    cmocka_unit_test(test_cert_url),
	    cmocka_unit_test(test_paypal_rsa),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
