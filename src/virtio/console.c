/* SPDX-License-Identifier: MIT */
/*
 * virtio-console, port 0 only. Written from the virtio 1.x specification,
 * 5.3 "Console Device". See console.h for the behaviour.
 */
#include "virtio/console.h"

#include <errno.h>
#include <limits.h>
#include <linux/virtio_console.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "out_sink.h"
#include "virtio/common.h"
#include "virtio/guest_dma.h"

#define TX_BUDGET 128u
#define RX_BUDGET 64u

struct virtio_console {
	struct virtio_common common;
	int in_fd;
	struct out_sink *out; /* NULL: output discarded */

	/* Device thread state. */
	unsigned w_in;    /* in_fd's worker fd index (if in_fd >= 0) */
	bool in_polling;  /* the guest has rx buffers: read in_fd */
	bool in_eof;      /* in_fd reached end of file / hung up */

	_Atomic uint64_t rx_bytes, tx_bytes, tx_dropped;

	struct vq_chain rx_chain;
	struct vq_chain tx_chain;
	struct iovec iov[IOV_MAX];
};

/* EPOLLONESHOT when idle: a hangup (always reported) wakes us once at most. */
static void in_update_events(struct virtio_console *c)
{
	if (c->in_fd < 0)
		return;
	virtio_common_poll_fd(&c->common, c->w_in,
			      c->in_polling && !c->in_eof ? EPOLLIN : EPOLLONESHOT);
}

/* ---- TX ---- */

/*
 * The chain's bytes go to the output sink, which never blocks: what it
 * cannot take (the reader stalled, the fd failed) is dropped and counted
 * there (out_sink.h, with its own rate-limited warning) and here.
 */
static void tx_one(struct virtio_console *c, const struct vq_chain *ch)
{
	if (!c->out) {
		atomic_fetch_add(&c->tx_bytes, ch->read_len);
		atomic_fetch_add(&c->common.vd.bytes, ch->read_len);
		return;
	}
	uint64_t dropped = 0;
	for (unsigned i = 0; i < ch->nread; i++) {
		const struct vq_seg *s = &ch->segs[i];
		guest_dma_begin();
		size_t n = out_sink_write(c->out, s->addr, s->len);
		guest_dma_end();
		dropped += s->len - n;
		atomic_fetch_add(&c->tx_bytes, n);
		atomic_fetch_add(&c->common.vd.bytes, n);
	}
	if (dropped) {
		atomic_fetch_add(&c->tx_dropped, dropped);
		atomic_fetch_add(&c->common.vd.errors, 1);
	}
}

static int tx_serve(void *opaque, struct vq_chain *ch, uint32_t *written)
{
	struct virtio_console *c = opaque;
	tx_one(c, ch);
	atomic_fetch_add(&c->common.vd.requests, 1);
	*written = 0;
	return 0;
}

/* ---- RX ---- */

static void in_stop(struct virtio_console *c)
{
	c->in_polling = false;
	in_update_events(c);
}

static void in_closed(struct virtio_console *c, const char *why)
{
	log_info("virtio-console: input %s: no more input", why);
	c->in_eof = true;
	in_stop(c);
}

static void console_rx(struct virtio_console *c)
{
	struct virtio_dev *vd = &c->common.vd;
	struct virtqueue *vq = &vd->vqs[VIRTIO_CONSOLE_RXQ];
	struct vq_chain *ch = &c->rx_chain;
	bool pushed = false;

	for (unsigned budget = RX_BUDGET;
	     budget && c->in_polling && !c->in_eof; budget--) {
		/* Never block the device thread on in_fd. */
		struct pollfd p = { .fd = c->in_fd, .events = POLLIN };
		if (poll(&p, 1, 0) <= 0)
			break;
		int r = virtio_common_rx_pop(&c->common, VIRTIO_CONSOLE_RXQ, ch);
		if (r == -EAGAIN)
			continue;
		if (r < 0) {
			in_stop(c); /* until the guest posts buffers */
			break;
		}
		if (ch->write_len == 0) {
			/* Nothing writable: hand it back empty. */
			vq_push_used(vq, ch->head, 0);
			pushed = true;
			continue;
		}
		unsigned cnt = 0;
		for (unsigned i = ch->nread; i < ch->nseg; i++)
			c->iov[cnt++] = (struct iovec){ ch->segs[i].addr,
							ch->segs[i].len };
		guest_dma_begin();
		ssize_t got = readv(c->in_fd, c->iov, (int)cnt);
		guest_dma_end();
		if (got <= 0) {
			int err = got < 0 ? errno : 0;
			vq_unpop(vq, 1);
			if (err == EINTR)
				continue;
			if (err == EAGAIN || err == EWOULDBLOCK)
				break;
			in_closed(c, got == 0 ? "reached end of file"
					      : strerror(err));
			break;
		}
		/* Counted before the used entry is published (net.c). */
		atomic_fetch_add(&c->rx_bytes, (uint64_t)got);
		atomic_fetch_add(&vd->bytes, (uint64_t)got);
		atomic_fetch_add(&vd->requests, 1);
		vq_push_used(vq, ch->head, (uint32_t)got);
		pushed = true;
	}
	if (pushed)
		virtio_queue_notify(vd, VIRTIO_CONSOLE_RXQ);
}

