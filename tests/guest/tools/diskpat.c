/* SPDX-License-Identifier: MIT */
/*
 * Host tool for the virtio-blk guest tests: writes disk images in the
 * pattern of lib/diskpat.h, and the images the host expects after a guest
 * wrote some sectors.
 *
 *   diskpat FILE NSECTORS                      the base pattern
 *   diskpat -w SALT FILE SECTOR...             overwrite SECTORs of FILE
 *                                              with diskpat_written(SALT)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/diskpat.h"

static int usage(void)
{
	fprintf(stderr, "usage: diskpat FILE NSECTORS | diskpat -w SALT FILE SECTOR...\n");
	return 2;
}

int main(int argc, char **argv)
{
	unsigned char buf[DISKPAT_SECTOR];
	if (argc >= 4 && !strcmp(argv[1], "-w")) {
		unsigned int salt = (unsigned int)strtoul(argv[2], NULL, 0);
		FILE *f = fopen(argv[3], "r+b");
		if (!f) {
			perror(argv[3]);
			return 1;
		}
		for (int a = 4; a < argc; a++) {
			unsigned long n = strtoul(argv[a], NULL, 0);
			for (unsigned int i = 0; i < DISKPAT_SECTOR; i++)
				buf[i] = diskpat_written(n, i, salt);
			if (fseek(f, (long)(n * DISKPAT_SECTOR), SEEK_SET) ||
			    fwrite(buf, 1, sizeof(buf), f) != sizeof(buf)) {
				perror(argv[3]);
				return 1;
			}
		}
		return fclose(f) ? 1 : 0;
	}
	if (argc != 3)
		return usage();
	unsigned long nsect = strtoul(argv[2], NULL, 0);
	FILE *f = fopen(argv[1], "wb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	for (unsigned long n = 0; n < nsect; n++) {
		for (unsigned int i = 0; i < DISKPAT_SECTOR; i++)
			buf[i] = diskpat_byte(n, i);
		if (fwrite(buf, 1, sizeof(buf), f) != sizeof(buf)) {
			perror(argv[1]);
			return 1;
		}
	}
	return fclose(f) ? 1 : 0;
}
