/* Inbound HTTP on libmicrohttpd, driven from the libev loop.
 *
 * Why epoll mode and not MHD_get_fdset(): MHD_USE_EPOLL without an internal
 * thread gives one epoll descriptor that stands for the listen socket and
 * every connection. The loop watches that one fd with a single ev_io and runs
 * MHD_run() when it becomes readable or when the ev_timer armed from
 * MHD_get_timeout() fires. The fdset mode would need select()'s FD_SETSIZE
 * limit (1024) and a rebuild of per-connection watchers after every run.
 * MHD's epoll set is edge-triggered per connection; work left over after a
 * run shows up as a zero timeout, so the timer is re-armed after every run.
 *
 * This file is the only place in src/http/ that knows libev.
 */
#include "ussdgw/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>
#include <microhttpd.h>

#include "ussdgw/clock.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"

#define HTTP_MAX_SEGS 16
/* Bytes of a chunked body past the limit that are drained (and dropped) to
 * be able to answer 413; past this the connection is just closed. */
#define HTTP_DRAIN_MAX (256 * 1024)

struct route {
	char *method;
	char *pattern;
	char *segbuf;
	const char *segs[HTTP_MAX_SEGS];
	size_t nsegs;
	http_handler_fn fn;
	void *cls;
	struct metric *latency;
	struct route *next;
};

struct reply_hdr {
	char *name;
	char *value;
	struct reply_hdr *next;
};

struct deferred_free {
	void *p;
	void (*fn)(void *);
	struct deferred_free *next;
};

struct http_server {
	struct ev_loop *loop;
	struct MHD_Daemon *mhd;
	ev_io io;
	ev_timer timer;
	char *name;
	size_t body_limit;
	unsigned handler_timeout_ms;
	uint16_t port;
	struct route *routes;
	struct route **routes_tail;
	struct http_req *pending; /* suspended requests (doubly linked) */
	char *tls_cert;
	char *tls_key;
	struct metric *unmatched_latency;
};

struct http_req {
	struct http_server *srv;
	struct MHD_Connection *conn;
	char *method;
	char *path;
	const struct route *route;
	char *segbuf;
	const char *segs[HTTP_MAX_SEGS];
	size_t nsegs;
	char *body;
	size_t body_len;
	size_t body_cap;
	size_t drained;
	bool too_large;
	bool dispatched;
	bool in_handler;
	bool suspended;
	bool answered;
	struct MHD_Response *resp;
	unsigned status;
	struct reply_hdr *hdrs;
	http_abort_fn abort_fn;
	void *abort_cls;
	void *data;
	void (*data_free)(void *);
	struct deferred_free *deferred;
	ev_timer deadline;
	uint64_t start_ns;
	char remote[INET6_ADDRSTRLEN];
	struct http_req *prev, *next;
};

static const char empty_body[1] = "";

/* ---- loop driving ---------------------------------------------------- */

static void srv_schedule(struct http_server *srv)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;
	ev_timer_stop(srv->loop, &srv->timer);
	if (MHD_get_timeout(srv->mhd, &ms) != MHD_YES)
		return;
	ev_timer_set(&srv->timer, (double)ms / 1000.0, 0.);
	ev_timer_start(srv->loop, &srv->timer);
}

static void srv_run(struct http_server *srv)
{
	MHD_run(srv->mhd);
	srv_schedule(srv);
}

static void srv_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	srv_run(w->data);
}

static void srv_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	srv_run(w->data);
}

/* Make the next loop iteration run MHD (after a resume). */
static void srv_kick(struct http_server *srv)
{
	ev_timer_stop(srv->loop, &srv->timer);
	ev_timer_set(&srv->timer, 0., 0.);
	ev_timer_start(srv->loop, &srv->timer);
}

/* ---- routes ---------------------------------------------------------- */

static size_t split_path(char *buf, const char **segs)
{
	size_t n = 0;
	char *p = buf;
	if (*p == '/')
		p++;
	if (!*p)
		return 0;
	for (;;) {
		if (n == HTTP_MAX_SEGS)
			return HTTP_MAX_SEGS + 1;
		segs[n++] = p;
		char *slash = strchr(p, '/');
		if (!slash)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	return n;
}

static bool seg_is_param(const char *s)
{
	size_t n = strlen(s);
	return n >= 3 && s[0] == '{' && s[n - 1] == '}';
}

static bool pattern_valid(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *c = p; *c; c++)
		if (*c == '"' || *c == '\\' || *c == '?' || *c == '#' || (unsigned char)*c < 0x21 ||
		    (unsigned char)*c > 0x7e)
			return false;
	return true;
}

