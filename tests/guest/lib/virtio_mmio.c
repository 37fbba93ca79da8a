/* SPDX-License-Identifier: MIT */
/*
 * The virtio-mmio transport (version 2) of the guest kit's virtio driver
 * (virtio 1.x, 4.2 "Virtio Over MMIO"), and its discovery: the DSDT's
 * LNRO0005 devices (as QEMU's microvm and cvmm describe them: _CRS with a
 * Memory32Fixed window and an Extended Interrupt) and the command line's
 * virtio_mmio.device=SIZE@ADDR:IRQ entries (Linux's syntax, which
 * Firecracker and cvmm's cmdline=on use). Every register is 32 bits wide.
 */
#include "virtio.h"

struct virtio_mmio_list virtio_mmio_dsdt, virtio_mmio_cmdline;

static u32 rd(struct virtio_dev *vd, u32 reg)
{
	return mmio_read32(vd->base + reg);
}

static void wr(struct virtio_dev *vd, u32 reg, u32 v)
{
	mmio_write32(vd->base + reg, v);
}

static void wr64(struct virtio_dev *vd, u32 reg, u64 v)
{
	wr(vd, reg, (u32)v);
	wr(vd, reg + 4, (u32)(v >> 32));
}

/* ---- discovery ---- */

static u32 rd32u(const u8 *p)
{
	u32 v;
	memcpy(&v, p, 4);
	return v;
}

/* One LNRO0005 device's _CRS: exactly one window and one interrupt. */
static bool decode_device(const u8 *dev, const u8 *dev_end, struct virtio_mmio_desc *out)
{
	const u8 *d, *end, *body;
	const char *why = aml_crs(dev, dev_end, &d, &end);
	if (why) {
		printf("virtio-mmio: LNRO0005 device: %s\n", why);
		return false;
	}
	int mem = 0, irq = 0, r;
	u8 tag;
	u32 len;
	while ((r = aml_res_next(&d, end, &tag, &body, &len)) > 0) {
		if (tag == AML_RES_MEMORY32_FIXED && len >= 9) {
			out->base = rd32u(body + 1);
			out->size = rd32u(body + 5);
			mem++;
		} else if (tag == AML_RES_EXT_INTERRUPT && len >= 6 && body[1] >= 1) {
			out->level = !(body[0] & 2);
			out->active_low = body[0] & 4;
			out->gsi = rd32u(body + 2);
			irq++;
		} else {
			printf("virtio-mmio: unexpected _CRS descriptor 0x%x\n", tag);
			return false;
		}
	}
	if (r < 0 || mem != 1 || irq != 1) {
		printf("virtio-mmio: _CRS with %d windows and %d interrupts%s\n", mem, irq,
		       r < 0 ? ", malformed" : "");
		return false;
	}
	return true;
}

static void discover_dsdt(const struct boot_info *bi, struct virtio_mmio_list *l)
{
	static const u8 hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O',
				  '0', '0', '0', '5', 0x00 };
	u64 rsdp;
	const u8 *aml, *aml_end;
	if (acpi_find_rsdp(bi, &rsdp) || acpi_find_dsdt(rsdp, &aml, &aml_end))
		return;
	for (const u8 *h = aml; (h = mem_find(h, aml_end, hid, sizeof(hid))) != NULL;
	     h += sizeof(hid)) {
		const u8 *dev = NULL, *dev_end = NULL;
		if (!aml_enclosing_device(aml, aml_end, h, &dev, &dev_end)) {
			printf("virtio-mmio: _HID LNRO0005 outside a Device\n");
			continue;
		}
		if (l->n == VIRTIO_MMIO_MAX_DEVS) {
			printf("virtio-mmio: more than %u devices in the DSDT\n", VIRTIO_MMIO_MAX_DEVS);
			return;
		}
		if (decode_device(dev, dev_end, &l->d[l->n]))
			l->n++;
	}
}

