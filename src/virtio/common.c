/* SPDX-License-Identifier: MIT */
/* What every virtio device shares: see common.h. */
#include "virtio/common.h"
#include "snap/snap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"

void virtio_config_read(const void *cfg, uint32_t size, uint32_t off,
			uint8_t *data, uint32_t len)
{
	memset(data, 0, len);
	if (!cfg || off >= size)
		return;
	uint32_t n = size - off < len ? size - off : len;
	memcpy(data, (const uint8_t *)cfg + off, n);
}

/* ---- the device thread ---- */

/*
 * virtio_worker_modify() only reaches epoll once virtio_worker_start() has
 * marked the worker running, which it does after the thread exists: a
 * handler running right away could change its events too early (lost, and
 * a level-triggered fd then spins). The first call waits for activate to
 * have returned from virtio_worker_start().
 */
static void wait_started(struct virtio_common *d)
{
	if (atomic_load_explicit(&d->started, memory_order_acquire))
		return;
	pthread_mutex_lock(&d->start_lock);
	pthread_mutex_unlock(&d->start_lock);
}

static void common_handle(void *opaque, unsigned idx)
{
	struct virtio_common *d = opaque;
	wait_started(d);
	if (idx < d->vd.nqueues) {
		/* A waiter reports each kick as an event (worker.h): its
		 * counter need not be read, a system call spared per kick. */
		if (!d->p.waiter)
			eventfd_drain(d->vd.kick_fd[idx]);
		d->p.queue_kicked(d->p.dev, idx);
	} else if (d->p.fd_ready) {
		d->p.fd_ready(d->p.dev, idx);
	}
}

static void common_quiesce(void *opaque, bool stop)
{
	struct virtio_common *d = opaque;
	d->p.quiesce(d->p.dev, stop);
}

int virtio_common_add_fd(struct virtio_common *d, int fd, uint32_t events)
{
	if (d->nfds == VIRTIO_COMMON_MAX_FDS)
		return -ENOSPC;
	d->fds[d->nfds] = fd;
	d->events[d->nfds] = events;
	return (int)(d->vd.nqueues + d->nfds++);
}

void virtio_common_poll_fd(struct virtio_common *d, unsigned idx,
			   uint32_t events)
{
	unsigned i = idx - d->vd.nqueues;
	if (idx < d->vd.nqueues || i >= d->nfds || d->events[i] == events)
		return;
	int r = virtio_worker_modify(&d->worker, idx, events);
	if (r < 0)
		log_ratelimited(&d->vd.rl, LOG_ERROR,
				"%s: cannot change what fd %d is polled for: %s",
				d->label, d->fds[i], strerror(-r));
	d->events[i] = events;
}

/* ---- serving queues ---- */

void virtio_common_serve(struct virtio_common *d, unsigned q,
			 struct vq_chain *chain, unsigned budget,
			 int (*serve)(void *dev, struct vq_chain *chain,
				      uint32_t *written))
{
	struct virtio_dev *vd = &d->vd;
	struct virtqueue *vq = &vd->vqs[q];
	struct virtio_budget b = VIRTIO_BUDGET(budget);
	int r;

	if (!vq->ready || vq->broken)
		return;
	do {
		vq_disable_notify(vq);
		while ((r = vq_pop(vq, chain)) == 0) {
			uint32_t written = 0;
			if (serve(d->p.dev, chain, &written) == VIRTIO_SERVE_RETRY) {
				vq_unpop(vq, 1);
				goto out;
			}
			if (vq_push_used(vq, chain->head, written) < 0)
				log_ratelimited(&vd->rl, LOG_ERROR,
						"%s: cannot push used chain %u",
						d->label, chain->head);
			/* Come back after a pass through epoll. */
			if (virtio_budget_spend(vd, q, &b))
				goto out;
		}
		if (r == -EIO) {
			virtio_dev_error(vd);
			goto out;
		}
	} while (vq_enable_notify(vq));
out:
	/* vq_needs_notify() (inside) is false when nothing was pushed. */
	virtio_queue_notify(vd, q);
}

