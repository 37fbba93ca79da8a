/* SPDX-License-Identifier: MIT */
/* Unit tests for the ACPI Generic Event Device (src/legacy/ged.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "legacy/ged.h"
#include "log.h"

struct fake_irq {
	int level;
	int changes;
	uint32_t gsi;
};

static void fake_irq_set(void *opaque, uint32_t gsi, int level)
{
	struct fake_irq *f = opaque;
	f->gsi = gsi;
	f->level = level;
	f->changes++;
}

static struct ged *make(struct fake_irq *f)
{
	memset(f, 0, sizeof(*f));
	struct ged *g = NULL;
	struct irq_line line = { .set = fake_irq_set, .opaque = f, .gsi = 23 };
	assert_int_equal(ged_create(&g, line), 0);
	assert_non_null(g);
	return g;
}

/* A 4-byte access at offset off; reads start from 0xa5 bytes (the bus
 * pre-fills all-ones; anything else shows what the device wrote). */
static uint32_t rd(struct ged *g, uint64_t off, uint32_t len)
{
	uint8_t b[8];
	memset(b, 0xa5, sizeof(b));
	ged_mmio(g, off, b, len, false);
	uint32_t v = 0;
	for (uint32_t i = 0; i < len && i < 4; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void wr(struct ged *g, uint64_t off, uint32_t v, uint32_t len)
{
	uint8_t b[8] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 24) };
	ged_mmio(g, off, b, len, true);
}

static void test_event_latch_and_w1c(void **state)
{
	(void)state;
	struct fake_irq f;
	struct ged *g = make(&f);
	assert_int_equal(rd(g, GED_REG_EVENT, 4), 0);
	assert_int_equal(f.changes, 0);

	/* A press: EVENT bit 0, line up (once). */
	assert_int_equal(ged_raise(g, GED_EVENT_POWER_BUTTON), 0);
	assert_int_equal(f.level, 1);
	assert_int_equal(f.gsi, 23);
	assert_int_equal(f.changes, 1);
	/* Reads have no side effect. */
	assert_int_equal(rd(g, GED_REG_EVENT, 4), GED_EVENT_POWER_BUTTON);
	assert_int_equal(rd(g, GED_REG_EVENT, 4), GED_EVENT_POWER_BUTTON);
	assert_int_equal(ged_pending(g), GED_EVENT_POWER_BUTTON);
	/* A second press while pending: still one level change. */
	assert_int_equal(ged_raise(g, GED_EVENT_POWER_BUTTON), 0);
	assert_int_equal(f.changes, 1);
	/* Writing 0 acknowledges nothing; writing 1 clears, line down. */
	wr(g, GED_REG_EVENT, 0, 4);
	assert_int_equal(rd(g, GED_REG_EVENT, 4), GED_EVENT_POWER_BUTTON);
	assert_int_equal(f.level, 1);
	wr(g, GED_REG_EVENT, 0xffffffff, 4);
	assert_int_equal(rd(g, GED_REG_EVENT, 4), 0);
	assert_int_equal(f.level, 0);
	assert_int_equal(f.changes, 2);

	/* Reset forgets a pending event and lowers the line. */
	assert_int_equal(ged_raise(g, GED_EVENT_POWER_BUTTON), 0);
	assert_int_equal(f.level, 1);
	ged_reset(g);
	assert_int_equal(f.level, 0);
	assert_int_equal(ged_pending(g), 0);

	/* Unknown or no events are refused. */
	assert_int_equal(ged_raise(g, 0), -EINVAL);
	assert_int_equal(ged_raise(g, 1u << 5), -EINVAL);
	assert_int_equal(ged_pending(g), 0);
	ged_destroy(g);
	ged_destroy(NULL);
	assert_int_equal(ged_create(NULL, (struct irq_line){ 0 }), -EINVAL);
}

static void test_bad_accesses(void **state)
{
	(void)state;
	struct fake_irq f;
	struct ged *g = make(&f);
	log_set_level(LOG_ERROR); /* the warnings are expected */
	assert_int_equal(ged_raise(g, GED_EVENT_POWER_BUTTON), 0);
	/* Other sizes and offsets: reads give 0, writes change nothing. */
	assert_int_equal(rd(g, GED_REG_EVENT, 1), 0);
	assert_int_equal(rd(g, GED_REG_EVENT, 2), 0);
	assert_int_equal(rd(g, 4, 4), 0);
	assert_int_equal(rd(g, 2, 2), 0);
	assert_int_equal(rd(g, 0xc, 4), 0);
	uint8_t b8[8];
	memset(b8, 0xa5, sizeof(b8));
	ged_mmio(g, GED_REG_EVENT, b8, 8, false);
	for (int i = 0; i < 8; i++)
		assert_int_equal(b8[i], 0);
	wr(g, GED_REG_EVENT, 1, 1);
	wr(g, GED_REG_EVENT, 1, 2);
	wr(g, 4, 0xffffffff, 4);
	wr(g, 1, 0xffffffff, 4);
	memset(b8, 0xff, sizeof(b8));
	ged_mmio(g, GED_REG_EVENT, b8, 8, true);
	assert_int_equal(rd(g, GED_REG_EVENT, 4), GED_EVENT_POWER_BUTTON);
	assert_int_equal(f.level, 1);
	assert_int_equal(f.changes, 1);
	/* Many of them: the log is rate-limited, the device unharmed. */
	for (int i = 0; i < 1000; i++)
		wr(g, 8, 1, 4);
	assert_int_equal(ged_pending(g), GED_EVENT_POWER_BUTTON);
	ged_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_latch_and_w1c),
		cmocka_unit_test(test_bad_accesses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
