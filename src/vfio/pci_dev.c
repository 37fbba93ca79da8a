/* SPDX-License-Identifier: MIT */
/* The passthrough PCI device over a VFIO backend; see pci_dev.h. */
#include "vfio/pci_dev.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

#define PAGE 4096ULL

/* For error lines: "vfio 0000:01:00.0". */
#define DEV_FMT "%s %s"
#define DEV_ARGS(d) (d)->be->kind, (d)->be->name

struct bar_ctx {
	struct vfio_pci_dev *d;
	unsigned idx;
};

struct host_map {
	void *hva;
	uint64_t size;
};

struct vfio_pci_dev {
	struct pci_device pci;
	struct vfio_backend *be;
	struct irq_router *router;
	char name[128];
	struct vfio_device_info info;
	uint32_t cfg_size;
	/* The device's config space as it was read at creation. */
	uint8_t raw[PCI_CFG_SIZE];
	/* Bytes that are the device's (reads from it, writes to it). */
	bool passthru[PCI_CFG_SIZE];
	struct vfio_region_desc regions[PCI_NUM_BARS];
	struct bar_ctx ctx[PCI_NUM_BARS];
	struct host_map maps[PCI_NUM_BARS * PCI_BAR_MAX_AREAS];
	unsigned nmaps;
	struct vfio_area dma[GUEST_MEM_MAX_REGIONS]; /* DMA-mapped RAM (iova, size) */
	unsigned ndma;

	unsigned msix_cap, msi_cap; /* 0: the device has none */
	struct msix msix;           /* adopted when msix.dev is set */
	struct msi msi;             /* adopted when msi.dev is set */
	unsigned msix_dev_nvec;     /* the device's own table size */
	bool has_intx;
	bool intx_bound;            /* the resample irqfd is assigned */
	/* The device cannot take the resample eventfd as its unmask (a
	 * vfio-user server may not): cvmm unmasks on each resample. */
	bool intx_user_unmask;
	int intx_fd, intx_resample_fd;
	uint32_t intx_gsi;

	/* What the device has on (SET_IRQS); PCI bus lock held. */
	enum vfio_pci_irq_mode mode;
	unsigned mode_vectors;
	/* mode is MSI-X: read without the bus lock by msix_vector (MSI-X
	 * table writes), under the MSI-X lock. */
	_Atomic bool msix_on;
	/* Interrupts per VFIO index (INTx, MSI, MSI-X) of vectors since turned
	 * off (the backend's irq_counts only covers those on now); PCI bus
	 * lock held. */
	uint64_t irq_base[VFIO_PCI_IRQ_KINDS];
	unsigned irq_gen; /* bumped when a kind's count moves into irq_base */
	/* INTx interrupts cvmm saw (its resample eventfd), for a backend
	 * without irq_counts. */
	_Atomic uint64_t intx_seen;

	_Atomic uint64_t config_reads, config_writes, bar_reads, bar_writes;
	_Atomic uint64_t irq_sets, resets, errors, intx_unmasks;
};

static struct vfio_pci_dev *of_pci(struct pci_device *p)
{
	return (struct vfio_pci_dev *)((char *)p - offsetof(struct vfio_pci_dev, pci));
}

struct pci_device *vfio_pci_device(struct vfio_pci_dev *d)
{
	return &d->pci;
}

struct msix *vfio_pci_msix(struct vfio_pci_dev *d)
{
	return d->msix.dev ? &d->msix : NULL;
}

struct msi *vfio_pci_msi(struct vfio_pci_dev *d)
{
	return d->msi.dev ? &d->msi : NULL;
}

const char *vfio_pci_irq_mode_name(enum vfio_pci_irq_mode m)
{
	switch (m) {
	case VFIO_PCI_IRQ_INTX: return "intx";
	case VFIO_PCI_IRQ_MSI: return "msi";
	case VFIO_PCI_IRQ_MSIX: return "msix";
	default: return "none";
	}
}

/* A backend operation's result, counted when it failed (it logged). */
static int counted(struct vfio_pci_dev *d, int ret)
{
	if (ret)
		atomic_fetch_add(&d->errors, 1);
	return ret;
}

static int cfg_read(struct vfio_pci_dev *d, uint32_t off, void *buf, size_t len)
{
	return counted(d, d->be->ops->region_read(d->be, VFIO_PCI_CONFIG_REGION_INDEX,
						  off, buf, len));
}

static int cfg_write(struct vfio_pci_dev *d, uint32_t off, const void *buf, size_t len)
{
	return counted(d, d->be->ops->region_write(d->be, VFIO_PCI_CONFIG_REGION_INDEX,
						   off, buf, len));
}

/* ---- interrupts: one kind at a time at the device (bus lock held) ---- */

static int set_irqs_at(struct vfio_pci_dev *d, unsigned index, unsigned start,
		       unsigned count, uint32_t flags, const int32_t *fds)
{
	atomic_fetch_add(&d->irq_sets, 1);
	return counted(d, d->be->ops->set_irqs(d->be, index, start, count, flags, fds, NULL));
}

static int set_irqs(struct vfio_pci_dev *d, unsigned index, unsigned count,
		    uint32_t flags, const int32_t *fds)
{
	return set_irqs_at(d, index, 0, count, flags, fds);
}

