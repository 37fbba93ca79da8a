/* SPDX-License-Identifier: MIT */
/*
 * Snapshot and restore of the whole VM (vm.h: vm_snapshot, vm_restore;
 * the format: snap/snap.h and docs/snapshot.md). This file only walks the
 * VM: each piece saves and restores its own state through its interface
 * (arch.h for the machine and vCPUs, platform.h for the platform devices,
 * virtio/core.h for each virtio transport and device, pci/pci.h below it).
 * Guest RAM goes to its own file (kvm_save_ram, sparse) and comes back as
 * a private mapping of it (kvm.h: ram_restore).
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "api/vm_api.h"
#include "api/vm_create.h"
#include "arch/arch.h"
#include "file_io.h"
#include "log.h"
#include "snap/snap.h"
#include "vfio/pci_dev.h"
#include "virtio/core.h"
#include "vm_internal.h"

/* The most a state file may hold (it is read whole). */
#define SNAP_STATE_MAX (256u << 20)

struct vm_restore {
	struct snap_index idx;
	uint8_t *state; /* the state file (idx points into it) */
	int ram_fd;
	bool prefault;
	struct arch_vm_state *machine;
	unsigned nvcpus;
	struct arch_vcpu_state **vcpus;
	char *err;
	size_t errlen;
};

/* "file:///DIR" -> "/DIR" (a pointer into url), else NULL. */
static const char *url_path(const char *url)
{
	if (!url || strncmp(url, "file://", 7) || url[7] != '/' || !url[8])
		return NULL;
	return url + 7;
}

static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int ret = pwrite_full(fd, p, n, 0);
	close(fd);
	return ret;
}

/* What cannot go into a snapshot: named, the first one. */
static int check_snapshottable(struct vm *vm, char *err, size_t errlen)
{
	/* A restore builds the devices in the configuration's order, which
	 * gives them the slots they had at boot: a device plugged or removed
	 * since would come back in another slot. */
	if (vm->hotplugs || vm->unplugs)
		return snap_failf(err, errlen, -ENOTSUP,
			     "devices were hot-plugged or removed on this VM (%" PRIu64
			     " added, %" PRIu64 " removed); a snapshot needs the devices it booted with",
			     vm->hotplugs, vm->unplugs);
	if (vm->npassthrough) {
		struct vfio_pci_desc d;
		vfio_pci_describe(vm->passthrough[0], &d);
		return snap_failf(err, errlen, -ENOTSUP,
			     "%s: a passthrough device (%s) cannot be snapshotted", d.name,
			     d.backend);
	}
	for (unsigned i = 0; i < vm->nvirtio; i++) {
		struct vm_virtio *v = &vm->virtio[i];
		if (v->vhost || !virtio_transport_can_save(v->transport))
			return snap_failf(err, errlen, -ENOTSUP,
				     "%s: %s cannot be snapshotted", v->vdev->name,
				     v->vhost ? "a vhost-user device (its state is the backend's)"
					      : "this device");
	}
	return 0;
}

static int save_state(struct vm *vm, struct snap_buf *b, char *err, size_t errlen)
{
	snap_file_begin(b);
	cJSON *cfg = vm_api_config_json(vm->cfg);
	char *text = cfg ? cJSON_PrintUnformatted(cfg) : NULL;
	cJSON_Delete(cfg);
	if (!text)
		return snap_failf(err, errlen, -ENOMEM, "out of memory");
	size_t at = snap_section_begin(b, "config");
	snap_put(b, text, strlen(text));
	snap_section_end(b, at);
	free(text);

	at = snap_section_begin(b, "memory");
	snap_put_u64(b, vm->kvm.ram_size);
	snap_section_end(b, at);

	struct arch_vm_state *ms;
	int ret = arch_vm_state_save(&vm->kvm, vm->cfg, ARCH_STATE_SNAPSHOT, &ms);
	if (ret)
		return snap_failf(err, errlen, ret, "cannot read the machine's state: %s",
			     strerror(-ret));
	at = snap_section_begin(b, "machine");
	snap_put_u32(b, vm->nvcpus);
	arch_vm_state_encode(ms, b);
	snap_section_end(b, at);
	arch_vm_state_free(ms);

	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct arch_vcpu_state *vs;
		ret = arch_vcpu_state_save(&vm->kvm, vm->vcpus[i].fd, vm->vcpus[i].id,
					   ARCH_STATE_SNAPSHOT, &vs);
		if (ret)
			return snap_failf(err, errlen, ret, "cannot read vCPU %u's state: %s", i,
				     strerror(-ret));
		char name[SNAP_NAME_MAX];
		snprintf(name, sizeof(name), "vcpu.%u", i);
		at = snap_section_begin(b, name);
		arch_vcpu_state_encode(vs, b);
		snap_section_end(b, at);
		arch_vcpu_state_free(vs);
	}
	ret = platform_save(&vm->platform, b);
	if (ret)
		return snap_failf(err, errlen, ret, "cannot save the platform devices: %s",
			     strerror(-ret));
	for (unsigned i = 0; i < vm->nvirtio; i++) {
		char name[SNAP_NAME_MAX];
		snprintf(name, sizeof(name), "virtio.%u", i);
		at = snap_section_begin(b, name);
		ret = virtio_transport_save(vm->virtio[i].transport, b);
		if (ret)
			return snap_failf(err, errlen, ret, "%s: cannot save its state: %s",
				     vm->virtio[i].vdev->name, strerror(-ret));
		snap_section_end(b, at);
	}
	ret = snap_file_finish(b);
	return ret ? snap_failf(err, errlen, ret, "out of memory") : 0;
}

