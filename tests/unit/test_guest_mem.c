/* SPDX-License-Identifier: MIT */
/*
 * Guest memory regions: adding (ordering, overlap, limits), translation
 * bounds (inside, crossing a region end or the gap between two regions,
 * len 0, gpa+len overflowing 2^64), the -EFAULT copy helpers and the
 * file behind a range (guest_mem_fd: shared memory for device backends in
 * other processes).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guest_mem.h"

static uint8_t buf_a[0x1000], buf_b[0x2000], buf_c[0x100], buf_d[0x100],
	buf_e[0x100];

static void test_add_sorted(void **state)
{
	(void)state;
	struct guest_mem m = { 0 };
	/* Added out of order, kept sorted by gpa. */
	assert_int_equal(guest_mem_add(&m, 0x100000, sizeof(buf_b), buf_b), 0);
	assert_int_equal(guest_mem_add(&m, 0x0, sizeof(buf_a), buf_a), 0);
	assert_int_equal(guest_mem_add(&m, 0x10000, sizeof(buf_c), buf_c), 0);
	assert_int_equal(m.count, 3);
	assert_int_equal(m.regions[0].gpa, 0x0);
	assert_ptr_equal(m.regions[0].hva, buf_a);
	assert_int_equal(m.regions[1].gpa, 0x10000);
	assert_ptr_equal(m.regions[1].hva, buf_c);
	assert_int_equal(m.regions[2].gpa, 0x100000);
	assert_int_equal(m.regions[2].size, sizeof(buf_b));
	assert_int_equal(guest_mem_size(&m),
			 sizeof(buf_a) + sizeof(buf_b) + sizeof(buf_c));
	/* The fourth fits, the fifth does not. */
	assert_int_equal(guest_mem_add(&m, 0x20000, sizeof(buf_d), buf_d), 0);
	assert_int_equal(m.count, GUEST_MEM_MAX_REGIONS);
	assert_int_equal(guest_mem_add(&m, 0x30000, sizeof(buf_e), buf_e), -ENOSPC);
	assert_int_equal(m.count, GUEST_MEM_MAX_REGIONS);
	for (unsigned i = 1; i < m.count; i++)
		assert_true(m.regions[i - 1].gpa + m.regions[i - 1].size <=
			    m.regions[i].gpa);
}

static void test_add_overlap(void **state)
{
	(void)state;
	struct guest_mem m = { 0 };
	/* [0x1000, 0x2000) */
	assert_int_equal(guest_mem_add(&m, 0x1000, 0x1000, buf_a), 0);
	static const struct {
		uint64_t gpa, size;
		int want;
	} cases[] = {
		{ 0x1000, 0x1000, -EINVAL }, /* identical */
		{ 0x1000, 0x10, -EINVAL },   /* same start */
		{ 0x1800, 0x10, -EINVAL },   /* inside */
		{ 0x0, 0x3000, -EINVAL },    /* covering */
		{ 0x0, 0x1001, -EINVAL },    /* overlaps first byte */
		{ 0x1fff, 0x10, -EINVAL },   /* overlaps last byte */
		{ 0x5000, 0, -EINVAL },      /* size 0 */
		{ UINT64_MAX - 0xff, 0x100, -EINVAL }, /* gpa+size wraps to 0 */
		{ UINT64_MAX - 0xff, 0x200, -EINVAL }, /* wraps past 0 */
		{ 0x0, 0x1000, 0 },          /* touches on the left */
		{ 0x2000, 0x1000, 0 },       /* touches on the right */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct guest_mem before = m;
		int r = guest_mem_add(&m, cases[i].gpa, cases[i].size, buf_b);
		if (r != cases[i].want)
			fail_msg("case %zu: gpa 0x%llx size 0x%llx: got %d want %d", i,
				 (unsigned long long)cases[i].gpa,
				 (unsigned long long)cases[i].size, r, cases[i].want);
		if (r) {
			assert_int_equal(before.count, m.count);
			assert_memory_equal(before.regions, m.regions,
					    sizeof(m.regions));
		}
	}
	assert_int_equal(m.count, 3);
	/* NULL host pointer. */
	assert_int_equal(guest_mem_add(&m, 0x10000, 0x10, NULL), -EINVAL);
	assert_int_equal(m.count, 3);
	assert_int_equal(guest_mem_size(&m), 0x3000);
}

