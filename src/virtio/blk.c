/* SPDX-License-Identifier: MIT */
/* virtio-blk device: see blk.h. Requests are executed by blk_request.c. */
#include "virtio/blk.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "virtio/blk_request.h"
#include "virtio/blk_uring.h"
#include "virtio/common.h"

/* Chains served per wakeup before other work (and a stop) gets a turn. */
#define BLK_BUDGET 1024u

struct virtio_blk {
	struct virtio_common common;
	struct blk_backend be;
	struct virtio_blk_config config; /* little-endian, built at create */
	char *path;
	char name[48];
	char queue_names[VIRTIO_MAX_QUEUES][64]; /* name + ".%u" */
	unsigned nqueues;
	/* The io_uring engine (blk_uring.h); NULL: the sync engine. */
	struct blk_uring *uring;
	/* Device thread, io_uring engine: queues (bits) ... */
	uint32_t stalled;  /* ... with every slot in flight: popped again
			    * once a completion gives one back */
	uint32_t touched;  /* ... with used entries not yet signalled */
	bool dropping;     /* draining at stop: completions go nowhere */
	struct vq_chain chain; /* the request being popped */
	bool flush_failed_once; /* a flush failed before a reset */
	/* Successful reads and writes (vm.counters). */
	_Atomic uint64_t read_ops, read_bytes, write_ops, write_bytes;
};

/* ---- request queues ---- */

/* A request's end: counted, *written its used length. */
static void account(struct virtio_blk *b, int rc,
		    const struct blk_req_result *res, uint32_t *written)
{
	struct virtio_dev *vd = &b->common.vd;
	*written = 0;
	if (rc < 0) {
		/* No status byte: give the buffers back untouched. */
		atomic_fetch_add(&vd->errors, 1);
	} else {
		*written = res->used_len;
		atomic_fetch_add(&vd->bytes, res->data_len);
		if (res->status != VIRTIO_BLK_S_OK) {
			atomic_fetch_add(&vd->errors, 1);
		} else if (res->type == VIRTIO_BLK_T_IN) {
			atomic_fetch_add_explicit(&b->read_ops, 1, memory_order_relaxed);
			atomic_fetch_add_explicit(&b->read_bytes, res->data_len,
						  memory_order_relaxed);
		} else if (res->type == VIRTIO_BLK_T_OUT) {
			atomic_fetch_add_explicit(&b->write_ops, 1, memory_order_relaxed);
			atomic_fetch_add_explicit(&b->write_bytes, res->data_len,
						  memory_order_relaxed);
		}
	}
	atomic_fetch_add(&vd->requests, 1);
}

void virtio_blk_get_stats(const struct virtio_blk *b, struct virtio_blk_stats *s)
{
	s->read_ops = atomic_load_explicit(&b->read_ops, memory_order_relaxed);
	s->read_bytes = atomic_load_explicit(&b->read_bytes, memory_order_relaxed);
	s->write_ops = atomic_load_explicit(&b->write_ops, memory_order_relaxed);
	s->write_bytes = atomic_load_explicit(&b->write_bytes, memory_order_relaxed);
}

bool virtio_blk_uring_stats(const struct virtio_blk *b, struct blk_uring_stats *s)
{
	if (!b->uring)
		return false;
	blk_uring_get_stats(b->uring, s);
	return true;
}

/* Sync engine: one request, executed, its status byte written. */
static int blk_serve(void *opaque, struct vq_chain *chain, uint32_t *written)
{
	struct virtio_blk *b = opaque;
	struct blk_req_result res;
	int rc = blk_request_execute(&b->be, chain, &res);
	account(b, rc, &res, written);
	return 0;
}

/*
 * io_uring engine, on the device thread (blk_uring.h). The thread waits in
 * the ring (blk_waiter below): a kick pops what the queue holds into free
 * slots and queues their I/O (what the engine does not take runs at once,
 * blk_request.h), submitted in pairs as they are queued; the thread's next
 * wait submits the rest and waits for completions or the next kick in the
 * same io_uring_enter. Completions
 * come back in any order; each wait ends with one interrupt per queue that
 * got used entries (vq_needs_notify: EVENT_IDX respected), however many
 * completions it took.
 */

static void push(struct virtio_blk *b, unsigned q, uint16_t head,
		 uint32_t written)
{
	struct virtio_dev *vd = &b->common.vd;
	if (vq_push_used(&vd->vqs[q], head, written) < 0)
		log_ratelimited(&vd->rl, LOG_ERROR, "%s: cannot push used chain %u",
				b->name, head);
	b->touched |= 1u << q;
}

