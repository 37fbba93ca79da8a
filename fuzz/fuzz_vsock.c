/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: virtio-vsock (src/virtio/vsock.c): the guest's packets on
 * the tx queue (header checks, every op in every connection state, credit,
 * lengths), what goes to the guest on the rx queue (control packets, data
 * read from host sockets into the guest's buffers, RSTs owed), the event
 * queue, the host side (CONNECT lines, data, closes) and reset.
 *
 * Like fuzz_net.c, the target includes vsock.c to reach its handlers
 * without a device thread: the device is created for real once (its
 * listening socket in a private folder), set up per input as activation
 * leaves it, and the target plays the device thread (vsock_kicked,
 * vsock_sockets_ready) and the host processes: it connects to PATH (and
 * writes a CONNECT line, good or not), listens on PATH_1 for the guest's
 * connections to host port 1, writes, reads and closes its ends.
 *
 * Input layout:
 *   [0]     log2 of the queue sizes (mod 9: 1..256)
 *   [1]     bit 0: EVENT_IDX
 *   [2..]   guest memory image (region A, then B). The rx, tx and event
 *           rings are packed from the start of region A as fuzz_layout.h
 *           describes
 *   tail    the last byte is the op count n (mod 65); the 4*n bytes before
 *           it are ops: op, a, b (u16 LE)
 *
 * Checked besides memory safety: the connection table's bookkeeping (at
 * most VIRTIO_VSOCK_MAX_CONNS open, no connection with more than its
 * window buffered, a closing slot has no socket), the owed RSTs bounded,
 * config reads past the CID read as zero.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "fuzz_common.h"
#include "fuzz_layout.h"

/* The device under test, statics included (see above). */
#include "virtio/vsock.c"

#define HDR_BYTES 2
#define OP_LEN 4
#define MAX_OPS 64
#define MAX_HOST_FDS 8
#define CID 3

static struct fuzz_mem fm;
static struct virtio_vsock *vs;
static int port1_fd = -1; /* the host listening on PATH_1 */
static int hfds[MAX_HOST_FDS];
static unsigned nh;
static uint8_t buf[9000];
static uint64_t ring[3][3];

static void fake_notify_queue(struct virtio_dev *vd, unsigned q)
{
	(void)vd;
	FUZZ_CHECK(q < 3);
}

static void fake_needs_reset(struct virtio_dev *vd)
{
	(void)vd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_init();
	fuzz_mem_setup(&fm);
	static char dir[] = "/tmp/cvmm-fuzz-vsock-XXXXXX";
	static char path[64], p1[80];
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/v", dir);
	struct vsock_config cfg = { .enabled = true, .cid = CID, .socket = path };
	if (virtio_vsock_create(&vs, &cfg, &fm.mem))
		abort();
	for (unsigned q = 0; q < 3; q++) {
		vs->common.vd.kick_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (vs->common.vd.kick_fd[q] < 0)
			abort();
	}
	snprintf(p1, sizeof(p1), "%s_1", path);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p1);
	port1_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (port1_fd < 0 || bind(port1_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(port1_fd, 128) < 0)
		abort();
	return 0;
}

/* The device as activation leaves it, without the thread. */
static void device_setup(uint16_t qsize, bool event_idx)
{
	struct virtio_dev *vd = &vs->common.vd;
	vd->notify_queue = fake_notify_queue;
	vd->set_needs_reset = fake_needs_reset;
	vd->features_negotiated = (1ULL << VIRTIO_F_VERSION_1) |
				  (event_idx ? 1ULL << VIRTIO_RING_F_EVENT_IDX : 0);
	for (unsigned q = 0; q < 3; q++)
		eventfd_drain(vd->kick_fd[q]);
	uint64_t next = FUZZ_GPA_A;
	for (unsigned q = 0; q < 3; q++) {
		next = fuzz_ring_layout(next, qsize, &ring[q][0], &ring[q][1], &ring[q][2]);
		FUZZ_CHECK(vq_init(&vd->vqs[q], &fm.mem, qsize, ring[q][0], ring[q][1],
				   ring[q][2], event_idx) == 0);
	}
	virtio_worker_clear(&vs->common.worker);
	vs->common.nfds = 0;
	FUZZ_CHECK(vsock_activate(vs) == 0);
	FUZZ_CHECK(vs->common.nfds == 1);
}

static void check_table(void)
{
	unsigned open = 0;
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++) {
		const struct conn *c = &vs->conns[i];
		if (c->state == CONN_FREE) {
			/* A free slot keeps its buffer (freed with the device),
			 * never data in it. */
			FUZZ_CHECK(c->fd == -1 && c->pend_len == 0 && c->pend_off == 0);
			continue;
		}
		open++;
		FUZZ_CHECK(c->pend_len <= OK_MAX + VIRTIO_VSOCK_BUF_ALLOC);
		FUZZ_CHECK(c->pend_nofwd <= c->pend_len);
		FUZZ_CHECK(c->rx_cnt - c->fwd_cnt <= VIRTIO_VSOCK_BUF_ALLOC);
		if (c->state == CONN_RST)
			FUZZ_CHECK(c->fd == -1);
		else
			FUZZ_CHECK(c->fd >= 0);
	}
	FUZZ_CHECK(open == atomic_load(&vs->conns_open));
	FUZZ_CHECK(vs->rst_count <= VIRTIO_VSOCK_RST_QUEUE);
}

