/* Admin endpoints: liveness, readiness and metrics. */
#include "ussdgw/http_admin.h"

#include <stdbool.h>
#include <stdio.h>
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

/* Operation routes added by services; the trampoline keeps a route answerable
 * (503) after its service went away. */
#define ADMIN_EXTRA_MAX 16
static struct admin_extra {
	char method[8];
	char pattern[96];
	http_handler_fn fn;
	void *cls;
	bool used;
} extra[ADMIN_EXTRA_MAX];

static void extra_dispatch(struct http_req *req, void *cls)
{
	struct admin_extra *x = cls;
	if (!x->used || !x->fn) {
		http_problem_status(req, 503, GW_ESHUTDOWN, "that operation is not available now");
		return;
	}
	x->fn(req, x->cls);
}

int http_admin_register(const char *method, const char *pattern, http_handler_fn fn, void *cls)
{
	struct admin_extra *free_slot = NULL;
	for (size_t i = 0; i < ADMIN_EXTRA_MAX; i++) {
		if (!strcmp(extra[i].method, method) && !strcmp(extra[i].pattern, pattern)) {
			if (extra[i].used)
				return GW_EEXIST;
			free_slot = &extra[i]; /* the same route again: reuse its slot */
			break;
		}
		if (!extra[i].method[0] && !free_slot)
			free_slot = &extra[i];
	}
	if (!free_slot || strlen(method) >= sizeof(free_slot->method) ||
	    strlen(pattern) >= sizeof(free_slot->pattern))
		return GW_ENOSPC;
	snprintf(free_slot->method, sizeof(free_slot->method), "%s", method);
	snprintf(free_slot->pattern, sizeof(free_slot->pattern), "%s", pattern);
	free_slot->fn = fn;
	free_slot->cls = cls;
	free_slot->used = true;
	return 0;
}

void http_admin_unregister(const char *method, const char *pattern)
{
	for (size_t i = 0; i < ADMIN_EXTRA_MAX; i++)
		if (!strcmp(extra[i].method, method) && !strcmp(extra[i].pattern, pattern)) {
			extra[i].used = false;
			extra[i].fn = NULL;
			extra[i].cls = NULL;
		}
}

int http_admin_mount(struct http_server *srv)
{
	int rc;
	if ((rc = http_server_route(srv, "GET", "/healthz", healthz, NULL)) ||
	    (rc = http_server_route(srv, "GET", "/readyz", readyz, NULL)) ||
	    (rc = http_server_route(srv, "GET", "/metrics", metrics, NULL)))
		return rc;
	for (size_t i = 0; i < ADMIN_EXTRA_MAX; i++)
		if (extra[i].method[0] &&
		    (rc = http_server_route(srv, extra[i].method, extra[i].pattern, extra_dispatch,
					    &extra[i])))
			return rc;
	return 0;
}
