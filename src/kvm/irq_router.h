/* SPDX-License-Identifier: MIT */
/*
 * GSI routing, irqfd and ioeventfd. KVM_SET_GSI_ROUTING replaces the whole
 * table, so the router keeps it: the irqchip routes of GSI 0-23 (PIC and
 * IOAPIC, as KVM's defaults) plus one MSI route per allocated GSI.
 *
 * Nothing here logs: a failed ioctl comes back as -errno to the caller,
 * which knows the device and what it was binding (docs/logging.md).
 */
#ifndef CVMM_KVM_IRQ_ROUTER_H
#define CVMM_KVM_IRQ_ROUTER_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm/kvm.h"

/* KVM_MAX_IRQ_ROUTES: the most routes, and 1 + the highest GSI, KVM
 * takes. KVM_CAP_IRQ_ROUTING says the host's (never more). */
#define IRQ_ROUTER_MAX_ROUTES 4096
#define IRQ_LEGACY_GSIS 24 /* IOAPIC pins */
#define IRQ_MSI_GSI_BASE 24

/*
 * MSI GSIs: the lowest free one is handed out, and goes back on free. A
 * device that must be sure of routes it allocates later (a passthrough
 * device's MSI-X vectors, routed when the guest first unmasks them)
 * reserves them first: plain allocations never take reserved routes.
 */
struct irq_router {
	struct kvm *kvm;
	pthread_mutex_t lock;
	struct kvm_irq_routing_entry *entries; /* count of cap, grown on demand */
	unsigned count, cap;
	unsigned max_routes; /* what KVM takes (KVM_CAP_IRQ_ROUTING) */
	unsigned msi_routes; /* MSI routes in entries */
	unsigned reserved;   /* MSI routes promised, not yet allocated */
	uint64_t msi_gsis[IRQ_ROUTER_MAX_ROUTES / 64]; /* bitmap: GSIs in use */
	uint64_t commits; /* KVM_SET_GSI_ROUTING calls, for counters */
};

/* The irqchip routes, in the table only: KVM's own defaults until the
 * first MSI route commits the table. The route limit from KVM (kvm NULL:
 * IRQ_ROUTER_MAX_ROUTES). 0 or -ENOMEM. */
int irq_router_init(struct irq_router *r, struct kvm *kvm);
void irq_router_destroy(struct irq_router *r);

/* Reserves a GSI for an MSI route (initially routed nowhere useful) and
 * commits the table. -ENOSPC when only reserved routes are left. */
int irq_router_alloc_msi(struct irq_router *r, uint32_t *gsi);
/* How many more MSI routes could be allocated or reserved now. */
unsigned irq_router_msi_room(struct irq_router *r);
/* Reserves up to `n` MSI routes for later irq_router_alloc_reserved_msi
 * calls: returns how many it could (0 when the table is full). */
unsigned irq_router_reserve_msi(struct irq_router *r, unsigned n);
/* Gives back `n` reserved routes that were never allocated. */
void irq_router_unreserve_msi(struct irq_router *r, unsigned n);
/* One of the caller's reserved routes: a GSI pointed at (address, data),
 * committed once. -ENOSPC when the caller reserved none (a bug). */
int irq_router_alloc_reserved_msi(struct irq_router *r, uint32_t *gsi, uint64_t addr,
				  uint32_t data);
/* Frees an MSI GSI (its irqfd must be unbound already): the route leaves
 * the table without a commit (KVM drops it with the next one; nothing
 * raises it meanwhile) and the GSI may be handed out again. `reserved`:
 * the route goes back to the caller's reservation instead of the pool.
 * -ENOENT when it is no MSI GSI of the table. */
int irq_router_free_msi(struct irq_router *r, uint32_t gsi, bool reserved);
/* Points an MSI GSI at (address, data) and commits the table. */
int irq_router_set_msi(struct irq_router *r, uint32_t gsi, uint64_t addr,
		       uint32_t data);

/* irqfd: writing `fd` raises `gsi` in the kernel, no exit to cvmm. */
int kvm_irqfd(struct kvm *kvm, int fd, uint32_t gsi, bool assign);
/*
 * Level-triggered irqfd (irqchip GSIs): writing `fd` asserts `gsi` until
 * the guest's EOI, which lowers it and signals `resample_fd`; the device
 * then asserts it again (writes `fd`) if its interrupt is still pending.
 */
int kvm_irqfd_resample(struct kvm *kvm, int fd, int resample_fd, uint32_t gsi,
		       bool assign);
/*
 * ioeventfd: a guest write of `len` bytes at `addr` (MMIO, or PIO when
 * `pio`) signals `fd` instead of exiting to cvmm.
 */
int kvm_ioeventfd(struct kvm *kvm, int fd, uint64_t addr, uint32_t len,
		  bool pio, bool assign);
/* The same for an MMIO write of exactly `datamatch` (len 1, 2, 4 or 8). */
int kvm_ioeventfd_match(struct kvm *kvm, int fd, uint64_t addr, uint32_t len,
			uint64_t datamatch, bool assign);

#endif
