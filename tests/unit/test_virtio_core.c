/* SPDX-License-Identifier: MIT */
/*
 * The virtio core (status machine, feature negotiation, queue checks,
 * reset, DEVICE_NEEDS_RESET) through both transports: every scenario runs
 * once on virtio-pci (common configuration in BAR 0, INTx) and once on
 * virtio-mmio (the register window, its interrupt eventfd). The test is
 * the driver; a virtio-rng device sits behind the transport; no KVM.
 * Also the virtio-mmio register file itself (identity, widths, selectors,
 * InterruptStatus/ACK, resample).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_pci.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "bus.h"
#include "guest_mem.h"
#include "kvm/irq_router.h"
#include "log.h"
#include "log_capture.h"
#include "pci/pci.h"
#include "virtio/core.h"
#include "virtio/mmio.h"
#include "virtio/pci.h"
#include "virtio/rng.h"
#include "pci_fixture.h"
#include "vq_driver.h"

#define MEM_GPA 0x100000ULL
#define MEM_SIZE 0x200000ULL
#define DESC_GPA (MEM_GPA + 0x0)
#define AVAIL_GPA (MEM_GPA + 0x1000)
#define USED_GPA (MEM_GPA + 0x2000)
#define DATA_GPA (MEM_GPA + 0x10000)
#define QSIZE 16
#define MMIO_ADDR 0xfeb01000ULL /* cvmm's first window, clear of the PCI windows */
#define MMIO_GSI 5

#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV VIRTIO_CONFIG_S_DRIVER
#define S_FOK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK VIRTIO_CONFIG_S_DRIVER_OK
#define S_NRS VIRTIO_CONFIG_S_NEEDS_RESET
#define S_ALL (S_ACK | S_DRV | S_FOK | S_DOK)
#define F_VERSION_1 (1ULL << VIRTIO_F_VERSION_1)

struct fx {
	bool mmio;
	struct pci_fixture pf; /* pci_fixture.h: the PCI side, and the MMIO bus of both */
	uint8_t *buf;
	struct guest_mem mem;
	struct virtio_rng *rng;
	struct virtio_pci *vp;
	struct virtio_mmio *vm;
	struct virtio_core *t;
	uint64_t base; /* BAR 0 or the register window */
	struct drv_queue q;
};

/* ---- raw accesses ---- */

static uint32_t rd(struct fx *f, uint64_t off, unsigned len)
{
	return (uint32_t)pfx_mmio_read(&f->pf, f->base + off, len);
}

static void wr(struct fx *f, uint64_t off, unsigned len, uint32_t v)
{
	pfx_mmio_write(&f->pf, f->base + off, len, v);
}

/* ---- the driver's operations, per transport ---- */

#define PC(field) (VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_##field)

static uint8_t status(struct fx *f)
{
	return f->mmio ? (uint8_t)rd(f, VIRTIO_MMIO_STATUS, 4)
		       : (uint8_t)rd(f, PC(STATUS), 1);
}

static void set_status(struct fx *f, uint8_t s)
{
	if (f->mmio)
		wr(f, VIRTIO_MMIO_STATUS, 4, s);
	else
		wr(f, PC(STATUS), 1, s);
}

static uint64_t device_features(struct fx *f)
{
	uint64_t v = 0;
	for (unsigned sel = 0; sel < 2; sel++) {
		if (f->mmio) {
			wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 4, sel);
			v |= (uint64_t)rd(f, VIRTIO_MMIO_DEVICE_FEATURES, 4) << (32 * sel);
		} else {
			wr(f, PC(DFSELECT), 4, sel);
			v |= (uint64_t)rd(f, PC(DF), 4) << (32 * sel);
		}
	}
	return v;
}

static void set_driver_features(struct fx *f, uint64_t feat)
{
	for (unsigned sel = 0; sel < 2; sel++) {
		uint32_t w = (uint32_t)(feat >> (32 * sel));
		if (f->mmio) {
			wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 4, sel);
			wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 4, w);
		} else {
			wr(f, PC(GFSELECT), 4, sel);
			wr(f, PC(GF), 4, w);
		}
	}
}

