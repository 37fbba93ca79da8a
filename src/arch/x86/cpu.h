/* SPDX-License-Identifier: MIT */
#ifndef CVMM_ARCH_X86_CPU_H
#define CVMM_ARCH_X86_CPU_H

#include <linux/kvm.h>

/* Fills in APIC id and topology of vCPU `id` of `ncpus` (pure; unit-tested). */
void x86_cpuid_patch(struct kvm_cpuid_entry2 *entries, unsigned nent,
		     unsigned id, unsigned ncpus);

#endif
