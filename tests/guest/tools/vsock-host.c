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
 *
 * The clients of the guest's serve=1 agent (each connects to PATH):
 *   vsock-host echo PATH PORT BYTES
 *       sends BYTES of the pattern, reads them back, closes;
 *   vsock-host many PATH PORT COUNT AT_ONCE
 *       COUNT connections, AT_ONCE open at a time, each echoing 64 bytes;
 *   vsock-host bulk PATH PORT BYTES [PID]
 *       BYTES of u64 words i * K + 0xA1 to the guest, whose sum and xor
 *       of them must match ours; then BYTES of i * K + 0xB2 from it, each
 *       word checked, our sum and xor sent back. Prints both directions'
 *       MiB/s and, with cvmm's PID, its CPU time (/proc/PID/stat utime +
 *       stime, all threads) per MiB, and its vsock device thread's;
 *   vsock-host quit PATH PORT
 *       a connection the guest refuses and stops on.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/time.h>
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

static int quiet; /* many, quit: no line per connection */

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
			if (!quiet)
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
	if (!quiet)
		printf("vsock-host: %s: %s", path, line);
	return fd;
}

#define KMUL 0x9E3779B97F4A7C15ull

static int set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = LIMIT_MS / 1000 };
	return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) |
	       setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int write_all(int fd, const void *p, size_t n)
{
	for (size_t done = 0; done < n;) {
		ssize_t k = write(fd, (const char *)p + done, n - done);
		if (k <= 0)
			return -1;
		done += (size_t)k;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t n)
{
	for (size_t done = 0; done < n;) {
		ssize_t k = read(fd, (char *)p + done, n - done);
		if (k <= 0) {
			if (k == 0)
				errno = EPIPE;
			return -1;
		}
		done += (size_t)k;
	}
	return 0;
}

static int client(const char *path, const char *port)
{
	int fd = do_connect(path, port, now_ms() + LIMIT_MS);
	if (fd >= 0)
		set_timeouts(fd);
	return fd;
}

static int echo_one(const char *path, const char *port, unsigned n, unsigned seed, int quiet)
{
	int fd = client(path, port);
	if (fd < 0)
		return die("connect");
	unsigned char *out = malloc(n), *in = malloc(n);
	if (!out || !in)
		return die("malloc");
	for (unsigned i = 0; i < n; i++)
		out[i] = pat(i, seed);
	/* Bounded by the guest's 4 KiB window: write and read in turns. */
	unsigned sent = 0, got = 0;
	while (got < n) {
		if (sent < n) {
			unsigned k = n - sent < 2048 ? n - sent : 2048;
			if (write_all(fd, out + sent, k) < 0)
				return die("echo: write");
			sent += k;
		}
		ssize_t k = read(fd, in + got, sent - got);
		if (k <= 0)
			return die(k ? "echo: read" : "echo: end of file");
		got += (unsigned)k;
	}
	close(fd);
	if (memcmp(in, out, n)) {
		fprintf(stderr, "vsock-host: echo: %u bytes came back different\n", n);
		return 1;
	}
	if (!quiet)
		printf("vsock-host: echo: %u bytes back, pattern ok\n", n);
	free(in);
	free(out);
	return 0;
}

static int many(const char *path, const char *port, unsigned count, unsigned at_once)
{
	int fds[16];
	unsigned done = 0;
	if (at_once < 1 || at_once > 16)
		at_once = 1;
	while (done < count) {
		unsigned k = count - done < at_once ? count - done : at_once;
		for (unsigned i = 0; i < k; i++) {
			fds[i] = client(path, port);
			if (fds[i] < 0) {
				fprintf(stderr, "vsock-host: many: connection %u: ", done + i);
				return die("connect");
			}
		}
		for (unsigned i = 0; i < k; i++) {
			unsigned char out[64], in[64];
			for (unsigned j = 0; j < 64; j++)
				out[j] = pat(j, done + i);
			if (write_all(fds[i], out, 64) < 0 || read_all(fds[i], in, 64) < 0 ||
			    memcmp(in, out, 64)) {
				fprintf(stderr, "vsock-host: many: connection %u: ", done + i);
				return die("no echo");
			}
			close(fds[i]);
		}
		done += k;
	}
	printf("vsock-host: many: %u connections, %u at a time, each echoed\n", count, at_once);
	return 0;
}

/* CPU time in ms (utime + stime) of /proc/.../stat at path, or -1; the
 * task's name into comm when asked. */
static double stat_ms(const char *path, char *comm, size_t comm_len)
{
	char buf[2048];
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *o = strchr(buf, '('), *q = strrchr(buf, ')');
	unsigned long ut, st;
	/* after ")": state(3) ... utime(14) stime(15) */
	if (!o || !q || sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	if (comm) {
		size_t k = (size_t)(q - o - 1) < comm_len - 1 ? (size_t)(q - o - 1) : comm_len - 1;
		memcpy(comm, o + 1, k);
		comm[k] = '\0';
	}
	return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* cvmm's CPU time in ms: all threads (cpu[0]) and its vsock device
 * thread's ("virtio-vsock", cpu[1]); -1 where unknown. */
static void cpu_ms(long pid, double cpu[2])
{
	char p[96], comm[64];
	cpu[0] = cpu[1] = -1;
	if (pid <= 0)
		return;
	snprintf(p, sizeof(p), "/proc/%ld/stat", pid);
	cpu[0] = stat_ms(p, NULL, 0);
	snprintf(p, sizeof(p), "/proc/%ld/task", pid);
	DIR *d = opendir(p);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/%ld/task/%.20s/stat", pid, e->d_name);
		double ms = stat_ms(p, comm, sizeof(comm));
		if (ms >= 0 && strstr(comm, "vsock"))
			cpu[1] = ms;
	}
	if (d)
		closedir(d);
}

static int bulk(const char *path, const char *port, unsigned long n, long pid)
{
	if (n % 8 || !n)
		return fprintf(stderr, "vsock-host: bulk: a multiple of 8 bytes\n"), 1;
	unsigned long nw = n / 8;
	uint64_t *buf = malloc(n), s = 0, x = 0, ans[2];
	if (!buf)
		return die("malloc");
	for (unsigned long i = 0; i < nw; i++) {
		buf[i] = i * KMUL + 0xA1;
		s += buf[i];
		x ^= buf[i];
	}
	int fd = client(path, port);
	if (fd < 0)
		return die("connect");
	long long t0 = now_ms();
	double c0[2], c1[2], c2[2];
	cpu_ms(pid, c0);
	if (write_all(fd, buf, n) < 0 || read_all(fd, ans, 16) < 0)
		return die("bulk: to the guest");
	long long t1 = now_ms();
	cpu_ms(pid, c1);
	if (ans[0] != s || ans[1] != x) {
		fprintf(stderr, "vsock-host: bulk: the guest's sum/xor %llx/%llx, ours %llx/%llx\n",
			(unsigned long long)ans[0], (unsigned long long)ans[1],
			(unsigned long long)s, (unsigned long long)x);
		return 1;
	}
	memset(buf, 0, n);
	if (read_all(fd, buf, n) < 0)
		return die("bulk: from the guest");
	long long t2 = now_ms();
	cpu_ms(pid, c2);
	s = x = 0;
	for (unsigned long i = 0; i < nw; i++) {
		if (buf[i] != i * KMUL + 0xB2) {
			fprintf(stderr, "vsock-host: bulk: word %lu from the guest is %llx\n", i,
				(unsigned long long)buf[i]);
			return 1;
		}
		s += buf[i];
		x ^= buf[i];
	}
	ans[0] = s;
	ans[1] = x;
	if (write_all(fd, ans, 16) < 0)
		return die("bulk: the sums");
	/* The guest checks them, then our close ends the connection. */
	char c;
	shutdown(fd, SHUT_WR);
	if (read(fd, &c, 1) != 0)
		return die("bulk: no end of file from the guest");
	close(fd);
	double mib = (double)n / 1048576.0;
	double d1 = (double)(t1 - t0) / 1000.0, d2 = (double)(t2 - t1) / 1000.0;
	printf("vsock-host: bulk: %lu bytes each way, sums ok\n", n);
	printf("vsock-host: bulk: host->guest %.2f MiB/s (%.2f s)", mib / (d1 > 0 ? d1 : 1e-3), d1);
	if (c0[0] >= 0 && c1[0] >= 0)
		printf(", cvmm CPU %.1f ms/MiB", (c1[0] - c0[0]) / mib);
	if (c0[1] >= 0 && c1[1] >= 0)
		printf(" (device thread %.1f)", (c1[1] - c0[1]) / mib);
	printf("\nvsock-host: bulk: guest->host %.2f MiB/s (%.2f s)", mib / (d2 > 0 ? d2 : 1e-3), d2);
	if (c1[0] >= 0 && c2[0] >= 0)
		printf(", cvmm CPU %.1f ms/MiB", (c2[0] - c1[0]) / mib);
	if (c1[1] >= 0 && c2[1] >= 0)
		printf(" (device thread %.1f)", (c2[1] - c1[1]) / mib);
	printf("\n");
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		argv[1] = "";
	if (argc == 5 && strcmp(argv[1], "echo") == 0)
		return echo_one(argv[2], argv[3], (unsigned)atol(argv[4]), 0x5a, 0);
	quiet = strcmp(argv[1], "many") == 0 || strcmp(argv[1], "quit") == 0;
	if (argc == 6 && strcmp(argv[1], "many") == 0)
		return many(argv[2], argv[3], (unsigned)atol(argv[4]), (unsigned)atol(argv[5]));
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "bulk") == 0)
		return bulk(argv[2], argv[3], strtoul(argv[4], NULL, 0), argc == 6 ? atol(argv[5]) : 0);
	if (argc == 4 && strcmp(argv[1], "quit") == 0) {
		/* Refused: cvmm closes without "OK". */
		int fd = do_connect(argv[2], argv[3], now_ms() + LIMIT_MS);
		if (fd >= 0)
			close(fd);
		printf("vsock-host: quit sent\n");
		return 0;
	}
	int conn = argc == 8 && strcmp(argv[1], "connect") == 0;
	if (!conn && !(argc == 7 && strcmp(argv[1], "listen") == 0)) {
		fprintf(stderr, "usage: vsock-host listen PATH_P SEND RECV SEED_OUT SEED_IN\n"
				"       vsock-host connect PATH PORT SEND RECV SEED_OUT SEED_IN\n"
				"       vsock-host echo PATH PORT BYTES\n"
				"       vsock-host many PATH PORT COUNT AT_ONCE\n"
				"       vsock-host bulk PATH PORT BYTES [PID]\n"
				"       vsock-host quit PATH PORT\n");
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
