/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueue (virtio 1.x, section "Split Virtqueues"), device side, as a
 * library over struct guest_mem. No KVM dependency: it runs on plain buffers
 * in unit tests and fuzzers.
 *
 * Everything the guest wrote is untrusted. vq_pop() walks descriptor chains
 * with every loop bounded (by the queue size, the indirect table size and
 * VQ_MAX_SEGS), checks every index and translates every buffer through
 * guest_mem_ptr(), so whatever guest memory contains it neither hangs nor
 * touches host memory outside guest RAM. Each descriptor is copied out of
 * guest memory exactly once before use (no double fetch).
 *
 * Threading: one thread owns a queue (pop, push, notification decisions);
 * the guest runs concurrently. Ring accesses use __atomic builtins with the
 * orders the spec's barriers require.
 *
 * Broken queues: when the guest breaks the ring rules, vq_pop() returns -EIO
 * and the queue is marked broken; from then on vq_pop() keeps returning -EIO
 * and vq_has_available() false until vq_init()/vq_reset(). The device should
 * then set DEVICE_NEEDS_RESET (or simply stop processing that queue). This
 * keeps "while (vq_pop() == 0)" loops from spinning on a bad head.
 *
 * Typical device loop:
 *
 *	do {
 *		vq_disable_notify(vq);
 *		while ((r = vq_pop(vq, chain)) == 0) {
 *			... vq_chain_read()/vq_chain_write() ...
 *			vq_push_used(vq, chain->head, written);
 *		}
 *		if (r == -EIO) -> mark device broken, stop
 *	} while (vq_enable_notify(vq));
 *	if (vq_needs_notify(vq)) -> raise the queue's interrupt
 */
#ifndef CVMM_VIRTIO_QUEUE_H
#define CVMM_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

#include "guest_mem.h"
#include "log.h"

/* Largest queue size the spec allows for split rings. */
#define VQ_MAX_SIZE 32768u

/*
 * Most buffers one chain may have, direct and indirect descriptors together
 * (zero-length descriptors not counted). Longer chains are rejected (-EIO).
 */
#define VQ_MAX_SEGS 1024u

/* The spec caps a chain at 2^32 bytes in total; longer ones are rejected. */
#define VQ_MAX_CHAIN_BYTES (1ULL << 32)

/* One guest buffer of a chain, already translated to host memory. */
struct vq_seg {
	uint8_t *addr;   /* host pointer, valid for len bytes */
	uint64_t gpa;    /* guest-physical address (for logging) */
	uint32_t len;    /* never 0 */
	bool writable;   /* device-writable (VRING_DESC_F_WRITE) */
};

/*
 * A popped descriptor chain. The readable (driver→device) segments come
 * first, segs[0 .. nread), then the writable ones, segs[nread .. nseg).
 * About 24 KiB: embed it in device state or allocate it, rather than
 * putting many on a small stack.
 */
struct vq_chain {
	uint16_t head;          /* head descriptor index, for vq_push_used() */
	unsigned nseg;
	unsigned nread;
	uint64_t read_len;      /* total bytes in readable segments */
	uint64_t write_len;     /* total bytes in writable segments */
	struct vq_seg segs[VQ_MAX_SEGS];
};

struct virtqueue {
	const struct guest_mem *mem;
	/* Host views of the three rings (num == queue size). */
	struct vring ring;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t size;
	bool event_idx;         /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool ready;             /* set by vq_init(), cleared by vq_reset() */
	bool broken;            /* guest broke the rules; see above */
	uint16_t last_avail_idx; /* next avail ring entry to consume */
	uint16_t used_idx;      /* shadow of used->idx (we are its only writer) */
	uint16_t signalled_used; /* used_idx at the last vq_needs_notify() */
	uint32_t pushed_since_signal; /* pushes since that decision */
	uint16_t used_flags;    /* shadow of used->flags */
	/* Name used in log messages; the device may set it after vq_init(). */
	const char *name;
	struct ratelimit rl;
};

/*
 * Sets the queue up over the rings at the given guest-physical addresses,
 * as the driver configured them (queue_desc/driver/device). Checks:
 * size a power of two in 1..VQ_MAX_SIZE; desc 16-, avail 2- and used
 * 4-byte aligned; each ring (desc 16*size, avail 6+2*size, used 6+8*size
 * bytes, event fields included whether or not EVENT_IDX was negotiated)
 * wholly inside one guest memory region. Returns 0 or -EINVAL.
 *
 * Indirect descriptors are always accepted (the device is expected to
 * offer VIRTIO_RING_F_INDIRECT_DESC). On success the queue is ready, with
 * all indices 0; used->flags and used->idx are written as 0 (the spec
 * requires the device area to start zeroed after a reset). On failure the
 * queue is left not ready. vq->name and vq->rl survive vq_init()/vq_reset().
 */
