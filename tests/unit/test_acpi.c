/* SPDX-License-Identifier: MIT */
/*
 * ACPI and MP tables: built into a plain 1 MiB buffer registered as guest
 * memory at GPA 0, then found and walked the way a guest would.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "guest_mem.h"
#include "legacy/acpi_sleep.h"
#include "acpi_walk.h"

#define MEM_SIZE 0x100000ULL

struct fixture {
	uint8_t *buf;
	struct guest_mem mem;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->buf = malloc(MEM_SIZE);
	assert_non_null(f->buf);
	/* Garbage, so a table that relies on zeroed memory shows up. */
	memset(f->buf, 0xa5, MEM_SIZE);
	assert_int_equal(guest_mem_add(&f->mem, 0, MEM_SIZE, f->buf), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	free(f->buf);
	free(f);
	return 0;
}

/* ---- ACPI ---- */

struct range {
	uint64_t start, end;
};

struct acpi_seen {
	struct range ranges[64];
	unsigned nranges;
	uint64_t fadt, madt, mcfg, dsdt;
	unsigned nfadt, nmadt, nmcfg, nextra;
};

static void add_range(struct acpi_seen *s, uint64_t gpa, uint64_t len)
{
	assert_true(s->nranges < 64);
	assert_true(gpa >= ACPI_START);
	assert_true(gpa + len <= ACPI_TABLES_END);
	for (unsigned i = 0; i < s->nranges; i++)
		assert_true(gpa + len <= s->ranges[i].start ||
			    gpa >= s->ranges[i].end);
	s->ranges[s->nranges++] = (struct range){ gpa, gpa + len };
}

/* A table in the ACPI area: valid header, checksum and cvmm ids. */
static const uint8_t *check_table(struct fixture *f, struct acpi_seen *s,
				  uint64_t gpa, const char *sig)
{
	assert_true(gpa >= ACPI_START && gpa < ACPI_TABLES_END);
	const uint8_t *t = f->buf + gpa;
	struct acpi_table_header h;
	memcpy(&h, t, sizeof(h));
	if (sig)
		assert_memory_equal(h.signature, sig, 4);
	assert_true(h.length >= sizeof(h));
	add_range(s, gpa, h.length);
	assert_int_equal(sum8(t, h.length), 0);
	assert_memory_equal(h.oem_id, "CVMM  ", 6);
	assert_memory_equal(h.creator_id, "CVMM", 4);
	return t;
}

/* Scans 0xe0000..0xfffff on 16-byte boundaries, like Linux/ACPICA. */
static uint64_t find_rsdp(struct fixture *f)
{
	uint64_t found = 0;
	unsigned n = 0;
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16) {
		if (memcmp(f->buf + a, "RSD PTR ", 8) == 0 &&
		    sum8(f->buf + a, 20) == 0) {
			found = a;
			n++;
		}
	}
	assert_int_equal(n, 1);
	return found;
}

static void check_madt(const uint8_t *t, unsigned ncpus)
{
	struct acpi_madt m;
	memcpy(&m, t, sizeof(m));
	assert_int_equal(m.header.revision, ACPI_MADT_REVISION);
	assert_int_equal(m.lapic_address, LAPIC_ADDR);
	assert_true(m.flags & ACPI_MADT_PCAT_COMPAT);

	unsigned nlapic = 0, nioapic = 0, nnmi = 0;
	size_t off = sizeof(m);
	while (off < m.header.length) {
		assert_true(off + 2 <= m.header.length);
		uint8_t type = t[off], len = t[off + 1];
		assert_true(len >= 2 && off + len <= m.header.length);
		switch (type) {
		case ACPI_MADT_LAPIC: {
			struct acpi_madt_lapic l;
			assert_int_equal(len, sizeof(l));
			memcpy(&l, t + off, sizeof(l));
			assert_int_equal(l.processor_uid, nlapic);
			assert_int_equal(l.apic_id, nlapic);
			assert_true(l.flags & ACPI_MADT_LAPIC_ENABLED);
			nlapic++;
			break;
		}
		case ACPI_MADT_IOAPIC: {
			struct acpi_madt_ioapic io;
			assert_int_equal(len, sizeof(io));
			memcpy(&io, t + off, sizeof(io));
			assert_int_equal(io.ioapic_id, ncpus);
			assert_int_equal(io.address, IOAPIC_ADDR);
			assert_int_equal(io.gsi_base, 0);
			nioapic++;
			break;
		}
		case ACPI_MADT_LAPIC_NMI: {
			struct acpi_madt_lapic_nmi nmi;
			assert_int_equal(len, sizeof(nmi));
			memcpy(&nmi, t + off, sizeof(nmi));
			assert_int_equal(nmi.processor_uid, 0xff);
			assert_int_equal(nmi.lint, 1);
			nnmi++;
			break;
		}
		default:
			/* No interrupt source overrides, nothing else. */
			fail_msg("unexpected MADT entry type %u", type);
		}
		off += len;
	}
	assert_int_equal(off, m.header.length);
	assert_int_equal(nlapic, ncpus);
	assert_int_equal(nioapic, 1);
	assert_int_equal(nnmi, 1);
}

