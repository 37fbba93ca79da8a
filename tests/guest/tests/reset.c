/* SPDX-License-Identifier: MIT */
/* reset: an i8042 reset (0xfe to port 0x64) must end cvmm with status 0. */
#include "runtime.h"

const char test_name[] = "reset";

int test_main(struct boot_info *bi)
{
	(void)bi;
	printf("about to reset via i8042\n");
	outb(0x64, 0xfe);
	mdelay(3000);
	fail(3, "still running 3 s after the i8042 reset command");
}
