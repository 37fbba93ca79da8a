/* SPDX-License-Identifier: MIT */
/*
 * bench_exit: benchmark guest (bench/run.sh), not a test case. Returns at
 * once, so the run is: VMM start, the runtime's start-up (banner, page
 * tables, IDT), PASS, debug-exit. The baseline for bench_pio/bench_mmio.
 */
#include "runtime.h"

const char test_name[] = "bench_exit";

int test_main(struct boot_info *bi)
{
	(void)bi;
	return 0;
}