int http_server_route(struct http_server *srv, const char *method, const char *pattern,
		      http_handler_fn fn, void *cls)
{
	if (!method || !pattern || !fn || !pattern_valid(pattern))
		return GW_EINVAL;
	for (struct route *r = srv->routes; r; r = r->next)
		if (strcmp(r->method, method) == 0 && strcmp(r->pattern, pattern) == 0)
			return GW_EEXIST;
	struct route *r = calloc(1, sizeof(*r));
	if (!r)
		return GW_ENOMEM;
	r->method = strdup(method);
	r->pattern = strdup(pattern);
	r->segbuf = strdup(pattern);
	if (!r->method || !r->pattern || !r->segbuf)
		goto nomem;
	r->nsegs = split_path(r->segbuf, r->segs);
	if (r->nsegs > HTTP_MAX_SEGS) {
		free(r->method);
		free(r->pattern);
		free(r->segbuf);
		free(r);
		return GW_EINVAL;
	}
	for (size_t i = 0; i < r->nsegs; i++) {
		if (!r->segs[i][0] || (strchr(r->segs[i], '{') && !seg_is_param(r->segs[i]))) {
			free(r->method);
			free(r->pattern);
			free(r->segbuf);
			free(r);
			return GW_EINVAL;
		}
	}
	char labels[512];
	snprintf(labels, sizeof(labels), "listener=\"%s\",route=\"%s\"", srv->name, pattern);
	r->latency = metrics_histogram("gw_http_request_duration_seconds",
				       "Time from request headers to response completion", labels,
				       metrics_latency_buckets, metrics_latency_buckets_n);
	r->fn = fn;
	r->cls = cls;
	*srv->routes_tail = r;
	srv->routes_tail = &r->next;
	return 0;
nomem:
	free(r->method);
	free(r->pattern);
	free(r->segbuf);
	free(r);
	return GW_ENOMEM;
}

static bool route_matches_path(const struct route *r, const struct http_req *req)
{
	if (r->nsegs != req->nsegs)
		return false;
	for (size_t i = 0; i < r->nsegs; i++) {
		if (seg_is_param(r->segs[i])) {
			if (!req->segs[i][0])
				return false;
		} else if (strcmp(r->segs[i], req->segs[i]) != 0) {
			return false;
		}
	}
	return true;
}

const char *http_req_param(const struct http_req *req, const char *name)
{
	const struct route *r = req->route;
	if (!r)
		return NULL;
	size_t nl = strlen(name);
	for (size_t i = 0; i < r->nsegs; i++) {
		const char *s = r->segs[i];
		if (seg_is_param(s) && strlen(s) == nl + 2 && strncmp(s + 1, name, nl) == 0)
			return req->segs[i];
	}
	return NULL;
}

/* ---- replies --------------------------------------------------------- */

static void req_unlink_pending(struct http_req *req)
{
	struct http_server *srv = req->srv;
	if (req->prev)
		req->prev->next = req->next;
	else if (srv->pending == req)
		srv->pending = req->next;
	if (req->next)
		req->next->prev = req->prev;
	req->prev = req->next = NULL;
}

static int reply_common(struct http_req *req, unsigned status, const char *content_type, char *body,
			size_t len)
{
	if (req->answered) {
		free(body);
		return GW_EEXIST;
	}
	struct MHD_Response *resp;
	if (body)
		resp = MHD_create_response_from_buffer_with_free_callback(len, body, free);
	else
		resp =
		    MHD_create_response_from_buffer(0, (void *)empty_body, MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(body);
		return GW_ENOMEM;
	}
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	for (struct reply_hdr *h = req->hdrs; h; h = h->next)
		MHD_add_response_header(resp, h->name, h->value);
	req->resp = resp;
	req->status = status;
	req->answered = true;
	if (req->suspended) {
		/* Answered later from a loop callback: hand the connection back
		 * to MHD, which calls the access handler again to queue it. */
		req->suspended = false;
		ev_timer_stop(req->srv->loop, &req->deadline);
		req_unlink_pending(req);
		MHD_resume_connection(req->conn);
		srv_kick(req->srv);
	}
	return 0;
}

