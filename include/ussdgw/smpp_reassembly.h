/** @file
 * Reassembly of concatenated MO SMS (UDH or sar_* TLVs) with the parts kept in
 * Redis, so a restart or another node's bind loses no part:
 *   ussdgw:mo:{LINK}:MSISDN:REF:TOTAL  hash seq -> part bytes, TTL = the timeout
 * A part is acknowledged (deliver_sm_resp ESME_ROK) once stored. When the last
 * part arrives the whole text is handed up with that part's reply handle; the
 * parts are deleted only after the handler answered ESME_ROK, so an
 * ESME_RX_T_APPN and the SMSC's redelivery of that part complete it again.
 * Parts of a message that never completes expire with the key.
 */
#ifndef USSDGW_SMPP_REASSEMBLY_H
#define USSDGW_SMPP_REASSEMBLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_redis;
struct smpp_concat;

/** @p data (malloc'd, the callee's to free) holds every part in order when @p complete. */
typedef void (*smpp_reasm_cb)(void *cls, int err, bool complete, uint8_t *data, size_t len);

/** Store one part (its payload without UDH). @return 0 (callback follows) or GW_E*. */
int smpp_reasm_add(struct store_redis *r, const char *link, const char *msisdn,
		   const struct smpp_concat *c, const uint8_t *part, size_t len, unsigned timeout_s,
		   smpp_reasm_cb cb, void *cls);
/** Forget a completed message (after it was answered ESME_ROK). */
int smpp_reasm_release(struct store_redis *r, const char *link, const char *msisdn,
		       const struct smpp_concat *c);

#endif
