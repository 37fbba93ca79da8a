/* SPDX-License-Identifier: MIT */
/*
 * MSI-X for a PCI device: the capability, the vector table and PBA inside
 * one of its BARs, per-vector and function masks, pending bits. Each vector
 * is a KVM GSI with an MSI route that follows what the guest programs, and
 * an irqfd, so a device thread interrupts the guest with one eventfd write.
 *
 * A passthrough device's MSI-X (msix_adopt) is the same emulation over the
 * capability the device has: its vectors' eventfds are signalled by the
 * device itself (VFIO), never through msix_notify, so masking cannot be a
 * pending bit kept here. Instead a vector's irqfd is bound to its GSI only
 * while the vector can be delivered (Enable set, Function Mask and the
 * vector's Mask bit clear). What the device signals meanwhile waits in the
 * eventfd: PBA reads show it, and KVM delivers it as soon as the irqfd is
 * bound again (KVM_IRQFD checks the eventfd when it is assigned).
 *
 * Sizes: up to 2048 vectors (the PCI maximum), the table and PBA allocated
 * for the vectors a device has. An emulated device (msix_init: virtio's
 * few vectors) gets every vector's GSI, route and irqfd at once, as its
 * device threads write the irqfds directly. An adopted device's vectors
 * cost nothing until used: msix_adopt only reserves a KVM route per
 * vector (offering fewer vectors when KVM's route table cannot take them
 * all: the spec lets a function have any table size), and a vector gets
 * its eventfd and GSI the first time it becomes deliverable (the guest
 * unmasks it with MSI-X on), handed to the device through hooks->vector.
 * Until then the device has no eventfd for it: what it signals there
 * stays with the device (a real one holds it in its own PBA and sends it
 * once VFIO attaches the eventfd), and the PBA here reads 0 for it.
 */
#ifndef CVMM_PCI_MSIX_H
#define CVMM_PCI_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm/irq_router.h"
#include "log.h"
#include "pci/pci.h"

#define MSIX_MAX_VECTORS 2048 /* Table Size is 11 bits */
#define MSIX_ENTRY_SIZE 16

struct msix_vector {
	uint32_t addr_lo, addr_hi, data, ctrl;
	uint32_t gsi;   /* valid while irqfd >= 0 */
	int irqfd;      /* eventfd bound to gsi; -1: none (yet) */
	bool routed;    /* the irqfd is bound to gsi right now */
};

/* What an adopted MSI-X tells its device (msix_adopt). */
struct msix_hooks {
	/* MSI-X Enable changed: hand the vectors' eventfds to the device, or
	 * take them back. Config write (vCPU, PCI bus lock and m->lock held)
	 * or msix_reset. */
	void (*enable)(void *opaque, bool on);
	/* Vector v got its eventfd `fd` (it became deliverable for the first
	 * time): the device must have it if MSI-X is on there (enable(true)
	 * came first and passed -1 for it). m->lock held; a vCPU thread,
	 * with or without the PCI bus lock (table writes have none). */
	void (*vector)(void *opaque, unsigned v, int fd);
};

struct msix {
	struct pci_device *dev;
	struct irq_router *router;
	unsigned nvec;
	unsigned cap_off;
	unsigned bar;        /* the table's BAR */
	unsigned pba_bar;
	uint32_t table_off; /* within the BAR */
	uint32_t pba_off;
	/* Adopted (msix_adopt): vectors signalled by the device itself. */
	bool external;
	const struct msix_hooks *hooks;
	void *hooks_opaque;
	_Atomic uint64_t masks, unmasks; /* irqfd unbinds and binds (external) */
	struct msix_vector *vec; /* nvec entries */
	uint64_t *pba;           /* (nvec + 63) / 64 words: pending bits (emulated) */
	unsigned reserved;       /* external: KVM routes reserved, not yet used */
	bool was_enabled; /* last Enable bit seen, for the state-change log */
	struct ratelimit rl; /* every log line: the guest drives them all */
	pthread_mutex_t lock;
};

/*
 * Adds the capability to `dev` (table at table_off, PBA at pba_off in BAR
 * `bar`), allocates a GSI + irqfd per vector (1..MSIX_MAX_VECTORS).
 * 0 or -errno (-ENOSPC: KVM's route table is full); msix_destroy() is
 * safe after any return but -EINVAL.
 */
int msix_init(struct msix *m, struct pci_device *dev, struct irq_router *router,
	      unsigned nvec, unsigned bar, uint32_t table_off, uint32_t pba_off);
/*
 * The capability the device already has at `cap_off` in dev->config (a
 * passthrough device's, copied from the device), for up to `nvec` vectors
 * (at most MSIX_MAX_VECTORS), the table in BAR `table_bar` at table_off,
 * the PBA in `pba_bar` at pba_off. A KVM route is reserved per vector;
 * m->nvec comes out smaller than `nvec` when the route table has room for
 * fewer (the capability's table size is set to m->nvec: the caller says
 * so). External vectors (see above): a GSI and an eventfd each once first
 * deliverable, bound only while deliverable. `hooks` may be NULL. 0 or
 * -errno (-ENOSPC: no route left at all); msix_destroy() is safe after
 * any return but -EINVAL.
 */
int msix_adopt(struct msix *m, struct pci_device *dev, struct irq_router *router,
	       unsigned cap_off, unsigned nvec, unsigned table_bar, uint32_t table_off,
	       unsigned pba_bar, uint32_t pba_off, const struct msix_hooks *hooks,
	       void *opaque);
void msix_destroy(struct msix *m);

/*
 * Machine reset, after the device's config space was restored (Enable and
 * Function Mask clear): every table entry zero and masked, no pending bit.
 * The vectors' KVM routes are set to the zeroed entries. External vectors:
 * unbound, their eventfds closed and GSIs given back to the reservation
 * (made again when used again); hooks->enable is not called (the device is
 * reset by its owner, which took its eventfds first).
 */
void msix_reset(struct msix *m);

/*
 * Snapshots (emulated MSI-X, msix_init): the vector count, the table,
 * the pending bits ((nvec + 63) / 64 u64s: one for up to 64 vectors, as
 * before tables grew) and Enable as last seen; restore programs each
 * vector's KVM route from its entry again and delivers what became
 * deliverable. 0, -EBADMSG or -ENOMEM.
 */
struct snap_buf;
struct snap_cur;
int msix_save(struct msix *m, struct snap_buf *b);
int msix_restore(struct msix *m, struct snap_cur *c);

/* Config-space hook: call from the device's config_write op. */
void msix_config_write(struct msix *m, uint32_t off, uint32_t len);

/* BAR accesses inside [table_off, +nvec*16) and [pba_off, +8*ceil(nvec/64)),
 * table and PBA in the same BAR (msix_init). */
bool msix_bar_access(struct msix *m, uint64_t off, uint8_t *data, uint32_t len,
		     bool is_write);
/* The same for an access at `off` in BAR `bar`: true when it was the table's
 * or the PBA's (handled). */
bool msix_access(struct msix *m, unsigned bar, uint64_t off, uint8_t *data,
		 uint32_t len, bool is_write);

bool msix_enabled(struct msix *m);
/*
 * Signals `vector`: through its irqfd when enabled and unmasked, else sets
 * the pending bit (delivered on unmask). Any thread. 0 or -EINVAL.
 * External (tests: as the device would): writes the vector's eventfd;
 * -ENOENT when it has none yet (never deliverable so far).
 */
int msix_notify(struct msix *m, unsigned vector);

#endif
