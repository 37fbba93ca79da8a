/* SPDX-License-Identifier: MIT */
/* virtio-fs on a vhost-user backend; see fs.h. */
#include "virtio/fs.h"

#include <endian.h>
#include <linux/virtio_fs.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <string.h>

int virtio_fs_create(struct vhost_dev **out, const struct fs_config *cfg,
		     const struct guest_mem *mem)
{
	unsigned nreq = cfg->num_queues ? cfg->num_queues : 1;
	struct virtio_fs_config c = { .num_request_queues = htole32(nreq) };
	/* Not NUL-terminated when it fills the field (the spec's rule). */
	size_t n = strlen(cfg->tag);
	memcpy(c.tag, cfg->tag, n < sizeof(c.tag) ? n : sizeof(c.tag));
	char name[48], thread[16];
	snprintf(name, sizeof(name), "virtio-fs(%s)", cfg->tag);
	snprintf(thread, sizeof(thread), "fs-%.12s", cfg->tag);
	return vhost_dev_create(out, &(struct vhost_dev_params){
		.name = name,
		.thread_name = thread,
		.socket = cfg->socket,
		.device_id = VIRTIO_ID_FS,
		.nqueues = 1 + nreq,
		.queue_size = cfg->queue_size ? cfg->queue_size : CVMM_VHOST_QUEUE_SIZE,
		.features = 0,
		.config = &c,
		.config_size = sizeof(c),
		.mem = mem,
	});
}
