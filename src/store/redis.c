/* Redis adapter: hiredis 0.14 async on the libev loop.
 *
 * Why a timer per command: hiredis 0.14 has no command timeouts, and a Redis
 * that stalls (a slow AOF rewrite, a blocked command, a dead peer without a
 * RST) would otherwise hold a subscriber's answer past the operator's budget.
 * A command whose deadline passes is answered GW_ETIMEDOUT at once; it stays
 * in hiredis's reply queue (replies are matched in order, so it cannot be
 * dropped from the middle) and its late reply is read and discarded.
 *
 * Lifetime of one command object (struct redis_cmd):
 *   created -> [queued in hiredis] -> delivered (user callback ran) -> freed
 * It is freed when both hiredis is done with it and the user was answered.
 * A command refused without reaching hiredis (store down) is answered from a
 * zero-delay timer, so the callback never runs inside the submitting call.
 */
#include "ussdgw/store_redis.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>

#include "ussdgw/clock.h"
#include "ussdgw/config.h"
#include "ussdgw/daemon.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/health.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"
#include "ussdgw/secfile.h"

enum redis_state { RS_DOWN, RS_CONNECTING, RS_UP };

static const char *const redis_state_names[] = {
    [RS_DOWN] = "DOWN",
    [RS_CONNECTING] = "CONNECTING",
    [RS_UP] = "UP",
};

struct redis_cmd {
	struct store_redis *r;
	store_redis_cb cb;
	void *cls;
	ev_timer timer;
	uint64_t start_ns;
	int deferred_err; /* answer from the timer with this code (never reached hiredis) */
	bool delivered;	  /* the user callback ran */
	bool in_hiredis;  /* hiredis holds this as privdata */
	struct redis_cmd *prev, *next;
};

struct store_redis {
	struct ev_loop *loop;
	char *host, *socket, *name;
	int port, db;
	int command_timeout_ms, connect_timeout_ms, reconnect_min_ms, reconnect_max_ms;
	int ping_interval_ms;
	char *password;
	size_t password_len;

	redisAsyncContext *ac;
	enum redis_state state;
	bool freeing;
	bool ping_ok;
	bool hello_refused; /* AUTH or SELECT failed on this connection */
	int in_callback;
	unsigned attempt; /* reconnect attempts since the last success */
	unsigned connects;
	uint64_t rng;
	size_t pending; /* commands hiredis holds */
	char last_error[384];

	ev_timer connect_timer, reconnect_timer, ping_timer;
	struct redis_cmd *cmds; /* every live command object */

	struct metric *m_commands, *m_errors, *m_timeouts, *m_reconnects, *m_latency;
};

static void start_connect(struct store_redis *r);

static void set_state(struct store_redis *r, enum redis_state st)
{
	if (r->state == st)
		return;
	LOGP(DREDIS, st == RS_UP ? LOG_NOTICE : LOG_INFO, "redis %s: %s -> %s", r->name,
	     redis_state_names[r->state], redis_state_names[st]);
	r->state = st;
}

static const char *endpoint(const struct store_redis *r, char *buf, size_t n)
{
	if (r->socket)
		snprintf(buf, n, "unix:%s", r->socket);
	else
		snprintf(buf, n, "%s:%d", r->host, r->port);
	return buf;
}

/* ---- command objects ---- */

static void cmd_unlink(struct redis_cmd *c)
{
	struct store_redis *r = c->r;
	if (c->prev)
		c->prev->next = c->next;
	else
		r->cmds = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void cmd_maybe_free(struct redis_cmd *c)
{
	if (!c->delivered || c->in_hiredis)
		return;
	ev_timer_stop(c->r->loop, &c->timer);
	cmd_unlink(c);
	free(c);
}

static void cmd_deliver(struct redis_cmd *c, int err, redisReply *reply)
{
	struct store_redis *r = c->r;
	GW_BUG_ON(c->delivered);
	c->delivered = true;
	ev_timer_stop(r->loop, &c->timer);
	if (err == GW_ETIMEDOUT)
		metric_inc(r->m_timeouts);
	else if (err || (reply && reply->type == REDIS_REPLY_ERROR))
		metric_inc(r->m_errors);
	if (!err)
		metric_observe(r->m_latency, (double)(gw_mono_ns() - c->start_ns) / 1e9);
	r->in_callback++;
	c->cb(c->cls, err, err ? NULL : reply);
	r->in_callback--;
}

static void cmd_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct redis_cmd *c = w->data;
	if (c->deferred_err) {
		cmd_deliver(c, c->deferred_err, NULL);
	} else {
		LOGP(DREDIS, LOG_WARN,
		     "redis %s: command timed out; its late reply will be dropped", c->r->name);
		cmd_deliver(c, GW_ETIMEDOUT, NULL);
	}
	cmd_maybe_free(c);
}

