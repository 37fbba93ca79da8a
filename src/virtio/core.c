/* SPDX-License-Identifier: MIT */
/*
 * The virtio device status machine, feature negotiation and queue
 * configuration, for every transport; written from the virtio 1.x
 * specification, sections 2.1 (Device Status Field), 2.2 (Feature Bits)
 * and 3.1 (Device Initialization). See core.h.
 */
#include "virtio/core.h"

#include <errno.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "snap/snap.h"
#include "virtio/worker.h"

/* ---- interrupts (any thread, never c->lock) ---- */

static void core_notify_queue(struct virtio_dev *vd, unsigned q)
{
	struct virtio_core *c = vd->transport;
	if (q < vd->nqueues)
		c->ops->notify_queue(c, q);
}

static void core_notify_config(struct virtio_dev *vd)
{
	struct virtio_core *c = vd->transport;
	atomic_fetch_add(&c->generation, 1);
	c->ops->notify_config(c);
}

static void core_set_needs_reset(struct virtio_dev *vd)
{
	struct virtio_core *c = vd->transport;
	if (atomic_exchange(&c->needs_reset, true))
		return;
	/* After DRIVER_OK the driver must hear about it (spec 2.1.2). */
	if (atomic_load(&c->status) & VIRTIO_CONFIG_S_DRIVER_OK)
		c->ops->notify_config(c);
}

static int core_queue_irqfd(struct virtio_dev *vd, unsigned q)
{
	struct virtio_core *c = vd->transport;
	return q < vd->nqueues && c->ops->queue_irqfd ? c->ops->queue_irqfd(c, q) : -1;
}

/* Counted, DEVICE_NEEDS_RESET; whoever found the fault has logged it. */
static void core_fault(struct virtio_core *c)
{
	atomic_fetch_add(&c->vd->errors, 1);
	core_set_needs_reset(c->vd);
}

void virtio_core_error(struct virtio_core *c, const char *what)
{
	VIRTIO_CORE_WARN(c, "%s; device needs reset", what);
	core_fault(c);
}

void virtio_core_kick(struct virtio_core *c, uint64_t q)
{
	if (q >= c->vd->nqueues)
		return;
	uint64_t one = 1;
	/* Non-blocking eventfd: fails only when the counter is saturated,
	 * and then a kick is pending anyway. */
	ssize_t r = write(c->vd->kick_fd[q], &one, sizeof(one));
	(void)r;
}

/* ---- status and features ---- */

uint8_t virtio_core_status(struct virtio_core *c)
{
	uint8_t s = atomic_load(&c->status);
	if (atomic_load(&c->needs_reset))
		s |= VIRTIO_CONFIG_S_NEEDS_RESET;
	return s;
}

void virtio_core_reset(struct virtio_core *c)
{
	struct virtio_dev *vd = c->vd;
	vd->ops->reset(vd->dev); /* the device thread is gone after this */
	for (unsigned q = 0; q < vd->nqueues; q++) {
		vq_reset(&vd->vqs[q]);
		c->q[q] = (struct virtio_core_queue){ .size = vd->queue_max_size };
		if (vd->kick_fd[q] >= 0)
			eventfd_drain(vd->kick_fd[q]); /* stale kicks */
	}
	c->driver_features = 0;
	vd->features_negotiated = 0;
	atomic_store(&c->status, 0);
	atomic_store(&c->needs_reset, false);
	c->ops->reset(c);
}

/* NULL when the driver's feature set is acceptable, else why not. */
static const char *features_refused(const struct virtio_core *c)
{
	if (c->driver_features & ~c->device_features)
		return "driver accepted features the device did not offer";
	if (!(c->driver_features & (1ULL << VIRTIO_F_VERSION_1)))
		return "driver did not accept VERSION_1 (legacy drivers unsupported)";
	return NULL;
}

static void driver_ok(struct virtio_core *c)
{
	struct virtio_dev *vd = c->vd;
	if (!(atomic_load(&c->status) & VIRTIO_CONFIG_S_FEATURES_OK)) {
		virtio_core_error(c, "DRIVER_OK without FEATURES_OK");
		return;
	}
	if (atomic_load(&c->needs_reset))
		return; /* already broken: stay quiet until reset */
	/* A failure was logged by the device (virtio.h): not again here. */
	if (vd->ops->activate(vd->dev))
		core_fault(c);
}

