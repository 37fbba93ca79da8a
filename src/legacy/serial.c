/* SPDX-License-Identifier: MIT */
/*
 * 8250/16550A UART, written from the 16550A datasheet register description.
 *
 * Model:
 *  - TX is instantaneous: a THR write goes to out_fd (or, in loopback mode,
 *    into the receive FIFO) at once, so THR/TSR are always empty.
 *  - RX: bytes from the host wait in a 1 KiB ring ("the wire") and move into
 *    the receive FIFO (16 bytes, or a 1-byte RBR when FIFOs are disabled)
 *    whenever it has room and loopback is off. The host side never overruns;
 *    overrun (LSR.OE) only happens with loopback TX into a full FIFO.
 *  - There are no timers: in FIFO mode, data below the trigger level is
 *    reported at once as a character-timeout interrupt (IIR 0xc).
 *  - Interrupt identification follows the datasheet priority: receiver line
 *    status > received data / character timeout > THR empty > modem status.
 */
#include "legacy/serial.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "log.h"
#include "out_sink.h"
#include "snap/snap.h"

/* Register offsets. */
#define REG_RBR_THR 0 /* DLL when LCR.DLAB */
#define REG_IER 1 /* DLM when LCR.DLAB */
#define REG_IIR_FCR 2
#define REG_LCR 3
#define REG_MCR 4
#define REG_LSR 5
#define REG_MSR 6
#define REG_SCR 7

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* THR empty */
#define IER_ELSI 0x04 /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK 0x0f

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_CTI 0x0c
#define IIR_ID_MASK 0x0f
#define IIR_FIFO_ON 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_TRIGGER_MASK 0xc0

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_DELTAS 0x0f
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

/* Modem inputs when not in loopback: a peer that is always ready. */
#define MSR_IDLE_INPUTS (MSR_CTS | MSR_DSR | MSR_DCD)

struct serial {
	pthread_mutex_t lock;
	struct out_sink *out; /* NULL: transmitted bytes are discarded */
	int rx_ready_fd;
	struct irq_line irq;
	int irq_level;

	uint8_t ier;
	uint8_t fcr; /* FIFO enable + trigger level as last programmed */
	uint8_t lcr;
	uint8_t mcr;
	uint8_t lsr_errors; /* sticky OE/PE/FE/BI, cleared by LSR read */
	uint8_t msr; /* input bits + delta bits */
	uint8_t scr;
	uint8_t dll;
	uint8_t dlm;
	bool thre_pending; /* THR-empty interrupt condition */

	uint8_t rx_fifo[SERIAL_FIFO_SIZE];
	unsigned rx_head;
	unsigned rx_count;

	uint8_t host_buf[SERIAL_RX_BUF_SIZE];
	size_t host_head;
	size_t host_count;
	bool rx_blocked; /* control loop saw no space; signal when there is */
};

static bool fifo_enabled(const struct serial *s)
{
	return s->fcr & FCR_ENABLE;
}

static unsigned rx_capacity(const struct serial *s)
{
	return fifo_enabled(s) ? SERIAL_FIFO_SIZE : 1;
}

static unsigned rx_trigger(const struct serial *s)
{
	static const unsigned levels[4] = { 1, 4, 8, 14 };
	return levels[(s->fcr & FCR_TRIGGER_MASK) >> 6];
}

static uint8_t compute_iir(const struct serial *s)
{
	uint8_t fifo = fifo_enabled(s) ? IIR_FIFO_ON : 0;

	if ((s->ier & IER_ELSI) && (s->lsr_errors & LSR_ERRORS))
		return fifo | IIR_RLSI;
	if ((s->ier & IER_ERBFI) && s->rx_count) {
		if (fifo_enabled(s) && s->rx_count < rx_trigger(s))
			return fifo | IIR_CTI;
		return fifo | IIR_RDI;
	}
	if ((s->ier & IER_ETBEI) && s->thre_pending)
		return fifo | IIR_THRI;
	if ((s->ier & IER_EDSSI) && (s->msr & MSR_DELTAS))
		return fifo | IIR_MSI;
	return fifo | IIR_NO_INT;
}

