/* Provider callback dispatch: /callbacks/{provider}/{token}. */
#include "ussdgw/http_callbacks.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/http_server.h"
#include "ussdgw/log.h"

struct cb_entry {
	char *provider;
	http_callback_fn fn;
	void *cls;
	struct cb_entry *next;
};

static struct cb_entry *entries;

static bool name_ok(const char *s, size_t max, bool token)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (const char *c = s; *c; c++) {
		bool ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' ||
			  *c == '-' || (token && *c >= 'A' && *c <= 'Z');
		if (!ok)
			return false;
	}
	return true;
}

static struct cb_entry *find(const char *provider)
{
	for (struct cb_entry *e = entries; e; e = e->next)
		if (strcmp(e->provider, provider) == 0)
			return e;
	return NULL;
}

int http_register_callback_handler(const char *provider, http_callback_fn fn, void *cls)
{
	if (!provider || !fn || !name_ok(provider, 32, false))
		return GW_EINVAL;
	if (find(provider))
		return GW_EEXIST;
	struct cb_entry *e = calloc(1, sizeof(*e));
	if (!e || !(e->provider = strdup(provider))) {
		free(e);
		return GW_ENOMEM;
	}
	e->fn = fn;
	e->cls = cls;
	e->next = entries;
	entries = e;
	return 0;
}

void http_unregister_callback_handler(const char *provider)
{
	for (struct cb_entry **pp = &entries; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->provider, provider) == 0) {
			struct cb_entry *e = *pp;
			*pp = e->next;
			free(e->provider);
			free(e);
			return;
		}
	}
}

void http_callbacks_reset(void)
{
	while (entries)
		http_unregister_callback_handler(entries->provider);
}

static void dispatch(struct http_req *req, void *cls)
{
	const char *provider = http_req_param(req, "provider");
	const char *token = http_req_param(req, "token");
	struct cb_entry *e = provider ? find(provider) : NULL;
	size_t tlen = token ? strlen(token) : 0;
	if (!e || tlen < HTTP_CALLBACK_TOKEN_MIN ||
	    !name_ok(token, HTTP_CALLBACK_TOKEN_MAX, true)) {
		GW_PEER_VIOLATION(DHTTP, http_req_remote(req), "callback for an unknown %s",
				  e ? "token" : "provider");
		http_problem(req, GW_ENOENT, "no such callback");
		return;
	}
	int rc = e->fn(req, token, e->cls);
	if (rc == 0)
		return;
	GW_BUG_ON(http_req_answered(req));
	if (rc == GW_ENOENT) {
		GW_PEER_VIOLATION(DHTTP, http_req_remote(req), "callback for %s: unknown token",
				  e->provider);
		http_problem(req, GW_ENOENT, "no such callback");
	} else {
		http_problem(req, rc, NULL);
	}
}

int http_callbacks_mount(struct http_server *srv)
{
	int rc;
	if ((rc =
		 http_server_route(srv, "POST", "/callbacks/{provider}/{token}", dispatch, NULL)) ||
	    (rc = http_server_route(srv, "GET", "/callbacks/{provider}/{token}", dispatch, NULL)) ||
	    /* MTN MoMo delivers with PUT by default (specs/payments.md 4.3) */
	    (rc = http_server_route(srv, "PUT", "/callbacks/{provider}/{token}", dispatch, NULL)))
		return rc;
	return 0;
}
