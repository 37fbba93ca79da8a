/* SPDX-License-Identifier: MIT */
/* DSDT device objects; see dsdt.h. */
#include "arch/x86/dsdt.h"

#include <errno.h>

#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "legacy/acpi_sleep.h"
#include "legacy/ged.h"

#define ECAM_BUS_SIZE (1ULL << 20) /* 32 devices x 8 functions x 4 KiB */
#define FOUR_GIB (1ULL << 32)
#define PCI_PINS 4 /* INTA#..INTD# */

/* The PCI fields, when there is a PCI bus to describe. */
static int check_pci_config(const struct dsdt_config *c)
{
	if (c->ecam_end_bus > 255 || (c->ecam_base & (ECAM_BUS_SIZE - 1)))
		return -EINVAL;
	uint64_t ecam_size = (c->ecam_end_bus + 1ULL) * ECAM_BUS_SIZE;
	if (c->ecam_base > UINT64_MAX - ecam_size + 1)
		return -EINVAL;
	if (c->mmio32_size == 0 || c->mmio32_base >= FOUR_GIB ||
	    c->mmio32_size > FOUR_GIB - c->mmio32_base)
		return -EINVAL;
	if (c->mmio64_size && c->mmio64_base > UINT64_MAX - c->mmio64_size + 1)
		return -EINVAL;
	return 0;
}

static int check_config(const struct dsdt_config *c)
{
	if (c->pci && check_pci_config(c))
		return -EINVAL;
	if (c->nvirtio_mmio > DSDT_VIRTIO_MMIO_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < c->nvirtio_mmio; i++)
		if (c->virtio_mmio[i].size == 0 ||
		    c->virtio_mmio[i].base > UINT32_MAX - c->virtio_mmio[i].size + 1)
			return -EINVAL;
	if (c->ged && (c->ged_size < 4 || c->ged_base > UINT32_MAX - c->ged_size + 1))
		return -EINVAL;
	if (c->pci_hotplug && (!c->pci || !c->ged || c->hotplug_base > UINT32_MAX - 16 + 1))
		return -EINVAL;
	return 0;
}

/* Name (_HID, EisaId (id)) */
static void name_eisaid(struct aml *a, const char *name, const char *id)
{
	aml_name(a, name);
	aml_eisaid(a, id);
}

static void name_integer(struct aml *a, const char *name, uint64_t v)
{
	aml_name(a, name);
	aml_integer(a, v);
}

/* Memory range [base, base + size) as a DWord or, above 4 GiB, QWord. */
static void res_memory(struct aml *a, bool producer, uint8_t flags,
		       uint64_t base, uint64_t size)
{
	uint64_t last = base + size - 1;
	if (last < FOUR_GIB)
		aml_res_dword_memory(a, producer, flags, (uint32_t)base,
				     (uint32_t)last);
	else
		aml_res_qword_memory(a, producer, flags, base, last);
}

static unsigned prt_slots(const struct dsdt_config *c)
{
	unsigned n = 0;
	for (unsigned s = 0; s < DSDT_PCI_SLOTS; s++)
		n += c->intx_gsi[s] != 0;
	return n;
}

/*
 * A NameSeg of a 1-2 character prefix and n's low byte in two upper-case
 * hex digits: "Snn" (slot device), "VRnn" (virtio-mmio device).
 */
static void hex_name(char name[5], const char *prefix, unsigned n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i = 0;
	while (i < 2 && prefix[i]) {
		name[i] = prefix[i];
		i++;
	}
	name[i++] = hex[(n >> 4) & 0xf];
	name[i++] = hex[n & 0xf];
	name[i] = 0;
}

/*
 * If ((LocalN & bit) == bit) {: opens the If and writes its predicate
 * (LEqual (And (LocalN, bit, ), bit)); the caller writes the body and
 * closes it with aml_end(a, m).
 */
static void if_bit_begin(struct aml *a, unsigned local, uint32_t bit, struct aml_mark *m)
{
	aml_if_begin(a, m);
	aml_lequal(a);
	aml_and(a);
	aml_local(a, local);
	aml_integer(a, bit);
	aml_null_name(a);
	aml_integer(a, bit);
}

/* If ((LocalN & bit) == bit) { Notify (target, value) } */
static void notify_if_bit(struct aml *a, unsigned local, uint32_t bit, const char *target,
			  unsigned value)
{
	struct aml_mark cond;
	if_bit_begin(a, local, bit, &cond);
	aml_notify(a);
	aml_name_ref(a, target);
	aml_integer(a, value);
	aml_end(a, &cond);
}

