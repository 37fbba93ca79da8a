/* SPDX-License-Identifier: MIT */
/*
 * e820: the memory map must describe exactly `mem=<bytes>` of RAM laid out
 * as cvmm promises (0..0x9fc00, 1 MiB..min(mem, 3 GiB), then 4 GiB up), with
 * no overlaps and nothing usable in the legacy hole or the MMIO hole; then
 * pages at the ends of RAM (and above 4 GiB) are written and read back.
 */
#include "runtime.h"

const char test_name[] = "e820";

#define LOW_END_MAX (3 * GiB)
#define HIGH_START (4 * GiB)

static struct mem_region map[E820_MAX];

static bool overlaps(const struct mem_region *r, u64 start, u64 end)
{
	return r->addr < end && r->addr + r->size > start;
}

static u64 pattern(u64 addr, u32 round)
{
	return (addr * 0x9e3779b97f4a7c15UL) ^ (0xa5a5a5a5a5a5a5a5UL + round);
}

int test_main(struct boot_info *bi)
{
	u64 mem;
	CHECK(3, cmdline_get_u64(bi->cmdline, "mem", &mem), "no mem=<bytes> on the command line");
	print_e820(bi);

	u32 n = bi->nr_e820;
	CHECK(4, n > 0, "empty memory map");
	memcpy(map, bi->e820, n * sizeof(map[0]));
	for (u32 i = 1; i < n; i++) { /* insertion sort by address */
		struct mem_region r = map[i];
		u32 j = i;
		while (j && map[j - 1].addr > r.addr) {
			map[j] = map[j - 1];
			j--;
		}
		map[j] = r;
	}
	u64 total = 0, max_end = 0;
	bool low_ok = false, high_start_ok = false;
	for (u32 i = 0; i < n; i++) {
		const struct mem_region *r = &map[i];
		CHECK(5, r->size && r->addr + r->size > r->addr, "entry %lx size %lx is empty or wraps",
		      r->addr, r->size);
		if (i)
			CHECK(6, map[i - 1].addr + map[i - 1].size <= r->addr,
			      "entries [%lx+%lx] and [%lx+%lx] overlap", map[i - 1].addr,
			      map[i - 1].size, r->addr, r->size);
		if (r->type != E820_RAM)
			continue;
		total += r->size;
		if (r->addr + r->size > max_end)
			max_end = r->addr + r->size;
		if (r->addr == 0 && r->size >= 0x9f000 && r->size <= 0xa0000)
			low_ok = true;
		if (r->addr == HIGH_START)
			high_start_ok = true;
		CHECK(7, !overlaps(r, 0xa0000, 0x100000),
		      "usable RAM [%lx+%lx] in the legacy hole 0xa0000-0xfffff", r->addr, r->size);
		CHECK(8, !overlaps(r, LOW_END_MAX, HIGH_START),
		      "usable RAM [%lx+%lx] in the 3-4 GiB MMIO hole", r->addr, r->size);
	}
	CHECK(9, low_ok, "no usable region [0, ~0x9fc00) of low RAM");

	u64 low_end = mem < LOW_END_MAX ? mem : LOW_END_MAX;
	u64 high_end = mem > LOW_END_MAX ? HIGH_START + (mem - LOW_END_MAX) : 0;
	u64 want_end = high_end ? high_end : low_end;
	u64 hole = 0x100000 - 0x9fc00;
	printf("e820: mem %lx, usable total %lx, highest usable end %lx (want %lx)\n", mem, total,
	       max_end, want_end);
	CHECK(10, max_end == want_end, "usable RAM ends at %lx, expected %lx for mem=%lx", max_end,
	      want_end, mem);
	CHECK(11, total <= mem - hole && total + 4 * MiB >= mem - hole,
	      "usable RAM totals %lx, expected about %lx for mem=%lx", total, mem - hole, mem);
	if (high_end)
		CHECK(12, high_start_ok, "no usable region starting at 4 GiB");

	/* Touch pages at the ends of RAM: write them all, then read them all. */
	u64 cand[] = {
		0x200000, low_end - 2 * MiB, low_end - 4096,
		HIGH_START, HIGH_START + 2 * MiB + 4096, high_end - 2 * MiB + 8, high_end - 4096,
	};
	u64 addrs[ARRAY_SIZE(cand)];
	u32 na = 0;
	for (u32 i = 0; i < ARRAY_SIZE(cand); i++) {
		u64 a = cand[i], len = (a & 4095) ? 8 : 4096;
		bool usable = false;
		for (u32 j = 0; j < n; j++)
			if (map[j].type == E820_RAM && a >= map[j].addr &&
			    a + len <= map[j].addr + map[j].size)
				usable = true;
		if (!usable || (a >= HIGH_START && !high_end))
			continue;
		for (u32 j = 0; j < na; j++) /* no two checks on the same page */
			if ((addrs[j] >> 12) == (a >> 12))
				usable = false;
		if (!usable)
			continue;
		if (a >= HIGH_START)
			CHECK(13, map_identity(a, len) == 0, "cannot map %lx above 4 GiB", a);
		addrs[na++] = a;
	}
	if (high_end)
		CHECK(16, addrs[na - 1] >= HIGH_START, "no RAM above 4 GiB to touch");
	for (u32 round = 0; round < 2; round++) {
		for (u32 i = 0; i < na; i++) {
			volatile u64 *p = (volatile u64 *)addrs[i];
			p[0] = pattern(addrs[i], round);
			if ((addrs[i] & 4095) == 0)
				p[511] = ~pattern(addrs[i], round);
		}
		for (u32 i = 0; i < na; i++) {
			volatile u64 *p = (volatile u64 *)addrs[i];
			u64 got = p[0];
			CHECK(14, got == pattern(addrs[i], round),
			      "memory at %lx reads back %lx, wrote %lx", addrs[i], got,
			      pattern(addrs[i], round));
			if ((addrs[i] & 4095) == 0)
				CHECK(15, p[511] == ~pattern(addrs[i], round),
				      "memory at %lx reads back wrong", addrs[i] + 4088);
		}
	}
	printf("e820: touched %u locations up to %lx\n", na, addrs[na - 1]);
	return 0;
}
