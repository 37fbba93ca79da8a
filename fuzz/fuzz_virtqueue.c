/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: split virtqueue chain walking (src/virtio/queue.c), direct
 * and indirect descriptors, over guest memory taken from the input.
 *
 * Input layout:
 *   [0]     log2 of the queue size (mod 16)
 *   [1]     bit 0: EVENT_IDX
 *   [2..7]  desc, avail, used ring offsets in region A (u16 LE each)
 *   [8..]   guest memory image (region A, then B; see fuzz_common.h)
 *   tail    the last byte is the op count n (mod 65); the 4*n bytes before
 *           it are the ops, 4 bytes each: op, a, b (u16 LE)
 *
 * Ops: pop (and read, write, push the chain), pop then unpop, poke a byte
 * of region A, set avail->idx, vq_needs_notify, enable/disable notify,
 * set_avail_event/has_available, reset and re-init.
 *
 * Checked besides memory safety: every popped chain satisfies the contract
 * in queue.h (segment order and counts, lengths, each segment inside one
 * guest region at the host address of its gpa), vq_chain_read/write return
 * exactly what the chain can hold, a broken queue stays broken.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "virtio/queue.h"

#define HDR_LEN 8
#define OP_LEN 4
#define MAX_OPS 64
#define COPY_MAX 0x10000u

static struct fuzz_mem fm;
static struct vq_chain chain;
static uint8_t scratch[COPY_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_init();
	fuzz_mem_setup(&fm);
	return 0;
}

/* The segment lies wholly inside one region, at its gpa's host address. */
static void check_seg(const struct vq_seg *s)
{
	FUZZ_CHECK(s->len > 0);
	FUZZ_CHECK(s->gpa + s->len - 1 >= s->gpa);
	FUZZ_CHECK(guest_mem_ptr(&fm.mem, s->gpa, s->len) == s->addr);
	bool inside = false;
	for (unsigned i = 0; i < fm.mem.count; i++) {
		const struct guest_region *r = &fm.mem.regions[i];
		if (s->addr >= r->hva && s->addr - r->hva < (ptrdiff_t)r->size &&
		    s->len <= r->size - (uint64_t)(s->addr - r->hva))
			inside = true;
	}
	FUZZ_CHECK(inside);
}

static void check_chain(const struct virtqueue *vq, const struct vq_chain *c)
{
	FUZZ_CHECK(c->head < vq->size);
	FUZZ_CHECK(c->nseg <= VQ_MAX_SEGS);
	FUZZ_CHECK(c->nread <= c->nseg);
	uint64_t rl = 0, wl = 0;
	for (unsigned i = 0; i < c->nseg; i++) {
		const struct vq_seg *s = &c->segs[i];
		check_seg(s);
		FUZZ_CHECK(s->writable == (i >= c->nread));
		if (s->writable)
			wl += s->len;
		else
			rl += s->len;
	}
	FUZZ_CHECK(rl == c->read_len);
	FUZZ_CHECK(wl == c->write_len);
	FUZZ_CHECK(rl + wl <= VQ_MAX_CHAIN_BYTES);
}

static size_t expect_copy(uint64_t part, size_t off, size_t len)
{
	if (off >= part)
		return 0;
	return part - off < len ? (size_t)(part - off) : len;
}

/* What a device does with a chain: reads it, fills it, returns it. */
static void consume(struct virtqueue *vq, uint8_t a, uint16_t b)
{
	const struct vq_chain *c = &chain;
	size_t n = c->read_len < COPY_MAX ? (size_t)c->read_len : COPY_MAX;
	FUZZ_CHECK(vq_chain_read(c, 0, scratch, n) == n);
	size_t off = b, len = a * 64u;
	FUZZ_CHECK(vq_chain_read(c, off, scratch, len) ==
		   expect_copy(c->read_len, off, len));

	memset(scratch, a, sizeof(scratch));
	n = c->write_len < COPY_MAX ? (size_t)c->write_len : COPY_MAX;
	FUZZ_CHECK(vq_chain_write(c, 0, scratch, n) == n);
	FUZZ_CHECK(vq_chain_write(c, off, scratch, len) ==
		   expect_copy(c->write_len, off, len));
	FUZZ_CHECK(vq_push_used(vq, c->head, (uint32_t)n) == 0);
}

