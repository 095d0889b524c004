/* menu/ interpreter and session-state serializer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "menu/menu_int.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/menu.h"

/* A session driven through menu_step(), with the state going through its
 * JSON form between steps as it does through the session store. */
struct sess {
	const struct menu *m;
	struct menu_state st;
	struct menu_output out;
	int64_t now;
	char json[2048];
	size_t max_json;
};

static struct menu *demo;

static int setup(void **state)
{
	(void)state;
	const char *top = getenv("GW_SOURCE_DIR");
	char p[1024];
	snprintf(p, sizeof(p), "%s/menus/demo.json", top ? top : GW_SOURCE_DIR);
	return menu_load_file(p, &demo, NULL);
}

static int teardown(void **state)
{
	(void)state;
	menu_free(demo);
	return 0;
}

static void sess_init(struct sess *s, const struct menu *m)
{
	memset(s, 0, sizeof(*s));
	s->m = m;
	menu_state_init(&s->st);
	s->now = 1700000000000LL;
}

static void sess_free(struct sess *s)
{
	menu_state_clear(&s->st);
	menu_output_clear(&s->out);
}

static int step(struct sess *s, struct menu_event *ev)
{
	s->now += 1000;
	ev->now_ms = s->now;
	struct menu_state next;
	menu_output_clear(&s->out);
	int rc = menu_step(s->m, &s->st, ev, &next, &s->out);
	if (rc) {
		menu_state_clear(&next);
		return rc;
	}
	char *js = menu_state_to_json(s->m, &next);
	assert_non_null(js);
	assert_true(strlen(js) < sizeof(s->json));
	snprintf(s->json, sizeof(s->json), "%s", js);
	if (strlen(js) > s->max_json)
		s->max_json = strlen(js);
	menu_state_clear(&next);
	menu_state_clear(&s->st);
	assert_int_equal(menu_state_from_json(s->m, js, strlen(js), &s->st), 0);
	free(js);
	return 0;
}

static void dial(struct sess *s, const char *code)
{
	struct menu_event ev = {.kind = MENU_EV_NEW, .text = code, .msisdn = "255700000001"};
	assert_int_equal(step(s, &ev), 0);
}

static void in(struct sess *s, const char *text)
{
	struct menu_event ev = {.kind = MENU_EV_INPUT, .text = text};
	assert_int_equal(step(s, &ev), 0);
}

static void result(struct sess *s, enum menu_action_status st, const char *json)
{
	char id[16];
	assert_true(s->st.wait_id[0]);
	snprintf(id, sizeof(id), "%s", s->st.wait_id);
	json_t *r = json ? json_loads(json, 0, NULL) : NULL;
	struct menu_event ev = {.kind = MENU_EV_ACTION_RESULT, .action_id = id, .status = st, .result = r};
	assert_int_equal(step(s, &ev), 0);
	json_decref(r);
}

static const char *screen(const struct sess *s)
{
	return menu_screen_id(s->m, (size_t)s->st.screen);
}

static int chars(const char *t)
{
	int limit;
	bool ucs2;
	return menu_screen_len(demo, t, &limit, &ucs2);
}

/* The amount list splits into pages within 160 characters, numbers stay
 * stable across pages, 98 goes forward and 0 goes back a page then a screen. */
static void test_pagination(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, demo);
	dial(&s, "*384#");
	in(&s, "2");
	in(&s, "1");
	assert_string_equal(screen(&s), "air_amount");
	assert_true(chars(s.out.text) <= 160);
	assert_non_null(strstr(s.out.text, "1. KES 10\n"));
	assert_non_null(strstr(s.out.text, "\n98. More"));
	assert_null(strstr(s.out.text, "12. "));
	in(&s, "98");
	assert_int_equal(s.st.page, 1);
	assert_true(chars(s.out.text) <= 160);
	assert_non_null(strstr(s.out.text, "12. Other amount"));
	assert_null(strstr(s.out.text, "98. More"));
	assert_null(strstr(s.out.text, "\n1. KES 10\n"));
	in(&s, "0");
	assert_int_equal(s.st.page, 0);
	assert_string_equal(screen(&s), "air_amount");
	in(&s, "0");
	assert_string_equal(screen(&s), "air_who");
	/* Option 12 lives on page two but its number works from page one. */
	in(&s, "1");
	in(&s, "12");
	assert_string_equal(screen(&s), "air_other");
	sess_free(&s);
}

