/* SPDX-License-Identifier: MIT */
/*
 * A PCI bus on fake buses, for the unit tests that plug devices into one
 * (test_pci, test_msix, test_virtio_pci, test_virtio_core): a PIO and an
 * MMIO bus, the allocators of the three BAR windows, the pci_bus with
 * CF8/CFC and its ECAM window registered on the buses as vm.c places them,
 * an irq router without KVM (no ioctls, no ioeventfds; MSI-X vectors are
 * plain eventfds) and an INTx line that records what the device does with
 * it. Header-only (static inline): each test binary is one .c.
 *
 *	struct pci_fixture pf;
 *	pci_fixture_init(&pf, PFX_M64 | PFX_INTX_HOOK);
 *	... pci_bus_add_device(&pf.pb, dev, pci_fixture_intx(&pf)) ...
 *	pfx_cfg_read(&pf, slot, PCI_COMMAND, 2);
 *	pci_fixture_destroy(&pf);
 *
 * The set-up asserts (cmocka): a fixture that cannot be built fails the
 * test that asked for it.
 */
#ifndef CVMM_TESTS_UNIT_PCI_FIXTURE_H
#define CVMM_TESTS_UNIT_PCI_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "alloc.h"
#include "bus.h"
#include "kvm/irq_router.h"
#include "pci/pci.h"

/* The windows: vm.c's (arch/x86/layout.h), the 64-bit one at 16 GiB. */
#define PFX_PIO_BASE 0xc000ULL
#define PFX_PIO_SIZE 0x4000ULL
#define PFX_M32_BASE 0xc0000000ULL
#define PFX_M32_SIZE 0x20000000ULL
#define PFX_M64_BASE 0x400000000ULL
#define PFX_M64_SIZE (64ULL << 30)
#define PFX_ECAM_BASE 0xe0000000ULL
#define PFX_ECAM_SIZE 0x1000000ULL /* buses 0-15 */
/* The GSI of the recording INTx line. */
#define PFX_INTX_GSI 10
/* What a read finds in the bytes a handler leaves alone. */
#define PFX_POISON 0xee

/* pci_fixture_init's flags. */
enum {
	PFX_M64 = 1 << 0,       /* a 64-bit BAR window (else 64-bit BARs go below 4 GiB) */
	PFX_INTX_HOOK = 1 << 1, /* a device added without a line gets the recorder */
};

/* What the device did with its INTx line (atomic: device threads raise it). */
struct pfx_intx {
	_Atomic unsigned calls; /* every set, whatever the level */
	_Atomic uint32_t gsi;   /* the GSI of the last one */
	_Atomic int level;      /* the level it left */
};

struct pci_fixture {
	struct bus pio, mmio;
	struct addr_alloc pio_a, m32_a, m64_a;
	struct pci_bus pb;
	struct irq_router router;
	struct pfx_intx intx;
};

static inline void pfx_intx_set(void *opaque, uint32_t gsi, int level)
{
	struct pfx_intx *r = opaque;
	atomic_store(&r->gsi, gsi);
	atomic_store(&r->level, level);
	atomic_fetch_add(&r->calls, 1);
}

/* The recording INTx line, for pci_bus_add_device. */
static inline struct irq_line pci_fixture_intx(struct pci_fixture *pf)
{
	return (struct irq_line){ .set = pfx_intx_set, .opaque = &pf->intx, .gsi = PFX_INTX_GSI };
}

static inline struct irq_line pfx_intx_for_slot(void *opaque, unsigned slot)
{
	(void)slot;
	return pci_fixture_intx(opaque);
}

/*
 * Builds the buses, the windows (the 64-bit one with PFX_M64), the PCI bus
 * and the router into *pf (zeroed first). m64_a is initialised either way,
 * so that a test may hand it to a bus of its own.
 */
static inline void pci_fixture_init(struct pci_fixture *pf, unsigned flags)
{
	memset(pf, 0, sizeof(*pf));
	assert_int_equal(bus_init(&pf->pio, "pio"), 0);
	assert_int_equal(bus_init(&pf->mmio, "mmio"), 0);
	assert_int_equal(addr_alloc_init(&pf->pio_a, PFX_PIO_BASE, PFX_PIO_SIZE), 0);
	assert_int_equal(addr_alloc_init(&pf->m32_a, PFX_M32_BASE, PFX_M32_SIZE), 0);
	assert_int_equal(addr_alloc_init(&pf->m64_a, PFX_M64_BASE, PFX_M64_SIZE), 0);
	assert_int_equal(pci_bus_init(&pf->pb, &pf->pio, &pf->mmio, &pf->pio_a, &pf->m32_a,
				      flags & PFX_M64 ? &pf->m64_a : NULL, PFX_ECAM_BASE), 0);
	assert_int_equal(bus_register(&pf->pio, 0xcf8, 4, pci_cf8_io, &pf->pb, "cf8"), 0);
	assert_int_equal(bus_register(&pf->pio, 0xcfc, 4, pci_cfc_io, &pf->pb, "cfc"), 0);
	assert_int_equal(bus_register(&pf->mmio, PFX_ECAM_BASE, PFX_ECAM_SIZE, pci_ecam_io,
				      &pf->pb, "ecam"), 0);
	assert_int_equal(irq_router_init(&pf->router, NULL), 0);
	if (flags & PFX_INTX_HOOK) {
		pf->pb.intx_for_slot = pfx_intx_for_slot;
		pf->pb.intx_opaque = pf;
	}
}

