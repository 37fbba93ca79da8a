/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueue, device side. Written from the virtio 1.x specification
 * ("Split Virtqueues", "Virtqueue Notification Suppression", "Indirect
 * Descriptors"). See queue.h for the contract.
 */
#include "virtio/queue.h"
#include "virtio/guest_dma.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

/* A descriptor copied out of guest memory, in host byte order. */
struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* Walk state shared by the direct and indirect parts of a chain. */
struct walk {
	bool seen_write;
	uint64_t total;
};

static const char *vq_name(const struct virtqueue *vq)
{
	return vq->name ? vq->name : "?";
}

/*
 * Logs (rate-limited), marks the queue broken and evaluates to -EIO. The
 * one line for it: the device's virtio_dev_error() only sets NEEDS_RESET.
 */
#define VQ_FAIL(vq, fmt, ...)                                                 \
	(log_ratelimited(&(vq)->rl, LOG_WARN,                                 \
			 "virtqueue %s: " fmt "; queue broken, device needs reset", \
			 vq_name(vq), ##__VA_ARGS__),                         \
	 (vq)->broken = true, -EIO)

/*
 * Reads a descriptor exactly once: the copy into a local and the compiler
 * barrier after it keep the compiler from going back to guest memory (which
 * the guest may change under us) for any field. memcpy also copes with
 * indirect tables at unaligned addresses.
 */
static void read_desc(const void *src, struct desc *d)
{
	struct vring_desc raw;
	guest_dma_begin();
	memcpy(&raw, src, sizeof(raw));
	guest_dma_end();
	__asm__ __volatile__("" ::: "memory");
	d->addr = le64toh(raw.addr);
	d->len = le32toh(raw.len);
	d->flags = le16toh(raw.flags);
	d->next = le16toh(raw.next);
}

static bool is_aligned(uint64_t v, uint64_t align)
{
	return (v & (align - 1)) == 0;
}

/* Host pointer for a whole ring: same region, aligned on both sides. */
static void *map_ring(const struct guest_mem *mem, uint64_t gpa, uint64_t len,
		      uint64_t align)
{
	if (!is_aligned(gpa, align) || gpa + len < gpa)
		return NULL;
	void *p = guest_mem_ptr(mem, gpa, len);
	if (!p || !is_aligned((uintptr_t)p, align))
		return NULL;
	return p;
}

int vq_init(struct virtqueue *vq, const struct guest_mem *mem, uint16_t size,
	    uint64_t desc, uint64_t avail, uint64_t used, bool event_idx)
{
	/* Keep the name and rate limiter the device may have set up. */
	const char *name = vq->name;
	struct ratelimit rl = vq->rl;

	memset(vq, 0, sizeof(*vq));
	vq->name = name;
	vq->rl = rl;

	if (!mem || size == 0 || (size & (size - 1)) != 0 || size > VQ_MAX_SIZE)
		return -EINVAL;

	uint64_t n = size;
	void *d = map_ring(mem, desc, 16 * n, VRING_DESC_ALIGN_SIZE);
	void *a = map_ring(mem, avail, 6 + 2 * n, VRING_AVAIL_ALIGN_SIZE);
	void *u = map_ring(mem, used, 6 + 8 * n, VRING_USED_ALIGN_SIZE);
	if (!d || !a || !u)
		return -EINVAL;

	vq->mem = mem;
	vq->ring.num = size;
	vq->ring.desc = d;
	vq->ring.avail = a;
	vq->ring.used = u;
	vq->desc_gpa = desc;
	vq->avail_gpa = avail;
	vq->used_gpa = used;
	vq->size = size;
	vq->event_idx = event_idx;

	__atomic_store_n(&vq->ring.used->flags, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&vq->ring.used->idx, 0, __ATOMIC_RELEASE);
	vq->ready = true;
	return 0;
}

void vq_reset(struct virtqueue *vq)
{
	const char *name = vq->name;
	struct ratelimit rl = vq->rl;

	memset(vq, 0, sizeof(*vq));
	vq->name = name;
	vq->rl = rl;
}

static uint16_t load_avail_idx(const struct virtqueue *vq)
{
	/* Acquire: ring entries and descriptors are read after the index. */
	return le16toh(__atomic_load_n(&vq->ring.avail->idx, __ATOMIC_ACQUIRE));
}

bool vq_has_available(struct virtqueue *vq)
{
	if (!vq->ready || vq->broken)
		return false;
	return load_avail_idx(vq) != vq->last_avail_idx;
}

/* Adds one (direct or indirect-table) buffer descriptor to the chain. */
static int add_buffer(struct virtqueue *vq, struct vq_chain *chain,
		      struct walk *w, const struct desc *d)
{
	bool writable = d->flags & VRING_DESC_F_WRITE;

	if (writable) {
		w->seen_write = true;
	} else if (w->seen_write) {
		return VQ_FAIL(vq, "head %u: readable descriptor after a writable one",
			       chain->head);
	}
	if (d->len == 0)
		return 0;
	w->total += d->len;
	if (w->total > VQ_MAX_CHAIN_BYTES)
		return VQ_FAIL(vq, "head %u: chain longer than 4 GiB", chain->head);
	if (chain->nseg == VQ_MAX_SEGS)
		return VQ_FAIL(vq, "head %u: more than %u buffers", chain->head,
			       VQ_MAX_SEGS);
	if (d->addr + d->len - 1 < d->addr)
		return VQ_FAIL(vq, "head %u: buffer 0x%llx+0x%x wraps", chain->head,
			       (unsigned long long)d->addr, d->len);
	uint8_t *p = guest_mem_ptr(vq->mem, d->addr, d->len);
	if (!p)
		return VQ_FAIL(vq, "head %u: buffer 0x%llx+0x%x outside guest memory",
			       chain->head, (unsigned long long)d->addr, d->len);

	struct vq_seg *s = &chain->segs[chain->nseg++];
	s->addr = p;
	s->gpa = d->addr;
	s->len = d->len;
	s->writable = writable;
	if (writable) {
		chain->write_len += d->len;
	} else {
		chain->read_len += d->len;
		chain->nread++;
	}
	return 0;
}

/* Walks the indirect table `ind` points to (the last descriptor of a chain). */
static int walk_indirect(struct virtqueue *vq, struct vq_chain *chain,
			 struct walk *w, const struct desc *ind)
{
	if (ind->flags & VRING_DESC_F_NEXT)
		return VQ_FAIL(vq, "head %u: indirect descriptor with NEXT",
			       chain->head);
	if (ind->len == 0 || ind->len % sizeof(struct vring_desc) != 0)
		return VQ_FAIL(vq, "head %u: indirect table length %u",
			       chain->head, ind->len);
	const uint8_t *table = guest_mem_ptr(vq->mem, ind->addr, ind->len);
	if (!table)
		return VQ_FAIL(vq, "head %u: indirect table 0x%llx+0x%x outside guest memory",
			       chain->head, (unsigned long long)ind->addr,
			       ind->len);

	uint32_t n = ind->len / sizeof(struct vring_desc);
	uint32_t idx = 0;
	for (uint32_t steps = 1;; steps++) {
		/* Bounded by the table (loops) and by VQ_MAX_SEGS (work). */
		if (steps > n)
			return VQ_FAIL(vq, "head %u: indirect chain longer than its table (loop?)",
				       chain->head);
		if (steps > VQ_MAX_SEGS)
			return VQ_FAIL(vq, "head %u: indirect chain longer than %u",
				       chain->head, VQ_MAX_SEGS);
		struct desc d;
		read_desc(table + (size_t)idx * sizeof(struct vring_desc), &d);
		if (d.flags & VRING_DESC_F_INDIRECT)
			return VQ_FAIL(vq, "head %u: nested indirect descriptor",
				       chain->head);
		int r = add_buffer(vq, chain, w, &d);
		if (r)
			return r;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= n)
			return VQ_FAIL(vq, "head %u: indirect next %u out of range %u",
				       chain->head, d.next, n);
		idx = d.next;
	}
}

int vq_pop(struct virtqueue *vq, struct vq_chain *chain)
{
	if (!vq->ready)
		return -ENOENT;
	if (vq->broken)
		return -EIO;

	uint16_t avail_idx = load_avail_idx(vq);
	uint16_t pending = (uint16_t)(avail_idx - vq->last_avail_idx);
	if (pending == 0)
		return -ENOENT;
	if (pending > vq->size)
		return VQ_FAIL(vq, "avail idx %u moved %u past %u (size %u)",
			       avail_idx, pending, vq->last_avail_idx, vq->size);

	uint16_t slot = vq->last_avail_idx & (vq->size - 1);
	uint16_t head = le16toh(__atomic_load_n(&vq->ring.avail->ring[slot],
						__ATOMIC_RELAXED));
	chain->head = head;
	chain->nseg = 0;
	chain->nread = 0;
	chain->read_len = 0;
	chain->write_len = 0;
	if (head >= vq->size)
		return VQ_FAIL(vq, "head %u out of range %u", head, vq->size);

	struct walk w = { 0 };
	uint16_t idx = head;
	for (uint32_t steps = 1;; steps++) {
		if (steps > vq->size)
			return VQ_FAIL(vq, "head %u: chain longer than the queue (loop?)",
				       head);
		struct desc d;
		read_desc(&vq->ring.desc[idx], &d);
		int r;
		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* Forbidden to have NEXT, so it ends the chain. */
			r = walk_indirect(vq, chain, &w, &d);
			if (r)
				return r;
			break;
		}
		r = add_buffer(vq, chain, &w, &d);
		if (r)
			return r;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= vq->size)
			return VQ_FAIL(vq, "head %u: next %u out of range %u", head,
				       d.next, vq->size);
		idx = d.next;
	}

	vq->last_avail_idx++;
	return 0;
}