static const unsigned mode_index[] = {
	[VFIO_PCI_IRQ_INTX] = VFIO_PCI_INTX_IRQ_INDEX,
	[VFIO_PCI_IRQ_MSI] = VFIO_PCI_MSI_IRQ_INDEX,
	[VFIO_PCI_IRQ_MSIX] = VFIO_PCI_MSIX_IRQ_INDEX,
};

/* Whatever is on goes off; with keep_count, its interrupt count, which
 * goes with its host vectors, is kept first (not at destroy: nobody asks
 * any more). */
static void irq_off(struct vfio_pci_dev *d, bool keep_count)
{
	if (d->mode != VFIO_PCI_IRQ_NONE) {
		unsigned index = mode_index[d->mode];
		uint64_t counts[VFIO_PCI_IRQ_KINDS];
		if (keep_count && d->be->ops->irq_counts &&
		    d->be->ops->irq_counts(d->be, counts) == 0)
			d->irq_base[index] += counts[index];
		d->irq_gen++;
		set_irqs(d, index, 0, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
			 NULL);
	}
	d->mode = VFIO_PCI_IRQ_NONE;
	d->mode_vectors = 0;
	atomic_store(&d->msix_on, false);
}

/* INTx (when the device has it): the trigger eventfd KVM injects from,
 * the resample eventfd as VFIO's unmask. */
static void intx_on(struct vfio_pci_dev *d)
{
	if (!d->has_intx || d->mode != VFIO_PCI_IRQ_NONE)
		return;
	const uint32_t efd = VFIO_IRQ_SET_DATA_EVENTFD;
	int32_t fd = d->intx_fd;
	if (set_irqs(d, VFIO_PCI_INTX_IRQ_INDEX, 1, efd | VFIO_IRQ_SET_ACTION_TRIGGER, &fd))
		return;
	d->mode = VFIO_PCI_IRQ_INTX;
	d->mode_vectors = 1;
	if (d->intx_user_unmask || !d->be->unmask_eventfd) {
		d->intx_user_unmask = true;
		return;
	}
	fd = d->intx_resample_fd;
	if (set_irqs(d, VFIO_PCI_INTX_IRQ_INDEX, 1, efd | VFIO_IRQ_SET_ACTION_UNMASK, &fd)) {
		/* From now on the control loop unmasks (vfio_pci_intx_resample);
		 * the refusal was counted and logged once. */
		d->intx_user_unmask = true;
		log_info(DEV_FMT ": INTx unmask eventfd refused: cvmm unmasks INTx itself",
			 DEV_ARGS(d));
	}
}

int vfio_pci_intx_resample_fd(struct vfio_pci_dev *d)
{
	return d->intx_user_unmask ? d->intx_resample_fd : -1;
}

void vfio_pci_intx_resample(struct vfio_pci_dev *d)
{
	uint64_t n;
	if (read(d->intx_resample_fd, &n, sizeof(n)) < 0)
		return; /* nothing (EAGAIN): a spurious wake-up */
	struct pci_bus *bus = d->pci.bus;
	pthread_mutex_lock(&bus->lock);
	if (d->mode == VFIO_PCI_IRQ_INTX) {
		/* One EOI per interrupt: the device's INTx stays masked from
		 * its interrupt to this unmask. */
		atomic_fetch_add(&d->intx_seen, n);
		atomic_fetch_add(&d->intx_unmasks, 1);
		counted(d, d->be->ops->set_irqs(d->be, VFIO_PCI_INTX_IRQ_INDEX, 0, 1,
						VFIO_IRQ_SET_DATA_NONE |
						VFIO_IRQ_SET_ACTION_UNMASK, NULL, NULL));
	}
	pthread_mutex_unlock(&bus->lock);
}

/* MSI or MSI-X with n vectors on these eventfds; INTx again if refused. */
static void vectors_on(struct vfio_pci_dev *d, enum vfio_pci_irq_mode mode, unsigned n,
		       const int32_t *fds)
{
	irq_off(d, true);
	if (set_irqs(d, mode_index[mode], n, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		     fds) == 0) {
		d->mode = mode;
		d->mode_vectors = n;
		atomic_store(&d->msix_on, mode == VFIO_PCI_IRQ_MSIX);
		return;
	}
	intx_on(d);
}

/* MSI-X on at the device: one SET_IRQS for the whole table (VFIO allocates
 * the host vectors with it), with the eventfds of the vectors used so far
 * and -1 (none attached) for the others, which get theirs when first used
 * (msix_vector). */
static void msix_enable(void *opaque, bool on)
{
	struct vfio_pci_dev *d = opaque;
	if (on) {
		int32_t *fds = malloc(d->msix.nvec * sizeof(*fds));
		if (!fds) {
			log_ratelimited(&d->msix.rl, LOG_ERROR, DEV_FMT ": MSI-X enable: %s",
					DEV_ARGS(d), strerror(ENOMEM));
			return;
		}
		for (unsigned v = 0; v < d->msix.nvec; v++)
			fds[v] = d->msix.vec[v].irqfd;
		vectors_on(d, VFIO_PCI_IRQ_MSIX, d->msix.nvec, fds);
		free(fds);
	} else if (d->mode == VFIO_PCI_IRQ_MSIX) {
		irq_off(d, true);
		intx_on(d);
	}
}

/* An MSI-X vector used for the first time while MSI-X is on at the
 * device: its eventfd attached to that vector alone (VFIO: the others
 * keep theirs). A refusal is the backend's line (counted); the vector's
 * interrupts then do not arrive. */
