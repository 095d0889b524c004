/* msisdn_normalize() reads addresses sent by SMPP peers and HTTP aggregators.
 * Input: byte 0 TON, byte 1 NPI, byte 2 selects a rule set, the rest is the
 * address. Checks: a success is canonical, and its "+E164" and national forms
 * normalise back to the same number. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/msisdn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	static struct msisdn_rules rules[4];
	static int ready;
	if (!ready) {
		if (msisdn_rules_set(&rules[0], "254", "0", NULL, "9") ||
		    msisdn_rules_set(&rules[1], "1", "1", "011", "10") ||
		    msisdn_rules_set(&rules[2], "255", "0", NULL, NULL) ||
		    msisdn_rules_set(&rules[3], "44", "", "00", "9,10"))
			abort();
		ready = 1;
	}
	const struct msisdn_rules *r = &rules[data[2] % 4];
	char addr[MSISDN_ADDR_MAX * 2 + 1];
	size_t n = size - 3 < sizeof(addr) - 1 ? size - 3 : sizeof(addr) - 1;
	memcpy(addr, data + 3, n);
	addr[n] = '\0';

	char out[MSISDN_BUFSZ], back[MSISDN_BUFSZ], form[40];
	if (msisdn_normalize(r, addr, data[0], data[1], out) != 0)
		return 0;
	if (!msisdn_is_canonical(out))
		abort();
	if (msisdn_to_plus(out, form, sizeof(form)) != 0 ||
	    msisdn_normalize(r, form, MSISDN_TON_UNKNOWN, MSISDN_NPI_E164, back) != 0 ||
	    strcmp(out, back) != 0)
		abort();
	if (msisdn_to_national(r, out, form, sizeof(form)) == 0 &&
	    (msisdn_normalize(r, form, MSISDN_TON_NATIONAL, MSISDN_NPI_E164, back) != 0 ||
	     strcmp(out, back) != 0))
		abort();
	return 0;
}
