/* SPDX-License-Identifier: MIT */
/*
 * virtio-pci modern transport, written from the virtio 1.x specification,
 * section 4.1 "Virtio Over PCI Bus" and section 2.1 "Device Status Field".
 * See pci.h for the BAR layout and the behaviour.
 *
 * Locking:
 *  - p->lock serializes the common configuration (vCPU threads). It is held
 *    while ops->reset joins the device thread, so nothing the device thread
 *    calls may take it: the interrupt paths (notify_queue, notify_config,
 *    set_needs_reset) only use atomics, p->irq_lock and the MSI-X lock.
 *  - p->irq_lock keeps the ISR byte and the INTx level consistent.
 *  - p->ioev_lock guards the ioeventfd bindings; bar_moved runs with the
 *    PCI bus lock held (config write from a vCPU), so it is a leaf lock.
 */
#include "virtio/pci.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pci/msix.h"
#include "virtio/worker.h"

#define COMMON_CFG_SIZE ((uint32_t)sizeof(struct virtio_pci_common_cfg))

struct vpci_queue {
	uint16_t size;
	_Atomic uint16_t vector; /* read by the device thread */
	bool enabled;
	uint64_t desc, avail, used;
};

struct virtio_pci {
	struct pci_device pci;
	struct msix msix;
	struct virtio_dev *vd;
	struct pci_bus *bus;
	struct kvm *kvm;
	char name[32];
	bool msix_init_done;
	bool added;

	pthread_mutex_t lock;
	uint64_t device_features;
	uint64_t driver_features;
	uint32_t dfselect;
	uint32_t gfselect;
	uint16_t queue_select;
	_Atomic uint8_t status; /* driver-written bits (NEEDS_RESET apart) */
	atomic_bool needs_reset;
	_Atomic uint8_t generation;
	_Atomic uint16_t config_vector;
	struct vpci_queue q[VIRTIO_MAX_QUEUES];
	struct ratelimit rl; /* under lock */

	pthread_mutex_t irq_lock;
	uint8_t isr;

	pthread_mutex_t ioev_lock;
	uint64_t ioev_addr; /* BAR address the ioeventfds are bound at */
	uint32_t ioev_len;
	bool ioev_bound[VIRTIO_MAX_QUEUES];
};

/* The pci_device callbacks get &p->pci and convert it back. */
_Static_assert(offsetof(struct virtio_pci, pci) == 0, "pci must come first");

/* Logs a guest mistake; p->lock held. */
#define VP_WARN(p, fmt, ...)                                                  \
	log_ratelimited(&(p)->rl, LOG_WARN, "%s: " fmt, (p)->name, ##__VA_ARGS__)

static uint32_t class_for(uint16_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_NET:
		return 0x020000; /* network, ethernet */
	case VIRTIO_ID_BLOCK:
		return 0x018000; /* mass storage, other */
	case VIRTIO_ID_CONSOLE:
		return 0x078000; /* communication, other */
	default:
		return 0x00ff00; /* unclassified */
	}
}

/* ---- interrupts (any thread, never p->lock) ---- */

static void raise_isr(struct virtio_pci *p, uint8_t bit)
{
	pthread_mutex_lock(&p->irq_lock);
	p->isr |= bit;
	pci_set_intx(&p->pci, true);
	pthread_mutex_unlock(&p->irq_lock);
}

static uint8_t isr_read_clear(struct virtio_pci *p)
{
	pthread_mutex_lock(&p->irq_lock);
	uint8_t v = p->isr;
	p->isr = 0;
	pci_set_intx(&p->pci, false);
	pthread_mutex_unlock(&p->irq_lock);
	return v;
}

static void raise_config_irq(struct virtio_pci *p)
{
	if (msix_enabled(&p->msix)) {
		uint16_t v = atomic_load(&p->config_vector);
		if (v != VIRTIO_MSI_NO_VECTOR)
			msix_notify(&p->msix, v);
		return;
	}
	raise_isr(p, VIRTIO_PCI_ISR_CONFIG_BIT);
}

