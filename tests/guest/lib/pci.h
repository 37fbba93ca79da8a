/* SPDX-License-Identifier: MIT */
/*
 * Guest-side PCI (bus 0): configuration access through the two mechanisms a
 * PC offers (ports 0xCF8/0xCFC and the ECAM MMIO window the ACPI MCFG table
 * advertises), enumeration, BAR sizing, capability walking, MSI-X and INTx.
 * Written from the PCI Local Bus and PCI Express Base specifications.
 *
 * Single-CPU use: nothing here is locked (CF8 is a latch shared by all
 * CPUs, so a guest using it from several CPUs would need a lock).
 */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

#include "runtime.h"

#define PCI_ECAM_DEFAULT 0xe0000000UL

enum pci_mech {
	PCI_MECH_CF8 = 1,
	PCI_MECH_ECAM = 2,
};

/* ---- configuration space registers (type 0 header) ---- */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYS_VENDOR 0x2c
#define PCI_SUBSYS_ID 0x2e
#define PCI_CAP_PTR 0x34
#define PCI_INT_LINE 0x3c
#define PCI_INT_PIN 0x3d

#define PCI_CMD_IO 0x0001
#define PCI_CMD_MEM 0x0002
#define PCI_CMD_MASTER 0x0004
#define PCI_CMD_INTX_DISABLE 0x0400
#define PCI_STATUS_INTX 0x0008
#define PCI_STATUS_CAPS 0x0010

#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_VENDOR 0x09
#define PCI_CAP_ID_MSIX 0x11

/* MSI-X capability: message control at +2, table at +4, PBA at +8. */
#define PCI_MSIX_CTRL_ENABLE 0x8000
#define PCI_MSIX_CTRL_MASKALL 0x4000
#define PCI_MSIX_ENTRY_SIZE 16
#define PCI_MSIX_VEC_MASKED 1u

enum pci_bar_kind {
	PCI_BAR_NONE = 0,
	PCI_BAR_IO,
	PCI_BAR_MEM32,
	PCI_BAR_MEM64, /* uses this BAR and the next (kind NONE, upper half) */
};

struct pci_bar_info {
	enum pci_bar_kind kind;
	bool prefetchable;
	u64 addr;
	u64 size;
};

#define PCI_MAX_CAPS 16

struct pci_dev {
	enum pci_mech mech; /* how it was found; its accessors use the same */
	u8 bus, slot, fn;
	u16 vendor, device;
	u16 subsys_vendor, subsys_id;
	u8 revision, header_type;
	u32 class_code; /* class << 16 | subclass << 8 | prog-if */
	u8 irq_line, irq_pin;
	struct pci_bar_info bar[6];
	u32 ncaps;
	u8 cap_off[PCI_MAX_CAPS];
	u8 cap_id[PCI_MAX_CAPS];
	/* MSI (msi_cap 0 when absent) */
	u8 msi_cap;
	/* MSI-X (msix_cap 0 when absent) */
	u8 msix_cap;
	u16 msix_size;		/* number of table entries */
	u8 msix_table_bir, msix_pba_bir;
	u32 msix_table_off, msix_pba_off;
};

/* ECAM base: from the ACPI MCFG table when pci_init() found one. */
extern u64 pci_ecam_base;
/* Reads MCFG (bi may be NULL: the default base). Returns 0, or -1 with the
 * default base kept when there is no usable MCFG. */
int pci_init(const struct boot_info *bi);

/* Raw configuration access (size 1, 2 or 4; naturally aligned offset). CF8
 * reaches offsets below 256 only. */
u32 pci_conf_read(enum pci_mech m, u8 bus, u8 slot, u8 fn, u16 off, u8 size);
void pci_conf_write(enum pci_mech m, u8 bus, u8 slot, u8 fn, u16 off, u8 size, u32 v);

/* The same, for an enumerated function (through its mechanism). */
u8 pci_read8(const struct pci_dev *d, u16 off);
u16 pci_read16(const struct pci_dev *d, u16 off);
u32 pci_read32(const struct pci_dev *d, u16 off);
void pci_write8(const struct pci_dev *d, u16 off, u8 v);
void pci_write16(const struct pci_dev *d, u16 off, u16 v);
void pci_write32(const struct pci_dev *d, u16 off, u32 v);

/*
 * Reads one function: ids, class, header, interrupt pin/line, capabilities
 * (walked with loop and range checks), BARs sized (see pci_size_bars) and
 * MSI-X parsed. Returns 0, 1 when no function answers (vendor 0xffff), or
 * a negative value on a malformed header/capability list (printed).
 */
int pci_probe(enum pci_mech m, u8 bus, u8 slot, u8 fn, struct pci_dev *d);
/* Every function on bus 0 (multi-function devices included). Returns the
 * number found (at most max), or a negative value from pci_probe. */
int pci_scan_bus0(enum pci_mech m, struct pci_dev *out, int max);

/*
 * Sizes every BAR the way Linux does: decoding off in the command register,
 * all-ones written, read back, the original value restored, decoding back
 * as it was. Fills d->bar[]. Returns 0, or -1 for an impossible answer.
 */
int pci_size_bars(struct pci_dev *d);

/* Offset of the first capability with `id` that follows, in list order,
 * the capability at offset `after` (0: from the start of the list), or 0.
 * List order, not address order: QEMU links its capabilities from the
 * highest offset down. */
u8 pci_find_cap(const struct pci_dev *d, u8 id, u8 after);

/* Command register helpers. */
void pci_enable(const struct pci_dev *d); /* memory/IO decoding + bus master */
void pci_intx_enable(const struct pci_dev *d, bool on); /* INTx Disable bit */

/* MSI-X. Address of table entry n (in the BAR) and the PBA. */
u64 pci_msix_table(const struct pci_dev *d);
u64 pci_msix_pba(const struct pci_dev *d);
/* Programs entry n: message address 0xFEE00000 | dest << 12 (fixed delivery,
 * physical destination), data = vector (edge), then the mask bit. */
void pci_msix_set(const struct pci_dev *d, u16 n, u32 dest_apic, u8 vector, bool masked);
void pci_msix_mask(const struct pci_dev *d, u16 n, bool masked);
bool pci_msix_pending(const struct pci_dev *d, u16 n);
/* Enable bit, Function Mask bit of the message control register. */
void pci_msix_enable(const struct pci_dev *d, bool on);
void pci_msix_mask_all(const struct pci_dev *d, bool masked);
u16 pci_msix_ctrl(const struct pci_dev *d);

/* MSI (PCI Local Bus 3.0, 6.8.1): message control at +2 (enable bit 0,
 * 64-bit capable bit 7), address at +4 (+8 upper half when 64-bit), data
 * at +8 or +12. Programs one message (address 0xFEE00000 | dest << 12,
 * data = vector, edge), multiple-message enable 0 (one vector). */
void pci_msi_set(const struct pci_dev *d, u32 dest_apic, u8 vector);
void pci_msi_enable(const struct pci_dev *d, bool on);

/* "CF8/CFC" or "ECAM", for messages. */
const char *pci_mech_name(enum pci_mech m);

#endif
