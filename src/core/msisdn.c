#include "ussdgw/msisdn.h"

#include <stdio.h>
#include <string.h>

#include "ussdgw/gw_error.h"

static const char *const ton_names[] = {
    [MSISDN_TON_UNKNOWN] = "UNKNOWN",	      [MSISDN_TON_INTERNATIONAL] = "INTERNATIONAL",
    [MSISDN_TON_NATIONAL] = "NATIONAL",	      [MSISDN_TON_NETWORK_SPECIFIC] = "NETWORK_SPECIFIC",
    [MSISDN_TON_SUBSCRIBER] = "SUBSCRIBER",   [MSISDN_TON_ALPHANUMERIC] = "ALPHANUMERIC",
    [MSISDN_TON_ABBREVIATED] = "ABBREVIATED",
};

const char *msisdn_ton_name(uint8_t ton)
{
	return ton < sizeof(ton_names) / sizeof(ton_names[0]) ? ton_names[ton] : "TON?";
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* True when @p s is @p min..@p max ASCII digits. */
static bool digits_only(const char *s, size_t min, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!is_digit(s[n]) || n >= max)
			return false;
	return n >= min;
}

static bool starts_with(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);
	return n > 0 && strncmp(s, prefix, n) == 0;
}

int msisdn_rules_set(struct msisdn_rules *r, const char *country_code, const char *trunk_prefix,
		     const char *intl_prefix, const char *nsn_lengths)
{
	memset(r, 0, sizeof(*r));
	if (!intl_prefix)
		intl_prefix = "00";
	if (!trunk_prefix)
		trunk_prefix = "";
	if (!country_code || !digits_only(country_code, 1, 3) || country_code[0] == '0' ||
	    !digits_only(trunk_prefix, 0, 3) || !digits_only(intl_prefix, 1, 4))
		return GW_EINVAL;
	size_t cc_len = strlen(country_code);
	const char *p = nsn_lengths ? nsn_lengths : "";
	int count = 0;
	while (*p) {
		if (count == MSISDN_NSN_LENS || !is_digit(*p))
			return GW_EINVAL;
		unsigned v = 0;
		while (is_digit(*p) && v < 100)
			v = v * 10 + (unsigned)(*p++ - '0');
		if (v < 4 || cc_len + v > MSISDN_MAX_DIGITS)
			return GW_EINVAL;
		r->nsn_len[count++] = (uint8_t)v;
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			return GW_EINVAL;
	}
	memcpy(r->country_code, country_code, cc_len + 1);
	memcpy(r->trunk_prefix, trunk_prefix, strlen(trunk_prefix) + 1);
	memcpy(r->intl_prefix, intl_prefix, strlen(intl_prefix) + 1);
	return 0;
}

bool msisdn_is_canonical(const char *s)
{
	return s && digits_only(s, MSISDN_MIN_DIGITS, MSISDN_MAX_DIGITS) && s[0] != '0';
}

static bool have_lengths(const struct msisdn_rules *r)
{
	return r->nsn_len[0] != 0;
}

static bool nsn_len_ok(const struct msisdn_rules *r, size_t n)
{
	if (!have_lengths(r))
		return true;
	for (int i = 0; i < MSISDN_NSN_LENS && r->nsn_len[i]; i++)
		if (r->nsn_len[i] == n)
			return true;
	return false;
}

/* Digits of a number given without any prefix, under a TON that does not say
 * (unknown) or may be mislabelled (national): @return 1 international, 0 national,
 * -1 neither. With NSN lengths the length decides; without, the country code. */
static int guess_scope(const struct msisdn_rules *r, const char *d, size_t n, bool national_ton)
{
	size_t cc_len = strlen(r->country_code);
	if (have_lengths(r)) {
		if (nsn_len_ok(r, n))
			return 0;
		if (n > cc_len && starts_with(d, r->country_code) && nsn_len_ok(r, n - cc_len))
			return 1;
		return -1;
	}
	if (national_ton)
		return 0;
	return starts_with(d, r->country_code) ? 1 : -1;
}

