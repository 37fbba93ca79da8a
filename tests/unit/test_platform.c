/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the platform-device records (src/platform.c) and the
 * legacy devices' builders: what each places on the buses, what it says of
 * itself for vm.info, and that a machine reset and the teardown reach every
 * device through its record.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/layout.h"
#include "legacy/debug_exit.h"
#include "legacy/ged.h"
#include "legacy/i8042.h"
#include "legacy/rtc.h"
#include "legacy/serial.h"
#include "log.h"
#include "log_capture.h"
#include "platform.h"

/* ---- the records themselves, with a counting fake device ---- */

struct fake {
	int resets, destroys;
	int order;   /* when it was destroyed (1 = first) */
	int *clock;  /* shared destroy counter */
};

static void fake_reset(void *d) { ((struct fake *)d)->resets++; }
static void fake_destroy(void *d)
{
	struct fake *f = d;
	f->destroys++;
	f->order = ++*f->clock;
}

static const struct platform_dev_ops fake_ops = {
	.name = "fake", .reset = fake_reset, .destroy = fake_destroy,
};
/* No reset, no describe: both optional. */
static const struct platform_dev_ops bare_ops = { .name = "bare", .destroy = fake_destroy };

static void test_records(void **state)
{
	(void)state;
	int clock = 0;
	struct fake a = { .clock = &clock }, b = { .clock = &clock }, c = { .clock = &clock };
	struct platform p = { 0 };
	assert_int_equal(platform_add(&p, &fake_ops, &a), 0);
	assert_int_equal(platform_add(&p, &bare_ops, &b), 0);
	assert_int_equal(platform_add(&p, &fake_ops, &c), 0);
	assert_ptr_equal(platform_find(&p, &fake_ops), &a);
	assert_ptr_equal(platform_find(&p, &bare_ops), &b);
	assert_null(platform_find(&p, &serial_platform_ops));

	platform_reset(&p);
	platform_reset(&p);
	assert_int_equal(a.resets, 2);
	assert_int_equal(b.resets, 0);
	assert_int_equal(c.resets, 2);

	/* Last added first. */
	platform_destroy(&p);
	assert_int_equal(p.ndevs, 0);
	assert_int_equal(c.order, 1);
	assert_int_equal(b.order, 2);
	assert_int_equal(a.order, 3);
	assert_int_equal(a.destroys + b.destroys + c.destroys, 3);
	platform_destroy(&p); /* empty: nothing again */
	assert_int_equal(clock, 3);
}

static void test_full_destroys_the_device(void **state)
{
	(void)state;
	int clock = 0;
	struct fake f[PLATFORM_MAX_DEVS + 1];
	memset(f, 0, sizeof(f));
	struct platform p = { 0 };
	for (unsigned i = 0; i < PLATFORM_MAX_DEVS; i++) {
		f[i].clock = &clock;
		assert_int_equal(platform_add(&p, &fake_ops, &f[i]), 0);
	}
	f[PLATFORM_MAX_DEVS].clock = &clock;
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	assert_int_equal(platform_add(&p, &fake_ops, &f[PLATFORM_MAX_DEVS]), -ENOSPC);
	assert_int_equal(log_capture_stop(&cap), 1); /* logged once, here */
	/* Refused, yet owned: gone at once, the others untouched. */
	assert_int_equal(f[PLATFORM_MAX_DEVS].destroys, 1);
	assert_int_equal(clock, 1);
	platform_destroy(&p);
	assert_int_equal(clock, PLATFORM_MAX_DEVS + 1);
}

/* ---- the legacy devices' builders ---- */

struct fake_irqs {
	int level[32];
};

static void fake_irq_set(void *opaque, uint32_t gsi, int level)
{
	struct fake_irqs *f = opaque;
	if (gsi < 32)
		f->level[gsi] = level;
}

static struct irq_line fake_line(void *opaque, uint32_t gsi)
{
	return (struct irq_line){ .set = fake_irq_set, .opaque = opaque, .gsi = gsi };
}

struct fake_exit {
	int requests, status;
};

static void fake_exit_req(void *opaque, int status, const char *why)
{
	(void)why;
	struct fake_exit *e = opaque;
	e->requests++;
	e->status = status;
}

