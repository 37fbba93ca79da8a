/* SPDX-License-Identifier: MIT */
/*
 * Guest-side PCI bus 0 (see pci.h). Written from the PCI Local Bus 3.0 and
 * PCI Express Base specifications: configuration mechanism #1 (CF8/CFC),
 * the enhanced configuration access mechanism (ECAM), BAR sizing, the
 * capability list and MSI-X.
 */
#include "pci.h"

#define CF8_PORT 0xcf8
#define CFC_PORT 0xcfc

u64 pci_ecam_base = PCI_ECAM_DEFAULT;

const char *pci_mech_name(enum pci_mech m)
{
	return m == PCI_MECH_CF8 ? "CF8/CFC" : m == PCI_MECH_ECAM ? "ECAM" : "?";
}

int pci_init(const struct boot_info *bi)
{
	u64 rsdp;
	pci_ecam_base = PCI_ECAM_DEFAULT;
	if (!bi || acpi_find_rsdp(bi, &rsdp))
		return -1;
	const u8 *mcfg = acpi_find_table(rsdp, "MCFG");
	if (!mcfg)
		return -1;
	u32 len = *(const u32 *)(mcfg + 4);
	/* 36-byte header, 8 reserved, then 16-byte allocation entries. */
	for (u32 off = 44; off + 16 <= len; off += 16) {
		u64 base;
		memcpy(&base, mcfg + off, 8);
		u16 seg = *(const u16 *)(mcfg + off + 8);
		u8 start = mcfg[off + 10];
		if (seg == 0 && start == 0) {
			pci_ecam_base = base;
			return 0;
		}
	}
	return -1;
}

static u64 ecam_addr(u8 bus, u8 slot, u8 fn, u16 off)
{
	return pci_ecam_base + ((u64)bus << 20) + ((u64)(slot & 31) << 15) +
	       ((u64)(fn & 7) << 12) + (off & 0xfff);
}

static void cf8_select(u8 bus, u8 slot, u8 fn, u16 off)
{
	outl(CF8_PORT, 0x80000000u | (u32)bus << 16 | (u32)(slot & 31) << 11 |
			       (u32)(fn & 7) << 8 | (off & 0xfc));
}

u32 pci_conf_read(enum pci_mech m, u8 bus, u8 slot, u8 fn, u16 off, u8 size)
{
	if (m == PCI_MECH_ECAM) {
		u64 a = ecam_addr(bus, slot, fn, off);
		switch (size) {
		case 1: return mmio_read8(a);
		case 2: return mmio_read16(a);
		default: return mmio_read32(a);
		}
	}
	if (off >= 256)
		return size == 1 ? 0xff : size == 2 ? 0xffff : 0xffffffffu;
	cf8_select(bus, slot, fn, off);
	switch (size) {
	case 1: return inb(CFC_PORT + (off & 3));
	case 2: return inw(CFC_PORT + (off & 2));
	default: return inl(CFC_PORT);
	}
}

void pci_conf_write(enum pci_mech m, u8 bus, u8 slot, u8 fn, u16 off, u8 size, u32 v)
{
	if (m == PCI_MECH_ECAM) {
		u64 a = ecam_addr(bus, slot, fn, off);
		switch (size) {
		case 1: mmio_write8(a, (u8)v); break;
		case 2: mmio_write16(a, (u16)v); break;
		default: mmio_write32(a, v); break;
		}
		return;
	}
	if (off >= 256)
		return;
	cf8_select(bus, slot, fn, off);
	switch (size) {
	case 1: outb(CFC_PORT + (off & 3), (u8)v); break;
	case 2: outw(CFC_PORT + (off & 2), (u16)v); break;
	default: outl(CFC_PORT, v); break;
	}
}

u8 pci_read8(const struct pci_dev *d, u16 off)
{
	return (u8)pci_conf_read(d->mech, d->bus, d->slot, d->fn, off, 1);
}

