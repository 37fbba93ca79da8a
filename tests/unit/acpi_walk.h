/* SPDX-License-Identifier: MIT */
/*
 * What a test needs to walk tables the VMM built in guest memory the way a
 * guest does (ACPI's RSDP -> XSDT -> tables, the PVH start info): the 8-bit
 * checksum, and unaligned little-endian reads. Header-only (static inline).
 */
#ifndef CVMM_TESTS_UNIT_ACPI_WALK_H
#define CVMM_TESTS_UNIT_ACPI_WALK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The byte sum of a table: 0 when its checksum is right. */
static inline uint8_t sum8(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	for (size_t i = 0; i < len; i++)
		s += p[i];
	return s;
}

static inline uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

#endif
