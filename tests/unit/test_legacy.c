/* SPDX-License-Identifier: MIT */
/* Unit tests for the i8042, RTC and debug-exit devices and src/term.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "legacy/acpi_sleep.h"
#include "legacy/debug_exit.h"
#include "legacy/i8042.h"
#include "legacy/rtc.h"
#include "log.h"
#include "log_capture.h"
#include "term.h"

struct fake_exit {
	int calls;
	int status;
	const char *why;
};

static void fake_exit_request(void *opaque, int status, const char *why)
{
	struct fake_exit *f = opaque;
	f->calls++;
	f->status = status;
	f->why = why;
}

struct fake_irq {
	int level;
	int changes;
};

static void fake_irq_set(void *opaque, uint32_t gsi, int level)
{
	struct fake_irq *f = opaque;
	(void)gsi;
	f->level = level;
	f->changes++;
}

/* ---- i8042 ---- */

static uint8_t kbc_status(struct i8042 *d)
{
	uint8_t v = 0xff;
	i8042_cmd_io(d, 0, &v, 1, false);
	return v;
}

static uint8_t kbc_data(struct i8042 *d)
{
	uint8_t v = 0xff;
	i8042_data_io(d, 0, &v, 1, false);
	return v;
}

static void kbc_cmd(struct i8042 *d, uint8_t cmd)
{
	i8042_cmd_io(d, 0, &cmd, 1, true);
}

static void kbc_write(struct i8042 *d, uint8_t v)
{
	i8042_data_io(d, 0, &v, 1, true);
}

static void test_i8042_reset(void **state)
{
	(void)state;
	struct fake_exit fe = { 0 };
	struct exit_request er = { fake_exit_request, &fe };
	struct i8042 *d;
	assert_int_equal(i8042_create(&d, er, (struct irq_line){ 0 },
				      (struct irq_line){ 0 }),
			 0);
	assert_int_equal(kbc_status(d) & 0x01, 0); /* no data */
	kbc_cmd(d, 0xfe);
	assert_int_equal(fe.calls, 1);
	assert_int_equal(fe.status, 0);
	assert_string_equal(fe.why, "guest reset (i8042)");

	/* Writing the output port with the reset bit low resets too. */
	kbc_cmd(d, 0xd1);
	kbc_write(d, 0x03);
	assert_int_equal(fe.calls, 1);
	kbc_cmd(d, 0xd1);
	kbc_write(d, 0x02);
	assert_int_equal(fe.calls, 2);
	/* Pulsing other bits does not. */
	kbc_cmd(d, 0xff);
	assert_int_equal(fe.calls, 2);
	i8042_destroy(d);
}

