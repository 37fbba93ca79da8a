/* SPDX-License-Identifier: MIT */
/*
 * ACPI sleep control and status registers of a hardware-reduced platform
 * (ACPI 6.x, 4.8.3.7): the FADT's SLEEP_CONTROL_REG and SLEEP_STATUS_REG
 * point at two 8-bit I/O ports, and the DSDT's \_S5 package gives the
 * SLP_TYP value of soft-off. An OS powers off by writing
 * SLP_EN | SLP_TYP << 2 to the control register; with SLP_TYP = S5 that
 * ends the VM with exit status 0 (exit_request_send(&er, 0, "guest power
 * off (ACPI S5)")), as a guest reset does. Other sleep states are not
 * offered (no \_S1-\_S4): a write asking for one is ignored, with a
 * rate-limited log line. The status register reads 0 (WAK_STS clear).
 */
#ifndef CVMM_LEGACY_ACPI_SLEEP_H
#define CVMM_LEGACY_ACPI_SLEEP_H

#include <stdbool.h>
#include <stdint.h>

#include "irq.h"
#include "platform.h"

#define ACPI_SLEEP_CONTROL_PORT 0x600
#define ACPI_SLEEP_STATUS_PORT 0x601
#define ACPI_SLEEP_PORTS 2
/* Sleep control register bits. */
#define ACPI_SLEEP_SLP_EN (1u << 5)
#define ACPI_SLEEP_TYP_SHIFT 2
#define ACPI_SLEEP_TYP_MASK 0x7u
/* The SLP_TYP of soft-off, as the DSDT's \_S5 package says. */
#define ACPI_SLEEP_TYP_S5 5u

struct acpi_sleep;

/* 0, -EINVAL or -ENOMEM. */
int acpi_sleep_create(struct acpi_sleep **out, struct exit_request er);
void acpi_sleep_destroy(struct acpi_sleep *dev);

/* Bus handler for [ACPI_SLEEP_CONTROL_PORT, + ACPI_SLEEP_PORTS). */
void acpi_sleep_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write);

/* The platform record: ports 0x600-0x601, always present. */
extern const struct platform_dev_ops acpi_sleep_platform_ops;
int acpi_sleep_platform_add(struct platform *p, const struct platform_ctx *c);

#endif
