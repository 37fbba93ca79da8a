/* SPDX-License-Identifier: MIT */
/* Non-blocking guest output: see out_sink.h. */
#include "out_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

enum sink_mode {
	SINK_PLAIN,   /* regular file / block device, or already O_NONBLOCK */
	SINK_REOPENED, /* our own O_NONBLOCK description (own_fd) */
	SINK_GUARDED, /* poll(POLLOUT, 0), then at most PIPE_BUF */
};

struct out_sink {
	pthread_mutex_t lock;
	int fd;
	bool own_fd;
	enum sink_mode mode;
	bool may_wait; /* writes can meet EAGAIN: worth polling */
	const char *name;
	uint8_t *buf; /* ring of OUT_SINK_BUF_SIZE */
	size_t head, count;
	_Atomic uint64_t dropped;
	struct ratelimit rl;
};

/*
 * Writes what the fd takes now: the number of bytes, or -errno (-EAGAIN
 * when it took nothing because it is full).
 */
static ssize_t try_write(struct out_sink *s, const uint8_t *p, size_t len)
{
	size_t done = 0;
	while (done < len) {
		size_t n = len - done;
		if (s->mode == SINK_GUARDED) {
			struct pollfd pf = { .fd = s->fd, .events = POLLOUT };
			int r = poll(&pf, 1, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0)
				break;
			/* POLLERR/POLLHUP: the write reports the error. */
			if (n > PIPE_BUF)
				n = PIPE_BUF;
		}
		ssize_t w = write(s->fd, p + done, n);
		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		int err = w < 0 ? errno : EIO;
		if (err == EINTR)
			continue;
		if (err == EAGAIN || err == EWOULDBLOCK)
			break;
		return done ? (ssize_t)done : -err;
	}
	if (done == 0 && len)
		return -EAGAIN;
	return (ssize_t)done;
}

static void drop(struct out_sink *s, size_t n, int err)
{
	if (!n)
		return;
	uint64_t total = atomic_fetch_add(&s->dropped, n) + n;
	if (err == EAGAIN)
		log_ratelimited(&s->rl, LOG_WARN,
				"%s: output stalled (nobody reads it), %llu byte(s) "
				"dropped so far", s->name, (unsigned long long)total);
	else
		log_ratelimited(&s->rl, LOG_WARN,
				"%s: output error (%s), %llu byte(s) dropped so far",
				s->name, strerror(err), (unsigned long long)total);
}

/* Writes out the buffer (as far as it goes): 0, -EAGAIN or -errno. */
static int flush_locked(struct out_sink *s)
{
	while (s->count) {
		size_t chunk = OUT_SINK_BUF_SIZE - s->head;
		if (chunk > s->count)
			chunk = s->count;
		ssize_t w = try_write(s, s->buf + s->head, chunk);
		if (w < 0) {
			if (w != -EAGAIN) {
				/* The fd is broken: what waits is lost. */
				size_t n = s->count;
				s->head = s->count = 0;
				drop(s, n, (int)-w);
			}
			return (int)w;
		}
		s->head = (s->head + (size_t)w) % OUT_SINK_BUF_SIZE;
		s->count -= (size_t)w;
		if ((size_t)w < chunk)
			return -EAGAIN;
	}
	s->head = 0;
	return 0;
}

size_t out_sink_write(struct out_sink *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t taken = 0;
	pthread_mutex_lock(&s->lock);
	int err = flush_locked(s);
	if (err == 0 && len) {
		ssize_t w = try_write(s, p, len);
		if (w >= 0) {
			taken = (size_t)w;
		} else if (w != -EAGAIN) {
			drop(s, len, (int)-w);
			pthread_mutex_unlock(&s->lock);
			return 0;
		}
	}
	/* The rest waits in the buffer, as far as it fits. */
	size_t space = OUT_SINK_BUF_SIZE - s->count;
	size_t n = len - taken;
	if (n > space)
		n = space;
	for (size_t i = 0; i < n; i++)
		s->buf[(s->head + s->count + i) % OUT_SINK_BUF_SIZE] = p[taken + i];
	s->count += n;
	taken += n;
	drop(s, len - taken, EAGAIN);
	pthread_mutex_unlock(&s->lock);
	return taken;
}

void out_sink_drain(struct out_sink *s)
{
	pthread_mutex_lock(&s->lock);
	flush_locked(s);
	pthread_mutex_unlock(&s->lock);
}

int out_sink_poll_fd(const struct out_sink *s)
{
	return s->may_wait ? s->fd : -1;
}

uint64_t out_sink_dropped(const struct out_sink *s)
{
	return atomic_load(&s->dropped);
}

/* A private O_NONBLOCK open file description of what fd refers to. */
static int reopen_nonblock(int fd)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int n = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	return n < 0 ? -errno : n;
}

int out_sink_create(struct out_sink **out, int fd, const char *name)
{
	*out = NULL;
	if (fd < 0)
		return -EINVAL;
	struct stat st;
	int fl = fcntl(fd, F_GETFL);
	if (fstat(fd, &st) < 0 || fl < 0)
		return -errno;
	struct out_sink *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->buf = malloc(OUT_SINK_BUF_SIZE);
	if (!s->buf) {
		free(s);
		return -ENOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->name = name;
	s->fd = fd;
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
		s->mode = SINK_PLAIN;
	} else if (fl & O_NONBLOCK) {
		s->mode = SINK_PLAIN;
		s->may_wait = true;
	} else {
		int n = reopen_nonblock(fd);
		if (n >= 0) {
			s->fd = n;
			s->own_fd = true;
			s->mode = SINK_REOPENED;
		} else {
			log_debug("%s: cannot open the output again (%s): polling "
				  "before each write", name, strerror(-n));
			s->mode = SINK_GUARDED;
		}
		s->may_wait = true;
	}
	*out = s;
	return 0;
}

void out_sink_destroy(struct out_sink *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	if (flush_locked(s) == -EAGAIN) {
		size_t n = s->count;
		s->count = 0;
		atomic_fetch_add(&s->dropped, n);
	}
	pthread_mutex_unlock(&s->lock);
	uint64_t dropped = atomic_load(&s->dropped);
	if (dropped)
		log_warn("%s: %llu byte(s) of guest output dropped in all (the "
			 "reader was not reading, or the output failed)", s->name,
			 (unsigned long long)dropped);
	if (s->own_fd)
		close(s->fd);
	pthread_mutex_destroy(&s->lock);
	free(s->buf);
	free(s);
}
