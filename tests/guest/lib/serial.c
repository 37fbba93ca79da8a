/* SPDX-License-Identifier: MIT */
/* Polled 8250 output on COM1 (0x3f8), plus raw receive helpers. */
#include "runtime.h"

#define UART_THR 0
#define UART_RBR 0
#define UART_IER 1
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_DR 0x01
#define LSR_THRE 0x20

void serial_init(void)
{
	/* 8N1, DLAB off, no interrupts; the FIFO (and any received bytes
	 * already waiting in it) is left alone. */
	outb(COM1 + UART_LCR, 0x03);
	outb(COM1 + UART_IER, 0x00);
	outb(COM1 + UART_MCR, 0x03);
}

static void tx(u8 c)
{
	for (u32 i = 0; i < 100000; i++)
		if (inb(COM1 + UART_LSR) & LSR_THRE)
			break;
	outb(COM1 + UART_THR, c);
}

void serial_putc(char c)
{
	if (c == '\n')
		tx('\r');
	tx((u8)c);
}

void serial_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		serial_putc(s[i]);
}

bool serial_rx_ready(void)
{
	return inb(COM1 + UART_LSR) & LSR_DR;
}

u8 serial_getc_raw(void)
{
	return inb(COM1 + UART_RBR);
}
