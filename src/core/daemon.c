#include "ussdgw/daemon.h"

#include <signal.h>
#include <string.h>

#include "ussdgw/config.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"

#define MAX_SERVICES 32

static struct {
	const struct gw_service *svc;
	void *state;
	bool started;
	bool draining;
} services[MAX_SERVICES];
static int nservices;

static ev_signal sig_term, sig_int, sig_hup;
static ev_timer shutdown_deadline;
static ev_idle stop_idle;

int daemon_add_service(const struct gw_service *svc)
{
	if (nservices >= MAX_SERVICES)
		return GW_ENOSPC;
	services[nservices++].svc = svc;
	return 0;
}

void *daemon_service_state(const char *name)
{
	for (int i = 0; i < nservices; i++)
		if (services[i].started && strcmp(services[i].svc->name, name) == 0)
			return services[i].state;
	return NULL;
}

void daemon_apply_log_config(const struct cfg *c)
{
	json_t *r = cfg_root(c);
	enum log_level lvl = LOG_INFO;
	log_level_parse(cfg_str(r, "log.level"), &lvl);
	log_set_all_levels(lvl);
	const char *fmt = cfg_str(r, "log.format");
	log_set_format(!strcmp(fmt, "text") ? LOG_FMT_TEXT
		       : !strcmp(fmt, "json") ? LOG_FMT_JSON
					      : LOG_FMT_AUTO);
	const char *name;
	json_t *v;
	json_object_foreach(cfg_get(r, "log.levels"), name, v)
	{
		enum log_subsys s;
		enum log_level l;
		if (log_subsys_parse(name, &s) == 0 && log_level_parse(json_string_value(v), &l) == 0)
			log_set_level(s, l);
		else
			LOGP(DCONF, LOG_WARN, "log.levels.%s: unknown subsystem or level", name);
	}
}

/* Stop services in reverse order at a safe point (not inside a drain callback). */
static void stop_all(struct ev_loop *loop, ev_idle *w, int revents)
{
	(void)revents;
	ev_idle_stop(loop, w);
	struct gw_node *node = w->data;
	ev_timer_stop(loop, &shutdown_deadline);
	for (int i = nservices - 1; i >= 0; i--) {
		if (!services[i].started)
			continue;
		if (services[i].svc->stop)
			services[i].svc->stop(node, services[i].state);
		services[i].started = false;
		LOGP(DMAIN, LOG_INFO, "service %s stopped", services[i].svc->name);
	}
	ev_signal_stop(loop, &sig_term);
	ev_signal_stop(loop, &sig_int);
	ev_signal_stop(loop, &sig_hup);
	ev_break(loop, EVBREAK_ALL);
}

static void maybe_finish(struct gw_node *node)
{
	for (int i = 0; i < nservices; i++)
		if (services[i].started && services[i].draining)
			return;
	stop_idle.data = node;
	ev_idle_start(node->loop, &stop_idle);
}

void daemon_drained(struct gw_node *node, const char *name)
{
	for (int i = 0; i < nservices; i++)
		if (strcmp(services[i].svc->name, name) == 0 && services[i].draining) {
			services[i].draining = false;
			LOGP(DMAIN, LOG_INFO, "service %s drained", name);
		}
	if (node->shutting_down)
		maybe_finish(node);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct gw_node *node = w->data;
	for (int i = 0; i < nservices; i++)
		if (services[i].started && services[i].draining)
			LOGP(DMAIN, LOG_WARN, "service %s did not drain before the deadline",
			     services[i].svc->name);
	for (int i = 0; i < nservices; i++)
		services[i].draining = false;
	maybe_finish(node);
}

void daemon_shutdown(struct gw_node *node)
{
	if (node->shutting_down)
		return;
	node->shutting_down = true;
	double deadline = (double)cfg_int(cfg_root(node->cfg), "shutdown.deadline_ms") / 1000.0;
	LOGP(DMAIN, LOG_NOTICE, "shutting down (deadline %.1f s)", deadline);
	ev_timer_init(&shutdown_deadline, on_deadline, deadline, 0);
	shutdown_deadline.data = node;
	ev_timer_start(node->loop, &shutdown_deadline);
	/* Mark every draining service first, so a synchronous daemon_drained() cannot
	 * see an empty set and finish early. Drain in reverse start order: listeners
	 * (started last) stop accepting before the stores they feed go away. */
	for (int i = 0; i < nservices; i++)
		services[i].draining = services[i].started && services[i].svc->drain;
	for (int i = nservices - 1; i >= 0; i--)
		if (services[i].draining)
			services[i].svc->drain(node, services[i].state);
	maybe_finish(node);
}

static void on_term(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	daemon_shutdown(w->data);
}

static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	struct gw_node *node = w->data;
	struct cfg *nc;
	char err[512];
	int rc = cfg_load(node->config_path, NULL, &nc, err, sizeof(err));
	if (rc) {
		LOGP(DCONF, LOG_ERROR, "reload refused, keeping the running configuration: %s", err);
		return;
	}
	char what[256];
	int n = cfg_diff_nonreloadable(node->cfg, nc, what, sizeof(what));
	if (n > 0)
		LOGP(DCONF, LOG_WARN,
		     "reload: %d key(s) that need a restart changed (first: %s); they keep their "
		     "running values",
		     n, what);
	daemon_apply_log_config(nc);
	for (int i = 0; i < nservices; i++)
		if (services[i].started && services[i].svc->reload)
			services[i].svc->reload(node, services[i].state, nc);
	/* The running tree stays for non-reloadable keys; services copied what they need. */
	cfg_free(nc);
	LOGP(DCONF, LOG_NOTICE, "configuration reloaded from %s", node->config_path);
}

int daemon_run(struct gw_node *node)
{
	signal(SIGPIPE, SIG_IGN);
	ev_signal_init(&sig_term, on_term, SIGTERM);
	ev_signal_init(&sig_int, on_term, SIGINT);
	ev_signal_init(&sig_hup, on_hup, SIGHUP);
	sig_term.data = sig_int.data = sig_hup.data = node;
	ev_signal_start(node->loop, &sig_term);
	ev_signal_start(node->loop, &sig_int);
	ev_signal_start(node->loop, &sig_hup);
	ev_idle_init(&stop_idle, stop_all);

	for (int i = 0; i < nservices; i++) {
		int rc = services[i].svc->start(node, &services[i].state);
		if (rc) {
			LOGP(DMAIN, LOG_FATAL, "service %s failed to start: %s", services[i].svc->name,
			     gw_strerror(rc));
			node->shutting_down = true;
			for (int j = i - 1; j >= 0; j--)
				if (services[j].svc->stop)
					services[j].svc->stop(node, services[j].state);
			return 1;
		}
		services[i].started = true;
		LOGP(DMAIN, LOG_INFO, "service %s started", services[i].svc->name);
	}
	LOGP(DMAIN, LOG_NOTICE, "ussdgw %s running", GW_VERSION);
	ev_run(node->loop, 0);
	return 0;
}
