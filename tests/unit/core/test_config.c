#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ussdgw/config.h"
#include "ussdgw/gw_error.h"

static char *const no_env[] = {NULL};

static void test_defaults_filled(void **state)
{
	(void)state;
	struct cfg *c;
	char err[256];
	assert_int_equal(cfg_load_string("{\"keys\":{\"dir\":\"/k\"}}", no_env, &c, err, sizeof(err)), 0);
	json_t *r = cfg_root(c);
	assert_int_equal(cfg_int(r, "redis.port"), 6379);
	assert_string_equal(cfg_str(r, "listeners.admin.address"), "127.0.0.1");
	assert_true(cfg_bool(r, "listeners.admin.enabled"));
	assert_string_equal(cfg_str(r, "log.level"), "info");
	cfg_free(c);
}

static void test_unknown_key_named(void **state)
{
	(void)state;
	struct cfg *c = NULL;
	char err[256];
	int rc = cfg_load_string("{\"keys\":{\"dir\":\"/k\"},\"redis\":{\"prot\":1}}", no_env, &c,
				 err, sizeof(err));
	assert_int_equal(rc, GW_ECONFIG);
	assert_null(c);
	assert_non_null(strstr(err, "redis.prot"));
	assert_non_null(strstr(err, "unknown key"));
}

static void test_range_and_type_named(void **state)
{
	(void)state;
	struct cfg *c = NULL;
	char err[256];
	assert_int_equal(cfg_load_string("{\"keys\":{\"dir\":\"/k\"},\"redis\":{\"port\":70000}}",
					 no_env, &c, err, sizeof(err)),
			 GW_ECONFIG);
	assert_non_null(strstr(err, "redis.port"));
	assert_non_null(strstr(err, "65535"));
	assert_int_equal(cfg_load_string("{\"keys\":{\"dir\":\"/k\"},\"log\":{\"level\":\"loud\"}}",
					 no_env, &c, err, sizeof(err)),
			 GW_ECONFIG);
	assert_non_null(strstr(err, "log.level"));
	assert_int_equal(cfg_load_string("{\"keys\":{\"dir\":\"/k\"},\"redis\":{\"port\":\"80\"}}",
					 no_env, &c, err, sizeof(err)),
			 GW_ECONFIG);
	assert_non_null(strstr(err, "expected an integer"));
	assert_int_equal(cfg_load_string("{}", no_env, &c, err, sizeof(err)), GW_ECONFIG);
	assert_non_null(strstr(err, "keys.dir"));
}

static void test_env_override(void **state)
{
	(void)state;
	char *env[] = {"USSDGW_REDIS__PORT=16379", "USSDGW_LOG__LEVELS={\"smpp\":\"debug\"}",
		       "USSDGW_LISTENERS__ADMIN__ENABLED=false", "USSDGW_UNRELATED=1", NULL};
	struct cfg *c;
	char err[256];
	assert_int_equal(cfg_load_string("{\"keys\":{\"dir\":\"/k\"}}", env, &c, err, sizeof(err)), 0);
	json_t *r = cfg_root(c);
	assert_int_equal(cfg_int(r, "redis.port"), 16379);
	assert_string_equal(cfg_str(r, "log.levels.smpp"), "debug");
	assert_false(cfg_bool(r, "listeners.admin.enabled"));
	cfg_free(c);

	char *bad[] = {"USSDGW_REDIS__PORTT=1", NULL};
	assert_int_equal(cfg_load_string("{\"keys\":{\"dir\":\"/k\"}}", bad, &c, err, sizeof(err)),
			 GW_ECONFIG);
	assert_non_null(strstr(err, "redis.portt"));
	char *range[] = {"USSDGW_REDIS__PORT=0", NULL};
	assert_int_equal(cfg_load_string("{\"keys\":{\"dir\":\"/k\"}}", range, &c, err, sizeof(err)),
			 GW_ECONFIG);
	assert_non_null(strstr(err, "redis.port"));
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_files_and_modes(void **state)
{
	(void)state;
	char dir[] = "/tmp/ussdgw-cfg-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char cfgp[256], secp[256], json[512];
	snprintf(cfgp, sizeof(cfgp), "%s/gw.json", dir);
	snprintf(secp, sizeof(secp), "%s/redis.pass", dir);
	write_file(secp, "s3cret\n", 0600);
	snprintf(json, sizeof(json),
		 "{\"keys\":{\"dir\":\"keys\"},\"redis\":{\"password_file\":\"redis.pass\"}}");
	write_file(cfgp, json, 0640);

	struct cfg *c;
	char err[512];
	assert_int_equal(cfg_load(cfgp, no_env, &c, err, sizeof(err)), 0);
	/* Relative paths resolve against the config file's directory. */
	char expect[256];
	snprintf(expect, sizeof(expect), "%s/keys", dir);
	assert_string_equal(cfg_str(cfg_root(c), "keys.dir"), expect);
	cfg_free(c);

	/* A group-readable secret file is refused, naming the key. */
	chmod(secp, 0640);
	assert_int_equal(cfg_load(cfgp, no_env, &c, err, sizeof(err)), GW_EINSECURE);
	assert_non_null(strstr(err, "redis.password_file"));
	chmod(secp, 0600);

	/* A world-readable config file is refused. */
	chmod(cfgp, 0644);
	assert_int_equal(cfg_load(cfgp, no_env, &c, err, sizeof(err)), GW_EINSECURE);
	assert_non_null(strstr(err, "world-readable"));

	/* Parse errors carry line and column. */
	write_file(cfgp, "{\n  \"keys\": {\"dir\": 1,}\n}\n", 0600);
	assert_int_equal(cfg_load(cfgp, no_env, &c, err, sizeof(err)), GW_ECONFIG);
	assert_non_null(strstr(err, ":2:"));

	unlink(cfgp);
	unlink(secp);
	rmdir(dir);
}

static void test_reload_diff(void **state)
{
	(void)state;
	struct cfg *a, *b;
	char err[256];
	assert_int_equal(cfg_load_string("{\"keys\":{\"dir\":\"/k\"},\"log\":{\"level\":\"info\"}}",
					 no_env, &a, err, sizeof(err)), 0);
	assert_int_equal(cfg_load_string("{\"keys\":{\"dir\":\"/k\"},\"log\":{\"level\":\"debug\"}}",
					 no_env, &b, err, sizeof(err)), 0);
	assert_int_equal(cfg_diff_nonreloadable(a, b, err, sizeof(err)), 0);
	cfg_free(b);
	assert_int_equal(cfg_load_string("{\"keys\":{\"dir\":\"/k\"},\"redis\":{\"port\":1234}}",
					 no_env, &b, err, sizeof(err)), 0);
	assert_int_equal(cfg_diff_nonreloadable(a, b, err, sizeof(err)), 1);
	assert_string_equal(err, "redis.port");
	cfg_free(a);
	cfg_free(b);
}

static void test_reference_lists_every_key(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cfg_print_reference(f);
	fclose(f);
	for (const struct cfg_key *k = cfg_schema; k->path; k++) {
		char needle[300];
		snprintf(needle, sizeof(needle), "`%s`", k->path);
		assert_non_null(strstr(buf, needle));
		assert_non_null(k->doc);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_filled),     cmocka_unit_test(test_unknown_key_named),
		cmocka_unit_test(test_range_and_type_named), cmocka_unit_test(test_env_override),
		cmocka_unit_test(test_files_and_modes),     cmocka_unit_test(test_reload_diff),
		cmocka_unit_test(test_reference_lists_every_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
