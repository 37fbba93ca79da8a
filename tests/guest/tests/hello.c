/* SPDX-License-Identifier: MIT */
/* hello: the smallest boot test. */
#include "runtime.h"

const char test_name[] = "hello";

int test_main(struct boot_info *bi)
{
	printf("hello from guest\n");
	CHECK(3, bi->initrd_size == 0 && bi->pvh_nr_modules == 0,
	      "no initramfs was given but the boot info reports one (addr %lx size %lx, %u modules)",
	      bi->initrd_addr, bi->initrd_size, bi->pvh_nr_modules);
	CHECK(4, bi->nr_e820 > 0, "empty memory map");
	return 0;
}
