/* SPDX-License-Identifier: MIT */
/*
 * Host CPU cost of one virtio-blk request in cvmm's device code, without a
 * guest: 4 KiB reads and writes executed through blk_request_execute() on a
 * file (tmpfs by default, so no device latency), alone and together with
 * the split-ring work around it (vq_pop + vq_push_used + vq_needs_notify on
 * rings in plain memory). CPU time from getrusage (user + system).
 *
 * Not built by default:
 *   make build/libcvmm.a
 *   cc -std=gnu11 -O2 -D_GNU_SOURCE -Isrc bench/blk_bench.c build/libcvmm.a \
 *      -lpthread -o build/blk_bench
 *   build/blk_bench [DIR [ITERATIONS]]        (DIR default /dev/shm)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_blk.h>

#include "guest_mem.h"
#include "virtio/blk_request.h"
#include "virtio/queue.h"

#define MEM_GPA 0x100000ULL
#define MEM_SIZE (4ULL << 20)
#define DESC_GPA MEM_GPA
#define AVAIL_GPA (MEM_GPA + 0x10000)
#define USED_GPA (MEM_GPA + 0x20000)
#define HDR_GPA (MEM_GPA + 0x30000)
#define STATUS_GPA (MEM_GPA + 0x31000)
#define DATA_GPA (MEM_GPA + 0x40000)
#define QSIZE 256
#define FILE_SIZE (64ULL << 20)
#define REQ_BYTES 4096u

static double cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec +
	       ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
}

static double wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

struct bench {
	uint8_t *buf;
	struct guest_mem mem;
	struct virtqueue vq;
	struct vq_chain chain;
	struct blk_backend be;
	uint16_t avail_idx;
};

static void *host(struct bench *b, uint64_t gpa)
{
	return b->buf + (gpa - MEM_GPA);
}

/* Header, 4 KiB of data, status: descriptors 0-2. */
static void lay_out(struct bench *b, uint32_t type)
{
	struct vring_desc *d = host(b, DESC_GPA);
	bool in = type == VIRTIO_BLK_T_IN;
	d[0] = (struct vring_desc){ HDR_GPA, 16, VRING_DESC_F_NEXT, 1 };
	d[1] = (struct vring_desc){ DATA_GPA, REQ_BYTES,
				    VRING_DESC_F_NEXT | (in ? VRING_DESC_F_WRITE : 0), 2 };
	d[2] = (struct vring_desc){ STATUS_GPA, 1, VRING_DESC_F_WRITE, 0 };
	struct virtio_blk_outhdr *h = host(b, HDR_GPA);
	h->type = type;
	h->sector = 0;
}

static void set_sector(struct bench *b, unsigned i)
{
	struct virtio_blk_outhdr *h = host(b, HDR_GPA);
	/* Spread over the file, 4 KiB aligned. */
	h->sector = ((uint64_t)i * 8 * 7919) % (FILE_SIZE / 512 - 8) & ~7ULL;
}

/* blk_request_execute() only, on a chain popped once. */
static double run_exec(struct bench *b, uint32_t type, unsigned n)
{
	lay_out(b, type);
	struct vring_avail *av = host(b, AVAIL_GPA);
	av->ring[b->avail_idx % QSIZE] = 0;
	__atomic_store_n(&av->idx, ++b->avail_idx, __ATOMIC_RELEASE);
	if (vq_pop(&b->vq, &b->chain) != 0)
		abort();
	vq_push_used(&b->vq, b->chain.head, 0);
	struct blk_req_result res;
	double t0 = cpu_us();
	for (unsigned i = 0; i < n; i++) {
		set_sector(b, i);
		if (blk_request_execute(&b->be, &b->chain, &res) != 0 ||
		    res.status != VIRTIO_BLK_S_OK)
			abort();
	}
	return (cpu_us() - t0) / n;
}

/* Ring + request: what the device thread does per request (minus the
 * eventfd wakeup and the interrupt). */
static double run_ring(struct bench *b, uint32_t type, unsigned n)
{
	lay_out(b, type);
	struct vring_avail *av = host(b, AVAIL_GPA);
	struct blk_req_result res;
	double t0 = cpu_us();
	for (unsigned i = 0; i < n; i++) {
		set_sector(b, i);
		av->ring[b->avail_idx % QSIZE] = 0;
		__atomic_store_n(&av->idx, ++b->avail_idx, __ATOMIC_RELEASE);
		if (vq_pop(&b->vq, &b->chain) != 0)
			abort();
		if (blk_request_execute(&b->be, &b->chain, &res) != 0)
			abort();
		vq_push_used(&b->vq, b->chain.head, res.used_len);
		(void)vq_needs_notify(&b->vq);
	}
	return (cpu_us() - t0) / n;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/dev/shm";
	unsigned n = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 200000;
	struct bench *b = calloc(1, sizeof(*b));
	if (!b)
		return 1;
	b->buf = aligned_alloc(4096, MEM_SIZE);
	if (!b->buf || guest_mem_add(&b->mem, MEM_GPA, MEM_SIZE, b->buf))
		return 1;
	memset(b->buf, 0, MEM_SIZE);
	if (vq_init(&b->vq, &b->mem, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, false))
		return 1;

	char path[256];
	snprintf(path, sizeof(path), "%s/cvmm-blk-bench-XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	unlink(path);
	/* Fill the file so reads hit cached pages, not holes. */
	uint8_t *chunk = malloc(1 << 20);
	memset(chunk, 0x5a, 1 << 20);
	for (uint64_t off = 0; off < FILE_SIZE; off += 1 << 20)
		if (pwrite(fd, chunk, 1 << 20, (off_t)off) != 1 << 20)
			return 1;
	free(chunk);
	b->be.fd = fd;
	b->be.capacity_sectors = FILE_SIZE / 512;
	b->be.name = "bench";

	/* Warm up, then measure. */
	run_exec(b, VIRTIO_BLK_T_IN, n / 10);
	double w0 = wall_us();
	double rd = run_exec(b, VIRTIO_BLK_T_IN, n);
	double wr = run_exec(b, VIRTIO_BLK_T_OUT, n);
	double rrd = run_ring(b, VIRTIO_BLK_T_IN, n);
	double rwr = run_ring(b, VIRTIO_BLK_T_OUT, n);
	double wall = (wall_us() - w0) / (4.0 * n);
	printf("blk_bench: %u x 4 KiB per case, file in %s\n", n, dir);
	printf("  blk_request_execute  read  %.2f us CPU/request\n", rd);
	printf("  blk_request_execute  write %.2f us CPU/request\n", wr);
	printf("  vq_pop+execute+push  read  %.2f us CPU/request\n", rrd);
	printf("  vq_pop+execute+push  write %.2f us CPU/request\n", rwr);
	printf("  (wall %.2f us/request on average)\n", wall);
	close(fd);
	free(b->buf);
	free(b);
	return 0;
}
