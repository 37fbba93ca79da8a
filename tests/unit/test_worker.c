/* SPDX-License-Identifier: MIT */
/*
 * The device-thread worker's pause (virtio/worker.c): a paused worker
 * handles nothing (a kick made while paused waits) and handles it on
 * resume; a handler in progress is finished before the thread parks; a
 * worker that was never started pauses at once and a thread started while
 * the pause request stands parks before its first handler; a stop (device
 * reset) ends a park; a thread that does not park in time gives
 * -ETIMEDOUT.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "virtio/worker.h"

struct ctx {
	struct virtio_worker w;
	int kick;
	atomic_uint handled;
	atomic_bool in_handler;
	unsigned handler_ms; /* each handler call sleeps this long */
};

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void handle(void *opaque, unsigned idx)
{
	struct ctx *c = opaque;
	(void)idx;
	atomic_store(&c->in_handler, true);
	eventfd_drain(c->kick);
	if (c->handler_ms)
		sleep_ms(c->handler_ms);
	atomic_fetch_add(&c->handled, 1);
	atomic_store(&c->in_handler, false);
}

static void kick(struct ctx *c)
{
	uint64_t one = 1;
	assert_int_equal(write(c->kick, &one, sizeof(one)), sizeof(one));
}

/* Waits (at most 2 s) for the handler count to reach n. */
static bool wait_handled(struct ctx *c, unsigned n)
{
	for (int i = 0; i < 2000; i++) {
		if (atomic_load(&c->handled) >= n)
			return true;
		sleep_ms(1);
	}
	return false;
}

static int setup(void **state)
{
	static struct ctx c;
	memset(&c, 0, sizeof(c));
	assert_int_equal(virtio_worker_init(&c.w), 0);
	c.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(c.kick >= 0);
	assert_true(virtio_worker_add(&c.w, c.kick, EPOLLIN) >= 0);
	*state = &c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	virtio_worker_destroy(&c->w);
	close(c->kick);
	return 0;
}

static void start(struct ctx *c)
{
	assert_int_equal(virtio_worker_start(&c->w, "t-worker", handle, c), 0);
}

static void test_pause_holds_kicks(void **state)
{
	struct ctx *c = *state;
	start(c);
	kick(c);
	assert_true(wait_handled(c, 1));
	assert_int_equal(virtio_worker_pause(&c->w, 2000), 0);
	assert_true(virtio_worker_parked(&c->w));
	kick(c);
	sleep_ms(100);
	assert_int_equal(atomic_load(&c->handled), 1);
	/* Pausing again while parked is fine. */
	assert_int_equal(virtio_worker_pause(&c->w, 2000), 0);
	virtio_worker_resume(&c->w);
	assert_true(wait_handled(c, 2));
	virtio_worker_stop(&c->w);
}

static void test_pause_finishes_handler(void **state)
{
	struct ctx *c = *state;
	c->handler_ms = 200;
	start(c);
	kick(c);
	for (int i = 0; i < 2000 && !atomic_load(&c->in_handler); i++)
		sleep_ms(1);
	assert_true(atomic_load(&c->in_handler));
	assert_int_equal(virtio_worker_pause(&c->w, 2000), 0);
	/* Parked only after the call in progress returned. */
	assert_int_equal(atomic_load(&c->handled), 1);
	assert_false(atomic_load(&c->in_handler));
	virtio_worker_resume(&c->w);
	virtio_worker_stop(&c->w);
}

static void test_pause_never_started(void **state)
{
	struct ctx *c = *state;
	/* No thread: nothing to wait for. */
	assert_int_equal(virtio_worker_pause(&c->w, 10), 0);
	/* Started while paused (the request stands): parks before serving. */
	kick(c);
	start(c);
	sleep_ms(100);
	assert_int_equal(atomic_load(&c->handled), 0);
	assert_true(virtio_worker_parked(&c->w));
	virtio_worker_resume(&c->w);
	assert_true(wait_handled(c, 1));
	virtio_worker_stop(&c->w);
}

static void test_stop_while_parked(void **state)
{
	struct ctx *c = *state;
	start(c);
	assert_int_equal(virtio_worker_pause(&c->w, 2000), 0);
	kick(c);
	virtio_worker_stop(&c->w); /* a device reset while paused: no hang */
	assert_int_equal(atomic_load(&c->handled), 0);
	/* Restarted while the request still stands: parked again. */
	start(c);
	sleep_ms(50);
	assert_int_equal(atomic_load(&c->handled), 0);
	virtio_worker_resume(&c->w);
	assert_true(wait_handled(c, 1));
	virtio_worker_stop(&c->w);
}

static void test_pause_timeout(void **state)
{
	struct ctx *c = *state;
	c->handler_ms = 500;
	start(c);
	kick(c);
	for (int i = 0; i < 2000 && !atomic_load(&c->in_handler); i++)
		sleep_ms(1);
	assert_int_equal(virtio_worker_pause(&c->w, 50), -ETIMEDOUT);
	virtio_worker_resume(&c->w);
	assert_true(wait_handled(c, 1));
	virtio_worker_stop(&c->w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pause_holds_kicks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_finishes_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_never_started, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_while_parked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_timeout, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
