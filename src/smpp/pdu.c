/* SMPP 3.4 PDU codec. Table-driven: each command lists its mandatory fields
 * once, and the same table drives decoding and encoding, so the two cannot
 * drift apart. Everything goes through the wire cursor in wire.h. */
#include "ussdgw/smpp_pdu.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "smpp/wire.h"
#include "ussdgw/gw_error.h"

/* ---- TLV tags: name and allowed value length ---------------------------- */

/* X(tag, name, min_len, max_len). Integer tags have min == max. */
#define SMPP_TLV_TABLE                                                                             \
	X(SMPP_TLV_DEST_ADDR_SUBUNIT, "dest_addr_subunit", 1, 1)                                   \
	X(SMPP_TLV_DEST_NETWORK_TYPE, "dest_network_type", 1, 1)                                   \
	X(SMPP_TLV_DEST_BEARER_TYPE, "dest_bearer_type", 1, 1)                                     \
	X(SMPP_TLV_DEST_TELEMATICS_ID, "dest_telematics_id", 2, 2)                                 \
	X(SMPP_TLV_SOURCE_ADDR_SUBUNIT, "source_addr_subunit", 1, 1)                               \
	X(SMPP_TLV_SOURCE_NETWORK_TYPE, "source_network_type", 1, 1)                               \
	X(SMPP_TLV_SOURCE_BEARER_TYPE, "source_bearer_type", 1, 1)                                 \
	X(SMPP_TLV_SOURCE_TELEMATICS_ID, "source_telematics_id", 1, 2)                             \
	X(SMPP_TLV_QOS_TIME_TO_LIVE, "qos_time_to_live", 4, 4)                                     \
	X(SMPP_TLV_PAYLOAD_TYPE, "payload_type", 1, 1)                                             \
	X(SMPP_TLV_ADDITIONAL_STATUS_INFO_TEXT, "additional_status_info_text", 1, 256)             \
	X(SMPP_TLV_RECEIPTED_MESSAGE_ID, "receipted_message_id", 1, 65)                            \
	X(SMPP_TLV_MS_MSG_WAIT_FACILITIES, "ms_msg_wait_facilities", 1, 1)                         \
	X(SMPP_TLV_PRIVACY_INDICATOR, "privacy_indicator", 1, 1)                                   \
	X(SMPP_TLV_SOURCE_SUBADDRESS, "source_subaddress", 2, 23)                                  \
	X(SMPP_TLV_DEST_SUBADDRESS, "dest_subaddress", 2, 23)                                      \
	X(SMPP_TLV_USER_MESSAGE_REFERENCE, "user_message_reference", 2, 2)                         \
	X(SMPP_TLV_USER_RESPONSE_CODE, "user_response_code", 1, 1)                                 \
	X(SMPP_TLV_SOURCE_PORT, "source_port", 2, 2)                                               \
	X(SMPP_TLV_DESTINATION_PORT, "destination_port", 2, 2)                                     \
	X(SMPP_TLV_SAR_MSG_REF_NUM, "sar_msg_ref_num", 2, 2)                                       \
	X(SMPP_TLV_LANGUAGE_INDICATOR, "language_indicator", 1, 1)                                 \
	X(SMPP_TLV_SAR_TOTAL_SEGMENTS, "sar_total_segments", 1, 1)                                 \
	X(SMPP_TLV_SAR_SEGMENT_SEQNUM, "sar_segment_seqnum", 1, 1)                                 \
	X(SMPP_TLV_SC_INTERFACE_VERSION, "sc_interface_version", 1, 1)                             \
	X(SMPP_TLV_CALLBACK_NUM_PRES_IND, "callback_num_pres_ind", 1, 1)                           \
	X(SMPP_TLV_CALLBACK_NUM_ATAG, "callback_num_atag", 0, 65)                                  \
	X(SMPP_TLV_NUMBER_OF_MESSAGES, "number_of_messages", 1, 1)                                 \
	X(SMPP_TLV_CALLBACK_NUM, "callback_num", 4, 19)                                            \
	X(SMPP_TLV_DPF_RESULT, "dpf_result", 1, 1)                                                 \
	X(SMPP_TLV_SET_DPF, "set_dpf", 1, 1)                                                       \
	X(SMPP_TLV_MS_AVAILABILITY_STATUS, "ms_availability_status", 1, 1)                         \
	X(SMPP_TLV_NETWORK_ERROR_CODE, "network_error_code", 3, 3)                                 \
	X(SMPP_TLV_MESSAGE_PAYLOAD, "message_payload", 0, 65535)                                   \
	X(SMPP_TLV_DELIVERY_FAILURE_REASON, "delivery_failure_reason", 1, 1)                       \
	X(SMPP_TLV_MORE_MESSAGES_TO_SEND, "more_messages_to_send", 1, 1)                           \
	X(SMPP_TLV_MESSAGE_STATE, "message_state", 1, 1)                                           \
	X(SMPP_TLV_USSD_SERVICE_OP, "ussd_service_op", 1, 1)                                       \
	X(SMPP_TLV_DISPLAY_TIME, "display_time", 1, 1)                                             \
	X(SMPP_TLV_SMS_SIGNAL, "sms_signal", 2, 2)                                                 \
	X(SMPP_TLV_MS_VALIDITY, "ms_validity", 1, 1)                                               \
	X(SMPP_TLV_ALERT_ON_MESSAGE_DELIVERY, "alert_on_message_delivery", 0, 0)                   \
	X(SMPP_TLV_ITS_REPLY_TYPE, "its_reply_type", 1, 1)                                         \
	X(SMPP_TLV_ITS_SESSION_INFO, "its_session_info", 2, 2)

