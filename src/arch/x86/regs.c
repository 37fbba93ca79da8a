/* SPDX-License-Identifier: MIT */
#include "arch/x86/regs.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/layout.h"
#include "log.h"

#define CR0_PE (1ULL << 0)
#define CR0_ET (1ULL << 4)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define PTE_PRESENT (1ULL << 0)
#define PTE_RW (1ULL << 1)
#define PTE_PS (1ULL << 7)

/* A GDT descriptor from its parts (Intel SDM vol. 3, 3.4.5). */
static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) |
	       ((uint64_t)(flags & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) |
	       ((uint64_t)(base & 0x00ffffffu) << 16) | (uint64_t)(limit & 0xffffu);
}

/* The hidden part of a segment register, matching its GDT entry. */
static struct kvm_segment segment_from(uint64_t e, uint16_t selector)
{
	return (struct kvm_segment){
		.base = (uint32_t)(((e >> 16) & 0xffffff) | ((e >> 32) & 0xff000000)),
		.limit = (uint32_t)((e & 0xffff) | ((e >> 32) & 0xf0000)),
		.selector = selector,
		.type = (uint8_t)((e >> 40) & 0xf),
		.present = (uint8_t)((e >> 47) & 1),
		.dpl = (uint8_t)((e >> 45) & 3),
		.db = (uint8_t)((e >> 54) & 1),
		.s = (uint8_t)((e >> 44) & 1),
		.l = (uint8_t)((e >> 53) & 1),
		.g = (uint8_t)((e >> 55) & 1),
	};
}

/* 4 KiB granular limit: the segment covers 4 GiB. */
static struct kvm_segment segment_scaled(uint64_t e, uint16_t selector)
{
	struct kvm_segment s = segment_from(e, selector);
	if (s.g)
		s.limit = (s.limit << 12) | 0xfff;
	return s;
}

/*
 * Writes a 4-entry GDT at GDT_ADDR with code at `code_sel`, data at
 * `code_sel + 8` and a TSS after them, and loads the segment registers.
 */
static int setup_segments(const struct guest_mem *mem, struct kvm_sregs *s,
			  uint64_t code, uint16_t code_sel)
{
	const uint64_t data = gdt_entry(0xc093, 0, 0xfffff);
	const uint64_t tss = gdt_entry(0x008b, 0, 0xfffff);
	uint64_t gdt[5] = { 0 };
	unsigned ci = code_sel / 8;
	gdt[ci] = code;
	gdt[ci + 1] = data;
	gdt[ci + 2] = tss;
	if (guest_mem_write(mem, GDT_ADDR, gdt, sizeof(gdt)))
		return -EFAULT;
	/* An empty IDT: the guest installs its own before enabling interrupts. */
	uint64_t idt = 0;
	if (guest_mem_write(mem, IDT_ADDR, &idt, sizeof(idt)))
		return -EFAULT;
	s->gdt.base = GDT_ADDR;
	s->gdt.limit = sizeof(gdt) - 1;
	s->idt.base = IDT_ADDR;
	s->idt.limit = sizeof(idt) - 1;
	s->cs = segment_scaled(code, code_sel);
	s->ds = s->es = s->fs = s->gs = s->ss =
		segment_scaled(data, (uint16_t)(code_sel + 8));
	s->tr = segment_from(tss, (uint16_t)(code_sel + 16));
	return 0;
}

/* PML4 -> one PDPT -> four PDs of 2 MiB pages: identity map of 0..4 GiB. */
static int setup_page_tables(const struct guest_mem *mem)
{
	uint64_t *pml4 = guest_mem_ptr(mem, PML4_ADDR, 4096);
	uint64_t *pdpt = guest_mem_ptr(mem, PDPT_ADDR, 4096);
	uint64_t *pd = guest_mem_ptr(mem, PD_ADDR, 4 * 4096);
	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = PDPT_ADDR | PTE_PRESENT | PTE_RW;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (PD_ADDR + i * 4096) | PTE_PRESENT | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_PRESENT | PTE_RW | PTE_PS;
	return 0;
}

static int set_regs(int fd, const struct kvm_sregs *s, const struct kvm_regs *r)
{
	if (ioctl(fd, KVM_SET_SREGS, s) < 0) {
		int err = errno;
		log_error("KVM_SET_SREGS: %s", strerror(err));
		return -err;
	}
	if (ioctl(fd, KVM_SET_REGS, r) < 0) {
		int err = errno;
		log_error("KVM_SET_REGS: %s", strerror(err));
		return -err;
	}
	return 0;
}

int x86_boot_long_mode(const struct guest_mem *mem, int fd, uint64_t entry,
		       uint64_t zero_page)
{
	struct kvm_sregs s;
	if (ioctl(fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	int ret = setup_segments(mem, &s, gdt_entry(0xa09b, 0, 0xfffff), 0x10);
	ret = ret ?: setup_page_tables(mem);
	if (ret)
		return ret;
	s.cr3 = PML4_ADDR;
	s.cr4 |= CR4_PAE;
	s.cr0 |= CR0_PE | CR0_ET | CR0_PG;
	s.efer |= EFER_LME | EFER_LMA;
	struct kvm_regs r = {
		.rflags = 2,
		.rip = entry,
		.rsi = zero_page,
		.rsp = BOOT_STACK_ADDR,
		.rbp = BOOT_STACK_ADDR,
	};
	return set_regs(fd, &s, &r);
}

int x86_boot_pvh(const struct guest_mem *mem, int fd, uint64_t entry,
		 uint64_t start_info)
{
	struct kvm_sregs s;
	if (ioctl(fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	int ret = setup_segments(mem, &s, gdt_entry(0xc09b, 0, 0xfffff), 0x08);
	if (ret)
		return ret;
	s.cr0 = CR0_PE | CR0_ET;
	s.cr4 = 0;
	s.efer = 0;
	struct kvm_regs r = {
		.rflags = 2,
		.rip = entry,
		.rbx = start_info,
	};
	return set_regs(fd, &s, &r);
}
