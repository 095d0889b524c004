/** @file
 * The minimal MO handler: every inbound SMS / USSD PDU handed up by the SMPP
 * links is audited (audit_append, kind sms_mo) and answered ESME_ROK once the
 * record is durable, ESME_RX_T_APPN when it could not be made durable (the SMSC
 * then redelivers). The keyword router (sms_router.h) replaces it: while the
 * "sms" service runs, sms_mo_basic_handle() passes each MO to it.
 */
#ifndef USSDGW_SMS_MO_BASIC_H
#define USSDGW_SMS_MO_BASIC_H

#include "ussdgw/daemon.h"

struct smpp_mo;

/** Handle one MO SMS (audit, then answer); the USSD engine hands SMS traffic on here. */
void sms_mo_basic_handle(struct smpp_mo *mo);

/** Daemon service "sms-mo": attaches the handler to the "smpp-links" service (add it after). */
extern const struct gw_service sms_mo_basic_service;

#endif
