/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng, written from the virtio 1.x specification, section 5.4
 * "Entropy Device". See rng.h.
 */
#include "virtio/rng.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "virtio/common.h"
#include "virtio/guest_dma.h"

struct virtio_rng {
	struct virtio_common common;
	int src_fd; /* -1: getrandom() */
	char *src_path;
	/* Armed while a request waits for the source (see rng.h). */
	int timer_fd;
	struct ratelimit rl;
	/* Device thread only: */
	struct vq_chain chain;
	bool src_failed; /* the last read failed (not EAGAIN): retry slowly */
	bool waiting;    /* a request waits for the source (logged once) */
};

/*
 * Fills up to len bytes at buf from the source. Returns the bytes written
 * (less than len, possibly 0, when the source has no more right now);
 * rng->src_failed says whether that was a failure rather than EAGAIN (or
 * the end of a pipe).
 */
static size_t fill(struct virtio_rng *rng, uint8_t *buf, size_t len)
{
	size_t done = 0;
	bool rewound = false;
	rng->src_failed = false;
	while (done < len) {
		ssize_t n;
		guest_dma_begin();
		if (rng->src_fd < 0)
			n = getrandom(buf + done, len - done, GRND_NONBLOCK);
		else
			n = read(rng->src_fd, buf + done, len - done);
		guest_dma_end();
		if (n > 0) {
			done += (size_t)n;
			rewound = false;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 && rng->src_fd >= 0 && !rewound &&
		    lseek(rng->src_fd, 0, SEEK_SET) == 0) {
			rewound = true; /* end of a regular file: start over */
			continue;
		}
		if (n < 0 && errno != EAGAIN) {
			rng->src_failed = true;
			log_ratelimited(&rng->rl, LOG_WARN, "%s: reading %s: %s",
					rng->common.vd.name,
					rng->src_path ? rng->src_path : "getrandom()",
					strerror(errno));
		} else if (done == 0 && !rng->waiting) {
			/* Once per wait: the retries would repeat it. */
			log_info("%s: %s has no entropy now (%s): requests wait for it",
				 rng->common.vd.name,
				 rng->src_path ? rng->src_path : "getrandom()",
				 n == 0 ? "end of file" : rng->src_path ? "EAGAIN" :
				 "EAGAIN: the host's random pool is not initialised yet");
		}
		break;
	}
	return done;
}

/* The source gave nothing: try again in a while (timer_fd, rng_timer). */
static void arm_retry(struct virtio_rng *rng)
{
	long ms = rng->src_failed ? VIRTIO_RNG_RETRY_FAILED_MS : VIRTIO_RNG_RETRY_MS;
	struct itimerspec its = {
		.it_value = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L },
	};
	if (timerfd_settime(rng->timer_fd, 0, &its, NULL) < 0)
		log_ratelimited(&rng->rl, LOG_ERROR, "%s: timerfd_settime: %s",
				rng->common.vd.name, strerror(errno));
}

/* Serves one request: the writable part of the chain, bounded. */
static uint32_t serve(struct virtio_rng *rng, const struct vq_chain *c)
{
	if (c->write_len == 0) {
		log_ratelimited(&rng->rl, LOG_WARN,
				"%s: request %u has no writable buffer; returned empty",
				rng->common.vd.name, c->head);
		return 0;
	}
	uint32_t want = c->write_len < VIRTIO_RNG_MAX_REQUEST ?
				(uint32_t)c->write_len : VIRTIO_RNG_MAX_REQUEST;
	uint32_t done = 0;
	/* Straight into guest memory, segment by segment. */
	for (unsigned i = c->nread; i < c->nseg && done < want; i++) {
		const struct vq_seg *s = &c->segs[i];
		uint32_t n = s->len < want - done ? s->len : want - done;
		size_t got = fill(rng, s->addr, n);
		done += (uint32_t)got;
		if (got < n)
			break;
	}
	return done;
}