static void test_i8042_probe_sequence(void **state)
{
	(void)state;
	struct fake_exit fe = { 0 };
	struct fake_irq kbd = { 0 }, aux = { 0 };
	struct i8042 *d;
	assert_int_equal(
		i8042_create(&d, (struct exit_request){ fake_exit_request, &fe },
			     (struct irq_line){ fake_irq_set, &kbd, 1 },
			     (struct irq_line){ fake_irq_set, &aux, 12 }),
		0);

	/* Self test. */
	kbc_cmd(d, 0xaa);
	assert_int_equal(kbc_status(d) & 0x01, 0x01);
	assert_int_equal(kbd.level, 1); /* KBD interrupt enabled by default */
	assert_int_equal(kbc_data(d), 0x55);
	assert_int_equal(kbc_status(d) & 0x01, 0);
	assert_int_equal(kbd.level, 0);

	/* Command byte round trip, interrupts off. */
	kbc_cmd(d, 0x60);
	assert_true(kbc_status(d) & 0x08); /* last write was a command */
	kbc_write(d, 0x44);
	kbc_cmd(d, 0x20);
	assert_int_equal(kbd.level, 0);
	assert_int_equal(kbc_data(d), 0x44);

	/* Port enables reflect in the command byte. */
	kbc_cmd(d, 0xa8);
	kbc_cmd(d, 0x20);
	assert_int_equal(kbc_data(d) & 0x20, 0);
	kbc_cmd(d, 0xa7);
	kbc_cmd(d, 0x20);
	assert_int_equal(kbc_data(d) & 0x20, 0x20);

	/* Interface tests. */
	kbc_cmd(d, 0xab);
	assert_int_equal(kbc_data(d), 0x00);
	kbc_cmd(d, 0xa9);
	assert_int_equal(kbc_data(d), 0x00);

	/* Aux loop-back echoes as aux data. */
	kbc_cmd(d, 0xd3);
	kbc_write(d, 0x5a);
	assert_int_equal(kbc_status(d) & 0x21, 0x21);
	assert_int_equal(kbc_data(d), 0x5a);

	/* No devices: bytes to keyboard/mouse answer 0xfe with timeout. */
	kbc_write(d, 0xff);
	assert_int_equal(kbc_status(d) & 0x61, 0x41);
	assert_int_equal(kbc_data(d), 0xfe);
	kbc_cmd(d, 0x60);
	kbc_write(d, 0x03); /* both interrupts on */
	kbc_cmd(d, 0xd4);
	kbc_write(d, 0xf2);
	assert_int_equal(aux.level, 1);
	assert_int_equal(kbc_status(d) & 0x61, 0x61);
	assert_int_equal(kbc_data(d), 0xfe);
	assert_int_equal(aux.level, 0);
	assert_int_equal(kbc_status(d) & 0x01, 0);

	/* Unknown command and wide access: harmless. */
	kbc_cmd(d, 0xc8);
	uint8_t wide[4] = { 0xff, 0xff, 0xff, 0xff };
	i8042_cmd_io(d, 0, wide, 4, false);
	assert_int_equal(wide[1], 0xff);
	assert_int_equal(fe.calls, 0);
	i8042_destroy(d);
}

/* ---- debug-exit ---- */

/* ACPI sleep control: only SLP_EN with SLP_TYP 5 (\_S5) ends the VM. */
static void test_acpi_sleep(void **state)
{
	(void)state;
	struct fake_exit fe = { 0 };
	struct acpi_sleep *sl;
	assert_int_equal(acpi_sleep_create(
				 &sl, (struct exit_request){ fake_exit_request, &fe }),
			 0);
	uint8_t v = ACPI_SLEEP_TYP_S5 << ACPI_SLEEP_TYP_SHIFT; /* no SLP_EN */
	acpi_sleep_io(sl, 0, &v, 1, true);
	v = ACPI_SLEEP_SLP_EN | (3u << ACPI_SLEEP_TYP_SHIFT); /* S3: not offered */
	acpi_sleep_io(sl, 0, &v, 1, true);
	v = ACPI_SLEEP_SLP_EN | (ACPI_SLEEP_TYP_S5 << ACPI_SLEEP_TYP_SHIFT);
	acpi_sleep_io(sl, 1, &v, 1, true); /* the status register */
	assert_int_equal(fe.calls, 0);
	uint8_t r[2] = { 0xff, 0xff };
	acpi_sleep_io(sl, 1, r, 1, false);
	assert_int_equal(r[0], 0); /* WAK_STS clear */
	acpi_sleep_io(sl, 0, &v, 1, true);
	assert_int_equal(fe.calls, 1);
	assert_int_equal(fe.status, 0);
	assert_string_equal(fe.why, "guest power off (ACPI S5)");
	acpi_sleep_destroy(sl);
}

