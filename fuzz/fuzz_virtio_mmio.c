/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the virtio-mmio transport (src/virtio/mmio.c) and the virtio
 * core behind it (src/virtio/core.c), driven by sequences of guest register
 * accesses of any offset and width (feature negotiation, the status
 * machine, queue setup, QueueNotify, InterruptStatus/ACK, device config),
 * interleaved with what a device thread does (serving queues, interrupts,
 * needing a reset) and with the resample that follows the guest's EOI.
 *
 * The device behind the transport is a fake whose shape comes from the
 * input (queue count and size, config size, feature bits, whether activate
 * fails), as in fuzz_virtio_pci.c. No KVM (kvm == NULL): the interrupt is
 * the transport's eventfd, read back here. The window is reached through
 * the MMIO bus.
 *
 * Input layout (the same header as fuzz_virtio_pci.c):
 *   [0]     queue count - 1 (mod 8)
 *   [1]     log2 of the largest queue size (mod 16)
 *   [2..3]  device config size (mod 0xf01)
 *   [4]     bit 0: activate fails
 *   [5..7]  unused
 *   [8..15] device feature bits (u64 LE)
 *   [16..]  guest memory image (region A, then B); the setup-queue op puts
 *           queue q's rings at A + q * 0x1000, packed as fuzz_layout.h
 *           describes
 *   tail    the last byte is the op count n (mod 129); the 8*n bytes before
 *           it are ops: op, a, b (u16 LE), c (u32 LE); the op kind is
 *           (op & 0x1f) % 12, bits 5-7 pick an access width
 *
 * Checked besides memory safety: device config accesses stay inside
 * config_size; activate runs only after FEATURES_OK with VERSION_1 and
 * offered features only, and the device is never left active without
 * DRIVER_OK; FEATURES_OK reads back only for an acceptable feature set;
 * a QueueNotify write kicks exactly its queue's eventfd; InterruptStatus
 * holds only bits 0-1, ACK clears what it names, and the interrupt is
 * asserted whenever a bit is set from none and again at a resample while
 * one is set; queues past the device's never report a size or ready.
 */
#include <errno.h>
#include <linux/virtio_mmio.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "fuzz_common.h"
#include "fuzz_layout.h"
#include "virtio/mmio.h"
#include "virtio/virtio.h"
#include "virtio/worker.h"

#define FAKE_DEV_CONFIG_SIZE VIRTIO_MMIO_SIZE
#include "fuzz_fake_dev.h"

#define OP_LEN 8
#define MAX_OPS 128
#define MAX_POPS 8
#define BASE 0xd0000000ULL



static struct fuzz_mem fm;
static struct fake_dev fdev;
static struct vq_chain chain;
static struct bus mmio;
static struct virtio_mmio *vm;


int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_init();
	fuzz_mem_setup(&fm);
	return 0;
}

static uint64_t rw(uint64_t off, unsigned len, uint64_t v, bool w)
{
	uint8_t d[8];
	memcpy(d, &v, sizeof(d));
	bus_access(&mmio, BASE + off, d, len, w);
	uint64_t r = 0;
	memcpy(&r, d, len);
	return w ? 0 : r;
}

static void w32(unsigned reg, uint32_t v)
{
	rw(reg, 4, v, true);
}

static uint32_t r32(unsigned reg)
{
	return (uint32_t)rw(reg, 4, 0, false);
}

/* Interrupt assertions since the last call. */
static uint64_t irq_count(void)
{
	return eventfd_drain(virtio_mmio_irq_fd(vm));
}

