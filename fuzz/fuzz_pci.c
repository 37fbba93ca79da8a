/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: PCI configuration space and MSI-X (src/pci/pci.c, msix.c)
 * driven by sequences of guest accesses: direct config accesses, CF8/CFC
 * and ECAM through the PIO/MMIO buses, BAR programming and sizing, BAR
 * accesses (the MSI-X table and PBA), MSI-X notifications and INTx.
 *
 * The bus has the host bridge (slot 0) and two fake devices:
 *   slot 1: BAR0 MEM32 4 KiB (MSI-X table at 0, PBA at 0x800, 1..128
 *           vectors: one or two PBA words), BAR2 MEM64 16 KiB prefetchable, BAR4 I/O 32 bytes;
 *           MSI-X capability
 *   slot 2: BAR0 I/O 256 bytes, BAR1 MEM32 1 MiB, BAR2 MEM64 256 MiB (in the
 *           64-bit window when there is one); a vendor capability with
 *           writable bytes
 * The irq router has no KVM (kvm == NULL), INTx lines are recorded.
 *
 * Input layout:
 *   [0]     MSI-X vector count - 1 (mod 128)
 *   [1]     bit 0: the bus has a 64-bit MMIO window (vm.c has none)
 *   [2..]   ops, 8 bytes each (at most 256): op, a, b (u16 LE), c (u32 LE);
 *           the op kind is (op & 0x1f) % 12, bits 5-7 pick an access
 *           width, bit 7 of a means write
 *
 * Checked after every op besides memory safety: read-only identity bytes
 * do not change; each BAR is registered on its bus exactly when decoding
 * is on and its programmed address is usable and free, at that address
 * with its size and handler; bar_moved() reported each change; INTx line
 * and the status Interrupt bit follow the device level and INTx Disable;
 * BAR sizing reads back the BAR's size; the PBA has no bit past the
 * vector count.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "bus.h"
#include "fuzz_common.h"
#include "kvm/irq_router.h"
#include "pci/msix.h"
#include "pci/pci.h"

#define PIO_BASE 0xc000ULL
#define PIO_SIZE 0x4000ULL
#define M32_BASE 0xc0000000ULL
#define M32_SIZE 0x20000000ULL
#define M64_BASE 0x400000000ULL
#define M64_SIZE (64ULL << 30)
#define ECAM_BASE 0xe0000000ULL
#define ECAM_SIZE 0x1000000ULL

#define NDEV 2
#define MSIX_TABLE_OFF 0x0
#define MSIX_PBA_OFF 0x800
#define MAX_OPS 256

struct fake {
	struct pci_device pci;
	struct msix msix; /* device 0 only */
	bool has_msix;
	uint64_t moved_to[PCI_NUM_BARS]; /* as bar_moved() last reported */
	int line;                        /* INTx level last driven */
	uint8_t ident[0x10];             /* config bytes 0..0xf at creation */
	uint8_t last_read[8];
};

struct env {
	struct bus pio, mmio;
	struct addr_alloc pio_a, m32_a, m64_a;
	struct pci_bus pb;
	struct irq_router router;
	struct fake dev[NDEV];
};

static struct env env;

static struct fake *to_fake(struct pci_device *dev)
{
	return (struct fake *)((char *)dev - offsetof(struct fake, pci));
}

static void bar_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		   bool is_write)
{
	struct fake *f = opaque;
	FUZZ_CHECK(len >= 1 && len <= 8);
	if (f->has_msix && msix_bar_access(&f->msix, off, data, len, is_write))
		return;
	if (!is_write)
		memset(data, (int)(off & 0xff), len);
}

static void cfg_write_hook(struct pci_device *dev, uint32_t off, uint32_t len)
{
	struct fake *f = to_fake(dev);
	FUZZ_CHECK(len >= 1 && len <= 4 && off + len <= PCI_CFG_SIZE);
	if (f->has_msix)
		msix_config_write(&f->msix, off, len);
}

static void bar_moved(struct pci_device *dev, unsigned bar, uint64_t old_addr,
		      uint64_t new_addr)
{
	struct fake *f = to_fake(dev);
	FUZZ_CHECK(bar < PCI_NUM_BARS);
	FUZZ_CHECK(old_addr == f->moved_to[bar]);
	FUZZ_CHECK(old_addr != new_addr);
	f->moved_to[bar] = new_addr;
}

static const struct pci_device_ops fake_ops = {
	.config_write = cfg_write_hook,
	.bar_moved = bar_moved,
};

