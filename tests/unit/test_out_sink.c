/* SPDX-License-Identifier: MIT */
/*
 * out_sink: guest output that never blocks. A blocking pipe whose reader
 * stopped: writes return at once, the buffer takes OUT_SINK_BUF_SIZE, the
 * rest is dropped and counted, the fd we were given keeps its (blocking)
 * flags, and once the reader drains the pipe the buffer follows in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "out_sink.h"

/* Fills the pipe through a private non-blocking description. */
static size_t fill_pipe(int wfd)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", wfd);
	int fd = open(path, O_WRONLY | O_NONBLOCK);
	assert_true(fd >= 0);
	static uint8_t junk[4096];
	memset(junk, 'j', sizeof(junk));
	size_t total = 0;
	ssize_t n;
	while ((n = write(fd, junk, sizeof(junk))) > 0)
		total += (size_t)n;
	assert_int_equal(errno, EAGAIN);
	close(fd);
	return total;
}

static void read_all(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

static void test_stalled_pipe(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0); /* blocking, as stdout */
	struct out_sink *s;
	assert_int_equal(out_sink_create(&s, p[1], "test"), 0);
	assert_true(out_sink_poll_fd(s) >= 0);
	size_t filled = fill_pipe(p[1]);

	static uint8_t msg[OUT_SINK_BUF_SIZE + 5000];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i % 251);
	/* Would block forever without the sink. */
	assert_int_equal(out_sink_write(s, msg, sizeof(msg)), OUT_SINK_BUF_SIZE);
	assert_int_equal(out_sink_dropped(s), 5000);
	assert_int_equal(out_sink_write(s, "x", 1), 0);
	assert_int_equal(out_sink_dropped(s), 5001);
	/* The shared description was left alone. */
	assert_false(fcntl(p[1], F_GETFL) & O_NONBLOCK);

	static uint8_t got[OUT_SINK_BUF_SIZE + 5000];
	read_all(p[0], got, filled);
	out_sink_drain(s);
	read_all(p[0], got, OUT_SINK_BUF_SIZE);
	assert_memory_equal(got, msg, OUT_SINK_BUF_SIZE);
	assert_int_equal(out_sink_write(s, "ok", 2), 2);
	read_all(p[0], got, 2);
	assert_memory_equal(got, "ok", 2);
	out_sink_destroy(s);
	close(p[0]);
	close(p[1]);
}

static void test_closed_reader(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	sighandler_t old = signal(SIGPIPE, SIG_IGN);
	struct out_sink *s;
	assert_int_equal(out_sink_create(&s, p[1], "test"), 0);
	assert_int_equal(out_sink_write(s, "lost", 4), 0);
	assert_int_equal(out_sink_dropped(s), 4);
	out_sink_destroy(s);
	signal(SIGPIPE, old);
	close(p[1]);
}

static void test_regular_file(void **state)
{
	(void)state;
	char path[] = "/tmp/cvmm-sink-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	struct out_sink *s;
	assert_int_equal(out_sink_create(&s, fd, "test"), 0);
	assert_int_equal(out_sink_poll_fd(s), -1); /* never waits */
	static uint8_t big[3 * OUT_SINK_BUF_SIZE];
	memset(big, 'r', sizeof(big));
	assert_int_equal(out_sink_write(s, big, sizeof(big)), sizeof(big));
	assert_int_equal(out_sink_dropped(s), 0);
	out_sink_destroy(s);
	assert_int_equal(lseek(fd, 0, SEEK_END), sizeof(big));
	close(fd);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stalled_pipe),
		cmocka_unit_test(test_closed_reader),
		cmocka_unit_test(test_regular_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
