/* SPDX-License-Identifier: MIT */
/* AML byte-code writer; see aml.h. Encodings from ACPI 6.5, 20.2 and 6.4. */
#include "arch/x86/aml.h"

#include <errno.h>
#include <string.h>

/* Room held for a PkgLength while its object is open. */
#define PKGLEN_RESERVE 4
/* And for a BufferSize: a body fits a PkgLength, so a DWordConst is enough. */
#define BUFSIZE_RESERVE 5

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	a->buf = buf;
	a->cap = buf ? cap : 0;
	a->len = 0;
	a->err = 0;
	a->open = 0;
}

static int fail(struct aml *a, int err)
{
	if (!a->err)
		a->err = err;
	return a->err;
}

int aml_finish(const struct aml *a, size_t *len)
{
	*len = a->len;
	if (a->err)
		return a->err;
	return a->open ? -EINVAL : 0;
}

/* n (> 0) more bytes at the end, or NULL with the sticky error set. */
static uint8_t *grow(struct aml *a, size_t n)
{
	if (a->err)
		return NULL;
	if (n > a->cap - a->len) {
		fail(a, -ENOSPC);
		return NULL;
	}
	uint8_t *p = a->buf + a->len;
	a->len += n;
	return p;
}

int aml_byte(struct aml *a, uint8_t b)
{
	uint8_t *p = grow(a, 1);
	if (!p)
		return a->err;
	*p = b;
	return 0;
}

int aml_bytes(struct aml *a, const void *src, size_t n)
{
	if (a->err)
		return a->err;
	if (n == 0)
		return 0;
	if (!src)
		return fail(a, -EINVAL);
	uint8_t *p = grow(a, n);
	if (!p)
		return a->err;
	memcpy(p, src, n);
	return 0;
}

/* Little-endian value of n bytes. */
static int put_le(struct aml *a, uint64_t v, unsigned n)
{
	uint8_t *p = grow(a, n);
	if (!p)
		return a->err;
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return 0;
}

/* ---- PkgLength (20.2.4). ---- */

int aml_pkglen_encode(uint32_t value, uint8_t out[4])
{
	if (value == 0 || value > AML_PKGLEN_MAX)
		return -EINVAL;
	if (value <= 0x3f) {
		/* bits 7-6 = 0 (no follow bytes), bits 5-0 = the length */
		out[0] = (uint8_t)value;
		return 1;
	}
	int n = value <= 0xfff ? 2 : value <= 0xfffff ? 3 : 4;
	/* bits 7-6 = follow bytes, 5-4 = 0, 3-0 = low nibble of the length */
	out[0] = (uint8_t)(((unsigned)(n - 1) << 6) | (value & 0x0f));
	for (int i = 1; i < n; i++)
		out[i] = (uint8_t)(value >> (4 + 8 * (i - 1)));
	return n;
}

/* The PkgLength of an object with rest bytes after it: its length or <0. */
static int pkglen_for(size_t rest, uint8_t out[4])
{
	for (uint32_t n = 1; n <= 4; n++) {
		if (rest > AML_PKGLEN_MAX - n)
			break;
		if (aml_pkglen_encode((uint32_t)rest + n, out) == (int)n)
			return (int)n;
	}
	return -ENOSPC;
}

/* ---- Names (20.2.2). ---- */

static bool lead_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static bool name_char(char c)
{
	return lead_char(c) || (c >= '0' && c <= '9');
}

