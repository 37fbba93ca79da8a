/* SPDX-License-Identifier: MIT */
/*
 * Seccomp filters (src/seccomp_filter.c). Each case forks: the child names
 * itself, installs one kind's filter and makes one call; the parent checks
 * how the child ended (exit 0: allowed; killed by SIGSYS: forbidden) and
 * that a forbidden call left the one clear line on stderr. Device threads
 * are checked through the real worker (virtio/worker.c) started from a
 * thread under the vCPU filter: the filters stack, and the device list wins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp_bpf.h"
#include "seccomp_filter.h"
#include "vfio/kernel.h"
#include "virtio/worker.h"

/* The Makefile defines CVMM_SANITIZED in SAN= builds: their lists also
 * allow what the sanitizer runtimes open and read. */
#ifdef CVMM_SANITIZED
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#define CHILD_NAME "sc-test"

/* Descriptors made before the filter goes on (no list may create them). */
struct scratch {
	int rd, wr; /* a pipe */
};

typedef void (*probe_fn)(const struct scratch *s);

static void *thread_fn(void *arg)
{
	return arg;
}

struct result {
	bool killed;    /* by SIGSYS */
	int exit_code;  /* when not killed: 0 = the call was allowed */
	char err[1024]; /* the child's stderr */
};

/* Runs probe in a child under kind's filter (or none with !filter). */
static void run_child(enum seccomp_thread kind, bool filter, probe_fn probe,
		      struct result *r)
{
	int errp[2];
	struct scratch s;
	int p[2];
	assert_int_equal(pipe2(errp, O_CLOEXEC), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	s.rd = p[0];
	s.wr = p[1];
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(errp[1], STDERR_FILENO);
		struct rlimit core = { 0, 0 };
		setrlimit(RLIMIT_CORE, &core);
		signal(SIGUSR1, SIG_IGN);
		prctl(PR_SET_NAME, CHILD_NAME);
		/* As in cvmm, other threads have existed before any filter
		 * (glibc's one-time set-up of the first pthread_create). */
		pthread_t t;
		if (pthread_create(&t, NULL, thread_fn, NULL) || pthread_join(t, NULL))
			_exit(98);
		if (seccomp_install(kind, filter))
			_exit(99);
		probe(&s);
		_exit(0);
	}
	close(errp[1]);
	close(p[0]);
	close(p[1]);
	memset(r, 0, sizeof(*r));
	size_t len = 0;
	ssize_t n;
	while ((n = read(errp[0], r->err + len, sizeof(r->err) - 1 - len)) > 0)
		len += (size_t)n;
	close(errp[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status)) {
		assert_int_equal(WTERMSIG(status), SIGSYS);
		r->killed = true;
	} else {
		assert_true(WIFEXITED(status));
		r->exit_code = WEXITSTATUS(status);
	}
}

static void expect_allowed(enum seccomp_thread kind, probe_fn probe, const char *what)
{
	struct result r;
	run_child(kind, true, probe, &r);
	if (r.killed || r.exit_code != 0)
		fail_msg("%s filter: %s: killed %d, exit %d, stderr: %s",
			 seccomp_thread_kind_name(kind), what, r.killed, r.exit_code, r.err);
}

static void expect_killed(enum seccomp_thread kind, probe_fn probe, long nr,
			  const char *what)
{
	struct result r;
	run_child(kind, true, probe, &r);
	if (!r.killed)
		fail_msg("%s filter: %s was allowed (exit %d)",
			 seccomp_thread_kind_name(kind), what, r.exit_code);
	char want[128];
	snprintf(want, sizeof(want),
		 "cvmm: fatal: seccomp: %s thread '" CHILD_NAME "' made forbidden syscall %ld ",
		 seccomp_thread_kind_name(kind), nr);
	if (!strstr(r.err, want))
		fail_msg("%s filter: %s: stderr lacks \"%s\": %s",
			 seccomp_thread_kind_name(kind), what, want, r.err);
	/* One line, nothing else. */
	const char *nl = strchr(r.err, '\n');
	assert_non_null(nl);
	assert_string_equal(nl + 1, "");
}

/* ---- probes: each makes one call and exits 1 if it failed unexpectedly ---- */

