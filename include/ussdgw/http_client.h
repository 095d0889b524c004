/** @file
 * Outbound HTTP: the one libcurl-multi adapter on the node's libev loop,
 * used by provider clients, menu HTTP actions and outgoing webhooks.
 *
 * Contract (handle + callback-once + cancel):
 *  - http_client_request() returns a handle, or NULL with nothing scheduled;
 *    it never calls the callback from inside itself.
 *  - The callback runs exactly once, from a loop callback, unless the call is
 *    cancelled first with http_client_cancel(); after a cancel it never runs.
 *  - The handle is freed by the adapter after the callback returns; it must
 *    not be used (nor cancelled) from then on, nor inside the callback.
 *  - The result and everything it points to are valid only during the
 *    callback.
 *
 * Safety defaults: TLS peer and host verification are always on, except for
 * loopback hosts (127.0.0.1, ::1, localhost) when the client was created with
 * allow_insecure_loopback and the request asks for it. Only http and https,
 * no redirects, no `Expect: 100-continue`, DNS resolved off the loop thread
 * (libcurl's threaded resolver), no signals.
 */
#ifndef USSDGW_HTTP_CLIENT_H
#define USSDGW_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct http_client;
struct http_call;

/** A header name and value (both borrowed). */
struct http_header {
	const char *name;
	const char *value;
};

/** Client settings. */
struct http_client_config {
	/** Default response body cap in bytes when a request sets none (0: 1 MiB). */
	size_t body_cap;
	/** Maximum connections open at once across hosts (0: 64). */
	unsigned max_connections;
	/**
	 * Let requests to loopback hosts turn TLS verification off (the
	 * emulators in tools/ use self-signed certificates). Off in production.
	 */
	bool allow_insecure_loopback;
	/** CA bundle file; NULL: the system default. */
	const char *ca_file;
};

/** One request. Everything is copied by http_client_request(). */
struct http_request {
	/** "GET", "POST", "PUT", "DELETE", "PATCH" (NULL: GET, or POST with a body). */
	const char *method;
	/** Absolute http:// or https:// URL. */
	const char *url;
	const struct http_header *headers;
	size_t n_headers;
	const void *body;
	size_t body_len;
	/** Whole-request deadline in ms (0: 30000). */
	unsigned timeout_ms;
	/** Connect deadline in ms, DNS and TLS handshake included (0: 10000). */
	unsigned connect_timeout_ms;
	/** Response body cap in bytes (0: the client's default); over it: GW_EMSGSIZE. */
	size_t body_cap;
	/** Response headers to report (case-insensitive names); others are dropped. */
	const char *const *want_headers;
	size_t n_want_headers;
	/** Ask for no TLS verification; honoured for loopback hosts only (see config). */
	bool insecure_loopback;
};

/** What came back. Valid only during the callback. */
struct http_result {
	/**
	 * 0 when an HTTP response arrived (whatever its status), else a GW_E*
	 * code: GW_ETIMEDOUT, GW_ECONNREFUSED, GW_EMSGSIZE (body over the cap),
	 * GW_ECRYPTO (TLS handshake or verification), GW_EIO (DNS, reset, other),
	 * GW_ESHUTDOWN (client freed while the call was in flight).
	 */
	int err;
	/** HTTP status, 0 when no response arrived. */
	long status;
	/** Response body (NUL-terminated, terminator not counted); never NULL. */
	const char *body;
	size_t body_len;
	/** Wanted headers that were present, in response order. */
	const struct http_header *headers;
	size_t n_headers;
	/** Total time in seconds as measured by libcurl. */
	double total_s;
	/** libcurl's error text ("" when none); for logs. */
	const char *errtext;
};

typedef void (*http_done_cb)(void *cls, const struct http_result *res);

/**
 * Create a client on @p loop (borrowed; must outlive it).
 * @return the client (free with http_client_free()) or NULL (GW_ENOMEM, or
 *         libcurl could not be initialised).
 */
struct http_client *http_client_new(struct ev_loop *loop, const struct http_client_config *cfg);

/**
 * Free the client. Calls still in flight complete with GW_ESHUTDOWN (their
 * callbacks run inside this call). Called from a done callback, the free is
 * deferred until that callback returns.
 */
void http_client_free(struct http_client *c);

/**
 * Start a request (the request and its strings are copied).
 * @return the handle, or NULL when nothing was started: the request is
 *         invalid (no or bad URL, a scheme other than http/https, a method or
 *         header with control characters) or memory ran out. The reason is
 *         logged; no callback follows a NULL.
 */
struct http_call *http_client_request(struct http_client *c, const struct http_request *req,
				      http_done_cb cb, void *cls);

/** Cancel @p h: the callback will not run; the handle is freed. */
void http_client_cancel(struct http_call *h);

/** @return the number of calls in flight. */
size_t http_client_pending(const struct http_client *c);

/**
 * @return true when libcurl resolves names asynchronously; @p resolver
 * (may be NULL) receives "threaded", "c-ares" or "blocking".
 */
bool http_client_async_dns(const char **resolver);

#endif
