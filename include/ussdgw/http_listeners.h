/** @file
 * The node's two HTTP listeners as daemon services, configured from
 * `listeners.admin.*` and `listeners.public.*`:
 *  - "http-admin": /healthz, /readyz, /metrics (loopback by default);
 *  - "http-public": /callbacks/{provider}/{token}, later the REST API (/v1/).
 * Draining the public listener stops accepting and waits for open
 * connections to finish; the admin listener serves until it is stopped, so
 * probes see the node until the end.
 */
#ifndef USSDGW_HTTP_LISTENERS_H
#define USSDGW_HTTP_LISTENERS_H

struct gw_service;
struct http_server;

extern const struct gw_service http_admin_service;
extern const struct gw_service http_public_service;

/**
 * The running server of service @p name ("http-admin", "http-public"), or
 * NULL when it is disabled or not started. Modules register their routes on
 * it after it started (borrowed; valid until the service stops).
 */
struct http_server *http_listener(const char *name);

#endif
