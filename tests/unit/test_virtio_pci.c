/* SPDX-License-Identifier: MIT */
/*
 * virtio-pci transport tests. The test is the guest driver: it finds the
 * device and its capabilities through PCI configuration accesses, reads
 * BAR 0's address, and talks to the transport only through the MMIO bus
 * the BAR is mapped on. A virtio-rng device sits behind the transport;
 * the irq router has no KVM (kvm == NULL: no ioctls, no ioeventfds), INTA#
 * is a fake line that records its level, MSI-X vectors are plain eventfds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
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
#include "pci/msix.h"
#include "pci/pci.h"
#include "virtio/pci.h"
#include "virtio/blk.h"
#include "virtio/rng.h"
#include "log_capture.h"
#include "pci_fixture.h"
#include "vq_driver.h"

#define MEM_GPA 0x100000ULL
#define MEM_SIZE 0x200000ULL
#define DESC_GPA (MEM_GPA + 0x0)
#define AVAIL_GPA (MEM_GPA + 0x1000)
#define USED_GPA (MEM_GPA + 0x2000)
#define DATA_GPA (MEM_GPA + 0x10000)
#define QSIZE 16

#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV VIRTIO_CONFIG_S_DRIVER
#define S_FOK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK VIRTIO_CONFIG_S_DRIVER_OK
#define S_NRS VIRTIO_CONFIG_S_NEEDS_RESET

#define F_VERSION_1 (1ULL << VIRTIO_F_VERSION_1)
#define F_EVENT_IDX (1ULL << VIRTIO_RING_F_EVENT_IDX)
#define F_INDIRECT (1ULL << VIRTIO_RING_F_INDIRECT_DESC)

struct fx {
	struct pci_fixture pf; /* pci_fixture.h: buses, windows, router, INTx */
	uint8_t *buf;
	struct guest_mem mem;
	struct virtio_rng *rng;
	struct virtio_blk *blk; /* instead of rng (setup_blk) */
	char disk[32];
	struct virtio_dev *vd;
	struct virtio_pci *vp;
	/* What the driver found. */
	unsigned slot;
	uint64_t bar;
	uint32_t common, notify, isr, device, notify_mult;
	bool has_device_cap;
	unsigned msix_cap;
	uint32_t msix_table, msix_pba;
	unsigned msix_size;
	struct drv_queue q; /* queue 0, as the driver sets it up */
};

/* ---- PCI configuration space, as the driver sees it ---- */

static uint32_t cfg_read(struct fx *f, unsigned slot, unsigned off, unsigned len)
{
	return pfx_cfg_read(&f->pf, slot, off, len);
}

static void cfg_write(struct fx *f, unsigned off, unsigned len, uint32_t v)
{
	pfx_cfg_write(&f->pf, f->slot, off, len, v);
}

/* ---- BAR 0 accesses through the MMIO bus ---- */

static uint64_t mmio_read(struct fx *f, uint64_t off, unsigned len)
{
	return pfx_mmio_read(&f->pf, f->bar + off, len);
}

static void mmio_write(struct fx *f, uint64_t off, unsigned len, uint64_t v)
{
	pfx_mmio_write(&f->pf, f->bar + off, len, v);
}

static uint32_t cr(struct fx *f, unsigned field, unsigned len)
{
	return (uint32_t)mmio_read(f, f->common + field, len);
}

static void cw(struct fx *f, unsigned field, unsigned len, uint32_t v)
{
	mmio_write(f, f->common + field, len, v);
}

static uint8_t status(struct fx *f)
{
	return (uint8_t)cr(f, VIRTIO_PCI_COMMON_STATUS, 1);
}

static void set_status(struct fx *f, uint8_t s)
{
	cw(f, VIRTIO_PCI_COMMON_STATUS, 1, s);
}

