/* SPDX-License-Identifier: MIT */
/*
 * api_counter: counts forever, printing "tick N" on the serial port every
 * period_ms (command line, default 20 ms). Never exits by itself: the API
 * tests (tests/api-test.sh) pause, resume, reboot and stop it through the
 * API and watch the ticks stop, go on, and start again from 0.
 *
 * With aps=1 on the command line it first starts every AP the MADT lists
 * (INIT/SIPI) and prints "api_counter: N CPUs online": after a reboot the
 * APs must come up again, which needs them reset to their power-on state.
 */
#include "runtime.h"

const char test_name[] = "api_counter";

int test_main(struct boot_info *bi)
{
	u64 period = 20, aps = 0;
	cmdline_get_u64(bi->cmdline, "period_ms", &period);
	cmdline_get_u64(bi->cmdline, "aps", &aps);
	if (aps) {
		struct madt_info mi;
		CHECK(3, acpi_parse_madt(bi, &mi) == 0, "cannot read the MADT");
		u32 online = smp_boot_aps(&mi);
		printf("api_counter: %u CPUs online\n", online);
		CHECK(4, online == mi.nr_cpus, "%u of %u CPUs checked in", online, mi.nr_cpus);
	}
	printf("api_counter: a tick every %lu ms\n", period);
	for (u64 n = 0;; n++) {
		printf("tick %lu\n", n);
		mdelay(period);
	}
	return 0;
}
