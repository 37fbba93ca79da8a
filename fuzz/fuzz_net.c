/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: virtio-net TX and RX paths (src/virtio/net.c): vnet header
 * checks, frame length limits, chain-to-iovec conversion, truncation and
 * runt detection, EAGAIN/unpop handling, queue breakage, config reads.
 *
 * net.c has no entry point that works without a tap (virtio_net_create()
 * opens one and activate starts a device thread), so this target includes
 * net.c itself to reach its handlers: the device is set up the way
 * activation (common.c, then net_activate()) leaves it, minus the thread,
 * and its "tap" is one end of an
 * AF_UNIX SOCK_SEQPACKET socketpair, which keeps frame boundaries and
 * truncates a frame read into too small a buffer, as a tap does. The target
 * plays the device thread (calls net_kicked() and net_tap_ready())
 * and the host network (the other end: injects RX frames, drains TX).
 *
 * Input layout:
 *   [0]     log2 of both queue sizes (mod 9: 1..256)
 *   [1]     bit 0: EVENT_IDX
 *   [2..]   guest memory image (region A, then B). The RX rings, then the
 *           TX rings, are packed from the start of region A as
 *           fuzz_layout.h describes
 *   tail    the last byte is the op count n (mod 65); the 4*n bytes before
 *           it are ops: op, a, b (u16 LE)
 *
 * Ops: TX kick, RX kick, tap readiness, inject an RX frame (length b, vnet
 * header flags/gso from a), drain the TX side, poke a byte of region A,
 * set a queue's avail->idx, the tap going away, a config space read, a
 * smaller "tap" send buffer (large frames then fail with EMSGSIZE).
 *
 * Checked besides memory safety: every frame that reaches the "tap" has an
 * all-zero vnet header and an Ethernet frame of 14 bytes to 64 KiB + 14;
 * config reads past the config space read as zero.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "fuzz_common.h"
#include "fuzz_layout.h"

/* The device under test, statics included (see above). */
#include "virtio/net.c"

#define HDR_BYTES 2
#define OP_LEN 4
#define MAX_OPS 64


static struct fuzz_mem fm;
static struct virtio_net *net;
static int host_fd = -1; /* the host network's end of the "tap" */
static uint8_t frame[TX_MAX_FRAME + HDR_LEN + 64];
/* Ring addresses of this input's queues: [queue][desc, avail, used]. */
static uint64_t ring[2][3];

/* The "tap" send buffer: room for one largest frame by default, so that a
 * few frames make it answer EAGAIN; the set-sndbuf op makes it smaller. */
static void set_sndbuf(int bytes)
{
	FUZZ_CHECK(setsockopt(net->tap.fd, SOL_SOCKET, SO_SNDBUF, &bytes,
			      sizeof(bytes)) == 0);
}

static void fake_notify_queue(struct virtio_dev *vd, unsigned q)
{
	(void)vd;
	FUZZ_CHECK(q < 2);
}

static void fake_notify_config(struct virtio_dev *vd)
{
	(void)vd;
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
	net = calloc(1, sizeof(*net));
	int sv[2];
	if (!net || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
			       0, sv) < 0)
		abort();
	net->tap.fd = sv[0];
	snprintf(net->tap.name, sizeof(net->tap.name), "fuzz-tap");
	host_fd = sv[1];
	if (net_common_init(net, &fm.mem))
		abort();
	for (unsigned q = 0; q < 2; q++) {
		net->common.vd.kick_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (net->common.vd.kick_fd[q] < 0)
			abort();
	}
	return 0;
}

