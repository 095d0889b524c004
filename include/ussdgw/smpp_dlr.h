/** @file
 * Delivery receipts: lenient parsing of receipt text and TLVs, message id
 * normalisation, and the correlation store in Redis that maps an SMSC message
 * id back to the MT that was submitted (DESIGN: anything another node may have
 * to finish lives in Redis).
 *
 * Correlation keys (per link, TTL links[].dlr_ttl_s; {LINK} is a cluster hash tag):
 *   ussdgw:dlr:{LINK}:ID   -> MT id   (ID in every normalised form, see below;
 *                                      the primary form overwrites, the others only fill)
 * A receipt whose id is not mapped yet (it overtook the submit_sm_resp, or the
 * response is being processed on another node) is parked under
 *   ussdgw:dlr:{LINK}:early:ID  (TTL links[].dlr_early_ttl_s)
 * Both sides run as Lua scripts, so "map then look for a parked receipt" and
 * "look up then park" cannot interleave and lose a receipt. A matched receipt
 * updates the MT's hash ussdgw:mt:{LINK}:MTID (dlr_state, dlr_err, dlr_at) and is
 * appended to the stream ussdgw:dlr-events for the SMS layer.
 *
 * Ownership: the parser and normaliser write into caller structs, allocate
 * nothing and never log.
 */
#ifndef USSDGW_SMPP_DLR_H
#define USSDGW_SMPP_DLR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct smpp_pdu;
struct store_redis;

/** message_state values (SMPP 3.4 §5.2.28). */
enum smpp_msg_state {
	SMPP_STATE_UNKNOWN_0 = 0,
	SMPP_STATE_ENROUTE = 1,
	SMPP_STATE_DELIVERED = 2,
	SMPP_STATE_EXPIRED = 3,
	SMPP_STATE_DELETED = 4,
	SMPP_STATE_UNDELIVERABLE = 5,
	SMPP_STATE_ACCEPTED = 6,
	SMPP_STATE_UNKNOWN = 7,
	SMPP_STATE_REJECTED = 8,
};
/** "DELIVERED", ... ("UNKNOWN" for anything else). */
const char *smpp_msg_state_name(unsigned state);
/** True for final states (delivered, expired, deleted, undeliverable, rejected). */
bool smpp_msg_state_final(unsigned state);

#define SMPP_DLR_ID_MAX 65

/** A parsed receipt. Fields not found stay zero / empty. */
struct smpp_dlr {
	char id[SMPP_DLR_ID_MAX]; /**< as found (TLV preferred), NUL-terminated */
	unsigned state;		  /**< enum smpp_msg_state; 0 when neither TLV nor stat word */
	char stat[9];		  /**< stat word as found ("DELIVRD"), may be empty */
	int err;		  /**< err: value or network_error_code; -1 when absent */
	unsigned sub, dlvrd;
	char submit_date[13], done_date[13]; /**< digits as found (10 or 12), may be empty */
	bool from_tlv; /**< id/state came from receipted_message_id/message_state */
};

/**
 * Parse receipt text leniently: keys in any case and order, "submit date" /
 * "submit_date", missing fields, stat words (DELIVRD, EXPIRED, DELETED, UNDELIV,
 * ACCEPTD, UNKNOWN, REJECTD, ENROUTE, and the long forms), text: last and free.
 * @return 0 when an id was found; GW_ENOENT when none; GW_EINVAL for NULL.
 */
int smpp_dlr_parse_text(const char *text, size_t len, struct smpp_dlr *out);

/**
 * Parse a receipt deliver_sm / data_sm: the TLVs receipted_message_id,
 * message_state and network_error_code win over the text, which fills the rest.
 * @return 0, GW_ENOENT (no id anywhere), GW_EINVAL.
 */
int smpp_dlr_parse_pdu(const struct smpp_pdu *pdu, struct smpp_dlr *out);

/** True when @p pdu is a receipt (esm_class message type 0x04 or 0x08, or receipted_message_id). */
bool smpp_dlr_is_receipt(const struct smpp_pdu *pdu);

/** Normalised forms of one message id; at most 3. */
struct smpp_dlr_ids {
	unsigned n;
	char id[3][SMPP_DLR_ID_MAX + 4];
};

/**
 * Normalise a message id: trim blanks and NULs, lower-case, strip leading zeros
 * ("0" stays). When the result is all digits and fits 64 bits, its hexadecimal
 * form is added; when it is all hex digits and fits 64 bits, its decimal form
 * is added. The primary form (index 0) is always
 * the plain normalised string. Two ids that may denote the same message (the
 * submit_sm_resp in hex, the receipt in decimal, or padded, or upper-case)
 * share at least one form: the receipt's primary form is one of the response's forms.
 * @return 0, GW_EINVAL (empty id or over SMPP_DLR_ID_MAX).
 */
int smpp_dlr_normalise(const char *id, size_t len, struct smpp_dlr_ids *out);

/** Result of a correlation. */
typedef void (*smpp_dlr_cb)(void *cls, int err, const char *mt_id);

/**
 * Map the SMSC's message id of an accepted MT to @p mt_id (after submit_sm_resp
 * ESME_ROK), and apply a receipt parked under it. @p cb (may be NULL) gets the
 * MT id of an applied early receipt or NULL.
 */
int smpp_dlr_map(struct store_redis *r, const char *link, const char *smsc_id, const char *mt_id,
		 unsigned ttl_s, unsigned early_ttl_s, smpp_dlr_cb cb, void *cls);

/**
 * Correlate a receipt: apply it to the mapped MT, or park it. @p cb gets err 0 and the
 * MT id (matched) or NULL (parked), or an error (Redis down: answer the receipt with
 * ESME_RX_T_APPN so the SMSC sends it again).
 */
int smpp_dlr_correlate(struct store_redis *r, const char *link, const struct smpp_dlr *d,
		       unsigned early_ttl_s, smpp_dlr_cb cb, void *cls);

#endif
