/** @file
 * SMPP 3.4 PDU codec: framing, zero-copy decoding, encoding into caller buffers,
 * and the name tables for command ids, statuses and TLV tags.
 *
 * Ownership: nothing here allocates. A decoded struct smpp_pdu points into the
 * input buffer (strings, short_message, TLV values), so the buffer must outlive
 * every use of the decoded PDU. For encoding, the PDU's pointers are borrowed
 * for the duration of the call only. There is no global state; every function is
 * reentrant. The codec never logs: it returns GW_E* codes and, for decoding
 * errors, the SMPP command_status the receiving side should answer with.
 *
 * Typical server read path:
 * @code
 *   size_t flen; struct smpp_pdu pdu;
 *   switch (smpp_frame(buf, have, opts.max_pdu_len, &flen)) {
 *   case SMPP_FRAME_NEED_MORE: read more; break;
 *   case SMPP_FRAME_BAD: send generic_nack ESME_RINVCMDLEN (smpp_encode_error), close; break;
 *   case SMPP_FRAME_OK:
 *     if (smpp_decode(buf, flen, &opts, &pdu) < 0) answer with smpp_encode_error(&pdu, ...);
 *     else dispatch(&pdu);
 *     consume flen bytes;
 *   }
 * @endcode
 */
#ifndef USSDGW_SMPP_PDU_H
#define USSDGW_SMPP_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** SMPP header size; the smallest legal command_length. */
#define SMPP_HEADER_LEN 16u
/** Default cap on command_length (node-smpp uses 16384, osmo-msc 65535). */
#define SMPP_DEFAULT_MAX_PDU_LEN 4096u
/** Compile-time size of the TLV array in struct smpp_pdu; the runtime cap is
 *  smpp_decode_opts.max_tlvs (at most this). */
#define SMPP_MAX_TLVS 64u
/** Largest short_message an SMPP 3.4 PDU may carry (sm_length). */
#define SMPP_SM_MAX	       254u
#define SMPP_INTERFACE_VERSION 0x34u
#define SMPP_RESP_BIT	       0x80000000u

/** Command ids (SMPP 3.4 §5.1.2.1). */
enum smpp_command_id {
	SMPP_GENERIC_NACK = 0x80000000u,
	SMPP_BIND_RECEIVER = 0x00000001u,
	SMPP_BIND_RECEIVER_RESP = 0x80000001u,
	SMPP_BIND_TRANSMITTER = 0x00000002u,
	SMPP_BIND_TRANSMITTER_RESP = 0x80000002u,
	SMPP_QUERY_SM = 0x00000003u,
	SMPP_QUERY_SM_RESP = 0x80000003u,
	SMPP_SUBMIT_SM = 0x00000004u,
	SMPP_SUBMIT_SM_RESP = 0x80000004u,
	SMPP_DELIVER_SM = 0x00000005u,
	SMPP_DELIVER_SM_RESP = 0x80000005u,
	SMPP_UNBIND = 0x00000006u,
	SMPP_UNBIND_RESP = 0x80000006u,
	SMPP_REPLACE_SM = 0x00000007u,
	SMPP_REPLACE_SM_RESP = 0x80000007u,
	SMPP_CANCEL_SM = 0x00000008u,
	SMPP_CANCEL_SM_RESP = 0x80000008u,
	SMPP_BIND_TRANSCEIVER = 0x00000009u,
	SMPP_BIND_TRANSCEIVER_RESP = 0x80000009u,
	SMPP_OUTBIND = 0x0000000Bu,
	SMPP_ENQUIRE_LINK = 0x00000015u,
	SMPP_ENQUIRE_LINK_RESP = 0x80000015u,
	SMPP_SUBMIT_MULTI = 0x00000021u,
	SMPP_SUBMIT_MULTI_RESP = 0x80000021u,
	SMPP_ALERT_NOTIFICATION = 0x00000102u,
	SMPP_DATA_SM = 0x00000103u,
	SMPP_DATA_SM_RESP = 0x80000103u,
};