/* hiredis answer for a user command: a reply, or NULL when the context goes away. */
static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	(void)ac;
	struct redis_cmd *c = privdata;
	struct store_redis *r = c->r;
	c->in_hiredis = false;
	r->pending--;
	if (!reply && !r->freeing && r->state != RS_DOWN) {
		/* The context is being torn down: refuse new commands from here on. */
		snprintf(r->last_error, sizeof(r->last_error), "connection lost");
		set_state(r, RS_DOWN);
	}
	if (!c->delivered)
		cmd_deliver(c, reply ? 0 : r->freeing ? GW_ECANCELED : GW_EDEPENDENCY, reply);
	cmd_maybe_free(c);
}

static struct redis_cmd *cmd_new(struct store_redis *r, store_redis_cb cb, void *cls)
{
	struct redis_cmd *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->r = r;
	c->cb = cb;
	c->cls = cls;
	c->start_ns = gw_mono_ns();
	ev_init(&c->timer, cmd_timer_cb);
	c->timer.data = c;
	c->next = r->cmds;
	if (r->cmds)
		r->cmds->prev = c;
	r->cmds = c;
	return c;
}

static void cmd_defer(struct redis_cmd *c, int err)
{
	c->deferred_err = err;
	ev_timer_set(&c->timer, 0., 0.);
	ev_timer_start(c->r->loop, &c->timer);
}

/* Common tail of both submit forms. @p rc is hiredis's answer to the submit. */
static int cmd_submitted(struct store_redis *r, struct redis_cmd *c, int rc, int timeout_ms)
{
	metric_inc(r->m_commands);
	if (rc != REDIS_OK) {
		int fl = r->ac ? r->ac->c.flags : 0;
		if (!r->ac || (fl & (REDIS_DISCONNECTING | REDIS_FREEING))) {
			cmd_defer(c, GW_EDEPENDENCY);
			return 0;
		}
		/* A format error: the command never existed. */
		cmd_unlink(c);
		free(c);
		return GW_EINVAL;
	}
	c->in_hiredis = true;
	r->pending++;
	double t = (timeout_ms > 0 ? timeout_ms : r->command_timeout_ms) / 1000.0;
	ev_timer_set(&c->timer, t, 0.);
	ev_timer_start(r->loop, &c->timer);
	return 0;
}

int store_redis_command(struct store_redis *r, store_redis_cb cb, void *cls, int timeout_ms,
			const char *fmt, ...)
{
	if (!r || !cb || !fmt)
		return GW_EINVAL;
	struct redis_cmd *c = cmd_new(r, cb, cls);
	if (!c)
		return GW_ENOMEM;
	if (r->state == RS_DOWN || !r->ac) {
		metric_inc(r->m_commands);
		cmd_defer(c, GW_EDEPENDENCY);
		return 0;
	}
	va_list ap;
	va_start(ap, fmt);
	int rc = redisvAsyncCommand(r->ac, on_reply, c, fmt, ap);
	va_end(ap);
	return cmd_submitted(r, c, rc, timeout_ms);
}

int store_redis_command_argv(struct store_redis *r, store_redis_cb cb, void *cls, int timeout_ms,
			     int argc, const char **argv, const size_t *argvlen)
{
	if (!r || !cb || argc <= 0 || !argv)
		return GW_EINVAL;
	struct redis_cmd *c = cmd_new(r, cb, cls);
	if (!c)
		return GW_ENOMEM;
	if (r->state == RS_DOWN || !r->ac) {
		metric_inc(r->m_commands);
		cmd_defer(c, GW_EDEPENDENCY);
		return 0;
	}
	int rc = redisAsyncCommandArgv(r->ac, on_reply, c, argc, argv, argvlen);
	return cmd_submitted(r, c, rc, timeout_ms);
}

