/* SPDX-License-Identifier: MIT */
/*
 * The e820 map: e820_build for a range of RAM sizes around the 32-bit PCI
 * hole (checked both entry by entry and through invariants), the RAM layout
 * split, and e820_add's overlap, overflow and capacity errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <asm/e820.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* The hole in low memory that is never RAM: EBDA, VGA, option ROMs, BIOS. */
#define LOW_GAP (HIMEM_START - EBDA_START)

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Invariants every built map must satisfy for a guest of `mem` bytes. */
static void check_invariants(const struct e820_map *m, uint64_t mem, bool ecam_wanted)
{
	assert_true(m->count > 0 && m->count <= E820_MAX);
	uint64_t ram = 0, ram_above_4g = 0;
	for (unsigned i = 0; i < m->count; i++) {
		const struct boot_e820_entry *e = &m->entries[i];
		uint64_t addr = e->addr, size = e->size;
		uint32_t type = e->type;
		assert_true(size > 0);
		assert_true(addr + size > addr);
		assert_true(type == E820_RAM || type == E820_RESERVED);
		if (i > 0) {
			const struct boot_e820_entry *p = &m->entries[i - 1];
			uint64_t pend = p->addr + p->size;
			/* Sorted and non-overlapping. */
			assert_true(pend <= addr);
		}
		if (type == E820_RAM) {
			ram += size;
			if (addr >= HIGH_RAM_START)
				ram_above_4g += size;
			/* RAM never covers the gap below 1 MiB or the PCI hole. */
			assert_false(ranges_overlap(addr, size, EBDA_START, LOW_GAP));
			assert_false(ranges_overlap(addr, size, MMIO32_START,
						    HIGH_RAM_START - MMIO32_START));
			/* Nor does it run past the RAM the guest has. */
			if (addr >= HIGH_RAM_START)
				assert_true(addr + size <= HIGH_RAM_START + mem - MMIO32_START);
			else
				assert_true(addr + size <= mem);
		}
	}
	assert_int_equal(ram, mem - LOW_GAP);
	assert_int_equal(e820_ram_total(m), mem - LOW_GAP);
	if (mem > MMIO32_START)
		assert_int_equal(ram_above_4g, mem - MMIO32_START);
	else
		assert_int_equal(ram_above_4g, 0);
	/* The EBDA and BIOS area are reported reserved. */
	bool ebda = false, bios = false;
	for (unsigned i = 0; i < m->count; i++) {
		const struct boot_e820_entry *e = &m->entries[i];
		uint64_t addr = e->addr, size = e->size;
		if (e->type != E820_RESERVED)
			continue;
		if (addr <= EBDA_START && addr + size >= LOW_RAM_END)
			ebda = true;
		if (addr <= ACPI_START && addr + size >= ACPI_END)
			bios = true;
	}
	assert_true(ebda);
	assert_true(bios);
	/* The ECAM window is reserved, never RAM; without a PCI bus it is
	 * not in the map at all. */
	bool ecam = false;
	for (unsigned i = 0; i < m->count; i++) {
		const struct boot_e820_entry *e = &m->entries[i];
		if (e->type == E820_RESERVED && e->addr <= ECAM_START &&
		    e->addr + e->size >= ECAM_START + ECAM_SIZE)
			ecam = true;
	}
	assert_true(ecam == ecam_wanted);
	/* Everything cvmm places in low memory is in RAM. */
	const uint64_t boot_data[] = { GDT_ADDR, IDT_ADDR, PVH_INFO_ADDR,
				       ZERO_PAGE_ADDR, PML4_ADDR, PD_ADDR + 0x3fff,
				       CMDLINE_ADDR + CMDLINE_MAX - 1, HIMEM_START };
	for (size_t k = 0; k < sizeof(boot_data) / sizeof(boot_data[0]); k++) {
		bool found = false;
		for (unsigned i = 0; i < m->count; i++) {
			const struct boot_e820_entry *e = &m->entries[i];
			if (e->type == E820_RAM && boot_data[k] >= e->addr &&
			    boot_data[k] - e->addr < e->size)
				found = true;
		}
		if (!found)
			fail_msg("0x%llx is not in RAM", (unsigned long long)boot_data[k]);
	}
}

struct expect {
	uint64_t addr, size;
	uint32_t type;
};

static void check_exact(const struct e820_map *m, const struct expect *want,
			unsigned n)
{
	assert_int_equal(m->count, n);
	for (unsigned i = 0; i < n; i++) {
		const struct boot_e820_entry *e = &m->entries[i];
		if (e->addr != want[i].addr || e->size != want[i].size ||
		    e->type != want[i].type)
			fail_msg("entry %u: 0x%llx+0x%llx type %u, want 0x%llx+0x%llx type %u",
				 i, (unsigned long long)e->addr,
				 (unsigned long long)e->size, (unsigned)e->type,
				 (unsigned long long)want[i].addr,
				 (unsigned long long)want[i].size, want[i].type);
	}
}

