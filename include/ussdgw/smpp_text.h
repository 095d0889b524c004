/** @file
 * Text encodings for SMPP and USSD: GSM 03.38 default alphabet with its
 * extension table (unpacked and packed septets), UCS2/UTF-16BE with surrogate
 * pairs, Latin-1; choosing the cheapest encoding and splitting into parts;
 * concatenation by UDH (8- and 16-bit references) or sar_* TLVs; data_coding
 * mapping for SMPP and USSD (3GPP TS 23.038 CBS) profiles.
 *
 * Ownership: every function writes into caller buffers and says how many bytes
 * it wrote; nothing is allocated, nothing is global, nothing is logged.
 * Buffers that are too small give GW_EMSGSIZE and leave *out_len unspecified.
 * Decoders of peer bytes never fail on unmappable input (they substitute), only
 * on structure; encoders of our UTF-8 refuse invalid UTF-8 and characters the
 * target alphabet lacks (GW_EINVAL).
 */
#ifndef USSDGW_SMPP_TEXT_H
#define USSDGW_SMPP_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct smpp_pdu;

/** Text encodings. */
enum smpp_text_enc {
	SMPP_ENC_GSM7,	 /**< GSM 03.38, one septet per octet (what SMPP carries) */
	SMPP_ENC_LATIN1, /**< ISO-8859-1 */
	SMPP_ENC_UCS2,	 /**< UTF-16BE, surrogate pairs allowed */
	SMPP_ENC_8BIT,	 /**< binary octets, no text */
	SMPP_ENC_UNKNOWN,
};

const char *smpp_text_enc_name(enum smpp_text_enc e);

/** Worst-case UTF-8 bytes for decoding @p n input octets of any encoding
 *  (a GSM septet gives up to 3, € from ESC+e is 3 for 2 octets). */
#define SMPP_TEXT_UTF8_MAX(n) ((n)*3 + 1)

/**
 * Encode UTF-8 text.
 * @param[in] enc SMPP_ENC_GSM7 (unpacked septets), SMPP_ENC_LATIN1 or SMPP_ENC_UCS2
 * @param[out] out encoded bytes; @p out_len their count
 * @return 0; GW_EINVAL for invalid UTF-8 or a character @p enc cannot carry;
 *   GW_EMSGSIZE if @p cap is too small
 */
int smpp_text_encode(enum smpp_text_enc enc, const char *utf8, size_t len, uint8_t *out, size_t cap,
		     size_t *out_len);

/**
 * Decode peer bytes to UTF-8 (not NUL-terminated). Unmappable input becomes
 * U+FFFD (UCS2 lone surrogates) or '?' (GSM bytes above 0x7F); an ESC followed
 * by a code without an extension character gives the default-table character;
 * a final lone ESC gives a space.
 * @return 0; GW_EPROTO_MALFORMED for UCS2 of odd length; GW_EINVAL for
 *   SMPP_ENC_8BIT/UNKNOWN; GW_EMSGSIZE if @p cap is too small
 */
int smpp_text_decode(enum smpp_text_enc enc, const uint8_t *in, size_t len, char *out, size_t cap,
		     size_t *out_len);

/** Flags of the GSM packers. */
#define SMPP_GSM7_USSD_PAD 1u /**< 3GPP TS 23.038 §6.1.2.3.1: CR pads a final free septet */

/**
 * Pack septets (one per octet, values 0..0x7F) into 7-bit packed form.
 * @param[in] fill_bits bits left free at the start (for alignment after a UDH), 0..6
 */
int smpp_gsm7_pack(const uint8_t *septets, size_t n, unsigned fill_bits, unsigned flags,
		   uint8_t *out, size_t cap, size_t *out_len);
/** smpp_gsm7_unpack(): read as many septets as the bytes hold. */
#define SMPP_GSM7_ALL ((size_t)-1)

/**
 * Unpack 7-bit packed data into one septet per octet.
 * @param[in] nsept septets to read (0 reads none), or SMPP_GSM7_ALL for as many
 *   as the bytes hold (then, with SMPP_GSM7_USSD_PAD, a final CR that is
 *   padding is dropped)
 * @return 0; GW_EPROTO_MALFORMED if @p nsept needs more bytes than @p len
 */
int smpp_gsm7_unpack(const uint8_t *in, size_t len, unsigned fill_bits, size_t nsept,
		     unsigned flags, uint8_t *out, size_t cap, size_t *out_len);

/** How a long message is carried. */
enum smpp_concat_mode {
	SMPP_CONCAT_NONE,  /**< one part only; over the single-part limit is GW_EMSGSIZE */
	SMPP_CONCAT_UDH8,  /**< UDH IEI 0x00, 8-bit reference (6 octets) */
	SMPP_CONCAT_UDH16, /**< UDH IEI 0x08, 16-bit reference (7 octets) */
	SMPP_CONCAT_SAR,   /**< sar_* TLVs; parts sized as with UDH8 since the SMSC adds one */
};

