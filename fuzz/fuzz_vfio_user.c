/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the vfio-user client (src/vfio/user.c) as a hostile server
 * drives it: its replies (VERSION and its JSON capabilities, DEVICE_GET_INFO,
 * region info and its capability chain, region reads and writes, interrupt
 * info, error replies), the requests a server may send in between
 * (DMA_READ/DMA_WRITE of guest memory, any other command), garbage headers
 * and sizes, and file descriptors in any number with any message.
 *
 * The client is single-threaded here: before each operation the target
 * writes this operation's server messages into its end of a socketpair
 * and then calls the operation, which finds them waiting. The target
 * includes user.c to read the client's next request id (so that a reply
 * can carry the id the client waits for) and to replace two things for
 * it: poll() never sleeps and clock_gettime() is a clock that jumps by
 * the timeout poll was given, so that a client waiting for what the input
 * never sent times out at once, deterministically. Whatever the operation
 * left unread is discarded after it, and what the client sent is read
 * back (its fds closed), so that operations do not leak into each other.
 *
 * Input layout (integers little-endian; reads past the end are zero):
 *   open:  u8 number of messages (mod 5), messages (for VERSION, then
 *          DEVICE_GET_INFO); then vfio_user_open_fd()
 *   ops until the input ends, each:
 *          u8 op, u8 idx, u64 a, u32 b, u8 c, u8 number of messages (mod 6),
 *          messages
 *   message: u8 type, u8 fds (mod 16, dups of a memfd sent with it),
 *          u16 payload length (mod 4097), then by type:
 *     0 reply, id and command of the request the client is waiting for,
 *       the payload made plausible: region index, interrupt index and the
 *       REGION_READ/WRITE echo (offset, region, count; a read's length) set
 *       as the client expects
 *     1 reply, id and command as the client waits for, payload as given
 *     2 error reply: + u32 errno
 *     3 DMA_READ, 4 DMA_WRITE from the server: + u8 window, u16 offset
 *       into it, u32 count (mod 128 KiB), u8 bit 0: NO_REPLY; bit 1: the
 *       address is the next u64 instead
 *     5 another command from the server: + u16 command
 *     6 a raw header: + 16 bytes
 *     7 the server shuts its sending side (nothing more arrives)
 *     then the payload bytes
 *
 * Ops: region read/write/info/mmap, interrupt info, SET_IRQS (eventfds,
 * bools or none), DMA map/unmap (windows into a 32 KiB "guest memory"),
 * reset, device info, vfio_user_service().
 *
 * Checked besides memory safety: guest memory outside the DMA windows is
 * never written; a region's mmap areas are page-aligned and inside it and
 * FLAG_MMAP is set exactly when there are some; interrupt counts stay at
 * most 2048; once the connection is broken every operation fails (and
 * broken stays broken); what the client sends is whole messages of a sane
 * size; after the client is destroyed no file descriptor is left open.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_common.h"

/* The clock the client sees: advanced only by a poll that would wait. */
static uint64_t fake_ms = 1000;

static int fuzz_poll(struct pollfd *p, nfds_t n, int timeout)
{
	int r = poll(p, n, 0);
	if (r == 0 && timeout > 0)
		fake_ms += (uint64_t)timeout;
	return r;
}

static int fuzz_clock_gettime(clockid_t id, struct timespec *ts)
{
	(void)id;
	ts->tv_sec = (time_t)(fake_ms / 1000);
	ts->tv_nsec = (long)(fake_ms % 1000) * 1000000L;
	return 0;
}

#define poll fuzz_poll
#define clock_gettime fuzz_clock_gettime
/* The client under test, statics included (see above), and its socket
 * I/O, so that the two replacements reach unix_msg_wait() too. */
#include "unix_msg.c"
#include "vfio/user.c"
#undef poll
#undef clock_gettime

#define GUEST_SIZE 0x8000u
#define MAX_FDS_SENT 15u
#define MAX_PAYLOAD 4096u
#define NEVENTFD 8u
#define FD_SCAN 256
/* Harness loops that need no coverage feedback (and cost most of the
 * time with it). */
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))

