/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables (ACPI 6.x) for x86 guests: RSDP, XSDT (and a matching RSDT),
 * FADT (hardware-reduced), DSDT, MADT and, when the VM has PCIe ECAM, MCFG.
 *
 * Where they go (reserved in the e820 map):
 *
 *   0x000e_0000  RSDP (revision 2), first, on a 16-byte boundary, so the
 *                legacy scan of 0xe0000-0xfffff finds it
 *   0x000e_0030  the other tables, each 16-byte aligned, up to
 *                ACPI_TABLES_END
 *   0x000f_0000  not ours: the MP configuration table (see mptable.h)
 *
 * Interrupt model described: local APIC at LAPIC_ADDR (APIC ID = ACPI
 * processor UID = CPU index), one I/O APIC at IOAPIC_ADDR with ID ncpus and
 * GSI base 0, ISA IRQ n = GSI n (no interrupt source overrides: KVM routes
 * GSI n to I/O APIC pin n, PIT included), LINT1 = NMI on every processor.
 *
 * The FADT sets HW_REDUCED_ACPI (no PM timer, SCI, GPE or fixed-feature
 * hardware). Linux then skips the PIT/8259 set-up (it uses the local APIC
 * timer and kvmclock) and ignores SCI_INT. Platform events (the power
 * button) come through the DSDT's Generic Event Device instead. IAPC_BOOT_ARCH says: legacy
 * devices present, an 8042 present, no VGA; the CMOS RTC is present.
 */
#ifndef CVMM_ARCH_X86_ACPI_H
#define CVMM_ARCH_X86_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/layout.h"
#include "guest_mem.h"

#define ACPI_RSDP_ADDR ACPI_START
#define ACPI_TABLES_END 0xf0000ULL /* [0xf0000, ACPI_END) is the MP table's */
#define ACPI_TABLE_ALIGN 16

/* APIC IDs 0..253 for CPUs, ncpus (<= 254) for the I/O APIC; 0xff = all. */
#define ACPI_MAX_CPUS 254

#define ACPI_OEM_ID "CVMM  " /* 6 bytes */
#define ACPI_CREATOR_ID "CVMM" /* 4 bytes */
#define ACPI_OEM_REVISION 1
#define ACPI_CREATOR_REVISION 1

/* ---- Table layouts (ACPI 6.5, chapter 5.2). ---- */

struct acpi_rsdp {
	char signature[8]; /* "RSD PTR " */
	uint8_t checksum; /* first 20 bytes sum to 0 */
	char oem_id[6];
	uint8_t revision; /* 2 */
	uint32_t rsdt_address;
	uint32_t length; /* 36 */
	uint64_t xsdt_address;
	uint8_t extended_checksum; /* all 36 bytes sum to 0 */
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_table_header {
	char signature[4];
	uint32_t length; /* whole table, header included */
	uint8_t revision;
	uint8_t checksum; /* whole table sums to 0 */
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

/* Generic Address Structure. */
struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

/* Generic Address Structure: address space and access size. */
#define ACPI_GAS_SYSTEM_IO 1
#define ACPI_GAS_ACCESS_BYTE 1

#define ACPI_FADT_REVISION 6
#define ACPI_FADT_MINOR_REVISION 5

/* FADT flags. */
#define ACPI_FADT_WBINVD (1u << 0)
/* 1: the power button is a control-method device (\_SB.PWRB, notified by
 * the GED, see dsdt.h), not the fixed-feature one (ACPI 6.5, 5.2.9). */
#define ACPI_FADT_PWR_BUTTON (1u << 4)
#define ACPI_FADT_SLP_BUTTON (1u << 5) /* no fixed-feature sleep button */
#define ACPI_FADT_RESET_REG_SUP (1u << 10)
#define ACPI_FADT_HW_REDUCED (1u << 20)

/* FADT IAPC_BOOT_ARCH flags. */
#define ACPI_IAPC_LEGACY_DEVICES (1u << 0)
#define ACPI_IAPC_8042 (1u << 1)
#define ACPI_IAPC_NO_VGA (1u << 2)
#define ACPI_IAPC_NO_MSI (1u << 3)
#define ACPI_IAPC_NO_ASPM (1u << 4)
#define ACPI_IAPC_NO_CMOS_RTC (1u << 5)

struct acpi_fadt {
	struct acpi_table_header header; /* "FACP" */
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_revision;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));

#define ACPI_MADT_REVISION 5
#define ACPI_MADT_PCAT_COMPAT (1u << 0)

enum acpi_madt_type {
	ACPI_MADT_LAPIC = 0,
	ACPI_MADT_IOAPIC = 1,
	ACPI_MADT_INT_OVERRIDE = 2,
	ACPI_MADT_LAPIC_NMI = 4,
};

#define ACPI_MADT_LAPIC_ENABLED (1u << 0)
#define ACPI_MADT_ALL_PROCESSORS 0xff
/* MPS INTI flags: polarity bits 0-1 (1 = active high), trigger 2-3 (1 = edge). */
#define ACPI_MPS_INTI_EDGE_HIGH 0x0005

struct acpi_madt {
	struct acpi_table_header header; /* "APIC" */
	uint32_t lapic_address;
	uint32_t flags;
	/* interrupt controller structures follow */
} __attribute__((packed));

struct acpi_madt_lapic {
	uint8_t type; /* ACPI_MADT_LAPIC */
	uint8_t length; /* 8 */
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));

