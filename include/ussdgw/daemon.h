/** @file
 * The node: one process, one libev loop, and the services that run on it.
 *
 * Each service (Redis, PostgreSQL, audit, HTTP listeners, SMPP links, ...)
 * registers start / drain / stop / reload hooks. Start runs in order; on
 * SIGTERM or SIGINT every service is asked to drain (stop accepting, finish
 * in-flight work) and reports back with daemon_drained(); when all have, or the
 * shutdown deadline passes, services stop in reverse order and the loop ends.
 * SIGHUP re-reads the configuration: reloadable keys are applied, a change to a
 * key that needs a restart is logged and ignored.
 */
#ifndef USSDGW_DAEMON_H
#define USSDGW_DAEMON_H

#include <stdbool.h>

#include <ev.h>

struct cfg;
struct gw_node;

struct gw_service {
	const char *name;
	/** Start on the loop; 0 or a GW_E* code (start fails, node exits). */
	int (*start)(struct gw_node *node, void **state);
	/** Stop accepting and finish in-flight work; call daemon_drained() when done (may be
	 *  synchronous). NULL = nothing to drain. */
	void (*drain)(struct gw_node *node, void *state);
	/** Release everything (after drain, or at the deadline). */
	void (*stop)(struct gw_node *node, void *state);
	/** Apply reloadable keys from the new config. NULL = nothing reloadable. */
	void (*reload)(struct gw_node *node, void *state, const struct cfg *newcfg);
};

struct gw_node {
	struct ev_loop *loop;
	struct cfg *cfg;
	const char *config_path;
	struct crypto_keyring *keys;
	bool shutting_down;
};

/** Add a service; services start in the order added. At most 32. */
int daemon_add_service(const struct gw_service *svc);
/** A draining service reports it is done. */
void daemon_drained(struct gw_node *node, const char *name);
/** Apply the log section of a config (levels, format). */
void daemon_apply_log_config(const struct cfg *c);
/** Run the node until shutdown; returns the process exit code. */
int daemon_run(struct gw_node *node);
/** Ask for a graceful shutdown (as SIGTERM does). */
void daemon_shutdown(struct gw_node *node);
/** The node's state, if @p name was started (else NULL). */
void *daemon_service_state(const char *name);

#endif
