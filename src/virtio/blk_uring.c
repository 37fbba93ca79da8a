/* SPDX-License-Identifier: MIT */
/* virtio-blk's io_uring engine: see blk_uring.h. */
#include "virtio/blk_uring.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtio.h"

#define NO_SLOT UINT32_MAX
/* Completions taken from the ring at a time. */
#define REAP_BATCH 64u

struct blk_uring_queue {
	uint32_t free;     /* first free slot, NO_SLOT: none */
	unsigned inflight;
};

struct blk_uring {
	struct io_uring ring;
	int fd;          /* the image */
	unsigned nqueues, qsize;
	unsigned inflight;   /* all queues */
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
	r->next_free = q->free;
	q->free = (uint32_t)(r - u->reqs);
}

int blk_uring_create(struct blk_uring **out, int fd, unsigned nqueues,
		     unsigned qsize)
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
			r->io.iov = r->iov;
			r->io.max_iov = BLK_URING_IOV;
			free_slot(u, r);
		}
	}
	/* Every slot's completion fits the CQ: it never overflows. The SQ
	 * may be smaller: a full one is submitted (blk_uring_queue). */
	unsigned slots = pow2_at_least(nqueues * qsize);
	unsigned sq = slots < 1024 ? slots : 1024;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
	p.cq_entries = slots < 2 ? 2 : slots;
	int r = io_uring_queue_init_params(sq, &u->ring, &p);
	if (r == -EINVAL) {
		/* Before 5.18: no SUBMIT_ALL (a failing SQE stops the batch,
		 * the rest go with the next submit). */
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = slots < 2 ? 2 : slots;
		r = io_uring_queue_init_params(sq, &u->ring, &p);
	}
	if (r < 0) {
		free(u->reqs);
		free(u);
		return r;
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
	io_uring_queue_exit(&u->ring);
	free(u->reqs);
	free(u);
}

int blk_uring_fd(const struct blk_uring *u)
{
	return u->ring.ring_fd;
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
		io_uring_prep_readv(sqe, fd, io->iov, io->iovcnt, io->off);
		break;
	case BLK_IO_WRITE:
		io_uring_prep_writev(sqe, fd, io->iov, io->iovcnt, io->off);
		break;
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
