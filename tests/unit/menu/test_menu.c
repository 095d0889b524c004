/* menu/ loader, compiler and checker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "menu/menu_int.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/menu.h"

static char *path_of(const char *rel)
{
	const char *top = getenv("GW_SOURCE_DIR");
	if (!top)
		top = GW_SOURCE_DIR;
	char *p = malloc(strlen(top) + strlen(rel) + 2);
	sprintf(p, "%s/%s", top, rel);
	return p;
}

static char *slurp(const char *rel, size_t *len)
{
	char *p = path_of(rel);
	FILE *f = fopen(p, "rb");
	free(p);
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Load a bad menu; the checker must fail and report @p needle at @p line. */
static void expect_diag(const char *rel, int line, int col, const char *needle)
{
	char *p = path_of(rel);
	struct menu *m = (struct menu *)1;
	struct menu_diags d = {0};
	int rc = menu_load_file(p, &m, &d);
	free(p);
	assert_true(rc == GW_ECONFIG || rc == GW_EPROTO_MALFORMED);
	assert_null(m);
	bool found = false;
	for (size_t i = 0; i < d.n; i++) {
		if (strstr(d.v[i].msg, needle) && d.v[i].line == line &&
		    (col == 0 || d.v[i].col == col))
			found = true;
	}
	if (!found) {
		for (size_t i = 0; i < d.n; i++)
			print_message("%d:%d: %s\n", d.v[i].line, d.v[i].col, d.v[i].msg);
		fail_msg("%s: no \"%s\" at line %d", rel, needle, line);
	}
	menu_diags_free(&d);
}

/* Compile an inline menu; @p first receives every finding (or "" when clean). */
static int load_inline(const char *json, struct menu **m, char *first, size_t fsz)
{
	struct menu_diags d = {0};
	int rc = menu_load_buffer(json, strlen(json), m, &d);
	/* All findings, one per line. */
	first[0] = '\0';
	for (size_t i = 0; i < d.n; i++) {
		strncat(first, d.v[i].msg, fsz - strlen(first) - 1);
		strncat(first, "\n", fsz - strlen(first) - 1);
	}
	for (size_t i = 0; i < d.n; i++)
		print_message("  %d:%d: %s\n", d.v[i].line, d.v[i].col, d.v[i].msg);
	menu_diags_free(&d);
	return rc;
}

static void test_demo_loads(void **state)
{
	(void)state;
	char *p = path_of("menus/demo.json");
	struct menu *m;
	struct menu_diags d = {0};
	assert_int_equal(menu_load_file(p, &m, &d), 0);
	free(p);
	assert_int_equal(d.n, 0);
	assert_string_equal(menu_id(m), "demo");
	assert_true(menu_screen_count(m) > 30);
	assert_int_equal(strlen(menu_hash(m)), 64);
	assert_memory_equal(menu_hash(m), menu_version(m), 16);
	assert_int_equal(menu_screen_index(m, "main"), 0);
	assert_int_equal(menu_screen_index(m, "nope"), -1);
	assert_string_equal(menu_screen_id(m, 0), "main");
	assert_null(menu_screen_id(m, 10000));
	menu_free(m);
	menu_diags_free(&d);
}

