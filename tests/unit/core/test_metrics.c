#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ussdgw/health.h"
#include "ussdgw/metrics.h"

static void test_counter_and_families(void **state)
{
	(void)state;
	struct metric *a = metrics_counter("gw_pdus_total", "PDUs", "bind=\"a\"");
	struct metric *b = metrics_counter("gw_pdus_total", "PDUs", "bind=\"b\"");
	assert_ptr_equal(a, metrics_counter("gw_pdus_total", "PDUs", "bind=\"a\""));
	assert_ptr_not_equal(a, b);
	metric_inc(a);
	metric_add(a, 2);
	metric_inc(b);
	char *txt = metrics_render(NULL);
	assert_non_null(txt);
	assert_non_null(strstr(txt, "gw_pdus_total{bind=\"a\"} 3\n"));
	assert_non_null(strstr(txt, "gw_pdus_total{bind=\"b\"} 1\n"));
	/* HELP once per family. */
	char *h = strstr(txt, "# HELP gw_pdus_total");
	assert_non_null(h);
	assert_null(strstr(h + 1, "# HELP gw_pdus_total"));
	free(txt);
	metrics_reset();
}

static void test_histogram_cumulative(void **state)
{
	(void)state;
	static const double bounds[] = {0.001, 0.01, 0.1};
	struct metric *h = metrics_histogram("gw_rtt_seconds", "rtt", NULL, bounds, 3);
	metric_observe(h, 0.0005);
	metric_observe(h, 0.005);
	metric_observe(h, 0.005);
	metric_observe(h, 5);
	assert_int_equal(metric_count(h), 4);
	char *txt = metrics_render(NULL);
	assert_non_null(strstr(txt, "gw_rtt_seconds_bucket{le=\"0.001\"} 1\n"));
	assert_non_null(strstr(txt, "gw_rtt_seconds_bucket{le=\"0.01\"} 3\n"));
	assert_non_null(strstr(txt, "gw_rtt_seconds_bucket{le=\"0.1\"} 3\n"));
	assert_non_null(strstr(txt, "gw_rtt_seconds_bucket{le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(txt, "gw_rtt_seconds_count 4\n"));
	free(txt);
	metrics_reset();
}

static enum health_state probe_flag(void *cls, char *detail, size_t n)
{
	int *up = cls;
	if (!*up)
		strncpy(detail, "connection refused", n - 1);
	return *up ? HEALTH_UP : HEALTH_DOWN;
}

static void test_health_verdicts(void **state)
{
	(void)state;
	int redis_up = 1, pg_up = 1;
	assert_int_equal(health_register("redis", HEALTH_REQUIRED, probe_flag, &redis_up), 0);
	assert_int_equal(health_register("postgres", HEALTH_DEGRADES, probe_flag, &pg_up), 0);
	assert_int_not_equal(health_register("redis", HEALTH_REQUIRED, probe_flag, &redis_up), 0);
	char *js;
	assert_int_equal(health_check(&js), HEALTH_READY);
	free(js);
	pg_up = 0;
	assert_int_equal(health_check(&js), HEALTH_DEGRADED);
	assert_non_null(strstr(js, "\"degraded\":[\"postgres\"]"));
	free(js);
	redis_up = 0;
	assert_int_equal(health_check(&js), HEALTH_NOT_READY);
	assert_non_null(strstr(js, "\"missing\":[\"redis\"]"));
	assert_non_null(strstr(js, "connection refused"));
	free(js);
	health_reset();
	assert_int_equal(health_check(NULL), HEALTH_READY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_and_families),
		cmocka_unit_test(test_histogram_cumulative),
		cmocka_unit_test(test_health_verdicts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
