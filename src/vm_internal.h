/* SPDX-License-Identifier: MIT */
/*
 * What vm.c shares with vm_snapshot.c (snapshot and restore): the
 * machine's build, start, teardown and the device threads' pause.
 * Control loop only.
 */
#ifndef CVMM_VM_INTERNAL_H
#define CVMM_VM_INTERNAL_H

#include "vm.h"

/* Builds the machine from vm->cfg (vm->restoring: its state from the
 * snapshot, no kernel loaded). 0 or -errno (logged). */
int vm_build_machine(struct vm *vm);
/* Starts a built machine (vm->start_paused: vCPUs parked). */
int vm_start_machine(struct vm *vm);
int vm_teardown_machine(struct vm *vm);
int vm_park_devices(struct vm *vm);

/* vm_snapshot.c, called by vm_build_machine while vm->restoring: the
 * snapshot's RAM file for arch_vm_init, then every state once the
 * machine is built (0 or -errno, logged). */
void vm_restore_ram_source(struct vm *vm);
int vm_restore_state(struct vm *vm);

#endif
