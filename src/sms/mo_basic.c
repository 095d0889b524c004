/* Minimal MO handler: audit, then answer (sms_mo_basic.h). */
#include "ussdgw/sms_mo_basic.h"

#include <stdio.h>
#include <string.h>

#include "ussdgw/audit.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"
#include "ussdgw/smpp_link.h"
#include "ussdgw/sms_router.h"

static void durable(void *cls, int rc)
{
	struct smpp_mo *mo = cls;
	char mb[LOG_MSISDN_BUFSZ], ms[24];
	const struct smpp_pdu *p = smpp_mo_pdu(mo);
	snprintf(ms, sizeof(ms), "%.*s", (int)p->source_addr.len, p->source_addr.ptr);
	if (rc) {
		LOGP(DSMS, LOG_NOTICE, "MO from %s on %s not audited (%s): ESME_RX_T_APPN",
		     log_msisdn(mb, ms), smpp_mo_bind(mo), gw_strerror(rc));
		metric_inc(metrics_counter("ussdgw_sms_mo_total", "MO handled by outcome",
					   "outcome=\"deferred\""));
		smpp_mo_respond(mo, ESME_RX_T_APPN);
		return;
	}
	LOGP(DSMS, LOG_INFO, "MO from %s on %s audited (%u parts, %zu bytes)", log_msisdn(mb, ms),
	     smpp_mo_bind(mo), smpp_mo_parts(mo), p->sm_length);
	metric_inc(
	    metrics_counter("ussdgw_sms_mo_total", "MO handled by outcome", "outcome=\"ok\""));
	smpp_mo_respond(mo, ESME_ROK);
}

void sms_mo_basic_handle(struct smpp_mo *mo)
{
	/* The keyword router, when it runs, handles SMS (the USSD engine hands them here). */
	if (sms_router_handle(mo))
		return;
	const struct smpp_pdu *p = smpp_mo_pdu(mo);
	char ms[24], to[24], parts[8], len[16];
	snprintf(ms, sizeof(ms), "%.*s", (int)p->source_addr.len, p->source_addr.ptr);
	snprintf(to, sizeof(to), "%.*s", (int)p->destination_addr.len, p->destination_addr.ptr);
	snprintf(parts, sizeof(parts), "%u", smpp_mo_parts(mo));
	snprintf(len, sizeof(len), "%zu", p->sm_length);
	struct audit_var vars[] = {
	    {"to", to, false},
	    {"parts", parts, false},
	    {"length", len, false},
	};
	struct audit_record rec = {
	    .kind = AUDIT_SMS_MO,
	    .link = smpp_mo_bind(mo),
	    .msisdn = ms[0] ? ms : NULL,
	    .event = "mo",
	    .outcome = "received",
	    .actor = "subscriber",
	    .vars = vars,
	    .n_vars = 3,
	};
	int rc = audit_append(&rec, durable, mo);
	if (rc)
		durable(mo, rc);
}

static void on_mo(struct smpp_mo *mo, void *cls)
{
	(void)cls;
	sms_mo_basic_handle(mo);
}

static int svc_start(struct gw_node *node, void **state)
{
	(void)node;
	*state = NULL;
	struct smpp_links *ls = smpp_links_of_service(daemon_service_state("smpp-links"));
	if (ls)
		smpp_links_set_mo_handler(ls, on_mo, NULL);
	return 0;
}

const struct gw_service sms_mo_basic_service = {
    .name = "sms-mo",
    .start = svc_start,
};