static void negotiate(uint32_t mask_lo, uint8_t a)
{
	uint64_t want = fake_offered(&fdev) & ((uint64_t)mask_lo | (uint64_t)mask_lo << 32);
	if (!(a & 1))
		want |= 1ULL << VIRTIO_F_VERSION_1;
	if (a & 2)
		want |= 1ULL << (a >> 2); /* maybe a feature not offered */
	w32(VIRTIO_MMIO_STATUS, 0);
	w32(VIRTIO_MMIO_STATUS, S_ACK);
	w32(VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
	w32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	w32(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)want);
	w32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	w32(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(want >> 32));
	w32(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
	bool ok = r32(VIRTIO_MMIO_STATUS) & S_FOK;
	bool acceptable = !(want & ~fake_offered(&fdev)) && (want & (1ULL << VIRTIO_F_VERSION_1));
	FUZZ_CHECK(ok == acceptable);
}

static void setup_queue(unsigned q, uint16_t size, uint32_t c)
{
	uint64_t desc, avail, used;
	fuzz_ring_layout(FUZZ_GPA_A + (uint64_t)(q % 8) * 0x1000, size, &desc,
			 &avail, &used);
	if (c & 1)
		desc += c >> 16; /* misplaced: may be misaligned or outside */
	w32(VIRTIO_MMIO_QUEUE_SEL, q);
	w32(VIRTIO_MMIO_QUEUE_NUM, size);
	w32(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	w32(VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	w32(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	w32(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
	w32(VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	w32(VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
	w32(VIRTIO_MMIO_QUEUE_READY, (c & 2) ? 0 : 1);
}

/* What a device thread does when kicked: serve, interrupt. */
static void serve_queue(unsigned q)
{
	struct virtio_dev *vd = &fdev.vd;
	if (q >= vd->nqueues || !vd->vqs[q].ready)
		return;
	struct virtqueue *vq = &vd->vqs[q];
	int r = 0;
	for (unsigned i = 0; i < MAX_POPS && (r = vq_pop(vq, &chain)) == 0; i++) {
		uint8_t byte = 0x5a;
		size_t n = chain.write_len ? vq_chain_write(&chain, 0, &byte, 1) : 0;
		vq_push_used(vq, chain.head, (uint32_t)n);
	}
	if (r == -EIO)
		virtio_dev_error(vd);
	virtio_queue_notify(vd, q);
}

static void check_invariants(uint32_t isr_before)
{
	struct virtio_dev *vd = &fdev.vd;
	for (unsigned q = vd->nqueues; q < VIRTIO_MAX_QUEUES; q++)
		FUZZ_CHECK(!vd->vqs[q].ready);
	uint32_t st = r32(VIRTIO_MMIO_STATUS);
	FUZZ_CHECK(st <= 0xff);
	if (fdev.active)
		FUZZ_CHECK(st & S_DOK);
	if (st & S_FOK)
		FUZZ_CHECK(vd->features_negotiated & (1ULL << VIRTIO_F_VERSION_1));
	uint32_t isr = r32(VIRTIO_MMIO_INTERRUPT_STATUS);
	FUZZ_CHECK((isr & ~3u) == 0);
	uint64_t n = irq_count();
	if (!isr_before && isr)
		FUZZ_CHECK(n > 0);
	FUZZ_CHECK(r32(VIRTIO_MMIO_MAGIC_VALUE) == VIRTIO_MMIO_MAGIC_STRING);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	unsigned nq = fz_u8(&f) % 8 + 1;
	unsigned max_log2 = fz_u8(&f) % 16;
	uint32_t config_size = fz_u16(&f) % (VIRTIO_MMIO_SIZE - VIRTIO_MMIO_CONFIG_OFF + 1);
	uint8_t flags = fz_u8(&f);
	fz_u8(&f);
	fz_u16(&f);
	uint64_t features = fz_u64(&f);

	struct fz ops = { NULL, 0 };
	if (f.n > 0) {
		unsigned n = f.p[f.n - 1] % (MAX_OPS + 1);
		f.n--;
		size_t len = (size_t)n * OP_LEN;
		if (len > f.n)
			len = f.n - f.n % OP_LEN;
		ops = (struct fz){ f.p + f.n - len, len };
		f.n -= len;
	}
	fuzz_mem_fill(&fm, &f);

	memset(&fdev.vd, 0, sizeof(fdev.vd));
	fdev.features = features;
	fdev.fail_activate = flags & 1;
	fdev.active = false;
	for (unsigned i = 0; i < sizeof(fdev.config); i++)
		fdev.config[i] = (uint8_t)i;
	struct virtio_dev *vd = &fdev.vd;
	vd->name = "fuzz-virtio";
	vd->device_id = VIRTIO_ID_RNG;
	vd->nqueues = nq;
	vd->queue_max_size = (uint16_t)(1u << max_log2);
	vd->config_size = config_size;
	vd->ops = &fake_ops;
	vd->dev = &fdev;
	vd->mem = &fm.mem;

	FUZZ_CHECK(bus_init(&mmio, "mmio") == 0);
	FUZZ_CHECK(virtio_mmio_create(&vm, vd, &mmio, BASE, 5, NULL) == 0);
	check_invariants(0);

	static const unsigned lens[8] = { 1, 2, 4, 8, 1, 2, 4, 3 };
	while (!fz_empty(&ops)) {
		uint8_t op = fz_u8(&ops), a = fz_u8(&ops);
		uint16_t b = fz_u16(&ops);
		uint32_t c = fz_u32(&ops);
		unsigned len = lens[op >> 5];
		uint32_t isr_before = r32(VIRTIO_MMIO_INTERRUPT_STATUS);
		switch ((op & 0x1f) % 12) {
		case 0: /* registers, any offset and width */
			rw(b % 0x104, len, (uint64_t)c << 32 | c, true);
			break;
		case 1:
			rw(b % 0x104, len, 0, false);
			break;
		case 2: /* anywhere in (or just past) the window */
			rw(b % (VIRTIO_MMIO_SIZE + 0x100), len,
			   (uint64_t)c << 32 | c, a & 1);
			break;
		case 3: /* device config */
			rw(VIRTIO_MMIO_CONFIG + b % 0x1010, len, c, a & 1);
			break;
		case 4:
			negotiate(c, a);
			break;
		case 5:
			setup_queue(a % (nq + 1), (uint16_t)(1u << (b % 16)), c);
			break;
		case 6:
			serve_queue(a % (nq + 1));
			break;
		case 7:
			vd->notify_config(vd);
			break;
		case 8:
			vd->set_needs_reset(vd);
			break;
		case 9: { /* QueueNotify: exactly that queue's kick */
			unsigned q = a % (VIRTIO_MAX_QUEUES + 1);
			for (unsigned i = 0; i < nq; i++)
				eventfd_drain(vd->kick_fd[i]);
			w32(VIRTIO_MMIO_QUEUE_NOTIFY, q);
			for (unsigned i = 0; i < nq; i++)
				FUZZ_CHECK(eventfd_drain(vd->kick_fd[i]) == (i == q));
			break;
		}
		case 10: { /* the guest acks, EOIs: the resample */
			w32(VIRTIO_MMIO_INTERRUPT_ACK, c);
			uint32_t isr = r32(VIRTIO_MMIO_INTERRUPT_STATUS);
			FUZZ_CHECK((isr & c) == 0);
			irq_count();
			virtio_mmio_resample(vm);
			FUZZ_CHECK((irq_count() > 0) == (isr != 0));
			isr_before = isr;
			break;
		}
		case 11: /* the driver writes guest memory (rings, buffers) */
			fm.a[b % FUZZ_REGION_SIZE] = a;
			break;
		}
		check_invariants(isr_before);
	}

	virtio_transport_destroy(virtio_mmio_transport(vm));
	vm = NULL;
	bus_destroy(&mmio);
	return 0;
}