/** command_status values (SMPP 3.4 §5.1.3). Vendor codes 0x400-0x4FF pass through. */
enum smpp_status {
	ESME_ROK = 0x00,
	ESME_RINVMSGLEN = 0x01,
	ESME_RINVCMDLEN = 0x02,
	ESME_RINVCMDID = 0x03,
	ESME_RINVBNDSTS = 0x04,
	ESME_RALYBND = 0x05,
	ESME_RINVPRTFLG = 0x06,
	ESME_RINVREGDLVFLG = 0x07,
	ESME_RSYSERR = 0x08,
	ESME_RINVSRCADR = 0x0A,
	ESME_RINVDSTADR = 0x0B,
	ESME_RINVMSGID = 0x0C,
	ESME_RBINDFAIL = 0x0D,
	ESME_RINVPASWD = 0x0E,
	ESME_RINVSYSID = 0x0F,
	ESME_RCANCELFAIL = 0x11,
	ESME_RREPLACEFAIL = 0x13,
	ESME_RMSGQFUL = 0x14,
	ESME_RINVSERTYP = 0x15,
	ESME_RINVNUMDESTS = 0x33,
	ESME_RINVDLNAME = 0x34,
	ESME_RINVDESTFLAG = 0x40,
	ESME_RINVSUBREP = 0x42,
	ESME_RINVESMCLASS = 0x43,
	ESME_RCNTSUBDL = 0x44,
	ESME_RSUBMITFAIL = 0x45,
	ESME_RINVSRCTON = 0x48,
	ESME_RINVSRCNPI = 0x49,
	ESME_RINVDSTTON = 0x50,
	ESME_RINVDSTNPI = 0x51,
	ESME_RINVSYSTYP = 0x53,
	ESME_RINVREPFLAG = 0x54,
	ESME_RINVNUMMSGS = 0x55,
	ESME_RTHROTTLED = 0x58,
	ESME_RINVSCHED = 0x61,
	ESME_RINVEXPIRY = 0x62,
	ESME_RINVDFTMSGID = 0x63,
	ESME_RX_T_APPN = 0x64,
	ESME_RX_P_APPN = 0x65,
	ESME_RX_R_APPN = 0x66,
	ESME_RQUERYFAIL = 0x67,
	ESME_RINVOPTPARSTREAM = 0xC0,
	ESME_ROPTPARNOTALLWD = 0xC1,
	ESME_RINVPARLEN = 0xC2,
	ESME_RMISSINGOPTPARAM = 0xC3,
	ESME_RINVOPTPARAMVAL = 0xC4,
	ESME_RDELIVERYFAILURE = 0xFE,
	ESME_RUNKNOWNERR = 0xFF,
};

/** TLV tags (SMPP 3.4 §5.3.2). */
enum smpp_tlv_tag {
	SMPP_TLV_DEST_ADDR_SUBUNIT = 0x0005,
	SMPP_TLV_DEST_NETWORK_TYPE = 0x0006,
	SMPP_TLV_DEST_BEARER_TYPE = 0x0007,
	SMPP_TLV_DEST_TELEMATICS_ID = 0x0008,
	SMPP_TLV_SOURCE_ADDR_SUBUNIT = 0x000D,
	SMPP_TLV_SOURCE_NETWORK_TYPE = 0x000E,
	SMPP_TLV_SOURCE_BEARER_TYPE = 0x000F,
	SMPP_TLV_SOURCE_TELEMATICS_ID = 0x0010,
	SMPP_TLV_QOS_TIME_TO_LIVE = 0x0017,
	SMPP_TLV_PAYLOAD_TYPE = 0x0019,
	SMPP_TLV_ADDITIONAL_STATUS_INFO_TEXT = 0x001D,
	SMPP_TLV_RECEIPTED_MESSAGE_ID = 0x001E,
	SMPP_TLV_MS_MSG_WAIT_FACILITIES = 0x0030,
	SMPP_TLV_PRIVACY_INDICATOR = 0x0201,
	SMPP_TLV_SOURCE_SUBADDRESS = 0x0202,
	SMPP_TLV_DEST_SUBADDRESS = 0x0203,
	SMPP_TLV_USER_MESSAGE_REFERENCE = 0x0204,
	SMPP_TLV_USER_RESPONSE_CODE = 0x0205,
	SMPP_TLV_SOURCE_PORT = 0x020A,
	SMPP_TLV_DESTINATION_PORT = 0x020B,
	SMPP_TLV_SAR_MSG_REF_NUM = 0x020C,
	SMPP_TLV_LANGUAGE_INDICATOR = 0x020D,
	SMPP_TLV_SAR_TOTAL_SEGMENTS = 0x020E,
	SMPP_TLV_SAR_SEGMENT_SEQNUM = 0x020F,
	SMPP_TLV_SC_INTERFACE_VERSION = 0x0210,
	SMPP_TLV_CALLBACK_NUM_PRES_IND = 0x0302,
	SMPP_TLV_CALLBACK_NUM_ATAG = 0x0303,
	SMPP_TLV_NUMBER_OF_MESSAGES = 0x0304,
	SMPP_TLV_CALLBACK_NUM = 0x0381,
	SMPP_TLV_DPF_RESULT = 0x0420,
	SMPP_TLV_SET_DPF = 0x0421,
	SMPP_TLV_MS_AVAILABILITY_STATUS = 0x0422,
	SMPP_TLV_NETWORK_ERROR_CODE = 0x0423,
	SMPP_TLV_MESSAGE_PAYLOAD = 0x0424,
	SMPP_TLV_DELIVERY_FAILURE_REASON = 0x0425,
	SMPP_TLV_MORE_MESSAGES_TO_SEND = 0x0426,
	SMPP_TLV_MESSAGE_STATE = 0x0427,
	SMPP_TLV_USSD_SERVICE_OP = 0x0501,
	SMPP_TLV_DISPLAY_TIME = 0x1201,
	SMPP_TLV_SMS_SIGNAL = 0x1203,
	SMPP_TLV_MS_VALIDITY = 0x1204,
	SMPP_TLV_ALERT_ON_MESSAGE_DELIVERY = 0x130C,
	SMPP_TLV_ITS_REPLY_TYPE = 0x1380,
	SMPP_TLV_ITS_SESSION_INFO = 0x1383,
};

