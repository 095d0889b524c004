#include "ussdgw/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/secfile.h"

extern char **environ;

/** Largest config file accepted. */
#define CFG_MAX_BYTES (4 * 1024 * 1024)
/** Longest key path handled. */
#define CFG_PATH_MAX 256

struct cfg {
	json_t *root;
	char *base_dir; /* directory of the config file, for relative paths */
};

struct cfg_ctx {
	char *err;
	size_t errsz;
	const char *base_dir;
};

static int fail(struct cfg_ctx *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct cfg_ctx *c, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, c->errsz, fmt, ap);
	va_end(ap);
	return rc;
}

/* snprintf through a va_list: paths are bounded and truncation is harmless. */
static void sfmt(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sfmt(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, n, fmt, ap);
	va_end(ap);
}

static const struct cfg_key *schema_find(const char *pattern)
{
	for (const struct cfg_key *k = cfg_schema; k->path; k++)
		if (strcmp(k->path, pattern) == 0)
			return k;
	return NULL;
}

/* Is @p key a direct child of @p parent_pattern ("" = root)? Returns the leaf name. */
static const char *child_name(const struct cfg_key *k, const char *parent_pattern)
{
	size_t pl = strlen(parent_pattern);
	if (pl == 0)
		return strchr(k->path, '.') ? NULL : k->path;
	if (strncmp(k->path, parent_pattern, pl) != 0 || k->path[pl] != '.')
		return NULL;
	const char *leaf = k->path + pl + 1;
	return strchr(leaf, '.') ? NULL : leaf;
}

static void join(char *out, size_t n, const char *a, const char *sep, const char *b)
{
	sfmt(out, n, "%s%s%s", a, a[0] ? sep : "", b);
}

static int check_value(struct cfg_ctx *c, const struct cfg_key *k, json_t *obj, const char *key,
		       json_t *v, const char *shown, const char *pattern);

/* Validate object @p obj whose schema pattern is @p pattern and display path @p shown. */
static int check_object(struct cfg_ctx *c, json_t *obj, const char *pattern, const char *shown)
{
	const char *key;
	json_t *v;
	/* Unknown keys: a typo must not silently fall back to a default. */
	json_object_foreach(obj, key, v)
	{
		char pat[CFG_PATH_MAX], disp[CFG_PATH_MAX];
		join(pat, sizeof(pat), pattern, ".", key);
		join(disp, sizeof(disp), shown, ".", key);
		const struct cfg_key *k = schema_find(pat);
		if (!k)
			return fail(c, GW_ECONFIG, "%s: unknown key", disp);
	}
	/* Defaults, required keys, then each value. */
	for (const struct cfg_key *k = cfg_schema; k->path; k++) {
		const char *leaf = child_name(k, pattern);
		if (!leaf)
			continue;
		char disp[CFG_PATH_MAX];
		join(disp, sizeof(disp), shown, ".", leaf);
		json_t *cur = json_object_get(obj, leaf);
		if (!cur) {
			if (k->required || (!k->def && k->type != CFG_SECRET && k->type != CFG_PATH))
				return fail(c, GW_ECONFIG, "%s: required key missing (%s)", disp, k->doc);
			if (!k->def)
				continue;
			json_error_t je;
			cur = json_loads(k->def, JSON_DECODE_ANY, &je);
			if (!cur)
				return fail(c, GW_ECONFIG, "%s: bad default in schema", disp);
			json_object_set_new(obj, leaf, cur);
			cur = json_object_get(obj, leaf);
		}
		int rc = check_value(c, k, obj, leaf, cur, disp, k->path);
		if (rc)
			return rc;
	}
	return 0;
}

static int resolve_path(struct cfg_ctx *c, json_t *obj, const char *key, json_t *v)
{
	const char *s = json_string_value(v);
	if (!s[0] || s[0] == '/' || !c->base_dir)
		return 0;
	char buf[PATH_MAX];
	sfmt(buf, sizeof(buf), "%s/%s", c->base_dir, s);
	json_object_set_new(obj, key, json_string(buf));
	return 0;
}

