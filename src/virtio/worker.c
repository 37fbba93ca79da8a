/* SPDX-License-Identifier: MIT */
#include "virtio/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "seccomp_filter.h"

uint64_t eventfd_drain(int fd)
{
	uint64_t v = 0;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

int virtio_worker_add(struct virtio_worker *w, int fd, uint32_t events)
{
	if (w->running || w->nfds == WORKER_MAX_FDS || fd < 0)
		return -EINVAL;
	w->fds[w->nfds] = fd;
	w->events[w->nfds] = events;
	return (int)w->nfds++;
}

int virtio_worker_modify(struct virtio_worker *w, unsigned idx, uint32_t events)
{
	if (idx >= w->nfds)
		return -EINVAL;
	w->events[idx] = events;
	if (!w->running)
		return 0;
	struct epoll_event ev = { .events = events, .data.u32 = idx };
	if (epoll_ctl(w->epoll_fd, EPOLL_CTL_MOD, w->fds[idx], &ev) < 0)
		return -errno;
	return 0;
}

/* Makes the thread's epoll_wait return (stop_fd is non-blocking). */
static void worker_wake(struct virtio_worker *w)
{
	uint64_t one = 1;
	if (w->stop_fd >= 0 && write(w->stop_fd, &one, sizeof(one)) != sizeof(one) &&
	    errno != EAGAIN)
		log_ratelimited(&w->rl, LOG_ERROR, "%s: cannot wake the device thread: %s",
				w->name, strerror(errno));
}

/* Parks until the pause request is withdrawn or a stop comes. */
static void worker_park(struct virtio_worker *w)
{
	pthread_mutex_lock(&w->pause_lock);
	w->parked = true;
	pthread_cond_broadcast(&w->pause_cond);
	while (atomic_load(&w->pause_req) && !atomic_load(&w->stop_req))
		pthread_cond_wait(&w->pause_cond, &w->pause_lock);
	w->parked = false;
	pthread_mutex_unlock(&w->pause_lock);
}

/* The waiter's wait as epoll_wait's answer: indices, UINT32_MAX the stop
 * eventfd. */
static int waiter_wait(struct virtio_worker *w, struct epoll_event *evs)
{
	uint32_t ready = 0;
	int r = w->waiter->wait(w->waiter_opaque, &ready);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	int n = 0;
	for (unsigned i = 0; i <= w->nfds; i++)
		if (ready & (1u << i))
			evs[n++].data.u32 = i == w->nfds ? UINT32_MAX : i;
	return n;
}

static void worker_loop(struct virtio_worker *w)
{
	for (;;) {
		/* Between two batches, never inside a handler. */
		if (atomic_load(&w->pause_req)) {
			if (w->quiesce)
				w->quiesce(w->opaque, false);
			worker_park(w);
		}
		if (atomic_load(&w->stop_req))
			return;
		struct epoll_event evs[WORKER_MAX_FDS + 1];
		int n = w->waiter ? waiter_wait(w, evs)
				  : epoll_wait(w->epoll_fd, evs, WORKER_MAX_FDS + 1, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_ratelimited(&w->rl, LOG_ERROR, "%s: %s: %s", w->name,
					w->waiter ? "waiting" : "epoll_wait",
					strerror(errno));
			return;
		}
		bool woken = false;
		for (int i = 0; i < n; i++)
			woken |= evs[i].data.u32 == UINT32_MAX;
		if (woken) {
			eventfd_drain(w->stop_fd);
			if (atomic_load(&w->stop_req))
				return;
		}
		/* A pause request only parks after this batch: events taken
		 * from epoll (EPOLLONESHOT ones included) are not lost. */
		for (int i = 0; i < n; i++)
			if (evs[i].data.u32 != UINT32_MAX)
				w->handle(w->opaque, evs[i].data.u32);
	}
}

static void *worker_thread(void *arg)
{
	struct virtio_worker *w = arg;
	pthread_setname_np(pthread_self(), w->name);
	/* Filters stack: started by a filtered (vCPU) thread, narrow it. */
	if (seccomp_install(SECCOMP_DEVICE, seccomp_thread_filtered()))
		atomic_store(&w->stop_req, true); /* exits at once, marked exited */
	bool waiting = false;
	if (w->waiter && !atomic_load(&w->stop_req)) {
		int fds[WORKER_MAX_FDS + 1];
		memcpy(fds, w->fds, w->nfds * sizeof(fds[0]));
		fds[w->nfds] = w->stop_fd;
		int r = w->waiter->start(w->waiter_opaque, fds, w->nfds + 1);
		if (r < 0) {
			log_ratelimited(&w->rl, LOG_ERROR, "%s: cannot start waiting: %s",
					w->name, strerror(-r));
			atomic_store(&w->stop_req, true);
		}
		waiting = r == 0;
	}
	worker_loop(w);
	if (w->quiesce)
		w->quiesce(w->opaque, true);
	if (waiting)
		w->waiter->stop(w->waiter_opaque);
	pthread_mutex_lock(&w->pause_lock);
	w->exited = true;
	pthread_cond_broadcast(&w->pause_cond);
	pthread_mutex_unlock(&w->pause_lock);
	return NULL;
}

int virtio_worker_start(struct virtio_worker *w, const char *name,
			void (*handle)(void *opaque, unsigned idx), void *opaque)
{
	if (w->running)
		return -EBUSY;
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->handle = handle;
	w->opaque = opaque;
	w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int ret = 0;
	if (w->epoll_fd < 0 || w->stop_fd < 0) {
		ret = -errno;
		goto fail;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
	if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->stop_fd, &ev) < 0) {
		ret = -errno;
		goto fail;
	}
	for (unsigned i = 0; i < w->nfds; i++) {
		ev = (struct epoll_event){ .events = w->events[i], .data.u32 = i };
		if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->fds[i], &ev) < 0) {
			ret = -errno;
			goto fail;
		}
	}
	/* Device threads never take the VMM's signals. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* Running before the thread exists: its first handler call may
	 * already use virtio_worker_modify(), which must reach epoll. */
	pthread_mutex_lock(&w->pause_lock);
	w->running = true;
	w->parked = w->exited = false;
	atomic_store(&w->stop_req, false);
	pthread_mutex_unlock(&w->pause_lock);
	int err = pthread_create(&w->thread, NULL, worker_thread, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pthread_mutex_lock(&w->pause_lock);
		w->running = false;
		pthread_mutex_unlock(&w->pause_lock);
		ret = -err;
		goto fail;
	}
	return 0;