bool virtio_common_rx_kicked(struct virtio_common *d, unsigned q)
{
	struct virtqueue *vq = &d->vd.vqs[q];
	if (!vq->ready || vq->broken)
		return false;
	/* The fd is polled while there are buffers: no kicks needed meanwhile. */
	vq_disable_notify(vq);
	return true;
}

int virtio_common_rx_pop(struct virtio_common *d, unsigned q,
			 struct vq_chain *chain)
{
	struct virtqueue *vq = &d->vd.vqs[q];
	int r = vq_pop(vq, chain);
	if (r == -ENOENT)
		/* Out of buffers: ask for a kick, unless some came. */
		return vq_enable_notify(vq) ? -EAGAIN : -ENOENT;
	if (r == -EIO)
		virtio_dev_error(&d->vd);
	return r;
}

/* ---- virtio_device_ops ---- */

static uint64_t common_features(void *opaque)
{
	struct virtio_common *d = opaque;
	return d->p.features;
}

/* The configuration as the driver sees it now: the device's struct (zeros
 * without one) with what config_update writes over it. A copy per call:
 * vCPUs may read at once, nothing is shared. */
static void config_now(const struct virtio_common *d, uint8_t buf[VIRTIO_COMMON_CONFIG_MAX])
{
	memset(buf, 0, VIRTIO_COMMON_CONFIG_MAX);
	if (d->p.config)
		memcpy(buf, d->p.config, d->p.config_size);
	if (d->p.config_update)
		d->p.config_update(d->p.dev, buf);
}

static void common_config_read(void *opaque, uint32_t off, uint8_t *data,
			       uint32_t len)
{
	struct virtio_common *d = opaque;
	if (!d->p.config_update) {
		virtio_config_read(d->p.config, d->p.config_size, off, data, len);
		return;
	}
	_Alignas(8) uint8_t buf[VIRTIO_COMMON_CONFIG_MAX];
	config_now(d, buf);
	virtio_config_read(buf, d->p.config_size, off, data, len);
}

static void common_reset(void *opaque)
{
	struct virtio_common *d = opaque;
	virtio_worker_stop(&d->worker);
	virtio_worker_clear(&d->worker);
	d->nfds = 0;
	atomic_store(&d->started, false);
	if (d->p.reset)
		d->p.reset(d->p.dev);
}

/* The fd set of the next start: the kick eventfds, then the device's. */
static int add_fds(struct virtio_common *d)
{
	struct virtio_dev *vd = &d->vd;
	int r = 0;
	for (unsigned q = 0; q < vd->nqueues && r >= 0; q++)
		r = virtio_worker_add(&d->worker, vd->kick_fd[q], EPOLLIN);
	for (unsigned i = 0; i < d->nfds && r >= 0; i++)
		r = virtio_worker_add(&d->worker, d->fds[i], d->events[i]);
	return r < 0 ? r : 0;
}

/* Requests the driver queued before its first kick reached us. */
static void kick_ready_queues(struct virtio_common *d)
{
	struct virtio_dev *vd = &d->vd;
	uint64_t one = 1;
	for (unsigned q = 0; q < vd->nqueues; q++)
		if (vd->vqs[q].ready &&
		    write(vd->kick_fd[q], &one, sizeof(one)) != sizeof(one))
			log_ratelimited(&vd->rl, LOG_DEBUG, "%s: initial kick: %s",
					d->label, strerror(errno));
}

static int common_activate(void *opaque)
{
	struct virtio_common *d = opaque;
	struct virtio_dev *vd = &d->vd;
	if (virtio_worker_running(&d->worker))
		common_reset(d);
	virtio_worker_clear(&d->worker);
	d->nfds = 0;
	int r = d->p.activate ? d->p.activate(d->p.dev) : 0;
	if (r == VIRTIO_COMMON_IDLE) {
		d->nfds = 0;
		return 0;
	}
	r = r < 0 ? r : add_fds(d);
	if (r == 0) {
		d->worker.quiesce = d->p.quiesce ? common_quiesce : NULL;
		d->worker.waiter = d->p.waiter;
		d->worker.waiter_opaque = d->p.dev;
		pthread_mutex_lock(&d->start_lock);
		r = virtio_worker_start(&d->worker, d->thread_name, common_handle, d);
		if (r == 0)
			atomic_store_explicit(&d->started, true, memory_order_release);
		pthread_mutex_unlock(&d->start_lock);
	}
	if (r < 0) {
		/* The one line for this failure: the core stays quiet. */
		log_ratelimited(&vd->rl, LOG_ERROR,
				"%s: cannot activate: %s; device needs reset",
				d->label, strerror(-r));
		virtio_worker_clear(&d->worker);
		d->nfds = 0;
		return r;
	}
	if (d->p.kick_at_start)
		kick_ready_queues(d);
	return 0;
}