static void update_irq(struct serial *s)
{
	int level = (compute_iir(s) & IIR_NO_INT) ? 0 : 1;
	if (level != s->irq_level) {
		s->irq_level = level;
		irq_line_set(&s->irq, level);
	}
}

static void signal_rx_ready(struct serial *s)
{
	if (!s->rx_blocked || s->host_count >= SERIAL_RX_BUF_SIZE)
		return;
	s->rx_blocked = false;
	if (s->rx_ready_fd < 0)
		return;
	uint64_t one = 1;
	ssize_t n;
	do {
		n = write(s->rx_ready_fd, &one, sizeof(one));
	} while (n < 0 && errno == EINTR);
	/* EAGAIN means the counter is already non-zero: the loop will wake. */
}

/* Moves host-side bytes into the receive FIFO while it has room. */
static void rx_refill(struct serial *s)
{
	if (s->mcr & MCR_LOOP)
		return;
	unsigned cap = rx_capacity(s);
	while (s->rx_count < cap && s->host_count) {
		s->rx_fifo[(s->rx_head + s->rx_count) % SERIAL_FIFO_SIZE] =
			s->host_buf[s->host_head];
		s->rx_count++;
		s->host_head = (s->host_head + 1) % SERIAL_RX_BUF_SIZE;
		s->host_count--;
	}
	signal_rx_ready(s);
}

static void rx_fifo_clear(struct serial *s)
{
	s->rx_head = 0;
	s->rx_count = 0;
}

/* A byte arriving at the receiver from the UART's own transmitter. */
static void rx_loopback(struct serial *s, uint8_t b)
{
	if (s->rx_count >= rx_capacity(s)) {
		s->lsr_errors |= LSR_OE;
		return;
	}
	s->rx_fifo[(s->rx_head + s->rx_count) % SERIAL_FIFO_SIZE] = b;
	s->rx_count++;
}

static void tx_out(struct serial *s, uint8_t b)
{
	if (s->out)
		out_sink_write(s->out, &b, 1); /* never blocks; drops count */
}

static void write_thr(struct serial *s, uint8_t b)
{
	/* Writing THR clears the THRE interrupt ... */
	s->thre_pending = false;
	update_irq(s);
	if (s->mcr & MCR_LOOP)
		rx_loopback(s, b);
	else
		tx_out(s, b);
	/* ... and the byte leaves at once, so THR is empty again: a new edge. */
	s->thre_pending = true;
}

static void write_ier(struct serial *s, uint8_t val)
{
	uint8_t old = s->ier;
	s->ier = val & IER_MASK;
	/* Enabling ETBEI while THR is empty raises the THRE interrupt. */
	if ((s->ier & IER_ETBEI) && !(old & IER_ETBEI))
		s->thre_pending = true;
}

static void write_fcr(struct serial *s, uint8_t val)
{
	if ((val & FCR_ENABLE) != (s->fcr & FCR_ENABLE)) {
		/* Switching FIFO mode clears both FIFOs. */
		rx_fifo_clear(s);
	}
	if (!(val & FCR_ENABLE)) {
		/* Other FCR bits are only programmed while FCR0 is set. */
		s->fcr = 0;
		rx_refill(s);
		return;
	}
	s->fcr = val & (FCR_ENABLE | FCR_TRIGGER_MASK);
	if (val & FCR_CLEAR_RX)
		rx_fifo_clear(s);
	/* FCR_CLEAR_TX: the TX FIFO is always empty. */
	rx_refill(s);
}

static uint8_t modem_inputs(uint8_t mcr)
{
	if (!(mcr & MCR_LOOP))
		return MSR_IDLE_INPUTS;
	uint8_t in = 0;
	if (mcr & MCR_RTS)
		in |= MSR_CTS;
	if (mcr & MCR_DTR)
		in |= MSR_DSR;
	if (mcr & MCR_OUT1)
		in |= MSR_RI;
	if (mcr & MCR_OUT2)
		in |= MSR_DCD;
	return in;
}