static void test_home_and_back(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, demo);
	dial(&s, "*384#");
	assert_null(strstr(s.out.text, "0. Back")); /* nothing to go back to */
	in(&s, "3");
	in(&s, "123456");
	assert_string_equal(screen(&s), "bill_account");
	assert_int_equal(s.st.nhist, 2);
	in(&s, "0");
	assert_string_equal(screen(&s), "bill_business");
	in(&s, "00");
	assert_string_equal(screen(&s), "main");
	assert_int_equal(s.st.nhist, 0);
	sess_free(&s);
}

static void test_invalid_retry_and_lockout(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, demo);
	dial(&s, "*384#");
	in(&s, "1");
	in(&s, "0712345678");
	in(&s, "abc");
	assert_int_equal(s.out.kind, MENU_OUT_CONTINUE);
	assert_int_equal(s.st.retries, 1);
	assert_true(strncmp(s.out.text, "Invalid amount.\n", 16) == 0);
	in(&s, "9.99"); /* below the minimum of 1000 minor units */
	assert_int_equal(s.st.retries, 2);
	in(&s, "70000.01");
	assert_int_equal(s.out.kind, MENU_OUT_END);
	assert_int_equal(s.out.reason, MENU_END_LOCKOUT);
	assert_non_null(strstr(s.out.text, "Too many invalid attempts"));
	/* An ended session takes no more input. */
	struct menu_event ev = {.kind = MENU_EV_INPUT, .text = "1"};
	assert_int_equal(step(&s, &ev), GW_EINVAL);
	sess_free(&s);
}

static void test_direct_dial(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, demo);
	dial(&s, "*384*2*1#");
	assert_string_equal(screen(&s), "air_amount");
	assert_string_equal(json_string_value(json_object_get(s.st.vars, "air_to")),
			    "255700000001");
	assert_int_equal(s.st.nqueue, 0);
	/* One more segment picks the amount. */
	sess_free(&s);
	sess_init(&s, demo);
	dial(&s, "*384*2*1*3#");
	assert_string_equal(screen(&s), "air_pin");
	assert_int_equal(json_integer_value(json_object_get(s.st.vars, "amount")), 5000);
	sess_free(&s);
	/* An invalid segment stops the walk with the error shown. */
	sess_init(&s, demo);
	dial(&s, "*384*7*1#");
	assert_string_equal(screen(&s), "main");
	assert_int_equal(s.st.retries, 1);
	assert_int_equal(s.st.nqueue, 0);
	sess_free(&s);
}

static void test_language_switch(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, demo);
	dial(&s, "*384#");
	in(&s, "5");
	in(&s, "2");
	assert_string_equal(screen(&s), "main");
	assert_non_null(strstr(s.out.text, "1. Tuma pesa"));
	assert_non_null(strstr(s.json, "\"l\":\"sw\""));
	/* Remembered by the next session on the same state. */
	struct menu_event end = {.kind = MENU_EV_ABORT};
	assert_int_equal(step(&s, &end), 0);
	dial(&s, "*384#");
	assert_non_null(strstr(s.out.text, "Lugha"));
	sess_free(&s);
	/* A preferred language on the first dial. */
	sess_init(&s, demo);
	struct menu_event ev = {.kind = MENU_EV_NEW, .text = "*384#", .msisdn = "255700000002",
				.lang = "sw"};
	assert_int_equal(step(&s, &ev), 0);
	assert_non_null(strstr(s.out.text, "Akaunti yangu"));
	sess_free(&s);
}

/* The typed PIN is only in the pin_check action's secret: never in the
 * state, the screen text or the action parameters. */
