/* SPDX-License-Identifier: MIT */
/*
 * initrd: the initramfs must arrive intact: its size and POSIX cksum must
 * match initrd_size= and initrd_cksum= from the command line, and it must
 * lie in usable RAM, clear of the kernel image.
 */
#include "runtime.h"

const char test_name[] = "initrd";

extern char _image_start[], _end[];

int test_main(struct boot_info *bi)
{
	u64 want_size, want_sum;
	CHECK(3, cmdline_get_u64(bi->cmdline, "initrd_size", &want_size) &&
			 cmdline_get_u64(bi->cmdline, "initrd_cksum", &want_sum),
	      "initrd_size= / initrd_cksum= missing from the command line");
	u64 a = bi->initrd_addr, sz = bi->initrd_size;
	printf("initrd: addr %lx size %lu (%s)\n", a, sz, boot_protocol_name(bi->protocol));
	if (bi->protocol == BOOT_PVH)
		CHECK(4, bi->pvh_nr_modules == 1, "hvm_start_info has %u modules, expected 1",
		      bi->pvh_nr_modules);
	CHECK(5, a != 0 && sz != 0, "no initramfs in the boot information");
	CHECK(6, sz == want_size, "initramfs size %lu, expected %lu", sz, want_size);
	bool in_ram = false;
	for (u32 i = 0; i < bi->nr_e820; i++) {
		const struct mem_region *r = &bi->e820[i];
		if (r->type == E820_RAM && a >= r->addr && a + sz <= r->addr + r->size)
			in_ram = true;
	}
	CHECK(7, in_ram, "initramfs [%lx+%lx] is not inside one usable e820 region", a, sz);
	CHECK(8, a >= (u64)_end || a + sz <= (u64)_image_start,
	      "initramfs [%lx+%lx] overlaps the kernel image [%p-%p)", a, sz, _image_start, _end);
	if (bi->protocol == BOOT_LINUX64)
		CHECK(9, a + sz - 1 <= 0x7fffffffUL, "initramfs ends above initrd_addr_max");
	if (a & 4095)
		printf("warning: initramfs is not page aligned\n");
	if (a + sz > 4 * GiB)
		CHECK(10, map_identity(a, sz) == 0, "cannot map the initramfs");
	u32 sum = posix_cksum((const void *)a, sz);
	printf("initrd: cksum %u (expected %lu)\n", sum, want_sum);
	CHECK(11, sum == want_sum, "initramfs checksum %u, expected %lu", sum, want_sum);
	return 0;
}
