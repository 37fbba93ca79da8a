/* SPDX-License-Identifier: MIT */
/* ACPI RSDP/XSDT/MADT and Intel MP table readers, with checksum checks. */
#include "runtime.h"

bool acpi_checksum_ok(const void *p, size_t len)
{
	u8 sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += ((const u8 *)p)[i];
	return sum == 0;
}

static bool rsdp_valid(u64 a)
{
	const u8 *p = (const u8 *)a;
	if (memcmp(p, "RSD PTR ", 8) || !acpi_checksum_ok(p, 20))
		return false;
	if (p[15] >= 2) {
		u32 len = *(const u32 *)(p + 20);
		if (len < 36 || len > 4096 || !acpi_checksum_ok(p, len))
			return false;
	}
	return true;
}

int acpi_find_rsdp(const struct boot_info *bi, u64 *out)
{
	if (bi->rsdp_addr) {
		if (!rsdp_valid(bi->rsdp_addr)) {
			printf("acpi: RSDP given at %lx is invalid (signature/checksum)\n", bi->rsdp_addr);
			return -1;
		}
		*out = bi->rsdp_addr;
		return 0;
	}
	for (u64 a = 0xe0000; a < 0x100000; a += 16) {
		if (rsdp_valid(a)) {
			*out = a;
			return 0;
		}
	}
	printf("acpi: no RSDP in 0xe0000-0xfffff\n");
	return -2;
}

static const void *check_table(u64 a, const char sig[4])
{
	const u8 *t = (const u8 *)a;
	if (!a || a >= 0xfee00000UL)
		return NULL;
	if (memcmp(t, sig, 4))
		return NULL;
	u32 len = *(const u32 *)(t + 4);
	if (len < 36 || len > 65536 || !acpi_checksum_ok(t, len)) {
		printf("acpi: table %c%c%c%c at %lx: bad length %u or checksum\n", sig[0], sig[1], sig[2], sig[3], a, len);
		return NULL;
	}
	return t;
}

const void *acpi_find_table(u64 rsdp, const char sig[4])
{
	const u8 *r = (const u8 *)rsdp;
	if (r[15] >= 2 && *(const u64 *)(r + 24)) {
		const u8 *x = check_table(*(const u64 *)(r + 24), "XSDT");
		if (!x)
			return NULL;
		u32 n = (*(const u32 *)(x + 4) - 36) / 8;
		for (u32 i = 0; i < n; i++) {
			u64 a;
			memcpy(&a, x + 36 + 8 * i, 8);
			if (!memcmp((const void *)a, sig, 4))
				return check_table(a, sig);
		}
		return NULL;
	}
	const u8 *rs = check_table(*(const u32 *)(r + 16), "RSDT");
	if (!rs)
		return NULL;
	u32 n = (*(const u32 *)(rs + 4) - 36) / 4;
	for (u32 i = 0; i < n; i++) {
		u64 a = *(const u32 *)(rs + 36 + 4 * i);
		if (!memcmp((const void *)a, sig, 4))
			return check_table(a, sig);
	}
	return NULL;
}

int acpi_parse_madt(const struct boot_info *bi, struct madt_info *mi)
{
	u64 rsdp;
	memset(mi, 0, sizeof(*mi));
	if (acpi_find_rsdp(bi, &rsdp))
		return -1;
	const u8 *m = acpi_find_table(rsdp, "APIC");
	if (!m) {
		printf("acpi: no valid MADT\n");
		return -2;
	}
	u32 len = *(const u32 *)(m + 4);
	mi->lapic_addr = *(const u32 *)(m + 36);
	for (u32 off = 44; off + 2 <= len;) {
		u8 type = m[off], elen = m[off + 1];
		if (elen < 2 || off + elen > len) {
			printf("acpi: MADT entry at +%u has bad length %u\n", off, elen);
			return -3;
		}
		const u8 *e = m + off;
		if (type == 0 && elen >= 8) {
			u32 flags = *(const u32 *)(e + 4);
			if (flags & 1) {
				if (mi->nr_cpus >= MAX_CPUS) {
					printf("acpi: more than %u CPUs\n", MAX_CPUS);
					return -4;
				}
				mi->apic_ids[mi->nr_cpus++] = e[3];
			}
		} else if (type == 1 && elen >= 12) {
			if (!mi->nr_ioapics) {
				mi->ioapic_addr = *(const u32 *)(e + 4);
				mi->ioapic_gsi_base = *(const u32 *)(e + 8);
			}
			mi->nr_ioapics++;
		} else if (type == 2) {
			mi->nr_overrides++;
		}
		off += elen;
	}
	return 0;
}

