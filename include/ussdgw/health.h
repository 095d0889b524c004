/** @file
 * Readiness parts. Each module that the node depends on registers a part with a
 * probe; /readyz asks every part. A REQUIRED part that is down makes the node
 * not ready (503 naming it); a DEGRADES part that is down leaves it ready but
 * reported "degraded" (PostgreSQL while the journal carries the audit; no bind up).
 */
#ifndef USSDGW_HEALTH_H
#define USSDGW_HEALTH_H

#include <stddef.h>

enum health_role { HEALTH_REQUIRED, HEALTH_DEGRADES };
enum health_state { HEALTH_UP, HEALTH_DOWN };

/** Probe: fill @p detail (may be left empty) and return the part's state. Must not block. */
typedef enum health_state (*health_probe_fn)(void *cls, char *detail, size_t detail_sz);

/** Register a part; @p name is copied. @return 0 or GW_ENOMEM / GW_EEXIST. */
int health_register(const char *name, enum health_role role, health_probe_fn probe, void *cls);
/** Remove a part by name (no-op if absent). */
void health_unregister(const char *name);
/** Drop every part (tests, shutdown). */
void health_reset(void);

enum health_verdict { HEALTH_READY, HEALTH_DEGRADED, HEALTH_NOT_READY };

/**
 * Ask every part. @p json_out receives a newly allocated JSON document (caller
 * frees with free()): {"status":"ready|degraded|not-ready","parts":{name:{"state":..,
 * "role":..,"detail":..}}, "missing":[names of required parts down]}.
 */
enum health_verdict health_check(char **json_out);

#endif
