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

#endif
