/* SPDX-License-Identifier: MIT */
/*
 * mkbzimage: host tool that wraps a test-guest ELF (linked at 0x100000,
 * 64-bit entry at +0x200) into a bzImage per the Linux x86 boot protocol:
 * a boot sector + setup sectors carrying the setup header, followed by the
 * protected-mode image (the ELF's PT_LOAD contents, flattened).
 *
 *   mkbzimage [-s SETUP_SECTS] [-c CMDLINE_SIZE] IN.elf OUT.bzImage
 *
 * -s 0 writes setup_sects = 0 (which the protocol reads as 4) and pads four
 * setup sectors.
 */
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <asm/bootparam.h>

#include "lib/bootparam.h"

#define BP_OFF(f) offsetof(struct boot_params, f)
_Static_assert(BP_OFF(acpi_rsdp_addr) == BP_ACPI_RSDP_ADDR, "acpi_rsdp_addr");
_Static_assert(BP_OFF(ext_ramdisk_image) == BP_EXT_RAMDISK_IMAGE, "ext_ramdisk_image");
_Static_assert(BP_OFF(ext_ramdisk_size) == BP_EXT_RAMDISK_SIZE, "ext_ramdisk_size");
_Static_assert(BP_OFF(ext_cmd_line_ptr) == BP_EXT_CMD_LINE_PTR, "ext_cmd_line_ptr");
_Static_assert(BP_OFF(e820_entries) == BP_E820_ENTRIES, "e820_entries");
_Static_assert(BP_OFF(hdr) == BP_HDR, "hdr");
_Static_assert(BP_OFF(e820_table) == BP_E820_TABLE, "e820_table");
_Static_assert(sizeof(struct boot_e820_entry) == BP_E820_ENTRY_SIZE, "e820 entry");
_Static_assert(BP_OFF(hdr.setup_sects) == HDR_SETUP_SECTS, "setup_sects");
_Static_assert(BP_OFF(hdr.syssize) == HDR_SYSSIZE, "syssize");
_Static_assert(BP_OFF(hdr.boot_flag) == HDR_BOOT_FLAG, "boot_flag");
_Static_assert(BP_OFF(hdr.jump) == HDR_JUMP, "jump");
_Static_assert(BP_OFF(hdr.header) == HDR_HEADER, "header");
_Static_assert(BP_OFF(hdr.version) == HDR_VERSION, "version");
_Static_assert(BP_OFF(hdr.type_of_loader) == HDR_TYPE_OF_LOADER, "type_of_loader");
_Static_assert(BP_OFF(hdr.loadflags) == HDR_LOADFLAGS, "loadflags");
_Static_assert(BP_OFF(hdr.code32_start) == HDR_CODE32_START, "code32_start");
_Static_assert(BP_OFF(hdr.ramdisk_image) == HDR_RAMDISK_IMAGE, "ramdisk_image");
_Static_assert(BP_OFF(hdr.ramdisk_size) == HDR_RAMDISK_SIZE, "ramdisk_size");
_Static_assert(BP_OFF(hdr.cmd_line_ptr) == HDR_CMD_LINE_PTR, "cmd_line_ptr");
_Static_assert(BP_OFF(hdr.initrd_addr_max) == HDR_INITRD_ADDR_MAX, "initrd_addr_max");
_Static_assert(BP_OFF(hdr.kernel_alignment) == HDR_KERNEL_ALIGNMENT, "kernel_alignment");
_Static_assert(BP_OFF(hdr.relocatable_kernel) == HDR_RELOCATABLE_KERNEL, "relocatable");
_Static_assert(BP_OFF(hdr.xloadflags) == HDR_XLOADFLAGS, "xloadflags");
_Static_assert(BP_OFF(hdr.cmdline_size) == HDR_CMDLINE_SIZE, "cmdline_size");
_Static_assert(BP_OFF(hdr.pref_address) == HDR_PREF_ADDRESS, "pref_address");
_Static_assert(BP_OFF(hdr.init_size) == HDR_INIT_SIZE, "init_size");
_Static_assert(BP_OFF(hdr.handover_offset) == HDR_HANDOVER_OFFSET, "handover_offset");

#define LOAD_ADDR 0x100000u

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "mkbzimage: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *buf = malloc(n > 0 ? n : 1);
	if (!buf || n <= 0 || fread(buf, 1, n, f) != (size_t)n)
		die("cannot read %s", path);
	fclose(f);
	*len = n;
	return buf;
}

static void put16(unsigned char *p, size_t off, uint16_t v) { memcpy(p + off, &v, 2); }
static void put32(unsigned char *p, size_t off, uint32_t v) { memcpy(p + off, &v, 4); }
static void put64(unsigned char *p, size_t off, uint64_t v) { memcpy(p + off, &v, 8); }

