/* SPDX-License-Identifier: MIT */
/*
 * One logging facility for the whole VMM: levels, a component tag and a
 * rate limiter for messages a guest can trigger at will.
 */
#ifndef CVMM_LOG_H
#define CVMM_LOG_H

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
 * `interval_ms`; the number suppressed is reported with the next one let
 * through. Embed one per device (or per message kind); zero-init is valid and
 * means the default of 10 messages per 5 s.
 */
struct ratelimit {
	uint64_t window_start_ms;
	uint32_t printed;
	uint32_t suppressed;
	uint32_t burst;
	uint32_t interval_ms;
};

void log_ratelimited(struct ratelimit *rl, enum log_level level,
		     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
