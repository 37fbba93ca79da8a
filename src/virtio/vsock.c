/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock with the hybrid UNIX-socket backend. Written from the
 * virtio 1.x specification, 5.10 "Socket Device", and Firecracker's
 * description of the backend (docs/vsock.md). See vsock.h for the
 * behaviour.
 *
 * Every host socket (the listener and one per connection) is in an epoll
 * set of the device's own (ep_fd), which the device thread polls as its
 * one fd: the connection table can be larger than the worker's fd set.
 * Connection sockets are edge-triggered: an event sets `readable` /
 * flushes the pending output, and `readable` is cleared only by EAGAIN, so
 * a socket the guest has no credit for is simply not read until it has.
 *
 * What goes to the guest (rx queue) is chosen by rx_pump(): first the RSTs
 * owed for packets of no connection, then each connection's owed control
 * packets (REQUEST, RESPONSE, CREDIT_UPDATE/REQUEST, SHUTDOWN, RST), then
 * data, round-robin over the table.
 */
#include "virtio/vsock.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/virtio_vsock.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <sys/un.h>
#include <unistd.h>

#include "virtio/common.h"
#include "virtio/guest_dma.h"

#define HDR_LEN ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define TX_BUDGET 128u
#define RX_BUDGET 128u
/* Host connections accepted per wake-up. */
#define ACCEPT_BUDGET 16u
/* "CONNECT 4294967295\n" is 19 bytes; a longer line is not one. */
#define CMD_MAX 32u
/* The epoll tags of the listener and the timer (connections: their table
 * index). */
#define TAG_LISTENER UINT32_MAX
#define TAG_TIMER (UINT32_MAX - 1)
/* Room for "OK 4294967295\n" before the guest's bytes. */
#define OK_MAX 16u

_Static_assert(sizeof(struct virtio_vsock_hdr) == 44, "vsock header");

enum conn_state {
	CONN_FREE,
	CONN_HOST_CMD,    /* host connected, its CONNECT line awaited */
	CONN_CONNECTING,  /* REQUEST sent to the guest, RESPONSE awaited */
	CONN_ESTABLISHED,
	CONN_CLOSING,     /* the guest shut both ways: output drains, then RST */
	CONN_RST,         /* socket closed, an RST owed to the guest */
};

/* Control packets owed to the guest. */
#define OWE_REQUEST (1u << 0)
#define OWE_RESPONSE (1u << 1)
#define OWE_CREDIT_UPDATE (1u << 2)
#define OWE_CREDIT_REQUEST (1u << 3)
#define OWE_SHUTDOWN (1u << 4)

struct conn {
	enum conn_state state;
	int fd;
	uint32_t guest_port, host_port;
	unsigned owe;
	uint64_t deadline_ms;             /* CONNECTING: the guest's answer by then */
	/* host to guest */
	uint32_t tx_cnt;                  /* payload sent to the guest */
	uint32_t peer_buf_alloc, peer_fwd_cnt; /* the guest's last word */
	bool readable;                    /* no EAGAIN since the last event */
	bool host_eof;                    /* the socket read end of file */
	bool credit_requested;            /* a CREDIT_REQUEST went out */
	/* guest to host */
	uint32_t rx_cnt;                  /* payload accepted from the guest */
	uint32_t fwd_cnt;                 /* ... of it written to the socket */
	uint32_t fwd_cnt_sent;            /* fwd_cnt as the guest last heard it */
	uint32_t guest_shut;              /* VIRTIO_VSOCK_SHUTDOWN_* received */
	bool shut_wr_done;
	/* Bytes for the socket that it did not take yet: an "OK" line (nofwd
	 * bytes, not the guest's) and the guest's data. */
	uint8_t *pend;
	uint32_t pend_off, pend_len, pend_nofwd;
};

/* An RST for a packet of no connection. */
struct rst_owed {
	uint64_t src_cid; /* the CID the guest addressed */
	uint32_t src_port, dst_port;
};

struct virtio_vsock {
	struct virtio_common common;
	struct virtio_vsock_config config;
	uint64_t cid;
	char path[CVMM_VSOCK_PATH_MAX + 1]; /* PATH_<port> fits sun_path */
	int listen_fd;
	int ep_fd;
	int timer_fd;           /* host connections the guest does not answer */
	uint64_t timer_ms;      /* what timer_fd is armed for (0: disarmed) */
	dev_t dev;
	ino_t ino;

	/* Device thread state. */
	struct conn conns[VIRTIO_VSOCK_MAX_CONNS];
	unsigned rr;            /* round-robin start of rx_pump */
	uint32_t next_host_port;
	struct rst_owed rst[VIRTIO_VSOCK_RST_QUEUE];
	unsigned rst_head, rst_count;
	bool rx_polling;        /* the guest has rx buffers (as far as known) */
	bool tx_blocked;        /* tx waits for room in rst[] */
	bool ev_pending;        /* TRANSPORT_RESET owed on the event queue */
	bool activated;         /* since the last reset */

	_Atomic uint64_t conns_open, conns_total, refused, rst_sent;
	_Atomic uint64_t rx_bytes, tx_bytes, bad_packets;

	struct vq_chain rx_chain;
	struct vq_chain tx_chain;
	struct iovec iov[IOV_MAX];
};

