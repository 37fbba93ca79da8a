/* SPDX-License-Identifier: MIT */
/*
 * virtio-net over a real TAP: the test plays the guest driver (rings built
 * by hand in a buffer registered as guest memory) and the host network
 * (an AF_PACKET socket bound to the tap, UDP sockets). Everything runs in a
 * forked child inside a private network namespace (unshare(CLONE_NEWNET)),
 * so no interface is left behind; the child's result is the binary's.
 * Without CAP_NET_ADMIN (unshare fails) the tests are skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "guest_mem.h"
#include "log.h"
#include "net/tap.h"
#include "virtio/net.h"
#include "virtio/virtio.h"
#include "virtio/worker.h"
#include "vq_driver.h"

#define TAP_NAME "cvmmtest0"
#define HOST_IP "10.250.0.1"
#define GUEST_IP "10.250.0.2"
#define TEST_ETHERTYPE 0x88b5 /* IEEE local experimental */

#define MEM_GPA 0x100000ULL
#define MEM_SIZE 0x400000ULL
#define QSIZE VIRTIO_NET_QUEUE_SIZE
#define SLOTS 128 /* chains in flight per queue: descriptors 2s, 2s+1 */
#define BUF_SIZE 2048
#define HDR 12

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct fx {
	uint8_t *buf;
	struct guest_mem mem;
	struct virtio_net *net;
	struct virtio_dev *vd;
	struct drv_queue q[2];
	bool event_idx;
	struct drv_transport t;
	int pkt_fd; /* AF_PACKET, TEST_ETHERTYPE, bound to the tap */
	int ifindex;
	uint8_t tap_mac[6];
};

/* ---- driver side ---- */

/* Posts n receive buffers of `size` bytes (split: 12-byte header descriptor
 * + the rest), filled with 0xAA so a header left unwritten shows. */
static void rx_post(struct fx *f, unsigned n, uint32_t size, bool split)
{
	struct drv_queue *dq = &f->q[VIRTIO_NET_RXQ];
	for (unsigned i = 0; i < n; i++) {
		uint8_t *b = drv_add_slot(dq, size, split ? HDR : 0,
					  VRING_DESC_F_WRITE);
		memset(b, 0xaa, BUF_SIZE);
	}
	drv_publish_and_kick(dq);
}

/* Puts one frame on the transmit queue behind hdr (NULL: a zero header);
 * split puts the header in its own descriptor. Does not publish. */
static void tx_add(struct fx *f, const struct virtio_net_hdr_v1 *hdr,
		   const void *frame, size_t len, bool split)
{
	struct virtio_net_hdr_v1 zero = { 0 };
	assert_true(len + HDR <= BUF_SIZE);
	uint8_t *b = drv_add_slot(&f->q[VIRTIO_NET_TXQ], (uint32_t)(HDR + len),
				  split ? HDR : 0, 0);
	memcpy(b, hdr ? hdr : &zero, HDR);
	memcpy(b + HDR, frame, len);
}

/* ---- host side ---- */

static void build_frame(uint8_t *fr, size_t len, const uint8_t *dst,
			const uint8_t *src, uint32_t seq)
{
	memcpy(fr, dst, 6);
	memcpy(fr + 6, src, 6);
	fr[12] = TEST_ETHERTYPE >> 8;
	fr[13] = TEST_ETHERTYPE & 0xff;
	memcpy(fr + 14, &seq, sizeof(seq));
	for (size_t i = 18; i < len; i++)
		fr[i] = (uint8_t)(seq * 7 + i);
}

static size_t frame_len_for(uint32_t seq)
{
	return 60 + (seq * 97) % (1514 - 60 + 1);
}

static const uint8_t host_src_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

/* Host → guest: one test frame through the tap. */
static void host_send(struct fx *f, uint32_t seq)
{
	uint8_t fr[1514];
	size_t len = frame_len_for(seq);
	build_frame(fr, len, guest_mac, host_src_mac, seq);
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_ifindex = f->ifindex,
		.sll_halen = 6,
	};
	memcpy(sll.sll_addr, guest_mac, 6);
	assert_int_equal(sendto(f->pkt_fd, fr, len, 0, (struct sockaddr *)&sll,
				sizeof(sll)),
			 (ssize_t)len);
}

/* Checks a received guest buffer: clean header, then test frame `seq`. */
static void check_rx_frame(const uint8_t *b, uint32_t len, uint32_t seq)
{
	struct virtio_net_hdr_v1 h;
	memcpy(&h, b, HDR);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_int_equal(le16toh(h.hdr_len), 0);
	assert_int_equal(le16toh(h.gso_size), 0);
	assert_int_equal(le16toh(h.csum_start), 0);
	assert_int_equal(le16toh(h.csum_offset), 0);
	assert_int_equal(le16toh(h.num_buffers), 1);
	size_t flen = frame_len_for(seq);
	assert_int_equal(len, HDR + flen);
	uint8_t want[1514];
	build_frame(want, flen, guest_mac, host_src_mac, seq);
	assert_memory_equal(b + HDR, want, flen);
}

