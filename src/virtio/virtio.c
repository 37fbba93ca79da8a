/* SPDX-License-Identifier: MIT */
/* Helpers shared by every virtio device; see virtio.h. */
#include "virtio/virtio.h"

#include <unistd.h>

void virtio_queue_notify(struct virtio_dev *vd, unsigned q)
{
	if (q >= vd->nqueues || q >= VIRTIO_MAX_QUEUES)
		return;
	if (vq_needs_notify(&vd->vqs[q]) && vd->notify_queue)
		vd->notify_queue(vd, q);
}

bool virtio_budget_spend(struct virtio_dev *vd, unsigned q,
			 struct virtio_budget *b)
{
	if (b->left > 1) {
		b->left--;
		return false;
	}
	b->left = b->size;
	uint64_t one = 1;
	return q < VIRTIO_MAX_QUEUES &&
	       write(vd->kick_fd[q], &one, sizeof(one)) == sizeof(one);
}

void virtio_dev_error(struct virtio_dev *vd)
{
	atomic_fetch_add(&vd->errors, 1);
	if (vd->set_needs_reset)
		vd->set_needs_reset(vd);
}
