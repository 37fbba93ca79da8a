/* SPDX-License-Identifier: MIT */
/*
 * MC146818 CMOS real-time clock, written from the MC146818 datasheet
 * register map and the conventional PC CMOS layout. See rtc.h.
 */
#include "legacy/rtc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "log.h"
#include "snap/snap.h"

#define CMOS_SIZE 128

#define REG_SEC 0x00
#define REG_SEC_ALARM 0x01
#define REG_MIN 0x02
#define REG_MIN_ALARM 0x03
#define REG_HOUR 0x04
#define REG_HOUR_ALARM 0x05
#define REG_WDAY 0x06
#define REG_MDAY 0x07
#define REG_MONTH 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define REG_CENTURY 0x32

#define A_UIP 0x80
#define A_DEFAULT 0x26 /* 32.768 kHz time base, 1024 Hz periodic rate */

#define B_SET 0x80
#define B_DM_BINARY 0x04
#define B_24H 0x02
#define B_DEFAULT B_24H

#define D_VRT 0x80

#define HOUR_PM 0x80

/* Memory-size bytes. */
#define CMOS_BASE_MEM_LO 0x15
#define CMOS_BASE_MEM_HI 0x16
#define CMOS_EXT_MEM_LO 0x17
#define CMOS_EXT_MEM_HI 0x18
#define CMOS_CSUM_FIRST 0x10
#define CMOS_CSUM_LAST 0x2d
#define CMOS_CSUM_HI 0x2e
#define CMOS_CSUM_LO 0x2f
#define CMOS_EXT_MEM2_LO 0x30
#define CMOS_EXT_MEM2_HI 0x31
#define CMOS_MEM16M_LO 0x34
#define CMOS_MEM16M_HI 0x35
#define CMOS_MEM4G_LO 0x5b
#define CMOS_MEM4G_MID 0x5c
#define CMOS_MEM4G_HI 0x5d

#define KIB 1024ULL
#define MIB (1024ULL * KIB)

struct rtc {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t cmos[CMOS_SIZE];
	int64_t offset_s; /* guest clock minus host clock */
	bool frozen; /* register B SET bit: time is held in set_tm */
	struct tm set_tm;
};

