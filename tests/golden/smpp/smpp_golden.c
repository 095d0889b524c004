/* Golden test driver for the SMPP codec: reads "name hex" vectors and prints,
 * for each, what the frame reader and the decoder make of it, the answer a
 * server would send for a rejected PDU, and whether re-encoding a decoded PDU
 * gives back the same bytes. The output is compared with pdu_vectors.ok. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/smpp_pdu.h"

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	while (s[0] && s[1] && n < cap && isxdigit((unsigned char)s[0])) {
		unsigned v;
		if (sscanf(s, "%2x", &v) != 1)
			break;
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

static void print_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

static void run(const char *name, const uint8_t *buf, size_t len)
{
	static struct smpp_pdu pdu, again;
	static char desc[16384];
	static uint8_t out[8192];
	size_t flen, olen;
	printf("== %s (%zu bytes)\n", name, len);
	enum smpp_frame_result fr = smpp_frame(buf, len, SMPP_DEFAULT_MAX_PDU_LEN, &flen);
	if (fr == SMPP_FRAME_NEED_MORE) {
		printf("frame: NEED_MORE total=%zu\n", flen);
		return;
	}
	if (fr == SMPP_FRAME_BAD) {
		printf("frame: BAD command_length=%zu\n", flen);
		/* what a server does: read the sequence when 16 bytes are there */
		smpp_decode(buf, len < SMPP_HEADER_LEN ? len : SMPP_HEADER_LEN, NULL, &pdu);
		if (smpp_encode_error(&pdu, ESME_RINVCMDLEN, out, sizeof(out), &olen) == 0) {
			printf("answer: ");
			print_hex(out, olen);
			printf("\n");
		}
		return;
	}
	printf("frame: OK len=%zu%s\n", flen, flen < len ? " (more bytes follow)" : "");
	int rc = smpp_decode(buf, flen, NULL, &pdu);
	if (rc < 0) {
		printf("decode: %s error_status=%s(0x%02X) header_valid=%d cmd=%s seq=%u\n",
		       gw_errname(rc), smpp_status_name(pdu.error_status), pdu.error_status,
		       pdu.header_valid, smpp_command_name(pdu.command_id), pdu.sequence_number);
		if (smpp_encode_error(&pdu, pdu.error_status, out, sizeof(out), &olen) == 0) {
			printf("answer: ");
			print_hex(out, olen);
			printf("\n");
		}
		return;
	}
	smpp_pdu_describe(&pdu, 0, desc, sizeof(desc));
	printf("decode: ok %s\n", desc);
	smpp_pdu_describe(&pdu, SMPP_DESCRIBE_REDACT, desc, sizeof(desc));
	printf("redacted: %s\n", desc);
	rc = smpp_encode(&pdu, out, sizeof(out), &olen);
	if (rc < 0) {
		printf("encode: %s\n", gw_errname(rc));
		return;
	}
	if (olen == flen && memcmp(out, buf, flen) == 0) {
		printf("encode: identical\n");
	} else {
		printf("encode: %zu bytes ", olen);
		print_hex(out, olen);
		printf("\n");
		rc = smpp_decode(out, olen, NULL, &again);
		printf("decode again: %s\n", rc == 0 ? "ok" : gw_errname(rc));
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s VECTORS\n", argv[0]);
		return 2;
	}
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	static char line[65536];
	static uint8_t buf[32768];
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = 0;
		size_t len = unhex(sp + 1, buf, sizeof(buf));
		run(line, buf, len);
		n++;
	}
	fclose(f);
	printf("%d vectors\n", n);
	return n > 0 ? 0 : 1;
}