static bool is_test_frame(const uint8_t *b, uint32_t len)
{
	return len >= HDR + 18 && b[HDR + 12] == (TEST_ETHERTYPE >> 8) &&
	       b[HDR + 13] == (TEST_ETHERTYPE & 0xff);
}

/*
 * Takes used rx entries until `n` test frames were seen (others, e.g. from
 * the host stack, are skipped); checks they carry seq first.. in order.
 */
static void expect_rx_frames(struct fx *f, uint32_t first, unsigned n)
{
	unsigned seen = 0;
	uint64_t end = now_ms() + 5000;
	while (seen < n) {
		if (drv_used_pending(&f->q[VIRTIO_NET_RXQ]) == 0) {
			assert_true(now_ms() < end);
			usleep(500);
			continue;
		}
		uint32_t len;
		uint8_t *b = drv_take_used(&f->q[VIRTIO_NET_RXQ], &len);
		if (!is_test_frame(b, len))
			continue;
		uint32_t seq;
		memcpy(&seq, b + HDR + 14, sizeof(seq));
		assert_int_equal(seq, first + seen);
		check_rx_frame(b, len, seq);
		seen++;
	}
}

/* Host receives one frame from the guest (TEST_ETHERTYPE only); -1 on timeout. */
static ssize_t host_recv(struct fx *f, uint8_t *buf, size_t size)
{
	for (;;) {
		ssize_t n = recv(f->pkt_fd, buf, size, 0);
		/* ENETDOWN: reported once after the link went down. */
		if (n < 0 && (errno == EINTR || errno == ENETDOWN))
			continue;
		return n;
	}
}


/* ---- fixture ---- */

static void setup_queues(struct fx *f)
{
	memset(f->buf, 0, 0x10000); /* rings */
	for (unsigned q = 0; q < 2; q++) {
		uint64_t desc = MEM_GPA + q * 0x4000;
		f->q[q] = (struct drv_queue){
			.mem = f->buf, .mem_gpa = MEM_GPA, .size = QSIZE,
			.desc_gpa = desc, .avail_gpa = desc + 0x1000,
			.used_gpa = desc + 0x2000,
			.buf_gpa = MEM_GPA + 0x100000 + q * 0x100000,
			.buf_size = BUF_SIZE, .slots = SLOTS,
			.kick_fd = f->vd->kick_fd[q], .event_idx = f->event_idx,
		};
		drv_queue_enable(&f->q[q], &f->vd->vqs[q], &f->mem);
	}
}

static void activate(struct fx *f)
{
	f->vd->features_negotiated =
		(1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_MAC) |
		(1ULL << VIRTIO_NET_F_STATUS) | (1ULL << VIRTIO_NET_F_MTU) |
		(f->event_idx ? 1ULL << VIRTIO_RING_F_EVENT_IDX : 0);
	setup_queues(f);
	assert_int_equal(f->vd->ops->activate(f->vd->dev), 0);
}

