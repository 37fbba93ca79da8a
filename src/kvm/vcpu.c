/* SPDX-License-Identifier: MIT */
#include "kvm/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "arch/arch.h"
#include "seccomp_filter.h"

/* The signal that kicks a vCPU thread out of KVM_RUN. */
#define VCPU_KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
	(void)sig;
}

int vcpu_signal_init(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN must return EINTR. */
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int vcpu_create(struct vcpu *v, struct kvm *kvm, unsigned id, struct bus *pio,
		struct bus *mmio, struct exit_request exit)
{
	memset(v, 0, sizeof(*v));
	v->id = id;
	v->pio = pio;
	v->mmio = mmio;
	v->exit = exit;
	v->fd = ioctl(kvm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0) {
		int err = errno;
		log_error("KVM_CREATE_VCPU %u: %s", id, strerror(err));
		return -err;
	}
	v->run_size = (size_t)kvm->vcpu_mmap_size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		int err = errno;
		log_error("mmap kvm_run of vCPU %u: %s", id, strerror(err));
		v->run = NULL;
		close(v->fd);
		v->fd = -1;
		return -err;
	}
	pthread_mutex_init(&v->pause_lock, NULL);
	pthread_cond_init(&v->pause_cond, NULL);
	v->pause_inited = true;
	return 0;
}

const char *vcpu_exit_reason_name(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_UNKNOWN: return "unknown";
	case KVM_EXIT_EXCEPTION: return "exception";
	case KVM_EXIT_IO: return "io";
	case KVM_EXIT_HYPERCALL: return "hypercall";
	case KVM_EXIT_DEBUG: return "debug";
	case KVM_EXIT_HLT: return "hlt";
	case KVM_EXIT_MMIO: return "mmio";
	case KVM_EXIT_IRQ_WINDOW_OPEN: return "irq_window_open";
	case KVM_EXIT_SHUTDOWN: return "shutdown";
	case KVM_EXIT_FAIL_ENTRY: return "fail_entry";
	case KVM_EXIT_INTR: return "intr";
	case KVM_EXIT_SET_TPR: return "set_tpr";
	case KVM_EXIT_TPR_ACCESS: return "tpr_access";
	case KVM_EXIT_NMI: return "nmi";
	case KVM_EXIT_INTERNAL_ERROR: return "internal_error";
	case KVM_EXIT_SYSTEM_EVENT: return "system_event";
	default: return "other";
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	for (uint32_t i = 0; i < run->io.count; i++) {
		if (!bus_access(v->pio, run->io.port, data, run->io.size, is_write))
			log_ratelimited(&v->io_rl, LOG_DEBUG,
					"vCPU %u: unhandled port %s 0x%x size %u",
					v->id, is_write ? "write" : "read",
					run->io.port, run->io.size);
		data += run->io.size;
	}
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	if (run->mmio.len == 0 || run->mmio.len > sizeof(run->mmio.data))
		return;
	if (!bus_access(v->mmio, run->mmio.phys_addr, run->mmio.data,
			run->mmio.len, run->mmio.is_write))
		log_ratelimited(&v->io_rl, LOG_DEBUG,
				"vCPU %u: unhandled MMIO %s 0x%llx len %u", v->id,
				run->mmio.is_write ? "write" : "read",
				(unsigned long long)run->mmio.phys_addr,
				run->mmio.len);
}

/* Ends the VM with `status` after logging why (and the registers if fatal). */
static void vcpu_fatal(struct vcpu *v, const char *why)
{
	log_error("vCPU %u: %s", v->id, why);
	arch_vcpu_dump(v->fd, v->id, LOG_ERROR);
	exit_request_send(&v->exit, 1, why);
}

/*
 * KVM gave up. An instruction its emulator lacks may still be one the VMM
 * can carry out (arch_complete_emulation: INT3 while Linux patches its
 * text); anything else ends the VM, naming the instruction's bytes.
 * Returns true when the vCPU loop must end.
 */
static bool handle_internal_error(struct vcpu *v)
{
	const struct kvm_run *run = v->run;
	char why[160], insn[64];
	uint64_t pc = 0;
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
		int rc = arch_complete_emulation(v->fd, run, &pc);
		if (rc == 0) {
			atomic_fetch_add_explicit(&v->emulated, 1, memory_order_relaxed);
			log_ratelimited(&v->emul_rl, LOG_DEBUG,
					"vCPU %u: instruction at %#llx completed by cvmm "
					"(KVM's emulator lacks it)", v->id, (unsigned long long)pc);
			return false;
		}
		if (arch_describe_emulation_failure(run, insn, sizeof(insn)) == 0) {
			snprintf(why, sizeof(why),
				 "KVM internal error: cannot emulate instruction [%s]", insn);
			vcpu_fatal(v, why);
			return true;
		}
	}
	snprintf(why, sizeof(why), "KVM internal error, suberror %u", run->internal.suberror);
	vcpu_fatal(v, why);
	return true;
}