static const u8 *mp_scan(u64 start, u64 end)
{
	for (u64 a = start; a + 16 <= end; a += 16) {
		const u8 *p = (const u8 *)a;
		if (!memcmp(p, "_MP_", 4) && p[8] == 1 && acpi_checksum_ok(p, 16))
			return p;
	}
	return NULL;
}

int mptable_count_cpus(void)
{
	const u8 *fp = mp_scan(0x9fc00, 0xa0000);
	if (!fp)
		fp = mp_scan(0xf0000, 0x100000);
	if (!fp)
		fp = mp_scan(0xe0000, 0xf0000);
	if (!fp) {
		printf("mptable: no MP floating pointer\n");
		return -1;
	}
	u32 cfg = *(const u32 *)(fp + 4);
	if (!cfg) {
		printf("mptable: default configuration (no table)\n");
		return -2;
	}
	const u8 *t = (const u8 *)(u64)cfg;
	u16 len = *(const u16 *)(t + 4);
	if (memcmp(t, "PCMP", 4) || len < 44 || !acpi_checksum_ok(t, len)) {
		printf("mptable: bad configuration table at %x\n", cfg);
		return -3;
	}
	u16 count = *(const u16 *)(t + 34);
	int cpus = 0, bsps = 0;
	u32 off = 44;
	for (u16 i = 0; i < count && off < len; i++) {
		u8 type = t[off];
		if (type == 0) {
			if (t[off + 3] & 1)
				cpus++;
			if (t[off + 3] & 2)
				bsps++;
			off += 20;
		} else if (type <= 4) {
			off += 8;
		} else {
			printf("mptable: unknown entry type %u\n", type);
			return -4;
		}
	}
	if (bsps != 1) {
		printf("mptable: %d processor entries flagged BSP\n", bsps);
		return -5;
	}
	return cpus;
}

/* ---- AML scanning ---- */

static u32 rd32u(const u8 *p)
{
	u32 v;
	memcpy(&v, p, 4);
	return v;
}

int acpi_find_dsdt(u64 rsdp, const u8 **aml, const u8 **aml_end)
{
	const u8 *fadt = acpi_find_table(rsdp, "FACP");
	if (!fadt) {
		printf("acpi: no FADT\n");
		return -1;
	}
	u32 flen = rd32u(fadt + 4);
	u64 dsdt_addr = 0;
	if (flen >= 148)
		memcpy(&dsdt_addr, fadt + 140, 8);
	if (!dsdt_addr)
		dsdt_addr = rd32u(fadt + 40);
	const u8 *dsdt = (const u8 *)dsdt_addr;
	if (!dsdt_addr || dsdt_addr >= 0xfee00000UL) {
		printf("acpi: DSDT address 0x%lx unusable\n", dsdt_addr);
		return -1;
	}
	u32 dlen = rd32u(dsdt + 4);
	if (memcmp(dsdt, "DSDT", 4) || dlen < 36 || dlen >= 65536 ||
	    !acpi_checksum_ok(dsdt, dlen)) {
		printf("acpi: bad DSDT at 0x%lx\n", dsdt_addr);
		return -1;
	}
	*aml = dsdt + 36;
	*aml_end = dsdt + dlen;
	return 0;
}