struct machine {
	struct vm_config cfg;
	struct bus pio, mmio;
	struct fake_irqs irqs;
	struct fake_exit exit;
	struct platform p;
	struct platform_ctx ctx;
};

/* The builders in vm.c's order. */
static const platform_builder_fn builders[] = {
	serial_platform_add, i8042_platform_add, rtc_platform_add,
	debug_exit_platform_add, ged_platform_add,
};

static void machine_init(struct machine *m, enum output_mode serial, bool debug_exit)
{
	memset(m, 0, sizeof(*m));
	config_defaults(&m->cfg);
	m->cfg.serial = serial;
	m->cfg.debug_exit = debug_exit;
	m->cfg.mem_size = 256ULL << 20;
	assert_int_equal(bus_init(&m->pio, "pio"), 0);
	assert_int_equal(bus_init(&m->mmio, "mmio"), 0);
	m->ctx = (struct platform_ctx){
		.cfg = &m->cfg, .pio = &m->pio, .mmio = &m->mmio,
		.exit = { .request = fake_exit_req, .opaque = &m->exit },
		.irq_line = fake_line, .irq_opaque = &m->irqs,
		.serial_out_fd = -1, .rx_ready_fd = -1,
	};
}

static int machine_build(struct machine *m)
{
	for (size_t i = 0; i < sizeof(builders) / sizeof(builders[0]); i++) {
		int ret = builders[i](&m->p, &m->ctx);
		if (ret)
			return ret;
	}
	return 0;
}

static void machine_destroy(struct machine *m)
{
	platform_destroy(&m->p);
	bus_destroy(&m->pio);
	bus_destroy(&m->mmio);
}

static uint8_t inb(struct machine *m, uint16_t port)
{
	uint8_t v = 0xa5;
	assert_true(bus_access(&m->pio, port, &v, 1, false));
	return v;
}

static void outb(struct machine *m, uint16_t port, uint8_t v)
{
	assert_true(bus_access(&m->pio, port, &v, 1, true));
}

/* What vm.info listed before the records existed, in the same order. */
static const struct platform_region want[] = {
	{ "serial", false, COM1_PORT, 8, COM1_IRQ },
	{ "i8042", false, I8042_DATA_PORT, 1, 1 },
	{ "i8042 command", false, I8042_CMD_PORT, 1, -1 },
	{ "rtc", false, RTC_PORT, 2, -1 },
	{ "debug-exit", false, DEBUG_EXIT_PORT, 1, -1 },
	{ "acpi-ged", true, GED_MMIO_ADDR, GED_MMIO_SIZE, GED_GSI },
};

static void test_builders_describe(void **state)
{
	(void)state;
	struct machine m;
	machine_init(&m, OUTPUT_NULL, true);
	assert_int_equal(machine_build(&m), 0);
	assert_int_equal(m.p.ndevs, 5);
	size_t n = 0;
	for (unsigned i = 0; i < m.p.ndevs; i++) {
		const struct platform_dev *d = &m.p.devs[i];
		assert_non_null(d->ops->name);
		assert_non_null(d->ops->destroy);
		struct platform_info info = { 0 };
		d->ops->describe(d->dev, &info);
		for (unsigned r = 0; r < info.nregions; r++, n++) {
			assert_true(n < sizeof(want) / sizeof(want[0]));
			const struct platform_region *g = &info.regions[r];
			assert_string_equal(g->name, want[n].name);
			assert_int_equal(g->mmio, want[n].mmio);
			assert_int_equal(g->addr, want[n].addr);
			assert_int_equal(g->size, want[n].size);
			assert_int_equal(g->irq, want[n].irq);
			/* Each region is on its bus, first to last byte (the
			 * GED takes only 4-byte reads of its first register). */
			struct bus *b = g->mmio ? &m.mmio : &m.pio;
			uint8_t v[4] = { 0 };
			uint32_t len = g->mmio ? 4 : 1;
			assert_true(bus_access(b, g->addr, v, len, false));
			if (!g->mmio)
				assert_true(bus_access(b, g->addr + g->size - 1, v, 1, false));
			assert_false(bus_access(b, g->addr + g->size, v, 1, false));
		}
	}
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	assert_non_null(platform_find(&m.p, &serial_platform_ops));
	assert_non_null(platform_find(&m.p, &ged_platform_ops));
	/* The exit request reaches the ctx's: debug-exit writes. */
	outb(&m, DEBUG_EXIT_PORT, 7);
	assert_int_equal(m.exit.requests, 1);
	assert_int_equal(m.exit.status, 7);
	machine_destroy(&m);
}

