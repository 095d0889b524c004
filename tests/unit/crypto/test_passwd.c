/* scrypt password hashes: round trip, wrong password, malformed and over-costly strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/passwd.h"

static void test_round_trip(void **state)
{
	(void)state;
	char h1[PASSWD_HASH_MAX], h2[PASSWD_HASH_MAX];
	assert_int_equal(passwd_hash("s3cret", 6, 10, h1, sizeof(h1)), 0);
	assert_int_equal(passwd_hash("s3cret", 6, 10, h2, sizeof(h2)), 0);
	assert_non_null(strstr(h1, "$scrypt$ln=10,r=8,p=1$"));
	assert_string_not_equal(h1, h2); /* fresh salt each time */
	assert_int_equal(passwd_check_format(h1), 0);
	assert_int_equal(passwd_verify(h1, "s3cret", 6), 0);
	assert_int_equal(passwd_verify(h2, "s3cret", 6), 0);
	assert_int_equal(passwd_verify(h1, "s3cre", 5), GW_EPERM);
	assert_int_equal(passwd_verify(h1, "s3cret!", 7), GW_EPERM);
	assert_int_equal(passwd_verify(h1, "", 0), GW_EPERM);
}

static void test_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    "plain",
	    "$scrypt$ln=10,r=8,p=1$",
	    "$scrypt$ln=10,r=8,p=1$00$",
	    "$scrypt$ln=10,r=8,p=1$zz$00112233445566778899aabbccddeeff",
	    "$scrypt$ln=10,r=8,p=1$0011$0011",				   /* hash too short */
	    "$scrypt$ln=30,r=8,p=1$0011$00112233445566778899aabbccddeeff", /* cost over the cap */
	    "$scrypt$ln=10,r=0,p=1$0011$00112233445566778899aabbccddeeff",
	    "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(passwd_check_format(bad[i]), GW_EINVAL);
		assert_int_equal(passwd_verify(bad[i], "x", 1), GW_EINVAL);
	}
	char h[PASSWD_HASH_MAX];
	assert_int_equal(passwd_hash("x", 1, 0, h, sizeof(h)), GW_EINVAL);
	assert_int_equal(passwd_hash("x", 1, 21, h, sizeof(h)), GW_EINVAL);
	assert_int_equal(passwd_hash("x", 1, 10, h, 10), GW_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