static void test_debug_exit(void **state)
{
	(void)state;
	struct fake_exit fe = { 0 };
	struct debug_exit *d;
	assert_int_equal(debug_exit_create(
				 &d, (struct exit_request){ fake_exit_request, &fe }),
			 0);
	uint8_t v = 0x2a;
	debug_exit_io(d, 0, &v, 1, true);
	assert_int_equal(fe.calls, 1);
	assert_int_equal(fe.status, 42);
	assert_string_equal(fe.why, "debug-exit");

	uint8_t w[4] = { 0x01, 0x02, 0x00, 0x00 }; /* 0x201 */
	debug_exit_io(d, 0, w, 4, true);
	assert_int_equal(fe.calls, 2);
	assert_int_equal(fe.status, 1);

	uint8_t h[2] = { 0xff, 0x01 };
	debug_exit_io(d, 0, h, 2, true);
	assert_int_equal(fe.status, 255);

	uint8_t r[4] = { 0xff, 0xff, 0xff, 0xff };
	debug_exit_io(d, 0, r, 4, false);
	assert_int_equal(fe.calls, 3);
	for (int i = 0; i < 4; i++)
		assert_int_equal(r[i], 0xff);
	debug_exit_destroy(d);
}

/* ---- RTC ---- */

static uint8_t cmos_read(struct rtc *r, uint8_t idx)
{
	uint8_t v = idx;
	rtc_io(r, 0, &v, 1, true);
	v = 0xff;
	rtc_io(r, 1, &v, 1, false);
	return v;
}

static void cmos_write(struct rtc *r, uint8_t idx, uint8_t val)
{
	rtc_io(r, 0, &idx, 1, true);
	rtc_io(r, 1, &val, 1, true);
}

static unsigned bcd(uint8_t v)
{
	assert_true((v & 0x0f) <= 9);
	assert_true((v >> 4) <= 9);
	return (v >> 4) * 10 + (v & 0x0f);
}

static unsigned bin(uint8_t v)
{
	return v;
}

static time_t rtc_time(struct rtc *r, unsigned (*dec)(uint8_t))
{
	struct tm tm = { 0 };
	tm.tm_sec = (int)dec(cmos_read(r, 0x00));
	tm.tm_min = (int)dec(cmos_read(r, 0x02));
	tm.tm_hour = (int)dec(cmos_read(r, 0x04));
	tm.tm_mday = (int)dec(cmos_read(r, 0x07));
	tm.tm_mon = (int)dec(cmos_read(r, 0x08)) - 1;
	tm.tm_year = (int)(dec(cmos_read(r, 0x32)) * 100 +
			   dec(cmos_read(r, 0x09))) - 1900;
	unsigned wday = dec(cmos_read(r, 0x06));
	time_t t = timegm(&tm);
	assert_int_equal(wday, (unsigned)tm.tm_wday + 1);
	return t;
}

static void assert_close_to_now(time_t t, long slack)
{
	long diff = (long)(t - time(NULL));
	assert_true(diff <= slack && diff >= -slack);
}

static void test_rtc_time(void **state)
{
	(void)state;
	struct rtc *r;
	assert_int_equal(rtc_create(&r, 256ULL << 20, 0), 0);
	assert_int_equal(cmos_read(r, 0x0a) & 0x80, 0); /* UIP clear */
	assert_int_equal(cmos_read(r, 0x0a), 0x26);
	assert_int_equal(cmos_read(r, 0x0b), 0x02); /* 24h, BCD */
	assert_int_equal(cmos_read(r, 0x0c), 0x00);
	assert_int_equal(cmos_read(r, 0x0d), 0x80); /* VRT */

	assert_close_to_now(rtc_time(r, bcd), 5);

	/* Binary mode. */
	cmos_write(r, 0x0b, 0x06);
	assert_close_to_now(rtc_time(r, bin), 5);

	/* 12-hour mode: hour 1..12 with bit 7 = PM. */
	cmos_write(r, 0x0b, 0x04);
	uint8_t h = cmos_read(r, 0x04);
	struct tm now;
	time_t t = time(NULL);
	gmtime_r(&t, &now);
	unsigned h12 = h & 0x7f;
	assert_true(h12 >= 1 && h12 <= 12);
	unsigned h24 = h12 % 12 + ((h & 0x80) ? 12 : 0);
	/* Tolerate an hour boundary between the two reads. */
	assert_true(h24 == (unsigned)now.tm_hour ||
		    h24 == (unsigned)(now.tm_hour + 23) % 24);

	/* NMI-mask bit in the index is ignored. */
	cmos_write(r, 0x40, 0x99);
	assert_int_equal(cmos_read(r, 0xc0), 0x99);
	assert_int_equal(cmos_read(r, 0x40), 0x99);
	/* Register C/D are read-only. */
	cmos_write(r, 0x0d, 0x00);
	assert_int_equal(cmos_read(r, 0x0d), 0x80);
	/* Index port reads leave the bus's all-ones. */
	uint8_t v = 0xff;
	rtc_io(r, 0, &v, 1, false);
	assert_int_equal(v, 0xff);
	rtc_destroy(r);
}