int main(int argc, char **argv)
{
	unsigned setup_sects = 1;
	unsigned long cmdline_size = 2047;
	int i = 1;

	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "-s"))
			setup_sects = strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "-c"))
			cmdline_size = strtoul(argv[i + 1], NULL, 0);
		else
			die("unknown option %s", argv[i]);
	}
	if (argc - i != 2 || setup_sects > 64) {
		fprintf(stderr, "usage: mkbzimage [-s SETUP_SECTS] [-c CMDLINE_SIZE] IN.elf OUT.bzImage\n");
		return 1;
	}
	const char *in = argv[i], *out = argv[i + 1];

	size_t elen;
	unsigned char *elf = read_file(in, &elen);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;
	if (elen < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != EM_X86_64)
		die("%s: not an x86-64 ELF64 file", in);
	if (eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > elen)
		die("%s: truncated program headers", in);

	uint64_t lo = UINT64_MAX, file_end = 0, mem_end = 0;
	Elf64_Phdr *ph = (Elf64_Phdr *)(elf + eh->e_phoff);
	for (int k = 0; k < eh->e_phnum; k++) {
		if (ph[k].p_type != PT_LOAD || !ph[k].p_memsz)
			continue;
		if (ph[k].p_offset + ph[k].p_filesz > elen)
			die("%s: segment beyond end of file", in);
		if (ph[k].p_paddr < lo)
			lo = ph[k].p_paddr;
		if (ph[k].p_paddr + ph[k].p_filesz > file_end)
			file_end = ph[k].p_paddr + ph[k].p_filesz;
		if (ph[k].p_paddr + ph[k].p_memsz > mem_end)
			mem_end = ph[k].p_paddr + ph[k].p_memsz;
	}
	if (lo != LOAD_ADDR)
		die("%s: image must start at 0x100000", in);
	size_t pm_len = file_end - lo;
	unsigned char *pm = calloc(1, pm_len);
	for (int k = 0; k < eh->e_phnum; k++)
		if (ph[k].p_type == PT_LOAD && ph[k].p_filesz)
			memcpy(pm + (ph[k].p_paddr - lo), elf + ph[k].p_offset, ph[k].p_filesz);

	unsigned nsect = setup_sects ? setup_sects : 4;
	size_t setup_len = (size_t)(nsect + 1) * 512;
	unsigned char *setup = calloc(1, setup_len);
	uint64_t init_size = (mem_end - lo + 4095) & ~4095ull;

	setup[HDR_SETUP_SECTS] = (unsigned char)setup_sects;
	put32(setup, HDR_SYSSIZE, (uint32_t)((pm_len + 15) / 16));
	put16(setup, HDR_BOOT_FLAG, BOOT_FLAG_MAGIC);
	setup[HDR_JUMP] = 0xeb; /* jmp short past the header */
	setup[HDR_JUMP + 1] = (unsigned char)(HDR_END - (HDR_JUMP + 2));
	put32(setup, HDR_HEADER, HDR_MAGIC);
	put16(setup, HDR_VERSION, 0x020f);
	setup[HDR_TYPE_OF_LOADER] = 0;
	setup[HDR_LOADFLAGS] = HDR_LOADED_HIGH;
	put32(setup, HDR_CODE32_START, LOAD_ADDR);
	put32(setup, HDR_INITRD_ADDR_MAX, 0x7fffffff);
	put32(setup, HDR_KERNEL_ALIGNMENT, 0x200000);
	setup[HDR_RELOCATABLE_KERNEL] = 0;
	put16(setup, HDR_XLOADFLAGS, HDR_XLF_KERNEL_64);
	put32(setup, HDR_CMDLINE_SIZE, (uint32_t)cmdline_size);
	put64(setup, HDR_PREF_ADDRESS, LOAD_ADDR);
	put32(setup, HDR_INIT_SIZE, (uint32_t)init_size);
	/* Something harmless where a BIOS would start executing the sector. */
	setup[0] = 0xfa; /* cli */
	setup[1] = 0xf4; /* hlt */
	setup[2] = 0xeb; /* jmp $-1 */
	setup[3] = 0xfd;

	FILE *f = fopen(out, "wb");
	if (!f)
		die("cannot create %s", out);
	if (fwrite(setup, 1, setup_len, f) != setup_len || fwrite(pm, 1, pm_len, f) != pm_len ||
	    fclose(f))
		die("write error on %s", out);
	free(setup);
	free(pm);
	free(elf);
	return 0;
}
