/* SPDX-License-Identifier: MIT */
/* cmdline: prints the command line between markers; the harness compares. */
#include "runtime.h"

const char test_name[] = "cmdline";

int test_main(struct boot_info *bi)
{
	CHECK(3, bi->cmdline_addr != 0, "no command line pointer");
	size_t len = strnlen(bi->cmdline, 65536);
	CHECK(4, len < 65536, "command line at %lx is not NUL-terminated", bi->cmdline_addr);
	printf("cmdline at %lx, %lu bytes\n", bi->cmdline_addr, len);
	printf("CMDLINE<<%s>>\n", bi->cmdline);
	return 0;
}
