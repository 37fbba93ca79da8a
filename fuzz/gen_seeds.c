/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpora of the fuzz targets: a few small, valid inputs
 * per target, in each target's input layout (see the comment at the top of
 * fuzz/fuzz_NAME.c), into DIR/NAME/. `make fuzz-seeds` runs it with DIR =
 * fuzz/corpus; the output is committed.
 *
 *   gen_seeds DIR
 */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <asm/bootparam.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "fuzz_layout.h"

/* Guest-physical address of the fuzz targets' region A (fuzz_common.h). */
#define GPA_A 0x100000ULL

struct buf {
	uint8_t d[65536];
	size_t len;
};

static const char *out_dir;
static unsigned n_ops; /* ops appended to the seed being built */

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void put(struct buf *b, size_t off, const void *p, size_t n)
{
	if (off + n > sizeof(b->d))
		die("seed too large");
	memcpy(b->d + off, p, n);
	if (off + n > b->len)
		b->len = off + n;
}

static void put8(struct buf *b, size_t off, uint8_t v) { put(b, off, &v, 1); }
static void put16(struct buf *b, size_t off, uint16_t v) { put(b, off, &v, 2); }
static void put32(struct buf *b, size_t off, uint32_t v) { put(b, off, &v, 4); }
static void put64(struct buf *b, size_t off, uint64_t v) { put(b, off, &v, 8); }

static void append(struct buf *b, const void *p, size_t n)
{
	put(b, b->len, p, n);
}

static void emit(const char *target, const char *name, const struct buf *b)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", out_dir, target);
	if (mkdir(path, 0755) && errno != EEXIST)
		die("mkdir %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(b->d, 1, b->len, f) != b->len || fclose(f))
		die("cannot write %s", path);
	n_ops = 0;
}

/* ---- guest memory images: region A starts at input offset `hdr` ---- */

static void desc(struct buf *b, size_t hdr, uint64_t table_gpa, unsigned i,
		 uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	size_t o = hdr + (size_t)(table_gpa - GPA_A) + 16 * i;
	put64(b, o, addr);
	put32(b, o + 8, len);
	put16(b, o + 12, flags);
	put16(b, o + 14, next);
}

/* Publishes heads[0..n) in the available ring. */
static void avail(struct buf *b, size_t hdr, uint64_t avail_gpa,
		  const uint16_t *heads, unsigned n)
{
	size_t o = hdr + (size_t)(avail_gpa - GPA_A);
	put16(b, o, 0);
	put16(b, o + 2, (uint16_t)n);
	for (unsigned i = 0; i < n; i++)
		put16(b, o + 4 + 2 * i, heads[i]);
}

static void fill(struct buf *b, size_t off, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		put8(b, off + i, (uint8_t)(seed + i * 13));
}

/* Ops go after the image; the last byte counts them. */
static void op4(struct buf *b, uint8_t op, uint8_t a, uint16_t v)
{
	uint8_t o[4] = { op, a, (uint8_t)v, (uint8_t)(v >> 8) };
	append(b, o, 4);
	n_ops++;
}

static void op8(struct buf *b, uint8_t op, uint8_t a, uint16_t v, uint32_t c)
{
	uint8_t o[8] = { op, a, (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)c,
			 (uint8_t)(c >> 8), (uint8_t)(c >> 16), (uint8_t)(c >> 24) };
	append(b, o, 8);
	n_ops++;
}

static void count(struct buf *b, unsigned n)
{
	if (n != n_ops)
		die("seed has %u ops, not %u", n_ops, n);
	uint8_t c = (uint8_t)n;
	append(b, &c, 1);
}

/* ---- virtqueue ---- */

#define VQ_HDR 8

static void vq_header(struct buf *b, unsigned log2, bool event_idx,
		      uint64_t *d, uint64_t *a, uint64_t *u)
{
	fuzz_ring_layout(GPA_A, 1u << log2, d, a, u);
	memset(b, 0, sizeof(*b));
	put8(b, 0, (uint8_t)log2);
	put8(b, 1, event_idx);
	put16(b, 2, (uint16_t)(*d - GPA_A));
	put16(b, 4, (uint16_t)(*a - GPA_A));
	put16(b, 6, (uint16_t)(*u - GPA_A));
}

