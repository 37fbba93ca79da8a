/* SPDX-License-Identifier: MIT */
/*
 * The kernel VFIO backend (Documentation/driver-api/vfio.rst): a device
 * bound to vfio-pci, named by its sysfs path (/sys/bus/pci/devices/
 * DDDD:BB:DD.F), is opened through its IOMMU group (/dev/vfio/N, which
 * must be viable: every device of the group bound to vfio-pci or to no
 * driver) and a container (/dev/vfio/vfio, type1v2 IOMMU). The containers
 * and groups of one VM live in a struct vfio_kernel: the devices of one
 * group share it, and a new group joins an existing container when the
 * kernel lets it (one IOMMU domain, one set of DMA mappings), as QEMU and
 * cloud-hypervisor do. DMA mappings are counted per container, so each
 * device's core may map guest RAM: the container maps it once.
 *
 * Every failure is logged here with the device named ("vfio 0000:01:00.0:
 * VFIO_DEVICE_SET_IRQS MSI-X 0+8: Invalid argument"); the ones a guest can
 * cause at will (region accesses, SET_IRQS) through a rate limiter per
 * device. region_mmap does not log: the core keeps the area trapped and
 * says so.
 */
#ifndef CVMM_VFIO_KERNEL_H
#define CVMM_VFIO_KERNEL_H

#include <stddef.h>

#include "vfio/backend.h"

struct vfio_kernel;

/*
 * proc_interrupts: where the host's interrupt counts are (NULL:
 * /proc/interrupts; tests give a file of their own), opened here, once:
 * each device's irq_counts op reads it (host_irqs.h). Cannot be opened:
 * one warning, and the devices' interrupts are not counted.
 */
int vfio_kernel_create(struct vfio_kernel **out, const char *proc_interrupts);
/* After every device opened through it was destroyed. NULL ok. */
void vfio_kernel_destroy(struct vfio_kernel *k);

/*
 * Opens the device at `sysfs_path` (probed as below first). *out is a
 * backend for vfio_pci_create (backend->name: the device's address). 0 or
 * -errno, logged with the path.
 */
int vfio_kernel_open(struct vfio_kernel *k, const char *sysfs_path,
		     struct vfio_backend **out);

/* What a sysfs path is, as far as VFIO is concerned. */
struct vfio_sysfs_info {
	char bdf[16]; /* "0000:01:00.0" */
	int group;    /* IOMMU group number */
};

/*
 * Checks a --device path as the VM build will use it, without keeping
 * anything open: it exists, is a PCI function (its subsystem is pci),
 * bound to vfio-pci, in an IOMMU group, /dev/vfio/vfio and /dev/vfio/N
 * can be opened, and the group is viable (else the devices that make it
 * not viable are named). 0, or -errno and one line (without the path) in
 * `why`.
 */
int vfio_kernel_probe(const char *sysfs_path, struct vfio_sysfs_info *info,
		      char *why, size_t whylen);

/*
 * A VFIO_DEVICE_GET_REGION_INFO answer (`len` bytes: the struct and its
 * capability chain) as a region description: sparse-mmap areas, or the
 * whole region when mmap-able without them; MSIX_MAPPABLE. 0 or -EINVAL
 * (a capability outside the buffer or a loop).
 */
int vfio_kernel_parse_region(const struct vfio_region_info *info, size_t len,
			     struct vfio_region_desc *out);

#endif
