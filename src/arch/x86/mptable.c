/* SPDX-License-Identifier: MIT */
/* Intel MultiProcessor Specification 1.4 tables; see mptable.h. */
#include "arch/x86/mptable.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "log.h"

_Static_assert(sizeof(struct mpf_intel) == 16, "MP floating pointer size");
_Static_assert(sizeof(struct mpc_table) == 44, "MP config header size");
_Static_assert(sizeof(struct mpc_cpu) == 20, "MP processor entry size");
_Static_assert(sizeof(struct mpc_bus) == 8, "MP bus entry size");
_Static_assert(sizeof(struct mpc_ioapic) == 8, "MP I/O APIC entry size");
_Static_assert(sizeof(struct mpc_intsrc) == 8, "MP interrupt entry size");
_Static_assert(MPTABLE_CONFIG_SIZE(MPTABLE_MAX_CPUS) <= MPTABLE_CONFIG_MAX,
	       "MP config table must fit its range");
_Static_assert(MPTABLE_CONFIG_SIZE(MPTABLE_MAX_CPUS) <= UINT16_MAX,
	       "MP config table length is 16 bits");

#define MP_ISA_BUS_ID 0
/* CPUID.1 signature (family 6) and EDX features (FPU, APIC) in CPU entries. */
#define MP_CPU_SIGNATURE 0x600
#define MP_CPU_FEATURES ((1u << 0) | (1u << 9))

static uint8_t mp_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return (uint8_t)-sum;
}

int mptable_build(const struct guest_mem *mem, unsigned ncpus)
{
	if (ncpus == 0 || ncpus > MPTABLE_MAX_CPUS) {
		log_error("mptable: %u CPUs unsupported (1..%u)", ncpus,
			  MPTABLE_MAX_CPUS);
		return -EINVAL;
	}
	size_t size = MPTABLE_CONFIG_SIZE(ncpus);
	uint8_t *cfg = guest_mem_ptr(mem, MPTABLE_CONFIG_ADDR, size);
	uint8_t *fps = guest_mem_ptr(mem, MPTABLE_FPS_ADDR,
				     sizeof(struct mpf_intel));
	if (!cfg || !fps) {
		log_error("mptable: tables not in guest RAM");
		return -EFAULT;
	}
	memset(cfg, 0, size);

	const uint8_t ioapic_id = (uint8_t)ncpus;
	size_t off = sizeof(struct mpc_table);
	uint16_t count = 0;

	for (unsigned i = 0; i < ncpus; i++) {
		struct mpc_cpu e = {
			.type = MPC_PROCESSOR,
			.apic_id = (uint8_t)i,
			.apic_ver = MPTABLE_LAPIC_VERSION,
			.cpu_flags = MPC_CPU_ENABLED | (i == 0 ? MPC_CPU_BSP : 0),
			.cpu_signature = MP_CPU_SIGNATURE,
			.feature_flags = MP_CPU_FEATURES,
		};
		memcpy(cfg + off, &e, sizeof(e));
		off += sizeof(e);
		count++;
	}

	struct mpc_bus bus = { .type = MPC_BUS, .bus_id = MP_ISA_BUS_ID };
	memcpy(bus.bus_type, "ISA   ", sizeof(bus.bus_type));
	memcpy(cfg + off, &bus, sizeof(bus));
	off += sizeof(bus);
	count++;

	struct mpc_ioapic ioapic = {
		.type = MPC_IOAPIC,
		.apic_id = ioapic_id,
		.apic_ver = MPTABLE_IOAPIC_VERSION,
		.flags = MPC_IOAPIC_ENABLED,
		.apic_addr = (uint32_t)IOAPIC_ADDR,
	};
	memcpy(cfg + off, &ioapic, sizeof(ioapic));
	off += sizeof(ioapic);
	count++;

	/* ISA IRQ n -> I/O APIC pin n, ISA defaults (edge, active high). */
	for (uint8_t irq = 0; irq < MPTABLE_ISA_IRQS; irq++) {
		struct mpc_intsrc e = {
			.type = MPC_IOINT,
			.irq_type = MP_INT,
			.src_bus_id = MP_ISA_BUS_ID,
			.src_bus_irq = irq,
			.dst_apic_id = ioapic_id,
			.dst_irq = irq,
		};
		memcpy(cfg + off, &e, sizeof(e));
		off += sizeof(e);
		count++;
	}

	/* LINT0 = ExtINT (8259 in virtual-wire mode), LINT1 = NMI. */
	static const uint8_t lint_types[2] = { MP_EXTINT, MP_NMI };
	for (uint8_t lint = 0; lint < 2; lint++) {
		struct mpc_intsrc e = {
			.type = MPC_LINTSRC,
			.irq_type = lint_types[lint],
			.src_bus_id = MP_ISA_BUS_ID,
			.dst_apic_id = MPC_ALL_LAPICS,
			.dst_irq = lint,
		};
		memcpy(cfg + off, &e, sizeof(e));
		off += sizeof(e);
		count++;
	}

	struct mpc_table hdr = {
		.length = (uint16_t)off,
		.spec_rev = MPTABLE_SPEC_REV,
		.count = count,
		.lapic_addr = (uint32_t)LAPIC_ADDR,
	};
	memcpy(hdr.signature, "PCMP", 4);
	memcpy(hdr.oem, "CVMM    ", sizeof(hdr.oem));
	memcpy(hdr.product, "CVMM        ", sizeof(hdr.product));
	memcpy(cfg, &hdr, sizeof(hdr));
	cfg[offsetof(struct mpc_table, checksum)] = mp_checksum(cfg, off);

	struct mpf_intel mpf = {
		.physptr = (uint32_t)MPTABLE_CONFIG_ADDR,
		.length = 1,
		.spec_rev = MPTABLE_SPEC_REV,
	};
	memcpy(mpf.signature, "_MP_", 4);
	mpf.checksum = mp_checksum((const uint8_t *)&mpf, sizeof(mpf));
	memcpy(fps, &mpf, sizeof(mpf));

	log_debug("mptable: %u CPUs, floating pointer 0x%llx, table 0x%llx "
		  "(%zu bytes)",
		  ncpus, MPTABLE_FPS_ADDR, MPTABLE_CONFIG_ADDR, off);
	return 0;
}
