/* SPDX-License-Identifier: MIT */
/*
 * A virtio device served by a vhost-user backend; see vhost_dev.h.
 *
 * Threads: the transport calls the ops below with its core lock held
 * (vCPU threads; the control thread for machine reset and teardown), which
 * serializes activate, reset and the configuration space. The device
 * thread only relays interrupts (vd->notify_queue: no core lock) and
 * breaks the connection on a hang-up (vhost/user.c's atomics).
 */
#include "virtio/vhost_dev.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "vhost/user.h"
#include "vhost/user_proto.h"
#include "virtio/core.h"
#include "virtio/worker.h"

/* The transport features the backend must offer (every transport offers
 * them to the driver, core.h), and the ones cvmm passes on. */
#define NEEDED_FEATURES VIRTIO_CORE_FEATURES

_Static_assert(CVMM_VHOST_MAX_QUEUES == VIRTIO_MAX_QUEUES, "config.h's queue bound");

struct vhost_dev {
	struct virtio_dev vd;
	struct vhost_dev_params p;
	char name[48];
	char thread_name[16];
	char socket[108];
	struct vhost_user *conn;
	uint8_t config[VHOST_USER_MAX_CONFIG]; /* core lock */
	bool config_from_backend;

	struct virtio_worker worker;
	bool worker_init;
	int call_fd[VIRTIO_MAX_QUEUES]; /* cvmm's own, relayed */
	bool relayed[VIRTIO_MAX_QUEUES];
	bool started[VIRTIO_MAX_QUEUES]; /* the backend has ring q */
	unsigned worker_queue[WORKER_MAX_FDS]; /* fd index -> queue (index 0: socket) */
	bool active;
	/* For vm.info (the control thread), written under the core lock. */
	atomic_bool stat_active;
	_Atomic unsigned stat_direct, stat_relayed;
	_Atomic uint64_t relayed_irqs;
	_Atomic uint64_t reconnects;
};

/* ---- the device thread ---- */

static void dev_handle(void *opaque, unsigned idx)
{
	struct vhost_dev *d = opaque;
	if (idx == 0) {
		/* The backend hung up (EPOLLRDHUP, once): one line, NEEDS_RESET. */
		vhost_user_hangup(d->conn);
		return;
	}
	unsigned q = d->worker_queue[idx];
	eventfd_drain(d->call_fd[q]);
	atomic_fetch_add(&d->relayed_irqs, 1);
	if (d->vd.notify_queue)
		d->vd.notify_queue(&d->vd, q);
}

/* The connection broke (any thread): the driver must reset the device. */
static void dev_broken(void *opaque)
{
	struct vhost_dev *d = opaque;
	atomic_fetch_add(&d->vd.errors, 1);
	if (d->vd.set_needs_reset)
		d->vd.set_needs_reset(&d->vd);
}

/* ---- configuration space ---- */

/* The backend's configuration into cvmm's copy (creation, reconnect). */
static int load_config(struct vhost_dev *d)
{
	if (!d->config_from_backend)
		return 0;
	uint8_t buf[VHOST_USER_MAX_CONFIG] = { 0 };
	int r = vhost_user_get_config(d->conn, 0, buf, d->p.config_size);
	if (r)
		return r;
	if (d->p.config_fixup)
		d->p.config_fixup(d->p.opaque, buf);
	memcpy(d->config, buf, sizeof(buf));
	return 0;
}

static void dev_config_read(void *opaque, uint32_t off, uint8_t *data, uint32_t len)
{
	struct vhost_dev *d = opaque;
	memset(data, 0, len);
	if (off < d->p.config_size)
		memcpy(data, d->config + off,
		       len < d->p.config_size - off ? len : d->p.config_size - off);
}

/* A driver write: to the backend; cvmm's copy follows what it took. */
static void dev_config_write(void *opaque, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct vhost_dev *d = opaque;
	if (!d->config_from_backend || off >= d->p.config_size)
		return; /* the device's own fields are read-only */
	if (len > d->p.config_size - off)
		len = d->p.config_size - off;
	/* A refusal or a broken connection is logged by vhost/user.c. */
	if (vhost_user_set_config(d->conn, off, data, len) == 0)
		memcpy(d->config + off, data, len);
}

static uint64_t dev_features(void *opaque)
{
	struct vhost_dev *d = opaque;
	return vhost_user_features(d->conn) & (d->p.features | NEEDED_FEATURES);
}

/* ---- activate / reset ---- */

/* Ring q back from the backend (GET_VRING_BASE stops it). */
static void stop_rings(struct vhost_dev *d)
{
	for (unsigned q = 0; q < d->vd.nqueues; q++) {
		if (!d->started[q])
			continue;
		unsigned base;
		/* A broken connection says so itself, once. */
		if (!vhost_user_broken(d->conn))
			vhost_user_get_vring_base(d->conn, q, &base);
		d->started[q] = false;
	}
}