static void msix_vector(void *opaque, unsigned v, int fd)
{
	struct vfio_pci_dev *d = opaque;
	if (!atomic_load(&d->msix_on))
		return;
	int32_t efd = fd;
	set_irqs_at(d, VFIO_PCI_MSIX_IRQ_INDEX, v, 1,
		    VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, &efd);
}

static void msi_enable(void *opaque, unsigned nvec)
{
	struct vfio_pci_dev *d = opaque;
	if (nvec) {
		int32_t fds[MSI_MAX_VECTORS];
		for (unsigned v = 0; v < nvec; v++)
			fds[v] = d->msi.vec[v].fd;
		vectors_on(d, VFIO_PCI_IRQ_MSI, nvec, fds);
	} else if (d->mode == VFIO_PCI_IRQ_MSI) {
		irq_off(d, true);
		intx_on(d);
	}
}

static const struct msix_hooks msix_hooks = { .enable = msix_enable, .vector = msix_vector };
static const struct msi_hooks msi_hooks = { .enable = msi_enable };

/* ---- config space and BARs (vCPU threads) ---- */

static bool is_command(uint32_t o)
{
	return o == PCI_COMMAND || o == PCI_COMMAND + 1;
}

static void vp_config_read(struct pci_device *pd, uint32_t off, uint8_t *data,
			   uint32_t len)
{
	struct vfio_pci_dev *d = of_pci(pd);
	atomic_fetch_add(&d->config_reads, 1);
	bool any = false;
	for (uint32_t i = 0; i < len; i++)
		any |= d->passthru[off + i];
	uint8_t dev[4];
	/* A failed read (logged by the backend) leaves the shadow's bytes. */
	if (any && cfg_read(d, off, dev, len) == 0)
		for (uint32_t i = 0; i < len; i++)
			if (d->passthru[off + i])
				data[i] = dev[i];
	if (d->msi.dev)
		msi_config_read(&d->msi, off, data, len);
}

static void vp_config_write(struct pci_device *pd, uint32_t off, uint32_t len)
{
	struct vfio_pci_dev *d = of_pci(pd);
	atomic_fetch_add(&d->config_writes, 1);
	/* The device's bytes, and the command register, as runs. */
	for (uint32_t i = 0; i < len;) {
		if (!d->passthru[off + i] && !is_command(off + i)) {
			i++;
			continue;
		}
		uint32_t j = i;
		while (j < len && (d->passthru[off + j] || is_command(off + j)))
			j++;
		cfg_write(d, off + i, &pd->config[off + i], j - i);
		i = j;
	}
	if (d->msix.dev)
		msix_config_write(&d->msix, off, len);
	if (d->msi.dev)
		msi_config_write(&d->msi, off, len);
}

/* Machine reset: the bus restored the shadow and the BARs already. */
static void vp_reset(struct pci_device *pd)
{
	struct vfio_pci_dev *d = of_pci(pd);
	atomic_fetch_add(&d->resets, 1);
	irq_off(d, true);
	if (d->info.flags & VFIO_DEVICE_FLAGS_RESET)
		counted(d, d->be->ops->reset(d->be));
	if (d->msix.dev)
		msix_reset(&d->msix);
	if (d->msi.dev)
		msi_reset(&d->msi);
	intx_on(d);
	/* Decoding and bus mastering as the shadow has them now. */
	cfg_write(d, PCI_COMMAND, &pd->config[PCI_COMMAND], 2);
}

static const struct pci_device_ops vp_ops = {
	.config_read = vp_config_read,
	.config_write = vp_config_write,
	.reset = vp_reset,
};

/* Trapped BAR accesses: MSI-X table and PBA here, the rest the device's. */
static void bar_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		   bool is_write)
{
	struct bar_ctx *c = opaque;
	struct vfio_pci_dev *d = c->d;
	atomic_fetch_add(is_write ? &d->bar_writes : &d->bar_reads, 1);
	if (d->msix.dev && msix_access(&d->msix, c->idx, off, data, len, is_write))
		return;
	int ret = is_write ? d->be->ops->region_write(d->be, c->idx, off, data, len)
			   : d->be->ops->region_read(d->be, c->idx, off, data, len);
	if (counted(d, ret) && !is_write)
		memset(data, 0xff, len);
}

/* ---- creation ---- */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}


static uint64_t pow2_at_least(uint64_t v)
{
	uint64_t p = 1;
	while (p < v && p)
		p <<= 1;
	return p;
}