#define WARN(v, fmt, ...)                                                     \
	log_ratelimited(&(v)->common.vd.rl, LOG_WARN, "virtio-vsock: " fmt,   \
			##__VA_ARGS__)

/* ---- the connection table ---- */

static struct conn *conn_find(struct virtio_vsock *v, uint32_t guest_port,
			      uint32_t host_port)
{
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++) {
		struct conn *c = &v->conns[i];
		if (c->state > CONN_HOST_CMD && c->guest_port == guest_port &&
		    c->host_port == host_port)
			return c;
	}
	return NULL;
}

static struct conn *conn_alloc(struct virtio_vsock *v, int fd)
{
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++) {
		struct conn *c = &v->conns[i];
		if (c->state != CONN_FREE)
			continue;
		struct epoll_event ev = {
			.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
			.data.u32 = i,
		};
		if (epoll_ctl(v->ep_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			WARN(v, "cannot poll a connection socket: %s", strerror(errno));
			return NULL;
		}
		*c = (struct conn){ .state = CONN_HOST_CMD, .fd = fd, .pend = c->pend };
		atomic_fetch_add(&v->conns_open, 1);
		return c;
	}
	WARN(v, "connection table full (%d connections): connection refused",
	     VIRTIO_VSOCK_MAX_CONNS);
	return NULL;
}

/* The slot keeps its pending buffer for the next connection (freed with
 * the device): a free() here, in the device thread, can shrink its malloc
 * arena's heap, and glibc then opens /proc/sys/vm/overcommit_memory, a
 * syscall the thread's seccomp filter kills the process for. */
static void conn_close_fd(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd); /* leaves the epoll set with it */
	c->fd = -1;
	c->pend_off = c->pend_len = c->pend_nofwd = 0;
}

static void conn_free(struct virtio_vsock *v, struct conn *c)
{
	conn_close_fd(c);
	*c = (struct conn){ .state = CONN_FREE, .fd = -1, .pend = c->pend };
	atomic_fetch_sub(&v->conns_open, 1);
}

/* The socket is closed now, the guest hears RST (rx_pump), then the slot
 * is free. A connection the guest never heard of is simply freed. */
static void conn_reset(struct virtio_vsock *v, struct conn *c)
{
	if (c->state == CONN_HOST_CMD) {
		conn_free(v, c);
		return;
	}
	conn_close_fd(c);
	c->state = CONN_RST;
	c->owe = 0;
}

/* An RST for a packet that belongs to no connection (false: none owed,
 * the queue being full; tx_serve keeps room for one). */
static void rst_owe(struct virtio_vsock *v, const struct virtio_vsock_hdr *h)
{
	if (le16toh(h->op) == VIRTIO_VSOCK_OP_RST)
		return; /* never answer an RST */
	if (v->rst_count == VIRTIO_VSOCK_RST_QUEUE)
		return;
	unsigned i = (v->rst_head + v->rst_count++) % VIRTIO_VSOCK_RST_QUEUE;
	v->rst[i] = (struct rst_owed){
		.src_cid = le64toh(h->dst_cid),
		.src_port = le32toh(h->dst_port),
		.dst_port = le32toh(h->src_port),
	};
}

/* ---- credit ---- */

