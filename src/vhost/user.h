/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user front-end (QEMU's docs/interop/vhost-user.rst): one
 * connection to a device backend in another process (virtiofsd,
 * qemu-storage-daemon's vhost-user-blk export, ...) over a UNIX socket.
 * cvmm tells the backend where guest RAM is (SET_MEM_TABLE: each region's
 * memfd, --memory shared=on), where each ring is, which eventfd the guest's
 * notifications signal (KICK: the queue's KVM ioeventfd) and which eventfd
 * interrupts the guest (CALL: a KVM irqfd, or an eventfd cvmm relays); the
 * data path then runs between the guest and the backend.
 *
 * Opening negotiates: GET_FEATURES; GET/SET_PROTOCOL_FEATURES when the
 * backend offers VHOST_USER_F_PROTOCOL_FEATURES (cvmm takes REPLY_ACK,
 * CONFIG and MQ of what it offers); GET_QUEUE_NUM with MQ; SET_OWNER.
 * With REPLY_ACK every request without a reply of its own asks for one
 * (NEED_REPLY), so a backend's refusal comes back as -EREMOTEIO.
 *
 * Robustness: one request at a time (a mutex), a deadline on every send
 * and reply (timeout_ms), replies checked (version, reply flag, the
 * request they answer, their exact size), file descriptors a backend
 * sends closed. A backend that closes the connection, hangs or sends what
 * the protocol does not allow breaks the connection: one error line
 * naming the device and the socket, the on_broken callback (the device
 * sets DEVICE_NEEDS_RESET), and every request fails with -EIO at once
 * until vhost_user_reconnect() succeeds. Refused requests (REPLY_ACK
 * non-zero, an empty GET_CONFIG reply) are logged rate-limited: the guest
 * can provoke them.
 *
 * Nothing here touches guest memory; no request is sent without a caller.
 */
#ifndef CVMM_VHOST_USER_H
#define CVMM_VHOST_USER_H

#include <linux/vhost_types.h>
#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"

/* The deadline on a request's send and its reply. */
#define VHOST_USER_TIMEOUT_MS 5000u

struct vhost_user;

struct vhost_user_params {
	const char *name;   /* the device's name, for log lines (copied) */
	const char *socket; /* the backend's socket path (copied); NULL with an fd */
	unsigned timeout_ms; /* 0: VHOST_USER_TIMEOUT_MS */
	/* Called once each time the connection breaks (any thread, from
	 * inside a request or vhost_user_hangup); may be NULL. */
	void (*on_broken)(void *opaque);
	void *opaque;
};

/*
 * Connects to p->socket and negotiates (above). 0 with *out, or -errno
 * after one error line (the device and socket named).
 */
int vhost_user_connect(const struct vhost_user_params *p, struct vhost_user **out);
/* The same over a connected socket `fd` (taken, also on failure): tests. */
int vhost_user_open_fd(int fd, const struct vhost_user_params *p, struct vhost_user **out);
/* Closes the connection. NULL ok. */
void vhost_user_close(struct vhost_user *u);

/*
 * After a break: a new connection to the same socket, negotiated again;
 * the backend must offer the features it offered first (the guest may have
 * accepted them). 0, -EIO (still broken; a failure is logged rate-limited,
 * the guest drives the retries), or -ENOTCONN (opened from an fd).
 */
int vhost_user_reconnect(struct vhost_user *u);

/* What the backend said at negotiation. */
uint64_t vhost_user_features(const struct vhost_user *u);          /* GET_FEATURES */
uint64_t vhost_user_protocol_features(const struct vhost_user *u); /* agreed */
unsigned vhost_user_queue_num(const struct vhost_user *u);         /* 0: no MQ */
static inline bool vhost_user_has_protocol(const struct vhost_user *u, unsigned bit)
{
	return (vhost_user_protocol_features(u) >> bit) & 1;
}

bool vhost_user_broken(const struct vhost_user *u);
/* The socket (a device watches it for EPOLLRDHUP; never reads it). */
int vhost_user_fd(const struct vhost_user *u);
/* The backend hung up (seen by a watcher): breaks the connection, once. */
void vhost_user_hangup(struct vhost_user *u);

/* ---- requests: 0, -EIO (broken), -EREMOTEIO (refused) or -EINVAL ---- */

/* SET_FEATURES: `features`, plus VHOST_USER_F_PROTOCOL_FEATURES when offered. */
int vhost_user_set_features(struct vhost_user *u, uint64_t features);
/* SET_MEM_TABLE: every region of mem with its fd (-EINVAL: a private one). */
int vhost_user_set_mem_table(struct vhost_user *u, const struct guest_mem *mem);
int vhost_user_set_vring_num(struct vhost_user *u, unsigned q, unsigned num);
int vhost_user_set_vring_base(struct vhost_user *u, unsigned q, unsigned base);
/* Addresses in cvmm's address space (the memory table's userspace_addr). */
int vhost_user_set_vring_addr(struct vhost_user *u, const struct vhost_vring_addr *a);
/* fd < 0: none (the NOFD flag). */
int vhost_user_set_vring_kick(struct vhost_user *u, unsigned q, int fd);
int vhost_user_set_vring_call(struct vhost_user *u, unsigned q, int fd);
int vhost_user_set_vring_enable(struct vhost_user *u, unsigned q, bool enable);
/* GET_VRING_BASE: stops ring q; *base is where the backend stopped. */
int vhost_user_get_vring_base(struct vhost_user *u, unsigned q, unsigned *base);
/* GET/SET_CONFIG (protocol feature CONFIG; else -ENOTSUP). */
int vhost_user_get_config(struct vhost_user *u, uint32_t off, void *buf, uint32_t len);
int vhost_user_set_config(struct vhost_user *u, uint32_t off, const void *buf,
			  uint32_t len);

#endif
