/* SPDX-License-Identifier: MIT */
/*
 * virtio_hostile: a driver that breaks the rules, on virtio-blk (and rng).
 * Every case must leave cvmm running and the device usable again: after
 * each one the disk is (reset and re-initialised where the device asked
 * for it, and) read back correctly. The guest exits 0 only if all of that
 * held, so the harness seeing status 0 also proves cvmm did not crash.
 *
 * Cases (the device's answer that is accepted):
 *  - a descriptor chain that loops (next pointing back): DEVICE_NEEDS_RESET
 *    (status bit 0x40 read back) plus a configuration interrupt, as the spec
 *    requires after DRIVER_OK; then reset, re-init, the disk works again;
 *  - a buffer beyond RAM, and one whose end wraps past 2^64: NEEDS_RESET or
 *    an IOERR status;
 *  - a chain of zero-length descriptors, a chain with no writable byte:
 *    completed (used, nothing written) or NEEDS_RESET;
 *  - head index and next index out of range, avail->idx jumping by more
 *    than the queue size, a readable descriptor after a writable one, an
 *    indirect table beyond RAM: NEEDS_RESET (a valid indirect request is
 *    served);
 *  - queue_size written as 3 (not a power of two) then queue_enable, and
 *    queue_enable with ring addresses beyond RAM or misaligned:
 *    NEEDS_RESET, queue_enable reads 0;
 *  - FEATURES_OK with a feature not offered, or without VERSION_1: refused
 *    (reads back clear); DRIVER_OK without FEATURES_OK: not accepted;
 *  - notifications for queues that do not exist: ignored;
 *  - a reset with requests in flight: completes, the device comes back;
 *  - (rng) a looping chain: NEEDS_RESET, then the rng works again.
 *
 * Command line: irq=msix|intx, transport=pci|mmio (virtio-mmio: irq=intx).
 */
#include "diskpat.h"
#include "virtio.h"

const char test_name[] = "virtio_hostile";

#define BEYOND_RAM 0x10000000000UL /* 1 TiB */
#define WANT (BIT_ULL(VIRTIO_BLK_F_FLUSH) | BIT_ULL(VIRTIO_F_INDIRECT_DESC))

static struct virtio_dev blk, rng;
static struct virtio_blk_hdr hdr;
static u8 data[512] __aligned(512);
static volatile u8 status_byte;
static struct vring_desc itable[4] __aligned(16);
static u32 ncases;
static enum virtio_irq_mode irq_mode;

static void bring_up(struct virtio_dev *vd, const char *after)
{
	int r = virtio_init(vd, WANT, irq_mode, 1, 16);
	CHECK(3, r == 0, "re-init after %s: %s (status 0x%x)", after, virtio_strerror(r),
	      virtio_status(vd));
}

/* The disk works: one good read of sector 3 through the normal path. */
static void good_read(const char *after)
{
	u8 st = 0xff;
	memset(data, 0, sizeof(data));
	virtq_rebuild_free(&blk.vq[0]);
	int r = virtio_blk_request(&blk.vq[0], VIRTIO_BLK_T_IN, 3, data, 512, 1, &st, NULL, 3000);
	CHECK(4, r == 0 && st == VIRTIO_BLK_S_OK, "read after %s: %s, status %u (device 0x%x)", after,
	      virtio_strerror(r), st, virtio_status(&blk));
	for (u32 i = 0; i < 512; i++)
		CHECK(5, data[i] == diskpat_byte(3, i), "read after %s: byte %u is 0x%x", after, i, data[i]);
}

/* NEEDS_RESET expected: checks it (and the config interrupt when the
 * device was live), then resets, re-initialises and reads. */
static void expect_needs_reset(struct virtio_dev *vd, u32 cfg_irqs, bool live, const char *what)
{
	int s = virtio_wait_status(vd, VIRTIO_S_NEEDS_RESET, 2000);
	CHECK(6, s >= 0, "%s: DEVICE_NEEDS_RESET not set (status 0x%x, used %u)", what,
	      virtio_status(vd), vd->vq[0].size ? virtq_pending(&vd->vq[0]) : 0);
	if (live) {
		u64 end = rdtsc() + ms_to_tsc(1000);
		while (vd->config_irqs == cfg_irqs && rdtsc() < end)
			cpu_relax();
		CHECK(7, vd->config_irqs != cfg_irqs,
		      "%s: NEEDS_RESET after DRIVER_OK without a configuration interrupt", what);
	}
	printf("hostile: %s: status 0x%x (NEEDS_RESET)%s\n", what, s,
	       live ? ", config interrupt" : "");
	CHECK(8, virtio_reset(vd) == 0, "%s: reset did not complete", what);
	bring_up(vd, what);
	ncases++;
}

