/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: virtio-blk request parsing and execution
 * (blk_request_execute, src/virtio/blk_request.c) against an in-memory
 * backend (a memfd of at most 4096 sectors), with descriptor chains whose
 * segments point into guest memory taken from the input.
 *
 * Input layout:
 *   [0]     bit 0 readonly, bit 1 direct (O_DIRECT code paths: alignment
 *           checks and the bounce buffer; the memfd itself is buffered),
 *           bit 2 no DISCARD, bit 3 no WRITE_ZEROES, bits 4-7 log2 of the
 *           O_DIRECT memory alignment (capped at 4096)
 *   [1]     bits 0-1: O_DIRECT offset alignment 512 << b; bit 2: hole
 *           punching stops working (the file system's EOPNOTSUPP, which
 *           the backend records in punch_hole_works: WRITE_ZEROES then
 *           falls back to writing zeros); bit 3: the io_uring engine's
 *           path (blk_request_prepare, a real ring of blk_uring.c,
 *           blk_request_complete) instead of blk_request_execute, where
 *           io_uring is available; the same checks hold; bit 4, with
 *           bit 3: the ring that has guest memory registered as fixed
 *           buffers (one-segment reads and writes as READ/WRITE_FIXED);
 *           the plain ring is waited in as the device thread does
 *           (blk_uring_wait, the fuzzer's thread's own ring where the
 *           kernel gives one), the fixed one drained (blk_uring_drain)
 *   [2..3]  capacity in sectors (mod 4097: up to 2 MiB, so that O_DIRECT
 *           bounce transfers take more than one 1 MiB chunk)
 *   [4..7]  file size in bytes (mod capacity * 512 + 1: the file may be
 *           shorter than the capacity)
 *   [8..]   guest memory image (region A, then B)
 *   tail    the last byte is the segment record count n (mod 65); the 8*n
 *           bytes before it are records: u32 offset into A|B (mod 128 KiB),
 *           u16 length - 1, u8 flags (bit 0 writable, bit 1 ends a
 *           request), u8 repeat count. A request's readable segments are
 *           put before its writable ones, as vq_pop() delivers them.
 *
 * Up to 4 requests run one after the other on the same file (through the
 * ring: each waited for before the next). Checked
 * besides memory safety: the status byte and used length follow
 * blk_request.h, the file never grows past the capacity, a read-only disk
 * is never modified, a successful IN places exactly the file's bytes
 * (zeros past its end), a successful OUT writes exactly the guest's bytes,
 * a successful WRITE_ZEROES reads back as zeros.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "virtio/blk_request.h"
#include "virtio/blk_uring.h"

#define HDR_LEN 8
#define REC_LEN 8
#define MAX_RECS 64
#define MAX_REQS 4
#define MAX_CAPACITY 4096u /* sectors */
/* Read-only disks: whole-file comparison up to this size, else size only. */
#define RO_COMPARE_MAX (128u * 1024)
#define FILE_MAX (MAX_CAPACITY * BLK_SECTOR_SIZE)

static struct fuzz_mem fm;
static struct vq_chain chain;
static struct blk_backend be;
static int memfd = -1;
static uint8_t *bounce;
/* Guest data captured before a request and file contents after it. */
static uint8_t before[FILE_MAX + 64 * 1024];
static uint8_t file_now[FILE_MAX];
static uint8_t file_ro[RO_COMPARE_MAX];
static uint8_t got[FILE_MAX];
static struct stat st_ro;
/* The io_uring engine's rings (NULL where the kernel has none): plain,
 * and with the guest memory as fixed buffers. */
static struct blk_uring *ring, *ring_plain, *ring_fixed;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_init();
	fuzz_mem_setup(&fm);
	memfd = memfd_create("cvmm-fuzz-blk", MFD_CLOEXEC);
	bounce = aligned_alloc(4096, BLK_BOUNCE_SIZE);
	if (memfd < 0 || !bounce)
		abort();
	if (blk_uring_create(&ring_plain, memfd, 1, 4, NULL) < 0)
		ring_plain = NULL;
	/* The device thread's way: its own ring, waited in (no fd polled). */
	static const int no_fd[1] = { -1 };
	if (ring_plain && blk_uring_thread_start(ring_plain, no_fd, 0) < 0)
		abort();
	if (blk_uring_create(&ring_fixed, memfd, 1, 4, &fm.mem) < 0 ||
	    blk_uring_fixed(ring_fixed) <= 0) {
		blk_uring_destroy(ring_fixed);
		ring_fixed = NULL;
	}
	return 0;
}

