/* Admin endpoints: liveness, readiness and metrics. */
#include "ussdgw/http_admin.h"

#include <stdlib.h>
#include <string.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/health.h"
#include "ussdgw/http_server.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"

static void healthz(struct http_req *req, void *cls)
{
	/* Answering at all proves the loop turns. */
	http_reply_header(req, "Cache-Control", "no-store");
	http_reply_text(req, 200, "application/json", "{\"status\":\"alive\"}");
}

static void readyz(struct http_req *req, void *cls)
{
	char *body = NULL;
	enum health_verdict v = health_check(&body);
	if (!body) {
		http_problem(req, GW_ENOMEM, NULL);
		return;
	}
	if (v == HEALTH_NOT_READY)
		LOGP(DHTTP, LOG_INFO, "readyz: not ready: %s", body);
	http_reply_header(req, "Cache-Control", "no-store");
	http_reply_take(req, v == HEALTH_NOT_READY ? 503 : 200, "application/json", body,
			strlen(body));
}

static void metrics(struct http_req *req, void *cls)
{
	size_t len = 0;
	char *txt = metrics_render(&len);
	if (!txt) {
		http_problem(req, GW_ENOMEM, NULL);
		return;
	}
	http_reply_take(req, 200, "text/plain; version=0.0.4; charset=utf-8", txt, len);
}

int http_admin_mount(struct http_server *srv)
{
	int rc;
	if ((rc = http_server_route(srv, "GET", "/healthz", healthz, NULL)) ||
	    (rc = http_server_route(srv, "GET", "/readyz", readyz, NULL)) ||
	    (rc = http_server_route(srv, "GET", "/metrics", metrics, NULL)))
		return rc;
	return 0;
}