/* Checks one NameSeg of n characters at s. */
static bool seg_valid(const char *s, size_t n)
{
	if (n < 1 || n > 4 || !lead_char(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

int aml_namestring(struct aml *a, const char *path)
{
	if (a->err)
		return a->err;
	if (!path)
		return fail(a, -EINVAL);

	/* Prefix: one RootChar or any number of ParentPrefixChars. */
	const char *p = path;
	size_t nprefix = 0;
	if (*p == '\\') {
		p++;
		nprefix = 1;
	} else {
		while (*p == '^') {
			p++;
			nprefix++;
		}
	}

	/* Validate and count the segments before writing anything. */
	size_t nseg = 0;
	if (*p) {
		const char *s = p;
		for (;;) {
			const char *dot = strchr(s, '.');
			size_t n = dot ? (size_t)(dot - s) : strlen(s);
			if (!seg_valid(s, n))
				return fail(a, -EINVAL);
			nseg++;
			if (!dot)
				break;
			s = dot + 1;
		}
	}
	if (nseg > 255 || (nseg == 0 && nprefix == 0))
		return fail(a, -EINVAL);

	if (aml_bytes(a, path, nprefix))
		return a->err;
	if (nseg == 0)
		return aml_byte(a, 0x00); /* NullName */
	if (nseg == 2)
		aml_byte(a, AML_DUAL_NAME_PREFIX);
	else if (nseg > 2) {
		aml_byte(a, AML_MULTI_NAME_PREFIX);
		aml_byte(a, (uint8_t)nseg);
	}
	const char *s = p;
	for (size_t i = 0; i < nseg; i++) {
		uint8_t *seg = grow(a, 4);
		if (!seg)
			return a->err;
		size_t n = 0;
		while (s[n] && s[n] != '.')
			n++;
		memcpy(seg, s, n);
		memset(seg + n, '_', 4 - n);
		s += n + 1;
	}
	return 0;
}

/* ---- Data objects (20.2.3). ---- */

int aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0)
		return aml_byte(a, AML_ZERO_OP);
	if (v == 1)
		return aml_byte(a, AML_ONE_OP);
	if (v == UINT64_MAX)
		return aml_byte(a, AML_ONES_OP);
	if (v <= 0xff) {
		aml_byte(a, AML_BYTE_PREFIX);
		return put_le(a, v, 1);
	}
	if (v <= 0xffff) {
		aml_byte(a, AML_WORD_PREFIX);
		return put_le(a, v, 2);
	}
	if (v <= 0xffffffff) {
		aml_byte(a, AML_DWORD_PREFIX);
		return put_le(a, v, 4);
	}
	aml_byte(a, AML_QWORD_PREFIX);
	return put_le(a, v, 8);
}

int aml_dword(struct aml *a, uint32_t v)
{
	aml_byte(a, AML_DWORD_PREFIX);
	return put_le(a, v, 4);
}

int aml_string(struct aml *a, const char *s)
{
	if (a->err)
		return a->err;
	if (!s)
		return fail(a, -EINVAL);
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] > 0x7f)
			return fail(a, -EINVAL);
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, n);
	return aml_byte(a, 0x00); /* NullChar */
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int aml_eisaid_encode(const char *id, uint32_t *out)
{
	if (!id || strlen(id) != 7)
		return -EINVAL;
	/* Manufacturer: three letters, 5 bits each ('A' = 1), bit 15 = 0. */
	uint16_t mfg = 0;
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return -EINVAL;
		mfg = (uint16_t)((mfg << 5) | (uint16_t)(id[i] - 0x40));
	}
	/* Product: four hex digits. */
	uint16_t prod = 0;
	for (int i = 3; i < 7; i++) {
		int d = hex_digit(id[i]);
		if (d < 0)
			return -EINVAL;
		prod = (uint16_t)((prod << 4) | (uint16_t)d);
	}
	/* Both 16-bit halves are stored most significant byte first. */
	*out = (uint32_t)(mfg >> 8) | (uint32_t)(mfg & 0xff) << 8 |
	       (uint32_t)(prod >> 8) << 16 | (uint32_t)(prod & 0xff) << 24;
	return 0;
}

int aml_eisaid(struct aml *a, const char *id)
{
	if (a->err)
		return a->err;
	uint32_t v;
	if (aml_eisaid_encode(id, &v))
		return fail(a, -EINVAL);
	return aml_dword(a, v);
}

int aml_buffer(struct aml *a, const void *data, size_t len)
{
	struct aml_mark m;
	aml_buffer_begin(a, &m);
	aml_bytes(a, data, len);
	return aml_end(a, &m);
}

/* ---- Named objects and control (20.2.5). ---- */

int aml_name(struct aml *a, const char *path)
{
	aml_byte(a, AML_NAME_OP);
	return aml_namestring(a, path);
}

