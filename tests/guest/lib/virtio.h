/* SPDX-License-Identifier: MIT */
/*
 * Guest-side virtio 1.x driver over PCI (modern interface only) or MMIO
 * (version 2), written from the virtio 1.x specification: 4.1 "Virtio Over
 * PCI Bus", 4.2 "Virtio Over MMIO", 2.1 "Device Status Field", 2.2
 * "Feature Bits", 2.7 "Split Virtqueues", 3.1 "Device Initialization".
 *
 * virtio.c is the transport-independent part; a transport (virtio_pci.c,
 * virtio_mmio.c) is one struct virtio_transport_ops. virtio_find() looks
 * on PCI bus 0, then at the virtio-mmio devices the DSDT describes (and
 * the command line's virtio_mmio.device= entries); the command line's
 * transport=pci|mmio limits it to one.
 *
 * A driver session, as the spec orders it:
 *
 *	virtio_find(PCI_MECH_CF8, VIRTIO_ID_BLOCK, 0, &vd);   // PCI or MMIO
 *	virtio_start(&vd, wanted_features, VIRTIO_IRQ_MSIX); // reset, ACK,
 *	                          // DRIVER, features, FEATURES_OK, interrupts
 *	virtq_setup(&vd, 0, 16);  // rings in guest RAM, vector, queue_enable
 *	virtio_driver_ok(&vd);
 *	head = virtq_add(vq, bufs, n, token); virtq_kick(vq);
 *	virtq_wait(vq, ms, &len, &token);
 *
 * (virtio_init() does start + every queue + DRIVER_OK.)
 *
 * Interrupts: with VIRTIO_IRQ_MSIX, MSI-X table entry 0 is the
 * configuration vector and entry 1 + q the vector of queue q, each an IDT
 * vector of its own through the LAPIC. With VIRTIO_IRQ_INTX, MSI-X stays
 * disabled and the device's INTA# (IOAPIC pin = interrupt line, level,
 * active high) lands on vector 0x30 + pin, whose handler reads the ISR
 * (read-to-clear, which deasserts the line). VIRTIO_IRQ_NONE: MSI-X off,
 * INTx disabled in the command register: polling only. On virtio-mmio,
 * VIRTIO_IRQ_INTX is the device's GSI (level, vector 0x30 + GSI; the
 * handler reads InterruptStatus and writes it to InterruptACK), MSI-X is
 * refused and VIRTIO_IRQ_NONE leaves the pin masked.
 *
 * An interrupt handler records how far the used ring had advanced when it
 * ran (vq->irq_used). virtq_wait() in interrupt mode only takes used
 * entries an interrupt has announced, so a device that fills the used ring
 * but never interrupts is caught (VIRTQ_ERR_NO_IRQ). In poll mode
 * (virtq_set_poll) interrupts are suppressed (VRING_AVAIL_F_NO_INTERRUPT,
 * or used_event kept out of reach with EVENT_IDX) and the used ring is
 * polled.
 *
 * Every wait is bounded (milliseconds of TSC time) and reports failure
 * instead of hanging. Call virtio_platform_init() once first: PIC off,
 * LAPIC and IOAPIC set up, interrupts on.
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "pci.h"
#include "runtime.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

/* Device status (2.1). */
#define VIRTIO_S_ACKNOWLEDGE 0x01
#define VIRTIO_S_DRIVER 0x02
#define VIRTIO_S_DRIVER_OK 0x04
#define VIRTIO_S_FEATURES_OK 0x08
#define VIRTIO_S_NEEDS_RESET 0x40
#define VIRTIO_S_FAILED 0x80

#define BIT_ULL(n) (1ULL << (n))
/* Reserved feature bits (6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33

/* Vendor capability cfg_type (4.1.4). */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