static void probe_nothing(const struct scratch *s)
{
	(void)s;
}

static void probe_write(const struct scratch *s)
{
	if (write(s->wr, "x", 1) != 1)
		_exit(1);
}

static void probe_malloc(const struct scratch *s)
{
	(void)s;
	/* Large enough for glibc to mmap and munmap it. */
	void *p = malloc(4 << 20);
	if (!p)
		_exit(1);
	memset(p, 1, 4 << 20);
	free(p);
}

static void probe_openat(const struct scratch *s)
{
	(void)s;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		_exit(1);
}

/* Creating (or writing) a file: no list may. */
static void probe_create(const struct scratch *s)
{
	(void)s;
	char path[64];
	snprintf(path, sizeof(path), "/tmp/cvmm-seccomp-test-%d", (int)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		_exit(1);
	unlink(path);
}

/* An IP socket: no thread of cvmm's makes one. */
static void probe_socket(const struct scratch *s)
{
	(void)s;
	if (socket(AF_INET, SOCK_STREAM, 0) < 0)
		_exit(1);
}

/* A UNIX socket: vsock's device thread (the guest's connections). */
static void probe_unix_socket(const struct scratch *s)
{
	(void)s;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		_exit(1);
}

static void probe_kvm_run(const struct scratch *s)
{
	/* Not a vCPU fd: an allowed call fails with ENOTTY. */
	if (ioctl(s->rd, KVM_RUN, 0) != -1 || errno != ENOTTY)
		_exit(1);
}

static void probe_kvm_create_vcpu(const struct scratch *s)
{
	if (ioctl(s->rd, KVM_CREATE_VCPU, 0) != -1 || errno != ENOTTY)
		_exit(1);
}

static void probe_preadv(const struct scratch *s)
{
	char b;
	struct iovec iov = { &b, 1 };
	if (preadv(s->rd, &iov, 1, 0) != -1 || errno != ESPIPE)
		_exit(1);
}

static void probe_accept(const struct scratch *s)
{
	if (accept4(s->rd, NULL, NULL, 0) != -1 || errno != ENOTSOCK)
		_exit(1);
}

static void probe_kick(const struct scratch *s)
{
	(void)s;
	/* The vCPU kick signal (ignored in the child). */
	if (syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1) != 0)
		_exit(1);
}

static void probe_kick_other(const struct scratch *s)
{
	(void)s;
	/* The same signal to another pid: the one the generated program holds
	 * until seccomp_install() writes this process's pid over it (no process
	 * has it: it is above pid_max; if allowed, the call fails with ESRCH). */
	pid_t other = (pid_t)SECCOMP_BPF_PID_PLACEHOLDER;
	if (syscall(SYS_tgkill, other, other, SIGUSR1) != 0)
		_exit(1);
}

static void probe_thread(const struct scratch *s)
{
	(void)s;
	pthread_t t;
	void *ret = NULL;
	if (pthread_create(&t, NULL, thread_fn, (void *)1) != 0 ||
	    pthread_join(t, &ret) != 0 || ret != (void *)1)
		_exit(1);
}

static void probe_execve(const struct scratch *s)
{
	(void)s;
	char *const argv[] = { "true", NULL };
	char *const envp[] = { NULL };
	execve("/bin/true", argv, envp);
	_exit(1); /* /bin/true missing: still not what is tested */
}

static void probe_exec_mapping(const struct scratch *s)
{
	(void)s;
	if (mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
	    MAP_FAILED)
		_exit(1);
}

static void probe_fork(const struct scratch *s)
{
	(void)s;
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		_exit(1);
	waitpid(pid, NULL, 0);
}

/* ---- cases ---- */

static void test_disabled_is_a_no_op(void **state)
{
	(void)state;
	struct result r;
	run_child(SECCOMP_DEVICE, false, probe_socket, &r);
	assert_false(r.killed);
	assert_int_equal(r.exit_code, 0);
	/* And in this process: nothing installed. */
	assert_int_equal(seccomp_install(SECCOMP_MAIN, false), 0);
	assert_false(seccomp_thread_filtered());
}