static void check_fadt_dsdt(struct fixture *f, struct acpi_seen *s,
			    const uint8_t *t)
{
	struct acpi_fadt fadt;
	memcpy(&fadt, t, sizeof(fadt));
	assert_int_equal(fadt.header.length, sizeof(fadt));
	assert_int_equal(fadt.header.length, 276);
	assert_int_equal(fadt.header.revision, 6);
	assert_true(fadt.flags & ACPI_FADT_HW_REDUCED);
	assert_true(fadt.iapc_boot_arch & ACPI_IAPC_8042);
	assert_false(fadt.iapc_boot_arch & ACPI_IAPC_NO_CMOS_RTC);
	assert_int_equal(fadt.firmware_ctrl, 0);
	assert_int_equal(fadt.x_firmware_ctrl, 0);
	assert_true(fadt.x_dsdt != 0);
	assert_int_equal(fadt.dsdt, fadt.x_dsdt);
	/* soft-off: 8-bit sleep control and status registers in I/O space */
	assert_int_equal(fadt.sleep_control_reg.space_id, ACPI_GAS_SYSTEM_IO);
	assert_int_equal(fadt.sleep_control_reg.bit_width, 8);
	assert_int_equal(fadt.sleep_control_reg.address, ACPI_SLEEP_CONTROL_PORT);
	assert_int_equal(fadt.sleep_status_reg.space_id, ACPI_GAS_SYSTEM_IO);
	assert_int_equal(fadt.sleep_status_reg.address, ACPI_SLEEP_STATUS_PORT);

	s->dsdt = fadt.x_dsdt;
	const uint8_t *d = check_table(f, s, fadt.x_dsdt, "DSDT");
	struct acpi_table_header h;
	memcpy(&h, d, sizeof(h));
	assert_int_equal(h.revision, 2);
	/* Body starts with Scope (\_SB). */
	assert_true(h.length >= sizeof(h) + 7);
	static const uint8_t scope_sb[] = { 0x10, 0x06, '\\', '_', 'S', 'B',
					    '_' };
	assert_memory_equal(d + sizeof(h), scope_sb, sizeof(scope_sb));
}

/* Finds and checks everything reachable from the RSDP. */
static void check_acpi(struct fixture *f, uint64_t rsdp_addr,
		       const struct acpi_config *cfg, struct acpi_seen *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(rsdp_addr, ACPI_RSDP_ADDR);
	assert_int_equal(find_rsdp(f), rsdp_addr);

	struct acpi_rsdp r;
	memcpy(&r, f->buf + rsdp_addr, sizeof(r));
	assert_int_equal(r.revision, 2);
	assert_int_equal(r.length, 36);
	assert_int_equal(sum8(f->buf + rsdp_addr, 20), 0);
	assert_int_equal(sum8(f->buf + rsdp_addr, 36), 0);
	assert_memory_equal(r.oem_id, "CVMM  ", 6);
	add_range(s, rsdp_addr, sizeof(r));

	const uint8_t *x = check_table(f, s, r.xsdt_address, "XSDT");
	const uint8_t *rs = check_table(f, s, r.rsdt_address, "RSDT");
	uint32_t xlen = rd32(x + 4), rlen = rd32(rs + 4);
	assert_int_equal((xlen - 36) % 8, 0);
	unsigned n = (xlen - 36) / 8;
	assert_int_equal(rlen, 36 + 4 * n);
	assert_int_equal(n, 2 + (cfg->has_ecam ? 1 : 0) + cfg->n_extra_tables);

	for (unsigned i = 0; i < n; i++) {
		uint64_t gpa = rd64(x + 36 + 8 * i);
		assert_int_equal(rd32(rs + 36 + 4 * i), gpa);
		const uint8_t *t = check_table(f, s, gpa, NULL);
		if (memcmp(t, "FACP", 4) == 0) {
			s->fadt = gpa;
			s->nfadt++;
			check_fadt_dsdt(f, s, t);
		} else if (memcmp(t, "APIC", 4) == 0) {
			s->madt = gpa;
			s->nmadt++;
			check_madt(t, cfg->ncpus);
		} else if (memcmp(t, "MCFG", 4) == 0) {
			s->mcfg = gpa;
			s->nmcfg++;
			struct acpi_mcfg_alloc e;
			assert_int_equal(rd32(t + 4), 44 + sizeof(e));
			memcpy(&e, t + 44, sizeof(e));
			assert_int_equal(e.base_address, cfg->ecam_base);
			assert_int_equal(e.segment, 0);
			assert_int_equal(e.start_bus, 0);
			assert_int_equal(e.end_bus, cfg->ecam_end_bus);
		} else {
			s->nextra++;
		}
	}
	assert_int_equal(s->nfadt, 1);
	assert_int_equal(s->nmadt, 1);
	assert_int_equal(s->nmcfg, cfg->has_ecam ? 1 : 0);
	assert_int_equal(s->nextra, cfg->n_extra_tables);
}

