/* SPDX-License-Identifier: MIT */
/* virtio-blk's io_uring engine: see blk_uring.h. */
#include "virtio/blk_uring.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtio.h"

#define NO_SLOT UINT32_MAX
/*
 * Requests go to the kernel in pairs as they are queued, not all at the
 * next wait. io_uring_enter plugs the block layer for a batch of more than
 * two SQEs (io_submit_state_start), so a burst of 32 popped requests
 * submitted at once reaches the disk only when the last of them is
 * prepared: the device sits idle meanwhile (on the benchmark host's
 * virtio disk, which starts on each notification, depth 32 got a median
 * 0.83x fio's IOPS; in pairs 0.95x, BENCHMARKS.md). A pair is never
 * plugged, so each request leaves while the next ones are popped, as fio
 * submits by default (iodepth_batch_submit=1), for half a system call per
 * request.
 * A lone request still goes with the wait, in one io_uring_enter.
 *
 * Where a pair completes inside its own submit (a buffered image whose
 * blocks are in the page cache: a copy, done before io_uring_enter
 * returns), there is no device to start early, only system calls to add:
 * the rest of the pass goes with the wait, in one batch (u->eager, set
 * again at each wait).
 */
#define SUBMIT_EAGER 2u
/* Completions taken from the ring at a time. */
#define REAP_BATCH 64u
/* The kernel's largest fixed buffer (io_uring's SZ_1G). */
#define FIXED_BUF_MAX (1ULL << 30)

struct blk_uring_queue {
	uint32_t free;     /* first free slot, NO_SLOT: none */
	unsigned inflight;
};

struct blk_uring {
	/* The ring in use: &shared, or &own while a device thread has one. */
	struct io_uring *ring;
	struct io_uring shared; /* made at create (main thread) */
	struct io_uring own;    /* made by the device thread (thread_start) */
	bool defer;             /* the kernel takes the per-thread ring's flags */
	bool eager;             /* submit in pairs (SUBMIT_EAGER) this pass */
	int fd;          /* the image */
	unsigned sq_size, cq_size;
	unsigned nqueues, qsize;
	unsigned inflight;   /* all queues */
	unsigned big;        /* slots with a grown iovec array */
	unsigned setup_flags; /* what io_uring_setup took */
	/* Fixed buffers: guest RAM in pieces of at most FIXED_BUF_MAX, buffer
	 * i at fixed[i]; nfixed 0: none registered (fixed_err says why). */
	unsigned nfixed;
	int fixed_err;
	uint64_t fixed_ops; /* requests sent as READ_FIXED / WRITE_FIXED */
	struct iovec fixed[BLK_URING_FIXED_MAX];
	struct blk_uring_queue q[VIRTIO_MAX_QUEUES];
	struct blk_uring_req *reqs; /* nqueues * qsize, queue by queue */
	/* The device thread's polled fds (thread_start): multishot POLL_ADDs
	 * tagged POLL_TAG(i); armed: bit i has one in the kernel; ready: bit
	 * i had an event not yet handed out (blk_uring_wait). */
	unsigned npoll;
	int poll_fd[BLK_URING_MAX_POLL];
	uint32_t poll_armed, poll_ready;
	struct blk_uring_stats stats;
};

/* user_data of fd i's poll: odd, where a request's slot address is even. */
#define POLL_TAG(i) (((uint64_t)(i) << 1) | 1)

static unsigned pow2_at_least(unsigned v)
{
	unsigned p = 1;
	while (p < v)
		p <<= 1;
	return p;
}

static void free_slot(struct blk_uring *u, struct blk_uring_req *r)
{
	struct blk_uring_queue *q = &u->q[r->queue];
	if (r->io.iov != r->iov) {
		free(r->io.iov);
		r->io.iov = r->iov;
		r->io.max_iov = BLK_URING_IOV;
		u->big--;
	}
	r->next_free = q->free;
	q->free = (uint32_t)(r - u->reqs);
}

/* blk_io.grow: a request of more than BLK_URING_IOV segments gets an
 * array of its own, while fewer than BLK_URING_BIG slots have one. */
static bool grow_iov(struct blk_io *io, unsigned n)
{
	struct blk_uring_req *r =
		(struct blk_uring_req *)((char *)io - offsetof(struct blk_uring_req, io));
	struct blk_uring *u = r->owner;
	if (io->iov != r->iov || n > VQ_MAX_SEGS || u->big >= BLK_URING_BIG)
		return false;
	struct iovec *v = malloc((size_t)n * sizeof(*v));
	if (!v)
		return false;
	io->iov = v;
	io->max_iov = n;
	u->big++;
	return true;
}

