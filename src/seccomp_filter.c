/* SPDX-License-Identifier: MIT */
/*
 * Installing the seccomp filters: the BPF programs generated at build time
 * from seccomp_rules.c (seccomp_bpf.h), and the SIGSYS handler that names a
 * forbidden call.
 */
#include "seccomp_filter.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "seccomp_bpf.h"
#include "term.h"

/* si_code of a SIGSYS from a filter (SYS_SECCOMP, not in glibc's headers). */
#define SI_CODE_SECCOMP 1

/* The Makefile defines CVMM_SANITIZED for SAN= builds; a build outside it
 * (the fuzz targets, clang) is recognised by its compiler's own macros.
 * Sanitizer builds load the filters that also allow what the sanitizer
 * runtimes call on their own. */
#ifndef CVMM_SANITIZED
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CVMM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CVMM_SANITIZED 1
#endif
#endif
#endif

_Static_assert(SECCOMP_VMM + 1 == SECCOMP_BPF_KINDS,
	       "one generated program per enum seccomp_thread");

#ifdef CVMM_SANITIZED
#define SECCOMP_PROGS seccomp_bpf_sanitized
#else
#define SECCOMP_PROGS seccomp_bpf_plain
#endif

/* ---- the SIGSYS handler (async-signal-safe: no stdio, no malloc) ---- */

/*
 * thread_kind: the kind of filter the calling thread installed itself (-1:
 * none, or only the one it inherited from its creator), for the SIGSYS
 * handler, which cannot be handed a context pointer. Written by its own
 * thread only; initial-exec TLS is safe to read in a signal handler.
 */
static __thread int thread_kind __attribute__((tls_model("initial-exec"))) = -1;

static size_t put_str(char *buf, size_t pos, size_t cap, const char *s)
{
	while (*s && pos + 1 < cap)
		buf[pos++] = *s++;
	return pos;
}

static size_t put_num(char *buf, size_t pos, size_t cap, unsigned long long v,
		      unsigned base)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n && pos + 1 < cap)
		buf[pos++] = tmp[--n];
	return pos;
}

/*
 * One line, e.g.
 *   cvmm: fatal: seccomp: vcpu thread 'vcpu0' made forbidden syscall
 *   41 (socket), args 0x1, 0x1, 0x0; killing the process (--seccomp off
 *   disables the filters)
 * then the process dies by SIGSYS.
 */
static void sigsys_handler(int sig, siginfo_t *si, void *ucontext)
{
	(void)sig;
	char name[17] = { 0 };
	if (prctl(PR_GET_NAME, name) != 0)
		name[0] = '?';
	int kind = thread_kind;
	char line[320];
	size_t cap = sizeof(line) - 2, n = 0;
	n = put_str(line, n, cap, "cvmm: fatal: seccomp: ");
	n = put_str(line, n, cap, kind >= 0 ? seccomp_thread_kind_name(kind) : "filtered");
	n = put_str(line, n, cap, " thread '");
	n = put_str(line, n, cap, name);
	if (si->si_code == SI_CODE_SECCOMP) {
		const greg_t *g = ((const ucontext_t *)ucontext)->uc_mcontext.gregs;
		unsigned nr = (unsigned)si->si_syscall;
		n = put_str(line, n, cap, "' made forbidden syscall ");
		n = put_num(line, n, cap, nr, 10);
		if (nr < SECCOMP_SYSCALL_NAMES && seccomp_syscall_names[nr][0]) {
			n = put_str(line, n, cap, " (");
			n = put_str(line, n, cap, seccomp_syscall_names[nr]);
			n = put_str(line, n, cap, ")");
		}
		n = put_str(line, n, cap, ", args 0x");
		n = put_num(line, n, cap, (unsigned long long)g[REG_RDI], 16);
		n = put_str(line, n, cap, ", 0x");
		n = put_num(line, n, cap, (unsigned long long)g[REG_RSI], 16);
		n = put_str(line, n, cap, ", 0x");
		n = put_num(line, n, cap, (unsigned long long)g[REG_RDX], 16);
		n = put_str(line, n, cap, "; killing the process "
				     "(--seccomp off disables the filters)");
	} else {
		n = put_str(line, n, cap, "' got SIGSYS; killing the process");
	}
	line[n++] = '\r';
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	term_restore();
	/*
	 * SA_RESETHAND put back the default action (terminate with a core)
	 * and SIGSYS is blocked until this handler returns: the trapped call
	 * was not executed, and the process dies as the handler returns.
	 */
	raise(SIGSYS);
}

static int install_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigsys_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	return 0;
}

/* ---- installing ---- */

const char *seccomp_thread_kind_name(enum seccomp_thread kind)
{
	switch (kind) {
	case SECCOMP_MAIN: return "main";
	case SECCOMP_VCPU: return "vcpu";
	case SECCOMP_DEVICE: return "device";
	case SECCOMP_VMM: return "vmm";
	}
	return "?";
}

/*
 * glibc reads the time zone (opens /etc/localtime) on the first gmtime_r,
 * which the CMOS RTC makes on a vCPU thread: make that first call while
 * files may still be opened. Later calls return at once (unlike tzset(),
 * which reloads and would race with the RTC's calls on other threads).
 */
static void prime_libc(void)
{
	time_t t = 0;
	struct tm tm;
	gmtime_r(&t, &tm);
}

bool seccomp_thread_filtered(void)
{
	return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2; /* SECCOMP_MODE_FILTER */
}

int seccomp_install(enum seccomp_thread kind, bool enabled)
{
	if (!enabled)
		return 0;
	if ((unsigned)kind >= SECCOMP_BPF_KINDS)
		return -EINVAL;
	const char *what = seccomp_thread_kind_name(kind);
	int r = 0;
	/* A stacked filter relies on the handler its first filter installed
	 * (and may not be allowed rt_sigaction any more). */
	if (!seccomp_thread_filtered()) {
		prime_libc();
		r = install_handler();
	}
	if (!r) {
		/* A blocked SIGSYS would kill without the handler's line. */
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGSYS);
		r = -pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	if (r) {
		log_error("seccomp: %s filter: SIGSYS handler: %s", what, strerror(-r));
		return r;
	}

	/* The generated program, with this process's pid where it goes. */
	const struct seccomp_bpf_prog *p = &SECCOMP_PROGS[kind];
	struct sock_filter *insns = malloc(p->len * sizeof(*insns));
	if (!insns) {
		log_error("seccomp: %s filter: out of memory", what);
		return -ENOMEM;
	}
	memcpy(insns, p->insns, p->len * sizeof(*insns));
	uint32_t pid = (uint32_t)getpid();
	for (unsigned i = 0; i < p->npid; i++)
		insns[p->pid_at[i]].k = pid;
	struct sock_fprog prog = { .len = p->len, .filter = insns };

	/* Before the load: the next call may already trap. */
	int prev = thread_kind;
	thread_kind = (int)kind;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		r = -errno;
		thread_kind = prev;
	}
	free(insns);
	if (r) {
		log_error("seccomp: cannot install the %s filter: %s", what, strerror(-r));
		return r;
	}
	log_debug("seccomp: %s filter installed", what);
	return 0;
}
