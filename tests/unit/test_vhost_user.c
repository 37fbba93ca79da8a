/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user front-end (vhost/user.c) against a scripted fake backend
 * in a thread, on one end of a socketpair (or behind a listening socket,
 * for reconnects). The fake serves the requests as a backend would and,
 * for one chosen request, misbehaves: garbage, a short reply then a close,
 * a reply to another request, a close without a reply, no reply at all,
 * an oversized or wrongly sized reply, a refusal (REPLY_ACK non-zero), a
 * reply carrying file descriptors.
 *
 * Checked: the negotiation (what is asked, in which order, what is agreed),
 * each request's payload and fds as the backend receives them (the memory
 * table's regions and memfds, kick/call eventfds the backend can signal,
 * NOFD), NEED_REPLY exactly when REPLY_ACK is agreed and the request has no
 * reply of its own, GET/SET_CONFIG; and for every misbehaviour: -EIO in
 * bounded time, exactly one log line naming the device and the socket,
 * on_broken called once, every later request -EIO at once without a byte
 * sent; a refusal is -EREMOTEIO and the connection stays; fds a backend
 * sends are closed; a reconnect after the backend comes back, and one
 * refused when its features changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <cmocka.h>

#include "log_capture.h"
#include "vhost/user.h"
#include "vhost/user_proto.h"
#include "unix_msg.h"

#define NO_REQ 0u
#define ALL_PROTO ((1ULL << VHOST_USER_PROTOCOL_F_MQ) | (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) | \
		   (1ULL << VHOST_USER_PROTOCOL_F_CONFIG) | (1ULL << VHOST_USER_PROTOCOL_F_LOG_SHMFD) | \
		   (1ULL << VHOST_USER_PROTOCOL_F_BACKEND_REQ))
#define FEATURES (0x12345ULL | (1ULL << 32) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES))

enum act {
	ACT_SERVE,     /* as a backend would */
	ACT_GARBAGE,   /* a header with a bad version */
	ACT_SHORT,     /* half a header, then close */
	ACT_HALF,      /* a header announcing 8 bytes, 3 of them, then close */
	ACT_WRONG_REQ, /* a reply to another request */
	ACT_CLOSE,     /* close without a reply */
	ACT_HANG,      /* never reply */
	ACT_BIG,       /* a reply announcing 1 MiB */
	ACT_WRONG_SIZE,/* a reply of 4 bytes where 8 are due */
	ACT_NACK,      /* REPLY_ACK status 1 */
	ACT_FDS,       /* a correct reply carrying two fds */
	ACT_EMPTY,     /* a reply without payload */
	ACT_NOREPLYFLAG, /* the reply without the REPLY flag */
};

struct received {
	uint32_t request, flags, size;
	uint8_t payload[512];
	unsigned nfds;
};

struct fake {
	int fd;         /* the backend's end */
	int listen_fd;  /* >= 0: accept connections on it (reconnect tests) */
	pthread_t thread;
	uint64_t features, protocol_offered, queue_num;
	uint32_t bad_req; /* the request to misbehave on (NO_REQ: none) */
	enum act act;
	/* What came in. */
	pthread_mutex_t lock;
	struct received rx[64];
	unsigned nrx;
	uint64_t protocol_set;
	uint32_t bases[8];
	uint8_t config[256];
	int signalled; /* eventfd writes done on kick/call fds */
	struct vhost_user_region regions[8];
	unsigned nregions;
	bool region_fds_ok; /* each region's fd mapped and read back */
	atomic_bool stop;
};

/* The fake backend's socket I/O: src/unix_msg.c, without a deadline. */
static int recv_all(int fd, void *buf, size_t len, int *fds, unsigned *nfds)
{
	return unix_msg_recv_exact(fd, buf, len, fds, nfds, 16, UINT64_MAX);
}

static void send_raw(int fd, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	(void)unix_msg_send(fd, buf, len, fds, nfds, UINT64_MAX);
}

static void reply(int fd, uint32_t req, const void *payload, uint32_t len, uint32_t flags)
{
	uint8_t buf[12 + 512];
	struct vhost_user_hdr h = { req, flags, len };
	memcpy(buf, &h, 12);
	if (len)
		memcpy(buf + 12, payload, len);
	send_raw(fd, buf, 12 + len, NULL, 0);
}

