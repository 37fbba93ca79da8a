/* SPDX-License-Identifier: MIT */
/*
 * The x86 guest-physical address map cvmm builds. Everything that places
 * something in guest memory takes its address from here.
 *
 *   0x0000_0000  real-mode IVT / BDA (left zero)
 *   0x0000_0500  GDT
 *   0x0000_0600  IDT (empty; the guest sets its own)
 *   0x0000_6000  PVH hvm_start_info (+ memmap after it)
 *   0x0000_7000  zero page (struct boot_params)
 *   0x0000_9000  PML4, 0xA000 PDPT, 0xB000..0xE000 four PDs (identity 4 GiB)
 *   0x0002_0000  kernel command line (up to 64 KiB)
 *   0x0009_fc00  EBDA (reserved): MP floating pointer + MP table
 *   0x000e_0000  ACPI tables (RSDP first), up to 0x000f_ffff (reserved)
 *   0x0010_0000  kernel (bzImage protected-mode part or ELF PT_LOADs)
 *   ...          RAM up to min(size, MMIO32_START)
 *   0xc000_0000  32-bit PCI MMIO window (1 GiB hole)
 *   0xe000_0000  PCI ECAM (bus 0..15, 16 MiB)
 *   0xfeb0_0000  ACPI Generic Event Device registers (legacy/ged.h)
 *   0xfec0_0000  IOAPIC
 *   0xfee0_0000  LAPIC
 *   0xfffb_c000  KVM identity-map page, 0xfffb_d000 KVM TSS (3 pages)
 *   0x1_0000_0000 RAM above the hole continues here
 */
#ifndef CVMM_ARCH_X86_LAYOUT_H
#define CVMM_ARCH_X86_LAYOUT_H

#define GDT_ADDR 0x500ULL
#define IDT_ADDR 0x600ULL
#define PVH_INFO_ADDR 0x6000ULL
#define ZERO_PAGE_ADDR 0x7000ULL
#define PML4_ADDR 0x9000ULL
#define PDPT_ADDR 0xa000ULL
#define PD_ADDR 0xb000ULL /* four pages: 0xb000..0xefff */
#define BOOT_STACK_ADDR 0x8ff0ULL
#define CMDLINE_ADDR 0x20000ULL
#define CMDLINE_MAX 0x10000ULL
#define EBDA_START 0x9fc00ULL
#define LOW_RAM_END 0xa0000ULL
#define ACPI_START 0xe0000ULL
#define ACPI_END 0x100000ULL
#define HIMEM_START 0x100000ULL

#define MMIO32_START 0xc0000000ULL
#define MMIO32_SIZE 0x20000000ULL /* 0xc000_0000 .. 0xdfff_ffff for BARs */
#define ECAM_START 0xe0000000ULL
#define ECAM_SIZE 0x1000000ULL
#define GED_MMIO_ADDR 0xfeb00000ULL /* ACPI GED (power button) registers */
#define GED_MMIO_SIZE 0x10ULL
/* ACPI PCI hotplug controller registers (pci/hotplug.h). */
#define PCI_HOTPLUG_MMIO_ADDR 0xfeb00800ULL
#define PCI_HOTPLUG_MMIO_SIZE 0x10ULL
/* Platform devices' register windows (virtio-mmio), up to the IOAPIC. */
#define PLATFORM_MMIO_START 0xfeb01000ULL
#define PLATFORM_MMIO_SIZE 0xff000ULL
#define IOAPIC_ADDR 0xfec00000ULL
#define LAPIC_ADDR 0xfee00000ULL
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL
#define KVM_TSS_ADDR 0xfffbd000ULL
#define HIGH_RAM_START 0x100000000ULL

/* Legacy I/O ports. */
#define COM1_PORT 0x3f8
#define COM1_IRQ 4
#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define RTC_PORT 0x70
#define DEBUG_EXIT_PORT 0xf4
#define PCI_CONFIG_ADDRESS_PORT 0xcf8
#define PCI_CONFIG_DATA_PORT 0xcfc

/* PCI resources handed out by the allocators. */
#define PCI_PIO_START 0xc000ULL
#define PCI_PIO_SIZE 0x4000ULL
#define PCI_MMIO64_SIZE (64ULL << 30)
#define PCI_INTX_GSI_FIRST 16 /* IOAPIC pins 16-22 */
#define PCI_INTX_GSI_COUNT 7

/*
 * The ACPI Generic Event Device's interrupt: the last IOAPIC pin, level
 * triggered and active high (legacy/ged.h). A pin above the ISA range, so
 * that no OS applies ISA (edge) defaults to it.
 */
#define GED_GSI 23

#endif
