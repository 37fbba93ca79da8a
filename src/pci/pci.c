/* SPDX-License-Identifier: MIT */
#include "pci/pci.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "snap/snap.h"

#define PCI_HOST_BRIDGE_VENDOR 0x1b36 /* Red Hat, Inc. */
#define PCI_HOST_BRIDGE_DEVICE 0x0008 /* generic PCIe host bridge */
#define PCI_CAP_START 0x40
#define PCI_CAP_END 0x100

/* Little-endian read of len bytes at off from a config-space image. */
static uint32_t cfg_read(const uint8_t *cfg, unsigned off, unsigned len)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < len && off + i < PCI_CFG_SIZE; i++)
		v |= (uint32_t)cfg[off + i] << (8 * i);
	return v;
}

uint32_t pci_cfg_read(const struct pci_device *dev, unsigned off, unsigned len)
{
	return cfg_read(dev->config, off, len);
}

void pci_cfg_set(struct pci_device *dev, unsigned off, unsigned len, uint32_t val)
{
	for (unsigned i = 0; i < len && off + i < PCI_CFG_SIZE; i++)
		dev->config[off + i] = (uint8_t)(val >> (8 * i));
}

void pci_config_writable(struct pci_device *dev, unsigned off, unsigned len,
			 uint8_t mask)
{
	for (unsigned i = 0; i < len && off + i < PCI_CFG_SIZE; i++)
		dev->wmask[off + i] = mask;
}

void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor,
		     uint16_t device, uint32_t class_code, uint8_t revision,
		     uint16_t subsys_vendor, uint16_t subsys_id,
		     const struct pci_device_ops *ops)
{
	memset(dev, 0, sizeof(*dev));
	pthread_mutex_init(&dev->intx_lock, NULL);
	dev->name = name;
	dev->ops = ops;
	dev->cap_end = PCI_CAP_START;
	pci_cfg_set(dev, PCI_VENDOR_ID, 2, vendor);
	pci_cfg_set(dev, PCI_DEVICE_ID, 2, device);
	pci_cfg_set(dev, PCI_REVISION_ID, 1, revision);
	pci_cfg_set(dev, PCI_CLASS_PROG, 3, class_code);
	pci_cfg_set(dev, PCI_HEADER_TYPE, 1, PCI_HEADER_TYPE_NORMAL);
	pci_cfg_set(dev, PCI_SUBSYSTEM_VENDOR_ID, 2, subsys_vendor);
	pci_cfg_set(dev, PCI_SUBSYSTEM_ID, 2, subsys_id);
	/* Command: I/O, memory, bus master, SERR, INTx disable are the guest's. */
	dev->wmask[PCI_COMMAND] = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	dev->wmask[PCI_COMMAND + 1] = (PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE) >> 8;
	/* Status error bits are write-1-to-clear. */
	dev->w1cmask[PCI_STATUS + 1] = 0xf9;
	dev->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	dev->wmask[PCI_LATENCY_TIMER] = 0xff;
	dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
}

int pci_device_set_bar(struct pci_device *dev, unsigned idx,
		       enum pci_bar_type type, bool prefetchable, uint64_t size,
		       bus_io_fn fn, void *opaque)
{
	if (idx >= PCI_NUM_BARS || type == PCI_BAR_NONE ||
	    (type == PCI_BAR_MEM64 && idx + 1 >= PCI_NUM_BARS) ||
	    size == 0 || (size & (size - 1)) || !fn)
		return -EINVAL;
	if (type == PCI_BAR_IO ? (size < 4 || size > 256) : size < 16)
		return -EINVAL;
	if (type == PCI_BAR_MEM32 && size > (1ULL << 31))
		return -EINVAL;
	dev->bars[idx] = (struct pci_bar){
		.type = type, .prefetchable = prefetchable, .size = size,
		.fn = fn, .opaque = opaque,
	};
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * idx;
	uint64_t mask = ~(size - 1);
	uint32_t flags;
	if (type == PCI_BAR_IO) {
		flags = PCI_BASE_ADDRESS_SPACE_IO;
		mask &= 0xfffffffcULL;
	} else {
		flags = type == PCI_BAR_MEM64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 :
						PCI_BASE_ADDRESS_MEM_TYPE_32;
		if (prefetchable)
			flags |= PCI_BASE_ADDRESS_MEM_PREFETCH;
		mask &= ~0xfULL;
	}
	pci_cfg_set(dev, off, 4, flags);
	for (unsigned i = 0; i < 4; i++)
		dev->wmask[off + i] = (uint8_t)(mask >> (8 * i));
	if (type == PCI_BAR_MEM64) {
		dev->bars[idx + 1] = (struct pci_bar){ .type = PCI_BAR_NONE };
		for (unsigned i = 0; i < 4; i++)
			dev->wmask[off + 4 + i] = (uint8_t)(mask >> (32 + 8 * i));
	}
	return 0;
}

