/* SPDX-License-Identifier: MIT */
/* The API server's socket and connections; see server.h. */
#include "api/server.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define IN_MAX (HTTP_MAX_HEADER + API_MAX_BODY)
#define DISCARD_MAX (1u << 20) /* input thrown away while lingering */
#define TAG_LISTEN UINT64_MAX
#define TAG_TIMER (UINT64_MAX - 1)

struct api_conn {
	int fd; /* -1: free slot */
	uint32_t gen; /* tells a reused slot from the one an event was for */
	uint32_t events; /* epoll interest now */
	char *in;
	size_t in_len, in_cap;
	struct http_parser parser;
	struct http_buf out;
	size_t out_off;
	bool close_after; /* close once the output is written */
	bool linger; /* ...after shutting down our side and draining input */
	bool lingering; /* draining now */
	bool peer_eof; /* the client shut its side: no more requests */
	size_t discarded;
	uint64_t last_ms;
	/* fds received and not yet handed to a request: fd_at[i] is the input
	 * offset at which fds[i] arrived (it goes with the request that
	 * includes that byte). fds_refused: more came than a request may
	 * carry; the request they go with is refused. */
	int fds[API_MAX_FDS];
	size_t fd_at[API_MAX_FDS];
	unsigned nfds;
	bool fds_refused;
};

struct api_server {
	int listen_fd;
	int epoll_fd;
	int timer_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	bool own_file;
	api_handler_fn handler;
	void *opaque;
	unsigned idle_ms, linger_ms;
	struct api_conn conns[API_MAX_CLIENTS];
	struct ratelimit rl;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t conn_tag(const struct api_server *s, const struct api_conn *c)
{
	return (uint64_t)c->gen << 32 | (uint64_t)(c - s->conns);
}

/* Closes the pending fds (all, or those that came with the first `upto`
 * input bytes) and moves the others' offsets back by `upto`. */
static void drop_fds(struct api_conn *c, size_t upto, bool all)
{
	unsigned keep = 0;
	for (unsigned i = 0; i < c->nfds; i++) {
		if (all || c->fd_at[i] < upto) {
			close(c->fds[i]);
			continue;
		}
		c->fds[keep] = c->fds[i];
		c->fd_at[keep++] = c->fd_at[i] - upto;
	}
	c->nfds = keep;
}

static void conn_close(struct api_server *s, struct api_conn *c)
{
	if (c->fd < 0)
		return;
	drop_fds(c, 0, true);
	c->fds_refused = false;
	epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->gen++;
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
	http_buf_free(&c->out);
	c->out_off = 0;
}

/* Sets the epoll interest: output pending -> EPOLLOUT, else EPOLLIN. */
static int conn_watch(struct api_server *s, struct api_conn *c)
{
	uint32_t want = c->out_off < c->out.len ? EPOLLOUT : EPOLLIN;
	if (want == c->events)
		return 0;
	struct epoll_event ev = { .events = want, .data.u64 = conn_tag(s, c) };
	if (epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return -errno;
	c->events = want;
	return 0;
}

/* Writes what the socket takes: 0 (maybe partial), or -errno (close it). */
static int conn_write(struct api_conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		c->out_off += (size_t)n;
		c->last_ms = now_ms();
	}
	c->out.len = c->out_off = 0;
	return 0;
}

static void queue_response(struct api_conn *c, int status, const char *ctype,
			   const char *body, size_t body_len, bool keep_alive,
			   const char *extra)
{
	if (http_format_response(&c->out, status, ctype, body, body_len, keep_alive,
				 extra)) {
		/* Out of memory: nothing sensible to send. */
		c->out.len = c->out_off = 0;
		c->close_after = true;
		return;
	}
	if (!keep_alive)
		c->close_after = true;
}

/* A request the parser refused: answer, then linger and close. */
static void refuse(struct api_conn *c, int status)
{
	const char *why;
	switch (status) {
	case 413: why = "request body larger than " API_MAX_BODY_TEXT " bytes"; break;
	case 414: why = "request target too long"; break;
	case 431: why = "request header section too large"; break;
	case 501: why = "Transfer-Encoding is not supported; send Content-Length"; break;
	case 505: why = "only HTTP/1.0 and HTTP/1.1 are spoken here"; break;
	default: why = "malformed HTTP request"; break;
	}
	char body[160];
	int n = snprintf(body, sizeof(body), "[\"%s\"]", why);
	queue_response(c, status, "application/json", body, (size_t)n, false, NULL);
	c->close_after = true;
	c->linger = true;
}

/* more: further input is buffered after this request; used: its bytes. */
static void serve(struct api_server *s, struct api_conn *c,
		  struct http_request *req, bool more, size_t used)
{
	struct api_response r = { .status = 500 };
	int fds[API_MAX_FDS];
	unsigned nfds = 0;
	for (unsigned i = 0; i < c->nfds; i++)
		if (c->fd_at[i] < used)
			fds[nfds++] = c->fds[i];
	req->fds = fds;
	req->nfds = nfds;
	if (c->fds_refused && nfds) {
		log_ratelimited(&s->rl, LOG_INFO,
				"api: %s %s: more than %d file descriptors; refused",
				req->method, req->path, API_MAX_FDS);
		r.status = 400;
		r.body = strdup("[\"at most " API_MAX_FDS_TEXT " file descriptors may come with a request\"]");
		r.body_len = r.body ? strlen(r.body) : 0;
		c->fds_refused = false;
	} else {
		s->handler(s->opaque, req, &r);
	}
	/* Taken or not, the request's fds go now (a keeper dup()ed them). */
	drop_fds(c, used, false);
	/* A client that shut its side still gets every buffered answer. */
	bool keep = req->keep_alive && (!c->peer_eof || more);
	const char *ctype = r.content_type;
	if (!ctype && r.body_len)
		ctype = "application/json";
	queue_response(c, r.status, ctype, r.body, r.body_len, keep,
		       r.extra_headers[0] ? r.extra_headers : NULL);
	free(r.body);
}

/*
 * Handles the complete requests in the input buffer, one at a time, while
 * no output is pending. True if it answered at least one.
 */
static bool process_input(struct api_server *s, struct api_conn *c)
{
	bool served = false;
	while (!c->close_after && c->out_off >= c->out.len && c->in_len) {
		struct http_request req;
		size_t used;
		int status;
		int ret = http_parse_request(&c->parser, c->in, c->in_len, API_MAX_BODY,
					     &req, &used, &status);
		if (ret == -EAGAIN) {
			if (c->peer_eof) /* half a request and no more coming */
				c->close_after = true;
			return served;
		}
		http_parser_reset(&c->parser);
		if (ret) {
			log_ratelimited(&s->rl, LOG_DEBUG, "api: refused a request: %d %s",
					status, http_reason(status));
			refuse(c, status);
			c->in_len = 0;
			drop_fds(c, 0, true);
			return served;
		}
		serve(s, c, &req, c->in_len > used, used);
		served = true;
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
	}
	if (c->peer_eof && !c->in_len)
		c->close_after = true;
	return served;
}

/* Keeps the fds of one SCM_RIGHTS message as arriving at input offset at. */
static void take_fds(struct api_conn *c, struct msghdr *m, size_t at)
{
	if (m->msg_flags & MSG_CTRUNC)
		c->fds_refused = true; /* the kernel closed what did not fit */
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (c->nfds == API_MAX_FDS) {
				close(fd);
				c->fds_refused = true;
				continue;
			}
			c->fds[c->nfds] = fd;
			c->fd_at[c->nfds++] = at;
		}
	}
}

