/* SPDX-License-Identifier: MIT */
/*
 * cvmm-remote: a command-line client for cvmm's API socket.
 *
 *   cvmm-remote --api-socket PATH [--timeout SECONDS] COMMAND [JSON]
 *   cvmm-remote --help | --version
 *
 * sends one HTTP/1.1 request over the UNIX socket, prints the response
 * body on stdout and exits 0 when the status is 2xx, 1 otherwise (the
 * status line goes to stderr then), 2 for bad usage. JSON is the request
 * body: the text itself, "-" for stdin or "@FILE".
 *
 * ch-remote's commands and argument syntax work too, so that scripts
 * written for cloud-hypervisor's client run unchanged: `resize --cpus N
 * [--memory SIZE]`, `add-disk path=P,readonly=on`, `add-net tap=T|fd=N`
 * (fd=N or fd=[N,M]: descriptors of this process, sent with the request in
 * SCM_RIGHTS), `add-fs`, `add-vsock`, `add-device`, `add-user-device`
 * (key=value lists become the JSON object: on/off and true/false as
 * booleans, whole numbers as numbers), `create FILE` (a file of JSON),
 * `remove-device ID`, `resize-disk --disk ID --size SIZE`.
 *
 * `raw` sends stdin verbatim (as it arrives: a slow writer makes a slow
 * client) and prints everything the server answers, status line and
 * headers included: for experiments and tests.
 *
 * Plain C and libc only, so that it builds anywhere cvmm does.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "revision.h" /* CVMM_REVISION, generated: $(BUILD)/gen/revision.h */

#define MAX_BODY_IN (16u << 20)

struct command {
	const char *name;
	const char *method;
	const char *endpoint;
	const char *help;
};

struct buf {
	char *data;
	size_t len, cap;
};

