/* SPDX-License-Identifier: MIT */
/*
 * power_button: takes an ACPI power button press the way an OS on a
 * hardware-reduced ACPI machine does, without an AML interpreter:
 *
 *   1. RSDP -> XSDT -> FADT (HW_REDUCED_ACPI set, PWR_BUTTON = 1: the
 *      button is a control-method device) -> DSDT;
 *   2. in the DSDT, the Device whose _HID is "ACPI0013" (the Generic Event
 *      Device) with an _EVT method, and a PNP0C0C power button device;
 *   3. the GED's _CRS resource template decoded: the Extended Interrupt
 *      descriptor (0x89) gives the GSI, its trigger mode and polarity, and
 *      must be all there is (Linux's acpi-ged driver fails its probe on any
 *      other descriptor); the GED's SystemMemory OperationRegion gives the
 *      EVENT register that _EVT reads and acknowledges;
 *   4. the I/O APIC redirection entry of that GSI programmed as described
 *      (vector 0x30 + GSI, to this CPU), LAPIC enabled;
 *   5. "power_button: ready" on the serial port, then hlt until the
 *      interrupt comes. The handler reads EVENT, acknowledges it (writes
 *      the bits back: write 1 to clear) as _EVT would, and counts a press
 *      when bit 0 was set. The main loop only looks at what the handler
 *      counted: a press that is only visible by polling EVENT fails.
 *
 * Then "power button pressed (N GED interrupts)" and PASS (exit 0).
 *
 * Command line:
 *   wait_ms=N        how long to wait for the press (default 30000); the
 *                    hlt loop is woken by a LAPIC timer to check the time
 *   setup_delay_ms=N before setting up the interrupt, print
 *                    "power_button: setting up in N ms" and spin that long
 *                    with the pin masked and interrupts off; then report
 *                    whether EVENT already showed a press
 *   expect_early=1   fail unless a press was already pending then (the
 *                    harness pressed during the delay: the event must
 *                    latch and be delivered once the pin is unmasked)
 *   expect_none=1    discovery only: wait wait_ms, and fail if a press or
 *                    any GED interrupt comes (nobody presses)
 */
#include "runtime.h"

const char test_name[] = "power_button";

#define FADT_FLAG_PWR_BUTTON (1u << 4)
#define FADT_FLAG_HW_REDUCED (1u << 20)
#define LAPIC_100MS 6250000 /* divide by 16 at KVM's 1 GHz APIC bus */

struct ged_info {
	u64 base; /* EVENT register (the OperationRegion's offset) */
	u32 len;
	u32 gsi;
	bool level;
	bool active_low;
};

static u64 event_reg;
static volatile u32 ged_irqs, presses, empty_irqs, timer_ticks;

static void ged_irq(struct trap_frame *tf)
{
	(void)tf;
	ged_irqs++;
	u32 ev = mmio_read32(event_reg);
	if (ev)
		mmio_write32(event_reg, ev); /* acknowledge: the line goes down */
	if (ev & 1)
		presses++;
	else
		empty_irqs++; /* a repeat of a level interrupt already taken */
}

static void timer_irq(struct trap_frame *tf)
{
	(void)tf;
	timer_ticks++;
}

static u32 rd32u(const u8 *p)
{
	u32 v;
	memcpy(&v, p, 4);
	return v;
}

/* Decodes the _CRS ResourceTemplate (a Buffer) in [dev, dev_end). */
static void decode_crs(const u8 *dev, const u8 *dev_end, struct ged_info *gi)
{
	const u8 *d, *bend, *body;
	const char *why = aml_crs(dev, dev_end, &d, &bend);
	CHECK(10, !why, "the ACPI0013 device: %s", why);
	bool irq = false;
	u8 tag;
	u32 dlen;
	int r;
	while ((r = aml_res_next(&d, bend, &tag, &body, &dlen)) > 0) {
		if (tag == AML_RES_EXT_INTERRUPT) {
			CHECK(17, dlen >= 6 && body[1] >= 1, "Extended Interrupt length %u, %u GSIs",
			      dlen, body[1]);
			u8 flags = body[0];
			gi->level = !(flags & 2);
			gi->active_low = flags & 4;
			gi->gsi = rd32u(body + 2);
			irq = true;
		} else {
			CHECK(16, false, "the GED _CRS holds descriptor 0x%x: Linux's acpi-ged "
			      "accepts interrupts only", tag);
		}
	}
	CHECK(15, r == 0, "malformed descriptor in the GED _CRS");
	CHECK(18, irq, "_CRS lacks an Extended Interrupt");
}

/*
 * The GED's register block: OperationRegion (ExtOp 0x5B 0x80, NameSeg,
 * space 0 = SystemMemory, offset, length) inside the device.
 */
static void decode_opregion(const u8 *dev, const u8 *dev_end, struct ged_info *gi)
{
	static const u8 opreg[] = { 0x5b, 0x80 };
	const u8 *p = mem_find(dev, dev_end, opreg, sizeof(opreg));
	CHECK(19, p && p + 7 <= dev_end && p[6] == 0x00,
	      "the GED has no SystemMemory OperationRegion");
	u32 off, on, len, ln;
	CHECK(19, aml_int(p + 7, dev_end, &off, &on) &&
		  aml_int(p + 7 + on, dev_end, &len, &ln) && len >= 4,
	      "the GED OperationRegion's offset and length are not integers (>= 4)");
	gi->base = off;
	gi->len = len;
}

