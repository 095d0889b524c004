/* Outbound HTTP: libcurl multi driven by the libev loop.
 *
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when
 * to wake it up (CURLMOPT_TIMERFUNCTION); we keep one ev_io per socket and
 * one ev_timer per client and hand every event back with
 * curl_multi_socket_action(). Finished transfers are collected with
 * curl_multi_info_read() after curl has returned, so a user callback never
 * runs inside one of curl's callbacks, and the handle is freed only after
 * the user callback returned.
 *
 * This file is the only place that knows both libev and libcurl.
 */
#include "ussdgw/http_client.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <ev.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"

#define HTTP_CLIENT_MAX_GOT_HEADERS 32

struct http_client {
	struct ev_loop *loop;
	CURLM *multi;
	ev_timer timer;
	struct http_call *calls;
	size_t n_calls;
	size_t body_cap;
	bool allow_insecure_loopback;
	char *ca_file;
	unsigned dispatching;
	bool free_requested;
};

struct sock_ctx {
	ev_io io;
	curl_socket_t fd;
	struct http_client *c;
};

struct http_call {
	struct http_client *c;
	CURL *easy;
	struct curl_slist *hdrs;
	http_done_cb cb;
	void *cls;
	char *body;
	size_t body_len;
	size_t body_alloc;
	size_t cap;
	bool over_cap;
	char **want;
	size_t n_want;
	struct http_header got[HTTP_CLIENT_MAX_GOT_HEADERS];
	size_t n_got;
	char errbuf[CURL_ERROR_SIZE];
	struct http_call *prev, *next;
};

static unsigned curl_users;

/* ---- curl -> libev --------------------------------------------------- */

static void check_done(struct http_client *c);

static void sock_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sock_ctx *sc = w->data;
	struct http_client *c = sc->c;
	int flags = ((revents & EV_READ) ? CURL_CSELECT_IN : 0) |
		    ((revents & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	int running;
	/* May free sc (CURL_POLL_REMOVE): do not touch it afterwards. */
	curl_multi_socket_action(c->multi, sc->fd, flags, &running);
	check_done(c);
}

static void timer_ev_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_client *c = w->data;
	int running;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct http_client *c = userp;
	struct sock_ctx *sc = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (sc) {
			ev_io_stop(c->loop, &sc->io);
			curl_multi_assign(c->multi, s, NULL);
			free(sc);
		}
		return 0;
	}
	if (!sc) {
		sc = calloc(1, sizeof(*sc));
		if (!sc)
			return -1;
		sc->c = c;
		sc->fd = s;
		ev_init(&sc->io, sock_io_cb);
		sc->io.data = sc;
		curl_multi_assign(c->multi, s, sc);
	}
	int events =
	    ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	ev_io_stop(c->loop, &sc->io);
	ev_io_set(&sc->io, s, events);
	ev_io_start(c->loop, &sc->io);
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;
	ev_timer_stop(c->loop, &c->timer);
	if (timeout_ms >= 0) {
		/* 0 means "as soon as possible": the next loop iteration, never
		 * from inside this callback. */
		ev_timer_set(&c->timer, (double)timeout_ms / 1000.0, 0.);
		ev_timer_start(c->loop, &c->timer);
	}
	return 0;
}

/* ---- per-call data callbacks ----------------------------------------- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct http_call *h = userdata;
	size_t n = size * nmemb;
	if (n > h->cap - h->body_len) {
		h->over_cap = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (h->body_len + n + 1 > h->body_alloc) {
		size_t na = h->body_alloc ? h->body_alloc : 4096;
		while (na < h->body_len + n + 1)
			na *= 2;
		char *nb = realloc(h->body, na);
		if (!nb)
			return 0;
		h->body = nb;
		h->body_alloc = na;
	}
	memcpy(h->body + h->body_len, ptr, n);
	h->body_len += n;
	h->body[h->body_len] = '\0';
	return n;
}

static void got_headers_clear(struct http_call *h)
{
	for (size_t i = 0; i < h->n_got; i++)
		free((char *)h->got[i].value);
	h->n_got = 0;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct http_call *h = userdata;
	size_t n = size * nitems;
	/* A new status line (after 1xx or a proxy's CONNECT) starts over. */
	if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		got_headers_clear(h);
		return n;
	}
	const char *colon = memchr(buf, ':', n);
	if (!colon)
		return n;
	size_t nl = (size_t)(colon - buf);
	for (size_t i = 0; i < h->n_want; i++) {
		if (strlen(h->want[i]) != nl || strncasecmp(h->want[i], buf, nl) != 0)
			continue;
		if (h->n_got == HTTP_CLIENT_MAX_GOT_HEADERS)
			break;
		const char *v = colon + 1;
		const char *end = buf + n;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
			end--;
		char *val = strndup(v, (size_t)(end - v));
		if (!val)
			return 0;
		h->got[h->n_got].name = h->want[i];
		h->got[h->n_got].value = val;
		h->n_got++;
		break;
	}
	return n;
}

