/* SPDX-License-Identifier: MIT */
/*
 * bench_blk: benchmark guest (bench/blk-vmm.sh), not a test case. Finds the
 * first virtio-blk device, sets it up (MSI-X, queue 0, EVENT_IDX off), then
 * does `n=N` 4 KiB requests one at a time (queue depth 1), as a driver
 * would: sector in the header, avail index up, notify (one MMIO write,
 * a full exit unless the VMM has an ioeventfd on it), then wait for the
 * completion with `sti; hlt` until the queue's MSI-X interrupt arrives, so
 * a waiting vCPU sleeps instead of spinning. The descriptor chain (16-byte
 * header, 4 KiB data, status byte) is built once and reused; nothing is
 * printed in the loop. N = 0 does everything but the requests (the
 * baseline the benchmark subtracts).
 *
 * Command line: n=N (default 0), write=0|1 (default 0: reads), mech=cf8|ecam
 * (PCI configuration access; default cf8, then ecam if cf8 finds no
 * virtio-blk: QEMU's microvm with pcie=on has ECAM only, at the MCFG base),
 * pcimem=ADDR (where unassigned memory BARs go; see assign_bars()).
 * Exits 0 after N good requests; prints the count and the status of the
 * first failure otherwise.
 */
#include "virtio.h"

const char test_name[] = "bench_blk";

static u8 data[4096] __aligned(4096);
static struct virtio_blk_hdr hdr __aligned(16);
static volatile u8 status;

/* The first modern virtio-blk function on bus 0: 0, or 1 when none. */
static int find_blk(enum pci_mech m, struct pci_dev *d)
{
	for (u8 slot = 0; slot < 32; slot++)
		if (pci_probe(m, 0, slot, 0, d) == 0 && d->vendor == VIRTIO_PCI_VENDOR &&
		    d->device == VIRTIO_PCI_DEVICE_BASE + VIRTIO_ID_BLOCK)
			return 0;
	return 1;
}

/*
 * Memory BARs still at 0 (no firmware assigned them: QEMU's microvm with
 * pcie=on leaves that to the OS) get naturally aligned addresses from
 * `base` (pcimem=, default 0xc0000000: microvm's 32-bit PCIe MMIO window).
 * Returns whether any BAR was written. cvmm assigns every BAR itself.
 */
static bool assign_bars(const struct pci_dev *d, u64 base)
{
	bool wrote = false;
	for (int i = 0; i < 6; i++) {
		const struct pci_bar_info *b = &d->bar[i];
		if (b->kind != PCI_BAR_MEM32 && b->kind != PCI_BAR_MEM64)
			continue;
		if (b->addr || !b->size)
			continue;
		base = ALIGN_UP(base, b->size);
		pci_write32(d, PCI_BAR0 + 4 * i, (u32)base);
		if (b->kind == PCI_BAR_MEM64)
			pci_write32(d, PCI_BAR0 + 4 * (i + 1), (u32)(base >> 32));
		printf("bench_blk: BAR%d (0x%lx bytes) assigned at 0x%lx\n", i, b->size, base);
		base += b->size;
		wrote = true;
	}
	return wrote;
}

int test_main(struct boot_info *bi)
{
	char arg[16];
	u64 n = 0, wr = 0;
	cmdline_get_u64(bi->cmdline, "n", &n);
	cmdline_get_u64(bi->cmdline, "write", &wr);
	virtio_platform_init(bi);

	static struct virtio_dev vd;
	struct pci_dev pd;
	bool ecam_only = cmdline_get(bi->cmdline, "mech", arg, sizeof(arg)) && !strcmp(arg, "ecam");
	int r = ecam_only ? 1 : find_blk(PCI_MECH_CF8, &pd);
	if (r != 0)
		r = find_blk(PCI_MECH_ECAM, &pd);
	CHECK(3, r == 0, "no virtio-blk device (%d; ECAM base 0x%lx)", r, pci_ecam_base);
	u64 pcimem = 0xc0000000;
	cmdline_get_u64(bi->cmdline, "pcimem", &pcimem);
	if (assign_bars(&pd, pcimem))
		CHECK(7, pci_probe(pd.mech, 0, pd.slot, 0, &pd) == 0, "re-probe failed");
	r = virtio_probe(&vd, &pd);
	CHECK(8, r == 0, "virtio-blk probe: %s", virtio_strerror(r));
	r = virtio_init(&vd, 0, VIRTIO_IRQ_MSIX, 1, 16);
	CHECK(4, r == 0, "virtio-blk init: %s", virtio_strerror(r));
	u64 cap = 0;
	virtio_read_config(&vd, VIRTIO_BLK_CFG_CAPACITY, &cap, 8);
	CHECK(5, cap >= 16, "capacity %lu sectors", cap);
	printf("bench_blk: %s, slot %u, capacity %lu, %lu x 4 KiB %s\n",
	       pci_mech_name(vd.pci.mech), vd.pci.slot, cap, n, wr ? "writes" : "reads");

	struct virtq *vq = &vd.vq[0];
	hdr.type = wr ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	vq->desc[0] = (struct vring_desc){ (u64)&hdr, sizeof(hdr), VRING_DESC_F_NEXT, 1 };
	vq->desc[1] = (struct vring_desc){ (u64)data, sizeof(data),
					   (u16)(VRING_DESC_F_NEXT | (wr ? 0 : VRING_DESC_F_WRITE)), 2 };
	vq->desc[2] = (struct vring_desc){ (u64)&status, 1, VRING_DESC_F_WRITE, 0 };
	u64 span = cap / 8 - 1; /* 4 KiB blocks, the last one may be partial */
	u16 idx = 0;
	for (u64 i = 0; i < n; i++) {
		hdr.sector = (i * 7919 % span) * 8;
		status = 0xff;
		WRITE_ONCE(vq->avail->ring[idx & (vq->size - 1)], 0);
		barrier();
		idx++;
		WRITE_ONCE(vq->avail->idx, idx);
		mb();
		if (!(READ_ONCE(vq->used->flags) & VRING_USED_F_NO_NOTIFY))
			mmio_write16(vq->notify, 0);
		for (;;) {
			cli();
			if (READ_ONCE(vq->used->idx) == idx)
				break;
			/* sti takes effect after the next instruction: no lost wakeup. */
			__asm__ __volatile__("sti; hlt" ::: "memory");
		}
		sti();
		if (status != VIRTIO_BLK_S_OK) {
			printf("bench_blk: request %lu (sector %lu): status 0x%x\n", i, hdr.sector,
			       status);
			return 6;
		}
	}
	printf("bench_blk: %lu requests, %u interrupts\n", n, vq->irqs);
	virtio_reset(&vd);
	return 0;
}
