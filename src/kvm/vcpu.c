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
	arch_vcpu_dump(v->fd, v->id);
	exit_request_send(&v->exit, 1, why);
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
		snprintf(why, sizeof(why), "KVM internal error, suberror %u",
			 run->internal.suberror);
		vcpu_fatal(v, why);
		return true;
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

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	char name[16];
	snprintf(name, sizeof(name), "cvmm-vcpu%u", v->id);
	pthread_setname_np(pthread_self(), name);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (!atomic_load(&v->stop)) {
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

void vcpu_stop(struct vcpu *v)
{
	atomic_store(&v->stop, true);
	if (!v->thread_started)
		return;
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

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}
