/* SPDX-License-Identifier: MIT */
/*
 * 8250/16550A UART (one port, e.g. COM1 at 0x3f8, IRQ 4).
 *
 * Register the 8-port range with serial_io as the bus handler and the
 * struct serial as opaque. Transmitted bytes go to out_fd at once, never waiting (or are
 * discarded when it is -1), so THR is always empty: LSR.THRE and LSR.TEMT
 * always read 1. Received bytes are pushed by the control loop with
 * serial_receive(); they wait in a 1 KiB host-side buffer and enter the
 * 16-byte receive FIFO (1 byte when FIFOs are off) as the guest drains it.
 *
 * The interrupt line is driven as a level: 1 while an enabled interrupt is
 * pending, 0 otherwise (only changes are signalled). OUT2 does not gate it.
 *
 * Thread safety: every entry point takes the device mutex, so serial_io may
 * run on any vCPU thread while the control loop calls serial_receive.
 * The IRQ callback and the rx_ready eventfd write are made with the mutex
 * held.
 */
#ifndef CVMM_LEGACY_SERIAL_H
#define CVMM_LEGACY_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "irq.h"
#include "platform.h"

struct out_sink;

#define SERIAL_NR_PORTS 8
#define SERIAL_FIFO_SIZE 16
#define SERIAL_RX_BUF_SIZE 1024

struct serial;

/*
 * out_fd: where transmitted bytes are written (-1: discard). The fd is not
 * owned (never closed). Writing never blocks the vCPU: bytes go through an
 * out_sink (out_sink.h: non-blocking, a bounded buffer, what does not fit
 * or what the fd refuses is dropped and counted); the caller should ignore
 * SIGPIPE.
 * rx_ready_fd: eventfd that gets 1 written whenever receive space becomes
 * available again after the control loop found the buffer full
 * (serial_rx_space() returned 0 or serial_receive() accepted less than it
 * was given); -1 for none. Not owned.
 * Returns 0, -EINVAL, -ENOMEM or another -errno (out_fd unusable).
 */
int serial_create(struct serial **out, int out_fd, struct irq_line irq,
		  int rx_ready_fd);
void serial_destroy(struct serial *s);
/* The output sink (NULL without out_fd): the control loop drains it. */
struct out_sink *serial_out_sink(struct serial *s);
/* Transmitted bytes dropped so far (the output stalled or failed). */
uint64_t serial_tx_dropped(struct serial *s);
/*
 * Machine reset: every register back to its power-on value (as created:
 * FIFOs off, no interrupt enabled, 9600 baud divisor), the receive FIFO
 * emptied, the line lowered. Bytes still waiting on the host side (the
 * wire) are kept and arrive as the guest reads.
 */
void serial_reset(struct serial *s);

/* bus_io_fn for the 8-port range. Accesses wider than 1 byte act on the low
 * byte only (reads leave the other bytes as the bus pre-filled them). */
void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
	       bool is_write);

/* Bytes serial_receive() would accept right now (0..SERIAL_RX_BUF_SIZE). */
size_t serial_rx_space(struct serial *s);

/* Queues up to len received bytes; returns how many were accepted. */
int serial_receive(struct serial *s, const uint8_t *buf, size_t len);

/* The platform record: COM1 (ports 0x3f8-0x3ff, IRQ 4) unless --serial off. */
extern const struct platform_dev_ops serial_platform_ops;
int serial_platform_add(struct platform *p, const struct platform_ctx *c);

#endif