int aml_return(struct aml *a)
{
	return aml_byte(a, AML_RETURN_OP);
}

/* ---- Expressions (20.2.5.4, 20.2.6). ---- */

int aml_name_ref(struct aml *a, const char *path)
{
	return aml_namestring(a, path);
}

int aml_local(struct aml *a, unsigned n)
{
	if (n > 7)
		return fail(a, -EINVAL);
	return aml_byte(a, (uint8_t)(AML_LOCAL0_OP + n));
}

int aml_arg(struct aml *a, unsigned n)
{
	if (n > 6)
		return fail(a, -EINVAL);
	return aml_byte(a, (uint8_t)(AML_ARG0_OP + n));
}

int aml_null_name(struct aml *a)
{
	return aml_byte(a, 0x00);
}

int aml_store(struct aml *a)
{
	return aml_byte(a, AML_STORE_OP);
}

int aml_and(struct aml *a)
{
	return aml_byte(a, AML_AND_OP);
}

int aml_lequal(struct aml *a)
{
	return aml_byte(a, AML_LEQUAL_OP);
}

int aml_notify(struct aml *a)
{
	return aml_byte(a, AML_NOTIFY_OP);
}

/* ---- Operation regions and fields (20.2.5.2). ---- */

int aml_operation_region(struct aml *a, const char *name, uint8_t space,
			 uint64_t offset, uint64_t len)
{
	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_OPREGION_OP);
	aml_namestring(a, name);
	aml_byte(a, space);
	aml_integer(a, offset);
	return aml_integer(a, len);
}

int aml_field_unit(struct aml *a, const char *name, uint32_t bits)
{
	if (a->err)
		return a->err;
	if (!name || !seg_valid(name, strlen(name)))
		return fail(a, -EINVAL);
	/* NamedField: NameSeg, then the width in PkgLength form (20.2.5.2). */
	uint8_t enc[4];
	int n = aml_pkglen_encode(bits, enc);
	if (n < 0)
		return fail(a, -EINVAL);
	uint8_t *seg = grow(a, 4);
	if (!seg)
		return a->err;
	size_t len = strlen(name);
	memcpy(seg, name, len);
	memset(seg + len, '_', 4 - len);
	return aml_bytes(a, enc, (size_t)n);
}

/* Opens an object whose opcode was just written. */
static int begin(struct aml *a, size_t reserved, bool is_buffer,
		 struct aml_mark *m)
{
	m->pos = a->len;
	m->reserved = reserved;
	m->is_buffer = is_buffer;
	uint8_t *p = grow(a, reserved);
	if (!p)
		return a->err;
	memset(p, 0, reserved);
	a->open++;
	return 0;
}

int aml_scope_begin(struct aml *a, const char *path, struct aml_mark *m)
{
	aml_byte(a, AML_SCOPE_OP);
	begin(a, PKGLEN_RESERVE, false, m);
	return aml_namestring(a, path);
}

int aml_device_begin(struct aml *a, const char *path, struct aml_mark *m)
{
	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	begin(a, PKGLEN_RESERVE, false, m);
	return aml_namestring(a, path);
}

int aml_method_begin(struct aml *a, const char *path, unsigned nargs,
		     bool serialized, struct aml_mark *m)
{
	if (nargs > 7) {
		m->pos = m->reserved = 0;
		m->is_buffer = false;
		return fail(a, -EINVAL);
	}
	aml_byte(a, AML_METHOD_OP);
	begin(a, PKGLEN_RESERVE, false, m);
	aml_namestring(a, path);
	/* MethodFlags: bits 0-2 ArgCount, bit 3 SerializeFlag, 4-7 SyncLevel */
	return aml_byte(a, (uint8_t)(nargs | (serialized ? 0x08u : 0u)));
}

int aml_field_begin(struct aml *a, const char *region, uint8_t flags,
		    struct aml_mark *m)
{
	if (flags & 0x80) {
		m->pos = m->reserved = 0;
		m->is_buffer = false;
		return fail(a, -EINVAL);
	}
	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_FIELD_OP);
	begin(a, PKGLEN_RESERVE, false, m);
	aml_namestring(a, region);
	return aml_byte(a, flags);
}

