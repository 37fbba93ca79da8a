/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user client backend; see vfio/user.h. Written from QEMU's
 * docs/interop/vfio-user.rst.
 *
 * Locking: `lock` is held for the whole of an operation (its request, the
 * server requests served while waiting, its reply) and by
 * vfio_user_service(); it guards every field below it. vCPU threads
 * (trapped BAR and config accesses) and the control thread take it.
 */
#include "vfio/user.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "unix_msg.h"
#include "vfio/user_proto.h"

/* What cvmm offers the server (VERSION capabilities). */
#define MAX_RECV_FDS 8u               /* fds in one message to cvmm */
#define MAX_XFER (1u << 20)           /* data in one DMA/REGION read/write */
#define HDR_SIZE sizeof(struct vfio_user_hdr)
/* The largest message either side may send: a transfer and its header. */
#define MAX_MSG (HDR_SIZE + 64 + MAX_XFER)
/* A region info reply with capabilities may be at most this large. */
#define MAX_REGION_INFO 65536u
/* Sanity bounds on what the server describes. */
#define MAX_REGIONS 64u
#define MAX_IRQ_INDEXES 64u
#define MAX_IRQS 2048u                /* the MSI-X maximum */
#define MAX_DMA_WINDOWS 16u
#define MAX_CAPS 16u                  /* region capabilities walked */

/* A range of guest memory DMA_MAP made known to the server. */
struct dma_window {
	uint64_t iova;
	uint64_t size;
	uint8_t *hva;
};

/* What DEVICE_GET_REGION_INFO said about a region, for region_mmap. */
struct region_map {
	int fd;          /* from the region info reply; -1: none */
	uint64_t offset; /* mmap offset of the region's start in fd */
	uint64_t size;
	unsigned nareas;
	struct vfio_area areas[VFIO_MAX_AREAS];
};

struct vfio_user {
	struct vfio_backend base; /* first: the core sees only this */
	int fd;
	unsigned timeout_ms;
	/* Peer-driven lines: error replies, refused DMA requests. */
	struct ratelimit rl;
	pthread_mutex_t lock;
	bool broken;
	uint16_t next_id;
	uint32_t server_max_fds;  /* fds the server takes in one message */
	uint32_t server_max_xfer; /* data it takes or gives in one message */
	struct vfio_device_info info; /* argsz .. num_irqs: the 16 wire bytes */
	struct region_map regions[MAX_REGIONS];
	struct dma_window dma[MAX_DMA_WINDOWS];
	unsigned ndma;
	uint8_t *buf; /* MAX_MSG bytes: one message in or out at a time */
};

static struct vfio_user *to_user(struct vfio_backend *b)
{
	return (struct vfio_user *)b;
}

static const char *cmd_name(unsigned cmd)
{
	switch (cmd) {
	case VFIO_USER_VERSION: return "VERSION";
	case VFIO_USER_DMA_MAP: return "DMA_MAP";
	case VFIO_USER_DMA_UNMAP: return "DMA_UNMAP";
	case VFIO_USER_DEVICE_GET_INFO: return "DEVICE_GET_INFO";
	case VFIO_USER_DEVICE_GET_REGION_INFO: return "DEVICE_GET_REGION_INFO";
	case VFIO_USER_DEVICE_GET_IRQ_INFO: return "DEVICE_GET_IRQ_INFO";
	case VFIO_USER_DEVICE_SET_IRQS: return "DEVICE_SET_IRQS";
	case VFIO_USER_REGION_READ: return "REGION_READ";
	case VFIO_USER_REGION_WRITE: return "REGION_WRITE";
	case VFIO_USER_DMA_READ: return "DMA_READ";
	case VFIO_USER_DMA_WRITE: return "DMA_WRITE";
	case VFIO_USER_DEVICE_RESET: return "DEVICE_RESET";
	default: return "an unknown command";
	}
}

/*
 * The connection is lost: says why once (the socket named), and from here
 * on every operation fails at once. Returns -EIO.
 */