u16 pci_read16(const struct pci_dev *d, u16 off)
{
	return (u16)pci_conf_read(d->mech, d->bus, d->slot, d->fn, off, 2);
}

u32 pci_read32(const struct pci_dev *d, u16 off)
{
	return pci_conf_read(d->mech, d->bus, d->slot, d->fn, off, 4);
}

void pci_write8(const struct pci_dev *d, u16 off, u8 v)
{
	pci_conf_write(d->mech, d->bus, d->slot, d->fn, off, 1, v);
}

void pci_write16(const struct pci_dev *d, u16 off, u16 v)
{
	pci_conf_write(d->mech, d->bus, d->slot, d->fn, off, 2, v);
}

void pci_write32(const struct pci_dev *d, u16 off, u32 v)
{
	pci_conf_write(d->mech, d->bus, d->slot, d->fn, off, 4, v);
}

/* ---- BARs ---- */

int pci_size_bars(struct pci_dev *d)
{
	u16 cmd = pci_read16(d, PCI_COMMAND);
	/* Decoding off while the BARs hold all-ones (as Linux does), so the
	 * device never decodes a bogus range. */
	pci_write16(d, PCI_COMMAND, cmd & (u16)~(PCI_CMD_IO | PCI_CMD_MEM));
	int ret = 0;
	for (int i = 0; i < 6; i++)
		d->bar[i] = (struct pci_bar_info){ .kind = PCI_BAR_NONE };
	for (int i = 0; i < 6; i++) {
		u16 off = PCI_BAR0 + 4 * i;
		u32 orig = pci_read32(d, off);
		pci_write32(d, off, 0xffffffffu);
		u32 probe = pci_read32(d, off);
		pci_write32(d, off, orig);
		if (probe == 0 || probe == 0xffffffffu)
			continue; /* not implemented */
		struct pci_bar_info *b = &d->bar[i];
		if (orig & 1) {
			b->kind = PCI_BAR_IO;
			b->addr = orig & ~3u;
			u32 mask = probe & ~3u & 0xffff;
			b->size = mask ? (u64)(~mask & 0xffff) + 1 : 0;
			continue;
		}
		u32 type = (orig >> 1) & 3;
		b->prefetchable = orig & 8;
		u64 mask = probe & ~0xfu;
		b->addr = orig & ~0xfu;
		if (type == 2) {
			if (i == 5) {
				printf("pci %02x:%02x.%x: 64-bit BAR5 has no upper half\n",
				       d->bus, d->slot, d->fn);
				ret = -1;
				break;
			}
			u32 orig_hi = pci_read32(d, off + 4);
			pci_write32(d, off + 4, 0xffffffffu);
			u32 probe_hi = pci_read32(d, off + 4);
			pci_write32(d, off + 4, orig_hi);
			b->kind = PCI_BAR_MEM64;
			b->addr |= (u64)orig_hi << 32;
			mask |= (u64)probe_hi << 32;
			i++; /* the upper half */
		} else {
			b->kind = PCI_BAR_MEM32;
			mask |= 0xffffffff00000000UL;
		}
		b->size = ~mask + 1;
		if (b->size & (b->size - 1)) {
			printf("pci %02x:%02x.%x: BAR%d sizes to 0x%lx, not a power of two\n",
			       d->bus, d->slot, d->fn, i, b->size);
			ret = -1;
		}
	}
	pci_write16(d, PCI_COMMAND, cmd);
	return ret;
}

/* ---- capabilities ---- */

static int walk_caps(struct pci_dev *d)
{
	d->ncaps = 0;
	if (!(pci_read16(d, PCI_STATUS) & PCI_STATUS_CAPS))
		return 0;
	u8 off = pci_read8(d, PCI_CAP_PTR) & 0xfc;
	/* At most 48 capabilities fit in 192 bytes: more means a loop. */
	for (int n = 0; off; n++) {
		if (n >= 48 || off < 0x40) {
			printf("pci %02x:%02x.%x: capability list broken at 0x%x (entry %d)\n",
			       d->bus, d->slot, d->fn, off, n);
			return -1;
		}
		if (d->ncaps < PCI_MAX_CAPS) {
			d->cap_off[d->ncaps] = off;
			d->cap_id[d->ncaps] = pci_read8(d, off);
			d->ncaps++;
		}
		off = pci_read8(d, off + 1) & 0xfc;
	}
	return 0;
}

