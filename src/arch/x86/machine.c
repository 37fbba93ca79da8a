/* SPDX-License-Identifier: MIT */
/*
 * The x86 machine: RAM around the 32-bit PCI hole, the in-kernel irqchip and
 * PIT (unless --platform pit=off), and loading a guest through the Linux boot protocol or PVH.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/dsdt.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "arch/x86/regs.h"
#include "log.h"

int arch_vm_init(struct kvm *kvm, const struct vm_config *cfg)
{
	struct ram_layout l;
	x86_ram_layout(cfg->mem_size, &l);
	int ret = kvm_alloc_ram(kvm, cfg->mem_size);
	ret = ret ?: kvm_map_region(kvm, 0, l.low_size, kvm->ram);
	if (!ret && l.high_size)
		ret = kvm_map_region(kvm, HIGH_RAM_START, l.high_size,
				     (uint8_t *)kvm->ram + l.low_size);
	if (ret)
		return ret;

	if (ioctl(kvm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0) {
		log_error("KVM_SET_TSS_ADDR: %s", strerror(errno));
		return -errno;
	}
	uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
	if (ioctl(kvm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
		log_error("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(kvm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		log_error("KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -errno;
	}
	/* --platform pit=off: no i8254 (ports 0x40-0x43 and 0x61 then read as
	 * nothing is there); its teardown is most of a VM fd's close. */
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (cfg->pit && ioctl(kvm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		log_error("KVM_CREATE_PIT2: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* A read-only mapping of a whole file (kernel, initramfs). */
struct mapped_file {
	const uint8_t *data;
	size_t len;
};

static int map_file(const char *what, const char *path, struct mapped_file *f)
{
	f->data = NULL;
	f->len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		log_error("%s %s: %s", what, path, strerror(err));
		return -err;
	}
	struct stat st;
	int ret = 0;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
	} else if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
	} else if (st.st_size == 0) {
		ret = -ENODATA;
	} else {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			ret = -errno;
		} else {
			f->data = p;
			f->len = (size_t)st.st_size;
		}
	}
	close(fd);
	if (ret)
		log_error("%s %s: %s", what, path,
			  ret == -EINVAL ? "not a regular file" :
			  ret == -ENODATA ? "empty file" : strerror(-ret));
	return ret;
}

static void unmap_file(struct mapped_file *f)
{
	if (f->data)
		munmap((void *)f->data, f->len);
	f->data = NULL;
}

