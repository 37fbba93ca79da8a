/* SPDX-License-Identifier: MIT */
/*
 * The transport-independent half of a virtio device (virtio 1.x, section
 * 2 "Basic Facilities of a Virtio Device" and 3.1 "Device Initialization"):
 * the device status state machine, feature negotiation, the queue
 * configuration and its checks, activate/reset and DEVICE_NEEDS_RESET.
 * A transport (virtio/pci.c, virtio/mmio.c) embeds a struct virtio_core,
 * maps its registers onto the functions below and supplies the interrupt
 * delivery and its own register state through struct virtio_transport_ops.
 *
 * Behaviour, whatever the transport:
 *  - FEATURES_OK is refused (reads back clear) when the driver accepted a
 *    feature not offered or did not accept VERSION_1;
 *  - a queue is set up (vq_init) when the driver enables it, after
 *    FEATURES_OK and before DRIVER_OK; size, addresses and the driver's
 *    order are checked then;
 *  - DRIVER_OK calls the device's activate; writing status 0 resets
 *    everything (the device's reset first, then the transport's registers);
 *  - whatever the driver does wrong (bad queue size or addresses, DRIVER_OK
 *    without FEATURES_OK, activate failing) sets DEVICE_NEEDS_RESET (and,
 *    after DRIVER_OK, sends a config interrupt). Writes that make no sense
 *    (features after FEATURES_OK, queue fields while enabled) are ignored
 *    with a rate-limited warning. Nothing the driver does crashes or
 *    blocks cvmm.
 *
 * A transport is also the VM builder's handle on the device:
 * virtio_transport_reset() (machine reset, as a driver writing status 0),
 * virtio_transport_destroy() and virtio_transport_describe() (vm.info),
 * whichever transport it is.
 *
 * Locking: core->lock serializes the register accesses (vCPU threads); the
 * transport takes it around each access (virtio_core_lock). It is held
 * while the device's reset joins its thread, so nothing the device thread
 * calls (notify_queue, notify_config, set_needs_reset) may take it: those
 * use atomics and the transport's own interrupt lock.
 */
#ifndef CVMM_VIRTIO_CORE_H
#define CVMM_VIRTIO_CORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtio.h"

/* The transport-offered features every device gets. */
#define VIRTIO_CORE_FEATURES                                                  \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |   \
	 (1ULL << VIRTIO_RING_F_INDIRECT_DESC))

struct virtio_core;

/* What vm.info shows of a transport. */
struct virtio_transport_info {
	const char *kind;   /* "pci", "mmio" */
	uint64_t addr;      /* BAR 0 / register window */
	uint64_t size;
	uint32_t gsi;       /* INTx / the window's interrupt (0: none) */
	int pci_slot;       /* -1 unless PCI */
};

struct virtio_transport_ops {
	const char *kind;
	/*
	 * Interrupt the driver for used buffers on q / a configuration
	 * change (device thread or vCPU; never core->lock).
	 */
	void (*notify_queue)(struct virtio_core *c, unsigned q);
	void (*notify_config)(struct virtio_core *c);
	/*
	 * Optional: an eventfd whose write interrupts the driver for queue q
	 * in the kernel (a KVM irqfd), for a device served by another
	 * process (vhost-user); -1 when q's interrupt must go through
	 * notify_queue (core.lock held, at DRIVER_OK).
	 */
	int (*queue_irqfd)(struct virtio_core *c, unsigned q);
	/* Transport registers back to their initial values (vectors, ISR,
	 * selectors); core->lock held, the device already reset. */
	void (*reset)(struct virtio_core *c);
	/* Unbinds and frees the transport (the core is torn down by then). */
	void (*destroy)(struct virtio_core *c);
	void (*describe)(struct virtio_core *c, struct virtio_transport_info *info);
	/*
	 * Snapshots: the transport's own registers (and its PCI function:
	 * config space, BARs, MSI-X table and routes). restore runs before
	 * the core's queues and the device's activation; 0 or -EBADMSG.
	 */
	int (*save)(struct virtio_core *c, struct snap_buf *b);
	int (*restore)(struct virtio_core *c, struct snap_cur *c2);
};

struct virtio_core_queue {
	uint16_t size;
	bool enabled;
	uint64_t desc, avail, used;
};

/* Fields of a queue the driver writes before enabling it. */
enum virtio_queue_field {
	VQF_SIZE,
	VQF_DESC_LO, VQF_DESC_HI,
	VQF_AVAIL_LO, VQF_AVAIL_HI,
	VQF_USED_LO, VQF_USED_HI,
};

