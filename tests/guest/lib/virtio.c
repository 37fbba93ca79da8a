/* SPDX-License-Identifier: MIT */
/*
 * Guest-side virtio driver, the transport-independent part: device
 * initialization, split virtqueues, interrupt bookkeeping; see virtio.h.
 * The transports (virtio_pci.c, virtio_mmio.c) map registers onto it.
 * Written from the virtio 1.x specification.
 */
#include "virtio.h"

#define STATUS_WAIT_MS 1000

/* ---- DMA pool ---- */

#define POOL_SIZE (96 * 1024)
/* Not in .bss: head.S would clear it at every boot of every test image
 * (slow under instruction emulation); virtio_alloc() clears what it gives. */
static u8 pool[POOL_SIZE] __aligned(4096) __attribute__((section(".dmapool")));
static size_t pool_used;

void *virtio_alloc(size_t size, size_t align)
{
	size_t off = ALIGN_UP(pool_used, align ? align : 8);
	if (off > POOL_SIZE || size > POOL_SIZE - off)
		return NULL;
	pool_used = off + size;
	memset(pool + off, 0, size);
	return pool + off;
}

const char *virtio_strerror(int err)
{
	switch (err) {
	case 0: return "ok";
	case VIRTIO_ERR_TIMEOUT: return "timed out";
	case VIRTIO_ERR_NO_IRQ: return "used buffer without an interrupt";
	case VIRTIO_ERR_NEEDS_RESET: return "device needs reset";
	case VIRTIO_ERR_FEATURES: return "feature negotiation failed";
	case VIRTIO_ERR_QUEUE: return "queue unavailable";
	case VIRTIO_ERR_VECTOR: return "MSI-X vector refused";
	case VIRTIO_ERR_NOSPACE: return "no free descriptors";
	case VIRTIO_ERR_CAPS: return "bad virtio capabilities";
	case VIRTIO_ERR_RESET: return "reset did not complete";
	default: return "?";
	}
}

/* ---- interrupts ---- */

/* IDT vectors handed to MSI-X messages: 0x40..0xdf (below the LAPIC timer). */
#define VEC_FIRST 0x40
#define VEC_LAST 0xdf

struct vec_owner {
	struct virtio_dev *vd;
	int q; /* -1: configuration vector */
};
static struct vec_owner vec_owner[256];
static u8 next_vector = VEC_FIRST;

/* INTx: devices sharing each IOAPIC pin (cvmm gives one per slot). */
#define INTX_PINS 24
#define INTX_PER_PIN 4
static struct virtio_dev *intx_devs[INTX_PINS][INTX_PER_PIN];

static void queue_irq(struct virtq *vq)
{
	if (!vq->size)
		return;
	/* The device published used->idx before interrupting. */
	vq->irq_used = READ_ONCE(vq->used->idx);
	vq->irqs++;
}

static void msix_handler(struct trap_frame *tf)
{
	struct vec_owner *o = &vec_owner[tf->vector & 0xff];
	if (!o->vd)
		return;
	if (o->q < 0)
		o->vd->config_irqs++;
	else
		queue_irq(&o->vd->vq[o->q]);
}

static void intx_handler(struct trap_frame *tf)
{
	u32 pin = (u32)(tf->vector - VEC_IRQ_BASE);
	if (pin >= INTX_PINS)
		return;
	for (int i = 0; i < INTX_PER_PIN; i++) {
		struct virtio_dev *vd = intx_devs[pin][i];
		if (!vd || vd->irq_mode != VIRTIO_IRQ_INTX)
			continue;
		u8 isr = vd->ops->ack_isr(vd); /* deasserts the line */
		if (!isr) {
			vd->intx_spurious++;
			continue;
		}
		vd->isr_seen |= isr;
		vd->intx_irqs++;
		if (isr & VIRTIO_ISR_QUEUE)
			for (int q = 0; q < VIRTIO_MAX_QUEUES; q++)
				queue_irq(&vd->vq[q]);
		if (isr & VIRTIO_ISR_CONFIG)
			vd->config_irqs++;
	}
}

