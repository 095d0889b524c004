/** @file
 * The one clock. Everything that compares times with the outside world
 * (session TTLs, webhook tolerances, provider timestamps, audit times, partition
 * months) reads gw_now_*; tests shift it with gw_clock_shift() or, for a child
 * process, the USSDGW_CLOCK_SHIFT_MS environment variable read at start.
 * Timers on the loop use libev's monotonic time and are not shifted.
 */
#ifndef USSDGW_CLOCK_H
#define USSDGW_CLOCK_H

#include <stdint.h>
#include <time.h>

/** Wall-clock time in milliseconds since the Unix epoch, shifted. */
int64_t gw_now_ms(void);
/** Wall-clock time in microseconds since the Unix epoch, shifted. */
int64_t gw_now_us(void);
/** Wall-clock seconds since the epoch, shifted. */
time_t gw_now_s(void);
/** Monotonic nanoseconds (not shifted); for measuring durations. */
uint64_t gw_mono_ns(void);
/** Add @p delta_ms to the shift (tests). */
void gw_clock_shift(int64_t delta_ms);
/** Set the shift absolutely (tests). */
void gw_clock_set_shift(int64_t shift_ms);
/** Read USSDGW_CLOCK_SHIFT_MS once at start. */
void gw_clock_init_from_env(void);
/** Format @p ms as RFC 3339 UTC with milliseconds into @p buf (>= 32 bytes). */
char *gw_time_rfc3339(int64_t ms, char *buf, size_t n);

#endif
