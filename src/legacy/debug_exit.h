/* SPDX-License-Identifier: MIT */
/*
 * Debug-exit port (test aid) at 0xf4: register a 1-port range with
 * debug_exit_io. A guest write of value V (1, 2 or 4 bytes; the low byte
 * counts) asks the VMM to stop with exit status V & 0xff via
 * exit_request_send(&er, V & 0xff, "debug-exit"). Reads return all-ones.
 */
#ifndef CVMM_LEGACY_DEBUG_EXIT_H
#define CVMM_LEGACY_DEBUG_EXIT_H

#include <stdbool.h>
#include <stdint.h>

#include "irq.h"
#include "platform.h"

struct debug_exit;

/* 0, -EINVAL or -ENOMEM. */
int debug_exit_create(struct debug_exit **out, struct exit_request er);
void debug_exit_destroy(struct debug_exit *dev);

void debug_exit_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write);

/* The platform record: port 0xf4, only with --debug-exit. */
extern const struct platform_dev_ops debug_exit_platform_ops;
int debug_exit_platform_add(struct platform *p, const struct platform_ctx *c);

#endif