static void queue_write(struct fx *f, unsigned mmio_reg, unsigned pci_field,
			unsigned pci_len, uint32_t v)
{
	if (f->mmio)
		wr(f, mmio_reg, 4, v);
	else
		wr(f, VIRTIO_PCI_COMMON_OFF + pci_field, pci_len, v);
}

static void select_queue(struct fx *f, unsigned q)
{
	queue_write(f, VIRTIO_MMIO_QUEUE_SEL, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
}

static bool queue_ready(struct fx *f)
{
	return f->mmio ? rd(f, VIRTIO_MMIO_QUEUE_READY, 4)
		       : rd(f, PC(Q_ENABLE), 2);
}

static void setup_queue(struct fx *f, unsigned q, uint16_t size, uint64_t desc,
			uint64_t avail, uint64_t used)
{
	select_queue(f, q);
	queue_write(f, VIRTIO_MMIO_QUEUE_NUM, VIRTIO_PCI_COMMON_Q_SIZE, 2, size);
	queue_write(f, VIRTIO_MMIO_QUEUE_DESC_LOW, VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)desc);
	queue_write(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, VIRTIO_PCI_COMMON_Q_DESCHI, 4, (uint32_t)(desc >> 32));
	queue_write(f, VIRTIO_MMIO_QUEUE_AVAIL_LOW, VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)avail);
	queue_write(f, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, VIRTIO_PCI_COMMON_Q_AVAILHI, 4, (uint32_t)(avail >> 32));
	queue_write(f, VIRTIO_MMIO_QUEUE_USED_LOW, VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)used);
	queue_write(f, VIRTIO_MMIO_QUEUE_USED_HIGH, VIRTIO_PCI_COMMON_Q_USEDHI, 4, (uint32_t)(used >> 32));
	queue_write(f, VIRTIO_MMIO_QUEUE_READY, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
}

static void kick(struct fx *f, unsigned q)
{
	if (f->mmio)
		wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 4, q);
	else
		wr(f, VIRTIO_PCI_NOTIFY_OFF + q * VIRTIO_PCI_NOTIFY_MULT, 2, q);
}