int pci_device_add_cap(struct pci_device *dev, const void *cap, unsigned len)
{
	unsigned off = (dev->cap_end + 3u) & ~3u;
	if (len < 2 || off + len > PCI_CAP_END)
		return -ENOSPC;
	memcpy(&dev->config[off], cap, len);
	dev->config[off + 1] = 0; /* end of list */
	if (dev->last_cap)
		dev->config[dev->last_cap + 1] = (uint8_t)off;
	else
		dev->config[PCI_CAPABILITY_LIST] = (uint8_t)off;
	dev->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	dev->last_cap = (uint8_t)off;
	dev->cap_end = (uint16_t)(off + len);
	return (int)off;
}

int pci_device_bar_add_area(struct pci_device *dev, unsigned bar, uint64_t offset,
			    uint64_t size, void *hva)
{
	if (dev->bus)
		return -EBUSY;
	if (bar >= PCI_NUM_BARS)
		return -EINVAL;
	struct pci_bar *b = &dev->bars[bar];
	if (b->type != PCI_BAR_MEM32 && b->type != PCI_BAR_MEM64)
		return -EINVAL;
	if (size == 0 || (offset | size) & (PCI_BAR_AREA_ALIGN - 1) ||
	    offset >= b->size || size > b->size - offset || !hva)
		return -EINVAL;
	for (unsigned i = 0; i < b->nareas; i++) {
		const struct pci_bar_area *a = &b->areas[i];
		if (offset < a->offset + a->size && a->offset < offset + size)
			return -EINVAL;
	}
	if (b->nareas == PCI_BAR_MAX_AREAS)
		return -ENOSPC;
	b->areas[b->nareas++] = (struct pci_bar_area){
		.offset = offset, .size = size, .hva = hva,
	};
	return 0;
}

/* The BAR's areas out of guest memory. Bus lock held. */
static void areas_unmap(struct pci_bus *bus, struct pci_device *dev, unsigned idx)
{
	struct pci_bar *b = &dev->bars[idx];
	for (unsigned i = 0; i < b->nareas; i++) {
		struct pci_bar_area *a = &b->areas[i];
		if (!a->mapped)
			continue;
		int ret = bus->mem_unmap ? bus->mem_unmap(bus->mem_opaque, a->handle) : 0;
		if (ret)
			log_ratelimited(&dev->rl, LOG_WARN,
					"%s: BAR%u area at 0x%llx: memory slot not removed: %s",
					dev->name, idx, (unsigned long long)(b->addr + a->offset),
					strerror(-ret));
		a->mapped = false;
	}
}

/* The BAR's areas at its address (b->addr, just registered). An area the
 * bus cannot map stays with the BAR's handler. Bus lock held. */