u8 pci_find_cap(const struct pci_dev *d, u8 id, u8 after)
{
	u32 i = 0;
	if (after) {
		while (i < d->ncaps && d->cap_off[i] != after)
			i++;
		i++; /* the entry after it (past the end if `after` is no entry) */
	}
	for (; i < d->ncaps; i++)
		if (d->cap_id[i] == id)
			return d->cap_off[i];
	return 0;
}

static void parse_msix(struct pci_dev *d)
{
	d->msix_cap = pci_find_cap(d, PCI_CAP_ID_MSIX, 0);
	if (!d->msix_cap)
		return;
	u16 ctrl = pci_read16(d, d->msix_cap + 2);
	u32 table = pci_read32(d, d->msix_cap + 4);
	u32 pba = pci_read32(d, d->msix_cap + 8);
	d->msix_size = (ctrl & 0x7ff) + 1;
	d->msix_table_bir = table & 7;
	d->msix_table_off = table & ~7u;
	d->msix_pba_bir = pba & 7;
	d->msix_pba_off = pba & ~7u;
}

int pci_probe(enum pci_mech m, u8 bus, u8 slot, u8 fn, struct pci_dev *d)
{
	memset(d, 0, sizeof(*d));
	d->mech = m;
	d->bus = bus;
	d->slot = slot;
	d->fn = fn;
	u32 id = pci_read32(d, PCI_VENDOR_ID);
	if ((id & 0xffff) == 0xffff || (id & 0xffff) == 0)
		return 1;
	d->vendor = (u16)id;
	d->device = (u16)(id >> 16);
	u32 cr = pci_read32(d, PCI_REVISION);
	d->revision = (u8)cr;
	d->class_code = cr >> 8;
	d->header_type = pci_read8(d, PCI_HEADER_TYPE);
	if ((d->header_type & 0x7f) != 0)
		return 0; /* bridges: ids only */
	d->subsys_vendor = pci_read16(d, PCI_SUBSYS_VENDOR);
	d->subsys_id = pci_read16(d, PCI_SUBSYS_ID);
	d->irq_line = pci_read8(d, PCI_INT_LINE);
	d->irq_pin = pci_read8(d, PCI_INT_PIN);
	if (walk_caps(d) || pci_size_bars(d))
		return -1;
	d->msi_cap = pci_find_cap(d, PCI_CAP_ID_MSI, 0);
	parse_msix(d);
	return 0;
}

int pci_scan_bus0(enum pci_mech m, struct pci_dev *out, int max)
{
	int n = 0;
	for (u8 slot = 0; slot < 32 && n < max; slot++) {
		for (u8 fn = 0; fn < 8 && n < max; fn++) {
			int r = pci_probe(m, 0, slot, fn, &out[n]);
			if (r < 0)
				return r;
			if (r > 0) {
				if (fn == 0)
					break; /* no device in this slot */
				continue;
			}
			bool multi = out[n].header_type & 0x80;
			n++;
			if (fn == 0 && !multi)
				break;
		}
	}
	return n;
}

/* ---- command register ---- */

void pci_enable(const struct pci_dev *d)
{
	u16 cmd = pci_read16(d, PCI_COMMAND);
	bool io = false, mem = false;
	for (int i = 0; i < 6; i++) {
		if (d->bar[i].kind == PCI_BAR_IO)
			io = true;
		else if (d->bar[i].kind != PCI_BAR_NONE)
			mem = true;
	}
	cmd |= PCI_CMD_MASTER | (io ? PCI_CMD_IO : 0) | (mem ? PCI_CMD_MEM : 0);
	pci_write16(d, PCI_COMMAND, cmd);
}

