/** @file
 * ussd/: USSD-over-SMPP dialect adapters.
 *
 * A dialect adapter turns an inbound deliver_sm (or data_sm) of a USSD centre
 * into one canonical event {new, continue, end, abort, timeout} with the
 * session key parts (MSISDN in E.164, the network's session id when the
 * centre sends one), the text typed or dialled, and a request fingerprint
 * that recognises a re-sent PDU; and turns a canonical reply (continue or end,
 * text) back into a submit_sm with the TLVs the centre expects.
 *
 * Dialects (specs/smpp-ussd.md §3):
 *  - standard: its_session_info = [session number, (dialogue sequence << 1) | end],
 *    echoed on each reply with the end bit set on the last one;
 *  - packed:   its_session_info = 16 bits (session id << 1) | end (the 6D style);
 *  - umr:      user_message_reference carries the session id (the Mica style);
 *  - none:     no session id at all (the Huawei style): MSISDN only.
 *
 * Pure code: no I/O, no clock, no logging, nothing allocated. The config
 * parser reads a link's JSON object (borrowed).
 */
#ifndef USSDGW_USSD_DIALECT_H
#define USSDGW_USSD_DIALECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ussdgw/msisdn.h"
#include "ussdgw/smpp_pdu.h"
#include "ussdgw/smpp_text.h"

enum ussd_dialect {
	USSD_DIALECT_STANDARD,
	USSD_DIALECT_PACKED,
	USSD_DIALECT_UMR,
	USSD_DIALECT_NONE,
};
const char *ussd_dialect_name(enum ussd_dialect d);

/** Where the dialled code travels in a PSSR indication. */
enum ussd_code_field { USSD_CODE_SHORT_MESSAGE, USSD_CODE_DEST_ADDR };

#define USSD_VENDOR_OPS_MAX 8

/** Per-link USSD settings (from the link's config object). */
struct ussd_link_cfg {
	enum ussd_dialect dialect;
	enum ussd_code_field code_field;
	enum smpp_dcs_profile dcs_profile;
	char service_type[6];             /**< service_type of replies ("USSD") */
	uint8_t abort_ops[USSD_VENDOR_OPS_MAX];   /**< ussd_service_op values meaning "user aborted" */
	unsigned n_abort_ops;
	uint8_t timeout_ops[USSD_VENDOR_OPS_MAX]; /**< values meaning "the network timed out" */
	unsigned n_timeout_ops;
	struct msisdn_rules rules;        /**< national numbers to E.164 */
	int answer_budget_ms;             /**< reply deadline from the subscriber's input */
	int session_ms;                   /**< longest session */
	int screen_chars;                 /**< screen limit (GSM-7 characters) */
};

/**
 * Read the USSD keys of one `links[]` object (defaults for the missing ones).
 * @return 0 or GW_EINVAL (an unknown enum value, a bad vendor op, bad numbering rules).
 */
int ussd_link_cfg_from_json(json_t *link, struct ussd_link_cfg *out);

/** Canonical session events. */
enum ussd_ev_kind {
	USSD_EV_NEW,      /**< the subscriber dialled a code (PSSR indication) */
	USSD_EV_CONTINUE, /**< the subscriber answered a screen (USSR confirm) */
	USSD_EV_END,      /**< the dialog closed normally (USSN confirm, release) */
	USSD_EV_ABORT,    /**< the subscriber or the network abandoned the dialog */
	USSD_EV_TIMEOUT,  /**< the network timed the dialog out */
	USSD_EV_PUSH,     /**< a network-initiated dialog (outbound only) */
};
const char *ussd_ev_kind_name(enum ussd_ev_kind k);

#define USSD_TEXT_MAX 600 /**< decoded text (UTF-8), worst case of 182 septets */

/** One canonical event, decoded from a PDU. Self-contained (no pointers into the PDU). */
struct ussd_event {
	enum ussd_ev_kind kind;
	uint8_t op;                  /**< ussd_service_op as received (0xFF when absent) */
	bool op_present;
	char msisdn[MSISDN_BUFSZ];   /**< E.164 digits */
	char source_addr[22];        /**< the subscriber address as received (reply destination) */
	uint8_t source_ton, source_npi;
	char service_addr[22];       /**< destination_addr as received (reply source) */
	char text[USSD_TEXT_MAX];    /**< NEW: the dial string; CONTINUE: what was typed */
	bool has_net_id;
	uint32_t net_id;             /**< the network's session id (dialect-specific width) */
	bool has_seq;                /**< standard dialect: the dialogue sequence is known */
	uint8_t seq;                 /**< dialogue sequence number (7 bits) */
	bool end_bit;                /**< its_session_info end-of-session bit */
	uint8_t its[2];              /**< raw its_session_info when has_its */
	bool has_its;
	uint16_t umr;                /**< user_message_reference when has_umr */
	bool has_umr;
	uint32_t smpp_seq;           /**< SMPP sequence_number of the PDU */
	uint8_t data_coding;
	/** Request fingerprint (hex): equal for a re-sent PDU of the same step. */
	char fp[33];
	/** True when the fingerprint alone tells a re-send from new input
	 *  (its_session_info sequence bits); else it needs the SMPP sequence
	 *  number or a short window. */
	bool fp_strong;
};

/**
 * True when @p pdu is USSD traffic for this link: it carries ussd_service_op,
 * or its service_type equals the link's USSD service type. SMS otherwise.
 */
bool ussd_pdu_is_ussd(const struct ussd_link_cfg *lc, const struct smpp_pdu *pdu);

/**
 * deliver_sm / data_sm -> canonical event.
 * @return 0; GW_EINVAL when the source address is not an MSISDN under the link's
 *  rules; GW_EPROTO_MALFORMED for undecodable text or an unusable
 *  its_session_info (wrong length).
 */
int ussd_dialect_decode(const struct ussd_link_cfg *lc, const struct smpp_pdu *pdu,
			struct ussd_event *ev);

/** A canonical reply to one event. */
struct ussd_reply {
	bool end;          /**< PSSR response (17) with the end bit; else USSR request (2) */
	const char *text;  /**< UTF-8 */
};

/** Buffers a submit_sm built by ussd_dialect_encode_reply() points into. */
struct ussd_reply_buf {
	uint8_t sm[SMPP_SM_MAX];
	uint8_t its[2];
};

/**
 * Canonical reply -> submit_sm for the request @p ev (addresses swapped, session
 * id echoed as the dialect wants, ussd_service_op 2 or 17, data_coding from the
 * link's profile; text over the USSD bearer's single message is cut to fit).
 * @p out points into @p buf and into @p lc.
 * @return 0, GW_EINVAL (text not UTF-8).
 */
int ussd_dialect_encode_reply(const struct ussd_link_cfg *lc, const struct ussd_event *ev,
			      const struct ussd_reply *r, struct smpp_pdu *out,
			      struct ussd_reply_buf *buf);

#endif