const char *smpp_tlv_name(uint16_t tag)
{
	switch (tag) {
#define X(t, n, lo, hi)                                                                            \
	case t:                                                                                    \
		return n;
		SMPP_TLV_TABLE
#undef X
	}
	return "UNKNOWN";
}

/* @return true when @p len is a legal value length for @p tag. Unknown tags
 * (vendor TLVs) may have any length. */
static bool tlv_len_ok(uint16_t tag, uint16_t len16)
{
	unsigned len = len16; /* widened so that 0 and 65535 bounds compare cleanly */
	switch (tag) {
#define X(t, n, lo, hi)                                                                            \
	case t:                                                                                    \
		return len + 1 > (lo) && len < (hi) + 1u;
		SMPP_TLV_TABLE
#undef X
	}
	return true;
}

/* ---- statuses ------------------------------------------------------------ */

/* Name table for command_status (value_string style; used for logs only). */
#define STATUS_NAME(x)                                                                             \
	{                                                                                          \
		x, #x                                                                              \
	}
static const struct {
	uint32_t value;
	const char *name;
} status_names[] = {
    STATUS_NAME(ESME_ROK),
    STATUS_NAME(ESME_RINVMSGLEN),
    STATUS_NAME(ESME_RINVCMDLEN),
    STATUS_NAME(ESME_RINVCMDID),
    STATUS_NAME(ESME_RINVBNDSTS),
    STATUS_NAME(ESME_RINVPRTFLG),
    STATUS_NAME(ESME_RINVREGDLVFLG),
    STATUS_NAME(ESME_RSYSERR),
    STATUS_NAME(ESME_RINVSRCADR),
    STATUS_NAME(ESME_RINVDSTADR),
    STATUS_NAME(ESME_RINVMSGID),
    STATUS_NAME(ESME_RBINDFAIL),
    STATUS_NAME(ESME_RINVSYSID),
    STATUS_NAME(ESME_RCANCELFAIL),
    STATUS_NAME(ESME_RREPLACEFAIL),
    STATUS_NAME(ESME_RMSGQFUL),
    STATUS_NAME(ESME_RINVSERTYP),
    STATUS_NAME(ESME_RINVNUMDESTS),
    STATUS_NAME(ESME_RINVDLNAME),
    STATUS_NAME(ESME_RINVDESTFLAG),
    STATUS_NAME(ESME_RINVSUBREP),
    STATUS_NAME(ESME_RINVESMCLASS),
    STATUS_NAME(ESME_RCNTSUBDL),
    STATUS_NAME(ESME_RSUBMITFAIL),
    STATUS_NAME(ESME_RINVSRCTON),
    STATUS_NAME(ESME_RINVSRCNPI),
    STATUS_NAME(ESME_RINVDSTTON),
    STATUS_NAME(ESME_RINVDSTNPI),
    STATUS_NAME(ESME_RINVSYSTYP),
    STATUS_NAME(ESME_RINVREPFLAG),
    STATUS_NAME(ESME_RINVNUMMSGS),
    STATUS_NAME(ESME_RTHROTTLED),
    STATUS_NAME(ESME_RINVSCHED),
    STATUS_NAME(ESME_RINVEXPIRY),
    STATUS_NAME(ESME_RINVDFTMSGID),
    STATUS_NAME(ESME_RX_T_APPN),
    STATUS_NAME(ESME_RX_P_APPN),
    STATUS_NAME(ESME_RX_R_APPN),
    STATUS_NAME(ESME_RQUERYFAIL),
    STATUS_NAME(ESME_RINVOPTPARSTREAM),
    STATUS_NAME(ESME_ROPTPARNOTALLWD),
    STATUS_NAME(ESME_RINVPARLEN),
    STATUS_NAME(ESME_RMISSINGOPTPARAM),
    STATUS_NAME(ESME_RINVOPTPARAMVAL),
    STATUS_NAME(ESME_RDELIVERYFAILURE),
    STATUS_NAME(ESME_RUNKNOWNERR),
};