/* What the guest lets us send it now. */
static uint32_t peer_credit(const struct conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* After bytes went out to the host: tell the guest once its view of the
 * window falls under half. */
static void credit_check(struct conn *c)
{
	uint32_t seen = c->rx_cnt - c->fwd_cnt_sent;
	if (c->fwd_cnt != c->fwd_cnt_sent && seen > VIRTIO_VSOCK_BUF_ALLOC / 2)
		c->owe |= OWE_CREDIT_UPDATE;
}

/* ---- guest to host: the socket's side ---- */

/* The guest shut both ways: once its bytes are out, close and RST. */
static void conn_maybe_finish(struct virtio_vsock *v, struct conn *c)
{
	if (c->pend_len)
		return;
	if ((c->guest_shut & VIRTIO_VSOCK_SHUTDOWN_SEND) && !c->shut_wr_done &&
	    c->fd >= 0) {
		shutdown(c->fd, SHUT_WR);
		c->shut_wr_done = true;
	}
	if (c->state == CONN_CLOSING)
		conn_reset(v, c);
}

/* Writes what is pending; a failing socket resets the connection. */
static void conn_flush(struct virtio_vsock *v, struct conn *c)
{
	while (c->pend_len && c->fd >= 0) {
		ssize_t n = send(c->fd, c->pend + c->pend_off, c->pend_len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* EPOLLOUT brings us back */
		if (n <= 0) {
			conn_reset(v, c);
			return;
		}
		uint32_t w = (uint32_t)n;
		uint32_t nofwd = w < c->pend_nofwd ? w : c->pend_nofwd;
		c->pend_nofwd -= nofwd;
		c->fwd_cnt += w - nofwd;
		atomic_fetch_add(&v->tx_bytes, w - nofwd);
		atomic_fetch_add(&v->common.vd.bytes, w - nofwd);
		c->pend_off += w;
		c->pend_len -= w;
	}
	if (c->fd < 0)
		return;
	c->pend_off = 0;
	credit_check(c);
	conn_maybe_finish(v, c);
}

/* Room for n more pending bytes (allocated on first use). */
static uint8_t *pend_room(struct conn *c, uint32_t n)
{
	if (!c->pend) {
		c->pend = malloc(OK_MAX + VIRTIO_VSOCK_BUF_ALLOC);
		if (!c->pend)
			return NULL;
		c->pend_off = 0;
	}
	if (c->pend_off + c->pend_len + n > OK_MAX + VIRTIO_VSOCK_BUF_ALLOC) {
		memmove(c->pend, c->pend + c->pend_off, c->pend_len);
		c->pend_off = 0;
	}
	return c->pend + c->pend_off + c->pend_len;
}

/* The guest's payload, len bytes at offset HDR_LEN of ch, to the socket. */
static void conn_write(struct virtio_vsock *v, struct conn *c,
		       const struct vq_chain *ch, uint32_t len)
{
	uint32_t done = 0;
	c->rx_cnt += len;
	if (!c->pend_len && len) {
		unsigned cnt = 0;
		uint64_t skip = HDR_LEN, left = len;
		for (unsigned i = 0; i < ch->nread && left && cnt < IOV_MAX; i++) {
			const struct vq_seg *s = &ch->segs[i];
			if (skip >= s->len) {
				skip -= s->len;
				continue;
			}
			uint64_t n = s->len - skip < left ? s->len - skip : left;
			v->iov[cnt++] = (struct iovec){ s->addr + skip, n };
			left -= n;
			skip = 0;
		}
		struct msghdr m = { .msg_iov = v->iov, .msg_iovlen = cnt };
		ssize_t n;
		do {
			guest_dma_begin();
			n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
			guest_dma_end();
		} while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_reset(v, c);
			return;
		}
		done = n > 0 ? (uint32_t)n : 0;
		c->fwd_cnt += done;
		atomic_fetch_add(&v->tx_bytes, done);
		atomic_fetch_add(&v->common.vd.bytes, done);
	}
	if (done < len) {
		/* Within the credit: it fits (checked by the caller). */
		uint8_t *p = pend_room(c, len - done);
		if (!p) {
			WARN(v, "out of memory for a connection's buffer");
			conn_reset(v, c);
			return;
		}
		guest_dma_begin();
		size_t got = vq_chain_read(ch, HDR_LEN + done, p, len - done);
		guest_dma_end();
		c->pend_len += (uint32_t)got;
	}
	credit_check(c);
	conn_maybe_finish(v, c);
}

/* ---- host side: the listener, CONNECT lines, their timeout ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* timer_fd armed for the earliest CONNECTING deadline (or disarmed). */
static void timer_update(struct virtio_vsock *v)
{
	uint64_t first = 0;
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++) {
		const struct conn *c = &v->conns[i];
		if (c->state == CONN_CONNECTING && (!first || c->deadline_ms < first))
			first = c->deadline_ms;
	}
	if (first == v->timer_ms)
		return;
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(first / 1000),
			      .tv_nsec = (long)(first % 1000) * 1000000 },
	};
	if (timerfd_settime(v->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		WARN(v, "timerfd_settime: %s", strerror(errno));
	else
		v->timer_ms = first;
}

/* Host connections the guest did not answer in time: RST (a late RESPONSE
 * then finds no connection) and closed. */
static void timer_expired(struct virtio_vsock *v)
{
	uint64_t n;
	if (read(v->timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		WARN(v, "timerfd: %s", strerror(errno));
	v->timer_ms = 0; /* fired: disarmed */
	uint64_t now = now_ms();
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++) {
		struct conn *c = &v->conns[i];
		if (c->state != CONN_CONNECTING || c->deadline_ms > now)
			continue;
		WARN(v, "%s: no answer from guest port %" PRIu32 " in %d ms: connection closed",
		     v->path, c->guest_port, VIRTIO_VSOCK_CONNECT_TIMEOUT_MS);
		atomic_fetch_add(&v->refused, 1);
		conn_reset(v, c);
	}
}

static void host_accept(struct virtio_vsock *v)
{
	for (unsigned i = 0; i < ACCEPT_BUDGET; i++) {
		int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				WARN(v, "%s: accept: %s", v->path, strerror(errno));
			return;
		}
		if (!conn_alloc(v, fd)) {
			atomic_fetch_add(&v->refused, 1);
			close(fd);
		}
	}
}

static bool port_in_use(struct virtio_vsock *v, uint32_t guest_port, uint32_t host_port)
{
	return conn_find(v, guest_port, host_port) != NULL;
}

/* A fresh host port for a host-initiated connection to guest_port. */
static uint32_t host_port_new(struct virtio_vsock *v, uint32_t guest_port)
{
	for (;;) {
		uint32_t p = v->next_host_port++;
		if (v->next_host_port == UINT32_MAX)
			v->next_host_port = VIRTIO_VSOCK_HOST_PORT_BASE;
		if (!port_in_use(v, guest_port, p))
			return p;
	}
}

/* "CONNECT <port>\n" into *port; false when the line is not that. */
static bool parse_connect(const char *line, uint32_t *port)
{
	static const char verb[] = "CONNECT ";
	if (strncmp(line, verb, sizeof(verb) - 1) != 0)
		return false;
	const char *p = line + sizeof(verb) - 1;
	uint64_t n = 0;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > UINT32_MAX)
			return false;
	}
	if (*p != '\n' || p[1])
		return false;
	*port = (uint32_t)n;
	return true;
}

