/* SPDX-License-Identifier: MIT */
/*
 * MSI-X on a fake PCI device: the capability (table size, BIR/offsets, only
 * Enable and Function Mask writable), the vector table and PBA inside BAR0
 * (reached through the MMIO bus like a guest, and through msix_bar_access),
 * vector and function masking, pending bits, delivery through each vector's
 * irqfd (an eventfd), and the MSI routes the router keeps for each vector.
 * Tables of every size up to the PCI maximum: 2048 vectors emulated (a
 * route each, PBA words beyond the first, snapshot round trip) and adopted
 * (routes reserved, eventfds and routes made only for the vectors the
 * guest uses, fewer vectors offered when the route table is nearly full).
 * The irq router runs without KVM (kvm == NULL).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc.h"
#include "bus.h"
#include "kvm/irq_router.h"
#include "log.h"
#include "pci/msix.h"
#include "pci/pci.h"
#include "pci_fixture.h"
#include "snap/snap.h"

#define NVEC 4
#define TABLE_OFF 0x0
#define PBA_OFF 0x800
#define BAR0_SIZE 0x1000ULL /* MEM32: MSI-X table + PBA */
#define BAR2_SIZE 0x4000ULL /* MEM64 */
#define BAR4_SIZE 0x20ULL   /* IO */
#define OTHER_FILL 0x5a     /* what the fake returns outside MSI-X */

struct fake {
	struct pci_device pci;
	struct msix msix;
	unsigned other_calls; /* BAR0 accesses msix_bar_access declined */
	unsigned cfg_writes;
};

struct env {
	struct pci_fixture pf; /* pci_fixture.h: buses, windows, router (no KVM) */
	struct fake dev;
	uint64_t bar0;
	unsigned cap;
	uint32_t pba_off;
};

static struct fake *to_fake(struct pci_device *dev)
{
	return (struct fake *)((char *)dev - offsetof(struct fake, pci));
}

static void fake_bar0_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			 bool is_write)
{
	struct fake *f = opaque;
	if (msix_bar_access(&f->msix, off, data, len, is_write))
		return;
	f->other_calls++;
	if (!is_write)
		memset(data, OTHER_FILL, len);
}

static void fake_other_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			  bool is_write)
{
	(void)opaque;
	(void)off;
	if (!is_write)
		memset(data, 0, len);
}

static void fake_config_write(struct pci_device *dev, uint32_t off, uint32_t len)
{
	struct fake *f = to_fake(dev);
	f->cfg_writes++;
	msix_config_write(&f->msix, off, len);
}

static void fake_reset(struct pci_device *dev)
{
	msix_reset(&to_fake(dev)->msix);
}

static const struct pci_device_ops fake_ops = {
	.config_write = fake_config_write,
	.reset = fake_reset,
};

static void fake_init_bar0(struct fake *f, uint64_t bar0_size)
{
	memset(f, 0, sizeof(*f));
	pci_device_init(&f->pci, "fake", 0x1af4, 0x1041, 0x020000, 1, 0x1af4, 1, &fake_ops);
	assert_int_equal(pci_device_set_bar(&f->pci, 0, PCI_BAR_MEM32, false, bar0_size,
					    fake_bar0_io, f), 0);
	assert_int_equal(pci_device_set_bar(&f->pci, 2, PCI_BAR_MEM64, true, BAR2_SIZE,
					    fake_other_io, f), 0);
	assert_int_equal(pci_device_set_bar(&f->pci, 4, PCI_BAR_IO, false, BAR4_SIZE,
					    fake_other_io, f), 0);
}

static void fake_init(struct fake *f)
{
	fake_init_bar0(f, BAR0_SIZE);
}

/* 2048 vectors: a 32 KiB table, the PBA (256 bytes) after it. */
#define BIG_BAR0_SIZE 0x10000ULL
#define BIG_PBA_OFF 0x8000u

static int setup_nvec(void **state, unsigned nvec)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	pci_fixture_init(&e->pf, 0);
	bool big = nvec > 128;
	fake_init_bar0(&e->dev, big ? BIG_BAR0_SIZE : BAR0_SIZE);
	e->pba_off = big ? BIG_PBA_OFF : PBA_OFF;
	int off = msix_init(&e->dev.msix, &e->dev.pci, &e->pf.router, nvec, 0, TABLE_OFF,
			    e->pba_off);
	assert_int_equal(off, 0);
	assert_int_equal(pci_bus_add_device(&e->pf.pb, &e->dev.pci, (struct irq_line){ 0 }), 0);
	e->bar0 = e->dev.pci.bars[0].addr;
	assert_true(e->dev.pci.bars[0].mapped);
	e->cap = e->dev.msix.cap_off;
	*state = e;
	return 0;
}

static int setup(void **state)
{
	return setup_nvec(state, NVEC);
}

static int setup64(void **state)
{
	return setup_nvec(state, 64);
}

static int setup2048(void **state)
{
	return setup_nvec(state, MSIX_MAX_VECTORS);
}

static int teardown(void **state)
{
	struct env *e = *state;
	msix_destroy(&e->dev.msix);
	pci_fixture_destroy(&e->pf);
	free(e);
	return 0;
}

/* ---- accessors (pci_fixture.h's, on this env's device) ---- */

static uint32_t cfg_read(struct env *e, unsigned reg, unsigned len)
{
	return pfx_cfg_read(&e->pf, e->dev.pci.slot, reg, len);
}

static void cfg_write(struct env *e, unsigned reg, unsigned len, uint32_t val)
{
	pfx_cfg_write(&e->pf, e->dev.pci.slot, reg, len, val);
}

/* Message Control, as the guest writes it (word at cap + 2). */
static void set_msg_ctrl(struct env *e, uint16_t flags)
{
	cfg_write(e, e->cap + PCI_MSIX_FLAGS, 2, flags);
}

static uint64_t bar_read(struct env *e, uint64_t off, unsigned len)
{
	return pfx_mmio_read(&e->pf, e->bar0 + off, len);
}

static void bar_write(struct env *e, uint64_t off, unsigned len, uint64_t val)
{
	pfx_mmio_write(&e->pf, e->bar0 + off, len, val);
}

static uint64_t entry(unsigned v, unsigned word)
{
	return TABLE_OFF + (uint64_t)v * MSIX_ENTRY_SIZE + 4 * word;
}

static void program(struct env *e, unsigned v, uint64_t addr, uint32_t data)
{
	bar_write(e, entry(v, 0), 4, (uint32_t)addr);
	bar_write(e, entry(v, 1), 4, (uint32_t)(addr >> 32));
	bar_write(e, entry(v, 2), 4, data);
}

static void set_vec_mask(struct env *e, unsigned v, bool masked)
{
	bar_write(e, entry(v, 3), 4, masked ? 1 : 0);
}

/* The eventfd counter (0 when nothing was signalled); resets it. */
static uint64_t irqfd_take(struct env *e, unsigned v)
{
	uint64_t val = 0;
	ssize_t n = read(e->dev.msix.vec[v].irqfd, &val, sizeof(val));
	if (n < 0) {
		assert_int_equal(errno, EAGAIN);
		return 0;
	}
	assert_int_equal(n, 8);
	return val;
}

static uint64_t pba(struct env *e)
{
	return bar_read(e, e->pba_off, 8);
}

/* PBA word w: vectors 64w..64w+63. */
static uint64_t pba_word(struct env *e, unsigned w)
{
	return bar_read(e, e->pba_off + 8 * w, 8);
}

