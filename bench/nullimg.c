/* SPDX-License-Identifier: MIT */
/*
 * nullimg: writes the null guest, a bzImage whose first instruction exits:
 * `xor %eax,%eax; out %al,$0xf4; hlt` (the same bytes mean the same thing
 * in 16- and 64-bit mode) both at the real-mode setup entry (where QEMU's
 * -kernel enters) and at the 64-bit entry (where cvmm enters). It measures
 * VMM start -> first guest instruction -> exit with no guest work at all.
 *
 * With -s the image first writes one byte ('!') to COM1 (port 0x3f8), so
 * that the moment the VMM forwards the guest's first instruction's effect
 * can be seen from outside (bench/firstout.c times it on the VMM's stdout).
 *
 *   nullimg [-s] OUT.bzImage
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

int main(int argc, char **argv)
{
	static const uint8_t code[] = { 0x31, 0xc0, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd };
	/* mov $0x3f8,%dx (16-bit) / %edx (64-bit); mov $'!',%al; out %al,%dx */
	static const uint8_t com1_16[] = { 0xba, 0xf8, 0x03, 0xb0, '!', 0xee };
	static const uint8_t com1_64[] = { 0xba, 0xf8, 0x03, 0x00, 0x00, 0xb0, '!', 0xee };
	uint8_t img[1024 + 0x210] = { 0 };	/* boot sector + 1 setup sector + payload */
	uint8_t *pm = img + 1024;
	int serial = argc == 3 && !strcmp(argv[1], "-s");

	if (argc != 2 + serial) {
		fprintf(stderr, "usage: nullimg [-s] OUT.bzImage\n");
		return 2;
	}
	img[0x1f1] = 1;				/* setup_sects */
	put32(img + 0x1f4, 0x210 / 16);		/* syssize */
	put16(img + 0x1fe, 0xaa55);		/* boot_flag */
	img[0x200] = 0xeb;			/* jump to 0x26c, after the header */
	img[0x201] = 0x26c - 0x202;
	memcpy(img + 0x202, "HdrS", 4);
	put16(img + 0x206, 0x020f);		/* protocol 2.15 */
	img[0x211] = 0x01;			/* LOADED_HIGH */
	put32(img + 0x214, 0x100000);		/* code32_start */
	put32(img + 0x22c, 0x7fffffff);		/* initrd_addr_max */
	put32(img + 0x230, 0x200000);		/* kernel_alignment */
	put16(img + 0x236, 0x0001);		/* XLF_KERNEL_64 */
	put32(img + 0x238, 255);		/* cmdline_size */
	put32(img + 0x258, 0x100000);		/* pref_address (low half) */
	put32(img + 0x260, 0x1000);		/* init_size */
	uint8_t *rm = img + 0x26c, *lm = pm + 0x200;
	if (serial) {
		memcpy(rm, com1_16, sizeof(com1_16));
		rm += sizeof(com1_16);
		memcpy(lm, com1_64, sizeof(com1_64));
		lm += sizeof(com1_64);
	}
	memcpy(rm, code, sizeof(code));		/* real-mode entry */
	memcpy(lm, code, sizeof(code));		/* 64-bit entry */

	const char *out = argv[1 + serial];
	FILE *f = fopen(out, "wb");
	if (!f || fwrite(img, 1, sizeof(img), f) != sizeof(img) || fclose(f)) {
		perror(out);
		return 1;
	}
	return 0;
}
