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
 *
 * The setup sectors also carry real-mode setup code after the header: the
 * 16-bit entry that loaders such as QEMU's -kernel jump to (CS = setup
 * segment + 0x20, IP = 0, DS = ES = SS = setup segment). It does what the
 * 64-bit boot protocol asks of a loader: builds a fresh boot_params at
 * 0x1000 (the loaded setup header copied in; the E820 map from the BIOS,
 * int 0x15 AX = 0xe820, empty entries dropped), identity-maps the first GiB
 * with 2 MiB pages (PML4 0x2000, PDPT 0x3000, PD 0x4000), goes from real
 * mode straight to long mode (own GDT: 0x08 code64, 0x10 data) and jumps to
 * code32_start + 0x200 with RSI = 0x1000. Loaders that use the 64-bit entry
 * themselves (cvmm) never run it.
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

/*
 * The real-mode setup code (see the top of this file), assembled by the
 * host assembler into .rodata and copied into the image at HDR_END, where
 * the header's jump lands. Addresses inside it are setup-segment offsets
 * (SETUP_ORG + label - rs_start); the two that must be linear (GDT base,
 * far-jump target) get the segment base added at run time.
 */
#define STR_(x) #x
#define STR(x) STR_(x)
extern const unsigned char rs_start[], rs_end[];
__asm__(
	"	.pushsection .rodata.realmode, \"a\"\n"
	"	.set RS_ORG, " STR(HDR_END) "\n"
	"	.set RS_BP, 0x1000\n"		/* new boot_params */
	"	.set RS_PML4, 0x2000\n"
	"	.set RS_PDPT, 0x3000\n"
	"	.set RS_PD, 0x4000\n"
	"	.set RS_STACK_TOP, 0x6000\n"
	"	.globl rs_start, rs_end\n"
	"	.code16\n"
	"rs_start:\n"
	"	cli\n"
	"	cld\n"
	"	movw %cs, %ax\n"
	"	subw $0x20, %ax\n"
	"	movw %ax, %ds\n"		/* DS = setup segment (loaded header) */
	"	xorw %ax, %ax\n"
	"	movw %ax, %es\n"		/* ES = 0: absolute addresses */
	"	movw $RS_BP, %di\n"
	"	movw $(RS_PD + 0x1000 - RS_BP) / 2, %cx\n"
	"	rep stosw\n"			/* zero boot_params and the page tables */
	"	movw $" STR(BP_HDR) ", %si\n"
	"	movw $RS_BP + " STR(BP_HDR) ", %di\n"
	"	movzbw " STR(HDR_JUMP) " + 1, %cx\n"		/* the header ends at 0x202 + jump offset */
	"	addw $" STR(HDR_JUMP) " + 2 - " STR(BP_HDR) ", %cx\n"
	"	rep movsb\n"			/* copy the setup header */
	/* E820 from the BIOS, one entry at a time into a buffer in the setup
	 * segment, called as Linux's setup calls it: DS = ES = SS (qboot, QEMU
	 * microvm's firmware, relies on that), then copied to boot_params. */
	"	pushw %ds\n"
	"	popw %es\n"
	"	xorl %ebx, %ebx\n"
	"	xorw %bp, %bp\n"
	"1:	movl $0xe820, %eax\n"
	"	movl $" STR(BP_E820_ENTRY_SIZE) ", %ecx\n"
	"	movl $0x534d4150, %edx\n"	/* 'SMAP' */
	"	movl $RS_ORG + rs_e820buf - rs_start, %edi\n"
	"	int $0x15\n"
	"	jc 2f\n"
	"	cmpl $0x534d4150, %eax\n"
	"	jne 2f\n"
	"	movl RS_ORG + rs_e820buf + 8 - rs_start, %eax\n"
	"	orl RS_ORG + rs_e820buf + 12 - rs_start, %eax\n"
	"	jz 4f\n"			/* skip empty entries (qboot has one) */
	"	pushw %es\n"
	"	pushw $0\n"
	"	popw %es\n"
	"	imulw $" STR(BP_E820_ENTRY_SIZE) ", %bp, %di\n"
	"	addw $RS_BP + " STR(BP_E820_TABLE) ", %di\n"
	"	movw $RS_ORG + rs_e820buf - rs_start, %si\n"
	"	movw $" STR(BP_E820_ENTRY_SIZE) ", %cx\n"
	"	rep movsb\n"
	"	popw %es\n"
	"	incw %bp\n"
	"4:	testl %ebx, %ebx\n"
	"	jz 2f\n"
	"	cmpw $" STR(BP_E820_MAX) ", %bp\n"
	"	jb 1b\n"
	"2:	xorw %ax, %ax\n"
	"	movw %ax, %es\n"
	"	movw %bp, %ax\n"
	"	movb %al, %es:RS_BP + " STR(BP_E820_ENTRIES) "\n"
	"	movl $RS_PDPT + 3, %es:RS_PML4\n"
	"	movl $RS_PD + 3, %es:RS_PDPT\n"
	"	movw $RS_PD, %di\n"
	"	movl $0x83, %eax\n"		/* present, writable, 2 MiB */
	"	movw $512, %cx\n"
	"3:	movl %eax, %es:(%di)\n"
	"	addl $0x200000, %eax\n"
	"	addw $8, %di\n"
	"	loop 3b\n"
	"	xorl %eax, %eax\n"		/* linear base of the setup segment */
	"	movw %ds, %ax\n"
	"	shll $4, %eax\n"
	"	addl %eax, RS_ORG + rs_gdtr + 2 - rs_start\n"
	"	addl %eax, RS_ORG + rs_farptr - rs_start\n"
	"	lgdtl RS_ORG + rs_gdtr - rs_start\n"
	"	movl %cr4, %eax\n"
	"	orl $0x20, %eax\n"		/* CR4.PAE */
	"	movl %eax, %cr4\n"
	"	movl $RS_PML4, %eax\n"
	"	movl %eax, %cr3\n"
	"	movl $0xc0000080, %ecx\n"	/* EFER.LME */
	"	rdmsr\n"
	"	orl $0x100, %eax\n"
	"	wrmsr\n"
	"	movl %cr0, %eax\n"
	"	orl $0x80000001, %eax\n"	/* PG | PE at once: real -> long mode */
	"	movl %eax, %cr0\n"
	"	ljmpl *RS_ORG + rs_farptr - rs_start\n"
	"	.code64\n"
	"rs_start64:\n"
	"	movl $0x10, %eax\n"
	"	movl %eax, %ds\n"
	"	movl %eax, %es\n"
	"	movl %eax, %ss\n"
	"	movl %eax, %fs\n"
	"	movl %eax, %gs\n"
	"	movl $RS_STACK_TOP, %esp\n"
	"	movl $RS_BP, %esi\n"
	"	movl RS_BP + " STR(HDR_CODE32_START) ", %eax\n"
	"	addl $0x200, %eax\n"		/* the 64-bit entry */
	"	jmp *%rax\n"
	"	.balign 8\n"
	"rs_gdt:	.quad 0\n"
	"	.quad 0x00af9b000000ffff\n"	/* 0x08: 64-bit code */
	"	.quad 0x00cf93000000ffff\n"	/* 0x10: flat data */
	"rs_gdtr:	.word 23\n"
	"	.long RS_ORG + rs_gdt - rs_start\n"
	"rs_farptr:	.long RS_ORG + rs_start64 - rs_start\n"
	"	.word 0x08\n"
	"rs_e820buf:	.skip " STR(BP_E820_ENTRY_SIZE) "\n"
	"rs_end:\n"
	"	.popsection\n");

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
	/* The real-mode setup code, where the header's jump lands. */
	size_t rs_len = (size_t)(rs_end - rs_start);
	if (HDR_END + rs_len > setup_len)
		die("real-mode setup code does not fit in %s", "the setup sectors");
	memcpy(setup + HDR_END, rs_start, rs_len);
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