/* What the driver read, config_update's fields too (a disk's capacity
 * after vm.resize-disk: restore_config checks the image against it). */
static int common_save(void *opaque, struct snap_buf *b)
{
	struct virtio_common *d = opaque;
	_Alignas(8) uint8_t buf[VIRTIO_COMMON_CONFIG_MAX];
	config_now(d, buf);
	snap_put_u32(b, d->p.config_size);
	snap_put(b, buf, d->p.config_size);
	return 0;
}

static int common_restore(void *opaque, struct snap_cur *c)
{
	struct virtio_common *d = opaque;
	uint8_t saved[VIRTIO_COMMON_CONFIG_MAX];
	if (snap_get_u32(c) != d->p.config_size)
		c->bad = true;
	else
		snap_get(c, saved, d->p.config_size);
	int ret = snap_cur_end(c);
	if (ret)
		return ret;
	if (d->p.restore_config)
		return d->p.restore_config(d->p.dev, saved);
	if (d->p.config && memcmp(saved, d->p.config, d->p.config_size))
		return -EBADMSG;
	return 0;
}

static const struct virtio_device_ops common_ops = {
	.features = common_features,
	.config_read = common_config_read,
	.activate = common_activate,
	.reset = common_reset,
	.save = common_save,
	.restore = common_restore,
};

static const struct virtio_device_ops common_ops_nosnap = {
	.features = common_features,
	.config_read = common_config_read,
	.activate = common_activate,
	.reset = common_reset,
};

/* ---- life cycle ---- */

static bool params_valid(const struct virtio_common_params *p)
{
	return p->name && p->thread_name && p->nqueues > 0 &&
	       p->nqueues <= VIRTIO_MAX_QUEUES && p->queue_max_size > 0 &&
	       p->config_size <= VIRTIO_COMMON_CONFIG_MAX && p->queue_kicked &&
	       p->mem;
}

int virtio_common_init(struct virtio_common *d,
		       const struct virtio_common_params *p)
{
	memset(d, 0, sizeof(*d));
	int r = p && params_valid(p) ? virtio_worker_init(&d->worker) : -EINVAL;
	if (!r) {
		r = -pthread_mutex_init(&d->start_lock, NULL);
		if (r)
			virtio_worker_destroy(&d->worker);
	}
	if (r) {
		log_error("%s: cannot set up the device: %s",
			  p && p->name ? p->name : "virtio", strerror(-r));
		return r;
	}
	d->p = *p;
	snprintf(d->label, sizeof(d->label), "%s", p->label ? p->label : p->name);
	snprintf(d->thread_name, sizeof(d->thread_name), "%s", p->thread_name);
	d->p.label = d->label;
	d->p.thread_name = d->thread_name;
	atomic_init(&d->started, false);

	struct virtio_dev *vd = &d->vd;
	vd->name = p->name;
	vd->device_id = p->device_id;
	vd->nqueues = p->nqueues;
	vd->queue_max_size = p->queue_max_size;
	vd->config_size = p->config_size;
	vd->ops = p->snapshot ? &common_ops : &common_ops_nosnap;
	vd->dev = d;
	vd->mem = p->mem;
	vd->worker = &d->worker;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		vd->kick_fd[q] = -1;
		vd->vqs[q].name = q < p->nqueues ? p->queue_names[q] : NULL;
	}
	d->initialized = true;
	return 0;
}

void virtio_common_destroy(struct virtio_common *d)
{
	if (!d->initialized)
		return;
	virtio_worker_destroy(&d->worker); /* stops the thread */
	pthread_mutex_destroy(&d->start_lock);
	d->initialized = false;
}
