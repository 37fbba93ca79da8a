/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock: the test plays the guest driver (vq_driver.h: rings in a
 * buffer registered as guest memory, packets built by hand) and the host
 * processes (UNIX sockets: connecting to PATH, listening on PATH_P), and
 * walks the packet state machine: connections both ways, data, credit both
 * ways, SHUTDOWN, RST for what breaks the rules, the table limit, reset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_vsock.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "guest_mem.h"
#include "log.h"
#include "log_capture.h"
#include "virtio/virtio.h"
#include "virtio/vsock.h"
#include "vq_driver.h"

#define MEM_GPA 0x100000ULL
#define MEM_SIZE 0x400000ULL
#define QSIZE 256
#define SLOTS 128 /* chains in flight per queue: descriptors 2s, 2s+1 */
#define BUF_SIZE 8192
#define HDR ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define RXQ VIRTIO_VSOCK_RXQ
#define TXQ VIRTIO_VSOCK_TXQ
#define EVQ VIRTIO_VSOCK_EVQ
#define CID 42
#define GUEST_BUF_ALLOC 8192u /* the test guest's receive window */

struct fx {
	uint8_t *buf;
	struct guest_mem mem;
	struct virtio_vsock *vs;
	struct virtio_dev *vd;
	struct drv_queue q[3];
	struct drv_transport t;
	char dir[32];
	char path[64];
	/* The test guest's own counters for its one connection under test. */
	uint32_t fwd_cnt;
};

/* ---- host side ---- */

static int host_listen(struct fx *f, uint32_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", f->path, port);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 128), 0);
	return fd;
}

