/** @file
 * ussd/: compiled menus, shared by every node through Redis.
 *
 * The node compiles `ussd.menus_dir/NAME.json` at start and on reload (SIGHUP
 * or `POST /admin/menus/reload` on the admin listener) and publishes each menu:
 *  - `ussd:menu:ID:v:VERSION` = the source that compiles to that version
 *    (VERSION = menu_version(), a prefix of the compiled form's SHA-256);
 *  - `ussd:menu:ID:cur` = the version new sessions start on.
 * A new session asks Redis for `cur`, so every node serves the same version
 * whatever file it has; a session in flight keeps the version in its state
 * and any node fetches and compiles that version from Redis when it does not
 * hold it yet. Versions stay in Redis (they are small); compiled menus stay in
 * the node's memory until it stops.
 *
 * Ownership: the store owns every struct menu it hands out; they stay valid
 * until ussd_menus_free().
 */
#ifndef USSDGW_USSD_MENU_STORE_H
#define USSDGW_USSD_MENU_STORE_H

#include <stddef.h>

struct menu;
struct store_redis;
struct ussd_menus;

/** Create the store (nothing loaded yet). @p dir and @p r are borrowed/copied. */
int ussd_menus_new(struct store_redis *r, const char *dir, struct ussd_menus **out);
void ussd_menus_free(struct ussd_menus *m);

/** Reload result: @p err 0 when every menu compiled and was published. */
typedef void (*ussd_menus_done_cb)(void *cls, int err, const char *detail);
/**
 * Compile every *.json in the directory and publish the menus (as above).
 * Files that do not compile are reported and leave the published version alone.
 * @return 0 (callback follows), GW_ENOENT (no directory or no menu in it).
 */
int ussd_menus_reload(struct ussd_menus *m, ussd_menus_done_cb cb, void *cls);

/**
 * The menu whose service code the dial string @p dial starts ("*384*2#" for
 * "*384#"). @return its id, or NULL.
 */
const char *ussd_menus_match(const struct ussd_menus *m, const char *dial);

/** Menu lookup result (@p menu owned by the store). */
typedef void (*ussd_menu_cb)(void *cls, int err, const struct menu *menu);
/**
 * Get menu @p id at version @p ver, or at the published current version when
 * @p ver is NULL or "". Answers from memory when it holds that version.
 * The callback may run inside this call (cache hit) or later.
 * @return 0 (callback follows) or a store error.
 */
int ussd_menus_get(struct ussd_menus *m, const char *id, const char *ver, int timeout_ms,
		   ussd_menu_cb cb, void *cls);

/** Number of compiled versions held (tests, metrics). */
size_t ussd_menus_held(const struct ussd_menus *m);

#endif
