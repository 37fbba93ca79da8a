/* SPDX-License-Identifier: MIT */
/* The VM's API endpoints; see vm_api.h and docs/openapi.yaml. */
#include "api/vm_api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/router.h"
#include "api/vm_create.h"
#include "config.h"
#include "legacy/serial.h"
#include "log.h"
#include "pci/msix.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/vsock.h"
#include "virtio/pci.h"
#include "virtio/vhost_dev.h"
#include "virtio/virtio.h"
#include "vfio/pci_dev.h"
#include "vm.h"

/*
 * cJSON_Add*ToObject return NULL when out of memory; the object is then
 * incomplete and replying with it would mislead. Each builder below checks
 * through this flag, set by the helpers.
 */
struct jb {
	bool oom;
};

static cJSON *add_obj(struct jb *jb, cJSON *parent, const char *name)
{
	cJSON *o = cJSON_AddObjectToObject(parent, name);
	jb->oom |= !o;
	return o;
}

static cJSON *add_arr(struct jb *jb, cJSON *parent, const char *name)
{
	cJSON *o = cJSON_AddArrayToObject(parent, name);
	jb->oom |= !o;
	return o;
}

static void add_str(struct jb *jb, cJSON *o, const char *name, const char *v)
{
	if (!o)
		return;
	jb->oom |= !(v ? cJSON_AddStringToObject(o, name, v) : cJSON_AddNullToObject(o, name));
}

static void add_num(struct jb *jb, cJSON *o, const char *name, double v)
{
	if (o)
		jb->oom |= !cJSON_AddNumberToObject(o, name, v);
}

static void add_bool(struct jb *jb, cJSON *o, const char *name, bool v)
{
	if (o)
		jb->oom |= !cJSON_AddBoolToObject(o, name, v);
}

static cJSON *push_obj(struct jb *jb, cJSON *arr)
{
	cJSON *o = cJSON_CreateObject();
	if (!o || !arr || !cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		jb->oom = true;
		return NULL;
	}
	return o;
}

static void reply(struct api_response *resp, struct jb *jb, int status, cJSON *o)
{
	if (!o || jb->oom) {
		cJSON_Delete(o);
		api_reply_error(resp, 500, "out of memory");
		return;
	}
	api_reply_json(resp, status, o);
}

/* cloud-hypervisor's ConsoleMode names. */
static const char *output_name(enum output_mode m)
{
	switch (m) {
	case OUTPUT_TTY: return "Tty";
	case OUTPUT_FILE: return "File";
	case OUTPUT_NULL: return "Null";
	case OUTPUT_OFF: return "Off";
	}
	return "Off";
}

static const char *virtio_type(uint16_t id)
{
	switch (id) {
	case VIRTIO_ID_NET: return "virtio-net";
	case VIRTIO_ID_BLOCK: return "virtio-blk";
	case VIRTIO_ID_CONSOLE: return "virtio-console";
	case VIRTIO_ID_RNG: return "virtio-rng";
	case VIRTIO_ID_FS: return "virtio-fs";
	case VIRTIO_ID_VSOCK: return "virtio-vsock";
	default: return "virtio";
	}
}

static void add_output(struct jb *jb, cJSON *cfgo, const char *name,
		       enum output_mode m, const char *path)
{
	cJSON *o = add_obj(jb, cfgo, name);
	add_str(jb, o, "mode", output_name(m));
	if (m == OUTPUT_FILE)
		add_str(jb, o, "file", path);
}

static void add_ipv4(struct jb *jb, cJSON *o, const char *name, uint32_t be)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a = { .s_addr = be };
	add_str(jb, o, name, inet_ntop(AF_INET, &a, buf, sizeof(buf)));
}

static unsigned max_vcpus(const struct vm_config *cfg)
{
	return cfg->max_vcpus ? cfg->max_vcpus : cfg->cpus;
}

/*
 * The configuration as cloud-hypervisor's VmConfig (what Kata reads back:
 * cpus.boot_vcpus/max_vcpus, memory.size/hotplug_size); cvmm's own
 * settings only where they are not at their defaults.
 */
