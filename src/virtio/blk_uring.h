/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk's io_uring engine (liburing): many requests in flight per
 * queue, completions in any order. blk.c drives it from the disk's device
 * thread; this file owns the ring and the requests in flight.
 *
 * One ring per disk at a time, i.e. per device thread (all of a disk's
 * queues are served by its one thread, common.h): the thread is the ring's
 * only user, so nothing here takes a lock. Two rings, in turn:
 *  - the shared ring, set up at create on the main thread (io_uring_setup
 *    before its seccomp filter is on): it shows io_uring works (blk.c
 *    chooses the engine by it), holds the fixed buffers, and serves the
 *    device thread when the kernel gives no ring of its own;
 *  - the thread's own ring (blk_uring_thread_start, on the device thread:
 *    io_uring_setup is in the device threads' seccomp list), made with
 *    SINGLE_ISSUER | DEFER_TASKRUN (kernel 6.1+): the issuer is bound to
 *    the task that makes the ring, and a reset replaces the device
 *    thread, so each thread start makes one and its stop closes it (a few
 *    tens of µs per activation; nothing is in flight then). Not with
 *    fixed buffers (registering pins all of guest RAM: once, at create).
 * The image is not a fixed file (blk_uring.c says why).
 *
 * The device thread waits in the ring, not in epoll (blk_uring_wait): its
 * polled fds (the queues' kick eventfds and the worker's stop eventfd) are
 * multishot POLL_ADDs on the ring, so a kick and a completion both end the
 * same io_uring_enter, and that enter also submits what the last pass
 * queued: a lone request is submitted and waited for in one system call,
 * and a kick that comes meanwhile still wakes the thread. A burst goes to
 * the kernel in pairs as it is popped (blk_uring_queue), so the disk
 * starts on its first requests while the rest are prepared.
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
/* fds a device thread polls through the ring at most. */
#define BLK_URING_MAX_POLL 32

/* io_uring_enter calls of the device path, by kind (benchmarks, tests). */
struct blk_uring_stats {
	uint64_t submits;      /* submitted without waiting */
	uint64_t submit_waits; /* submitted and waited in one call */
	uint64_t waits;        /* waited with nothing to submit */
};

struct blk_uring;

struct blk_uring_req {
	struct blk_io io;   /* io.iov points at iov, or a grown array */
	uint16_t head;      /* the chain, for vq_push_used() */
	uint16_t queue;
	uint32_t next_free; /* free list */
	struct blk_uring *owner;
	struct iovec iov[BLK_URING_IOV];
};

/* A completion: res is the bytes moved or -errno. The slot is free after. */
typedef void blk_uring_done_fn(void *opaque, struct blk_uring_req *r, int res);

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
/* Fixed buffers registered (> 0), not asked for (0), or why not (-errno). */
int blk_uring_fixed(const struct blk_uring *u);
/* Requests queued as READ_FIXED / WRITE_FIXED so far. */
uint64_t blk_uring_fixed_ops(const struct blk_uring *u);
/* Whether the kernel took IORING_SETUP_COOP_TASKRUN (blk_uring.c). */
bool blk_uring_coop(const struct blk_uring *u);
/* Whether device threads get rings of their own (SINGLE_ISSUER |
 * DEFER_TASKRUN; probed at create). */
bool blk_uring_defer(const struct blk_uring *u);
void blk_uring_get_stats(const struct blk_uring *u, struct blk_uring_stats *s);

/*
 * Device thread, at its start: its own ring when the kernel gives one
 * (else the shared ring), and fds[0..nfds) to poll in blk_uring_wait (at
 * most BLK_URING_MAX_POLL: -EINVAL). Nothing may be in flight.
 */
int blk_uring_thread_start(struct blk_uring *u, const int *fds, unsigned nfds);
/* Whether the thread got a ring of its own. */
bool blk_uring_thread_own(const struct blk_uring *u);
/* Device thread, at its end, after blk_uring_drain: its ring closed, or
 * its polls taken out of the shared ring. */
void blk_uring_thread_stop(struct blk_uring *u);
/*
 * Device thread: submits what is queued and waits, in one io_uring_enter,
 * until a polled fd is readable or a request completes. Completions go to
 * done; bit i of *ready is set for each fds[i] that was written (an
 * event, not a level: a multishot poll posts one for each wake-up of the
 * fd, so an eventfd need not be read to be waited for again). Returns the requests completed (>= 0; 0 with *ready 0
 * happens) or -errno when the ring fails.
 */
int blk_uring_wait(struct blk_uring *u, uint32_t *ready,
		   blk_uring_done_fn *done, void *opaque);

/*
 * A free slot of queue q, or NULL when q already has `limit` requests in
 * flight (limit: the queue's size as the driver set it, at most qsize).
 */
struct blk_uring_req *blk_uring_get(struct blk_uring *u, unsigned q,
				    unsigned limit);
/* Gives back a slot that was not queued (the request ran synchronously). */
void blk_uring_put(struct blk_uring *u, struct blk_uring_req *r);
/*
 * Queues r's I/O (r->io filled by blk_request_prepare). It is submitted
 * with the one queued before it (pairs: blk_uring.c's SUBMIT_EAGER says
 * why), or by the next wait. 0, or -EBUSY: the submission queue is full
 * and the kernel takes nothing (a failing ring); the caller runs the
 * request itself.
 */
int blk_uring_queue(struct blk_uring *u, struct blk_uring_req *r);

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