/** USSD operations carried in ussd_service_op (0x0501). */
enum smpp_ussd_op {
	SMPP_USSD_PSSD_IND = 0,
	SMPP_USSD_PSSR_IND = 1,
	SMPP_USSD_USSR_REQ = 2,
	SMPP_USSD_USSN_REQ = 3,
	SMPP_USSD_PSSD_RESP = 16,
	SMPP_USSD_PSSR_RESP = 17,
	SMPP_USSD_USSR_CONF = 18,
	SMPP_USSD_USSN_CONF = 19,
};

/** A byte string that is not owned: points into a decoded buffer, or at the
 *  caller's data when encoding. For C-Octet Strings @c len excludes the NUL and
 *  the bytes are not NUL-terminated in place. */
struct smpp_str {
	const char *ptr;
	size_t len;
};

/** One TLV. When decoding, @c val points into the input. When encoding, a
 *  value of at most 4 bytes may be put in @c inl with @c val = NULL (that is
 *  what the smpp_pdu_add_tlv_u* helpers do). */
struct smpp_tlv {
	uint16_t tag;
	uint16_t len;
	uint8_t inl[4];
	const uint8_t *val;
};

/** Flags in smpp_pdu.flags. */
enum smpp_pdu_flag {
	/** A response that carried the header only (command_length 16). */
	SMPP_PDU_F_HEADER_ONLY = 1u << 0,
	/** An error response (status != 0) whose body did not parse; the body was
	 *  ignored and the PDU is reported header-only. */
	SMPP_PDU_F_BODY_SKIPPED = 1u << 1,
};

/**
 * One SMPP PDU, flat: the header, the union of every mandatory field the PDUs
 * of SMPP 3.4 use (a field a PDU does not carry stays zero/empty), and the TLVs.
 * Field names follow the specification. Zero it (or use smpp_pdu_init()) before
 * filling it for encoding.
 */
struct smpp_pdu {
	/* header */
	uint32_t command_length; /**< as received, or as last encoded */
	uint32_t command_id;
	uint32_t command_status;
	uint32_t sequence_number;
	uint32_t flags; /**< enum smpp_pdu_flag */

	/* bind_*, bind_*_resp, outbind */
	struct smpp_str system_id;
	struct smpp_str password;
	struct smpp_str system_type;
	uint8_t interface_version; /**< reported as received, never judged */
	uint8_t addr_ton;
	uint8_t addr_npi;
	struct smpp_str address_range;

	/* submit_sm, deliver_sm, data_sm, query/cancel/replace_sm, alert_notification */
	struct smpp_str service_type;
	uint8_t source_addr_ton;
	uint8_t source_addr_npi;
	struct smpp_str source_addr;
	uint8_t dest_addr_ton;
	uint8_t dest_addr_npi;
	struct smpp_str destination_addr;
	uint8_t esm_class;
	uint8_t protocol_id;
	uint8_t priority_flag;
	struct smpp_str schedule_delivery_time;
	struct smpp_str validity_period;
	uint8_t registered_delivery;
	uint8_t replace_if_present_flag;
	uint8_t data_coding;
	uint8_t sm_default_msg_id;
	/** short_message; its length is sm_length on the wire (at most 254). */
	const uint8_t *short_message;
	size_t sm_length;