/* A host connection's first line: taken up to its '\n', nothing after. */
static void host_command(struct virtio_vsock *v, struct conn *c)
{
	char buf[CMD_MAX + 1];
	ssize_t n = recv(c->fd, buf, CMD_MAX, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		c->readable = false;
		return;
	}
	if (n <= 0) {
		conn_free(v, c); /* gone before its command */
		return;
	}
	char *nl = memchr(buf, '\n', (size_t)n);
	if (!nl) {
		if (n == CMD_MAX) {
			WARN(v, "%s: a host connection's first line is not \"CONNECT <port>\"",
			     v->path);
			conn_free(v, c);
		}
		return; /* the rest of the line comes with the next event */
	}
	size_t len = (size_t)(nl - buf) + 1;
	if (recv(c->fd, buf, len, MSG_DONTWAIT) != (ssize_t)len) {
		conn_free(v, c);
		return;
	}
	buf[len] = '\0';
	uint32_t port;
	if (!parse_connect(buf, &port)) {
		WARN(v, "%s: a host connection's first line is not \"CONNECT <port>\"",
		     v->path);
		conn_free(v, c);
		return;
	}
	c->guest_port = port;
	c->host_port = host_port_new(v, port);
	c->state = CONN_CONNECTING;
	c->owe = OWE_REQUEST;
	c->deadline_ms = now_ms() + VIRTIO_VSOCK_CONNECT_TIMEOUT_MS;
}

/* ---- guest-initiated connections ---- */

/* A REQUEST from the guest to host port h->dst_port: PATH_<port>. */
static void guest_connect(struct virtio_vsock *v, const struct virtio_vsock_hdr *h)
{
	uint32_t gport = le32toh(h->src_port), hport = le32toh(h->dst_port);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%" PRIu32, v->path, hport);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		WARN(v, "socket: %s", strerror(errno));
		goto refuse;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_ratelimited(&v->common.vd.rl, LOG_DEBUG,
				"virtio-vsock: guest port %" PRIu32 " to %s: %s", gport,
				sa.sun_path, strerror(errno));
		goto refuse;
	}
	struct conn *c = conn_alloc(v, fd);
	if (!c)
		goto refuse;
	c->guest_port = gport;
	c->host_port = hport;
	c->state = CONN_ESTABLISHED;
	c->owe = OWE_RESPONSE;
	c->peer_buf_alloc = le32toh(h->buf_alloc);
	c->peer_fwd_cnt = le32toh(h->fwd_cnt);
	atomic_fetch_add(&v->conns_total, 1);
	return;
refuse:
	if (fd >= 0)
		close(fd);
	atomic_fetch_add(&v->refused, 1);
	rst_owe(v, h);
}

/* ---- guest packets (tx queue) ---- */

/* A packet that broke the rules: counted, logged, its connection reset
 * (or an RST owed for it). */
static void bad_packet(struct virtio_vsock *v, struct conn *c,
		       const struct virtio_vsock_hdr *h, const char *why)
{
	atomic_fetch_add(&v->bad_packets, 1);
	atomic_fetch_add(&v->common.vd.errors, 1);
	WARN(v, "guest packet (op %u, port %" PRIu32 " to %" PRIu32 ") %s: RST",
	     le16toh(h->op), le32toh(h->src_port), le32toh(h->dst_port), why);
	if (c)
		conn_reset(v, c);
	else
		rst_owe(v, h);
}

static void guest_packet(struct virtio_vsock *v, const struct vq_chain *ch)
{
	struct virtio_vsock_hdr h;
	if (ch->read_len < HDR_LEN) {
		atomic_fetch_add(&v->bad_packets, 1);
		atomic_fetch_add(&v->common.vd.errors, 1);
		WARN(v, "tx chain of %" PRIu64 " bytes is shorter than a header: dropped",
		     ch->read_len);
		return;
	}
	guest_dma_begin();
	vq_chain_read(ch, 0, &h, sizeof(h));
	guest_dma_end();
	atomic_fetch_add(&v->common.vd.requests, 1);

	uint16_t op = le16toh(h.op);
	uint32_t len = le32toh(h.len);
	if (le64toh(h.src_cid) != v->cid) {
		/* The RST goes to our guest's CID all the same. */
		bad_packet(v, NULL, &h, "has a foreign source CID");
		return;
	}
	if (le64toh(h.dst_cid) != VIRTIO_VSOCK_HOST_CID) {
		bad_packet(v, NULL, &h, "is not for the host (CID 2)");
		return;
	}
	struct conn *c = conn_find(v, le32toh(h.src_port), le32toh(h.dst_port));
	if (c && c->state == CONN_RST)
		c = NULL; /* closing already: its RST is owed */
	if (le16toh(h.type) != VIRTIO_VSOCK_TYPE_STREAM) {
		bad_packet(v, c, &h, "is not of type STREAM");
		return;
	}
	if (len > VIRTIO_VSOCK_MAX_PKT || len > ch->read_len - HDR_LEN) {
		bad_packet(v, c, &h, "has a bad length");
		return;
	}
	if (c && op != VIRTIO_VSOCK_OP_REQUEST) {
		c->peer_buf_alloc = le32toh(h.buf_alloc);
		c->peer_fwd_cnt = le32toh(h.fwd_cnt);
		if (peer_credit(c))
			c->credit_requested = false;
	}
	switch (op) {
	case VIRTIO_VSOCK_OP_REQUEST:
		if (c)
			bad_packet(v, c, &h, "is a REQUEST for an open connection");
		else
			guest_connect(v, &h);
		return;
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (!c || c->state != CONN_CONNECTING) {
			bad_packet(v, c, &h, "is a RESPONSE to no REQUEST");
			return;
		}
		c->state = CONN_ESTABLISHED;
		atomic_fetch_add(&v->conns_total, 1);
		{
			uint8_t *p = pend_room(c, OK_MAX);
			if (!p) {
				conn_reset(v, c);
				return;
			}
			int n = snprintf((char *)p, OK_MAX, "OK %" PRIu32 "\n", c->host_port);
			c->pend_len += (uint32_t)n;
			c->pend_nofwd += (uint32_t)n;
		}
		conn_flush(v, c);
		return;
	case VIRTIO_VSOCK_OP_RST:
		if (c) {
			if (c->state == CONN_CONNECTING)
				atomic_fetch_add(&v->refused, 1);
			conn_free(v, c);
		}
		return;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (!c || c->state == CONN_CONNECTING) {
			bad_packet(v, c, &h, "is a SHUTDOWN of no connection");
			return;
		}
		c->guest_shut |= le32toh(h.flags) &
				 (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND);
		if (c->guest_shut == (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND))
			c->state = CONN_CLOSING;
		conn_maybe_finish(v, c);
		return;
	case VIRTIO_VSOCK_OP_RW:
		if (!c || c->state != CONN_ESTABLISHED) {
			bad_packet(v, c, &h, "is data for no connection");
			return;
		}
		if (c->guest_shut & VIRTIO_VSOCK_SHUTDOWN_SEND) {
			bad_packet(v, c, &h, "is data after SHUTDOWN(SEND)");
			return;
		}
		if (c->rx_cnt - c->fwd_cnt + (uint64_t)len > VIRTIO_VSOCK_BUF_ALLOC) {
			bad_packet(v, c, &h, "goes beyond the credit");
			return;
		}
		conn_write(v, c, ch, len);
		return;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		if (!c)
			bad_packet(v, c, &h, "is a CREDIT_UPDATE of no connection");
		return; /* taken above */
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		if (!c)
			bad_packet(v, c, &h, "is a CREDIT_REQUEST of no connection");
		else
			c->owe |= OWE_CREDIT_UPDATE;
		return;
	default:
		bad_packet(v, c, &h, "has an unknown op");
		return;
	}
}

