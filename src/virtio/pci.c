/* SPDX-License-Identifier: MIT */
/*
 * virtio-pci modern transport, written from the virtio 1.x specification,
 * section 4.1 "Virtio Over PCI Bus" and section 2.1 "Device Status Field".
 * See pci.h for the BAR layout and the behaviour.
 *
 * Locking:
 *  - p->core.lock (core.h) serializes the common configuration (vCPU
 *    threads). It is held while ops->reset joins the device thread, so
 *    nothing the device thread calls may take it: the interrupt paths
 *    (notify_queue, notify_config) only use atomics, p->irq_lock and the
 *    MSI-X lock.
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
#include "snap/snap.h"
#include "virtio/worker.h"

#define COMMON_CFG_SIZE ((uint32_t)sizeof(struct virtio_pci_common_cfg))

struct virtio_pci {
	struct virtio_core core;
	struct pci_device pci;
	struct msix msix;
	struct pci_bus *bus;
	struct kvm *kvm;
	bool msix_init_done;

	/* Transport registers; core.lock held. */
	uint32_t dfselect;
	uint32_t gfselect;
	uint16_t queue_select;
	_Atomic uint16_t config_vector; /* read by the device thread */
	_Atomic uint16_t vector[VIRTIO_MAX_QUEUES];

	pthread_mutex_t irq_lock;
	uint8_t isr;

	pthread_mutex_t ioev_lock;
	uint64_t ioev_addr; /* BAR address the ioeventfds are bound at */
	uint32_t ioev_len;
	bool ioev_bound[VIRTIO_MAX_QUEUES];
};

static struct virtio_pci *of_core(struct virtio_core *c)
{
	return (struct virtio_pci *)((char *)c - offsetof(struct virtio_pci, core));
}

static struct virtio_pci *of_pci(struct pci_device *d)
{
	return (struct virtio_pci *)((char *)d - offsetof(struct virtio_pci, pci));
}

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

/* ---- interrupts (any thread, never core.lock) ---- */

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

static void vp_notify_config(struct virtio_core *c)
{
	struct virtio_pci *p = of_core(c);
	if (msix_enabled(&p->msix)) {
		uint16_t v = atomic_load(&p->config_vector);
		if (v != VIRTIO_MSI_NO_VECTOR)
			msix_notify(&p->msix, v);
		return;
	}
	raise_isr(p, VIRTIO_PCI_ISR_CONFIG_BIT);
}

static void vp_notify_queue(struct virtio_core *c, unsigned q)
{
	struct virtio_pci *p = of_core(c);
	if (msix_enabled(&p->msix)) {
		uint16_t v = atomic_load(&p->vector[q]);
		if (v != VIRTIO_MSI_NO_VECTOR)
			msix_notify(&p->msix, v);
		return;
	}
	raise_isr(p, VIRTIO_PCI_ISR_QUEUE_BIT);
}

/* With MSI-X on, queue q's vector's irqfd: a backend in another process
 * (vhost-user) interrupts the guest without cvmm. The vector's mask bits
 * are then not looked at for that queue (an interrupt is delivered, not
 * held pending): Linux masks only around affinity changes, and a spurious
 * virtio interrupt is harmless. Otherwise (INTx, no vector) -1. */
static int vp_queue_irqfd(struct virtio_core *c, unsigned q)
{
	struct virtio_pci *p = of_core(c);
	uint16_t v = atomic_load(&p->vector[q]);
	if (!msix_enabled(&p->msix) || v == VIRTIO_MSI_NO_VECTOR || v >= p->msix.nvec)
		return -1;
	return p->msix.vec[v].irqfd;
}

/* ---- ioeventfds ---- */

/* Queue q's notify address in BAR 0 at bar_addr. */
static uint64_t notify_addr(uint64_t bar_addr, unsigned q)
{
	return bar_addr + VIRTIO_PCI_NOTIFY_OFF + (uint64_t)q * VIRTIO_PCI_NOTIFY_MULT;
}

/* (Un)binds queue q's kick eventfd; a failure is logged here (the guest
 * moves BARs: rate-limited), kvm/irq_router.c only returns it. */
