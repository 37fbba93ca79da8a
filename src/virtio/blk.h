/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.x, 5.2 "Block Device") over a raw image file or a
 * block device: cfg->num_queues request queues (default 1; more offer
 * VIRTIO_BLK_F_MQ and num_queues in the configuration) of cfg->queue_size
 * entries (default VIRTIO_BLK_QUEUE_SIZE), all served by the disk's one
 * device thread (common.h); request parsing and execution live in
 * blk_request.c.
 *
 * Engines (cfg->engine; chosen at create and logged at info level):
 *  - uring (blk_uring.h): each queue keeps up to its size in requests in
 *    flight in one io_uring per disk; completions come back in any order
 *    and are pushed to the used ring as they come, with one interrupt per
 *    queue per pass (EVENT_IDX respected). A queue whose slots are all in
 *    flight is not popped (back-pressure) until a completion frees one.
 *    FLUSH is an fsync (DATASYNC) on the ring with no drain: virtio
 *    promises durability for writes *completed* before the flush was
 *    made available, and a completed write's pwritev has returned (its
 *    CQE was reaped before it was used), so the fsync covers it.
 *    DISCARD, WRITE_ZEROES, GET_ID, bad requests and O_DIRECT bounces
 *    run synchronously among the others; a request of more than
 *    BLK_URING_IOV segments takes an iovec array of its own
 *    (blk_uring.h). With cfg->fixed_buffers guest RAM is registered with
 *    the ring (one-segment reads and writes as READ/WRITE_FIXED). The
 *    device thread waits in the ring, not in epoll (worker.h's waiter):
 *    the kick eventfds and its stop eventfd are polled on the ring, and
 *    one io_uring_enter submits what a pass queued and waits for the
 *    next completion or kick (a lone request: one system call). Each
 *    device thread makes its own ring, SINGLE_ISSUER | DEFER_TASKRUN,
 *    where the kernel has them (blk_uring.h). Pause waits for what is in flight (completed into
 *    the rings, interrupted) before the thread parks; reset and teardown
 *    cancel what the kernel can and wait for the rest, and drop the
 *    completions: nothing completes into a reset queue.
 *  - sync: one request at a time per queue (preadv/pwritev, fdatasync,
 *    fallocate on the device thread).
 *  Default (DISK_ENGINE_AUTO): uring; sync when the kernel gives no ring
 *  (too old, io_uring_disabled, a seccomp policy around cvmm: a warning)
 *  or the image is on tmpfs/ramfs (blk.c: nothing to overlap there).
 *
 * Why one thread per disk for all its queues, not one per queue: the
 * thread only moves descriptors and enters the ring; the I/O runs in the
 * kernel (block layer, io-wq) in parallel however many threads submit it,
 * and one thread means no lock anywhere (each queue's ring, slots and
 * used ring have a single user) and one io_uring_enter per pass for all
 * queues. MQ still spares the guest its cross-CPU queue lock. A thread
 * per queue (one ring each, virtio_common serving a queue subset) is the
 * next step should one thread's ring work become the limit.
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
#include "virtio/blk_uring.h"
#include "virtio/virtio.h"

#define VIRTIO_BLK_QUEUE_SIZE 256 /* default queue_size */

struct virtio_blk;

/*
 * Opens and locks cfg->path (O_RDONLY for readonly, O_DIRECT for direct)
 * and builds the device. Returns 0, -EBUSY (locked by someone else), or
 * another -errno (the reason is logged).
 */
int virtio_blk_create(struct virtio_blk **out, const struct disk_config *cfg,
		      const struct guest_mem *mem);
struct virtio_dev *virtio_blk_vdev(struct virtio_blk *b);
/* cloud-hypervisor's block counters: the reads and writes that succeeded
 * (ops) and the bytes they moved. */
struct virtio_blk_stats {
	uint64_t read_ops, read_bytes, write_ops, write_bytes;
};
void virtio_blk_get_stats(const struct virtio_blk *b, struct virtio_blk_stats *s);
/* The io_uring engine's io_uring_enter calls so far (any thread); false:
 * the disk has the sync engine. Benchmarks and tests. */
bool virtio_blk_uring_stats(const struct virtio_blk *b, struct blk_uring_stats *s);
/*
 * Stops the device thread, flushes (fdatasync), closes. NULL is fine.
 * Returns 0, or -errno when the guest's writes may not have reached the
 * image: the final fdatasync failed, or a flush had failed while the VM
 * ran (the backend was poisoned, see blk_request.h); either is logged as
 * one error line naming the disk.
 */
int virtio_blk_destroy(struct virtio_blk *b);

/*
 * vm.resize-disk: grows the image to `size` bytes (ftruncate, when the
 * file is shorter) and the disk's capacity with it, then tells the driver
 * (a configuration change interrupt: Linux logs "[vdX] new size: ...").
 * Any thread. 0; -EROFS (readonly=on); -EINVAL (not a multiple of 512, or
 * smaller than the disk: cvmm does not shrink disks); -ENOTSUP (the image
 * is no regular file); another -errno from ftruncate. Not logged.
 */
int virtio_blk_resize(struct virtio_blk *b, uint64_t size);

#endif