static void test_acpi_ncpus(void **state)
{
	struct fixture *f = *state;
	static const unsigned counts[] = { 1, 2, 4, 64, ACPI_MAX_CPUS };
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct acpi_config cfg = { .ncpus = counts[i] };
		uint64_t rsdp = 0;
		struct acpi_seen s;
		memset(f->buf, 0xa5, MEM_SIZE);
		assert_int_equal(acpi_build(&f->mem, &cfg, &rsdp), 0);
		check_acpi(f, rsdp, &cfg, &s);
		assert_int_equal(s.nmcfg, 0);
	}
}

static void test_acpi_mcfg(void **state)
{
	struct fixture *f = *state;
	struct acpi_config cfg = {
		.ncpus = 4,
		.has_ecam = true,
		.ecam_base = ECAM_START,
		.ecam_end_bus = 15,
	};
	uint64_t rsdp = 0;
	struct acpi_seen s;
	assert_int_equal(acpi_build(&f->mem, &cfg, &rsdp), 0);
	check_acpi(f, rsdp, &cfg, &s);
	assert_int_equal(s.nmcfg, 1);

	/* Rebuilding without ECAM drops it again. */
	cfg.has_ecam = false;
	assert_int_equal(acpi_build(&f->mem, &cfg, &rsdp), 0);
	check_acpi(f, rsdp, &cfg, &s);
	assert_int_equal(s.nmcfg, 0);
}

static void test_acpi_extensions(void **state)
{
	struct fixture *f = *state;
	/* An SSDT with a bad checksum: acpi_build fixes it. */
	uint8_t ssdt[36 + 7] = { 0 };
	struct acpi_table_header h;
	acpi_header_init(&h, "SSDT", sizeof(ssdt), 2);
	memcpy(ssdt, &h, sizeof(h));
	static const uint8_t scope_sb[] = { 0x10, 0x06, '\\', '_', 'S', 'B',
					    '_' };
	memcpy(ssdt + 36, scope_sb, sizeof(scope_sb));
	ssdt[9] = 0x42;
	struct acpi_blob extra[] = { { ssdt, sizeof(ssdt) } };
	/* DSDT body extension: Name (\FOO_, 1) = NameOp '\' "FOO_" OneOp. */
	static const uint8_t aml[] = { 0x08, '\\', 'F', 'O', 'O', '_', 0x01 };

	struct acpi_config cfg = {
		.ncpus = 2,
		.dsdt_aml = aml,
		.dsdt_aml_len = sizeof(aml),
		.extra_tables = extra,
		.n_extra_tables = 1,
	};
	uint64_t rsdp = 0;
	struct acpi_seen s;
	assert_int_equal(acpi_build(&f->mem, &cfg, &rsdp), 0);
	check_acpi(f, rsdp, &cfg, &s);
	assert_int_equal(s.nextra, 1);
	const uint8_t *d = f->buf + s.dsdt;
	assert_int_equal(rd32(d + 4), 36 + 7 + sizeof(aml));
	assert_memory_equal(d + 36 + 7, aml, sizeof(aml));

	/* A header length that disagrees with the blob is refused. */
	extra[0].len = sizeof(ssdt) - 1;
	assert_int_equal(acpi_build(&f->mem, &cfg, &rsdp), -EINVAL);
	extra[0].len = 10;
	assert_int_equal(acpi_build(&f->mem, &cfg, &rsdp), -EINVAL);
}

