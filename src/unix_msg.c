/* SPDX-License-Identifier: MIT */
/* Whole messages with fds over a UNIX socket; see unix_msg.h. */
#include "unix_msg.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Control data for UNIX_MSG_MAX_FDS fds. */
union unix_msg_ctl {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(int) * UNIX_MSG_MAX_FDS)];
};

uint64_t unix_msg_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int unix_msg_wait(int fd, short events, uint64_t deadline_ms)
{
	for (;;) {
		uint64_t now = unix_msg_now_ms();
		if (now >= deadline_ms)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = events };
		uint64_t left = deadline_ms - now;
		int r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int unix_msg_send(int fd, const void *buf, size_t len, const int *fds, unsigned nfds,
		  uint64_t deadline_ms)
{
	const uint8_t *p = buf;
	union unix_msg_ctl ctl;
	if (nfds > UNIX_MSG_MAX_FDS)
		return -EINVAL;
	while (len) {
		struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (nfds) {
			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			nfds = 0; /* they went with the first byte */
			continue;
		}
		if (n == 0)
			return -EIO; /* a stream socket does not do that */
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int r = unix_msg_wait(fd, POLLOUT, deadline_ms);
			if (r)
				return r;
			continue;
		}
		return -errno; /* EPIPE, ECONNRESET among them */
	}
	return 0;
}

/* The fds of one received message: kept while there is room, else closed.
 * false: some were closed (or truncated) that the caller would have taken. */
static bool take_fds(struct msghdr *mh, int *fds, unsigned *nfds, unsigned max_fds)
{
	bool ok = !fds || !(mh->msg_flags & MSG_CTRUNC);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (fds && *nfds < max_fds) {
				fds[(*nfds)++] = fd;
			} else {
				close(fd);
				ok = ok && !fds;
			}
		}
	}
	return ok;
}

int unix_msg_recv_exact(int fd, void *buf, size_t len, int *fds, unsigned *nfds,
			unsigned max_fds, uint64_t deadline_ms)
{
	uint8_t *p = buf;
	union unix_msg_ctl ctl;
	while (len) {
		struct iovec iov = { .iov_base = p, .iov_len = len };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
		};
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = unix_msg_wait(fd, POLLIN, deadline_ms);
			if (r)
				return r;
			continue;
		}
		if (n < 0)
			return -errno; /* ECONNRESET among them */
		/* Whatever fds came are ours to close, whether kept or not. */
		if (!take_fds(&mh, fds, nfds, max_fds))
			return -EMSGSIZE;
		if (n == 0)
			return p == (uint8_t *)buf ? -EPIPE : -ECONNABORTED;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
