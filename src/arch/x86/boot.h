/* SPDX-License-Identifier: MIT */
/*
 * Kernel image formats: bzImage (Linux boot protocol, 64-bit entry) and ELF
 * (vmlinux: PT_LOAD segments; PVH entry when a Xen PHYS32_ENTRY note is
 * present). Parsing is pure and bounds-checked against the file so that
 * truncated or malformed images give a clear error (unit-tested, fuzzed).
 */
#ifndef CVMM_ARCH_X86_BOOT_H
#define CVMM_ARCH_X86_BOOT_H

#include <asm/bootparam.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/e820.h"
#include "guest_mem.h"

enum kernel_format {
	KERNEL_BZIMAGE,
	KERNEL_ELF,     /* 64-bit boot protocol entry with a zero page */
	KERNEL_ELF_PVH, /* 32-bit PVH entry with hvm_start_info */
};

#define KERNEL_MAX_SEGMENTS 16
#define BZIMAGE_LOAD_DEFAULT 0x100000ULL

struct kernel_segment {
	uint64_t paddr;
	uint64_t offset; /* in the file */
	uint64_t filesz;
	uint64_t memsz;
};

struct kernel_info {
	enum kernel_format format;
	uint64_t entry;
	uint64_t start;	/* lowest guest address the kernel occupies */
	uint64_t end;	/* first guest address past it (incl. init_size) */
	unsigned nseg;
	struct kernel_segment seg[KERNEL_MAX_SEGMENTS];
	/* bzImage: the setup header as found in the file. */
	struct setup_header hdr;
	size_t hdr_len;
	uint64_t initrd_addr_max; /* highest byte an initrd may occupy */
	uint32_t cmdline_max;     /* longest cmdline the kernel accepts */
};

const char *kernel_format_name(enum kernel_format f);

/* Parses an image: 0, or -EINVAL / -ENOEXEC with a reason in err. */
int kernel_parse(const uint8_t *img, size_t len, struct kernel_info *ki,
		 char *err, size_t errlen);

/* Copies the segments into guest memory (zeroing bss): 0 or -EFAULT. */
int kernel_load(const struct guest_mem *mem, const uint8_t *img, size_t len,
		const struct kernel_info *ki);

/*
 * Picks the initrd address: the highest page-aligned spot below both
 * initrd_addr_max and `ram_top` that stays above the kernel. 0 or -ENOSPC.
 */
int initrd_place(const struct kernel_info *ki, uint64_t ram_top,
		 uint64_t size, uint64_t *addr);

struct boot_setup {
	uint64_t cmdline_addr;
	uint32_t cmdline_len; /* without the NUL */
	uint64_t initrd_addr;
	uint64_t initrd_size;
	uint64_t rsdp_addr;
	const struct e820_map *e820;
};

/* Fills the zero page (bzImage and plain ELF). */
void zero_page_build(struct boot_params *bp, const struct kernel_info *ki,
		     const struct boot_setup *bs);

/* Writes hvm_start_info + module list + memmap at `addr` in guest memory. */
int pvh_start_info_write(const struct guest_mem *mem, uint64_t addr,
			 const struct boot_setup *bs);

#define PVH_START_MAGIC 0x336ec578u
#define XEN_ELFNOTE_PHYS32_ENTRY 18

#endif
