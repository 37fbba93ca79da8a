/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the virtio-pci modern transport (src/virtio/pci.c) driven
 * by sequences of guest accesses: common configuration writes and reads
 * (feature negotiation, the status machine, queue setup), the ISR, device
 * config, notify and MSI-X regions of BAR 0, PCI config writes (moving the
 * BAR, MSI-X enable), interleaved with what a device thread does (serving
 * queues, interrupts, needing a reset).
 *
 * The device behind the transport is a fake whose shape comes from the
 * input (queue count and size, config size, feature bits, whether activate
 * fails). The irq router has no KVM (kvm == NULL: no ioeventfds), as in
 * tests/unit/test_virtio_pci.c; INTA# is a recorded fake line. The BAR is
 * reached through the MMIO bus at wherever config space says it is.
 *
 * Input layout:
 *   [0]     queue count - 1 (mod 8)
 *   [1]     log2 of the largest queue size (mod 16)
 *   [2..3]  device config size (mod 0x1001)
 *   [4]     bit 0: activate fails
 *   [5..7]  unused
 *   [8..15] device feature bits (u64 LE)
 *   [16..]  guest memory image (region A, then B); the setup-queue op puts
 *           queue q's rings at A + q * 0x1000, packed as fuzz_layout.h
 *           describes
 *   tail    the last byte is the op count n (mod 129); the 8*n bytes before
 *           it are ops: op, a, b (u16 LE), c (u32 LE); the op kind is
 *           (op & 0x1f) % 14, bits 5-7 pick an access width
 *
 * Ops: common config writes/reads, any BAR access, device config, a
 * driver's feature negotiation, a queue setup, PCI config accesses, the
 * device serving a queue, config-change and needs-reset interrupts, a
 * notify write, an MSI-X table write, an ISR read, a guest memory poke.
 *
 * Checked besides memory safety: device config accesses stay inside
 * config_size; activate runs only after FEATURES_OK with VERSION_1 and
 * offered features only, and the device is never left active without
 * DRIVER_OK; FEATURES_OK reads back only for an acceptable feature set;
 * a notify write kicks exactly its queue's eventfd; reading the ISR
 * clears it and lowers INTA#; queues past num_queues never become ready.
 */
#include <errno.h>
#include <linux/virtio_pci.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "bus.h"
#include "fuzz_common.h"
#include "fuzz_layout.h"
#include "kvm/irq_router.h"
#include "pci/msix.h"
#include "pci/pci.h"
#include "virtio/pci.h"
#include "virtio/virtio.h"
#include "virtio/worker.h"

#define FAKE_DEV_CONFIG_SIZE VIRTIO_PCI_REGION_SIZE
#include "fuzz_fake_dev.h"

#define HDR_LEN 16
#define OP_LEN 8
#define MAX_OPS 128
#define MAX_POPS 8



static struct fuzz_mem fm;
static struct fake_dev fdev;
static struct vq_chain chain;
static struct bus pio, mmio;
static struct addr_alloc pio_a, m32_a;
static struct pci_bus pb;
static struct irq_router router;
static struct virtio_pci *vp;


static void fake_intx(void *opaque, uint32_t gsi, int level)
{
	(void)gsi;
	((struct fake_dev *)opaque)->intx = level;
}

static struct irq_line intx_for_slot(void *opaque, unsigned slot)
{
	(void)slot;
	return (struct irq_line){ .set = fake_intx, .opaque = opaque, .gsi = 11 };
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_init();
	fuzz_mem_setup(&fm);
	return 0;
}

static uint64_t bar_addr(void)
{
	const struct pci_device *d = virtio_pci_device(vp);
	return (pci_cfg_read(d, PCI_BASE_ADDRESS_0, 4) & ~0xfu) |
	       (uint64_t)pci_cfg_read(d, PCI_BASE_ADDRESS_0 + 4, 4) << 32;
}

static uint64_t bar_rw(uint64_t off, unsigned len, uint64_t v, bool w)
{
	uint8_t d[8];
	memcpy(d, &v, sizeof(d));
	bus_access(&mmio, bar_addr() + off, d, len, w);
	uint64_t r = 0;
	memcpy(&r, d, len);
	return w ? 0 : r;
}

