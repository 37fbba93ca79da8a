/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-blk: a virtio-blk device (virtio 1.x, 5.2) whose requests a
 * vhost-user backend serves (qemu-storage-daemon's vhost-user-blk export,
 * SPDK, ...). The configuration space is the backend's (GET_CONFIG, up to
 * and including the write-zeroes fields), with num_queues set to the
 * queues cvmm gives the device; the feature bits are the backend's of
 * SIZE_MAX, SEG_MAX, GEOMETRY, RO, BLK_SIZE, FLUSH, TOPOLOGY, CONFIG_WCE
 * (the driver's write of `wce` goes to the backend as SET_CONFIG), MQ
 * (only with more than one queue), DISCARD, WRITE_ZEROES. Everything else
 * is vhost_dev.h's.
 */
#ifndef CVMM_VIRTIO_VHOST_BLK_H
#define CVMM_VIRTIO_VHOST_BLK_H

#include "config.h"
#include "guest_mem.h"
#include "virtio/vhost_dev.h"

/* Disk `index` of the command line (its name when cfg->id is NULL):
 * connects to cfg->socket (vhost_dev_create). 0, or -errno (logged). */
int vhost_blk_create(struct vhost_dev **out, const struct disk_config *cfg, unsigned index,
		     const struct guest_mem *mem);

#endif
