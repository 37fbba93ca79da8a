/* SPDX-License-Identifier: MIT */
/*
 * bench_mmio: benchmark guest (bench/run.sh), not a test case. `n=N` on the
 * command line: N one-byte writes to guest-physical `addr=A` (default
 * 0xd0000000: in the 32-bit PCI window, where nothing is mapped without
 * devices, so each write is a full MMIO exit to the VMM and its bus-miss
 * path), unrolled 16 at a time; nothing is printed in the loop.
 */
#include "runtime.h"

const char test_name[] = "bench_mmio";

int test_main(struct boot_info *bi)
{
	u64 n = 0, addr = 0xd0000000;
	cmdline_get_u64(bi->cmdline, "n", &n);
	cmdline_get_u64(bi->cmdline, "addr", &addr);
	volatile u8 *p = (volatile u8 *)addr;
	for (u64 i = n / 16; i; i--)
		__asm__ __volatile__(".rept 16\n\tmovb %%al, (%1)\n\t.endr" ::"a"(0), "r"(p) : "memory");
	for (u64 i = n % 16; i; i--)
		*p = 0;
	return 0;
}