static uint8_t to_bcd(unsigned v)
{
	return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

static unsigned from_bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t encode(const struct rtc *r, unsigned v)
{
	return (r->cmos[REG_B] & B_DM_BINARY) ? (uint8_t)v : to_bcd(v);
}

static unsigned decode(const struct rtc *r, uint8_t v)
{
	return (r->cmos[REG_B] & B_DM_BINARY) ? v : from_bcd(v);
}

static time_t host_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/* The guest's current broken-down UTC time. */
static void guest_tm(const struct rtc *r, struct tm *tm)
{
	if (r->frozen) {
		*tm = r->set_tm;
		return;
	}
	time_t t = (time_t)(host_now() + r->offset_s);
	if (!gmtime_r(&t, tm)) {
		t = host_now();
		gmtime_r(&t, tm);
	}
}

static void apply_tm(struct rtc *r, struct tm *tm)
{
	if (r->frozen) {
		r->set_tm = *tm;
		return;
	}
	tm->tm_isdst = 0;
	time_t t = timegm(tm);
	if (t == (time_t)-1)
		return;
	r->offset_s = (int64_t)t - (int64_t)host_now();
}

static uint8_t read_time_reg(const struct rtc *r, uint8_t idx)
{
	struct tm tm;
	guest_tm(r, &tm);
	unsigned year = (unsigned)(tm.tm_year + 1900);
	switch (idx) {
	case REG_SEC:
		return encode(r, (unsigned)tm.tm_sec);
	case REG_MIN:
		return encode(r, (unsigned)tm.tm_min);
	case REG_HOUR: {
		unsigned h = (unsigned)tm.tm_hour;
		if (r->cmos[REG_B] & B_24H)
			return encode(r, h);
		unsigned h12 = h % 12 ? h % 12 : 12;
		return encode(r, h12) | (h >= 12 ? HOUR_PM : 0);
	}
	case REG_WDAY:
		return encode(r, (unsigned)tm.tm_wday + 1);
	case REG_MDAY:
		return encode(r, (unsigned)tm.tm_mday);
	case REG_MONTH:
		return encode(r, (unsigned)tm.tm_mon + 1);
	case REG_YEAR:
		return encode(r, year % 100);
	case REG_CENTURY:
		return encode(r, year / 100);
	}
	return 0;
}

/*
 * The range each time field is kept in. A write outside it is clamped to
 * the nearest bound: the register then reads back a valid value, and the
 * clock stays representable whatever the guest writes (see write_time_reg).
 */
static unsigned clamp_field(unsigned v, unsigned lo, unsigned hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/*
 * Bound: every field is clamped (year and century to 0..99 each), so after
 * any write the guest's year is at most 99 * 100 + 99 = 9999 and never
 * negative; timegm() then gives a time within years 0..10000 (a Dec 31
 * normalised forward at most a day), well inside time_t and int tm_year,
 * and offset_s stays within about +-3.2e11 s however many writes come.
 */
static void write_time_reg(struct rtc *r, uint8_t idx, uint8_t v)
{
	struct tm tm;
	guest_tm(r, &tm);
	/* 0..10000 by the bound above; kept to four digits. */
	long long y = (long long)tm.tm_year + 1900;
	unsigned year = y < 0 ? 0 : y > 9999 ? 9999 : (unsigned)y;
	switch (idx) {
	case REG_SEC:
		tm.tm_sec = (int)clamp_field(decode(r, v), 0, 59);
		break;
	case REG_MIN:
		tm.tm_min = (int)clamp_field(decode(r, v), 0, 59);
		break;
	case REG_HOUR:
		if (r->cmos[REG_B] & B_24H) {
			tm.tm_hour = (int)clamp_field(decode(r, v), 0, 23);
		} else {
			unsigned h = decode(r, v & ~HOUR_PM) % 12;
			tm.tm_hour = (int)h + ((v & HOUR_PM) ? 12 : 0);
		}
		break;
	case REG_WDAY:
		return; /* derived from the date */
	case REG_MDAY:
		tm.tm_mday = (int)clamp_field(decode(r, v), 1, 31);
		break;
	case REG_MONTH:
		tm.tm_mon = (int)clamp_field(decode(r, v), 1, 12) - 1;
		break;
	case REG_YEAR:
		year = year / 100 * 100 + clamp_field(decode(r, v), 0, 99);
		tm.tm_year = (int)year - 1900;
		break;
	case REG_CENTURY:
		year = clamp_field(decode(r, v), 0, 99) * 100 + year % 100;
		tm.tm_year = (int)year - 1900;
		break;
	default:
		return;
	}
	apply_tm(r, &tm);
}

static bool is_time_reg(uint8_t idx)
{
	return idx == REG_SEC || idx == REG_MIN || idx == REG_HOUR ||
	       (idx >= REG_WDAY && idx <= REG_YEAR) || idx == REG_CENTURY;
}

static void write_reg_b(struct rtc *r, uint8_t v)
{
	bool was_set = r->cmos[REG_B] & B_SET;
	bool set = v & B_SET;
	if (set && !was_set) {
		guest_tm(r, &r->set_tm);
		r->frozen = true;
	}
	r->cmos[REG_B] = v;
	if (!set && was_set) {
		struct tm tm = r->set_tm;
		r->frozen = false;
		apply_tm(r, &tm);
	}
}

static uint8_t rtc_read(struct rtc *r, uint8_t idx)
{
	if (is_time_reg(idx))
		return read_time_reg(r, idx);
	switch (idx) {
	case REG_A:
		return r->cmos[REG_A] & ~A_UIP;
	case REG_C:
		return 0; /* no interrupt flags: interrupts are not emulated */
	case REG_D:
		return D_VRT;
	}
	return r->cmos[idx];
}

static void rtc_write(struct rtc *r, uint8_t idx, uint8_t v)
{
	if (is_time_reg(idx)) {
		write_time_reg(r, idx, v);
		return;
	}
	switch (idx) {
	case REG_A:
		r->cmos[REG_A] = v & ~A_UIP;
		return;
	case REG_B:
		write_reg_b(r, v);
		return;
	case REG_C:
	case REG_D:
		return; /* read-only */
	}
	r->cmos[idx] = v;
}

void rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
	    bool is_write)
{
	struct rtc *r = opaque;
	if (!len || offset >= RTC_NR_PORTS)
		return;
	pthread_mutex_lock(&r->lock);
	if (offset == 0) {
		if (is_write)
			r->index = data[0] & 0x7f; /* bit 7: NMI mask, ignored */
		/* Reads: the index port is write-only; leave all-ones. */
	} else if (is_write) {
		rtc_write(r, r->index, data[0]);
	} else {
		data[0] = rtc_read(r, r->index);
	}
	pthread_mutex_unlock(&r->lock);
}

static void fill_memory_bytes(struct rtc *r, uint64_t below, uint64_t above)
{
	r->cmos[CMOS_BASE_MEM_LO] = 640 & 0xff;
	r->cmos[CMOS_BASE_MEM_HI] = 640 >> 8;

	uint64_t ext_kib = below > MIB ? (below - MIB) / KIB : 0;
	if (ext_kib > (64 * MIB - MIB) / KIB)
		ext_kib = (64 * MIB - MIB) / KIB;
	r->cmos[CMOS_EXT_MEM_LO] = r->cmos[CMOS_EXT_MEM2_LO] = ext_kib & 0xff;
	r->cmos[CMOS_EXT_MEM_HI] = r->cmos[CMOS_EXT_MEM2_HI] = (ext_kib >> 8) & 0xff;

	uint64_t m16 = below > 16 * MIB ? (below - 16 * MIB) / (64 * KIB) : 0;
	if (m16 > 0xffff)
		m16 = 0xffff;
	r->cmos[CMOS_MEM16M_LO] = m16 & 0xff;
	r->cmos[CMOS_MEM16M_HI] = (m16 >> 8) & 0xff;

	uint64_t m4g = above / (64 * KIB);
	if (m4g > 0xffffff)
		m4g = 0xffffff;
	r->cmos[CMOS_MEM4G_LO] = m4g & 0xff;
	r->cmos[CMOS_MEM4G_MID] = (m4g >> 8) & 0xff;
	r->cmos[CMOS_MEM4G_HI] = (m4g >> 16) & 0xff;

	unsigned sum = 0;
	for (unsigned i = CMOS_CSUM_FIRST; i <= CMOS_CSUM_LAST; i++)
		sum += r->cmos[i];
	r->cmos[CMOS_CSUM_HI] = (sum >> 8) & 0xff;
	r->cmos[CMOS_CSUM_LO] = sum & 0xff;
}

int rtc_create(struct rtc **out, uint64_t mem_below_4g, uint64_t mem_above_4g)
{
	if (!out)
		return -EINVAL;
	struct rtc *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	int ret = pthread_mutex_init(&r->lock, NULL);
	if (ret) {
		free(r);
		return -ret;
	}
	r->cmos[REG_A] = A_DEFAULT;
	r->cmos[REG_B] = B_DEFAULT;
	r->cmos[REG_D] = D_VRT;
	fill_memory_bytes(r, mem_below_4g, mem_above_4g);
	log_debug("rtc: %llu MiB below 4 GiB, %llu MiB above",
		  (unsigned long long)(mem_below_4g / MIB),
		  (unsigned long long)(mem_above_4g / MIB));
	*out = r;
	return 0;
}

#define B_INT_ENABLES 0x78 /* PIE | AIE | UIE | SQWE */

void rtc_reset(struct rtc *r)
{
	pthread_mutex_lock(&r->lock);
	r->index = 0;
	r->cmos[REG_B] &= (uint8_t)~B_INT_ENABLES;
	pthread_mutex_unlock(&r->lock);
}

void rtc_destroy(struct rtc *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* ---- the platform record ---- */

static void rtc_reset_op(void *dev) { rtc_reset(dev); }
static void rtc_destroy_op(void *dev) { rtc_destroy(dev); }

static void rtc_describe(void *dev, struct platform_info *info)
{
	(void)dev;
	info->regions[info->nregions++] = (struct platform_region){
		.name = "rtc", .addr = RTC_PORT, .size = RTC_NR_PORTS, .irq = -1,
	};
}

/* CMOS RAM and index, and the guest clock as an offset from the host's
 * (wall-clock time goes on while the VM is away, as on real hardware). */
static int rtc_save(void *dev, struct snap_buf *b)
{
	struct rtc *r = dev;
	pthread_mutex_lock(&r->lock);
	snap_put_u8(b, r->index);
	snap_put(b, r->cmos, CMOS_SIZE);
	snap_put_u64(b, (uint64_t)r->offset_s);
	snap_put_u8(b, r->frozen);
	int tm[6] = { r->set_tm.tm_sec, r->set_tm.tm_min, r->set_tm.tm_hour,
		      r->set_tm.tm_mday, r->set_tm.tm_mon, r->set_tm.tm_year };
	for (int i = 0; i < 6; i++)
		snap_put_u32(b, (uint32_t)tm[i]);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static int rtc_restore(void *dev, struct snap_cur *c)
{
	struct rtc *r = dev;
	uint8_t index = snap_get_u8(c);
	uint8_t cmos[CMOS_SIZE];
	snap_get(c, cmos, CMOS_SIZE);
	int64_t off = (int64_t)snap_get_u64(c);
	bool frozen = snap_get_u8(c) != 0;
	int tm[6];
	for (int i = 0; i < 6; i++)
		tm[i] = (int)snap_get_u32(c);
	int ret = snap_cur_end(c);
	if (ret)
		return ret;
	pthread_mutex_lock(&r->lock);
	r->index = index;
	memcpy(r->cmos, cmos, CMOS_SIZE);
	r->offset_s = off;
	r->frozen = frozen;
	r->set_tm = (struct tm){ .tm_sec = tm[0], .tm_min = tm[1], .tm_hour = tm[2],
				 .tm_mday = tm[3], .tm_mon = tm[4], .tm_year = tm[5] };
	pthread_mutex_unlock(&r->lock);
	return 0;
}

const struct platform_dev_ops rtc_platform_ops = {
	.name = "rtc",
	.save = rtc_save,
	.restore = rtc_restore,
	.reset = rtc_reset_op,
	.destroy = rtc_destroy_op,
	.describe = rtc_describe,
};

int rtc_platform_add(struct platform *p, const struct platform_ctx *c)
{
	struct ram_layout l;
	x86_ram_layout(c->cfg->mem_size, &l);
	struct rtc *r;
	int ret = rtc_create(&r, l.low_size, l.high_size);
	if (ret) {
		log_error("CMOS RTC: %s", strerror(-ret));
		return ret;
	}
	ret = platform_add(p, &rtc_platform_ops, r);
	return ret ?: platform_place(c->pio, RTC_PORT, RTC_NR_PORTS, rtc_io, r, "CMOS RTC");
}
