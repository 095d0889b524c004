/* Dialect adapters: golden tables of deliver_sm -> canonical event, and replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/ussd_dialect.h"

struct golden {
	const char *name;
	const char *link_json;  /* the link's config object */
	int op;                 /* -1: no ussd_service_op */
	int its;                /* -1: none; else the 16-bit value */
	int umr;                /* -1: none */
	const char *src;
	uint8_t ton;
	const char *dest;
	const char *sm;
	/* expected */
	int rc;
	enum ussd_ev_kind kind;
	bool has_net;
	uint32_t net;
	bool strong;
	int seq;
	const char *msisdn;
	const char *text;
};

static const struct golden table[] = {
	{"standard dial", "{}", 1, 0x2A00, -1, "254700000001", 1, "384", "*384#",
	 0, USSD_EV_NEW, true, 42, true, 0, "254700000001", "*384#"},
	{"standard answer", "{}", 18, 0x2A02, -1, "254700000001", 1, "384", "1",
	 0, USSD_EV_CONTINUE, true, 42, true, 1, "254700000001", "1"},
	{"standard end bit from the network", "{}", 18, 0x2A05, -1, "254700000001", 1, "384", "",
	 0, USSD_EV_ABORT, true, 42, true, 2, "254700000001", ""},
	{"vendor abort 0x81", "{}", 0x81, 0x2A04, -1, "254700000001", 1, "384", "",
	 0, USSD_EV_ABORT, true, 42, true, 2, "254700000001", ""},
	{"configured timeout op", "{\"ussd_timeout_ops\": [\"0x22\"]}", 0x22, 0x2A04, -1,
	 "254700000001", 1, "384", "", 0, USSD_EV_TIMEOUT, true, 42, true, 2, "254700000001", ""},
	{"abort ops replaced by config", "{\"ussd_abort_ops\": [\"150\"]}", 150, 0x0102, -1,
	 "254700000001", 1, "384", "", 0, USSD_EV_ABORT, true, 1, true, 1, "254700000001", ""},
	{"USSN confirm ends", "{}", 19, 0x0702, -1, "254700000001", 1, "384", "",
	 0, USSD_EV_END, true, 7, true, 1, "254700000001", ""},
	{"packed dial", "{\"ussd_session_field\": \"packed\"}", 1, (300 << 1), -1, "254700000002",
	 1, "384", "*384*1#", 0, USSD_EV_NEW, true, 300, false, -1, "254700000002", "*384*1#"},
	{"packed end", "{\"ussd_session_field\": \"packed\"}", 18, (300 << 1) | 1, -1,
	 "254700000002", 1, "384", "", 0, USSD_EV_ABORT, true, 300, false, -1, "254700000002", ""},
	{"umr answer", "{\"ussd_session_field\": \"umr\"}", 18, -1, 4711, "254700000003", 1, "384",
	 "2", 0, USSD_EV_CONTINUE, true, 4711, false, -1, "254700000003", "2"},
	{"none: no session id", "{\"ussd_session_field\": \"none\"}", 18, 0x2A02, 9, "254700000003",
	 1, "384", "2", 0, USSD_EV_CONTINUE, false, 0, false, -1, "254700000003", "2"},
	{"code in destination_addr", "{\"ussd_code_field\": \"destination_addr\"}", 1, 0x0100, -1,
	 "254700000001", 1, "*384#", "", 0, USSD_EV_NEW, true, 1, true, 0, "254700000001", "*384#"},
	{"national MSISDN", "{}", 1, 0x0100, -1, "0700000009", 2, "384", "*384#",
	 0, USSD_EV_NEW, true, 1, true, 0, "254700000009", "*384#"},
	{"no op, service_type only, dial string", "{}", -1, 0x0100, -1, "254700000001", 1, "384",
	 "*384#", 0, USSD_EV_NEW, true, 1, true, 0, "254700000001", "*384#"},
	{"alphanumeric source refused", "{}", 1, 0x0100, -1, "BANK", 5, "384", "*384#",
	 GW_EINVAL, 0, false, 0, false, 0, NULL, NULL},
};

