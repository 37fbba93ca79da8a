/* SPDX-License-Identifier: MIT */
/*
 * virtio_enum: PCI bus 0 as a guest OS sees it, through both configuration
 * mechanisms. The ECAM base comes from the ACPI MCFG table. Bus 0 is
 * enumerated through CF8/CFC and through ECAM; both must find the same
 * functions with the same configuration space (every dword of the first
 * 256 bytes compared). Then, per function:
 *  - slot 0: the host bridge (class 06 00 00);
 *  - slots 1..: the virtio devices in the order expect= gives (PCI device
 *    ids, e.g. expect=1042,1041,1044,1043): vendor 0x1af4, revision >= 1,
 *    BAR0 a 64-bit memory BAR inside 0xc0000000-0xdfffffff, aligned to
 *    its size, not overlapping any other BAR; the virtio vendor
 *    capabilities (common, notify, ISR, device config except for rng)
 *    inside BAR0; MSI-X with num_queues + 1 entries, its table and PBA in
 *    BAR0 clear of the virtio structures, at distinct addresses for every
 *    device, every entry masked; INTA# on a distinct IOAPIC line 16-22
 *    (23 is the ACPI GED's).
 *  - empty slots, other functions and bus 1 read all-ones.
 * Finally BAR0 of the rng device (else the last one) is moved (decoding
 * off, new address, decoding on) and the device must work there: it is
 * initialised and (rng) serves a request by MSI-X, the notification going
 * to the new address.
 *
 * With transport=mmio (cvmm --virtio-transport mmio) there is no PCI bus
 * at all, as on QEMU's microvm: no MCFG table, nothing answers at CF8/CFC
 * or at the usual ECAM base, and the DSDT has no PCI host bridge (PNP0A08,
 * PNP0A03). The devices are the DSDT's LNRO0005 ones instead, in
 * expect= order (DeviceID + 0x1040): MagicValue, Version 2, a 4 KiB window
 * each, aligned, disjoint, in the platform area below the IOAPIC; a
 * distinct level-triggered, active-high GSI 16-22 each; QueueNumMax
 * non-zero for exactly the device's queues. With cmdline=1 the command
 * line's virtio_mmio.device= entries must describe the same devices.
 */
#include "virtio.h"

const char test_name[] = "virtio_enum";

#define MAXF 16
static struct pci_dev cf8[MAXF], ecam[MAXF];
static struct virtio_dev vds[MAXF];

static u16 expected_queues(u16 id)
{
	switch (id) {
	case VIRTIO_ID_NET: return 2;     /* receiveq, transmitq */
	case VIRTIO_ID_BLOCK: return 1;
	case VIRTIO_ID_CONSOLE: return 2; /* port 0 only (no MULTIPORT) */
	case VIRTIO_ID_RNG: return 1;
	default: return 0;
	}
}

static void compare_functions(const struct pci_dev *a, const struct pci_dev *b)
{
	CHECK(3, a->slot == b->slot && a->fn == b->fn, "CF8 found %02x.%x where ECAM found %02x.%x",
	      a->slot, a->fn, b->slot, b->fn);
	for (u16 off = 0; off < 256; off += 4) {
		u32 x = pci_read32(a, off), y = pci_read32(b, off);
		CHECK(4, x == y, "%02x.%x config 0x%02x: CF8 0x%08x, ECAM 0x%08x", a->slot, a->fn, off,
		      x, y);
	}
	/* Narrow accesses agree with the dword ones. */
	u32 id = pci_read32(a, 0);
	CHECK(5, pci_read16(a, 2) == id >> 16 && pci_read8(a, 1) == ((id >> 8) & 0xff) &&
			 pci_read16(b, 2) == id >> 16 && pci_read8(b, 3) == id >> 24,
	      "%02x.%x: byte/word reads disagree with dword reads", a->slot, a->fn);
	for (int i = 0; i < 6; i++)
		CHECK(6, a->bar[i].kind == b->bar[i].kind && a->bar[i].addr == b->bar[i].addr &&
				 a->bar[i].size == b->bar[i].size,
		      "%02x.%x BAR%d: CF8 and ECAM sizing differ", a->slot, a->fn, i);
	CHECK(7, a->ncaps == b->ncaps && a->msix_cap == b->msix_cap, "%02x.%x: capability lists differ",
	      a->slot, a->fn);
}

static bool overlaps(u64 a, u64 as, u64 b, u64 bs)
{
	return a < b + bs && b < a + as;
}

