/* SPDX-License-Identifier: MIT */
/*
 * Whole messages over a non-blocking UNIX stream socket, with SCM_RIGHTS
 * file descriptors and a deadline: the socket I/O the vfio-user client
 * (vfio/user.c) and the vhost-user front-end (vhost/user.c) share.
 *
 * Library-like: nothing here logs. Each function returns 0 or a -errno
 * that says which failure it was, and the caller, which knows the device
 * and the request, writes the one line (docs/logging.md):
 *   -ETIMEDOUT     the deadline passed (the peer takes or sends nothing)
 *   -EPIPE         the peer closed the connection (send: EPIPE; receive:
 *                  end of file before the first byte asked for)
 *   -ECONNABORTED  receive: end of file after part of the bytes asked for
 *   -ECONNRESET    the peer reset the connection
 *   -EMSGSIZE      receive: more fds came than the caller takes (or the
 *                  kernel truncated them); the extras are closed
 *   -EINVAL        more fds than UNIX_MSG_MAX_FDS
 *   other -errno   of sendmsg, recvmsg or poll
 *
 * Deadlines are absolute, in milliseconds of unix_msg_now_ms().
 */
#ifndef CVMM_UNIX_MSG_H
#define CVMM_UNIX_MSG_H

#include <stddef.h>
#include <stdint.h>

/* The most fds one call sends, or takes from one recvmsg. */
#define UNIX_MSG_MAX_FDS 16u

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t unix_msg_now_ms(void);

/* Until fd is ready for `events` (POLLIN, POLLOUT) or the deadline: 0,
 * -ETIMEDOUT or -errno of poll. */
int unix_msg_wait(int fd, short events, uint64_t deadline_ms);

/* All len bytes of buf, the nfds fds with the first byte. */
int unix_msg_send(int fd, const void *buf, size_t len, const int *fds, unsigned nfds,
		  uint64_t deadline_ms);

/*
 * Exactly len bytes into buf. fds that come along are appended to fds
 * (*nfds in and out: what the array already holds, so that the header and
 * the payload of one message may share it) up to max_fds in all; they are
 * the caller's to close, on failure too. fds NULL: the caller takes none,
 * and whatever comes is closed without an error.
 */
int unix_msg_recv_exact(int fd, void *buf, size_t len, int *fds, unsigned *nfds,
			unsigned max_fds, uint64_t deadline_ms);

#endif