static const struct kvm_irq_routing_entry *route(struct env *e, uint32_t gsi)
{
	struct irq_router *r = &e->pf.router;
	for (unsigned i = 0; i < r->count; i++)
		if (r->entries[i].gsi == gsi && r->entries[i].type == KVM_IRQ_ROUTING_MSI)
			return &r->entries[i];
	return NULL;
}

static const struct kvm_irq_routing_entry *route_in(struct irq_router *r, uint32_t gsi)
{
	for (unsigned i = 0; i < r->count; i++)
		if (r->entries[i].gsi == gsi && r->entries[i].type == KVM_IRQ_ROUTING_MSI)
			return &r->entries[i];
	return NULL;
}

/* ---- capability ---- */

static void test_capability(void **state)
{
	struct env *e = *state;
	/* Found by the guest's walk of the capability list. */
	assert_true(cfg_read(e, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	unsigned ptr = cfg_read(e, PCI_CAPABILITY_LIST, 1), found = 0;
	for (unsigned n = 0; ptr && n < 48; n++) {
		if (cfg_read(e, ptr, 1) == PCI_CAP_ID_MSIX)
			found = ptr;
		ptr = cfg_read(e, ptr + 1, 1);
	}
	assert_int_equal(found, e->cap);
	assert_int_equal(found & 3, 0);
	assert_int_equal(cfg_read(e, e->cap + PCI_MSIX_FLAGS, 2), NVEC - 1);
	assert_int_equal(cfg_read(e, e->cap + PCI_MSIX_TABLE, 4), TABLE_OFF | 0);
	assert_int_equal(cfg_read(e, e->cap + PCI_MSIX_PBA, 4), PBA_OFF | 0);
	assert_false(msix_enabled(&e->dev.msix));

	/* Only Enable and Function Mask stick. */
	set_msg_ctrl(e, 0xffff);
	assert_int_equal(cfg_read(e, e->cap + PCI_MSIX_FLAGS, 2),
			 PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | (NVEC - 1));
	assert_true(msix_enabled(&e->dev.msix));
	set_msg_ctrl(e, 0);
	assert_int_equal(cfg_read(e, e->cap + PCI_MSIX_FLAGS, 2), NVEC - 1);
	assert_false(msix_enabled(&e->dev.msix));
	/* Byte write of the high byte. */
	cfg_write(e, e->cap + PCI_MSIX_FLAGS + 1, 1, PCI_MSIX_FLAGS_ENABLE >> 8);
	assert_true(msix_enabled(&e->dev.msix));
	/* A dword write of the whole header: id/next/table size read-only. */
	cfg_write(e, e->cap, 4, 0);
	assert_int_equal(cfg_read(e, e->cap, 1), PCI_CAP_ID_MSIX);
	assert_int_equal(cfg_read(e, e->cap + PCI_MSIX_FLAGS, 2), NVEC - 1);
	assert_false(msix_enabled(&e->dev.msix));
	/* Table and PBA offset/BIR: read-only. */
	cfg_write(e, e->cap + PCI_MSIX_TABLE, 4, 0xffffffff);
	cfg_write(e, e->cap + PCI_MSIX_PBA, 4, 0x12345678);
	assert_int_equal(cfg_read(e, e->cap + PCI_MSIX_TABLE, 4), TABLE_OFF);
	assert_int_equal(cfg_read(e, e->cap + PCI_MSIX_PBA, 4), PBA_OFF);
	/* The device's config_write op ran for each write. */
	assert_true(e->dev.cfg_writes >= 6);
}

static void test_init_layouts_and_errors(void **state)
{
	(void)state;
	struct irq_router *r = calloc(1, sizeof(*r));
	struct fake *f = calloc(1, sizeof(*f));
	assert_non_null(r);
	assert_non_null(f);
	assert_int_equal(irq_router_init(r, NULL), 0);
	fake_init(f);
	/* Bad arguments: nothing added to the device. */
	assert_int_equal(msix_init(&f->msix, &f->pci, r, 0, 0, 0, 0x800), -EINVAL);
	assert_int_equal(msix_init(&f->msix, &f->pci, r, MSIX_MAX_VECTORS + 1, 0, 0, 0x800),
			 -EINVAL);
	assert_int_equal(msix_init(&f->msix, &f->pci, r, 4, PCI_NUM_BARS, 0, 0x800), -EINVAL);
	assert_int_equal(msix_init(&f->msix, &f->pci, r, 4, 0, 4, 0x800), -EINVAL);
	assert_int_equal(msix_init(&f->msix, &f->pci, r, 4, 0, 0, 0x804), -EINVAL);
	assert_int_equal(pci_cfg_read(&f->pci, PCI_CAPABILITY_LIST, 1), 0);
	assert_int_equal(r->count, 39);

	/* Table and PBA in BAR2 at other offsets: BIR in the low bits. */
	assert_int_equal(msix_init(&f->msix, &f->pci, r, 7, 2, 0x1000, 0x3008), 0);
	unsigned cap = f->msix.cap_off;
	assert_int_equal(pci_cfg_read(&f->pci, cap, 1), PCI_CAP_ID_MSIX);
	assert_int_equal(pci_cfg_read(&f->pci, cap + PCI_MSIX_FLAGS, 2), 6);
	assert_int_equal(pci_cfg_read(&f->pci, cap + PCI_MSIX_TABLE, 4), 0x1000 | 2);
	assert_int_equal(pci_cfg_read(&f->pci, cap + PCI_MSIX_PBA, 4), 0x3008 | 2);
	assert_int_equal(f->msix.nvec, 7);
	/* One GSI per vector, from 24 up, each with an eventfd. */
	assert_int_equal(r->count, 39 + 7);
	for (unsigned v = 0; v < 7; v++) {
		assert_int_equal(f->msix.vec[v].gsi, IRQ_MSI_GSI_BASE + v);
		assert_true(f->msix.vec[v].irqfd >= 0);
		assert_true(f->msix.vec[v].routed);
		assert_int_equal(f->msix.vec[v].ctrl, 1);
	}
	/* Accesses at those offsets. */
	uint8_t d[8] = { 0 };
	assert_true(msix_bar_access(&f->msix, 0x1000 + 6 * 16 + 12, d, 4, false));
	assert_int_equal(d[0], 1);
	assert_false(msix_bar_access(&f->msix, 0x1000 + 7 * 16, d, 4, false));
	assert_false(msix_bar_access(&f->msix, 0xff0, d, 4, false));
	assert_true(msix_bar_access(&f->msix, 0x3008, d, 8, false));
	assert_false(msix_bar_access(&f->msix, 0x3010, d, 4, false));
	assert_false(msix_bar_access(&f->msix, 0x3000, d, 4, false));
	int fd0 = f->msix.vec[0].irqfd;
	msix_destroy(&f->msix);
	assert_null(f->msix.vec);
	assert_int_equal(f->msix.nvec, 0);
	assert_int_equal(close(fd0), -1); /* closed by msix_destroy */
	/* Its GSIs freed: the next device starts at 24 again. */
	assert_int_equal(r->count, 39);
	uint32_t gsi;
	assert_int_equal(irq_router_alloc_msi(r, &gsi), 0);
	assert_int_equal(gsi, IRQ_MSI_GSI_BASE);
	irq_router_destroy(r);
	free(f);
	free(r);
}

/* ---- table ---- */

static void test_table_access(void **state)
{
	struct env *e = *state;
	/* Every vector starts masked, address/data zero. */
	for (unsigned v = 0; v < NVEC; v++) {
		assert_int_equal(bar_read(e, entry(v, 0), 4), 0);
		assert_int_equal(bar_read(e, entry(v, 1), 4), 0);
		assert_int_equal(bar_read(e, entry(v, 2), 4), 0);
		assert_int_equal(bar_read(e, entry(v, 3), 4), 1);
		assert_int_equal(bar_read(e, entry(v, 2), 8), 1ULL << 32);
	}
	/* Dword writes. */
	bar_write(e, entry(1, 0), 4, 0xfee01000);
	bar_write(e, entry(1, 1), 4, 0x1);
	bar_write(e, entry(1, 2), 4, 0x4041);
	assert_int_equal(bar_read(e, entry(1, 0), 4), 0xfee01000);
	assert_int_equal(bar_read(e, entry(1, 1), 4), 1);
	assert_int_equal(bar_read(e, entry(1, 2), 4), 0x4041);
	assert_int_equal(bar_read(e, entry(1, 0), 8), 0x1fee01000ULL);
	/* Qword writes: address, then data + control. */
	bar_write(e, entry(2, 0), 8, 0x00000000fee02000ULL);
	bar_write(e, entry(2, 2), 8, 0x0000000000004042ULL);
	assert_int_equal(bar_read(e, entry(2, 0), 4), 0xfee02000);
	assert_int_equal(bar_read(e, entry(2, 1), 4), 0);
	assert_int_equal(bar_read(e, entry(2, 2), 4), 0x4042);
	assert_int_equal(bar_read(e, entry(2, 3), 4), 0); /* unmasked */
	/* Address bits 1:0 and vector-control reserved bits read as 0. */
	bar_write(e, entry(3, 0), 4, 0xfee03003);
	assert_int_equal(bar_read(e, entry(3, 0), 4), 0xfee03000);
	bar_write(e, entry(3, 3), 4, 0xfffffffe);
	assert_int_equal(bar_read(e, entry(3, 3), 4), 0);
	bar_write(e, entry(3, 3), 4, 0xffffffff);
	assert_int_equal(bar_read(e, entry(3, 3), 4), 1);

	/* Misaligned or narrow: reads all-ones, writes ignored. */
	const struct {
		uint64_t off;
		unsigned len;
	} bad[] = {
		{ entry(1, 0) + 1, 4 }, { entry(1, 0) + 2, 4 }, { entry(1, 1), 8 },
		{ entry(1, 0) + 4 + 2, 8 }, { entry(1, 0), 1 }, { entry(1, 2) + 3, 1 },
		{ entry(1, 0), 2 }, { entry(1, 2) + 2, 2 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t all = bad[i].len == 8 ? UINT64_MAX : (1ULL << (8 * bad[i].len)) - 1;
		assert_int_equal(bar_read(e, bad[i].off, bad[i].len), all);
		bar_write(e, bad[i].off, bad[i].len, 0);
	}
	assert_int_equal(bar_read(e, entry(1, 0), 8), 0x1fee01000ULL);
	assert_int_equal(bar_read(e, entry(1, 2), 4), 0x4041);
	assert_int_equal(bar_read(e, entry(1, 3), 4), 1);
	/* The last entry's last dword and qword. */
	bar_write(e, entry(NVEC - 1, 2), 8, 0x0000000100007777ULL);
	assert_int_equal(bar_read(e, entry(NVEC - 1, 2), 8), 0x0000000100007777ULL);

	/* Direct calls: inside the table handled, past it not. */
	struct msix *m = &e->dev.msix;
	uint8_t d[8] = { 0 };
	assert_true(msix_bar_access(m, entry(0, 3), d, 4, false));
	assert_false(msix_bar_access(m, entry(NVEC, 0), d, 4, false));
	assert_false(msix_bar_access(m, 0x7fc, d, 4, false));
	assert_false(msix_bar_access(m, PBA_OFF + 8, d, 4, false));
	/* Through the bus those land in the device's own handler. */
	unsigned other = e->dev.other_calls;
	assert_int_equal(bar_read(e, entry(NVEC, 0), 4), 0x5a5a5a5a);
	assert_int_equal(bar_read(e, PBA_OFF + 8, 4), 0x5a5a5a5a);
	assert_int_equal(e->dev.other_calls, other + 2);
}

static void test_route_updates(void **state)
{
	struct env *e = *state;
	struct msix *m = &e->dev.msix;
	for (unsigned v = 0; v < NVEC; v++) {
		assert_int_equal(m->vec[v].gsi, IRQ_MSI_GSI_BASE + v);
		const struct kvm_irq_routing_entry *r = route(e, m->vec[v].gsi);
		assert_non_null(r);
		assert_int_equal(r->u.msi.address_lo, 0);
		assert_int_equal(r->u.msi.data, 0);
	}
	uint64_t c = e->pf.router.commits;
	/* Each changing dword commits; the entry follows. */
	bar_write(e, entry(2, 0), 4, 0xfee00000);
	assert_int_equal(e->pf.router.commits, c + 1);
	const struct kvm_irq_routing_entry *r2 = route(e, m->vec[2].gsi);
	assert_int_equal(r2->u.msi.address_lo, 0xfee00000);
	bar_write(e, entry(2, 2), 4, 0x4025);
	assert_int_equal(e->pf.router.commits, c + 2);
	assert_int_equal(r2->u.msi.data, 0x4025);
	assert_int_equal(r2->u.msi.address_hi, 0);
	/* Writing the same values again: no commit. */
	program(e, 2, 0xfee00000, 0x4025);
	assert_int_equal(e->pf.router.commits, c + 2);
	/* Upper address. */
	bar_write(e, entry(2, 1), 4, 0x12);
	assert_int_equal(e->pf.router.commits, c + 3);
	assert_int_equal(r2->u.msi.address_hi, 0x12);
	bar_write(e, entry(2, 1), 4, 0);
	/* Vector control: no route change. */
	c = e->pf.router.commits;
	set_vec_mask(e, 2, false);
	set_vec_mask(e, 2, true);
	assert_int_equal(e->pf.router.commits, c);
	/* Other vectors untouched. */
	for (unsigned v = 0; v < NVEC; v++) {
		if (v == 2)
			continue;
		const struct kvm_irq_routing_entry *r = route(e, m->vec[v].gsi);
		assert_int_equal(r->u.msi.address_lo, 0);
		assert_int_equal(r->u.msi.data, 0);
	}
	/* A qword write of the address. */
	bar_write(e, entry(0, 0), 8, 0x00000000fee0100cULL);
	const struct kvm_irq_routing_entry *r0 = route(e, m->vec[0].gsi);
	assert_int_equal(r0->u.msi.address_lo, 0xfee0100c);
	assert_int_equal(r0->u.msi.address_hi, 0);
	assert_true(e->pf.router.commits > c);
	/* Bits 1:0 of the address never reach the route. */
	bar_write(e, entry(0, 0), 4, 0xfee01003);
	assert_int_equal(r0->u.msi.address_lo, 0xfee01000);
	/* Routes are programmed with MSI-X disabled as well. */
	assert_false(msix_enabled(m));
	/* The irqchip routes are still there. */
	unsigned irqchip = 0;
	for (unsigned i = 0; i < e->pf.router.count; i++)
		irqchip += e->pf.router.entries[i].type == KVM_IRQ_ROUTING_IRQCHIP;
	assert_int_equal(irqchip, 39);
}

/* ---- masking, pending, delivery ---- */

static void test_vector_mask_pending(void **state)
{
	struct env *e = *state;
	struct msix *m = &e->dev.msix;
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE);
	program(e, 1, 0xfee00000, 0x4031);
	assert_int_equal(pba(e), 0);

	/* Masked: pending, nothing fired. */
	assert_int_equal(msix_notify(m, 1), 0);
	assert_int_equal(irqfd_take(e, 1), 0);
	assert_int_equal(pba(e), 1u << 1);
	assert_int_equal(bar_read(e, PBA_OFF, 4), 1u << 1);
	assert_int_equal(bar_read(e, PBA_OFF, 1), 1u << 1);
	assert_int_equal(bar_read(e, PBA_OFF + 4, 4), 0);
	/* Notified twice while masked: still one pending message. */
	assert_int_equal(msix_notify(m, 1), 0);
	/* Other vectors' masks do not deliver it. */
	set_vec_mask(e, 0, false);
	assert_int_equal(irqfd_take(e, 1), 0);
	assert_int_equal(irqfd_take(e, 0), 0);
	/* Unmask: delivered once, pending bit clear. */
	set_vec_mask(e, 1, false);
	assert_int_equal(irqfd_take(e, 1), 1);
	assert_int_equal(pba(e), 0);
	assert_int_equal(irqfd_take(e, 1), 0);
	/* Unmasked: fires at once, nothing pending. */
	assert_int_equal(msix_notify(m, 1), 0);
	assert_int_equal(irqfd_take(e, 1), 1);
	assert_int_equal(pba(e), 0);
	assert_int_equal(msix_notify(m, 1), 0);
	assert_int_equal(msix_notify(m, 1), 0);
	assert_int_equal(irqfd_take(e, 1), 2);
	/* Masked again (qword write of data + control). */
	bar_write(e, entry(1, 2), 8, 1ULL << 32 | 0x4031);
	assert_int_equal(msix_notify(m, 1), 0);
	assert_int_equal(irqfd_take(e, 1), 0);
	assert_int_equal(pba(e), 1u << 1);
	/* Re-masking a masked vector does not deliver. */
	set_vec_mask(e, 1, true);
	assert_int_equal(irqfd_take(e, 1), 0);
	/* Unmasked by a qword write: delivered. */
	bar_write(e, entry(1, 2), 8, 0x4031);
	assert_int_equal(irqfd_take(e, 1), 1);
	assert_int_equal(pba(e), 0);
	/* Each vector has its own eventfd. */
	assert_int_equal(irqfd_take(e, 0), 0);
	assert_int_equal(irqfd_take(e, 2), 0);
	assert_int_equal(irqfd_take(e, 3), 0);
}

static void test_function_mask(void **state)
{
	struct env *e = *state;
	struct msix *m = &e->dev.msix;
	for (unsigned v = 0; v < NVEC; v++) {
		program(e, v, 0xfee00000, 0x4030 + v);
		if (v != 3)
			set_vec_mask(e, v, false);
	}
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	assert_int_equal(msix_notify(m, 0), 0);
	assert_int_equal(msix_notify(m, 2), 0);
	assert_int_equal(msix_notify(m, 3), 0);
	for (unsigned v = 0; v < NVEC; v++)
		assert_int_equal(irqfd_take(e, v), 0);
	assert_int_equal(pba(e), 0xd);
	/* Writes to the table with the function masked deliver nothing. */
	set_vec_mask(e, 0, false);
	assert_int_equal(irqfd_take(e, 0), 0);
	/* Function mask off (Message Control through the bus, CF8/CFC): the
	 * unmasked ones fire, vector 3 (still masked itself) stays pending. */
	uint32_t reg = e->cap + PCI_MSIX_FLAGS;
	pfx_cf8_write(&e->pf, e->dev.pci.slot, reg, 2, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(irqfd_take(e, 0), 1);
	assert_int_equal(irqfd_take(e, 1), 0);
	assert_int_equal(irqfd_take(e, 2), 1);
	assert_int_equal(irqfd_take(e, 3), 0);
	assert_int_equal(pba(e), 0x8);
	set_vec_mask(e, 3, false);
	assert_int_equal(irqfd_take(e, 3), 1);
	assert_int_equal(pba(e), 0);
	/* Masked by a byte write of the high Message Control byte (ECAM). */
	uint64_t ecam = (uint64_t)e->dev.pci.slot << 15 | (reg + 1);
	pfx_mmio_write(&e->pf, PFX_ECAM_BASE + ecam, 1,
		       (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8);
	assert_int_equal(msix_notify(m, 1), 0);
	assert_int_equal(irqfd_take(e, 1), 0);
	assert_int_equal(pba(e), 0x2);
	pfx_mmio_write(&e->pf, PFX_ECAM_BASE + ecam, 1, PCI_MSIX_FLAGS_ENABLE >> 8);
	assert_int_equal(irqfd_take(e, 1), 1);
	assert_int_equal(pba(e), 0);
	/* Function masked, then MSI-X disabled: the message stays pending
	 * through both and is delivered once both are undone. */
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	assert_int_equal(msix_notify(m, 2), 0);
	set_msg_ctrl(e, 0);
	assert_int_equal(irqfd_take(e, 2), 0);
	assert_int_equal(pba(e), 0x4);
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(irqfd_take(e, 2), 1);
	assert_int_equal(pba(e), 0);
}

static void test_disabled_pends(void **state)
{
	struct env *e = *state;
	struct msix *m = &e->dev.msix;
	program(e, 0, 0xfee00000, 0x4030);
	set_vec_mask(e, 0, false);
	assert_false(msix_enabled(m));
	assert_int_equal(msix_notify(m, 0), 0);
	assert_int_equal(irqfd_take(e, 0), 0);
	assert_int_equal(pba(e), 1);
	/* Unmasking the (already unmasked) vector with MSI-X off: nothing. */
	set_vec_mask(e, 0, false);
	assert_int_equal(irqfd_take(e, 0), 0);
	/* Enabled with the function masked: still nothing. */
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	assert_int_equal(irqfd_take(e, 0), 0);
	assert_int_equal(pba(e), 1);
	/* Enabled: delivered. */
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(irqfd_take(e, 0), 1);
	assert_int_equal(pba(e), 0);
	/* Disabled again. */
	set_msg_ctrl(e, 0);
	assert_int_equal(msix_notify(m, 0), 0);
	assert_int_equal(irqfd_take(e, 0), 0);
	assert_int_equal(pba(e), 1);
}

static void test_notify_out_of_range(void **state)
{
	struct env *e = *state;
	struct msix *m = &e->dev.msix;
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(msix_notify(m, NVEC), -EINVAL);
	assert_int_equal(msix_notify(m, 63), -EINVAL);
	assert_int_equal(msix_notify(m, 64), -EINVAL);
	assert_int_equal(msix_notify(m, 1000), -EINVAL);
	assert_int_equal(msix_notify(m, (unsigned)-1), -EINVAL);
	assert_int_equal(pba(e), 0);
	for (unsigned v = 0; v < NVEC; v++)
		assert_int_equal(irqfd_take(e, v), 0);
}

static void test_pba_read_only(void **state)
{
	struct env *e = *state;
	struct msix *m = &e->dev.msix;
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(msix_notify(m, 2), 0);
	assert_int_equal(pba(e), 0x4);
	bar_write(e, PBA_OFF, 8, 0);
	bar_write(e, PBA_OFF, 4, 0xffffffff);
	bar_write(e, PBA_OFF, 1, 0xff);
	bar_write(e, PBA_OFF + 4, 4, 0xffffffff);
	assert_int_equal(pba(e), 0x4);
	assert_int_equal(m->pba[0], 0x4);
	uint8_t d[8] = { 0 };
	assert_true(msix_bar_access(m, PBA_OFF, d, 8, true));
	assert_int_equal(pba(e), 0x4);
	/* Unaligned/narrow reads still see the bits. */
	assert_int_equal(bar_read(e, PBA_OFF, 2), 0x4);
	/* Nothing fired by any of that. */
	assert_int_equal(irqfd_take(e, 2), 0);
	set_vec_mask(e, 2, false);
	assert_int_equal(irqfd_take(e, 2), 1);
}

/* 64 vectors: the whole PBA qword, the last table entry. */
static void test_64_vectors(void **state)
{
	struct env *e = *state;
	struct msix *m = &e->dev.msix;
	assert_int_equal(cfg_read(e, e->cap + PCI_MSIX_FLAGS, 2), 63);
	assert_int_equal(m->vec[63].gsi, IRQ_MSI_GSI_BASE + 63);
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE);
	for (unsigned v = 0; v < 64; v++)
		assert_int_equal(msix_notify(m, v), 0);
	assert_int_equal(pba(e), UINT64_MAX);
	assert_int_equal(bar_read(e, PBA_OFF + 4, 4), 0xffffffff);
	assert_int_equal(bar_read(e, PBA_OFF + 7, 1), 0xff);
	set_vec_mask(e, 63, false);
	assert_int_equal(irqfd_take(e, 63), 1);
	assert_int_equal(pba(e), UINT64_MAX >> 1);
	bar_write(e, entry(63, 0), 8, 0xfee0f000);
	assert_int_equal(route(e, m->vec[63].gsi)->u.msi.address_lo, 0xfee0f000);
	assert_int_equal(msix_notify(m, 64), -EINVAL);
	/* The table ends at 64 * 16 = 0x400. */
	uint8_t d[4];
	assert_false(msix_bar_access(m, 0x400, d, 4, false));
	/* Unmasking each vector delivers its pending message. */
	for (unsigned v = 0; v < 63; v++)
		set_vec_mask(e, v, false);
	assert_int_equal(pba(e), 0);
	for (unsigned v = 0; v < 64; v++)
		assert_int_equal(irqfd_take(e, v), v == 63 ? 0 : 1);
}

/* The PCI maximum, emulated: 2048 vectors, a GSI and route each, a PBA of
 * 32 words; programming, masking and pending bits at the far end. */
static void test_2048_vectors(void **state)
{
	struct env *e = *state;
	struct msix *m = &e->dev.msix;
	struct irq_router *r = &e->pf.router;
	assert_int_equal(cfg_read(e, e->cap + PCI_MSIX_FLAGS, 2), 2047);
	assert_int_equal(cfg_read(e, e->cap + PCI_MSIX_PBA, 4), BIG_PBA_OFF);
	assert_int_equal(m->nvec, 2048);
	/* A route per vector: 39 irqchip + 2048 MSI, all distinct GSIs. */
	assert_int_equal(r->count, 39 + 2048);
	assert_int_equal(r->msi_routes, 2048);
	for (unsigned v = 0; v < 2048; v++) {
		assert_int_equal(m->vec[v].gsi, IRQ_MSI_GSI_BASE + v);
		assert_true(m->vec[v].irqfd >= 0);
		assert_non_null(route(e, m->vec[v].gsi));
	}
	/* The last entry: programmed, read back, its route follows. */
	program(e, 2047, 0xfee0f000, 0x40ef);
	assert_int_equal(bar_read(e, entry(2047, 0), 4), 0xfee0f000);
	assert_int_equal(bar_read(e, entry(2047, 2), 4), 0x40ef);
	assert_int_equal(bar_read(e, entry(2047, 3), 4), 1);
	assert_int_equal(route(e, m->vec[2047].gsi)->u.msi.data, 0x40ef);
	program(e, 1000, 0xfee01000, 0x4031);
	assert_int_equal(route(e, m->vec[1000].gsi)->u.msi.address_lo, 0xfee01000);
	/* Past the table: the PBA; past the PBA: not MSI-X's. */
	uint8_t d[8];
	assert_false(msix_bar_access(m, BIG_PBA_OFF + 256, d, 4, false));
	assert_true(msix_bar_access(m, BIG_PBA_OFF + 248, d, 8, false));
	assert_int_equal(msix_notify(m, 2048), -EINVAL);

	/* Masked vectors pend, in the PBA word of their vector. */
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE);
	const unsigned pend[] = { 64, 100, 1000, 2047 };
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(msix_notify(m, pend[i]), 0);
	assert_int_equal(pba_word(e, 0), 0);
	assert_int_equal(pba_word(e, 1), 1ULL << 0 | 1ULL << (100 - 64));
	assert_int_equal(pba_word(e, 1000 / 64), 1ULL << (1000 % 64));
	assert_int_equal(pba_word(e, 31), 1ULL << 63);
	assert_int_equal(bar_read(e, BIG_PBA_OFF + 255, 1), 0x80);
	assert_int_equal(bar_read(e, BIG_PBA_OFF + 252, 4), 0x80000000);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(irqfd_take(e, pend[i]), 0);
	/* Unmasking the last vector delivers it, its bit clears. */
	set_vec_mask(e, 2047, false);
	assert_int_equal(irqfd_take(e, 2047), 1);
	assert_int_equal(pba_word(e, 31), 0);
	/* Function mask: an unmask delivers nothing until it clears. */
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	set_vec_mask(e, 1000, false);
	assert_int_equal(irqfd_take(e, 1000), 0);
	assert_int_equal(pba_word(e, 1000 / 64), 1ULL << (1000 % 64));
	assert_int_equal(msix_notify(m, 2047), 0); /* unmasked, function-masked */
	assert_int_equal(irqfd_take(e, 2047), 0);
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(irqfd_take(e, 1000), 1);
	assert_int_equal(irqfd_take(e, 2047), 1);
	assert_int_equal(pba_word(e, 1000 / 64), 0);
	/* Deliverable now: straight through. */
	assert_int_equal(msix_notify(m, 1000), 0);
	assert_int_equal(irqfd_take(e, 1000), 1);
	assert_int_equal(pba_word(e, 1), 1ULL << 0 | 1ULL << (100 - 64));
	/* Reset: every word clear, every route back to zero. */
	pci_bus_reset(&e->pf.pb);
	for (unsigned w = 0; w < 32; w++)
		assert_int_equal(pba_word(e, w), 0);
	assert_int_equal(route(e, m->vec[2047].gsi)->u.msi.data, 0);
	assert_int_equal(r->count, 39 + 2048);
}

/* msix_save/msix_restore over the allocated table: a 2048-vector device's
 * entries and pending bits in every PBA word come back; a 4-vector one's
 * section is the same bytes as before tables grew (one PBA u64). */
static void test_2048_snapshot(void **state)
{
	struct env *e = *state;
	struct msix *m = &e->dev.msix;
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE);
	program(e, 5, 0xfee00000, 0x4005);
	program(e, 2047, 0xfee02000, 0x40ff);
	set_vec_mask(e, 5, false);
	assert_int_equal(msix_notify(m, 130), 0);
	assert_int_equal(msix_notify(m, 2047), 0);
	struct snap_buf b = { 0 };
	assert_int_equal(msix_save(m, &b), 0);
	assert_int_equal(b.len, 4 + 2048 * 16 + 32 * 8 + 1);

	pci_bus_reset(&e->pf.pb);
	assert_int_equal(pba_word(e, 2), 0);
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE); /* as the config space restore leaves it */
	struct snap_cur c = { .p = b.data, .len = b.len };
	assert_int_equal(msix_restore(m, &c), 0);
	assert_false(c.bad);
	assert_int_equal(bar_read(e, entry(2047, 2), 4), 0x40ff);
	assert_int_equal(bar_read(e, entry(5, 3), 4), 0);
	assert_int_equal(route(e, m->vec[2047].gsi)->u.msi.address_lo, 0xfee02000);
	assert_int_equal(pba_word(e, 2), 1ULL << (130 - 128));
	assert_int_equal(pba_word(e, 31), 1ULL << 63);
	set_vec_mask(e, 2047, false);
	assert_int_equal(irqfd_take(e, 2047), 1);

	/* A section cut short (in the last PBA word): refused. */
	c = (struct snap_cur){ .p = b.data, .len = b.len - 2 };
	assert_int_equal(msix_restore(m, &c), -EBADMSG);
	snap_buf_free(&b);
}