void virtio_core_set_status(struct virtio_core *c, uint8_t val)
{
	if (val == 0) {
		virtio_core_reset(c);
		return;
	}
	uint8_t old = atomic_load(&c->status);
	/* The driver only sets bits; NEEDS_RESET is the device's. */
	uint8_t new = (uint8_t)((old | val) & ~VIRTIO_CONFIG_S_NEEDS_RESET);
	if ((new & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK)) {
		const char *why = features_refused(c);
		if (why) {
			VIRTIO_CORE_WARN(c, "FEATURES_OK refused (features 0x%llx, offered 0x%llx): %s",
					 (unsigned long long)c->driver_features,
					 (unsigned long long)c->device_features, why);
			new &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
		} else {
			c->vd->features_negotiated = c->driver_features;
		}
	}
	atomic_store(&c->status, new);
	if ((new & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK))
		driver_ok(c);
}

static uint32_t word(uint64_t v, uint32_t sel)
{
	return sel < 2 ? (uint32_t)(v >> (32 * sel)) : 0;
}

uint32_t virtio_core_device_features(const struct virtio_core *c, uint32_t sel)
{
	return word(c->device_features, sel);
}

uint32_t virtio_core_driver_features(const struct virtio_core *c, uint32_t sel)
{
	return word(c->driver_features, sel);
}

static void set_lo(uint64_t *v, uint32_t lo)
{
	*v = (*v & ~0xffffffffULL) | lo;
}

static void set_hi(uint64_t *v, uint32_t hi)
{
	*v = (*v & 0xffffffffULL) | (uint64_t)hi << 32;
}

void virtio_core_set_driver_features(struct virtio_core *c, uint32_t sel,
				     uint32_t val)
{
	if (atomic_load(&c->status) & VIRTIO_CONFIG_S_FEATURES_OK) {
		VIRTIO_CORE_WARN(c, "driver features changed after FEATURES_OK; ignored");
		return;
	}
	if (sel == 0)
		set_lo(&c->driver_features, val);
	else if (sel == 1)
		set_hi(&c->driver_features, val);
}

/* ---- queues ---- */

const struct virtio_core_queue *virtio_core_queue(const struct virtio_core *c,
						  unsigned q)
{
	return q < c->vd->nqueues ? &c->q[q] : NULL;
}

void virtio_core_set_queue(struct virtio_core *c, unsigned q,
			   enum virtio_queue_field f, uint32_t val)
{
	if (q >= c->vd->nqueues)
		return; /* no such queue: writes are ignored */
	struct virtio_core_queue *qs = &c->q[q];
	if (qs->enabled) {
		VIRTIO_CORE_WARN(c, "queue %u: configuration write while enabled ignored", q);
		return;
	}
	switch (f) {
	case VQF_SIZE:
		qs->size = (uint16_t)val; /* checked when enabled */
		break;
	case VQF_DESC_LO:
		set_lo(&qs->desc, val);
		break;
	case VQF_DESC_HI:
		set_hi(&qs->desc, val);
		break;
	case VQF_AVAIL_LO:
		set_lo(&qs->avail, val);
		break;
	case VQF_AVAIL_HI:
		set_hi(&qs->avail, val);
		break;
	case VQF_USED_LO:
		set_lo(&qs->used, val);
		break;
	case VQF_USED_HI:
		set_hi(&qs->used, val);
		break;
	}
}

void virtio_core_enable_queue(struct virtio_core *c, unsigned q, uint32_t val)
{
	struct virtio_dev *vd = c->vd;
	if (q >= vd->nqueues)
		return;
	struct virtio_core_queue *qs = &c->q[q];
	if (val == 0 && !qs->enabled)
		return; /* a driver tearing down a reset device (Linux does) */
	if (val != 1) {
		/* Only VIRTIO_F_RING_RESET (not offered) allows writing 0. */
		VIRTIO_CORE_WARN(c, "queue %u: queue enable write of %u ignored", q, val);
		return;
	}
	if (qs->enabled)
		return;
	uint8_t st = atomic_load(&c->status);
	if (!(st & VIRTIO_CONFIG_S_FEATURES_OK) || (st & VIRTIO_CONFIG_S_DRIVER_OK)) {
		virtio_core_error(c, "queue enabled outside FEATURES_OK..DRIVER_OK");
		return;
	}
	char msg[128];
	if (qs->size == 0 || (qs->size & (qs->size - 1)) ||
	    qs->size > vd->queue_max_size) {
		snprintf(msg, sizeof(msg), "queue %u: bad size %u (max %u)", q,
			 qs->size, vd->queue_max_size);
		virtio_core_error(c, msg);
		return;
	}
	bool event_idx = c->driver_features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	if (vq_init(&vd->vqs[q], vd->mem, qs->size, qs->desc, qs->avail,
		    qs->used, event_idx)) {
		snprintf(msg, sizeof(msg),
			 "queue %u: rings desc 0x%llx avail 0x%llx used 0x%llx (size %u) unusable",
			 q, (unsigned long long)qs->desc,
			 (unsigned long long)qs->avail,
			 (unsigned long long)qs->used, qs->size);
		virtio_core_error(c, msg);
		return;
	}
	qs->enabled = true;
}

