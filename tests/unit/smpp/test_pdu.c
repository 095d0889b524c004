/* Unit tests of the SMPP PDU codec: framing, decode/encode round trips, the
 * statuses rejected input maps to, error answers, TLV helpers, name tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/smpp_pdu.h"

static struct smpp_pdu pdu, back;
static uint8_t buf[70000];

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A USSD deliver_sm as an SMSC sends it when a subscriber dials *384#. */
static size_t build_ussd_deliver(uint8_t *out, size_t cap)
{
	smpp_pdu_init(&pdu, SMPP_DELIVER_SM, 7);
	pdu.service_type = smpp_str_c("USSD");
	pdu.source_addr_ton = 1;
	pdu.source_addr_npi = 1;
	pdu.source_addr = smpp_str_c("255700000001");
	pdu.destination_addr = smpp_str_c("384");
	pdu.data_coding = 0x0F;
	pdu.short_message = (const uint8_t *)"*384#";
	pdu.sm_length = 5;
	assert_int_equal(smpp_pdu_add_tlv_u8(&pdu, SMPP_TLV_USSD_SERVICE_OP, SMPP_USSD_PSSR_IND),
			 0);
	assert_int_equal(smpp_pdu_add_tlv_u16(&pdu, SMPP_TLV_ITS_SESSION_INFO, 0x2A00), 0);
	size_t len = 0;
	assert_int_equal(smpp_encode(&pdu, out, cap, &len), 0);
	return len;
}

static void test_frame(void **state)
{
	size_t fl;
	uint8_t b[32] = {0};
	assert_int_equal(smpp_frame(b, 0, 0, &fl), SMPP_FRAME_NEED_MORE);
	assert_int_equal(fl, 4);
	assert_int_equal(smpp_frame(b, 3, 0, &fl), SMPP_FRAME_NEED_MORE);
	put32(b, 15);
	assert_int_equal(smpp_frame(b, 4, 0, &fl), SMPP_FRAME_BAD);
	assert_int_equal(fl, 15);
	put32(b, 0);
	assert_int_equal(smpp_frame(b, 16, 0, &fl), SMPP_FRAME_BAD);
	put32(b, SMPP_DEFAULT_MAX_PDU_LEN + 1);
	assert_int_equal(smpp_frame(b, 32, 0, &fl), SMPP_FRAME_BAD);
	put32(b, 5000);
	assert_int_equal(smpp_frame(b, 32, 8192, &fl), SMPP_FRAME_NEED_MORE);
	assert_int_equal(fl, 5000);
	put32(b, 20);
	assert_int_equal(smpp_frame(b, 19, 0, &fl), SMPP_FRAME_NEED_MORE);
	assert_int_equal(fl, 20);
	assert_int_equal(smpp_frame(b, 20, 0, &fl), SMPP_FRAME_OK);
	assert_int_equal(smpp_frame(b, 32, 0, &fl), SMPP_FRAME_OK);
	assert_int_equal(fl, 20);
	assert_int_equal(smpp_frame(b, 32, 19, &fl), SMPP_FRAME_BAD);
}