static void do_pop(struct virtqueue *vq, uint8_t a, uint16_t b, bool unpop)
{
	bool was_broken = vq->broken;
	int r = vq_pop(vq, &chain);
	if (was_broken)
		FUZZ_CHECK(r == -EIO);
	if (r == -EIO) {
		FUZZ_CHECK(vq->broken);
		FUZZ_CHECK(!vq_has_available(vq));
		FUZZ_CHECK(vq_pop(vq, &chain) == -EIO);
		return;
	}
	FUZZ_CHECK(r == 0 || r == -ENOENT);
	if (r)
		return;
	check_chain(vq, &chain);
	if (unpop)
		vq_unpop(vq, 1);
	else
		consume(vq, a, b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t size_log2 = fz_u8(&f);
	uint8_t flags = fz_u8(&f);
	uint16_t desc_off = fz_u16(&f);
	uint16_t avail_off = fz_u16(&f);
	uint16_t used_off = fz_u16(&f);

	/* The ops come from the end of the input, the memory from the rest. */
	unsigned nops = 0;
	struct fz ops = { NULL, 0 };
	if (f.n > 0) {
		nops = f.p[f.n - 1] % (MAX_OPS + 1);
		f.n--;
		size_t ops_len = (size_t)nops * OP_LEN;
		if (ops_len > f.n)
			ops_len = f.n - f.n % OP_LEN;
		nops = (unsigned)(ops_len / OP_LEN);
		ops = (struct fz){ f.p + f.n - ops_len, ops_len };
		f.n -= ops_len;
	}
	fuzz_mem_fill(&fm, &f);

	uint16_t qsize = (uint16_t)(1u << (size_log2 % 16));
	uint64_t desc = FUZZ_GPA_A + desc_off;
	uint64_t avail = FUZZ_GPA_A + avail_off;
	uint64_t used = FUZZ_GPA_A + used_off;
	bool event_idx = flags & 1;

	struct virtqueue vq;
	memset(&vq, 0, sizeof(vq));
	vq.name = "fuzz";
	if (vq_init(&vq, &fm.mem, qsize, desc, avail, used, event_idx))
		return 0;
	FUZZ_CHECK(vq.ready && vq.size == qsize);

	for (unsigned i = 0; i < nops; i++) {
		uint8_t op = fz_u8(&ops), a = fz_u8(&ops);
		uint16_t b = fz_u16(&ops);
		switch (op % 8) {
		case 0:
			do_pop(&vq, a, b, false);
			break;
		case 1:
			do_pop(&vq, a, b, true);
			break;
		case 2:
			fm.a[b % FUZZ_REGION_SIZE] = a;
			break;
		case 3:
			if (avail_off + 4u <= FUZZ_REGION_SIZE)
				memcpy(fm.a + avail_off + 2, &b, 2);
			break;
		case 4:
			(void)vq_needs_notify(&vq);
			break;
		case 5:
			if (a & 1)
				(void)vq_enable_notify(&vq);
			else
				vq_disable_notify(&vq);
			break;
		case 6:
			vq_set_avail_event(&vq);
			(void)vq_has_available(&vq);
			break;
		case 7:
			vq_reset(&vq);
			FUZZ_CHECK(!vq.ready && vq_pop(&vq, &chain) == -ENOENT);
			event_idx = a & 1;
			FUZZ_CHECK(vq_init(&vq, &fm.mem, qsize, desc, avail, used,
					   event_idx) == 0);
			break;
		}
	}
	return 0;
}
