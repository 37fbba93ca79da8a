/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk requests: see blk_request.h. Written from the virtio 1.x
 * specification, section 5.2 (Block Device).
 */
#include "virtio/blk_request.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "virtio/guest_dma.h"

_Static_assert(VQ_MAX_SEGS <= IOV_MAX, "a chain's segments must fit one preadv");
_Static_assert(BLK_BOUNCE_SIZE % 4096 == 0, "bounce chunks stay aligned");

/* Written into the file by the WRITE_ZEROES fallback; aligned for O_DIRECT. */
static const uint8_t zero_block[64 * 1024] __attribute__((aligned(4096)));

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static bool range_ok(const struct blk_backend *be, uint64_t sector,
		     uint64_t nsect)
{
	/* vm.resize-disk may grow it while the device runs. */
	uint64_t cap = __atomic_load_n(&be->capacity_sectors, __ATOMIC_ACQUIRE);
	return sector <= cap && nsect <= cap - sector;
}

/*
 * Points be->iov at bytes [off, off + len) of the readable (writable false)
 * or writable part of the chain; the caller made sure the part is that long.
 * Returns the number of iovecs (0 for len 0).
 */
static int build_iov(struct blk_backend *be, const struct vq_chain *c,
		     bool writable, uint64_t off, uint64_t len)
{
	unsigned i = writable ? c->nread : 0;
	unsigned end = writable ? c->nseg : c->nread;
	int n = 0;
	for (; i < end && len > 0; i++) {
		const struct vq_seg *s = &c->segs[i];
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		uint64_t take = min_u64(s->len - off, len);
		be->iov[n++] = (struct iovec){ .iov_base = s->addr + off,
					       .iov_len = (size_t)take };
		off = 0;
		len -= take;
	}
	return n;
}

