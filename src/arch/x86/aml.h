/* SPDX-License-Identifier: MIT */
/*
 * A small AML (ACPI Machine Language, ACPI 6.5 chapter 20) byte-code writer
 * for the static objects firmware tables need: names, scopes, devices,
 * simple methods (stores, And, LEqual, If, Notify), operation regions and
 * fields, data objects and resource templates (6.4).
 *
 * It writes into a caller-provided buffer. Errors are sticky: the first
 * failure (-ENOSPC: the buffer is full, -EINVAL: a bad name or value) is
 * kept in the builder, every later call does nothing and returns it, and
 * aml_finish() reports it. So a sequence of calls needs one check at the end.
 *
 *   struct aml a;
 *   struct aml_mark dev, crs;
 *   aml_init(&a, buf, sizeof(buf));
 *   aml_device_begin(&a, "COM1", &dev);
 *     aml_name(&a, "_HID"); aml_eisaid(&a, "PNP0501");
 *     aml_name(&a, "_CRS"); aml_restemplate_begin(&a, &crs);
 *       aml_res_io_fixed(&a, 0x3f8, 8);
 *       aml_res_irq_noflags(&a, 1u << 4);
 *     aml_restemplate_end(&a, &crs);
 *   aml_end(&a, &dev);
 *   ret = aml_finish(&a, &len);
 *
 * Objects with a PkgLength (Scope, Device, Method, Buffer, Package) are
 * opened with a *_begin() call and closed with aml_end() (or
 * aml_restemplate_end()); they nest. While one is open, room for the
 * longest (4-byte) PkgLength is held, and the body moves back when the
 * object is closed with the shortest encoding, so the final bytes are the
 * same as a one-pass encoder's; the reservation can make a buffer that is
 * within 3 bytes (Buffer: 7) of full report -ENOSPC early.
 *
 * Integers assume a revision-2 (64-bit) definition block: Ones is
 * 0xFFFFFFFFFFFFFFFF.
 */
#ifndef CVMM_ARCH_X86_AML_H
#define CVMM_ARCH_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err; /* first error, sticky; 0 while all went well */
	unsigned open; /* objects begun and not yet ended */
};

/* An open object: where its PkgLength goes and what else to fill then. */
struct aml_mark {
	size_t pos; /* first byte reserved for the PkgLength */
	size_t reserved; /* bytes reserved at pos */
	bool is_buffer; /* BufferSize is computed at aml_end() */
};

/* ---- Opcodes and prefixes (ACPI 6.5, 20.2 / 20.3). ---- */

#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_METHOD_OP 0x14
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP 0x82 /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR 0x5c /* '\' */
#define AML_PARENT_PREFIX 0x5e /* '^' */
#define AML_RETURN_OP 0xa4
#define AML_ONES_OP 0xff
#define AML_LOCAL0_OP 0x60 /* Local0-Local7: 0x60-0x67 */
#define AML_ARG0_OP 0x68 /* Arg0-Arg6: 0x68-0x6e */
#define AML_STORE_OP 0x70
#define AML_AND_OP 0x7b
#define AML_NOTIFY_OP 0x86
#define AML_LEQUAL_OP 0x93
#define AML_IF_OP 0xa0
#define AML_OPREGION_OP 0x80 /* after AML_EXT_OP_PREFIX */
#define AML_FIELD_OP 0x81 /* after AML_EXT_OP_PREFIX */

/* OperationRegion spaces (19.6.100). */
#define AML_SPACE_SYSTEM_MEMORY 0x00
#define AML_SPACE_SYSTEM_IO 0x01

/* FieldFlags (20.2.5.2): access type, lock rule, update rule. */
#define AML_FIELD_ANY_ACC 0x0
#define AML_FIELD_BYTE_ACC 0x1
#define AML_FIELD_WORD_ACC 0x2
#define AML_FIELD_DWORD_ACC 0x3
#define AML_FIELD_QWORD_ACC 0x4
#define AML_FIELD_LOCK (1u << 4) /* else NoLock */
#define AML_FIELD_PRESERVE (0u << 5)
#define AML_FIELD_WRITE_AS_ONES (1u << 5)
#define AML_FIELD_WRITE_AS_ZEROS (2u << 5)

/* Largest value a PkgLength can hold (28 bits). */
#define AML_PKGLEN_MAX 0x0fffffffu

/* ---- Resource descriptors (ACPI 6.5, 6.4). ---- */

/* Small items: tag byte = type << 3 | length. */
#define AML_RES_IRQ_NOFLAGS 0x22 /* type 0x04, 2 bytes */
#define AML_RES_IRQ 0x23 /* type 0x04, 3 bytes */
#define AML_RES_IO 0x47 /* type 0x08, 7 bytes */
#define AML_RES_END_TAG 0x79 /* type 0x0f, 1 byte */
/* Large items: tag byte = 0x80 | type, then a 16-bit length. */
#define AML_RES_DWORD_ADDR 0x87
#define AML_RES_WORD_ADDR 0x88
#define AML_RES_QWORD_ADDR 0x8a
#define AML_RES_MEMORY32_FIXED 0x86
#define AML_RES_EXT_IRQ 0x89 /* Extended Interrupt Descriptor */