/* ---- connection ---- */

static uint64_t rng_next(struct store_redis *r)
{
	/* xorshift64*: jitter only, not a secret. */
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return r->rng * 0x2545F4914F6CDD1DULL;
}

static void schedule_reconnect(struct store_redis *r)
{
	if (r->freeing || ev_is_active(&r->reconnect_timer))
		return;
	ev_timer_stop(r->loop, &r->connect_timer);
	ev_timer_stop(r->loop, &r->ping_timer);
	set_state(r, RS_DOWN);
	/* Exponential backoff, full range halved: delay in [d/2, d]. */
	int64_t d = r->reconnect_min_ms;
	for (unsigned i = 0; i < r->attempt && d < r->reconnect_max_ms; i++)
		d *= 2;
	if (d > r->reconnect_max_ms)
		d = r->reconnect_max_ms;
	int64_t delay = d / 2 + (int64_t)(rng_next(r) % (uint64_t)(d / 2 + 1));
	r->attempt++;
	metric_inc(r->m_reconnects);
	LOGP(DREDIS, LOG_INFO, "redis %s: reconnect in %lld ms (%s)", r->name, (long long)delay,
	     r->last_error);
	ev_timer_set(&r->reconnect_timer, delay / 1000.0, 0.);
	ev_timer_start(r->loop, &r->reconnect_timer);
}

static void reconnect_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	start_connect(w->data);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct store_redis *r = ac->data;
	if (r->ac == ac)
		r->ac = NULL;
	if (r->freeing)
		return;
	if (status != REDIS_OK)
		snprintf(r->last_error, sizeof(r->last_error), "disconnected: %s", ac->errstr);
	else if (!r->last_error[0])
		snprintf(r->last_error, sizeof(r->last_error), "disconnected");
	LOGP(DREDIS, LOG_WARN, "redis %s: %s", r->name, r->last_error);
	schedule_reconnect(r);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct store_redis *r = ac->data;
	if (status == REDIS_OK)
		return; /* ready once the hello PING after AUTH/SELECT answers */
	/* hiredis frees the context right after this callback. */
	if (r->ac == ac)
		r->ac = NULL;
	char ep[160];
	snprintf(r->last_error, sizeof(r->last_error), "connect to %s: %s",
		 endpoint(r, ep, sizeof(ep)), ac->errstr);
	LOGP(DREDIS, LOG_WARN, "redis %s: %s", r->name, r->last_error);
	if (!r->freeing)
		schedule_reconnect(r);
}

static void on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct store_redis *r = privdata;
	redisReply *rep = reply;
	if (!rep || r->freeing)
		return;
	if (rep->type == REDIS_REPLY_ERROR) {
		r->hello_refused = true;
		snprintf(r->last_error, sizeof(r->last_error), "AUTH refused: %.100s", rep->str);
		LOGP(DREDIS, LOG_ERROR, "redis %s: %s", r->name, r->last_error);
		redisAsyncDisconnect(ac);
	}
}

static void on_select(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct store_redis *r = privdata;
	redisReply *rep = reply;
	if (!rep || r->freeing)
		return;
	if (rep->type == REDIS_REPLY_ERROR) {
		r->hello_refused = true;
		snprintf(r->last_error, sizeof(r->last_error), "SELECT %d refused: %.100s", r->db,
			 rep->str);
		LOGP(DREDIS, LOG_ERROR, "redis %s: %s", r->name, r->last_error);
		redisAsyncDisconnect(ac);
	}
}