static int check_value(struct cfg_ctx *c, const struct cfg_key *k, json_t *obj, const char *key,
		       json_t *v, const char *shown, const char *pattern)
{
	switch (k->type) {
	case CFG_STRING:
	case CFG_PATH:
	case CFG_SECRET:
		if (!json_is_string(v))
			return fail(c, GW_ECONFIG, "%s: expected a string", shown);
		if (k->type == CFG_PATH)
			return resolve_path(c, obj, key, v);
		if (k->type == CFG_SECRET) {
			resolve_path(c, obj, key, v);
			const char *p = json_string_value(json_object_get(obj, key));
			if (!p[0])
				return 0;
			int rc = secfile_check_mode(p);
			if (rc == GW_EINSECURE)
				return fail(c, GW_EINSECURE,
					    "%s: %s is readable or writable by group or others (chmod 600)",
					    shown, p);
			if (rc)
				return fail(c, GW_ECONFIG, "%s: cannot use %s: %s", shown, p,
					    gw_strerror(rc));
		}
		return 0;
	case CFG_INT: {
		if (!json_is_integer(v))
			return fail(c, GW_ECONFIG, "%s: expected an integer", shown);
		long long x = json_integer_value(v);
		if (x < k->min)
			return fail(c, GW_ECONFIG, "%s: %lld is below the minimum %lld", shown, x, k->min);
		if (x > k->max)
			return fail(c, GW_ECONFIG, "%s: %lld is above the maximum %lld", shown, x, k->max);
		return 0;
	}
	case CFG_BOOL:
		if (!json_is_boolean(v))
			return fail(c, GW_ECONFIG, "%s: expected true or false", shown);
		return 0;
	case CFG_ENUM: {
		if (!json_is_string(v))
			return fail(c, GW_ECONFIG, "%s: expected one of %s", shown, k->choices);
		const char *s = json_string_value(v);
		size_t n = strlen(s);
		for (const char *p = k->choices; p && *p;) {
			const char *bar = strchr(p, '|');
			size_t l = bar ? (size_t)(bar - p) : strlen(p);
			if (l == n && strncmp(p, s, n) == 0)
				return 0;
			p = bar ? bar + 1 : NULL;
		}
		return fail(c, GW_ECONFIG, "%s: \"%s\" is not one of %s", shown, s, k->choices);
	}
	case CFG_OBJECT:
		if (!json_is_object(v))
			return fail(c, GW_ECONFIG, "%s: expected an object", shown);
		return check_object(c, v, pattern, shown);
	case CFG_ARRAY: {
		if (!json_is_array(v))
			return fail(c, GW_ECONFIG, "%s: expected an array", shown);
		char pat[CFG_PATH_MAX];
		sfmt(pat, sizeof(pat), "%s[]", pattern);
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			char disp[CFG_PATH_MAX];
			sfmt(disp, sizeof(disp), "%s[%zu]", shown, i);
			if (!json_is_object(e))
				return fail(c, GW_ECONFIG, "%s: expected an object", disp);
			int rc = check_object(c, e, pat, disp);
			if (rc)
				return rc;
		}
		return 0;
	}
	case CFG_MAP: {
		if (!json_is_object(v))
			return fail(c, GW_ECONFIG, "%s: expected an object", shown);
		char pat[CFG_PATH_MAX];
		sfmt(pat, sizeof(pat), "%s{}", pattern);
		const char *name;
		json_t *e;
		json_object_foreach(v, name, e)
		{
			char disp[CFG_PATH_MAX];
			sfmt(disp, sizeof(disp), "%s.%s", shown, name);
			if (!json_is_object(e))
				return fail(c, GW_ECONFIG, "%s: expected an object", disp);
			int rc = check_object(c, e, pat, disp);
			if (rc)
				return rc;
		}
		return 0;
	}
	case CFG_STRMAP: {
		if (!json_is_object(v))
			return fail(c, GW_ECONFIG, "%s: expected an object", shown);
		const char *name;
		json_t *e;
		json_object_foreach(v, name, e) if (!json_is_string(e)) return fail(
			c, GW_ECONFIG, "%s.%s: expected a string", shown, name);
		return 0;
	}
	case CFG_STRLIST: {
		if (!json_is_array(v))
			return fail(c, GW_ECONFIG, "%s: expected an array of strings", shown);
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) if (!json_is_string(e)) return fail(
			c, GW_ECONFIG, "%s[%zu]: expected a string", shown, i);
		return 0;
	}
	}
	return fail(c, GW_ECONFIG, "%s: unsupported type", shown);
}