/* The device's BARs as region info and its BAR registers say. */
static int setup_bars(struct vfio_pci_dev *d)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_region_desc *r = &d->regions[i];
		int ret = d->be->ops->region_info(d->be, i, r);
		if (ret)
			return ret;
		if (!r->size)
			continue;
		uint32_t reg = le32(&d->raw[PCI_BASE_ADDRESS_0 + 4 * i]);
		enum pci_bar_type type = PCI_BAR_MEM32;
		bool pref = false;
		if (reg & PCI_BASE_ADDRESS_SPACE_IO) {
			type = PCI_BAR_IO;
		} else {
			if ((reg & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64)
				type = PCI_BAR_MEM64;
			pref = reg & PCI_BASE_ADDRESS_MEM_PREFETCH;
		}
		/* BAR sizes are powers of two; the smallest a BAR can be. */
		uint64_t size = pow2_at_least(r->size);
		if (size < (type == PCI_BAR_IO ? 4u : 16u))
			size = type == PCI_BAR_IO ? 4 : 16;
		d->ctx[i] = (struct bar_ctx){ d, i };
		ret = type == PCI_BAR_MEM64 && i == PCI_NUM_BARS - 1 ? -EINVAL :
		      pci_device_set_bar(&d->pci, i, type, pref, size, bar_io, &d->ctx[i]);
		if (ret) {
			log_error(DEV_FMT ": BAR%u (%s, %llu bytes) cannot be offered to the guest",
				  DEV_ARGS(d), i, type == PCI_BAR_IO ? "I/O" :
				  type == PCI_BAR_MEM64 ? "64-bit memory" : "32-bit memory",
				  (unsigned long long)r->size);
			return ret;
		}
		if (type == PCI_BAR_MEM64)
			i++; /* the upper half */
	}
	return 0;
}

/* The capabilities cvmm emulates, found in the device's list. */
static void find_caps(struct vfio_pci_dev *d)
{
	if (!(le16(&d->raw[PCI_STATUS]) & PCI_STATUS_CAP_LIST))
		return;
	unsigned ptr = d->raw[PCI_CAPABILITY_LIST] & 0xfc;
	for (unsigned n = 0; n < 48 && ptr >= PCI_STD_HEADER_SIZEOF && ptr < 0x100; n++) {
		if (d->raw[ptr] == PCI_CAP_ID_MSI && !d->msi_cap)
			d->msi_cap = ptr;
		else if (d->raw[ptr] == PCI_CAP_ID_MSIX && !d->msix_cap)
			d->msix_cap = ptr;
		ptr = d->raw[ptr + 1] & 0xfc;
	}
}

/* Which bytes are the device's: see pci_dev.h. */
static void setup_passthru(struct vfio_pci_dev *d)
{
	for (unsigned o = PCI_STD_HEADER_SIZEOF; o < d->cfg_size; o++)
		d->passthru[o] = true;
	d->passthru[PCI_STATUS] = d->passthru[PCI_STATUS + 1] = true;
	if (d->msix_cap)
		for (unsigned o = 0; o < PCI_CAP_MSIX_SIZEOF; o++)
			d->passthru[d->msix_cap + o] = false;
	if (d->msi_cap) {
		unsigned size = msi_cap_size(le16(&d->raw[d->msi_cap + PCI_MSI_FLAGS]));
		for (unsigned o = 0; o < size && d->msi_cap + o < 0x100; o++)
			d->passthru[d->msi_cap + o] = false;
	}
	for (unsigned o = 0; o < d->cfg_size; o++) {
		if (!d->passthru[o])
			continue;
		d->pci.wmask[o] = 0xff;
		d->pci.w1cmask[o] = 0;
	}
}

static int irq_info(struct vfio_pci_dev *d, unsigned index, struct vfio_irq_info *out)
{
	*out = (struct vfio_irq_info){ .argsz = sizeof(*out), .index = index };
	if (index >= d->info.num_irqs)
		return 0;
	return d->be->ops->irq_info(d->be, index, out);
}

