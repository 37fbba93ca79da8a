/* SPDX-License-Identifier: MIT */
/*
 * virtio-net over a TAP interface. Written from the virtio 1.x
 * specification, 5.1 "Network Device". See net.h for the behaviour.
 */
#include "virtio/net.h"

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <linux/if_ether.h>
#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/tap.h"
#include "virtio/common.h"
#include "virtio/guest_dma.h"

#define HDR_LEN TAP_VNET_HDR_LEN
/* Largest frame (after the header) we send: 64 KiB plus an Ethernet header. */
#define TX_MAX_FRAME (65535u + ETH_HLEN)
/* Chains served per wake-up, so that one direction cannot starve the other. */
#define TX_BUDGET 256u
#define RX_BUDGET 256u

/* Config space up to and including mtu. */
#define NET_CONFIG_SIZE                                                       \
	(offsetof(struct virtio_net_config, mtu) +                            \
	 sizeof(((struct virtio_net_config *)0)->mtu))

_Static_assert(sizeof(struct virtio_net_hdr_v1) == HDR_LEN, "vnet header");

struct virtio_net {
	struct virtio_common common;
	struct tap tap;
	/* mac, mtu, max_virtqueue_pairs; status comes from `status`. */
	struct virtio_net_config config;
	_Atomic uint16_t status; /* VIRTIO_NET_S_LINK_UP or 0 */

	/* Device thread state (reset at activate). */
	unsigned w_tap;             /* the tap's worker fd index */
	bool rx_polling;            /* the guest has rx buffers: read the tap */
	bool tx_blocked;            /* a tx chain waits for EPOLLOUT */
	bool tap_dead;              /* the tap interface went away */

	_Atomic uint64_t rx_frames, rx_bytes, rx_dropped;
	_Atomic uint64_t tx_frames, tx_bytes, tx_dropped;

	struct vq_chain rx_chain;
	struct vq_chain tx_chain;
	struct iovec iov[IOV_MAX];
};

/* Events asked of the worker for the tap. EPOLLONESHOT when idle, so that
 * EPOLLERR/EPOLLHUP (always reported) wake us at most once while idle. */
static void tap_update_events(struct virtio_net *n)
{
	uint32_t ev = 0;
	if (!n->tap_dead) {
		if (n->rx_polling)
			ev |= EPOLLIN;
		if (n->tx_blocked)
			ev |= EPOLLOUT;
	}
	virtio_common_poll_fd(&n->common, n->w_tap, ev ? ev : EPOLLONESHOT);
}

/* The tap fd no longer has an interface behind it: link down, stop RX. */
static void tap_died(struct virtio_net *n, int err)
{
	if (n->tap_dead)
		return;
	log_error("virtio-net %s: tap lost (%s): link down", n->tap.name,
		  strerror(err));
	n->tap_dead = true;
	n->rx_polling = false;
	n->tx_blocked = false;
	tap_update_events(n);
	atomic_store(&n->status, 0);
	if (n->common.vd.notify_config)
		n->common.vd.notify_config(&n->common.vd);
}

/* The tap fd was detached from its interface (deleted). EIO on write only
 * means the interface is down: frames are dropped until it comes up. */
static bool tap_gone_error(int err)
{
	return err == EBADFD;
}

/* A frame dropped, either way: counted, logged (rate-limited). */
static void drop(struct virtio_net *n, bool tx, const char *why, uint64_t len)
{
	atomic_fetch_add(tx ? &n->tx_dropped : &n->rx_dropped, 1);
	atomic_fetch_add(&n->common.vd.errors, 1);
	log_ratelimited(&n->common.vd.rl, LOG_WARN,
			"virtio-net %s: %s frame of %llu bytes dropped: %s",
			n->tap.name, tx ? "tx" : "rx", (unsigned long long)len, why);
}

/* ---- TX ---- */

/*
 * Sends the popped tx chain c. Returns 0 when it is done with (sent or
 * dropped), -EAGAIN when the tap cannot take it now (try again later).
 */