static void test_small_snapshot_format(void **state)
{
	struct env *e = *state;
	struct msix *m = &e->dev.msix;
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(msix_notify(m, 3), 0);
	struct snap_buf b = { 0 };
	assert_int_equal(msix_save(m, &b), 0);
	/* nvec, 4 entries, one u64 of pending bits, Enable. */
	assert_int_equal(b.len, 4 + NVEC * 16 + 8 + 1);
	uint64_t p;
	memcpy(&p, b.data + 4 + NVEC * 16, 8);
	assert_int_equal(p, 1u << 3);
	/* A bit past vector 3: refused. */
	p |= 1u << 4;
	memcpy(b.data + 4 + NVEC * 16, &p, 8);
	struct snap_cur c = { .p = b.data, .len = b.len };
	assert_int_equal(msix_restore(m, &c), -EBADMSG);
	snap_buf_free(&b);
}

/* A machine reset (pci_bus_reset -> msix_reset): MSI-X disabled and
 * unmasked-function as built, every entry zero and masked, nothing
 * pending; a notify then only pends, and the guest can set it up again. */
static void test_machine_reset(void **state)
{
	struct env *e = *state;
	struct msix *m = &e->dev.msix;
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE);
	program(e, 1, 0xfee00000, 0x4031);
	set_vec_mask(e, 1, false);
	program(e, 2, 0xfee01000, 0x4032);
	assert_int_equal(msix_notify(m, 2), 0); /* masked: pending */
	assert_int_equal(pba(e), 1u << 2);
	assert_true(msix_enabled(m));

	pci_bus_reset(&e->pf.pb);

	assert_false(msix_enabled(m));
	assert_int_equal(cfg_read(e, e->cap + PCI_MSIX_FLAGS, 2), NVEC - 1);
	assert_int_equal(pba(e), 0);
	for (unsigned v = 0; v < NVEC; v++) {
		assert_int_equal(bar_read(e, entry(v, 0), 4), 0);
		assert_int_equal(bar_read(e, entry(v, 1), 4), 0);
		assert_int_equal(bar_read(e, entry(v, 2), 4), 0);
		assert_int_equal(bar_read(e, entry(v, 3), 4), 1);
		/* KVM's routes are back to the table's zeros too. */
		const struct kvm_irq_routing_entry *r = route(e, m->vec[v].gsi);
		assert_non_null(r);
		assert_int_equal(r->u.msi.address_lo, 0);
		assert_int_equal(r->u.msi.address_hi, 0);
		assert_int_equal(r->u.msi.data, 0);
	}
	/* Nothing fires until the guest sets it up again. */
	assert_int_equal(msix_notify(m, 1), 0);
	assert_int_equal(irqfd_take(e, 1), 0);
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE);
	program(e, 1, 0xfee00000, 0x4041);
	assert_int_equal(irqfd_take(e, 1), 0);
	set_vec_mask(e, 1, false); /* the pending message goes out */
	assert_int_equal(irqfd_take(e, 1), 1);
	assert_int_equal(irqfd_take(e, 2), 0);
}