static int setup_irqs(struct vfio_pci_dev *d)
{
	struct vfio_irq_info intx, msi, msix;
	int ret = irq_info(d, VFIO_PCI_INTX_IRQ_INDEX, &intx);
	ret = ret ?: irq_info(d, VFIO_PCI_MSI_IRQ_INDEX, &msi);
	ret = ret ?: irq_info(d, VFIO_PCI_MSIX_IRQ_INDEX, &msix);
	if (ret)
		return ret;
	/* A capability without interrupts behind it stays read-only: the
	 * guest cannot enable it. */
	if (d->msi_cap && msi.count && (msi.flags & VFIO_IRQ_INFO_EVENTFD)) {
		ret = msi_adopt(&d->msi, &d->pci, d->router, d->msi_cap, msi.count,
				&msi_hooks, d);
		if (ret) {
			log_error(DEV_FMT ": MSI emulation: %s", DEV_ARGS(d), strerror(-ret));
			return ret;
		}
	}
	/* MSI-X takes what is left of KVM's route table (up to a route per
	 * vector, reserved), after MSI's few. */
	if (d->msix_cap && msix.count && (msix.flags & VFIO_IRQ_INFO_EVENTFD)) {
		const uint8_t *c = &d->raw[d->msix_cap];
		d->msix_dev_nvec = (le16(c + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_QSIZE) + 1;
		uint32_t table = le32(c + PCI_MSIX_TABLE), pba = le32(c + PCI_MSIX_PBA);
		unsigned tbir = table & PCI_MSIX_TABLE_BIR, pbir = pba & PCI_MSIX_PBA_BIR;
		unsigned nvec = d->msix_dev_nvec;
		if (nvec > msix.count)
			nvec = msix.count;
		if (nvec > MSIX_MAX_VECTORS)
			nvec = MSIX_MAX_VECTORS;
		if (tbir >= PCI_NUM_BARS || pbir >= PCI_NUM_BARS ||
		    d->pci.bars[tbir].type == PCI_BAR_NONE || d->pci.bars[tbir].type == PCI_BAR_IO ||
		    d->pci.bars[pbir].type == PCI_BAR_NONE || d->pci.bars[pbir].type == PCI_BAR_IO) {
			log_error(DEV_FMT ": MSI-X table (BAR%u) or PBA (BAR%u) in no memory BAR",
				  DEV_ARGS(d), tbir, pbir);
			return -EINVAL;
		}
		ret = msix_adopt(&d->msix, &d->pci, d->router, d->msix_cap, nvec, tbir,
				 table & PCI_MSIX_TABLE_OFFSET, pbir, pba & PCI_MSIX_PBA_OFFSET,
				 &msix_hooks, d);
		if (ret == -ENOSPC) {
			log_error(DEV_FMT ": MSI-X emulation: KVM's interrupt route table is full "
				  "(%u routes): no room for any of its %u vectors", DEV_ARGS(d),
				  d->router->max_routes, d->msix_dev_nvec);
			return ret;
		}
		if (ret) {
			log_error(DEV_FMT ": MSI-X emulation: %s", DEV_ARGS(d), strerror(-ret));
			return ret;
		}
		/* Fewer vectors than the device has: its table size says so to
		 * the guest (the spec lets a function have any size). */
		if (d->msix.nvec < nvec)
			log_warn(DEV_FMT ": offering %u of its %u MSI-X vectors: KVM's interrupt "
				 "route table (%u routes) has no room for more", DEV_ARGS(d),
				 d->msix.nvec, d->msix_dev_nvec, d->router->max_routes);
		else if (d->msix.nvec < d->msix_dev_nvec)
			log_info(DEV_FMT ": offering %u of its %u MSI-X vectors (the interrupts "
				 "the backend has)", DEV_ARGS(d), d->msix.nvec, d->msix_dev_nvec);
	}
	d->has_intx = d->raw[PCI_INTERRUPT_PIN] && intx.count &&
		      (intx.flags & VFIO_IRQ_INFO_EVENTFD);
	if (!d->has_intx)
		d->pci.config[PCI_INTERRUPT_PIN] = 0;
	return 0;
}

unsigned vfio_pci_areas_minus(const struct vfio_area *areas, unsigned nareas,
			      const struct vfio_area *holes, unsigned nholes,
			      struct vfio_area *out, unsigned max)
{
	unsigned n = 0;
	for (unsigned a = 0; a < nareas; a++) {
		uint64_t start = (areas[a].offset + PAGE - 1) & ~(PAGE - 1);
		uint64_t end = (areas[a].offset + areas[a].size) & ~(PAGE - 1);
		while (start < end) {
			/* Out of any hole start is in (holes may touch). */
			for (bool moved = true; moved;) {
				moved = false;
				for (unsigned h = 0; h < nholes; h++) {
					if (!holes[h].size)
						continue;
					uint64_t hs = holes[h].offset & ~(PAGE - 1);
					uint64_t he = (holes[h].offset + holes[h].size + PAGE - 1) &
						      ~(PAGE - 1);
					if (hs <= start && start < he) {
						start = he;
						moved = true;
					}
				}
			}
			if (start >= end)
				break;
			/* Up to the next hole. */
			uint64_t stop = end;
			for (unsigned h = 0; h < nholes; h++) {
				uint64_t hs = holes[h].offset & ~(PAGE - 1);
				if (holes[h].size && hs > start && hs < stop)
					stop = hs;
			}
			if (n < max)
				out[n] = (struct vfio_area){ start, stop - start };
			n++;
			start = stop;
		}
	}
	return n;
}

/* Memory BARs' mmap-able areas as BAR areas (KVM slots once placed). */
static void setup_areas(struct vfio_pci_dev *d)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		const struct vfio_region_desc *r = &d->regions[i];
		const struct pci_bar *b = &d->pci.bars[i];
		if ((b->type != PCI_BAR_MEM32 && b->type != PCI_BAR_MEM64) ||
		    !(r->flags & VFIO_REGION_INFO_FLAG_MMAP) || !r->nareas)
			continue;
		struct vfio_area holes[2] = { { 0, 0 }, { 0, 0 } };
		/*
		 * The MSI-X table and PBA are always cvmm's, MSIX_MAPPABLE or
		 * not: the host kernel programs the device's real table with
		 * its own (remapped) messages; a guest writing it directly
		 * would replace them with addresses the host's interrupt
		 * remapping refuses (seen in the nested rig: no interrupt
		 * ever arrives). MSIX_MAPPABLE only says the host allows the
		 * mapping; a KVM slot cannot trap part of a page, so the
		 * table's pages stay trapped and the rest of them goes to the
		 * region through the trap.
		 */
		if (d->msix_cap) {
			const uint8_t *c = &d->raw[d->msix_cap];
			uint32_t table = le32(c + PCI_MSIX_TABLE), pba = le32(c + PCI_MSIX_PBA);
			uint16_t qsize = le16(c + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_QSIZE;
			if ((table & PCI_MSIX_TABLE_BIR) == i)
				holes[0] = (struct vfio_area){ table & PCI_MSIX_TABLE_OFFSET,
							       (qsize + 1u) * 16u };
			if ((pba & PCI_MSIX_PBA_BIR) == i)
				holes[1] = (struct vfio_area){ pba & PCI_MSIX_PBA_OFFSET,
							       (qsize + 64u) / 64u * 8u };
		}
		/* Nothing past the region. */
		struct vfio_area in[VFIO_MAX_AREAS];
		unsigned nin = 0;
		for (unsigned a = 0; a < r->nareas && a < VFIO_MAX_AREAS; a++) {
			if (r->areas[a].offset >= r->size)
				continue;
			in[nin] = r->areas[a];
			if (in[nin].size > r->size - in[nin].offset)
				in[nin].size = r->size - in[nin].offset;
			nin++;
		}
		struct vfio_area pieces[PCI_BAR_MAX_AREAS];
		unsigned n = vfio_pci_areas_minus(in, nin, holes, 2, pieces, PCI_BAR_MAX_AREAS);
		if (n > PCI_BAR_MAX_AREAS) {
			log_info(DEV_FMT ": BAR%u has %u mappable pieces; the last %u stay trapped",
				 DEV_ARGS(d), i, n, n - PCI_BAR_MAX_AREAS);
			n = PCI_BAR_MAX_AREAS;
		}
		for (unsigned p = 0; p < n; p++) {
			void *hva;
			int ret = d->be->ops->region_mmap(d->be, i, pieces[p].offset, pieces[p].size,
							  PROT_READ | PROT_WRITE, &hva);
			if (ret) {
				/* Slower, still right: the backend said why. */
				log_info(DEV_FMT ": BAR%u [0x%llx, +0x%llx) trapped (not mapped: %s)",
					 DEV_ARGS(d), i, (unsigned long long)pieces[p].offset,
					 (unsigned long long)pieces[p].size, strerror(-ret));
				continue;
			}
			d->maps[d->nmaps++] = (struct host_map){ hva, pieces[p].size };
			ret = pci_device_bar_add_area(&d->pci, i, pieces[p].offset,
						      pieces[p].size, hva);
			if (!ret)
				log_debug(DEV_FMT ": BAR%u [0x%llx, +0x%llx) mmap'd%s", DEV_ARGS(d),
					  i, (unsigned long long)pieces[p].offset,
					  (unsigned long long)pieces[p].size,
					  r->msix_mappable ? " (MSI-X mappable)" : "");
			else
				log_info(DEV_FMT ": BAR%u [0x%llx, +0x%llx) trapped: %s",
					 DEV_ARGS(d), i, (unsigned long long)pieces[p].offset,
					 (unsigned long long)pieces[p].size, strerror(-ret));
		}
	}
}

