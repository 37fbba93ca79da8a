/* SPDX-License-Identifier: MIT */
/*
 * MSI over an adopted capability (src/pci/msi.c): the capability as offered
 * (off, Multiple Message Capable lowered to what the device's interrupt
 * index has, only the guest's fields writable), routes per vector (data |
 * vector for multiple messages), the enable hook with the vector count,
 * irqfd binding following enable, count and mask bits, Pending Bits from
 * the eventfds, and reset. The device here is a pci_device off any bus;
 * config writes are applied through the write masks as the bus does. The
 * irq router runs without KVM.
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

#include "kvm/irq_router.h"
#include "pci/msi.h"
#include "pci/pci.h"

#define CAP 0x50

struct rec {
	unsigned calls;
	unsigned last;
};

static void on_enable(void *opaque, unsigned nvec)
{
	struct rec *r = opaque;
	r->calls++;
	r->last = nvec;
}

static const struct msi_hooks hooks = { .enable = on_enable };

/* A config write through the masks, then the hook, as pci.c does. */
static void cfg_write(struct msi *m, unsigned off, unsigned len, uint32_t val)
{
	struct pci_device *d = m->dev;
	for (unsigned i = 0; i < len; i++) {
		uint8_t v = (uint8_t)(val >> (8 * i));
		d->config[off + i] = (uint8_t)((d->config[off + i] & ~d->wmask[off + i]) |
					       (v & d->wmask[off + i]));
	}
	msi_config_write(m, off, len);
}

static uint32_t cfg_read(struct msi *m, unsigned off, unsigned len)
{
	uint8_t d[4];
	memcpy(d, &m->dev->config[off], len);
	msi_config_read(m, off, d, len);
	uint32_t v = 0;
	memcpy(&v, d, len);
	return v;
}

static const struct kvm_irq_routing_entry *route(struct irq_router *r, uint32_t gsi)
{
	for (unsigned i = 0; i < r->count; i++)
		if (r->entries[i].gsi == gsi && r->entries[i].type == KVM_IRQ_ROUTING_MSI)
			return &r->entries[i];
	fail();
	return NULL;
}

static bool readable(int fd)
{
	uint64_t n;
	return read(fd, &n, sizeof(n)) == sizeof(n);
}