int vq_init(struct virtqueue *vq, const struct guest_mem *mem, uint16_t size,
	    uint64_t desc, uint64_t avail, uint64_t used, bool event_idx);

/* Back to the not-ready state (device reset / queue disabled). */
void vq_reset(struct virtqueue *vq);

/*
 * Whether the driver has made a chain available that vq_pop() has not taken
 * yet (false when not ready or broken). Acquire load of avail->idx.
 */
bool vq_has_available(struct virtqueue *vq);

/*
 * Takes the next available chain and fills *chain.
 * Returns 0, -ENOENT when nothing is available (or the queue is not ready),
 * or -EIO when the guest broke the rules (the queue is then broken):
 *  - avail->idx moved more than the queue size past last_avail_idx;
 *  - head or a next index >= the queue size (or the indirect table size);
 *  - a chain longer than the queue size in the descriptor table, or longer
 *    than the indirect table in it (this catches loops), or more than
 *    VQ_MAX_SEGS segments, or more than VQ_MAX_CHAIN_BYTES bytes;
 *  - a buffer [addr, addr+len) not inside one guest memory region (this
 *    includes ranges wrapping past 2^64, and buffers that cross from one
 *    region into an adjacent one: those are rejected too);
 *  - an INDIRECT descriptor with NEXT set, with a length of zero or not a
 *    multiple of 16, a table outside guest memory, or INDIRECT inside an
 *    indirect table;
 *  - a readable descriptor after a writable one.
 * Zero-length descriptors are allowed and skipped: their address is not
 * checked and they add no segment (they still take part in the ordering
 * rule by their WRITE flag). A chain made only of zero-length descriptors
 * pops fine with nseg == 0; the device decides what to do with it (usually
 * push it back with 0 bytes written).
 * The WRITE flag of an INDIRECT descriptor is ignored, as the spec says.
 */
int vq_pop(struct virtqueue *vq, struct vq_chain *chain);

/*
 * Gives back the last `n` chains taken by vq_pop() without using them, so
 * that they are popped again (e.g. an RX queue whose buffers turned out too
 * small to use yet). Only valid for chains not pushed.
 */
void vq_unpop(struct virtqueue *vq, uint16_t n);

/*
 * Copies up to len bytes from the readable part of the chain, starting at
 * byte `offset` of that part, into dst. Returns the bytes copied (less than
 * len when the readable part ends first).
 */
size_t vq_chain_read(const struct vq_chain *chain, size_t offset, void *dst,
		     size_t len);

/*
 * Copies up to len bytes from src into the writable part of the chain,
 * starting at byte `offset` of that part. Returns the bytes copied.
 */
size_t vq_chain_write(const struct vq_chain *chain, size_t offset,
		      const void *src, size_t len);

/*
 * Returns a used element for chain `head` with `written` bytes written, and
 * publishes the new used->idx with release order (the element and the data
 * written into the buffers are visible to the driver before the index).
 * Returns 0, or -EINVAL when head >= size or the queue is not ready (a
 * device bug, not a guest one). Calls must match chains popped.
 */
int vq_push_used(struct virtqueue *vq, uint16_t head, uint32_t written);

/*
 * Whether the device must interrupt the driver for the used elements pushed
 * since the previous call: false when nothing was pushed since; without
 * EVENT_IDX, true unless avail->flags has VRING_AVAIL_F_NO_INTERRUPT; with
 * EVENT_IDX, vring_need_event(used_event, used_idx, used_idx at the previous
 * call). Issues the full fence needed between publishing used->idx and
 * reading the driver's suppression fields. Call it after each batch of
 * pushes; it records the current used idx as the new reference point.
 */
bool vq_needs_notify(struct virtqueue *vq);

/*
 * Driver→device notification suppression.
 * vq_disable_notify(): without EVENT_IDX sets VRING_USED_F_NO_NOTIFY in
 * used->flags; with EVENT_IDX does nothing (avail_event is simply not moved
 * on, so the driver kicks at most once more).
 * vq_enable_notify(): clears VRING_USED_F_NO_NOTIFY, or with EVENT_IDX
 * writes avail_event = last_avail_idx (vq_set_avail_event()); then issues a
 * full fence and returns whether chains are available, which the caller must
 * process (the driver may have added them before it saw the change).
 * Both are hints: the driver may kick regardless.
 */
void vq_disable_notify(struct virtqueue *vq);
bool vq_enable_notify(struct virtqueue *vq);

/* With EVENT_IDX: asks for a kick once the driver makes the entry at
 * last_avail_idx available (writes avail_event). No-op without EVENT_IDX. */
void vq_set_avail_event(struct virtqueue *vq);

#endif
