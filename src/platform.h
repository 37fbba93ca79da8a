/* SPDX-License-Identifier: MIT */
/*
 * Platform devices: the machine's fixed devices that no bus enumerates
 * (the 8250 UART, i8042, CMOS RTC, debug-exit port, ACPI GED) and the
 * virtio-mmio windows. Each is a record, a device pointer with a table of
 * the same operations: name, reset, destroy, describe (vm.info), save and
 * restore (snapshots).
 *
 * Adding one: its file defines its struct platform_dev_ops and a
 * platform_builder_fn that creates the device from a struct platform_ctx,
 * hands it to platform_add and places its registers on the buses; the VM
 * builder (vm.c) lists the builder, one line. The VM then resets (reboot),
 * describes (vm.info) and destroys it through the record.
 *
 * Not thread-safe: the records are added while the VM is built and used by
 * the control loop (reboot, vm.info, teardown) with the vCPUs parked or
 * stopped where the operation touches device state.
 */
#ifndef CVMM_PLATFORM_H
#define CVMM_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "irq.h"

struct snap_buf;
struct snap_cur;
struct snap_index;

/* One register range of a platform device, as vm.info lists it. */
struct platform_region {
	const char *name;
	bool mmio;     /* false: I/O ports */
	uint64_t addr; /* first port, or MMIO address */
	uint64_t size; /* ports, or bytes */
	int irq;       /* its GSI; -1: none */
};

#define PLATFORM_MAX_REGIONS 2

struct platform_info {
	unsigned nregions;
	struct platform_region regions[PLATFORM_MAX_REGIONS];
};

struct platform_dev_ops {
	const char *name;
	/* Machine reset (reboot), vCPUs and device threads parked. NULL: the
	 * device has no state a reset changes. */
	void (*reset)(void *dev);
	/* Frees the device; its bus ranges go with the buses. */
	void (*destroy)(void *dev);
	/* Fills `info` (zeroed by the caller) for vm.info. */
	void (*describe)(void *dev, struct platform_info *info);
	/*
	 * Snapshots (snap/snap.h, docs/snapshot.md), vCPUs and device
	 * threads parked. save appends the device's state (0 or -errno);
	 * restore reads it back into a device just built from the same
	 * configuration and drives its interrupt line as the state says: 0,
	 * or -EBADMSG for a payload it cannot take (snap_cur_end). NULL
	 * (both): the device has no state of its own (the section is empty).
	 */
	int (*save)(void *dev, struct snap_buf *b);
	int (*restore)(void *dev, struct snap_cur *c);
};

struct platform_dev {
	const struct platform_dev_ops *ops;
	void *dev;
};

/* 5 legacy devices, the 16 virtio-mmio windows, room to grow. */
#define PLATFORM_MAX_DEVS 32

struct platform {
	struct platform_dev devs[PLATFORM_MAX_DEVS];
	unsigned ndevs;
};

/* What a builder may use to create and wire its device. */
struct platform_ctx {
	const struct vm_config *cfg;
	struct bus *pio;
	struct bus *mmio;
	struct exit_request exit;
	/* The interrupt line of a GSI. */
	struct irq_line (*irq_line)(void *opaque, uint32_t gsi);
	void *irq_opaque;
	int serial_out_fd; /* where the UART writes (-1: nowhere); not owned */
	int rx_ready_fd;   /* the UART signals free receive space; not owned */
};

/*
 * Creates one platform device from the config (or none when the config
 * leaves it out), adds it to `p` and places its registers: 0 or -errno
 * (logged). Once added, the record owns the device, also on a failure.
 */
typedef int (*platform_builder_fn)(struct platform *p, const struct platform_ctx *c);

/*
 * Takes `dev` into a new record: 0, or -ENOSPC (logged) after destroying
 * the device.
 */
int platform_add(struct platform *p, const struct platform_dev_ops *ops, void *dev);
/* The first device added with `ops`, NULL if none. */
void *platform_find(const struct platform *p, const struct platform_dev_ops *ops);
/* Resets every device, in the order they were added. */
void platform_reset(struct platform *p);
/*
 * Snapshots: every device's state, one section each ("platform.N", N its
 * place in the order they were added; the payload starts with the
 * device's name, checked on restore). 0 or -errno (logged).
 */
int platform_save(struct platform *p, struct snap_buf *b);
int platform_restore(struct platform *p, struct snap_index *idx);
/* Destroys every device, last added first; `p` is empty after. */
void platform_destroy(struct platform *p);
/* The ctx's interrupt line of `gsi`. */
struct irq_line platform_irq(const struct platform_ctx *c, uint32_t gsi);
/* bus_register, logging a failure with the device's name: 0 or -errno. */
int platform_place(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn fn,
		   void *opaque, const char *name);

#endif