static int setup_common(void **state, bool event_idx)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->event_idx = event_idx;
	f->buf = drv_mem_alloc(&f->mem, MEM_GPA, MEM_SIZE);
	if (!f->buf)
		return -1;

	struct net_config cfg = {
		.tap = TAP_NAME,
		.has_mac = true,
		.has_ip = true,
	};
	memcpy(cfg.mac, guest_mac, 6);
	inet_pton(AF_INET, HOST_IP, &cfg.ip);
	inet_pton(AF_INET, "255.255.255.0", &cfg.mask);
	if (virtio_net_create(&f->net, &cfg, &f->mem) != 0)
		return -1;
	f->vd = virtio_net_vdev(f->net);
	drv_fake_transport(f->vd, &f->t);
	f->vd->notify_config = drv_fake_notify_config;
	for (unsigned q = 0; q < 2; q++) {
		f->vd->kick_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (f->vd->kick_fd[q] < 0)
			return -1;
	}

	f->ifindex = (int)if_nametoindex(TAP_NAME);
	if (!f->ifindex)
		return -1;
	f->pkt_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC,
			   htons(TEST_ETHERTYPE));
	if (f->pkt_fd < 0)
		return -1;
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(TEST_ETHERTYPE),
		.sll_ifindex = f->ifindex,
	};
	if (bind(f->pkt_fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -1;
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(f->pkt_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int big = 4 << 20;
	setsockopt(f->pkt_fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));

	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", TAP_NAME);
	if (ioctl(f->pkt_fd, SIOCGIFHWADDR, &ifr) < 0)
		return -1;
	memcpy(f->tap_mac, ifr.ifr_hwaddr.sa_data, 6);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_common(state, false);
}

static int setup_event_idx(void **state)
{
	return setup_common(state, true);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	int kick[2] = { -1, -1 };
	if (f->vd) {
		kick[0] = f->vd->kick_fd[0];
		kick[1] = f->vd->kick_fd[1];
	}
	virtio_net_destroy(f->net); /* stops the thread, closes the tap */
	for (int i = 0; i < 2; i++)
		if (kick[i] >= 0)
			close(kick[i]);
	if (f->pkt_fd > 0)
		close(f->pkt_fd);
	free(f->buf);
	free(f);
	return 0;
}

/* ---- tests ---- */

static void test_config(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vd = f->vd;
	assert_int_equal(vd->device_id, VIRTIO_ID_NET);
	assert_int_equal(vd->nqueues, 2);
	assert_int_equal(vd->queue_max_size, 256);
	uint64_t feat = vd->ops->features(vd->dev);
	assert_true(feat & (1ULL << VIRTIO_NET_F_MAC));
	assert_true(feat & (1ULL << VIRTIO_NET_F_STATUS));
	assert_false(feat & (1ULL << VIRTIO_NET_F_MRG_RXBUF));
	assert_false(feat & (1ULL << VIRTIO_NET_F_CSUM));
	assert_false(feat & (1ULL << VIRTIO_NET_F_GUEST_CSUM));
	assert_false(feat & (1ULL << VIRTIO_NET_F_CTRL_VQ));

	assert_true(vd->config_size >= 8);
	uint8_t cfg[32];
	memset(cfg, 0xff, sizeof(cfg));
	vd->ops->config_read(vd->dev, 0, cfg, vd->config_size);
	assert_memory_equal(cfg, guest_mac, 6);
	uint16_t status;
	memcpy(&status, cfg + offsetof(struct virtio_net_config, status), 2);
	assert_int_equal(le16toh(status), VIRTIO_NET_S_LINK_UP);
	if (feat & (1ULL << VIRTIO_NET_F_MTU)) {
		uint16_t mtu;
		memcpy(&mtu, cfg + offsetof(struct virtio_net_config, mtu), 2);
		assert_int_equal(le16toh(mtu), 1500);
	}
	/* Byte-wise reads agree; past the end reads 0. */
	for (unsigned i = 0; i < 6; i++) {
		uint8_t b = 0;
		vd->ops->config_read(vd->dev, i, &b, 1);
		assert_int_equal(b, guest_mac[i]);
	}
	uint8_t past[4] = { 1, 2, 3, 4 };
	vd->ops->config_read(vd->dev, vd->config_size, past, 4);
	assert_int_equal(past[0] | past[1] | past[2] | past[3], 0);
	assert_string_equal(virtio_net_tap_name(f->net), TAP_NAME);
}

static void test_tap_host_side(void **state)
{
	struct fx *f = *state;
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", TAP_NAME);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(s >= 0);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	assert_true(ifr.ifr_flags & IFF_UP);
	assert_int_equal(ioctl(s, SIOCGIFADDR, &ifr), 0);
	struct sockaddr_in sin;
	memcpy(&sin, &ifr.ifr_addr, sizeof(sin));
	char a[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &sin.sin_addr, a, sizeof(a));
	assert_string_equal(a, HOST_IP);
	assert_int_equal(ioctl(s, SIOCGIFNETMASK, &ifr), 0);
	memcpy(&sin, &ifr.ifr_netmask, sizeof(sin));
	inet_ntop(AF_INET, &sin.sin_addr, a, sizeof(a));
	assert_string_equal(a, "255.255.255.0");
	close(s);

	/* A kernel-chosen name, no address; a name too long. */
	struct tap t;
	assert_int_equal(tap_open(&t, NULL, false, 0, 0), 0);
	assert_true(t.fd >= 0);
	assert_int_equal(strncmp(t.name, "cvmm-tap", 8), 0);
	assert_true(if_nametoindex(t.name) != 0);
	assert_int_equal(tap_get_mtu(&t), 1500);
	tap_close(&t);
	assert_int_equal(t.fd, -1);
	tap_close(&t);
	assert_int_equal(tap_open(&t, "a-name-much-too-long-for-ifnamsiz",
				  false, 0, 0),
			 -EINVAL);
	assert_int_equal(t.fd, -1);
	(void)f;
}

static void rx_burst(struct fx *f, bool split)
{
	activate(f);
	rx_post(f, SLOTS, BUF_SIZE, split);
	for (uint32_t i = 0; i < 100; i++)
		host_send(f, i);
	expect_rx_frames(f, 0, 100);
	struct virtio_net_stats st;
	virtio_net_get_stats(f->net, &st);
	assert_true(st.rx_frames >= 100);
	assert_int_equal(st.rx_dropped, 0);
	/* The interrupt follows the used-ring update: wait for it. */
	assert_true(drv_wait_count(&f->t.notified[VIRTIO_NET_RXQ], 1));
	/* Nothing more arrives: no duplicates. */
	usleep(50000);
	while (drv_used_pending(&f->q[VIRTIO_NET_RXQ])) {
		uint32_t len;
		uint8_t *b = drv_take_used(&f->q[VIRTIO_NET_RXQ], &len);
		assert_false(is_test_frame(b, len));
	}
	assert_int_equal(atomic_load(&f->t.needs_reset), 0);
}

static void test_rx_burst(void **state)
{
	rx_burst(*state, false);
}

static void test_rx_burst_split_header(void **state)
{
	rx_burst(*state, true);
}

static void test_tx_burst(void **state)
{
	struct fx *f = *state;
	activate(f);
	uint8_t fr[1514];
	for (uint32_t i = 0; i < 100; i++) {
		size_t len = frame_len_for(i);
		build_frame(fr, len, f->tap_mac, guest_mac, i);
		tx_add(f, NULL, fr, len, i % 2);
		if (i % 10 == 9)
			drv_publish_and_kick(&f->q[VIRTIO_NET_TXQ]);
	}
	assert_int_equal(drv_wait_pending(&f->q[VIRTIO_NET_TXQ], 100, 5000),
			 100);
	for (unsigned i = 0; i < 100; i++) {
		uint32_t len;
		drv_take_used(&f->q[VIRTIO_NET_TXQ], &len);
		assert_int_equal(len, 0);
	}
	uint8_t got[2048], want[1514];
	for (uint32_t i = 0; i < 100; i++) {
		ssize_t n = host_recv(f, got, sizeof(got));
		assert_int_equal(n, (ssize_t)frame_len_for(i));
		build_frame(want, (size_t)n, f->tap_mac, guest_mac, i);
		assert_memory_equal(got, want, (size_t)n);
	}
	/* No duplicates. */
	assert_true(recv(f->pkt_fd, got, sizeof(got), MSG_DONTWAIT) < 0);
	struct virtio_net_stats st;
	virtio_net_get_stats(f->net, &st);
	assert_int_equal(st.tx_frames, 100);
	assert_int_equal(st.tx_dropped, 0);
	/* The interrupt follows the used-ring update: wait for it. */
	assert_true(drv_wait_count(&f->t.notified[VIRTIO_NET_TXQ], 1));
	assert_int_equal(atomic_load(&f->t.needs_reset), 0);
}

/* Frames wait in the tap while the guest has no buffers. */
static void test_rx_waits_for_buffers(void **state)
{
	struct fx *f = *state;
	activate(f);
	for (uint32_t i = 0; i < 20; i++)
		host_send(f, i);
	assert_idle(200); /* no buffers: the tap is not polled (no spinning) */
	assert_int_equal(drv_used_pending(&f->q[VIRTIO_NET_RXQ]), 0);
	/* A few at a time: each batch gets the next frames, in order. */
	uint32_t next = 0;
	for (unsigned batch = 0; batch < 4; batch++) {
		rx_post(f, 5, BUF_SIZE, false);
		expect_rx_frames(f, next, 5);
		next += 5;
	}
	/* The device asks for a kick again once out of buffers. */
	for (uint32_t i = 20; i < 40; i++)
		host_send(f, i);
	usleep(50000);
	assert_int_equal(drv_used_pending(&f->q[VIRTIO_NET_RXQ]), 0);
	rx_post(f, SLOTS - 20, BUF_SIZE, true);
	expect_rx_frames(f, 20, 20);
	struct virtio_net_stats st;
	virtio_net_get_stats(f->net, &st);
	assert_int_equal(st.rx_dropped, 0);
}

/* Host sends while the guest trickles buffers in: nothing lost or doubled. */
static void test_rx_interleaved(void **state)
{
	struct fx *f = *state;
	activate(f);
	uint32_t sent = 0;
	uint32_t received = 0;
	struct drv_queue *dq = &f->q[VIRTIO_NET_RXQ];
	uint64_t end = now_ms() + 10000;
	while (received < 300) {
		assert_true(now_ms() < end);
		if (sent < 300 && sent < received + 100)
			host_send(f, sent++);
		if ((uint16_t)(dq->avail_idx - dq->used_seen) < 16)
			rx_post(f, 1, BUF_SIZE, dq->avail_idx % 3 == 0);
		while (drv_used_pending(&f->q[VIRTIO_NET_RXQ])) {
			uint32_t len;
			uint8_t *b = drv_take_used(&f->q[VIRTIO_NET_RXQ], &len);
			if (!is_test_frame(b, len))
				continue;
			uint32_t seq;
			memcpy(&seq, b + HDR + 14, sizeof(seq));
			assert_int_equal(seq, received);
			check_rx_frame(b, len, seq);
			received++;
		}
		if (sent == 300)
			usleep(200);
	}
	struct virtio_net_stats st;
	virtio_net_get_stats(f->net, &st);
	assert_int_equal(st.rx_dropped, 0);
}

/* Too small / too short receive buffers. */
static void test_rx_small_buffers(void **state)
{
	struct fx *f = *state;
	activate(f);
	/* An 8-byte buffer is handed back unused; a 200-byte one cannot take a
	 * 1000-byte frame (dropped, counted) but takes the next, small one. */
	rx_post(f, 1, 8, false);
	assert_int_equal(drv_wait_pending(&f->q[VIRTIO_NET_RXQ], 1, 2000), 1);
	uint32_t len;
	drv_take_used(&f->q[VIRTIO_NET_RXQ], &len);
	assert_int_equal(len, 0);

	uint32_t big = 0;
	while (frame_len_for(big) < 1000)
		big++;
	uint32_t small = big + 1;
	while (frame_len_for(small) > 150 || frame_len_for(small) < 100)
		small++;
	rx_post(f, 1, 200, false);
	host_send(f, big);
	host_send(f, small);
	assert_int_equal(drv_wait_pending(&f->q[VIRTIO_NET_RXQ], 1, 2000), 1);
	uint8_t *b = drv_take_used(&f->q[VIRTIO_NET_RXQ], &len);
	check_rx_frame(b, len, small);
	struct virtio_net_stats st;
	virtio_net_get_stats(f->net, &st);
	assert_int_equal(st.rx_dropped, 1);

	/* A frame that fills the buffer exactly is delivered; one byte more
	 * than the buffer is not (split header or not). */
	uint32_t tiny = small + 1;
	while (frame_len_for(tiny) >= 80)
		tiny++;
	for (int split = 0; split < 2; split++) {
		uint32_t exact = (uint32_t)(HDR + frame_len_for(small));
		rx_post(f, 1, exact, split);
		host_send(f, small);
		assert_int_equal(drv_wait_pending(&f->q[VIRTIO_NET_RXQ], 1, 2000),
				 1);
		b = drv_take_used(&f->q[VIRTIO_NET_RXQ], &len);
		check_rx_frame(b, len, small);

		rx_post(f, 1, exact - 1, split);
		host_send(f, small);
		host_send(f, tiny);
		assert_int_equal(drv_wait_pending(&f->q[VIRTIO_NET_RXQ], 1, 2000),
				 1);
		b = drv_take_used(&f->q[VIRTIO_NET_RXQ], &len);
		check_rx_frame(b, len, tiny);
	}
	virtio_net_get_stats(f->net, &st);
	assert_int_equal(st.rx_dropped, 3);
	assert_int_equal(atomic_load(&f->t.needs_reset), 0);
}

static void test_tx_malformed(void **state)
{
	struct fx *f = *state;
	activate(f);
	uint8_t fr[200];
	build_frame(fr, sizeof(fr), f->tap_mac, guest_mac, 1);
	struct virtio_net_hdr_v1 gso = { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
					 .gso_size = 100 };
	struct virtio_net_hdr_v1 csum = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					  .csum_start = 14, .csum_offset = 16 };
	tx_add(f, &gso, fr, sizeof(fr), false);
	tx_add(f, &csum, fr, sizeof(fr), true);
	tx_add(f, NULL, fr, 10, false); /* shorter than an Ethernet header */
	/* A chain with only writable buffers: nothing readable at all. */
	{
		struct drv_queue *dq = &f->q[VIRTIO_NET_TXQ];
		unsigned slot = dq->avail_idx % SLOTS;
		drv_set_desc(dq, 2 * slot, drv_slot_gpa(dq, slot), 64,
			     VRING_DESC_F_WRITE, 0);
		drv_add_avail(dq, (uint16_t)(2 * slot));
	}
	build_frame(fr, sizeof(fr), f->tap_mac, guest_mac, 2);
	struct virtio_net_hdr_v1 valid = { .flags = VIRTIO_NET_HDR_F_DATA_VALID,
					   .num_buffers = htole16(7) };
	tx_add(f, &valid, fr, sizeof(fr), false); /* ignored fields: sent */
	drv_publish_and_kick(&f->q[VIRTIO_NET_TXQ]);
	assert_int_equal(drv_wait_pending(&f->q[VIRTIO_NET_TXQ], 5, 2000), 5);
	for (unsigned i = 0; i < 5; i++) {
		uint32_t len;
		drv_take_used(&f->q[VIRTIO_NET_TXQ], &len);
		assert_int_equal(len, 0);
	}
	uint8_t got[2048];
	ssize_t n = host_recv(f, got, sizeof(got));
	assert_int_equal(n, sizeof(fr));
	assert_memory_equal(got, fr, sizeof(fr));
	assert_true(recv(f->pkt_fd, got, sizeof(got), MSG_DONTWAIT) < 0);
	struct virtio_net_stats st;
	virtio_net_get_stats(f->net, &st);
	assert_int_equal(st.tx_frames, 1);
	assert_int_equal(st.tx_dropped, 4);
	assert_int_equal(atomic_load(&f->t.needs_reset), 0);

	/* A ring violation: DEVICE_NEEDS_RESET, no crash, RX still served. */
	drv_add_avail(&f->q[VIRTIO_NET_TXQ], 300);
	drv_publish_and_kick(&f->q[VIRTIO_NET_TXQ]);
	uint64_t end = now_ms() + 2000;
	while (atomic_load(&f->t.needs_reset) == 0 && now_ms() < end)
		usleep(500);
	assert_int_equal(atomic_load(&f->t.needs_reset), 1);
	rx_post(f, 4, BUF_SIZE, false);
	host_send(f, 5);
	expect_rx_frames(f, 5, 1);
}