const char *smpp_status_name(uint32_t status)
{
	for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (status_names[i].value == status)
			return status_names[i].name;
	if (status >= 0x400 && status <= 0x4FF)
		return "VENDOR";
	return "UNKNOWN";
}

/* ---- command tables ------------------------------------------------------ */

enum field_kind { F_U8, F_CSTR, F_SM };

struct field {
	uint8_t kind;
	uint8_t max;	 /* F_CSTR: maximum size including the NUL */
	uint16_t off;	 /* offset in struct smpp_pdu */
	uint16_t status; /* F_CSTR: status when the string is over its maximum */
	const char *name;
};

#define U8(f)                                                                                      \
	{                                                                                          \
		F_U8, 0, offsetof(struct smpp_pdu, f), 0, #f                                       \
	}
#define CS(f, m, st)                                                                               \
	{                                                                                          \
		F_CSTR, m, offsetof(struct smpp_pdu, f), st, #f                                    \
	}
#define SM                                                                                         \
	{                                                                                          \
		F_SM, 0, 0, 0, "short_message"                                                     \
	}

static const struct field f_bind[] = {
    CS(system_id, 16, ESME_RINVSYSID),
    CS(password, 9, ESME_RINVPASWD),
    CS(system_type, 13, ESME_RINVSYSTYP),
    U8(interface_version),
    U8(addr_ton),
    U8(addr_npi),
    CS(address_range, 41, ESME_RINVSRCADR),
};
static const struct field f_bind_resp[] = {CS(system_id, 16, ESME_RINVSYSID)};
static const struct field f_outbind[] = {
    CS(system_id, 16, ESME_RINVSYSID),
    CS(password, 9, ESME_RINVPASWD),
};
static const struct field f_submit[] = {
    CS(service_type, 6, ESME_RINVSERTYP),
    U8(source_addr_ton),
    U8(source_addr_npi),
    CS(source_addr, 21, ESME_RINVSRCADR),
    U8(dest_addr_ton),
    U8(dest_addr_npi),
    CS(destination_addr, 21, ESME_RINVDSTADR),
    U8(esm_class),
    U8(protocol_id),
    U8(priority_flag),
    CS(schedule_delivery_time, 17, ESME_RINVSCHED),
    CS(validity_period, 17, ESME_RINVEXPIRY),
    U8(registered_delivery),
    U8(replace_if_present_flag),
    U8(data_coding),
    U8(sm_default_msg_id),
    SM,
};
static const struct field f_msgid_resp[] = {CS(message_id, 65, ESME_RINVMSGID)};
static const struct field f_data_sm[] = {
    CS(service_type, 6, ESME_RINVSERTYP),
    U8(source_addr_ton),
    U8(source_addr_npi),
    CS(source_addr, 65, ESME_RINVSRCADR),
    U8(dest_addr_ton),
    U8(dest_addr_npi),
    CS(destination_addr, 65, ESME_RINVDSTADR),
    U8(esm_class),
    U8(registered_delivery),
    U8(data_coding),
};
static const struct field f_query_sm[] = {
    CS(message_id, 65, ESME_RINVMSGID),
    U8(source_addr_ton),
    U8(source_addr_npi),
    CS(source_addr, 21, ESME_RINVSRCADR),
};
static const struct field f_query_sm_resp[] = {
    CS(message_id, 65, ESME_RINVMSGID),
    CS(final_date, 17, ESME_RINVPARLEN),
    U8(message_state),
    U8(error_code),
};
static const struct field f_cancel_sm[] = {
    CS(service_type, 6, ESME_RINVSERTYP),
    CS(message_id, 65, ESME_RINVMSGID),
    U8(source_addr_ton),
    U8(source_addr_npi),
    CS(source_addr, 21, ESME_RINVSRCADR),
    U8(dest_addr_ton),
    U8(dest_addr_npi),
    CS(destination_addr, 21, ESME_RINVDSTADR),
};
static const struct field f_replace_sm[] = {
    CS(message_id, 65, ESME_RINVMSGID),
    U8(source_addr_ton),
    U8(source_addr_npi),
    CS(source_addr, 21, ESME_RINVSRCADR),
    CS(schedule_delivery_time, 17, ESME_RINVSCHED),
    CS(validity_period, 17, ESME_RINVEXPIRY),
    U8(registered_delivery),
    U8(sm_default_msg_id),
    SM,
};
static const struct field f_alert[] = {
    U8(source_addr_ton), U8(source_addr_npi), CS(source_addr, 65, ESME_RINVSRCADR),
    U8(esme_addr_ton),	 U8(esme_addr_npi),   CS(esme_addr, 65, ESME_RINVDSTADR),
};