int http_reply_take(struct http_req *req, unsigned status, const char *content_type, char *body,
		    size_t len)
{
	return reply_common(req, status, content_type, body, len);
}

int http_reply(struct http_req *req, unsigned status, const char *content_type, const void *body,
	       size_t len)
{
	char *copy = NULL;
	if (len) {
		copy = malloc(len);
		if (!copy)
			return GW_ENOMEM;
		memcpy(copy, body, len);
	}
	return reply_common(req, status, content_type, copy, len);
}

int http_reply_text(struct http_req *req, unsigned status, const char *content_type,
		    const char *text)
{
	return http_reply(req, status, content_type, text, strlen(text));
}

int http_reply_header(struct http_req *req, const char *name, const char *value)
{
	struct reply_hdr *h = calloc(1, sizeof(*h));
	if (!h || !(h->name = strdup(name)) || !(h->value = strdup(value))) {
		if (h)
			free(h->name);
		free(h);
		return GW_ENOMEM;
	}
	h->next = req->hdrs;
	req->hdrs = h;
	return 0;
}

int http_problem_status(struct http_req *req, unsigned status, int code, const char *detail)
{
	char type[128];
	snprintf(type, sizeof(type), "urn:ussdgw:error:%s", gw_errslug(code));
	json_t *o = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", gw_strerror(code),
			      "status", (int)status, "code", gw_errslug(code));
	if (!o)
		return GW_ENOMEM;
	if (detail)
		json_object_set_new(o, "detail", json_string(detail));
	char *txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!txt)
		return GW_ENOMEM;
	return reply_common(req, status, "application/problem+json", txt, strlen(txt));
}

int http_problem(struct http_req *req, int code, const char *detail)
{
	return http_problem_status(req, (unsigned)gw_errhttp(code), code, detail);
}

bool http_req_answered(const struct http_req *req)
{
	return req->answered;
}

/* ---- request object -------------------------------------------------- */

const char *http_req_method(const struct http_req *req)
{
	return req->method;
}

const char *http_req_path(const struct http_req *req)
{
	return req->path;
}

const char *http_req_route(const struct http_req *req)
{
	return req->route ? req->route->pattern : NULL;
}

const char *http_req_header(const struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(const struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_req_body(const struct http_req *req, size_t *len)
{
	if (len)
		*len = req->body_len;
	return req->body ? req->body : empty_body;
}

const char *http_req_remote(const struct http_req *req)
{
	return req->remote;
}

struct http_server *http_req_server(const struct http_req *req)
{
	return req->srv;
}

void http_req_on_abort(struct http_req *req, http_abort_fn fn, void *cls)
{
	req->abort_fn = fn;
	req->abort_cls = cls;
}

void http_req_set_data(struct http_req *req, void *data, void (*free_fn)(void *))
{
	if (req->data && req->data_free)
		req->data_free(req->data);
	req->data = data;
	req->data_free = free_fn;
}

void *http_req_data(const struct http_req *req)
{
	return req->data;
}

int http_req_defer_free(struct http_req *req, void *p, void (*fn)(void *))
{
	struct deferred_free *d = malloc(sizeof(*d));
	if (!d) {
		fn(p);
		return GW_ENOMEM;
	}
	d->p = p;
	d->fn = fn;
	d->next = req->deferred;
	req->deferred = d;
	return 0;
}

static void req_abort(struct http_req *req)
{
	if (req->answered)
		return;
	http_abort_fn fn = req->abort_fn;
	req->abort_fn = NULL;
	if (fn)
		fn(req, req->abort_cls);
}

static void req_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_req *req = w->data;
	LOGP(DHTTP, LOG_NOTICE, "%s: %s %s: handler did not answer within %u ms", req->srv->name,
	     req->method, req->route ? req->route->pattern : "-", req->srv->handler_timeout_ms);
	req_abort(req);
	http_problem(req, GW_ETIMEDOUT, "the request handler did not answer in time");
}

static struct http_req *req_new(struct http_server *srv, struct MHD_Connection *conn,
				const char *url, const char *method)
{
	struct http_req *req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	req->srv = srv;
	req->conn = conn;
	req->start_ns = gw_mono_ns();
	req->method = strdup(method);
	req->path = strdup(url);
	req->segbuf = strdup(url);
	if (!req->method || !req->path || !req->segbuf) {
		free(req->method);
		free(req->path);
		free(req->segbuf);
		free(req);
		return NULL;
	}
	req->nsegs = split_path(req->segbuf, req->segs);
	ev_timer_init(&req->deadline, req_deadline_cb, srv->handler_timeout_ms / 1000.0, 0.);
	req->deadline.data = req;
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(req->remote, sizeof(req->remote), "?");
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET,
				  &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
				  req->remote, sizeof(req->remote));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6,
				  &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
				  req->remote, sizeof(req->remote));
	}
	return req;
}

