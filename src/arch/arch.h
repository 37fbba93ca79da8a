/* SPDX-License-Identifier: MIT */
/*
 * The interface between the architecture-neutral VMM and one architecture
 * (today only arch/x86). The VM builder calls these in order:
 * arch_vm_init -> arch_vcpu_init (each) -> arch_load_guest.
 */
#ifndef CVMM_ARCH_ARCH_H
#define CVMM_ARCH_ARCH_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "kvm/kvm.h"
#include "log.h"

/* What the firmware tables must describe about PCI. */
struct arch_pci_info {
	/*
	 * false: the VM has no PCI bus (every virtio device on virtio-mmio):
	 * no ECAM in the e820 map, no MCFG, no host bridge in the DSDT; the
	 * fields up to intx_gsi are then unused.
	 */
	bool present;
	uint64_t ecam_base;
	unsigned ecam_end_bus;
	uint64_t mmio32_base, mmio32_size;
	uint64_t mmio64_base, mmio64_size;
	uint32_t intx_gsi[32]; /* INTA# GSI of each slot, 0: none */
	/* ACPI PCI hotplug of bus 0 (pci/hotplug.h): the DSDT describes the
	 * controller and the slots (only with a PCI bus). */
	bool hotplug;
	/* Slots whose device cannot be unplugged (the virtio-console): no
	 * _EJ0 for them in the DSDT. */
	uint32_t no_eject;
	/* virtio-mmio windows (--virtio-transport mmio): the DSDT lists
	 * them, and with cmdline=on so does the kernel command line. */
	struct arch_virtio_mmio {
		uint64_t addr, size;
		uint32_t gsi;
	} virtio_mmio[16];
	unsigned nvirtio_mmio;
};

/* Guest RAM layout, irqchip, timers: everything before vCPUs exist. */
int arch_vm_init(struct kvm *kvm, const struct vm_config *cfg);
/* CPUID, MSRs, FPU, LAPIC of one vCPU (not its boot registers). */
int arch_vcpu_init(struct kvm *kvm, int vcpu_fd, unsigned id, unsigned ncpus);
/*
 * Loads kernel + initramfs, writes boot tables (zero page or PVH start info,
 * e820, MP/ACPI) and sets the boot vCPU's registers for the kernel entry.
 */
int arch_load_guest(struct kvm *kvm, const struct vm_config *cfg,
		    const struct arch_pci_info *pci, int bsp_fd);
/* Logs a register dump of a vCPU at `level` (error for fatal exits, debug
 * for the where-was-it dump at the end of a --log-level debug run). */
void arch_vcpu_dump(int vcpu_fd, unsigned id, enum log_level level);

/*
 * After KVM_EXIT_INTERNAL_ERROR with suberror KVM_INTERNAL_ERROR_EMULATION:
 * carries out the instruction KVM's emulator could not, where the VMM can
 * (x86: INT3 outside real mode, delivered as the #BP trap it is). Returns 0
 * when done (the vCPU runs on; *pc is where the instruction was), -ENOTSUP
 * for an instruction the VMM does not handle either, another -errno when
 * the vCPU's state could not be read or written. A failure is still the
 * VM's end.
 */
int arch_complete_emulation(int vcpu_fd, const struct kvm_run *run, uint64_t *pc);
/* The failed instruction's bytes as hex ("cc 45 ..."), for the fatal log
 * line; -ENODATA when KVM did not report them. */
int arch_describe_emulation_failure(const struct kvm_run *run, char *buf, size_t len);

/*
 * Machine state (reboot now, snapshots later), opaque outside arch/.
 *
 * A vCPU's: general, special and debug registers, FPU, XCRs, LAPIC, every
 * MSR KVM lists (KVM_GET_MSR_INDEX_LIST) that it lets us read but the TSC
 * (it keeps counting, as across a warm reset), MP state and events.
 * Restoring it also turns off what the guest enabled through MSRs
 * (kvmclock, async page faults, steal time, PV EOI), so KVM stops writing
 * to guest memory, and drops pending exceptions, NMIs and SIPIs. Only
 * while the vCPU's thread is parked (vcpu_wait_paused) or not started.
 *
 * The VM's: the in-kernel PIC pair and I/O APIC, and the PIT when the VM
 * has one (--platform pit=off: none).
 *
 * save: 0 or -errno; restore: 0 or -errno, the state then half restored.
 * Failures are logged here (which ioctl, which vCPU). free: NULL ok.
 */
struct arch_vcpu_state;
struct arch_vm_state;
struct snap_buf;
struct snap_cur;

/*
 * ARCH_STATE_SNAPSHOT (vm.snapshot): the state goes on in another
 * process, so the save also takes the TSC and TSC_ADJUST MSRs, the XSAVE
 * area (KVM_GET_XSAVE, restored with KVM_SET_XSAVE after the FPU) and the
 * KVM clock (KVM_GET_CLOCK; arch_vm_clock_restore puts it back once the
 * vCPUs are restored). Where KVM refuses XSAVE or the clock, the state
 * goes without (logged at info level).
 */
#define ARCH_STATE_SNAPSHOT 1u

int arch_vcpu_state_save(struct kvm *kvm, int vcpu_fd, unsigned id, unsigned flags,
			 struct arch_vcpu_state **out);
int arch_vcpu_state_restore(int vcpu_fd, unsigned id, const struct arch_vcpu_state *st);
void arch_vcpu_state_free(struct arch_vcpu_state *st);

int arch_vm_state_save(struct kvm *kvm, const struct vm_config *cfg, unsigned flags,
		       struct arch_vm_state **out);
int arch_vm_state_restore(struct kvm *kvm, const struct arch_vm_state *st);
void arch_vm_state_free(struct arch_vm_state *st);
/* The KVM clock a snapshot kept (none: nothing to do). 0 or -errno. */
int arch_vm_clock_restore(struct kvm *kvm, const struct arch_vm_state *st);
/* Whether the state has the in-kernel PIT's (a snapshot's VM must match). */
bool arch_vm_state_has_pit(const struct arch_vm_state *st);

/*
 * Snapshot sections (snap/snap.h): each KVM structure as its bytes, led
 * by its size (another layout is refused). decode: 0, -EBADMSG (short,
 * long or inconsistent payload) or -ENOMEM; nothing is applied, the
 * *_restore functions do that.
 */
void arch_vcpu_state_encode(const struct arch_vcpu_state *st, struct snap_buf *b);
int arch_vcpu_state_decode(struct snap_cur *c, struct arch_vcpu_state **out);
void arch_vm_state_encode(const struct arch_vm_state *st, struct snap_buf *b);
int arch_vm_state_decode(struct snap_cur *c, struct arch_vm_state **out);

#endif
