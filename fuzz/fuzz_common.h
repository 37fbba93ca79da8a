/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the libFuzzer targets (fuzz/fuzz_*.c): a reader that
 * turns the input into a stream of little-endian integers and byte strings
 * (reads past the end give zeros, so every input is valid), a fixed
 * guest-memory layout over static buffers, and FUZZ_CHECK() for the
 * properties a target asserts on top of the sanitizers.
 *
 * The guest memory every virtio target uses (fuzz_mem_setup()):
 *
 *   region A  gpa 0x100000           64 KiB
 *   region B  gpa 0x110000           64 KiB (adjacent to A: a buffer that
 *                                     crosses from A into B must be refused)
 *   region C  gpa 2^64 - 0x2000       4 KiB (near the top: wrap-around)
 *
 * fuzz_mem_fill() copies input bytes over A then B (the rest is zero).
 */
#ifndef CVMM_FUZZ_COMMON_H
#define CVMM_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sanitizer/common_interface_defs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest_mem.h"
#include "log.h"

/*
 * Aborts (a crash libFuzzer records) when a documented property fails. The
 * message goes through the sanitizer's report channel (stderr, or the
 * descriptor libFuzzer keeps for its own output under -close_fd_mask=2).
 */
#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond))                                                  \
			fuzz_check_failed(__FILE__, __LINE__, #cond);         \
	} while (0)

__attribute__((noreturn, unused)) static void
fuzz_check_failed(const char *file, int line, const char *what)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "FUZZ_CHECK failed: %s at %s:%d", what, file,
		 line);
	__sanitizer_report_error_summary(msg);
	abort();
}

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline bool fz_empty(const struct fz *f)
{
	return f->n == 0;
}

static inline uint8_t fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t lo = fz_u8(f);
	return (uint16_t)(lo | (uint16_t)fz_u8(f) << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t lo = fz_u16(f);
	return lo | (uint32_t)fz_u16(f) << 16;
}

static inline uint64_t fz_u64(struct fz *f)
{
	uint64_t lo = fz_u32(f);
	return lo | (uint64_t)fz_u32(f) << 32;
}

/* Copies up to len bytes (zero-fills what the input lacks). */
static inline void fz_bytes(struct fz *f, void *dst, size_t len)
{
	size_t n = len < f->n ? len : f->n;
	memcpy(dst, f->p, n);
	memset((uint8_t *)dst + n, 0, len - n);
	f->p += n;
	f->n -= n;
}

/* Takes the next len bytes (or what is left) without copying. */
static inline struct fz fz_take(struct fz *f, size_t len)
{
	size_t n = len < f->n ? len : f->n;
	struct fz sub = { f->p, n };
	f->p += n;
	f->n -= n;
	return sub;
}

/*
 * The 8-byte op record of the pci and legacy targets: op, a, b (u16 LE),
 * c (u32 LE). The kind is (op & 0x1f) % nkinds, bits 5-7 of op pick an
 * access width (1, 2, 4, 8, 1, 2, 4, 3), bit 7 of a means write.
 */
struct fz_op {
	uint8_t op, a;
	uint16_t b;
	uint32_t c;
	unsigned kind, len;
	bool w;
};

static inline struct fz_op fz_next_op(struct fz *f, unsigned nkinds)
{
	static const unsigned lens[8] = { 1, 2, 4, 8, 1, 2, 4, 3 };
	struct fz_op o;
	o.op = fz_u8(f);
	o.a = fz_u8(f);
	o.b = fz_u16(f);
	o.c = fz_u32(f);
	o.kind = (o.op & 0x1fu) % nkinds;
	o.len = lens[o.op >> 5];
	o.w = o.a & 0x80;
	return o;
}

/* ---- guest memory ---- */

#define FUZZ_GPA_A 0x100000ULL
#define FUZZ_GPA_B 0x110000ULL
#define FUZZ_REGION_SIZE 0x10000ULL
#define FUZZ_GPA_C (0ULL - 0x2000ULL)
#define FUZZ_REGION_C_SIZE 0x1000ULL

struct fuzz_mem {
	struct guest_mem mem;
	uint8_t *a, *b, *c;
};

static inline void fuzz_mem_setup(struct fuzz_mem *m)
{
	memset(&m->mem, 0, sizeof(m->mem));
	m->a = aligned_alloc(4096, FUZZ_REGION_SIZE);
	m->b = aligned_alloc(4096, FUZZ_REGION_SIZE);
	m->c = aligned_alloc(4096, FUZZ_REGION_C_SIZE);
	if (!m->a || !m->b || !m->c ||
	    guest_mem_add(&m->mem, FUZZ_GPA_A, FUZZ_REGION_SIZE, m->a) ||
	    guest_mem_add(&m->mem, FUZZ_GPA_B, FUZZ_REGION_SIZE, m->b) ||
	    guest_mem_add(&m->mem, FUZZ_GPA_C, FUZZ_REGION_C_SIZE, m->c))
		abort();
}

/* Guest memory from the rest of the input: A, then B; C stays zero. */
static inline void fuzz_mem_fill(struct fuzz_mem *m, struct fz *f)
{
	fz_bytes(f, m->a, FUZZ_REGION_SIZE);
	fz_bytes(f, m->b, FUZZ_REGION_SIZE);
	memset(m->c, 0, FUZZ_REGION_C_SIZE);
}

/*
 * Log verbosity for the targets: warnings are formatted (so the messages'
 * format arguments are exercised) unless CVMM_FUZZ_QUIET is set; `make
 * fuzz` runs with -close_fd_mask=2 so they do not flood the output.
 */
static inline void fuzz_log_init(void)
{
	if (getenv("CVMM_FUZZ_QUIET"))
		log_set_level((enum log_level)-1);
	else
		log_set_level(LOG_WARN);
}

#endif
