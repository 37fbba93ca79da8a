/* SPDX-License-Identifier: MIT */
/*
 * arch_complete_emulation / arch_describe_emulation_failure: which emulation
 * failures cvmm takes over (INT3 only) and how a fatal one is described.
 * The INT3 delivery itself runs in a real vCPU (guest test "exceptions").
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/arch.h"

static void failure(struct kvm_run *run, uint32_t suberror, int with_bytes,
		    const uint8_t *bytes, uint8_t n)
{
	memset(run, 0, sizeof(*run));
	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run->internal.suberror = suberror;
	run->emulation_failure.ndata = 4;
	if (with_bytes) {
		run->emulation_failure.flags = KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
		run->emulation_failure.insn_size = n;
		memcpy(run->emulation_failure.insn_bytes, bytes, n);
	}
}

/* Everything but a plain INT3 is refused before any vCPU ioctl (fd -1). */
static void test_refuses_other_instructions(void **state)
{
	(void)state;
	static struct kvm_run run;
	uint64_t pc = 0x1234;
	static const uint8_t xsave[] = { 0x0f, 0xae, 0x27 };
	static const uint8_t int80[] = { 0xcd, 0x80 };
	static const uint8_t int3[] = { 0xcc };

	failure(&run, KVM_INTERNAL_ERROR_EMULATION, 1, xsave, sizeof(xsave));
	assert_int_equal(arch_complete_emulation(-1, &run, &pc), -ENOTSUP);
	failure(&run, KVM_INTERNAL_ERROR_EMULATION, 1, int80, sizeof(int80));
	assert_int_equal(arch_complete_emulation(-1, &run, &pc), -ENOTSUP);
	/* INT3 bytes but another suberror, or no bytes reported */
	failure(&run, KVM_INTERNAL_ERROR_DELIVERY_EV, 1, int3, 1);
	assert_int_equal(arch_complete_emulation(-1, &run, &pc), -ENOTSUP);
	failure(&run, KVM_INTERNAL_ERROR_EMULATION, 0, int3, 1);
	assert_int_equal(arch_complete_emulation(-1, &run, &pc), -ENOTSUP);
	assert_int_equal(pc, 0x1234);
	/* An INT3 gets as far as reading the vCPU (which fd -1 cannot). */
	failure(&run, KVM_INTERNAL_ERROR_EMULATION, 1, int3, 1);
	assert_int_equal(arch_complete_emulation(-1, &run, &pc), -EBADF);
}

static void test_describe(void **state)
{
	(void)state;
	static struct kvm_run run;
	char buf[64];
	static const uint8_t xsave[] = { 0x0f, 0xae, 0x27 };
	uint8_t full[15];
	for (unsigned i = 0; i < sizeof(full); i++)
		full[i] = (uint8_t)(0xa0 + i);

	failure(&run, KVM_INTERNAL_ERROR_EMULATION, 1, xsave, sizeof(xsave));
	assert_int_equal(arch_describe_emulation_failure(&run, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0f ae 27");
	failure(&run, KVM_INTERNAL_ERROR_EMULATION, 1, full, sizeof(full));
	assert_int_equal(arch_describe_emulation_failure(&run, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 aa ab ac ad ae");
	/* a short buffer is cut between bytes, never overrun */
	char small[9];
	assert_int_equal(arch_describe_emulation_failure(&run, small, sizeof(small)), 0);
	assert_string_equal(small, "a0 a1");
	/* an oversized insn_size from the kernel is clamped to the array */
	run.emulation_failure.insn_size = 200;
	assert_int_equal(arch_describe_emulation_failure(&run, buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), 15 * 3 - 1);
	failure(&run, KVM_INTERNAL_ERROR_EMULATION, 0, xsave, sizeof(xsave));
	assert_int_equal(arch_describe_emulation_failure(&run, buf, sizeof(buf)), -ENODATA);
	assert_string_equal(buf, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refuses_other_instructions),
		cmocka_unit_test(test_describe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
