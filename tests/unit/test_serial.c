/* SPDX-License-Identifier: MIT */
/* Unit tests for the 16550A UART model (src/legacy/serial.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "legacy/serial.h"
#include "log.h"

#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#define MAX_LEVELS 64

struct fake_irq {
	int levels[MAX_LEVELS];
	int count;
	uint32_t last_gsi;
};

struct fixture {
	struct serial *s;
	int pipefd[2];
	int efd;
	struct fake_irq irq;
};

static void fake_irq_set(void *opaque, uint32_t gsi, int level)
{
	struct fake_irq *f = opaque;
	f->last_gsi = gsi;
	if (f->count < MAX_LEVELS)
		f->levels[f->count] = level;
	f->count++;
}

static int current_level(const struct fake_irq *f)
{
	return f->count ? f->levels[f->count - 1] : 0;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	log_set_level(LOG_ERROR);
	if (pipe2(fx->pipefd, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	fx->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fx->efd < 0)
		return -1;
	struct irq_line line = { .set = fake_irq_set, .opaque = &fx->irq,
				 .gsi = 4 };
	if (serial_create(&fx->s, fx->pipefd[1], line, fx->efd) != 0)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	serial_destroy(fx->s);
	close(fx->pipefd[0]);
	close(fx->pipefd[1]);
	close(fx->efd);
	free(fx);
	return 0;
}

static uint8_t rd(struct serial *s, unsigned off)
{
	uint8_t d = 0xff;
	serial_io(s, off, &d, 1, false);
	return d;
}

static void wr(struct serial *s, unsigned off, uint8_t v)
{
	serial_io(s, off, &v, 1, true);
}

static void test_reset_state(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(rd(fx->s, IER), 0);
	assert_int_equal(rd(fx->s, IIR), 0x01);
	assert_int_equal(rd(fx->s, LCR), 0);
	assert_int_equal(rd(fx->s, MCR), 0);
	assert_int_equal(rd(fx->s, LSR), 0x60);
	assert_int_equal(rd(fx->s, MSR), 0xb0); /* CTS, DSR, DCD */
	assert_int_equal(fx->irq.count, 0);
	assert_int_equal(serial_rx_space(fx->s), SERIAL_RX_BUF_SIZE);
}

static void test_dlab_divisor(void **state)
{
	struct fixture *fx = *state;
	wr(fx->s, LCR, 0x83); /* DLAB + 8N1 */
	wr(fx->s, DLL, 0x01);
	wr(fx->s, DLM, 0x02);
	assert_int_equal(rd(fx->s, DLL), 0x01);
	assert_int_equal(rd(fx->s, DLM), 0x02);
	assert_int_equal(rd(fx->s, LCR), 0x83);
	/* Nothing was transmitted, IER untouched. */
	uint8_t b;
	assert_int_equal(read(fx->pipefd[0], &b, 1), -1);
	assert_int_equal(errno, EAGAIN);

	wr(fx->s, LCR, 0x03);
	assert_int_equal(rd(fx->s, IER), 0);
	wr(fx->s, THR, 'A');
	wr(fx->s, IER, 0x05);
	assert_int_equal(rd(fx->s, IER), 0x05);
	wr(fx->s, LCR, 0x83);
	assert_int_equal(rd(fx->s, DLL), 0x01);
	assert_int_equal(rd(fx->s, DLM), 0x02);
	wr(fx->s, LCR, 0x03);
	assert_int_equal(read(fx->pipefd[0], &b, 1), 1);
	assert_int_equal(b, 'A');
}

static void test_ier_upper_bits(void **state)
{
	struct fixture *fx = *state;
	wr(fx->s, IER, 0xff);
	assert_int_equal(rd(fx->s, IER), 0x0f);
}

static void test_scratch(void **state)
{
	struct fixture *fx = *state;
	wr(fx->s, SCR, 0xa5);
	assert_int_equal(rd(fx->s, SCR), 0xa5);
}

