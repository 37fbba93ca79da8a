/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "alloc.h"

static void test_init_bad_args(void **state)
{
	(void)state;
	struct addr_alloc a;
	assert_int_equal(addr_alloc_init(&a, 0x1000, 0), -EINVAL);
	assert_int_equal(addr_alloc_init(&a, UINT64_MAX, 2), -EINVAL);
	/* Ending exactly at 2^64 is fine. */
	assert_int_equal(addr_alloc_init(&a, UINT64_MAX - 0xfff, 0x1000), 0);
	uint64_t out;
	assert_int_equal(addr_alloc(&a, 0x1000, 0x1000, &out), 0);
	assert_int_equal(out, UINT64_MAX - 0xfff);
	assert_int_equal(addr_alloc(&a, 1, 1, &out), -ENOSPC);
	addr_alloc_destroy(&a);
}

static void test_alloc_bad_args(void **state)
{
	(void)state;
	struct addr_alloc a;
	uint64_t out = 0;
	assert_int_equal(addr_alloc_init(&a, 0x1000, 0x10000), 0);
	assert_int_equal(addr_alloc(&a, 0, 1, &out), -EINVAL);
	assert_int_equal(addr_alloc(&a, 16, 0, &out), -EINVAL);
	assert_int_equal(addr_alloc(&a, 16, 3, &out), -EINVAL);
	assert_int_equal(addr_alloc(&a, 16, 0x1800, &out), -EINVAL);
	assert_int_equal(addr_alloc(&a, 0x10001, 1, &out), -ENOSPC);
	assert_int_equal(addr_alloc(&a, UINT64_MAX, 1, &out), -ENOSPC);
	assert_int_equal(addr_alloc(&a, 1, 1ULL << 63, &out), -ENOSPC);
	addr_alloc_destroy(&a);
}

static void test_alignment(void **state)
{
	(void)state;
	struct addr_alloc a;
	uint64_t x, y, z;
	assert_int_equal(addr_alloc_init(&a, 0xc0000010, 0x100000), 0);
	/* Base not aligned: first block rounds up. */
	assert_int_equal(addr_alloc(&a, 0x100, 0x1000, &x), 0);
	assert_int_equal(x, 0xc0001000);
	/* Small alignment fills the gap before it, first fit. */
	assert_int_equal(addr_alloc(&a, 0x10, 0x10, &y), 0);
	assert_int_equal(y, 0xc0000010);
	assert_int_equal(addr_alloc(&a, 0x4000, 0x4000, &z), 0);
	assert_int_equal(z, 0xc0004000);
	assert_int_equal(addr_alloc(&a, 1, 1, &x), 0);
	assert_int_equal(x, 0xc0000020);
	assert_int_equal(addr_alloc(&a, 0x80, 0x80, &x), 0);
	assert_int_equal(x, 0xc0000080);
	assert_int_equal(addr_alloc(&a, 0x2000, 0x1000, &x), 0);
	assert_int_equal(x, 0xc0002000); /* between 0xc0001100 and 0xc0004000 */
	addr_alloc_destroy(&a);
}

static void test_exhaustion_and_reuse(void **state)
{
	(void)state;
	struct addr_alloc a;
	uint64_t out, addrs[16];
	assert_int_equal(addr_alloc_init(&a, 0x1000, 0x10000), 0);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(addr_alloc(&a, 0x1000, 0x1000, &addrs[i]), 0);
		assert_int_equal(addrs[i], 0x1000 + 0x1000ULL * i);
	}
	assert_int_equal(addr_alloc(&a, 1, 1, &out), -ENOSPC);
	assert_int_equal(addr_free(&a, addrs[5]), 0);
	assert_int_equal(addr_alloc(&a, 0x1001, 1, &out), -ENOSPC);
	assert_int_equal(addr_alloc(&a, 0x800, 1, &out), 0);
	assert_int_equal(out, addrs[5]);
	assert_int_equal(addr_alloc(&a, 0x800, 0x800, &out), 0);
	assert_int_equal(out, addrs[5] + 0x800);
	assert_int_equal(addr_alloc(&a, 1, 1, &out), -ENOSPC);
	/* Free everything, then the whole range is one block again. */
	assert_int_equal(addr_free(&a, addrs[5]), 0);
	assert_int_equal(addr_free(&a, addrs[5] + 0x800), 0);
	for (int i = 0; i < 16; i++)
		if (i != 5)
			assert_int_equal(addr_free(&a, addrs[i]), 0);
	assert_int_equal(addr_alloc(&a, 0x10000, 0x1000, &out), 0);
	assert_int_equal(out, 0x1000);
	addr_alloc_destroy(&a);
}

