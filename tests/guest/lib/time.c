/* SPDX-License-Identifier: MIT */
/*
 * TSC-based delays, only used for upper bounds on waits (and the delays of
 * the INIT/SIPI sequence), so a rough frequency is good enough: CPUID 0x15,
 * 0x16 or the hypervisor timing leaf when present, else 3 GHz.
 */
#include "runtime.h"

u64 tsc_khz;

void tsc_init(void)
{
	u32 a, b, c, d;

	tsc_khz = 0;
	cpuid(0, 0, &a, &b, &c, &d);
	u32 max = a;
	if (max >= 0x15) {
		cpuid(0x15, 0, &a, &b, &c, &d);
		if (a && b && c)
			tsc_khz = (u64)c * b / a / 1000;
	}
	if (!tsc_khz && max >= 0x16) {
		cpuid(0x16, 0, &a, &b, &c, &d);
		if (a & 0xffff)
			tsc_khz = (u64)(a & 0xffff) * 1000;
	}
	if (!tsc_khz) {
		cpuid(0x40000000, 0, &a, &b, &c, &d);
		if (a >= 0x40000010 && a < 0x40000100) {
			cpuid(0x40000010, 0, &a, &b, &c, &d);
			tsc_khz = a;
		}
	}
	if (!tsc_khz || tsc_khz > 10000000)
		tsc_khz = 3000000;
}

u64 ms_to_tsc(u64 ms)
{
	return ms * (tsc_khz ? tsc_khz : 3000000);
}

void mdelay(u64 ms)
{
	u64 end = rdtsc() + ms_to_tsc(ms);
	while (rdtsc() < end)
		cpu_relax();
}

void udelay(u64 us)
{
	u64 end = rdtsc() + us * (tsc_khz ? tsc_khz : 3000000) / 1000;
	while (rdtsc() < end)
		cpu_relax();
}
