/* SPDX-License-Identifier: MIT */
#include "platform.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "snap/snap.h"

int platform_add(struct platform *p, const struct platform_dev_ops *ops, void *dev)
{
	if (p->ndevs == PLATFORM_MAX_DEVS) {
		log_error("%s: too many platform devices (at most %d)", ops->name,
			  PLATFORM_MAX_DEVS);
		ops->destroy(dev);
		return -ENOSPC;
	}
	p->devs[p->ndevs++] = (struct platform_dev){ .ops = ops, .dev = dev };
	return 0;
}

void *platform_find(const struct platform *p, const struct platform_dev_ops *ops)
{
	for (unsigned i = 0; i < p->ndevs; i++)
		if (p->devs[i].ops == ops)
			return p->devs[i].dev;
	return NULL;
}

void platform_reset(struct platform *p)
{
	for (unsigned i = 0; i < p->ndevs; i++)
		if (p->devs[i].ops->reset)
			p->devs[i].ops->reset(p->devs[i].dev);
}

void platform_destroy(struct platform *p)
{
	while (p->ndevs) {
		struct platform_dev *d = &p->devs[--p->ndevs];
		d->ops->destroy(d->dev);
	}
}

int platform_save(struct platform *p, struct snap_buf *b)
{
	for (unsigned i = 0; i < p->ndevs; i++) {
		struct platform_dev *d = &p->devs[i];
		char name[SNAP_NAME_MAX];
		snprintf(name, sizeof(name), "platform.%u", i);
		size_t at = snap_section_begin(b, name);
		snap_put_str(b, d->ops->name);
		int ret = d->ops->save ? d->ops->save(d->dev, b) : 0;
		if (ret) {
			log_error("snapshot: %s: %s", d->ops->name, strerror(-ret));
			return ret;
		}
		snap_section_end(b, at);
	}
	return b->err;
}

int platform_restore(struct platform *p, struct snap_index *idx)
{
	for (unsigned i = 0; i < p->ndevs; i++) {
		struct platform_dev *d = &p->devs[i];
		char name[SNAP_NAME_MAX];
		snprintf(name, sizeof(name), "platform.%u", i);
		struct snap_cur c;
		int ret = snap_find(idx, name, &c);
		ret = ret ?: snap_expect_str(&c, d->ops->name);
		if (!ret)
			ret = d->ops->restore ? d->ops->restore(d->dev, &c) : snap_cur_end(&c);
		if (ret) {
			log_error("restore: %s (section %s): %s", d->ops->name, name,
				  ret == -ENOENT ? "missing from the snapshot"
						 : "its state does not fit this device");
			return ret == -ENOENT ? -EBADMSG : ret;
		}
	}
	return 0;
}

struct irq_line platform_irq(const struct platform_ctx *c, uint32_t gsi)
{
	if (!c->irq_line)
		return (struct irq_line){ 0 };
	return c->irq_line(c->irq_opaque, gsi);
}

int platform_place(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn fn,
		   void *opaque, const char *name)
{
	int ret = bus_register(bus, base, len, fn, opaque, name);
	if (ret)
		log_error("cannot place %s at %s 0x%llx: %s", name, bus->name,
			  (unsigned long long)base, strerror(-ret));
	return ret;
}