/* --serial off, no --debug-exit: their builders add nothing. */
static void test_builders_optional(void **state)
{
	(void)state;
	struct machine m;
	machine_init(&m, OUTPUT_OFF, false);
	assert_int_equal(machine_build(&m), 0);
	assert_int_equal(m.p.ndevs, 3);
	assert_null(platform_find(&m.p, &serial_platform_ops));
	assert_null(platform_find(&m.p, &debug_exit_platform_ops));
	assert_non_null(platform_find(&m.p, &i8042_platform_ops));
	uint8_t v;
	assert_false(bus_access(&m.pio, COM1_PORT, &v, 1, false));
	assert_false(bus_access(&m.pio, DEBUG_EXIT_PORT, &v, 1, false));
	machine_destroy(&m);
}

/* A machine reset reaches every device through its record. */
static void test_reset_through_records(void **state)
{
	(void)state;
	struct machine m;
	machine_init(&m, OUTPUT_NULL, false);
	assert_int_equal(machine_build(&m), 0);

	outb(&m, COM1_PORT + 1, 0x0f); /* UART IER */
	outb(&m, RTC_PORT, 0x0b);      /* RTC index: register B */
	struct ged *g = platform_find(&m.p, &ged_platform_ops);
	assert_int_equal(ged_raise(g, GED_EVENT_POWER_BUTTON), 0);
	assert_int_equal(m.irqs.level[GED_GSI], 1);
	outb(&m, I8042_CMD_PORT, 0x60); /* write command byte ... */
	outb(&m, I8042_DATA_PORT, 0x00); /* ... all off */
	outb(&m, I8042_CMD_PORT, 0x20); /* read it back */
	assert_int_equal(inb(&m, I8042_DATA_PORT), 0x00);

	platform_reset(&m.p);
	assert_int_equal(inb(&m, COM1_PORT + 1), 0);
	assert_int_equal(ged_pending(g), 0);
	assert_int_equal(m.irqs.level[GED_GSI], 0);
	outb(&m, I8042_CMD_PORT, 0x20);
	assert_int_not_equal(inb(&m, I8042_DATA_PORT), 0x00); /* as created */
	/* The RTC index is 0 again: the data port reads seconds (BCD). */
	uint8_t sec = inb(&m, RTC_PORT + 1);
	assert_true((sec & 0x0f) <= 9 && (sec >> 4) <= 5);
	assert_int_equal(m.exit.requests, 0);
	machine_destroy(&m);
}

static void squatter_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			bool is_write)
{
	(void)opaque; (void)off; (void)data; (void)len; (void)is_write;
}

/* A builder whose ports are taken: refused, and the record still owns the
 * device (the teardown frees it; the sanitizer builds see a leak if not). */
static void test_builder_ports_taken(void **state)
{
	(void)state;
	struct machine m;
	machine_init(&m, OUTPUT_NULL, false);
	assert_int_equal(bus_register(&m.pio, RTC_PORT + 1, 1, squatter_io, NULL, "squatter"),
			 0);
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	assert_int_equal(rtc_platform_add(&m.p, &m.ctx), -EBUSY);
	assert_int_equal(log_capture_stop(&cap), 1); /* logged once, here */
	assert_int_equal(m.p.ndevs, 1);
	assert_non_null(platform_find(&m.p, &rtc_platform_ops));
	machine_destroy(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_full_destroys_the_device),
		cmocka_unit_test(test_builders_describe),
		cmocka_unit_test(test_builders_optional),
		cmocka_unit_test(test_reset_through_records),
		cmocka_unit_test(test_builder_ports_taken),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
