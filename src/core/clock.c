#include "ussdgw/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static _Atomic int64_t shift_ms;

int64_t gw_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + atomic_load(&shift_ms) * 1000;
}

int64_t gw_now_ms(void)
{
	return gw_now_us() / 1000;
}

time_t gw_now_s(void)
{
	return (time_t)(gw_now_ms() / 1000);
}

uint64_t gw_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void gw_clock_shift(int64_t delta_ms)
{
	atomic_fetch_add(&shift_ms, delta_ms);
}

void gw_clock_set_shift(int64_t v)
{
	atomic_store(&shift_ms, v);
}

void gw_clock_init_from_env(void)
{
	const char *s = getenv("USSDGW_CLOCK_SHIFT_MS");
	if (s && *s)
		atomic_store(&shift_ms, strtoll(s, NULL, 10));
}

char *gw_time_rfc3339(int64_t ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return buf;
}
