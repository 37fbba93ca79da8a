/* SPDX-License-Identifier: MIT */
/*
 * edu-server: a vfio-user server (QEMU's docs/interop/vfio-user.rst) for
 * cvmm's tests, serving one PCI function compatible with QEMU's "edu"
 * teaching device (QEMU's docs/specs/edu.rst). Test-only; stands alone:
 * nothing of cvmm's sources, only libc and <linux/vfio.h>.
 *
 *   edu-server --socket PATH | --fd N   [options]
 *
 * --socket PATH listens at PATH (it appears only once the server listens:
 * bound under PATH.tmp, then renamed) and serves the first client; --fd N
 * serves an already connected socket. The server exits when its client
 * goes away (status 0), or with status 1 after a protocol error of the
 * client's.
 *
 * The device, as edu has it:
 *   PCI 1234:11e8, revision 0x10, class 0xff (other), INTx pin A;
 *   BAR0: 1 MiB of 32-bit MMIO, region 0: 0x00 identification 0x010000ed,
 *     0x04 liveness (reads the inverse of what was written), 0x08
 *     factorial (computed at the write), 0x20 status (0x01 computing,
 *     0x80 interrupt after a factorial), 0x24 interrupt status, 0x60 raise,
 *     0x64 acknowledge, 0x80/0x88/0x90/0x98 DMA source, destination, count,
 *     command (0x01 start, 0x02 edu to RAM, 0x04 interrupt 0x100 when
 *     done); the 4 KiB DMA buffer at 0x40000 (reached by DMA only);
 *     addresses below 0x80 take 4-byte accesses, above 4 or 8; RAM
 *     addresses are masked to 28 bits, as edu's default dma_mask does;
 *   an MSI capability (one vector, 64-bit addresses) at 0x40.
 * And beyond edu, so that cvmm's tests reach both interrupt kinds and the
 * mapped-BAR path:
 *   an MSI-X capability at 0x50 (2 vectors, or N with --msix-vectors N,
 *     1..2048: DMA completion, status 0x100, on vector 1, everything else
 *     on 0), its table at BAR1 offset 0 and its PBA after it, at 0x800
 *     for up to 128 vectors (BAR1: region 1, trapped, 4 KiB or the power
 *     of two that holds both); --no-msix leaves both out;
 *   register 0x70 (write-only, 4 bytes): writing V raises interrupt
 *     status 0x200 on MSI-X vector V (a plain raise of 0x200 when MSI-X is
 *     off or V is past the table), so that a driver can reach any vector;
 *   BAR0 offered for mmap with a sparse-mmap capability of one area, the
 *     upper half [0x80000, 0x100000): plain memory (a "scratch window")
 *     in the region's memfd, which trapped accesses reach too. The lower
 *     half, the registers, always traps (edu decodes nothing above
 *     0x80000; a driver must not count on the window).
 *
 * DMA goes through the client's memory fd when DMA_MAP gave one, else as
 * DMA_READ/DMA_WRITE messages to the client, sent while the client waits
 * for the reply to the REGION_WRITE that started it: every factorial and
 * DMA completes before the write that starts it is acknowledged.
 * Interrupts go to the eventfds of DEVICE_SET_IRQS: MSI-X when a vector
 * of it has one, else MSI, else INTx (level: automasked when signalled,
 * signalled again on UNMASK while the line is still up).
 *
 * Misbehaviour, for hostile tests (N counts the client's messages, the
 * VERSION request is 1):
 *   --close-after N     close the connection on message N, unanswered
 *   --hang-after N      from message N on, read but never answer
 *   --garbage-after N   answer message N with 64 bytes of junk
 *   --oversize-after N  answer message N with a header claiming 256 MiB
 *   --wrong-id-after N  answer message N (and later ones) with another id
 *   --bad-version       answer VERSION with major version 7
 *   --max-xfer N        max_data_xfer_size (default 1 MiB)
 *   --max-fds N         max_msg_fds (default 8)
 *   --no-mmap           BAR0 not mappable (no fd, no sparse capability)
 *   --msix-vectors N    MSI-X table size (1..2048, default 2)
 *   -v                  log each message on stderr
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/vfio.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- the vfio-user wire format (the spec's, written out again here) ---- */

enum {
	CMD_VERSION = 1, CMD_DMA_MAP = 2, CMD_DMA_UNMAP = 3, CMD_DEVICE_GET_INFO = 4,
	CMD_GET_REGION_INFO = 5, CMD_GET_IRQ_INFO = 7, CMD_SET_IRQS = 8,
	CMD_REGION_READ = 9, CMD_REGION_WRITE = 10, CMD_DMA_READ = 11,
	CMD_DMA_WRITE = 12, CMD_DEVICE_RESET = 13,
};

struct hdr {
	uint16_t id, cmd;
	uint32_t size, flags, error;
};
#define T_COMMAND 0u
#define T_REPLY 1u
#define F_NO_REPLY (1u << 4)
#define F_ERROR (1u << 5)

struct region_access {
	uint64_t offset;
	uint32_t region, count;
};
struct dma_access {
	uint64_t addr, count;
};
struct dma_map {
	uint32_t argsz, flags;
	uint64_t offset, addr, size;
};
struct dma_unmap {
	uint32_t argsz, flags;
	uint64_t addr, size;
};

#define MAX_FDS 8
#define MAX_XFER (1u << 20)
#define MAX_MSG (sizeof(struct hdr) + 64 + MAX_XFER)

/* ---- the device ---- */

#define BAR0_SIZE (1u << 20)
#define WINDOW_OFF 0x80000u /* the scratch window: BAR0's upper half */
#define DMA_BUF_OFF 0x40000u
#define DMA_BUF_SIZE 4096u
#define DMA_MASK ((1ull << 28) - 1)
#define MSI_CAP 0x40
#define MSIX_CAP 0x50
#define MSIX_VECTORS 2        /* default; --msix-vectors N */
#define MSIX_MAX 2048         /* the PCI maximum */
#define PBA_OFF_MIN 0x800     /* the PBA after the table, at least here */
#define REG_RAISE_VECTOR 0x70 /* not edu's: see the header */