/*
 * PCI hotplug (dsdt.h): the controller's registers, a device per slot
 * (1-31; slot 0 is the host bridge) that acpiphp takes for a hotplug
 * slot, and PCNT, which the GED's _EVT runs.
 */
static void build_hotplug(struct aml *a, const struct dsdt_config *c)
{
	struct aml_mark fld, dev, ej0, pcnt;
	aml_operation_region(a, "PCST", AML_SPACE_SYSTEM_MEMORY, c->hotplug_base, 16);
	aml_field_begin(a, "PCST", AML_FIELD_DWORD_ACC | AML_FIELD_WRITE_AS_ZEROS, &fld);
	aml_field_unit(a, "PCIU", 32);
	aml_field_unit(a, "PCID", 32);
	aml_field_unit(a, "B0EJ", 32);
	aml_field_unit(a, "PSEG", 32);
	aml_end(a, &fld);

	for (unsigned s = 1; s < DSDT_PCI_SLOTS; s++) {
		char name[5];
		hex_name(name, "S", s);
		aml_device_begin(a, name, &dev);
		name_integer(a, "_ADR", (uint64_t)s << 16);
		name_integer(a, "_SUN", s);
		/* A device that cannot go (no_eject): no _EJ0, so the guest
		 * neither offers nor attempts its removal. */
		if (!(c->no_eject & (1u << s))) {
			/* Method (_EJ0, 1) { Store (Zero, PSEG); Store (1 << s, B0EJ) } */
			aml_method_begin(a, "_EJ0", 1, false, &ej0);
			aml_store(a);
			aml_integer(a, 0);
			aml_name_ref(a, "\\_SB.PCI0.PSEG");
			aml_store(a);
			aml_integer(a, 1ULL << s);
			aml_name_ref(a, "\\_SB.PCI0.B0EJ");
			aml_end(a, &ej0);
		}
		aml_end(a, &dev);
	}

	aml_method_begin(a, "PCNT", 0, true, &pcnt);
	aml_store(a);
	aml_name_ref(a, "PCIU");
	aml_local(a, 0);
	aml_store(a);
	aml_name_ref(a, "PCID");
	aml_local(a, 1);
	for (unsigned s = 1; s < DSDT_PCI_SLOTS; s++) {
		char name[5];
		hex_name(name, "S", s);
		notify_if_bit(a, 0, 1u << s, name, 1); /* device check */
		notify_if_bit(a, 1, 1u << s, name, 3); /* eject request */
	}
	aml_end(a, &pcnt);
}

static void build_pci0(struct aml *a, const struct dsdt_config *c)
{
	struct aml_mark dev, crs, prt, entry;

	aml_device_begin(a, "PCI0", &dev);
	name_eisaid(a, "_HID", "PNP0A08"); /* PCI Express root bridge */
	name_eisaid(a, "_CID", "PNP0A03"); /* PCI root bridge */
	name_integer(a, "_SEG", 0);
	name_integer(a, "_UID", 0);
	name_integer(a, "_BBN", 0);

	aml_name(a, "_CRS");
	aml_restemplate_begin(a, &crs);
	aml_res_word_bus_number(a, true, 0, (uint16_t)c->ecam_end_bus);
	/* The bridge itself decodes CONFIG_ADDRESS/CONFIG_DATA. */
	aml_res_io_fixed(a, PCI_CONFIG_ADDRESS_PORT, 8);
	/* Every other port is forwarded (the legacy ones included). */
	aml_res_word_io(a, true, 0x0000, PCI_CONFIG_ADDRESS_PORT - 1);
	aml_res_word_io(a, true, PCI_CONFIG_ADDRESS_PORT + 8, 0xffff);
	res_memory(a, true, AML_MEM_RW | AML_MEM_NONCACHEABLE, c->mmio32_base,
		   c->mmio32_size);
	if (c->mmio64_size) {
		uint64_t last = c->mmio64_base + c->mmio64_size - 1;
		aml_res_qword_memory(a, true, AML_MEM_RW | AML_MEM_NONCACHEABLE,
				     c->mmio64_base, last);
	}
	aml_restemplate_end(a, &crs);

	/* Package { Package { Address, Pin, Source (Zero: a GSI), GSI }... } */
	aml_name(a, "_PRT");
	aml_package_begin(a, prt_slots(c) * PCI_PINS, &prt);
	for (unsigned s = 0; s < DSDT_PCI_SLOTS; s++) {
		if (!c->intx_gsi[s])
			continue;
		for (unsigned pin = 0; pin < PCI_PINS; pin++) {
			aml_package_begin(a, 4, &entry);
			aml_integer(a, (uint64_t)s << 16 | 0xffff); /* any function */
			aml_integer(a, pin);
			aml_integer(a, 0);
			aml_integer(a, c->intx_gsi[s]);
			aml_end(a, &entry);
		}
	}
	aml_end(a, &prt);

	if (c->pci_hotplug)
		build_hotplug(a, c);
	aml_end(a, &dev);
}

