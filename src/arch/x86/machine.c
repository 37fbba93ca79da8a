/* SPDX-License-Identifier: MIT */
/*
 * The x86 machine: RAM around the 32-bit PCI hole, the in-kernel irqchip and
 * PIT (unless --platform pit=off), and loading a guest through the Linux boot protocol or PVH.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/arch.h"
#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/dsdt.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "arch/x86/regs.h"
#include "image_file.h"
#include "log.h"

int arch_vm_init(struct kvm *kvm, const struct vm_config *cfg)
{
	struct ram_layout l;
	x86_ram_layout(cfg->mem_size, &l);
	unsigned flags = (cfg->mem_shared ? KVM_RAM_SHARED : 0) |
			 (cfg->mem_hugepages ? KVM_RAM_HUGEPAGES : 0);
	int ret = kvm_alloc_ram(kvm, cfg->mem_size, flags);
	ret = ret ?: kvm_map_region(kvm, 0, l.low_size, kvm->ram);
	if (!ret && l.high_size)
		ret = kvm_map_region(kvm, HIGH_RAM_START, l.high_size,
				     (uint8_t *)kvm->ram + l.low_size);
	if (ret)
		return ret;

	if (ioctl(kvm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0) {
		int err = errno;
		log_error("KVM_SET_TSS_ADDR: %s", strerror(err));
		return -err;
	}
	uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
	if (ioctl(kvm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
		int err = errno;
		log_error("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(err));
		return -err;
	}
	if (ioctl(kvm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		int err = errno;
		log_error("KVM_CREATE_IRQCHIP: %s", strerror(err));
		return -err;
	}
	/* --platform pit=off: no i8254 (ports 0x40-0x43 and 0x61 then read as
	 * nothing is there); its teardown is most of a VM fd's close. */
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (cfg->pit && ioctl(kvm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		int err = errno;
		log_error("KVM_CREATE_PIT2: %s", strerror(err));
		return -err;
	}
	return 0;
}

/*
 * The kernel file, read whole into a buffer (*img, freed by the caller):
 * parsing needs all of it, and it is a few MB, never more than guest RAM.
 */
static int read_kernel(const struct vm_config *cfg, uint8_t **img, size_t *len)
{
	struct image_file f;
	*img = NULL;
	int ret = image_file_open(&f, "kernel", cfg->kernel);
	if (ret)
		return ret;
	if (f.size > cfg->mem_size) {
		log_error("kernel %s: %llu bytes, more than the guest's memory",
			  cfg->kernel, (unsigned long long)f.size);
		image_file_close(&f);
		return -EFBIG;
	}
	*img = malloc((size_t)f.size);
	if (!*img)
		ret = -ENOMEM;
	ret = ret ?: image_file_read(&f, *img);
	image_file_close(&f);
	if (ret) {
		free(*img);
		*img = NULL;
		return ret;
	}
	*len = (size_t)f.size;
	return 0;
}

/* The initramfs, read straight into guest memory where it belongs. */
static int load_initrd(const struct guest_mem *mem, const struct vm_config *cfg,
		       const struct kernel_info *ki, uint64_t ram_top,
		       struct boot_setup *bs)
{
	struct image_file f;
	int ret = image_file_open(&f, "initramfs", cfg->initramfs);
	if (ret)
		return ret;
	ret = initrd_place(ki, ram_top, f.size, &bs->initrd_addr);
	if (ret) {
		log_error("initramfs %s (%llu bytes) does not fit in guest memory "
			  "below 0x%llx above the kernel",
			  cfg->initramfs, (unsigned long long)f.size,
			  (unsigned long long)ki->initrd_addr_max);
	} else {
		void *dst = guest_mem_ptr(mem, bs->initrd_addr, f.size);
		ret = dst ? image_file_read(&f, dst) : -EFAULT;
		bs->initrd_size = f.size;
	}
	image_file_close(&f);
	return ret;
}

/*
 * The kernel command line: --cmdline, then (--virtio-transport
 * mmio,cmdline=on) one virtio_mmio.device=SIZE@ADDR:GSI per window, as
 * Firecracker passes them to kernels without ACPI.
 */
