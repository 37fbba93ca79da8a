/* SPDX-License-Identifier: MIT */
/*
 * The VM: the one place where a machine is put together (vm_build lists
 * every device in wiring order), started, run from the control loop and torn
 * down.
 */
#ifndef CVMM_VM_H
#define CVMM_VM_H

#include <pthread.h>
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
#include "platform.h"
#include "term.h"

struct api_server;
struct vm_create_config;
struct vm_reset_state;
struct vm_restore;
struct serial;
struct virtio_core;
struct virtio_dev;
struct virtio_pci;
struct virtio_mmio;
struct out_sink;
struct vfio_kernel;
struct vfio_pci_dev;
struct vfio_backend;
struct vhost_dev;

/* Lifecycle as the API reports it. */
enum vm_state {
	VM_STATE_NOT_CREATED, /* --api-socket without --kernel: no config yet */
	VM_STATE_CREATED,  /* configured (vm.create) or built, vCPUs not started */
	VM_STATE_RUNNING,
	VM_STATE_PAUSED,   /* every vCPU parked (vm_pause) */
	VM_STATE_SHUTDOWN, /* vm.shutdown tore the machine down (the VMM
			    * serves on), or an exit was requested */
};

#define VM_MAX_VIRTIO 16
#define VM_MAX_OUT_SINKS 2 /* serial, virtio-console */

/* What a virtio device is, for its configuration entry and its id. */
enum vm_dev_kind {
	VM_DEV_DISK, /* cfg->disks (virtio-blk or vhost-user-blk) */
	VM_DEV_FS,   /* cfg->fs */
	VM_DEV_NET,  /* cfg->nets */
	VM_DEV_RNG,
	VM_DEV_CONSOLE,
	VM_DEV_VSOCK,
};

#define VM_DEV_ID_MAX 48

/* One virtio device and the transport it sits behind. */
struct vm_virtio {
	/* Its id (vm.remove-device, PciDeviceInfo): the configuration's id
	 * when it has one, else cloud-hypervisor's style "_disk3". */
	char id[VM_DEV_ID_MAX];
	enum vm_dev_kind kind;
	void *dev;
	int (*destroy)(void *dev); /* 0, or -errno: data may be lost */
	struct virtio_dev *vdev;
	/* Reset, destroy, describe (virtio/core.h), whichever transport. */
	struct virtio_core *transport;
	struct virtio_pci *pci; /* the PCI function when on virtio-pci */
	struct virtio_mmio *mmio; /* the window when on virtio-mmio */
	struct vhost_dev *vhost; /* dev, when a vhost-user backend serves it */
};
struct ged;

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
	struct addr_alloc intx_alloc; /* PCI INTx and virtio-mmio GSIs */
	struct addr_alloc platform_alloc; /* virtio-mmio windows */
	struct irq_router irq_router;
	struct pci_bus pci;
	struct arch_pci_info pci_info;
	struct vm_virtio virtio[VM_MAX_VIRTIO];
	unsigned nvirtio;
	/* --device: host PCI functions passed through, and the VFIO
	 * containers and groups they were opened through. */
	struct vfio_kernel *vfio;
	struct vfio_pci_dev *passthrough[CVMM_MAX_DEVICES + CVMM_MAX_USER_DEVICES];
	/* Each one's vfio-user connection (--user-device; owned by the
	 * device, its requests served by the control loop); NULL: kernel
	 * VFIO (--device). */
	struct vfio_backend *passthrough_user[CVMM_MAX_DEVICES + CVMM_MAX_USER_DEVICES];
	unsigned npassthrough;
	int console_out_fd; /* owned when the console writes to a file */

	/* UART, i8042, RTC, debug-exit, GED, virtio-mmio windows. */
	struct platform platform;
	/* Of those, the two the VM talks to itself (not owned). */
	struct serial *serial;
	struct ged *ged; /* ACPI Generic Event Device: the power button */
	/* ACPI PCI hotplug controller (with --api-socket and a PCI bus; a
	 * platform device, not owned here) and the eventfd its ejects signal
	 * (the control loop's). */
	struct pci_hotplug *hotplug;
	int hotplug_efd;
	unsigned next_dev_id; /* the "_disk<N>" of the next device without an id */
	/*
	 * PCI INTx driven with KVM_IRQ_LINE (virtio-pci): with hotplug, slots
	 * share GSIs (vm_route_slots), so a line's level is the OR of its
	 * slots' (intx_level: the slots asserting), under intx_lock (any
	 * device thread). Each slot's irq_line points at its intx_src.
	 */
	struct vm_intx_src {
		struct vm *vm;
		unsigned slot;
	} intx_src[32];
	pthread_mutex_t intx_lock;
	uint32_t intx_level;
	uint32_t unplug_requested; /* slots vm.remove-device asked the guest for */
	uint64_t hotplugs, unplugs;
	int serial_out_fd; /* owned when the serial writes to a file */
	bool serial_out_owned;
	/* Guest output (serial, console) the control loop drains; not owned. */
	struct out_sink *out_sinks[VM_MAX_OUT_SINKS];
	unsigned nout_sinks;

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

	/* Control plane (--api-socket); state and counts: control loop only. */
	struct api_server *api;
	enum vm_state state;
	uint64_t pauses;
	uint64_t reboots;
	uint64_t power_button_presses;
	struct vm_reset_state *reset; /* machine state as built (reboot) */
	struct vm_create_config *created; /* vm.create's config (owned) */
	const struct vm_config *cli_cfg; /* the command line's, while created */
	bool machine; /* vm_build_machine ran (teardown needed) */
	bool loop_filtered; /* the control loop's seccomp filter is on */

	uint64_t start_ns; /* process start, for the boot-time log */
	/* A restore under way (vm_snapshot.c): the build takes its state
	 * from the snapshot instead of loading a kernel. */
	struct vm_restore *restoring;
	bool start_paused; /* vm_restore resume=false: vCPUs start parked */
};

