/** @file
 * Logging by subsystem and level. Text lines on a terminal, JSON lines
 * otherwise (or as configured). Library-like modules (codecs) never log: they
 * return error codes and their callers log.
 *
 * MSISDNs, PINs, tokens and provider secrets never reach a log in clear: use
 * log_msisdn() for numbers and LOG_REDACTED for secrets.
 */
#ifndef USSDGW_LOG_H
#define USSDGW_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_subsys {
	DMAIN, DCONF, DSMPP, DUSSD, DMENU, DSMS, DPAY, DAUDIT, DHTTP, DREDIS, DDB, DCRYPTO,
	LOG_SUBSYS_COUNT
};

enum log_level { LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARN, LOG_ERROR, LOG_FATAL, LOG_LEVEL_COUNT };

enum log_format { LOG_FMT_AUTO, LOG_FMT_TEXT, LOG_FMT_JSON };

/** Text a log line shows in place of a secret. */
#define LOG_REDACTED "[redacted]"

const char *log_subsys_name(enum log_subsys s);
const char *log_level_name(enum log_level l);
/** @return 0 and the level in @p out, or GW_EINVAL for an unknown name. */
int log_level_parse(const char *name, enum log_level *out);
/** @return 0 and the subsystem in @p out, or GW_EINVAL. Names are lower case ("smpp"). */
int log_subsys_parse(const char *name, enum log_subsys *out);

void log_set_level(enum log_subsys s, enum log_level l);
void log_set_all_levels(enum log_level l);
void log_set_format(enum log_format f);
/** Redirect output (default stderr); fd stays owned by the caller. */
void log_set_fd(int fd);
/** Leave timestamps out (golden tests). */
void log_set_timestamps(bool on);
bool log_enabled(enum log_subsys s, enum log_level l);

void log_write(enum log_subsys s, enum log_level l, const char *file, int line,
	       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define LOGP(ss, lvl, ...)                                                     \
	do {                                                                   \
		if (log_enabled((ss), (lvl)))                                  \
			log_write((ss), (lvl), __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

/** Size of the buffer log_msisdn() writes into. */
#define LOG_MSISDN_BUFSZ 24

/**
 * Render an MSISDN for a log line without revealing it: a keyed token when a
 * tokeniser is installed (crypto/ installs one at start), else a mask that
 * keeps only the last two digits. @return @p buf.
 */
const char *log_msisdn(char buf[LOG_MSISDN_BUFSZ], const char *msisdn);
/** Install the tokeniser log_msisdn() uses: writes a short token for @p msisdn. */
void log_set_msisdn_tokenizer(void (*fn)(const char *msisdn, char *out, size_t outsz));

/** Count of peer violations seen since start (exported as a metric). */
extern uint64_t gw_peer_violations;

/** Our own invariant: log with file:line; abort in debug builds. */
#ifdef NDEBUG
#define GW_BUG_ON(cond)                                                        \
	do {                                                                   \
		if (__builtin_expect(!!(cond), 0))                             \
			log_write(DMAIN, LOG_ERROR, __FILE__, __LINE__, "BUG: %s", #cond); \
	} while (0)
#else
#define GW_BUG_ON(cond)                                                        \
	do {                                                                   \
		if (__builtin_expect(!!(cond), 0)) {                           \
			log_write(DMAIN, LOG_FATAL, __FILE__, __LINE__, "BUG: %s", #cond); \
			__builtin_trap();                                      \
		}                                                              \
	} while (0)
#endif

/** Bad input from a peer (SMSC, HTTP client, provider): NOTICE + counter, never abort. */
#define GW_PEER_VIOLATION(ss, peer, fmt, ...)                                  \
	do {                                                                   \
		gw_peer_violations++;                                          \
		LOGP((ss), LOG_NOTICE, "peer %s: " fmt, (peer), ##__VA_ARGS__); \
	} while (0)

#endif
