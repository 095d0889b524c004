/* Daraja client helpers: password and timestamp rules, result-code mapping,
 * error classification (overloaded codes by message), MSISDN form, amounts,
 * and callback parsing (types as Daraja sends them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/pay.h"
#include "ussdgw/pay_mpesa.h"

static void test_password_vector(void **state)
{
	(void)state;
	/* specs/payments.md 1.3: the official sample's Password. */
	char ts[15], pw[256];
	pay_mpesa_timestamp(1624861448000LL, ts);  /* 2021-06-28 06:24:08 UTC */
	assert_string_equal(ts, "20210628092408"); /* EAT, UTC+3 */
	assert_int_equal(
	    pay_mpesa_password("174379",
			       "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
			       ts, pw, sizeof(pw)),
	    0);
	assert_string_equal(pw, "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5Y"
				"jEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4");
	char small[8];
	assert_int_equal(pay_mpesa_password("174379", "x", ts, small, sizeof(small)), GW_EMSGSIZE);
}

static void test_timestamp_day_rollover(void **state)
{
	(void)state;
	char ts[15];
	/* 2026-12-31 22:30:00 UTC is already 2027-01-01 01:30 in Nairobi. */
	pay_mpesa_timestamp(1798756200000LL, ts);
	assert_string_equal(ts, "20270101013000");
}

static void test_map_result(void **state)
{
	(void)state;
	assert_int_equal(pay_mpesa_map_result("0"), PAY_SUCCEEDED);
	assert_int_equal(pay_mpesa_map_result("1032"), PAY_CANCELLED);
	assert_int_equal(pay_mpesa_map_result("1019"), PAY_EXPIRED);
	assert_int_equal(pay_mpesa_map_result("1037"), PAY_FAILED);
	assert_int_equal(pay_mpesa_map_result("1"), PAY_FAILED);
	assert_int_equal(pay_mpesa_map_result("2001"), PAY_FAILED);
	assert_int_equal(pay_mpesa_map_result("SFC_IC0003"), PAY_FAILED);
	assert_int_equal(pay_mpesa_map_result("00"), PAY_FAILED); /* not "0" */
	assert_int_equal(pay_mpesa_map_result(""), PAY_FAILED);
}

#define CL(st, s) pay_mpesa_classify(st, s, strlen(s))

static void test_classify(void **state)
{
	(void)state;
	assert_int_equal(CL(500, "{\"requestId\":\"x\",\"errorCode\":\"500.003.02\","
				 "\"errorMessage\":\"Spike Arrest Violation\"}"),
			 MPESA_ERR_THROTTLED);
	assert_int_equal(
	    CL(500, "{\"errorCode\":\"500.003.03\",\"errorMessage\":\"Quota Violation\"}"),
	    MPESA_ERR_THROTTLED);
	assert_int_equal(
	    CL(404, "{\"errorCode\":\"404.001.03\",\"errorMessage\":\"Invalid Access Token\"}"),
	    MPESA_ERR_TOKEN);
	assert_int_equal(
	    CL(400, "{\"errorCode\":\"400.003.01\",\"errorMessage\":\"Invalid Access Token\"}"),
	    MPESA_ERR_TOKEN);
	/* 500.001.1001 is overloaded: the message decides. */
	assert_int_equal(CL(500, "{\"errorCode\":\"500.001.1001\",\"errorMessage\":\"The "
				 "transaction is being processed\"}"),
			 MPESA_ERR_PROCESSING);
	assert_int_equal(
	    CL(500, "{\"errorCode\":\"500.001.1001\",\"errorMessage\":\"Wrong credentials\"}"),
	    MPESA_ERR_REFUSED);
	assert_int_equal(
	    CL(500,
	       "{\"errorCode\":\"500.001.1001\",\"errorMessage\":\"Merchant does not exist\"}"),
	    MPESA_ERR_REFUSED);
	assert_int_equal(
	    CL(500, "{\"errorCode\":\"500.001.1001\",\"errorMessage\":\"Unable to lock subscriber, "
		    "a transaction is already in process for the current subscriber\"}"),
	    MPESA_ERR_REFUSED);
	assert_int_equal(
	    CL(500, "{\"errorCode\":\"500.001.1001\",\"errorMessage\":\"Something new\"}"),
	    MPESA_ERR_AMBIGUOUS);
	assert_int_equal(CL(400, "{\"errorCode\":\"400.002.02\",\"errorMessage\":\"Bad Request - "
				 "Invalid CheckoutRequestID\"}"),
			 MPESA_ERR_NOTFOUND);
	assert_int_equal(CL(400, "{\"errorCode\":\"400.002.02\",\"errorMessage\":\"Bad Request - "
				 "Invalid Timestamp\"}"),
			 MPESA_ERR_REFUSED);
	assert_int_equal(
	    CL(500, "{\"errorCode\":\"500.003.1001\",\"errorMessage\":\"Internal Server Error\"}"),
	    MPESA_ERR_AMBIGUOUS);
	/* No envelope: a proxy's page. 5xx may have been processed; 4xx not. */
	assert_int_equal(CL(503, "<html>busy</html>"), MPESA_ERR_AMBIGUOUS);
	assert_int_equal(CL(502, ""), MPESA_ERR_AMBIGUOUS);
	assert_int_equal(CL(403, "<html>no</html>"), MPESA_ERR_REFUSED);
	assert_int_equal(CL(429, ""), MPESA_ERR_THROTTLED);
	assert_string_equal(pay_mpesa_error_name(MPESA_ERR_PROCESSING), "PROCESSING");
}