static void notify_touched(struct virtio_blk *b)
{
	for (unsigned q = 0; b->touched; q++) {
		if (b->touched & (1u << q)) {
			b->touched &= ~(1u << q);
			virtio_queue_notify(&b->common.vd, q);
		}
	}
}

/* The kick eventfd of q: the device thread comes back to q at its next wait. */
static void rekick(struct virtio_blk *b, unsigned q)
{
	struct virtio_dev *vd = &b->common.vd;
	uint64_t one = 1;
	if (write(vd->kick_fd[q], &one, sizeof(one)) != sizeof(one) &&
	    errno != EAGAIN)
		log_ratelimited(&vd->rl, LOG_ERROR, "%s: queue %u: cannot re-kick: %s",
				b->name, q, strerror(errno));
}

/* The engine could not take it: the same I/O, here and now. */
static void run_here(struct virtio_blk *b, struct blk_io *io,
		     struct blk_req_result *res)
{
	int64_t r = 0; /* READ/WRITE: nothing done yet, complete does it all */
	if (io->op == BLK_IO_FLUSH && fdatasync(b->be.fd) < 0)
		r = -errno;
	blk_request_complete(&b->be, io, r, res);
}

static void uring_done(void *opaque, struct blk_uring_req *r, int res)
{
	struct virtio_blk *b = opaque;
	if (b->dropping) {
		/* Reset (or teardown) with this in flight: it finished, but
		 * the queue is gone; nothing is written to the guest. A
		 * failed flush still counts (destroy reports it). */
		if (res < 0 && res != -ECANCELED) {
			if (r->io.op == BLK_IO_FLUSH)
				b->be.flush_failed = true;
			log_ratelimited(&b->be.rl, LOG_WARN,
					"%s: request in flight at reset failed: %s",
					b->name, strerror(-res));
		}
		return;
	}
	struct blk_req_result out;
	uint32_t written;
	blk_request_complete(&b->be, &r->io, res, &out);
	account(b, 0, &out, &written);
	push(b, r->queue, r->head, written);
}

/* Pops q's requests into free slots until the ring is empty, every slot
 * is in flight (stalled) or the budget is spent (re-kicked). */
static void fill_queue(struct virtio_blk *b, unsigned q)
{
	struct virtio_dev *vd = &b->common.vd;
	struct virtqueue *vq = &vd->vqs[q];
	struct virtio_budget budget = VIRTIO_BUDGET(BLK_BUDGET);
	int r;

	if (!vq->ready || vq->broken)
		return;
	do {
		vq_disable_notify(vq);
		for (;;) {
			struct blk_uring_req *req = blk_uring_get(b->uring, q, vq->size);
			if (!req) {
				/* Back-pressure: the rest waits in the ring. */
				b->stalled |= 1u << q;
				return;
			}
			r = vq_pop(vq, &b->chain);
			if (r) {
				blk_uring_put(b->uring, req);
				break;
			}
			struct blk_req_result res;
			int rc = blk_request_prepare(&b->be, &b->chain, &req->io, &res);
			if (rc == BLK_REQ_ASYNC) {
				req->head = b->chain.head;
				if (blk_uring_queue(b->uring, req) == 0)
					goto next;
				run_here(b, &req->io, &res);
				rc = 0;
			}
			blk_uring_put(b->uring, req);
			uint32_t written;
			account(b, rc, &res, &written);
			push(b, q, b->chain.head, written);
next:
			if (virtio_budget_spend(vd, q, &budget))
				return;
		}
		if (r == -EIO) {
			virtio_dev_error(vd);
			return;
		}
	} while (vq_enable_notify(vq));
}

/* After completions: queues that got slots back are popped again, then
 * one interrupt per queue that got used entries. */
static void uring_refill(struct virtio_blk *b)
{
	struct virtio_dev *vd = &b->common.vd;
	uint32_t st = b->stalled;
	for (unsigned q = 0; st; q++) {
		if (!(st & (1u << q)))
			continue;
		st &= ~(1u << q);
		if (blk_uring_inflight(b->uring, q) >= vd->vqs[q].size)
			continue;
		b->stalled &= ~(1u << q);
		fill_queue(b, q);
	}
	notify_touched(b);
}