static void test_pin_never_in_state(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, demo);
	dial(&s, "*384#");
	in(&s, "1");
	in(&s, "0712345678");
	in(&s, "100");
	in(&s, "9137");
	assert_int_equal(s.out.kind, MENU_OUT_WAIT);
	assert_int_equal(s.out.nactions, 1);
	struct menu_action *a = &s.out.actions[0];
	assert_int_equal(a->kind, MENU_ACT_PIN_CHECK);
	assert_string_equal(a->secret, "9137");
	assert_string_equal(a->secret_field, "pin");
	char *params = json_dumps(a->params, 0);
	assert_null(strstr(params, "9137"));
	free(params);
	assert_null(strstr(s.json, "9137"));
	char *vars = json_dumps(s.st.vars, 0);
	assert_null(strstr(vars, "9137"));
	free(vars);
	menu_output_clear(&s.out);
	assert_int_equal(s.out.actions[0].secret[0], 0);
	result(&s, MENU_RES_OK, "{\"token\":\"tok-1\"}");
	assert_null(strstr(s.json, "9137"));
	assert_non_null(strstr(s.json, "tok-1"));
	in(&s, "1");
	/* The token is consumed by the transfer. */
	assert_null(strstr(s.json, "tok-1"));
	assert_true(s.max_json < 1024);
	sess_free(&s);
}

static void test_action_results(void **state)
{
	(void)state;
	static const struct {
		enum menu_action_status st;
		const char *screen;
		enum menu_end_reason reason;
	} cases[] = {
		{MENU_RES_OK, "send_done", MENU_END_APP},
		{MENU_RES_ERROR, "send_fail", MENU_END_ERROR},
		{MENU_RES_TIMEOUT, "pending", MENU_END_APP},
	};
	for (size_t i = 0; i < 3; i++) {
		struct sess s;
		sess_init(&s, demo);
		dial(&s, "*384#");
		in(&s, "1");
		in(&s, "0712345678");
		in(&s, "100");
		in(&s, "1234");
		result(&s, MENU_RES_OK, "{\"token\":\"tk\"}");
		in(&s, "1");
		assert_int_equal(s.out.kind, MENU_OUT_WAIT);
		assert_int_equal(s.out.actions[0].kind, MENU_ACT_HTTP);
		assert_int_equal(
			json_integer_value(json_object_get(json_object_get(s.out.actions[0].params, "body"), "amount")),
			10000);
		/* Stale or unknown results are refused, and input while waiting too. */
		struct menu_event stale = {.kind = MENU_EV_ACTION_RESULT, .action_id = "a1.0"};
		assert_int_equal(step(&s, &stale), GW_ENOENT);
		struct menu_event early = {.kind = MENU_EV_INPUT, .text = "1"};
		assert_int_equal(step(&s, &early), GW_EINVAL);
		result(&s, cases[i].st, "{\"ref\":\"R1\",\"balance\":5}");
		assert_string_equal(screen(&s), cases[i].screen);
		assert_int_equal(s.out.kind, MENU_OUT_END);
		assert_int_equal(s.out.reason, cases[i].reason);
		if (cases[i].st == MENU_RES_OK) {
			/* The receipt SMS goes out with the end screen. */
			assert_int_equal(s.out.nactions, 1);
			assert_int_equal(s.out.actions[0].kind, MENU_ACT_SMS);
			assert_false(s.out.actions[0].awaited);
			assert_non_null(strstr(s.out.text, "Ref R1"));
		}
		sess_free(&s);
	}
}

static void test_version_and_timeouts(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, demo);
	dial(&s, "*384#");
	in(&s, "1");
	memcpy(s.st.version, "0000000000000000", 16);
	struct menu_event ev = {.kind = MENU_EV_INPUT, .text = "0712345678"};
	assert_int_equal(step(&s, &ev), GW_ECONFLICT);
	memcpy(s.st.version, menu_version(demo), 16);
	/* Past the session budget an input ends the session. */
	s.now += 200000;
	assert_int_equal(step(&s, &ev), 0);
	assert_int_equal(s.out.kind, MENU_OUT_END);
	assert_int_equal(s.out.reason, MENU_END_TIMEOUT);
	sess_free(&s);
}