uint64_t vm_now_ns(void);

/* Builds the whole VM from a validated config: 0 or -errno (logged). */
int vm_build(struct vm *vm, const struct vm_config *cfg, uint64_t start_ns);
/*
 * Create-then-boot (cfg has an API socket and no kernel): a VM with no
 * machine yet, in state NotCreated, that vm_run serves until vm_create and
 * vm_boot come through the API (or it is asked to stop). 0 or -errno.
 */
int vm_prepare(struct vm *vm, const struct vm_config *cfg, uint64_t start_ns);
/*
 * Starts the vCPUs (if built) and runs the control loop; returns the exit
 * status.
 */
int vm_run(struct vm *vm);
/*
 * Tears the VM down (disks flushed). Returns 0, or -errno when a disk's
 * data may not have reached its image (virtio_blk_destroy(), logged).
 */
int vm_destroy(struct vm *vm);

/*
 * Control-loop operations (the API calls them from the loop thread).
 * vm_pause: every vCPU out of KVM_RUN and parked, then every device thread
 * parked once it finished the request in hand (no guest memory writes, no
 * interrupts until vm_resume; serial input from stdin waits too); 0,
 * -EBUSY when not running, -ETIMEDOUT when a vCPU or device thread did not
 * stop within 2 s (everything is let go again). vm_resume: devices and
 * vCPUs go on; 0, or -EBUSY when not paused.
 */
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
/*
 * vm_reboot: resets the machine and boots the same kernel again, from
 * Running or Paused (ends Running): every vCPU and device thread parked,
 * virtio devices reset (their threads stopped), PCI config spaces as built
 * (command registers, BARs where they were placed, MSI-X off with its
 * table masked), the UART, i8042 and RTC index at power-on values, guest
 * RAM zeroed, the interrupt
 * controllers, PIT and vCPUs back to their state as built, the kernel,
 * initramfs and boot tables loaded again. 0, -EBUSY (not running or
 * paused), -ENOTSUP (no reset state: only kept with --api-socket), or
 * another -errno, after which the VM is stopped with status 1.
 */
int vm_reboot(struct vm *vm);
/*
 * vm_power_button: presses the ACPI power button (the GED's power button
 * event, see legacy/ged.h), from Running or Paused: a paused VM gets the
 * interrupt when it resumes. 0, or -EBUSY when neither. What the guest
 * does with it (typically a clean shutdown) is up to the guest.
 */
int vm_power_button(struct vm *vm);
/*
 * vm_create: takes `c` (owned from now on, also on failure) as the VM's
 * configuration: 0, or -EBUSY unless NotCreated. vm_boot: builds the
 * machine from it and starts it: 0 (Running), -EBUSY unless Created, or
 * another -errno after which the VM stops with status 1 (the build
 * failure is logged). vm_boot also boots a VM that vm_shutdown stopped.
 */