static void rx_kicked(struct virtio_console *c)
{
	if (c->in_fd < 0 || c->in_eof ||
	    !virtio_common_rx_kicked(&c->common, VIRTIO_CONSOLE_RXQ))
		return;
	if (!c->in_polling) {
		c->in_polling = true;
		in_update_events(c);
	}
	console_rx(c);
}

/* Device thread: queue q was kicked. */
static void console_kicked(void *opaque, unsigned q)
{
	struct virtio_console *c = opaque;
	if (q == VIRTIO_CONSOLE_RXQ)
		rx_kicked(c);
	else
		virtio_common_serve(&c->common, q, &c->tx_chain, TX_BUDGET, tx_serve);
}

/* Device thread: in_fd is readable (or hung up). */
static void console_in_ready(void *opaque, unsigned idx)
{
	struct virtio_console *c = opaque;
	(void)idx; /* in_fd is the only fd of ours */
	if (c->in_polling)
		console_rx(c);
	/* Idle (EPOLLONESHOT): a stray hangup ends here. */
}

/* ---- activate and reset (common.h does the rest) ---- */

static int console_activate(void *opaque)
{
	struct virtio_console *c = opaque;
	c->in_polling = c->in_fd >= 0 && !c->in_eof;
	if (c->in_fd < 0)
		return 0;
	int r = virtio_common_add_fd(&c->common, c->in_fd,
				     c->in_polling ? EPOLLIN : EPOLLONESHOT);
	if (r < 0)
		return r;
	c->w_in = (unsigned)r;
	return 0;
}

static void console_reset(void *opaque)
{
	struct virtio_console *c = opaque;
	c->in_polling = false;
}

/* No SIZE, MULTIPORT or EMERG_WRITE: every field reads 0. */
static const struct virtio_console_config console_config;

/* ---- lifecycle ---- */

/* Whether epoll accepts fd (regular files and directories it refuses). */
static int check_pollable(int fd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN };
	int r = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
	close(ep);
	return r;
}

int virtio_console_create(struct virtio_console **out, int in_fd, int out_fd,
			  const struct guest_mem *mem)
{
	*out = NULL;
	if (in_fd >= 0) {
		int r = check_pollable(in_fd);
		if (r < 0) {
			log_warn("virtio-console: input fd %d cannot be polled "
				 "(%s; a regular file or /dev/null?): "
				 "console input is off",
				 in_fd, strerror(-r));
			in_fd = -1;
		}
	}
	struct virtio_console *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->in_fd = in_fd < 0 ? -1 : in_fd;
	int ret = out_fd >= 0 ? out_sink_create(&c->out, out_fd, "virtio-console") : 0;
	if (ret)
		log_error("virtio-console: output fd %d: %s", out_fd, strerror(-ret));
	ret = ret ?: virtio_common_init(&c->common, &(struct virtio_common_params){
		.snapshot = true,
		.name = "virtio-console",
		.thread_name = "virtio-console",
		.device_id = VIRTIO_ID_CONSOLE,
		.nqueues = 2,
		.queue_max_size = VIRTIO_CONSOLE_QUEUE_SIZE,
		.queue_names = { [VIRTIO_CONSOLE_RXQ] = "console-rx",
				 [VIRTIO_CONSOLE_TXQ] = "console-tx" },
		.config = &console_config,
		.config_size = sizeof(console_config),
		.queue_kicked = console_kicked,
		.fd_ready = console_in_ready,
		.activate = console_activate,
		.reset = console_reset,
		.mem = mem,
		.dev = c,
	});
	if (ret < 0) {
		out_sink_destroy(c->out);
		free(c);
		return ret;
	}
	*out = c;
	return 0;
}

struct virtio_dev *virtio_console_vdev(struct virtio_console *c)
{
	return &c->common.vd;
}

void virtio_console_get_stats(const struct virtio_console *c,
			      struct virtio_console_stats *s)
{
	s->rx_bytes = atomic_load(&c->rx_bytes);
	s->tx_bytes = atomic_load(&c->tx_bytes);
	s->tx_dropped = atomic_load(&c->tx_dropped);
}

void virtio_console_destroy(struct virtio_console *c)
{
	if (!c)
		return;
	virtio_common_destroy(&c->common);
	out_sink_destroy(c->out);
	free(c);
}

struct out_sink *virtio_console_out_sink(struct virtio_console *c)
{
	return c->out;
}