static void dev_reset(void *opaque)
{
	struct vhost_dev *d = opaque;
	if (!d->worker_init)
		return;
	virtio_worker_stop(&d->worker);
	virtio_worker_clear(&d->worker);
	stop_rings(d);
	for (unsigned q = 0; q < d->vd.nqueues; q++) {
		if (d->call_fd[q] >= 0)
			eventfd_drain(d->call_fd[q]);
		d->relayed[q] = false;
	}
	d->active = false;
	atomic_store(&d->stat_active, false);
	atomic_store(&d->stat_direct, 0);
	atomic_store(&d->stat_relayed, 0);
}

/* Hands ring q to the backend; its interrupt through `call`. */
static int start_ring(struct vhost_dev *d, unsigned q, int call)
{
	struct virtqueue *vq = &d->vd.vqs[q];
	struct vhost_vring_addr a = {
		.index = q,
		.desc_user_addr = (uint64_t)(uintptr_t)vq->ring.desc,
		.used_user_addr = (uint64_t)(uintptr_t)vq->ring.used,
		.avail_user_addr = (uint64_t)(uintptr_t)vq->ring.avail,
	};
	int r = vhost_user_set_vring_num(d->conn, q, vq->size);
	r = r ?: vhost_user_set_vring_base(d->conn, q, 0);
	r = r ?: vhost_user_set_vring_addr(d->conn, &a);
	/* From the kick on the backend may run the ring: it is started. */
	if (!r)
		d->started[q] = true;
	r = r ?: vhost_user_set_vring_kick(d->conn, q, d->vd.kick_fd[q]);
	return r ?: vhost_user_set_vring_call(d->conn, q, call);
}

/* The device thread's fds: the socket (index 0), then each relayed call. */
static int start_thread(struct vhost_dev *d)
{
	int r = virtio_worker_add(&d->worker, vhost_user_fd(d->conn),
				  EPOLLRDHUP | EPOLLONESHOT);
	for (unsigned q = 0; q < d->vd.nqueues && r >= 0; q++) {
		if (!d->relayed[q])
			continue;
		r = virtio_worker_add(&d->worker, d->call_fd[q], EPOLLIN);
		if (r >= 0)
			d->worker_queue[r] = q;
	}
	r = r < 0 ? r : virtio_worker_start(&d->worker, d->thread_name, dev_handle, d);
	if (r < 0)
		virtio_worker_clear(&d->worker);
	return r < 0 ? r : 0;
}

static int dev_activate(void *opaque)
{
	struct vhost_dev *d = opaque;
	struct virtio_dev *vd = &d->vd;
	if (d->active)
		dev_reset(d);
	/* After a break, the backend may be back (it must match). */
	if (vhost_user_broken(d->conn)) {
		if (vhost_user_reconnect(d->conn) || load_config(d))
			return -EIO; /* logged by vhost/user.c */
		atomic_fetch_add(&d->reconnects, 1);
	}
	int r = vhost_user_set_features(d->conn, vd->features_negotiated);
	r = r ?: vhost_user_set_mem_table(d->conn, d->p.mem);
	unsigned nready = 0;
	for (unsigned q = 0; q < vd->nqueues && !r; q++) {
		if (!vd->vqs[q].ready)
			continue;
		int call = vd->queue_irqfd ? vd->queue_irqfd(vd, q) : -1;
		d->relayed[q] = call < 0;
		r = start_ring(d, q, call < 0 ? d->call_fd[q] : call);
		nready++;
	}
	bool enable = vhost_user_features(d->conn) >> VHOST_USER_F_PROTOCOL_FEATURES & 1;
	for (unsigned q = 0; q < vd->nqueues && !r && enable; q++)
		if (d->started[q])
			r = vhost_user_set_vring_enable(d->conn, q, true);
	r = r ?: start_thread(d);
	if (r) {
		/* -EIO, -EREMOTEIO: vhost/user.c logged it. */
		if (r != -EIO && r != -EREMOTEIO)
			log_ratelimited(&vd->rl, LOG_ERROR, "%s: cannot activate: %s; device needs reset",
					d->name, strerror(-r));
		stop_rings(d);
		for (unsigned q = 0; q < vd->nqueues; q++)
			d->relayed[q] = false;
		return r;
	}
	d->active = true;
	unsigned relayed = 0;
	for (unsigned q = 0; q < vd->nqueues; q++)
		relayed += d->started[q] && d->relayed[q];
	atomic_store(&d->stat_direct, nready - relayed);
	atomic_store(&d->stat_relayed, relayed);
	atomic_store(&d->stat_active, true);
	/* Requests the driver queued before DRIVER_OK. */
	uint64_t one = 1;
	for (unsigned q = 0; q < vd->nqueues; q++)
		if (d->started[q] && write(vd->kick_fd[q], &one, sizeof(one)) != sizeof(one))
			log_ratelimited(&vd->rl, LOG_DEBUG, "%s: initial kick: %s", d->name,
					strerror(errno));
	log_debug("%s: %u queues handed to the vhost-user backend (interrupts: %u through KVM irqfds, %u relayed by cvmm)",
		  d->name, nready, nready - relayed, relayed);
	return 0;
}

static const struct virtio_device_ops vhost_dev_ops = {
	.features = dev_features,
	.config_read = dev_config_read,
	.config_write = dev_config_write,
	.activate = dev_activate,
	.reset = dev_reset,
};

