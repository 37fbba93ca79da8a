/* SPDX-License-Identifier: MIT */
/* vhost-user-blk; see vhost_blk.h. */
#include "virtio/vhost_blk.h"

#include <endian.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The configuration fields cvmm asks the backend for: up to the
 * write-zeroes ones (what every backend has; later fields, secure erase and
 * zoned, go with features cvmm does not pass on). */
#define CONFIG_SIZE offsetof(struct virtio_blk_config, max_secure_erase_sectors)

#define FEATURES ((1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |     \
		  (1ULL << VIRTIO_BLK_F_GEOMETRY) | (1ULL << VIRTIO_BLK_F_RO) |           \
		  (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_FLUSH) |        \
		  (1ULL << VIRTIO_BLK_F_TOPOLOGY) | (1ULL << VIRTIO_BLK_F_CONFIG_WCE) |   \
		  (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES))

/* num_queues as cvmm gives them, whatever the backend could serve. */
static void fixup(void *opaque, void *config)
{
	struct virtio_blk_config *c = config;
	c->num_queues = htole16((uint16_t)(uintptr_t)opaque);
}

int vhost_blk_create(struct vhost_dev **out, const struct disk_config *cfg, unsigned index,
		     const struct guest_mem *mem)
{
	unsigned nq = cfg->num_queues ? cfg->num_queues : 1;
	char name[48], thread[16];
	if (cfg->id)
		snprintf(name, sizeof(name), "vhost-user-blk(%s)", cfg->id);
	else
		snprintf(name, sizeof(name), "vhost-user-blk(disk%u)", index);
	snprintf(thread, sizeof(thread), "vublk-%u", index);
	return vhost_dev_create(out, &(struct vhost_dev_params){
		.name = name,
		.thread_name = thread,
		.socket = cfg->socket,
		.device_id = VIRTIO_ID_BLOCK,
		.nqueues = nq,
		.queue_size = cfg->queue_size ? cfg->queue_size : CVMM_VHOST_QUEUE_SIZE,
		.features = FEATURES | (nq > 1 ? 1ULL << VIRTIO_BLK_F_MQ : 0),
		.config = NULL,
		.config_size = CONFIG_SIZE,
		.config_fixup = fixup,
		.opaque = (void *)(uintptr_t)nq,
		.mem = mem,
	});
}
