/* JSON request bodies through spec tables.
 *
 * jansson's json_unpack_ex() with JSON_STRICT checks a format string built at
 * compile time; a spec table is data, so the same checks (every key known,
 * every required key present, exact types) are done here field by field
 * over the parsed object, with our own range, length and money rules. */
#include "ussdgw/http_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/http_server.h"

static void set_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errsz, const char *fmt, ...)
{
	if (!err || !errsz)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

/* Nesting depth of arrays and objects, scanned before parsing so a deep
 * document never reaches the recursive parser. Strings are skipped. */
static unsigned max_nesting(const char *buf, size_t len)
{
	unsigned depth = 0, worst = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > worst)
				worst = depth;
		} else if ((c == '}' || c == ']') && depth) {
			depth--;
		}
	}
	return worst;
}

static const struct http_json_spec *spec_find(const struct http_json_spec *spec, const char *key)
{
	for (; spec->field; spec++)
		if (strcmp(spec->field, key) == 0)
			return spec;
	return NULL;
}

/* Field paths in messages are built from spec names only, never from the
 * client's keys or values. */
static int check_object(json_t *obj, const struct http_json_spec *spec, const char *path, char *err,
			size_t errsz)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		if (!spec_find(spec, key)) {
			set_err(err, errsz, "unknown field in %s", path[0] ? path : "the body");
			return GW_EINVAL;
		}
	}
	for (const struct http_json_spec *s = spec; s->field; s++) {
		char fpath[160];
		snprintf(fpath, sizeof(fpath), "%s%s%s", path, path[0] ? "." : "", s->field);
		v = json_object_get(obj, s->field);
		if (s->present)
			*s->present = v != NULL;
		if (!v) {
			if (s->optional)
				continue;
			set_err(err, errsz, "missing field %s", fpath);
			return GW_EINVAL;
		}
		switch (s->type) {
		case HTTP_JSON_T_STRING: {
			size_t max = s->max_len ? s->max_len : 1024;
			if (!json_is_string(v)) {
				set_err(err, errsz, "%s must be a string", fpath);
				return GW_EINVAL;
			}
			if (json_string_length(v) > max) {
				set_err(err, errsz, "%s is longer than %zu bytes", fpath, max);
				return GW_EINVAL;
			}
			*(const char **)s->dest = json_string_value(v);
			break;
		}
		case HTTP_JSON_T_INT:
		case HTTP_JSON_T_AMOUNT: {
			int64_t lo = s->min, hi = s->max;
			if (!lo && !hi) {
				lo = s->type == HTTP_JSON_T_AMOUNT ? 0 : INT64_MIN;
				hi = INT64_MAX;
			}
			if (!json_is_integer(v)) {
				set_err(err, errsz, "%s must be an integer%s", fpath,
					s->type == HTTP_JSON_T_AMOUNT ? " number of minor units"
								      : "");
				return GW_EINVAL;
			}
			json_int_t n = json_integer_value(v);
			if (n < lo || n > hi) {
				set_err(err, errsz, "%s is out of range", fpath);
				return GW_EINVAL;
			}
			*(int64_t *)s->dest = (int64_t)n;
			break;
		}
		case HTTP_JSON_T_BOOL:
			if (!json_is_boolean(v)) {
				set_err(err, errsz, "%s must be true or false", fpath);
				return GW_EINVAL;
			}
			*(bool *)s->dest = json_is_true(v);
			break;
		case HTTP_JSON_T_CURRENCY: {
			const char *c = json_string_value(v);
			if (!c || json_string_length(v) != 3 || c[0] < 'A' || c[0] > 'Z' ||
			    c[1] < 'A' || c[1] > 'Z' || c[2] < 'A' || c[2] > 'Z') {
				set_err(err, errsz, "%s must be an ISO 4217 currency code", fpath);
				return GW_EINVAL;
			}
			memcpy(s->dest, c, 4);
			break;
		}
		case HTTP_JSON_T_OBJECT: {
			if (!json_is_object(v)) {
				set_err(err, errsz, "%s must be an object", fpath);
				return GW_EINVAL;
			}
			int rc = check_object(v, s->sub, fpath, err, errsz);
			if (rc)
				return rc;
			break;
		}
		case HTTP_JSON_T_ANY:
			*(json_t **)s->dest = v;
			break;
		}
	}
	return 0;
}

int http_json_parse(const char *buf, size_t len, const struct http_json_spec *spec,
		    const struct http_json_limits *lim, json_t **root_out, char *err, size_t errsz)
{
	size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : 64 * 1024;
	unsigned max_depth = lim && lim->max_depth ? lim->max_depth : 8;
	*root_out = NULL;
	set_err(err, errsz, "%s", "");
	if (len > max_bytes) {
		set_err(err, errsz, "the body is over %zu bytes", max_bytes);
		return GW_EMSGSIZE;
	}
	if (max_nesting(buf, len) > max_depth) {
		set_err(err, errsz, "the body nests deeper than %u levels", max_depth);
		return GW_EPROTO_MALFORMED;
	}
	json_error_t je;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		/* jansson's position is safe to show; its text may quote input. */
		set_err(err, errsz, "not valid JSON (line %d, column %d)", je.line, je.column);
		return GW_EPROTO_MALFORMED;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		set_err(err, errsz, "the body must be a JSON object");
		return GW_EPROTO_MALFORMED;
	}
	int rc = check_object(root, spec, "", err, errsz);
	if (rc) {
		json_decref(root);
		return rc;
	}
	*root_out = root;
	return 0;
}

static void decref_cb(void *p)
{
	json_decref(p);
}

static bool is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	if (!ct || strncasecmp(ct, want, sizeof(want) - 1) != 0)
		return false;
	ct += sizeof(want) - 1;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';
}

int http_parse_json_body(struct http_req *req, const struct http_json_spec *spec,
			 const struct http_json_limits *lim)
{
	if (!is_json_type(http_req_header(req, "Content-Type"))) {
		http_problem(req, GW_EMEDIATYPE, "the body must be application/json");
		return GW_EMEDIATYPE;
	}
	size_t len;
	const char *body = http_req_body(req, &len);
	char err[200];
	json_t *root;
	int rc = http_json_parse(body, len, spec, lim, &root, err, sizeof(err));
	if (rc) {
		http_problem(req, rc, err);
		return rc;
	}
	if (http_req_defer_free(req, root, decref_cb)) {
		http_problem(req, GW_ENOMEM, NULL);
		return GW_ENOMEM;
	}
	return 0;
}

int http_reply_json(struct http_req *req, unsigned status, json_t *body)
{
	char *txt = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(body);
	if (!txt)
		return http_problem(req, GW_ENOMEM, NULL);
	return http_reply_take(req, status, "application/json", txt, strlen(txt));
}