void pci_intx_enable(const struct pci_dev *d, bool on)
{
	u16 cmd = pci_read16(d, PCI_COMMAND);
	if (on)
		cmd &= (u16)~PCI_CMD_INTX_DISABLE;
	else
		cmd |= PCI_CMD_INTX_DISABLE;
	pci_write16(d, PCI_COMMAND, cmd);
}

/* ---- MSI-X ---- */

u64 pci_msix_table(const struct pci_dev *d)
{
	return d->bar[d->msix_table_bir].addr + d->msix_table_off;
}

u64 pci_msix_pba(const struct pci_dev *d)
{
	return d->bar[d->msix_pba_bir].addr + d->msix_pba_off;
}

void pci_msix_set(const struct pci_dev *d, u16 n, u32 dest_apic, u8 vector, bool masked)
{
	u64 e = pci_msix_table(d) + (u64)n * PCI_MSIX_ENTRY_SIZE;
	/* Mask while the message changes, then the wanted mask state. */
	u32 ctrl = mmio_read32(e + 12);
	mmio_write32(e + 12, ctrl | PCI_MSIX_VEC_MASKED);
	mmio_write32(e + 0, (u32)LAPIC_BASE | (dest_apic & 0xff) << 12);
	mmio_write32(e + 4, 0);
	mmio_write32(e + 8, vector);
	mmio_write32(e + 12, masked ? ctrl | PCI_MSIX_VEC_MASKED : ctrl & ~PCI_MSIX_VEC_MASKED);
}

void pci_msix_mask(const struct pci_dev *d, u16 n, bool masked)
{
	u64 e = pci_msix_table(d) + (u64)n * PCI_MSIX_ENTRY_SIZE;
	u32 ctrl = mmio_read32(e + 12);
	mmio_write32(e + 12, masked ? ctrl | PCI_MSIX_VEC_MASKED : ctrl & ~PCI_MSIX_VEC_MASKED);
}

bool pci_msix_pending(const struct pci_dev *d, u16 n)
{
	u64 q = pci_msix_pba(d) + 8 * (n / 64);
	return (mmio_read64(q) >> (n % 64)) & 1;
}

u16 pci_msix_ctrl(const struct pci_dev *d)
{
	return pci_read16(d, d->msix_cap + 2);
}

void pci_msix_enable(const struct pci_dev *d, bool on)
{
	u16 ctrl = pci_msix_ctrl(d);
	if (on)
		ctrl |= PCI_MSIX_CTRL_ENABLE;
	else
		ctrl &= (u16)~PCI_MSIX_CTRL_ENABLE;
	pci_write16(d, d->msix_cap + 2, ctrl);
}

void pci_msix_mask_all(const struct pci_dev *d, bool masked)
{
	u16 ctrl = pci_msix_ctrl(d);
	if (masked)
		ctrl |= PCI_MSIX_CTRL_MASKALL;
	else
		ctrl &= (u16)~PCI_MSIX_CTRL_MASKALL;
	pci_write16(d, d->msix_cap + 2, ctrl);
}

/* ---- MSI ---- */

void pci_msi_set(const struct pci_dev *d, u32 dest_apic, u8 vector)
{
	u8 c = d->msi_cap;
	u16 ctrl = pci_read16(d, c + 2);
	bool is64 = ctrl & 0x80;
	/* One vector (multiple message enable 0), enable as it was. */
	pci_write16(d, c + 2, ctrl & (u16)~0x70);
	pci_write32(d, c + 4, (u32)LAPIC_BASE | (dest_apic & 0xff) << 12);
	if (is64)
		pci_write32(d, c + 8, 0);
	pci_write16(d, c + (is64 ? 12 : 8), vector);
}

void pci_msi_enable(const struct pci_dev *d, bool on)
{
	u16 ctrl = pci_read16(d, d->msi_cap + 2);
	pci_write16(d, d->msi_cap + 2, on ? ctrl | 1 : ctrl & (u16)~1);
}
