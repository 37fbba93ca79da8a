/* SPDX-License-Identifier: MIT */
/*
 * Host tool for the virtio-vsock guest tests: the host end of one stream
 * through cvmm's hybrid UNIX-socket backend.
 *
 *   vsock-host listen PATH_P SEND RECV SEED_OUT SEED_IN
 *       listens on PATH_P (the guest connects to host port P), takes one
 *       connection;
 *   vsock-host connect PATH PORT SEND RECV SEED_OUT SEED_IN
 *       connects to cvmm's PATH (retrying until it exists), writes
 *       "CONNECT PORT\n" and reads cvmm's "OK <host port>\n";
 *
 * then sends SEND bytes of the pattern seeded SEED_OUT while it receives
 * RECV bytes that must follow the pattern seeded SEED_IN (the guest's
 * virtio_vsock.c uses the same), and closes. Everything is bounded by 60
 * seconds. Exit 0 and one line "vsock-host: ... ok", or 1 and why.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LIMIT_MS 60000

static unsigned char pat(unsigned i, unsigned s)
{
	return (unsigned char)(i * 31u + s + (i >> 8));
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int die(const char *what)
{
	fprintf(stderr, "vsock-host: %s: %s\n", what, errno ? strerror(errno) : "failed");
	return 1;
}

static int addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -1;
	strcpy(sa->sun_path, path);
	return 0;
}

static int do_listen(const char *path, long long end)
{
	struct sockaddr_un sa;
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || addr(&sa, path) < 0)
		return -1;
	unlink(path);
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 4) < 0)
		return -1;
	struct pollfd p = { .fd = l, .events = POLLIN };
	int r = poll(&p, 1, (int)(end - now_ms()));
	int fd = r > 0 ? accept4(l, NULL, NULL, SOCK_CLOEXEC) : -1;
	if (r == 0)
		errno = ETIMEDOUT;
	close(l);
	unlink(path);
	return fd;
}

static int do_connect(const char *path, const char *port, long long end)
{
	struct sockaddr_un sa;
	if (addr(&sa, path) < 0)
		return -1;
	int fd;
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		close(fd);
		if (now_ms() > end)
			return -1;
		usleep(50 * 1000);
	}
	char line[64];
	int n = snprintf(line, sizeof(line), "CONNECT %s\n", port);
	if (write(fd, line, (size_t)n) != n)
		return -1;
	/* "OK <port>\n", byte by byte: what follows is the stream. */
	size_t got = 0;
	while (got < sizeof(line) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)(end - now_ms())) <= 0 || read(fd, line + got, 1) != 1) {
			fprintf(stderr, "vsock-host: no \"OK\" from cvmm (%zu bytes)\n", got);
			errno = 0;
			return -1;
		}
		if (line[got++] == '\n')
			break;
	}
	line[got] = '\0';
	if (strncmp(line, "OK ", 3) != 0 || atol(line + 3) <= 0) {
		fprintf(stderr, "vsock-host: cvmm answered \"%s\"\n", line);
		errno = 0;
		return -1;
	}
	printf("vsock-host: %s: %s", path, line);
	return fd;
}

int main(int argc, char **argv)
{
	int conn = argc == 8 && strcmp(argv[1], "connect") == 0;
	if (!conn && !(argc == 7 && strcmp(argv[1], "listen") == 0)) {
		fprintf(stderr, "usage: vsock-host listen PATH_P SEND RECV SEED_OUT SEED_IN\n"
				"       vsock-host connect PATH PORT SEND RECV SEED_OUT SEED_IN\n");
		return 2;
	}
	char **a = argv + 3 + conn;
	unsigned send_n = (unsigned)atol(a[0]), recv_n = (unsigned)atol(a[1]);
	unsigned s_out = (unsigned)strtoul(a[2], NULL, 0), s_in = (unsigned)strtoul(a[3], NULL, 0);
	long long end = now_ms() + LIMIT_MS;
	int fd = conn ? do_connect(argv[2], argv[3], end) : do_listen(argv[2], end);
	if (fd < 0)
		return die(conn ? "connect" : "listen/accept");
	fcntl(fd, F_SETFL, O_NONBLOCK);
	unsigned sent = 0, recvd = 0, bad = 0;
	unsigned char buf[8192];
	while (sent < send_n || recvd < recv_n) {
		struct pollfd p = { .fd = fd, .events = (short)((recvd < recv_n ? POLLIN : 0) |
							       (sent < send_n ? POLLOUT : 0)) };
		int r = poll(&p, 1, (int)(end - now_ms()));
		if (r <= 0) {
			fprintf(stderr, "vsock-host: %s: timed out: sent %u of %u, received %u of %u\n",
				argv[2], sent, send_n, recvd, recv_n);
			return 1;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n == 0 || (n < 0 && errno != EAGAIN)) {
				fprintf(stderr, "vsock-host: %s: %s after %u of %u bytes\n", argv[2],
					n ? strerror(errno) : "end of file", recvd, recv_n);
				return 1;
			}
			for (ssize_t i = 0; i < n; i++)
				bad += buf[i] != pat(recvd + (unsigned)i, s_in);
			recvd += n > 0 ? (unsigned)n : 0;
		}
		if ((p.revents & POLLOUT) && sent < send_n) {
			unsigned k = send_n - sent < sizeof(buf) ? send_n - sent : sizeof(buf);
			for (unsigned i = 0; i < k; i++)
				buf[i] = pat(sent + i, s_out);
			ssize_t n = write(fd, buf, k);
			if (n < 0 && errno != EAGAIN)
				return die("write");
			sent += n > 0 ? (unsigned)n : 0;
		}
	}
	close(fd);
	if (recvd != recv_n || bad) {
		fprintf(stderr, "vsock-host: %s: received %u bytes, %u wrong\n", argv[2], recvd, bad);
		return 1;
	}
	printf("vsock-host: %s: sent %u, received %u, pattern ok\n", argv[2], sent, recvd);
	return 0;
}
