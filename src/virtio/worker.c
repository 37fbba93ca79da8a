/* SPDX-License-Identifier: MIT */
#include "virtio/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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

static void *worker_thread(void *arg)
{
	struct virtio_worker *w = arg;
	pthread_setname_np(pthread_self(), w->name);
	/* Filters stack: started by a filtered (vCPU) thread, narrow it. */
	if (seccomp_install(SECCOMP_DEVICE, seccomp_thread_filtered()))
		return NULL;
	for (;;) {
		struct epoll_event evs[WORKER_MAX_FDS + 1];
		int n = epoll_wait(w->epoll_fd, evs, WORKER_MAX_FDS + 1, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("%s: epoll_wait: %s", w->name, strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == UINT32_MAX)
				return NULL; /* stop */
		}
		for (int i = 0; i < n; i++)
			w->handle(w->opaque, evs[i].data.u32);
	}
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
	w->running = true;
	int err = pthread_create(&w->thread, NULL, worker_thread, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		w->running = false;
		ret = -err;
		goto fail;
	}
	return 0;
fail:
	log_error("%s: cannot start the device thread: %s", name, strerror(-ret));
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
	uint64_t one = 1;
	if (write(w->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_error("%s: cannot signal stop: %s", w->name, strerror(errno));
	pthread_join(w->thread, NULL);
	close(w->epoll_fd);
	close(w->stop_fd);
	w->epoll_fd = w->stop_fd = -1;
	w->running = false;
}

void virtio_worker_clear(struct virtio_worker *w)
{
	w->nfds = 0;
}