/* All of guest RAM, IOVA = guest physical address. */
static int dma_map_ram(struct vfio_pci_dev *d, const struct guest_mem *mem)
{
	for (unsigned i = 0; mem && i < mem->count; i++) {
		const struct guest_region *r = &mem->regions[i];
		/* The memfd too, when RAM is shared (a vfio-user server maps it). */
		int ret = d->be->ops->dma_map(d->be, r->gpa, r->size, r->hva, r->fd,
					      r->fd_offset);
		if (ret)
			return ret;
		d->dma[d->ndma++] = (struct vfio_area){ r->gpa, r->size };
	}
	return 0;
}

/* The shadow from the device's config space. */
static int setup_config(struct vfio_pci_dev *d)
{
	struct vfio_region_desc cfg;
	int ret = d->be->ops->region_info(d->be, VFIO_PCI_CONFIG_REGION_INDEX, &cfg);
	if (ret)
		return ret;
	if (cfg.size < 256 || !(cfg.flags & VFIO_REGION_INFO_FLAG_READ) ||
	    !(cfg.flags & VFIO_REGION_INFO_FLAG_WRITE)) {
		log_error(DEV_FMT ": config space region of %llu bytes, flags 0x%x: unusable",
			  DEV_ARGS(d), (unsigned long long)cfg.size, cfg.flags);
		return -EINVAL;
	}
	d->cfg_size = cfg.size > PCI_CFG_SIZE ? PCI_CFG_SIZE : (uint32_t)cfg.size;
	ret = cfg_read(d, 0, d->raw, d->cfg_size);
	if (ret)
		return ret;
	const uint8_t *raw = d->raw;
	if (le16(&raw[PCI_VENDOR_ID]) == 0xffff) {
		log_error(DEV_FMT ": config space reads all-ones (device gone or powered off?)",
			  DEV_ARGS(d));
		return -EIO;
	}
	if ((raw[PCI_HEADER_TYPE] & 0x7f) != PCI_HEADER_TYPE_NORMAL) {
		log_error(DEV_FMT ": header type %u (a bridge?): only endpoints can be passed through",
			  DEV_ARGS(d), raw[PCI_HEADER_TYPE] & 0x7f);
		return -ENOTSUP;
	}
	pci_device_init(&d->pci, d->name, le16(&raw[PCI_VENDOR_ID]),
			le16(&raw[PCI_DEVICE_ID]), le32(&raw[PCI_CLASS_REVISION]) >> 8,
			raw[PCI_REVISION_ID], le16(&raw[PCI_SUBSYSTEM_VENDOR_ID]),
			le16(&raw[PCI_SUBSYSTEM_ID]), &vp_ops);
	memcpy(d->pci.config, raw, d->cfg_size);
	struct pci_device *p = &d->pci;
	/* cvmm's: decoding (the bus turns it on), BARs, no expansion ROM,
	 * one function, the interrupt line. */
	pci_cfg_set(p, PCI_COMMAND, 2, 0);
	for (unsigned o = PCI_BASE_ADDRESS_0; o < PCI_CARDBUS_CIS; o++)
		p->config[o] = 0;
	pci_cfg_set(p, PCI_ROM_ADDRESS, 4, 0);
	p->config[PCI_HEADER_TYPE] &= 0x7f;
	p->config[PCI_INTERRUPT_LINE] = 0;
	return 0;
}

