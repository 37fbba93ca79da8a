/* SPDX-License-Identifier: MIT */
/*
 * virtio-console: the test plays the guest driver (rings built by hand in a
 * buffer registered as guest memory) and the host side (pipes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_console.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "guest_mem.h"
#include "log.h"
#include "out_sink.h"
#include "virtio/console.h"
#include "virtio/virtio.h"
#include "virtio/worker.h"
#include "vq_driver.h"

#define MEM_GPA 0x100000ULL
#define MEM_SIZE 0x200000ULL
#define QSIZE VIRTIO_CONSOLE_QUEUE_SIZE
#define SLOTS 64 /* chains in flight per queue: descriptors 2s, 2s+1 */
#define BUF_SIZE 4096
#define RXQ VIRTIO_CONSOLE_RXQ
#define TXQ VIRTIO_CONSOLE_TXQ

struct fx {
	uint8_t *buf;
	struct guest_mem mem;
	struct virtio_console *con;
	struct virtio_dev *vd;
	struct drv_queue q[2];
	struct drv_transport t;
	int in_pipe[2];  /* test writes [1], device reads [0] */
	int out_pipe[2]; /* device writes [1], test reads [0] */
};

/* ---- driver side ---- */

/* Posts n receive buffers of size bytes (split: two descriptors). */
static void rx_post(struct fx *f, unsigned n, uint32_t size, bool split)
{
	struct drv_queue *dq = &f->q[RXQ];
	for (unsigned i = 0; i < n; i++) {
		uint32_t first = split && size > 1 ? size / 2 : 0;
		uint8_t *b = drv_add_slot(dq, size, first, VRING_DESC_F_WRITE);
		memset(b, 0xaa, BUF_SIZE);
	}
	drv_publish_and_kick(dq);
}

/* Queues len bytes for output (split in two descriptors when split). */
static void tx_add(struct fx *f, const void *data, uint32_t len, bool split)
{
	assert_true(len <= BUF_SIZE);
	memcpy(drv_add_slot(&f->q[TXQ], len, split && len > 1 ? len / 2 : 0, 0),
	       data, len);
}