static void req_free(struct http_req *req)
{
	ev_timer_stop(req->srv->loop, &req->deadline);
	req_unlink_pending(req);
	if (req->resp)
		MHD_destroy_response(req->resp);
	if (req->data && req->data_free)
		req->data_free(req->data);
	while (req->deferred) {
		struct deferred_free *d = req->deferred;
		req->deferred = d->next;
		d->fn(d->p);
		free(d);
	}
	while (req->hdrs) {
		struct reply_hdr *h = req->hdrs;
		req->hdrs = h->next;
		free(h->name);
		free(h->value);
		free(h);
	}
	free(req->body);
	free(req->method);
	free(req->path);
	free(req->segbuf);
	free(req);
}

/* ---- MHD callbacks --------------------------------------------------- */

static enum MHD_Result queue_reply(struct http_req *req)
{
	enum MHD_Result ret = MHD_queue_response(req->conn, req->status, req->resp);
	MHD_destroy_response(req->resp);
	req->resp = NULL;
	return ret;
}

/* Route lookup at header time, so 404/405/413 go out before any body is read. */
static void route_request(struct http_req *req)
{
	struct http_server *srv = req->srv;
	char allow[128] = "";
	size_t alen = 0;
	for (const struct route *r = srv->routes; r; r = r->next) {
		if (!route_matches_path(r, req))
			continue;
		if (strcmp(r->method, req->method) == 0) {
			req->route = r;
			return;
		}
		int n = snprintf(allow + alen, sizeof(allow) - alen, "%s%s", alen ? ", " : "",
				 r->method);
		if (n > 0 && (size_t)n < sizeof(allow) - alen)
			alen += (size_t)n;
	}
	if (alen) {
		http_reply_header(req, MHD_HTTP_HEADER_ALLOW, allow);
		http_problem(req, GW_EMETHOD, NULL);
	} else {
		http_problem(req, GW_ENOENT, "no such resource");
	}
}

static bool content_length_over(struct http_req *req)
{
	const char *cl =
	    MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!cl)
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(cl, &end, 10);
	return errno == ERANGE || v > req->srv->body_limit;
}

static bool body_expected(struct http_req *req)
{
	const char *cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_TRANSFER_ENCODING);
	return te || (cl && strcmp(cl, "0") != 0);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_req *req = *con_cls;

	if (!req) {
		req = req_new(srv, conn, url, method);
		if (!req)
			return MHD_NO;
		*con_cls = req;
		route_request(req);
		if (!req->answered && content_length_over(req)) {
			char d[96];
			snprintf(d, sizeof(d), "the body limit is %zu bytes", srv->body_limit);
			http_problem(req, GW_EMSGSIZE, d);
		}
		/* An early answer makes MHD drop the rest of the request and close
		 * the connection: worth it only when a body is on its way. */
		if (req->resp && body_expected(req))
			return queue_reply(req);
		return req->route || req->resp ? MHD_YES : MHD_NO;
	}

	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (req->too_large) {
			/* Drained and dropped; a body that keeps coming is cut off. */
			req->drained += n;
			return req->drained > HTTP_DRAIN_MAX ? MHD_NO : MHD_YES;
		}
		if (n > srv->body_limit - req->body_len) {
			req->too_large = true;
			free(req->body);
			req->body = NULL;
			req->body_len = req->body_cap = 0;
			req->drained = n;
			return MHD_YES;
		}
		if (req->body_len + n + 1 > req->body_cap) {
			size_t cap = req->body_cap ? req->body_cap : 1024;
			while (cap < req->body_len + n + 1)
				cap *= 2;
			if (cap > srv->body_limit + 1)
				cap = srv->body_limit + 1;
			char *nb = realloc(req->body, cap);
			if (!nb)
				return MHD_NO;
			req->body = nb;
			req->body_cap = cap;
		}
		memcpy(req->body + req->body_len, upload_data, n);
		req->body_len += n;
		req->body[req->body_len] = '\0';
		return MHD_YES;
	}

	if (req->resp)
		return queue_reply(req);
	if (req->too_large) {
		char d[96];
		snprintf(d, sizeof(d), "the body limit is %zu bytes", srv->body_limit);
		http_problem(req, GW_EMSGSIZE, d);
		return queue_reply(req);
	}
	if (req->dispatched)
		return MHD_YES; /* resumed spuriously; nothing to send yet */

	req->dispatched = true;
	req->in_handler = true;
	req->route->fn(req, req->route->cls);
	req->in_handler = false;
	if (req->resp)
		return queue_reply(req);
	/* Asynchronous handler: park the connection until http_reply*(). */
	MHD_suspend_connection(conn);
	req->suspended = true;
	req->next = srv->pending;
	if (req->next)
		req->next->prev = req;
	srv->pending = req;
	ev_timer_start(srv->loop, &req->deadline);
	return MHD_YES;
}