/* Header (readable), data, status (writable) in descriptors 0..2. */
static void blk_chain(u64 data_addr, u32 data_len)
{
	struct vring_desc *d = blk.vq[0].desc;
	hdr = (struct virtio_blk_hdr){ .type = VIRTIO_BLK_T_IN, .sector = 3 };
	status_byte = 0xee;
	d[0] = (struct vring_desc){ (u64)&hdr, sizeof(hdr), VRING_DESC_F_NEXT, 1 };
	d[1] = (struct vring_desc){ data_addr, data_len, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2 };
	d[2] = (struct vring_desc){ (u64)&status_byte, 1, VRING_DESC_F_WRITE, 0 };
}

static void submit(struct virtio_dev *vd, u16 head)
{
	virtq_publish(&vd->vq[0], head);
	virtq_notify(&vd->vq[0]);
}

/* A bad buffer address: NEEDS_RESET or IOERR are both fine. */
static void bad_buffer(u64 addr, const char *what)
{
	u32 cfg = blk.config_irqs;
	blk_chain(addr, 512);
	submit(&blk, 0);
	u32 len = 0;
	int r = virtq_wait(&blk.vq[0], 2000, &len, NULL);
	if (r == 0) {
		CHECK(9, status_byte == VIRTIO_BLK_S_IOERR, "%s: completed with status %u", what,
		      status_byte);
		printf("hostile: %s: IOERR\n", what);
		ncases++;
	} else {
		CHECK(10, r == VIRTIO_ERR_NEEDS_RESET, "%s: %s", what, virtio_strerror(r));
		expect_needs_reset(&blk, cfg, true, what);
	}
	good_read(what);
}

/* Ring rule broken after DRIVER_OK: NEEDS_RESET required. */
static void ring_violation(void (*setup)(void), const char *what)
{
	u32 cfg = blk.config_irqs;
	setup();
	expect_needs_reset(&blk, cfg, true, what);
	good_read(what);
}

static void loop_chain(void)
{
	blk_chain((u64)data, 512);
	/* 0 -> 1 -> 2 -> 1 -> 2 ...: writable descriptors pointing back, so
	 * only the loop (not the readable/writable order) is wrong. */
	blk.vq[0].desc[2].flags |= VRING_DESC_F_NEXT;
	blk.vq[0].desc[2].next = 1;
	submit(&blk, 0);
}

static void head_out_of_range(void)
{
	blk_chain((u64)data, 512);
	submit(&blk, 200);
}

static void next_out_of_range(void)
{
	blk_chain((u64)data, 512);
	blk.vq[0].desc[1].next = 99;
	submit(&blk, 0);
}

static void avail_idx_jump(void)
{
	struct virtq *vq = &blk.vq[0];
	blk_chain((u64)data, 512);
	for (u16 i = 0; i < vq->size; i++)
		vq->avail->ring[i] = 0;
	WRITE_ONCE(vq->avail->idx, (u16)(vq->avail->idx + 100));
	virtq_notify(vq);
}

static void read_after_write(void)
{
	struct vring_desc *d = blk.vq[0].desc;
	blk_chain((u64)data, 512);
	/* status (writable) first, then the header (readable). */
	d[0] = (struct vring_desc){ (u64)&status_byte, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1 };
	d[1] = (struct vring_desc){ (u64)&hdr, sizeof(hdr), 0, 0 };
	submit(&blk, 0);
}

static void indirect_beyond_ram(void)
{
	struct vring_desc *d = blk.vq[0].desc;
	d[0] = (struct vring_desc){ BEYOND_RAM, 3 * 16, VRING_DESC_F_INDIRECT, 0 };
	submit(&blk, 0);
}

static void indirect_ok(void)
{
	hdr = (struct virtio_blk_hdr){ .type = VIRTIO_BLK_T_IN, .sector = 3 };
	status_byte = 0xee;
	memset(data, 0, sizeof(data));
	itable[0] = (struct vring_desc){ (u64)&hdr, sizeof(hdr), VRING_DESC_F_NEXT, 1 };
	itable[1] = (struct vring_desc){ (u64)data, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2 };
	itable[2] = (struct vring_desc){ (u64)&status_byte, 1, VRING_DESC_F_WRITE, 0 };
	blk.vq[0].desc[0] = (struct vring_desc){ (u64)itable, 3 * 16, VRING_DESC_F_INDIRECT, 0 };
	submit(&blk, 0);
	u32 len = 0;
	int r = virtq_wait(&blk.vq[0], 2000, &len, NULL);
	CHECK(11, r == 0 && status_byte == VIRTIO_BLK_S_OK && len == 513,
	      "indirect read: %s, status %u, len %u", virtio_strerror(r), status_byte, len);
	CHECK(12, data[0] == diskpat_byte(3, 0) && data[511] == diskpat_byte(3, 511),
	      "indirect read: wrong data");
	printf("hostile: valid indirect request served\n");
}

