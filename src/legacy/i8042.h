/* SPDX-License-Identifier: MIT */
/*
 * Minimal i8042 PS/2 controller: port 0x60 (data) and port 0x64
 * (status/command), with no keyboard or mouse attached.
 *
 * Registration: two 1-byte ranges sharing the same struct i8042 opaque,
 *   bus_register(pio, 0x60, 1, i8042_data_io, dev, "i8042-data");
 *   bus_register(pio, 0x64, 1, i8042_cmd_io, dev, "i8042-cmd");
 * (port 0x61 belongs to KVM's in-kernel PIT/speaker; not handled here).
 *
 * Handles the controller commands a guest uses to probe and configure it
 * (0x20/0x60 command byte, 0xaa/0xab/0xa9 self tests, 0xa7/0xa8/0xad/0xae
 * port enables, 0xd0/0xd1 output port, 0xd2/0xd3 loop-back, 0xd4 write to
 * aux, 0xdd/0xdf A20). Bytes sent to the (absent) keyboard or mouse are
 * answered with 0xfe and the status timeout bit, so drivers give up fast.
 * A reset - command 0xfe (any 0xf0-0xff pulse of output bit 0) or writing
 * the output port with bit 0 clear - calls
 * exit_request_send(&er, 0, "guest reset (i8042)").
 *
 * IRQ 1 (keyboard) and IRQ 12 (aux) are optional: pass a zeroed irq_line to
 * leave one unwired. When wired, the line is high while the output buffer
 * holds a byte from that port and the command byte enables its interrupt.
 */
#ifndef CVMM_LEGACY_I8042_H
#define CVMM_LEGACY_I8042_H

#include <stdbool.h>
#include <stdint.h>

#include "irq.h"
#include "platform.h"

struct i8042;

/* 0, -EINVAL or -ENOMEM. */
int i8042_create(struct i8042 **out, struct exit_request er,
		 struct irq_line kbd_irq, struct irq_line aux_irq);
void i8042_destroy(struct i8042 *dev);
/* Machine reset: command byte and output port as created, output buffer
 * empty, no command pending, both lines low. */
void i8042_reset(struct i8042 *dev);

/* bus_io_fn for port 0x60 (offset is ignored). */
void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write);
/* bus_io_fn for port 0x64 (offset is ignored). */
void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		  bool is_write);

/* The platform record: ports 0x60 and 0x64, IRQ 1 and 12. */
extern const struct platform_dev_ops i8042_platform_ops;
int i8042_platform_add(struct platform *p, const struct platform_ctx *c);

#endif
