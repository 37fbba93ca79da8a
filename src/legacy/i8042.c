/* SPDX-License-Identifier: MIT */
/*
 * Minimal i8042 keyboard controller, written from the classic AT/PS2
 * controller command description. See i8042.h for what is emulated.
 *
 * The output buffer is a small queue rather than the single byte of the real
 * part, so multi-byte answers cannot be lost; each queued byte remembers
 * whether it came from the aux port and whether it signals a timeout.
 */
#include "legacy/i8042.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "log.h"
#include "snap/snap.h"

/* Status register. */
#define STS_OBF 0x01 /* output buffer full */
#define STS_IBF 0x02 /* input buffer full (never: writes are instant) */
#define STS_SYS 0x04 /* system flag, mirrors command byte bit 2 */
#define STS_CMD 0x08 /* last write was to the command port */
#define STS_UNLOCKED 0x10 /* keyboard not inhibited */
#define STS_AUX_OBF 0x20 /* output buffer holds aux data */
#define STS_TIMEOUT 0x40
#define STS_PARITY 0x80

/* Command byte. */
#define CTR_KBD_INT 0x01
#define CTR_AUX_INT 0x02
#define CTR_SYS 0x04
#define CTR_KBD_DIS 0x10
#define CTR_AUX_DIS 0x20
#define CTR_XLATE 0x40

/* Output port. */
#define OUTP_RESET 0x01 /* active low: 0 resets the CPU */
#define OUTP_A20 0x02

/* Commands. */
#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE 0xa8
#define CMD_AUX_TEST 0xa9
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_READ_INPORT 0xc0
#define CMD_READ_OUTPORT 0xd0
#define CMD_WRITE_OUTPORT 0xd1
#define CMD_WRITE_KBD_OBUF 0xd2
#define CMD_WRITE_AUX_OBUF 0xd3
#define CMD_WRITE_AUX 0xd4
#define CMD_A20_DISABLE 0xdd
#define CMD_A20_ENABLE 0xdf
#define CMD_PULSE_BASE 0xf0

#define SELF_TEST_OK 0x55
#define PORT_TEST_OK 0x00
#define DEV_NO_RESPONSE 0xfe

#define OBUF_SIZE 16

#define SRC_AUX 0x01
#define SRC_TIMEOUT 0x02

struct obuf_entry {
	uint8_t byte;
	uint8_t flags; /* SRC_* */
};

struct i8042 {
	pthread_mutex_t lock;
	struct exit_request er;
	struct irq_line kbd_irq;
	struct irq_line aux_irq;
	int kbd_level;
	int aux_level;

	uint8_t ctr;
	uint8_t outport;
	uint8_t last_data; /* returned when the data port is read while empty */
	bool last_was_cmd;
	uint8_t pending; /* command waiting for its data byte, 0 if none */

	struct obuf_entry obuf[OBUF_SIZE];
	unsigned head;
	unsigned count;

	struct ratelimit rl;
};

static void obuf_push(struct i8042 *d, uint8_t byte, uint8_t flags)
{
	if (d->count >= OBUF_SIZE)
		return; /* guest is not reading; drop */
	d->obuf[(d->head + d->count) % OBUF_SIZE] =
		(struct obuf_entry){ .byte = byte, .flags = flags };
	d->count++;
}

static void update_irqs(struct i8042 *d)
{
	int kbd = 0, aux = 0;
	if (d->count) {
		bool is_aux = d->obuf[d->head].flags & SRC_AUX;
		kbd = !is_aux && (d->ctr & CTR_KBD_INT);
		aux = is_aux && (d->ctr & CTR_AUX_INT);
	}
	if (kbd != d->kbd_level) {
		d->kbd_level = kbd;
		irq_line_set(&d->kbd_irq, kbd);
	}
	if (aux != d->aux_level) {
		d->aux_level = aux;
		irq_line_set(&d->aux_irq, aux);
	}
}

static uint8_t read_status(const struct i8042 *d)
{
	uint8_t v = STS_UNLOCKED;
	if (d->ctr & CTR_SYS)
		v |= STS_SYS;
	if (d->last_was_cmd)
		v |= STS_CMD;
	if (d->count) {
		uint8_t f = d->obuf[d->head].flags;
		v |= STS_OBF;
		if (f & SRC_AUX)
			v |= STS_AUX_OBF;
		if (f & SRC_TIMEOUT)
			v |= STS_TIMEOUT;
	}
	return v;
}

static uint8_t read_data(struct i8042 *d)
{
	if (d->count) {
		d->last_data = d->obuf[d->head].byte;
		d->head = (d->head + 1) % OBUF_SIZE;
		d->count--;
	}
	return d->last_data;
}

