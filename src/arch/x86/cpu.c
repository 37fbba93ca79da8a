/* SPDX-License-Identifier: MIT */
/*
 * Per-vCPU x86 state: CPUID with topology, MSRs, FPU, LAPIC LINT pins, and
 * the register dump for fatal exits.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "log.h"

#define CPUID_MAX_ENTRIES 256

static unsigned bits_for(unsigned n)
{
	unsigned b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

void x86_cpuid_patch(struct kvm_cpuid_entry2 *e, unsigned nent, unsigned id,
		     unsigned ncpus)
{
	unsigned core_bits = bits_for(ncpus);
	for (unsigned i = 0; i < nent; i++, e++) {
		switch (e->function) {
		case 0x1:
			/* APIC id, logical processor count, HTT, hypervisor. */
			e->ebx = (e->ebx & 0x0000ffffu) | (id << 24) |
				 ((ncpus & 0xff) << 16);
			if (ncpus > 1)
				e->edx |= 1u << 28;
			e->ecx |= 1u << 31;
			break;
		case 0xb:
		case 0x1f:
			/* x2APIC topology: one thread per core, ncpus cores
			 * (0x1F, where the host has it, says the same: no
			 * module, tile or die level). */
			e->edx = id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = (1u << 8) | 0;
			} else if (e->index == 1) {
				e->eax = core_bits;
				e->ebx = ncpus;
				e->ecx = (2u << 8) | 1;
			} else {
				e->eax = 0;
				e->ebx = 0;
				e->ecx = e->index & 0xff;
			}
			break;
		case 0x4:
			/* Deterministic cache parameters: cores per package. */
			e->eax = (e->eax & 0x03ffffffu) |
				 ((ncpus > 64 ? 63u : ncpus - 1) << 26);
			break;
		case 0x8000001e:
			/* AMD (TOPOEXT): extended APIC id; compute unit id
			 * = core id = id, one thread per unit; node 0 of one
			 * node. KVM returns zeros here, which would give every
			 * vCPU core id 0: SMT siblings of each other. */
			e->eax = id;
			e->ebx = id & 0xff;
			e->ecx = 0;
			e->edx = 0;
			break;
		case 0x80000008:
			/* AMD: number of cores - 1, APIC id size. */
			e->ecx = (e->ecx & ~0xf0ffu) | ((ncpus - 1) & 0xff) |
				 (core_bits << 12);
			break;
		default:
			break;
		}
	}
}

/*
 * Some hosts report leaf 0xB with the SMT level only; the core level (and
 * the invalid level that ends the list) must exist for the guest to see
 * its vCPUs as cores of one package.
 */
void x86_cpuid_add_topology_leaves(struct kvm_cpuid_entry2 *e, uint32_t *nent,
				   uint32_t max)
{
	static const uint32_t leaves[] = { 0xb, 0x1f };
	for (unsigned l = 0; l < 2; l++) {
		bool has_leaf = false, has[3] = { false, false, false };
		for (uint32_t i = 0; i < *nent; i++) {
			if (e[i].function != leaves[l])
				continue;
			has_leaf = true;
			if (e[i].index < 3)
				has[e[i].index] = true;
		}
		if (!has_leaf)
			continue;
		for (uint32_t sub = 0; sub < 3; sub++) {
			if (has[sub] || *nent >= max)
				continue;
			e[*nent] = (struct kvm_cpuid_entry2){
				.function = leaves[l],
				.index = sub,
				.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
			};
			(*nent)++;
		}
	}
}

static struct kvm_cpuid_entry2 *find_leaf(struct kvm_cpuid_entry2 *e,
					  uint32_t nent, uint32_t fn,
					  uint32_t index)
{
	for (uint32_t i = 0; i < nent; i++)
		if (e[i].function == fn && e[i].index == index)
			return &e[i];
	return NULL;
}

/*
 * KVM's paravirtual features (leaf 0x40000001 EAX) that need nothing from
 * cvmm: KVM implements them in the kernel (kvmclock, async page faults,
 * steal time, PV EOI/unhalt/TLB flush/IPIs/yield, poll control) or they
 * promise nothing (NOP_IO_DELAY, CLOCKSOURCE_STABLE_BIT, which KVM backs
 * with its master clock). Left out: MSI_EXT_DEST_ID (15; cvmm's MSI
 * routing takes 8-bit destinations), HC_MAP_GPA_RANGE (16; a hypercall
 * KVM hands to the VMM, which cvmm does not take) and MIGRATION_CONTROL
 * (17), and every hint in EDX (REALTIME promises pinned, never preempted
 * vCPUs).
 */
