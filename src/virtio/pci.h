/* SPDX-License-Identifier: MIT */
/*
 * virtio-pci, modern interface only (virtio 1.x, "Virtio Over PCI Bus"):
 * a non-transitional PCI function (vendor 0x1af4, device 0x1040 + type,
 * revision 1) with one 64-bit memory BAR (BAR 0, VIRTIO_PCI_BAR_SIZE):
 *
 *   0x0000  common configuration (struct virtio_pci_common_cfg)
 *   0x1000  ISR status (1 byte, read-to-clear, lowers INTx)
 *   0x2000  device-specific configuration (vd->config_size bytes)
 *   0x3000  notifications: queue q at 0x3000 + 4*q (notify_off_multiplier 4)
 *   0x4000  MSI-X table (nqueues + 1 vectors: 0 is meant for config changes)
 *   0x5000  MSI-X PBA
 *
 * described by vendor capabilities COMMON, NOTIFY, ISR, DEVICE (when
 * config_size > 0) and the MSI-X capability. There is no PCI_CFG
 * capability (the pci_device ops have no config-read hook to serve it).
 *
 * Each queue's kick eventfd (vd->kick_fd[q], created here) is bound with an
 * ioeventfd to its notify address whenever BAR 0 is mapped, and follows
 * the BAR when the guest moves it. A notify write that still reaches the
 * BAR handler (vCPU exit) writes the same eventfd.
 *
 * Interrupts (vd->notify_queue / notify_config, set here, callable from
 * the device thread): with MSI-X enabled, the vector the driver assigned
 * (none when VIRTIO_MSI_NO_VECTOR); otherwise ISR bit 0 (queue) or 1
 * (config) and INTA# raised until the driver reads the ISR.
 *
 * The status machine, feature negotiation and queue checks are the virtio
 * core's (core.h): this file only maps the common configuration onto it.
 */
#ifndef CVMM_VIRTIO_PCI_H
#define CVMM_VIRTIO_PCI_H

#include "kvm/irq_router.h"
#include "kvm/kvm.h"
#include "pci/pci.h"
#include "virtio/core.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040

#define VIRTIO_PCI_BAR 0
#define VIRTIO_PCI_BAR_SIZE 0x8000
#define VIRTIO_PCI_COMMON_OFF 0x0000
#define VIRTIO_PCI_ISR_OFF 0x1000
#define VIRTIO_PCI_DEVICE_OFF 0x2000
#define VIRTIO_PCI_NOTIFY_OFF 0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4
#define VIRTIO_PCI_MSIX_TABLE_OFF 0x4000
#define VIRTIO_PCI_MSIX_PBA_OFF 0x5000
#define VIRTIO_PCI_REGION_SIZE 0x1000 /* room for each structure */

/* ISR status bits. */
#define VIRTIO_PCI_ISR_QUEUE_BIT 0x1
#define VIRTIO_PCI_ISR_CONFIG_BIT 0x2

struct virtio_pci;

/*
 * Creates the transport for `vd` (filled by its device: name, device_id,
 * nqueues, queue_max_size, config_size, ops, dev, mem) and adds it to
 * `bus` (next free slot, BAR allocated and mapped; INTA# from
 * bus->intx_for_slot when set). `kvm` may be NULL (unit tests: no
 * ioeventfds; the router must then have kvm == NULL too). Sets
 * vd->kick_fd[], notify_queue, notify_config, set_needs_reset, transport.
 * Returns 0 or -errno (-EINVAL for an inconsistent vd).
 *
 * There is no way to take a device off a pci_bus: destroy the transport
 * only once no vCPU runs and the bus (and its mmio bus) are no longer used.
 */
int virtio_pci_create(struct virtio_pci **out, struct virtio_dev *vd,
		      struct pci_bus *bus, struct irq_router *router,
		      struct kvm *kvm);
/* Stops the device (ops->reset), unbinds and closes everything. NULL ok.
 * The same as virtio_transport_destroy(virtio_pci_transport(vp)). */
void virtio_pci_destroy(struct virtio_pci *vp);

/* The transport handle (reset, destroy, describe): see core.h. */
struct virtio_core *virtio_pci_transport(struct virtio_pci *vp);

/* The embedded PCI function (slot, BARs) — for the VM builder and tests. */
struct pci_device *virtio_pci_device(struct virtio_pci *vp);
/* The MSI-X state (vector irqfds) — for tests. */
struct msix *virtio_pci_msix(struct virtio_pci *vp);

#endif