static void areas_map(struct pci_bus *bus, struct pci_device *dev, unsigned idx)
{
	struct pci_bar *b = &dev->bars[idx];
	for (unsigned i = 0; i < b->nareas && bus->mem_map; i++) {
		struct pci_bar_area *a = &b->areas[i];
		uint64_t gpa = b->addr + a->offset;
		/* A small BAR may sit at an address that is no page boundary. */
		if (gpa & (PCI_BAR_AREA_ALIGN - 1)) {
			log_ratelimited(&dev->rl, LOG_DEBUG,
					"%s: BAR%u area at 0x%llx is not page-aligned; trapped",
					dev->name, idx, (unsigned long long)gpa);
			continue;
		}
		int ret = bus->mem_map(bus->mem_opaque, gpa, a->size, a->hva, &a->handle);
		if (ret == 0)
			a->mapped = true;
		else
			log_ratelimited(&dev->rl, LOG_WARN,
					"%s: BAR%u area at 0x%llx (+0x%llx): no memory slot (%s); trapped",
					dev->name, idx, (unsigned long long)gpa,
					(unsigned long long)a->size, strerror(-ret));
	}
}

void pci_device_release_areas(struct pci_device *dev)
{
	struct pci_bus *bus = dev->bus;
	if (bus)
		pthread_mutex_lock(&bus->lock);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &dev->bars[i];
		if (bus)
			areas_unmap(bus, dev, i);
		b->nareas = 0;
	}
	if (bus)
		pthread_mutex_unlock(&bus->lock);
}

/* BAR idx's address as a config-space image (cfg) holds it. */
static uint64_t bar_address_in(const struct pci_device *dev, const uint8_t *cfg,
			       unsigned idx)
{
	const struct pci_bar *b = &dev->bars[idx];
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * idx;
	uint64_t lo = cfg_read(cfg, off, 4);
	if (b->type == PCI_BAR_IO)
		return lo & PCI_BASE_ADDRESS_IO_MASK;
	uint64_t addr = lo & PCI_BASE_ADDRESS_MEM_MASK;
	if (b->type == PCI_BAR_MEM64)
		addr |= (uint64_t)cfg_read(cfg, off + 4, 4) << 32;
	return addr;
}

/* The BAR's current address as programmed in config space. */
static uint64_t bar_address(const struct pci_device *dev, unsigned idx)
{
	return bar_address_in(dev, dev->config, idx);
}

/* Takes mapped BAR idx off its bus, guest memory first: nothing may reach
 * the old place after. Leaves telling the device (bar_moved) to the caller. */
static void bar_unmap(struct pci_bus *bus, struct pci_device *dev, unsigned idx)
{
	struct pci_bar *b = &dev->bars[idx];
	areas_unmap(bus, dev, idx);
	bus_unregister(b->type == PCI_BAR_IO ? bus->pio : bus->mmio, b->addr);
	b->mapped = false;
}

/*
 * Brings the bus mapping of BAR idx in line with config space: decoding
 * enabled in the command register and a plausible address. An address that
 * collides with something else (a guest sizing the BAR with decoding on, a
 * bad value) leaves the BAR unmapped.
 */
static void bar_update(struct pci_bus *bus, struct pci_device *dev, unsigned idx)
{
	struct pci_bar *b = &dev->bars[idx];
	if (b->type == PCI_BAR_NONE)
		return;
	uint16_t cmd = (uint16_t)pci_cfg_read(dev, PCI_COMMAND, 2);
	bool is_io = b->type == PCI_BAR_IO;
	bool decode = cmd & (is_io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY);
	uint64_t addr = bar_address(dev, idx);
	struct bus *target = is_io ? bus->pio : bus->mmio;
	uint64_t old = b->mapped ? b->addr : 0;
	bool want = decode && addr != 0 && addr + b->size > addr &&
		    (!is_io || addr + b->size <= 0x10000);
	if (b->mapped && (!want || addr != b->addr))
		bar_unmap(bus, dev, idx);
	if (want && !b->mapped) {
		if (bus_register(target, addr, b->size, b->fn, b->opaque, dev->name) == 0) {
			b->mapped = true;
			b->addr = addr;
			areas_map(bus, dev, idx);
		} else {
			log_ratelimited(&dev->rl, LOG_DEBUG,
					"%s: BAR%u at 0x%llx overlaps another range; left unmapped",
					dev->name, idx, (unsigned long long)addr);
		}
	}
	uint64_t now = b->mapped ? b->addr : 0;
	if (now != old && dev->ops && dev->ops->bar_moved)
		dev->ops->bar_moved(dev, idx, old, now);
}

