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
 */
#ifndef CVMM_PCI_MSIX_H
#define CVMM_PCI_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm/irq_router.h"
#include "log.h"
#include "pci/pci.h"

#define MSIX_MAX_VECTORS 64
#define MSIX_ENTRY_SIZE 16

struct msix_vector {
	uint32_t addr_lo, addr_hi, data, ctrl;
	uint32_t gsi;
	int irqfd; /* eventfd bound to gsi */
	bool routed; /* the irqfd is bound to gsi right now */
};

/* What an adopted MSI-X tells its device (msix_adopt). */
struct msix_hooks {
	/* MSI-X Enable changed: hand the vectors' eventfds to the device, or
	 * take them back. Config write (vCPU, PCI bus lock and m->lock held)
	 * or msix_reset. */
	void (*enable)(void *opaque, bool on);
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
	struct msix_vector vec[MSIX_MAX_VECTORS];
	uint64_t pba;
	bool was_enabled; /* last Enable bit seen, for the state-change log */
	struct ratelimit rl; /* every log line: the guest drives them all */
	pthread_mutex_t lock;
};

/*
 * Adds the capability to `dev` (table at table_off, PBA at pba_off in BAR
 * `bar`), allocates a GSI + irqfd per vector.
 */
int msix_init(struct msix *m, struct pci_device *dev, struct irq_router *router,
	      unsigned nvec, unsigned bar, uint32_t table_off, uint32_t pba_off);
/*
 * The capability the device already has at `cap_off` in dev->config (a
 * passthrough device's, copied from the device), for `nvec` vectors (at
 * most MSIX_MAX_VECTORS; the capability's table size is set to it), the
 * table in BAR `table_bar` at table_off, the PBA in `pba_bar` at pba_off.
 * External vectors (see above): a GSI and an eventfd each, bound only
 * while deliverable. `hooks` may be NULL. 0 or -errno.
 */
int msix_adopt(struct msix *m, struct pci_device *dev, struct irq_router *router,
	       unsigned cap_off, unsigned nvec, unsigned table_bar, uint32_t table_off,
	       unsigned pba_bar, uint32_t pba_off, const struct msix_hooks *hooks,
	       void *opaque);
void msix_destroy(struct msix *m);

/*
 * Machine reset, after the device's config space was restored (Enable and
 * Function Mask clear): every table entry zero and masked, no pending bit.
 * The vectors' KVM routes stay as they were until the guest programs the
 * entries again (a masked entry never fires). External vectors: unbound,
 * what waited in their eventfds dropped; hooks->enable is not called (the
 * device is reset by its owner).
 */
void msix_reset(struct msix *m);

/*
 * Snapshots (emulated MSI-X, msix_init): the table, pending bits and
 * Enable as last seen; restore programs each vector's KVM route from its
 * entry again and delivers what became deliverable. 0 or -EBADMSG.
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
 */
int msix_notify(struct msix *m, unsigned vector);

#endif