static void test_tx_to_pipe(void **state)
{
	struct fixture *fx = *state;
	const char *msg = "hello\n";
	for (const char *p = msg; *p; p++) {
		wr(fx->s, THR, (uint8_t)*p);
		uint8_t lsr = rd(fx->s, LSR);
		assert_true(lsr & 0x20); /* THRE */
		assert_true(lsr & 0x40); /* TEMT */
	}
	char buf[16] = { 0 };
	assert_int_equal(read(fx->pipefd[0], buf, sizeof(buf)), strlen(msg));
	assert_string_equal(buf, msg);
}

static void test_tx_null_fd(void **state)
{
	(void)state;
	struct serial *s;
	assert_int_equal(serial_create(&s, -1, (struct irq_line){ 0 }, -1), 0);
	wr(s, THR, 'x');
	wr(s, IER, 0x0f);
	assert_int_equal(rd(s, LSR), 0x60);
	serial_destroy(s);
}

static void test_tx_full_pipe_does_not_block(void **state)
{
	struct fixture *fx = *state;
	uint8_t junk[4096];
	memset(junk, 'j', sizeof(junk));
	while (write(fx->pipefd[1], junk, sizeof(junk)) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 100; i++)
		wr(fx->s, THR, 'z');
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) +
		      (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs < 1.0);
	assert_int_equal(rd(fx->s, LSR), 0x60);
}

static void test_tx_closed_reader(void **state)
{
	(void)state;
	int fds[2];
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	close(fds[0]);
	/* EPIPE instead of SIGPIPE, as the VMM ignores SIGPIPE. */
	sighandler_t old = signal(SIGPIPE, SIG_IGN);
	struct serial *s;
	assert_int_equal(serial_create(&s, fds[1], (struct irq_line){ 0 }, -1),
			 0);
	wr(s, THR, 'x');
	wr(s, THR, 'y');
	serial_destroy(s);
	signal(SIGPIPE, old);
	close(fds[1]);
}

static void test_rx_in_order(void **state)
{
	struct fixture *fx = *state;
	const uint8_t in[] = "abc";
	assert_int_equal(serial_receive(fx->s, in, 3), 3);
	for (int i = 0; i < 3; i++) {
		assert_true(rd(fx->s, LSR) & 0x01);
		assert_int_equal(rd(fx->s, RBR), in[i]);
	}
	assert_false(rd(fx->s, LSR) & 0x01);
	/* No interrupt: IER is 0. */
	assert_int_equal(fx->irq.count, 0);
}

static void test_rx_large_and_ready_eventfd(void **state)
{
	struct fixture *fx = *state;
	uint8_t in[SERIAL_RX_BUF_SIZE + 200];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7);
	wr(fx->s, FCR, 0x01); /* 16-byte FIFO */
	int n = serial_receive(fx->s, in, sizeof(in));
	assert_true(n >= SERIAL_RX_BUF_SIZE);
	assert_true(n < (int)sizeof(in));
	uint64_t ev;
	assert_int_equal(read(fx->efd, &ev, sizeof(ev)), -1); /* not yet */

	/* Guest reads one byte: space opens, the eventfd fires. */
	assert_int_equal(rd(fx->s, RBR), in[0]);
	assert_int_equal(read(fx->efd, &ev, sizeof(ev)), sizeof(ev));
	assert_int_equal(ev, 1);
	assert_true(serial_rx_space(fx->s) > 0);

	/* Keep feeding the rest as space opens; everything arrives in order. */
	size_t fed = (size_t)n;
	for (size_t got = 1; got < sizeof(in); got++) {
		if (fed < sizeof(in))
			fed += (size_t)serial_receive(fx->s, in + fed,
						      sizeof(in) - fed);
		assert_true(rd(fx->s, LSR) & 0x01);
		assert_int_equal(rd(fx->s, RBR), in[got]);
	}
	assert_int_equal(fed, sizeof(in));
	assert_false(rd(fx->s, LSR) & 0x01);
	assert_int_equal(serial_rx_space(fx->s), SERIAL_RX_BUF_SIZE);
}

