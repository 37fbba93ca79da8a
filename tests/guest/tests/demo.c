/* SPDX-License-Identifier: MIT */
/*
 * demo (`make run`): shows what the guest sees — command line, memory map,
 * CPUs (MADT, then started) — and resets the VM through the i8042.
 */
#include "runtime.h"

const char test_name[] = "demo";

int test_main(struct boot_info *bi)
{
	struct madt_info mi;

	printf("cmdline: \"%s\"\n", bi->cmdline);
	print_e820(bi);
	if (bi->initrd_size)
		printf("initramfs: %lu bytes at %lx\n", bi->initrd_size, bi->initrd_addr);
	if (acpi_parse_madt(bi, &mi) == 0) {
		printf("cpus: %u (from the ACPI MADT)\n", mi.nr_cpus);
		printf("cpus online: %u\n", smp_boot_aps(&mi));
	} else {
		printf("cpus: unknown (no usable MADT)\n");
	}
	printf("demo done, resetting through the i8042\n");
	outb(0x64, 0xfe);
	mdelay(3000);
	fail(3, "still running 3 s after the i8042 reset command");
}
