/* SPDX-License-Identifier: MIT */
/*
 * The interface between the architecture-neutral VMM and one architecture
 * (today only arch/x86). The VM builder calls these in order:
 * arch_vm_init -> arch_vcpu_init (each) -> arch_load_guest.
 */
#ifndef CVMM_ARCH_ARCH_H
#define CVMM_ARCH_ARCH_H

#include <stdint.h>

#include "config.h"
#include "kvm/kvm.h"
#include "log.h"

/* What the firmware tables must describe about PCI. */
struct arch_pci_info {
	uint64_t ecam_base;
	unsigned ecam_end_bus;
	uint64_t mmio32_base, mmio32_size;
	uint64_t mmio64_base, mmio64_size;
	uint32_t intx_gsi[32]; /* INTA# GSI of each slot, 0: none */
};

/* Guest RAM layout, irqchip, timers: everything before vCPUs exist. */
int arch_vm_init(struct kvm *kvm, const struct vm_config *cfg);
/* CPUID, MSRs, FPU, LAPIC of one vCPU (not its boot registers). */
int arch_vcpu_init(struct kvm *kvm, int vcpu_fd, unsigned id, unsigned ncpus);
/*
 * Loads kernel + initramfs, writes boot tables (zero page or PVH start info,
 * e820, MP/ACPI) and sets the boot vCPU's registers for the kernel entry.
 */
int arch_load_guest(struct kvm *kvm, const struct vm_config *cfg,
		    const struct arch_pci_info *pci, int bsp_fd);
/* Logs a register dump of a vCPU at `level` (error for fatal exits, debug
 * for the where-was-it dump at the end of a --log-level debug run). */
void arch_vcpu_dump(int vcpu_fd, unsigned id, enum log_level level);

#endif