/* Drives the line from the device's level and INTx Disable. intx_lock held. */
static void intx_update_locked(struct pci_device *dev)
{
	uint8_t cmd_hi = __atomic_load_n(&dev->config[PCI_COMMAND + 1], __ATOMIC_ACQUIRE);
	bool assert_line = dev->intx_level && !(cmd_hi & (PCI_COMMAND_INTX_DISABLE >> 8));
	if (dev->intx_level)
		dev->config[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	else
		dev->config[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
	irq_line_set(&dev->intx, assert_line ? 1 : 0);
}

/* Retries every unmapped BAR on the bus: a range another BAR just left
 * may now be free for it (a device decodes whatever its BAR holds). */
static void bars_retry(struct pci_bus *bus)
{
	for (unsigned s = 0; s < PCI_MAX_SLOTS; s++) {
		struct pci_device *d = bus->slots[s];
		if (!d)
			continue;
		for (unsigned b = 0; b < PCI_NUM_BARS; b++)
			if (d->bars[b].type != PCI_BAR_NONE && !d->bars[b].mapped)
				bar_update(bus, d, b);
	}
}

static void config_write(struct pci_bus *bus, struct pci_device *dev,
			 unsigned off, const uint8_t *data, unsigned len)
{
	bool bars_touched = false;
	pthread_mutex_lock(&dev->intx_lock);
	for (unsigned i = 0; i < len; i++) {
		unsigned o = off + i;
		uint8_t v = data[i];
		uint8_t cur = dev->config[o];
		uint8_t next = (uint8_t)((cur & ~dev->wmask[o]) | (v & dev->wmask[o]));
		next &= (uint8_t)~(v & dev->w1cmask[o]);
		/* Device threads read some bytes (command, MSI-X control)
		 * without the bus lock: publish each byte atomically. */
		__atomic_store_n(&dev->config[o], next, __ATOMIC_RELEASE);
		if ((o >= PCI_BASE_ADDRESS_0 && o < PCI_BASE_ADDRESS_5 + 4) ||
		    o == PCI_COMMAND)
			bars_touched = true;
	}
	if (off <= PCI_COMMAND + 1 && off + len > PCI_COMMAND + 1)
		intx_update_locked(dev); /* INTx Disable may have changed */
	pthread_mutex_unlock(&dev->intx_lock);
	if (bars_touched) {
		for (unsigned b = 0; b < PCI_NUM_BARS; b++)
			bar_update(bus, dev, b);
		bars_retry(bus);
	}
	if (dev->ops && dev->ops->config_write)
		dev->ops->config_write(dev, off, len);
}

void pci_set_intx(struct pci_device *dev, bool level)
{
	pthread_mutex_lock(&dev->intx_lock);
	dev->intx_level = level;
	intx_update_locked(dev);
	pthread_mutex_unlock(&dev->intx_lock);
}

void pci_config_access(struct pci_bus *bus, unsigned slot, unsigned fn,
		       unsigned off, uint8_t *data, unsigned len, bool is_write)
{
	if (!is_write)
		memset(data, 0xff, len);
	if (slot >= PCI_MAX_SLOTS || fn != 0 || len == 0 || len > 4 ||
	    off + len > PCI_CFG_SIZE)
		return;
	pthread_mutex_lock(&bus->lock);
	struct pci_device *dev = bus->slots[slot];
	if (dev) {
		if (is_write) {
			config_write(bus, dev, off, data, len);
		} else {
			memcpy(data, &dev->config[off], len);
			if (dev->ops && dev->ops->config_read)
				dev->ops->config_read(dev, off, data, len);
		}
	}
	pthread_mutex_unlock(&bus->lock);
}

void pci_cf8_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;
	/* Only whole-dword accesses at 0xCF8 select a register (0xCF9 is
	 * the reset control register on real chipsets; ignored here). */
	if (off != 0 || len != 4)
		return;
	pthread_mutex_lock(&bus->lock);
	if (is_write) {
		memcpy(&bus->cf8, data, 4);
		bus->cf8 &= 0x80fffffcu; /* reserved bits read as 0 */
	}
	else
		memcpy(data, &bus->cf8, 4);
	pthread_mutex_unlock(&bus->lock);
}

void pci_cfc_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;
	pthread_mutex_lock(&bus->lock);
	uint32_t cf8 = bus->cf8;
	pthread_mutex_unlock(&bus->lock);
	if (!(cf8 & 0x80000000u) || ((cf8 >> 16) & 0xff) != 0) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	unsigned slot = (cf8 >> 11) & 0x1f, fn = (cf8 >> 8) & 7;
	unsigned reg = (cf8 & 0xfc) + (unsigned)off;
	if (off + len > 4) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pci_config_access(bus, slot, fn, reg, data, len, is_write);
}