static int ioev_set(struct virtio_pci *p, unsigned q, bool assign)
{
	uint64_t addr = notify_addr(p->ioev_addr, q);
	int r = kvm_ioeventfd(p->kvm, p->core.vd->kick_fd[q], addr, p->ioev_len,
			      false, assign);
	if (r)
		log_ratelimited(&p->pci.rl, LOG_WARN,
				"%s: queue %u: KVM_IOEVENTFD %s at 0x%llx: %s%s",
				p->core.name, q, assign ? "assign" : "deassign",
				(unsigned long long)addr, strerror(-r),
				assign ? "; its kicks exit to cvmm" : "");
	return r;
}

static void ioev_unbind(struct virtio_pci *p)
{
	for (unsigned q = 0; q < p->core.vd->nqueues; q++) {
		if (p->ioev_bound[q])
			ioev_set(p, q, false);
		p->ioev_bound[q] = false;
	}
	p->ioev_addr = 0;
}

/* Kicks of a queue left unbound still arrive through the BAR handler. */
static void ioev_bind(struct virtio_pci *p, uint64_t bar_addr)
{
	p->ioev_addr = bar_addr;
	for (unsigned q = 0; q < p->core.vd->nqueues; q++)
		p->ioev_bound[q] = ioev_set(p, q, true) == 0;
}

static void vp_bar_moved(struct pci_device *dev, unsigned bar, uint64_t old_addr,
			 uint64_t new_addr)
{
	struct virtio_pci *p = of_pci(dev);
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
	struct virtio_pci *p = of_pci(dev);
	msix_config_write(&p->msix, off, len);
}

static void vp_pci_reset(struct pci_device *dev)
{
	struct virtio_pci *p = of_pci(dev);
	if (p->msix_init_done)
		msix_reset(&p->msix);
}

static int vp_pci_save(struct pci_device *dev, struct snap_buf *b)
{
	return msix_save(&of_pci(dev)->msix, b);
}

static int vp_pci_restore(struct pci_device *dev, struct snap_cur *c)
{
	return msix_restore(&of_pci(dev)->msix, c);
}

static const struct pci_device_ops vp_pci_ops = {
	.config_write = vp_config_write,
	.bar_moved = vp_bar_moved,
	.reset = vp_pci_reset,
	.save = vp_pci_save,
	.restore = vp_pci_restore,
};

/* ---- common configuration ---- */

/* The transport's registers back to their initial values; core.lock held. */
static void vp_reset(struct virtio_core *c)
{
	struct virtio_pci *p = of_core(c);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		atomic_store(&p->vector[q], VIRTIO_MSI_NO_VECTOR);
	p->dfselect = p->gfselect = 0;
	p->queue_select = 0;
	atomic_store(&p->config_vector, VIRTIO_MSI_NO_VECTOR);
	pthread_mutex_lock(&p->irq_lock);
	p->isr = 0;
	pci_set_intx(&p->pci, false);
	pthread_mutex_unlock(&p->irq_lock);
}