static void cw(unsigned field, unsigned len, uint64_t v)
{
	bar_rw(VIRTIO_PCI_COMMON_OFF + field, len, v, true);
}

static uint64_t cr(unsigned field, unsigned len)
{
	return bar_rw(VIRTIO_PCI_COMMON_OFF + field, len, 0, false);
}

/* Whether BAR 0 is where config space says (the guest may move it). */
static bool bar_mapped(void)
{
	const struct pci_bar *b = &virtio_pci_device(vp)->bars[VIRTIO_PCI_BAR];
	return b->mapped && b->addr == bar_addr();
}

static void negotiate(uint32_t mask_lo, uint8_t a)
{
	uint64_t offered = fdev.features | (1ULL << VIRTIO_F_VERSION_1) |
			   (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			   (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	uint64_t want = offered & ((uint64_t)mask_lo | (uint64_t)mask_lo << 32);
	if (!(a & 1))
		want |= 1ULL << VIRTIO_F_VERSION_1;
	if (a & 2)
		want |= 1ULL << (a >> 2); /* maybe a feature not offered */
	cw(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	cw(VIRTIO_PCI_COMMON_STATUS, 1, S_ACK);
	cw(VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRV);
	cw(VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	cw(VIRTIO_PCI_COMMON_GF, 4, (uint32_t)want);
	cw(VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	cw(VIRTIO_PCI_COMMON_GF, 4, (uint32_t)(want >> 32));
	cw(VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRV | S_FOK);
	if (!bar_mapped())
		return;
	bool ok = cr(VIRTIO_PCI_COMMON_STATUS, 1) & S_FOK;
	bool acceptable = !(want & ~offered) && (want & (1ULL << VIRTIO_F_VERSION_1));
	FUZZ_CHECK(ok == acceptable);
}

static void setup_queue(unsigned q, uint16_t size, uint32_t c)
{
	uint64_t desc, avail, used;
	fuzz_ring_layout(FUZZ_GPA_A + (uint64_t)(q % 8) * 0x1000, size, &desc,
			 &avail, &used);
	if (c & 1)
		desc += c >> 16; /* misplaced: may be misaligned or outside */
	cw(VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
	cw(VIRTIO_PCI_COMMON_Q_SIZE, 2, size);
	cw(VIRTIO_PCI_COMMON_Q_MSIX, 2, (c >> 8) & 0xff);
	cw(VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)desc);
	cw(VIRTIO_PCI_COMMON_Q_DESCHI, 4, (uint32_t)(desc >> 32));
	cw(VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)avail);
	cw(VIRTIO_PCI_COMMON_Q_AVAILHI, 4, (uint32_t)(avail >> 32));
	cw(VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)used);
	cw(VIRTIO_PCI_COMMON_Q_USEDHI, 4, (uint32_t)(used >> 32));
	cw(VIRTIO_PCI_COMMON_Q_ENABLE, 2, (c & 2) ? 0 : 1);
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

static void check_invariants(void)
{
	struct virtio_dev *vd = &fdev.vd;
	for (unsigned q = vd->nqueues; q < VIRTIO_MAX_QUEUES; q++)
		FUZZ_CHECK(!vd->vqs[q].ready);
	if (!bar_mapped())
		return;
	uint8_t st = (uint8_t)cr(VIRTIO_PCI_COMMON_STATUS, 1);
	if (fdev.active)
		FUZZ_CHECK(st & S_DOK);
	if (st & S_FOK) {
		uint64_t neg = vd->features_negotiated;
		FUZZ_CHECK(neg & (1ULL << VIRTIO_F_VERSION_1));
	}
	FUZZ_CHECK(cr(VIRTIO_PCI_COMMON_NUMQ, 2) == vd->nqueues);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	unsigned nq = fz_u8(&f) % 8 + 1;
	unsigned max_log2 = fz_u8(&f) % 16;
	uint32_t config_size = fz_u16(&f) % (VIRTIO_PCI_REGION_SIZE + 1);
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
	fdev.intx = 0;
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

	FUZZ_CHECK(bus_init(&pio, "pio") == 0 && bus_init(&mmio, "mmio") == 0);
	FUZZ_CHECK(addr_alloc_init(&pio_a, 0x1000, 0xf000) == 0);
	FUZZ_CHECK(addr_alloc_init(&m32_a, 0xc0000000ULL, 0x10000000ULL) == 0);
	FUZZ_CHECK(pci_bus_init(&pb, &pio, &mmio, &pio_a, &m32_a, NULL,
				0xe0000000ULL) == 0);
	pb.intx_for_slot = intx_for_slot;
	pb.intx_opaque = &fdev;
	FUZZ_CHECK(irq_router_init(&router, NULL) == 0);
	FUZZ_CHECK(virtio_pci_create(&vp, vd, &pb, &router, NULL) == 0);
	unsigned slot = virtio_pci_device(vp)->slot;
	struct msix *mx = virtio_pci_msix(vp);
	FUZZ_CHECK(mx->nvec == nq + 1);
	check_invariants();

	static const unsigned lens[8] = { 1, 2, 4, 8, 1, 2, 4, 3 };
	while (!fz_empty(&ops)) {
		uint8_t op = fz_u8(&ops), a = fz_u8(&ops);
		uint16_t b = fz_u16(&ops);
		uint32_t c = fz_u32(&ops);
		unsigned len = lens[op >> 5];
		switch ((op & 0x1f) % 14) {
		case 0: /* common config, any offset and width */
			bar_rw(VIRTIO_PCI_COMMON_OFF + b % 0x48, len, c, true);
			break;
		case 1:
			bar_rw(VIRTIO_PCI_COMMON_OFF + b % 0x48, len, 0, false);
			break;
		case 2: /* anywhere in (or just past) the BAR */
			bar_rw(b % (VIRTIO_PCI_BAR_SIZE + 0x100), len,
			       (uint64_t)c << 32 | c, a & 1);
			break;
		case 3: /* device config */
			bar_rw(VIRTIO_PCI_DEVICE_OFF + b % 0x1010, len, c, a & 1);
			break;
		case 4:
			negotiate(c, a);
			break;
		case 5:
			setup_queue(a % (nq + 1), (uint16_t)(1u << (b % 16)), c);
			break;
		case 6: { /* PCI config: BAR moves, command, MSI-X enable/mask */
			uint8_t d[4];
			memcpy(d, &c, 4);
			pci_config_access(&pb, slot, 0, b & 0xfff, d, (op >> 5) % 5,
					  a & 1);
			break;
		}
		case 7:
			serve_queue(a % (nq + 1));
			break;
		case 8:
			vd->notify_config(vd);
			break;
		case 9:
			vd->set_needs_reset(vd);
			break;
		case 10: { /* notify: exactly that queue's kick */
			unsigned q = a % (VIRTIO_MAX_QUEUES + 1);
			for (unsigned i = 0; i < nq; i++)
				eventfd_drain(vd->kick_fd[i]);
			bar_rw(VIRTIO_PCI_NOTIFY_OFF + q * VIRTIO_PCI_NOTIFY_MULT,
			       (a & 0x80) ? 4 : 2, q, true);
			if (!bar_mapped())
				break;
			for (unsigned i = 0; i < nq; i++)
				FUZZ_CHECK(eventfd_drain(vd->kick_fd[i]) == (i == q));
			break;
		}
		case 11: { /* MSI-X table entry word */
			unsigned v = a % mx->nvec;
			bar_rw(VIRTIO_PCI_MSIX_TABLE_OFF + v * 16 + (b % 4) * 4, 4,
			       c, true);
			break;
		}
		case 12: /* ISR: read to clear */
			bar_rw(VIRTIO_PCI_ISR_OFF, 1, 0, false);
			if (bar_mapped()) {
				FUZZ_CHECK(fdev.intx == 0);
				FUZZ_CHECK(bar_rw(VIRTIO_PCI_ISR_OFF, 1, 0, false) == 0);
			}
			break;
		case 13: /* the driver writes guest memory (rings, buffers) */
			fm.a[b % FUZZ_REGION_SIZE] = a;
			break;
		}
		check_invariants();
	}

	virtio_pci_destroy(vp);
	vp = NULL;
	pci_bus_destroy(&pb);
	irq_router_destroy(&router);
	bus_destroy(&mmio);
	bus_destroy(&pio);
	addr_alloc_destroy(&pio_a);
	addr_alloc_destroy(&m32_a);
	return 0;
}