/* Reads what is there (up to the buffer limit): 0, or -errno (close). */
static int conn_read(struct api_conn *c)
{
	for (;;) {
		if (c->in_len == IN_MAX)
			return 0;
		if (c->in_cap - c->in_len < 1024 && c->in_cap < IN_MAX) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
			if (cap > IN_MAX)
				cap = IN_MAX;
			char *p = realloc(c->in, cap);
			if (!p)
				return -ENOMEM;
			c->in = p;
			c->in_cap = cap;
		}
		union {
			char buf[CMSG_SPACE(sizeof(int) * API_MAX_FDS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { c->in + c->in_len, c->in_cap - c->in_len };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
		ssize_t n = recvmsg(c->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n >= 0)
			take_fds(c, &m, c->in_len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		if (n == 0) {
			c->peer_eof = true;
			return 0;
		}
		c->in_len += (size_t)n;
		c->last_ms = now_ms();
	}
}

/* Lingering: throw input away until EOF, the cap, or the linger timeout. */
static void conn_drain(struct api_server *s, struct api_conn *c)
{
	char buf[4096];
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0 || (c->discarded += (size_t)n) > DISCARD_MAX) {
			conn_close(s, c);
			return;
		}
	}
}

/* After output went out: close, linger, or wait for the next request. */
static void conn_after_write(struct api_server *s, struct api_conn *c)
{
	if (c->out_off < c->out.len) {
		if (conn_watch(s, c))
			conn_close(s, c);
		return;
	}
	if (c->close_after) {
		if (!c->linger || c->peer_eof) {
			conn_close(s, c);
			return;
		}
		shutdown(c->fd, SHUT_WR);
		c->lingering = true;
		c->last_ms = now_ms();
		if (conn_watch(s, c))
			conn_close(s, c);
		else
			conn_drain(s, c);
		return;
	}
	if (conn_watch(s, c))
		conn_close(s, c);
}

static void conn_event(struct api_server *s, struct api_conn *c, uint32_t events)
{
	if (c->lingering) {
		conn_drain(s, c);
		return;
	}
	if (c->out_off < c->out.len) {
		if (conn_write(c)) {
			conn_close(s, c);
			return;
		}
		if (c->out_off < c->out.len) {
			if (events & (EPOLLERR | EPOLLHUP))
				conn_close(s, c);
			return;
		}
		/* Written: requests already buffered may follow. */
	}
	if (!c->close_after && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		if (conn_read(c)) {
			conn_close(s, c);
			return;
		}
	}
	/*
	 * Answer, write, and go on with the requests already buffered behind
	 * it while the socket takes each answer whole: a pipelining client
	 * that keeps its side open sends nothing more to wake us for them.
	 */
	bool served;
	do {
		served = process_input(s, c);
		if (conn_write(c)) {
			conn_close(s, c);
			return;
		}
	} while (served && c->out_off >= c->out.len && !c->close_after);
	conn_after_write(s, c);
}

static void accept_clients(struct api_server *s)
{
	for (int i = 0; i < 16; i++) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_ratelimited(&s->rl, LOG_WARN, "api: accept: %s",
						strerror(errno));
			return;
		}
		struct api_conn *c = NULL, *oldest = NULL;
		for (unsigned k = 0; k < API_MAX_CLIENTS && !c; k++) {
			struct api_conn *o = &s->conns[k];
			if (o->fd < 0)
				c = o;
			else if (!oldest || o->last_ms < oldest->last_ms)
				oldest = o;
		}
		if (!c) {
			/* Full: the client quiet the longest makes room, so that
			 * idle or stalled ones cannot lock everyone else out. */
			log_ratelimited(&s->rl, LOG_WARN,
					"api: %d clients; closing the one idle longest",
					API_MAX_CLIENTS);
			conn_close(s, oldest);
			c = oldest;
		}
		c->fd = fd;
		c->events = EPOLLIN;
		c->close_after = c->linger = c->lingering = c->peer_eof = false;
		c->discarded = 0;
		c->last_ms = now_ms();
		http_parser_reset(&c->parser);
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = conn_tag(s, c) };
		if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			log_ratelimited(&s->rl, LOG_WARN, "api: epoll_ctl: %s",
					strerror(errno));
			close(fd);
			c->fd = -1;
		}
	}
}