/* struct virtio_pci_common_cfg (4.1.4.3). */
#define VIRTIO_COMMON_DFSELECT 0x00 /* le32 device_feature_select */
#define VIRTIO_COMMON_DF 0x04       /* le32 device_feature (RO) */
#define VIRTIO_COMMON_GFSELECT 0x08 /* le32 driver_feature_select */
#define VIRTIO_COMMON_GF 0x0c       /* le32 driver_feature */
#define VIRTIO_COMMON_MSIX 0x10     /* le16 config_msix_vector */
#define VIRTIO_COMMON_NUMQ 0x12     /* le16 num_queues (RO) */
#define VIRTIO_COMMON_STATUS 0x14   /* u8 device_status */
#define VIRTIO_COMMON_CFGGEN 0x15   /* u8 config_generation (RO) */
#define VIRTIO_COMMON_Q_SELECT 0x16 /* le16 */
#define VIRTIO_COMMON_Q_SIZE 0x18   /* le16 */
#define VIRTIO_COMMON_Q_MSIX 0x1a   /* le16 */
#define VIRTIO_COMMON_Q_ENABLE 0x1c /* le16 */
#define VIRTIO_COMMON_Q_NOFF 0x1e   /* le16 queue_notify_off (RO) */
#define VIRTIO_COMMON_Q_DESC 0x20   /* le64 */
#define VIRTIO_COMMON_Q_AVAIL 0x28  /* le64 (driver area) */
#define VIRTIO_COMMON_Q_USED 0x30   /* le64 (device area) */
#define VIRTIO_COMMON_SIZE 0x38

/* virtio-mmio registers (4.2.2), all 32-bit. */
#define VIRTIO_MMIO_MAGIC 0x000 /* 0x74726976 "virt" */
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEV_FEATURES 0x010
#define VIRTIO_MMIO_DEV_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRV_FEATURES 0x020
#define VIRTIO_MMIO_DRV_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INT_STATUS 0x060
#define VIRTIO_MMIO_INT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC 0x080  /* low, high at +4 */
#define VIRTIO_MMIO_QUEUE_AVAIL 0x090 /* driver area */
#define VIRTIO_MMIO_QUEUE_USED 0x0a0  /* device area */
#define VIRTIO_MMIO_CONFIG_GEN 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100
#define VIRTIO_MMIO_MAGIC_VALUE 0x74726976
#define VIRTIO_MMIO_MAX_DEVS 16

#define VIRTIO_MSI_NO_VECTOR 0xffff
#define VIRTIO_ISR_QUEUE 0x1
#define VIRTIO_ISR_CONFIG 0x2

/* Split virtqueue (2.7). */
struct vring_desc {
	u64 addr;
	u32 len;
	u16 flags;
	u16 next;
};
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4

struct vring_avail {
	u16 flags;
	u16 idx;
	u16 ring[]; /* size entries, then used_event */
};
#define VRING_AVAIL_F_NO_INTERRUPT 1

struct vring_used_elem {
	u32 id;
	u32 len;
};

struct vring_used {
	u16 flags;
	u16 idx;
	struct vring_used_elem ring[]; /* size entries, then avail_event */
};
#define VRING_USED_F_NO_NOTIFY 1

#define VIRTQ_MAX_SIZE 64
#define VIRTIO_MAX_QUEUES 4

enum virtio_irq_mode {
	VIRTIO_IRQ_NONE = 0,
	VIRTIO_IRQ_MSIX,
	VIRTIO_IRQ_INTX,
};

/* Error codes of the calls below (negative return values). */
#define VIRTIO_ERR_TIMEOUT (-1)     /* nothing came back in time */
#define VIRTIO_ERR_NO_IRQ (-2)      /* used entries, but no interrupt */
#define VIRTIO_ERR_NEEDS_RESET (-3) /* the device set DEVICE_NEEDS_RESET */
#define VIRTIO_ERR_FEATURES (-4)    /* FEATURES_OK not kept / VERSION_1 missing */
#define VIRTIO_ERR_QUEUE (-5)       /* queue not available / not enabled */
#define VIRTIO_ERR_VECTOR (-6)      /* MSI-X vector not accepted */
#define VIRTIO_ERR_NOSPACE (-7)     /* no free descriptors */
#define VIRTIO_ERR_CAPS (-8)        /* capabilities missing or out of the BAR */
#define VIRTIO_ERR_RESET (-9)       /* status did not read 0 after reset */
const char *virtio_strerror(int err);