static void test_forbidden_call_kills_with_one_line(void **state)
{
	(void)state;
	static const enum seccomp_thread kinds[] = { SECCOMP_MAIN, SECCOMP_VCPU,
						     SECCOMP_DEVICE };
	for (size_t i = 0; i < 3; i++) {
		expect_killed(kinds[i], probe_socket, SYS_socket, "socket()");
		struct result r;
		run_child(kinds[i], true, probe_socket, &r);
		/* The call by number and name, and its arguments (which ioctl,
		 * which fd). */
		if (!strstr(r.err, "syscall 41 (socket), args 0x2, 0x1, 0x0; killing the process"))
			fail_msg("%s: %s", seccomp_thread_kind_name(kinds[i]), r.err);
	}
}

/* ---- a filter on one thread of several kills the whole process ---- */

static void *vcpu_like_thread(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "sc-vcpu");
	if (seccomp_install(SECCOMP_VCPU, true))
		_exit(99);
	socket(AF_INET, SOCK_STREAM, 0);
	return NULL;
}

static void probe_filtered_thread(const struct scratch *s)
{
	(void)s;
	pthread_t t;
	if (pthread_create(&t, NULL, vcpu_like_thread, NULL) || pthread_join(t, NULL))
		_exit(2);
	_exit(3); /* not reached: the vCPU-like thread's socket() ends the process */
}

static void test_forbidden_call_in_one_thread_kills_the_process(void **state)
{
	(void)state;
	/* The calling thread (like cvmm's main thread before its filter) has
	 * none; the thread it starts installs the vCPU filter and breaks it. */
	struct result r;
	run_child(SECCOMP_MAIN, false, probe_filtered_thread, &r);
	if (!r.killed)
		fail_msg("exit %d, stderr: %s", r.exit_code, r.err);
	char want[128];
	snprintf(want, sizeof(want),
		 "cvmm: fatal: seccomp: vcpu thread 'sc-vcpu' made forbidden syscall %d (socket)",
		 (int)SYS_socket);
	if (!strstr(r.err, want))
		fail_msg("stderr lacks \"%s\": %s", want, r.err);
}

static void test_allowed_calls_work(void **state)
{
	(void)state;
	static const enum seccomp_thread kinds[] = { SECCOMP_MAIN, SECCOMP_VCPU,
						     SECCOMP_DEVICE };
	for (size_t i = 0; i < 3; i++) {
		expect_allowed(kinds[i], probe_nothing, "exit");
		expect_allowed(kinds[i], probe_write, "write");
		expect_allowed(kinds[i], probe_malloc, "malloc/free");
	}
}

static void test_no_kind_creates_forks_execs_or_maps_code(void **state)
{
	(void)state;
	static const enum seccomp_thread kinds[] = { SECCOMP_MAIN, SECCOMP_VCPU,
						     SECCOMP_DEVICE };
	for (size_t i = 0; i < 3; i++) {
		expect_killed(kinds[i], probe_socket, SYS_socket, "socket()");
		expect_killed(kinds[i], probe_kvm_create_vcpu, SYS_ioctl, "KVM_CREATE_VCPU");
		/* fork(): clone without CLONE_THREAD. */
		expect_killed(kinds[i], probe_fork, SYS_clone, "fork()");
		expect_killed(kinds[i], probe_execve, SYS_execve, "execve()");
		expect_killed(kinds[i], probe_exec_mapping, SYS_mmap, "mmap(PROT_EXEC)");
		/* (Sanitizer runtimes open files for their reports.) */
		if (!SANITIZED)
			expect_killed(kinds[i], probe_create, SYS_openat, "openat(O_CREAT)");
	}
}

