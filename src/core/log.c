#include "ussdgw/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ussdgw/clock.h"
#include "ussdgw/gw_error.h"

uint64_t gw_peer_violations;

static const char *const subsys_names[LOG_SUBSYS_COUNT] = {
	[DMAIN] = "main", [DCONF] = "conf", [DSMPP] = "smpp", [DUSSD] = "ussd",
	[DMENU] = "menu", [DSMS] = "sms",   [DPAY] = "pay",   [DAUDIT] = "audit",
	[DHTTP] = "http", [DREDIS] = "redis", [DDB] = "db",   [DCRYPTO] = "crypto",
};
static const char *const level_names[LOG_LEVEL_COUNT] = {
	[LOG_DEBUG] = "debug", [LOG_INFO] = "info",   [LOG_NOTICE] = "notice",
	[LOG_WARN] = "warn",   [LOG_ERROR] = "error", [LOG_FATAL] = "fatal",
};

static enum log_level levels[LOG_SUBSYS_COUNT] = {
	LOG_INFO, LOG_INFO, LOG_INFO, LOG_INFO, LOG_INFO, LOG_INFO,
	LOG_INFO, LOG_INFO, LOG_INFO, LOG_INFO, LOG_INFO, LOG_INFO,
};
static enum log_format format = LOG_FMT_AUTO;
static int out_fd = 2;
static int timestamps = 1;
static void (*msisdn_tokenizer)(const char *, char *, size_t);

const char *log_subsys_name(enum log_subsys s)
{
	return (unsigned)s < LOG_SUBSYS_COUNT ? subsys_names[s] : "?";
}

const char *log_level_name(enum log_level l)
{
	return (unsigned)l < LOG_LEVEL_COUNT ? level_names[l] : "?";
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (int i = 0; i < LOG_LEVEL_COUNT; i++)
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return GW_EINVAL;
}

int log_subsys_parse(const char *name, enum log_subsys *out)
{
	for (int i = 0; i < LOG_SUBSYS_COUNT; i++)
		if (strcmp(name, subsys_names[i]) == 0) {
			*out = (enum log_subsys)i;
			return 0;
		}
	return GW_EINVAL;
}

void log_set_level(enum log_subsys s, enum log_level l)
{
	if ((unsigned)s < LOG_SUBSYS_COUNT)
		levels[s] = l;
}

void log_set_all_levels(enum log_level l)
{
	for (int i = 0; i < LOG_SUBSYS_COUNT; i++)
		levels[i] = l;
}

void log_set_format(enum log_format f)
{
	format = f;
}

void log_set_fd(int fd)
{
	out_fd = fd;
}

void log_set_timestamps(bool on)
{
	timestamps = on;
}

bool log_enabled(enum log_subsys s, enum log_level l)
{
	return (unsigned)s < LOG_SUBSYS_COUNT && l >= levels[s];
}

void log_set_msisdn_tokenizer(void (*fn)(const char *, char *, size_t))
{
	msisdn_tokenizer = fn;
}

const char *log_msisdn(char buf[LOG_MSISDN_BUFSZ], const char *msisdn)
{
	if (!msisdn) {
		snprintf(buf, LOG_MSISDN_BUFSZ, "-");
		return buf;
	}
	if (msisdn_tokenizer) {
		msisdn_tokenizer(msisdn, buf, LOG_MSISDN_BUFSZ);
		return buf;
	}
	size_t n = strlen(msisdn);
	size_t keep = n > 2 ? 2 : 0;
	size_t stars = n - keep > 12 ? 12 : n - keep;
	memset(buf, '*', stars);
	snprintf(buf + stars, LOG_MSISDN_BUFSZ - stars, "%s", msisdn + n - keep);
	return buf;
}

/* JSON-escape @p in into @p out; returns bytes written (excluding NUL). */
static size_t json_escape(char *out, size_t cap, const char *in)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p && o + 7 < cap; p++) {
		switch (*p) {
		case '"': out[o++] = '\\'; out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; out[o++] = '\\'; break;
		case '\n': out[o++] = '\\'; out[o++] = 'n'; break;
		case '\r': out[o++] = '\\'; out[o++] = 'r'; break;
		case '\t': out[o++] = '\\'; out[o++] = 't'; break;
		default:
			if (*p < 0x20)
				o += (size_t)snprintf(out + o, cap - o, "\\u%04x", *p);
			else
				out[o++] = (char)*p;
		}
	}
	out[o] = '\0';
	return o;
}

void log_write(enum log_subsys s, enum log_level l, const char *file, int line,
	       const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;

	enum log_format f = format;
	if (f == LOG_FMT_AUTO)
		f = isatty(out_fd) ? LOG_FMT_TEXT : LOG_FMT_JSON;

	char ts[40] = "";
	if (timestamps)
		gw_time_rfc3339(gw_now_ms(), ts, sizeof(ts));

	char line_buf[4608];
	int n;
	if (f == LOG_FMT_TEXT) {
		n = snprintf(line_buf, sizeof(line_buf), "%s%s%-6s %-6s %s (%s:%d)\n", ts,
			     timestamps ? " " : "", level_names[l], subsys_names[s], msg, base, line);
	} else {
		char esc[4200];
		json_escape(esc, sizeof(esc), msg);
		n = snprintf(line_buf, sizeof(line_buf),
			     "{%s%s%s\"level\":\"%s\",\"subsys\":\"%s\",\"msg\":\"%s\",\"src\":\"%s:%d\"}\n",
			     timestamps ? "\"ts\":\"" : "", ts, timestamps ? "\"," : "", level_names[l],
			     subsys_names[s], esc, base, line);
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line_buf))
		n = sizeof(line_buf) - 1;
	/* One write per line so concurrent writers do not interleave. */
	ssize_t w = write(out_fd, line_buf, (size_t)n);
	(void)w;
}
