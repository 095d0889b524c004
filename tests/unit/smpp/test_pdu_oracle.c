/* Differential test: our SMPP encoder and decoder against libsmpp34 as an
 * independent oracle, on the set libsmpp34 handles safely (every PDU type the
 * gateway meets, status 0, sequence >= 1, interface_version 0x34, at most 16
 * TLVs, sm_length <= 253, TLV values <= 1024 bytes). For each of many seeded
 * random PDUs:
 *   1. we encode; libsmpp34 unpacks our bytes; both decoders agree field by field;
 *   2. libsmpp34 packs what it decoded; our decoder reads that; it equals the
 *      original (TLVs in reverse order: libsmpp34 prepends while unpacking), and
 *      with at most one TLV the bytes are identical.
 * libsmpp34 discipline: zeroed structs, destroy_tlv() on every path, its global
 * error text copied right after each call, pack buffers >= len + 1, no dumps.
 * Everything outside that set is covered by tests/golden/smpp. */
#ifdef GW_NO_SMPP34
#include <stdio.h>
int main(void)
{
	fprintf(stderr, "libsmpp34 not available: skipped\n");
	return 77;
}
#else
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* Ours first: libsmpp34 #defines the ESME_* names our enum declares (same values). */
#include "ussdgw/smpp_pdu.h"

/* libsmpp34 needs this include order. */
/* clang-format off */
#include <smpp34.h>
#include <smpp34_structs.h>
#include <smpp34_params.h>
/* clang-format on */

union lib_pdu {
	struct {
		uint32_t command_length, command_id, command_status, sequence_number;
	} h;
	bind_transmitter_t bt;
	bind_transmitter_resp_t btr;
	bind_receiver_t br;
	bind_receiver_resp_t brr;
	bind_transceiver_t btx;
	bind_transceiver_resp_t btxr;
	outbind_t ob;
	unbind_t ub;
	unbind_resp_t ubr;
	generic_nack_t gn;
	submit_sm_t ss;
	submit_sm_resp_t ssr;
	deliver_sm_t ds;
	deliver_sm_resp_t dsr;
	data_sm_t dt;
	data_sm_resp_t dtr;
	query_sm_t qs;
	query_sm_resp_t qsr;
	cancel_sm_t cs;
	cancel_sm_resp_t csr;
	replace_sm_t rs;
	replace_sm_resp_t rsr;
	enquire_link_t el;
	alert_notification_t an;
};

static char lib_err[2048];

static void copy_lib_err(void)
{
	snprintf(lib_err, sizeof(lib_err), "%s", smpp34_strerror);
}

