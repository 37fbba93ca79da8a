/* SPDX-License-Identifier: MIT */
/*
 * A device's service thread: epoll over a set of file descriptors (queue
 * kick eventfds, a tap, ...) plus a stop eventfd. handle(opaque, i) runs on
 * the thread whenever fds[i] is readable. Started at activate, stopped at
 * reset or teardown.
 *
 * Pause (vm_pause, vm_reboot): virtio_worker_pause() asks the thread to
 * finish what it is handling and park before its next epoll_wait (a
 * condition variable wait: no guest memory access, no interrupt while
 * parked); virtio_worker_resume() lets it go on, and the events that came
 * in meanwhile are handled then. The request outlives the thread: a worker
 * started or stopped while paused parks at once or leaves its park, so
 * pause works whether or not the guest ever activated the device.
 * The stop eventfd doubles as the wake-up for both requests.
 *
 * Work still in flight (virtio-blk's io_uring requests): quiesce(opaque,
 * stop), when set before start, runs on the thread before it parks
 * (stop false: what is in flight completes as usual) and before it exits
 * (stop true: it waits for it and discards the completions, a reset
 * queue gets nothing); so a paused or stopped device touches nothing.
 *
 * A device may wait elsewhere than in epoll (virtio-blk waits in its
 * io_uring, where its completions come too): the waiter (struct
 * virtio_worker_waiter, set before start) is started on the thread with
 * the fds to poll (the worker's, then its stop eventfd), waited in
 * instead of epoll_wait (it may do the device's own work there and
 * return with no fd ready), and stopped after quiesce(stop).
 */
#ifndef CVMM_VIRTIO_WORKER_H
#define CVMM_VIRTIO_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"

#define WORKER_MAX_FDS 16

struct virtio_worker_waiter {
	/* On the thread, its filter on, before the loop: fds[0..n) are the
	 * worker's fds, then its stop eventfd (fds[n - 1]). 0, or -errno:
	 * the thread ends at once (logged here). */
	int (*start)(void *opaque, const int *fds, unsigned n);
	/* Blocks until an fd is readable or the device did work of its own:
	 * bit i of *ready for fds[i] readable. Each write to an fd is an
	 * event, whether or not the fd was read since (virtio_common leaves
	 * the kick eventfds unread: their counters only grow, harmlessly).
	 * 0, or -errno (the thread ends, as on an epoll failure; logged
	 * here). */
	int (*wait)(void *opaque, uint32_t *ready);
	/* On the thread, after quiesce(stop). */
	void (*stop)(void *opaque);
};

struct virtio_worker {
	pthread_t thread;
	bool running;
	int epoll_fd;
	int stop_fd; /* wakes the thread: stop or pause requested */
	unsigned nfds;
	int fds[WORKER_MAX_FDS];
	uint32_t events[WORKER_MAX_FDS];
	void (*handle)(void *opaque, unsigned idx);
	void (*quiesce)(void *opaque, bool stop); /* optional, see above */
	const struct virtio_worker_waiter *waiter; /* optional, see above */
	void *waiter_opaque;
	void *opaque;
	char name[16];
	struct ratelimit rl; /* wake-up and epoll failures (guest-driven) */

	/* Pause and stop requests (virtio_worker_init sets them up). */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond; /* parked/exited changes, requests */
	atomic_bool pause_req;     /* written under pause_lock */
	atomic_bool stop_req;      /* written under pause_lock */
	bool parked;               /* the thread waits in its park */
	bool exited;               /* the thread left its loop */
};

/* True from a successful virtio_worker_start() until virtio_worker_stop():
 * whether the device is being served. For the thread that starts and stops
 * the worker (the device's activate/reset), not for the worker itself. */
static inline bool virtio_worker_running(const struct virtio_worker *w)
{
	return w->running;
}

/* Before any other call: no thread, no fds, not paused. 0 or -errno. */
int virtio_worker_init(struct virtio_worker *w);
void virtio_worker_destroy(struct virtio_worker *w);

/* Adds fd (before start) polled for `events` (EPOLLIN, EPOLLOUT...): its index. */
int virtio_worker_add(struct virtio_worker *w, int fd, uint32_t events);
/* Changes the events of fd index idx (any thread). */
int virtio_worker_modify(struct virtio_worker *w, unsigned idx, uint32_t events);
/* 0 or -errno, not logged: the caller knows which device it starts. */
int virtio_worker_start(struct virtio_worker *w, const char *name,
			void (*handle)(void *opaque, unsigned idx), void *opaque);
/* Stops and joins the thread; the fds stay open (they are the caller's). */
void virtio_worker_stop(struct virtio_worker *w);
/*
 * Parks the thread (see above) and waits at most timeout_ms for it to be
 * parked: 0 (also when no thread runs), or -ETIMEDOUT (the request stays;
 * virtio_worker_resume() withdraws it). Control loop; never call it from
 * the worker's own thread.
 */
int virtio_worker_pause(struct virtio_worker *w, unsigned timeout_ms);
/* Withdraws the pause request; a parked thread goes on. */
void virtio_worker_resume(struct virtio_worker *w);
/* Whether the worker's thread is parked right now (tests). */
bool virtio_worker_parked(struct virtio_worker *w);

/* Clears the worker's fd set so it can be reused after stop. */
void virtio_worker_clear(struct virtio_worker *w);

/* Reads an eventfd's counter (0 when nothing pending). */
uint64_t eventfd_drain(int fd);

#endif