static void on_hello(redisAsyncContext *ac, void *reply, void *privdata)
{
	(void)ac;
	struct store_redis *r = privdata;
	redisReply *rep = reply;
	if (!rep || r->freeing || rep->type == REDIS_REPLY_ERROR || r->hello_refused)
		return; /* AUTH/SELECT failure handled above; disconnect follows */
	ev_timer_stop(r->loop, &r->connect_timer);
	r->attempt = 0;
	r->connects++;
	r->ping_ok = true;
	r->last_error[0] = '\0';
	set_state(r, RS_UP);
	if (r->ping_interval_ms > 0) {
		ev_timer_set(&r->ping_timer, r->ping_interval_ms / 1000.0,
			     r->ping_interval_ms / 1000.0);
		ev_timer_start(r->loop, &r->ping_timer);
	}
}

static void connect_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct store_redis *r = w->data;
	char ep[160];
	snprintf(r->last_error, sizeof(r->last_error), "connect to %s: no answer within %d ms",
		 endpoint(r, ep, sizeof(ep)), r->connect_timeout_ms);
	LOGP(DREDIS, LOG_WARN, "redis %s: %s", r->name, r->last_error);
	redisAsyncContext *ac = r->ac;
	r->ac = NULL;
	set_state(r, RS_DOWN);
	if (ac)
		redisAsyncFree(ac); /* pending commands are answered GW_EDEPENDENCY */
	schedule_reconnect(r);
}

static void start_connect(struct store_redis *r)
{
	char ep[160];
	GW_BUG_ON(r->ac);
	redisAsyncContext *ac =
	    r->socket ? redisAsyncConnectUnix(r->socket) : redisAsyncConnect(r->host, r->port);
	if (!ac || ac->err) {
		snprintf(r->last_error, sizeof(r->last_error), "connect to %s: %s",
			 endpoint(r, ep, sizeof(ep)), ac ? ac->errstr : "out of memory");
		LOGP(DREDIS, LOG_WARN, "redis %s: %s", r->name, r->last_error);
		if (ac)
			redisAsyncFree(ac);
		schedule_reconnect(r);
		return;
	}
	ac->data = r;
	if (redisLibevAttach(r->loop, ac) != REDIS_OK) {
		redisAsyncFree(ac);
		snprintf(r->last_error, sizeof(r->last_error), "libev attach failed");
		schedule_reconnect(r);
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	r->ac = ac;
	r->hello_refused = false;
	set_state(r, RS_CONNECTING);
	/* Queued in hiredis before any user command: AUTH, SELECT, then a PING
	 * whose answer marks the connection ready. */
	if (r->password)
		redisAsyncCommand(ac, on_auth, r, "AUTH %b", r->password, r->password_len);
	if (r->db)
		redisAsyncCommand(ac, on_select, r, "SELECT %d", r->db);
	redisAsyncCommand(ac, on_hello, r, "PING");
	ev_timer_set(&r->connect_timer, r->connect_timeout_ms / 1000.0, 0.);
	ev_timer_start(r->loop, &r->connect_timer);
	LOGP(DREDIS, LOG_DEBUG, "redis %s: connecting to %s", r->name, endpoint(r, ep, sizeof(ep)));
}

static void ping_done(void *cls, int err, redisReply *reply)
{
	struct store_redis *r = cls;
	if (r->freeing)
		return;
	bool ok = !err && reply && reply->type == REDIS_REPLY_STATUS;
	if (ok != r->ping_ok)
		LOGP(DREDIS, ok ? LOG_NOTICE : LOG_WARN, "redis %s: PING %s", r->name,
		     ok ? "answered again" : gw_strerror(err ? err : GW_EPEER_STATUS));
	r->ping_ok = ok;
}

static void ping_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct store_redis *r = w->data;
	if (r->state == RS_UP)
		store_redis_command(r, ping_done, r, r->ping_interval_ms, "PING");
}

static enum health_state health_probe(void *cls, char *detail, size_t n)
{
	struct store_redis *r = cls;
	char ep[160];
	if (r->state != RS_UP) {
		snprintf(detail, n, "%s", r->last_error[0] ? r->last_error : "connecting");
		return HEALTH_DOWN;
	}
	if (r->ping_interval_ms > 0 && !r->ping_ok) {
		snprintf(detail, n, "PING not answered in time");
		return HEALTH_DOWN;
	}
	snprintf(detail, n, "connected to %s", endpoint(r, ep, sizeof(ep)));
	return HEALTH_UP;
}

