/* SPDX-License-Identifier: MIT */
/* Unit tests for the ACPI PCI hotplug controller (src/pci/hotplug.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86/layout.h"
#include "pci/hotplug.h"

/* A read of len bytes at off; the buffer starts as 0xa5 bytes so that
 * what the device wrote shows. */
static uint32_t rd(struct pci_hotplug *h, uint64_t off, uint32_t len)
{
	uint8_t b[8];
	memset(b, 0xa5, sizeof(b));
	pci_hotplug_mmio(h, off, b, len, false);
	uint32_t v = 0;
	for (uint32_t i = 0; i < len && i < 4; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void wr(struct pci_hotplug *h, uint64_t off, uint32_t v, uint32_t len)
{
	uint8_t b[8] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 24) };
	pci_hotplug_mmio(h, off, b, len, true);
}

/* The eventfd's count since the last call (0 when nothing came). */
static uint64_t efd_take(int efd)
{
	uint64_t v = 0;
	if (read(efd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static void test_up_down_read_to_clear(void **state)
{
	(void)state;
	struct pci_hotplug *h;
	assert_int_equal(pci_hotplug_create(&h, -1), 0);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PCIU, 4), 0);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PCID, 4), 0);
	assert_int_equal(pci_hotplug_announce_up(h, 3), 0);
	assert_int_equal(pci_hotplug_announce_up(h, 31), 0);
	assert_int_equal(pci_hotplug_announce_down(h, 7), 0);
	/* Each register clears on read, the other stays. */
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PCIU, 4), (1u << 3) | (1u << 31));
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PCIU, 4), 0);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PCID, 4), 1u << 7);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PCID, 4), 0);
	/* Down after up (before the guest looked): only down is pending. */
	assert_int_equal(pci_hotplug_announce_up(h, 4), 0);
	assert_int_equal(pci_hotplug_announce_down(h, 4), 0);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PCIU, 4), 0);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PCID, 4), 1u << 4);
	/* Writes to PCIU/PCID change nothing. */
	assert_int_equal(pci_hotplug_announce_up(h, 9), 0);
	wr(h, PCI_HOTPLUG_REG_PCIU, 0, 4);
	wr(h, PCI_HOTPLUG_REG_PCID, 0xffffffff, 4);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PCID, 4), 0);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PCIU, 4), 1u << 9);
	/* Slot 0 is the host bridge; there is no slot 32. */
	assert_int_equal(pci_hotplug_announce_up(h, 0), -EINVAL);
	assert_int_equal(pci_hotplug_announce_down(h, 32), -EINVAL);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PCIU, 4), 0);
	pci_hotplug_destroy(h);
}

static void test_eject_signals(void **state)
{
	(void)state;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(efd >= 0);
	struct pci_hotplug *h;
	assert_int_equal(pci_hotplug_create(&h, efd), 0);
	assert_int_equal(pci_hotplug_take_ejected(h), 0);
	assert_int_equal(efd_take(efd), 0);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_B0EJ, 4), 0);
	wr(h, PCI_HOTPLUG_REG_B0EJ, 1u << 5, 4);
	assert_int_equal(efd_take(efd), 1);
	wr(h, PCI_HOTPLUG_REG_B0EJ, (1u << 6) | 1u, 4); /* slot 0 cannot go */
	assert_int_equal(efd_take(efd), 1);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_B0EJ, 4), 0);
	assert_int_equal(pci_hotplug_take_ejected(h), (1u << 5) | (1u << 6));
	assert_int_equal(pci_hotplug_take_ejected(h), 0);
	/* Only slot 0, or nothing: no eject, no signal. */
	wr(h, PCI_HOTPLUG_REG_B0EJ, 1u, 4);
	wr(h, PCI_HOTPLUG_REG_B0EJ, 0, 4);
	assert_int_equal(efd_take(efd), 0);
	assert_int_equal(pci_hotplug_take_ejected(h), 0);
	/* A reset drops what the guest has not read; an eject it made stays
	 * for the VMM. */
	assert_int_equal(pci_hotplug_announce_up(h, 2), 0);
	assert_int_equal(pci_hotplug_announce_down(h, 3), 0);
	wr(h, PCI_HOTPLUG_REG_B0EJ, 1u << 8, 4);
	pci_hotplug_reset(h);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PCIU, 4), 0);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PCID, 4), 0);
	assert_int_equal(pci_hotplug_take_ejected(h), 1u << 8);
	pci_hotplug_destroy(h);
	close(efd);
}

static void test_bad_accesses(void **state)
{
	(void)state;
	struct pci_hotplug *h;
	assert_int_equal(pci_hotplug_create(&h, -1), 0);
	assert_int_equal(pci_hotplug_announce_up(h, 3), 0);
	/* Not 4 bytes, not aligned, past PSEG: read 0, no side effect. */
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PCIU, 2), 0);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PCIU, 1), 0);
	assert_int_equal(rd(h, 0x2, 4), 0);
	assert_int_equal(rd(h, 0x10, 4), 0);
	wr(h, PCI_HOTPLUG_REG_B0EJ, 0xffff, 2);
	wr(h, 0x9, 0xffffffff, 4);
	assert_int_equal(pci_hotplug_take_ejected(h), 0);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PCIU, 4), 1u << 3);
	/* PSEG: segment 0 only; reads 0 whatever was written. */
	wr(h, PCI_HOTPLUG_REG_PSEG, 0, 4);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PSEG, 4), 0);
	wr(h, PCI_HOTPLUG_REG_PSEG, 1, 4);
	assert_int_equal(rd(h, PCI_HOTPLUG_REG_PSEG, 4), 0);
	assert_int_equal(pci_hotplug_create(NULL, -1), -EINVAL);
	pci_hotplug_destroy(NULL);
	pci_hotplug_destroy(h);
}

/* The platform record names the register block for vm.info. */
static void test_describe(void **state)
{
	(void)state;
	struct pci_hotplug *h;
	assert_int_equal(pci_hotplug_create(&h, -1), 0);
	struct platform_info info = { 0 };
	pci_hotplug_platform_ops.describe(h, &info);
	assert_int_equal(info.nregions, 1);
	assert_string_equal(info.regions[0].name, "pci-hotplug");
	assert_true(info.regions[0].mmio);
	assert_int_equal(info.regions[0].addr, PCI_HOTPLUG_MMIO_ADDR);
	assert_int_equal(info.regions[0].size, PCI_HOTPLUG_MMIO_SIZE);
	pci_hotplug_platform_ops.destroy(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_up_down_read_to_clear),
		cmocka_unit_test(test_eject_signals),
		cmocka_unit_test(test_bad_accesses),
		cmocka_unit_test(test_describe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
