/* SPDX-License-Identifier: MIT */
/*
 * The seccomp filters as BPF programs, generated at build time by
 * tools/seccomp-gen.c from the allowlists in seccomp_rules.c (with
 * libseccomp) into $(BUILD)/gen/seccomp_bpf.c, the way Firecracker compiles
 * its filters ahead of time: cvmm loads them without building anything at
 * start-up and without linking libseccomp.
 *
 * Each program names the process's pid (the tgkill rules: a thread may
 * signal its own process only). The generator writes
 * SECCOMP_BPF_PID_PLACEHOLDER there and lists the instructions that hold
 * it; seccomp_install() copies the program and puts getpid() in them. The
 * generator checks that those are exactly the instructions that change
 * with the pid, so no other constant can be mistaken for it.
 */
#ifndef CVMM_SECCOMP_BPF_H
#define CVMM_SECCOMP_BPF_H

#include <linux/filter.h>

/* Above any pid (pid_max is at most 2^22). */
#define SECCOMP_BPF_PID_PLACEHOLDER 0x3ffffe01u

/* One per enum seccomp_thread, in its order. */
#define SECCOMP_BPF_KINDS 4

struct seccomp_bpf_prog {
	const struct sock_filter *insns;
	unsigned short len;
	const unsigned short *pid_at; /* instructions whose k is the pid */
	unsigned short npid;
};

/* The production filters, and the ones sanitizer builds load (they also
 * allow what the sanitizer runtimes call on their own). */
extern const struct seccomp_bpf_prog seccomp_bpf_plain[SECCOMP_BPF_KINDS];
extern const struct seccomp_bpf_prog seccomp_bpf_sanitized[SECCOMP_BPF_KINDS];

/* x86-64 syscall names by number ("" where there is none), for the SIGSYS
 * line: a signal handler cannot ask libseccomp (it allocates). */
#define SECCOMP_SYSCALL_NAMES 512
#define SECCOMP_SYSCALL_NAME_LEN 24
extern const char seccomp_syscall_names[SECCOMP_SYSCALL_NAMES][SECCOMP_SYSCALL_NAME_LEN];

#endif
