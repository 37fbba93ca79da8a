/* SPDX-License-Identifier: MIT */
/*
 * virtio-fs (virtio 1.x, 5.11 "File System Device") served by a vhost-user
 * backend (virtiofsd): queue 0 is the high-priority queue, 1..N the
 * request queues; the configuration space is cvmm's own, the tag the guest
 * mounts (`mount -t virtiofs TAG`, or `rootfstype=virtiofs root=TAG`) and
 * the number of request queues. No feature bits of its own (the
 * notification queue, VIRTIO_FS_F_NOTIFICATION, is not offered), no DAX
 * window. Everything else is vhost_dev.h's.
 */
#ifndef CVMM_VIRTIO_FS_H
#define CVMM_VIRTIO_FS_H

#include "config.h"
#include "guest_mem.h"
#include "virtio/vhost_dev.h"

/* Connects to cfg->socket (vhost_dev_create): 0, or -errno (logged). */
int virtio_fs_create(struct vhost_dev **out, const struct fs_config *cfg,
		     const struct guest_mem *mem);

#endif
