/* SPDX-License-Identifier: MIT */
#ifndef CVMM_ARCH_X86_CPU_H
#define CVMM_ARCH_X86_CPU_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#define KVM_CPUID_SIGNATURE_LEAF 0x40000000u
#define KVM_CPUID_FEATURES_LEAF 0x40000001u

/* Fills in APIC id and topology of vCPU `id` of `ncpus` (pure; unit-tested). */
void x86_cpuid_patch(struct kvm_cpuid_entry2 *entries, unsigned nent,
		     unsigned id, unsigned ncpus);

/* Adds missing leaf 0xB and 0x1F subleaves 0-2 (when the leaf exists). */
void x86_cpuid_add_topology_leaves(struct kvm_cpuid_entry2 *entries,
				   uint32_t *nent, uint32_t max);

/*
 * What cvmm sets for the whole VM on top of KVM_GET_SUPPORTED_CPUID (pure;
 * unit-tested): the TSC-deadline bit when KVM emulates it, KVM's signature
 * and the paravirtual features cvmm lets the guest see (leaves 0x40000000
 * and 0x40000001, added when KVM did not list them), and leaf 0xD without
 * features that lack a subleaf. May append up to two entries (max).
 */
void x86_cpuid_vm_patch(struct kvm_cpuid_entry2 *entries, uint32_t *nent,
			uint32_t max, bool tsc_deadline);

#endif
