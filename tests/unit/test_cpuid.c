/* SPDX-License-Identifier: MIT */
/*
 * x86_cpuid_patch: APIC id and topology in leaves 1, 4, 0xB, 0x1F,
 * 0x80000008 and 0x8000001E for several vCPU counts, with unrelated bits and
 * leaves left alone; x86_cpuid_vm_patch: TSC deadline, KVM's paravirtual
 * leaves, XSAVE leaf consistency.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/cpu.h"

enum {
	E_LEAF0,
	E_LEAF1,
	E_LEAF4_0,
	E_LEAF4_1,
	E_LEAF7,
	E_LEAFB_0,
	E_LEAFB_1,
	E_LEAFB_2,
	E_EXT8,
	E_LEAF1F_0,
	E_LEAF1F_1,
	E_EXT1E,
	E_COUNT,
};

/* A host-like table with recognizable bits everywhere. */
static void make_table(struct kvm_cpuid_entry2 *e)
{
	memset(e, 0, E_COUNT * sizeof(*e));
	e[E_LEAF0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0x1f,
		.ebx = 0x756e6547, .ecx = 0x6c65746e, .edx = 0x49656e69 };
	/* ebx: APIC id 0x77 and count 0x66 from the host, CLFLUSH 0x08,
	 * brand 0x55; edx without HTT; ecx without the hypervisor bit. */
	e[E_LEAF1] = (struct kvm_cpuid_entry2){ .function = 1, .eax = 0x000806f8,
		.ebx = 0x77660855, .ecx = 0x7ffafbff, .edx = 0x0fabfbff };
	e[E_LEAF4_0] = (struct kvm_cpuid_entry2){ .function = 4, .index = 0,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0xfc004121,
		.ebx = 0x01c0003f, .ecx = 0x3f, .edx = 0 };
	e[E_LEAF4_1] = (struct kvm_cpuid_entry2){ .function = 4, .index = 1,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x00004122,
		.ebx = 0x01c0003f, .ecx = 0x3f, .edx = 0 };
	e[E_LEAF7] = (struct kvm_cpuid_entry2){ .function = 7, .eax = 0x12345678,
		.ebx = 0x9abcdef0, .ecx = 0x0badf00d, .edx = 0xdeadbeef };
	for (unsigned i = 0; i < 3; i++)
		e[E_LEAFB_0 + i] = (struct kvm_cpuid_entry2){ .function = 0xb,
			.index = i, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
			.eax = 0xaaaa, .ebx = 0xbbbb, .ecx = 0xcccc, .edx = 0xdddd };
	e[E_EXT8] = (struct kvm_cpuid_entry2){ .function = 0x80000008,
		.eax = 0x3030, .ebx = 0x11111111, .ecx = 0xa5a5a5a5, .edx = 0x2 };
	for (unsigned i = 0; i < 2; i++)
		e[E_LEAF1F_0 + i] = (struct kvm_cpuid_entry2){ .function = 0x1f,
			.index = i, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
			.eax = 0x1111, .ebx = 0x2222, .ecx = 0x3333, .edx = 0x4444 };
	/* KVM hands 0x8000001E out zeroed. */
	e[E_EXT1E] = (struct kvm_cpuid_entry2){ .function = 0x8000001e };
}

