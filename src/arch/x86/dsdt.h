/* SPDX-License-Identifier: MIT */
/*
 * DSDT device objects for the x86 machine: the AML term list that
 * acpi_build() appends to the DSDT (struct acpi_config.dsdt_aml), so that
 * the guest finds the PCI host bridge and the legacy devices through ACPI
 * instead of probing for them.
 *
 *   Scope (\_SB) {
 *     Device (PCI0) {                       PCI Express host bridge (pci)
 *       _HID PNP0A08, _CID PNP0A03, _SEG 0, _UID 0, _BBN 0
 *       _CRS: WordBusNumber 0..ecam_end_bus, IO 0xCF8-0xCFF,
 *             WordIO 0x0000-0x0CF7 and 0x0D00-0xFFFF,
 *             DWordMemory for the 32-bit window,
 *             QWordMemory for the 64-bit window (when its size is not 0)
 *       _PRT: { slot << 16 | 0xFFFF, pin, Zero, GSI } for every slot with
 *             a GSI, pins INTA#..INTD# (see intx_gsi below)
 *     }
 *     Device (RES0) {                       motherboard resources (pci)
 *       _HID PNP0C02, _UID 0, _CRS: the ECAM window (consumer), so that
 *       Linux accepts the MCFG area as firmware-reserved
 *     }
 *     Device (COM1) { _HID PNP0501, _UID 1, _CRS IO 0x3F8/8, IRQNoFlags {4} }
 *     Device (PS2K) { _HID PNP0303, _CRS IO 0x60, IO 0x64, IRQNoFlags {1} }
 *     Device (PS2M) { _HID PNP0F13, _CRS IRQNoFlags {12} }
 *     Device (RTC)  { _HID PNP0B00, _CRS IO 0x70/2 }   (no IRQ 8 emulated)
 *     Device (PWRB) { _HID PNP0C0C, _UID 0 }   control-method power button
 *     Device (VRnn) {                       a virtio-mmio window (as QEMU's microvm)
 *       _HID "LNRO0005", _UID nn, _CCA One,
 *       _CRS: Memory32Fixed (ReadWrite, base, size),
 *             Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { gsi }
 *     }
 *     Device (GED_) {                       Generic Event Device (legacy/ged.h)
 *       _HID "ACPI0013", _UID 0,
 *       _CRS: Memory32Fixed (ReadWrite, ged_base, ged_size),
 *             Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive)
 *             { ged_gsi }
 *       OperationRegion (GREG, SystemMemory, ged_base, 4)
 *       Field (GREG, DWordAcc, NoLock, WriteAsZeros) { GEVT, 32 }
 *       Method (_EVT, 1, Serialized) {
 *         Local0 = GEVT; GEVT = Local0      read, acknowledge (W1C)
 *         If ((Local0 & 1) == 1) { Notify (\_SB.PWRB, 0x80) }
 *         If ((Local0 & 2) == 2) { \_SB.PCI0.PCNT () }    (pci_hotplug)
 *       }
 *     }
 *   }
 *
 * With pci_hotplug, PCI0 also holds (pci/hotplug.h has the registers):
 *
 *     OperationRegion (PCST, SystemMemory, hotplug_base, 16)
 *     Field (PCST, DWordAcc, NoLock, WriteAsZeros) { PCIU 32, PCID 32, B0EJ 32, PSEG 32 }
 *     Device (Snn) {                        nn = 01..1F (hex), slot nn
 *       Name (_ADR, nn << 16), Name (_SUN, nn)
 *       Method (_EJ0, 1) { PSEG = 0; B0EJ = 1 << nn }   (not in no_eject)
 *     }
 *     Method (PCNT, 0, Serialized) {
 *       Local0 = PCIU; Local1 = PCID          (both read-to-clear)
 *       If ((Local0 & (1 << nn)) == (1 << nn)) { Notify (Snn, 1) }   device check
 *       If ((Local1 & (1 << nn)) == (1 << nn)) { Notify (Snn, 3) }   eject request
 *       ... for every slot
 *     }
 *
 * Linux's acpiphp registers each Snn as a hotplug slot (_ADR and _EJ0:
 * "acpiphp: Slot [nn] registered"), scans a slot on a device check and,
 * on an eject request, removes the slot's devices and runs its _EJ0. A
 * slot in no_eject is no hotplug slot to it.
 *
 * With hotplug the VMM gives every slot 1-31 an INTx GSI (intx_gsi), the
 * slots empty at boot included, so that a device hot-plugged there has
 * its INTx routed ("PCI INT A: no GSI" otherwise); slots may share a GSI.
 *
 * A VM without a PCI bus (pci false: every virtio device on virtio-mmio,
 * as QEMU's microvm) has neither PCI0 nor RES0, and its PCI fields are not
 * looked at: the guest then has no host bridge to set up and no bus to
 * scan.
 *
 * The legacy devices are each optional (flags in the config). They sit
 * directly under \_SB (there is no LPC bridge device); the ports and IRQs
 * come from layout.h.
 *
 * PCI0 has no _ADR: a device object has either _HID or _ADR, not both
 * (ACPI 6.5, 6.1). No _OSC: Linux then keeps PCIe native services (hotplug,
 * AER, PME) off, which is what a VM without them wants. No _S5 either: the
 * FADT is hardware-reduced with no sleep control register, so there is no
 * way to enter S5 through it.
 */