static int host_connect(struct fx *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Reads exactly len bytes from fd within a few seconds. */
static void read_exact(int fd, void *buf, size_t len)
{
	uint64_t end = now_ms() + 5000;
	size_t got = 0;
	while (got < len) {
		assert_true(now_ms() < end);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = read(fd, (uint8_t *)buf + got, len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

/* Whether cvmm closed fd within ms: end of file, or ECONNRESET when it
 * closed with bytes of ours unread (nothing else may come first). */
static bool host_eof(int fd, unsigned ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, (int)ms) <= 0)
		return false;
	char c;
	ssize_t n = read(fd, &c, 1);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* ---- guest side ---- */

static void rx_post(struct fx *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		drv_add_slot(&f->q[RXQ], BUF_SIZE, i % 2 ? 0 : HDR, VRING_DESC_F_WRITE);
	drv_publish_and_kick(&f->q[RXQ]);
}

static struct virtio_vsock_hdr mkhdr(uint16_t op, uint32_t sport, uint32_t dport,
				     uint32_t flags, uint32_t len, uint32_t fwd_cnt)
{
	return (struct virtio_vsock_hdr){
		.src_cid = htole64(CID), .dst_cid = htole64(VIRTIO_VSOCK_HOST_CID),
		.src_port = htole32(sport), .dst_port = htole32(dport),
		.len = htole32(len), .type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
		.op = htole16(op), .flags = htole32(flags),
		.buf_alloc = htole32(GUEST_BUF_ALLOC), .fwd_cnt = htole32(fwd_cnt),
	};
}

/* A packet as it is (header h, then len bytes of data in the same
 * buffer, which holds chain_len bytes), sent and used. */
static void tx_raw(struct fx *f, const struct virtio_vsock_hdr *h, const void *data,
		   uint32_t len, uint32_t chain_len)
{
	struct drv_queue *dq = &f->q[TXQ];
	assert_true(chain_len <= BUF_SIZE);
	uint8_t *b = drv_add_slot(dq, chain_len, chain_len > HDR ? HDR : 0, 0);
	memcpy(b, h, chain_len < HDR ? chain_len : HDR);
	if (len)
		memcpy(b + HDR, data, len);
	uint16_t want = (uint16_t)(dq->used_seen + 1);
	drv_publish_and_kick(dq);
	assert_true(drv_wait_used_idx(dq, want));
	uint32_t ulen;
	drv_take_used(dq, &ulen);
	assert_int_equal(ulen, 0);
}

static void tx(struct fx *f, uint16_t op, uint32_t sport, uint32_t dport,
	       uint32_t flags, const void *data, uint32_t len)
{
	struct virtio_vsock_hdr h = mkhdr(op, sport, dport, flags, len, f->fwd_cnt);
	tx_raw(f, &h, data, len, HDR + len);
}

/* The next packet to the guest (false: none within ms); its payload into
 * data (BUF_SIZE bytes room). The buffer is posted again. */
static bool rx_get(struct fx *f, struct virtio_vsock_hdr *h, uint8_t *data, unsigned ms)
{
	struct drv_queue *dq = &f->q[RXQ];
	if (drv_wait_pending(dq, 1, ms) < 1)
		return false;
	uint32_t len;
	uint8_t *b = drv_take_used(dq, &len);
	assert_true(len >= HDR && len <= BUF_SIZE);
	memcpy(h, b, HDR);
	assert_int_equal(le32toh(h->len), len - HDR);
	if (data)
		memcpy(data, b + HDR, len - HDR);
	assert_int_equal(le64toh(h->dst_cid), CID);
	assert_int_equal(le16toh(h->type), VIRTIO_VSOCK_TYPE_STREAM);
	rx_post(f, 1);
	return true;
}

/* The next packet must be op between these ports. */
static void expect(struct fx *f, struct virtio_vsock_hdr *h, uint16_t op,
		   uint32_t guest_port, uint32_t host_port)
{
	assert_true(rx_get(f, h, NULL, 3000));
	assert_int_equal(le16toh(h->op), op);
	assert_int_equal(le32toh(h->dst_port), guest_port);
	assert_int_equal(le32toh(h->src_port), host_port);
}

static void stats(struct fx *f, struct virtio_vsock_stats *s)
{
	virtio_vsock_get_stats(f->vs, s);
}

/* ---- fixture ---- */

static void activate(struct fx *f)
{
	f->vd->features_negotiated = 1ULL << VIRTIO_F_VERSION_1;
	memset(f->buf, 0, 0x20000);
	for (unsigned q = 0; q < 3; q++) {
		uint64_t desc = MEM_GPA + q * 0x6000;
		f->q[q] = (struct drv_queue){
			.mem = f->buf, .mem_gpa = MEM_GPA, .size = QSIZE,
			.desc_gpa = desc, .avail_gpa = desc + 0x1000,
			.used_gpa = desc + 0x2000,
			.buf_gpa = MEM_GPA + 0x20000 + (uint64_t)q * SLOTS * BUF_SIZE / 2,
			.buf_size = q == EVQ ? 64 : BUF_SIZE, .slots = q == EVQ ? 4 : SLOTS / 2,
			.kick_fd = f->vd->kick_fd[q],
		};
		drv_queue_enable(&f->q[q], &f->vd->vqs[q], &f->mem);
	}
	assert_int_equal(f->vd->ops->activate(f->vd->dev), 0);
	rx_post(f, SLOTS / 2);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->buf = drv_mem_alloc(&f->mem, MEM_GPA, MEM_SIZE);
	assert_non_null(f->buf);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cvmm-vsock-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/v.sock", f->dir);
	struct vsock_config cfg = { .enabled = true, .cid = CID, .socket = f->path };
	assert_int_equal(virtio_vsock_create(&f->vs, &cfg, &f->mem), 0);
	f->vd = virtio_vsock_vdev(f->vs);
	drv_fake_transport(f->vd, &f->t);
	for (unsigned q = 0; q < 3; q++) {
		f->vd->kick_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(f->vd->kick_fd[q] >= 0);
	}
	activate(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	/* The kick eventfds are the test's; vd goes with the device. */
	int kick[3];
	for (unsigned q = 0; q < 3; q++)
		kick[q] = f->vd->kick_fd[q];
	virtio_vsock_destroy(f->vs);
	/* PATH goes with the device; the test's PATH_P listeners stay. */
	assert_int_equal(access(f->path, F_OK), -1);
	for (unsigned q = 0; q < 3; q++)
		close(kick[q]);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f->buf);
	free(f);
	return 0;
}

/* A guest-initiated connection from guest port gp to host port hp, whose
 * listener is lfd: the host's end. */
static int guest_open(struct fx *f, int lfd, uint32_t gp, uint32_t hp)
{
	struct virtio_vsock_hdr h;
	tx(f, VIRTIO_VSOCK_OP_REQUEST, gp, hp, 0, NULL, 0);
	expect(f, &h, VIRTIO_VSOCK_OP_RESPONSE, gp, hp);
	assert_int_equal(le32toh(h.buf_alloc), VIRTIO_VSOCK_BUF_ALLOC);
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* A host-initiated connection to guest port gp: the host's end, and the
 * host port cvmm chose in *hp. */
static int host_open(struct fx *f, uint32_t gp, uint32_t *hp)
{
	int fd = host_connect(f);
	char line[32];
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", gp);
	assert_int_equal(write(fd, line, (size_t)n), n);
	struct virtio_vsock_hdr h;
	assert_true(rx_get(f, &h, NULL, 3000));
	assert_int_equal(le16toh(h.op), VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(le32toh(h.dst_port), gp);
	assert_int_equal(le64toh(h.src_cid), VIRTIO_VSOCK_HOST_CID);
	*hp = le32toh(h.src_port);
	assert_true(*hp >= VIRTIO_VSOCK_HOST_PORT_BASE);
	tx(f, VIRTIO_VSOCK_OP_RESPONSE, gp, *hp, 0, NULL, 0);
	char ok[32], want[32];
	int wn = snprintf(want, sizeof(want), "OK %u\n", *hp);
	read_exact(fd, ok, (size_t)wn);
	assert_memory_equal(ok, want, (size_t)wn);
	return fd;
}

/* ---- tests ---- */

static void test_identity(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vd = f->vd;
	assert_int_equal(vd->device_id, VIRTIO_ID_VSOCK);
	assert_int_equal(vd->nqueues, 3);
	assert_int_equal(vd->config_size, 8);
	uint8_t cfg[8];
	vd->ops->config_read(vd->dev, 0, cfg, 8);
	uint64_t cid;
	memcpy(&cid, cfg, 8);
	assert_int_equal(le64toh(cid), CID);
	assert_int_equal(vd->ops->features(vd->dev), 0);
}

static void test_guest_connect_data(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 1234);
	int fd = guest_open(f, lfd, 5000, 1234);
	tx(f, VIRTIO_VSOCK_OP_RW, 5000, 1234, 0, "hello", 5);
	char buf[16];
	read_exact(fd, buf, 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(write(fd, "world!", 6), 6);
	struct virtio_vsock_hdr h;
	uint8_t data[BUF_SIZE];
	assert_true(rx_get(f, &h, data, 3000));
	assert_int_equal(le16toh(h.op), VIRTIO_VSOCK_OP_RW);
	assert_int_equal(le32toh(h.len), 6);
	assert_memory_equal(data, "world!", 6);
	assert_int_equal(le32toh(h.fwd_cnt), 5); /* the 5 bytes went out */
	struct virtio_vsock_stats s;
	stats(f, &s);
	assert_int_equal(s.conns, 1);
	assert_int_equal(s.tx_bytes, 5);
	assert_int_equal(s.rx_bytes, 6);
	/* Nobody listens on port 99: RST. */
	tx(f, VIRTIO_VSOCK_OP_REQUEST, 5001, 99, 0, NULL, 0);
	expect(f, &h, VIRTIO_VSOCK_OP_RST, 5001, 99);
	close(fd);
	close(lfd);
}

static void test_host_connect_data(void **state)
{
	struct fx *f = *state;
	uint32_t hp;
	int fd = host_open(f, 52, &hp);
	/* A second one gets another host port. */
	uint32_t hp2;
	int fd2 = host_open(f, 52, &hp2);
	assert_int_not_equal(hp, hp2);
	assert_int_equal(write(fd, "ping", 4), 4);
	struct virtio_vsock_hdr h;
	uint8_t data[BUF_SIZE];
	assert_true(rx_get(f, &h, data, 3000));
	assert_int_equal(le16toh(h.op), VIRTIO_VSOCK_OP_RW);
	assert_int_equal(le32toh(h.src_port), hp);
	assert_memory_equal(data, "ping", 4);
	tx(f, VIRTIO_VSOCK_OP_RW, 52, hp2, 0, "pong", 4);
	char buf[8];
	read_exact(fd2, buf, 4);
	assert_memory_equal(buf, "pong", 4);
	close(fd);
	close(fd2);
	/* The host closed: the guest hears SHUTDOWN(SEND) on each. */
	for (int i = 0; i < 2; i++) {
		assert_true(rx_get(f, &h, NULL, 3000));
		assert_int_equal(le16toh(h.op), VIRTIO_VSOCK_OP_SHUTDOWN);
		assert_int_equal(le32toh(h.flags), VIRTIO_VSOCK_SHUTDOWN_SEND);
	}
}

static void test_host_connect_refused(void **state)
{
	struct fx *f = *state;
	/* The guest answers RST: the socket closes without "OK". */
	int fd = host_connect(f);
	assert_int_equal(write(fd, "CONNECT 7\n", 10), 10);
	struct virtio_vsock_hdr h;
	assert_true(rx_get(f, &h, NULL, 3000));
	assert_int_equal(le16toh(h.op), VIRTIO_VSOCK_OP_REQUEST);
	tx(f, VIRTIO_VSOCK_OP_RST, 7, le32toh(h.src_port), 0, NULL, 0);
	assert_true(host_eof(fd, 3000));
	close(fd);
	/* Not a CONNECT line: closed, the guest hears nothing. */
	const char *bad[] = { "HELLO 7\n", "CONNECT x\n", "CONNECT 99999999999\n",
			      "CONNECT 7 \n", "CONNECT 123456789012345678901234567890" };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fd = host_connect(f);
		assert_int_equal(write(fd, bad[i], strlen(bad[i])), (ssize_t)strlen(bad[i]));
		if (!host_eof(fd, 3000))
			fail_msg("line %u \"%s\" did not close the socket", i, bad[i]);
		close(fd);
	}
	/* Split over two writes, then data right behind the line. */
	fd = host_connect(f);
	assert_int_equal(write(fd, "CONN", 4), 4);
	usleep(20000);
	assert_int_equal(write(fd, "ECT 8\nearly", 11), 11);
	assert_true(rx_get(f, &h, NULL, 3000));
	assert_int_equal(le16toh(h.op), VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(le32toh(h.dst_port), 8);
	uint32_t hp = le32toh(h.src_port);
	tx(f, VIRTIO_VSOCK_OP_RESPONSE, 8, hp, 0, NULL, 0);
	uint8_t data[BUF_SIZE];
	assert_true(rx_get(f, &h, data, 3000));
	assert_int_equal(le16toh(h.op), VIRTIO_VSOCK_OP_RW);
	assert_memory_equal(data, "early", 5);
	assert_true(drv_wait_pending(&f->q[RXQ], 1, 50) == 0);
	struct virtio_vsock_stats s;
	stats(f, &s);
	assert_int_equal(s.conns, 1);
	close(fd);
}

static uint8_t pat[4 << 20], got[4 << 20];

/*
 * The guest sends pat[from...] on (gp, hp) as fast as its credit allows
 * while the host does not read, until the credit it is told runs out
 * (nothing more for 200 ms). Returns the bytes sent; *peer_fwd is the
 * fwd_cnt it was told last.
 */
static uint32_t fill_window(struct fx *f, uint32_t gp, uint32_t hp, uint32_t from,
			    uint32_t *peer_fwd)
{
	uint32_t sent = from;
	struct virtio_vsock_hdr h;
	for (;;) {
		uint32_t credit = VIRTIO_VSOCK_BUF_ALLOC - (sent - *peer_fwd);
		if (credit) {
			uint32_t n = credit < 4096 ? credit : 4096;
			assert_true(sent + n <= sizeof(pat));
			tx(f, VIRTIO_VSOCK_OP_RW, gp, hp, 0, pat + sent, n);
			sent += n;
		}
		/* Credit updates come as the window's first half is used. */
		if (rx_get(f, &h, NULL, credit ? 0 : 200)) {
			assert_int_equal(le16toh(h.op), VIRTIO_VSOCK_OP_CREDIT_UPDATE);
			*peer_fwd = le32toh(h.fwd_cnt);
		} else if (!credit) {
			return sent;
		}
	}
}

/* A guest that never answers a host's REQUEST: after the timeout the host
 * socket closes and the guest gets an RST (a late RESPONSE finds nothing). */
static void test_host_connect_timeout(void **state)
{
	struct fx *f = *state;
	int fd = host_connect(f);
	assert_int_equal(write(fd, "CONNECT 9\n", 10), 10);
	struct virtio_vsock_hdr h;
	assert_true(rx_get(f, &h, NULL, 3000));
	assert_int_equal(le16toh(h.op), VIRTIO_VSOCK_OP_REQUEST);
	uint32_t hp = le32toh(h.src_port);
	uint64_t t0 = now_ms();
	assert_true(host_eof(fd, VIRTIO_VSOCK_CONNECT_TIMEOUT_MS + 2000));
	uint64_t waited = now_ms() - t0;
	assert_true(waited + 100 >= VIRTIO_VSOCK_CONNECT_TIMEOUT_MS);
	expect(f, &h, VIRTIO_VSOCK_OP_RST, 9, hp);
	close(fd);
	tx(f, VIRTIO_VSOCK_OP_RESPONSE, 9, hp, 0, NULL, 0);
	expect(f, &h, VIRTIO_VSOCK_OP_RST, 9, hp);
	struct virtio_vsock_stats s;
	stats(f, &s);
	assert_int_equal(s.conns, 0);
	assert_int_equal(s.refused, 1);
}

/* Guest to host beyond the window while the host does not read: the guest,
 * following the credit it is told, stalls; the host reads and it goes on;
 * a byte beyond the credit is an RST. */
static void test_credit_guest_to_host(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 80);
	int fd = guest_open(f, lfd, 600, 80);
	for (size_t i = 0; i < sizeof(pat); i++)
		pat[i] = (uint8_t)(i * 7 + i / 4096);
	uint32_t peer_fwd = 0;
	uint32_t sent = fill_window(f, 600, 80, 0, &peer_fwd);
	/* Stalled exactly a window beyond what the host took; that window
	 * waits in cvmm, the rest in the socket. */
	assert_int_equal(sent - peer_fwd, VIRTIO_VSOCK_BUF_ALLOC);
	assert_true(sent > VIRTIO_VSOCK_BUF_ALLOC);
	struct virtio_vsock_stats s;
	stats(f, &s);
	assert_int_equal(s.tx_bytes, peer_fwd);
	/* The host reads: the rest flows out, in order. */
	read_exact(fd, got, sent);
	assert_memory_equal(got, pat, sent);
	/* Asked, cvmm tells the guest all of it went out (credit updates
	 * may come first). */
	tx(f, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 600, 80, 0, NULL, 0);
	struct virtio_vsock_hdr h;
	do {
		expect(f, &h, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 600, 80);
	} while (le32toh(h.fwd_cnt) != sent);
	/* Once more to the stall; then one byte beyond the credit: RST, and
	 * the host reads what was accepted, then end of file. */
	peer_fwd = sent;
	uint32_t sent2 = fill_window(f, 600, 80, sent, &peer_fwd);
	tx(f, VIRTIO_VSOCK_OP_RW, 600, 80, 0, pat, 1);
	expect(f, &h, VIRTIO_VSOCK_OP_RST, 600, 80);
	stats(f, &s);
	assert_int_equal(s.bad_packets, 1);
	size_t total = 0;
	for (;;) {
		ssize_t n = read(fd, got, sizeof(got));
		assert_true(n >= 0);
		if (!n)
			break;
		total += (size_t)n;
	}
	/* What the socket held; the window cvmm held is dropped with it. */
	assert_int_equal(total, peer_fwd - sent);
	assert_true(sent2 > peer_fwd);
	close(fd);
	close(lfd);
}

/* Host to guest beyond the guest's window: cvmm sends exactly the window,
 * asks for credit, and goes on when the guest's CREDIT_UPDATE comes. */
static void test_credit_host_to_guest(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 81);
	int fd = guest_open(f, lfd, 601, 81);
	const uint32_t size = 40000;
	for (size_t i = 0; i < size; i++)
		pat[i] = (uint8_t)(i * 13 + 5);
	assert_int_equal(write(fd, pat, size), (ssize_t)size);
	uint32_t recvd = 0;
	struct virtio_vsock_hdr h;
	uint8_t data[BUF_SIZE];
	unsigned requests = 0;
	while (recvd < size) {
		assert_true(rx_get(f, &h, data, 3000));
		uint16_t op = le16toh(h.op);
		if (op == VIRTIO_VSOCK_OP_CREDIT_REQUEST) {
			/* The guest read it all: its window is free again. */
			assert_int_equal(recvd - f->fwd_cnt, GUEST_BUF_ALLOC);
			requests++;
			f->fwd_cnt = recvd;
			tx(f, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 601, 81, 0, NULL, 0);
			continue;
		}
		assert_int_equal(op, VIRTIO_VSOCK_OP_RW);
		uint32_t n = le32toh(h.len);
		assert_true(recvd + n - f->fwd_cnt <= GUEST_BUF_ALLOC);
		memcpy(got + recvd, data, n);
		recvd += n;
	}
	assert_memory_equal(got, pat, size);
	assert_true(requests >= size / GUEST_BUF_ALLOC);
	/* A CREDIT_REQUEST from the guest is answered. */
	tx(f, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 601, 81, 0, NULL, 0);
	expect(f, &h, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 601, 81);
	close(fd);
	close(lfd);
}

static void test_shutdown(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 82);
	int fd = guest_open(f, lfd, 602, 82);
	struct virtio_vsock_hdr h;
	uint8_t data[BUF_SIZE];
	/* The guest sends no more: the host reads end of file, and may
	 * still write. */
	tx(f, VIRTIO_VSOCK_OP_RW, 602, 82, 0, "last", 4);
	tx(f, VIRTIO_VSOCK_OP_SHUTDOWN, 602, 82, VIRTIO_VSOCK_SHUTDOWN_SEND, NULL, 0);
	char buf[8];
	read_exact(fd, buf, 4);
	assert_true(host_eof(fd, 3000));
	assert_int_equal(write(fd, "more", 4), 4);
	assert_true(rx_get(f, &h, data, 3000));
	assert_int_equal(le16toh(h.op), VIRTIO_VSOCK_OP_RW);
	assert_memory_equal(data, "more", 4);
	/* Data after SHUTDOWN(SEND) breaks the rules. */
	tx(f, VIRTIO_VSOCK_OP_RW, 602, 82, 0, "x", 1);
	expect(f, &h, VIRTIO_VSOCK_OP_RST, 602, 82);
	close(fd);

	/* Both ways: the socket closes, the guest gets its RST. */
	fd = guest_open(f, lfd, 603, 82);
	tx(f, VIRTIO_VSOCK_OP_SHUTDOWN, 603, 82,
	   VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV, NULL, 0);
	expect(f, &h, VIRTIO_VSOCK_OP_RST, 603, 82);
	assert_true(host_eof(fd, 3000));
	close(fd);
	struct virtio_vsock_stats s;
	stats(f, &s);
	assert_int_equal(s.conns, 0);
	close(lfd);
}

/* Whatever breaks the rules gets an RST; cvmm goes on. */
static void test_bad_packets(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 83);
	struct virtio_vsock_hdr h, r;
	int fd;

	/* Unknown op on an open connection: RST, the socket closes. */
	fd = guest_open(f, lfd, 700, 83);
	h = mkhdr(99, 700, 83, 0, 0, 0);
	tx_raw(f, &h, NULL, 0, HDR);
	expect(f, &r, VIRTIO_VSOCK_OP_RST, 700, 83);
	assert_true(host_eof(fd, 3000));
	close(fd);

	/* A length beyond the chain. */
	fd = guest_open(f, lfd, 701, 83);
	h = mkhdr(VIRTIO_VSOCK_OP_RW, 701, 83, 0, 100, 0);
	tx_raw(f, &h, "abc", 3, HDR + 3);
	expect(f, &r, VIRTIO_VSOCK_OP_RST, 701, 83);
	assert_true(host_eof(fd, 3000));
	close(fd);

	/* Oversize: more than a packet may carry. */
	h = mkhdr(VIRTIO_VSOCK_OP_RW, 702, 83, 0, VIRTIO_VSOCK_MAX_PKT + 1, 0);
	tx_raw(f, &h, NULL, 0, HDR + 16);
	expect(f, &r, VIRTIO_VSOCK_OP_RST, 702, 83);

	/* Data, SHUTDOWN, RESPONSE, CREDIT_* for no connection. */
	uint16_t ops[] = { VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_OP_SHUTDOWN,
			   VIRTIO_VSOCK_OP_RESPONSE, VIRTIO_VSOCK_OP_CREDIT_UPDATE,
			   VIRTIO_VSOCK_OP_CREDIT_REQUEST, VIRTIO_VSOCK_OP_INVALID };
	for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		h = mkhdr(ops[i], 710 + i, 83, 0, 0, 0);
		tx_raw(f, &h, NULL, 0, HDR);
		expect(f, &r, VIRTIO_VSOCK_OP_RST, 710 + i, 83);
	}
	/* An RST for no connection is not answered. */
	tx(f, VIRTIO_VSOCK_OP_RST, 720, 83, 0, NULL, 0);

	/* Another CID as the destination: the RST comes from it. */
	h = mkhdr(VIRTIO_VSOCK_OP_REQUEST, 721, 83, 0, 0, 0);
	h.dst_cid = htole64(7);
	tx_raw(f, &h, NULL, 0, HDR);
	expect(f, &r, VIRTIO_VSOCK_OP_RST, 721, 83);
	assert_int_equal(le64toh(r.src_cid), 7);
	/* A foreign source CID, a SEQPACKET type. */
	h = mkhdr(VIRTIO_VSOCK_OP_REQUEST, 722, 83, 0, 0, 0);
	h.src_cid = htole64(CID + 1);
	tx_raw(f, &h, NULL, 0, HDR);
	expect(f, &r, VIRTIO_VSOCK_OP_RST, 722, 83);
	h = mkhdr(VIRTIO_VSOCK_OP_REQUEST, 723, 83, 0, 0, 0);
	h.type = htole16(VIRTIO_VSOCK_TYPE_SEQPACKET);
	tx_raw(f, &h, NULL, 0, HDR);
	expect(f, &r, VIRTIO_VSOCK_OP_RST, 723, 83);

	/* A second REQUEST for an open connection resets it. */
	fd = guest_open(f, lfd, 724, 83);
	tx(f, VIRTIO_VSOCK_OP_REQUEST, 724, 83, 0, NULL, 0);
	expect(f, &r, VIRTIO_VSOCK_OP_RST, 724, 83);
	assert_true(host_eof(fd, 3000));
	close(fd);

	/* Shorter than a header: dropped, nothing answered. */
	h = mkhdr(VIRTIO_VSOCK_OP_REQUEST, 725, 83, 0, 0, 0);
	tx_raw(f, &h, NULL, 0, 20);
	assert_int_equal(drv_wait_pending(&f->q[RXQ], 1, 50), 0);

	/* Still serving. */
	fd = guest_open(f, lfd, 726, 83);
	tx(f, VIRTIO_VSOCK_OP_RW, 726, 83, 0, "ok", 2);
	char buf[2];
	read_exact(fd, buf, 2);
	struct virtio_vsock_stats s;
	stats(f, &s);
	assert_true(s.bad_packets >= 12);
	assert_int_equal(s.conns, 1);
	assert_int_equal(atomic_load(&f->t.needs_reset), 0);
	close(fd);
	close(lfd);
}