const u8 *mem_find(const u8 *from, const u8 *to, const void *needle, u32 n)
{
	for (const u8 *p = from; p + n <= to; p++)
		if (!memcmp(p, needle, n))
			return p;
	return NULL;
}

u32 aml_pkglen(const u8 *p, u32 room, u32 *n)
{
	if (!room)
		return 0;
	u32 follow = p[0] >> 6;
	*n = follow + 1;
	if (*n > room)
		return 0;
	if (!follow)
		return p[0] & 0x3f;
	u32 v = p[0] & 0x0f;
	for (u32 i = 0; i < follow; i++)
		v |= (u32)p[1 + i] << (4 + 8 * i);
	return v;
}

bool aml_int(const u8 *p, const u8 *end, u32 *v, u32 *n)
{
	if (p >= end)
		return false;
	switch (p[0]) {
	case 0x00: *v = 0; *n = 1; return true;
	case 0x01: *v = 1; *n = 1; return true;
	case 0x0a: if (p + 2 > end) return false; *v = p[1]; *n = 2; return true;
	case 0x0b: if (p + 3 > end) return false; *v = p[1] | (u32)p[2] << 8; *n = 3; return true;
	case 0x0c: if (p + 5 > end) return false; *v = rd32u(p + 1); *n = 5; return true;
	}
	return false;
}

/* Device: ExtOp 0x5B 0x82, PkgLength, NameString, body. */
bool aml_enclosing_device(const u8 *aml, const u8 *aml_end, const u8 *at, const u8 **start,
			  const u8 **end)
{
	bool found = false;
	for (const u8 *p = aml; p + 3 <= at; p++) {
		if (p[0] != 0x5b || p[1] != 0x82)
			continue;
		u32 n, len = aml_pkglen(p + 2, (u32)(aml_end - p - 2), &n);
		if (!len || len < n)
			continue;
		const u8 *e = p + 2 + len;
		if (e > aml_end || at >= e)
			continue;
		if (!found || p + 2 > *start) { /* later start inside: inner */
			*start = p + 2 + n;
			*end = e;
			found = true;
		}
	}
	return found;
}

const char *aml_crs(const u8 *dev, const u8 *dev_end, const u8 **res, const u8 **res_end)
{
	static const u8 crs_name[] = { 0x08, '_', 'C', 'R', 'S', 0x11 };
	const u8 *c = mem_find(dev, dev_end, crs_name, sizeof(crs_name));
	if (!c)
		return "no Name (_CRS, Buffer)";
	const u8 *b = c + sizeof(crs_name);
	u32 n, len = aml_pkglen(b, (u32)(dev_end - b), &n);
	if (len <= n || b + len > dev_end)
		return "_CRS buffer PkgLength out of bounds";
	const u8 *bend = b + len;
	u32 size, sn;
	if (!aml_int(b + n, bend, &size, &sn))
		return "_CRS BufferSize is not an integer";
	const u8 *d = b + n + sn;
	if (d + size > bend)
		return "_CRS BufferSize past the buffer";
	*res = d;
	*res_end = d + size;
	return NULL;
}

int aml_res_next(const u8 **d, const u8 *end, u8 *tag, const u8 **body, u32 *len)
{
	const u8 *p = *d;
	if (p >= end)
		return 0;
	u32 hdr;
	if (p[0] & 0x80) {
		if (p + 3 > end)
			return -1;
		*tag = p[0];
		*len = p[1] | (u32)p[2] << 8;
		hdr = 3;
	} else {
		*tag = p[0] & 0x78;
		*len = p[0] & 7;
		hdr = 1;
	}
	if (p + hdr + *len > end)
		return -1;
	*body = p + hdr;
	*d = p + hdr + *len;
	return *tag == AML_RES_END_TAG ? 0 : 1;
}
