/* SPDX-License-Identifier: MIT */
/* Debug-exit port: see debug_exit.h. */
#include "legacy/debug_exit.h"

#include <errno.h>
#include <stdlib.h>

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