static void add_config(struct jb *jb, cJSON *root, const struct vm_config *cfg)
{
	cJSON *c = add_obj(jb, root, "config");
	cJSON *cpus = add_obj(jb, c, "cpus");
	add_num(jb, cpus, "boot_vcpus", cfg->cpus);
	add_num(jb, cpus, "max_vcpus", max_vcpus(cfg));
	cJSON *mem = add_obj(jb, c, "memory");
	add_num(jb, mem, "size", (double)cfg->mem_size);
	if (cfg->mem_hotplug_size)
		add_num(jb, mem, "hotplug_size", (double)cfg->mem_hotplug_size);
	add_bool(jb, mem, "shared", cfg->mem_shared);
	add_bool(jb, mem, "hugepages", cfg->mem_hugepages);
	cJSON *pl = add_obj(jb, c, "payload");
	add_str(jb, pl, "kernel", cfg->kernel);
	if (cfg->initramfs)
		add_str(jb, pl, "initramfs", cfg->initramfs);
	add_str(jb, pl, "cmdline", cfg->cmdline);
	add_output(jb, c, "serial", cfg->serial, cfg->serial_path);
	add_output(jb, c, "console", cfg->console, cfg->console_path);

	cJSON *disks = add_arr(jb, c, "disks");
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		const struct disk_config *d = &cfg->disks[i];
		cJSON *o = push_obj(jb, disks);
		add_str(jb, o, "path", d->path);
		if (d->id)
			add_str(jb, o, "id", d->id);
		add_bool(jb, o, "readonly", d->readonly);
		add_bool(jb, o, "direct", d->direct);
		add_num(jb, o, "num_queues", d->num_queues ? d->num_queues : 1);
		if (d->vhost_user) { /* the backend's engine, cvmm's queues */
			add_num(jb, o, "queue_size",
				d->queue_size ? d->queue_size : CVMM_VHOST_QUEUE_SIZE);
			add_bool(jb, o, "vhost_user", true);
			add_str(jb, o, "socket", d->socket);
			continue;
		}
		add_num(jb, o, "queue_size",
			d->queue_size ? d->queue_size : CVMM_DISK_QUEUE_SIZE);
		add_str(jb, o, "engine", d->engine == DISK_ENGINE_URING ? "uring"
					 : d->engine == DISK_ENGINE_SYNC ? "sync"
									 : "auto");
		add_bool(jb, o, "fixed_buffers", d->fixed_buffers);
		add_str(jb, o, "image_type", "Raw");
	}
	cJSON *fs = add_arr(jb, c, "fs");
	for (unsigned i = 0; i < cfg->nfs; i++) {
		const struct fs_config *f = &cfg->fs[i];
		cJSON *o = push_obj(jb, fs);
		add_str(jb, o, "tag", f->tag);
		add_str(jb, o, "socket", f->socket);
		add_num(jb, o, "num_queues", f->num_queues ? f->num_queues : 1);
		add_num(jb, o, "queue_size", f->queue_size ? f->queue_size : CVMM_VHOST_QUEUE_SIZE);
		if (f->id)
			add_str(jb, o, "id", f->id);
	}
	cJSON *nets = add_arr(jb, c, "net");
	for (unsigned i = 0; i < cfg->nnets; i++) {
		const struct net_config *n = &cfg->nets[i];
		cJSON *o = push_obj(jb, nets);
		if (n->tap)
			add_str(jb, o, "tap", n->tap);
		if (n->id)
			add_str(jb, o, "id", n->id);
		if (n->has_mac) {
			char mac[18];
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
				 n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4],
				 n->mac[5]);
			add_str(jb, o, "mac", mac);
		}
		if (n->has_ip)
			add_ipv4(jb, o, "ip", n->ip);
		if (n->has_mask)
			add_ipv4(jb, o, "mask", n->mask);
		add_num(jb, o, "num_queues", 2);
		add_num(jb, o, "queue_size", 256);
		if (n->has_fd) /* cvmm's: the tap came as an fd (vm.add-net) */
			add_bool(jb, o, "tap_fd", true);
	}
	cJSON *users = add_arr(jb, c, "user_devices");
	for (unsigned i = 0; i < cfg->nuser_devices; i++) {
		const struct user_device_config *u = &cfg->user_devices[i];
		cJSON *o = push_obj(jb, users);
		add_str(jb, o, "socket", u->socket);
		if (u->id)
			add_str(jb, o, "id", u->id);
	}
	if (cfg->rng.enabled) {
		cJSON *o = add_obj(jb, c, "rng");
		add_str(jb, o, "src", cfg->rng.src ? cfg->rng.src : "getrandom");
		if (cfg->rng.id)
			add_str(jb, o, "id", cfg->rng.id);
	}
	cJSON *devices = add_arr(jb, c, "devices");
	for (unsigned i = 0; i < cfg->ndevices; i++) {
		cJSON *o = push_obj(jb, devices);
		add_str(jb, o, "path", cfg->devices[i].path);
		if (cfg->devices[i].id)
			add_str(jb, o, "id", cfg->devices[i].id);
		add_bool(jb, o, "mmap", !cfg->devices[i].no_mmap);
	}
	if (cfg->vsock.enabled) {
		cJSON *o = add_obj(jb, c, "vsock");
		add_num(jb, o, "cid", cfg->vsock.cid);
		add_str(jb, o, "socket", cfg->vsock.socket);
		if (cfg->vsock.id)
			add_str(jb, o, "id", cfg->vsock.id);
	}
	cJSON *platform = add_obj(jb, c, "platform");
	add_num(jb, platform, "num_pci_segments", 1);
	if (!cfg->pit)
		add_bool(jb, platform, "pit", false);
	add_bool(jb, c, "iommu", false);
	add_bool(jb, c, "watchdog", false);
	add_bool(jb, c, "pvpanic", false);
	if (cfg->debug_exit)
		add_bool(jb, c, "debug_exit", true);
	if (cfg->virtio_mmio)
		add_str(jb, c, "virtio_transport", "mmio");
}

cJSON *vm_api_config_json(const struct vm_config *cfg)
{
	struct jb jb = { 0 };
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return NULL;
	add_config(&jb, root, cfg);
	cJSON *c = cJSON_DetachItemFromObject(root, "config");
	cJSON_Delete(root);
	if (jb.oom) {
		cJSON_Delete(c);
		return NULL;
	}
	return c;
}

static const char *bar_type_name(enum pci_bar_type t)
{
	switch (t) {
	case PCI_BAR_IO: return "io";
	case PCI_BAR_MEM32: return "mem32";
	case PCI_BAR_MEM64: return "mem64";
	default: return "none";
	}
}

static void format_bdf(char *buf, size_t len, unsigned slot)
{
	snprintf(buf, len, "0000:00:%02x.0", slot & 0x1fu);
}

/* A vhost-user device's backend: its socket, the connection, who interrupts. */
static void add_vhost(struct jb *jb, cJSON *o, struct vhost_dev *h)
{
	struct vhost_dev_stats st;
	vhost_dev_get_stats(h, &st);
	cJSON *b = add_obj(jb, o, "vhost_user");
	add_str(jb, b, "socket", vhost_dev_socket(h));
	add_bool(jb, b, "connected", st.connected);
	add_bool(jb, b, "active", st.active);
	add_num(jb, b, "backend_features", (double)vhost_dev_backend_features(h));
	add_num(jb, b, "direct_queues", st.direct_queues);
	add_num(jb, b, "relayed_queues", st.relayed_queues);
	add_num(jb, b, "relayed_interrupts", (double)st.relayed_irqs);
	add_num(jb, b, "reconnects", (double)st.reconnects);
}

/* How a passthrough BAR reaches the device: all through memory slots,
 * partly (the MSI-X pages or a sparse region trapped), or trapped. */
static const char *bar_access(const struct vfio_pci_bar_desc *b)
{
	if (!b->mmap_bytes)
		return "trap";
	return b->mmap_bytes >= b->size ? "mmap" : "mmap+trap";
}

/* The passthrough devices; the PCI bus lock held. */
static void add_passthrough(struct jb *jb, cJSON *root, struct vm *vm)
{
	cJSON *arr = add_arr(jb, root, "passthrough");
	for (unsigned i = 0; i < vm->npassthrough; i++) {
		struct vfio_pci_desc d;
		vfio_pci_describe(vm->passthrough[i], &d);
		cJSON *o = push_obj(jb, arr);
		char bdf[16];
		format_bdf(bdf, sizeof(bdf), d.slot);
		add_str(jb, o, "name", d.name);
		add_str(jb, o, "backend", d.backend);
		add_str(jb, o, "host", d.host);
		add_str(jb, o, "bdf", bdf);
		add_num(jb, o, "vendor_id", d.vendor_id);
		add_num(jb, o, "device_id", d.device_id);
		cJSON *bars = add_arr(jb, o, "bars");
		for (unsigned b = 0; b < d.nbars; b++) {
			const struct vfio_pci_bar_desc *bd = &d.bars[b];
			cJSON *bo = push_obj(jb, bars);
			add_num(jb, bo, "index", bd->index);
			add_str(jb, bo, "type", bar_type_name(bd->type));
			add_num(jb, bo, "address", (double)bd->addr);
			add_num(jb, bo, "size", (double)bd->size);
			add_bool(jb, bo, "prefetchable", bd->prefetchable);
			add_bool(jb, bo, "mapped", bd->mapped);
			add_str(jb, bo, "access", bar_access(bd));
			add_num(jb, bo, "mmap_bytes", (double)bd->mmap_bytes);
			add_num(jb, bo, "slot_bytes", (double)bd->mapped_bytes);
		}
		cJSON *irq = add_obj(jb, o, "irq");
		add_str(jb, irq, "mode", vfio_pci_irq_mode_name(d.irq));
		add_num(jb, irq, "vectors", d.vectors);
		add_num(jb, irq, "msix_vectors", d.msix_vectors);
		add_num(jb, irq, "msi_vectors", d.msi_vectors);
		add_bool(jb, irq, "intx", d.intx);
		if (d.intx)
			add_num(jb, irq, "intx_gsi", d.intx_gsi);
	}
}