u8 virtio_alloc_vector(struct virtio_dev *vd, int q)
{
	/* Reuse the vector this (device, queue) already has. */
	for (int v = VEC_FIRST; v < next_vector; v++)
		if (vec_owner[v].vd == vd && vec_owner[v].q == q)
			return (u8)v;
	if (next_vector > VEC_LAST)
		fail(60, "virtio: out of interrupt vectors");
	u8 v = next_vector++;
	vec_owner[v] = (struct vec_owner){ .vd = vd, .q = q };
	set_irq_handler(v, msix_handler);
	return v;
}

static void intx_register(struct virtio_dev *vd, u8 pin)
{
	for (int i = 0; i < INTX_PER_PIN; i++) {
		if (intx_devs[pin][i] == vd)
			return;
	}
	for (int i = 0; i < INTX_PER_PIN; i++) {
		if (!intx_devs[pin][i]) {
			intx_devs[pin][i] = vd;
			return;
		}
	}
	fail(61, "virtio: too many devices on IOAPIC pin %u", pin);
}

int virtio_route_line(struct virtio_dev *vd, u32 gsi)
{
	if (gsi >= INTX_PINS || gsi >= ioapic_max_pins()) {
		printf("virtio %s: interrupt line %u beyond the IOAPIC's pins\n", vd->where, gsi);
		return VIRTIO_ERR_VECTOR;
	}
	intx_register(vd, (u8)gsi);
	set_irq_handler((u8)(VEC_IRQ_BASE + gsi), intx_handler);
	/* Level-triggered; active high as KVM's IOAPIC sees it. */
	ioapic_route(gsi, (u8)(VEC_IRQ_BASE + gsi), lapic_id(), true);
	return 0;
}

static const char *transport_only;

void virtio_platform_init(const struct boot_info *bi)
{
	static char want[8];
	pic_disable();
	lapic_init();
	ioapic_init();
	pci_init(bi);
	virtio_mmio_discover(bi);
	if (cmdline_get(bi->cmdline, "transport", want, sizeof(want)))
		transport_only = want;
	sti();
}

enum virtio_irq_mode virtio_irq_mode_arg(const struct boot_info *bi)
{
	char arg[8];
	if (!cmdline_get(bi->cmdline, "irq", arg, sizeof(arg)))
		return VIRTIO_IRQ_MSIX;
	if (!strcmp(arg, "intx"))
		return VIRTIO_IRQ_INTX;
	if (!strcmp(arg, "none"))
		return VIRTIO_IRQ_NONE;
	return VIRTIO_IRQ_MSIX;
}

int virtio_find(enum pci_mech m, u16 type, int nth, struct virtio_dev *vd)
{
	int r = 1;
	if (!transport_only || !strcmp(transport_only, "pci")) {
		r = virtio_pci_find(m, type, &nth, vd);
		if (r <= 0)
			return r;
	}
	if (!transport_only || !strcmp(transport_only, "mmio"))
		r = virtio_mmio_find(type, &nth, vd);
	return r;
}

/* ---- device status, features ---- */

u8 virtio_status(struct virtio_dev *vd)
{
	return vd->ops->get_status(vd);
}

void virtio_set_status(struct virtio_dev *vd, u8 bits)
{
	vd->ops->put_status(vd, virtio_status(vd) | bits);
}

u64 virtio_device_features(struct virtio_dev *vd)
{
	return vd->ops->get_features(vd);
}

int virtio_wait_status(struct virtio_dev *vd, u8 mask, u64 ms)
{
	u64 end = rdtsc() + ms_to_tsc(ms);
	for (;;) {
		u8 s = virtio_status(vd);
		if (s & mask)
			return s;
		if (rdtsc() >= end)
			return -1;
		cpu_relax();
	}
}