static void test_each_kind_has_its_own_list(void **state)
{
	(void)state;
	/* KVM_RUN: vCPU only. */
	expect_allowed(SECCOMP_VCPU, probe_kvm_run, "KVM_RUN");
	expect_killed(SECCOMP_MAIN, probe_kvm_run, SYS_ioctl, "KVM_RUN");
	expect_killed(SECCOMP_DEVICE, probe_kvm_run, SYS_ioctl, "KVM_RUN");
	/* Image I/O: device threads (and vCPUs, which start them). */
	expect_allowed(SECCOMP_DEVICE, probe_preadv, "preadv");
	expect_allowed(SECCOMP_VCPU, probe_preadv, "preadv");
	expect_killed(SECCOMP_MAIN, probe_preadv, SYS_preadv, "preadv");
	/* Reading a file (a reboot reloads the kernel): the control loop. */
	if (!SANITIZED) {
		expect_allowed(SECCOMP_MAIN, probe_openat, "openat(O_RDONLY)");
		expect_killed(SECCOMP_VCPU, probe_openat, SYS_openat, "openat(O_RDONLY)");
		expect_killed(SECCOMP_DEVICE, probe_openat, SYS_openat, "openat(O_RDONLY)");
	}
	/* Accepting: API clients (the control loop) and vsock's host
	 * connections (device threads, and vCPUs, which start them). */
	expect_allowed(SECCOMP_MAIN, probe_accept, "accept4");
	expect_allowed(SECCOMP_VCPU, probe_accept, "accept4");
	expect_allowed(SECCOMP_DEVICE, probe_accept, "accept4");
	/* UNIX sockets (vsock's guest connections): device threads only (and
	 * vCPUs, which start them); sockets of another family: nobody. */
	expect_allowed(SECCOMP_DEVICE, probe_unix_socket, "socket(AF_UNIX)");
	expect_allowed(SECCOMP_VCPU, probe_unix_socket, "socket(AF_UNIX)");
	expect_killed(SECCOMP_MAIN, probe_unix_socket, SYS_socket, "socket(AF_UNIX)");
	/* Starting a thread: vCPUs (device activation) only. glibc blocks
	 * every signal around clone3, so the kill comes without the line. */
	expect_allowed(SECCOMP_VCPU, probe_thread, "pthread_create");
	struct result r;
	run_child(SECCOMP_MAIN, true, probe_thread, &r);
	assert_true(r.killed);
	run_child(SECCOMP_DEVICE, true, probe_thread, &r);
	assert_true(r.killed);
	/* Kicking vCPUs: the control loop only. */
	expect_allowed(SECCOMP_MAIN, probe_kick, "tgkill(SIGUSR1)");
	expect_killed(SECCOMP_VCPU, probe_kick, SYS_tgkill, "tgkill(SIGUSR1)");
	expect_killed(SECCOMP_DEVICE, probe_kick, SYS_tgkill, "tgkill(SIGUSR1)");
	/* ... and its own process only. */
	expect_killed(SECCOMP_MAIN, probe_kick_other, SYS_tgkill, "tgkill(other process)");
}

/* ---- a real device thread, started from a filtered vCPU-like thread ---- */

struct worker_ctx {
	int kick;      /* eventfd the worker polls */
	probe_fn probe;
	struct scratch s; /* the worker reports on s.wr */
};

static void worker_handle(void *opaque, unsigned idx)
{
	struct worker_ctx *c = opaque;
	(void)idx;
	eventfd_drain(c->kick);
	char r = 'S'; /* served (under the device filter: no prctl to ask) */
	if (c->probe)
		c->probe(&c->s);
	else
		r = seccomp_thread_filtered() ? 'F' : 'U';
	if (write(c->s.wr, &r, 1) != 1)
		_exit(1);
}

/* Starts a worker, kicks it once, returns what it reported (0 if nothing). */
static char run_worker(struct worker_ctx *c)
{
	struct virtio_worker w;
	memset(&w, 0, sizeof(w));
	w.epoll_fd = w.stop_fd = -1;
	if (virtio_worker_add(&w, c->kick, EPOLLIN) < 0 ||
	    virtio_worker_start(&w, "sc-worker", worker_handle, c))
		return 0;
	uint64_t one = 1;
	char r = 0;
	if (write(c->kick, &one, sizeof(one)) != sizeof(one) || read(c->s.rd, &r, 1) != 1)
		r = 0;
	virtio_worker_stop(&w);
	return r;
}

static void probe_worker_serves(const struct scratch *s)
{
	struct worker_ctx c = { .kick = -1, .probe = probe_preadv, .s = *s };
	c.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c.kick < 0)
		_exit(2);
	if (run_worker(&c) != 'S')
		_exit(3);
}

static void probe_worker_runs_kvm_run(const struct scratch *s)
{
	struct worker_ctx c = { .kick = -1, .probe = probe_kvm_run, .s = *s };
	c.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c.kick < 0)
		_exit(2);
	run_worker(&c);
	_exit(4); /* not reached: the worker's KVM_RUN kills the process */
}

