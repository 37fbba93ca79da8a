/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user front-end; see vhost/user.h. Written from QEMU's
 * docs/interop/vhost-user.rst.
 *
 * Locking: `lock` is held for the whole of a request (send, reply) and
 * for a reconnect; it guards fd, the negotiated values and buf. `broken`
 * is atomic: a device's watcher thread may break the connection
 * (vhost_user_hangup) while a vCPU waits for a reply under the lock.
 */
#include "vhost/user.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "unix_msg.h"
#include "vhost/user_proto.h"

#define HDR_SIZE sizeof(struct vhost_user_hdr)
/* The largest payload either side sends: a GET/SET_CONFIG of 256 bytes
 * or a full memory table. */
#define MAX_PAYLOAD 512u
_Static_assert(sizeof(struct vhost_user_config_hdr) + VHOST_USER_MAX_CONFIG <= MAX_PAYLOAD,
	       "config payload");
_Static_assert(sizeof(struct vhost_user_mem_table) <= MAX_PAYLOAD, "memory table payload");
/* What cvmm takes of the backend's protocol features. */
#define WANT_PROTOCOL ((1ULL << VHOST_USER_PROTOCOL_F_MQ) |           \
		       (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) |    \
		       (1ULL << VHOST_USER_PROTOCOL_F_CONFIG))
/* Far more queues than any device of cvmm's has; a larger count is nonsense. */
#define MAX_QUEUE_NUM 0x8000u

struct vhost_user {
	char name[64];
	char path[108]; /* "" when opened from an fd */
	unsigned timeout_ms;
	void (*on_broken)(void *opaque);
	void *opaque;
	struct ratelimit rl; /* refused requests, failed reconnects */
	struct ratelimit broken_rl; /* connection losses */

	pthread_mutex_t lock;
	atomic_bool broken;
	int fd;
	uint64_t features;
	uint64_t protocol;
	unsigned queue_num;
	bool negotiated; /* once: later connections must match it */
	bool reconnecting; /* a failed reconnect is logged rate-limited */
	uint8_t buf[HDR_SIZE + MAX_PAYLOAD];
};

static const char *req_name(uint32_t req)
{
	switch (req) {
	case VHOST_USER_GET_FEATURES: return "GET_FEATURES";
	case VHOST_USER_SET_FEATURES: return "SET_FEATURES";
	case VHOST_USER_SET_OWNER: return "SET_OWNER";
	case VHOST_USER_SET_MEM_TABLE: return "SET_MEM_TABLE";
	case VHOST_USER_SET_VRING_NUM: return "SET_VRING_NUM";
	case VHOST_USER_SET_VRING_ADDR: return "SET_VRING_ADDR";
	case VHOST_USER_SET_VRING_BASE: return "SET_VRING_BASE";
	case VHOST_USER_GET_VRING_BASE: return "GET_VRING_BASE";
	case VHOST_USER_SET_VRING_KICK: return "SET_VRING_KICK";
	case VHOST_USER_SET_VRING_CALL: return "SET_VRING_CALL";
	case VHOST_USER_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
	case VHOST_USER_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
	case VHOST_USER_GET_QUEUE_NUM: return "GET_QUEUE_NUM";
	case VHOST_USER_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
	case VHOST_USER_GET_CONFIG: return "GET_CONFIG";
	case VHOST_USER_SET_CONFIG: return "SET_CONFIG";
	default: return "an unknown request";
	}
}

/* "(PATH)" after the device's name, when there is a path. */
static const char *where(const struct vhost_user *u, char *buf, size_t len)
{
	if (u->path[0])
		snprintf(buf, len, " (%s)", u->path);
	else
		buf[0] = '\0';
	return buf;
}

/*
 * The connection is lost: one line saying why, the device told (it needs
 * a reset), and every request fails at once from now on. -EIO.
 */
