/* SPDX-License-Identifier: MIT */
/*
 * vhost_user_blk: drives a virtio-blk device whose queue a vhost-user
 * backend serves (the harness runs qemu-storage-daemon's vhost-user-blk
 * export over a 1 MiB image in the lib/diskpat.h pattern), as a driver
 * would. cvmm only set the device up: the requests go from this guest's
 * ring to the backend and its interrupts come back through a KVM irqfd
 * (virtio-pci with MSI-X) or through cvmm's relay (virtio-mmio, INTx).
 *
 * mode=io: capacity and features from the configuration space (the
 * backend's, through GET_CONFIG); reads checked against the pattern (one
 * descriptor, data split over three, the last sector); writes of known
 * data to sectors 100-103 and the last one, read back (and checked in the
 * image by the harness after cvmm exits); FLUSH; a read past the capacity
 * gets IOERR.
 *
 * mode=hostile: mode=io, then descriptors the backend has to parse (a
 * buffer beyond RAM, a chain that loops, a head index out of range, the
 * avail index jumping by more than the queue size). Whatever the backend
 * does with each (an error status, silence, dropping the connection), the
 * guest must see a sane device: a completion, DEVICE_NEEDS_RESET (cvmm
 * failing the device when the backend goes), or nothing until it resets
 * the device; after a reset and a re-initialisation it reads again, which
 * works when the backend is (still or again) there. The guest reaching its
 * end and cvmm exiting 0 is the point: neither is taken down.
 *
 * mode=die: mode=io, then "waiting for the backend to die": the harness
 * kills the backend; the device must read DEVICE_NEEDS_RESET, with a
 * configuration interrupt (interrupt modes), within 20 s. Then "waiting
 * for the backend to come back": the harness starts it again on the same
 * socket, and the guest resets and re-initialises the device until
 * DRIVER_OK holds (cvmm reconnects at activation) and reads the sectors it
 * wrote.
 *
 * Command line: mode=, irq=msix|intx, transport=pci|mmio, sectors=N, salt=N.
 */
#include "diskpat.h"
#include "virtio.h"

const char test_name[] = "vhost_user_blk";

#define WANT (BIT_ULL(VIRTIO_BLK_F_FLUSH) | BIT_ULL(VIRTIO_BLK_F_BLK_SIZE) | \
	      BIT_ULL(VIRTIO_BLK_F_SEG_MAX) | BIT_ULL(VIRTIO_F_INDIRECT_DESC))
#define BEYOND_RAM 0x10000000000UL /* 1 TiB */

static struct virtio_dev disk;
static enum virtio_irq_mode mode;
static u64 sectors, salt, evidx = 1;
static u8 data[8 * 512] __aligned(4096);
static struct virtio_blk_hdr hdr;
static volatile u8 status_byte;

static int bring_up(void)
{
	u64 want = WANT | (evidx ? BIT_ULL(VIRTIO_F_EVENT_IDX) : 0);
	return virtio_init(&disk, want, mode, 1, 16);
}

static u8 blk(u32 type, u64 sector, void *buf, u32 len, u32 nsplit, u32 *used, const char *what)
{
	u8 st = 0xff;
	u32 ul = 0;
	int r = virtio_blk_request(&disk.vq[0], type, sector, buf, len, nsplit, &st, &ul, 5000);
	CHECK(3, r == 0, "%s: %s (status 0x%x, irqs %u)", what, virtio_strerror(r),
	      virtio_status(&disk), disk.vq[0].irqs);
	if (used)
		*used = ul;
	return st;
}

static void read_ok(u64 sector, u32 nsect, u32 nsplit, const char *what)
{
	u32 used;
	memset(data, 0xcc, nsect * 512);
	u8 st = blk(VIRTIO_BLK_T_IN, sector, data, nsect * 512, nsplit, &used, what);
	CHECK(4, st == VIRTIO_BLK_S_OK, "%s: status %u", what, st);
	CHECK(5, used == nsect * 512 + 1, "%s: used length %u, expected %u", what, used,
	      nsect * 512 + 1);
	for (u32 s = 0; s < nsect; s++)
		for (u32 i = 0; i < 512; i++)
			CHECK(6, data[s * 512 + i] == diskpat_byte(sector + s, i),
			      "%s: sector %lu byte %u is 0x%x", what, sector + s, i, data[s * 512 + i]);
}

static void fill_written(u64 sector, u32 nsect)
{
	for (u32 s = 0; s < nsect; s++)
		for (u32 i = 0; i < 512; i++)
			data[s * 512 + i] = diskpat_written(sector + s, i, (u32)salt);
}

static void check_written(u64 sector, u32 nsect, const char *what)
{
	for (u32 s = 0; s < nsect; s++)
		for (u32 i = 0; i < 512; i++)
			CHECK(7, data[s * 512 + i] == diskpat_written(sector + s, i, (u32)salt),
			      "%s: sector %lu byte %u is 0x%x", what, sector + s, i, data[s * 512 + i]);
}