#define KVM_PV_FEATURES_OK                                                     \
	((1u << 0) | (1u << 1) | (1u << 3) | (1u << 4) | (1u << 5) |          \
	 (1u << 6) | (1u << 7) | (1u << 9) | (1u << 10) | (1u << 11) |        \
	 (1u << 12) | (1u << 13) | (1u << 14) | (1u << 24))

void x86_cpuid_vm_patch(struct kvm_cpuid_entry2 *e, uint32_t *nent,
			uint32_t max, bool tsc_deadline)
{
	struct kvm_cpuid_entry2 *l;

	/* Leaf 1: the TSC-deadline timer is KVM's LAPIC emulation; KVM
	 * does not report it in KVM_GET_SUPPORTED_CPUID (the VMM sets it
	 * when KVM_CAP_TSC_DEADLINE_TIMER says so). */
	l = find_leaf(e, *nent, 0x1, 0);
	if (l && tsc_deadline)
		l->ecx |= 1u << 24;

	/* KVM's hypervisor leaves: signature and the features above. A KVM
	 * that did not list them gets the signature and no feature. */
	l = find_leaf(e, *nent, KVM_CPUID_SIGNATURE_LEAF, 0);
	if (!l && *nent < max) {
		l = &e[(*nent)++];
		*l = (struct kvm_cpuid_entry2){ .function = KVM_CPUID_SIGNATURE_LEAF };
	}
	if (l) {
		l->eax = KVM_CPUID_FEATURES_LEAF;
		l->ebx = 0x4b4d564b; /* "KVMKVMKVM\0\0\0" */
		l->ecx = 0x564b4d56;
		l->edx = 0x0000004d;
	}
	l = find_leaf(e, *nent, KVM_CPUID_FEATURES_LEAF, 0);
	if (!l && *nent < max) {
		l = &e[(*nent)++];
		*l = (struct kvm_cpuid_entry2){ .function = KVM_CPUID_FEATURES_LEAF };
	}
	if (l) {
		l->eax &= KVM_PV_FEATURES_OK;
		l->ebx = l->ecx = l->edx = 0;
	}

	/* XSAVE (leaf 0xD): every user feature that subleaf 0 names must
	 * have its own subleaf with a size, or Linux warns ("XSAVE
	 * consistency problem") and dumps the leaves; drop the bits of
	 * features KVM lists without one. */
	l = find_leaf(e, *nent, 0xd, 0);
	if (l) {
		for (uint32_t f = 2; f < 64; f++) {
			uint32_t *word = f < 32 ? &l->eax : &l->edx;
			uint32_t bit = 1u << (f & 31);
			if (!(*word & bit))
				continue;
			struct kvm_cpuid_entry2 *sub = find_leaf(e, *nent, 0xd, f);
			if (!sub || sub->eax == 0)
				*word &= ~bit;
		}
	}
}

static int setup_cpuid(struct kvm *kvm, int fd, unsigned id, unsigned ncpus)
{
	size_t sz = sizeof(struct kvm_cpuid2) +
		    CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *cpuid = calloc(1, sz);
	if (!cpuid)
		return -ENOMEM;
	cpuid->nent = CPUID_MAX_ENTRIES;
	int ret = 0;
	if (ioctl(kvm->sys_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
		ret = -errno;
		log_error("KVM_GET_SUPPORTED_CPUID: %s", strerror(-ret));
		goto out;
	}
	x86_cpuid_add_topology_leaves(cpuid->entries, &cpuid->nent, CPUID_MAX_ENTRIES);
	x86_cpuid_vm_patch(cpuid->entries, &cpuid->nent, CPUID_MAX_ENTRIES,
			   kvm_check_cap(kvm, KVM_CAP_TSC_DEADLINE_TIMER) > 0);
	x86_cpuid_patch(cpuid->entries, cpuid->nent, id, ncpus);
	if (ioctl(fd, KVM_SET_CPUID2, cpuid) < 0) {
		ret = -errno;
		log_error("KVM_SET_CPUID2 (vCPU %u): %s", id, strerror(-ret));
	}
out:
	free(cpuid);
	return ret;
}

#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

static int setup_msrs(int fd, unsigned id)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} boot_msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 },
		{ MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 },
		{ MSR_STAR, 0 },
		{ MSR_CSTAR, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		{ MSR_SYSCALL_MASK, 0 },
		{ MSR_LSTAR, 0 },
		{ MSR_IA32_TSC, 0 },
		{ MSR_IA32_MISC_ENABLE, 1 }, /* fast strings */
		{ MSR_MTRR_DEF_TYPE, (1u << 11) | 6 }, /* MTRRs on, default WB */
	};
	const unsigned n = sizeof(boot_msrs) / sizeof(boot_msrs[0]);
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[sizeof(boot_msrs) / sizeof(boot_msrs[0])];
	} msrs;
	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = n;
	for (unsigned i = 0; i < n; i++) {
		msrs.e[i].index = boot_msrs[i].index;
		msrs.e[i].data = boot_msrs[i].data;
	}
	int r = ioctl(fd, KVM_SET_MSRS, &msrs);
	if (r < 0) {
		int err = errno;
		log_error("KVM_SET_MSRS (vCPU %u): %s", id, strerror(err));
		return -err;
	}
	if ((unsigned)r < n)
		/* Not fatal: the guest programs what it uses. */
		log_warn("vCPU %u: KVM refused MSR 0x%x", id, msrs.e[r].index);
	return 0;
}