static void test_rx_ring_violation(void **state)
{
	struct fx *f = *state;
	activate(f);
	/* A readable descriptor after a writable one. */
	uint64_t gpa = drv_slot_gpa(&f->q[VIRTIO_NET_RXQ], 0);
	drv_set_desc(&f->q[VIRTIO_NET_RXQ], 0, gpa, 100,
		 VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	drv_set_desc(&f->q[VIRTIO_NET_RXQ], 1, gpa + 100, 100, 0, 0);
	drv_add_avail(&f->q[VIRTIO_NET_RXQ], 0);
	drv_publish_and_kick(&f->q[VIRTIO_NET_RXQ]);
	host_send(f, 0);
	uint64_t end = now_ms() + 2000;
	while (atomic_load(&f->t.needs_reset) == 0 && now_ms() < end)
		usleep(500);
	assert_int_equal(atomic_load(&f->t.needs_reset), 1);
	/* The device stays quiet (no spinning on the readable tap) and TX
	 * still works. */
	assert_idle(200);
	uint8_t fr[100];
	build_frame(fr, sizeof(fr), f->tap_mac, guest_mac, 9);
	tx_add(f, NULL, fr, sizeof(fr), false);
	drv_publish_and_kick(&f->q[VIRTIO_NET_TXQ]);
	uint8_t got[256];
	assert_int_equal(host_recv(f, got, sizeof(got)), sizeof(fr));
	assert_int_equal(atomic_load(&f->t.needs_reset), 1);
}

/* Reset, then a fresh activation: traffic flows again. */
static void test_reset_reactivate(void **state)
{
	struct fx *f = *state;
	activate(f);
	rx_post(f, 8, BUF_SIZE, false);
	host_send(f, 0);
	expect_rx_frames(f, 0, 1);
	f->vd->ops->reset(f->vd->dev);
	vq_reset(&f->vd->vqs[0]);
	vq_reset(&f->vd->vqs[1]);
	/* Sent while reset: waits in the tap for the next activation. */
	host_send(f, 1);
	eventfd_drain(f->vd->kick_fd[0]);
	eventfd_drain(f->vd->kick_fd[1]);
	activate(f);
	rx_post(f, 8, BUF_SIZE, true);
	expect_rx_frames(f, 1, 1);
	uint8_t fr[80], got[128];
	build_frame(fr, sizeof(fr), f->tap_mac, guest_mac, 3);
	tx_add(f, NULL, fr, sizeof(fr), false);
	drv_publish_and_kick(&f->q[VIRTIO_NET_TXQ]);
	assert_int_equal(host_recv(f, got, sizeof(got)), sizeof(fr));
	assert_memory_equal(got, fr, sizeof(fr));
	/* Reset twice is harmless. */
	f->vd->ops->reset(f->vd->dev);
	f->vd->ops->reset(f->vd->dev);
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

/*
 * End to end with the host stack: a UDP datagram to the guest's address
 * makes the kernel ARP for it (RX), the guest answers (TX), the datagram
 * follows (RX) fully checksummed; then the guest sends one back (TX).
 */
static void test_arp_udp(void **state)
{
	struct fx *f = *state;
	activate(f);
	rx_post(f, 32, BUF_SIZE, false);

	int us = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(us >= 0);
	struct sockaddr_in me = { .sin_family = AF_INET,
				  .sin_port = htons(4000) };
	inet_pton(AF_INET, HOST_IP, &me.sin_addr);
	assert_int_equal(bind(us, (struct sockaddr *)&me, sizeof(me)), 0);
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(5000) };
	inet_pton(AF_INET, GUEST_IP, &to.sin_addr);
	static const char msg[] = "hello, guest";
	assert_int_equal(sendto(us, msg, sizeof(msg), 0, (struct sockaddr *)&to,
				sizeof(to)),
			 (ssize_t)sizeof(msg));

	uint8_t host_ip[4], gip[4];
	inet_pton(AF_INET, HOST_IP, host_ip);
	inet_pton(AF_INET, GUEST_IP, gip);

	/* The ARP request. */
	const uint8_t *req = NULL;
	uint64_t end = now_ms() + 5000;
	while (!req) {
		assert_true(drv_wait_pending(&f->q[VIRTIO_NET_RXQ], 1, 100) >= 1 ||
			    now_ms() < end);
		while (drv_used_pending(&f->q[VIRTIO_NET_RXQ]) && !req) {
			uint32_t len;
			uint8_t *b = drv_take_used(&f->q[VIRTIO_NET_RXQ], &len);
			const uint8_t *e = b + HDR;
			assert_int_equal(le16toh(((struct virtio_net_hdr_v1 *)b)
							 ->num_buffers),
					 1);
			if (len >= HDR + 42 && e[12] == 0x08 && e[13] == 0x06 &&
			    e[20] == 0 && e[21] == 1 && !memcmp(e + 38, gip, 4))
				req = e;
		}
	}
	assert_memory_equal(req + 6, f->tap_mac, 6);
	assert_memory_equal(req + 28, host_ip, 4);

	/* The reply. */
	uint8_t rep[42];
	memcpy(rep, req + 6, 6);
	memcpy(rep + 6, guest_mac, 6);
	rep[12] = 0x08, rep[13] = 0x06;
	static const uint8_t arp_hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 2 };
	memcpy(rep + 14, arp_hdr, 8);
	memcpy(rep + 22, guest_mac, 6);
	memcpy(rep + 28, gip, 4);
	memcpy(rep + 32, req + 22, 6);
	memcpy(rep + 38, host_ip, 4);
	tx_add(f, NULL, rep, sizeof(rep), true);
	drv_publish_and_kick(&f->q[VIRTIO_NET_TXQ]);

	/* The datagram. */
	const uint8_t *ip = NULL;
	uint32_t ip_len = 0;
	end = now_ms() + 5000;
	while (!ip) {
		assert_true(now_ms() < end);
		if (!drv_used_pending(&f->q[VIRTIO_NET_RXQ])) {
			usleep(500);
			continue;
		}
		uint32_t len;
		uint8_t *b = drv_take_used(&f->q[VIRTIO_NET_RXQ], &len);
		const uint8_t *e = b + HDR;
		if (len >= HDR + 14 + 28 && e[12] == 0x08 && e[13] == 0x00 &&
		    e[14 + 9] == 17 && !memcmp(e + 14 + 16, gip, 4)) {
			assert_memory_equal(e, guest_mac, 6);
			assert_int_equal(((struct virtio_net_hdr_v1 *)b)->flags, 0);
			ip = e + 14;
			ip_len = len - HDR - 14;
		}
	}
	unsigned ihl = (ip[0] & 0xf) * 4u;
	assert_int_equal(csum_fold(csum_add(0, ip, ihl)), 0xffff);
	const uint8_t *udp = ip + ihl;
	unsigned udp_len = (unsigned)(udp[4] << 8 | udp[5]);
	assert_true(ihl + udp_len <= ip_len);
	assert_int_equal(udp_len, 8 + sizeof(msg));
	assert_memory_equal(udp + 8, msg, sizeof(msg));
	/* The UDP checksum is complete (no offload was negotiated). */
	uint8_t pseudo[12];
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0, pseudo[9] = 17;
	pseudo[10] = (uint8_t)(udp_len >> 8), pseudo[11] = (uint8_t)udp_len;
	uint32_t sum = csum_add(0, pseudo, sizeof(pseudo));
	sum = csum_add(sum, udp, udp_len);
	assert_int_equal(csum_fold(sum), 0xffff);

	/* Guest → host: an IPv4/UDP datagram (no UDP checksum). */
	static const char back[] = "hello, host";
	uint8_t fr[14 + 20 + 8 + sizeof(back)];
	memset(fr, 0, sizeof(fr));
	memcpy(fr, f->tap_mac, 6);
	memcpy(fr + 6, guest_mac, 6);
	fr[12] = 0x08;
	uint8_t *h = fr + 14;
	h[0] = 0x45;
	h[2] = (uint8_t)((sizeof(fr) - 14) >> 8);
	h[3] = (uint8_t)(sizeof(fr) - 14);
	h[8] = 64;
	h[9] = 17;
	memcpy(h + 12, gip, 4);
	memcpy(h + 16, host_ip, 4);
	uint16_t c = (uint16_t)~csum_fold(csum_add(0, h, 20));
	h[10] = (uint8_t)(c >> 8), h[11] = (uint8_t)c;
	uint8_t *u = h + 20;
	u[0] = 5000 >> 8, u[1] = 5000 & 0xff;
	u[2] = 4000 >> 8, u[3] = 4000 & 0xff;
	u[4] = 0, u[5] = (uint8_t)(8 + sizeof(back));
	memcpy(u + 8, back, sizeof(back));
	tx_add(f, NULL, fr, sizeof(fr), false);
	drv_publish_and_kick(&f->q[VIRTIO_NET_TXQ]);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(us, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char got[64];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(us, got, sizeof(got), 0, (struct sockaddr *)&from,
			     &fl);
	assert_int_equal(n, (ssize_t)sizeof(back));
	assert_memory_equal(got, back, sizeof(back));
	assert_memory_equal(&from.sin_addr, gip, 4);
	close(us);
}

/* The interface disappears: link down, config interrupt, TX dropped. */
static void test_tap_deleted(void **state)
{
	struct fx *f = *state;
	activate(f);
	rx_post(f, 4, BUF_SIZE, false);
	close(f->pkt_fd);
	f->pkt_fd = -1;
	assert_int_equal(system("ip link del " TAP_NAME), 0);
	uint64_t end = now_ms() + 3000;
	while (atomic_load(&f->t.config_changed) == 0 && now_ms() < end)
		usleep(1000);
	assert_int_equal(atomic_load(&f->t.config_changed), 1);
	uint8_t cfg[8];
	f->vd->ops->config_read(f->vd->dev, 0, cfg, sizeof(cfg));
	uint16_t status;
	memcpy(&status, cfg + 6, 2);
	assert_int_equal(le16toh(status), 0);

	uint8_t fr[64];
	build_frame(fr, sizeof(fr), f->tap_mac, guest_mac, 0);
	tx_add(f, NULL, fr, sizeof(fr), false);
	drv_publish_and_kick(&f->q[VIRTIO_NET_TXQ]);
	assert_int_equal(drv_wait_pending(&f->q[VIRTIO_NET_TXQ], 1, 2000), 1);
	struct virtio_net_stats st;
	virtio_net_get_stats(f->net, &st);
	assert_int_equal(st.tx_dropped, 1);
	/* The rx buffers stay posted; the device keeps quiet (no spinning
	 * on the dead fd's EPOLLERR). */
	assert_idle(200);
	assert_int_equal(drv_used_pending(&f->q[VIRTIO_NET_RXQ]), 0);
	assert_int_equal(atomic_load(&f->t.needs_reset), 0);
}

/* The host takes the interface down: TX frames are dropped (a NIC with no
 * link), RX waits; once it is up again traffic flows. */
static void test_tap_down(void **state)
{
	struct fx *f = *state;
	activate(f);
	assert_int_equal(system("ip link set " TAP_NAME " down"), 0);
	uint8_t fr[64], got[128];
	build_frame(fr, sizeof(fr), f->tap_mac, guest_mac, 0);
	tx_add(f, NULL, fr, sizeof(fr), false);
	drv_publish_and_kick(&f->q[VIRTIO_NET_TXQ]);
	assert_int_equal(drv_wait_pending(&f->q[VIRTIO_NET_TXQ], 1, 2000), 1);
	uint32_t len;
	drv_take_used(&f->q[VIRTIO_NET_TXQ], &len);
	struct virtio_net_stats st;
	virtio_net_get_stats(f->net, &st);
	assert_int_equal(st.tx_dropped, 1);
	assert_int_equal(atomic_load(&f->t.config_changed), 0);

	assert_int_equal(system("ip link set " TAP_NAME " up"), 0);
	build_frame(fr, sizeof(fr), f->tap_mac, guest_mac, 1);
	tx_add(f, NULL, fr, sizeof(fr), false);
	drv_publish_and_kick(&f->q[VIRTIO_NET_TXQ]);
	assert_int_equal(host_recv(f, got, sizeof(got)), sizeof(fr));
	assert_memory_equal(got, fr, sizeof(fr));
	rx_post(f, 4, BUF_SIZE, false);
	host_send(f, 7);
	expect_rx_frames(f, 7, 1);
	uint8_t cfg[8];
	f->vd->ops->config_read(f->vd->dev, 0, cfg, sizeof(cfg));
	assert_int_equal(cfg[6] | cfg[7] << 8, VIRTIO_NET_S_LINK_UP);
}

static void test_create_errors(void **state)
{
	(void)state;
	struct guest_mem mem = { 0 };
	struct net_config cfg = { .tap = "a-name-much-too-long-for-ifnamsiz" };
	struct virtio_net *n = (struct virtio_net *)1;
	assert_int_equal(virtio_net_create(&n, &cfg, &mem), -EINVAL);
	assert_null(n);
	/* Random MAC: locally administered 52:54:00:xx:xx:xx. */
	cfg.tap = NULL;
	assert_int_equal(virtio_net_create(&n, &cfg, &mem), 0);
	struct virtio_dev *vd = virtio_net_vdev(n);
	uint8_t mac[6];
	vd->ops->config_read(vd->dev, 0, mac, 6);
	assert_int_equal(mac[0], 0x52);
	assert_int_equal(mac[1], 0x54);
	assert_int_equal(mac[2], 0x00);
	assert_int_equal(strncmp(virtio_net_tap_name(n), "cvmm-tap", 8), 0);
	virtio_net_destroy(n);
	virtio_net_destroy(NULL);
}

static int run_all(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_host_side, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_burst_split_header,
						setup_event_idx, teardown),
		cmocka_unit_test_setup_teardown(test_tx_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_burst, setup_event_idx,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_waits_for_buffers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_waits_for_buffers,
						setup_event_idx, teardown),
		cmocka_unit_test_setup_teardown(test_rx_interleaved, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_interleaved,
						setup_event_idx, teardown),
		cmocka_unit_test_setup_teardown(test_rx_small_buffers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tx_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_ring_violation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reset_reactivate, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_arp_udp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_deleted, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

static void write_sysctl(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, val, strlen(val)) < 0) {
		/* best effort */
	}
	close(fd);
}

static void skip_all(void **state)
{
	(void)state;
	skip();
}

int main(void)
{
	log_set_level(LOG_ERROR);
	signal(SIGPIPE, SIG_IGN);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		const char *why = NULL;
		if (unshare(CLONE_NEWNET) < 0)
			why = "no private network namespace";
		else if (access("/dev/net/tun", R_OK | W_OK) < 0)
			why = "no /dev/net/tun";
		if (why) {
			fprintf(stderr, "test_virtio_net: %s (%s): skipped\n",
				why, strerror(errno));
			const struct CMUnitTest skipped[] = {
				cmocka_unit_test(skip_all),
			};
			_exit(cmocka_run_group_tests(skipped, NULL, NULL));
		}
		/* Keep the host stack quiet on the tap (no IPv6 chatter). */
		write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
		write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
		alarm(120); /* a hang fails the test instead of blocking make */
		_exit(run_all());
	}
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			perror("waitpid");
			return 1;
		}
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "test_virtio_net: child killed by signal %d\n",
		WTERMSIG(status));
	return 1;
}
