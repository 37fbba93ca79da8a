/* SPDX-License-Identifier: MIT */
/*
 * Seccomp allowlists, one per kind of thread. The lists are in
 * seccomp_rules.c as libseccomp rules; they are compiled to BPF at build
 * time (tools/seccomp-gen.c, seccomp_bpf.h) and loaded from there, so
 * start-up builds nothing and cvmm does not link libseccomp.
 *
 *   SECCOMP_MAIN    the control loop (epoll: stdin, signals, exit requests,
 *                   the API socket) and the teardown that follows it;
 *                   installed once the VM is built and the vCPUs started.
 *   SECCOMP_VCPU    a vCPU thread: KVM_RUN and the device emulation it runs
 *                   (legacy devices, PCI config, MSI-X routing, virtio-pci,
 *                   and the activation/reset of virtio devices, which starts
 *                   and stops their threads).
 *   SECCOMP_DEVICE  a virtio device thread (worker.c): queue I/O on images,
 *                   the tap, the console, the rng source and vsock's UNIX
 *                   sockets (accept, connect, socket(AF_UNIX) only).
 *
 * Each thread installs its own filter (no TSYNC), so each kind keeps its own
 * list. Filters stack: a thread inherits the filter of the thread that
 * created it, and every filter in the stack must allow a call. Device
 * threads are created by vCPU threads (activate runs at the guest's
 * DRIVER_OK write), so the vCPU list also holds everything the device list
 * holds plus what starting a thread and loading its filter need; a device
 * thread then runs under both, i.e. exactly the device list. vCPU threads
 * must therefore be started before the main thread installs its filter
 * (else they would run under main and vCPU lists at once).
 *
 * Wiring: vm_build() gives each vCPU config->seccomp (--seccomp on|off,
 * default on); vm_run() installs SECCOMP_MAIN once the vCPU threads exist;
 * worker.c narrows each device thread whose creator was filtered.
 *
 * A forbidden call is never executed: the filter traps it (SIGSYS), the
 * handler writes one line to stderr
 *   cvmm: fatal: seccomp: KIND thread 'NAME' made forbidden syscall N (NAME),
 *   args 0x..., 0x..., 0x...; killing the process (--seccomp off ...)
 * (KIND "filtered" for a thread that only inherited a filter), restores the
 * terminal and re-raises SIGSYS with its default action, which
 * kills the whole process (with a core dump where enabled). A call from a
 * foreign ABI (int 0x80, x32) kills the process at once. A thread that has
 * every signal blocked at that moment (glibc does, briefly, inside
 * pthread_create and pthread_kill) is killed by the kernel the same way,
 * only without the line.
 *
 * Sanitizer builds (ASan/UBSan, TSan) add to every list the calls their
 * runtimes make from any thread (reports, the leak check at exit), so that
 * make check-asan / check-tsan run with the filters on.
 */
#ifndef CVMM_SECCOMP_FILTER_H
#define CVMM_SECCOMP_FILTER_H

#include <stdbool.h>

enum seccomp_thread {
	SECCOMP_MAIN,
	SECCOMP_VCPU,
	SECCOMP_DEVICE,
	/* The main thread of a process with --api-socket: the main list and
	 * what building (and starting) another machine needs (vm.boot after
	 * vm.shutdown); seccomp_rules.c says exactly what that adds. */
	SECCOMP_VMM,
};

/*
 * Installs kind's filter on the calling thread; with !enabled does nothing
 * and returns 0 (--seccomp off). The first filter of a thread also installs
 * the process's SIGSYS handler and first sets up libc state that glibc
 * would otherwise load lazily by opening a file (the time zone, read by
 * the CMOS RTC's gmtime_r); every install unblocks SIGSYS in the calling
 * thread, so the handler can run. Returns 0 or -errno (logged).
 */
int seccomp_install(enum seccomp_thread kind, bool enabled);

/*
 * True when the calling thread already runs under a seccomp filter (its own
 * or one inherited from the thread that created it). A device thread
 * installs its filter exactly when this holds: with --seccomp off (and in
 * unit tests) its creator has none and neither does it.
 */
bool seccomp_thread_filtered(void);

const char *seccomp_thread_kind_name(enum seccomp_thread kind);

#endif