/* Snapshot of the common configuration as the driver sees it; lock held. */
static void common_snapshot(struct virtio_pci *p, struct virtio_pci_common_cfg *c)
{
	struct virtio_core *core = &p->core;
	memset(c, 0, sizeof(*c));
	c->device_feature_select = htole32(p->dfselect);
	c->device_feature = htole32(virtio_core_device_features(core, p->dfselect));
	c->guest_feature_select = htole32(p->gfselect);
	c->guest_feature = htole32(virtio_core_driver_features(core, p->gfselect));
	c->msix_config = htole16(atomic_load(&p->config_vector));
	c->num_queues = htole16((uint16_t)core->vd->nqueues);
	c->device_status = virtio_core_status(core);
	c->config_generation = atomic_load(&core->generation);
	c->queue_select = htole16(p->queue_select);
	unsigned q = p->queue_select;
	const struct virtio_core_queue *qs = virtio_core_queue(core, q);
	if (qs) {
		c->queue_size = htole16(qs->size);
		c->queue_msix_vector = htole16(atomic_load(&p->vector[q]));
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

static uint16_t vector_or_none(const struct virtio_pci *p, uint16_t v)
{
	return v < p->msix.nvec ? v : VIRTIO_MSI_NO_VECTOR;
}

/* One whole field written by the driver; lock held. */
static void common_write_field(struct virtio_pci *p, unsigned off, uint32_t val)
{
	struct virtio_core *c = &p->core;
	unsigned q = p->queue_select;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		p->dfselect = val;
		return;
	case VIRTIO_PCI_COMMON_GFSELECT:
		p->gfselect = val;
		return;
	case VIRTIO_PCI_COMMON_GF:
		virtio_core_set_driver_features(c, p->gfselect, val);
		return;
	case VIRTIO_PCI_COMMON_MSIX:
		atomic_store(&p->config_vector, vector_or_none(p, (uint16_t)val));
		return;
	case VIRTIO_PCI_COMMON_STATUS:
		virtio_core_set_status(c, (uint8_t)val);
		return;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		p->queue_select = (uint16_t)val;
		return;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		if (virtio_core_queue(c, q))
			atomic_store(&p->vector[q], vector_or_none(p, (uint16_t)val));
		return;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		virtio_core_enable_queue(c, q, val);
		return;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		virtio_core_set_queue(c, q, VQF_SIZE, val);
		return;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
		virtio_core_set_queue(c, q, VQF_DESC_LO, val);
		return;
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		virtio_core_set_queue(c, q, VQF_DESC_HI, val);
		return;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
		virtio_core_set_queue(c, q, VQF_AVAIL_LO, val);
		return;
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		virtio_core_set_queue(c, q, VQF_AVAIL_HI, val);
		return;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
		virtio_core_set_queue(c, q, VQF_USED_LO, val);
		return;
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		virtio_core_set_queue(c, q, VQF_USED_HI, val);
		return;
	default:
		return; /* read-only: DF, NUMQ, CFGGENERATION, Q_NOFF */
	}
}

static void common_access(struct virtio_pci *p, uint64_t off, uint8_t *data,
			  uint32_t len, bool is_write)
{
	virtio_core_lock(&p->core);
	if (!is_write) {
		struct virtio_pci_common_cfg c;
		common_snapshot(p, &c);
		for (uint32_t i = 0; i < len; i++)
			data[i] = off + i < COMMON_CFG_SIZE ? ((uint8_t *)&c)[off + i] : 0;
		virtio_core_unlock(&p->core);
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
		VIRTIO_CORE_WARN(&p->core,
				 "common config write of %u bytes at 0x%llx partly ignored",
				 len, (unsigned long long)off);
	virtio_core_unlock(&p->core);
}

/* ---- the BAR ---- */

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
		virtio_core_lock(&p->core);
		virtio_core_config_access(&p->core, rel, data, len, is_write);
		virtio_core_unlock(&p->core);
		break;
	case VIRTIO_PCI_NOTIFY_OFF:
		if (is_write)
			virtio_core_kick(&p->core, rel / VIRTIO_PCI_NOTIFY_MULT);
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
			.length = htole32(p->core.vd->nqueues * VIRTIO_PCI_NOTIFY_MULT),
		},
		.notify_off_multiplier = htole32(VIRTIO_PCI_NOTIFY_MULT),
	};
	int r = pci_device_add_cap(&p->pci, &cap, sizeof(cap));
	return r < 0 ? r : 0;
}

static void vp_destroy(struct virtio_core *c);
static void vp_describe(struct virtio_core *c, struct virtio_transport_info *info);

/* The transport's registers, then its PCI function (config space, BARs,
 * MSI-X table). core.lock held. */
static int vp_save(struct virtio_core *c, struct snap_buf *b)
{
	struct virtio_pci *p = of_core(c);
	snap_put_u32(b, p->dfselect);
	snap_put_u32(b, p->gfselect);
	snap_put_u16(b, p->queue_select);
	snap_put_u16(b, atomic_load(&p->config_vector));
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		snap_put_u16(b, atomic_load(&p->vector[q]));
	pthread_mutex_lock(&p->irq_lock);
	snap_put_u8(b, p->isr);
	pthread_mutex_unlock(&p->irq_lock);
	return pci_device_save(&p->pci, b);
}