static void test_acpi_errors(void **state)
{
	struct fixture *f = *state;
	uint64_t rsdp = 0x1234;
	struct acpi_config cfg = { .ncpus = 0 };
	assert_int_equal(acpi_build(&f->mem, &cfg, &rsdp), -EINVAL);
	cfg.ncpus = ACPI_MAX_CPUS + 1;
	assert_int_equal(acpi_build(&f->mem, &cfg, &rsdp), -EINVAL);
	cfg.ncpus = 1000;
	assert_int_equal(acpi_build(&f->mem, &cfg, &rsdp), -EINVAL);
	cfg.ncpus = 1;
	cfg.has_ecam = true;
	cfg.ecam_end_bus = 256;
	assert_int_equal(acpi_build(&f->mem, &cfg, &rsdp), -EINVAL);
	assert_int_equal(rsdp, 0x1234);

	/* Too much AML for the area. */
	size_t big = ACPI_TABLES_END - ACPI_START;
	uint8_t *aml = calloc(1, big);
	assert_non_null(aml);
	struct acpi_config cfg2 = {
		.ncpus = 1, .dsdt_aml = aml, .dsdt_aml_len = big
	};
	assert_int_equal(acpi_build(&f->mem, &cfg2, &rsdp), -ENOSPC);
	free(aml);

	/* Guest RAM that does not reach the ACPI area. */
	uint8_t *small = malloc(0x80000);
	assert_non_null(small);
	struct guest_mem mem = { 0 };
	assert_int_equal(guest_mem_add(&mem, 0, 0x80000, small), 0);
	cfg.has_ecam = false;
	assert_int_equal(acpi_build(&mem, &cfg, &rsdp), -EFAULT);
	assert_int_equal(mptable_build(&mem, 1), -EFAULT);
	free(small);
}

/* ---- MP tables ---- */

static uint64_t scan_mpf(struct fixture *f, uint64_t start, uint64_t end,
			 unsigned *n)
{
	uint64_t found = 0;
	for (uint64_t a = start; a < end; a += 16) {
		if (memcmp(f->buf + a, "_MP_", 4) == 0 &&
		    sum8(f->buf + a, 16) == 0) {
			found = a;
			(*n)++;
		}
	}
	return found;
}

