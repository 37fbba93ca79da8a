/* SPDX-License-Identifier: MIT */
/*
 * PCI bus 0: a host bridge and up to 31 devices, configuration access
 * through ports 0xCF8/0xCFC and through ECAM (MMIO), BARs placed by the
 * address allocator and re-mapped on the buses when the guest moves them.
 *
 * A device is a struct pci_device embedded in the device's own state: its
 * 4 KiB config space with per-byte write masks and write-1-to-clear masks,
 * its BARs and a small ops table.
 *
 * Two seams serve a device that is not emulated here (a passthrough
 * device, vfio/pci_dev.c):
 *
 *   - config reads: the bus answers from the config space it keeps (the
 *     shadow), then ops->config_read may replace any byte of the answer
 *     (with the real device's register). Writes go through the masks into
 *     the shadow as always, then ops->config_write sees them: a byte the
 *     device wants verbatim is made fully writable (wmask 0xff, w1cmask 0)
 *     so that the shadow holds exactly what the guest wrote.
 *   - BAR areas: host memory inside a memory BAR (an mmap of the device's
 *     BAR). While the BAR is mapped, each area is also guest memory at
 *     (BAR address + area offset) through the bus's mem_map callback (vm.c:
 *     a KVM memory slot), so guest accesses there never exit; they are
 *     unmapped before the BAR moves or stops decoding and mapped again at
 *     its new address. The BAR's handler still gets every access outside
 *     the areas, and inside an area the bus could not map (no callback, an
 *     address not page-aligned, a refused slot). pci.c never calls KVM.
 */
#ifndef CVMM_PCI_PCI_H
#define CVMM_PCI_PCI_H

#include <linux/pci_regs.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "alloc.h"
#include "bus.h"
#include "irq.h"
#include "log.h"

#define PCI_MAX_SLOTS 32
#define PCI_CFG_SIZE 4096
#define PCI_NUM_BARS 6

enum pci_bar_type {
	PCI_BAR_NONE = 0,
	PCI_BAR_IO,
	PCI_BAR_MEM32,
	PCI_BAR_MEM64, /* takes this BAR and the next */
};

/* Host memory inside a BAR (see above). */
struct pci_bar_area {
	uint64_t offset; /* within the BAR, page-aligned */
	uint64_t size;   /* page multiple */
	void *hva;
	bool mapped;     /* guest memory right now (bus->mem_map succeeded) */
	uint32_t handle; /* mem_map's handle while mapped */
};

#define PCI_BAR_MAX_AREAS 8
#define PCI_BAR_AREA_ALIGN 4096ULL /* what mem_map needs (a page) */

struct pci_bar {
	enum pci_bar_type type;
	bool prefetchable;
	uint64_t size; /* power of two */
	uint64_t addr; /* current guest address (0: unassigned) */
	bool mapped;   /* registered on its bus right now */
	bus_io_fn fn;
	void *opaque;
	unsigned nareas;
	struct pci_bar_area areas[PCI_BAR_MAX_AREAS];
};

struct pci_device;
struct snap_buf;
struct snap_cur;

struct pci_device_ops {
	/*
	 * A config read of [off, off+len) (len 1-4, inside one dword): `data`
	 * holds the shadow's bytes; the op may replace any of them. Bus lock
	 * held. Optional.
	 */
	void (*config_read)(struct pci_device *dev, uint32_t off, uint8_t *data,
			    uint32_t len);
	/* After the bus applied a config write at [off, off+len). Optional. */
	void (*config_write)(struct pci_device *dev, uint32_t off, uint32_t len);
	/* A BAR was (un)mapped or moved: old/new 0 when unmapped. Optional. */
	void (*bar_moved)(struct pci_device *dev, unsigned bar, uint64_t old_addr,
			  uint64_t new_addr);
	/*
	 * Machine reset (pci_bus_reset): config space is back as built;
	 * put device state that lives outside it (an MSI-X table) back
	 * too. Bus lock held. Optional.
	 */
	void (*reset)(struct pci_device *dev);
	/*
	 * Snapshots (pci_device_save/restore): the device's state outside
	 * config space (an MSI-X table and its routes). restore runs after
	 * config space and BARs are back. Optional: nothing more to keep.
	 */
	int (*save)(struct pci_device *dev, struct snap_buf *b);
	int (*restore)(struct pci_device *dev, struct snap_cur *c);
};

struct pci_bus;

struct pci_device {
	uint8_t config[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];
	uint8_t w1cmask[PCI_CFG_SIZE];
	/* Config space as built (pci_bus_add_device): what a reset restores. */
	uint8_t reset_config[PCI_CFG_SIZE];
	bool has_reset_config;
	struct pci_bar bars[PCI_NUM_BARS];
	const struct pci_device_ops *ops;
	const char *name;
	struct pci_bus *bus;
	unsigned slot;
	uint8_t last_cap; /* offset of the last capability (0: none) */
	uint16_t cap_end; /* first free byte after the capabilities */
	struct irq_line intx; /* INTA#, assigned by the bus */
	bool intx_level;
	/* Serializes the INTx level, the line and the status byte between
	 * device threads (pci_set_intx) and config writes (vCPUs). */
	pthread_mutex_t intx_lock;
	struct ratelimit rl; /* guest-driven log lines (BAR placement) */
};

