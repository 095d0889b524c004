/* USSD-over-SMPP dialect adapters (ussd_dialect.h). */
#include "ussdgw/ussd_dialect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/config.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"

static const char *const dialect_names[] = {"standard", "packed", "umr", "none"};

const char *ussd_dialect_name(enum ussd_dialect d)
{
	return (unsigned)d < 4 ? dialect_names[d] : "unknown";
}

const char *ussd_ev_kind_name(enum ussd_ev_kind k)
{
	static const char *const n[] = {"new", "continue", "end", "abort", "timeout", "push"};
	return (unsigned)k < 6 ? n[k] : "unknown";
}

static const char *jstr(json_t *o, const char *k, const char *def)
{
	json_t *v = o ? json_object_get(o, k) : NULL;
	return json_is_string(v) ? json_string_value(v) : def;
}

static long long jint(json_t *o, const char *k, long long def)
{
	json_t *v = o ? json_object_get(o, k) : NULL;
	return json_is_integer(v) ? json_integer_value(v) : def;
}

/* "129", "0x81": one vendor op value. */
static int parse_ops(json_t *arr, uint8_t *ops, unsigned *n)
{
	*n = 0;
	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return GW_EINVAL;
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		long val;
		if (json_is_integer(v)) {
			val = (long)json_integer_value(v);
		} else if (json_is_string(v)) {
			char *end;
			val = strtol(json_string_value(v), &end, 0);
			if (*end || end == json_string_value(v))
				return GW_EINVAL;
		} else {
			return GW_EINVAL;
		}
		if (val < 0 || val > 255 || *n >= USSD_VENDOR_OPS_MAX)
			return GW_EINVAL;
		ops[(*n)++] = (uint8_t)val;
	}
	return 0;
}

int ussd_link_cfg_from_json(json_t *link, struct ussd_link_cfg *out)
{
	memset(out, 0, sizeof(*out));
	const char *d = jstr(link, "ussd_session_field", "its_session_info");
	if (!strcmp(d, "its_session_info") || !strcmp(d, "standard"))
		out->dialect = USSD_DIALECT_STANDARD;
	else if (!strcmp(d, "packed"))
		out->dialect = USSD_DIALECT_PACKED;
	else if (!strcmp(d, "umr"))
		out->dialect = USSD_DIALECT_UMR;
	else if (!strcmp(d, "none"))
		out->dialect = USSD_DIALECT_NONE;
	else
		return GW_EINVAL;
	const char *cf = jstr(link, "ussd_code_field", "short_message");
	if (!strcmp(cf, "short_message"))
		out->code_field = USSD_CODE_SHORT_MESSAGE;
	else if (!strcmp(cf, "destination_addr"))
		out->code_field = USSD_CODE_DEST_ADDR;
	else
		return GW_EINVAL;
	const char *dp = jstr(link, "dcs_profile", "ussd");
	if (!strcmp(dp, "ussd"))
		out->dcs_profile = SMPP_DCS_USSD;
	else if (!strcmp(dp, "smpp"))
		out->dcs_profile = SMPP_DCS_SMPP;
	else
		return GW_EINVAL;
	const char *st = jstr(link, "ussd_service_type", "USSD");
	if (strlen(st) >= sizeof(out->service_type))
		return GW_EINVAL;
	snprintf(out->service_type, sizeof(out->service_type), "%s", st);
	json_t *ab = link ? json_object_get(link, "ussd_abort_ops") : NULL;
	if (ab) {
		if (parse_ops(ab, out->abort_ops, &out->n_abort_ops))
			return GW_EINVAL;
	} else {
		out->abort_ops[0] = 0x81; /* USSREL indication (Mica, 6D) */
		out->n_abort_ops = 1;
	}
	if (parse_ops(link ? json_object_get(link, "ussd_timeout_ops") : NULL, out->timeout_ops,
		      &out->n_timeout_ops))
		return GW_EINVAL;
	if (msisdn_rules_set(&out->rules, jstr(link, "country_code", "254"),
			     jstr(link, "trunk_prefix", "0"), NULL, jstr(link, "nsn_lengths", "")))
		return GW_EINVAL;
	out->answer_budget_ms = (int)jint(link, "answer_budget_ms", 10000);
	out->session_ms = (int)jint(link, "ussd_session_ms", 180000);
	out->screen_chars = (int)jint(link, "ussd_screen_chars", 160);
	return 0;
}

bool ussd_pdu_is_ussd(const struct ussd_link_cfg *lc, const struct smpp_pdu *pdu)
{
	if (pdu->command_id != SMPP_DELIVER_SM && pdu->command_id != SMPP_DATA_SM)
		return false;
	if (pdu->esm_class & 0x3C)
		return false; /* receipts and other message types */
	if (smpp_pdu_find_tlv(pdu, SMPP_TLV_USSD_SERVICE_OP))
		return true;
	return lc->service_type[0] && smpp_str_eq(pdu->service_type, lc->service_type);
}