static uint8_t guest[GUEST_SIZE], shadow[GUEST_SIZE];
static uint8_t iobuf[8192];
static uint8_t outbuf[1u << 18];
static int region_fd = -1;         /* a memfd: the "region" fds */
static int efd[NEVENTFD];

/* Open descriptors below FD_SCAN: one poll() tells (POLLNVAL: closed). */
NO_COVERAGE static int count_fds(void)
{
	static struct pollfd p[FD_SCAN];
	for (int i = 0; i < FD_SCAN; i++)
		p[i] = (struct pollfd){ .fd = i, .events = 0 };
	if (poll(p, FD_SCAN, 0) < 0)
		abort();
	int n = 0;
	for (int i = 0; i < FD_SCAN; i++)
		n += !(p[i].revents & POLLNVAL);
	return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_init();
	region_fd = memfd_create("fuzz-vfio-region", MFD_CLOEXEC);
	if (region_fd < 0 || ftruncate(region_fd, 0x10000) < 0)
		abort();
	for (unsigned i = 0; i < NEVENTFD; i++) {
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (efd[i] < 0)
			abort();
	}
	return 0;
}

/* ---- the server's side ---- */

/* What the client is doing, for replies made to fit. */
struct pending {
	unsigned op;
	unsigned idx;
	uint64_t off;     /* region access: its offset ... */
	uint64_t len;     /* ... and length */
	uint16_t id;      /* the id of the next request the client sends */
	unsigned nreply;  /* replies written for this operation so far */
	uint32_t max_xfer;
};

enum op {
	OP_READ, OP_WRITE, OP_REGION_INFO, OP_MMAP, OP_IRQ_INFO, OP_SET_IRQS,
	OP_DMA_MAP, OP_DMA_UNMAP, OP_RESET, OP_DEVICE_INFO, OP_SERVICE, NOPS,
	OP_OPEN = 100,
};

static unsigned cmd_of(const struct pending *p)
{
	switch (p->op) {
	case OP_OPEN: return p->nreply == 0 ? VFIO_USER_VERSION : VFIO_USER_DEVICE_GET_INFO;
	case OP_READ: return VFIO_USER_REGION_READ;
	case OP_WRITE: return VFIO_USER_REGION_WRITE;
	case OP_REGION_INFO: return VFIO_USER_DEVICE_GET_REGION_INFO;
	case OP_IRQ_INFO: return VFIO_USER_DEVICE_GET_IRQ_INFO;
	case OP_SET_IRQS: return VFIO_USER_DEVICE_SET_IRQS;
	case OP_DMA_MAP: return VFIO_USER_DMA_MAP;
	case OP_DMA_UNMAP: return VFIO_USER_DMA_UNMAP;
	case OP_RESET: return VFIO_USER_DEVICE_RESET;
	default: return 0;
	}
}

static void put32(uint8_t *p, size_t len, size_t at, uint32_t v)
{
	if (len >= at + 4)
		memcpy(p + at, &v, 4);
}

/* Sends one message (fds with it); a full socket drops the rest. */
static void server_send(int hfd, const uint8_t *msg, size_t len, unsigned nfds)
{
	int fds[MAX_FDS_SENT];
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = region_fd;
	/* Deadline 0: what does not fit at once is dropped. */
	(void)unix_msg_send(hfd, msg, len, fds, nfds, 0);
}