void pci_ecam_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;
	unsigned busnr = (unsigned)(off >> 20);
	unsigned slot = (off >> 15) & 0x1f, fn = (off >> 12) & 7;
	unsigned reg = off & 0xfff;
	if (busnr != 0 || (reg & (len - 1))) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pci_config_access(bus, slot, fn, reg, data, len, is_write);
}

static int bar_allocate(struct pci_bus *bus, struct pci_device *dev, unsigned idx)
{
	struct pci_bar *b = &dev->bars[idx];
	struct addr_alloc *a = b->type == PCI_BAR_IO ? bus->pio_alloc :
			       b->type == PCI_BAR_MEM64 && bus->mmio64_alloc ?
			       bus->mmio64_alloc : bus->mmio32_alloc;
	uint64_t addr;
	int ret = addr_alloc(a, b->size, b->size, &addr);
	if (ret == -ENOSPC && a == bus->mmio64_alloc)
		ret = addr_alloc(bus->mmio32_alloc, b->size, b->size, &addr);
	else if (ret == -ENOSPC && b->type == PCI_BAR_MEM64 && bus->mmio64_spill)
		ret = addr_alloc(bus->mmio64_spill, b->size, b->size, &addr);
	if (ret) {
		log_error("%s: no room for BAR%u (%llu bytes)", dev->name, idx,
			  (unsigned long long)b->size);
		return ret;
	}
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * idx;
	uint32_t flags = pci_cfg_read(dev, off, 4) &
			 (b->type == PCI_BAR_IO ? 0x3u : 0xfu);
	pci_cfg_set(dev, off, 4, (uint32_t)addr | flags);
	if (b->type == PCI_BAR_MEM64)
		pci_cfg_set(dev, off + 4, 4, (uint32_t)(addr >> 32));
	return 0;
}

/* Gives BAR b's address back to whichever allocator bar_allocate took it
 * from: the I/O or 32-bit window, else the 64-bit one, else the spill. */
static void bar_free(struct pci_bus *bus, const struct pci_bar *b, uint64_t addr)
{
	struct addr_alloc *a = b->type == PCI_BAR_IO ? bus->pio_alloc : bus->mmio32_alloc;
	if (addr_free(a, addr) == 0)
		return;
	if (bus->mmio64_alloc && addr_free(bus->mmio64_alloc, addr) == 0)
		return;
	if (bus->mmio64_spill)
		addr_free(bus->mmio64_spill, addr);
}

/* Gives back the addresses of BARs [0, upto) after a failed add. */
static void bars_release(struct pci_bus *bus, struct pci_device *dev, unsigned upto)
{
	for (unsigned i = 0; i < upto; i++) {
		struct pci_bar *b = &dev->bars[i];
		if (b->type != PCI_BAR_NONE)
			bar_free(bus, b, bar_address(dev, i));
	}
}

