/* SPDX-License-Identifier: MIT */
/*
 * Instructions KVM's instruction emulator gives up on, carried out by the
 * VMM instead.
 *
 * Where a guest runs through KVM's emulator (PVM hosts run a guest that is
 * not PVM-aware that way; VMX does for invalid guest state), an
 * instruction the emulator lacks ends KVM_RUN with KVM_EXIT_INTERNAL_ERROR,
 * suberror KVM_INTERNAL_ERROR_EMULATION, and the instruction's bytes.
 *
 * INT3 is the one that matters: the emulator delivers software interrupts
 * only in real mode, and Linux patches its own code with INT3 while it runs
 * (text_poke_bp(): static keys, static calls, jump labels). Another vCPU
 * that executes a site in the window where its first byte is 0xCC takes
 * #BP, and Linux's int3 handler emulates the instruction being patched. On
 * an idle host that window is microseconds; when the patching vCPU's
 * thread is preempted inside it (a contended host), the other vCPU walks
 * into it and the VM died with "KVM internal error, suberror 1". The
 * hardware semantics are simple: INT3 is a trap, so #BP is delivered with
 * RIP pointing after the one-byte instruction.
 */
#include "arch/arch.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#define X86_VEC_BP 3
#define OPC_INT3 0xcc

int arch_describe_emulation_failure(const struct kvm_run *run, char *buf, size_t len)
{
	const __typeof__(run->emulation_failure) *ef = &run->emulation_failure;
	if (!len)
		return -EINVAL;
	buf[0] = 0;
	if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION || ef->ndata < 3 ||
	    !(ef->flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES))
		return -ENODATA;
	size_t n = ef->insn_size < sizeof(ef->insn_bytes) ? ef->insn_size : sizeof(ef->insn_bytes);
	size_t off = 0;
	for (size_t i = 0; i < n && off + 4 < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%02x", i ? " " : "", ef->insn_bytes[i]);
	return 0;
}

/* Is the instruction KVM could not emulate a plain INT3 (no prefix)? */
static bool is_int3(const struct kvm_run *run)
{
	const __typeof__(run->emulation_failure) *ef = &run->emulation_failure;
	return run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && ef->ndata >= 3 &&
	       (ef->flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) &&
	       ef->insn_size >= 1 && ef->insn_bytes[0] == OPC_INT3;
}

int arch_complete_emulation(int vcpu_fd, const struct kvm_run *run, uint64_t *rip)
{
	if (!is_int3(run))
		return -ENOTSUP;
	struct kvm_sregs s;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	/* Real mode is the emulator's own business; it never gets here. */
	if (!(s.cr0 & 1))
		return -ENOTSUP;
	struct kvm_regs r;
	struct kvm_vcpu_events ev;
	if (ioctl(vcpu_fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	/* An event already on its way in: leave the failure to be reported. */
	if (ev.exception.injected || ev.exception.pending || ev.interrupt.injected ||
	    ev.nmi.injected)
		return -EBUSY;
	*rip = r.rip;
	/* A trap: the frame's RIP is the next instruction. */
	r.rip += 1;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &r) < 0)
		return -errno;
	memset(&ev.exception, 0, sizeof(ev.exception));
	ev.exception.injected = 1;
	ev.exception.nr = X86_VEC_BP;
	ev.flags = 0; /* change nothing but the exception */
	if (ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	return 0;
}
