/* The worker pool (workers.h): pthreads, one bounded FIFO, ev_async hand-back. */
#include "ussdgw/workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/gw_error.h"

struct job {
	struct job *next;
	gw_work_fn fn;
	gw_work_done_fn done;
	void *arg;
	char peer[64];
	bool has_peer;
};

struct gw_workers {
	struct ev_loop *loop;
	ev_async async;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *qhead, *qtail; /* waiting for a thread */
	struct job *done;	   /* ran, waiting for the loop (LIFO, reversed on delivery) */
	struct job **running;	   /* one slot per thread */
	pthread_t *threads;
	unsigned nthreads, started;
	unsigned queue_max;
	unsigned outstanding; /* loop thread only */
	bool stop;
	/* Loop-side view of every outstanding job, for the per-peer count. */
	struct job **all;
};

static void *worker_main(void *p)
{
	struct gw_workers *w = p;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->stop && !w->qhead)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		struct job *j = w->qhead;
		w->qhead = j->next;
		if (!w->qhead)
			w->qtail = NULL;
		pthread_mutex_unlock(&w->mu);
		j->fn(j->arg);
		pthread_mutex_lock(&w->mu);
		j->next = w->done;
		w->done = j;
		ev_async_send(w->loop, &w->async);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void forget(struct gw_workers *w, struct job *j)
{
	for (unsigned i = 0; i < w->queue_max; i++)
		if (w->all[i] == j) {
			w->all[i] = NULL;
			break;
		}
	w->outstanding--;
}

static void async_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	(void)loop, (void)revents;
	struct gw_workers *w = a->data;
	pthread_mutex_lock(&w->mu);
	struct job *list = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->mu);
	/* Reverse to completion order. */
	struct job *rev = NULL;
	while (list) {
		struct job *n = list->next;
		list->next = rev;
		rev = list;
		list = n;
	}
	while (rev) {
		struct job *n = rev->next;
		forget(w, rev);
		rev->done(rev->arg, 0);
		free(rev);
		rev = n;
	}
}

int gw_workers_new(struct ev_loop *loop, unsigned threads, unsigned queue_max,
		   struct gw_workers **out)
{
	if (!loop || !out || threads < 1 || threads > 16 || queue_max < 1)
		return GW_EINVAL;
	struct gw_workers *w = calloc(1, sizeof(*w));
	if (!w)
		return GW_ENOMEM;
	w->loop = loop;
	w->nthreads = threads;
	w->queue_max = queue_max;
	w->threads = calloc(threads, sizeof(*w->threads));
	w->all = calloc(queue_max, sizeof(*w->all));
	if (!w->threads || !w->all) {
		free(w->threads);
		free(w->all);
		free(w);
		return GW_ENOMEM;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	ev_async_init(&w->async, async_cb);
	w->async.data = w;
	ev_async_start(loop, &w->async);
	ev_unref(loop); /* the pool alone does not keep the loop running */
	for (unsigned i = 0; i < threads; i++) {
		int e = pthread_create(&w->threads[i], NULL, worker_main, w);
		if (e) {
			gw_workers_free(w);
			return -e;
		}
		w->started++;
	}
	*out = w;
	return 0;
}

unsigned gw_workers_outstanding(const struct gw_workers *w)
{
	return w ? w->outstanding : 0;
}

unsigned gw_workers_peer_outstanding(const struct gw_workers *w, const char *peer)
{
	unsigned n = 0;
	if (!w || !peer)
		return 0;
	for (unsigned i = 0; i < w->queue_max; i++)
		if (w->all[i] && w->all[i]->has_peer && !strcmp(w->all[i]->peer, peer))
			n++;
	return n;
}

int gw_workers_submit(struct gw_workers *w, const char *peer, unsigned per_peer_max, gw_work_fn fn,
		      gw_work_done_fn done, void *arg)
{
	if (!w || !fn || !done)
		return GW_EINVAL;
	if (w->outstanding >= w->queue_max)
		return GW_EOVERLOAD;
	if (peer && per_peer_max && gw_workers_peer_outstanding(w, peer) >= per_peer_max)
		return GW_EOVERLOAD;
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return GW_ENOMEM;
	j->fn = fn;
	j->done = done;
	j->arg = arg;
	if (peer) {
		snprintf(j->peer, sizeof(j->peer), "%s", peer);
		j->has_peer = true;
	}
	for (unsigned i = 0; i < w->queue_max; i++)
		if (!w->all[i]) {
			w->all[i] = j;
			break;
		}
	w->outstanding++;
	pthread_mutex_lock(&w->mu);
	if (w->qtail)
		w->qtail->next = j;
	else
		w->qhead = j;
	w->qtail = j;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

void gw_workers_free(struct gw_workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (unsigned i = 0; i < w->started; i++)
		pthread_join(w->threads[i], NULL);
	ev_ref(w->loop);
	ev_async_stop(w->loop, &w->async);
	/* Ran but not delivered: their work is done, deliver as completed. */
	async_cb(w->loop, &w->async, 0);
	/* Never ran. */
	struct job *j = w->qhead;
	while (j) {
		struct job *n = j->next;
		forget(w, j);
		j->done(j->arg, GW_ECANCELED);
		free(j);
		j = n;
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w->threads);
	free(w->all);
	free(w);
}
