/* SPDX-License-Identifier: MIT */
/*
 * The body of PUT vm.create turned into a VM configuration. The JSON object
 * has the command line's options as fields; each value goes, as a value,
 * to the command line's own validation (config_set and friends in
 * config.h), never through an argument vector: a string is never taken
 * for an option, and a bad value gets exactly the one-line message the
 * command line would give.
 *
 *   kernel, initramfs, cmdline        strings
 *   cpus       N | "boot=N" | {"boot": N}
 *   memory     bytes | "512M" | "size=512M" | {"size": bytes or "512M"}
 *   serial, console
 *              "tty" | "file=PATH" | "null" | "off" | {"mode": M, "file": PATH}
 *   disks      [ "path=P,readonly=on" | {"path": P, "readonly": bool,
 *                "direct": bool, "id": S} ... ]
 *   nets       [ "tap=T,mac=M" | {"tap": T, "mac": M, "ip": A, "mask": A} ... ]
 *   devices    [ "path=P,id=N" | {"path": P, "id": N} ... ]  (--device)
 *   rng        true | false | null | "src=PATH" | {"src": PATH}
 *   debug_exit bool
 *
 * Objects are given key by key to the option's key=value list (true/false:
 * on/off, numbers as integers), so an unknown key is refused by the same
 * code, and a ',' in a value stays in that value. Unknown fields, and
 * values of the wrong JSON type, are refused here. The process-wide
 * settings (--api-socket, --seccomp, --log-level) come from the command
 * line cvmm was started with.
 */
#ifndef CVMM_API_VM_CREATE_H
#define CVMM_API_VM_CREATE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "config.h"

/* A configuration and the storage its strings point into. */
struct vm_create_config {
	struct vm_config cfg;
	unsigned topo_cores; /* cpus.topology.cores_per_die, 0 when not given */
	size_t used;
	char arena[16384];
};

/*
 * Parses `body` (a JSON object) into a new *out (free() it), with the
 * process-wide settings copied from `cli`. 0; -EINVAL with one line in err
 * (no trailing newline) for a body that is not a valid configuration;
 * -ENOMEM.
 */
int vm_create_config_parse(const cJSON *body, const struct vm_config *cli,
			   struct vm_create_config **out, char *err, size_t errlen);

/* Frees c and closes the tap fds its nets own (vm.add-net). NULL ok. */
void vm_create_config_free(struct vm_create_config *c);

/*
 * vm.add-disk, vm.add-net, vm.add-vsock, vm.add-device, vm.add-user-device
 * and vm.add-fs before the VM boots: `item` (cloud-hypervisor's DiskConfig,
 * NetConfig, ...) joins the configuration as member `member` ("disks",
 * "net", "vsock", "devices", "user_devices", "fs") of a vm.create body
 * would, checked the same way, files included. vm.add-net may come with
 * one tap fd (dup()ed: the caller keeps its own) and then names no tap.
 * 0; -EINVAL with one line in err, the configuration unchanged; -ENOMEM.
 */
int vm_create_config_add(struct vm_create_config *c, const char *member,
			 const cJSON *item, const int *fds, unsigned nfds,
			 char *err, size_t errlen);

/*
 * A configuration of its own for a VM the command line described (its
 * strings stay the command line's, which outlive it): what hotplug then
 * adds to and removes from. 0 or -ENOMEM.
 */
int vm_create_config_from(const struct vm_config *cfg, struct vm_create_config **out);

/*
 * Takes entry `idx` of member `member` ("disks", "net", "fs", "devices",
 * "user_devices"; "vsock" and "rng", idx 0) out of the configuration (a
 * net's tap fd closed; its strings freed for reuse, config_compact_strings:
 * no other pointer into them may be kept). 0, or -ENOENT when there is no
 * such entry.
 */
int vm_create_config_remove(struct vm_create_config *c, const char *member, unsigned idx);

/*
 * The entry whose id is `id` (the "id" of a disk, device, user device,
 * net, fs, vsock or rng; the last four have one by default, "_net0" and
 * the like): its member and index. 0, or -ENOENT.
 */
int vm_create_config_find_id(const struct vm_create_config *c, const char *id,
			     const char **member, unsigned *idx);

#endif