static void drain(int fd, bool check_tx)
{
	for (;;) {
		ssize_t r = recv(fd, frame, sizeof(frame), MSG_DONTWAIT | MSG_TRUNC);
		if (r < 0) {
			FUZZ_CHECK(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
			if (errno == EINTR)
				continue;
			return;
		}
		if (!check_tx)
			continue;
		/* What the device hands the tap: its own zero header, a frame. */
		FUZZ_CHECK((size_t)r >= HDR_LEN + ETH_HLEN);
		FUZZ_CHECK((size_t)r <= HDR_LEN + TX_MAX_FRAME);
		static const uint8_t zero[HDR_LEN];
		FUZZ_CHECK(memcmp(frame, zero, HDR_LEN) == 0);
	}
}

/* The device as activation leaves it, without the thread. */
static void device_setup(uint16_t qsize, bool event_idx)
{
	struct virtio_net *n = net;
	struct virtio_dev *vd = &n->common.vd;
	vd->notify_queue = fake_notify_queue;
	vd->notify_config = fake_notify_config;
	vd->set_needs_reset = fake_needs_reset;
	vd->features_negotiated = (1ULL << VIRTIO_F_VERSION_1) | n->common.p.features |
				  (event_idx ? 1ULL << VIRTIO_RING_F_EVENT_IDX : 0);
	for (unsigned q = 0; q < 2; q++)
		eventfd_drain(vd->kick_fd[q]);
	uint64_t next = FUZZ_GPA_A;
	for (unsigned q = 0; q < 2; q++) {
		next = fuzz_ring_layout(next, qsize, &ring[q][0], &ring[q][1],
					&ring[q][2]);
		FUZZ_CHECK(vq_init(&vd->vqs[q], &fm.mem, qsize, ring[q][0],
				   ring[q][1], ring[q][2], event_idx) == 0);
	}

	static const uint8_t mac[ETH_ALEN] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	memcpy(n->config.mac, mac, sizeof(mac));
	n->config.mtu = htole16(1500);
	atomic_store(&n->status, VIRTIO_NET_S_LINK_UP);
	n->tap_dead = false;
	/* common.c's activate: the kick eventfds, net_activate(), its fds. */
	virtio_worker_clear(&n->common.worker);
	n->common.nfds = 0;
	for (unsigned q = 0; q < 2; q++)
		FUZZ_CHECK(virtio_worker_add(&n->common.worker, vd->kick_fd[q],
					     EPOLLIN) == (int)q);
	FUZZ_CHECK(net_activate(n) == 0);
	FUZZ_CHECK(n->common.nfds == 1);
	FUZZ_CHECK(virtio_worker_add(&n->common.worker, n->tap.fd,
				     n->common.events[0]) == (int)n->w_tap);
}

/* A frame as the tap would deliver it: vnet header, Ethernet frame. */
static void inject(uint8_t a, uint16_t len)
{
	size_t total = len % (HDR_LEN + 9000u + 1);
	memset(frame, 0, HDR_LEN);
	struct virtio_net_hdr_v1 *h = (struct virtio_net_hdr_v1 *)frame;
	if (total >= HDR_LEN) {
		h->flags = a & 3; /* NEEDS_CSUM, DATA_VALID */
		h->gso_type = (a >> 2) & 7;
		h->num_buffers = (uint16_t)(a >> 5);
	}
	for (size_t i = HDR_LEN; i < total; i++)
		frame[i] = (uint8_t)(i * 31 + a);
	ssize_t r = send(host_fd, frame, total, MSG_DONTWAIT);
	(void)r; /* a full socket drops it, as a full tap queue would */
}

static void set_avail_idx(unsigned q, uint16_t v)
{
	memcpy(fm.a + (ring[q][1] - FUZZ_GPA_A) + 2, &v, sizeof(v));
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

	drain(host_fd, false);
	drain(net->tap.fd, false);
	set_sndbuf(40 * 1024);
	device_setup((uint16_t)(1u << (size_log2 % 9)), flags & 1);

	for (unsigned i = 0; i < nops; i++) {
		uint8_t op = fz_u8(&ops), a = fz_u8(&ops);
		uint16_t b = fz_u16(&ops);
		switch (op % 10) {
		case 0: {
			uint64_t one = 1;
			FUZZ_CHECK(write(net->common.vd.kick_fd[VIRTIO_NET_TXQ], &one,
					 sizeof(one)) == sizeof(one));
			eventfd_drain(net->common.vd.kick_fd[VIRTIO_NET_TXQ]);
			net_kicked(net, VIRTIO_NET_TXQ);
			break;
		}
		case 1: {
			uint64_t one = 1;
			FUZZ_CHECK(write(net->common.vd.kick_fd[VIRTIO_NET_RXQ], &one,
					 sizeof(one)) == sizeof(one));
			eventfd_drain(net->common.vd.kick_fd[VIRTIO_NET_RXQ]);
			net_kicked(net, VIRTIO_NET_RXQ);
			break;
		}
		case 2:
			net_tap_ready(net, net->w_tap);
			break;
		case 3:
			inject(a, b);
			break;
		case 4:
			drain(host_fd, true);
			break;
		case 5:
			fm.a[b % FUZZ_REGION_SIZE] = a;
			break;
		case 6:
			set_avail_idx(a & 1, b);
			break;
		case 7:
			tap_died(net, EBADFD);
			break;
		case 8: {
			uint8_t buf[32];
			uint32_t off = b % 64, len = a % (sizeof(buf) + 1);
			net->common.vd.ops->config_read(&net->common, off, buf, len);
			for (uint32_t k = 0; k < len; k++)
				if (off + k >= NET_CONFIG_SIZE)
					FUZZ_CHECK(buf[k] == 0);
			break;
		}
		case 9:
			set_sndbuf(2048 + (int)b);
			break;
		}
	}
	drain(host_fd, true);
	return 0;
}