static void vp_notify_queue(struct virtio_dev *vd, unsigned q)
{
	struct virtio_pci *p = vd->transport;
	if (q >= vd->nqueues)
		return;
	if (msix_enabled(&p->msix)) {
		uint16_t v = atomic_load(&p->q[q].vector);
		if (v != VIRTIO_MSI_NO_VECTOR)
			msix_notify(&p->msix, v);
		return;
	}
	raise_isr(p, VIRTIO_PCI_ISR_QUEUE_BIT);
}

static void vp_notify_config(struct virtio_dev *vd)
{
	struct virtio_pci *p = vd->transport;
	atomic_fetch_add(&p->generation, 1);
	raise_config_irq(p);
}

static void vp_set_needs_reset(struct virtio_dev *vd)
{
	struct virtio_pci *p = vd->transport;
	if (atomic_exchange(&p->needs_reset, true))
		return;
	/* After DRIVER_OK the driver must hear about it (spec 2.1.2). */
	if (atomic_load(&p->status) & VIRTIO_CONFIG_S_DRIVER_OK)
		raise_config_irq(p);
}

/* The transport itself found the driver at fault; p->lock held. */
static void transport_error(struct virtio_pci *p, const char *what)
{
	atomic_fetch_add(&p->vd->errors, 1);
	VP_WARN(p, "%s; device needs reset", what);
	vp_set_needs_reset(p->vd);
}

/* ---- ioeventfds ---- */

static void ioev_unbind(struct virtio_pci *p)
{
	for (unsigned q = 0; q < p->vd->nqueues; q++) {
		if (!p->ioev_bound[q])
			continue;
		kvm_ioeventfd(p->kvm, p->vd->kick_fd[q],
			      p->ioev_addr + VIRTIO_PCI_NOTIFY_OFF +
				      (uint64_t)q * VIRTIO_PCI_NOTIFY_MULT,
			      p->ioev_len, false, false);
		p->ioev_bound[q] = false;
	}
	p->ioev_addr = 0;
}

/* Failures are logged; kicks then still arrive through the BAR handler. */
static void ioev_bind(struct virtio_pci *p, uint64_t bar_addr)
{
	p->ioev_addr = bar_addr;
	for (unsigned q = 0; q < p->vd->nqueues; q++) {
		int r = kvm_ioeventfd(p->kvm, p->vd->kick_fd[q],
				      bar_addr + VIRTIO_PCI_NOTIFY_OFF +
					      (uint64_t)q * VIRTIO_PCI_NOTIFY_MULT,
				      p->ioev_len, false, true);
		p->ioev_bound[q] = r == 0;
	}
}

static void vp_bar_moved(struct pci_device *dev, unsigned bar, uint64_t old_addr,
			 uint64_t new_addr)
{
	struct virtio_pci *p = (struct virtio_pci *)dev;
	(void)old_addr;
	if (bar != VIRTIO_PCI_BAR)
		return;
	pthread_mutex_lock(&p->ioev_lock);
	ioev_unbind(p);
	if (new_addr)
		ioev_bind(p, new_addr);
	pthread_mutex_unlock(&p->ioev_lock);
}

static void vp_config_write(struct pci_device *dev, uint32_t off, uint32_t len)
{
	struct virtio_pci *p = (struct virtio_pci *)dev;
	msix_config_write(&p->msix, off, len);
}

static void vp_pci_reset(struct pci_device *dev)
{
	struct virtio_pci *p = (struct virtio_pci *)dev;
	if (p->msix_init_done)
		msix_reset(&p->msix);
}

static const struct pci_device_ops vp_pci_ops = {
	.config_write = vp_config_write,
	.bar_moved = vp_bar_moved,
	.reset = vp_pci_reset,
};

/* ---- common configuration ---- */

static uint8_t status_read(struct virtio_pci *p)
{
	uint8_t s = atomic_load(&p->status);
	if (atomic_load(&p->needs_reset))
		s |= VIRTIO_CONFIG_S_NEEDS_RESET;
	return s;
}

