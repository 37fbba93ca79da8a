/* SPDX-License-Identifier: MIT */
/*
 * bench_pio: benchmark guest (bench/run.sh), not a test case. `n=N` on the
 * command line: N `outb` to port `port=P` (default 0x2f0, which no device
 * claims: each write is a full PIO exit to the VMM and its bus-miss path),
 * unrolled 16 at a time; nothing is printed in the loop.
 */
#include "runtime.h"

const char test_name[] = "bench_pio";

int test_main(struct boot_info *bi)
{
	u64 n = 0, port = 0x2f0;
	cmdline_get_u64(bi->cmdline, "n", &n);
	cmdline_get_u64(bi->cmdline, "port", &port);
	for (u64 i = n / 16; i; i--)
		__asm__ __volatile__(".rept 16\n\toutb %%al, %%dx\n\t.endr" ::"a"(0), "d"((u16)port));
	for (u64 i = n % 16; i; i--)
		outb((u16)port, 0);
	return 0;
}
