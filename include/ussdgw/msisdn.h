/** @file
 * The one canonical MSISDN form: E.164 digits without '+' ("254712345678"),
 * 7 to 15 digits, first digit 1-9. Made once at the edge (SMPP address + TON +
 * NPI, HTTP aggregator fields, API input) with the link's national-prefix rules;
 * sessions, tokens, consent, velocity caps and provider clients all take this
 * form, and each provider client converts to its own (msisdn_to_plus(),
 * msisdn_to_national()).
 *
 * Pure functions on caller-owned buffers; no allocation, no logging (callers
 * log with log_msisdn()). Functions return 0 or GW_EINVAL.
 */
#ifndef USSDGW_MSISDN_H
#define USSDGW_MSISDN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Most digits in an E.164 number (ITU-T E.164 section 6). */
#define MSISDN_MAX_DIGITS 15
/** Fewest digits accepted in canonical form (the shortest national plans, e.g. +683 NNNN). */
#define MSISDN_MIN_DIGITS 7
/** Buffer for a canonical MSISDN (15 digits + NUL). */
#define MSISDN_BUFSZ 16
/** Longest raw address looked at (SMPP source_addr is at most 20 octets + NUL). */
#define MSISDN_ADDR_MAX 32
/** How many national significant number lengths a rule set can list. */
#define MSISDN_NSN_LENS 4

/** SMPP 3.4 type of number (section 5.2.5). */
enum msisdn_ton {
	MSISDN_TON_UNKNOWN = 0,
	MSISDN_TON_INTERNATIONAL = 1,
	MSISDN_TON_NATIONAL = 2,
	MSISDN_TON_NETWORK_SPECIFIC = 3,
	MSISDN_TON_SUBSCRIBER = 4,
	MSISDN_TON_ALPHANUMERIC = 5,
	MSISDN_TON_ABBREVIATED = 6,
};

/** SMPP 3.4 numbering plan indicator (section 5.2.6), the values we read. */
enum msisdn_npi {
	MSISDN_NPI_UNKNOWN = 0,
	MSISDN_NPI_E164 = 1,
	MSISDN_NPI_NATIONAL = 8,
};

/** Name of a TON for logs ("INTERNATIONAL"); "TON?" when unknown. */
const char *msisdn_ton_name(uint8_t ton);

/**
 * Per-link numbering rules. Fill with msisdn_rules_set(); the fields are public
 * so a config loader can print them.
 */
struct msisdn_rules {
	char country_code[4]; /**< "254": 1-3 digits, first 1-9 */
	char trunk_prefix[4]; /**< national trunk prefix, "0"; "" when the plan has none */
	char intl_prefix[5];  /**< international call prefix, "00" (NANP: "011") */
	/** Allowed national significant number lengths (digits after the country code),
	 *  0-terminated; all zero: any length that keeps the number within E.164. */
	uint8_t nsn_len[MSISDN_NSN_LENS];
};

/**
 * Fill @p r. @p nsn_lengths is "9" or a comma list ("9,10"), NULL or "" for any;
 * @p intl_prefix NULL means "00". @return GW_EINVAL for a malformed value (the
 * config loader names the key).
 */
int msisdn_rules_set(struct msisdn_rules *r, const char *country_code, const char *trunk_prefix,
		     const char *intl_prefix, const char *nsn_lengths);

/**
 * Canonical form of an address received with @p ton and @p npi.
 *
 * - A leading '+' or the international prefix ("00") marks an international number
 *   whatever the TON says; the rest must start with a country code (1-9).
 * - TON 1 (international): the digits are country code + NSN.
 * - TON 2 (national): the trunk prefix ("0712345678") is stripped if present
 *   ("712345678" is accepted too) and the country code prepended.
 * - TON 4 (subscriber number): the NSN alone; the country code is prepended.
 * - TON 0 (unknown): trunk prefix -> national; else, with NSN lengths configured,
 *   a number of country-code + NSN length that starts with the country code is
 *   taken as international and one of NSN length as national; without lengths,
 *   only a number starting with the country code is accepted (as international).
 * - TON 5 (alphanumeric sender id), 3 (network specific) and 6 (abbreviated / short
 *   code) are not MSISDNs: GW_EINVAL.
 * - NPI must be 0 (unknown), 1 (E.164) or 8 (national); others (data, telex, land
 *   mobile, private, ERMES, internet, WAP) are not telephone numbers: GW_EINVAL.
 * Only ASCII digits after the optional '+'; the result is 7..15 digits, and a number
 * in the link's own country must have one of its NSN lengths, an NSN that does not
 * start with the trunk prefix ("+2540712345678" is refused, not guessed at), and a
 * national form that does not start with the international prefix.
 */
int msisdn_normalize(const struct msisdn_rules *r, const char *addr, uint8_t ton, uint8_t npi,
		     char out[MSISDN_BUFSZ]);

/** True when @p s is canonical: 7..15 ASCII digits, first 1-9. */
bool msisdn_is_canonical(const char *s);

/** "+254712345678" from a canonical MSISDN; @p outsz >= MSISDN_BUFSZ + 1. */
int msisdn_to_plus(const char *e164, char *out, size_t outsz);

/**
 * National form, trunk prefix + NSN ("0712345678"), of a canonical MSISDN in the
 * rules' own country; GW_EINVAL for a number of another country.
 */
int msisdn_to_national(const struct msisdn_rules *r, const char *e164, char *out, size_t outsz);

#endif