	/* *_sm_resp, query_sm, cancel_sm, replace_sm, query_sm_resp */
	struct smpp_str message_id;
	struct smpp_str final_date;
	uint8_t message_state;
	uint8_t error_code;

	/* alert_notification */
	uint8_t esme_addr_ton;
	uint8_t esme_addr_npi;
	struct smpp_str esme_addr;

	/* optional part */
	unsigned tlv_count;
	struct smpp_tlv tlv[SMPP_MAX_TLVS];

	/* decode outcome */
	/** When smpp_decode() fails: the command_status to answer with
	 *  (ESME_RINVCMDLEN, ESME_RINVCMDID, ESME_RINVPARLEN, ...). 0 on success. */
	uint32_t error_status;
	/** True when the header (and so sequence_number and command_id) was read. */
	bool header_valid;
};

/** Decoder limits. Zero fields mean the defaults. */
struct smpp_decode_opts {
	uint32_t max_pdu_len; /**< cap on command_length; default SMPP_DEFAULT_MAX_PDU_LEN */
	unsigned max_tlvs;    /**< cap on TLVs per PDU; default and maximum SMPP_MAX_TLVS */
};

/** Result of smpp_frame(). */
enum smpp_frame_result {
	SMPP_FRAME_OK = 0,	  /**< a whole PDU of *frame_len bytes is at the start */
	SMPP_FRAME_NEED_MORE = 1, /**< read more bytes (at least *frame_len in total) */
	SMPP_FRAME_BAD = 2, /**< command_length < 16 or > cap: nack with ESME_RINVCMDLEN, close */
};

/**
 * Split a byte stream into PDUs, checking command_length before anything is
 * allocated or buffered for it.
 * @param[in] buf bytes received so far (the stream starting at a PDU boundary)
 * @param[in] len number of bytes in @p buf
 * @param[in] max_pdu_len largest command_length accepted (0: the default)
 * @param[out] frame_len on OK the PDU length; on NEED_MORE the total bytes
 *   needed (4 while the length is unknown); on BAD the offending command_length
 * @return enum smpp_frame_result
 */
enum smpp_frame_result smpp_frame(const uint8_t *buf, size_t len, uint32_t max_pdu_len,
				  size_t *frame_len);

/**
 * Decode exactly one PDU. @p len must equal its command_length (use smpp_frame()).
 *
 * The decoder is strict about structure (bounds, C-string terminators and
 * maximum sizes, sm_length, TLV stream, exact sizes of integer TLVs, TLV count,
 * short_message together with message_payload) and lenient about values real
 * peers send: any command_status including vendor codes, sequence_number 0,
 * any interface_version, and header-only responses are accepted and reported.
 *
 * @param[in] buf the PDU; decoded strings and TLV values point into it
 * @param[in] len its length
 * @param[in] opts limits, or NULL for the defaults
 * @param[out] out the PDU; on failure the header fields are set when readable
 *   (header_valid) and error_status holds the SMPP status to answer with
 * @return 0, or GW_EPROTO_MALFORMED (bad bytes), GW_ENOTSUP (a command id this
 *   codec does not decode: unknown, vendor or submit_multi; error_status is
 *   ESME_RINVCMDID), GW_EINVAL (NULL arguments)
 */
int smpp_decode(const uint8_t *buf, size_t len, const struct smpp_decode_opts *opts,
		struct smpp_pdu *out);

/**
 * Encode @p pdu into @p buf. command_length is computed. A response with
 * SMPP_PDU_F_HEADER_ONLY set is written as the 16-byte header only.
 * @param[out] len bytes written on success
 * @return 0, GW_EMSGSIZE when @p cap is too small, GW_EINVAL when a field is
 *   over its SMPP maximum, a C-string contains a NUL, or the command id is unknown
 */
int smpp_encode(const struct smpp_pdu *pdu, uint8_t *buf, size_t cap, size_t *len);