static void read_written(const char *what)
{
	u32 used;
	memset(data, 0, sizeof(data));
	u8 st = blk(VIRTIO_BLK_T_IN, 100, data, 4 * 512, 2, &used, what);
	CHECK(8, st == VIRTIO_BLK_S_OK, "%s: status %u", what, st);
	check_written(100, 4, what);
}

static void io(void)
{
	u64 last = sectors - 1, cap = 0;
	u32 bsz = 0;
	virtio_read_config(&disk, VIRTIO_BLK_CFG_CAPACITY, &cap, 8);
	virtio_read_config(&disk, VIRTIO_BLK_CFG_BLK_SIZE, &bsz, 4);
	printf("vhost_user_blk: %s, features 0x%lx (offered 0x%lx), capacity %lu, blk_size %u\n",
	       disk.where, disk.features, disk.dev_features, cap, bsz);
	CHECK(9, cap == sectors, "capacity %lu, expected %lu", cap, sectors);
	CHECK(10, bsz == 512, "blk_size %u", bsz);
	CHECK(11, disk.dev_features & BIT_ULL(VIRTIO_BLK_F_FLUSH), "FLUSH not offered");
	CHECK(12, !(disk.dev_features & BIT_ULL(VIRTIO_BLK_F_RO)), "RO offered (writable=on)");

	read_ok(0, 1, 1, "read sector 0");
	read_ok(1000, 8, 3, "read 8 sectors at 1000 (3 data descriptors)");
	read_ok(last, 1, 1, "read the last sector");
	printf("vhost_user_blk: reads ok (%u interrupts)\n", disk.vq[0].irqs);

	u32 used;
	fill_written(100, 4);
	u8 st = blk(VIRTIO_BLK_T_OUT, 100, data, 4 * 512, 3, &used, "write 100-103");
	CHECK(13, st == VIRTIO_BLK_S_OK, "write 100-103: status %u", st);
	fill_written(last, 1);
	st = blk(VIRTIO_BLK_T_OUT, last, data, 512, 1, &used, "write the last sector");
	CHECK(14, st == VIRTIO_BLK_S_OK, "write last: status %u", st);
	read_written("read back 100-103");
	memset(data, 0, 512);
	st = blk(VIRTIO_BLK_T_IN, last, data, 512, 1, &used, "read back the last sector");
	CHECK(15, st == VIRTIO_BLK_S_OK, "read back last: status %u", st);
	check_written(last, 1, "read back last");
	read_ok(99, 1, 1, "read sector 99 (untouched)");
	st = blk(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0, &used, "flush");
	CHECK(16, st == VIRTIO_BLK_S_OK && used == 1, "flush: status %u used %u", st, used);
	printf("vhost_user_blk: writes + flush ok\n");
	st = blk(VIRTIO_BLK_T_IN, sectors, data, 512, 1, &used, "read at the capacity");
	CHECK(17, st == VIRTIO_BLK_S_IOERR, "read at the capacity: status %u, expected IOERR", st);
	read_ok(1, 1, 1, "read after the error");
	CHECK(18, !(virtio_status(&disk) & VIRTIO_S_NEEDS_RESET), "device needs reset");
	printf("vhost_user_blk: %s, %u queue interrupts\n",
	       mode == VIRTIO_IRQ_MSIX ? "MSI-X" : "INTx", disk.vq[0].irqs);
}

/* ---- hostile descriptors ---- */

static void blk_chain(u64 data_addr, u32 data_len)
{
	struct vring_desc *d = disk.vq[0].desc;
	hdr = (struct virtio_blk_hdr){ .type = VIRTIO_BLK_T_IN, .sector = 3 };
	status_byte = 0xee;
	d[0] = (struct vring_desc){ (u64)&hdr, sizeof(hdr), VRING_DESC_F_NEXT, 1 };
	d[1] = (struct vring_desc){ data_addr, data_len, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2 };
	d[2] = (struct vring_desc){ (u64)&status_byte, 1, VRING_DESC_F_WRITE, 0 };
}

static void beyond_ram(void)
{
	blk_chain(BEYOND_RAM, 512);
	virtq_publish(&disk.vq[0], 0);
}

static void loop_chain(void)
{
	blk_chain((u64)data, 512);
	disk.vq[0].desc[2].flags |= VRING_DESC_F_NEXT;
	disk.vq[0].desc[2].next = 1;
	virtq_publish(&disk.vq[0], 0);
}

static void head_out_of_range(void)
{
	blk_chain((u64)data, 512);
	virtq_publish(&disk.vq[0], 200);
}

static void avail_jump(void)
{
	struct virtq *vq = &disk.vq[0];
	blk_chain((u64)data, 512);
	for (u16 i = 0; i < vq->size; i++)
		vq->avail->ring[i] = 0;
	WRITE_ONCE(vq->avail->idx, (u16)(vq->avail->idx + 100));
}

static u32 backend_lost, backend_answered, backend_silent, backend_back;