int vm_snapshot(struct vm *vm, const char *url, char *err, size_t errlen)
{
	const char *dir = url_path(url);
	if (!dir)
		return snap_failf(err, errlen, -EINVAL,
			     "destination_url: expected file:///DIR, got '%.200s'",
			     url ? url : "");
	if (vm_get_state(vm) != VM_STATE_PAUSED)
		return snap_failf(err, errlen, -EBUSY, "the VM is %s (vm.pause first)",
			     vm_state_name(vm_get_state(vm)));
	err[0] = 0;
	int ret = check_snapshottable(vm, err, errlen);
	if (ret)
		return ret;
	uint64_t t0 = vm_now_ns();
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return snap_failf(err, errlen, -errno, "%s: %s", dir, strerror(errno));
	struct snap_buf b = { 0 };
	ret = save_state(vm, &b, err, errlen);
	/* RAM first, the state file last: a folder whose state file is
	 * whole has its RAM too. A stale state file goes first. */
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, SNAP_STATE_FILE);
	if (!ret && unlink(path) < 0 && errno != ENOENT)
		ret = snap_failf(err, errlen, -errno, "%s: %s", path, strerror(errno));
	uint64_t ram_bytes = 0;
	if (!ret) {
		snprintf(path, sizeof(path), "%s/%s", dir, SNAP_MEMORY_FILE);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			ret = snap_failf(err, errlen, -errno, "%s: %s", path, strerror(errno));
		} else {
			ret = kvm_save_ram(&vm->kvm, fd, &ram_bytes);
			close(fd);
			if (ret)
				snap_failf(err, errlen, ret, "%s: %s", path, strerror(-ret));
		}
	}
	if (!ret) {
		ret = write_file(dir, SNAP_STATE_FILE, b.data, b.len);
		if (ret)
			snap_failf(err, errlen, ret, "%s/%s: %s", dir, SNAP_STATE_FILE, strerror(-ret));
	}
	size_t state_len = b.len;
	snap_buf_free(&b);
	if (ret)
		return ret;
	log_info("snapshot: %s: %zu bytes of state, %llu KiB of %llu MiB of RAM written, in %.3f ms",
		 dir, state_len, (unsigned long long)(ram_bytes >> 10),
		 (unsigned long long)(vm->kvm.ram_size >> 20),
		 (double)(vm_now_ns() - t0) / 1e6);
	return 0;
}

/* ---- restore ---- */

static void restore_free(struct vm_restore *r)
{
	snap_index_free(&r->idx);
	free(r->state);
	if (r->ram_fd >= 0)
		close(r->ram_fd);
	arch_vm_state_free(r->machine);
	for (unsigned i = 0; r->vcpus && i < r->nvcpus; i++)
		arch_vcpu_state_free(r->vcpus[i]);
	free(r->vcpus);
}

static int read_state(struct vm_restore *r, const char *dir, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, SNAP_STATE_FILE);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return snap_failf(err, errlen, -errno, "%s is not a snapshot: %s: %s", dir,
			     SNAP_STATE_FILE, strerror(errno));
	struct stat st;
	int ret = 0;
	if (fstat(fd, &st) < 0)
		ret = -errno;
	else if (!S_ISREG(st.st_mode) || st.st_size > SNAP_STATE_MAX)
		ret = -EINVAL;
	else if (!(r->state = malloc((size_t)st.st_size + 1)))
		ret = -ENOMEM;
	size_t done = ret ? 0 : (size_t)st.st_size;
	if (!ret)
		ret = pread_full(fd, r->state, done, 0);
	close(fd);
	if (ret)
		return snap_failf(err, errlen, ret, "%s: %s", path, strerror(-ret));
	char why[256];
	ret = snap_parse(r->state, done, &r->idx, why, sizeof(why));
	if (ret)
		return snap_failf(err, errlen, ret, "%s: %s", path, why);
	return 0;
}