/* The version hash ignores layout and key order but not content. */
static void test_hash_canonical(void **state)
{
	(void)state;
	size_t n;
	char *src = slurp("menus/demo.json", &n);
	struct menu *a, *b, *c;
	assert_int_equal(menu_load_buffer(src, n, &a, NULL), 0);
	json_t *root = json_loadb(src, n, 0, NULL);
	assert_non_null(root);
	char *compact = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	assert_int_equal(menu_load_buffer(compact, strlen(compact), &b, NULL), 0);
	assert_string_equal(menu_hash(a), menu_hash(b));
	/* The hash is SHA-256 over the canonical text (sorted keys, compact). */
	char *canon = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	uint8_t md[32];
	crypto_sha256(canon, strlen(canon), md);
	char hex[65];
	for (size_t i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	assert_string_equal(menu_hash(a), hex);
	free(canon);
	json_object_set_new(json_array_get(json_object_get(root, "screens"), 0), "text",
			    json_pack("{s:s,s:s}", "en", "DemoPesa!", "sw", "DemoPesa!"));
	char *changed = json_dumps(root, 0);
	assert_int_equal(menu_load_buffer(changed, strlen(changed), &c, NULL), 0);
	assert_string_not_equal(menu_hash(a), menu_hash(c));
	free(compact);
	free(changed);
	json_decref(root);
	free(src);
	menu_free(a);
	menu_free(b);
	menu_free(c);
}

static void test_bad_dead_end(void **state)
{
	(void)state;
	/* "stuck" loops on itself; "menu_nowhere" has no options; main only
	 * reaches a router that leads back to main. */
	expect_diag("tests/unit/menu/bad/dead_end.json", 12, 5, "no path from screen \"stuck\"");
	expect_diag("tests/unit/menu/bad/dead_end.json", 14, 5, "needs \"options\" or \"items\"");
	expect_diag("tests/unit/menu/bad/dead_end.json", 7, 5, "no path from screen \"main\"");
	expect_diag("tests/unit/menu/bad/dead_end.json", 12, 5, "unreachable");
}

static void test_bad_unknown_reference(void **state)
{
	(void)state;
	expect_diag("tests/unit/menu/bad/unknown_ref.json", 10, 26, "unknown screen \"byee\"");
	expect_diag("tests/unit/menu/bad/unknown_ref.json", 12, 34, "unknown variable \"nmae\"");
}

static void test_bad_long_text(void **state)
{
	(void)state;
	expect_diag("tests/unit/menu/bad/long_text.json", 10, 6,
		    "text too long in \"sw\": 200 > 160");
}

static void test_bad_duplicate_and_translation(void **state)
{
	(void)state;
	expect_diag("tests/unit/menu/bad/duplicate.json", 10, 6, "duplicate screen id \"bye\"");
	expect_diag("tests/unit/menu/bad/duplicate.json", 8, 19, "missing translation \"sw\"");
	expect_diag("tests/unit/menu/bad/duplicate.json", 11, 5, "\"orphan\" is unreachable");
}

static void test_bad_budget_and_syntax(void **state)
{
	(void)state;
	expect_diag("tests/unit/menu/bad/budget.json", 8, 5, "over the session budget of 20000 ms");
	expect_diag("tests/unit/menu/bad/syntax.json", 4, 9, "expected");
}

#define HEAD                                                                                       \
	"{\"id\":\"t\",\"languages\":[\"en\"],\"service_code\":\"*1#\",\"start\":\"a\",\n"

static void test_template_worst_case(void **state)
{
	(void)state;
	struct menu *m = NULL;
	char msg[4096];
	/* 150-char variable + 20 literal chars: over 160 in the worst case,
	 * although the literal alone is short. */
	const char *over = HEAD "\"variables\":{\"name\":{\"max\":150}},\n"
				"\"screens\":[{\"id\":\"a\",\"type\":\"end\",\n"
				"\"text\":\"Hello {{name}}, welcome!\"}]}";
	assert_int_equal(load_inline(over, &m, msg, sizeof(msg)), GW_ECONFIG);
	assert_non_null(strstr(msg, "too long"));
	const char *ok = HEAD "\"variables\":{\"name\":{\"max\":100}},\n"
			      "\"screens\":[{\"id\":\"a\",\"type\":\"end\",\n"
			      "\"text\":\"Hello {{name}}, welcome!\"}]}";
	assert_int_equal(load_inline(ok, &m, msg, sizeof(msg)), 0);
	menu_free(m);
	/* An HTTP result field without a declared width cannot be shown. */
	const char *undeclared =
		HEAD "\"screens\":[{\"id\":\"a\",\"type\":\"menu\",\"text\":\"A\",\"options\":[{\"label\":"
		     "\"go\",\"next\":\"r\"}]},{\"id\":\"r\",\"type\":\"action\",\"action\":{\"kind\":\"http\","
		     "\"service\":\"w\",\"path\":\"/x\"},\"store\":\"r\",\"next\":\"b\",\"on_error\":\"b\","
		     "\"on_timeout\":\"b\"},{\"id\":\"b\",\"type\":\"end\",\"text\":\"{{r.x}}\"}]}";
	assert_int_equal(load_inline(undeclared, &m, msg, sizeof(msg)), GW_ECONFIG);
	assert_non_null(strstr(msg, "no declared max length"));
}

static void test_ucs2_limit(void **state)
{
	(void)state;
	struct menu *m = NULL;
	char msg[4096];
	/* 85 Cyrillic letters: fine for GSM-7 length, too long for UCS2 (80). */
	char json[2048];
	char text[512] = "";
	for (int i = 0; i < 85; i++)
		strcat(text, "\xd0\x96"); /* U+0416 */
	snprintf(json, sizeof(json), HEAD "\"screens\":[{\"id\":\"a\",\"type\":\"end\",\"text\":\"%s\"}]}",
		 text);
	assert_int_equal(load_inline(json, &m, msg, sizeof(msg)), GW_ECONFIG);
	assert_non_null(strstr(msg, "85 > 80 UCS2"));
}

static void test_semantic_errors(void **state)
{
	(void)state;
	struct menu *m = NULL;
	char msg[4096];
	const char *bad_regex =
		HEAD "\"screens\":[{\"id\":\"a\",\"type\":\"input\",\"text\":\"x\",\"input\":"
		     "{\"kind\":\"text\",\"regex\":\"([\"},\"store\":\"v\",\"next\":\"b\"},"
		     "{\"id\":\"b\",\"type\":\"end\",\"text\":\"b\"}]}";
	assert_int_equal(load_inline(bad_regex, &m, msg, sizeof(msg)), GW_ECONFIG);
	assert_non_null(strstr(msg, "bad regex"));
	const char *typo = HEAD "\"screens\":[{\"id\":\"a\",\"type\":\"end\",\"txt\":\"b\"}]}";
	assert_int_equal(load_inline(typo, &m, msg, sizeof(msg)), GW_ECONFIG);
	const char *pin_store =
		HEAD "\"screens\":[{\"id\":\"a\",\"type\":\"input\",\"text\":\"PIN\",\"input\":"
		     "{\"kind\":\"pin\"},\"store\":\"pin\",\"token\":\"t\",\"verify\":{\"service\":\"w\","
		     "\"path\":\"/p\"},\"next\":\"b\"},{\"id\":\"b\",\"type\":\"end\",\"text\":\"b\"}]}";
	assert_int_equal(load_inline(pin_store, &m, msg, sizeof(msg)), GW_ECONFIG);
	assert_non_null(strstr(msg, "PIN is never stored"));
	const char *slow =
		HEAD "\"screens\":[{\"id\":\"a\",\"type\":\"menu\",\"text\":\"A\",\"options\":[{\"label\":"
		     "\"go\",\"next\":\"r\"}]},{\"id\":\"r\",\"type\":\"action\",\"action\":{\"kind\":\"http\","
		     "\"service\":\"w\",\"path\":\"/x\"},\"deadline_ms\":15000,\"next\":\"b\","
		     "\"on_error\":\"b\",\"on_timeout\":\"b\"},{\"id\":\"b\",\"type\":\"end\",\"text\":\"b\"}]}";
	assert_int_equal(load_inline(slow, &m, msg, sizeof(msg)), GW_ECONFIG);
	assert_non_null(strstr(msg, "exceeds the answer budget"));
	assert_null(m);
	/* Two 6 s actions chained behind one answer: 12 s > the 10 s budget. */
	const char *chain =
		HEAD "\"screens\":[{\"id\":\"a\",\"type\":\"confirm\",\"text\":\"Go?\",\"yes\":\"x\","
		     "\"no\":\"b\"},\n"
		     "{\"id\":\"x\",\"type\":\"action\",\"action\":{\"kind\":\"http\",\"service\":\"w\","
		     "\"path\":\"/x\"},\"deadline_ms\":6000,\"next\":\"y\",\"on_error\":\"b\",\"on_timeout\":\"b\"},\n"
		     "{\"id\":\"y\",\"type\":\"action\",\"action\":{\"kind\":\"http\",\"service\":\"w\","
		     "\"path\":\"/y\"},\"deadline_ms\":6000,\"next\":\"b\",\"on_error\":\"b\",\"on_timeout\":\"b\"},\n"
		     "{\"id\":\"b\",\"type\":\"end\",\"text\":\"b\"}]}";
	assert_int_equal(load_inline(chain, &m, msg, sizeof(msg)), GW_ECONFIG);
	assert_non_null(strstr(msg, "can wait 12000 ms for actions"));
	assert_null(m);
}

static void test_gsm7_counter(void **state)
{
	(void)state;
	assert_int_equal(menu_gsm7_len("abc", 3), 3);
	assert_int_equal(menu_gsm7_len("[x]", 3), 5);          /* [ ] are extension chars */
	assert_int_equal(menu_gsm7_len("\xe2\x82\xac", 3), 2); /* euro */
	assert_int_equal(menu_gsm7_len("caf\xc3\xa9", 5), 4);  /* é is in the default table */
	assert_int_equal(menu_gsm7_len("\xd0\x96", 2), -1);    /* Cyrillic */
	assert_int_equal(menu_gsm7_len("`", 1), -1);
	assert_int_equal(menu_ucs2_len("\xf0\x9f\x98\x80", 4), 2); /* emoji: surrogate pair */
	assert_int_equal(menu_utf8_chars("caf\xc3\xa9", 5), 4);
}

static void test_graph(void **state)
{
	(void)state;
	char *p = path_of("menus/demo.json");
	struct menu *m;
	assert_int_equal(menu_load_file(p, &m, NULL), 0);
	free(p);
	char *dot = menu_graph(m, false);
	assert_non_null(strstr(dot, "digraph \"demo\""));
	assert_non_null(strstr(dot, "\"main\" -> \"send_to\" [label=\"1\"];"));
	assert_non_null(strstr(dot, "\"send_do\" -> \"send_failed\" [label=\"error\"];"));
	char *mm = menu_graph(m, true);
	assert_non_null(strstr(mm, "flowchart TD"));
	assert_non_null(strstr(mm, "acct_route -->|pin_for| stmt_do"));
	free(dot);
	free(mm);
	menu_free(m);
}

/* Truncated and mangled menus never crash the loader. */
static void test_truncations(void **state)
{
	(void)state;
	size_t n;
	char *src = slurp("menus/demo.json", &n);
	for (size_t k = 0; k < n; k += 37) {
		struct menu *m;
		struct menu_diags d = {0};
		int rc = menu_load_buffer(src, k, &m, &d);
		assert_int_not_equal(rc, 0);
		assert_true(d.n >= 1);
		menu_diags_free(&d);
	}
	free(src);
}

/* Regression (found by fuzz_menu): the answer-budget check walked every
 * branch of chained actions again, 3^40 paths for 40 actions. */
static void test_regress_action_chain(void **state)
{
	(void)state;
	char *p = path_of("tests/fuzz/corpus/menu/regress_action_chain.json");
	struct menu *m;
	assert_int_equal(menu_load_file(p, &m, NULL), 0);
	assert_int_equal(menu_screen_count(m), 42);
	menu_free(m);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demo_loads),
		cmocka_unit_test(test_hash_canonical),
		cmocka_unit_test(test_bad_dead_end),
		cmocka_unit_test(test_bad_unknown_reference),
		cmocka_unit_test(test_bad_long_text),
		cmocka_unit_test(test_bad_duplicate_and_translation),
		cmocka_unit_test(test_bad_budget_and_syntax),
		cmocka_unit_test(test_template_worst_case),
		cmocka_unit_test(test_ucs2_limit),
		cmocka_unit_test(test_semantic_errors),
		cmocka_unit_test(test_gsm7_counter),
		cmocka_unit_test(test_graph),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_regress_action_chain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
