/** @file
 * The MO SMS router: every MO SMS handed up by the SMPP links is decoded
 * (reassembled text, GSM 03.38 / Latin-1 / UCS2), matched against the keyword
 * file (sms_keywords.h) for the short code it was sent to, and handled:
 *
 *  - built-ins: HELP (the short code's help text), STOP / STOPALL / START
 *    (sms_consent_change(): the Redis live view is written first; the PostgreSQL
 *    ledger follows from the outbox), each answered with its text;
 *  - a menu flow: the menu (menus/ID.json) runs on the pure interpreter as a USSD
 *    session would; its state lives in Redis under
 *    `ussdgw:smsflow:{TOKEN}:SHORTCODE` for sms.flow_ttl_s, so any node carries
 *    the next message; while a flow is live, a message that is not a built-in is
 *    the flow's next input;
 *  - an HTTP forward to the business (sms_forward.h), queued in Redis;
 *  - a fixed reply;
 *  - anything else: the short code's "unknown" answer (never silence).
 *
 * Acknowledgement (DESIGN "What durable means"): deliver_sm_resp ESME_ROK is
 * sent only after the effect (consent view, flow state, forward job) is in
 * Redis and the MO's audit record (kind sms_mo, or consent_change for STOP /
 * STOPALL / START) is durable in the journal, and after the answer was handed to
 * the egress point (class reply, the short code as its source). When the effect
 * or the audit fails the MO is answered ESME_RX_T_APPN, so the SMSC redelivers it.
 *
 * The daemon service "sms" also installs the payment settlement hook: a
 * succeeded payment sends its receipt, a failed one a notice, class
 * transactional, through the egress point.
 *
 * Metrics: ussdgw_sms_mo_total{outcome, target}, ussdgw_sms_receipts_total{outcome}.
 */
#ifndef USSDGW_SMS_ROUTER_H
#define USSDGW_SMS_ROUTER_H

#include <stdbool.h>

#include "ussdgw/daemon.h"

struct smpp_mo;

/** Hand one MO SMS to the running router (the USSD engine passes on what is not USSD).
 *  @return false when the router is not running (the caller answers @p mo itself). */
bool sms_router_handle(struct smpp_mo *mo);

/** Daemon service "sms": needs "redis" and "smpp-links" (add it after them and after "pay");
 *  it sets the links' MO handler, which a later "ussd-engine" service takes over. */
extern const struct gw_service sms_router_service;

#endif