static void gen_virtqueue(void)
{
	static struct buf b;
	uint64_t d, a, u;
	const char *t = "virtqueue";

	/* header (readable), data (writable), status (writable) */
	vq_header(&b, 3, false, &d, &a, &u);
	desc(&b, VQ_HDR, d, 0, GPA_A + 0x200, 16, VRING_DESC_F_NEXT, 1);
	desc(&b, VQ_HDR, d, 1, GPA_A + 0x300, 64,
	     VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	desc(&b, VQ_HDR, d, 2, GPA_A + 0x380, 1, VRING_DESC_F_WRITE, 0);
	avail(&b, VQ_HDR, a, (uint16_t[]){ 0 }, 1);
	fill(&b, VQ_HDR + 0x200, 16, 1);
	op4(&b, 0, 3, 4);
	op4(&b, 4, 0, 0);
	op4(&b, 0, 0, 0);
	op4(&b, 3, 0, 2); /* avail idx 2: ring[1] = 0, the same chain again */
	op4(&b, 0, 1, 0);
	op4(&b, 4, 0, 0);
	count(&b, 6);
	emit(t, "direct-chain", &b);

	/* one INDIRECT descriptor: a 3-entry table (0 -> 1 -> 2) */
	vq_header(&b, 3, false, &d, &a, &u);
	desc(&b, VQ_HDR, d, 0, GPA_A + 0x200, 48, VRING_DESC_F_INDIRECT, 0);
	desc(&b, VQ_HDR, GPA_A + 0x200, 0, GPA_A + 0x300, 16, VRING_DESC_F_NEXT, 1);
	desc(&b, VQ_HDR, GPA_A + 0x200, 1, GPA_A + 0x400, 512,
	     VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	desc(&b, VQ_HDR, GPA_A + 0x200, 2, GPA_A + 0x600, 1, VRING_DESC_F_WRITE, 0);
	avail(&b, VQ_HDR, a, (uint16_t[]){ 0 }, 1);
	op4(&b, 1, 0, 0); /* pop + unpop */
	op4(&b, 0, 2, 8);
	op4(&b, 4, 0, 0);
	count(&b, 3);
	emit(t, "indirect", &b);

	/* EVENT_IDX, two chains, notification suppression ops, re-init */
	vq_header(&b, 4, true, &d, &a, &u);
	desc(&b, VQ_HDR, d, 0, GPA_A + 0x400, 32, 0, 0);
	desc(&b, VQ_HDR, d, 5, GPA_A + 0x500, 8, VRING_DESC_F_NEXT, 6);
	desc(&b, VQ_HDR, d, 6, GPA_A + 0x600, 0, VRING_DESC_F_NEXT, 7); /* empty */
	desc(&b, VQ_HDR, d, 7, GPA_A + 0x700, 128, VRING_DESC_F_WRITE, 0);
	avail(&b, VQ_HDR, a, (uint16_t[]){ 0, 5 }, 2);
	put16(&b, VQ_HDR + (size_t)(a - GPA_A) + 4 + 2 * 16, 1); /* used_event */
	op4(&b, 5, 0, 0);
	op4(&b, 0, 0, 0);
	op4(&b, 4, 0, 0);
	op4(&b, 0, 0, 0);
	op4(&b, 4, 0, 0);
	op4(&b, 5, 1, 0);
	op4(&b, 6, 0, 0);
	op4(&b, 7, 1, 0);
	op4(&b, 0, 0, 0);
	count(&b, 9);
	emit(t, "event-idx", &b);

	/* a descriptor loop and a buffer crossing from region A into B */
	vq_header(&b, 2, false, &d, &a, &u);
	desc(&b, VQ_HDR, d, 0, GPA_A + 0x100, 8, VRING_DESC_F_NEXT, 1);
	desc(&b, VQ_HDR, d, 1, GPA_A + 0x100, 8, VRING_DESC_F_NEXT, 0);
	desc(&b, VQ_HDR, d, 2, GPA_A + 0xfff0, 32, 0, 0);
	avail(&b, VQ_HDR, a, (uint16_t[]){ 0, 2 }, 2);
	op4(&b, 0, 0, 0);
	op4(&b, 0, 0, 0);
	op4(&b, 7, 0, 0);
	op4(&b, 3, 0, 1);
	op4(&b, 2, 2, (uint16_t)(a - GPA_A + 4)); /* ring[0] = 2 */
	op4(&b, 0, 0, 0);
	count(&b, 6);
	emit(t, "bad-chains", &b);
}

/* ---- blk_request ---- */

#define BLK_HDR 8

static void blk_header(struct buf *b, uint8_t flags, uint8_t offa,
		       uint16_t cap, uint32_t fsize)
{
	memset(b, 0, sizeof(*b));
	put8(b, 0, flags);
	put8(b, 1, offa);
	put16(b, 2, cap);
	put32(b, 4, fsize);
}

static void outhdr(struct buf *b, size_t off, uint32_t type, uint64_t sector)
{
	put32(b, BLK_HDR + off, type);
	put32(b, BLK_HDR + off + 4, 0);
	put64(b, BLK_HDR + off + 8, sector);
}

/* A segment record: offset in A|B, length, writable, ends the request. */
static void rec(struct buf *b, uint32_t off, uint32_t len, bool w, bool end)
{
	uint8_t r[8];
	memcpy(r, &off, 4);
	uint16_t l = (uint16_t)(len - 1);
	memcpy(r + 4, &l, 2);
	r[6] = (uint8_t)((w ? 1 : 0) | (end ? 2 : 0));
	r[7] = 0;
	append(b, r, 8);
	n_ops++;
}

static void gen_blk(void)
{
	static struct buf b;
	const char *t = "blk_request";

	blk_header(&b, 0, 0, 64, 64 * 512);
	outhdr(&b, 0, VIRTIO_BLK_T_IN, 0);
	put8(&b, BLK_HDR + 0x400, 0xee);
	rec(&b, 0, 16, false, false);
	rec(&b, 0x200, 512, true, false);
	rec(&b, 0x400, 1, true, true);
	count(&b, 3);
	emit(t, "in", &b);

	blk_header(&b, 0, 0, 64, 20 * 512);
	outhdr(&b, 0, VIRTIO_BLK_T_OUT, 30); /* past the end of the file */
	fill(&b, BLK_HDR + 0x200, 1024, 9);
	put8(&b, BLK_HDR + 0x600, 0xee);
	rec(&b, 0, 16, false, false);
	rec(&b, 0x200, 1000, false, false);
	rec(&b, 0x200 + 1000, 24, false, false);
	rec(&b, 0x600, 1, true, true);
	/* then read it back */
	outhdr(&b, 0x700, VIRTIO_BLK_T_IN, 30);
	rec(&b, 0x700, 16, false, false);
	rec(&b, 0x800, 1024, true, false);
	rec(&b, 0xc00, 1, true, true);
	count(&b, 7);
	emit(t, "out-then-in", &b);

	blk_header(&b, 0, 0, 8, 4096);
	outhdr(&b, 0, VIRTIO_BLK_T_FLUSH, 0);
	outhdr(&b, 0x100, VIRTIO_BLK_T_GET_ID, 0);
	put8(&b, BLK_HDR + 0x300, 0);
	rec(&b, 0, 16, false, false);
	rec(&b, 0x80, 1, true, true);
	rec(&b, 0x100, 16, false, false);
	rec(&b, 0x200, 20, true, false);
	rec(&b, 0x300, 1, true, true);
	count(&b, 5);
	emit(t, "flush-get-id", &b);

	/* The io_uring engine's path (byte 1 bit 3): a write past the end
	 * of the file, a flush, then the read back (a short read: the rest
	 * is finished synchronously, zeros past the end) */
	blk_header(&b, 0, 8, 64, 20 * 512);
	outhdr(&b, 0, VIRTIO_BLK_T_OUT, 18);
	fill(&b, BLK_HDR + 0x200, 2048, 5);
	rec(&b, 0, 16, false, false);
	rec(&b, 0x200, 2048, false, false);
	rec(&b, 0xa00, 1, true, true);
	outhdr(&b, 0xb00, VIRTIO_BLK_T_FLUSH, 0);
	rec(&b, 0xb00, 16, false, false);
	rec(&b, 0xb80, 1, true, true);
	outhdr(&b, 0xc00, VIRTIO_BLK_T_IN, 16);
	rec(&b, 0xc00, 16, false, false);
	rec(&b, 0x1000, 4096, true, false);
	rec(&b, 0x2000, 1, true, true);
	count(&b, 8);
	emit(t, "uring-out-flush-in", &b);

	/* DISCARD one range, WRITE_ZEROES two (one with UNMAP) */
	blk_header(&b, 0, 0, 128, 128 * 512);
	outhdr(&b, 0, VIRTIO_BLK_T_DISCARD, 0);
	put64(&b, BLK_HDR + 0x10, 8);
	put32(&b, BLK_HDR + 0x18, 16);
	put32(&b, BLK_HDR + 0x1c, 0);
	outhdr(&b, 0x100, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	put64(&b, BLK_HDR + 0x110, 0);
	put32(&b, BLK_HDR + 0x118, 4);
	put32(&b, BLK_HDR + 0x11c, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	put64(&b, BLK_HDR + 0x120, 100);
	put32(&b, BLK_HDR + 0x128, 28);
	put32(&b, BLK_HDR + 0x12c, 0);
	put8(&b, BLK_HDR + 0x200, 0);
	rec(&b, 0, 32, false, false);
	rec(&b, 0x80, 1, true, true);
	rec(&b, 0x100, 48, false, false);
	rec(&b, 0x180, 1, true, true);
	count(&b, 4);
	emit(t, "discard-write-zeroes", &b);

	/* hole punching broken at run time: WRITE_ZEROES writes zeros */
	blk_header(&b, 0, 4, 64, 64 * 512);
	outhdr(&b, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	put64(&b, BLK_HDR + 0x10, 1);
	put32(&b, BLK_HDR + 0x18, 2);
	put32(&b, BLK_HDR + 0x1c, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	put8(&b, BLK_HDR + 0x80, 0);
	rec(&b, 0, 32, false, false);
	rec(&b, 0x80, 1, true, true);
	count(&b, 2);
	emit(t, "write-zeroes-fallback", &b);

	/* direct=on: misaligned guest buffers go through the bounce buffer */
	blk_header(&b, 0x02 | 12 << 4, 0, 64, 64 * 512);
	outhdr(&b, 0, VIRTIO_BLK_T_IN, 2);
	put8(&b, BLK_HDR + 0x1000, 0);
	rec(&b, 0, 16, false, false);
	rec(&b, 0x201, 100, true, false);
	rec(&b, 0x401, 924, true, false);
	rec(&b, 0x1000, 1, true, true);
	outhdr(&b, 0x1100, VIRTIO_BLK_T_OUT, 2);
	rec(&b, 0x1100, 16, false, false);
	rec(&b, 0x201, 1024, false, false);
	rec(&b, 0x1000, 1, true, true);
	count(&b, 7);
	emit(t, "direct-bounce", &b);

	/* read-only disk: OUT must fail */
	blk_header(&b, 0x01, 0, 16, 16 * 512);
	outhdr(&b, 0, VIRTIO_BLK_T_OUT, 0);
	rec(&b, 0, 16, false, false);
	rec(&b, 0x100, 512, false, false);
	rec(&b, 0x400, 1, true, true);
	count(&b, 3);
	emit(t, "readonly", &b);
}

/* ---- net ---- */

#define NET_HDR 2

static void gen_net(void)
{
	static struct buf b;
	const char *t = "net";
	uint64_t rd, ra, ru, td, ta, tu;
	uint64_t next = fuzz_ring_layout(GPA_A, 8, &rd, &ra, &ru);
	next = fuzz_ring_layout(next, 8, &td, &ta, &tu);
	uint64_t txbuf = next, rxbuf = next + 0x100;

	/* one TX frame, one RX buffer; the host sends one frame */
	memset(&b, 0, sizeof(b));
	put8(&b, 0, 3);
	put8(&b, 1, 0);
	size_t f = NET_HDR + (size_t)(txbuf - GPA_A);
	put(&b, f, (uint8_t[12]){ 0 }, 12);
	put(&b, f + 12, (uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				    0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
				    0x08, 0x06 }, 14);
	fill(&b, f + 26, 46, 3);
	desc(&b, NET_HDR, td, 0, txbuf, 72, 0, 0);
	avail(&b, NET_HDR, ta, (uint16_t[]){ 0 }, 1);
	desc(&b, NET_HDR, rd, 0, rxbuf, 1526, VRING_DESC_F_WRITE, 0);
	avail(&b, NET_HDR, ra, (uint16_t[]){ 0 }, 1);
	op4(&b, 3, 0, 72);
	op4(&b, 1, 0, 0);
	op4(&b, 0, 0, 0);
	op4(&b, 4, 0, 0);
	op4(&b, 8, 6, 0);
	count(&b, 5);
	emit(t, "tx-rx", &b);

	/* TX: header and frame split over three descriptors, EVENT_IDX;
	 * RX: a buffer too small, then a frame larger than the buffer */
	memset(&b, 0, sizeof(b));
	put8(&b, 0, 3);
	put8(&b, 1, 1);
	fill(&b, f + 12, 100, 5);
	put(&b, f, (uint8_t[12]){ 0 }, 12);
	desc(&b, NET_HDR, td, 0, txbuf, 6, VRING_DESC_F_NEXT, 1);
	desc(&b, NET_HDR, td, 1, txbuf + 6, 30, VRING_DESC_F_NEXT, 2);
	desc(&b, NET_HDR, td, 2, txbuf + 36, 76, 0, 0);
	avail(&b, NET_HDR, ta, (uint16_t[]){ 0, 0 }, 2);
	desc(&b, NET_HDR, rd, 0, rxbuf, 20, VRING_DESC_F_WRITE, 0);
	desc(&b, NET_HDR, rd, 1, rxbuf + 0x100, 12, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	desc(&b, NET_HDR, rd, 2, rxbuf + 0x200, 200, VRING_DESC_F_WRITE, 0);
	avail(&b, NET_HDR, ra, (uint16_t[]){ 0, 1, 1 }, 3);
	op4(&b, 0, 0, 0);
	op4(&b, 3, 0, 1000);
	op4(&b, 3, 1, 100); /* asks for checksum offload: dropped */
	op4(&b, 3, 0, 150);
	op4(&b, 1, 0, 0);
	op4(&b, 2, 0, 0);
	op4(&b, 4, 0, 0);
	op4(&b, 7, 0, 0);
	op4(&b, 0, 0, 0);
	count(&b, 9);
	emit(t, "split-and-drops", &b);

	/* Chains of 1024 segments through indirect tables: one iovec too
	 * many for the tap (TX drops, RX returns the chain); then a frame
	 * larger than the "tap" send buffer (EMSGSIZE) */
	memset(&b, 0, sizeof(b));
	put8(&b, 0, 3);
	put8(&b, 1, 0);
	uint64_t t1 = GPA_A + 0x1000, t2 = GPA_A + 0x5000;
	desc(&b, NET_HDR, td, 0, t1, 1024 * 16, VRING_DESC_F_INDIRECT, 0);
	desc(&b, NET_HDR, rd, 0, t2, 1024 * 16, VRING_DESC_F_INDIRECT, 0);
	for (unsigned i = 0; i < 1024; i++) {
		uint16_t more = i < 1023 ? VRING_DESC_F_NEXT : 0;
		desc(&b, NET_HDR, t1, i, i ? txbuf + 13 : txbuf, i ? 1 : 13, more,
		     (uint16_t)(i + 1));
		desc(&b, NET_HDR, t2, i, i ? rxbuf + 12 + i : rxbuf, i ? 1 : 12,
		     more | VRING_DESC_F_WRITE, (uint16_t)(i + 1));
	}
	desc(&b, NET_HDR, td, 1, txbuf, 8000, 0, 0);
	avail(&b, NET_HDR, ta, (uint16_t[]){ 0, 1 }, 2);
	avail(&b, NET_HDR, ra, (uint16_t[]){ 0 }, 1);
	op4(&b, 9, 0, 0);
	op4(&b, 0, 0, 0);
	op4(&b, 3, 0, 200);
	op4(&b, 1, 0, 0);
	op4(&b, 4, 0, 0);
	count(&b, 5);
	emit(t, "indirect-1024", &b);
}

/* ---- pci ---- */

/* op byte: kind in bits 0-4, width index in bits 5-7 (1,2,4,8,1,2,4,3);
 * for the direct config kinds 0/1 the length is (op >> 5) % 5. */
#define OP(kind, w) ((uint8_t)((kind) | (w) << 5))
#define W1 0
#define W2 1
#define W4 2
#define W8 3

static void gen_pci(void)
{
	static struct buf b;
	const char *t = "pci";

	/* BAR sizing of every BAR of both devices */
	memset(&b, 0, sizeof(b));
	put8(&b, 0, 3);
	put8(&b, 1, 1);
	for (unsigned dev = 0; dev < 2; dev++)
		for (unsigned bar = 0; bar < 6; bar++)
			op8(&b, OP(9, 0), (uint8_t)(dev | bar << 1), 0, 0);
	emit(t, "bar-sizing", &b);

	/* CF8/CFC: read the ids of slot 1, move its BAR0, read it back */
	memset(&b, 0, sizeof(b));
	put8(&b, 0, 0);
	put8(&b, 1, 0);
	op8(&b, OP(2, W4), 0x80, 0, 0x80000800);
	op8(&b, OP(3, W4), 0x00, 0, 0);
	op8(&b, OP(2, W4), 0x80, 0, 0x80000804);
	op8(&b, OP(3, W2), 0x80, 0, 0x0000); /* decoding off */
	op8(&b, OP(2, W4), 0x80, 0, 0x80000810);
	op8(&b, OP(3, W4), 0x80, 0, 0xffffffff);
	op8(&b, OP(3, W4), 0x00, 0, 0);
	op8(&b, OP(3, W4), 0x80, 0, 0xd0000000);
	op8(&b, OP(2, W4), 0x80, 0, 0x80000804);
	op8(&b, OP(3, W2), 0x80, 0, 0x0007);
	op8(&b, OP(5, W4), 0x00, 0x10, 0); /* BAR0 at its new place */
	emit(t, "cf8-cfc-move-bar", &b);

	/* ECAM: move slot 2's BAR1 onto slot 1's BAR0 (collision), back */
	memset(&b, 0, sizeof(b));
	put8(&b, 0, 7);
	put8(&b, 1, 1);
	op8(&b, OP(4, W4), 0x01, 0x10, 0);          /* read slot 1 BAR0 */
	op8(&b, OP(4, W4), 0x82, 0x14, 0xc0000000); /* slot 2 BAR1 */
	op8(&b, OP(4, W4), 0x82, 0x14, 0xc8000000);
	op8(&b, OP(4, W2), 0x82, 0x04, 0x0000);
	op8(&b, OP(4, W2), 0x82, 0x04, 0x0007);
	op8(&b, OP(4, W8), 0x01, 0x00, 0);
	op8(&b, OP(4, W4), 0xa1, 0x00, 0); /* bus 1: nothing there */
	emit(t, "ecam-collide", &b);

	/* MSI-X: enable (capability at 0x40), program vector 0, unmask,
	 * notify, read the PBA; function mask */
	memset(&b, 0, sizeof(b));
	put8(&b, 0, 3);
	put8(&b, 1, 0);
	op8(&b, OP(0, 1), 1, 0x43, 0x80);
	op8(&b, OP(5, W4), 0x80, 0x0, 0xfee00000);
	op8(&b, OP(5, W4), 0x80, 0x4, 0);
	op8(&b, OP(5, W4), 0x80, 0x8, 0x4041);
	op8(&b, OP(7, 0), 0, 0, 0); /* masked: pending */
	op8(&b, OP(5, W8), 0x00, 0x800, 0);
	op8(&b, OP(5, W4), 0x80, 0xc, 0); /* unmask: delivered */
	op8(&b, OP(7, 0), 0, 0, 0);
	op8(&b, OP(0, 1), 1, 0x43, 0xc0); /* function mask */
	op8(&b, OP(7, 0), 1, 0, 0);
	op8(&b, OP(0, 1), 1, 0x43, 0x80);
	op8(&b, OP(10, W8), 0x80, 0x10, 0x12345678);
	emit(t, "msix", &b);

	/* INTx: raise, disable, enable, lower; status bits are W1C */
	memset(&b, 0, sizeof(b));
	put8(&b, 0, 0);
	put8(&b, 1, 0);
	op8(&b, OP(8, 0), 2, 0, 0);
	op8(&b, OP(0, 1), 1, 0x05, 0x04);
	op8(&b, OP(0, 1), 1, 0x05, 0x00);
	op8(&b, OP(8, 0), 0, 0, 0);
	op8(&b, OP(0, 2), 1, 0x06, 0xffff);
	op8(&b, OP(6, W4), 0x80, 0xcf8, 0x80001000);
	op8(&b, OP(6, W1), 0x00, 0xcfd, 0);
	emit(t, "intx", &b);
}

/* ---- legacy ---- */

/* Same op encoding as pci: kind in bits 0-4, width in bits 5-7; a & 0x80
 * writes. */
static void gen_legacy(void)
{
	static struct buf b;
	const char *t = "legacy";

	/* 8250: divisor, FIFOs, interrupts, output, input, status */
	memset(&b, 0, sizeof(b));
	op8(&b, OP(0, W1), 0x80, 3, 0x80);  /* LCR: DLAB */
	op8(&b, OP(0, W1), 0x80, 0, 0x01);  /* DLL */
	op8(&b, OP(0, W1), 0x80, 1, 0x00);  /* DLM */
	op8(&b, OP(0, W1), 0x80, 3, 0x03);  /* 8N1 */
	op8(&b, OP(0, W1), 0x80, 2, 0xc7);  /* FCR: FIFOs on, cleared */
	op8(&b, OP(0, W1), 0x80, 1, 0x0f);  /* IER: everything */
	op8(&b, OP(0, W1), 0x80, 0, 'h');
	op8(&b, OP(0, W1), 0x80, 0, 'i');
	op8(&b, OP(8, 0), 20, 0, 0x64636261); /* 21 bytes in */
	op8(&b, OP(0, W1), 0x00, 2, 0);     /* IIR */
	op8(&b, OP(0, W1), 0x00, 5, 0);     /* LSR */
	op8(&b, OP(0, W1), 0x00, 0, 0);     /* RBR */
	op8(&b, OP(0, W1), 0x80, 4, 0x10);  /* MCR: loop-back */
	op8(&b, OP(0, W1), 0x80, 0, 'x');
	op8(&b, OP(0, W1), 0x00, 6, 0);     /* MSR */
	op8(&b, OP(0, W4), 0x00, 0, 0);     /* wide read */
	emit(t, "serial", &b);

	/* i8042: command byte, self test, aux write, output port, reset */
	memset(&b, 0, sizeof(b));
	op8(&b, OP(1, W1), 0x81, 0, 0x20);
	op8(&b, OP(1, W1), 0x00, 0, 0);
	op8(&b, OP(1, W1), 0x81, 0, 0x60);
	op8(&b, OP(1, W1), 0x80, 0, 0x47);
	op8(&b, OP(1, W1), 0x81, 0, 0xaa);
	op8(&b, OP(1, W1), 0x01, 0, 0);     /* status */
	op8(&b, OP(1, W1), 0x00, 0, 0);
	op8(&b, OP(1, W1), 0x81, 0, 0xd4);
	op8(&b, OP(1, W1), 0x80, 0, 0xff);
	op8(&b, OP(1, W1), 0x00, 0, 0);
	op8(&b, OP(1, W1), 0x80, 0, 0xf4);  /* to the absent keyboard */
	op8(&b, OP(1, W1), 0x81, 0, 0xd2);
	op8(&b, OP(1, W1), 0x80, 0, 0x55);
	op8(&b, OP(1, W1), 0x00, 0, 0);
	op8(&b, OP(1, W1), 0x81, 0, 0xd1);
	op8(&b, OP(1, W1), 0x80, 0, 0x02);  /* output port, bit 0 clear */
	op8(&b, OP(1, W1), 0x81, 0, 0xfe);  /* reset pulse */
	emit(t, "i8042", &b);

	/* RTC: read the clock, binary mode, SET with garbage in every
	 * field (the clamp: it once grew without bound), SET cleared */
	memset(&b, 0, sizeof(b));
	for (uint8_t r = 0; r <= 9; r++) {
		op8(&b, OP(2, W1), 0x80, 0, r);
		op8(&b, OP(2, W1), 0x01, 0, 0);
	}
	op8(&b, OP(11, 0), 0x0b, 0, 0x86);  /* SET, binary, 24h */
	for (uint8_t r = 0; r <= 9; r++)
		op8(&b, OP(11, 0), r, 0, 0xff);
	op8(&b, OP(11, 0), 0x32, 0, 0xff);
	op8(&b, OP(11, 0), 0x07, 0, 0x00);
	op8(&b, OP(11, 0), 0x0b, 0, 0x00);  /* running, BCD, 12h */
	op8(&b, OP(11, 0), 0x04, 0, 0x92);  /* 12 PM */
	op8(&b, OP(11, 0), 0x09, 0, 0xff);
	op8(&b, OP(2, W2), 0x80, 0, 0x8032); /* NMI bit, wide */
	op8(&b, OP(2, W1), 0x01, 0, 0);
	op8(&b, OP(2, W1), 0x00, 0, 0);     /* index port reads all-ones */
	op8(&b, OP(11, 0), 0x40, 0, 0x5a);  /* CMOS RAM */
	op8(&b, OP(10, 0), 0, 0, 0);        /* machine reset */
	op8(&b, OP(2, W1), 0x01, 0, 0);
	emit(t, "rtc", &b);

	/* debug-exit, CF8/CFC (host bridge ids), unmapped ports */
	memset(&b, 0, sizeof(b));
	op8(&b, OP(3, W1), 0x00, 0, 0);
	op8(&b, OP(3, W2), 0x80, 0, 0x1234);
	op8(&b, OP(4, W4), 0x80, 0, 0x80000000);
	op8(&b, OP(5, W4), 0x00, 0, 0);
	op8(&b, OP(4, W4), 0x80, 0, 0x80000008);
	op8(&b, OP(5, W1), 0x03, 0, 0);
	op8(&b, OP(4, W1), 0x80, 0, 0x00);  /* byte write: not CONFIG_ADDRESS */
	op8(&b, OP(7, W1), 0x00, 0x80, 0);
	op8(&b, OP(7, W4), 0x80, 0x1234, 0xdeadbeef);
	op8(&b, OP(7, W2), 0x00, 0x6f, 0);  /* straddles into the RTC */
	emit(t, "ports", &b);

	/* GED: raise, read, bad widths and offsets, acknowledge */
	memset(&b, 0, sizeof(b));
	op8(&b, OP(9, 0), 0, 0, 1);
	op8(&b, OP(9, 0), 0, 0, 6);
	op8(&b, OP(6, W4), 0x00, 0, 0);
	op8(&b, OP(6, W1), 0x00, 1, 0);
	op8(&b, OP(6, W8), 0x80, 0, 0xffffffff);
	op8(&b, OP(6, W4), 0x80, 4, 1);
	op8(&b, OP(6, W4), 0x80, 0x10, 1);
	op8(&b, OP(6, W4), 0x80, 0, 1);
	op8(&b, OP(9, 0), 0, 0, 1);
	op8(&b, OP(10, 0), 0, 0, 0);
	emit(t, "ged", &b);
}

/* ---- virtio_pci ---- */

#define VP_HDR 16

static void vp_header(struct buf *b, unsigned nq, unsigned log2,
		      uint16_t config_size, uint8_t flags, uint64_t features)
{
	memset(b, 0, sizeof(*b));
	put8(b, 0, (uint8_t)(nq - 1));
	put8(b, 1, (uint8_t)log2);
	put16(b, 2, config_size);
	put8(b, 4, flags);
	put64(b, 8, features);
}

static void gen_virtio_pci(void)
{
	static struct buf b;
	const char *t = "virtio_pci";
	uint64_t d, a, u;
	fuzz_ring_layout(GPA_A, 8, &d, &a, &u);

	/* The whole driver bring-up, a request, interrupts, reset. The
	 * MSI-X capability follows common, notify, ISR and device caps. */
	vp_header(&b, 1, 3, 8, 0, 1ULL << 5);
	desc(&b, VP_HDR, d, 0, GPA_A + 0x400, 16, VRING_DESC_F_WRITE, 0);
	desc(&b, VP_HDR, d, 1, GPA_A + 0x500, 16, VRING_DESC_F_WRITE, 0);
	avail(&b, VP_HDR, a, (uint16_t[]){ 0 }, 1);
	op8(&b, OP(4, 0), 0, 0, 0xdfffffff); /* negotiate, no EVENT_IDX */
	op8(&b, OP(5, 0), 0, 3, 0);                        /* queue 0, 8 */
	op8(&b, OP(0, W1), 0, VIRTIO_PCI_COMMON_STATUS, 0x0f);
	op8(&b, OP(1, W4), 0, VIRTIO_PCI_COMMON_STATUS, 0);
	op8(&b, OP(7, 0), 0, 0, 0);                        /* serve: INTx */
	op8(&b, OP(12, 0), 0, 0, 0);                       /* ISR */
	op8(&b, OP(6, 1), 1, 0x87, 0x80);                  /* MSI-X on */
	op8(&b, OP(0, W2), 0, VIRTIO_PCI_COMMON_MSIX, 0);
	op8(&b, OP(0, W2), 0, VIRTIO_PCI_COMMON_Q_MSIX, 1);
	op8(&b, OP(11, 0), 1, 3, 0);                       /* unmask vec 1 */
	op8(&b, OP(10, 0), 0, 0, 0);                       /* notify q0 */
	op8(&b, OP(0, W2), 0, VIRTIO_PCI_COMMON_Q_SELECT, 0);
	op8(&b, OP(0, W2), 0, VIRTIO_PCI_COMMON_Q_MSIX, 1);
	/* the driver makes chain 1 available: ring[1] = 1, avail->idx = 2 */
	op8(&b, OP(13, 0), 1, (uint16_t)(a - GPA_A + 6), 0);
	op8(&b, OP(13, 0), 2, (uint16_t)(a - GPA_A + 2), 0);
	op8(&b, OP(7, 0), 0, 0, 0);                        /* serve: MSI-X */
	op8(&b, OP(3, W4), 0, 0, 0);                       /* device cfg */
	op8(&b, OP(3, W2), 1, 6, 0x1234);
	op8(&b, OP(8, 0), 0, 0, 0);
	op8(&b, OP(9, 0), 0, 0, 0);
	op8(&b, OP(0, W1), 0, VIRTIO_PCI_COMMON_STATUS, 0);
	count(&b, 21);
	emit(t, "bring-up", &b);

	/* The status machine broken in various ways; several queues */
	vp_header(&b, 4, 8, 0, 1, 0);
	op8(&b, OP(0, W1), 0, VIRTIO_PCI_COMMON_STATUS, 0x07); /* DRIVER_OK first */
	op8(&b, OP(4, 0), 1, 0, 0);                        /* no VERSION_1 */
	op8(&b, OP(4, 0), 2 | 40 << 2, 0, 0xffffffff);     /* not offered */
	op8(&b, OP(4, 0), 0, 0, 0);
	op8(&b, OP(5, 0), 2, 9, 0);                        /* 512 > max 256 */
	op8(&b, OP(5, 0), 3, 4, 1 | 0x0008 << 16);         /* misaligned */
	op8(&b, OP(5, 0), 4, 4, 0);                        /* no such queue */
	op8(&b, OP(0, W8), 0, VIRTIO_PCI_COMMON_DFSELECT, 0x01);
	op8(&b, OP(0, W1), 0, VIRTIO_PCI_COMMON_STATUS, 0x0f); /* activate fails */
	op8(&b, OP(2, W4), 0, 0x1000, 0);
	op8(&b, OP(6, 2), 1, 0x10, 0xffffffff);            /* size BAR0 */
	op8(&b, OP(6, 2), 1, 0x10, 0xc0000000);
	op8(&b, OP(6, 2), 1, 0x04, 0x0006);                /* decode off */
	op8(&b, OP(6, 2), 1, 0x04, 0x0007);
	count(&b, 14);
	emit(t, "misuse", &b);
}

/* ---- virtio_mmio (the virtio_pci header) ---- */

static void gen_virtio_mmio(void)
{
	static struct buf b;
	const char *t = "virtio_mmio";
	uint64_t d, a, u;
	fuzz_ring_layout(GPA_A, 8, &d, &a, &u);

	/* Bring-up, a request, the interrupt and its ACK, config, reset. */
	vp_header(&b, 1, 3, 8, 0, 1ULL << 5);
	desc(&b, VP_HDR, d, 0, GPA_A + 0x400, 16, VRING_DESC_F_WRITE, 0);
	desc(&b, VP_HDR, d, 1, GPA_A + 0x500, 16, VRING_DESC_F_WRITE, 0);
	avail(&b, VP_HDR, a, (uint16_t[]){ 0 }, 1);
	op8(&b, OP(4, 0), 0, 0, 0xdfffffff);               /* negotiate */
	op8(&b, OP(5, 0), 0, 3, 0);                        /* queue 0, 8 */
	op8(&b, OP(0, W4), 0, VIRTIO_MMIO_STATUS, 0x0f);
	op8(&b, OP(1, W4), 0, VIRTIO_MMIO_STATUS, 0);
	op8(&b, OP(9, 0), 0, 0, 0);                        /* notify q0 */
	op8(&b, OP(6, 0), 0, 0, 0);                        /* serve */
	op8(&b, OP(1, W4), 0, VIRTIO_MMIO_INTERRUPT_STATUS, 0);
	op8(&b, OP(10, 0), 0, 0, 1);                       /* ack, resample */
	op8(&b, OP(11, 0), 1, (uint16_t)(a - GPA_A + 6), 0);
	op8(&b, OP(11, 0), 2, (uint16_t)(a - GPA_A + 2), 0);
	op8(&b, OP(6, 0), 0, 0, 0);
	op8(&b, OP(3, W4), 0, 0, 0);                       /* device cfg */
	op8(&b, OP(3, W2), 1, 6, 0x1234);
	op8(&b, OP(7, 0), 0, 0, 0);                        /* config change */
	op8(&b, OP(10, 0), 0, 0, 2);
	op8(&b, OP(8, 0), 0, 0, 0);                        /* needs reset */
	op8(&b, OP(0, W4), 0, VIRTIO_MMIO_STATUS, 0);
	count(&b, 17);
	emit(t, "bring-up", &b);

	/* The status machine broken in various ways; odd widths. */
	vp_header(&b, 4, 8, 0, 1, 0);
	op8(&b, OP(0, W4), 0, VIRTIO_MMIO_STATUS, 0x07);   /* DRIVER_OK first */
	op8(&b, OP(4, 0), 1, 0, 0);                        /* no VERSION_1 */
	op8(&b, OP(4, 0), 2 | 40 << 2, 0, 0xffffffff);     /* not offered */
	op8(&b, OP(4, 0), 0, 0, 0);
	op8(&b, OP(5, 0), 2, 9, 0);                        /* 512 > max 256 */
	op8(&b, OP(5, 0), 3, 4, 1 | 0x0008 << 16);         /* misaligned */
	op8(&b, OP(5, 0), 4, 4, 0);                        /* no such queue */
	op8(&b, OP(0, W8), 0, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	op8(&b, OP(0, W1), 0, VIRTIO_MMIO_STATUS, 0x0f);
	op8(&b, OP(0, W4), 0, VIRTIO_MMIO_STATUS, 0x0f);   /* activate fails */
	op8(&b, OP(2, W4), 1, 0xffc, 0);
	op8(&b, OP(9, 0), 7, 0, 0);                        /* no such queue */
	count(&b, 12);
	emit(t, "misuse", &b);
}

/* ---- boot ---- */

static void boot_params8(struct buf *b, uint16_t ram_mib, uint16_t initrd_kib,
			 uint32_t top_pages)
{
	put16(b, b->len, ram_mib);
	put16(b, b->len, initrd_kib);
	put32(b, b->len, top_pages);
}

static void gen_boot(void)
{
	static struct buf b;
	const char *t = "boot";

	/* bzImage: 1 setup sector, 64-bit entry, boot protocol 2.15 */
	memset(&b, 0, sizeof(b));
	struct setup_header h;
	memset(&h, 0, sizeof(h));
	h.setup_sects = 1;
	h.boot_flag = 0xaa55;
	h.jump = 0x6aeb; /* byte 0x201: header length past 0x202 */
	h.header = 0x53726448;
	h.version = 0x020f;
	h.loadflags = LOADED_HIGH;
	h.initrd_addr_max = 0x7fffffff;
	h.kernel_alignment = 0x200000;
	h.xloadflags = XLF_KERNEL_64;
	h.cmdline_size = 2047;
	h.pref_address = 0x100000;
	h.init_size = 0x20000;
	put(&b, 0x1f1, &h, sizeof(h));
	fill(&b, 1024, 1024, 0x90);
	boot_params8(&b, 254, 64, 0x10000);
	emit(t, "bzimage", &b);

	/* ELF vmlinux: a virtual entry in one PT_LOAD at 1 MiB, with bss */
	for (int pvh = 0; pvh < 2; pvh++) {
		memset(&b, 0, sizeof(b));
		unsigned nph = pvh ? 2 : 1;
		Elf64_Ehdr eh;
		memset(&eh, 0, sizeof(eh));
		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		eh.e_type = ET_EXEC;
		eh.e_machine = EM_X86_64;
		eh.e_version = EV_CURRENT;
		eh.e_entry = 0xffffffff81000010ULL;
		eh.e_phoff = sizeof(eh);
		eh.e_ehsize = sizeof(eh);
		eh.e_phentsize = sizeof(Elf64_Phdr);
		eh.e_phnum = (uint16_t)nph;
		put(&b, 0, &eh, sizeof(eh));
		size_t data = sizeof(eh) + nph * sizeof(Elf64_Phdr);
		Elf64_Phdr ph;
		memset(&ph, 0, sizeof(ph));
		ph.p_type = PT_LOAD;
		ph.p_flags = PF_R | PF_X;
		ph.p_offset = data;
		ph.p_vaddr = 0xffffffff81000000ULL;
		ph.p_paddr = 0x100000;
		ph.p_filesz = 64;
		ph.p_memsz = 0x2000;
		ph.p_align = 0x1000;
		put(&b, sizeof(eh), &ph, sizeof(ph));
		fill(&b, data, 64, 0xcc);
		if (pvh) {
			size_t note = data + 64;
			Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 4,
					  .n_type = 18 /* PHYS32_ENTRY */ };
			put(&b, note, &nh, sizeof(nh));
			put(&b, note + sizeof(nh), "Xen", 4);
			put32(&b, note + sizeof(nh) + 4, 0x100020);
			memset(&ph, 0, sizeof(ph));
			ph.p_type = PT_NOTE;
			ph.p_offset = note;
			ph.p_filesz = sizeof(nh) + 8;
			ph.p_align = 4;
			put(&b, sizeof(eh) + sizeof(ph), &ph, sizeof(ph));
		}
		boot_params8(&b, 126, 16, 0x8000);
		emit(t, pvh ? "elf-pvh" : "elf", &b);
	}

	/* 17 loadable segments (one too many), and a 64-bit PVH entry */
	for (int v = 0; v < 2; v++) {
		memset(&b, 0, sizeof(b));
		unsigned nph = v ? 2 : 17;
		Elf64_Ehdr eh;
		memset(&eh, 0, sizeof(eh));
		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_type = ET_EXEC;
		eh.e_machine = EM_X86_64;
		eh.e_entry = 0x100000;
		eh.e_phoff = sizeof(eh);
		eh.e_phentsize = sizeof(Elf64_Phdr);
		eh.e_phnum = (uint16_t)nph;
		put(&b, 0, &eh, sizeof(eh));
		size_t data = sizeof(eh) + nph * sizeof(Elf64_Phdr);
		for (unsigned i = 0; i < nph; i++) {
			Elf64_Phdr ph;
			memset(&ph, 0, sizeof(ph));
			ph.p_type = PT_LOAD;
			ph.p_offset = data;
			ph.p_paddr = ph.p_vaddr = 0x100000 + 0x1000ULL * i;
			ph.p_filesz = 16;
			ph.p_memsz = 0x1000;
			if (v && i == 1) {
				Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 8,
						  .n_type = 18 };
				size_t note = data + 16;
				put(&b, note, &nh, sizeof(nh));
				put(&b, note + sizeof(nh), "Xen", 4);
				put64(&b, note + sizeof(nh) + 4, 0x100100);
				ph.p_type = PT_NOTE;
				ph.p_offset = note;
				ph.p_filesz = sizeof(nh) + 12;
				ph.p_memsz = 0;
			}
			put(&b, sizeof(eh) + i * sizeof(ph), &ph, sizeof(ph));
		}
		fill(&b, data, 16, 0xf4);
		boot_params8(&b, 30, 0, 0x4000);
		emit(t, v ? "elf-pvh64" : "elf-17-segments", &b);
	}
}

/* ---- config ---- */

static void gen_config(void)
{
	static struct buf b;
	static const char *const lines[][24] = {
		{ "--kernel", "bzImage", "--cmdline", "console=ttyS0", "--cpus",
		  "boot=2", "--memory", "size=512M", NULL },
		{ "--kernel=vmlinux", "--initramfs", "initrd.gz", "--disk",
		  "path=a.img,readonly=on,id=root", "--disk",
		  "path=b.img,direct=off", "--serial", "file=/tmp/s.log",
		  "--console", "null", "--log-level", "debug", NULL },
		{ "--kernel", "k", "--net", "tap=tap0,mac=52:54:00:12:34:56,ip=10.0.0.1,mask=255.255.255.0",
		  "--net", "--rng", "src=/dev/urandom", "--seccomp", "off",
		  "--api-socket", "/run/cvmm.sock", "--debug-exit", NULL },
		{ "--kernel", "k", "--memory", "size=1GiB", "--serial", "off",
		  "--console", "tty", "--rng", NULL },
		{ "-h", NULL },
		{ "--version", NULL },
		{ "512MiB", NULL },
		{ "--kernel", "k", "--memory", "size=16777217", NULL },
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		memset(&b, 0, sizeof(b));
		for (size_t j = 0; lines[i][j]; j++) {
			if (j)
				append(&b, "", 1);
			append(&b, lines[i][j], strlen(lines[i][j]));
		}
		char name[32];
		snprintf(name, sizeof(name), "argv-%zu", i);
		emit("config", name, &b);
	}

	/* Three disks whose paths overflow the parser's string storage */
	memset(&b, 0, sizeof(b));
	append(&b, "--kernel\0k", 10);
	for (int i = 0; i < 3; i++) {
		append(&b, "\0--disk\0path=", 13);
		char path[4000];
		memset(path, 'a' + i, sizeof(path));
		append(&b, path, sizeof(path));
	}
	emit("config", "long-paths", &b);
}

/* ---- vsock ---- */

#define VS_HDR 2

/* A vsock packet header (44 bytes, little-endian) at input offset off. */
static void vs_hdr(struct buf *b, size_t off, uint64_t src_cid, uint32_t sport,
		   uint32_t dport, uint16_t op, uint32_t len)
{
	put64(b, off, src_cid);
	put64(b, off + 8, 2);
	put32(b, off + 16, sport);
	put32(b, off + 20, dport);
	put32(b, off + 24, len);
	put16(b, off + 28, 1);
	put16(b, off + 30, op);
	put32(b, off + 32, 0);
	put32(b, off + 36, 4096);
	put32(b, off + 40, 0);
}

static void gen_vsock(void)
{
	static struct buf b;
	const char *t = "vsock";
	uint64_t rd, ra, ru, td, ta, tu, ed, ea, eu;
	uint64_t next = fuzz_ring_layout(GPA_A, 8, &rd, &ra, &ru);
	next = fuzz_ring_layout(next, 8, &td, &ta, &tu);
	next = fuzz_ring_layout(next, 8, &ed, &ea, &eu);
	uint64_t txbuf = next, rxbuf = next + 0x400;
	size_t f = VS_HDR + (size_t)(txbuf - GPA_A);

	/* Four rx buffers of 256 bytes, one event buffer. */
#define VS_RX()                                                               \
	do {                                                                  \
		for (unsigned i = 0; i < 4; i++)                              \
			desc(&b, VS_HDR, rd, i, rxbuf + 0x100 * i, 0x100,     \
			     VRING_DESC_F_WRITE, 0);                          \
		avail(&b, VS_HDR, ra, (uint16_t[]){ 0, 1, 2, 3 }, 4);         \
		desc(&b, VS_HDR, ed, 0, rxbuf + 0x400, 8, VRING_DESC_F_WRITE, 0); \
		avail(&b, VS_HDR, ea, (uint16_t[]){ 0 }, 1);                  \
	} while (0)

	/* The guest connects to host port 1 (the target listens on PATH_1),
	 * sends 16 bytes; the host answers, reads, closes. */
	memset(&b, 0, sizeof(b));
	put8(&b, 0, 3);
	put8(&b, 1, 0);
	VS_RX();
	vs_hdr(&b, f, 3, 100, 1, 1, 0);
	vs_hdr(&b, f + 0x40, 3, 100, 1, 5, 16);
	fill(&b, f + 0x80, 16, 7);
	desc(&b, VS_HDR, td, 0, txbuf, 44, 0, 0);
	desc(&b, VS_HDR, td, 1, txbuf + 0x40, 44, VRING_DESC_F_NEXT, 2);
	desc(&b, VS_HDR, td, 2, txbuf + 0x80, 16, 0, 0);
	avail(&b, VS_HDR, ta, (uint16_t[]){ 0, 1 }, 2);
	op4(&b, 1, 0, 0);
	op4(&b, 0, 0, 0);
	op4(&b, 5, 0, 0);
	op4(&b, 6, 0, 100);
	op4(&b, 3, 0, 0);
	op4(&b, 7, 0, 100);
	op4(&b, 8, 0, 0);
	op4(&b, 3, 0, 0);
	op4(&b, 2, 0, 0);
	count(&b, 9);
	emit(t, "guest-connect", &b);

	/* The host sends CONNECT 5; the guest answers from port 5 to host
	 * port 2^30; data both ways, a SHUTDOWN, a reset. */
	memset(&b, 0, sizeof(b));
	put8(&b, 0, 3);
	put8(&b, 1, 1);
	VS_RX();
	vs_hdr(&b, f, 3, 5, 1u << 30, 2, 0);
	vs_hdr(&b, f + 0x40, 3, 5, 1u << 30, 5, 8);
	fill(&b, f + 0x80, 8, 3);
	vs_hdr(&b, f + 0xc0, 3, 5, 1u << 30, 4, 0);
	put32(&b, f + 0xc0 + 32, 3);
	desc(&b, VS_HDR, td, 0, txbuf, 44, 0, 0);
	desc(&b, VS_HDR, td, 1, txbuf + 0x40, 52, 0, 0);
	desc(&b, VS_HDR, td, 2, txbuf + 0xc0, 44, 0, 0);
	avail(&b, VS_HDR, ta, (uint16_t[]){ 0, 1, 2 }, 3);
	op4(&b, 1, 0, 0);
	op4(&b, 4, 0, 5);
	op4(&b, 3, 0, 0);
	op4(&b, 3, 0, 0);
	op4(&b, 6, 0, 40);
	op4(&b, 0, 0, 0);
	op4(&b, 3, 0, 0);
	op4(&b, 7, 0, 200);
	op4(&b, 12, 0, 0);
	op4(&b, 2, 0, 0);
	count(&b, 10);
	emit(t, "host-connect", &b);

	/* Packets that break the rules: short, unknown op, another CID,
	 * oversize, data for no connection. */
	memset(&b, 0, sizeof(b));
	put8(&b, 0, 3);
	put8(&b, 1, 0);
	VS_RX();
	vs_hdr(&b, f, 3, 1, 2, 1, 0);
	vs_hdr(&b, f + 0x40, 3, 1, 2, 77, 0);
	vs_hdr(&b, f + 0x80, 9, 1, 2, 1, 0);
	vs_hdr(&b, f + 0xc0, 3, 1, 2, 5, 70000);
	vs_hdr(&b, f + 0x100, 3, 1, 2, 5, 4);
	desc(&b, VS_HDR, td, 0, txbuf, 20, 0, 0);
	desc(&b, VS_HDR, td, 1, txbuf + 0x40, 44, 0, 0);
	desc(&b, VS_HDR, td, 2, txbuf + 0x80, 44, 0, 0);
	desc(&b, VS_HDR, td, 3, txbuf + 0xc0, 60, 0, 0);
	desc(&b, VS_HDR, td, 4, txbuf + 0x100, 48, 0, 0);
	avail(&b, VS_HDR, ta, (uint16_t[]){ 0, 1, 2, 3, 4 }, 5);
	op4(&b, 0, 0, 0);
	op4(&b, 1, 0, 0);
	op4(&b, 11, 8, 0);
	count(&b, 3);
	emit(t, "bad-packets", &b);
#undef VS_RX
}

int main(int argc, char **argv)
{
	if (argc != 2)
		die("usage: gen_seeds DIR");
	out_dir = argv[1];
	if (mkdir(out_dir, 0755) && errno != EEXIST)
		die("mkdir %s: %s", out_dir, strerror(errno));
	gen_virtqueue();
	gen_blk();
	gen_net();
	gen_pci();
	gen_legacy();
	gen_virtio_pci();
	gen_virtio_mmio();
	gen_boot();
	gen_config();
	gen_vsock();
	return 0;
}
