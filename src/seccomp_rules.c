/* SPDX-License-Identifier: MIT */
/*
 * cvmm's seccomp allowlists, one per kind of thread (seccomp_filter.h says
 * which thread runs which), as libseccomp rules.
 *
 * Build-time only: tools/seccomp-gen.c adds them to a libseccomp filter,
 * compiles that to BPF and writes the programs into the build folder
 * ($(BUILD)/gen/seccomp_bpf.c); cvmm itself loads those programs as they
 * are (seccomp_filter.c) and does not link libseccomp. This file is not in
 * libcvmm.a.
 */
#include "seccomp_rules.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/sockios.h>
#include <linux/vfio.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>

/*
 * The lists below were derived from cvmm's own code paths, then checked
 * with `strace -f`, with the filters in logging mode (SCMP_ACT_LOG) and by
 * running with them on: the guest suite, the API suite (pause, reboot,
 * power button), the ASan and TSan suites, the terminal escape (Ctrl-A x)
 * and a Linux boot with every device. Each entry says which code makes the
 * call; calls glibc makes on our behalf are listed under the function that
 * causes them (malloc/free, pthread_create/join, raise, tcsetattr). A new
 * code path that needs a new call dies with the SIGSYS line naming the
 * call: add it here, to the list of the thread that makes it, with the
 * reason.
 */

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The vCPU kick (vcpu.c), sent by the control loop. */
#define KICK_SIGNAL SIGUSR1

/* An allowlist: calls allowed whatever their arguments, ioctl requests,
 * prctl options, and signals a thread may send to its own process. */
struct sc_list {
	const int *calls;
	size_t ncalls;
	const unsigned long *ioctls;
	size_t nioctls;
	const int *prctls;
	size_t nprctls;
	const int *signals;
	size_t nsignals;
};

/* ---- every thread ---- */

static const int base_calls[] = {
	SCMP_SYS(futex),           /* mutexes, condition variables, joins */
	SCMP_SYS(write),           /* log lines on stderr (one write each);
				    * eventfd signals: irqfds, exit requests,
				    * worker stop; serial/console output */
	SCMP_SYS(clock_gettime),   /* when the vDSO cannot answer */
	SCMP_SYS(restart_syscall), /* an interrupted timed wait resuming */
	SCMP_SYS(rt_sigreturn),    /* end of a signal handler (the vCPU kick) */
	SCMP_SYS(rt_sigprocmask),  /* glibc: thread exit, pthread_kill, abort */
	SCMP_SYS(exit),            /* a thread ends */
	SCMP_SYS(exit_group),      /* the process ends */
	SCMP_SYS(brk),             /* malloc (main arena) */
	SCMP_SYS(munmap),          /* free of large blocks, arena trimming */
	SCMP_SYS(mremap),          /* realloc of large blocks */
	SCMP_SYS(madvise),         /* free; glibc drops an exiting thread's
				    * stack; vm_reboot clears guest RAM */
	SCMP_SYS(getpid),          /* raise() in the fatal-signal handlers */
	SCMP_SYS(gettid),          /* raise() */
};

/* term_restore() (tcsetattr) at exit and from the fatal-signal and SIGSYS
 * handlers; glibc's tcsetattr reads the settings (TCGETS) before it sets
 * them (TCSETS). */
static const unsigned long base_ioctls[] = { TCGETS, TCSETS };
/* The SIGSYS handler names the thread. */
static const int base_prctls[] = { PR_GET_NAME };
/* raise() of a fatal signal: term.c's handlers, the SIGSYS handler, abort(). */
static const int base_signals[] = { SIGSYS, SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE };

/* ---- device threads (worker.c and the devices' queue handlers) ---- */