static int vp_restore(struct virtio_core *c, struct snap_cur *cur)
{
	struct virtio_pci *p = of_core(c);
	p->dfselect = snap_get_u32(cur);
	p->gfselect = snap_get_u32(cur);
	p->queue_select = snap_get_u16(cur);
	atomic_store(&p->config_vector, snap_get_u16(cur));
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		atomic_store(&p->vector[q], snap_get_u16(cur));
	uint8_t isr = snap_get_u8(cur);
	if (cur->bad)
		return -EBADMSG;
	pthread_mutex_lock(&p->irq_lock);
	p->isr = isr;
	pthread_mutex_unlock(&p->irq_lock);
	return pci_device_restore(&p->pci, cur);
}

static const struct virtio_transport_ops vp_transport_ops = {
	.kind = "pci",
	.save = vp_save,
	.restore = vp_restore,
	.notify_queue = vp_notify_queue,
	.notify_config = vp_notify_config,
	.queue_irqfd = vp_queue_irqfd,
	.reset = vp_reset,
	.destroy = vp_destroy,
	.describe = vp_describe,
};

int virtio_pci_create(struct virtio_pci **out, struct virtio_dev *vd,
		      struct pci_bus *bus, struct irq_router *router,
		      struct kvm *kvm)
{
	*out = NULL;
	if (!vd || !bus || !router || vd->nqueues + 1 > MSIX_MAX_VECTORS ||
	    vd->config_size > VIRTIO_PCI_REGION_SIZE)
		return -EINVAL;
	struct virtio_pci *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	int ret = virtio_core_init(&p->core, vd, &vp_transport_ops);
	if (ret) {
		log_error("%s: cannot create the virtio-pci transport: %s",
			  vd->name ? vd->name : "virtio", strerror(-ret));
		free(p);
		return ret;
	}
	p->bus = bus;
	p->kvm = kvm;
	pthread_mutex_init(&p->irq_lock, NULL);
	pthread_mutex_init(&p->ioev_lock, NULL);
	/* Any-length ioeventfds match whatever width the driver writes. */
	p->ioev_len = kvm && kvm_check_cap(kvm, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0 ? 0 : 2;

	pci_device_init(&p->pci, p->core.name, VIRTIO_PCI_VENDOR,
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
	virtio_core_reset(&p->core); /* initial register values; nothing shared yet */

	/* Maps BAR 0, which binds the ioeventfds through bar_moved. A
	 * failure (bus full, no room for the BAR) is logged there. */
	ret = pci_bus_add_device(bus, &p->pci, (struct irq_line){ 0 });
	if (ret) {
		vp_destroy(&p->core);
		return ret;
	}
	log_info("%s: virtio-pci slot %u, BAR0 0x%llx", p->core.name, p->pci.slot,
		 (unsigned long long)p->pci.bars[VIRTIO_PCI_BAR].addr);
	*out = p;
	return 0;
fail:
	log_error("%s: cannot create the virtio-pci transport: %s", p->core.name,
		  strerror(-ret));
	vp_destroy(&p->core);
	return ret;
}

static void vp_destroy(struct virtio_core *c)
{
	struct virtio_pci *p = of_core(c);
	struct virtio_dev *vd = c->vd;
	/* The device thread stops first: it may still raise interrupts. */
	virtio_core_lock(c);
	vd->ops->reset(vd->dev);
	virtio_core_unlock(c);
	pthread_mutex_lock(&p->ioev_lock);
	ioev_unbind(p);
	pthread_mutex_unlock(&p->ioev_lock);
	if (p->msix_init_done)
		msix_destroy(&p->msix);
	virtio_core_teardown(c);
	pthread_mutex_destroy(&p->ioev_lock);
	pthread_mutex_destroy(&p->irq_lock);
	free(p);
}

static void vp_describe(struct virtio_core *c, struct virtio_transport_info *info)
{
	struct virtio_pci *p = of_core(c);
	const struct pci_bar *bar = &p->pci.bars[VIRTIO_PCI_BAR];
	info->addr = bar->addr;
	info->size = bar->size;
	info->gsi = p->pci.intx.gsi;
	info->pci_slot = (int)p->pci.slot;
}

void virtio_pci_destroy(struct virtio_pci *p)
{
	if (p)
		vp_destroy(&p->core);
}

struct virtio_core *virtio_pci_transport(struct virtio_pci *p)
{
	return &p->core;
}

struct pci_device *virtio_pci_device(struct virtio_pci *p)
{
	return &p->pci;
}

struct msix *virtio_pci_msix(struct virtio_pci *p)
{
	return &p->msix;
}