/* A flood of bad packets while the guest posts no rx buffers: at most
 * VIRTIO_VSOCK_RST_QUEUE RSTs are owed, then the tx queue waits. */
static void test_rst_backpressure(void **state)
{
	struct fx *f = *state;
	struct drv_queue *tq = &f->q[TXQ], *rq = &f->q[RXQ];
	/* Take the posted rx buffers away: fill them with RSTs first. */
	unsigned posted = (uint16_t)(rq->avail_idx - rq->used_seen);
	for (unsigned i = 0; i < posted; i++) {
		struct virtio_vsock_hdr h = mkhdr(VIRTIO_VSOCK_OP_RW, 800 + i, 1, 0, 0, 0);
		tx_raw(f, &h, NULL, 0, HDR);
	}
	assert_int_equal(drv_wait_pending(rq, posted, 3000), posted);
	/* Now RSTs are owed with no buffer to carry them. */
	unsigned n = VIRTIO_VSOCK_RST_QUEUE + 8;
	for (unsigned i = 0; i < n; i++) {
		struct virtio_vsock_hdr h = mkhdr(VIRTIO_VSOCK_OP_RW, 900 + i, 1, 0, 0, 0);
		uint8_t *b = drv_add_slot(tq, HDR, 0, 0);
		memcpy(b, &h, HDR);
	}
	uint16_t before = drv_used_idx(tq);
	drv_publish_and_kick(tq);
	usleep(100 * 1000);
	assert_int_equal((uint16_t)(drv_used_idx(tq) - before), VIRTIO_VSOCK_RST_QUEUE);
	/* Buffers again: the RSTs go out, then the rest of the packets. */
	for (unsigned i = 0; i < posted; i++) {
		uint32_t len;
		drv_take_used(rq, &len);
	}
	rx_post(f, posted);
	assert_true(drv_wait_used_idx(tq, (uint16_t)(before + n)));
	for (unsigned i = 0; i < n; i++) {
		struct virtio_vsock_hdr r;
		assert_true(rx_get(f, &r, NULL, 3000));
		assert_int_equal(le16toh(r.op), VIRTIO_VSOCK_OP_RST);
		assert_int_equal(le32toh(r.dst_port), 900 + i);
	}
	tq->used_seen = drv_used_idx(tq);
}