static int create(struct vfio_pci_dev *d, const struct vfio_pci_params *p)
{
	d->info = (struct vfio_device_info){ .argsz = sizeof(d->info) };
	int ret = d->be->ops->device_info(d->be, &d->info);
	if (ret)
		return ret;
	if (!(d->info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    d->info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX) {
		log_error(DEV_FMT ": not a PCI device (flags 0x%x, %u regions)", DEV_ARGS(d),
			  d->info.flags, d->info.num_regions);
		return -ENODEV;
	}
	/* A clean device, whatever its last user left (non-fatal). */
	if (d->info.flags & VFIO_DEVICE_FLAGS_RESET)
		counted(d, d->be->ops->reset(d->be));
	ret = setup_config(d);
	ret = ret ?: setup_bars(d);
	if (ret)
		return ret;
	find_caps(d);
	setup_passthru(d);
	ret = setup_irqs(d);
	if (ret)
		return ret;
	if (p->no_mmap)
		log_info(DEV_FMT ": mmap=off: every BAR access trapped", DEV_ARGS(d));
	else
		setup_areas(d);
	ret = dma_map_ram(d, p->mem);
	/* Last: nothing may fail once the function is on the bus. */
	return ret ?: pci_bus_add_device(p->bus, &d->pci, (struct irq_line){ 0 });
}

/* INTx on the GSI the bus gave the slot; without it, no INTx. */
static void setup_intx(struct vfio_pci_dev *d, struct pci_bus *bus)
{
	struct irq_line line = d->pci.intx;
	/* The irqfd drives the line, never KVM_IRQ_LINE. */
	d->pci.intx.set = NULL;
	if (d->has_intx && !line.set)
		log_info(DEV_FMT ": no INTx GSI left for its slot: MSI/MSI-X only",
			 DEV_ARGS(d));
	if (d->has_intx && line.set) {
		d->intx_gsi = line.gsi;
		d->intx_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		d->intx_resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		int ret = d->intx_fd < 0 || d->intx_resample_fd < 0 ? -errno :
			  kvm_irqfd_resample(d->router->kvm, d->intx_fd, d->intx_resample_fd,
					     line.gsi, true);
		if (ret)
			log_warn(DEV_FMT ": INTx (GSI %u): %s %s; MSI/MSI-X only", DEV_ARGS(d),
				 line.gsi, d->intx_fd < 0 || d->intx_resample_fd < 0 ? "eventfd" :
				 "KVM_IRQFD with resample", strerror(-ret));
		else
			d->intx_bound = true;
	}
	pthread_mutex_lock(&bus->lock);
	if (!d->intx_bound) {
		d->has_intx = false;
		d->pci.config[PCI_INTERRUPT_PIN] = 0;
		d->pci.reset_config[PCI_INTERRUPT_PIN] = 0;
	}
	intx_on(d);
	pthread_mutex_unlock(&bus->lock);
}

int vfio_pci_create(struct vfio_pci_dev **out, const struct vfio_pci_params *p)
{
	*out = NULL;
	struct vfio_backend *be = p->backend;
	struct vfio_pci_dev *d = calloc(1, sizeof(*d));
	if (!d) {
		be->ops->destroy(be);
		return -ENOMEM;
	}
	d->be = be;
	d->router = p->router;
	d->intx_fd = d->intx_resample_fd = -1;
	if (p->id)
		snprintf(d->name, sizeof(d->name), "%.127s", p->id);
	else
		snprintf(d->name, sizeof(d->name), "%.16s %.107s", be->kind, be->name);
	int ret = create(d, p);
	if (ret) {
		vfio_pci_destroy(d);
		return ret;
	}
	setup_intx(d, p->bus);
	struct vfio_pci_desc desc;
	pthread_mutex_lock(&p->bus->lock);
	vfio_pci_describe(d, &desc);
	pthread_mutex_unlock(&p->bus->lock);
	uint64_t mmap_bytes = 0;
	for (unsigned i = 0; i < desc.nbars; i++)
		mmap_bytes += desc.bars[i].mmap_bytes;
	log_info("%s: %s %s (%04x:%04x) at 00:%02x.0: %u BARs (%llu KiB mapped), "
		 "MSI-X %u, MSI %u, INTx %s", d->name, be->kind, be->name, desc.vendor_id,
		 desc.device_id, desc.slot, desc.nbars, (unsigned long long)(mmap_bytes >> 10),
		 desc.msix_vectors, desc.msi_vectors, desc.intx ? "yes" : "no");
	*out = d;
	return 0;
}

void vfio_pci_destroy(struct vfio_pci_dev *d)
{
	if (!d)
		return;
	struct pci_bus *bus = d->pci.bus;
	if (bus)
		pthread_mutex_lock(&bus->lock);
	irq_off(d, false);
	if (bus)
		pthread_mutex_unlock(&bus->lock);
	int ret = d->intx_bound ? kvm_irqfd_resample(d->router->kvm, d->intx_fd, -1,
						     d->intx_gsi, false) : 0;
	if (ret)
		log_warn(DEV_FMT ": INTx: KVM_IRQFD deassign (GSI %u): %s", DEV_ARGS(d),
			 d->intx_gsi, strerror(-ret));
	if (d->intx_fd >= 0)
		close(d->intx_fd);
	if (d->intx_resample_fd >= 0)
		close(d->intx_resample_fd);
	if (d->msix.dev)
		msix_destroy(&d->msix);
	if (d->msi.dev)
		msi_destroy(&d->msi);
	/* Out of guest memory before the host mappings go. */
	pci_device_release_areas(&d->pci);
	for (unsigned i = 0; i < d->nmaps; i++)
		munmap(d->maps[i].hva, d->maps[i].size);
	for (unsigned i = 0; i < d->ndma; i++)
		d->be->ops->dma_unmap(d->be, d->dma[i].offset, d->dma[i].size);
	d->be->ops->destroy(d->be);
	free(d);
}

/* ---- what the API shows ---- */

void vfio_pci_describe(struct vfio_pci_dev *d, struct vfio_pci_desc *out)
{
	memset(out, 0, sizeof(*out));
	struct pci_device *p = &d->pci;
	out->name = d->name;
	out->host = d->be->name;
	out->backend = d->be->kind;
	out->slot = p->slot;
	out->vendor_id = (uint16_t)pci_cfg_read(p, PCI_VENDOR_ID, 2);
	out->device_id = (uint16_t)pci_cfg_read(p, PCI_DEVICE_ID, 2);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *b = &p->bars[i];
		if (b->type == PCI_BAR_NONE)
			continue;
		struct vfio_pci_bar_desc *bd = &out->bars[out->nbars++];
		*bd = (struct vfio_pci_bar_desc){
			.index = i, .type = b->type, .prefetchable = b->prefetchable,
			.addr = b->addr, .size = b->size, .mapped = b->mapped,
		};
		for (unsigned a = 0; a < b->nareas; a++) {
			bd->mmap_bytes += b->areas[a].size;
			if (b->areas[a].mapped)
				bd->mapped_bytes += b->areas[a].size;
		}
	}
	out->irq = d->mode;
	out->vectors = d->mode_vectors;
	out->msix_vectors = d->msix.dev ? d->msix.nvec : 0;
	out->msi_vectors = d->msi.dev ? d->msi.max_vec : 0;
	out->intx = d->has_intx;
	out->intx_gsi = d->intx_gsi;
}

