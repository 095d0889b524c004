/** @file
 * Pure helpers of the card and wallet providers (specs/payments.md sections
 * 2, 3, 4 and 6.6): the currency exponent table and amount conversions, the
 * Stripe webhook signature check, the PayPal webhook message (CRC32 of the
 * raw body), its certificate URL allow-list and its RSA-SHA256 check against
 * a CA.
 *
 * Nothing here logs, allocates beyond the call or keeps state; every function
 * works on the raw bytes as received, so they are unit-tested with the spec's
 * fixed vectors and fuzzed (tests/fuzz/fuzz_webhooks.c).
 */
#ifndef USSDGW_PAY_WEBHOOK_H
#define USSDGW_PAY_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * Decimal places of @p iso (ISO 4217 as Stripe counts them): 0 for the
 * zero-decimal currencies (BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV
 * XAF XOF XPF), 3 for BHD JOD KWD OMR TND, else 2.
 * The gateway's amount_minor is always in these units.
 * @return 0, 2 or 3; -1 when @p iso is not three upper-case letters.
 */
int pay_currency_exponent(const char *iso);

/**
 * Stripe's integer amount for @p minor units of @p iso (the same number:
 * Stripe counts in the smallest unit, major units for zero-decimal
 * currencies), with Stripe's rules: at most 8 digits, three-decimal
 * amounts end in 0. Also writes the lower-case currency.
 * @return 0 or GW_EINVAL.
 */
int pay_stripe_amount(int64_t minor, const char *iso, int64_t *out, char currency_lc[4]);

/**
 * @p minor units of @p iso as a decimal string with at most @p max_dp
 * places ("10.50", "500", "1.230"). Refuses (GW_EINVAL) what would lose a
 * digit: 1234 BHD with max_dp 2.
 * @return 0, GW_EINVAL or GW_EMSGSIZE.
 */
int pay_amount_to_decimal(int64_t minor, const char *iso, int max_dp, char *out, size_t n);

/** Places PayPal accepts for @p iso: 0 for JPY HUF TWD and the zero-decimal
 *  currencies, else 2. */
int pay_paypal_places(const char *iso);

/**
 * Parse a decimal amount ("10.5", "10.50", "500") of @p iso into minor units.
 * More places than the currency has are refused unless they are zeros.
 * @return 0 or GW_EINVAL.
 */
int pay_amount_from_decimal(const char *s, size_t len, const char *iso, int64_t *out);

/** Why a webhook was refused (name table: pay_webhook_verdict_name()). */
enum pay_webhook_verdict {
	PAY_WH_OK,
	PAY_WH_MALFORMED,  /**< header missing or not in the documented form */
	PAY_WH_STALE,	   /**< timestamp outside the tolerance */
	PAY_WH_BAD_SIG,	   /**< no signature matches */
	PAY_WH_CERT_HOST,  /**< certificate URL not on the allow-list */
	PAY_WH_CERT_CHAIN, /**< certificate does not chain to the configured CA */
};
const char *pay_webhook_verdict_name(enum pay_webhook_verdict v);

/**
 * Check a Stripe-Signature header over the raw body.
 * The header is `t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]`: every scheme but
 * v1 is ignored (downgrade protection); the signature is accepted when any
 * v1 equals HMAC-SHA256(secret, t "." body) for any of @p secrets (rotation:
 * Stripe signs once per active secret), compared in constant time;
 * |now - t| must be at most @p tolerance_s (> 0).
 * @param[out] t_out the header's timestamp when it parsed (may be NULL).
 */
enum pay_webhook_verdict pay_stripe_verify(const char *header, const void *body, size_t len,
					   const char *const *secrets, size_t n_secrets,
					   int64_t now_s, unsigned tolerance_s, int64_t *t_out);

/** The v1 value (64 lower-case hex digits + NUL) for @p secret, @p t, body. */
void pay_stripe_sign(const char *secret, int64_t t, const void *body, size_t len, char out[65]);

/** CRC-32 (IEEE 802.3, as zlib's crc32()) of @p len bytes. */
uint32_t pay_crc32(const void *data, size_t len);

/**
 * PayPal's signed message: `transmission_id|transmission_time|webhook_id|crc32`
 * with the CRC32 of the raw body in unsigned decimal.
 * @return its length, or GW_EMSGSIZE / GW_EINVAL (a field with '|' or
 *         control characters).
 */
int pay_paypal_message(const char *transmission_id, const char *transmission_time,
		       const char *webhook_id, const void *body, size_t len, char *out, size_t n);

/**
 * May the certificate at @p url be fetched? Its host must be one of @p hosts
 * exactly (no suffix match: `api.paypal.com.attacker.invalid` is not
 * `api.paypal.com`), no user info, and https unless the host is a loopback
 * address and @p allow_http_loopback (emulators).
 */
bool pay_paypal_cert_url_allowed(const char *url, const char *const *hosts, size_t n_hosts,
				 bool allow_http_loopback);

/**
 * Verify PayPal's transmission signature: @p cert_pem (the signing
 * certificate, possibly followed by intermediates) must chain to a
 * certificate in @p ca_pem (the trust anchor from the provider's CA file) at
 * time @p now_s, and @p sig_b64 must be an RSA PKCS#1 v1.5 SHA-256
 * signature of @p msg under its key.
 * @return PAY_WH_OK, PAY_WH_MALFORMED (PEM or base64 unreadable),
 *         PAY_WH_CERT_CHAIN or PAY_WH_BAD_SIG.
 */
enum pay_webhook_verdict pay_paypal_verify(const char *cert_pem, size_t cert_len,
					   const char *ca_pem, size_t ca_len, const char *msg,
					   size_t msg_len, const char *sig_b64, int64_t now_s);

#endif