/* Back to the initial state; p->lock held (or not yet shared). */
static void reset_locked(struct virtio_pci *p)
{
	struct virtio_dev *vd = p->vd;
	vd->ops->reset(vd->dev); /* the device thread is gone after this */
	for (unsigned q = 0; q < vd->nqueues; q++) {
		vq_reset(&vd->vqs[q]);
		p->q[q].size = vd->queue_max_size;
		atomic_store(&p->q[q].vector, VIRTIO_MSI_NO_VECTOR);
		p->q[q].enabled = false;
		p->q[q].desc = p->q[q].avail = p->q[q].used = 0;
		if (vd->kick_fd[q] >= 0)
			eventfd_drain(vd->kick_fd[q]); /* stale kicks */
	}
	p->driver_features = 0;
	vd->features_negotiated = 0;
	p->dfselect = p->gfselect = 0;
	p->queue_select = 0;
	atomic_store(&p->config_vector, VIRTIO_MSI_NO_VECTOR);
	atomic_store(&p->status, 0);
	atomic_store(&p->needs_reset, false);
	pthread_mutex_lock(&p->irq_lock);
	p->isr = 0;
	pci_set_intx(&p->pci, false);
	pthread_mutex_unlock(&p->irq_lock);
}

/* NULL when the driver's feature set is acceptable, else why not. */
static const char *features_refused(const struct virtio_pci *p)
{
	if (p->driver_features & ~p->device_features)
		return "driver accepted features the device did not offer";
	if (!(p->driver_features & (1ULL << VIRTIO_F_VERSION_1)))
		return "driver did not accept VERSION_1 (legacy drivers unsupported)";
	return NULL;
}

static void driver_ok(struct virtio_pci *p)
{
	struct virtio_dev *vd = p->vd;
	if (!(atomic_load(&p->status) & VIRTIO_CONFIG_S_FEATURES_OK)) {
		transport_error(p, "DRIVER_OK without FEATURES_OK");
		return;
	}
	if (atomic_load(&p->needs_reset))
		return; /* already broken: stay quiet until reset */
	int r = vd->ops->activate(vd->dev);
	if (r) {
		char msg[96];
		snprintf(msg, sizeof(msg), "device activation failed: %s",
			 strerror(-r));
		transport_error(p, msg);
	}
}

static void status_write(struct virtio_pci *p, uint8_t val)
{
	if (val == 0) {
		reset_locked(p);
		return;
	}
	uint8_t old = atomic_load(&p->status);
	/* The driver only sets bits; NEEDS_RESET is the device's. */
	uint8_t new = (uint8_t)((old | val) & ~VIRTIO_CONFIG_S_NEEDS_RESET);
	if ((new & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK)) {
		const char *why = features_refused(p);
		if (why) {
			VP_WARN(p, "FEATURES_OK refused (features 0x%llx, offered 0x%llx): %s",
				(unsigned long long)p->driver_features,
				(unsigned long long)p->device_features, why);
			new &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
		} else {
			p->vd->features_negotiated = p->driver_features;
		}
	}
	atomic_store(&p->status, new);
	if ((new & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK))
		driver_ok(p);
}

static void queue_enable(struct virtio_pci *p, unsigned q, uint16_t val)
{
	struct virtio_dev *vd = p->vd;
	struct vpci_queue *qs = &p->q[q];
	if (val != 1) {
		/* Only VIRTIO_F_RING_RESET (not offered) allows writing 0. */
		VP_WARN(p, "queue %u: queue_enable write of %u ignored", q, val);
		return;
	}
	if (qs->enabled)
		return;
	uint8_t st = atomic_load(&p->status);
	if (!(st & VIRTIO_CONFIG_S_FEATURES_OK) || (st & VIRTIO_CONFIG_S_DRIVER_OK)) {
		transport_error(p, "queue enabled outside FEATURES_OK..DRIVER_OK");
		return;
	}
	char msg[128];
	if (qs->size == 0 || (qs->size & (qs->size - 1)) ||
	    qs->size > vd->queue_max_size) {
		snprintf(msg, sizeof(msg), "queue %u: bad size %u (max %u)", q,
			 qs->size, vd->queue_max_size);
		transport_error(p, msg);
		return;
	}
	bool event_idx = p->driver_features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	if (vq_init(&vd->vqs[q], vd->mem, qs->size, qs->desc, qs->avail,
		    qs->used, event_idx)) {
		snprintf(msg, sizeof(msg),
			 "queue %u: rings desc 0x%llx avail 0x%llx used 0x%llx (size %u) unusable",
			 q, (unsigned long long)qs->desc,
			 (unsigned long long)qs->avail,
			 (unsigned long long)qs->used, qs->size);
		transport_error(p, msg);
		return;
	}
	qs->enabled = true;
}

