/* SPDX-License-Identifier: MIT */
/*
 * Kernel images and boot structures, all on synthetic images built in
 * memory: bzImage setup-header parsing, ELF (plain and PVH) parsing,
 * malformed and truncated images of both kinds, random byte flips,
 * kernel_load into a guest_mem buffer, initrd placement, the zero page and
 * the PVH start info.
 *
 * Images are parsed from heap copies of exactly the length under test, so
 * that any read past the end shows up under ASan.
 */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/boot.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "guest_mem.h"
#include "acpi_walk.h"

#define MiB (1ULL << 20)

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static uint64_t rng_state = 0x243f6a8885a308d3ULL;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Parses a heap copy of exactly `len` bytes of img. */
static int parse_exact(const uint8_t *img, size_t len, struct kernel_info *ki,
		       char *err, size_t errlen)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, img, len);
	err[0] = '\0';
	int r = kernel_parse(copy, len, ki, err, errlen);
	free(copy);
	return r;
}

static int parse_img(const uint8_t *img, size_t len, struct kernel_info *ki)
{
	char err[256];
	int r = parse_exact(img, len, ki, err, sizeof(err));
	if (r)
		assert_true(strlen(err) > 0); /* every error has a reason */
	return r;
}

/* What must hold for any image kernel_parse accepted. */
static void check_consistent(const struct kernel_info *ki, size_t len)
{
	assert_true(ki->format == KERNEL_BZIMAGE || ki->format == KERNEL_ELF ||
		    ki->format == KERNEL_ELF_PVH);
	assert_true(ki->nseg >= 1 && ki->nseg <= KERNEL_MAX_SEGMENTS);
	assert_true(ki->start < ki->end);
	assert_true(ki->start >= HIMEM_START);
	assert_true(ki->entry >= ki->start);
	if (ki->format != KERNEL_BZIMAGE)
		assert_true(ki->entry < ki->end);
	for (unsigned i = 0; i < ki->nseg; i++) {
		const struct kernel_segment *s = &ki->seg[i];
		assert_true(s->offset <= len && s->filesz <= len - s->offset);
		assert_true(s->filesz <= s->memsz);
		assert_true(s->paddr + s->memsz >= s->paddr);
		assert_true(s->paddr >= ki->start);
		assert_true(s->paddr + s->memsz <= ki->end);
	}
	assert_true(ki->cmdline_max > 0);
	assert_true(ki->initrd_addr_max > 0);
	if (ki->format == KERNEL_BZIMAGE) {
		assert_int_equal(ki->nseg, 1);
		assert_true(ki->hdr_len <= sizeof(struct setup_header));
		assert_int_equal(ki->entry, ki->seg[0].paddr + 0x200);
	}
}

/* ------------------------------------------------------------------ */
/* bzImage builder                                                      */

#define BZ_PAYLOAD 0x3000
/* Header length that covers the whole struct setup_header (2.15). */
#define BZ_FULL_JUMP ((uint8_t)(0x1f1 + sizeof(struct setup_header) - 0x202))

struct bz_opts {
	uint8_t setup_sects;   /* as written to the file */
	uint16_t version;
	uint16_t xloadflags;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
	uint8_t jump;          /* byte at 0x201 */
	size_t payload;
};

static struct bz_opts bz_default(void)
{
	return (struct bz_opts){
		.setup_sects = 4,
		.version = 0x020f,
		.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G,
		.pref_address = 0x1000000,
		.init_size = 0x800000,
		.initrd_addr_max = 0x7fffffff,
		.cmdline_size = 2047,
		.jump = BZ_FULL_JUMP,
		.payload = BZ_PAYLOAD,
	};
}

/* Builds a bzImage into a new buffer; returns its length. */
static size_t bz_build(const struct bz_opts *o, uint8_t **out)
{
	unsigned sects = o->setup_sects ? o->setup_sects : 4;
	size_t setup_len = ((size_t)sects + 1) * 512;
	size_t len = setup_len + o->payload;
	if (len < 0x300)
		len = 0x300;
	uint8_t *img = calloc(1, len);
	assert_non_null(img);
	struct setup_header h;
	memset(&h, 0, sizeof(h));
	h.setup_sects = o->setup_sects;
	h.boot_flag = 0xaa55;
	h.jump = (uint16_t)(0xeb | (o->jump << 8));
	h.header = 0x53726448; /* "HdrS" */
	h.version = o->version;
	h.loadflags = LOADED_HIGH | CAN_USE_HEAP;
	h.code32_start = 0x100000;
	h.kernel_alignment = 0x200000;
	h.relocatable_kernel = 1;
	h.min_alignment = 21;
	h.xloadflags = o->xloadflags;
	h.cmdline_size = o->cmdline_size;
	h.initrd_addr_max = o->initrd_addr_max;
	h.pref_address = o->pref_address;
	h.init_size = o->init_size;
	h.handover_offset = 0x190;
	h.kernel_info_offset = 0x1234;
	memcpy(img + 0x1f1, &h, sizeof(h));
	/* A recognizable payload. */
	for (size_t i = setup_len; i < len; i++)
		img[i] = (uint8_t)(i * 7 + 3);
	*out = img;
	return len;
}

static void test_bz_valid(void **state)
{
	(void)state;
	struct bz_opts o = bz_default();
	uint8_t *img;
	size_t len = bz_build(&o, &img);
	struct kernel_info ki;
	assert_int_equal(parse_img(img, len, &ki), 0);
	check_consistent(&ki, len);
	assert_int_equal(ki.format, KERNEL_BZIMAGE);
	assert_string_equal(kernel_format_name(ki.format), "bzImage");
	assert_int_equal(ki.nseg, 1);
	assert_int_equal(ki.seg[0].offset, 5 * 512);
	assert_int_equal(ki.seg[0].paddr, 0x1000000);
	assert_int_equal(ki.seg[0].filesz, BZ_PAYLOAD);
	assert_int_equal(ki.seg[0].memsz, 0x800000);
	assert_int_equal(ki.start, 0x1000000);
	assert_int_equal(ki.end, 0x1000000 + 0x800000);
	assert_int_equal(ki.entry, 0x1000000 + 0x200);
	assert_int_equal(ki.initrd_addr_max, 0x7fffffff);
	assert_int_equal(ki.cmdline_max, 2047);
	assert_int_equal(ki.hdr_len, sizeof(struct setup_header));
	assert_memory_equal(&ki.hdr, img + 0x1f1, sizeof(struct setup_header));
	free(img);

	/* setup_sects 0 means 4; a different count moves the payload. */
	o = bz_default();
	o.setup_sects = 0;
	len = bz_build(&o, &img);
	assert_int_equal(parse_img(img, len, &ki), 0);
	assert_int_equal(ki.seg[0].offset, 5 * 512);
	assert_int_equal(ki.seg[0].filesz, len - 5 * 512);
	free(img);
	o = bz_default();
	o.setup_sects = 30;
	len = bz_build(&o, &img);
	assert_int_equal(parse_img(img, len, &ki), 0);
	assert_int_equal(ki.seg[0].offset, 31 * 512);
	assert_int_equal(ki.seg[0].filesz, BZ_PAYLOAD);
	free(img);

	/* init_size smaller than the payload: memsz is the payload. */
	o = bz_default();
	o.init_size = 0x100;
	len = bz_build(&o, &img);
	assert_int_equal(parse_img(img, len, &ki), 0);
	assert_int_equal(ki.seg[0].memsz, BZ_PAYLOAD);
	assert_int_equal(ki.end, ki.start + BZ_PAYLOAD);
	free(img);

	/* Defaults for zero initrd_addr_max / cmdline_size. */
	o = bz_default();
	o.initrd_addr_max = 0;
	o.cmdline_size = 0;
	len = bz_build(&o, &img);
	assert_int_equal(parse_img(img, len, &ki), 0);
	assert_int_equal(ki.initrd_addr_max, 0x37ffffff);
	assert_int_equal(ki.cmdline_max, 255);
	free(img);
}