/* A chain the device may complete without doing anything, or refuse. */
static void odd_chain(const char *what)
{
	u32 cfg = blk.config_irqs;
	submit(&blk, 0);
	u32 len = 0xdead;
	int r = virtq_wait(&blk.vq[0], 2000, &len, NULL);
	if (r == 0) {
		CHECK(13, len == 0, "%s: used length %u, nothing was writable", what, len);
		printf("hostile: %s: completed with nothing written\n", what);
		ncases++;
	} else {
		CHECK(14, r == VIRTIO_ERR_NEEDS_RESET, "%s: %s", what, virtio_strerror(r));
		expect_needs_reset(&blk, cfg, true, what);
	}
	good_read(what);
}

/* Queue setup broken before DRIVER_OK: NEEDS_RESET, queue_enable stays 0. */
static void bad_queue(u16 size, u64 desc, u64 avail, u64 used, const char *what)
{
	CHECK(15, virtio_start(&blk, WANT, irq_mode) == 0, "%s: start", what);
	struct virtq *vq = &blk.vq[0];
	u32 en = virtq_setup_raw(&blk, 0, size, desc ? desc : (u64)vq->desc,
				 avail ? avail : (u64)vq->avail, used ? used : (u64)vq->used);
	CHECK(16, en == 0, "%s: queue_enable reads %u", what, en);
	expect_needs_reset(&blk, blk.config_irqs, false, what);
	good_read(what);
}

