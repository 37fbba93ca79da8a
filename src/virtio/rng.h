/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (virtio 1.x, 5.4 "Entropy Device"): one request queue
 * (VIRTIO_RNG_QUEUE_SIZE entries), no feature bits, no configuration.
 *
 * The entropy comes from getrandom(2) (cfg->src NULL) or from the file
 * cfg->src, opened at creation, non-blocking (a character device such as
 * /dev/urandom or /dev/hwrng; a regular file is read round and round).
 *
 * Each request chain gets its writable part filled, at most
 * VIRTIO_RNG_MAX_REQUEST bytes per chain, and is returned with the number
 * of bytes written, at least 1: "The device MUST place one or more random
 * bytes into the buffer" (virtio 1.2, 5.4.6.2), and Linux's virtio-rng
 * driver takes a 0-byte answer as the end of its only request: it never
 * posts another, and every later read of /dev/hwrng hangs. When the source
 * has nothing to give right now (getrandom's EAGAIN while the host's random
 * pool is not initialised yet, as early in a small VM; a pipe or device
 * with no data, or at its end), the chain waits in the ring and the device
 * tries again after VIRTIO_RNG_RETRY_MS (a timerfd the device thread
 * polls; after a read error, logged rate-limited, VIRTIO_RNG_RETRY_FAILED_MS);
 * what the source gave short of the request is returned as it is. The
 * device thread never blocks on the source: a reset or pause still goes
 * through while a request waits. An empty regular file is refused at
 * creation. A chain with no writable buffer (a driver bug: requests are
 * device-writable only) is returned with 0 bytes written and the event is
 * logged (rate-limited); the device does not ask for a reset for it. A
 * queue the driver broke (queue.h's -EIO) sets DEVICE_NEEDS_RESET.
 *
 * Threading: served by its own device thread (common.h, worker.h), started at
 * activate and stopped at reset. The thread serves at most
 * VIRTIO_RNG_BUDGET chains per wake-up (virtio.h's virtio_budget), then
 * comes back through its epoll loop, so a reset or pause never waits on a
 * guest that keeps refilling the queue. The kick eventfd vd->kick_fd[0] is the
 * transport's (or the test's) to create.
 */
#ifndef CVMM_VIRTIO_RNG_H
#define CVMM_VIRTIO_RNG_H

#include "config.h"
#include "guest_mem.h"
#include "virtio/virtio.h"

#define VIRTIO_RNG_QUEUE_SIZE 256
#define VIRTIO_RNG_MAX_REQUEST (64 * 1024)
/* Chains per wake-up: at most 4 MiB of entropy before a stop or pause. */
#define VIRTIO_RNG_BUDGET 64u
/* A request the source could not serve is tried again after this (ms). */
#define VIRTIO_RNG_RETRY_MS 10
#define VIRTIO_RNG_RETRY_FAILED_MS 1000

struct virtio_rng;

/* 0, -ENOMEM, or the -errno of opening cfg->src (logged). */
int virtio_rng_create(struct virtio_rng **out, const struct rng_config *cfg,
		      const struct guest_mem *mem);
/* The virtio device, to hand to a transport. */
struct virtio_dev *virtio_rng_vdev(struct virtio_rng *rng);
/* Stops the device thread, closes the source. Destroy the transport first. */
void virtio_rng_destroy(struct virtio_rng *rng);

#endif
