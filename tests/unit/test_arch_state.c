/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the x86 machine state (src/arch/x86/state.c): what a
 * reboot (and later a snapshot) saves of a vCPU and of the irqchips and
 * PIT, and that restoring it puts back what was saved. The round trips
 * need /dev/kvm and are skipped without it; the argument checks do not.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/arch.h"
#include "config.h"
#include "kvm/kvm.h"
#include "log_capture.h"
#include "snap/snap.h"

struct machine {
	struct vm_config cfg;
	struct kvm kvm;
	int vcpu_fd;
};

/* A VM with irqchips (and a PIT unless pit is false) and one vCPU; false
 * (the test skipped) where KVM cannot be used. */
static bool machine_open(struct machine *m, bool pit)
{
	memset(m, 0, sizeof(*m));
	m->kvm.sys_fd = m->kvm.vm_fd = m->kvm.teardown_fd = -1;
	m->vcpu_fd = -1;
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		return false;
	config_defaults(&m->cfg);
	m->cfg.mem_size = 16ULL << 20;
	m->cfg.cpus = 1;
	m->cfg.pit = pit;
	assert_int_equal(kvm_open(&m->kvm), 0);
	assert_int_equal(kvm_create_vm(&m->kvm), 0);
	assert_int_equal(arch_vm_init(&m->kvm, &m->cfg), 0);
	m->vcpu_fd = ioctl(m->kvm.vm_fd, KVM_CREATE_VCPU, 0UL);
	assert_true(m->vcpu_fd >= 0);
	assert_int_equal(arch_vcpu_init(&m->kvm, m->vcpu_fd, 0, 1), 0);
	return true;
}

static void machine_close(struct machine *m)
{
	if (m->vcpu_fd >= 0)
		close(m->vcpu_fd);
	kvm_close(&m->kvm);
}

static void test_arguments(void **state)
{
	(void)state;
	arch_vcpu_state_free(NULL);
	arch_vm_state_free(NULL);
	assert_int_equal(arch_vcpu_state_restore(-1, 0, NULL), -EINVAL);
	assert_int_equal(arch_vm_state_restore(NULL, NULL), -EINVAL);
	/* A bad fd: the failure is logged once, where it happened. */
	struct kvm kvm = { .sys_fd = -1, .vm_fd = -1, .teardown_fd = -1 };
	struct vm_config cfg;
	config_defaults(&cfg);
	struct arch_vm_state *vs = NULL;
	struct arch_vcpu_state *cs = NULL;
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	assert_int_equal(arch_vm_state_save(&kvm, &cfg, 0, &vs), -EBADF);
	assert_int_equal(log_capture_stop(&cap), 1);
	log_capture_start(&cap, LOG_WARN);
	assert_int_equal(arch_vcpu_state_save(&kvm, -1, 3, 0, &cs), -EBADF);
	assert_int_equal(log_capture_stop(&cap), 1);
	assert_null(vs);
	assert_null(cs);
}

/* Registers, segments, LAPIC, an MSR, MP state: changed, then restored. */
static void test_vcpu_round_trip(void **state)
{
	(void)state;
	struct machine m;
	if (!machine_open(&m, true))
		skip();
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	assert_int_equal(ioctl(m.vcpu_fd, KVM_GET_REGS, &regs), 0);
	assert_int_equal(ioctl(m.vcpu_fd, KVM_GET_SREGS, &sregs), 0);
	struct arch_vcpu_state *st = NULL;
	assert_int_equal(arch_vcpu_state_save(&m.kvm, m.vcpu_fd, 0, 0, &st), 0);
	assert_non_null(st);

	/* What a guest would leave behind. */
	struct kvm_regs r2 = regs;
	r2.rax = 0x1234;
	r2.rip = 0xfff0 + 0x100;
	assert_int_equal(ioctl(m.vcpu_fd, KVM_SET_REGS, &r2), 0);
	struct kvm_sregs s2 = sregs;
	s2.cs.base = 0x10000;
	s2.cs.selector = 0x1000;
	assert_int_equal(ioctl(m.vcpu_fd, KVM_SET_SREGS, &s2), 0);
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} msr = { .h.nmsrs = 1, .e = { .index = 0x174 /* SYSENTER_CS */, .data = 0x10 } };
	assert_int_equal(ioctl(m.vcpu_fd, KVM_SET_MSRS, &msr), 1);
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_HALTED };
	assert_int_equal(ioctl(m.vcpu_fd, KVM_SET_MP_STATE, &mp), 0);

	assert_int_equal(arch_vcpu_state_restore(m.vcpu_fd, 0, st), 0);
	struct kvm_regs r3;
	struct kvm_sregs s3;
	assert_int_equal(ioctl(m.vcpu_fd, KVM_GET_REGS, &r3), 0);
	assert_int_equal(ioctl(m.vcpu_fd, KVM_GET_SREGS, &s3), 0);
	assert_int_equal(r3.rax, regs.rax);
	assert_int_equal(r3.rip, regs.rip);
	assert_int_equal(s3.cs.base, sregs.cs.base);
	assert_int_equal(s3.cs.selector, sregs.cs.selector);
	msr.e.data = 0xdead;
	assert_int_equal(ioctl(m.vcpu_fd, KVM_GET_MSRS, &msr), 1);
	assert_int_equal(msr.e.data, 0);
	assert_int_equal(ioctl(m.vcpu_fd, KVM_GET_MP_STATE, &mp), 0);
	assert_int_equal(mp.mp_state, KVM_MP_STATE_RUNNABLE);
	/* Again: a state can be restored as often as asked (reboots). */
	assert_int_equal(arch_vcpu_state_restore(m.vcpu_fd, 0, st), 0);
	arch_vcpu_state_free(st);
	machine_close(&m);
}