static int broken(struct vfio_user *u, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int broken(struct vfio_user *u, const char *fmt, ...)
{
	if (!u->broken) {
		char why[160];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		log_error("vfio-user %s: %s; the device is lost", u->base.name, why);
		u->broken = true;
	}
	return -EIO;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* ---- sending ---- */

/* One whole message (buf holds header and payload), fds with its first
 * byte. 0, or -EIO (connection broken). */
static int send_msg(struct vfio_user *u, const void *msg, size_t len, const int *fds,
		    unsigned nfds, uint64_t deadline)
{
	int r = unix_msg_send(u->fd, msg, len, fds, nfds, deadline);
	switch (r) {
	case 0:
		return 0;
	case -ETIMEDOUT:
		return broken(u, "the server takes no more data (%u ms)", u->timeout_ms);
	case -EPIPE:
	case -ECONNRESET:
		return broken(u, "the server closed the connection");
	default:
		return broken(u, "send: %s", strerror(-r));
	}
}

/* ---- receiving ---- */

/*
 * Reads exactly len bytes into buf, collecting any fds that come along
 * (at most MAX_RECV_FDS in all, into fds and *nfds). 0, or -EIO.
 */
static int recv_exact(struct vfio_user *u, void *buf, size_t len, int *fds,
		      unsigned *nfds, uint64_t deadline)
{
	int r = unix_msg_recv_exact(u->fd, buf, len, fds, nfds, MAX_RECV_FDS, deadline);
	switch (r) {
	case 0:
		return 0;
	case -ETIMEDOUT:
		return broken(u, "no answer from the server in %u ms", u->timeout_ms);
	case -ECONNRESET:
		return broken(u, "the server closed the connection (reset)");
	case -EMSGSIZE:
		return broken(u, "the server sent more than %u file descriptors", MAX_RECV_FDS);
	case -EPIPE:
	case -ECONNABORTED:
		return broken(u, "the server closed the connection");
	default:
		return broken(u, "recv: %s", strerror(-r));
	}
}

/* One message into u->buf: header checked for size. *len its size. */
static int recv_msg(struct vfio_user *u, size_t *len, int *fds, unsigned *nfds,
		    uint64_t deadline)
{
	*nfds = 0;
	int r = recv_exact(u, u->buf, HDR_SIZE, fds, nfds, deadline);
	struct vfio_user_hdr h;
	memcpy(&h, u->buf, sizeof(h));
	if (!r && (h.size < HDR_SIZE || h.size > MAX_MSG))
		r = broken(u, "a message of %u bytes from the server (at most %zu)",
			   h.size, (size_t)MAX_MSG);
	r = r ?: recv_exact(u, u->buf + HDR_SIZE, h.size - HDR_SIZE, fds, nfds, deadline);
	if (r) {
		close_fds(fds, *nfds);
		*nfds = 0;
		return r;
	}
	*len = h.size;
	return 0;
}

/* ---- serving the server's requests ---- */

/* The window that holds all of [addr, addr+count), or NULL. */
static const struct dma_window *find_window(const struct vfio_user *u, uint64_t addr,
					    uint64_t count)
{
	for (unsigned i = 0; i < u->ndma; i++) {
		const struct dma_window *w = &u->dma[i];
		if (addr >= w->iova && addr - w->iova < w->size && count <= w->size - (addr - w->iova))
			return w;
	}
	return NULL;
}

static int send_reply(struct vfio_user *u, const struct vfio_user_hdr *req, uint32_t err,
		      size_t payload, uint64_t deadline)
{
	struct vfio_user_hdr h = {
		.id = req->id, .cmd = req->cmd, .size = (uint32_t)(HDR_SIZE + payload),
		.flags = VFIO_USER_F_TYPE_REPLY | (err ? VFIO_USER_F_ERROR : 0), .error = err,
	};
	memcpy(u->buf, &h, sizeof(h));
	return send_msg(u, u->buf, HDR_SIZE + payload, NULL, 0, deadline);
}

/*
 * A command from the server in u->buf (len bytes): DMA_READ or DMA_WRITE
 * of guest memory inside a DMA_MAP window; anything else is refused. The
 * reply reuses u->buf. 0, or -EIO.
 */
static int serve(struct vfio_user *u, size_t len, uint64_t deadline)
{
	struct vfio_user_hdr h;
	memcpy(&h, u->buf, sizeof(h));
	bool reply = !(h.flags & VFIO_USER_F_NO_REPLY);
	struct vfio_user_dma_access a;
	uint8_t *data = u->buf + HDR_SIZE + sizeof(a);
	if (h.cmd != VFIO_USER_DMA_READ && h.cmd != VFIO_USER_DMA_WRITE) {
		log_ratelimited(&u->rl, LOG_WARN, "vfio-user %s: the server asked for %s (%u): refused",
				u->base.name, cmd_name(h.cmd), h.cmd);
		return reply ? send_reply(u, &h, ENOTSUP, 0, deadline) : 0;
	}
	if (len < HDR_SIZE + sizeof(a))
		return broken(u, "%s of %zu bytes from the server", cmd_name(h.cmd), len);
	memcpy(&a, u->buf + HDR_SIZE, sizeof(a));
	if (h.cmd == VFIO_USER_DMA_WRITE && len - HDR_SIZE - sizeof(a) != a.count)
		return broken(u, "DMA_WRITE of %llu bytes in a message of %zu",
			      (unsigned long long)a.count, len);
	const struct dma_window *w = a.count <= MAX_XFER ? find_window(u, a.addr, a.count) : NULL;
	if (!w) {
		log_ratelimited(&u->rl, LOG_WARN,
				"vfio-user %s: %s of 0x%llx+0x%llx outside the mapped guest memory: refused",
				u->base.name, cmd_name(h.cmd), (unsigned long long)a.addr,
				(unsigned long long)a.count);
		return reply ? send_reply(u, &h, a.count > MAX_XFER ? EINVAL : EFAULT, 0,
					  deadline) : 0;
	}
	uint8_t *g = w->hva + (a.addr - w->iova);
	if (h.cmd == VFIO_USER_DMA_WRITE) {
		memcpy(g, data, a.count);
		/* The reply: address and count, no data. */
		return reply ? send_reply(u, &h, 0, sizeof(a), deadline) : 0;
	}
	if (!reply)
		return 0;
	memcpy(data, g, a.count);
	return send_reply(u, &h, 0, sizeof(a) + a.count, deadline);
}

/* ---- one request and its reply ---- */

struct xfer {
	unsigned cmd;
	const void *req;        /* payload */
	size_t req_len;
	const int *fds;         /* sent with it */
	unsigned nfds;
	void *reply;            /* the reply's payload goes here ... */
	size_t reply_cap;       /* ... at most this much of it */
	size_t reply_len;       /* out: the payload's whole length */
	size_t reply_min;       /* shorter is garbage */
	int *reply_fds;         /* out: fds that came with the reply (owned) */
	unsigned reply_nfds;
	bool quiet;             /* an error reply is the caller's to report */
};

/*
 * Sends x's request and waits for its reply, serving the server's
 * requests that come first. Caller holds u->lock. 0; the server's errno
 * (negated) for an error reply (logged unless x->quiet); -EIO.
 */
static int transact(struct vfio_user *u, struct xfer *x)
{
	if (u->broken)
		return -EIO;
	uint64_t deadline = unix_msg_now_ms() + u->timeout_ms;
	uint16_t id = u->next_id++;
	if (HDR_SIZE + x->req_len > MAX_MSG)
		return -EINVAL;
	struct vfio_user_hdr h = {
		.id = id, .cmd = (uint16_t)x->cmd, .size = (uint32_t)(HDR_SIZE + x->req_len),
		.flags = VFIO_USER_F_TYPE_COMMAND,
	};
	memcpy(u->buf, &h, sizeof(h));
	if (x->req_len)
		memcpy(u->buf + HDR_SIZE, x->req, x->req_len);
	int r = send_msg(u, u->buf, HDR_SIZE + x->req_len, x->fds, x->nfds, deadline);
	x->reply_nfds = 0;
	while (!r) {
		int fds[MAX_RECV_FDS];
		unsigned nfds;
		size_t len;
		r = recv_msg(u, &len, fds, &nfds, deadline);
		if (r)
			return r;
		struct vfio_user_hdr rh;
		memcpy(&rh, u->buf, sizeof(rh));
		unsigned type = rh.flags & VFIO_USER_F_TYPE_MASK;
		if (type == VFIO_USER_F_TYPE_COMMAND) {
			close_fds(fds, nfds);
			r = serve(u, len, deadline);
			continue;
		}
		if (type != VFIO_USER_F_TYPE_REPLY || rh.id != id || rh.cmd != x->cmd) {
			close_fds(fds, nfds);
			return broken(u, "a message of type %u, id %u, command %u while waiting for the reply to %s (id %u)",
				      type, rh.id, rh.cmd, cmd_name(x->cmd), id);
		}
		if (rh.flags & VFIO_USER_F_ERROR) {
			close_fds(fds, nfds);
			int err = rh.error > 0 && rh.error < 4096 ? (int)rh.error : EIO;
			if (!x->quiet)
				log_ratelimited(&u->rl, LOG_WARN, "vfio-user %s: %s: the server replied: %s",
						u->base.name, cmd_name(x->cmd), strerror(err));
			return -err;
		}
		size_t payload = len - HDR_SIZE;
		if (payload < x->reply_min) {
			close_fds(fds, nfds);
			return broken(u, "a reply to %s of %zu bytes (at least %zu expected)",
				      cmd_name(x->cmd), payload, x->reply_min);
		}
		if (x->reply_cap)
			memcpy(x->reply, u->buf + HDR_SIZE,
			       payload < x->reply_cap ? payload : x->reply_cap);
		x->reply_len = payload;
		if (x->reply_fds) {
			memcpy(x->reply_fds, fds, nfds * sizeof(int));
			x->reply_nfds = nfds;
		} else {
			close_fds(fds, nfds);
		}
		return 0;
	}
	return r;
}

/* ---- VERSION ---- */

/* The server's capabilities from its reply's JSON (NUL-terminated or
 * not): 0, or -EIO (garbage). */
static int parse_caps(struct vfio_user *u, const char *json, size_t len)
{
	u->server_max_fds = VFIO_USER_DEFAULT_MAX_FDS;
	u->server_max_xfer = VFIO_USER_DEFAULT_MAX_XFER;
	while (len && json[len - 1] == '\0')
		len--;
	if (!len)
		return 0;
	cJSON *root = cJSON_ParseWithLength(json, len);
	if (!root)
		return broken(u, "VERSION: the capabilities are not JSON");
	int r = 0;
	const cJSON *caps = cJSON_GetObjectItemCaseSensitive(root, "capabilities");
	if (caps && !cJSON_IsObject(caps))
		r = broken(u, "VERSION: 'capabilities' is not an object");
	const cJSON *fds = cJSON_GetObjectItemCaseSensitive(caps, "max_msg_fds");
	const cJSON *xfer = cJSON_GetObjectItemCaseSensitive(caps, "max_data_xfer_size");
	if (!r && fds) {
		if (!cJSON_IsNumber(fds) || fds->valuedouble < 0 || fds->valuedouble > 1024)
			r = broken(u, "VERSION: bad max_msg_fds");
		else
			u->server_max_fds = (uint32_t)fds->valuedouble;
	}
	if (!r && xfer) {
		if (!cJSON_IsNumber(xfer) || xfer->valuedouble < 1 || xfer->valuedouble > 1e12)
			r = broken(u, "VERSION: bad max_data_xfer_size");
		else
			u->server_max_xfer = xfer->valuedouble > MAX_XFER ? MAX_XFER
							: (uint32_t)xfer->valuedouble;
	}
	/* Migration and twin sockets were not offered: whatever the server
	 * says of them, cvmm uses neither. */
	cJSON_Delete(root);
	return r;
}

static int negotiate(struct vfio_user *u)
{
	char req[sizeof(struct vfio_user_version) + 160];
	struct vfio_user_version v = { .major = VFIO_USER_MAJOR, .minor = VFIO_USER_MINOR };
	memcpy(req, &v, sizeof(v));
	int n = snprintf(req + sizeof(v), sizeof(req) - sizeof(v),
			 "{\"capabilities\":{\"max_msg_fds\":%u,\"max_data_xfer_size\":%u}}",
			 MAX_RECV_FDS, MAX_XFER);
	char *reply = malloc(4096);
	if (!reply)
		return -ENOMEM;
	struct xfer x = {
		.cmd = VFIO_USER_VERSION, .req = req, .req_len = sizeof(v) + (size_t)n + 1,
		.reply = reply, .reply_cap = 4096, .reply_min = sizeof(v),
	};
	int r = transact(u, &x);
	if (!r && x.reply_len > 4096)
		r = broken(u, "VERSION: %zu bytes of capabilities", x.reply_len);
	if (!r) {
		memcpy(&v, reply, sizeof(v));
		if (v.major != VFIO_USER_MAJOR || v.minor > VFIO_USER_MINOR)
			r = broken(u, "the server speaks vfio-user %u.%u, cvmm %u.%u", v.major,
				   v.minor, VFIO_USER_MAJOR, VFIO_USER_MINOR);
	}
	if (!r)
		r = parse_caps(u, reply + sizeof(v), x.reply_len - sizeof(v));
	free(reply);
	if (!r && u->server_max_fds == 0)
		log_debug("vfio-user %s: the server takes no file descriptors", u->base.name);
	return r;
}

/* ---- the operations ---- */

static int op_device_info(struct vfio_backend *b, struct vfio_device_info *info)
{
	struct vfio_user *u = to_user(b);
	pthread_mutex_lock(&u->lock);
	int r = u->broken ? -EIO : 0;
	if (!r) {
		memset(info, 0, sizeof(*info));
		memcpy(info, &u->info, 16);
	}
	pthread_mutex_unlock(&u->lock);
	return r;
}

/* DEVICE_GET_INFO, once at open: argsz, flags, num_regions, num_irqs. */
static int get_device_info(struct vfio_user *u)
{
	uint8_t req[16] = { 0 }, reply[16];
	uint32_t argsz = sizeof(req);
	memcpy(req, &argsz, sizeof(argsz));
	struct xfer x = {
		.cmd = VFIO_USER_DEVICE_GET_INFO, .req = req, .req_len = sizeof(req),
		.reply = reply, .reply_cap = sizeof(reply), .reply_min = sizeof(reply),
	};
	int r = transact(u, &x);
	if (r)
		return r;
	memcpy(&u->info, reply, 16);
	if (u->info.num_regions > MAX_REGIONS || u->info.num_irqs > MAX_IRQ_INDEXES)
		return broken(u, "DEVICE_GET_INFO: %u regions, %u interrupt indexes (at most %u, %u)",
			      u->info.num_regions, u->info.num_irqs, MAX_REGIONS, MAX_IRQ_INDEXES);
	return 0;
}

/* The capability chain of a region info reply (len bytes at p). */
static void parse_region_caps(struct vfio_user *u, unsigned index, const uint8_t *p,
			      size_t len, uint32_t first, struct vfio_region_desc *d, bool *sparse)
{
	uint32_t off = first;
	for (unsigned n = 0; off && n < MAX_CAPS; n++) {
		struct vfio_info_cap_header ch;
		if (off < sizeof(struct vfio_region_info) || off > len || len - off < sizeof(ch)) {
			log_ratelimited(&u->rl, LOG_WARN,
					"vfio-user %s: region %u: capability at %u outside the reply (%zu bytes)",
					u->base.name, index, off, len);
			return;
		}
		memcpy(&ch, p + off, sizeof(ch));
		if (ch.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			struct vfio_region_info_cap_sparse_mmap sm;
			if (len - off < sizeof(sm))
				return;
			memcpy(&sm, p + off, sizeof(sm));
			size_t room = (len - off - sizeof(sm)) / sizeof(struct vfio_region_sparse_mmap_area);
			*sparse = true;
			d->nareas = 0;
			for (uint32_t i = 0; i < sm.nr_areas && i < room; i++) {
				struct vfio_region_sparse_mmap_area a;
				memcpy(&a, p + off + sizeof(sm) + i * sizeof(a), sizeof(a));
				if (!a.size || a.offset > d->size || a.size > d->size - a.offset)
					continue; /* empty, or outside the region */
				if (d->nareas == VFIO_MAX_AREAS)
					break;
				d->areas[d->nareas++] = (struct vfio_area){ a.offset, a.size };
			}
		} else if (ch.id == VFIO_REGION_INFO_CAP_MSIX_MAPPABLE) {
			d->msix_mappable = true;
		}
		if (ch.next && ch.next <= off)
			return; /* a loop, or backwards: stop here */
		off = ch.next;
	}
}

static int op_region_info(struct vfio_backend *b, unsigned index, struct vfio_region_desc *out)
{
	struct vfio_user *u = to_user(b);
	memset(out, 0, sizeof(*out));
	if (index >= MAX_REGIONS)
		return -EINVAL;
	uint32_t cap = 512;
	uint8_t *reply = NULL;
	int r = 0, fds[MAX_RECV_FDS];
	struct xfer x = { 0 };
	pthread_mutex_lock(&u->lock);
	for (int tries = 0; tries < 2; tries++) {
		struct vfio_region_info req = { .argsz = cap, .index = index };
		uint8_t *nr = realloc(reply, cap);
		if (!nr) {
			r = -ENOMEM;
			break;
		}
		reply = nr;
		x = (struct xfer){
			.cmd = VFIO_USER_DEVICE_GET_REGION_INFO, .req = &req, .req_len = sizeof(req),
			.reply = reply, .reply_cap = cap, .reply_min = sizeof(req),
			.reply_fds = fds,
		};
		r = transact(u, &x);
		if (r)
			break;
		struct vfio_region_info ri;
		memcpy(&ri, reply, sizeof(ri));
		/* Capabilities that did not fit: ask once more, with room. */
		if (tries == 0 && (ri.flags & VFIO_REGION_INFO_FLAG_CAPS) && ri.argsz > cap &&
		    ri.argsz <= MAX_REGION_INFO) {
			close_fds(fds, x.reply_nfds);
			cap = ri.argsz;
			continue;
		}
		break;
	}
	if (!r) {
		struct vfio_region_info ri;
		memcpy(&ri, reply, sizeof(ri));
		size_t len = x.reply_len < cap ? x.reply_len : cap;
		if (ri.index != index) {
			r = broken(u, "DEVICE_GET_REGION_INFO: region %u in the reply to %u", ri.index,
				   index);
		} else {
			struct region_map *m = &u->regions[index];
			if (m->fd >= 0)
				close(m->fd);
			*m = (struct region_map){ .fd = -1, .offset = ri.offset, .size = ri.size };
			out->size = ri.size;
			out->flags = ri.flags & (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
						 VFIO_REGION_INFO_FLAG_MMAP);
			bool sparse = false;
			if (ri.flags & VFIO_REGION_INFO_FLAG_CAPS)
				parse_region_caps(u, index, reply, len, ri.cap_offset, out, &sparse);
			/* Mappable with the fd that came along, one fd, page
			 * aligned; otherwise trapped, whatever the flag said. */
			long page = sysconf(_SC_PAGESIZE);
			if ((out->flags & VFIO_REGION_INFO_FLAG_MMAP) && x.reply_nfds == 1 && ri.size &&
			    ri.offset % (uint64_t)page == 0) {
				m->fd = fds[0];
				fds[0] = -1;
				if (!sparse)
					out->areas[out->nareas++] = (struct vfio_area){ 0, ri.size };
				unsigned k = 0;
				for (unsigned i = 0; i < out->nareas; i++)
					if (out->areas[i].offset % (uint64_t)page == 0)
						out->areas[k++] = out->areas[i];
				out->nareas = k;
			} else {
				if (out->flags & VFIO_REGION_INFO_FLAG_MMAP)
					log_debug("vfio-user %s: region %u: mmap offered with %u fds, offset 0x%llx: trapped instead",
						  u->base.name, index, x.reply_nfds,
						  (unsigned long long)ri.offset);
				out->flags &= ~(uint32_t)VFIO_REGION_INFO_FLAG_MMAP;
				out->nareas = 0;
			}
			if (!out->nareas)
				out->flags &= ~(uint32_t)VFIO_REGION_INFO_FLAG_MMAP;
			m->nareas = out->nareas;
			memcpy(m->areas, out->areas, sizeof(m->areas));
		}
		close_fds(fds, x.reply_nfds);
	}
	pthread_mutex_unlock(&u->lock);
	free(reply);
	return r;
}

/* REGION_READ or REGION_WRITE of one chunk. Caller holds the lock. */
static int region_access(struct vfio_user *u, bool write, unsigned index, uint64_t off,
			 uint8_t *buf, uint32_t count)
{
	struct vfio_user_region_access a = { .offset = off, .region = index, .count = count };
	/* The request is built in a buffer of its own: u->buf is the
	 * message buffer transact() copies into. */
	uint8_t small[sizeof(a) + 64];
	uint8_t *msg = small;
	size_t req_len = sizeof(a) + (write ? count : 0);
	if (req_len > sizeof(small)) {
		msg = malloc(req_len);
		if (!msg)
			return -ENOMEM;
	}
	memcpy(msg, &a, sizeof(a));
	if (write)
		memcpy(msg + sizeof(a), buf, count);
	uint8_t rsmall[sizeof(a) + 64];
	uint8_t *rbuf = rsmall;
	size_t rcap = sizeof(a) + (write ? 0 : count);
	if (rcap > sizeof(rsmall)) {
		rbuf = malloc(rcap);
		if (!rbuf) {
			if (msg != small)
				free(msg);
			return -ENOMEM;
		}
	}
	struct xfer x = {
		.cmd = write ? VFIO_USER_REGION_WRITE : VFIO_USER_REGION_READ,
		.req = msg, .req_len = req_len, .reply = rbuf, .reply_cap = rcap,
		.reply_min = rcap,
	};
	int r = transact(u, &x);
	if (!r) {
		struct vfio_user_region_access ra;
		memcpy(&ra, rbuf, sizeof(ra));
		if (ra.offset != off || ra.region != index || ra.count != count ||
		    x.reply_len != rcap)
			r = broken(u, "%s: region %u 0x%llx+%u answered with region %u 0x%llx+%u (%zu bytes)",
				   cmd_name(x.cmd), index, (unsigned long long)off, count, ra.region,
				   (unsigned long long)ra.offset, ra.count, x.reply_len);
		else if (!write)
			memcpy(buf, rbuf + sizeof(a), count);
	}
	if (msg != small)
		free(msg);
	if (rbuf != rsmall)
		free(rbuf);
	return r;
}

static int region_rw(struct vfio_backend *b, bool write, unsigned index, uint64_t off,
		     uint8_t *buf, size_t len)
{
	struct vfio_user *u = to_user(b);
	if (index >= MAX_REGIONS || off + len < off)
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	int r = 0;
	while (!r && len) {
		uint32_t n = len < u->server_max_xfer ? (uint32_t)len : u->server_max_xfer;
		r = region_access(u, write, index, off, buf, n);
		off += n;
		buf += n;
		len -= n;
	}
	pthread_mutex_unlock(&u->lock);
	return r;
}

static int op_region_read(struct vfio_backend *b, unsigned index, uint64_t off, void *buf,
			  size_t len)
{
	return region_rw(b, false, index, off, buf, len);
}

static int op_region_write(struct vfio_backend *b, unsigned index, uint64_t off,
			   const void *buf, size_t len)
{
	return region_rw(b, true, index, off, (uint8_t *)(uintptr_t)buf, len);
}

static int op_region_mmap(struct vfio_backend *b, unsigned index, uint64_t off, uint64_t size,
			  int prot, void **out)
{
	struct vfio_user *u = to_user(b);
	if (index >= MAX_REGIONS || !size || off + size < off)
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	const struct region_map *m = &u->regions[index];
	int r = m->fd < 0 ? -ENOTSUP : -EINVAL;
	for (unsigned i = 0; m->fd >= 0 && i < m->nareas; i++) {
		const struct vfio_area *a = &m->areas[i];
		if (off >= a->offset && off - a->offset < a->size && size <= a->size - (off - a->offset)) {
			r = 0;
			break;
		}
	}
	long page = sysconf(_SC_PAGESIZE);
	if (!r && (off % (uint64_t)page || m->offset + off < m->offset))
		r = -EINVAL;
	if (!r) {
		void *p = mmap(NULL, size, prot, MAP_SHARED, m->fd, (off_t)(m->offset + off));
		if (p == MAP_FAILED) {
			r = -errno;
			log_error("vfio-user %s: cannot map region %u 0x%llx+0x%llx: %s", b->name, index,
				  (unsigned long long)off, (unsigned long long)size, strerror(-r));
		} else {
			*out = p;
		}
	}
	pthread_mutex_unlock(&u->lock);
	return r;
}

static int op_irq_info(struct vfio_backend *b, unsigned index, struct vfio_irq_info *info)
{
	struct vfio_user *u = to_user(b);
	struct vfio_irq_info req = { .argsz = sizeof(req), .index = index }, reply = { 0 };
	struct xfer x = {
		.cmd = VFIO_USER_DEVICE_GET_IRQ_INFO, .req = &req, .req_len = sizeof(req),
		.reply = &reply, .reply_cap = sizeof(reply), .reply_min = sizeof(reply),
	};
	pthread_mutex_lock(&u->lock);
	int r = transact(u, &x);
	if (!r && (reply.index != index || reply.count > MAX_IRQS))
		r = broken(u, "DEVICE_GET_IRQ_INFO: index %u with %u interrupts in the reply to %u",
			   reply.index, reply.count, index);
	pthread_mutex_unlock(&u->lock);
	if (!r) {
		*info = reply;
		info->argsz = sizeof(*info);
	}
	return r;
}

/* One DEVICE_SET_IRQS message. Caller holds the lock. */
static int set_irqs_one(struct vfio_user *u, unsigned index, unsigned start, unsigned count,
			uint32_t flags, const int32_t *fds, unsigned nfds, const uint8_t *bools)
{
	uint8_t msg[sizeof(struct vfio_irq_set) + MAX_IRQS];
	struct vfio_irq_set s = {
		.argsz = (uint32_t)(sizeof(s) + (bools ? count : 0)), .flags = flags,
		.index = index, .start = start, .count = count,
	};
	memcpy(msg, &s, sizeof(s));
	if (bools)
		memcpy(msg + sizeof(s), bools, count);
	uint8_t reply[1];
	struct xfer x = {
		.cmd = VFIO_USER_DEVICE_SET_IRQS, .req = msg, .req_len = s.argsz,
		.fds = fds, .nfds = nfds, .reply = reply, .reply_cap = 0,
	};
	return transact(u, &x);
}

static int op_set_irqs(struct vfio_backend *b, unsigned index, unsigned start, unsigned count,
		       uint32_t flags, const int32_t *fds, const uint8_t *bools)
{
	struct vfio_user *u = to_user(b);
	uint32_t data = flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	if (count > MAX_IRQS || start > MAX_IRQS - count ||
	    (data == VFIO_IRQ_SET_DATA_EVENTFD && count && !fds) ||
	    (data == VFIO_IRQ_SET_DATA_BOOL && (!count || !bools)))
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	int r = 0;
	if (data != VFIO_IRQ_SET_DATA_EVENTFD || count == 0) {
		r = set_irqs_one(u, index, start, count, flags,
				 NULL, 0, data == VFIO_IRQ_SET_DATA_BOOL ? bools : NULL);
	} else {
		/* fds travel out of band, so -1 (detach) cannot be one of
		 * them: runs of fds go as they are (as many per message as
		 * the server takes), runs of -1 as eventfd messages without
		 * fds, which detach. */
		unsigned max = u->server_max_fds ? u->server_max_fds : 1;
		for (unsigned i = 0; !r && i < count;) {
			bool attach = fds[i] >= 0;
			unsigned n = 1;
			while (i + n < count && (fds[i + n] >= 0) == attach && (!attach || n < max))
				n++;
			if (attach && !u->server_max_fds)
				r = -ENOTSUP;
			else
				r = set_irqs_one(u, index, start + i, n, flags,
						 attach ? &fds[i] : NULL, attach ? n : 0, NULL);
			i += n;
		}
	}
	pthread_mutex_unlock(&u->lock);
	return r;
}

static int op_dma_map(struct vfio_backend *b, uint64_t iova, uint64_t size, void *hva, int fd,
		      uint64_t fd_offset)
{
	struct vfio_user *u = to_user(b);
	if (!size || iova + size < iova || !hva)
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	int r = u->ndma == MAX_DMA_WINDOWS ? -ENOSPC : 0;
	for (unsigned i = 0; !r && i < u->ndma; i++)
		if (iova < u->dma[i].iova + u->dma[i].size && u->dma[i].iova < iova + size)
			r = -EEXIST;
	if (!r) {
		/* Known before the request: the server may read it while
		 * it handles the map. */
		u->dma[u->ndma++] = (struct dma_window){ iova, size, hva };
		struct vfio_user_dma_map m = {
			.argsz = sizeof(m),
			.flags = VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE,
			.offset = fd >= 0 ? fd_offset : 0, .addr = iova, .size = size,
		};
		int sfd = fd;
		struct xfer x = {
			.cmd = VFIO_USER_DMA_MAP, .req = &m, .req_len = sizeof(m),
			.fds = fd >= 0 ? &sfd : NULL, .nfds = fd >= 0 ? 1 : 0,
		};
		r = fd >= 0 && !u->server_max_fds ? -ENOTSUP : transact(u, &x);
		if (r)
			u->ndma--;
	}
	pthread_mutex_unlock(&u->lock);
	return r;
}

static int op_dma_unmap(struct vfio_backend *b, uint64_t iova, uint64_t size)
{
	struct vfio_user *u = to_user(b);
	pthread_mutex_lock(&u->lock);
	unsigned i = 0;
	while (i < u->ndma && (u->dma[i].iova != iova || u->dma[i].size != size))
		i++;
	int r = -ENOENT;
	if (i < u->ndma) {
		struct vfio_user_dma_unmap m = { .argsz = sizeof(m), .addr = iova, .size = size };
		struct vfio_user_dma_unmap reply;
		struct xfer x = {
			.cmd = VFIO_USER_DMA_UNMAP, .req = &m, .req_len = sizeof(m),
			.reply = &reply, .reply_cap = sizeof(reply),
		};
		r = transact(u, &x);
		/* Gone whatever the server said: the memory may go away
		 * after this, and the server must not reach it any more. */
		u->dma[i] = u->dma[--u->ndma];
	}
	pthread_mutex_unlock(&u->lock);
	return r;
}

static int op_reset(struct vfio_backend *b)
{
	struct vfio_user *u = to_user(b);
	struct xfer x = { .cmd = VFIO_USER_DEVICE_RESET };
	pthread_mutex_lock(&u->lock);
	int r = transact(u, &x);
	pthread_mutex_unlock(&u->lock);
	return r;
}

static void op_destroy(struct vfio_backend *b)
{
	struct vfio_user *u = to_user(b);
	if (!u)
		return;
	if (u->fd >= 0)
		close(u->fd);
	for (unsigned i = 0; i < MAX_REGIONS; i++)
		if (u->regions[i].fd >= 0)
			close(u->regions[i].fd);
	pthread_mutex_destroy(&u->lock);
	free(u->buf);
	free(u);
}

static const struct vfio_backend_ops user_ops = {
	.device_info = op_device_info,
	.region_info = op_region_info,
	.region_read = op_region_read,
	.region_write = op_region_write,
	.region_mmap = op_region_mmap,
	.irq_info = op_irq_info,
	.set_irqs = op_set_irqs,
	.dma_map = op_dma_map,
	.dma_unmap = op_dma_unmap,
	.reset = op_reset,
	.destroy = op_destroy,
};

int vfio_user_open_fd(int fd, const char *name, unsigned timeout_ms, struct vfio_backend **out)
{
	*out = NULL;
	struct vfio_user *u = calloc(1, sizeof(*u));
	uint8_t *buf = malloc(MAX_MSG);
	if (!u || !buf) {
		free(u);
		free(buf);
		close(fd);
		return -ENOMEM;
	}
	u->base.ops = &user_ops;
	u->base.kind = "vfio-user";
	snprintf(u->base.name, sizeof(u->base.name), "%s", name);
	u->fd = fd;
	u->buf = buf;
	u->timeout_ms = timeout_ms ? timeout_ms : VFIO_USER_TIMEOUT_MS;
	u->server_max_fds = VFIO_USER_DEFAULT_MAX_FDS;
	u->server_max_xfer = VFIO_USER_DEFAULT_MAX_XFER;
	for (unsigned i = 0; i < MAX_REGIONS; i++)
		u->regions[i].fd = -1;
	pthread_mutex_init(&u->lock, NULL);
	pthread_mutex_lock(&u->lock);
	int r = negotiate(u);
	r = r ?: get_device_info(u);
	pthread_mutex_unlock(&u->lock);
	if (r) {
		if (r != -EIO) /* -EIO: broken() said why */
			log_error("vfio-user %s: cannot set up the device: %s", name, strerror(-r));
		op_destroy(&u->base);
		return r;
	}
	log_debug("vfio-user %s: protocol %u.%u, %u regions, %u interrupt indexes, flags 0x%x, server takes %u fds and %u bytes a message",
		  name, VFIO_USER_MAJOR, VFIO_USER_MINOR, u->info.num_regions, u->info.num_irqs,
		  u->info.flags, u->server_max_fds, u->server_max_xfer);
	*out = &u->base;
	return 0;
}

int vfio_user_connect(const char *path, struct vfio_backend **out)
{
	*out = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("vfio-user %s: path longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int err = errno;
		log_error("vfio-user %s: socket: %s", path, strerror(err));
		return -err;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		log_error("vfio-user %s: cannot connect: %s", path, strerror(err));
		close(fd);
		return -err;
	}
	return vfio_user_open_fd(fd, path, VFIO_USER_TIMEOUT_MS, out);
}

int vfio_user_poll_fd(struct vfio_backend *b)
{
	return to_user(b)->fd;
}

int vfio_user_service(struct vfio_backend *b)
{
	struct vfio_user *u = to_user(b);
	pthread_mutex_lock(&u->lock);
	int r = u->broken ? -EIO : 0;
	while (!r) {
		struct pollfd p = { .fd = u->fd, .events = POLLIN };
		if (poll(&p, 1, 0) <= 0)
			break;
		int fds[MAX_RECV_FDS];
		unsigned nfds;
		size_t len;
		uint64_t deadline = unix_msg_now_ms() + u->timeout_ms;
		r = recv_msg(u, &len, fds, &nfds, deadline);
		if (r)
			break;
		close_fds(fds, nfds);
		struct vfio_user_hdr h;
		memcpy(&h, u->buf, sizeof(h));
		if ((h.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_COMMAND)
			r = broken(u, "a reply (id %u, command %u) to nothing cvmm asked", h.id, h.cmd);
		else
			r = serve(u, len, deadline);
	}
	pthread_mutex_unlock(&u->lock);
	return r;
}

bool vfio_user_broken(struct vfio_backend *b)
{
	struct vfio_user *u = to_user(b);
	pthread_mutex_lock(&u->lock);
	bool r = u->broken;
	pthread_mutex_unlock(&u->lock);
	return r;
}