static void test_device_thread_stacks_on_vcpu_filter(void **state)
{
	(void)state;
	/* The vCPU list lets a device thread start (eventfd, epoll, clone,
	 * its own filter) and the device list lets it serve... */
	struct result r;
	run_child(SECCOMP_VCPU, true, probe_worker_serves, &r);
	if (r.killed || r.exit_code)
		fail_msg("worker under the vCPU filter: killed %d, exit %d: %s", r.killed,
			 r.exit_code, r.err);
	/* ...but it is narrowed to the device list: no KVM_RUN, although the
	 * vCPU list that it inherited has it. */
	run_child(SECCOMP_VCPU, true, probe_worker_runs_kvm_run, &r);
	assert_true(r.killed);
	char want[96];
	snprintf(want, sizeof(want),
		 "cvmm: fatal: seccomp: device thread 'sc-worker' made forbidden syscall %d (ioctl)",
		 (int)SYS_ioctl);
	if (!strstr(r.err, want))
		fail_msg("stderr lacks \"%s\": %s", want, r.err);
}

static void test_device_thread_of_unfiltered_creator_is_unfiltered(void **state)
{
	(void)state;
	/* --seccomp off, and unit tests: no filter to narrow, none added. */
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	struct worker_ctx c = { .kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
				.s = { .rd = p[0], .wr = p[1] } };
	assert_true(c.kick >= 0);
	assert_int_equal(run_worker(&c), 'U');
	close(c.kick);
	close(p[0]);
	close(p[1]);
}

/* A fake sysfs device on vfio-pci (made before the fork, read by the
 * child): probe_vfio_probe's path. */
static char vfio_tree[64];
static char vfio_dev[128];

/* vm.add-device's probe of a --device, as an API process's VMM thread
 * makes it (hot-plug): sysfs read, then /dev/vfio/vfio and the group,
 * which this fake device does not have (-ENOENT either way). */
static void probe_vfio_probe(const struct scratch *s)
{
	(void)s;
	struct vfio_sysfs_info info;
	char why[256];
	if (vfio_kernel_probe(vfio_dev, &info, why, sizeof(why)) != -ENOENT)
		_exit(1);
}

static void test_vmm_probes_a_hotplugged_device(void **state)
{
	(void)state;
	snprintf(vfio_tree, sizeof(vfio_tree), "/tmp/cvmm-sc-vfio-XXXXXX");
	assert_non_null(mkdtemp(vfio_tree));
	snprintf(vfio_dev, sizeof(vfio_dev), "%s/0000:01:00.0", vfio_tree);
	assert_int_equal(mkdir(vfio_dev, 0755), 0);
	const char *links[3][2] = { { "subsystem", "../bus/pci" },
				    { "driver", "../drivers/vfio-pci" },
				    { "iommu_group", "../kernel/iommu_groups/4242" } };
	char p[256];
	for (unsigned i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", vfio_dev, links[i][0]);
		assert_int_equal(symlink(links[i][1], p), 0);
	}
	/* (glibc's access() is the access syscall, which no list allows:
	 * the probe used it, and vm.add-device killed cvmm) */
	expect_allowed(SECCOMP_VMM, probe_vfio_probe, "vfio_kernel_probe");
	for (unsigned i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", vfio_dev, links[i][0]);
		unlink(p);
	}
	rmdir(vfio_dev);
	rmdir(vfio_tree);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disabled_is_a_no_op),
		cmocka_unit_test(test_forbidden_call_kills_with_one_line),
		cmocka_unit_test(test_forbidden_call_in_one_thread_kills_the_process),
		cmocka_unit_test(test_allowed_calls_work),
		cmocka_unit_test(test_no_kind_creates_forks_execs_or_maps_code),
		cmocka_unit_test(test_each_kind_has_its_own_list),
		cmocka_unit_test(test_device_thread_stacks_on_vcpu_filter),
		cmocka_unit_test(test_device_thread_of_unfiltered_creator_is_unfiltered),
		cmocka_unit_test(test_vmm_probes_a_hotplugged_device),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
