/** @file
 * Provider callbacks on the public listener: `/callbacks/{provider}/{token}`
 * (POST and GET) dispatched to the handler a payment provider module
 * registered under its name. The token is the per-payment secret the gateway
 * handed to the provider; the provider module resolves it.
 *
 * Unknown providers, malformed tokens and tokens the handler does not know
 * all get the same 404 problem, so the answer does not tell which part was
 * wrong. The registry is process-wide (one per node), like health.h.
 */
#ifndef USSDGW_HTTP_CALLBACKS_H
#define USSDGW_HTTP_CALLBACKS_H

#include <stddef.h>

struct http_req;
struct http_server;

/** Longest token accepted (characters); shorter than 16 is rejected too. */
#define HTTP_CALLBACK_TOKEN_MAX 128
#define HTTP_CALLBACK_TOKEN_MIN 16

/**
 * A provider's callback handler. @p token is the path's token segment
 * (only [A-Za-z0-9_-], HTTP_CALLBACK_TOKEN_MIN..MAX characters), valid as
 * long as @p req. The raw body is http_req_body(req).
 * @return 0 when the handler answered or will answer @p req (async: see
 *         http_server.h); GW_ENOENT for an unknown token (the dispatcher
 *         answers 404); another GW_E* code: the dispatcher answers that
 *         problem. On a non-zero return the handler must not have answered.
 */
typedef int (*http_callback_fn)(struct http_req *req, const char *token, void *cls);

/**
 * Register @p fn for @p provider (copied; [a-z0-9_-], 1..32 characters).
 * @return 0, GW_EINVAL, GW_EEXIST or GW_ENOMEM.
 */
int http_register_callback_handler(const char *provider, http_callback_fn fn, void *cls);
/** Remove @p provider's handler (no-op if absent). */
void http_unregister_callback_handler(const char *provider);
/** Drop every handler (tests, shutdown). */
void http_callbacks_reset(void);

/** Register the callback routes on @p srv (the public listener). @return 0 or GW_E*. */
int http_callbacks_mount(struct http_server *srv);

#endif