void virtio_core_config_access(struct virtio_core *c, uint64_t off,
			       uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_dev *vd = c->vd;
	if (!is_write)
		memset(data, 0, len);
	if (off >= vd->config_size)
		return; /* reads 0, writes ignored */
	uint32_t n = len;
	if (off + n > vd->config_size)
		n = vd->config_size - (uint32_t)off;
	if (is_write) {
		if (vd->ops->config_write)
			vd->ops->config_write(vd->dev, (uint32_t)off, data, n);
	} else {
		vd->ops->config_read(vd->dev, (uint32_t)off, data, n);
	}
}

/* ---- life cycle ---- */

static bool vdev_valid(const struct virtio_dev *vd)
{
	uint16_t max = vd->queue_max_size;
	return vd->ops && vd->ops->features && vd->ops->activate &&
	       vd->ops->reset && vd->mem && vd->nqueues > 0 &&
	       vd->nqueues <= VIRTIO_MAX_QUEUES && max > 0 &&
	       (max & (max - 1)) == 0 && max <= VQ_MAX_SIZE &&
	       (vd->config_size == 0 || vd->ops->config_read);
}

int virtio_core_init(struct virtio_core *c, struct virtio_dev *vd,
		     const struct virtio_transport_ops *ops)
{
	memset(c, 0, sizeof(*c));
	if (!vd || !ops || !vdev_valid(vd))
		return -EINVAL;
	c->vd = vd;
	c->ops = ops;
	snprintf(c->name, sizeof(c->name), "%s", vd->name ? vd->name : "virtio");
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vd->kick_fd[q] = -1;
	for (unsigned q = 0; q < vd->nqueues; q++) {
		vd->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vd->kick_fd[q] < 0) {
			int err = errno;
			for (unsigned k = 0; k < q; k++) {
				close(vd->kick_fd[k]);
				vd->kick_fd[k] = -1;
			}
			return -err;
		}
	}
	pthread_mutex_init(&c->lock, NULL);
	c->device_features = vd->ops->features(vd->dev) | VIRTIO_CORE_FEATURES;
	vd->features_negotiated = 0;
	vd->transport = c;
	vd->notify_queue = core_notify_queue;
	vd->notify_config = core_notify_config;
	vd->set_needs_reset = core_set_needs_reset;
	vd->queue_irqfd = core_queue_irqfd;
	c->initialized = true;
	return 0;
}

void virtio_core_teardown(struct virtio_core *c)
{
	if (!c->initialized)
		return;
	struct virtio_dev *vd = c->vd;
	pthread_mutex_lock(&c->lock);
	vd->ops->reset(vd->dev);
	pthread_mutex_unlock(&c->lock);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (vd->kick_fd[q] >= 0)
			close(vd->kick_fd[q]);
		vd->kick_fd[q] = -1;
	}
	vd->notify_queue = NULL;
	vd->notify_config = NULL;
	vd->set_needs_reset = NULL;
	vd->queue_irqfd = NULL;
	vd->transport = NULL;
	pthread_mutex_destroy(&c->lock);
	c->initialized = false;
}

/* ---- the transport handle ---- */

void virtio_transport_reset(struct virtio_core *t)
{
	if (!t)
		return;
	virtio_core_lock(t);
	virtio_core_reset(t);
	virtio_core_unlock(t);
}

void virtio_transport_destroy(struct virtio_core *t)
{
	if (t)
		t->ops->destroy(t);
}

void virtio_transport_describe(struct virtio_core *t,
			       struct virtio_transport_info *info)
{
	*info = (struct virtio_transport_info){ .kind = t->ops->kind, .pci_slot = -1 };
	t->ops->describe(t, info);
}

/* ---- snapshots ---- */

bool virtio_transport_can_save(struct virtio_core *t)
{
	return t->ops->save && t->ops->restore && t->vd->ops->save && t->vd->ops->restore;
}

