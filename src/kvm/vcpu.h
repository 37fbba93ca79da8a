/* SPDX-License-Identifier: MIT */
/*
 * One thread per vCPU: KVM_RUN in a loop, port and MMIO exits dispatched
 * through the buses, fatal exits turned into an exit request. vcpu_kick()
 * makes a running vCPU leave KVM_RUN promptly (immediate_exit + a signal),
 * which stop and, later, pause build on.
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
	struct ratelimit io_rl;
	/* Time of the first KVM_RUN (CLOCK_MONOTONIC ns), 0 before. */
	_Atomic uint64_t first_run_ns;
	_Atomic uint64_t exit_counts[VCPU_EXIT_REASONS];
};

/* Installs the (empty) handler of the kick signal; once per process. */
int vcpu_signal_init(void);

int vcpu_create(struct vcpu *v, struct kvm *kvm, unsigned id, struct bus *pio,
		struct bus *mmio, struct exit_request exit);
int vcpu_start(struct vcpu *v);
/* Asks the vCPU thread to leave KVM_RUN and end; returns at once. */
void vcpu_stop(struct vcpu *v);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);

const char *vcpu_exit_reason_name(uint32_t reason);

#endif