int arch_load_guest(struct kvm *kvm, const struct vm_config *cfg,
		    const struct arch_pci_info *pci, int bsp_fd)
{
	const struct guest_mem *mem = &kvm->mem;
	struct mapped_file kernel, initrd = { 0 };
	struct kernel_info ki;
	struct e820_map e820;
	struct ram_layout l;
	char err[256];
	int ret;

	x86_ram_layout(cfg->mem_size, &l);
	ret = map_file("kernel", cfg->kernel, &kernel);
	if (ret)
		return ret;
	ret = kernel_parse(kernel.data, kernel.len, &ki, err, sizeof(err));
	if (ret) {
		log_error("kernel %s: %s", cfg->kernel, err);
		goto out;
	}
	log_info("kernel %s: %s, entry 0x%llx, loads at 0x%llx-0x%llx",
		 cfg->kernel, kernel_format_name(ki.format),
		 (unsigned long long)ki.entry, (unsigned long long)ki.start,
		 (unsigned long long)ki.end);
	if (ki.end > l.low_size) {
		log_error("kernel %s needs memory up to 0x%llx; --memory is too small",
			  cfg->kernel, (unsigned long long)ki.end);
		ret = -ENOMEM;
		goto out;
	}
	ret = kernel_load(mem, kernel.data, kernel.len, &ki);
	if (ret) {
		log_error("kernel %s: cannot place it in guest memory", cfg->kernel);
		goto out;
	}

	struct boot_setup bs = { .cmdline_addr = CMDLINE_ADDR, .e820 = &e820 };
	size_t cmdlen = strlen(cfg->cmdline);
	if (cmdlen > ki.cmdline_max) {
		log_error("--cmdline: %zu bytes, the kernel accepts at most %u",
			  cmdlen, ki.cmdline_max);
		ret = -EINVAL;
		goto out;
	}
	bs.cmdline_len = (uint32_t)cmdlen;
	ret = guest_mem_write(mem, CMDLINE_ADDR, cfg->cmdline, cmdlen + 1);
	if (ret)
		goto out;

	if (cfg->initramfs) {
		ret = map_file("initramfs", cfg->initramfs, &initrd);
		if (ret)
			goto out;
		ret = initrd_place(&ki, l.low_size, initrd.len, &bs.initrd_addr);
		if (ret) {
			log_error("initramfs %s (%zu bytes) does not fit in guest memory "
				  "below 0x%llx above the kernel",
				  cfg->initramfs, initrd.len,
				  (unsigned long long)ki.initrd_addr_max);
			goto out;
		}
		bs.initrd_size = initrd.len;
		ret = guest_mem_write(mem, bs.initrd_addr, initrd.data, initrd.len);
		if (ret)
			goto out;
	}

	ret = e820_build(&e820, cfg->mem_size);
	if (ret) {
		log_error("cannot build the e820 map: %s", strerror(-ret));
		goto out;
	}
	ret = mptable_build(mem, cfg->cpus);
	if (ret) {
		log_error("cannot build the MP table: %s", strerror(-ret));
		goto out;
	}
	/* The DSDT describes the PCI root (windows, INTx routing) and the
	 * legacy devices; every PCI device is in place by now. */
	struct dsdt_config dc = {
		.ecam_base = pci->ecam_base,
		.ecam_end_bus = pci->ecam_end_bus,
		.mmio32_base = pci->mmio32_base,
		.mmio32_size = pci->mmio32_size,
		.mmio64_base = pci->mmio64_base,
		.mmio64_size = pci->mmio64_size,
		.com1 = cfg->serial != OUTPUT_OFF,
		.ps2_keyboard = true,
		.ps2_mouse = true,
		.rtc = true,
		.ged = true,
		.ged_base = (uint32_t)GED_MMIO_ADDR,
		.ged_size = (uint32_t)GED_MMIO_SIZE,
		.ged_gsi = GED_GSI,
	};
	_Static_assert(sizeof(dc.intx_gsi) == sizeof(pci->intx_gsi), "INTx tables match");
	memcpy(dc.intx_gsi, pci->intx_gsi, sizeof(dc.intx_gsi));
	uint8_t dsdt_aml[DSDT_AML_MAX];
	size_t dsdt_aml_len;
	ret = dsdt_build_devices(dsdt_aml, sizeof(dsdt_aml), &dsdt_aml_len, &dc);
	if (ret) {
		log_error("cannot build the DSDT devices: %s", strerror(-ret));
		goto out;
	}
	struct acpi_config acpi = {
		.ncpus = cfg->cpus,
		.dsdt_aml = dsdt_aml,
		.dsdt_aml_len = dsdt_aml_len,
		.has_ecam = true,
		.ecam_base = pci->ecam_base,
		.ecam_end_bus = pci->ecam_end_bus,
	};
	ret = acpi_build(mem, &acpi, &bs.rsdp_addr);
	if (ret) {
		log_error("cannot build the ACPI tables: %s", strerror(-ret));
		goto out;
	}

	if (ki.format == KERNEL_ELF_PVH) {
		ret = pvh_start_info_write(mem, PVH_INFO_ADDR, &bs);
		ret = ret ?: x86_boot_pvh(mem, bsp_fd, ki.entry, PVH_INFO_ADDR);
	} else {
		struct boot_params *bp = guest_mem_ptr(mem, ZERO_PAGE_ADDR, sizeof(*bp));
		if (!bp) {
			ret = -EFAULT;
			goto out;
		}
		zero_page_build(bp, &ki, &bs);
		ret = x86_boot_long_mode(mem, bsp_fd, ki.entry, ZERO_PAGE_ADDR);
	}
out:
	unmap_file(&initrd);
	unmap_file(&kernel);
	return ret;
}