/* The correct reply (if any) to h with payload p. */
static void serve(struct fake *f, const struct vhost_user_hdr *h, uint8_t *p, int *fds,
		  unsigned nfds)
{
	const uint32_t R = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
	uint64_t v = 0;
	switch (h->request) {
	case VHOST_USER_GET_FEATURES:
		reply(f->fd, h->request, &f->features, 8, R);
		return;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		reply(f->fd, h->request, &f->protocol_offered, 8, R);
		return;
	case VHOST_USER_GET_QUEUE_NUM:
		reply(f->fd, h->request, &f->queue_num, 8, R);
		return;
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		memcpy(&f->protocol_set, p, 8);
		break;
	case VHOST_USER_SET_VRING_BASE: {
		struct vhost_vring_state s;
		memcpy(&s, p, sizeof(s));
		if (s.index < 8)
			f->bases[s.index] = s.num;
		break;
	}
	case VHOST_USER_GET_VRING_BASE: {
		struct vhost_vring_state s;
		memcpy(&s, p, sizeof(s));
		s.num = s.index < 8 ? f->bases[s.index] + 5 : 0;
		reply(f->fd, h->request, &s, sizeof(s), R);
		return;
	}
	case VHOST_USER_GET_CONFIG: {
		struct vhost_user_config_hdr c;
		memcpy(&c, p, sizeof(c));
		if (c.offset + c.size <= 256)
			memcpy(p + sizeof(c), f->config + c.offset, c.size);
		reply(f->fd, h->request, p, h->size, R);
		return;
	}
	case VHOST_USER_SET_CONFIG: {
		struct vhost_user_config_hdr c;
		memcpy(&c, p, sizeof(c));
		if (c.offset + c.size <= 256)
			memcpy(f->config + c.offset, p + sizeof(c), c.size);
		break;
	}
	case VHOST_USER_SET_MEM_TABLE: {
		struct vhost_user_mem_table t;
		memcpy(&t, p, h->size < sizeof(t) ? h->size : sizeof(t));
		f->nregions = t.nregions;
		memcpy(f->regions, t.regions, sizeof(t.regions));
		f->region_fds_ok = nfds == t.nregions;
		for (unsigned i = 0; i < nfds && i < 8; i++) {
			uint8_t *m = mmap(NULL, t.regions[i].memory_size, PROT_READ, MAP_SHARED, fds[i],
					  (off_t)t.regions[i].mmap_offset);
			if (m == MAP_FAILED) {
				f->region_fds_ok = false;
				continue;
			}
			/* The test wrote the region's index + 1 at its start. */
			f->region_fds_ok &= m[0] == i + 1;
			munmap(m, t.regions[i].memory_size);
		}
		break;
	}
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
		if (nfds == 1) {
			uint64_t one = 1;
			if (write(fds[0], &one, 8) == 8)
				f->signalled++;
		}
		break;
	default:
		break;
	}
	if (h->flags & VHOST_USER_FLAG_NEED_REPLY)
		reply(f->fd, h->request, &v, 8, R);
}