static void build(const struct golden *g, struct smpp_pdu *p)
{
	smpp_pdu_init(p, SMPP_DELIVER_SM, 77);
	p->service_type = smpp_str_c("USSD");
	p->source_addr = smpp_str_c(g->src);
	p->source_addr_ton = g->ton;
	p->source_addr_npi = 1;
	p->destination_addr = smpp_str_c(g->dest);
	p->data_coding = 0x0F;
	p->short_message = (const uint8_t *)g->sm;
	p->sm_length = strlen(g->sm);
	if (g->op >= 0)
		smpp_pdu_add_tlv_u8(p, SMPP_TLV_USSD_SERVICE_OP, (uint8_t)g->op);
	if (g->its >= 0)
		smpp_pdu_add_tlv_u16(p, SMPP_TLV_ITS_SESSION_INFO, (uint16_t)g->its);
	if (g->umr >= 0)
		smpp_pdu_add_tlv_u16(p, SMPP_TLV_USER_MESSAGE_REFERENCE, (uint16_t)g->umr);
}

static void load_cfg(const char *js, struct ussd_link_cfg *lc)
{
	json_t *o = json_loads(js, 0, NULL);
	assert_non_null(o);
	assert_int_equal(ussd_link_cfg_from_json(o, lc), 0);
	json_decref(o);
}

static void test_golden(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct golden *g = &table[i];
		struct ussd_link_cfg lc;
		load_cfg(g->link_json, &lc);
		struct smpp_pdu p;
		build(g, &p);
		struct ussd_event ev;
		int rc = ussd_dialect_decode(&lc, &p, &ev);
		print_message("%s\n", g->name);
		assert_int_equal(rc, g->rc);
		if (rc)
			continue;
		assert_int_equal(ev.kind, g->kind);
		assert_int_equal(ev.has_net_id, g->has_net);
		if (g->has_net)
			assert_int_equal(ev.net_id, g->net);
		assert_int_equal(ev.fp_strong, g->strong);
		if (g->seq >= 0)
			assert_int_equal(ev.seq, g->seq);
		assert_string_equal(ev.msisdn, g->msisdn);
		assert_string_equal(ev.text, g->text);
		assert_int_equal(ev.smpp_seq, 77);
		assert_true(ussd_pdu_is_ussd(&lc, &p));
	}
}

/* Same step re-sent: same fingerprint; the same digit typed at the next step: a different one. */
static void test_fingerprint(void **state)
{
	(void)state;
	struct ussd_link_cfg lc;
	load_cfg("{}", &lc);
	struct golden g = table[1];
	struct smpp_pdu p;
	struct ussd_event a, b, c;
	build(&g, &p);
	assert_int_equal(ussd_dialect_decode(&lc, &p, &a), 0);
	p.sequence_number = 99; /* new_seq re-send */
	assert_int_equal(ussd_dialect_decode(&lc, &p, &b), 0);
	assert_string_equal(a.fp, b.fp);
	g.its = 0x2A04; /* the subscriber typed "1" again at the next step */
	build(&g, &p);
	assert_int_equal(ussd_dialect_decode(&lc, &p, &c), 0);
	assert_string_not_equal(a.fp, c.fp);
}

static void test_sms_is_not_ussd(void **state)
{
	(void)state;
	struct ussd_link_cfg lc;
	load_cfg("{}", &lc);
	struct smpp_pdu p;
	smpp_pdu_init(&p, SMPP_DELIVER_SM, 1);
	p.source_addr = smpp_str_c("254700000001");
	p.short_message = (const uint8_t *)"BAL";
	p.sm_length = 3;
	assert_false(ussd_pdu_is_ussd(&lc, &p));
	p.service_type = smpp_str_c("USSD");
	assert_true(ussd_pdu_is_ussd(&lc, &p));
	p.service_type = smpp_str_c("");
	smpp_pdu_add_tlv_u8(&p, SMPP_TLV_USSD_SERVICE_OP, 18);
	assert_true(ussd_pdu_is_ussd(&lc, &p));
	p.esm_class = 0x04; /* a receipt */
	assert_false(ussd_pdu_is_ussd(&lc, &p));
}