/* Call after the devices on the bus are gone. */
static inline void pci_fixture_destroy(struct pci_fixture *pf)
{
	pci_bus_destroy(&pf->pb);
	irq_router_destroy(&pf->router);
	bus_destroy(&pf->pio);
	bus_destroy(&pf->mmio);
	addr_alloc_destroy(&pf->pio_a);
	addr_alloc_destroy(&pf->m32_a);
	addr_alloc_destroy(&pf->m64_a);
}

/* ---- accesses, little-endian, as a guest makes them ---- */

/* One access of `len` (1-8) bytes on `b`; true when a device claimed it. */
static inline bool pfx_bus_probe(struct bus *b, uint64_t addr, unsigned len, bool is_write,
				 uint64_t *val)
{
	uint8_t d[8];
	memset(d, PFX_POISON, sizeof(d));
	if (is_write) {
		for (unsigned i = 0; i < len; i++)
			d[i] = (uint8_t)(*val >> (8 * i));
	}
	bool hit = bus_access(b, addr, d, len, is_write);
	if (!is_write) {
		*val = 0;
		for (unsigned i = 0; i < len; i++)
			*val |= (uint64_t)d[i] << (8 * i);
	}
	return hit;
}

/* A read of something that must be there. */
static inline uint64_t pfx_bus_read(struct bus *b, uint64_t addr, unsigned len)
{
	uint64_t v;
	assert_true(pfx_bus_probe(b, addr, len, false, &v));
	return v;
}

static inline void pfx_bus_write(struct bus *b, uint64_t addr, unsigned len, uint64_t val)
{
	assert_true(pfx_bus_probe(b, addr, len, true, &val));
}

static inline uint64_t pfx_mmio_read(struct pci_fixture *pf, uint64_t addr, unsigned len)
{
	return pfx_bus_read(&pf->mmio, addr, len);
}

static inline void pfx_mmio_write(struct pci_fixture *pf, uint64_t addr, unsigned len,
				  uint64_t val)
{
	pfx_bus_write(&pf->mmio, addr, len, val);
}

static inline uint32_t pfx_pio_read(struct pci_fixture *pf, uint64_t port, unsigned len)
{
	return (uint32_t)pfx_bus_read(&pf->pio, port, len);
}

static inline void pfx_pio_write(struct pci_fixture *pf, uint64_t port, unsigned len,
				 uint32_t val)
{
	pfx_bus_write(&pf->pio, port, len, val);
}

/* ---- configuration space of bus 0, function 0 ---- */

/* Straight to the bus (pci_config_access), no address latch. */
static inline uint32_t pfx_cfg_read(struct pci_fixture *pf, unsigned slot, unsigned reg,
				    unsigned len)
{
	uint8_t d[4];
	memset(d, PFX_POISON, sizeof(d));
	pci_config_access(&pf->pb, slot, 0, reg, d, len, false);
	uint32_t v = 0;
	for (unsigned i = 0; i < len && i < 4; i++)
		v |= (uint32_t)d[i] << (8 * i);
	return v;
}

static inline void pfx_cfg_write(struct pci_fixture *pf, unsigned slot, unsigned reg,
				 unsigned len, uint32_t val)
{
	uint8_t d[4];
	for (unsigned i = 0; i < 4; i++)
		d[i] = (uint8_t)(val >> (8 * i));
	pci_config_access(&pf->pb, slot, 0, reg, d, len, true);
}

/* CONFIG_ADDRESS for bus/slot/function/register. */
static inline uint32_t pfx_cf8_addr(unsigned bus, unsigned slot, unsigned fn, unsigned reg)
{
	return 0x80000000u | bus << 16 | slot << 11 | fn << 8 | (reg & 0xfc);
}

/* The whole dance through the ports: CONFIG_ADDRESS, then CFC + (reg & 3). */
static inline uint32_t pfx_cf8_read(struct pci_fixture *pf, unsigned slot, unsigned reg,
				    unsigned len)
{
	pfx_pio_write(pf, 0xcf8, 4, pfx_cf8_addr(0, slot, 0, reg));
	return pfx_pio_read(pf, 0xcfc + (reg & 3), len);
}

static inline void pfx_cf8_write(struct pci_fixture *pf, unsigned slot, unsigned reg,
				 unsigned len, uint32_t val)
{
	pfx_pio_write(pf, 0xcf8, 4, pfx_cf8_addr(0, slot, 0, reg));
	pfx_pio_write(pf, 0xcfc + (reg & 3), len, val);
}

#endif
