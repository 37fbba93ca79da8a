/* SPDX-License-Identifier: MIT */
/*
 * The KVM layer: /dev/kvm, the VM file descriptor, guest RAM slots and
 * interrupt lines. Architecture-neutral; x86 specifics live in arch/x86.
 */
#ifndef CVMM_KVM_KVM_H
#define CVMM_KVM_KVM_H

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
	/* Interrupt line, irqfd and ioeventfd failures: guests drive those. */
	struct ratelimit rl;
};

/* Opens /dev/kvm, checks the API version and every capability cvmm uses. */
int kvm_open(struct kvm *kvm);
int kvm_create_vm(struct kvm *kvm);
void kvm_close(struct kvm *kvm);

/* Allocates `size` bytes of anonymous memory to back guest RAM. */
int kvm_alloc_ram(struct kvm *kvm, uint64_t size);
/* Maps [hva, hva+size) at guest-physical `gpa` (new memory slot). */
int kvm_map_region(struct kvm *kvm, uint64_t gpa, uint64_t size, void *hva);

int kvm_check_cap(struct kvm *kvm, long cap);

/* Sets a GSI line level (KVM_IRQ_LINE): 0 or -errno. */
int kvm_irq_line(struct kvm *kvm, uint32_t gsi, int level);
/* `struct irq_line` callback: opaque is the struct kvm. */
void kvm_irq_line_cb(void *opaque, uint32_t gsi, int level);

#endif