static void add_devices(struct jb *jb, cJSON *root, struct vm *vm)
{
	cJSON *devs = add_arr(jb, root, "devices");
	/* BARs move when the guest reprograms them: read under the bus lock. */
	pthread_mutex_lock(&vm->pci.lock);
	for (unsigned i = 0; i < vm->nvirtio; i++) {
		struct vm_virtio *v = &vm->virtio[i];
		if (!v->transport)
			continue;
		struct virtio_transport_info ti;
		virtio_transport_describe(v->transport, &ti);
		cJSON *o = push_obj(jb, devs);
		add_str(jb, o, "id", v->id);
		add_str(jb, o, "name", v->vdev->name);
		add_str(jb, o, "type", virtio_type(v->vdev->device_id));
		add_str(jb, o, "transport", ti.kind);
		add_num(jb, o, "address", (double)ti.addr);
		add_num(jb, o, "size", (double)ti.size);
		if (ti.gsi)
			add_num(jb, o, "interrupt", ti.gsi);
		add_num(jb, o, "queues", v->vdev->nqueues);
		if (v->vhost)
			add_vhost(jb, o, v->vhost);
		if (!v->pci)
			continue;
		struct pci_device *pd = virtio_pci_device(v->pci);
		struct msix *mx = virtio_pci_msix(v->pci);
		char bdf[16];
		format_bdf(bdf, sizeof(bdf), pd->slot);
		add_str(jb, o, "bdf", bdf);
		add_num(jb, o, "vendor_id", VIRTIO_PCI_VENDOR);
		add_num(jb, o, "device_id", VIRTIO_PCI_DEVICE_BASE + v->vdev->device_id);
		cJSON *bars = add_arr(jb, o, "bars");
		for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
			const struct pci_bar *bar = &pd->bars[b];
			if (bar->type == PCI_BAR_NONE)
				continue;
			cJSON *bo = push_obj(jb, bars);
			add_num(jb, bo, "index", b);
			add_str(jb, bo, "type", bar_type_name(bar->type));
			add_num(jb, bo, "address", (double)bar->addr);
			add_num(jb, bo, "size", (double)bar->size);
			add_bool(jb, bo, "prefetchable", bar->prefetchable);
			add_bool(jb, bo, "mapped", bar->mapped);
			if (bar->type == PCI_BAR_MEM64)
				b++; /* the upper half of this one */
		}
		cJSON *m = add_obj(jb, o, "msix");
		add_num(jb, m, "vectors", mx ? mx->nvec : 0);
		add_bool(jb, m, "enabled", mx && msix_enabled(mx));
		if (pd->intx.set)
			add_num(jb, o, "intx_gsi", pd->intx.gsi);
	}
	add_passthrough(jb, root, vm);
	pthread_mutex_unlock(&vm->pci.lock);

	/* Whatever the platform devices say of themselves (platform.h). */
	cJSON *legacy = add_arr(jb, root, "legacy_devices");
	for (unsigned i = 0; i < vm->platform.ndevs; i++) {
		const struct platform_dev *d = &vm->platform.devs[i];
		struct platform_info info = { 0 };
		if (d->ops->describe)
			d->ops->describe(d->dev, &info);
		for (unsigned r = 0; r < info.nregions; r++) {
			const struct platform_region *pr = &info.regions[r];
			cJSON *o = push_obj(jb, legacy);
			add_str(jb, o, "name", pr->name);
			add_num(jb, o, pr->mmio ? "mmio" : "port", (double)pr->addr);
			add_num(jb, o, pr->mmio ? "mmio_size" : "ports", (double)pr->size);
			if (pr->irq >= 0)
				add_num(jb, o, "irq", pr->irq);
		}
	}
}

/* cloud-hypervisor's VmmPingResponse. */
static void ep_ping(void *ctx, const struct http_request *req, const cJSON *body,
			struct api_response *resp)
{
	(void)ctx;
	(void)req;
	(void)body;
	struct jb jb = { 0 };
	cJSON *o = cJSON_CreateObject();
	add_str(&jb, o, "build_version", "cvmm " CVMM_VERSION);
	add_str(&jb, o, "version", CVMM_VERSION);
	add_num(&jb, o, "pid", getpid());
	add_arr(&jb, o, "features");
	reply(resp, &jb, 200, o);
}

/* device_tree: cloud-hypervisor's DeviceNode per device, by its id (what
 * vm.remove-device takes). */
static void add_device_tree(struct jb *jb, cJSON *root, struct vm *vm)
{
	cJSON *tree = add_obj(jb, root, "device_tree");
	pthread_mutex_lock(&vm->pci.lock);
	for (unsigned i = 0; tree && i < vm->nvirtio; i++) {
		struct vm_virtio *v = &vm->virtio[i];
		cJSON *o = add_obj(jb, tree, v->id);
		add_str(jb, o, "id", v->id);
		add_arr(jb, o, "resources");
		add_arr(jb, o, "children");
		if (v->pci) {
			char bdf[16];
			format_bdf(bdf, sizeof(bdf), virtio_pci_device(v->pci)->slot);
			add_str(jb, o, "pci_bdf", bdf);
		}
	}
	for (unsigned i = 0; tree && i < vm->npassthrough; i++) {
		struct pci_device *pd = vfio_pci_device(vm->passthrough[i]);
		cJSON *o = add_obj(jb, tree, pd->name);
		char bdf[16];
		format_bdf(bdf, sizeof(bdf), pd->slot);
		add_str(jb, o, "id", pd->name);
		add_arr(jb, o, "resources");
		add_arr(jb, o, "children");
		add_str(jb, o, "pci_bdf", bdf);
	}
	pthread_mutex_unlock(&vm->pci.lock);
}

/*
 * cloud-hypervisor's VmInfo (config, state, memory_actual_size,
 * device_tree), then cvmm's own members (vcpus, devices, passthrough,
 * legacy_devices). 404 before vm.create, as cloud-hypervisor.
 */