static int tx_serve(void *opaque, struct vq_chain *ch, uint32_t *written)
{
	struct virtio_vsock *v = opaque;
	*written = 0;
	/* Room for the RST this packet may need, or wait for the guest to
	 * take the ones owed (it must post rx buffers for that). */
	if (v->rst_count == VIRTIO_VSOCK_RST_QUEUE) {
		v->tx_blocked = true;
		return VIRTIO_SERVE_RETRY;
	}
	guest_packet(v, ch);
	return 0;
}

static void vsock_tx(struct virtio_vsock *v)
{
	v->tx_blocked = false;
	virtio_common_serve(&v->common, VIRTIO_VSOCK_TXQ, &v->tx_chain, TX_BUDGET,
			    tx_serve);
}

/* ---- packets to the guest (rx queue) ---- */

static void hdr_to_guest(struct virtio_vsock *v, struct virtio_vsock_hdr *h,
			 struct conn *c, uint16_t op, uint32_t flags, uint32_t len)
{
	*h = (struct virtio_vsock_hdr){
		.src_cid = htole64(VIRTIO_VSOCK_HOST_CID),
		.dst_cid = htole64(v->cid),
		.src_port = htole32(c->host_port),
		.dst_port = htole32(c->guest_port),
		.len = htole32(len),
		.type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
		.op = htole16(op),
		.flags = htole32(flags),
		.buf_alloc = htole32(VIRTIO_VSOCK_BUF_ALLOC),
		.fwd_cnt = htole32(c->fwd_cnt),
	};
	c->fwd_cnt_sent = c->fwd_cnt;
}

/* Whether c has data for the guest and the guest room for it. */
static bool conn_has_data(const struct conn *c)
{
	return c->state == CONN_ESTABLISHED && c->readable && !c->host_eof &&
	       !(c->guest_shut & VIRTIO_VSOCK_SHUTDOWN_RCV) && c->fd >= 0;
}

static bool conn_has_work(const struct conn *c)
{
	if (c->state == CONN_RST || (c->owe && c->state != CONN_HOST_CMD))
		return true;
	if (!conn_has_data(c))
		return false;
	return peer_credit(c) || !c->credit_requested;
}

/*
 * The packet c owes the guest into chain ch (its writable part holds at
 * least a header): control first, then data. Returns the bytes written,
 * or -EAGAIN when it turned out to have nothing (the socket was empty).
 */
