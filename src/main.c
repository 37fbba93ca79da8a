/* SPDX-License-Identifier: MIT */
/*
 * cvmm: parse the command line, build the VM, run it, exit with its status.
 * Exit status: the guest's (reset 0, debug-exit V), 1 for a VM failure,
 * 2 for bad usage (an option, or a file it names that cannot be used); a
 * disk whose final flush failed turns 0 into 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "revision.h" /* CVMM_REVISION, generated: $(BUILD)/gen/revision.h */
#include "term.h"
#include "vm.h"

/* A closed 0/1/2 must not be reused by /dev/kvm or a disk image. */
static void ensure_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) < 0) {
			int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
			if (n >= 0 && n != fd)
				close(n);
		}
	}
}

/*
 * The soft limit of open files up to the hard one: every passthrough
 * MSI-X vector the guest uses, every disk, tap and socket is a file, and a
 * soft limit of 1024 (the usual default) is below what one NIC's vectors
 * can take. cvmm waits with epoll and poll only (no select), so a large
 * limit is safe. A failure leaves the limit as it was.
 */
static void raise_nofile_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	uint64_t start_ns = vm_now_ns();
	ensure_std_fds();
	/*
	 * One malloc arena for every thread. A thread's own arena is an
	 * mmap'd heap; when a free() shrinks it, glibc opens
	 * /proc/sys/vm/overcommit_memory (once per process), which no
	 * device or vCPU thread's seccomp filter allows: the process would be
	 * killed (found with virtio-vsock's buffers). The main arena grows and
	 * trims with brk, which every filter allows. cvmm's threads allocate
	 * little after start, so sharing the arena's lock costs nothing.
	 */
	mallopt(M_ARENA_MAX, 1);
	raise_nofile_limit();

	struct vm_config cfg;
	char err[512];
	if (config_parse(&cfg, argc, argv, err, sizeof(err))) {
		fprintf(stderr, "cvmm: %s\n", err);
		return 2;
	}
	if (cfg.show_help) {
		fputs(config_usage(), stdout);
		return 0;
	}
	if (cfg.show_version) {
		printf("cvmm %s (%s)\n", CVMM_VERSION, CVMM_REVISION);
		return 0;
	}
	/* A file an option names that cannot be used is bad usage too. */
	if (config_check_files(&cfg, CONFIG_NAMES_CLI, err, sizeof(err))) {
		fprintf(stderr, "cvmm: %s\n", err);
		return 2;
	}
	/* --log-file: the one log (stderr) goes to the file from here on. */
	if (cfg.log_file) {
		int fd = open(cfg.log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
			fprintf(stderr, "cvmm: --log-file %s: %s\n", cfg.log_file, strerror(errno));
			return 2;
		}
		close(fd);
	}
	log_set_level(cfg.log_level);
	/* A closed serial reader gives EPIPE, not death. */
	signal(SIGPIPE, SIG_IGN);
	atexit(term_restore);
	term_install_fatal_handlers();

	struct vm vm;
	int status = 1;
	/* --api-socket without --kernel: the VM comes from vm.create/vm.boot. */
	int ret = cfg.kernel ? vm_build(&vm, &cfg, start_ns) : vm_prepare(&vm, &cfg, start_ns);
	/* --restore: a snapshot it cannot take is bad usage (one line, 2). */
	if (ret == 0 && cfg.restore_url) {
		ret = vm_restore(&vm, cfg.restore_url, cfg.restore_prefault, cfg.restore_resume,
				 err, sizeof(err));
		if (ret) {
			fprintf(stderr, "cvmm: --restore %s: %s\n", cfg.restore_url, err);
			vm_destroy(&vm);
			return 2;
		}
	}
	if (ret == 0)
		status = vm_run(&vm);
	/* Lost disk data is a failure, however the guest ended. */
	if (vm_destroy(&vm) < 0 && status == 0)
		status = 1;
	return status;
}