static void build_and_check(uint64_t mem, const struct expect *want, unsigned n)
{
	struct e820_map m;
	memset(&m, 0xcc, sizeof(m)); /* e820_build must reset it */
	assert_int_equal(e820_build(&m, mem, true), 0);
	check_invariants(&m, mem, true);
	check_exact(&m, want, n);
}

#define LOW_ENTRIES                                                     \
	{ 0, EBDA_START, E820_RAM },                                    \
	{ EBDA_START, LOW_RAM_END - EBDA_START, E820_RESERVED },        \
	{ ACPI_START, ACPI_END - ACPI_START, E820_RESERVED }

/* The PCI ECAM window, reserved so that guests trust the MCFG table. */
#define ECAM_ENTRY { ECAM_START, ECAM_SIZE, E820_RESERVED }

static void test_build_16m(void **state)
{
	(void)state;
	const struct expect want[] = {
		LOW_ENTRIES,
		{ HIMEM_START, 15 * MiB, E820_RAM },
		ECAM_ENTRY,
	};
	build_and_check(16 * MiB, want, 5);
}

static void test_build_256m(void **state)
{
	(void)state;
	const struct expect want[] = {
		LOW_ENTRIES,
		{ HIMEM_START, 255 * MiB, E820_RAM },
		ECAM_ENTRY,
	};
	build_and_check(256 * MiB, want, 5);
}

static void test_build_3g(void **state)
{
	(void)state;
	const struct expect want[] = {
		LOW_ENTRIES,
		{ HIMEM_START, 3 * GiB - MiB, E820_RAM },
		ECAM_ENTRY,
	};
	build_and_check(3 * GiB, want, 5);
	assert_int_equal(3 * GiB, MMIO32_START);
}

static void test_build_3g_plus_4k(void **state)
{
	(void)state;
	const struct expect want[] = {
		LOW_ENTRIES,
		{ HIMEM_START, 3 * GiB - MiB, E820_RAM },
		ECAM_ENTRY,
		{ HIGH_RAM_START, 4 * KiB, E820_RAM },
	};
	build_and_check(3 * GiB + 4 * KiB, want, 6);
}

static void test_build_5g(void **state)
{
	(void)state;
	const struct expect want[] = {
		LOW_ENTRIES,
		{ HIMEM_START, 3 * GiB - MiB, E820_RAM },
		ECAM_ENTRY,
		{ HIGH_RAM_START, 2 * GiB, E820_RAM },
	};
	build_and_check(5 * GiB, want, 6);
}

static void test_build_64g(void **state)
{
	(void)state;
	const struct expect want[] = {
		LOW_ENTRIES,
		{ HIMEM_START, 3 * GiB - MiB, E820_RAM },
		ECAM_ENTRY,
		{ HIGH_RAM_START, 61 * GiB, E820_RAM },
	};
	build_and_check(64 * GiB, want, 6);
}

/* No PCI bus (every virtio device on virtio-mmio): no ECAM to reserve. */
static void test_build_no_pci(void **state)
{
	(void)state;
	const struct expect want256[] = {
		LOW_ENTRIES,
		{ HIMEM_START, 255 * MiB, E820_RAM },
	};
	const struct expect want5g[] = {
		LOW_ENTRIES,
		{ HIMEM_START, 3 * GiB - MiB, E820_RAM },
		{ HIGH_RAM_START, 2 * GiB, E820_RAM },
	};
	struct e820_map m;
	memset(&m, 0xcc, sizeof(m));
	assert_int_equal(e820_build(&m, 256 * MiB, false), 0);
	check_invariants(&m, 256 * MiB, false);
	check_exact(&m, want256, 4);
	assert_int_equal(e820_build(&m, 5 * GiB, false), 0);
	check_invariants(&m, 5 * GiB, false);
	check_exact(&m, want5g, 5);
}

static void test_build_sweep(void **state)
{
	(void)state;
	/* Invariants only, across many sizes incl. ones just around the hole. */
	const uint64_t sizes[] = { 2 * MiB, 2 * MiB + 4 * KiB, 17 * MiB, 1 * GiB,
				   3 * GiB - 4 * KiB, 3 * GiB, 3 * GiB + 4 * KiB,
				   4 * GiB, 4 * GiB + 4 * KiB, 1ULL << 40 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct e820_map m;
		assert_int_equal(e820_build(&m, sizes[i], i % 2), 0);
		check_invariants(&m, sizes[i], i % 2);
	}
}

static void test_build_too_small(void **state)
{
	(void)state;
	struct e820_map m;
	const uint64_t sizes[] = { 0, 1, 4 * KiB, 640 * KiB, MiB, 2 * MiB - 1 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(&m, 0xcc, sizeof(m));
		assert_int_equal(e820_build(&m, sizes[i], true), -EINVAL);
		assert_int_equal(m.count, 0); /* left empty, not half-built */
	}
	assert_int_equal(e820_build(&m, 2 * MiB, true), 0);
}

