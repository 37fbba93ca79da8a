/* SPDX-License-Identifier: MIT */
/*
 * MSI (PCI Local Bus 3.0, 6.8.1) over the capability a passthrough device
 * already has: the guest programs address, data, Multiple Message Enable
 * and (with per-vector masking) the mask bits in config space, which the
 * bus keeps in the device's shadow; this emulation turns them into one KVM
 * GSI per vector, its MSI route (data | vector for multiple messages) and
 * an eventfd that the device signals itself (VFIO). As with an adopted
 * MSI-X (msix.h), a vector's irqfd is bound to its GSI only while the
 * vector can be delivered (MSI enabled, vector < enabled count, mask bit
 * clear); what the device signals meanwhile waits in the eventfd, the
 * Pending Bits read it, KVM delivers it when the vector is bound again.
 *
 * Locking: m->lock; msi_config_write runs with the PCI bus lock held (a
 * vCPU's config write), msi_reset from the bus reset (bus lock held).
 */
#ifndef CVMM_PCI_MSI_H
#define CVMM_PCI_MSI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm/irq_router.h"
#include "log.h"
#include "pci/pci.h"

#define MSI_MAX_VECTORS 32

struct msi_hooks {
	/* The device's MSI: `nvec` vectors on (their eventfds handed over),
	 * or off (0). Called with m->lock held, on every change of the
	 * enabled count. */
	void (*enable)(void *opaque, unsigned nvec);
};

struct msi_vector {
	uint32_t gsi;
	int fd;     /* eventfd the device signals */
	bool bound; /* the irqfd is bound to gsi right now */
	bool routed; /* gsi was allocated from the router (freed by msi_destroy) */
};

struct msi {
	struct pci_device *dev;
	struct irq_router *router;
	unsigned cap_off;
	unsigned max_vec;  /* Multiple Message Capable */
	bool is64;         /* 64-bit address */
	bool maskable;     /* per-vector masking */
	unsigned enabled;  /* vectors the device has now (0: off) */
	struct msi_vector vec[MSI_MAX_VECTORS];
	const struct msi_hooks *hooks;
	void *hooks_opaque;
	_Atomic uint64_t masks, unmasks; /* irqfd unbinds and binds */
	struct ratelimit rl;
	pthread_mutex_t lock;
};

/* Size of an MSI capability with these control flags. */
unsigned msi_cap_size(uint16_t flags);

/*
 * Adopts the MSI capability at `cap_off` of dev->config (copied from the
 * device): off, masks clear, only the guest's fields writable; a GSI and
 * an eventfd per vector the capability offers (up to `max_vec`, at most
 * MSI_MAX_VECTORS; Multiple Message Capable is lowered to fit). `hooks`
 * may be NULL. 0 or -errno (-EINVAL: no MSI capability there).
 */
int msi_adopt(struct msi *m, struct pci_device *dev, struct irq_router *router,
	      unsigned cap_off, unsigned max_vec, const struct msi_hooks *hooks,
	      void *opaque);
void msi_destroy(struct msi *m);
/* Config-space hook: after the bus applied a write at [off, off+len). */
void msi_config_write(struct msi *m, uint32_t off, uint32_t len);
/* Config-space hook for reads: the Pending Bits, if [off, off+len) has them. */
void msi_config_read(struct msi *m, uint32_t off, uint8_t *data, uint32_t len);
/* Machine reset, after the bus restored config space (MSI off): every
 * vector unbound, what waited dropped; the hook is not called. */
void msi_reset(struct msi *m);
/* Signals `vector` as the device does (tests). 0 or -EINVAL. */
int msi_notify(struct msi *m, unsigned vector);

#endif