#define ST_COMPUTING 0x01u
#define ST_IRQFACT 0x80u
#define DMA_START 0x1u
#define DMA_TO_RAM 0x2u
#define DMA_IRQ 0x4u

struct window {
	uint64_t addr, size;
	uint8_t *ptr; /* the client's memory, mapped; NULL: by message */
};

struct server {
	int fd;
	bool verbose;
	/* options */
	long close_after, hang_after, garbage_after, oversize_after, wrong_id_after;
	bool bad_version, no_msix, no_mmap;
	uint32_t max_xfer, max_fds;
	/* connection */
	long nmsgs;
	uint16_t next_id;
	uint32_t client_max_xfer, client_max_fds;
	uint8_t *buf;  /* a message from the client */
	uint8_t *out;  /* a message to it */
	/* device */
	uint8_t config[256];
	uint8_t *bar1; /* the MSI-X table and PBA (trapped) */
	uint32_t bar1_size, pba_off;
	unsigned msix_vectors;
	int bar0_fd;
	uint8_t *bar0; /* BAR0_SIZE bytes of the memfd, mapped */
	uint32_t liveness, fact, status, irq_status;
	uint64_t dma_src, dma_dst, dma_cnt, dma_cmd;
	uint8_t dma_buf[DMA_BUF_SIZE];
	/* interrupts: index 0 INTx, 1 MSI, 2 MSI-X */
	int intx_fd, msi_fd, *msix_fd;    /* msix_vectors each */
	bool intx_masked, *msix_masked, *msix_pending;
	struct window dma[16];
	unsigned ndma;
};

static void say(struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct server *s, const char *fmt, ...)
{
	if (!s->verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "edu-server: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "edu-server: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

static void config_init(struct server *s)
{
	uint8_t *c = s->config;
	memset(c, 0, sizeof(s->config));
	put16(c + 0x00, 0x1234);       /* vendor */
	put16(c + 0x02, 0x11e8);       /* device */
	put16(c + 0x06, 0x0010);       /* status: capability list */
	c[0x08] = 0x10;                /* revision */
	c[0x0b] = 0xff;                /* class: other */
	put32(c + 0x10, 0);            /* BAR0: 32-bit memory */
	put32(c + 0x14, 0);            /* BAR1 (MSI-X): 32-bit memory */
	put16(c + 0x2c, 0x1af4);       /* subsystem vendor (QEMU's) */
	put16(c + 0x2e, 0x1100);
	c[0x34] = MSI_CAP;
	c[0x3d] = 1;                   /* INTA# */
	c[MSI_CAP] = 0x05;
	c[MSI_CAP + 1] = s->no_msix ? 0 : MSIX_CAP;
	put16(c + MSI_CAP + 2, 0x0080); /* 64-bit, one vector */
	if (!s->no_msix) {
		c[MSIX_CAP] = 0x11;
		c[MSIX_CAP + 1] = 0;
		put16(c + MSIX_CAP + 2, (uint16_t)(s->msix_vectors - 1));
		put32(c + MSIX_CAP + 4, 1);           /* table: BIR 1, offset 0 */
		put32(c + MSIX_CAP + 8, s->pba_off | 1); /* PBA: BIR 1 */
	}
}

static void device_reset(struct server *s)
{
	uint8_t line = s->config[0x3c];
	config_init(s);
	s->config[0x3c] = line;
	s->liveness = s->fact = s->status = s->irq_status = 0;
	s->dma_src = s->dma_dst = s->dma_cnt = s->dma_cmd = 0;
	s->intx_masked = false;
	memset(s->msix_masked, 0, s->msix_vectors * sizeof(*s->msix_masked));
	memset(s->msix_pending, 0, s->msix_vectors * sizeof(*s->msix_pending));
	memset(s->bar1, 0, s->bar1_size);
	for (unsigned v = 0; v < s->msix_vectors; v++)
		put32(s->bar1 + v * 16 + 12, 1); /* vectors masked at reset */
}

/* ---- messages ---- */

static void send_all(struct server *s, const void *p, size_t len, const int *fds, unsigned nfds)
{
	const uint8_t *b = p;
	while (len) {
		struct iovec iov = { .iov_base = (void *)b, .iov_len = len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		} ctl;
		if (nfds) {
			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		ssize_t n = sendmsg(s->fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			say(s, "send: %s: the client is gone", n < 0 ? strerror(errno) : "nothing");
			exit(0);
		}
		b += n;
		len -= (size_t)n;
		nfds = 0;
	}
}

/* Reads exactly len bytes; fds that come along are collected (at most
 * MAX_FDS). false at EOF before the first byte. */
static bool recv_all(struct server *s, void *p, size_t len, int *fds, unsigned *nfds)
{
	uint8_t *b = p;
	bool first = true;
	while (len) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		} ctl;
		struct iovec iov = { .iov_base = b, .iov_len = len };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
		};
		ssize_t n = recvmsg(s->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ECONNRESET) {
			say(s, "the client reset the connection");
			exit(0);
		}
		if (n < 0)
			die("recv: %s", strerror(errno));
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (unsigned i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (*nfds < MAX_FDS)
					fds[(*nfds)++] = fd;
				else
					close(fd);
			}
		}
		if (n == 0) {
			if (first)
				return false;
			die("the client closed the connection inside a message");
		}
		first = false;
		b += n;
		len -= (size_t)n;
	}
	return true;
}

/* One message into s->buf; false at EOF. */
static bool recv_msg(struct server *s, size_t *len, int *fds, unsigned *nfds)
{
	*nfds = 0;
	if (!recv_all(s, s->buf, sizeof(struct hdr), fds, nfds))
		return false;
	struct hdr h;
	memcpy(&h, s->buf, sizeof(h));
	if (h.size < sizeof(h) || h.size > MAX_MSG)
		die("a message of %u bytes", h.size);
	if (!recv_all(s, s->buf + sizeof(h), h.size - sizeof(h), fds, nfds))
		die("the client closed the connection inside a message");
	*len = h.size;
	return true;
}