/** Bearer whose single-message limits apply. */
enum smpp_text_bearer {
	SMPP_BEARER_SMS,  /**< 160 GSM septets / 140 Latin-1 / 70 UCS2 units per message */
	SMPP_BEARER_USSD, /**< 182 GSM septets / 80 UCS2 units; one part; no Latin-1 */
};

#define SMPP_TEXT_MAX_PARTS 255u

struct smpp_text_plan_opts {
	enum smpp_text_bearer bearer;
	enum smpp_concat_mode concat;
	bool allow_latin1; /**< the link accepts data_coding 3 */
};

/** The outcome of smpp_text_plan(). */
struct smpp_text_plan {
	enum smpp_text_enc enc;
	size_t enc_len; /**< encoded octets (unpacked septets for GSM7) */
	size_t units;	/**< septets, Latin-1 octets or UTF-16 code units */
	unsigned parts; /**< 1..SMPP_TEXT_MAX_PARTS */
	/** Part i is encoded bytes [split[i], split[i+1]); split[0] = 0 and
	 *  split[parts] = enc_len. Never inside an ESC pair or a surrogate pair. */
	uint32_t split[SMPP_TEXT_MAX_PARTS + 1];
	enum smpp_concat_mode concat;
};

/**
 * Pick the encoding with the fewest parts for @p utf8 (ties: GSM7, then
 * Latin-1, then UCS2), encode it into @p out and compute the part boundaries.
 * A @p cap of 2 * @p len bytes always suffices.
 * @return 0; GW_EINVAL for invalid UTF-8; GW_EMSGSIZE if @p cap is too small, the
 *   text needs more than SMPP_TEXT_MAX_PARTS parts, or more than one with
 *   SMPP_CONCAT_NONE / the USSD bearer
 */
int smpp_text_plan(const char *utf8, size_t len, const struct smpp_text_plan_opts *opts,
		   uint8_t *out, size_t cap, struct smpp_text_plan *plan);

/** Concatenation information, from a UDH or from sar_* TLVs. */
struct smpp_concat {
	uint16_t ref;
	uint8_t total; /**< 1..255 */
	uint8_t seq;   /**< 1..total */
	bool ref16;    /**< 16-bit reference (UDH IEI 0x08) */
};

/** Write a concatenation UDH (with its UDHL octet): 6 octets, or 7 with ref16. */
int smpp_udh_concat_build(const struct smpp_concat *c, uint8_t *out, size_t cap, size_t *out_len);

/**
 * Parse the UDH at the start of @p sm (esm_class has UDHI set).
 * @param[out] udh_len octets of UDH including the UDHL octet (the text follows)
 * @param[out] c concatenation info; @p found says whether a concat IE was present
 * @return 0; GW_EPROTO_MALFORMED if the UDH overruns @p sm, an IE overruns the
 *   UDH, or a concat IE has a bad length, total 0 or seq outside 1..total
 */
int smpp_udh_parse(const uint8_t *sm, size_t len, size_t *udh_len, struct smpp_concat *c,
		   bool *found);

/**
 * Write part @p index (0-based) of @p plan as a short_message: the UDH when the
 * plan uses UDH concatenation and has more than one part, then the part's bytes
 * from @p enc (the buffer smpp_text_plan() filled).
 * @param[in] ref concatenation reference (the low 8 bits with UDH8)
 */
int smpp_text_part(const struct smpp_text_plan *plan, const uint8_t *enc, unsigned index,
		   uint16_t ref, uint8_t *out, size_t cap, size_t *out_len);

/** Add sar_msg_ref_num, sar_total_segments and sar_segment_seqnum to @p pdu. */
int smpp_sar_add(struct smpp_pdu *pdu, const struct smpp_concat *c);
/**
 * Read the sar_* TLVs.
 * @return 0; GW_ENOENT when none is present; GW_EPROTO_MALFORMED when only some
 *   are present or the values are inconsistent (total 0, seq outside 1..total)
 */
int smpp_sar_get(const struct smpp_pdu *pdu, struct smpp_concat *c);

/** How data_coding is read. */
enum smpp_dcs_profile {
	SMPP_DCS_SMPP, /**< SMPP 3.4 §5.2.19 for 0x00-0x0F, SMS DCS (TS 23.038 §4) above */
	SMPP_DCS_USSD, /**< CBS/USSD DCS (TS 23.038 §5): 0x0F GSM7, 0x44 8-bit, 0x48 UCS2 */
};

/** @return the encoding @p dcs denotes, or SMPP_ENC_UNKNOWN (compressed, reserved). */
enum smpp_text_enc smpp_dcs_to_enc(uint8_t dcs, enum smpp_dcs_profile profile);
/** @return 0 and the data_coding for @p enc; GW_ENOTSUP if the profile has none. */
int smpp_dcs_from_enc(enum smpp_text_enc enc, enum smpp_dcs_profile profile, uint8_t *dcs);

#endif
