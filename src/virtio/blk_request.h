/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk request parsing and execution (virtio 1.x, 5.2.6 "Device
 * Operation"), apart from the device so that it can be unit-tested and
 * fuzzed on its own: it needs a popped struct vq_chain and a backend, no
 * virtqueue, no thread, no KVM.
 *
 * A request is a descriptor chain laid out as
 *
 *	readable:  struct virtio_blk_outhdr (16 bytes), then for OUT the data
 *	           and for DISCARD/WRITE_ZEROES the range segments
 *	writable:  for IN and GET_ID the data, then the status byte, which is
 *	           always the LAST writable byte
 *
 * Segment boundaries do not matter: the header, the data and the status
 * byte may be split across descriptors or share one.
 *
 * Everything in the chain is untrusted. Sector ranges are checked against
 * the capacity before any I/O (without overflow), so the file is never read
 * or written outside [0, capacity * 512) whatever the guest sends.
 *
 * Statuses:
 *   IN, OUT     data length not a multiple of 512, a range past the
 *               capacity (incl. sector * 512 + len overflowing): IOERR;
 *               OUT on a read-only disk: IOERR, nothing written (spec).
 *               A read past the end of a file that shrank under us fills
 *               zeros.
 *   FLUSH       fdatasync(); OK on a read-only disk without syncing.
 *               A failed fdatasync poisons the backend (flush_failed):
 *               from then on every FLUSH, OUT, DISCARD and WRITE_ZEROES
 *               gets IOERR without touching the file, until the device
 *               is reset (blk_backend_reset_error()). Linux reports a
 *               writeback error once per open file and drops the pages
 *               that failed, so a second fdatasync would return 0 with
 *               the data lost; the guest must not be told a later flush
 *               made anything durable (QEMU behaves the same). Reads go on.
 *               A failed OUT (pwritev error) does not poison: the error
 *               is synchronous and covers exactly that request's data,
 *               which the guest is told about (IOERR), and the page cache
 *               holds nothing the kernel silently dropped (QEMU reports
 *               a write error per request too).
 *   GET_ID      copies min(20, data length) bytes of the NUL-padded id.
 *   DISCARD     ranges of struct virtio_blk_discard_write_zeroes; the
 *   WRITE_ZEROES  readable data must be a whole number of them, at most
 *               max_*_seg, each at most max_*_sectors and inside the
 *               capacity, else IOERR. Unknown flags, and UNMAP on DISCARD:
 *               UNSUPP (spec). A command the backend does not offer:
 *               UNSUPP. On a read-only disk: IOERR.
 *               DISCARD punches a hole (PUNCH_HOLE|KEEP_SIZE); should
 *               the file system refuse at run time it is a no-op (discard
 *               is only a hint). WRITE_ZEROES with UNMAP punches a hole;
 *               without UNMAP (or when punching fails) it uses ZERO_RANGE,
 *               which keeps the blocks allocated; without ZERO_RANGE
 *               (tmpfs) it punches and then re-allocates (fallocate mode
 *               0, best effort); with neither it writes zeros. Reads of
 *               the range return zeros afterwards in every case, and
 *               fallocate never changes the file size (KEEP_SIZE).
 *   anything else (SCSI, GET_LIFETIME, SECURE_ERASE, zoned, legacy
 *               barrier/FLUSH_OUT): UNSUPP.
 *   a readable part shorter than the header: IOERR.
 *   no writable byte at all (nowhere to put the status): nothing is
 *               executed and blk_request_execute() returns -EINVAL; the
 *               device completes the chain with 0 bytes written.
 *
 * Used length: data bytes actually placed in the guest's buffers plus the
 * status byte, i.e. data + 1 for a successful IN/GET_ID, 1 otherwise. (The
 * spec lets the device report no more than it wrote; Linux ignores it.)
 *
 * O_DIRECT backends: offsets and lengths are multiples of 512 by
 * construction; when the file system needs more (dio_offset_align > 512) a
 * misaligned request fails with IOERR (the device advertises that size as
 * blk_size, so a well-behaved driver never sends one). Guest buffers that do
 * not meet the memory alignment (or a segment length that is not a multiple
 * of the offset alignment) go through an aligned bounce buffer in chunks.
 *
 * Two ways to run a request:
 *  - blk_request_execute(): all of it, synchronously (preadv/pwritev,
 *    fdatasync, fallocate): the sync engine, and the fallback for what the
 *    asynchronous one does not take;
 *  - blk_request_prepare() + blk_request_complete(): the io_uring engine
 *    (blk_uring.h). Prepare parses and checks the request exactly as
 *    execute does; an IN or OUT that passed every check (and whose data
 *    fits io->max_iov iovecs, or io->grow makes room, and, with O_DIRECT,
 *    needs no bounce buffer)
 *    (io->grow may make room for more) and a FLUSH that is not answered
 *    at once (read-only, poisoned) are
 *    handed back as a struct blk_io for the engine to run (readv, writev,
 *    fsync with DATASYNC); everything else (GET_ID, DISCARD,
 *    WRITE_ZEROES, bad requests) is executed on the spot, status written.
 *    Complete takes the engine's result (bytes or -errno), finishes a
 *    short transfer synchronously, writes the status byte and poisons the
 *    backend on a failed flush, as execute does.
 *  Both give the same statuses, used lengths and file contents for the
 *  same request; the fuzz target checks them through either.
 *
  * Thread safety: a backend (its scratch iovecs, bounce buffer and probed
 * fallbacks) is used by one thread at a time.
 */
#ifndef CVMM_VIRTIO_BLK_REQUEST_H
#define CVMM_VIRTIO_BLK_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_blk.h>

#include "log.h"
#include "virtio/queue.h"

#define BLK_SECTOR_SHIFT 9
#define BLK_SECTOR_SIZE 512u

/* Size of the O_DIRECT bounce buffer (allocated by the owner). */
#define BLK_BOUNCE_SIZE (1u << 20)

/* Limits the device advertises and the request code enforces. */
#define BLK_MAX_DISCARD_SECTORS (1u << 22)      /* 2 GiB per range */
#define BLK_MAX_DISCARD_SEG 32u
#define BLK_MAX_WRITE_ZEROES_SECTORS (1u << 22)
#define BLK_MAX_WRITE_ZEROES_SEG 32u

struct blk_backend {
	const char *name; /* for log messages; NULL: "virtio-blk" */
	int fd;
	uint64_t capacity_sectors;
	bool readonly;
	char id[VIRTIO_BLK_ID_BYTES]; /* NUL-padded, not NUL-terminated at 20 */

	/* Offered commands (the device sets the feature bits from these). */
	bool discard_ok;       /* PUNCH_HOLE works: DISCARD */
	bool write_zeroes_ok;  /* WRITE_ZEROES (any writable disk) */

	/* Run-time fallbacks: cleared when the file system says EOPNOTSUPP. */
	bool punch_hole_works;
	bool zero_range_works;

	/* O_DIRECT: alignments (powers of two) and the bounce buffer. */
	bool direct;
	uint32_t dio_mem_align;    /* guest buffer address alignment */
	uint32_t dio_offset_align; /* file offset / length / segment length */
	uint8_t *bounce;           /* BLK_BOUNCE_SIZE bytes, aligned */

	/* A flush failed: writes and flushes fail until reset (above). */
	bool flush_failed;

	/* Guest-triggerable messages (bad requests, host I/O errors). */
	struct ratelimit rl;

	/* Scratch, one request at a time. */
	struct iovec iov[VQ_MAX_SEGS];
};

/* A request the engine runs (blk_request_prepare). */
enum blk_io_op { BLK_IO_READ, BLK_IO_WRITE, BLK_IO_FLUSH };

struct blk_io {
	/* The caller's: room for max_iov iovecs at iov. */
	struct iovec *iov;
	unsigned max_iov;
	/* Optional, the caller's: room for n > max_iov iovecs (iov and
	 * max_iov changed, true), or none (false: the request runs
	 * synchronously). The caller takes it back after completion. */
	bool (*grow)(struct blk_io *io, unsigned n);
	/* Filled by blk_request_prepare() for BLK_REQ_ASYNC. */
	enum blk_io_op op;
	uint32_t type;    /* VIRTIO_BLK_T_* */
	uint64_t off;     /* file offset (READ, WRITE) */
	uint64_t len;     /* data bytes (READ, WRITE) */
	unsigned iovcnt;  /* iovecs used at iov */
	uint8_t *status;  /* the status byte, in guest memory */
};

struct blk_req_result {
	uint32_t type;      /* VIRTIO_BLK_T_* from the header (or UINT32_MAX) */
	uint8_t status;     /* VIRTIO_BLK_S_* written to the status byte */
	uint32_t used_len;  /* for vq_push_used(): data placed + status byte */
	uint64_t data_len;  /* bytes moved between guest and file (counters) */
};

/*
 * Parses and executes one request and writes its status byte.
 * Returns 0 with *res filled, or -EINVAL when the chain has no writable
 * byte for the status (nothing executed, res->used_len 0). I/O errors are
 * reported to the guest (IOERR), never returned.
 */
int blk_request_execute(struct blk_backend *be, const struct vq_chain *chain,
			struct blk_req_result *res);

/*
 * As blk_request_execute(), except that a READ, WRITE or FLUSH the engine
 * can run is not executed: *io describes it and BLK_REQ_ASYNC is returned
 * (the chain's buffers must stay the guest's until it completes). 0 (done,
 * *res filled) and -EINVAL as blk_request_execute().
 */
#define BLK_REQ_ASYNC 1
int blk_request_prepare(struct blk_backend *be, const struct vq_chain *chain,
			struct blk_io *io, struct blk_req_result *res);
/*
 * The engine ran *io: result is the bytes transferred (READ, WRITE) or 0
 * (FLUSH), or -errno. Writes the status byte, fills *res as
 * blk_request_execute() would have. io->iov is consumed.
 */
void blk_request_complete(struct blk_backend *be, struct blk_io *io,
			  int64_t result, struct blk_req_result *res);

/* Device reset: a failed flush no longer fails later requests. */
void blk_backend_reset_error(struct blk_backend *be);

/*
 * Probes what the file system of be->fd supports without changing the
 * image's contents (a hole punched past the end of the file, KEEP_SIZE):
 * DISCARD and WRITE_ZEROES are offered (discard_ok, write_zeroes_ok) when
 * holes can be punched; ZERO_RANGE is simply tried on first use
 * (zero_range_works starts true). Read-only backends, block devices and
 * file systems without hole punching offer neither.
 */
void blk_backend_probe(struct blk_backend *be);

#endif
