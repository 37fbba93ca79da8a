/* SPDX-License-Identifier: MIT */
/*
 * The passthrough device core (src/vfio/pci_dev.c) over a fake backend:
 * a NIC-like function with a PM capability (the device's), MSI (64-bit,
 * maskable, 4 vectors) and MSI-X (8 vectors, table and PBA in BAR0) that
 * cvmm emulates, an extended capability, a 16 KiB MEM32 BAR0 (mmap-able
 * whole: the MSI-X pages must stay out), a 1 MiB prefetchable MEM64 BAR2
 * with two sparse-mmap areas and a 32-byte I/O BAR4 (trapped).
 *
 * Checked: the shadow (ids, header type, BAR sizing, no ROM) against what
 * passes through (status, other capabilities, extended config space) in
 * both directions, the command register reaching the device, BAR areas as
 * memory slots following BAR moves, trapped BAR accesses as region
 * reads/writes, the INTx / MSI / MSI-X switches as SET_IRQS calls with the
 * vectors' eventfds, MSI-X table writes as routes and masking as irqfd
 * binding, DMA maps of guest RAM, machine reset, teardown, and creation
 * failures that leave nothing behind. The irq router runs without KVM.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc.h"
#include "bus.h"
#include "guest_mem.h"
#include "kvm/irq_router.h"
#include "log.h"
#include "log_capture.h"
#include "vfio/pci_dev.h"

#define PIO_BASE 0xc000ULL
#define PIO_SIZE 0x4000ULL
#define M32_BASE 0xc0000000ULL
#define M32_SIZE 0x20000000ULL
#define M64_BASE 0x400000000ULL
#define M64_SIZE (64ULL << 30)
#define ECAM_BASE 0xe0000000ULL
#define ECAM_SIZE 0x1000000ULL
#define INTX_GSI 17

#define PM_CAP 0x40
#define MSI_CAP 0x50
#define MSIX_CAP 0x70
#define EXT_CAP 0x100
#define BAR0_SIZE 0x4000ULL
#define BAR2_SIZE 0x100000ULL
#define BAR4_SIZE 0x20ULL
#define MSIX_TABLE 0x2000
#define MSIX_PBA 0x3000
#define MSIX_NVEC 8
#define BIG_NVEC 256 /* test_msix_256: BAR0's table pages hold 256 entries */

/* ---- the fake backend ---- */

struct irq_call {
	unsigned index, start, count;
	uint32_t flags;
	int32_t fds[BIG_NVEC];
};

struct fake_be {
	struct vfio_backend be;
	uint8_t cfg[4096]; /* the device's own config space */
	unsigned cfg_reads, cfg_writes;
	uint32_t last_cfg_write_off, last_cfg_write_len;
	struct {
		unsigned index;
		uint64_t off;
		uint32_t len;
		bool write;
		uint64_t val;
	} bar_acc;
	unsigned bar_accesses;
	unsigned mmaps;
	int mmap_fail_region; /* -1: none */
	struct irq_call irqs[64];
	unsigned nirqs;
	struct {
		uint64_t iova, size;
		void *hva;
	} dma[8];
	unsigned ndma, nunmap;
	int dma_fail;
	bool refuse_unmask_fd; /* as a vfio-user server may */
	unsigned resets;
	bool destroyed;
	uint32_t dev_flags;
	/* irq_counts (fake_counting_ops): the host's count per index, of
	 * the vectors on now (a kind turned off loses its count, as the
	 * host frees its IRQs); counts_fail: the read fails. */
	uint64_t host_counts[VFIO_PCI_IRQ_KINDS];
	bool counts_fail;
	unsigned count_reads;
	unsigned msix_count; /* MSI-X interrupts in the irq info */
};

static struct fake_be *fb(struct vfio_backend *b)
{
	return (struct fake_be *)b;
}

static int f_device_info(struct vfio_backend *b, struct vfio_device_info *info)
{
	info->flags = fb(b)->dev_flags;
	info->num_regions = VFIO_PCI_NUM_REGIONS;
	info->num_irqs = VFIO_PCI_NUM_IRQS;
	return 0;
}

static int f_region_info(struct vfio_backend *b, unsigned index, struct vfio_region_desc *out)
{
	(void)b;
	memset(out, 0, sizeof(*out));
	const uint32_t rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	switch (index) {
	case 0:
		*out = (struct vfio_region_desc){ .flags = rw | VFIO_REGION_INFO_FLAG_MMAP,
						  .size = BAR0_SIZE, .nareas = 1 };
		out->areas[0] = (struct vfio_area){ 0, BAR0_SIZE };
		break;
	case 2:
		*out = (struct vfio_region_desc){ .flags = rw | VFIO_REGION_INFO_FLAG_MMAP,
						  .size = BAR2_SIZE, .nareas = 2 };
		out->areas[0] = (struct vfio_area){ 0, 0x80000 };
		out->areas[1] = (struct vfio_area){ 0xc0000, 0x40000 };
		break;
	case 4:
		*out = (struct vfio_region_desc){ .flags = rw, .size = BAR4_SIZE };
		break;
	case VFIO_PCI_CONFIG_REGION_INDEX:
		*out = (struct vfio_region_desc){ .flags = rw, .size = 4096 };
		break;
	}
	return 0;
}

static int f_region_read(struct vfio_backend *b, unsigned index, uint64_t off, void *buf,
			 size_t len)
{
	struct fake_be *f = fb(b);
	if (index == VFIO_PCI_CONFIG_REGION_INDEX) {
		assert_true(off + len <= sizeof(f->cfg));
		memcpy(buf, &f->cfg[off], len);
		f->cfg_reads++;
		return 0;
	}
	f->bar_accesses++;
	f->bar_acc.index = index;
	f->bar_acc.off = off;
	f->bar_acc.len = (uint32_t)len;
	f->bar_acc.write = false;
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)(0x10 * index + off + i);
	return 0;
}

static int f_region_write(struct vfio_backend *b, unsigned index, uint64_t off,
			  const void *buf, size_t len)
{
	struct fake_be *f = fb(b);
	if (index == VFIO_PCI_CONFIG_REGION_INDEX) {
		assert_true(off + len <= sizeof(f->cfg));
		memcpy(&f->cfg[off], buf, len);
		f->cfg_writes++;
		f->last_cfg_write_off = (uint32_t)off;
		f->last_cfg_write_len = (uint32_t)len;
		return 0;
	}
	f->bar_accesses++;
	f->bar_acc.index = index;
	f->bar_acc.off = off;
	f->bar_acc.len = (uint32_t)len;
	f->bar_acc.write = true;
	f->bar_acc.val = 0;
	memcpy(&f->bar_acc.val, buf, len > 8 ? 8 : len);
	return 0;
}

static int f_region_mmap(struct vfio_backend *b, unsigned index, uint64_t off,
			 uint64_t size, int prot, void **out)
{
	struct fake_be *f = fb(b);
	(void)off;
	if ((int)index == f->mmap_fail_region)
		return -ENOTSUP;
	void *p = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	f->mmaps++;
	*out = p;
	return 0;
}

static int f_irq_info(struct vfio_backend *b, unsigned index, struct vfio_irq_info *info)
{
	const unsigned count[] = { 1, 4, fb(b)->msix_count, 0, 0 };
	info->flags = VFIO_IRQ_INFO_EVENTFD;
	if (index == VFIO_PCI_INTX_IRQ_INDEX)
		info->flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
	info->count = index < 5 ? count[index] : 0;
	return 0;
}