static uint64_t device_features(struct fx *f)
{
	cw(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	uint64_t lo = cr(f, VIRTIO_PCI_COMMON_DF, 4);
	cw(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	uint64_t hi = cr(f, VIRTIO_PCI_COMMON_DF, 4);
	return hi << 32 | lo;
}

static void set_driver_features(struct fx *f, uint64_t feat)
{
	cw(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	cw(f, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)feat);
	cw(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	cw(f, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)(feat >> 32));
}

static uint64_t driver_features(struct fx *f)
{
	cw(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	uint64_t lo = cr(f, VIRTIO_PCI_COMMON_GF, 4);
	cw(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	uint64_t hi = cr(f, VIRTIO_PCI_COMMON_GF, 4);
	return hi << 32 | lo;
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

static void setup_queue(struct fx *f, uint16_t size, uint64_t desc,
			uint64_t avail, uint64_t used)
{
	cw(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	cw(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, size);
	cw(f, VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)desc);
	cw(f, VIRTIO_PCI_COMMON_Q_DESCHI, 4, (uint32_t)(desc >> 32));
	cw(f, VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)avail);
	cw(f, VIRTIO_PCI_COMMON_Q_AVAILHI, 4, (uint32_t)(avail >> 32));
	cw(f, VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)used);
	cw(f, VIRTIO_PCI_COMMON_Q_USEDHI, 4, (uint32_t)(used >> 32));
	cw(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
}

static uint8_t read_isr(struct fx *f)
{
	return (uint8_t)mmio_read(f, f->isr, 1);
}

/* ---- rings ---- */

static void post_buffer(struct fx *f, uint16_t head, uint64_t addr, uint32_t len)
{
	drv_set_desc(&f->q, head, addr, len, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, head);
}

static bool wait_level(_Atomic int *v, int want)
{
	for (int i = 0; i < 5000; i++) {
		if (atomic_load(v) == want)
			return true;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	return false;
}

static uint64_t irqfd_count(struct fx *f, unsigned v)
{
	uint64_t n = 0;
	if (read(virtio_pci_msix(f->vp)->vec[v].irqfd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

/* ---- the guest's discovery ---- */

static void discover(struct fx *f)
{
	f->slot = PCI_MAX_SLOTS;
	for (unsigned s = 0; s < PCI_MAX_SLOTS; s++) {
		if (cfg_read(f, s, PCI_VENDOR_ID, 2) == VIRTIO_PCI_VENDOR &&
		    cfg_read(f, s, PCI_DEVICE_ID, 2) == 0x1040u + f->vd->device_id) {
			f->slot = s;
			break;
		}
	}
	assert_true(f->slot < PCI_MAX_SLOTS);
	unsigned s = f->slot;

	uint32_t bar_lo = cfg_read(f, s, PCI_BASE_ADDRESS_0, 4);
	assert_int_equal(bar_lo & PCI_BASE_ADDRESS_SPACE, PCI_BASE_ADDRESS_SPACE_MEMORY);
	assert_int_equal(bar_lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK, PCI_BASE_ADDRESS_MEM_TYPE_64);
	f->bar = (bar_lo & PCI_BASE_ADDRESS_MEM_MASK) |
		 (uint64_t)cfg_read(f, s, PCI_BASE_ADDRESS_1, 4) << 32;
	assert_true(f->bar != 0);

	assert_true(cfg_read(f, s, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	unsigned seen = 0;
	for (unsigned off = cfg_read(f, s, PCI_CAPABILITY_LIST, 1) & ~3u, n = 0;
	     off && n < 48; off = cfg_read(f, s, off + PCI_CAP_LIST_NEXT, 1) & ~3u, n++) {
		unsigned id = cfg_read(f, s, off, 1);
		if (id == PCI_CAP_ID_MSIX) {
			f->msix_cap = off;
			f->msix_size = (cfg_read(f, s, off + PCI_MSIX_FLAGS, 2) &
					PCI_MSIX_FLAGS_QSIZE) + 1;
			uint32_t t = cfg_read(f, s, off + PCI_MSIX_TABLE, 4);
			uint32_t p = cfg_read(f, s, off + PCI_MSIX_PBA, 4);
			assert_int_equal(t & PCI_MSIX_TABLE_BIR, 0);
			assert_int_equal(p & PCI_MSIX_PBA_BIR, 0);
			f->msix_table = t & PCI_MSIX_TABLE_OFFSET;
			f->msix_pba = p & PCI_MSIX_PBA_OFFSET;
			continue;
		}
		if (id != PCI_CAP_ID_VNDR)
			continue;
		unsigned type = cfg_read(f, s, off + VIRTIO_PCI_CAP_CFG_TYPE, 1);
		assert_int_equal(cfg_read(f, s, off + VIRTIO_PCI_CAP_BAR, 1), 0);
		uint32_t o = cfg_read(f, s, off + VIRTIO_PCI_CAP_OFFSET, 4);
		uint32_t len = cfg_read(f, s, off + VIRTIO_PCI_CAP_LENGTH, 4);
		seen |= 1u << type;
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			assert_true(len >= sizeof(struct virtio_pci_common_cfg));
			f->common = o;
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			assert_true(cfg_read(f, s, off + VIRTIO_PCI_CAP_LEN, 1) >=
				    sizeof(struct virtio_pci_notify_cap));
			f->notify = o;
			f->notify_mult = cfg_read(f, s, off + VIRTIO_PCI_NOTIFY_CAP_MULT, 4);
			assert_true(len >= 2); /* queue 0: 0 * mult + 2 */
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			assert_true(len >= 1);
			f->isr = o;
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			f->has_device_cap = true;
			f->device = o;
			break;
		}
	}
	unsigned need = 1u << VIRTIO_PCI_CAP_COMMON_CFG |
			1u << VIRTIO_PCI_CAP_NOTIFY_CFG | 1u << VIRTIO_PCI_CAP_ISR_CFG;
	assert_int_equal(seen & need, need);
	assert_true(f->msix_cap != 0);
}

/* The fixture with virtio-rng, or with virtio-blk on a 1 MiB scratch file. */
static int setup_dev(void **state, bool blk)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	pci_fixture_init(&f->pf, PFX_M64 | PFX_INTX_HOOK);
	f->buf = drv_mem_alloc(&f->mem, MEM_GPA, MEM_SIZE);
	if (!f->buf)
		return -1;
	f->q = (struct drv_queue){
		.mem = f->buf, .mem_gpa = MEM_GPA, .size = QSIZE,
		.desc_gpa = DESC_GPA, .avail_gpa = AVAIL_GPA, .used_gpa = USED_GPA,
		.kick_fd = -1, /* the driver kicks through the notify region */
	};
	if (blk) {
		snprintf(f->disk, sizeof(f->disk), "/tmp/cvmm-vpci-XXXXXX");
		int fd = mkstemp(f->disk);
		if (fd < 0 || ftruncate(fd, 1 << 20) || close(fd))
			return -1;
		struct disk_config dc = { .path = f->disk };
		if (virtio_blk_create(&f->blk, &dc, &f->mem))
			return -1;
		f->vd = virtio_blk_vdev(f->blk);
	} else {
		if (virtio_rng_create(&f->rng, NULL, &f->mem))
			return -1;
		f->vd = virtio_rng_vdev(f->rng);
	}
	if (virtio_pci_create(&f->vp, f->vd, &f->pf.pb, &f->pf.router, NULL))
		return -1;
	*state = f;
	discover(f);
	return 0;
}

static int setup(void **state)
{
	return setup_dev(state, false);
}

static int setup_blk(void **state)
{
	return setup_dev(state, true);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	virtio_pci_destroy(f->vp);
	virtio_rng_destroy(f->rng);
	virtio_blk_destroy(f->blk);
	if (f->blk)
		unlink(f->disk);
	pci_fixture_destroy(&f->pf);
	free(f->buf);
	free(f);
	return 0;
}

/* ---- tests ---- */

static void test_identity(void **state)
{
	struct fx *f = *state;
	unsigned s = f->slot;
	assert_int_equal(virtio_pci_device(f->vp)->slot, s);
	assert_int_equal(cfg_read(f, s, PCI_REVISION_ID, 1), 1);
	assert_int_equal(cfg_read(f, s, PCI_CLASS_PROG, 1), 0x00);
	assert_int_equal(cfg_read(f, s, PCI_CLASS_DEVICE, 2), 0x00ff);
	assert_int_equal(cfg_read(f, s, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(cfg_read(f, s, PCI_SUBSYSTEM_ID, 2), 0x40 + VIRTIO_ID_RNG);
	assert_int_equal(cfg_read(f, s, PCI_INTERRUPT_PIN, 1), 1);
	assert_int_equal(cfg_read(f, s, PCI_INTERRUPT_LINE, 1), PFX_INTX_GSI);
	assert_true(cfg_read(f, s, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY);
	/* rng: no device config, one queue, config vector + one per queue. */
	assert_false(f->has_device_cap);
	assert_int_equal(f->msix_size, 2);
	assert_int_equal(f->notify_mult, 4);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_NUMQ, 2), 1);
	assert_int_equal(status(f), 0);
	/* The BAR size, as a driver sizes it (decoding off meanwhile). */
	uint32_t cmd = cfg_read(f, s, PCI_COMMAND, 2);
	cfg_write(f, PCI_COMMAND, 2, cmd & ~PCI_COMMAND_MEMORY);
	uint32_t lo = cfg_read(f, s, PCI_BASE_ADDRESS_0, 4);
	cfg_write(f, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	uint32_t sz = cfg_read(f, s, PCI_BASE_ADDRESS_0, 4) & PCI_BASE_ADDRESS_MEM_MASK;
	cfg_write(f, PCI_BASE_ADDRESS_0, 4, lo);
	cfg_write(f, PCI_COMMAND, 2, cmd);
	assert_int_equal(~sz + 1, VIRTIO_PCI_BAR_SIZE);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_NUMQ, 2), 1);
}

static void test_features(void **state)
{
	struct fx *f = *state;
	uint64_t dev = device_features(f);
	assert_true(dev & F_VERSION_1);
	assert_true(dev & F_EVENT_IDX);
	assert_true(dev & F_INDIRECT);
	assert_int_equal(dev & ~(F_VERSION_1 | F_EVENT_IDX | F_INDIRECT), 0);
	/* Selects beyond the feature words read 0. */
	cw(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 7);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_DF, 4), 0);

	/* A legacy-style driver (no VERSION_1) is refused. */
	assert_false(negotiate(f, F_EVENT_IDX));
	assert_int_equal(status(f), S_ACK | S_DRV);
	/* A feature not offered is refused. */
	assert_false(negotiate(f, F_VERSION_1 | 1ULL << 0));
	assert_false(negotiate(f, F_VERSION_1 | 1ULL << 40));
	/* The offered subset is accepted. */
	assert_true(negotiate(f, F_VERSION_1 | F_INDIRECT));
	assert_int_equal(status(f), S_ACK | S_DRV | S_FOK);
	assert_int_equal(driver_features(f), F_VERSION_1 | F_INDIRECT);
	assert_int_equal(f->vd->features_negotiated, F_VERSION_1 | F_INDIRECT);
	/* Features are frozen after FEATURES_OK. */
	set_driver_features(f, F_VERSION_1 | F_EVENT_IDX);
	assert_int_equal(driver_features(f), F_VERSION_1 | F_INDIRECT);
	/* Setting FEATURES_OK again changes nothing. */
	set_status(f, S_ACK | S_DRV | S_FOK);
	assert_int_equal(status(f), S_ACK | S_DRV | S_FOK);
	/* Status bits are not cleared by a partial write; NEEDS_RESET cannot
	 * be set by the driver. */
	set_status(f, S_ACK | S_NRS);
	assert_int_equal(status(f), S_ACK | S_DRV | S_FOK);
}

static void test_queue_setup(void **state)
{
	struct fx *f = *state;
	assert_true(negotiate(f, F_VERSION_1));
	cw(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), VIRTIO_RNG_QUEUE_SIZE);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_NOFF, 2), 0);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	/* A queue that does not exist reads size 0 and ignores writes. */
	cw(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_SELECT, 2), 1);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
	cw(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, 16);
	cw(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_false(status(f) & S_NRS);

	setup_queue(f, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), QSIZE);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_DESCLO, 4), (uint32_t)DESC_GPA);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_AVAILLO, 4), (uint32_t)AVAIL_GPA);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_USEDLO, 4), (uint32_t)USED_GPA);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_USEDHI, 4), 0);
	assert_true(f->vd->vqs[0].ready);
	assert_int_equal(f->vd->vqs[0].size, QSIZE);
	assert_false(f->vd->vqs[0].event_idx);
	/* Writes while enabled are ignored. */
	cw(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, 8);
	cw(f, VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0x1234000);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), QSIZE);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_DESCLO, 4), (uint32_t)DESC_GPA);
	set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(status(f), S_ACK | S_DRV | S_FOK | S_DOK);
}

