/* The egress point's pure parts: class names and the error classes failover uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/smpp_pdu.h"
#include "ussdgw/sms_egress.h"

static void test_classes(void **state)
{
	(void)state;
	enum sms_class c;
	assert_int_equal(sms_class_parse("promotional", &c), 0);
	assert_int_equal(c, SMS_CLASS_PROMOTIONAL);
	assert_int_equal(sms_class_parse("reply", &c), 0);
	assert_int_equal(c, SMS_CLASS_REPLY);
	assert_int_equal(sms_class_parse("transactional", &c), 0);
	assert_int_equal(c, SMS_CLASS_TRANSACTIONAL);
	assert_int_equal(sms_class_parse("Promotional", &c), GW_EINVAL);
	assert_int_equal(sms_class_parse(NULL, &c), GW_EINVAL);
	assert_string_equal(sms_class_name(SMS_CLASS_PROMOTIONAL), "promotional");
}

static void test_error_classes(void **state)
{
	(void)state;
	assert_string_equal(sms_egress_error_class(ESME_RTHROTTLED), "throttled");
	assert_string_equal(sms_egress_error_class(ESME_RMSGQFUL), "throttled");
	assert_string_equal(sms_egress_error_class(ESME_RSYSERR), "temporary");
	assert_string_equal(sms_egress_error_class(0), "temporary"); /* no answer */
	assert_string_equal(sms_egress_error_class(ESME_RINVDSTADR), "address");
	assert_string_equal(sms_egress_error_class(ESME_RINVSRCTON), "address");
	assert_string_equal(sms_egress_error_class(ESME_RSUBMITFAIL), "permanent");
	assert_string_equal(sms_egress_error_class(0x450), "permanent"); /* vendor */
}

static void test_submit_arguments(void **state)
{
	(void)state;
	struct sms_mt mt = {.to = "254700000001", .text = "x", .cls = SMS_CLASS_REPLY};
	assert_int_equal(sms_egress_submit(NULL, &mt, NULL, NULL), GW_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classes),
	    cmocka_unit_test(test_error_classes),
	    cmocka_unit_test(test_submit_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
