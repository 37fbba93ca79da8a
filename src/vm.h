/* SPDX-License-Identifier: MIT */
/*
 * The VM: the one place where a machine is put together (vm_build lists
 * every device in wiring order), started, run from the control loop and torn
 * down.
 */
#ifndef CVMM_VM_H
#define CVMM_VM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "alloc.h"
#include "arch/arch.h"
#include "bus.h"
#include "config.h"
#include "kvm/irq_router.h"
#include "kvm/kvm.h"
#include "kvm/vcpu.h"
#include "pci/pci.h"
#include "term.h"

struct serial;
struct virtio_dev;
struct virtio_pci;

#define VM_MAX_VIRTIO 16

/* One virtio device and the virtio-pci function it sits behind. */
struct vm_virtio {
	void *dev;
	void (*destroy)(void *dev);
	struct virtio_dev *vdev;
	struct virtio_pci *transport;
};
struct i8042;
struct rtc;
struct debug_exit;

struct vm {
	const struct vm_config *cfg;
	struct kvm kvm;
	struct bus pio;
	struct bus mmio;
	struct vcpu *vcpus;
	unsigned nvcpus;

	/* Address and interrupt resources, the PCI bus. */
	struct addr_alloc pio_alloc;
	struct addr_alloc mmio32_alloc;
	struct addr_alloc mmio64_alloc;
	struct addr_alloc intx_alloc;
	struct irq_router irq_router;
	struct pci_bus pci;
	struct arch_pci_info pci_info;
	struct vm_virtio virtio[VM_MAX_VIRTIO];
	unsigned nvirtio;
	int console_out_fd; /* owned when the console writes to a file */

	struct serial *serial;
	struct i8042 *i8042;
	struct rtc *rtc;
	struct debug_exit *debug_exit;
	int serial_out_fd; /* owned when the serial writes to a file */
	bool serial_out_owned;

	/* Exit requests from any thread: first one wins. */
	int exit_efd;
	atomic_bool exit_requested;
	int exit_status;
	char exit_why[96];

	/* Control loop. */
	int epoll_fd;
	int signal_fd;
	int rx_ready_efd; /* the serial signals it when RX space frees up */
	bool stdin_forward; /* serial tty: stdin goes to the UART */
	bool stdin_watched; /* stdin currently in the epoll set */
	bool term_raw;
	struct term_escape escape;

	uint64_t start_ns; /* process start, for the boot-time log */
};

uint64_t vm_now_ns(void);

/* Builds the whole VM from a validated config: 0 or -errno (logged). */
int vm_build(struct vm *vm, const struct vm_config *cfg, uint64_t start_ns);
/* Starts the vCPUs and runs the control loop; returns the exit status. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

#endif
