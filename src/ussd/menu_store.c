/* Compiled menus with a version hash in Redis (ussd_menu_store.h). */
#include "ussdgw/ussd_menu_store.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"
#include "ussdgw/menu.h"
#include "ussdgw/store_redis.h"

#define HELD_MAX 64

struct held {
	char id[64];
	char ver[17];
	char code[41]; /* service code without the final '#' */
	struct menu *menu;
};

struct ussd_menus {
	struct store_redis *redis;
	char dir[512];
	struct held held[HELD_MAX];
	size_t nheld;
	/* the local files' menus (what ussd_menus_match() looks at) */
	char local_id[HELD_MAX][64];
	char local_code[HELD_MAX][41];
	size_t nlocal;
};

int ussd_menus_new(struct store_redis *r, const char *dir, struct ussd_menus **out)
{
	struct ussd_menus *m = calloc(1, sizeof(*m));
	if (!m)
		return GW_ENOMEM;
	m->redis = r;
	snprintf(m->dir, sizeof(m->dir), "%s", dir ? dir : "menus");
	*out = m;
	return 0;
}

void ussd_menus_free(struct ussd_menus *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nheld; i++)
		menu_free(m->held[i].menu);
	free(m);
}

size_t ussd_menus_held(const struct ussd_menus *m)
{
	return m->nheld;
}

static struct held *find_held(struct ussd_menus *m, const char *id, const char *ver)
{
	for (size_t i = 0; i < m->nheld; i++)
		if (!strcmp(m->held[i].id, id) && !strcmp(m->held[i].ver, ver))
			return &m->held[i];
	return NULL;
}

static const char *service_code_of(const char *src, size_t len, char *out, size_t cap)
{
	out[0] = '\0';
	json_t *o = json_loadb(src, len, 0, NULL);
	const char *c = json_string_value(json_object_get(o, "service_code"));
	if (c) {
		snprintf(out, cap, "%s", c);
		size_t n = strlen(out);
		if (n && out[n - 1] == '#')
			out[n - 1] = '\0';
	}
	json_decref(o);
	return out;
}

/* Keep a compiled menu; takes ownership of @p menu. */
static struct held *hold(struct ussd_menus *m, struct menu *menu, const char *src, size_t len)
{
	struct held *h = find_held(m, menu_id(menu), menu_version(menu));
	if (h) {
		menu_free(menu);
		return h;
	}
	if (m->nheld == HELD_MAX) {
		/* Drop the oldest: sessions on it are long over by now. */
		menu_free(m->held[0].menu);
		memmove(&m->held[0], &m->held[1], sizeof(m->held[0]) * (HELD_MAX - 1));
		m->nheld--;
	}
	h = &m->held[m->nheld++];
	snprintf(h->id, sizeof(h->id), "%s", menu_id(menu));
	snprintf(h->ver, sizeof(h->ver), "%s", menu_version(menu));
	service_code_of(src, len, h->code, sizeof(h->code));
	h->menu = menu;
	return h;
}

const char *ussd_menus_match(const struct ussd_menus *m, const char *dial)
{
	for (size_t i = 0; i < m->nlocal; i++) {
		size_t n = strlen(m->local_code[i]);
		if (n && !strncmp(dial, m->local_code[i], n) && (dial[n] == '*' || dial[n] == '#'))
			return m->local_id[i];
	}
	return NULL;
}

/* ---- reload ------------------------------------------------------------ */

struct reload {
	struct ussd_menus *m;
	ussd_menus_done_cb cb;
	void *cls;
	unsigned pending;
	int err;
	char detail[512];
};

static void reload_step(struct reload *rl)
{
	if (--rl->pending)
		return;
	rl->cb(rl->cls, rl->err, rl->detail);
	free(rl);
}

