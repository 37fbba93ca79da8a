/* SPDX-License-Identifier: MIT */
/*
 * The seam between a virtio device (rng, blk, net, console: one file each)
 * and its transport (virtio-pci, virtio-mmio). The device fills a struct
 * virtio_dev and an ops table (the four devices do it through common.h,
 * which implements the table once for all of them); the transport negotiates
 * features, configures the queues in vdev->vqs, binds each queue's kick
 * eventfd to the guest's notify address (ioeventfd), calls ops->activate at
 * DRIVER_OK and ops->reset on reset. The device serves its queues from its
 * own thread (see worker.h) and interrupts through vdev->notify_queue.
 *
 * A queue kick, end to end:
 *   guest write to notify BAR -> ioeventfd -> kick_fd[q] (worker.c epoll)
 *   -> device handler pops chains (queue.c) -> vq_push_used
 *   -> virtio_queue_notify -> transport notify_queue -> MSI-X irqfd.
 */
#ifndef CVMM_VIRTIO_VIRTIO_H
#define CVMM_VIRTIO_VIRTIO_H

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"
#include "log.h"
#include "virtio/queue.h"

#define VIRTIO_MAX_QUEUES 8

struct virtio_dev;
struct virtio_worker;
struct snap_buf;
struct snap_cur;

struct virtio_device_ops {
	/* Device feature bits; the transport adds VERSION_1, EVENT_IDX, INDIRECT_DESC. */
	uint64_t (*features)(void *dev);
	/* Device-specific config space (little-endian), config_size bytes. */
	void (*config_read)(void *dev, uint32_t off, uint8_t *data, uint32_t len);
	/* Optional; writes to read-only fields are ignored. */
	void (*config_write)(void *dev, uint32_t off, const uint8_t *data, uint32_t len);
	/*
	 * DRIVER_OK: vdev->vqs[0..nqueues) are configured (a queue the driver
	 * did not enable has vq.ready false), features_negotiated is final.
	 * Start serving; return 0 or -errno. A failure is the device's to
	 * log (rate-limited: the guest drives it), once, with what it was
	 * doing; the transport only counts it and sets DEVICE_NEEDS_RESET.
	 */
	int (*activate)(void *dev);
	/* Stop serving and forget queue state; returns once the worker stopped. */
	void (*reset)(void *dev);
	/*
	 * Snapshots (snap/snap.h), device thread parked or not started: the
	 * device's own state (its configuration fields, what it needs
	 * beyond the queues the transport saves). restore runs on a device
	 * just built from the same configuration, before the transport
	 * activates it again: 0, -EBADMSG (payload), or -errno naming what
	 * does not fit (a disk whose size changed). NULL save: the device
	 * cannot be snapshotted (vm.snapshot refuses, naming it).
	 */
	int (*save)(void *dev, struct snap_buf *b);
	int (*restore)(void *dev, struct snap_cur *c);
};

struct virtio_dev {
	/* Filled by the device before the transport is created. */
	const char *name;
	uint16_t device_id; /* VIRTIO_ID_* */
	unsigned nqueues;
	uint16_t queue_max_size;
	uint32_t config_size;
	const struct virtio_device_ops *ops;
	void *dev; /* ops' first argument */
	const struct guest_mem *mem;
	/* The device's service thread, for pause (NULL: none to pause). */
	struct virtio_worker *worker;

	/* Owned by the transport; read by the device after activate. */
	uint64_t features_negotiated;
	struct virtqueue vqs[VIRTIO_MAX_QUEUES];
	int kick_fd[VIRTIO_MAX_QUEUES];

	/* Set by the transport. Callable from the device thread. */
	void (*notify_queue)(struct virtio_dev *vd, unsigned q);
	void (*notify_config)(struct virtio_dev *vd);
	void (*set_needs_reset)(struct virtio_dev *vd);
	/* An irqfd for queue q's interrupt, or -1: notify_queue it is. For
	 * devices served elsewhere (vhost-user), at activate. */
	int (*queue_irqfd)(struct virtio_dev *vd, unsigned q);
	void *transport;

	/* Per-device counters (API, benchmarks). */
	_Atomic uint64_t requests;
	_Atomic uint64_t bytes;
	_Atomic uint64_t errors;
	struct ratelimit rl;
};

static inline bool virtio_has_feature(const struct virtio_dev *vd, unsigned bit)
{
	return (vd->features_negotiated >> bit) & 1;
}

/* After pushing used buffers on q: interrupts the driver unless suppressed. */
void virtio_queue_notify(struct virtio_dev *vd, unsigned q);

/*
 * Per-wake-up budget of a device thread's queue handler: after `size`
 * chains the handler re-kicks its queue and returns, so that the worker's
 * other fds, a stop (reset) and a pause get their turn between batches
 * however fast the guest refills the queue. One per handler call:
 *
 *	struct virtio_budget budget = VIRTIO_BUDGET(N);
 *	while (vq_pop(vq, &chain) == 0) {
 *		serve, push;
 *		if (virtio_budget_spend(vd, q, &budget))
 *			break; (then notify as after a full pass)
 *	}
 */
struct virtio_budget {
	unsigned left;
	unsigned size;
};

#define VIRTIO_BUDGET(n) ((struct virtio_budget){ .left = (n), .size = (n) })

/*
 * Counts one chain served on queue q. True when the budget is spent and q's
 * kick eventfd was written (the worker comes back to q after a pass through
 * epoll): the handler stops serving now. When the kick cannot be written the
 * budget starts over and the result is false: the handler goes on.
 */
bool virtio_budget_spend(struct virtio_dev *vd, unsigned q,
			 struct virtio_budget *b);

/*
 * The guest broke one of vd's rings (vq_pop() -EIO): counted in vd->errors,
 * DEVICE_NEEDS_RESET. Not logged: queue.c logged what was wrong.
 */
void virtio_dev_error(struct virtio_dev *vd);

#endif