int aml_if_begin(struct aml *a, struct aml_mark *m)
{
	aml_byte(a, AML_IF_OP);
	return begin(a, PKGLEN_RESERVE, false, m);
}

int aml_package_begin(struct aml *a, unsigned nelems, struct aml_mark *m)
{
	if (nelems > 255) {
		m->pos = m->reserved = 0;
		m->is_buffer = false;
		return fail(a, -EINVAL);
	}
	aml_byte(a, AML_PACKAGE_OP);
	begin(a, PKGLEN_RESERVE, false, m);
	return aml_byte(a, (uint8_t)nelems); /* NumElements */
}

int aml_buffer_begin(struct aml *a, struct aml_mark *m)
{
	aml_byte(a, AML_BUFFER_OP);
	return begin(a, PKGLEN_RESERVE + BUFSIZE_RESERVE, true, m);
}

int aml_end(struct aml *a, const struct aml_mark *m)
{
	if (a->err)
		return a->err;
	if (!a->open || m->pos > a->len || m->reserved > a->len - m->pos)
		return fail(a, -EINVAL);
	size_t body_at = m->pos + m->reserved;
	size_t body = a->len - body_at;

	/* What sits between the PkgLength and the body: the BufferSize. */
	uint8_t extra[BUFSIZE_RESERVE];
	size_t nextra = 0;
	if (m->is_buffer) {
		if (body > AML_PKGLEN_MAX)
			return fail(a, -ENOSPC);
		struct aml t;
		aml_init(&t, extra, sizeof(extra));
		aml_integer(&t, body);
		if (aml_finish(&t, &nextra))
			return fail(a, -EINVAL);
	}

	uint8_t pkglen[4];
	int n = pkglen_for(nextra + body, pkglen);
	if (n < 0)
		return fail(a, n);
	uint8_t *p = a->buf + m->pos;
	memcpy(p, pkglen, (size_t)n);
	memcpy(p + n, extra, nextra);
	memmove(p + n + nextra, a->buf + body_at, body);
	a->len = m->pos + (size_t)n + nextra + body;
	a->open--;
	return 0;
}

/* ---- Resource descriptors (6.4). ---- */

int aml_restemplate_begin(struct aml *a, struct aml_mark *m)
{
	return aml_buffer_begin(a, m);
}

int aml_restemplate_end(struct aml *a, const struct aml_mark *m)
{
	aml_byte(a, AML_RES_END_TAG);
	aml_byte(a, 0x00); /* checksum 0: treated as valid */
	return aml_end(a, m);
}

int aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align,
	       uint8_t len)
{
	aml_byte(a, AML_RES_IO);
	aml_byte(a, 0x01); /* Information: bit 0 = 16-bit decode */
	put_le(a, min, 2);
	put_le(a, max, 2);
	aml_byte(a, align);
	return aml_byte(a, len);
}

int aml_res_io_fixed(struct aml *a, uint16_t base, uint8_t len)
{
	return aml_res_io(a, base, base, 1, len);
}

int aml_res_irq_noflags(struct aml *a, uint16_t mask)
{
	aml_byte(a, AML_RES_IRQ_NOFLAGS);
	return put_le(a, mask, 2);
}

int aml_res_irq(struct aml *a, uint16_t mask, uint8_t flags)
{
	if (flags & ~(AML_IRQ_EDGE | AML_IRQ_ACTIVE_LOW | AML_IRQ_SHARED |
		      AML_IRQ_WAKE))
		return fail(a, -EINVAL);
	aml_byte(a, AML_RES_IRQ);
	put_le(a, mask, 2);
	return aml_byte(a, flags);
}

int aml_res_memory32_fixed(struct aml *a, bool writable, uint32_t base,
			   uint32_t len)
{
	aml_byte(a, AML_RES_MEMORY32_FIXED);
	put_le(a, 9, 2); /* bytes after the length field */
	aml_byte(a, writable ? 0x01 : 0x00); /* Information: bit 0 = RW */
	put_le(a, base, 4);
	return put_le(a, len, 4);
}