int pci_bus_add_device(struct pci_bus *bus, struct pci_device *dev,
		       struct irq_line intx)
{
	unsigned slot;
	pthread_mutex_lock(&bus->lock);
	for (slot = 1; slot < PCI_MAX_SLOTS && bus->slots[slot]; slot++)
		;
	int ret = 0;
	if (slot == PCI_MAX_SLOTS) {
		log_error("%s: PCI bus 0 is full", dev->name);
		ret = -ENOSPC;
		goto out;
	}
	dev->bus = bus;
	dev->slot = slot;
	if (!intx.set && bus->intx_for_slot)
		intx = bus->intx_for_slot(bus->intx_opaque, slot);
	dev->intx = intx;
	bool has_io = false, has_mem = false;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		if (dev->bars[i].type == PCI_BAR_NONE)
			continue;
		ret = bar_allocate(bus, dev, i);
		if (ret) {
			bars_release(bus, dev, i);
			goto out;
		}
		if (dev->bars[i].type == PCI_BAR_IO)
			has_io = true;
		else
			has_mem = true;
	}
	if (intx.set) {
		dev->config[PCI_INTERRUPT_PIN] = 1; /* INTA# */
		dev->config[PCI_INTERRUPT_LINE] = (uint8_t)intx.gsi;
	}
	/* Firmware would leave the BARs decoding; so do we. */
	uint16_t cmd = (uint16_t)pci_cfg_read(dev, PCI_COMMAND, 2);
	cmd |= (has_io ? PCI_COMMAND_IO : 0) | (has_mem ? PCI_COMMAND_MEMORY : 0);
	pci_cfg_set(dev, PCI_COMMAND, 2, cmd);
	memcpy(dev->reset_config, dev->config, PCI_CFG_SIZE);
	dev->has_reset_config = true;
	bus->slots[slot] = dev;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		bar_update(bus, dev, i);
	log_info("pci 00:%02x.0 %s", slot, dev->name);
out:
	pthread_mutex_unlock(&bus->lock);
	return ret;
}

int pci_bus_remove_device(struct pci_bus *bus, struct pci_device *dev)
{
	pthread_mutex_lock(&bus->lock);
	if (dev->slot == 0 || dev->slot >= PCI_MAX_SLOTS || bus->slots[dev->slot] != dev) {
		pthread_mutex_unlock(&bus->lock);
		return -ENOENT;
	}
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &dev->bars[i];
		if (b->type == PCI_BAR_NONE)
			continue;
		if (b->mapped) {
			uint64_t old = b->addr;
			bar_unmap(bus, dev, i);
			if (dev->ops && dev->ops->bar_moved)
				dev->ops->bar_moved(dev, i, old, 0);
		}
		/* The address the bus gave it (pci_bus_add_device), not the guest's. */
		bar_free(bus, b, bar_address_in(dev, dev->reset_config, i));
	}
	pthread_mutex_lock(&dev->intx_lock);
	dev->intx_level = false;
	irq_line_set(&dev->intx, 0);
	pthread_mutex_unlock(&dev->intx_lock);
	bus->slots[dev->slot] = NULL;
	log_info("pci 00:%02x.0 %s: removed", dev->slot, dev->name);
	/* The ranges it left may be what an unmapped BAR waits for. */
	bars_retry(bus);
	pthread_mutex_unlock(&bus->lock);
	return 0;
}

int pci_bus_init(struct pci_bus *bus, struct bus *pio, struct bus *mmio,
		 struct addr_alloc *pio_alloc, struct addr_alloc *mmio32_alloc,
		 struct addr_alloc *mmio64_alloc, uint64_t ecam_base)
{
	memset(bus, 0, sizeof(*bus));
	bus->pio = pio;
	bus->mmio = mmio;
	bus->pio_alloc = pio_alloc;
	bus->mmio32_alloc = mmio32_alloc;
	bus->mmio64_alloc = mmio64_alloc;
	bus->ecam_base = ecam_base;
	int err = pthread_mutex_init(&bus->lock, NULL);
	if (err)
		return -err;
	struct pci_device *hb = &bus->host_bridge;
	pci_device_init(hb, "host bridge", PCI_HOST_BRIDGE_VENDOR,
			PCI_HOST_BRIDGE_DEVICE, 0x060000, 0, 0, 0,
			NULL);
	hb->bus = bus;
	memcpy(hb->reset_config, hb->config, PCI_CFG_SIZE);
	hb->has_reset_config = true;
	bus->slots[0] = hb;
	return 0;
}