/* virtio_mmio.device=<size>[KMG]@<baseaddr>:<irq>[:<id>], every one. */
static void discover_cmdline(const char *cl, struct virtio_mmio_list *l)
{
	static const char key[] = "virtio_mmio.device=";
	const size_t klen = sizeof(key) - 1;
	for (const char *p = cl; *p;) {
		while (*p == ' ')
			p++;
		const char *w = p;
		while (*p && *p != ' ')
			p++;
		if ((size_t)(p - w) <= klen || memcmp(w, key, klen))
			continue;
		char v[64], *at, *colon;
		size_t n = (size_t)(p - w) - klen;
		if (n >= sizeof(v))
			continue;
		memcpy(v, w + klen, n);
		v[n] = 0;
		at = strchr(v, '@');
		colon = at ? strchr(at, ':') : NULL;
		if (!at || !colon) {
			printf("virtio-mmio: bad command-line entry \"%s\"\n", v);
			continue;
		}
		*at = *colon = 0;
		char *id = strchr(colon + 1, ':');
		if (id)
			*id = 0;
		u64 size, base, irq;
		if (!parse_u64(v, &size) || !parse_u64(at + 1, &base) ||
		    !parse_u64(colon + 1, &irq) || l->n == VIRTIO_MMIO_MAX_DEVS) {
			printf("virtio-mmio: command-line entry \"%s@%s:%s\" unusable\n", v, at + 1,
			       colon + 1);
			continue;
		}
		l->d[l->n++] = (struct virtio_mmio_desc){
			.base = base, .size = (u32)size, .gsi = (u32)irq, .level = true,
		};
	}
}

void virtio_mmio_discover(const struct boot_info *bi)
{
	memset(&virtio_mmio_dsdt, 0, sizeof(virtio_mmio_dsdt));
	memset(&virtio_mmio_cmdline, 0, sizeof(virtio_mmio_cmdline));
	discover_dsdt(bi, &virtio_mmio_dsdt);
	discover_cmdline(bi->cmdline, &virtio_mmio_cmdline);
}

/* ---- transport operations ---- */

static u8 mmio_get_status(struct virtio_dev *vd)
{
	return (u8)rd(vd, VIRTIO_MMIO_STATUS);
}

static void mmio_put_status(struct virtio_dev *vd, u8 s)
{
	wr(vd, VIRTIO_MMIO_STATUS, s);
}

static u64 mmio_get_features(struct virtio_dev *vd)
{
	wr(vd, VIRTIO_MMIO_DEV_FEATURES_SEL, 0);
	u64 lo = rd(vd, VIRTIO_MMIO_DEV_FEATURES);
	wr(vd, VIRTIO_MMIO_DEV_FEATURES_SEL, 1);
	u64 hi = rd(vd, VIRTIO_MMIO_DEV_FEATURES);
	return hi << 32 | lo;
}

static void mmio_set_features(struct virtio_dev *vd, u64 features)
{
	wr(vd, VIRTIO_MMIO_DRV_FEATURES_SEL, 0);
	wr(vd, VIRTIO_MMIO_DRV_FEATURES, (u32)features);
	wr(vd, VIRTIO_MMIO_DRV_FEATURES_SEL, 1);
	wr(vd, VIRTIO_MMIO_DRV_FEATURES, (u32)(features >> 32));
}

static u16 mmio_queue_max(struct virtio_dev *vd, u16 q, bool *enabled)
{
	wr(vd, VIRTIO_MMIO_QUEUE_SEL, q);
	*enabled = rd(vd, VIRTIO_MMIO_QUEUE_READY) != 0;
	u32 max = rd(vd, VIRTIO_MMIO_QUEUE_NUM_MAX);
	return max > 0xffff ? 0xffff : (u16)max;
}

/* No register says how many: the queues whose QueueNumMax is not 0. */
static u16 mmio_num_queues(struct virtio_dev *vd)
{
	u16 n = 0;
	bool enabled;
	while (n < 0x100 && mmio_queue_max(vd, n, &enabled))
		n++;
	return n;
}

static int mmio_queue_config(struct virtio_dev *vd, struct virtq *vq, u16 size, u64 desc,
			     u64 avail, u64 used)
{
	wr(vd, VIRTIO_MMIO_QUEUE_SEL, vq->index);
	wr(vd, VIRTIO_MMIO_QUEUE_NUM, size);
	wr64(vd, VIRTIO_MMIO_QUEUE_DESC, desc);
	wr64(vd, VIRTIO_MMIO_QUEUE_AVAIL, avail);
	wr64(vd, VIRTIO_MMIO_QUEUE_USED, used);
	vq->msix_entry = VIRTIO_MSI_NO_VECTOR;
	vq->notify = vd->base + VIRTIO_MMIO_QUEUE_NOTIFY;
	return 0;
}