struct command {
	uint32_t id;
	const char *name;
	const struct field *fields;
	uint8_t nfields;
	bool tlvs; /* may carry an optional part */
};

#define CMD(id, name, f, tlv)                                                                      \
	{                                                                                          \
		id, name, f, sizeof(f) / sizeof((f)[0]), tlv                                       \
	}
#define CMD0(id, name)                                                                             \
	{                                                                                          \
		id, name, NULL, 0, false                                                           \
	}

/* Most frequent first: command_find() is a linear scan and a USSD or SMS
 * link mostly carries deliver_sm, submit_sm, their responses and enquire_link. */
static const struct command commands[] = {
    CMD(SMPP_DELIVER_SM, "deliver_sm", f_submit, true),
    CMD(SMPP_DELIVER_SM_RESP, "deliver_sm_resp", f_msgid_resp, true),
    CMD(SMPP_SUBMIT_SM, "submit_sm", f_submit, true),
    CMD(SMPP_SUBMIT_SM_RESP, "submit_sm_resp", f_msgid_resp, true),
    CMD0(SMPP_ENQUIRE_LINK, "enquire_link"),
    CMD0(SMPP_ENQUIRE_LINK_RESP, "enquire_link_resp"),
    CMD(SMPP_DATA_SM, "data_sm", f_data_sm, true),
    CMD(SMPP_DATA_SM_RESP, "data_sm_resp", f_msgid_resp, true),
    CMD0(SMPP_GENERIC_NACK, "generic_nack"),
    CMD(SMPP_BIND_RECEIVER, "bind_receiver", f_bind, false),
    CMD(SMPP_BIND_RECEIVER_RESP, "bind_receiver_resp", f_bind_resp, true),
    CMD(SMPP_BIND_TRANSMITTER, "bind_transmitter", f_bind, false),
    CMD(SMPP_BIND_TRANSMITTER_RESP, "bind_transmitter_resp", f_bind_resp, true),
    CMD(SMPP_BIND_TRANSCEIVER, "bind_transceiver", f_bind, false),
    CMD(SMPP_BIND_TRANSCEIVER_RESP, "bind_transceiver_resp", f_bind_resp, true),
    CMD(SMPP_OUTBIND, "outbind", f_outbind, false),
    CMD0(SMPP_UNBIND, "unbind"),
    CMD0(SMPP_UNBIND_RESP, "unbind_resp"),
    CMD(SMPP_QUERY_SM, "query_sm", f_query_sm, false),
    CMD(SMPP_QUERY_SM_RESP, "query_sm_resp", f_query_sm_resp, false),
    CMD(SMPP_CANCEL_SM, "cancel_sm", f_cancel_sm, false),
    CMD0(SMPP_CANCEL_SM_RESP, "cancel_sm_resp"),
    CMD(SMPP_REPLACE_SM, "replace_sm", f_replace_sm, false),
    CMD0(SMPP_REPLACE_SM_RESP, "replace_sm_resp"),
    CMD(SMPP_ALERT_NOTIFICATION, "alert_notification", f_alert, true),
};

static const struct command *command_find(uint32_t id)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].id == id)
			return &commands[i];
	return NULL;
}

bool smpp_command_known(uint32_t command_id)
{
	return command_find(command_id) != NULL;
}

const char *smpp_command_name(uint32_t command_id)
{
	const struct command *c = command_find(command_id);
	if (c)
		return c->name;
	switch (command_id) {
	case SMPP_SUBMIT_MULTI:
		return "submit_multi";
	case SMPP_SUBMIT_MULTI_RESP:
		return "submit_multi_resp";
	}
	return "UNKNOWN";
}

/* ---- framing ------------------------------------------------------------- */

static inline uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

enum smpp_frame_result smpp_frame(const uint8_t *buf, size_t len, uint32_t max_pdu_len,
				  size_t *frame_len)
{
	if (!max_pdu_len)
		max_pdu_len = SMPP_DEFAULT_MAX_PDU_LEN;
	if (len < 4) {
		*frame_len = 4;
		return SMPP_FRAME_NEED_MORE;
	}
	uint32_t l = be32(buf);
	*frame_len = l;
	if (l < SMPP_HEADER_LEN || l > max_pdu_len)
		return SMPP_FRAME_BAD;
	return len < l ? SMPP_FRAME_NEED_MORE : SMPP_FRAME_OK;
}

/* ---- decoding ------------------------------------------------------------ */

/* The cursor's sticky error holds the SMPP status (positive) while decoding. */
#define ST(x) ((int)(x))

