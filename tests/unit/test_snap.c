/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the snapshot file format (src/snap/snap.c,
 * docs/snapshot.md): a file written section by section reads back value
 * for value, and each way a state file can be broken is refused with its
 * own error and message: not a snapshot, another version, a corrupted
 * file header, a cut-short file (inside a section header, inside a
 * payload, no end section), a section header or payload that fails its
 * CRC, a bad section name, a section twice, too many sections, data
 * after the end. Cursors never read past their section.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snap/snap.h"

/* header, "a" (u8 u16 u32 u64, a string, raw bytes), "b" (empty), end */
static void write_sample(struct snap_buf *b)
{
	snap_file_begin(b);
	size_t at = snap_section_begin(b, "a");
	snap_put_u8(b, 0x12);
	snap_put_u16(b, 0x3456);
	snap_put_u32(b, 0x789abcdeu);
	snap_put_u64(b, 0x0123456789abcdefull);
	snap_put_str(b, "virtio-blk");
	snap_put(b, "raw!", 4);
	snap_section_end(b, at);
	at = snap_section_begin(b, "b");
	snap_section_end(b, at);
	assert_int_equal(snap_file_finish(b), 0);
}

static int parse(const struct snap_buf *b, struct snap_index *idx, char *err)
{
	return snap_parse(b->data, b->len, idx, err, 256);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct snap_buf b = { 0 };
	write_sample(&b);
	/* Little-endian, as documented: magic, version 1, 0. */
	assert_memory_equal(b.data, "CVMMSNAP\x01\0\0\0\0\0\0\0", 16);
	struct snap_index idx;
	char err[256] = "";
	assert_int_equal(parse(&b, &idx, err), 0);
	assert_int_equal(idx.version, SNAP_VERSION);
	assert_int_equal(idx.n, 2);

	struct snap_cur c;
	assert_int_equal(snap_find(&idx, "a", &c), 0);
	assert_true(idx.s[0].used);
	assert_false(idx.s[1].used);
	assert_int_equal(snap_get_u8(&c), 0x12);
	assert_int_equal(snap_get_u16(&c), 0x3456);
	assert_int_equal(snap_get_u32(&c), 0x789abcdeu);
	assert_int_equal(snap_get_u64(&c), 0x0123456789abcdefull);
	assert_int_equal(snap_cur_end(&c), -EBADMSG); /* not read to its end */
	assert_int_equal(snap_expect_str(&c, "virtio-blk"), 0);
	char raw[4];
	assert_int_equal(snap_get(&c, raw, 4), 0);
	assert_memory_equal(raw, "raw!", 4);
	assert_int_equal(snap_cur_end(&c), 0);
	/* Past the end: zero, and the cursor is bad for good. */
	assert_int_equal(snap_get_u32(&c), 0);
	assert_true(c.bad);
	assert_int_equal(snap_cur_end(&c), -EBADMSG);

	assert_int_equal(snap_find(&idx, "b", &c), 0);
	assert_int_equal(c.len, 0);
	assert_int_equal(snap_cur_end(&c), 0);
	assert_int_equal(snap_find(&idx, "nothing", &c), -ENOENT);
	assert_true(c.bad);
	assert_int_equal(snap_find(&idx, "end", &c), -ENOENT); /* not a section */
	snap_index_free(&idx);
	snap_buf_free(&b);
}

