/* Fuzz target for the SMPP read path exactly as a server runs it: split the
 * input stream with smpp_frame(), decode each frame with smpp_decode(), answer
 * rejected frames with smpp_encode_error(). Every PDU that decodes is
 * re-encoded: the bytes must be the input frame (or a header-only answer for an
 * error response whose body was skipped), and decoding them again must give an
 * equal PDU. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/smpp_pdu.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct smpp_pdu pdu, again;
	static uint8_t out[70000];
	static char desc[1 << 17];
	const struct smpp_decode_opts opts = {.max_pdu_len = 65536, .max_tlvs = SMPP_MAX_TLVS};
	size_t off = 0;

	while (off < size) {
		size_t flen, olen;
		enum smpp_frame_result fr =
		    smpp_frame(data + off, size - off, opts.max_pdu_len, &flen);
		if (fr == SMPP_FRAME_NEED_MORE) {
			CHECK(flen > size - off);
			break;
		}
		if (fr == SMPP_FRAME_BAD) {
			size_t h = size - off < SMPP_HEADER_LEN ? size - off : SMPP_HEADER_LEN;
			CHECK(smpp_decode(data + off, h, &opts, &pdu) < 0);
			CHECK(pdu.error_status == ESME_RINVCMDLEN);
			CHECK(smpp_encode_error(&pdu, ESME_RINVCMDLEN, out, sizeof(out), &olen) ==
			      0);
			CHECK(olen == SMPP_HEADER_LEN);
			break;
		}
		CHECK(flen >= SMPP_HEADER_LEN && flen <= size - off);
		const uint8_t *frame = data + off;
		off += flen;

		int rc = smpp_decode(frame, flen, &opts, &pdu);
		if (rc < 0) {
			CHECK(pdu.error_status != 0);
			CHECK(pdu.header_valid);
			CHECK(smpp_encode_error(&pdu, pdu.error_status, out, sizeof(out), &olen) ==
			      0);
			CHECK(olen == SMPP_HEADER_LEN);
			CHECK(smpp_decode(out, olen, &opts, &again) == 0);
			CHECK(again.sequence_number == pdu.sequence_number);
			continue;
		}
		CHECK(pdu.tlv_count <= SMPP_MAX_TLVS);
		CHECK(smpp_command_known(pdu.command_id));
		smpp_pdu_describe(&pdu, 0, desc, sizeof(desc));
		smpp_pdu_describe(&pdu, SMPP_DESCRIBE_REDACT, desc, sizeof(desc));

		CHECK(smpp_encode(&pdu, out, sizeof(out), &olen) == 0);
		if (pdu.flags & SMPP_PDU_F_BODY_SKIPPED)
			CHECK(olen == SMPP_HEADER_LEN && memcmp(out + 4, frame + 4, 12) == 0);
		else
			CHECK(olen == flen && memcmp(out, frame, flen) == 0);
		CHECK(smpp_decode(out, olen, &opts, &again) == 0);
		CHECK(smpp_pdu_equal(&pdu, &again, false));
		/* an encoder buffer one byte short is refused, never overrun */
		CHECK(smpp_encode(&pdu, out, olen - 1, &olen) < 0);
	}
	/* the unframed decoder on the raw input must not misbehave either */
	(void)smpp_decode(data, size, NULL, &pdu);
	return 0;
}