/* Map a concrete dotted path with numeric segments to its schema pattern. */
static void pattern_of(const char *path, char *out, size_t n)
{
	char tmp[CFG_PATH_MAX];
	sfmt(tmp, sizeof(tmp), "%s", path);
	out[0] = '\0';
	char *save = NULL;
	for (char *seg = strtok_r(tmp, ".", &save); seg; seg = strtok_r(NULL, ".", &save)) {
		const struct cfg_key *parent = out[0] ? schema_find(out) : NULL;
		size_t l = strlen(out);
		if (parent && parent->type == CFG_ARRAY)
			sfmt(out + l, n - l, "[]");
		else if (parent && parent->type == CFG_MAP)
			sfmt(out + l, n - l, "{}");
		else
			sfmt(out + l, n - l, "%s%s", l ? "." : "", seg);
	}
}

/* USSDGW_A__B__C=value sets a.b.c; values are typed by the schema. */
static int apply_env(struct cfg_ctx *c, json_t *root, char *const *env)
{
	for (char *const *e = env; e && *e; e++) {
		if (strncmp(*e, "USSDGW_", 7) != 0)
			continue;
		const char *eq = strchr(*e, '=');
		if (!eq || !strstr(*e, "__") || strstr(*e, "__") > eq)
			continue;
		char name[CFG_PATH_MAX], path[CFG_PATH_MAX];
		size_t nl = (size_t)(eq - *e);
		if (nl >= sizeof(name))
			return fail(c, GW_ECONFIG, "environment override too long");
		memcpy(name, *e, nl);
		name[nl] = '\0';
		size_t o = 0;
		for (const char *p = name + 7; *p && o + 1 < sizeof(path); p++) {
			if (p[0] == '_' && p[1] == '_') {
				path[o++] = '.';
				p++;
			} else {
				path[o++] = (char)tolower((unsigned char)*p);
			}
		}
		path[o] = '\0';
		char pat[CFG_PATH_MAX];
		pattern_of(path, pat, sizeof(pat));
		const struct cfg_key *k = schema_find(pat);
		if (!k)
			return fail(c, GW_ECONFIG, "%s: %s is not a configuration key", name, path);
		const char *val = eq + 1;
		json_t *jv;
		switch (k->type) {
		case CFG_INT: {
			char *end;
			errno = 0;
			long long x = strtoll(val, &end, 10);
			if (errno || end == val || *end)
				return fail(c, GW_ECONFIG, "%s (%s): \"%s\" is not an integer", name, path, val);
			jv = json_integer(x);
			break;
		}
		case CFG_BOOL:
			if (!strcmp(val, "true") || !strcmp(val, "1"))
				jv = json_true();
			else if (!strcmp(val, "false") || !strcmp(val, "0"))
				jv = json_false();
			else
				return fail(c, GW_ECONFIG, "%s (%s): expected true or false", name, path);
			break;
		case CFG_STRING:
		case CFG_PATH:
		case CFG_SECRET:
		case CFG_ENUM:
			jv = json_string(val);
			break;
		default: {
			json_error_t je;
			jv = json_loads(val, JSON_DECODE_ANY, &je);
			if (!jv)
				return fail(c, GW_ECONFIG, "%s (%s): invalid JSON: %s", name, path, je.text);
		}
		}
		/* Walk/create the parents, then set. */
		json_t *cur = root;
		char tmp[CFG_PATH_MAX];
		sfmt(tmp, sizeof(tmp), "%s", path);
		char *save = NULL, *seg = strtok_r(tmp, ".", &save);
		while (seg) {
			char *next = strtok_r(NULL, ".", &save);
			if (json_is_array(cur)) {
				char *end;
				unsigned long idx = strtoul(seg, &end, 10);
				if (*end || idx >= json_array_size(cur)) {
					json_decref(jv);
					return fail(c, GW_ECONFIG, "%s: no element %s in %s", name, seg, path);
				}
				if (!next) {
					json_array_set_new(cur, idx, jv);
					break;
				}
				cur = json_array_get(cur, idx);
			} else if (json_is_object(cur)) {
				if (!next) {
					json_object_set_new(cur, seg, jv);
					break;
				}
				json_t *child = json_object_get(cur, seg);
				if (!child) {
					child = json_object();
					json_object_set_new(cur, seg, child);
				}
				cur = child;
			} else {
				json_decref(jv);
				return fail(c, GW_ECONFIG, "%s: %s does not lead to an object", name, path);
			}
			seg = next;
		}
	}
	return 0;
}

