/* SPDX-License-Identifier: MIT */
/*
 * A virtio device whose queues a vhost-user backend serves (vhost/user.h),
 * shared by virtio-fs (fs.c) and vhost-user-blk (vhost_blk.c): toward the
 * transport it is a device like any other (features, configuration space,
 * queues, activate/reset through struct virtio_device_ops); activation
 * hands the queues to the backend instead of a device thread.
 *
 * Creation connects to the backend and negotiates (a backend that is not
 * there, or lacks VERSION_1, EVENT_IDX or INDIRECT_DESC, which every cvmm
 * transport offers, or has fewer queues than asked for (MQ), fails the VM
 * build with one line). The features offered to the driver are the
 * backend's, limited to the transport's and the device's (params.features).
 * The configuration space is the device's (params.config: virtio-fs) or
 * the backend's (GET_CONFIG once connected, kept; driver writes go out as
 * SET_CONFIG), served from cvmm's copy: a config read never waits for the
 * backend.
 *
 * Activate (DRIVER_OK, vCPU thread, core lock held): SET_FEATURES (the
 * driver's features), SET_MEM_TABLE (every RAM region's memfd), then per
 * queue the driver enabled SET_VRING_NUM, SET_VRING_BASE 0, SET_VRING_ADDR
 * (the rings' addresses in cvmm, which the memory table maps),
 * SET_VRING_KICK (the queue's kick eventfd: the KVM ioeventfd on its
 * notify address), SET_VRING_CALL, then SET_VRING_ENABLE 1 (with
 * VHOST_USER_F_PROTOCOL_FEATURES) and one kick each. The call eventfd is
 * the queue's KVM irqfd where the transport has one (virtio-pci with MSI-X:
 * the vector's): the backend interrupts the guest without cvmm. Otherwise
 * (virtio-mmio, which must also set InterruptStatus; virtio-pci on INTx)
 * it is an eventfd of cvmm's that the device's thread relays to
 * vd->notify_queue.
 *
 * The device's thread (worker.h, one per device while active) relays those
 * interrupts and watches the socket for the backend hanging up
 * (EPOLLRDHUP, once). It never reads the socket: requests and replies are
 * vhost/user.c's, on the thread that asks.
 *
 * Reset (status 0, machine reset, teardown): the thread stops, then
 * GET_VRING_BASE stops each ring the backend had.
 *
 * A backend that hangs up, times out or breaks the protocol fails its
 * device: one line (vhost/user.c), DEVICE_NEEDS_RESET (and a config
 * interrupt after DRIVER_OK); the VM goes on. The next activation after
 * a reset (a driver resetting its device, a VM reboot) reconnects to the
 * socket; the backend must offer the same features again.
 */
#ifndef CVMM_VIRTIO_VHOST_DEV_H
#define CVMM_VIRTIO_VHOST_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"
#include "virtio/virtio.h"

struct vhost_dev;

struct vhost_dev_params {
	const char *name;        /* vd->name (vm.info, transport logs); copied */
	const char *thread_name; /* the device thread's (15 bytes); copied */
	const char *socket;      /* the backend's UNIX socket */
	uint16_t device_id;      /* VIRTIO_ID_* */
	unsigned nqueues;        /* 1..VIRTIO_MAX_QUEUES */
	uint16_t queue_size;     /* a power of two */
	/* The device-specific feature bits (0-23) cvmm passes on, of those
	 * the backend offers. */
	uint64_t features;
	/* The device's own configuration space (copied), or NULL: the
	 * backend's (GET_CONFIG, protocol feature CONFIG required). */
	const void *config;
	uint32_t config_size;    /* at most VHOST_USER_MAX_CONFIG */
	/* Optional: adjusts the backend's configuration (cvmm's copy). */
	void (*config_fixup)(void *opaque, void *config);
	void *opaque;
	const struct guest_mem *mem;
	unsigned timeout_ms;     /* 0: VHOST_USER_TIMEOUT_MS */
};

/*
 * Connects and negotiates (above). 0 with *out, or -errno after one line
 * naming the device and the socket.
 */
int vhost_dev_create(struct vhost_dev **out, const struct vhost_dev_params *p);
/* Stops the device (if active) and closes the connection. NULL ok. */
void vhost_dev_destroy(struct vhost_dev *d);

struct virtio_dev *vhost_dev_vdev(struct vhost_dev *d);
const char *vhost_dev_socket(const struct vhost_dev *d);
/* What the backend offered (GET_FEATURES) and its queue count (0: no MQ). */
uint64_t vhost_dev_backend_features(const struct vhost_dev *d);
unsigned vhost_dev_backend_queues(const struct vhost_dev *d);

/* For vm.info / vm.counters. */
struct vhost_dev_stats {
	bool connected;         /* the connection is up */
	bool active;            /* the backend has the rings */
	unsigned direct_queues; /* their interrupts go straight to KVM */
	unsigned relayed_queues;
	uint64_t relayed_irqs;  /* interrupts cvmm relayed */
	uint64_t reconnects;
};
void vhost_dev_get_stats(struct vhost_dev *d, struct vhost_dev_stats *st);

#endif