void vq_unpop(struct virtqueue *vq, uint16_t n)
{
	vq->last_avail_idx -= n;
}

size_t vq_chain_read(const struct vq_chain *chain, size_t offset, void *dst,
		     size_t len)
{
	uint8_t *out = dst;
	size_t done = 0;

	for (unsigned i = 0; i < chain->nread && done < len; i++) {
		const struct vq_seg *s = &chain->segs[i];
		if (offset >= s->len) {
			offset -= s->len;
			continue;
		}
		size_t n = s->len - offset;
		if (n > len - done)
			n = len - done;
		guest_dma_begin();
		memcpy(out + done, s->addr + offset, n);
		guest_dma_end();
		done += n;
		offset = 0;
	}
	return done;
}

size_t vq_chain_write(const struct vq_chain *chain, size_t offset,
		      const void *src, size_t len)
{
	const uint8_t *in = src;
	size_t done = 0;

	for (unsigned i = chain->nread; i < chain->nseg && done < len; i++) {
		const struct vq_seg *s = &chain->segs[i];
		if (offset >= s->len) {
			offset -= s->len;
			continue;
		}
		size_t n = s->len - offset;
		if (n > len - done)
			n = len - done;
		guest_dma_begin();
		memcpy(s->addr + offset, in + done, n);
		guest_dma_end();
		done += n;
		offset = 0;
	}
	return done;
}

