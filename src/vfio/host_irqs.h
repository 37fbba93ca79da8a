/* SPDX-License-Identifier: MIT */
/*
 * How many interrupts the host took from a kernel VFIO device, read from
 * /proc/interrupts. A passthrough device's MSI/MSI-X vectors go from the
 * device to KVM through irqfds without cvmm (vfio/pci_dev.h), and its
 * INTx unmask goes through the resample eventfd straight to vfio-pci, so
 * cvmm never sees them; the host kernel counts each one on the host IRQ
 * that vfio-pci requested for it.
 *
 * /proc/interrupts (kernel/irq/proc.c, show_interrupts): one line per host
 * IRQ, "N:", one count per online CPU ("%10u"), the chip, hwirq and trigger,
 * then the names of the IRQ's handlers, the first after two spaces, the
 * others after ", ". vfio-pci names its handlers
 * (drivers/vfio/pci/vfio_pci_intrs.c, Linux 6.1):
 *
 *     vfio-intx(DDDD:BB:DD.F)      INTx
 *     vfio-msi[V](DDDD:BB:DD.F)    MSI vector V
 *     vfio-msix[V](DDDD:BB:DD.F)   MSI-X vector V
 *
 * A vector's line exists while the vector is enabled (VFIO_DEVICE_SET_IRQS);
 * when the vectors are disabled the host IRQ is freed and its count goes
 * with it, so a caller that wants a count across re-enables reads it just
 * before it disables them (pci_dev.c does). INTx may share its host IRQ
 * with other devices' handlers: the line's count then includes theirs
 * (intx_shared says so).
 *
 * The file is read through an fd opened once (vfio_kernel_create), with
 * pread from offset 0 (a seq_file regenerates its text then): no open()
 * after the seccomp filters are on.
 */
#ifndef CVMM_VFIO_HOST_IRQS_H
#define CVMM_VFIO_HOST_IRQS_H

#include <linux/vfio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The kinds counted: VFIO_PCI_INTX_IRQ_INDEX, _MSI_, _MSIX_ (0, 1, 2). */
#define VFIO_HOST_IRQ_KINDS (VFIO_PCI_MSIX_IRQ_INDEX + 1)

struct vfio_host_irqs {
	uint64_t count[VFIO_HOST_IRQ_KINDS];   /* summed over CPUs and vectors */
	unsigned vectors[VFIO_HOST_IRQ_KINDS]; /* lines found */
	bool intx_shared; /* the INTx line has other handlers too */
};

/*
 * Adds what the complete lines of text[0..len) say about device `bdf`
 * ("0000:00:04.0") to *out. Lines that are not an IRQ's, or not
 * vfio-pci's for bdf, are skipped; a count too long for 64 bits saturates.
 */
void vfio_host_irqs_parse(const char *text, size_t len, const char *bdf,
			  struct vfio_host_irqs *out);

/*
 * Reads the whole file at fd (from offset 0, pread) and parses it into
 * *out (zeroed first). 0, -EFBIG (over 64 MiB), -ENOMEM or read's -errno.
 * Not thread-safe on one fd: the caller serialises.
 */
int vfio_host_irqs_read(int fd, const char *bdf, struct vfio_host_irqs *out);

#endif
