/* SPDX-License-Identifier: MIT */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "api/server.h"
#include "api/vm_create.h"
#include "api/vm_api.h"
#include "arch/arch.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "legacy/debug_exit.h"
#include "legacy/acpi_sleep.h"
#include "legacy/ged.h"
#include "legacy/i8042.h"
#include "legacy/rtc.h"
#include "legacy/serial.h"
#include "log.h"
#include "out_sink.h"
#include "pci/hotplug.h"
#include "platform.h"
#include "seccomp_filter.h"
#include "vfio/user.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/fs.h"
#include "virtio/net.h"
#include "virtio/mmio.h"
#include "virtio/pci.h"
#include "virtio/rng.h"
#include "virtio/vhost_blk.h"
#include "virtio/vsock.h"
#include "virtio/worker.h"
#include "vfio/kernel.h"
#include "vfio/pci_dev.h"
#include "vm_internal.h"

static void handle_ejects(struct vm *vm);

uint64_t vm_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* exit_request callback: any thread may ask the VM to end. */
static void vm_request_exit(void *opaque, int status, const char *why)
{
	struct vm *vm = opaque;
	bool expected = false;
	if (!atomic_compare_exchange_strong(&vm->exit_requested, &expected, true))
		return;
	vm->exit_status = status;
	snprintf(vm->exit_why, sizeof(vm->exit_why), "%s", why);
	uint64_t one = 1;
	if (write(vm->exit_efd, &one, sizeof(one)) < 0)
		log_error("cannot signal the control loop: %s", strerror(errno));
}

void vm_request_stop(struct vm *vm, int status, const char *why)
{
	vm_request_exit(vm, status, why);
}

static struct exit_request vm_exit_request(struct vm *vm)
{
	return (struct exit_request){ .request = vm_request_exit, .opaque = vm };
}

static struct irq_line vm_irq_line(struct vm *vm, uint32_t gsi)
{
	return (struct irq_line){ .set = kvm_irq_line_cb, .opaque = &vm->kvm, .gsi = gsi };
}

/* Guest output the control loop drains when its reader catches up. */
static void add_out_sink(struct vm *vm, struct out_sink *s)
{
	if (s && out_sink_poll_fd(s) >= 0 && vm->nout_sinks < VM_MAX_OUT_SINKS)
		vm->out_sinks[vm->nout_sinks++] = s;
}

