/* SPDX-License-Identifier: MIT */
/* The snapshot file format; see snap.h and docs/snapshot.md. */
#include "snap/snap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

uint32_t snap_crc32(const void *p, size_t n)
{
	uLong crc = crc32(0L, Z_NULL, 0);
	const Bytef *b = p;
	while (n) {
		uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
		crc = crc32(crc, b, chunk);
		b += chunk;
		n -= chunk;
	}
	return (uint32_t)crc;
}

/* ---- writing ---- */

void snap_put(struct snap_buf *b, const void *p, size_t n)
{
	if (b->err)
		return;
	if (n > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap - b->len < n) {
			if (cap > SIZE_MAX / 2) {
				b->err = -ENOMEM;
				return;
			}
			cap *= 2;
		}
		uint8_t *d = realloc(b->data, cap);
		if (!d) {
			b->err = -ENOMEM;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

void snap_put_u8(struct snap_buf *b, uint8_t v)
{
	snap_put(b, &v, 1);
}

void snap_put_u16(struct snap_buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	snap_put(b, x, 2);
}

void snap_put_u32(struct snap_buf *b, uint32_t v)
{
	uint8_t x[4];
	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	snap_put(b, x, 4);
}

void snap_put_u64(struct snap_buf *b, uint64_t v)
{
	snap_put_u32(b, (uint32_t)v);
	snap_put_u32(b, (uint32_t)(v >> 32));
}

void snap_put_str(struct snap_buf *b, const char *s)
{
	size_t n = strnlen(s, 255);
	snap_put_u8(b, (uint8_t)n);
	snap_put(b, s, n);
}

void snap_buf_free(struct snap_buf *b)
{
	free(b->data);
	*b = (struct snap_buf){ 0 };
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

void snap_file_begin(struct snap_buf *b)
{
	snap_put(b, SNAP_MAGIC, 8);
	snap_put_u32(b, SNAP_VERSION);
	snap_put_u32(b, 0);
}

size_t snap_section_begin(struct snap_buf *b, const char *name)
{
	size_t at = b->len;
	char n[SNAP_NAME_MAX] = { 0 };
	snprintf(n, sizeof(n), "%s", name);
	snap_put(b, n, sizeof(n));
	uint8_t rest[16] = { 0 };
	snap_put(b, rest, sizeof(rest));
	return at;
}

void snap_section_end(struct snap_buf *b, size_t at)
{
	if (b->err)
		return;
	uint8_t *h = b->data + at;
	uint64_t len = b->len - at - SNAP_SECTION_HEADER_SIZE;
	le32(h + SNAP_NAME_MAX, (uint32_t)len);
	le32(h + SNAP_NAME_MAX + 4, (uint32_t)(len >> 32));
	le32(h + SNAP_NAME_MAX + 8, snap_crc32(h + SNAP_SECTION_HEADER_SIZE, len));
	le32(h + SNAP_NAME_MAX + 12, snap_crc32(h, SNAP_NAME_MAX + 12));
}

int snap_file_finish(struct snap_buf *b)
{
	snap_section_end(b, snap_section_begin(b, "end"));
	return b->err;
}

/* ---- reading ---- */

int snap_get(struct snap_cur *c, void *out, size_t n)
{
	if (c->bad || n > c->len - c->pos) {
		c->bad = true;
		memset(out, 0, n);
		return -EBADMSG;
	}
	memcpy(out, c->p + c->pos, n);
	c->pos += n;
	return 0;
}

uint8_t snap_get_u8(struct snap_cur *c)
{
	uint8_t v;
	snap_get(c, &v, 1);
	return v;
}

uint16_t snap_get_u16(struct snap_cur *c)
{
	uint8_t x[2];
	snap_get(c, x, 2);
	return (uint16_t)(x[0] | x[1] << 8);
}

uint32_t snap_get_u32(struct snap_cur *c)
{
	uint8_t x[4];
	snap_get(c, x, 4);
	return rd32(x);
}

uint64_t snap_get_u64(struct snap_cur *c)
{
	uint8_t x[8];
	snap_get(c, x, 8);
	return rd64(x);
}

int snap_get_str(struct snap_cur *c, char *buf, size_t size)
{
	uint8_t n = snap_get_u8(c);
	if (c->bad || size <= n) {
		c->bad = true;
		if (size)
			buf[0] = 0;
		return -EBADMSG;
	}
	int ret = snap_get(c, buf, n);
	buf[ret ? 0 : n] = 0;
	return ret;
}

int snap_expect_str(struct snap_cur *c, const char *s)
{
	char buf[256];
	if (snap_get_str(c, buf, sizeof(buf)) || strcmp(buf, s)) {
		c->bad = true;
		return -EBADMSG;
	}
	return 0;
}

int snap_cur_end(const struct snap_cur *c)
{
	return c->bad || c->pos != c->len ? -EBADMSG : 0;
}

int snap_failf(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

void snap_index_free(struct snap_index *idx)
{
	free(idx->s);
	*idx = (struct snap_index){ 0 };
}

/* A section name: printable, NUL-terminated, NUL-padded. */
static bool name_ok(const uint8_t *n)
{
	size_t l = strnlen((const char *)n, SNAP_NAME_MAX);
	if (l == 0 || l == SNAP_NAME_MAX)
		return false;
	for (size_t i = 0; i < SNAP_NAME_MAX; i++)
		if (i < l ? (n[i] < 0x21 || n[i] > 0x7e) : n[i] != 0)
			return false;
	return true;
}

int snap_parse(const uint8_t *buf, size_t len, struct snap_index *idx, char *err,
	       size_t errlen)
{
	*idx = (struct snap_index){ 0 };
	if (len < SNAP_HEADER_SIZE || memcmp(buf, SNAP_MAGIC, 8) != 0)
		return snap_failf(err, errlen, -EINVAL, "not a cvmm snapshot (no %s header)",
			     SNAP_MAGIC);
	uint32_t version = rd32(buf + 8);
	if (version != SNAP_VERSION)
		return snap_failf(err, errlen, -EPROTONOSUPPORT,
			     "snapshot format version %u; this cvmm reads version %u", version,
			     SNAP_VERSION);
	if (rd32(buf + 12) != 0)
		return snap_failf(err, errlen, -EBADMSG, "corrupted snapshot header");
	idx->version = version;
	size_t pos = SNAP_HEADER_SIZE;
	unsigned cap = 0;
	for (;;) {
		if (len - pos < SNAP_SECTION_HEADER_SIZE) {
			unsigned n = idx->n;
			snap_index_free(idx);
			return snap_failf(err, errlen, -EBADMSG,
				     "truncated (%zu bytes; it ends inside a section header "
				     "after %u sections)", len, n);
		}
		const uint8_t *h = buf + pos;
		if (rd32(h + SNAP_NAME_MAX + 12) != snap_crc32(h, SNAP_NAME_MAX + 12) ||
		    !name_ok(h)) {
			unsigned n = idx->n;
			snap_index_free(idx);
			return snap_failf(err, errlen, -EBADMSG,
				     "corrupted: section header %u (at byte %zu) fails its checksum",
				     n, pos);
		}
		uint64_t slen = rd64(h + SNAP_NAME_MAX);
		pos += SNAP_SECTION_HEADER_SIZE;
		if (slen > len - pos) {
			snap_index_free(idx);
			return snap_failf(err, errlen, -EBADMSG,
				     "truncated: section '%s' holds %llu bytes, %zu are left",
				     (const char *)h, (unsigned long long)slen, len - pos);
		}
		if (rd32(h + SNAP_NAME_MAX + 8) != snap_crc32(buf + pos, slen)) {
			snap_index_free(idx);
			return snap_failf(err, errlen, -EBADMSG,
				     "corrupted: section '%s' fails its checksum", (const char *)h);
		}
		if (!strcmp((const char *)h, "end")) {
			if (slen != 0 || pos != len) {
				snap_index_free(idx);
				return snap_failf(err, errlen, -EBADMSG,
					     "corrupted: data after the end section");
			}
			return 0;
		}
		if (idx->n == SNAP_MAX_SECTIONS) {
			snap_index_free(idx);
			return snap_failf(err, errlen, -EBADMSG, "corrupted: more than %d sections",
				     SNAP_MAX_SECTIONS);
		}
		for (unsigned i = 0; i < idx->n; i++) {
			if (!strcmp(idx->s[i].name, (const char *)h)) {
				snap_index_free(idx);
				return snap_failf(err, errlen, -EBADMSG,
					     "corrupted: section '%s' twice", (const char *)h);
			}
		}
		if (idx->n == cap) {
			cap = cap ? cap * 2 : 16;
			struct snap_section *s = realloc(idx->s, cap * sizeof(*s));
			if (!s) {
				snap_index_free(idx);
				return snap_failf(err, errlen, -ENOMEM, "out of memory");
			}
			idx->s = s;
		}
		struct snap_section *s = &idx->s[idx->n++];
		memcpy(s->name, h, SNAP_NAME_MAX);
		s->data = buf + pos;
		s->len = slen;
		s->used = false;
		pos += slen;
	}
}

int snap_find(struct snap_index *idx, const char *name, struct snap_cur *c)
{
	for (unsigned i = 0; i < idx->n; i++) {
		if (!strcmp(idx->s[i].name, name)) {
			idx->s[i].used = true;
			*c = (struct snap_cur){ .p = idx->s[i].data, .len = idx->s[i].len };
			return 0;
		}
	}
	*c = (struct snap_cur){ .bad = true };
	return -ENOENT;
}