static void on_publish(void *cls, int err, redisReply *reply)
{
	struct reload *rl = cls;
	if (!err && reply->type == REDIS_REPLY_ERROR)
		err = GW_EDEPENDENCY;
	if (err && !rl->err) {
		rl->err = err;
		snprintf(rl->detail, sizeof(rl->detail), "publishing to Redis: %s", gw_strerror(err));
	}
	reload_step(rl);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(MENU_FILE_MAX + 1);
	size_t n = buf ? fread(buf, 1, MENU_FILE_MAX + 1, f) : 0;
	fclose(f);
	if (!buf || n > MENU_FILE_MAX) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

int ussd_menus_reload(struct ussd_menus *m, ussd_menus_done_cb cb, void *cls)
{
	DIR *d = opendir(m->dir);
	if (!d) {
		LOGP(DMENU, LOG_ERROR, "menus directory %s cannot be read", m->dir);
		return GW_ENOENT;
	}
	struct reload *rl = calloc(1, sizeof(*rl));
	if (!rl) {
		closedir(d);
		return GW_ENOMEM;
	}
	rl->m = m;
	rl->cb = cb;
	rl->cls = cls;
	rl->pending = 1;
	size_t nlocal = 0, nfiles = 0;
	char ids[HELD_MAX][64], codes[HELD_MAX][41];
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		if (nl < 6 || strcmp(de->d_name + nl - 5, ".json") || de->d_name[0] == '.')
			continue;
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s", m->dir, de->d_name);
		size_t len;
		char *src = read_file(path, &len);
		if (!src)
			continue;
		struct menu *menu = NULL;
		struct menu_diags diags = {0};
		int rc = menu_load_buffer(src, len, &menu, &diags);
		if (rc) {
			LOGP(DMENU, LOG_ERROR, "menu %s not loaded: %s%s%s", path, gw_strerror(rc),
			     diags.n ? ": " : "", diags.n ? diags.v[0].msg : "");
			if (!rl->err) {
				rl->err = GW_ECONFIG;
				snprintf(rl->detail, sizeof(rl->detail), "%s:%d: %s", de->d_name,
					 diags.n ? diags.v[0].line : 0, diags.n ? diags.v[0].msg : gw_strerror(rc));
			}
			menu_diags_free(&diags);
			free(src);
			continue;
		}
		menu_diags_free(&diags);
		nfiles++;
		struct held *h = hold(m, menu, src, len);
		if (nlocal < HELD_MAX) {
			snprintf(ids[nlocal], sizeof(ids[0]), "%s", h->id);
			snprintf(codes[nlocal], sizeof(codes[0]), "%s", h->code);
			nlocal++;
		}
		char kv[160], kc[128];
		snprintf(kv, sizeof(kv), "ussd:menu:%s:v:%s", h->id, h->ver);
		snprintf(kc, sizeof(kc), "ussd:menu:%s:cur", h->id);
		const char *a1[] = {"SET", kv, src};
		size_t l1[] = {3, strlen(kv), len};
		const char *a2[] = {"SET", kc, h->ver};
		size_t l2[] = {3, strlen(kc), strlen(h->ver)};
		/* One connection, in order: the version is stored before it becomes current. */
		if (!store_redis_command_argv(m->redis, on_publish, rl, 2000, 3, a1, l1))
			rl->pending++;
		if (!store_redis_command_argv(m->redis, on_publish, rl, 2000, 3, a2, l2))
			rl->pending++;
		LOGP(DMENU, LOG_NOTICE, "menu %s version %s (%s) loaded from %s", h->id, h->ver,
		     h->code, path);
		free(src);
	}
	closedir(d);
	if (nfiles) {
		memcpy(m->local_id, ids, sizeof(ids[0]) * nlocal);
		memcpy(m->local_code, codes, sizeof(codes[0]) * nlocal);
		m->nlocal = nlocal;
	} else if (!rl->err) {
		rl->err = GW_ENOENT;
		snprintf(rl->detail, sizeof(rl->detail), "no menu in %.400s", m->dir);
	}
	reload_step(rl);
	return 0;
}

/* ---- lookup ------------------------------------------------------------ */

struct get {
	struct ussd_menus *m;
	char id[64];
	char ver[17];
	int timeout_ms;
	ussd_menu_cb cb;
	void *cls;
};

static void on_source(void *cls, int err, redisReply *reply)
{
	struct get *g = cls;
	struct held *h = find_held(g->m, g->id, g->ver);
	if (h) {
		g->cb(g->cls, 0, h->menu);
		free(g);
		return;
	}
	if (!err && reply->type != REDIS_REPLY_STRING)
		err = GW_ENOENT;
	if (err) {
		g->cb(g->cls, err, NULL);
		free(g);
		return;
	}
	struct menu *menu = NULL;
	int rc = menu_load_buffer(reply->str, reply->len, &menu, NULL);
	if (!rc && strcmp(menu_version(menu), g->ver)) {
		menu_free(menu);
		rc = GW_ECONFLICT; /* another compiler build: not the same version */
	}
	if (rc) {
		LOGP(DMENU, LOG_ERROR, "menu %s version %s from Redis: %s", g->id, g->ver, gw_strerror(rc));
		g->cb(g->cls, rc, NULL);
		free(g);
		return;
	}
	h = hold(g->m, menu, reply->str, reply->len);
	LOGP(DMENU, LOG_INFO, "menu %s version %s fetched from Redis", h->id, h->ver);
	g->cb(g->cls, 0, h->menu);
	free(g);
}

static void fetch(struct get *g)
{
	struct held *h = find_held(g->m, g->id, g->ver);
	if (h) {
		g->cb(g->cls, 0, h->menu);
		free(g);
		return;
	}
	char k[160];
	snprintf(k, sizeof(k), "ussd:menu:%s:v:%s", g->id, g->ver);
	int rc = store_redis_command(g->m->redis, on_source, g, g->timeout_ms, "GET %s", k);
	if (rc) {
		g->cb(g->cls, rc, NULL);
		free(g);
	}
}

static void on_cur(void *cls, int err, redisReply *reply)
{
	struct get *g = cls;
	if (!err && (reply->type != REDIS_REPLY_STRING || reply->len >= sizeof(g->ver)))
		err = GW_ENOENT;
	if (err) {
		g->cb(g->cls, err, NULL);
		free(g);
		return;
	}
	memcpy(g->ver, reply->str, reply->len);
	g->ver[reply->len] = '\0';
	fetch(g);
}

int ussd_menus_get(struct ussd_menus *m, const char *id, const char *ver, int timeout_ms,
		   ussd_menu_cb cb, void *cls)
{
	struct get *g = calloc(1, sizeof(*g));
	if (!g)
		return GW_ENOMEM;
	g->m = m;
	snprintf(g->id, sizeof(g->id), "%s", id);
	g->timeout_ms = timeout_ms;
	g->cb = cb;
	g->cls = cls;
	if (ver && ver[0]) {
		snprintf(g->ver, sizeof(g->ver), "%s", ver);
		fetch(g);
		return 0;
	}
	char k[128];
	snprintf(k, sizeof(k), "ussd:menu:%s:cur", id);
	int rc = store_redis_command(m->redis, on_cur, g, timeout_ms, "GET %s", k);
	if (rc)
		free(g);
	return rc;
}