/* IRQ descriptor information byte. */
#define AML_IRQ_EDGE (1u << 0) /* else level */
#define AML_IRQ_ACTIVE_LOW (1u << 3) /* else active high */
#define AML_IRQ_SHARED (1u << 4)
#define AML_IRQ_WAKE (1u << 5)

/* Extended Interrupt Descriptor flags (6.4.3.6). */
#define AML_EXT_IRQ_CONSUMER (1u << 0) /* else producer */
#define AML_EXT_IRQ_EDGE (1u << 1) /* else level */
#define AML_EXT_IRQ_ACTIVE_LOW (1u << 2) /* else active high */
#define AML_EXT_IRQ_SHARED (1u << 3)
#define AML_EXT_IRQ_WAKE (1u << 4)

/* Address space descriptors: resource type. */
#define AML_ADDR_MEMORY 0
#define AML_ADDR_IO 1
#define AML_ADDR_BUS 2
/* General flags. */
#define AML_ADDR_CONSUMER (1u << 0) /* else producer (a bridge window) */
#define AML_ADDR_SUB_DECODE (1u << 1) /* else positive decode */
#define AML_ADDR_MIN_FIXED (1u << 2)
#define AML_ADDR_MAX_FIXED (1u << 3)
/* Type-specific flags, memory. */
#define AML_MEM_RW (1u << 0) /* else read-only */
#define AML_MEM_NONCACHEABLE (0u << 1)
#define AML_MEM_CACHEABLE (1u << 1)
#define AML_MEM_WRITE_COMBINING (2u << 1)
#define AML_MEM_PREFETCHABLE (3u << 1)
/* Type-specific flags, I/O: the ranges decoded. */
#define AML_IO_NON_ISA_ONLY 1u
#define AML_IO_ISA_ONLY 2u
#define AML_IO_ENTIRE_RANGE 3u

/* A Word/DWord/QWord Address Space Descriptor, resource source omitted. */
struct aml_addr_space {
	uint8_t type; /* AML_ADDR_MEMORY/IO/BUS */
	uint8_t general_flags; /* AML_ADDR_* flags */
	uint8_t type_flags; /* AML_MEM_* / AML_IO_* or 0 */
	uint64_t granularity, min, max, translation, length;
};

/* ---- Builder. ---- */

void aml_init(struct aml *a, uint8_t *buf, size_t cap);
/*
 * The bytes written so far in *len; returns the sticky error (0, -ENOSPC
 * or -EINVAL), or -EINVAL when an object is still open.
 */
int aml_finish(const struct aml *a, size_t *len);

/* Raw bytes (anything the helpers below do not cover). */
int aml_byte(struct aml *a, uint8_t b);
int aml_bytes(struct aml *a, const void *p, size_t n);

/*
 * PkgLength encoding of value (which counts the PkgLength bytes
 * themselves): 1-4 bytes into out, returns the count, or -EINVAL above
 * AML_PKGLEN_MAX or when value is too small to count its own encoding.
 */
int aml_pkglen_encode(uint32_t value, uint8_t out[4]);

/*
 * NameString: "\\" or "^"... prefixes, then NameSegs separated by '.',
 * each 1-4 of [A-Z0-9_] not starting with a digit, padded with '_'
 * ("RTC" -> "RTC_"). "\\" alone is the root (NullName after RootChar).
 */
int aml_namestring(struct aml *a, const char *path);

/* Integers: the shortest of Zero, One, Ones, Byte/Word/DWord/QWordConst. */
int aml_integer(struct aml *a, uint64_t v);
/* Always a DWordConst (for EISA ids and fixed-width fields). */
int aml_dword(struct aml *a, uint32_t v);
/* String (ASCII 0x01-0x7f); -EINVAL otherwise. */
int aml_string(struct aml *a, const char *s);
/*
 * Compressed EISA id "PNP0A08" (3 letters A-Z, 4 hex digits) as the 32-bit
 * value whose little-endian bytes are the stored form (0x080AD041 here).
 */
int aml_eisaid_encode(const char *id, uint32_t *out);
/* The same, emitted as a DWordConst. */
int aml_eisaid(struct aml *a, const char *id);
/* Buffer with the given bytes. */
int aml_buffer(struct aml *a, const void *data, size_t len);

/* Name (path, ...): the caller emits the value object next. */
int aml_name(struct aml *a, const char *path);
/* Return (...): the caller emits the returned object next. */
int aml_return(struct aml *a);

