/* SPDX-License-Identifier: MIT */
/*
 * virtio_blk: drives two virtio-blk devices (5.2) as a driver would. The
 * harness gives a read-write disk and a read-only one (readonly=on), both
 * written by tools/diskpat in the lib/diskpat.h pattern, with ids.
 *
 * Disk 0: capacity and blk_size from the config space; reads (one
 * descriptor, data split over several, the last sector) checked against
 * the pattern; writes of known data to sectors 100-103 and the last one
 * (read back here, and checked in the image file by the harness after
 * cvmm exits); FLUSH; GET_ID; a read/write past the capacity and a read of
 * a partial sector get IOERR; an unknown request type gets UNSUPP.
 * Disk 1: RO offered and accepted, reads work, a write gets IOERR (the
 * harness checks the file did not change), FLUSH is OK, GET_ID.
 *
 * Command line: irq=msix|intx, evidx=0|1, sectors=N, salt=N, id0=, id1=.
 */
#include "diskpat.h"
#include "virtio.h"

const char test_name[] = "virtio_blk";

#define WANT_FEATURES (BIT_ULL(VIRTIO_BLK_F_FLUSH) | BIT_ULL(VIRTIO_BLK_F_BLK_SIZE) | \
		       BIT_ULL(VIRTIO_BLK_F_SEG_MAX) | BIT_ULL(VIRTIO_BLK_F_RO))

static struct virtio_dev disk[2];
static u8 data[8 * 512] __aligned(4096);
static u64 salt;

static void check_pattern(int code, const u8 *b, u64 sector, u32 nsect, const char *what)
{
	for (u32 s = 0; s < nsect; s++)
		for (u32 i = 0; i < 512; i++) {
			u8 want = diskpat_byte(sector + s, i);
			CHECK(code, b[s * 512 + i] == want,
			      "%s: sector %lu byte %u is 0x%x, expected 0x%x", what, sector + s, i,
			      b[s * 512 + i], want);
		}
}

static u8 blk(struct virtio_dev *vd, u32 type, u64 sector, void *buf, u32 len, u32 nsplit,
	      u32 *used, const char *what)
{
	u8 st = 0xff;
	u32 ul = 0;
	int r = virtio_blk_request(&vd->vq[0], type, sector, buf, len, nsplit, &st, &ul, 3000);
	CHECK(3, r == 0, "%s: %s (status 0x%x, irqs %u)", what, virtio_strerror(r),
	      virtio_status(vd), vd->vq[0].irqs);
	if (used)
		*used = ul;
	return st;
}

static void read_ok(struct virtio_dev *vd, u64 sector, u32 nsect, u32 nsplit, const char *what)
{
	u32 used;
	memset(data, 0xcc, nsect * 512);
	u8 st = blk(vd, VIRTIO_BLK_T_IN, sector, data, nsect * 512, nsplit, &used, what);
	CHECK(4, st == VIRTIO_BLK_S_OK, "%s: status %u", what, st);
	CHECK(5, used == nsect * 512 + 1, "%s: used length %u, expected %u", what, used,
	      nsect * 512 + 1);
	check_pattern(6, data, sector, nsect, what);
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
		for (u32 i = 0; i < 512; i++) {
			u8 want = diskpat_written(sector + s, i, (u32)salt);
			CHECK(7, data[s * 512 + i] == want, "%s: sector %lu byte %u is 0x%x, expected 0x%x",
			      what, sector + s, i, data[s * 512 + i], want);
		}
}

static void get_id(struct virtio_dev *vd, const char *want, const char *what)
{
	u8 id[VIRTIO_BLK_ID_BYTES + 1];
	u32 used;
	memset(data, 0xcc, 64);
	u8 st = blk(vd, VIRTIO_BLK_T_GET_ID, 0, data, VIRTIO_BLK_ID_BYTES, 1, &used, what);
	CHECK(8, st == VIRTIO_BLK_S_OK, "%s: GET_ID status %u", what, st);
	memcpy(id, data, VIRTIO_BLK_ID_BYTES);
	id[VIRTIO_BLK_ID_BYTES] = 0;
	printf("virtio_blk: %s: GET_ID \"%s\" (used %u)\n", what, (char *)id, used);
	size_t n = strlen(want);
	CHECK(9, n <= VIRTIO_BLK_ID_BYTES && !memcmp(id, want, n), "%s: id \"%s\", expected \"%s\"",
	      what, (char *)id, want);
	for (size_t i = n; i < VIRTIO_BLK_ID_BYTES; i++)
		CHECK(10, id[i] == 0, "%s: id byte %zu is 0x%x, expected NUL padding", what, i, id[i]);
}