static void line_set(void *opaque, uint32_t gsi, int level)
{
	struct fake *f = opaque;
	(void)gsi;
	FUZZ_CHECK(level == 0 || level == 1);
	f->line = level;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_init();
	return 0;
}

static void env_setup(unsigned nvec, bool m64)
{
	struct env *e = &env;
	memset(e, 0, sizeof(*e));
	FUZZ_CHECK(bus_init(&e->pio, "pio") == 0);
	FUZZ_CHECK(bus_init(&e->mmio, "mmio") == 0);
	FUZZ_CHECK(addr_alloc_init(&e->pio_a, PIO_BASE, PIO_SIZE) == 0);
	FUZZ_CHECK(addr_alloc_init(&e->m32_a, M32_BASE, M32_SIZE) == 0);
	FUZZ_CHECK(addr_alloc_init(&e->m64_a, M64_BASE, M64_SIZE) == 0);
	FUZZ_CHECK(pci_bus_init(&e->pb, &e->pio, &e->mmio, &e->pio_a, &e->m32_a,
				m64 ? &e->m64_a : NULL, ECAM_BASE) == 0);
	FUZZ_CHECK(bus_register(&e->pio, 0xcf8, 4, pci_cf8_io, &e->pb, "cf8") == 0);
	FUZZ_CHECK(bus_register(&e->pio, 0xcfc, 4, pci_cfc_io, &e->pb, "cfc") == 0);
	FUZZ_CHECK(bus_register(&e->mmio, ECAM_BASE, ECAM_SIZE, pci_ecam_io, &e->pb,
				"ecam") == 0);
	FUZZ_CHECK(irq_router_init(&e->router, NULL) == 0);

	struct fake *d0 = &e->dev[0], *d1 = &e->dev[1];
	pci_device_init(&d0->pci, "fuzz-msix", 0x1af4, 0x10f0, 0x020000, 1, 0x1af4,
			1, &fake_ops);
	FUZZ_CHECK(pci_device_set_bar(&d0->pci, 0, PCI_BAR_MEM32, false, 0x1000,
				      bar_io, d0) == 0);
	FUZZ_CHECK(pci_device_set_bar(&d0->pci, 2, PCI_BAR_MEM64, true, 0x4000,
				      bar_io, d0) == 0);
	FUZZ_CHECK(pci_device_set_bar(&d0->pci, 4, PCI_BAR_IO, false, 0x20,
				      bar_io, d0) == 0);
	FUZZ_CHECK(msix_init(&d0->msix, &d0->pci, &e->router, nvec, 0,
			     MSIX_TABLE_OFF, MSIX_PBA_OFF) == 0);
	d0->has_msix = true;

	pci_device_init(&d1->pci, "fuzz-plain", 0x1b36, 0x10f1, 0x018000, 2, 0x1b36,
			2, &fake_ops);
	FUZZ_CHECK(pci_device_set_bar(&d1->pci, 0, PCI_BAR_IO, false, 0x100,
				      bar_io, d1) == 0);
	FUZZ_CHECK(pci_device_set_bar(&d1->pci, 1, PCI_BAR_MEM32, false, 0x100000,
				      bar_io, d1) == 0);
	FUZZ_CHECK(pci_device_set_bar(&d1->pci, 2, PCI_BAR_MEM64, true, 1ULL << 28,
				      bar_io, d1) == 0);
	uint8_t cap[8] = { PCI_CAP_ID_VNDR, 0, 8, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };
	int off = pci_device_add_cap(&d1->pci, cap, sizeof(cap));
	FUZZ_CHECK(off > 0);
	pci_config_writable(&d1->pci, (unsigned)off + 4, 4, 0xff);

	for (unsigned i = 0; i < NDEV; i++) {
		struct fake *f = &e->dev[i];
		struct irq_line l = { .set = line_set, .opaque = f, .gsi = 10 + i };
		FUZZ_CHECK(pci_bus_add_device(&e->pb, &f->pci, l) == 0);
		FUZZ_CHECK(f->pci.slot == i + 1);
		memcpy(f->ident, f->pci.config, sizeof(f->ident));
	}
}

static void env_teardown(void)
{
	struct env *e = &env;
	msix_destroy(&e->dev[0].msix);
	for (unsigned i = 0; i < NDEV; i++)
		pthread_mutex_destroy(&e->dev[i].pci.intx_lock);
	pci_bus_destroy(&e->pb);
	irq_router_destroy(&e->router);
	bus_destroy(&e->mmio);
	bus_destroy(&e->pio);
	addr_alloc_destroy(&e->pio_a);
	addr_alloc_destroy(&e->m32_a);
	addr_alloc_destroy(&e->m64_a);
}