int aml_res_interrupt(struct aml *a, uint8_t flags, uint32_t gsi)
{
	if (flags & ~(AML_EXT_IRQ_CONSUMER | AML_EXT_IRQ_EDGE |
		      AML_EXT_IRQ_ACTIVE_LOW | AML_EXT_IRQ_SHARED |
		      AML_EXT_IRQ_WAKE))
		return fail(a, -EINVAL);
	aml_byte(a, AML_RES_EXT_IRQ);
	put_le(a, 6, 2); /* flags, table length, one DWORD */
	aml_byte(a, flags);
	aml_byte(a, 1); /* interrupt table length */
	return put_le(a, gsi, 4);
}

/* The address space descriptor whose fields are `width` bytes wide. */
static int res_addr(struct aml *a, uint8_t tag, unsigned width,
		    const struct aml_addr_space *d)
{
	if (a->err)
		return a->err;
	uint64_t lim = width == 8 ? UINT64_MAX : (1ULL << (8 * width)) - 1;
	if (d->type > AML_ADDR_BUS || (d->general_flags & 0xf0) ||
	    d->granularity > lim || d->min > lim || d->max > lim ||
	    d->translation > lim || d->length > lim)
		return fail(a, -EINVAL);
	aml_byte(a, tag);
	put_le(a, 3 + 5 * width, 2); /* bytes after the length field */
	aml_byte(a, d->type);
	aml_byte(a, d->general_flags);
	aml_byte(a, d->type_flags);
	put_le(a, d->granularity, width);
	put_le(a, d->min, width);
	put_le(a, d->max, width);
	put_le(a, d->translation, width);
	return put_le(a, d->length, width);
}

int aml_res_word_addr(struct aml *a, const struct aml_addr_space *d)
{
	return res_addr(a, AML_RES_WORD_ADDR, 2, d);
}

int aml_res_dword_addr(struct aml *a, const struct aml_addr_space *d)
{
	return res_addr(a, AML_RES_DWORD_ADDR, 4, d);
}

int aml_res_qword_addr(struct aml *a, const struct aml_addr_space *d)
{
	return res_addr(a, AML_RES_QWORD_ADDR, 8, d);
}

/* A fixed [min, max] range (max - min + 1 must not wrap to 0). */
static int res_fixed(struct aml *a, uint8_t tag, unsigned width, uint8_t type,
		     bool producer, uint8_t type_flags, uint64_t min,
		     uint64_t max)
{
	if (a->err)
		return a->err;
	if (min > max || (min == 0 && max == UINT64_MAX))
		return fail(a, -EINVAL);
	struct aml_addr_space d = {
		.type = type,
		.general_flags = AML_ADDR_MIN_FIXED | AML_ADDR_MAX_FIXED |
				 (producer ? 0 : AML_ADDR_CONSUMER),
		.type_flags = type_flags,
		.min = min,
		.max = max,
		.length = max - min + 1,
	};
	return res_addr(a, tag, width, &d);
}

int aml_res_word_bus_number(struct aml *a, bool producer, uint16_t min,
			    uint16_t max)
{
	return res_fixed(a, AML_RES_WORD_ADDR, 2, AML_ADDR_BUS, producer, 0,
			 min, max);
}

int aml_res_word_io(struct aml *a, bool producer, uint16_t min, uint16_t max)
{
	return res_fixed(a, AML_RES_WORD_ADDR, 2, AML_ADDR_IO, producer,
			 AML_IO_ENTIRE_RANGE, min, max);
}

int aml_res_dword_memory(struct aml *a, bool producer, uint8_t mem_flags,
			 uint32_t min, uint32_t max)
{
	return res_fixed(a, AML_RES_DWORD_ADDR, 4, AML_ADDR_MEMORY, producer,
			 mem_flags, min, max);
}

int aml_res_qword_memory(struct aml *a, bool producer, uint8_t mem_flags,
			 uint64_t min, uint64_t max)
{
	return res_fixed(a, AML_RES_QWORD_ADDR, 8, AML_ADDR_MEMORY, producer,
			 mem_flags, min, max);
}
