/** @file
 * PostgreSQL on the loop: one non-blocking libpq connection in pipeline mode,
 * watched by libev.
 *
 * Queries are sent at once (PQsendQueryPrepared / PQsendQueryParams, each
 * followed by its own sync point, so one failing query never aborts the next)
 * and answered in order from a FIFO. Named statements are registered once with
 * store_pg_statement() and prepared lazily, once per connection, on first use.
 * After a disconnect or a failed connect the store reconnects with
 * exponential backoff and jitter.
 *
 * Transactions: every statement is followed by its own sync point, so each
 * one commits on its own (an implicit transaction). The connection is shared
 * by all callers and their statements interleave, so never send BEGIN/COMMIT
 * through it: a multi-step change is one statement or a stored procedure
 * (sql/), which is atomic; a RETRY status means the whole step may be re-run.
 *
 * At every connect the store reads the schema version (max(version) of
 * schema_version, written by ussdgw-migrate) and refuses queries while it is
 * not the expected one, saying which it found and which it wants.
 *
 * The contract for every query accepted (store_pg_exec()/store_pg_query()
 * returned 0): the callback runs exactly once, never from inside the
 * submitting call, with a four-way status (see enum store_pg_qs). A query
 * whose deadline passes is answered with a timeout and its late result is
 * dropped; when the server still has not answered one deadline later, the
 * connection is reset (PostgreSQL 15's libpq has no non-blocking cancel).
 *
 * Readiness: a DEGRADES health part (default name "postgres"), up only while
 * connected at the expected schema version. Metrics (label
 * instance="<health name>"): gw_pg_queries_total, gw_pg_errors_total,
 * gw_pg_timeouts_total, gw_pg_reconnects_total, gw_pg_latency_seconds.
 */
#ifndef USSDGW_STORE_PG_H
#define USSDGW_STORE_PG_H

#include <stdbool.h>

#include <ev.h>
#include <libpq-fe.h>

struct store_pg;
struct cfg;
struct gw_service;

struct store_pg_opts {
	const char *dsn;	   /**< libpq connection string (the restricted app role); use a
				    *   socket folder or hostaddr=, as libpq resolves a host name
				    *   synchronously */
	const char *password_file; /**< password (secfile rules); NULL = none / from the DSN */
	int connect_timeout_ms;	   /**< default 3000 */
	int query_timeout_ms;	   /**< default deadline when a query passes 0 (default 5000) */
	int reconnect_min_ms;	   /**< default 200 */
	int reconnect_max_ms;	   /**< default 10000 */
	int expected_schema;	   /**< 0 = this build's (store_pg_build_schema()); -1 = no check */
	const char *health_name;   /**< health part and metric label (default "postgres") */
};

/**
 * Four-way status (the shape of Taler's GNUNET_DB_QueryStatus): negative is
 * a failure, retryable or not; zero and one are successes.
 */
enum store_pg_qs {
	STORE_PG_HARD_ERROR = -2, /**< will fail again: SQL error, permission, schema mismatch */
	STORE_PG_RETRY = -1,	  /**< transient: disconnect, timeout, serialization/deadlock */
	STORE_PG_NO_ROWS = 0,	  /**< success, no row returned or affected */
	STORE_PG_ROWS = 1,	  /**< success, one or more rows returned or affected */
};

/** @return "HARD_ERROR", "RETRY", "NO_ROWS", "ROWS" (static). */
const char *store_pg_qs_name(enum store_pg_qs qs);

/** What a query's callback receives; valid only during the callback. */
struct store_pg_result {
	enum store_pg_qs status;
	/** 0 on success; else GW_ETIMEDOUT, GW_EDEPENDENCY (not connected, connection lost),
	 *  GW_ESCHEMA, GW_ECANCELED (store freed), GW_ECONFLICT (serialization failure,
	 *  deadlock), GW_EAGAIN (other transient server state), GW_EPEER_STATUS (SQL error). */
	int err;
	/** The server's result (rows, or the error); NULL when none came. Owned by the store. */
	const PGresult *res;
	const char *sqlstate; /**< five-character SQLSTATE, or "" */
	const char *message;  /**< error text (no query parameters), or "" */
	long rows;	      /**< rows returned (SELECT) or affected (INSERT/UPDATE/DELETE) */
};

typedef void (*store_pg_cb)(void *cls, const struct store_pg_result *r);

/**
 * Create the store and start connecting. Options are copied; the password file
 * is read now.
 * @param[out] out the store, owned by the caller (store_pg_free()).
 * @return 0, GW_EINVAL (no DSN), GW_ENOMEM, or the secfile error.
 */
int store_pg_new(struct ev_loop *loop, const struct store_pg_opts *opts, struct store_pg **out);

/** Close and free. Pending queries are answered GW_ECANCELED first. Not from a callback. */
void store_pg_free(struct store_pg *pg);

/**
 * Register a named statement, prepared lazily once per connection.
 * @return 0 (also when the same name and SQL are registered already), GW_EEXIST
 *         (the name is taken by other SQL), GW_EINVAL, GW_ENOMEM.
 */
int store_pg_statement(struct store_pg *pg, const char *name, const char *sql, int nparams);

/**
 * Run a registered statement. @p values/@p lengths/@p formats as in
 * PQsendQueryPrepared (lengths/formats may be NULL for text); they are sent
 * before this returns, so the caller may free them at once.
 * @param timeout_ms deadline; 0 = the store's default.
 * @return 0 when accepted (the callback runs exactly once), or GW_ENOENT
 *         (unknown statement) / GW_EINVAL / GW_ENOMEM, and then it never runs.
 */
int store_pg_exec(struct store_pg *pg, const char *name, int nparams, const char *const *values,
		  const int *lengths, const int *formats, int timeout_ms, store_pg_cb cb,
		  void *cls);

/** One ad-hoc statement with text parameters (not prepared); otherwise as store_pg_exec(). */
int store_pg_query(struct store_pg *pg, const char *sql, int nparams, const char *const *values,
		   int timeout_ms, store_pg_cb cb, void *cls);

/** True while connected at the expected schema version (queries are accepted). */
bool store_pg_ready(const struct store_pg *pg);
/** The version read at the last connect; -1 before, or when schema_version is missing. */
int store_pg_schema_version(const struct store_pg *pg);
/** The version this build expects: the highest sql/NNNN-*.sql at build time. */
int store_pg_build_schema(void);
/** Successful connects so far. */
unsigned store_pg_connects(const struct store_pg *pg);
/** Server process id of the current connection, 0 when none (tests, logs). */
int store_pg_backend_pid(const struct store_pg *pg);

/** Fill @p o from the config's postgres.* keys (strings borrowed from @p c). */
void store_pg_opts_from_cfg(const struct cfg *c, struct store_pg_opts *o);

/** Apply the reloadable options (timeouts, reconnect delays). */
void store_pg_reload(struct store_pg *pg, const struct store_pg_opts *o);

/**
 * The daemon service "postgres": refuses to start without postgres.dsn,
 * connects at start (the node is degraded until it is up at the expected
 * schema version), applies reloadable keys on SIGHUP, closes at stop. Other
 * modules find the store with daemon_service_state("postgres").
 */
extern const struct gw_service store_pg_service;

#endif