static int f_set_irqs(struct vfio_backend *b, unsigned index, unsigned start,
		      unsigned count, uint32_t flags, const int32_t *fds, const uint8_t *bools)
{
	struct fake_be *f = fb(b);
	(void)bools;
	assert_true(f->nirqs < 64);
	if (f->refuse_unmask_fd && (flags & VFIO_IRQ_SET_DATA_EVENTFD) &&
	    (flags & VFIO_IRQ_SET_ACTION_UNMASK))
		return -EINVAL;
	if (!(flags & VFIO_IRQ_SET_DATA_EVENTFD) && (flags & VFIO_IRQ_SET_ACTION_TRIGGER) &&
	    count == 0 && index < VFIO_PCI_IRQ_KINDS)
		f->host_counts[index] = 0;
	struct irq_call *c = &f->irqs[f->nirqs++];
	memset(c, 0, sizeof(*c));
	c->index = index;
	c->start = start;
	c->count = count;
	c->flags = flags;
	if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
		assert_non_null(fds);
		assert_true(count <= BIG_NVEC);
		memcpy(c->fds, fds, count * sizeof(*fds));
	}
	return 0;
}

static int f_dma_map(struct vfio_backend *b, uint64_t iova, uint64_t size, void *hva,
		     int fd, uint64_t fd_offset)
{
	struct fake_be *f = fb(b);
	/* Private anonymous RAM in these tests: no file behind it. */
	assert_int_equal(fd, -1);
	assert_int_equal(fd_offset, 0);
	if (f->dma_fail)
		return f->dma_fail;
	f->dma[f->ndma].iova = iova;
	f->dma[f->ndma].size = size;
	f->dma[f->ndma++].hva = hva;
	return 0;
}

static int f_dma_unmap(struct vfio_backend *b, uint64_t iova, uint64_t size)
{
	(void)iova;
	(void)size;
	fb(b)->nunmap++;
	return 0;
}

static int f_reset(struct vfio_backend *b)
{
	fb(b)->resets++;
	return 0;
}

static void f_destroy(struct vfio_backend *b)
{
	fb(b)->destroyed = true;
}

static int f_irq_counts(struct vfio_backend *b, uint64_t counts[VFIO_PCI_IRQ_KINDS])
{
	struct fake_be *f = fb(b);
	f->count_reads++;
	if (f->counts_fail)
		return -EIO;
	memcpy(counts, f->host_counts, sizeof(f->host_counts));
	return 0;
}

#define FAKE_OPS \
	.device_info = f_device_info, \
	.region_info = f_region_info, \
	.region_read = f_region_read, \
	.region_write = f_region_write, \
	.region_mmap = f_region_mmap, \
	.irq_info = f_irq_info, \
	.set_irqs = f_set_irqs, \
	.dma_map = f_dma_map, \
	.dma_unmap = f_dma_unmap, \
	.reset = f_reset, \
	.destroy = f_destroy

/* As vfio-user: no interrupt counts from the backend. */
static const struct vfio_backend_ops fake_ops = { FAKE_OPS };
/* As kernel VFIO: the host's counts (/proc/interrupts). */
static const struct vfio_backend_ops fake_counting_ops = { FAKE_OPS,
							   .irq_counts = f_irq_counts };

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void fake_be_init(struct fake_be *f)
{
	memset(f, 0, sizeof(*f));
	f->be.ops = &fake_ops;
	snprintf(f->be.name, sizeof(f->be.name), "0000:01:00.0");
	f->be.kind = "vfio";
	f->be.unmask_eventfd = true; /* as kernel VFIO */
	f->mmap_fail_region = -1;
	f->msix_count = MSIX_NVEC;
	f->dev_flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
	uint8_t *c = f->cfg;
	put16(c + PCI_VENDOR_ID, 0x8086);
	put16(c + PCI_DEVICE_ID, 0x10d3);
	put16(c + PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER); /* host left it */
	put16(c + PCI_STATUS, PCI_STATUS_CAP_LIST | PCI_STATUS_DETECTED_PARITY);
	put32(c + PCI_CLASS_REVISION, 0x02000003);
	c[PCI_HEADER_TYPE] = 0x80; /* multi-function on the host */
	put32(c + PCI_BASE_ADDRESS_0, 0xfebc0000);
	put32(c + PCI_BASE_ADDRESS_2, 0xf000000c);
	put32(c + PCI_BASE_ADDRESS_3, 0x00000001);
	put32(c + PCI_BASE_ADDRESS_4, 0xe001);
	put16(c + PCI_SUBSYSTEM_VENDOR_ID, 0x8086);
	put16(c + PCI_SUBSYSTEM_ID, 0xa01f);
	put32(c + PCI_ROM_ADDRESS, 0xfeb00001);
	c[PCI_CAPABILITY_LIST] = PM_CAP;
	c[PCI_INTERRUPT_LINE] = 11;
	c[PCI_INTERRUPT_PIN] = 1;
	/* PM, MSI (64-bit, maskable, 4 messages), MSI-X (8, BAR0). */
	c[PM_CAP] = PCI_CAP_ID_PM;
	c[PM_CAP + 1] = MSI_CAP;
	put16(c + PM_CAP + 2, 0x0003);
	put16(c + PM_CAP + 4, 0x0008);
	c[MSI_CAP] = PCI_CAP_ID_MSI;
	c[MSI_CAP + 1] = MSIX_CAP;
	put16(c + MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT | 0x4);
	c[MSIX_CAP] = PCI_CAP_ID_MSIX;
	c[MSIX_CAP + 1] = 0;
	put16(c + MSIX_CAP + PCI_MSIX_FLAGS, MSIX_NVEC - 1);
	put32(c + MSIX_CAP + PCI_MSIX_TABLE, MSIX_TABLE | 0);
	put32(c + MSIX_CAP + PCI_MSIX_PBA, MSIX_PBA | 0);
	/* An extended capability (AER) in extended config space. */
	put32(c + EXT_CAP, 0x00010001);
	put32(c + EXT_CAP + 4, 0x12345678);
}

/* ---- the machine around it ---- */

struct mem_rec {
	struct {
		bool map;
		uint64_t gpa, size;
		uint32_t handle;
	} ev[64];
	unsigned n, live;
	uint32_t next;
};

static int mem_map(void *opaque, uint64_t gpa, uint64_t size, void *hva, uint32_t *handle)
{
	struct mem_rec *r = opaque;
	(void)hva;
	assert_true(r->n < 64);
	*handle = r->next++;
	r->ev[r->n].map = true;
	r->ev[r->n].gpa = gpa;
	r->ev[r->n].size = size;
	r->ev[r->n++].handle = *handle;
	r->live++;
	return 0;
}

static int mem_unmap(void *opaque, uint32_t handle)
{
	struct mem_rec *r = opaque;
	assert_true(r->n < 64 && r->live > 0);
	r->ev[r->n].map = false;
	r->ev[r->n++].handle = handle;
	r->live--;
	return 0;
}

static void no_line(void *opaque, uint32_t gsi, int level)
{
	(void)opaque;
	(void)gsi;
	(void)level;
	fail_msg("INTx went through KVM_IRQ_LINE, not the irqfd");
}

static struct irq_line intx_for_slot(void *opaque, unsigned slot)
{
	(void)opaque;
	(void)slot;
	return (struct irq_line){ .set = no_line, .gsi = INTX_GSI };
}

struct env {
	struct bus pio, mmio;
	struct addr_alloc pio_a, m32_a, m64_a;
	struct pci_bus pb;
	struct irq_router r;
	struct guest_mem mem;
	struct mem_rec slots;
	struct fake_be be;
	struct vfio_pci_dev *d;
	unsigned slot;
};