static void test_msisdn(void **state)
{
	(void)state;
	char out[13];
	assert_int_equal(pay_mpesa_msisdn("254708374149", out), 0);
	assert_string_equal(out, "254708374149");
	assert_int_equal(pay_mpesa_msisdn("254110000000", out), 0);
	assert_int_equal(pay_mpesa_msisdn("255708374149", out), GW_EINVAL); /* Tanzania */
	assert_int_equal(pay_mpesa_msisdn("25470837414", out), GW_EINVAL);
	assert_int_equal(pay_mpesa_msisdn("254208374149", out), GW_EINVAL); /* landline */
	assert_int_equal(pay_mpesa_msisdn("+25470837414", out), GW_EINVAL);
}

static void test_wire_amount(void **state)
{
	(void)state;
	char w[32];
	assert_int_equal(pay_mpesa_ops.wire_amount(100, "KES", w, sizeof(w)), 0);
	assert_string_equal(w, "1");
	assert_int_equal(pay_mpesa_ops.wire_amount(250000, "KES", w, sizeof(w)), 0);
	assert_string_equal(w, "2500");
	assert_int_equal(pay_mpesa_ops.wire_amount(150, "KES", w, sizeof(w)),
			 GW_EINVAL); /* cents */
	assert_int_equal(pay_mpesa_ops.wire_amount(100, "TZS", w, sizeof(w)), GW_EINVAL);
	assert_int_equal(pay_mpesa_ops.wire_amount(0, "KES", w, sizeof(w)), GW_EINVAL);
}

static int parse(const char *s, struct pay_callback_info *out)
{
	return pay_mpesa_ops.parse_callback(s, strlen(s), out);
}

