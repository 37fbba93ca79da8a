/* SPDX-License-Identifier: MIT */
#include "arch/x86/boot.h"

#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/layout.h"

/* The PVH boot ABI structures (Xen's public start_info.h). */
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

#define SETUP_HDR_OFFSET 0x1f1
#define HDRS_MAGIC 0x53726448u /* "HdrS" */

const char *kernel_format_name(enum kernel_format f)
{
	switch (f) {
	case KERNEL_BZIMAGE: return "bzImage";
	case KERNEL_ELF: return "ELF";
	case KERNEL_ELF_PVH: return "ELF (PVH)";
	}
	return "?";
}

static int bad(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int bad(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

static bool in_file(size_t len, uint64_t off, uint64_t size)
{
	return off <= len && size <= len - off;
}

static int parse_bzimage(const uint8_t *img, size_t len, struct kernel_info *ki,
			 char *err, size_t errlen)
{
	struct setup_header *h = &ki->hdr;
	/* The header ends at 0x202 + the byte at 0x201 (its "jump" field). */
	size_t hdr_end = 0x202 + (size_t)img[0x201];
	size_t n = hdr_end - SETUP_HDR_OFFSET;
	if (n > sizeof(*h))
		n = sizeof(*h);
	if (!in_file(len, SETUP_HDR_OFFSET, n))
		return bad(err, errlen, -EINVAL, "bzImage truncated inside the setup header");
	memcpy(h, img + SETUP_HDR_OFFSET, n);
	ki->hdr_len = n;
	if (h->version < 0x0206)
		return bad(err, errlen, -ENOEXEC,
			   "boot protocol %u.%02u too old (need 2.06+)",
			   h->version >> 8, h->version & 0xff);
	if (n < offsetof(struct setup_header, xloadflags) + 2 ||
	    !(h->xloadflags & XLF_KERNEL_64))
		return bad(err, errlen, -ENOEXEC,
			   "bzImage has no 64-bit entry point (XLF_KERNEL_64)");
	unsigned setup_sects = h->setup_sects ? h->setup_sects : 4;
	uint64_t pm_off = ((uint64_t)setup_sects + 1) * 512;
	if (pm_off >= len)
		return bad(err, errlen, -EINVAL,
			   "bzImage truncated: %u setup sectors but %zu bytes",
			   setup_sects, len);
	uint64_t load = BZIMAGE_LOAD_DEFAULT;
	if (h->version >= 0x020a && h->pref_address >= HIMEM_START &&
	    h->pref_address < MMIO32_START)
		load = h->pref_address;
	uint64_t filesz = len - pm_off;
	uint64_t memsz = filesz;
	if (h->version >= 0x020a && h->init_size > memsz)
		memsz = h->init_size;
	ki->format = KERNEL_BZIMAGE;
	ki->nseg = 1;
	ki->seg[0] = (struct kernel_segment){
		.paddr = load, .offset = pm_off, .filesz = filesz, .memsz = memsz,
	};
	ki->start = load;
	ki->end = load + memsz;
	/* The 64-bit entry is 0x200 bytes into the protected-mode kernel. */
	ki->entry = load + 0x200;
	ki->initrd_addr_max = h->initrd_addr_max ? h->initrd_addr_max : 0x37ffffff;
	ki->cmdline_max = h->cmdline_size ? h->cmdline_size : 255;
	return 0;
}

static int find_pvh_note(const uint8_t *img, size_t len, const Elf64_Phdr *ph,
			 uint64_t *entry)
{
	uint64_t off = ph->p_offset, end = ph->p_offset + ph->p_filesz;
	while (off + sizeof(Elf64_Nhdr) <= end) {
		Elf64_Nhdr nh;
		memcpy(&nh, img + off, sizeof(nh));
		uint64_t name_off = off + sizeof(nh);
		uint64_t desc_off = name_off + (((uint64_t)nh.n_namesz + 3) & ~3ULL);
		uint64_t next = desc_off + (((uint64_t)nh.n_descsz + 3) & ~3ULL);
		if (next > end || next > len)
			return -EINVAL;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(img + name_off, "Xen", 4) == 0) {
			if (nh.n_descsz == 4) {
				uint32_t e;
				memcpy(&e, img + desc_off, 4);
				*entry = e;
			} else if (nh.n_descsz == 8) {
				memcpy(entry, img + desc_off, 8);
			} else {
				return -EINVAL;
			}
			return 1;
		}
		off = next;
	}
	return 0;
}

static int parse_elf(const uint8_t *img, size_t len, struct kernel_info *ki,
		     char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	if (len < sizeof(eh))
		return bad(err, errlen, -EINVAL, "ELF truncated inside the header");
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return bad(err, errlen, -ENOEXEC, "not a little-endian ELF64 image");
	if (eh.e_machine != EM_X86_64)
		return bad(err, errlen, -ENOEXEC, "ELF machine %u is not x86-64", eh.e_machine);
	if (eh.e_type != ET_EXEC)
		return bad(err, errlen, -ENOEXEC, "ELF is not an executable (type %u)", eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    !in_file(len, eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr)))
		return bad(err, errlen, -EINVAL, "ELF program headers missing or truncated");

	uint64_t pvh_entry = 0;
	bool pvh = false;
	ki->nseg = 0;
	ki->start = UINT64_MAX;
	ki->end = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, img + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE) {
			if (!in_file(len, ph.p_offset, ph.p_filesz))
				return bad(err, errlen, -EINVAL, "ELF note segment %u truncated", i);
			int r = find_pvh_note(img, len, &ph, &pvh_entry);
			if (r < 0)
				return bad(err, errlen, -EINVAL, "ELF note segment %u malformed", i);
			if (r > 0)
				pvh = true;
			continue;
		}
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (!in_file(len, ph.p_offset, ph.p_filesz))
			return bad(err, errlen, -EINVAL, "ELF segment %u truncated", i);
		if (ph.p_filesz > ph.p_memsz || ph.p_paddr + ph.p_memsz < ph.p_paddr)
			return bad(err, errlen, -EINVAL, "ELF segment %u has bad sizes", i);
		if (ki->nseg == KERNEL_MAX_SEGMENTS)
			return bad(err, errlen, -EINVAL, "ELF has more than %d loadable segments",
				   KERNEL_MAX_SEGMENTS);
		ki->seg[ki->nseg++] = (struct kernel_segment){
			.paddr = ph.p_paddr, .offset = ph.p_offset,
			.filesz = ph.p_filesz, .memsz = ph.p_memsz,
		};
		if (ph.p_paddr < ki->start)
			ki->start = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > ki->end)
			ki->end = ph.p_paddr + ph.p_memsz;
		/* A virtual entry point (vmlinux) maps to its physical twin. */
		if (eh.e_entry >= ph.p_vaddr && eh.e_entry - ph.p_vaddr < ph.p_memsz)
			ki->entry = ph.p_paddr + (eh.e_entry - ph.p_vaddr);
	}
	if (ki->nseg == 0)
		return bad(err, errlen, -ENOEXEC, "ELF has no loadable segment");
	if (ki->start < HIMEM_START)
		return bad(err, errlen, -ENOEXEC,
			   "ELF loads at 0x%llx, below 1 MiB where cvmm keeps boot data",
			   (unsigned long long)ki->start);
	if (pvh) {
		ki->format = KERNEL_ELF_PVH;
		ki->entry = pvh_entry;
	} else {
		ki->format = KERNEL_ELF;
		if (!ki->entry)
			ki->entry = eh.e_entry;
	}
	if (ki->entry < ki->start || ki->entry >= ki->end)
		return bad(err, errlen, -ENOEXEC, "ELF entry 0x%llx outside its segments",
			   (unsigned long long)ki->entry);
	ki->initrd_addr_max = MMIO32_START - 1;
	ki->cmdline_max = CMDLINE_MAX - 1;
	return 0;
}

