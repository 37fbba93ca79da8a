/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock (virtio 1.x, 5.10 "Socket Device"), stream sockets only (no
 * VIRTIO_VSOCK_F_SEQPACKET), with the hybrid UNIX-socket backend of
 * Firecracker and cloud-hypervisor: the guest's AF_VSOCK sockets meet host
 * processes on AF_UNIX sockets. Queues: rx (0), tx (1), event (2); the
 * configuration space is the guest's CID (le64).
 *
 * Host-initiated: cvmm listens on PATH (--vsock socket=PATH). A host
 * process connects and writes "CONNECT <port>\n"; cvmm sends the guest a
 * REQUEST from host port H (a fresh port >= 2^30) to <port>. When the
 * guest RESPONDs, cvmm writes "OK <H>\n" on the socket and from then on the
 * socket is the connection; when the guest answers RST, or nothing within
 * VIRTIO_VSOCK_CONNECT_TIMEOUT_MS (then the guest gets an RST), the socket
 * is closed. A line that is not "CONNECT <decimal port>\n" (at most 31 bytes)
 * closes the socket.
 * Guest-initiated: a REQUEST to host port P (CID 2) connects to the UNIX
 * socket "PATH_P" (non-blocking); connected, the guest gets a RESPONSE,
 * otherwise (nobody listens, backlog full) an RST.
 *
 * Data both ways in RW packets, with the spec's credit flow control:
 *  - guest to host: each connection lets the guest have at most
 *    VIRTIO_VSOCK_BUF_ALLOC bytes in flight (buf_alloc); what the host
 *    socket does not take at once waits in a per-connection buffer of that
 *    size (allocated when first needed), written out when the socket is
 *    writable. fwd_cnt counts the bytes written to the socket and reaches
 *    the guest in every packet's header, and in a CREDIT_UPDATE once the
 *    guest's view of its credit falls under half the window (or when it
 *    asks, CREDIT_REQUEST). A host that does not read thus throttles the
 *    guest; a guest that sends beyond its credit gets an RST.
 *  - host to guest: cvmm reads a socket only while the guest has credit
 *    for it (its buf_alloc less what was sent and not yet counted in its
 *    fwd_cnt) and receive buffers are posted: a guest that does not read
 *    leaves the data in the socket, so the host process blocks (or gets
 *    EAGAIN). With no credit left cvmm sends one CREDIT_REQUEST.
 * SHUTDOWN: the guest's SEND flag becomes shutdown(SHUT_WR) once its data
 * is written out; both flags close the socket (after its data) and answer
 * RST, as the guest expects. End of file from the host is a SHUTDOWN with
 * SEND to the guest; a host socket that fails resets the connection (RST).
 *
 * Nothing is buffered without bound: at most VIRTIO_VSOCK_MAX_CONNS
 * connections (a host connection or guest REQUEST beyond that is closed /
 * answered RST, with a rate-limited warning), each with at most
 * VIRTIO_VSOCK_BUF_ALLOC bytes, and at most VIRTIO_VSOCK_RST_QUEUE RSTs
 * owed for packets of no connection (then the tx queue waits until the
 * guest takes them).
 *
 * A guest packet that breaks the rules gets an RST (and its connection, if
 * any, is closed): a header from another CID or not to the host's (2), a
 * type other than STREAM, a length beyond the chain or VIRTIO_VSOCK_MAX_PKT,
 * an unknown op, a packet for no connection, data beyond the credit or
 * after its SHUTDOWN SEND, a second REQUEST for a connection. A chain
 * shorter than a header is dropped (counted). Nothing a guest sends
 * crashes or blocks cvmm.
 *
 * Reset (the driver's, or a reboot's): every connection is closed (the
 * host sees end of file); at the next activation the guest gets a
 * VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue, once it posts a
 * buffer there.
 *
 * Threading: one device thread (common.h) serves the three queues and the
 * sockets (all in an epoll set of the device's own, polled by the thread
 * as one fd). config_read may run on any vCPU thread; the statistics on
 * any thread.
 */
#ifndef CVMM_VIRTIO_VSOCK_H
#define CVMM_VIRTIO_VSOCK_H

#include <stdint.h>

#include "config.h"
#include "guest_mem.h"
#include "virtio/virtio.h"

#define VIRTIO_VSOCK_QUEUE_SIZE 256
#define VIRTIO_VSOCK_RXQ 0
#define VIRTIO_VSOCK_TXQ 1
#define VIRTIO_VSOCK_EVQ 2

#define VIRTIO_VSOCK_MAX_CONNS 64
/* The receive window cvmm gives the guest, per connection (bytes). */
#define VIRTIO_VSOCK_BUF_ALLOC (64u * 1024)
/* Largest payload of one packet, either way (Linux's own limit). */
#define VIRTIO_VSOCK_MAX_PKT (64u * 1024)
/* RSTs owed for packets of no connection, at most. */
#define VIRTIO_VSOCK_RST_QUEUE 32
/* The first host port of host-initiated connections. */
#define VIRTIO_VSOCK_HOST_PORT_BASE (1u << 30)
/* How long a host connection waits for the guest's RESPONSE. */
#define VIRTIO_VSOCK_CONNECT_TIMEOUT_MS 2000
/* The host's CID (VMADDR_CID_HOST). */
#define VIRTIO_VSOCK_HOST_CID 2

struct virtio_vsock;

struct virtio_vsock_stats {
	uint64_t conns;        /* open now */
	uint64_t conns_total;  /* established since creation */
	uint64_t refused;      /* table full, connect failed, guest RST */
	uint64_t rst_sent;
	uint64_t rx_bytes;     /* host to guest payload */
	uint64_t tx_bytes;     /* guest to host payload */
	uint64_t bad_packets;  /* guest packets that broke the rules */
};

/*
 * Listens on cfg->socket (a stale socket nobody serves is replaced; a live
 * one, or a file that is not a socket, is refused). 0 or -errno, logged.
 */
int virtio_vsock_create(struct virtio_vsock **out, const struct vsock_config *cfg,
			const struct guest_mem *mem);
struct virtio_dev *virtio_vsock_vdev(struct virtio_vsock *v);
void virtio_vsock_get_stats(const struct virtio_vsock *v, struct virtio_vsock_stats *s);
/* Stops the thread, closes every socket, removes PATH. NULL is fine. */
void virtio_vsock_destroy(struct virtio_vsock *v);

#endif
