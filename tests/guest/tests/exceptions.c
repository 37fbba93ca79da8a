/* SPDX-License-Identifier: MIT */
/*
 * exceptions: #DE, #UD, #GP and #PF (read and write) raised in the guest
 * must reach the guest's IDT with the right vector, error code and CR2, and
 * the guest must be able to resume after each. INT3 must deliver #BP as a
 * trap (saved RIP after the instruction): KVM's instruction emulator, which
 * runs every guest instruction on PVM hosts, cannot, and cvmm completes it
 * (arch/x86/emulate.c); Linux relies on it while patching its own text.
 */
#include "runtime.h"

const char test_name[] = "exceptions";

u64 fix_rip; /* where the handler resumes; set just before each fault */
static volatile u64 got_vec, got_err, got_cr2, got_rip;
static volatile u32 count;

static void handler(struct trap_frame *tf)
{
	got_vec = tf->vector;
	got_err = tf->error;
	got_cr2 = read_cr2();
	got_rip = tf->rip;
	count++;
	tf->rip = fix_rip;
}

/* Runs `insn` with rcx = arg; the exception handler resumes after it. */
#define FAULT(insn, arg)                                                        \
	__asm__ __volatile__("leaq 1f(%%rip), %%rax\n\t"                         \
			     "movq %%rax, fix_rip(%%rip)\n\t"                    \
			     "movl $1, %%eax\n\t"                                \
			     "xorl %%edx, %%edx\n\t" insn "\n1:"                  \
			     : : "c"(arg) : "rax", "rdx", "memory", "cc")

static void expect(int code, const char *what, u64 vec, u64 err, u64 cr2)
{
	CHECK(code, count == 1, "%s: %u exceptions delivered, expected 1", what, count);
	CHECK(code, got_vec == vec, "%s: vector %lu, expected %lu", what, got_vec, vec);
	CHECK(code, got_err == err, "%s: error code %lx, expected %lx", what, got_err, err);
	if (vec == 14)
		CHECK(code, got_cr2 == cr2, "%s: cr2 %lx, expected %lx", what, got_cr2, cr2);
	printf("exceptions: %s -> vector %lu error %lx at rip %lx\n", what, got_vec, got_err,
	       got_rip);
	count = 0;
}

int test_main(struct boot_info *bi)
{
	(void)bi;
	for (u8 v = 0; v < 32; v++)
		set_irq_handler(v, handler);

	FAULT("divl %%ecx", 0UL);
	expect(3, "divide by zero", 0, 0, 0);
	FAULT("ud2", 0UL);
	expect(4, "ud2", 6, 0, 0);
	FAULT("movq (%%rcx), %%rdx", 0x8000000000000000UL);
	expect(5, "non-canonical read", 13, 0, 0);
	FAULT("movq (%%rcx), %%rdx", 0x400000000000UL);
	expect(6, "unmapped read", 14, 0, 0x400000000000UL);
	FAULT("movq %%rax, (%%rcx)", 0x400000001008UL);
	expect(7, "unmapped write", 14, 2, 0x400000001008UL);
	FAULT("int3", 0UL);
	CHECK(9, got_rip == fix_rip, "int3: saved rip %lx, expected %lx (after the int3)",
	      got_rip, fix_rip);
	expect(8, "int3", 3, 0, 0);
	printf("exceptions: all delivered and resumed\n");
	return 0;
}
