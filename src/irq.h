/* SPDX-License-Identifier: MIT */
/*
 * How a device signals an interrupt without knowing about KVM: an interrupt
 * line is a callback plus the GSI it drives. The VM builder hands each device
 * its line; the KVM layer implements `set` with KVM_IRQ_LINE.
 */
#ifndef CVMM_IRQ_H
#define CVMM_IRQ_H

#include <stdint.h>

struct irq_line {
	void (*set)(void *opaque, uint32_t gsi, int level);
	void *opaque;
	uint32_t gsi;
};

static inline void irq_line_set(const struct irq_line *line, int level)
{
	if (line->set)
		line->set(line->opaque, line->gsi, level);
}

/*
 * How a device asks the VMM to stop with an exit status (guest reset request,
 * debug-exit port). Safe to call from any thread; the control loop acts on it.
 */
struct exit_request {
	void (*request)(void *opaque, int status, const char *why);
	void *opaque;
};

static inline void exit_request_send(const struct exit_request *er, int status,
				     const char *why)
{
	if (er->request)
		er->request(er->opaque, status, why);
}

#endif