static const int device_calls[] = {
	SCMP_SYS(epoll_wait),  /* worker loop */
	SCMP_SYS(epoll_ctl),   /* virtio_worker_modify (net tap, console input) */
	SCMP_SYS(read),        /* eventfd_drain (kicks, stop), rng source */
	SCMP_SYS(readv),       /* net RX from the tap, console input */
	SCMP_SYS(writev),      /* net TX to the tap */
	SCMP_SYS(preadv),      /* blk reads */
	SCMP_SYS(pwritev),     /* blk writes */
	SCMP_SYS(fdatasync),   /* blk flush */
	SCMP_SYS(fallocate),   /* blk discard / write zeroes */
	SCMP_SYS(io_uring_enter), /* blk's io_uring engine (blk_uring.c): submit,
				   * reap, the device thread's wait. */
	SCMP_SYS(io_uring_setup), /* blk: each device thread makes its own ring
				   * (SINGLE_ISSUER binds a ring to the task
				   * that makes it; blk_uring.h). Not
				   * io_uring_register: fixed buffers stay in
				   * the ring made at create, before any
				   * filter. Its io-wq workers make no system
				   * calls (kernel threads): no filter applies
				   * to the I/O they do. */
	SCMP_SYS(lseek),       /* rng: rewind a file source at its end */
	SCMP_SYS(getrandom),   /* rng without a source */
	SCMP_SYS(poll),        /* console: input ready? output drained?
				* (also the UART's output wait on vCPUs) */
	/* vsock's host sockets: accept on its listener, connect for the guest's
	 * connections (socket: AF_UNIX only, below), the CONNECT line (recv:
	 * recvfrom), data (sendmsg, send: sendto), close and shutdown. */
	SCMP_SYS(accept4), SCMP_SYS(connect), SCMP_SYS(recvfrom), SCMP_SYS(sendto),
	SCMP_SYS(sendmsg), SCMP_SYS(shutdown), SCMP_SYS(close),
	SCMP_SYS(timerfd_settime), /* vsock: host connections' answer timeout */
};

/* Queue interrupts go out as irqfd writes (MSI-X) or, with MSI-X off, on
 * the device's INTx line. */
static const unsigned long device_ioctls[] = { KVM_IRQ_LINE };

static const struct sc_list device_list = {
	device_calls, N(device_calls), device_ioctls, N(device_ioctls),
	NULL, 0, NULL, 0,
};

/* ---- vCPU threads ---- */

/*
 * Besides its own calls a vCPU thread activates and resets virtio devices
 * (the guest's device-status writes), which starts and stops their threads:
 * a device thread starts under the vCPU filter, so this list holds the
 * device list too (added in add_rules) and what a new thread does before its
 * own filter is on.
 */
static const int vcpu_calls[] = {
	SCMP_SYS(close),         /* virtio_worker_stop: the worker's epoll and
				  * stop eventfd */
	SCMP_SYS(epoll_create1), /* virtio_worker_start */
	SCMP_SYS(eventfd2),      /* virtio_worker_start: stop eventfd; a
				  * passthrough MSI-X vector's eventfd, made
				  * when the guest first unmasks it (msix.c) */
	SCMP_SYS(set_robust_list), /* a new thread (glibc start_thread) */
	SCMP_SYS(rseq),          /* a new thread registers its rseq area */
	/* Passthrough devices (vfio/pci_dev.c): config space and trapped BAR
	 * accesses are reads and writes of the VFIO device fd's regions. */
	SCMP_SYS(pread64),
	SCMP_SYS(pwrite64),
	/* ... or requests to a vfio-user server (vfio/user.c): one message
	 * out, the reply in (eventfds ride along for SET_IRQS), poll for the
	 * deadline (device list). */
	SCMP_SYS(sendmsg),
	SCMP_SYS(recvmsg),
	/* ... and vhost-user backends (vhost/user.c): a guest's DRIVER_OK
	 * and reset send their requests the same way; an activation after a
	 * backend broke reconnects (connect and socket(AF_UNIX): the device
	 * list's and the AF_UNIX rule below, vsock's too). */
};

static const unsigned long vcpu_ioctls[] = {
	KVM_RUN,
	KVM_GET_REGS, KVM_GET_SREGS, /* arch_vcpu_dump on a fatal exit */
	/* arch_complete_emulation: INT3 delivered as #BP */
	KVM_SET_REGS, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
	KVM_IRQ_LINE,        /* legacy devices (UART, i8042) and PCI INTx */
	KVM_SET_GSI_ROUTING, /* MSI-X table writes (irq_router_set_msi), a
			      * passthrough vector's first route */
	KVM_IRQFD,           /* MSI-X vector (re)binding, device reset */
	KVM_IOEVENTFD,       /* BAR moves re-bind the notify ioeventfds */
	/* Passthrough devices: a BAR move takes its mmap'd areas out of and
	 * back into guest memory (memory slots); MSI/MSI-X enables hand the
	 * vectors' eventfds to the device (and INTx back). */
	KVM_SET_USER_MEMORY_REGION,
	VFIO_DEVICE_SET_IRQS,
};

