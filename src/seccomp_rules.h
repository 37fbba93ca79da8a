/* SPDX-License-Identifier: MIT */
/*
 * The seccomp allowlists as libseccomp rules (seccomp_rules.c): used at
 * build time by tools/seccomp-gen.c, never linked into cvmm.
 */
#ifndef CVMM_SECCOMP_RULES_H
#define CVMM_SECCOMP_RULES_H

#include <seccomp.h>
#include <stdbool.h>
#include <stdint.h>

#include "seccomp_filter.h"

/*
 * Adds kind's allowlist to ctx, a filter whose default action traps. pid:
 * the process the tgkill rules let a thread signal (its own). sanitized:
 * also allow what the ASan/UBSan/TSan runtimes call on their own. Returns 0
 * or -errno (libseccomp's).
 */
int seccomp_rules_add(scmp_filter_ctx ctx, enum seccomp_thread kind, uint32_t pid,
		      bool sanitized);

#endif
