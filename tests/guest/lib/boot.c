/* SPDX-License-Identifier: MIT */
/*
 * guest_start(): common C entry of both boot paths. Builds struct boot_info
 * from the zero page (bzImage) or hvm_start_info (PVH), sets up paging and
 * the IDT, and runs the test.
 */
#include "runtime.h"
#include "bootparam.h"

struct boot_info boot_info;

static u8 rd8(u64 base, u32 off) { return *(volatile u8 *)(base + off); }
static u16 rd16(u64 base, u32 off) { return *(volatile u16 *)(base + off); }
static u32 rd32(u64 base, u32 off) { return *(volatile u32 *)(base + off); }
static u64 rd64(u64 base, u32 off) { return *(volatile u64 *)(base + off); }

const char *boot_protocol_name(enum boot_protocol p)
{
	return p == BOOT_PVH ? "PVH" : p == BOOT_LINUX64 ? "Linux 64-bit" : "?";
}

const char *e820_type_name(u32 type)
{
	switch (type) {
	case E820_RAM: return "usable";
	case E820_RESERVED: return "reserved";
	case E820_ACPI: return "ACPI data";
	case E820_NVS: return "ACPI NVS";
	case E820_UNUSABLE: return "unusable";
	default: return "other";
	}
}

void print_e820(const struct boot_info *bi)
{
	printf("e820: %u entries\n", bi->nr_e820);
	for (u32 i = 0; i < bi->nr_e820; i++) {
		const struct mem_region *r = &bi->e820[i];
		printf("  [%016lx-%016lx] %s (%u)\n", r->addr, r->addr + r->size - 1,
		       e820_type_name(r->type), r->type);
	}
}

static int parse_zero_page(u64 zp, struct boot_info *bi)
{
	bi->protocol = BOOT_LINUX64;
	bi->raw_addr = zp;
	if (rd16(zp, HDR_BOOT_FLAG) != BOOT_FLAG_MAGIC || rd32(zp, HDR_HEADER) != HDR_MAGIC) {
		printf("zero page at %lx: boot_flag %x header %x: setup header not copied\n",
		       zp, rd16(zp, HDR_BOOT_FLAG), rd32(zp, HDR_HEADER));
		return 11;
	}
	bi->cmdline_addr = rd32(zp, HDR_CMD_LINE_PTR) | ((u64)rd32(zp, BP_EXT_CMD_LINE_PTR) << 32);
	bi->initrd_addr = rd32(zp, HDR_RAMDISK_IMAGE) | ((u64)rd32(zp, BP_EXT_RAMDISK_IMAGE) << 32);
	bi->initrd_size = rd32(zp, HDR_RAMDISK_SIZE) | ((u64)rd32(zp, BP_EXT_RAMDISK_SIZE) << 32);
	bi->rsdp_addr = rd64(zp, BP_ACPI_RSDP_ADDR);
	u32 n = rd8(zp, BP_E820_ENTRIES);
	if (n > BP_E820_MAX) {
		printf("zero page: e820_entries %u > %u\n", n, BP_E820_MAX);
		return 12;
	}
	bi->nr_e820 = n;
	for (u32 i = 0; i < n; i++) {
		u64 e = zp + BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;
		bi->e820[i].addr = rd64(e, 0);
		bi->e820[i].size = rd64(e, 8);
		bi->e820[i].type = rd32(e, 16);
	}
	return 0;
}

static int parse_pvh(u64 si, struct boot_info *bi)
{
	bi->protocol = BOOT_PVH;
	bi->raw_addr = si;
	if (rd32(si, HVM_MAGIC) != HVM_START_MAGIC) {
		printf("hvm_start_info at %lx: bad magic %x\n", si, rd32(si, HVM_MAGIC));
		return 13;
	}
	u32 version = rd32(si, HVM_VERSION);
	bi->pvh_flags = rd32(si, HVM_FLAGS);
	bi->pvh_nr_modules = rd32(si, HVM_NR_MODULES);
	bi->cmdline_addr = rd64(si, HVM_CMDLINE_PADDR);
	bi->rsdp_addr = rd64(si, HVM_RSDP_PADDR);
	if (bi->pvh_nr_modules) {
		u64 m = rd64(si, HVM_MODLIST_PADDR);
		bi->initrd_addr = rd64(m, 0);
		bi->initrd_size = rd64(m, 8);
	}
	if (version < 1) {
		printf("hvm_start_info version %u has no memory map\n", version);
		return 14;
	}
	u64 mm = rd64(si, HVM_MEMMAP_PADDR);
	u32 n = rd32(si, HVM_MEMMAP_ENTRIES);
	if (n > E820_MAX) {
		printf("hvm_start_info: memmap_entries %u > %u\n", n, E820_MAX);
		return 15;
	}
	bi->nr_e820 = n;
	for (u32 i = 0; i < n; i++) {
		u64 e = mm + i * HVM_MEMMAP_ENTRY_SIZE;
		bi->e820[i].addr = rd64(e, 0);
		bi->e820[i].size = rd64(e, 8);
		bi->e820[i].type = rd32(e, 16);
	}
	return 0;
}

void guest_start(u64 info, int protocol);
void guest_start(u64 info, int protocol)
{
	int err;

	serial_init();
	paging_init();
	idt_init();
	idt_load();
	tsc_init();
	if (protocol == BOOT_PVH)
		err = parse_pvh(info, &boot_info);
	else
		err = parse_zero_page(info, &boot_info);
	boot_info.cmdline = boot_info.cmdline_addr ? (const char *)boot_info.cmdline_addr : "";
	printf("== cvmm test guest '%s' (%s boot, info at %lx) ==\n", test_name,
	       boot_protocol_name(boot_info.protocol), info);
	if (err)
		fail(err, "bad boot information from the VMM");
	int rc = test_main(&boot_info);
	if (rc)
		fail(rc < 3 ? 3 : rc, "test returned %d", rc);
	printf("PASS\n");
	guest_exit(0);
}

void guest_exit(int code)
{
	outb(DEBUG_EXIT_PORT, (u8)code);
	/* cvmm stops asynchronously; give it time before complaining. */
	u64 end = rdtsc() + ms_to_tsc(3000);
	while (rdtsc() < end)
		cpu_relax();
	printf("FAIL: the debug-exit port (0x%x) did not stop the VM (exit code %d)\n",
	       DEBUG_EXIT_PORT, code);
	for (;;) {
		cli();
		hlt();
	}
}

/* ---- command line ---- */

bool cmdline_get(const char *cl, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);
	const char *p = cl;

	while (*p) {
		while (*p == ' ')
			p++;
		const char *tok = p;
		while (*p && *p != ' ')
			p++;
		if ((size_t)(p - tok) > klen && !strncmp(tok, key, klen) && tok[klen] == '=') {
			size_t n = (size_t)(p - tok) - klen - 1;
			if (n >= len)
				n = len - 1;
			memcpy(buf, tok + klen + 1, n);
			buf[n] = 0;
			return true;
		}
	}
	return false;
}

bool parse_u64(const char *s, u64 *out)
{
	u64 v = 0;
	unsigned base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		v = v * base + d;
	}
	switch (*s) {
	case 0: break;
	case 'K': case 'k': v <<= 10; s++; break;
	case 'M': case 'm': v <<= 20; s++; break;
	case 'G': case 'g': v <<= 30; s++; break;
	default: return false;
	}
	if (*s)
		return false;
	*out = v;
	return true;
}

bool cmdline_get_u64(const char *cl, const char *key, u64 *out)
{
	char buf[32];
	return cmdline_get(cl, key, buf, sizeof(buf)) && parse_u64(buf, out);
}