/* Waits for an interrupt; returns the ISR / InterruptStatus and acks it. */
static uint32_t take_interrupt(struct fx *f)
{
	for (int i = 0; i < 5000; i++) {
		if (f->mmio) {
			uint64_t n;
			if (read(virtio_mmio_irq_fd(f->vm), &n, sizeof(n)) == sizeof(n) ||
			    rd(f, VIRTIO_MMIO_INTERRUPT_STATUS, 4)) {
				uint32_t isr = rd(f, VIRTIO_MMIO_INTERRUPT_STATUS, 4);
				wr(f, VIRTIO_MMIO_INTERRUPT_ACK, 4, isr);
				return isr;
			}
		} else if (atomic_load(&f->pf.intx.level)) {
			return rd(f, VIRTIO_PCI_ISR_OFF, 1);
		}
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	return 0;
}

/* Steps 1-6 of the driver initialization (spec 3.1.1). */
static bool negotiate(struct fx *f, uint64_t feat)
{
	set_status(f, 0);
	set_status(f, S_ACK);
	set_status(f, S_ACK | S_DRV);
	set_driver_features(f, feat);
	set_status(f, S_ACK | S_DRV | S_FOK);
	return status(f) & S_FOK;
}

/* Negotiation, queue 0 at the test's rings, DRIVER_OK: the device runs. */
static void driver_up(struct fx *f)
{
	assert_true(negotiate(f, F_VERSION_1));
	setup_queue(f, 0, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	set_status(f, S_ALL);
	assert_int_equal(status(f), S_ALL);
}

static void post_buffer(struct fx *f, uint16_t head, uint64_t addr, uint32_t len)
{
	drv_set_desc(&f->q, head, addr, len, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, head);
}

/* ---- fixture ---- */

static int setup_transport(void **state, bool mmio)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->mmio = mmio;
	pci_fixture_init(&f->pf, PFX_INTX_HOOK);
	f->buf = drv_mem_alloc(&f->mem, MEM_GPA, MEM_SIZE);
	if (!f->buf || virtio_rng_create(&f->rng, NULL, &f->mem))
		return -1;
	f->q = (struct drv_queue){
		.mem = f->buf, .mem_gpa = MEM_GPA, .size = QSIZE,
		.desc_gpa = DESC_GPA, .avail_gpa = AVAIL_GPA, .used_gpa = USED_GPA,
		.kick_fd = -1,
	};
	struct virtio_dev *vd = virtio_rng_vdev(f->rng);
	if (mmio) {
		if (virtio_mmio_create(&f->vm, vd, &f->pf.mmio, MMIO_ADDR, MMIO_GSI, NULL))
			return -1;
		f->t = virtio_mmio_transport(f->vm);
	} else {
		if (virtio_pci_create(&f->vp, vd, &f->pf.pb, &f->pf.router, NULL))
			return -1;
		f->t = virtio_pci_transport(f->vp);
	}
	struct virtio_transport_info info;
	virtio_transport_describe(f->t, &info);
	f->base = info.addr;
	*state = f;
	return 0;
}

static int setup_pci(void **state) { return setup_transport(state, false); }
static int setup_mmio(void **state) { return setup_transport(state, true); }

static int teardown(void **state)
{
	struct fx *f = *state;
	virtio_transport_destroy(f->t);
	virtio_rng_destroy(f->rng);
	pci_fixture_destroy(&f->pf);
	free(f->buf);
	free(f);
	return 0;
}

/* ---- the core, through either transport ---- */

static void test_describe(void **state)
{
	struct fx *f = *state;
	struct virtio_transport_info info;
	virtio_transport_describe(f->t, &info);
	if (f->mmio) {
		assert_string_equal(info.kind, "mmio");
		assert_int_equal(info.addr, MMIO_ADDR);
		assert_int_equal(info.size, VIRTIO_MMIO_SIZE);
		assert_int_equal(info.gsi, MMIO_GSI);
		assert_int_equal(info.pci_slot, -1);
	} else {
		assert_string_equal(info.kind, "pci");
		assert_int_equal(info.size, VIRTIO_PCI_BAR_SIZE);
		assert_int_equal(info.gsi, PFX_INTX_GSI);
		assert_true(info.pci_slot > 0);
	}
}

static void test_feature_negotiation(void **state)
{
	struct fx *f = *state;
	uint64_t df = device_features(f);
	assert_true(df & F_VERSION_1);
	assert_true(df & (1ULL << VIRTIO_RING_F_EVENT_IDX));
	/* Not offered: refused. Without VERSION_1: refused. */
	assert_false(negotiate(f, F_VERSION_1 | (1ULL << 40)));
	assert_false(negotiate(f, 0));
	assert_true(negotiate(f, F_VERSION_1));
	assert_int_equal(f->t->vd->features_negotiated, F_VERSION_1);
	/* Locked after FEATURES_OK. */
	set_driver_features(f, df);
	assert_int_equal(f->t->driver_features, F_VERSION_1);
}

static void test_driver_ok_without_features_ok(void **state)
{
	struct fx *f = *state;
	set_status(f, S_ACK | S_DRV);
	set_status(f, S_ACK | S_DRV | S_DOK);
	assert_true(status(f) & S_NRS);
	set_status(f, 0);
	assert_int_equal(status(f), 0);
}

static void test_queue_checks(void **state)
{
	struct fx *f = *state;
	/* Enabled before FEATURES_OK. */
	set_status(f, S_ACK | S_DRV);
	setup_queue(f, 0, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	assert_true(status(f) & S_NRS);
	assert_false(queue_ready(f));
	/* Size not a power of two, too big, rings outside RAM. */
	assert_true(negotiate(f, F_VERSION_1));
	setup_queue(f, 0, 12, DESC_GPA, AVAIL_GPA, USED_GPA);
	assert_true(status(f) & S_NRS);
	assert_true(negotiate(f, F_VERSION_1));
	setup_queue(f, 0, 4096, DESC_GPA, AVAIL_GPA, USED_GPA);
	assert_true(status(f) & S_NRS);
	assert_true(negotiate(f, F_VERSION_1));
	setup_queue(f, 0, QSIZE, 0x40000000ULL, AVAIL_GPA, USED_GPA);
	assert_true(status(f) & S_NRS);
	/* A good one; its fields are then frozen. */
	assert_true(negotiate(f, F_VERSION_1));
	setup_queue(f, 0, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	assert_false(status(f) & S_NRS);
	assert_true(queue_ready(f));
	queue_write(f, VIRTIO_MMIO_QUEUE_NUM, VIRTIO_PCI_COMMON_Q_SIZE, 2, 4);
	assert_int_equal(f->t->q[0].size, QSIZE);
	/* No such queue: ignored, reads not ready. */
	select_queue(f, 7);
	queue_write(f, VIRTIO_MMIO_QUEUE_READY, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	assert_false(queue_ready(f));
	assert_false(status(f) & S_NRS);
}

static void test_end_to_end_and_reset(void **state)
{
	struct fx *f = *state;
	driver_up(f);
	post_buffer(f, 0, DATA_GPA, 128);
	kick(f, 0);
	assert_true(drv_wait_used_idx(&f->q, 1));
	assert_int_equal(drv_used(&f->q)->ring[0].len, 128);
	assert_int_equal(take_interrupt(f), 1);

	/* The VM builder's reset: as a driver writing 0. */
	virtio_transport_reset(f->t);
	assert_int_equal(status(f), 0);
	select_queue(f, 0);
	assert_false(queue_ready(f));
	assert_int_equal(f->t->vd->features_negotiated, 0);

	/* A broken ring after DRIVER_OK: NEEDS_RESET and a config interrupt. */
	memset(f->buf, 0, 0x3000);
	f->q.avail_idx = 0;
	assert_true(negotiate(f, F_VERSION_1));
	setup_queue(f, 0, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	set_status(f, S_ALL);
	drv_make_avail(&f->q, 200); /* head out of range */
	kick(f, 0);
	for (int i = 0; i < 5000 && !(status(f) & S_NRS); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	assert_true(status(f) & S_NRS);
	assert_true(take_interrupt(f) & 2);
	set_status(f, 0);
	assert_int_equal(status(f), 0);
}

/* ---- the virtio-mmio register file ---- */

static void test_mmio_identity(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE, 4), VIRTIO_MMIO_MAGIC_STRING);
	assert_int_equal(rd(f, VIRTIO_MMIO_VERSION, 4), 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID, 4), VIRTIO_ID_RNG);
	assert_int_equal(rd(f, VIRTIO_MMIO_VENDOR_ID, 4), VIRTIO_MMIO_VENDOR);
	select_queue(f, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX, 4),
			 virtio_rng_vdev(f->rng)->queue_max_size);
	select_queue(f, 1); /* rng has one queue */
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX, 4), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_SHM_LEN_LOW, 4), 0xffffffff);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION, 4), 0);
	/* Other widths and misaligned: read 0, writes ignored. */
	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE, 2), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE + 1, 4), 0);
	wr(f, VIRTIO_MMIO_STATUS, 1, S_ACK);
	assert_int_equal(status(f), 0);
	/* Writes to read-only registers and beyond the config are ignored. */
	wr(f, VIRTIO_MMIO_MAGIC_VALUE, 4, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE, 4), VIRTIO_MMIO_MAGIC_STRING);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG, 4), 0); /* rng: no config */
	wr(f, 0xffc, 4, 1);
	/* The window straddled on the bus: nothing there beyond 4 KiB. */
	uint8_t d[8];
	assert_false(bus_access(&f->pf.mmio, MMIO_ADDR + VIRTIO_MMIO_SIZE, d, 4, false));
}