/* One hostile request; whatever came of it, reset, bring up, read. */
static void hostile(void (*setup)(void), const char *what)
{
	setup();
	virtq_notify(&disk.vq[0]);
	u32 len = 0;
	int r = virtq_wait(&disk.vq[0], 3000, &len, NULL);
	u8 s = virtio_status(&disk);
	const char *seen;
	if (r == 0) {
		seen = "completed";
		backend_answered++;
	} else if (s & VIRTIO_S_NEEDS_RESET) {
		seen = "device needs reset (backend gone)";
		backend_lost++;
	} else {
		seen = "no answer";
		backend_silent++;
	}
	printf("hostile: %s: %s (request status 0x%x, device 0x%x)\n", what, seen,
	       status_byte, s);
	/* The device must come back to a sane state: a reset completes. */
	CHECK(20, virtio_reset(&disk) == 0, "%s: reset did not complete", what);
	r = bring_up();
	if (r != 0) {
		printf("hostile: %s: re-init: %s; the backend is not serving\n", what,
		       virtio_strerror(r));
		CHECK(21, virtio_reset(&disk) == 0, "%s: reset after a failed init", what);
		return;
	}
	virtq_rebuild_free(&disk.vq[0]);
	u8 st = 0xff;
	memset(data, 0, 512);
	r = virtio_blk_request(&disk.vq[0], VIRTIO_BLK_T_IN, 3, data, 512, 1, &st, NULL, 3000);
	if (r == 0 && st == VIRTIO_BLK_S_OK) {
		for (u32 i = 0; i < 512; i++)
			CHECK(22, data[i] == diskpat_byte(3, i), "%s: read after: byte %u", what, i);
		printf("hostile: %s: the disk works again\n", what);
		backend_back++;
	} else {
		printf("hostile: %s: read after: %s, status %u\n", what, virtio_strerror(r), st);
	}
}

/* ---- the backend dies ---- */

static void die(void)
{
	u32 cfg = disk.config_irqs;
	printf("vhost_user_blk: waiting for the backend to die\n");
	int s = virtio_wait_status(&disk, VIRTIO_S_NEEDS_RESET, 20000);
	CHECK(30, s >= 0, "no DEVICE_NEEDS_RESET within 20 s (status 0x%x)", virtio_status(&disk));
	if (mode != VIRTIO_IRQ_NONE) {
		u64 end = rdtsc() + ms_to_tsc(2000);
		while (disk.config_irqs == cfg && rdtsc() < end)
			cpu_relax();
		CHECK(31, disk.config_irqs != cfg, "NEEDS_RESET without a configuration interrupt");
	}
	printf("vhost_user_blk: device needs reset (status 0x%x)\n", s);
	/* A request now goes nowhere: the guest keeps running. */
	u8 st = 0xff;
	int r = virtio_blk_request(&disk.vq[0], VIRTIO_BLK_T_IN, 3, data, 512, 1, &st, NULL, 500);
	printf("vhost_user_blk: a request to the dead backend: %s\n", virtio_strerror(r));
	printf("vhost_user_blk: waiting for the backend to come back\n");
	u64 end = rdtsc() + ms_to_tsc(30000);
	unsigned tries = 0;
	do {
		CHECK(32, virtio_reset(&disk) == 0, "reset did not complete");
		tries++;
		r = bring_up();
		if (r == 0)
			break;
		mdelay(500);
	} while (rdtsc() < end);
	CHECK(33, r == 0, "the device never came back (%u tries): %s", tries, virtio_strerror(r));
	printf("vhost_user_blk: reconnected after %u tries\n", tries);
	virtq_rebuild_free(&disk.vq[0]);
	read_written("read 100-103 from the backend that came back");
	read_ok(1000, 8, 3, "read 8 sectors at 1000 after the reconnect");
	printf("vhost_user_blk: the disk works again\n");
}

int test_main(struct boot_info *bi)
{
	char m[16] = "io";
	mode = virtio_irq_mode_arg(bi);
	cmdline_get(bi->cmdline, "mode", m, sizeof(m));
	cmdline_get_u64(bi->cmdline, "evidx", &evidx);
	cmdline_get_u64(bi->cmdline, "salt", &salt);
	CHECK(19, cmdline_get_u64(bi->cmdline, "sectors", &sectors) && sectors > 1100,
	      "sectors= missing or too small");
	virtio_platform_init(bi);
	int r = virtio_find(PCI_MECH_CF8, VIRTIO_ID_BLOCK, 0, &disk);
	CHECK(23, r == 0, "virtio-blk not found (%d)", r);
	r = bring_up();
	CHECK(24, r == 0, "init: %s (status 0x%x)", virtio_strerror(r), virtio_status(&disk));
	io();
	if (!strcmp(m, "hostile")) {
		hostile(beyond_ram, "a buffer beyond RAM");
		hostile(loop_chain, "a chain that loops");
		hostile(head_out_of_range, "head index 200 of 16");
		hostile(avail_jump, "avail index +100");
		printf("hostile: %u completed, %u unanswered, %u with the backend gone; the disk worked again %u times\n",
		       backend_answered, backend_silent, backend_lost, backend_back);
	} else if (!strcmp(m, "die")) {
		die();
	}
	virtio_reset(&disk);
	return 0;
}