static void env_init(struct env *e)
{
	assert_int_equal(bus_init(&e->pio, "pio"), 0);
	assert_int_equal(bus_init(&e->mmio, "mmio"), 0);
	assert_int_equal(addr_alloc_init(&e->pio_a, PIO_BASE, PIO_SIZE), 0);
	assert_int_equal(addr_alloc_init(&e->m32_a, M32_BASE, M32_SIZE), 0);
	assert_int_equal(addr_alloc_init(&e->m64_a, M64_BASE, M64_SIZE), 0);
	assert_int_equal(pci_bus_init(&e->pb, &e->pio, &e->mmio, &e->pio_a, &e->m32_a, NULL,
				      ECAM_BASE), 0);
	e->pb.mmio64_spill = &e->m64_a;
	e->pb.mem_map = mem_map;
	e->pb.mem_unmap = mem_unmap;
	e->pb.mem_opaque = &e->slots;
	e->pb.intx_for_slot = intx_for_slot;
	e->slots.next = 1;
	assert_int_equal(bus_register(&e->mmio, ECAM_BASE, ECAM_SIZE, pci_ecam_io, &e->pb,
				      "ecam"), 0);
	assert_int_equal(irq_router_init(&e->r, NULL), 0);
	/* Guest RAM as vm.c has it: below 3 GiB and above 4 GiB. */
	assert_int_equal(guest_mem_add(&e->mem, 0, 0xc0000000, (void *)0x7f0000000000), 0);
	assert_int_equal(guest_mem_add(&e->mem, 0x100000000, 0x40000000,
				       (void *)0x7f00c0000000), 0);
	fake_be_init(&e->be);
}

static struct vfio_pci_params params(struct env *e)
{
	return (struct vfio_pci_params){
		.backend = &e->be.be, .id = "nic0", .bus = &e->pb, .router = &e->r,
		.mem = &e->mem,
	};
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	env_init(e);
	struct vfio_pci_params p = params(e);
	assert_int_equal(vfio_pci_create(&e->d, &p), 0);
	e->slot = vfio_pci_device(e->d)->slot;
	*state = e;
	return 0;
}

static void env_fini(struct env *e)
{
	irq_router_destroy(&e->r);
	pci_bus_destroy(&e->pb);
	bus_destroy(&e->pio);
	bus_destroy(&e->mmio);
	addr_alloc_destroy(&e->pio_a);
	addr_alloc_destroy(&e->m32_a);
	addr_alloc_destroy(&e->m64_a);
	free(e);
}

static int teardown(void **state)
{
	struct env *e = *state;
	vfio_pci_destroy(e->d);
	assert_true(e->be.destroyed);
	env_fini(e);
	return 0;
}

/* ---- guest-style accesses ---- */

static uint32_t cfg_rd(struct env *e, unsigned reg, unsigned len)
{
	uint8_t d[4] = { 0 };
	assert_true(bus_access(&e->mmio, ECAM_BASE + ((uint64_t)e->slot << 15) + reg, d,
			       len, false));
	uint32_t v = 0;
	memcpy(&v, d, len);
	return v;
}

static void cfg_wr(struct env *e, unsigned reg, unsigned len, uint32_t val)
{
	uint8_t d[4];
	memcpy(d, &val, 4);
	assert_true(bus_access(&e->mmio, ECAM_BASE + ((uint64_t)e->slot << 15) + reg, d,
			       len, true));
}

static uint64_t bar_addr(struct env *e, unsigned bar)
{
	return vfio_pci_device(e->d)->bars[bar].addr;
}

static uint32_t mmio_rd(struct env *e, uint64_t addr, unsigned len)
{
	uint8_t d[8] = { 0 };
	assert_true(bus_access(&e->mmio, addr, d, len, false));
	uint32_t v = 0;
	memcpy(&v, d, len > 4 ? 4 : len);
	return v;
}

static void mmio_wr(struct env *e, uint64_t addr, unsigned len, uint32_t val)
{
	uint8_t d[8] = { 0 };
	memcpy(d, &val, 4);
	assert_true(bus_access(&e->mmio, addr, d, len, true));
}

/* The i-th SET_IRQS call since the device was created. */
static const struct irq_call *irq_call(struct env *e, unsigned i)
{
	assert_true(i < e->be.nirqs);
	return &e->be.irqs[i];
}

static void assert_irq_at(const struct irq_call *c, unsigned index, unsigned start,
			  unsigned count, uint32_t flags)
{
	assert_int_equal(c->index, index);
	assert_int_equal(c->start, start);
	assert_int_equal(c->count, count);
	assert_int_equal(c->flags, flags);
}

static void assert_irq(const struct irq_call *c, unsigned index, unsigned count,
		       uint32_t flags)
{
	assert_irq_at(c, index, 0, count, flags);
}

#define TRIGGER_EFD (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER)
#define UNMASK_EFD (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK)
#define OFF (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER)

/* ---- tests ---- */

static void test_create(void **state)
{
	struct env *e = *state;
	struct pci_device *p = vfio_pci_device(e->d);
	assert_int_equal(e->slot, 1);
	assert_string_equal(p->name, "nic0");
	/* Reset once at creation; guest RAM DMA-mapped at IOVA = GPA. */
	assert_int_equal(e->be.resets, 1);
	assert_int_equal(e->be.ndma, 2);
	assert_int_equal(e->be.dma[0].iova, 0);
	assert_int_equal(e->be.dma[0].size, 0xc0000000);
	assert_ptr_equal(e->be.dma[0].hva, (void *)0x7f0000000000);
	assert_int_equal(e->be.dma[1].iova, 0x100000000);
	/* BAR0 minus the MSI-X pages, BAR2's two sparse areas: 3 mmaps, each
	 * a memory slot at its BAR. */
	assert_int_equal(e->be.mmaps, 3);
	assert_int_equal(e->slots.live, 3);
	assert_int_equal(e->slots.ev[0].gpa, bar_addr(e, 0));
	assert_int_equal(e->slots.ev[0].size, 0x2000);
	assert_int_equal(e->slots.ev[1].gpa, bar_addr(e, 2));
	assert_int_equal(e->slots.ev[1].size, 0x80000);
	assert_int_equal(e->slots.ev[2].gpa, bar_addr(e, 2) + 0xc0000);
	assert_int_equal(e->slots.ev[2].size, 0x40000);
	/* BAR2 is 64-bit and placed by the allocator below 4 GiB. */
	assert_true(bar_addr(e, 2) >= M32_BASE && bar_addr(e, 2) < M32_BASE + M32_SIZE);
	assert_int_equal(bar_addr(e, 2) & (BAR2_SIZE - 1), 0);
	assert_true(p->bars[4].mapped);
	/* INTx on at the device: trigger eventfd, resample as unmask. */
	assert_int_equal(e->be.nirqs, 2);
	assert_irq(irq_call(e, 0), VFIO_PCI_INTX_IRQ_INDEX, 1, TRIGGER_EFD);
	assert_irq(irq_call(e, 1), VFIO_PCI_INTX_IRQ_INDEX, 1, UNMASK_EFD);
	assert_true(irq_call(e, 0)->fds[0] >= 0);
	assert_true(irq_call(e, 1)->fds[0] >= 0);
	assert_int_not_equal(irq_call(e, 0)->fds[0], irq_call(e, 1)->fds[0]);
	assert_int_equal(cfg_rd(e, PCI_INTERRUPT_PIN, 1), 1);
	assert_int_equal(cfg_rd(e, PCI_INTERRUPT_LINE, 1), INTX_GSI);

	struct vfio_pci_desc d;
	vfio_pci_describe(e->d, &d);
	assert_string_equal(d.name, "nic0");
	assert_string_equal(d.host, "0000:01:00.0");
	assert_string_equal(d.backend, "vfio");
	assert_int_equal(d.vendor_id, 0x8086);
	assert_int_equal(d.device_id, 0x10d3);
	assert_int_equal(d.nbars, 3);
	assert_int_equal(d.bars[0].mmap_bytes, 0x2000);
	assert_int_equal(d.bars[0].mapped_bytes, 0x2000);
	assert_int_equal(d.bars[1].index, 2);
	assert_int_equal(d.bars[1].type, PCI_BAR_MEM64);
	assert_true(d.bars[1].prefetchable);
	assert_int_equal(d.bars[1].mmap_bytes, 0xc0000);
	assert_int_equal(d.bars[2].type, PCI_BAR_IO);
	assert_int_equal(d.bars[2].mmap_bytes, 0);
	assert_int_equal(d.irq, VFIO_PCI_IRQ_INTX);
	assert_string_equal(vfio_pci_irq_mode_name(d.irq), "intx");
	assert_int_equal(d.msix_vectors, MSIX_NVEC);
	assert_int_equal(d.msi_vectors, 4);
	assert_true(d.intx);
	assert_int_equal(d.intx_gsi, INTX_GSI);
}

