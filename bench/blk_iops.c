/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk IOPS and host CPU per request, the whole device model driven
 * by an in-process virtqueue driver: no guest, no exits. The device is the
 * real one (virtio_blk_create: its thread, its engine, its seccomp-free
 * start as in the unit tests); the "guest" is one driver thread per queue
 * doing what Linux's virtio-blk does for a 4 KiB request: an indirect
 * table (header, data, status), the avail ring, a kick when avail_event
 * asks for one (EVENT_IDX), used_event re-armed before it sleeps, and an
 * eventfd as the interrupt (the transport's notify_queue writes it, as an
 * irqfd would).
 *
 *   build/bench/blk_iops FILE [SECONDS [ENGINES [QUEUES [DEPTHS [RW]]]]]
 *     ENGINES  uring,sync (default both)     QUEUES 1,2 (default both)
 *     DEPTHS   1,8,32,128 (requests in flight, all queues together; split
 *              evenly between the queues, so depth 1 runs on one queue only)
 *     RW       randread,randwrite (default both)
 *
 * FILE is opened with direct=on (O_DIRECT; the bench says so and goes on
 * buffered when the file system refuses it); 4 KiB requests at random
 * 4 KiB-aligned offsets of the whole file (xorshift, fixed seed). Each
 * case runs SECONDS (default 3) after a 0.3 s warm-up.
 *
 * Printed per case: IOPS (wall), and CPU per request from getrusage
 * (user + system of the whole process: device thread, io_uring's io-wq
 * workers, drivers) as "total", and without the driver threads' own CPU
 * (CLOCK_THREAD_CPUTIME_ID) as "device": what cvmm would spend per
 * request, the guest's side left out. For the io_uring engine also the
 * device thread's io_uring_enter calls per request (blk_uring.h's
 * counters: submit-and-wait, wait only, submit only).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>

#include "config.h"
#include "guest_mem.h"
#include "log.h"
#include "virtio/blk.h"
#include "virtio/virtio.h"

#define QSIZE 256u
#define REQ 4096u
#define MEM_GPA 0x100000ULL
#define QREGION 0x120000ULL /* per queue: rings, tables, headers, data */
#define MAXQ 2
#define MEM_SIZE (QREGION * MAXQ)

/* Offsets inside a queue's region. */
#define O_DESC 0x0
#define O_AVAIL 0x1000
#define O_USED 0x2000
#define O_TABLES 0x3000   /* QSIZE indirect tables of 3 descriptors */
#define O_HDRS 0x6000     /* QSIZE headers of 16 bytes */
#define O_STATUS 0x7000   /* QSIZE status bytes */
#define O_DATA 0x10000    /* QSIZE buffers of 4 KiB */

struct drv {
	unsigned q;
	uint8_t *base; /* host address of the region */
	uint64_t gpa;
	unsigned depth;
	int kick_fd, irq_fd;
	uint32_t type;
	uint64_t nblocks; /* 4 KiB blocks in the file */
	uint64_t seed;
	/* results */
	uint64_t done;
	uint64_t errors;
	double cpu_s; /* the thread's own CPU */
};

static atomic_bool stop_issuing;
static atomic_bool measuring;
static int irq_fds[MAXQ];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double proc_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fake_notify(struct virtio_dev *vd, unsigned q)
{
	(void)vd;
	uint64_t one = 1;
	if (write(irq_fds[q], &one, sizeof(one)) != sizeof(one))
		abort();
}

static void fake_needs_reset(struct virtio_dev *vd)
{
	(void)vd;
	fprintf(stderr, "blk_iops: the device wants a reset\n");
	abort();
}