static int load_common(json_t *root, const char *base_dir, char *const *env, struct cfg **out,
		       char *err, size_t errsz)
{
	struct cfg_ctx c = {err, errsz, base_dir};
	if (!json_is_object(root)) {
		json_decref(root);
		return fail(&c, GW_ECONFIG, "the configuration must be a JSON object");
	}
	int rc = apply_env(&c, root, env ? env : environ);
	if (!rc)
		rc = check_object(&c, root, "", "");
	if (rc) {
		json_decref(root);
		return rc;
	}
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		json_decref(root);
		return GW_ENOMEM;
	}
	cfg->root = root;
	cfg->base_dir = base_dir ? strdup(base_dir) : NULL;
	*out = cfg;
	return 0;
}

int cfg_load_string(const char *json, char *const *env, struct cfg **out, char *err, size_t errsz)
{
	json_error_t je;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		sfmt(err, errsz, "line %d, column %d: %s", je.line, je.column, je.text);
		return GW_ECONFIG;
	}
	return load_common(root, NULL, env, out, err, errsz);
}

int cfg_load(const char *path, char *const *env, struct cfg **out, char *err, size_t errsz)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		sfmt(err, errsz, "%s: %s", path, strerror(errno));
		return GW_ECONFIG;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		sfmt(err, errsz, "%s: the configuration file is world-readable or -writable (chmod o-rw)",
			 path);
		return GW_EINSECURE;
	}
	if (st.st_size > CFG_MAX_BYTES) {
		sfmt(err, errsz, "%s: larger than %d bytes", path, CFG_MAX_BYTES);
		return GW_ECONFIG;
	}
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		sfmt(err, errsz, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		return GW_ECONFIG;
	}
	char dir[PATH_MAX];
	char *rp = realpath(path, NULL);
	if (rp) {
		sfmt(dir, sizeof(dir), "%s", rp);
		free(rp);
		char *slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
	} else {
		sfmt(dir, sizeof(dir), ".");
	}
	int rc = load_common(root, dir, env, out, err, errsz);
	if (rc) {
		/* Prefix the file name so the message stands on its own. */
		char tmp[1024];
		sfmt(tmp, sizeof(tmp), "%s: %s", path, err);
		sfmt(err, errsz, "%s", tmp);
	}
	return rc;
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	json_decref(c->root);
	free(c->base_dir);
	free(c);
}

json_t *cfg_root(const struct cfg *c)
{
	return c->root;
}

json_t *cfg_get(json_t *obj, const char *path)
{
	char tmp[CFG_PATH_MAX];
	sfmt(tmp, sizeof(tmp), "%s", path);
	char *save = NULL;
	json_t *cur = obj;
	for (char *seg = strtok_r(tmp, ".", &save); seg && cur; seg = strtok_r(NULL, ".", &save)) {
		if (json_is_array(cur))
			cur = json_array_get(cur, strtoul(seg, NULL, 10));
		else
			cur = json_object_get(cur, seg);
	}
	return cur;
}

