/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio transport (version 2), written from the virtio 1.x
 * specification, section 4.2 "Virtio Over MMIO". See mmio.h.
 *
 * Locking: m->core.lock (core.h) serializes register accesses (vCPU
 * threads). The interrupt paths (device thread, control loop) only use
 * the atomic m->isr and the eventfds.
 */
#include "virtio/mmio.h"

#include <errno.h>
#include <linux/virtio_mmio.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvm/irq_router.h"
#include "snap/snap.h"
#include "virtio/worker.h"

struct virtio_mmio {
	struct virtio_core core;
	struct kvm *kvm;
	struct bus *bus;
	uint64_t addr;
	uint32_t gsi;
	bool registered;

	/* Transport registers; core.lock held. */
	uint32_t dfsel, gfsel, queue_sel;

	_Atomic uint32_t isr; /* InterruptStatus */
	int irq_fd, resample_fd;
	bool irqfd_bound;
	bool ioev_bound[VIRTIO_MAX_QUEUES];
};

static struct virtio_mmio *of_core(struct virtio_core *c)
{
	return (struct virtio_mmio *)((char *)c - offsetof(struct virtio_mmio, core));
}

/* ---- interrupts (any thread, never core.lock) ---- */

static void assert_irq(struct virtio_mmio *m)
{
	uint64_t one = 1;
	/* Fails only when the counter is saturated: the line is up then. */
	ssize_t r = write(m->irq_fd, &one, sizeof(one));
	(void)r;
}

static void raise_bit(struct virtio_mmio *m, uint32_t bit)
{
	/* With a bit already set the line is up, or the resample after the
	 * guest's EOI raises it again. */
	if (atomic_fetch_or(&m->isr, bit) == 0)
		assert_irq(m);
}

static void vm_notify_queue(struct virtio_core *c, unsigned q)
{
	(void)q;
	raise_bit(of_core(c), VIRTIO_MMIO_INT_VRING);
}

static void vm_notify_config(struct virtio_core *c)
{
	raise_bit(of_core(c), VIRTIO_MMIO_INT_CONFIG);
}

void virtio_mmio_resample(struct virtio_mmio *m)
{
	eventfd_drain(m->resample_fd);
	if (atomic_load(&m->isr))
		assert_irq(m);
}

int virtio_mmio_irq_fd(struct virtio_mmio *m)
{
	return m->irq_fd;
}

int virtio_mmio_resample_fd(struct virtio_mmio *m)
{
	return m->resample_fd;
}

/* ---- registers ---- */

static void vm_reset(struct virtio_core *c)
{
	struct virtio_mmio *m = of_core(c);
	m->dfsel = m->gfsel = m->queue_sel = 0;
	atomic_store(&m->isr, 0);
	/* A line still up goes down at the guest's EOI; the resample then
	 * finds nothing pending. */
}

static uint32_t reg_read(struct virtio_mmio *m, uint64_t off)
{
	struct virtio_core *c = &m->core;
	const struct virtio_core_queue *qs = virtio_core_queue(c, m->queue_sel);
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC_STRING;
	case VIRTIO_MMIO_VERSION:
		return VIRTIO_MMIO_REVISION;
	case VIRTIO_MMIO_DEVICE_ID:
		return c->vd->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return virtio_core_device_features(c, m->dfsel);
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return qs ? c->vd->queue_max_size : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return qs && qs->enabled;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return atomic_load(&m->isr);
	case VIRTIO_MMIO_STATUS:
		return virtio_core_status(c);
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		return 0xffffffff; /* no shared memory regions */
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return atomic_load(&c->generation);
	default:
		return 0; /* write-only or reserved */
	}
}

static void reg_write(struct virtio_mmio *m, uint64_t off, uint32_t val)
{
	struct virtio_core *c = &m->core;
	unsigned q = m->queue_sel;
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		m->dfsel = val;
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		virtio_core_set_driver_features(c, m->gfsel, val);
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		m->gfsel = val;
		return;
	case VIRTIO_MMIO_QUEUE_SEL:
		m->queue_sel = val;
		return;
	case VIRTIO_MMIO_QUEUE_NUM:
		virtio_core_set_queue(c, q, VQF_SIZE, val);
		return;
	case VIRTIO_MMIO_QUEUE_READY:
		virtio_core_enable_queue(c, q, val);
		return;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		virtio_core_kick(c, val);
		return;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		atomic_fetch_and(&m->isr, ~val);
		return;
	case VIRTIO_MMIO_STATUS:
		virtio_core_set_status(c, (uint8_t)val);
		return;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		virtio_core_set_queue(c, q, VQF_DESC_LO, val);
		return;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		virtio_core_set_queue(c, q, VQF_DESC_HI, val);
		return;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		virtio_core_set_queue(c, q, VQF_AVAIL_LO, val);
		return;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		virtio_core_set_queue(c, q, VQF_AVAIL_HI, val);
		return;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		virtio_core_set_queue(c, q, VQF_USED_LO, val);
		return;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		virtio_core_set_queue(c, q, VQF_USED_HI, val);
		return;
	case VIRTIO_MMIO_SHM_SEL:
		return;
	default:
		VIRTIO_CORE_WARN(c, "write of 0x%x to read-only or reserved register 0x%llx ignored",
				 val, (unsigned long long)off);
		return;
	}
}