/* One message record of the input, written to the client. */
static void message(struct fz *f, int hfd, struct pending *p, bool *shut)
{
	static uint8_t msg[HDR_SIZE + 32 + sizeof(iobuf)];
	uint8_t type = fz_u8(f) & 7;
	unsigned nfds = fz_u8(f) % 16u;
	size_t len = fz_u16(f) % (MAX_PAYLOAD + 1);
	struct vfio_user_hdr h = { .flags = VFIO_USER_F_TYPE_REPLY };
	uint8_t *pl = msg + HDR_SIZE;
	size_t pre = 0; /* payload bytes the target writes before the input's */
	if (type <= 2) {
		h.id = (uint16_t)(p->id + p->nreply);
		h.cmd = (uint16_t)cmd_of(p);
		if (type == 2) {
			h.flags |= VFIO_USER_F_ERROR;
			h.error = fz_u32(f);
		}
	} else if (type == 3 || type == 4) {
		uint8_t w = fz_u8(f);
		uint16_t woff = fz_u16(f);
		uint32_t count = fz_u32(f) % 0x20000u;
		uint8_t fl = fz_u8(f);
		uint64_t addr = fl & 2 ? fz_u64(f) : 0;
		h.cmd = type == 3 ? VFIO_USER_DMA_READ : VFIO_USER_DMA_WRITE;
		h.flags = VFIO_USER_F_TYPE_COMMAND | (fl & 1 ? VFIO_USER_F_NO_REPLY : 0);
		h.id = (uint16_t)(0x8000u + w);
		struct vfio_user_dma_access a = { .addr = addr, .count = count };
		if (!(fl & 2))
			a.addr = ((uint64_t)w << 20) + woff; /* windows are mapped there */
		memcpy(pl, &a, sizeof(a));
		pre = sizeof(a);
		if (type == 4 && count <= MAX_PAYLOAD && !(fl & 4))
			len = count; /* a DMA_WRITE carrying its data */
	} else if (type == 5) {
		h.cmd = fz_u16(f);
		h.flags = VFIO_USER_F_TYPE_COMMAND;
	} else if (type == 6) {
		fz_bytes(f, &h, sizeof(h));
	} else {
		shutdown(hfd, SHUT_WR);
		*shut = true;
		return;
	}
	fz_bytes(f, pl + pre, len);
	len += pre;
	if (type == 0) {
		/* Made to fit what the client asked. */
		unsigned cmd = cmd_of(p);
		if (cmd == VFIO_USER_DEVICE_GET_REGION_INFO || cmd == VFIO_USER_DEVICE_GET_IRQ_INFO) {
			put32(pl, len, 8, p->idx);
		} else if (cmd == VFIO_USER_REGION_READ || cmd == VFIO_USER_REGION_WRITE) {
			uint64_t done = (uint64_t)p->nreply * p->max_xfer;
			uint64_t left = p->len > done ? p->len - done : 0;
			struct vfio_user_region_access ra = {
				.offset = p->off + done, .region = p->idx,
				.count = (uint32_t)(left < p->max_xfer ? left : p->max_xfer),
			};
			size_t want = sizeof(ra) + (cmd == VFIO_USER_REGION_READ ? ra.count : 0);
			if (want > len)
				memset(pl + len, 0xa5, want - len); /* the data read */
			len = want;
			memcpy(pl, &ra, sizeof(ra));
		} else if (cmd == VFIO_USER_VERSION && len >= 4) {
			struct vfio_user_version v = { VFIO_USER_MAJOR, VFIO_USER_MINOR };
			memcpy(pl, &v, sizeof(v));
		}
	}
	if (type != 6)
		h.size = (uint32_t)(HDR_SIZE + len);
	memcpy(msg, &h, sizeof(h));
	if (type <= 2)
		p->nreply++;
	server_send(hfd, msg, HDR_SIZE + len, nfds);
}

static void messages(struct fz *f, unsigned n, int hfd, struct pending *p, bool *shut)
{
	for (unsigned i = 0; i < n && !fz_empty(f) && !*shut; i++)
		message(f, hfd, p, shut);
}

/* Whatever is waiting on fd: read and dropped, fds closed; the bytes are
 * kept in outbuf (*len; more than fits is dropped, *whole false). */
static void drain(int fd, size_t *len, bool *whole)
{
	*len = 0;
	*whole = true;
	for (;;) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * 64)];
		} ctl;
		uint8_t sink[4096];
		bool room = *len < sizeof(outbuf);
		struct iovec iov = room ? (struct iovec){ outbuf + *len, sizeof(outbuf) - *len }
					: (struct iovec){ sink, sizeof(sink) };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
		};
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (unsigned i = 0; i < k; i++) {
				int x;
				memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(x);
			}
		}
		if (room)
			*len += (size_t)n;
		else
			*whole = false;
	}
}