/* Device thread: queue q was kicked. */
static void blk_kicked(void *opaque, unsigned q)
{
	struct virtio_blk *b = opaque;
	if (!b->uring) {
		virtio_common_serve(&b->common, q, &b->chain, BLK_BUDGET, blk_serve);
		return;
	}
	fill_queue(b, q);
	notify_touched(b); /* what ran at once; the rest goes at the wait */
}

/* ---- the device thread waits in the ring (worker.h's waiter) ---- */

static int blk_wait_start(void *opaque, const int *fds, unsigned n)
{
	struct virtio_blk *b = opaque;
	int r = blk_uring_thread_start(b->uring, fds, n);
	if (r == 0)
		log_debug("%s: device thread waits in %s", b->name,
			  blk_uring_thread_own(b->uring)
				  ? "its own ring (single issuer, deferred task work)"
				  : "the shared ring");
	return r;
}

static int blk_wait(void *opaque, uint32_t *ready)
{
	struct virtio_blk *b = opaque;
	int n = blk_uring_wait(b->uring, ready, uring_done, b);
	if (n > 0)
		uring_refill(b);
	return n < 0 ? n : 0;
}

static void blk_wait_stop(void *opaque)
{
	struct virtio_blk *b = opaque;
	blk_uring_thread_stop(b->uring);
}

static const struct virtio_worker_waiter blk_waiter = {
	.start = blk_wait_start,
	.wait = blk_wait,
	.stop = blk_wait_stop,
};

/* Device thread, before a park (pause) or its end (reset, teardown). */
static void blk_quiesce(void *opaque, bool stop)
{
	struct virtio_blk *b = opaque;
	if (!b->uring)
		return;
	b->dropping = stop;
	int r = blk_uring_drain(b->uring, stop, uring_done, b);
	if (r < 0)
		log_ratelimited(&b->common.vd.rl, LOG_ERROR,
				"%s: io_uring: %s while waiting for requests in flight",
				b->name, strerror(-r));
	b->dropping = false;
	if (stop) {
		b->stalled = b->touched = 0;
		return;
	}
	notify_touched(b);
	/* Served after the resume: the kick wakes the ring's wait. */
	for (unsigned q = 0; b->stalled; q++)
		if (b->stalled & (1u << q)) {
			b->stalled &= ~(1u << q);
			rekick(b, q);
		}
}

/* Snapshots: the disk reopened must have the size it had (its capacity,
 * what the guest's driver knows); the rest of the configuration is the
 * command line's, built the same again. */
static int blk_restore_config(void *opaque, const void *saved)
{
	struct virtio_blk *b = opaque;
	const struct virtio_blk_config *c = saved;
	if (c->capacity != b->config.capacity) {
		log_error("%s: the disk image has %llu sectors, the snapshot's had %llu: "
			  "it changed size", b->name,
			  (unsigned long long)le64toh(b->config.capacity),
			  (unsigned long long)le64toh(c->capacity));
		return -ESTALE;
	}
	return memcmp(c, &b->config, sizeof(*c)) ? -EBADMSG : 0;
}

/* ---- activate and reset (common.h does the rest) ---- */

static int blk_activate(void *opaque)
{
	struct virtio_blk *b = opaque;
	if (!b->common.vd.vqs[0].ready) {
		log_ratelimited(&b->common.vd.rl, LOG_WARN,
				"%s: the driver did not enable the request queue",
				b->name);
		return VIRTIO_COMMON_IDLE;
	}
	b->stalled = b->touched = 0;
	return 0;
}

static void blk_reset(void *opaque)
{
	struct virtio_blk *b = opaque;
	/* The thread is gone and waited for what was in flight (quiesce). */
	for (unsigned q = 0; q < b->nqueues; q++)
		vq_reset(&b->common.vd.vqs[q]);
	/* The guest may go on; that data was lost stays known (destroy). */
	if (b->be.flush_failed)
		b->flush_failed_once = true;
	blk_backend_reset_error(&b->be);
}

