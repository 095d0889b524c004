/* Keyword file compiler and matcher: folding, aliases, multi-word keywords,
 * per-short-code tables, built-in synonyms, argument offsets, file errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/sms_keywords.h"

static const char file[] =
    "{\"shortcodes\": {"
    " \"384\": {\"service\": \"wallet\", \"texts\": {\"help\": \"{service} help: {keywords}\"},"
    "  \"keywords\": ["
    "  {\"keyword\": \"BAL\", \"aliases\": [\"BALANCE\", \"SALIO\", \"Sóldé\"], \"menu\": "
    "\"smsbal\"},"
    "  {\"keyword\": \"JOIN\", \"forward\": \"crm\", \"reply\": \"Thanks\"},"
    "  {\"keyword\": \"JOIN CLUB\", \"forward\": \"club\"},"
    "  {\"keyword\": \"HALT\", \"builtin\": \"stop\"}]},"
    " \"500\": {\"service\": \"news\", \"keywords\": [{\"keyword\": \"NEWS\", \"reply\": \"Today: "
    "rain\"}]}"
    "}}";

static struct sms_keywords *load(void)
{
	struct sms_keywords *k = NULL;
	char err[256] = "";
	int rc = sms_keywords_load_buffer(file, sizeof(file) - 1, &k, err, sizeof(err));
	if (rc)
		fail_msg("load: %s", err);
	return k;
}

static void norm(const char *in, const char *want)
{
	char out[256];
	long n = sms_kw_normalize(in, strlen(in), out, sizeof(out));
	assert_int_equal(n, (long)strlen(want));
	assert_string_equal(out, want);
}

static void test_normalize(void **state)
{
	(void)state;
	norm("bal", "BAL");
	norm("  Bal  ", "BAL");
	norm("Sóldé", "SOLDE");
	norm("SO\xcc\x81LDE", "SOLDE"); /* decomposed acute accent */
	norm("ÀÉÎÕÜ ñç", "AEIOU NC");
	norm("Œuvre Straße", "OEUVRE STRASSE");
	norm("stop, all!!", "STOP ALL");
	norm("a\xff"
	     "b",
	     "A B");				/* invalid UTF-8 separates */
	norm("x\xe2\x82\xac", "X\xe2\x82\xac"); /* other scripts kept as they are */
	norm("", "");
	char small[4];
	assert_int_equal(sms_kw_normalize("abcdef", 6, small, sizeof(small)), 3);
	assert_string_equal(small, "ABC");
}