int virtio_reset(struct virtio_dev *vd)
{
	vd->ops->put_status(vd, 0);
	/* 4.1.4.3.2, 4.2.3.1: the reset is complete when the status reads 0. */
	u64 end = rdtsc() + ms_to_tsc(STATUS_WAIT_MS);
	while (virtio_status(vd) != 0) {
		if (rdtsc() >= end)
			return VIRTIO_ERR_RESET;
		cpu_relax();
	}
	for (int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vd->vq[q].size = 0;
	return 0;
}

/* ---- initialization (3.1.1) ---- */

u8 virtio_write_features(struct virtio_dev *vd, u64 features)
{
	vd->ops->set_features(vd, features);
	virtio_set_status(vd, VIRTIO_S_FEATURES_OK);
	return virtio_status(vd);
}

int virtio_start(struct virtio_dev *vd, u64 wanted, enum virtio_irq_mode mode)
{
	int r = virtio_reset(vd);
	if (r)
		return r;
	virtio_set_status(vd, VIRTIO_S_ACKNOWLEDGE);
	virtio_set_status(vd, VIRTIO_S_DRIVER);
	vd->dev_features = virtio_device_features(vd);
	if (!(vd->dev_features & BIT_ULL(VIRTIO_F_VERSION_1))) {
		printf("virtio %s: VERSION_1 not offered (features 0x%lx)\n", vd->where,
		       vd->dev_features);
		virtio_set_status(vd, VIRTIO_S_FAILED);
		return VIRTIO_ERR_FEATURES;
	}
	/*
	 * A device behind an IOMMU (a passed-through QEMU virtio device,
	 * iommu_platform=on) offers ACCESS_PLATFORM and may refuse a driver
	 * that does not take it. The kit's addresses are guest-physical and
	 * the guest has no IOMMU of its own, so taking it changes nothing.
	 */
	vd->features = (wanted | BIT_ULL(VIRTIO_F_VERSION_1) |
			BIT_ULL(VIRTIO_F_ACCESS_PLATFORM)) & vd->dev_features;
	u8 s = virtio_write_features(vd, vd->features);
	if (!(s & VIRTIO_S_FEATURES_OK)) {
		printf("virtio %s: FEATURES_OK not kept (status 0x%x, features 0x%lx)\n",
		       vd->where, s, vd->features);
		virtio_set_status(vd, VIRTIO_S_FAILED);
		return VIRTIO_ERR_FEATURES;
	}
	vd->num_queues = vd->ops->num_queues(vd);
	vd->irq_mode = mode;
	return vd->ops->setup_irq(vd, mode);
}

int virtq_setup(struct virtio_dev *vd, u16 q, u16 size)
{
	struct virtq *vq = &vd->vq[q];
	if (q >= VIRTIO_MAX_QUEUES || q >= vd->num_queues)
		return VIRTIO_ERR_QUEUE;
	bool enabled;
	u16 max = vd->ops->queue_max(vd, q, &enabled);
	if (max == 0 || enabled)
		return VIRTIO_ERR_QUEUE;
	if (size > max)
		size = max;
	if (size > VIRTQ_MAX_SIZE)
		size = VIRTQ_MAX_SIZE;
	if (!size || (size & (size - 1)))
		return VIRTIO_ERR_QUEUE;

	/* desc (16-aligned), avail (2), used (4): one allocation. */
	u64 avail_off = 16ULL * size;
	u64 used_off = ALIGN_UP(avail_off + 6 + 2ULL * size, 4);
	u64 total = used_off + 6 + 8ULL * size;
	if (!vq->desc || vq->alloc_size < size) {
		u8 *mem = virtio_alloc(ALIGN_UP(total, 4096), 4096);
		if (!mem)
			fail(62, "virtio: DMA pool exhausted");
		vq->alloc_size = size;
		vq->desc = (struct vring_desc *)mem;
	}
	u8 *base = (u8 *)vq->desc;
	memset(base, 0, total);
	vq->avail = (struct vring_avail *)(base + avail_off);
	vq->used = (struct vring_used *)(base + used_off);
	vq->desc_pa = (u64)vq->desc;
	vq->avail_pa = (u64)vq->avail;
	vq->used_pa = (u64)vq->used;
	vq->vd = vd;
	vq->index = q;
	vq->size = size;
	virtq_rebuild_free(vq);
	vq->size = 0;
	vq->last_used = 0;
	vq->kicked = 0;
	vq->poll = false;
	vq->irqs = 0;
	vq->irq_used = 0;

	int r = vd->ops->queue_config(vd, vq, size, vq->desc_pa, vq->avail_pa, vq->used_pa);
	if (r)
		return r;
	if (vd->ops->queue_enable(vd, q) != 1) {
		u8 s = virtio_status(vd);
		return s & VIRTIO_S_NEEDS_RESET ? VIRTIO_ERR_NEEDS_RESET : VIRTIO_ERR_QUEUE;
	}
	vq->size = size;
	if (vd->features & BIT_ULL(VIRTIO_F_EVENT_IDX))
		vq->avail->ring[size] = 0; /* used_event: interrupt for entry 0 */
	return 0;
}

int virtio_driver_ok(struct virtio_dev *vd)
{
	virtio_set_status(vd, VIRTIO_S_DRIVER_OK);
	u8 s = virtio_status(vd);
	if (s & VIRTIO_S_NEEDS_RESET)
		return VIRTIO_ERR_NEEDS_RESET;
	if (!(s & VIRTIO_S_DRIVER_OK))
		return VIRTIO_ERR_FEATURES;
	return 0;
}

int virtio_init(struct virtio_dev *vd, u64 wanted, enum virtio_irq_mode mode, u16 nq,
		u16 qsize)
{
	int r = virtio_start(vd, wanted, mode);
	for (u16 q = 0; !r && q < nq; q++)
		r = virtq_setup(vd, q, qsize);
	if (!r)
		r = virtio_driver_ok(vd);
	if (r)
		printf("virtio %s (type %u): init failed: %s (status 0x%x)\n", vd->where,
		       vd->type, virtio_strerror(r), virtio_status(vd));
	return r;
}

/* One field with its own width (4.1.3.1, 4.2.2.2: 8/16/32-bit fields by
 * 8/16/32-bit aligned accesses, 64-bit ones as two 32-bit accesses);
 * anything else (byte arrays such as a MAC) byte by byte. */
static void read_field(struct virtio_dev *vd, u32 off, u8 *out, u32 len)
{
	u64 a = vd->device + off;
	if (off + len > vd->device_len) {
		memset(out, 0, len);
		return;
	}
	if (len == 2 && !(off & 1)) {
		u16 v = mmio_read16(a);
		memcpy(out, &v, 2);
	} else if ((len == 4 || len == 8) && !(off & 3)) {
		for (u32 i = 0; i < len; i += 4) {
			u32 v = mmio_read32(a + i);
			memcpy(out + i, &v, 4);
		}
	} else {
		for (u32 i = 0; i < len; i++)
			out[i] = mmio_read8(a + i);
	}
}

void virtio_read_config(struct virtio_dev *vd, u32 off, void *buf, u32 len)
{
	/* 4.1.4.3.1: retry while config_generation changes under us. */
	for (int tries = 0; tries < 16; tries++) {
		u32 gen = vd->ops->config_gen(vd);
		read_field(vd, off, buf, len);
		if (vd->ops->config_gen(vd) == gen)
			return;
	}
}

/* ---- split virtqueue, driver side (2.7) ---- */

static bool event_idx(const struct virtq *vq)
{
	return vq->vd->features & BIT_ULL(VIRTIO_F_EVENT_IDX);
}

static volatile u16 *used_event(struct virtq *vq)
{
	return &vq->avail->ring[vq->size];
}

static volatile u16 *avail_event(struct virtq *vq)
{
	return (volatile u16 *)&vq->used->ring[vq->size];
}

/* The spec's vring_need_event(): whether new_idx passed event since old. */
static bool need_event(u16 event, u16 new_idx, u16 old_idx)
{
	return (u16)(new_idx - event - 1) < (u16)(new_idx - old_idx);
}

void virtq_rebuild_free(struct virtq *vq)
{
	vq->free_head = 0;
	vq->num_free = vq->size;
	for (u16 i = 0; i < vq->size; i++) {
		vq->desc[i].next = (u16)(i + 1 < vq->size ? i + 1 : 0);
		vq->chain_len[i] = 0;
		vq->token[i] = NULL;
	}
}

void virtq_publish(struct virtq *vq, u16 head)
{
	u16 idx = READ_ONCE(vq->avail->idx);
	WRITE_ONCE(vq->avail->ring[idx & (vq->size - 1)], head);
	barrier(); /* x86: stores are not reordered with older stores */
	WRITE_ONCE(vq->avail->idx, (u16)(idx + 1));
}

int virtq_add(struct virtq *vq, const struct vbuf *bufs, u32 n, void *token)
{
	if (!n || n > vq->num_free)
		return VIRTIO_ERR_NOSPACE;
	u16 head = vq->free_head, i = head, last = head;
	for (u32 k = 0; k < n; k++) {
		struct vring_desc *d = &vq->desc[i];
		d->addr = (u64)bufs[k].addr;
		d->len = bufs[k].len;
		d->flags = (u16)((bufs[k].write ? VRING_DESC_F_WRITE : 0) |
				 (k + 1 < n ? VRING_DESC_F_NEXT : 0));
		last = i;
		i = d->next;
	}
	vq->free_head = vq->desc[last].next;
	vq->num_free = (u16)(vq->num_free - n);
	vq->chain_len[head] = (u16)n;
	vq->token[head] = token;
	virtq_publish(vq, head);
	return head;
}

void virtq_notify(struct virtq *vq)
{
	vq->kicked = READ_ONCE(vq->avail->idx);
	vq->vd->ops->notify(vq, vq->index);
}

void virtq_notify_value(struct virtq *vq, u32 value)
{
	vq->vd->ops->notify(vq, value);
}

u32 virtq_setup_raw(struct virtio_dev *vd, u16 q, u16 size, u64 desc, u64 avail, u64 used)
{
	bool enabled;
	vd->ops->queue_max(vd, q, &enabled);
	vd->ops->queue_config(vd, &vd->vq[q], size, desc, avail, used);
	return vd->ops->queue_enable(vd, q);
}

void virtq_kick(struct virtq *vq)
{
	/* The avail->idx store before reading the device's suppression. */
	mb();
	u16 old = vq->kicked, new = READ_ONCE(vq->avail->idx);
	bool kick;
	if (event_idx(vq))
		kick = need_event(READ_ONCE(*avail_event(vq)), new, old);
	else
		kick = !(READ_ONCE(vq->used->flags) & VRING_USED_F_NO_NOTIFY);
	vq->kicked = new;
	if (kick)
		vq->vd->ops->notify(vq, vq->index);
}

void virtq_set_poll(struct virtq *vq, bool poll)
{
	vq->poll = poll;
	if (event_idx(vq)) {
		/* Half a lap away: never crossed in a test's lifetime. */
		WRITE_ONCE(*used_event(vq), poll ? (u16)(vq->last_used + 0x8000) : vq->last_used);
	} else {
		WRITE_ONCE(vq->avail->flags, poll ? VRING_AVAIL_F_NO_INTERRUPT : 0);
	}
	mb();
}

u16 virtq_pending(struct virtq *vq)
{
	return (u16)(READ_ONCE(vq->used->idx) - vq->last_used);
}

int virtq_get(struct virtq *vq, u32 *len, void **token)
{
	if (!virtq_pending(vq))
		return VIRTIO_ERR_TIMEOUT;
	barrier(); /* the element after the index (x86: loads are ordered) */
	struct vring_used_elem *e = &vq->used->ring[vq->last_used & (vq->size - 1)];
	u32 id = READ_ONCE(e->id);
	u32 l = READ_ONCE(e->len);
	vq->last_used++;
	if (event_idx(vq) && !vq->poll) {
		WRITE_ONCE(*used_event(vq), vq->last_used);
		/*
		 * Entries the device used before it could see the new
		 * used_event get no interrupt of their own (2.7.10): a driver
		 * re-checks the ring after moving used_event, and so do we:
		 * they count as announced by the interrupt being handled.
		 */
		mb();
		if (virtq_pending(vq))
			vq->irq_used = READ_ONCE(vq->used->idx);
	}
	if (len)
		*len = l;
	if (id >= vq->size) {
		printf("virtq %u: used id %u out of range\n", vq->index, id);
		if (token)
			*token = NULL;
		return (int)id;
	}
	if (token)
		*token = vq->token[id];
	/* Back to the free list: the chain's descriptors follow `next`. */
	u16 n = vq->chain_len[id], last = (u16)id;
	for (u16 k = 1; k < n; k++)
		last = vq->desc[last].next;
	if (n) {
		vq->desc[last].next = vq->free_head;
		vq->free_head = (u16)id;
		vq->num_free = (u16)(vq->num_free + n);
		vq->chain_len[id] = 0;
	}
	return (int)id;
}

int virtq_wait(struct virtq *vq, u64 ms, u32 *len, void **token)
{
	struct virtio_dev *vd = vq->vd;
	bool want_irq = !vq->poll && vd->irq_mode != VIRTIO_IRQ_NONE;
	u64 now = rdtsc(), end = now + ms_to_tsc(ms);
	u64 next_check = now + ms_to_tsc(100);
	for (;;) {
		if (virtq_pending(vq)) {
			/* Interrupt mode: only entries an interrupt announced. */
			u16 announced = (u16)(READ_ONCE(vq->irq_used) - vq->last_used);
			if (!want_irq || (announced != 0 && announced <= vq->size))
				return virtq_get(vq, len, token);
		}
		/* A configuration interrupt (maybe from before this call) or
		 * now and then (no interrupt in poll mode): the status. */
		now = rdtsc();
		if (vd->config_irqs != vd->config_checked || now >= next_check) {
			vd->config_checked = vd->config_irqs;
			next_check = now + ms_to_tsc(100);
			if (virtio_status(vd) & VIRTIO_S_NEEDS_RESET)
				return VIRTIO_ERR_NEEDS_RESET;
		}
		if (now >= end)
			break;
		cpu_relax();
	}
	if (virtio_status(vd) & VIRTIO_S_NEEDS_RESET)
		return VIRTIO_ERR_NEEDS_RESET;
	return virtq_pending(vq) ? VIRTIO_ERR_NO_IRQ : VIRTIO_ERR_TIMEOUT;
}

/* ---- virtio-blk ---- */

int virtio_blk_request(struct virtq *vq, u32 type, u64 sector, void *data, u32 len,
		       u32 nsplit, u8 *status, u32 *used_len, u64 ms)
{
	static struct virtio_blk_hdr hdr;
	static volatile u8 st;
	struct vbuf b[8];
	u32 n = 0;
	bool dev_writes = type != VIRTIO_BLK_T_OUT;

	hdr.type = type;
	hdr.reserved = 0;
	hdr.sector = sector;
	st = 0xee;
	b[n++] = (struct vbuf){ &hdr, sizeof(hdr), false };
	if (len) {
		if (nsplit < 1)
			nsplit = 1;
		if (nsplit > 6)
			nsplit = 6;
		u32 chunk = len / nsplit;
		for (u32 k = 0; k < nsplit; k++) {
			u32 l = k + 1 < nsplit ? chunk : len - chunk * (nsplit - 1);
			b[n++] = (struct vbuf){ (u8 *)data + chunk * k, l, dev_writes };
		}
	}
	b[n++] = (struct vbuf){ (const void *)&st, 1, true };
	int head = virtq_add(vq, b, n, &hdr);
	if (head < 0)
		return head;
	virtq_kick(vq);
	u32 l = 0;
	int r = virtq_wait(vq, ms, &l, NULL);
	if (r < 0)
		return r;
	if (r != head) {
		printf("virtio-blk: used id %d, expected head %d\n", r, head);
		return VIRTIO_ERR_QUEUE;
	}
	*status = st;
	if (used_len)
		*used_len = l;
	return 0;
}