/* Drops the first n bytes of the iovec array (n <= its total). */
static void iov_advance(struct iovec **iov, int *cnt, size_t n)
{
	while (*cnt > 0 && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt > 0 && n > 0) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

static void iov_zero(const struct iovec *iov, int cnt)
{
	guest_dma_begin();
	for (int i = 0; i < cnt; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
	guest_dma_end();
}

/*
 * Copies len bytes between a flat buffer and the iovec array starting at
 * byte `skip` of the array: to_iov true copies buf -> iov.
 */
static void iov_copy(const struct iovec *iov, int cnt, uint64_t skip,
		     uint8_t *buf, size_t len, bool to_iov)
{
	for (int i = 0; i < cnt && len > 0; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t take = (size_t)min_u64(iov[i].iov_len - skip, len);
		uint8_t *p = (uint8_t *)iov[i].iov_base + skip;
		guest_dma_begin();
		if (to_iov)
			memcpy(p, buf, take);
		else
			memcpy(buf, p, take);
		guest_dma_end();
		buf += take;
		len -= take;
		skip = 0;
	}
}

/*
 * preadv/pwritev until the whole iovec array is transferred: retries on
 * EINTR and short transfers. A read that reaches the end of the file zeroes
 * what is left (the file may be shorter than the capacity). The array is
 * consumed. Returns 0 or -errno (-EIO for a write that makes no progress).
 */
static int rw_full(int fd, bool write, struct iovec *iov, int cnt, uint64_t off)
{
	while (cnt > 0) {
		guest_dma_begin();
		ssize_t r = write ? pwritev(fd, iov, cnt, (off_t)off)
				  : preadv(fd, iov, cnt, (off_t)off);
		guest_dma_end();
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0) {
			if (write)
				return -EIO;
			iov_zero(iov, cnt);
			return 0;
		}
		off += (uint64_t)r;
		iov_advance(&iov, &cnt, (size_t)r);
	}
	return 0;
}

static bool iov_dio_aligned(const struct blk_backend *be,
			    const struct iovec *iov, int cnt)
{
	uintptr_t mem_mask = be->dio_mem_align - 1;
	size_t len_mask = be->dio_offset_align - 1;
	for (int i = 0; i < cnt; i++) {
		if (((uintptr_t)iov[i].iov_base & mem_mask) ||
		    (iov[i].iov_len & len_mask))
			return false;
	}
	return true;
}

/* O_DIRECT with guest buffers it cannot take: through be->bounce in chunks. */
static int rw_bounce(struct blk_backend *be, bool write,
		     const struct iovec *iov, int cnt, uint64_t total,
		     uint64_t off)
{
	for (uint64_t done = 0; done < total;) {
		size_t chunk = (size_t)min_u64(total - done, BLK_BOUNCE_SIZE);
		struct iovec b = { .iov_base = be->bounce, .iov_len = chunk };
		if (write)
			iov_copy(iov, cnt, done, be->bounce, chunk, false);
		int r = rw_full(be->fd, write, &b, 1, off + done);
		if (r < 0)
			return r;
		if (!write)
			iov_copy(iov, cnt, done, be->bounce, chunk, true);
		done += chunk;
	}
	return 0;
}

/* Internal status: the request goes to the asynchronous engine (*io). */
#define BLK_ST_ASYNC 0xffu

/*
 * Whether an IN/OUT of cnt iovecs (in be->iov) can go to the engine as it
 * is: with O_DIRECT the guest's buffers meet the alignment (else the
 * bounce buffer, synchronously), and there is room for its iovecs (or the
 * engine makes some: io->grow, asked last).
 */
static bool async_ok(const struct blk_backend *be, struct blk_io *io,
		     int cnt)
{
	return io && (!be->direct || iov_dio_aligned(be, be->iov, cnt)) &&
	       ((unsigned)cnt <= io->max_iov ||
		(io->grow && io->grow(io, (unsigned)cnt)));
}

/* IN (write false: file -> guest) and OUT (guest -> file); with io, an
 * eligible one is handed to the engine (BLK_ST_ASYNC). */
static uint8_t do_rw(struct blk_backend *be, const struct vq_chain *c,
		     bool write, uint64_t sector, uint64_t data_off,
		     uint64_t len, struct blk_io *io)
{
	if (write && be->flush_failed)
		return VIRTIO_BLK_S_IOERR;
	if (write && be->readonly) {
		log_ratelimited(&be->rl, LOG_DEBUG, "%s: write to a read-only disk",
				be->name);
		return VIRTIO_BLK_S_IOERR;
	}
	if (len % BLK_SECTOR_SIZE) {
		log_ratelimited(&be->rl, LOG_DEBUG,
				"%s: %s of %llu bytes, not whole sectors",
				be->name, write ? "write" : "read",
				(unsigned long long)len);
		return VIRTIO_BLK_S_IOERR;
	}
	if (!range_ok(be, sector, len >> BLK_SECTOR_SHIFT)) {
		log_ratelimited(&be->rl, LOG_DEBUG,
				"%s: %s of sectors %llu+%llu past the capacity %llu",
				be->name, write ? "write" : "read",
				(unsigned long long)sector,
				(unsigned long long)(len >> BLK_SECTOR_SHIFT),
				(unsigned long long)__atomic_load_n(&be->capacity_sectors,
								    __ATOMIC_ACQUIRE));
		return VIRTIO_BLK_S_IOERR;
	}
	if (len == 0)
		return VIRTIO_BLK_S_OK;
	uint64_t off = sector << BLK_SECTOR_SHIFT;
	int cnt = build_iov(be, c, !write, data_off, len);
	int r;
	if (be->direct && ((off | len) & (be->dio_offset_align - 1))) {
		log_ratelimited(&be->rl, LOG_DEBUG,
				"%s: request not aligned to %u bytes (direct=on)",
				be->name, be->dio_offset_align);
		return VIRTIO_BLK_S_IOERR;
	}
	if (async_ok(be, io, cnt)) {
		io->op = write ? BLK_IO_WRITE : BLK_IO_READ;
		io->off = off;
		io->len = len;
		io->iovcnt = (unsigned)cnt;
		memcpy(io->iov, be->iov, (size_t)cnt * sizeof(be->iov[0]));
		return BLK_ST_ASYNC;
	}
	if (be->direct) {
		if (iov_dio_aligned(be, be->iov, cnt))
			r = rw_full(be->fd, write, be->iov, cnt, off);
		else
			r = rw_bounce(be, write, be->iov, cnt, len, off);
	} else {
		r = rw_full(be->fd, write, be->iov, cnt, off);
	}
	if (r < 0) {
		log_ratelimited(&be->rl, LOG_WARN, "%s: %s at %llu: %s", be->name,
				write ? "write" : "read",
				(unsigned long long)off, strerror(-r));
		return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

static bool unsupported_errno(int e)
{
	return e == EOPNOTSUPP || e == ENOSYS;
}

static int punch_hole(struct blk_backend *be, uint64_t off, uint64_t len)
{
	if (!be->punch_hole_works)
		return -EOPNOTSUPP;
	if (fallocate(be->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) == 0)
		return 0;
	int e = errno;
	if (unsupported_errno(e))
		be->punch_hole_works = false;
	return -e;
}

static int write_zeros(struct blk_backend *be, uint64_t off, uint64_t len)
{
	while (len > 0) {
		size_t chunk = (size_t)min_u64(len, sizeof(zero_block));
		struct iovec v = { .iov_base = (void *)zero_block, .iov_len = chunk };
		int r = rw_full(be->fd, true, &v, 1, off);
		if (r < 0)
			return r;
		off += chunk;
		len -= chunk;
	}
	return 0;
}

/*
 * WRITE_ZEROES of one range: afterwards reads return zeros. With unmap the
 * range may be deallocated; without, it stays (or becomes) allocated.
 */
static int zero_range(struct blk_backend *be, uint64_t off, uint64_t len,
		      bool unmap)
{
	int r;
	if (unmap) {
		r = punch_hole(be, off, len);
		if (r == 0 || !unsupported_errno(-r))
			return r;
	}
	if (be->zero_range_works) {
		if (fallocate(be->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			      (off_t)off, (off_t)len) == 0)
			return 0;
		if (!unsupported_errno(errno))
			return -errno;
		be->zero_range_works = false;
	}
	/* No ZERO_RANGE (tmpfs, for one): punch, then allocate again. */
	r = punch_hole(be, off, len);
	if (r == 0) {
		if (!unmap)
			(void)fallocate(be->fd, FALLOC_FL_KEEP_SIZE, (off_t)off,
					(off_t)len); /* best effort */
		return 0;
	}
	if (!unsupported_errno(-r))
		return r;
	return write_zeros(be, off, len);
}

/* DISCARD and WRITE_ZEROES: a list of ranges in the readable data. */
static uint8_t do_ranges(struct blk_backend *be, const struct vq_chain *c,
			 bool wz, uint64_t data_off, uint64_t len)
{
	const char *what = wz ? "write-zeroes" : "discard";
	if (wz ? !be->write_zeroes_ok : !be->discard_ok)
		return VIRTIO_BLK_S_UNSUPP;
	if (be->readonly || be->flush_failed)
		return VIRTIO_BLK_S_IOERR;
	uint32_t max_seg = wz ? BLK_MAX_WRITE_ZEROES_SEG : BLK_MAX_DISCARD_SEG;
	uint32_t max_sect = wz ? BLK_MAX_WRITE_ZEROES_SECTORS
			       : BLK_MAX_DISCARD_SECTORS;
	struct virtio_blk_discard_write_zeroes r[BLK_MAX_DISCARD_SEG > BLK_MAX_WRITE_ZEROES_SEG
							? BLK_MAX_DISCARD_SEG
							: BLK_MAX_WRITE_ZEROES_SEG];
	if (len == 0 || len % sizeof(r[0]) || len / sizeof(r[0]) > max_seg) {
		log_ratelimited(&be->rl, LOG_DEBUG,
				"%s: %s with %llu bytes of ranges", be->name,
				what, (unsigned long long)len);
		return VIRTIO_BLK_S_IOERR;
	}
	unsigned n = (unsigned)(len / sizeof(r[0]));
	/* One copy out of guest memory: validated and used from here. */
	vq_chain_read(c, data_off, r, len);
	for (unsigned i = 0; i < n; i++) {
		uint32_t flags = le32toh(r[i].flags);
		if ((flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ||
		    (!wz && flags)) {
			log_ratelimited(&be->rl, LOG_DEBUG,
					"%s: %s with flags %#x", be->name, what,
					flags);
			return VIRTIO_BLK_S_UNSUPP;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t sector = le64toh(r[i].sector);
		uint32_t nsect = le32toh(r[i].num_sectors);
		if (nsect > max_sect || !range_ok(be, sector, nsect)) {
			log_ratelimited(&be->rl, LOG_DEBUG,
					"%s: %s of sectors %llu+%u out of range",
					be->name, what,
					(unsigned long long)sector, nsect);
			return VIRTIO_BLK_S_IOERR;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t off = le64toh(r[i].sector) << BLK_SECTOR_SHIFT;
		uint64_t bytes = (uint64_t)le32toh(r[i].num_sectors) << BLK_SECTOR_SHIFT;
		if (bytes == 0)
			continue;
		int ret;
		if (wz) {
			bool unmap = le32toh(r[i].flags) & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
			ret = zero_range(be, off, bytes, unmap);
		} else {
			ret = punch_hole(be, off, bytes);
			if (ret < 0 && unsupported_errno(-ret))
				ret = 0; /* discard is a hint */
		}
		if (ret < 0) {
			log_ratelimited(&be->rl, LOG_WARN, "%s: %s at %llu: %s",
					be->name, what, (unsigned long long)off,
					strerror(-ret));
			return VIRTIO_BLK_S_IOERR;
		}
	}
	return VIRTIO_BLK_S_OK;
}

static uint8_t do_flush(struct blk_backend *be, struct blk_io *io)
{
	if (be->readonly)
		return VIRTIO_BLK_S_OK;
	if (be->flush_failed)
		return VIRTIO_BLK_S_IOERR;
	if (io) {
		io->op = BLK_IO_FLUSH;
		io->off = io->len = 0;
		io->iovcnt = 0;
		return BLK_ST_ASYNC;
	}
	if (fdatasync(be->fd) < 0) {
		be->flush_failed = true;
		log_ratelimited(&be->rl, LOG_WARN, "%s: flush: %s", be->name,
				strerror(errno));
		return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

void blk_backend_reset_error(struct blk_backend *be)
{
	be->flush_failed = false;
}

/* The last writable byte of the chain (write_len > 0): the status. */
static uint8_t *status_byte(const struct vq_chain *c)
{
	uint64_t left = c->write_len - 1;
	for (unsigned i = c->nread; i < c->nseg; i++) {
		if (left < c->segs[i].len)
			return c->segs[i].addr + left;
		left -= c->segs[i].len;
	}
	return NULL; /* not reached: write_len is the segments' sum */
}

static int request_run(struct blk_backend *be, const struct vq_chain *chain,
		       struct blk_io *io, struct blk_req_result *res)
{
	*res = (struct blk_req_result){ .type = UINT32_MAX,
					.status = VIRTIO_BLK_S_IOERR };
	if (!be->name)
		be->name = "virtio-blk";
	if (chain->write_len == 0) {
		log_ratelimited(&be->rl, LOG_DEBUG,
				"%s: request without a status byte", be->name);
		return -EINVAL;
	}
	/* Writable bytes before the status byte. */
	uint64_t wdata = chain->write_len - 1;
	uint64_t placed = 0;
	uint8_t st;
	struct virtio_blk_outhdr hdr;
	if (vq_chain_read(chain, 0, &hdr, sizeof(hdr)) != sizeof(hdr)) {
		log_ratelimited(&be->rl, LOG_DEBUG,
				"%s: request header too short (%llu bytes)",
				be->name, (unsigned long long)chain->read_len);
		st = VIRTIO_BLK_S_IOERR;
		goto out;
	}
	uint32_t type = le32toh(hdr.type);
	uint64_t sector = le64toh(hdr.sector);
	uint64_t rdata = chain->read_len - sizeof(hdr);
	res->type = type;

	switch (type) {
	case VIRTIO_BLK_T_IN:
		st = do_rw(be, chain, false, sector, 0, wdata, io);
		if (st == VIRTIO_BLK_S_OK)
			res->data_len = placed = wdata;
		break;
	case VIRTIO_BLK_T_OUT:
		st = do_rw(be, chain, true, sector, sizeof(hdr), rdata, io);
		if (st == VIRTIO_BLK_S_OK)
			res->data_len = rdata;
		break;
	case VIRTIO_BLK_T_FLUSH:
		st = do_flush(be, io);
		break;
	case VIRTIO_BLK_T_GET_ID:
		placed = min_u64(wdata, VIRTIO_BLK_ID_BYTES);
		vq_chain_write(chain, 0, be->id, (size_t)placed);
		st = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		st = do_ranges(be, chain, type == VIRTIO_BLK_T_WRITE_ZEROES,
			       sizeof(hdr), rdata);
		break;
	default:
		log_ratelimited(&be->rl, LOG_DEBUG,
				"%s: unsupported request type %u", be->name, type);
		st = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	if (st == BLK_ST_ASYNC) {
		io->type = type;
		io->status = status_byte(chain);
		return BLK_REQ_ASYNC;
	}
out:
	vq_chain_write(chain, chain->write_len - 1, &st, 1);
	res->status = st;
	/* placed <= write_len - 1 < 2^32 (vq_pop caps a chain at 2^32 bytes). */
	res->used_len = (uint32_t)(placed + 1);
	return 0;
}

int blk_request_execute(struct blk_backend *be, const struct vq_chain *chain,
			struct blk_req_result *res)
{
	return request_run(be, chain, NULL, res);
}

int blk_request_prepare(struct blk_backend *be, const struct vq_chain *chain,
			struct blk_io *io, struct blk_req_result *res)
{
	return request_run(be, chain, io, res);
}

void blk_request_complete(struct blk_backend *be, struct blk_io *io,
			  int64_t result, struct blk_req_result *res)
{
	uint8_t st = VIRTIO_BLK_S_OK;
	int err = result < 0 ? (int)-result : 0;
	if (io->op == BLK_IO_FLUSH) {
		/* Failed once, failed for good (blk_request.h); a flush that ran
		 * beside the failed one may have found the error taken. */
		if (err) {
			be->flush_failed = true;
			log_ratelimited(&be->rl, LOG_WARN, "%s: flush: %s",
					be->name, strerror(err));
		}
		if (be->flush_failed)
			st = VIRTIO_BLK_S_IOERR;
	} else {
		bool write = io->op == BLK_IO_WRITE;
		if (!err && (uint64_t)result < io->len) {
			/* Short: the rest here, as the synchronous path does
			 * (zeros past the end of the file for a read). */
			struct iovec *iov = io->iov;
			int cnt = (int)io->iovcnt;
			iov_advance(&iov, &cnt, (size_t)result);
			err = -rw_full(be->fd, write, iov, cnt,
				       io->off + (uint64_t)result);
		}
		if (err) {
			log_ratelimited(&be->rl, LOG_WARN, "%s: %s at %llu: %s",
					be->name, write ? "write" : "read",
					(unsigned long long)io->off, strerror(err));
			st = VIRTIO_BLK_S_IOERR;
		}
	}
	guest_dma_begin();
	*io->status = st;
	guest_dma_end();
	*res = (struct blk_req_result){
		.type = io->type,
		.status = st,
		.used_len = st == VIRTIO_BLK_S_OK && io->op == BLK_IO_READ
				    ? (uint32_t)(io->len + 1) : 1,
		.data_len = st == VIRTIO_BLK_S_OK ? io->len : 0,
	};
}

void blk_backend_probe(struct blk_backend *be)
{
	be->punch_hole_works = false;
	be->zero_range_works = false;
	be->discard_ok = false;
	be->write_zeroes_ok = false;
	if (be->readonly)
		return;
	struct stat st;
	if (fstat(be->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	/*
	 * Past the end of the file with KEEP_SIZE the image does not change;
	 * a file system without hole punching says EOPNOTSUPP.
	 */
	off_t end = (st.st_size + 4095) & ~(off_t)4095;
	if (fallocate(be->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, end,
		      4096) == 0) {
		be->punch_hole_works = true;
		be->discard_ok = true;
		be->write_zeroes_ok = true;
	}
	/* Tried on first use; tmpfs, for one, has no ZERO_RANGE. */
	be->zero_range_works = true;
}