#ifndef CVMM_ARCH_X86_DSDT_H
#define CVMM_ARCH_X86_DSDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DSDT_PCI_SLOTS 32
#define DSDT_VIRTIO_MMIO_MAX 16
/* Enough for any config (all 32 slots routed, every device, the hotplug
 * slots and methods): about 6 KiB. */
#define DSDT_AML_MAX 8192

struct dsdt_config {
	/* PCI0 and RES0; false: no PCI bus, the fields up to intx_gsi unused. */
	bool pci;
	/* PCIe ECAM of segment 0, buses 0..ecam_end_bus (also PCI0's buses). */
	uint64_t ecam_base; /* 1 MiB aligned */
	unsigned ecam_end_bus; /* 0..255 */

	/* 32-bit MMIO window for BARs: below 4 GiB, size > 0. */
	uint64_t mmio32_base, mmio32_size;
	/* 64-bit MMIO window; size 0: none. */
	uint64_t mmio64_base, mmio64_size;

	/*
	 * PCI INTx routing of bus 0: the GSI of each slot's INTA#, 0 for a
	 * slot without one. All four pins of a slot (INTA#..INTD#) are
	 * routed to that same GSI: the VMM wires one level-triggered line per
	 * slot (its devices only use INTA#), so there is no swizzle. The
	 * GSIs are I/O APIC inputs (Linux programs them level, active low).
	 */
	uint32_t intx_gsi[DSDT_PCI_SLOTS];

	/* Legacy devices to describe. */
	bool com1; /* 16550 at COM1_PORT, IRQ COM1_IRQ */
	bool ps2_keyboard; /* i8042 keyboard port: 0x60/0x64, IRQ 1 */
	bool ps2_mouse; /* i8042 aux port: IRQ 12 */
	bool rtc; /* CMOS RTC at RTC_PORT, no IRQ */

	/*
	 * The Generic Event Device and the power button it notifies: its
	 * registers [ged_base, ged_base + ged_size) below 4 GiB (size >= 4,
	 * EVENT at offset 0), its level-triggered, active-high GSI.
	 */
	bool ged;
	uint32_t ged_base, ged_size;
	uint32_t ged_gsi;

	/*
	 * ACPI PCI hotplug of bus 0 (pci/hotplug.h), with pci and ged: the
	 * controller's registers at hotplug_base (16 bytes, below 4 GiB),
	 * slot devices S01..S1F and PCNT under PCI0, and the GED's _EVT
	 * calling PCNT on GED_EVENT_PCI_HOTPLUG.
	 */
	bool pci_hotplug;
	uint32_t hotplug_base;
	/* Slots (bits 1-31) whose Snn has no _EJ0: a device that cannot be
	 * unplugged (the virtio-console). */
	uint32_t no_eject;

	/* virtio-mmio windows below 4 GiB, each with its level-triggered,
	 * active-high GSI. */
	struct dsdt_virtio_mmio {
		uint32_t base, size, gsi;
	} virtio_mmio[DSDT_VIRTIO_MMIO_MAX];
	unsigned nvirtio_mmio;
};

/*
 * Writes the term list into buf (cap bytes; DSDT_AML_MAX always does) and
 * its length into *len. Returns 0, -EINVAL (bad config) or -ENOSPC (buf
 * too small).
 */
int dsdt_build_devices(uint8_t *buf, size_t cap, size_t *len,
		       const struct dsdt_config *cfg);

#endif
