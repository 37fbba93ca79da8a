/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user client: a struct vfio_backend (vfio/backend.h) whose device
 * lives in a server process at the other end of a UNIX socket (QEMU's
 * docs/interop/vfio-user.rst; vfio/user_proto.h has the wire format).
 *
 * Each operation is one request and its reply, one at a time (a mutex:
 * vCPU threads and the control thread share the socket). While it waits
 * for its reply the client also serves what the server asks in between:
 * DMA_READ and DMA_WRITE of guest memory, inside the windows DMA_MAP made
 * known and bounds-checked (the server's only way to reach guest RAM that
 * is not shared, --memory shared=off). A server that asks at another time
 * is served by vfio_user_service() when the socket is readable.
 *
 * A server that goes away, sends what the protocol does not allow, or
 * does not answer within the timeout breaks the connection: one error line
 * naming the socket, then every operation fails with -EIO at once. An
 * error reply fails that operation with the server's errno (one
 * rate-limited line: a guest can provoke them).
 */
#ifndef CVMM_VFIO_USER_H
#define CVMM_VFIO_USER_H

#include <stdbool.h>

#include "vfio/backend.h"

/* How long a reply may take before the connection counts as lost. */
#define VFIO_USER_TIMEOUT_MS 5000u

/*
 * Connects to the server listening at `path`, negotiates the version and
 * reads the device info: 0 and *out, or -errno (logged, the socket named).
 */
int vfio_user_connect(const char *path, struct vfio_backend **out);
/*
 * The same over an already connected socket (owned from here on, closed
 * on failure too): `name` (the socket path, at most 107 bytes shown) names
 * it in the log and vm.info, `timeout_ms` bounds every wait for a reply.
 */
int vfio_user_open_fd(int fd, const char *name, unsigned timeout_ms,
		      struct vfio_backend **out);

/* The socket: readable when the server asks for something between two
 * requests of cvmm's (vfio_user_service). */
int vfio_user_poll_fd(struct vfio_backend *b);
/* Serves every server request waiting on the socket, without blocking
 * for new ones: 0, or -EIO when the connection is (now) broken. */
int vfio_user_service(struct vfio_backend *b);
/* Whether the connection is lost (every operation fails with -EIO). */
bool vfio_user_broken(struct vfio_backend *b);

#endif
