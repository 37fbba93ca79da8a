/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/*
 * The only process-wide mutable state in cvmm: the verbosity. It is written
 * once by main() before any thread exists and read atomically after that.
 */
static _Atomic int current_level = LOG_WARN;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level level)
{
	atomic_store(&current_level, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&current_level);
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void vlog(enum log_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "cvmm: %s: ", level_names[level]);
	if (n < 0)
		return;
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	size_t len = strlen(buf);
	if (len + 2 > sizeof(buf))
		len = sizeof(buf) - 2;
	/* "\r\n" keeps lines straight while the terminal is in raw mode. */
	buf[len++] = '\r';
	buf[len++] = '\n';
	/* One write(2) per line so lines from different threads never interleave. */
	fwrite(buf, 1, len, stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if ((int)level > atomic_load(&current_level))
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

void log_ratelimited(struct ratelimit *rl, enum log_level level,
		     const char *fmt, ...)
{
	if ((int)level > atomic_load(&current_level))
		return;
	uint32_t burst = rl->burst ? rl->burst : RATELIMIT_DEFAULT_BURST;
	uint32_t interval = rl->interval_ms ? rl->interval_ms
					    : RATELIMIT_DEFAULT_INTERVAL_MS;
	uint64_t now = now_ms();
	uint64_t start = atomic_load(&rl->window_start_ms);
	uint32_t missed = 0;
	/* One caller opens the new window and reports the last one's count. */
	if (now - start >= interval &&
	    atomic_compare_exchange_strong(&rl->window_start_ms, &start, now)) {
		missed = atomic_exchange(&rl->suppressed, 0);
		atomic_store(&rl->printed, 0);
	}
	/* The load first: a flood does not keep counting `printed` up. */
	if (atomic_load(&rl->printed) >= burst ||
	    atomic_fetch_add(&rl->printed, 1) >= burst) {
		atomic_fetch_add(&rl->suppressed, 1);
		return;
	}
	if (missed)
		log_msg(level, "(%u similar messages suppressed)", missed);
	va_list ap;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}