static void test_bz_pref_address(void **state)
{
	(void)state;
	static const struct {
		uint64_t pref;
		uint64_t load;
	} cases[] = {
		{ 0x1000000, 0x1000000 },
		{ HIMEM_START, HIMEM_START },
		{ 0x200000, 0x200000 },
		{ HIMEM_START - 0x1000, BZIMAGE_LOAD_DEFAULT }, /* below 1 MiB */
		{ 0, BZIMAGE_LOAD_DEFAULT },
		{ MMIO32_START, BZIMAGE_LOAD_DEFAULT },        /* in the hole */
		{ 0x10000000, 0x10000000 },
		{ 0x100000000ULL, BZIMAGE_LOAD_DEFAULT },
		{ UINT64_MAX, BZIMAGE_LOAD_DEFAULT },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bz_opts o = bz_default();
		o.pref_address = cases[i].pref;
		uint8_t *img;
		size_t len = bz_build(&o, &img);
		struct kernel_info ki;
		assert_int_equal(parse_img(img, len, &ki), 0);
		if (ki.start != cases[i].load)
			fail_msg("pref 0x%llx: loads at 0x%llx, want 0x%llx",
				 (unsigned long long)cases[i].pref,
				 (unsigned long long)ki.start,
				 (unsigned long long)cases[i].load);
		assert_int_equal(ki.seg[0].paddr, cases[i].load);
		assert_int_equal(ki.entry, cases[i].load + 0x200);
		assert_int_equal(ki.end, cases[i].load + 0x800000);
		free(img);
	}
	/* Before 2.10 there is no pref_address / init_size. */
	struct bz_opts o = bz_default();
	o.version = 0x0209;
	uint8_t *img;
	size_t len = bz_build(&o, &img);
	struct kernel_info ki;
	assert_int_equal(parse_img(img, len, &ki), 0);
	assert_int_equal(ki.start, BZIMAGE_LOAD_DEFAULT);
	assert_int_equal(ki.seg[0].memsz, BZ_PAYLOAD);
	free(img);
}

static void test_bz_header_length(void **state)
{
	(void)state;
	struct kernel_info ki;
	uint8_t *img;
	size_t len;
	/* A header that ends right after xloadflags (2.12 style): the fields
	 * past it (cmdline_size, pref_address, init_size) are not read even
	 * though the file has bytes there. */
	struct bz_opts o = bz_default();
	size_t xl_end = 0x1f1 + offsetof(struct setup_header, xloadflags) + 2;
	o.jump = (uint8_t)(xl_end - 0x202);
	len = bz_build(&o, &img);
	assert_int_equal(parse_img(img, len, &ki), 0);
	assert_int_equal(ki.hdr_len, xl_end - 0x1f1);
	assert_int_equal(ki.start, BZIMAGE_LOAD_DEFAULT);
	assert_int_equal(ki.seg[0].memsz, BZ_PAYLOAD);
	assert_int_equal(ki.cmdline_max, 255);
	assert_int_equal(ki.initrd_addr_max, 0x7fffffff);
	assert_int_equal(ki.hdr.pref_address, 0);
	assert_int_equal(ki.hdr.init_size, 0);
	free(img);
	/* One byte short of xloadflags: no 64-bit entry. */
	o.jump = (uint8_t)(xl_end - 1 - 0x202);
	len = bz_build(&o, &img);
	assert_int_equal(parse_img(img, len, &ki), -ENOEXEC);
	free(img);
	/* A header too short to hold the version. */
	o.jump = 0;
	len = bz_build(&o, &img);
	assert_int_equal(parse_img(img, len, &ki), -ENOEXEC);
	free(img);
	/* A header length beyond the struct is clamped. */
	o = bz_default();
	o.jump = 0xff;
	len = bz_build(&o, &img);
	assert_int_equal(parse_img(img, len, &ki), 0);
	assert_int_equal(ki.hdr_len, sizeof(struct setup_header));
	assert_int_equal(ki.start, 0x1000000);
	free(img);
}

static void test_bz_bad(void **state)
{
	(void)state;
	struct kernel_info ki;
	char err[256];
	uint8_t *img;
	struct bz_opts o = bz_default();
	size_t len = bz_build(&o, &img);

	/* Bad boot flag (each byte, and byte-swapped). */
	assert_int_equal(parse_img(img, len, &ki), 0);
	img[0x1fe] = 0x00;
	assert_int_equal(parse_exact(img, len, &ki, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "bzImage"));
	img[0x1fe] = 0x55;
	img[0x1ff] = 0x00;
	assert_int_equal(parse_img(img, len, &ki), -ENOEXEC);
	img[0x1fe] = 0xaa;
	img[0x1ff] = 0x55;
	assert_int_equal(parse_img(img, len, &ki), -ENOEXEC);
	img[0x1fe] = 0x55;
	img[0x1ff] = 0xaa;
	assert_int_equal(parse_img(img, len, &ki), 0);
	free(img);

	len = bz_build(&o, &img);
	assert_int_equal(parse_img(img, len, &ki), 0);
	img[0x205] = 'X'; /* "HdrX" */
	assert_int_equal(parse_img(img, len, &ki), -ENOEXEC);
	free(img);

	/* Old protocol versions. */
	const uint16_t old[] = { 0x0000, 0x0100, 0x0204, 0x0205 };
	for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++) {
		o = bz_default();
		o.version = old[i];
		len = bz_build(&o, &img);
		assert_int_equal(parse_exact(img, len, &ki, err, sizeof(err)), -ENOEXEC);
		assert_non_null(strstr(err, "too old"));
		free(img);
	}
	o = bz_default();
	o.version = 0x0206;
	len = bz_build(&o, &img);
	assert_int_equal(parse_img(img, len, &ki), 0);
	free(img);

	/* No 64-bit entry point. */
	o = bz_default();
	o.xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G | XLF_EFI_HANDOVER_64;
	len = bz_build(&o, &img);
	assert_int_equal(parse_exact(img, len, &ki, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "XLF_KERNEL_64"));
	free(img);

	/* setup_sects pointing past the end of the file, or exactly at it
	 * (no protected-mode part at all). */
	o = bz_default();
	len = bz_build(&o, &img);
	const uint8_t sects[] = { 200, 255, (uint8_t)(len / 512 - 1) };
	for (size_t i = 0; i < sizeof(sects) / sizeof(sects[0]); i++) {
		img[0x1f1] = sects[i];
		if (((size_t)sects[i] + 1) * 512 < len)
			continue;
		assert_int_equal(parse_exact(img, len, &ki, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "truncated"));
	}
	img[0x1f1] = 4;
	assert_int_equal(parse_img(img, 5 * 512, &ki), -EINVAL);
	assert_int_equal(parse_img(img, 5 * 512 + 1, &ki), 0);
	assert_int_equal(ki.seg[0].filesz, 1);
	free(img);

	/* Neither format: empty, tiny, text. */
	const char text[] = "127.0.0.1 localhost\n";
	assert_int_equal(parse_img((const uint8_t *)text, sizeof(text) - 1, &ki), -ENOEXEC);
	assert_int_equal(parse_img((const uint8_t *)"", 0, &ki), -ENOEXEC);
	uint8_t zeros[0x1000] = { 0 };
	assert_int_equal(parse_img(zeros, sizeof(zeros), &ki), -ENOEXEC);
}