static void test_bad_queue_size(void **state)
{
	struct fx *f = *state;
	static const uint16_t bad[] = { 3, 0, 512, 24, 0xffff };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(negotiate(f, F_VERSION_1));
		setup_queue(f, bad[i], DESC_GPA, AVAIL_GPA, USED_GPA);
		assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
		assert_true(status(f) & S_NRS);
		assert_false(f->vd->vqs[0].ready);
		/* DRIVER_OK does not activate a broken device. */
		set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
		assert_true(status(f) & S_NRS);
	}
	assert_true(atomic_load(&f->vd->errors) >= 5);
	/* Reset makes it usable again. */
	assert_true(negotiate(f, F_VERSION_1));
	assert_false(status(f) & S_NRS);
	setup_queue(f, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
}

static void test_enable_without_addresses(void **state)
{
	struct fx *f = *state;
	assert_true(negotiate(f, F_VERSION_1));
	cw(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	cw(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, QSIZE);
	cw(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_true(status(f) & S_NRS);

	/* Rings outside guest memory, misaligned, or wrapping. */
	static const uint64_t bad[][3] = {
		{ MEM_GPA + MEM_SIZE, AVAIL_GPA, USED_GPA },
		{ DESC_GPA, AVAIL_GPA, MEM_GPA + MEM_SIZE - 8 },
		{ DESC_GPA + 8, AVAIL_GPA, USED_GPA },
		{ DESC_GPA, AVAIL_GPA, ~0ULL - 3 },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(negotiate(f, F_VERSION_1));
		setup_queue(f, QSIZE, bad[i][0], bad[i][1], bad[i][2]);
		assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
		assert_true(status(f) & S_NRS);
	}
}

static void test_order_errors(void **state)
{
	struct fx *f = *state;
	/* Queue enabled before FEATURES_OK. */
	set_status(f, 0);
	set_status(f, S_ACK | S_DRV);
	setup_queue(f, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_true(status(f) & S_NRS);
	/* DRIVER_OK without FEATURES_OK. */
	set_status(f, 0);
	set_status(f, S_ACK | S_DRV);
	set_status(f, S_ACK | S_DRV | S_DOK);
	assert_true(status(f) & S_NRS);
	/* Queue enabled after DRIVER_OK. */
	assert_true(negotiate(f, F_VERSION_1));
	set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_false(status(f) & S_NRS);
	setup_queue(f, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_true(status(f) & S_NRS);
	/* queue_enable = 0 is ignored (no RING_RESET). */
	assert_true(negotiate(f, F_VERSION_1));
	setup_queue(f, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	cw(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 0);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	assert_false(status(f) & S_NRS);
}

static void test_reset_clears(void **state)
{
	struct fx *f = *state;
	assert_true(negotiate(f, F_VERSION_1 | F_EVENT_IDX));
	cw(f, VIRTIO_PCI_COMMON_MSIX, 2, 0);
	cw(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	cw(f, VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
	setup_queue(f, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
	f->vd->notify_config(f->vd); /* INTx: ISR bit and line up */
	assert_int_equal(atomic_load(&f->pf.intx.level), 1);
	assert_int_equal(atomic_load(&f->pf.intx.gsi), PFX_INTX_GSI);
	cw(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	assert_true(f->vd->vqs[0].event_idx);

	set_status(f, 0);
	assert_int_equal(status(f), 0);
	assert_int_equal(atomic_load(&f->pf.intx.level), 0);
	assert_int_equal(read_isr(f), 0);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_DFSELECT, 4), 0);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_GFSELECT, 4), 0);
	assert_int_equal(driver_features(f), 0);
	assert_int_equal(f->vd->features_negotiated, 0);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_SELECT, 2), 0);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), VIRTIO_RNG_QUEUE_SIZE);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_DESCLO, 4), 0);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_AVAILLO, 4), 0);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_USEDLO, 4), 0);
	assert_false(f->vd->vqs[0].ready);
	/* Reset twice in a row is harmless. */
	set_status(f, 0);
	assert_int_equal(status(f), 0);
}

