/* SPDX-License-Identifier: MIT */
/* ACPI tables for x86 guests; see acpi.h. */
#include "arch/x86/acpi.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/mptable.h"
#include "legacy/acpi_sleep.h"
#include "log.h"

_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP size");
_Static_assert(sizeof(struct acpi_table_header) == 36, "SDT header size");
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS size");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT (6.x) size");
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT header size");
_Static_assert(sizeof(struct acpi_madt_lapic) == 8, "MADT LAPIC size");
_Static_assert(sizeof(struct acpi_madt_ioapic) == 12, "MADT IOAPIC size");
_Static_assert(sizeof(struct acpi_madt_lapic_nmi) == 6, "MADT NMI size");
_Static_assert(sizeof(struct acpi_mcfg) == 44, "MCFG header size");
_Static_assert(sizeof(struct acpi_mcfg_alloc) == 16, "MCFG entry size");
_Static_assert(ACPI_TABLES_END == MPTABLE_CONFIG_ADDR,
	       "ACPI tables end where the MP configuration table starts");

#define ACPI_AREA_SIZE (ACPI_TABLES_END - ACPI_START)

#define ACPI_DSDT_REVISION 2 /* 64-bit AML integers */
#define ACPI_XSDT_REVISION 1
#define ACPI_RSDT_REVISION 1
#define ACPI_MCFG_REVISION 1

/*
 * Built-in DSDT body: an empty Scope (\_SB), the one namespace scope every
 * OS expects devices under.
 *   ScopeOp 0x10, PkgLength 6 (itself + 5 name bytes), RootChar '\', "_SB_"
 */
static const uint8_t dsdt_builtin_aml[] = {
	0x10, 0x06, '\\', '_', 'S', 'B', '_',
};

/* Bump allocator over [ACPI_START, ACPI_TABLES_END) of guest memory. */
struct acpi_area {
	uint8_t *hva;
	uint64_t used;
};

static int area_alloc(struct acpi_area *a, uint64_t len, uint64_t *gpa,
		      void **hva)
{
	uint64_t off = (a->used + ACPI_TABLE_ALIGN - 1) &
		       ~(uint64_t)(ACPI_TABLE_ALIGN - 1);
	if (off > ACPI_AREA_SIZE || len > ACPI_AREA_SIZE - off)
		return -ENOSPC;
	*gpa = ACPI_START + off;
	*hva = a->hva + off;
	a->used = off + len;
	return 0;
}

uint8_t acpi_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += b[i];
	return (uint8_t)-sum;
}

void acpi_header_init(struct acpi_table_header *h, const char sig[4],
		      uint32_t length, uint8_t revision)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->signature, sig, 4);
	h->length = length;
	h->revision = revision;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, "CVMM", 4);
	memcpy(h->oem_table_id + 4, sig, 4);
	h->oem_revision = ACPI_OEM_REVISION;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = ACPI_CREATOR_REVISION;
}

/* Sets the checksum of a finished table (its header length must be final). */
static void table_finish(void *table)
{
	struct acpi_table_header *h = table;
	h->checksum = 0;
	h->checksum = acpi_checksum(table, h->length);
}

static int check_config(const struct acpi_config *cfg)
{
	if (cfg->ncpus == 0 || cfg->ncpus > ACPI_MAX_CPUS) {
		log_error("acpi: %u CPUs unsupported (1..%u)", cfg->ncpus,
			  ACPI_MAX_CPUS);
		return -EINVAL;
	}
	if (cfg->has_ecam && cfg->ecam_end_bus > 255) {
		log_error("acpi: ECAM end bus %u > 255", cfg->ecam_end_bus);
		return -EINVAL;
	}
	if ((cfg->dsdt_aml_len && !cfg->dsdt_aml) ||
	    (cfg->n_extra_tables && !cfg->extra_tables)) {
		log_error("acpi: DSDT body or extra tables missing");
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->n_extra_tables; i++) {
		const struct acpi_blob *b = &cfg->extra_tables[i];
		struct acpi_table_header h;
		if (!b->data || b->len < sizeof(h) || b->len > UINT32_MAX) {
			log_error("acpi: extra table %u malformed", i);
			return -EINVAL;
		}
		memcpy(&h, b->data, sizeof(h));
		if (h.length != b->len) {
			log_error("acpi: extra table %u length %u != %zu", i,
				  h.length, b->len);
			return -EINVAL;
		}
	}
	return 0;
}

static int build_dsdt(struct acpi_area *a, const struct acpi_config *cfg,
		      uint64_t *gpa)
{
	uint64_t len = sizeof(struct acpi_table_header) +
		       sizeof(dsdt_builtin_aml) + cfg->dsdt_aml_len;
	if (len > UINT32_MAX)
		return -ENOSPC;
	void *p;
	int ret = area_alloc(a, len, gpa, &p);
	if (ret)
		return ret;
	uint8_t *b = p;
	acpi_header_init(p, "DSDT", (uint32_t)len, ACPI_DSDT_REVISION);
	size_t off = sizeof(struct acpi_table_header);
	memcpy(b + off, dsdt_builtin_aml, sizeof(dsdt_builtin_aml));
	off += sizeof(dsdt_builtin_aml);
	if (cfg->dsdt_aml_len)
		memcpy(b + off, cfg->dsdt_aml, cfg->dsdt_aml_len);
	table_finish(p);
	return 0;
}

