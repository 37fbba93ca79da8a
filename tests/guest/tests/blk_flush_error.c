/* SPDX-License-Identifier: MIT */
/*
 * blk_flush_error: virtio-blk over an image whose writeback fails (the
 * harness gives a loop device over a sparse file on a full tmpfs: writes
 * land in the page cache, every flush of them fails).
 *
 * mode=sticky: a write (OK: page cache), then FLUSH gets IOERR, and so do
 * a second FLUSH, a write and another FLUSH (Linux reports a writeback
 * error once and drops the pages, so without cvmm remembering, the second
 * FLUSH would say OK with the data lost); a read still works. After a
 * device reset FLUSH is OK again (nothing dirty) and a write is accepted.
 * mode=exit: a write and no FLUSH: the flush cvmm does at exit fails.
 * Either way cvmm must end with status 1 and one error line for the disk.
 */
#include "virtio.h"

const char test_name[] = "blk_flush_error";

static struct virtio_dev disk;
static u8 data[512] __aligned(512);

static void start(void)
{
	int r = virtio_init(&disk, BIT_ULL(VIRTIO_BLK_F_FLUSH), VIRTIO_IRQ_NONE, 1, 16);
	CHECK(3, r == 0, "virtio-blk init: %s", virtio_strerror(r));
	CHECK(4, disk.features & BIT_ULL(VIRTIO_BLK_F_FLUSH), "FLUSH not offered");
	virtq_set_poll(&disk.vq[0], true);
}

static u8 req(u32 type, u64 sector, const char *what)
{
	u8 st = 0xff;
	u32 used = 0;
	int r = virtio_blk_request(&disk.vq[0], type, sector, type == VIRTIO_BLK_T_FLUSH ? 0 : data,
				   type == VIRTIO_BLK_T_FLUSH ? 0 : sizeof(data), 1, &st, &used,
				   3000);
	CHECK(5, r == 0, "%s: %s", what, virtio_strerror(r));
	printf("blk_flush_error: %s: status %u\n", what, st);
	return st;
}

int test_main(struct boot_info *bi)
{
	char mode[16] = "sticky";
	cmdline_get(bi->cmdline, "mode", mode, sizeof(mode));
	virtio_platform_init(bi);
	int r = virtio_find(PCI_MECH_CF8, VIRTIO_ID_BLOCK, 0, &disk);
	CHECK(6, r == 0, "no virtio-blk device (%d)", r);
	start();
	memset(data, 0xe5, sizeof(data));
	CHECK(7, req(VIRTIO_BLK_T_OUT, 0, "write") == VIRTIO_BLK_S_OK, "first write refused");
	if (!strcmp(mode, "exit"))
		return 0;
	CHECK(8, req(VIRTIO_BLK_T_FLUSH, 0, "flush") == VIRTIO_BLK_S_IOERR,
	      "the flush of a failing disk succeeded");
	CHECK(9, req(VIRTIO_BLK_T_FLUSH, 0, "flush again") == VIRTIO_BLK_S_IOERR,
	      "a flush after a failed one succeeded: the lost write goes unnoticed");
	CHECK(10, req(VIRTIO_BLK_T_OUT, 1, "write after the failure") == VIRTIO_BLK_S_IOERR,
	      "a write after a failed flush was accepted");
	CHECK(11, req(VIRTIO_BLK_T_FLUSH, 0, "third flush") == VIRTIO_BLK_S_IOERR,
	      "a flush after a failed one succeeded");
	CHECK(12, req(VIRTIO_BLK_T_IN, 0, "read") == VIRTIO_BLK_S_OK, "reads stopped working");
	start(); /* virtio_start resets the device first */
	CHECK(13, req(VIRTIO_BLK_T_FLUSH, 0, "flush after reset") == VIRTIO_BLK_S_OK,
	      "a flush after the device reset failed");
	CHECK(14, req(VIRTIO_BLK_T_OUT, 2, "write after reset") == VIRTIO_BLK_S_OK,
	      "a write after the device reset was refused");
	printf("blk_flush_error: failed flush stays failed until reset\n");
	return 0;
}
