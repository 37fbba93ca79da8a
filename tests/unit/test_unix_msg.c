/* SPDX-License-Identifier: MIT */
/*
 * src/unix_msg.c on a socketpair: a message with fds, read in two parts;
 * a message larger than the socket buffer (partial sends, polls); the
 * peer closing before and in the middle of a read, and on a send; a reset;
 * deadlines both ways; more fds than the caller takes (the extras closed)
 * and more than the control buffer holds (MSG_CTRUNC); fds a caller that
 * takes none gets closed.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "unix_msg.h"

#define FOREVER UINT64_MAX

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	unsigned n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_message_and_fds(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	uint8_t msg[100], got[100];
	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	int efd[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
	assert_int_equal(unix_msg_send(sv[0], msg, sizeof(msg), efd, 2, unix_msg_now_ms() + 1000), 0);
	int fds[4];
	unsigned nfds = 0;
	/* The header, then the payload, one fd array for both. */
	assert_int_equal(unix_msg_recv_exact(sv[1], got, 10, fds, &nfds, 4, FOREVER), 0);
	assert_int_equal(unix_msg_recv_exact(sv[1], got + 10, 90, fds, &nfds, 4, FOREVER), 0);
	assert_memory_equal(msg, got, sizeof(msg));
	assert_int_equal(nfds, 2);
	for (unsigned i = 0; i < 2; i++) { /* the same eventfds */
		uint64_t v = i + 1;
		assert_int_equal(write(efd[i], &v, 8), 8);
		assert_int_equal(read(fds[i], &v, 8), 8);
		assert_int_equal(v, i + 1);
		close(fds[i]);
		close(efd[i]);
	}
	assert_int_equal(unix_msg_send(sv[0], msg, 1, NULL, UNIX_MSG_MAX_FDS + 1, FOREVER), -EINVAL);
	close(sv[0]);
	close(sv[1]);
}

#define BIG (1u << 20)

struct reader {
	int fd;
	uint8_t *buf;
	int r;
};

static void *read_big(void *arg)
{
	struct reader *rd = arg;
	/* Slowly: a few small reads first, so the sender must wait. */
	for (unsigned i = 0; i < 4; i++) {
		usleep(5000);
		rd->r = unix_msg_recv_exact(rd->fd, rd->buf + i, 1, NULL, NULL, 0, FOREVER);
		if (rd->r)
			return NULL;
	}
	rd->r = unix_msg_recv_exact(rd->fd, rd->buf + 4, BIG - 4, NULL, NULL, 0,
				    unix_msg_now_ms() + 5000);
	return NULL;
}

static void test_partial_sends(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	int sz = 4096;
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
	uint8_t *msg = malloc(BIG);
	struct reader rd = { .fd = sv[1], .buf = malloc(BIG), .r = -1 };
	assert_non_null(msg);
	assert_non_null(rd.buf);
	for (unsigned i = 0; i < BIG; i++)
		msg[i] = (uint8_t)(i * 7 + (i >> 8));
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, read_big, &rd), 0);
	int efd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(unix_msg_send(sv[0], msg, BIG, &efd, 1, unix_msg_now_ms() + 5000), 0);
	pthread_join(t, NULL);
	assert_int_equal(rd.r, 0);
	assert_memory_equal(msg, rd.buf, BIG);
	free(msg);
	free(rd.buf);
	close(efd);
	close(sv[0]);
	close(sv[1]);
}

static void test_eof(void **state)
{
	(void)state;
	int sv[2];
	uint8_t b[8] = { 0 };
	unsigned nfds = 0;
	int fds[1];
	/* Closed before the first byte. */
	pair(sv);
	close(sv[0]);
	assert_int_equal(unix_msg_recv_exact(sv[1], b, 8, fds, &nfds, 1, FOREVER), -EPIPE);
	/* Sending to a closed peer: no SIGPIPE, -EPIPE. */
	assert_int_equal(unix_msg_send(sv[1], b, 8, NULL, 0, FOREVER), -EPIPE);
	close(sv[1]);
	/* Closed in the middle. */
	pair(sv);
	assert_int_equal(unix_msg_send(sv[0], b, 3, NULL, 0, FOREVER), 0);
	shutdown(sv[0], SHUT_WR);
	assert_int_equal(unix_msg_recv_exact(sv[1], b, 8, fds, &nfds, 1, FOREVER), -ECONNABORTED);
	close(sv[0]);
	close(sv[1]);
	/* Reset: the peer closes with our data unread. */
	pair(sv);
	assert_int_equal(unix_msg_send(sv[1], b, 8, NULL, 0, FOREVER), 0);
	close(sv[0]);
	assert_int_equal(unix_msg_recv_exact(sv[1], b, 8, fds, &nfds, 1, FOREVER), -ECONNRESET);
	close(sv[1]);
	assert_int_equal(nfds, 0);
}