static void reply(struct server *s, const struct hdr *req, const void *payload, size_t len,
		  const int *fds, unsigned nfds)
{
	if (req->flags & F_NO_REPLY)
		return;
	struct hdr h = {
		.id = req->id, .cmd = req->cmd, .size = (uint32_t)(sizeof(h) + len),
		.flags = T_REPLY,
	};
	if (s->wrong_id_after && s->nmsgs >= s->wrong_id_after)
		h.id ^= 0x5a5a;
	memcpy(s->out, &h, sizeof(h));
	if (len)
		memcpy(s->out + sizeof(h), payload, len);
	send_all(s, s->out, sizeof(h) + len, fds, nfds);
}

static void reply_error(struct server *s, const struct hdr *req, int err)
{
	if (req->flags & F_NO_REPLY)
		return;
	say(s, "  -> error %s", strerror(err));
	struct hdr h = {
		.id = req->id, .cmd = req->cmd, .size = sizeof(h),
		.flags = T_REPLY | F_ERROR, .error = (uint32_t)err,
	};
	send_all(s, &h, sizeof(h), NULL, 0);
}

/* ---- DMA ---- */

static struct window *find_window(struct server *s, uint64_t addr, uint64_t len)
{
	for (unsigned i = 0; i < s->ndma; i++) {
		struct window *w = &s->dma[i];
		if (addr >= w->addr && addr - w->addr < w->size && len <= w->size - (addr - w->addr))
			return w;
	}
	return NULL;
}

/*
 * A DMA_READ or DMA_WRITE message to the client and its reply (the client
 * is waiting for our reply to its own request, so nothing else comes in
 * between). false when the client refused.
 */
static bool dma_message(struct server *s, bool to_ram, uint64_t addr, uint8_t *data, uint32_t n)
{
	uint16_t id = s->next_id++;
	struct dma_access a = { .addr = addr, .count = n };
	struct hdr h = {
		.id = id, .cmd = to_ram ? CMD_DMA_WRITE : CMD_DMA_READ,
		.size = (uint32_t)(sizeof(h) + sizeof(a) + (to_ram ? n : 0)), .flags = T_COMMAND,
	};
	memcpy(s->out, &h, sizeof(h));
	memcpy(s->out + sizeof(h), &a, sizeof(a));
	if (to_ram)
		memcpy(s->out + sizeof(h) + sizeof(a), data, n);
	send_all(s, s->out, h.size, NULL, 0);
	int fds[MAX_FDS];
	unsigned nfds;
	size_t len;
	if (!recv_msg(s, &len, fds, &nfds))
		die("the client closed the connection during a DMA");
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	struct hdr r;
	memcpy(&r, s->buf, sizeof(r));
	if ((r.flags & 0xf) != T_REPLY || r.id != id || r.cmd != h.cmd)
		die("expected the reply to DMA %s id %u, got type %u id %u command %u",
		    to_ram ? "write" : "read", id, r.flags & 0xf, r.id, r.cmd);
	if (r.flags & F_ERROR) {
		say(s, "  DMA %s 0x%llx+%u refused: %s", to_ram ? "write" : "read",
		    (unsigned long long)addr, n, strerror((int)r.error));
		return false;
	}
	size_t want = sizeof(r) + sizeof(a) + (to_ram ? 0 : n);
	if (len < want)
		die("a DMA reply of %zu bytes, %zu expected", len, want);
	if (!to_ram)
		memcpy(data, s->buf + sizeof(r) + sizeof(a), n);
	return true;
}

/* The device's DMA of len bytes between RAM at addr and data. */
static bool dma_rw(struct server *s, bool to_ram, uint64_t addr, uint8_t *data, uint32_t len)
{
	struct window *w = find_window(s, addr, len);
	if (!w) {
		say(s, "  DMA 0x%llx+%u outside the client's DMA windows", (unsigned long long)addr,
		    len);
		return false;
	}
	if (w->ptr) {
		uint8_t *p = w->ptr + (addr - w->addr);
		if (to_ram)
			memcpy(p, data, len);
		else
			memcpy(data, p, len);
		return true;
	}
	uint32_t chunk = s->client_max_xfer;
	for (uint32_t done = 0; done < len;) {
		uint32_t n = len - done < chunk ? len - done : chunk;
		if (!dma_message(s, to_ram, addr + done, data + done, n))
			return false;
		done += n;
	}
	return true;
}

/* ---- interrupts ---- */

static void signal_fd(int fd)
{
	uint64_t one = 1;
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0)
		fprintf(stderr, "edu-server: eventfd write: %s\n", strerror(errno));
}

static bool intx_up(const struct server *s)
{
	return s->irq_status != 0;
}

static void intx_update(struct server *s)
{
	uint16_t st = get16(s->config + 0x06);
	st = (uint16_t)(intx_up(s) ? st | 0x08 : st & ~0x08);
	put16(s->config + 0x06, st);
	bool disabled = get16(s->config + 0x04) & 0x400;
	if (intx_up(s) && !disabled && !s->intx_masked && s->intx_fd >= 0) {
		s->intx_masked = true; /* automasked until UNMASK */
		signal_fd(s->intx_fd);
	}
}

static bool msix_active(const struct server *s)
{
	for (unsigned v = 0; v < s->msix_vectors; v++)
		if (s->msix_fd[v] >= 0)
			return true;
	return false;
}

static void msix_fire(struct server *s, unsigned v)
{
	if (s->msix_masked[v]) {
		s->msix_pending[v] = true;
		return;
	}
	s->msix_pending[v] = false;
	signal_fd(s->msix_fd[v]);
}

