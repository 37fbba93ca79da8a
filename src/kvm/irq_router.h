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

#define IRQ_ROUTER_MAX_ROUTES 1024
#define IRQ_LEGACY_GSIS 24 /* IOAPIC pins */
#define IRQ_MSI_GSI_BASE 24

struct irq_router {
	struct kvm *kvm;
	pthread_mutex_t lock;
	struct kvm_irq_routing_entry entries[IRQ_ROUTER_MAX_ROUTES];
	unsigned count;
	uint32_t next_msi_gsi;
	uint64_t commits; /* KVM_SET_GSI_ROUTING calls, for counters */
};

/* The irqchip routes, in the table only: KVM's own defaults until the
 * first MSI route commits the table. */
int irq_router_init(struct irq_router *r, struct kvm *kvm);
void irq_router_destroy(struct irq_router *r);

/* Reserves a GSI for an MSI route (initially routed nowhere useful). */
int irq_router_alloc_msi(struct irq_router *r, uint32_t *gsi);
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