static int open_serial_output(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	switch (cfg->serial) {
	case OUTPUT_TTY:
		vm->serial_out_fd = STDOUT_FILENO;
		vm->stdin_forward = true;
		return 0;
	case OUTPUT_FILE:
		vm->serial_out_fd = open(cfg->serial_path,
					 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (vm->serial_out_fd < 0) {
			int err = errno;
			log_error("--serial file=%s: %s", cfg->serial_path, strerror(err));
			return -err;
		}
		vm->serial_out_owned = true;
		return 0;
	case OUTPUT_NULL:
	case OUTPUT_OFF:
		vm->serial_out_fd = -1;
		return 0;
	}
	return -EINVAL;
}

static struct irq_line vm_irq_line_cb(void *opaque, uint32_t gsi)
{
	return vm_irq_line(opaque, gsi);
}

/*
 * The platform devices (platform.h), in this order: adding one is its
 * file and one line here.
 */
static const platform_builder_fn platform_builders[] = {
	serial_platform_add,
	i8042_platform_add,
	rtc_platform_add,
	debug_exit_platform_add,
	ged_platform_add, /* the ACPI power button (the DSDT's GED_) */
	acpi_sleep_platform_add, /* ACPI soft-off (the FADT's sleep registers) */
};

static int build_platform_devices(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	if (cfg->serial != OUTPUT_OFF) {
		int ret = open_serial_output(vm);
		if (ret)
			return ret;
	}
	const struct platform_ctx ctx = {
		.cfg = cfg,
		.pio = &vm->pio,
		.mmio = &vm->mmio,
		.exit = vm_exit_request(vm),
		.irq_line = vm_irq_line_cb,
		.irq_opaque = vm,
		.serial_out_fd = vm->serial_out_fd,
		.rx_ready_fd = vm->rx_ready_efd,
	};
	for (size_t i = 0; i < sizeof(platform_builders) / sizeof(platform_builders[0]); i++) {
		int ret = platform_builders[i](&vm->platform, &ctx);
		if (ret)
			return ret;
	}
	/* The two the VM itself talks to: stdin and counters, the button. */
	vm->serial = platform_find(&vm->platform, &serial_platform_ops);
	vm->ged = platform_find(&vm->platform, &ged_platform_ops);
	if (vm->serial)
		add_out_sink(vm, serial_out_sink(vm->serial));
	return 0;
}

/* BAR areas (a passthrough device's mmap'd BARs) as KVM memory slots. */
static int vm_pci_mem_map(void *opaque, uint64_t gpa, uint64_t size, void *hva,
			  uint32_t *handle)
{
	return kvm_map_slot(opaque, gpa, size, hva, handle);
}

static int vm_pci_mem_unmap(void *opaque, uint32_t handle)
{
	return kvm_unmap_slot(opaque, handle);
}

/*
 * Whether the guest gets a PCI bus: unless every device is on virtio-mmio
 * (--virtio-transport mmio and no --device or --user-device, which only
 * exist on PCI), as on QEMU's microvm. Without one it has no CF8/CFC or
 * ECAM to probe, no MCFG and no host bridge in the DSDT to set up, and no
 * bus to scan: seconds of an emulated Linux boot. The pci transport keeps
 * its bus even with no device on it. Hotplug needs the bus (the guest
 * learns of a new device through ACPI PCI hotplug), so the configuration
 * at boot decides it once.
 */
static bool vm_has_pci(const struct vm_config *cfg)
{
	return !cfg->virtio_mmio || cfg->ndevices || cfg->nuser_devices;
}

/*
 * Address windows, GSI routing and PCI bus 0 with its config mechanisms:
 * ports 0xCF8/0xCFC and the ECAM window (advertised by the MCFG table).
 * Without a PCI bus (vm_has_pci) the bus stays an empty structure that
 * nothing reaches: the guest finds no config mechanism.
 */
static int build_pci(struct vm *vm)
{
	struct ram_layout l;
	x86_ram_layout(vm->cfg->mem_size, &l);
	uint64_t mmio64_base = (HIGH_RAM_START + l.high_size + (1ULL << 30) - 1) &
			       ~((1ULL << 30) - 1);
	struct arch_pci_info *info = &vm->pci_info;
	*info = (struct arch_pci_info){
		.present = vm_has_pci(vm->cfg),
		.ecam_base = ECAM_START,
		.ecam_end_bus = (unsigned)(ECAM_SIZE >> 20) - 1,
		.mmio32_base = MMIO32_START,
		.mmio32_size = MMIO32_SIZE,
		.mmio64_base = mmio64_base,
		.mmio64_size = PCI_MMIO64_SIZE,
	};
	int ret = addr_alloc_init(&vm->pio_alloc, PCI_PIO_START, PCI_PIO_SIZE);
	ret = ret ?: addr_alloc_init(&vm->mmio32_alloc, MMIO32_START, MMIO32_SIZE);
	ret = ret ?: addr_alloc_init(&vm->mmio64_alloc, mmio64_base, PCI_MMIO64_SIZE);
	/* PCI INTx gets the IOAPIC pins ISA devices do not use, one per slot. */
	ret = ret ?: addr_alloc_init(&vm->intx_alloc, PCI_INTX_GSI_FIRST,
				     PCI_INTX_GSI_COUNT);
	ret = ret ?: addr_alloc_init(&vm->platform_alloc, PLATFORM_MMIO_START,
				     PLATFORM_MMIO_SIZE);
	ret = ret ?: irq_router_init(&vm->irq_router, &vm->kvm);
	/*
	 * 64-bit BARs are placed below 4 GiB too (as SeaBIOS does for small
	 * ones): simple guests map only the first 4 GiB. The 64-bit window
	 * is still described to the guest for its own reassignments.
	 */
	ret = ret ?: pci_bus_init(&vm->pci, &vm->pio, &vm->mmio, &vm->pio_alloc,
				  &vm->mmio32_alloc, NULL, ECAM_START);
	if (ret)
		return ret;
	/* ... unless they do not fit there (a passthrough device's). */
	vm->pci.mmio64_spill = &vm->mmio64_alloc;
	vm->pci.mem_map = vm_pci_mem_map;
	vm->pci.mem_unmap = vm_pci_mem_unmap;
	vm->pci.mem_opaque = &vm->kvm;
	if (!info->present) {
		log_debug("no PCI bus: every device is on virtio-mmio");
		return 0;
	}
	ret = platform_place(&vm->pio, PCI_CONFIG_ADDRESS_PORT, 4, pci_cf8_io,
			     &vm->pci, "PCI config address");
	ret = ret ?: platform_place(&vm->pio, PCI_CONFIG_DATA_PORT, 4, pci_cfc_io,
				    &vm->pci, "PCI config data");
	ret = ret ?: platform_place(&vm->mmio, ECAM_START, ECAM_SIZE, pci_ecam_io,
				    &vm->pci, "PCI ECAM");
	if (ret || !vm->cfg->api_socket)
		return ret;
	/* Only the API hot-plugs: without it the DSDT has no hotplug slots. */
	ret = pci_hotplug_create(&vm->hotplug, vm->hotplug_efd);
	if (ret) {
		log_error("PCI hotplug controller: %s", strerror(-ret));
		return ret;
	}
	ret = platform_add(&vm->platform, &pci_hotplug_platform_ops, vm->hotplug);
	if (ret) {
		pci_hotplug_destroy(vm->hotplug);
		vm->hotplug = NULL;
		return ret;
	}
	info->hotplug = true;
	return platform_place(&vm->mmio, PCI_HOTPLUG_MMIO_ADDR, PCI_HOTPLUG_MMIO_SIZE,
			      pci_hotplug_mmio, vm->hotplug, "PCI hotplug");
}

/*
 * A slot's INTx level (irq_line.set of virtio-pci): the GSI is asserted
 * while any slot routed to it is (slots share GSIs with hotplug).
 */
static void vm_intx_set(void *opaque, uint32_t gsi, int level)
{
	struct vm_intx_src *src = opaque;
	struct vm *vm = src->vm;
	pthread_mutex_lock(&vm->intx_lock);
	if (level)
		vm->intx_level |= 1u << src->slot;
	else
		vm->intx_level &= ~(1u << src->slot);
	int any = 0;
	for (unsigned s = 0; s < 32 && !any; s++)
		any = (vm->intx_level >> s & 1) && vm->pci_info.intx_gsi[s] == gsi;
	kvm_irq_line_cb(&vm->kvm, gsi, any);
	pthread_mutex_unlock(&vm->intx_lock);
}

static struct irq_line vm_intx_line(struct vm *vm, unsigned slot)
{
	vm->intx_src[slot] = (struct vm_intx_src){ .vm = vm, .slot = slot };
	return (struct irq_line){ .set = vm_intx_set, .opaque = &vm->intx_src[slot],
				  .gsi = vm->pci_info.intx_gsi[slot] };
}

/* INTA# of the next PCI device: its slot's GSI, else one of its own if
 * any is left. */
static struct irq_line vm_pci_intx(void *opaque, unsigned slot)
{
	struct vm *vm = opaque;
	uint64_t gsi;
	if (slot >= 32)
		return (struct irq_line){ 0 };
	/* A slot keeps its GSI (the DSDT's _PRT has it) for its next device. */
	if (vm->pci_info.intx_gsi[slot])
		return vm_intx_line(vm, slot);
	if (addr_alloc(&vm->intx_alloc, 1, 1, &gsi))
		return (struct irq_line){ 0 };
	vm->pci_info.intx_gsi[slot] = (uint32_t)gsi;
	return vm_intx_line(vm, slot);
}

/*
 * With hotplug, once the devices of the boot are on the bus: every slot
 * gets an INTx GSI before the DSDT's _PRT is written (a slot empty now has
 * none otherwise, and a device hot-plugged there could use MSI-X only).
 * The GSIs left go one to a slot; then the slots share the PCI lines in
 * turn, as a board's slots share its four (vm_intx_set ORs them). And the
 * console's slot offers no eject (cvmm cannot unplug it).
 */
static void vm_route_slots(struct vm *vm)
{
	struct arch_pci_info *info = &vm->pci_info;
	if (!info->hotplug)
		return;
	for (unsigned i = 0; i < vm->nvirtio; i++)
		if (vm->virtio[i].kind == VM_DEV_CONSOLE && vm->virtio[i].pci)
			info->no_eject |= 1u << virtio_pci_device(vm->virtio[i].pci)->slot;
	uint32_t lines[32];
	unsigned n = 0, next = 0;
	for (unsigned s = 1; s < 32; s++) {
		bool seen = false;
		for (unsigned k = 0; k < n; k++)
			seen |= lines[k] == info->intx_gsi[s];
		if (info->intx_gsi[s] && !seen)
			lines[n++] = info->intx_gsi[s];
	}
	for (unsigned s = 1; s < 32; s++) {
		uint64_t gsi;
		if (info->intx_gsi[s])
			continue;
		if (!addr_alloc(&vm->intx_alloc, 1, 1, &gsi)) {
			info->intx_gsi[s] = (uint32_t)gsi;
			lines[n++] = (uint32_t)gsi;
		} else if (n) {
			info->intx_gsi[s] = lines[next++ % n];
		}
	}
	log_debug("hotplug: INTx of slots 1-31 on %u GSIs", n);
}

static int build_vcpus(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	if ((int)cfg->cpus > vm->kvm.max_vcpus) {
		log_error("--cpus boot=%u: KVM supports at most %d vCPUs", cfg->cpus,
			  vm->kvm.max_vcpus);
		return -EINVAL;
	}
	vm->vcpus = calloc(cfg->cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (unsigned i = 0; i < cfg->cpus; i++) {
		int ret = vcpu_create(&vm->vcpus[i], &vm->kvm, i, &vm->pio, &vm->mmio,
				      vm_exit_request(vm));
		if (ret)
			return ret;
		vm->nvcpus++;
		vm->vcpus[i].seccomp = cfg->seccomp;
		ret = arch_vcpu_init(&vm->kvm, vm->vcpus[i].fd, i, cfg->cpus);
		if (ret)
			return ret;
	}
	return 0;
}

/* Typed destructors behind the generic vm_virtio entry. */
static int destroy_blk(void *d) { return virtio_blk_destroy(d); }
static int destroy_net(void *d) { virtio_net_destroy(d); return 0; }
static int destroy_rng(void *d) { virtio_rng_destroy(d); return 0; }
static int destroy_console(void *d) { virtio_console_destroy(d); return 0; }
static int destroy_vhost(void *d) { vhost_dev_destroy(d); return 0; }
static int destroy_vsock(void *d) { virtio_vsock_destroy(d); return 0; }

/* A 4 KiB window and a GSI of its own, then the virtio-mmio transport. */
static int add_virtio_mmio(struct vm *vm, struct vm_virtio *v)
{
	struct arch_pci_info *info = &vm->pci_info;
	uint64_t addr, gsi;
	int ret = -ENOSPC;
	if (info->nvirtio_mmio < sizeof(info->virtio_mmio) / sizeof(info->virtio_mmio[0]))
		ret = addr_alloc(&vm->platform_alloc, VIRTIO_MMIO_SIZE,
				 VIRTIO_MMIO_SIZE, &addr);
	if (!ret) {
		ret = addr_alloc(&vm->intx_alloc, 1, 1, &gsi);
		if (ret)
			addr_free(&vm->platform_alloc, addr);
	}
	if (ret) {
		log_error("%s: no room for another virtio-mmio device (address or GSI)",
			  v->vdev->name);
		return -ENOSPC;
	}
	struct virtio_mmio *m;
	ret = virtio_mmio_create(&m, v->vdev, &vm->mmio, addr, (uint32_t)gsi, &vm->kvm);
	/* The window is a platform device: reset and torn down as one. */
	ret = ret ?: platform_add(&vm->platform, &virtio_mmio_platform_ops, m);
	if (ret)
		return ret;
	v->mmio = m;
	v->transport = virtio_mmio_transport(m);
	info->virtio_mmio[info->nvirtio_mmio++] = (struct arch_virtio_mmio){
		.addr = addr, .size = VIRTIO_MMIO_SIZE, .gsi = (uint32_t)gsi,
	};
	return 0;
}

/* Puts a created device behind its transport: a new virtio-pci function on
 * bus 0, or a virtio-mmio window (--virtio-transport). */
static int add_virtio(struct vm *vm, void *dev, struct virtio_dev *vd,
		      int (*destroy)(void *))
{
	if (vm->nvirtio == VM_MAX_VIRTIO) {
		destroy(dev);
		log_error("too many virtio devices (at most %d)", VM_MAX_VIRTIO);
		return -ENOSPC;
	}
	struct vm_virtio *v = &vm->virtio[vm->nvirtio++];
	*v = (struct vm_virtio){ .dev = dev, .destroy = destroy, .vdev = vd };
	if (vm->cfg->virtio_mmio)
		return add_virtio_mmio(vm, v);
	int ret = virtio_pci_create(&v->pci, vd, &vm->pci, &vm->irq_router,
				    &vm->kvm);
	if (!ret)
		v->transport = virtio_pci_transport(v->pci);
	return ret;
}

static int console_fds(struct vm *vm, int *in_fd, int *out_fd)
{
	const struct vm_config *cfg = vm->cfg;
	*in_fd = *out_fd = -1;
	switch (cfg->console) {
	case OUTPUT_TTY:
		*in_fd = STDIN_FILENO;
		*out_fd = STDOUT_FILENO;
		if (isatty(STDIN_FILENO) && term_raw_enter(STDIN_FILENO) == 0)
			vm->term_raw = true;
		return 0;
	case OUTPUT_FILE:
		vm->console_out_fd = open(cfg->console_path,
					  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (vm->console_out_fd < 0) {
			int err = errno;
			log_error("--console file=%s: %s", cfg->console_path, strerror(err));
			return -err;
		}
		*out_fd = vm->console_out_fd;
		return 0;
	default:
		return 0;
	}
}

/* Its id: the configuration's, else "_<kind><n>" as cloud-hypervisor. */
static void name_device(struct vm *vm, enum vm_dev_kind kind, const char *id)
{
	static const char *const prefix[] = {
		[VM_DEV_DISK] = "_disk", [VM_DEV_FS] = "_fs", [VM_DEV_NET] = "_net",
		[VM_DEV_RNG] = "_rng", [VM_DEV_CONSOLE] = "_console", [VM_DEV_VSOCK] = "_vsock",
	};
	struct vm_virtio *v = &vm->virtio[vm->nvirtio - 1];
	v->kind = kind;
	if (id)
		snprintf(v->id, sizeof(v->id), "%s", id);
	else
		snprintf(v->id, sizeof(v->id), "%s%u", prefix[kind], vm->next_dev_id);
	vm->next_dev_id++;
}

/* cfg->disks[i]: virtio-blk, or a vhost-user-blk front-end. */
static int add_disk(struct vm *vm, unsigned i)
{
	const struct disk_config *d = &vm->cfg->disks[i];
	const struct guest_mem *mem = &vm->kvm.mem;
	int ret;
	if (d->vhost_user) {
		struct vhost_dev *h;
		ret = vhost_blk_create(&h, d, i, mem);
		ret = ret ?: add_virtio(vm, h, vhost_dev_vdev(h), destroy_vhost);
		if (!ret)
			vm->virtio[vm->nvirtio - 1].vhost = h;
	} else {
		struct virtio_blk *b;
		ret = virtio_blk_create(&b, d, mem);
		ret = ret ?: add_virtio(vm, b, virtio_blk_vdev(b), destroy_blk);
	}
	if (!ret)
		name_device(vm, VM_DEV_DISK, d->id);
	return ret;
}

static int add_fs(struct vm *vm, unsigned i)
{
	struct vhost_dev *h;
	int ret = virtio_fs_create(&h, &vm->cfg->fs[i], &vm->kvm.mem);
	ret = ret ?: add_virtio(vm, h, vhost_dev_vdev(h), destroy_vhost);
	if (ret)
		return ret;
	vm->virtio[vm->nvirtio - 1].vhost = h;
	name_device(vm, VM_DEV_FS, vm->cfg->fs[i].id);
	return 0;
}

static int add_net(struct vm *vm, unsigned i)
{
	struct virtio_net *n;
	int ret = virtio_net_create(&n, &vm->cfg->nets[i], &vm->kvm.mem);
	ret = ret ?: add_virtio(vm, n, virtio_net_vdev(n), destroy_net);
	if (!ret)
		name_device(vm, VM_DEV_NET, vm->cfg->nets[i].id);
	return ret;
}

static int add_vsock(struct vm *vm)
{
	struct virtio_vsock *v;
	int ret = virtio_vsock_create(&v, &vm->cfg->vsock, &vm->kvm.mem);
	ret = ret ?: add_virtio(vm, v, virtio_vsock_vdev(v), destroy_vsock);
	if (!ret)
		name_device(vm, VM_DEV_VSOCK, vm->cfg->vsock.id);
	return ret;
}

/* The virtio devices, each behind its own virtio-pci function. */
static int build_virtio_devices(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	const struct guest_mem *mem = &vm->kvm.mem;
	int ret;

	vm->pci.intx_for_slot = vm_pci_intx;
	vm->pci.intx_opaque = vm;
	for (unsigned i = 0; i < cfg->ndisks; i++)
		if ((ret = add_disk(vm, i)))
			return ret;
	for (unsigned i = 0; i < cfg->nfs; i++)
		if ((ret = add_fs(vm, i)))
			return ret;
	for (unsigned i = 0; i < cfg->nnets; i++)
		if ((ret = add_net(vm, i)))
			return ret;
	if (cfg->rng.enabled) {
		struct virtio_rng *r;
		ret = virtio_rng_create(&r, &cfg->rng, mem);
		ret = ret ?: add_virtio(vm, r, virtio_rng_vdev(r), destroy_rng);
		if (ret)
			return ret;
		name_device(vm, VM_DEV_RNG, cfg->rng.id);
	}
	if (cfg->console != OUTPUT_OFF) {
		struct virtio_console *c;
		int in_fd, out_fd;
		ret = console_fds(vm, &in_fd, &out_fd);
		ret = ret ?: virtio_console_create(&c, in_fd, out_fd, mem);
		ret = ret ?: add_virtio(vm, c, virtio_console_vdev(c), destroy_console);
		if (ret)
			return ret;
		name_device(vm, VM_DEV_CONSOLE, NULL);
		add_out_sink(vm, virtio_console_out_sink(c));
	}
	if (cfg->vsock.enabled && (ret = add_vsock(vm)))
		return ret;
	return 0;
}

/*
 * The passthrough devices (--device), after the virtio ones: each opened
 * through the VM's VFIO containers, then a function of its own on bus 0
 * (BARs placed, guest RAM DMA-mapped). The failing layer logs, naming
 * the device.
 */
/* A passthrough device on the PCI bus over backend `be` (which it owns
 * from here on, also on a failure); `user`: a vfio-user server's. */
static int add_vfio_pci(struct vm *vm, struct vfio_backend *be, const char *id, bool no_mmap,
			bool user)
{
	const struct vfio_pci_params p = {
		.backend = be,
		.id = id,
		.no_mmap = no_mmap,
		.bus = &vm->pci,
		.router = &vm->irq_router,
		.mem = &vm->kvm.mem,
	};
	int ret = vfio_pci_create(&vm->passthrough[vm->npassthrough], &p);
	if (ret)
		return ret;
	vm->passthrough_user[vm->npassthrough++] = user ? be : NULL;
	return 0;
}

/* cfg->devices[i] (kernel VFIO): the VM's containers made on the first. */
static int add_passthrough(struct vm *vm, unsigned i)
{
	const struct vm_config *cfg = vm->cfg;
	int ret = vm->vfio ? 0 : vfio_kernel_create(&vm->vfio, NULL);
	struct vfio_backend *be;
	ret = ret ?: vfio_kernel_open(vm->vfio, cfg->devices[i].path, &be);
	if (ret)
		return ret;
	ret = add_vfio_pci(vm, be, cfg->devices[i].id, cfg->devices[i].no_mmap, false);
	if (ret)
		return ret;
	/* Its DMA mapping pinned guest RAM: a reboot zeroes it in place. */
	vm->kvm.ram_pinned = true;
	return 0;
}

static int build_passthrough_devices(struct vm *vm)
{
	int ret = 0;
	for (unsigned i = 0; i < vm->cfg->ndevices && !ret; i++)
		ret = add_passthrough(vm, i);
	return ret;
}

/* cfg->user_devices[i]: the server connected, then a passthrough device. */
static int add_user_device(struct vm *vm, unsigned i)
{
	const struct vm_config *cfg = vm->cfg;
	struct vfio_backend *b;
	int ret = vfio_user_connect(cfg->user_devices[i].socket, &b);
	if (ret)
		return ret;
	return add_vfio_pci(vm, b, cfg->user_devices[i].id, false, true);
}

/*
 * The vfio-user devices (--user-device): each server connected and the
 * protocol agreed (vfio/user.c), then, as a kernel VFIO device, a function
 * of its own on bus 0 through the passthrough core. The failing layer
 * logs, naming the socket.
 */
static int build_user_devices(struct vm *vm)
{
	for (unsigned i = 0; i < vm->cfg->nuser_devices; i++) {
		int ret = add_user_device(vm, i);
		if (ret)
			return ret;
	}
	return 0;
}

/* What a reboot puts back: the machine and each vCPU as built. */
struct vm_reset_state {
	struct arch_vm_state *machine; /* irqchips, PIT (if any) */
	unsigned nvcpus;
	struct arch_vcpu_state *vcpus[]; /* nvcpus of them */
};

static void free_reset_state(struct vm_reset_state *st)
{
	if (!st)
		return;
	arch_vm_state_free(st->machine);
	for (unsigned i = 0; i < st->nvcpus; i++)
		arch_vcpu_state_free(st->vcpus[i]);
	free(st);
}

/* The failing piece logs (arch/x86/state.c). */
static int save_reset_state(struct vm *vm)
{
	struct vm_reset_state *st = calloc(1, sizeof(*st) + vm->nvcpus * sizeof(st->vcpus[0]));
	if (!st)
		return -ENOMEM;
	st->nvcpus = vm->nvcpus;
	int ret = arch_vm_state_save(&vm->kvm, vm->cfg, 0, &st->machine);
	for (unsigned i = 0; i < vm->nvcpus && !ret; i++)
		ret = arch_vcpu_state_save(&vm->kvm, vm->vcpus[i].fd, vm->vcpus[i].id, 0,
					   &st->vcpus[i]);
	if (ret) {
		free_reset_state(st);
		return ret;
	}
	vm->reset = st;
	return 0;
}

/* What every VM has, machine or not: the control loop's eventfds. */
static int vm_init_base(struct vm *vm, const struct vm_config *cfg, uint64_t start_ns)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	vm->start_ns = start_ns;
	vm->kvm.sys_fd = vm->kvm.vm_fd = vm->kvm.teardown_fd = vm->kvm.ram_fd = -1;
	vm->serial_out_fd = -1;
	vm->console_out_fd = -1;
	vm->epoll_fd = vm->signal_fd = -1;
	vm->exit_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->rx_ready_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->hotplug_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->exit_efd < 0 || vm->rx_ready_efd < 0 || vm->hotplug_efd < 0)
		return -errno;
	return -pthread_mutex_init(&vm->intx_lock, NULL);
}

/* The machine itself, from vm->cfg. */
int vm_build_machine(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	vm->machine = true;
	int ret = bus_init(&vm->pio, "pio");
	ret = ret ?: bus_init(&vm->mmio, "mmio");
	ret = ret ?: vcpu_signal_init();
	ret = ret ?: kvm_open(&vm->kvm);
	ret = ret ?: kvm_create_vm(&vm->kvm);
	if (!ret && vm->restoring) /* guest RAM from the snapshot */
		vm_restore_ram_source(vm);
	ret = ret ?: arch_vm_init(&vm->kvm, cfg);
	ret = ret ?: build_platform_devices(vm);
	ret = ret ?: build_pci(vm);
	ret = ret ?: build_virtio_devices(vm);
	ret = ret ?: build_passthrough_devices(vm);
	ret = ret ?: build_user_devices(vm);
	if (!ret)
		vm_route_slots(vm);
	ret = ret ?: build_vcpus(vm);
	if (!ret && !vm->restoring)
		ret = arch_load_guest(&vm->kvm, cfg, &vm->pci_info, vm->vcpus[0].fd);
	/* Only the API can ask for a reboot: no cost without it. A restored
	 * VM keeps its vCPUs as built, before the snapshot's go in. */
	if (!ret && cfg->api_socket)
		ret = save_reset_state(vm);
	if (!ret && vm->restoring)
		ret = vm_restore_state(vm);
	return ret;
}

int vm_build(struct vm *vm, const struct vm_config *cfg, uint64_t start_ns)
{
	int ret = vm_init_base(vm, cfg, start_ns);
	return ret ?: vm_build_machine(vm);
}

int vm_prepare(struct vm *vm, const struct vm_config *cfg, uint64_t start_ns)
{
	int ret = vm_init_base(vm, cfg, start_ns);
	vm->state = VM_STATE_NOT_CREATED;
	return ret;
}

static int epoll_add(struct vm *vm, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	if (epoll_ctl(vm->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

static void watch_stdin(struct vm *vm, bool on)
{
	if (on == vm->stdin_watched)
		return;
	if (on) {
		if (epoll_add(vm, STDIN_FILENO) == 0)
			vm->stdin_watched = true;
	} else {
		epoll_ctl(vm->epoll_fd, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
		vm->stdin_watched = false;
	}
}

/* The loop's own fds; not logged (setup_control_loop does). */
static int control_loop_fds(struct vm *vm)
{
	vm->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (vm->epoll_fd < 0)
		return -errno;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	vm->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (vm->signal_fd < 0)
		return -errno;
	int ret = epoll_add(vm, vm->exit_efd);
	ret = ret ?: epoll_add(vm, vm->signal_fd);
	ret = ret ?: epoll_add(vm, vm->rx_ready_efd);
	ret = ret ?: epoll_add(vm, vm->hotplug_efd);
	return ret;
}

/* What the control loop serves for passthrough device i (-1: none): its
 * vfio-user server's requests (DMA of guest RAM not shared with it), and
 * the guest's EOIs of an INTx cvmm unmasks itself. */
static void passthrough_fds(const struct vm *vm, unsigned i, int fds[2])
{
	struct vfio_backend *b = vm->passthrough_user[i];
	fds[0] = b ? vfio_user_poll_fd(b) : -1;
	fds[1] = vfio_pci_intx_resample_fd(vm->passthrough[i]);
}

/*
 * The machine's fds the control loop watches (on: added when it starts,
 * logged; off: removed before it is torn down, so that a next machine
 * starts from the loop's own fds).
 */
static int watch_machine_fds(struct vm *vm, bool on)
{
	int fds[VM_MAX_VIRTIO + 2 * (CVMM_MAX_DEVICES + CVMM_MAX_USER_DEVICES)];
	unsigned n = 0;
	/* The guest's EOIs of virtio-mmio interrupts (level-triggered). */
	for (unsigned i = 0; i < vm->nvirtio; i++)
		if (vm->virtio[i].mmio)
			fds[n++] = virtio_mmio_resample_fd(vm->virtio[i].mmio);
	for (unsigned i = 0; i < vm->npassthrough; i++) {
		int pfds[2];
		passthrough_fds(vm, i, pfds);
		for (unsigned k = 0; k < 2; k++)
			if (pfds[k] >= 0)
				fds[n++] = pfds[k];
	}
	for (unsigned i = 0; i < n; i++) {
		if (!on) {
			epoll_ctl(vm->epoll_fd, EPOLL_CTL_DEL, fds[i], NULL);
			continue;
		}
		int ret = epoll_add(vm, fds[i]);
		if (ret) {
			log_error("control loop setup: %s", strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* One error line for a failure, from whoever knows what failed. */
static int setup_control_loop(struct vm *vm)
{
	int ret = control_loop_fds(vm);
	if (ret) {
		log_error("control loop setup: %s", strerror(-ret));
		return ret;
	}
	if (!vm->cfg->api_socket)
		return 0;
	/* Names --api-socket and the path in its own line. */
	ret = api_server_create(&vm->api, vm->cfg->api_socket, vm_api_handle, vm);
	if (ret)
		return ret;
	ret = epoll_add(vm, api_server_fd(vm->api));
	if (ret)
		log_error("control loop setup: --api-socket %s: %s",
			  vm->cfg->api_socket, strerror(-ret));
	return ret;
}

/* Serial input from stdin, once the machine exists. */
static void setup_stdin(struct vm *vm)
{
	if (vm->stdin_forward && vm->serial) {
		if (isatty(STDIN_FILENO)) {
			if (term_raw_enter(STDIN_FILENO) == 0)
				vm->term_raw = true;
		}
		watch_stdin(vm, true);
		if (!vm->stdin_watched)
			log_debug("stdin cannot be polled; guest serial input is off");
	}
}

/* Moves what stdin has into the UART, as much as its buffer takes. */
static void forward_stdin(struct vm *vm)
{
	uint8_t buf[256];
	size_t space = serial_rx_space(vm->serial);
	if (space == 0) {
		/* Resume when the guest drains the UART (rx_ready_efd). */
		watch_stdin(vm, false);
		return;
	}
	ssize_t n = read(STDIN_FILENO, buf, space < sizeof(buf) ? space : sizeof(buf));
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			watch_stdin(vm, false);
		return;
	}
	if (n == 0) {
		/* EOF: the guest keeps running, it just gets no more input. */
		watch_stdin(vm, false);
		vm->stdin_forward = false;
		return;
	}
	size_t len = (size_t)n;
	if (vm->term_raw) {
		bool quit = false;
		len = term_escape_filter(&vm->escape, buf, len, &quit);
		if (quit) {
			vm_request_exit(vm, 0, "quit from the console (Ctrl-A x)");
			return;
		}
	}
	serial_receive(vm->serial, buf, len);
}

/* A passthrough INTx's EOI: true when fd was one's resample fd. */
static bool resample_passthrough(struct vm *vm, int fd)
{
	for (unsigned i = 0; i < vm->npassthrough; i++) {
		if (vfio_pci_intx_resample_fd(vm->passthrough[i]) == fd) {
			vfio_pci_intx_resample(vm->passthrough[i]);
			return true;
		}
	}
	return false;
}

/* A vfio-user server's requests: served; true when fd was one's. A
 * broken connection (logged once by vfio/user.c) stops being polled. */
static bool serve_user_device(struct vm *vm, int fd)
{
	for (unsigned i = 0; i < vm->npassthrough; i++) {
		struct vfio_backend *b = vm->passthrough_user[i];
		if (!b || vfio_user_poll_fd(b) != fd)
			continue;
		if (vfio_user_service(b))
			epoll_ctl(vm->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
		return true;
	}
	return false;
}

/* A guest EOI lowered a virtio-mmio line: up again if still pending. */
static void resample_virtio_mmio(struct vm *vm, int fd)
{
	for (unsigned i = 0; i < vm->nvirtio; i++) {
		struct virtio_mmio *m = vm->virtio[i].mmio;
		if (m && virtio_mmio_resample_fd(m) == fd)
			virtio_mmio_resample(m);
	}
}

static void handle_signal(struct vm *vm)
{
	struct signalfd_siginfo si;
	while (read(vm->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			continue;
		log_info("signal %u: stopping the VM", si.ssi_signo);
		vm_request_exit(vm, 0, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
	}
}

enum vm_state vm_get_state(struct vm *vm)
{
	if (atomic_load(&vm->exit_requested))
		return VM_STATE_SHUTDOWN;
	return vm->state;
}

const char *vm_state_name(enum vm_state s)
{
	switch (s) {
	case VM_STATE_NOT_CREATED: return "NotCreated";
	case VM_STATE_CREATED: return "Created";
	case VM_STATE_RUNNING: return "Running";
	case VM_STATE_PAUSED: return "Paused";
	case VM_STATE_SHUTDOWN: return "Shutdown";
	}
	return "Unknown";
}

#define VM_PAUSE_TIMEOUT_MS 2000

/* Parks every vCPU; on a timeout lets them all go again. */
static int park_vcpus(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu_pause(&vm->vcpus[i]);
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		if (vcpu_wait_paused(&vm->vcpus[i], VM_PAUSE_TIMEOUT_MS)) {
			log_error("pause: vCPU %u did not stop within %d ms; resuming",
				  i, VM_PAUSE_TIMEOUT_MS);
			for (unsigned k = 0; k < vm->nvcpus; k++)
				vcpu_resume(&vm->vcpus[k]);
			return -ETIMEDOUT;
		}
	}
	return 0;
}

/* Lets every device thread go on (withdraws the pause requests). */
static void release_devices(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nvirtio; i++)
		if (vm->virtio[i].vdev->worker)
			virtio_worker_resume(vm->virtio[i].vdev->worker);
}

/*
 * Parks every device thread once it finished what it was handling; the
 * vCPUs must be parked already, so no guest reset or activation of a
 * device (which starts and joins these threads on a vCPU) is under way.
 * A device never activated has no thread: its request waits for one.
 * On a timeout lets them all go again.
 */
int vm_park_devices(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nvirtio; i++) {
		struct virtio_worker *w = vm->virtio[i].vdev->worker;
		if (w && virtio_worker_pause(w, VM_PAUSE_TIMEOUT_MS)) {
			release_devices(vm);
			return -ETIMEDOUT;
		}
	}
	return 0;
}

static void release_vcpus(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu_resume(&vm->vcpus[i]);
}

/* vCPUs, then device threads: the whole machine stands still. */
static int park_machine(struct vm *vm)
{
	int ret = park_vcpus(vm);
	if (ret)
		return ret;
	ret = vm_park_devices(vm);
	if (ret)
		release_vcpus(vm);
	return ret;
}

int vm_pause(struct vm *vm)
{
	if (vm_get_state(vm) != VM_STATE_RUNNING)
		return -EBUSY;
	uint64_t t0 = vm_now_ns();
	int ret = park_machine(vm);
	if (ret)
		return ret;
	/* Serial input waits too (it would raise the UART's IRQ). */
	watch_stdin(vm, false);
	vm->state = VM_STATE_PAUSED;
	vm->pauses++;
	log_info("VM paused (%u vCPUs and the device threads parked in %.3f ms)",
		 vm->nvcpus, (double)(vm_now_ns() - t0) / 1e6);
	return 0;
}

int vm_resume(struct vm *vm)
{
	if (vm_get_state(vm) != VM_STATE_PAUSED)
		return -EBUSY;
	release_devices(vm);
	release_vcpus(vm);
	vm->state = VM_STATE_RUNNING;
	if (vm->stdin_forward && vm->serial)
		watch_stdin(vm, true);
	log_info("VM resumed");
	return 0;
}

static int restore_machine(struct vm *vm)
{
	struct vm_reset_state *st = vm->reset;
	/* As each driver would reset its device: threads stopped, queues,
	 * features and vectors forgotten (virtio-mmio windows: below). */
	for (unsigned i = 0; i < vm->nvirtio; i++)
		if (vm->virtio[i].pci)
			virtio_transport_reset(vm->virtio[i].transport);
	/* Config spaces as built: BARs back where they were placed;
	 * passthrough devices reset (VFIO_DEVICE_RESET) with theirs. */
	pci_bus_reset(&vm->pci);
	/* UART, i8042, RTC index, GED (a press the old guest did not take
	 * does not survive), virtio-mmio windows: power-on values. */
	platform_reset(&vm->platform);
	/* Zeroes, as at the first boot (KVM follows the mapping). */
	int ret = kvm_clear_ram(&vm->kvm);
	ret = ret ?: arch_vm_state_restore(&vm->kvm, st->machine);
	for (unsigned i = 0; i < st->nvcpus && !ret; i++)
		ret = arch_vcpu_state_restore(vm->vcpus[i].fd, vm->vcpus[i].id, st->vcpus[i]);
	if (ret)
		return ret;
	return arch_load_guest(&vm->kvm, vm->cfg, &vm->pci_info, vm->vcpus[0].fd);
}

int vm_power_button(struct vm *vm)
{
	enum vm_state s = vm_get_state(vm);
	if (s != VM_STATE_RUNNING && s != VM_STATE_PAUSED)
		return -EBUSY;
	int ret = ged_raise(vm->ged, GED_EVENT_POWER_BUTTON);
	if (ret)
		return ret;
	vm->power_button_presses++;
	log_info("power button pressed%s", s == VM_STATE_PAUSED ?
		 " (the guest sees it when the VM resumes)" : "");
	return 0;
}

int vm_reboot(struct vm *vm)
{
	enum vm_state s = vm_get_state(vm);
	if (s != VM_STATE_RUNNING && s != VM_STATE_PAUSED)
		return -EBUSY;
	if (!vm->reset)
		return -ENOTSUP;
	uint64_t t0 = vm_now_ns();
	int ret = s == VM_STATE_RUNNING ? park_machine(vm) : 0;
	if (ret)
		return ret;
	ret = restore_machine(vm);
	if (ret) {
		/* Half reset: nothing sensible can run any more. */
		vm_request_exit(vm, 1, "reboot failed");
		return ret;
	}
	/* The resets stopped the device threads; no request is left over
	 * for the threads the new guest's drivers start. */
	release_devices(vm);
	release_vcpus(vm);
	vm->state = VM_STATE_RUNNING;
	if (vm->stdin_forward && vm->serial)
		watch_stdin(vm, true);
	vm->reboots++;
	log_info("VM rebooted (reset in %.3f ms)", (double)(vm_now_ns() - t0) / 1e6);
	return 0;
}

static void stop_vcpus(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu_stop(&vm->vcpus[i]);
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu_join(&vm->vcpus[i]);
}

/*
 * Output sinks: edge-triggered EPOLLOUT, so the loop wakes once each time
 * the reader makes room, not all the time the fd is writable.
 */
static void watch_out_sinks(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nout_sinks; i++) {
		int fd = out_sink_poll_fd(vm->out_sinks[i]);
		struct epoll_event ev = { .events = EPOLLOUT | EPOLLET, .data.fd = fd };
		if (epoll_ctl(vm->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
			log_debug("output fd %d cannot be polled (%s): buffered "
				  "output waits for the next write", fd, strerror(errno));
	}
}

/* The output sink whose fd this is, if any. */
static struct out_sink *out_sink_of(struct vm *vm, int fd)
{
	for (unsigned i = 0; i < vm->nout_sinks; i++)
		if (out_sink_poll_fd(vm->out_sinks[i]) == fd)
			return vm->out_sinks[i];
	return NULL;
}

/*
 * A built machine goes: its fds watched, stdin wired, vCPUs started, the
 * loop filtered (once: a next machine's vCPUs start under that filter).
 */
int vm_start_machine(struct vm *vm)
{
	int ret = watch_machine_fds(vm, true);
	if (ret)
		return ret;
	setup_stdin(vm);
	watch_out_sinks(vm);
	/* Parked before their first KVM_RUN (a restore with resume=false). */
	if (vm->start_paused)
		for (unsigned i = 0; i < vm->nvcpus; i++)
			vcpu_pause(&vm->vcpus[i]);
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		ret = vcpu_start(&vm->vcpus[i]);
		if (ret) {
			stop_vcpus(vm);
			return ret;
		}
	}
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu_wait_named(&vm->vcpus[i]);
	if (vm->loop_filtered) {
		vm->state = vm->start_paused ? VM_STATE_PAUSED : VM_STATE_RUNNING;
		return 0;
	}
	/* The kernel's teardown of the VM then runs after cvmm's exit status
	 * is out; forked before the main filter, which allows no fork (a
	 * machine booted again through the API is torn down in-process). */
	kvm_defer_teardown(&vm->kvm);
	/*
	 * Not before: a vCPU thread inherits its creator's filter. With
	 * --api-socket the loop may build another machine (vm.shutdown, then
	 * vm.boot): SECCOMP_VMM, the main list and what a build needs.
	 */
	ret = seccomp_install(vm->api ? SECCOMP_VMM : SECCOMP_MAIN, vm->cfg->seccomp);
	if (ret) {
		stop_vcpus(vm);
		return ret;
	}
	vm->loop_filtered = true;
	vm->state = vm->start_paused ? VM_STATE_PAUSED : VM_STATE_RUNNING;
	return 0;
}

int vm_create(struct vm *vm, struct vm_create_config *c)
{
	if (vm_get_state(vm) != VM_STATE_NOT_CREATED) {
		vm_create_config_free(c);
		return -EBUSY;
	}
	vm->created = c;
	vm->cli_cfg = vm->cfg;
	vm->cfg = &c->cfg;
	vm->state = VM_STATE_CREATED;
	log_info("VM created: kernel %s, %u vCPUs, %llu MiB", c->cfg.kernel, c->cfg.cpus,
		 (unsigned long long)(c->cfg.mem_size >> 20));
	return 0;
}

int vm_delete(struct vm *vm)
{
	enum vm_state s = vm_get_state(vm);
	if (s == VM_STATE_NOT_CREATED)
		return 0;
	if ((s != VM_STATE_CREATED && s != VM_STATE_SHUTDOWN) || vm->machine)
		return -EBUSY;
	/* The command line's configuration again (api_socket and the rest);
	 * a VM the command line described is forgotten all the same. */
	if (vm->created) {
		vm->cfg = vm->cli_cfg;
		vm_create_config_free(vm->created);
		vm->created = NULL;
	}
	vm->state = VM_STATE_NOT_CREATED;
	log_info("VM deleted (its configuration forgotten)");
	return 0;
}

int vm_boot(struct vm *vm)
{
	enum vm_state s = vm_get_state(vm);
	if ((s != VM_STATE_CREATED && s != VM_STATE_SHUTDOWN) || vm->machine)
		return -EBUSY;
	uint64_t t0 = vm_now_ns();
	int ret = vm_build_machine(vm);
	ret = ret ?: vm_start_machine(vm);
	if (ret) {
		/* Half built: it goes; the configuration stays for another
		 * vm.boot (after the user fixed what failed) or vm.delete. */
		vm_teardown_machine(vm);
		vm->state = VM_STATE_CREATED;
		log_info("boot failed (%s): torn down, the VM is Created again", strerror(-ret));
		return ret;
	}
	log_info("VM booted (built %.3f ms after start, in %.3f ms)",
		 (double)(vm_now_ns() - vm->start_ns) / 1e6,
		 (double)(vm_now_ns() - t0) / 1e6);
	return 0;
}

int vm_run(struct vm *vm)
{
	/* Signals are taken by the control loop (signalfd), not by threads. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (setup_control_loop(vm)) /* logged there */
		return 1;
	if (vm->machine) {
		if (vm_start_machine(vm))
			return 1;
		/* --restore resume=false: the device threads park too. */
		if (vm->start_paused && vm_park_devices(vm))
			return 1;
		vm->start_paused = false;
	} else {
		log_info("no kernel given: waiting for vm.create and vm.boot on %s",
			 vm->cfg->api_socket);
	}

	while (!atomic_load(&vm->exit_requested)) {
		struct epoll_event evs[8];
		int n = epoll_wait(vm->epoll_fd, evs, 8, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(errno));
			vm_request_exit(vm, 1, "control loop failure");
			break;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			uint64_t v;
			if (fd == vm->exit_efd) {
				continue;
			} else if (fd == vm->signal_fd) {
				handle_signal(vm);
			} else if (fd == vm->rx_ready_efd) {
				if (read(vm->rx_ready_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_debug("rx_ready read: %s", strerror(errno));
				if (vm->stdin_forward && vm->state != VM_STATE_PAUSED)
					watch_stdin(vm, true);
			} else if (fd == STDIN_FILENO) {
				forward_stdin(vm);
			} else if (fd == vm->hotplug_efd) {
				if (read(vm->hotplug_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_debug("hotplug eventfd read: %s", strerror(errno));
				handle_ejects(vm);
			} else if (vm->api && fd == api_server_fd(vm->api)) {
				api_server_process(vm->api);
			} else if (out_sink_of(vm, fd)) {
				out_sink_drain(out_sink_of(vm, fd));
			} else {
				if (!serve_user_device(vm, fd) && !resample_passthrough(vm, fd))
					resample_virtio_mmio(vm, fd);
			}
		}
	}

	vm->state = VM_STATE_SHUTDOWN;
	stop_vcpus(vm);
	/* Where each vCPU was: helps with guests that hang. */
	if (log_get_level() >= LOG_DEBUG)
		for (unsigned i = 0; i < vm->nvcpus; i++)
			arch_vcpu_dump(vm->vcpus[i].fd, i, LOG_DEBUG);
	if (vm->term_raw) {
		term_restore();
		vm->term_raw = false;
	}
	uint64_t first = vm->nvcpus ? vm->vcpus[0].first_run_ns : 0;
	log_info("VM exit (%s), status %d; first guest entry %.3f ms, exit %.3f ms after start",
		 vm->exit_why, vm->exit_status,
		 first ? (double)(first - vm->start_ns) / 1e6 : 0.0,
		 (double)(vm_now_ns() - vm->start_ns) / 1e6);
	return vm->exit_status;
}

/*
 * Everything vm_build_machine made, gone; the fields it fills back as
 * vm_init_base left them, so that it may build another machine. Returns
 * 0, or -errno when a disk's data may be lost (virtio_blk_destroy()).
 */
int vm_teardown_machine(struct vm *vm)
{
	int ret = 0;
	stop_vcpus(vm);
	if (vm->epoll_fd >= 0) {
		watch_machine_fds(vm, false);
		watch_stdin(vm, false);
		for (unsigned i = 0; i < vm->nout_sinks; i++)
			epoll_ctl(vm->epoll_fd, EPOLL_CTL_DEL,
				  out_sink_poll_fd(vm->out_sinks[i]), NULL);
	}
	if (vm->term_raw)
		term_restore();
	/* Transports first (they reset their devices), then the devices:
	 * the platform devices take the virtio-mmio windows with them. */
	platform_destroy(&vm->platform);
	for (unsigned i = 0; i < vm->nvirtio; i++)
		if (vm->virtio[i].pci)
			virtio_transport_destroy(vm->virtio[i].transport);
	for (unsigned i = 0; i < vm->nvirtio; i++) {
		int r = vm->virtio[i].destroy(vm->virtio[i].dev);
		if (r < 0 && !ret)
			ret = r;
	}
	/* Interrupts off, slots and DMA mappings gone, devices closed (the
	 * vfio-user connections go with their devices). */
	for (unsigned i = 0; i < vm->npassthrough; i++)
		vfio_pci_destroy(vm->passthrough[i]);
	vfio_kernel_destroy(vm->vfio);
	if (vm->console_out_fd >= 0)
		close(vm->console_out_fd);
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	if (vm->serial_out_owned)
		close(vm->serial_out_fd);
	free_reset_state(vm->reset);
	pci_bus_destroy(&vm->pci);
	irq_router_destroy(&vm->irq_router);
	addr_alloc_destroy(&vm->pio_alloc);
	addr_alloc_destroy(&vm->mmio32_alloc);
	addr_alloc_destroy(&vm->mmio64_alloc);
	addr_alloc_destroy(&vm->intx_alloc);
	addr_alloc_destroy(&vm->platform_alloc);
	kvm_close(&vm->kvm);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);

	memset(&vm->kvm, 0, sizeof(vm->kvm));
	vm->kvm.sys_fd = vm->kvm.vm_fd = vm->kvm.teardown_fd = vm->kvm.ram_fd = -1;
	memset(&vm->pio, 0, sizeof(vm->pio));
	memset(&vm->mmio, 0, sizeof(vm->mmio));
	vm->vcpus = NULL;
	vm->nvcpus = 0;
	memset(&vm->pio_alloc, 0, sizeof(vm->pio_alloc));
	memset(&vm->mmio32_alloc, 0, sizeof(vm->mmio32_alloc));
	memset(&vm->mmio64_alloc, 0, sizeof(vm->mmio64_alloc));
	memset(&vm->intx_alloc, 0, sizeof(vm->intx_alloc));
	memset(&vm->platform_alloc, 0, sizeof(vm->platform_alloc));
	memset(&vm->irq_router, 0, sizeof(vm->irq_router));
	memset(&vm->pci, 0, sizeof(vm->pci));
	memset(&vm->pci_info, 0, sizeof(vm->pci_info));
	vm->intx_level = 0;
	memset(vm->virtio, 0, sizeof(vm->virtio));
	vm->nvirtio = 0;
	vm->vfio = NULL;
	vm->npassthrough = 0;
	vm->console_out_fd = -1;
	memset(&vm->platform, 0, sizeof(vm->platform));
	vm->serial = NULL;
	vm->ged = NULL;
	vm->hotplug = NULL;
	vm->unplug_requested = 0;
	memset(vm->passthrough_user, 0, sizeof(vm->passthrough_user));
	vm->serial_out_fd = -1;
	vm->serial_out_owned = false;
	vm->nout_sinks = 0;
	vm->stdin_forward = vm->stdin_watched = vm->term_raw = false;
	memset(&vm->escape, 0, sizeof(vm->escape));
	vm->reset = NULL;
	vm->machine = false;
	return ret;
}

int vm_shutdown(struct vm *vm)
{
	enum vm_state s = vm_get_state(vm);
	if (s != VM_STATE_RUNNING && s != VM_STATE_PAUSED)
		return -EBUSY;
	uint64_t t0 = vm_now_ns();
	int ret = vm_teardown_machine(vm);
	vm->state = VM_STATE_SHUTDOWN;
	if (ret) {
		log_error("VM shut down; a disk's data may not have reached its image: %s",
			  strerror(-ret));
		return -EIO;
	}
	log_info("VM shut down in %.3f ms; the VMM goes on (vm.boot starts it again)",
		 (double)(vm_now_ns() - t0) / 1e6);
	return 0;
}

int vm_destroy(struct vm *vm)
{
	int ret = vm_teardown_machine(vm);
	/*
	 * vCPUs stopped and disks flushed: now the answer to a shutdown
	 * request may go out, and the socket goes away.
	 */
	api_server_flush(vm->api, 1000);
	api_server_destroy(vm->api);
	vm->api = NULL;
	if (vm->epoll_fd >= 0)
		close(vm->epoll_fd);
	if (vm->signal_fd >= 0)
		close(vm->signal_fd);
	if (vm->exit_efd >= 0)
		close(vm->exit_efd);
	if (vm->rx_ready_efd >= 0)
		close(vm->rx_ready_efd);
	if (vm->hotplug_efd >= 0)
		close(vm->hotplug_efd);
	/* vm->cfg may point into it: last. */
	vm_create_config_free(vm->created);
	vm->created = NULL;
	return ret;
}

/* ---- hotplug (vm.h) ---- */

int vm_own_config(struct vm *vm)
{
	if (vm->created)
		return 0;
	struct vm_create_config *c;
	int ret = vm_create_config_from(vm->cfg, &c);
	if (ret)
		return ret;
	vm->created = c;
	vm->cli_cfg = vm->cfg;
	vm->cfg = &c->cfg;
	return 0;
}

static bool vm_running(struct vm *vm)
{
	enum vm_state s = vm_get_state(vm);
	return (s == VM_STATE_RUNNING || s == VM_STATE_PAUSED) && vm->machine;
}

/* The configuration member a virtio device's entry is in. */
static const char *kind_member(enum vm_dev_kind k)
{
	switch (k) {
	case VM_DEV_DISK: return "disks";
	case VM_DEV_FS: return "fs";
	case VM_DEV_NET: return "net";
	case VM_DEV_RNG: return "rng";
	case VM_DEV_VSOCK: return "vsock";
	case VM_DEV_CONSOLE: break;
	}
	return NULL;
}

/* A virtio device out of the machine: its BARs off the buses (ioeventfds
 * unbound with them), then the transport (device reset: its thread
 * stopped; MSI-X irqfds and routes gone), then the device (its files
 * closed): what destroy says. The entry stays for the caller. */
static int release_virtio(struct vm *vm, struct vm_virtio *v)
{
	if (v->pci)
		pci_bus_remove_device(&vm->pci, virtio_pci_device(v->pci));
	if (v->transport)
		virtio_transport_destroy(v->transport);
	return v->destroy(v->dev);
}

/* Takes virtio devices [from, nvirtio) away again (a failed hotplug). */
static void drop_virtio_from(struct vm *vm, unsigned from)
{
	while (vm->nvirtio > from) {
		struct vm_virtio *v = &vm->virtio[--vm->nvirtio];
		release_virtio(vm, v);
		memset(v, 0, sizeof(*v));
	}
}

int vm_hotplug_add(struct vm *vm, const char *member, const char **id, unsigned *slot)
{
	if (!vm_running(vm))
		return -EBUSY;
	if (!vm->hotplug)
		return -ENOTSUP;
	const struct vm_config *cfg = vm->cfg;
	unsigned nvirtio = vm->nvirtio, npt = vm->npassthrough;
	int ret;
	/* Hotplug is PCI's: a virtio-mmio device cannot be announced. */
	if (cfg->virtio_mmio && strcmp(member, "devices") && strcmp(member, "user_devices"))
		return -ENOTSUP;
	if (!strcmp(member, "disks"))
		ret = add_disk(vm, cfg->ndisks - 1);
	else if (!strcmp(member, "fs"))
		ret = add_fs(vm, cfg->nfs - 1);
	else if (!strcmp(member, "net"))
		ret = add_net(vm, cfg->nnets - 1);
	else if (!strcmp(member, "vsock"))
		ret = add_vsock(vm);
	else if (!strcmp(member, "devices"))
		ret = add_passthrough(vm, cfg->ndevices - 1);
	else if (!strcmp(member, "user_devices"))
		ret = add_user_device(vm, cfg->nuser_devices - 1);
	else
		ret = -EINVAL;
	if (ret) {
		drop_virtio_from(vm, nvirtio);
		return ret;
	}
	struct pci_device *pd;
	if (vm->nvirtio > nvirtio) {
		struct vm_virtio *v = &vm->virtio[vm->nvirtio - 1];
		pd = virtio_pci_device(v->pci);
		*id = v->id;
	} else if (vm->npassthrough > npt) {
		pd = vfio_pci_device(vm->passthrough[vm->npassthrough - 1]);
		*id = pd->name;
		/* What the control loop serves for it (watch_machine_fds). */
		int fds[2];
		passthrough_fds(vm, vm->npassthrough - 1, fds);
		for (unsigned i = 0; i < 2; i++)
			if (fds[i] >= 0 && epoll_add(vm, fds[i]))
				log_warn("%s: fd %d cannot be polled", pd->name, fds[i]);
	} else {
		return -EINVAL;
	}
	*slot = pd->slot;
	ret = pci_hotplug_announce_up(vm->hotplug, pd->slot);
	ret = ret ?: ged_raise(vm->ged, GED_EVENT_PCI_HOTPLUG);
	if (ret)
		log_warn("%s: the guest was not told of slot %u: %s", *id, pd->slot,
			 strerror(-ret));
	vm->hotplugs++;
	log_info("hotplug: %s in slot %u (00:%02x.0), announced to the guest", *id, pd->slot,
		 pd->slot);
	return 0;
}

/* The virtio device or passthrough device with id (or vm.info name) id. */
static int find_device(struct vm *vm, const char *id, int *virtio, int *pt)
{
	*virtio = *pt = -1;
	for (unsigned i = 0; i < vm->nvirtio; i++)
		if (!strcmp(vm->virtio[i].id, id) || !strcmp(vm->virtio[i].vdev->name, id)) {
			*virtio = (int)i;
			return 0;
		}
	for (unsigned i = 0; i < vm->npassthrough; i++)
		if (!strcmp(vfio_pci_device(vm->passthrough[i])->name, id)) {
			*pt = (int)i;
			return 0;
		}
	return -ENOENT;
}

int vm_hotplug_remove(struct vm *vm, const char *id)
{
	if (!vm_running(vm))
		return -EBUSY;
	int vi, pi;
	if (find_device(vm, id, &vi, &pi))
		return -ENOENT;
	if (!vm->hotplug)
		return -ENOTSUP;
	unsigned slot;
	if (vi >= 0) {
		struct vm_virtio *v = &vm->virtio[vi];
		if (v->kind == VM_DEV_CONSOLE)
			return -EPERM;
		if (!v->pci)
			return -ENOTSUP;
		slot = virtio_pci_device(v->pci)->slot;
	} else {
		slot = vfio_pci_device(vm->passthrough[pi])->slot;
	}
	int ret = pci_hotplug_announce_down(vm->hotplug, slot);
	ret = ret ?: ged_raise(vm->ged, GED_EVENT_PCI_HOTPLUG);
	if (ret)
		return ret;
	vm->unplug_requested |= 1u << slot;
	log_info("hotplug: %s in slot %u: eject requested; it goes when the guest ejects it",
		 id, slot);
	return 0;
}

/* The configuration entry of a device that went (it stays in sync). */
static void forget_config_entry(struct vm *vm, const char *member, unsigned idx, const char *id)
{
	if (!member)
		return;
	int ret = vm_own_config(vm);
	ret = ret ?: vm_create_config_remove(vm->created, member, idx);
	if (ret)
		log_warn("%s: removed, but its configuration entry stays: %s", id, strerror(-ret));
}

/* The guest ejected a virtio device: everything it held goes. */
static void unplug_virtio(struct vm *vm, unsigned i)
{
	struct vm_virtio *v = &vm->virtio[i];
	char id[VM_DEV_ID_MAX];
	snprintf(id, sizeof(id), "%s", v->id);
	enum vm_dev_kind kind = v->kind;
	unsigned idx = 0;
	for (unsigned k = 0; k < i; k++)
		idx += vm->virtio[k].kind == v->kind;
	unsigned slot = virtio_pci_device(v->pci)->slot;
	int ret = release_virtio(vm, v);
	memmove(&vm->virtio[i], &vm->virtio[i + 1], (vm->nvirtio - i - 1) * sizeof(vm->virtio[0]));
	memset(&vm->virtio[--vm->nvirtio], 0, sizeof(vm->virtio[0]));
	/* A line it left asserted drops (the slots sharing it stay). */
	if (vm->pci_info.intx_gsi[slot] && vm->intx_src[slot].vm)
		vm_intx_set(&vm->intx_src[slot], vm->pci_info.intx_gsi[slot], 0);
	forget_config_entry(vm, kind_member(kind), idx, id);
	log_info("hotplug: %s released (slot %u free)%s", id, slot,
		 ret ? "; its data may not have reached the image" : "");
}

/* The guest ejected a passthrough device. */
static void unplug_passthrough(struct vm *vm, unsigned i)
{
	struct vfio_pci_dev *d = vm->passthrough[i];
	struct vfio_backend *b = vm->passthrough_user[i];
	struct pci_device *pd = vfio_pci_device(d);
	char id[VM_DEV_ID_MAX];
	snprintf(id, sizeof(id), "%s", pd->name);
	unsigned slot = pd->slot, idx = 0;
	for (unsigned k = 0; k < i; k++)
		idx += (vm->passthrough_user[k] != NULL) == (b != NULL);
	int fds[2];
	passthrough_fds(vm, i, fds);
	for (unsigned k = 0; k < 2; k++)
		if (fds[k] >= 0)
			epoll_ctl(vm->epoll_fd, EPOLL_CTL_DEL, fds[k], NULL);
	pci_bus_remove_device(&vm->pci, pd);
	vfio_pci_destroy(d); /* the vfio-user connection goes with it */
	unsigned n = vm->npassthrough - i - 1;
	memmove(&vm->passthrough[i], &vm->passthrough[i + 1], n * sizeof(vm->passthrough[0]));
	memmove(&vm->passthrough_user[i], &vm->passthrough_user[i + 1],
		n * sizeof(vm->passthrough_user[0]));
	vm->npassthrough--;
	forget_config_entry(vm, b ? "user_devices" : "devices", idx, id);
	log_info("hotplug: %s released (slot %u free)", id, slot);
}

/*
 * The slots the guest ejected (B0EJ): each device removed with the vCPUs
 * parked (no access to it may be in flight while it goes).
 */
static void handle_ejects(struct vm *vm)
{
	if (!vm->hotplug || !vm->machine)
		return;
	uint32_t slots = pci_hotplug_take_ejected(vm->hotplug);
	if (!slots)
		return;
	bool parked = vm_get_state(vm) == VM_STATE_RUNNING;
	if (parked && park_vcpus(vm)) {
		log_error("hotplug: cannot park the vCPUs; slots 0x%x stay", slots);
		return;
	}
	for (unsigned slot = 1; slot < 32; slot++) {
		if (!(slots & (1u << slot)))
			continue;
		bool asked = vm->unplug_requested & (1u << slot);
		vm->unplug_requested &= ~(1u << slot);
		int vi = -1, pi = -1;
		for (unsigned i = 0; i < vm->nvirtio && vi < 0; i++)
			if (vm->virtio[i].pci && virtio_pci_device(vm->virtio[i].pci)->slot == slot)
				vi = (int)i;
		for (unsigned i = 0; i < vm->npassthrough && vi < 0 && pi < 0; i++)
			if (vfio_pci_device(vm->passthrough[i])->slot == slot)
				pi = (int)i;
		if (vi >= 0 && vm->virtio[vi].kind == VM_DEV_CONSOLE) {
			log_warn("hotplug: the guest ejected slot %u (%s): the console stays",
				 slot, vm->virtio[vi].id);
			continue;
		}
		if (vi < 0 && pi < 0) {
			log_debug("hotplug: the guest ejected slot %u, which is empty", slot);
			continue;
		}
		log_debug("hotplug: the guest ejected slot %u%s", slot,
			  asked ? "" : " (not asked to)");
		if (vi >= 0)
			unplug_virtio(vm, (unsigned)vi);
		else
			unplug_passthrough(vm, (unsigned)pi);
		vm->unplugs++;
	}
	if (parked)
		release_vcpus(vm);
}

int vm_resize_disk(struct vm *vm, const char *id, uint64_t size)
{
	if (!vm_running(vm))
		return -EBUSY;
	int vi, pi;
	if (find_device(vm, id, &vi, &pi) || vi < 0 || vm->virtio[vi].kind != VM_DEV_DISK)
		return -ENOENT;
	if (vm->virtio[vi].vhost)
		return -ENOTSUP;
	return virtio_blk_resize(vm->virtio[vi].dev, size);
}
