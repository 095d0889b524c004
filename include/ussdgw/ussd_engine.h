/** @file
 * ussd/: the USSD step pipeline (DESIGN.md, "Data flow of one USSD step").
 *
 * The engine takes the inbound traffic of the SMPP links (it becomes the links'
 * MO handler; SMS goes on to the MO SMS handler), and for each USSD deliver_sm:
 *   dialect adapter -> canonical event -> session load (Redis) -> re-send check
 *   -> menu_step() on the session's menu version -> awaited actions (HTTP to the
 *   business services, PIN checks, payments) with deadlines inside the answer
 *   budget -> session compare-and-set save -> audit_append() -> on_durable ->
 *   smpp_links_submit() of the reply -> smpp_mo_respond(ESME_ROK).
 * A Redis or audit failure answers ESME_RX_T_APPN, so the centre redelivers; a
 * redelivery of a step that was saved gets the stored answer without advancing.
 * Over `ussd.max_inflight` steps at once, a new step is shed with the
 * "busy, try later" end screen.
 *
 * A typed PIN lives only in the pin_check action's secret for the time of the
 * HTTP call to the verifying service; it is never logged, stored in Redis
 * (neither in the state nor in the request fingerprint) nor audited.
 *
 * Daemon service "ussd" (add it after "smpp-links" and "sms-mo"): needs the
 * "redis" and "smpp-links" services; `ussd.menus_dir`, `ussd.services`, ...
 * Registers `POST /admin/menus/reload` on the admin listener; SIGHUP reloads
 * the menus too.
 */
#ifndef USSDGW_USSD_ENGINE_H
#define USSDGW_USSD_ENGINE_H

#include "ussdgw/daemon.h"

extern const struct gw_service ussd_engine_service;

#endif
