/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user client (vfio/user.c) through its backend operations,
 * against two kinds of server:
 *
 *   - the project's edu-server (tests/vfio-user/edu-server.c, run as a
 *     child process on one end of a socketpair): version and device info,
 *     region info (the sparse mmap area and its fd), region reads and
 *     writes (identification, liveness, factorial, config space, the
 *     scratch window through the mapping and through messages), interrupt
 *     info, eventfds for MSI-X, MSI and INTx that fire when the device
 *     raises, DMA to and from "guest memory" with the memory fd (the server
 *     maps it) and without (DMA_READ/DMA_WRITE messages served inline),
 *     unmap, reset; and its hostile modes (closing, hanging, garbage,
 *     oversized replies, wrong ids, a bad version): -EIO, in bounded
 *     time, one log line, every later operation -EIO at once;
 *   - a scripted peer in a thread, for what edu-server never does: DMA
 *     requests outside the mapped windows, unsolicited requests
 *     (vfio_user_service), broken capability chains, too many fds.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log_capture.h"
#include "vfio/user.h"
#include "vfio/user_proto.h"
#include "unix_msg.h"

#ifndef EDU_SERVER
#error "EDU_SERVER: the path of edu-server (the Makefile defines it)"
#endif

#define BAR0 VFIO_PCI_BAR0_REGION_INDEX
#define CONFIG VFIO_PCI_CONFIG_REGION_INDEX

/* ---- edu-server as a child process ---- */

struct edu {
	pid_t pid;
	struct vfio_backend *b;
};

/* Starts edu-server with the extra arguments (a NULL-terminated list) on
 * one end of a socketpair; returns the other end. */
static int edu_spawn(struct edu *e, va_list ap)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	const char *argv[24];
	char fdarg[16];
	snprintf(fdarg, sizeof(fdarg), "%d", sv[1]);
	int n = 0;
	argv[n++] = EDU_SERVER;
	argv[n++] = "--fd";
	argv[n++] = fdarg;
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL && n < 22)
		argv[n++] = a;
	argv[n] = NULL;
	fflush(NULL);
	e->pid = fork();
	assert_true(e->pid >= 0);
	if (e->pid == 0) {
		fcntl(sv[1], F_SETFD, 0);
		execv(EDU_SERVER, (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	e->b = NULL;
	return sv[0];
}

/* edu_spawn, then the client opened on its socket: open's result. */
static int edu_start(struct edu *e, unsigned timeout_ms, ...)
{
	va_list ap;
	va_start(ap, timeout_ms);
	int fd = edu_spawn(e, ap);
	va_end(ap);
	return vfio_user_open_fd(fd, "edu.sock", timeout_ms, &e->b);
}

/* Closes the client and reaps the server (killed if it lingers). */
static void edu_stop(struct edu *e)
{
	if (e->b)
		e->b->ops->destroy(e->b);
	e->b = NULL;
	for (int i = 0; i < 200; i++) {
		if (waitpid(e->pid, NULL, WNOHANG) == e->pid)
			return;
		usleep(10000);
	}
	kill(e->pid, SIGKILL);
	waitpid(e->pid, NULL, 0);
}

static uint32_t rd32(struct vfio_backend *b, unsigned region, uint64_t off)
{
	uint32_t v = 0xdeadbeef;
	assert_int_equal(b->ops->region_read(b, region, off, &v, 4), 0);
	return v;
}

static void wr32(struct vfio_backend *b, unsigned region, uint64_t off, uint32_t v)
{
	assert_int_equal(b->ops->region_write(b, region, off, &v, 4), 0);
}

static void wr64(struct vfio_backend *b, unsigned region, uint64_t off, uint64_t v)
{
	assert_int_equal(b->ops->region_write(b, region, off, &v, 8), 0);
}

/* Whether eventfd fd fired (within ms): reads it. */
static bool fired(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, ms) != 1)
		return false;
	uint64_t v;
	return read(fd, &v, sizeof(v)) == sizeof(v) && v > 0;
}

static uint64_t now_ms(void)
{
	return log_capture_now_ms();
}

/* ---- against edu-server ---- */

