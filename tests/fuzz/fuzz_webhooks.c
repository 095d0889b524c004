/* Webhook verifiers and parsers of the card and wallet providers, fed with
 * untrusted bytes. Input: byte 0 selects the target, the rest is split at the
 * first NUL into a header and a body. Checks: no crash, and a Stripe header
 * that verifies was signed with the one secret (re-signing its timestamp
 * gives one of its v1 values); parsed amounts are positive; a decimal that
 * parses prints back to the same number. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/pay.h"
#include "ussdgw/pay_momo.h"
#include "ussdgw/pay_paypal.h"
#include "ussdgw/pay_stripe.h"
#include "ussdgw/pay_webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	char *buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	size_t hl = strlen(buf);
	const char *body = hl < size - 1 ? buf + hl + 1 : "";
	size_t bl = hl < size - 1 ? size - 2 - hl : 0;
	static const char *const secrets[] = {"whsec_fuzz", "whsec_old"};
	static const char *const hosts[] = {"api.paypal.com", "127.0.0.1"};
	switch (data[0] % 6) {
	case 0: {
		int64_t t = 0;
		if (pay_stripe_verify(buf, body, bl, secrets, 2, 1700000000, 300, &t) ==
		    PAY_WH_OK) {
			char a[65], b[65];
			pay_stripe_sign(secrets[0], t, body, bl, a);
			pay_stripe_sign(secrets[1], t, body, bl, b);
			if (!strstr(buf, a) && !strstr(buf, b))
				abort();
		}
		break;
	}
	case 1: {
		char m[1024];
		(void)pay_paypal_message(buf, "2026-11-25T13:46:14Z", "WH", body, bl, m, sizeof(m));
		(void)pay_paypal_cert_url_allowed(buf, hosts, 2, data[0] & 0x80);
		break;
	}
	case 2: {
		int64_t v;
		static const char *const cur[] = {"USD", "JPY", "BHD", "UGX"};
		const char *c = cur[(data[0] >> 3) % 4];
		if (!pay_amount_from_decimal(buf, hl, c, &v)) {
			char o[40];
			int64_t back;
			if (v < 0)
				abort();
			if (v > 0 && (pay_amount_to_decimal(v, c, 3, o, sizeof(o)) ||
				      pay_amount_from_decimal(o, strlen(o), c, &back) || back != v))
				abort();
		}
		break;
	}
	case 3: {
		struct pay_webhook_event ev;
		if (!pay_stripe_parse_event(body, bl, &ev) && ev.amount_minor == 0)
			abort();
		break;
	}
	case 4: {
		struct pay_webhook_event ev;
		if (!pay_paypal_parse_event(body, bl, &ev) && ev.amount_minor == 0)
			abort();
		break;
	}
	case 5: {
		struct pay_callback_info ci;
		if (!pay_momo_ops.parse_callback(body, bl, &ci) && ci.amount_minor == 0)
			abort();
		break;
	}
	}
	free(buf);
	return 0;
}