static int conn_packet(struct virtio_vsock *v, struct conn *c, struct vq_chain *ch)
{
	struct virtio_vsock_hdr h;
	if (c->state == CONN_RST) {
		hdr_to_guest(v, &h, c, VIRTIO_VSOCK_OP_RST, 0, 0);
		atomic_fetch_add(&v->rst_sent, 1);
		conn_free(v, c);
	} else if (c->owe & OWE_REQUEST) {
		c->owe &= ~OWE_REQUEST;
		hdr_to_guest(v, &h, c, VIRTIO_VSOCK_OP_REQUEST, 0, 0);
	} else if (c->owe & OWE_RESPONSE) {
		c->owe &= ~OWE_RESPONSE;
		hdr_to_guest(v, &h, c, VIRTIO_VSOCK_OP_RESPONSE, 0, 0);
	} else if (c->owe & OWE_CREDIT_UPDATE) {
		c->owe &= ~OWE_CREDIT_UPDATE;
		hdr_to_guest(v, &h, c, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0);
	} else if (c->owe & OWE_SHUTDOWN) {
		c->owe &= ~OWE_SHUTDOWN;
		hdr_to_guest(v, &h, c, VIRTIO_VSOCK_OP_SHUTDOWN,
			     VIRTIO_VSOCK_SHUTDOWN_SEND, 0);
	} else if (c->owe & OWE_CREDIT_REQUEST) {
		c->owe &= ~OWE_CREDIT_REQUEST;
		hdr_to_guest(v, &h, c, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0, 0);
	} else {
		uint32_t max = peer_credit(c);
		if (!max) {
			c->credit_requested = true;
			hdr_to_guest(v, &h, c, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0, 0);
			vq_chain_write(ch, 0, &h, sizeof(h));
			return (int)HDR_LEN;
		}
		if (max > VIRTIO_VSOCK_MAX_PKT)
			max = VIRTIO_VSOCK_MAX_PKT;
		if (max > ch->write_len - HDR_LEN)
			max = (uint32_t)(ch->write_len - HDR_LEN);
		if (!max) {
			/* A buffer with room for a header only. */
			hdr_to_guest(v, &h, c, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0);
			vq_chain_write(ch, 0, &h, sizeof(h));
			return (int)HDR_LEN;
		}
		/* The payload straight from the socket into the buffers. */
		unsigned cnt = 0;
		uint64_t skip = HDR_LEN, left = max;
		for (unsigned i = ch->nread; i < ch->nseg && left && cnt < IOV_MAX; i++) {
			const struct vq_seg *s = &ch->segs[i];
			if (skip >= s->len) {
				skip -= s->len;
				continue;
			}
			uint64_t n = s->len - skip < left ? s->len - skip : left;
			v->iov[cnt++] = (struct iovec){ s->addr + skip, n };
			left -= n;
			skip = 0;
		}
		ssize_t n;
		do {
			guest_dma_begin();
			n = cnt ? readv(c->fd, v->iov, (int)cnt) : 0;
			guest_dma_end();
		} while (n < 0 && errno == EINTR);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->readable = false;
			return -EAGAIN;
		}
		if (n < 0) {
			conn_reset(v, c);
			hdr_to_guest(v, &h, c, VIRTIO_VSOCK_OP_RST, 0, 0);
			atomic_fetch_add(&v->rst_sent, 1);
			conn_free(v, c);
		} else if (n == 0 && cnt) {
			/* End of file: the host sends no more. */
			c->host_eof = true;
			hdr_to_guest(v, &h, c, VIRTIO_VSOCK_OP_SHUTDOWN,
				     VIRTIO_VSOCK_SHUTDOWN_SEND, 0);
		} else {
			c->tx_cnt += (uint32_t)n;
			atomic_fetch_add(&v->rx_bytes, (uint64_t)n);
			atomic_fetch_add(&v->common.vd.bytes, (uint64_t)n);
			hdr_to_guest(v, &h, c, VIRTIO_VSOCK_OP_RW, 0, (uint32_t)n);
			vq_chain_write(ch, 0, &h, sizeof(h));
			return (int)(HDR_LEN + (uint32_t)n);
		}
	}
	vq_chain_write(ch, 0, &h, sizeof(h));
	return (int)HDR_LEN;
}

/* The next owed RST of no connection into ch. */
static void rst_packet(struct virtio_vsock *v, struct vq_chain *ch)
{
	struct rst_owed *r = &v->rst[v->rst_head];
	v->rst_head = (v->rst_head + 1) % VIRTIO_VSOCK_RST_QUEUE;
	v->rst_count--;
	struct virtio_vsock_hdr h = {
		.src_cid = htole64(r->src_cid),
		.dst_cid = htole64(v->cid),
		.src_port = htole32(r->src_port),
		.dst_port = htole32(r->dst_port),
		.type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
		.op = htole16(VIRTIO_VSOCK_OP_RST),
		.buf_alloc = htole32(VIRTIO_VSOCK_BUF_ALLOC),
	};
	vq_chain_write(ch, 0, &h, sizeof(h));
	atomic_fetch_add(&v->rst_sent, 1);
}

/* The connection with something for the guest, round-robin; NULL: none. */
static struct conn *next_work(struct virtio_vsock *v)
{
	for (unsigned k = 0; k < VIRTIO_VSOCK_MAX_CONNS; k++) {
		unsigned i = (v->rr + k) % VIRTIO_VSOCK_MAX_CONNS;
		if (v->conns[i].state != CONN_FREE && conn_has_work(&v->conns[i])) {
			v->rr = (i + 1) % VIRTIO_VSOCK_MAX_CONNS;
			return &v->conns[i];
		}
	}
	return NULL;
}

/* Fills the guest's rx buffers with what is owed and what the sockets
 * have, while both last. */
static void rx_pump(struct virtio_vsock *v)
{
	struct virtio_dev *vd = &v->common.vd;
	struct virtqueue *vq = &vd->vqs[VIRTIO_VSOCK_RXQ];
	struct vq_chain *ch = &v->rx_chain;
	bool pushed = false;

	for (unsigned budget = RX_BUDGET; budget && v->rx_polling; budget--) {
		struct conn *c = NULL;
		if (!v->rst_count && !(c = next_work(v)))
			break;
		int r = virtio_common_rx_pop(&v->common, VIRTIO_VSOCK_RXQ, ch);
		if (r == -EAGAIN)
			continue;
		if (r < 0) {
			v->rx_polling = false; /* the guest's next buffers kick rx */
			break;
		}
		if (ch->write_len < HDR_LEN) {
			WARN(v, "rx buffer of %" PRIu64 " bytes is smaller than a header: returned unused",
			     ch->write_len);
			atomic_fetch_add(&vd->errors, 1);
			vq_push_used(vq, ch->head, 0);
			pushed = true;
			continue;
		}
		uint32_t used;
		if (v->rst_count) {
			rst_packet(v, ch);
			used = HDR_LEN;
		} else {
			int n = conn_packet(v, c, ch);
			if (n < 0) {
				vq_unpop(vq, 1);
				continue;
			}
			used = (uint32_t)n;
		}
		vq_push_used(vq, ch->head, used);
		pushed = true;
	}
	if (pushed)
		virtio_queue_notify(vd, VIRTIO_VSOCK_RXQ);
}