static int buf_append(struct buf *b, const void *p, size_t n)
{
	if (n > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap - b->len < n)
			cap *= 2;
		char *d = realloc(b->data, cap + 1);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static const struct command commands[] = {
	{ "ping", "GET", "vmm.ping", "the VMM's version" },
	{ "info", "GET", "vm.info", "configuration, state and devices" },
	{ "counters", "GET", "vm.counters", "counters: device id -> name -> integer" },
	{ "pause", "PUT", "vm.pause", "stop every vCPU" },
	{ "resume", "PUT", "vm.resume", "let paused vCPUs run again" },
	{ "reboot", "PUT", "vm.reboot", "reset and boot the same kernel again" },
	{ "power-button", "PUT", "vm.power-button", "press the ACPI power button" },
	{ "shutdown", "PUT", "vm.shutdown", "stop the VM (the VMM serves on)" },
	{ "shutdown-vmm", "PUT", "vmm.shutdown", "stop the VMM process" },
	{ "create", "PUT", "vm.create", "create a VM from a JSON config" },
	{ "boot", "PUT", "vm.boot", "boot a created VM" },
	{ "delete", "PUT", "vm.delete", "forget the VM (shut down first if it runs)" },
	{ "resize", "PUT", "vm.resize", "--cpus N [--memory SIZE], or JSON" },
	{ "add-disk", "PUT", "vm.add-disk", "path=P[,id=N,readonly=on,...]" },
	{ "add-net", "PUT", "vm.add-net", "tap=T|fd=N[,mac=M,id=I,...]" },
	{ "add-fs", "PUT", "vm.add-fs", "tag=T,socket=P[,id=I,...]" },
	{ "add-vsock", "PUT", "vm.add-vsock", "cid=N,socket=P[,id=I]" },
	{ "add-device", "PUT", "vm.add-device", "path=SYSFS[,id=N]" },
	{ "add-user-device", "PUT", "vm.add-user-device", "socket=P[,id=N]" },
	{ "remove-device", "PUT", "vm.remove-device", "ID: unplug (or unconfigure) a device; not the console" },
	{ "resize-disk", "PUT", "vm.resize-disk", "--disk ID --size SIZE: grow a disk" },
	{ "snapshot", "PUT", "vm.snapshot", "file:///DIR: a paused VM into DIR" },
	{ "restore", "PUT", "vm.restore", "source_url=file:///DIR[,prefault=on][,resume=false]" },
};

#define MAX_FDS 8

/* A JSON string of s (quotes and escapes) appended to b. */
static int json_str(struct buf *b, const char *s, size_t n);

/*
 * ch-remote's "k=v,k=v" as a JSON object in b; fd=N or fd=[N,M] go to
 * fds instead. 0, or -EINVAL (bad usage).
 */
static int kv_to_json(const char *arg, struct buf *b, int *fds, unsigned *nfds)
{
	int r = buf_append(b, "{", 1);
	bool first = true;
	const char *p = arg;
	while (*p && !r) {
		const char *eq = strchr(p, '=');
		if (!eq || eq == p)
			return -EINVAL;
		const char *v = eq + 1, *end;
		if (*v == '[') {
			end = strchr(v, ']');
			if (!end)
				return -EINVAL;
			end++;
		} else {
			end = v + strcspn(v, ",");
		}
		size_t kl = (size_t)(eq - p), vl = (size_t)(end - v);
		if (kl == 2 && !strncmp(p, "fd", 2)) {
			const char *q = v + (*v == '[');
			while (q < end && *q != ']') {
				char *e;
				long fd = strtol(q, &e, 10);
				if (e == q || fd < 0 || *nfds == MAX_FDS)
					return -EINVAL;
				fds[(*nfds)++] = (int)fd;
				q = e + (*e == ',');
			}
		} else {
			char num[32];
			bool is_num = vl && vl < sizeof(num) && strspn(v, "0123456789") == vl;
			r = r ?: buf_append(b, first ? "" : ",", first ? 0 : 1);
			r = r ?: json_str(b, p, kl);
			r = r ?: buf_append(b, ":", 1);
			if ((vl == 2 && !strncmp(v, "on", 2)) || (vl == 4 && !strncmp(v, "true", 4)))
				r = r ?: buf_append(b, "true", 4);
			else if ((vl == 3 && !strncmp(v, "off", 3)) || (vl == 5 && !strncmp(v, "false", 5)))
				r = r ?: buf_append(b, "false", 5);
			else if (is_num)
				r = r ?: buf_append(b, v, vl);
			else
				r = r ?: json_str(b, v, vl);
			first = false;
		}
		p = *end == ',' ? end + 1 : end;
	}
	return r ?: buf_append(b, "}", 1);
}

static int json_str(struct buf *b, const char *s, size_t n)
{
	int r = buf_append(b, "\"", 1);
	for (size_t i = 0; i < n && !r; i++) {
		char esc[8];
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			r = buf_append(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			r = buf_append(b, esc, 6);
		} else {
			r = buf_append(b, &s[i], 1);
		}
	}
	return r ?: buf_append(b, "\"", 1);
}

/* {"key": "val"} into b (the start of one when open: no closing brace). */
static int json_member(struct buf *b, const char *key, const char *val, bool open)
{
	int r = buf_append(b, "{\"", 2);
	r = r ?: buf_append(b, key, strlen(key));
	r = r ?: buf_append(b, "\":", 2);
	r = r ?: json_str(b, val, strlen(val));
	return r ?: open ? 0 : buf_append(b, "}", 1);
}

/* "N", "NK", "NM", "NG" into bytes: 0, or -1 (not such a size, too big). */
static int parse_size(const char *s, unsigned long long *out)
{
	char *e;
	unsigned long long v = strtoull(s, &e, 10);
	unsigned shift = *e == 'K' ? 10 : *e == 'M' ? 20 : *e == 'G' ? 30 : 0;
	if (e == s || (shift && e[1]) || (!shift && *e) || v > (~0ULL >> shift))
		return -1;
	*out = v << shift;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: cvmm-remote --api-socket PATH [--timeout SECONDS] COMMAND [JSON]\n"
		   "       cvmm-remote --help | --version\n"
		   "JSON: the request body, '-' (stdin) or '@FILE'. Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-13s %s /api/v1/%s: %s\n", commands[i].name,
			commands[i].method, commands[i].endpoint, commands[i].help);
	fprintf(f, "  %-13s send stdin verbatim, print the whole response\n", "raw");
	fprintf(f, "add-*: before boot the device joins the configuration; on a running VM it\n"
		   "is hot-plugged and the answer is {\"id\", \"bdf\"}. SIZE: bytes, or K/M/G.\n");
	fprintf(f, "Exit status: 0 for a 2xx answer, 1 otherwise, 2 for bad usage.\n");
}


