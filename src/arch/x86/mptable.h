/* SPDX-License-Identifier: MIT */
/*
 * Intel MultiProcessor Specification 1.4 tables: how a guest without ACPI
 * (or one booted with acpi=off) finds every CPU, the I/O APIC and the ISA
 * interrupt routing.
 *
 * Where they go (both ranges are reserved in the e820 map):
 *
 *   0x0009_fc00  MP floating pointer structure (16 bytes), at EBDA_START:
 *                the "last KiB of base memory" a guest scans first
 *   0x000f_0000  MP configuration table (header + entries, at most
 *                MPTABLE_CONFIG_MAX bytes, up to 0x000f_ffff). It does
 *                not fit the 1 KiB EBDA for more than ~40 CPUs, so it
 *                lives in the BIOS area; ACPI keeps to [0xe0000, 0xf0000).
 *
 * Routing described: ISA IRQ n -> I/O APIC pin n for n = 0..15 (KVM's
 * default GSI routing, PIT on pin 0, so no 0 -> 2 redirection), LINT0 =
 * ExtINT and LINT1 = NMI on every local APIC. APIC ID = CPU index, the
 * I/O APIC's ID = ncpus.
 */
#ifndef CVMM_ARCH_X86_MPTABLE_H
#define CVMM_ARCH_X86_MPTABLE_H

#include <stdint.h>

#include "arch/x86/layout.h"
#include "guest_mem.h"

#define MPTABLE_FPS_ADDR EBDA_START
#define MPTABLE_CONFIG_ADDR 0xf0000ULL
#define MPTABLE_CONFIG_END ACPI_END
#define MPTABLE_CONFIG_MAX (MPTABLE_CONFIG_END - MPTABLE_CONFIG_ADDR)

/* APIC IDs 0..253 for CPUs, ncpus (<= 254) for the I/O APIC, 0xff = all. */
#define MPTABLE_MAX_CPUS 254

#define MPTABLE_SPEC_REV 4 /* 1.4 */
#define MPTABLE_LAPIC_VERSION 0x14 /* KVM's local APIC */
#define MPTABLE_IOAPIC_VERSION 0x11 /* KVM's 24-pin I/O APIC */
#define MPTABLE_ISA_IRQS 16

/* MP floating pointer structure (spec 4.1). */
struct mpf_intel {
	char signature[4]; /* "_MP_" */
	uint32_t physptr; /* MP configuration table */
	uint8_t length; /* in 16-byte units: 1 */
	uint8_t spec_rev;
	uint8_t checksum; /* all 16 bytes sum to 0 */
	uint8_t feature1; /* 0: a configuration table is present */
	uint8_t feature2; /* bit 7 IMCRP: 0 = virtual wire mode */
	uint8_t feature3[3];
} __attribute__((packed));

/* MP configuration table header (spec 4.2). */
struct mpc_table {
	char signature[4]; /* "PCMP" */
	uint16_t length; /* base table: header + entries */
	uint8_t spec_rev;
	uint8_t checksum; /* base table sums to 0 */
	char oem[8];
	char product[12];
	uint32_t oem_ptr;
	uint16_t oem_size;
	uint16_t count; /* number of entries */
	uint32_t lapic_addr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

enum mpc_entry_type {
	MPC_PROCESSOR = 0,
	MPC_BUS = 1,
	MPC_IOAPIC = 2,
	MPC_IOINT = 3,
	MPC_LINTSRC = 4,
};

#define MPC_CPU_ENABLED 0x01
#define MPC_CPU_BSP 0x02

struct mpc_cpu {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_ver;
	uint8_t cpu_flags;
	uint32_t cpu_signature;
	uint32_t feature_flags;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6]; /* "ISA   " */
} __attribute__((packed));

#define MPC_IOAPIC_ENABLED 0x01

struct mpc_ioapic {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_ver;
	uint8_t flags;
	uint32_t apic_addr;
} __attribute__((packed));

enum mp_irq_type {
	MP_INT = 0,
	MP_NMI = 1,
	MP_SMI = 2,
	MP_EXTINT = 3,
};

/* I/O interrupt assignment (type 3) and local interrupt (type 4) entries. */
struct mpc_intsrc {
	uint8_t type;
	uint8_t irq_type;
	uint16_t irq_flag; /* polarity bits 0-1, trigger bits 2-3; 0 = bus default */
	uint8_t src_bus_id;
	uint8_t src_bus_irq;
	uint8_t dst_apic_id; /* I/O APIC ID, or local APIC ID (0xff = all) */
	uint8_t dst_irq; /* INTIN# or LINTIN# */
} __attribute__((packed));

#define MPC_ALL_LAPICS 0xff

/* Bytes of the configuration table for ncpus CPUs. */
#define MPTABLE_CONFIG_SIZE(ncpus)                                            \
	(sizeof(struct mpc_table) + (ncpus) * sizeof(struct mpc_cpu) +        \
	 sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +                 \
	 (MPTABLE_ISA_IRQS + 2) * sizeof(struct mpc_intsrc))

/*
 * Writes the floating pointer at MPTABLE_FPS_ADDR and the configuration
 * table at MPTABLE_CONFIG_ADDR for CPUs 0..ncpus-1 (CPU 0 is the BSP).
 * Returns 0, -EINVAL (ncpus 0 or above MPTABLE_MAX_CPUS) or -EFAULT (the
 * ranges are not guest RAM); a failure is logged here, once.
 */
int mptable_build(const struct guest_mem *mem, unsigned ncpus);

#endif