int kernel_parse(const uint8_t *img, size_t len, struct kernel_info *ki,
		 char *err, size_t errlen)
{
	memset(ki, 0, sizeof(*ki));
	if (len >= 4 && memcmp(img, ELFMAG, SELFMAG) == 0)
		return parse_elf(img, len, ki, err, errlen);
	if (len < 0x206)
		return bad(err, errlen, -ENOEXEC, "file too small to be a kernel (%zu bytes)", len);
	uint16_t boot_flag;
	uint32_t magic;
	memcpy(&boot_flag, img + 0x1fe, 2);
	memcpy(&magic, img + 0x202, 4);
	if (boot_flag != 0xaa55 || magic != HDRS_MAGIC)
		return bad(err, errlen, -ENOEXEC,
			   "neither a bzImage (no 0xAA55/HdrS setup header) nor an ELF");
	return parse_bzimage(img, len, ki, err, errlen);
}

int kernel_load(const struct guest_mem *mem, const uint8_t *img, size_t len,
		const struct kernel_info *ki)
{
	for (unsigned i = 0; i < ki->nseg; i++) {
		const struct kernel_segment *s = &ki->seg[i];
		if (!in_file(len, s->offset, s->filesz))
			return -EINVAL;
		uint8_t *dst = guest_mem_ptr(mem, s->paddr, s->memsz);
		if (!dst)
			return -EFAULT;
		memcpy(dst, img + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
	}
	return 0;
}

int initrd_place(const struct kernel_info *ki, uint64_t ram_top, uint64_t size,
		 uint64_t *addr)
{
	uint64_t top = ram_top;
	if (ki->initrd_addr_max < UINT64_MAX && ki->initrd_addr_max + 1 < top)
		top = ki->initrd_addr_max + 1;
	/* The address is page-aligned: comparing it with the kernel end
	 * directly needs no rounding (which could wrap near 2^64). */
	if (size > top || ((top - size) & ~0xfffULL) < ki->end)
		return -ENOSPC;
	*addr = (top - size) & ~0xfffULL;
	return 0;
}

void zero_page_build(struct boot_params *bp, const struct kernel_info *ki,
		     const struct boot_setup *bs)
{
	memset(bp, 0, sizeof(*bp));
	struct setup_header *h = &bp->hdr;
	if (ki->format == KERNEL_BZIMAGE) {
		memcpy(h, &ki->hdr, ki->hdr_len);
	} else {
		h->boot_flag = 0xaa55;
		h->header = HDRS_MAGIC;
		h->version = 0x020f;
		h->kernel_alignment = 0x1000000;
	}
	h->type_of_loader = 0xff;
	h->loadflags |= LOADED_HIGH;
	h->cmd_line_ptr = (uint32_t)bs->cmdline_addr;
	bp->ext_cmd_line_ptr = (uint32_t)(bs->cmdline_addr >> 32);
	h->cmdline_size = bs->cmdline_len + 1;
	h->ramdisk_image = (uint32_t)bs->initrd_addr;
	h->ramdisk_size = (uint32_t)bs->initrd_size;
	bp->ext_ramdisk_image = (uint32_t)(bs->initrd_addr >> 32);
	bp->ext_ramdisk_size = (uint32_t)(bs->initrd_size >> 32);
	bp->acpi_rsdp_addr = bs->rsdp_addr;
	unsigned n = bs->e820->count;
	if (n > E820_MAX_ENTRIES_ZEROPAGE)
		n = E820_MAX_ENTRIES_ZEROPAGE;
	memcpy(bp->e820_table, bs->e820->entries, n * sizeof(bp->e820_table[0]));
	bp->e820_entries = (uint8_t)n;
}

int pvh_start_info_write(const struct guest_mem *mem, uint64_t addr,
			 const struct boot_setup *bs)
{
	const uint64_t modlist = addr + 0x40;
	const uint64_t memmap = addr + 0x80;
	struct hvm_start_info si = {
		.magic = PVH_START_MAGIC,
		.version = 1,
		.cmdline_paddr = bs->cmdline_addr,
		.rsdp_paddr = bs->rsdp_addr,
		.memmap_paddr = memmap,
		.memmap_entries = bs->e820->count,
	};
	if (bs->initrd_size) {
		struct hvm_modlist_entry mod = {
			.paddr = bs->initrd_addr, .size = bs->initrd_size,
		};
		si.nr_modules = 1;
		si.modlist_paddr = modlist;
		if (guest_mem_write(mem, modlist, &mod, sizeof(mod)))
			return -EFAULT;
	}
	for (unsigned i = 0; i < bs->e820->count; i++) {
		const struct boot_e820_entry *e = &bs->e820->entries[i];
		struct hvm_memmap_table_entry m = {
			.addr = e->addr, .size = e->size, .type = e->type,
		};
		if (guest_mem_write(mem, memmap + i * sizeof(m), &m, sizeof(m)))
			return -EFAULT;
	}
	return guest_mem_write(mem, addr, &si, sizeof(si));
}