/* Reads bytes [off, off+len) of the file (zeros past its end) into buf. */
static void read_file(uint8_t *buf, uint64_t off, size_t len)
{
	memset(buf, 0, len);
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(memfd, buf + done, len - done, (off_t)(off + done));
		FUZZ_CHECK(r >= 0);
		if (r == 0)
			break;
		done += (size_t)r;
	}
}

static uint64_t file_size(void)
{
	struct stat st;
	FUZZ_CHECK(fstat(memfd, &st) == 0);
	return (uint64_t)st.st_size;
}

/* Copies up to len bytes of the writable part of the chain, from offset 0. */
static size_t gather_writable(const struct vq_chain *c, uint8_t *dst, size_t len)
{
	size_t done = 0;
	for (unsigned i = c->nread; i < c->nseg && done < len; i++) {
		size_t n = c->segs[i].len;
		if (n > len - done)
			n = len - done;
		memcpy(dst + done, c->segs[i].addr, n);
		done += n;
	}
	return done;
}

static bool ranges_overlap(const struct vq_seg *a, const struct vq_seg *b)
{
	return a->addr < b->addr + b->len && b->addr < a->addr + a->len;
}

/* No two segments of the chain share a byte of guest memory (only looked
 * at for short chains: quadratic). */
static bool chain_disjoint(const struct vq_chain *c)
{
	if (c->nseg > 32)
		return false;
	for (unsigned i = 0; i < c->nseg; i++)
		for (unsigned j = i + 1; j < c->nseg; j++)
			if (ranges_overlap(&c->segs[i], &c->segs[j]))
				return false;
	return true;
}

/* Appends one segment (clamped to its region) if there is room. */
static void add_seg(struct vq_chain *c, uint32_t off, uint32_t len, bool writable)
{
	if (c->nseg == VQ_MAX_SEGS)
		return;
	off %= 2 * FUZZ_REGION_SIZE;
	uint8_t *base = off < FUZZ_REGION_SIZE ? fm.a : fm.b;
	uint32_t in_region = off % FUZZ_REGION_SIZE;
	if (len > FUZZ_REGION_SIZE - in_region)
		len = (uint32_t)(FUZZ_REGION_SIZE - in_region);
	c->segs[c->nseg++] = (struct vq_seg){
		.addr = base + in_region, .gpa = FUZZ_GPA_A + off, .len = len,
		.writable = writable,
	};
}

/* Builds the next request's chain from the records; false when none left. */
static bool next_chain(struct fz *recs, struct vq_chain *c)
{
	if (fz_empty(recs))
		return false;
	struct { uint32_t off, len; bool w; unsigned rep; } r[MAX_RECS];
	unsigned n = 0;
	while (!fz_empty(recs) && n < MAX_RECS) {
		r[n].off = fz_u32(recs);
		r[n].len = (uint32_t)fz_u16(recs) + 1;
		uint8_t flags = fz_u8(recs);
		r[n].w = flags & 1;
		r[n].rep = (unsigned)fz_u8(recs) + 1;
		n++;
		if (flags & 2)
			break;
	}
	memset(c, 0, offsetof(struct vq_chain, segs));
	/* Readable first, then writable: the order vq_pop() guarantees. */
	for (int pass = 0; pass < 2; pass++)
		for (unsigned i = 0; i < n; i++)
			if (r[i].w == (pass == 1))
				for (unsigned k = 0; k < r[i].rep && c->nseg < VQ_MAX_SEGS; k++)
					add_seg(c, r[i].off + k * r[i].len, r[i].len,
						r[i].w);
	for (unsigned i = 0; i < c->nseg; i++) {
		if (c->segs[i].writable) {
			c->write_len += c->segs[i].len;
		} else {
			c->read_len += c->segs[i].len;
			c->nread++;
		}
	}
	return true;
}