static void check_mptable(struct fixture *f, unsigned ncpus)
{
	unsigned n = 0;
	uint64_t a = scan_mpf(f, 0x9fc00, 0xa0000, &n);
	uint64_t b = scan_mpf(f, 0xf0000, 0x100000, &n);
	assert_int_equal(n, 1);
	uint64_t mpf_gpa = a ? a : b;
	assert_int_equal(mpf_gpa, MPTABLE_FPS_ADDR);

	struct mpf_intel mpf;
	memcpy(&mpf, f->buf + mpf_gpa, sizeof(mpf));
	assert_int_equal(mpf.length, 1);
	assert_int_equal(mpf.spec_rev, 4);
	assert_int_equal(mpf.feature1, 0);
	assert_true(mpf.physptr >= 0xf0000 && mpf.physptr < 0x100000);

	const uint8_t *t = f->buf + mpf.physptr;
	struct mpc_table h;
	memcpy(&h, t, sizeof(h));
	assert_memory_equal(h.signature, "PCMP", 4);
	assert_int_equal(h.spec_rev, 4);
	assert_true(mpf.physptr + h.length <= 0x100000);
	assert_int_equal(h.length, MPTABLE_CONFIG_SIZE(ncpus));
	assert_int_equal(sum8(t, h.length), 0);
	assert_int_equal(h.lapic_addr, LAPIC_ADDR);
	assert_int_equal(h.ext_length, 0);

	unsigned ncpu = 0, nbsp = 0, nbus = 0, nioapic = 0, nlint = 0;
	unsigned count = 0;
	uint32_t irqs_seen = 0;
	uint8_t last_type = 0;
	size_t off = sizeof(h);
	while (off < h.length) {
		uint8_t type = t[off];
		assert_true(type >= last_type); /* sorted by type */
		last_type = type;
		count++;
		switch (type) {
		case MPC_PROCESSOR: {
			struct mpc_cpu c;
			assert_true(off + sizeof(c) <= h.length);
			memcpy(&c, t + off, sizeof(c));
			assert_int_equal(c.apic_id, ncpu);
			assert_true(c.cpu_flags & MPC_CPU_ENABLED);
			if (c.cpu_flags & MPC_CPU_BSP) {
				assert_int_equal(c.apic_id, 0);
				nbsp++;
			}
			ncpu++;
			off += sizeof(c);
			break;
		}
		case MPC_BUS: {
			struct mpc_bus bus;
			memcpy(&bus, t + off, sizeof(bus));
			assert_memory_equal(bus.bus_type, "ISA   ", 6);
			assert_int_equal(bus.bus_id, 0);
			nbus++;
			off += sizeof(bus);
			break;
		}
		case MPC_IOAPIC: {
			struct mpc_ioapic io;
			memcpy(&io, t + off, sizeof(io));
			assert_int_equal(io.apic_id, ncpus);
			assert_int_equal(io.apic_ver, 0x11);
			assert_true(io.flags & MPC_IOAPIC_ENABLED);
			assert_int_equal(io.apic_addr, IOAPIC_ADDR);
			nioapic++;
			off += sizeof(io);
			break;
		}
		case MPC_IOINT: {
			struct mpc_intsrc e;
			memcpy(&e, t + off, sizeof(e));
			assert_int_equal(e.irq_type, MP_INT);
			assert_int_equal(e.src_bus_id, 0);
			assert_true(e.src_bus_irq < 16);
			/* Identity: ISA IRQ 0 goes to pin 0, not 2. */
			assert_int_equal(e.dst_irq, e.src_bus_irq);
			assert_int_equal(e.dst_apic_id, ncpus);
			assert_false(irqs_seen & (1u << e.src_bus_irq));
			irqs_seen |= 1u << e.src_bus_irq;
			off += sizeof(e);
			break;
		}
		case MPC_LINTSRC: {
			struct mpc_intsrc e;
			memcpy(&e, t + off, sizeof(e));
			assert_int_equal(e.dst_apic_id, 0xff);
			assert_int_equal(e.dst_irq, nlint);
			assert_int_equal(e.irq_type,
					 nlint == 0 ? MP_EXTINT : MP_NMI);
			nlint++;
			off += sizeof(e);
			break;
		}
		default:
			fail_msg("unexpected MP entry type %u", type);
		}
	}
	assert_int_equal(off, h.length);
	assert_int_equal(count, h.count);
	assert_int_equal(ncpu, ncpus);
	assert_int_equal(nbsp, 1);
	assert_int_equal(nbus, 1);
	assert_int_equal(nioapic, 1);
	assert_int_equal(irqs_seen, 0xffff);
	assert_int_equal(nlint, 2);
}

static void test_mptable_ncpus(void **state)
{
	struct fixture *f = *state;
	static const unsigned counts[] = { 1, 2, 4, 64, MPTABLE_MAX_CPUS };
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		memset(f->buf, 0xa5, MEM_SIZE);
		assert_int_equal(mptable_build(&f->mem, counts[i]), 0);
		check_mptable(f, counts[i]);
	}
}

/* Both sets of tables in one guest: neither clobbers the other. */
static void test_both(void **state)
{
	struct fixture *f = *state;
	static const unsigned counts[] = { 1, 4, 64, 254 };
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct acpi_config cfg = {
			.ncpus = counts[i],
			.has_ecam = true,
			.ecam_base = ECAM_START,
			.ecam_end_bus = 255,
		};
		uint64_t rsdp = 0;
		struct acpi_seen s;
		memset(f->buf, 0xa5, MEM_SIZE);
		assert_int_equal(acpi_build(&f->mem, &cfg, &rsdp), 0);
		assert_int_equal(mptable_build(&f->mem, counts[i]), 0);
		check_acpi(f, rsdp, &cfg, &s);
		check_mptable(f, counts[i]);
		/* The other order too. */
		assert_int_equal(mptable_build(&f->mem, counts[i]), 0);
		assert_int_equal(acpi_build(&f->mem, &cfg, &rsdp), 0);
		check_acpi(f, rsdp, &cfg, &s);
		check_mptable(f, counts[i]);
	}
}

static void test_mptable_errors(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(mptable_build(&f->mem, 0), -EINVAL);
	assert_int_equal(mptable_build(&f->mem, MPTABLE_MAX_CPUS + 1), -EINVAL);
	assert_int_equal(mptable_build(&f->mem, 4096), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_acpi_ncpus, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_acpi_mcfg, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_acpi_extensions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_acpi_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mptable_ncpus, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_both, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mptable_errors, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
