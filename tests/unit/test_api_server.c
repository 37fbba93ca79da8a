/* SPDX-License-Identifier: MIT */
/*
 * The API server on a real UNIX socket, driven the way the control loop
 * drives it (poll its fd, api_server_process): socket mode and file
 * handling (stale replaced, live or non-socket refused, removed by
 * destroy), requests and keep-alive, refusals followed by a close, a
 * stalled client next to a served one, a client that never reads, idle
 * timeout, and more clients than the server keeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/server.h"

struct fixture {
	char dir[64];
	char path[96];
	struct api_server *s;
	int calls;
	unsigned nfds;       /* fds the last request came with */
	int fds[API_MAX_FDS]; /* their numbers here */
	bool fds_open;       /* each was open while the handler ran */
};

static void handler(void *opaque, const struct http_request *req,
		    struct api_response *resp)
{
	struct fixture *f = opaque;
	f->calls++;
	f->nfds = req->nfds;
	f->fds_open = true;
	for (unsigned i = 0; i < req->nfds; i++) {
		f->fds[i] = req->fds[i];
		f->fds_open &= fcntl(req->fds[i], F_GETFD) >= 0;
	}
	char *b = malloc(300);
	int n = snprintf(b, 300, "{\"path\":\"%s\",\"len\":%zu}", req->path, req->body_len);
	resp->status = strcmp(req->path, "/missing") == 0 ? 404 : 200;
	resp->body = b;
	resp->body_len = (size_t)n;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the server for up to ms (as the control loop would). */
static void pump(struct api_server *s, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	for (;;) {
		uint64_t now = now_ms();
		if (now >= end)
			return;
		struct pollfd p = { .fd = api_server_fd(s), .events = POLLIN };
		if (poll(&p, 1, (int)(end - now)) > 0)
			api_server_process(s);
	}
}

static int client(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static void send_all(int fd, const char *t)
{
	assert_int_equal(send(fd, t, strlen(t), MSG_NOSIGNAL), (ssize_t)strlen(t));
}

/*
 * Reads what the server sends while pumping it, until `want` responses
 * (counted by status lines) arrived, EOF, or ms passed. Returns bytes read;
 * *eof tells whether the server closed.
 */
static size_t collect(struct api_server *s, int fd, char *buf, size_t cap, int want,
		      int ms, bool *eof)
{
	size_t len = 0;
	*eof = false;
	uint64_t end = now_ms() + (uint64_t)ms;
	while (now_ms() < end) {
		pump(s, 5);
		for (;;) {
			ssize_t n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
			if (n > 0) {
				len += (size_t)n;
				buf[len] = '\0';
				continue;
			}
			if (n == 0)
				*eof = true;
			break;
		}
		int got = 0;
		for (const char *p = buf; len && (p = strstr(p, "HTTP/1.1 ")); p++)
			got++;
		if (*eof || (want && got >= want))
			break;
	}
	buf[len] = '\0';
	return len;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cvmm-apiu.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/api.sock", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	api_server_destroy(f->s);
	unlink(f->path);
	char other[128];
	snprintf(other, sizeof(other), "%s/file", f->dir);
	unlink(other);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void start(struct fixture *f)
{
	assert_int_equal(api_server_create(&f->s, f->path, handler, f), 0);
}

static void test_socket_file(void **state)
{
	struct fixture *f = *state;
	start(f);
	struct stat st;
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	/* A second server on the live socket is refused; the file stays. */
	struct api_server *s2;
	assert_int_equal(api_server_create(&s2, f->path, handler, f), -EADDRINUSE);
	assert_int_equal(lstat(f->path, &st), 0);

	api_server_destroy(f->s);
	f->s = NULL;
	assert_int_equal(lstat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);

	/* A stale socket (bound, nobody listening) is replaced. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, f->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	start(f);
	int c = client(f->path);
	assert_true(c >= 0);
	close(c);

	/* Anything else at the path is left alone. */
	char other[128];
	snprintf(other, sizeof(other), "%s/file", f->dir);
	int r = open(other, O_CREAT | O_WRONLY, 0644);
	close(r);
	assert_int_equal(api_server_create(&s2, other, handler, f), -EEXIST);
	assert_int_equal(lstat(other, &st), 0);
	assert_true(S_ISREG(st.st_mode));
}

/* Sends t with n fds (copies of fd) in one SCM_RIGHTS message. */
static void send_fds(int c, const char *t, int fd, unsigned n)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = { (void *)t, strlen(t) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			    .msg_controllen = CMSG_SPACE(sizeof(int) * n) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
	for (unsigned i = 0; i < n; i++)
		memcpy(CMSG_DATA(cm) + i * sizeof(int), &fd, sizeof(int));
	assert_int_equal(sendmsg(c, &m, MSG_NOSIGNAL), (ssize_t)strlen(t));
}

/*
 * fds go with the request they came with, are open while its handler
 * runs and closed once it is answered; the next request on the same
 * connection has none; more than API_MAX_FDS: 400, no handler call.
 */
static void test_fds(void **state)
{
	struct fixture *f = *state;
	start(f);
	int p[2];
	assert_int_equal(pipe(p), 0);
	int c = client(f->path);
	char buf[4096];
	bool eof;
	send_fds(c, "PUT /fds HTTP/1.1\r\nContent-Length: 0\r\n\r\n", p[0], 2);
	collect(f->s, c, buf, sizeof(buf), 1, 2000, &eof);
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	assert_int_equal(f->nfds, 2);
	assert_true(f->fds_open);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(fcntl(f->fds[i], F_GETFD), -1);
	send_all(c, "GET /plain HTTP/1.1\r\n\r\n");
	collect(f->s, c, buf, sizeof(buf), 1, 2000, &eof);
	assert_int_equal(f->nfds, 0);
	assert_int_equal(f->calls, 2);
	send_fds(c, "PUT /many HTTP/1.1\r\nContent-Length: 0\r\n\r\n", p[0], API_MAX_FDS + 1);
	collect(f->s, c, buf, sizeof(buf), 1, 2000, &eof);
	assert_non_null(strstr(buf, "HTTP/1.1 400"));
	assert_non_null(strstr(buf, "file descriptors"));
	assert_int_equal(f->calls, 2);
	/* The connection goes on, the refused request's fds are gone. */
	send_all(c, "GET /after HTTP/1.1\r\n\r\n");
	collect(f->s, c, buf, sizeof(buf), 1, 2000, &eof);
	assert_int_equal(f->calls, 3);
	assert_int_equal(f->nfds, 0);
	close(c);
	close(p[0]);
	close(p[1]);
}

static void test_requests_keepalive(void **state)
{
	struct fixture *f = *state;
	start(f);
	int c = client(f->path);
	char buf[4096];
	bool eof;
	send_all(c, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
	collect(f->s, c, buf, sizeof(buf), 1, 2000, &eof);
	assert_false(eof);
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(buf, "Connection: keep-alive\r\n"));
	assert_non_null(strstr(buf, "{\"path\":\"/one\",\"len\":0}"));

	/* Same connection, a body, then Connection: close. */
	send_all(c, "PUT /two HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
	collect(f->s, c, buf, sizeof(buf), 0, 2000, &eof);
	assert_true(eof);
	assert_non_null(strstr(buf, "{\"path\":\"/two\",\"len\":3}"));
	assert_non_null(strstr(buf, "Connection: close\r\n"));
	assert_int_equal(f->calls, 2);
	close(c);

	/* Pipelined, then our side shut: every answer still comes. */
	c = client(f->path);
	send_all(c, "GET /a HTTP/1.1\r\n\r\nGET /missing HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n");
	shutdown(c, SHUT_WR);
	collect(f->s, c, buf, sizeof(buf), 0, 2000, &eof);
	assert_true(eof);
	char *a = strstr(buf, "\"/a\""), *m = strstr(buf, "404 Not Found"),
	     *cc = strstr(buf, "\"/c\"");
	assert_true(a && m && cc && a < m && m < cc);
	close(c);
}

/*
 * Two requests in one write, the client's side left open: both are answered
 * straight away (the second used to wait for more input until the idle
 * sweep closed the connection).
 */
static void test_pipelined_open(void **state)
{
	struct fixture *f = *state;
	start(f);
	int c = client(f->path);
	char buf[4096];
	bool eof;
	send_all(c, "GET /first HTTP/1.1\r\n\r\nGET /second HTTP/1.1\r\n\r\n");
	/* Generous bound for a loaded host; the stall it guards against is
	 * the 30 s idle timeout. */
	collect(f->s, c, buf, sizeof(buf), 2, 5000, &eof);
	assert_false(eof);
	char *a = strstr(buf, "\"/first\""), *b = strstr(buf, "\"/second\"");
	assert_true(a && b && a < b);
	assert_int_equal(f->calls, 2);

	/* The connection stays usable afterwards. */
	send_all(c, "GET /third HTTP/1.1\r\n\r\n");
	collect(f->s, c, buf, sizeof(buf), 1, 5000, &eof);
	assert_false(eof);
	assert_non_null(strstr(buf, "\"/third\""));
	close(c);
}

static void test_refused_then_closed(void **state)
{
	struct fixture *f = *state;
	start(f);
	char buf[4096];
	bool eof;

	/* A body over the limit: 413 from the headers alone, then EOF, and
	 * the client may keep sending for a while (lingering close). */
	int c = client(f->path);
	char head[128];
	snprintf(head, sizeof(head), "PUT /x HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
		 API_MAX_BODY + 1);
	send_all(c, head);
	collect(f->s, c, buf, sizeof(buf), 0, 2000, &eof);
	assert_true(eof);
	assert_non_null(strstr(buf, "HTTP/1.1 413 "));
	assert_non_null(strstr(buf, "Connection: close"));
	char junk[4096] = { 0 };
	assert_int_equal(send(c, junk, sizeof(junk), MSG_NOSIGNAL), (ssize_t)sizeof(junk));
	close(c);

	c = client(f->path);
	send_all(c, "BLAH\r\n\r\n");
	collect(f->s, c, buf, sizeof(buf), 0, 2000, &eof);
	assert_true(eof);
	assert_non_null(strstr(buf, "HTTP/1.1 400 "));
	close(c);
	assert_int_equal(f->calls, 0);
}

static void test_stalled_client(void **state)
{
	struct fixture *f = *state;
	start(f);
	char buf[4096];
	bool eof;
	int slow = client(f->path);
	send_all(slow, "GET /slow HTTP/1.1\r\nHo");
	pump(f->s, 50);

	int c = client(f->path);
	send_all(c, "GET /fast HTTP/1.1\r\n\r\n");
	collect(f->s, c, buf, sizeof(buf), 1, 2000, &eof);
	assert_non_null(strstr(buf, "/fast"));
	close(c);

	send_all(slow, "st: x\r\n\r\n");
	collect(f->s, slow, buf, sizeof(buf), 1, 2000, &eof);
	assert_non_null(strstr(buf, "/slow"));
	close(slow);
}

static void test_client_never_reads(void **state)
{
	struct fixture *f = *state;
	start(f);
	int greedy = client(f->path);
	int sz = 4096;
	setsockopt(greedy, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	/* Many pipelined requests, never reading an answer. */
	char req[] = "GET /never-reads-its-answers HTTP/1.1\r\n\r\n";
	for (int i = 0; i < 400; i++)
		if (send(greedy, req, sizeof(req) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			break;
	uint64_t t0 = now_ms();
	pump(f->s, 100);
	assert_true(now_ms() - t0 < 1000); /* the loop was never stuck */

	char buf[4096];
	bool eof;
	int c = client(f->path);
	send_all(c, "GET /other HTTP/1.1\r\n\r\n");
	collect(f->s, c, buf, sizeof(buf), 1, 2000, &eof);
	assert_non_null(strstr(buf, "/other"));
	close(c);
	close(greedy);
	pump(f->s, 20);
}

static void test_idle_timeout(void **state)
{
	struct fixture *f = *state;
	start(f);
	api_server_set_timeouts(f->s, 300, 300);
	int c = client(f->path);
	send_all(c, "GET /half");
	char buf[256];
	bool eof;
	/* The sweep runs every second: closed within about 1.3 s. */
	collect(f->s, c, buf, sizeof(buf), 0, 3000, &eof);
	assert_true(eof);
	assert_int_equal(f->calls, 0);
	close(c);
}

static void test_many_clients(void **state)
{
	struct fixture *f = *state;
	start(f);
	int fds[API_MAX_CLIENTS + 8];
	for (int i = 0; i < API_MAX_CLIENTS + 8; i++) {
		fds[i] = client(f->path);
		assert_true(fds[i] >= 0);
		send_all(fds[i], "GET /stalled");
		pump(f->s, 2);
	}
	char buf[4096];
	bool eof;
	int c = client(f->path);
	send_all(c, "GET /late HTTP/1.1\r\n\r\n");
	collect(f->s, c, buf, sizeof(buf), 1, 2000, &eof);
	assert_non_null(strstr(buf, "/late"));
	close(c);
	/* The first ones made room: they see EOF. */
	collect(f->s, fds[0], buf, sizeof(buf), 0, 500, &eof);
	assert_true(eof);
	for (int i = 0; i < API_MAX_CLIENTS + 8; i++)
		close(fds[i]);
}

static void test_flush(void **state)
{
	struct fixture *f = *state;
	start(f);
	int c = client(f->path);
	send_all(c, "GET /bye HTTP/1.1\r\nConnection: close\r\n\r\n");
	pump(f->s, 50);
	api_server_flush(f->s, 100);
	api_server_destroy(f->s);
	f->s = NULL;
	char buf[1024];
	ssize_t n = recv(c, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "/bye"));
	close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requests_keepalive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_then_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stalled_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_never_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
