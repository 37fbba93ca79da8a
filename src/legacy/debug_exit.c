/* SPDX-License-Identifier: MIT */
/* Debug-exit port: see debug_exit.h. */
#include "legacy/debug_exit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "log.h"

struct debug_exit {
	struct exit_request er;
	struct ratelimit rl;
};

void debug_exit_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write)
{
	struct debug_exit *d = opaque;
	(void)offset;
	if (!is_write || !len)
		return; /* reads: leave the bus's all-ones */
	uint64_t v = 0;
	for (uint32_t i = 0; i < len && i < sizeof(v); i++)
		v |= (uint64_t)data[i] << (8 * i);
	int status = (int)(v & 0xff);
	log_ratelimited(&d->rl, LOG_INFO, "debug-exit: guest wrote 0x%llx, exit status %d",
			(unsigned long long)v, status);
	exit_request_send(&d->er, status, "debug-exit");
}

int debug_exit_create(struct debug_exit **out, struct exit_request er)
{
	if (!out)
		return -EINVAL;
	struct debug_exit *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->er = er;
	*out = d;
	return 0;
}

void debug_exit_destroy(struct debug_exit *d)
{
	free(d);
}

/* ---- the platform record ---- */

static void debug_exit_destroy_op(void *dev) { debug_exit_destroy(dev); }

static void debug_exit_describe(void *dev, struct platform_info *info)
{
	(void)dev;
	info->regions[info->nregions++] = (struct platform_region){
		.name = "debug-exit", .addr = DEBUG_EXIT_PORT, .size = 1, .irq = -1,
	};
}

/* No reset: the port has no state. */
const struct platform_dev_ops debug_exit_platform_ops = {
	.name = "debug-exit",
	.destroy = debug_exit_destroy_op,
	.describe = debug_exit_describe,
};

int debug_exit_platform_add(struct platform *p, const struct platform_ctx *c)
{
	if (!c->cfg->debug_exit)
		return 0;
	struct debug_exit *d;
	int ret = debug_exit_create(&d, c->exit);
	if (ret) {
		log_error("debug-exit: %s", strerror(-ret));
		return ret;
	}
	ret = platform_add(p, &debug_exit_platform_ops, d);
	return ret ?: platform_place(c->pio, DEBUG_EXIT_PORT, 1, debug_exit_io, d,
				     "debug-exit");
}