static void init_disk(struct virtio_dev *vd, int nth, enum virtio_irq_mode mode, u64 evidx,
		      u64 sectors)
{
	int r = virtio_find(PCI_MECH_CF8, VIRTIO_ID_BLOCK, nth, vd);
	CHECK(11, r == 0, "virtio-blk #%d not found (%d)", nth, r);
	u64 want = WANT_FEATURES | (evidx ? BIT_ULL(VIRTIO_F_EVENT_IDX) : 0);
	r = virtio_init(vd, want, mode, 1, 16);
	CHECK(12, r == 0, "virtio-blk #%d: init: %s", nth, virtio_strerror(r));
	u64 cap = 0;
	u32 bsz = 0, seg_max = 0;
	virtio_read_config(vd, VIRTIO_BLK_CFG_CAPACITY, &cap, 8);
	virtio_read_config(vd, VIRTIO_BLK_CFG_BLK_SIZE, &bsz, 4);
	virtio_read_config(vd, VIRTIO_BLK_CFG_SEG_MAX, &seg_max, 4);
	printf("virtio_blk: disk %d: %s, features 0x%lx (offered 0x%lx), capacity %lu, blk_size %u, seg_max %u, interrupt line %u\n",
	       nth, vd->where, vd->features, vd->dev_features, cap, bsz, seg_max, vd->irq_line);
	CHECK(13, cap == sectors, "disk %d: capacity %lu, expected %lu", nth, cap, sectors);
	CHECK(14, (vd->dev_features & WANT_FEATURES & ~BIT_ULL(VIRTIO_BLK_F_RO)) ==
			  (WANT_FEATURES & ~BIT_ULL(VIRTIO_BLK_F_RO)),
	      "disk %d: FLUSH/BLK_SIZE/SEG_MAX not all offered (0x%lx)", nth, vd->dev_features);
	CHECK(15, bsz == 512, "disk %d: blk_size %u", nth, bsz);
	CHECK(16, seg_max >= 6, "disk %d: seg_max %u too small for this test", nth, seg_max);
}

