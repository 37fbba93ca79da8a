/* SPDX-License-Identifier: MIT */
/* ACPI sleep control/status registers: see acpi_sleep.h. */
#include "legacy/acpi_sleep.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"

#include "log.h"

struct acpi_sleep {
	struct exit_request er;
	struct ratelimit rl;
};

void acpi_sleep_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write)
{
	struct acpi_sleep *s = opaque;
	if (!len)
		return;
	if (!is_write) {
		memset(data, 0, len); /* status: WAK_STS clear; control reads 0 */
		return;
	}
	if (offset != 0)
		return; /* status register: write-1-to-clear, nothing to clear */
	uint8_t v = data[0];
	if (!(v & ACPI_SLEEP_SLP_EN))
		return;
	unsigned typ = (v >> ACPI_SLEEP_TYP_SHIFT) & ACPI_SLEEP_TYP_MASK;
	if (typ != ACPI_SLEEP_TYP_S5) {
		log_ratelimited(&s->rl, LOG_WARN,
				"ACPI: guest asked for sleep type %u; only S5 (soft-off) is offered",
				typ);
		return;
	}
	log_ratelimited(&s->rl, LOG_INFO, "ACPI: guest powered off (S5)");
	exit_request_send(&s->er, 0, "guest power off (ACPI S5)");
}

int acpi_sleep_create(struct acpi_sleep **out, struct exit_request er)
{
	if (!out)
		return -EINVAL;
	struct acpi_sleep *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->er = er;
	*out = s;
	return 0;
}

void acpi_sleep_destroy(struct acpi_sleep *s)
{
	free(s);
}

/* ---- the platform record ---- */

static void acpi_sleep_destroy_op(void *dev) { acpi_sleep_destroy(dev); }

static void acpi_sleep_describe(void *dev, struct platform_info *info)
{
	(void)dev;
	info->regions[info->nregions++] = (struct platform_region){
		.name = "ACPI sleep control", .addr = ACPI_SLEEP_CONTROL_PORT,
		.size = ACPI_SLEEP_PORTS, .irq = -1,
	};
}

/* No reset: the registers hold no state. */
const struct platform_dev_ops acpi_sleep_platform_ops = {
	.name = "acpi-sleep",
	.destroy = acpi_sleep_destroy_op,
	.describe = acpi_sleep_describe,
};

int acpi_sleep_platform_add(struct platform *p, const struct platform_ctx *c)
{
	struct acpi_sleep *s;
	int ret = acpi_sleep_create(&s, c->exit);
	if (ret) {
		log_error("acpi-sleep: %s", strerror(-ret));
		return ret;
	}
	ret = platform_add(p, &acpi_sleep_platform_ops, s);
	return ret ?: platform_place(c->pio, ACPI_SLEEP_CONTROL_PORT, ACPI_SLEEP_PORTS,
				     acpi_sleep_io, s, "ACPI sleep control");
}
