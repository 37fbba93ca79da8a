/* SPDX-License-Identifier: MIT */
/*
 * One logging facility for the whole VMM: levels, a component tag and a
 * rate limiter for messages a guest can trigger at will.
 *
 * One failure, one line (docs/logging.md): the function that knows what
 * failed, and on what, logs it; its callers return the -errno silently.
 */
#ifndef CVMM_LOG_H
#define CVMM_LOG_H

#include <stdatomic.h>
#include <stdint.h>

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,
	LOG_DEBUG = 3,
};

/* Process-wide verbosity, set once from the command line before threads start. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_level_parse(const char *s, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                        \
	do {                                                                  \
		if (log_get_level() >= LOG_DEBUG)                             \
			log_msg(LOG_DEBUG, __VA_ARGS__);                      \
	} while (0)

/*
 * Rate limiter for guest-triggerable messages: at most `burst` messages per
 * `interval_ms`; the number suppressed is reported ("(K similar messages
 * suppressed)") with the first message of a later window. Every log call a
 * guest can reach goes through one (the list: docs/logging.md). Embed one
 * per device (or per message kind); zero-init is valid and means the
 * default of 10 messages per 5 s, so a guest gets at most 11 lines per 5 s
 * out of each. Thread-safe (atomics): threads may share one, e.g. the
 * vCPU threads calling one device.
 */
struct ratelimit {
	_Atomic uint64_t window_start_ms;
	_Atomic uint32_t printed;
	_Atomic uint32_t suppressed;
	uint32_t burst;       /* set before first use; 0: 10 */
	uint32_t interval_ms; /* set before first use; 0: 5000 */
};

#define RATELIMIT_DEFAULT_BURST 10u
#define RATELIMIT_DEFAULT_INTERVAL_MS 5000u

void log_ratelimited(struct ratelimit *rl, enum log_level level,
		     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
