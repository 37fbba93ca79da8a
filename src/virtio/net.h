/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio 1.x, 5.1 "Network Device") over a TAP interface.
 *
 * Offered features: VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS, VIRTIO_NET_F_MTU
 * (the tap's MTU when created). No offloads, no MRG_RXBUF, no control
 * queue: queues are receiveq (0) and transmitq (1), 256 entries each, and
 * every frame, both ways, is one descriptor chain starting with the 12-byte
 * struct virtio_net_hdr_v1 (num_buffers is set to 1 on receive).
 *
 * TX: the readable part of each chain (header + frame) goes to the tap in
 * one writev(), behind a header the device rebuilds (all zero), so nothing
 * the driver did not negotiate reaches the host. Frames shorter than an
 * Ethernet header, longer than 64 KiB, or asking for checksum/GSO offloads
 * are dropped and counted. When the tap answers EAGAIN the chain is given
 * back (vq_unpop) and TX waits for the tap to become writable (EPOLLOUT):
 * no frame is lost. Other tap errors drop the frame (counted).
 *
 * RX: while the guest has receive buffers posted, the device polls the tap
 * and reads each frame straight into the writable part of one chain
 * (readv). When it runs out of buffers it stops polling the tap and asks
 * for a kick (vq_enable_notify); frames then wait in the tap's queue (the
 * kernel drops at its txqueuelen, not cvmm) until the guest posts buffers.
 * A frame larger than the chain is dropped and counted (the chain is reused
 * for the next frame). While the guest keeps buffers posted, no frame is
 * lost or duplicated.
 *
 * RX frames get a header of our own: all zero (no offload negotiated, so no
 * DATA_VALID) but num_buffers = 1; the tap's header is read aside and a
 * frame for which it asks for checksum/GSO offload (never sent with
 * offloads off) is dropped and counted.
 *
 * While the host has the tap interface down, TX frames are dropped (like a
 * NIC without link) and counted. If the tap goes away under us (the
 * interface is deleted), the link goes down for good (status, config change
 * interrupt), TX frames are dropped, RX stops.
 *
 * Counters: vdev.requests/bytes count frames/bytes (both ways, headers not
 * included), vdev.errors drops and unusable chains; virtio_net_get_stats()
 * has them per direction.
 *
 * Threading: one device thread (common.h) serves both queues and the tap.
 * config_read may run on any vCPU thread.
 */
#ifndef CVMM_VIRTIO_NET_H
#define CVMM_VIRTIO_NET_H

#include <stdint.h>

#include "config.h"
#include "guest_mem.h"
#include "virtio/virtio.h"

#define VIRTIO_NET_QUEUE_SIZE 256
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1

struct virtio_net;

struct virtio_net_stats {
	uint64_t rx_frames, rx_bytes, rx_dropped;
	uint64_t tx_frames, tx_bytes, tx_dropped;
};

/*
 * Opens the tap of cfg (a kernel-chosen "cvmm-tap%d" when cfg->tap is NULL),
 * configures its host side when cfg->has_ip, picks the MAC (cfg->mac, or
 * random 52:54:00:xx:xx:xx). Returns 0 or -errno (logged).
 */
int virtio_net_create(struct virtio_net **out, const struct net_config *cfg,
		      const struct guest_mem *mem);
struct virtio_dev *virtio_net_vdev(struct virtio_net *n);
/* The tap interface's name. */
const char *virtio_net_tap_name(const struct virtio_net *n);
void virtio_net_get_stats(const struct virtio_net *n, struct virtio_net_stats *s);
/* Stops the device thread, closes the tap, frees. NULL is fine. */
void virtio_net_destroy(struct virtio_net *n);

#endif