static void test_bz_truncated(void **state)
{
	(void)state;
	struct bz_opts o = bz_default();
	uint8_t *img;
	size_t full = bz_build(&o, &img);
	const size_t pm_off = 5 * 512;
	const size_t hdr_end = 0x1f1 + sizeof(struct setup_header);
	for (size_t len = 0; len <= full; len++) {
		struct kernel_info ki;
		int r = parse_img(img, len, &ki);
		if (len < 0x206) {
			assert_int_equal(r, -ENOEXEC);
		} else if (len < hdr_end) {
			assert_int_equal(r, -EINVAL); /* inside the setup header */
		} else if (len <= pm_off) {
			assert_int_equal(r, -EINVAL); /* no protected-mode part */
		} else {
			if (r != 0)
				fail_msg("length %zu: %d", len, r);
			check_consistent(&ki, len);
			assert_int_equal(ki.seg[0].offset, pm_off);
			assert_int_equal(ki.seg[0].filesz, len - pm_off);
			assert_int_equal(ki.seg[0].memsz, 0x800000);
			assert_int_equal(ki.entry, 0x1000200);
		}
	}
	free(img);
}

/* ------------------------------------------------------------------ */
/* ELF builder                                                          */

#define ELF_LEN 0x5000
#define SEG0_VADDR 0xffffffff81000000ULL
#define SEG0_PADDR 0x1000000ULL
#define SEG1_VADDR 0xffffffff82000000ULL
#define SEG1_PADDR 0x2000000ULL
#define NOTE_OFF 0x4000

struct elf_img {
	uint8_t *buf;
	size_t len;
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;
};

static void elf_refresh(struct elf_img *e)
{
	e->eh = (Elf64_Ehdr *)e->buf;
	e->ph = (Elf64_Phdr *)(e->buf + 0x40);
}

/* Appends one note at *off; returns the next offset. */
static size_t put_note(uint8_t *buf, size_t off, const char *name, uint32_t namesz,
		       uint32_t type, const void *desc, uint32_t descsz)
{
	Elf64_Nhdr nh = { .n_namesz = namesz, .n_descsz = descsz, .n_type = type };
	memcpy(buf + off, &nh, sizeof(nh));
	off += sizeof(nh);
	memcpy(buf + off, name, namesz);
	off += (namesz + 3) & ~3u;
	memcpy(buf + off, desc, descsz);
	off += (descsz + 3) & ~3u;
	return off;
}

/*
 * A vmlinux-like image: two PT_LOADs at virtual 0xffffffff8x000000 /
 * physical 0x1000000 and 0x2000000 (the first with bss), plus, when pvh_desc
 * is 4 or 8, a PT_NOTE with a GNU note, an unrelated Xen note, then the
 * PHYS32_ENTRY note with entry 0x1000040.
 */
static void elf_build(struct elf_img *e, unsigned pvh_desc)
{
	e->len = ELF_LEN;
	e->buf = calloc(1, e->len);
	assert_non_null(e->buf);
	elf_refresh(e);
	Elf64_Ehdr *eh = e->eh;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = SEG0_VADDR + 0x100;
	eh->e_phoff = 0x40;
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 2;
	e->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X,
		.p_offset = 0x1000, .p_vaddr = SEG0_VADDR, .p_paddr = SEG0_PADDR,
		.p_filesz = 0x2000, .p_memsz = 0x3000, .p_align = 0x1000 };
	e->ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W,
		.p_offset = 0x3000, .p_vaddr = SEG1_VADDR, .p_paddr = SEG1_PADDR,
		.p_filesz = 0x1000, .p_memsz = 0x1000, .p_align = 0x1000 };
	for (size_t i = 0x1000; i < 0x4000; i++)
		e->buf[i] = (uint8_t)(i * 13 + 1);
	if (pvh_desc) {
		const uint8_t build_id[20] = { 1, 2, 3, 4, 5 };
		const uint64_t other = 0xffffffff81000000ULL;
		uint64_t entry = SEG0_PADDR + 0x40;
		size_t off = NOTE_OFF;
		off = put_note(e->buf, off, "GNU", 4, NT_GNU_BUILD_ID, build_id, 20);
		off = put_note(e->buf, off, "Xen", 4, 1 /* XEN_ELFNOTE_ENTRY */, &other, 8);
		off = put_note(e->buf, off, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, &entry,
			       pvh_desc);
		e->ph[2] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_flags = PF_R,
			.p_offset = NOTE_OFF, .p_vaddr = 0, .p_paddr = 0,
			.p_filesz = off - NOTE_OFF, .p_memsz = off - NOTE_OFF,
			.p_align = 4 };
		eh->e_phnum = 3;
	}
}

static void elf_free(struct elf_img *e)
{
	free(e->buf);
	e->buf = NULL;
}

static void test_elf_plain(void **state)
{
	(void)state;
	struct elf_img e;
	elf_build(&e, 0);
	struct kernel_info ki;
	assert_int_equal(parse_img(e.buf, e.len, &ki), 0);
	check_consistent(&ki, e.len);
	assert_int_equal(ki.format, KERNEL_ELF);
	assert_string_equal(kernel_format_name(ki.format), "ELF");
	/* Virtual entry translated through the segment that holds it. */
	assert_int_equal(ki.entry, SEG0_PADDR + 0x100);
	assert_int_equal(ki.nseg, 2);
	assert_int_equal(ki.seg[0].paddr, SEG0_PADDR);
	assert_int_equal(ki.seg[0].offset, 0x1000);
	assert_int_equal(ki.seg[0].filesz, 0x2000);
	assert_int_equal(ki.seg[0].memsz, 0x3000);
	assert_int_equal(ki.seg[1].paddr, SEG1_PADDR);
	assert_int_equal(ki.start, SEG0_PADDR);
	assert_int_equal(ki.end, SEG1_PADDR + 0x1000);
	assert_int_equal(ki.initrd_addr_max, MMIO32_START - 1);
	assert_int_equal(ki.cmdline_max, CMDLINE_MAX - 1);

	/* Entry in the second segment. */
	e.eh->e_entry = SEG1_VADDR + 0x10;
	assert_int_equal(parse_img(e.buf, e.len, &ki), 0);
	assert_int_equal(ki.entry, SEG1_PADDR + 0x10);
	/* Entry in the first segment's bss. */
	e.eh->e_entry = SEG0_VADDR + 0x2800;
	assert_int_equal(parse_img(e.buf, e.len, &ki), 0);
	assert_int_equal(ki.entry, SEG0_PADDR + 0x2800);
	/* An entry already physical (matches no vaddr): used as is. */
	e.eh->e_entry = SEG0_PADDR + 0x200;
	assert_int_equal(parse_img(e.buf, e.len, &ki), 0);
	assert_int_equal(ki.entry, SEG0_PADDR + 0x200);
	/* Identity-mapped segments. */
	e.ph[0].p_vaddr = SEG0_PADDR;
	e.ph[1].p_vaddr = SEG1_PADDR;
	e.eh->e_entry = SEG1_PADDR + 0x20;
	assert_int_equal(parse_img(e.buf, e.len, &ki), 0);
	assert_int_equal(ki.entry, SEG1_PADDR + 0x20);
	elf_free(&e);

	/* Segments in reverse order; PT_LOADs with memsz 0 and other program
	 * headers are skipped. */
	elf_build(&e, 0);
	Elf64_Phdr p0 = e.ph[0];
	e.ph[0] = e.ph[1];
	e.ph[1] = p0;
	e.ph[2] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x100,
				.p_paddr = 0x100, .p_filesz = 0, .p_memsz = 0 };
	e.ph[3] = (Elf64_Phdr){ .p_type = PT_GNU_STACK, .p_paddr = 0,
				.p_memsz = 0x1000 };
	e.eh->e_phnum = 4;
	assert_int_equal(parse_img(e.buf, e.len, &ki), 0);
	assert_int_equal(ki.nseg, 2);
	assert_int_equal(ki.start, SEG0_PADDR);
	assert_int_equal(ki.end, SEG1_PADDR + 0x1000);
	assert_int_equal(ki.entry, SEG0_PADDR + 0x100);
	elf_free(&e);
}