/* One request, counted before the used entry is published. */
static int rng_serve(void *opaque, struct vq_chain *c, uint32_t *written)
{
	struct virtio_rng *rng = opaque;
	uint32_t n = serve(rng, c);
	/*
	 * Never 0 bytes for a buffer the device could write: "The device
	 * MUST place one or more random bytes into the buffer" (virtio 1.2,
	 * 5.4.6.2), and Linux's virtio-rng takes a 0-byte answer as the end
	 * of its one request and never asks again (its reads then hang).
	 */
	if (n == 0 && c->write_len) {
		rng->waiting = true;
		arm_retry(rng);
		return VIRTIO_SERVE_RETRY;
	}
	rng->waiting = false;
	atomic_fetch_add(&rng->common.vd.requests, 1);
	atomic_fetch_add(&rng->common.vd.bytes, n);
	*written = n;
	return 0;
}

/* Device thread: the request queue was kicked. */
static void rng_kicked(void *opaque, unsigned q)
{
	struct virtio_rng *rng = opaque;
	virtio_common_serve(&rng->common, q, &rng->chain, VIRTIO_RNG_BUDGET,
			    rng_serve);
}

/* Device thread: the retry timer fired; the waiting request again. */
static void rng_timer(void *opaque, unsigned idx)
{
	struct virtio_rng *rng = opaque;
	(void)idx; /* timer_fd is the only fd of ours */
	uint64_t n;
	if (read(rng->timer_fd, &n, sizeof(n)) < 0)
		return; /* not expired (EAGAIN): disarmed or re-armed meanwhile */
	rng_kicked(rng, 0);
}

static int rng_activate(void *opaque)
{
	struct virtio_rng *rng = opaque;
	/* The driver did not enable the queue: nothing to serve. */
	if (!rng->common.vd.vqs[0].ready)
		return VIRTIO_COMMON_IDLE;
	int r = virtio_common_add_fd(&rng->common, rng->timer_fd, EPOLLIN);
	return r < 0 ? r : 0;
}

/* Opens the entropy source file (non-blocking); logs why not. */
static int open_source(struct virtio_rng *rng, const char *src)
{
	rng->src_fd = open(src, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	int err = rng->src_fd < 0 ? errno : 0;
	struct stat st;
	bool stat_ok = !err && fstat(rng->src_fd, &st) == 0;
	if (stat_ok && S_ISDIR(st.st_mode))
		err = EISDIR;
	/* A regular file is read round and round: it must hold something. */
	if (!err && stat_ok && S_ISREG(st.st_mode) && st.st_size == 0) {
		log_error("virtio-rng: cannot use %s as entropy source: the file is empty", src);
		return -EINVAL;
	}
	if (!err && !(rng->src_path = strdup(src)))
		err = ENOMEM;
	if (err)
		log_error("virtio-rng: cannot use %s as entropy source: %s", src,
			  strerror(err));
	return -err;
}

int virtio_rng_create(struct virtio_rng **out, const struct rng_config *cfg,
		      const struct guest_mem *mem)
{
	*out = NULL;
	if (!mem)
		return -EINVAL;
	struct virtio_rng *rng = calloc(1, sizeof(*rng));
	if (!rng)
		return -ENOMEM;
	rng->src_fd = -1;
	rng->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (rng->timer_fd < 0) {
		int err = errno;
		log_error("virtio-rng: timerfd_create: %s", strerror(err));
		free(rng);
		return -err;
	}
	int ret = cfg && cfg->src ? open_source(rng, cfg->src) : 0;
	ret = ret ?: virtio_common_init(&rng->common, &(struct virtio_common_params){
		.snapshot = true,
		.name = "virtio-rng",
		.thread_name = "virtio-rng",
		.device_id = VIRTIO_ID_RNG,
		.nqueues = 1,
		.queue_max_size = VIRTIO_RNG_QUEUE_SIZE,
		.queue_names = { "virtio-rng.req" },
		.queue_kicked = rng_kicked,
		.fd_ready = rng_timer,
		.activate = rng_activate,
		.kick_at_start = true,
		.mem = mem,
		.dev = rng,
	});
	if (ret < 0) {
		virtio_rng_destroy(rng);
		return ret;
	}
	*out = rng;
	return 0;
}

struct virtio_dev *virtio_rng_vdev(struct virtio_rng *rng)
{
	return &rng->common.vd;
}

void virtio_rng_destroy(struct virtio_rng *rng)
{
	if (!rng)
		return;
	virtio_common_destroy(&rng->common);
	if (rng->src_fd >= 0)
		close(rng->src_fd);
	if (rng->timer_fd >= 0)
		close(rng->timer_fd);
	free(rng->src_path);
	free(rng);
}
