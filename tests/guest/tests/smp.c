/* SPDX-License-Identifier: MIT */
/*
 * smp: the MADT and the MP table must list cpus=N processors, and every AP
 * must come up through INIT/SIPI and check in.
 */
#include "runtime.h"

const char test_name[] = "smp";

int test_main(struct boot_info *bi)
{
	u64 want;
	struct madt_info mi;

	CHECK(3, cmdline_get_u64(bi->cmdline, "cpus", &want), "no cpus=N on the command line");
	CHECK(4, acpi_parse_madt(bi, &mi) == 0, "cannot read the MADT");
	printf("smp: MADT lists %u CPUs, %u IOAPIC(s) (first at %lx, GSI base %u), LAPIC %lx\n",
	       mi.nr_cpus, mi.nr_ioapics, mi.ioapic_addr, mi.ioapic_gsi_base, mi.lapic_addr);
	CHECK(5, mi.nr_cpus == want, "MADT lists %u CPUs, expected %lu", mi.nr_cpus, want);
	u32 self = lapic_id();
	bool self_listed = false;
	for (u32 i = 0; i < mi.nr_cpus; i++) {
		if (mi.apic_ids[i] == self)
			self_listed = true;
		for (u32 j = 0; j < i; j++)
			CHECK(6, mi.apic_ids[i] != mi.apic_ids[j], "APIC id %u listed twice",
			      mi.apic_ids[i]);
	}
	CHECK(7, self_listed, "the BSP's APIC id %u is not in the MADT", self);
	CHECK(8, mi.nr_ioapics == 1 && mi.ioapic_addr == IOAPIC_BASE && mi.ioapic_gsi_base == 0,
	      "expected one IOAPIC at %lx with GSI base 0", IOAPIC_BASE);
	CHECK(9, mi.lapic_addr == LAPIC_BASE, "MADT LAPIC address %lx", mi.lapic_addr);
	int mp = mptable_count_cpus();
	printf("smp: MP table lists %d CPUs\n", mp);
	CHECK(10, mp == (int)want, "MP table lists %d CPUs, expected %lu", mp, want);

	u32 online = smp_boot_aps(&mi);
	printf("smp: %u CPUs online\n", online);
	CHECK(11, online == want, "%u CPUs checked in, expected %lu", online, want);
	return 0;
}