/* After anything happened: the guest gets what it is owed; a tx queue
 * that waited for room for RSTs goes on once they went out. */
static void pump(struct virtio_vsock *v)
{
	rx_pump(v);
	if (v->tx_blocked && v->rst_count < VIRTIO_VSOCK_RST_QUEUE) {
		vsock_tx(v);
		rx_pump(v);
	}
}

/* ---- the event queue ---- */

/* TRANSPORT_RESET, once the guest posted a buffer for it. */
static void ev_send(struct virtio_vsock *v)
{
	struct virtio_dev *vd = &v->common.vd;
	struct virtqueue *vq = &vd->vqs[VIRTIO_VSOCK_EVQ];
	if (!v->ev_pending || !vq->ready || vq->broken)
		return;
	for (unsigned tries = 0; tries < 4 && v->ev_pending; tries++) {
		int r = vq_pop(vq, &v->rx_chain);
		if (r == -ENOENT) {
			if (vq_enable_notify(vq))
				continue;
			return; /* the guest's buffer kicks the queue */
		}
		if (r < 0) {
			virtio_dev_error(vd);
			return;
		}
		struct virtio_vsock_event ev = {
			.id = htole32(VIRTIO_VSOCK_EVENT_TRANSPORT_RESET),
		};
		uint32_t n = (uint32_t)vq_chain_write(&v->rx_chain, 0, &ev, sizeof(ev));
		if (n == sizeof(ev))
			v->ev_pending = false;
		else
			WARN(v, "event buffer of %u bytes is too small", n);
		vq_push_used(vq, v->rx_chain.head, n == sizeof(ev) ? n : 0);
		virtio_queue_notify(vd, VIRTIO_VSOCK_EVQ);
	}
}

/* ---- the device thread ---- */

static void vsock_kicked(void *opaque, unsigned q)
{
	struct virtio_vsock *v = opaque;
	switch (q) {
	case VIRTIO_VSOCK_RXQ:
		if (virtio_common_rx_kicked(&v->common, VIRTIO_VSOCK_RXQ))
			v->rx_polling = true;
		break;
	case VIRTIO_VSOCK_TXQ:
		vsock_tx(v);
		break;
	default:
		ev_send(v);
		return;
	}
	pump(v);
	timer_update(v); /* a RESPONSE or RST ends a wait */
}

/* The device's epoll set has events: the listener, connection sockets. */
static void vsock_sockets_ready(void *opaque, unsigned idx)
{
	struct virtio_vsock *v = opaque;
	(void)idx; /* ep_fd is the only fd of ours */
	struct epoll_event evs[32];
	int n = epoll_wait(v->ep_fd, evs, 32, 0);
	for (int i = 0; i < n; i++) {
		uint32_t tag = evs[i].data.u32, e = evs[i].events;
		if (tag == TAG_LISTENER) {
			host_accept(v);
			continue;
		}
		if (tag == TAG_TIMER) {
			timer_expired(v);
			continue;
		}
		if (tag >= VIRTIO_VSOCK_MAX_CONNS)
			continue;
		struct conn *c = &v->conns[tag];
		if (c->fd < 0)
			continue; /* reset meanwhile */
		if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			c->readable = true;
		if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			conn_flush(v, c);
		if (c->state == CONN_HOST_CMD && c->readable)
			host_command(v, c);
	}
	pump(v);
	timer_update(v);
}

/* ---- activate and reset (common.h does the rest) ---- */

static int vsock_activate(void *opaque)
{
	struct virtio_vsock *v = opaque;
	v->rx_polling = false; /* kick_at_start: the rx kick says */
	v->tx_blocked = false;
	v->activated = true;
	int r = virtio_common_add_fd(&v->common, v->ep_fd, EPOLLIN);
	return r < 0 ? r : 0;
}

/* Every connection closed (the host sees end of file); the guest hears of
 * it at its next activation (TRANSPORT_RESET). */
static void vsock_reset(void *opaque)
{
	struct virtio_vsock *v = opaque;
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++)
		if (v->conns[i].state != CONN_FREE)
			conn_free(v, &v->conns[i]);
	v->rst_head = v->rst_count = 0;
	v->rx_polling = false;
	v->tx_blocked = false;
	/* timer_fd stays as it is (this may be the main thread, a reboot):
	 * if it fires, it finds no connection waiting. */
	if (v->activated)
		v->ev_pending = true;
	v->activated = false;
}

/* ---- lifecycle ---- */

/* PATH free for bind: a stale socket (nobody accepts) is removed, a live
 * one or another kind of file refused. Logs its failures. */
static int clear_stale(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		int err = errno;
		if (err == ENOENT)
			return 0;
		log_error("--vsock socket=%s: %s", path, strerror(err));
		return -err;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_error("--vsock socket=%s: exists and is not a socket", path);
		return -EEXIST;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int err = errno;
		log_error("--vsock socket=%s: socket: %s", path, strerror(err));
		return -err;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int err = errno;
	close(fd);
	if (r == 0) {
		log_error("--vsock socket=%s: another process is serving on it", path);
		return -EADDRINUSE;
	}
	if (err != ECONNREFUSED) {
		log_error("--vsock socket=%s: %s", path, strerror(err));
		return -err;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		err = errno;
		log_error("--vsock socket=%s: cannot remove the stale socket: %s", path,
			  strerror(err));
		return -err;
	}
	return 0;
}