/*
 * Registers guest RAM as fixed buffers (pieces of at most 1 GiB, the
 * kernel's limit). This pins every page of it for the ring's life
 * (faulting in what the guest never touched): the caller asks for it.
 */
static int register_fixed(struct blk_uring *u, const struct guest_mem *mem)
{
	unsigned n = 0;
	for (unsigned i = 0; i < mem->count; i++) {
		const struct guest_region *g = &mem->regions[i];
		for (uint64_t off = 0; off < g->size; off += FIXED_BUF_MAX) {
			if (n == BLK_URING_FIXED_MAX)
				return -E2BIG;
			uint64_t len = g->size - off;
			u->fixed[n++] = (struct iovec){
				.iov_base = g->hva + off,
				.iov_len = len < FIXED_BUF_MAX ? len : FIXED_BUF_MAX,
			};
		}
	}
	if (n == 0)
		return -EINVAL;
	int r = io_uring_register_buffers(&u->shared, u->fixed, n);
	if (r < 0)
		return r;
	u->nfixed = n;
	return 0;
}

/* The fixed buffer holding [p, p + len), or -1. */
static int fixed_index(const struct blk_uring *u, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;
	for (unsigned i = 0; i < u->nfixed; i++) {
		uintptr_t base = (uintptr_t)u->fixed[i].iov_base;
		if (a >= base && a - base <= u->fixed[i].iov_len &&
		    len <= u->fixed[i].iov_len - (a - base))
			return (int)i;
	}
	return -1;
}

/*
 * io_uring_setup with the first flags of `tries` the kernel takes:
 *  - COOP_TASKRUN | TASKRUN_FLAG (5.19): a completion does not interrupt
 *    the device thread with an IPI while it runs; its task work runs at
 *    the thread's next io_uring_enter (liburing's peek enters for it when
 *    the ring says so) or when it sleeps. Fewer IPIs and wake-ups.
 *  - SINGLE_ISSUER | DEFER_TASKRUN (6.1), the device thread's own ring
 *    only (blk_uring_thread_start): completions' task work runs only when
 *    the thread enters the ring to wait, never between, and the kernel
 *    skips the locking a ring shared between tasks needs. The issuer is
 *    the task that makes the ring: hence made on the device thread, one
 *    per thread start (a reset replaces the thread).
 *  - SUBMIT_ALL (5.18): a failing SQE does not stop the batch.
 */
static const unsigned shared_tries[] = {
	IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
		IORING_SETUP_TASKRUN_FLAG,
	IORING_SETUP_SUBMIT_ALL,
	0,
};
static const unsigned own_tries[] = {
	IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
		IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
};

static int ring_init(struct io_uring *ring, unsigned sq, unsigned cq,
		     const unsigned *tries, unsigned ntries)
{
	int r = -EINVAL;
	for (unsigned i = 0; i < ntries; i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE | tries[i];
		p.cq_entries = cq;
		r = io_uring_queue_init_params(sq, ring, &p);
		if (r != -EINVAL)
			break;
	}
	return r;
}