static void test_rtc_set_time(void **state)
{
	(void)state;
	struct rtc *r;
	assert_int_equal(rtc_create(&r, 64ULL << 20, 0), 0);
	/* Set 2030-02-28 13:14:15 with SET held (BCD, 24h). */
	cmos_write(r, 0x0b, 0x82);
	cmos_write(r, 0x09, 0x30);
	cmos_write(r, 0x08, 0x02);
	cmos_write(r, 0x07, 0x28);
	cmos_write(r, 0x04, 0x13);
	cmos_write(r, 0x02, 0x14);
	cmos_write(r, 0x00, 0x15);
	cmos_write(r, 0x0b, 0x02);

	struct tm want = { .tm_year = 130, .tm_mon = 1, .tm_mday = 28,
			   .tm_hour = 13, .tm_min = 14, .tm_sec = 15 };
	time_t target = timegm(&want);
	time_t got = rtc_time(r, bcd);
	assert_true(got >= target && got <= target + 5);

	/* A single write outside SET mode adjusts that field only. */
	cmos_write(r, 0x09, 0x31);
	assert_int_equal(cmos_read(r, 0x09), 0x31);
	assert_int_equal(cmos_read(r, 0x08), 0x02);
	assert_int_equal(cmos_read(r, 0x32), 0x20);

	/* Garbage values do not crash. */
	cmos_write(r, 0x08, 0xff);
	cmos_write(r, 0x04, 0xff);
	(void)cmos_read(r, 0x04);
	rtc_destroy(r);
}

/*
 * Out-of-range writes (binary mode: up to 255 in any field) are clamped to
 * the field's range, so the clock stays bounded. Before the clamp, every
 * write of 255 to the year moved it 200 years on, and about 1.07e7 of them
 * overflowed the int year (UBSan, make check-asan). With SET held the
 * writes are cheap (no timegm), so the test goes past that point.
 */
#define RTC_OVERFLOW_WRITES 11000000u

static void test_rtc_out_of_range_writes(void **state)
{
	(void)state;
	struct rtc *r;
	assert_int_equal(rtc_create(&r, 64ULL << 20, 0), 0);
	cmos_write(r, 0x0b, 0x86); /* SET, binary, 24h */

	static const struct { uint8_t reg, wrote, reads; } f[] = {
		{ 0x00, 255, 59 }, { 0x02, 255, 59 }, { 0x04, 255, 23 },
		{ 0x07, 255, 31 }, { 0x08, 255, 12 }, { 0x09, 255, 99 },
		{ 0x32, 255, 99 }, { 0x07, 0, 1 },    { 0x08, 0, 1 },
	};
	for (unsigned i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		cmos_write(r, f[i].reg, f[i].wrote);
		assert_int_equal(cmos_read(r, f[i].reg), f[i].reads);
	}

	/* The year register, hammered: index once, then the data port. */
	uint8_t idx = 0x09, v = 255;
	rtc_io(r, 0, &idx, 1, true);
	for (unsigned i = 0; i < RTC_OVERFLOW_WRITES; i++)
		rtc_io(r, 1, &v, 1, true);
	assert_int_equal(cmos_read(r, 0x09), 99);
	assert_int_equal(cmos_read(r, 0x32), 99);
	assert_int_equal(cmos_read(r, 0x08), 1);

	/* Running again from 9999-01-01: the clock stays there. */
	cmos_write(r, 0x0b, 0x06);
	for (unsigned i = 0; i < 10000; i++)
		cmos_write(r, 0x09, 255);
	assert_int_equal(cmos_read(r, 0x32), 99);
	assert_int_equal(cmos_read(r, 0x09), 99);

	/* BCD garbage (0xff decodes to 165) is clamped the same way. */
	cmos_write(r, 0x0b, 0x02);
	cmos_write(r, 0x32, 0xff);
	cmos_write(r, 0x09, 0xff);
	assert_int_equal(cmos_read(r, 0x32), 0x99);
	assert_int_equal(cmos_read(r, 0x09), 0x99);
	rtc_destroy(r);
}