static void write_mcr(struct serial *s, uint8_t val)
{
	s->mcr = val & MCR_MASK;
	uint8_t old_in = s->msr & ~MSR_DELTAS;
	uint8_t new_in = modem_inputs(s->mcr);
	uint8_t changed = old_in ^ new_in;
	uint8_t deltas = s->msr & MSR_DELTAS;
	if (changed & MSR_CTS)
		deltas |= MSR_DCTS;
	if (changed & MSR_DSR)
		deltas |= MSR_DDSR;
	if ((old_in & MSR_RI) && !(new_in & MSR_RI))
		deltas |= MSR_TERI;
	if (changed & MSR_DCD)
		deltas |= MSR_DDCD;
	s->msr = new_in | deltas;
	/* Leaving loopback reconnects the receiver to the host side. */
	rx_refill(s);
}

static uint8_t read_rbr(struct serial *s)
{
	if (!s->rx_count)
		return 0;
	uint8_t b = s->rx_fifo[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
	s->rx_count--;
	rx_refill(s);
	return b;
}

static uint8_t read_lsr(struct serial *s)
{
	uint8_t v = LSR_THRE | LSR_TEMT | s->lsr_errors;
	if (s->rx_count)
		v |= LSR_DR;
	s->lsr_errors = 0;
	return v;
}

static uint8_t read_iir(struct serial *s)
{
	uint8_t iir = compute_iir(s);
	if ((iir & IIR_ID_MASK) == IIR_THRI)
		s->thre_pending = false;
	return iir;
}

static uint8_t read_msr(struct serial *s)
{
	uint8_t v = s->msr;
	s->msr &= ~MSR_DELTAS;
	return v;
}

void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
	       bool is_write)
{
	struct serial *s = opaque;
	if (!len || offset >= SERIAL_NR_PORTS)
		return;

	pthread_mutex_lock(&s->lock);
	bool dlab = s->lcr & LCR_DLAB;
	if (is_write) {
		uint8_t v = data[0];
		switch (offset) {
		case REG_RBR_THR:
			if (dlab)
				s->dll = v;
			else
				write_thr(s, v);
			break;
		case REG_IER:
			if (dlab)
				s->dlm = v;
			else
				write_ier(s, v);
			break;
		case REG_IIR_FCR:
			write_fcr(s, v);
			break;
		case REG_LCR:
			s->lcr = v;
			break;
		case REG_MCR:
			write_mcr(s, v);
			break;
		case REG_LSR:
		case REG_MSR:
			/* Read-only (factory test use); ignored. */
			break;
		case REG_SCR:
			s->scr = v;
			break;
		}
	} else {
		uint8_t v = 0;
		switch (offset) {
		case REG_RBR_THR:
			v = dlab ? s->dll : read_rbr(s);
			break;
		case REG_IER:
			v = dlab ? s->dlm : s->ier;
			break;
		case REG_IIR_FCR:
			v = read_iir(s);
			break;
		case REG_LCR:
			v = s->lcr;
			break;
		case REG_MCR:
			v = s->mcr;
			break;
		case REG_LSR:
			v = read_lsr(s);
			break;
		case REG_MSR:
			v = read_msr(s);
			break;
		case REG_SCR:
			v = s->scr;
			break;
		}
		data[0] = v;
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

size_t serial_rx_space(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	size_t space = SERIAL_RX_BUF_SIZE - s->host_count;
	if (!space)
		s->rx_blocked = true;
	pthread_mutex_unlock(&s->lock);
	return space;
}

int serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&s->lock);
	size_t space = SERIAL_RX_BUF_SIZE - s->host_count;
	size_t n = len < space ? len : space;
	for (size_t i = 0; i < n; i++) {
		s->host_buf[(s->host_head + s->host_count) % SERIAL_RX_BUF_SIZE] =
			buf[i];
		s->host_count++;
	}
	rx_refill(s);
	if (n < len || s->host_count == SERIAL_RX_BUF_SIZE)
		s->rx_blocked = true;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return (int)n;
}

