/* SPDX-License-Identifier: MIT */
/*
 * nullimg: writes the null guest, a bzImage whose first instruction exits:
 * `xor %eax,%eax; out %al,$0xf4; hlt` (the same bytes mean the same thing
 * in 16- and 64-bit mode) both at the real-mode setup entry (where QEMU's
 * -kernel enters) and at the 64-bit entry (where cvmm enters). It measures
 * VMM start -> first guest instruction -> exit with no guest work at all.
 *
 *   nullimg OUT.bzImage
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

int main(int argc, char **argv)
{
	static const uint8_t code[] = { 0x31, 0xc0, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd };
	uint8_t img[1024 + 0x210] = { 0 };	/* boot sector + 1 setup sector + payload */
	uint8_t *pm = img + 1024;

	if (argc != 2) {
		fprintf(stderr, "usage: nullimg OUT.bzImage\n");
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
	memcpy(img + 0x26c, code, sizeof(code));	/* real-mode entry */
	memcpy(pm + 0x200, code, sizeof(code));		/* 64-bit entry */

	FILE *f = fopen(argv[1], "wb");
	if (!f || fwrite(img, 1, sizeof(img), f) != sizeof(img) || fclose(f)) {
		perror(argv[1]);
		return 1;
	}
	return 0;
}