static void ep_info(void *ctx, const struct http_request *req, const cJSON *body,
			struct api_response *resp)
{
	(void)req;
	(void)body;
	struct vm *vm = ctx;
	if (vm_get_state(vm) == VM_STATE_NOT_CREATED) {
		api_reply_error(resp, 404, "no VM: vm.create first");
		return;
	}
	struct jb jb = { 0 };
	cJSON *o = cJSON_CreateObject();
	add_config(&jb, o, vm->cfg);
	add_str(&jb, o, "state", vm_state_name(vm_get_state(vm)));
	add_num(&jb, o, "memory_actual_size", (double)vm->cfg->mem_size);
	add_device_tree(&jb, o, vm);
	add_num(&jb, o, "vcpus", vm->nvcpus);
	add_devices(&jb, o, vm);
	reply(resp, &jb, 200, o);
}

/* A vCPU's counters: pauses, its exits by reason ("exit_io", ...; the
 * reasons named "other" added up), their total, emulated instructions. */
static void add_vcpu_counters(struct jb *jb, cJSON *o, struct vcpu *v)
{
	add_num(jb, o, "pauses", (double)atomic_load(&v->pauses));
	uint64_t total = 0;
	for (uint32_t r = 0; r < VCPU_EXIT_REASONS; r++) {
		uint64_t n = atomic_load_explicit(&v->exit_counts[r], memory_order_relaxed);
		if (!n)
			continue;
		total += n;
		char name[48];
		snprintf(name, sizeof(name), "exit_%s", vcpu_exit_reason_name(r));
		cJSON *have = cJSON_GetObjectItemCaseSensitive(o, name);
		if (have)
			cJSON_SetNumberValue(have, have->valuedouble + (double)n);
		else
			add_num(jb, o, name, (double)n);
	}
	add_num(jb, o, "exits_total", (double)total);
	add_num(jb, o, "emulated_insns",
		(double)atomic_load_explicit(&v->emulated, memory_order_relaxed));
}

/* One virtio device's counters: cloud-hypervisor's names where it has
 * them (block, net), then cvmm's own. */
static void add_virtio_counters(struct jb *jb, cJSON *d, struct vm_virtio *v)
{
	switch (v->vdev->device_id) {
	case VIRTIO_ID_BLOCK: {
		struct virtio_blk_stats st;
		virtio_blk_get_stats(v->dev, &st);
		add_num(jb, d, "read_bytes", (double)st.read_bytes);
		add_num(jb, d, "write_bytes", (double)st.write_bytes);
		add_num(jb, d, "read_ops", (double)st.read_ops);
		add_num(jb, d, "write_ops", (double)st.write_ops);
		break;
	}
	case VIRTIO_ID_NET: {
		struct virtio_net_stats st;
		virtio_net_get_stats(v->dev, &st);
		add_num(jb, d, "rx_bytes", (double)st.rx_bytes);
		add_num(jb, d, "rx_frames", (double)st.rx_frames);
		add_num(jb, d, "tx_bytes", (double)st.tx_bytes);
		add_num(jb, d, "tx_frames", (double)st.tx_frames);
		add_num(jb, d, "rx_dropped", (double)st.rx_dropped);
		add_num(jb, d, "tx_dropped", (double)st.tx_dropped);
		break;
	}
	default:
		break;
	}
	add_num(jb, d, "requests", (double)atomic_load(&v->vdev->requests));
	add_num(jb, d, "bytes", (double)atomic_load(&v->vdev->bytes));
	add_num(jb, d, "errors", (double)atomic_load(&v->vdev->errors));
	if (v->vdev->device_id == VIRTIO_ID_CONSOLE) {
		struct virtio_console_stats st;
		virtio_console_get_stats(v->dev, &st);
		add_num(jb, d, "tx_dropped", (double)st.tx_dropped);
	}
	if (v->vdev->device_id == VIRTIO_ID_VSOCK) {
		struct virtio_vsock_stats st;
		virtio_vsock_get_stats(v->dev, &st);
		add_num(jb, d, "connections", (double)st.conns);
		add_num(jb, d, "connections_total", (double)st.conns_total);
		add_num(jb, d, "refused", (double)st.refused);
		add_num(jb, d, "rst_sent", (double)st.rst_sent);
		add_num(jb, d, "rx_bytes", (double)st.rx_bytes);
		add_num(jb, d, "tx_bytes", (double)st.tx_bytes);
		add_num(jb, d, "bad_packets", (double)st.bad_packets);
	}
}

/*
 * vm.counters in cloud-hypervisor's shape: device id -> counter name ->
 * integer. The devices by the ids vm.info's device_tree gives them; cvmm's
 * own entries beside them: "vm" (pauses, reboots, power button presses),
 * "serial" (the UART's dropped output) and "vcpu0".. (exits).
 */
static void ep_counters(void *ctx, const struct http_request *req, const cJSON *body,
			struct api_response *resp)
{
	(void)req;
	(void)body;
	struct vm *vm = ctx;
	struct jb jb = { 0 };
	cJSON *o = cJSON_CreateObject();
	cJSON *c = add_obj(&jb, o, "vm");
	add_num(&jb, c, "pauses", (double)vm->pauses);
	add_num(&jb, c, "reboots", (double)vm->reboots);
	add_num(&jb, c, "power_button_presses", (double)vm->power_button_presses);
	add_num(&jb, c, "hotplugs", (double)vm->hotplugs);
	add_num(&jb, c, "unplugs", (double)vm->unplugs);
	for (unsigned i = 0; i < vm->nvirtio; i++) {
		cJSON *d = add_obj(&jb, o, vm->virtio[i].vdev->name);
		if (d)
			add_virtio_counters(&jb, d, &vm->virtio[i]);
	}
	for (unsigned i = 0; i < vm->npassthrough; i++) {
		struct vfio_pci_dev *d = vm->passthrough[i];
		struct vfio_pci_stats st;
		vfio_pci_get_stats(d, &st);
		c = add_obj(&jb, o, vfio_pci_device(d)->name);
		add_num(&jb, c, "config_reads", (double)st.config_reads);
		add_num(&jb, c, "config_writes", (double)st.config_writes);
		add_num(&jb, c, "bar_reads", (double)st.bar_reads);
		add_num(&jb, c, "bar_writes", (double)st.bar_writes);
		add_num(&jb, c, "irq_sets", (double)st.irq_sets);
		add_num(&jb, c, "vector_masks", (double)st.vector_masks);
		add_num(&jb, c, "vector_unmasks", (double)st.vector_unmasks);
		add_num(&jb, c, "resets", (double)st.resets);
		add_num(&jb, c, "intx_unmasks", (double)st.intx_unmasks);
		add_num(&jb, c, "errors", (double)st.errors);
		/* The device's interrupts, by kind, where they can be counted
		 * (vfio/pci_dev.h: not vfio-user's MSI/MSI-X). */
		static const char *const irq_names[VFIO_PCI_IRQ_KINDS] = {
			[VFIO_PCI_INTX_IRQ_INDEX] = "intx_interrupts",
			[VFIO_PCI_MSI_IRQ_INDEX] = "msi_interrupts",
			[VFIO_PCI_MSIX_IRQ_INDEX] = "msix_interrupts",
		};
		for (unsigned k = 0; k < VFIO_PCI_IRQ_KINDS; k++)
			if (st.irqs_counted[k])
				add_num(&jb, c, irq_names[k], (double)st.irqs[k]);
	}
	if (vm->serial) {
		c = add_obj(&jb, o, "serial");
		add_num(&jb, c, "tx_dropped", (double)serial_tx_dropped(vm->serial));
	}
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		char id[16];
		snprintf(id, sizeof(id), "vcpu%u", vm->vcpus[i].id);
		c = add_obj(&jb, o, id);
		if (c)
			add_vcpu_counters(&jb, c, &vm->vcpus[i]);
	}
	reply(resp, &jb, 200, o);
}

