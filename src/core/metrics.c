#include "ussdgw/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_type { M_COUNTER, M_GAUGE, M_HISTOGRAM };

struct metric {
	char *name;
	char *help;
	char *labels; /* "" when none */
	enum metric_type type;
	double value; /* counter/gauge; histogram sum */
	uint64_t count;
	size_t nbounds;
	double *bounds;
	uint64_t *buckets; /* per bound, not cumulative */
	struct metric *next;
	struct metric *hnext; /* lookup chain */
	uint32_t hash;
};

/* Registration order is kept; families are rendered together by name. */
static struct metric *head, **tail = &head;

const double metrics_latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
					  0.05,   0.1,   0.25,   0.5,   1,    2.5,
					  5,      10};
const size_t metrics_latency_buckets_n =
	sizeof(metrics_latency_buckets) / sizeof(metrics_latency_buckets[0]);

/* Lookup by name and labels: callers look series up on every event (per PDU, per
 * step), so a hash of both, not a walk of the registry with two strcmp per series. */
#define METRIC_HBUCKETS 1024u
static struct metric *hbuckets[METRIC_HBUCKETS];

static uint32_t metric_hash(const char *name, const char *labels)
{
	uint32_t h = 2166136261u;
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ 0xFFu) * 16777619u;
	for (const char *p = labels; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

static struct metric *find_h(const char *name, const char *labels, uint32_t h)
{
	for (struct metric *m = hbuckets[h % METRIC_HBUCKETS]; m; m = m->hnext)
		if (m->hash == h && strcmp(m->name, name) == 0 && strcmp(m->labels, labels) == 0)
			return m;
	return NULL;
}

static struct metric *find(const char *name, const char *labels)
{
	labels = labels ? labels : "";
	return find_h(name, labels, metric_hash(name, labels));
}

static struct metric *create(enum metric_type t, const char *name, const char *help,
			     const char *labels)
{
	struct metric *m = find(name, labels);
	if (m)
		return m;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->type = t;
	m->name = strdup(name);
	m->help = strdup(help ? help : "");
	m->labels = strdup(labels ? labels : "");
	if (!m->name || !m->help || !m->labels) {
		free(m->name);
		free(m->help);
		free(m->labels);
		free(m);
		return NULL;
	}
	*tail = m;
	tail = &m->next;
	m->hash = metric_hash(m->name, m->labels);
	m->hnext = hbuckets[m->hash % METRIC_HBUCKETS];
	hbuckets[m->hash % METRIC_HBUCKETS] = m;
	return m;
}

struct metric *metrics_counter(const char *name, const char *help, const char *labels)
{
	return create(M_COUNTER, name, help, labels);
}

struct metric *metrics_gauge(const char *name, const char *help, const char *labels)
{
	return create(M_GAUGE, name, help, labels);
}

struct metric *metrics_histogram(const char *name, const char *help, const char *labels,
				 const double *bounds, size_t n)
{
	struct metric *m = create(M_HISTOGRAM, name, help, labels);
	if (!m || m->bounds)
		return m;
	m->bounds = malloc(n * sizeof(double));
	m->buckets = calloc(n, sizeof(uint64_t));
	if (m->bounds && m->buckets) {
		memcpy(m->bounds, bounds, n * sizeof(double));
		m->nbounds = n;
	}
	return m;
}

void metric_inc(struct metric *m)
{
	if (m)
		m->value += 1;
}

void metric_add(struct metric *m, double v)
{
	if (m)
		m->value += v;
}

void metric_set(struct metric *m, double v)
{
	if (m)
		m->value = v;
}

void metric_observe(struct metric *m, double v)
{
	if (!m)
		return;
	m->value += v;
	m->count++;
	for (size_t i = 0; i < m->nbounds; i++)
		if (v <= m->bounds[i]) {
			m->buckets[i]++;
			break;
		}
}

double metric_value(const struct metric *m)
{
	return m ? m->value : 0;
}

uint64_t metric_count(const struct metric *m)
{
	return m ? m->count : 0;
}

struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = (b->cap + (size_t)n + 1) * 2;
		char *np = realloc(b->p, ncap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

static void render_labels(struct sbuf *b, const char *labels, const char *extra)
{
	if (!labels[0] && !extra)
		return;
	sb_printf(b, "{%s%s%s}", labels, labels[0] && extra ? "," : "", extra ? extra : "");
}

char *metrics_render(size_t *len_out)
{
	struct sbuf b = {.cap = 4096};
	b.p = malloc(b.cap);
	if (!b.p)
		return NULL;
	b.p[0] = '\0';
	static const char *const tnames[] = {"counter", "gauge", "histogram"};
	for (struct metric *m = head; m; m = m->next) {
		/* Emit HELP/TYPE once per family: at its first member. */
		int first = 1;
		for (struct metric *o = head; o != m; o = o->next)
			if (strcmp(o->name, m->name) == 0) {
				first = 0;
				break;
			}
		if (!first)
			continue;
		sb_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
			  tnames[m->type]);
		for (struct metric *s = m; s; s = s->next) {
			if (strcmp(s->name, m->name) != 0)
				continue;
			if (s->type != M_HISTOGRAM) {
				sb_printf(&b, "%s", s->name);
				render_labels(&b, s->labels, NULL);
				sb_printf(&b, " %.17g\n", s->value);
				continue;
			}
			uint64_t cum = 0;
			char le[64];
			for (size_t i = 0; i < s->nbounds; i++) {
				cum += s->buckets[i];
				snprintf(le, sizeof(le), "le=\"%g\"", s->bounds[i]);
				sb_printf(&b, "%s_bucket", s->name);
				render_labels(&b, s->labels, le);
				sb_printf(&b, " %llu\n", (unsigned long long)cum);
			}
			sb_printf(&b, "%s_bucket", s->name);
			render_labels(&b, s->labels, "le=\"+Inf\"");
			sb_printf(&b, " %llu\n", (unsigned long long)s->count);
			sb_printf(&b, "%s_sum", s->name);
			render_labels(&b, s->labels, NULL);
			sb_printf(&b, " %.17g\n", s->value);
			sb_printf(&b, "%s_count", s->name);
			render_labels(&b, s->labels, NULL);
			sb_printf(&b, " %llu\n", (unsigned long long)s->count);
		}
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	if (len_out)
		*len_out = b.len;
	return b.p;
}

void metrics_reset(void)
{
	while (head) {
		struct metric *m = head;
		head = m->next;
		free(m->name);
		free(m->help);
		free(m->labels);
		free(m->bounds);
		free(m->buckets);
		free(m);
	}
	tail = &head;
	memset(hbuckets, 0, sizeof(hbuckets));
}