static void get_cstr(struct wire *w, struct smpp_str *s, unsigned max, uint32_t too_long)
{
	size_t left = wire_left(w);
	if (w->err)
		return;
	size_t scan = left < max ? left : max;
	const uint8_t *p = w->rbase + w->pos;
	/* SMPP strings are short (at most 65 bytes): a plain loop beats memchr here */
	const uint8_t *nul = NULL;
	for (size_t i = 0; i < scan; i++) {
		if (!p[i]) {
			nul = p + i;
			break;
		}
	}
	if (!nul) {
		wire_fail(w, left < max ? ST(ESME_RINVCMDLEN) : ST(too_long));
		return;
	}
	s->ptr = (const char *)p;
	s->len = (size_t)(nul - p);
	w->pos += s->len + 1;
}

static void decode_fields(struct wire *w, const struct command *c, struct smpp_pdu *out)
{
	for (unsigned i = 0; i < c->nfields; i++) {
		const struct field *f = &c->fields[i];
		uint8_t *dst = (uint8_t *)out + f->off;
		switch (f->kind) {
		case F_U8:
			*dst = wire_get_u8(w, ST(ESME_RINVCMDLEN));
			break;
		case F_CSTR:
			get_cstr(w, (struct smpp_str *)(void *)dst, f->max, f->status);
			break;
		case F_SM: {
			uint8_t n = wire_get_u8(w, ST(ESME_RINVCMDLEN));
			if (n > SMPP_SM_MAX)
				wire_fail(w, ST(ESME_RINVMSGLEN));
			out->short_message = wire_get_ref(w, n, ST(ESME_RINVMSGLEN));
			out->sm_length = n;
			break;
		}
		}
	}
}

static void decode_tlvs(struct wire *w, const struct command *c, unsigned max_tlvs,
			struct smpp_pdu *out)
{
	bool payload = false;
	while (wire_left(w) > 0) {
		if (!c->tlvs) {
			wire_fail(w, ST(ESME_RINVCMDLEN));
			return;
		}
		uint16_t tag = wire_get_u16(w, ST(ESME_RINVOPTPARSTREAM));
		uint16_t len = wire_get_u16(w, ST(ESME_RINVOPTPARSTREAM));
		const uint8_t *val = wire_get_ref(w, len, ST(ESME_RINVOPTPARSTREAM));
		if (!wire_ok(w))
			return;
		if (out->tlv_count >= max_tlvs) {
			wire_fail(w, ST(ESME_RINVOPTPARSTREAM));
			return;
		}
		if (!tlv_len_ok(tag, len)) {
			wire_fail(w, ST(ESME_RINVPARLEN));
			return;
		}
		if (tag == SMPP_TLV_MESSAGE_PAYLOAD)
			payload = true;
		struct smpp_tlv *t = &out->tlv[out->tlv_count++];
		t->tag = tag;
		t->len = len;
		t->val = val;
	}
	if (payload && out->sm_length > 0)
		wire_fail(w, ST(ESME_ROPTPARNOTALLWD));
}

/* Zero everything but the TLV array, which only tlv_count makes meaningful. */
static void pdu_clear(struct smpp_pdu *p)
{
	memset(p, 0, offsetof(struct smpp_pdu, tlv));
	p->error_status = 0;
	p->header_valid = false;
}

int smpp_decode(const uint8_t *buf, size_t len, const struct smpp_decode_opts *opts,
		struct smpp_pdu *out)
{
	if (!out)
		return GW_EINVAL;
	pdu_clear(out);
	if (!buf) {
		out->error_status = ESME_RINVCMDLEN;
		return GW_EINVAL;
	}
	uint32_t max_len = opts && opts->max_pdu_len ? opts->max_pdu_len : SMPP_DEFAULT_MAX_PDU_LEN;
	unsigned max_tlvs = opts && opts->max_tlvs ? opts->max_tlvs : SMPP_MAX_TLVS;
	if (max_tlvs > SMPP_MAX_TLVS)
		max_tlvs = SMPP_MAX_TLVS;

	if (len < SMPP_HEADER_LEN) {
		out->error_status = ESME_RINVCMDLEN;
		return GW_EPROTO_MALFORMED;
	}
	out->command_length = be32(buf);
	out->command_id = be32(buf + 4);
	out->command_status = be32(buf + 8);
	out->sequence_number = be32(buf + 12);
	out->header_valid = true;
	if (out->command_length != len || len > max_len) {
		out->error_status = ESME_RINVCMDLEN;
		return GW_EPROTO_MALFORMED;
	}
	const struct command *c = command_find(out->command_id);
	if (!c) {
		out->error_status = ESME_RINVCMDID;
		return GW_ENOTSUP;
	}
	bool resp = smpp_is_resp(out->command_id);
	if (resp && len == SMPP_HEADER_LEN && c->nfields > 0) {
		out->flags |= SMPP_PDU_F_HEADER_ONLY;
		return 0;
	}

