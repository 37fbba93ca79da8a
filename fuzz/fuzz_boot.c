/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the kernel loaders (src/arch/x86/boot.c) on malformed
 * images: kernel_parse() (bzImage setup header, ELF64 program headers, the
 * Xen PVH note), kernel_load() into guest memory, initrd_place(),
 * zero_page_build() and pvh_start_info_write().
 *
 * Input layout: the kernel image, then 8 parameter bytes at the very end
 * (so that a real image plus 8 bytes is a valid input):
 *   [-8..-7] RAM size for the e820 map: (v + 2) MiB (u16 LE)
 *   [-6..-5] initrd size in KiB (u16 LE; bit 15 set: size << 16 instead)
 *   [-4..-1] RAM top for initrd_place(): v * 4 KiB (u32 LE)
 * Inputs shorter than 8 bytes are all image.
 *
 * Guest memory: [0, 64 KiB) (PVH start info), [1 MiB, 5 MiB) (where small
 * kernels load) and [4 GiB, +64 KiB).
 *
 * Checked besides memory safety: a parsed image describes segments inside
 * the file (filesz <= memsz, no wrap, within [start, end)), an entry point
 * inside them (ELF) or at start + 0x200 (bzImage), nothing below 1 MiB
 * (ELF); kernel_load() copies the file bytes and zeroes the rest; the
 * initrd lands page-aligned, above the kernel, below RAM top and
 * initrd_addr_max; errors come with a NUL-terminated message.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "fuzz_common.h"

#define PARAM_LEN 8
#define LOW_SIZE 0x10000ULL
#define MID_GPA HIMEM_START
#define MID_SIZE (4ULL << 20)
#define HIGH_GPA HIGH_RAM_START
#define HIGH_SIZE 0x10000ULL

static struct guest_mem mem;
static uint8_t *low, *mid, *high;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_init();
	low = aligned_alloc(4096, LOW_SIZE);
	mid = aligned_alloc(4096, MID_SIZE);
	high = aligned_alloc(4096, HIGH_SIZE);
	if (!low || !mid || !high || guest_mem_add(&mem, 0, LOW_SIZE, low) ||
	    guest_mem_add(&mem, MID_GPA, MID_SIZE, mid) ||
	    guest_mem_add(&mem, HIGH_GPA, HIGH_SIZE, high))
		abort();
	return 0;
}

static void check_info(const struct kernel_info *ki, size_t len)
{
	FUZZ_CHECK(ki->nseg >= 1 && ki->nseg <= KERNEL_MAX_SEGMENTS);
	FUZZ_CHECK(ki->start <= ki->end);
	for (unsigned i = 0; i < ki->nseg; i++) {
		const struct kernel_segment *s = &ki->seg[i];
		FUZZ_CHECK(s->offset <= len && s->filesz <= len - s->offset);
		FUZZ_CHECK(s->filesz <= s->memsz);
		FUZZ_CHECK(s->paddr + s->memsz >= s->paddr);
		FUZZ_CHECK(s->paddr >= ki->start && s->paddr + s->memsz <= ki->end);
	}
	switch (ki->format) {
	case KERNEL_BZIMAGE:
		FUZZ_CHECK(ki->nseg == 1);
		FUZZ_CHECK(ki->hdr_len <= sizeof(ki->hdr));
		FUZZ_CHECK(ki->entry == ki->start + 0x200);
		FUZZ_CHECK(ki->seg[0].offset > 0);
		break;
	case KERNEL_ELF:
	case KERNEL_ELF_PVH:
		FUZZ_CHECK(ki->start >= HIMEM_START);
		FUZZ_CHECK(ki->entry >= ki->start && ki->entry < ki->end);
		break;
	default:
		FUZZ_CHECK(!"unknown format");
	}
	FUZZ_CHECK(strcmp(kernel_format_name(ki->format), "?") != 0);
}