/* edu's interrupt raise: status bits OR-ed in, then a message or the line. */
static void raise_irq(struct server *s, uint32_t val)
{
	s->irq_status |= val;
	if (msix_active(s)) {
		unsigned v = (val & 0x100) && s->msix_fd[1] >= 0 ? 1 : 0;
		msix_fire(s, v);
	} else if (s->msi_fd >= 0) {
		signal_fd(s->msi_fd);
	} else {
		intx_update(s);
	}
	say(s, "  interrupt 0x%x (status 0x%x) by %s", val, s->irq_status,
	    msix_active(s) ? "MSI-X" : s->msi_fd >= 0 ? "MSI" : "INTx");
}

/* Not edu's (REG_RAISE_VECTOR): interrupt status 0x200 on MSI-X vector v;
 * without MSI-X on, or v out of the table, a plain raise of 0x200. */
static void raise_vector(struct server *s, uint32_t v)
{
	if (!msix_active(s) || v >= s->msix_vectors) {
		raise_irq(s, 0x200);
		return;
	}
	s->irq_status |= 0x200;
	msix_fire(s, v);
	say(s, "  interrupt 0x200 (status 0x%x) on MSI-X vector %u%s", s->irq_status, v,
	    s->msix_fd[v] < 0 ? " (no eventfd: lost)" : s->msix_masked[v] ? " (masked)" : "");
}

static void lower_irq(struct server *s, uint32_t val)
{
	s->irq_status &= ~val;
	intx_update(s);
}

/* ---- BAR0: edu's registers, and the scratch window ---- */

static uint64_t factorial(uint32_t n)
{
	uint32_t f = 1; /* 32 bits, wrapping, as edu computes it */
	for (uint32_t i = 2; i <= n; i++)
		f *= i;
	return f;
}

static void dma_run(struct server *s)
{
	uint64_t ram, buf_addr, cnt = s->dma_cnt;
	bool to_ram = s->dma_cmd & DMA_TO_RAM;
	if (to_ram) {
		buf_addr = s->dma_src;
		ram = s->dma_dst & DMA_MASK;
	} else {
		buf_addr = s->dma_dst;
		ram = s->dma_src & DMA_MASK;
	}
	if (buf_addr < DMA_BUF_OFF || buf_addr - DMA_BUF_OFF >= DMA_BUF_SIZE ||
	    cnt > DMA_BUF_SIZE - (buf_addr - DMA_BUF_OFF)) {
		say(s, "  DMA: 0x%llx+0x%llx is not inside the buffer: ignored",
		    (unsigned long long)buf_addr, (unsigned long long)cnt);
	} else {
		uint8_t *b = s->dma_buf + (buf_addr - DMA_BUF_OFF);
		bool ok = dma_rw(s, to_ram, ram, b, (uint32_t)cnt);
		say(s, "  DMA %s RAM 0x%llx, %llu bytes: %s", to_ram ? "to" : "from",
		    (unsigned long long)ram, (unsigned long long)cnt, ok ? "done" : "failed");
	}
	s->dma_cmd &= ~(uint64_t)DMA_START;
	if (s->dma_cmd & DMA_IRQ)
		raise_irq(s, 0x100);
}

static uint64_t reg_read(struct server *s, uint64_t off, unsigned size)
{
	if ((off < 0x80 && size != 4) || (off >= 0x80 && size != 4 && size != 8))
		return ~0ull;
	switch (off) {
	case 0x00: return 0x010000edu;
	case 0x04: return s->liveness;
	case 0x08: return s->fact;
	case 0x20: return s->status;
	case 0x24: return s->irq_status;
	case 0x80: return s->dma_src;
	case 0x88: return s->dma_dst;
	case 0x90: return s->dma_cnt;
	case 0x98: return s->dma_cmd;
	default: return ~0ull;
	}
}

static void reg_write(struct server *s, uint64_t off, uint64_t val, unsigned size)
{
	if ((off < 0x80 && size != 4) || (off >= 0x80 && size != 4 && size != 8))
		return;
	if (size == 4)
		val &= 0xffffffffu;
	bool dma_busy = s->dma_cmd & DMA_START;
	switch (off) {
	case 0x04:
		s->liveness = ~(uint32_t)val;
		break;
	case 0x08:
		if (s->status & ST_COMPUTING)
			break;
		s->status |= ST_COMPUTING;
		s->fact = (uint32_t)factorial((uint32_t)val);
		s->status &= ~ST_COMPUTING;
		if (s->status & ST_IRQFACT)
			raise_irq(s, 0x1);
		break;
	case 0x20:
		s->status = (s->status & ~ST_IRQFACT) | ((uint32_t)val & ST_IRQFACT);
		break;
	case 0x60:
		raise_irq(s, (uint32_t)val);
		break;
	case 0x64:
		lower_irq(s, (uint32_t)val);
		break;
	case REG_RAISE_VECTOR:
		raise_vector(s, (uint32_t)val);
		break;
	case 0x80:
		if (!dma_busy)
			s->dma_src = val;
		break;
	case 0x88:
		if (!dma_busy)
			s->dma_dst = val;
		break;
	case 0x90:
		if (!dma_busy)
			s->dma_cnt = val;
		break;
	case 0x98:
		if (dma_busy || !(val & DMA_START))
			break;
		s->dma_cmd = val;
		dma_run(s);
		break;
	}
}

/* ---- regions ---- */

static uint64_t region_size(const struct server *s, uint32_t index)
{
	switch (index) {
	case VFIO_PCI_BAR0_REGION_INDEX: return BAR0_SIZE;
	case VFIO_PCI_BAR1_REGION_INDEX: return s->no_msix ? 0 : s->bar1_size;
	case VFIO_PCI_CONFIG_REGION_INDEX: return sizeof(s->config);
	default: return 0;
	}
}