/* The table holds VIRTIO_VSOCK_MAX_CONNS connections: the next one is
 * refused (guest REQUEST: RST; host connection: closed) with a warning. */
static void test_table_full(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 84);
	int fds[VIRTIO_VSOCK_MAX_CONNS];
	struct virtio_vsock_hdr h;
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++)
		fds[i] = guest_open(f, lfd, 1000 + i, 84);
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	tx(f, VIRTIO_VSOCK_OP_REQUEST, 2000, 84, 0, NULL, 0);
	bool got = rx_get(f, &h, NULL, 3000);
	int hfd = host_connect(f);
	bool closed = host_eof(hfd, 3000);
	unsigned lines = log_capture_stop(&cap);
	assert_true(got);
	assert_int_equal(le16toh(h.op), VIRTIO_VSOCK_OP_RST);
	assert_int_equal(le32toh(h.dst_port), 2000);
	assert_true(closed);
	assert_int_equal(lines, 2);
	assert_non_null(strstr(cap.text, "connection table full"));
	close(hfd);
	struct virtio_vsock_stats s;
	stats(f, &s);
	assert_int_equal(s.conns, VIRTIO_VSOCK_MAX_CONNS);
	assert_int_equal(s.refused, 2);
	/* One closes (the guest's RST): room again. */
	tx(f, VIRTIO_VSOCK_OP_RST, 1000, 84, 0, NULL, 0);
	assert_true(host_eof(fds[0], 3000));
	close(fds[0]);
	fds[0] = guest_open(f, lfd, 2001, 84);
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++)
		close(fds[i]);
	close(lfd);
}

