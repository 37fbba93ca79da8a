/* SPDX-License-Identifier: MIT */
/*
 * A device's service thread: epoll over a set of file descriptors (queue
 * kick eventfds, a tap, ...) plus a stop eventfd. handle(opaque, i) runs on
 * the thread whenever fds[i] is readable. Started at activate, stopped at
 * reset or teardown.
 */
#ifndef CVMM_VIRTIO_WORKER_H
#define CVMM_VIRTIO_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define WORKER_MAX_FDS 16

struct virtio_worker {
	pthread_t thread;
	bool running;
	int epoll_fd;
	int stop_fd;
	unsigned nfds;
	int fds[WORKER_MAX_FDS];
	uint32_t events[WORKER_MAX_FDS];
	void (*handle)(void *opaque, unsigned idx);
	void *opaque;
	char name[16];
};

/* Adds fd (before start) polled for `events` (EPOLLIN, EPOLLOUT...): its index. */
int virtio_worker_add(struct virtio_worker *w, int fd, uint32_t events);
/* Changes the events of fd index idx (any thread). */
int virtio_worker_modify(struct virtio_worker *w, unsigned idx, uint32_t events);
int virtio_worker_start(struct virtio_worker *w, const char *name,
			void (*handle)(void *opaque, unsigned idx), void *opaque);
/* Stops and joins the thread; the fds stay open (they are the caller's). */
void virtio_worker_stop(struct virtio_worker *w);
/* Clears the worker's fd set so it can be reused after stop. */
void virtio_worker_clear(struct virtio_worker *w);

/* Reads an eventfd's counter (0 when nothing pending). */
uint64_t eventfd_drain(int fd);

#endif
