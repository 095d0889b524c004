/** @file
 * Redis on the loop: hiredis 0.14 async with its libev adapter.
 *
 * One connection per store (TCP or unix socket), AUTH and SELECT sent first
 * when configured, reconnect with exponential backoff and jitter after a
 * disconnect or a failed connect. hiredis 0.14 has no command timeouts, so
 * every command carries its own ev_timer against its deadline.
 *
 * The contract for every command accepted (store_redis_command*() returned 0):
 * the callback runs exactly once, never from inside the submitting call, with
 * one of
 *  - err == 0 and a reply (which may be a Redis error reply: check reply->type),
 *  - GW_ETIMEDOUT: the deadline passed; a late reply is read and dropped,
 *  - GW_EDEPENDENCY: not connected, or the connection broke with it pending,
 *  - GW_ECANCELED: the store was freed with it pending.
 * The reply is owned by hiredis and valid only during the callback.
 *
 * Readiness: the store registers a REQUIRED health part (default name "redis")
 * that is down while the connection is not established and authenticated, and
 * (when a ping interval is set) while the last PING failed.
 * Metrics (label instance="<health name>"): gw_redis_commands_total,
 * gw_redis_errors_total, gw_redis_timeouts_total, gw_redis_reconnects_total,
 * gw_redis_latency_seconds.
 */
#ifndef USSDGW_STORE_REDIS_H
#define USSDGW_STORE_REDIS_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>
#include <hiredis/hiredis.h>

struct store_redis;
struct cfg;
struct gw_service;

struct store_redis_opts {
	const char *host;	   /**< TCP address (default 127.0.0.1); a name is resolved
				    *   synchronously by hiredis, so give an address */
	int port;		   /**< TCP port (default 6379) */
	const char *socket;	   /**< unix socket path; when set, used instead of host/port */
	const char *password_file; /**< AUTH password (secfile rules); NULL = no AUTH */
	int db;			   /**< SELECT db when non-zero */
	int command_timeout_ms;	   /**< default deadline when a command passes 0 (default 500) */
	int connect_timeout_ms;	   /**< connect deadline (default 1000) */
	int reconnect_min_ms;	   /**< first reconnect delay (default 100) */
	int reconnect_max_ms;	   /**< largest reconnect delay (default 5000) */
	int ping_interval_ms;	   /**< periodic PING for readiness; 0 = off */
	const char *health_name;   /**< health part and metric label (default "redis") */
};

/**
 * Command completion. @p err is 0 with @p reply set, or a negative GW_E* code
 * with @p reply NULL. @p reply belongs to hiredis: copy what you keep.
 */
typedef void (*store_redis_cb)(void *cls, int err, redisReply *reply);

/**
 * Create the store and start connecting on @p loop. Options are copied and the
 * password is read now (so a bad password file fails here).
 * @param[out] out the new store, owned by the caller (store_redis_free()).
 * @return 0, GW_EINVAL, GW_ENOMEM, or the secfile error for the password file.
 */
int store_redis_new(struct ev_loop *loop, const struct store_redis_opts *opts,
		    struct store_redis **out);

/**
 * Close the connection and free the store. Pending commands complete with
 * GW_ECANCELED first. Must not be called from inside one of its callbacks.
 */
void store_redis_free(struct store_redis *r);

/**
 * Send a command (hiredis printf-style format: %s, %b with pointer+length, %d).
 * @param timeout_ms deadline for the answer; 0 = the store's default.
 * @return 0 when accepted (the callback will run exactly once), or GW_EINVAL
 *         (bad format, NULL cb) / GW_ENOMEM, in which case it never runs.
 */
int store_redis_command(struct store_redis *r, store_redis_cb cb, void *cls, int timeout_ms,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/** As store_redis_command() with an argument vector (binary-safe). */
int store_redis_command_argv(struct store_redis *r, store_redis_cb cb, void *cls, int timeout_ms,
			     int argc, const char **argv, const size_t *argvlen);

/** True while connected and authenticated. */
bool store_redis_connected(const struct store_redis *r);

/** Commands sent and not yet answered by the server (including abandoned ones). */
size_t store_redis_pending(const struct store_redis *r);

/** Number of successful connects so far (tests and logs). */
unsigned store_redis_connects(const struct store_redis *r);

/**
 * Fill @p o from the config's redis.* keys. Strings are borrowed from @p c
 * (store_redis_new() copies them).
 */
void store_redis_opts_from_cfg(const struct cfg *c, struct store_redis_opts *o);

/** Apply the reloadable options (timeouts, reconnect delays, ping interval). */
void store_redis_reload(struct store_redis *r, const struct store_redis_opts *o);

/**
 * The daemon service "redis": connects at start (the node is not ready until
 * it is up), applies reloadable keys on SIGHUP, closes at stop. Other modules
 * find the store with daemon_service_state("redis").
 */
extern const struct gw_service store_redis_service;

#endif