static void test_config_generation_and_isr(void **state)
{
	struct fx *f = *state;
	uint8_t gen = (uint8_t)cr(f, VIRTIO_PCI_COMMON_CFGGENERATION, 1);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_CFGGENERATION, 1), gen);
	/* Read-only. */
	cw(f, VIRTIO_PCI_COMMON_CFGGENERATION, 1, gen + 7);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_CFGGENERATION, 1), gen);

	assert_int_equal(read_isr(f), 0);
	f->vd->notify_config(f->vd);
	assert_int_not_equal(cr(f, VIRTIO_PCI_COMMON_CFGGENERATION, 1), gen);
	assert_int_equal(atomic_load(&f->pf.intx.level), 1);
	assert_true(cfg_read(f, f->slot, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	f->vd->notify_queue(f->vd, 0);
	assert_int_equal(read_isr(f), VIRTIO_PCI_ISR_CONFIG | 1);
	assert_int_equal(atomic_load(&f->pf.intx.level), 0);
	assert_false(cfg_read(f, f->slot, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	assert_int_equal(read_isr(f), 0);

	f->vd->notify_queue(f->vd, 0);
	assert_int_equal(atomic_load(&f->pf.intx.level), 1);
	/* Writes to the ISR are ignored; a wide read also clears. */
	mmio_write(f, f->isr, 1, 0);
	assert_int_equal(mmio_read(f, f->isr, 4), 1);
	assert_int_equal(atomic_load(&f->pf.intx.level), 0);

	/* INTx disabled in the command register: the line stays low. */
	uint32_t cmd = cfg_read(f, f->slot, PCI_COMMAND, 2);
	cfg_write(f, PCI_COMMAND, 2, cmd | PCI_COMMAND_INTX_DISABLE);
	f->vd->notify_queue(f->vd, 0);
	assert_int_equal(atomic_load(&f->pf.intx.level), 0);
	assert_int_equal(read_isr(f), 1);
	cfg_write(f, PCI_COMMAND, 2, cmd);
}

static void test_msix(void **state)
{
	struct fx *f = *state;
	assert_true(negotiate(f, F_VERSION_1));
	/* Vector numbers out of range read back as NO_VECTOR. */
	cw(f, VIRTIO_PCI_COMMON_MSIX, 2, 2);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	cw(f, VIRTIO_PCI_COMMON_MSIX, 2, 0);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_MSIX, 2), 0);
	cw(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	cw(f, VIRTIO_PCI_COMMON_Q_MSIX, 2, 5);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	cw(f, VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), 1);

	/* Program both table entries, unmask, enable MSI-X. */
	for (unsigned v = 0; v < 2; v++) {
		uint64_t e = f->msix_table + 16 * v;
		mmio_write(f, e + PCI_MSIX_ENTRY_LOWER_ADDR, 4, 0xfee00000);
		mmio_write(f, e + PCI_MSIX_ENTRY_UPPER_ADDR, 4, 0);
		mmio_write(f, e + PCI_MSIX_ENTRY_DATA, 4, 0x40 + v);
		mmio_write(f, e + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, 0);
		assert_int_equal(mmio_read(f, e + PCI_MSIX_ENTRY_DATA, 4), 0x40 + v);
	}
	uint32_t ctrl = cfg_read(f, f->slot, f->msix_cap + PCI_MSIX_FLAGS, 2);
	cfg_write(f, f->msix_cap + PCI_MSIX_FLAGS, 2, ctrl | PCI_MSIX_FLAGS_ENABLE);
	irqfd_count(f, 0);
	irqfd_count(f, 1);

	f->vd->notify_queue(f->vd, 0);
	assert_int_equal(irqfd_count(f, 1), 1);
	assert_int_equal(irqfd_count(f, 0), 0);
	f->vd->notify_config(f->vd);
	assert_int_equal(irqfd_count(f, 0), 1);
	/* No ISR, no INTx with MSI-X. */
	assert_int_equal(atomic_load(&f->pf.intx.level), 0);
	assert_int_equal(read_isr(f), 0);

	/* NO_VECTOR: no interrupt at all. */
	cw(f, VIRTIO_PCI_COMMON_Q_MSIX, 2, VIRTIO_MSI_NO_VECTOR);
	f->vd->notify_queue(f->vd, 0);
	assert_int_equal(irqfd_count(f, 1), 0);
	assert_int_equal(irqfd_count(f, 0), 0);
	assert_int_equal(atomic_load(&f->pf.intx.level), 0);

	/* A masked vector becomes pending, delivered on unmask. */
	cw(f, VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
	uint64_t e1 = f->msix_table + 16;
	mmio_write(f, e1 + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, 1);
	f->vd->notify_queue(f->vd, 0);
	assert_int_equal(irqfd_count(f, 1), 0);
	assert_int_equal(mmio_read(f, f->msix_pba, 8), 2);
	mmio_write(f, e1 + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, 0);
	assert_int_equal(irqfd_count(f, 1), 1);
	assert_int_equal(mmio_read(f, f->msix_pba, 8), 0);
}

/* Any width at any offset of the BAR: no crash, sane results. */
static void test_odd_accesses(void **state)
{
	struct fx *f = *state;
	static const unsigned widths[] = { 1, 2, 4, 8 };
	for (uint64_t off = 0; off < 0x40; off++)
		for (unsigned w = 0; w < 4; w++)
			mmio_read(f, f->common + off, widths[w]);
	assert_int_equal(status(f), 0);

	/* A 64-bit write covering desc_lo and desc_hi sets both. */
	assert_true(negotiate(f, F_VERSION_1));
	cw(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	mmio_write(f, f->common + VIRTIO_PCI_COMMON_Q_DESCLO, 8, 0x0000000500001000ULL);
	assert_int_equal(mmio_read(f, f->common + VIRTIO_PCI_COMMON_Q_DESCLO, 8),
			 0x0000000500001000ULL);
	/* A byte in the middle of queue_size is ignored. */
	cw(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, 32);
	mmio_write(f, f->common + VIRTIO_PCI_COMMON_Q_SIZE + 1, 1, 0x7f);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), 32);
	/* A 4-byte write over queue_size + queue_msix_vector sets both. */
	cw(f, VIRTIO_PCI_COMMON_Q_SIZE, 4, 0x00010040);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), 0x40);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), 1);
	/* Read-only fields keep their values. */
	cw(f, VIRTIO_PCI_COMMON_NUMQ, 2, 9);
	cw(f, VIRTIO_PCI_COMMON_DF, 4, 0);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_NUMQ, 2), 1);
	cw(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_DF, 4), 1);
	assert_int_equal(status(f), S_ACK | S_DRV | S_FOK);

	/* Past the common structure, the device config (none), the notify
	 * area past the queues, the holes and the MSI-X area: harmless. */
	static const uint64_t offs[] = {
		0x38, 0x3c, 0xffc, 0x1001, 0x1ff8, 0x2000, 0x2ff8, 0x3004,
		0x3ffc, 0x4020, 0x4fff, 0x5008, 0x6000, 0x7ff8,
	};
	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		for (unsigned w = 0; w < 4; w++) {
			if (offs[i] + widths[w] > VIRTIO_PCI_BAR_SIZE)
				continue;
			mmio_write(f, offs[i], widths[w], 0xdeadbeefcafef00dULL);
			mmio_read(f, offs[i], widths[w]);
		}
	}
	assert_int_equal(mmio_read(f, 0x2000, 4), 0);
	/* A read straddling two structures reads 0. */
	assert_int_equal(mmio_read(f, 0xffc, 8), 0);
	assert_int_equal(status(f), S_ACK | S_DRV | S_FOK);
	assert_false(status(f) & S_NRS);
}

