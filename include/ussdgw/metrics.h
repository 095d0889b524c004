/** @file
 * A small metrics registry all modules use, exported at /metrics in the
 * Prometheus text format. Metrics are created once (at module init) and
 * updated on the loop thread without locks; a metric family may carry one
 * label set per instance (e.g. bind="mno1/0").
 */
#ifndef USSDGW_METRICS_H
#define USSDGW_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metric;

/**
 * Find or create a counter. @p labels is NULL or a preformatted Prometheus
 * label body such as `bind="a",type="submit_sm"` (values already escaped).
 * The registry owns the metric; the pointer stays valid until metrics_reset().
 */
struct metric *metrics_counter(const char *name, const char *help, const char *labels);
struct metric *metrics_gauge(const char *name, const char *help, const char *labels);
/** Histogram with @p n upper bounds (ascending, in the metric's unit, e.g. seconds). */
struct metric *metrics_histogram(const char *name, const char *help, const char *labels,
				 const double *bounds, size_t n);

void metric_inc(struct metric *m);
void metric_add(struct metric *m, double v);
void metric_set(struct metric *m, double v);
void metric_observe(struct metric *m, double v);
double metric_value(const struct metric *m);
/** Histogram sample count. */
uint64_t metric_count(const struct metric *m);

/** Render all metrics; returns a malloc'd NUL-terminated string (caller frees). */
char *metrics_render(size_t *len_out);
/** Free every metric (tests, shutdown). */
void metrics_reset(void);

/** Default latency buckets in seconds (0.0005 .. 10). */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_buckets_n;

#endif