static void config_write(struct server *s, uint32_t off, const uint8_t *data, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t o = off + i;
		uint8_t v = data[i];
		uint8_t *c = &s->config[o];
		if (o == 0x04)
			*c = v & 0x06;                    /* memory, bus master */
		else if (o == 0x05)
			*c = v & 0x04;                    /* INTx disable */
		else if (o >= 0x10 && o < 0x18) {
			/* BAR0 (1 MiB) and BAR1 (4 KiB): size bits read 0. */
			uint32_t bar = (o - 0x10) / 4, byte = (o - 0x10) % 4;
			uint32_t mask = bar == 0 ? ~(BAR0_SIZE - 1) : s->no_msix ? 0 : ~(s->bar1_size - 1);
			*c = v & (uint8_t)(mask >> (8 * byte)) & (byte == 0 ? 0xf0 : 0xff);
		} else if (o == 0x3c)
			*c = v;                           /* interrupt line */
		else if (o == MSI_CAP + 2)
			*c = (uint8_t)((*c & ~0x01) | (v & 0x01)); /* MSI enable */
		else if (o >= MSI_CAP + 4 && o < MSI_CAP + 14)
			*c = v;                           /* address, data */
		else if (!s->no_msix && o == MSIX_CAP + 3)
			*c = (uint8_t)((*c & 0x3f) | (v & 0xc0)); /* enable, function mask */
	}
	if (off <= 0x05 && off + n > 0x04)
		intx_update(s);
}

static int region_read(struct server *s, uint32_t index, uint64_t off, uint8_t *data, uint32_t n)
{
	switch (index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		memcpy(data, s->config + off, n);
		return 0;
	case VFIO_PCI_BAR1_REGION_INDEX:
		for (unsigned v = 0; v < s->msix_vectors; v++) {
			uint8_t *b = &s->bar1[s->pba_off + v / 8];
			*b = (uint8_t)((*b & ~(1u << v % 8)) | (s->msix_pending[v] ? 1u << v % 8 : 0));
		}
		memcpy(data, s->bar1 + off, n);
		return 0;
	case VFIO_PCI_BAR0_REGION_INDEX:
		if (off >= WINDOW_OFF) {
			memcpy(data, s->bar0 + off, n);
			return 0;
		}
		if ((n == 4 || n == 8) && off % n == 0) {
			uint64_t v = reg_read(s, off, n);
			memcpy(data, &v, n);
		} else {
			memset(data, 0xff, n);
		}
		return 0;
	}
	return EINVAL;
}

static int region_write(struct server *s, uint32_t index, uint64_t off, const uint8_t *data,
			uint32_t n)
{
	switch (index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		config_write(s, (uint32_t)off, data, n);
		return 0;
	case VFIO_PCI_BAR1_REGION_INDEX:
		if (off < s->pba_off)
			memcpy(s->bar1 + off, data, n < s->pba_off - off ? n : s->pba_off - off);
		return 0;
	case VFIO_PCI_BAR0_REGION_INDEX:
		if (off >= WINDOW_OFF) {
			memcpy(s->bar0 + off, data, n);
			return 0;
		}
		if ((n == 4 || n == 8) && off % n == 0) {
			uint64_t v = 0;
			memcpy(&v, data, n);
			reg_write(s, off, v, n);
		}
		return 0;
	}
	return EINVAL;
}

/* ---- commands ---- */

/* A number after "key": in the client's capabilities JSON, or dflt. */
static uint64_t json_number(const char *json, size_t len, const char *key, uint64_t dflt)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\"", key);
	const char *p = memmem(json, len, pat, strlen(pat));
	if (!p)
		return dflt;
	p += strlen(pat);
	while (p < json + len && (*p == ' ' || *p == ':'))
		p++;
	char *end;
	unsigned long long v = strtoull(p, &end, 10);
	return end == p ? dflt : v;
}

static void cmd_version(struct server *s, const struct hdr *h, size_t len)
{
	if (len < sizeof(*h) + 4)
		die("VERSION of %zu bytes", len);
	uint16_t major = get16(s->buf + sizeof(*h)), minor = get16(s->buf + sizeof(*h) + 2);
	const char *json = (const char *)s->buf + sizeof(*h) + 4;
	size_t jlen = len - sizeof(*h) - 4;
	s->client_max_fds = (uint32_t)json_number(json, jlen, "max_msg_fds", 1);
	s->client_max_xfer = (uint32_t)json_number(json, jlen, "max_data_xfer_size", 1u << 20);
	if (s->client_max_xfer == 0)
		s->client_max_xfer = 1;
	say(s, "  client %u.%u: max_msg_fds %u, max_data_xfer_size %u", major, minor,
	    s->client_max_fds, s->client_max_xfer);
	if (major != 0) {
		reply_error(s, h, ENOTSUP);
		return;
	}
	uint8_t out[256];
	put16(out, s->bad_version ? 7 : 0);
	put16(out + 2, minor < 1 ? minor : 1);
	int n = snprintf((char *)out + 4, sizeof(out) - 4,
			 "{\"capabilities\":{\"max_msg_fds\":%u,\"max_data_xfer_size\":%u}}",
			 s->max_fds, s->max_xfer);
	reply(s, h, out, 4 + (size_t)n + 1, NULL, 0);
}