static void test_timeout(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	uint8_t b[8];
	uint64_t t0 = unix_msg_now_ms();
	assert_int_equal(unix_msg_recv_exact(sv[1], b, 8, NULL, NULL, 0, t0 + 50), -ETIMEDOUT);
	uint64_t t1 = unix_msg_now_ms();
	assert_true(t1 - t0 >= 49 && t1 - t0 < 2000);
	/* Half a message, then nothing. */
	assert_int_equal(unix_msg_send(sv[0], b, 4, NULL, 0, FOREVER), 0);
	assert_int_equal(unix_msg_recv_exact(sv[1], b, 8, NULL, NULL, 0, unix_msg_now_ms() + 20),
			 -ETIMEDOUT);
	/* A peer that reads nothing: the send gives up at the deadline. */
	uint8_t *big = calloc(1, BIG);
	assert_non_null(big);
	t0 = unix_msg_now_ms();
	assert_int_equal(unix_msg_send(sv[0], big, BIG, NULL, 0, t0 + 50), -ETIMEDOUT);
	assert_true(unix_msg_now_ms() - t0 >= 49);
	/* A deadline already past: no wait at all. */
	assert_int_equal(unix_msg_wait(sv[1], POLLOUT, 0), -ETIMEDOUT);
	free(big);
	close(sv[0]);
	close(sv[1]);
}

static void test_too_many_fds(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	int efd[5];
	for (unsigned i = 0; i < 5; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC);
	uint8_t b[4] = { 1, 2, 3, 4 };
	unsigned before = open_fds();
	int fds[3];
	unsigned nfds = 0;
	assert_int_equal(unix_msg_send(sv[0], b, 4, efd, 5, FOREVER), 0);
	assert_int_equal(unix_msg_recv_exact(sv[1], b, 4, fds, &nfds, 3, FOREVER), -EMSGSIZE);
	assert_int_equal(nfds, 3); /* the caller's to close; the other two closed */
	assert_int_equal(open_fds(), before + 3);
	for (unsigned i = 0; i < 3; i++)
		close(fds[i]);
	/* A caller that takes none: closed, no error. */
	assert_int_equal(unix_msg_send(sv[0], b, 4, efd, 5, FOREVER), 0);
	assert_int_equal(unix_msg_recv_exact(sv[1], b, 4, NULL, NULL, 0, FOREVER), 0);
	assert_int_equal(open_fds(), before);
	/* EOF with fds too: the fds are the failure. */
	assert_int_equal(unix_msg_send(sv[0], b, 1, efd, 5, FOREVER), 0);
	close(sv[0]);
	nfds = 0;
	assert_int_equal(unix_msg_recv_exact(sv[1], b, 4, fds, &nfds, 0, FOREVER), -EMSGSIZE);
	assert_int_equal(nfds, 0);
	for (unsigned i = 0; i < 5; i++)
		close(efd[i]);
	close(sv[1]);
}

/* More fds than the control buffer holds: the kernel truncates them. */
static void test_ctrunc(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	enum { N = UNIX_MSG_MAX_FDS + 4 };
	int efd = eventfd(0, EFD_CLOEXEC);
	int many[N];
	for (unsigned i = 0; i < N; i++)
		many[i] = efd;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * N)];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	uint8_t b[4] = { 0 };
	struct iovec iov = { .iov_base = b, .iov_len = 4 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * N);
	memcpy(CMSG_DATA(c), many, sizeof(many));
	assert_int_equal(sendmsg(sv[0], &mh, 0), 4);
	unsigned before = open_fds();
	int fds[UNIX_MSG_MAX_FDS];
	unsigned nfds = 0;
	assert_int_equal(unix_msg_recv_exact(sv[1], b, 4, fds, &nfds, UNIX_MSG_MAX_FDS, FOREVER),
			 -EMSGSIZE);
	assert_int_equal(nfds, UNIX_MSG_MAX_FDS);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	assert_int_equal(open_fds(), before);
	close(efd);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_and_fds),
		cmocka_unit_test(test_partial_sends),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_too_many_fds),
		cmocka_unit_test(test_ctrunc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