static void test_config_shadow(void **state)
{
	struct env *e = *state;
	unsigned reads = e->be.cfg_reads;
	/* The header is cvmm's: no device read for it. */
	assert_int_equal(cfg_rd(e, PCI_VENDOR_ID, 4), 0x10d38086);
	assert_int_equal(cfg_rd(e, PCI_CLASS_REVISION, 4), 0x02000003);
	assert_int_equal(cfg_rd(e, PCI_SUBSYSTEM_VENDOR_ID, 4), 0xa01f8086);
	assert_int_equal(cfg_rd(e, PCI_HEADER_TYPE, 1), 0); /* one function here */
	assert_int_equal(cfg_rd(e, PCI_ROM_ADDRESS, 4), 0);  /* no ROM */
	assert_int_equal(cfg_rd(e, PCI_CAPABILITY_LIST, 1), PM_CAP);
	assert_int_equal(e->be.cfg_reads, reads);
	/* BARs: cvmm's addresses and the device's kinds; sizing works. */
	assert_int_equal(cfg_rd(e, PCI_BASE_ADDRESS_0, 4), (uint32_t)bar_addr(e, 0));
	cfg_wr(e, PCI_COMMAND, 2, 0);
	unsigned writes = e->be.cfg_writes;
	cfg_wr(e, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	assert_int_equal(cfg_rd(e, PCI_BASE_ADDRESS_0, 4), 0xffffc000);
	cfg_wr(e, PCI_BASE_ADDRESS_2, 4, 0xffffffff);
	cfg_wr(e, PCI_BASE_ADDRESS_3, 4, 0xffffffff);
	assert_int_equal(cfg_rd(e, PCI_BASE_ADDRESS_2, 4), 0xfff0000c);
	assert_int_equal(cfg_rd(e, PCI_BASE_ADDRESS_3, 4), 0xffffffff);
	cfg_wr(e, PCI_BASE_ADDRESS_4, 4, 0xffffffff);
	assert_int_equal(cfg_rd(e, PCI_BASE_ADDRESS_4, 4), 0xffffffe1);
	cfg_wr(e, PCI_ROM_ADDRESS, 4, 0xffffffff);
	assert_int_equal(cfg_rd(e, PCI_ROM_ADDRESS, 4), 0);
	/* None of that reached the device; the command write did. */
	assert_int_equal(e->be.cfg_writes, writes);
	assert_int_equal(e->be.cfg_reads, reads);
}

static void test_config_passthrough(void **state)
{
	struct env *e = *state;
	/* The device changed its PM state and status on its own: the guest
	 * sees the device, not the shadow. */
	e->be.cfg[PM_CAP + 4] = 0x03;
	put16(&e->be.cfg[PCI_STATUS], PCI_STATUS_CAP_LIST | PCI_STATUS_INTERRUPT);
	unsigned reads = e->be.cfg_reads;
	assert_int_equal(cfg_rd(e, PM_CAP + 4, 2), 0x0003);
	assert_int_equal(cfg_rd(e, PCI_STATUS, 2), PCI_STATUS_CAP_LIST | PCI_STATUS_INTERRUPT);
	/* A dword of command (shadow) and status (device). */
	uint32_t cs = cfg_rd(e, PCI_COMMAND, 4);
	assert_int_equal(cs >> 16, PCI_STATUS_CAP_LIST | PCI_STATUS_INTERRUPT);
	assert_int_equal(cs & 0xffff, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	assert_int_equal(cfg_rd(e, EXT_CAP + 4, 4), 0x12345678);
	assert_int_equal(e->be.cfg_reads, reads + 4);
	/* Writes there go to the device as written (status: W1C is the
	 * device's business). */
	cfg_wr(e, PM_CAP + 4, 2, 0x8000);
	assert_int_equal(e->be.last_cfg_write_off, PM_CAP + 4);
	assert_int_equal(e->be.last_cfg_write_len, 2);
	assert_int_equal(e->be.cfg[PM_CAP + 5], 0x80);
	cfg_wr(e, PCI_STATUS, 2, PCI_STATUS_DETECTED_PARITY);
	assert_int_equal(e->be.last_cfg_write_off, PCI_STATUS);
	assert_int_equal(e->be.cfg[PCI_STATUS + 1], PCI_STATUS_DETECTED_PARITY >> 8);
	cfg_wr(e, EXT_CAP + 4, 4, 0xcafef00d);
	assert_int_equal(e->be.last_cfg_write_off, EXT_CAP + 4);
	/* The command register: the shadow decodes, the device gets it too. */
	cfg_wr(e, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
	       PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(e->be.last_cfg_write_off, PCI_COMMAND);
	assert_int_equal(e->be.cfg[PCI_COMMAND], PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	assert_int_equal(e->be.cfg[PCI_COMMAND + 1], PCI_COMMAND_INTX_DISABLE >> 8);
	assert_false(vfio_pci_device(e->d)->bars[4].mapped); /* I/O decoding off */
	/* A dword write of command + status: one device write of both. */
	unsigned writes = e->be.cfg_writes;
	cfg_wr(e, PCI_COMMAND, 4, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	assert_int_equal(e->be.cfg_writes, writes + 1);
	assert_int_equal(e->be.last_cfg_write_len, 4);
	/* The MSI-X and MSI capabilities are cvmm's: not written through. */
	writes = e->be.cfg_writes;
	cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_MASKALL);
	cfg_wr(e, MSI_CAP + PCI_MSI_ADDRESS_LO, 4, 0xfee00000);
	assert_int_equal(e->be.cfg_writes, writes);
	assert_int_equal(cfg_rd(e, MSIX_CAP + PCI_MSIX_FLAGS, 2),
			 PCI_MSIX_FLAGS_MASKALL | (MSIX_NVEC - 1));
	assert_int_equal(cfg_rd(e, MSIX_CAP + PCI_MSIX_TABLE, 4), MSIX_TABLE);

	struct vfio_pci_stats st;
	vfio_pci_get_stats(e->d, &st);
	assert_true(st.config_reads >= 5);
	assert_true(st.config_writes >= 7);
	assert_int_equal(st.errors, 0);
}

static void test_bars(void **state)
{
	struct env *e = *state;
	uint64_t b0 = bar_addr(e, 0), b2 = bar_addr(e, 2), b4 = bar_addr(e, 4);
	/* Trapped: the I/O BAR, and whatever of a memory BAR the guest
	 * reaches through an exit, at the same offset of the region. */
	uint8_t d[4] = { 0 };
	assert_true(bus_access(&e->pio, b4 + 0x10, d, 2, false));
	assert_int_equal(e->be.bar_acc.index, 4);
	assert_int_equal(e->be.bar_acc.off, 0x10);
	assert_int_equal(d[0], 0x50);
	mmio_wr(e, b2 + 0x90000, 4, 0xdeadbeef);
	assert_int_equal(e->be.bar_acc.index, 2);
	assert_int_equal(e->be.bar_acc.off, 0x90000);
	assert_true(e->be.bar_acc.write);
	assert_int_equal(e->be.bar_acc.val, 0xdeadbeef);
	/* The MSI-X table and PBA are cvmm's, not the device's. */
	unsigned n = e->be.bar_accesses;
	assert_int_equal(mmio_rd(e, b0 + MSIX_TABLE + 12, 4), 1); /* masked */
	mmio_wr(e, b0 + MSIX_TABLE, 4, 0xfee00000);
	assert_int_equal(mmio_rd(e, b0 + MSIX_PBA, 4), 0);
	assert_int_equal(e->be.bar_accesses, n);
	/* Past the table the guest sees it offered, still in its page:
	 * trapped, to the device. */
	mmio_rd(e, b0 + MSIX_TABLE + MSIX_NVEC * 16, 4);
	assert_int_equal(e->be.bar_accesses, n + 1);

	/* The guest moves BAR2: both its slots go, then come back there. */
	unsigned ev = e->slots.n;
	uint64_t nb2 = b2 + 0x1000000;
	cfg_wr(e, PCI_BASE_ADDRESS_2, 4, (uint32_t)nb2 | 0xc);
	assert_int_equal(e->slots.n, ev + 4);
	assert_false(e->slots.ev[ev].map);
	assert_false(e->slots.ev[ev + 1].map);
	assert_true(e->slots.ev[ev + 2].map && e->slots.ev[ev + 2].gpa == nb2);
	assert_true(e->slots.ev[ev + 3].map && e->slots.ev[ev + 3].gpa == nb2 + 0xc0000);
	assert_int_equal(e->slots.live, 3);
	struct vfio_pci_stats st;
	vfio_pci_get_stats(e->d, &st);
	assert_int_equal(st.bar_reads, 4);
	assert_int_equal(st.bar_writes, 2);
}

/* One MSI-X table entry written as Linux does. */
static void msix_entry(struct env *e, unsigned v, uint32_t addr, uint32_t data, bool masked)
{
	uint64_t t = bar_addr(e, 0) + MSIX_TABLE + v * 16;
	mmio_wr(e, t, 4, addr);
	mmio_wr(e, t + 4, 4, 0);
	mmio_wr(e, t + 8, 4, data);
	mmio_wr(e, t + 12, 4, masked);
}

static const struct kvm_irq_routing_entry *route(struct env *e, uint32_t gsi)
{
	for (unsigned i = 0; i < e->r.count; i++)
		if (e->r.entries[i].gsi == gsi && e->r.entries[i].type == KVM_IRQ_ROUTING_MSI)
			return &e->r.entries[i];
	fail();
	return NULL;
}

static void test_msix(void **state)
{
	struct env *e = *state;
	struct msix *m = vfio_pci_msix(e->d);
	assert_non_null(m);
	assert_int_equal(m->nvec, MSIX_NVEC);
	unsigned c = e->be.nirqs;
	/* Enable (function masked first, as Linux does): the whole table at
	 * the device in one call, no vector used yet (-1: none attached). */
	cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	assert_int_equal(e->be.nirqs, c + 2);
	assert_irq(irq_call(e, c), VFIO_PCI_INTX_IRQ_INDEX, 0, OFF);
	const struct irq_call *on = irq_call(e, c + 1);
	assert_irq(on, VFIO_PCI_MSIX_IRQ_INDEX, MSIX_NVEC, TRIGGER_EFD);
	for (unsigned v = 0; v < MSIX_NVEC; v++)
		assert_int_equal(on->fds[v], -1);
	struct vfio_pci_desc d;
	vfio_pci_describe(e->d, &d);
	assert_int_equal(d.irq, VFIO_PCI_IRQ_MSIX);
	assert_int_equal(d.vectors, MSIX_NVEC);
	/* Entries written and unmasked under the function mask: nothing
	 * made yet. Once it goes, each gets its eventfd (attached to that
	 * vector alone at the device), its route from the entry, and is
	 * bound. */
	msix_entry(e, 0, 0xfee01000, 0x4041, false);
	msix_entry(e, 5, 0xfee02000, 0x4045, false);
	assert_int_equal(m->vec[5].irqfd, -1);
	assert_int_equal(e->be.nirqs, c + 2);
	cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(e->be.nirqs, c + 4);
	assert_irq_at(irq_call(e, c + 2), VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, TRIGGER_EFD);
	assert_int_equal(irq_call(e, c + 2)->fds[0], m->vec[0].irqfd);
	assert_irq_at(irq_call(e, c + 3), VFIO_PCI_MSIX_IRQ_INDEX, 5, 1, TRIGGER_EFD);
	assert_int_equal(irq_call(e, c + 3)->fds[0], m->vec[5].irqfd);
	assert_int_equal(route(e, m->vec[5].gsi)->u.msi.address_lo, 0xfee02000);
	assert_int_equal(route(e, m->vec[5].gsi)->u.msi.data, 0x4045);
	assert_true(m->vec[0].routed && m->vec[5].routed);
	assert_false(m->vec[1].routed);
	assert_int_equal(m->vec[1].irqfd, -1);
	/* Routes follow the table. */
	msix_entry(e, 5, 0xfee03000, 0x4046, false);
	assert_int_equal(route(e, m->vec[5].gsi)->u.msi.address_lo, 0xfee03000);
	c = e->be.nirqs;
	/* Mask vector 5; the device fires it; PBA shows it; unmask. */
	mmio_wr(e, bar_addr(e, 0) + MSIX_TABLE + 5 * 16 + 12, 4, 1);
	assert_false(m->vec[5].routed);
	msix_notify(m, 5);
	assert_int_equal(mmio_rd(e, bar_addr(e, 0) + MSIX_PBA, 4), 1u << 5);
	mmio_wr(e, bar_addr(e, 0) + MSIX_TABLE + 5 * 16 + 12, 4, 0);
	assert_true(m->vec[5].routed);
	assert_int_equal(e->be.nirqs, c); /* masking is not the device's */
	struct vfio_pci_stats st;
	vfio_pci_get_stats(e->d, &st);
	assert_int_equal(st.vector_unmasks, 3);
	assert_int_equal(st.vector_masks, 1);
	/* Disable: MSI-X off at the device, INTx back. */
	c = e->be.nirqs;
	cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, 0);
	assert_int_equal(e->be.nirqs, c + 3);
	assert_irq(irq_call(e, c), VFIO_PCI_MSIX_IRQ_INDEX, 0, OFF);
	assert_irq(irq_call(e, c + 1), VFIO_PCI_INTX_IRQ_INDEX, 1, TRIGGER_EFD);
	assert_irq(irq_call(e, c + 2), VFIO_PCI_INTX_IRQ_INDEX, 1, UNMASK_EFD);
	assert_false(m->vec[0].routed || m->vec[5].routed);
	vfio_pci_describe(e->d, &d);
	assert_int_equal(d.irq, VFIO_PCI_IRQ_INTX);
}

/* A device with a NIC's table: 256 MSI-X vectors (its capability's size
 * and VFIO's count), the table filling BAR0's 0x2000 page. */
static struct vfio_pci_dev *create_nvec(struct env *e, unsigned qsize, unsigned count)
{
	put16(e->be.cfg + MSIX_CAP + PCI_MSIX_FLAGS, (uint16_t)(qsize - 1));
	e->be.msix_count = count;
	struct vfio_pci_params p = params(e);
	struct vfio_pci_dev *d = NULL;
	int ret = vfio_pci_create(&d, &p);
	if (ret)
		return NULL;
	e->d = d;
	e->slot = vfio_pci_device(d)->slot;
	return d;
}

static void test_msix_256(void **state)
{
	(void)state;
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	env_init(e);
	assert_non_null(create_nvec(e, BIG_NVEC, BIG_NVEC));
	struct msix *m = vfio_pci_msix(e->d);
	/* The guest sees all 256; no MSI-X route exists yet (MSI's 4 do),
	 * 256 are reserved. */
	assert_int_equal(cfg_rd(e, MSIX_CAP + PCI_MSIX_FLAGS, 2), BIG_NVEC - 1);
	assert_int_equal(m->nvec, BIG_NVEC);
	struct vfio_pci_desc d;
	vfio_pci_describe(e->d, &d);
	assert_int_equal(d.msix_vectors, BIG_NVEC);
	assert_int_equal(e->r.count, 39 + 4);
	assert_int_equal(e->r.reserved, BIG_NVEC);
	/* Enable: one SET_IRQS of 256, nothing attached. */
	unsigned c = e->be.nirqs;
	cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	assert_int_equal(e->be.nirqs, c + 2);
	const struct irq_call *on = irq_call(e, c + 1);
	assert_irq(on, VFIO_PCI_MSIX_IRQ_INDEX, BIG_NVEC, TRIGGER_EFD);
	for (unsigned v = 0; v < BIG_NVEC; v++)
		assert_int_equal(on->fds[v], -1);
	/* Vectors 200 and 255 set up and unmasked: each gets its eventfd at
	 * the device (its own SET_IRQS) and a route. */
	msix_entry(e, 200, 0xfee00000, 0x40c8, false);
	msix_entry(e, 255, 0xfee01000, 0x40ff, false);
	cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(e->be.nirqs, c + 4);
	assert_irq_at(irq_call(e, c + 2), VFIO_PCI_MSIX_IRQ_INDEX, 200, 1, TRIGGER_EFD);
	assert_int_equal(irq_call(e, c + 2)->fds[0], m->vec[200].irqfd);
	assert_irq_at(irq_call(e, c + 3), VFIO_PCI_MSIX_IRQ_INDEX, 255, 1, TRIGGER_EFD);
	assert_int_equal(route(e, m->vec[200].gsi)->u.msi.data, 0x40c8);
	assert_int_equal(route(e, m->vec[255].gsi)->u.msi.address_lo, 0xfee01000);
	assert_int_equal(e->r.count, 39 + 4 + 2);
	assert_true(m->vec[200].routed && m->vec[255].routed);
	/* Vector 200 masked, signalled by the device: PBA word 3, bit 8. */
	uint64_t pba = bar_addr(e, 0) + MSIX_PBA;
	mmio_wr(e, bar_addr(e, 0) + MSIX_TABLE + 200 * 16 + 12, 4, 1);
	assert_int_equal(msix_notify(m, 200), 0);
	assert_int_equal(mmio_rd(e, pba + 8 * 3, 4), 1u << 8);
	assert_int_equal(mmio_rd(e, pba, 4), 0);
	assert_int_equal(mmio_rd(e, pba + 8 * 3 + 4, 4), 0);
	mmio_wr(e, bar_addr(e, 0) + MSIX_TABLE + 200 * 16 + 12, 4, 0);
	assert_int_equal(mmio_rd(e, pba + 8 * 3, 4), 0);
	/* Off and on again: the one SET_IRQS of 256 now carries the two
	 * eventfds in their places. */
	cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, 0);
	c = e->be.nirqs;
	cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(e->be.nirqs, c + 2);
	on = irq_call(e, c + 1);
	assert_irq(on, VFIO_PCI_MSIX_IRQ_INDEX, BIG_NVEC, TRIGGER_EFD);
	for (unsigned v = 0; v < BIG_NVEC; v++)
		assert_int_equal(on->fds[v], v == 200 || v == 255 ? m->vec[v].irqfd : -1);
	vfio_pci_destroy(e->d);
	assert_int_equal(e->r.reserved, 0);
	assert_int_equal(e->r.count, 39); /* MSI's GSIs went back too (msi.c) */
	env_fini(e);
}

/* Fewer vectors than the device's table: what VFIO offers (a line at
 * info), what KVM's route table has room for (one warning), none (the
 * device fails, one error). */
static unsigned count_of(const char *text, const char *what)
{
	unsigned n = 0;
	for (const char *p = strstr(text, what); p; p = strstr(p + 1, what))
		n++;
	return n;
}

static void test_msix_fewer(void **state)
{
	(void)state;
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	env_init(e);
	struct log_capture cap;
	log_capture_start(&cap, LOG_INFO);
	assert_non_null(create_nvec(e, BIG_NVEC, 100));
	log_capture_stop(&cap); /* with the device's usual info lines */
	assert_int_equal(count_of(cap.text, "MSI-X vectors"), 1);
	assert_non_null(strstr(cap.text, "offering 100 of its 256 MSI-X vectors"));
	assert_int_equal(cfg_rd(e, MSIX_CAP + PCI_MSIX_FLAGS, 2), 99);
	vfio_pci_destroy(e->d);
	env_fini(e);

	e = calloc(1, sizeof(*e));
	assert_non_null(e);
	env_init(e);
	unsigned room = irq_router_msi_room(&e->r);
	assert_int_equal(irq_router_reserve_msi(&e->r, room - 4 - 50), room - 54);
	log_capture_start(&cap, LOG_WARN);
	assert_non_null(create_nvec(e, BIG_NVEC, BIG_NVEC));
	assert_int_equal(log_capture_stop(&cap), 1);
	assert_non_null(strstr(cap.text, "offering 50 of its 256 MSI-X vectors"));
	assert_int_equal(cfg_rd(e, MSIX_CAP + PCI_MSIX_FLAGS, 2), 49);
	assert_int_equal(vfio_pci_msix(e->d)->nvec, 50);
	vfio_pci_destroy(e->d);

	/* MSI takes its 4, then nothing is left for MSI-X: no device. (The
	 * last device's MSI GSIs went back with it: 50 + 4 are free.) */
	fake_be_init(&e->be);
	assert_int_equal(irq_router_msi_room(&e->r), 54);
	assert_int_equal(irq_router_reserve_msi(&e->r, 50), 50);
	log_capture_start(&cap, LOG_WARN);
	e->d = NULL;
	assert_null(create_nvec(e, BIG_NVEC, BIG_NVEC));
	assert_int_equal(log_capture_stop(&cap), 1);
	assert_non_null(strstr(cap.text, "route table is full"));
	assert_true(e->be.destroyed);
	assert_int_equal(e->r.reserved, room - 54 + 50); /* the test's own */
	env_fini(e);
}

static void test_msi(void **state)
{
	struct env *e = *state;
	struct msi *m = vfio_pci_msi(e->d);
	assert_non_null(m);
	assert_int_equal(m->max_vec, 4);
	unsigned c = e->be.nirqs;
	cfg_wr(e, MSI_CAP + PCI_MSI_ADDRESS_LO, 4, 0xfee00000);
	cfg_wr(e, MSI_CAP + PCI_MSI_ADDRESS_HI, 4, 0);
	cfg_wr(e, MSI_CAP + PCI_MSI_DATA_64, 2, 0x4030);
	assert_int_equal(e->be.nirqs, c);
	/* Enable with 2 of 4: INTx off, MSI with two eventfds. */
	cfg_wr(e, MSI_CAP + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE | (1 << 4));
	assert_int_equal(e->be.nirqs, c + 2);
	assert_irq(irq_call(e, c), VFIO_PCI_INTX_IRQ_INDEX, 0, OFF);
	assert_irq(irq_call(e, c + 1), VFIO_PCI_MSI_IRQ_INDEX, 2, TRIGGER_EFD);
	assert_int_equal(irq_call(e, c + 1)->fds[1], m->vec[1].fd);
	assert_true(m->vec[0].bound && m->vec[1].bound && !m->vec[2].bound);
	assert_int_equal(route(e, m->vec[1].gsi)->u.msi.data, 0x4031);
	/* Per-vector mask: vector 1 unbound; its pending bit from the device. */
	cfg_wr(e, MSI_CAP + PCI_MSI_MASK_64, 4, 0x2);
	assert_false(m->vec[1].bound);
	msi_notify(m, 1);
	assert_int_equal(cfg_rd(e, MSI_CAP + PCI_MSI_PENDING_64, 4), 0x2);
	/* Off: INTx back. */
	c = e->be.nirqs;
	cfg_wr(e, MSI_CAP + PCI_MSI_FLAGS, 2, 0);
	assert_irq(irq_call(e, c), VFIO_PCI_MSI_IRQ_INDEX, 0, OFF);
	assert_irq(irq_call(e, c + 1), VFIO_PCI_INTX_IRQ_INDEX, 1, TRIGGER_EFD);
}

static void test_machine_reset(void **state)
{
	struct env *e = *state;
	uint64_t b2 = bar_addr(e, 2);
	cfg_wr(e, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	cfg_wr(e, PCI_BASE_ADDRESS_2, 4, (uint32_t)(b2 + 0x2000000) | 0xc);
	cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	msix_entry(e, 2, 0xfee00000, 0x4022, false);
	struct msix *m = vfio_pci_msix(e->d);
	assert_true(m->vec[2].routed);
	unsigned c = e->be.nirqs, resets = e->be.resets;
	pci_bus_reset(&e->pb);
	/* MSI-X off at the device, the device reset, INTx back on. */
	assert_int_equal(e->be.resets, resets + 1);
	assert_irq(irq_call(e, c), VFIO_PCI_MSIX_IRQ_INDEX, 0, OFF);
	assert_irq(irq_call(e, c + 1), VFIO_PCI_INTX_IRQ_INDEX, 1, TRIGGER_EFD);
	assert_irq(irq_call(e, c + 2), VFIO_PCI_INTX_IRQ_INDEX, 1, UNMASK_EFD);
	/* The emulated state as built (no vector made); the device's
	 * command from it. */
	assert_false(m->vec[2].routed);
	assert_int_equal(m->vec[2].irqfd, -1);
	assert_int_equal(m->vec[2].ctrl, 1);
	assert_int_equal(bar_addr(e, 2), b2);
	assert_int_equal(cfg_rd(e, MSIX_CAP + PCI_MSIX_FLAGS, 2), MSIX_NVEC - 1);
	assert_int_equal(e->be.cfg[PCI_COMMAND], PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	assert_int_equal(e->slots.live, 3);
	struct vfio_pci_stats st;
	vfio_pci_get_stats(e->d, &st);
	assert_int_equal(st.resets, 1);
}

static void test_destroy_unwinds(void **state)
{
	struct env *e = *state;
	cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	unsigned c = e->be.nirqs;
	vfio_pci_destroy(e->d);
	e->d = NULL;
	assert_irq(irq_call(e, c), VFIO_PCI_MSIX_IRQ_INDEX, 0, OFF);
	assert_int_equal(e->slots.live, 0);
	assert_int_equal(e->be.nunmap, 2);
	assert_true(e->be.destroyed);
}

/* Creation that fails part-way: the backend goes, nothing on the bus. */
static void test_create_failures(void **state)
{
	(void)state;
	for (int what = 0; what < 3; what++) {
		struct env *e = calloc(1, sizeof(*e));
		assert_non_null(e);
		env_init(e);
		if (what == 0)
			e->be.dev_flags = 0;            /* not PCI */
		else if (what == 1)
			e->be.dma_fail = -ENOMEM;       /* DMA map refused */
		else
			e->be.cfg[PCI_HEADER_TYPE] = 1; /* a bridge */
		struct vfio_pci_params p = params(e);
		struct vfio_pci_dev *d = (void *)1;
		/* One line naming the device; the backend's own failure (the
		 * DMA map) is the backend's to log. */
		struct log_capture cap;
		log_capture_start(&cap, LOG_WARN);
		int ret = vfio_pci_create(&d, &p);
		unsigned lines = log_capture_stop(&cap);
		assert_int_equal(ret, what == 0 ? -ENODEV : what == 1 ? -ENOMEM : -ENOTSUP);
		assert_int_equal(lines, what == 1 ? 0 : 1);
		if (what != 1)
			assert_non_null(strstr(cap.text, "vfio 0000:01:00.0: "));
		assert_null(d);
		assert_true(e->be.destroyed);
		assert_null(e->pb.slots[1]);
		assert_int_equal(e->slots.live, 0);
		assert_int_equal(e->mmio.count, 1); /* ECAM only */
		env_fini(e);
	}
}

/* Without INTx (pin 0) and with BAR2 not mmap-able: all trapped. */
static void test_no_intx_no_mmap(void **state)
{
	(void)state;
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	env_init(e);
	e->be.cfg[PCI_INTERRUPT_PIN] = 0;
	e->be.mmap_fail_region = 2;
	struct vfio_pci_params p = params(e);
	p.id = NULL;
	assert_int_equal(vfio_pci_create(&e->d, &p), 0);
	e->slot = vfio_pci_device(e->d)->slot;
	assert_string_equal(vfio_pci_device(e->d)->name, "vfio 0000:01:00.0");
	assert_int_equal(e->be.nirqs, 0);
	assert_int_equal(cfg_rd(e, PCI_INTERRUPT_PIN, 1), 0);
	assert_int_equal(e->slots.live, 1);
	struct vfio_pci_desc d;
	vfio_pci_describe(e->d, &d);
	assert_int_equal(d.bars[1].mmap_bytes, 0);
	assert_false(d.intx);
	assert_int_equal(d.irq, VFIO_PCI_IRQ_NONE);
	mmio_rd(e, bar_addr(e, 2) + 0x10, 4);
	assert_int_equal(e->be.bar_acc.index, 2);
	/* MSI-X on and off: nothing to go back to. */
	cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, 0);
	assert_int_equal(e->be.nirqs, 2);
	assert_irq(irq_call(e, 0), VFIO_PCI_MSIX_IRQ_INDEX, MSIX_NVEC, TRIGGER_EFD);
	assert_irq(irq_call(e, 1), VFIO_PCI_MSIX_IRQ_INDEX, 0, OFF);
	void *s = e;
	teardown(&s);
}

/* A device that does not take the resample eventfd as INTx unmask: cvmm
 * unmasks after each EOI (the control loop's resample fd). Told by the
 * backend, or found out when the device refuses. */
static void test_intx_unmasked_by_cvmm(void **state)
{
	(void)state;
	for (int refuse = 0; refuse < 2; refuse++) {
		struct env *e = calloc(1, sizeof(*e));
		assert_non_null(e);
		env_init(e);
		if (refuse)
			e->be.refuse_unmask_fd = true;
		else
			e->be.be.unmask_eventfd = false;
		struct vfio_pci_params p = params(e);
		assert_int_equal(vfio_pci_create(&e->d, &p), 0);
		e->slot = vfio_pci_device(e->d)->slot;
		/* The trigger only. */
		assert_int_equal(e->be.nirqs, 1);
		assert_irq(irq_call(e, 0), VFIO_PCI_INTX_IRQ_INDEX, 1, TRIGGER_EFD);
		int fd = vfio_pci_intx_resample_fd(e->d);
		assert_true(fd >= 0);
		/* The guest's EOI: KVM signals the resample fd; cvmm unmasks. */
		uint64_t one = 1;
		assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
		vfio_pci_intx_resample(e->d);
		assert_int_equal(e->be.nirqs, 2);
		assert_irq(irq_call(e, 1), VFIO_PCI_INTX_IRQ_INDEX, 1,
			   VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK);
		/* Nothing to read: nothing sent. */
		vfio_pci_intx_resample(e->d);
		assert_int_equal(e->be.nirqs, 2);
		/* Not in INTx mode (MSI-X on): no unmask. */
		cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
		unsigned n = e->be.nirqs;
		assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
		vfio_pci_intx_resample(e->d);
		assert_int_equal(e->be.nirqs, n);
		/* Back to INTx: still the trigger only. */
		cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, 0);
		assert_int_equal(e->be.nirqs, n + 2);
		assert_irq(irq_call(e, n + 1), VFIO_PCI_INTX_IRQ_INDEX, 1, TRIGGER_EFD);
		struct vfio_pci_stats st;
		vfio_pci_get_stats(e->d, &st);
		assert_int_equal(st.intx_unmasks, 1);
		assert_int_equal(st.errors, refuse ? 1 : 0);
		/* The backend cannot count: INTx is what cvmm unmasked (the
		 * resample while MSI-X was on is none), MSI and MSI-X are not
		 * counted. */
		assert_true(st.irqs_counted[VFIO_PCI_INTX_IRQ_INDEX]);
		assert_int_equal(st.irqs[VFIO_PCI_INTX_IRQ_INDEX], 1);
		assert_false(st.irqs_counted[VFIO_PCI_MSI_IRQ_INDEX]);
		assert_false(st.irqs_counted[VFIO_PCI_MSIX_IRQ_INDEX]);
		/* Two EOIs coalesced in the eventfd: two interrupts. */
		uint64_t two = 2;
		assert_int_equal(write(fd, &two, sizeof(two)), sizeof(two));
		vfio_pci_intx_resample(e->d);
		vfio_pci_get_stats(e->d, &st);
		assert_int_equal(st.irqs[VFIO_PCI_INTX_IRQ_INDEX], 3);
		void *s = e;
		teardown(&s);
	}
	/* Kernel VFIO's way: no fd for the control loop. */
	struct env *e;
	void *s;
	setup(&s);
	e = s;
	assert_int_equal(vfio_pci_intx_resample_fd(e->d), -1);
	teardown(&s);
}

/*
 * A backend that counts (kernel VFIO's /proc/interrupts): every kind is
 * counted, and a kind's count survives its vectors going off (the host
 * forgets it then: the core keeps it) and on again, and a machine reset.
 */
static void test_irq_counts(void **state)
{
	(void)state;
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	env_init(e);
	e->be.be.ops = &fake_counting_ops;
	struct vfio_pci_params p = params(e);
	assert_int_equal(vfio_pci_create(&e->d, &p), 0);
	e->slot = vfio_pci_device(e->d)->slot;
	struct vfio_pci_stats st;
	const unsigned X = VFIO_PCI_INTX_IRQ_INDEX, M = VFIO_PCI_MSI_IRQ_INDEX,
		       MX = VFIO_PCI_MSIX_IRQ_INDEX;
#define EXPECT(intx, msi, msix) do { \
		vfio_pci_get_stats(e->d, &st); \
		for (unsigned k = 0; k < VFIO_PCI_IRQ_KINDS; k++) \
			assert_true(st.irqs_counted[k]); \
		assert_int_equal(st.irqs[X], intx); \
		assert_int_equal(st.irqs[M], msi); \
		assert_int_equal(st.irqs[MX], msix); \
	} while (0)
	/* INTx on since creation. */
	EXPECT(0, 0, 0);
	e->be.host_counts[X] = 7;
	EXPECT(7, 0, 0);
	/* MSI-X on: INTx's 7 kept, the host's INTx count gone. */
	cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(e->be.host_counts[X], 0);
	e->be.host_counts[MX] = 5;
	EXPECT(7, 0, 5);
	/* Off, INTx again, more of it; MSI-X's 5 kept. */
	cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, 0);
	e->be.host_counts[X] = 2;
	EXPECT(9, 0, 5);
	/* MSI with 1 vector, then MSI-X again: each adds to its own. */
	cfg_wr(e, MSI_CAP + PCI_MSI_ADDRESS_LO, 4, 0xfee00000);
	cfg_wr(e, MSI_CAP + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE);
	e->be.host_counts[M] = 4;
	EXPECT(9, 4, 5);
	cfg_wr(e, MSI_CAP + PCI_MSI_FLAGS, 2, 0);
	cfg_wr(e, MSIX_CAP + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	e->be.host_counts[MX] = 3;
	EXPECT(9, 4, 8);
	/* The host's counts cannot be read: nothing counted this time, and
	 * nothing lost after. */
	e->be.counts_fail = true;
	vfio_pci_get_stats(e->d, &st);
	for (unsigned k = 0; k < VFIO_PCI_IRQ_KINDS; k++)
		assert_false(st.irqs_counted[k]);
	e->be.counts_fail = false;
	EXPECT(9, 4, 8);
	/* A machine reset turns MSI-X off: its count stays. */
	pci_bus_reset(&e->pb);
	EXPECT(9, 4, 8);
#undef EXPECT
	void *s = e;
	teardown(&s);
}

static void test_areas_minus(void **state)
{
	(void)state;
	struct vfio_area out[8];
	/* One area, no holes: itself, rounded inwards to pages. */
	struct vfio_area a1[] = { { 0x800, 0x3000 } };
	assert_int_equal(vfio_pci_areas_minus(a1, 1, NULL, 0, out, 8), 1);
	assert_int_equal(out[0].offset, 0x1000);
	assert_int_equal(out[0].size, 0x2000);
	/* A hole in the middle, rounded outwards: two pieces. */
	struct vfio_area a2[] = { { 0, 0x10000 } };
	struct vfio_area h2[] = { { 0x4100, 0x80 }, { 0, 0 } };
	assert_int_equal(vfio_pci_areas_minus(a2, 1, h2, 2, out, 8), 2);
	assert_true(out[0].offset == 0 && out[0].size == 0x4000);
	assert_true(out[1].offset == 0x5000 && out[1].size == 0xb000);
	/* Holes at both ends and touching each other. */
	struct vfio_area h3[] = { { 0xf000, 0x1000 }, { 0, 0x10 }, { 0x1000, 0x800 } };
	assert_int_equal(vfio_pci_areas_minus(a2, 1, h3, 3, out, 8), 1);
	assert_true(out[0].offset == 0x2000 && out[0].size == 0xd000);
	/* A hole covering everything. */
	struct vfio_area h4[] = { { 0, 0x10000 } };
	assert_int_equal(vfio_pci_areas_minus(a2, 1, h4, 1, out, 8), 0);
	/* Several areas, more pieces than room: the count says so. */
	struct vfio_area a5[] = { { 0, 0x3000 }, { 0x8000, 0x3000 } };
	struct vfio_area h5[] = { { 0x1000, 1 }, { 0x9000, 1 } };
	assert_int_equal(vfio_pci_areas_minus(a5, 2, h5, 2, out, 3), 4);
	assert_true(out[0].offset == 0 && out[0].size == 0x1000);
	assert_true(out[1].offset == 0x2000 && out[1].size == 0x1000);
	assert_true(out[2].offset == 0x8000 && out[2].size == 0x1000);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_shadow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_passthrough, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bars, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix, setup, teardown),
		cmocka_unit_test(test_msix_256),
		cmocka_unit_test(test_msix_fewer),
		cmocka_unit_test_setup_teardown(test_msi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_machine_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_unwinds, setup, teardown),
		cmocka_unit_test(test_create_failures),
		cmocka_unit_test(test_no_intx_no_mmap),
		cmocka_unit_test(test_intx_unmasked_by_cvmm),
		cmocka_unit_test(test_irq_counts),
		cmocka_unit_test(test_areas_minus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