static bool has_op(const uint8_t *ops, unsigned n, uint8_t op)
{
	for (unsigned i = 0; i < n; i++)
		if (ops[i] == op)
			return true;
	return false;
}

static void cstr(char *dst, size_t cap, struct smpp_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;
	if (n)
		memcpy(dst, s.ptr, n);
	dst[n] = '\0';
}

/* The text of the PDU as UTF-8 (short_message, else message_payload). */
static int decode_text(const struct ussd_link_cfg *lc, const struct smpp_pdu *pdu, char *out,
		       size_t cap)
{
	const uint8_t *b = pdu->short_message;
	size_t n = pdu->sm_length;
	if (!n) {
		const struct smpp_tlv *t = smpp_pdu_find_tlv(pdu, SMPP_TLV_MESSAGE_PAYLOAD);
		if (t) {
			b = smpp_tlv_value(t);
			n = t->len;
		}
	}
	out[0] = '\0';
	if (!n)
		return 0;
	enum smpp_text_enc enc = smpp_dcs_to_enc(pdu->data_coding, lc->dcs_profile);
	if (enc == SMPP_ENC_UNKNOWN || enc == SMPP_ENC_8BIT) {
		/* Centres label plain digits with odd codings: take ASCII as GSM-7. */
		for (size_t i = 0; i < n; i++)
			if (b[i] >= 0x80)
				return GW_EPROTO_MALFORMED;
		enc = SMPP_ENC_GSM7;
	}
	size_t len = 0;
	if (SMPP_TEXT_UTF8_MAX(n) > cap)
		n = (cap - 1) / 3;
	int rc = smpp_text_decode(enc, b, n, out, cap - 1, &len);
	if (rc)
		return rc;
	out[len] = '\0';
	return 0;
}

int ussd_dialect_decode(const struct ussd_link_cfg *lc, const struct smpp_pdu *pdu,
			struct ussd_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->smpp_seq = pdu->sequence_number;
	ev->data_coding = pdu->data_coding;
	cstr(ev->source_addr, sizeof(ev->source_addr), pdu->source_addr);
	cstr(ev->service_addr, sizeof(ev->service_addr), pdu->destination_addr);
	ev->source_ton = pdu->source_addr_ton;
	ev->source_npi = pdu->source_addr_npi;
	int rc = msisdn_normalize(&lc->rules, ev->source_addr, pdu->source_addr_ton,
				  pdu->source_addr_npi, ev->msisdn);
	if (rc)
		return GW_EINVAL;

	uint32_t op = 0xFF;
	rc = smpp_pdu_tlv_uint(pdu, SMPP_TLV_USSD_SERVICE_OP, &op);
	if (rc == GW_EPROTO_MALFORMED)
		return rc;
	ev->op_present = rc == 0;
	ev->op = (uint8_t)op;

	const struct smpp_tlv *its = smpp_pdu_find_tlv(pdu, SMPP_TLV_ITS_SESSION_INFO);
	if (its) {
		if (its->len != 2)
			return GW_EPROTO_MALFORMED;
		memcpy(ev->its, smpp_tlv_value(its), 2);
		ev->has_its = true;
	}
	uint32_t umr;
	rc = smpp_pdu_tlv_uint(pdu, SMPP_TLV_USER_MESSAGE_REFERENCE, &umr);
	if (rc == 0) {
		ev->has_umr = true;
		ev->umr = (uint16_t)umr;
	}
	switch (lc->dialect) {
	case USSD_DIALECT_STANDARD:
		if (ev->has_its) {
			ev->has_net_id = true;
			ev->net_id = ev->its[0];
			ev->has_seq = true;
			ev->seq = ev->its[1] >> 1;
			ev->end_bit = ev->its[1] & 1;
		}
		break;
	case USSD_DIALECT_PACKED:
		if (ev->has_its) {
			uint16_t v = (uint16_t)(ev->its[0] << 8 | ev->its[1]);
			ev->has_net_id = true;
			ev->net_id = v >> 1;
			ev->end_bit = v & 1;
		}
		break;
	case USSD_DIALECT_UMR:
		if (ev->has_umr) {
			ev->has_net_id = true;
			ev->net_id = ev->umr;
		}
		break;
	case USSD_DIALECT_NONE:
		break;
	}

	rc = decode_text(lc, pdu, ev->text, sizeof(ev->text));
	if (rc)
		return GW_EPROTO_MALFORMED;
	if (lc->code_field == USSD_CODE_DEST_ADDR &&
	    (op == SMPP_USSD_PSSR_IND || op == SMPP_USSD_PSSD_IND) && !ev->text[0])
		snprintf(ev->text, sizeof(ev->text), "%s", ev->service_addr);

	/* The kind. Vendor codes first: a centre may reuse any value. */
	if (ev->op_present && has_op(lc->abort_ops, lc->n_abort_ops, ev->op))
		ev->kind = USSD_EV_ABORT;
	else if (ev->op_present && has_op(lc->timeout_ops, lc->n_timeout_ops, ev->op))
		ev->kind = USSD_EV_TIMEOUT;
	else if (ev->op_present && (op == SMPP_USSD_PSSR_IND || op == SMPP_USSD_PSSD_IND))
		ev->kind = USSD_EV_NEW;
	else if (ev->op_present && op == SMPP_USSD_USSN_CONF)
		ev->kind = USSD_EV_END;
	else if (ev->end_bit)
		ev->kind = USSD_EV_ABORT; /* the network released the dialog */
	else if (ev->op_present && op == SMPP_USSD_USSR_CONF)
		ev->kind = USSD_EV_CONTINUE;
	else if (!ev->op_present && ev->text[0] == '*' && ev->text[strlen(ev->text) - 1] == '#')
		ev->kind = USSD_EV_NEW; /* service_type USSD without the TLV: a dial string */
	else if (!ev->op_present)
		ev->kind = USSD_EV_CONTINUE;
	else
		ev->kind = USSD_EV_ABORT; /* an operation we do not serve */

	/* Fingerprint: what a re-send repeats and a new step changes. */
	char buf[USSD_TEXT_MAX + 64];
	int n = snprintf(buf, sizeof(buf), "%u|%d|%02x%02x|%d|%u|%s", ev->op, ev->has_its, ev->its[0],
			 ev->its[1], ev->has_umr, ev->umr, ev->text);
	uint8_t h[32];
	crypto_sha256(buf, (size_t)(n < 0 ? 0 : n), h);
	crypto_hex(h, 16, ev->fp);
	ev->fp[32] = '\0';
	ev->fp_strong = ev->has_seq;
	return 0;
}

