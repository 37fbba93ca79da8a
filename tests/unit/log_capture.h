/* SPDX-License-Identifier: MIT */
/*
 * Counting cvmm's log lines in a unit test: log.c writes each line with one
 * write to stderr (fd 2), so the test points fd 2 at a memfd for a while
 * and counts the lines that landed there. Header-only (static inline).
 *
 *	struct log_capture cap;
 *	log_capture_start(&cap, LOG_DEBUG);
 *	... 10^4 guest mistakes ...
 *	unsigned lines = log_capture_stop(&cap);
 *
 * log_capture_bound() is the most lines one rate limiter with the default
 * settings may print in `elapsed_ms`: 10 per started 5 s window plus one
 * "suppressed" summary per window, whatever the speed of the host.
 */
#ifndef CVMM_TEST_LOG_CAPTURE_H
#define CVMM_TEST_LOG_CAPTURE_H

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct log_capture {
	int fd;       /* the memfd the lines go to */
	int saved_fd; /* the real stderr */
	enum log_level saved_level;
	uint64_t start_ms;
	char text[4096]; /* the first lines, for failure messages */
};

static inline uint64_t log_capture_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void log_capture_start(struct log_capture *c, enum log_level level)
{
	fflush(stderr);
	c->fd = memfd_create("cvmm-log", MFD_CLOEXEC);
	assert_true(c->fd >= 0);
	c->saved_fd = dup(STDERR_FILENO);
	assert_true(c->saved_fd >= 0);
	assert_int_equal(dup2(c->fd, STDERR_FILENO), STDERR_FILENO);
	c->saved_level = log_get_level();
	log_set_level(level);
	c->start_ms = log_capture_now_ms();
}

/* Restores stderr and the level; the number of lines captured. */
static inline unsigned log_capture_stop(struct log_capture *c)
{
	fflush(stderr);
	assert_int_equal(dup2(c->saved_fd, STDERR_FILENO), STDERR_FILENO);
	close(c->saved_fd);
	log_set_level(c->saved_level);
	unsigned lines = 0;
	char buf[4096];
	ssize_t n;
	off_t off = 0;
	memset(c->text, 0, sizeof(c->text));
	while ((n = pread(c->fd, buf, sizeof(buf), off)) > 0) {
		if (off == 0)
			memcpy(c->text, buf, (size_t)n < sizeof(c->text) - 1 ?
						     (size_t)n : sizeof(c->text) - 1);
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
		off += n;
	}
	close(c->fd);
	return lines;
}

static inline unsigned log_capture_bound(const struct log_capture *c)
{
	uint64_t elapsed = log_capture_now_ms() - c->start_ms;
	return (unsigned)(elapsed / RATELIMIT_DEFAULT_INTERVAL_MS + 1) *
	       (RATELIMIT_DEFAULT_BURST + 1);
}

#endif