/* Misbehaves on h; true when the connection is to be closed. */
static bool misbehave(struct fake *f, const struct vhost_user_hdr *h, enum act act)
{
	const uint32_t R = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
	uint64_t v = 1;
	switch (act) {
	case ACT_GARBAGE: {
		uint8_t g[20];
		memset(g, 0xff, sizeof(g));
		send_raw(f->fd, g, sizeof(g), NULL, 0);
		return false;
	}
	case ACT_SHORT: {
		struct vhost_user_hdr r = { h->request, R, 8 };
		send_raw(f->fd, &r, 6, NULL, 0);
		return true;
	}
	case ACT_HALF: {
		uint8_t b[15];
		struct vhost_user_hdr r = { h->request, R, 8 };
		memcpy(b, &r, 12);
		memset(b + 12, 0, 3);
		send_raw(f->fd, b, sizeof(b), NULL, 0);
		return true;
	}
	case ACT_WRONG_REQ:
		reply(f->fd, h->request + 1, &v, 8, R);
		return false;
	case ACT_CLOSE:
		return true;
	case ACT_HANG:
		while (!atomic_load(&f->stop)) {
			struct pollfd p = { f->fd, POLLRDHUP, 0 };
			if (poll(&p, 1, 50) > 0)
				break;
		}
		return true;
	case ACT_BIG: {
		struct vhost_user_hdr r = { h->request, R, 1u << 20 };
		send_raw(f->fd, &r, 12, NULL, 0);
		return false;
	}
	case ACT_WRONG_SIZE:
		reply(f->fd, h->request, &v, 4, R);
		return false;
	case ACT_NACK:
		reply(f->fd, h->request, &v, 8, R);
		return false;
	case ACT_EMPTY:
		reply(f->fd, h->request, NULL, 0, R);
		return false;
	case ACT_NOREPLYFLAG:
		reply(f->fd, h->request, &v, 8, VHOST_USER_VERSION);
		return false;
	case ACT_FDS: {
		/* A correct reply, with two fds the front-end must close. */
		int fds[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
		uint8_t b[20];
		struct vhost_user_hdr r = { h->request, R, 8 };
		memcpy(b, &r, 12);
		memcpy(b + 12, &f->features, 8);
		send_raw(f->fd, b, sizeof(b), fds, 2);
		close(fds[0]);
		close(fds[1]);
		return false;
	}
	case ACT_SERVE:
		break;
	}
	return false;
}

static void serve_connection(struct fake *f)
{
	for (;;) {
		struct vhost_user_hdr h;
		uint8_t p[512];
		int fds[16];
		unsigned nfds = 0;
		if (recv_all(f->fd, &h, sizeof(h), fds, &nfds) ||
		    h.size > sizeof(p) || recv_all(f->fd, p, h.size, fds, &nfds))
			break;
		pthread_mutex_lock(&f->lock);
		if (f->nrx < 64) {
			struct received *r = &f->rx[f->nrx++];
			r->request = h.request;
			r->flags = h.flags;
			r->size = h.size;
			memcpy(r->payload, p, h.size);
			r->nfds = nfds;
		}
		bool bad = h.request == f->bad_req;
		enum act act = f->act; /* read under the lock: set_fault writes it */
		bool quit = false;
		if (!bad)
			serve(f, &h, p, fds, nfds);
		pthread_mutex_unlock(&f->lock);
		if (bad)
			quit = misbehave(f, &h, act); /* unlocked: it may hang */
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		if (quit)
			break;
	}
	close(f->fd);
	f->fd = -1;
}

static void *fake_thread(void *arg)
{
	struct fake *f = arg;
	if (f->listen_fd < 0) {
		serve_connection(f);
		return NULL;
	}
	while (!atomic_load(&f->stop)) {
		struct pollfd p = { f->listen_fd, POLLIN, 0 };
		if (poll(&p, 1, 50) <= 0)
			continue;
		int c = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		f->fd = c;
		serve_connection(f);
	}
	return NULL;
}

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->listen_fd = -1;
	f->features = FEATURES;
	f->protocol_offered = ALL_PROTO;
	f->queue_num = 4;
	for (int i = 0; i < 256; i++)
		f->config[i] = (uint8_t)i;
	pthread_mutex_init(&f->lock, NULL);
}

static atomic_int broken_calls;
static void on_broken(void *opaque)
{
	(void)opaque;
	atomic_fetch_add(&broken_calls, 1);
}

static const struct vhost_user_params params = {
	.name = "vhost-test", .timeout_ms = 300, .on_broken = on_broken,
};

/* A fake on a socketpair, and the front-end opened over the other end. */
static struct vhost_user *start(struct fake *f, int expect)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->fd = sv[1];
	assert_int_equal(pthread_create(&f->thread, NULL, fake_thread, f), 0);
	struct vhost_user *u = NULL;
	atomic_store(&broken_calls, 0);
	assert_int_equal(vhost_user_open_fd(sv[0], &params, &u), expect);
	return u;
}

static void finish(struct fake *f, struct vhost_user *u)
{
	vhost_user_close(u);
	atomic_store(&f->stop, true);
	pthread_join(f->thread, NULL);
	if (f->fd >= 0)
		close(f->fd);
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	pthread_mutex_destroy(&f->lock);
}

/* The request the fake misbehaves on, and how: set under its lock (its
 * thread reads them while serving). */