struct virtio_dev;

struct virtq {
	struct virtio_dev *vd;
	u16 index;
	u16 size;        /* 0: not set up */
	u16 alloc_size;  /* ring memory is kept across resets */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	u64 desc_pa, avail_pa, used_pa;
	u64 notify;      /* notification address */
	u16 free_head, num_free;
	u16 last_used;   /* next used entry to consume */
	u16 kicked;      /* avail idx at the last notification decision */
	bool poll;       /* interrupts suppressed, used ring polled */
	u16 msix_entry;  /* table entry (VIRTIO_MSI_NO_VECTOR: none) */
	u8 vector;       /* IDT vector (MSI-X) */
	volatile u32 irqs;     /* interrupts seen for this queue */
	volatile u16 irq_used; /* used->idx when the last one ran */
	u16 chain_len[VIRTQ_MAX_SIZE];
	void *token[VIRTQ_MAX_SIZE];
};

/*
 * A transport: how the transport-independent code reaches the device's
 * registers. Queue operations select the queue themselves.
 */
struct virtio_transport_ops {
	const char *name; /* "pci", "mmio" */
	u8 (*get_status)(struct virtio_dev *vd);
	void (*put_status)(struct virtio_dev *vd, u8 status); /* as it is */
	u64 (*get_features)(struct virtio_dev *vd);  /* offered */
	void (*set_features)(struct virtio_dev *vd, u64 features);
	u16 (*num_queues)(struct virtio_dev *vd);
	/* Queue q's maximum size (0: no such queue); whether it is enabled. */
	u16 (*queue_max)(struct virtio_dev *vd, u16 q, bool *enabled);
	/* Size, interrupt and ring addresses of queue vq->index, as given;
	 * sets vq->notify. 0 or a negative error. */
	int (*queue_config)(struct virtio_dev *vd, struct virtq *vq, u16 size, u64 desc,
			    u64 avail, u64 used);
	/* Enables queue q; returns the enable/ready register read back. */
	u32 (*queue_enable)(struct virtio_dev *vd, u16 q);
	/* Writes `value` (normally the queue index) where vq notifies. */
	void (*notify)(struct virtq *vq, u32 value);
	u32 (*config_gen)(struct virtio_dev *vd);
	int (*setup_irq)(struct virtio_dev *vd, enum virtio_irq_mode mode);
	/* In the line's handler: the interrupt status, acknowledged. */
	u8 (*ack_isr)(struct virtio_dev *vd);
};

struct virtio_dev {
	const struct virtio_transport_ops *ops;
	char where[40];  /* "pci 00:03.0", "mmio 0xfeb02000 GSI 16" */
	struct pci_dev pci;   /* PCI */
	u64 base;        /* virtio-mmio: register window */
	u32 irq_line;    /* PCI interrupt line, or the virtio-mmio GSI */
	u16 type;        /* VIRTIO_ID_* */
	u64 common, isr, device, notify; /* mapped structure addresses */
	u32 device_len, notify_len, notify_mult;
	u64 dev_features;
	u64 features;    /* negotiated */
	u16 num_queues;
	enum virtio_irq_mode irq_mode;
	u8 config_vector;          /* IDT vector (MSI-X) */
	volatile u32 config_irqs;  /* configuration-change interrupts seen */
	u32 config_checked;        /* config_irqs when the status was last read */
	volatile u32 intx_irqs;    /* INTx interrupts with ISR != 0 */
	volatile u32 intx_spurious; /* INTx interrupts with ISR == 0 */
	volatile u8 isr_seen;      /* ISR bits read by the INTx handler */
	struct virtq vq[VIRTIO_MAX_QUEUES];
};

/* PIC off, LAPIC + IOAPIC initialised, ECAM base from MCFG, virtio-mmio
 * devices discovered, transport= read, sti. */
void virtio_platform_init(const struct boot_info *bi);
/* The command line's irq=msix|intx|none (default msix). */
enum virtio_irq_mode virtio_irq_mode_arg(const struct boot_info *bi);