/* Snapshot of the common configuration as the driver sees it; lock held. */
static void common_snapshot(struct virtio_pci *p, struct virtio_pci_common_cfg *c)
{
	struct virtio_dev *vd = p->vd;
	memset(c, 0, sizeof(*c));
	c->device_feature_select = htole32(p->dfselect);
	if (p->dfselect < 2)
		c->device_feature = htole32((uint32_t)(p->device_features >> (32 * p->dfselect)));
	c->guest_feature_select = htole32(p->gfselect);
	if (p->gfselect < 2)
		c->guest_feature = htole32((uint32_t)(p->driver_features >> (32 * p->gfselect)));
	c->msix_config = htole16(atomic_load(&p->config_vector));
	c->num_queues = htole16((uint16_t)vd->nqueues);
	c->device_status = status_read(p);
	c->config_generation = atomic_load(&p->generation);
	c->queue_select = htole16(p->queue_select);
	unsigned q = p->queue_select;
	if (q < vd->nqueues) {
		const struct vpci_queue *qs = &p->q[q];
		c->queue_size = htole16(qs->size);
		c->queue_msix_vector = htole16(atomic_load(&qs->vector));
		c->queue_enable = htole16(qs->enabled ? 1 : 0);
		c->queue_notify_off = htole16((uint16_t)q);
		c->queue_desc_lo = htole32((uint32_t)qs->desc);
		c->queue_desc_hi = htole32((uint32_t)(qs->desc >> 32));
		c->queue_avail_lo = htole32((uint32_t)qs->avail);
		c->queue_avail_hi = htole32((uint32_t)(qs->avail >> 32));
		c->queue_used_lo = htole32((uint32_t)qs->used);
		c->queue_used_hi = htole32((uint32_t)(qs->used >> 32));
	}
}

#define FIELD(name) { offsetof(struct virtio_pci_common_cfg, name), \
		      sizeof(((struct virtio_pci_common_cfg *)0)->name) }

static const struct {
	uint8_t off;
	uint8_t size;
} common_fields[] = {
	FIELD(device_feature_select), FIELD(device_feature),
	FIELD(guest_feature_select),  FIELD(guest_feature),
	FIELD(msix_config),           FIELD(num_queues),
	FIELD(device_status),         FIELD(config_generation),
	FIELD(queue_select),          FIELD(queue_size),
	FIELD(queue_msix_vector),     FIELD(queue_enable),
	FIELD(queue_notify_off),      FIELD(queue_desc_lo),
	FIELD(queue_desc_hi),         FIELD(queue_avail_lo),
	FIELD(queue_avail_hi),        FIELD(queue_used_lo),
	FIELD(queue_used_hi),
};

static void set_lo(uint64_t *v, uint32_t lo)
{
	*v = (*v & ~0xffffffffULL) | lo;
}

static void set_hi(uint64_t *v, uint32_t hi)
{
	*v = (*v & 0xffffffffULL) | (uint64_t)hi << 32;
}

static uint16_t vector_or_none(const struct virtio_pci *p, uint16_t v)
{
	return v < p->msix.nvec ? v : VIRTIO_MSI_NO_VECTOR;
}