/* ---- an adopted capability (a passthrough device's) ---- */

struct adopt_rec {
	struct msix *m;
	unsigned enables, disables;
	unsigned vectors;      /* hooks->vector calls */
	unsigned last_vector;
	int last_fd;
	bool live_at_enable;   /* a vector had an eventfd when enable(true) came */
};

static void adopt_enable(void *opaque, bool on)
{
	struct adopt_rec *r = opaque;
	if (on) {
		r->enables++;
		for (unsigned v = 0; r->m && v < r->m->nvec; v++)
			r->live_at_enable |= r->m->vec[v].irqfd >= 0;
	} else {
		r->disables++;
	}
}

static void adopt_vector(void *opaque, unsigned v, int fd)
{
	struct adopt_rec *r = opaque;
	r->vectors++;
	r->last_vector = v;
	r->last_fd = fd;
}

static const struct msix_hooks adopt_hooks = { .enable = adopt_enable,
					       .vector = adopt_vector };

/* Config write of the control word's high byte, as the bus would do it. */
static void adopt_ctrl(struct msix *m, uint8_t hi)
{
	struct pci_device *d = m->dev;
	unsigned o = m->cap_off + PCI_MSIX_FLAGS + 1;
	d->config[o] = (uint8_t)((d->config[o] & ~d->wmask[o]) | (hi & d->wmask[o]));
	msix_config_write(m, o, 1);
}

