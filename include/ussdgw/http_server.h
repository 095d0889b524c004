/** @file
 * Inbound HTTP: one listener on libmicrohttpd, driven from the node's libev
 * loop (no thread of its own), with a route table, RFC 7807 problem bodies,
 * per-route metrics and a debug access log.
 *
 * Ownership. A struct http_server owns its MHD daemon, its watchers and every
 * in-flight struct http_req. A request object is created by the server when a
 * request's headers arrive and is freed by the server once the response is
 * sent or the connection dies. A handler either answers inside its call
 * (http_reply() and friends) or returns without answering: the connection is
 * then suspended, and the handler's module answers later from any loop
 * callback. Until it has answered, the module may keep the pointer; it must
 * install an abort hook (http_req_on_abort()) if the request can end without
 * its answer (handler deadline, server shutdown). After http_reply*() returns,
 * @p req must not be touched again.
 *
 * Everything here runs on the loop thread; nothing is thread-safe.
 */
#ifndef USSDGW_HTTP_SERVER_H
#define USSDGW_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct http_server;
/** One inbound request (opaque; see the accessors below). */
struct http_req;

/** Listener settings. Strings are copied by http_server_new(). */
struct http_server_config {
	/** Listener name ("admin", "public"): log prefix and metrics label. */
	const char *name;
	/** Numeric IPv4 or IPv6 address to bind ("127.0.0.1", "::1", "0.0.0.0"). */
	const char *bind_addr;
	/** TCP port; 0 lets the kernel choose (see http_server_port()). */
	uint16_t port;
	/** Maximum concurrent connections (0: 256). */
	unsigned conn_limit;
	/** Maximum concurrent connections from one IP address (0: unlimited). */
	unsigned per_ip_limit;
	/** Idle connection timeout in seconds (0: 30). */
	unsigned conn_timeout_s;
	/** Request body limit in bytes (0: 64 KiB). Larger bodies get 413. */
	size_t body_limit;
	/**
	 * How long a suspended (async) handler may take to answer, in ms
	 * (0: 30000). Past it the server answers 504 itself and calls the
	 * request's abort hook.
	 */
	unsigned handler_timeout_ms;
	/**
	 * PEM certificate chain and private key for HTTPS (MHD's TLS runs on
	 * GnuTLS). Both NULL: plain HTTP. The caller (crypto/) reads the key
	 * directory; the buffers are copied.
	 */
	const char *tls_cert_pem;
	const char *tls_key_pem;
};

/**
 * A route handler. Answer with http_reply*() / http_problem() now, or return
 * without answering and answer later (the connection stays suspended).
 */
typedef void (*http_handler_fn)(struct http_req *req, void *cls);

/** Called at most once when @p req ends before its handler answered. */
typedef void (*http_abort_fn)(struct http_req *req, void *cls);

/**
 * Open a listener on @p loop.
 * @param[in] loop the node's libev loop (borrowed; must outlive the server)
 * @param[in] cfg settings (copied)
 * @param[out] err 0 or a GW_E* code (GW_EINVAL bad address, GW_EIO bind failed)
 * @return the server (caller frees with http_server_free()) or NULL.
 */
struct http_server *http_server_new(struct ev_loop *loop, const struct http_server_config *cfg,
				    int *err);

/**
 * Close the listener: in-flight async requests get their abort hook called
 * and are answered 503; then every connection is closed. NULL is a no-op.
 */
void http_server_free(struct http_server *srv);

/**
 * Stop accepting new connections (close the listen socket); connections
 * already open are served to the end. For draining at shutdown.
 */
void http_server_quiesce(struct http_server *srv);

/** @return the number of open connections (suspended ones included). */
unsigned http_server_connections(const struct http_server *srv);

/** @return the TCP port the listener is bound to (the chosen one for port 0). */
uint16_t http_server_port(const struct http_server *srv);
/** @return the listener's name (as configured). */
const char *http_server_name(const struct http_server *srv);