/* One whole field written by the driver; lock held. */
static void common_write_field(struct virtio_pci *p, unsigned off, uint32_t val)
{
	struct virtio_dev *vd = p->vd;
	unsigned q = p->queue_select;
	struct vpci_queue *qs = q < vd->nqueues ? &p->q[q] : NULL;
	bool features_locked = atomic_load(&p->status) & VIRTIO_CONFIG_S_FEATURES_OK;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		p->dfselect = val;
		return;
	case VIRTIO_PCI_COMMON_GFSELECT:
		p->gfselect = val;
		return;
	case VIRTIO_PCI_COMMON_GF:
		if (features_locked) {
			VP_WARN(p, "driver features changed after FEATURES_OK; ignored");
		} else if (p->gfselect == 0) {
			uint64_t f = p->driver_features;
			set_lo(&f, val);
			p->driver_features = f;
		} else if (p->gfselect == 1) {
			uint64_t f = p->driver_features;
			set_hi(&f, val);
			p->driver_features = f;
		}
		return;
	case VIRTIO_PCI_COMMON_MSIX:
		atomic_store(&p->config_vector, vector_or_none(p, (uint16_t)val));
		return;
	case VIRTIO_PCI_COMMON_STATUS:
		status_write(p, (uint8_t)val);
		return;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		p->queue_select = (uint16_t)val;
		return;
	case VIRTIO_PCI_COMMON_DF:
	case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_CFGGENERATION:
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return; /* read-only */
	}

	/* Per-queue fields. */
	if (!qs)
		return; /* no such queue: writes are ignored */
	if (off == VIRTIO_PCI_COMMON_Q_MSIX) {
		atomic_store(&qs->vector, vector_or_none(p, (uint16_t)val));
		return;
	}
	if (off == VIRTIO_PCI_COMMON_Q_ENABLE) {
		queue_enable(p, q, (uint16_t)val);
		return;
	}
	if (qs->enabled) {
		VP_WARN(p, "queue %u: configuration write at 0x%x while enabled ignored",
			q, off);
		return;
	}
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE:
		qs->size = (uint16_t)val; /* checked at queue_enable */
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
		set_lo(&qs->desc, val);
		break;
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		set_hi(&qs->desc, val);
		break;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
		set_lo(&qs->avail, val);
		break;
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		set_hi(&qs->avail, val);
		break;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
		set_lo(&qs->used, val);
		break;
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		set_hi(&qs->used, val);
		break;
	}
}

static void common_access(struct virtio_pci *p, uint64_t off, uint8_t *data,
			  uint32_t len, bool is_write)
{
	pthread_mutex_lock(&p->lock);
	if (!is_write) {
		struct virtio_pci_common_cfg c;
		common_snapshot(p, &c);
		for (uint32_t i = 0; i < len; i++)
			data[i] = off + i < COMMON_CFG_SIZE ? ((uint8_t *)&c)[off + i] : 0;
		pthread_mutex_unlock(&p->lock);
		return;
	}
	/*
	 * The driver must use each field's own width; a wider write is
	 * applied field by field when it covers whole fields, and bytes
	 * that only cover part of a field are ignored.
	 */
	uint32_t covered = 0;
	for (size_t i = 0; i < sizeof(common_fields) / sizeof(common_fields[0]); i++) {
		uint64_t fo = common_fields[i].off, fs = common_fields[i].size;
		if (fo < off || fo + fs > off + len)
			continue;
		uint32_t val = 0;
		for (uint64_t b = 0; b < fs; b++)
			val |= (uint32_t)data[fo - off + b] << (8 * b);
		common_write_field(p, (unsigned)fo, val);
		covered += (uint32_t)fs;
	}
	if (covered != len)
		VP_WARN(p, "common config write of %u bytes at 0x%llx partly ignored",
			len, (unsigned long long)off);
	pthread_mutex_unlock(&p->lock);
}

/* ---- the BAR ---- */