static void test_ussd_roundtrip(void **state)
{
	size_t len = build_ussd_deliver(buf, sizeof(buf));
	assert_int_equal(len, 68);
	assert_int_equal(buf[3], 68);
	assert_int_equal(smpp_decode(buf, len, NULL, &back), 0);
	assert_int_equal(back.command_id, SMPP_DELIVER_SM);
	assert_int_equal(back.sequence_number, 7);
	assert_true(smpp_str_eq(back.service_type, "USSD"));
	assert_true(smpp_str_eq(back.source_addr, "255700000001"));
	assert_true(smpp_str_eq(back.destination_addr, "384"));
	assert_int_equal(back.sm_length, 5);
	assert_memory_equal(back.short_message, "*384#", 5);
	/* zero-copy: the strings point into the input buffer */
	assert_true((const uint8_t *)back.source_addr.ptr > buf &&
		    (const uint8_t *)back.source_addr.ptr < buf + len);
	uint32_t v = 0;
	assert_int_equal(smpp_pdu_tlv_uint(&back, SMPP_TLV_USSD_SERVICE_OP, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(smpp_pdu_tlv_uint(&back, SMPP_TLV_ITS_SESSION_INFO, &v), 0);
	assert_int_equal(v, 0x2A00);
	assert_int_equal(smpp_pdu_tlv_uint(&back, SMPP_TLV_MESSAGE_STATE, &v), GW_ENOENT);
	const struct smpp_tlv *t = smpp_pdu_find_tlv(&back, SMPP_TLV_ITS_SESSION_INFO);
	assert_non_null(t);
	assert_int_equal(t->len, 2);
	assert_int_equal(smpp_tlv_value(t)[0], 0x2A);

	/* re-encoding the decoded PDU gives the same bytes */
	static uint8_t again[256];
	size_t alen;
	assert_int_equal(smpp_encode(&back, again, sizeof(again), &alen), 0);
	assert_int_equal(alen, len);
	assert_memory_equal(again, buf, len);
}

static void test_encode_cap(void **state)
{
	size_t len = build_ussd_deliver(buf, sizeof(buf));
	static uint8_t small[128];
	for (size_t cap = 0; cap < len; cap++) {
		size_t l = 999;
		assert_int_equal(smpp_encode(&pdu, small, cap, &l), GW_EMSGSIZE);
		assert_int_equal(l, 999);
	}
	size_t l;
	assert_int_equal(smpp_encode(&pdu, small, len, &l), 0);
	assert_int_equal(l, len);
}

static void test_encode_rejects(void **state)
{
	size_t l;
	build_ussd_deliver(buf, sizeof(buf));
	struct smpp_pdu p = pdu;
	p.source_addr = smpp_str_c("123456789012345678901"); /* 21 chars, max 20 */
	assert_int_equal(smpp_encode(&p, buf, sizeof(buf), &l), GW_EINVAL);
	p = pdu;
	p.service_type = (struct smpp_str){"US\0SD", 5};
	assert_int_equal(smpp_encode(&p, buf, sizeof(buf), &l), GW_EINVAL);
	p = pdu;
	static uint8_t big[300];
	p.short_message = big;
	p.sm_length = 255;
	assert_int_equal(smpp_encode(&p, buf, sizeof(buf), &l), GW_EINVAL);
	p.sm_length = 254;
	assert_int_equal(smpp_encode(&p, buf, sizeof(buf), &l), 0);
	p = pdu;
	smpp_pdu_add_tlv(&p, SMPP_TLV_MESSAGE_PAYLOAD, "x", 1); /* with short_message */
	assert_int_equal(smpp_encode(&p, buf, sizeof(buf), &l), GW_EINVAL);
	p = pdu;
	smpp_pdu_add_tlv(&p, SMPP_TLV_USSD_SERVICE_OP, "\x01\x02", 2);
	assert_int_equal(smpp_encode(&p, buf, sizeof(buf), &l), GW_EINVAL);
	p = pdu;
	p.command_id = SMPP_QUERY_SM; /* carries no TLVs */
	assert_int_equal(smpp_encode(&p, buf, sizeof(buf), &l), GW_EINVAL);
	p.command_id = 0x99;
	assert_int_equal(smpp_encode(&p, buf, sizeof(buf), &l), GW_EINVAL);
}

static void test_truncations(void **state)
{
	size_t len = build_ussd_deliver(buf, sizeof(buf));
	static uint8_t cut[128];
	for (size_t n = 0; n < len; n++) {
		memcpy(cut, buf, n);
		/* as received: the header still says the full length */
		assert_int_equal(smpp_decode(cut, n, NULL, &back), GW_EPROTO_MALFORMED);
		assert_int_equal(back.error_status, ESME_RINVCMDLEN);
		assert_int_equal(back.header_valid, n >= 16);
		if (n < 16)
			continue;
		/* and with command_length fixed up to the cut: the body is short */
		put32(cut, (uint32_t)n);
		int rc = smpp_decode(cut, n, NULL, &back);
		/* cutting at a TLV boundary leaves a valid, shorter PDU */
		size_t tlvs_start = len - 5 - 6, after_first = len - 6;
		if (n == tlvs_start || n == after_first) {
			assert_int_equal(rc, 0);
			assert_int_equal(back.tlv_count, n == tlvs_start ? 0 : 1);
			continue;
		}
		assert_int_equal(rc, GW_EPROTO_MALFORMED);
		assert_true(back.error_status == ESME_RINVCMDLEN ||
			    back.error_status == ESME_RINVMSGLEN ||
			    back.error_status == ESME_RINVOPTPARSTREAM);
		assert_int_equal(back.sequence_number, 7);
	}
}

static void test_limits(void **state)
{
	size_t len = build_ussd_deliver(buf, sizeof(buf));
	struct smpp_decode_opts o = {.max_tlvs = 2};
	assert_int_equal(smpp_decode(buf, len, &o, &back), 0);
	o.max_tlvs = 1;
	assert_int_equal(smpp_decode(buf, len, &o, &back), GW_EPROTO_MALFORMED);
	assert_int_equal(back.error_status, ESME_RINVOPTPARSTREAM);
	o.max_tlvs = 0;
	o.max_pdu_len = (uint32_t)len - 1;
	assert_int_equal(smpp_decode(buf, len, &o, &back), GW_EPROTO_MALFORMED);
	assert_int_equal(back.error_status, ESME_RINVCMDLEN);

	/* exactly SMPP_MAX_TLVS TLVs pass, one more does not */
	smpp_pdu_init(&pdu, SMPP_SUBMIT_SM, 3);
	for (unsigned i = 0; i < SMPP_MAX_TLVS; i++)
		assert_int_equal(smpp_pdu_add_tlv_u8(&pdu, 0x1400, (uint8_t)i), 0);
	assert_int_equal(smpp_pdu_add_tlv_u8(&pdu, 0x1400, 0), GW_ENOSPC);
	assert_int_equal(smpp_encode(&pdu, buf, sizeof(buf), &len), 0);
	assert_int_equal(smpp_decode(buf, len, NULL, &back), 0);
	assert_int_equal(back.tlv_count, SMPP_MAX_TLVS);
	/* append a 65th by hand */
	memcpy(buf + len, "\x14\x00\x00\x01\x07", 5);
	len += 5;
	put32(buf, (uint32_t)len);
	struct smpp_decode_opts big = {.max_pdu_len = 65536};
	assert_int_equal(smpp_decode(buf, len, &big, &back), GW_EPROTO_MALFORMED);
	assert_int_equal(back.error_status, ESME_RINVOPTPARSTREAM);
}

static void test_message_payload(void **state)
{
	static uint8_t payload[1500];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	smpp_pdu_init(&pdu, SMPP_SUBMIT_SM, 9);
	assert_int_equal(smpp_pdu_add_tlv(&pdu, SMPP_TLV_MESSAGE_PAYLOAD, payload, sizeof(payload)),
			 0);
	size_t len;
	assert_int_equal(smpp_encode(&pdu, buf, sizeof(buf), &len), 0);
	assert_int_equal(smpp_decode(buf, len, NULL, &back), 0);
	const struct smpp_tlv *t = smpp_pdu_find_tlv(&back, SMPP_TLV_MESSAGE_PAYLOAD);
	assert_non_null(t);
	assert_int_equal(t->len, sizeof(payload));
	assert_memory_equal(smpp_tlv_value(t), payload, sizeof(payload));
	uint32_t v;
	assert_int_equal(smpp_pdu_tlv_uint(&back, SMPP_TLV_MESSAGE_PAYLOAD, &v),
			 GW_EPROTO_MALFORMED);
}

static void test_header_only_and_errors(void **state)
{
	static const uint8_t bindfail[] = {0, 0, 0, 0x10, 0x80, 0, 0, 0x09,
					   0, 0, 0, 0x0d, 0,	0, 0, 1};
	assert_int_equal(smpp_decode(bindfail, sizeof(bindfail), NULL, &back), 0);
	assert_int_equal(back.command_status, ESME_RBINDFAIL);
	assert_true(back.flags & SMPP_PDU_F_HEADER_ONLY);
	assert_int_equal(back.system_id.len, 0);

	/* A request never decodes header-only: submit_sm of 16 bytes is short. */
	uint8_t req[16] = {0, 0, 0, 0x10, 0, 0, 0, 0x04, 0, 0, 0, 0, 0, 0, 0, 9};
	assert_int_equal(smpp_decode(req, sizeof(req), NULL, &back), GW_EPROTO_MALFORMED);
	assert_int_equal(back.error_status, ESME_RINVCMDLEN);

	size_t l;
	/* bad command_length: generic_nack echoing the sequence */
	assert_int_equal(smpp_encode_error(&back, ESME_RINVCMDLEN, buf, sizeof(buf), &l), 0);
	assert_int_equal(l, 16);
	assert_memory_equal(buf, "\x00\x00\x00\x10\x80\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x09",
			    16);
	/* other statuses on a known request: the matching response */
	assert_int_equal(smpp_encode_error(&back, ESME_RINVPARLEN, buf, sizeof(buf), &l), 0);
	assert_memory_equal(buf, "\x00\x00\x00\x10\x80\x00\x00\x04\x00\x00\x00\xc2\x00\x00\x00\x09",
			    16);
	/* unreadable header: sequence 0 */
	assert_int_equal(smpp_encode_error(NULL, ESME_RINVCMDLEN, buf, sizeof(buf), &l), 0);
	assert_memory_equal(buf, "\x00\x00\x00\x10\x80\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00",
			    16);
	/* outbind and alert_notification have no response: generic_nack */
	smpp_pdu_init(&pdu, SMPP_ALERT_NOTIFICATION, 4);
	pdu.header_valid = true;
	assert_int_equal(smpp_encode_error(&pdu, ESME_RINVPARLEN, buf, sizeof(buf), &l), 0);
	assert_int_equal(buf[4], 0x80);
	assert_int_equal(buf[7], 0x00);

	/* error answers decode as header-only responses */
	assert_int_equal(smpp_decode(buf, 16, NULL, &back), 0);
	assert_int_equal(back.command_id, SMPP_GENERIC_NACK);
	assert_int_equal(back.command_status, ESME_RINVPARLEN);
	assert_int_equal(back.sequence_number, 4);
	assert_int_equal(smpp_encode_error(&pdu, 0, buf, 15, &l), GW_EMSGSIZE);
}

static void test_all_commands(void **state)
{
	static const uint32_t ids[] = {
	    SMPP_BIND_RECEIVER,
	    SMPP_BIND_RECEIVER_RESP,
	    SMPP_BIND_TRANSMITTER,
	    SMPP_BIND_TRANSMITTER_RESP,
	    SMPP_BIND_TRANSCEIVER,
	    SMPP_BIND_TRANSCEIVER_RESP,
	    SMPP_OUTBIND,
	    SMPP_UNBIND,
	    SMPP_UNBIND_RESP,
	    SMPP_ENQUIRE_LINK,
	    SMPP_ENQUIRE_LINK_RESP,
	    SMPP_GENERIC_NACK,
	    SMPP_SUBMIT_SM,
	    SMPP_SUBMIT_SM_RESP,
	    SMPP_DELIVER_SM,
	    SMPP_DELIVER_SM_RESP,
	    SMPP_DATA_SM,
	    SMPP_DATA_SM_RESP,
	    SMPP_QUERY_SM,
	    SMPP_QUERY_SM_RESP,
	    SMPP_CANCEL_SM,
	    SMPP_CANCEL_SM_RESP,
	    SMPP_REPLACE_SM,
	    SMPP_REPLACE_SM_RESP,
	    SMPP_ALERT_NOTIFICATION,
	};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		assert_true(smpp_command_known(ids[i]));
		assert_string_not_equal(smpp_command_name(ids[i]), "UNKNOWN");
		smpp_pdu_init(&pdu, ids[i], (uint32_t)i + 1);
		pdu.system_id = smpp_str_c("sys");
		pdu.message_id = smpp_str_c("mid");
		pdu.source_addr = smpp_str_c("123");
		pdu.esme_addr = smpp_str_c("esme");
		size_t l;
		assert_int_equal(smpp_encode(&pdu, buf, sizeof(buf), &l), 0);
		assert_int_equal(smpp_decode(buf, l, NULL, &back), 0);
		assert_int_equal(back.command_id, ids[i]);
		assert_int_equal(back.sequence_number, i + 1);
		assert_int_equal(back.command_length, l);
		static uint8_t again[512];
		size_t l2;
		assert_int_equal(smpp_encode(&back, again, sizeof(again), &l2), 0);
		assert_int_equal(l2, l);
		assert_memory_equal(again, buf, l);
	}
	assert_false(smpp_command_known(SMPP_SUBMIT_MULTI));
	assert_string_equal(smpp_command_name(SMPP_SUBMIT_MULTI), "submit_multi");
	assert_string_equal(smpp_command_name(0x10200), "UNKNOWN");
}

static void test_names(void **state)
{
	assert_string_equal(smpp_command_name(SMPP_DELIVER_SM_RESP), "deliver_sm_resp");
	assert_string_equal(smpp_command_name(SMPP_GENERIC_NACK), "generic_nack");
	assert_string_equal(smpp_status_name(ESME_RTHROTTLED), "ESME_RTHROTTLED");
	assert_string_equal(smpp_status_name(0x400), "VENDOR");
	assert_string_equal(smpp_status_name(0x4FF), "VENDOR");
	assert_string_equal(smpp_status_name(0x500), "UNKNOWN");
	assert_string_equal(smpp_tlv_name(SMPP_TLV_ITS_SESSION_INFO), "its_session_info");
	assert_string_equal(smpp_tlv_name(0x1400), "UNKNOWN");
}

static void test_describe(void **state)
{
	size_t len = build_ussd_deliver(buf, sizeof(buf));
	assert_int_equal(smpp_decode(buf, len, NULL, &back), 0);
	char d[512], small[20];
	size_t need = smpp_pdu_describe(&back, SMPP_DESCRIBE_REDACT, d, sizeof(d));
	assert_int_equal(need, strlen(d));
	assert_null(strstr(d, "255700000001"));
	assert_non_null(strstr(d, "source_addr=<12 bytes>"));
	assert_non_null(strstr(d, "tlv:ussd_service_op(0x0501)=01"));
	smpp_pdu_describe(&back, 0, d, sizeof(d));
	assert_non_null(strstr(d, "source_addr=\"255700000001\""));
	assert_int_equal(smpp_pdu_describe(&back, 0, small, sizeof(small)), strlen(d));
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frame),	    cmocka_unit_test(test_ussd_roundtrip),
	    cmocka_unit_test(test_encode_cap),	    cmocka_unit_test(test_encode_rejects),
	    cmocka_unit_test(test_truncations),	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_message_payload), cmocka_unit_test(test_header_only_and_errors),
	    cmocka_unit_test(test_all_commands),    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_describe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