static const int vcpu_prctls[] = {
	PR_SET_NAME,         /* a new device thread names itself */
	PR_GET_SECCOMP,      /* ... checks it inherited a filter ... */
	PR_SET_NO_NEW_PRIVS, /* ... and loads its own (seccomp_install) */
};

static const struct sc_list vcpu_list = {
	vcpu_calls, N(vcpu_calls), vcpu_ioctls, N(vcpu_ioctls),
	vcpu_prctls, N(vcpu_prctls), NULL, 0,
};

/* ---- the main thread: control loop and teardown ---- */

static const int main_calls[] = {
	SCMP_SYS(epoll_wait),  /* the control loop, the API server */
	SCMP_SYS(epoll_ctl),   /* stdin on/off, API clients */
	SCMP_SYS(read),        /* stdin, signalfd, eventfds, API timerfd */
	SCMP_SYS(close),       /* API clients; teardown */
	SCMP_SYS(fdatasync),   /* virtio_blk_destroy flushes the image */
	SCMP_SYS(accept4),     /* API clients */
	SCMP_SYS(recvfrom),    /* recv() on an API client */
	SCMP_SYS(sendto),      /* send() on an API client */
	SCMP_SYS(shutdown),    /* API: close after the response */
	SCMP_SYS(poll),        /* api_server_flush at exit */
	SCMP_SYS(newfstatat),  /* lstat of the API socket at exit; fstat of the
				* kernel a reboot reloads */
	SCMP_SYS(unlink),      /* api_server_destroy removes the socket */
	SCMP_SYS(pread64),     /* a reboot reads the kernel and initramfs again;
				* passthrough config space (reset) */
	SCMP_SYS(pwrite64),    /* a reboot writes a passthrough device's command
				* register back */
	SCMP_SYS(sendmsg),     /* vfio-user devices: the server's DMA requests */
	SCMP_SYS(recvmsg),     /* served, INTx unmasked, reset, teardown */
	SCMP_SYS(fallocate),   /* a reboot clears shared guest RAM (kvm_clear_ram:
				* its memfd's pages punched out) */
	/* vhost-user: a reboot's and the teardown's device resets take each
	 * ring back from the backend (GET_VRING_BASE). */
	SCMP_SYS(sendmsg),
	SCMP_SYS(recvmsg),
};

static const unsigned long main_ioctls[] = {
	KVM_IRQ_LINE,                /* stdin bytes raise the UART's IRQ */
	KVM_GET_REGS, KVM_GET_SREGS, /* register dump at exit (debug level) */
	/* Teardown, and a reboot's reset of each virtio device: MSI-X vectors
	 * and notify ioeventfds unbound, their routes dropped. */
	KVM_IRQFD, KVM_IOEVENTFD, KVM_SET_GSI_ROUTING,
	/* vm_reboot (API): the machine and each parked vCPU put back as they
	 * were built (arch_vm_state_restore, arch_vcpu_state_restore), then
	 * the kernel loaded again (arch_load_guest). */
	KVM_SET_IRQCHIP, KVM_SET_PIT2,
	KVM_SET_REGS, KVM_SET_SREGS, KVM_SET_FPU, KVM_SET_XCRS, KVM_SET_DEBUGREGS,
	KVM_SET_MSRS, KVM_SET_LAPIC, KVM_SET_VCPU_EVENTS, KVM_SET_MP_STATE,
	/* Passthrough devices, at a reboot: their BARs back where they were
	 * placed (memory slots), interrupts off and INTx on again, the device
	 * reset; at teardown: slots removed, interrupts off, DMA unmapped,
	 * groups out of their containers. */
	KVM_SET_USER_MEMORY_REGION,
	VFIO_DEVICE_SET_IRQS, VFIO_DEVICE_RESET, VFIO_IOMMU_UNMAP_DMA,
	VFIO_GROUP_UNSET_CONTAINER,
};

