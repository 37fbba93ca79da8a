/* SPDX-License-Identifier: MIT */
/* ACPI Generic Event Device; see ged.h. */
#include "legacy/ged.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "log.h"
#include "snap/snap.h"

struct ged {
	struct irq_line line;
	pthread_mutex_t lock;
	uint32_t event; /* EVENT register */
	bool line_high; /* level last driven on `line` */
	struct ratelimit rl;
};

/* Drives the line from EVENT (lock held). */
static void update_line(struct ged *g)
{
	bool high = g->event != 0;
	if (high == g->line_high)
		return;
	g->line_high = high;
	irq_line_set(&g->line, high ? 1 : 0);
}

int ged_create(struct ged **out, struct irq_line line)
{
	if (!out)
		return -EINVAL;
	struct ged *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	int ret = pthread_mutex_init(&g->lock, NULL);
	if (ret) {
		free(g);
		return -ret;
	}
	g->line = line;
	*out = g;
	return 0;
}

void ged_destroy(struct ged *g)
{
	if (!g)
		return;
	pthread_mutex_destroy(&g->lock);
	free(g);
}

int ged_raise(struct ged *g, uint32_t events)
{
	if (!events || (events & ~GED_EVENTS_ALL))
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	g->event |= events;
	update_line(g);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

uint32_t ged_pending(struct ged *g)
{
	pthread_mutex_lock(&g->lock);
	uint32_t v = g->event;
	pthread_mutex_unlock(&g->lock);
	return v;
}

void ged_reset(struct ged *g)
{
	pthread_mutex_lock(&g->lock);
	g->event = 0;
	update_line(g);
	pthread_mutex_unlock(&g->lock);
}

void ged_mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
	      bool is_write)
{
	struct ged *g = opaque;
	pthread_mutex_lock(&g->lock);
	if (offset != GED_REG_EVENT || len != 4) {
		if (!is_write)
			memset(data, 0, len);
		/* The limiter is shared by the vCPU threads: under the lock. */
		log_ratelimited(&g->rl, LOG_WARN,
				"ged: ignored %u-byte %s at offset 0x%llx (only 4-byte "
				"accesses at 0x0)", len, is_write ? "write" : "read",
				(unsigned long long)offset);
	} else if (is_write) {
		uint32_t v = (uint32_t)data[0] | (uint32_t)data[1] << 8 |
			     (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
		g->event &= ~v;
		update_line(g);
	} else {
		uint32_t v = g->event;
		for (unsigned i = 0; i < 4; i++)
			data[i] = (uint8_t)(v >> (8 * i));
	}
	pthread_mutex_unlock(&g->lock);
}

/* ---- the platform record ---- */

static void ged_reset_op(void *dev) { ged_reset(dev); }
static void ged_destroy_op(void *dev) { ged_destroy(dev); }

static void ged_describe(void *dev, struct platform_info *info)
{
	(void)dev;
	info->regions[info->nregions++] = (struct platform_region){
		.name = "acpi-ged", .mmio = true, .addr = GED_MMIO_ADDR,
		.size = GED_MMIO_SIZE, .irq = GED_GSI,
	};
}

/* The EVENT register (a press the guest has not taken yet). */
static int ged_save(void *dev, struct snap_buf *b)
{
	struct ged *g = dev;
	pthread_mutex_lock(&g->lock);
	snap_put_u32(b, g->event);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static int ged_restore(void *dev, struct snap_cur *c)
{
	struct ged *g = dev;
	uint32_t ev = snap_get_u32(c);
	int ret = snap_cur_end(c);
	if (ret)
		return ret;
	pthread_mutex_lock(&g->lock);
	g->event = ev;
	update_line(g);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

const struct platform_dev_ops ged_platform_ops = {
	.save = ged_save,
	.restore = ged_restore,
	.name = "acpi-ged",
	.reset = ged_reset_op,
	.destroy = ged_destroy_op,
	.describe = ged_describe,
};

int ged_platform_add(struct platform *p, const struct platform_ctx *c)
{
	struct ged *g;
	int ret = ged_create(&g, platform_irq(c, GED_GSI));
	if (ret) {
		log_error("ACPI GED: %s", strerror(-ret));
		return ret;
	}
	ret = platform_add(p, &ged_platform_ops, g);
	return ret ?: platform_place(c->mmio, GED_MMIO_ADDR, GED_MMIO_SIZE, ged_mmio, g,
				     "ACPI GED");
}
