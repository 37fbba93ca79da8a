/* SPDX-License-Identifier: MIT */
/*
 * MC146818 CMOS RTC at ports 0x70 (index; bit 7, the NMI mask, is ignored)
 * and 0x71 (data): register one range of length 2 with rtc_io.
 *
 * Time registers (0x00-0x09, plus the century byte 0x32) read the host's
 * UTC time, in BCD unless register B's DM bit is set, 12- or 24-hour per
 * register B. Register A reads UIP=0, register C reads 0 (no interrupts are
 * generated: IRQ 8 is not wired), register D reads VRT=1.
 *
 * Guest writes to the time registers are ACCEPTED by keeping an offset from
 * host time (so `hwclock --systohc` works and the host clock is never
 * touched). While register B's SET bit is 1 the clock is frozen and writes
 * go to that snapshot; clearing SET makes the new time take effect. The
 * day-of-week register is derived from the date and writes to it are
 * ignored. A value outside a field's range (binary mode takes 0-255, BCD
 * garbage decodes up to 165) is clamped to it: seconds and minutes 0-59,
 * hours 0-23, day 1-31, month 1-12, year and century 0-99 each, so the
 * clock stays within years 0-9999 whatever the guest writes. Alarm registers (0x01/0x03/0x05) are plain storage.
 *
 * The rest of the 128 bytes is CMOS RAM; the memory-size bytes are filled
 * at creation: 0x15/0x16 base memory (640 KiB), 0x17/0x18 and 0x30/0x31
 * extended memory above 1 MiB in KiB (up to 64 MiB), 0x34/0x35 memory above
 * 16 MiB below 4 GiB in 64 KiB units, 0x5b-0x5d memory above 4 GiB in
 * 64 KiB units, with the standard checksum at 0x2e/0x2f.
 */
#ifndef CVMM_LEGACY_RTC_H
#define CVMM_LEGACY_RTC_H

#include <stdbool.h>
#include <stdint.h>

#include "platform.h"

#define RTC_NR_PORTS 2

struct rtc;

/* mem_below_4g: bytes of RAM from address 0 below the 4 GiB hole;
 * mem_above_4g: bytes of RAM from 4 GiB. Returns 0, -EINVAL or -ENOMEM. */
int rtc_create(struct rtc **out, uint64_t mem_below_4g, uint64_t mem_above_4g);
void rtc_destroy(struct rtc *rtc);
/*
 * Machine reset (the chip's RESET pin): the index register back to 0 and
 * register B's interrupt enables (PIE, AIE, UIE, SQWE) cleared. The clock
 * (the guest's offset), the SET bit and CMOS RAM are battery-backed and
 * survive, as on a PC.
 */
void rtc_reset(struct rtc *rtc);

/* bus_io_fn for the 2-port range at 0x70. Wider accesses act on the low
 * byte. Reading the index port returns all-ones (it is write-only). */
void rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
	    bool is_write);

/* The platform record: ports 0x70-0x71, memory sizes from --memory. */
extern const struct platform_dev_ops rtc_platform_ops;
int rtc_platform_add(struct platform *p, const struct platform_ctx *c);

#endif