static void test_match(void **state)
{
	(void)state;
	struct sms_keywords *k = load();
	struct sms_kw_match m;
	const char *t = "  sóldé, please 42";
	assert_int_equal(sms_keywords_match(k, "384", t, strlen(t), &m), 0);
	assert_non_null(m.entry);
	assert_int_equal(m.entry->target, SMS_KW_MENU);
	assert_string_equal(m.entry->ref, "smsbal");
	assert_string_equal(m.entry->keyword, "BAL");
	assert_string_equal(t + m.args_off, "please 42");

	/* Longest match: JOIN CLUB over JOIN. */
	t = "join club now";
	assert_int_equal(sms_keywords_match(k, "384", t, strlen(t), &m), 0);
	assert_string_equal(m.entry->ref, "club");
	assert_string_equal(t + m.args_off, "now");
	t = "Join";
	assert_int_equal(sms_keywords_match(k, "384", t, strlen(t), &m), 0);
	assert_string_equal(m.entry->ref, "crm");
	assert_string_equal(m.entry->reply, "Thanks");
	/* A keyword must be a whole word. */
	t = "JOINED";
	assert_int_equal(sms_keywords_match(k, "384", t, strlen(t), &m), 0);
	assert_null(m.entry);
	assert_string_equal(m.first, "JOINED");

	/* Built-ins and their synonyms; an added alias of a built-in. */
	const char *stops[] = {"stop", "Sitisha", "HALT", "unsubscribe"};
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(sms_keywords_match(k, "384", stops[i], strlen(stops[i]), &m), 0);
		assert_non_null(m.entry);
		assert_int_equal(m.entry->target, SMS_KW_BUILTIN);
		assert_int_equal(m.entry->builtin, SMS_KW_STOP);
	}
	t = "stop all";
	assert_int_equal(sms_keywords_match(k, "384", t, strlen(t), &m), 0);
	assert_int_equal(m.entry->builtin, SMS_KW_STOPALL);
	t = "msaada";
	assert_int_equal(sms_keywords_match(k, "384", t, strlen(t), &m), 0);
	assert_int_equal(m.entry->builtin, SMS_KW_HELP);
	t = "ANZA";
	assert_int_equal(sms_keywords_match(k, "384", t, strlen(t), &m), 0);
	assert_int_equal(m.entry->builtin, SMS_KW_START);

	/* Per short code: BAL is not a keyword of 500; no table for 777. */
	t = "BAL";
	assert_int_equal(sms_keywords_match(k, "500", t, strlen(t), &m), 0);
	assert_null(m.entry);
	assert_string_equal(sms_kw_code_service(m.code), "news");
	assert_int_equal(sms_keywords_match(k, "777", t, strlen(t), &m), GW_ENOENT);

	char out[200];
	sms_keywords_match(k, "384", "help", 4, &m);
	sms_kw_code_render(m.code, SMS_KW_TEXT_HELP, NULL, out, sizeof(out));
	assert_string_equal(out, "wallet help: BAL, JOIN, JOIN CLUB");
	sms_kw_code_render(m.code, SMS_KW_TEXT_UNKNOWN, "XYZ", out, sizeof(out));
	assert_non_null(strstr(out, "\"XYZ\" is not a keyword of wallet"));
	sms_kw_code_render(m.code, SMS_KW_TEXT_UNKNOWN, "XYZ", out, 8);
	assert_int_equal(strlen(out), 7);

	assert_string_equal(sms_keywords_menu_ref(k, 0), "smsbal");
	assert_null(sms_keywords_menu_ref(k, 1));
	assert_string_equal(sms_keywords_forward_ref(k, 1), "club");
	sms_keywords_free(k);

	assert_int_equal(sms_keywords_default(&k), 0);
	assert_int_equal(sms_keywords_match(k, "12345", "stop", 4, &m), 0);
	assert_int_equal(m.entry->builtin, SMS_KW_STOP);
	sms_keywords_free(k);
}

static void bad(const char *json, int want, const char *msg)
{
	struct sms_keywords *k = (void *)1;
	char err[256] = "";
	assert_int_equal(sms_keywords_load_buffer(json, strlen(json), &k, err, sizeof(err)), want);
	assert_null(k);
	if (msg && !strstr(err, msg))
		fail_msg("error \"%s\" lacks \"%s\"", err, msg);
}

static void test_errors(void **state)
{
	(void)state;
	bad("{", GW_EPROTO_MALFORMED, NULL);
	bad("{}", GW_ECONFIG, "shortcodes");
	bad("{\"shortcodes\": {\"1\": {\"keywords\": [{\"keyword\": \"A\", \"menu\": \"m\"},"
	    "{\"keyword\": \"á\", \"menu\": \"n\"}]}}}",
	    GW_ECONFIG, "\"A\" is used twice");
	bad("{\"shortcodes\": {\"1\": {\"keywords\": [{\"keyword\": \"Q\", \"menu\": \"m\", "
	    "\"forward\": \"f\"}]}}}",
	    GW_ECONFIG, "exactly one");
	bad("{\"shortcodes\": {\"1\": {\"keywords\": [{\"keyword\": \"Q\", \"builtin\": "
	    "\"nope\"}]}}}",
	    GW_ECONFIG, "unknown builtin");
	bad("{\"shortcodes\": {\"1\": {\"keywords\": [{\"keyword\": \"CANCEL\", \"menu\": "
	    "\"m\"}]}}}",
	    GW_ECONFIG, "used twice");
	bad("{\"shortcodes\": {\"1\": {\"keywords\": [{\"keyword\": \"Q\", \"menu\": \"../x\"}]}}}",
	    GW_ECONFIG, "not a valid name");
	bad("{\"shortcodes\": {\"1 2\": {}}}", GW_ECONFIG, "short code");
	bad("{\"shortcodes\": {\"1\": {\"keywords\": [{\"keyword\": \"!!\", \"reply\": \"x\"}]}}}",
	    GW_ECONFIG, "empty");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_match),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