static bool segs_disjoint(const struct kernel_info *ki)
{
	for (unsigned i = 0; i < ki->nseg; i++)
		for (unsigned j = i + 1; j < ki->nseg; j++) {
			const struct kernel_segment *a = &ki->seg[i], *b = &ki->seg[j];
			if (a->memsz && b->memsz && a->paddr < b->paddr + b->memsz &&
			    b->paddr < a->paddr + a->memsz)
				return false;
		}
	return true;
}

static void check_loaded(const struct kernel_info *ki, const uint8_t *img)
{
	for (unsigned i = 0; i < ki->nseg; i++) {
		const struct kernel_segment *s = &ki->seg[i];
		const uint8_t *p = guest_mem_ptr(&mem, s->paddr, s->memsz);
		FUZZ_CHECK(p != NULL);
		FUZZ_CHECK(memcmp(p, img + s->offset, s->filesz) == 0);
		uint64_t bss = s->memsz - s->filesz;
		FUZZ_CHECK(bss == 0 || (p[s->filesz] == 0 &&
					memcmp(p + s->filesz, p + s->filesz + 1,
					       bss - 1) == 0));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t ram_mib = 0, initrd_kib = 0;
	uint32_t top_pages = 0;
	size_t len = size;
	if (size >= PARAM_LEN) {
		struct fz p = { data + size - PARAM_LEN, PARAM_LEN };
		ram_mib = fz_u16(&p);
		initrd_kib = fz_u16(&p);
		top_pages = fz_u32(&p);
		len = size - PARAM_LEN;
	}
	/* The image in a buffer of its own size, so ASan sees any overread. */
	uint8_t *img = malloc(len ? len : 1);
	FUZZ_CHECK(img);
	memcpy(img, data, len);

	struct kernel_info ki;
	char err[128];
	err[0] = 'x';
	int r = kernel_parse(img, len, &ki, err, sizeof(err));
	if (r) {
		FUZZ_CHECK(r == -EINVAL || r == -ENOEXEC);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
		free(img);
		return 0;
	}
	check_info(&ki, len);

	r = kernel_load(&mem, img, len, &ki);
	FUZZ_CHECK(r == 0 || r == -EFAULT);
	if (r == 0 && segs_disjoint(&ki))
		check_loaded(&ki, img);

	uint64_t initrd = initrd_kib & 0x8000 ? (uint64_t)(initrd_kib & 0x7fff) << 16
					      : (uint64_t)initrd_kib << 10;
	uint64_t ram_top = (uint64_t)top_pages << 12;
	uint64_t addr = 0;
	if (initrd_place(&ki, ram_top, initrd, &addr) == 0) {
		FUZZ_CHECK((addr & 0xfff) == 0);
		FUZZ_CHECK(addr >= ki.end);
		FUZZ_CHECK(addr + initrd >= addr && addr + initrd <= ram_top);
		FUZZ_CHECK(addr + initrd - 1 <= ki.initrd_addr_max || initrd == 0);
	} else {
		addr = 0;
	}

	struct e820_map e820;
	if (e820_build(&e820, ((uint64_t)ram_mib + 2) << 20, ram_mib & 1) == 0) {
		struct boot_setup bs = {
			.cmdline_addr = CMDLINE_ADDR,
			.cmdline_len = ki.cmdline_max,
			.initrd_addr = addr,
			.initrd_size = addr ? initrd : 0,
			.rsdp_addr = ACPI_START,
			.e820 = &e820,
		};
		static struct boot_params bp;
		zero_page_build(&bp, &ki, &bs);
		FUZZ_CHECK(bp.e820_entries == e820.count);
		if (ki.format == KERNEL_BZIMAGE) {
			FUZZ_CHECK(bp.hdr.version == ki.hdr.version);
			FUZZ_CHECK(bp.hdr.type_of_loader == 0xff);
		}
		if (ki.format == KERNEL_ELF_PVH)
			FUZZ_CHECK(pvh_start_info_write(&mem, PVH_INFO_ADDR, &bs) == 0);
	}
	free(img);
	return 0;
}