static void test_ptr_bounds(void **state)
{
	(void)state;
	struct guest_mem m = { 0 };
	/* Two adjacent regions: [0, 0x1000) and [0x1000, 0x3000), then one
	 * after a gap at [0x10000, 0x10100). */
	assert_int_equal(guest_mem_add(&m, 0x0, sizeof(buf_a), buf_a), 0);
	assert_int_equal(guest_mem_add(&m, 0x1000, sizeof(buf_b), buf_b), 0);
	assert_int_equal(guest_mem_add(&m, 0x10000, sizeof(buf_c), buf_c), 0);

	assert_ptr_equal(guest_mem_ptr(&m, 0, 1), buf_a);
	assert_ptr_equal(guest_mem_ptr(&m, 0x10, 0x10), buf_a + 0x10);
	assert_ptr_equal(guest_mem_ptr(&m, 0, 0x1000), buf_a);
	assert_ptr_equal(guest_mem_ptr(&m, 0xfff, 1), buf_a + 0xfff);
	assert_ptr_equal(guest_mem_ptr(&m, 0x1000, 0x2000), buf_b);
	assert_ptr_equal(guest_mem_ptr(&m, 0x2fff, 1), buf_b + 0x1fff);
	assert_ptr_equal(guest_mem_ptr(&m, 0x100ff, 1), buf_c + 0xff);
	/* Crossing the end of a region into nothing. */
	assert_null(guest_mem_ptr(&m, 0x2fff, 2));
	assert_null(guest_mem_ptr(&m, 0x100ff, 2));
	assert_null(guest_mem_ptr(&m, 0x10000, 0x101));
	/* Crossing between two adjacent regions: still NULL (not contiguous
	 * in host memory). */
	assert_null(guest_mem_ptr(&m, 0xfff, 2));
	assert_null(guest_mem_ptr(&m, 0, 0x1001));
	assert_null(guest_mem_ptr(&m, 0x800, 0x1000));
	/* Spanning a gap. */
	assert_null(guest_mem_ptr(&m, 0x2000, 0xf000));
	/* Not mapped at all. */
	assert_null(guest_mem_ptr(&m, 0x3000, 1));
	assert_null(guest_mem_ptr(&m, 0xffff, 1));
	assert_null(guest_mem_ptr(&m, 0x10100, 1));
	assert_null(guest_mem_ptr(&m, UINT64_MAX, 1));
	/* len 0 behaves as len 1: the address must exist. */
	assert_ptr_equal(guest_mem_ptr(&m, 0x2fff, 0), buf_b + 0x1fff);
	assert_ptr_equal(guest_mem_ptr(&m, 0, 0), buf_a);
	assert_null(guest_mem_ptr(&m, 0x3000, 0));
	assert_null(guest_mem_ptr(&m, UINT64_MAX, 0));
	/* gpa + len overflowing 2^64 must not wrap into a region. */
	assert_null(guest_mem_ptr(&m, 0x10, UINT64_MAX));
	assert_null(guest_mem_ptr(&m, 0x10, UINT64_MAX - 0xf));
	assert_null(guest_mem_ptr(&m, 0x10000, UINT64_MAX));
	assert_null(guest_mem_ptr(&m, UINT64_MAX, 2));
	assert_null(guest_mem_ptr(&m, UINT64_MAX - 0xf, 0x20));
	assert_null(guest_mem_ptr(&m, 0x1000, 1ULL << 63));

	/* Empty map. */
	struct guest_mem empty = { 0 };
	assert_null(guest_mem_ptr(&empty, 0, 1));
	assert_int_equal(guest_mem_size(&empty), 0);
}

static void test_ptr_top_of_space(void **state)
{
	(void)state;
	struct guest_mem m = { 0 };
	/* A region ending just below 2^64 (gpa+size == 2^64 is refused). */
	const uint64_t gpa = UINT64_MAX - 0x100;
	assert_int_equal(guest_mem_add(&m, gpa, 0x100, buf_c), 0);
	assert_ptr_equal(guest_mem_ptr(&m, gpa, 0x100), buf_c);
	assert_ptr_equal(guest_mem_ptr(&m, UINT64_MAX - 1, 1), buf_c + 0xff);
	assert_null(guest_mem_ptr(&m, UINT64_MAX, 1));
	assert_null(guest_mem_ptr(&m, UINT64_MAX - 1, 2));
	assert_null(guest_mem_ptr(&m, gpa, 0x101));
	assert_null(guest_mem_ptr(&m, gpa + 0x10, UINT64_MAX));
}