static void test_mmio_interrupt_ack_and_resample(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vd = virtio_rng_vdev(f->rng);
	uint64_t n;
	int irq = virtio_mmio_irq_fd(f->vm);
	/* Config interrupt: bit 1, the line asserted once. */
	vd->notify_config(vd);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS, 4), 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION, 4), 1);
	assert_int_equal(read(irq, &n, sizeof(n)), sizeof(n));
	/* A queue interrupt while one is pending: no second assertion. */
	vd->notify_queue(vd, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS, 4), 3);
	assert_int_equal(read(irq, &n, sizeof(n)), -1);
	/* The guest EOIs having acked only bit 1: the resample asserts again. */
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, 4, 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS, 4), 1);
	uint64_t one = 1;
	assert_int_equal(write(virtio_mmio_resample_fd(f->vm), &one, sizeof(one)),
			 sizeof(one));
	virtio_mmio_resample(f->vm);
	assert_int_equal(read(irq, &n, sizeof(n)), sizeof(n));
	/* All acked: a resample stays quiet. */
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, 4, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS, 4), 0);
	virtio_mmio_resample(f->vm);
	assert_int_equal(read(irq, &n, sizeof(n)), -1);
	/* Reset clears InterruptStatus. */
	vd->notify_queue(vd, 0);
	set_status(f, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS, 4), 0);
}

