/* SPDX-License-Identifier: MIT */
/*
 * The fake virtio device the transport targets (virtio_pci, virtio_mmio)
 * drive: it offers `features` on top of the core's, keeps a config space
 * of FAKE_DEV_CONFIG_SIZE bytes (the includer defines it) and checks what
 * the transport hands it: config accesses within the space, activation
 * only with VERSION_1 and offered features, no queue past nqueues ready.
 * Each target is its own program, so the functions are static here.
 */
#ifndef CVMM_FUZZ_FAKE_DEV_H
#define CVMM_FUZZ_FAKE_DEV_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "virtio/core.h"
#include "virtio/virtio.h"

#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV VIRTIO_CONFIG_S_DRIVER
#define S_FOK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK VIRTIO_CONFIG_S_DRIVER_OK

struct fake_dev {
	struct virtio_dev vd;
	uint64_t features;
	bool fail_activate;
	bool active;
	int intx; /* the INTx level a PCI transport last set */
	uint8_t config[FAKE_DEV_CONFIG_SIZE];
};

/* What the transport may negotiate: the device's and the core's features. */
static inline uint64_t fake_offered(const struct fake_dev *f)
{
	return f->features | VIRTIO_CORE_FEATURES;
}

static uint64_t fake_features(void *dev)
{
	return ((struct fake_dev *)dev)->features;
}

static void fake_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct fake_dev *f = dev;
	FUZZ_CHECK(len <= 8 && off <= f->vd.config_size &&
		   len <= f->vd.config_size - off);
	memcpy(data, f->config + off, len);
}

static void fake_config_write(void *dev, uint32_t off, const uint8_t *data,
			      uint32_t len)
{
	struct fake_dev *f = dev;
	FUZZ_CHECK(len <= 8 && off <= f->vd.config_size &&
		   len <= f->vd.config_size - off);
	memcpy(f->config + off, data, len);
}

static int fake_activate(void *dev)
{
	struct fake_dev *f = dev;
	uint64_t neg = f->vd.features_negotiated;
	FUZZ_CHECK(neg & (1ULL << VIRTIO_F_VERSION_1));
	FUZZ_CHECK((neg & ~fake_offered(f)) == 0);
	for (unsigned q = f->vd.nqueues; q < VIRTIO_MAX_QUEUES; q++)
		FUZZ_CHECK(!f->vd.vqs[q].ready);
	if (f->fail_activate)
		return -EIO;
	f->active = true;
	return 0;
}

static void fake_reset(void *dev)
{
	((struct fake_dev *)dev)->active = false;
}

static const struct virtio_device_ops fake_ops = {
	.features = fake_features,
	.config_read = fake_config_read,
	.config_write = fake_config_write,
	.activate = fake_activate,
	.reset = fake_reset,
};

#endif
