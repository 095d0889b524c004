/** @file
 * JSON request bodies through declarative spec tables (jansson): one parse
 * call per request, strict by default.
 *
 *  - The document must be one JSON object; every key must appear in the
 *    spec (unknown fields are rejected), duplicate keys are rejected, and a
 *    non-optional field must be present.
 *  - Size and nesting depth are checked before jansson parses anything.
 *  - Money is an integer number of minor units (HTTP_JSON_AMOUNT) plus an
 *    ISO 4217 code (HTTP_JSON_CURRENCY); a JSON real (`1.5`, `1e2`, `100.0`)
 *    is refused, never rounded.
 *
 * Ownership: strings and json_t pointers written to the destinations are
 * borrowed from the parsed document. With http_json_parse() the caller owns
 * the document (json_decref() it when done); with http_parse_json_body() the
 * request owns it and it lives as long as the request.
 */
#ifndef USSDGW_HTTP_JSON_H
#define USSDGW_HTTP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct http_req;

enum http_json_type {
	HTTP_JSON_T_STRING,   /**< dest: const char ** (borrowed), at most max_len bytes */
	HTTP_JSON_T_INT,      /**< dest: int64_t *, within [min, max] */
	HTTP_JSON_T_BOOL,     /**< dest: bool * */
	HTTP_JSON_T_AMOUNT,   /**< dest: int64_t * minor units, a JSON integer within [min, max] */
	HTTP_JSON_T_CURRENCY, /**< dest: char[4], three upper-case letters (ISO 4217) */
	HTTP_JSON_T_OBJECT,   /**< nested object checked strictly against @ref sub; dest unused */
	HTTP_JSON_T_ANY,      /**< dest: json_t ** (borrowed), any value; no strictness inside */
};

/** One field of a spec table; a table ends with HTTP_JSON_END. */
struct http_json_spec {
	const char *field;
	enum http_json_type type;
	void *dest;
	/** Absent is fine (dest left untouched; see @ref present). */
	bool optional;
	/** STRING: maximum length in bytes (0: 1024). */
	size_t max_len;
	/** INT / AMOUNT range; both 0 means INT64 range for INT, [0, INT64_MAX] for AMOUNT. */
	int64_t min, max;
	/** OBJECT: the nested table. */
	const struct http_json_spec *sub;
	/** Set to whether the field was present (may be NULL). */
	bool *present;
};

#define HTTP_JSON_STRING(name, dst, maxlen)                                          \
	{ .field = (name), .type = HTTP_JSON_T_STRING, .dest = (dst), .max_len = (maxlen) }
#define HTTP_JSON_INT(name, dst, lo, hi)                                             \
	{ .field = (name), .type = HTTP_JSON_T_INT, .dest = (dst), .min = (lo), .max = (hi) }
#define HTTP_JSON_BOOL(name, dst) { .field = (name), .type = HTTP_JSON_T_BOOL, .dest = (dst) }
#define HTTP_JSON_AMOUNT(name, dst) { .field = (name), .type = HTTP_JSON_T_AMOUNT, .dest = (dst) }
#define HTTP_JSON_CURRENCY(name, dst)                                                \
	{ .field = (name), .type = HTTP_JSON_T_CURRENCY, .dest = (dst) }
#define HTTP_JSON_OBJECT(name, subspec)                                              \
	{ .field = (name), .type = HTTP_JSON_T_OBJECT, .sub = (subspec) }
#define HTTP_JSON_ANY(name, dst) { .field = (name), .type = HTTP_JSON_T_ANY, .dest = (dst) }
#define HTTP_JSON_END { .field = NULL }

/** Caps on the raw body. */
struct http_json_limits {
	/** Bytes (0: 64 KiB). */
	size_t max_bytes;
	/** Nesting depth of objects and arrays, top level = 1 (0: 8). */
	unsigned max_depth;
};

/**
 * Parse @p buf against @p spec (a pure function: no I/O, no logging).
 * @param[out] root_out the document on success (caller json_decref()s it);
 *             NULL on failure
 * @param[out] err a one-line reason naming the field, safe to show a client
 *             (never echoes values); may be NULL
 * @return 0; GW_EMSGSIZE over max_bytes; GW_EPROTO_MALFORMED not JSON, not an
 *         object, or nested too deep; GW_EINVAL unknown, missing, mistyped or
 *         out-of-range field. On failure the destinations are unspecified.
 */
int http_json_parse(const char *buf, size_t len, const struct http_json_spec *spec,
		    const struct http_json_limits *lim, json_t **root_out, char *err,
		    size_t errsz);

/**
 * Parse @p req's body against @p spec. Requires Content-Type
 * application/json. On failure the request has been answered with a problem
 * (400 malformed / invalid-argument, 413, 415) and the code is returned, so a
 * handler just returns: `if (http_parse_json_body(req, spec, NULL)) return;`
 * @param lim NULL: defaults (the listener's body limit still applies first).
 * @return 0 or the GW_E* code already answered.
 */
int http_parse_json_body(struct http_req *req, const struct http_json_spec *spec,
			 const struct http_json_limits *lim);

/** Answer @p req with @p status and @p body serialised (the reference is stolen). */
int http_reply_json(struct http_req *req, unsigned status, json_t *body);

#endif
