/* SPDX-License-Identifier: MIT */
/*
 * The snapshot file format (docs/snapshot.md): a header (magic, version)
 * and named sections, each with its length and a CRC-32 (zlib's) of its
 * payload and of its own header, ending with a section named "end". A
 * writer appends sections to a growable buffer (struct snap_buf); the
 * reader checks the whole file once (snap_parse: magic, version, every
 * checksum, the end section) and hands out cursors over the payloads
 * (struct snap_cur), which never read past their section.
 *
 * Device save/restore hooks (platform.h, virtio/virtio.h, virtio/core.h,
 * pci/pci.h) take a struct snap_buf to append to and a struct snap_cur to
 * read from. All values are little-endian, fixed width.
 *
 * No KVM dependency: unit tests and the fuzz target build it alone.
 */
#ifndef CVMM_SNAP_SNAP_H
#define CVMM_SNAP_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC "CVMMSNAP"
#define SNAP_VERSION 1u
#define SNAP_NAME_MAX 32 /* section names, NUL included */
#define SNAP_HEADER_SIZE 16 /* magic, version, reserved */
#define SNAP_SECTION_HEADER_SIZE (SNAP_NAME_MAX + 16) /* name, len, crc, hcrc */
#define SNAP_MAX_SECTIONS 1024

/* The files of a snapshot folder. */
#define SNAP_STATE_FILE "state.bin"
#define SNAP_MEMORY_FILE "memory.bin"

/* ---- writing ---- */

struct snap_buf {
	uint8_t *data;
	size_t len, cap;
	int err; /* the first failure (-ENOMEM), sticky */
};

void snap_put(struct snap_buf *b, const void *p, size_t n);
void snap_put_u8(struct snap_buf *b, uint8_t v);
void snap_put_u16(struct snap_buf *b, uint16_t v);
void snap_put_u32(struct snap_buf *b, uint32_t v);
void snap_put_u64(struct snap_buf *b, uint64_t v);
/* A string of at most 255 bytes (longer ones are cut): length, bytes. */
void snap_put_str(struct snap_buf *b, const char *s);
void snap_buf_free(struct snap_buf *b);

/* The file header; then sections; then snap_file_finish (the "end"
 * section): b->err, 0 when the buffer holds the whole file. */
void snap_file_begin(struct snap_buf *b);
/* Opens a section (name: 1..SNAP_NAME_MAX-1 bytes); returns where its
 * header is, for snap_section_end, which fills in its length and CRCs. */
size_t snap_section_begin(struct snap_buf *b, const char *name);
void snap_section_end(struct snap_buf *b, size_t at);
int snap_file_finish(struct snap_buf *b);

/* ---- reading ---- */

/* One section's payload; `bad` once a read went past its end. */
struct snap_cur {
	const uint8_t *p;
	size_t len, pos;
	bool bad;
};

/* 0, or -EBADMSG (nothing copied, out zeroed, c->bad set). */
int snap_get(struct snap_cur *c, void *out, size_t n);
uint8_t snap_get_u8(struct snap_cur *c);
uint16_t snap_get_u16(struct snap_cur *c);
uint32_t snap_get_u32(struct snap_cur *c);
uint64_t snap_get_u64(struct snap_cur *c);
/* A snap_put_str string into buf (NUL-terminated; size >= 256). */
int snap_get_str(struct snap_cur *c, char *buf, size_t size);
/* Whether the next string is `s` (the device's name in its section):
 * 0, or -EBADMSG (c->bad set). */
int snap_expect_str(struct snap_cur *c, const char *s);
/* 0 when every read fitted and the payload was read to its end, else
 * -EBADMSG: a restore hook's last word. */
int snap_cur_end(const struct snap_cur *c);

struct snap_section {
	char name[SNAP_NAME_MAX];
	const uint8_t *data; /* into the parsed buffer */
	uint64_t len;
	bool used; /* a restore took it (snap_find) */
};

struct snap_index {
	uint32_t version;
	unsigned n;
	struct snap_section *s;
};

/*
 * Checks a whole state file in buf (kept: the index points into it): 0,
 * or with one line in err (no newline): -EINVAL not a snapshot (magic),
 * -EPROTONOSUPPORT another format version, -EBADMSG truncated or a
 * checksum that does not match (naming the section), -ENOMEM.
 */
int snap_parse(const uint8_t *buf, size_t len, struct snap_index *idx, char *err,
	       size_t errlen);
void snap_index_free(struct snap_index *idx);
/* The section called `name` as a cursor: 0, or -ENOENT. */
int snap_find(struct snap_index *idx, const char *name, struct snap_cur *c);

/* zlib's CRC-32 of n bytes (n may exceed 4 GiB). */
uint32_t snap_crc32(const void *p, size_t n);

/* The snapshot code's error reports: the formatted line into err (up to
 * errlen bytes), and `ret` back. */
int snap_failf(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