static void test_elf_pvh(void **state)
{
	(void)state;
	const unsigned descs[] = { 4, 8 };
	for (size_t i = 0; i < 2; i++) {
		struct elf_img e;
		elf_build(&e, descs[i]);
		struct kernel_info ki;
		assert_int_equal(parse_img(e.buf, e.len, &ki), 0);
		check_consistent(&ki, e.len);
		assert_int_equal(ki.format, KERNEL_ELF_PVH);
		assert_string_equal(kernel_format_name(ki.format), "ELF (PVH)");
		assert_int_equal(ki.entry, SEG0_PADDR + 0x40);
		assert_int_equal(ki.nseg, 2);
		elf_free(&e);
	}

	/* The note segment listed before the loads works too. */
	struct elf_img e;
	elf_build(&e, 4);
	Elf64_Phdr n = e.ph[2];
	e.ph[2] = e.ph[0];
	e.ph[0] = n;
	struct kernel_info ki;
	assert_int_equal(parse_img(e.buf, e.len, &ki), 0);
	assert_int_equal(ki.format, KERNEL_ELF_PVH);
	assert_int_equal(ki.entry, SEG0_PADDR + 0x40);
	elf_free(&e);

	/* A PHYS32_ENTRY type under another name, or a 3-byte "Xen" name, is
	 * not the PVH note. */
	elf_build(&e, 0);
	uint32_t entry32 = SEG0_PADDR + 0x40;
	size_t end = put_note(e.buf, NOTE_OFF, "Xyz", 4, XEN_ELFNOTE_PHYS32_ENTRY,
			      &entry32, 4);
	end = put_note(e.buf, end, "Xen", 3, XEN_ELFNOTE_PHYS32_ENTRY, &entry32, 4);
	e.ph[2] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = NOTE_OFF,
				.p_filesz = end - NOTE_OFF };
	e.eh->e_phnum = 3;
	assert_int_equal(parse_img(e.buf, e.len, &ki), 0);
	assert_int_equal(ki.format, KERNEL_ELF);
	assert_int_equal(ki.entry, SEG0_PADDR + 0x100);
	/* An empty note segment is fine. */
	e.ph[2].p_filesz = 0;
	assert_int_equal(parse_img(e.buf, e.len, &ki), 0);
	assert_int_equal(ki.format, KERNEL_ELF);
	elf_free(&e);

	/* The PVH entry must lie inside the kernel. */
	elf_build(&e, 4);
	uint32_t bad_entry = 0x500000;
	put_note(e.buf, NOTE_OFF + 16 + 20 + 16 + 8, "Xen", 4,
		 XEN_ELFNOTE_PHYS32_ENTRY, &bad_entry, 4);
	char err[256];
	assert_int_equal(parse_exact(e.buf, e.len, &ki, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "entry"));
	elf_free(&e);

	/* A PHYS32_ENTRY note whose desc is neither 4 nor 8 bytes. */
	elf_build(&e, 4);
	uint64_t ent = SEG0_PADDR + 0x40;
	end = put_note(e.buf, NOTE_OFF, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, &ent, 2);
	e.ph[2].p_filesz = end - NOTE_OFF;
	assert_int_equal(parse_img(e.buf, e.len, &ki), -EINVAL);
	const uint64_t ent12[2] = { SEG0_PADDR + 0x40, 0 };
	end = put_note(e.buf, NOTE_OFF, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, ent12, 12);
	e.ph[2].p_filesz = end - NOTE_OFF;
	assert_int_equal(parse_img(e.buf, e.len, &ki), -EINVAL);
	end = put_note(e.buf, NOTE_OFF, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, ent12, 0);
	e.ph[2].p_filesz = end - NOTE_OFF;
	assert_int_equal(parse_img(e.buf, e.len, &ki), -EINVAL);
	elf_free(&e);
}

static void test_elf_bad_header(void **state)
{
	(void)state;
	struct elf_img e;
	struct kernel_info ki;
	char err[256];
#define EXPECT(ret, mutate)                                                    \
	do {                                                                   \
		elf_build(&e, 4);                                              \
		mutate;                                                        \
		int r_ = parse_exact(e.buf, e.len, &ki, err, sizeof(err));     \
		if (r_ != (ret))                                               \
			fail_msg("%s: got %d (%s), want %d", #mutate, r_, err, \
				 (ret));                                       \
		assert_true(r_ == 0 || strlen(err) > 0);                       \
		elf_free(&e);                                                  \
	} while (0)

	EXPECT(-ENOEXEC, e.eh->e_ident[EI_CLASS] = ELFCLASS32);
	EXPECT(-ENOEXEC, e.eh->e_ident[EI_CLASS] = ELFCLASSNONE);
	EXPECT(-ENOEXEC, e.eh->e_ident[EI_DATA] = ELFDATA2MSB);
	EXPECT(-ENOEXEC, e.eh->e_machine = EM_386);
	EXPECT(-ENOEXEC, e.eh->e_machine = EM_AARCH64);
	EXPECT(-ENOEXEC, e.eh->e_type = ET_DYN);
	EXPECT(-ENOEXEC, e.eh->e_type = ET_REL);
	EXPECT(-ENOEXEC, e.eh->e_type = ET_CORE);
	/* Program headers: wrong entry size, none, out of the file. */
	EXPECT(-EINVAL, e.eh->e_phentsize = sizeof(Elf64_Phdr) - 1);
	EXPECT(-EINVAL, e.eh->e_phentsize = sizeof(Elf32_Phdr));
	EXPECT(-EINVAL, e.eh->e_phnum = 0);
	EXPECT(-EINVAL, e.eh->e_phoff = ELF_LEN);
	EXPECT(-EINVAL, e.eh->e_phoff = ELF_LEN - sizeof(Elf64_Phdr) * 3 + 1);
	EXPECT(-EINVAL, e.eh->e_phoff = UINT64_MAX);
	EXPECT(-EINVAL, e.eh->e_phoff = UINT64_MAX - 0x10);
	EXPECT(-EINVAL, e.eh->e_phnum = 0xffff);
	/* Exactly at the end of the file is fine. */
	EXPECT(0, memmove(e.buf + ELF_LEN - 3 * sizeof(Elf64_Phdr), e.ph,
			  3 * sizeof(Elf64_Phdr));
	       e.eh->e_phoff = ELF_LEN - 3 * sizeof(Elf64_Phdr));
#undef EXPECT
	/* ELF header truncated: short files with the magic. */
	elf_build(&e, 0);
	for (size_t len = 4; len < sizeof(Elf64_Ehdr); len++)
		assert_int_equal(parse_img(e.buf, len, &ki), -EINVAL);
	elf_free(&e);
}

