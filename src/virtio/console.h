/* SPDX-License-Identifier: MIT */
/*
 * virtio-console (virtio 1.x, 5.3 "Console Device"), a single port (port 0,
 * no VIRTIO_CONSOLE_F_MULTIPORT, no SIZE, no EMERG_WRITE): receiveq (0) and
 * transmitq (1). The guest sees it as /dev/hvc0.
 *
 * TX: the readable bytes of each chain are written to out_fd in order
 * (out_fd -1: discarded) through an out_sink (out_sink.h), so the device
 * thread never blocks on a reader that stopped reading: what the fd does
 * not take waits in a bounded buffer, what does not fit there (or what the
 * fd refuses: EPIPE...) is dropped with a rate-limited warning and counted
 * (tx_dropped, and one error per chain that lost bytes). The caller should
 * ignore SIGPIPE.
 *
 * RX: while the guest has receive buffers posted, in_fd is polled and read
 * straight into them; with no buffers, in_fd is not polled, so input waits
 * in the fd (tty/pipe buffer) until the guest posts some. End of file on
 * in_fd (or a hangup) stops input for good. in_fd -1: no input.
 *
 * Neither fd is owned (never closed). in_fd should be pollable (a tty,
 * pipe or socket); one epoll refuses (a regular file, /dev/null) gives a
 * warning and no input. The device thread reads it only after poll() says
 * it is readable, so a blocking fd is fine as long as nobody else reads it.
 *
 * Returns 0, -ENOMEM, or another -errno (out_fd unusable).
 */
#ifndef CVMM_VIRTIO_CONSOLE_H
#define CVMM_VIRTIO_CONSOLE_H

#include <stdint.h>

#include "guest_mem.h"
#include "virtio/virtio.h"

#define VIRTIO_CONSOLE_QUEUE_SIZE 128
#define VIRTIO_CONSOLE_RXQ 0
#define VIRTIO_CONSOLE_TXQ 1

struct virtio_console;
struct out_sink;

struct virtio_console_stats {
	uint64_t rx_bytes, tx_bytes, tx_dropped; /* tx_dropped: bytes */
};

int virtio_console_create(struct virtio_console **out, int in_fd, int out_fd,
			  const struct guest_mem *mem);
struct virtio_dev *virtio_console_vdev(struct virtio_console *c);
void virtio_console_get_stats(const struct virtio_console *c,
			      struct virtio_console_stats *s);
/* Stops the device thread and frees (the fds stay open). NULL is fine. */
void virtio_console_destroy(struct virtio_console *c);
/* The output sink (NULL without out_fd): the control loop drains it. */
struct out_sink *virtio_console_out_sink(struct virtio_console *c);

#endif