static unsigned cmos16(struct rtc *r, uint8_t lo)
{
	return cmos_read(r, lo) | (unsigned)cmos_read(r, lo + 1) << 8;
}

static void test_rtc_memory_bytes(void **state)
{
	(void)state;
	struct rtc *r;
	/* 3 GiB below the hole, 1 GiB above 4 GiB. */
	assert_int_equal(rtc_create(&r, 3ULL << 30, 1ULL << 30), 0);
	assert_int_equal(cmos16(r, 0x15), 640);
	assert_int_equal(cmos16(r, 0x30), 63 * 1024); /* capped at 64 MiB */
	assert_int_equal(cmos16(r, 0x17), 63 * 1024);
	assert_int_equal(cmos16(r, 0x34), ((3U << 30) - (16U << 20)) >> 16);
	unsigned above = cmos_read(r, 0x5b) | cmos_read(r, 0x5c) << 8 |
			 (unsigned)cmos_read(r, 0x5d) << 16;
	assert_int_equal(above, (1U << 30) >> 16);
	unsigned sum = 0;
	for (uint8_t i = 0x10; i <= 0x2d; i++)
		sum += cmos_read(r, i);
	assert_int_equal(cmos_read(r, 0x2e), (sum >> 8) & 0xff);
	assert_int_equal(cmos_read(r, 0x2f), sum & 0xff);
	rtc_destroy(r);

	/* 32 MiB guest. */
	assert_int_equal(rtc_create(&r, 32ULL << 20, 0), 0);
	assert_int_equal(cmos16(r, 0x30), 31 * 1024);
	assert_int_equal(cmos16(r, 0x34), 256);
	assert_int_equal(cmos_read(r, 0x5b), 0);
	rtc_destroy(r);

	/* Tiny guest: no extended memory. */
	assert_int_equal(rtc_create(&r, 512ULL << 10, 0), 0);
	assert_int_equal(cmos16(r, 0x30), 0);
	assert_int_equal(cmos16(r, 0x34), 0);
	rtc_destroy(r);
}

/* ---- term ---- */

static void test_escape_filter(void **state)
{
	(void)state;
	struct term_escape e = { 0 };
	bool quit = true;

	uint8_t a[] = "hello";
	assert_int_equal(term_escape_filter(&e, a, 5, &quit), 5);
	assert_false(quit);
	assert_memory_equal(a, "hello", 5);

	uint8_t b[] = { 'a', 0x01, 'x', 'b' };
	assert_int_equal(term_escape_filter(&e, b, 4, &quit), 2);
	assert_true(quit);
	assert_memory_equal(b, "ab", 2);

	uint8_t c[] = { 0x01, 0x01, 'z' };
	assert_int_equal(term_escape_filter(&e, c, 3, &quit), 2);
	assert_false(quit);
	assert_int_equal(c[0], 0x01);
	assert_int_equal(c[1], 'z');

	/* Split across two reads. */
	uint8_t d1[] = { 'q', 0x01 };
	assert_int_equal(term_escape_filter(&e, d1, 2, &quit), 1);
	assert_false(quit);
	uint8_t d2[] = { 'x' };
	assert_int_equal(term_escape_filter(&e, d2, 1, &quit), 0);
	assert_true(quit);

	/* Ctrl-A + other key: the key passes, the Ctrl-A is dropped. */
	uint8_t f[] = { 0x01, 'c', 0x03 };
	assert_int_equal(term_escape_filter(&e, f, 3, &quit), 2);
	assert_false(quit);
	assert_int_equal(f[0], 'c');
	assert_int_equal(f[1], 0x03); /* Ctrl-C goes to the guest */

	assert_int_equal(term_escape_filter(&e, f, 0, &quit), 0);
	assert_int_equal(e.state, 0);
}