/* The 1 s timer: closes clients that went quiet. */
static void sweep(struct api_server *s)
{
	uint64_t ticks;
	if (read(s->timer_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_debug("api: timerfd read: %s", strerror(errno));
	uint64_t now = now_ms();
	for (unsigned k = 0; k < API_MAX_CLIENTS; k++) {
		struct api_conn *c = &s->conns[k];
		if (c->fd < 0)
			continue;
		uint64_t limit = c->lingering ? s->linger_ms : s->idle_ms;
		if (now - c->last_ms >= limit) {
			log_debug("api: closing a client idle for %llu ms",
				  (unsigned long long)(now - c->last_ms));
			conn_close(s, c);
		}
	}
}

void api_server_process(struct api_server *s)
{
	struct epoll_event evs[16];
	int n = epoll_wait(s->epoll_fd, evs, 16, 0);
	for (int i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64;
		if (tag == TAG_LISTEN) {
			accept_clients(s);
		} else if (tag == TAG_TIMER) {
			sweep(s);
		} else {
			uint32_t idx = (uint32_t)tag;
			if (idx >= API_MAX_CLIENTS)
				continue;
			struct api_conn *c = &s->conns[idx];
			if (c->fd < 0 || c->gen != (uint32_t)(tag >> 32))
				continue; /* closed (and maybe reused) meanwhile */
			conn_event(s, c, evs[i].events);
		}
	}
}

int api_server_fd(const struct api_server *s)
{
	return s->epoll_fd;
}

void api_server_set_timeouts(struct api_server *s, unsigned idle_ms,
			     unsigned linger_ms)
{
	s->idle_ms = idle_ms;
	s->linger_ms = linger_ms;
}

void api_server_flush(struct api_server *s, unsigned timeout_ms)
{
	if (!s)
		return;
	uint64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		struct pollfd pfd[API_MAX_CLIENTS];
		nfds_t n = 0;
		for (unsigned k = 0; k < API_MAX_CLIENTS; k++) {
			struct api_conn *c = &s->conns[k];
			if (c->fd < 0 || c->out_off >= c->out.len)
				continue;
			if (conn_write(c)) {
				conn_close(s, c);
				continue;
			}
			if (c->out_off < c->out.len) {
				pfd[n++] = (struct pollfd){ .fd = c->fd, .events = POLLOUT };
			}
		}
		uint64_t now = now_ms();
		if (n == 0 || now >= deadline)
			return;
		if (poll(pfd, n, (int)(deadline - now)) < 0 && errno != EINTR)
			return;
	}
}

/*
 * Makes room for the socket at `path`: nothing there is fine; a socket
 * nobody listens on is removed; a live socket or anything else is refused.
 */
static int clear_stale(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		int err = errno;
		log_error("--api-socket %s: %s", path, strerror(err));
		return -err;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_error("--api-socket %s: exists and is not a socket", path);
		return -EEXIST;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int err = errno;
		log_error("--api-socket %s: socket: %s", path, strerror(err));
		return -err;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int err = errno;
	close(fd);
	if (r == 0) {
		log_error("--api-socket %s: another process is serving on it", path);
		return -EADDRINUSE;
	}
	if (err != ECONNREFUSED) {
		log_error("--api-socket %s: %s", path, strerror(err));
		return -err;
	}
	log_info("api: replacing the stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT) {
		err = errno;
		log_error("--api-socket %s: cannot remove the stale socket: %s", path,
			  strerror(err));
		return -err;
	}
	return 0;
}

static int server_listen(struct api_server *s, const char *path)
{
	int ret = clear_stale(path);
	if (ret)
		return ret;
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0) {
		int err = errno;
		log_error("--api-socket %s: socket: %s", path, strerror(err));
		return -err;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* Created 0600 from the start: no moment where others may connect. */
	mode_t old = umask(0177);
	int r = bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	int err = errno;
	umask(old);
	if (r < 0) {
		log_error("--api-socket %s: bind: %s", path, strerror(err));
		return -err;
	}
	struct stat st;
	if (lstat(path, &st) < 0) {
		err = errno;
		log_error("--api-socket %s: %s", path, strerror(err));
		unlink(path);
		return -err;
	}
	s->own_file = true;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if (chmod(path, 0600) < 0) {
		err = errno;
		log_error("--api-socket %s: chmod: %s", path, strerror(err));
		return -err;
	}
	if (listen(s->listen_fd, 16) < 0) {
		err = errno;
		log_error("--api-socket %s: listen: %s", path, strerror(err));
		return -err;
	}
	return 0;
}

static int epoll_add_tag(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int api_server_create(struct api_server **out, const char *path,
		      api_handler_fn handler, void *opaque)
{
	*out = NULL;
	size_t plen = strlen(path);
	struct api_server *s = calloc(1, sizeof(*s));
	if (!s) {
		log_error("--api-socket %s: out of memory", path);
		return -ENOMEM;
	}
	if (plen == 0 || plen >= sizeof(s->path)) {
		log_error("--api-socket %s: the path must be 1-%zu bytes", path,
			  sizeof(s->path) - 1);
		free(s);
		return -ENAMETOOLONG;
	}
	memcpy(s->path, path, plen + 1);
	s->listen_fd = s->epoll_fd = s->timer_fd = -1;
	s->handler = handler;
	s->opaque = opaque;
	s->idle_ms = API_IDLE_TIMEOUT_MS;
	s->linger_ms = API_LINGER_MS;
	for (unsigned k = 0; k < API_MAX_CLIENTS; k++)
		s->conns[k].fd = -1;

	int ret = server_listen(s, path); /* logs its failures */
	if (ret) {
		api_server_destroy(s);
		return ret;
	}
	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->epoll_fd < 0 || s->timer_fd < 0)
		ret = -errno;
	if (!ret) {
		struct itimerspec its = { .it_interval = { .tv_sec = 1 },
					  .it_value = { .tv_sec = 1 } };
		if (timerfd_settime(s->timer_fd, 0, &its, NULL) < 0)
			ret = -errno;
	}
	ret = ret ?: epoll_add_tag(s->epoll_fd, s->listen_fd, TAG_LISTEN);
	ret = ret ?: epoll_add_tag(s->epoll_fd, s->timer_fd, TAG_TIMER);
	if (ret) {
		log_error("--api-socket %s: cannot set up the server: %s", path,
			  strerror(-ret));
		api_server_destroy(s);
		return ret;
	}
	log_info("api: listening on %s", path);
	*out = s;
	return 0;
}

void api_server_destroy(struct api_server *s)
{
	if (!s)
		return;
	for (unsigned k = 0; k < API_MAX_CLIENTS; k++)
		conn_close(s, &s->conns[k]);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->timer_fd >= 0)
		close(s->timer_fd);
	if (s->epoll_fd >= 0)
		close(s->epoll_fd);
	/* Remove the file only if it is still ours (not replaced meanwhile). */
	struct stat st;
	if (s->own_file && lstat(s->path, &st) == 0 && st.st_dev == s->dev &&
	    st.st_ino == s->ino)
		unlink(s->path);
	free(s);
}