int blk_uring_create(struct blk_uring **out, int fd, unsigned nqueues,
		     unsigned qsize, const struct guest_mem *fixed)
{
	*out = NULL;
	if (nqueues == 0 || nqueues > VIRTIO_MAX_QUEUES || qsize == 0 ||
	    qsize > VQ_MAX_SIZE)
		return -EINVAL;
	struct blk_uring *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->fd = fd;
	u->nqueues = nqueues;
	u->qsize = qsize;
	u->reqs = calloc((size_t)nqueues * qsize, sizeof(*u->reqs));
	if (!u->reqs) {
		free(u);
		return -ENOMEM;
	}
	for (unsigned q = 0; q < nqueues; q++) {
		u->q[q].free = NO_SLOT;
		for (unsigned i = qsize; i-- > 0;) {
			struct blk_uring_req *r = &u->reqs[q * qsize + i];
			r->queue = (uint16_t)q;
			r->owner = u;
			r->io.iov = r->iov;
			r->io.max_iov = BLK_URING_IOV;
			r->io.grow = grow_iov;
			free_slot(u, r);
		}
	}
	/* Every slot's completion fits the CQ, and a few of each polled
	 * fd's: it never overflows. The SQ may be smaller: a full one is
	 * submitted (blk_uring_queue). */
	unsigned slots = pow2_at_least(nqueues * qsize);
	u->sq_size = slots < 1024 ? slots : 1024;
	u->cq_size = pow2_at_least(slots + 4 * BLK_URING_MAX_POLL);
	u->ring = &u->shared;
	u->eager = true;
	int r = ring_init(&u->shared, u->sq_size, u->cq_size, shared_tries,
			  sizeof(shared_tries) / sizeof(shared_tries[0]));
	if (r < 0) {
		free(u->reqs);
		free(u);
		return r;
	}
	u->setup_flags = u->shared.flags;
	if (fixed)
		u->fixed_err = register_fixed(u, fixed);
	/* Whether device threads will get rings of their own (a probe: the
	 * ring is closed at once). Not with fixed buffers: they are
	 * registered once, in the shared ring (registering pins all of guest
	 * RAM again: not at every thread start). */
	if (!u->nfixed) {
		struct io_uring probe;
		u->defer = ring_init(&probe, 2, 4, own_tries,
				     sizeof(own_tries) / sizeof(own_tries[0])) == 0;
		if (u->defer)
			io_uring_queue_exit(&probe);
	}
	/*
	 * No fixed file (io_uring_register_files): a registered file is held
	 * by the ring until the kernel's asynchronous teardown after
	 * io_uring_queue_exit(), so the image's OFD lock (blk.h) would
	 * outlive virtio_blk_destroy(); dropping it first takes
	 * io_uring_register on the main thread at exit, which its seccomp
	 * list does not have. A plain fd costs an fget/fput per request.
	 */
	*out = u;
	return 0;
}

void blk_uring_destroy(struct blk_uring *u)
{
	if (!u)
		return;
	if (u->ring == &u->own)
		io_uring_queue_exit(&u->own);
	io_uring_queue_exit(&u->shared);
	free(u->reqs);
	free(u);
}

int blk_uring_fixed(const struct blk_uring *u)
{
	return u->nfixed ? (int)u->nfixed : u->fixed_err;
}

uint64_t blk_uring_fixed_ops(const struct blk_uring *u)
{
	return u->fixed_ops;
}

bool blk_uring_coop(const struct blk_uring *u)
{
	return u->setup_flags & IORING_SETUP_COOP_TASKRUN;
}

bool blk_uring_defer(const struct blk_uring *u)
{
	return u->defer;
}

/* Any thread: the device thread counts with relaxed atomics. */
void blk_uring_get_stats(const struct blk_uring *u, struct blk_uring_stats *s)
{
	s->submits = __atomic_load_n(&u->stats.submits, __ATOMIC_RELAXED);
	s->submit_waits = __atomic_load_n(&u->stats.submit_waits, __ATOMIC_RELAXED);
	s->waits = __atomic_load_n(&u->stats.waits, __ATOMIC_RELAXED);
}

struct blk_uring_req *blk_uring_get(struct blk_uring *u, unsigned q,
				    unsigned limit)
{
	struct blk_uring_queue *bq = &u->q[q];
	if (bq->free == NO_SLOT || bq->inflight >= limit)
		return NULL;
	struct blk_uring_req *r = &u->reqs[bq->free];
	bq->free = r->next_free;
	bq->inflight++;
	u->inflight++;
	return r;
}

void blk_uring_put(struct blk_uring *u, struct blk_uring_req *r)
{
	u->q[r->queue].inflight--;
	u->inflight--;
	free_slot(u, r);
}

static struct io_uring_sqe *get_sqe(struct blk_uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(u->ring);
	if (!sqe) {
		/* SQ full: what is in it goes now (the kernel takes the
		 * entries during the call, also when it fails part-way). */
		__atomic_fetch_add(&u->stats.submits, 1, __ATOMIC_RELAXED);
		(void)io_uring_submit(u->ring);
		sqe = io_uring_get_sqe(u->ring);
	}
	return sqe;
}

/* Whether r's completion is among the CQEs after the first `skip`: a
 * request done inside its own submit is posted before io_uring_enter
 * returns; one that went to a device comes later, through task work. */
static bool done_at_submit(struct blk_uring *u, unsigned skip,
			   const struct blk_uring_req *r)
{
	struct io_uring_cqe *cqe;
	unsigned head, i = 0;
	io_uring_for_each_cqe(u->ring, head, cqe) {
		if (i++ >= skip && io_uring_cqe_get_data(cqe) == r)
			return true;
	}
	return false;
}

