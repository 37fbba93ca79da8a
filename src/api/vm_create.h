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

#endif
