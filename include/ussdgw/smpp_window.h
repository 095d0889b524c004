/** @file
 * Per-bind flow control for SMPP: the window of outstanding requests
 * (sequence number -> request with its deadline), a TPS token bucket, and the
 * adaptive slow-down after ESME_RTHROTTLED / ESME_RMSGQFUL.
 *
 * Pure bookkeeping: no I/O, no timers, no allocation after smpp_window_init();
 * time is passed in (monotonic seconds, the loop's ev_now()). The bind adapter
 * arms its timers from smpp_window_next_deadline() and smpp_window_ready_at().
 *
 * Slow-down: a throttle answer halves the effective window (never below 1) and
 * pauses new submits for the pause time, doubling while throttles repeat (up
 * to 32x). Each run of @c window successful responses grows the effective
 * window by one until it is back to the configured size, and resets the pause.
 */
#ifndef USSDGW_SMPP_WINDOW_H
#define USSDGW_SMPP_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

/** One outstanding request. */
struct smpp_window_slot {
	uint32_t seq; /**< 0 = free */
	uint32_t command_id;
	double sent_at;
	double deadline;
	void *cookie; /**< the caller's request */
};

struct smpp_window {
	unsigned size;	    /**< configured window */
	unsigned effective; /**< current window after slow-downs (1..size) */
	unsigned used;
	unsigned ok_run;		/**< successes since the last grow / throttle */
	struct smpp_window_slot *slots; /**< @c size entries */
	/* token bucket */
	double tps; /**< 0 = no cap */
	double tokens;
	double refilled_at;
	/* slow-down */
	double pause_s;	  /**< configured base pause */
	double pause_cur; /**< current pause (base .. 32 x base) */
	double paused_until;
	uint64_t throttles; /**< throttle answers seen */
};

/** Set up with @p size slots (allocated once). @return 0 or GW_ENOMEM / GW_EINVAL. */
int smpp_window_init(struct smpp_window *w, unsigned size, double tps, double pause_s, double now);
void smpp_window_free(struct smpp_window *w);
/** Change size / tps / pause (reload). A smaller window takes effect as slots free. */
int smpp_window_configure(struct smpp_window *w, unsigned size, double tps, double pause_s);

/** True when a request may be sent now: a slot under the effective window, a token, no pause. */
bool smpp_window_can_send(struct smpp_window *w, double now);
/** Time at which smpp_window_can_send() may turn true (now if it already is; 0 when only a
 *  response can open the window). */
double smpp_window_ready_at(struct smpp_window *w, double now);

/**
 * Record a request (takes a token when @p take_token). Control PDUs (enquire_link,
 * unbind) pass @p take_token false and may use a slot beyond the effective window.
 * @return 0, GW_ENOSPC (no slot), GW_EEXIST (seq in use).
 */
int smpp_window_add(struct smpp_window *w, uint32_t seq, uint32_t command_id, double now,
		    double deadline, void *cookie, bool take_token);
/** Remove the request with @p seq and give back its slot. @return the slot's cookie in *cookie.
 *  @return 0, or GW_ENOENT (unknown sequence number: log and drop the response). */
int smpp_window_take(struct smpp_window *w, uint32_t seq, struct smpp_window_slot *out);
/** First expired slot (deadline <= now), removed from the window. @return true if one. */
bool smpp_window_expire(struct smpp_window *w, double now, struct smpp_window_slot *out);
/** Remove any slot (for failing everything when the bind drops). @return true if one. */
bool smpp_window_pop(struct smpp_window *w, struct smpp_window_slot *out);
/** Earliest deadline of the outstanding requests, or 0 when none. */
double smpp_window_next_deadline(const struct smpp_window *w);

/** A response said ESME_RTHROTTLED or ESME_RMSGQFUL: shrink and pause. */
void smpp_window_throttled(struct smpp_window *w, double now);
/** A response was a success: count towards growing back. */
void smpp_window_ok(struct smpp_window *w);

#endif