static int read_all_fd(int fd, struct buf *b)
{
	char tmp[65536];
	for (;;) {
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if (b->len + (size_t)n > MAX_BODY_IN)
			return -EFBIG;
		if (buf_append(b, tmp, (size_t)n))
			return -ENOMEM;
	}
}

/* The request body from the JSON argument: text, "-" or "@FILE". */
static int load_body(const char *arg, struct buf *b)
{
	if (strcmp(arg, "-") == 0)
		return read_all_fd(STDIN_FILENO, b);
	if (arg[0] == '@') {
		int fd = open(arg + 1, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		int ret = read_all_fd(fd, b);
		close(fd);
		return ret;
	}
	return buf_append(b, arg, strlen(arg));
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int connect_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "cvmm-remote: %s: path too long\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "cvmm-remote: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/*
 * Moves bytes both ways until the server closes the connection (or the
 * response is complete: Content-Length), the deadline passes, or an error.
 * in_fd (-1: none) is copied to the socket as it arrives; when it ends,
 * our side of the socket is shut. out is whatever the server sent.
 */
static int exchange(int sock, const struct buf *req, int in_fd, struct buf *out,
		    uint64_t deadline)
{
	size_t sent = 0;
	bool writing = true; /* still sending (req, then in_fd) */
	char tmp[65536];
	while (true) {
		if (writing && in_fd < 0 && sent == req->len) {
			writing = false;
		}
		struct pollfd p[2] = { { .fd = sock, .events = POLLIN } };
		nfds_t np = 1;
		if (writing && sent < req->len)
			p[0].events |= POLLOUT;
		else if (writing && in_fd >= 0)
			p[np++] = (struct pollfd){ .fd = in_fd, .events = POLLIN };
		uint64_t now = now_ms();
		if (now >= deadline) {
			fprintf(stderr, "cvmm-remote: timed out waiting for the answer\n");
			return -ETIMEDOUT;
		}
		int r = poll(p, np, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (p[0].revents & POLLOUT) {
			ssize_t n = send(sock, req->data + sent, req->len - sent, MSG_NOSIGNAL);
			if (n < 0 && errno != EINTR && errno != EAGAIN) {
				/* The server closed early (e.g. 413): read its answer. */
				writing = false;
				sent = req->len;
			} else if (n > 0) {
				sent += (size_t)n;
			}
		}
		if (np > 1 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(in_fd, tmp, sizeof(tmp));
			if (n <= 0) {
				if (n < 0 && errno == EINTR)
					continue;
				writing = false;
				shutdown(sock, SHUT_WR);
			} else {
				size_t off = 0;
				while (off < (size_t)n) {
					ssize_t w = send(sock, tmp + off, (size_t)n - off,
							 MSG_NOSIGNAL);
					if (w < 0 && errno == EINTR)
						continue;
					if (w < 0) {
						writing = false;
						break;
					}
					off += (size_t)w;
				}
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(sock, tmp, sizeof(tmp), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				if (errno == ECONNRESET && out->len)
					return 0;
				return -errno;
			}
			if (n == 0)
				return 0;
			if (out->len + (size_t)n > MAX_BODY_IN || buf_append(out, tmp, (size_t)n))
				return -EFBIG;
		}
	}
}

/* Status code and body of a response: 0, or -EPROTO when it is not one. */
static int parse_response(const struct buf *r, int *status, const char **body,
			  size_t *body_len)
{
	if (!r->data || r->len < 12 || strncmp(r->data, "HTTP/1.", 7) != 0)
		return -EPROTO;
	char *sp = strchr(r->data, ' ');
	if (!sp)
		return -EPROTO;
	*status = atoi(sp + 1);
	char *end = strstr(r->data, "\r\n\r\n");
	if (!end)
		return -EPROTO;
	*body = end + 4;
	*body_len = r->len - (size_t)(*body - r->data);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	unsigned timeout_s = 30;
	int i = 1;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--api-socket") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else if (strncmp(argv[i], "--api-socket=", 13) == 0) {
			path = argv[i] + 13;
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			char *end;
			unsigned long t = strtoul(argv[++i], &end, 10);
			if (*end || t == 0 || t > 86400) {
				fprintf(stderr, "cvmm-remote: --timeout: 1-86400 seconds\n");
				return 2;
			}
			timeout_s = (unsigned)t;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("cvmm-remote %s (%s)\n", CVMM_VERSION, CVMM_REVISION);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			fprintf(stderr, "cvmm-remote: unknown option %s\n", argv[i]);
			return 2;
		} else {
			break;
		}
	}
	if (!path || i >= argc) {
		usage(stderr);
		return 2;
	}
	const char *name = argv[i++];
	const char *json = NULL;
	struct buf body = { 0 }, req = { 0 }, resp = { 0 };
	int fds[MAX_FDS];
	unsigned nfds = 0;
	bool made = false; /* body built from ch-remote's arguments */
	if (!strcmp(name, "resize") && i < argc && !strncmp(argv[i], "--", 2)) {
		/* ch-remote: resize --cpus N --memory SIZE */
		char text[128] = "{";
		for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
			char *e;
			unsigned long long v;
			bool cpus = !strcmp(argv[i], "--cpus");
			if (cpus ? (v = strtoull(argv[i + 1], &e, 10), e == argv[i + 1] || *e)
				 : strcmp(argv[i], "--memory") || parse_size(argv[i + 1], &v)) {
				fprintf(stderr, "cvmm-remote: resize: expected --cpus N and/or --memory SIZE\n");
				return 2;
			}
			snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s\"%s\":%llu",
				 text[1] ? "," : "", cpus ? "desired_vcpus" : "desired_ram", v);
		}
		strcat(text, "}");
		made = !buf_append(&body, text, strlen(text));
	} else if (!strcmp(name, "resize-disk") && i < argc && !strncmp(argv[i], "--", 2)) {
		/* ch-remote: resize-disk --disk ID --size SIZE */
		const char *disk = NULL;
		unsigned long long size = 0;
		bool have_size = false;
		for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
			if (!strcmp(argv[i], "--disk")) {
				disk = argv[i + 1];
				continue;
			}
			if (strcmp(argv[i], "--size") || parse_size(argv[i + 1], &size)) {
				fprintf(stderr, "cvmm-remote: resize-disk: expected --disk ID --size SIZE\n");
				return 2;
			}
			have_size = true;
		}
		if (!disk || !have_size) {
			fprintf(stderr, "cvmm-remote: resize-disk: expected --disk ID --size SIZE\n");
			return 2;
		}
		int r = json_member(&body, "disk", disk, true);
		char tail[48];
		snprintf(tail, sizeof(tail), ",\"desired_size\":%llu}", size);
		r = r ?: buf_append(&body, tail, strlen(tail));
		made = !r;
	} else if (i < argc) {
		json = argv[i++];
		bool looks_json = json[0] == '{' || json[0] == '[' || json[0] == '@' ||
				  !strcmp(json, "-");
		if (!strcmp(name, "snapshot") && !looks_json) {
			/* ch-remote: snapshot file:///DIR */
			made = !json_member(&body, "destination_url", json, false);
			if (!made) {
				fprintf(stderr, "cvmm-remote: out of memory\n");
				return 1;
			}
		} else if ((!strncmp(name, "add-", 4) || !strcmp(name, "restore")) && !looks_json) {
			if (kv_to_json(json, &body, fds, &nfds)) {
				fprintf(stderr, "cvmm-remote: %s: expected key=value[,key=value...] (fd=N or fd=[N,M]) or JSON\n",
					name);
				return 2;
			}
			made = true;
		} else if (!strcmp(name, "remove-device") && !looks_json) {
			/* ch-remote: remove-device ID */
			made = !json_member(&body, "id", json, false);
		} else if (!strcmp(name, "create") && !looks_json) {
			static char at[4096];
			snprintf(at, sizeof(at), "@%s", json); /* ch-remote: create FILE */
			json = at;
		}
	}
	if (i < argc) {
		fprintf(stderr, "cvmm-remote: too many arguments\n");
		return 2;
	}
	if (made)
		json = NULL;
	signal(SIGPIPE, SIG_IGN);

	bool raw = strcmp(name, "raw") == 0;
	const struct command *cmd = NULL;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(commands[k].name, name) == 0)
			cmd = &commands[k];
	if (!cmd && !raw) {
		fprintf(stderr, "cvmm-remote: unknown command %s (see --help)\n", name);
		return 2;
	}
	if (raw && json) {
		fprintf(stderr, "cvmm-remote: raw takes its request on stdin\n");
		return 2;
	}

	if (json) {
		int ret = load_body(json, &body);
		if (ret) {
			fprintf(stderr, "cvmm-remote: request body %s: %s\n", json,
				strerror(-ret));
			return 2;
		}
	}
	if (cmd) {
		char head[512];
		int n = snprintf(head, sizeof(head),
				 "%s /api/v1/%s HTTP/1.1\r\n"
				 "Host: localhost\r\n"
				 "Accept: application/json\r\n"
				 "%s"
				 "Content-Length: %zu\r\n"
				 "Connection: close\r\n\r\n",
				 cmd->method, cmd->endpoint,
				 body.len ? "Content-Type: application/json\r\n" : "",
				 body.len);
		if (buf_append(&req, head, (size_t)n) ||
		    (body.len && buf_append(&req, body.data, body.len))) {
			fprintf(stderr, "cvmm-remote: out of memory\n");
			return 1;
		}
	}

	int sock = connect_socket(path);
	if (sock < 0)
		return 1;
	if (nfds) {
		/* The fds go with the request's bytes, in one message. */
		union {
			char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
			struct cmsghdr align;
		} ctl;
		memset(&ctl, 0, sizeof(ctl));
		struct iovec iov = { req.data, req.len };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				    .msg_controllen = CMSG_SPACE(sizeof(int) * nfds) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
		if (sendmsg(sock, &m, MSG_NOSIGNAL) != (ssize_t)req.len) {
			fprintf(stderr, "cvmm-remote: sending the fds: %s\n", strerror(errno));
			return 1;
		}
		req.len = 0;
	}
	int ret = exchange(sock, &req, raw ? STDIN_FILENO : -1, &resp,
			   now_ms() + (uint64_t)timeout_s * 1000);
	close(sock);
	if (ret && !resp.len) {
		if (ret != -ETIMEDOUT)
			fprintf(stderr, "cvmm-remote: %s\n", strerror(-ret));
		return 1;
	}

	int status;
	const char *rbody;
	size_t rlen;
	if (parse_response(&resp, &status, &rbody, &rlen)) {
		fprintf(stderr, "cvmm-remote: the answer is not an HTTP response\n");
		if (raw && resp.len)
			fwrite(resp.data, 1, resp.len, stdout);
		return 1;
	}
	if (raw) {
		fwrite(resp.data, 1, resp.len, stdout);
	} else {
		fwrite(rbody, 1, rlen, stdout);
		if (rlen && rbody[rlen - 1] != '\n')
			fputc('\n', stdout);
		if (status < 200 || status > 299) {
			const char *eol = strstr(resp.data, "\r\n");
			fprintf(stderr, "cvmm-remote: %.*s\n",
				eol ? (int)(eol - resp.data) : 40, resp.data);
		}
	}
	free(body.data);
	free(req.data);
	free(resp.data);
	return status >= 200 && status <= 299 ? 0 : 1;
}