/* pthread_kill of the vCPU kick (stop, pause). */
static const int main_signals[] = { KICK_SIGNAL };

static const struct sc_list main_list = {
	main_calls, N(main_calls), main_ioctls, N(main_ioctls),
	NULL, 0, main_signals, N(main_signals),
};

/* ---- the main thread of an API process (SECCOMP_VMM) ---- */

/*
 * With --api-socket the VM may be shut down and booted again (vm.shutdown,
 * vm.boot; vm.delete then vm.create and vm.boot): the main thread builds
 * the next machine after its filter is on. Its filter is then the main
 * list plus what vm_build_machine and start_machine do (found as the lists
 * above: from the code, then with `strace -f` on create, boot, shutdown,
 * boot), and the vCPU and device lists, which the vCPU threads it creates
 * inherit under their own (a filter only narrows). This is what
 * cloud-hypervisor's VMM thread is allowed throughout (vmm_thread_rules in
 * vmm/src/seccomp_filters.rs: open/openat, clone, eventfd2, memfd_create,
 * socket, io_uring_setup, the KVM, VFIO and TUN ioctls that create a VM);
 * cvmm's stays narrower: no execve, no fork (threads only: the teardown
 * helper of kvm_defer_teardown is forked for the first machine only,
 * before the filter), no mmap of executable memory, ioctls by request.
 * The command line's VM without --api-socket never builds twice and keeps
 * SECCOMP_MAIN.
 */
static const int build_calls[] = {
	SCMP_SYS(openat),        /* /dev/kvm, disk images, serial/console
				  * files, /dev/net/tun, VFIO groups, rng source */
	SCMP_SYS(faccessat2),    /* glibc: the kernel's and disks' checks */
	SCMP_SYS(newfstatat), SCMP_SYS(fstatfs), /* image sizes, hugetlbfs */
	SCMP_SYS(lseek),         /* image sizes */
	SCMP_SYS(readlink),      /* VFIO: a device's iommu_group */
	SCMP_SYS(getdents64),    /* VFIO: opendir of a group's devices */
	SCMP_SYS(fcntl),         /* O_NONBLOCK on taps and sockets */
	SCMP_SYS(eventfd2),      /* irqfds, ioeventfds, worker and exit eventfds */
	SCMP_SYS(epoll_create1), /* device workers */
	SCMP_SYS(timerfd_create), /* vsock's answer timeout */
	SCMP_SYS(memfd_create), SCMP_SYS(ftruncate), /* guest RAM's file */
	SCMP_SYS(pipe2),         /* glibc internals; vfio-user */
	SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(connect), /* vsock's listener,
				  * vfio-user servers */
	SCMP_SYS(setsockopt), SCMP_SYS(getsockopt),
	SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_register), /* blk's engine */
	SCMP_SYS(rt_sigaction),  /* vcpu_signal_init: the kick's handler */
	SCMP_SYS(set_robust_list), SCMP_SYS(rseq), /* new vCPU threads */
	SCMP_SYS(sched_getaffinity), /* glibc's pthread_getattr_np */
	/* vm.snapshot: the folder, guest RAM's resident pages (kvm_save_ram) */
	SCMP_SYS(mkdir), SCMP_SYS(mkdirat), SCMP_SYS(mincore),
};