static void cmd_region_info(struct server *s, const struct hdr *h, size_t len)
{
	struct vfio_region_info ri;
	if (len < sizeof(*h) + sizeof(ri))
		die("DEVICE_GET_REGION_INFO of %zu bytes", len);
	memcpy(&ri, s->buf + sizeof(*h), sizeof(ri));
	uint32_t argsz = ri.argsz, index = ri.index;
	if (index >= VFIO_PCI_NUM_REGIONS) {
		reply_error(s, h, EINVAL);
		return;
	}
	uint8_t out[sizeof(ri) + sizeof(struct vfio_region_info_cap_sparse_mmap) +
		    sizeof(struct vfio_region_sparse_mmap_area)];
	memset(&ri, 0, sizeof(ri));
	ri.index = index;
	ri.size = region_size(s, index);
	ri.offset = 0;
	ri.argsz = sizeof(ri);
	if (ri.size)
		ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	bool mmap_it = index == VFIO_PCI_BAR0_REGION_INDEX && !s->no_mmap;
	size_t n = sizeof(ri);
	if (mmap_it) {
		ri.flags |= VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
		ri.argsz = sizeof(out);
		if (argsz >= sizeof(out)) {
			ri.cap_offset = sizeof(ri);
			struct vfio_region_info_cap_sparse_mmap sm = {
				.header = { .id = VFIO_REGION_INFO_CAP_SPARSE_MMAP, .version = 1 },
				.nr_areas = 1,
			};
			struct vfio_region_sparse_mmap_area a = {
				.offset = WINDOW_OFF, .size = BAR0_SIZE - WINDOW_OFF,
			};
			memcpy(out + sizeof(ri), &sm, sizeof(sm));
			memcpy(out + sizeof(ri) + sizeof(sm), &a, sizeof(a));
			n = sizeof(out);
		}
	}
	memcpy(out, &ri, sizeof(ri));
	reply(s, h, out, n, mmap_it ? &s->bar0_fd : NULL, mmap_it ? 1 : 0);
}

static void cmd_irq_info(struct server *s, const struct hdr *h, size_t len)
{
	struct vfio_irq_info ii;
	if (len < sizeof(*h) + sizeof(ii))
		die("DEVICE_GET_IRQ_INFO of %zu bytes", len);
	memcpy(&ii, s->buf + sizeof(*h), sizeof(ii));
	if (ii.index >= VFIO_PCI_NUM_IRQS) {
		reply_error(s, h, EINVAL);
		return;
	}
	uint32_t index = ii.index;
	memset(&ii, 0, sizeof(ii));
	ii.argsz = sizeof(ii);
	ii.index = index;
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		ii.count = 1;
		ii.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
		break;
	case VFIO_PCI_MSI_IRQ_INDEX:
		ii.count = 1;
		ii.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
		break;
	case VFIO_PCI_MSIX_IRQ_INDEX:
		ii.count = s->no_msix ? 0 : s->msix_vectors;
		ii.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_NORESIZE;
		break;
	default:
		break; /* ERR, REQ: none */
	}
	reply(s, h, &ii, sizeof(ii), NULL, 0);
}

/* The eventfd slots of an interrupt index, and their number. */
static int *irq_fds(struct server *s, uint32_t index, uint32_t *count)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX: *count = 1; return &s->intx_fd;
	case VFIO_PCI_MSI_IRQ_INDEX: *count = 1; return &s->msi_fd;
	case VFIO_PCI_MSIX_IRQ_INDEX: *count = s->no_msix ? 0 : s->msix_vectors; return s->msix_fd;
	default: *count = 0; return NULL;
	}
}

static void cmd_set_irqs(struct server *s, const struct hdr *h, size_t len, int *fds,
			 unsigned *nfds)
{
	struct vfio_irq_set is;
	if (len < sizeof(*h) + sizeof(is))
		die("DEVICE_SET_IRQS of %zu bytes", len);
	memcpy(&is, s->buf + sizeof(*h), sizeof(is));
	uint32_t data = is.flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	uint32_t action = is.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	uint32_t count;
	int *slots = irq_fds(s, is.index, &count);
	const uint8_t *bools = s->buf + sizeof(*h) + sizeof(is);
	say(s, "  index %u start %u count %u flags 0x%x, %u fds", is.index, is.start, is.count,
	    is.flags, *nfds);
	if (__builtin_popcount(data) != 1 || __builtin_popcount(action) != 1 ||
	    is.start > count || is.count > count - is.start ||
	    (data == VFIO_IRQ_SET_DATA_BOOL && len < sizeof(*h) + sizeof(is) + is.count) ||
	    (data != VFIO_IRQ_SET_DATA_EVENTFD && *nfds)) {
		reply_error(s, h, EINVAL);
		return;
	}
	if (data == VFIO_IRQ_SET_DATA_NONE && action == VFIO_IRQ_SET_ACTION_TRIGGER &&
	    is.count == 0) {
		for (uint32_t i = 0; i < count; i++)
			if (slots[i] >= 0) {
				close(slots[i]);
				slots[i] = -1;
			}
		reply(s, h, NULL, 0, NULL, 0);
		return;
	}
	if (data == VFIO_IRQ_SET_DATA_EVENTFD) {
		if (action != VFIO_IRQ_SET_ACTION_TRIGGER || (*nfds && *nfds != is.count)) {
			reply_error(s, h, EINVAL);
			return;
		}
		for (uint32_t i = 0; i < is.count; i++) {
			int *slot = &slots[is.start + i];
			if (*slot >= 0)
				close(*slot);
			*slot = *nfds ? fds[i] : -1;
		}
		*nfds = 0; /* kept */
		reply(s, h, NULL, 0, NULL, 0);
		/* A level interrupt still up reaches its new eventfd. */
		if (is.index == VFIO_PCI_INTX_IRQ_INDEX)
			intx_update(s);
		return;
	}
	for (uint32_t i = 0; i < is.count; i++) {
		if (data == VFIO_IRQ_SET_DATA_BOOL && !bools[i])
			continue;
		uint32_t v = is.start + i;
		if (action == VFIO_IRQ_SET_ACTION_TRIGGER) {
			if (is.index == VFIO_PCI_MSIX_IRQ_INDEX)
				msix_fire(s, v);
			else
				signal_fd(slots[v]);
		} else if (is.index == VFIO_PCI_INTX_IRQ_INDEX) {
			s->intx_masked = action == VFIO_IRQ_SET_ACTION_MASK;
			intx_update(s);
		} else if (is.index == VFIO_PCI_MSIX_IRQ_INDEX) {
			s->msix_masked[v] = action == VFIO_IRQ_SET_ACTION_MASK;
			if (!s->msix_masked[v] && s->msix_pending[v])
				msix_fire(s, v);
		} else {
			reply_error(s, h, EINVAL);
			return;
		}
	}
	reply(s, h, NULL, 0, NULL, 0);
}