/* What the client sent: whole messages of a sane size. */
static void check_sent(size_t len)
{
	size_t at = 0;
	while (at < len) {
		struct vfio_user_hdr h;
		FUZZ_CHECK(len - at >= sizeof(h));
		memcpy(&h, outbuf + at, sizeof(h));
		FUZZ_CHECK(h.size >= HDR_SIZE && h.size <= MAX_MSG);
		FUZZ_CHECK(h.size <= len - at);
		unsigned type = h.flags & VFIO_USER_F_TYPE_MASK;
		FUZZ_CHECK(type == VFIO_USER_F_TYPE_COMMAND || type == VFIO_USER_F_TYPE_REPLY);
		if (type == VFIO_USER_F_TYPE_REPLY && h.cmd == VFIO_USER_DMA_READ &&
		    !(h.flags & VFIO_USER_F_ERROR)) {
			struct vfio_user_dma_access a;
			FUZZ_CHECK(h.size >= HDR_SIZE + sizeof(a));
			memcpy(&a, outbuf + at + HDR_SIZE, sizeof(a));
			FUZZ_CHECK(h.size == HDR_SIZE + sizeof(a) + a.count);
		}
		at += h.size;
	}
}

/* ---- the operations ---- */

/* The DMA windows an operation may have served: those before it, those
 * after it, and the one a DMA map tried (known to the server while it
 * handles the map, even if the map then fails). */
static struct dma_window seen[2 * MAX_DMA_WINDOWS + 1];
static unsigned nseen;

static void seen_add(const struct dma_window *w, unsigned n)
{
	for (unsigned i = 0; i < n && nseen < sizeof(seen) / sizeof(seen[0]); i++)
		seen[nseen++] = w[i];
}


static void check_region(const struct vfio_region_desc *d)
{
	FUZZ_CHECK(d->nareas <= VFIO_MAX_AREAS);
	FUZZ_CHECK(!!(d->flags & VFIO_REGION_INFO_FLAG_MMAP) == (d->nareas > 0));
	for (unsigned i = 0; i < d->nareas; i++) {
		const struct vfio_area *a = &d->areas[i];
		FUZZ_CHECK(a->offset % 4096 == 0);
		FUZZ_CHECK(a->size && a->offset <= d->size && a->size <= d->size - a->offset);
	}
}

static int do_op(struct vfio_backend *b, struct pending *p, uint64_t a, uint32_t n, uint8_t c)
{
	unsigned idx = p->idx;
	switch (p->op) {
	case OP_READ:
	case OP_WRITE: {
		size_t len = (size_t)p->len;
		if (p->op == OP_WRITE) {
			memset(iobuf, c, len);
			return b->ops->region_write(b, idx, a, iobuf, len);
		}
		return b->ops->region_read(b, idx, a, iobuf, len);
	}
	case OP_REGION_INFO: {
		struct vfio_region_desc d;
		int r = b->ops->region_info(b, idx, &d);
		if (!r)
			check_region(&d);
		return r;
	}
	case OP_MMAP: {
		void *m = NULL;
		uint64_t size = n ? n : 4096;
		int r = b->ops->region_mmap(b, idx, a % 0x20000u, size, PROT_READ, &m);
		if (!r)
			munmap(m, size);
		return r;
	}
	case OP_IRQ_INFO: {
		struct vfio_irq_info info;
		int r = b->ops->irq_info(b, idx, &info);
		if (!r)
			FUZZ_CHECK(info.count <= MAX_IRQS && info.index == idx);
		return r;
	}
	case OP_SET_IRQS: {
		static const uint32_t data[] = { VFIO_IRQ_SET_DATA_NONE, VFIO_IRQ_SET_DATA_BOOL,
						 VFIO_IRQ_SET_DATA_EVENTFD };
		static const uint32_t action[] = { VFIO_IRQ_SET_ACTION_MASK,
						   VFIO_IRQ_SET_ACTION_UNMASK,
						   VFIO_IRQ_SET_ACTION_TRIGGER };
		unsigned count = n % (NEVENTFD + 1);
		int32_t fds[NEVENTFD];
		uint8_t bools[NEVENTFD];
		for (unsigned i = 0; i < NEVENTFD; i++) {
			fds[i] = (a >> i) & 1 ? efd[i] : -1;
			bools[i] = (a >> (8 + i)) & 1;
		}
		return b->ops->set_irqs(b, idx, (unsigned)(a >> 16) % 4, count,
					data[c % 3] | action[(c / 3) % 3], fds, bools);
	}
	case OP_DMA_MAP: {
		/* Window i at iova i << 20 (what message type 3/4 aims at),
		 * or anywhere. */
		size_t off = (size_t)(a & (GUEST_SIZE - 1));
		uint64_t size = n % (GUEST_SIZE - off) + 1;
		uint64_t iova = c & 0x80 ? a : (uint64_t)(c & 0xf) << 20;
		struct dma_window w = { iova, size, guest + off };
		seen_add(&w, 1);
		return b->ops->dma_map(b, iova, size, guest + off, -1, 0);
	}
	case OP_DMA_UNMAP: {
		struct vfio_user *u = to_user(b);
		if (u->ndma && !(c & 0x80)) {
			const struct dma_window *w = &u->dma[idx % u->ndma];
			return b->ops->dma_unmap(b, w->iova, w->size);
		}
		return b->ops->dma_unmap(b, a, n);
	}
	case OP_RESET:
		return b->ops->reset(b);
	case OP_DEVICE_INFO: {
		struct vfio_device_info info;
		return b->ops->device_info(b, &info);
	}
	default:
		return vfio_user_service(b);
	}
}

