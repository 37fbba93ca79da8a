/* SPDX-License-Identifier: MIT */
/*
 * The KVM layer: /dev/kvm, the VM file descriptor, guest RAM slots and
 * interrupt lines. Architecture-neutral; x86 specifics live in arch/x86.
 */
#ifndef CVMM_KVM_KVM_H
#define CVMM_KVM_KVM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"
#include "log.h"

/* The most memory slots cvmm tracks (KVM's own limit may be lower). */
#define KVM_MAX_SLOTS 512

struct kvm {
	int sys_fd;
	int vm_fd;
	int vcpu_mmap_size;
	int max_vcpus;
	/*
	 * Memory slots: guest RAM (kvm_map_region) and host memory that is
	 * not RAM (kvm_map_slot: a passthrough device's BAR). A set bit is a
	 * slot in use; numbers are reused once kvm_unmap_slot frees them.
	 * Any thread (BAR moves come from vCPUs): atomics, no lock.
	 */
	unsigned nr_slots; /* KVM_CAP_NR_MEMSLOTS, at most KVM_MAX_SLOTS */
	_Atomic uint64_t slot_used[KVM_MAX_SLOTS / 64];
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
	/* Pinned for a device's DMA (a VFIO passthrough device): its pages
	 * must stay where they are, so kvm_clear_ram writes zeroes over them. */
	bool ram_pinned;
	/* KVM_IRQ_LINE failures (kvm_irq_line_cb): guests drive those. */
	struct ratelimit rl;
	/*
	 * A restore (vm_restore): guest RAM comes from this file (a
	 * snapshot's memory.bin, not owned) instead of zeroes: private
	 * memory is a MAP_PRIVATE mapping of it (pages read on first touch,
	 * written ones copied), with ram_prefault populated at once
	 * (MAP_POPULATE); memfd RAM (shared, huge pages) gets its data
	 * copied in. ram_file: the mapping is the file's (kvm_clear_ram
	 * replaces it with anonymous memory).
	 */
	bool ram_restore;
	int ram_src_fd;
	bool ram_prefault;
	bool ram_file;
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
/*
 * Writes guest RAM to `fd` (a new, empty file), sparsely: pages that are
 * all zero stay holes. *written: the bytes of data written. 0 or -errno
 * (logged).
 */
int kvm_save_ram(struct kvm *kvm, int fd, uint64_t *written);
/* Zeroes guest RAM as at the first boot (a reboot): fresh pages, or the
 * same pages written over (huge pages, RAM pinned for DMA). Logs. */
int kvm_clear_ram(struct kvm *kvm);
/* Maps [hva, hva+size) at guest-physical `gpa` as guest RAM (a new memory
 * slot, and a region of kvm->mem); inside shared guest RAM the region also
 * records its place in the memfd. Build time; logs its errors. */
int kvm_map_region(struct kvm *kvm, uint64_t gpa, uint64_t size, void *hva);
/*
 * Host memory that is not guest RAM (a passthrough BAR's mmap) at `gpa`:
 * a memory slot of its own, not in kvm->mem (devices do not DMA there).
 * gpa, size and hva page-aligned. *slot is the handle kvm_unmap_slot
 * takes. 0, -ENOSPC (no free slot below KVM's limit) or the ioctl's
 * -errno, not logged: the caller names the device (pci.c, BAR moves).
 */
int kvm_map_slot(struct kvm *kvm, uint64_t gpa, uint64_t size, void *hva,
		 uint32_t *slot);
/* Deletes the slot (KVM_SET_USER_MEMORY_REGION with size 0) and frees its
 * number for reuse. 0 or -errno (not logged, as above). */
int kvm_unmap_slot(struct kvm *kvm, uint32_t slot);
/* Slots in use (tests, vm.info). */
unsigned kvm_slots_used(struct kvm *kvm);

int kvm_check_cap(struct kvm *kvm, long cap);

/* Sets a GSI line level (KVM_IRQ_LINE): 0 or -errno. */
int kvm_irq_line(struct kvm *kvm, uint32_t gsi, int level);
/* `struct irq_line` callback: opaque is the struct kvm. */
void kvm_irq_line_cb(void *opaque, uint32_t gsi, int level);

#endif
