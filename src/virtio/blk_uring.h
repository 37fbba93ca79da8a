/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk's io_uring engine (liburing): many requests in flight per
 * queue, completions in any order. blk.c drives it from the disk's device
 * thread; this file owns the ring and the requests in flight.
 *
 * One ring per disk, i.e. per device thread (all of a disk's queues are
 * served by its one thread, common.h): the thread is the ring's only user,
 * so nothing here takes a lock, and one io_uring_enter submits what every
 * queue popped in a pass. The ring is set up at create, on the main thread
 * before its seccomp filter is on (io_uring_setup); from then on only the
 * device thread enters it (io_uring_enter, seccomp_rules.c). The image is
 * not a fixed file (blk_uring.c says why). Its fd is one of the device thread's
 * polled fds: readable when completions wait.
 *
 * Requests in flight: each queue has queue-size slots (struct
 * blk_uring_req), taken at pop and given back at completion, so a queue
 * never has more requests in flight than its size, however the guest
 * fills (or abuses: the same head many times) its avail ring: with no
 * slot left, blk_uring_get() says no and the device stops popping (back-
 * pressure) until a completion gives one back. The completion queue is
 * sized for every slot of every queue, so it never overflows. Memory is
 * fixed at create: nqueues * qsize slots of BLK_URING_IOV iovecs each,
 * and at most BLK_URING_BIG larger arrays (VQ_MAX_SEGS iovecs at most)
 * at a time for requests of more segments (blk_io.grow; beyond that the
 * request runs synchronously), freed when their slot is.
 *
 * Each slot carries the request's iovecs (the kernel may read them until
 * the request is issued), the chain head and queue to push it back on, and
 * the status byte's address (blk_request.h's struct blk_io).
 *
 * Fixed buffers (optional, blk_uring_create's `fixed`): guest RAM is
 * registered with the ring (io_uring_register_buffers, in pieces of at most
 * 1 GiB), and a READ or WRITE of one segment goes as READ_FIXED /
 * WRITE_FIXED, which spares the kernel the pinning of the guest's pages for
 * each O_DIRECT request. The price: every page of guest RAM is faulted in
 * and pinned while the ring lives (about 2.4 s per GiB of untouched memory
 * on the benchmark host, BENCHMARKS.md), hence opt-in (--disk
 * fixed_buffers=on). Requests of several segments go as READV/WRITEV.
 */
#ifndef CVMM_VIRTIO_BLK_URING_H
#define CVMM_VIRTIO_BLK_URING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest_mem.h"
#include "virtio/blk_request.h"

/* Data iovecs a slot holds (64 4 KiB pages: 256 KiB of scattered
 * buffers); a request of more gets an array of its own (blk_io.grow). */
#define BLK_URING_IOV 64
/* Slots with such an array at a time (each at most VQ_MAX_SEGS iovecs,
 * 16 KiB: 1 MiB per disk). */
#define BLK_URING_BIG 64
/* Fixed buffers at most (1 GiB each). */
#define BLK_URING_FIXED_MAX 64

struct blk_uring;

struct blk_uring_req {
	struct blk_io io;   /* io.iov points at iov, or a grown array */
	uint16_t head;      /* the chain, for vq_push_used() */
	uint16_t queue;
	uint32_t next_free; /* free list */
	struct blk_uring *owner;
	struct iovec iov[BLK_URING_IOV];
};

/*
 * A ring for fd with nqueues * qsize slots (qsize a power of two). 0 or
 * -errno (io_uring unavailable: ENOSYS on old kernels, EPERM under a
 * seccomp policy or io_uring_disabled); not logged, blk.c says which
 * engine it took and why. With `fixed`, its regions are registered as
 * fixed buffers (above); failing that (RLIMIT_MEMLOCK, more than
 * BLK_URING_FIXED_MAX GiB) the ring works without: blk_uring_fixed().
 */
int blk_uring_create(struct blk_uring **out, int fd, unsigned nqueues,
		     unsigned qsize, const struct guest_mem *fixed);
/* Nothing may be in flight (blk_uring_drain). NULL is fine. */
void blk_uring_destroy(struct blk_uring *u);
/* The ring's fd: readable (EPOLLIN) while completions wait. */
int blk_uring_fd(const struct blk_uring *u);
/* Fixed buffers registered (> 0), not asked for (0), or why not (-errno). */
int blk_uring_fixed(const struct blk_uring *u);
/* Requests queued as READ_FIXED / WRITE_FIXED so far. */
uint64_t blk_uring_fixed_ops(const struct blk_uring *u);
/* Whether the kernel took IORING_SETUP_COOP_TASKRUN (blk_uring.c). */
bool blk_uring_coop(const struct blk_uring *u);
/* Whether completions wait in the ring (no system call). */
bool blk_uring_cq_ready(struct blk_uring *u);

/*
 * A free slot of queue q, or NULL when q already has `limit` requests in
 * flight (limit: the queue's size as the driver set it, at most qsize).
 */
struct blk_uring_req *blk_uring_get(struct blk_uring *u, unsigned q,
				    unsigned limit);
/* Gives back a slot that was not queued (the request ran synchronously). */
void blk_uring_put(struct blk_uring *u, struct blk_uring_req *r);
/*
 * Queues r's I/O (r->io filled by blk_request_prepare) for the next
 * submit. 0, or -EBUSY: the submission queue is full and the kernel takes
 * nothing (a failing ring); the caller runs the request itself.
 */
int blk_uring_queue(struct blk_uring *u, struct blk_uring_req *r);
/* Submits what was queued: 0 or -errno (nothing lost: retried next time). */
int blk_uring_submit(struct blk_uring *u);

/* A completion: res is the bytes moved or -errno. The slot is free after. */
typedef void blk_uring_done_fn(void *opaque, struct blk_uring_req *r, int res);
/* Hands every completion waiting to done; never blocks. Returns how many. */
unsigned blk_uring_reap(struct blk_uring *u, blk_uring_done_fn *done,
			void *opaque);
/*
 * Submits what is queued and waits until nothing is in flight, handing
 * each completion to done; with cancel, asks the kernel to cancel what it
 * can first (those complete with -ECANCELED; I/O already running cannot
 * be, and is waited for). 0, or -errno when the ring fails (then the
 * slots are taken back: what the kernel still holds is waited for at
 * destroy, which closes the ring).
 */
int blk_uring_drain(struct blk_uring *u, bool cancel, blk_uring_done_fn *done,
		    void *opaque);
/* Requests in flight (queued or submitted) on queue q. */
unsigned blk_uring_inflight(const struct blk_uring *u, unsigned q);

#endif
