/* SPDX-License-Identifier: MIT */
/*
 * bench_idle: benchmark guest (bench/run.sh), not a test case. Prints its
 * banner and `idle` and halts with interrupts off, forever: the idle VM
 * whose host memory bench/run.sh reads. It touches only its own image.
 */
#include "runtime.h"

const char test_name[] = "bench_idle";

int test_main(struct boot_info *bi)
{
	(void)bi;
	printf("idle\n");
	for (;;) {
		cli();
		hlt();
	}
}