static void cmd_region_rw(struct server *s, const struct hdr *h, size_t len, bool write)
{
	struct region_access a;
	if (len < sizeof(*h) + sizeof(a))
		die("REGION_%s of %zu bytes", write ? "WRITE" : "READ", len);
	memcpy(&a, s->buf + sizeof(*h), sizeof(a));
	uint64_t size = region_size(s, a.region);
	if (a.count == 0 || a.count > s->max_xfer || a.offset >= size || a.count > size - a.offset ||
	    (write && len != sizeof(*h) + sizeof(a) + a.count)) {
		reply_error(s, h, EINVAL);
		return;
	}
	uint8_t *payload = malloc(sizeof(a) + a.count);
	if (!payload)
		die("out of memory");
	memcpy(payload, &a, sizeof(a));
	int err;
	if (write) {
		/* Copied out first: a DMA it starts reuses s->buf. */
		memcpy(payload + sizeof(a), s->buf + sizeof(*h) + sizeof(a), a.count);
		err = region_write(s, a.region, a.offset, payload + sizeof(a), a.count);
	} else {
		err = region_read(s, a.region, a.offset, payload + sizeof(a), a.count);
	}
	say(s, "  region %u 0x%llx+%u", a.region, (unsigned long long)a.offset, a.count);
	if (err)
		reply_error(s, h, err);
	else
		reply(s, h, payload, sizeof(a) + (write ? 0 : a.count), NULL, 0);
	free(payload);
}

static void cmd_dma_map(struct server *s, const struct hdr *h, size_t len, int *fds,
			unsigned *nfds)
{
	struct dma_map m;
	if (len < sizeof(*h) + sizeof(m))
		die("DMA_MAP of %zu bytes", len);
	memcpy(&m, s->buf + sizeof(*h), sizeof(m));
	say(s, "  DMA_MAP 0x%llx+0x%llx %s", (unsigned long long)m.addr,
	    (unsigned long long)m.size, *nfds ? "with an fd" : "by message");
	if (!m.size || m.addr + m.size < m.addr || *nfds > 1 || s->ndma == 16) {
		reply_error(s, h, EINVAL);
		return;
	}
	for (unsigned i = 0; i < s->ndma; i++)
		if (m.addr < s->dma[i].addr + s->dma[i].size && s->dma[i].addr < m.addr + m.size) {
			reply_error(s, h, EEXIST);
			return;
		}
	uint8_t *p = NULL;
	if (*nfds) {
		void *q = mmap(NULL, m.size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0],
			       (off_t)m.offset);
		close(fds[0]);
		*nfds = 0;
		if (q == MAP_FAILED) {
			int err = errno;
			say(s, "  mmap: %s", strerror(err));
			reply_error(s, h, err);
			return;
		}
		p = q;
	}
	s->dma[s->ndma++] = (struct window){ m.addr, m.size, p };
	reply(s, h, NULL, 0, NULL, 0);
}

static void cmd_dma_unmap(struct server *s, const struct hdr *h, size_t len)
{
	struct dma_unmap m;
	if (len < sizeof(*h) + sizeof(m))
		die("DMA_UNMAP of %zu bytes", len);
	memcpy(&m, s->buf + sizeof(*h), sizeof(m));
	for (unsigned i = 0; i < s->ndma; i++) {
		if (s->dma[i].addr == m.addr && s->dma[i].size == m.size) {
			if (s->dma[i].ptr)
				munmap(s->dma[i].ptr, s->dma[i].size);
			s->dma[i] = s->dma[--s->ndma];
			reply(s, h, &m, sizeof(m), NULL, 0);
			return;
		}
	}
	reply_error(s, h, ENOENT);
}

/* The misbehaviour asked for at this message, if any: true when handled. */
static bool misbehave(struct server *s, const struct hdr *h)
{
	if (s->close_after && s->nmsgs >= s->close_after) {
		say(s, "closing the connection at message %ld", s->nmsgs);
		exit(0);
	}
	if (s->hang_after && s->nmsgs >= s->hang_after) {
		say(s, "not answering message %ld", s->nmsgs);
		return true;
	}
	if (s->garbage_after && s->nmsgs == s->garbage_after) {
		uint8_t junk[64];
		for (unsigned i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)(i * 37 + 11);
		send_all(s, junk, sizeof(junk), NULL, 0);
		return true;
	}
	if (s->oversize_after && s->nmsgs == s->oversize_after) {
		struct hdr r = {
			.id = h->id, .cmd = h->cmd, .size = 256u << 20, .flags = T_REPLY,
		};
		send_all(s, &r, sizeof(r), NULL, 0);
		return true;
	}
	return false;
}

