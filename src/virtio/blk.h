/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.x, 5.2 "Block Device") over a raw image file or a
 * block device: one request queue of VIRTIO_BLK_QUEUE_SIZE entries served
 * by a device thread (common.h); request parsing and execution live in
 * blk_request.c.
 *
 * Features offered: SEG_MAX (queue size - 2), BLK_SIZE (512, or the
 * O_DIRECT alignment of the file system when larger), FLUSH, RO for
 * readonly=on, DISCARD and WRITE_ZEROES when the file system can punch
 * holes (probed at create; not offered on read-only disks or block
 * devices). GET_ID always works: the id is cfg->id, or the file's base
 * name, truncated to 20 bytes.
 *
 * Locking: the image is locked with an OFD lock (F_OFD_SETLK on the whole
 * file), a write lock for read-write and a read lock for readonly=on, so a
 * second cvmm (or a second disk of the same cvmm) cannot open it
 * read-write while it is in use, nor read-only while it is used
 * read-write. On conflict create fails with -EBUSY and logs "disk PATH is
 * in use by another process". The lock goes with the file descriptor at
 * destroy (or exit). File systems without lock support only warn.
 *
 * Capacity: file size / 512 (rounded down with a warning when the size is
 * not a multiple of 512), or BLKGETSIZE64 for a block device; fixed for
 * the device's life.
 *
 * A chain with no writable byte (nowhere to put the status) is completed
 * with 0 bytes written and counted in vd->errors; a ring violation
 * (vq_pop() -EIO; queue.c logs it) calls virtio_dev_error() and the queue
 * is not served again until reset. Counters: vd->requests (chains completed),
 * vd->bytes (data moved), vd->errors (statuses other than OK and dropped
 * chains).
 */
#ifndef CVMM_VIRTIO_BLK_H
#define CVMM_VIRTIO_BLK_H

#include "config.h"
#include "guest_mem.h"
#include "virtio/virtio.h"

#define VIRTIO_BLK_QUEUE_SIZE 256

struct virtio_blk;

/*
 * Opens and locks cfg->path (O_RDONLY for readonly, O_DIRECT for direct)
 * and builds the device. Returns 0, -EBUSY (locked by someone else), or
 * another -errno (the reason is logged).
 */
int virtio_blk_create(struct virtio_blk **out, const struct disk_config *cfg,
		      const struct guest_mem *mem);
struct virtio_dev *virtio_blk_vdev(struct virtio_blk *b);
/*
 * Stops the device thread, flushes (fdatasync), closes. NULL is fine.
 * Returns 0, or -errno when the guest's writes may not have reached the
 * image: the final fdatasync failed, or a flush had failed while the VM
 * ran (the backend was poisoned, see blk_request.h); either is logged as
 * one error line naming the disk.
 */
int virtio_blk_destroy(struct virtio_blk *b);

#endif