static void adopt_table(struct msix *m, unsigned v, unsigned word, uint32_t val)
{
	uint8_t d[4];
	memcpy(d, &val, 4);
	assert_true(msix_access(m, 1, 0x100 + v * 16 + word * 4, d, 4, true));
}

static uint64_t adopt_pba(struct msix *m)
{
	uint8_t d[8];
	assert_true(msix_access(m, 3, 0x40, d, 8, false));
	uint64_t v;
	memcpy(&v, d, 8);
	return v;
}

static bool readable(int fd)
{
	uint64_t n;
	return read(fd, &n, sizeof(n)) == sizeof(n);
}

/* A passthrough device with its MSI-X capability at 0x70: Message Control
 * ctrl (Table Size - 1, Enable, Function Mask), the table in BAR1 at
 * 0x100, the PBA in BAR3 at 0x40. */
static void pt_device(struct pci_device *dev, const char *name, uint16_t device_id,
		      uint16_t ctrl)
{
	pci_device_init(dev, name, 0x8086, device_id, 0x020000, 0, 0, 0, NULL);
	uint8_t cap[12] = { PCI_CAP_ID_MSIX, 0, (uint8_t)ctrl, (uint8_t)(ctrl >> 8),
			    0x01, 0x01, 0, 0, 0x43, 0, 0, 0 };
	memcpy(&dev->config[0x70], cap, sizeof(cap));
}

