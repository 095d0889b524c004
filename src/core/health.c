#include "ussdgw/health.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ussdgw/gw_error.h"

struct health_part {
	char *name;
	enum health_role role;
	health_probe_fn probe;
	void *cls;
	struct health_part *next;
};

static struct health_part *parts;

int health_register(const char *name, enum health_role role, health_probe_fn probe, void *cls)
{
	for (struct health_part *p = parts; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return GW_EEXIST;
	struct health_part *p = calloc(1, sizeof(*p));
	if (!p || !(p->name = strdup(name))) {
		free(p);
		return GW_ENOMEM;
	}
	p->role = role;
	p->probe = probe;
	p->cls = cls;
	/* Append, so the report lists parts in registration order. */
	struct health_part **tail = &parts;
	while (*tail)
		tail = &(*tail)->next;
	*tail = p;
	return 0;
}

void health_unregister(const char *name)
{
	for (struct health_part **pp = &parts; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->name, name) == 0) {
			struct health_part *p = *pp;
			*pp = p->next;
			free(p->name);
			free(p);
			return;
		}
	}
}

void health_reset(void)
{
	while (parts)
		health_unregister(parts->name);
}

enum health_verdict health_check(char **json_out)
{
	enum health_verdict v = HEALTH_READY;
	json_t *root = json_object();
	json_t *jparts = json_object();
	json_t *missing = json_array();
	json_t *degraded = json_array();

	for (struct health_part *p = parts; p; p = p->next) {
		char detail[256] = "";
		enum health_state st = p->probe(p->cls, detail, sizeof(detail));
		json_t *jp = json_pack("{s:s, s:s}", "state", st == HEALTH_UP ? "up" : "down",
				       "role", p->role == HEALTH_REQUIRED ? "required" : "degrades");
		if (detail[0])
			json_object_set_new(jp, "detail", json_string(detail));
		json_object_set_new(jparts, p->name, jp);
		if (st == HEALTH_DOWN) {
			if (p->role == HEALTH_REQUIRED) {
				v = HEALTH_NOT_READY;
				json_array_append_new(missing, json_string(p->name));
			} else {
				if (v == HEALTH_READY)
					v = HEALTH_DEGRADED;
				json_array_append_new(degraded, json_string(p->name));
			}
		}
	}
	static const char *const names[] = {"ready", "degraded", "not-ready"};
	json_object_set_new(root, "status", json_string(names[v]));
	json_object_set_new(root, "parts", jparts);
	json_object_set_new(root, "missing", missing);
	json_object_set_new(root, "degraded", degraded);
	if (json_out)
		*json_out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	return v;
}