static unsigned bits_for(unsigned n)
{
	unsigned b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

static void check_one(unsigned id, unsigned ncpus)
{
	struct kvm_cpuid_entry2 orig[E_COUNT], e[E_COUNT];
	make_table(orig);
	memcpy(e, orig, sizeof(e));
	x86_cpuid_patch(e, E_COUNT, id, ncpus);

	/* Untouched leaves. */
	assert_memory_equal(&e[E_LEAF0], &orig[E_LEAF0], sizeof(e[0]));
	assert_memory_equal(&e[E_LEAF7], &orig[E_LEAF7], sizeof(e[0]));

	/* Leaf 1: APIC id in EBX[31:24], count in [23:16], low half kept. */
	assert_int_equal(e[E_LEAF1].ebx >> 24, id);
	assert_int_equal((e[E_LEAF1].ebx >> 16) & 0xff, ncpus);
	assert_int_equal(e[E_LEAF1].ebx & 0xffff, orig[E_LEAF1].ebx & 0xffff);
	assert_int_equal(e[E_LEAF1].eax, orig[E_LEAF1].eax);
	/* Hypervisor bit set, other ECX bits kept. */
	assert_int_equal(e[E_LEAF1].ecx, orig[E_LEAF1].ecx | (1u << 31));
	/* HTT exactly when there is more than one logical CPU. */
	if (ncpus > 1)
		assert_int_equal(e[E_LEAF1].edx, orig[E_LEAF1].edx | (1u << 28));
	else
		assert_int_equal(e[E_LEAF1].edx, orig[E_LEAF1].edx);

	/* Leaf 4: cores per package - 1 in EAX[31:26]; the rest kept. */
	for (unsigned i = E_LEAF4_0; i <= E_LEAF4_1; i++) {
		assert_int_equal(e[i].eax >> 26, ncpus - 1);
		assert_int_equal(e[i].eax & 0x03ffffff, orig[i].eax & 0x03ffffff);
		assert_int_equal(e[i].ebx, orig[i].ebx);
		assert_int_equal(e[i].ecx, orig[i].ecx);
	}

	/* Leaf 0xB: x2APIC id in EDX of every subleaf. */
	for (unsigned i = E_LEAFB_0; i <= E_LEAFB_2; i++)
		assert_int_equal(e[i].edx, id);
	/* Subleaf 0: SMT level, one thread per core, shift 0. */
	assert_int_equal(e[E_LEAFB_0].eax, 0);
	assert_int_equal(e[E_LEAFB_0].ebx, 1);
	assert_int_equal(e[E_LEAFB_0].ecx, (1u << 8) | 0);
	/* Subleaf 1: core level, shift covering all ids, ncpus processors. */
	assert_int_equal(e[E_LEAFB_1].eax, bits_for(ncpus));
	assert_int_equal(e[E_LEAFB_1].ebx, ncpus);
	assert_int_equal(e[E_LEAFB_1].ecx, (2u << 8) | 1);
	/* Every vCPU shares package id 0: id >> shift == 0. */
	assert_int_equal(id >> e[E_LEAFB_1].eax, 0);
	/* Subleaf 2: invalid level type 0, echoing the index. */
	assert_int_equal(e[E_LEAFB_2].eax, 0);
	assert_int_equal(e[E_LEAFB_2].ebx, 0);
	assert_int_equal(e[E_LEAFB_2].ecx, 2);

	/* Leaf 0x1F says what 0xB says. */
	assert_int_equal(e[E_LEAF1F_0].edx, id);
	assert_int_equal(e[E_LEAF1F_0].ebx, 1);
	assert_int_equal(e[E_LEAF1F_0].ecx, (1u << 8) | 0);
	assert_int_equal(e[E_LEAF1F_1].edx, id);
	assert_int_equal(e[E_LEAF1F_1].eax, bits_for(ncpus));
	assert_int_equal(e[E_LEAF1F_1].ebx, ncpus);
	assert_int_equal(e[E_LEAF1F_1].ecx, (2u << 8) | 1);

	/* 0x8000001E: extended APIC id, core (compute unit) id = id with
	 * one thread each, node 0 of 1. */
	assert_int_equal(e[E_EXT1E].eax, id);
	assert_int_equal(e[E_EXT1E].ebx, id);
	assert_int_equal(e[E_EXT1E].ecx, 0);
	assert_int_equal(e[E_EXT1E].edx, 0);

	/* 0x80000008 ECX: NC = ncpus-1 in [7:0], ApicIdCoreIdSize in [15:12]. */
	assert_int_equal(e[E_EXT8].ecx & 0xff, ncpus - 1);
	assert_int_equal((e[E_EXT8].ecx >> 12) & 0xf, bits_for(ncpus));
	assert_int_equal(e[E_EXT8].ecx & ~0xf0ffu, orig[E_EXT8].ecx & ~0xf0ffu);
	assert_int_equal(e[E_EXT8].eax, orig[E_EXT8].eax);
	assert_int_equal(e[E_EXT8].ebx, orig[E_EXT8].ebx);
	assert_int_equal(e[E_EXT8].edx, orig[E_EXT8].edx);
}

static void check_ncpus(unsigned ncpus, unsigned want_shift)
{
	assert_int_equal(bits_for(ncpus), want_shift);
	for (unsigned id = 0; id < ncpus; id++)
		check_one(id, ncpus);
}

static void test_1cpu(void **state)
{
	(void)state;
	check_ncpus(1, 0);
}

static void test_2cpus(void **state)
{
	(void)state;
	check_ncpus(2, 1);
}

static void test_4cpus(void **state)
{
	(void)state;
	check_ncpus(4, 2);
}

static void test_5cpus(void **state)
{
	(void)state;
	/* Not a power of two: the shift rounds up. */
	check_ncpus(5, 3);
}

static void test_large(void **state)
{
	(void)state;
	/* Up to 64 vCPUs every field still holds its value exactly. */
	check_ncpus(63, 6);
	check_ncpus(64, 6);
	/* The highest APIC id cvmm hands out fits EBX[31:24]. */
	struct kvm_cpuid_entry2 e[E_COUNT];
	make_table(e);
	x86_cpuid_patch(e, E_COUNT, 253, 254);
	assert_int_equal(e[E_LEAF1].ebx >> 24, 253);
	assert_int_equal((e[E_LEAF1].ebx >> 16) & 0xff, 254);
	assert_int_equal(e[E_LEAFB_1].eax, 8);
	assert_int_equal(e[E_LEAFB_1].ebx, 254);
	assert_int_equal(e[E_LEAFB_0].edx, 253);
	assert_int_equal(e[E_EXT8].ecx & 0xff, 253);
}

static void test_nent_respected(void **state)
{
	(void)state;
	/* Entries past nent are not touched. */
	struct kvm_cpuid_entry2 orig[E_COUNT], e[E_COUNT];
	make_table(orig);
	memcpy(e, orig, sizeof(e));
	x86_cpuid_patch(e, E_LEAF1, 3, 4); /* only leaf 0 in range */
	assert_memory_equal(e, orig, sizeof(e));
	x86_cpuid_patch(e, 0, 3, 4);
	assert_memory_equal(e, orig, sizeof(e));
	/* Patching twice gives the same result as once (no accumulation). */
	x86_cpuid_patch(e, E_COUNT, 3, 4);
	struct kvm_cpuid_entry2 once[E_COUNT];
	memcpy(once, e, sizeof(e));
	x86_cpuid_patch(e, E_COUNT, 3, 4);
	assert_memory_equal(e, once, sizeof(e));
	/* Re-patching for another vCPU replaces the id, not ORs it in. */
	x86_cpuid_patch(e, E_COUNT, 1, 4);
	assert_int_equal(e[E_LEAF1].ebx >> 24, 1);
	assert_int_equal(e[E_LEAFB_1].edx, 1);
}

static void test_add_topology_1f(void **state)
{
	(void)state;
	/* KVM lists 0xB and 0x1F with subleaf 0 only: subleaves 1 and 2 of
	 * both are added; a table without 0x1F gets none. */
	struct kvm_cpuid_entry2 e[16];
	memset(e, 0, sizeof(e));
	e[0] = (struct kvm_cpuid_entry2){ .function = 0xb,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
	e[1] = (struct kvm_cpuid_entry2){ .function = 0x1f,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
	uint32_t nent = 2;
	x86_cpuid_add_topology_leaves(e, &nent, 16);
	assert_int_equal(nent, 6);
	unsigned nb = 0, n1f = 0;
	for (unsigned i = 0; i < nent; i++) {
		nb += e[i].function == 0xb;
		n1f += e[i].function == 0x1f;
	}
	assert_int_equal(nb, 3);
	assert_int_equal(n1f, 3);
	nent = 1;
	x86_cpuid_add_topology_leaves(e, &nent, 16);
	assert_int_equal(nent, 3);
}

/* A KVM-like table for the VM-wide patch: leaf 1, the PV leaves, XSAVE. */
enum { V_LEAF1, V_SIG, V_FEAT, V_XS0, V_XS1, V_XS2, V_XS9, V_COUNT };

static void make_vm_table(struct kvm_cpuid_entry2 *e)
{
	memset(e, 0, V_COUNT * sizeof(*e));
	e[V_LEAF1] = (struct kvm_cpuid_entry2){ .function = 1, .ecx = 0x7ffafbff & ~(1u << 24) };
	e[V_SIG] = (struct kvm_cpuid_entry2){ .function = 0x40000000,
		.eax = 0x40000001, .ebx = 0x4b4d564b, .ecx = 0x564b4d56, .edx = 0x4d };
	/* Every bit KVM could report, hints included. */
	e[V_FEAT] = (struct kvm_cpuid_entry2){ .function = 0x40000001,
		.eax = 0x0103ffff, .edx = 1 };
	/* x87, SSE, AVX (2) and PKRU (9) named; PKRU's subleaf says size 0. */
	e[V_XS0] = (struct kvm_cpuid_entry2){ .function = 0xd, .index = 0,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x207,
		.ebx = 0xa88, .ecx = 0xa88 };
	e[V_XS1] = (struct kvm_cpuid_entry2){ .function = 0xd, .index = 1,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x1 };
	e[V_XS2] = (struct kvm_cpuid_entry2){ .function = 0xd, .index = 2,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x100, .ebx = 0x240 };
	e[V_XS9] = (struct kvm_cpuid_entry2){ .function = 0xd, .index = 9,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0, .ebx = 0xa80 };
}

static void test_vm_patch(void **state)
{
	(void)state;
	struct kvm_cpuid_entry2 orig[V_COUNT], e[V_COUNT + 2];
	make_vm_table(orig);
	memcpy(e, orig, sizeof(orig));
	uint32_t nent = V_COUNT;
	x86_cpuid_vm_patch(e, &nent, V_COUNT + 2, true);
	assert_int_equal(nent, V_COUNT);
	/* TSC deadline added, the rest of leaf 1 kept. */
	assert_int_equal(e[V_LEAF1].ecx, orig[V_LEAF1].ecx | (1u << 24));
	/* Signature kept, max hypervisor leaf 0x40000001. */
	assert_memory_equal(&e[V_SIG], &orig[V_SIG], sizeof(e[0]));
	/* Features: kvmclock (0, 3), stable bit (24), async PF, steal time,
	 * PV EOI/unhalt/TLB/IPI/yield, poll control kept; 2 (obsolete MMU
	 * op), 8, 15-17 and the hints dropped. */
	assert_int_equal(e[V_FEAT].eax, 0x01007efbu);
	assert_int_equal(e[V_FEAT].edx, 0);
	/* XSAVE: PKRU without a size is dropped, AVX kept. */
	assert_int_equal(e[V_XS0].eax, 0x7);
	assert_int_equal(e[V_XS0].ecx, orig[V_XS0].ecx);

	/* Without TSC-deadline support the bit stays clear; patching again
	 * changes nothing. */
	memcpy(e, orig, sizeof(orig));
	nent = V_COUNT;
	x86_cpuid_vm_patch(e, &nent, V_COUNT + 2, false);
	assert_int_equal(e[V_LEAF1].ecx, orig[V_LEAF1].ecx);
	struct kvm_cpuid_entry2 once[V_COUNT];
	memcpy(once, e, sizeof(once));
	x86_cpuid_vm_patch(e, &nent, V_COUNT + 2, false);
	assert_memory_equal(e, once, sizeof(once));
}

static void test_vm_patch_adds_pv_leaves(void **state)
{
	(void)state;
	/* A KVM that lists no hypervisor leaves: both are appended, the
	 * signature and no feature; with no room, nothing is written. */
	struct kvm_cpuid_entry2 e[3];
	memset(e, 0, sizeof(e));
	e[0] = (struct kvm_cpuid_entry2){ .function = 1 };
	uint32_t nent = 1;
	x86_cpuid_vm_patch(e, &nent, 3, false);
	assert_int_equal(nent, 3);
	assert_int_equal(e[1].function, 0x40000000);
	assert_int_equal(e[1].eax, 0x40000001);
	char sig[13] = { 0 };
	memcpy(sig, &e[1].ebx, 4);
	memcpy(sig + 4, &e[1].ecx, 4);
	memcpy(sig + 8, &e[1].edx, 4);
	assert_string_equal(sig, "KVMKVMKVM");
	assert_int_equal(e[2].function, 0x40000001);
	assert_int_equal(e[2].eax, 0);
	nent = 1;
	x86_cpuid_vm_patch(e, &nent, 1, false);
	assert_int_equal(nent, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_1cpu),
		cmocka_unit_test(test_2cpus),
		cmocka_unit_test(test_4cpus),
		cmocka_unit_test(test_5cpus),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_nent_respected),
		cmocka_unit_test(test_add_topology_1f),
		cmocka_unit_test(test_vm_patch),
		cmocka_unit_test(test_vm_patch_adds_pv_leaves),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