static void test_msi_64bit_maskable(void **state)
{
	(void)state;
	struct irq_router r;
	assert_int_equal(irq_router_init(&r, NULL), 0);
	struct pci_device dev;
	pci_device_init(&dev, "pt", 0x8086, 0x1234, 0x020000, 0, 0, 0, NULL);
	/* 64-bit, maskable, 8 messages capable, enabled with 4 by the host,
	 * junk in the address. */
	uint8_t cap[24] = { PCI_CAP_ID_MSI, 0, 0x80 | 0x20 | 0x06 | 1, 0x01, 0x44, 0x33 };
	memcpy(&dev.config[CAP], cap, sizeof(cap));
	assert_int_equal(msi_cap_size(0x0180), 24);
	assert_int_equal(msi_cap_size(0x0100), 20);
	assert_int_equal(msi_cap_size(0x0080), 14);
	assert_int_equal(msi_cap_size(0), 10);
	struct msi m;
	struct rec rec = { 0 };
	assert_int_equal(msi_adopt(&m, &dev, &r, CAP + 4, 4, &hooks, &rec), -EINVAL);
	/* The device's MSI index offers 4: MMC lowered from 8 to 4. */
	assert_int_equal(msi_adopt(&m, &dev, &r, CAP, 4, &hooks, &rec), 0);
	assert_int_equal(m.max_vec, 4);
	assert_true(m.is64 && m.maskable);
	assert_int_equal(pci_cfg_read(&dev, CAP + PCI_MSI_FLAGS, 2), 0x0184);
	assert_int_equal(pci_cfg_read(&dev, CAP + PCI_MSI_ADDRESS_LO, 4), 0);
	/* Writable: enable + MME, address (low 2 bits 0), data, mask of 4. */
	assert_int_equal(dev.wmask[CAP + PCI_MSI_FLAGS], 0x71);
	assert_int_equal(dev.wmask[CAP + PCI_MSI_FLAGS + 1], 0);
	assert_int_equal(dev.wmask[CAP + PCI_MSI_ADDRESS_LO], 0xfc);
	assert_int_equal(dev.wmask[CAP + PCI_MSI_DATA_64 + 2], 0);
	assert_int_equal(dev.wmask[CAP + PCI_MSI_MASK_64], 0x0f);
	assert_int_equal(dev.wmask[CAP + PCI_MSI_PENDING_64], 0);
	for (unsigned v = 0; v < 4; v++)
		assert_true(m.vec[v].fd >= 0 && !m.vec[v].bound);
	assert_int_equal(m.vec[4].fd, -1);

	/* Linux: address, data, then enable with MME = 2 (4 vectors). */
	cfg_write(&m, CAP + PCI_MSI_ADDRESS_LO, 4, 0xfee0100f);
	cfg_write(&m, CAP + PCI_MSI_ADDRESS_HI, 4, 0);
	cfg_write(&m, CAP + PCI_MSI_DATA_64, 2, 0x4023);
	assert_int_equal(rec.calls, 0);
	cfg_write(&m, CAP + PCI_MSI_FLAGS, 2, 0x0021);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec.last, 4);
	assert_int_equal(m.enabled, 4);
	for (unsigned v = 0; v < 4; v++) {
		assert_true(m.vec[v].bound);
		const struct kvm_irq_routing_entry *e = route(&r, m.vec[v].gsi);
		assert_int_equal(e->u.msi.address_lo, 0xfee0100c);
		assert_int_equal(e->u.msi.data, 0x4020 | v);
	}
	assert_int_equal(atomic_load(&m.unmasks), 4);
	/* Mask vector 2: unbound; the device signals it: pending. */
	cfg_write(&m, CAP + PCI_MSI_MASK_64, 4, 0x4);
	assert_false(m.vec[2].bound);
	assert_true(m.vec[1].bound);
	assert_int_equal(msi_notify(&m, 2), 0);
	assert_int_equal(cfg_read(&m, CAP + PCI_MSI_PENDING_64, 4), 0x4);
	assert_int_equal(cfg_read(&m, CAP + PCI_MSI_PENDING_64, 1), 0x4);
	/* Unmasked: bound again (KVM takes what waits), no longer pending. */
	cfg_write(&m, CAP + PCI_MSI_MASK_64, 4, 0);
	assert_true(m.vec[2].bound);
	assert_int_equal(cfg_read(&m, CAP + PCI_MSI_PENDING_64, 4), 0);
	assert_true(readable(m.vec[2].fd));
	/* One vector instead of four: the device is told (off, then 1). */
	cfg_write(&m, CAP + PCI_MSI_FLAGS, 2, 0x0001);
	assert_int_equal(rec.calls, 3);
	assert_int_equal(rec.last, 1);
	assert_true(m.vec[0].bound);
	assert_false(m.vec[1].bound);
	assert_int_equal(route(&r, m.vec[0].gsi)->u.msi.data, 0x4023);
	/* More than offered (MME 5): what is offered. */
	cfg_write(&m, CAP + PCI_MSI_FLAGS, 2, 0x0051);
	assert_int_equal(rec.last, 4);
	/* Off. */
	cfg_write(&m, CAP + PCI_MSI_FLAGS, 2, 0);
	assert_int_equal(rec.last, 0);
	for (unsigned v = 0; v < 4; v++)
		assert_false(m.vec[v].bound);
	/* Writes elsewhere are not its business. */
	unsigned calls = rec.calls;
	msi_config_write(&m, 0x04, 2);
	assert_int_equal(rec.calls, calls);

	/* Reset (the bus restored config: off): unbound, nothing waits. */
	cfg_write(&m, CAP + PCI_MSI_FLAGS, 2, 0x0001);
	msi_notify(&m, 3);
	dev.config[CAP + PCI_MSI_FLAGS] = 0;
	msi_reset(&m);
	assert_int_equal(m.enabled, 0);
	assert_false(m.vec[0].bound);
	assert_false(readable(m.vec[3].fd));
	msi_destroy(&m);
	irq_router_destroy(&r);
}

static void test_msi_32bit_single(void **state)
{
	(void)state;
	struct irq_router r;
	assert_int_equal(irq_router_init(&r, NULL), 0);
	struct pci_device dev;
	pci_device_init(&dev, "pt", 0x8086, 0x1234, 0x020000, 0, 0, 0, NULL);
	uint8_t cap[10] = { PCI_CAP_ID_MSI, 0, 0x00 };
	memcpy(&dev.config[CAP], cap, sizeof(cap));
	struct msi m;
	assert_int_equal(msi_adopt(&m, &dev, &r, CAP, 1, NULL, NULL), 0);
	assert_int_equal(m.max_vec, 1);
	assert_false(m.is64 || m.maskable);
	/* Only 10 bytes: nothing past them is writable. */
	assert_int_equal(dev.wmask[CAP + 10], 0);
	cfg_write(&m, CAP + PCI_MSI_ADDRESS_LO, 4, 0xfee00000);
	cfg_write(&m, CAP + PCI_MSI_DATA_32, 2, 0x31);
	cfg_write(&m, CAP + PCI_MSI_FLAGS, 2, 0x0071); /* MME 7: clamped to 1 */
	assert_int_equal(m.enabled, 1);
	assert_true(m.vec[0].bound);
	assert_int_equal(route(&r, m.vec[0].gsi)->u.msi.data, 0x31);
	/* No Pending Bits without per-vector masking. */
	uint8_t d[4] = { 0xaa, 0xaa, 0xaa, 0xaa };
	msi_config_read(&m, CAP + 16, d, 4);
	assert_int_equal(d[0], 0xaa);
	assert_int_equal(msi_notify(&m, 1), -EINVAL);
	/* Destroyed (a hot-unplug): its route goes back to the router. */
	unsigned room = irq_router_msi_room(&r);
	msi_destroy(&m);
	assert_int_equal(irq_router_msi_room(&r), room + 1);
	irq_router_destroy(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msi_64bit_maskable),
		cmocka_unit_test(test_msi_32bit_single),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