static const char *method_label(const char *m)
{
	static const char *const known[] = {"GET",   "POST", "PUT",    "DELETE",
					    "PATCH", "HEAD", "OPTIONS"};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return known[i];
	return "other";
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_req *req = *con_cls;
	if (!req)
		return;
	*con_cls = NULL;
	req_abort(req);
	double secs = (double)(gw_mono_ns() - req->start_ns) / 1e9;
	const char *route = req->route ? req->route->pattern : "unmatched";
	unsigned status = req->answered ? req->status : 0;
	char labels[512];
	snprintf(labels, sizeof(labels), "listener=\"%s\",route=\"%s\",method=\"%s\",status=\"%u\"",
		 srv->name, route, method_label(req->method), status);
	metric_inc(
	    metrics_counter("gw_http_requests_total", "HTTP requests by route and status", labels));
	metric_observe(req->route ? req->route->latency : srv->unmatched_latency, secs);
	/* The access log names the route pattern, never the raw path or query:
	 * paths carry callback tokens. An unmatched path shows its first
	 * segment only. */
	char shown[64];
	if (req->route) {
		snprintf(shown, sizeof(shown), "%s", req->route->pattern);
	} else {
		size_t first = strcspn(req->path + (req->path[0] == '/'), "/");
		snprintf(shown, sizeof(shown), "/%.*s%s", (int)(first > 32 ? 32 : first),
			 req->path + (req->path[0] == '/'), req->nsegs > 1 ? "/..." : "");
	}
	LOGP(DHTTP, LOG_DEBUG, "%s: %s %s %s -> %u %.3f ms%s", srv->name, req->remote,
	     method_label(req->method), shown, status, secs * 1e3,
	     toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection ended early)");
	req_free(req);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct http_server *srv = cls;
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	LOGP(DHTTP, LOG_INFO, "%s: mhd: %s", srv->name, buf);
}

/* ---- lifecycle ------------------------------------------------------- */

static int parse_bind(const char *addr, uint16_t port, struct sockaddr_storage *ss, bool *is_v6)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*is_v6 = false;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*is_v6 = true;
		return 0;
	}
	return GW_EINVAL;
}

