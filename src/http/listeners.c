/* The admin and public HTTP listeners as daemon services. */
#include "ussdgw/http_listeners.h"

#include <stdlib.h>

#include "ussdgw/config.h"
#include "ussdgw/daemon.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/http_admin.h"
#include "ussdgw/http_callbacks.h"
#include "ussdgw/http_server.h"
#include "ussdgw/log.h"

struct listener {
	const char *service;
	struct http_server *srv; /* NULL when disabled */
	struct gw_node *node;
	ev_timer drain_poll;
};

static int start_listener(struct gw_node *node, void **state, const char *which,
			  const char *service, int (*mount)(struct http_server *))
{
	char base[64];
	snprintf(base, sizeof(base), "listeners.%s", which);
	json_t *o = cfg_get(cfg_root(node->cfg), base);
	struct listener *l = calloc(1, sizeof(*l));
	if (!l)
		return GW_ENOMEM;
	l->service = service;
	l->node = node;
	*state = l;
	if (!cfg_bool(o, "enabled")) {
		LOGP(DHTTP, LOG_INFO, "%s listener disabled", which);
		return 0;
	}
	struct http_server_config hc = {
	    .name = which,
	    .bind_addr = cfg_str(o, "address"),
	    .port = (uint16_t)cfg_int(o, "port"),
	    .conn_limit = (unsigned)cfg_int(o, "max_connections"),
	    .per_ip_limit = (unsigned)cfg_int(o, "per_ip_connections"),
	    .conn_timeout_s = (unsigned)cfg_int(o, "timeout_s"),
	    .body_limit = (size_t)cfg_int(o, "body_limit"),
	};
	int err;
	l->srv = http_server_new(node->loop, &hc, &err);
	if (l->srv && (err = mount(l->srv)) != 0) {
		http_server_free(l->srv);
		l->srv = NULL;
	}
	if (!l->srv) {
		/* A failed start is not stopped by the daemon: clean up here. */
		free(l);
		*state = NULL;
		return err;
	}
	return 0;
}

static int admin_start(struct gw_node *node, void **state)
{
	return start_listener(node, state, "admin", "http-admin", http_admin_mount);
}

static int public_start(struct gw_node *node, void **state)
{
	return start_listener(node, state, "public", "http-public", http_callbacks_mount);
}

static void drain_poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct listener *l = w->data;
	if (http_server_connections(l->srv))
		return;
	ev_timer_stop(loop, w);
	daemon_drained(l->node, l->service);
}

static void public_drain(struct gw_node *node, void *state)
{
	struct listener *l = state;
	if (!l->srv) {
		daemon_drained(node, l->service);
		return;
	}
	http_server_quiesce(l->srv);
	ev_timer_init(&l->drain_poll, drain_poll_cb, 0., 0.05);
	l->drain_poll.data = l;
	ev_timer_start(node->loop, &l->drain_poll);
}

static void listener_stop(struct gw_node *node, void *state)
{
	struct listener *l = state;
	if (!l)
		return;
	ev_timer_stop(node->loop, &l->drain_poll);
	http_server_free(l->srv);
	free(l);
}

const struct gw_service http_admin_service = {
    .name = "http-admin",
    .start = admin_start,
    .stop = listener_stop,
};

const struct gw_service http_public_service = {
    .name = "http-public",
    .start = public_start,
    .drain = public_drain,
    .stop = listener_stop,
};

struct http_server *http_listener(const char *name)
{
	struct listener *l = daemon_service_state(name);
	return l ? l->srv : NULL;
}