/* Returns true when the write asks for a CPU reset. */
static bool write_outport(struct i8042 *d, uint8_t v)
{
	d->outport = v;
	return !(v & OUTP_RESET);
}

/* Data byte written to port 0x60. Returns true on reset request. */
static bool write_data(struct i8042 *d, uint8_t v)
{
	uint8_t cmd = d->pending;
	d->pending = 0;
	switch (cmd) {
	case CMD_WRITE_CTR:
		d->ctr = v;
		return false;
	case CMD_WRITE_OUTPORT:
		return write_outport(d, v);
	case CMD_WRITE_KBD_OBUF:
		obuf_push(d, v, 0);
		return false;
	case CMD_WRITE_AUX_OBUF:
		obuf_push(d, v, SRC_AUX);
		return false;
	case CMD_WRITE_AUX:
		/* No mouse attached. */
		obuf_push(d, DEV_NO_RESPONSE, SRC_AUX | SRC_TIMEOUT);
		return false;
	case 0:
		/* To the keyboard, which is absent. Writing enables the port. */
		d->ctr &= ~CTR_KBD_DIS;
		obuf_push(d, DEV_NO_RESPONSE, SRC_TIMEOUT);
		return false;
	default:
		/* Data for a RAM write (0x61-0x7f): only the command byte is kept. */
		return false;
	}
}

/* Command written to port 0x64. Returns true on reset request. */
static bool write_cmd(struct i8042 *d, uint8_t cmd)
{
	d->pending = 0;
	if (cmd == CMD_READ_CTR) {
		obuf_push(d, d->ctr, 0);
		return false;
	}
	if (cmd > CMD_READ_CTR && cmd < CMD_WRITE_CTR) {
		obuf_push(d, 0, 0); /* other controller RAM bytes read 0 */
		return false;
	}
	if (cmd >= CMD_WRITE_CTR && cmd < 0x80) {
		d->pending = cmd;
		return false;
	}
	if (cmd >= CMD_PULSE_BASE) {
		/* Bits 0-3 clear = pulse that output-port bit low for ~6 us. */
		return !(cmd & OUTP_RESET);
	}
	switch (cmd) {
	case CMD_AUX_DISABLE:
		d->ctr |= CTR_AUX_DIS;
		break;
	case CMD_AUX_ENABLE:
		d->ctr &= ~CTR_AUX_DIS;
		break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		obuf_push(d, PORT_TEST_OK, 0);
		break;
	case CMD_SELF_TEST:
		d->ctr |= CTR_SYS;
		obuf_push(d, SELF_TEST_OK, 0);
		break;
	case CMD_KBD_DISABLE:
		d->ctr |= CTR_KBD_DIS;
		break;
	case CMD_KBD_ENABLE:
		d->ctr &= ~CTR_KBD_DIS;
		break;
	case CMD_READ_INPORT:
		obuf_push(d, 0x80, 0); /* bit 7: keyboard not inhibited */
		break;
	case CMD_READ_OUTPORT: {
		uint8_t v = d->outport & (OUTP_RESET | OUTP_A20);
		if (d->count)
			v |= (d->obuf[d->head].flags & SRC_AUX) ? 0x20 : 0x10;
		obuf_push(d, v, 0);
		break;
	}
	case CMD_WRITE_OUTPORT:
	case CMD_WRITE_KBD_OBUF:
	case CMD_WRITE_AUX_OBUF:
	case CMD_WRITE_AUX:
		d->pending = cmd;
		break;
	case CMD_A20_DISABLE:
		d->outport &= ~OUTP_A20;
		break;
	case CMD_A20_ENABLE:
		d->outport |= OUTP_A20;
		break;
	default:
		log_ratelimited(&d->rl, LOG_DEBUG,
				"i8042: unhandled command 0x%02x", cmd);
		break;
	}
	return false;
}

static void i8042_access(struct i8042 *d, bool cmd_port, uint8_t *data,
			 uint32_t len, bool is_write)
{
	if (!len)
		return;
	bool reset = false;
	pthread_mutex_lock(&d->lock);
	if (is_write) {
		d->last_was_cmd = cmd_port;
		reset = cmd_port ? write_cmd(d, data[0]) : write_data(d, data[0]);
	} else {
		data[0] = cmd_port ? read_status(d) : read_data(d);
	}
	update_irqs(d);
	pthread_mutex_unlock(&d->lock);

	if (reset) {
		log_ratelimited(&d->rl, LOG_INFO, "i8042: guest requested reset");
		exit_request_send(&d->er, 0, "guest reset (i8042)");
	}
}