static void test_rx_space_zero_then_signal(void **state)
{
	struct fixture *fx = *state;
	uint8_t in[SERIAL_RX_BUF_SIZE + 1];
	memset(in, 'q', sizeof(in));
	/* Non-FIFO mode: 1 byte in RBR, the rest in the host buffer. */
	assert_int_equal(serial_receive(fx->s, in, sizeof(in)),
			 SERIAL_RX_BUF_SIZE);
	assert_int_equal(serial_receive(fx->s, in, 1), 1);
	assert_int_equal(serial_rx_space(fx->s), 0);
	uint64_t ev;
	assert_int_equal(read(fx->efd, &ev, sizeof(ev)), -1);
	assert_int_equal(rd(fx->s, RBR), 'q');
	assert_int_equal(serial_rx_space(fx->s), 1);
	assert_int_equal(read(fx->efd, &ev, sizeof(ev)), sizeof(ev));
	/* Fires once per blocked period only. */
	assert_int_equal(rd(fx->s, RBR), 'q');
	assert_int_equal(read(fx->efd, &ev, sizeof(ev)), -1);
}

static void test_iir_priorities(void **state)
{
	struct fixture *fx = *state;
	wr(fx->s, IER, 0x0f);
	/* Enabling ETBEI with THR empty: THRE interrupt. */
	assert_int_equal(current_level(&fx->irq), 1);
	assert_int_equal(fx->irq.last_gsi, 4);

	/* Received data outranks THRE. */
	assert_int_equal(serial_receive(fx->s, (const uint8_t *)"x", 1), 1);
	assert_int_equal(rd(fx->s, IIR), 0x04);

	/* Loopback on: modem inputs change (deltas) and a looped byte hits
	 * the full 1-byte RBR: overrun, the highest priority. */
	wr(fx->s, MCR, 0x10);
	wr(fx->s, THR, 'y');
	assert_int_equal(rd(fx->s, IIR), 0x06);
	assert_int_equal(rd(fx->s, LSR), 0x63); /* DR OE THRE TEMT */
	assert_int_equal(rd(fx->s, LSR), 0x61); /* OE cleared by read */
	assert_int_equal(rd(fx->s, IIR), 0x04);
	assert_int_equal(rd(fx->s, RBR), 'x');
	/* THR was written: THRE pending again; reading IIR clears it. */
	assert_int_equal(rd(fx->s, IIR), 0x02);
	/* Then modem status (CTS/DSR/DCD dropped when loopback began). */
	assert_int_equal(rd(fx->s, IIR), 0x00);
	assert_int_equal(current_level(&fx->irq), 1);
	assert_int_equal(rd(fx->s, MSR), 0x0b); /* DCTS DDSR DDCD, inputs 0 */
	assert_int_equal(rd(fx->s, IIR), 0x01);
	assert_int_equal(current_level(&fx->irq), 0);
}