static void host_add(int fd)
{
	if (fd < 0)
		return;
	if (nh == MAX_HOST_FDS) {
		close(fd);
		return;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	hfds[nh++] = fd;
}

static void host_connect(uint8_t a, uint16_t b)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", vs->path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	char line[40];
	int n;
	switch (a % 4) {
	case 0: n = snprintf(line, sizeof(line), "CONNECT %u\n", b); break;
	case 1: n = snprintf(line, sizeof(line), "CONNECT %u", b); break;
	case 2: n = snprintf(line, sizeof(line), "CONNECT %u\nxyz", b % 4); break;
	default: n = snprintf(line, sizeof(line), "CONN%c%u\n", (char)a, b); break;
	}
	ssize_t w = write(fd, line, (size_t)n);
	(void)w;
	host_add(fd);
}

static void host_close(unsigned i, bool half)
{
	if (half) {
		shutdown(hfds[i], SHUT_WR);
		return;
	}
	close(hfds[i]);
	hfds[i] = hfds[--nh];
}

static void kick(unsigned q)
{
	uint64_t one = 1;
	FUZZ_CHECK(write(vs->common.vd.kick_fd[q], &one, sizeof(one)) == sizeof(one));
	eventfd_drain(vs->common.vd.kick_fd[q]);
	vsock_kicked(vs, q);
}

static void set_avail_idx(unsigned q, uint16_t v)
{
	memcpy(fm.a + (ring[q][1] - FUZZ_GPA_A) + 2, &v, sizeof(v));
}

/* Nothing of this input left for the next. */
static void cleanup(void)
{
	vsock_reset(vs);
	while (nh)
		host_close(0, false);
	int fd;
	while ((fd = accept4(vs->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
	while ((fd = accept4(port1_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
	struct epoll_event ev[16];
	while (epoll_wait(vs->ep_fd, ev, 16, 0) > 0)
		;
	vs->next_host_port = VIRTIO_VSOCK_HOST_PORT_BASE;
	vs->ev_pending = false;
	vs->rr = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t size_log2 = fz_u8(&f);
	uint8_t flags = fz_u8(&f);

	struct fz ops = { NULL, 0 };
	unsigned nops = 0;
	if (f.n > 0) {
		nops = f.p[f.n - 1] % (MAX_OPS + 1);
		f.n--;
		size_t len = (size_t)nops * OP_LEN;
		if (len > f.n)
			len = f.n - f.n % OP_LEN;
		nops = (unsigned)(len / OP_LEN);
		ops = (struct fz){ f.p + f.n - len, len };
		f.n -= len;
	}
	fuzz_mem_fill(&fm, &f);
	uint16_t qsize = (uint16_t)(1u << (size_log2 % 9));
	device_setup(qsize, flags & 1);

	for (unsigned i = 0; i < nops; i++) {
		uint8_t op = fz_u8(&ops), a = fz_u8(&ops);
		uint16_t b = fz_u16(&ops);
		switch (op % 13) {
		case 0:
			kick(VIRTIO_VSOCK_TXQ);
			break;
		case 1:
			kick(VIRTIO_VSOCK_RXQ);
			break;
		case 2:
			kick(VIRTIO_VSOCK_EVQ);
			break;
		case 3:
			vsock_sockets_ready(vs, vs->common.vd.nqueues);
			break;
		case 4:
			host_connect(a, b);
			break;
		case 5:
			host_add(accept4(port1_fd, NULL, NULL, SOCK_CLOEXEC));
			break;
		case 6:
			if (nh) {
				size_t n = b % sizeof(buf);
				memset(buf, a, n);
				ssize_t w = send(hfds[a % nh], buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
				(void)w;
			}
			break;
		case 7:
			if (nh) {
				ssize_t r = recv(hfds[a % nh], buf, b % sizeof(buf), MSG_DONTWAIT);
				(void)r;
			}
			break;
		case 8:
			if (nh)
				host_close(a % nh, a & 0x80);
			break;
		case 9:
			fm.a[b % FUZZ_REGION_SIZE] = a;
			break;
		case 10:
			set_avail_idx(a % 3, b);
			break;
		case 11: {
			uint8_t cb[16];
			uint32_t off = b % 16, len = a % (sizeof(cb) + 1);
			vs->common.vd.ops->config_read(&vs->common, off, cb, len);
			for (uint32_t k = 0; k < len; k++)
				if (off + k >= 8)
					FUZZ_CHECK(cb[k] == 0);
			break;
		}
		case 12:
			/* A driver reset, then the next activation. */
			vsock_reset(vs);
			device_setup(qsize, flags & 1);
			break;
		}
		check_table();
	}
	cleanup();
	return 0;
}