static void bad_features(u64 features, const char *what)
{
	CHECK(17, virtio_reset(&blk) == 0, "%s: reset", what);
	virtio_set_status(&blk, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
	u8 s = virtio_write_features(&blk, features);
	CHECK(18, !(s & VIRTIO_S_FEATURES_OK), "%s: FEATURES_OK accepted (status 0x%x)", what, s);
	printf("hostile: %s: FEATURES_OK refused (status 0x%x)\n", what, s);
	virtio_set_status(&blk, VIRTIO_S_FAILED);
	CHECK(19, virtio_reset(&blk) == 0, "%s: reset", what);
	bring_up(&blk, what);
	good_read(what);
	ncases++;
}

int test_main(struct boot_info *bi)
{
	irq_mode = virtio_irq_mode_arg(bi);
	virtio_platform_init(bi);
	int r = virtio_find(PCI_MECH_CF8, VIRTIO_ID_BLOCK, 0, &blk);
	CHECK(20, r == 0, "no virtio-blk device (%d)", r);
	printf("hostile: virtio-blk at %s, %s interrupts\n", blk.where,
	       irq_mode == VIRTIO_IRQ_MSIX ? "MSI-X" : "line");
	bring_up(&blk, "boot");
	CHECK(21, blk.features & BIT_ULL(VIRTIO_F_INDIRECT_DESC), "INDIRECT_DESC not offered");
	good_read("init");

	ring_violation(loop_chain, "looping descriptor chain");
	bad_buffer(BEYOND_RAM, "buffer beyond RAM");
	bad_buffer(0xfffffffffffffe00UL, "buffer wrapping past 2^64");
	bad_buffer(0xfee00000UL, "buffer in the LAPIC page");

	struct vring_desc *d = blk.vq[0].desc;
	hdr = (struct virtio_blk_hdr){ .type = VIRTIO_BLK_T_IN, .sector = 3 };
	status_byte = 0xee;
	d[0] = (struct vring_desc){ (u64)&hdr, 0, VRING_DESC_F_NEXT, 1 };
	d[1] = (struct vring_desc){ (u64)data, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2 };
	d[2] = (struct vring_desc){ BEYOND_RAM, 0, VRING_DESC_F_WRITE, 0 };
	odd_chain("zero-length chain");
	CHECK(22, status_byte == 0xee, "zero-length chain: status byte written (0x%x)", status_byte);
	d[0] = (struct vring_desc){ (u64)&hdr, sizeof(hdr), 0, 0 };
	odd_chain("chain without a writable byte");

	ring_violation(head_out_of_range, "head index 200 in a 16-entry queue");
	ring_violation(next_out_of_range, "next index 99");
	ring_violation(avail_idx_jump, "avail idx moved by 100");
	ring_violation(read_after_write, "readable descriptor after a writable one");
	ring_violation(indirect_beyond_ram, "indirect table beyond RAM");
	indirect_ok();
	good_read("indirect request");

	u8 *scratch = (u8 *)blk.vq[0].desc;
	bad_queue(3, 0, 0, 0, "queue_size 3");
	bad_queue(0, 0, 0, 0, "queue_size 0");
	bad_queue(16, BEYOND_RAM, BEYOND_RAM + 0x1000, BEYOND_RAM + 0x2000, "rings beyond RAM");
	bad_queue(16, 0, 0, BEYOND_RAM, "used ring beyond RAM");
	bad_queue(16, (u64)(scratch + 8), 0, 0, "descriptor table not 16-byte aligned");

	bad_features(BIT_ULL(VIRTIO_F_VERSION_1) | BIT_ULL(50), "feature bit 50 (not offered)");
	bad_features(BIT_ULL(VIRTIO_BLK_F_FLUSH), "no VERSION_1");

	/* DRIVER_OK without FEATURES_OK. */
	CHECK(23, virtio_reset(&blk) == 0, "reset");
	virtio_set_status(&blk, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
	virtio_set_status(&blk, VIRTIO_S_DRIVER_OK);
	u8 s = virtio_status(&blk);
	CHECK(24, (s & VIRTIO_S_NEEDS_RESET) || !(s & VIRTIO_S_DRIVER_OK) || !(s & VIRTIO_S_FEATURES_OK),
	      "DRIVER_OK without FEATURES_OK: status 0x%x", s);
	printf("hostile: DRIVER_OK without FEATURES_OK: status 0x%x\n", s);
	CHECK(25, virtio_reset(&blk) == 0, "reset after DRIVER_OK without FEATURES_OK");
	bring_up(&blk, "DRIVER_OK without FEATURES_OK");
	good_read("DRIVER_OK without FEATURES_OK");
	ncases++;

	/* Notifications for queues that do not exist; past the notify area. */
	virtq_notify_value(&blk.vq[0], 7);
	virtq_notify_value(&blk.vq[0], 0xffffffff);
	if (virtio_on_pci(&blk)) {
		mmio_write16(blk.notify + 5 * blk.notify_mult, 5);
		mmio_write16(blk.notify + 0xffc, 0);
	}
	mdelay(10);
	CHECK(26, !(virtio_status(&blk) & VIRTIO_S_NEEDS_RESET), "stray notifications broke the device");
	good_read("stray notifications");
	printf("hostile: stray notifications ignored\n");
	ncases++;

	/* Reset with requests in flight: the reset completes, the device
	 * comes back. */
	static u8 st4[4];
	for (int i = 0; i < 4; i++) {
		struct vbuf b[3] = { { &hdr, sizeof(hdr), false }, { data, 512, true },
				     { &st4[i], 1, true } };
		hdr = (struct virtio_blk_hdr){ .type = VIRTIO_BLK_T_IN, .sector = 3 };
		CHECK(32, virtq_add(&blk.vq[0], b, 3, NULL) >= 0, "in-flight request %d", i);
	}
	virtq_kick(&blk.vq[0]);
	CHECK(33, virtio_reset(&blk) == 0, "reset with requests in flight did not complete");
	bring_up(&blk, "reset with requests in flight");
	good_read("reset with requests in flight");
	printf("hostile: reset with 4 requests in flight\n");
	ncases++;

	/* The rng too. */
	r = virtio_find(PCI_MECH_CF8, VIRTIO_ID_RNG, 0, &rng);
	if (r == 0) {
		CHECK(27, virtio_init(&rng, 0, irq_mode, 1, 8) == 0, "rng init");
		struct vring_desc *rd = rng.vq[0].desc;
		rd[0] = (struct vring_desc){ (u64)data, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1 };
		rd[1] = (struct vring_desc){ (u64)data + 16, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0 };
		u32 cfg = rng.config_irqs;
		submit(&rng, 0);
		int st = virtio_wait_status(&rng, VIRTIO_S_NEEDS_RESET, 2000);
		CHECK(28, st >= 0, "rng: looping chain: NEEDS_RESET not set (status 0x%x)",
		      virtio_status(&rng));
		CHECK(29, virtio_reset(&rng) == 0, "rng reset");
		CHECK(30, virtio_init(&rng, 0, irq_mode, 1, 8) == 0, "rng re-init");
		struct vbuf b = { data, 32, true };
		int head = virtq_add(&rng.vq[0], &b, 1, NULL);
		virtq_kick(&rng.vq[0]);
		u32 len = 0;
		r = virtq_wait(&rng.vq[0], 2000, &len, NULL);
		CHECK(31, r == head && len == 32, "rng after reset: %s, len %u",
		      r < 0 ? virtio_strerror(r) : "wrong id", len);
		printf("hostile: rng looping chain: status 0x%x, config interrupts %u, works after reset\n",
		       st, rng.config_irqs - cfg);
		ncases++;
	}
	good_read("the end");
	printf("hostile: %u cases, cvmm still serving\n", ncases);
	return 0;
}