static u32 mmio_queue_enable(struct virtio_dev *vd, u16 q)
{
	wr(vd, VIRTIO_MMIO_QUEUE_SEL, q);
	wr(vd, VIRTIO_MMIO_QUEUE_READY, 1);
	return rd(vd, VIRTIO_MMIO_QUEUE_READY);
}

static void mmio_notify(struct virtq *vq, u32 value)
{
	mmio_write32(vq->vd->base + VIRTIO_MMIO_QUEUE_NOTIFY, value);
}

static u32 mmio_config_gen(struct virtio_dev *vd)
{
	return rd(vd, VIRTIO_MMIO_CONFIG_GEN);
}

static int mmio_setup_irq(struct virtio_dev *vd, enum virtio_irq_mode mode)
{
	if (mode == VIRTIO_IRQ_MSIX) {
		printf("virtio %s: virtio-mmio has no MSI-X\n", vd->where);
		return VIRTIO_ERR_VECTOR;
	}
	if (mode == VIRTIO_IRQ_INTX)
		return virtio_route_line(vd, vd->irq_line);
	if (vd->irq_line < ioapic_max_pins())
		ioapic_mask(vd->irq_line, true);
	return 0;
}

static u8 mmio_ack_isr(struct virtio_dev *vd)
{
	/* 4.2.2: InterruptStatus, then InterruptACK with the bits handled;
	 * the line goes down once none is left. */
	u32 isr = rd(vd, VIRTIO_MMIO_INT_STATUS);
	if (isr)
		wr(vd, VIRTIO_MMIO_INT_ACK, isr);
	return (u8)isr;
}

static const struct virtio_transport_ops virtio_mmio_ops = {
	.name = "mmio",
	.get_status = mmio_get_status,
	.put_status = mmio_put_status,
	.get_features = mmio_get_features,
	.set_features = mmio_set_features,
	.num_queues = mmio_num_queues,
	.queue_max = mmio_queue_max,
	.queue_config = mmio_queue_config,
	.queue_enable = mmio_queue_enable,
	.notify = mmio_notify,
	.config_gen = mmio_config_gen,
	.setup_irq = mmio_setup_irq,
	.ack_isr = mmio_ack_isr,
};

int virtio_mmio_probe(struct virtio_dev *vd, const struct virtio_mmio_desc *d)
{
	memset(vd, 0, sizeof(*vd));
	vd->ops = &virtio_mmio_ops;
	vd->base = d->base;
	vd->irq_line = d->gsi;
	snprintf(vd->where, sizeof(vd->where), "mmio 0x%lx GSI %u", d->base, d->gsi);
	if (d->size < VIRTIO_MMIO_CONFIG || d->base >= 0xfee00000UL ||
	    (d->base & 0xfff)) {
		printf("virtio %s: window of 0x%x bytes unusable\n", vd->where, d->size);
		return VIRTIO_ERR_CAPS;
	}
	u32 magic = rd(vd, VIRTIO_MMIO_MAGIC), version = rd(vd, VIRTIO_MMIO_VERSION);
	if (magic != VIRTIO_MMIO_MAGIC_VALUE || version != 2) {
		printf("virtio %s: magic 0x%x version %u (want 0x%x, 2)\n", vd->where, magic,
		       version, VIRTIO_MMIO_MAGIC_VALUE);
		return VIRTIO_ERR_CAPS;
	}
	u32 id = rd(vd, VIRTIO_MMIO_DEVICE_ID);
	if (id == 0)
		return 1; /* 4.2.3.1.1: a placeholder, no device */
	vd->type = (u16)id;
	vd->device = d->base + VIRTIO_MMIO_CONFIG;
	vd->device_len = d->size - VIRTIO_MMIO_CONFIG;
	vd->num_queues = mmio_num_queues(vd);
	return 0;
}

int virtio_mmio_find(u16 type, int *nth, struct virtio_dev *vd)
{
	/* The DSDT's list; the command line's where there is no DSDT entry. */
	const struct virtio_mmio_list *l =
		virtio_mmio_dsdt.n ? &virtio_mmio_dsdt : &virtio_mmio_cmdline;
	for (u32 i = 0; i < l->n; i++) {
		int r = virtio_mmio_probe(vd, &l->d[i]);
		if (r < 0)
			return r;
		if (r > 0 || vd->type != type)
			continue;
		if ((*nth)-- == 0)
			return 0;
	}
	return 1;
}
