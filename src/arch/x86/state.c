/* SPDX-License-Identifier: MIT */
/*
 * x86 machine state behind arch.h's arch_vcpu_state_* and arch_vm_state_*:
 * every KVM_GET/SET of vCPU registers, MSRs, LAPIC, events and MP state,
 * and of the in-kernel irqchips and PIT, lives here.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/arch.h"
#include "log.h"
#include "snap/snap.h"

#define MSR_IA32_TSC 0x10
#define MSR_IA32_TSC_ADJUST 0x3b
#define MSR_IA32_TSC_DEADLINE 0x6e0

struct arch_vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xcrs xcrs;
	bool has_xcrs;
	struct kvm_debugregs dregs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_vcpu_events events;
	struct kvm_msrs *msrs; /* header + entries */
	/* Snapshots: the whole extended state (KVM_GET_XSAVE), when KVM
	 * gives it; restored instead of fpu. */
	bool has_xsave;
	struct kvm_xsave xsave;
};

#define X86_NCHIPS 3 /* PIC master, PIC slave, I/O APIC */

struct arch_vm_state {
	struct kvm_irqchip chips[X86_NCHIPS];
	bool has_pit;
	struct kvm_pit_state2 pit;
	/* Snapshots: the KVM clock (kvmclock's base), when KVM gives it. */
	bool has_clock;
	struct kvm_clock_data clock;
};

/* One ioctl on a vCPU, logged with its name when it fails. */
static int vcpu_ioctl(int fd, unsigned id, unsigned long req, void *arg, const char *what)
{
	if (ioctl(fd, req, arg) < 0) {
		int err = errno;
		log_error("vCPU %u: %s: %s", id, what, strerror(err));
		return -err;
	}
	return 0;
}

/* The MSRs KVM lists, but (unless `tsc`) the TSC and its adjust (they
 * keep counting across a reboot; a snapshot keeps them). */
static int msr_index_list(struct kvm *kvm, bool tsc, struct kvm_msrs **out)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	if (ioctl(kvm->sys_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return -errno;
	uint32_t n = probe.nmsrs;
	struct kvm_msr_list *list = calloc(1, sizeof(*list) + n * sizeof(uint32_t));
	struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(struct kvm_msr_entry));
	int ret = 0;
	if (!list || !m)
		ret = -ENOMEM;
	else if (list->nmsrs = n, ioctl(kvm->sys_fd, KVM_GET_MSR_INDEX_LIST, list) < 0)
		ret = -errno;
	for (uint32_t i = 0; !ret && i < list->nmsrs && i < n; i++) {
		uint32_t idx = list->indices[i];
		if (tsc || (idx != MSR_IA32_TSC && idx != MSR_IA32_TSC_ADJUST))
			m->entries[m->nmsrs++].index = idx;
	}
	free(list);
	if (ret) {
		free(m);
		return ret;
	}
	*out = m;
	return 0;
}

/*
 * Reads the MSRs of `m` in place. KVM_GET_MSRS stops at the first MSR it
 * cannot read (some listed ones depend on CPUID or the host): read in
 * batches from there, dropping each one it refuses.
 */
static int read_msrs(int fd, struct kvm_msrs *m)
{
	uint32_t kept = m->nmsrs;
	struct kvm_msrs *batch = calloc(1, sizeof(*batch) + kept * sizeof(struct kvm_msr_entry));
	if (!batch)
		return -ENOMEM;
	uint32_t done = 0;
	while (done < kept) {
		batch->nmsrs = kept - done;
		memcpy(batch->entries, &m->entries[done],
		       batch->nmsrs * sizeof(struct kvm_msr_entry));
		int r = ioctl(fd, KVM_GET_MSRS, batch);
		if (r < 0) {
			int err = errno;
			free(batch);
			return -err;
		}
		memcpy(&m->entries[done], batch->entries, (size_t)r * sizeof(struct kvm_msr_entry));
		done += (uint32_t)r;
		if (done < kept) {
			/* entries[done] cannot be read: drop it. */
			memmove(&m->entries[done], &m->entries[done + 1],
				(kept - done - 1) * sizeof(struct kvm_msr_entry));
			kept--;
		}
	}
	free(batch);
	m->nmsrs = kept;
	return 0;
}

void arch_vcpu_state_free(struct arch_vcpu_state *st)
{
	if (!st)
		return;
	free(st->msrs);
	free(st);
}

