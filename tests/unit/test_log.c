/* SPDX-License-Identifier: MIT */
/* The rate limiter of src/log.c: bursts, the "suppressed" summary, threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "log.h"
#include "log_capture.h"

#define FLOOD 10000u

static void test_default_burst(void **state)
{
	(void)state;
	struct ratelimit rl = { 0 };
	struct log_capture cap;
	log_capture_start(&cap, LOG_DEBUG);
	for (unsigned i = 0; i < FLOOD; i++)
		log_ratelimited(&rl, LOG_WARN, "guest mistake %u", i);
	unsigned bound = log_capture_bound(&cap);
	unsigned lines = log_capture_stop(&cap);
	assert_in_range(lines, RATELIMIT_DEFAULT_BURST, bound);
	assert_non_null(strstr(cap.text, "guest mistake 0"));
}

/* A level below the verbosity costs nothing and counts nothing. */
static void test_level_filtered(void **state)
{
	(void)state;
	struct ratelimit rl = { 0 };
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	for (unsigned i = 0; i < FLOOD; i++)
		log_ratelimited(&rl, LOG_DEBUG, "debug %u", i);
	assert_int_equal(log_capture_stop(&cap), 0);
	assert_int_equal(atomic_load(&rl.suppressed), 0);
}

/* The next window reports what the last one suppressed. The window is
 * ended by moving its start back, not by waiting. */
static void test_summary(void **state)
{
	(void)state;
	struct ratelimit rl = { .burst = 3, .interval_ms = 60000 };
	struct log_capture cap;
	log_capture_start(&cap, LOG_DEBUG);
	for (unsigned i = 0; i < 100; i++)
		log_ratelimited(&rl, LOG_WARN, "m%u", i);
	assert_int_equal(atomic_load(&rl.printed), 3);
	assert_int_equal(atomic_load(&rl.suppressed), 97);
	atomic_store(&rl.window_start_ms, atomic_load(&rl.window_start_ms) - 60000);
	log_ratelimited(&rl, LOG_WARN, "after");
	unsigned lines = log_capture_stop(&cap);
	assert_int_equal(lines, 3 + 2);
	assert_non_null(strstr(cap.text, "m2\r\n"));
	assert_null(strstr(cap.text, "m3\r\n"));
	assert_non_null(strstr(cap.text, "(97 similar messages suppressed)\r\n"));
	assert_non_null(strstr(cap.text, "after"));
	assert_int_equal(atomic_load(&rl.suppressed), 0);
	assert_int_equal(atomic_load(&rl.printed), 1);
}

struct flood_arg {
	struct ratelimit *rl;
	unsigned id;
};

static void *flood(void *p)
{
	struct flood_arg *a = p;
	for (unsigned i = 0; i < FLOOD; i++)
		log_ratelimited(a->rl, LOG_WARN, "thread %u: %u", a->id, i);
	return NULL;
}

/* vCPU threads share a device's limiter: still bounded, no data race
 * (make check-tsan). */
static void test_threads_share(void **state)
{
	(void)state;
	struct ratelimit rl = { 0 };
	pthread_t t[4];
	struct flood_arg a[4];
	struct log_capture cap;
	log_capture_start(&cap, LOG_DEBUG);
	for (unsigned i = 0; i < 4; i++) {
		a[i] = (struct flood_arg){ &rl, i };
		assert_int_equal(pthread_create(&t[i], NULL, flood, &a[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	unsigned bound = log_capture_bound(&cap);
	unsigned lines = log_capture_stop(&cap);
	assert_in_range(lines, RATELIMIT_DEFAULT_BURST, bound);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_burst),
		cmocka_unit_test(test_level_filtered),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_threads_share),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