static void test_term_raw(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(term_raw_enter(p[0]), -ENOTTY);
	close(p[0]);
	close(p[1]);
	term_restore(); /* nothing saved: no-op */

	int master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master)) {
		if (master >= 0)
			close(master);
		skip();
	}
	int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	assert_true(slave >= 0);
	struct termios before, raw, after;
	assert_int_equal(tcgetattr(slave, &before), 0);
	assert_true(before.c_lflag & ECHO);

	assert_int_equal(term_raw_enter(slave), 0);
	assert_int_equal(term_raw_enter(slave), 0); /* already raw */
	assert_int_equal(term_raw_enter(master), -EBUSY);
	assert_int_equal(tcgetattr(slave, &raw), 0);
	assert_false(raw.c_lflag & (ECHO | ICANON | ISIG | IEXTEN));
	assert_false(raw.c_iflag & (ICRNL | IXON));
	assert_true(raw.c_oflag & OPOST);
	assert_true(raw.c_oflag & ONLCR);
	assert_int_equal(raw.c_cc[VMIN], 1);

	term_restore();
	term_restore(); /* idempotent */
	assert_int_equal(tcgetattr(slave, &after), 0);
	assert_int_equal(after.c_lflag, before.c_lflag);
	assert_int_equal(after.c_iflag, before.c_iflag);
	assert_int_equal(after.c_oflag, before.c_oflag);
	close(slave);
	close(master);
}

static void test_fatal_handlers(void **state)
{
	(void)state;
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE };
	struct sigaction saved[5];
	for (int i = 0; i < 5; i++)
		assert_int_equal(sigaction(sigs[i], NULL, &saved[i]), 0);
	assert_int_equal(term_install_fatal_handlers(), 0);
	for (int i = 0; i < 5; i++) {
		struct sigaction sa;
		assert_int_equal(sigaction(sigs[i], NULL, &sa), 0);
		assert_true(sa.sa_handler != SIG_DFL);
		assert_true(sa.sa_flags & SA_RESETHAND);
	}
	/* Put back what cmocka had installed. */
	for (int i = 0; i < 5; i++)
		sigaction(sigs[i], &saved[i], NULL);
}

/* Machine reset: the i8042 as created (queued bytes gone, command byte
 * and output port back, lines low); the RTC index back to 0 and register
 * B's interrupt enables off, its clock mode and CMOS RAM kept. */
