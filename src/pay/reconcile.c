/* Reconciliation: payments left open past payments.query_after_s are asked
 * about at their provider; at payments.expire_after_s they end: a pending
 * one expires, one whose request's fate is unknown (no provider reference)
 * goes to `unknown` for a person, one never sent (`created`) expires. Expired
 * and unknown payments with a reference are asked about for
 * payments.late_window_s more, so a success confirmed late is found. */
#include <stdlib.h>
#include <string.h>

#include "pay_int.h"
#include "ussdgw/clock.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"

static void sweep_rows(void *cls, int err, const struct payment_row *rows, size_t n)
{
	struct pay_svc *s = cls;
	s->sweep_busy = 0;
	if (err) {
		LOGP(DPAY, LOG_NOTICE, "reconciliation: %s", gw_strerror(err));
		return;
	}
	int64_t now = gw_now_ms();
	for (size_t i = 0; i < n; i++) {
		const struct payment_row *r = &rows[i];
		struct pay_prov *pv = pay_prov_find(s, r->provider);
		if (!pv)
			continue; /* another node's provider */
		bool cutoff = now - r->created_ms >= (int64_t)s->expire_after_s * 1000;
		static const enum pay_state created[] = {PAY_CREATED};
		static const enum pay_state requested[] = {PAY_REQUESTED};
		switch (r->state) {
		case PAY_CREATED:
			if (cutoff)
				pay_apply(s, pv, r->id, PAY_EXPIRED, created, 1, NULL, NULL, NULL,
					  "never sent", NULL, "cut-off, never sent");
			break;
		case PAY_REQUESTED:
			if (r->provider_ref[0])
				pay_confirm(s, pv, r->id, r->provider_ref, PAY_STATE_COUNT, NULL,
					    cutoff);
			else if (cutoff)
				pay_apply(s, pv, r->id, PAY_UNKNOWN, requested, 1, NULL, NULL, NULL,
					  "request sent, outcome and reference unknown",
					  "request sent, outcome and reference unknown",
					  "cut-off, no reference");
			break;
		case PAY_PENDING:
			pay_confirm(s, pv, r->id, r->provider_ref, PAY_STATE_COUNT, NULL, cutoff);
			break;
		case PAY_EXPIRED:
		case PAY_UNKNOWN:
			if (r->provider_ref[0])
				pay_confirm(s, pv, r->id, r->provider_ref, PAY_STATE_COUNT, NULL,
					    false);
			break;
		default:
			break;
		}
	}
}

void pay_reconcile_now(struct pay_svc *s)
{
	if (s->sweep_busy || s->stopping)
		return;
	int64_t older = gw_now_ms() - (int64_t)s->query_after_s * 1000;
	s->sweep_busy = 1;
	if (payment_db_list_stale(s->pg, older, (int64_t)s->late_window_s * 1000, s->batch,
				  sweep_rows, s))
		s->sweep_busy = 0;
}

static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	pay_reconcile_now(w->data);
}

void pay_reconcile_start(struct pay_svc *s)
{
	ev_timer_init(&s->sweep, sweep_cb, 1., (double)s->sweep_interval_s);
	s->sweep.data = s;
	ev_timer_start(s->loop, &s->sweep);
}

void pay_reconcile_stop(struct pay_svc *s)
{
	ev_timer_stop(s->loop, &s->sweep);
}