int blk_uring_queue(struct blk_uring *u, struct blk_uring_req *r)
{
	struct io_uring_sqe *sqe = get_sqe(u);
	if (!sqe)
		return -EBUSY;
	int fd = u->fd;
	struct blk_io *io = &r->io;
	switch (io->op) {
	case BLK_IO_READ:
	case BLK_IO_WRITE: {
		bool rd = io->op == BLK_IO_READ;
		/* One segment inside a fixed buffer: no page pinning per
		 * request (the buffer's pages are pinned once). */
		int b = u->nfixed && io->iovcnt == 1
				? fixed_index(u, io->iov[0].iov_base, io->iov[0].iov_len)
				: -1;
		if (b >= 0)
			u->fixed_ops++;
		if (b >= 0 && rd)
			io_uring_prep_read_fixed(sqe, fd, io->iov[0].iov_base,
						 (unsigned)io->iov[0].iov_len,
						 io->off, b);
		else if (b >= 0)
			io_uring_prep_write_fixed(sqe, fd, io->iov[0].iov_base,
						  (unsigned)io->iov[0].iov_len,
						  io->off, b);
		else if (rd)
			io_uring_prep_readv(sqe, fd, io->iov, io->iovcnt, io->off);
		else
			io_uring_prep_writev(sqe, fd, io->iov, io->iovcnt, io->off);
		break;
	}
	case BLK_IO_FLUSH:
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		break;
	}
	io_uring_sqe_set_data(sqe, r);
	if (u->eager && io_uring_sq_ready(u->ring) >= SUBMIT_EAGER) {
		/* A failure leaves the entries queued: the wait submits
		 * them again. */
		unsigned before = io_uring_cq_ready(u->ring);
		__atomic_fetch_add(&u->stats.submits, 1, __ATOMIC_RELAXED);
		if (io_uring_submit(u->ring) > 0 && done_at_submit(u, before, r))
			u->eager = false;
	}
	return 0;
}

/* A poll's completion: fd i is readable (res > 0: the events), or the
 * poll ended (no IORING_CQE_F_MORE: an error, a cancel, or the kernel's
 * own choice) and is armed again at the next wait. */
static void poll_event(struct blk_uring *u, const struct io_uring_cqe *cqe)
{
	unsigned i = (unsigned)(cqe->user_data >> 1);
	if (i >= BLK_URING_MAX_POLL)
		return;
	if (cqe->res > 0)
		u->poll_ready |= 1u << i;
	if (!(cqe->flags & IORING_CQE_F_MORE))
		u->poll_armed &= ~(1u << i);
}

/* One completion: a request's (to done), a poll's, or a cancel's own. */
static bool take_cqe(struct blk_uring *u, const struct io_uring_cqe *cqe,
		     blk_uring_done_fn *done, void *opaque)
{
	if (cqe->user_data & 1) {
		poll_event(u, cqe);
		return false;
	}
	struct blk_uring_req *r = io_uring_cqe_get_data(cqe);
	if (!r)
		return false; /* a cancel or poll removal's own */
	done(opaque, r, cqe->res);
	blk_uring_put(u, r);
	return true;
}

unsigned blk_uring_reap(struct blk_uring *u, blk_uring_done_fn *done,
			void *opaque)
{
	struct io_uring_cqe *cqes[REAP_BATCH];
	unsigned total = 0, n;
	while ((n = io_uring_peek_batch_cqe(u->ring, cqes, REAP_BATCH)) > 0) {
		for (unsigned i = 0; i < n; i++)
			total += take_cqe(u, cqes[i], done, opaque);
		io_uring_cq_advance(u->ring, n);
	}
	return total;
}

/* What the ring holds now, without entering it (blk_uring_reap may, for
 * task work: the wait's own io_uring_enter runs it). */
static unsigned reap_posted(struct blk_uring *u, blk_uring_done_fn *done,
			    void *opaque)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0, total = 0;
	io_uring_for_each_cqe(u->ring, head, cqe) {
		total += take_cqe(u, cqe, done, opaque);
		n++;
	}
	io_uring_cq_advance(u->ring, n);
	return total;
}