static void *drive(void *arg)
{
	struct drv *d = arg;
	struct vring_desc *desc = (void *)(d->base + O_DESC);
	struct vring_avail *avail = (void *)(d->base + O_AVAIL);
	struct vring_used *used = (void *)(d->base + O_USED);
	uint16_t *used_event = &avail->ring[QSIZE];
	uint16_t *avail_event = (uint16_t *)&used->ring[QSIZE];
	uint16_t free_slots[QSIZE];
	unsigned nfree = 0;
	for (unsigned s = QSIZE; s-- > 0;)
		free_slots[nfree++] = (uint16_t)s;
	uint16_t avail_idx = 0, published = 0, used_seen = 0;
	unsigned outstanding = 0;
	bool counted = false;
	double cpu0 = 0;
	uint64_t done0 = 0;

	for (;;) {
		if (!counted && atomic_load(&measuring)) {
			counted = true;
			cpu0 = thread_cpu_s();
			done0 = d->done;
		}
		bool issuing = !atomic_load(&stop_issuing);
		while (issuing && outstanding < d->depth) {
			uint16_t s = free_slots[--nfree];
			uint64_t tbl = d->gpa + O_TABLES + 48ull * s;
			uint64_t hdr = d->gpa + O_HDRS + 16ull * s;
			struct virtio_blk_outhdr *h = (void *)(d->base + O_HDRS + 16ull * s);
			h->type = d->type;
			h->ioprio = 0;
			h->sector = (xorshift(&d->seed) % d->nblocks) * (REQ / 512);
			d->base[O_STATUS + s] = 0xff;
			struct vring_desc *t = (void *)(d->base + O_TABLES + 48ull * s);
			t[0] = (struct vring_desc){ hdr, 16, VRING_DESC_F_NEXT, 1 };
			t[1] = (struct vring_desc){ d->gpa + O_DATA + (uint64_t)REQ * s, REQ,
						    VRING_DESC_F_NEXT |
							    (d->type == VIRTIO_BLK_T_IN ? VRING_DESC_F_WRITE : 0),
						    2 };
			t[2] = (struct vring_desc){ d->gpa + O_STATUS + s, 1,
						    VRING_DESC_F_WRITE, 0 };
			desc[s] = (struct vring_desc){ tbl, 48, VRING_DESC_F_INDIRECT, 0 };
			avail->ring[avail_idx % QSIZE] = s;
			avail_idx++;
			outstanding++;
		}
		if (avail_idx != published) {
			uint16_t old = published;
			__atomic_store_n(&avail->idx, avail_idx, __ATOMIC_RELEASE);
			published = avail_idx;
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			uint16_t ev = __atomic_load_n(avail_event, __ATOMIC_ACQUIRE);
			if (vring_need_event(ev, avail_idx, old)) {
				uint64_t one = 1;
				if (write(d->kick_fd, &one, sizeof(one)) != sizeof(one))
					abort();
			}
		}
		if (outstanding == 0)
			break; /* not issuing any more, all back */
		/* Interrupt on the next used entry; sleep unless one came. */
		__atomic_store_n(used_event, used_seen, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) == used_seen) {
			uint64_t v;
			if (read(d->irq_fd, &v, sizeof(v)) != sizeof(v))
				abort();
		}
		uint16_t uidx = __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE);
		while (used_seen != uidx) {
			struct vring_used_elem e = used->ring[used_seen % QSIZE];
			used_seen++;
			if (d->base[O_STATUS + e.id] != VIRTIO_BLK_S_OK)
				d->errors++;
			free_slots[nfree++] = (uint16_t)e.id;
			outstanding--;
			d->done++;
		}
	}
	d->cpu_s = thread_cpu_s() - cpu0;
	d->done -= done0;
	return NULL;
}

struct result {
	double iops, dev_us, total_us;
	double enters, submit_waits, waits, submits; /* per request; -1: sync */
	uint64_t errors;
};

static int run_case(const char *path, bool direct, enum disk_engine engine,
		    unsigned nq, unsigned depth, uint32_t type, double secs,
		    uint64_t nblocks, struct result *res)
{
	struct guest_mem mem;
	memset(&mem, 0, sizeof(mem));
	uint8_t *buf = aligned_alloc(4096, MEM_SIZE);
	if (!buf || guest_mem_add(&mem, MEM_GPA, MEM_SIZE, buf))
		return -ENOMEM;
	memset(buf, 0, MEM_SIZE);
	struct disk_config cfg = { .path = path, .direct = direct,
				   .num_queues = nq, .queue_size = QSIZE,
				   .engine = engine };
	struct virtio_blk *b;
	int r = virtio_blk_create(&b, &cfg, &mem);
	if (r < 0) {
		free(buf);
		return r;
	}
	struct virtio_dev *vd = virtio_blk_vdev(b);
	vd->notify_queue = fake_notify;
	vd->set_needs_reset = fake_needs_reset;
	vd->features_negotiated = vd->ops->features(vd->dev) |
				  (1ULL << VIRTIO_F_VERSION_1) |
				  (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
				  (1ULL << VIRTIO_RING_F_EVENT_IDX);
	struct drv d[MAXQ];
	for (unsigned q = 0; q < nq; q++) {
		uint64_t gpa = MEM_GPA + QREGION * q;
		vd->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		irq_fds[q] = eventfd(0, EFD_CLOEXEC);
		if (vq_init(&vd->vqs[q], &mem, QSIZE, gpa + O_DESC, gpa + O_AVAIL,
			    gpa + O_USED, true))
			abort();
		d[q] = (struct drv){
			.q = q, .base = buf + QREGION * q, .gpa = gpa,
			.depth = depth / nq, .kick_fd = vd->kick_fd[q],
			.irq_fd = irq_fds[q], .type = type, .nblocks = nblocks,
			.seed = 0x9e3779b97f4a7c15ULL * (q + 1),
		};
	}
	if (vd->ops->activate(vd->dev))
		abort();
	atomic_store(&stop_issuing, false);
	atomic_store(&measuring, false);
	pthread_t th[MAXQ];
	for (unsigned q = 0; q < nq; q++)
		pthread_create(&th[q], NULL, drive, &d[q]);
	usleep(300 * 1000); /* warm-up */
	struct blk_uring_stats s0, s1;
	bool uring = virtio_blk_uring_stats(b, &s0);
	double t0 = now_s(), c0 = proc_cpu_s();
	atomic_store(&measuring, true);
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&stop_issuing, true);
	for (unsigned q = 0; q < nq; q++)
		pthread_join(th[q], NULL);
	double wall = now_s() - t0, cpu = proc_cpu_s() - c0;
	virtio_blk_uring_stats(b, &s1);
	uint64_t done = 0, errors = 0;
	double drv_cpu = 0;
	for (unsigned q = 0; q < nq; q++) {
		done += d[q].done;
		errors += d[q].errors;
		drv_cpu += d[q].cpu_s;
	}
	vd->ops->reset(vd->dev);
	for (unsigned q = 0; q < nq; q++) {
		close(vd->kick_fd[q]);
		close(irq_fds[q]);
	}
	virtio_blk_destroy(b);
	free(buf);
	res->iops = done / wall;
	res->total_us = cpu / done * 1e6;
	res->dev_us = (cpu - drv_cpu) / done * 1e6;
	res->errors = errors;
	res->enters = res->submit_waits = res->waits = res->submits = -1;
	if (uring && done) {
		res->submit_waits = (double)(s1.submit_waits - s0.submit_waits) / done;
		res->waits = (double)(s1.waits - s0.waits) / done;
		res->submits = (double)(s1.submits - s0.submits) / done;
		res->enters = res->submit_waits + res->waits + res->submits;
	}
	return 0;
}