static int broken(struct vhost_user *u, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int broken(struct vhost_user *u, const char *fmt, ...)
{
	if (atomic_exchange(&u->broken, true))
		return -EIO;
	char why[160], w[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (u->reconnecting)
		log_ratelimited(&u->rl, LOG_WARN, "%s: vhost-user backend%s: cannot reconnect: %s",
				u->name, where(u, w, sizeof(w)), why);
	else /* once per loss; a guest resetting a device whose backend keeps
	      * dropping it (reconnect, a bad descriptor, again) is limited */
		log_ratelimited(&u->broken_rl, LOG_ERROR, "%s: vhost-user backend%s: %s; device needs reset",
				u->name, where(u, w, sizeof(w)), why);
	if (u->on_broken)
		u->on_broken(u->opaque);
	return -EIO;
}

void vhost_user_hangup(struct vhost_user *u)
{
	broken(u, "the backend closed the connection");
}

/* ---- one message each way ---- */

/* The whole message in u->buf (len bytes), fds with its first byte. */
static int send_msg(struct vhost_user *u, uint32_t req, size_t len, const int *fds,
		    unsigned nfds, uint64_t deadline)
{
	if (nfds > VHOST_USER_MAX_REGIONS)
		return -EINVAL;
	int r = unix_msg_send(u->fd, u->buf, len, fds, nfds, deadline);
	switch (r) {
	case 0:
		return 0;
	case -ETIMEDOUT:
		return broken(u, "%s: the backend takes no more data (%u ms)", req_name(req),
			      u->timeout_ms);
	case -EPIPE:
	case -ECONNRESET:
		return broken(u, "%s: the backend closed the connection", req_name(req));
	default:
		return broken(u, "%s: send: %s", req_name(req), strerror(-r));
	}
}

/* Exactly len bytes into buf; file descriptors that come along are closed
 * (nothing cvmm asks for carries one). */
static int recv_exact(struct vhost_user *u, uint32_t req, void *buf, size_t len,
		      uint64_t deadline)
{
	int r = unix_msg_recv_exact(u->fd, buf, len, NULL, NULL, 0, deadline);
	switch (r) {
	case 0:
		return 0;
	case -ETIMEDOUT:
		return broken(u, "%s: no reply in %u ms", req_name(req), u->timeout_ms);
	case -EPIPE:
	case -ECONNRESET:
		return broken(u, "%s: the backend closed the connection", req_name(req));
	case -ECONNABORTED:
		return broken(u, "%s: the backend closed the connection in the middle of a reply",
			      req_name(req));
	default:
		return broken(u, "%s: recv: %s", req_name(req), strerror(-r));
	}
}

/*
 * The reply to `req`: header checked (version 1, REPLY set, the request
 * it answers, a payload of at most `max` bytes), the payload read into
 * u->buf + HDR_SIZE. *size: its length.
 */
static int recv_reply(struct vhost_user *u, uint32_t req, uint32_t max, uint32_t *size,
		      uint64_t deadline)
{
	struct vhost_user_hdr h;
	int r = recv_exact(u, req, &h, HDR_SIZE, deadline);
	if (r)
		return r;
	if ((h.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    !(h.flags & VHOST_USER_FLAG_REPLY))
		return broken(u, "%s: reply with flags 0x%x (version 1 and REPLY expected)",
			      req_name(req), h.flags);
	if (h.request != req)
		return broken(u, "%s: the reply is to request %u", req_name(req), h.request);
	if (h.size > max)
		return broken(u, "%s: a reply of %u bytes (at most %u)", req_name(req), h.size,
			      max);
	r = recv_exact(u, req, u->buf + HDR_SIZE, h.size, deadline);
	*size = h.size;
	return r;
}

/* A refusal the guest may provoke: rate-limited, the connection stays. */
static int refused(struct vhost_user *u, uint32_t req, const char *what)
{
	char w[128];
	log_ratelimited(&u->rl, LOG_WARN, "%s: vhost-user backend%s refused %s%s",
			u->name, where(u, w, sizeof(w)), req_name(req), what);
	return -EREMOTEIO;
}

/*
 * One request with `len` bytes of payload (already in u->buf after the
 * header) and fds. reply_len > 0: the request has a reply of exactly that
 * many bytes (GET_*), left in u->buf + HDR_SIZE; 0: with REPLY_ACK the
 * backend acknowledges it. Lock held.
 */
static int transact_locked(struct vhost_user *u, uint32_t req, uint32_t len, const int *fds,
			   unsigned nfds, uint32_t reply_len)
{
	if (atomic_load(&u->broken) || u->fd < 0)
		return -EIO;
	bool ack = !reply_len && (u->protocol >> VHOST_USER_PROTOCOL_F_REPLY_ACK & 1);
	struct vhost_user_hdr h = {
		.request = req,
		.flags = VHOST_USER_VERSION | (ack ? VHOST_USER_FLAG_NEED_REPLY : 0),
		.size = len,
	};
	memcpy(u->buf, &h, HDR_SIZE);
	uint64_t deadline = unix_msg_now_ms() + u->timeout_ms;
	int r = send_msg(u, req, HDR_SIZE + len, fds, nfds, deadline);
	if (r || (!reply_len && !ack))
		return r;
	uint32_t size = 0;
	r = recv_reply(u, req, reply_len ? reply_len : sizeof(uint64_t), &size, deadline);
	if (r)
		return r;
	if (reply_len) {
		/* An empty GET_CONFIG reply is the backend's way to say no. */
		if (req == VHOST_USER_GET_CONFIG && size == 0)
			return refused(u, req, " (empty reply)");
		if (size != reply_len)
			return broken(u, "%s: a reply of %u bytes (%u expected)", req_name(req),
				      size, reply_len);
		return 0;
	}
	if (size != sizeof(uint64_t))
		return broken(u, "%s: an acknowledgement of %u bytes", req_name(req), size);
	uint64_t status;
	memcpy(&status, u->buf + HDR_SIZE, sizeof(status));
	if (status) {
		char what[48];
		snprintf(what, sizeof(what), " (status %llu)", (unsigned long long)status);
		return refused(u, req, what);
	}
	return 0;
}

static int transact(struct vhost_user *u, uint32_t req, const void *payload, uint32_t len,
		    const int *fds, unsigned nfds, void *reply, uint32_t reply_len)
{
	if (len > MAX_PAYLOAD || reply_len > MAX_PAYLOAD)
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	if (len)
		memcpy(u->buf + HDR_SIZE, payload, len);
	int r = transact_locked(u, req, len, fds, nfds, reply_len);
	if (!r && reply_len)
		memcpy(reply, u->buf + HDR_SIZE, reply_len);
	pthread_mutex_unlock(&u->lock);
	return r;
}

static int get_u64(struct vhost_user *u, uint32_t req, uint64_t *v)
{
	return transact(u, req, NULL, 0, NULL, 0, v, sizeof(*v));
}

static int set_u64(struct vhost_user *u, uint32_t req, uint64_t v)
{
	return transact(u, req, &v, sizeof(v), NULL, 0, NULL, 0);
}

/* ---- negotiation ---- */

/* GET_FEATURES, the protocol features, GET_QUEUE_NUM, SET_OWNER. */
static int negotiate(struct vhost_user *u)
{
	uint64_t features = 0, offered = 0, queues = 0;
	int r = get_u64(u, VHOST_USER_GET_FEATURES, &features);
	if (!r && (features >> VHOST_USER_F_PROTOCOL_FEATURES & 1)) {
		r = get_u64(u, VHOST_USER_GET_PROTOCOL_FEATURES, &offered);
		r = r ?: set_u64(u, VHOST_USER_SET_PROTOCOL_FEATURES, offered & WANT_PROTOCOL);
		/* From here on REPLY_ACK applies (the request above went without). */
		if (!r)
			u->protocol = offered & WANT_PROTOCOL;
	}
	if (!r && (u->protocol >> VHOST_USER_PROTOCOL_F_MQ & 1)) {
		r = get_u64(u, VHOST_USER_GET_QUEUE_NUM, &queues);
		if (!r && (queues == 0 || queues > MAX_QUEUE_NUM))
			r = broken(u, "GET_QUEUE_NUM: %llu queues", (unsigned long long)queues);
	}
	r = r ?: transact(u, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, NULL, 0);
	if (r)
		return r;
	if (u->negotiated && features != u->features) {
		char w[128];
		log_ratelimited(&u->rl, LOG_ERROR,
				"%s: vhost-user backend%s now offers features 0x%llx, not 0x%llx as before; not used",
				u->name, where(u, w, sizeof(w)), (unsigned long long)features,
				(unsigned long long)u->features);
		return -EIO;
	}
	u->features = features;
	u->queue_num = (unsigned)queues;
	u->negotiated = true;
	return 0;
}

static void set_params(struct vhost_user *u, const struct vhost_user_params *p)
{
	snprintf(u->name, sizeof(u->name), "%s", p->name ? p->name : "vhost-user");
	snprintf(u->path, sizeof(u->path), "%s", p->socket ? p->socket : "");
	u->timeout_ms = p->timeout_ms ? p->timeout_ms : VHOST_USER_TIMEOUT_MS;
	u->on_broken = p->on_broken;
	u->opaque = p->opaque;
}

int vhost_user_open_fd(int fd, const struct vhost_user_params *p, struct vhost_user **out)
{
	*out = NULL;
	struct vhost_user *u = calloc(1, sizeof(*u));
	if (!u) {
		close(fd);
		return -ENOMEM;
	}
	set_params(u, p);
	u->fd = fd;
	pthread_mutex_init(&u->lock, NULL);
	atomic_init(&u->broken, false);
	/* No device to tell yet: a failure here is the build's, logged once. */
	u->on_broken = NULL;
	int r = negotiate(u);
	u->on_broken = p->on_broken;
	if (r) {
		if (r != -EIO) { /* -EIO: broken() said why */
			char w[128];
			log_error("%s: vhost-user backend%s: %s", u->name, where(u, w, sizeof(w)),
				  strerror(-r));
		}
		vhost_user_close(u);
		return r;
	}
	char w[128];
	log_debug("%s: vhost-user backend%s: features 0x%llx, protocol features 0x%llx, %u queues",
		  u->name, where(u, w, sizeof(w)), (unsigned long long)u->features,
		  (unsigned long long)u->protocol, u->queue_num);
	*out = u;
	return 0;
}

/* A connected socket to path, or -errno (not logged). */
static int connect_path(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

int vhost_user_connect(const struct vhost_user_params *p, struct vhost_user **out)
{
	*out = NULL;
	if (!p->socket)
		return -EINVAL;
	int fd = connect_path(p->socket);
	if (fd < 0) {
		log_error("%s: cannot connect to the vhost-user backend at %s: %s",
			  p->name ? p->name : "vhost-user", p->socket, strerror(-fd));
		return fd;
	}
	return vhost_user_open_fd(fd, p, out);
}

int vhost_user_reconnect(struct vhost_user *u)
{
	if (!u->path[0])
		return -ENOTCONN;
	pthread_mutex_lock(&u->lock);
	int r = 0;
	if (!atomic_load(&u->broken))
		goto out;
	int fd = connect_path(u->path);
	if (fd < 0) {
		log_ratelimited(&u->rl, LOG_WARN,
				"%s: vhost-user backend (%s): cannot reconnect: %s", u->name,
				u->path, strerror(-fd));
		r = -EIO;
		goto out;
	}
	if (u->fd >= 0)
		close(u->fd);
	u->fd = fd;
	u->protocol = 0;
	atomic_store(&u->broken, false);
	/* A failure breaks the connection again (a rate-limited line). */
	u->reconnecting = true;
	pthread_mutex_unlock(&u->lock);
	r = negotiate(u);
	pthread_mutex_lock(&u->lock);
	u->reconnecting = false;
	if (r) {
		/* Not this backend: let it go. */
		atomic_store(&u->broken, true);
		close(u->fd);
		u->fd = -1;
		r = -EIO;
	} else {
		log_ratelimited(&u->rl, LOG_INFO, "%s: vhost-user backend (%s): reconnected",
				u->name, u->path);
	}
out:
	pthread_mutex_unlock(&u->lock);
	return r;
}

void vhost_user_close(struct vhost_user *u)
{
	if (!u)
		return;
	if (u->fd >= 0)
		close(u->fd);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

uint64_t vhost_user_features(const struct vhost_user *u)
{
	return u->features;
}

uint64_t vhost_user_protocol_features(const struct vhost_user *u)
{
	return u->protocol;
}

unsigned vhost_user_queue_num(const struct vhost_user *u)
{
	return u->queue_num;
}

bool vhost_user_broken(const struct vhost_user *u)
{
	return atomic_load(&u->broken);
}

int vhost_user_fd(const struct vhost_user *u)
{
	return u->fd;
}

/* ---- requests ---- */

int vhost_user_set_features(struct vhost_user *u, uint64_t features)
{
	features &= ~(1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
	features |= u->features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
	return set_u64(u, VHOST_USER_SET_FEATURES, features);
}

int vhost_user_set_mem_table(struct vhost_user *u, const struct guest_mem *mem)
{
	struct vhost_user_mem_table t = { .nregions = mem->count };
	int fds[VHOST_USER_MAX_REGIONS];
	if (mem->count == 0 || mem->count > VHOST_USER_MAX_REGIONS)
		return -EINVAL;
	for (unsigned i = 0; i < mem->count; i++) {
		const struct guest_region *g = &mem->regions[i];
		if (g->fd < 0)
			return -EINVAL; /* private memory: nothing to share */
		t.regions[i] = (struct vhost_user_region){
			.guest_phys_addr = g->gpa,
			.memory_size = g->size,
			.userspace_addr = (uint64_t)(uintptr_t)g->hva,
			.mmap_offset = g->fd_offset,
		};
		fds[i] = g->fd;
	}
	uint32_t len = (uint32_t)(offsetof(struct vhost_user_mem_table, regions) +
				  mem->count * sizeof(struct vhost_user_region));
	return transact(u, VHOST_USER_SET_MEM_TABLE, &t, len, fds, mem->count, NULL, 0);
}

static int set_state(struct vhost_user *u, uint32_t req, unsigned q, unsigned num)
{
	struct vhost_vring_state s = { .index = q, .num = num };
	return transact(u, req, &s, sizeof(s), NULL, 0, NULL, 0);
}

int vhost_user_set_vring_num(struct vhost_user *u, unsigned q, unsigned num)
{
	return set_state(u, VHOST_USER_SET_VRING_NUM, q, num);
}

int vhost_user_set_vring_base(struct vhost_user *u, unsigned q, unsigned base)
{
	return set_state(u, VHOST_USER_SET_VRING_BASE, q, base);
}

int vhost_user_set_vring_enable(struct vhost_user *u, unsigned q, bool enable)
{
	return set_state(u, VHOST_USER_SET_VRING_ENABLE, q, enable);
}

int vhost_user_set_vring_addr(struct vhost_user *u, const struct vhost_vring_addr *a)
{
	return transact(u, VHOST_USER_SET_VRING_ADDR, a, sizeof(*a), NULL, 0, NULL, 0);
}

static int set_vring_fd(struct vhost_user *u, uint32_t req, unsigned q, int fd)
{
	if (q > VHOST_USER_VRING_IDX_MASK)
		return -EINVAL;
	uint64_t v = q | (fd < 0 ? VHOST_USER_VRING_NOFD : 0);
	return transact(u, req, &v, sizeof(v), fd < 0 ? NULL : &fd, fd < 0 ? 0 : 1, NULL, 0);
}

int vhost_user_set_vring_kick(struct vhost_user *u, unsigned q, int fd)
{
	return set_vring_fd(u, VHOST_USER_SET_VRING_KICK, q, fd);
}

int vhost_user_set_vring_call(struct vhost_user *u, unsigned q, int fd)
{
	return set_vring_fd(u, VHOST_USER_SET_VRING_CALL, q, fd);
}

int vhost_user_get_vring_base(struct vhost_user *u, unsigned q, unsigned *base)
{
	struct vhost_vring_state s = { .index = q };
	int r = transact(u, VHOST_USER_GET_VRING_BASE, &s, sizeof(s), NULL, 0, &s, sizeof(s));
	if (r)
		return r;
	if (s.index != q)
		return broken(u, "GET_VRING_BASE: the reply is for ring %u, not %u", s.index, q);
	*base = s.num;
	return 0;
}

int vhost_user_get_config(struct vhost_user *u, uint32_t off, void *buf, uint32_t len)
{
	if (!vhost_user_has_protocol(u, VHOST_USER_PROTOCOL_F_CONFIG))
		return -ENOTSUP;
	if (len == 0 || len > VHOST_USER_MAX_CONFIG || off > VHOST_USER_MAX_CONFIG - len)
		return -EINVAL;
	uint8_t msg[sizeof(struct vhost_user_config_hdr) + VHOST_USER_MAX_CONFIG] = { 0 };
	struct vhost_user_config_hdr h = { .offset = off, .size = len };
	memcpy(msg, &h, sizeof(h));
	uint32_t n = (uint32_t)sizeof(h) + len;
	int r = transact(u, VHOST_USER_GET_CONFIG, msg, n, NULL, 0, msg, n);
	if (r)
		return r;
	struct vhost_user_config_hdr got;
	memcpy(&got, msg, sizeof(got));
	if (got.offset != off || got.size != len)
		return broken(u, "GET_CONFIG: the reply is for %u bytes at %u, not %u at %u",
			      got.size, got.offset, len, off);
	memcpy(buf, msg + sizeof(h), len);
	return 0;
}

int vhost_user_set_config(struct vhost_user *u, uint32_t off, const void *buf,
			  uint32_t len)
{
	if (!vhost_user_has_protocol(u, VHOST_USER_PROTOCOL_F_CONFIG))
		return -ENOTSUP;
	if (len == 0 || len > VHOST_USER_MAX_CONFIG || off > VHOST_USER_MAX_CONFIG - len)
		return -EINVAL;
	uint8_t msg[sizeof(struct vhost_user_config_hdr) + VHOST_USER_MAX_CONFIG];
	struct vhost_user_config_hdr h = {
		.offset = off, .size = len, .flags = VHOST_USER_CONFIG_FRONTEND,
	};
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), buf, len);
	return transact(u, VHOST_USER_SET_CONFIG, msg, (uint32_t)sizeof(h) + len, NULL, 0,
			NULL, 0);
}
