/* SPDX-License-Identifier: MIT */
/* triple_fault: a page fault with an empty IDT must end cvmm with status 1. */
#include "runtime.h"

const char test_name[] = "triple_fault";

int test_main(struct boot_info *bi)
{
	(void)bi;
	struct {
		u16 limit;
		u64 base;
	} __packed empty = { 0, 0 };

	printf("about to triple fault\n");
	__asm__ __volatile__("lidt %0" ::"m"(empty));
	/* Canonical but unmapped: #PF, which cannot be delivered -> #DF -> shutdown. */
	(void)*(volatile u64 *)0x400000000000UL;
	__asm__ __volatile__("ud2");
	fail(3, "still running after faulting with an empty IDT");
}