static void test_resume(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, demo);
	dial(&s, "*384#");
	in(&s, "3");
	in(&s, "123456");
	struct menu_event to = {.kind = MENU_EV_TIMEOUT};
	assert_int_equal(step(&s, &to), 0);
	assert_int_equal(s.out.reason, MENU_END_TIMEOUT);
	dial(&s, "*384#");
	assert_string_equal(screen(&s), "resume_q");
	in(&s, "1");
	assert_string_equal(screen(&s), "bill_account");
	assert_string_equal(json_string_value(json_object_get(s.st.vars, "business")), "123456");
	in(&s, "0");
	assert_string_equal(screen(&s), "bill_business");
	sess_free(&s);

	/* Cut after the PIN check: the token is gone, the PIN is asked again. */
	sess_init(&s, demo);
	dial(&s, "*384#");
	in(&s, "1");
	in(&s, "0712345678");
	in(&s, "100");
	in(&s, "1234");
	result(&s, MENU_RES_OK, "{\"token\":\"tok-r\"}");
	assert_string_equal(screen(&s), "send_confirm");
	struct menu_event ab = {.kind = MENU_EV_ABORT};
	assert_int_equal(step(&s, &ab), 0);
	assert_null(strstr(s.json, "tok-r"));
	dial(&s, "*384#");
	in(&s, "1");
	assert_string_equal(screen(&s), "send_pin");
	assert_int_equal(json_integer_value(json_object_get(s.st.vars, "amount")), 10000);
	/* Navigation is off on PIN screens: "0" is a (too short) PIN attempt,
	 * refused without asking the wallet. */
	in(&s, "0");
	assert_string_equal(screen(&s), "send_pin");
	assert_int_equal(s.st.retries, 1);
	assert_int_equal(s.out.nactions, 0);
	sess_free(&s);
}

#define TINY                                                                                       \
	"{\"id\":\"tiny\",\"languages\":[\"en\"],\"service_code\":\"*5#\",\"start\":\"r\",\n"      \
	"\"navigation\":{\"back\":\"9\",\"home\":\"000\",\"more\":\"99\"},\n"                      \
	"\"variables\":{\"n\":{\"max\":5}},\n"                                                     \
	"\"screens\":[\n"                                                                          \
	"{\"id\":\"r\",\"type\":\"router\",\"routes\":[\n"                                         \
	" {\"var\":\"n\",\"op\":\"exists\",\"next\":\"big\"}],\"default\":\"ask\"},\n"             \
	"{\"id\":\"ask\",\"type\":\"input\",\"text\":\"Number?\",\"input\":{\"kind\":\"digits\","  \
	"\"max_len\":3},\"store\":\"s\",\"retries\":2,\"lockout\":\"locked\",\"next\":\"conv\"},\n" \
	"{\"id\":\"conv\",\"type\":\"router\",\"routes\":[\n"                                      \
	" {\"var\":\"s\",\"op\":\"in\",\"value\":[\"1\",\"2\"],\"next\":\"small\"},\n"             \
	" {\"var\":\"s\",\"op\":\"ne\",\"value\":\"7\",\"next\":\"list\"}],\"default\":\"big\"},\n" \
	"{\"id\":\"list\",\"type\":\"menu\",\"text\":\"\\u0416\\u0416\\u0416\",\"options\":[\n"    \
	" {\"label\":\"\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\",\"next\":\"small\"},\n" \
	" {\"label\":\"\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\",\"next\":\"small\"},\n" \
	" {\"label\":\"\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\",\"next\":\"small\"},\n" \
	" {\"label\":\"\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\",\"next\":\"small\"},\n" \
	" {\"label\":\"\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\\u0416\",\"next\":\"big\"}]},\n" \
	"{\"id\":\"small\",\"type\":\"end\",\"text\":\"small\"},\n"                                \
	"{\"id\":\"big\",\"type\":\"end\",\"text\":\"big\"},\n"                                    \
	"{\"id\":\"locked\",\"type\":\"end\",\"text\":\"locked out\"}]}"

