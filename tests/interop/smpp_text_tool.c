/* Command-line face of the text codecs, for the node-smpp interop test:
 *   smpp_text_tool encode GSM7|LATIN1|UCS2 TEXT   -> hex, or "EINVAL"
 *   smpp_text_tool decode GSM7|LATIN1|UCS2 HEX    -> UTF-8 text
 *   smpp_text_tool plan TEXT                      -> "ENC PARTS" (Latin-1 allowed, UDH8)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/smpp_text.h"

static int enc_of(const char *s, enum smpp_text_enc *e)
{
	if (!strcmp(s, "GSM7"))
		*e = SMPP_ENC_GSM7;
	else if (!strcmp(s, "LATIN1"))
		*e = SMPP_ENC_LATIN1;
	else if (!strcmp(s, "UCS2"))
		*e = SMPP_ENC_UCS2;
	else
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t buf[65536];
	static char text[SMPP_TEXT_UTF8_MAX(sizeof(buf))];
	enum smpp_text_enc e;
	size_t n;
	if (argc == 4 && !strcmp(argv[1], "encode") && enc_of(argv[2], &e) == 0) {
		int rc = smpp_text_encode(e, argv[3], strlen(argv[3]), buf, sizeof(buf), &n);
		if (rc) {
			printf("%s\n", rc == GW_EINVAL ? "EINVAL" : gw_errname(rc));
			return 0;
		}
		for (size_t i = 0; i < n; i++)
			printf("%02x", buf[i]);
		printf("\n");
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "decode") && enc_of(argv[2], &e) == 0) {
		size_t len = strlen(argv[3]) / 2;
		for (size_t i = 0; i < len && i < sizeof(buf); i++) {
			unsigned v;
			if (sscanf(argv[3] + 2 * i, "%2x", &v) != 1)
				return 2;
			buf[i] = (uint8_t)v;
		}
		int rc = smpp_text_decode(e, buf, len, text, sizeof(text), &n);
		if (rc) {
			printf("%s\n", gw_errname(rc));
			return 0;
		}
		fwrite(text, 1, n, stdout);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "plan")) {
		static struct smpp_text_plan p;
		struct smpp_text_plan_opts o = {SMPP_BEARER_SMS, SMPP_CONCAT_UDH8, true};
		int rc = smpp_text_plan(argv[2], strlen(argv[2]), &o, buf, sizeof(buf), &p);
		if (rc)
			printf("%s\n", gw_errname(rc));
		else
			printf("%s %u\n", smpp_text_enc_name(p.enc), p.parts);
		return 0;
	}
	fprintf(stderr, "usage: %s encode|decode ENC ARG | plan TEXT\n", argv[0]);
	return 2;
}