int vq_push_used(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	if (!vq->ready || head >= vq->size)
		return -EINVAL;

	vring_used_elem_t *e = &vq->ring.used->ring[vq->used_idx & (vq->size - 1)];
	__atomic_store_n(&e->id, htole32(head), __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, htole32(written), __ATOMIC_RELAXED);
	vq->used_idx++;
	/* Release: the element and the buffer contents before the index. */
	__atomic_store_n(&vq->ring.used->idx, htole16(vq->used_idx),
			 __ATOMIC_RELEASE);
	vq->pushed_since_signal++;
	return 0;
}

bool vq_needs_notify(struct virtqueue *vq)
{
	/*
	 * Full fence: the used->idx store must be visible before we read the
	 * driver's suppression fields, or we could miss an interrupt the
	 * driver is about to ask for (store→load ordering).
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);

	uint16_t old = vq->signalled_used;
	uint16_t new = vq->used_idx;
	uint32_t pushed = vq->pushed_since_signal;
	vq->signalled_used = new;
	vq->pushed_since_signal = 0;

	if (!vq->ready || pushed == 0)
		return false;
	if (!vq->event_idx) {
		uint16_t flags = le16toh(__atomic_load_n(&vq->ring.avail->flags,
							 __ATOMIC_RELAXED));
		return !(flags & VRING_AVAIL_F_NO_INTERRUPT);
	}
	/* A whole lap of the 16-bit index since the last decision. */
	if (pushed > UINT16_MAX)
		return true;
	uint16_t event = le16toh(__atomic_load_n(&vring_used_event(&vq->ring),
						 __ATOMIC_RELAXED));
	return vring_need_event(event, new, old);
}

static void store_used_flags(struct virtqueue *vq)
{
	__atomic_store_n(&vq->ring.used->flags, htole16(vq->used_flags),
			 __ATOMIC_RELAXED);
}

void vq_set_avail_event(struct virtqueue *vq)
{
	if (!vq->ready || !vq->event_idx)
		return;
	__atomic_store_n(&vring_avail_event(&vq->ring),
			 htole16(vq->last_avail_idx), __ATOMIC_RELAXED);
}

void vq_disable_notify(struct virtqueue *vq)
{
	if (!vq->ready || vq->event_idx)
		return;
	if (!(vq->used_flags & VRING_USED_F_NO_NOTIFY)) {
		vq->used_flags |= VRING_USED_F_NO_NOTIFY;
		store_used_flags(vq);
	}
}

bool vq_enable_notify(struct virtqueue *vq)
{
	if (!vq->ready)
		return false;
	if (vq->event_idx) {
		vq_set_avail_event(vq);
	} else if (vq->used_flags & VRING_USED_F_NO_NOTIFY) {
		vq->used_flags &= (uint16_t)~VRING_USED_F_NO_NOTIFY;
		store_used_flags(vq);
	}
	/* Our store before the driver's avail->idx load (store→load). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vq_has_available(vq);
}