	struct wire w;
	wire_init_read(&w, buf + SMPP_HEADER_LEN, len - SMPP_HEADER_LEN);
	decode_fields(&w, c, out);
	decode_tlvs(&w, c, max_tlvs, out);
	if (wire_ok(&w))
		return 0;

	if (resp && out->command_status != 0) {
		/* An error response whose body does not parse: the status is what
		 * matters to the requester, so report it header-only. */
		uint32_t cl = out->command_length, id = out->command_id;
		uint32_t st = out->command_status, seq = out->sequence_number;
		pdu_clear(out);
		out->command_length = cl;
		out->command_id = id;
		out->command_status = st;
		out->sequence_number = seq;
		out->header_valid = true;
		out->flags = SMPP_PDU_F_HEADER_ONLY | SMPP_PDU_F_BODY_SKIPPED;
		return 0;
	}
	out->error_status = (uint32_t)w.err;
	return GW_EPROTO_MALFORMED;
}

/* ---- encoding ------------------------------------------------------------ */

static void put_cstr(struct wire *w, const struct smpp_str *s, unsigned max)
{
	if (s->len + 1 > max || (s->len && !s->ptr)) {
		wire_fail(w, GW_EINVAL);
		return;
	}
	for (size_t i = 0; i < s->len; i++) {
		if (!s->ptr[i]) { /* a NUL inside would end the string early on the wire */
			wire_fail(w, GW_EINVAL);
			return;
		}
	}
	wire_put_bytes(w, s->ptr, s->len, GW_EMSGSIZE);
	wire_put_u8(w, 0, GW_EMSGSIZE);
}

const uint8_t *smpp_tlv_value(const struct smpp_tlv *t)
{
	return t->val ? t->val : t->inl;
}

int smpp_encode(const struct smpp_pdu *pdu, uint8_t *buf, size_t cap, size_t *len)
{
	if (!pdu || (!buf && cap) || !len)
		return GW_EINVAL;
	const struct command *c = command_find(pdu->command_id);
	if (!c)
		return GW_EINVAL;
	struct wire w;
	wire_init_write(&w, buf, cap);
	wire_put_u32(&w, 0, GW_EMSGSIZE);
	wire_put_u32(&w, pdu->command_id, GW_EMSGSIZE);
	wire_put_u32(&w, pdu->command_status, GW_EMSGSIZE);
	wire_put_u32(&w, pdu->sequence_number, GW_EMSGSIZE);

	bool header_only = smpp_is_resp(pdu->command_id) && (pdu->flags & SMPP_PDU_F_HEADER_ONLY);
	if (!header_only) {
		for (unsigned i = 0; i < c->nfields; i++) {
			const struct field *f = &c->fields[i];
			const uint8_t *src = (const uint8_t *)pdu + f->off;
			switch (f->kind) {
			case F_U8:
				wire_put_u8(&w, *src, GW_EMSGSIZE);
				break;
			case F_CSTR:
				put_cstr(&w, (const struct smpp_str *)(const void *)src, f->max);
				break;
			case F_SM:
				if (pdu->sm_length > SMPP_SM_MAX ||
				    (pdu->sm_length && !pdu->short_message)) {
					wire_fail(&w, GW_EINVAL);
					break;
				}
				wire_put_u8(&w, (uint8_t)pdu->sm_length, GW_EMSGSIZE);
				wire_put_bytes(&w, pdu->short_message, pdu->sm_length, GW_EMSGSIZE);
				break;
			}
		}
		if (pdu->tlv_count > SMPP_MAX_TLVS || (pdu->tlv_count && !c->tlvs))
			wire_fail(&w, GW_EINVAL);
		for (unsigned i = 0; i < pdu->tlv_count && wire_ok(&w); i++) {
			const struct smpp_tlv *t = &pdu->tlv[i];
			if (!tlv_len_ok(t->tag, t->len) || (!t->val && t->len > sizeof(t->inl)) ||
			    (t->tag == SMPP_TLV_MESSAGE_PAYLOAD && pdu->sm_length)) {
				wire_fail(&w, GW_EINVAL);
				break;
			}
			wire_put_u16(&w, t->tag, GW_EMSGSIZE);
			wire_put_u16(&w, t->len, GW_EMSGSIZE);
			wire_put_bytes(&w, smpp_tlv_value(t), t->len, GW_EMSGSIZE);
		}
	}
	if (!wire_ok(&w))
		return w.err;
	if (w.pos > UINT32_MAX)
		return GW_EMSGSIZE;
	wire_patch_u32(&w, 0, (uint32_t)w.pos);
	*len = w.pos;
	return 0;
}