/* Reset closes every connection; the next activation brings the guest a
 * TRANSPORT_RESET event once it posts an event buffer. */
static void test_reset(void **state)
{
	struct fx *f = *state;
	int lfd = host_listen(f, 85);
	int fd = guest_open(f, lfd, 3000, 85);
	uint32_t hp;
	int hfd = host_open(f, 3001, &hp);
	f->vd->ops->reset(f->vd->dev);
	for (unsigned q = 0; q < 3; q++)
		vq_reset(&f->vd->vqs[q]);
	assert_true(host_eof(fd, 3000));
	assert_true(host_eof(hfd, 3000));
	close(fd);
	close(hfd);
	struct virtio_vsock_stats s;
	stats(f, &s);
	assert_int_equal(s.conns, 0);
	activate(f);
	struct drv_queue *eq = &f->q[EVQ];
	uint8_t *b = drv_add_slot(eq, 8, 0, VRING_DESC_F_WRITE);
	memset(b, 0xff, 8);
	drv_publish_and_kick(eq);
	assert_int_equal(drv_wait_pending(eq, 1, 3000), 1);
	uint32_t len;
	b = drv_take_used(eq, &len);
	assert_int_equal(len, 4);
	uint32_t id;
	memcpy(&id, b, 4);
	assert_int_equal(le32toh(id), VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	/* Once: a second buffer stays with the device. */
	drv_add_slot(eq, 8, 0, VRING_DESC_F_WRITE);
	drv_publish_and_kick(eq);
	assert_int_equal(drv_wait_pending(eq, 1, 100), 0);
	/* And it works again. */
	fd = guest_open(f, lfd, 3002, 85);
	close(fd);
	close(lfd);
}

/* A stale socket at PATH is replaced; a live one, or a file, refused. */
static void test_create_path(void **state)
{
	(void)state;
	struct guest_mem mem = { 0 };
	char dir[] = "/tmp/cvmm-vsock-XXXXXX", path[64], cmd[96];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	struct vsock_config cfg = { .enabled = true, .cid = 3, .socket = path };
	struct virtio_vsock *a, *b;
	assert_int_equal(virtio_vsock_create(&a, &cfg, &mem), 0);
	struct log_capture cap;
	log_capture_start(&cap, LOG_ERROR);
	int r = virtio_vsock_create(&b, &cfg, &mem);
	assert_int_equal(log_capture_stop(&cap), 1);
	assert_int_equal(r, -EADDRINUSE);
	/* Left behind by a process that is gone: replaced. */
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	virtio_vsock_destroy(a);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	assert_int_equal(virtio_vsock_create(&a, &cfg, &mem), 0);
	virtio_vsock_destroy(a);
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	log_capture_start(&cap, LOG_ERROR);
	r = virtio_vsock_create(&b, &cfg, &mem);
	assert_int_equal(log_capture_stop(&cap), 1);
	assert_int_equal(r, -EEXIST);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_path),
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_connect_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connect_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connect_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credit_guest_to_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credit_host_to_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_packets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rst_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