static const unsigned long build_ioctls[] = {
	KVM_GET_API_VERSION, KVM_CHECK_EXTENSION, KVM_CREATE_VM,
	KVM_GET_VCPU_MMAP_SIZE, KVM_GET_SUPPORTED_CPUID, KVM_GET_MSR_INDEX_LIST,
	KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2, KVM_SET_TSS_ADDR,
	KVM_SET_IDENTITY_MAP_ADDR, KVM_CREATE_VCPU, KVM_SET_CPUID2,
	/* save_reset_state (API processes keep the machine as built) */
	KVM_GET_IRQCHIP, KVM_GET_PIT2, KVM_GET_FPU, KVM_GET_DEBUGREGS,
	KVM_GET_LAPIC, KVM_GET_MP_STATE, KVM_GET_VCPU_EVENTS, KVM_GET_MSRS,
	KVM_GET_XCRS,
	/* vm.snapshot and vm.restore: the XSAVE area and the KVM clock */
	KVM_GET_XSAVE, KVM_SET_XSAVE, KVM_GET_CLOCK, KVM_SET_CLOCK,
	BLKGETSIZE64,            /* a disk on a block device */
	/* taps (net/tap.c) */
	TUNSETIFF, TUNGETIFF, TUNSETOFFLOAD, TUNSETVNETHDRSZ,
	SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCGIFMTU, SIOCSIFADDR, SIOCSIFNETMASK,
	/* passthrough devices (vfio/kernel.c, vfio/pci_dev.c) */
	VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU,
	VFIO_GROUP_GET_STATUS, VFIO_GROUP_SET_CONTAINER, VFIO_GROUP_GET_DEVICE_FD,
	VFIO_DEVICE_GET_INFO, VFIO_DEVICE_GET_REGION_INFO,
	VFIO_DEVICE_GET_IRQ_INFO, VFIO_IOMMU_MAP_DMA,
};

static const struct sc_list build_list = {
	build_calls, N(build_calls), build_ioctls, N(build_ioctls),
	vcpu_prctls, N(vcpu_prctls), NULL, 0,
};

/* ---- sanitizer runtimes ---- */

/*
 * What the ASan/UBSan runtimes do on their own, from any thread: a report
 * reads /proc/self/maps and the binary (open, fstat, pipe2 to probe memory,
 * readlink of /proc/self/exe); a thread's end drops its alternate signal
 * stack; a new thread asks for its affinity (pthread_getattr_np, to find
 * its stack); the leak check at exit (main thread) clones a tracer that lists
 * /proc/self/task and stops the other threads with ptrace. Found by running
 * the suites with the filters logging (SCMP_ACT_LOG). Never in a production
 * build.
 */
static const int sanitizer_calls[] = {
	SCMP_SYS(sigaltstack), SCMP_SYS(sched_yield), SCMP_SYS(getppid),
	SCMP_SYS(prctl), SCMP_SYS(rt_sigaction), SCMP_SYS(open), SCMP_SYS(openat),
	SCMP_SYS(close), SCMP_SYS(getdents), SCMP_SYS(lseek), SCMP_SYS(fcntl),
	SCMP_SYS(newfstatat), SCMP_SYS(readlink), SCMP_SYS(pipe2), SCMP_SYS(ptrace),
	SCMP_SYS(wait4), SCMP_SYS(sched_getaffinity),
	SCMP_SYS(gettimeofday), /* TSan, in device threads */
	SCMP_SYS(fstat),        /* TSan's fstat (a reboot reloads the kernel) */
};

/* ---- building a filter ---- */

static int add(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned argc,
	       const struct scmp_arg_cmp *args)
{
	int r = seccomp_rule_add_array(ctx, action, nr, argc, args);
	/* The same rule from two lists is fine. */
	return r == -EEXIST ? 0 : r;
}

static int allow(scmp_filter_ctx ctx, int nr)
{
	return add(ctx, SCMP_ACT_ALLOW, nr, 0, NULL);
}

/* Allows call nr when (argument `arg` & mask) == value. */
static int allow_masked(scmp_filter_ctx ctx, int nr, unsigned arg, uint64_t mask,
			uint64_t value)
{
	struct scmp_arg_cmp c = {
		.arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = mask, .datum_b = value,
	};
	return add(ctx, SCMP_ACT_ALLOW, nr, 1, &c);
}

static int allow_eq(scmp_filter_ctx ctx, int nr, unsigned arg, uint64_t value)
{
	struct scmp_arg_cmp c = { .arg = arg, .op = SCMP_CMP_EQ, .datum_a = value };
	return add(ctx, SCMP_ACT_ALLOW, nr, 1, &c);
}