int blk_uring_thread_start(struct blk_uring *u, const int *fds, unsigned nfds)
{
	if (nfds > BLK_URING_MAX_POLL)
		return -EINVAL;
	u->npoll = nfds;
	memcpy(u->poll_fd, fds, nfds * sizeof(fds[0]));
	u->poll_armed = u->poll_ready = 0;
	u->ring = &u->shared;
	if (u->defer && ring_init(&u->own, u->sq_size, u->cq_size, own_tries,
				  sizeof(own_tries) / sizeof(own_tries[0])) == 0)
		u->ring = &u->own;
	return 0;
}

bool blk_uring_thread_own(const struct blk_uring *u)
{
	return u->ring == &u->own;
}

void blk_uring_thread_stop(struct blk_uring *u)
{
	u->poll_ready = 0;
	if (u->ring == &u->own) {
		/* Its polls go with it. */
		io_uring_queue_exit(&u->own);
		u->ring = &u->shared;
		u->poll_armed = 0;
		return;
	}
	/* The shared ring outlives the thread: its polls (on fds that are
	 * about to close, one of them the thread's stop eventfd) must not. */
	for (unsigned i = 0; i < u->npoll; i++) {
		if (!(u->poll_armed & (1u << i)))
			continue;
		struct io_uring_sqe *sqe = get_sqe(u);
		if (!sqe)
			break;
		io_uring_prep_poll_remove(sqe, POLL_TAG(i));
		io_uring_sqe_set_data(sqe, NULL);
	}
	while (u->poll_armed) {
		int r = io_uring_submit_and_wait(u->ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			break;
		reap_posted(u, NULL, NULL); /* nothing in flight: polls only */
	}
	u->poll_armed = 0;
}

int blk_uring_wait(struct blk_uring *u, uint32_t *ready,
		   blk_uring_done_fn *done, void *opaque)
{
	*ready = 0;
	u->eager = true; /* the next pass starts in pairs again */
	for (;;) {
		unsigned n = reap_posted(u, done, opaque);
		if (n || u->poll_ready) {
			*ready = u->poll_ready;
			u->poll_ready = 0;
			return (int)n;
		}
		/* Polls the kernel ended (or never had) go in with what is
		 * queued. */
		for (unsigned i = 0; i < u->npoll; i++) {
			if (u->poll_armed & (1u << i))
				continue;
			struct io_uring_sqe *sqe = get_sqe(u);
			if (!sqe)
				return -EBUSY;
			io_uring_prep_poll_multishot(sqe, u->poll_fd[i], POLLIN);
			sqe->user_data = POLL_TAG(i);
			u->poll_armed |= 1u << i;
		}
		if (io_uring_sq_ready(u->ring))
			__atomic_fetch_add(&u->stats.submit_waits, 1, __ATOMIC_RELAXED);
		else
			__atomic_fetch_add(&u->stats.waits, 1, __ATOMIC_RELAXED);
		int r = io_uring_submit_and_wait(u->ring, 1);
		/* EINTR: a signal (device threads block them all); EAGAIN,
		 * EBUSY: the kernel is short of memory or has completions in
		 * its overflow list: reap and go again. */
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME)
			return r;
	}
}

int blk_uring_drain(struct blk_uring *u, bool cancel, blk_uring_done_fn *done,
		    void *opaque)
{
	if (cancel && u->inflight > 0) {
		/* What can still be cancelled (a request waiting for its
		 * file to be ready, queued for io-wq) ends -ECANCELED; what
		 * already runs is waited for. Before 5.19: -EINVAL, all waited
		 * for. */
		struct io_uring_sqe *sqe = get_sqe(u);
		if (sqe) {
			io_uring_prep_cancel(sqe, NULL, IORING_ASYNC_CANCEL_ANY);
			io_uring_sqe_set_data(sqe, NULL);
		}
	}
	while (u->inflight > 0) {
		int r = io_uring_submit_and_wait(u->ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			/* Give the slots back; the kernel's are waited for at
			 * destroy (closing the ring waits for them). */
			for (unsigned q = 0; q < u->nqueues; q++) {
				u->q[q].free = NO_SLOT;
				u->q[q].inflight = 0;
				for (unsigned i = u->qsize; i-- > 0;)
					free_slot(u, &u->reqs[q * u->qsize + i]);
			}
			u->inflight = 0;
			return r;
		}
		blk_uring_reap(u, done, opaque);
	}
	return 0;
}

unsigned blk_uring_inflight(const struct blk_uring *u, unsigned q)
{
	return u->q[q].inflight;
}