/*
 * Expressions are written in prefix order, as AML stores them: the
 * operator, then its operands, each one an object or another expression.
 *
 *   aml_store(a); aml_name_ref(a, "GEVT"); aml_local(a, 0);
 *     = Store (GEVT, Local0)
 */
/* A reference to a named object (a NameString, see aml_namestring). */
int aml_name_ref(struct aml *a, const char *path);
/* Local0-Local7 (n 0-7), Arg0-Arg6 (n 0-6); -EINVAL otherwise. */
int aml_local(struct aml *a, unsigned n);
int aml_arg(struct aml *a, unsigned n);
/* NullName: "no target" for the operators that take one (And, ...). */
int aml_null_name(struct aml *a);
/* Store (source, target): the caller emits source, then target. */
int aml_store(struct aml *a);
/* And (operand, operand, target). */
int aml_and(struct aml *a);
/* LEqual (operand, operand). */
int aml_lequal(struct aml *a);
/* Notify (object, value). */
int aml_notify(struct aml *a);

/*
 * OperationRegion (name, space, offset, len): space AML_SPACE_*; offset
 * and len are emitted as the shortest integers.
 */
int aml_operation_region(struct aml *a, const char *name, uint8_t space,
			 uint64_t offset, uint64_t len);
/*
 * Field (region, flags) { ... }: flags from AML_FIELD_*; the caller adds
 * the units with aml_field_unit() and closes with aml_end().
 */
int aml_field_begin(struct aml *a, const char *region, uint8_t flags,
		    struct aml_mark *m);
/* A named field unit of `bits` bits (1..AML_PKGLEN_MAX); name: one NameSeg. */
int aml_field_unit(struct aml *a, const char *name, uint32_t bits);

/* Objects with a body, closed with aml_end(). */
int aml_scope_begin(struct aml *a, const char *path, struct aml_mark *m);
int aml_device_begin(struct aml *a, const char *path, struct aml_mark *m);
/* nargs 0-7; not serialized, sync level 0 unless serialized. */
int aml_method_begin(struct aml *a, const char *path, unsigned nargs,
		     bool serialized, struct aml_mark *m);
/* Package of nelems (0-255) elements, which the caller emits next. */
int aml_package_begin(struct aml *a, unsigned nelems, struct aml_mark *m);
/* Buffer whose bytes the caller emits next; BufferSize is filled in. */
int aml_buffer_begin(struct aml *a, struct aml_mark *m);
/* If (predicate) { ... }: the caller emits the predicate, then the body. */
int aml_if_begin(struct aml *a, struct aml_mark *m);
/* Closes the innermost open object (marks must be ended last-in first-out). */
int aml_end(struct aml *a, const struct aml_mark *m);

/* ResourceTemplate (): a Buffer of descriptors closed by an EndTag. */
int aml_restemplate_begin(struct aml *a, struct aml_mark *m);
/* Appends the EndTag (checksum 0: "treat as valid") and closes. */
int aml_restemplate_end(struct aml *a, const struct aml_mark *m);

/* IO (Decode16, min, max, align, len). */
int aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align,
	       uint8_t len);
/* IO (Decode16, base, base, 1, len): a fixed range. */
int aml_res_io_fixed(struct aml *a, uint16_t base, uint8_t len);
/* IRQNoFlags () {...}: bit n of mask = IRQ n (edge, active high). */
int aml_res_irq_noflags(struct aml *a, uint16_t mask);
/* IRQ (...) {...} with AML_IRQ_* flags. */
int aml_res_irq(struct aml *a, uint16_t mask, uint8_t flags);
/* Memory32Fixed (ReadWrite or ReadOnly, base, len). */
int aml_res_memory32_fixed(struct aml *a, bool writable, uint32_t base,
			   uint32_t len);
/*
 * Interrupt (..., flags) { gsi }: an Extended Interrupt Descriptor with one
 * interrupt number and no resource source; flags from AML_EXT_IRQ_*.
 */
int aml_res_interrupt(struct aml *a, uint8_t flags, uint32_t gsi);
/* Address space descriptors; -EINVAL when a value does not fit. */
int aml_res_word_addr(struct aml *a, const struct aml_addr_space *d);
int aml_res_dword_addr(struct aml *a, const struct aml_addr_space *d);
int aml_res_qword_addr(struct aml *a, const struct aml_addr_space *d);
/*
 * Common forms, [min, max] inclusive with both ends fixed, positive
 * decode, granularity 0, no translation; producer = a bridge window.
 */
int aml_res_word_bus_number(struct aml *a, bool producer, uint16_t min,
			    uint16_t max);
int aml_res_word_io(struct aml *a, bool producer, uint16_t min, uint16_t max);
int aml_res_dword_memory(struct aml *a, bool producer, uint8_t mem_flags,
			 uint32_t min, uint32_t max);
int aml_res_qword_memory(struct aml *a, bool producer, uint8_t mem_flags,
			 uint64_t min, uint64_t max);

#endif