static void set_fault(struct fake *f, uint32_t req, enum act act)
{
	pthread_mutex_lock(&f->lock);
	f->bad_req = req;
	f->act = act;
	pthread_mutex_unlock(&f->lock);
}

static unsigned nrx(struct fake *f)
{
	pthread_mutex_lock(&f->lock);
	unsigned n = f->nrx;
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* Until the fake has seen n requests (those without a reply race us). */
static void wait_nrx(struct fake *f, unsigned n)
{
	for (int i = 0; i < 200 && nrx(f) < n; i++)
		usleep(5000);
	assert_int_equal(nrx(f), n);
}

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	while (d && readdir(d))
		n++;
	closedir(d);
	return n;
}

/* ---- negotiation ---- */

static void test_negotiate(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	struct vhost_user *u = start(&f, 0);
	assert_int_equal(vhost_user_features(u), FEATURES);
	/* Of what is offered, cvmm takes MQ, REPLY_ACK and CONFIG. */
	uint64_t agreed = (1ULL << VHOST_USER_PROTOCOL_F_MQ) |
			  (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			  (1ULL << VHOST_USER_PROTOCOL_F_CONFIG);
	assert_int_equal(vhost_user_protocol_features(u), agreed);
	assert_int_equal(vhost_user_queue_num(u), 4);
	assert_false(vhost_user_broken(u));
	const uint32_t order[] = {
		VHOST_USER_GET_FEATURES, VHOST_USER_GET_PROTOCOL_FEATURES,
		VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_GET_QUEUE_NUM, VHOST_USER_SET_OWNER,
	};
	assert_int_equal(nrx(&f), 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(f.rx[i].request, order[i]);
		assert_int_equal(f.rx[i].flags & VHOST_USER_VERSION_MASK, VHOST_USER_VERSION);
	}
	assert_int_equal(f.protocol_set, agreed);
	/* SET_PROTOCOL_FEATURES goes before REPLY_ACK applies; SET_OWNER asks. */
	assert_false(f.rx[2].flags & VHOST_USER_FLAG_NEED_REPLY);
	assert_true(f.rx[4].flags & VHOST_USER_FLAG_NEED_REPLY);
	/* GET_* never ask for an acknowledgement. */
	assert_false(f.rx[0].flags & VHOST_USER_FLAG_NEED_REPLY);
	assert_int_equal(atomic_load(&broken_calls), 0);
	finish(&f, u);
}

/* A backend without VHOST_USER_F_PROTOCOL_FEATURES: no protocol requests,
 * no acknowledgements, no config. */
static void test_no_protocol_features(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	f.features = 0x3;
	struct vhost_user *u = start(&f, 0);
	assert_int_equal(vhost_user_protocol_features(u), 0);
	assert_int_equal(vhost_user_queue_num(u), 0);
	wait_nrx(&f, 2);
	assert_int_equal(f.rx[0].request, VHOST_USER_GET_FEATURES);
	assert_int_equal(f.rx[1].request, VHOST_USER_SET_OWNER);
	assert_false(f.rx[1].flags & VHOST_USER_FLAG_NEED_REPLY);
	assert_int_equal(vhost_user_set_vring_num(u, 0, 128), 0);
	uint8_t cfg[8];
	assert_int_equal(vhost_user_get_config(u, 0, cfg, 8), -ENOTSUP);
	assert_int_equal(vhost_user_set_features(u, 1ULL << 32), 0);
	/* Nothing cvmm sends has bit 30 when the backend did not offer it. */
	wait_nrx(&f, 4);
	uint64_t sent;
	memcpy(&sent, f.rx[3].payload, 8);
	assert_int_equal(sent, 1ULL << 32);
	finish(&f, u);
}

/* ---- requests ---- */

static void test_requests(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	struct vhost_user *u = start(&f, 0);
	unsigned base = nrx(&f);

	/* SET_FEATURES keeps bit 30 for the backend, whatever the guest took. */
	assert_int_equal(vhost_user_set_features(u, (1ULL << 32) | 0x5), 0);
	uint64_t sent;
	memcpy(&sent, f.rx[base].payload, 8);
	assert_int_equal(sent, (1ULL << 32) | 0x5 | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
	assert_true(f.rx[base].flags & VHOST_USER_FLAG_NEED_REPLY);

	/* The memory table: two regions on one memfd at different offsets. */
	int mfd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(mfd >= 0);
	assert_int_equal(ftruncate(mfd, 3 << 20), 0);
	uint8_t *ram = mmap(NULL, 3 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	assert_true(ram != MAP_FAILED);
	ram[0] = 1;
	ram[1 << 20] = 2;
	struct guest_mem mem = { 0 };
	assert_int_equal(guest_mem_add_fd(&mem, 0, 1 << 20, ram, mfd, 0), 0);
	assert_int_equal(guest_mem_add_fd(&mem, 1ULL << 32, 2 << 20, ram + (1 << 20), mfd,
					  1 << 20), 0);
	assert_int_equal(vhost_user_set_mem_table(u, &mem), 0);
	assert_int_equal(f.nregions, 2);
	assert_true(f.region_fds_ok);
	assert_int_equal(f.regions[1].guest_phys_addr, 1ULL << 32);
	assert_int_equal(f.regions[1].memory_size, 2 << 20);
	assert_int_equal(f.regions[1].userspace_addr, (uint64_t)(uintptr_t)(ram + (1 << 20)));
	assert_int_equal(f.regions[1].mmap_offset, 1 << 20);
	assert_int_equal(f.rx[base + 1].size, 8 + 2 * 32);
	assert_int_equal(f.rx[base + 1].nfds, 2);
	/* Private memory cannot be shared: refused before anything is sent. */
	struct guest_mem priv = { 0 };
	assert_int_equal(guest_mem_add(&priv, 0, 1 << 20, ram), 0);
	unsigned n = nrx(&f);
	assert_int_equal(vhost_user_set_mem_table(u, &priv), -EINVAL);
	assert_int_equal(nrx(&f), n);

	/* Rings. */
	assert_int_equal(vhost_user_set_vring_num(u, 1, 256), 0);
	assert_int_equal(vhost_user_set_vring_base(u, 1, 7), 0);
	assert_int_equal(f.bases[1], 7);
	struct vhost_vring_addr a = { .index = 1, .desc_user_addr = 0x1000,
				      .used_user_addr = 0x3000, .avail_user_addr = 0x2000 };
	assert_int_equal(vhost_user_set_vring_addr(u, &a), 0);
	struct vhost_vring_addr got;
	memcpy(&got, f.rx[nrx(&f) - 1].payload, sizeof(got));
	assert_memory_equal(&got, &a, sizeof(a));
	int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(vhost_user_set_vring_kick(u, 1, kick), 0);
	assert_int_equal(vhost_user_set_vring_call(u, 1, call), 0);
	/* The backend got our eventfds: its writes show up here. */
	uint64_t v = 0;
	assert_int_equal(read(kick, &v, 8), 8);
	assert_int_equal(v, 1);
	assert_int_equal(read(call, &v, 8), 8);
	assert_int_equal(f.signalled, 2);
	memcpy(&sent, f.rx[nrx(&f) - 1].payload, 8);
	assert_int_equal(sent, 1);
	/* No fd: the NOFD flag and nothing attached. */
	assert_int_equal(vhost_user_set_vring_call(u, 2, -1), 0);
	memcpy(&sent, f.rx[nrx(&f) - 1].payload, 8);
	assert_int_equal(sent, 2 | VHOST_USER_VRING_NOFD);
	assert_int_equal(f.rx[nrx(&f) - 1].nfds, 0);
	assert_int_equal(vhost_user_set_vring_kick(u, 256, kick), -EINVAL);
	assert_int_equal(vhost_user_set_vring_enable(u, 1, true), 0);
	struct vhost_vring_state s;
	memcpy(&s, f.rx[nrx(&f) - 1].payload, sizeof(s));
	assert_int_equal(s.index, 1);
	assert_int_equal(s.num, 1);
	unsigned b = 0;
	assert_int_equal(vhost_user_get_vring_base(u, 1, &b), 0);
	assert_int_equal(b, 12); /* the fake moved on by 5 */

	/* Configuration space. */
	uint8_t cfg[16];
	assert_int_equal(vhost_user_get_config(u, 20, cfg, 16), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(cfg[i], 20 + i);
	const uint8_t w[2] = { 0xee, 0xdd };
	assert_int_equal(vhost_user_set_config(u, 32, w, 2), 0);
	assert_int_equal(f.config[32], 0xee);
	assert_int_equal(f.config[33], 0xdd);
	assert_int_equal(vhost_user_get_config(u, 250, cfg, 16), -EINVAL);
	assert_int_equal(vhost_user_get_config(u, 0, cfg, 0), -EINVAL);
	assert_false(vhost_user_broken(u));
	assert_int_equal(atomic_load(&broken_calls), 0);
	finish(&f, u);
	close(kick);
	close(call);
	munmap(ram, 3 << 20);
	close(mfd);
}

/* ---- misbehaving backends ---- */

/* bad_req misbehaves with act; the request `op` (which sends it) must fail
 * with -EIO in bounded time, one line, on_broken once, and every later
 * request -EIO without a byte sent. */
static int op_get_base(struct vhost_user *u)
{
	unsigned b;
	return vhost_user_get_vring_base(u, 0, &b);
}

static int op_set_num(struct vhost_user *u)
{
	return vhost_user_set_vring_num(u, 0, 64);
}

static int op_get_config(struct vhost_user *u)
{
	uint8_t c[8];
	return vhost_user_get_config(u, 0, c, 8);
}

static void hostile(enum act act, uint32_t req, int (*op)(struct vhost_user *), const char *text)
{
	struct fake f;
	fake_init(&f);
	struct vhost_user *u = start(&f, 0);
	set_fault(&f, req, act);
	struct log_capture cap;
	log_capture_start(&cap, LOG_INFO);
	uint64_t t0 = log_capture_now_ms();
	int r = op(u);
	uint64_t took = log_capture_now_ms() - t0;
	unsigned before = nrx(&f);
	int r2 = vhost_user_set_vring_base(u, 0, 0);
	int r3 = op_get_base(u);
	vhost_user_hangup(u); /* a watcher seeing the close later: still one line */
	unsigned lines = log_capture_stop(&cap);
	if (r != -EIO || lines != 1 || !strstr(cap.text, text))
		fail_msg("act %d on request %u: r %d, %u lines: %s", act, req, r, lines, cap.text);
	assert_non_null(strstr(cap.text, "vhost-test: vhost-user backend: "));
	assert_non_null(strstr(cap.text, "device needs reset"));
	assert_true(took < 2000);
	assert_int_equal(r2, -EIO);
	assert_int_equal(r3, -EIO);
	assert_int_equal(nrx(&f), before);
	assert_true(vhost_user_broken(u));
	assert_int_equal(atomic_load(&broken_calls), 1);
	finish(&f, u);
}

static void test_hostile_replies(void **state)
{
	(void)state;
	hostile(ACT_GARBAGE, VHOST_USER_GET_VRING_BASE, op_get_base, "reply with flags 0xffffffff");
	hostile(ACT_SHORT, VHOST_USER_GET_VRING_BASE, op_get_base, "closed the connection");
	hostile(ACT_HALF, VHOST_USER_GET_VRING_BASE, op_get_base, "in the middle of a reply");
	hostile(ACT_WRONG_REQ, VHOST_USER_GET_VRING_BASE, op_get_base, "the reply is to request 12");
	hostile(ACT_CLOSE, VHOST_USER_GET_VRING_BASE, op_get_base,
		"GET_VRING_BASE: the backend closed the connection");
	hostile(ACT_HANG, VHOST_USER_GET_VRING_BASE, op_get_base, "no reply in 300 ms");
	hostile(ACT_BIG, VHOST_USER_GET_VRING_BASE, op_get_base, "a reply of 1048576 bytes (at most 8)");
	hostile(ACT_WRONG_SIZE, VHOST_USER_GET_VRING_BASE, op_get_base, "a reply of 4 bytes (8 expected)");
	hostile(ACT_NOREPLYFLAG, VHOST_USER_GET_VRING_BASE, op_get_base, "version 1 and REPLY expected");
	/* The same on acknowledgements (REPLY_ACK) and on GET_CONFIG. */
	hostile(ACT_HANG, VHOST_USER_SET_VRING_NUM, op_set_num, "SET_VRING_NUM: no reply in 300 ms");
	hostile(ACT_WRONG_SIZE, VHOST_USER_SET_VRING_NUM, op_set_num, "an acknowledgement of 4 bytes");
	hostile(ACT_WRONG_REQ, VHOST_USER_SET_VRING_NUM, op_set_num, "the reply is to request 9");
	hostile(ACT_CLOSE, VHOST_USER_SET_VRING_NUM, op_set_num, "closed the connection");
	hostile(ACT_BIG, VHOST_USER_GET_CONFIG, op_get_config, "a reply of 1048576 bytes (at most 20)");
	hostile(ACT_WRONG_SIZE, VHOST_USER_GET_CONFIG, op_get_config, "a reply of 4 bytes (20 expected)");
}

/* A refusal is not a broken connection: -EREMOTEIO, a warning, go on. */
static void test_refusals(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	struct vhost_user *u = start(&f, 0);
	/* An empty GET_CONFIG reply: the backend says no. */
	set_fault(&f, VHOST_USER_GET_CONFIG, ACT_EMPTY);
	uint8_t c[4];
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	assert_int_equal(vhost_user_get_config(u, 0, c, 4), -EREMOTEIO);
	log_capture_stop(&cap);
	assert_non_null(strstr(cap.text, "refused GET_CONFIG (empty reply)"));
	/* Refused acknowledgements, 100 of them: rate-limited lines. */
	set_fault(&f, VHOST_USER_SET_VRING_ADDR, ACT_NACK);
	struct vhost_vring_addr a = { .index = 0 };
	log_capture_start(&cap, LOG_WARN);
	for (int i = 0; i < 100; i++)
		assert_int_equal(vhost_user_set_vring_addr(u, &a), -EREMOTEIO);
	unsigned lines = log_capture_stop(&cap);
	assert_true(lines >= 1 && lines <= log_capture_bound(&cap));
	assert_non_null(strstr(cap.text, "refused SET_VRING_ADDR (status 1)"));
	assert_false(vhost_user_broken(u));
	assert_int_equal(vhost_user_set_vring_num(u, 0, 8), 0);
	assert_false(vhost_user_broken(u));
	assert_int_equal(atomic_load(&broken_calls), 0);
	finish(&f, u);
}

/* File descriptors in a reply are closed, the reply is used. */
static void test_fds_in_reply(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	int before = open_fds();
	set_fault(&f, VHOST_USER_GET_FEATURES, ACT_FDS);
	struct vhost_user *u = start(&f, 0);
	assert_int_equal(vhost_user_features(u), FEATURES);
	/* Ours (front-end) and the fake's end of the socket pair, nothing more. */
	assert_int_equal(open_fds(), before + 2);
	finish(&f, u);
}

/* A backend that breaks the protocol while being opened: no device. */
static void test_open_fails(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	set_fault(&f, VHOST_USER_GET_PROTOCOL_FEATURES, ACT_GARBAGE);
	struct log_capture cap;
	log_capture_start(&cap, LOG_INFO);
	struct vhost_user *u = start(&f, -EIO);
	unsigned lines = log_capture_stop(&cap);
	assert_null(u);
	assert_int_equal(lines, 1);
	assert_non_null(strstr(cap.text, "GET_PROTOCOL_FEATURES: reply with flags"));
	/* The device did not exist yet: nobody to tell. */
	assert_int_equal(atomic_load(&broken_calls), 0);
	finish(&f, NULL);

	/* A queue count of 0 is nonsense. */
	fake_init(&f);
	f.queue_num = 0;
	log_capture_start(&cap, LOG_INFO);
	u = start(&f, -EIO);
	lines = log_capture_stop(&cap);
	assert_int_equal(lines, 1);
	assert_non_null(strstr(cap.text, "GET_QUEUE_NUM: 0 queues"));
	finish(&f, NULL);
}

/* The watcher's hang-up: one line, once. */
static void test_hangup(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	struct vhost_user *u = start(&f, 0);
	struct log_capture cap;
	log_capture_start(&cap, LOG_INFO);
	vhost_user_hangup(u);
	vhost_user_hangup(u);
	unsigned lines = log_capture_stop(&cap);
	assert_int_equal(lines, 1);
	assert_non_null(strstr(cap.text, "the backend closed the connection; device needs reset"));
	assert_int_equal(atomic_load(&broken_calls), 1);
	assert_int_equal(op_set_num(u), -EIO);
	/* Opened from an fd: there is nothing to reconnect to. */
	assert_int_equal(vhost_user_reconnect(u), -ENOTCONN);
	finish(&f, u);
}

/* A backend behind a listening socket, which comes back after a crash. */
static void test_reconnect(void **state)
{
	(void)state;
	char dir[] = "/tmp/vhost-test.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[108];
	snprintf(path, sizeof(path), "%s/sock", dir);
	struct fake f;
	fake_init(&f);
	f.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(f.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f.listen_fd, 4), 0);
	assert_int_equal(pthread_create(&f.thread, NULL, fake_thread, &f), 0);
	struct vhost_user_params p = params;
	p.socket = path;
	struct vhost_user *u = NULL;
	atomic_store(&broken_calls, 0);
	assert_int_equal(vhost_user_connect(&p, &u), 0);
	assert_int_equal(vhost_user_reconnect(u), 0); /* not broken: nothing to do */

	/* The backend drops the connection in the middle of a request. */
	set_fault(&f, VHOST_USER_SET_VRING_NUM, ACT_CLOSE);
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	assert_int_equal(op_set_num(u), -EIO);
	unsigned lines = log_capture_stop(&cap);
	assert_int_equal(lines, 1);
	assert_non_null(strstr(cap.text, path));
	set_fault(&f, NO_REQ, f.act);
	/* It comes back: negotiated again, usable. */
	unsigned before = nrx(&f);
	assert_int_equal(vhost_user_reconnect(u), 0);
	assert_false(vhost_user_broken(u));
	assert_int_equal(f.rx[before].request, VHOST_USER_GET_FEATURES);
	assert_int_equal(op_set_num(u), 0);

	/* It comes back with other features: refused, still broken. */
	log_capture_start(&cap, LOG_WARN);
	vhost_user_hangup(u);
	assert_int_equal(log_capture_stop(&cap), 1);
	pthread_mutex_lock(&f.lock);
	f.features ^= 1ULL << 32;
	pthread_mutex_unlock(&f.lock);
	log_capture_start(&cap, LOG_WARN);
	assert_int_equal(vhost_user_reconnect(u), -EIO);
	lines = log_capture_stop(&cap);
	assert_int_equal(lines, 1);
	assert_non_null(strstr(cap.text, "now offers features"));
	assert_true(vhost_user_broken(u));
	assert_int_equal(op_set_num(u), -EIO);

	/* Gone for good: the socket refuses; rate-limited lines. */
	atomic_store(&f.stop, true);
	pthread_join(f.thread, NULL);
	close(f.listen_fd);
	f.listen_fd = -1;
	unlink(path);
	log_capture_start(&cap, LOG_WARN);
	for (int i = 0; i < 50; i++)
		assert_int_equal(vhost_user_reconnect(u), -EIO);
	lines = log_capture_stop(&cap);
	assert_true(lines >= 1 && lines <= log_capture_bound(&cap));
	assert_non_null(strstr(cap.text, "cannot reconnect"));
	vhost_user_close(u);
	if (f.fd >= 0)
		close(f.fd);
	pthread_mutex_destroy(&f.lock);
	rmdir(dir);
}

/* connect() to nothing: one line naming the socket. */
static void test_connect_fails(void **state)
{
	(void)state;
	struct vhost_user_params p = params;
	p.socket = "/nonexistent/vhost.sock";
	struct vhost_user *u = NULL;
	struct log_capture cap;
	log_capture_start(&cap, LOG_INFO);
	assert_int_equal(vhost_user_connect(&p, &u), -ENOENT);
	unsigned lines = log_capture_stop(&cap);
	assert_null(u);
	assert_int_equal(lines, 1);
	assert_non_null(strstr(cap.text, "cannot connect to the vhost-user backend at /nonexistent/vhost.sock"));
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_negotiate),
		cmocka_unit_test(test_no_protocol_features),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_hostile_replies),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_fds_in_reply),
		cmocka_unit_test(test_open_fails),
		cmocka_unit_test(test_hangup),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_connect_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