/* The I/O APIC and the PIT: changed, then restored. */
static void test_vm_round_trip(void **state)
{
	(void)state;
	struct machine m;
	if (!machine_open(&m, true))
		skip();
	struct arch_vm_state *st = NULL;
	assert_int_equal(arch_vm_state_save(&m.kvm, &m.cfg, 0, &st), 0);

	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	assert_int_equal(ioctl(m.kvm.vm_fd, KVM_GET_IRQCHIP, &chip), 0);
	uint64_t pin5 = chip.chip.ioapic.redirtbl[5].bits;
	chip.chip.ioapic.redirtbl[5].bits = 0x31; /* vector 0x31, unmasked */
	assert_int_equal(ioctl(m.kvm.vm_fd, KVM_SET_IRQCHIP, &chip), 0);
	struct kvm_pit_state2 pit;
	assert_int_equal(ioctl(m.kvm.vm_fd, KVM_GET_PIT2, &pit), 0);
	uint8_t mode = pit.channels[0].mode;
	pit.channels[0].mode = (uint8_t)(mode == 2 ? 3 : 2);
	assert_int_equal(ioctl(m.kvm.vm_fd, KVM_SET_PIT2, &pit), 0);

	assert_int_equal(arch_vm_state_restore(&m.kvm, st), 0);
	assert_int_equal(ioctl(m.kvm.vm_fd, KVM_GET_IRQCHIP, &chip), 0);
	assert_int_equal(chip.chip.ioapic.redirtbl[5].bits, pin5);
	assert_int_equal(ioctl(m.kvm.vm_fd, KVM_GET_PIT2, &pit), 0);
	assert_int_equal(pit.channels[0].mode, mode);
	arch_vm_state_free(st);
	machine_close(&m);
}

/* --platform pit=off: no PIT to save or restore, and no error for it. */
static void test_vm_without_pit(void **state)
{
	(void)state;
	struct machine m;
	if (!machine_open(&m, false))
		skip();
	struct kvm_pit_state2 pit;
	assert_true(ioctl(m.kvm.vm_fd, KVM_GET_PIT2, &pit) < 0);
	struct arch_vm_state *st = NULL;
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	assert_int_equal(arch_vm_state_save(&m.kvm, &m.cfg, 0, &st), 0);
	assert_int_equal(arch_vm_state_restore(&m.kvm, st), 0);
	assert_int_equal(log_capture_stop(&cap), 0);
	arch_vm_state_free(st);
	machine_close(&m);
}

/* The LAPIC timer in TSC-deadline mode, armed at `deadline`. */
static void arm_tsc_deadline(int fd, uint64_t deadline)
{
	struct kvm_lapic_state la;
	assert_int_equal(ioctl(fd, KVM_GET_LAPIC, &la), 0);
	uint32_t svr = 0x1ff, lvtt = 0xec | (2u << 17); /* enabled; TSC-deadline */
	memcpy(&la.regs[0xf0], &svr, 4);
	memcpy(&la.regs[0x320], &lvtt, 4);
	assert_int_equal(ioctl(fd, KVM_SET_LAPIC, &la), 0);
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} msr = { .h.nmsrs = 1, .e = { .index = 0x6e0, .data = deadline } };
	assert_int_equal(ioctl(fd, KVM_SET_MSRS, &msr), 1);
}

static uint64_t get_msr(int fd, uint32_t index)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} msr = { .h.nmsrs = 1, .e = { .index = index } };
	assert_int_equal(ioctl(fd, KVM_GET_MSRS, &msr), 1);
	return msr.e.data;
}

/*
 * A snapshot's vCPU state into a fresh vCPU of another VM (a restore in a
 * new process): the armed TSC deadline comes back (KVM ignores the MSR
 * until the LAPIC's LVT is in TSC-deadline mode, so it must be set after
 * the LAPIC), and the TSC goes on from the saved value.
 */
