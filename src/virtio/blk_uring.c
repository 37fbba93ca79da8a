/* SPDX-License-Identifier: MIT */
/* virtio-blk's io_uring engine: see blk_uring.h. */
#include "virtio/blk_uring.h"

#include <errno.h>
#include <liburing.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtio.h"

#define NO_SLOT UINT32_MAX
/* Completions taken from the ring at a time. */
#define REAP_BATCH 64u
/* The kernel's largest fixed buffer (io_uring's SZ_1G). */
#define FIXED_BUF_MAX (1ULL << 30)

struct blk_uring_queue {
	uint32_t free;     /* first free slot, NO_SLOT: none */
	unsigned inflight;
};

struct blk_uring {
	struct io_uring ring;
	int fd;          /* the image */
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
};

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
	int r = io_uring_register_buffers(&u->ring, u->fixed, n);
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
 * io_uring_setup with the most the kernel takes, then less:
 *  - COOP_TASKRUN | TASKRUN_FLAG (5.19): a completion does not interrupt
 *    the device thread with an IPI while it runs; its task work runs at
 *    the thread's next io_uring_enter (liburing's peek enters for it when
 *    the ring says so) or when it sleeps. Fewer IPIs and wake-ups.
 *  - SUBMIT_ALL (5.18): a failing SQE does not stop the batch.
 * Not SINGLE_ISSUER / DEFER_TASKRUN: the ring is made on the main thread
 * and used by the device thread, a new one after each reset; a single
 * issuer is fixed when the ring is made (or enabled, io_uring_register,
 * which device threads do not have).
 */
static int ring_init(struct blk_uring *u, unsigned sq, unsigned cq)
{
	static const unsigned tries[] = {
		IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
			IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SUBMIT_ALL,
		0,
	};
	int r = -EINVAL;
	for (unsigned i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE | tries[i];
		p.cq_entries = cq;
		r = io_uring_queue_init_params(sq, &u->ring, &p);
		if (r != -EINVAL)
			break;
	}
	if (r == 0)
		u->setup_flags = u->ring.flags;
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
	/* Every slot's completion fits the CQ: it never overflows. The SQ
	 * may be smaller: a full one is submitted (blk_uring_queue). */
	unsigned slots = pow2_at_least(nqueues * qsize);
	unsigned sq = slots < 1024 ? slots : 1024;
	int r = ring_init(u, sq, slots < 2 ? 2 : slots);
	if (r < 0) {
		free(u->reqs);
		free(u);
		return r;
	}
	if (fixed)
		u->fixed_err = register_fixed(u, fixed);
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
	io_uring_queue_exit(&u->ring);
	free(u->reqs);
	free(u);
}

int blk_uring_fd(const struct blk_uring *u)
{
	return u->ring.ring_fd;
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

bool blk_uring_cq_ready(struct blk_uring *u)
{
	return io_uring_cq_ready(&u->ring) > 0;
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
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	if (!sqe) {
		/* SQ full: what is in it goes now (the kernel takes the
		 * entries during the call, also when it fails part-way). */
		(void)io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
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
	return 0;
}

int blk_uring_submit(struct blk_uring *u)
{
	if (!io_uring_sq_ready(&u->ring))
		return 0;
	int r = io_uring_submit(&u->ring);
	return r < 0 ? r : 0;
}

unsigned blk_uring_reap(struct blk_uring *u, blk_uring_done_fn *done,
			void *opaque)
{
	struct io_uring_cqe *cqes[REAP_BATCH];
	unsigned total = 0, n;
	while ((n = io_uring_peek_batch_cqe(&u->ring, cqes, REAP_BATCH)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			struct blk_uring_req *r = io_uring_cqe_get_data(cqes[i]);
			if (!r)
				continue; /* the cancel request's own */
			done(opaque, r, cqes[i]->res);
			blk_uring_put(u, r);
			total++;
		}
		io_uring_cq_advance(&u->ring, n);
	}
	return total;
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
		int r = io_uring_submit_and_wait(&u->ring, 1);
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