static void ring_done(void *opaque, struct blk_uring_req *r, int res)
{
	blk_request_complete(&be, &r->io, res, opaque);
}

/* The io_uring engine's path for one request, waited for. */
static int run_on_ring(const struct vq_chain *c, struct blk_req_result *res)
{
	struct blk_uring_req *req = blk_uring_get(ring, 0, 4);
	FUZZ_CHECK(req != NULL && blk_uring_inflight(ring, 0) == 1);
	int r = blk_request_prepare(&be, c, &req->io, res);
	if (r != BLK_REQ_ASYNC) {
		blk_uring_put(ring, req);
		return r;
	}
	FUZZ_CHECK(req->io.iovcnt <= req->io.max_iov);
	FUZZ_CHECK(blk_uring_queue(ring, req) == 0);
	if (ring == ring_plain) {
		/* Submitted and waited for in the same call: one completion,
		 * no fd event (none is polled). */
		uint32_t ready = 0;
		FUZZ_CHECK(blk_uring_wait(ring, &ready, ring_done, res) == 1);
		FUZZ_CHECK(ready == 0);
	} else {
		FUZZ_CHECK(blk_uring_drain(ring, false, ring_done, res) == 0);
	}
	FUZZ_CHECK(blk_uring_inflight(ring, 0) == 0);
	return 0;
}

