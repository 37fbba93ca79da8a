/* SPDX-License-Identifier: MIT */
/*
 * A passthrough PCI device: a function on cvmm's PCI bus whose config
 * space, BARs and interrupts are the real device's, reached through a
 * struct vfio_backend (backend.h: kernel VFIO or vfio-user), the way
 * cloud-hypervisor's VfioCommon does it.
 *
 * Config space: a shadow (the struct pci_device's config[]) copied from the
 * device when it is created. cvmm emulates the header (ids, class, header
 * type without the multi-function bit, command, BARs, expansion ROM (none),
 * interrupt line and pin) and the MSI and MSI-X capabilities; every other
 * byte (the status register, every other capability, extended config space)
 * is the device's: reads come from the device (pci_device_ops.config_read),
 * writes go to it (the shadow holds the written bytes verbatim: wmask 0xff,
 * w1cmask 0, see pci.h). The command register is both: the bus decodes
 * BARs from the shadow, the device gets every write of it (bus master, INTx
 * disable, decoding).
 *
 * BARs: sizes and kinds from the region info and the device's BAR
 * registers, placed by cvmm's allocator (a MEM64 BAR too large for the
 * 32-bit window goes above RAM). Each memory BAR's mmap-able areas (the
 * whole region, or its sparse-mmap areas) are mapped into cvmm and become
 * BAR areas (pci.h): KVM memory slots at BAR address + offset, following
 * the BAR when the guest moves it. The pages of the MSI-X table and PBA
 * always stay out of them (trapped: the device's real table holds the
 * host's messages, not the guest's; MSIX_MAPPABLE does not change that).
 * Everything
 * else of a BAR (I/O BARs, regions without mmap, sub-page BARs, what could
 * not be mapped) is trapped: the bus handler reads/writes the region.
 *
 * Interrupts: MSI-X (msix_adopt) and MSI (msi_adopt) vectors are eventfds
 * handed to the device with SET_IRQS when the guest enables them, each also
 * a KVM irqfd on a GSI whose MSI route follows the guest's table, bound
 * only while the vector is unmasked (the device's interrupt never passes
 * through cvmm). MSI-X (up to 2048 vectors) goes on with one SET_IRQS of
 * the whole table, -1 for the vectors never used so far; a vector gets its
 * eventfd and GSI when the guest first unmasks it (msix.h), handed over
 * with SET_IRQS start=V count=1. INTx is an eventfd on the function's INTx GSI through a
 * level-triggered irqfd with resample: KVM asserts the line, the guest's
 * EOI signals the resample eventfd, which the device has as its INTx
 * unmask eventfd (VFIO_IRQ_SET_ACTION_UNMASK). A device that refuses the
 * unmask eventfd (a vfio-user server may) is unmasked by cvmm instead: the
 * control loop watches the resample eventfd (vfio_pci_intx_resample_fd)
 * and calls vfio_pci_intx_resample, which sends the unmask. Only one kind
 * is on at a time (INTx whenever MSI and MSI-X are off), as VFIO requires.
 *
 * DMA: all of guest RAM is mapped for the device at IOVA = guest physical
 * address when the device is created (the backend pins it).
 *
 * Machine reset (pci_bus_reset, through the pci_device reset op):
 * interrupts off at the device, VFIO_DEVICE_RESET (when the device has
 * it), MSI/MSI-X state as after power-on, INTx back on, the device's
 * command register set from the restored shadow.
 *
 * Threads and locks: config accesses and BAR moves run on vCPU threads
 * with the PCI bus lock held, as do the interrupt mode changes (config
 * writes) and the reset (bus reset); trapped BAR accesses run on vCPU
 * threads without it (the backend serialises what it needs). Counters are
 * atomics.
 */
#ifndef CVMM_VFIO_PCI_DEV_H
#define CVMM_VFIO_PCI_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"
#include "kvm/irq_router.h"
#include "pci/msi.h"
#include "pci/msix.h"
#include "pci/pci.h"
#include "vfio/backend.h"

struct vfio_pci_dev;

struct vfio_pci_params {
	/* Taken: destroyed with the device, or by vfio_pci_create on failure. */
	struct vfio_backend *backend;
	const char *id;       /* the function's name; NULL: the backend's */
	struct pci_bus *bus;  /* intx_for_slot set: INTx needs its GSI */
	/* MSI routes and irqfds; router->kvm NULL (unit tests): no ioctls. */
	struct irq_router *router;
	const struct guest_mem *mem; /* guest RAM, DMA-mapped at IOVA = GPA */
	bool no_mmap; /* no BAR mapped into the guest: every access trapped */
};

/*
 * Opens the device through its backend, builds the shadow, BARs (mapped
 * areas included) and interrupt emulation, DMA-maps guest RAM and adds the
 * function to the bus (next free slot). 0 or -errno; the failing step logs
 * with the device named (the backend's own errors by the backend), and
 * nothing of the device is left on the bus.
 */
int vfio_pci_create(struct vfio_pci_dev **out, const struct vfio_pci_params *p);
/*
 * Interrupts off, slots removed, BARs unmapped, DMA unmapped, the backend
 * closed. NULL ok. There is no way off a pci_bus: only once no vCPU runs
 * and the bus is no longer used.
 */