/* ---- deterministic random PDUs ------------------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n ? (uint32_t)(rng_state % n) : 0;
}

static char pool[16384];
static size_t pool_used;

static struct smpp_str rstr(size_t maxlen)
{
	size_t n = rnd(4) == 0 ? 0 : rnd((uint32_t)maxlen + 1);
	char *p = pool + pool_used;
	for (size_t i = 0; i < n; i++)
		p[i] = (char)(0x20 + rnd(0x5F));
	pool_used += n + 1;
	return (struct smpp_str){p, n};
}

static const uint8_t *rbytes(size_t n)
{
	uint8_t *p = (uint8_t *)pool + pool_used;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd(256);
	pool_used += n;
	return p;
}

static uint8_t rton(void)
{
	return (uint8_t)rnd(7);
}

static uint8_t rnpi(void)
{
	static const uint8_t npis[] = {0, 1, 3, 4, 6, 8, 9, 10, 14, 18};
	return npis[rnd(sizeof(npis))];
}

struct tlv_kind {
	uint16_t tag;
	uint16_t min, max;
};

static const struct tlv_kind sm_tlvs[] = {
    {SMPP_TLV_USSD_SERVICE_OP, 1, 1},
    {SMPP_TLV_ITS_SESSION_INFO, 2, 2},
    {SMPP_TLV_USER_MESSAGE_REFERENCE, 2, 2},
    {SMPP_TLV_SOURCE_PORT, 2, 2},
    {SMPP_TLV_DESTINATION_PORT, 2, 2},
    {SMPP_TLV_SAR_MSG_REF_NUM, 2, 2},
    {SMPP_TLV_SAR_TOTAL_SEGMENTS, 1, 1},
    {SMPP_TLV_SAR_SEGMENT_SEQNUM, 1, 1},
    {SMPP_TLV_PAYLOAD_TYPE, 1, 1},
    {SMPP_TLV_PRIVACY_INDICATOR, 1, 1},
    {SMPP_TLV_CALLBACK_NUM, 4, 19},
    {SMPP_TLV_LANGUAGE_INDICATOR, 1, 1},
    {0x1400, 1, 64},
};
static const struct tlv_kind deliver_tlvs[] = {
    {SMPP_TLV_MESSAGE_STATE, 1, 1},
    {SMPP_TLV_RECEIPTED_MESSAGE_ID, 1, 65},
    {SMPP_TLV_NETWORK_ERROR_CODE, 3, 3},
};
static const struct tlv_kind submit_tlvs[] = {
    {SMPP_TLV_MORE_MESSAGES_TO_SEND, 1, 1},
    {SMPP_TLV_ITS_REPLY_TYPE, 1, 1},
    {SMPP_TLV_DISPLAY_TIME, 1, 1},
    {SMPP_TLV_MS_VALIDITY, 1, 1},
    {SMPP_TLV_SMS_SIGNAL, 2, 2},
    {SMPP_TLV_SOURCE_ADDR_SUBUNIT, 1, 1},
    {SMPP_TLV_DEST_ADDR_SUBUNIT, 1, 1},
};
static const struct tlv_kind data_tlvs[] = {
    {SMPP_TLV_SOURCE_PORT, 2, 2},	    {SMPP_TLV_DESTINATION_PORT, 2, 2},
    {SMPP_TLV_SAR_MSG_REF_NUM, 2, 2},	    {SMPP_TLV_SAR_TOTAL_SEGMENTS, 1, 1},
    {SMPP_TLV_QOS_TIME_TO_LIVE, 4, 4},	    {SMPP_TLV_SET_DPF, 1, 1},
    {SMPP_TLV_RECEIPTED_MESSAGE_ID, 1, 65}, {SMPP_TLV_MESSAGE_STATE, 1, 1},
    {SMPP_TLV_NETWORK_ERROR_CODE, 3, 3},    {SMPP_TLV_USER_MESSAGE_REFERENCE, 2, 2},
    {SMPP_TLV_SOURCE_NETWORK_TYPE, 1, 1},   {SMPP_TLV_DEST_BEARER_TYPE, 1, 1},
    {SMPP_TLV_USSD_SERVICE_OP, 1, 1},
};

static void add_rand_tlvs(struct smpp_pdu *p, const struct tlv_kind *a, size_t na,
			  const struct tlv_kind *b, size_t nb, bool payload_ok)
{
	unsigned n = rnd(17);
	if (payload_ok && p->sm_length == 0 && rnd(3) == 0 && n < 16) {
		size_t l = rnd(1025);
		smpp_pdu_add_tlv(p, SMPP_TLV_MESSAGE_PAYLOAD, rbytes(l), l);
	}
	while (p->tlv_count < n) {
		size_t k = rnd((uint32_t)(na + nb));
		const struct tlv_kind *t = k < na ? &a[k] : &b[k - na];
		size_t l = t->min + rnd(t->max - t->min + 1u);
		smpp_pdu_add_tlv(p, t->tag, rbytes(l), l);
	}
}

static void rand_sm(struct smpp_pdu *p)
{
	p->source_addr_ton = rton();
	p->source_addr_npi = rnpi();
	p->dest_addr_ton = rton();
	p->dest_addr_npi = rnpi();
	p->esm_class = (uint8_t)rnd(256);
	p->protocol_id = (uint8_t)rnd(256);
	p->priority_flag = (uint8_t)rnd(4);
	p->registered_delivery = (uint8_t)rnd(32);
	p->replace_if_present_flag = (uint8_t)rnd(2);
	p->data_coding = (uint8_t)rnd(256);
	p->sm_default_msg_id = (uint8_t)rnd(256);
	p->sm_length = rnd(254);
	p->short_message = rbytes(p->sm_length);
}

static const char *rtime(void)
{
	return rnd(2) ? "" : "261125130000000+";
}

static void make_pdu(uint32_t id, struct smpp_pdu *p)
{
	smpp_pdu_init(p, id, 1 + rnd(0x7FFFFFFF));
	switch (id) {
	case SMPP_BIND_RECEIVER:
	case SMPP_BIND_TRANSMITTER:
	case SMPP_BIND_TRANSCEIVER:
		p->system_id = rstr(15);
		p->password = rstr(8);
		p->system_type = rstr(12);
		p->interface_version = 0x34;
		p->addr_ton = rton();
		p->addr_npi = rnpi();
		p->address_range = rstr(40);
		break;
	case SMPP_BIND_RECEIVER_RESP:
	case SMPP_BIND_TRANSMITTER_RESP:
	case SMPP_BIND_TRANSCEIVER_RESP:
		p->system_id = rstr(15);
		if (rnd(2))
			smpp_pdu_add_tlv_u8(p, SMPP_TLV_SC_INTERFACE_VERSION, 0x34);
		break;
	case SMPP_OUTBIND:
		p->system_id = rstr(15);
		p->password = rstr(8);
		break;
	case SMPP_SUBMIT_SM:
	case SMPP_DELIVER_SM:
		p->service_type = rstr(5);
		p->source_addr = rstr(20);
		p->destination_addr = rstr(20);
		rand_sm(p);
		if (id == SMPP_SUBMIT_SM) {
			p->schedule_delivery_time = smpp_str_c(rtime());
			p->validity_period = smpp_str_c(rtime());
			add_rand_tlvs(p, sm_tlvs, sizeof(sm_tlvs) / sizeof(sm_tlvs[0]), submit_tlvs,
				      sizeof(submit_tlvs) / sizeof(submit_tlvs[0]), true);
		} else {
			add_rand_tlvs(p, sm_tlvs, sizeof(sm_tlvs) / sizeof(sm_tlvs[0]),
				      deliver_tlvs, sizeof(deliver_tlvs) / sizeof(deliver_tlvs[0]),
				      true);
		}
		break;
	case SMPP_SUBMIT_SM_RESP:
	case SMPP_DATA_SM_RESP:
		p->message_id = rstr(64);
		break;
	case SMPP_DATA_SM:
		p->service_type = rstr(5);
		p->source_addr_ton = rton();
		p->source_addr_npi = rnpi();
		p->source_addr = rstr(20);
		p->dest_addr_ton = rton();
		p->dest_addr_npi = rnpi();
		p->destination_addr = rstr(64);
		p->esm_class = (uint8_t)rnd(256);
		p->registered_delivery = (uint8_t)rnd(32);
		p->data_coding = (uint8_t)rnd(256);
		add_rand_tlvs(p, data_tlvs, sizeof(data_tlvs) / sizeof(data_tlvs[0]), NULL, 0,
			      true);
		break;
	case SMPP_QUERY_SM:
		p->message_id = rstr(64);
		p->source_addr_ton = rton();
		p->source_addr_npi = rnpi();
		p->source_addr = rstr(20);
		break;
	case SMPP_QUERY_SM_RESP:
		p->message_id = rstr(64);
		p->final_date = smpp_str_c(rtime());
		p->message_state = (uint8_t)rnd(9);
		p->error_code = (uint8_t)rnd(256);
		break;
	case SMPP_CANCEL_SM:
		p->service_type = rstr(5);
		p->message_id = rstr(64);
		p->source_addr_ton = rton();
		p->source_addr_npi = rnpi();
		p->source_addr = rstr(20);
		p->dest_addr_ton = rton();
		p->dest_addr_npi = rnpi();
		p->destination_addr = rstr(20);
		break;
	case SMPP_REPLACE_SM:
		p->message_id = rstr(64);
		p->source_addr_ton = rton();
		p->source_addr_npi = rnpi();
		p->source_addr = rstr(20);
		p->schedule_delivery_time = smpp_str_c(rtime());
		p->validity_period = smpp_str_c(rtime());
		p->registered_delivery = (uint8_t)rnd(32);
		p->sm_default_msg_id = (uint8_t)rnd(256);
		p->sm_length = rnd(254);
		p->short_message = rbytes(p->sm_length);
		break;
	case SMPP_ALERT_NOTIFICATION:
		p->source_addr_ton = rton();
		p->source_addr_npi = rnpi();
		p->source_addr = rstr(64);
		p->esme_addr_ton = rton();
		p->esme_addr_npi = rnpi();
		p->esme_addr = rstr(64);
		if (rnd(2))
			smpp_pdu_add_tlv_u8(p, SMPP_TLV_MS_AVAILABILITY_STATUS, (uint8_t)rnd(3));
		break;
	default: /* unbind, enquire_link, generic_nack, *_resp without body */
		break;
	}
}