/*
 * An action the VM's state does not allow, answered as cloud-hypervisor's
 * server does: 404 while no VM was created (its document's "not created"),
 * else 500 with the reason (its server answers every failed VM action
 * 500, InternalServerError; the 405s its document lists for "not booted"
 * are never sent, and 405 is HTTP's wrong method here).
 */
static void reply_state(struct api_response *resp, struct vm *vm, const char *what)
{
	enum vm_state s = vm_get_state(vm);
	if (s == VM_STATE_NOT_CREATED) {
		api_reply_error(resp, 404, "%s: no VM: vm.create first", what);
		return;
	}
	api_reply_error(resp, 500, "%s: the VM is %s", what, vm_state_name(s));
}

static void ep_pause(void *ctx, const struct http_request *req, const cJSON *body,
			struct api_response *resp)
{
	(void)req;
	(void)body;
	struct vm *vm = ctx;
	int ret = vm_pause(vm);
	if (ret == -EBUSY) {
		reply_state(resp, vm, "cannot pause");
		return;
	}
	if (ret) {
		api_reply_error(resp, 500, "pause failed: %s", strerror(-ret));
		return;
	}
	api_reply_no_content(resp);
}

static void ep_resume(void *ctx, const struct http_request *req, const cJSON *body,
			struct api_response *resp)
{
	(void)req;
	(void)body;
	struct vm *vm = ctx;
	int ret = vm_resume(vm);
	if (ret) {
		reply_state(resp, vm, "cannot resume");
		return;
	}
	api_reply_no_content(resp);
}

/* vmm.shutdown: the VMM process ends (the VM with it, disks flushed). */
static void ep_vmm_shutdown(void *ctx, const struct http_request *req,
			    const cJSON *body, struct api_response *resp)
{
	(void)req;
	(void)body;
	struct vm *vm = ctx;
	log_info("api: VMM shutdown requested");
	vm_request_stop(vm, 0, "API shutdown request");
	api_reply_no_content(resp);
}

/* vm.shutdown: the VM stops and goes (Shutdown); the VMM serves on, and
 * vm.boot starts the same configuration again. */
static void ep_vm_shutdown(void *ctx, const struct http_request *req,
			   const cJSON *body, struct api_response *resp)
{
	(void)req;
	(void)body;
	struct vm *vm = ctx;
	log_info("api: VM shutdown requested");
	int ret = vm_shutdown(vm);
	if (ret == -EBUSY) {
		reply_state(resp, vm, "cannot shut down");
		return;
	}
	if (ret) {
		api_reply_error(resp, 500, "VM shut down, but a disk's data may be lost: %s",
				strerror(-ret));
		return;
	}
	api_reply_no_content(resp);
}

static void ep_power_button(void *ctx, const struct http_request *req, const cJSON *body,
			struct api_response *resp)
{
	(void)req;
	(void)body;
	struct vm *vm = ctx;
	log_info("api: power button requested");
	int ret = vm_power_button(vm);
	if (ret == -EBUSY) {
		reply_state(resp, vm, "cannot press the power button");
		return;
	}
	if (ret) {
		api_reply_error(resp, 500, "power button failed: %s", strerror(-ret));
		return;
	}
	api_reply_no_content(resp);
}

static void ep_reboot(void *ctx, const struct http_request *req, const cJSON *body,
			struct api_response *resp)
{
	(void)req;
	(void)body;
	struct vm *vm = ctx;
	log_info("api: reboot requested");
	int ret = vm_reboot(vm);
	if (ret == -EBUSY) {
		reply_state(resp, vm, "cannot reboot");
		return;
	}
	if (ret == -ENOTSUP) {
		api_reply_error(resp, 501, "reboot is not available for this VM");
		return;
	}
	if (ret) {
		api_reply_error(resp, 500, "reboot failed (%s); the VM is stopping",
				strerror(-ret));
		return;
	}
	api_reply_no_content(resp);
}

static void ep_create(void *ctx, const struct http_request *req, const cJSON *body,
			struct api_response *resp)
{
	(void)req;
	struct vm *vm = ctx;
	enum vm_state s = vm_get_state(vm);
	if (s != VM_STATE_NOT_CREATED) {
		api_reply_error(resp, 500, "cannot create: the VM is %s (created already; vm.delete first)",
				vm_state_name(s));
		return;
	}
	struct vm_create_config *c;
	char err[512];
	int ret = vm_create_config_parse(body, vm->cfg, &c, err, sizeof(err));
	if (ret == -ENOMEM) {
		api_reply_error(resp, 500, "out of memory");
		return;
	}
	if (ret) {
		log_info("api: vm.create refused: %s", err);
		api_reply_error(resp, 400, "%s", err);
		return;
	}
	if (config_check_files(&c->cfg, CONFIG_NAMES_JSON, err, sizeof(err))) {
		log_info("api: vm.create refused: %s", err);
		api_reply_error(resp, 400, "vm.create: %s", err);
		vm_create_config_free(c);
		return;
	}
	ret = vm_create(vm, c);
	if (ret) {
		reply_state(resp, vm, "cannot create");
		return;
	}
	api_reply_no_content(resp);
}

static void ep_boot(void *ctx, const struct http_request *req, const cJSON *body,
			struct api_response *resp)
{
	(void)req;
	(void)body;
	struct vm *vm = ctx;
	log_info("api: boot requested");
	/* Again: a file may have gone since vm.create. The VM stays Created. */
	char err[512];
	enum vm_state st = vm_get_state(vm);
	if ((st == VM_STATE_CREATED || st == VM_STATE_SHUTDOWN) &&
	    config_check_files(vm->cfg, CONFIG_NAMES_JSON, err, sizeof(err))) {
		log_info("api: vm.boot refused: %s", err);
		api_reply_error(resp, 400, "vm.boot: %s", err);
		return;
	}
	int ret = vm_boot(vm);
	if (ret == -EBUSY) {
		reply_state(resp, vm, "cannot boot");
		return;
	}
	if (ret) {
		api_reply_error(resp, 500, "boot failed (%s); the VM is Created again (cvmm's log says why)",
				strerror(-ret));
		return;
	}
	api_reply_no_content(resp);
}