/* The configuration section as a vm.create body, checked as one. */
static int restore_config(struct vm *vm, struct vm_restore *r, struct vm_create_config **out,
			  char *err, size_t errlen)
{
	struct snap_cur c;
	if (snap_find(&r->idx, "config", &c))
		return snap_failf(err, errlen, -EBADMSG, "the snapshot has no configuration");
	cJSON *body = cJSON_ParseWithLength((const char *)c.p, c.len);
	if (!body)
		return snap_failf(err, errlen, -EBADMSG, "the snapshot's configuration is not JSON");
	char why[512];
	int ret = vm_create_config_parse(body, vm->cfg, out, why, sizeof(why));
	cJSON_Delete(body);
	if (ret)
		return snap_failf(err, errlen, ret, "the snapshot's configuration: %s", why);
	ret = config_check_files(&(*out)->cfg, CONFIG_NAMES_JSON, why, sizeof(why));
	if (ret) {
		vm_create_config_free(*out);
		*out = NULL;
		return snap_failf(err, errlen, ret, "the snapshot's configuration: %s", why);
	}
	return 0;
}

static int open_ram(struct vm_restore *r, const char *dir, uint64_t mem_size, char *err,
		    size_t errlen)
{
	struct snap_cur c;
	int ret = snap_find(&r->idx, "memory", &c);
	uint64_t size = snap_get_u64(&c);
	if (ret || snap_cur_end(&c) || size != mem_size)
		return snap_failf(err, errlen, -EBADMSG,
			     "the snapshot's memory section does not match its configuration");
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, SNAP_MEMORY_FILE);
	r->ram_fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (r->ram_fd < 0 || fstat(r->ram_fd, &st) < 0)
		return snap_failf(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
		return snap_failf(err, errlen, -EBADMSG,
			     "%s: %llu bytes, the snapshot's RAM is %llu (truncated or not its file)",
			     path, (unsigned long long)st.st_size, (unsigned long long)size);
	return 0;
}

/* The machine's and every vCPU's state, decoded (nothing applied yet). */
static int decode_cpus(struct vm_restore *r, unsigned ncpus, bool pit, char *err,
		       size_t errlen)
{
	struct snap_cur c;
	if (snap_find(&r->idx, "machine", &c))
		return snap_failf(err, errlen, -EBADMSG, "the snapshot has no machine state");
	uint32_t n = snap_get_u32(&c);
	if (n != ncpus)
		return snap_failf(err, errlen, -EBADMSG, "the snapshot has %u vCPUs, its configuration %u",
			     n, ncpus);
	int ret = arch_vm_state_decode(&c, &r->machine);
	if (ret)
		return snap_failf(err, errlen, ret, "the snapshot's machine state is not valid");
	if (arch_vm_state_has_pit(r->machine) != pit)
		return snap_failf(err, errlen, -EBADMSG, "the snapshot's PIT does not match its configuration");
	r->vcpus = calloc(ncpus, sizeof(*r->vcpus));
	if (!r->vcpus)
		return snap_failf(err, errlen, -ENOMEM, "out of memory");
	r->nvcpus = ncpus;
	for (unsigned i = 0; i < ncpus; i++) {
		char name[SNAP_NAME_MAX];
		snprintf(name, sizeof(name), "vcpu.%u", i);
		if (snap_find(&r->idx, name, &c))
			return snap_failf(err, errlen, -EBADMSG, "the snapshot has no state for vCPU %u", i);
		ret = arch_vcpu_state_decode(&c, &r->vcpus[i]);
		if (ret)
			return snap_failf(err, errlen, ret, "vCPU %u's state in the snapshot is not valid", i);
	}
	return 0;
}

void vm_restore_ram_source(struct vm *vm)
{
	vm->kvm.ram_restore = true;
	vm->kvm.ram_src_fd = vm->restoring->ram_fd;
	vm->kvm.ram_prefault = vm->restoring->prefault;
}