/* DMA-able guest memory (zeroed, identity-mapped) from a static pool;
 * NULL when exhausted. */
void *virtio_alloc(size_t size, size_t align);

/*
 * Finds the nth (0-based) virtio device of `type`: functions on PCI bus 0
 * (mechanism m; virtio_probe) first, then virtio-mmio devices
 * (virtio_mmio_probe), unless transport= says which. Returns 0, 1 when
 * there is no such device, or a negative error.
 */
int virtio_find(enum pci_mech m, u16 type, int nth, struct virtio_dev *vd);
/* The same on one transport: *nth counts down over the devices of `type`
 * passed over. */
int virtio_pci_find(enum pci_mech m, u16 type, int *nth, struct virtio_dev *vd);
int virtio_mmio_find(u16 type, int *nth, struct virtio_dev *vd);

/* A virtio-mmio device as discovered (the DSDT or the command line). */
struct virtio_mmio_desc {
	u64 base;
	u32 size;
	u32 gsi;
	bool level, active_low; /* from the DSDT's Extended Interrupt */
};
struct virtio_mmio_list {
	u32 n;
	struct virtio_mmio_desc d[VIRTIO_MMIO_MAX_DEVS];
};
/* What virtio_platform_init() found: from the DSDT (LNRO0005 devices:
 * Memory32Fixed + Extended Interrupt) and from the command line. */
extern struct virtio_mmio_list virtio_mmio_dsdt, virtio_mmio_cmdline;
void virtio_mmio_discover(const struct boot_info *bi);
/* Checks MagicValue, Version 2 and DeviceID (0: no device there, returns
 * 1); fills vd. 0, 1, or VIRTIO_ERR_CAPS. */
int virtio_mmio_probe(struct virtio_dev *vd, const struct virtio_mmio_desc *d);

static inline bool virtio_on_pci(const struct virtio_dev *vd)
{
	return vd->ops && vd->ops->name[0] == 'p';
}

/* Shared by the transports: an IDT vector for (vd, queue q or -1 for the
 * configuration), and the level-triggered IOAPIC routing of a line. */
u8 virtio_alloc_vector(struct virtio_dev *vd, int q);
int virtio_route_line(struct virtio_dev *vd, u32 gsi);
/* Reads the vendor capabilities (first of each type, BAR index < 6, the
 * structure inside its BAR), turns on memory decoding and bus mastering. */
int virtio_probe(struct virtio_dev *vd, const struct pci_dev *pci);

/* virtio-pci common configuration access (each field with its own width). */
u8 virtio_status(struct virtio_dev *vd);
void virtio_set_status(struct virtio_dev *vd, u8 bits); /* ORs bits in */
u16 virtio_cfg_read16(struct virtio_dev *vd, u32 off);
void virtio_cfg_write16(struct virtio_dev *vd, u32 off, u16 v);
u32 virtio_cfg_read32(struct virtio_dev *vd, u32 off);
void virtio_cfg_write32(struct virtio_dev *vd, u32 off, u32 v);
void virtio_cfg_write64(struct virtio_dev *vd, u32 off, u64 v); /* lo, hi */
u64 virtio_device_features(struct virtio_dev *vd);

/* Writes 0 and waits (bounded) for the status to read back 0. */
int virtio_reset(struct virtio_dev *vd);
/* Waits until (status & mask) != 0; returns the status, or -1 on timeout. */
int virtio_wait_status(struct virtio_dev *vd, u8 mask, u64 ms);

/*
 * Reset, ACKNOWLEDGE, DRIVER, feature negotiation (offered & wanted;
 * VERSION_1 always required), FEATURES_OK read back, interrupt setup
 * (MSI-X config vector, or INTx routing, or neither).
 */
int virtio_start(struct virtio_dev *vd, u64 wanted, enum virtio_irq_mode mode);
/* Negotiation only (for tests that break it): writes `features` as they
 * are, sets FEATURES_OK, returns the status read back. */
u8 virtio_write_features(struct virtio_dev *vd, u64 features);