/*
 * A running VM: the device, just added to the configuration, is built and
 * hot-plugged (vm_hotplug_add); 200 with cloud-hypervisor's PciDeviceInfo
 * {id, bdf}. A failed build puts the configuration back as it was (old,
 * used: freed here), closing a tap fd the entry took with it.
 */
static void hotplug_member(struct vm *vm, struct api_response *resp, const char *ep,
			   const char *member, struct vm_config *old, size_t used)
{
	struct vm_create_config *c = vm->created;
	const char *id = NULL;
	unsigned slot = 0;
	int ret = vm_hotplug_add(vm, member, &id, &slot);
	if (ret) {
		if (!strcmp(member, "net") && c->cfg.nnets > old->nnets &&
		    c->cfg.nets[c->cfg.nnets - 1].has_fd)
			close(c->cfg.nets[c->cfg.nnets - 1].fd);
		memcpy(&c->cfg, old, sizeof(*old));
		c->used = used;
		free(old);
		if (ret == -ENOTSUP)
			api_reply_error(resp, 501,
					"%s: this VM has no PCI hotplug (it needs a PCI bus: "
					"--virtio-transport pci, the default)", ep);
		else
			api_reply_error(resp, 500, "%s: hotplug failed: %s (cvmm's log says why)",
					ep, strerror(-ret));
		return;
	}
	free(old);
	struct jb jb = { 0 };
	cJSON *o = cJSON_CreateObject();
	char bdf[16];
	format_bdf(bdf, sizeof(bdf), slot);
	add_str(&jb, o, "id", id);
	add_str(&jb, o, "bdf", bdf);
	log_info("api: %s: %s hot-plugged at %s", ep, id, bdf);
	reply(resp, &jb, 200, o);
}

/*
 * vm.add-*: the device joins the configuration (checked as before boot);
 * before the VM boots that is all (204, as cloud-hypervisor answers a cold
 * add); once it runs (or is paused), it is hot-plugged (200, PciDeviceInfo).
 */
static void add_member(struct vm *vm, const struct http_request *req, const cJSON *body,
		       struct api_response *resp, const char *ep, const char *member)
{
	enum vm_state s = vm_get_state(vm);
	if (s == VM_STATE_NOT_CREATED) {
		api_reply_error(resp, 404, "%s: no VM: vm.create first", ep);
		return;
	}
	bool hot = s == VM_STATE_RUNNING || s == VM_STATE_PAUSED;
	if (!hot && ((s != VM_STATE_CREATED && s != VM_STATE_SHUTDOWN) || !vm->created)) {
		api_reply_error(resp, 500, "%s: the VM is %s", ep, vm_state_name(s));
		return;
	}
	/* Hot: the configuration to go back to (the strings stay where they
	 * are). */
	struct vm_config *old = NULL;
	if (hot && (vm_own_config(vm) || !(old = malloc(sizeof(*old))))) {
		api_reply_error(resp, 500, "out of memory");
		return;
	}
	struct vm_create_config *c = vm->created;
	if (old)
		memcpy(old, &c->cfg, sizeof(*old));
	size_t used = c->used;
	char err[512];
	int ret = vm_create_config_add(c, member, body, req->fds, req->nfds, err, sizeof(err));
	if (ret) {
		free(old);
		if (ret == -ENOMEM) {
			api_reply_error(resp, 500, "out of memory");
			return;
		}
		const char *e = strncmp(err, "vm.create: ", 11) ? err : err + 11;
		log_info("api: %s refused: %s", ep, e);
		api_reply_error(resp, 400, "%s: %s", ep, e);
		return;
	}
	if (hot) {
		hotplug_member(vm, resp, ep, member, old, used);
		return;
	}
	log_info("api: %s: added to the VM's configuration", ep);
	api_reply_no_content(resp);
}

/* A string member of body, NULL when absent or not a string. */
static const char *str_member(const cJSON *body, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Only the members in `known` (NULL-terminated): else the first other. */
static const char *unknown_member(const cJSON *body, const char *const *known)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, body) {
		bool ok = false;
		for (const char *const *k = known; *k && !ok; k++)
			ok = it->string && !strcmp(it->string, *k);
		if (!ok)
			return it->string ? it->string : "?";
	}
	return NULL;
}

/* A string member of the body that is not empty, or NULL. */
static const char *body_string(const cJSON *body, const char *name)
{
	const char *s = str_member(body, name);
	return s && *s ? s : NULL;
}

/*
 * vm.remove-device {"id"}: before boot the device leaves the configuration
 * (a disk, device or user device by its id; 204); on a running VM the
 * guest is asked to eject it (204 at once; the device goes when the guest
 * ejects it, vm_hotplug_remove). An unknown id: 500, as cloud-hypervisor
 * answers every failed VM action.
 */
static void ep_remove_device(void *ctx, const struct http_request *req, const cJSON *body,
			     struct api_response *resp)
{
	(void)req;
	struct vm *vm = ctx;
	enum vm_state s = vm_get_state(vm);
	if (s == VM_STATE_NOT_CREATED) {
		api_reply_error(resp, 404, "vm.remove-device: no VM: vm.create first");
		return;
	}
	const char *id = body_string(body, "id");
	static const char *const known[] = { "id", NULL };
	const char *bad = cJSON_IsObject(body) ? unknown_member(body, known) : NULL;
	if (!id || bad) {
		api_reply_error(resp, 400, bad ? "vm.remove-device: unknown field '%s'"
					       : "vm.remove-device: expected {\"id\": \"DEVICE\"}%s",
				bad ? bad : "");
		return;
	}
	if (s == VM_STATE_RUNNING || s == VM_STATE_PAUSED) {
		int ret = vm_hotplug_remove(vm, id);
		if (ret == -ENOENT)
			api_reply_error(resp, 500, "vm.remove-device: no device with id '%s'", id);
		else if (ret == -EPERM)
			api_reply_error(resp, 500, "vm.remove-device: '%s' is the virtio-console, "
					"which cvmm cannot unplug (it is built once with the VM's "
					"console backend; its slot offers the guest no eject)", id);
		else if (ret == -ENOTSUP)
			api_reply_error(resp, 500, "vm.remove-device: '%s' cannot be unplugged "
					"(this VM has no PCI hotplug)", id);
		else if (ret)
			api_reply_error(resp, 500, "vm.remove-device: %s", strerror(-ret));
		else
			api_reply_no_content(resp);
		return;
	}
	const char *member;
	unsigned idx;
	if (!vm->created || vm_create_config_find_id(vm->created, id, &member, &idx)) {
		api_reply_error(resp, 500, "vm.remove-device: no device with id '%s' in the configuration",
				id);
		return;
	}
	vm_create_config_remove(vm->created, member, idx);
	log_info("api: vm.remove-device: %s left the VM's configuration", id);
	api_reply_no_content(resp);
}