/* The virtio structures of vd, as (addr, len) pairs, for overlap checks. */
static void check_virtio(struct virtio_dev *vd, u16 id)
{
	const struct pci_dev *p = &vd->pci;
	u8 slot = p->slot;
	const struct pci_bar_info *b0 = &p->bar[0];
	CHECK(10, p->revision >= 1, "slot %u: revision %u (modern devices have >= 1)", slot,
	      p->revision);
	if (p->subsys_id < 0x40)
		printf("virtio_enum: note: slot %u subsystem device id 0x%x (virtio 4.1.2.1: non-transitional devices SHOULD use >= 0x40)\n",
		       slot, p->subsys_id);
	CHECK(11, p->subsys_vendor == VIRTIO_PCI_VENDOR || p->subsys_vendor != 0,
	      "slot %u: subsystem vendor 0", slot);
	CHECK(12, b0->kind == PCI_BAR_MEM64 && b0->size >= 0x1000,
	      "slot %u: BAR0 kind %d size 0x%lx, expected a 64-bit memory BAR", slot, b0->kind,
	      b0->size);
	CHECK(13, b0->addr >= 0xc0000000UL && b0->addr + b0->size <= 0xe0000000UL,
	      "slot %u: BAR0 at 0x%lx, outside 0xc0000000-0xdfffffff", slot, b0->addr);
	CHECK(14, (b0->addr & (b0->size - 1)) == 0, "slot %u: BAR0 0x%lx not aligned to 0x%lx", slot,
	      b0->addr, b0->size);
	for (int i = 2; i < 6; i++)
		CHECK(15, p->bar[i].kind == PCI_BAR_NONE, "slot %u: unexpected BAR%d", slot, i);
	CHECK(16, vd->num_queues == expected_queues(id), "slot %u (type %u): %u queues, expected %u",
	      slot, id, vd->num_queues, expected_queues(id));
	CHECK(17, vd->notify_mult >= 2 && vd->notify_len >= vd->num_queues * vd->notify_mult,
	      "slot %u: notify multiplier %u, length 0x%x", slot, vd->notify_mult, vd->notify_len);
	if (id == VIRTIO_ID_RNG)
		CHECK(18, !vd->device, "slot %u: rng has a device config structure", slot);
	else
		CHECK(19, vd->device && vd->device_len > 0, "slot %u: no device config structure", slot);
	/* MSI-X. */
	CHECK(20, p->msix_cap, "slot %u: no MSI-X capability", slot);
	CHECK(21, p->msix_size == vd->num_queues + 1, "slot %u: %u MSI-X entries for %u queues", slot,
	      p->msix_size, vd->num_queues);
	CHECK(22, p->msix_table_bir == 0 && p->msix_pba_bir == 0, "slot %u: MSI-X outside BAR0", slot);
	u64 tbl = pci_msix_table(p), pba = pci_msix_pba(p);
	u64 tlen = 16ULL * p->msix_size, plen = 8ULL * ((p->msix_size + 63) / 64);
	CHECK(23, tbl + tlen <= b0->addr + b0->size && pba + plen <= b0->addr + b0->size &&
			  !overlaps(tbl, tlen, pba, plen),
	      "slot %u: MSI-X table 0x%lx / PBA 0x%lx misplaced", slot, tbl, pba);
	u64 regions[4][2] = { { vd->common, VIRTIO_COMMON_SIZE },
			      { vd->notify, vd->notify_len },
			      { vd->isr, 1 },
			      { vd->device, vd->device_len } };
	for (int i = 0; i < 4; i++) {
		if (!regions[i][0])
			continue;
		CHECK(24, !overlaps(regions[i][0], regions[i][1], tbl, tlen) &&
				  !overlaps(regions[i][0], regions[i][1], pba, plen),
		      "slot %u: virtio structure %d overlaps the MSI-X table/PBA", slot, i);
	}
	CHECK(25, !(pci_msix_ctrl(p) & PCI_MSIX_CTRL_ENABLE), "slot %u: MSI-X enabled at boot", slot);
	for (u16 e = 0; e < p->msix_size; e++)
		CHECK(26, mmio_read32(tbl + 16 * e + 12) & PCI_MSIX_VEC_MASKED,
		      "slot %u: MSI-X entry %u not masked at reset", slot, e);
	CHECK(27, p->irq_pin == 1 && p->irq_line >= 16 && p->irq_line <= 22,
	      "slot %u: interrupt pin %u line %u", slot, p->irq_pin, p->irq_line);
	u16 cmd = pci_read16(p, PCI_COMMAND);
	CHECK(28, cmd & PCI_CMD_MEM, "slot %u: memory decoding off (command 0x%x)", slot, cmd);
	CHECK(29, virtio_status(vd) == 0, "slot %u: device status 0x%x at boot", slot,
	      virtio_status(vd));
	printf("virtio_enum: %02x.0 %04x:%04x type %u BAR0 0x%lx+0x%lx, %u queue(s), MSI-X %u entries table 0x%lx, INTx line %u\n",
	       slot, p->vendor, p->device, id, b0->addr, b0->size, vd->num_queues, p->msix_size,
	       tbl, p->irq_line);
}