struct acpi_madt_ioapic {
	uint8_t type; /* ACPI_MADT_IOAPIC */
	uint8_t length; /* 12 */
	uint8_t ioapic_id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));

struct acpi_madt_lapic_nmi {
	uint8_t type; /* ACPI_MADT_LAPIC_NMI */
	uint8_t length; /* 6 */
	uint8_t processor_uid; /* 0xff: all */
	uint16_t flags; /* MPS INTI flags */
	uint8_t lint;
} __attribute__((packed));

struct acpi_mcfg {
	struct acpi_table_header header; /* "MCFG" */
	uint8_t reserved[8];
	/* allocations follow */
} __attribute__((packed));

struct acpi_mcfg_alloc {
	uint64_t base_address;
	uint16_t segment;
	uint8_t start_bus;
	uint8_t end_bus;
	uint32_t reserved;
} __attribute__((packed));

/* ---- Building. ---- */

/* A complete, caller-built table (header included) to link into the XSDT. */
struct acpi_blob {
	const void *data;
	size_t len;
};

struct acpi_config {
	unsigned ncpus; /* 1..ACPI_MAX_CPUS */

	/* PCIe ECAM for segment 0, buses 0..ecam_end_bus: emits an MCFG. */
	bool has_ecam;
	uint64_t ecam_base;
	unsigned ecam_end_bus; /* <= 255 */

	/*
	 * Optional AML term list appended to the DSDT body after the built-in
	 * Scope (\_SB) (e.g. device objects); NULL/0 for none.
	 */
	const void *dsdt_aml;
	size_t dsdt_aml_len;

	/*
	 * Optional extra tables (SSDT, SRAT, HPET...), copied after the
	 * built-in ones and linked from the XSDT/RSDT. Each must start with a
	 * header whose length equals len; acpi_build() fixes the checksum.
	 */
	const struct acpi_blob *extra_tables;
	unsigned n_extra_tables;
};

/*
 * Fills a table header: signature, length, revision, the cvmm OEM/creator
 * ids, OEM table id "CVMM" + signature; checksum 0 (see acpi_checksum).
 */
void acpi_header_init(struct acpi_table_header *h, const char sig[4],
		      uint32_t length, uint8_t revision);

/* The byte that makes len bytes at p sum to 0 when stored in place of 0. */
uint8_t acpi_checksum(const void *p, size_t len);

/*
 * Writes all tables into [ACPI_START, ACPI_TABLES_END) of guest memory and
 * stores the RSDP's guest-physical address in *rsdp_addr (for
 * boot_params.acpi_rsdp_addr / hvm_start_info.rsdp_paddr). Returns 0,
 * -EINVAL (bad ncpus, ecam_end_bus or extra table), -ENOSPC (tables do not
 * fit) or -EFAULT (the range is not guest RAM); a failure is logged here,
 * once.
 */
int acpi_build(const struct guest_mem *mem, const struct acpi_config *cfg,
	       uint64_t *rsdp_addr);

#endif