/* The BAR's address as config space holds it (bus-independent reading). */
static uint64_t cfg_bar_addr(const struct pci_device *d, unsigned i)
{
	const struct pci_bar *b = &d->bars[i];
	uint32_t lo = pci_cfg_read(d, PCI_BASE_ADDRESS_0 + 4 * i, 4);
	if (b->type == PCI_BAR_IO)
		return lo & ~3u;
	uint64_t a = lo & ~0xfu;
	if (b->type == PCI_BAR_MEM64)
		a |= (uint64_t)pci_cfg_read(d, PCI_BASE_ADDRESS_0 + 4 * i + 4, 4) << 32;
	return a;
}

static const struct bus_range *find_range(const struct bus *bus, uint64_t base)
{
	for (size_t i = 0; i < bus->count; i++)
		if (bus->ranges[i].base == base)
			return &bus->ranges[i];
	return NULL;
}

static bool range_free(const struct bus *bus, uint64_t base, uint64_t len)
{
	for (size_t i = 0; i < bus->count; i++) {
		const struct bus_range *r = &bus->ranges[i];
		if (r->base <= base + len - 1 && base <= r->base + r->len - 1)
			return false;
	}
	return true;
}

static void check_invariants(void)
{
	struct env *e = &env;
	for (unsigned i = 0; i < NDEV; i++) {
		struct fake *f = &e->dev[i];
		struct pci_device *d = &f->pci;
		/* Identity: ids, revision, class, header type never change. */
		FUZZ_CHECK(memcmp(d->config, f->ident, 4) == 0);
		FUZZ_CHECK(memcmp(d->config + 8, f->ident + 8, 4) == 0);
		FUZZ_CHECK(d->config[PCI_HEADER_TYPE] == f->ident[PCI_HEADER_TYPE]);

		uint16_t cmd = (uint16_t)pci_cfg_read(d, PCI_COMMAND, 2);
		for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
			const struct pci_bar *bar = &d->bars[b];
			if (bar->type == PCI_BAR_NONE) {
				FUZZ_CHECK(!bar->mapped);
				continue;
			}
			bool io = bar->type == PCI_BAR_IO;
			struct bus *bus = io ? &e->pio : &e->mmio;
			uint64_t addr = cfg_bar_addr(d, b);
			bool decode = cmd & (io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY);
			bool usable = addr != 0 && addr + bar->size > addr &&
				      (!io || addr + bar->size <= 0x10000);
			if (bar->mapped) {
				FUZZ_CHECK(decode && usable && bar->addr == addr);
				const struct bus_range *r = find_range(bus, addr);
				FUZZ_CHECK(r && r->len == bar->size && r->fn == bar->fn &&
					   r->opaque == bar->opaque);
			} else if (decode && usable) {
				/* Left unmapped only for a collision. */
				FUZZ_CHECK(!range_free(bus, addr, bar->size));
			}
			FUZZ_CHECK(f->moved_to[b] == (bar->mapped ? bar->addr : 0));
		}
		bool disabled = cmd & PCI_COMMAND_INTX_DISABLE;
		FUZZ_CHECK(f->line == (d->intx_level && !disabled));
		FUZZ_CHECK(!!(d->config[PCI_STATUS] & PCI_STATUS_INTERRUPT) ==
			   d->intx_level);
		/* No pending bit past the last vector. */
		if (f->has_msix && f->msix.nvec % 64)
			FUZZ_CHECK((f->msix.pba[(f->msix.nvec - 1) / 64] >>
				    (f->msix.nvec % 64)) == 0);
	}
}

static void cfg(unsigned slot, unsigned off, unsigned len, uint32_t *v, bool w)
{
	uint8_t d[4];
	memcpy(d, v, 4);
	pci_config_access(&env.pb, slot, 0, off, d, len, w);
	if (!w)
		memcpy(v, d, 4);
}