int smpp_encode_error(const struct smpp_pdu *req, uint32_t status, uint8_t *buf, size_t cap,
		      size_t *len)
{
	struct smpp_pdu r;
	uint32_t id = SMPP_GENERIC_NACK, seq = 0;
	if (req && req->header_valid) {
		seq = req->sequence_number;
		if (status != ESME_RINVCMDLEN && status != ESME_RINVCMDID &&
		    !smpp_is_resp(req->command_id) && command_find(req->command_id) &&
		    command_find(req->command_id | SMPP_RESP_BIT))
			id = req->command_id | SMPP_RESP_BIT;
	}
	pdu_clear(&r);
	r.tlv_count = 0;
	r.command_id = id;
	r.command_status = status;
	r.sequence_number = seq;
	r.flags = SMPP_PDU_F_HEADER_ONLY;
	return smpp_encode(&r, buf, cap, len);
}

/* ---- construction helpers ------------------------------------------------ */

void smpp_pdu_init(struct smpp_pdu *pdu, uint32_t command_id, uint32_t sequence_number)
{
	pdu_clear(pdu);
	pdu->tlv_count = 0;
	pdu->command_id = command_id;
	pdu->sequence_number = sequence_number;
}

void smpp_pdu_init_resp(struct smpp_pdu *resp, const struct smpp_pdu *req)
{
	smpp_pdu_init(resp, req->command_id | SMPP_RESP_BIT, req->sequence_number);
}

struct smpp_str smpp_str_c(const char *s)
{
	struct smpp_str r = {s ? s : "", s ? strlen(s) : 0};
	return r;
}