/* ---- life cycle ---- */

/* Whether the backend can be this device; logs why not. */
static int check_backend(struct vhost_dev *d)
{
	uint64_t f = vhost_user_features(d->conn);
	unsigned nq = vhost_user_queue_num(d->conn);
	if ((f & NEEDED_FEATURES) != NEEDED_FEATURES) {
		log_error("%s: the vhost-user backend at %s lacks VERSION_1, RING_EVENT_IDX or RING_INDIRECT_DESC (features 0x%llx)",
			  d->name, d->socket, (unsigned long long)f);
		return -ENOTSUP;
	}
	if (nq && nq < d->p.nqueues) {
		log_error("%s: the vhost-user backend at %s serves %u queues, %u asked for",
			  d->name, d->socket, nq, d->p.nqueues);
		return -EINVAL;
	}
	if (d->config_from_backend &&
	    !vhost_user_has_protocol(d->conn, VHOST_USER_PROTOCOL_F_CONFIG)) {
		log_error("%s: the vhost-user backend at %s does not give its configuration (protocol feature CONFIG)",
			  d->name, d->socket);
		return -ENOTSUP;
	}
	int r = load_config(d);
	if (r == -EREMOTEIO)
		log_error("%s: the vhost-user backend at %s refused GET_CONFIG", d->name, d->socket);
	return r;
}

int vhost_dev_create(struct vhost_dev **out, const struct vhost_dev_params *p)
{
	*out = NULL;
	if (!p->name || !p->socket || !p->mem || p->nqueues == 0 ||
	    p->nqueues > VIRTIO_MAX_QUEUES || !p->queue_size ||
	    (p->queue_size & (p->queue_size - 1)) || p->config_size > VHOST_USER_MAX_CONFIG)
		return -EINVAL;
	struct vhost_dev *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->p = *p;
	snprintf(d->name, sizeof(d->name), "%s", p->name);
	snprintf(d->thread_name, sizeof(d->thread_name), "%s",
		 p->thread_name ? p->thread_name : "vhost-user");
	snprintf(d->socket, sizeof(d->socket), "%s", p->socket);
	d->p.name = d->name;
	d->p.socket = d->socket;
	d->config_from_backend = !p->config;
	if (p->config)
		memcpy(d->config, p->config, p->config_size);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		d->call_fd[q] = -1;
	int r = 0;
	for (unsigned q = 0; q < p->nqueues && !r; q++) {
		d->call_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (d->call_fd[q] < 0)
			r = -errno;
	}
	r = r ?: virtio_worker_init(&d->worker);
	if (r) {
		log_error("%s: cannot set up the device: %s", d->name, strerror(-r));
		vhost_dev_destroy(d);
		return r;
	}
	d->worker_init = true;
	const struct vhost_user_params up = {
		.name = d->name, .socket = d->socket, .timeout_ms = p->timeout_ms,
		.on_broken = dev_broken, .opaque = d,
	};
	r = vhost_user_connect(&up, &d->conn); /* logs its failures */
	r = r ?: check_backend(d);
	if (r) {
		vhost_dev_destroy(d);
		return r;
	}
	struct virtio_dev *vd = &d->vd;
	vd->name = d->name;
	vd->device_id = p->device_id;
	vd->nqueues = p->nqueues;
	vd->queue_max_size = p->queue_size;
	vd->config_size = p->config_size;
	vd->ops = &vhost_dev_ops;
	vd->dev = d;
	vd->mem = p->mem;
	vd->worker = &d->worker;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vd->kick_fd[q] = -1;
	log_debug("%s: vhost-user backend at %s, %u queues of %u, features offered 0x%llx",
		  d->name, d->socket, p->nqueues, p->queue_size,
		  (unsigned long long)dev_features(d));
	*out = d;
	return 0;
}

void vhost_dev_destroy(struct vhost_dev *d)
{
	if (!d)
		return;
	if (d->worker_init) {
		if (d->conn)
			dev_reset(d);
		virtio_worker_destroy(&d->worker);
	}
	vhost_user_close(d->conn);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (d->call_fd[q] >= 0)
			close(d->call_fd[q]);
	free(d);
}

struct virtio_dev *vhost_dev_vdev(struct vhost_dev *d)
{
	return &d->vd;
}

const char *vhost_dev_socket(const struct vhost_dev *d)
{
	return d->socket;
}

uint64_t vhost_dev_backend_features(const struct vhost_dev *d)
{
	return vhost_user_features(d->conn);
}

unsigned vhost_dev_backend_queues(const struct vhost_dev *d)
{
	return vhost_user_queue_num(d->conn);
}

void vhost_dev_get_stats(struct vhost_dev *d, struct vhost_dev_stats *st)
{
	*st = (struct vhost_dev_stats){
		.connected = !vhost_user_broken(d->conn),
		.active = atomic_load(&d->stat_active),
		.direct_queues = atomic_load(&d->stat_direct),
		.relayed_queues = atomic_load(&d->stat_relayed),
		.relayed_irqs = atomic_load(&d->relayed_irqs),
		.reconnects = atomic_load(&d->reconnects),
	};
}