/* ---- completion ------------------------------------------------------ */

static void call_unlink(struct http_call *h)
{
	struct http_client *c = h->c;
	if (h->prev)
		h->prev->next = h->next;
	else
		c->calls = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->prev = h->next = NULL;
	c->n_calls--;
}

static void call_free(struct http_call *h)
{
	if (h->easy)
		curl_easy_cleanup(h->easy);
	curl_slist_free_all(h->hdrs);
	got_headers_clear(h);
	for (size_t i = 0; i < h->n_want; i++)
		free(h->want[i]);
	free(h->want);
	free(h->body);
	free(h);
}

static int map_curl_error(struct http_call *h, CURLcode rc)
{
	long os_errno = 0;
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		return h->over_cap || rc == CURLE_FILESIZE_EXCEEDED ? GW_EMSGSIZE : GW_ENOMEM;
	case CURLE_OPERATION_TIMEDOUT:
		return GW_ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(h->easy, CURLINFO_OS_ERRNO, &os_errno);
		return os_errno == ECONNREFUSED ? GW_ECONNREFUSED : GW_EIO;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_USE_SSL_FAILED:
		return GW_ECRYPTO;
	case CURLE_OUT_OF_MEMORY:
		return GW_ENOMEM;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return GW_EINVAL;
	default:
		return GW_EIO;
	}
}

static void finish(struct http_call *h, CURLcode rc, int force_err)
{
	struct http_client *c = h->c;
	struct http_result res = {0};
	res.err = force_err ? force_err : map_curl_error(h, rc);
	curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &res.status);
	curl_easy_getinfo(h->easy, CURLINFO_TOTAL_TIME, &res.total_s);
	res.body = h->body ? h->body : "";
	res.body_len = h->body_len;
	res.headers = h->got;
	res.n_headers = h->n_got;
	res.errtext = force_err ? gw_strerror(force_err) : h->errbuf;
	if (res.err && !res.errtext[0])
		res.errtext = curl_easy_strerror(rc);
	curl_multi_remove_handle(c->multi, h->easy);
	call_unlink(h);
	if (res.err)
		LOGP(DHTTP, LOG_INFO, "http client: request failed: %s (%s)", gw_errname(res.err),
		     res.errtext);
	c->dispatching++;
	h->cb(h->cls, &res);
	c->dispatching--;
	call_free(h);
}

static void client_destroy(struct http_client *c);

static void check_done(struct http_client *c)
{
	CURLMsg *msg;
	int left;
	c->dispatching++;
	while (!c->free_requested && (msg = curl_multi_info_read(c->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;
		struct http_call *h = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&h);
		finish(h, rc, 0);
	}
	c->dispatching--;
	if (c->free_requested && !c->dispatching)
		client_destroy(c);
}

/* ---- API ------------------------------------------------------------- */

bool http_client_async_dns(const char **resolver)
{
	const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
	bool async = (vi->features & CURL_VERSION_ASYNCHDNS) != 0;
	if (resolver)
		*resolver = !async ? "blocking" : vi->ares ? "c-ares" : "threaded";
	return async;
}

struct http_client *http_client_new(struct ev_loop *loop, const struct http_client_config *cfg)
{
	static const struct http_client_config defaults;
	if (!cfg)
		cfg = &defaults;
	if (curl_users++ == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		curl_users--;
		return NULL;
	}
	struct http_client *c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->loop = loop;
	c->body_cap = cfg->body_cap ? cfg->body_cap : 1024 * 1024;
	c->allow_insecure_loopback = cfg->allow_insecure_loopback;
	if (cfg->ca_file && !(c->ca_file = strdup(cfg->ca_file)))
		goto fail;
	c->multi = curl_multi_init();
	if (!c->multi)
		goto fail;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
			  (long)(cfg->max_connections ? cfg->max_connections : 64));
	ev_init(&c->timer, timer_ev_cb);
	c->timer.data = c;
	const char *resolver;
	bool async = http_client_async_dns(&resolver);
	LOGP(DHTTP, async ? LOG_DEBUG : LOG_WARN, "http client: libcurl %s, %s resolver",
	     curl_version_info(CURLVERSION_NOW)->version, resolver);
	return c;
fail:
	if (c) {
		free(c->ca_file);
		free(c);
	}
	if (--curl_users == 0)
		curl_global_cleanup();
	return NULL;
}