static void test_elf_bad_segments(void **state)
{
	(void)state;
	struct elf_img e;
	struct kernel_info ki;
	char err[256];
#define EXPECT(ret, mutate)                                                    \
	do {                                                                   \
		elf_build(&e, 4);                                              \
		mutate;                                                        \
		int r_ = parse_exact(e.buf, e.len, &ki, err, sizeof(err));     \
		if (r_ != (ret))                                               \
			fail_msg("%s: got %d (%s), want %d", #mutate, r_, err, \
				 (ret));                                       \
		elf_free(&e);                                                  \
	} while (0)

	/* Segment data out of the file. */
	EXPECT(-EINVAL, e.ph[1].p_offset = ELF_LEN - 0x800);
	EXPECT(-EINVAL, e.ph[1].p_offset = ELF_LEN + 1);
	EXPECT(-EINVAL, e.ph[1].p_filesz = ELF_LEN);
	EXPECT(-EINVAL, e.ph[0].p_offset = UINT64_MAX);
	EXPECT(-EINVAL, (e.ph[0].p_offset = 0x10, e.ph[0].p_filesz = UINT64_MAX - 0xf,
			 e.ph[0].p_memsz = UINT64_MAX - 0xf));
	EXPECT(0, (e.ph[1].p_offset = ELF_LEN - 0x1000)); /* exactly at the end */
	/* filesz > memsz. */
	EXPECT(-EINVAL, e.ph[1].p_memsz = 0xfff);
	/* paddr + memsz overflowing. */
	EXPECT(-EINVAL, (e.ph[1].p_paddr = UINT64_MAX - 0x800));
	EXPECT(-EINVAL, (e.ph[1].p_memsz = UINT64_MAX));
	/* Loading below 1 MiB. */
	EXPECT(-ENOEXEC, e.ph[1].p_paddr = 0x80000);
	EXPECT(-ENOEXEC, e.ph[1].p_paddr = 0);
	EXPECT(-ENOEXEC, e.ph[0].p_paddr = HIMEM_START - 0x1000);
	EXPECT(0, (e.ph[0].p_paddr = HIMEM_START, e.eh->e_entry = SEG1_VADDR));
	/* Entry outside the segments. */
	EXPECT(-ENOEXEC, (e.eh->e_phnum = 2, e.eh->e_entry = 0x500000));
	EXPECT(-ENOEXEC, (e.eh->e_phnum = 2, e.eh->e_entry = SEG1_PADDR + 0x1000));
	EXPECT(-ENOEXEC, (e.eh->e_phnum = 2, e.eh->e_entry = 0));
	EXPECT(-ENOEXEC, (e.eh->e_phnum = 2, e.eh->e_entry = UINT64_MAX));
	/* No loadable segment at all. */
	EXPECT(-ENOEXEC, (e.ph[0].p_type = PT_NULL, e.ph[1].p_type = PT_DYNAMIC));
	EXPECT(-ENOEXEC, (e.ph[0].p_memsz = 0, e.ph[0].p_filesz = 0,
			  e.ph[1].p_memsz = 0, e.ph[1].p_filesz = 0));
	/* Note segment out of the file, or notes running past it. */
	EXPECT(-EINVAL, e.ph[2].p_offset = ELF_LEN);
	EXPECT(-EINVAL, e.ph[2].p_filesz = ELF_LEN);
	EXPECT(-EINVAL, e.ph[2].p_offset = UINT64_MAX - 4);
	/* namesz of the first note huge / just past the segment. */
	EXPECT(-EINVAL, ((Elf64_Nhdr *)(e.buf + NOTE_OFF))->n_namesz = 0xffffffff);
	EXPECT(-EINVAL, ((Elf64_Nhdr *)(e.buf + NOTE_OFF))->n_namesz = 0x1000);
	EXPECT(-EINVAL, ((Elf64_Nhdr *)(e.buf + NOTE_OFF))->n_descsz = 0xffffffff);
	EXPECT(-EINVAL, ((Elf64_Nhdr *)(e.buf + NOTE_OFF))->n_descsz = 0xfffffffd);
	/* The segment cut one byte short of the PVH note's desc. */
	EXPECT(-EINVAL, e.ph[2].p_filesz -= 1);
	EXPECT(-EINVAL, e.ph[2].p_filesz -= 4);
	/* Padding after the notes is ignored, also when the PVH note is not
	 * there and the walk reaches it (a partial note header). */
	EXPECT(0, e.ph[2].p_filesz += 8);
	EXPECT(0, (((Elf64_Nhdr *)(e.buf + NOTE_OFF + 60))->n_type = 17,
		   e.ph[2].p_filesz += 8));
	EXPECT(0, (((Elf64_Nhdr *)(e.buf + NOTE_OFF + 60))->n_type = 17,
		   e.ph[2].p_filesz += 11));
#undef EXPECT
}

static void test_elf_segment_count(void **state)
{
	(void)state;
	for (unsigned n = 1; n <= KERNEL_MAX_SEGMENTS + 2; n++) {
		size_t phoff = 0x40, data = 0x1000;
		size_t len = data + n * 0x100;
		uint8_t *buf = calloc(1, len);
		assert_non_null(buf);
		Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
		memcpy(eh->e_ident, ELFMAG, SELFMAG);
		eh->e_ident[EI_CLASS] = ELFCLASS64;
		eh->e_ident[EI_DATA] = ELFDATA2LSB;
		eh->e_type = ET_EXEC;
		eh->e_machine = EM_X86_64;
		eh->e_entry = 0x1000000;
		eh->e_phoff = phoff;
		eh->e_phentsize = sizeof(Elf64_Phdr);
		eh->e_phnum = (uint16_t)n;
		assert_true(phoff + n * sizeof(Elf64_Phdr) <= data);
		Elf64_Phdr *ph = (Elf64_Phdr *)(buf + phoff);
		for (unsigned i = 0; i < n; i++)
			ph[i] = (Elf64_Phdr){ .p_type = PT_LOAD,
				.p_offset = data + i * 0x100,
				.p_vaddr = 0x1000000 + i * 0x1000ULL,
				.p_paddr = 0x1000000 + i * 0x1000ULL,
				.p_filesz = 0x100, .p_memsz = 0x1000 };
		struct kernel_info ki;
		int r = parse_img(buf, len, &ki);
		if (n <= KERNEL_MAX_SEGMENTS) {
			assert_int_equal(r, 0);
			assert_int_equal(ki.nseg, n);
			assert_int_equal(ki.end, 0x1000000 + n * 0x1000ULL);
			check_consistent(&ki, len);
		} else {
			assert_int_equal(r, -EINVAL);
		}
		free(buf);
	}
}

static void test_elf_truncated(void **state)
{
	(void)state;
	struct elf_img e;
	elf_build(&e, 8);
	/* The note ends the last byte that matters; cut anywhere before it. */
	size_t note_end = NOTE_OFF + e.ph[2].p_filesz;
	for (size_t len = 0; len <= e.len; len++) {
		struct kernel_info ki;
		int r = parse_img(e.buf, len, &ki);
		if (len < 4)
			assert_int_equal(r, -ENOEXEC); /* no ELF magic: not a kernel */
		else if (len < note_end)
			assert_true(r == -EINVAL);
		else {
			assert_int_equal(r, 0);
			check_consistent(&ki, len);
			assert_int_equal(ki.format, KERNEL_ELF_PVH);
		}
	}
	elf_free(&e);
}

/* Random byte flips over a valid image: never crash, and anything accepted
 * must be self-consistent and loadable without going out of bounds. */
static void fuzz_image(const uint8_t *orig, size_t len, size_t hot_lo,
		       size_t hot_hi, unsigned iters)
{
	static uint8_t *ram;
	const uint64_t ram_size = 0x2100000;
	if (!ram) {
		ram = malloc(ram_size);
		assert_non_null(ram);
	}
	struct guest_mem mem = { 0 };
	assert_int_equal(guest_mem_add(&mem, 0, ram_size, ram), 0);
	uint8_t *img = malloc(len);
	assert_non_null(img);
	unsigned accepted = 0;
	for (unsigned it = 0; it < iters; it++) {
		memcpy(img, orig, len);
		unsigned flips = 1 + (unsigned)(rnd() % 8);
		for (unsigned f = 0; f < flips; f++) {
			/* Mostly in the headers, sometimes anywhere. */
			size_t pos = (rnd() % 4) ? hot_lo + rnd() % (hot_hi - hot_lo)
						 : rnd() % len;
			switch (rnd() % 3) {
			case 0: img[pos] ^= (uint8_t)(1u << (rnd() % 8)); break;
			case 1: img[pos] = (uint8_t)rnd(); break;
			default: img[pos] = (rnd() & 1) ? 0xff : 0x00; break;
			}
		}
		size_t plen = (rnd() % 16 == 0) ? rnd() % (len + 1) : len;
		struct kernel_info ki;
		char err[128];
		int r = parse_exact(img, plen, &ki, err, sizeof(err));
		if (r == 0) {
			accepted++;
			check_consistent(&ki, plen);
			int lr = kernel_load(&mem, img, plen, &ki);
			assert_true(lr == 0 || lr == -EFAULT);
		} else {
			assert_true(r == -EINVAL || r == -ENOEXEC);
			assert_true(strlen(err) > 0 && strlen(err) < sizeof(err));
		}
	}
	/* Some mutants must survive, or the check above tested nothing. */
	assert_true(accepted > iters / 20);
	free(img);
	if (ram) {
		free(ram);
		ram = NULL;
	}
}