int arch_vcpu_state_save(struct kvm *kvm, int fd, unsigned id, unsigned flags,
			 struct arch_vcpu_state **out)
{
	struct arch_vcpu_state *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	int ret = vcpu_ioctl(fd, id, KVM_GET_REGS, &st->regs, "KVM_GET_REGS");
	ret = ret ?: vcpu_ioctl(fd, id, KVM_GET_SREGS, &st->sregs, "KVM_GET_SREGS");
	ret = ret ?: vcpu_ioctl(fd, id, KVM_GET_FPU, &st->fpu, "KVM_GET_FPU");
	ret = ret ?: vcpu_ioctl(fd, id, KVM_GET_DEBUGREGS, &st->dregs, "KVM_GET_DEBUGREGS");
	ret = ret ?: vcpu_ioctl(fd, id, KVM_GET_LAPIC, &st->lapic, "KVM_GET_LAPIC");
	ret = ret ?: vcpu_ioctl(fd, id, KVM_GET_MP_STATE, &st->mp, "KVM_GET_MP_STATE");
	ret = ret ?: vcpu_ioctl(fd, id, KVM_GET_VCPU_EVENTS, &st->events, "KVM_GET_VCPU_EVENTS");
	/* Without XSAVE support in KVM there are none to keep. A host CPU
	 * without XSAVE (TCG's qemu64 in the nested rig) answers GET_XCRS
	 * with none and refuses SET_XCRS (-EINVAL), even with none. */
	if (!ret)
		st->has_xcrs = ioctl(fd, KVM_GET_XCRS, &st->xcrs) == 0 && st->xcrs.nr_xcrs > 0;
	/* The FPU's registers alone leave out AVX and the rest: a snapshot
	 * takes the XSAVE area where KVM gives it (not where it has none:
	 * KVM_CAP_XSAVE off, or the legacy area is all there is). */
	if (!ret && (flags & ARCH_STATE_SNAPSHOT) && kvm_check_cap(kvm, KVM_CAP_XSAVE) > 0)
		st->has_xsave = ioctl(fd, KVM_GET_XSAVE, &st->xsave) == 0;
	if (!ret) {
		ret = msr_index_list(kvm, flags & ARCH_STATE_SNAPSHOT, &st->msrs);
		ret = ret ?: read_msrs(fd, st->msrs);
		if (ret)
			log_error("vCPU %u: cannot save its MSRs: %s", id, strerror(-ret));
	}
	if (ret) {
		arch_vcpu_state_free(st);
		return ret;
	}
	*out = st;
	return 0;
}

