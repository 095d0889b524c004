/** @file
 * M-Pesa Daraja client (specs/payments.md section 1): OAuth token shared per
 * provider and refreshed one fetch at a time (a new token invalidates the old
 * one, so never two fetches at once), STK push (M-Pesa Express), STK query,
 * result-code mapping (numeric and alphanumeric codes) and error
 * classification by errorCode, and by errorMessage where Daraja overloads a
 * code (500.001.1001).
 *
 * The pure helpers below are exported for unit tests; the client itself is
 * reached through pay_mpesa_ops (pay.h's provider interface).
 *
 * Retries inside the client (exponential backoff from 500 ms, cap 5 s, jitter
 * into the upper half, bounded by the provider's retry_budget_ms) happen only
 * when the provider certainly did not act: no connection, throttling
 * (500.003.02/03, Daraja's HTTP-500 form of 429), an invalid token (refresh
 * once and replay). Anything else ambiguous goes back to the caller as
 * PAY_CALL_AMBIGUOUS: an STK push is never re-sent blind.
 */
#ifndef USSDGW_PAY_MPESA_H
#define USSDGW_PAY_MPESA_H

#include <stddef.h>
#include <stdint.h>

#include "ussdgw/pay.h"

/** The provider type "daraja". */
extern const struct pay_provider_ops pay_mpesa_ops;

/** `YYYYMMDDHHmmss` of @p unix_ms in Kenyan time (EAT, UTC+3). @return @p out. */
char *pay_mpesa_timestamp(int64_t unix_ms, char out[15]);

/** base64(shortcode + passkey + timestamp). @return 0 or GW_EMSGSIZE. */
int pay_mpesa_password(const char *shortcode, const char *passkey, const char *timestamp, char *out,
		       size_t n);

/** STK result code (callback or query; "0", "1032", "SFC_IC0003") to a state.
 *  0 succeeded; 1032 cancelled; 1019 expired; every other code failed. */
enum pay_state pay_mpesa_map_result(const char *code);

/** What a Daraja error answer means for the caller. */
enum pay_mpesa_error {
	MPESA_ERR_REFUSED,    /**< validation, credentials, merchant, subscriber locked */
	MPESA_ERR_THROTTLED,  /**< 500.003.02 spike arrest / 500.003.03 quota: back off */
	MPESA_ERR_TOKEN,      /**< 404.001.03 / 400.003.01: refresh the token once, replay */
	MPESA_ERR_PROCESSING, /**< 500.001.1001 "being processed": still pending */
	MPESA_ERR_NOTFOUND,   /**< query for an id the provider does not know */
	MPESA_ERR_AMBIGUOUS,  /**< anything else: may have been processed */
};
const char *pay_mpesa_error_name(enum pay_mpesa_error e);

/** Classify a non-200 answer from its status and (raw) body. */
enum pay_mpesa_error pay_mpesa_classify(long http_status, const char *body, size_t len);

/** E.164 digits to Daraja's 2547XXXXXXXX / 2541XXXXXXXX. @return 0 or GW_EINVAL. */
int pay_mpesa_msisdn(const char *e164, char out[13]);

#endif
