/* SPDX-License-Identifier: MIT */
/*
 * MSI-X for a PCI device: the capability, the vector table and PBA inside
 * one of its BARs, per-vector and function masks, pending bits. Each vector
 * is a KVM GSI with an MSI route that follows what the guest programs, and
 * an irqfd, so a device thread interrupts the guest with one eventfd write.
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
	bool routed;
};

struct msix {
	struct pci_device *dev;
	struct irq_router *router;
	unsigned nvec;
	unsigned cap_off;
	unsigned bar;
	uint32_t table_off; /* within the BAR */
	uint32_t pba_off;
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
void msix_destroy(struct msix *m);

/*
 * Machine reset, after the device's config space was restored (Enable and
 * Function Mask clear): every table entry zero and masked, no pending bit.
 * The vectors' KVM routes stay as they were until the guest programs the
 * entries again (a masked entry never fires).
 */
void msix_reset(struct msix *m);

/* Config-space hook: call from the device's config_write op. */
void msix_config_write(struct msix *m, uint32_t off, uint32_t len);

/* BAR accesses inside [table_off, +nvec*16) and [pba_off, +8*ceil(nvec/64)). */
bool msix_bar_access(struct msix *m, uint64_t off, uint8_t *data, uint32_t len,
		     bool is_write);

bool msix_enabled(struct msix *m);
/*
 * Signals `vector`: through its irqfd when enabled and unmasked, else sets
 * the pending bit (delivered on unmask). Any thread. 0 or -EINVAL.
 */
int msix_notify(struct msix *m, unsigned vector);

#endif
