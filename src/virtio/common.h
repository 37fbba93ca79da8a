/* SPDX-License-Identifier: MIT */
/*
 * What every virtio device (rng, blk, net, console) shares, written once
 * (cloud-hypervisor's VirtioCommon, in plain C): the struct virtio_dev a
 * transport sees and its ops table, the device thread and the fds it
 * polls, the configuration space reader, and the activate and reset
 * paths. A device embeds a struct virtio_common, describes itself once in
 * a struct virtio_common_params (virtio_common_init) and keeps only what
 * is its own: serving its queues and fds, its configuration fields, its
 * per-activation state.
 *
 * Activate (the driver's DRIVER_OK: vd->ops->activate):
 *  1. a device thread still running is stopped, as by reset (below);
 *  2. params.activate(dev), if set: the device's per-activation state and
 *     its own fds (virtio_common_add_fd). It may return VIRTIO_COMMON_IDLE:
 *     nothing to serve (the driver enabled no queue the device needs), no
 *     thread, and the activation succeeds;
 *  3. the device thread starts, polling queue q's kick eventfd as its fd q
 *     and the device's own fds after them (index nqueues and up);
 *  4. with params.kick_at_start, each ready queue is kicked once: requests
 *     the driver queued before its first kick reached us are served.
 * A failure is logged here, once, rate-limited (the guest drives it) and
 * naming the device (params.label); the transport then only sets
 * DEVICE_NEEDS_RESET (virtio.h: activate logs its own failures).
 *
 * Reset (vd->ops->reset; also step 1 above): the thread stops (joined),
 * the fd set is emptied, then params.reset(dev).
 *
 * On the device thread: fd q < nqueues drains queue q's kick eventfd, then
 * calls params.queue_kicked(dev, q); the device's own fds call
 * params.fd_ready(dev, idx) with the index virtio_common_add_fd returned.
 * The first call waits until the start has returned, so a handler may use
 * virtio_common_poll_fd() at once (it only reaches epoll after that).
 *
 * Serving queues, the same way in every device (queue.h's loop):
 *  - a queue the guest fills and the device empties (requests, transmit):
 *    virtio_common_serve();
 *  - a receive queue fed from a host fd (a tap, console input): the fd is
 *    polled only while the guest has buffers posted. A kick
 *    (virtio_common_rx_kicked) starts the polling with the queue's
 *    notifications off; virtio_common_rx_pop() takes one buffer per input
 *    and says when they ran out (notifications on again, polling stops).
 *  A ring the guest broke (vq_pop -EIO; queue.c logged why) goes to
 *  virtio_dev_error() once: the queue is left alone until reset.
 *
 * Configuration space (vd->ops->config_read, any vCPU thread): the
 * params.config_size bytes at params.config, the device's own struct
 * (little-endian; NULL: all zero), read through virtio_config_read().
 * Fields that change while the device lives (a link status) come from
 * params.config_update(dev, buf), which writes them into a copy of the
 * struct before each read; after such a change the device calls
 * vd->notify_config (the transport bumps the configuration generation and
 * interrupts the driver).
 */
#ifndef CVMM_VIRTIO_COMMON_H
#define CVMM_VIRTIO_COMMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"
#include "virtio/virtio.h"
#include "virtio/worker.h"

/* Largest configuration space a device may have (bytes). */
#define VIRTIO_COMMON_CONFIG_MAX 256u
/* params.activate: nothing to serve, start no thread. */
#define VIRTIO_COMMON_IDLE 1

struct virtio_common_params {
	const char *name;        /* vd->name (vm.info, transport logs); kept */
	const char *label;       /* this file's log prefix; NULL: name; copied */
	const char *thread_name; /* the device thread's (15 bytes); copied */
	uint16_t device_id;      /* VIRTIO_ID_* */
	unsigned nqueues;        /* 1..VIRTIO_MAX_QUEUES */
	uint16_t queue_max_size;
	const char *queue_names[VIRTIO_MAX_QUEUES]; /* vqs[q].name; kept */
	uint64_t features;       /* the device's feature bits */
	const void *config;      /* configuration space; kept (NULL: zeros) */
	uint32_t config_size;    /* at most VIRTIO_COMMON_CONFIG_MAX */
	/* Optional: the fields that change, into cfg (a copy of config). */
	void (*config_update)(void *dev, void *cfg);
	/* Device thread: queue q was kicked (its eventfd already drained). */
	void (*queue_kicked)(void *dev, unsigned q);
	/* Device thread: the device's own fd idx (virtio_common_add_fd). */
	void (*fd_ready)(void *dev, unsigned idx);
	/* Optional, at activate: 0, VIRTIO_COMMON_IDLE or -errno (logged here). */
	int (*activate)(void *dev);
	/* Optional, at reset, after the thread stopped. */
	void (*reset)(void *dev);
	/* Optional, device thread: worker.h's quiesce (before a park, stop
	 * false; before the thread exits, stop true). */
	void (*quiesce)(void *dev, bool stop);
	/* Optional: where the device thread waits instead of epoll
	 * (worker.h; called with dev; fds polled for input only). */
	const struct virtio_worker_waiter *waiter;
	bool kick_at_start;
	/*
	 * Snapshots (virtio.h's save/restore): the device's state is its
	 * configuration space as built (p.config), which a restore checks
	 * against the one it was built with now: byte for byte, or through
	 * restore_config(dev, saved) when set (0, or -errno after logging
	 * what does not fit; it may adopt saved fields, a random MAC). false:
	 * the device cannot be snapshotted (its state lives elsewhere).
	 */
	bool snapshot;
	int (*restore_config)(void *dev, const void *saved);
	const struct guest_mem *mem;
	void *dev; /* the callbacks' argument */
};