/* Routers, configurable navigation tokens, UCS2 pages of 80 and a lockout screen. */
static void test_tiny_menu(void **state)
{
	(void)state;
	struct menu *m;
	struct menu_diags d = {0};
	int rc = menu_load_buffer(TINY, strlen(TINY), &m, &d);
	for (size_t i = 0; i < d.n; i++)
		print_message("%d:%d: %s\n", d.v[i].line, d.v[i].col, d.v[i].msg);
	assert_int_equal(rc, 0);
	menu_diags_free(&d);
	struct sess s;
	sess_init(&s, m);
	dial(&s, "*5#");
	assert_string_equal(screen(&s), "ask");
	in(&s, "2");
	assert_string_equal(s.out.text, "small");
	sess_free(&s);

	sess_init(&s, m);
	dial(&s, "*5*3#");
	assert_string_equal(screen(&s), "list");
	assert_true(s.out.ucs2);
	int limit;
	bool ucs2;
	assert_true(menu_screen_len(m, s.out.text, &limit, &ucs2) <= 80);
	assert_int_equal(limit, 80);
	assert_non_null(strstr(s.out.text, "\n99. More"));
	assert_non_null(strstr(s.out.text, "\n9. Back"));
	in(&s, "99");
	assert_int_equal(s.st.page, 1);
	assert_non_null(strstr(s.out.text, "5. "));
	in(&s, "5");
	assert_string_equal(s.out.text, "big");
	sess_free(&s);

	sess_init(&s, m);
	dial(&s, "*5#");
	in(&s, "x");
	in(&s, "1234"); /* too long: second invalid, lockout screen */
	assert_int_equal(s.out.kind, MENU_OUT_END);
	assert_int_equal(s.out.reason, MENU_END_LOCKOUT);
	assert_string_equal(s.out.text, "locked out");
	sess_free(&s);

	sess_init(&s, m);
	dial(&s, "*5*7#");
	assert_string_equal(s.out.text, "big");
	sess_free(&s);
	menu_free(m);
}

static void test_state_json_strict(void **state)
{
	(void)state;
	struct menu_state st;
	static const char *const bad[] = {
		"",
		"[]",
		"{\"v\":\"0123456789abcdef\",\"n\":1}",
		"{\"v\":\"xyz\",\"n\":1,\"t\":1}",
		"{\"v\":\"0123456789abcdef\",\"n\":1,\"t\":1,\"s\":\"nope\"}",
		"{\"v\":\"0123456789abcdef\",\"n\":1,\"t\":1,\"zz\":1}",
		"{\"v\":\"0123456789abcdef\",\"n\":1,\"t\":1,\"l\":\"fr\"}",
		"{\"v\":\"0123456789abcdef\",\"n\":1,\"t\":1,\"h\":[\"main\",\"main\",\"main\",\"main\","
		"\"main\",\"main\",\"main\",\"main\",\"main\",\"main\",\"main\",\"main\",\"main\"]}",
		"{\"v\":\"0123456789abcdef\",\"n\":1,\"t\":1,\"q\":[\"\"]}",
		"{\"v\":\"0123456789abcdef\",\"n\":-1,\"t\":1}",
		"{\"v\":\"0123456789abcdef\",\"n\":1,\"t\":1,\"d\":[]}",
		"{\"v\":\"0123456789abcdef\",\"n\":1,\"t\":1,\"e\":\"none\"}",
		"{\"v\":\"0123456789abcdef\",\"n\":1,\"t\":1,\"w\":\"0123456789abcdefg\"}",
		"{\"v\":\"0123456789abcdef\",\"v\":\"0123456789abcdef\",\"n\":1,\"t\":1}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = menu_state_from_json(demo, bad[i], strlen(bad[i]), &st);
		if (rc == 0)
			fail_msg("accepted: %s", bad[i]);
		assert_null(st.vars);
		menu_state_clear(&st);
	}
	const char *good = "{\"d\":{\"msisdn\":\"255700000001\"},\"h\":[\"main\"],\"l\":\"sw\",\"n\":2,"
			   "\"p\":1,\"q\":[\"1\"],\"r\":1,\"s\":\"air_amount\",\"t\":5,\"u\":7,"
			   "\"v\":\"0123456789abcdef\"}";
	assert_int_equal(menu_state_from_json(demo, good, strlen(good), &st), 0);
	assert_int_equal(st.lang, 1);
	assert_int_equal(st.page, 1);
	assert_int_equal(st.nqueue, 1);
	assert_int_equal(st.last_ms, 7);
	char *back = menu_state_to_json(demo, &st);
	assert_string_equal(back, good);
	free(back);
	menu_state_clear(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pagination),
		cmocka_unit_test(test_home_and_back),
		cmocka_unit_test(test_invalid_retry_and_lockout),
		cmocka_unit_test(test_direct_dial),
		cmocka_unit_test(test_language_switch),
		cmocka_unit_test(test_pin_never_in_state),
		cmocka_unit_test(test_action_results),
		cmocka_unit_test(test_version_and_timeouts),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_tiny_menu),
		cmocka_unit_test(test_state_json_strict),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
