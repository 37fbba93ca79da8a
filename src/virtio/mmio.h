/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio, version 2 (virtio 1.x, section 4.2 "Virtio Over MMIO"): one
 * 4 KiB register window and one interrupt per device.
 *
 *   0x000 MagicValue "virt"   0x004 Version 2       0x008 DeviceID
 *   0x00c VendorID            0x010 DeviceFeatures  0x014 DeviceFeaturesSel
 *   0x020 DriverFeatures      0x024 DriverFeaturesSel
 *   0x030 QueueSel            0x034 QueueNumMax     0x038 QueueNum
 *   0x044 QueueReady          0x050 QueueNotify     0x060 InterruptStatus
 *   0x064 InterruptACK        0x070 Status
 *   0x080/0x084 QueueDesc     0x090/0x094 QueueDriver  0x0a0/0x0a4 QueueDevice
 *   0x0ac SHMSel, 0x0b0 SHMLen, 0x0b8 SHMBase (no regions: all ones)
 *   0x0fc ConfigGeneration    0x100 device-specific configuration
 *
 * Registers below 0x100 are 32 bits wide: other widths read 0 and writes are
 * ignored (a rate-limited warning). The status machine, features and queue
 * checks are the virtio core's (core.h).
 *
 * Queue notifications: a QueueNotify write of q signals vd->kick_fd[q]
 * through an ioeventfd (datamatch q); one that still reaches cvmm writes
 * the same eventfd.
 *
 * Interrupts: InterruptStatus bit 0 (used buffers) or 1 (configuration
 * change) is set and the GSI asserted through an irqfd with a resample
 * eventfd (level-triggered): the line stays up until the guest's EOI; then
 * KVM lowers it and signals the resample fd, and virtio_mmio_resample()
 * asserts it again while a bit is still set. InterruptACK clears bits.
 */
#ifndef CVMM_VIRTIO_MMIO_H
#define CVMM_VIRTIO_MMIO_H

#include "bus.h"
#include "kvm/kvm.h"
#include "platform.h"
#include "virtio/core.h"

#define VIRTIO_MMIO_SIZE 0x1000
#define VIRTIO_MMIO_MAGIC_STRING 0x74726976 /* "virt" */
#define VIRTIO_MMIO_REVISION 2
#define VIRTIO_MMIO_VENDOR 0x4d564d43 /* "CVMM" */
#define VIRTIO_MMIO_CONFIG_OFF 0x100

struct virtio_mmio;

/*
 * Creates the transport for `vd` (filled by its device) at [addr, addr +
 * VIRTIO_MMIO_SIZE) on `mmio`, interrupting through `gsi`. `kvm` may be
 * NULL (unit tests, fuzzing: no ioctls; the interrupt eventfd is then only
 * written). Returns 0 or -errno (-EINVAL for an inconsistent vd); logs why.
 */
int virtio_mmio_create(struct virtio_mmio **out, struct virtio_dev *vd,
		       struct bus *mmio, uint64_t addr, uint32_t gsi,
		       struct kvm *kvm);
/* The transport handle (reset, destroy, describe): see core.h. */
struct virtio_core *virtio_mmio_transport(struct virtio_mmio *m);

/* Register access (the bus handler; tests and the fuzzer call it too). */
void virtio_mmio_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		    bool is_write);

/* The eventfd written to assert the interrupt, and the resample eventfd
 * KVM signals at the guest's EOI (poll it, then virtio_mmio_resample). */
int virtio_mmio_irq_fd(struct virtio_mmio *m);
int virtio_mmio_resample_fd(struct virtio_mmio *m);
void virtio_mmio_resample(struct virtio_mmio *m);

/*
 * The window's platform record (platform.h): reset and destroy are the
 * transport's (the device itself stays its owner's), describe gives the
 * window and its GSI under the device's name.
 */
extern const struct platform_dev_ops virtio_mmio_platform_ops;

#endif
