/* SPDX-License-Identifier: MIT */
/*
 * One thread per vCPU: KVM_RUN in a loop, port and MMIO exits dispatched
 * through the buses, fatal exits turned into an exit request. vcpu_kick()
 * makes a running vCPU leave KVM_RUN promptly (immediate_exit + a signal),
 * which stop and pause build on.
 *
 * Pause: vcpu_pause() asks the thread to leave KVM_RUN and park on a
 * condition variable (between two KVM_RUN calls, so no exit is half
 * handled); vcpu_wait_paused() waits until it is parked; vcpu_resume() lets
 * it run again. A parked vCPU leaves its exit counts alone. vcpu_stop()
 * also ends a parked vCPU.
 */
#ifndef CVMM_KVM_VCPU_H
#define CVMM_KVM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "irq.h"
#include "kvm/kvm.h"
#include "log.h"

/* Exit reasons are small integers; counts beyond this go in the last slot. */
#define VCPU_EXIT_REASONS 64

struct vcpu {
	unsigned id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	struct bus *pio;
	struct bus *mmio;
	struct exit_request exit;
	bool seccomp; /* install the vCPU seccomp filter (set after vcpu_create) */
	struct ratelimit io_rl;
	/* Time of the first KVM_RUN (CLOCK_MONOTONIC ns), 0 before. */
	_Atomic uint64_t first_run_ns;
	_Atomic uint64_t exit_counts[VCPU_EXIT_REASONS];
	/* Instructions KVM's emulator lacked that cvmm carried out (INT3). */
	_Atomic uint64_t emulated;
	struct ratelimit emul_rl;

	/* Pause state, under pause_lock (pause_req is also read lock-free). */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_bool pause_req; /* the control loop wants it parked */
	bool parked;           /* the thread sits in the pause wait */
	bool exited;           /* the thread left its loop (stop or fatal) */
	bool named;            /* the thread has its name (vcpuN) */
	/*
	 * Pause requests it was parked for. A request that comes before the
	 * thread left the previous one (resume and pause again at once) finds
	 * it still parked: counted by generation, not by entering the wait.
	 */
	_Atomic uint64_t pauses;
	uint64_t pause_gen;    /* bumped by every vcpu_pause() */
	uint64_t counted_gen;  /* the last generation counted in pauses */
	bool pause_inited;
};

/* Installs the (empty) handler of the kick signal; once per process. */
int vcpu_signal_init(void);

int vcpu_create(struct vcpu *v, struct kvm *kvm, unsigned id, struct bus *pio,
		struct bus *mmio, struct exit_request exit);
int vcpu_start(struct vcpu *v);
/*
 * Waits until the started thread has named itself "vcpuN" (or has left):
 * whoever learns that the VM runs (vm.boot's answer) finds the names that
 * Kata pins the vCPUs by.
 */
void vcpu_wait_named(struct vcpu *v);
/* Asks the vCPU thread to leave KVM_RUN and end; returns at once. */
void vcpu_stop(struct vcpu *v);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);

/* Asks the vCPU to leave KVM_RUN and park; returns at once. */
void vcpu_pause(struct vcpu *v);
/*
 * Waits until the vCPU is parked (or its thread ended, or it never
 * started), kicking it again every 50 ms; 0, or -ETIMEDOUT after
 * timeout_ms.
 */
int vcpu_wait_paused(struct vcpu *v, unsigned timeout_ms);
/* Lets a paused vCPU run again. */
void vcpu_resume(struct vcpu *v);
/* True while the thread is parked. */
bool vcpu_is_parked(struct vcpu *v);

const char *vcpu_exit_reason_name(uint32_t reason);

#endif
