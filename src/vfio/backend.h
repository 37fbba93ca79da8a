/* SPDX-License-Identifier: MIT */
/*
 * A VFIO device backend: the few operations the passthrough device core
 * (vfio/pci_dev.c) needs from wherever the device lives. Two backends
 * implement it:
 *
 *   - kernel VFIO (vfio/kernel.c): ioctls on a container, group and device
 *     file descriptor (Documentation/driver-api/vfio.rst);
 *   - vfio-user (vfio/user.c): messages on a UNIX socket to a server
 *     process (QEMU's docs/devel/vfio-user.rst).
 *
 * Both speak in the structures of <linux/vfio.h> (vfio-user reuses them
 * on the wire), so the core sees one device whatever serves it. Every
 * operation returns 0 or -errno; the backend logs what it alone knows (a
 * server's error reply, an ioctl's errno with the device named), its
 * callers do not log again.
 *
 * Threads: the core calls these from vCPU threads (config space and
 * trapped BAR accesses) and from the control thread (setup, reset,
 * interrupt routing). A backend serialises what needs it (vfio-user: one
 * request in flight on the socket).
 */
#ifndef CVMM_VFIO_BACKEND_H
#define CVMM_VFIO_BACKEND_H

#include <linux/vfio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One mmap-able part of a region (sparse-mmap capability, or the whole). */
struct vfio_area {
	uint64_t offset; /* from the start of the region */
	uint64_t size;
};

#define VFIO_MAX_AREAS 8

/* What a region is and how it may be accessed. */
struct vfio_region_desc {
	uint32_t flags;   /* VFIO_REGION_INFO_FLAG_READ/WRITE/MMAP */
	uint64_t size;    /* 0: the region does not exist */
	/* Where mmap may map it: with FLAG_MMAP and no sparse capability, one
	 * area covering the whole region; with VFIO_REGION_INFO_CAP_SPARSE_MMAP,
	 * its areas; none without FLAG_MMAP. */
	unsigned nareas;
	struct vfio_area areas[VFIO_MAX_AREAS];
	/* VFIO_REGION_INFO_CAP_MSIX_MAPPABLE: the MSI-X table and PBA may be
	 * mapped too (they are trapped otherwise). */
	bool msix_mappable;
};

struct vfio_backend;

struct vfio_backend_ops {
	/* Device info: flags (VFIO_DEVICE_FLAGS_PCI, _RESET), num_regions,
	 * num_irqs. */
	int (*device_info)(struct vfio_backend *b, struct vfio_device_info *info);
	int (*region_info)(struct vfio_backend *b, unsigned index,
			   struct vfio_region_desc *out);
	/* Reads/writes `len` bytes at `off` inside region `index`. */
	int (*region_read)(struct vfio_backend *b, unsigned index, uint64_t off,
			   void *buf, size_t len);
	int (*region_write)(struct vfio_backend *b, unsigned index, uint64_t off,
			    const void *buf, size_t len);
	/*
	 * Maps [off, off+size) of region `index` (inside one of its areas)
	 * into cvmm, MAP_SHARED, with `prot`; *out gets the address. The
	 * caller munmaps it. -ENOTSUP where the backend cannot map.
	 */
	int (*region_mmap)(struct vfio_backend *b, unsigned index, uint64_t off,
			   uint64_t size, int prot, void **out);
	/* Interrupt index info: count and flags (EVENTFD, MASKABLE, ...). */
	int (*irq_info)(struct vfio_backend *b, unsigned index,
			struct vfio_irq_info *info);
	/*
	 * VFIO_DEVICE_SET_IRQS: `flags` is one VFIO_IRQ_SET_DATA_* and one
	 * VFIO_IRQ_SET_ACTION_*; with DATA_EVENTFD, fds[count] (-1 detaches
	 * that vector); with DATA_BOOL, bools[count]; with DATA_NONE neither.
	 * count 0 with DATA_NONE|ACTION_TRIGGER disables the index.
	 */
	int (*set_irqs)(struct vfio_backend *b, unsigned index, unsigned start,
			unsigned count, uint32_t flags, const int32_t *fds,
			const uint8_t *bools);
	/*
	 * Makes guest RAM [iova, iova+size) reachable by the device's DMA.
	 * `hva` is cvmm's mapping of it; `fd`/`fd_offset` the memory file it
	 * comes from (-1 when guest RAM is private anonymous memory: a kernel
	 * backend maps by hva, a vfio-user backend then serves the server's
	 * DMA_READ/DMA_WRITE itself).
	 */
	int (*dma_map)(struct vfio_backend *b, uint64_t iova, uint64_t size,
		       void *hva, int fd, uint64_t fd_offset);
	int (*dma_unmap)(struct vfio_backend *b, uint64_t iova, uint64_t size);
	/*
	 * Optional (NULL: the backend cannot tell): the interrupts the host
	 * took from the device so far on each index (VFIO_PCI_INTX_IRQ_INDEX,
	 * _MSI_, _MSIX_), summed over the index's vectors, for the vectors
	 * enabled now only (a disabled vector's count is gone: the core reads
	 * the counts before it disables them). 0 or -errno (logged by the
	 * backend, rate-limited).
	 */
	int (*irq_counts)(struct vfio_backend *b, uint64_t counts[VFIO_PCI_MSIX_IRQ_INDEX + 1]);
	/* Function-level reset of the device (VFIO_DEVICE_RESET). */
	int (*reset)(struct vfio_backend *b);
	/* Closes everything the backend holds and frees it. */
	void (*destroy)(struct vfio_backend *b);
};

/* A backend embeds this first; the core only ever sees it. */
struct vfio_backend {
	const struct vfio_backend_ops *ops;
	/* What vm.info shows for the device: "0000:00:03.0" or the socket path. */
	char name[108];
	const char *kind; /* "vfio" or "vfio-user" */
	/* SET_IRQS takes an eventfd with ACTION_UNMASK (kernel VFIO): the
	 * core hands INTx the resample eventfd as its unmask, and the guest's
	 * EOI unmasks without cvmm. false: the core sends the unmask itself. */
	bool unmask_eventfd;
};

#endif