void vfio_pci_destroy(struct vfio_pci_dev *d);

/*
 * INTx unmasked by cvmm: the eventfd the control loop must watch, or -1
 * when the device unmasks itself on the resample eventfd (kernel VFIO) or
 * has no INTx. Known once the device is created.
 */
int vfio_pci_intx_resample_fd(struct vfio_pci_dev *d);
/* The guest's EOI of INTx (resample fd readable): unmasks it at the
 * device. Control loop; takes the PCI bus lock. */
void vfio_pci_intx_resample(struct vfio_pci_dev *d);

/* What vm.info shows. Call with the PCI bus lock held (BARs move). */
enum vfio_pci_irq_mode {
	VFIO_PCI_IRQ_NONE,
	VFIO_PCI_IRQ_INTX,
	VFIO_PCI_IRQ_MSI,
	VFIO_PCI_IRQ_MSIX,
};

struct vfio_pci_bar_desc {
	unsigned index;
	enum pci_bar_type type;
	bool prefetchable;
	uint64_t addr, size;
	bool mapped;           /* on the bus (decoding, placed) */
	uint64_t mmap_bytes;   /* of it in host-memory areas */
	uint64_t mapped_bytes; /* of those, KVM memory slots right now */
};

struct vfio_pci_desc {
	const char *name;    /* the function's (id) */
	const char *host;    /* the backend's name: host BDF or socket */
	const char *backend; /* "vfio" or "vfio-user" */
	unsigned slot;
	uint16_t vendor_id, device_id;
	unsigned nbars;
	struct vfio_pci_bar_desc bars[PCI_NUM_BARS];
	enum vfio_pci_irq_mode irq; /* what the device has on now */
	unsigned vectors;           /* of it (INTx: 1) */
	unsigned msix_vectors, msi_vectors; /* offered to the guest (0: none) */
	bool intx;
	uint32_t intx_gsi;
};

void vfio_pci_describe(struct vfio_pci_dev *d, struct vfio_pci_desc *out);
const char *vfio_pci_irq_mode_name(enum vfio_pci_irq_mode m);

/* The interrupt kinds, by VFIO index: INTx, MSI, MSI-X. */
#define VFIO_PCI_IRQ_KINDS (VFIO_PCI_MSIX_IRQ_INDEX + 1)

/*
 * What vm.counters shows: what cvmm sees of the device, and the device's
 * interrupts. Those go from the device to KVM without cvmm (irqfds), so
 * they are counted where they can be without putting cvmm in their way:
 *  - a backend with irq_counts (kernel VFIO: the host's /proc/interrupts,
 *    vfio/host_irqs.h) counts every kind; the core keeps the count of
 *    vectors it turns off (their host IRQs, and counts, are freed), so the
 *    counts only grow (a failed read of the host's counts leaves a kind
 *    uncounted that time);
 *  - otherwise (vfio-user) INTx is counted by cvmm, which unmasks each one
 *    (vfio_pci_intx_resample); MSI and MSI-X are not counted: the server
 *    signals the irqfd itself, and nothing on cvmm's side sees it.
 * irqs_counted[k] false: kind k is not counted (vm.counters leaves it out).
 */
struct vfio_pci_stats {
	uint64_t config_reads, config_writes; /* every config access */
	uint64_t bar_reads, bar_writes;       /* trapped BAR accesses */
	uint64_t irq_sets;     /* SET_IRQS: interrupt kinds switched on or off */
	uint64_t vector_masks, vector_unmasks; /* MSI/MSI-X irqfd unbinds/binds */
	uint64_t resets;       /* machine resets (device reset with it) */
	uint64_t intx_unmasks; /* INTx unmasks sent by cvmm (see above) */
	uint64_t errors;       /* backend operations that failed */
	uint64_t irqs[VFIO_PCI_IRQ_KINDS]; /* interrupts raised, by kind */
	bool irqs_counted[VFIO_PCI_IRQ_KINDS];
};

/* Takes the PCI bus lock (the interrupt mode); may read /proc/interrupts. */
void vfio_pci_get_stats(struct vfio_pci_dev *d, struct vfio_pci_stats *out);

/* The embedded function, MSI-X and MSI state: for vm.c and tests. */
struct pci_device *vfio_pci_device(struct vfio_pci_dev *d);
struct msix *vfio_pci_msix(struct vfio_pci_dev *d);
struct msi *vfio_pci_msi(struct vfio_pci_dev *d);

/*
 * [offset, offset+size) pieces of the areas minus the holes, each piece
 * rounded inwards to pages and each hole outwards: what of a BAR may be
 * mapped when the holes (MSI-X table, PBA) must stay trapped. Writes at
 * most `max` pieces to out (in order) and returns how many there are.
 */
unsigned vfio_pci_areas_minus(const struct vfio_area *areas, unsigned nareas,
			      const struct vfio_area *holes, unsigned nholes,
			      struct vfio_area *out, unsigned max);

#endif