/*
 * vm.resize-disk {"disk": id, "desired_size": bytes}: the image grows
 * (ftruncate) and the guest is told of the new capacity (a config change
 * interrupt). Running or Paused VMs only; every failure 500, as
 * cloud-hypervisor ("the disk could not be resized"), but a malformed
 * body (400).
 */
static void ep_resize_disk(void *ctx, const struct http_request *req, const cJSON *body,
			   struct api_response *resp)
{
	(void)req;
	struct vm *vm = ctx;
	enum vm_state s = vm_get_state(vm);
	if (s == VM_STATE_NOT_CREATED) {
		api_reply_error(resp, 404, "vm.resize-disk: no VM: vm.create first");
		return;
	}
	const char *disk = body_string(body, "disk");
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(body, "desired_size");
	static const char *const known[] = { "disk", "desired_size", NULL };
	const char *bad = cJSON_IsObject(body) ? unknown_member(body, known) : NULL;
	if (bad) {
		api_reply_error(resp, 400, "vm.resize-disk: unknown field '%s'", bad);
		return;
	}
	if (!disk || !cJSON_IsNumber(size) || size->valuedouble < 0 ||
	    size->valuedouble >= 18446744073709551616.0 ||
	    size->valuedouble != (double)(uint64_t)size->valuedouble) {
		api_reply_error(resp, 400,
				"vm.resize-disk: expected {\"disk\": \"ID\", \"desired_size\": BYTES}");
		return;
	}
	uint64_t want = (uint64_t)size->valuedouble;
	int ret = vm_resize_disk(vm, disk, want);
	switch (ret) {
	case 0:
		log_info("api: vm.resize-disk: %s is %llu bytes now", disk, (unsigned long long)want);
		api_reply_no_content(resp);
		return;
	case -EBUSY:
		reply_state(resp, vm, "vm.resize-disk: cannot resize");
		return;
	case -ENOENT:
		api_reply_error(resp, 500, "vm.resize-disk: no disk with id '%s'", disk);
		return;
	case -EROFS:
		api_reply_error(resp, 500, "vm.resize-disk: %s is read-only", disk);
		return;
	case -EINVAL:
		api_reply_error(resp, 500, "vm.resize-disk: %llu bytes: a multiple of 512, "
				"not below the disk's size (cvmm grows disks only)",
				(unsigned long long)want);
		return;
	case -ENOTSUP:
		api_reply_error(resp, 500, "vm.resize-disk: %s: only a virtio-blk disk on a "
				"regular file can be resized", disk);
		return;
	default:
		api_reply_error(resp, 500, "vm.resize-disk: %s", strerror(-ret));
		return;
	}
}

#define ADD_EP(fn, ep, member)                                                       \
	static void fn(void *ctx, const struct http_request *req, const cJSON *body, \
		       struct api_response *resp)                                    \
	{                                                                            \
		add_member(ctx, req, body, resp, ep, member);                        \
	}
ADD_EP(ep_add_disk, "vm.add-disk", "disks")
ADD_EP(ep_add_net, "vm.add-net", "net")
ADD_EP(ep_add_fs, "vm.add-fs", "fs")
ADD_EP(ep_add_vsock, "vm.add-vsock", "vsock")
ADD_EP(ep_add_device, "vm.add-device", "devices")
ADD_EP(ep_add_user_device, "vm.add-user-device", "user_devices")

/*
 * vm.resize {desired_vcpus, desired_ram, desired_balloon}: before boot,
 * the configuration changes (vCPUs up to max_vcpus, RAM up to size +
 * hotplug_size); once booted, only the sizes the VM has (204), since cvmm
 * has no CPU or memory hotplug (501).
 */
static void ep_resize(void *ctx, const struct http_request *req, const cJSON *body,
		      struct api_response *resp)
{
	(void)req;
	struct vm *vm = ctx;
	enum vm_state s = vm_get_state(vm);
	if (s == VM_STATE_NOT_CREATED) {
		api_reply_error(resp, 404, "vm.resize: no VM: vm.create first");
		return;
	}
	const cJSON *vc = cJSON_GetObjectItemCaseSensitive(body, "desired_vcpus");
	const cJSON *ram = cJSON_GetObjectItemCaseSensitive(body, "desired_ram");
	const cJSON *bal = cJSON_GetObjectItemCaseSensitive(body, "desired_balloon");
	const cJSON *it;
	cJSON_ArrayForEach(it, body) {
		if (!cJSON_IsNull(it) && !cJSON_IsNumber(it)) {
			api_reply_error(resp, 400, "vm.resize: '%s': expected a number",
					it->string ? it->string : "?");
			return;
		}
		if (it->string && strcmp(it->string, "desired_vcpus") &&
		    strcmp(it->string, "desired_ram") && strcmp(it->string, "desired_balloon")) {
			api_reply_error(resp, 400, "vm.resize: unknown field '%s'", it->string);
			return;
		}
	}
	vc = cJSON_IsNumber(vc) ? vc : NULL;
	ram = cJSON_IsNumber(ram) ? ram : NULL;
	bal = cJSON_IsNumber(bal) ? bal : NULL;
	if (!cJSON_IsObject(body) || (!vc && !ram && !bal)) {
		api_reply_error(resp, 400,
				"vm.resize: expected {\"desired_vcpus\": N} and/or {\"desired_ram\": BYTES}");
		return;
	}
	const struct vm_config *cfg = vm->cfg;
	bool created = s == VM_STATE_CREATED && vm->created;
	if (vc && (vc->valuedouble < 1 || vc->valuedouble > max_vcpus(cfg) ||
		   vc->valuedouble != (unsigned)vc->valuedouble)) {
		api_reply_error(resp, 400, "vm.resize: desired_vcpus %g: expected 1-%u (max_vcpus)",
				vc->valuedouble, max_vcpus(cfg));
		return;
	}
	if (vc && (unsigned)vc->valuedouble != cfg->cpus && !created) {
		api_reply_error(resp, 501,
				"vm.resize: cvmm has no CPU hotplug: the VM keeps its %u vCPUs",
				cfg->cpus);
		return;
	}
	uint64_t want = ram ? (uint64_t)ram->valuedouble : cfg->mem_size;
	if (ram && want != cfg->mem_size &&
	    (!created || want < CVMM_MIN_MEM || (want & 0xfff) ||
	     want > cfg->mem_size + cfg->mem_hotplug_size)) {
		api_reply_error(resp, 501, "vm.resize: cvmm has no memory hotplug: the VM keeps its %llu bytes",
				(unsigned long long)cfg->mem_size);
		return;
	}
	if (bal && bal->valuedouble != 0) {
		api_reply_error(resp, 501, "vm.resize: cvmm has no virtio-balloon");
		return;
	}
	if (created) {
		vm->created->cfg.cpus = vc ? (unsigned)vc->valuedouble : cfg->cpus;
		vm->created->cfg.mem_size = want;
	}
	api_reply_no_content(resp);
}

