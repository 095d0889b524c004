/** @file
 * MTN MoMo Collections client (specs/payments.md section 4): request-to-pay
 * with X-Reference-Id = the payment's UUID (the resource id, so a re-sent
 * request meets 409 RESOURCE_ALREADY_EXIST and the status is read instead),
 * status polling by GET, and callbacks (PUT or POST on the payment's own
 * token URL, unsigned) that are only ever acted on after a status query.
 */
#ifndef USSDGW_PAY_MOMO_H
#define USSDGW_PAY_MOMO_H

#include "ussdgw/pay.h"

/** The provider type "momo". */
extern const struct pay_provider_ops pay_momo_ops;

/** MoMo status ("SUCCESSFUL", "FAILED", "PENDING", a reason) to a state. */
enum pay_state pay_momo_map_result(const char *status);

#endif