static int build_fadt(struct acpi_area *a, uint64_t dsdt, uint64_t *gpa)
{
	void *p;
	int ret = area_alloc(a, sizeof(struct acpi_fadt), gpa, &p);
	if (ret)
		return ret;
	struct acpi_fadt *f = p;
	acpi_header_init(&f->header, "FACP", sizeof(*f), ACPI_FADT_REVISION);
	f->minor_revision = ACPI_FADT_MINOR_REVISION;
	/* Hardware-reduced: no SCI, SMI, PM1/PM2/PM timer/GPE blocks. */
	f->flags = ACPI_FADT_HW_REDUCED | ACPI_FADT_WBINVD |
		   ACPI_FADT_PWR_BUTTON | ACPI_FADT_SLP_BUTTON;
	f->iapc_boot_arch = ACPI_IAPC_LEGACY_DEVICES | ACPI_IAPC_8042 |
			    ACPI_IAPC_NO_VGA;
	/* Soft-off through the sleep control register (legacy/acpi_sleep.h). */
	f->sleep_control_reg = (struct acpi_gas){ .space_id = ACPI_GAS_SYSTEM_IO,
		.bit_width = 8, .access_size = ACPI_GAS_ACCESS_BYTE,
		.address = ACPI_SLEEP_CONTROL_PORT };
	f->sleep_status_reg = (struct acpi_gas){ .space_id = ACPI_GAS_SYSTEM_IO,
		.bit_width = 8, .access_size = ACPI_GAS_ACCESS_BYTE,
		.address = ACPI_SLEEP_STATUS_PORT };
	f->dsdt = (uint32_t)dsdt; /* below 1 MiB, so both forms agree */
	f->x_dsdt = dsdt;
	table_finish(f);
	return 0;
}

static int build_madt(struct acpi_area *a, unsigned ncpus, uint64_t *gpa)
{
	uint64_t len = sizeof(struct acpi_madt) +
		       ncpus * sizeof(struct acpi_madt_lapic) +
		       sizeof(struct acpi_madt_ioapic) +
		       sizeof(struct acpi_madt_lapic_nmi);
	void *p;
	int ret = area_alloc(a, len, gpa, &p);
	if (ret)
		return ret;
	struct acpi_madt *m = p;
	acpi_header_init(&m->header, "APIC", (uint32_t)len, ACPI_MADT_REVISION);
	m->lapic_address = (uint32_t)LAPIC_ADDR;
	m->flags = ACPI_MADT_PCAT_COMPAT;

	uint8_t *b = p;
	size_t off = sizeof(*m);
	for (unsigned i = 0; i < ncpus; i++) {
		struct acpi_madt_lapic *l = (void *)(b + off);
		l->type = ACPI_MADT_LAPIC;
		l->length = sizeof(*l);
		l->processor_uid = (uint8_t)i;
		l->apic_id = (uint8_t)i;
		l->flags = ACPI_MADT_LAPIC_ENABLED;
		off += sizeof(*l);
	}
	struct acpi_madt_ioapic *io = (void *)(b + off);
	io->type = ACPI_MADT_IOAPIC;
	io->length = sizeof(*io);
	io->ioapic_id = (uint8_t)ncpus;
	io->address = (uint32_t)IOAPIC_ADDR;
	io->gsi_base = 0;
	off += sizeof(*io);

	struct acpi_madt_lapic_nmi *nmi = (void *)(b + off);
	nmi->type = ACPI_MADT_LAPIC_NMI;
	nmi->length = sizeof(*nmi);
	nmi->processor_uid = ACPI_MADT_ALL_PROCESSORS;
	nmi->flags = ACPI_MPS_INTI_EDGE_HIGH;
	nmi->lint = 1;
	table_finish(m);
	return 0;
}

static int build_mcfg(struct acpi_area *a, const struct acpi_config *cfg,
		      uint64_t *gpa)
{
	uint64_t len = sizeof(struct acpi_mcfg) + sizeof(struct acpi_mcfg_alloc);
	void *p;
	int ret = area_alloc(a, len, gpa, &p);
	if (ret)
		return ret;
	struct acpi_mcfg *m = p;
	acpi_header_init(&m->header, "MCFG", (uint32_t)len,
			 ACPI_MCFG_REVISION);
	struct acpi_mcfg_alloc *e = (void *)((uint8_t *)p + sizeof(*m));
	e->base_address = cfg->ecam_base;
	e->segment = 0;
	e->start_bus = 0;
	e->end_bus = (uint8_t)cfg->ecam_end_bus;
	table_finish(m);
	return 0;
}