/* The sizing protocol as a driver runs it, and what it must find. */
static void bar_sizing(struct fake *f, unsigned b)
{
	struct pci_device *d = &f->pci;
	const struct pci_bar *bar = &d->bars[b];
	unsigned slot = d->slot, off = PCI_BASE_ADDRESS_0 + 4 * b;
	uint32_t cmd = 0, lo = 0, hi = 0, ones = 0xffffffff, szlo = 0, szhi = 0;
	cfg(slot, PCI_COMMAND, 2, &cmd, false);
	uint32_t off_cmd = cmd & ~(uint32_t)(PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	cfg(slot, PCI_COMMAND, 2, &off_cmd, true);
	cfg(slot, off, 4, &lo, false);
	cfg(slot, off, 4, &ones, true);
	cfg(slot, off, 4, &szlo, false);
	if (bar->type == PCI_BAR_MEM64) {
		cfg(slot, off + 4, 4, &hi, false);
		ones = 0xffffffff;
		cfg(slot, off + 4, 4, &ones, true);
		cfg(slot, off + 4, 4, &szhi, false);
		cfg(slot, off + 4, 4, &hi, true);
	}
	cfg(slot, off, 4, &lo, true);
	cfg(slot, PCI_COMMAND, 2, &cmd, true);
	if (bar->type == PCI_BAR_NONE)
		return;
	uint64_t sz;
	if (bar->type == PCI_BAR_IO)
		sz = (uint32_t)(~(szlo & ~3u) + 1);
	else if (bar->type == PCI_BAR_MEM32)
		sz = (uint32_t)(~(szlo & ~0xfu) + 1);
	else
		sz = ~((uint64_t)szhi << 32 | (szlo & ~0xfu)) + 1;
	FUZZ_CHECK(sz == bar->size);
}

static void bus_io(struct bus *bus, uint64_t addr, unsigned len, uint32_t c,
		   bool w, uint8_t *out)
{
	uint8_t d[8];
	memcpy(d, &c, 4);
	memcpy(d + 4, &c, 4);
	bus_access(bus, addr, d, len, w);
	if (!w && out)
		memcpy(out, d, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	unsigned nvec = fz_u8(&f) % 128 + 1;
	bool m64 = fz_u8(&f) & 1;
	env_setup(nvec, m64);
	check_invariants();

	for (unsigned n = 0; n < MAX_OPS && !fz_empty(&f); n++) {
		struct fz_op o = fz_next_op(&f, 12);
		uint8_t op = o.op, a = o.a;
		uint16_t b = o.b;
		uint32_t c = o.c;
		unsigned kind = o.kind, len = o.len;
		bool w = o.w;
		struct fake *dv = &env.dev[a & 1];
		switch (kind) {
		case 0: /* direct config access, any length 0..4, any function */
		case 1: {
			unsigned slot = a % 4, fn = (a & 0x40) ? (a >> 2) & 7 : 0;
			uint8_t d[4];
			memcpy(d, &c, 4);
			pci_config_access(&env.pb, slot, fn, b & 0xfff, d,
					  (op >> 5) % 5, kind == 0);
			break;
		}
		case 2: /* CONFIG_ADDRESS */
			bus_io(&env.pio, 0xcf8 + (a & 3), (a & 4) ? len : 4,
			       c, w, NULL);
			break;
		case 3: /* CONFIG_DATA */
			bus_io(&env.pio, 0xcfc + (a & 3), len, c, w, NULL);
			break;
		case 4: { /* ECAM: slot a & 0x1f, bus 1 if a & 0x20, fn b >> 12 */
			uint64_t off = (uint64_t)(a & 0x1f) << 15 | (b & 0xfff) |
				       (uint64_t)((b >> 12) & 7) << 12 |
				       (uint64_t)((a >> 5) & 1) << 20;
			bus_io(&env.mmio, ECAM_BASE + off, len, c, w, NULL);
			break;
		}
		case 5: { /* a BAR of a device, where it is programmed */
			unsigned bi = (a >> 1) % PCI_NUM_BARS;
			const struct pci_bar *bar = &dv->pci.bars[bi];
			if (bar->type == PCI_BAR_NONE)
				break;
			uint64_t base = cfg_bar_addr(&dv->pci, bi);
			uint64_t off = b % bar->size;
			bus_io(bar->type == PCI_BAR_IO ? &env.pio : &env.mmio,
			       base + off, len, c, w, dv->last_read);
			break;
		}
		case 6:
			bus_io(&env.pio, b, len, c, w, NULL);
			break;
		case 7:
			msix_notify(&env.dev[0].msix, a % 66);
			break;
		case 8:
			pci_set_intx(&dv->pci, a & 2);
			break;
		case 9:
			bar_sizing(dv, (a >> 1) % PCI_NUM_BARS);
			break;
		case 10: /* the MSI-X structures directly, any offset/length */
			msix_bar_access(&env.dev[0].msix, b & 0xfff, dv->last_read,
					len, w);
			break;
		case 11:
			bus_io(&env.mmio, (uint64_t)b << 32 | c, len, c, w, NULL);
			break;
		}
		check_invariants();
	}
	env_teardown();
	return 0;
}
