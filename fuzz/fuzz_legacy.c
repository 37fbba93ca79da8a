/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the legacy PC devices (src/legacy/) and the PCI config ports
 * as a guest reaches them, through the PIO and MMIO buses at the ports
 * vm.c puts them on: the 8250 UART at 0x3f8 (output to /dev/null), the
 * i8042 at 0x60/0x64, the CMOS RTC at 0x70/0x71, the debug-exit port at
 * 0xf4, CF8/CFC (PCI bus 0 with its host bridge only; fuzz_pci.c goes deep
 * there) and the ACPI GED at GED_MMIO_ADDR; plus what the control loop
 * does to them: serial input, GED events, machine reset.
 *
 * Each device is registered through a small wrapper that checks what it
 * hands back before forwarding, so the properties below hold for every
 * access the guest makes, any port, any width.
 *
 * Input layout: ops, 8 bytes each (at most 256): op, a, b (u16 LE),
 * c (u32 LE); the op kind is (op & 0x1f) % 12, bits 5-7 pick an access
 * width (1, 2, 4, 8, 1, 2, 4, 3), bit 7 of a means write:
 *   0 UART register b & 7       6  GED register b & 0x1f (0x10+: unmapped)
 *   1 i8042 data/command (a&1)  7  any port b
 *   2 RTC index/data (a & 1)    8  serial input: a % 64 + 1 bytes of c
 *   3 debug-exit                9  ged_raise(c)
 *   4 CF8 + (a & 3)            10  machine reset (every device's reset)
 *   5 CFC + (a & 3)            11  RTC: index a & 0x7f, then write c's low byte
 *
 * Checked besides memory safety: a read of the RTC's index port and any
 * read nothing decodes stay all-ones; every RTC time register reads back a
 * value in its field's range (valid BCD digits in BCD mode); a debug-exit
 * write asks for exactly one exit with the low byte as status, a read for
 * none; the i8042 only ever asks for an exit with status 0; interrupt
 * levels are 0 or 1; the GED line is high exactly while an event is
 * pending, and no unknown event is; serial_receive() accepts at most what
 * it is given and serial_rx_space() never exceeds the buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "arch/x86/layout.h"
#include "bus.h"
#include "fuzz_common.h"
#include "legacy/debug_exit.h"
#include "legacy/ged.h"
#include "legacy/i8042.h"
#include "legacy/rtc.h"
#include "legacy/serial.h"
#include "pci/pci.h"

#define MAX_OPS 256
#define PIO_BASE 0xc000ULL
#define PIO_SIZE 0x4000ULL
#define M32_BASE 0xc0000000ULL
#define M32_SIZE 0x20000000ULL
#define ECAM_BASE 0xe0000000ULL

struct line_rec {
	int level;
};

struct exit_rec {
	unsigned calls;
	int status;
	const char *why;
};

struct env {
	struct bus pio, mmio;
	struct addr_alloc pio_a, m32_a;
	struct pci_bus pb;
	struct serial *serial;
	struct i8042 *i8042;
	struct rtc *rtc;
	struct debug_exit *dbg;
	struct ged *ged;
	struct line_rec com1, kbd, aux, ged_line;
	struct exit_rec i8042_exit, dbg_exit;
	uint8_t rtc_index; /* as the guest last wrote it */
};

static struct env env;
static int null_fd = -1;

static void line_set(void *opaque, uint32_t gsi, int level)
{
	struct line_rec *l = opaque;
	(void)gsi;
	FUZZ_CHECK(level == 0 || level == 1);
	l->level = level;
}

static void exit_req(void *opaque, int status, const char *why)
{
	struct exit_rec *e = opaque;
	e->calls++;
	e->status = status;
	e->why = why;
}

static struct irq_line line(struct line_rec *l, uint32_t gsi)
{
	return (struct irq_line){ .set = line_set, .opaque = l, .gsi = gsi };
}

static struct exit_request exit_to(struct exit_rec *e)
{
	return (struct exit_request){ .request = exit_req, .opaque = e };
}

/* ---- RTC: every time register in its range ---- */

static uint8_t rtc_peek(uint8_t idx)
{
	uint8_t v = idx;
	rtc_io(env.rtc, 0, &v, 1, true);
	v = 0xff;
	rtc_io(env.rtc, 1, &v, 1, false);
	return v;
}

static void check_rtc(void)
{
	static const struct { uint8_t reg; unsigned lo, hi; } f[] = {
		{ 0x00, 0, 59 }, { 0x02, 0, 59 },  { 0x06, 1, 7 },
		{ 0x07, 1, 31 }, { 0x08, 1, 12 },  { 0x09, 0, 99 },
		{ 0x32, 0, 100 }, /* 9999-12-31 may tick into 10000 */
	};
	uint8_t b = rtc_peek(0x0b);
	bool binary = b & 0x04, h24 = b & 0x02;
	for (unsigned i = 0; i < sizeof(f) / sizeof(f[0]) + 1; i++) {
		bool hour = i == sizeof(f) / sizeof(f[0]);
		uint8_t raw = rtc_peek(hour ? 0x04 : f[i].reg);
		if (hour && !h24)
			raw &= 0x7f; /* PM flag */
		unsigned v = raw;
		if (!binary) {
			FUZZ_CHECK((raw & 0x0f) <= 9 && (raw >> 4) <= 9);
			v = (raw >> 4) * 10 + (raw & 0x0f);
		}
		if (hour)
			FUZZ_CHECK(h24 ? v <= 23 : v >= 1 && v <= 12);
		else
			FUZZ_CHECK(v >= f[i].lo && v <= f[i].hi);
	}
	uint8_t idx = env.rtc_index; /* the guest's index back */
	rtc_io(env.rtc, 0, &idx, 1, true);
}

static void rtc_tap(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		    bool is_write)
{
	rtc_io(opaque, off, data, len, is_write);
	if (off == 0 && is_write)
		env.rtc_index = data[0] & 0x7f;
	if (off == 0 && !is_write)
		for (uint32_t i = 0; i < len; i++)
			FUZZ_CHECK(data[i] == 0xff);
	if (off == 1)
		check_rtc();
}

/* ---- debug-exit: one exit per write, with the low byte ---- */

static void dbg_tap(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		    bool is_write)
{
	unsigned before = env.dbg_exit.calls;
	debug_exit_io(opaque, off, data, len, is_write);
	if (!is_write) {
		FUZZ_CHECK(env.dbg_exit.calls == before);
		for (uint32_t i = 0; i < len; i++)
			FUZZ_CHECK(data[i] == 0xff);
		return;
	}
	FUZZ_CHECK(env.dbg_exit.calls == before + 1);
	FUZZ_CHECK(env.dbg_exit.status == data[0]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_init();
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null_fd < 0)
		abort();
	return 0;
}

static void env_setup(void)
{
	struct env *e = &env;
	memset(e, 0, sizeof(*e));
	FUZZ_CHECK(bus_init(&e->pio, "pio") == 0);
	FUZZ_CHECK(bus_init(&e->mmio, "mmio") == 0);
	FUZZ_CHECK(addr_alloc_init(&e->pio_a, PIO_BASE, PIO_SIZE) == 0);
	FUZZ_CHECK(addr_alloc_init(&e->m32_a, M32_BASE, M32_SIZE) == 0);
	FUZZ_CHECK(pci_bus_init(&e->pb, &e->pio, &e->mmio, &e->pio_a, &e->m32_a,
				NULL, ECAM_BASE) == 0);
	FUZZ_CHECK(bus_register(&e->pio, 0xcf8, 4, pci_cf8_io, &e->pb, "cf8") == 0);
	FUZZ_CHECK(bus_register(&e->pio, 0xcfc, 4, pci_cfc_io, &e->pb, "cfc") == 0);

	FUZZ_CHECK(serial_create(&e->serial, null_fd, line(&e->com1, COM1_IRQ),
				 -1) == 0);
	FUZZ_CHECK(bus_register(&e->pio, COM1_PORT, SERIAL_NR_PORTS, serial_io,
				e->serial, "serial") == 0);
	FUZZ_CHECK(i8042_create(&e->i8042, exit_to(&e->i8042_exit),
				line(&e->kbd, 1), line(&e->aux, 12)) == 0);
	FUZZ_CHECK(bus_register(&e->pio, I8042_DATA_PORT, 1, i8042_data_io,
				e->i8042, "i8042 data") == 0);
	FUZZ_CHECK(bus_register(&e->pio, I8042_CMD_PORT, 1, i8042_cmd_io,
				e->i8042, "i8042 command") == 0);
	FUZZ_CHECK(rtc_create(&e->rtc, 256ULL << 20, 0) == 0);
	FUZZ_CHECK(bus_register(&e->pio, RTC_PORT, RTC_NR_PORTS, rtc_tap, e->rtc,
				"rtc") == 0);
	FUZZ_CHECK(debug_exit_create(&e->dbg, exit_to(&e->dbg_exit)) == 0);
	FUZZ_CHECK(bus_register(&e->pio, DEBUG_EXIT_PORT, 1, dbg_tap, e->dbg,
				"debug-exit") == 0);
	FUZZ_CHECK(ged_create(&e->ged, line(&e->ged_line, GED_GSI)) == 0);
	FUZZ_CHECK(bus_register(&e->mmio, GED_MMIO_ADDR, GED_MMIO_SIZE, ged_mmio,
				e->ged, "ged") == 0);
}

static void env_teardown(void)
{
	struct env *e = &env;
	ged_destroy(e->ged);
	debug_exit_destroy(e->dbg);
	rtc_destroy(e->rtc);
	i8042_destroy(e->i8042);
	serial_destroy(e->serial);
	pci_bus_destroy(&e->pb);
	bus_destroy(&e->mmio);
	bus_destroy(&e->pio);
	addr_alloc_destroy(&e->pio_a);
	addr_alloc_destroy(&e->m32_a);
}

static void check_invariants(void)
{
	struct env *e = &env;
	uint32_t pending = ged_pending(e->ged);
	FUZZ_CHECK((pending & ~(uint32_t)GED_EVENTS_ALL) == 0);
	FUZZ_CHECK(e->ged_line.level == (pending != 0));
	FUZZ_CHECK(e->i8042_exit.calls == 0 || e->i8042_exit.status == 0);
	FUZZ_CHECK(serial_rx_space(e->serial) <= SERIAL_RX_BUF_SIZE);
}

/* One access; a read nothing decodes must see all-ones. */
static void io(struct bus *bus, uint64_t addr, unsigned len, uint32_t c, bool w)
{
	uint8_t d[8];
	memcpy(d, &c, 4);
	memcpy(d + 4, &c, 4);
	if (!bus_access(bus, addr, d, len, w) && !w)
		for (unsigned i = 0; i < len; i++)
			FUZZ_CHECK(d[i] == 0xff);
}

static void machine_reset(void)
{
	struct env *e = &env;
	serial_reset(e->serial);
	i8042_reset(e->i8042);
	rtc_reset(e->rtc);
	e->rtc_index = 0;
	ged_reset(e->ged);
	pci_bus_reset(&e->pb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	env_setup();
	check_invariants();

	for (unsigned n = 0; n < MAX_OPS && !fz_empty(&f); n++) {
		struct fz_op o = fz_next_op(&f, 12);
		switch (o.kind) {
		case 0:
			io(&env.pio, COM1_PORT + (o.b & 7), o.len, o.c, o.w);
			break;
		case 1:
			io(&env.pio, (o.a & 1) ? I8042_CMD_PORT : I8042_DATA_PORT, o.len,
			   o.c, o.w);
			break;
		case 2:
			io(&env.pio, RTC_PORT + (o.a & 1), o.len, o.c, o.w);
			break;
		case 3:
			io(&env.pio, DEBUG_EXIT_PORT, o.len, o.c, o.w);
			break;
		case 4:
			io(&env.pio, 0xcf8 + (o.a & 3), o.len, o.c, o.w);
			break;
		case 5:
			io(&env.pio, 0xcfc + (o.a & 3), o.len, o.c, o.w);
			break;
		case 6:
			io(&env.mmio, GED_MMIO_ADDR + (o.b & 0x1f), o.len, o.c, o.w);
			break;
		case 7:
			io(&env.pio, o.b, o.len, o.c, o.w);
			break;
		case 8: {
			uint8_t in[64];
			size_t cnt = o.a % 64 + 1;
			for (size_t i = 0; i < cnt; i++)
				in[i] = (uint8_t)(o.c >> (8 * (i % 4)));
			int got = serial_receive(env.serial, in, cnt);
			FUZZ_CHECK(got >= 0 && (size_t)got <= cnt);
			break;
		}
		case 9: {
			int r = ged_raise(env.ged, o.c);
			FUZZ_CHECK(r == ((o.c && !(o.c & ~(uint32_t)GED_EVENTS_ALL)) ? 0 : -EINVAL));
			break;
		}
		case 10:
			machine_reset();
			break;
		case 11:
			io(&env.pio, RTC_PORT, 1, o.a & 0x7f, true);
			io(&env.pio, RTC_PORT + 1, 1, o.c, true);
			break;
		}
		check_invariants();
	}
	env_teardown();
	return 0;
}