static void test_legacy_machine_reset(void **state)
{
	(void)state;
	struct fake_exit fe = { 0 };
	struct exit_request er = { fake_exit_request, &fe };
	struct fake_irq kbd = { 0 };
	struct i8042 *d;
	assert_int_equal(i8042_create(&d, er,
				      (struct irq_line){ fake_irq_set, &kbd, 1 },
				      (struct irq_line){ 0 }), 0);
	kbc_cmd(d, 0x20);
	uint8_t ctr = kbc_data(d);
	kbc_cmd(d, 0x60);
	kbc_write(d, 0x00); /* interrupts off, translation off */
	kbc_cmd(d, 0x60);
	kbc_write(d, 0x01); /* keyboard interrupt on */
	kbc_cmd(d, 0xaa);   /* a byte waits, the line is up */
	assert_int_equal(kbd.level, 1);
	kbc_cmd(d, 0xd1);   /* a command waits for its data byte */
	i8042_reset(d);
	assert_int_equal(kbd.level, 0);
	assert_int_equal(kbc_status(d) & 0x01, 0);
	kbc_cmd(d, 0x20);
	assert_int_equal(kbc_data(d), ctr);
	kbc_write(d, 0x00); /* no command pending: to the (absent) keyboard */
	assert_int_equal(fe.calls, 0);
	i8042_destroy(d);

	struct rtc *r;
	assert_int_equal(rtc_create(&r, 64ULL << 20, 0), 0);
	cmos_write(r, 0x0b, 0x02 | 0x04 | 0x70); /* binary, 24 h, PIE/AIE/UIE */
	cmos_write(r, 0x40, 0xa5);               /* CMOS RAM */
	uint8_t idx = 0x0b;
	rtc_io(r, 0, &idx, 1, true);
	rtc_reset(r);
	uint8_t v = 0xff;
	rtc_io(r, 1, &v, 1, false); /* index 0: seconds */
	assert_true(v < 60);
	assert_int_equal(cmos_read(r, 0x0b), 0x06);
	assert_int_equal(cmos_read(r, 0x40), 0xa5);
	rtc_destroy(r);
}

/* ---- guest-triggered log lines are rate-limited ---- */

#define FLOOD 10000u

/*
 * 10^4 guest writes to the debug-exit port and 10^4 i8042 reset commands
 * (a guest may repeat them before the control loop acts on the first):
 * a few rate-limited lines each, not one per write (before, each logged
 * an info line).
 */
static void test_legacy_log_flood(void **state)
{
	(void)state;
	struct fake_exit fe = { 0 };
	struct exit_request er = { fake_exit_request, &fe };
	struct debug_exit *d;
	struct i8042 *k;
	assert_int_equal(debug_exit_create(&d, er), 0);
	assert_int_equal(i8042_create(&k, er, (struct irq_line){ 0 },
				      (struct irq_line){ 0 }),
			 0);

	struct log_capture cap;
	log_capture_start(&cap, LOG_DEBUG);
	for (unsigned i = 0; i < FLOOD; i++) {
		uint8_t v = (uint8_t)i;
		debug_exit_io(d, 0, &v, 1, true);
	}
	unsigned bound = log_capture_bound(&cap);
	unsigned lines = log_capture_stop(&cap);
	assert_int_equal(fe.calls, FLOOD); /* every exit request still made */
	assert_in_range(lines, 1, bound);
	assert_non_null(strstr(cap.text, "debug-exit: guest wrote 0x0,"));

	log_capture_start(&cap, LOG_DEBUG);
	for (unsigned i = 0; i < FLOOD; i++) {
		uint8_t v = 0xfe;
		i8042_cmd_io(k, 0, &v, 1, true);
	}
	bound = log_capture_bound(&cap);
	lines = log_capture_stop(&cap);
	assert_int_equal(fe.calls, 2 * FLOOD);
	assert_in_range(lines, 1, bound);
	assert_non_null(strstr(cap.text, "i8042: guest requested reset"));

	i8042_destroy(k);
	debug_exit_destroy(d);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_i8042_reset),
		cmocka_unit_test(test_i8042_probe_sequence),
		cmocka_unit_test(test_debug_exit),
		cmocka_unit_test(test_acpi_sleep),
		cmocka_unit_test(test_rtc_time),
		cmocka_unit_test(test_rtc_set_time),
		cmocka_unit_test(test_rtc_out_of_range_writes),
		cmocka_unit_test(test_legacy_log_flood),
		cmocka_unit_test(test_rtc_memory_bytes),
		cmocka_unit_test(test_legacy_machine_reset),
		cmocka_unit_test(test_escape_filter),
		cmocka_unit_test(test_term_raw),
		cmocka_unit_test(test_fatal_handlers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