/* Guest memory outside every window is what it was. */
NO_COVERAGE static void check_guest(void)
{
	if (!memcmp(guest, shadow, GUEST_SIZE))
		return;
	for (size_t i = 0; i < GUEST_SIZE; i++) {
		if (guest[i] == shadow[i])
			continue;
		bool inside = false;
		for (unsigned k = 0; k < nseen && !inside; k++)
			inside = guest + i >= seen[k].hva &&
				 (size_t)(guest + i - seen[k].hva) < seen[k].size;
		FUZZ_CHECK(inside);
		shadow[i] = guest[i];
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Counted per input: libFuzzer opens descriptors of its own between
	 * inputs (the symbolizer's pipes, at the first NEW_FUNC line). */
	int fd_baseline = count_fds();
	struct fz f = { data, size };
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	int hfd = sv[1];
	bool shut = false;
	memset(guest, 0x5a, sizeof(guest));
	memcpy(shadow, guest, sizeof(guest));

	struct pending p = { .op = OP_OPEN, .max_xfer = MAX_XFER };
	messages(&f, fz_u8(&f) % 5, hfd, &p, &shut);
	struct vfio_backend *b = NULL;
	int r = vfio_user_open_fd(sv[0], "fuzz.sock", VFIO_USER_TIMEOUT_MS, &b);
	size_t sent;
	bool whole;
	drain(hfd, &sent, &whole);
	FUZZ_CHECK(!r == !!b);
	while (b && !fz_empty(&f)) {
		struct vfio_user *u = to_user(b);
		p = (struct pending){
			.op = fz_u8(&f) % NOPS, .idx = fz_u8(&f) % 80u, .id = u->next_id,
			.max_xfer = u->server_max_xfer,
		};
		uint64_t a = fz_u64(&f);
		uint32_t n = fz_u32(&f);
		uint8_t c = fz_u8(&f);
		p.off = a;
		p.len = n % (sizeof(iobuf) + 1);
		messages(&f, fz_u8(&f) % 6, hfd, &p, &shut);
		bool was_broken = u->broken;
		nseen = 0;
		seen_add(u->dma, u->ndma);
		r = do_op(b, &p, a, n, c);
		FUZZ_CHECK(r <= 0 && r > -4096);
		FUZZ_CHECK(!was_broken || u->broken);
		if (was_broken && p.op != OP_MMAP &&
		    !((p.op == OP_READ || p.op == OP_WRITE) && p.len == 0))
			FUZZ_CHECK(r < 0);
		/* What the operation did not read goes. */
		size_t left;
		drain(u->fd, &left, &whole);
		drain(hfd, &sent, &whole);
		if (!u->broken && whole)
			check_sent(sent);
		seen_add(u->dma, u->ndma);
		check_guest();
	}
	if (b)
		b->ops->destroy(b);
	close(hfd);
	/* libFuzzer's own threads open files for a moment (the RSS thread
	 * reads /proc): a count that differs is counted again. */
	int open_fds = count_fds();
	for (int i = 0; i < 5 && open_fds != fd_baseline; i++) {
		usleep(2000);
		open_fds = count_fds();
	}
	FUZZ_CHECK(open_fds == fd_baseline);
	return 0;
}