struct virtio_core {
	struct virtio_dev *vd;
	const struct virtio_transport_ops *ops;
	char name[32];

	pthread_mutex_t lock;
	uint64_t device_features;
	uint64_t driver_features;
	_Atomic uint8_t status; /* driver-written bits (NEEDS_RESET apart) */
	atomic_bool needs_reset;
	_Atomic uint8_t generation;
	struct virtio_core_queue q[VIRTIO_MAX_QUEUES];
	struct ratelimit rl; /* guest mistakes; under lock */
	bool initialized;
};

/* Logs a guest mistake (rate-limited); core->lock held. */
#define VIRTIO_CORE_WARN(c, fmt, ...)                                          \
	log_ratelimited(&(c)->rl, LOG_WARN, "%s: " fmt, (c)->name, ##__VA_ARGS__)

/*
 * Checks vd (filled by its device), creates its kick eventfds, computes the
 * offered features and binds vd's interrupt callbacks to `ops`. The
 * registers are in their reset state afterwards. Returns 0, -EINVAL for an
 * inconsistent vd, or -errno.
 */
int virtio_core_init(struct virtio_core *c, struct virtio_dev *vd,
		     const struct virtio_transport_ops *ops);
/* Stops the device (its reset), closes the kick fds, unbinds vd. */
void virtio_core_teardown(struct virtio_core *c);

static inline void virtio_core_lock(struct virtio_core *c)
{
	pthread_mutex_lock(&c->lock);
}

static inline void virtio_core_unlock(struct virtio_core *c)
{
	pthread_mutex_unlock(&c->lock);
}

/* ---- register semantics; core->lock held ---- */

/* Status as the driver reads it (NEEDS_RESET included). */
uint8_t virtio_core_status(struct virtio_core *c);
/* A driver write to the status: 0 resets, otherwise bits are only added. */
void virtio_core_set_status(struct virtio_core *c, uint8_t val);
/* 32 bits of the offered / accepted features (sel 0 or 1; else 0). */
uint32_t virtio_core_device_features(const struct virtio_core *c, uint32_t sel);
uint32_t virtio_core_driver_features(const struct virtio_core *c, uint32_t sel);
void virtio_core_set_driver_features(struct virtio_core *c, uint32_t sel,
				     uint32_t val);
/* Queue q's configuration, NULL when there is no such queue. */
const struct virtio_core_queue *virtio_core_queue(const struct virtio_core *c,
						  unsigned q);
/* A write to a field of queue q (ignored for no such queue or enabled). */
void virtio_core_set_queue(struct virtio_core *c, unsigned q,
			   enum virtio_queue_field f, uint32_t val);
/* The driver enables (val 1) queue q; other values are ignored. */
void virtio_core_enable_queue(struct virtio_core *c, unsigned q, uint32_t val);
/* Device-specific configuration space; out of range reads 0. */
void virtio_core_config_access(struct virtio_core *c, uint64_t off,
			       uint8_t *data, uint32_t len, bool is_write);
/* Everything back to the initial state (device first, then the transport). */
void virtio_core_reset(struct virtio_core *c);
/* The transport found the driver at fault: counted, logged, NEEDS_RESET. */
void virtio_core_error(struct virtio_core *c, const char *what);

/* ---- any thread ---- */

/* A notify write that reached cvmm (no ioeventfd): kicks queue q. */
void virtio_core_kick(struct virtio_core *c, uint64_t q);

/* ---- the transport handle (VM builder, API) ---- */

/* Resets the device as its driver would by writing status 0. */
void virtio_transport_reset(struct virtio_core *t);
/* Stops the device and frees the transport. NULL ok. */
void virtio_transport_destroy(struct virtio_core *t);
void virtio_transport_describe(struct virtio_core *t,
			       struct virtio_transport_info *info);
/*
 * Snapshots, the device's thread parked (vm_pause) or not started yet:
 * can_save, whether transport and device have save hooks; save appends,
 * in this order, the device's name, the transport kind and its registers,
 * the core (status, features, each queue's configuration and ring
 * indices) and the device's state. restore, on a device just built from
 * the same configuration: transport, queues (vq_restore: the rings are
 * not touched, the guest's requests go on where they were), the device's
 * state, then, if the driver had set DRIVER_OK, the device's activation
 * (its thread starts and serves what the rings hold). 0, -EBADMSG, or
 * the device's -errno (logged by it).
 */
bool virtio_transport_can_save(struct virtio_core *t);
int virtio_transport_save(struct virtio_core *t, struct snap_buf *b);
int virtio_transport_restore(struct virtio_core *t, struct snap_cur *c);

#endif
