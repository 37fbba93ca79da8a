/* SPDX-License-Identifier: MIT */
/*
 * virtio_rng: drives the virtio-rng device (5.4) as a driver would:
 * requests by interrupt (MSI-X, or INTx with irq=intx), two reads that must
 * differ and not be constant, a request split over two descriptors, one
 * read by polling with interrupts suppressed (none may arrive), and (MSI-X)
 * a masked vector whose interrupt waits in the PBA until unmasked.
 * Command line: irq=msix|intx, evidx=1|0 (negotiate EVENT_IDX or not),
 * transport=pci|mmio (virtio-mmio: irq=intx, the device's GSI).
 */
#include "virtio.h"

const char test_name[] = "virtio_rng";

static struct virtio_dev vd;
static u8 buf1[64], buf2[64], buf3[256];

static void check_random(int code, const u8 *b, u32 len, const char *what)
{
	u32 distinct = 0;
	static u8 seen[256];
	memset(seen, 0, sizeof(seen));
	for (u32 i = 0; i < len; i++) {
		if (!seen[b[i]])
			distinct++;
		seen[b[i]] = 1;
	}
	/* 64 random bytes have ~57 distinct values; 16 is far below. */
	CHECK(code, distinct >= len / 4, "%s: only %u distinct values in %u bytes", what,
	      distinct, len);
}

/* One request of `len` bytes split over nseg descriptors; returns used len. */
static u32 request(u8 *b, u32 len, u32 nseg, const char *what)
{
	struct vbuf v[2];
	u32 half = len / 2;
	if (nseg == 2) {
		v[0] = (struct vbuf){ b, half, true };
		v[1] = (struct vbuf){ b + half, len - half, true };
	} else {
		v[0] = (struct vbuf){ b, len, true };
	}
	struct virtq *vq = &vd.vq[0];
	int head = virtq_add(vq, v, nseg, b);
	CHECK(3, head >= 0, "%s: virtq_add: %s", what, virtio_strerror(head));
	virtq_kick(vq);
	u32 used = 0;
	void *tok = NULL;
	int r = virtq_wait(vq, 3000, &used, &tok);
	CHECK(4, r >= 0, "%s: %s (irqs %u, used idx %u, status 0x%x)", what, virtio_strerror(r),
	      vq->irqs, vq->used->idx, virtio_status(&vd));
	CHECK(5, r == head && tok == b, "%s: used id %d, expected %d", what, r, head);
	return used;
}

int test_main(struct boot_info *bi)
{
	enum virtio_irq_mode mode = virtio_irq_mode_arg(bi);
	u64 evidx = 1;
	cmdline_get_u64(bi->cmdline, "evidx", &evidx);

	virtio_platform_init(bi);
	int r = virtio_find(PCI_MECH_CF8, VIRTIO_ID_RNG, 0, &vd);
	CHECK(6, r == 0, "no virtio-rng device (%d)", r);
	printf("virtio_rng: %s, %u queue(s), MSI-X %u entries, interrupt line %u\n", vd.where,
	       vd.num_queues, vd.pci.msix_size, vd.irq_line);
	r = virtio_init(&vd, evidx ? BIT_ULL(VIRTIO_F_EVENT_IDX) : 0, mode, 1, 16);
	CHECK(7, r == 0, "init: %s", virtio_strerror(r));
	struct virtq *vq = &vd.vq[0];
	printf("virtio_rng: features 0x%lx (offered 0x%lx), irq %s\n", vd.features,
	       vd.dev_features, mode == VIRTIO_IRQ_MSIX ? "msix" : "intx");
	CHECK(8, !!(vd.features & BIT_ULL(VIRTIO_F_EVENT_IDX)) == !!evidx,
	      "EVENT_IDX negotiation: features 0x%lx", vd.features);

	u32 n = request(buf1, sizeof(buf1), 1, "read 1");
	CHECK(9, n == sizeof(buf1), "read 1: %u bytes, asked for %u", n, (u32)sizeof(buf1));
	CHECK(10, vq->irqs >= 1, "read 1: no interrupt");
	n = request(buf2, sizeof(buf2), 1, "read 2");
	CHECK(11, n == sizeof(buf2), "read 2: %u bytes", n);
	CHECK(12, memcmp(buf1, buf2, sizeof(buf1)) != 0, "two reads returned the same bytes");
	check_random(13, buf1, sizeof(buf1), "read 1");
	check_random(14, buf2, sizeof(buf2), "read 2");
	memset(buf3, 0, sizeof(buf3));
	n = request(buf3, 100, 2, "split read");
	CHECK(15, n == 100, "split read: %u bytes, asked for 100", n);
	check_random(16, buf3, 100, "split read");
	printf("virtio_rng: interrupt reads ok (%u interrupts)\n", vq->irqs);

	/* Polling: interrupts suppressed, none may come. */
	virtq_set_poll(vq, true);
	u32 irqs = vq->irqs;
	memset(buf3, 0, sizeof(buf3));
	n = request(buf3, sizeof(buf3), 1, "polled read");
	CHECK(17, n == sizeof(buf3), "polled read: %u bytes", n);
	check_random(18, buf3, sizeof(buf3), "polled read");
	mdelay(50);
	CHECK(19, vq->irqs == irqs, "polled read: %u interrupt(s) despite suppression",
	      vq->irqs - irqs);
	virtq_set_poll(vq, false);
	printf("virtio_rng: polled read ok\n");

	if (mode == VIRTIO_IRQ_MSIX) {
		/* A masked vector: the message waits in the PBA. */
		pci_msix_mask(&vd.pci, vq->msix_entry, true);
		irqs = vq->irqs;
		struct vbuf v = { buf1, 32, true };
		int head = virtq_add(vq, &v, 1, buf1);
		virtq_kick(vq);
		u64 end = rdtsc() + ms_to_tsc(3000);
		while (!virtq_pending(vq) && rdtsc() < end)
			cpu_relax();
		CHECK(20, virtq_pending(vq), "masked vector: request not completed");
		mdelay(20);
		CHECK(21, vq->irqs == irqs, "masked vector: interrupt delivered anyway");
		CHECK(22, pci_msix_pending(&vd.pci, vq->msix_entry),
		      "masked vector: pending bit not set in the PBA");
		pci_msix_mask(&vd.pci, vq->msix_entry, false);
		u32 len = 0;
		r = virtq_wait(vq, 2000, &len, NULL);
		CHECK(23, r == head && len == 32, "after unmask: %s (len %u)", virtio_strerror(r),
		      len);
		CHECK(24, !pci_msix_pending(&vd.pci, vq->msix_entry),
		      "pending bit still set after delivery");
		printf("virtio_rng: masked vector pending, delivered on unmask\n");
	} else {
		printf("virtio_rng: %s interrupts %u, ISR bits seen 0x%x, spurious %u\n",
		       virtio_on_pci(&vd) ? "INTx" : "GSI", vd.intx_irqs, vd.isr_seen, vd.intx_spurious);
		CHECK(25, vd.intx_irqs >= 3 && (vd.isr_seen & VIRTIO_ISR_QUEUE),
		      "INTx: %u interrupts, ISR 0x%x", vd.intx_irqs, vd.isr_seen);
	}
	CHECK(26, !(virtio_status(&vd) & VIRTIO_S_NEEDS_RESET), "device needs reset");
	virtio_reset(&vd);
	return 0;
}