static int vsock_listen(struct virtio_vsock *v)
{
	int r = clear_stale(v->path);
	if (r)
		return r;
	const char *what = "socket";
	v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", v->path);
	struct stat st;
	if (v->listen_fd >= 0) {
		what = "bind";
		if (bind(v->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			what = "stat";
			if (lstat(v->path, &st) == 0) {
				v->dev = st.st_dev;
				v->ino = st.st_ino;
				what = "listen";
				if (listen(v->listen_fd, 64) == 0)
					return 0;
			}
		}
	}
	int err = errno;
	log_error("--vsock socket=%s: %s: %s", v->path, what, strerror(err));
	return -err;
}

/* Removes PATH if it is still the socket we made. */
static void vsock_unlink(struct virtio_vsock *v)
{
	struct stat st;
	if (v->ino && lstat(v->path, &st) == 0 && st.st_dev == v->dev &&
	    st.st_ino == v->ino)
		unlink(v->path);
}

int virtio_vsock_create(struct virtio_vsock **out, const struct vsock_config *cfg,
			const struct guest_mem *mem)
{
	*out = NULL;
	if (!cfg->socket || strlen(cfg->socket) > CVMM_VSOCK_PATH_MAX) {
		log_error("--vsock socket=%s: longer than %d bytes",
			  cfg->socket ? cfg->socket : "", CVMM_VSOCK_PATH_MAX);
		return -ENAMETOOLONG;
	}
	struct virtio_vsock *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->cid = cfg->cid;
	v->config.guest_cid = htole64(cfg->cid);
	snprintf(v->path, sizeof(v->path), "%s", cfg->socket);
	v->listen_fd = v->ep_fd = v->timer_fd = -1;
	v->next_host_port = VIRTIO_VSOCK_HOST_PORT_BASE;
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++)
		v->conns[i].fd = -1;

	int r = vsock_listen(v);
	if (!r) {
		v->ep_fd = epoll_create1(EPOLL_CLOEXEC);
		v->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_LISTENER };
		struct epoll_event tev = { .events = EPOLLIN, .data.u32 = TAG_TIMER };
		if (v->ep_fd < 0 || v->timer_fd < 0 ||
		    epoll_ctl(v->ep_fd, EPOLL_CTL_ADD, v->listen_fd, &ev) < 0 ||
		    epoll_ctl(v->ep_fd, EPOLL_CTL_ADD, v->timer_fd, &tev) < 0) {
			r = -errno;
			log_error("virtio-vsock: epoll/timerfd: %s", strerror(-r));
		}
	}
	char label[40];
	snprintf(label, sizeof(label), "virtio-vsock cid %" PRIu32, cfg->cid);
	r = r ?: virtio_common_init(&v->common, &(struct virtio_common_params){
		.name = "virtio-vsock",
		.label = label,
		.thread_name = "virtio-vsock",
		.device_id = VIRTIO_ID_VSOCK,
		.nqueues = 3,
		.queue_max_size = VIRTIO_VSOCK_QUEUE_SIZE,
		.queue_names = { [VIRTIO_VSOCK_RXQ] = "vsock-rx",
				 [VIRTIO_VSOCK_TXQ] = "vsock-tx",
				 [VIRTIO_VSOCK_EVQ] = "vsock-event" },
		.config = &v->config,
		.config_size = sizeof(v->config),
		.queue_kicked = vsock_kicked,
		.fd_ready = vsock_sockets_ready,
		.activate = vsock_activate,
		.reset = vsock_reset,
		.kick_at_start = true,
		.mem = mem,
		.dev = v,
	});
	if (r) {
		if (v->timer_fd >= 0)
			close(v->timer_fd);
		if (v->ep_fd >= 0)
			close(v->ep_fd);
		if (v->listen_fd >= 0)
			close(v->listen_fd);
		vsock_unlink(v);
		free(v);
		return r;
	}
	log_info("virtio-vsock: guest CID %" PRIu32 ", listening on %s", cfg->cid, v->path);
	*out = v;
	return 0;
}

struct virtio_dev *virtio_vsock_vdev(struct virtio_vsock *v)
{
	return &v->common.vd;
}

void virtio_vsock_get_stats(const struct virtio_vsock *v, struct virtio_vsock_stats *s)
{
	s->conns = atomic_load(&v->conns_open);
	s->conns_total = atomic_load(&v->conns_total);
	s->refused = atomic_load(&v->refused);
	s->rst_sent = atomic_load(&v->rst_sent);
	s->rx_bytes = atomic_load(&v->rx_bytes);
	s->tx_bytes = atomic_load(&v->tx_bytes);
	s->bad_packets = atomic_load(&v->bad_packets);
}

void virtio_vsock_destroy(struct virtio_vsock *v)
{
	if (!v)
		return;
	virtio_common_destroy(&v->common);
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++)
		if (v->conns[i].state != CONN_FREE)
			conn_free(v, &v->conns[i]);
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++)
		free(v->conns[i].pend);
	close(v->ep_fd);
	close(v->timer_fd);
	close(v->listen_fd);
	vsock_unlink(v);
	free(v);
}
