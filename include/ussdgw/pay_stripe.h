/** @file
 * Stripe client (specs/payments.md section 2): PaymentIntents created and
 * confirmed off-session in one call against the saved payment method of the
 * subscriber's account (providers.<name>.saved_methods maps the account
 * reference to `pm_...` or `cus_.../pm_...`): USSD cannot host card entry or
 * 3-D Secure, so an intent that needs the customer is left pending and its
 * link (next_action's URL, else providers.<name>.action_url with {id}) goes
 * to the subscriber by SMS through the notify hook.
 *
 * Exactly once: the payment's UUID is the Idempotency-Key of its create
 * call, so every retry (timeout, reset, 409 in flight, 429, 5xx,
 * Stripe-Should-Retry: true) replays the same request and Stripe answers
 * with the saved result; Stripe-Should-Retry: false is final. Retries stop at
 * retry_budget_ms; an outcome still unknown is left to the webhook and the
 * reconciliation sweep (retrieve by id).
 *
 * Webhooks: Stripe-Signature checked over the raw body against every
 * configured secret (rotation), tolerance webhook_tolerance_s; events are
 * de-duplicated by id and by (PaymentIntent, type) in callbacks.c.
 */
#ifndef USSDGW_PAY_STRIPE_H
#define USSDGW_PAY_STRIPE_H

#include <stddef.h>

#include "ussdgw/pay.h"

/** The provider type "stripe". */
extern const struct pay_provider_ops pay_stripe_ops;

/**
 * Parse a Stripe Event (already verified). payment_intent.* events give the
 * PaymentIntent id, the gateway's id (metadata.payment_id), amount and
 * currency (upper case) and the claimed state.
 * @return 0, GW_ENOTSUP (another object or event family) or GW_EPROTO_MALFORMED.
 */
int pay_stripe_parse_event(const char *body, size_t len, struct pay_webhook_event *out);

#endif