int arch_vcpu_state_restore(int fd, unsigned id, const struct arch_vcpu_state *st)
{
	if (!st)
		return -EINVAL;
	/* Nothing pending (exceptions, NMIs, SIPI, interrupt shadow). */
	struct kvm_vcpu_events ev = st->events;
	ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
		    KVM_VCPUEVENT_VALID_SHADOW;
	/* KVM takes non-const arguments. */
	struct kvm_mp_state mp = st->mp;
	struct kvm_sregs sregs = st->sregs;
	struct kvm_regs regs = st->regs;
	struct kvm_fpu fpu = st->fpu;
	struct kvm_xcrs xcrs = st->xcrs;
	struct kvm_debugregs dregs = st->dregs;
	struct kvm_lapic_state lapic = st->lapic;
	int ret = vcpu_ioctl(fd, id, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
	ret = ret ?: vcpu_ioctl(fd, id, KVM_SET_REGS, &regs, "KVM_SET_REGS");
	ret = ret ?: vcpu_ioctl(fd, id, KVM_SET_FPU, &fpu, "KVM_SET_FPU");
	if (!ret && st->has_xcrs)
		ret = vcpu_ioctl(fd, id, KVM_SET_XCRS, &xcrs, "KVM_SET_XCRS");
	if (!ret && st->has_xsave) {
		struct kvm_xsave xs = st->xsave;
		ret = vcpu_ioctl(fd, id, KVM_SET_XSAVE, &xs, "KVM_SET_XSAVE");
	}
	ret = ret ?: vcpu_ioctl(fd, id, KVM_SET_DEBUGREGS, &dregs, "KVM_SET_DEBUGREGS");
	if (!ret) {
		int r = ioctl(fd, KVM_SET_MSRS, st->msrs);
		if (r < 0) {
			ret = -errno;
			log_error("vCPU %u: KVM_SET_MSRS: %s", id, strerror(-ret));
		} else if ((uint32_t)r < st->msrs->nmsrs) {
			log_warn("vCPU %u: reset: KVM refused MSR 0x%x (%d of %u restored)",
				 id, st->msrs->entries[r].index, r, st->msrs->nmsrs);
		}
	}
	ret = ret ?: vcpu_ioctl(fd, id, KVM_SET_LAPIC, &lapic, "KVM_SET_LAPIC");
	/* The TSC deadline once more, after the LAPIC: KVM ignores the MSR
	 * while the timer's LVT is not in TSC-deadline mode (a fresh vCPU's
	 * is not), and KVM_SET_LAPIC restarts the timer from the LVT. Else a
	 * guest on the TSC-deadline timer (Linux) waits for a tick that
	 * never comes. */
	for (uint32_t i = 0; !ret && i < st->msrs->nmsrs; i++) {
		if (st->msrs->entries[i].index != MSR_IA32_TSC_DEADLINE)
			continue;
		struct {
			struct kvm_msrs h;
			struct kvm_msr_entry e;
		} one = { .h.nmsrs = 1, .e = st->msrs->entries[i] };
		if (ioctl(fd, KVM_SET_MSRS, &one) != 1)
			log_warn("vCPU %u: KVM refused the TSC deadline MSR", id);
	}
	ret = ret ?: vcpu_ioctl(fd, id, KVM_SET_VCPU_EVENTS, &ev, "KVM_SET_VCPU_EVENTS");
	ret = ret ?: vcpu_ioctl(fd, id, KVM_SET_MP_STATE, &mp, "KVM_SET_MP_STATE");
	return ret;
}

static const char *const chip_names[X86_NCHIPS] = { "PIC master", "PIC slave", "I/O APIC" };

/* One ioctl on the VM, logged with its name (and what) when it fails. */
static int vm_ioctl(struct kvm *kvm, unsigned long req, void *arg, const char *name,
		    const char *what)
{
	if (ioctl(kvm->vm_fd, req, arg) < 0) {
		int err = errno;
		log_error("%s (%s): %s", name, what, strerror(err));
		return -err;
	}
	return 0;
}

void arch_vm_state_free(struct arch_vm_state *st)
{
	free(st);
}

int arch_vm_state_save(struct kvm *kvm, const struct vm_config *cfg, unsigned flags,
		       struct arch_vm_state **out)
{
	struct arch_vm_state *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	int ret = 0;
	for (unsigned i = 0; i < X86_NCHIPS && !ret; i++) {
		st->chips[i].chip_id = i;
		ret = vm_ioctl(kvm, KVM_GET_IRQCHIP, &st->chips[i], "KVM_GET_IRQCHIP",
			       chip_names[i]);
	}
	st->has_pit = cfg->pit;
	if (!ret && st->has_pit)
		ret = vm_ioctl(kvm, KVM_GET_PIT2, &st->pit, "KVM_GET_PIT2", "PIT");
	/* Without it (KVM_CAP_ADJUST_CLOCK off) kvmclock jumps by the time
	 * the VM spent in its snapshot; said once, at info level. */
	if (!ret && (flags & ARCH_STATE_SNAPSHOT)) {
		st->has_clock = ioctl(kvm->vm_fd, KVM_GET_CLOCK, &st->clock) == 0;
		if (!st->has_clock)
			log_info("snapshot: KVM_GET_CLOCK: %s (the KVM clock is not kept)",
				 strerror(errno));
	}
	if (ret) {
		free(st);
		return ret;
	}
	*out = st;
	return 0;
}

int arch_vm_state_restore(struct kvm *kvm, const struct arch_vm_state *st)
{
	if (!st)
		return -EINVAL;
	struct arch_vm_state s = *st; /* KVM takes non-const arguments */
	int ret = 0;
	for (unsigned i = 0; i < X86_NCHIPS && !ret; i++)
		ret = vm_ioctl(kvm, KVM_SET_IRQCHIP, &s.chips[i], "KVM_SET_IRQCHIP",
			       chip_names[i]);
	if (!ret && s.has_pit)
		ret = vm_ioctl(kvm, KVM_SET_PIT2, &s.pit, "KVM_SET_PIT2", "PIT");
	return ret;
}

int arch_vm_clock_restore(struct kvm *kvm, const struct arch_vm_state *st)
{
	if (!st || !st->has_clock)
		return 0;
	/* Only the clock value: KVM_CLOCK_REALTIME/HOST_TSC are inputs KVM
	 * would use to add the time the VM was away. */
	struct kvm_clock_data c = { .clock = st->clock.clock };
	return vm_ioctl(kvm, KVM_SET_CLOCK, &c, "KVM_SET_CLOCK", "KVM clock");
}

/* ---- snapshot encoding: each KVM struct as its bytes, with its size
 * first, so that another layout of the same struct is refused ---- */

static void put_blob(struct snap_buf *b, const void *p, uint32_t n)
{
	snap_put_u32(b, n);
	snap_put(b, p, n);
}

static int get_blob(struct snap_cur *c, void *p, uint32_t n)
{
	if (snap_get_u32(c) != n) {
		c->bad = true;
		return -EBADMSG;
	}
	return snap_get(c, p, n);
}

void arch_vcpu_state_encode(const struct arch_vcpu_state *st, struct snap_buf *b)
{
	put_blob(b, &st->regs, sizeof(st->regs));
	put_blob(b, &st->sregs, sizeof(st->sregs));
	put_blob(b, &st->fpu, sizeof(st->fpu));
	snap_put_u8(b, st->has_xcrs);
	put_blob(b, &st->xcrs, sizeof(st->xcrs));
	put_blob(b, &st->dregs, sizeof(st->dregs));
	put_blob(b, &st->lapic, sizeof(st->lapic));
	put_blob(b, &st->mp, sizeof(st->mp));
	put_blob(b, &st->events, sizeof(st->events));
	snap_put_u8(b, st->has_xsave);
	if (st->has_xsave)
		put_blob(b, &st->xsave, sizeof(st->xsave));
	snap_put_u32(b, st->msrs->nmsrs);
	for (uint32_t i = 0; i < st->msrs->nmsrs; i++) {
		snap_put_u32(b, st->msrs->entries[i].index);
		snap_put_u64(b, st->msrs->entries[i].data);
	}
}

#define ARCH_MAX_MSRS 4096

int arch_vcpu_state_decode(struct snap_cur *c, struct arch_vcpu_state **out)
{
	struct arch_vcpu_state *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	get_blob(c, &st->regs, sizeof(st->regs));
	get_blob(c, &st->sregs, sizeof(st->sregs));
	get_blob(c, &st->fpu, sizeof(st->fpu));
	st->has_xcrs = snap_get_u8(c) != 0;
	get_blob(c, &st->xcrs, sizeof(st->xcrs));
	get_blob(c, &st->dregs, sizeof(st->dregs));
	get_blob(c, &st->lapic, sizeof(st->lapic));
	get_blob(c, &st->mp, sizeof(st->mp));
	get_blob(c, &st->events, sizeof(st->events));
	st->has_xsave = snap_get_u8(c) != 0;
	if (st->has_xsave)
		get_blob(c, &st->xsave, sizeof(st->xsave));
	uint32_t n = snap_get_u32(c);
	if (!c->bad && (n > ARCH_MAX_MSRS || st->xcrs.nr_xcrs > KVM_MAX_XCRS))
		c->bad = true;
	if (!c->bad) {
		st->msrs = calloc(1, sizeof(*st->msrs) + n * sizeof(struct kvm_msr_entry));
		if (!st->msrs) {
			free(st);
			return -ENOMEM;
		}
		st->msrs->nmsrs = n;
		for (uint32_t i = 0; i < n && !c->bad; i++) {
			st->msrs->entries[i].index = snap_get_u32(c);
			st->msrs->entries[i].data = snap_get_u64(c);
		}
	}
	int ret = snap_cur_end(c);
	if (ret) {
		arch_vcpu_state_free(st);
		return ret;
	}
	*out = st;
	return 0;
}

void arch_vm_state_encode(const struct arch_vm_state *st, struct snap_buf *b)
{
	for (unsigned i = 0; i < X86_NCHIPS; i++)
		put_blob(b, &st->chips[i], sizeof(st->chips[i]));
	snap_put_u8(b, st->has_pit);
	put_blob(b, &st->pit, sizeof(st->pit));
	snap_put_u8(b, st->has_clock);
	put_blob(b, &st->clock, sizeof(st->clock));
}

int arch_vm_state_decode(struct snap_cur *c, struct arch_vm_state **out)
{
	struct arch_vm_state *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	for (unsigned i = 0; i < X86_NCHIPS; i++) {
		get_blob(c, &st->chips[i], sizeof(st->chips[i]));
		if (st->chips[i].chip_id != i)
			c->bad = true;
	}
	st->has_pit = snap_get_u8(c) != 0;
	get_blob(c, &st->pit, sizeof(st->pit));
	st->has_clock = snap_get_u8(c) != 0;
	get_blob(c, &st->clock, sizeof(st->clock));
	int ret = snap_cur_end(c);
	if (ret) {
		free(st);
		return ret;
	}
	*out = st;
	return 0;
}

bool arch_vm_state_has_pit(const struct arch_vm_state *st)
{
	return st->has_pit;
}