static void test_fuzz_bzimage(void **state)
{
	(void)state;
	struct bz_opts o = bz_default();
	o.init_size = 0x10000;
	uint8_t *img;
	size_t len = bz_build(&o, &img);
	fuzz_image(img, len, 0x1f1, 0x270, 10000);
	free(img);
}

static void test_fuzz_elf(void **state)
{
	(void)state;
	struct elf_img e;
	elf_build(&e, 4);
	/* Hot area: ELF header + phdrs; the notes get hit by "anywhere". */
	fuzz_image(e.buf, e.len, 0, 0x40 + 3 * sizeof(Elf64_Phdr), 10000);
	/* And with the notes as the hot area. */
	fuzz_image(e.buf, e.len, NOTE_OFF, NOTE_OFF + 0x54, 10000);
	elf_free(&e);
}

/* ------------------------------------------------------------------ */
/* kernel_load                                                          */

static void test_kernel_load_elf(void **state)
{
	(void)state;
	const uint64_t size = SEG1_PADDR + 0x1000;
	uint8_t *ram = malloc(size);
	assert_non_null(ram);
	memset(ram, 0xaa, size);
	struct guest_mem mem = { 0 };
	assert_int_equal(guest_mem_add(&mem, 0, size, ram), 0);
	struct elf_img e;
	elf_build(&e, 4);
	struct kernel_info ki;
	assert_int_equal(parse_img(e.buf, e.len, &ki), 0);
	assert_int_equal(kernel_load(&mem, e.buf, e.len, &ki), 0);
	/* Data copied, bss zeroed, neighbours untouched. */
	assert_memory_equal(ram + SEG0_PADDR, e.buf + 0x1000, 0x2000);
	for (uint64_t a = SEG0_PADDR + 0x2000; a < SEG0_PADDR + 0x3000; a++)
		assert_int_equal(ram[a], 0);
	assert_int_equal(ram[SEG0_PADDR - 1], 0xaa);
	assert_int_equal(ram[SEG0_PADDR + 0x3000], 0xaa);
	assert_memory_equal(ram + SEG1_PADDR, e.buf + 0x3000, 0x1000);
	assert_int_equal(ram[SEG1_PADDR - 1], 0xaa);

	/* A segment past the end of RAM: -EFAULT. */
	struct guest_mem small = { 0 };
	assert_int_equal(guest_mem_add(&small, 0, SEG1_PADDR + 0x800, ram), 0);
	assert_int_equal(kernel_load(&small, e.buf, e.len, &ki), -EFAULT);
	/* bss past the end of RAM (file part fits). */
	struct guest_mem tiny = { 0 };
	assert_int_equal(guest_mem_add(&tiny, 0, SEG0_PADDR + 0x2800, ram), 0);
	assert_int_equal(kernel_load(&tiny, e.buf, e.len, &ki), -EFAULT);
	/* A segment straddling two regions. */
	struct guest_mem split = { 0 };
	assert_int_equal(guest_mem_add(&split, 0, SEG0_PADDR + 0x1000, ram), 0);
	assert_int_equal(guest_mem_add(&split, SEG0_PADDR + 0x1000,
				       size - SEG0_PADDR - 0x1000,
				       ram + SEG0_PADDR + 0x1000), 0);
	assert_int_equal(kernel_load(&split, e.buf, e.len, &ki), -EFAULT);
	/* A file shorter than the info claims: refused. */
	assert_int_equal(kernel_load(&mem, e.buf, 0x3800, &ki), -EINVAL);
	elf_free(&e);
	free(ram);
}

static void test_kernel_load_bzimage(void **state)
{
	(void)state;
	struct bz_opts o = bz_default();
	o.pref_address = 0x200000;
	o.init_size = 0x10000;
	uint8_t *img;
	size_t len = bz_build(&o, &img);
	struct kernel_info ki;
	assert_int_equal(parse_img(img, len, &ki), 0);
	const uint64_t size = 0x400000;
	uint8_t *ram = malloc(size);
	assert_non_null(ram);
	memset(ram, 0xaa, size);
	struct guest_mem mem = { 0 };
	assert_int_equal(guest_mem_add(&mem, 0, size, ram), 0);
	assert_int_equal(kernel_load(&mem, img, len, &ki), 0);
	/* Protected-mode part at the load address, the setup sectors not. */
	assert_memory_equal(ram + 0x200000, img + 5 * 512, BZ_PAYLOAD);
	for (uint64_t a = 0x200000 + BZ_PAYLOAD; a < 0x210000; a++)
		assert_int_equal(ram[a], 0);
	assert_int_equal(ram[0x210000], 0xaa);
	assert_int_equal(ram[0x1fffff], 0xaa);
	/* init_size beyond RAM. */
	struct guest_mem small = { 0 };
	assert_int_equal(guest_mem_add(&small, 0, 0x20ffff, ram), 0);
	assert_int_equal(kernel_load(&small, img, len, &ki), -EFAULT);
	free(ram);
	free(img);
}

/* ------------------------------------------------------------------ */
/* initrd_place                                                         */

static void check_placed(const struct kernel_info *ki, uint64_t ram_top,
			 uint64_t size, uint64_t want)
{
	uint64_t addr = 0x1234;
	int r = initrd_place(ki, ram_top, size, &addr);
	if (r != 0 || addr != want)
		fail_msg("top 0x%llx size 0x%llx: %d, 0x%llx; want 0x%llx",
			 (unsigned long long)ram_top, (unsigned long long)size, r,
			 (unsigned long long)addr, (unsigned long long)want);
	assert_int_equal(addr & 0xfff, 0);
	assert_true(addr + size <= ram_top);
	if (ki->initrd_addr_max != UINT64_MAX)
		assert_true(addr + size - 1 <= ki->initrd_addr_max);
	assert_true(addr >= ki->end);
}

