/** @file
 * Admin endpoints on an HTTP listener (the `admin` listener, loopback by
 * default): `GET /healthz` (200 while the loop runs), `GET /readyz` (the
 * readiness parts of health.h: 200 ready or degraded, 503 not ready, the
 * JSON body names each part and what is missing) and `GET /metrics` (the
 * metrics registry in the Prometheus text format 0.0.4).
 */
#ifndef USSDGW_HTTP_ADMIN_H
#define USSDGW_HTTP_ADMIN_H

struct http_server;

/**
 * Register the admin routes on @p srv (borrowed).
 * @return 0 or the first GW_E* code from http_server_route().
 */
int http_admin_mount(struct http_server *srv);

#include "ussdgw/http_server.h"

/**
 * Add an admin operation route (e.g. POST /admin/menus/reload) that
 * http_admin_mount() registers on the admin listener. Services that start
 * before the listeners call this at start and http_admin_unregister() at stop.
 * @return 0, GW_ENOSPC (at most 16), GW_EEXIST.
 */
int http_admin_register(const char *method, const char *pattern, http_handler_fn fn, void *cls);
/** Forget a route added with http_admin_register() (requests to it then get 404 after the next mount;
 *  on a running listener the handler answers 503 instead). */
void http_admin_unregister(const char *method, const char *pattern);

#endif