/*
 * Sets queue q up with min(size, queue max) entries (size a power of two
 * <= VIRTQ_MAX_SIZE): zeroed rings, queue_size, vector (MSI-X entry 1 + q),
 * ring addresses, queue_enable = 1, read back. 0 or a negative error.
 */
int virtq_setup(struct virtio_dev *vd, u16 q, u16 size);
/* DRIVER_OK; fails with VIRTIO_ERR_NEEDS_RESET when the device objects. */
int virtio_driver_ok(struct virtio_dev *vd);
/* virtio_start + queues 0..nq-1 of qsize + DRIVER_OK. */
int virtio_init(struct virtio_dev *vd, u64 wanted, enum virtio_irq_mode mode, u16 nq,
		u16 qsize);

/* One field of the device configuration (4.1.4.6) of len bytes (1, 2, 4,
 * 8: read with that width; other lengths byte by byte), read under
 * config_generation. Bytes beyond the structure read as 0. */
void virtio_read_config(struct virtio_dev *vd, u32 off, void *buf, u32 len);

/* ---- buffers ---- */
struct vbuf {
	const void *addr;
	u32 len;
	bool write; /* device-writable */
};

/* Chains bufs (device-readable ones first) and makes the chain available.
 * Returns the head descriptor, or VIRTIO_ERR_NOSPACE. */
int virtq_add(struct virtq *vq, const struct vbuf *bufs, u32 n, void *token);
/* Makes an already written descriptor chain available (no bookkeeping:
 * for hand-made, possibly invalid, chains). */
void virtq_publish(struct virtq *vq, u16 head);
/* Rebuilds the free descriptor list (every descriptor free): after
 * hand-made chains, when no chain is outstanding. */
void virtq_rebuild_free(struct virtq *vq);
/* Notifies the device if it asked to be (used flags / avail_event). */
void virtq_kick(struct virtq *vq);
/* Notifies the device unconditionally. */
void virtq_notify(struct virtq *vq);
/* Writes `value` where vq notifies (a stray notification for a test). */
void virtq_notify_value(struct virtq *vq, u32 value);
/* Queue q configured with these values as they are (for tests that break
 * the rules), then enabled: returns the enable register read back. */
u32 virtq_setup_raw(struct virtio_dev *vd, u16 q, u16 size, u64 desc, u64 avail, u64 used);
/* Interrupt suppression on (poll mode) or off. */
void virtq_set_poll(struct virtq *vq, bool poll);
/* Number of used entries not consumed yet. */
u16 virtq_pending(struct virtq *vq);
/* Takes the next used entry: head, or VIRTIO_ERR_TIMEOUT when none. */
int virtq_get(struct virtq *vq, u32 *len, void **token);
/*
 * Waits (at most ms) for the next used entry and takes it: in interrupt
 * mode only once an interrupt announced it. Returns the head, or
 * VIRTIO_ERR_TIMEOUT / NO_IRQ / NEEDS_RESET. len and token may be NULL.
 */
int virtq_wait(struct virtq *vq, u64 ms, u32 *len, void **token);

/* ---- virtio-blk (5.2) ---- */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_CFG_CAPACITY 0
#define VIRTIO_BLK_CFG_SEG_MAX 12
#define VIRTIO_BLK_CFG_BLK_SIZE 20

struct virtio_blk_hdr {
	u32 type;
	u32 reserved;
	u64 sector;
};

/*
 * One request on queue vq: header, data (device-readable for OUT,
 * device-writable otherwise; none when len is 0), status byte. nsplit > 1
 * splits the data over that many descriptors. Returns 0 with *status (and
 * *used_len) set, or a negative virtq_wait error.
 */
int virtio_blk_request(struct virtq *vq, u32 type, u64 sector, void *data, u32 len,
		       u32 nsplit, u8 *status, u32 *used_len, u64 ms);

/* ---- virtio-net (5.1) ---- */
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_HDR_LEN 12 /* struct virtio_net_hdr with num_buffers */

/* ---- virtio-console (5.3) ---- */
#define VIRTIO_CONSOLE_F_SIZE 0
#define VIRTIO_CONSOLE_F_MULTIPORT 1

#endif