/* Moves BAR0 of vd to new_addr as an OS reassigning resources would. */
static void move_bar0(struct virtio_dev *vd, u64 new_addr)
{
	struct pci_dev *p = &vd->pci;
	u16 cmd = pci_read16(p, PCI_COMMAND);
	pci_write16(p, PCI_COMMAND, cmd & (u16)~PCI_CMD_MEM);
	pci_write32(p, PCI_BAR0, (u32)new_addr | (pci_read32(p, PCI_BAR0) & 0xf));
	pci_write32(p, PCI_BAR0 + 4, (u32)(new_addr >> 32));
	pci_write16(p, PCI_COMMAND, cmd);
}

/* Where the n bytes of needle occur in [p, end), or NULL. */
static const u8 *find_bytes(const u8 *p, const u8 *end, const u8 *needle, u32 n)
{
	for (; p + n <= end; p++)
		if (!memcmp(p, needle, n))
			return p;
	return 0;
}

/* A virtio-mmio VM: no PCI bus for the guest to find, by any route. */
static void check_no_pci(const struct boot_info *bi)
{
	CHECK(80, pci_init(bi) != 0, "an MCFG table (ECAM at 0x%lx) on a VM without PCI",
	      pci_ecam_base);
	int n1 = pci_scan_bus0(PCI_MECH_CF8, cf8, MAXF);
	int n2 = pci_scan_bus0(PCI_MECH_ECAM, ecam, MAXF); /* at PCI_ECAM_DEFAULT */
	CHECK(81, n1 == 0 && n2 == 0, "%d PCI functions through CF8/CFC, %d through ECAM", n1, n2);
	u64 rsdp;
	const u8 *aml, *end;
	CHECK(82, acpi_find_rsdp(bi, &rsdp) == 0 && acpi_find_dsdt(rsdp, &aml, &end) == 0,
	      "no DSDT");
	/* EisaId ("PNP0A08") and ("PNP0A03") as DWordConst. */
	static const u8 pcie[] = { 0x0c, 0x41, 0xd0, 0x0a, 0x08 };
	static const u8 pci[] = { 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
	CHECK(83, !find_bytes(aml, end, pcie, sizeof(pcie)) && !find_bytes(aml, end, pci, sizeof(pci)),
	      "a PCI host bridge in the DSDT");
	printf("virtio_enum: no PCI bus (no MCFG, nothing at CF8/CFC or ECAM, no host bridge in the DSDT)\n");
}

static void enum_mmio(const struct boot_info *bi, const u16 *expect, u32 nexpect)
{
	const struct virtio_mmio_list *l = &virtio_mmio_dsdt;
	u64 cmdline = 0;
	cmdline_get_u64(bi->cmdline, "cmdline", &cmdline);
	CHECK(70, l->n == nexpect, "%u LNRO0005 devices in the DSDT, expected %u", l->n, nexpect);
	u32 gsis = 0;
	for (u32 i = 0; i < l->n; i++) {
		const struct virtio_mmio_desc *d = &l->d[i];
		struct virtio_dev *vd = &vds[i];
		CHECK(71, virtio_mmio_probe(vd, d) == 0, "device %u at 0x%lx: probe failed", i,
		      d->base);
		printf("virtio_enum: %s: device %u, %u queue(s)\n", vd->where, vd->type,
		       vd->num_queues);
		CHECK(72, VIRTIO_PCI_DEVICE_BASE + vd->type == expect[i],
		      "device %u: DeviceID %u, expected %x", i, vd->type, expect[i]);
		CHECK(73, d->size == 0x1000 && !(d->base & 0xfff) && d->base >= 0xfeb00000UL &&
				  d->base + d->size <= 0xfec00000UL,
		      "device %u: window 0x%lx+0x%x", i, d->base, d->size);
		for (u32 j = 0; j < i; j++)
			CHECK(74, d->base + d->size <= l->d[j].base ||
					  l->d[j].base + l->d[j].size <= d->base,
			      "windows %u and %u overlap", j, i);
		CHECK(75, d->gsi >= 16 && d->gsi <= 22 && !(gsis & (1u << d->gsi)) && d->level &&
				  !d->active_low,
		      "device %u: GSI %u (%s, active %s)", i, d->gsi, d->level ? "level" : "edge",
		      d->active_low ? "low" : "high");
		gsis |= 1u << d->gsi;
		CHECK(76, vd->num_queues == expected_queues(vd->type), "device %u: %u queues", i,
		      vd->num_queues);
	}
	if (cmdline) {
		const struct virtio_mmio_list *c = &virtio_mmio_cmdline;
		CHECK(77, c->n == l->n, "%u virtio_mmio.device= entries, %u DSDT devices", c->n, l->n);
		for (u32 i = 0; i < c->n; i++)
			CHECK(78, c->d[i].base == l->d[i].base && c->d[i].size == l->d[i].size &&
					  c->d[i].gsi == l->d[i].gsi,
			      "virtio_mmio.device= entry %u: 0x%x@0x%lx:%u, DSDT 0x%x@0x%lx:%u", i,
			      c->d[i].size, c->d[i].base, c->d[i].gsi, l->d[i].size, l->d[i].base,
			      l->d[i].gsi);
		printf("virtio_enum: the command line's %u virtio_mmio.device= entries agree\n",
		       c->n);
	} else {
		CHECK(79, virtio_mmio_cmdline.n == 0, "virtio_mmio.device= entries without cmdline=on");
	}
	printf("virtio_enum: %u virtio-mmio devices, windows and GSIs distinct\n", l->n);
}

int test_main(struct boot_info *bi)
{
	char arg[128];
	u16 expect[MAXF];
	u32 nexpect = 0;
	CHECK(30, cmdline_get(bi->cmdline, "expect", arg, sizeof(arg)), "expect= missing");
	for (const char *s = arg; *s && nexpect < MAXF;) {
		u32 v = 0;
		while (*s && *s != ',') {
			char c = *s++;
			v = v * 16 + (u32)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
		}
		expect[nexpect++] = (u16)v;
		if (*s == ',')
			s++;
	}

	virtio_platform_init(bi);
	char tr[8];
	if (cmdline_get(bi->cmdline, "transport", tr, sizeof(tr)) && !strcmp(tr, "mmio")) {
		check_no_pci(bi);
		enum_mmio(bi, expect, nexpect);
		return 0;
	}
	CHECK(31, pci_init(bi) == 0, "no ACPI MCFG table");
	printf("virtio_enum: MCFG: ECAM at 0x%lx\n", pci_ecam_base);
	CHECK(32, pci_ecam_base == PCI_ECAM_DEFAULT, "MCFG ECAM base 0x%lx", pci_ecam_base);

	int n1 = pci_scan_bus0(PCI_MECH_CF8, cf8, MAXF);
	int n2 = pci_scan_bus0(PCI_MECH_ECAM, ecam, MAXF);
	printf("virtio_enum: %d functions through CF8/CFC, %d through ECAM\n", n1, n2);
	CHECK(33, n1 > 0 && n1 == n2, "CF8 found %d functions, ECAM %d", n1, n2);
	CHECK(34, (u32)n1 == nexpect + 1, "%d functions, expected the host bridge + %u", n1, nexpect);
	for (int i = 0; i < n1; i++)
		compare_functions(&cf8[i], &ecam[i]);

	/* Slot 0: host bridge. */
	CHECK(35, cf8[0].slot == 0 && cf8[0].class_code >> 8 == 0x0600,
	      "slot 0: class 0x%06x, expected a host bridge", cf8[0].class_code);
	printf("virtio_enum: 00.0 %04x:%04x host bridge\n", cf8[0].vendor, cf8[0].device);

	for (u32 k = 0; k < nexpect; k++) {
		struct pci_dev *p = k % 2 ? &ecam[k + 1] : &cf8[k + 1];
		CHECK(36, p->slot == k + 1 && p->fn == 0, "function %u at %02x.%x, expected slot %u", k + 1,
		      p->slot, p->fn, k + 1);
		CHECK(37, p->vendor == VIRTIO_PCI_VENDOR && p->device == expect[k],
		      "slot %u: %04x:%04x, expected 1af4:%04x", p->slot, p->vendor, p->device, expect[k]);
		int r = virtio_probe(&vds[k], p);
		CHECK(38, r == 0, "slot %u: %s", p->slot, virtio_strerror(r));
		check_virtio(&vds[k], (u16)(expect[k] - VIRTIO_PCI_DEVICE_BASE));
	}
	/* Distinct resources across devices. */
	for (u32 a = 0; a < nexpect; a++)
		for (u32 b = a + 1; b < nexpect; b++) {
			const struct pci_dev *x = &vds[a].pci, *y = &vds[b].pci;
			CHECK(39, !overlaps(x->bar[0].addr, x->bar[0].size, y->bar[0].addr, y->bar[0].size),
			      "slots %u and %u: BAR0s overlap (0x%lx, 0x%lx)", x->slot, y->slot,
			      x->bar[0].addr, y->bar[0].addr);
			CHECK(40, pci_msix_table(x) != pci_msix_table(y), "slots %u and %u share an MSI-X table",
			      x->slot, y->slot);
			CHECK(41, x->irq_line != y->irq_line, "slots %u and %u share INTx line %u", x->slot,
			      y->slot, x->irq_line);
		}

	/* Nothing else answers. */
	for (u8 s = (u8)(nexpect + 1); s < 32; s++) {
		CHECK(42, pci_conf_read(PCI_MECH_CF8, 0, s, 0, 0, 4) == 0xffffffffu &&
				  pci_conf_read(PCI_MECH_ECAM, 0, s, 0, 0, 4) == 0xffffffffu,
		      "empty slot %u answers", s);
	}
	CHECK(43, pci_conf_read(PCI_MECH_CF8, 0, 1, 1, 0, 4) == 0xffffffffu &&
			  pci_conf_read(PCI_MECH_ECAM, 0, 1, 1, 0, 4) == 0xffffffffu,
	      "function 1 of slot 1 answers");
	CHECK(44, pci_conf_read(PCI_MECH_CF8, 1, 1, 0, 0, 4) == 0xffffffffu &&
			  pci_conf_read(PCI_MECH_ECAM, 1, 1, 0, 0, 4) == 0xffffffffu,
	      "bus 1 answers");
	/* Writes to read-only registers do not stick. */
	struct pci_dev *p1 = &cf8[1];
	pci_write32(p1, PCI_VENDOR_ID, 0x12345678);
	pci_write8(p1, PCI_INT_PIN, 4);
	CHECK(45, pci_read16(p1, PCI_VENDOR_ID) == VIRTIO_PCI_VENDOR && pci_read8(p1, PCI_INT_PIN) == 1,
	      "slot 1: ids or interrupt pin writable");
	printf("virtio_enum: CF8 and ECAM agree on %d functions; resources distinct\n", n1);

	/* Move BAR0 of the rng (else of the last device) and use it there. */
	struct virtio_dev *vd = &vds[nexpect - 1];
	for (u32 k = 0; k < nexpect; k++)
		if (vds[k].type == VIRTIO_ID_RNG)
			vd = &vds[k];
	u64 old = vd->pci.bar[0].addr, size = vd->pci.bar[0].size;
	u64 top = 0;
	for (u32 k = 0; k < nexpect; k++)
		if (vds[k].pci.bar[0].addr + vds[k].pci.bar[0].size > top)
			top = vds[k].pci.bar[0].addr + vds[k].pci.bar[0].size;
	u64 new_addr = ALIGN_UP(top, size) + 16 * size;
	move_bar0(vd, new_addr);
	struct pci_dev moved;
	CHECK(46, pci_probe(PCI_MECH_ECAM, 0, vd->pci.slot, 0, &moved) == 0 &&
			  moved.bar[0].addr == new_addr,
	      "BAR0 reads back 0x%lx after the move to 0x%lx", moved.bar[0].addr, new_addr);
	int r = virtio_probe(vd, &moved);
	CHECK(47, r == 0, "after the move: %s", virtio_strerror(r));
	u16 id = (u16)(moved.device - VIRTIO_PCI_DEVICE_BASE);
	CHECK(48, vd->num_queues == expected_queues(id), "common config at the new address: %u queues",
	      vd->num_queues);
	r = virtio_init(vd, 0, VIRTIO_IRQ_MSIX, vd->num_queues, 8);
	CHECK(49, r == 0, "init at the new BAR address: %s", virtio_strerror(r));
	if (id == VIRTIO_ID_RNG) {
		static u8 buf[16];
		struct vbuf b = { buf, sizeof(buf), true };
		int head = virtq_add(&vd->vq[0], &b, 1, NULL);
		virtq_kick(&vd->vq[0]);
		u32 len = 0;
		r = virtq_wait(&vd->vq[0], 3000, &len, NULL);
		CHECK(50, r == head && len == sizeof(buf), "rng request after the BAR move: %s (len %u)",
		      r < 0 ? virtio_strerror(r) : "wrong id", len);
	}
	virtio_reset(vd);
	printf("virtio_enum: BAR0 of slot %u moved 0x%lx -> 0x%lx, device works there\n",
	       vd->pci.slot, old, new_addr);
	return 0;
}
