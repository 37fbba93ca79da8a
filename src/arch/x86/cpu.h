/* SPDX-License-Identifier: MIT */
#ifndef CVMM_ARCH_X86_CPU_H
#define CVMM_ARCH_X86_CPU_H

#include <linux/kvm.h>

/* Fills in APIC id and topology of vCPU `id` of `ncpus` (pure; unit-tested). */
void x86_cpuid_patch(struct kvm_cpuid_entry2 *entries, unsigned nent,
		     unsigned id, unsigned ncpus);

/* Adds missing leaf 0xB subleaves 0-2 (when the leaf exists at all). */
void x86_cpuid_add_topology_leaves(struct kvm_cpuid_entry2 *entries,
				   uint32_t *nent, uint32_t max);

#endif