static void test_ram_layout(void **state)
{
	(void)state;
	struct ram_layout l;
	x86_ram_layout(256 * MiB, &l);
	assert_int_equal(l.low_size, 256 * MiB);
	assert_int_equal(l.high_size, 0);
	x86_ram_layout(3 * GiB, &l);
	assert_int_equal(l.low_size, 3 * GiB);
	assert_int_equal(l.high_size, 0);
	x86_ram_layout(3 * GiB + 4 * KiB, &l);
	assert_int_equal(l.low_size, MMIO32_START);
	assert_int_equal(l.high_size, 4 * KiB);
	x86_ram_layout(64 * GiB, &l);
	assert_int_equal(l.low_size, MMIO32_START);
	assert_int_equal(l.high_size, 61 * GiB);
}

static void test_add(void **state)
{
	(void)state;
	struct e820_map m;
	memset(&m, 0, sizeof(m));
	assert_int_equal(e820_add(&m, 0x2000, 0x1000, E820_RAM), 0);
	/* Sorted insert at the front and the back. */
	assert_int_equal(e820_add(&m, 0x0, 0x1000, E820_RESERVED), 0);
	assert_int_equal(e820_add(&m, 0x5000, 0x1000, E820_ACPI), 0);
	assert_int_equal(m.count, 3);
	assert_int_equal(m.entries[0].addr, 0x0);
	assert_int_equal(m.entries[0].type, E820_RESERVED);
	assert_int_equal(m.entries[1].addr, 0x2000);
	assert_int_equal(m.entries[2].addr, 0x5000);
	assert_int_equal(m.entries[2].type, E820_ACPI);

	static const struct {
		uint64_t addr, size;
		int want;
	} cases[] = {
		{ 0x2000, 0x1000, -EINVAL }, /* identical */
		{ 0x2800, 0x10, -EINVAL },   /* inside */
		{ 0x1800, 0x1000, -EINVAL }, /* overlaps the start */
		{ 0x2fff, 0x2, -EINVAL },    /* overlaps the end */
		{ 0x1000, 0x5000, -EINVAL }, /* covers two */
		{ 0x4000, 0, -EINVAL },      /* empty */
		{ UINT64_MAX, 2, -EINVAL },  /* wraps */
		{ UINT64_MAX - 0xfff, 0x1000, -EINVAL }, /* ends at 2^64 */
		{ 1, UINT64_MAX, -EINVAL },
		{ 0x1000, 0x1000, 0 },       /* fills the gap exactly */
		{ 0x3000, 0x2000, 0 },       /* likewise */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = e820_add(&m, cases[i].addr, cases[i].size, E820_RAM);
		if (r != cases[i].want)
			fail_msg("case %zu: 0x%llx+0x%llx: got %d want %d", i,
				 (unsigned long long)cases[i].addr,
				 (unsigned long long)cases[i].size, r, cases[i].want);
	}
	assert_int_equal(m.count, 5);
	for (unsigned i = 1; i < m.count; i++)
		assert_int_equal(m.entries[i - 1].addr + m.entries[i - 1].size,
				 m.entries[i].addr);
	assert_int_equal(e820_ram_total(&m), 0x1000 + 0x1000 + 0x2000);
}

static void test_add_full(void **state)
{
	(void)state;
	struct e820_map m;
	memset(&m, 0, sizeof(m));
	/* Insert in descending order so every insert shifts the array. */
	for (unsigned i = 0; i < E820_MAX; i++)
		assert_int_equal(e820_add(&m, (uint64_t)(E820_MAX - i) * 0x10000,
					  0x1000, E820_RAM), 0);
	assert_int_equal(m.count, E820_MAX);
	for (unsigned i = 0; i < E820_MAX; i++)
		assert_int_equal(m.entries[i].addr, (uint64_t)(i + 1) * 0x10000);
	assert_int_equal(e820_add(&m, 0x0, 0x1000, E820_RAM), -ENOSPC);
	assert_int_equal(e820_add(&m, 1ULL << 40, 0x1000, E820_RAM), -ENOSPC);
	assert_int_equal(m.count, E820_MAX);
	assert_int_equal(e820_ram_total(&m), E820_MAX * 0x1000ULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_16m),
		cmocka_unit_test(test_build_256m),
		cmocka_unit_test(test_build_3g),
		cmocka_unit_test(test_build_3g_plus_4k),
		cmocka_unit_test(test_build_5g),
		cmocka_unit_test(test_build_64g),
		cmocka_unit_test(test_build_no_pci),
		cmocka_unit_test(test_build_sweep),
		cmocka_unit_test(test_build_too_small),
		cmocka_unit_test(test_ram_layout),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_add_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