static void test_merge(void **state)
{
	(void)state;
	struct addr_alloc a;
	uint64_t b[4], out;
	assert_int_equal(addr_alloc_init(&a, 0, 0x4000), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(addr_alloc(&a, 0x1000, 0x1000, &b[i]), 0);
	/* Free B then C: a 0x2000 hole formed from two neighbours. */
	assert_int_equal(addr_free(&a, b[1]), 0);
	assert_int_equal(addr_alloc(&a, 0x2000, 1, &out), -ENOSPC);
	assert_int_equal(addr_free(&a, b[2]), 0);
	assert_int_equal(addr_alloc(&a, 0x2000, 0x1000, &out), 0);
	assert_int_equal(out, 0x1000);
	/* Free A and the merged block: 0x3000 from address 0. */
	assert_int_equal(addr_free(&a, 0x1000), 0);
	assert_int_equal(addr_free(&a, b[0]), 0);
	assert_int_equal(addr_alloc(&a, 0x3001, 1, &out), -ENOSPC);
	assert_int_equal(addr_alloc(&a, 0x3000, 1, &out), 0);
	assert_int_equal(out, 0);
	addr_alloc_destroy(&a);
}

static void test_fixed(void **state)
{
	(void)state;
	struct addr_alloc a;
	uint64_t out;
	assert_int_equal(addr_alloc_init(&a, 0x1000, 0x10000), 0);
	assert_int_equal(addr_alloc_fixed(&a, 0x3000, 0x1000), 0);
	/* Conflicts: same, overlapping start, overlapping end, enclosing. */
	assert_int_equal(addr_alloc_fixed(&a, 0x3000, 0x1000), -EBUSY);
	assert_int_equal(addr_alloc_fixed(&a, 0x3fff, 0x10), -EBUSY);
	assert_int_equal(addr_alloc_fixed(&a, 0x2ff0, 0x11), -EBUSY);
	assert_int_equal(addr_alloc_fixed(&a, 0x2000, 0x4000), -EBUSY);
	assert_int_equal(addr_alloc_fixed(&a, 0x3800, 0x1), -EBUSY);
	/* Adjacent on both sides is fine. */
	assert_int_equal(addr_alloc_fixed(&a, 0x2ff0, 0x10), 0);
	assert_int_equal(addr_alloc_fixed(&a, 0x4000, 0x10), 0);
	/* Outside the range / bad. */
	assert_int_equal(addr_alloc_fixed(&a, 0xfff, 0x10), -EINVAL);
	assert_int_equal(addr_alloc_fixed(&a, 0x10ff0, 0x11), -EINVAL);
	assert_int_equal(addr_alloc_fixed(&a, 0x2000, 0), -EINVAL);
	assert_int_equal(addr_alloc_fixed(&a, UINT64_MAX, 2), -EINVAL);
	assert_int_equal(addr_alloc_fixed(&a, 0x10fff, 1), 0);
	/* Dynamic allocation skips fixed blocks. */
	assert_int_equal(addr_alloc(&a, 0x2000, 0x1000, &out), 0);
	assert_int_equal(out, 0x5000);
	assert_int_equal(addr_alloc(&a, 0x1ff0, 0x10, &out), 0);
	assert_int_equal(out, 0x1000);
	assert_int_equal(addr_alloc(&a, 0x10, 0x10, &out), 0);
	assert_int_equal(out, 0x4010);
	/* Free a fixed one and reuse it. */
	assert_int_equal(addr_free(&a, 0x3000), 0);
	assert_int_equal(addr_alloc(&a, 0x1000, 0x1000, &out), 0);
	assert_int_equal(out, 0x3000);
	addr_alloc_destroy(&a);
}

static void test_free_errors(void **state)
{
	(void)state;
	struct addr_alloc a;
	uint64_t out;
	assert_int_equal(addr_alloc_init(&a, 0x1000, 0x10000), 0);
	assert_int_equal(addr_free(&a, 0x1000), -ENOENT);
	assert_int_equal(addr_alloc(&a, 0x100, 0x100, &out), 0);
	assert_int_equal(addr_free(&a, out + 1), -ENOENT);
	assert_int_equal(addr_free(&a, out), 0);
	assert_int_equal(addr_free(&a, out), -ENOENT);
	addr_alloc_destroy(&a);
}

static void test_gsi(void **state)
{
	(void)state;
	struct addr_alloc intx, msi;
	uint64_t g;
	assert_int_equal(addr_alloc_init(&intx, 5, 23 - 5 + 1), 0);
	assert_int_equal(addr_alloc_fixed(&intx, 8, 1), 0); /* RTC */
	for (uint64_t want = 5; want <= 23; want++) {
		if (want == 8)
			continue;
		assert_int_equal(addr_alloc(&intx, 1, 1, &g), 0);
		assert_int_equal(g, want);
	}
	assert_int_equal(addr_alloc(&intx, 1, 1, &g), -ENOSPC);
	assert_int_equal(addr_free(&intx, 11), 0);
	assert_int_equal(addr_alloc(&intx, 1, 1, &g), 0);
	assert_int_equal(g, 11);
	addr_alloc_destroy(&intx);

	/* Many blocks: exercises growth of the bookkeeping. */
	assert_int_equal(addr_alloc_init(&msi, 24, 1000), 0);
	for (uint64_t i = 0; i < 1000; i++) {
		assert_int_equal(addr_alloc(&msi, 1, 1, &g), 0);
		assert_int_equal(g, 24 + i);
	}
	assert_int_equal(addr_alloc(&msi, 1, 1, &g), -ENOSPC);
	for (uint64_t i = 0; i < 1000; i += 2)
		assert_int_equal(addr_free(&msi, 24 + i), 0);
	assert_int_equal(addr_alloc(&msi, 2, 1, &g), -ENOSPC);
	assert_int_equal(addr_alloc(&msi, 1, 1, &g), 0);
	assert_int_equal(g, 24);
	addr_alloc_destroy(&msi);
}

static void test_full_64bit_range(void **state)
{
	(void)state;
	struct addr_alloc a;
	uint64_t out;
	assert_int_equal(addr_alloc_init(&a, 0, UINT64_MAX), 0);
	assert_int_equal(addr_alloc(&a, 1ULL << 63, 1ULL << 63, &out), 0);
	assert_int_equal(out, 0);
	assert_int_equal(addr_alloc(&a, 1ULL << 63, 1ULL << 63, &out), -ENOSPC);
	assert_int_equal(addr_alloc(&a, (1ULL << 63) - 1, 1, &out), 0);
	assert_int_equal(out, 1ULL << 63);
	assert_int_equal(addr_alloc(&a, 1, 1, &out), -ENOSPC);
	assert_int_equal(addr_free(&a, 0), 0);
	assert_int_equal(addr_alloc_fixed(&a, 0x1000, 0x1000), 0);
	assert_int_equal(addr_alloc(&a, 0x2000, 0x2000, &out), 0);
	assert_int_equal(out, 0x2000);
	addr_alloc_destroy(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_bad_args),
		cmocka_unit_test(test_alloc_bad_args),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_exhaustion_and_reuse),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_fixed),
		cmocka_unit_test(test_free_errors),
		cmocka_unit_test(test_gsi),
		cmocka_unit_test(test_full_64bit_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