/* Returns true when the vCPU loop must end. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char why[160];
	uint32_t reason = run->exit_reason;
	atomic_fetch_add_explicit(
		&v->exit_counts[reason < VCPU_EXIT_REASONS ? reason : VCPU_EXIT_REASONS - 1],
		1, memory_order_relaxed);
	switch (reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return false;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return false;
	case KVM_EXIT_INTR:
		return false;
	case KVM_EXIT_SHUTDOWN:
		vcpu_fatal(v, "triple fault (KVM_EXIT_SHUTDOWN)");
		return true;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(why, sizeof(why), "VM entry failed, reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vcpu_fatal(v, why);
		return true;
	case KVM_EXIT_INTERNAL_ERROR:
		return handle_internal_error(v);
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			exit_request_send(&v->exit, 0, "guest shutdown");
			return true;
		case KVM_SYSTEM_EVENT_RESET:
			exit_request_send(&v->exit, 0, "guest reset");
			return true;
		default:
			snprintf(why, sizeof(why), "system event %u",
				 run->system_event.type);
			vcpu_fatal(v, why);
			return true;
		}
	case KVM_EXIT_HLT:
		/* With the in-kernel LAPIC, HLT never reaches user space. */
		vcpu_fatal(v, "unexpected HLT exit");
		return true;
	default:
		snprintf(why, sizeof(why), "unhandled exit reason %u (%s)", reason,
			 vcpu_exit_reason_name(reason));
		vcpu_fatal(v, why);
		return true;
	}
}

/*
 * Lets KVM finish what the last exit left pending (the data of a port or
 * MMIO read goes into the registers on the next KVM_RUN; a string I/O may
 * need more exits): KVM_RUN with immediate_exit set completes that and
 * returns EINTR without running a further guest instruction. So a parked
 * vCPU's registers are final (its state can be read or replaced).
 * Returns true when the vCPU loop must end.
 */
static bool vcpu_settle(struct vcpu *v)
{
	for (;;) {
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		int r = ioctl(v->fd, KVM_RUN, 0);
		if (r < 0) {
			int err = errno;
			if (err == EINTR || err == EAGAIN)
				return false;
			char why[96];
			snprintf(why, sizeof(why), "KVM_RUN failed: %s", strerror(err));
			vcpu_fatal(v, why);
			return true;
		}
		if (handle_exit(v))
			return true;
	}
}

/*
 * Parks the thread while a pause is requested (and no stop), once the last
 * exit is complete. Returns true when the vCPU loop must end.
 */
static bool vcpu_park(struct vcpu *v)
{
	if (vcpu_settle(v))
		return true;
	pthread_mutex_lock(&v->pause_lock);
	if (atomic_load(&v->pause_req) && !atomic_load(&v->stop)) {
		v->parked = true;
		pthread_cond_broadcast(&v->pause_cond);
		for (;;) {
			if (v->counted_gen != v->pause_gen) {
				v->counted_gen = v->pause_gen;
				atomic_fetch_add_explicit(&v->pauses, 1,
							  memory_order_relaxed);
			}
			if (!atomic_load(&v->pause_req) || atomic_load(&v->stop))
				break;
			pthread_cond_wait(&v->pause_cond, &v->pause_lock);
		}
		v->parked = false;
	}
	/* A kick that came while parked must not cost a spurious exit. */
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&v->pause_lock);
	return false;
}