void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write)
{
	(void)offset;
	i8042_access(opaque, false, data, len, is_write);
}

void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		  bool is_write)
{
	(void)offset;
	i8042_access(opaque, true, data, len, is_write);
}

/* As firmware leaves it: keyboard interrupt on, translation, POST ok. */
static void power_on(struct i8042 *d)
{
	d->ctr = CTR_KBD_INT | CTR_SYS | CTR_XLATE;
	d->outport = OUTP_RESET | OUTP_A20;
	d->last_data = 0;
	d->last_was_cmd = false;
	d->pending = 0;
	d->head = d->count = 0;
}

void i8042_reset(struct i8042 *d)
{
	pthread_mutex_lock(&d->lock);
	power_on(d);
	update_irqs(d);
	pthread_mutex_unlock(&d->lock);
}

int i8042_create(struct i8042 **out, struct exit_request er,
		 struct irq_line kbd_irq, struct irq_line aux_irq)
{
	if (!out)
		return -EINVAL;
	struct i8042 *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	int ret = pthread_mutex_init(&d->lock, NULL);
	if (ret) {
		free(d);
		return -ret;
	}
	d->er = er;
	d->kbd_irq = kbd_irq;
	d->aux_irq = aux_irq;
	power_on(d);
	*out = d;
	return 0;
}

void i8042_destroy(struct i8042 *d)
{
	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* ---- the platform record ---- */

static void i8042_reset_op(void *dev) { i8042_reset(dev); }
static void i8042_destroy_op(void *dev) { i8042_destroy(dev); }

static void i8042_describe(void *dev, struct platform_info *info)
{
	(void)dev;
	info->regions[info->nregions++] = (struct platform_region){
		.name = "i8042", .addr = I8042_DATA_PORT, .size = 1, .irq = 1,
	};
	info->regions[info->nregions++] = (struct platform_region){
		.name = "i8042 command", .addr = I8042_CMD_PORT, .size = 1, .irq = -1,
	};
}

/* Controller registers and the output buffer (oldest first). */
static int i8042_save(void *dev, struct snap_buf *b)
{
	struct i8042 *d = dev;
	pthread_mutex_lock(&d->lock);
	uint8_t regs[] = { d->ctr, d->outport, d->last_data, d->last_was_cmd, d->pending };
	snap_put(b, regs, sizeof(regs));
	snap_put_u32(b, d->count);
	for (unsigned i = 0; i < d->count; i++) {
		const struct obuf_entry *e = &d->obuf[(d->head + i) % OBUF_SIZE];
		snap_put_u8(b, e->byte);
		snap_put_u8(b, e->flags);
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static int i8042_restore(void *dev, struct snap_cur *c)
{
	struct i8042 *d = dev;
	uint8_t regs[5];
	snap_get(c, regs, sizeof(regs));
	uint32_t n = snap_get_u32(c);
	if (n > OBUF_SIZE)
		c->bad = true;
	struct obuf_entry ob[OBUF_SIZE];
	for (uint32_t i = 0; i < n && !c->bad; i++) {
		ob[i].byte = snap_get_u8(c);
		ob[i].flags = snap_get_u8(c);
	}
	int ret = snap_cur_end(c);
	if (ret)
		return ret;
	pthread_mutex_lock(&d->lock);
	d->ctr = regs[0];
	d->outport = regs[1];
	d->last_data = regs[2];
	d->last_was_cmd = regs[3] != 0;
	d->pending = regs[4];
	memcpy(d->obuf, ob, n * sizeof(ob[0]));
	d->head = 0;
	d->count = n;
	update_irqs(d);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

const struct platform_dev_ops i8042_platform_ops = {
	.name = "i8042",
	.save = i8042_save,
	.restore = i8042_restore,
	.reset = i8042_reset_op,
	.destroy = i8042_destroy_op,
	.describe = i8042_describe,
};

int i8042_platform_add(struct platform *p, const struct platform_ctx *c)
{
	struct i8042 *d;
	int ret = i8042_create(&d, c->exit, platform_irq(c, 1), platform_irq(c, 12));
	if (ret) {
		log_error("i8042: %s", strerror(-ret));
		return ret;
	}
	ret = platform_add(p, &i8042_platform_ops, d);
	ret = ret ?: platform_place(c->pio, I8042_DATA_PORT, 1, i8042_data_io, d,
				    "i8042 data");
	return ret ?: platform_place(c->pio, I8042_CMD_PORT, 1, i8042_cmd_io, d,
				     "i8042 command");
}