static void test_parse_callback(void **state)
{
	(void)state;
	struct pay_callback_info i;
	/* The documented success: Amount 1.00, Balance without Value, numbers > 2^31. */
	assert_int_equal(
	    parse(
		"{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"29115-34620561-1\","
		"\"CheckoutRequestID\":\"ws_CO_191220191020363925\",\"ResultCode\":0,"
		"\"ResultDesc\":\"The service request is processed successfully.\","
		"\"CallbackMetadata\":{\"Item\":[{\"Name\":\"Amount\",\"Value\":1.00},"
		"{\"Name\":\"MpesaReceiptNumber\",\"Value\":\"NLJ7RT61SV\"},{\"Name\":\"Balance\"},"
		"{\"Name\":\"TransactionDate\",\"Value\":20191219102115},"
		"{\"Name\":\"PhoneNumber\",\"Value\":254708374149}]}}}}",
		&i),
	    0);
	assert_string_equal(i.provider_ref, "ws_CO_191220191020363925");
	assert_string_equal(i.result_code, "0");
	assert_int_equal(i.state, PAY_SUCCEEDED);
	assert_string_equal(i.receipt, "NLJ7RT61SV");
	assert_int_equal(i.amount_minor, 100);
	assert_string_equal(i.msisdn, "254708374149");

	/* Items reversed, integer amount, masked phone left out. */
	assert_int_equal(
	    parse("{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"m\","
		  "\"CheckoutRequestID\":\"ws_CO_1\",\"ResultCode\":0,\"ResultDesc\":\"ok\","
		  "\"CallbackMetadata\":{\"Item\":[{\"Name\":\"PhoneNumber\",\"Value\":\"2547****"
		  "149\"},"
		  "{\"Name\":\"MpesaReceiptNumber\",\"Value\":\"R1\"},{\"Name\":\"Amount\","
		  "\"Value\":25}]}}}}",
		  &i),
	    0);
	assert_int_equal(i.amount_minor, 2500);
	assert_string_equal(i.msisdn, "");

	/* Failure: no metadata; alphanumeric code as a string. */
	assert_int_equal(parse("{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"m\","
			       "\"CheckoutRequestID\":\"ws_CO_2\",\"ResultCode\":1032,"
			       "\"ResultDesc\":\"Request cancelled by user\"}}}",
			       &i),
			 0);
	assert_int_equal(i.state, PAY_CANCELLED);
	assert_int_equal(parse("{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"m\","
			       "\"CheckoutRequestID\":\"ws_CO_3\",\"ResultCode\":\"SFC_IC0003\","
			       "\"ResultDesc\":\"Operator does not exist\"}}}",
			       &i),
			 0);
	assert_string_equal(i.result_code, "SFC_IC0003");
	assert_int_equal(i.state, PAY_FAILED);

	/* Refused: a success without receipt or metadata, a fractional shilling,
	 * no CheckoutRequestID, a path-like reference, not JSON, duplicate keys. */
	assert_int_equal(
	    parse("{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"m\","
		  "\"CheckoutRequestID\":\"ws_CO_4\",\"ResultCode\":0,\"ResultDesc\":\"ok\"}}}",
		  &i),
	    GW_EPROTO_MALFORMED);
	assert_int_equal(
	    parse("{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"m\","
		  "\"CheckoutRequestID\":\"ws_CO_5\",\"ResultCode\":0,\"ResultDesc\":\"ok\","
		  "\"CallbackMetadata\":{\"Item\":[{\"Name\":\"Amount\",\"Value\":1.5},"
		  "{\"Name\":\"MpesaReceiptNumber\",\"Value\":\"R1\"}]}}}}",
		  &i),
	    GW_EPROTO_MALFORMED);
	assert_int_equal(parse("{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"m\","
			       "\"ResultCode\":1032}}}",
			       &i),
			 GW_EPROTO_MALFORMED);
	assert_int_equal(parse("{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"m\","
			       "\"CheckoutRequestID\":\"../x\",\"ResultCode\":1032}}}",
			       &i),
			 GW_EPROTO_MALFORMED);
	assert_int_equal(parse("not json", &i), GW_EPROTO_MALFORMED);
	assert_int_equal(
	    parse("{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"m\","
		  "\"CheckoutRequestID\":\"ws_CO_6\",\"ResultCode\":1032,\"ResultCode\":0}}}",
		  &i),
	    GW_EPROTO_MALFORMED);
}

static void test_transitions(void **state)
{
	(void)state;
	/* forward only; a paid result never downgraded */
	assert_true(pay_transition_ok(PAY_CREATED, PAY_REQUESTED));
	assert_true(pay_transition_ok(PAY_REQUESTED, PAY_PENDING));
	assert_true(pay_transition_ok(PAY_PENDING, PAY_SUCCEEDED));
	assert_true(pay_transition_ok(PAY_EXPIRED, PAY_SUCCEEDED));
	assert_true(pay_transition_ok(PAY_UNKNOWN, PAY_SUCCEEDED));
	assert_true(pay_transition_ok(PAY_SUCCEEDED, PAY_REFUNDED));
	assert_false(pay_transition_ok(PAY_SUCCEEDED, PAY_FAILED));
	assert_false(pay_transition_ok(PAY_SUCCEEDED, PAY_EXPIRED));
	assert_false(pay_transition_ok(PAY_PENDING, PAY_REQUESTED));
	assert_false(pay_transition_ok(PAY_PENDING, PAY_CREATED));
	assert_false(pay_transition_ok(PAY_CREATED, PAY_SUCCEEDED)); /* never sent */
	assert_false(pay_transition_ok(PAY_FAILED, PAY_CANCELLED));
	assert_false(pay_transition_ok(PAY_REFUNDED, PAY_SUCCEEDED));
	for (int s = 0; s < PAY_STATE_COUNT; s++) {
		enum pay_state back;
		assert_int_equal(pay_state_parse(pay_state_name((enum pay_state)s), &back), 0);
		assert_int_equal(back, s);
		assert_false(pay_transition_ok((enum pay_state)s, (enum pay_state)s));
	}
	assert_string_equal(pay_state_name(PAY_STATE_COUNT), "invalid");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_password_vector), cmocka_unit_test(test_timestamp_day_rollover),
	    cmocka_unit_test(test_map_result),	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_msisdn),	    cmocka_unit_test(test_wire_amount),
	    cmocka_unit_test(test_parse_callback),  cmocka_unit_test(test_transitions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