int serial_create(struct serial **out, int out_fd, struct irq_line irq,
		  int rx_ready_fd)
{
	if (!out)
		return -EINVAL;
	struct serial *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (out_fd >= 0) {
		int r = out_sink_create(&s->out, out_fd, "serial");
		if (r < 0) {
			free(s);
			return r;
		}
	}
	int ret = pthread_mutex_init(&s->lock, NULL);
	if (ret) {
		out_sink_destroy(s->out);
		free(s);
		return -ret;
	}
	s->rx_ready_fd = rx_ready_fd;
	s->irq = irq;
	s->msr = MSR_IDLE_INPUTS;
	s->dll = 0x0c; /* 9600 baud with the standard 1.8432 MHz clock */
	*out = s;
	return 0;
}

void serial_reset(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	s->ier = s->fcr = s->lcr = s->mcr = 0;
	s->lsr_errors = 0;
	s->msr = MSR_IDLE_INPUTS;
	s->scr = 0;
	s->dll = 0x0c;
	s->dlm = 0;
	s->thre_pending = false;
	rx_fifo_clear(s);
	rx_refill(s);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	out_sink_destroy(s->out);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

struct out_sink *serial_out_sink(struct serial *s)
{
	return s->out;
}

uint64_t serial_tx_dropped(struct serial *s)
{
	return s->out ? out_sink_dropped(s->out) : 0;
}

/* ---- the platform record ---- */

static void serial_reset_op(void *dev) { serial_reset(dev); }
static void serial_destroy_op(void *dev) { serial_destroy(dev); }

static void serial_describe(void *dev, struct platform_info *info)
{
	(void)dev;
	info->regions[info->nregions++] = (struct platform_region){
		.name = "serial", .addr = COM1_PORT, .size = SERIAL_NR_PORTS,
		.irq = COM1_IRQ,
	};
}

/* The UART's registers and receive FIFO; what waits in the host buffer
 * (stdin not yet taken) and the output sink are the process's. */
static int serial_save(void *dev, struct snap_buf *b)
{
	struct serial *s = dev;
	pthread_mutex_lock(&s->lock);
	uint8_t regs[] = { s->ier, s->fcr, s->lcr, s->mcr, s->lsr_errors, s->msr,
			   s->scr, s->dll, s->dlm, s->thre_pending };
	snap_put(b, regs, sizeof(regs));
	snap_put_u32(b, s->rx_count);
	for (unsigned i = 0; i < s->rx_count; i++)
		snap_put_u8(b, s->rx_fifo[(s->rx_head + i) % SERIAL_FIFO_SIZE]);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int serial_restore(void *dev, struct snap_cur *c)
{
	struct serial *s = dev;
	uint8_t regs[10];
	snap_get(c, regs, sizeof(regs));
	uint32_t n = snap_get_u32(c);
	if (n > SERIAL_FIFO_SIZE)
		c->bad = true;
	uint8_t fifo[SERIAL_FIFO_SIZE];
	if (!c->bad)
		snap_get(c, fifo, n);
	int ret = snap_cur_end(c);
	if (ret)
		return ret;
	pthread_mutex_lock(&s->lock);
	s->ier = regs[0];
	s->fcr = regs[1];
	s->lcr = regs[2];
	s->mcr = regs[3];
	s->lsr_errors = regs[4];
	s->msr = regs[5];
	s->scr = regs[6];
	s->dll = regs[7];
	s->dlm = regs[8];
	s->thre_pending = regs[9] != 0;
	memcpy(s->rx_fifo, fifo, n);
	s->rx_head = 0;
	s->rx_count = n;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

const struct platform_dev_ops serial_platform_ops = {
	.name = "serial",
	.save = serial_save,
	.restore = serial_restore,
	.reset = serial_reset_op,
	.destroy = serial_destroy_op,
	.describe = serial_describe,
};

int serial_platform_add(struct platform *p, const struct platform_ctx *c)
{
	if (c->cfg->serial == OUTPUT_OFF)
		return 0;
	struct serial *s;
	int ret = serial_create(&s, c->serial_out_fd, platform_irq(c, COM1_IRQ),
				c->rx_ready_fd);
	if (ret) {
		log_error("serial: %s", strerror(-ret));
		return ret;
	}
	ret = platform_add(p, &serial_platform_ops, s);
	return ret ?: platform_place(c->pio, COM1_PORT, SERIAL_NR_PORTS, serial_io, s,
				     "serial (COM1)");
}