static void test_info(void **state)
{
	(void)state;
	struct edu e;
	assert_int_equal(edu_start(&e, 2000, NULL), 0);
	struct vfio_backend *b = e.b;
	assert_string_equal(b->kind, "vfio-user");
	assert_string_equal(b->name, "edu.sock");
	assert_false(vfio_user_broken(b));
	struct vfio_device_info di;
	assert_int_equal(b->ops->device_info(b, &di), 0);
	assert_int_equal(di.flags, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
	assert_int_equal(di.num_regions, VFIO_PCI_NUM_REGIONS);
	assert_int_equal(di.num_irqs, VFIO_PCI_NUM_IRQS);

	struct vfio_region_desc d;
	assert_int_equal(b->ops->region_info(b, BAR0, &d), 0);
	assert_int_equal(d.size, 1 << 20);
	assert_int_equal(d.flags, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
					  VFIO_REGION_INFO_FLAG_MMAP);
	assert_int_equal(d.nareas, 1); /* the sparse area: the upper half */
	assert_int_equal(d.areas[0].offset, 0x80000);
	assert_int_equal(d.areas[0].size, 0x80000);
	assert_false(d.msix_mappable);
	assert_int_equal(b->ops->region_info(b, VFIO_PCI_BAR1_REGION_INDEX, &d), 0);
	assert_int_equal(d.size, 4096);
	assert_int_equal(d.flags, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
	assert_int_equal(d.nareas, 0);
	assert_int_equal(b->ops->region_info(b, VFIO_PCI_BAR2_REGION_INDEX, &d), 0);
	assert_int_equal(d.size, 0);
	assert_int_equal(b->ops->region_info(b, CONFIG, &d), 0);
	assert_int_equal(d.size, 256);
	/* A region the server does not have: its error, nothing broken. */
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	assert_int_equal(b->ops->region_info(b, 20, &d), -EINVAL);
	assert_int_equal(b->ops->region_info(b, 64, &d), -EINVAL); /* not even asked */
	unsigned lines = log_capture_stop(&cap);
	assert_int_equal(lines, 1);
	assert_non_null(strstr(cap.text, "vfio-user edu.sock: DEVICE_GET_REGION_INFO: the server replied: Invalid argument"));
	assert_false(vfio_user_broken(b));

	struct vfio_irq_info ii;
	assert_int_equal(b->ops->irq_info(b, VFIO_PCI_INTX_IRQ_INDEX, &ii), 0);
	assert_int_equal(ii.count, 1);
	assert_true(ii.flags & VFIO_IRQ_INFO_EVENTFD);
	assert_true(ii.flags & VFIO_IRQ_INFO_AUTOMASKED);
	assert_int_equal(b->ops->irq_info(b, VFIO_PCI_MSI_IRQ_INDEX, &ii), 0);
	assert_int_equal(ii.count, 1);
	assert_int_equal(b->ops->irq_info(b, VFIO_PCI_MSIX_IRQ_INDEX, &ii), 0);
	assert_int_equal(ii.count, 2);
	assert_int_equal(ii.index, VFIO_PCI_MSIX_IRQ_INDEX);
	assert_int_equal(b->ops->irq_info(b, VFIO_PCI_REQ_IRQ_INDEX, &ii), 0);
	assert_int_equal(ii.count, 0);
	edu_stop(&e);

	/* Without MSI-X and mmap: no BAR1, nothing mappable. */
	assert_int_equal(edu_start(&e, 2000, "--no-msix", "--no-mmap", NULL), 0);
	b = e.b;
	assert_int_equal(b->ops->region_info(b, BAR0, &d), 0);
	assert_int_equal(d.flags, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
	assert_int_equal(d.nareas, 0);
	void *p;
	assert_int_equal(b->ops->region_mmap(b, BAR0, 0x80000, 0x1000, PROT_READ, &p), -ENOTSUP);
	assert_int_equal(b->ops->region_info(b, VFIO_PCI_BAR1_REGION_INDEX, &d), 0);
	assert_int_equal(d.size, 0);
	assert_int_equal(b->ops->irq_info(b, VFIO_PCI_MSIX_IRQ_INDEX, &ii), 0);
	assert_int_equal(ii.count, 0);
	edu_stop(&e);
}

static void test_registers(void **state)
{
	(void)state;
	struct edu e;
	/* 4 bytes a message at most: 8-byte accesses go as two. */
	assert_int_equal(edu_start(&e, 2000, "--max-xfer", "4", NULL), 0);
	struct vfio_backend *b = e.b;
	/* Config space: ids, class, the MSI and MSI-X capabilities. */
	assert_int_equal(rd32(b, CONFIG, 0), 0x11e81234);
	assert_int_equal(rd32(b, CONFIG, 8), 0xff000010); /* class ff, revision 10 */
	uint8_t cfg[256];
	assert_int_equal(b->ops->region_read(b, CONFIG, 0, cfg, sizeof(cfg)), 0);
	assert_int_equal(cfg[0x34], 0x40);
	assert_int_equal(cfg[0x40], 0x05); /* MSI */
	assert_int_equal(cfg[0x41], 0x50);
	assert_int_equal(cfg[0x50], 0x11); /* MSI-X */
	assert_int_equal(cfg[0x3d], 1);    /* INTA# */

	assert_int_equal(rd32(b, BAR0, 0x00), 0x010000ed);
	wr32(b, BAR0, 0x04, 0x12345678);
	assert_int_equal(rd32(b, BAR0, 0x04), (uint32_t)~0x12345678u);
	wr32(b, BAR0, 0x08, 10);
	assert_int_equal(rd32(b, BAR0, 0x20) & 1, 0); /* done */
	assert_int_equal(rd32(b, BAR0, 0x08), 3628800);
	wr32(b, BAR0, 0x08, 12);
	assert_int_equal(rd32(b, BAR0, 0x08), 479001600);
	/* 8-byte DMA registers, split in two messages by max_data_xfer_size. */
	wr64(b, BAR0, 0x80, 0x1122334455667788ull);
	uint64_t v = 0;
	assert_int_equal(b->ops->region_read(b, BAR0, 0x80, &v, 8), 0);
	/* edu takes a 4-byte write at 0x80 as the whole register and has
	 * nothing at 0x84: the halves show it. */
	assert_int_equal(v, 0xffffffff55667788ull);
	/* The scratch window, through messages. */
	uint8_t pat[64], back[64];
	for (unsigned i = 0; i < sizeof(pat); i++)
		pat[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(b->ops->region_write(b, BAR0, 0x80100, pat, sizeof(pat)), 0);
	assert_int_equal(b->ops->region_read(b, BAR0, 0x80100, back, sizeof(back)), 0);
	assert_memory_equal(pat, back, sizeof(pat));
	/* Past the end of the region: the server's error. */
	log_set_level(LOG_ERROR);
	assert_int_equal(b->ops->region_read(b, BAR0, 0xffffe, back, 4), -EINVAL);
	assert_int_equal(b->ops->region_read(b, BAR0, UINT64_MAX - 1, back, 4), -EINVAL);
	log_set_level(LOG_WARN);
	edu_stop(&e);
}

static void test_mmap(void **state)
{
	(void)state;
	struct edu e;
	assert_int_equal(edu_start(&e, 2000, NULL), 0);
	struct vfio_backend *b = e.b;
	struct vfio_region_desc d;
	assert_int_equal(b->ops->region_info(b, BAR0, &d), 0);
	void *p = NULL;
	assert_int_equal(b->ops->region_mmap(b, BAR0, 0x80000, 0x80000, PROT_READ | PROT_WRITE, &p), 0);
	volatile uint32_t *w = p;
	/* Written through the mapping, read through messages, and back. */
	w[0x40] = 0xcafef00d;
	assert_int_equal(rd32(b, BAR0, 0x80100), 0xcafef00d);
	wr32(b, BAR0, 0x80200, 0x5eed5eed);
	assert_int_equal(w[0x80], 0x5eed5eed);
	assert_int_equal(munmap(p, 0x80000), 0);
	/* Only inside the area, page-aligned; never the registers. */
	assert_int_equal(b->ops->region_mmap(b, BAR0, 0, 0x1000, PROT_READ, &p), -EINVAL);
	assert_int_equal(b->ops->region_mmap(b, BAR0, 0x7f000, 0x2000, PROT_READ, &p), -EINVAL);
	assert_int_equal(b->ops->region_mmap(b, BAR0, 0xff000, 0x2000, PROT_READ, &p), -EINVAL);
	assert_int_equal(b->ops->region_mmap(b, BAR0, 0x80800, 0x1000, PROT_READ, &p), -EINVAL);
	assert_int_equal(b->ops->region_mmap(b, BAR0, 0xff000, 0x1000, PROT_READ, &p), 0);
	munmap(p, 0x1000);
	assert_int_equal(b->ops->region_mmap(b, VFIO_PCI_BAR1_REGION_INDEX, 0, 0x1000, PROT_READ, &p),
			 -ENOTSUP);
	edu_stop(&e);
}

static int efd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(fd >= 0);
	return fd;
}

static void set_trigger(struct vfio_backend *b, unsigned index, unsigned start, unsigned count,
			const int32_t *fds)
{
	assert_int_equal(b->ops->set_irqs(b, index, start, count,
					  VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
					  fds, NULL), 0);
}

static void disable(struct vfio_backend *b, unsigned index)
{
	assert_int_equal(b->ops->set_irqs(b, index, 0, 0,
					  VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
					  NULL, NULL), 0);
}

/* MSI-X, MSI, then INTx, each with its eventfds; with max_fds fds a message. */
static void irqs_case(const char *max_fds)
{
	struct edu e;
	assert_int_equal(edu_start(&e, 2000, "--max-fds", max_fds, NULL), 0);
	struct vfio_backend *b = e.b;
	int32_t x[2] = { efd(), efd() };
	int msi = efd(), intx = efd();

	/* MSI-X: the raise register on vector 0, DMA completion on 1. */
	set_trigger(b, VFIO_PCI_MSIX_IRQ_INDEX, 0, 2, x);
	wr32(b, BAR0, 0x60, 0x4);
	assert_true(fired(x[0], 1000));
	assert_false(fired(x[1], 0));
	assert_int_equal(rd32(b, BAR0, 0x24), 0x4);
	wr32(b, BAR0, 0x64, 0x4);
	assert_int_equal(rd32(b, BAR0, 0x24), 0);
	/* A factorial with the interrupt bit: vector 0. */
	wr32(b, BAR0, 0x20, 0x80);
	wr32(b, BAR0, 0x08, 5);
	assert_true(fired(x[0], 1000));
	assert_int_equal(rd32(b, BAR0, 0x24), 0x1);
	wr32(b, BAR0, 0x64, 0x1);
	wr32(b, BAR0, 0x20, 0);
	/* A masked vector keeps its message pending until unmasked. */
	uint8_t yes = 1;
	assert_int_equal(b->ops->set_irqs(b, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1,
					  VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_MASK, NULL, &yes), 0);
	wr32(b, BAR0, 0x60, 0x8);
	assert_false(fired(x[0], 50));
	assert_int_equal(b->ops->set_irqs(b, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1,
					  VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, NULL, NULL), 0);
	assert_true(fired(x[0], 1000));
	wr32(b, BAR0, 0x64, 0x8);
	/* Vector 0 detached (-1), vector 1 kept: the raise goes nowhere
	 * on 0 (edu-server then falls back to vector 0's slot: none). */
	int32_t half[2] = { -1, x[1] };
	set_trigger(b, VFIO_PCI_MSIX_IRQ_INDEX, 0, 2, half);
	wr32(b, BAR0, 0x60, 0x10);
	assert_false(fired(x[0], 50));
	wr32(b, BAR0, 0x64, 0x10);
	/* The client itself may trigger a vector (DATA_NONE|TRIGGER). */
	assert_int_equal(b->ops->set_irqs(b, VFIO_PCI_MSIX_IRQ_INDEX, 1, 1,
					  VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, NULL, NULL), 0);
	assert_true(fired(x[1], 1000));
	disable(b, VFIO_PCI_MSIX_IRQ_INDEX);

	/* MSI. */
	set_trigger(b, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, &msi);
	wr32(b, BAR0, 0x60, 0x1);
	assert_true(fired(msi, 1000));
	assert_false(fired(x[0], 0));
	wr32(b, BAR0, 0x64, 0x1);
	disable(b, VFIO_PCI_MSI_IRQ_INDEX);

	/* INTx: level, automasked once signalled. */
	set_trigger(b, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &intx);
	wr32(b, BAR0, 0x60, 0x2);
	assert_true(fired(intx, 1000));
	assert_true(rd32(b, CONFIG, 4) & (0x08u << 16)); /* status: INTx */
	wr32(b, BAR0, 0x60, 0x20);
	assert_false(fired(intx, 50)); /* masked: no second edge */
	/* Unmasked while still up: signalled again. */
	assert_int_equal(b->ops->set_irqs(b, VFIO_PCI_INTX_IRQ_INDEX, 0, 1,
					  VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, NULL, NULL), 0);
	assert_true(fired(intx, 1000));
	wr32(b, BAR0, 0x64, 0x22);
	assert_false(rd32(b, CONFIG, 4) & (0x08u << 16));
	assert_int_equal(b->ops->set_irqs(b, VFIO_PCI_INTX_IRQ_INDEX, 0, 1,
					  VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, NULL, NULL), 0);
	assert_false(fired(intx, 50)); /* down: nothing */
	/* Refusals the client makes itself. */
	assert_int_equal(b->ops->set_irqs(b, VFIO_PCI_MSIX_IRQ_INDEX, 0, 2,
					  VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
					  NULL, NULL), -EINVAL);
	assert_int_equal(b->ops->set_irqs(b, VFIO_PCI_MSIX_IRQ_INDEX, 4000, 100,
					  VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
					  NULL, NULL), -EINVAL);
	/* ...and the server's: more vectors than it has. */
	int32_t three[3] = { x[0], x[1], msi };
	log_set_level(LOG_ERROR);
	assert_int_equal(b->ops->set_irqs(b, VFIO_PCI_MSIX_IRQ_INDEX, 0, 3,
					  VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
					  three, NULL), -EINVAL);
	log_set_level(LOG_WARN);
	assert_false(vfio_user_broken(b));
	edu_stop(&e);
	close(x[0]);
	close(x[1]);
	close(msi);
	close(intx);
}

static void test_irqs(void **state)
{
	(void)state;
	irqs_case("8");
	irqs_case("1"); /* two MSI-X eventfds: two messages */
}

/* 2 MiB of "guest RAM" at DMA address 0x100000. */
#define RAM_IOVA 0x100000ull
#define RAM_SIZE (2ull << 20)

/* edu DMA: RAM -> buffer -> RAM, 300 bytes of a pattern. */
static void dma_roundtrip(struct vfio_backend *b, uint8_t *ram, int irq_fd)
{
	for (unsigned i = 0; i < 300; i++)
		ram[0x1000 + i] = (uint8_t)(i * 13 + 1);
	memset(ram + 0x3000, 0, 300);
	wr64(b, BAR0, 0x80, RAM_IOVA + 0x1000); /* source: RAM */
	wr64(b, BAR0, 0x88, 0x40000);           /* destination: edu's buffer */
	wr64(b, BAR0, 0x90, 300);
	wr64(b, BAR0, 0x98, 0x1);               /* start, RAM to edu */
	assert_int_equal(rd32(b, BAR0, 0x98) & 1, 0);
	wr64(b, BAR0, 0x80, 0x40000);
	wr64(b, BAR0, 0x88, RAM_IOVA + 0x3000);
	wr64(b, BAR0, 0x90, 300);
	wr64(b, BAR0, 0x98, 0x1 | 0x2 | 0x4);   /* edu to RAM, interrupt */
	assert_int_equal(rd32(b, BAR0, 0x98) & 1, 0);
	assert_memory_equal(ram + 0x1000, ram + 0x3000, 300);
	assert_true(fired(irq_fd, 1000));
	assert_int_equal(rd32(b, BAR0, 0x24), 0x100);
	wr32(b, BAR0, 0x64, 0x100);
}

static void test_dma_fd(void **state)
{
	(void)state;
	struct edu e;
	assert_int_equal(edu_start(&e, 2000, NULL), 0);
	struct vfio_backend *b = e.b;
	int mfd = memfd_create("guest-ram", MFD_CLOEXEC);
	assert_true(mfd >= 0);
	/* The window starts 1 MiB into the file, as high RAM does. */
	assert_int_equal(ftruncate(mfd, (off_t)(RAM_SIZE + (1 << 20))), 0);
	uint8_t *file = mmap(NULL, RAM_SIZE + (1 << 20), PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	assert_true(file != MAP_FAILED);
	uint8_t *ram = file + (1 << 20);
	assert_int_equal(b->ops->dma_map(b, RAM_IOVA, RAM_SIZE, ram, mfd, 1 << 20), 0);
	/* Overlapping windows are refused before asking the server. */
	assert_int_equal(b->ops->dma_map(b, RAM_IOVA + 4096, 4096, ram, -1, 0), -EEXIST);
	int32_t x[2] = { efd(), efd() };
	set_trigger(b, VFIO_PCI_MSIX_IRQ_INDEX, 0, 2, x);
	dma_roundtrip(b, ram, x[1]); /* DMA completion: vector 1 */
	assert_int_equal(b->ops->dma_unmap(b, RAM_IOVA, RAM_SIZE), 0);
	assert_int_equal(b->ops->dma_unmap(b, RAM_IOVA, RAM_SIZE), -ENOENT);
	/* Unmapped: the device's DMA reaches nothing. */
	memset(ram + 0x5000, 0xaa, 16);
	wr64(b, BAR0, 0x80, 0x40000);
	wr64(b, BAR0, 0x88, RAM_IOVA + 0x5000);
	wr64(b, BAR0, 0x90, 16);
	wr64(b, BAR0, 0x98, 0x3);
	assert_int_equal(rd32(b, BAR0, 0x98) & 1, 0);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(ram[0x5000 + i], 0xaa);
	edu_stop(&e);
	munmap(file, RAM_SIZE + (1 << 20));
	close(mfd);
	close(x[0]);
	close(x[1]);
}

static void test_dma_messages(void **state)
{
	(void)state;
	struct edu e;
	assert_int_equal(edu_start(&e, 2000, NULL), 0);
	struct vfio_backend *b = e.b;
	/* Private memory: no fd, the server asks for every byte. */
	uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(ram != MAP_FAILED);
	assert_int_equal(b->ops->dma_map(b, RAM_IOVA, RAM_SIZE, ram, -1, 0), 0);
	int msi = efd();
	set_trigger(b, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, &msi);
	dma_roundtrip(b, ram, msi);
	/* A full 4 KiB buffer, both ways. */
	for (unsigned i = 0; i < 4096; i++)
		ram[0x10000 + i] = (uint8_t)(i ^ (i >> 8));
	wr64(b, BAR0, 0x80, RAM_IOVA + 0x10000);
	wr64(b, BAR0, 0x88, 0x40000);
	wr64(b, BAR0, 0x90, 4096);
	wr64(b, BAR0, 0x98, 0x1);
	wr64(b, BAR0, 0x80, 0x40000);
	wr64(b, BAR0, 0x88, RAM_IOVA + 0x20000);
	wr64(b, BAR0, 0x98, 0x3);
	assert_memory_equal(ram + 0x10000, ram + 0x20000, 4096);
	assert_int_equal(b->ops->dma_unmap(b, RAM_IOVA, RAM_SIZE), 0);
	assert_false(vfio_user_broken(b));
	edu_stop(&e);
	munmap(ram, RAM_SIZE);
	close(msi);
}

static void test_reset(void **state)
{
	(void)state;
	struct edu e;
	assert_int_equal(edu_start(&e, 2000, NULL), 0);
	struct vfio_backend *b = e.b;
	wr32(b, BAR0, 0x04, 1);
	wr32(b, BAR0, 0x08, 6);
	wr32(b, BAR0, 0x20, 0x80);
	assert_int_equal(rd32(b, BAR0, 0x08), 720);
	assert_int_equal(b->ops->reset(b), 0);
	assert_int_equal(rd32(b, BAR0, 0x04), 0);
	assert_int_equal(rd32(b, BAR0, 0x08), 0);
	assert_int_equal(rd32(b, BAR0, 0x20), 0);
	assert_int_equal(rd32(b, BAR0, 0x00), 0x010000ed);
	edu_stop(&e);
}

/* ---- hostile servers ---- */

static int spawn_with(struct edu *e, ...)
{
	va_list ap;
	va_start(ap, e);
	int fd = edu_spawn(e, ap);
	va_end(ap);
	return fd;
}

/*
 * The server misbehaves (`opt` with `arg`, which may be NULL) at a message
 * of an operation, or of open itself (`at_open`): -EIO within the
 * timeout, one error line naming the socket and saying `why`; later
 * operations -EIO at once, without a line.
 */
static void hostile_case(const char *opt, const char *arg, bool at_open, const char *why)
{
	struct edu e;
	struct log_capture cap;
	int fd = spawn_with(&e, opt, arg, NULL);
	/* After the fork: the server's own stderr is not captured. */
	log_capture_start(&cap, LOG_WARN);
	uint64_t t0 = now_ms();
	int r = vfio_user_open_fd(fd, "edu.sock", 300, &e.b);
	if (at_open) {
		uint64_t took = now_ms() - t0;
		unsigned lines = log_capture_stop(&cap);
		if (r != -EIO || lines != 1 || !strstr(cap.text, "vfio-user edu.sock: ") ||
		    !strstr(cap.text, why) || took > 2000 || e.b)
			fail_msg("%s: open gave %d in %llu ms with %u lines: %s", opt, r,
				 (unsigned long long)took, lines, cap.text);
		edu_stop(&e);
		return;
	}
	if (r) {
		log_capture_stop(&cap);
		fail_msg("%s %s: open gave %d: %s", opt, arg, r, cap.text);
	}
	struct vfio_backend *b = e.b;
	uint32_t v = 0;
	t0 = now_ms();
	r = b->ops->region_read(b, BAR0, 0, &v, 4);
	uint64_t took = now_ms() - t0;
	bool is_broken = vfio_user_broken(b);
	t0 = now_ms();
	struct vfio_region_desc d;
	struct vfio_device_info di;
	int r2 = b->ops->region_info(b, BAR0, &d);
	int r3 = b->ops->reset(b);
	int r4 = b->ops->region_write(b, BAR0, 4, &v, 4);
	int r5 = b->ops->device_info(b, &di);
	uint64_t later = now_ms() - t0;
	unsigned lines = log_capture_stop(&cap);
	if (!is_broken || r != -EIO || r2 != -EIO || r3 != -EIO || r4 != -EIO || r5 != -EIO || lines != 1 ||
	    !strstr(cap.text, "vfio-user edu.sock: ") || !strstr(cap.text, why) ||
	    took > 2000 || later > 100)
		fail_msg("%s %s: %d %d %d %d %d in %llu ms then %llu ms, %u lines: %s", opt, arg, r,
			 r2, r3, r4, r5, (unsigned long long)took, (unsigned long long)later, lines,
			 cap.text);
	edu_stop(&e);
}

static void test_hostile(void **state)
{
	(void)state;
	/* Messages 1 and 2 are open's; 3 is the region read. */
	hostile_case("--close-after", "3", false, "the server closed the connection");
	hostile_case("--hang-after", "3", false, "no answer from the server in 300 ms");
	hostile_case("--garbage-after", "3", false, "bytes from the server");
	hostile_case("--oversize-after", "3", false, "a message of 268435456 bytes");
	hostile_case("--wrong-id-after", "3", false, "while waiting for the reply to REGION_READ");
	hostile_case("--close-after", "1", true, "the server closed the connection");
	hostile_case("--hang-after", "2", true, "no answer from the server in 300 ms");
	hostile_case("--garbage-after", "1", true, "bytes from the server");
	hostile_case("--wrong-id-after", "2", true, "while waiting for the reply to DEVICE_GET_INFO");
	hostile_case("--bad-version", NULL, true, "the server speaks vfio-user 7.1");
}

/* ---- a scripted peer ---- */

struct peer {
	int fd;
	pthread_t thread;
	void (*script)(struct peer *p);
	int go;             /* eventfd: the test lets the script go on */
	int memfd;          /* a region's file, from the test */
	int many[9];        /* more fds than a client takes, from the test */
	int result;         /* what the script saw: 0 when all as expected */
	char why[160];
};

static void peer_send(int fd, uint16_t id, uint16_t cmd, uint32_t flags, uint32_t err,
		      const void *payload, size_t len, const int *fds, unsigned nfds)
{
	uint8_t msg[8192];
	struct vfio_user_hdr h = {
		.id = id, .cmd = cmd, .size = (uint32_t)(sizeof(h) + len), .flags = flags, .error = err,
	};
	memcpy(msg, &h, sizeof(h));
	if (len)
		memcpy(msg + sizeof(h), payload, len);
	if (unix_msg_send(fd, msg, sizeof(h) + len, fds, nfds, UINT64_MAX))
		fprintf(stderr, "peer: short send\n");
}

/* One whole message (payload into buf, at most cap); false at EOF. */
static bool peer_recv(int fd, struct vfio_user_hdr *h, void *buf, size_t cap)
{
	if (recv(fd, h, sizeof(*h), MSG_WAITALL) != sizeof(*h))
		return false;
	size_t len = h->size - sizeof(*h);
	uint8_t tmp[8192];
	if (len > sizeof(tmp) || (len && recv(fd, tmp, len, MSG_WAITALL) != (ssize_t)len))
		return false;
	memcpy(buf, tmp, len < cap ? len : cap);
	return true;
}

static void peer_reply(int fd, const struct vfio_user_hdr *req, const void *payload, size_t len)
{
	peer_send(fd, req->id, req->cmd, VFIO_USER_F_TYPE_REPLY, 0, payload, len, NULL, 0);
}

/* The two messages of open: VERSION and DEVICE_GET_INFO. */
static bool peer_open(struct peer *p)
{
	struct vfio_user_hdr h;
	uint8_t buf[512];
	if (!peer_recv(p->fd, &h, buf, sizeof(buf)) || h.cmd != VFIO_USER_VERSION)
		return false;
	uint8_t v[4 + 64] = { 0, 0, 1, 0 };
	int n = snprintf((char *)v + 4, 64, "{\"capabilities\":{\"max_msg_fds\":4}}");
	peer_reply(p->fd, &h, v, 4 + (size_t)n + 1);
	if (!peer_recv(p->fd, &h, buf, sizeof(buf)) || h.cmd != VFIO_USER_DEVICE_GET_INFO)
		return false;
	uint32_t di[4] = { 16, VFIO_DEVICE_FLAGS_PCI, 9, 5 };
	peer_reply(p->fd, &h, di, sizeof(di));
	return true;
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	if (!peer_open(p)) {
		p->result = -1;
		snprintf(p->why, sizeof(p->why), "open went wrong");
	} else {
		p->script(p);
	}
	return NULL;
}

static struct vfio_backend *peer_start(struct peer *p, void (*script)(struct peer *))
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p->fd = sv[1];
	p->script = script;
	p->result = 0;
	p->why[0] = '\0';
	assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
	struct vfio_backend *b = NULL;
	assert_int_equal(vfio_user_open_fd(sv[0], "peer.sock", 1000, &b), 0);
	return b;
}

static void peer_end(struct peer *p, struct vfio_backend *b)
{
	b->ops->destroy(b);
	pthread_join(p->thread, NULL);
	close(p->fd);
	if (p->result)
		fail_msg("peer: %s", p->why);
}

#define PEER_EXPECT(p, cond, ...) do { \
	if (!(cond) && !(p)->result) { \
		(p)->result = -1; \
		snprintf((p)->why, sizeof((p)->why), __VA_ARGS__); \
	} \
} while (0)

/* While the client waits for its reset: DMA requests in and out of the
 * window, one without a reply wanted, one of an unknown command. */
static void script_dma(struct peer *p)
{
	struct vfio_user_hdr h, r;
	uint8_t buf[4096];
	/* DMA_MAP (no fd: private memory) */
	if (!peer_recv(p->fd, &h, buf, sizeof(buf)) || h.cmd != VFIO_USER_DMA_MAP)
		return;
	peer_reply(p->fd, &h, NULL, 0);
	if (!peer_recv(p->fd, &h, buf, sizeof(buf)) || h.cmd != VFIO_USER_DEVICE_RESET)
		return;
	struct vfio_user_hdr reset = h;
	/* In the window: read 8 bytes at 0x1000+0x10. */
	struct vfio_user_dma_access a = { .addr = 0x1010, .count = 8 };
	peer_send(p->fd, 100, VFIO_USER_DMA_READ, VFIO_USER_F_TYPE_COMMAND, 0, &a, sizeof(a), NULL, 0);
	peer_recv(p->fd, &r, buf, sizeof(buf));
	PEER_EXPECT(p, r.id == 100 && r.cmd == VFIO_USER_DMA_READ && !(r.flags & VFIO_USER_F_ERROR) &&
		    r.size == sizeof(r) + 16 + 8 && memcmp(buf + 16, "ramdata!", 8) == 0,
		    "DMA_READ in the window: id %u flags 0x%x size %u", r.id, r.flags, r.size);
	/* Write 4 bytes at 0x1020. */
	uint8_t wmsg[sizeof(a) + 4];
	a = (struct vfio_user_dma_access){ .addr = 0x1020, .count = 4 };
	memcpy(wmsg, &a, sizeof(a));
	memcpy(wmsg + sizeof(a), "WXYZ", 4);
	peer_send(p->fd, 101, VFIO_USER_DMA_WRITE, VFIO_USER_F_TYPE_COMMAND, 0, wmsg, sizeof(wmsg), NULL, 0);
	peer_recv(p->fd, &r, buf, sizeof(buf));
	PEER_EXPECT(p, r.id == 101 && !(r.flags & VFIO_USER_F_ERROR) && r.size == sizeof(r) + 16,
		    "DMA_WRITE in the window: flags 0x%x size %u", r.flags, r.size);
	/* Outside: below, across the end, wrapping around, too large. */
	const struct vfio_user_dma_access bad[] = {
		{ 0xfff, 2 }, { 0x1ffc, 8 }, { UINT64_MAX - 3, 8 }, { 0x1000, (1u << 20) + 1 },
		{ 0x3000, 1 },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		peer_send(p->fd, (uint16_t)(200 + i), VFIO_USER_DMA_READ, VFIO_USER_F_TYPE_COMMAND, 0,
			  &bad[i], sizeof(bad[i]), NULL, 0);
		peer_recv(p->fd, &r, buf, sizeof(buf));
		PEER_EXPECT(p, r.id == 200 + i && (r.flags & VFIO_USER_F_ERROR) && r.error &&
			    r.size == sizeof(r), "DMA_READ %u outside: flags 0x%x error %u", i, r.flags,
			    r.error);
	}
	/* A write outside changes nothing (checked by the test). */
	a = (struct vfio_user_dma_access){ .addr = 0x2000, .count = 4 };
	memcpy(wmsg, &a, sizeof(a));
	peer_send(p->fd, 300, VFIO_USER_DMA_WRITE, VFIO_USER_F_TYPE_COMMAND, 0, wmsg, sizeof(wmsg), NULL, 0);
	peer_recv(p->fd, &r, buf, sizeof(buf));
	PEER_EXPECT(p, (r.flags & VFIO_USER_F_ERROR) && r.error == EFAULT, "DMA_WRITE outside");
	/* No reply wanted: none comes (the next reply is the reset's echo). */
	a = (struct vfio_user_dma_access){ .addr = 0x1030, .count = 2 };
	memcpy(wmsg, &a, sizeof(a));
	memcpy(wmsg + sizeof(a), "nr", 2);
	peer_send(p->fd, 301, VFIO_USER_DMA_WRITE, VFIO_USER_F_TYPE_COMMAND | VFIO_USER_F_NO_REPLY, 0,
		  wmsg, sizeof(a) + 2, NULL, 0);
	/* A command a client does not serve. */
	peer_send(p->fd, 302, VFIO_USER_DEVICE_RESET, VFIO_USER_F_TYPE_COMMAND, 0, NULL, 0, NULL, 0);
	peer_recv(p->fd, &r, buf, sizeof(buf));
	PEER_EXPECT(p, r.id == 302 && (r.flags & VFIO_USER_F_ERROR) && r.error == ENOTSUP,
		    "unknown command: id %u flags 0x%x error %u", r.id, r.flags, r.error);
	peer_reply(p->fd, &reset, NULL, 0);
	/* Later, unsolicited: a write the client serves in vfio_user_service. */
	a = (struct vfio_user_dma_access){ .addr = 0x1040, .count = 3 };
	memcpy(wmsg, &a, sizeof(a));
	memcpy(wmsg + sizeof(a), "svc", 3);
	peer_send(p->fd, 400, VFIO_USER_DMA_WRITE, VFIO_USER_F_TYPE_COMMAND, 0, wmsg, sizeof(a) + 3, NULL, 0);
	peer_recv(p->fd, &r, buf, sizeof(buf));
	PEER_EXPECT(p, r.id == 400 && !(r.flags & VFIO_USER_F_ERROR), "unsolicited DMA_WRITE");
	/* And then, once the test has served that, a reply to nothing: the
	 * connection breaks. */
	uint64_t go;
	if (read(p->go, &go, sizeof(go)) != sizeof(go))
		return;
	peer_send(p->fd, 401, VFIO_USER_REGION_READ, VFIO_USER_F_TYPE_REPLY, 0, NULL, 0, NULL, 0);
	while (peer_recv(p->fd, &r, buf, sizeof(buf)))
		;
}

static void test_peer_dma(void **state)
{
	(void)state;
	struct peer p;
	uint8_t ram[0x1000];
	memset(ram, 0, sizeof(ram));
	memcpy(ram + 0x10, "ramdata!", 8);
	p.go = eventfd(0, EFD_CLOEXEC);
	struct vfio_backend *b = peer_start(&p, script_dma);
	assert_int_equal(b->ops->dma_map(b, 0x1000, sizeof(ram), ram, -1, 0), 0);
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	int r_reset = b->ops->reset(b);
	bool wrote = memcmp(ram + 0x20, "WXYZ", 4) == 0 && memcmp(ram + 0x30, "nr", 2) == 0;
	/* Served between requests. */
	struct pollfd pf = { .fd = vfio_user_poll_fd(b), .events = POLLIN };
	int p1 = poll(&pf, 1, 1000);
	int r_svc = vfio_user_service(b);
	bool served = memcmp(ram + 0x40, "svc", 3) == 0;
	uint64_t one = 1;
	assert_int_equal(write(p.go, &one, sizeof(one)), sizeof(one));
	int p2 = poll(&pf, 1, 1000);
	int r_svc2 = vfio_user_service(b);
	bool is_broken = vfio_user_broken(b);
	unsigned lines = log_capture_stop(&cap);
	if (r_reset)
		fail_msg("reset: %d: %s", r_reset, cap.text);
	assert_true(wrote);
	assert_int_equal(p1, 1);
	assert_int_equal(r_svc, 0);
	assert_true(served);
	assert_int_equal(p2, 1);
	assert_int_equal(r_svc2, -EIO);
	assert_true(is_broken);
	/* 6 refused DMA requests and the unknown command (rate-limited,
	 * within the first 10), then the break. */
	if (lines != 8 || !strstr(cap.text, "vfio-user peer.sock: DMA_READ of 0xfff+0x2 outside the mapped guest memory: refused"))
		fail_msg("%u lines: %s", lines, cap.text);
	close(p.go);
	peer_end(&p, b);
}

/* Region info with capabilities that point anywhere, areas outside the
 * region, an fd without MMAP, two fds, and a reply too long for the first
 * argsz. */
static void script_caps(struct peer *p)
{
	struct vfio_user_hdr h;
	uint8_t buf[4096];
	int memfd = p->memfd;
	for (int round = 0; round < 4; round++) {
		if (!peer_recv(p->fd, &h, buf, sizeof(buf)) || h.cmd != VFIO_USER_DEVICE_GET_REGION_INFO)
			break;
		struct vfio_region_info ri;
		memcpy(&ri, buf, sizeof(ri));
		uint32_t asked = ri.argsz;
		uint8_t out[2048];
		memset(out, 0, sizeof(out));
		ri = (struct vfio_region_info){
			.argsz = sizeof(ri), .index = ri.index, .size = 0x10000,
			.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_MMAP |
				 VFIO_REGION_INFO_FLAG_CAPS,
			.cap_offset = sizeof(ri),
		};
		struct vfio_region_info_cap_sparse_mmap sm = {
			.header = { .id = VFIO_REGION_INFO_CAP_SPARSE_MMAP, .version = 1 },
			.nr_areas = 4,
		};
		struct vfio_region_sparse_mmap_area areas[4] = {
			{ 0x1000, 0x1000 }, { 0x8000, 0x10000 } /* past the end */,
			{ 0x3000, 0 } /* empty */, { 0x4800, 0x800 } /* unaligned */,
		};
		size_t n = sizeof(ri) + sizeof(sm) + sizeof(areas);
		int fds[2] = { memfd, memfd };
		unsigned nfds = 1;
		switch (round) {
		case 0: /* a loop back to itself after the sparse cap */
			sm.header.next = sizeof(ri);
			break;
		case 1: /* the first capability outside the reply */
			ri.cap_offset = 4000;
			break;
		case 2: /* too long for the 512 bytes first asked: asked again */
			if (asked < 1024) {
				ri.argsz = 1024;
				n = sizeof(ri);
				nfds = 0;
			} else {
				ri.argsz = 1024;
				n = 1024;
				/* an MSIX_MAPPABLE cap after the sparse one */
				sm.header.next = (uint32_t)(sizeof(ri) + sizeof(sm) + sizeof(areas));
				struct vfio_info_cap_header mx = { .id = VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, .version = 1 };
				memcpy(out + sm.header.next, &mx, sizeof(mx));
			}
			break;
		case 3: /* two fds: not used */
			nfds = 2;
			break;
		}
		memcpy(out, &ri, sizeof(ri));
		memcpy(out + sizeof(ri), &sm, sizeof(sm));
		memcpy(out + sizeof(ri) + sizeof(sm), areas, sizeof(areas));
		peer_send(p->fd, h.id, h.cmd, VFIO_USER_F_TYPE_REPLY, 0, out, n, fds, nfds);
		if (round == 2 && asked < 1024)
			round--; /* the second ask of round 2 */
	}
	/* Then a message with more fds than the client takes. */
	if (peer_recv(p->fd, &h, buf, sizeof(buf)))
		peer_send(p->fd, h.id, h.cmd, VFIO_USER_F_TYPE_REPLY, 0, NULL, 0, p->many, 9);
	while (peer_recv(p->fd, &h, buf, sizeof(buf)))
		;
}

static unsigned open_fds(void)
{
	unsigned n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static void test_peer_caps(void **state)
{
	(void)state;
	struct peer p;
	p.memfd = memfd_create("bar", MFD_CLOEXEC);
	assert_int_equal(ftruncate(p.memfd, 0x10000), 0);
	for (int i = 0; i < 9; i++)
		p.many[i] = eventfd(0, EFD_CLOEXEC);
	struct vfio_backend *b = peer_start(&p, script_caps);
	struct vfio_region_desc d;
	log_set_level(LOG_ERROR);
	unsigned fds_before = open_fds();
	/* A loop: the areas before it still count (the one good area). */
	assert_int_equal(b->ops->region_info(b, 0, &d), 0);
	assert_int_equal(d.size, 0x10000);
	assert_true(d.flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_int_equal(d.nareas, 1);
	assert_int_equal(d.areas[0].offset, 0x1000);
	/* No usable capability: the whole region. */
	assert_int_equal(b->ops->region_info(b, 1, &d), 0);
	assert_int_equal(d.nareas, 1);
	assert_int_equal(d.areas[0].size, 0x10000);
	/* Asked again with room; MSIX_MAPPABLE seen. */
	assert_int_equal(b->ops->region_info(b, 2, &d), 0);
	assert_int_equal(d.nareas, 1);
	assert_true(d.msix_mappable);
	void *m;
	assert_int_equal(b->ops->region_mmap(b, 2, 0x1000, 0x1000, PROT_READ, &m), 0);
	munmap(m, 0x1000);
	/* Two fds: which one? Neither: trapped. */
	assert_int_equal(b->ops->region_info(b, 3, &d), 0);
	assert_false(d.flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_int_equal(d.nareas, 0);
	assert_int_equal(b->ops->region_mmap(b, 3, 0x1000, 0x1000, PROT_READ, &m), -ENOTSUP);
	/* One region fd kept per mappable region (0, 1, 2), nothing else. */
	assert_int_equal(open_fds(), fds_before + 3);
	/* Nine fds: broken, and none of them kept. */
	struct log_capture cap;
	log_capture_start(&cap, LOG_ERROR);
	int r = b->ops->reset(b);
	unsigned lines = log_capture_stop(&cap);
	assert_int_equal(r, -EIO);
	assert_int_equal(lines, 1);
	assert_non_null(strstr(cap.text, "vfio-user peer.sock: the server sent more than 8 file descriptors"));
	assert_true(vfio_user_broken(b));
	assert_int_equal(open_fds(), fds_before + 3);
	log_set_level(LOG_WARN);
	peer_end(&p, b);
	/* All gone with the backend; the peer's end closed too. */
	assert_int_equal(open_fds(), fds_before - 2);
	close(p.memfd);
	for (int i = 0; i < 9; i++)
		close(p.many[i]);
}

int main(void)
{
	/* A server that dies must not take the test with it. */
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_registers),
		cmocka_unit_test(test_mmap),
		cmocka_unit_test(test_irqs),
		cmocka_unit_test(test_dma_fd),
		cmocka_unit_test(test_dma_messages),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_peer_dma),
		cmocka_unit_test(test_peer_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