/*
 * vm.delete: forgets the VM (then vm.info: 404); one that runs is shut down
 * first, as cloud-hypervisor does.
 */
static void ep_delete(void *ctx, const struct http_request *req, const cJSON *body,
		      struct api_response *resp)
{
	(void)req;
	(void)body;
	struct vm *vm = ctx;
	enum vm_state s = vm_get_state(vm);
	int ret = s == VM_STATE_RUNNING || s == VM_STATE_PAUSED ? vm_shutdown(vm) : 0;
	if (ret) {
		api_reply_error(resp, 500, "vm.delete: the VM did not shut down cleanly: %s",
				strerror(-ret));
		return;
	}
	ret = vm_delete(vm);
	if (ret) {
		reply_state(resp, vm, "cannot delete");
		return;
	}
	log_info("api: VM deleted");
	api_reply_no_content(resp);
}

/* vm.snapshot {"destination_url": "file:///DIR"}: a paused VM into DIR. */
static void ep_snapshot(void *ctx, const struct http_request *req, const cJSON *body,
			struct api_response *resp)
{
	(void)req;
	struct vm *vm = ctx;
	static const char *const known[] = { "destination_url", NULL };
	const char *url = str_member(body, "destination_url");
	const char *other = cJSON_IsObject(body) ? unknown_member(body, known) : NULL;
	if (!url || other) {
		api_reply_error(resp, 400, other ? "vm.snapshot: unknown field '%s'" :
				"vm.snapshot: expected {\"destination_url\": \"file:///DIR\"}%s",
				other ? other : "");
		return;
	}
	if (vm_get_state(vm) == VM_STATE_NOT_CREATED) {
		api_reply_error(resp, 404, "vm.snapshot: no VM: vm.create first");
		return;
	}
	char err[512];
	int ret = vm_snapshot(vm, url, err, sizeof(err));
	if (ret) {
		log_error("api: vm.snapshot: %s", err);
		api_reply_error(resp, ret == -EINVAL || ret == -ENOTSUP ? 400 : 500,
				"vm.snapshot: %s", err);
		return;
	}
	api_reply_no_content(resp);
}

/* vm.restore {"source_url": "file:///DIR", "prefault": bool, "resume":
 * bool}: the VM of a snapshot, into a VMM that has none. */
static void ep_restore(void *ctx, const struct http_request *req, const cJSON *body,
		       struct api_response *resp)
{
	(void)req;
	struct vm *vm = ctx;
	static const char *const known[] = { "source_url", "prefault", "resume", NULL };
	const char *url = str_member(body, "source_url");
	const cJSON *pf = cJSON_GetObjectItemCaseSensitive(body, "prefault");
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(body, "resume");
	const char *other = cJSON_IsObject(body) ? unknown_member(body, known) : NULL;
	if (!url || other || (pf && !cJSON_IsBool(pf) && !cJSON_IsNull(pf)) ||
	    (rs && !cJSON_IsBool(rs) && !cJSON_IsNull(rs))) {
		api_reply_error(resp, 400, other ? "vm.restore: unknown field '%s'" :
				"vm.restore: expected {\"source_url\": \"file:///DIR\", \"prefault\": bool, \"resume\": bool}%s",
				other ? other : "");
		return;
	}
	char err[512];
	int ret = vm_restore(vm, url, cJSON_IsTrue(pf), !cJSON_IsFalse(rs), err, sizeof(err));
	if (ret) {
		log_error("api: vm.restore: %s", err);
		api_reply_error(resp, ret == -EBUSY ? 500 : ret == -ENOMEM ? 500 : 400,
				"vm.restore: %s", err);
		return;
	}
	api_reply_no_content(resp);
}

/* cloud-hypervisor's endpoints for what cvmm does not have: 501. */
static void ep_unsupported(void *ctx, const struct http_request *req,
			       const cJSON *body, struct api_response *resp)
{
	(void)ctx;
	(void)body;
	const char *name = req->path + strlen(API_PREFIX);
	api_reply_error(resp, 501, "%s: cvmm does not have this feature (a cloud-hypervisor endpoint it does not serve)", name);
}

static const struct api_route routes[] = {
	{ "vmm.ping", "GET", ep_ping },
	{ "vmm.shutdown", "PUT", ep_vmm_shutdown },
	{ "vm.info", "GET", ep_info },
	{ "vm.counters", "GET", ep_counters },
	{ "vm.pause", "PUT", ep_pause },
	{ "vm.resume", "PUT", ep_resume },
	{ "vm.shutdown", "PUT", ep_vm_shutdown },
	{ "vm.reboot", "PUT", ep_reboot },
	{ "vm.power-button", "PUT", ep_power_button },
	{ "vm.create", "PUT", ep_create },
	{ "vm.boot", "PUT", ep_boot },
	{ "vm.delete", "PUT", ep_delete },
	{ "vm.resize", "PUT", ep_resize },
	{ "vm.add-disk", "PUT", ep_add_disk },
	{ "vm.add-net", "PUT", ep_add_net },
	{ "vm.add-fs", "PUT", ep_add_fs },
	{ "vm.add-vsock", "PUT", ep_add_vsock },
	{ "vm.add-device", "PUT", ep_add_device },
	{ "vm.add-user-device", "PUT", ep_add_user_device },
	{ "vm.snapshot", "PUT", ep_snapshot },
	{ "vm.restore", "PUT", ep_restore },
	/* cloud-hypervisor's, not (yet) cvmm's: 501 with a message. */
	{ "vm.remove-device", "PUT", ep_remove_device },
	{ "vm.resize-disk", "PUT", ep_resize_disk },
	{ "vm.resize-zone", "PUT", ep_unsupported },
	{ "vm.add-pmem", "PUT", ep_unsupported },
	{ "vm.add-vdpa", "PUT", ep_unsupported },
	{ "vm.add-generic-vhost-user", "PUT", ep_unsupported },

	{ "vm.coredump", "PUT", ep_unsupported },
	{ "vm.nmi", "PUT", ep_unsupported },
	{ "vm.send-migration", "PUT", ep_unsupported },
	{ "vm.receive-migration", "PUT", ep_unsupported },
	{ "vm.balloon-stats", "GET", ep_unsupported },
};

void vm_api_handle(void *opaque, const struct http_request *req,
		   struct api_response *resp)
{
	api_route_request(routes, sizeof(routes) / sizeof(routes[0]), opaque, req, resp);
}
