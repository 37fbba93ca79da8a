/* SPDX-License-Identifier: MIT */
/*
 * unhandled_io: reads from ports no device claims return all-ones (byte,
 * word, dword and string forms), writes are dropped, and the VM keeps
 * running. Also sends a line with `rep outsb` to the UART. Then floods:
 * FLOOD writes to an unhandled port and FLOOD reads of the ACPI GED at a
 * width it refuses, for the run-tests.sh case that counts cvmm's log
 * lines (each is a guest-triggered log message, all rate-limited).
 */
#include "runtime.h"

const char test_name[] = "unhandled_io";

#define PORT 0x2f0 /* nothing lives at 0x2f0-0x2f7 */
#define PORT_HIGH 0xbeb0
#define FLOOD 10000
#define GED_EVENT 0xfeb00000ULL /* arch/x86/layout.h GED_MMIO_ADDR */

int test_main(struct boot_info *bi)
{
	(void)bi;
	outb(PORT, 0x5a);
	outw(PORT + 2, 0x1234);
	outl(PORT + 4, 0xdeadbeef);
	outl(PORT_HIGH, 0x01020304);
	u8 b = inb(PORT);
	u16 w = inw(PORT + 2);
	u32 l = inl(PORT + 4);
	u32 lh = inl(PORT_HIGH);
	printf("unhandled_io: inb %x inw %x inl %x inl(%x) %x\n", b, w, l, PORT_HIGH, lh);
	CHECK(3, b == 0xff, "inb(0x%x) = 0x%x, expected 0xff", PORT, b);
	CHECK(4, w == 0xffff, "inw(0x%x) = 0x%x, expected 0xffff", PORT + 2, w);
	CHECK(5, l == 0xffffffff, "inl(0x%x) = 0x%x, expected 0xffffffff", PORT + 4, l);
	CHECK(6, lh == 0xffffffff, "inl(0x%x) = 0x%x, expected 0xffffffff", PORT_HIGH, lh);

	u8 buf[8];
	memset(buf, 0, sizeof(buf));
	void *d = buf;
	u64 cnt = sizeof(buf);
	__asm__ __volatile__("rep insb" : "+D"(d), "+c"(cnt) : "d"(PORT) : "memory");
	for (u32 i = 0; i < sizeof(buf); i++)
		CHECK(7, buf[i] == 0xff, "rep insb from 0x%x: byte %u = 0x%x", PORT, i, buf[i]);
	u16 wbuf[4] = { 0, 0, 0, 0 };
	d = wbuf;
	cnt = 4;
	__asm__ __volatile__("rep insw" : "+D"(d), "+c"(cnt) : "d"(PORT + 2) : "memory");
	for (u32 i = 0; i < 4; i++)
		CHECK(8, wbuf[i] == 0xffff, "rep insw from 0x%x: word %u = 0x%x", PORT + 2, i,
		      wbuf[i]);
	const char *junk = "ignored";
	const void *s = junk;
	cnt = 7;
	__asm__ __volatile__("rep outsb" : "+S"(s), "+c"(cnt) : "d"(PORT) : "memory");

	static const char msg[] = "outs: string-io-ok\r\n";
	s = msg;
	cnt = sizeof(msg) - 1;
	__asm__ __volatile__("rep outsb" : "+S"(s), "+c"(cnt) : "d"(COM1) : "memory");
	for (u32 i = 0; i < FLOOD; i++)
		outb(PORT, (u8)i);
	for (u32 i = 0; i < FLOOD; i++)
		(void)mmio_read8(GED_EVENT + 1);
	printf("unhandled_io: flooded\n");
	printf("unhandled_io: still running\n");
	return 0;
}
