/* SPDX-License-Identifier: MIT */
/*
 * The virtio-pci (modern) transport of the guest kit's virtio driver
 * (virtio 1.x, 4.1 "Virtio Over PCI Bus"): vendor capabilities, the
 * common configuration structure, notifications at queue_notify_off *
 * notify_off_multiplier, MSI-X or INTx. See virtio.h.
 */
#include "virtio.h"

static const struct virtio_transport_ops virtio_pci_ops;

u16 virtio_cfg_read16(struct virtio_dev *vd, u32 off)
{
	return mmio_read16(vd->common + off);
}

void virtio_cfg_write16(struct virtio_dev *vd, u32 off, u16 v)
{
	mmio_write16(vd->common + off, v);
}

u32 virtio_cfg_read32(struct virtio_dev *vd, u32 off)
{
	return mmio_read32(vd->common + off);
}

void virtio_cfg_write32(struct virtio_dev *vd, u32 off, u32 v)
{
	mmio_write32(vd->common + off, v);
}

void virtio_cfg_write64(struct virtio_dev *vd, u32 off, u64 v)
{
	mmio_write32(vd->common + off, (u32)v);
	mmio_write32(vd->common + off + 4, (u32)(v >> 32));
}

/* ---- transport operations ---- */

static u8 pci_get_status(struct virtio_dev *vd)
{
	return mmio_read8(vd->common + VIRTIO_COMMON_STATUS);
}

static void pci_put_status(struct virtio_dev *vd, u8 s)
{
	mmio_write8(vd->common + VIRTIO_COMMON_STATUS, s);
}

static u64 pci_get_features(struct virtio_dev *vd)
{
	virtio_cfg_write32(vd, VIRTIO_COMMON_DFSELECT, 0);
	u64 lo = virtio_cfg_read32(vd, VIRTIO_COMMON_DF);
	virtio_cfg_write32(vd, VIRTIO_COMMON_DFSELECT, 1);
	u64 hi = virtio_cfg_read32(vd, VIRTIO_COMMON_DF);
	return hi << 32 | lo;
}

static void pci_set_features(struct virtio_dev *vd, u64 features)
{
	virtio_cfg_write32(vd, VIRTIO_COMMON_GFSELECT, 0);
	virtio_cfg_write32(vd, VIRTIO_COMMON_GF, (u32)features);
	virtio_cfg_write32(vd, VIRTIO_COMMON_GFSELECT, 1);
	virtio_cfg_write32(vd, VIRTIO_COMMON_GF, (u32)(features >> 32));
}

static u16 pci_num_queues(struct virtio_dev *vd)
{
	return virtio_cfg_read16(vd, VIRTIO_COMMON_NUMQ);
}

static u16 pci_queue_max(struct virtio_dev *vd, u16 q, bool *enabled)
{
	virtio_cfg_write16(vd, VIRTIO_COMMON_Q_SELECT, q);
	*enabled = virtio_cfg_read16(vd, VIRTIO_COMMON_Q_ENABLE) != 0;
	return virtio_cfg_read16(vd, VIRTIO_COMMON_Q_SIZE);
}