static void find_ged(const struct boot_info *bi, struct ged_info *gi)
{
	u64 rsdp;
	CHECK(5, acpi_find_rsdp(bi, &rsdp) == 0, "no RSDP");
	const u8 *fadt = acpi_find_table(rsdp, "FACP");
	CHECK(6, fadt, "no FADT");
	u32 flags = rd32u(fadt + 112);
	CHECK(7, (flags & FADT_FLAG_HW_REDUCED) && (flags & FADT_FLAG_PWR_BUTTON),
	      "FADT flags 0x%x: want HW_REDUCED_ACPI and PWR_BUTTON (control method)", flags);
	const u8 *aml, *aml_end;
	CHECK(8, acpi_find_dsdt(rsdp, &aml, &aml_end) == 0, "no valid DSDT");

	static const u8 ged_hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I',
				      '0', '0', '1', '3', 0x00 };
	const u8 *h = mem_find(aml, aml_end, ged_hid, sizeof(ged_hid));
	CHECK(9, h, "no device with _HID \"ACPI0013\" (GED) in the DSDT");
	const u8 *dev = NULL, *dev_end = NULL;
	CHECK(9, aml_enclosing_device(aml, aml_end, h, &dev, &dev_end),
	      "the ACPI0013 _HID is not inside a Device");
	static const u8 evt[] = { 0x14 };
	bool has_evt = false;
	for (const u8 *p = dev; (p = mem_find(p, dev_end, evt, 1)) != NULL; p++) {
		u32 n, len = aml_pkglen(p + 1, (u32)(dev_end - p - 1), &n);
		if (len > n + 5 && !memcmp(p + 1 + n, "_EVT", 4) && (p[1 + n + 4] & 7) == 1) {
			has_evt = true;
			break;
		}
	}
	CHECK(20, has_evt, "the GED has no Method (_EVT, 1)");
	static const u8 pwrb_hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0c, 0x0c };
	CHECK(21, mem_find(aml, aml_end, pwrb_hid, sizeof(pwrb_hid)),
	      "no power button device (_HID PNP0C0C) in the DSDT");
	decode_crs(dev, dev_end, gi);
	decode_opregion(dev, dev_end, gi);
}

int test_main(struct boot_info *bi)
{
	u64 wait_ms = 30000, setup_delay = 0, expect_early = 0, expect_none = 0;
	cmdline_get_u64(bi->cmdline, "wait_ms", &wait_ms);
	cmdline_get_u64(bi->cmdline, "setup_delay_ms", &setup_delay);
	cmdline_get_u64(bi->cmdline, "expect_early", &expect_early);
	cmdline_get_u64(bi->cmdline, "expect_none", &expect_none);

	pic_disable();
	lapic_init();
	ioapic_init(); /* every pin masked */

	struct ged_info gi = { 0 };
	find_ged(bi, &gi);
	event_reg = gi.base;
	printf("power_button: GED at 0x%lx (%u bytes), GSI %u %s, active %s\n", gi.base,
	       gi.len, gi.gsi, gi.level ? "level" : "edge", gi.active_low ? "low" : "high");
	CHECK(22, gi.gsi < ioapic_max_pins(), "GSI %u beyond the I/O APIC's %u pins", gi.gsi,
	      ioapic_max_pins());

	if (setup_delay) {
		printf("power_button: setting up in %lu ms\n", setup_delay);
		mdelay(setup_delay);
		u32 ev = mmio_read32(event_reg);
		printf("power_button: event pending before setup: %s (EVENT 0x%x)\n",
		       ev & 1 ? "yes" : "no", ev);
		CHECK(23, !expect_early || (ev & 1),
		      "no press latched during the setup delay (EVENT 0x%x)", ev);
	}

	u8 vector = (u8)(VEC_IRQ_BASE + gi.gsi);
	set_irq_handler(vector, ged_irq);
	set_irq_handler(VEC_LAPIC_TIMER, timer_irq);
	ioapic_write(0x11 + 2 * gi.gsi, lapic_id() << 24);
	ioapic_write(0x10 + 2 * gi.gsi, vector | (gi.level ? 1u << 15 : 0) |
					   (gi.active_low ? 1u << 13 : 0));
	/* A tick every 100 ms, only to bound the wait. */
	lapic_write(LAPIC_TIMER_DIV, 0x3);
	lapic_write(LAPIC_LVT_TIMER, VEC_LAPIC_TIMER | (1u << 17));
	lapic_write(LAPIC_TIMER_INIT, LAPIC_100MS);
	printf("power_button: ready, waiting up to %lu ms for the power button\n", wait_ms);

	u64 end = rdtsc() + ms_to_tsc(wait_ms);
	while (!READ_ONCE(presses) && rdtsc() < end)
		__asm__ __volatile__("sti; hlt; cli" ::: "memory");
	lapic_write(LAPIC_LVT_TIMER, 0x10000);
	lapic_write(LAPIC_TIMER_INIT, 0);

	if (expect_none) {
		CHECK(24, !presses && !ged_irqs, "%u presses, %u GED interrupts, nobody pressed",
		      presses, ged_irqs);
		printf("power_button: no press, no GED interrupt in %lu ms (%u ticks)\n", wait_ms,
		       timer_ticks);
		return 0;
	}
	if (!presses) {
		u32 ev = mmio_read32(event_reg);
		if (ev & 1)
			fail(25, "a press is pending (EVENT 0x%x) but no interrupt came on GSI %u "
				 "(%u GED interrupts)", ev, gi.gsi, ged_irqs);
		fail(26, "no power button press within %lu ms (%u GED interrupts)", wait_ms,
		     ged_irqs);
	}
	u32 ev = mmio_read32(event_reg);
	CHECK(27, !(ev & 1), "EVENT still 0x%x after the acknowledgement", ev);
	printf("power button pressed (%u GED interrupts, %u without an event)\n", ged_irqs,
	       empty_irqs);
	return 0;
}