fail:
	/* Not logged: the device, which knows what it was starting, does. */
	if (w->epoll_fd >= 0)
		close(w->epoll_fd);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	w->epoll_fd = w->stop_fd = -1;
	return ret;
}

void virtio_worker_stop(struct virtio_worker *w)
{
	if (!w->running)
		return;
	/* Also ends a park (a device reset while the VM is paused). */
	pthread_mutex_lock(&w->pause_lock);
	atomic_store(&w->stop_req, true);
	pthread_cond_broadcast(&w->pause_cond);
	pthread_mutex_unlock(&w->pause_lock);
	worker_wake(w);
	pthread_join(w->thread, NULL);
	/* Under the lock: a pause never wakes a closed (or reused) fd. */
	pthread_mutex_lock(&w->pause_lock);
	close(w->epoll_fd);
	close(w->stop_fd);
	w->epoll_fd = w->stop_fd = -1;
	w->running = false;
	w->parked = false;
	atomic_store(&w->stop_req, false);
	pthread_mutex_unlock(&w->pause_lock);
}

int virtio_worker_init(struct virtio_worker *w)
{
	w->running = false;
	w->epoll_fd = w->stop_fd = -1;
	w->nfds = 0;
	w->quiesce = NULL;
	w->waiter = NULL;
	w->waiter_opaque = NULL;
	atomic_init(&w->pause_req, false);
	atomic_init(&w->stop_req, false);
	w->parked = w->exited = false;
	memset(&w->rl, 0, sizeof(w->rl));
	pthread_condattr_t ca;
	int err = pthread_condattr_init(&ca);
	err = err ?: pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	err = err ?: pthread_cond_init(&w->pause_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (err)
		return -err;
	err = pthread_mutex_init(&w->pause_lock, NULL);
	if (err) {
		pthread_cond_destroy(&w->pause_cond);
		return -err;
	}
	return 0;
}

void virtio_worker_destroy(struct virtio_worker *w)
{
	virtio_worker_stop(w);
	pthread_cond_destroy(&w->pause_cond);
	pthread_mutex_destroy(&w->pause_lock);
}

int virtio_worker_pause(struct virtio_worker *w, unsigned timeout_ms)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	int ret = 0;
	pthread_mutex_lock(&w->pause_lock);
	atomic_store(&w->pause_req, true);
	if (w->running) {
		worker_wake(w);
		while (!w->parked && !w->exited) {
			if (pthread_cond_timedwait(&w->pause_cond, &w->pause_lock,
						   &deadline) == ETIMEDOUT) {
				ret = w->parked || w->exited ? 0 : -ETIMEDOUT;
				break;
			}
		}
	}
	pthread_mutex_unlock(&w->pause_lock);
	if (ret)
		log_error("%s: device thread did not park within %u ms", w->name,
			  timeout_ms);
	return ret;
}

void virtio_worker_resume(struct virtio_worker *w)
{
	pthread_mutex_lock(&w->pause_lock);
	atomic_store(&w->pause_req, false);
	pthread_cond_broadcast(&w->pause_cond);
	pthread_mutex_unlock(&w->pause_lock);
}

bool virtio_worker_parked(struct virtio_worker *w)
{
	pthread_mutex_lock(&w->pause_lock);
	bool p = w->parked;
	pthread_mutex_unlock(&w->pause_lock);
	return p;
}

void virtio_worker_clear(struct virtio_worker *w)
{
	w->nfds = 0;
}