int test_main(struct boot_info *bi)
{
	char id0[32], id1[32];
	enum virtio_irq_mode mode = virtio_irq_mode_arg(bi);
	u64 evidx = 1, sectors = 0;
	cmdline_get_u64(bi->cmdline, "evidx", &evidx);
	CHECK(17, cmdline_get_u64(bi->cmdline, "sectors", &sectors) && sectors > 1100,
	      "sectors= missing or too small");
	cmdline_get_u64(bi->cmdline, "salt", &salt);
	CHECK(18, cmdline_get(bi->cmdline, "id0", id0, sizeof(id0)) &&
			  cmdline_get(bi->cmdline, "id1", id1, sizeof(id1)),
	      "id0= / id1= missing");
	u64 last = sectors - 1;

	virtio_platform_init(bi);
	struct virtio_dev *d = &disk[0];
	init_disk(d, 0, mode, evidx, sectors);
	CHECK(19, !(d->dev_features & BIT_ULL(VIRTIO_BLK_F_RO)), "disk 0 offers RO");

	/* Reads. */
	read_ok(d, 0, 1, 1, "read sector 0");
	read_ok(d, 1000, 8, 3, "read 8 sectors at 1000 (3 data descriptors)");
	read_ok(d, 255, 2, 2, "read sectors 255-256");
	read_ok(d, last, 1, 1, "read the last sector");
	printf("virtio_blk: reads ok (%u interrupts)\n", d->vq[0].irqs);

	/* Writes, read back; the harness checks the file too. */
	u32 used;
	fill_written(100, 4);
	u8 st = blk(d, VIRTIO_BLK_T_OUT, 100, data, 4 * 512, 3, &used, "write 100-103");
	CHECK(20, st == VIRTIO_BLK_S_OK, "write 100-103: status %u", st);
	fill_written(last, 1);
	st = blk(d, VIRTIO_BLK_T_OUT, last, data, 512, 1, &used, "write last sector");
	CHECK(21, st == VIRTIO_BLK_S_OK, "write last sector: status %u", st);
	memset(data, 0, sizeof(data));
	st = blk(d, VIRTIO_BLK_T_IN, 100, data, 4 * 512, 2, &used, "read back 100-103");
	CHECK(22, st == VIRTIO_BLK_S_OK, "read back 100-103: status %u", st);
	check_written(100, 4, "read back 100-103");
	st = blk(d, VIRTIO_BLK_T_IN, last, data, 512, 1, &used, "read back last");
	CHECK(23, st == VIRTIO_BLK_S_OK, "read back last: status %u", st);
	check_written(last, 1, "read back last");
	read_ok(d, 99, 1, 1, "read sector 99 (untouched)");
	read_ok(d, 104, 1, 1, "read sector 104 (untouched)");
	st = blk(d, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0, &used, "flush");
	CHECK(24, st == VIRTIO_BLK_S_OK && used == 1, "flush: status %u used %u", st, used);
	printf("virtio_blk: writes + flush ok\n");

	get_id(d, id0, "disk 0");

	/* Out of range, partial sectors, unknown commands. */
	st = blk(d, VIRTIO_BLK_T_IN, sectors, data, 512, 1, &used, "read at capacity");
	CHECK(25, st == VIRTIO_BLK_S_IOERR, "read at the capacity: status %u, expected IOERR", st);
	st = blk(d, VIRTIO_BLK_T_IN, last, data, 2 * 512, 1, &used, "read across the end");
	CHECK(26, st == VIRTIO_BLK_S_IOERR, "read across the end: status %u, expected IOERR", st);
	st = blk(d, VIRTIO_BLK_T_IN, ~0UL >> 9, data, 512, 1, &used, "read at 2^55");
	CHECK(27, st == VIRTIO_BLK_S_IOERR, "read at sector 2^55-1: status %u, expected IOERR", st);
	fill_written(sectors, 1);
	st = blk(d, VIRTIO_BLK_T_OUT, sectors, data, 512, 1, &used, "write at capacity");
	CHECK(28, st == VIRTIO_BLK_S_IOERR, "write at the capacity: status %u, expected IOERR", st);
	st = blk(d, VIRTIO_BLK_T_IN, 10, data, 100, 1, &used, "read of 100 bytes");
	CHECK(29, st == VIRTIO_BLK_S_IOERR, "read of 100 bytes: status %u, expected IOERR", st);
	st = blk(d, 0x1234, 0, data, 512, 1, &used, "unknown type");
	CHECK(30, st == VIRTIO_BLK_S_UNSUPP, "request type 0x1234: status %u, expected UNSUPP", st);
	read_ok(d, 1, 1, 1, "read after errors");
	printf("virtio_blk: out-of-range and bad requests refused\n");

	/* The read-only disk. */
	struct virtio_dev *r = &disk[1];
	init_disk(r, 1, mode, evidx, sectors);
	CHECK(31, r->dev_features & BIT_ULL(VIRTIO_BLK_F_RO), "disk 1 (readonly=on) does not offer RO");
	CHECK(32, r->features & BIT_ULL(VIRTIO_BLK_F_RO), "RO not negotiated");
	read_ok(r, 5, 1, 1, "ro: read sector 5");
	read_ok(r, 100, 4, 2, "ro: read sectors 100-103");
	fill_written(5, 1);
	st = blk(r, VIRTIO_BLK_T_OUT, 5, data, 512, 1, &used, "ro: write");
	CHECK(33, st == VIRTIO_BLK_S_IOERR, "write to the read-only disk: status %u, expected IOERR", st);
	read_ok(r, 5, 1, 1, "ro: sector 5 after the refused write");
	st = blk(r, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0, &used, "ro: flush");
	CHECK(34, st == VIRTIO_BLK_S_OK, "ro: flush status %u", st);
	get_id(r, id1, "disk 1");
	printf("virtio_blk: read-only disk ok\n");

	if (mode == VIRTIO_IRQ_INTX) {
		printf("virtio_blk: INTx: disk 0 %u interrupts (ISR 0x%x), disk 1 %u (ISR 0x%x)\n",
		       d->intx_irqs, d->isr_seen, r->intx_irqs, r->isr_seen);
		CHECK(35, d->intx_irqs > 0 && r->intx_irqs > 0, "INTx: no interrupts");
		CHECK(36, d->irq_line != r->irq_line, "both disks on interrupt line %u",
		      d->irq_line);
		CHECK(37, !virtio_on_pci(d) || !(pci_msix_ctrl(&d->pci) & PCI_MSIX_CTRL_ENABLE),
		      "MSI-X enabled in INTx mode");
	}
	CHECK(38, !((virtio_status(d) | virtio_status(r)) & VIRTIO_S_NEEDS_RESET), "device needs reset");
	printf("virtio_blk: %s mode, %u + %u queue interrupts\n",
	       mode == VIRTIO_IRQ_MSIX ? "MSI-X" : "INTx", d->vq[0].irqs, r->vq[0].irqs);
	virtio_reset(d);
	virtio_reset(r);
	return 0;
}
