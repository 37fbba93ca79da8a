/* SPDX-License-Identifier: MIT */
/*
 * The disk image pattern shared by the virtio-blk guest tests and the host
 * tool that writes the images (tools/diskpat.c): byte i of 512-byte sector
 * n. The first 8 bytes of a sector hold n (little-endian), the rest a
 * function of n and i, so that every sector differs from every other and a
 * misplaced or shifted read shows. Freestanding: no types from either side.
 */
#ifndef GUEST_DISKPAT_H
#define GUEST_DISKPAT_H

#define DISKPAT_SECTOR 512

static inline unsigned char diskpat_byte(unsigned long sector, unsigned int i)
{
	if (i < 8)
		return (unsigned char)(sector >> (8 * i));
	return (unsigned char)(sector * 31 + (sector >> 8) * 101 + i * 7 + (i >> 8) * 3 + 0x3c);
}

/* What the guest writes to sector n in the write tests (salt tells runs apart). */
static inline unsigned char diskpat_written(unsigned long sector, unsigned int i,
					    unsigned int salt)
{
	return (unsigned char)(0xa5 ^ (sector * 13) ^ (i * 5) ^ salt);
}

#endif