const char *cfg_str(json_t *obj, const char *path)
{
	json_t *v = cfg_get(obj, path);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

long long cfg_int(json_t *obj, const char *path)
{
	return json_integer_value(cfg_get(obj, path));
}

bool cfg_bool(json_t *obj, const char *path)
{
	return json_is_true(cfg_get(obj, path));
}

static int diff_walk(json_t *a, json_t *b, const char *pattern, const char *shown, char *err,
		     size_t errsz)
{
	const struct cfg_key *k = pattern[0] ? schema_find(pattern) : NULL;
	bool container = !k || k->type == CFG_OBJECT || k->type == CFG_ARRAY || k->type == CFG_MAP;
	if (!container || (k && k->type == CFG_ARRAY && json_array_size(a) != json_array_size(b)) ||
	    (k && k->type == CFG_MAP && json_object_size(a) != json_object_size(b))) {
		if (json_equal(a, b) || (k && k->reloadable))
			return 0;
		if (err[0] == '\0')
			sfmt(err, errsz, "%s", shown);
		return 1;
	}
	int n = 0;
	if (json_is_array(a)) {
		char pat[CFG_PATH_MAX];
		sfmt(pat, sizeof(pat), "%s[]", pattern);
		for (size_t i = 0; i < json_array_size(a); i++) {
			char disp[CFG_PATH_MAX];
			sfmt(disp, sizeof(disp), "%s[%zu]", shown, i);
			n += diff_walk(json_array_get(a, i), json_array_get(b, i), pat, disp, err, errsz);
		}
		return n;
	}
	const char *key;
	json_t *v;
	json_object_foreach(a, key, v)
	{
		char pat[CFG_PATH_MAX], disp[CFG_PATH_MAX];
		if (k && k->type == CFG_MAP)
			sfmt(pat, sizeof(pat), "%s{}", pattern);
		else
			join(pat, sizeof(pat), pattern, ".", key);
		join(disp, sizeof(disp), shown, ".", key);
		json_t *bv = json_object_get(b, key);
		if (!bv) {
			if (err[0] == '\0')
				sfmt(err, errsz, "%s", disp);
			n++;
			continue;
		}
		n += diff_walk(v, bv, pat, disp, err, errsz);
	}
	return n;
}

int cfg_diff_nonreloadable(const struct cfg *a, const struct cfg *b, char *err, size_t errsz)
{
	err[0] = '\0';
	return diff_walk(a->root, b->root, "", "", err, errsz);
}

static const char *type_name(const struct cfg_key *k)
{
	switch (k->type) {
	case CFG_STRING: return "string";
	case CFG_INT: return "integer";
	case CFG_BOOL: return "boolean";
	case CFG_ENUM: return "enum";
	case CFG_PATH: return "path";
	case CFG_SECRET: return "secret file";
	case CFG_OBJECT: return "object";
	case CFG_ARRAY: return "array of objects";
	case CFG_MAP: return "object of objects";
	case CFG_STRMAP: return "object of strings";
	case CFG_STRLIST: return "array of strings";
	}
	return "?";
}

void cfg_print_reference(FILE *f)
{
	fprintf(f, "# ussdgw configuration reference\n\n"
		   "Generated by `ussdgw --config-reference` from the schema in "
		   "src/core/config_schema.c; do not edit by hand.\n\n"
		   "The configuration is one JSON file given with `--config PATH`. Unknown keys are "
		   "refused. `USSDGW_A__B=value` in the environment overrides key `a.b` "
		   "(numeric segments index arrays). Secrets are given as `*_file` references to files "
		   "of mode 0600; a world-readable configuration or secret file is refused at start. "
		   "Relative paths are relative to the configuration file's directory. "
		   "Keys marked reloadable take effect on SIGHUP; others need a restart.\n");
	for (const struct cfg_key *k = cfg_schema; k->path; k++) {
		if ((k->type == CFG_OBJECT || k->type == CFG_ARRAY || k->type == CFG_MAP) &&
		    !strchr(k->path, '.')) {
			fprintf(f, "\n## `%s`%s\n\n%s\n\n", k->path,
				k->type == CFG_ARRAY ? " (array)" : "", k->doc);
			fprintf(f, "| key | type | default | range / values | reload | description |\n"
				   "|---|---|---|---|---|---|\n");
			continue;
		}
		char range[128] = "";
		if (k->type == CFG_INT)
			sfmt(range, sizeof(range), "%lld .. %lld", k->min, k->max);
		else if (k->type == CFG_ENUM)
			sfmt(range, sizeof(range), "%s", k->choices);
		char choices[128];
		sfmt(choices, sizeof(choices), "%s", range);
		for (char *p = choices; *p; p++)
			if (*p == '|')
				*p = ',';
		fprintf(f, "| `%s` | %s | %s%s%s | %s | %s | %s |\n", k->path, type_name(k),
			k->def ? "`" : "", k->def ? k->def : (k->required ? "required" : "-"),
			k->def ? "`" : "", choices, k->reloadable ? "yes" : "no", k->doc);
	}
}
