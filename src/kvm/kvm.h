/* SPDX-License-Identifier: MIT */
/*
 * The KVM layer: /dev/kvm, the VM file descriptor, guest RAM slots and
 * interrupt lines. Architecture-neutral; x86 specifics live in arch/x86.
 */
#ifndef CVMM_KVM_KVM_H
#define CVMM_KVM_KVM_H

#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"
#include "log.h"

struct kvm {
	int sys_fd;
	int vm_fd;
	int vcpu_mmap_size;
	int max_vcpus;
	unsigned next_slot;
	struct guest_mem mem;
	/* The whole guest RAM is one host mapping; regions point into it. */
	void *ram;
	uint64_t ram_size;
	/* The memfd behind it (KVM_RAM_SHARED or KVM_RAM_HUGEPAGES), -1 for
	 * anonymous memory. Only MAP_SHARED RAM gives the regions of `mem`
	 * their fd: what a device in another process maps. */
	int ram_fd;
	bool ram_shared;
	bool ram_huge; /* KVM_RAM_HUGEPAGES */
	/* KVM_IRQ_LINE failures (kvm_irq_line_cb): guests drive those. */
	struct ratelimit rl;
	/* Write end of the pipe the teardown helper waits on; -1 if none. */
	int teardown_fd;
};

/* Opens /dev/kvm, checks the API version and every capability cvmm uses. */
int kvm_open(struct kvm *kvm);
int kvm_create_vm(struct kvm *kvm);
/*
 * Hands the VM's last reference to a helper process, so that the kernel
 * tears the VM down there, after cvmm's exit status is out: the teardown
 * (the in-kernel PIT's above all) waits for RCU grace periods, 16-20 ms
 * of wall time, and the last close of a file runs before the exiting
 * process becomes a zombie. The helper holds only the VM fd (all other
 * fds closed, SECCOMP_MODE_STRICT: read and exit), waits for EOF on a
 * pipe whose write end cvmm holds and exits, which closes the VM fd.
 * Called once the vCPUs run (cvmm's main thread would wait for the guest
 * anyway, so a fork that costs it its CPU on a busy host costs nothing)
 * and before the main thread's seccomp filter, which allows no fork.
 * Guest RAM is MADV_DONTFORK; every other fd is closed in the child at
 * once. Best effort: without a helper cvmm tears the VM down itself as
 * before. Logs at debug level.
 */
void kvm_defer_teardown(struct kvm *kvm);
/* Closes the VM (the helper, if any, then drops the last reference). */
void kvm_close(struct kvm *kvm);

/* How guest RAM is backed (kvm_alloc_ram). */
enum kvm_ram_flags {
	/* A memfd mapped MAP_SHARED (--memory shared=on): device backends in
	 * other processes (vfio-user, vhost-user) map it by fd + offset. */
	KVM_RAM_SHARED = 1u << 0,
	/* A memfd of huge pages (MFD_HUGETLB, the default size), reserved
	 * when mapped: too few free huge pages fail here, not later. */
	KVM_RAM_HUGEPAGES = 1u << 1,
};

/*
 * Allocates `size` bytes to back guest RAM: private anonymous memory, or
 * with `flags` (enum kvm_ram_flags) a memfd. Logs what fails.
 */
int kvm_alloc_ram(struct kvm *kvm, uint64_t size, unsigned flags);
/* Zeroes guest RAM as at the first boot (a reboot): fresh pages. Logs. */
int kvm_clear_ram(struct kvm *kvm);
/* Maps [hva, hva+size) at guest-physical `gpa` (new memory slot); inside
 * shared guest RAM the region also records its place in the memfd. */
int kvm_map_region(struct kvm *kvm, uint64_t gpa, uint64_t size, void *hva);

int kvm_check_cap(struct kvm *kvm, long cap);

/* Sets a GSI line level (KVM_IRQ_LINE): 0 or -errno. */
int kvm_irq_line(struct kvm *kvm, uint32_t gsi, int level);
/* `struct irq_line` callback: opaque is the struct kvm. */
void kvm_irq_line_cb(void *opaque, uint32_t gsi, int level);

#endif