void virtio_mmio_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		    bool is_write)
{
	struct virtio_mmio *m = opaque;
	struct virtio_core *c = &m->core;
	if (len == 0 || len > 8 || off >= VIRTIO_MMIO_SIZE ||
	    len > VIRTIO_MMIO_SIZE - off) {
		if (!is_write && len <= 8)
			memset(data, 0, len);
		return;
	}
	virtio_core_lock(c);
	if (off >= VIRTIO_MMIO_CONFIG_OFF) {
		virtio_core_config_access(c, off - VIRTIO_MMIO_CONFIG_OFF, data, len,
					  is_write);
	} else if (len != 4 || (off & 3)) {
		if (!is_write)
			memset(data, 0, len);
		VIRTIO_CORE_WARN(c, "%u-byte %s at register 0x%llx ignored (32-bit only)",
				 len, is_write ? "write" : "read",
				 (unsigned long long)off);
	} else if (is_write) {
		reg_write(m, off, (uint32_t)data[0] | (uint32_t)data[1] << 8 |
					  (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24);
	} else {
		uint32_t v = reg_read(m, off);
		for (unsigned i = 0; i < 4; i++)
			data[i] = (uint8_t)(v >> (8 * i));
	}
	virtio_core_unlock(c);
}

/* ---- life cycle ---- */

static void vm_destroy(struct virtio_core *c);
static void vm_describe(struct virtio_core *c, struct virtio_transport_info *info);

/* The window's registers (its place and GSI are the configuration's);
 * a pending InterruptStatus raises the line again. core.lock held. */
static int vm_save(struct virtio_core *c, struct snap_buf *b)
{
	struct virtio_mmio *m = of_core(c);
	snap_put_u64(b, m->addr);
	snap_put_u32(b, m->gsi);
	snap_put_u32(b, m->dfsel);
	snap_put_u32(b, m->gfsel);
	snap_put_u32(b, m->queue_sel);
	snap_put_u32(b, atomic_load(&m->isr));
	return 0;
}

static int vm_restore(struct virtio_core *c, struct snap_cur *cur)
{
	struct virtio_mmio *m = of_core(c);
	if (snap_get_u64(cur) != m->addr || snap_get_u32(cur) != m->gsi)
		return -EBADMSG;
	m->dfsel = snap_get_u32(cur);
	m->gfsel = snap_get_u32(cur);
	m->queue_sel = snap_get_u32(cur);
	uint32_t isr = snap_get_u32(cur);
	if (cur->bad)
		return -EBADMSG;
	atomic_store(&m->isr, isr);
	if (isr)
		assert_irq(m);
	return 0;
}

static const struct virtio_transport_ops vm_transport_ops = {
	.kind = "mmio",
	.save = vm_save,
	.restore = vm_restore,
	.notify_queue = vm_notify_queue,
	.notify_config = vm_notify_config,
	.reset = vm_reset,
	.destroy = vm_destroy,
	.describe = vm_describe,
};

/*
 * Binds QueueNotify (one ioeventfd per queue value) and the irqfd. Not
 * logged: *what names the binding that failed, for creation's one line.
 */
static int bind_kvm(struct virtio_mmio *m, const char **what)
{
	struct virtio_dev *vd = m->core.vd;
	for (unsigned q = 0; q < vd->nqueues; q++) {
		int r = kvm_ioeventfd_match(m->kvm, vd->kick_fd[q],
					    m->addr + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q, true);
		if (r) {
			*what = "KVM_IOEVENTFD (QueueNotify)";
			return r;
		}
		m->ioev_bound[q] = true;
	}
	int r = kvm_irqfd_resample(m->kvm, m->irq_fd, m->resample_fd, m->gsi, true);
	m->irqfd_bound = r == 0;
	if (r)
		*what = "KVM_IRQFD";
	return r;
}

/* At teardown; a failure is logged here, once per binding. */
static void unbind_kvm(struct virtio_mmio *m)
{
	struct virtio_dev *vd = m->core.vd;
	for (unsigned q = 0; q < vd->nqueues; q++) {
		int r = m->ioev_bound[q] ?
				kvm_ioeventfd_match(m->kvm, vd->kick_fd[q],
						    m->addr + VIRTIO_MMIO_QUEUE_NOTIFY,
						    4, q, false) : 0;
		if (r)
			log_warn("%s: queue %u: KVM_IOEVENTFD deassign at 0x%llx: %s",
				 m->core.name, q,
				 (unsigned long long)(m->addr + VIRTIO_MMIO_QUEUE_NOTIFY),
				 strerror(-r));
		m->ioev_bound[q] = false;
	}
	int r = m->irqfd_bound ? kvm_irqfd_resample(m->kvm, m->irq_fd, -1, m->gsi,
						    false) : 0;
	if (r)
		log_warn("%s: KVM_IRQFD deassign (GSI %u): %s", m->core.name, m->gsi,
			 strerror(-r));
	m->irqfd_bound = false;
}

int virtio_mmio_create(struct virtio_mmio **out, struct virtio_dev *vd,
		       struct bus *mmio, uint64_t addr, uint32_t gsi,
		       struct kvm *kvm)
{
	*out = NULL;
	const char *name = vd && vd->name ? vd->name : "virtio";
	struct virtio_mmio *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->irq_fd = m->resample_fd = -1;
	int ret = -EINVAL;
	if (!vd || !mmio || (addr & (VIRTIO_MMIO_SIZE - 1)) ||
	    vd->config_size > VIRTIO_MMIO_SIZE - VIRTIO_MMIO_CONFIG_OFF) {
		log_error("%s: cannot create the virtio-mmio transport: %s", name,
			  strerror(-ret));
		free(m);
		return ret;
	}
	ret = virtio_core_init(&m->core, vd, &vm_transport_ops);
	if (ret) {
		log_error("%s: cannot create the virtio-mmio transport: %s", name,
			  strerror(-ret));
		free(m);
		return ret;
	}
	m->kvm = kvm;
	m->bus = mmio;
	m->addr = addr;
	m->gsi = gsi;
	m->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	const char *what = "eventfd";
	if (m->irq_fd < 0 || m->resample_fd < 0)
		ret = -errno;
	virtio_core_reset(&m->core); /* initial register values */
	ret = ret ?: bind_kvm(m, &what);
	if (!ret) {
		what = "the MMIO bus";
		ret = bus_register(mmio, addr, VIRTIO_MMIO_SIZE, virtio_mmio_io, m,
				   m->core.name);
	}
	if (ret) {
		/* The one line: bind_kvm and bus_register leave it to us. */
		log_error("%s: cannot create the virtio-mmio transport at 0x%llx: %s: %s",
			  name, (unsigned long long)addr, what, strerror(-ret));
		vm_destroy(&m->core);
		return ret;
	}
	m->registered = true;
	log_info("%s: virtio-mmio at 0x%llx, GSI %u", m->core.name,
		 (unsigned long long)addr, gsi);
	*out = m;
	return 0;
}

static void vm_destroy(struct virtio_core *c)
{
	struct virtio_mmio *m = of_core(c);
	struct virtio_dev *vd = c->vd;
	/* The device thread stops first: it may still raise interrupts. */
	virtio_core_lock(c);
	vd->ops->reset(vd->dev);
	virtio_core_unlock(c);
	if (m->registered)
		bus_unregister(m->bus, m->addr);
	unbind_kvm(m);
	virtio_core_teardown(c);
	if (m->irq_fd >= 0)
		close(m->irq_fd);
	if (m->resample_fd >= 0)
		close(m->resample_fd);
	free(m);
}

static void vm_describe(struct virtio_core *c, struct virtio_transport_info *info)
{
	struct virtio_mmio *m = of_core(c);
	info->addr = m->addr;
	info->size = VIRTIO_MMIO_SIZE;
	info->gsi = m->gsi;
}

struct virtio_core *virtio_mmio_transport(struct virtio_mmio *m)
{
	return &m->core;
}

/* ---- the platform record ---- */

static void mmio_reset_op(void *dev)
{
	virtio_transport_reset(virtio_mmio_transport(dev));
}

static void mmio_destroy_op(void *dev)
{
	virtio_transport_destroy(virtio_mmio_transport(dev));
}

static void mmio_describe_op(void *dev, struct platform_info *info)
{
	struct virtio_mmio *m = dev;
	struct virtio_transport_info ti;
	virtio_transport_describe(&m->core, &ti);
	info->regions[info->nregions++] = (struct platform_region){
		.name = m->core.name, .mmio = true, .addr = ti.addr,
		.size = ti.size, .irq = (int)ti.gsi,
	};
}

const struct platform_dev_ops virtio_mmio_platform_ops = {
	.name = "virtio-mmio",
	.reset = mmio_reset_op,
	.destroy = mmio_destroy_op,
	.describe = mmio_describe_op,
};