#define VIRTIO_COMMON_MAX_FDS (WORKER_MAX_FDS - VIRTIO_MAX_QUEUES)

struct virtio_common {
	struct virtio_dev vd; /* vd.dev is this struct; vd.ops this file's */
	struct virtio_worker worker;
	struct virtio_common_params p;
	char label[48];
	char thread_name[16];
	/* The device's own fds for the next start (activate only). */
	unsigned nfds;
	int fds[VIRTIO_COMMON_MAX_FDS];
	uint32_t events[VIRTIO_COMMON_MAX_FDS];
	/* The device thread's first call waits for the start to return. */
	pthread_mutex_t start_lock;
	atomic_bool started;
	bool initialized;
};

/*
 * Fills d->vd from p (kick fds -1: the transport's to create), sets up the
 * worker. 0, -EINVAL (p inconsistent) or -errno, logged here (naming
 * params.name): the device's create returns it without a line of its own.
 */
int virtio_common_init(struct virtio_common *d,
		       const struct virtio_common_params *p);
/* Stops the device thread, frees the worker. Safe on a zeroed struct. */
void virtio_common_destroy(struct virtio_common *d);

/*
 * From params.activate only: polls fd for `events` once the thread runs.
 * Returns its index for fd_ready / virtio_common_poll_fd, or -ENOSPC.
 */
int virtio_common_add_fd(struct virtio_common *d, int fd, uint32_t events);
/*
 * Device thread: polls the device's fd idx for `events` from now on
 * (nothing to do when unchanged); a failure is logged, rate-limited.
 */
void virtio_common_poll_fd(struct virtio_common *d, unsigned idx,
			   uint32_t events);

/* serve() of virtio_common_serve: not now, the chain goes back. */
#define VIRTIO_SERVE_RETRY 1

/*
 * Device thread: serves queue q. Pops each chain into *chain and hands it
 * to serve(dev, chain, &written): 0, the chain is used with `written`
 * bytes; VIRTIO_SERVE_RETRY, not now (the device waits for something of
 * its own), the chain goes back to the ring and serving stops. Goes on
 * until the ring is empty (notifications on again, no chain raced in), for
 * at most `budget` chains (then q is kicked again: the thread's other fds,
 * a stop or a pause get their turn, virtio.h), or until the guest broke
 * the ring; then interrupts the driver for what was used. A queue not
 * ready or broken is left alone.
 */
void virtio_common_serve(struct virtio_common *d, unsigned q,
			 struct vq_chain *chain, unsigned budget,
			 int (*serve)(void *dev, struct vq_chain *chain,
				      uint32_t *written));

/*
 * Device thread: receive queue q was kicked (buffers posted). False when
 * there is nothing to do (not ready, broken); otherwise its notifications
 * are off: the device reads its fd into buffers while they last.
 */
bool virtio_common_rx_kicked(struct virtio_common *d, unsigned q);
/*
 * Device thread: the next receive buffer of q into *chain. 0; -EAGAIN,
 * buffers came while notifications went back on (call again); -ENOENT,
 * none left (the guest's next buffers kick q); -EIO, the ring is broken.
 * On -ENOENT and -EIO the device stops reading its fd.
 */
int virtio_common_rx_pop(struct virtio_common *d, unsigned q,
			 struct vq_chain *chain);

/*
 * len bytes at offset off of the size-byte configuration space cfg into
 * data: what lies beyond size (or all of it, cfg NULL) reads 0. Any
 * off/len, no overflow.
 */
void virtio_config_read(const void *cfg, uint32_t size, uint32_t off,
			uint8_t *data, uint32_t len);

#endif