struct pci_bus {
	struct pci_device *slots[PCI_MAX_SLOTS];
	struct pci_device host_bridge;
	struct bus *pio;
	struct bus *mmio;
	struct addr_alloc *pio_alloc;
	struct addr_alloc *mmio32_alloc;
	struct addr_alloc *mmio64_alloc;
	/*
	 * BAR areas as guest memory (vm.c: KVM memory slots; unit tests fake
	 * them): map returns 0 and a handle for unmap, or -errno (the area
	 * then stays with the BAR's handler); unmap 0 or -errno. Neither logs:
	 * pci.c names the device (rate-limited, BAR moves are the guest's).
	 * Unset: every area stays trapped. Called with the bus lock held.
	 */
	int (*mem_map)(void *opaque, uint64_t gpa, uint64_t size, void *hva,
		       uint32_t *handle);
	int (*mem_unmap)(void *opaque, uint32_t handle);
	void *mem_opaque;
	/* MEM64 BARs that do not fit in the window they were meant for (a
	 * passthrough device's large BAR): the 64-bit window. NULL: none. */
	struct addr_alloc *mmio64_spill;
	/* Assigns the INTx GSI of a new device (the builder's allocator). */
	struct irq_line (*intx_for_slot)(void *opaque, unsigned slot);
	void *intx_opaque;
	uint32_t cf8; /* CONFIG_ADDRESS latch */
	pthread_mutex_t lock;
	uint64_t ecam_base;
};

/* Config space initialisation: header type 0, ids, class (24-bit). */
void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor,
		     uint16_t device, uint32_t class_code, uint8_t revision,
		     uint16_t subsys_vendor, uint16_t subsys_id,
		     const struct pci_device_ops *ops);
/* Declares BAR `idx`; a MEM64 BAR also uses idx+1. Size: power of 2. */
int pci_device_set_bar(struct pci_device *dev, unsigned idx,
		       enum pci_bar_type type, bool prefetchable, uint64_t size,
		       bus_io_fn fn, void *opaque);
/*
 * Appends a capability (`len` bytes starting with the cap id; the next
 * pointer is filled in) 4-byte aligned after the last one, below 0x100.
 * Returns its offset (> 0) or -ENOSPC. Its bytes are read-only unless
 * pci_config_writable() opens them.
 */
int pci_device_add_cap(struct pci_device *dev, const void *cap, unsigned len);
/*
 * Declares host memory [hva, hva+size) as BAR `bar`'s bytes [offset,
 * offset+size) (a memory BAR; offset and size page-aligned, inside the
 * BAR, no overlap with another area). Before pci_bus_add_device. 0,
 * -EINVAL, -ENOSPC (PCI_BAR_MAX_AREAS) or -EBUSY (already on a bus).
 */
int pci_device_bar_add_area(struct pci_device *dev, unsigned bar, uint64_t offset,
			    uint64_t size, void *hva);
/*
 * Takes every area out of guest memory and forgets them (the device is
 * going away: its owner then unmaps the host memory). Takes the bus lock.
 */
void pci_device_release_areas(struct pci_device *dev);
void pci_config_writable(struct pci_device *dev, unsigned off, unsigned len,
			 uint8_t mask);

/* Little-endian config space accessors for device code. */
uint32_t pci_cfg_read(const struct pci_device *dev, unsigned off, unsigned len);
void pci_cfg_set(struct pci_device *dev, unsigned off, unsigned len, uint32_t val);

/* Raises/lowers INTA# (ignored while the command register disables INTx). */
void pci_set_intx(struct pci_device *dev, bool level);

int pci_bus_init(struct pci_bus *bus, struct bus *pio, struct bus *mmio,
		 struct addr_alloc *pio_alloc, struct addr_alloc *mmio32_alloc,
		 struct addr_alloc *mmio64_alloc, uint64_t ecam_base);
void pci_bus_destroy(struct pci_bus *bus);
/*
 * Adds a device in the next free slot: allocates and maps its BARs (as
 * firmware would), enables memory/IO decoding, wires INTA#.
 */
int pci_bus_add_device(struct pci_bus *bus, struct pci_device *dev,
		       struct irq_line intx);

/*
 * Takes a device off the bus (hot-unplug): its BARs unmapped (areas out of
 * guest memory, ops->bar_moved(..., 0)), the addresses it was given back
 * to the allocators, its slot free. INTx is lowered; the GSI stays the
 * slot's (bus->intx_for_slot gives it to the slot's next device). Call it
 * with the vCPUs parked (a handler may be running otherwise). 0, or
 * -ENOENT when dev is not on bus.
 */
int pci_bus_remove_device(struct pci_bus *bus, struct pci_device *dev);

/*
 * Machine reset: every device's config space back to its state when it was
 * added (command register, BARs at the addresses firmware gave them,
 * capabilities such as MSI-X control, interrupt line), BARs re-mapped
 * there, INTx lowered, ops->reset called, the CF8 latch cleared. Call it
 * with every vCPU parked and the device threads stopped.
 */
void pci_bus_reset(struct pci_bus *bus);

/*
 * Snapshots, vCPUs parked: a device's config space (BAR addresses,
 * command register, capabilities as the guest left them) and INTx level,
 * then ops->save. restore puts config space back byte for byte, maps the
 * BARs where it says (bar_moved follows), drives INTx, then ops->restore.
 * 0 or -EBADMSG. Takes the bus lock.
 */
int pci_device_save(struct pci_device *dev, struct snap_buf *b);
int pci_device_restore(struct pci_device *dev, struct snap_cur *c);

/* Bus handlers: 0xCF8 (4 ports), 0xCFC (4 ports), ECAM window. */
void pci_cf8_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
void pci_cfc_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
void pci_ecam_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);

/* One config access to bus 0 (also used by the unit tests). */
void pci_config_access(struct pci_bus *bus, unsigned slot, unsigned fn,
		       unsigned off, uint8_t *data, unsigned len, bool is_write);

#endif