static void test_irq_transitions(void **state)
{
	struct fixture *fx = *state;
	wr(fx->s, IER, 0x01); /* RX only */
	assert_int_equal(fx->irq.count, 0);
	serial_receive(fx->s, (const uint8_t *)"a", 1);
	assert_int_equal(fx->irq.count, 1);
	assert_int_equal(fx->irq.levels[0], 1);
	/* Reading IIR does not clear an RX interrupt. */
	assert_int_equal(rd(fx->s, IIR), 0x04);
	assert_int_equal(fx->irq.count, 1);
	assert_int_equal(rd(fx->s, RBR), 'a');
	assert_int_equal(fx->irq.count, 2);
	assert_int_equal(fx->irq.levels[1], 0);

	/* THRE: raised on enable, cleared by IIR read, re-raised (with a
	 * fresh edge) by every THR write. */
	wr(fx->s, IER, 0x02);
	assert_int_equal(fx->irq.levels[2], 1);
	assert_int_equal(rd(fx->s, IIR), 0x02);
	assert_int_equal(fx->irq.levels[3], 0);
	assert_int_equal(rd(fx->s, IIR), 0x01);
	wr(fx->s, THR, '1');
	assert_int_equal(fx->irq.count, 5);
	assert_int_equal(fx->irq.levels[4], 1);
	wr(fx->s, THR, '2');
	assert_int_equal(fx->irq.count, 7);
	assert_int_equal(fx->irq.levels[5], 0);
	assert_int_equal(fx->irq.levels[6], 1);
	/* Disabling ETBEI drops the line. */
	wr(fx->s, IER, 0x00);
	assert_int_equal(fx->irq.count, 8);
	assert_int_equal(fx->irq.levels[7], 0);
	/* Only changes are reported. */
	for (int i = 1; i < fx->irq.count; i++)
		assert_int_not_equal(fx->irq.levels[i], fx->irq.levels[i - 1]);
	/* Re-enabling ETBEI raises THRE again (Linux's THRE test). */
	wr(fx->s, IER, 0x02);
	assert_int_equal(rd(fx->s, IIR), 0x02);
}

static void test_loopback(void **state)
{
	struct fixture *fx = *state;
	wr(fx->s, MCR, 0x1a); /* LOOP OUT2 RTS */
	assert_int_equal(rd(fx->s, MSR) & 0xf0, 0x90); /* DCD CTS */
	wr(fx->s, MCR, 0x1f);
	assert_int_equal(rd(fx->s, MSR) & 0xf0, 0xf0);
	wr(fx->s, MCR, 0x1b); /* OUT1 dropped: trailing edge of RI */
	assert_int_equal(rd(fx->s, MSR), 0xb4);

	/* Host input waits while in loopback. */
	serial_receive(fx->s, (const uint8_t *)"H", 1);
	assert_false(rd(fx->s, LSR) & 0x01);
	wr(fx->s, THR, 'Z');
	assert_true(rd(fx->s, LSR) & 0x01);
	assert_int_equal(rd(fx->s, RBR), 'Z');
	uint8_t b;
	assert_int_equal(read(fx->pipefd[0], &b, 1), -1); /* nothing sent */

	wr(fx->s, MCR, 0x0b);
	assert_int_equal(rd(fx->s, MSR) & 0xf0, 0xb0);
	assert_int_equal(rd(fx->s, RBR), 'H');
	wr(fx->s, THR, 'T');
	assert_int_equal(read(fx->pipefd[0], &b, 1), 1);
	assert_int_equal(b, 'T');
}

static void test_fifo(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(rd(fx->s, IIR) & 0xc0, 0);
	wr(fx->s, FCR, 0x07);
	assert_int_equal(rd(fx->s, IIR), 0xc1);

	/* Reset RX FIFO discards received data. */
	serial_receive(fx->s, (const uint8_t *)"12345", 5);
	assert_true(rd(fx->s, LSR) & 0x01);
	wr(fx->s, FCR, 0x03);
	assert_false(rd(fx->s, LSR) & 0x01);

	/* Trigger level 14: below it a timeout interrupt, at it RX data. */
	wr(fx->s, FCR, 0xc1);
	wr(fx->s, IER, 0x01);
	serial_receive(fx->s, (const uint8_t *)"abc", 3);
	assert_int_equal(rd(fx->s, IIR), 0xcc);
	serial_receive(fx->s, (const uint8_t *)"defghijklmnop", 13);
	assert_int_equal(rd(fx->s, IIR), 0xc4);
	for (int i = 0; i < 16; i++)
		assert_int_equal(rd(fx->s, RBR), 'a' + i);
	assert_int_equal(rd(fx->s, IIR), 0xc1);

	/* Loopback: 16 bytes fit, the 17th overruns. */
	wr(fx->s, MCR, 0x10);
	for (int i = 0; i < 17; i++)
		wr(fx->s, THR, (uint8_t)('A' + i));
	assert_int_equal(rd(fx->s, LSR) & 0x03, 0x03);
	for (int i = 0; i < 16; i++)
		assert_int_equal(rd(fx->s, RBR), 'A' + i);
	assert_false(rd(fx->s, LSR) & 0x01);

	/* Disabling the FIFOs clears them and drops FIFO bits in IIR. */
	wr(fx->s, THR, '!');
	wr(fx->s, FCR, 0x00);
	assert_false(rd(fx->s, LSR) & 0x01);
	assert_int_equal(rd(fx->s, IIR) & 0xc0, 0);
}