/* The PCI bus lock, taken (on) or released; none before the device is on
 * a bus. */
static void bus_lock(struct vfio_pci_dev *d, bool on)
{
	if (!d->pci.bus)
		return;
	if (on)
		pthread_mutex_lock(&d->pci.bus->lock);
	else
		pthread_mutex_unlock(&d->pci.bus->lock);
}

/*
 * Interrupts by kind, into out: see pci_dev.h. The host's counts (a whole
 * /proc/interrupts for kernel VFIO) are read without the PCI bus lock,
 * which every vCPU exit to a PCI device takes; irq_gen says whether a kind
 * went off meanwhile (its count moved into irq_base): then once more, and
 * the last time under the lock.
 */
static void irq_stats(struct vfio_pci_dev *d, struct vfio_pci_stats *out)
{
	if (!d->be->ops->irq_counts) {
		out->irqs_counted[VFIO_PCI_INTX_IRQ_INDEX] = true;
		out->irqs[VFIO_PCI_INTX_IRQ_INDEX] = atomic_load(&d->intx_seen);
		return;
	}
	for (unsigned tries = 0; tries < 3; tries++) {
		bool last = tries == 2;
		bus_lock(d, true);
		enum vfio_pci_irq_mode mode = d->mode;
		unsigned gen = d->irq_gen;
		uint64_t base[VFIO_PCI_IRQ_KINDS];
		memcpy(base, d->irq_base, sizeof(base));
		if (!last)
			bus_lock(d, false);
		uint64_t now[VFIO_PCI_IRQ_KINDS] = { 0 };
		int r = mode != VFIO_PCI_IRQ_NONE ? d->be->ops->irq_counts(d->be, now) : 0;
		if (!last)
			bus_lock(d, true);
		bool same = d->irq_gen == gen;
		bus_lock(d, false);
		if (r)
			return; /* the backend said why: nothing counted this time */
		if (!same)
			continue;
		for (unsigned k = 0; k < VFIO_PCI_IRQ_KINDS; k++) {
			out->irqs_counted[k] = true;
			out->irqs[k] = base[k];
		}
		if (mode != VFIO_PCI_IRQ_NONE)
			out->irqs[mode_index[mode]] += now[mode_index[mode]];
		return;
	}
}

void vfio_pci_get_stats(struct vfio_pci_dev *d, struct vfio_pci_stats *out)
{
	*out = (struct vfio_pci_stats){
		.config_reads = atomic_load(&d->config_reads),
		.config_writes = atomic_load(&d->config_writes),
		.bar_reads = atomic_load(&d->bar_reads),
		.bar_writes = atomic_load(&d->bar_writes),
		.irq_sets = atomic_load(&d->irq_sets),
		.vector_masks = atomic_load(&d->msix.masks) + atomic_load(&d->msi.masks),
		.vector_unmasks = atomic_load(&d->msix.unmasks) + atomic_load(&d->msi.unmasks),
		.resets = atomic_load(&d->resets),
		.intx_unmasks = atomic_load(&d->intx_unmasks),
		.errors = atomic_load(&d->errors),
	};
	irq_stats(d, out);
}
