/* SPDX-License-Identifier: MIT */
/*
 * ACPI Generic Event Device (GED): how a hardware-reduced ACPI machine
 * (no SCI, no fixed-feature or GPE registers) signals platform events such
 * as a power button press (ACPI 6.5, 5.6.9 and 5.6.5: the GED's interrupt
 * makes the OS run the device's _EVT method, which reads the register below
 * and Notify()s the power button device). arch/x86/dsdt.c describes it as
 * \_SB.GED_ (_HID "ACPI0013") next to \_SB.PWRB (_HID PNP0C0C).
 *
 * Registers: a block of GED_MMIO_SIZE bytes at GED_MMIO_ADDR (layout.h);
 * register one range with ged_mmio:
 *
 *   0x0  EVENT  32 bits. Read: the pending events (no side effect).
 *               Write: each 1 bit acknowledges (clears) that event
 *               ("write 1 to clear", as ACPI's own status registers);
 *               0 bits leave events pending.
 *                 bit 0  GED_EVENT_POWER_BUTTON
 *                 bit 1  GED_EVENT_PCI_HOTPLUG (a slot of PCI bus 0
 *                        changed: _EVT runs \_SB.PCI0.PCNT, pci/hotplug.h)
 *   0x4-0xf     reserved: read 0, writes ignored.
 *
 * Only aligned 4-byte accesses to EVENT are accepted; any other access
 * (another size, another offset) is ignored, a read then returns 0, and a
 * rate-limited warning is logged.
 *
 * Interrupt: one level-triggered, active-high line (GED_GSI on the I/O
 * APIC), asserted exactly while EVENT is not 0. Level, not edge, so that
 * nothing is lost: an event raised while the guest still has the pin
 * masked (not set up yet) or while the VM is paused stays pending in the
 * I/O APIC and is delivered once the pin is unmasked or the vCPUs run
 * again; the guest's acknowledgement lowers the line.
 *
 * Thread safety: ged_raise (control loop) and ged_mmio (vCPU threads) take
 * the device lock, so the line always follows EVENT.
 */
#ifndef CVMM_LEGACY_GED_H
#define CVMM_LEGACY_GED_H

#include <stdbool.h>
#include <stdint.h>

#include "irq.h"
#include "platform.h"

#define GED_REG_EVENT 0x0
#define GED_EVENT_POWER_BUTTON (1u << 0)
#define GED_EVENT_PCI_HOTPLUG (1u << 1)
#define GED_EVENTS_ALL (GED_EVENT_POWER_BUTTON | GED_EVENT_PCI_HOTPLUG)

struct ged;

/* 0, -EINVAL or -ENOMEM. `line` drives the interrupt (level). */
int ged_create(struct ged **out, struct irq_line line);
void ged_destroy(struct ged *g);

/*
 * Latches `events` (GED_EVENT_* bits) and asserts the line: 0, or -EINVAL
 * for no or unknown bits. Any thread.
 */
int ged_raise(struct ged *g, uint32_t events);
/* The pending events (EVENT as the guest would read it). */
uint32_t ged_pending(struct ged *g);
/* Machine reset: no event pending, line low. */
void ged_reset(struct ged *g);

void ged_mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
	      bool is_write);

/* The platform record: GED_MMIO_ADDR, GED_GSI (arch/x86/layout.h). */
extern const struct platform_dev_ops ged_platform_ops;
int ged_platform_add(struct platform *p, const struct platform_ctx *c);

#endif