static int tx_one(struct virtio_net *n, const struct vq_chain *c)
{
	struct virtio_net_hdr_v1 hdr;

	if (c->read_len < HDR_LEN + ETH_HLEN) {
		drop(n, true, "shorter than header + Ethernet header", c->read_len);
		return 0;
	}
	uint64_t frame_len = c->read_len - HDR_LEN;
	if (frame_len > TX_MAX_FRAME) {
		drop(n, true, "too long", c->read_len);
		return 0;
	}
	vq_chain_read(c, 0, &hdr, sizeof(hdr));
	if ((hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
	    hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		drop(n, true, "checksum/GSO offload not negotiated", c->read_len);
		return 0;
	}
	if (n->tap_dead) {
		drop(n, true, "tap lost", c->read_len);
		return 0;
	}

	/* A clean header of our own, then the frame straight from the guest. */
	static const struct virtio_net_hdr_v1 zero_hdr;
	unsigned cnt = 0;
	n->iov[cnt++] = (struct iovec){ (void *)&zero_hdr, sizeof(zero_hdr) };
	uint64_t skip = HDR_LEN;
	for (unsigned i = 0; i < c->nread; i++) {
		const struct vq_seg *s = &c->segs[i];
		if (skip >= s->len) {
			skip -= s->len;
			continue;
		}
		if (cnt == IOV_MAX) {
			drop(n, true, "too many segments", c->read_len);
			return 0;
		}
		n->iov[cnt++] = (struct iovec){ s->addr + skip, s->len - skip };
		skip = 0;
	}

	for (;;) {
		guest_dma_begin();
		ssize_t w = writev(n->tap.fd, n->iov, (int)cnt);
		guest_dma_end();
		if (w >= 0) {
			atomic_fetch_add(&n->tx_frames, 1);
			atomic_fetch_add(&n->tx_bytes, frame_len);
			atomic_fetch_add(&n->common.vd.requests, 1);
			atomic_fetch_add(&n->common.vd.bytes, frame_len);
			return 0;
		}
		int err = errno;
		if (err == EINTR)
			continue;
		if (err == EAGAIN || err == EWOULDBLOCK)
			return -EAGAIN;
		if (tap_gone_error(err))
			tap_died(n, err);
		drop(n, true, err == EIO ? "the tap interface is down" : strerror(err),
		     c->read_len);
		return 0;
	}
}

/* One tx chain: sent or dropped, or back to the ring while the tap is full. */
static int tx_serve(void *opaque, struct vq_chain *c, uint32_t *written)
{
	struct virtio_net *n = opaque;
	*written = 0;
	if (tx_one(n, c) == -EAGAIN) {
		n->tx_blocked = true;
		tap_update_events(n);
		return VIRTIO_SERVE_RETRY;
	}
	return 0;
}

static void net_tx(struct virtio_net *n)
{
	if (!n->tx_blocked)
		virtio_common_serve(&n->common, VIRTIO_NET_TXQ, &n->tx_chain,
				    TX_BUDGET, tx_serve);
}

/* ---- RX ---- */

static void rx_stop_polling(struct virtio_net *n)
{
	n->rx_polling = false;
	tap_update_events(n);
}

/*
 * iovecs for reading one frame from the tap into chain c: the header into
 * *hdr, the frame into the writable part of c after its first HDR_LEN
 * bytes, then one spare byte. Returns the count, or -E2BIG when the chain
 * has too many segments for one readv().
 */
static int rx_iov(struct virtio_net *n, const struct vq_chain *c,
		  struct virtio_net_hdr_v1 *hdr, uint8_t *spare)
{
	unsigned cnt = 0;
	uint64_t skip = HDR_LEN;
	n->iov[cnt++] = (struct iovec){ hdr, HDR_LEN };
	for (unsigned i = c->nread; i < c->nseg; i++) {
		const struct vq_seg *s = &c->segs[i];
		if (skip >= s->len) {
			skip -= s->len;
			continue;
		}
		if (cnt == IOV_MAX - 1)
			return -E2BIG;
		n->iov[cnt++] = (struct iovec){ s->addr + skip, s->len - skip };
		skip = 0;
	}
	n->iov[cnt++] = (struct iovec){ spare, 1 };
	return (int)cnt;
}

static void net_rx(struct virtio_net *n)
{
	struct virtio_dev *vd = &n->common.vd;
	struct virtqueue *vq = &vd->vqs[VIRTIO_NET_RXQ];
	struct vq_chain *c = &n->rx_chain;
	bool pushed = false;

	for (unsigned budget = RX_BUDGET; budget && n->rx_polling; budget--) {
		int r = virtio_common_rx_pop(&n->common, VIRTIO_NET_RXQ, c);
		if (r == -EAGAIN)
			continue;
		if (r < 0) {
			rx_stop_polling(n);
			break;
		}
		if (c->write_len < HDR_LEN + ETH_HLEN) {
			/* Useless buffer (the spec asks for >= 1526 bytes). */
			log_ratelimited(&vd->rl, LOG_WARN,
					"virtio-net %s: rx buffer of %llu bytes "
					"is too small, returned unused",
					n->tap.name,
					(unsigned long long)c->write_len);
			atomic_fetch_add(&vd->errors, 1);
			vq_push_used(vq, c->head, 0);
			pushed = true;
			continue;
		}
		/*
		 * The tap's header goes to a local copy (checked, then
		 * replaced by ours), the frame straight into the chain. The
		 * tap silently truncates a frame larger than the buffers: one
		 * spare byte behind the chain tells a truncated frame from one
		 * that fits exactly.
		 */
		struct virtio_net_hdr_v1 hdr;
		uint8_t spare;
		int cnt = rx_iov(n, c, &hdr, &spare);
		if (cnt < 0) {
			log_ratelimited(&vd->rl, LOG_WARN,
					"virtio-net %s: rx chain of %u segments "
					"not used",
					n->tap.name, c->nseg - c->nread);
			atomic_fetch_add(&vd->errors, 1);
			vq_push_used(vq, c->head, 0);
			pushed = true;
			continue;
		}
		guest_dma_begin();
		ssize_t got = readv(n->tap.fd, n->iov, cnt);
		guest_dma_end();
		if (got < 0) {
			int err = errno;
			vq_unpop(vq, 1);
			if (err == EINTR)
				continue;
			if (err == EAGAIN || err == EWOULDBLOCK)
				break; /* tap empty: wait for EPOLLIN */
			if (tap_gone_error(err)) {
				tap_died(n, err);
				break;
			}
			/* The kernel consumed (and dropped) the frame. */
			drop(n, false, strerror(err), 0);
			continue;
		}
		if ((uint64_t)got > c->write_len) {
			/* Truncated: drop, reuse the chain for the next one. */
			vq_unpop(vq, 1);
			drop(n, false, "larger than the receive buffer", (uint64_t)got);
			continue;
		}
		if (got < HDR_LEN + ETH_HLEN) {
			vq_unpop(vq, 1);
			drop(n, false, "runt", (uint64_t)got);
			continue;
		}
		/*
		 * With offloads off the tap sends neither partial checksums
		 * nor GSO frames; should it anyway, the guest (which
		 * negotiated no offload) could not use the frame.
		 */
		if ((hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
		    hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
			vq_unpop(vq, 1);
			drop(n, false, "offload requested by the tap", (uint64_t)got);
			continue;
		}
		/* No offload negotiated: all zero (no DATA_VALID), and one
		 * buffer per frame without MRG_RXBUF. */
		memset(&hdr, 0, sizeof(hdr));
		hdr.num_buffers = htole16(1);
		vq_chain_write(c, 0, &hdr, sizeof(hdr));
		/* Counted before the used entry is published: whoever sees
		 * the frame also sees it in the statistics. */
		uint64_t frame_len = (uint64_t)got - HDR_LEN;
		atomic_fetch_add(&n->rx_frames, 1);
		atomic_fetch_add(&n->rx_bytes, frame_len);
		atomic_fetch_add(&vd->requests, 1);
		atomic_fetch_add(&vd->bytes, frame_len);
		vq_push_used(vq, c->head, (uint32_t)got);
		pushed = true;
	}
	if (pushed)
		virtio_queue_notify(vd, VIRTIO_NET_RXQ);
}

/* The guest posted receive buffers. */
static void rx_kicked(struct virtio_net *n)
{
	if (n->tap_dead || !virtio_common_rx_kicked(&n->common, VIRTIO_NET_RXQ))
		return;
	if (!n->rx_polling) {
		n->rx_polling = true;
		tap_update_events(n);
	}
	net_rx(n);
}

/* Device thread: queue q was kicked. */
static void net_kicked(void *opaque, unsigned q)
{
	struct virtio_net *n = opaque;
	if (q == VIRTIO_NET_RXQ)
		rx_kicked(n);
	else
		net_tx(n);
}

/* Device thread: the tap is readable or writable. */
static void net_tap_ready(void *opaque, unsigned idx)
{
	struct virtio_net *n = opaque;
	(void)idx; /* the tap is the only fd of ours */
	if (n->tx_blocked) {
		n->tx_blocked = false;
		tap_update_events(n);
		net_tx(n);
	}
	if (n->rx_polling)
		net_rx(n);
	/* Idle (EPOLLONESHOT): a stray EPOLLERR/HUP ends here. */
}

/* ---- configuration, activate and reset (common.h does the rest) ---- */

static void net_config_update(void *opaque, void *cfg)
{
	struct virtio_net *n = opaque;
	struct virtio_net_config *c = cfg;
	c->status = htole16(atomic_load(&n->status));
}

static int net_activate(void *opaque)
{
	struct virtio_net *n = opaque;
	n->tx_blocked = false;
	n->rx_polling = !n->tap_dead;
	int r = virtio_common_add_fd(&n->common, n->tap.fd,
				     n->rx_polling ? EPOLLIN : EPOLLONESHOT);
	if (r < 0)
		return r;
	n->w_tap = (unsigned)r;
	return 0;
}

static void net_reset(void *opaque)
{
	struct virtio_net *n = opaque;
	n->rx_polling = false;
	n->tx_blocked = false;
	/* Frames still in the tap wait for the next activation. */
}

/* Snapshots: the MAC the guest knows (a random one too); the link status
 * is the tap's now. */
static int net_restore_config(void *opaque, const void *saved)
{
	struct virtio_net *n = opaque;
	const struct virtio_net_config *c = saved;
	memcpy(n->config.mac, c->mac, sizeof(n->config.mac));
	return 0;
}

/* ---- lifecycle ---- */

/* The shared part (common.h), once the tap is open and n->config built. */
static int net_common_init(struct virtio_net *n, const struct guest_mem *mem)
{
	char label[48];
	snprintf(label, sizeof(label), "virtio-net %s", n->tap.name);
	return virtio_common_init(&n->common, &(struct virtio_common_params){
		.name = "virtio-net",
		.label = label,
		.thread_name = "virtio-net",
		.device_id = VIRTIO_ID_NET,
		.nqueues = 2,
		.queue_max_size = VIRTIO_NET_QUEUE_SIZE,
		.queue_names = { [VIRTIO_NET_RXQ] = "net-rx", [VIRTIO_NET_TXQ] = "net-tx" },
		.features = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS) |
			    (1ULL << VIRTIO_NET_F_MTU),
		.config = &n->config,
		.config_size = NET_CONFIG_SIZE,
		.config_update = net_config_update,
		.snapshot = true,
		.restore_config = net_restore_config,
		.queue_kicked = net_kicked,
		.fd_ready = net_tap_ready,
		.activate = net_activate,
		.reset = net_reset,
		.mem = mem,
		.dev = n,
	});
}

int virtio_net_create(struct virtio_net **out, const struct net_config *cfg,
		      const struct guest_mem *mem)
{
	*out = NULL;
	struct virtio_net *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	int r = cfg->has_fd ? tap_adopt(&n->tap, cfg->fd)
			    : tap_open(&n->tap, cfg->tap, cfg->has_ip, cfg->ip, cfg->mask);
	if (r < 0) {
		free(n);
		return r;
	}
	uint8_t mac[ETH_ALEN];
	if (cfg->has_mac) {
		memcpy(mac, cfg->mac, ETH_ALEN);
	} else {
		uint8_t rnd[3] = { 0 };
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
			/* Unlikely; still distinct enough per process. */
			uint32_t v = (uint32_t)getpid() ^ (uint32_t)(uintptr_t)n;
			memcpy(rnd, &v, sizeof(rnd));
		}
		mac[0] = 0x52; /* locally administered, unicast */
		mac[1] = 0x54;
		mac[2] = 0x00;
		memcpy(&mac[3], rnd, sizeof(rnd));
	}
	int mtu = tap_get_mtu(&n->tap);
	if (mtu < 68)
		mtu = 1500;
	if (mtu > 65535)
		mtu = 65535;
	memcpy(n->config.mac, mac, ETH_ALEN);
	n->config.max_virtqueue_pairs = htole16(1);
	n->config.mtu = htole16((uint16_t)mtu);
	atomic_store(&n->status, VIRTIO_NET_S_LINK_UP);

	r = net_common_init(n, mem);
	if (r < 0) {
		tap_close(&n->tap);
		free(n);
		return r;
	}
	log_info("virtio-net: tap %s, mac %02x:%02x:%02x:%02x:%02x:%02x, mtu %d",
		 n->tap.name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], mtu);
	*out = n;
	return 0;
}

struct virtio_dev *virtio_net_vdev(struct virtio_net *n)
{
	return &n->common.vd;
}

const char *virtio_net_tap_name(const struct virtio_net *n)
{
	return n->tap.name;
}

void virtio_net_get_stats(const struct virtio_net *n, struct virtio_net_stats *s)
{
	s->rx_frames = atomic_load(&n->rx_frames);
	s->rx_bytes = atomic_load(&n->rx_bytes);
	s->rx_dropped = atomic_load(&n->rx_dropped);
	s->tx_frames = atomic_load(&n->tx_frames);
	s->tx_bytes = atomic_load(&n->tx_bytes);
	s->tx_dropped = atomic_load(&n->tx_dropped);
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n)
		return;
	virtio_common_destroy(&n->common);
	tap_close(&n->tap);
	free(n);
}