static void test_adopt(void **state)
{
	(void)state;
	struct irq_router r;
	assert_int_equal(irq_router_init(&r, NULL), 0);
	struct pci_device dev;
	/* 16 vectors, Enable set as the host left it. */
	pt_device(&dev, "pt", 0x10d3, 0x800f);
	struct msix m;
	struct adopt_rec rec = { .m = &m };
	/* Not an MSI-X capability there; too many vectors. */
	assert_int_equal(msix_adopt(&m, &dev, &r, 0x60, 4, 1, 0x100, 3, 0x40, NULL, NULL),
			 -EINVAL);
	assert_int_equal(msix_adopt(&m, &dev, &r, 0x70, MSIX_MAX_VECTORS + 1, 1, 0x100, 3,
				    0x40, NULL, NULL), -EINVAL);
	assert_int_equal(msix_adopt(&m, &dev, &r, 0x70, 4, 1, 0x100, 3, 0x40, &adopt_hooks,
				    &rec), 0);
	/* Offered: 4 vectors, off; BIR/offsets as the device has them, read-only. */
	assert_int_equal(pci_cfg_read(&dev, 0x72, 2), 3);
	assert_int_equal(pci_cfg_read(&dev, 0x74, 4), 0x101);
	assert_int_equal(dev.wmask[0x74], 0);
	assert_int_equal(dev.wmask[0x73], 0xc0);
	assert_int_equal(dev.wmask[0x72], 0);
	assert_int_equal(m.nvec, 4);
	/* Routes reserved, none made: no vector has an eventfd or a GSI. */
	for (unsigned v = 0; v < 4; v++) {
		assert_false(m.vec[v].routed);
		assert_int_equal(m.vec[v].irqfd, -1);
	}
	assert_int_equal(r.count, 39);
	assert_int_equal(r.reserved, 4);
	assert_int_equal(m.reserved, 4);
	/* Table in BAR1, PBA in BAR3: not the other way round. */
	uint8_t d[4] = { 0 };
	assert_false(msix_access(&m, 3, 0x100, d, 4, false));
	assert_false(msix_access(&m, 1, 0x40, d, 4, false));

	/* Program vector 1 and unmask it: MSI-X is off, so nothing is made
	 * yet; the device has nothing to signal it through. */
	adopt_table(&m, 1, 0, 0xfee01000);
	adopt_table(&m, 1, 2, 0x41);
	adopt_table(&m, 1, 3, 0);
	assert_false(m.vec[1].routed);
	assert_int_equal(m.vec[1].irqfd, -1);
	assert_int_equal(msix_notify(&m, 1), -ENOENT);
	assert_int_equal(adopt_pba(&m), 0);
	/* Enable: vector 1 (deliverable at once) gets its eventfd and route
	 * first, so the device has it with the enable; it is bound; the
	 * masked ones get nothing. */
	adopt_ctrl(&m, PCI_MSIX_FLAGS_ENABLE >> 8);
	assert_int_equal(rec.enables, 1);
	assert_true(rec.live_at_enable);
	assert_true(m.vec[1].routed);
	assert_true(m.vec[1].irqfd >= 0);
	assert_int_equal(rec.vectors, 1);
	assert_int_equal(rec.last_vector, 1);
	assert_int_equal(rec.last_fd, m.vec[1].irqfd);
	assert_int_equal(r.count, 40);
	assert_int_equal(m.reserved, 3);
	assert_int_equal(route_in(&r, m.vec[1].gsi)->u.msi.address_lo, 0xfee01000);
	assert_int_equal(route_in(&r, m.vec[1].gsi)->u.msi.data, 0x41);
	assert_false(m.vec[0].routed);
	assert_int_equal(m.vec[0].irqfd, -1);
	assert_int_equal(atomic_load(&m.unmasks), 1);
	assert_int_equal(msix_notify(&m, 1), 0);
	assert_int_equal(adopt_pba(&m), 0); /* bound: not pending here */
	assert_true(readable(m.vec[1].irqfd));
	/* Its route follows the table from now on. */
	adopt_table(&m, 1, 2, 0x42);
	assert_int_equal(route_in(&r, m.vec[1].gsi)->u.msi.data, 0x42);
	/* Function mask: every vector unbound; a signal then is pending. */
	adopt_ctrl(&m, (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8);
	assert_false(m.vec[1].routed);
	assert_int_equal(atomic_load(&m.masks), 1);
	assert_int_equal(msix_notify(&m, 1), 0);
	assert_int_equal(adopt_pba(&m), 0x2);
	assert_true(readable(m.vec[1].irqfd));
	assert_int_equal(adopt_pba(&m), 0);
	adopt_ctrl(&m, PCI_MSIX_FLAGS_ENABLE >> 8);
	assert_true(m.vec[1].routed);
	assert_int_equal(rec.vectors, 1); /* made once */
	/* Masking the vector itself. */
	adopt_table(&m, 1, 3, 1);
	assert_false(m.vec[1].routed);
	adopt_table(&m, 1, 3, 0);
	assert_true(m.vec[1].routed);
	assert_int_equal(rec.enables, 1);
	/* Disable: unbound, the device loses its eventfds, leftovers dropped. */
	adopt_table(&m, 2, 3, 0);
	assert_true(m.vec[2].routed);
	assert_int_equal(rec.vectors, 2);
	assert_int_equal(rec.last_vector, 2);
	adopt_ctrl(&m, 0);
	assert_int_equal(rec.disables, 1);
	assert_false(m.vec[1].routed);
	assert_false(m.vec[2].routed);
	msix_notify(&m, 2);
	adopt_ctrl(&m, PCI_MSIX_FLAGS_ENABLE >> 8);
	assert_int_equal(rec.enables, 2);
	assert_true(m.vec[1].routed && m.vec[2].routed);

	/* Reset: config back (done by the bus), table masked, all unbound,
	 * eventfds closed and routes given back to the reservation; the hook
	 * is the owner's business. */
	adopt_table(&m, 3, 3, 0);
	dev.config[0x73] = 0;
	msix_notify(&m, 1);
	msix_reset(&m);
	for (unsigned v = 0; v < 4; v++) {
		assert_false(m.vec[v].routed);
		assert_int_equal(m.vec[v].ctrl, 1);
		assert_int_equal(m.vec[v].irqfd, -1);
	}
	assert_int_equal(r.count, 39);
	assert_int_equal(m.reserved, 4);
	assert_int_equal(r.reserved, 4);
	assert_int_equal(rec.disables, 1);
	msix_destroy(&m);
	assert_int_equal(r.reserved, 0);
	irq_router_destroy(&r);
}

/* A NIC-sized table adopted: 2048 vectors cost a reservation, and only the
 * vectors the guest uses get an eventfd and a route. */
static void test_adopt_2048(void **state)
{
	(void)state;
	struct irq_router r;
	assert_int_equal(irq_router_init(&r, NULL), 0);
	struct pci_device dev;
	pt_device(&dev, "pt", 0x1572, 0x07ff); /* 2048 vectors */
	struct msix m;
	struct adopt_rec rec = { .m = &m };
	assert_int_equal(msix_adopt(&m, &dev, &r, 0x70, 2048, 1, 0x100, 3, 0x40, &adopt_hooks,
				    &rec), 0);
	assert_int_equal(m.nvec, 2048);
	assert_int_equal(pci_cfg_read(&dev, 0x72, 2), 2047);
	assert_int_equal(r.count, 39);
	assert_int_equal(r.reserved, 2048);
	/* Linux's order: function mask, enable, entries, unmask them. */
	adopt_ctrl(&m, (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8);
	assert_int_equal(rec.enables, 1);
	assert_false(rec.live_at_enable);
	const unsigned used[] = { 0, 200, 2047 };
	for (unsigned i = 0; i < 3; i++) {
		adopt_table(&m, used[i], 0, 0xfee00000);
		adopt_table(&m, used[i], 2, 0x4000 + used[i]);
		adopt_table(&m, used[i], 3, 0);
	}
	assert_int_equal(rec.vectors, 0); /* function-masked: none yet */
	adopt_ctrl(&m, PCI_MSIX_FLAGS_ENABLE >> 8);
	assert_int_equal(rec.vectors, 3);
	assert_int_equal(rec.last_vector, 2047);
	assert_int_equal(r.count, 39 + 3);
	assert_int_equal(m.reserved, 2045);
	unsigned live = 0;
	for (unsigned v = 0; v < 2048; v++)
		live += m.vec[v].irqfd >= 0;
	assert_int_equal(live, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_true(m.vec[used[i]].routed);
		assert_int_equal(route_in(&r, m.vec[used[i]].gsi)->u.msi.data, 0x4000 + used[i]);
	}
	/* A vector the guest masks holds what the device signals: PBA words
	 * 3 (vector 200) and 31 (vector 2047). */
	adopt_table(&m, 200, 3, 1);
	adopt_table(&m, 2047, 3, 1);
	assert_int_equal(msix_notify(&m, 200), 0);
	assert_int_equal(msix_notify(&m, 2047), 0);
	assert_int_equal(msix_notify(&m, 201), -ENOENT); /* never used */
	uint8_t d[8];
	uint64_t w;
	assert_true(msix_access(&m, 3, 0x40 + 8 * 3, d, 8, false));
	memcpy(&w, d, 8);
	assert_int_equal(w, 1ULL << (200 - 192));
	assert_true(msix_access(&m, 3, 0x40 + 8 * 31 + 4, d, 4, false));
	assert_int_equal(d[3], 0x80);
	assert_true(msix_access(&m, 3, 0x40, d, 8, false));
	memcpy(&w, d, 8);
	assert_int_equal(w, 0);
	/* The PBA ends after 32 words. */
	assert_false(msix_access(&m, 3, 0x40 + 256, d, 4, false));
	adopt_table(&m, 200, 3, 0);
	assert_true(m.vec[200].routed);
	assert_true(msix_access(&m, 3, 0x40 + 8 * 3, d, 8, false));
	memcpy(&w, d, 8);
	assert_int_equal(w, 0);
	msix_destroy(&m);
	assert_int_equal(r.count, 39);
	assert_int_equal(r.reserved, 0);
	irq_router_destroy(&r);
}

/* KVM's route table nearly full: the device is offered the vectors that
 * have routes (a smaller Table Size); full: -ENOSPC. */
static void test_adopt_route_limit(void **state)
{
	(void)state;
	struct irq_router r;
	assert_int_equal(irq_router_init(&r, NULL), 0);
	const unsigned room = IRQ_ROUTER_MAX_ROUTES - 39;
	assert_int_equal(irq_router_reserve_msi(&r, room - 100), room - 100);
	struct pci_device dev;
	pt_device(&dev, "pt", 0x1572, 0x07ff); /* 2048 vectors */
	struct msix m;
	assert_int_equal(msix_adopt(&m, &dev, &r, 0x70, 2048, 1, 0x100, 3, 0x40, NULL, NULL), 0);
	assert_int_equal(m.nvec, 100);
	assert_int_equal(pci_cfg_read(&dev, 0x72, 2), 99);
	/* Its last vector works as any. */
	adopt_ctrl(&m, PCI_MSIX_FLAGS_ENABLE >> 8);
	adopt_table(&m, 99, 3, 0);
	assert_true(m.vec[99].routed);
	uint8_t d[4];
	assert_false(msix_access(&m, 1, 0x100 + 100 * 16, d, 4, false));
	/* Nothing left for another device. */
	struct pci_device dev2;
	pt_device(&dev2, "pt2", 0x1572, 0x07ff);
	struct msix m2;
	assert_int_equal(msix_adopt(&m2, &dev2, &r, 0x70, 16, 1, 0x100, 3, 0x40, NULL, NULL),
			 -ENOSPC);
	msix_destroy(&m2); /* safe after -ENOSPC */
	msix_destroy(&m);
	assert_int_equal(irq_router_msi_room(&r), 100);
	irq_router_destroy(&r);
}

/* ---- snapshots ---- */

/*
 * msix_save in one VM, msix_restore into the same device built afresh in
 * another (a restore in a new process): the table reads back through the
 * BAR as it was, each vector's KVM route is programmed again from it, a
 * pending masked vector stays pending (and fires once unmasked), Enable
 * is as it was. A save that does not fit the device is refused.
 */
static void test_save_restore(void **state)
{
	struct env *e = *state;
	struct msix *m = &e->dev.msix;
	set_msg_ctrl(e, PCI_MSIX_FLAGS_ENABLE);
	program(e, 1, 0xfee01000, 0x4031);
	set_vec_mask(e, 1, false);
	program(e, 3, 0x12fee02000ull, 0x4042); /* stays masked */
	assert_int_equal(msix_notify(m, 3), 0);
	assert_int_equal(pba(e), 1u << 3);
	struct snap_buf b = { 0 };
	assert_int_equal(msix_save(m, &b), 0);
	assert_int_equal(b.err, 0);

	void *st2 = NULL;
	setup_nvec(&st2, NVEC);
	struct env *e2 = st2;
	struct msix *m2 = &e2->dev.msix;
	assert_int_equal(route(e2, m2->vec[1].gsi)->u.msi.data, 0);
	uint64_t commits = e2->pf.router.commits;
	struct snap_cur c = { .p = b.data, .len = b.len };
	assert_int_equal(msix_restore(m2, &c), 0);
	assert_int_equal(snap_cur_end(&c), 0);
	assert_true(e2->pf.router.commits > commits);
	const struct kvm_irq_routing_entry *r1 = route(e2, m2->vec[1].gsi);
	assert_int_equal(r1->u.msi.address_lo, 0xfee01000);
	assert_int_equal(r1->u.msi.address_hi, 0);
	assert_int_equal(r1->u.msi.data, 0x4031);
	const struct kvm_irq_routing_entry *r3 = route(e2, m2->vec[3].gsi);
	assert_int_equal(r3->u.msi.address_lo, 0xfee02000);
	assert_int_equal(r3->u.msi.address_hi, 0x12);
	assert_int_equal(r3->u.msi.data, 0x4042);
	for (unsigned v = 0; v < NVEC; v++)
		for (unsigned w = 0; w < 4; w++)
			assert_int_equal(bar_read(e2, entry(v, w), 4), bar_read(e, entry(v, w), 4));
	assert_int_equal(pba(e2), 1u << 3);
	/* Enable comes from config space (restored before, by
	 * pci_device_restore); as the guest's write would set it: */
	set_msg_ctrl(e2, PCI_MSIX_FLAGS_ENABLE);
	assert_true(msix_enabled(m2));
	irqfd_take(e2, 3);
	set_vec_mask(e2, 3, false);
	assert_int_equal(irqfd_take(e2, 3), 1);
	assert_int_equal(pba(e2), 0);

	/* Cut short; a pending bit beyond the vectors; another vector count. */
	for (size_t cut = 0; cut < b.len; cut += 5) {
		c = (struct snap_cur){ .p = b.data, .len = cut };
		assert_int_equal(msix_restore(m2, &c) ?: snap_cur_end(&c), -EBADMSG);
	}
	uint8_t *bad = malloc(b.len);
	assert_non_null(bad);
	memcpy(bad, b.data, b.len);
	bad[4 + NVEC * 16 + 7] = 0x80; /* PBA bit 63 */
	c = (struct snap_cur){ .p = bad, .len = b.len };
	assert_int_equal(msix_restore(m2, &c), -EBADMSG);
	memcpy(bad, b.data, b.len);
	bad[0] = NVEC + 1;
	c = (struct snap_cur){ .p = bad, .len = b.len };
	assert_int_equal(msix_restore(m2, &c), -EBADMSG);
	free(bad);
	snap_buf_free(&b);
	teardown(&st2);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_capability, setup, teardown),
		cmocka_unit_test(test_init_layouts_and_errors),
		cmocka_unit_test_setup_teardown(test_table_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_updates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vector_mask_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_function_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disabled_pends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pba_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_64_vectors, setup64, teardown),
		cmocka_unit_test_setup_teardown(test_2048_vectors, setup2048, teardown),
		cmocka_unit_test_setup_teardown(test_2048_snapshot, setup2048, teardown),
		cmocka_unit_test_setup_teardown(test_small_snapshot_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_machine_reset, setup, teardown),
		cmocka_unit_test(test_adopt),
		cmocka_unit_test(test_adopt_2048),
		cmocka_unit_test(test_adopt_route_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