/* The whole path: a driver sets the device up and asks for entropy. */
static void test_rng_end_to_end(void **state)
{
	struct fx *f = *state;
	uint64_t feat = device_features(f);
	assert_true(negotiate(f, feat & (F_VERSION_1 | F_EVENT_IDX)));
	setup_queue(f, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(status(f), S_ACK | S_DRV | S_FOK | S_DOK);

	post_buffer(f, 0, DATA_GPA, 256);
	/* Kick: the queue index, 16 bits, at notify + queue_notify_off * mult. */
	uint32_t noff = cr(f, VIRTIO_PCI_COMMON_Q_NOFF, 2);
	mmio_write(f, f->notify + noff * f->notify_mult, 2, 0);
	assert_true(drv_wait_used_idx(&f->q, 1));
	assert_int_equal(drv_used(&f->q)->ring[0].id, 0);
	assert_int_equal(drv_used(&f->q)->ring[0].len, 256);
	uint8_t zero[256] = { 0 };
	assert_memory_not_equal(drv_host(&f->q, DATA_GPA), zero, 256);
	/* INTx: the line goes up; the ISR says "queue" and clears it. */
	assert_true(wait_level(&f->pf.intx.level, 1));
	assert_int_equal(read_isr(f), 1);
	assert_int_equal(atomic_load(&f->pf.intx.level), 0);

	/* A second request with a 32-bit kick. */
	post_buffer(f, 1, DATA_GPA + 0x1000, 16);
	mmio_write(f, f->notify + noff * f->notify_mult, 4, 0);
	assert_true(drv_wait_used_idx(&f->q, 2));
	assert_int_equal(drv_used(&f->q)->ring[1].len, 16);

	/* Reset with the device thread running, then again from scratch. */
	set_status(f, 0);
	assert_int_equal(status(f), 0);
	memset(f->buf, 0, 0x3000);
	f->q.avail_idx = 0;
	assert_true(negotiate(f, F_VERSION_1));
	setup_queue(f, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
	post_buffer(f, 3, DATA_GPA + 0x2000, 64);
	mmio_write(f, f->notify, 2, 0);
	assert_true(drv_wait_used_idx(&f->q, 1));
	assert_int_equal(drv_used(&f->q)->ring[0].id, 3);
	assert_int_equal(drv_used(&f->q)->ring[0].len, 64);

	/* A broken ring: NEEDS_RESET plus a config interrupt. */
	assert_true(wait_level(&f->pf.intx.level, 1));
	read_isr(f);
	drv_make_avail(&f->q, 200); /* head out of range */
	mmio_write(f, f->notify, 2, 0);
	for (int i = 0; i < 5000 && !(status(f) & S_NRS); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	assert_true(status(f) & S_NRS);
	assert_true(wait_level(&f->pf.intx.level, 1));
	assert_true(read_isr(f) & VIRTIO_PCI_ISR_CONFIG);
	set_status(f, 0);
	assert_int_equal(status(f), 0);
}

/* The guest moves BAR 0: the transport follows. */
static void test_bar_move(void **state)
{
	struct fx *f = *state;
	uint64_t new_bar = 0xd0000000ULL;
	cfg_write(f, PCI_BASE_ADDRESS_0, 4, (uint32_t)new_bar);
	cfg_write(f, PCI_BASE_ADDRESS_1, 4, 0);
	uint8_t d[2];
	assert_false(bus_access(&f->pf.mmio, f->bar + f->common + VIRTIO_PCI_COMMON_NUMQ,
				d, 2, false));
	f->bar = new_bar;
	assert_int_equal(virtio_pci_device(f->vp)->bars[0].addr, new_bar);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_NUMQ, 2), 1);
	/* Decoding off: unmapped. */
	uint32_t cmd = cfg_read(f, f->slot, PCI_COMMAND, 2);
	cfg_write(f, PCI_COMMAND, 2, cmd & ~PCI_COMMAND_MEMORY);
	assert_false(bus_access(&f->pf.mmio, f->bar, d, 2, false));
	cfg_write(f, PCI_COMMAND, 2, cmd);
	assert_int_equal(cr(f, VIRTIO_PCI_COMMON_NUMQ, 2), 1);
}

static void test_create_rejects(void **state)
{
	struct fx *f = *state;
	struct virtio_pci *vp = (void *)1;
	struct virtio_dev bad = *f->vd;
	bad.nqueues = 0;
	assert_int_equal(virtio_pci_create(&vp, &bad, &f->pf.pb, &f->pf.router, NULL), -EINVAL);
	assert_null(vp);
	bad = *f->vd;
	bad.queue_max_size = 100;
	assert_int_equal(virtio_pci_create(&vp, &bad, &f->pf.pb, &f->pf.router, NULL), -EINVAL);
	struct virtio_device_ops no_read = *f->vd->ops;
	no_read.config_read = NULL;
	bad = *f->vd;
	bad.ops = &no_read;
	bad.config_size = 8; /* without config_read */
	assert_int_equal(virtio_pci_create(&vp, &bad, &f->pf.pb, &f->pf.router, NULL), -EINVAL);
}

/*
 * A driver that cycles reset / FEATURES_OK / DRIVER_OK 10^4 times without
 * enabling virtio-blk's request queue: each activate has something to say
 * about it, but the log gets a few rate-limited lines, not 10^4 (it got
 * one line per cycle before).
 */
static void test_blk_activate_log_flood(void **state)
{
	struct fx *f = *state;
	assert_int_equal(f->vd->device_id, VIRTIO_ID_BLOCK);
	struct log_capture cap;
	log_capture_start(&cap, LOG_DEBUG);
	for (unsigned i = 0; i < 10000; i++) {
		assert_true(negotiate(f, F_VERSION_1));
		set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
		assert_int_equal(status(f) & S_NRS, 0);
	}
	set_status(f, 0);
	unsigned bound = log_capture_bound(&cap);
	unsigned lines = log_capture_stop(&cap);
	assert_in_range(lines, 1, bound);
	assert_non_null(strstr(cap.text, "did not enable the request queue"));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blk_activate_log_flood, setup_blk,
						teardown),
		T(test_identity),
		T(test_features),
		T(test_queue_setup),
		T(test_bad_queue_size),
		T(test_enable_without_addresses),
		T(test_order_errors),
		T(test_reset_clears),
		T(test_config_generation_and_isr),
		T(test_msix),
		T(test_odd_accesses),
		T(test_rng_end_to_end),
		T(test_bar_move),
		T(test_create_rejects),
	};
	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