struct http_server *http_server_new(struct ev_loop *loop, const struct http_server_config *cfg,
				    int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	*err = GW_EINVAL;
	struct sockaddr_storage ss;
	bool v6;
	if (!loop || !cfg || !cfg->bind_addr || parse_bind(cfg->bind_addr, cfg->port, &ss, &v6))
		return NULL;
	if (!cfg->tls_cert_pem != !cfg->tls_key_pem)
		return NULL;
	if (cfg->tls_cert_pem && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		*err = GW_ENOTSUP;
		return NULL;
	}

	*err = GW_ENOMEM;
	struct http_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->loop = loop;
	srv->routes_tail = &srv->routes;
	srv->name = strdup(cfg->name ? cfg->name : "http");
	srv->body_limit = cfg->body_limit ? cfg->body_limit : 64 * 1024;
	srv->handler_timeout_ms = cfg->handler_timeout_ms ? cfg->handler_timeout_ms : 30000;
	if (!srv->name)
		goto fail;
	if (cfg->tls_cert_pem) {
		srv->tls_cert = strdup(cfg->tls_cert_pem);
		srv->tls_key = strdup(cfg->tls_key_pem);
		if (!srv->tls_cert || !srv->tls_key)
			goto fail;
	}
	char labels[256];
	snprintf(labels, sizeof(labels), "listener=\"%s\",route=\"unmatched\"", srv->name);
	srv->unmatched_latency = metrics_histogram(
	    "gw_http_request_duration_seconds", "Time from request headers to response completion",
	    labels, metrics_latency_buckets, metrics_latency_buckets_n);

	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	if (srv->tls_cert)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem opts[16];
	size_t n = 0;
	/* The logger goes first so MHD reports option errors through it. */
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, srv};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
					    cfg->conn_limit ? cfg->conn_limit : 256, NULL};
	if (cfg->per_ip_limit)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
						    cfg->per_ip_limit, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
					    cfg->conn_timeout_s ? cfg->conn_timeout_s : 30, NULL};
	opts[n++] =
	    (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv};
	if (srv->tls_cert) {
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert};
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key};
	}
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

	srv->mhd = MHD_start_daemon(flags, cfg->port, NULL, NULL, on_access, srv, MHD_OPTION_ARRAY,
				    opts, MHD_OPTION_END);
	if (!srv->mhd) {
		*err = GW_EIO;
		LOGP(DHTTP, LOG_ERROR, "%s: cannot listen on %s port %u", srv->name, cfg->bind_addr,
		     cfg->port);
		goto fail;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_LISTEN_FD);
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	if (di && getsockname(di->listen_fd, (struct sockaddr *)&bound, &blen) == 0)
		srv->port =
		    ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
						      : ((struct sockaddr_in *)&bound)->sin_port);
	di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!di) {
		*err = GW_EIO;
		goto fail;
	}
	ev_io_init(&srv->io, srv_io_cb, di->epoll_fd, EV_READ);
	srv->io.data = srv;
	ev_io_start(loop, &srv->io);
	ev_init(&srv->timer, srv_timer_cb);
	srv->timer.data = srv;
	srv_schedule(srv);
	LOGP(DHTTP, LOG_INFO, "%s: listening on %s port %u%s", srv->name, cfg->bind_addr, srv->port,
	     srv->tls_cert ? " (TLS)" : "");
	*err = 0;
	return srv;
fail:
	http_server_free(srv);
	return NULL;
}

void http_server_free(struct http_server *srv)
{
	if (!srv)
		return;
	if (srv->mhd) {
		/* MHD must not be stopped with suspended connections: tell each
		 * owner its request is gone, answer 503 (which resumes), give MHD
		 * one run to flush what it can, then stop. */
		while (srv->pending) {
			struct http_req *req = srv->pending;
			req_abort(req);
			if (http_problem(req, GW_ESHUTDOWN, NULL) != 0) {
				req->suspended = false;
				ev_timer_stop(srv->loop, &req->deadline);
				req_unlink_pending(req);
				MHD_resume_connection(req->conn);
			}
		}
		MHD_run(srv->mhd);
		ev_io_stop(srv->loop, &srv->io);
		ev_timer_stop(srv->loop, &srv->timer);
		MHD_stop_daemon(srv->mhd);
	}
	while (srv->routes) {
		struct route *r = srv->routes;
		srv->routes = r->next;
		free(r->method);
		free(r->pattern);
		free(r->segbuf);
		free(r);
	}
	free(srv->tls_cert);
	free(srv->tls_key);
	free(srv->name);
	free(srv);
}

void http_server_quiesce(struct http_server *srv)
{
	MHD_socket fd = MHD_quiesce_daemon(srv->mhd);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	srv_kick(srv);
}

unsigned http_server_connections(const struct http_server *srv)
{
	const union MHD_DaemonInfo *di =
	    MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return di ? di->num_connections : 0;
}

uint16_t http_server_port(const struct http_server *srv)
{
	return srv->port;
}

const char *http_server_name(const struct http_server *srv)
{
	return srv->name;
}
