/* SPDX-License-Identifier: MIT */
/*
 * AP bring-up: the 16-bit trampoline (lib/head.S) is copied to
 * AP_TRAMPOLINE_ADDR and each AP is started in turn with INIT, SIPI (and a
 * second SIPI if it has not checked in). An AP loads the kernel page tables,
 * gets the stack the BSP set in ap_stack_top, and checks in.
 */
#include "runtime.h"

extern char ap_tramp_start[], ap_tramp_end[];
volatile u32 cpus_online = 1;
u64 ap_stack_top;
static u8 ap_stacks[MAX_CPUS][8192] __aligned(16);

void ap_main(void);
void ap_main(void)
{
	idt_load();
	lapic_init();
	u32 id = lapic_id();
	u32 n = atomic_inc_return(&cpus_online);
	printf("smp: AP apic id %u online (%u CPUs up)\n", id, n);
	for (;;) {
		cli();
		hlt();
	}
}

static bool wait_online(u32 before, u64 ms)
{
	u64 end = rdtsc() + ms_to_tsc(ms);
	while (rdtsc() < end) {
		if (READ_ONCE(cpus_online) > before)
			return true;
		cpu_relax();
	}
	return READ_ONCE(cpus_online) > before;
}

u32 smp_boot_aps(const struct madt_info *mi)
{
	u32 self = lapic_id();
	u32 slot = 1;

	lapic_init();
	memcpy((void *)AP_TRAMPOLINE_ADDR, ap_tramp_start, ap_tramp_end - ap_tramp_start);
	for (u32 i = 0; i < mi->nr_cpus; i++) {
		u32 id = mi->apic_ids[i];
		if (id == self)
			continue;
		if (slot >= MAX_CPUS)
			break;
		ap_stack_top = (u64)ap_stacks[slot++] + sizeof(ap_stacks[0]);
		mb();
		u32 before = READ_ONCE(cpus_online);
		u32 sipi = 0x4600 | (AP_TRAMPOLINE_ADDR >> 12);
		if (lapic_send_ipi(id, 0x4500)) /* INIT, level assert */
			printf("smp: INIT to apic id %u stuck pending\n", id);
		mdelay(10);
		lapic_send_ipi(id, sipi);
		if (!wait_online(before, 200)) {
			lapic_send_ipi(id, sipi);
			if (!wait_online(before, 2000))
				printf("smp: AP apic id %u did not check in\n", id);
		}
	}
	return READ_ONCE(cpus_online);
}

/* ---- POSIX cksum(1) CRC ---- */
u32 posix_cksum(const void *data, u64 len)
{
	static u32 table[256];
	if (!table[1]) {
		for (u32 i = 0; i < 256; i++) {
			u32 c = i << 24;
			for (int k = 0; k < 8; k++)
				c = (c & 0x80000000u) ? (c << 1) ^ 0x04c11db7u : c << 1;
			table[i] = c;
		}
	}
	const u8 *p = data;
	u32 crc = 0;
	for (u64 i = 0; i < len; i++)
		crc = (crc << 8) ^ table[(crc >> 24) ^ p[i]];
	for (u64 n = len; n; n >>= 8)
		crc = (crc << 8) ^ table[(crc >> 24) ^ (u8)n];
	return ~crc;
}