int ussd_dialect_encode_reply(const struct ussd_link_cfg *lc, const struct ussd_event *ev,
			      const struct ussd_reply *r, struct smpp_pdu *out,
			      struct ussd_reply_buf *buf)
{
	smpp_pdu_init(out, SMPP_SUBMIT_SM, 0);
	out->service_type = smpp_str_c(lc->service_type);
	out->source_addr_ton = 0;
	out->source_addr_npi = 0;
	out->source_addr = smpp_str_c(ev->service_addr);
	out->dest_addr_ton = ev->source_ton;
	out->dest_addr_npi = ev->source_npi;
	out->destination_addr = smpp_str_c(ev->source_addr);

	struct smpp_text_plan_opts po = {.bearer = SMPP_BEARER_USSD, .concat = SMPP_CONCAT_NONE};
	static const char *const cut = "";
	const char *text = r->text ? r->text : cut;
	size_t len = strlen(text);
	uint8_t enc[2 * USSD_TEXT_MAX];
	struct smpp_text_plan plan;
	int rc;
	for (;;) {
		rc = smpp_text_plan(text, len, &po, enc, sizeof(enc), &plan);
		if (rc != GW_EMSGSIZE || len == 0)
			break;
		/* Over one USSD message: cut at a character boundary and try again. */
		do
			len--;
		while (len > 0 && ((uint8_t)text[len] & 0xC0) == 0x80);
	}
	if (rc)
		return GW_EINVAL;
	uint8_t dcs = 0x0F;
	if (smpp_dcs_from_enc(plan.enc, lc->dcs_profile, &dcs))
		dcs = plan.enc == SMPP_ENC_UCS2 ? 0x08 : 0x00;
	out->data_coding = dcs;
	size_t n = plan.enc_len < sizeof(buf->sm) ? plan.enc_len : sizeof(buf->sm);
	memcpy(buf->sm, enc, n);
	out->short_message = buf->sm;
	out->sm_length = n;

	smpp_pdu_add_tlv_u8(out, SMPP_TLV_USSD_SERVICE_OP,
			    r->end ? SMPP_USSD_PSSR_RESP : SMPP_USSD_USSR_REQ);
	switch (lc->dialect) {
	case USSD_DIALECT_STANDARD:
		if (ev->has_its) {
			buf->its[0] = ev->its[0];
			buf->its[1] = (uint8_t)((ev->its[1] & 0xFE) | (r->end ? 1 : 0));
			smpp_pdu_add_tlv(out, SMPP_TLV_ITS_SESSION_INFO, buf->its, 2);
		}
		break;
	case USSD_DIALECT_PACKED:
		if (ev->has_its) {
			buf->its[0] = ev->its[0];
			buf->its[1] = (uint8_t)((ev->its[1] & 0xFE) | (r->end ? 1 : 0));
			smpp_pdu_add_tlv(out, SMPP_TLV_ITS_SESSION_INFO, buf->its, 2);
		}
		break;
	case USSD_DIALECT_UMR:
		if (ev->has_umr)
			smpp_pdu_add_tlv_u16(out, SMPP_TLV_USER_MESSAGE_REFERENCE, ev->umr);
		break;
	case USSD_DIALECT_NONE:
		break;
	}
	return 0;
}
