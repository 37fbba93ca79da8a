/* SPDX-License-Identifier: MIT */
/*
 * timer: PIT channel 0 interrupts through IOAPIC pin 0, then the LAPIC timer
 * (periodic, then one-shot), each with a bounded wait.
 */
#include "runtime.h"

const char test_name[] = "timer";

static volatile u32 pit_ticks, lapic_ticks;

static void pit_irq(struct trap_frame *tf) { (void)tf; pit_ticks++; }
static void lapic_irq(struct trap_frame *tf) { (void)tf; lapic_ticks++; }

static bool wait_ticks(volatile u32 *counter, u32 n, u64 ms)
{
	u64 end = rdtsc() + ms_to_tsc(ms);
	while (READ_ONCE(*counter) < n && rdtsc() < end)
		cpu_relax();
	return READ_ONCE(*counter) >= n;
}

int test_main(struct boot_info *bi)
{
	(void)bi;
	pic_disable();
	lapic_init();
	ioapic_init();
	printf("timer: IOAPIC has %u pins\n", ioapic_max_pins());

	set_irq_handler(VEC_IRQ_BASE + 0, pit_irq);
	ioapic_route(0, VEC_IRQ_BASE + 0, lapic_id(), false);
	pit_start(1000);
	u64 t0 = rdtsc();
	sti();
	bool ok = wait_ticks(&pit_ticks, 10, 3000);
	cli();
	u64 dt = rdtsc() - t0;
	pit_stop();
	ioapic_mask(0, true);
	printf("timer: PIT %u ticks in %lu ms\n", pit_ticks, dt / tsc_khz);
	CHECK(3, ok, "PIT (IOAPIC pin 0): %u of 10 ticks within 3 s", pit_ticks);

	set_irq_handler(VEC_LAPIC_TIMER, lapic_irq);
	lapic_write(LAPIC_TIMER_DIV, 0x3); /* divide by 16 */
	lapic_write(LAPIC_LVT_TIMER, VEC_LAPIC_TIMER | (1u << 17)); /* periodic */
	lapic_write(LAPIC_TIMER_INIT, 62500);
	u32 cur = lapic_read(LAPIC_TIMER_CUR);
	t0 = rdtsc();
	sti();
	ok = wait_ticks(&lapic_ticks, 10, 3000);
	cli();
	dt = rdtsc() - t0;
	lapic_write(LAPIC_LVT_TIMER, 0x10000);
	lapic_write(LAPIC_TIMER_INIT, 0);
	printf("timer: LAPIC periodic %u ticks in %lu ms (current count read %u)\n", lapic_ticks,
	       dt / tsc_khz, cur);
	CHECK(4, ok, "LAPIC timer (periodic): %u of 10 ticks within 3 s", lapic_ticks);
	CHECK(5, cur <= 62500, "LAPIC current count %u above the initial count", cur);

	/* A periodic tick may still be pending (raised while IF was clear):
	 * let it in before counting one-shot interrupts. */
	sti();
	mdelay(10);
	cli();
	u32 before = lapic_ticks;
	lapic_write(LAPIC_LVT_TIMER, VEC_LAPIC_TIMER); /* one-shot */
	lapic_write(LAPIC_TIMER_INIT, 100000);
	sti();
	ok = wait_ticks(&lapic_ticks, before + 1, 3000);
	mdelay(20);
	cli();
	u32 got = lapic_ticks - before;
	lapic_write(LAPIC_TIMER_INIT, 0);
	printf("timer: LAPIC one-shot fired %u time(s)\n", got);
	CHECK(6, ok, "LAPIC timer (one-shot) did not fire within 3 s");
	CHECK(7, got == 1, "LAPIC one-shot timer fired %u times", got);
	return 0;
}