/* Motherboard resources: keeps the ECAM area out of everyone's way. */
static void build_res0(struct aml *a, const struct dsdt_config *c)
{
	struct aml_mark dev, crs;
	aml_device_begin(a, "RES0", &dev);
	name_eisaid(a, "_HID", "PNP0C02");
	name_integer(a, "_UID", 0);
	aml_name(a, "_CRS");
	aml_restemplate_begin(a, &crs);
	res_memory(a, false, AML_MEM_RW | AML_MEM_NONCACHEABLE, c->ecam_base,
		   (c->ecam_end_bus + 1ULL) * ECAM_BUS_SIZE);
	aml_restemplate_end(a, &crs);
	aml_end(a, &dev);
}

static void build_com1(struct aml *a)
{
	struct aml_mark dev, crs;
	aml_device_begin(a, "COM1", &dev);
	name_eisaid(a, "_HID", "PNP0501"); /* 16550A-compatible */
	name_integer(a, "_UID", 1);
	aml_name(a, "_CRS");
	aml_restemplate_begin(a, &crs);
	aml_res_io_fixed(a, COM1_PORT, 8);
	aml_res_irq_noflags(a, 1u << COM1_IRQ);
	aml_restemplate_end(a, &crs);
	aml_end(a, &dev);
}

static void build_ps2k(struct aml *a)
{
	struct aml_mark dev, crs;
	aml_device_begin(a, "PS2K", &dev);
	name_eisaid(a, "_HID", "PNP0303"); /* IBM enhanced keyboard */
	aml_name(a, "_CRS");
	aml_restemplate_begin(a, &crs);
	aml_res_io_fixed(a, I8042_DATA_PORT, 1);
	aml_res_io_fixed(a, I8042_CMD_PORT, 1);
	aml_res_irq_noflags(a, 1u << 1);
	aml_restemplate_end(a, &crs);
	aml_end(a, &dev);
}

static void build_ps2m(struct aml *a)
{
	struct aml_mark dev, crs;
	aml_device_begin(a, "PS2M", &dev);
	name_eisaid(a, "_HID", "PNP0F13"); /* PS/2 mouse */
	aml_name(a, "_CRS");
	aml_restemplate_begin(a, &crs);
	aml_res_irq_noflags(a, 1u << 12);
	aml_restemplate_end(a, &crs);
	aml_end(a, &dev);
}

static void build_rtc(struct aml *a)
{
	struct aml_mark dev, crs;
	aml_device_begin(a, "RTC", &dev);
	name_eisaid(a, "_HID", "PNP0B00"); /* AT real-time clock */
	aml_name(a, "_CRS");
	aml_restemplate_begin(a, &crs);
	aml_res_io_fixed(a, RTC_PORT, 2);
	aml_restemplate_end(a, &crs);
	aml_end(a, &dev);
}

/* The power button: a control-method device, notified by the GED. */
static void build_pwrb(struct aml *a)
{
	struct aml_mark dev;
	aml_device_begin(a, "PWRB", &dev);
	name_eisaid(a, "_HID", "PNP0C0C"); /* power button device */
	name_integer(a, "_UID", 0);
	aml_end(a, &dev);
}

/*
 * The Generic Event Device (legacy/ged.h): its interrupt makes the OS run
 * _EVT, which reads the EVENT register, acknowledges what it read (write 1
 * to clear) and notifies the power button (0x80: "button pressed").
 *
 * _CRS holds the interrupt and nothing else: Linux's acpi-ged driver walks
 * every _CRS descriptor as an interrupt and fails its probe on any other
 * ("unable to parse IRQ resource"). The register block is reached through
 * the OperationRegion only; it lies outside RAM and the PCI windows.
 */