static void run_request(const struct vq_chain *c, uint64_t capacity_bytes,
			uint64_t size_limit, bool use_ring)
{
	struct virtio_blk_outhdr hdr;
	bool have_hdr = vq_chain_read(c, 0, &hdr, sizeof(hdr)) == sizeof(hdr);
	size_t rdata = 0;
	if (have_hdr && c->read_len - sizeof(hdr) <= sizeof(before))
		rdata = vq_chain_read(c, sizeof(hdr), before, sizeof(before));
	bool disjoint = chain_disjoint(c);

	struct blk_req_result res;
	int r = use_ring ? run_on_ring(c, &res) : blk_request_execute(&be, c, &res);
	if (c->write_len == 0) {
		FUZZ_CHECK(r == -EINVAL && res.used_len == 0);
		return;
	}
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(res.status == VIRTIO_BLK_S_OK || res.status == VIRTIO_BLK_S_IOERR ||
		   res.status == VIRTIO_BLK_S_UNSUPP);
	FUZZ_CHECK(res.used_len >= 1 && res.used_len <= c->write_len);
	/* The status is the last byte written, at the last writable byte. */
	uint64_t left = c->write_len - 1;
	for (unsigned i = c->nread; i < c->nseg; i++) {
		if (left < c->segs[i].len) {
			FUZZ_CHECK(c->segs[i].addr[left] == res.status);
			break;
		}
		left -= c->segs[i].len;
	}
	FUZZ_CHECK(file_size() <= size_limit);
	if (be.readonly) {
		struct stat st;
		FUZZ_CHECK(fstat(memfd, &st) == 0);
		FUZZ_CHECK(st.st_size == st_ro.st_size && st.st_blocks == st_ro.st_blocks);
		if ((uint64_t)st.st_size <= RO_COMPARE_MAX) {
			read_file(file_now, 0, RO_COMPARE_MAX);
			FUZZ_CHECK(memcmp(file_now, file_ro, RO_COMPARE_MAX) == 0);
		}
	}
	if (!have_hdr || res.status != VIRTIO_BLK_S_OK)
		return;

	uint32_t type = le32toh(hdr.type);
	uint64_t sector = le64toh(hdr.sector);
	uint64_t wdata = c->write_len - 1;
	if (type == VIRTIO_BLK_T_IN) {
		FUZZ_CHECK(res.used_len == wdata + 1);
		FUZZ_CHECK(sector * BLK_SECTOR_SIZE + wdata <= capacity_bytes);
		if (disjoint && wdata) {
			read_file(file_now, sector * BLK_SECTOR_SIZE, wdata);
			FUZZ_CHECK(gather_writable(c, got, wdata) == wdata);
			FUZZ_CHECK(memcmp(got, file_now, wdata) == 0);
		}
	} else if (type == VIRTIO_BLK_T_OUT) {
		FUZZ_CHECK(!be.readonly);
		FUZZ_CHECK(res.used_len == 1);
		uint64_t n = c->read_len - sizeof(hdr);
		FUZZ_CHECK(sector * BLK_SECTOR_SIZE + n <= capacity_bytes);
		if (n && rdata == n) {
			read_file(file_now, sector * BLK_SECTOR_SIZE, n);
			FUZZ_CHECK(memcmp(before, file_now, n) == 0);
		}
	} else if (type == VIRTIO_BLK_T_WRITE_ZEROES && rdata == c->read_len - sizeof(hdr)) {
		const struct virtio_blk_discard_write_zeroes *rg = (const void *)before;
		for (size_t i = 0; i < rdata / sizeof(*rg); i++) {
			uint64_t s = le64toh(rg[i].sector);
			uint64_t cnt = le32toh(rg[i].num_sectors);
			FUZZ_CHECK(s <= capacity_bytes / BLK_SECTOR_SIZE &&
				   cnt <= capacity_bytes / BLK_SECTOR_SIZE - s);
			size_t n = (size_t)(cnt * BLK_SECTOR_SIZE);
			read_file(file_now, s * BLK_SECTOR_SIZE, n);
			FUZZ_CHECK(n == 0 || (file_now[0] == 0 &&
					      memcmp(file_now, file_now + 1, n - 1) == 0));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t flags = fz_u8(&f);
	uint8_t offa = fz_u8(&f);
	uint32_t cap = fz_u16(&f) % (MAX_CAPACITY + 1);
	uint64_t capacity_bytes = (uint64_t)cap * BLK_SECTOR_SIZE;
	uint64_t fsize = fz_u32(&f) % (capacity_bytes + 1);

	struct fz recs = { NULL, 0 };
	if (f.n > 0) {
		unsigned n = f.p[f.n - 1] % (MAX_RECS + 1);
		f.n--;
		size_t len = (size_t)n * REC_LEN;
		if (len > f.n)
			len = f.n - f.n % REC_LEN;
		recs = (struct fz){ f.p + f.n - len, len };
		f.n -= len;
	}
	fuzz_mem_fill(&fm, &f);

	/* A fresh file: zeros, a recognisable first sector. */
	FUZZ_CHECK(ftruncate(memfd, 0) == 0);
	FUZZ_CHECK(ftruncate(memfd, (off_t)fsize) == 0);
	if (fsize >= BLK_SECTOR_SIZE) {
		uint8_t pat[BLK_SECTOR_SIZE];
		for (unsigned i = 0; i < sizeof(pat); i++)
			pat[i] = (uint8_t)(i * 7 + 1);
		FUZZ_CHECK(pwrite(memfd, pat, sizeof(pat), 0) == (ssize_t)sizeof(pat));
	}

	memset(&be, 0, offsetof(struct blk_backend, iov));
	be.name = "fuzz-blk";
	be.fd = memfd;
	be.capacity_sectors = cap;
	be.readonly = flags & 1;
	memcpy(be.id, "fuzz-disk-serial-num", sizeof(be.id));
	blk_backend_probe(&be);
	if (flags & 4)
		be.discard_ok = false;
	if (flags & 8)
		be.write_zeroes_ok = false;
	if (offa & 4)
		be.punch_hole_works = false;
	if (flags & 2) {
		be.direct = true;
		unsigned ma = (flags >> 4) % 13;
		be.dio_mem_align = 1u << ma;
		be.dio_offset_align = BLK_SECTOR_SIZE << (offa % 4);
		be.bounce = bounce;
	}
	if (be.readonly) {
		FUZZ_CHECK(fstat(memfd, &st_ro) == 0);
		read_file(file_ro, 0, RO_COMPARE_MAX);
	}

	uint64_t size_limit = fsize > capacity_bytes ? fsize : capacity_bytes;
	ring = offa & 16 ? ring_fixed : ring_plain;
	bool use_ring = (offa & 8) && ring;
	for (unsigned i = 0; i < MAX_REQS && next_chain(&recs, &chain); i++)
		run_request(&chain, capacity_bytes, size_limit, use_ring);
	return 0;
}