static void device_cfg_access(struct virtio_pci *p, uint64_t off, uint8_t *data,
			      uint32_t len, bool is_write)
{
	struct virtio_dev *vd = p->vd;
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

static void notify_write(struct virtio_pci *p, uint64_t off)
{
	uint64_t q = off / VIRTIO_PCI_NOTIFY_MULT;
	if (q >= p->vd->nqueues)
		return;
	uint64_t one = 1;
	/* Non-blocking eventfd: fails only when the counter is saturated,
	 * and then a kick is pending anyway. */
	ssize_t r = write(p->vd->kick_fd[q], &one, sizeof(one));
	(void)r;
}

static void vp_bar_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		      bool is_write)
{
	struct virtio_pci *p = opaque;
	if (len == 0 || len > 8)
		return;
	if (!is_write)
		memset(data, 0, len);
	uint64_t region = off & ~(uint64_t)(VIRTIO_PCI_REGION_SIZE - 1);
	uint64_t rel = off - region;
	if (off >= VIRTIO_PCI_BAR_SIZE || rel + len > VIRTIO_PCI_REGION_SIZE)
		return; /* straddles two structures: ignored */

	switch (region) {
	case VIRTIO_PCI_COMMON_OFF:
		common_access(p, rel, data, len, is_write);
		break;
	case VIRTIO_PCI_ISR_OFF:
		if (!is_write && rel == 0)
			data[0] = isr_read_clear(p);
		break;
	case VIRTIO_PCI_DEVICE_OFF:
		device_cfg_access(p, rel, data, len, is_write);
		break;
	case VIRTIO_PCI_NOTIFY_OFF:
		if (is_write)
			notify_write(p, rel);
		break;
	case VIRTIO_PCI_MSIX_TABLE_OFF:
	case VIRTIO_PCI_MSIX_PBA_OFF:
		msix_bar_access(&p->msix, off, data, len, is_write);
		break;
	default:
		break;
	}
}

/* ---- creation ---- */

static int add_vendor_cap(struct virtio_pci *p, uint8_t type, uint32_t offset,
			  uint32_t length)
{
	struct virtio_pci_cap cap = {
		.cap_vndr = PCI_CAP_ID_VNDR,
		.cap_len = sizeof(cap),
		.cfg_type = type,
		.bar = VIRTIO_PCI_BAR,
		.offset = htole32(offset),
		.length = htole32(length),
	};
	int r = pci_device_add_cap(&p->pci, &cap, sizeof(cap));
	return r < 0 ? r : 0;
}

static int add_notify_cap(struct virtio_pci *p)
{
	struct virtio_pci_notify_cap cap = {
		.cap = {
			.cap_vndr = PCI_CAP_ID_VNDR,
			.cap_len = sizeof(cap),
			.cfg_type = VIRTIO_PCI_CAP_NOTIFY_CFG,
			.bar = VIRTIO_PCI_BAR,
			.offset = htole32(VIRTIO_PCI_NOTIFY_OFF),
			.length = htole32(p->vd->nqueues * VIRTIO_PCI_NOTIFY_MULT),
		},
		.notify_off_multiplier = htole32(VIRTIO_PCI_NOTIFY_MULT),
	};
	int r = pci_device_add_cap(&p->pci, &cap, sizeof(cap));
	return r < 0 ? r : 0;
}

static bool vdev_valid(const struct virtio_dev *vd)
{
	uint16_t max = vd->queue_max_size;
	return vd->ops && vd->ops->features && vd->ops->activate &&
	       vd->ops->reset && vd->mem && vd->nqueues > 0 &&
	       vd->nqueues <= VIRTIO_MAX_QUEUES &&
	       vd->nqueues + 1 <= MSIX_MAX_VECTORS && max > 0 &&
	       (max & (max - 1)) == 0 && max <= VQ_MAX_SIZE &&
	       vd->config_size <= VIRTIO_PCI_REGION_SIZE &&
	       (vd->config_size == 0 || vd->ops->config_read);
}

