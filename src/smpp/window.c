/* Per-bind window, TPS token bucket and adaptive slow-down (smpp_window.h). */
#include "ussdgw/smpp_window.h"

#include <stdlib.h>
#include <string.h>

#include "ussdgw/gw_error.h"

#define PAUSE_MAX_FACTOR 32.0

int smpp_window_init(struct smpp_window *w, unsigned size, double tps, double pause_s, double now)
{
	if (!w || size == 0 || size > 100000)
		return GW_EINVAL;
	memset(w, 0, sizeof(*w));
	/* Control PDUs may exceed the window by a few slots. */
	w->slots = calloc(size + 4, sizeof(*w->slots));
	if (!w->slots)
		return GW_ENOMEM;
	w->size = size;
	w->effective = size;
	w->tps = tps;
	w->tokens = tps > 0 ? (tps < 1 ? 1 : tps) : 0;
	w->refilled_at = now;
	w->pause_s = pause_s;
	w->pause_cur = pause_s;
	return 0;
}

void smpp_window_free(struct smpp_window *w)
{
	if (!w)
		return;
	free(w->slots);
	w->slots = NULL;
}

static unsigned capacity(const struct smpp_window *w)
{
	return w->size + 4;
}

int smpp_window_configure(struct smpp_window *w, unsigned size, double tps, double pause_s)
{
	if (size == 0)
		return GW_EINVAL;
	if (size > w->size) {
		struct smpp_window_slot *n = calloc(size + 4, sizeof(*n));
		if (!n)
			return GW_ENOMEM;
		memcpy(n, w->slots, capacity(w) * sizeof(*n));
		free(w->slots);
		w->slots = n;
		w->effective = size;
	} else if (w->effective > size) {
		w->effective = size;
	}
	w->size = size > w->size ? size : w->size;
	w->tps = tps;
	w->pause_s = pause_s;
	if (w->pause_cur < pause_s)
		w->pause_cur = pause_s;
	return 0;
}

static void refill(struct smpp_window *w, double now)
{
	if (w->tps <= 0)
		return;
	double burst = w->tps < 1 ? 1 : w->tps;
	if (now > w->refilled_at) {
		w->tokens += (now - w->refilled_at) * w->tps;
		if (w->tokens > burst)
			w->tokens = burst;
	}
	w->refilled_at = now;
}

bool smpp_window_can_send(struct smpp_window *w, double now)
{
	if (w->used >= w->effective || now < w->paused_until)
		return false;
	refill(w, now);
	return w->tps <= 0 || w->tokens >= 1.0;
}

double smpp_window_ready_at(struct smpp_window *w, double now)
{
	if (w->used >= w->effective)
		return 0;
	double t = now;
	if (w->paused_until > t)
		t = w->paused_until;
	refill(w, now);
	if (w->tps > 0 && w->tokens < 1.0) {
		double tt = now + (1.0 - w->tokens) / w->tps;
		if (tt > t)
			t = tt;
	}
	return t;
}

int smpp_window_add(struct smpp_window *w, uint32_t seq, uint32_t command_id, double now,
		    double deadline, void *cookie, bool take_token)
{
	if (seq == 0)
		return GW_EINVAL;
	struct smpp_window_slot *free_slot = NULL;
	for (unsigned i = 0; i < capacity(w); i++) {
		if (w->slots[i].seq == seq)
			return GW_EEXIST;
		if (!w->slots[i].seq && !free_slot)
			free_slot = &w->slots[i];
	}
	if (!free_slot || (take_token && w->used >= w->size))
		return GW_ENOSPC;
	if (take_token && w->tps > 0) {
		refill(w, now);
		w->tokens -= 1.0;
	}
	*free_slot = (struct smpp_window_slot){seq, command_id, now, deadline, cookie};
	w->used++;
	return 0;
}

int smpp_window_take(struct smpp_window *w, uint32_t seq, struct smpp_window_slot *out)
{
	for (unsigned i = 0; seq && i < capacity(w); i++) {
		if (w->slots[i].seq == seq) {
			if (out)
				*out = w->slots[i];
			memset(&w->slots[i], 0, sizeof(w->slots[i]));
			w->used--;
			return 0;
		}
	}
	return GW_ENOENT;
}

bool smpp_window_expire(struct smpp_window *w, double now, struct smpp_window_slot *out)
{
	for (unsigned i = 0; i < capacity(w); i++) {
		if (w->slots[i].seq && w->slots[i].deadline <= now) {
			*out = w->slots[i];
			memset(&w->slots[i], 0, sizeof(w->slots[i]));
			w->used--;
			return true;
		}
	}
	return false;
}

bool smpp_window_pop(struct smpp_window *w, struct smpp_window_slot *out)
{
	for (unsigned i = 0; i < capacity(w); i++) {
		if (w->slots[i].seq) {
			*out = w->slots[i];
			memset(&w->slots[i], 0, sizeof(w->slots[i]));
			w->used--;
			return true;
		}
	}
	return false;
}

double smpp_window_next_deadline(const struct smpp_window *w)
{
	double d = 0;
	for (unsigned i = 0; i < capacity(w); i++)
		if (w->slots[i].seq && (d == 0 || w->slots[i].deadline < d))
			d = w->slots[i].deadline;
	return d;
}

void smpp_window_throttled(struct smpp_window *w, double now)
{
	w->throttles++;
	w->effective = w->effective > 1 ? w->effective / 2 : 1;
	w->ok_run = 0;
	/* Repeated throttles within the current pause double it. */
	if (now < w->paused_until + w->pause_cur && w->pause_cur < w->pause_s * PAUSE_MAX_FACTOR)
		w->pause_cur *= 2;
	double until = now + w->pause_cur;
	if (until > w->paused_until)
		w->paused_until = until;
}

void smpp_window_ok(struct smpp_window *w)
{
	if (++w->ok_run >= w->size) {
		w->ok_run = 0;
		if (w->effective < w->size)
			w->effective++;
		w->pause_cur = w->pause_s;
	}
}