static int add_list(scmp_filter_ctx ctx, const struct sc_list *l, uint32_t pid)
{
	int r = 0;
	for (size_t i = 0; !r && i < l->ncalls; i++)
		r = allow(ctx, l->calls[i]);
	/* The kernel reads the request as 32 bits; compare those. */
	for (size_t i = 0; !r && i < l->nioctls; i++)
		r = allow_masked(ctx, SCMP_SYS(ioctl), 1, 0xffffffffULL, l->ioctls[i]);
	for (size_t i = 0; !r && i < l->nprctls; i++)
		r = allow_eq(ctx, SCMP_SYS(prctl), 0, (uint64_t)l->prctls[i]);
	for (size_t i = 0; !r && i < l->nsignals; i++) {
		struct scmp_arg_cmp c[2] = {
			{ .arg = 0, .op = SCMP_CMP_EQ, .datum_a = (uint64_t)pid },
			{ .arg = 2, .op = SCMP_CMP_EQ, .datum_a = (uint64_t)l->signals[i] },
		};
		r = add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 2, c);
	}
	return r;
}

int seccomp_rules_add(scmp_filter_ctx ctx, enum seccomp_thread kind, uint32_t pid,
		      bool sanitized)
{
	const struct sc_list base = {
		base_calls, N(base_calls), base_ioctls, N(base_ioctls),
		base_prctls, N(base_prctls), base_signals, N(base_signals),
	};
	int r = add_list(ctx, &base, pid);
	/* Memory may be mapped and protected, never executable. */
	r = r ?: allow_masked(ctx, SCMP_SYS(mmap), 2, PROT_EXEC, 0);
	r = r ?: allow_masked(ctx, SCMP_SYS(mprotect), 2, PROT_EXEC, 0);
	switch (kind) {
	case SECCOMP_MAIN:
		r = r ?: add_list(ctx, &main_list, pid);
		/* vm_reboot reads the kernel and initramfs files again: they may
		 * be opened, read-only (no create, truncate or append). */
		r = r ?: allow_masked(ctx, SCMP_SYS(openat), 2,
				      O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, O_RDONLY);
		break;
	case SECCOMP_VMM:
		r = r ?: add_list(ctx, &main_list, pid);
		r = r ?: add_list(ctx, &build_list, pid);
		/* The taps' address and flags go through an AF_INET socket. */
		r = r ?: allow_eq(ctx, SCMP_SYS(socket), 0, AF_INET);
		/* And what the vCPU threads it creates inherit. */
		__attribute__((fallthrough));
	case SECCOMP_VCPU:
		r = r ?: add_list(ctx, &vcpu_list, pid);
		r = r ?: add_list(ctx, &device_list, pid);
		/* pthread_create of a device thread: threads only, never a new
		 * process. clone3 passes its flags in memory a filter cannot
		 * read, so it fails with ENOSYS and glibc falls back to clone. */
		r = r ?: allow_masked(ctx, SCMP_SYS(clone), 0, CLONE_THREAD, CLONE_THREAD);
		r = r ?: add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, NULL);
		/* The new device thread loads its own filter. */
		r = r ?: allow_eq(ctx, SCMP_SYS(seccomp), 0, SECCOMP_SET_MODE_FILTER);
		/* KVM_RUN first: it is the call a vCPU makes most. */
		r = r ?: seccomp_syscall_priority(ctx, SCMP_SYS(ioctl), 255);
		break;
	case SECCOMP_DEVICE:
		r = r ?: add_list(ctx, &device_list, pid);
		break;
	}
	/* vsock's device thread makes UNIX sockets (guest connections), of no
	 * other family; the vCPU filter allows it too, as it does the device
	 * list: device threads start under it (and a vCPU's activation of a
	 * vhost-user device reconnects to its backend: vhost/user.c). */
	if (kind != SECCOMP_MAIN)
		r = r ?: allow_eq(ctx, SCMP_SYS(socket), 0, AF_UNIX);
	if (!sanitized)
		return r;
	for (size_t i = 0; !r && i < N(sanitizer_calls); i++)
		r = allow(ctx, sanitizer_calls[i]);
	/* The leak checker's tracer shares our memory: CLONE_VM, not a fork. */
	r = r ?: allow_masked(ctx, SCMP_SYS(clone), 0, CLONE_VM, CLONE_VM);
	return r;
}