int virtio_transport_save(struct virtio_core *t, struct snap_buf *b)
{
	if (!virtio_transport_can_save(t))
		return -ENOTSUP;
	struct virtio_dev *vd = t->vd;
	virtio_core_lock(t);
	snap_put_str(b, vd->name ? vd->name : "");
	snap_put_str(b, t->ops->kind);
	int ret = t->ops->save(t, b);
	snap_put_u64(b, t->device_features);
	snap_put_u64(b, t->driver_features);
	snap_put_u64(b, vd->features_negotiated);
	snap_put_u8(b, atomic_load(&t->status));
	snap_put_u8(b, atomic_load(&t->needs_reset));
	snap_put_u8(b, atomic_load(&t->generation));
	snap_put_u32(b, vd->nqueues);
	for (unsigned q = 0; q < vd->nqueues; q++) {
		const struct virtio_core_queue *qs = &t->q[q];
		const struct virtqueue *vq = &vd->vqs[q];
		snap_put_u16(b, qs->size);
		snap_put_u8(b, qs->enabled);
		snap_put_u64(b, qs->desc);
		snap_put_u64(b, qs->avail);
		snap_put_u64(b, qs->used);
		snap_put_u8(b, vq->ready);
		snap_put_u8(b, vq->event_idx);
		snap_put_u8(b, vq->broken);
		snap_put_u16(b, vq->last_avail_idx);
		snap_put_u16(b, vq->used_idx);
		snap_put_u16(b, vq->signalled_used);
		snap_put_u16(b, vq->used_flags);
	}
	ret = ret ?: vd->ops->save(vd->dev, b);
	virtio_core_unlock(t);
	return ret ?: b->err;
}

int virtio_transport_restore(struct virtio_core *t, struct snap_cur *c)
{
	struct virtio_dev *vd = t->vd;
	if (!virtio_transport_can_save(t))
		return -ENOTSUP;
	if (snap_expect_str(c, vd->name ? vd->name : "") || snap_expect_str(c, t->ops->kind))
		return -EBADMSG;
	virtio_core_lock(t);
	int ret = t->ops->restore(t, c);
	uint64_t dev_features = snap_get_u64(c);
	uint64_t drv_features = snap_get_u64(c);
	uint64_t negotiated = snap_get_u64(c);
	uint8_t status = snap_get_u8(c);
	bool needs_reset = snap_get_u8(c) != 0;
	uint8_t generation = snap_get_u8(c);
	if (snap_get_u32(c) != vd->nqueues || dev_features != t->device_features ||
	    (drv_features & ~dev_features) || (negotiated & ~dev_features))
		c->bad = true;
	for (unsigned q = 0; q < vd->nqueues && !ret && !c->bad; q++) {
		struct virtio_core_queue qs;
		qs.size = snap_get_u16(c);
		qs.enabled = snap_get_u8(c) != 0;
		qs.desc = snap_get_u64(c);
		qs.avail = snap_get_u64(c);
		qs.used = snap_get_u64(c);
		bool ready = snap_get_u8(c) != 0;
		bool event_idx = snap_get_u8(c) != 0;
		bool broken = snap_get_u8(c) != 0;
		uint16_t last_avail = snap_get_u16(c);
		uint16_t used_idx = snap_get_u16(c);
		uint16_t signalled = snap_get_u16(c);
		uint16_t used_flags = snap_get_u16(c);
		if (c->bad || qs.size > vd->queue_max_size || ready != qs.enabled)
			c->bad = true;
		else if (ready && vq_restore(&vd->vqs[q], vd->mem, qs.size, qs.desc, qs.avail,
					     qs.used, event_idx, last_avail, used_idx, signalled,
					     used_flags, broken))
			c->bad = true;
		t->q[q] = qs;
	}
	if (!ret && c->bad)
		ret = -EBADMSG;
	ret = ret ?: vd->ops->restore(vd->dev, c);
	if (!ret) {
		t->driver_features = drv_features;
		vd->features_negotiated = negotiated;
		atomic_store(&t->status, status);
		atomic_store(&t->needs_reset, needs_reset);
		atomic_store(&t->generation, generation);
		/* The device serves again what the driver left in its rings. */
		if ((status & VIRTIO_CONFIG_S_DRIVER_OK) && !needs_reset) {
			if (vd->ops->activate(vd->dev))
				core_fault(t);
			/* Each ready queue once: what was made available and
			 * not yet taken when the snapshot was made. */
			for (unsigned q = 0; q < vd->nqueues; q++)
				if (vd->vqs[q].ready)
					virtio_core_kick(t, q);
		}
	}
	virtio_core_unlock(t);
	return ret;
}
