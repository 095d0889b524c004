/** @file
 * A small worker pool for CPU-heavy work that must not run on the loop
 * (password KDFs for SMPP binds, bulk crypto): a few pthreads, one bounded
 * queue, and an ev_async that hands each result back to the loop.
 *
 * Ownership: the pool is owned by its creator. A job's @p arg belongs to the
 * caller; the work function runs on a worker thread and must touch only @p arg
 * (no loop, no logging through shared state that is not thread-safe); the done
 * callback runs on the loop thread exactly once per accepted job, with err 0
 * after the work ran, or GW_ECANCELED when the pool was freed first.
 *
 * Caps: at most queue_max jobs are outstanding (queued or running) in the whole
 * pool, and at most @p per_peer_max per peer key, so one peer (an IP address)
 * cannot fill the queue for everybody. Over either cap submit fails with
 * GW_EOVERLOAD and nothing runs.
 */
#ifndef USSDGW_WORKERS_H
#define USSDGW_WORKERS_H

#include <ev.h>

struct gw_workers;

/** Runs on a worker thread. */
typedef void (*gw_work_fn)(void *arg);
/** Runs on the loop thread, exactly once per accepted job. */
typedef void (*gw_work_done_fn)(void *arg, int err);

/**
 * Start @p threads threads (1..16) with room for @p queue_max outstanding jobs.
 * @return 0, GW_EINVAL, GW_ENOMEM, or a negative errno from pthread_create.
 */
int gw_workers_new(struct ev_loop *loop, unsigned threads, unsigned queue_max,
		   struct gw_workers **out);

/**
 * Queue a job. @p peer (may be NULL: no per-peer cap) is copied.
 * @return 0 (done will run), GW_EOVERLOAD (a cap is reached), GW_ENOMEM, GW_EINVAL.
 */
int gw_workers_submit(struct gw_workers *w, const char *peer, unsigned per_peer_max, gw_work_fn fn,
		      gw_work_done_fn done, void *arg);

/** Jobs outstanding in the pool (queued, running, or waiting for their done callback). */
unsigned gw_workers_outstanding(const struct gw_workers *w);
/** Jobs outstanding for @p peer. */
unsigned gw_workers_peer_outstanding(const struct gw_workers *w, const char *peer);

/** Stop the threads (a running job finishes first) and call every pending done
 *  callback with GW_ECANCELED. Not from inside a done callback. */
void gw_workers_free(struct gw_workers *w);

#endif