static void test_initrd_place(void **state)
{
	(void)state;
	struct kernel_info ki;
	memset(&ki, 0, sizeof(ki));
	ki.end = 0x2000000;
	ki.initrd_addr_max = 0x37ffffff;
	/* RAM top below initrd_addr_max: top-aligned under the RAM top. */
	check_placed(&ki, 512 * MiB, 0x100000, 512 * MiB - 0x100000);
	check_placed(&ki, 512 * MiB, 0x100001, 512 * MiB - 0x101000);
	check_placed(&ki, 512 * MiB, 1, 512 * MiB - 0x1000);
	/* RAM above it: capped by initrd_addr_max. */
	check_placed(&ki, 2048 * MiB, 0x100000, 0x38000000 - 0x100000);
	check_placed(&ki, MMIO32_START, 0x123456, (0x38000000 - 0x123456) & ~0xfffULL);
	/* An initrd_addr_max that is not page-aligned minus one. */
	ki.initrd_addr_max = 0x37fff7ff;
	check_placed(&ki, 2048 * MiB, 0x1000, 0x37ffe000);
	/* No limit. */
	ki.initrd_addr_max = UINT64_MAX;
	check_placed(&ki, 256 * MiB, 0x1000, 256 * MiB - 0x1000);
	/* A RAM top that is not page aligned. */
	ki.initrd_addr_max = 0x37ffffff;
	check_placed(&ki, 256 * MiB + 0x800, 0x1000, 256 * MiB - 0x1000);
	/* Filling everything between the kernel and the top exactly. */
	check_placed(&ki, 256 * MiB, 256 * MiB - 0x2000000, 0x2000000);
	/* Unaligned kernel end: the initrd starts on the next page. */
	ki.end = 0x2000001;
	check_placed(&ki, 256 * MiB, 256 * MiB - 0x2001000, 0x2001000);

	/* Too big. */
	uint64_t addr = 0x1234;
	assert_int_equal(initrd_place(&ki, 256 * MiB, 256 * MiB - 0x2000fff, &addr),
			 -ENOSPC);
	assert_int_equal(initrd_place(&ki, 256 * MiB, 256 * MiB, &addr), -ENOSPC);
	assert_int_equal(initrd_place(&ki, 256 * MiB, 256 * MiB + 1, &addr), -ENOSPC);
	assert_int_equal(initrd_place(&ki, 256 * MiB, UINT64_MAX, &addr), -ENOSPC);
	/* initrd_addr_max below the kernel end: nowhere to go. */
	ki.initrd_addr_max = 0x1ffffff;
	assert_int_equal(initrd_place(&ki, 256 * MiB, 0x1000, &addr), -ENOSPC);
	/* Kernel above the RAM top. */
	ki.initrd_addr_max = 0x37ffffff;
	ki.end = 300 * MiB;
	assert_int_equal(initrd_place(&ki, 256 * MiB, 0x1000, &addr), -ENOSPC);
	assert_int_equal(addr, 0x1234); /* untouched on failure */
	/* A kernel ending within a page of 2^64 (found by fuzz_boot, kept as
	 * fuzz/corpus/boot/regress-initrd-below-kernel-end): rounding its end
	 * up to a page used to wrap to 0 and put the initrd inside it. */
	ki.initrd_addr_max = UINT64_MAX;
	ki.end = UINT64_MAX - 0x800;
	assert_int_equal(initrd_place(&ki, UINT64_MAX, 0x1000, &addr), -ENOSPC);
	assert_int_equal(addr, 0x1234);
}

/* ------------------------------------------------------------------ */
/* zero page                                                            */

static void check_zero_elsewhere(const struct boot_params *bp)
{
	/* Everything outside the fields zero_page_build sets is zero. */
	struct boot_params c;
	memcpy(&c, bp, sizeof(c));
	c.acpi_rsdp_addr = 0;
	c.ext_ramdisk_image = 0;
	c.ext_ramdisk_size = 0;
	c.ext_cmd_line_ptr = 0;
	c.e820_entries = 0;
	memset(&c.hdr, 0, sizeof(c.hdr));
	memset(c.e820_table, 0, sizeof(c.e820_table));
	const uint8_t *p = (const uint8_t *)&c;
	for (size_t i = 0; i < sizeof(c); i++)
		if (p[i])
			fail_msg("boot_params byte 0x%zx is 0x%02x", i, p[i]);
}

static void test_zero_page_bzimage(void **state)
{
	(void)state;
	struct bz_opts o = bz_default();
	uint8_t *img;
	size_t len = bz_build(&o, &img);
	struct kernel_info ki;
	assert_int_equal(parse_img(img, len, &ki), 0);
	struct e820_map map;
	assert_int_equal(e820_build(&map, 512 * MiB, true), 0);
	struct boot_setup bs = {
		.cmdline_addr = CMDLINE_ADDR, .cmdline_len = 42,
		.initrd_addr = 0x1ff00000, .initrd_size = 0x0abcdef,
		.rsdp_addr = 0xe0000, .e820 = &map,
	};
	struct boot_params *bp = malloc(sizeof(*bp));
	assert_non_null(bp);
	memset(bp, 0xcc, sizeof(*bp));
	zero_page_build(bp, &ki, &bs);
	const struct setup_header *h = &bp->hdr;
	const struct setup_header *f = (const struct setup_header *)(img + 0x1f1);
	/* Header copied from the file... */
	assert_int_equal(h->setup_sects, f->setup_sects);
	assert_int_equal(h->boot_flag, 0xaa55);
	assert_int_equal(h->header, 0x53726448);
	assert_int_equal(h->version, 0x020f);
	assert_int_equal(h->xloadflags, f->xloadflags);
	assert_int_equal(h->kernel_alignment, f->kernel_alignment);
	assert_int_equal(h->relocatable_kernel, 1);
	assert_int_equal(h->pref_address, f->pref_address);
	assert_int_equal(h->init_size, f->init_size);
	assert_int_equal(h->initrd_addr_max, f->initrd_addr_max);
	assert_int_equal(h->handover_offset, f->handover_offset);
	assert_int_equal(h->kernel_info_offset, f->kernel_info_offset);
	assert_int_equal(h->code32_start, f->code32_start);
	/* ...with the loader's fields filled in. */
	assert_int_equal(h->type_of_loader, 0xff);
	assert_true(h->loadflags & LOADED_HIGH);
	assert_true(h->loadflags & CAN_USE_HEAP); /* kept from the file */
	assert_int_equal(h->cmd_line_ptr, CMDLINE_ADDR);
	assert_int_equal(bp->ext_cmd_line_ptr, 0);
	assert_int_equal(h->ramdisk_image, 0x1ff00000);
	assert_int_equal(h->ramdisk_size, 0x0abcdef);
	assert_int_equal(bp->ext_ramdisk_image, 0);
	assert_int_equal(bp->ext_ramdisk_size, 0);
	assert_int_equal(bp->acpi_rsdp_addr, 0xe0000);
	/* e820 copied. */
	assert_int_equal(bp->e820_entries, map.count);
	assert_memory_equal(bp->e820_table, map.entries,
			    map.count * sizeof(map.entries[0]));
	check_zero_elsewhere(bp);

	/* A short header: only hdr_len bytes come from the file. */
	free(img);
	o.jump = (uint8_t)(0x1f1 + offsetof(struct setup_header, xloadflags) + 2 - 0x202);
	len = bz_build(&o, &img);
	assert_int_equal(parse_img(img, len, &ki), 0);
	memset(bp, 0xcc, sizeof(*bp));
	zero_page_build(bp, &ki, &bs);
	assert_int_equal(bp->hdr.xloadflags, o.xloadflags);
	assert_int_equal(bp->hdr.pref_address, 0);
	assert_int_equal(bp->hdr.init_size, 0);
	assert_int_equal(bp->hdr.kernel_info_offset, 0);
	check_zero_elsewhere(bp);
	free(img);
	free(bp);
}

static void test_zero_page_high_values(void **state)
{
	(void)state;
	struct elf_img e;
	elf_build(&e, 0);
	struct kernel_info ki;
	assert_int_equal(parse_img(e.buf, e.len, &ki), 0);
	struct e820_map map;
	assert_int_equal(e820_build(&map, 8ULL << 30, true), 0);
	struct boot_setup bs = {
		.cmdline_addr = 0x123456789ULL, .cmdline_len = 7,
		.initrd_addr = 0x2fedcb000ULL, .initrd_size = 0x100001000ULL,
		.rsdp_addr = 0xe0000, .e820 = &map,
	};
	struct boot_params *bp = malloc(sizeof(*bp));
	assert_non_null(bp);
	memset(bp, 0xcc, sizeof(*bp));
	zero_page_build(bp, &ki, &bs);
	/* ELF: a synthesized header. */
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_int_equal(bp->hdr.header, 0x53726448);
	assert_true(bp->hdr.version >= 0x020c);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_true(bp->hdr.loadflags & LOADED_HIGH);
	/* 64-bit values split into the legacy and ext_* halves. */
	assert_int_equal(bp->hdr.cmd_line_ptr, 0x23456789);
	assert_int_equal(bp->ext_cmd_line_ptr, 0x1);
	assert_int_equal(bp->hdr.ramdisk_image, 0xfedcb000);
	assert_int_equal(bp->ext_ramdisk_image, 0x2);
	assert_int_equal(bp->hdr.ramdisk_size, 0x1000);
	assert_int_equal(bp->ext_ramdisk_size, 0x1);
	uint64_t img64 = bp->hdr.ramdisk_image | ((uint64_t)bp->ext_ramdisk_image << 32);
	uint64_t sz64 = bp->hdr.ramdisk_size | ((uint64_t)bp->ext_ramdisk_size << 32);
	assert_int_equal(img64, bs.initrd_addr);
	assert_int_equal(sz64, bs.initrd_size);
	assert_int_equal(bp->e820_entries, map.count);
	assert_memory_equal(bp->e820_table, map.entries,
			    map.count * sizeof(map.entries[0]));
	check_zero_elsewhere(bp);
	/* No initrd: all ramdisk fields zero. */
	bs.initrd_addr = bs.initrd_size = 0;
	zero_page_build(bp, &ki, &bs);
	assert_int_equal(bp->hdr.ramdisk_image, 0);
	assert_int_equal(bp->hdr.ramdisk_size, 0);
	assert_int_equal(bp->ext_ramdisk_image, 0);
	assert_int_equal(bp->ext_ramdisk_size, 0);
	free(bp);
	elf_free(&e);
}

