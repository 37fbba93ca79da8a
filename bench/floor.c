/* SPDX-License-Identifier: MIT */
/*
 * floor: the least a KVM VMM can do, as the floor for cvmm's numbers.
 * One VM, 2 MiB of RAM, one vCPU, no irqchip, no devices, a KVM_RUN loop
 * that handles PIO/MMIO exits inline. A write to port 0xf4 ends it with
 * the written value as exit status (cvmm's --debug-exit convention).
 *
 *   floor [-n N] [-p PORT]         a 14-byte real-mode blob at 0x1000:
 *                                  N x `out %al,%dx` to PORT (0x2f0), then
 *                                  `out %al,$0xf4`
 *   floor -k BZIMAGE [-c CMDLINE] [-v]
 *                                  a test-guest bzImage entered at its 64-bit
 *                                  entry, as cvmm does (zero page, GDT and
 *                                  identity page tables built here); -v
 *                                  copies COM1 writes to stdout
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define RAM_SIZE (2u << 20)
#define ZP 0x7000u	/* zero page */
#define CMDLINE 0x20000u
#define PML4 0x9000u	/* PDPT 0xa000, PD 0xb000: first GiB, 2 MiB pages */
#define GDT 0x500u
#define KERNEL 0x100000u

static void die(const char *what)
{
	perror(what);
	exit(125);
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void load_bzimage(uint8_t *ram, const char *path, const char *cmdline,
			 struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	static uint8_t img[RAM_SIZE];
	FILE *f = fopen(path, "rb");
	if (!f)
		die(path);
	size_t len = fread(img, 1, sizeof(img), f);
	fclose(f);
	size_t off = (size_t)((img[0x1f1] ? img[0x1f1] : 4) + 1) * 512;
	uint32_t init_size;
	memcpy(&init_size, img + 0x260, 4);
	if (len <= off || memcmp(img + 0x202, "HdrS", 4) || !(img[0x236] & 1) ||
	    KERNEL + init_size > RAM_SIZE || strlen(cmdline) > 2047) {
		fprintf(stderr, "%s: not a 64-bit bzImage that fits in 2 MiB\n", path);
		exit(125);
	}
	memcpy(ram + KERNEL, img + off, len - off);

	uint8_t *zp = ram + ZP; /* boot_params: setup header + cmdline + e820 */
	memcpy(zp + 0x1f1, img + 0x1f1, 0x202 + img[0x201] - 0x1f1);
	zp[0x210] = 0xff; /* type_of_loader: undefined */
	strcpy((char *)ram + CMDLINE, cmdline);
	put32(zp + 0x228, CMDLINE);
	put64(zp + 0x2d0, 0), put64(zp + 0x2d8, 0x9fc00), put32(zp + 0x2e0, 1);
	put64(zp + 0x2e4, KERNEL), put64(zp + 0x2ec, RAM_SIZE - KERNEL), put32(zp + 0x2f4, 1);
	zp[0x1e8] = 2;

	put64(ram + GDT + 8, 0x00af9b000000ffffull);	/* 0x08: 64-bit code */
	put64(ram + GDT + 16, 0x00cf93000000ffffull);	/* 0x10: data */
	put64(ram + PML4, (PML4 + 0x1000) | 3);
	put64(ram + PML4 + 0x1000, (PML4 + 0x2000) | 3);
	for (uint64_t i = 0; i < 512; i++)
		put64(ram + PML4 + 0x2000 + 8 * i, (i << 21) | 0x83);

	struct kvm_segment code = { .base = 0, .limit = 0xffffffff, .selector = 8,
		.type = 11, .present = 1, .s = 1, .l = 1, .g = 1 };
	struct kvm_segment data = code;
	data.selector = 0x10, data.type = 3, data.l = 0, data.db = 1;
	sregs->cs = code;
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->gdt.base = GDT, sregs->gdt.limit = 23;
	sregs->cr3 = PML4;
	sregs->cr4 = 0x20;			/* PAE */
	sregs->cr0 = 0x80000011;		/* PG | ET | PE */
	sregs->efer = 0x500;			/* LME | LMA */
	uint32_t code32_start;
	memcpy(&code32_start, zp + 0x214, 4);
	regs->rip = code32_start + 0x200;
	regs->rsi = ZP;
	regs->rsp = 0x8ff0;
}

int main(int argc, char **argv)
{
	const char *kernel = NULL, *cmdline = "";
	unsigned long n = 0, port = 0x2f0;
	int opt, verbose = 0;

	while ((opt = getopt(argc, argv, "n:p:k:c:v")) != -1) {
		switch (opt) {
		case 'n': n = strtoul(optarg, NULL, 0); break;
		case 'p': port = strtoul(optarg, NULL, 0); break;
		case 'k': kernel = optarg; break;
		case 'c': cmdline = optarg; break;
		case 'v': verbose = 1; break;
		default:
			fprintf(stderr, "usage: floor [-n N] [-p PORT] | -k BZIMAGE [-c CMDLINE] [-v]\n");
			return 125;
		}
	}

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
		die("KVM_SET_TSS_ADDR");
	uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED)
		die("mmap");
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE,
		.userspace_addr = (uintptr_t)ram,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");

	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rflags = 2 };
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	if (kernel) {
		load_bzimage(ram, kernel, cmdline, &regs, &sregs);
	} else {
		/* test ecx,ecx; jz 1f; 2: out %al,%dx; dec ecx; jnz 2b; 1: out %al,$0xf4; hlt */
		static const uint8_t blob[] = { 0x66, 0x85, 0xc9, 0x74, 0x05, 0xee, 0x66, 0x49,
						0x75, 0xfb, 0xe6, 0xf4, 0xf4 };
		memcpy(ram + 0x1000, blob, sizeof(blob));
		sregs.cs.base = 0, sregs.cs.selector = 0;
		regs.rip = 0x1000, regs.rcx = n, regs.rdx = port, regs.rax = 0;
	}
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		die("KVM_SET_SREGS");
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_REGS");

	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("KVM_RUN");
		}
		uint8_t *io = (uint8_t *)run + run->io.data_offset; /* KVM_EXIT_IO */
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (run->io.direction == KVM_EXIT_IO_OUT && run->io.port == 0xf4)
				return io[0];
			if (run->io.direction == KVM_EXIT_IO_IN)
				memset(io, 0xff, (size_t)run->io.size * run->io.count);
			else if (verbose && run->io.port == 0x3f8 &&
				 write(STDOUT_FILENO, io, (size_t)run->io.count) < 0)
				die("write");	/* unbuffered: bench/firstout times it */
			break;
		case KVM_EXIT_MMIO:
			if (!run->mmio.is_write)
				memset(run->mmio.data, 0xff, run->mmio.len);
			break;
		default:
			fprintf(stderr, "floor: exit reason %u at rip %llx\n", run->exit_reason,
				ioctl(vcpu, KVM_GET_REGS, &regs) ? 0ull : regs.rip);
			return 126;
		}
	}
}