static void test_mmio_create_rejects(void **state)
{
	struct fx *f = *state;
	struct virtio_mmio *m;
	struct virtio_dev *vd = virtio_rng_vdev(f->rng);
	/* Misaligned window; a window where one already is. */
	assert_int_equal(virtio_mmio_create(&m, vd, &f->pf.mmio, MMIO_ADDR + 8, 6, NULL),
			 -EINVAL);
	assert_null(m);
	struct virtio_rng *r2;
	assert_int_equal(virtio_rng_create(&r2, NULL, &f->mem), 0);
	assert_true(virtio_mmio_create(&m, virtio_rng_vdev(r2), &f->pf.mmio, MMIO_ADDR,
				       6, NULL) < 0);
	assert_null(m);
	virtio_rng_destroy(r2);
	/* The first one still answers. */
	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE, 4), VIRTIO_MMIO_MAGIC_STRING);
}


/* ---- one failure, one line (docs/logging.md) ---- */

/*
 * A device thread that cannot start (its kick fd swapped for one epoll
 * refuses) was three lines: the worker's, the device's, the core's. Now
 * one, from the device (common.c), and the driver sees NEEDS_RESET.
 */
static void test_activate_failure_one_line(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vd = f->t->vd;
	int kick_fd = vd->kick_fd[0];
	int saved = dup(kick_fd);
	int mfd = memfd_create("not-pollable", MFD_CLOEXEC);
	assert_true(saved >= 0 && mfd >= 0);
	assert_int_equal(dup2(mfd, kick_fd), kick_fd);
	assert_true(negotiate(f, F_VERSION_1));
	setup_queue(f, 0, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);

	struct log_capture cap;
	log_capture_start(&cap, LOG_DEBUG);
	set_status(f, S_ALL);
	unsigned lines = log_capture_stop(&cap);
	assert_true(status(f) & S_NRS);
	assert_int_equal(lines, 1);
	assert_non_null(strstr(cap.text, "virtio-rng: cannot activate: "));
	assert_non_null(strstr(cap.text, "device needs reset"));

	/* Its eventfd back: after a reset the device serves again. */
	assert_int_equal(dup2(saved, kick_fd), kick_fd);
	close(saved);
	close(mfd);
	driver_up(f);
	post_buffer(f, 0, DATA_GPA, 128);
	kick(f, 0);
	assert_true(drv_wait_used_idx(&f->q, 1));
}