int msisdn_normalize(const struct msisdn_rules *r, const char *addr, uint8_t ton, uint8_t npi,
		     char out[MSISDN_BUFSZ])
{
	out[0] = '\0';
	if (!addr || !r->country_code[0])
		return GW_EINVAL;
	if (npi != MSISDN_NPI_UNKNOWN && npi != MSISDN_NPI_E164 && npi != MSISDN_NPI_NATIONAL)
		return GW_EINVAL;
	if (ton != MSISDN_TON_UNKNOWN && ton != MSISDN_TON_INTERNATIONAL &&
	    ton != MSISDN_TON_NATIONAL && ton != MSISDN_TON_SUBSCRIBER)
		return GW_EINVAL;

	const char *d = addr;
	bool intl = false;
	if (*d == '+') {
		intl = true;
		d++;
	}
	if (!digits_only(d, 1, MSISDN_ADDR_MAX))
		return GW_EINVAL;
	if (!intl && starts_with(d, r->intl_prefix)) {
		intl = true;
		d += strlen(r->intl_prefix);
	}
	size_t n = strlen(d);

	bool add_cc;
	if (intl || ton == MSISDN_TON_INTERNATIONAL) {
		add_cc = false;
	} else if (ton == MSISDN_TON_SUBSCRIBER) {
		add_cc = true;
	} else if (starts_with(d, r->trunk_prefix)) {
		/* National with trunk prefix ("0712345678"), TON 2 or unknown. */
		d += strlen(r->trunk_prefix);
		n = strlen(d);
		add_cc = true;
	} else {
		int scope = guess_scope(r, d, n, ton == MSISDN_TON_NATIONAL);
		if (scope < 0)
			return GW_EINVAL;
		add_cc = scope == 0;
	}

	size_t cc_len = add_cc ? strlen(r->country_code) : 0;
	if (n == 0 || cc_len + n > MSISDN_MAX_DIGITS)
		return GW_EINVAL;
	char buf[MSISDN_BUFSZ];
	memcpy(buf, r->country_code, cc_len);
	memcpy(buf + cc_len, d, n + 1);
	if (!msisdn_is_canonical(buf))
		return GW_EINVAL;
	/* Country codes are a prefix code, so a number starting with ours is ours. */
	size_t own = strlen(r->country_code);
	if (starts_with(buf, r->country_code) && !nsn_len_ok(r, strlen(buf) - own))
		return GW_EINVAL;
	if (starts_with(buf, r->country_code)) {
		/* A national significant number never starts with the trunk prefix; one
		 * that does is country code + trunk + NSN ("+254 0712..."), a common slip.
		 * Nor may its national form start with the international prefix, or it
		 * could not be dialled (or read back) unambiguously. */
		char nat[2 * MSISDN_BUFSZ];
		snprintf(nat, sizeof(nat), "%s%s", r->trunk_prefix, buf + own);
		if (starts_with(buf + own, r->trunk_prefix) || starts_with(nat, r->intl_prefix))
			return GW_EINVAL;
	}
	memcpy(out, buf, strlen(buf) + 1);
	return 0;
}

int msisdn_to_plus(const char *e164, char *out, size_t outsz)
{
	if (outsz)
		out[0] = '\0';
	if (!msisdn_is_canonical(e164))
		return GW_EINVAL;
	int w = snprintf(out, outsz, "+%s", e164);
	if (w < 0 || (size_t)w >= outsz) {
		if (outsz)
			out[0] = '\0';
		return GW_EINVAL;
	}
	return 0;
}

int msisdn_to_national(const struct msisdn_rules *r, const char *e164, char *out, size_t outsz)
{
	if (outsz)
		out[0] = '\0';
	if (!msisdn_is_canonical(e164) || !starts_with(e164, r->country_code))
		return GW_EINVAL;
	int w = snprintf(out, outsz, "%s%s", r->trunk_prefix, e164 + strlen(r->country_code));
	if (w < 0 || (size_t)w >= outsz) {
		if (outsz)
			out[0] = '\0';
		return GW_EINVAL;
	}
	return 0;
}