/* ---- field-by-field comparison -------------------------------------------- */

static int fails;

#define CHECK(cond, what)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s: %s differs\n", smpp_command_name(o->command_id),      \
				what);                                                             \
			fails++;                                                                   \
		}                                                                                  \
	} while (0)
#define S(ours, theirs)                                                                            \
	CHECK(strlen((const char *)(theirs)) == (ours).len &&                                      \
		  memcmp((theirs), (ours).ptr, (ours).len) == 0,                                   \
	      #ours)
#define U(ours, theirs) CHECK((ours) == (theirs), #ours)
#define SMSG(t)                                                                                    \
	CHECK((t).sm_length == o->sm_length &&                                                     \
		  memcmp((t).short_message, o->short_message, o->sm_length) == 0,                  \
	      "short_message")

/* One libsmpp34 TLV equals ours when its value, in whichever union member
 * libsmpp34 chose for that tag and PDU, holds the same bytes. */
static bool tlv_same(const struct smpp_tlv *ours, const tlv_t *t)
{
	const uint8_t *v = smpp_tlv_value(ours);
	if (t->tag != ours->tag || t->length != ours->len)
		return false;
	if (memcmp(t->value.octet, v, ours->len) == 0)
		return true;
	if (ours->len == 2 && t->value.val16 == (uint16_t)((v[0] << 8) | v[1]))
		return true;
	if (ours->len == 4 && t->value.val32 == ((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
						 (uint32_t)v[2] << 8 | v[3]))
		return true;
	return false;
}

static void cmp_tlvs(const struct smpp_pdu *o, const tlv_t *list)
{
	/* libsmpp34 prepends: its list is the wire order reversed */
	unsigned n = 0;
	for (const tlv_t *t = list; t; t = t->next)
		n++;
	CHECK(n == o->tlv_count, "tlv count");
	unsigned i = o->tlv_count;
	for (const tlv_t *t = list; t && i > 0; t = t->next) {
		i--;
		if (!tlv_same(&o->tlv[i], t)) {
			fprintf(stderr, "tlv %u (%s) differs\n", i, smpp_tlv_name(o->tlv[i].tag));
			fails++;
		}
	}
}

static const tlv_t *lib_tlvs(uint32_t id, const union lib_pdu *l)
{
	switch (id) {
	case SMPP_BIND_RECEIVER_RESP:
		return l->brr.tlv;
	case SMPP_BIND_TRANSMITTER_RESP:
		return l->btr.tlv;
	case SMPP_BIND_TRANSCEIVER_RESP:
		return l->btxr.tlv;
	case SMPP_SUBMIT_SM:
		return l->ss.tlv;
	case SMPP_DELIVER_SM:
		return l->ds.tlv;
	case SMPP_DATA_SM:
		return l->dt.tlv;
	case SMPP_ALERT_NOTIFICATION:
		return l->an.tlv;
	}
	return NULL;
}

static void destroy_lib(uint32_t id, union lib_pdu *l)
{
	tlv_t *t = (tlv_t *)lib_tlvs(id, l);
	if (t)
		destroy_tlv(t);
	switch (id) {
	case SMPP_BIND_RECEIVER_RESP:
		l->brr.tlv = NULL;
		break;
	case SMPP_BIND_TRANSMITTER_RESP:
		l->btr.tlv = NULL;
		break;
	case SMPP_BIND_TRANSCEIVER_RESP:
		l->btxr.tlv = NULL;
		break;
	case SMPP_SUBMIT_SM:
		l->ss.tlv = NULL;
		break;
	case SMPP_DELIVER_SM:
		l->ds.tlv = NULL;
		break;
	case SMPP_DATA_SM:
		l->dt.tlv = NULL;
		break;
	case SMPP_ALERT_NOTIFICATION:
		l->an.tlv = NULL;
		break;
	}
}

#define BIND(x)                                                                                    \
	do {                                                                                       \
		S(o->system_id, x.system_id);                                                      \
		S(o->password, x.password);                                                        \
		S(o->system_type, x.system_type);                                                  \
		U(o->interface_version, x.interface_version);                                      \
		U(o->addr_ton, x.addr_ton);                                                        \
		U(o->addr_npi, x.addr_npi);                                                        \
		S(o->address_range, x.address_range);                                              \
	} while (0)
#define SMF(x)                                                                                     \
	do {                                                                                       \
		S(o->service_type, x.service_type);                                                \
		U(o->source_addr_ton, x.source_addr_ton);                                          \
		U(o->source_addr_npi, x.source_addr_npi);                                          \
		S(o->source_addr, x.source_addr);                                                  \
		U(o->dest_addr_ton, x.dest_addr_ton);                                              \
		U(o->dest_addr_npi, x.dest_addr_npi);                                              \
		S(o->destination_addr, x.destination_addr);                                        \
		U(o->esm_class, x.esm_class);                                                      \
		U(o->protocol_id, x.protocol_id);                                                  \
		U(o->priority_flag, x.priority_flag);                                              \
		S(o->schedule_delivery_time, x.schedule_delivery_time);                            \
		S(o->validity_period, x.validity_period);                                          \
		U(o->registered_delivery, x.registered_delivery);                                  \
		U(o->replace_if_present_flag, x.replace_if_present_flag);                          \
		U(o->data_coding, x.data_coding);                                                  \
		U(o->sm_default_msg_id, x.sm_default_msg_id);                                      \
		SMSG(x);                                                                           \
	} while (0)

static void cmp_fields(const struct smpp_pdu *o, const union lib_pdu *l)
{
	U(o->command_length, l->h.command_length);
	U(o->command_id, l->h.command_id);
	U(o->command_status, l->h.command_status);
	U(o->sequence_number, l->h.sequence_number);
	switch (o->command_id) {
	case SMPP_BIND_RECEIVER:
		BIND(l->br);
		break;
	case SMPP_BIND_TRANSMITTER:
		BIND(l->bt);
		break;
	case SMPP_BIND_TRANSCEIVER:
		BIND(l->btx);
		break;
	case SMPP_BIND_RECEIVER_RESP:
		S(o->system_id, l->brr.system_id);
		break;
	case SMPP_BIND_TRANSMITTER_RESP:
		S(o->system_id, l->btr.system_id);
		break;
	case SMPP_BIND_TRANSCEIVER_RESP:
		S(o->system_id, l->btxr.system_id);
		break;
	case SMPP_OUTBIND:
		S(o->system_id, l->ob.system_id);
		S(o->password, l->ob.password);
		break;
	case SMPP_SUBMIT_SM:
		SMF(l->ss);
		break;
	case SMPP_DELIVER_SM:
		SMF(l->ds);
		break;
	case SMPP_SUBMIT_SM_RESP:
		S(o->message_id, l->ssr.message_id);
		break;
	case SMPP_DELIVER_SM_RESP:
		S(o->message_id, l->dsr.message_id);
		break;
	case SMPP_DATA_SM_RESP:
		S(o->message_id, l->dtr.message_id);
		break;
	case SMPP_DATA_SM:
		S(o->service_type, l->dt.service_type);
		U(o->source_addr_ton, l->dt.source_addr_ton);
		U(o->source_addr_npi, l->dt.source_addr_npi);
		S(o->source_addr, l->dt.source_addr);
		U(o->dest_addr_ton, l->dt.dest_addr_ton);
		U(o->dest_addr_npi, l->dt.dest_addr_npi);
		S(o->destination_addr, l->dt.destination_addr);
		U(o->esm_class, l->dt.esm_class);
		U(o->registered_delivery, l->dt.registered_delivery);
		U(o->data_coding, l->dt.data_coding);
		break;
	case SMPP_QUERY_SM:
		S(o->message_id, l->qs.message_id);
		U(o->source_addr_ton, l->qs.source_addr_ton);
		U(o->source_addr_npi, l->qs.source_addr_npi);
		S(o->source_addr, l->qs.source_addr);
		break;
	case SMPP_QUERY_SM_RESP:
		S(o->message_id, l->qsr.message_id);
		S(o->final_date, l->qsr.final_date);
		U(o->message_state, l->qsr.message_state);
		U(o->error_code, l->qsr.error_code);
		break;
	case SMPP_CANCEL_SM:
		S(o->service_type, l->cs.service_type);
		S(o->message_id, l->cs.message_id);
		U(o->source_addr_ton, l->cs.source_addr_ton);
		U(o->source_addr_npi, l->cs.source_addr_npi);
		S(o->source_addr, l->cs.source_addr);
		U(o->dest_addr_ton, l->cs.dest_addr_ton);
		U(o->dest_addr_npi, l->cs.dest_addr_npi);
		S(o->destination_addr, l->cs.destination_addr);
		break;
	case SMPP_REPLACE_SM:
		S(o->message_id, l->rs.message_id);
		U(o->source_addr_ton, l->rs.source_addr_ton);
		U(o->source_addr_npi, l->rs.source_addr_npi);
		S(o->source_addr, l->rs.source_addr);
		S(o->schedule_delivery_time, l->rs.schedule_delivery_time);
		S(o->validity_period, l->rs.validity_period);
		U(o->registered_delivery, l->rs.registered_delivery);
		U(o->sm_default_msg_id, l->rs.sm_default_msg_id);
		SMSG(l->rs);
		break;
	case SMPP_ALERT_NOTIFICATION:
		U(o->source_addr_ton, l->an.source_addr_ton);
		U(o->source_addr_npi, l->an.source_addr_npi);
		S(o->source_addr, l->an.source_addr);
		U(o->esme_addr_ton, l->an.esme_addr_ton);
		U(o->esme_addr_npi, l->an.esme_addr_npi);
		S(o->esme_addr, l->an.esme_addr);
		break;
	}
	cmp_tlvs(o, lib_tlvs(o->command_id, l));
}

/* ---- the differential loop ---------------------------------------------- */

static const uint32_t oracle_ids[] = {
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

static void run_one(uint32_t id)
{
	static struct smpp_pdu ours, dec, back;
	static union lib_pdu lib;
	static uint8_t wire[8192], wire2[8192];
	size_t len, len2;

	pool_used = 0;
	make_pdu(id, &ours);
	assert_int_equal(smpp_encode(&ours, wire, sizeof(wire), &len), 0);
	assert_int_equal(smpp_decode(wire, len, NULL, &dec), 0);
	assert_true(smpp_pdu_equal(&ours, &dec, false));

	/* 1. libsmpp34 decodes our bytes, and agrees with our decoder */
	memset(&lib, 0, sizeof(lib));
	int rc = smpp34_unpack(id, &lib, wire, (int)len);
	copy_lib_err();
	if (rc != 0) {
		destroy_lib(id, &lib);
		fail_msg("libsmpp34 rejected our %s (%zu bytes): %.300s", smpp_command_name(id),
			 len, lib_err);
	}
	int before = fails;
	cmp_fields(&dec, &lib);

	/* 2. libsmpp34 encodes what it decoded; we decode that */
	int out = 0;
	rc = smpp34_pack(id, wire2, (int)sizeof(wire2), &out, &lib);
	copy_lib_err();
	destroy_lib(id, &lib);
	if (rc != 0)
		fail_msg("libsmpp34 could not re-pack %s: %.300s", smpp_command_name(id), lib_err);
	len2 = (size_t)out;
	assert_int_equal(smpp_decode(wire2, len2, NULL, &back), 0);
	/* reverse our TLVs to libsmpp34's order before comparing */
	for (unsigned i = 0; i < back.tlv_count / 2; i++) {
		struct smpp_tlv t = back.tlv[i];
		back.tlv[i] = back.tlv[back.tlv_count - 1 - i];
		back.tlv[back.tlv_count - 1 - i] = t;
	}
	if (!smpp_pdu_equal(&ours, &back, false)) {
		fprintf(stderr, "%s: libsmpp34's encoding decodes differently\n",
			smpp_command_name(id));
		fails++;
	}
	if (ours.tlv_count <= 1 && (len2 != len || memcmp(wire, wire2, len) != 0)) {
		fprintf(stderr, "%s: bytes differ from libsmpp34's\n", smpp_command_name(id));
		fails++;
	}
	if (fails != before)
		fail_msg("%s disagrees with libsmpp34 (seed state %llu)", smpp_command_name(id),
			 (unsigned long long)rng_state);
}

static void test_oracle_random(void **state)
{
	rng_state = 0x5EED5EED1234ULL;
	unsigned n = 0;
	for (unsigned round = 0; round < 200; round++)
		for (size_t i = 0; i < sizeof(oracle_ids) / sizeof(oracle_ids[0]); i++, n++)
			run_one(oracle_ids[i]);
	assert_int_equal(fails, 0);
	assert_int_equal(n, 200 * 25);
}

/* The USSD step PDUs of the spec, built by hand, with the exact bytes. */
static void test_oracle_ussd_step(void **state)
{
	static struct smpp_pdu p;
	static uint8_t ours[256], theirs[256];
	size_t len;
	smpp_pdu_init(&p, SMPP_DELIVER_SM, 7);
	p.service_type = smpp_str_c("USSD");
	p.source_addr_ton = 1;
	p.source_addr_npi = 1;
	p.source_addr = smpp_str_c("255700000001");
	p.destination_addr = smpp_str_c("*384#");
	p.short_message = (const uint8_t *)"*384#";
	p.sm_length = 5;
	/* libsmpp34 prepends, so build its list in reverse to get the same order */
	smpp_pdu_add_tlv_u16(&p, SMPP_TLV_ITS_SESSION_INFO, 0x2A00);
	smpp_pdu_add_tlv_u8(&p, SMPP_TLV_USSD_SERVICE_OP, 1);
	assert_int_equal(smpp_encode(&p, ours, sizeof(ours), &len), 0);
	assert_int_equal(len, 70);

	deliver_sm_t d;
	tlv_t t;
	int out;
	memset(&d, 0, sizeof(d));
	d.command_id = DELIVER_SM;
	d.sequence_number = 7;
	strcpy((char *)d.service_type, "USSD");
	d.source_addr_ton = 1;
	d.source_addr_npi = 1;
	strcpy((char *)d.source_addr, "255700000001");
	strcpy((char *)d.destination_addr, "*384#");
	d.sm_length = 5;
	memcpy(d.short_message, "*384#", 5);
	memset(&t, 0, sizeof(t));
	t.tag = TLVID_ussd_service_op;
	t.length = 1;
	t.value.octet[0] = 1;
	build_tlv(&d.tlv, &t);
	memset(&t, 0, sizeof(t));
	t.tag = TLVID_its_session_info;
	t.length = 2;
	t.value.val16 = 0x2A00;
	build_tlv(&d.tlv, &t);
	int rc = smpp34_pack(DELIVER_SM, theirs, sizeof(theirs), &out, &d);
	copy_lib_err();
	destroy_tlv(d.tlv);
	assert_int_equal(rc, 0);
	assert_int_equal(out, 70);
	assert_memory_equal(ours, theirs, 70);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_oracle_ussd_step),
	    cmocka_unit_test(test_oracle_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