static void serve(struct server *s)
{
	for (;;) {
		int fds[MAX_FDS];
		unsigned nfds;
		size_t len;
		if (!recv_msg(s, &len, fds, &nfds)) {
			say(s, "the client closed the connection");
			return;
		}
		struct hdr h;
		memcpy(&h, s->buf, sizeof(h));
		s->nmsgs++;
		say(s, "message %ld: id %u command %u, %zu bytes, %u fds", s->nmsgs, h.id, h.cmd,
		    len, nfds);
		if ((h.flags & 0xf) != T_COMMAND)
			die("a message of type %u from the client", h.flags & 0xf);
		if (misbehave(s, &h)) {
			for (unsigned i = 0; i < nfds; i++)
				close(fds[i]);
			continue;
		}
		switch (h.cmd) {
		case CMD_VERSION:
			cmd_version(s, &h, len);
			break;
		case CMD_DEVICE_GET_INFO: {
			struct vfio_device_info di = {
				.argsz = 16, .flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
				.num_regions = VFIO_PCI_NUM_REGIONS, .num_irqs = VFIO_PCI_NUM_IRQS,
			};
			reply(s, &h, &di, 16, NULL, 0);
			break;
		}
		case CMD_GET_REGION_INFO:
			cmd_region_info(s, &h, len);
			break;
		case CMD_GET_IRQ_INFO:
			cmd_irq_info(s, &h, len);
			break;
		case CMD_SET_IRQS:
			cmd_set_irqs(s, &h, len, fds, &nfds);
			break;
		case CMD_REGION_READ:
			cmd_region_rw(s, &h, len, false);
			break;
		case CMD_REGION_WRITE:
			cmd_region_rw(s, &h, len, true);
			break;
		case CMD_DMA_MAP:
			cmd_dma_map(s, &h, len, fds, &nfds);
			break;
		case CMD_DMA_UNMAP:
			cmd_dma_unmap(s, &h, len);
			break;
		case CMD_DEVICE_RESET:
			device_reset(s);
			reply(s, &h, NULL, 0, NULL, 0);
			break;
		default:
			reply_error(s, &h, ENOSYS);
			break;
		}
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
	}
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char tmp[sizeof(sa.sun_path)];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		die("--socket %s: path too long", path);
	memcpy(sa.sun_path, tmp, strlen(tmp) + 1);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(tmp);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0)
		die("--socket %s: %s", path, strerror(errno));
	/* Appears at PATH only now that it listens. */
	if (rename(tmp, path) < 0)
		die("--socket %s: rename: %s", path, strerror(errno));
	int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		die("--socket %s: accept: %s", path, strerror(errno));
	close(l);
	unlink(path);
	return fd;
}

static long number(const char *opt, const char *v)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 0);
	if (errno || *end || n < 0)
		die("%s: '%s' is not a number", opt, v);
	return n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "fd", required_argument, NULL, 'f' },
		{ "close-after", required_argument, NULL, 'c' },
		{ "hang-after", required_argument, NULL, 'H' },
		{ "garbage-after", required_argument, NULL, 'g' },
		{ "oversize-after", required_argument, NULL, 'o' },
		{ "wrong-id-after", required_argument, NULL, 'w' },
		{ "bad-version", no_argument, NULL, 'V' },
		{ "max-xfer", required_argument, NULL, 'x' },
		{ "max-fds", required_argument, NULL, 'F' },
		{ "no-msix", no_argument, NULL, 'M' },
		{ "msix-vectors", required_argument, NULL, 'X' },
		{ "no-mmap", no_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	static struct server srv;
	struct server *s = &srv;
	const char *path = NULL;
	s->fd = -1;
	s->max_xfer = MAX_XFER;
	s->max_fds = MAX_FDS;
	s->msix_vectors = MSIX_VECTORS;
	int c;
	while ((c = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'f': s->fd = (int)number("--fd", optarg); break;
		case 'c': s->close_after = number("--close-after", optarg); break;
		case 'H': s->hang_after = number("--hang-after", optarg); break;
		case 'g': s->garbage_after = number("--garbage-after", optarg); break;
		case 'o': s->oversize_after = number("--oversize-after", optarg); break;
		case 'w': s->wrong_id_after = number("--wrong-id-after", optarg); break;
		case 'V': s->bad_version = true; break;
		case 'x': s->max_xfer = (uint32_t)number("--max-xfer", optarg); break;
		case 'F': s->max_fds = (uint32_t)number("--max-fds", optarg); break;
		case 'M': s->no_msix = true; break;
		case 'X': s->msix_vectors = (unsigned)number("--msix-vectors", optarg); break;
		case 'm': s->no_mmap = true; break;
		case 'v': s->verbose = true; break;
		default:
			fprintf(stderr, "usage: %s --socket PATH | --fd N [options] (see the source)\n",
				argv[0]);
			return 2;
		}
	}
	if ((path != NULL) == (s->fd >= 0) || optind != argc) {
		fprintf(stderr, "edu-server: give one of --socket PATH and --fd N\n");
		return 2;
	}
	if (s->max_xfer == 0 || s->max_xfer > MAX_XFER || s->max_fds > MAX_FDS ||
	    s->msix_vectors == 0 || s->msix_vectors > MSIX_MAX)
		die("--max-xfer 1..%u, --max-fds 0..%u, --msix-vectors 1..%u", MAX_XFER, MAX_FDS,
		    MSIX_MAX);
	/* BAR1: the table from 0, the PBA after it (at 0x800 for up to 128
	 * vectors, as with 2), a power of two of at least 4 KiB. */
	s->pba_off = s->msix_vectors * 16 > PBA_OFF_MIN ? s->msix_vectors * 16 : PBA_OFF_MIN;
	for (s->bar1_size = 4096; s->bar1_size < s->pba_off + (s->msix_vectors + 63) / 64 * 8;)
		s->bar1_size *= 2;
	s->bar1 = calloc(1, s->bar1_size);
	s->msix_fd = calloc(s->msix_vectors, sizeof(*s->msix_fd));
	s->msix_masked = calloc(s->msix_vectors, sizeof(*s->msix_masked));
	s->msix_pending = calloc(s->msix_vectors, sizeof(*s->msix_pending));
	if (!s->bar1 || !s->msix_fd || !s->msix_masked || !s->msix_pending)
		die("setup: %s", strerror(errno));
	s->buf = malloc(MAX_MSG);
	s->out = malloc(MAX_MSG);
	s->bar0_fd = memfd_create("edu-bar0", MFD_CLOEXEC);
	if (!s->buf || !s->out || s->bar0_fd < 0 || ftruncate(s->bar0_fd, BAR0_SIZE) < 0)
		die("setup: %s", strerror(errno));
	s->bar0 = mmap(NULL, BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->bar0_fd, 0);
	if (s->bar0 == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	s->intx_fd = s->msi_fd = -1;
	for (unsigned v = 0; v < s->msix_vectors; v++)
		s->msix_fd[v] = -1;
	s->client_max_xfer = 1u << 20;
	config_init(s);
	device_reset(s);
	if (path)
		s->fd = listen_at(path);
	serve(s);
	return 0;
}