/* ---- lifecycle ---- */

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* O_DIRECT alignments of the file (statx DIOALIGN where the kernel has it). */
static int probe_direct(struct virtio_blk *b)
{
	struct blk_backend *be = &b->be;
	uint32_t mem = 512, off = 512;
#ifdef STATX_DIOALIGN
	struct statx stx;
	if (statx(be->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		if (!stx.stx_dio_offset_align) {
			log_error("disk %s: the file system does not support "
				  "direct=on", b->path);
			return -EINVAL;
		}
		mem = stx.stx_dio_mem_align;
		off = stx.stx_dio_offset_align;
	}
#endif
	if (off < BLK_SECTOR_SIZE)
		off = BLK_SECTOR_SIZE;
	if (!is_pow2(mem) || !is_pow2(off) || off > 65536 || mem > 65536) {
		log_error("disk %s: unusable direct I/O alignment (%u/%u)",
			  b->path, mem, off);
		return -EINVAL;
	}
	be->direct = true;
	be->dio_mem_align = mem;
	be->dio_offset_align = off;
	size_t balign = mem > 4096 ? mem : 4096;
	be->bounce = aligned_alloc(balign, BLK_BOUNCE_SIZE);
	return be->bounce ? 0 : -ENOMEM;
}

static int open_image(struct virtio_blk *b, const struct disk_config *cfg,
		      uint64_t *size)
{
	int flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	if (cfg->direct)
		flags |= O_DIRECT;
	int fd = open(cfg->path, flags);
	if (fd < 0) {
		int e = errno;
		if (e == EINVAL && cfg->direct)
			log_error("disk %s: the file system does not support "
				  "direct=on", cfg->path);
		else
			log_error("disk %s: %s", cfg->path, strerror(e));
		return -e;
	}
	b->be.fd = fd;

	struct flock fl = {
		.l_type = cfg->readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0, /* the whole file, however long */
	};
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		int e = errno;
		if (e == EAGAIN || e == EACCES) {
			log_error("disk %s is in use by another process", cfg->path);
			return -EBUSY;
		}
		log_warn("disk %s: cannot lock (%s); not protected against "
			 "concurrent use", cfg->path, strerror(e));
	}

	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		log_error("disk %s: %s", cfg->path, strerror(e));
		return -e;
	}
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size) < 0) {
			int e = errno;
			log_error("disk %s: cannot get the size: %s", cfg->path,
				  strerror(e));
			return -e;
		}
	} else {
		log_error("disk %s: not a regular file or a block device",
			  cfg->path);
		return -EINVAL;
	}
	return 0;
}

static void set_id(struct blk_backend *be, const struct disk_config *cfg)
{
	const char *id = cfg->id;
	if (!id) {
		const char *slash = strrchr(cfg->path, '/');
		id = slash ? slash + 1 : cfg->path;
	}
	memset(be->id, 0, sizeof(be->id));
	memcpy(be->id, id, strnlen(id, sizeof(be->id)));
}

