/* SPDX-License-Identifier: MIT */
/*
 * x86_cpuid_patch: APIC id and topology in leaves 1, 4, 0xB and 0x80000008
 * for several vCPU counts, with unrelated bits and leaves left alone.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_1cpu),
		cmocka_unit_test(test_2cpus),
		cmocka_unit_test(test_4cpus),
		cmocka_unit_test(test_5cpus),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_nent_respected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