/* Reads exactly len bytes from fd within a few seconds. */
static void read_exact(int fd, uint8_t *buf, size_t len)
{
	uint64_t end = now_ms() + 5000;
	size_t got = 0;
	while (got < len) {
		assert_true(now_ms() < end);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = read(fd, buf + got, len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

/* ---- fixture ---- */

static void activate(struct fx *f)
{
	f->vd->features_negotiated = 1ULL << VIRTIO_F_VERSION_1;
	memset(f->buf, 0, 0x10000);
	for (unsigned q = 0; q < 2; q++) {
		uint64_t desc = MEM_GPA + q * 0x4000;
		f->q[q] = (struct drv_queue){
			.mem = f->buf, .mem_gpa = MEM_GPA, .size = QSIZE,
			.desc_gpa = desc, .avail_gpa = desc + 0x1000,
			.used_gpa = desc + 0x2000,
			.buf_gpa = MEM_GPA + 0x10000 + q * SLOTS * BUF_SIZE,
			.buf_size = BUF_SIZE, .slots = SLOTS,
			.kick_fd = f->vd->kick_fd[q],
		};
		drv_queue_enable(&f->q[q], &f->vd->vqs[q], &f->mem);
	}
	assert_int_equal(f->vd->ops->activate(f->vd->dev), 0);
}

/* in/out: whether the console gets the pipe ends (else -1). */
static struct fx *make_fx(bool in, bool out, bool in_nonblock)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->buf = drv_mem_alloc(&f->mem, MEM_GPA, MEM_SIZE);
	assert_non_null(f->buf);
	assert_int_equal(pipe2(f->in_pipe, O_CLOEXEC), 0);
	assert_int_equal(pipe2(f->out_pipe, O_CLOEXEC), 0);
	if (in_nonblock)
		fcntl(f->in_pipe[0], F_SETFL, O_NONBLOCK);
	assert_int_equal(virtio_console_create(&f->con, in ? f->in_pipe[0] : -1,
					       out ? f->out_pipe[1] : -1,
					       &f->mem),
			 0);
	f->vd = virtio_console_vdev(f->con);
	drv_fake_transport(f->vd, &f->t);
	for (unsigned q = 0; q < 2; q++) {
		f->vd->kick_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(f->vd->kick_fd[q] >= 0);
	}
	return f;
}

static int setup(void **state)
{
	*state = make_fx(true, true, true);
	return 0;
}

static int setup_blocking_in(void **state)
{
	*state = make_fx(true, true, false);
	return 0;
}

static void free_fx(struct fx *f)
{
	int kick[2] = { f->vd->kick_fd[0], f->vd->kick_fd[1] };
	virtio_console_destroy(f->con);
	for (int i = 0; i < 2; i++) {
		close(kick[i]);
		if (f->in_pipe[i] >= 0)
			close(f->in_pipe[i]);
		if (f->out_pipe[i] >= 0)
			close(f->out_pipe[i]);
	}
	free(f->buf);
	free(f);
}

static int teardown(void **state)
{
	free_fx(*state);
	return 0;
}

/* ---- tests ---- */

static void test_identity(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vd = f->vd;
	assert_int_equal(vd->device_id, VIRTIO_ID_CONSOLE);
	assert_int_equal(vd->nqueues, 2);
	assert_true(vd->queue_max_size >= 64);
	uint64_t feat = vd->ops->features(vd->dev);
	assert_false(feat & (1ULL << VIRTIO_CONSOLE_F_MULTIPORT));
	uint8_t cfg[16];
	memset(cfg, 0xff, sizeof(cfg));
	vd->ops->config_read(vd->dev, 0, cfg, vd->config_size);
	for (unsigned i = 0; i < vd->config_size; i++)
		assert_int_equal(cfg[i], 0);
}

static void test_tx_order(void **state)
{
	struct fx *f = *state;
	activate(f);
	static uint8_t want[64 * 1024];
	size_t total = 0;
	for (unsigned round = 0; round < 4; round++) {
		for (unsigned i = 0; i < 50; i++) {
			char line[128];
			unsigned k = round * 50 + i;
			int n = snprintf(line, sizeof(line),
					 "line %u: %.*s\n", k, (int)(k % 60),
					 "abcdefghijklmnopqrstuvwxyz0123456789"
					 "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
			tx_add(f, line, (uint32_t)n, k % 2);
			memcpy(want + total, line, (size_t)n);
			total += (size_t)n;
		}
		drv_publish_and_kick(&f->q[TXQ]);
		assert_int_equal(drv_wait_pending(&f->q[TXQ], 50, 5000), 50);
		for (unsigned i = 0; i < 50; i++) {
			uint32_t len;
			drv_take_used(&f->q[TXQ], &len);
			assert_int_equal(len, 0);
		}
	}
	static uint8_t got[64 * 1024];
	read_exact(f->out_pipe[0], got, total);
	assert_memory_equal(got, want, total);
	struct pollfd p = { .fd = f->out_pipe[0], .events = POLLIN };
	assert_int_equal(poll(&p, 1, 20), 0); /* nothing more */
	struct virtio_console_stats st;
	virtio_console_get_stats(f->con, &st);
	assert_int_equal(st.tx_bytes, total);
	assert_int_equal(st.tx_dropped, 0);
	/* The interrupt follows the used-ring update: wait for it. */
	assert_true(drv_wait_count(&f->t.notified[TXQ], 1));
	assert_int_equal(atomic_load(&f->t.needs_reset), 0);
}

/* Input written in chunks ends up in the guest's buffers, in order. */
static void rx_stream(struct fx *f, size_t total)
{
	uint8_t *in = malloc(total), *out = malloc(total);
	assert_non_null(in);
	assert_non_null(out);
	for (size_t i = 0; i < total; i++)
		in[i] = (uint8_t)(i * 131 + i / 256);
	size_t sent = 0, got = 0;
	struct drv_queue *dq = &f->q[RXQ];
	uint64_t end = now_ms() + 10000;
	while (got < total) {
		assert_true(now_ms() < end);
		if (sent < total) {
			size_t chunk = 1 + (sent * 7) % 300;
			if (chunk > total - sent)
				chunk = total - sent;
			ssize_t n = write(f->in_pipe[1], in + sent, chunk);
			if (n > 0)
				sent += (size_t)n;
		}
		if ((uint16_t)(dq->avail_idx - dq->used_seen) < 4)
			rx_post(f, 1, 16 + dq->avail_idx % 200,
				dq->avail_idx % 2);
		while (drv_used_pending(&f->q[RXQ])) {
			uint32_t len;
			uint8_t *b = drv_take_used(&f->q[RXQ], &len);
			assert_true(len > 0 && got + len <= total);
			memcpy(out + got, b, len);
			got += len;
		}
		usleep(100);
	}
	assert_memory_equal(out, in, total);
	free(in);
	free(out);
}

static void test_rx_order(void **state)
{
	struct fx *f = *state;
	activate(f);
	rx_stream(f, 20000);
	struct virtio_console_stats st;
	virtio_console_get_stats(f->con, &st);
	assert_int_equal(st.rx_bytes, 20000);
	/* The interrupt follows the used-ring update: wait for it. */
	assert_true(drv_wait_count(&f->t.notified[RXQ], 1));
	assert_int_equal(atomic_load(&f->t.needs_reset), 0);
}

/* Input waits in the pipe while the guest has no buffers. */
static void test_rx_waits_for_buffers(void **state)
{
	struct fx *f = *state;
	activate(f);
	static const char msg[] = "typed before the guest was ready";
	assert_int_equal(write(f->in_pipe[1], msg, sizeof(msg) - 1),
			 (ssize_t)sizeof(msg) - 1);
	assert_idle(200); /* not polling in_fd: no spinning */
	assert_int_equal(drv_used_pending(&f->q[RXQ]), 0);
	/* Small buffers: the text arrives in pieces, in order. */
	char got[64] = { 0 };
	size_t n = 0;
	uint64_t end = now_ms() + 5000;
	while (n < sizeof(msg) - 1) {
		assert_true(now_ms() < end);
		rx_post(f, 1, 5, false);
		assert_int_equal(drv_wait_pending(&f->q[RXQ], 1, 2000), 1);
		uint32_t len;
		uint8_t *b = drv_take_used(&f->q[RXQ], &len);
		assert_true(len > 0 && len <= 5);
		memcpy(got + n, b, len);
		n += len;
	}
	assert_string_equal(got, msg);
	/* Nothing is left over: a fresh buffer stays unused. */
	rx_post(f, 1, 64, false);
	assert_idle(100);
	assert_int_equal(drv_used_pending(&f->q[RXQ]), 0);
	assert_int_equal(write(f->in_pipe[1], "x", 1), 1);
	assert_int_equal(drv_wait_pending(&f->q[RXQ], 1, 2000), 1);
	uint32_t len;
	uint8_t *b = drv_take_used(&f->q[RXQ], &len);
	assert_int_equal(len, 1);
	assert_int_equal(b[0], 'x');
}

/* End of input: the device stops reading and does not spin on POLLHUP. */
static void test_rx_eof(void **state)
{
	struct fx *f = *state;
	activate(f);
	rx_post(f, 2, 64, false);
	assert_int_equal(write(f->in_pipe[1], "bye", 3), 3);
	close(f->in_pipe[1]);
	f->in_pipe[1] = -1;
	assert_int_equal(drv_wait_pending(&f->q[RXQ], 1, 2000), 1);
	uint32_t len;
	uint8_t *b = drv_take_used(&f->q[RXQ], &len);
	assert_int_equal(len, 3);
	assert_memory_equal(b, "bye", 3);
	assert_idle(200);
	assert_int_equal(drv_used_pending(&f->q[RXQ]), 0);
	/* More buffers after EOF: still quiet; output still works. */
	rx_post(f, 2, 64, false);
	assert_idle(100);
	assert_int_equal(drv_used_pending(&f->q[RXQ]), 0);
	tx_add(f, "ok", 2, false);
	drv_publish_and_kick(&f->q[TXQ]);
	uint8_t out[2];
	read_exact(f->out_pipe[0], out, 2);
	assert_memory_equal(out, "ok", 2);
}

/* No input fd, output discarded: chains are still completed. */
static void test_no_fds(void **state)
{
	(void)state;
	struct fx *f = make_fx(false, false, true);
	activate(f);
	rx_post(f, 4, 64, false);
	for (unsigned i = 0; i < 10; i++)
		tx_add(f, "discard me", 10, i % 2);
	drv_publish_and_kick(&f->q[TXQ]);
	assert_int_equal(drv_wait_pending(&f->q[TXQ], 10, 2000), 10);
	struct virtio_console_stats st;
	virtio_console_get_stats(f->con, &st);
	assert_int_equal(st.tx_bytes, 100);
	assert_idle(50);
	assert_int_equal(drv_used_pending(&f->q[RXQ]), 0);
	struct pollfd p = { .fd = f->out_pipe[0], .events = POLLIN };
	assert_int_equal(poll(&p, 1, 0), 0);
	free_fx(f);
}

/* A full output that nobody drains: what the pipe does not take waits in
 * the sink's buffer, the rest is dropped and counted, and the device does
 * not hang; once the reader drains the pipe, the buffer goes out first. */
static void test_tx_full_output(void **state)
{
	struct fx *f = *state;
	fcntl(f->out_pipe[1], F_SETFL, O_NONBLOCK);
	int pipe_size = fcntl(f->out_pipe[1], F_GETPIPE_SZ);
	assert_true(pipe_size > 0);
	activate(f);
	static uint8_t chunk[BUF_SIZE];
	memset(chunk, 'z', sizeof(chunk));
	unsigned chains = ((unsigned)pipe_size + OUT_SINK_BUF_SIZE) / BUF_SIZE + 4;
	assert_true(chains <= SLOTS);
	for (unsigned i = 0; i < chains; i++)
		tx_add(f, chunk, BUF_SIZE, false);
	drv_publish_and_kick(&f->q[TXQ]);
	assert_int_equal(drv_wait_pending(&f->q[TXQ], chains, 5000), chains);
	struct virtio_console_stats st;
	virtio_console_get_stats(f->con, &st);
	assert_int_equal(st.tx_bytes + st.tx_dropped, (uint64_t)chains * BUF_SIZE);
	assert_int_equal(st.tx_dropped, 4 * BUF_SIZE);
	assert_int_equal(st.tx_bytes, (uint64_t)pipe_size + OUT_SINK_BUF_SIZE);
	assert_int_equal(out_sink_dropped(virtio_console_out_sink(f->con)), 4 * BUF_SIZE);
	for (unsigned i = 0; i < chains; i++) {
		uint32_t len;
		drv_take_used(&f->q[TXQ], &len);
	}
	/* Drained: the buffer goes out (the control loop's drain), then new
	 * output flows again. */
	static uint8_t sink[1 << 20];
	read_exact(f->out_pipe[0], sink, (size_t)pipe_size);
	out_sink_drain(virtio_console_out_sink(f->con));
	read_exact(f->out_pipe[0], sink, OUT_SINK_BUF_SIZE);
	for (size_t i = 0; i < OUT_SINK_BUF_SIZE; i++)
		assert_int_equal(sink[i], 'z');
	tx_add(f, "again", 5, false);
	drv_publish_and_kick(&f->q[TXQ]);
	uint8_t out[5];
	read_exact(f->out_pipe[0], out, 5);
	assert_memory_equal(out, "again", 5);
}

static void test_ring_violation(void **state)
{
	struct fx *f = *state;
	activate(f);
	drv_add_avail(&f->q[TXQ], QSIZE + 3); /* head out of range */
	drv_publish_and_kick(&f->q[TXQ]);
	uint64_t end = now_ms() + 2000;
	while (atomic_load(&f->t.needs_reset) == 0 && now_ms() < end)
		usleep(500);
	assert_int_equal(atomic_load(&f->t.needs_reset), 1);
	/* Input still works; more kicks on the broken queue change nothing. */
	drv_publish_and_kick(&f->q[TXQ]);
	rx_post(f, 1, 64, false);
	assert_int_equal(write(f->in_pipe[1], "hi", 2), 2);
	assert_int_equal(drv_wait_pending(&f->q[RXQ], 1, 2000), 1);
	assert_int_equal(atomic_load(&f->t.needs_reset), 1);

	/* RX: a readable descriptor after a writable one. */
	struct drv_queue *dq = &f->q[RXQ];
	unsigned slot = dq->avail_idx % SLOTS;
	uint64_t gpa = drv_slot_gpa(dq, slot);
	drv_set_desc(dq, 2 * slot, gpa, 8,
		     VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
		     (uint16_t)(2 * slot + 1));
	drv_set_desc(dq, 2 * slot + 1, gpa + 8, 8, 0, 0);
	drv_add_avail(dq, (uint16_t)(2 * slot));
	drv_publish_and_kick(dq);
	assert_int_equal(write(f->in_pipe[1], "more", 4), 4);
	end = now_ms() + 2000;
	while (atomic_load(&f->t.needs_reset) < 2 && now_ms() < end)
		usleep(500);
	assert_int_equal(atomic_load(&f->t.needs_reset), 2);
	assert_idle(100); /* readable input, broken queue: no spinning */
}

static void test_reset_reactivate(void **state)
{
	struct fx *f = *state;
	activate(f);
	tx_add(f, "one", 3, false);
	drv_publish_and_kick(&f->q[TXQ]);
	uint8_t out[3];
	read_exact(f->out_pipe[0], out, 3);
	f->vd->ops->reset(f->vd->dev);
	vq_reset(&f->vd->vqs[0]);
	vq_reset(&f->vd->vqs[1]);
	assert_int_equal(write(f->in_pipe[1], "kept", 4), 4);
	eventfd_drain(f->vd->kick_fd[0]);
	eventfd_drain(f->vd->kick_fd[1]);
	activate(f);
	rx_post(f, 1, 64, true);
	assert_int_equal(drv_wait_pending(&f->q[RXQ], 1, 2000), 1);
	uint32_t len;
	uint8_t *b = drv_take_used(&f->q[RXQ], &len);
	assert_int_equal(len, 4);
	assert_memory_equal(b, "kept", 4);
	tx_add(f, "two", 3, true);
	drv_publish_and_kick(&f->q[TXQ]);
	read_exact(f->out_pipe[0], out, 3);
	assert_memory_equal(out, "two", 3);
	f->vd->ops->reset(f->vd->dev);
	f->vd->ops->reset(f->vd->dev);
}

/* Input that cannot be polled (a regular file, /dev/null): no input, but
 * the console works; a regular file is fine for output. */
static void test_unpollable_input(void **state)
{
	(void)state;
	char path[] = "/tmp/cvmm-console-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, "never read", 10), 10);
	lseek(fd, 0, SEEK_SET);
	struct fx *f = make_fx(false, true, true);
	int kick[2] = { f->vd->kick_fd[0], f->vd->kick_fd[1] };
	virtio_console_destroy(f->con);
	assert_int_equal(virtio_console_create(&f->con, fd, fd, &f->mem), 0);
	f->vd = virtio_console_vdev(f->con);
	f->vd->kick_fd[0] = kick[0];
	f->vd->kick_fd[1] = kick[1];
	drv_fake_transport(f->vd, &f->t);
	activate(f);
	rx_post(f, 2, 64, false);
	tx_add(f, "out", 3, false);
	drv_publish_and_kick(&f->q[TXQ]);
	assert_int_equal(drv_wait_pending(&f->q[TXQ], 1, 2000), 1);
	assert_idle(50);
	assert_int_equal(drv_used_pending(&f->q[RXQ]), 0);
	char buf[16] = { 0 };
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 10);
	assert_string_equal(buf, "outer read"); /* "out" over "never read" */
	virtio_console_destroy(NULL);
	free_fx(f);
	close(fd);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unpollable_input),
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_order, setup_blocking_in,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_waits_for_buffers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_eof, setup, teardown),
		cmocka_unit_test(test_no_fds),
		cmocka_unit_test_setup_teardown(test_tx_full_output, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ring_violation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reset_reactivate, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