static void test_read_write(void **state)
{
	(void)state;
	struct guest_mem m = { 0 };
	static uint8_t lo[0x100], hi[0x100];
	memset(lo, 0, sizeof(lo));
	memset(hi, 0, sizeof(hi));
	assert_int_equal(guest_mem_add(&m, 0x1000, sizeof(lo), lo), 0);
	assert_int_equal(guest_mem_add(&m, 0x1100, sizeof(hi), hi), 0);

	const uint8_t pat[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	assert_int_equal(guest_mem_write(&m, 0x10f8, pat, 8), 0);
	assert_memory_equal(lo + 0xf8, pat, 8);
	uint8_t got[8] = { 0 };
	assert_int_equal(guest_mem_read(&m, 0x10f8, got, 8), 0);
	assert_memory_equal(got, pat, 8);
	assert_int_equal(guest_mem_write(&m, 0x1100, pat, 3), 0);
	assert_memory_equal(hi, pat, 3);

	/* Crossing from lo into hi: -EFAULT and nothing copied either way. */
	uint8_t snap_lo[0x100], snap_hi[0x100];
	memcpy(snap_lo, lo, sizeof(lo));
	memcpy(snap_hi, hi, sizeof(hi));
	const uint8_t junk[16] = { [0 ... 15] = 0xee };
	assert_int_equal(guest_mem_write(&m, 0x10fc, junk, 8), -EFAULT);
	assert_memory_equal(lo, snap_lo, sizeof(lo));
	assert_memory_equal(hi, snap_hi, sizeof(hi));
	uint8_t dst[16];
	memset(dst, 0x77, sizeof(dst));
	assert_int_equal(guest_mem_read(&m, 0x10fc, dst, 8), -EFAULT);
	for (size_t i = 0; i < sizeof(dst); i++)
		assert_int_equal(dst[i], 0x77);
	/* Off the end, before the start, overflowing. */
	assert_int_equal(guest_mem_write(&m, 0x11fc, junk, 8), -EFAULT);
	assert_int_equal(guest_mem_read(&m, 0xfff, dst, 2), -EFAULT);
	assert_int_equal(guest_mem_read(&m, UINT64_MAX - 3, dst, 8), -EFAULT);
	assert_int_equal(guest_mem_write(&m, UINT64_MAX, junk, 1), -EFAULT);
	assert_int_equal(guest_mem_read(&m, 0x1000, dst, SIZE_MAX), -EFAULT);
	assert_memory_equal(hi, snap_hi, sizeof(hi));
	/* Zero-length copies at a mapped address succeed and copy nothing;
	 * at an unmapped one they fault. */
	assert_int_equal(guest_mem_read(&m, 0x1000, dst, 0), 0);
	assert_int_equal(dst[0], 0x77);
	assert_int_equal(guest_mem_write(&m, 0x5000, junk, 0), -EFAULT);
}

static void test_fd(void **state)
{
	(void)state;
	struct guest_mem m = { 0 };
	/* Low RAM at file offset 0, high RAM after it in the same file (as
	 * kvm_map_region lays out --memory shared=on), one private region. */
	assert_int_equal(guest_mem_add_fd(&m, 0x0, sizeof(buf_a), buf_a, 7, 0), 0);
	assert_int_equal(guest_mem_add_fd(&m, 0x100000, sizeof(buf_b), buf_b, 7,
					  sizeof(buf_a)), 0);
	assert_int_equal(guest_mem_add(&m, 0x10000, sizeof(buf_c), buf_c), 0);
	assert_int_equal(m.regions[1].fd, -1);

	int fd = -2;
	uint64_t off = 1;
	assert_int_equal(guest_mem_fd(&m, 0, 0x1000, &fd, &off), 0);
	assert_int_equal(fd, 7);
	assert_int_equal(off, 0);
	assert_int_equal(guest_mem_fd(&m, 0x100010, 0x10, &fd, &off), 0);
	assert_int_equal(off, sizeof(buf_a) + 0x10);
	assert_int_equal(guest_mem_fd(&m, 0x101fff, 0, &fd, &off), 0);
	assert_int_equal(off, sizeof(buf_a) + 0x1fff);
	/* Private memory has no file; ranges outside one region are faults. */
	fd = -2;
	assert_int_equal(guest_mem_fd(&m, 0x10000, 0x10, &fd, &off), -ENOENT);
	assert_int_equal(fd, -2);
	assert_int_equal(guest_mem_fd(&m, 0xfff, 2, &fd, &off), -EFAULT);
	assert_int_equal(guest_mem_fd(&m, 0x101fff, 2, &fd, &off), -EFAULT);
	assert_int_equal(guest_mem_fd(&m, 0x5000, 1, &fd, &off), -EFAULT);
	assert_int_equal(guest_mem_fd(&m, UINT64_MAX, UINT64_MAX, &fd, &off), -EFAULT);
	/* A file range that would wrap is refused. */
	assert_int_equal(guest_mem_add_fd(&m, 0x200000, 0x1000, buf_d, 7,
					  UINT64_MAX - 0xff), -EINVAL);
	/* A negative fd means private, whatever the offset. */
	assert_int_equal(guest_mem_add_fd(&m, 0x200000, sizeof(buf_d), buf_d, -1, 123), 0);
	assert_int_equal(guest_mem_fd(&m, 0x200000, 1, &fd, &off), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_sorted),
		cmocka_unit_test(test_add_overlap),
		cmocka_unit_test(test_ptr_bounds),
		cmocka_unit_test(test_ptr_top_of_space),
		cmocka_unit_test(test_read_write),
		cmocka_unit_test(test_fd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
