/** @file
 * Configuration: one JSON file, one schema table (src/core/config_schema.c).
 *
 * cfg_load() parses the file, applies USSDGW_A__B=value environment overrides
 * (key a.b; numeric segments index arrays: USSDGW_LINKS__0__BINDS__0__PORT),
 * checks every key against the schema (type, range, enum, unknown keys,
 * secret-file modes), fills defaults, and returns an immutable tree. Errors
 * name the key: `links[0].binds[1].port: 70000 is above the maximum 65535`.
 * Modules read values through the typed getters with paths relative to an
 * object (the root, or one link, or one bind).
 */
#ifndef USSDGW_CONFIG_H
#define USSDGW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

enum cfg_type {
	CFG_STRING,   /**< any string */
	CFG_INT,      /**< integer within [min, max] */
	CFG_BOOL,     /**< true / false */
	CFG_ENUM,     /**< one of a '|' separated list */
	CFG_PATH,     /**< a filesystem path (not checked for existence) */
	CFG_SECRET,   /**< a *_file reference: must exist, mode 0600 or stricter */
	CFG_OBJECT,   /**< an object whose keys are listed in the schema */
	CFG_ARRAY,    /**< an array of objects whose keys are path[].key */
	CFG_MAP,      /**< an object with free keys whose values are objects path{}.key */
	CFG_STRMAP,   /**< an object with free keys and string values */
	CFG_STRLIST,  /**< an array of strings */
};

struct cfg_key {
	const char *path;     /**< "redis.port", "links[].binds[].port", "providers{}.base_url" */
	enum cfg_type type;
	const char *def;      /**< default as JSON text; NULL = no default */
	long long min, max;   /**< CFG_INT range */
	const char *choices;  /**< CFG_ENUM: "a|b|c" */
	bool required;        /**< must be given (no default) */
	bool reloadable;      /**< SIGHUP may change it */
	const char *doc;      /**< one line */
};

/** The schema table, terminated by an entry with path NULL. */
extern const struct cfg_key cfg_schema[];

struct cfg;

/**
 * Load and validate. On failure returns GW_ECONFIG (or GW_EINSECURE for a
 * world-readable file) and writes one message naming the key into @p err.
 * @p env is an environ-style array (NULL = the process environment).
 */
int cfg_load(const char *path, char *const *env, struct cfg **out, char *err, size_t errsz);
/** Same, from a JSON text (tests). */
int cfg_load_string(const char *json, char *const *env, struct cfg **out, char *err,
		    size_t errsz);
void cfg_free(struct cfg *c);

/** Root object of a loaded config (borrowed). */
json_t *cfg_root(const struct cfg *c);

/** Typed getters on @p obj (root or nested object) by dotted relative path. The schema
 *  filled defaults, so a key known to the schema is present unless it has no default. */
const char *cfg_str(json_t *obj, const char *path);
long long cfg_int(json_t *obj, const char *path);
bool cfg_bool(json_t *obj, const char *path);
json_t *cfg_get(json_t *obj, const char *path);

/**
 * Compare two loaded configs and report non-reloadable keys that differ.
 * @return number of differing non-reloadable keys; the first is named in @p err.
 */
int cfg_diff_nonreloadable(const struct cfg *a, const struct cfg *b, char *err, size_t errsz);

/** Print the schema as Markdown (the body of etc/CONFIG.md). */
void cfg_print_reference(FILE *f);

#endif