static void client_destroy(struct http_client *c)
{
	/* In-flight calls end with GW_ESHUTDOWN so their owners drop refs. */
	while (c->calls)
		finish(c->calls, CURLE_OK, GW_ESHUTDOWN);
	ev_timer_stop(c->loop, &c->timer);
	curl_multi_cleanup(c->multi);
	free(c->ca_file);
	free(c);
	if (--curl_users == 0)
		curl_global_cleanup();
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	if (c->dispatching) {
		c->free_requested = true;
		return;
	}
	client_destroy(c);
}

size_t http_client_pending(const struct http_client *c)
{
	return c->n_calls;
}

static bool has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool token_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

/* Scheme must be http(s); reports whether the host is a loopback name. */
static int check_url(const char *url, bool *loopback)
{
	CURLU *u = curl_url();
	if (!u)
		return GW_ENOMEM;
	char *scheme = NULL, *host = NULL;
	int rc = GW_EINVAL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0)) {
		*loopback = strcmp(host, "127.0.0.1") == 0 || strcmp(host, "[::1]") == 0 ||
			    strcasecmp(host, "localhost") == 0;
		rc = 0;
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

struct http_call *http_client_request(struct http_client *c, const struct http_request *req,
				      http_done_cb cb, void *cls)
{
	bool loopback = false;
	if (!c || !req || !req->url || !cb || c->free_requested) {
		LOGP(DHTTP, LOG_ERROR, "http client: request without client, URL or callback");
		return NULL;
	}
	int rc = check_url(req->url, &loopback);
	if (rc) {
		LOGP(DHTTP, LOG_ERROR, "http client: not an http(s) URL");
		return NULL;
	}
	const char *method = req->method ? req->method : req->body_len ? "POST" : "GET";
	if (!token_ok(method)) {
		LOGP(DHTTP, LOG_ERROR, "http client: bad method");
		return NULL;
	}

	struct http_call *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->c = c;
	h->cb = cb;
	h->cls = cls;
	h->cap = req->body_cap ? req->body_cap : c->body_cap;
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *hd = &req->headers[i];
		if (!token_ok(hd->name) || has_ctl(hd->value)) {
			LOGP(DHTTP, LOG_ERROR, "http client: bad request header");
			goto fail;
		}
		char *line;
		if (asprintf(&line, "%s: %s", hd->name, hd->value) < 0)
			goto fail;
		struct curl_slist *nl = curl_slist_append(h->hdrs, line);
		free(line);
		if (!nl)
			goto fail;
		h->hdrs = nl;
	}
	/* An empty "Expect:" stops curl from sending Expect: 100-continue. */
	struct curl_slist *nl = curl_slist_append(h->hdrs, "Expect:");
	if (!nl)
		goto fail;
	h->hdrs = nl;
	if (req->n_want_headers) {
		h->want = calloc(req->n_want_headers, sizeof(char *));
		if (!h->want)
			goto fail;
		for (size_t i = 0; i < req->n_want_headers; i++) {
			if (!(h->want[i] = strdup(req->want_headers[i])))
				goto fail;
			h->n_want++;
		}
	}

	CURL *e = h->easy = curl_easy_init();
	if (!e)
		goto fail;
	curl_easy_setopt(e, CURLOPT_PRIVATE, h);
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms ? req->timeout_ms : 30000));
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(req->connect_timeout_ms ? req->connect_timeout_ms : 10000));
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->cap);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "ussdgw/" GW_VERSION);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (req->insecure_loopback) {
		if (loopback && c->allow_insecure_loopback) {
			curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
			curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
		} else {
			LOGP(
			    DHTTP, LOG_NOTICE,
			    "http client: TLS verification stays on (not loopback or not allowed)");
		}
	}
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body_len ? req->body : "");
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	}
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
		goto fail;
	h->next = c->calls;
	if (h->next)
		h->next->prev = h;
	c->calls = h;
	c->n_calls++;
	return h;
fail:
	call_free(h);
	return NULL;
}

void http_client_cancel(struct http_call *h)
{
	if (!h)
		return;
	curl_multi_remove_handle(h->c->multi, h->easy);
	call_unlink(h);
	call_free(h);
}