static int setup_fpu(int fd)
{
	struct kvm_fpu fpu;
	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	return 0;
}

#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

static void lapic_set_lvt(struct kvm_lapic_state *s, unsigned reg, uint32_t mode)
{
	uint32_t v;
	memcpy(&v, &s->regs[reg], 4);
	v = (v & ~0x700u) | (mode << 8);
	memcpy(&s->regs[reg], &v, 4);
}

static int setup_lapic(int fd)
{
	struct kvm_lapic_state s;
	if (ioctl(fd, KVM_GET_LAPIC, &s) < 0)
		return -errno;
	/* Virtual-wire mode: the PIC through LINT0, NMIs through LINT1. */
	lapic_set_lvt(&s, APIC_LVT_LINT0, APIC_MODE_EXTINT);
	lapic_set_lvt(&s, APIC_LVT_LINT1, APIC_MODE_NMI);
	if (ioctl(fd, KVM_SET_LAPIC, &s) < 0)
		return -errno;
	return 0;
}

int arch_vcpu_init(struct kvm *kvm, int fd, unsigned id, unsigned ncpus)
{
	int ret = setup_cpuid(kvm, fd, id, ncpus);
	if (ret)
		return ret;
	ret = setup_msrs(fd, id);
	if (ret)
		return ret;
	ret = setup_fpu(fd);
	if (ret) {
		log_error("KVM_SET_FPU (vCPU %u): %s", id, strerror(-ret));
		return ret;
	}
	ret = setup_lapic(fd);
	if (ret)
		log_error("LAPIC setup (vCPU %u): %s", id, strerror(-ret));
	return ret;
}

void arch_vcpu_dump(int fd, unsigned id, enum log_level level)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	if (ioctl(fd, KVM_GET_REGS, &r) < 0 || ioctl(fd, KVM_GET_SREGS, &s) < 0) {
		log_msg(level, "vCPU %u: cannot read registers: %s", id, strerror(errno));
		return;
	}
	log_msg(level, "vCPU %u registers:", id);
	log_msg(level, " rip %016llx rflags %016llx rsp %016llx rbp %016llx",
		  r.rip, r.rflags, r.rsp, r.rbp);
	log_msg(level, " rax %016llx rbx %016llx rcx %016llx rdx %016llx",
		  r.rax, r.rbx, r.rcx, r.rdx);
	log_msg(level, " rsi %016llx rdi %016llx r8  %016llx r9  %016llx",
		  r.rsi, r.rdi, r.r8, r.r9);
	log_msg(level, " r10 %016llx r11 %016llx r12 %016llx r13 %016llx",
		  r.r10, r.r11, r.r12, r.r13);
	log_msg(level, " r14 %016llx r15 %016llx", r.r14, r.r15);
	log_msg(level, " cs %04x base %llx l %u db %u  ss %04x  ds %04x",
		  s.cs.selector, s.cs.base, s.cs.l, s.cs.db, s.ss.selector,
		  s.ds.selector);
	log_msg(level, " cr0 %llx cr2 %llx cr3 %llx cr4 %llx efer %llx",
		  s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
	log_msg(level, " gdt %llx/%x idt %llx/%x", s.gdt.base, s.gdt.limit,
		  s.idt.base, s.idt.limit);
}