/* A ring the driver broke: queue.c's line (what was wrong), nothing else. */
static void test_broken_ring_one_line(void **state)
{
	struct fx *f = *state;
	driver_up(f);

	struct log_capture cap;
	log_capture_start(&cap, LOG_DEBUG);
	/* avail->idx jumps past the queue size. */
	__atomic_store_n(&drv_avail(&f->q)->idx, htole16(QSIZE + 5), __ATOMIC_RELEASE);
	kick(f, 0);
	for (int i = 0; i < 5000 && !(status(f) & S_NRS); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	kick(f, 0); /* broken: left alone, no second line */
	nanosleep(&(struct timespec){ .tv_nsec = 50000000 }, NULL);
	unsigned lines = log_capture_stop(&cap);
	assert_true(status(f) & S_NRS);
	assert_int_equal(lines, 1);
	assert_non_null(strstr(cap.text, "virtqueue virtio-rng.req: avail idx"));
	assert_non_null(strstr(cap.text, "device needs reset"));
	assert_int_equal(atomic_load(&f->t->vd->errors), 1);
}

/*
 * KVM refusing the QueueNotify ioeventfd (a fake KVM: its VM fd is
 * /dev/null) was two lines, KVM_IOEVENTFD's and the transport's; now the
 * transport's, naming the device, the window and the ioctl.
 */
static void test_mmio_kvm_failure_one_line(void **state)
{
	struct fx *f = *state;
	struct kvm fake = { .sys_fd = -1, .teardown_fd = -1 };
	fake.vm_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(fake.vm_fd >= 0);
	struct virtio_rng *r2;
	assert_int_equal(virtio_rng_create(&r2, NULL, &f->mem), 0);
	struct virtio_mmio *m;
	struct log_capture cap;
	log_capture_start(&cap, LOG_DEBUG);
	int ret = virtio_mmio_create(&m, virtio_rng_vdev(r2), &f->pf.mmio,
				     MMIO_ADDR + VIRTIO_MMIO_SIZE, 6, &fake);
	unsigned lines = log_capture_stop(&cap);
	assert_int_equal(ret, -ENOTTY);
	assert_null(m);
	assert_int_equal(lines, 1);
	char want[128];
	snprintf(want, sizeof(want), "virtio-rng: cannot create the virtio-mmio "
		 "transport at 0x%llx: KVM_IOEVENTFD",
		 (unsigned long long)(MMIO_ADDR + VIRTIO_MMIO_SIZE));
	assert_non_null(strstr(cap.text, want));
	virtio_rng_destroy(r2);
	close(fake.vm_fd);
}

/* PCI bus 0 full: pci.c's line (naming the device), not the transport's too. */
static void test_pci_bus_full_one_line(void **state)
{
	struct fx *f = *state;
	struct pci_device *fill = calloc(32, sizeof(*fill));
	assert_non_null(fill);
	unsigned n = 0;
	struct log_capture cap;
	log_capture_start(&cap, LOG_ERROR); /* the filler's own "full" line */
	for (; n < 32; n++) {
		pci_device_init(&fill[n], "filler", 0x1af4, (uint16_t)(0x100 + n),
				0xff0000, 0, 0, 0, NULL);
		if (pci_bus_add_device(&f->pf.pb, &fill[n], (struct irq_line){ 0 }))
			break;
	}
	log_capture_stop(&cap);
	assert_true(n > 0 && n < 32);
	struct virtio_rng *r2;
	assert_int_equal(virtio_rng_create(&r2, NULL, &f->mem), 0);
	struct virtio_pci *vp;
	log_capture_start(&cap, LOG_DEBUG);
	int ret = virtio_pci_create(&vp, virtio_rng_vdev(r2), &f->pf.pb, &f->pf.router, NULL);
	unsigned lines = log_capture_stop(&cap);
	assert_int_equal(ret, -ENOSPC);
	assert_int_equal(lines, 1);
	assert_non_null(strstr(cap.text, "virtio-rng: PCI bus 0 is full"));
	virtio_rng_destroy(r2);
	free(fill);
}

#define BOTH(name)                                                           \
	cmocka_unit_test_setup_teardown(name, setup_pci, teardown),          \
	cmocka_unit_test_setup_teardown(name, setup_mmio, teardown)
#define MMIO(name) cmocka_unit_test_setup_teardown(name, setup_mmio, teardown)
#define PCI(name) cmocka_unit_test_setup_teardown(name, setup_pci, teardown)

int main(void)
{
	log_set_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
		BOTH(test_describe),
		BOTH(test_feature_negotiation),
		BOTH(test_driver_ok_without_features_ok),
		BOTH(test_queue_checks),
		BOTH(test_end_to_end_and_reset),
		MMIO(test_mmio_identity),
		MMIO(test_mmio_interrupt_ack_and_resample),
		MMIO(test_mmio_create_rejects),
		BOTH(test_activate_failure_one_line),
		BOTH(test_broken_ring_one_line),
		MMIO(test_mmio_kvm_failure_one_line),
		PCI(test_pci_bus_full_one_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
