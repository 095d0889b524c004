/* The worker pool: work runs off the loop thread, results come back on it, caps hold. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ev.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/workers.h"

struct job {
	pthread_t ran_on;
	pthread_t done_on;
	int done_err;
	int done_calls;
	volatile int *gate; /* the work waits while *gate == 0 */
	volatile int started;
	int *remaining;
	struct ev_loop *loop;
};

static void work(void *arg)
{
	struct job *j = arg;
	j->ran_on = pthread_self();
	j->started = 1;
	while (j->gate && *j->gate == 0)
		;
}

static void done(void *arg, int err)
{
	struct job *j = arg;
	j->done_on = pthread_self();
	j->done_err = err;
	j->done_calls++;
	if (j->remaining && --*j->remaining == 0)
		ev_break(j->loop, EVBREAK_ALL);
}

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w, (void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void run_loop(struct ev_loop *loop)
{
	ev_timer guard;
	ev_timer_init(&guard, guard_cb, 10., 0.);
	ev_timer_start(loop, &guard);
	ev_run(loop, 0);
	ev_timer_stop(loop, &guard);
}

static void test_runs_off_loop_and_returns_on_it(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct gw_workers *w;
	assert_int_equal(gw_workers_new(loop, 2, 16, &w), 0);
	struct job jobs[8];
	int remaining = 8;
	memset(jobs, 0, sizeof(jobs));
	for (int i = 0; i < 8; i++) {
		jobs[i].remaining = &remaining;
		jobs[i].loop = loop;
		assert_int_equal(gw_workers_submit(w, "10.0.0.1", 0, work, done, &jobs[i]), 0);
	}
	/* Never from inside submit. */
	for (int i = 0; i < 8; i++)
		assert_int_equal(jobs[i].done_calls, 0);
	run_loop(loop);
	assert_int_equal(remaining, 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(jobs[i].done_calls, 1);
		assert_int_equal(jobs[i].done_err, 0);
		assert_false(pthread_equal(jobs[i].ran_on, pthread_self()));
		assert_true(pthread_equal(jobs[i].done_on, pthread_self()));
	}
	assert_int_equal(gw_workers_outstanding(w), 0);
	gw_workers_free(w);
	ev_loop_destroy(loop);
}

static void test_caps_and_cancel(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct gw_workers *w;
	assert_int_equal(gw_workers_new(loop, 1, 4, &w), 0);
	volatile int gate = 0;
	struct job jobs[6];
	memset(jobs, 0, sizeof(jobs));
	for (int i = 0; i < 6; i++)
		jobs[i].gate = &gate;
	/* Per-peer cap 2. */
	assert_int_equal(gw_workers_submit(w, "a", 2, work, done, &jobs[0]), 0);
	assert_int_equal(gw_workers_submit(w, "a", 2, work, done, &jobs[1]), 0);
	assert_int_equal(gw_workers_submit(w, "a", 2, work, done, &jobs[2]), GW_EOVERLOAD);
	assert_int_equal(gw_workers_peer_outstanding(w, "a"), 2);
	/* Another peer still gets in, up to the pool cap of 4. */
	assert_int_equal(gw_workers_submit(w, "b", 2, work, done, &jobs[3]), 0);
	assert_int_equal(gw_workers_submit(w, NULL, 0, work, done, &jobs[4]), 0);
	assert_int_equal(gw_workers_submit(w, "c", 2, work, done, &jobs[5]), GW_EOVERLOAD);
	assert_int_equal(gw_workers_outstanding(w), 4);
	/* Free while jobs wait: each done runs once; the ones never started are cancelled. */
	for (long spin = 0; !jobs[0].started && spin < 2000000000L; spin++)
		;
	assert_true(jobs[0].started);
	gate = 1;
	gw_workers_free(w);
	int cancelled = 0, ran = 0;
	for (int i = 0; i < 6; i++) {
		if (i == 2 || i == 5) {
			assert_int_equal(jobs[i].done_calls, 0);
			continue;
		}
		assert_int_equal(jobs[i].done_calls, 1);
		if (jobs[i].done_err == GW_ECANCELED)
			cancelled++;
		else
			ran++;
	}
	assert_int_equal(cancelled + ran, 4);
	assert_true(ran >= 1);
	ev_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_runs_off_loop_and_returns_on_it),
	    cmocka_unit_test(test_caps_and_cancel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