/* Loads a whole config space (cfg) and the device's INTx level, and drives
 * the line from them. The BARs' mappings are the caller's to update. */
static void config_load(struct pci_device *dev, const uint8_t *cfg, bool level)
{
	pthread_mutex_lock(&dev->intx_lock);
	/* Byte by byte, as config_write publishes them. */
	for (unsigned o = 0; o < PCI_CFG_SIZE; o++)
		__atomic_store_n(&dev->config[o], cfg[o], __ATOMIC_RELEASE);
	dev->intx_level = level;
	intx_update_locked(dev);
	pthread_mutex_unlock(&dev->intx_lock);
}

void pci_bus_reset(struct pci_bus *bus)
{
	pthread_mutex_lock(&bus->lock);
	bus->cf8 = 0;
	for (unsigned s = 0; s < PCI_MAX_SLOTS; s++) {
		struct pci_device *dev = bus->slots[s];
		if (!dev || !dev->has_reset_config)
			continue;
		config_load(dev, dev->reset_config, false);
	}
	/* Every device first, then the BARs still unmapped: a BAR may only
	 * find its place once another one has left it. */
	for (unsigned s = 0; s < PCI_MAX_SLOTS; s++) {
		struct pci_device *dev = bus->slots[s];
		if (!dev || !dev->has_reset_config)
			continue;
		for (unsigned b = 0; b < PCI_NUM_BARS; b++)
			bar_update(bus, dev, b);
	}
	bars_retry(bus);
	for (unsigned s = 0; s < PCI_MAX_SLOTS; s++) {
		struct pci_device *dev = bus->slots[s];
		if (dev && dev->has_reset_config && dev->ops && dev->ops->reset)
			dev->ops->reset(dev);
	}
	pthread_mutex_unlock(&bus->lock);
}

int pci_device_save(struct pci_device *dev, struct snap_buf *b)
{
	struct pci_bus *bus = dev->bus;
	pthread_mutex_lock(&bus->lock);
	snap_put_u32(b, PCI_CFG_SIZE);
	snap_put(b, dev->config, PCI_CFG_SIZE);
	snap_put_u8(b, dev->intx_level);
	int ret = dev->ops && dev->ops->save ? dev->ops->save(dev, b) : 0;
	pthread_mutex_unlock(&bus->lock);
	return ret ?: b->err;
}

int pci_device_restore(struct pci_device *dev, struct snap_cur *c)
{
	static _Thread_local uint8_t cfg[PCI_CFG_SIZE];
	if (snap_get_u32(c) != PCI_CFG_SIZE)
		return -EBADMSG;
	snap_get(c, cfg, PCI_CFG_SIZE);
	bool level = snap_get_u8(c) != 0;
	/* What the guest cannot change must be as built (ids, BAR sizes'
	 * bits, capabilities' layout): another device's state is refused. */
	for (unsigned o = 0; o < PCI_CFG_SIZE && !c->bad; o++)
		if ((cfg[o] ^ dev->config[o]) & ~(dev->wmask[o] | dev->w1cmask[o]) &&
		    o != PCI_STATUS)
			c->bad = true;
	if (c->bad)
		return -EBADMSG;
	struct pci_bus *bus = dev->bus;
	pthread_mutex_lock(&bus->lock);
	config_load(dev, cfg, level);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		bar_update(bus, dev, i);
	bars_retry(bus);
	int ret = dev->ops && dev->ops->restore ? dev->ops->restore(dev, c) : 0;
	pthread_mutex_unlock(&bus->lock);
	return ret;
}

void pci_bus_destroy(struct pci_bus *bus)
{
	pthread_mutex_destroy(&bus->host_bridge.intx_lock);
	pthread_mutex_destroy(&bus->lock);
}