static int def(int v, int d)
{
	return v > 0 ? v : d;
}

int store_redis_new(struct ev_loop *loop, const struct store_redis_opts *o,
		    struct store_redis **out)
{
	if (!loop || !o || !out)
		return GW_EINVAL;
	*out = NULL;
	struct store_redis *r = calloc(1, sizeof(*r));
	if (!r)
		return GW_ENOMEM;
	r->loop = loop;
	r->port = def(o->port, 6379);
	r->db = o->db > 0 ? o->db : 0;
	r->command_timeout_ms = def(o->command_timeout_ms, 500);
	r->connect_timeout_ms = def(o->connect_timeout_ms, 1000);
	r->reconnect_min_ms = def(o->reconnect_min_ms, 100);
	r->reconnect_max_ms = def(o->reconnect_max_ms, 5000);
	if (r->reconnect_max_ms < r->reconnect_min_ms)
		r->reconnect_max_ms = r->reconnect_min_ms;
	r->ping_interval_ms = o->ping_interval_ms > 0 ? o->ping_interval_ms : 0;
	r->host = strdup(o->host && *o->host ? o->host : "127.0.0.1");
	r->socket = o->socket && *o->socket ? strdup(o->socket) : NULL;
	r->name = strdup(o->health_name && *o->health_name ? o->health_name : "redis");
	int rc = 0;
	if (!r->host || !r->name || (o->socket && *o->socket && !r->socket)) {
		rc = GW_ENOMEM;
		goto fail;
	}
	if (o->password_file && *o->password_file) {
		rc = secfile_read(o->password_file, &r->password, &r->password_len);
		if (rc) {
			LOGP(DREDIS, LOG_ERROR, "redis %s: password file %s: %s", r->name,
			     o->password_file, gw_strerror(rc));
			goto fail;
		}
	}
	unsigned char addr[sizeof(struct in6_addr)];
	if (!r->socket && inet_pton(AF_INET, r->host, addr) != 1 &&
	    inet_pton(AF_INET6, r->host, addr) != 1)
		LOGP(DREDIS, LOG_WARN,
		     "redis %s: host \"%s\" is a name; hiredis resolves it synchronously, "
		     "blocking the loop at every connect: give an address or a socket",
		     r->name, r->host);
	r->rng = (uint64_t)gw_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)r;
	if (!r->rng)
		r->rng = 1;
	char lbl[128];
	snprintf(lbl, sizeof(lbl), "instance=\"%s\"", r->name);
	r->m_commands = metrics_counter("gw_redis_commands_total", "Redis commands sent", lbl);
	r->m_errors = metrics_counter("gw_redis_errors_total",
				      "Redis commands failed (error reply, disconnect)", lbl);
	r->m_timeouts =
	    metrics_counter("gw_redis_timeouts_total", "Redis commands past their deadline", lbl);
	r->m_reconnects =
	    metrics_counter("gw_redis_reconnects_total", "Redis reconnect attempts", lbl);
	r->m_latency = metrics_histogram("gw_redis_latency_seconds", "Redis command latency", lbl,
					 metrics_latency_buckets, metrics_latency_buckets_n);
	if (!r->m_commands || !r->m_errors || !r->m_timeouts || !r->m_reconnects || !r->m_latency) {
		rc = GW_ENOMEM;
		goto fail;
	}
	rc = health_register(r->name, HEALTH_REQUIRED, health_probe, r);
	if (rc)
		goto fail;
	ev_init(&r->connect_timer, connect_timeout_cb);
	r->connect_timer.data = r;
	ev_init(&r->reconnect_timer, reconnect_cb);
	r->reconnect_timer.data = r;
	ev_init(&r->ping_timer, ping_cb);
	r->ping_timer.data = r;
	snprintf(r->last_error, sizeof(r->last_error), "connecting");
	start_connect(r);
	*out = r;
	return 0;
fail:
	if (r->password)
		secfile_free(r->password, r->password_len);
	free(r->host);
	free(r->socket);
	free(r->name);
	free(r);
	return rc;
}