static void test_bad_config(void **state)
{
	(void)state;
	struct ussd_link_cfg lc;
	const char *bad[] = {"{\"ussd_session_field\": \"x\"}", "{\"ussd_code_field\": \"x\"}",
			     "{\"ussd_abort_ops\": [\"300\"]}", "{\"ussd_abort_ops\": [\"0xzz\"]}",
			     "{\"country_code\": \"0\"}"};
	for (size_t i = 0; i < 5; i++) {
		json_t *o = json_loads(bad[i], 0, NULL);
		assert_int_equal(ussd_link_cfg_from_json(o, &lc), GW_EINVAL);
		json_decref(o);
	}
}

static void reply_case(const char *dialect, int its, int umr, bool end, const char *text,
		       int want_op, int want_its, int want_umr)
{
	char js[128];
	snprintf(js, sizeof(js), "{\"ussd_session_field\": \"%s\"}", dialect);
	struct ussd_link_cfg lc;
	load_cfg(js, &lc);
	struct golden g = table[1];
	g.its = its;
	g.umr = umr;
	struct smpp_pdu p, out;
	build(&g, &p);
	struct ussd_event ev;
	assert_int_equal(ussd_dialect_decode(&lc, &p, &ev), 0);
	struct ussd_reply_buf buf;
	struct ussd_reply r = {.end = end, .text = text};
	assert_int_equal(ussd_dialect_encode_reply(&lc, &ev, &r, &out, &buf), 0);
	assert_int_equal(out.command_id, SMPP_SUBMIT_SM);
	assert_true(smpp_str_eq(out.destination_addr, "254700000001"));
	assert_true(smpp_str_eq(out.source_addr, "384"));
	assert_true(smpp_str_eq(out.service_type, "USSD"));
	uint32_t v;
	assert_int_equal(smpp_pdu_tlv_uint(&out, SMPP_TLV_USSD_SERVICE_OP, &v), 0);
	assert_int_equal(v, want_op);
	int rc = smpp_pdu_tlv_uint(&out, SMPP_TLV_ITS_SESSION_INFO, &v);
	if (want_its < 0)
		assert_int_equal(rc, GW_ENOENT);
	else
		assert_int_equal(v, want_its);
	rc = smpp_pdu_tlv_uint(&out, SMPP_TLV_USER_MESSAGE_REFERENCE, &v);
	if (want_umr < 0)
		assert_int_equal(rc, GW_ENOENT);
	else
		assert_int_equal(v, want_umr);
	assert_true(out.sm_length <= 182);
	uint8_t wire[512];
	size_t wl;
	assert_int_equal(smpp_encode(&out, wire, sizeof(wire), &wl), 0);
}

static void test_replies(void **state)
{
	(void)state;
	reply_case("its_session_info", 0x2A02, -1, false, "DemoPesa\n1. Send", 2, 0x2A02, -1);
	reply_case("its_session_info", 0x2A02, -1, true, "Bye", 17, 0x2A03, -1);
	reply_case("packed", (300 << 1), -1, true, "Bye", 17, (300 << 1) | 1, -1);
	reply_case("umr", -1, 4711, false, "Menu", 2, -1, 4711);
	reply_case("none", -1, -1, true, "Bye", 17, -1, -1);
	char longtext[400];
	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	reply_case("none", -1, -1, true, longtext, 17, -1, -1); /* cut to one USSD message */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),	   cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_sms_is_not_ussd), cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