static int write_cmdline(const struct guest_mem *mem, const struct vm_config *cfg,
			 const struct arch_pci_info *pci, const struct kernel_info *ki,
			 struct boot_setup *bs)
{
	char *line = malloc(CMDLINE_MAX);
	if (!line)
		return -ENOMEM;
	size_t len = (size_t)snprintf(line, CMDLINE_MAX, "%s", cfg->cmdline);
	for (unsigned i = 0; cfg->virtio_mmio_cmdline && i < pci->nvirtio_mmio &&
			     len < CMDLINE_MAX; i++) {
		const struct arch_virtio_mmio *d = &pci->virtio_mmio[i];
		len += (size_t)snprintf(line + len, CMDLINE_MAX - len,
					"%svirtio_mmio.device=%lluK@0x%llx:%u",
					len ? " " : "",
					(unsigned long long)(d->size >> 10),
					(unsigned long long)d->addr, d->gsi);
	}
	int ret = 0;
	if (len >= CMDLINE_MAX || len > ki->cmdline_max) {
		log_error("--cmdline: %zu bytes%s, the kernel accepts at most %u", len,
			  cfg->virtio_mmio_cmdline ? " with the virtio_mmio.device= entries" : "",
			  ki->cmdline_max);
		ret = -EINVAL;
	} else {
		bs->cmdline_len = (uint32_t)len;
		ret = guest_mem_write(mem, CMDLINE_ADDR, line, len + 1);
	}
	free(line);
	return ret;
}

int arch_load_guest(struct kvm *kvm, const struct vm_config *cfg,
		    const struct arch_pci_info *pci, int bsp_fd)
{
	const struct guest_mem *mem = &kvm->mem;
	uint8_t *kernel;
	size_t kernel_len;
	struct kernel_info ki;
	struct e820_map e820;
	struct ram_layout l;
	char err[256];
	int ret;

	x86_ram_layout(cfg->mem_size, &l);
	ret = read_kernel(cfg, &kernel, &kernel_len);
	if (ret)
		return ret;
	ret = kernel_parse(kernel, kernel_len, &ki, err, sizeof(err));
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
	ret = kernel_load(mem, kernel, kernel_len, &ki);
	if (ret) {
		log_error("kernel %s: cannot place it in guest memory", cfg->kernel);
		goto out;
	}

	struct boot_setup bs = { .cmdline_addr = CMDLINE_ADDR, .e820 = &e820 };
	ret = write_cmdline(mem, cfg, pci, &ki, &bs);
	if (ret)
		goto out;

	if (cfg->initramfs) {
		ret = load_initrd(mem, cfg, &ki, l.low_size, &bs);
		if (ret)
			goto out;
	}

	ret = e820_build(&e820, cfg->mem_size, pci->present);
	if (ret) {
		log_error("cannot build the e820 map: %s", strerror(-ret));
		goto out;
	}
	ret = mptable_build(mem, cfg->cpus); /* logs its failures */
	if (ret)
		goto out;
	/* The DSDT describes the PCI root (windows, INTx routing), if any, and
	 * the legacy devices; every PCI device is in place by now. */
	struct dsdt_config dc = {
		.pci = pci->present,
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
		.pci_hotplug = pci->present && pci->hotplug,
		.hotplug_base = (uint32_t)PCI_HOTPLUG_MMIO_ADDR,
		.no_eject = pci->no_eject,
	};
	_Static_assert(sizeof(dc.intx_gsi) == sizeof(pci->intx_gsi), "INTx tables match");
	memcpy(dc.intx_gsi, pci->intx_gsi, sizeof(dc.intx_gsi));
	for (unsigned i = 0; i < pci->nvirtio_mmio && i < DSDT_VIRTIO_MMIO_MAX; i++)
		dc.virtio_mmio[dc.nvirtio_mmio++] = (struct dsdt_virtio_mmio){
			.base = (uint32_t)pci->virtio_mmio[i].addr,
			.size = (uint32_t)pci->virtio_mmio[i].size,
			.gsi = pci->virtio_mmio[i].gsi,
		};
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
		.has_ecam = pci->present,
		.ecam_base = pci->ecam_base,
		.ecam_end_bus = pci->ecam_end_bus,
	};
	ret = acpi_build(mem, &acpi, &bs.rsdp_addr); /* logs its failures */
	if (ret)
		goto out;

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
	free(kernel);
	return ret;
}