int virtio_pci_create(struct virtio_pci **out, struct virtio_dev *vd,
		      struct pci_bus *bus, struct irq_router *router,
		      struct kvm *kvm)
{
	*out = NULL;
	if (!vd || !bus || !router || !vdev_valid(vd))
		return -EINVAL;
	struct virtio_pci *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->vd = vd;
	p->bus = bus;
	p->kvm = kvm;
	snprintf(p->name, sizeof(p->name), "%s", vd->name ? vd->name : "virtio");
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->irq_lock, NULL);
	pthread_mutex_init(&p->ioev_lock, NULL);
	/* Any-length ioeventfds match whatever width the driver writes. */
	p->ioev_len = kvm && kvm_check_cap(kvm, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0 ? 0 : 2;

	int ret = 0;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vd->kick_fd[q] = -1;
	for (unsigned q = 0; q < vd->nqueues; q++) {
		vd->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vd->kick_fd[q] < 0) {
			ret = -errno;
			goto fail;
		}
	}

	p->device_features = vd->ops->features(vd->dev) |
			     (1ULL << VIRTIO_F_VERSION_1) |
			     (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			     (1ULL << VIRTIO_RING_F_INDIRECT_DESC);

	pci_device_init(&p->pci, p->name, VIRTIO_PCI_VENDOR,
			(uint16_t)(VIRTIO_PCI_DEVICE_BASE + vd->device_id),
			class_for(vd->device_id), 1, VIRTIO_PCI_VENDOR,
			/* virtio 1.x 4.1.2.1: 0x40 or higher for modern-only */
			(uint16_t)(0x40 + vd->device_id), &vp_pci_ops);
	ret = pci_device_set_bar(&p->pci, VIRTIO_PCI_BAR, PCI_BAR_MEM64, false,
				 VIRTIO_PCI_BAR_SIZE, vp_bar_io, p);
	ret = ret ?: add_vendor_cap(p, VIRTIO_PCI_CAP_COMMON_CFG,
				    VIRTIO_PCI_COMMON_OFF, COMMON_CFG_SIZE);
	ret = ret ?: add_notify_cap(p);
	ret = ret ?: add_vendor_cap(p, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1);
	if (!ret && vd->config_size)
		ret = add_vendor_cap(p, VIRTIO_PCI_CAP_DEVICE_CFG,
				     VIRTIO_PCI_DEVICE_OFF, vd->config_size);
	if (ret)
		goto fail;
	p->msix_init_done = true; /* arguments valid: msix_destroy() is safe */
	ret = msix_init(&p->msix, &p->pci, router, vd->nqueues + 1,
			VIRTIO_PCI_BAR, VIRTIO_PCI_MSIX_TABLE_OFF,
			VIRTIO_PCI_MSIX_PBA_OFF);
	if (ret)
		goto fail;

	vd->transport = p;
	vd->notify_queue = vp_notify_queue;
	vd->notify_config = vp_notify_config;
	vd->set_needs_reset = vp_set_needs_reset;
	vd->features_negotiated = 0;
	reset_locked(p); /* initial register values; nothing shared yet */

	/* Maps BAR 0, which binds the ioeventfds through bar_moved. */
	ret = pci_bus_add_device(bus, &p->pci, (struct irq_line){ 0 });
	if (ret)
		goto fail;
	p->added = true;
	log_info("%s: virtio-pci slot %u, BAR0 0x%llx", p->name, p->pci.slot,
		 (unsigned long long)p->pci.bars[VIRTIO_PCI_BAR].addr);
	*out = p;
	return 0;
fail:
	log_error("%s: cannot create the virtio-pci transport: %s", p->name,
		  strerror(-ret));
	virtio_pci_destroy(p);
	return ret;
}

void virtio_pci_destroy(struct virtio_pci *p)
{
	if (!p)
		return;
	struct virtio_dev *vd = p->vd;
	if (vd->transport == p) {
		pthread_mutex_lock(&p->lock);
		vd->ops->reset(vd->dev);
		pthread_mutex_unlock(&p->lock);
	}
	pthread_mutex_lock(&p->ioev_lock);
	ioev_unbind(p);
	pthread_mutex_unlock(&p->ioev_lock);
	if (p->msix_init_done)
		msix_destroy(&p->msix);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (vd->kick_fd[q] >= 0)
			close(vd->kick_fd[q]);
		vd->kick_fd[q] = -1;
	}
	if (vd->transport == p) {
		vd->notify_queue = NULL;
		vd->notify_config = NULL;
		vd->set_needs_reset = NULL;
		vd->transport = NULL;
	}
	pthread_mutex_destroy(&p->ioev_lock);
	pthread_mutex_destroy(&p->irq_lock);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

struct pci_device *virtio_pci_device(struct virtio_pci *p)
{
	return &p->pci;
}

struct msix *virtio_pci_msix(struct virtio_pci *p)
{
	return &p->msix;
}