static int build_extra(struct acpi_area *a, const struct acpi_blob *b,
		       uint64_t *gpa)
{
	void *p;
	int ret = area_alloc(a, b->len, gpa, &p);
	if (ret)
		return ret;
	memcpy(p, b->data, b->len);
	table_finish(p);
	return 0;
}

/* XSDT and RSDT entry lists, filled as tables are placed. */
struct root_tables {
	uint8_t *xsdt;
	uint8_t *rsdt;
	unsigned n;
};

static void root_add(struct root_tables *r, uint64_t gpa)
{
	uint32_t gpa32 = (uint32_t)gpa; /* everything is below 1 MiB */
	memcpy(r->xsdt + sizeof(struct acpi_table_header) + r->n * 8, &gpa, 8);
	memcpy(r->rsdt + sizeof(struct acpi_table_header) + r->n * 4, &gpa32,
	       4);
	r->n++;
}

int acpi_build(const struct guest_mem *mem, const struct acpi_config *cfg,
	       uint64_t *rsdp_addr)
{
	int ret = check_config(cfg);
	if (ret)
		return ret;
	uint8_t *area = guest_mem_ptr(mem, ACPI_START, ACPI_AREA_SIZE);
	if (!area) {
		log_error("acpi: [0x%llx, 0x%llx) not in guest RAM", ACPI_START,
			  ACPI_TABLES_END);
		return -EFAULT;
	}
	memset(area, 0, ACPI_AREA_SIZE);
	struct acpi_area a = { .hva = area, .used = 0 };

	uint64_t rsdp_gpa, xsdt_gpa, rsdt_gpa, gpa;
	void *rsdp_p, *xsdt_p, *rsdt_p;
	uint64_t ntables = 2 + (cfg->has_ecam ? 1 : 0) + cfg->n_extra_tables;
	uint64_t xsdt_len = sizeof(struct acpi_table_header) + ntables * 8;
	uint64_t rsdt_len = sizeof(struct acpi_table_header) + ntables * 4;

	/* The RSDP must come first: ACPI_RSDP_ADDR is a fixed address. */
	ret = area_alloc(&a, sizeof(struct acpi_rsdp), &rsdp_gpa, &rsdp_p);
	if (ret)
		goto nospace;
	ret = area_alloc(&a, xsdt_len, &xsdt_gpa, &xsdt_p);
	if (ret)
		goto nospace;
	ret = area_alloc(&a, rsdt_len, &rsdt_gpa, &rsdt_p);
	if (ret)
		goto nospace;
	struct root_tables root = { .xsdt = xsdt_p, .rsdt = rsdt_p, .n = 0 };

	uint64_t dsdt_gpa;
	ret = build_dsdt(&a, cfg, &dsdt_gpa);
	if (ret)
		goto nospace;
	ret = build_fadt(&a, dsdt_gpa, &gpa);
	if (ret)
		goto nospace;
	root_add(&root, gpa);
	ret = build_madt(&a, cfg->ncpus, &gpa);
	if (ret)
		goto nospace;
	root_add(&root, gpa);
	if (cfg->has_ecam) {
		ret = build_mcfg(&a, cfg, &gpa);
		if (ret)
			goto nospace;
		root_add(&root, gpa);
	}
	for (unsigned i = 0; i < cfg->n_extra_tables; i++) {
		ret = build_extra(&a, &cfg->extra_tables[i], &gpa);
		if (ret)
			goto nospace;
		root_add(&root, gpa);
	}

	acpi_header_init(xsdt_p, "XSDT", (uint32_t)xsdt_len,
			 ACPI_XSDT_REVISION);
	table_finish(xsdt_p);
	acpi_header_init(rsdt_p, "RSDT", (uint32_t)rsdt_len,
			 ACPI_RSDT_REVISION);
	table_finish(rsdt_p);

	struct acpi_rsdp *rsdp = rsdp_p;
	memcpy(rsdp->signature, "RSD PTR ", 8);
	memcpy(rsdp->oem_id, ACPI_OEM_ID, 6);
	rsdp->revision = 2;
	rsdp->rsdt_address = (uint32_t)rsdt_gpa;
	rsdp->length = sizeof(*rsdp);
	rsdp->xsdt_address = xsdt_gpa;
	rsdp->checksum = acpi_checksum(rsdp, 20);
	rsdp->extended_checksum = acpi_checksum(rsdp, sizeof(*rsdp));

	log_debug("acpi: %u CPUs, RSDP 0x%llx, %u tables, %llu bytes",
		  cfg->ncpus, (unsigned long long)rsdp_gpa, root.n,
		  (unsigned long long)a.used);
	*rsdp_addr = rsdp_gpa;
	return 0;

nospace:
	log_error("acpi: tables do not fit in [0x%llx, 0x%llx)", ACPI_START,
		  ACPI_TABLES_END);
	return ret;
}