static int pci_queue_config(struct virtio_dev *vd, struct virtq *vq, u16 size, u64 desc,
			    u64 avail, u64 used)
{
	u16 q = vq->index;
	virtio_cfg_write16(vd, VIRTIO_COMMON_Q_SELECT, q);
	virtio_cfg_write16(vd, VIRTIO_COMMON_Q_SIZE, size);
	vq->msix_entry = VIRTIO_MSI_NO_VECTOR;
	if (vd->irq_mode == VIRTIO_IRQ_MSIX) {
		u16 entry = (u16)(1 + q);
		if (entry >= vd->pci.msix_size)
			return VIRTIO_ERR_VECTOR;
		vq->vector = virtio_alloc_vector(vd, q);
		pci_msix_set(&vd->pci, entry, lapic_id(), vq->vector, false);
		virtio_cfg_write16(vd, VIRTIO_COMMON_Q_MSIX, entry);
		if (virtio_cfg_read16(vd, VIRTIO_COMMON_Q_MSIX) != entry)
			return VIRTIO_ERR_VECTOR;
		vq->msix_entry = entry;
	} else {
		virtio_cfg_write16(vd, VIRTIO_COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR);
	}
	virtio_cfg_write64(vd, VIRTIO_COMMON_Q_DESC, desc);
	virtio_cfg_write64(vd, VIRTIO_COMMON_Q_AVAIL, avail);
	virtio_cfg_write64(vd, VIRTIO_COMMON_Q_USED, used);
	u16 noff = virtio_cfg_read16(vd, VIRTIO_COMMON_Q_NOFF);
	u64 nrel = (u64)noff * vd->notify_mult;
	if (nrel + 2 > vd->notify_len) {
		printf("virtio %s: queue %u notify offset 0x%lx beyond the notify area (0x%x)\n",
		       vd->where, q, nrel, vd->notify_len);
		return VIRTIO_ERR_QUEUE;
	}
	vq->notify = vd->notify + nrel;
	return 0;
}

static u32 pci_queue_enable(struct virtio_dev *vd, u16 q)
{
	virtio_cfg_write16(vd, VIRTIO_COMMON_Q_SELECT, q);
	virtio_cfg_write16(vd, VIRTIO_COMMON_Q_ENABLE, 1);
	return virtio_cfg_read16(vd, VIRTIO_COMMON_Q_ENABLE);
}

static void pci_notify(struct virtq *vq, u32 value)
{
	mmio_write16(vq->notify, (u16)value);
}

static u32 pci_config_gen(struct virtio_dev *vd)
{
	return mmio_read8(vd->common + VIRTIO_COMMON_CFGGEN);
}

static u8 pci_ack_isr(struct virtio_dev *vd)
{
	return mmio_read8(vd->isr); /* read-to-clear, deasserts INTA# */
}

static int pci_setup_irq(struct virtio_dev *vd, enum virtio_irq_mode mode)
{
	const struct pci_dev *p = &vd->pci;
	if (p->msix_cap)
		pci_msix_enable(p, false);
	if (mode == VIRTIO_IRQ_MSIX) {
		if (!p->msix_cap || p->msix_size < 2) {
			printf("virtio %s: no usable MSI-X capability\n", vd->where);
			return VIRTIO_ERR_VECTOR;
		}
		pci_intx_enable(p, false);
		vd->config_vector = virtio_alloc_vector(vd, -1);
		pci_msix_set(p, 0, lapic_id(), vd->config_vector, false);
		pci_msix_mask_all(p, false);
		pci_msix_enable(p, true);
		virtio_cfg_write16(vd, VIRTIO_COMMON_MSIX, 0);
		if (virtio_cfg_read16(vd, VIRTIO_COMMON_MSIX) != 0)
			return VIRTIO_ERR_VECTOR;
		return 0;
	}
	if (mode == VIRTIO_IRQ_INTX) {
		if (p->irq_pin == 0) {
			printf("virtio %s: no INTx pin\n", vd->where);
			return VIRTIO_ERR_VECTOR;
		}
		int r = virtio_route_line(vd, p->irq_line);
		if (r)
			return r;
		pci_intx_enable(p, true);
		return 0;
	}
	pci_intx_enable(p, false);
	return 0;
}

static const struct virtio_transport_ops virtio_pci_ops = {
	.name = "pci",
	.get_status = pci_get_status,
	.put_status = pci_put_status,
	.get_features = pci_get_features,
	.set_features = pci_set_features,
	.num_queues = pci_num_queues,
	.queue_max = pci_queue_max,
	.queue_config = pci_queue_config,
	.queue_enable = pci_queue_enable,
	.notify = pci_notify,
	.config_gen = pci_config_gen,
	.setup_irq = pci_setup_irq,
	.ack_isr = pci_ack_isr,
};