/**
 * Encode the header-only answer to a PDU that failed to decode (or that the
 * caller refuses): the matching *_resp for a known request whose header was
 * read, else generic_nack. The sequence number is echoed when it was read, else 0.
 * @param[in] req the PDU as left by smpp_decode() (header_valid, command_id,
 *   sequence_number); may be NULL for an unreadable frame
 * @param[in] status the command_status to send (usually req->error_status)
 * @return as smpp_encode()
 */
int smpp_encode_error(const struct smpp_pdu *req, uint32_t status, uint8_t *buf, size_t cap,
		      size_t *len);

/** Zero @p pdu and set its command id and sequence number. */
void smpp_pdu_init(struct smpp_pdu *pdu, uint32_t command_id, uint32_t sequence_number);

/** Prepare @p resp as the (successful, empty) response to @p req. */
void smpp_pdu_init_resp(struct smpp_pdu *resp, const struct smpp_pdu *req);

/** @return a struct smpp_str over a NUL-terminated C string (NULL gives empty). */
struct smpp_str smpp_str_c(const char *s);

/** @return true if @p s equals the C string @p c. */
bool smpp_str_eq(struct smpp_str s, const char *c);

/**
 * Append a TLV whose value @p val (borrowed; must outlive encoding) is @p len bytes.
 * @return 0, GW_ENOSPC when SMPP_MAX_TLVS are already there, GW_EINVAL for len > 65535
 */
int smpp_pdu_add_tlv(struct smpp_pdu *pdu, uint16_t tag, const void *val, size_t len);
/** Append an integer TLV of 1, 2 or 4 bytes, stored inline. @return as smpp_pdu_add_tlv() */
int smpp_pdu_add_tlv_u8(struct smpp_pdu *pdu, uint16_t tag, uint8_t v);
int smpp_pdu_add_tlv_u16(struct smpp_pdu *pdu, uint16_t tag, uint16_t v);
int smpp_pdu_add_tlv_u32(struct smpp_pdu *pdu, uint16_t tag, uint32_t v);

/** @return the first TLV with @p tag, or NULL. */
const struct smpp_tlv *smpp_pdu_find_tlv(const struct smpp_pdu *pdu, uint16_t tag);
/** @return the value bytes of @p t (inline or referenced). */
const uint8_t *smpp_tlv_value(const struct smpp_tlv *t);

/**
 * Read an integer TLV (big-endian, 1 to 4 bytes).
 * @return 0 and the value in @p out; GW_ENOENT when absent; GW_EPROTO_MALFORMED
 *   when its length is 0 or over 4
 */
int smpp_pdu_tlv_uint(const struct smpp_pdu *pdu, uint16_t tag, uint32_t *out);

/** @return true for a command id this codec decodes and encodes. */
bool smpp_command_known(uint32_t command_id);
/** @return true when @p command_id is a response (bit 31). */
static inline bool smpp_is_resp(uint32_t command_id)
{
	return (command_id & SMPP_RESP_BIT) != 0;
}

/**
 * Compare two PDUs by content: header (length not included), the mandatory
 * fields of the command (string bytes, not pointers), and the TLVs in order.
 * Useful to recognise a re-sent PDU and to check a decode/encode round trip.
 * @param[in] ignore_seq leave sequence_number out of the comparison
 */
bool smpp_pdu_equal(const struct smpp_pdu *a, const struct smpp_pdu *b, bool ignore_seq);

/** smpp_pdu_describe() flags. */
#define SMPP_DESCRIBE_REDACT 1u /**< addresses, passwords and message bodies as lengths only */

/**
 * Write a one-line, deterministic description of @p pdu: command name,
 * sequence, status, then every mandatory field of that command in wire order
 * and every TLV (name, tag, hex value). Bytes outside printable ASCII are shown
 * as \xNN. Without SMPP_DESCRIBE_REDACT the text holds MSISDNs and message
 * bodies in clear: for tests and offline tools, never for logs.
 * @return the length the full text needs (as snprintf); the output is always
 *   NUL-terminated when @p cap > 0 and is truncated to fit
 */
size_t smpp_pdu_describe(const struct smpp_pdu *pdu, unsigned flags, char *buf, size_t cap);

/** Name tables for logs. Each returns a static string, never NULL; unknown
 *  values give "UNKNOWN" (statuses 0x400-0x4FF give "VENDOR"). */
const char *smpp_command_name(uint32_t command_id);
const char *smpp_status_name(uint32_t status);
const char *smpp_tlv_name(uint16_t tag);

#endif