/* The thread is leaving: wake anyone waiting for it to park. */
static void vcpu_mark_exited(struct vcpu *v)
{
	pthread_mutex_lock(&v->pause_lock);
	v->exited = true;
	pthread_cond_broadcast(&v->pause_cond);
	pthread_mutex_unlock(&v->pause_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	char name[16];
	snprintf(name, sizeof(name), "vcpu%u", v->id); /* Kata pins vCPUs by this name */
	pthread_setname_np(pthread_self(), name);
	pthread_mutex_lock(&v->pause_lock);
	v->named = true;
	pthread_cond_broadcast(&v->pause_cond);
	pthread_mutex_unlock(&v->pause_lock);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	/* Never run the guest without the filter asked for. */
	if (seccomp_install(SECCOMP_VCPU, v->seccomp)) {
		exit_request_send(&v->exit, 1, "cannot install the vCPU seccomp filter");
		atomic_store(&v->stop, true);
	}

	while (!atomic_load(&v->stop)) {
		if (atomic_load(&v->pause_req)) {
			if (vcpu_park(v))
				break;
			continue;
		}
		if (!v->first_run_ns)
			v->first_run_ns = now_ns();
		int r = ioctl(v->fd, KVM_RUN, 0);
		if (r < 0) {
			int err = errno;
			if (err == EINTR || err == EAGAIN) {
				__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				continue;
			}
			char why[96];
			snprintf(why, sizeof(why), "KVM_RUN failed: %s", strerror(err));
			vcpu_fatal(v, why);
			break;
		}
		if (handle_exit(v))
			break;
	}
	vcpu_mark_exited(v);
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	/* The thread inherits this mask; it unblocks the kick signal itself. */
	int err = pthread_create(&v->thread, NULL, vcpu_thread, v);
	if (err) {
		log_error("cannot start vCPU %u thread: %s", v->id, strerror(err));
		return -err;
	}
	v->thread_started = true;
	return 0;
}

void vcpu_wait_named(struct vcpu *v)
{
	if (!v->thread_started)
		return;
	pthread_mutex_lock(&v->pause_lock);
	while (!v->named && !v->exited)
		pthread_cond_wait(&v->pause_cond, &v->pause_lock);
	pthread_mutex_unlock(&v->pause_lock);
}

void vcpu_stop(struct vcpu *v)
{
	atomic_store(&v->stop, true);
	if (!v->thread_started)
		return;
	/* A parked vCPU waits on the condition variable, not in KVM_RUN. */
	pthread_mutex_lock(&v->pause_lock);
	pthread_cond_broadcast(&v->pause_cond);
	pthread_mutex_unlock(&v->pause_lock);
	/* immediate_exit covers a kick that lands just before KVM_RUN. */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *v)
{
	if (!v->thread_started)
		return;
	/* Keep kicking until it is out: a kick between the stop check and
	 * KVM_RUN is caught by immediate_exit, but be robust anyway. */
	struct timespec ts;
	for (;;) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_timedjoin_np(v->thread, NULL, &ts) == 0)
			break;
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
	}
	v->thread_started = false;
}

void vcpu_pause(struct vcpu *v)
{
	pthread_mutex_lock(&v->pause_lock);
	atomic_store(&v->pause_req, true);
	v->pause_gen++;
	/* Wakes a thread still parked from the last request, to count it. */
	pthread_cond_broadcast(&v->pause_cond);
	pthread_mutex_unlock(&v->pause_lock);
	if (!v->thread_started)
		return;
	/* Same kick as stop: pause_req is visible before immediate_exit. */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

int vcpu_wait_paused(struct vcpu *v, unsigned timeout_ms)
{
	if (!v->thread_started)
		return 0;
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	int ret = 0;
	pthread_mutex_lock(&v->pause_lock);
	/* Parked for this request: not just still parked from the last one. */
	while (!(v->parked && v->counted_gen == v->pause_gen) && !v->exited) {
		uint64_t now = now_ns();
		if (now >= deadline) {
			ret = -ETIMEDOUT;
			break;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t wait = deadline - now < 50000000ULL ? deadline - now : 50000000ULL;
		ts.tv_nsec += (long)wait;
		while (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		int err = pthread_cond_timedwait(&v->pause_cond, &v->pause_lock, &ts);
		if (err == ETIMEDOUT && !v->parked && !v->exited) {
			/* Still in KVM_RUN (the kick raced): kick again. */
			__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
			pthread_kill(v->thread, VCPU_KICK_SIGNAL);
		}
	}
	pthread_mutex_unlock(&v->pause_lock);
	return ret;
}

void vcpu_resume(struct vcpu *v)
{
	pthread_mutex_lock(&v->pause_lock);
	atomic_store(&v->pause_req, false);
	pthread_cond_broadcast(&v->pause_cond);
	pthread_mutex_unlock(&v->pause_lock);
}

bool vcpu_is_parked(struct vcpu *v)
{
	pthread_mutex_lock(&v->pause_lock);
	bool p = v->parked;
	pthread_mutex_unlock(&v->pause_lock);
	return p;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->pause_inited) {
		pthread_cond_destroy(&v->pause_cond);
		pthread_mutex_destroy(&v->pause_lock);
		v->pause_inited = false;
	}
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}