bool smpp_str_eq(struct smpp_str s, const char *c)
{
	size_t n = strlen(c);
	return s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

int smpp_pdu_add_tlv(struct smpp_pdu *pdu, uint16_t tag, const void *val, size_t len)
{
	if (len > UINT16_MAX || (len && !val))
		return GW_EINVAL;
	if (pdu->tlv_count >= SMPP_MAX_TLVS)
		return GW_ENOSPC;
	struct smpp_tlv *t = &pdu->tlv[pdu->tlv_count++];
	t->tag = tag;
	t->len = (uint16_t)len;
	t->val = val;
	memset(t->inl, 0, sizeof(t->inl));
	return 0;
}

static int add_inline(struct smpp_pdu *pdu, uint16_t tag, uint32_t v, unsigned n)
{
	if (pdu->tlv_count >= SMPP_MAX_TLVS)
		return GW_ENOSPC;
	struct smpp_tlv *t = &pdu->tlv[pdu->tlv_count++];
	t->tag = tag;
	t->len = (uint16_t)n;
	t->val = NULL;
	memset(t->inl, 0, sizeof(t->inl));
	for (unsigned i = 0; i < n; i++)
		t->inl[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return 0;
}

int smpp_pdu_add_tlv_u8(struct smpp_pdu *pdu, uint16_t tag, uint8_t v)
{
	return add_inline(pdu, tag, v, 1);
}

int smpp_pdu_add_tlv_u16(struct smpp_pdu *pdu, uint16_t tag, uint16_t v)
{
	return add_inline(pdu, tag, v, 2);
}

int smpp_pdu_add_tlv_u32(struct smpp_pdu *pdu, uint16_t tag, uint32_t v)
{
	return add_inline(pdu, tag, v, 4);
}

const struct smpp_tlv *smpp_pdu_find_tlv(const struct smpp_pdu *pdu, uint16_t tag)
{
	unsigned n = pdu->tlv_count < SMPP_MAX_TLVS ? pdu->tlv_count : SMPP_MAX_TLVS;
	for (unsigned i = 0; i < n; i++)
		if (pdu->tlv[i].tag == tag)
			return &pdu->tlv[i];
	return NULL;
}

int smpp_pdu_tlv_uint(const struct smpp_pdu *pdu, uint16_t tag, uint32_t *out)
{
	const struct smpp_tlv *t = smpp_pdu_find_tlv(pdu, tag);
	if (!t)
		return GW_ENOENT;
	if (t->len == 0 || t->len > 4)
		return GW_EPROTO_MALFORMED;
	const uint8_t *v = smpp_tlv_value(t);
	uint32_t r = 0;
	for (unsigned i = 0; i < t->len; i++)
		r = (r << 8) | v[i];
	*out = r;
	return 0;
}

/* ---- comparison ------------------------------------------------------------ */

static bool bytes_eq(const void *a, size_t an, const void *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

bool smpp_pdu_equal(const struct smpp_pdu *a, const struct smpp_pdu *b, bool ignore_seq)
{
	if (a->command_id != b->command_id || a->command_status != b->command_status ||
	    (!ignore_seq && a->sequence_number != b->sequence_number))
		return false;
	const struct command *c = command_find(a->command_id);
	bool ha = smpp_is_resp(a->command_id) && (a->flags & SMPP_PDU_F_HEADER_ONLY);
	bool hb = smpp_is_resp(b->command_id) && (b->flags & SMPP_PDU_F_HEADER_ONLY);
	if (c && c->nfields && ha != hb)
		return false;
	if (!c || ha)
		return true;
	for (unsigned i = 0; i < c->nfields; i++) {
		const struct field *f = &c->fields[i];
		const uint8_t *pa = (const uint8_t *)a + f->off, *pb = (const uint8_t *)b + f->off;
		switch (f->kind) {
		case F_U8:
			if (*pa != *pb)
				return false;
			break;
		case F_CSTR: {
			const struct smpp_str *sa = (const struct smpp_str *)(const void *)pa;
			const struct smpp_str *sb = (const struct smpp_str *)(const void *)pb;
			if (!bytes_eq(sa->ptr, sa->len, sb->ptr, sb->len))
				return false;
			break;
		}
		case F_SM:
			if (!bytes_eq(a->short_message, a->sm_length, b->short_message,
				      b->sm_length))
				return false;
			break;
		}
	}
	if (a->tlv_count != b->tlv_count || a->tlv_count > SMPP_MAX_TLVS)
		return false;
	for (unsigned i = 0; i < a->tlv_count; i++) {
		const struct smpp_tlv *x = &a->tlv[i], *y = &b->tlv[i];
		if (x->tag != y->tag ||
		    !bytes_eq(smpp_tlv_value(x), x->len, smpp_tlv_value(y), y->len))
			return false;
	}
	return true;
}

/* ---- description (tests, tools) ------------------------------------------ */

struct sbuf {
	char *p;
	size_t cap, len;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = b->len < b->cap ? b->cap - b->len : 0;
	int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n;
}

static void sb_quoted(struct sbuf *b, const uint8_t *p, size_t n)
{
	sb_printf(b, "\"");
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7F && p[i] != '"' && p[i] != '\\')
			sb_printf(b, "%c", p[i]);
		else
			sb_printf(b, "\\x%02X", p[i]);
	}
	sb_printf(b, "\"");
}

static void sb_hex(struct sbuf *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sb_printf(b, "%02X", p[i]);
}

static bool field_redacted(const char *name)
{
	return strstr(name, "addr") || strcmp(name, "password") == 0 ||
	       strcmp(name, "short_message") == 0;
}

size_t smpp_pdu_describe(const struct smpp_pdu *pdu, unsigned flags, char *buf, size_t cap)
{
	struct sbuf b = {buf, cap, 0};
	bool redact = flags & SMPP_DESCRIBE_REDACT;
	if (cap)
		buf[0] = 0;
	sb_printf(&b, "%s seq=%u status=%s(0x%08X)", smpp_command_name(pdu->command_id),
		  pdu->sequence_number, smpp_status_name(pdu->command_status), pdu->command_status);
	if (pdu->flags & SMPP_PDU_F_HEADER_ONLY)
		sb_printf(&b, " header-only");
	if (pdu->flags & SMPP_PDU_F_BODY_SKIPPED)
		sb_printf(&b, " body-skipped");
	const struct command *c = command_find(pdu->command_id);
	if (c && !(smpp_is_resp(pdu->command_id) && (pdu->flags & SMPP_PDU_F_HEADER_ONLY))) {
		for (unsigned i = 0; i < c->nfields; i++) {
			const struct field *f = &c->fields[i];
			const uint8_t *src = (const uint8_t *)pdu + f->off;
			sb_printf(&b, " %s=", f->name);
			if (f->kind == F_U8) {
				sb_printf(&b, "0x%02X", *src);
				continue;
			}
			const uint8_t *p;
			size_t n;
			if (f->kind == F_CSTR) {
				const struct smpp_str *s =
				    (const struct smpp_str *)(const void *)src;
				p = (const uint8_t *)s->ptr;
				n = s->len;
			} else {
				p = pdu->short_message;
				n = pdu->sm_length;
			}
			if (redact && field_redacted(f->name))
				sb_printf(&b, "<%zu bytes>", n);
			else
				sb_quoted(&b, p, n);
		}
	}
	unsigned nt = pdu->tlv_count < SMPP_MAX_TLVS ? pdu->tlv_count : SMPP_MAX_TLVS;
	for (unsigned i = 0; i < nt; i++) {
		const struct smpp_tlv *t = &pdu->tlv[i];
		sb_printf(&b, " tlv:%s(0x%04X)=", smpp_tlv_name(t->tag), t->tag);
		if (redact && t->tag == SMPP_TLV_MESSAGE_PAYLOAD)
			sb_printf(&b, "<%u bytes>", t->len);
		else
			sb_hex(&b, smpp_tlv_value(t), t->len);
	}
	return b.len;
}
