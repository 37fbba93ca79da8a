/* SPDX-License-Identifier: MIT */
/* ACPI PCI hotplug controller; see hotplug.h. */
#include "pci/hotplug.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "log.h"

struct pci_hotplug {
	pthread_mutex_t lock;
	uint32_t up;      /* PCIU */
	uint32_t down;    /* PCID */
	uint32_t ejected; /* B0EJ writes the VMM has not taken yet */
	int notify_fd;
	struct ratelimit rl;
};

/* Slot 0 is the host bridge: never hot-plugged. */
#define SLOT_VALID(s) ((s) >= 1 && (s) < 32)

int pci_hotplug_create(struct pci_hotplug **out, int notify_fd)
{
	if (!out)
		return -EINVAL;
	struct pci_hotplug *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	int ret = pthread_mutex_init(&h->lock, NULL);
	if (ret) {
		free(h);
		return -ret;
	}
	h->notify_fd = notify_fd;
	*out = h;
	return 0;
}

void pci_hotplug_destroy(struct pci_hotplug *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int pci_hotplug_announce_up(struct pci_hotplug *h, unsigned slot)
{
	if (!SLOT_VALID(slot))
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	h->up |= 1u << slot;
	h->down &= ~(1u << slot);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

int pci_hotplug_announce_down(struct pci_hotplug *h, unsigned slot)
{
	if (!SLOT_VALID(slot))
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	h->down |= 1u << slot;
	h->up &= ~(1u << slot);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

uint32_t pci_hotplug_take_ejected(struct pci_hotplug *h)
{
	pthread_mutex_lock(&h->lock);
	uint32_t v = h->ejected;
	h->ejected = 0;
	pthread_mutex_unlock(&h->lock);
	return v;
}

void pci_hotplug_reset(struct pci_hotplug *h)
{
	pthread_mutex_lock(&h->lock);
	h->up = h->down = 0;
	pthread_mutex_unlock(&h->lock);
}

static void put32(uint8_t *data, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		data[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *data)
{
	return (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
	       (uint32_t)data[3] << 24;
}

void pci_hotplug_mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		      bool is_write)
{
	struct pci_hotplug *h = opaque;
	bool signal = false;
	pthread_mutex_lock(&h->lock);
	if (len != 4 || (offset & 3) || offset > PCI_HOTPLUG_REG_PSEG) {
		if (!is_write)
			memset(data, 0, len);
		log_ratelimited(&h->rl, LOG_WARN,
				"pci hotplug: ignored %u-byte %s at offset 0x%llx (4-byte "
				"accesses at 0x0-0xc only)", len, is_write ? "write" : "read",
				(unsigned long long)offset);
		pthread_mutex_unlock(&h->lock);
		return;
	}
	switch (offset) {
	case PCI_HOTPLUG_REG_PCIU:
		if (!is_write) {
			put32(data, h->up);
			h->up = 0;
		}
		break;
	case PCI_HOTPLUG_REG_PCID:
		if (!is_write) {
			put32(data, h->down);
			h->down = 0;
		}
		break;
	case PCI_HOTPLUG_REG_B0EJ:
		if (!is_write) {
			put32(data, 0);
		} else {
			/* Slot 0 (the host bridge) cannot go. */
			uint32_t v = get32(data) & ~1u;
			if (v) {
				h->ejected |= v;
				signal = true;
			}
		}
		break;
	case PCI_HOTPLUG_REG_PSEG:
		if (!is_write)
			put32(data, 0);
		else if (get32(data) != 0)
			log_ratelimited(&h->rl, LOG_WARN,
					"pci hotplug: segment %u selected; only segment 0 exists",
					get32(data));
		break;
	}
	pthread_mutex_unlock(&h->lock);
	if (signal && h->notify_fd >= 0) {
		uint64_t one = 1;
		if (write(h->notify_fd, &one, sizeof(one)) < 0)
			log_ratelimited(&h->rl, LOG_WARN, "pci hotplug: cannot signal an eject: %s",
					strerror(errno));
	}
}

/* ---- the platform record ---- */

static void hp_reset_op(void *dev) { pci_hotplug_reset(dev); }
static void hp_destroy_op(void *dev) { pci_hotplug_destroy(dev); }

static void hp_describe(void *dev, struct platform_info *info)
{
	(void)dev;
	info->regions[info->nregions++] = (struct platform_region){
		.name = "pci-hotplug", .mmio = true, .addr = PCI_HOTPLUG_MMIO_ADDR,
		.size = PCI_HOTPLUG_MMIO_SIZE, .irq = -1,
	};
}

const struct platform_dev_ops pci_hotplug_platform_ops = {
	.name = "pci-hotplug",
	.reset = hp_reset_op,
	.destroy = hp_destroy_op,
	.describe = hp_describe,
};
