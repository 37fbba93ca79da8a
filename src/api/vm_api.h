/* SPDX-License-Identifier: MIT */
/*
 * The VM's API endpoints (docs/openapi.yaml describes them), under
 * /api/v1/:
 *
 *   GET vmm.ping        {"version"}
 *   GET vm.info         {"state", "config", "devices", ...}
 *   GET vm.counters     per-device requests/bytes/errors, per-vCPU exits
 *   PUT vm.pause        every vCPU parked            (409 unless Running)
 *   PUT vm.resume       and running again            (409 unless Paused)
 *   PUT vm.shutdown     stop the VM, cvmm exits 0
 *   PUT vmm.shutdown    the same (one VM per cvmm)
 *   PUT vm.reboot       reset and boot the same kernel again (409 unless
 *                       Running or Paused; ends Running)
 *   PUT vm.power-button press the ACPI power button: 204 (409 unless
 *                       Running or Paused; a paused guest sees it on resume)
 *   PUT vm.create       the VM's configuration as JSON (see vm_create.h):
 *                       204; 400 with the command line's message for a
 *                       bad one; 409 unless NotCreated (cvmm started with
 *                       --api-socket and no --kernel)
 *   PUT vm.boot         build and start the created VM: {"state"}; 409
 *                       unless Created by vm.create
 *
 * vm_api_handle is the api_server handler; opaque is the struct vm.
 */
#ifndef CVMM_API_VM_API_H
#define CVMM_API_VM_API_H

#include "api/http.h"
#include "api/server.h"
#include "config.h"

#include <cjson/cJSON.h>

void vm_api_handle(void *opaque, const struct http_request *req,
		   struct api_response *resp);

/* The configuration as vm.info's "config" (a vm.create body: a snapshot
 * keeps it so); NULL when out of memory. */
cJSON *vm_api_config_json(const struct vm_config *cfg);

#endif