int vm_restore_state(struct vm *vm)
{
	struct vm_restore *r = vm->restoring;
	int ret = arch_vm_state_restore(&vm->kvm, r->machine);
	for (unsigned i = 0; i < vm->nvcpus && !ret; i++)
		ret = arch_vcpu_state_restore(vm->vcpus[i].fd, vm->vcpus[i].id, r->vcpus[i]);
	ret = ret ?: platform_restore(&vm->platform, &r->idx);
	/*
	 * resume=false: every device thread is asked to park before the
	 * devices are activated and their ready queues kicked below, so a
	 * thread started by that activation parks before its first
	 * epoll_wait (worker.h) and the kick waits for vm.resume. (Parking
	 * only after the machine started left a window in which the kick
	 * was served while the vCPUs stood still.) No thread runs yet: this
	 * only sets the requests.
	 */
	if (!ret && vm->start_paused)
		ret = vm_park_devices(vm);
	for (unsigned i = 0; i < vm->nvirtio && !ret; i++) {
		struct vm_virtio *v = &vm->virtio[i];
		char name[SNAP_NAME_MAX];
		snprintf(name, sizeof(name), "virtio.%u", i);
		struct snap_cur c;
		ret = snap_find(&r->idx, name, &c);
		if (ret) {
			log_error("restore: %s: missing from the snapshot", v->vdev->name);
			ret = -EBADMSG;
			break;
		}
		ret = virtio_transport_restore(v->transport, &c);
		if (ret)
			log_error("restore: %s: %s", v->vdev->name,
				  ret == -EBADMSG ? "its state does not fit this device"
						  : strerror(-ret));
	}
	/* Last: the clock goes on from where the snapshot left it. */
	return ret ?: arch_vm_clock_restore(&vm->kvm, r->machine);
}

int vm_restore(struct vm *vm, const char *url, bool prefault, bool resume, char *err,
	       size_t errlen)
{
	const char *dir = url_path(url);
	if (!dir)
		return snap_failf(err, errlen, -EINVAL, "source_url: expected file:///DIR, got '%.200s'",
			     url ? url : "");
	if (vm_get_state(vm) != VM_STATE_NOT_CREATED)
		return snap_failf(err, errlen, -EBUSY, "the VMM has a VM already (%s)",
			     vm_state_name(vm_get_state(vm)));
	err[0] = 0;
	uint64_t t0 = vm_now_ns();
	struct vm_restore r = { .ram_fd = -1, .prefault = prefault };
	struct vm_create_config *c = NULL;
	int ret = read_state(&r, dir, err, errlen);
	ret = ret ?: restore_config(vm, &r, &c, err, errlen);
	ret = ret ?: open_ram(&r, dir, c->cfg.mem_size, err, errlen);
	ret = ret ?: decode_cpus(&r, c->cfg.cpus, c->cfg.pit, err, errlen);
	if (ret) {
		vm_create_config_free(c);
		restore_free(&r);
		return ret;
	}
	vm_create(vm, c); /* NotCreated: takes c */
	vm->restoring = &r;
	vm->start_paused = !resume;
	ret = vm_build_machine(vm);
	vm->restoring = NULL;
	if (!ret)
		for (unsigned i = 0; i < r.idx.n && !ret; i++)
			if (!r.idx.s[i].used)
				ret = snap_failf(err, errlen, -EBADMSG,
					    "the snapshot has a section this VM has no place for: %s",
					    r.idx.s[i].name);
	if (ret && !err[0])
		snap_failf(err, errlen, ret, "cannot restore the VM from %s (see the log)", dir);
	/* From the command line the control loop starts it (vm_run), with
	 * start_paused still set; through the API, now. */
	bool now = vm->epoll_fd >= 0;
	if (now) {
		ret = ret ?: vm_start_machine(vm);
		if (!ret && !resume)
			ret = vm_park_devices(vm);
		vm->start_paused = false;
	}
	restore_free(&r);
	if (ret) {
		/* Nothing half-built stays: NotCreated again. */
		if (!err[0])
			snap_failf(err, errlen, ret, "cannot start the restored VM: %s", strerror(-ret));
		vm_teardown_machine(vm);
		vm->start_paused = false;
		vm->state = VM_STATE_CREATED;
		vm_delete(vm);
		return ret;
	}
	log_info("restore: %s: VM %s in %.3f ms (RAM %s)", dir,
		 resume ? "running" : "paused", (double)(vm_now_ns() - t0) / 1e6,
		 prefault ? "prefaulted" : "mapped, read on first touch");
	return 0;
}