/* ------------------------------------------------------------------ */
/* PVH start info                                                       */

/* Offsets in Xen's struct hvm_start_info (version 1). */
enum {
	SI_MAGIC = 0, SI_VERSION = 4, SI_FLAGS = 8, SI_NR_MODULES = 12,
	SI_MODLIST = 16, SI_CMDLINE = 24, SI_RSDP = 32, SI_MEMMAP = 40,
	SI_MEMMAP_ENTRIES = 48, SI_RESERVED = 52, SI_SIZE = 56,
	MOD_SIZE = 32, MEMMAP_ENTRY_SIZE = 24,
};

static void check_pvh(const uint8_t *ram, uint64_t addr, const struct boot_setup *bs)
{
	const uint8_t *si = ram + addr;
	assert_int_equal(rd32(si + SI_MAGIC), PVH_START_MAGIC);
	assert_int_equal(rd32(si + SI_MAGIC), 0x336ec578);
	assert_int_equal(rd32(si + SI_VERSION), 1);
	assert_int_equal(rd32(si + SI_FLAGS), 0);
	assert_int_equal(rd64(si + SI_CMDLINE), bs->cmdline_addr);
	assert_int_equal(rd64(si + SI_RSDP), bs->rsdp_addr);
	assert_int_equal(rd32(si + SI_RESERVED), 0);
	uint64_t memmap = rd64(si + SI_MEMMAP);
	uint32_t n = rd32(si + SI_MEMMAP_ENTRIES);
	assert_int_equal(n, bs->e820->count);
	/* The memmap lies after the start info, before the zero page. */
	assert_true(memmap >= addr + SI_SIZE);
	assert_true(memmap + (uint64_t)n * MEMMAP_ENTRY_SIZE <= ZERO_PAGE_ADDR);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *m = ram + memmap + i * MEMMAP_ENTRY_SIZE;
		const struct boot_e820_entry *e = &bs->e820->entries[i];
		assert_int_equal(rd64(m), e->addr);
		assert_int_equal(rd64(m + 8), e->size);
		assert_int_equal(rd32(m + 16), e->type);
		assert_int_equal(rd32(m + 20), 0);
	}
	if (bs->initrd_size) {
		assert_int_equal(rd32(si + SI_NR_MODULES), 1);
		uint64_t mod = rd64(si + SI_MODLIST);
		assert_true(mod >= addr + SI_SIZE);
		/* Module entry and memmap do not overlap. */
		assert_true(mod + MOD_SIZE <= memmap ||
			    memmap + (uint64_t)n * MEMMAP_ENTRY_SIZE <= mod);
		assert_int_equal(rd64(ram + mod), bs->initrd_addr);
		assert_int_equal(rd64(ram + mod + 8), bs->initrd_size);
		assert_int_equal(rd64(ram + mod + 16), 0); /* no module cmdline */
		assert_int_equal(rd64(ram + mod + 24), 0);
	} else {
		assert_int_equal(rd32(si + SI_NR_MODULES), 0);
		assert_int_equal(rd64(si + SI_MODLIST), 0);
	}
}

static void test_pvh_start_info(void **state)
{
	(void)state;
	const uint64_t size = MiB;
	uint8_t *ram = malloc(size);
	assert_non_null(ram);
	struct guest_mem mem = { 0 };
	assert_int_equal(guest_mem_add(&mem, 0, size, ram), 0);
	const uint64_t sizes[] = { 256 * MiB, 5ULL << 30 };
	for (size_t k = 0; k < 2; k++) {
		struct e820_map map;
		assert_int_equal(e820_build(&map, sizes[k], true), 0);
		/* Without an initrd. */
		struct boot_setup bs = { .cmdline_addr = CMDLINE_ADDR,
					 .cmdline_len = 10, .rsdp_addr = 0xe0000,
					 .e820 = &map };
		memset(ram, 0xaa, size);
		assert_int_equal(pvh_start_info_write(&mem, PVH_INFO_ADDR, &bs), 0);
		check_pvh(ram, PVH_INFO_ADDR, &bs);
		/* With one (above 4 GiB to check all 64 bits). */
		bs.initrd_addr = 0x1234567000ULL;
		bs.initrd_size = 0x100000123ULL;
		memset(ram, 0xaa, size);
		assert_int_equal(pvh_start_info_write(&mem, PVH_INFO_ADDR, &bs), 0);
		check_pvh(ram, PVH_INFO_ADDR, &bs);
	}
	/* A full e820 table still fits below the zero page. */
	struct e820_map big;
	memset(&big, 0, sizeof(big));
	for (unsigned i = 0; i < E820_MAX; i++)
		assert_int_equal(e820_add(&big, (uint64_t)i << 30, 1ULL << 20,
					  1 + i % 4), 0);
	struct boot_setup bs = { .cmdline_addr = CMDLINE_ADDR, .rsdp_addr = 0xe0000,
				 .initrd_addr = 0x2000000, .initrd_size = 0x1000,
				 .e820 = &big };
	memset(ram, 0xaa, size);
	assert_int_equal(pvh_start_info_write(&mem, PVH_INFO_ADDR, &bs), 0);
	check_pvh(ram, PVH_INFO_ADDR, &bs);

	/* Out of guest memory: -EFAULT. */
	struct e820_map map;
	assert_int_equal(e820_build(&map, 256 * MiB, true), 0);
	bs.e820 = &map;
	assert_int_equal(pvh_start_info_write(&mem, size - 0x40, &bs), -EFAULT);
	assert_int_equal(pvh_start_info_write(&mem, size, &bs), -EFAULT);
	bs.initrd_size = 0;
	assert_int_equal(pvh_start_info_write(&mem, size - 0x80, &bs), -EFAULT);
	free(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bz_valid),
		cmocka_unit_test(test_bz_pref_address),
		cmocka_unit_test(test_bz_header_length),
		cmocka_unit_test(test_bz_bad),
		cmocka_unit_test(test_bz_truncated),
		cmocka_unit_test(test_elf_plain),
		cmocka_unit_test(test_elf_pvh),
		cmocka_unit_test(test_elf_bad_header),
		cmocka_unit_test(test_elf_bad_segments),
		cmocka_unit_test(test_elf_segment_count),
		cmocka_unit_test(test_elf_truncated),
		cmocka_unit_test(test_fuzz_bzimage),
		cmocka_unit_test(test_fuzz_elf),
		cmocka_unit_test(test_kernel_load_elf),
		cmocka_unit_test(test_kernel_load_bzimage),
		cmocka_unit_test(test_initrd_place),
		cmocka_unit_test(test_zero_page_bzimage),
		cmocka_unit_test(test_zero_page_high_values),
		cmocka_unit_test(test_pvh_start_info),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