/* The configuration space and the feature bits it goes with. */
static uint64_t build_config(struct virtio_blk *b, unsigned qsize)
{
	struct blk_backend *be = &b->be;
	struct virtio_blk_config *c = &b->config;
	uint32_t blk_size = be->direct ? be->dio_offset_align : BLK_SECTOR_SIZE;

	memset(c, 0, sizeof(*c));
	c->capacity = htole64(be->capacity_sectors);
	c->seg_max = htole32((qsize < VQ_MAX_SEGS ? qsize : VQ_MAX_SEGS) - 2);
	c->blk_size = htole32(blk_size);
	uint64_t features = (1ULL << VIRTIO_BLK_F_SEG_MAX) |
			    (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
			    (1ULL << VIRTIO_BLK_F_FLUSH);
	if (b->nqueues > 1) {
		features |= 1ULL << VIRTIO_BLK_F_MQ;
		c->num_queues = htole16((uint16_t)b->nqueues);
	}
	if (be->readonly)
		features |= 1ULL << VIRTIO_BLK_F_RO;
	if (be->discard_ok) {
		features |= 1ULL << VIRTIO_BLK_F_DISCARD;
		c->max_discard_sectors = htole32(BLK_MAX_DISCARD_SECTORS);
		c->max_discard_seg = htole32(BLK_MAX_DISCARD_SEG);
		c->discard_sector_alignment = htole32(blk_size / BLK_SECTOR_SIZE);
	}
	if (be->write_zeroes_ok) {
		features |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
		c->max_write_zeroes_sectors = htole32(BLK_MAX_WRITE_ZEROES_SECTORS);
		c->max_write_zeroes_seg = htole32(BLK_MAX_WRITE_ZEROES_SEG);
		c->write_zeroes_may_unmap = be->punch_hole_works;
	}
	return features;
}

/*
 * An image in memory (tmpfs, ramfs): there is no device latency to
 * overlap, and the ring would hand every request to an io-wq worker
 * (shmem cannot read or write without blocking, IOCB_NOWAIT): a thread
 * switch per request, where the sync engine copies at once
 * (BENCHMARKS.md, "virtio-blk engines": 1.6x the IOPS at depth 32, 0.6x
 * the CPU at depth 1).
 */
static bool in_memory(int fd)
{
	struct statfs sfs;
	return fstatfs(fd, &sfs) == 0 &&
	       (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
}

/*
 * The engine, chosen once and logged (info): io_uring unless the disk says
 * engine=sync, the image is in memory (above: engine=uring overrides), or
 * the kernel refuses a ring (too old, io_uring_disabled, a seccomp policy
 * around cvmm), then the sync engine (the last with a warning);
 * engine=uring insists (an error). Rings are set up here, on the main
 * thread before its seccomp filter is on.
 */
static int choose_engine(struct virtio_blk *b, const struct disk_config *cfg,
			 unsigned qsize, const struct guest_mem *mem)
{
	const char *why = NULL; /* of the sync engine, when not asked for */
	if (cfg->engine == DISK_ENGINE_AUTO && in_memory(b->be.fd))
		why = "an image in memory";
	else if (cfg->engine != DISK_ENGINE_SYNC) {
		int r = blk_uring_create(&b->uring, b->be.fd, b->nqueues, qsize,
					 cfg->fixed_buffers ? mem : NULL);
		if (r < 0 && cfg->engine == DISK_ENGINE_URING) {
			log_error("disk %s: engine=uring: io_uring unavailable: %s",
				  cfg->path, strerror(-r));
			return r;
		}
		if (r < 0) {
			log_warn("disk %s: io_uring unavailable (%s); engine=sync",
				 cfg->path, strerror(-r));
			why = "io_uring unavailable";
		}
	}
	int fixed = b->uring ? blk_uring_fixed(b->uring) : 0;
	if (fixed < 0)
		log_warn("disk %s: fixed_buffers=on: cannot register guest memory "
			 "with the ring (%s); going without", cfg->path,
			 strerror(-fixed));
	log_info("%s: %s: engine=%s%s%s%s%s%s%s, %u queue%s of %u", b->name, cfg->path,
		 b->uring ? "uring" : "sync", why ? " (" : "", why ? why : "",
		 why ? ")" : "", fixed > 0 ? ", fixed buffers" : "",
		 b->uring && blk_uring_coop(b->uring) ? ", cooperative task work" : "",
		 b->uring && blk_uring_defer(b->uring)
			 ? ", a ring per device thread (deferred task work)" : "",
		 b->nqueues, b->nqueues > 1 ? "s" : "", qsize);
	return 0;
}

/* The capacity as it is now (vm.resize-disk changes it). */
static void blk_config_update(void *opaque, void *cfg)
{
	struct virtio_blk *b = opaque;
	struct virtio_blk_config *c = cfg;
	c->capacity = htole64(__atomic_load_n(&b->be.capacity_sectors, __ATOMIC_ACQUIRE));
}

int virtio_blk_create(struct virtio_blk **out, const struct disk_config *cfg,
		      const struct guest_mem *mem)
{
	*out = NULL;
	if (!cfg || !cfg->path || !mem)
		return -EINVAL;
	struct virtio_blk *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->be.fd = -1;
	int r = -ENOMEM;
	b->path = strdup(cfg->path);
	if (!b->path)
		goto fail;
	b->be.readonly = cfg->readonly;
	set_id(&b->be, cfg);
	snprintf(b->name, sizeof(b->name), "virtio-blk(%.20s)", b->be.id);
	char thread_name[16];
	snprintf(thread_name, sizeof(thread_name), "blk-%.11s", b->be.id);
	b->be.name = b->name;

	uint64_t size = 0;
	r = open_image(b, cfg, &size);
	if (r < 0)
		goto fail;
	if (size % BLK_SECTOR_SIZE)
		log_warn("disk %s: size %llu is not a multiple of 512; the last "
			 "%llu bytes are not visible to the guest",
			 cfg->path, (unsigned long long)size,
			 (unsigned long long)(size % BLK_SECTOR_SIZE));
	b->be.capacity_sectors = size >> BLK_SECTOR_SHIFT;
	if (cfg->direct) {
		r = probe_direct(b);
		if (r < 0)
			goto fail;
	}
	blk_backend_probe(&b->be);

	unsigned qsize = cfg->queue_size ? cfg->queue_size : VIRTIO_BLK_QUEUE_SIZE;
	b->nqueues = cfg->num_queues ? cfg->num_queues : 1;
	if (b->nqueues > VIRTIO_MAX_QUEUES || qsize < 4 || qsize > VQ_MAX_SIZE ||
	    (qsize & (qsize - 1))) {
		r = -EINVAL; /* config.c refuses these first */
		log_error("disk %s: %u queues of %u unsupported", cfg->path,
			  b->nqueues, qsize);
		goto fail;
	}
	r = choose_engine(b, cfg, qsize, mem);
	if (r < 0)
		goto fail;

	struct virtio_common_params p = {
		.snapshot = true,
		.restore_config = blk_restore_config,
		.name = b->name,
		.thread_name = thread_name,
		.device_id = VIRTIO_ID_BLOCK,
		.nqueues = b->nqueues,
		.queue_max_size = (uint16_t)qsize,
		.features = build_config(b, qsize),
		.config = &b->config,
		.config_size = sizeof(b->config),
		.config_update = blk_config_update,
		.queue_kicked = blk_kicked,
		.activate = blk_activate,
		.reset = blk_reset,
		.quiesce = blk_quiesce,
		.waiter = b->uring ? &blk_waiter : NULL,
		.mem = mem,
		.dev = b,
	};
	for (unsigned q = 0; q < b->nqueues; q++) {
		if (b->nqueues == 1)
			snprintf(b->queue_names[q], sizeof(b->queue_names[q]),
				 "%s", b->name);
		else
			snprintf(b->queue_names[q], sizeof(b->queue_names[q]),
				 "%s.%u", b->name, q);
		p.queue_names[q] = b->queue_names[q];
	}
	r = virtio_common_init(&b->common, &p);
	if (r < 0)
		goto fail;
	log_debug("%s: %s, %llu sectors%s%s%s", b->name, cfg->path,
		  (unsigned long long)b->be.capacity_sectors,
		  cfg->readonly ? ", read-only" : "",
		  cfg->direct ? ", direct" : "",
		  b->be.discard_ok ? ", discard" : "");
	*out = b;
	return 0;
fail:
	blk_uring_destroy(b->uring);
	if (b->be.fd >= 0)
		close(b->be.fd);
	free(b->be.bounce);
	free(b->path);
	free(b);
	return r;
}

/* The disk's capacity in bytes. */
static uint64_t virtio_blk_capacity(struct virtio_blk *b)
{
	return __atomic_load_n(&b->be.capacity_sectors, __ATOMIC_ACQUIRE) << BLK_SECTOR_SHIFT;
}

int virtio_blk_resize(struct virtio_blk *b, uint64_t size)
{
	if (b->be.readonly)
		return -EROFS;
	if (size % BLK_SECTOR_SIZE || size < virtio_blk_capacity(b))
		return -EINVAL;
	struct stat st;
	if (fstat(b->be.fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOTSUP;
	if ((uint64_t)st.st_size < size && ftruncate(b->be.fd, (off_t)size) < 0)
		return -errno;
	__atomic_store_n(&b->be.capacity_sectors, size >> BLK_SECTOR_SHIFT, __ATOMIC_RELEASE);
	struct virtio_dev *vd = &b->common.vd;
	if (vd->notify_config)
		vd->notify_config(vd);
	log_info("%s: %s: capacity now %llu bytes", b->name, b->path,
		 (unsigned long long)size);
	return 0;
}

struct virtio_dev *virtio_blk_vdev(struct virtio_blk *b)
{
	return &b->common.vd;
}

int virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return 0;
	virtio_common_destroy(&b->common); /* in flight: waited for */
	blk_uring_destroy(b->uring);
	int ret = 0;
	if (!b->be.readonly) {
		/* Even after a failure: what came since may still be saved. */
		if (fdatasync(b->be.fd) < 0) {
			ret = -errno;
			log_error("disk %s: flush at teardown: %s; data written by the "
				  "guest may be lost", b->path, strerror(-ret));
		} else if (b->flush_failed_once || b->be.flush_failed) {
			ret = -EIO;
			log_error("disk %s: a flush failed while the VM ran; data "
				  "written by the guest may be lost", b->path);
		} else {
			log_debug("disk %s: flushed (fdatasync) at teardown", b->path);
		}
	}
	close(b->be.fd);
	free(b->be.bounce);
	free(b->path);
	free(b);
	return ret;
}