static bool listed(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE [SECONDS [ENGINES [QUEUES [DEPTHS [RW]]]]]\n",
			argv[0]);
		return 2;
	}
	const char *path = argv[1];
	double secs = argc > 2 ? atof(argv[2]) : 3;
	const char *engines = argc > 3 ? argv[3] : "uring,sync";
	const char *queues = argc > 4 ? argv[4] : "1,2";
	const char *depths = argc > 5 ? argv[5] : "1,8,32,128";
	const char *rws = argc > 6 ? argv[6] : "randread,randwrite";
	log_set_level(LOG_ERROR);

	struct stat st;
	if (stat(path, &st) < 0) {
		perror(path);
		return 1;
	}
	uint64_t nblocks = (uint64_t)st.st_size / REQ;
	bool direct = true;
	int fd = open(path, O_RDONLY | O_DIRECT);
	if (fd < 0) {
		direct = false;
		printf("# %s: no O_DIRECT (%s): buffered\n", path, strerror(errno));
	} else {
		close(fd);
	}
	printf("# blk_iops %s, %llu MiB, direct=%s, %.1f s per case\n", path,
	       (unsigned long long)(st.st_size >> 20), direct ? "on" : "off", secs);
	printf("# %-9s %-6s %-6s %5s %10s %12s %12s  %s\n", "rw", "engine", "queues",
	       "depth", "IOPS", "device_us", "total_us",
	       "enters/req (submit+wait, wait, submit)");
	static const char *const rw_names[] = { "randread", "randwrite" };
	static const uint32_t rw_types[] = { VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT };
	static const char *const eng_names[] = { "uring", "sync" };
	static const enum disk_engine engs[] = { DISK_ENGINE_URING, DISK_ENGINE_SYNC };
	static const unsigned qs[] = { 1, 2 };
	static const unsigned ds[] = { 1, 8, 32, 128 };
	static const char *const q_names[] = { "1", "2" };
	static const char *const d_names[] = { "1", "8", "32", "128" };
	for (unsigned w = 0; w < 2; w++) {
		if (!listed(rws, rw_names[w]))
			continue;
		for (unsigned di = 0; di < 4; di++) {
			if (!listed(depths, d_names[di]))
				continue;
			for (unsigned qi = 0; qi < 2; qi++) {
				if (!listed(queues, q_names[qi]) || ds[di] < qs[qi])
					continue;
				for (unsigned e = 0; e < 2; e++) {
					if (!listed(engines, eng_names[e]))
						continue;
					struct result r;
					int err = run_case(path, direct, engs[e], qs[qi], ds[di],
							   rw_types[w], secs, nblocks, &r);
					if (err) {
						printf("  %-9s %-6s %-6u %5u  error: %s\n",
						       rw_names[w], eng_names[e], qs[qi], ds[di],
						       strerror(-err));
						continue;
					}
					printf("  %-9s %-6s %-6u %5u %10.0f %12.2f %12.2f",
					       rw_names[w], eng_names[e], qs[qi], ds[di], r.iops,
					       r.dev_us, r.total_us);
					if (r.enters >= 0)
						printf("  %.2f (%.2f, %.2f, %.2f)", r.enters,
						       r.submit_waits, r.waits, r.submits);
					printf("%s\n", r.errors ? "  (errors!)" : "");
					fflush(stdout);
				}
			}
		}
	}
	return 0;
}
