/* Window, token bucket and adaptive slow-down (smpp_window.h). Time is passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/smpp_window.h"

static void test_window_slots(void **state)
{
	(void)state;
	struct smpp_window w;
	assert_int_equal(smpp_window_init(&w, 3, 0, 1.0, 100.0), 0);
	int c1, c2, c3;
	assert_true(smpp_window_can_send(&w, 100.0));
	assert_int_equal(smpp_window_add(&w, 1, 4, 100.0, 110.0, &c1, true), 0);
	assert_int_equal(smpp_window_add(&w, 1, 4, 100.0, 110.0, &c1, true), GW_EEXIST);
	assert_int_equal(smpp_window_add(&w, 2, 4, 100.0, 105.0, &c2, true), 0);
	assert_int_equal(smpp_window_add(&w, 3, 4, 100.0, 120.0, &c3, true), 0);
	assert_false(smpp_window_can_send(&w, 100.0));
	assert_int_equal(smpp_window_add(&w, 4, 4, 100.0, 120.0, NULL, true), GW_ENOSPC);
	/* Control PDUs may go beyond the window. */
	assert_int_equal(smpp_window_add(&w, 5, 0x15, 100.0, 101.0, NULL, false), 0);
	assert_true(smpp_window_next_deadline(&w) == 101.0);
	struct smpp_window_slot s;
	assert_int_equal(smpp_window_take(&w, 5, &s), 0);
	assert_int_equal(smpp_window_take(&w, 5, &s), GW_ENOENT);
	assert_int_equal(smpp_window_take(&w, 2, &s), 0);
	assert_ptr_equal(s.cookie, &c2);
	assert_true(smpp_window_can_send(&w, 100.0));
	/* Expiry in deadline order. */
	assert_false(smpp_window_expire(&w, 109.0, &s));
	assert_true(smpp_window_expire(&w, 110.0, &s));
	assert_int_equal(s.seq, 1);
	assert_true(smpp_window_pop(&w, &s));
	assert_int_equal(s.seq, 3);
	assert_false(smpp_window_pop(&w, &s));
	assert_int_equal(w.used, 0);
	smpp_window_free(&w);
}

static void test_token_bucket(void **state)
{
	(void)state;
	struct smpp_window w;
	assert_int_equal(smpp_window_init(&w, 100, 10, 1.0, 0.0), 0);
	unsigned sent = 0;
	for (uint32_t seq = 1; seq <= 50 && smpp_window_can_send(&w, 0.0); seq++) {
		assert_int_equal(smpp_window_add(&w, seq, 4, 0.0, 10.0, NULL, true), 0);
		sent++;
	}
	assert_int_equal(sent, 10); /* the burst is one second's worth */
	double t = smpp_window_ready_at(&w, 0.0);
	assert_true(t > 0.09 && t < 0.11);
	assert_false(smpp_window_can_send(&w, 0.05));
	assert_true(smpp_window_can_send(&w, 0.1));
	smpp_window_free(&w);
}

static void test_throttle_slow_down(void **state)
{
	(void)state;
	struct smpp_window w;
	assert_int_equal(smpp_window_init(&w, 8, 0, 1.0, 0.0), 0);
	smpp_window_throttled(&w, 10.0);
	assert_int_equal(w.effective, 4);
	assert_false(smpp_window_can_send(&w, 10.5));
	assert_true(smpp_window_can_send(&w, 11.0));
	/* A repeat within the pause doubles it and halves the window again. */
	smpp_window_throttled(&w, 11.2);
	assert_int_equal(w.effective, 2);
	assert_true(w.pause_cur == 2.0);
	assert_false(smpp_window_can_send(&w, 13.0));
	assert_true(smpp_window_can_send(&w, 13.2));
	/* Never below one. */
	smpp_window_throttled(&w, 20.0);
	smpp_window_throttled(&w, 20.0);
	assert_int_equal(w.effective, 1);
	/* Successes grow it back by one per window's worth, and reset the pause. */
	for (int i = 0; i < 8; i++)
		smpp_window_ok(&w);
	assert_int_equal(w.effective, 2);
	assert_true(w.pause_cur == 1.0);
	for (int i = 0; i < 8 * 20; i++)
		smpp_window_ok(&w);
	assert_int_equal(w.effective, 8);
	smpp_window_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_window_slots),
	    cmocka_unit_test(test_token_bucket),
	    cmocka_unit_test(test_throttle_slow_down),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