static void build_ged(struct aml *a, const struct dsdt_config *c)
{
	struct aml_mark dev, crs, fld, evt, cond;
	aml_device_begin(a, "GED", &dev);
	aml_name(a, "_HID");
	aml_string(a, "ACPI0013");
	name_integer(a, "_UID", 0);
	aml_name(a, "_CRS");
	aml_restemplate_begin(a, &crs);
	/* Level, active high, exclusive: asserted while an event is pending. */
	aml_res_interrupt(a, AML_EXT_IRQ_CONSUMER, c->ged_gsi);
	aml_restemplate_end(a, &crs);

	/* OperationRegion (GREG, SystemMemory, base, 4)
	 * Field (GREG, DWordAcc, NoLock, WriteAsZeros) { GEVT, 32 } */
	aml_operation_region(a, "GREG", AML_SPACE_SYSTEM_MEMORY,
			     c->ged_base + GED_REG_EVENT, 4);
	aml_field_begin(a, "GREG", AML_FIELD_DWORD_ACC | AML_FIELD_WRITE_AS_ZEROS,
			&fld);
	aml_field_unit(a, "GEVT", 32);
	aml_end(a, &fld);

	/* Method (_EVT, 1, Serialized) {   Arg0: the interrupt (unused)
	 *   Store (GEVT, Local0)
	 *   Store (Local0, GEVT)
	 *   If (LEqual (And (Local0, 1, ), 1)) { Notify (\_SB.PWRB, 0x80) }
	 * } */
	aml_method_begin(a, "_EVT", 1, true, &evt);
	aml_store(a);
	aml_name_ref(a, "GEVT");
	aml_local(a, 0);
	aml_store(a);
	aml_local(a, 0);
	aml_name_ref(a, "GEVT");
	notify_if_bit(a, 0, GED_EVENT_POWER_BUTTON, "\\_SB.PWRB", 0x80);
	if (c->pci_hotplug) {
		/* If (LEqual (And (Local0, 2, ), 2)) { \_SB.PCI0.PCNT } */
		if_bit_begin(a, 0, GED_EVENT_PCI_HOTPLUG, &cond);
		aml_name_ref(a, "\\_SB.PCI0.PCNT");
		aml_end(a, &cond);
	}
	aml_end(a, &evt);
	aml_end(a, &dev);
}

/*
 * Name (\_S5, Package (1) { 5 }): soft-off's SLP_TYP for the FADT's sleep
 * control register (legacy/acpi_sleep.h). With it Linux registers ACPI
 * power-off; without it `poweroff` only halts the vCPUs.
 */
static void build_s5(struct aml *a)
{
	struct aml_mark pkg;
	aml_name(a, "\\_S5_");
	aml_package_begin(a, 1, &pkg);
	aml_integer(a, ACPI_SLEEP_TYP_S5);
	aml_end(a, &pkg);
}

/* A virtio-mmio window, described as QEMU's microvm does. */
static void build_virtio_mmio(struct aml *a, unsigned i,
			      const struct dsdt_virtio_mmio *d)
{
	char name[5];
	struct aml_mark dev, crs;
	hex_name(name, "VR", i);
	aml_device_begin(a, name, &dev);
	aml_name(a, "_HID");
	aml_string(a, "LNRO0005");
	name_integer(a, "_UID", i);
	name_integer(a, "_CCA", 1); /* cache-coherent DMA */
	aml_name(a, "_CRS");
	aml_restemplate_begin(a, &crs);
	aml_res_memory32_fixed(a, true, d->base, d->size);
	aml_res_interrupt(a, AML_EXT_IRQ_CONSUMER, d->gsi);
	aml_restemplate_end(a, &crs);
	aml_end(a, &dev);
}

int dsdt_build_devices(uint8_t *buf, size_t cap, size_t *len,
		       const struct dsdt_config *cfg)
{
	if (!buf || !len || !cfg)
		return -EINVAL;
	*len = 0;
	int ret = check_config(cfg);
	if (ret)
		return ret;

	struct aml a;
	struct aml_mark sb;
	aml_init(&a, buf, cap);
	aml_scope_begin(&a, "\\_SB", &sb);
	if (cfg->pci) {
		build_pci0(&a, cfg);
		build_res0(&a, cfg);
	}
	if (cfg->com1)
		build_com1(&a);
	if (cfg->ps2_keyboard)
		build_ps2k(&a);
	if (cfg->ps2_mouse)
		build_ps2m(&a);
	if (cfg->rtc)
		build_rtc(&a);
	for (unsigned i = 0; i < cfg->nvirtio_mmio; i++)
		build_virtio_mmio(&a, i, &cfg->virtio_mmio[i]);
	if (cfg->ged) {
		build_pwrb(&a);
		build_ged(&a, cfg);
	}
	aml_end(&a, &sb);
	build_s5(&a);

	size_t n;
	ret = aml_finish(&a, &n);
	if (ret)
		return ret;
	*len = n;
	return 0;
}