/**
 * Register a route. @p pattern is an absolute path whose segments are literal
 * or `{name}` (one whole segment, matched non-empty); e.g.
 * `/callbacks/{provider}/{token}`. Routes are tried in registration order; a
 * path that matches some route but not its method gets 405 with Allow.
 * @param[in] method "GET", "POST", ... (copied)
 * @param[in] pattern the path pattern (copied)
 * @return 0, GW_EINVAL for a malformed pattern, GW_EEXIST for a duplicate
 *         method+pattern, GW_ENOMEM.
 */
int http_server_route(struct http_server *srv, const char *method, const char *pattern,
		      http_handler_fn fn, void *cls);

/* Request accessors. Returned strings are owned by the request and valid
 * until it is answered (or aborted). */

const char *http_req_method(const struct http_req *req);
/** Path without the query string, as decoded by MHD. */
const char *http_req_path(const struct http_req *req);
/** The matched route's pattern (e.g. "/callbacks/{provider}/{token}"). */
const char *http_req_route(const struct http_req *req);
/** Value of path parameter @p name, or NULL. */
const char *http_req_param(const struct http_req *req, const char *name);
/** Value of request header @p name (case-insensitive), or NULL. */
const char *http_req_header(const struct http_req *req, const char *name);
/** Value of query argument @p name, or NULL. */
const char *http_req_query(const struct http_req *req, const char *name);
/**
 * Raw body bytes exactly as received (NUL-terminated for convenience, the
 * terminator not counted). Never NULL; @p len may be NULL.
 */
const char *http_req_body(const struct http_req *req, size_t *len);
/** Remote IP address as text ("127.0.0.1", "::1"). */
const char *http_req_remote(const struct http_req *req);
/** The server the request arrived on. */
struct http_server *http_req_server(const struct http_req *req);

/** Install the abort hook (replaces an earlier one). */
void http_req_on_abort(struct http_req *req, http_abort_fn fn, void *cls);

/**
 * Attach user data to the request (e.g. a parsed JSON document) that the
 * server releases with @p free_fn when the request ends.
 */
void http_req_set_data(struct http_req *req, void *data, void (*free_fn)(void *));
void *http_req_data(const struct http_req *req);

/**
 * Have @p fn(@p p) run when the request ends (after the user data is freed;
 * in reverse order of registration). Used for documents that borrowed
 * strings point into. @return 0 or GW_ENOMEM (then @p fn(@p p) ran already).
 */
int http_req_defer_free(struct http_req *req, void *p, void (*fn)(void *));

/**
 * Add a response header for the coming reply (copied). @return 0 or GW_ENOMEM.
 */
int http_reply_header(struct http_req *req, const char *name, const char *value);

/**
 * Answer @p req with @p status, @p content_type (NULL: none) and @p body
 * (copied; may be NULL when @p len is 0). Callable from the handler or later
 * from any loop callback, exactly once.
 * @return 0, GW_EEXIST if already answered, GW_ENOMEM.
 */
int http_reply(struct http_req *req, unsigned status, const char *content_type, const void *body,
	       size_t len);

/** Answer with a malloc'd @p body whose ownership passes to the server. */
int http_reply_take(struct http_req *req, unsigned status, const char *content_type, char *body,
		    size_t len);

/** Answer with a NUL-terminated string body. */
int http_reply_text(struct http_req *req, unsigned status, const char *content_type,
		    const char *text);

/**
 * Answer with an RFC 7807 application/problem+json body:
 * {"type":"urn:ussdgw:error:<slug>","title":<hint>,"status":<http>,
 *  "detail":<detail>,"code":<slug>}, status and texts from the error registry
 * (include/ussdgw/gw_error.h). @p detail may be NULL; it must not carry secrets.
 */
int http_problem(struct http_req *req, int gw_error_code, const char *detail);

/** Like http_problem() with an explicit HTTP status overriding the registry's. */
int http_problem_status(struct http_req *req, unsigned status, int gw_error_code,
			const char *detail);

/** @return true once the request has been answered. */
bool http_req_answered(const struct http_req *req);

#endif