int vm_create(struct vm *vm, struct vm_create_config *c);
/*
 * vm_shutdown: tears the machine down (vCPUs stopped, disks flushed, every
 * device and the KVM VM gone) while the control loop and the API go on:
 * state Shutdown, from Running or Paused; vm_boot builds it again from the
 * same configuration. 0, -EBUSY when neither, or -EIO when a disk's data
 * may not have reached its image (logged; the machine is gone all the same).
 */
int vm_shutdown(struct vm *vm);
/* vm_delete: forgets the configuration of a VM that is not running (Created
 * or Shutdown: back to NotCreated); 0, or -EBUSY while it runs. */
int vm_delete(struct vm *vm);
/*
 * vm_boot: on a failure the half-built machine is torn down and the VM is
 * Created again (the VMM serves on); the failure is logged.
 */
int vm_boot(struct vm *vm);

/*
 * Hotplug (ACPI PCI hotplug, pci/hotplug.h), from the control loop:
 *
 * vm_own_config: makes sure the VM has a configuration of its own
 * (vm->created), which hotplug adds to and removes from. 0 or -ENOMEM.
 *
 * vm_hotplug_add: builds the device of the last entry of `member`
 * ("disks", "net", "fs", "vsock", "devices", "user_devices") of vm->created
 * (just added by vm_create_config_add) on a Running or Paused VM: a
 * function of its own on bus 0, complete (BARs, MSI-X, ioeventfds and
 * irqfds; its thread starts when the driver activates it, under the
 * device filter), then announced to the guest (PCIU, GED event). *id and
 * *slot: its id and slot. 0; -EBUSY (not running); -ENOTSUP (no hotplug
 * controller: no --api-socket or no PCI bus; or a virtio device with
 * --virtio-transport mmio); another -errno (logged,
 * nothing left of the device; the caller takes the entry out again).
 *
 * vm_hotplug_remove: asks the guest to give up the device with id `id`
 * (PCID, GED event); once it ejects the slot (B0EJ), the control loop
 * removes the device: thread stopped, BARs, ioeventfds, irqfds and routes
 * gone, its files closed, its slot and id free, its configuration entry
 * gone. 0; -EBUSY (not running); -ENOENT (no such device); -ENOTSUP (no
 * hotplug controller); -EPERM (the virtio-console, which stays: its slot
 * has no _EJ0 either, and a guest that ejects it anyway keeps it).
 *
 * vm_resize_disk: virtio_blk_resize of the disk with id `id` on a Running
 * or Paused VM. 0; -EBUSY; -ENOENT; -ENOTSUP (vhost-user disk); what
 * virtio_blk_resize returns.
 */
int vm_own_config(struct vm *vm);
int vm_hotplug_add(struct vm *vm, const char *member, const char **id, unsigned *slot);
int vm_hotplug_remove(struct vm *vm, const char *id);
int vm_resize_disk(struct vm *vm, const char *id, uint64_t size);
/* Asks the control loop to end the VM with `status` (any thread). */
void vm_request_stop(struct vm *vm, int status, const char *why);
/* The state, Shutdown as soon as an exit was requested. */
enum vm_state vm_get_state(struct vm *vm);
const char *vm_state_name(enum vm_state s);

/*
 * Snapshots (docs/snapshot.md), control loop only. url: "file:///DIR".
 * vm_snapshot: a paused VM's configuration, machine, vCPUs, devices and
 * RAM into DIR (made if missing); the VM stays paused. 0, -EBUSY (not
 * paused), -ENOTSUP (a device that cannot be snapshotted), -EINVAL (bad
 * url), or another -errno; one line in err.
 * vm_restore: from NotCreated, the VM DIR holds, built again and started
 * (resume false: left Paused); prefault: guest RAM read in at once
 * instead of page by page on first touch. 0; -EBUSY (a VM exists
 * already); -EINVAL, -EBADMSG, -EPROTONOSUPPORT, -ENOENT and the like for
 * a snapshot or a configuration that cannot be restored (nothing is left
 * built: the VM is NotCreated again); one line in err.
 */
int vm_snapshot(struct vm *vm, const char *url, char *err, size_t errlen);
int vm_restore(struct vm *vm, const char *url, bool prefault, bool resume, char *err,
	       size_t errlen);

#endif