/* ---- discovery ---- */

int virtio_probe(struct virtio_dev *vd, const struct pci_dev *pci)
{
	u8 seen = 0;
	memset(vd, 0, sizeof(*vd));
	vd->pci = *pci;
	vd->ops = &virtio_pci_ops;
	snprintf(vd->where, sizeof(vd->where), "pci %02x:%02x.%x", pci->bus, pci->slot, pci->fn);
	vd->irq_line = pci->irq_line;
	if (pci->vendor != VIRTIO_PCI_VENDOR || pci->device < VIRTIO_PCI_DEVICE_BASE ||
	    pci->device > VIRTIO_PCI_DEVICE_BASE + 0x3f) {
		printf("virtio: %04x:%04x is not a modern virtio device\n", pci->vendor,
		       pci->device);
		return VIRTIO_ERR_CAPS;
	}
	vd->type = pci->device - VIRTIO_PCI_DEVICE_BASE;
	for (u8 off = pci_find_cap(pci, PCI_CAP_ID_VENDOR, 0); off;
	     off = pci_find_cap(pci, PCI_CAP_ID_VENDOR, off)) {
		u8 cap_len = pci_read8(pci, off + 2);
		u8 type = pci_read8(pci, off + 3);
		u8 bar = pci_read8(pci, off + 4);
		u32 offset = pci_read32(pci, off + 8);
		u32 length = pci_read32(pci, off + 12);
		if (type < VIRTIO_PCI_CAP_COMMON_CFG || type > VIRTIO_PCI_CAP_DEVICE_CFG)
			continue; /* PCI_CFG, shared memory, vendor-specific: unused */
		if (seen & (1u << type))
			continue; /* the first of each type is the preferred one */
		if (cap_len < 16 || bar > 5 || pci->bar[bar].kind == PCI_BAR_NONE ||
		    pci->bar[bar].kind == PCI_BAR_IO) {
			printf("virtio %02x: capability type %u: len %u bar %u unusable\n",
			       pci->slot, type, cap_len, bar);
			continue;
		}
		if ((u64)offset + length > pci->bar[bar].size) {
			printf("virtio %02x: capability type %u: 0x%x+0x%x outside BAR%u (0x%lx)\n",
			       pci->slot, type, offset, length, bar, pci->bar[bar].size);
			return VIRTIO_ERR_CAPS;
		}
		u64 addr = pci->bar[bar].addr + offset;
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			if (length < VIRTIO_COMMON_SIZE)
				return VIRTIO_ERR_CAPS;
			vd->common = addr;
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			if (cap_len < 20)
				return VIRTIO_ERR_CAPS;
			vd->notify = addr;
			vd->notify_len = length;
			vd->notify_mult = pci_read32(pci, off + 16);
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			vd->isr = addr;
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			vd->device = addr;
			vd->device_len = length;
			break;
		}
		seen |= (u8)(1u << type);
	}
	if (!vd->common || !vd->notify || !vd->isr) {
		printf("virtio %02x: missing common/notify/ISR capability (have 0x%x)\n",
		       pci->slot, seen);
		return VIRTIO_ERR_CAPS;
	}
	pci_enable(&vd->pci);
	vd->num_queues = pci_num_queues(vd);
	return 0;
}

int virtio_pci_find(enum pci_mech m, u16 type, int *nth, struct virtio_dev *vd)
{
	struct pci_dev d;
	for (u8 slot = 0; slot < 32; slot++) {
		int r = pci_probe(m, 0, slot, 0, &d);
		if (r < 0)
			return r;
		if (r > 0 || d.vendor != VIRTIO_PCI_VENDOR ||
		    d.device != VIRTIO_PCI_DEVICE_BASE + type)
			continue;
		if ((*nth)-- == 0)
			return virtio_probe(vd, &d);
	}
	return 1;
}
