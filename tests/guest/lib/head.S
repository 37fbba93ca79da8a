/* SPDX-License-Identifier: MIT */
/*
 * Entry points of a test-guest image (linked at 0x100000, see guest.ld):
 *
 *  - startup_64 at image offset 0x200: the Linux 64-bit boot protocol entry
 *    of the bzImage (long mode, identity paging, RSI = struct boot_params).
 *  - pvh_start32: the PVH entry (32-bit protected mode, paging off,
 *    EBX = struct hvm_start_info), advertised by a Xen ELF note.
 *  - ap_tramp_start..ap_tramp_end: the 16-bit AP start-up code, copied to
 *    AP_TRAMPOLINE_ADDR by the BSP; it goes to ap_start32 and on to long mode.
 *
 * Every path loads the runtime's own GDT (0x08 code64, 0x10 data,
 * 0x18 code32) and calls into C with a stack in .bss.
 */
#define SEL_CODE64 0x08
#define SEL_DATA 0x10
#define SEL_CODE32 0x18
#define X86_CR0_PE 0x00000001
#define X86_CR0_PG 0x80000000
#define X86_CR4_PAE 0x00000020
#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100
#define BOOT_LINUX64 1
#define BOOT_PVH 2

	.section .head.text, "ax"
	.code32
	.globl _head
_head:
	/* Offset 0: the 32-bit boot protocol entry, not supported: stop. */
	cli
1:	hlt
	jmp 1b

	.org 0x200
	.code64
	.globl startup_64
startup_64:
	cli
	cld
	movq %rsi, %r15			/* boot_params */
	leaq __bss_start(%rip), %rdi
	leaq __bss_end(%rip), %rcx
	subq %rdi, %rcx
	shrq $3, %rcx
	xorl %eax, %eax
	rep stosq
	leaq boot_stack_top(%rip), %rsp
	lgdt gdt_desc(%rip)
	pushq $SEL_CODE64
	leaq 1f(%rip), %rax
	pushq %rax
	lretq
1:	movl $SEL_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movq %r15, %rdi
	movl $BOOT_LINUX64, %esi
	call guest_start
	jmp halt_forever

	.text
/* ---------------- PVH: 32-bit protected mode, paging off ---------------- */
	.code32
	.globl pvh_start32
pvh_start32:
	cli
	cld
	movl %ebx, %ebp			/* hvm_start_info, kept in EBP */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	shrl $2, %ecx
	xorl %eax, %eax
	rep stosl
	lgdt gdt_desc
	ljmp $SEL_CODE32, $1f
1:	movl $SEL_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movl $boot_stack_top, %esp

	/* Identity-map the first GiB with 2 MiB pages (C rebuilds it all). */
	movl $pvh_pdpt, %eax
	orl $3, %eax
	movl %eax, pvh_pml4
	movl $pvh_pd, %eax
	orl $3, %eax
	movl %eax, pvh_pdpt
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $21, %eax
	orl $0x83, %eax			/* present, writable, 2 MiB page */
	movl %eax, pvh_pd(,%ecx,8)
	incl %ecx
	cmpl $512, %ecx
	jb 2b

	movl $pvh_pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $X86_CR4_PAE, %eax
	movl %eax, %cr4
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(X86_CR0_PG | X86_CR0_PE), %eax
	movl %eax, %cr0
	ljmp $SEL_CODE64, $pvh_start64

	.code64
pvh_start64:
	movl $SEL_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	leaq boot_stack_top(%rip), %rsp
	movl %ebp, %edi			/* zero-extends */
	movl $BOOT_PVH, %esi
	call guest_start
	jmp halt_forever

	.globl halt_forever
halt_forever:
	cli
	hlt
	jmp halt_forever

/* ---------------- AP start-up ---------------- */
	.code16
	.globl ap_tramp_start, ap_tramp_end
ap_tramp_start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	lgdtl ap_tramp_gdtr - ap_tramp_start
	movl %cr0, %eax
	orl $X86_CR0_PE, %eax
	movl %eax, %cr0
	ljmpl $SEL_CODE32, $ap_start32
	.balign 8
ap_tramp_gdtr:
	.word gdt_end - gdt - 1
	.long gdt
ap_tramp_end:

	.code32
ap_start32:
	movl $SEL_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movl %cr4, %eax
	orl $X86_CR4_PAE, %eax
	movl %eax, %cr4
	movl kernel_cr3, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(X86_CR0_PG | X86_CR0_PE), %eax
	movl %eax, %cr0
	ljmp $SEL_CODE64, $ap_start64

	.code64
ap_start64:
	movq ap_stack_top(%rip), %rsp
	call ap_main
	jmp halt_forever

/* ---------------- data ---------------- */
	.data
	.balign 16
	.globl gdt, gdt_end, gdt_desc
gdt:
	.quad 0
	.quad 0x00af9b000000ffff	/* 0x08: 64-bit code */
	.quad 0x00cf93000000ffff	/* 0x10: flat data */
	.quad 0x00cf9b000000ffff	/* 0x18: flat 32-bit code */
gdt_end:
	.balign 8
	.word 0, 0, 0
gdt_desc:
	.word gdt_end - gdt - 1
	.quad gdt

/* The PVH entry point note: name "Xen", type XEN_ELFNOTE_PHYS32_ENTRY. */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4				/* namesz */
	.long 4				/* descsz */
	.long 18			/* type: XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_start32

	.bss
	.balign 4096
pvh_pml4:
	.skip 4096
pvh_pdpt:
	.skip 4096
pvh_pd:
	.skip 4096
	.balign 16
	.globl boot_stack_top
boot_stack:
	.skip 16384
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