static void test_strings(void **state)
{
	(void)state;
	char longs[400];
	memset(longs, 'x', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = 0;
	struct snap_buf b = { 0 };
	snap_put_str(&b, "abc");
	snap_put_str(&b, longs); /* cut to 255 */
	snap_put_str(&b, "other");
	assert_int_equal(b.err, 0);
	assert_int_equal(b.len, 4 + 256 + 6);
	struct snap_cur c = { .p = b.data, .len = b.len };
	char buf[256];
	assert_int_equal(snap_get_str(&c, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "abc");
	assert_int_equal(snap_get_str(&c, buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), 255);
	/* A name that is not the expected one marks the cursor bad. */
	assert_int_equal(snap_expect_str(&c, "virtio-net"), -EBADMSG);
	assert_true(c.bad);
	/* A buffer too small for the string: refused, not overrun. */
	c = (struct snap_cur){ .p = b.data, .len = b.len };
	char small[3];
	assert_int_equal(snap_get_str(&c, small, sizeof(small)), -EBADMSG);
	assert_string_equal(small, "");
	/* A length byte that points past the payload. */
	uint8_t cut[] = { 10, 'a', 'b' };
	c = (struct snap_cur){ .p = cut, .len = sizeof(cut) };
	assert_int_equal(snap_get_str(&c, buf, sizeof(buf)), -EBADMSG);
	assert_string_equal(buf, "");
	snap_buf_free(&b);
}

/* Rewrites a section header's CRC after the header was changed on
 * purpose (to reach the checks behind it). */
static void fix_header_crc(uint8_t *h)
{
	uint32_t crc = snap_crc32(h, SNAP_NAME_MAX + 12);
	memcpy(h + SNAP_NAME_MAX + 12, &crc, 4);
}

static void fix_payload_crc(uint8_t *h)
{
	uint64_t len;
	memcpy(&len, h + SNAP_NAME_MAX, 8);
	uint32_t crc = snap_crc32(h + SNAP_SECTION_HEADER_SIZE, len);
	memcpy(h + SNAP_NAME_MAX + 8, &crc, 4);
	fix_header_crc(h);
}

/* One broken copy of the sample: parse must fail with want and a message
 * containing msg, leaving an empty index. */
static void expect_bad(const uint8_t *p, size_t len, int want, const char *msg)
{
	struct snap_index idx = { .n = 99 };
	char err[256] = "";
	int r = snap_parse(p, len, &idx, err, sizeof(err));
	if (r != want || !strstr(err, msg))
		fail_msg("want %d '%s', got %d '%s'", want, msg, r, err);
	assert_int_equal(idx.n, 0);
	assert_null(idx.s);
}

static void test_corruptions(void **state)
{
	(void)state;
	struct snap_buf b = { 0 };
	write_sample(&b);
	const size_t n = b.len;
	uint8_t *p = malloc(n + 64);
	assert_non_null(p);
	const size_t a = SNAP_HEADER_SIZE; /* section "a"'s header */
	uint64_t alen;
	memcpy(&alen, b.data + a + SNAP_NAME_MAX, 8);
	const size_t bh = a + SNAP_SECTION_HEADER_SIZE + alen; /* section "b" */
	const size_t end = bh + SNAP_SECTION_HEADER_SIZE; /* the end section */
	assert_int_equal(end + SNAP_SECTION_HEADER_SIZE, n);
#define FRESH() memcpy(p, b.data, n)

	FRESH();
	expect_bad(p, 0, -EINVAL, "not a cvmm snapshot");
	expect_bad(p, 15, -EINVAL, "not a cvmm snapshot");
	p[0] = 'X';
	expect_bad(p, n, -EINVAL, "not a cvmm snapshot");
	FRESH();
	p[8] = 2;
	expect_bad(p, n, -EPROTONOSUPPORT, "snapshot format version 2; this cvmm reads version 1");
	FRESH();
	p[12] = 1;
	expect_bad(p, n, -EBADMSG, "corrupted snapshot header");
	/* Cut short: inside a section header, inside a payload, after a
	 * whole section but with no end section. */
	FRESH();
	expect_bad(p, a + 10, -EBADMSG, "truncated");
	expect_bad(p, a + SNAP_SECTION_HEADER_SIZE + 3, -EBADMSG, "truncated: section 'a' holds");
	expect_bad(p, end, -EBADMSG, "ends inside a section header after 2 sections");
	expect_bad(p, n - 1, -EBADMSG, "ends inside a section header");
	/* A flipped bit in a header, in a payload. */
	p[a + 2] ^= 1;
	expect_bad(p, n, -EBADMSG, "section header 0 (at byte 16) fails its checksum");
	FRESH();
	p[a + SNAP_NAME_MAX + 1] ^= 1; /* the length */
	expect_bad(p, n, -EBADMSG, "fails its checksum");
	FRESH();
	p[a + SNAP_SECTION_HEADER_SIZE + 5] ^= 0x40;
	expect_bad(p, n, -EBADMSG, "corrupted: section 'a' fails its checksum");
	/* A length beyond the file with a valid header CRC. */
	FRESH();
	uint64_t huge = ~0ull;
	memcpy(p + a + SNAP_NAME_MAX, &huge, 8);
	fix_header_crc(p + a);
	expect_bad(p, n, -EBADMSG, "truncated: section 'a' holds 18446744073709551615 bytes");
	/* Names: unprintable, not NUL-padded, empty (CRCs valid). */
	FRESH();
	p[bh] = '\n';
	fix_header_crc(p + bh);
	expect_bad(p, n, -EBADMSG, "section header 1");
	FRESH();
	p[bh + 5] = 'z';
	fix_header_crc(p + bh);
	expect_bad(p, n, -EBADMSG, "section header 1");
	FRESH();
	memset(p + bh, 0, SNAP_NAME_MAX);
	fix_header_crc(p + bh);
	expect_bad(p, n, -EBADMSG, "section header 1");
	/* The same name twice. */
	FRESH();
	p[bh] = 'a';
	fix_header_crc(p + bh);
	expect_bad(p, n, -EBADMSG, "corrupted: section 'a' twice");
	/* Anything after the end section; an end section with a payload. */
	FRESH();
	p[n] = 0;
	expect_bad(p, n + 1, -EBADMSG, "data after the end section");
	FRESH();
	uint64_t one = 1;
	memcpy(p + end + SNAP_NAME_MAX, &one, 8);
	p[n] = 0;
	fix_payload_crc(p + end);
	expect_bad(p, n + 1, -EBADMSG, "data after the end section");
#undef FRESH
	free(p);
	snap_buf_free(&b);
}

/* More than SNAP_MAX_SECTIONS sections: refused (a bound on the index). */
static void test_too_many_sections(void **state)
{
	(void)state;
	struct snap_buf b = { 0 };
	snap_file_begin(&b);
	for (unsigned i = 0; i <= SNAP_MAX_SECTIONS; i++) {
		char name[SNAP_NAME_MAX];
		snprintf(name, sizeof(name), "s.%u", i);
		snap_section_end(&b, snap_section_begin(&b, name));
	}
	assert_int_equal(snap_file_finish(&b), 0);
	expect_bad(b.data, b.len, -EBADMSG, "more than 1024 sections");
	snap_buf_free(&b);
	/* Exactly the most is fine. */
	b = (struct snap_buf){ 0 };
	snap_file_begin(&b);
	for (unsigned i = 0; i < SNAP_MAX_SECTIONS; i++) {
		char name[SNAP_NAME_MAX];
		snprintf(name, sizeof(name), "s.%u", i);
		snap_section_end(&b, snap_section_begin(&b, name));
	}
	assert_int_equal(snap_file_finish(&b), 0);
	struct snap_index idx;
	char err[256];
	assert_int_equal(snap_parse(b.data, b.len, &idx, err, sizeof(err)), 0);
	assert_int_equal(idx.n, SNAP_MAX_SECTIONS);
	snap_index_free(&idx);
	snap_buf_free(&b);
}

/* zlib's CRC-32 (the check value of "123456789"). */
static void test_crc(void **state)
{
	(void)state;
	assert_int_equal(snap_crc32("123456789", 9), 0xcbf43926u);
	assert_int_equal(snap_crc32("", 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_corruptions),
		cmocka_unit_test(test_too_many_sections),
		cmocka_unit_test(test_crc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
