/** @file
 * PayPal client (specs/payments.md section 3): OAuth2 client credentials
 * (one token fetch at a time, cached until shortly before expiry), Orders v2
 * create with intent CAPTURE; the approval link goes to the subscriber by
 * SMS (notify hook) and the payment waits in `pending` (awaiting approval);
 * on approval (the CHECKOUT.ORDER.APPROVED webhook or the sweep finding the
 * order APPROVED) the order is captured.
 *
 * Exactly once: PayPal-Request-Id is the payment's UUID for the create and
 * "cap-" + order id for the capture (both fixed before the first send);
 * PayPal keeps them only 6 hours, after which a capture meets
 * ORDER_ALREADY_CAPTURED and the order is read back instead (an order is
 * captured at most once whatever we send).
 *
 * Webhooks: RSA-SHA256 over transmission id | time | webhook id | CRC32 of
 * the raw body, with the certificate fetched only from hosts on the
 * provider's cert_hosts allow-list, cached by URL, and checked against the
 * CA in ca_file.
 */
#ifndef USSDGW_PAY_PAYPAL_H
#define USSDGW_PAY_PAYPAL_H

#include <stddef.h>

#include "ussdgw/pay.h"

/** The provider type "paypal". */
extern const struct pay_provider_ops pay_paypal_ops;

/**
 * Parse a PayPal webhook event (already verified): CHECKOUT.ORDER.* (resource
 * = the order) and PAYMENT.CAPTURE.* (resource = the capture, order id in
 * supplementary_data.related_ids.order_id); the gateway's id is custom_id.
 * @return 0, GW_ENOTSUP or GW_EPROTO_MALFORMED.
 */
int pay_paypal_parse_event(const char *body, size_t len, struct pay_webhook_event *out);

#endif
