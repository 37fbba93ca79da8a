/* SPDX-License-Identifier: MIT */
/*
 * serial_rx: reads one line from the UART (interrupt-driven: IRQ 4 through
 * IOAPIC pin 4) and echoes it between markers. If bytes are waiting but no
 * interrupt came, the line is read by polling and the test fails.
 */
#include "runtime.h"

const char test_name[] = "serial_rx";

static char line[256];
static volatile u32 len, irqs;
static volatile bool done;

static void take(u8 c)
{
	if (c == '\n' || c == '\r') {
		if (len)
			done = true;
		return;
	}
	if (len < sizeof(line) - 1)
		line[len++] = (char)c;
}

static void uart_irq(struct trap_frame *tf)
{
	(void)tf;
	irqs++;
	for (int i = 0; i < 4096 && serial_rx_ready(); i++)
		take(serial_getc_raw());
}

int test_main(struct boot_info *bi)
{
	(void)bi;
	pic_disable();
	lapic_init();
	ioapic_init();
	set_irq_handler(VEC_IRQ_BASE + 4, uart_irq);
	ioapic_route(4, VEC_IRQ_BASE + 4, lapic_id(), false);
	sti();
	outb(COM1 + 4, 0x0b); /* MCR: DTR, RTS, OUT2 (interrupt enable) */
	outb(COM1 + 1, 0x01); /* IER: received data available */
	printf("serial_rx: waiting for a line on COM1\n");

	u64 end = rdtsc() + ms_to_tsc(5000);
	while (!READ_ONCE(done) && rdtsc() < end)
		cpu_relax();
	cli();
	outb(COM1 + 1, 0x00);
	if (!done) {
		u32 irq_count = irqs;
		for (int i = 0; i < 256 && !done && serial_rx_ready(); i++)
			take(serial_getc_raw());
		line[len] = 0;
		if (irq_count == 0 && len)
			fail(4, "UART had data (\"%s\") but IRQ 4 never arrived", line);
		fail(5, "no complete line within 5 s (%u bytes: \"%s\", %u IRQs)", len, line,
		     irq_count);
	}
	line[len] = 0;
	printf("serial_rx: %u bytes, %u IRQs\n", len, irqs);
	printf("RX<<%s>>\n", line);
	return 0;
}
