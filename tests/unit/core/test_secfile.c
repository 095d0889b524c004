#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/secfile.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/gw-secfile-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Write @p n bytes to dir/name with @p mode; returns the path (static buffer). */
static const char *put(const char *name, const void *data, size_t n, mode_t mode)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static void expect_content(const char *path, const char *want, size_t want_len)
{
	char *s = NULL;
	size_t len = 12345;
	assert_int_equal(secfile_read(path, &s, &len), 0);
	assert_non_null(s);
	assert_int_equal(len, want_len);
	assert_memory_equal(s, want, want_len);
	assert_int_equal(s[len], '\0');
	secfile_free(s, len);
}

static void test_read_and_newline(void **state)
{
	(void)state;
	expect_content(put("a", "s3cret\n", 7, 0600), "s3cret", 6);
	expect_content(put("b", "s3cret", 6, 0600), "s3cret", 6);
	expect_content(put("c", "abc\r\n", 5, 0600), "abc", 3);
	/* Only one newline goes; a lone CR is content. */
	expect_content(put("d", "abc\n\n", 5, 0600), "abc\n", 4);
	expect_content(put("e", "abc\r", 4, 0600), "abc\r", 4);
	expect_content(put("f", "", 0, 0600), "", 0);
	expect_content(put("g", "\n", 1, 0600), "", 0);
	/* Binary content with a NUL inside keeps its length. */
	expect_content(put("h", "a\0b\xff", 4, 0600), "a\0b\xff", 4);
	/* Read-only for the owner is fine. */
	expect_content(put("i", "ro", 2, 0400), "ro", 2);
	/* len may be NULL. */
	char *s = NULL;
	assert_int_equal(secfile_read(put("j", "x\n", 2, 0600), &s, NULL), 0);
	assert_string_equal(s, "x");
	secfile_free(s, 1);
}

static void test_modes_refused(void **state)
{
	(void)state;
	static const mode_t bad[] = {0644, 0640, 0604, 0620, 0602,
				     0660, 0610, 0601, 0666, 0700 | 0044};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *p = put("m", "secret\n", 7, bad[i]);
		if (secfile_check_mode(p) != GW_EINSECURE)
			fail_msg("mode %04o passed the check", (unsigned)bad[i]);
		char *s = (char *)0x1;
		assert_int_equal(secfile_read(p, &s, NULL), GW_EINSECURE);
		assert_ptr_equal(s, (char *)0x1); /* untouched on error */
	}
	assert_int_equal(secfile_check_mode(put("m", "x", 1, 0600)), 0);
	assert_int_equal(secfile_check_mode(put("m", "x", 1, 0700)), 0);
}

static void test_missing_dir_symlink(void **state)
{
	(void)state;
	char path[128], target[128];
	char *s = NULL;
	snprintf(path, sizeof(path), "%s/nope", dir);
	assert_int_equal(secfile_check_mode(path), GW_ENOENT);
	assert_int_equal(secfile_read(path, &s, NULL), GW_ENOENT);

	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(secfile_check_mode(path), GW_EINVAL);
	assert_int_equal(secfile_read(path, &s, NULL), GW_EINVAL);

	/* A symlink to a private file is not followed on read. */
	snprintf(target, sizeof(target), "%s", put("target", "t", 1, 0600));
	snprintf(path, sizeof(path), "%s/link", dir);
	assert_int_equal(symlink(target, path), 0);
	assert_true(secfile_read(path, &s, NULL) < 0);
	assert_null(s);
}

static void test_size_limit(void **state)
{
	(void)state;
	char *big = malloc(SECFILE_MAX + 2);
	assert_non_null(big);
	memset(big, 'k', SECFILE_MAX + 2);
	char *s = NULL;
	size_t len = 0;
	assert_int_equal(secfile_read(put("max", big, SECFILE_MAX, 0600), &s, &len), 0);
	assert_int_equal(len, SECFILE_MAX);
	secfile_free(s, len);
	s = NULL;
	assert_int_equal(secfile_read(put("over", big, SECFILE_MAX + 1, 0600), &s, &len),
			 GW_EMSGSIZE);
	assert_null(s);
	free(big);
	secfile_free(NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_and_newline),
	    cmocka_unit_test(test_modes_refused),
	    cmocka_unit_test(test_missing_dir_symlink),
	    cmocka_unit_test(test_size_limit),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
