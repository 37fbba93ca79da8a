/* SPDX-License-Identifier: MIT */
/*
 * ACPI PCI hotplug controller: the register block through which the DSDT's
 * hotplug methods (arch/x86/dsdt.c) learn which slots of PCI bus 0 gained
 * or are to lose a device, and through which the guest's _EJ0 ejects one
 * (the scheme of cloud-hypervisor's "PCI hotplug controller"; Linux drives
 * it with acpiphp). The GED's _EVT runs \_SB.PCI0.PCNT when the GED's
 * GED_EVENT_PCI_HOTPLUG bit is set (legacy/ged.h); PCNT reads PCIU and PCID
 * and Notify()s each slot device S01..S1F whose bit is set: 1 (device
 * check: scan the slot) for PCIU, 3 (eject request) for PCID.
 *
 * Registers: PCI_HOTPLUG_MMIO_SIZE bytes at PCI_HOTPLUG_MMIO_ADDR
 * (arch/x86/layout.h), each 32 bits, bit N = slot N of the segment PSEG
 * selects (cvmm has segment 0 only):
 *
 *   0x0  PCIU  Read: the slots that gained a device since the last read,
 *              then cleared (read-to-clear). Writes ignored.
 *   0x4  PCID  Read: the slots whose device the VMM asks the guest to
 *              give up (eject request) since the last read, then cleared.
 *              Writes ignored.
 *   0x8  B0EJ  Write: each 1 bit ejects that slot's device (the guest's
 *              _EJ0, once its driver let go): latched, and the notify fd
 *              is signalled; the VMM takes the bits with
 *              pci_hotplug_take_ejected and removes the devices. Reads 0.
 *   0xc  PSEG  The PCI segment the others refer to; only 0 is accepted
 *              (another value reads back 0 and is logged).
 *
 * Only aligned 4-byte accesses are served; others are ignored (reads 0)
 * with a rate-limited warning.
 *
 * Thread safety: every function takes the device lock (the control loop
 * announces, vCPU threads read and eject).
 */
#ifndef CVMM_PCI_HOTPLUG_H
#define CVMM_PCI_HOTPLUG_H

#include <stdbool.h>
#include <stdint.h>

#include "platform.h"

#define PCI_HOTPLUG_REG_PCIU 0x0
#define PCI_HOTPLUG_REG_PCID 0x4
#define PCI_HOTPLUG_REG_B0EJ 0x8
#define PCI_HOTPLUG_REG_PSEG 0xc

struct pci_hotplug;

/*
 * 0, -EINVAL or -ENOMEM. `notify_fd` (an eventfd, not owned) gets a 1
 * added each time the guest ejects a slot; -1: none.
 */
int pci_hotplug_create(struct pci_hotplug **out, int notify_fd);
void pci_hotplug_destroy(struct pci_hotplug *h);

/* Slot `slot` (1-31) gained a device / should lose its device: the bit
 * goes up in PCIU / PCID (and leaves the other). 0 or -EINVAL. */
int pci_hotplug_announce_up(struct pci_hotplug *h, unsigned slot);
int pci_hotplug_announce_down(struct pci_hotplug *h, unsigned slot);
/* The slots the guest ejected since the last call (then cleared). */
uint32_t pci_hotplug_take_ejected(struct pci_hotplug *h);
/* Machine reset: nothing pending (an eject the old guest made stays). */
void pci_hotplug_reset(struct pci_hotplug *h);

void pci_hotplug_mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		      bool is_write);

/* The platform record (reset, destroy, describe). */
extern const struct platform_dev_ops pci_hotplug_platform_ops;

#endif