static void test_wide_and_bad_access(void **state)
{
	struct fixture *fx = *state;
	uint8_t d[4] = { 'W', 'x', 'y', 'z' };
	serial_io(fx->s, THR, d, 4, true);
	uint8_t b[4];
	assert_int_equal(read(fx->pipefd[0], b, 4), 1);
	assert_int_equal(b[0], 'W');

	memset(d, 0xff, sizeof(d));
	serial_io(fx->s, LSR, d, 2, false);
	assert_int_equal(d[0], 0x60);
	assert_int_equal(d[1], 0xff);

	memset(d, 0xff, sizeof(d));
	serial_io(fx->s, 8, d, 1, false);
	serial_io(fx->s, 100, d, 1, true);
	serial_io(fx->s, LSR, d, 0, false);
	assert_int_equal(d[0], 0xff);
}

/* A machine reset: registers back to power-on values, the line low, the
 * receive FIFO empty; host-side bytes still arrive. */
static void test_machine_reset(void **state)
{
	struct fixture *fx = *state;
	/* FIFOs off: 'a' waits in RBR, 'b' on the host side. */
	assert_int_equal(serial_receive(fx->s, (const uint8_t *)"ab", 2), 2);
	wr(fx->s, LCR, 0x80);
	wr(fx->s, DLL, 0x01);
	wr(fx->s, LCR, 0x03);
	wr(fx->s, MCR, 0x0b);
	wr(fx->s, SCR, 0x5a);
	wr(fx->s, IER, 0x03); /* data and THRE interrupts: the line goes up */
	assert_int_equal(current_level(&fx->irq), 1);
	serial_reset(fx->s);
	assert_int_equal(current_level(&fx->irq), 0);
	assert_int_equal(rd(fx->s, IER), 0);
	assert_int_equal(rd(fx->s, IIR), 0x01); /* FIFOs off, nothing pending */
	assert_int_equal(rd(fx->s, LCR), 0);
	assert_int_equal(rd(fx->s, MCR), 0);
	assert_int_equal(rd(fx->s, MSR), 0xb0);
	assert_int_equal(rd(fx->s, SCR), 0);
	wr(fx->s, LCR, 0x80);
	assert_int_equal(rd(fx->s, DLL), 0x0c);
	assert_int_equal(rd(fx->s, DLM), 0);
	wr(fx->s, LCR, 0);
	/* The FIFO was emptied; the wire's next byte comes in. */
	assert_int_equal(rd(fx->s, LSR) & 0x01, 0x01);
	assert_int_equal(rd(fx->s, RBR), 'b');
	assert_int_equal(rd(fx->s, LSR) & 0x01, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dlab_divisor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ier_upper_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scratch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_to_pipe, setup, teardown),
		cmocka_unit_test(test_tx_null_fd),
		cmocka_unit_test_setup_teardown(test_tx_full_pipe_does_not_block,
						setup, teardown),
		cmocka_unit_test(test_tx_closed_reader),
		cmocka_unit_test_setup_teardown(test_rx_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_large_and_ready_eventfd,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_space_zero_then_signal,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_iir_priorities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_transitions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_machine_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wide_and_bad_access, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