void store_redis_free(struct store_redis *r)
{
	if (!r)
		return;
	GW_BUG_ON(r->in_callback);
	r->freeing = true;
	ev_timer_stop(r->loop, &r->connect_timer);
	ev_timer_stop(r->loop, &r->reconnect_timer);
	ev_timer_stop(r->loop, &r->ping_timer);
	if (r->ac) {
		redisAsyncContext *ac = r->ac;
		r->ac = NULL;
		redisAsyncFree(ac); /* answers every queued command with NULL -> GW_ECANCELED */
	}
	while (r->cmds) {
		struct redis_cmd *c = r->cmds;
		GW_BUG_ON(c->in_hiredis);
		c->in_hiredis = false;
		if (!c->delivered)
			cmd_deliver(c, GW_ECANCELED, NULL);
		cmd_maybe_free(c);
	}
	health_unregister(r->name);
	if (r->password)
		secfile_free(r->password, r->password_len);
	free(r->host);
	free(r->socket);
	free(r->name);
	free(r);
}

bool store_redis_connected(const struct store_redis *r)
{
	return r && r->state == RS_UP;
}

size_t store_redis_pending(const struct store_redis *r)
{
	return r ? r->pending : 0;
}

unsigned store_redis_connects(const struct store_redis *r)
{
	return r ? r->connects : 0;
}

/* ---- configuration and the daemon service ---- */

void store_redis_opts_from_cfg(const struct cfg *c, struct store_redis_opts *o)
{
	json_t *r = cfg_root(c);
	const char *pw = cfg_str(r, "redis.password_file");
	*o = (struct store_redis_opts){
	    .host = cfg_str(r, "redis.host"),
	    .port = (int)cfg_int(r, "redis.port"),
	    .socket = cfg_str(r, "redis.socket"),
	    .password_file = pw && *pw ? pw : NULL,
	    .db = (int)cfg_int(r, "redis.db"),
	    .command_timeout_ms = (int)cfg_int(r, "redis.command_timeout_ms"),
	    .connect_timeout_ms = (int)cfg_int(r, "redis.connect_timeout_ms"),
	    .reconnect_min_ms = (int)cfg_int(r, "redis.reconnect_min_ms"),
	    .reconnect_max_ms = (int)cfg_int(r, "redis.reconnect_max_ms"),
	};
}

void store_redis_reload(struct store_redis *r, const struct store_redis_opts *o)
{
	r->command_timeout_ms = def(o->command_timeout_ms, r->command_timeout_ms);
	r->connect_timeout_ms = def(o->connect_timeout_ms, r->connect_timeout_ms);
	r->reconnect_min_ms = def(o->reconnect_min_ms, r->reconnect_min_ms);
	r->reconnect_max_ms = def(o->reconnect_max_ms, r->reconnect_max_ms);
	if (r->reconnect_max_ms < r->reconnect_min_ms)
		r->reconnect_max_ms = r->reconnect_min_ms;
	int ping = o->ping_interval_ms > 0 ? o->ping_interval_ms : 0;
	if (ping != r->ping_interval_ms) {
		r->ping_interval_ms = ping;
		ev_timer_stop(r->loop, &r->ping_timer);
		r->ping_ok = true;
		if (ping && r->state == RS_UP) {
			ev_timer_set(&r->ping_timer, ping / 1000.0, ping / 1000.0);
			ev_timer_start(r->loop, &r->ping_timer);
		}
	}
}

static int svc_start(struct gw_node *node, void **state)
{
	struct store_redis_opts o;
	store_redis_opts_from_cfg(node->cfg, &o);
	struct store_redis *r;
	int rc = store_redis_new(node->loop, &o, &r);
	if (rc)
		return rc;
	*state = r;
	return 0;
}

static void svc_stop(struct gw_node *node, void *state)
{
	(void)node;
	store_redis_free(state);
}

static void svc_reload(struct gw_node *node, void *state, const struct cfg *newcfg)
{
	(void)node;
	struct store_redis_opts o;
	store_redis_opts_from_cfg(newcfg, &o);
	store_redis_reload(state, &o);
}

const struct gw_service store_redis_service = {
    .name = "redis",
    .start = svc_start,
    .stop = svc_stop,
    .reload = svc_reload,
};