static void test_snapshot_tsc_deadline(void **state)
{
	(void)state;
	struct machine a, b;
	if (!machine_open(&a, true))
		skip();
	uint64_t tsc = get_msr(a.vcpu_fd, 0x10);
	uint64_t deadline = tsc + (1ull << 40);
	arm_tsc_deadline(a.vcpu_fd, deadline);
	assert_int_equal(get_msr(a.vcpu_fd, 0x6e0), deadline);
	struct arch_vcpu_state *st = NULL;
	assert_int_equal(arch_vcpu_state_save(&a.kvm, a.vcpu_fd, 0, ARCH_STATE_SNAPSHOT, &st), 0);
	machine_close(&a);

	assert_true(machine_open(&b, true));
	assert_int_equal(get_msr(b.vcpu_fd, 0x6e0), 0);
	assert_int_equal(arch_vcpu_state_restore(b.vcpu_fd, 0, st), 0);
	assert_int_equal(get_msr(b.vcpu_fd, 0x6e0), deadline);
	assert_true(get_msr(b.vcpu_fd, 0x10) >= tsc);
	arch_vcpu_state_free(st);
	machine_close(&b);
}

/*
 * encode -> decode -> encode gives the same bytes (vCPU and machine
 * state, what a snapshot's sections hold), and every cut-short payload
 * is refused by the decoder.
 */
static void test_encode_decode(void **state)
{
	(void)state;
	struct machine m;
	if (!machine_open(&m, true))
		skip();
	arm_tsc_deadline(m.vcpu_fd, get_msr(m.vcpu_fd, 0x10) + (1ull << 40));
	struct arch_vcpu_state *vs = NULL, *vs2 = NULL;
	assert_int_equal(arch_vcpu_state_save(&m.kvm, m.vcpu_fd, 0, ARCH_STATE_SNAPSHOT, &vs), 0);
	struct snap_buf b1 = { 0 }, b2 = { 0 };
	arch_vcpu_state_encode(vs, &b1);
	assert_int_equal(b1.err, 0);
	struct snap_cur c = { .p = b1.data, .len = b1.len };
	assert_int_equal(arch_vcpu_state_decode(&c, &vs2), 0);
	assert_int_equal(snap_cur_end(&c), 0);
	arch_vcpu_state_encode(vs2, &b2);
	assert_int_equal(b2.len, b1.len);
	assert_memory_equal(b2.data, b1.data, b1.len);
	/* The decoded state restores as the saved one does. */
	assert_int_equal(arch_vcpu_state_restore(m.vcpu_fd, 0, vs2), 0);
	arch_vcpu_state_free(vs2);
	for (size_t cut = 0; cut < b1.len; cut += cut < 64 ? 1 : 97) {
		struct snap_cur t = { .p = b1.data, .len = cut };
		struct arch_vcpu_state *x = NULL;
		int r = arch_vcpu_state_decode(&t, &x);
		assert_int_equal(r, -EBADMSG);
		arch_vcpu_state_free(x);
	}
	snap_buf_free(&b1);
	snap_buf_free(&b2);
	arch_vcpu_state_free(vs);

	struct arch_vm_state *ms = NULL, *ms2 = NULL;
	assert_int_equal(arch_vm_state_save(&m.kvm, &m.cfg, ARCH_STATE_SNAPSHOT, &ms), 0);
	b1 = (struct snap_buf){ 0 };
	b2 = (struct snap_buf){ 0 };
	arch_vm_state_encode(ms, &b1);
	assert_int_equal(b1.err, 0);
	c = (struct snap_cur){ .p = b1.data, .len = b1.len };
	assert_int_equal(arch_vm_state_decode(&c, &ms2), 0);
	assert_int_equal(snap_cur_end(&c), 0);
	assert_true(arch_vm_state_has_pit(ms2));
	arch_vm_state_encode(ms2, &b2);
	assert_int_equal(b2.len, b1.len);
	assert_memory_equal(b2.data, b1.data, b1.len);
	for (size_t cut = 0; cut < b1.len; cut += 7) {
		struct snap_cur t = { .p = b1.data, .len = cut };
		struct arch_vm_state *x = NULL;
		int r = arch_vm_state_decode(&t, &x);
		assert_int_equal(r, -EBADMSG);
		arch_vm_state_free(x);
	}
	snap_buf_free(&b1);
	snap_buf_free(&b2);
	arch_vm_state_free(ms);
	arch_vm_state_free(ms2);
	machine_close(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arguments),
		cmocka_unit_test(test_vcpu_round_trip),
		cmocka_unit_test(test_vm_round_trip),
		cmocka_unit_test(test_vm_without_pit),
		cmocka_unit_test(test_snapshot_tsc_deadline),
		cmocka_unit_test(test_encode_decode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
