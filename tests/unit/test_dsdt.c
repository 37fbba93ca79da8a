/* SPDX-License-Identifier: MIT */
/*
 * AML writer (aml.c) and DSDT device objects (dsdt.c): byte-exact checks of
 * the encodings, then a whole DSDT built by acpi_build() into a 1 MiB
 * buffer registered as guest memory, found the way a guest finds it, and,
 * when iasl (acpica-tools) is installed, disassembled by it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "arch/x86/dsdt.h"
#include "arch/x86/layout.h"
#include "guest_mem.h"
#include "acpi_walk.h"

#define MEM_SIZE 0x100000ULL

/* Runs fn on a fresh builder and compares its output with want. */
#define EXPECT_AML(want, ...)                                            \
	do {                                                             \
		uint8_t buf_[256];                                       \
		struct aml a_;                                           \
		size_t len_;                                             \
		aml_init(&a_, buf_, sizeof(buf_));                       \
		struct aml *a = &a_;                                     \
		__VA_ARGS__;                                             \
		assert_int_equal(aml_finish(&a_, &len_), 0);             \
		assert_int_equal(len_, sizeof(want));                    \
		assert_memory_equal(buf_, want, sizeof(want));           \
	} while (0)

/* ---- PkgLength ---- */

static void check_pkglen(uint32_t v, const uint8_t *want, int n)
{
	uint8_t out[4];
	assert_int_equal(aml_pkglen_encode(v, out), n);
	assert_memory_equal(out, want, (size_t)n);
}

static void test_pkglen_encode(void **state)
{
	(void)state;
	check_pkglen(1, (const uint8_t[]){ 0x01 }, 1);
	check_pkglen(63, (const uint8_t[]){ 0x3f }, 1);
	check_pkglen(64, (const uint8_t[]){ 0x40, 0x04 }, 2);
	check_pkglen(0x1234 & 0xfff, (const uint8_t[]){ 0x44, 0x23 }, 2);
	check_pkglen(4095, (const uint8_t[]){ 0x4f, 0xff }, 2);
	check_pkglen(4096, (const uint8_t[]){ 0x80, 0x00, 0x01 }, 3);
	check_pkglen(0xfffff, (const uint8_t[]){ 0x8f, 0xff, 0xff }, 3);
	check_pkglen(0x100000, (const uint8_t[]){ 0xc0, 0x00, 0x00, 0x01 }, 4);
	check_pkglen(0x0fffffff, (const uint8_t[]){ 0xcf, 0xff, 0xff, 0xff }, 4);
	uint8_t out[4];
	assert_int_equal(aml_pkglen_encode(0, out), -EINVAL);
	assert_int_equal(aml_pkglen_encode(0x10000000, out), -EINVAL);
}

/*
 * Scope (ABCD) around `rest` - 4 raw bytes: PkgLength counts itself, the
 * NameSeg and the bytes; the builder must pick the shortest encoding and
 * move the body back intact.
 */
static void check_scope_pkglen(size_t rest, int want_n)
{
	size_t nraw = rest - 4;
	size_t cap = 1 + 4 + rest;
	uint8_t *buf = malloc(cap);
	uint8_t *raw = malloc(nraw);
	assert_non_null(buf);
	assert_non_null(raw);
	for (size_t i = 0; i < nraw; i++)
		raw[i] = (uint8_t)(i * 7 + 3);

	struct aml a;
	struct aml_mark m;
	size_t len;
	aml_init(&a, buf, cap);
	aml_scope_begin(&a, "ABCD", &m);
	aml_bytes(&a, raw, nraw);
	aml_end(&a, &m);
	assert_int_equal(aml_finish(&a, &len), 0);
	assert_int_equal(len, 1 + (size_t)want_n + rest);

	uint8_t pl[4];
	assert_int_equal(aml_pkglen_encode((uint32_t)(rest + (size_t)want_n), pl),
			 want_n);
	assert_int_equal(buf[0], AML_SCOPE_OP);
	assert_memory_equal(buf + 1, pl, (size_t)want_n);
	assert_memory_equal(buf + 1 + want_n, "ABCD", 4);
	assert_memory_equal(buf + 1 + want_n + 4, raw, nraw);
	free(raw);
	free(buf);
}

static void test_pkglen_builder(void **state)
{
	(void)state;
	check_scope_pkglen(4, 1);
	check_scope_pkglen(62, 1); /* 63 */
	check_scope_pkglen(63, 2); /* 65: 64 would not hold a 1-byte form */
	check_scope_pkglen(4093, 2); /* 4095 */
	check_scope_pkglen(4094, 3); /* 4097 */
	check_scope_pkglen(0xffffc, 3); /* 0xfffff */
	check_scope_pkglen(0xffffd, 4); /* 0x100001 */
}

/* ---- Data objects and names ---- */

static void test_integers(void **state)
{
	(void)state;
	EXPECT_AML(((const uint8_t[]){ 0x00 }), aml_integer(a, 0));
	EXPECT_AML(((const uint8_t[]){ 0x01 }), aml_integer(a, 1));
	EXPECT_AML(((const uint8_t[]){ 0xff }), aml_integer(a, UINT64_MAX));
	EXPECT_AML(((const uint8_t[]){ 0x0a, 0x02 }), aml_integer(a, 2));
	EXPECT_AML(((const uint8_t[]){ 0x0a, 0xff }), aml_integer(a, 0xff));
	EXPECT_AML(((const uint8_t[]){ 0x0b, 0x00, 0x01 }),
		   aml_integer(a, 0x100));
	EXPECT_AML(((const uint8_t[]){ 0x0b, 0xff, 0xff }),
		   aml_integer(a, 0xffff));
	EXPECT_AML(((const uint8_t[]){ 0x0c, 0x00, 0x00, 0x01, 0x00 }),
		   aml_integer(a, 0x10000));
	EXPECT_AML(((const uint8_t[]){ 0x0c, 0xff, 0xff, 0xff, 0xff }),
		   aml_integer(a, 0xffffffff));
	EXPECT_AML(((const uint8_t[]){ 0x0e, 0, 0, 0, 0, 1, 0, 0, 0 }),
		   aml_integer(a, 0x100000000ULL));
	EXPECT_AML(((const uint8_t[]){ 0x0e, 0xfe, 0xff, 0xff, 0xff, 0xff,
				       0xff, 0xff, 0xff }),
		   aml_integer(a, UINT64_MAX - 1));
	EXPECT_AML(((const uint8_t[]){ 0x0c, 0x01, 0x00, 0x00, 0x00 }),
		   aml_dword(a, 1));
	EXPECT_AML(((const uint8_t[]){ 0x0d, 'a', 'b', 0x00 }),
		   aml_string(a, "ab"));
	EXPECT_AML(((const uint8_t[]){ 0x0d, 0x00 }), aml_string(a, ""));
}

static void test_eisaid(void **state)
{
	(void)state;
	uint32_t v;
	assert_int_equal(aml_eisaid_encode("PNP0A08", &v), 0);
	assert_int_equal(v, 0x080AD041);
	assert_int_equal(aml_eisaid_encode("PNP0A03", &v), 0);
	assert_int_equal(v, 0x030AD041);
	assert_int_equal(aml_eisaid_encode("PNP0501", &v), 0);
	assert_int_equal(v, 0x0105D041);
	assert_int_equal(aml_eisaid_encode("PNP0c02", &v), 0);
	assert_int_equal(v, 0x020CD041);
	/* Stored bytes: DWordPrefix, then the id as it sits in memory. */
	EXPECT_AML(((const uint8_t[]){ 0x0c, 0x41, 0xd0, 0x0a, 0x08 }),
		   aml_eisaid(a, "PNP0A08"));
	/* Always a DWordConst, even when the value is small. */
	EXPECT_AML(((const uint8_t[]){ 0x0c, 0x41, 0xd0, 0x00, 0x00 }),
		   aml_eisaid(a, "PNP0000"));

	assert_int_equal(aml_eisaid_encode("PNP0A0", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode("PNP0A080", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode("pNP0A08", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode("PNP0A0G", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode(NULL, &v), -EINVAL);
}

static void test_names(void **state)
{
	(void)state;
	EXPECT_AML(((const uint8_t[]){ '_', 'S', 'B', '_' }),
		   aml_namestring(a, "_SB"));
	EXPECT_AML(((const uint8_t[]){ 'R', 'T', 'C', '_' }),
		   aml_namestring(a, "RTC"));
	EXPECT_AML(((const uint8_t[]){ '\\', '_', 'S', 'B', '_' }),
		   aml_namestring(a, "\\_SB"));
	EXPECT_AML(((const uint8_t[]){ '\\', 0x2e, '_', 'S', 'B', '_', 'P',
				       'C', 'I', '0' }),
		   aml_namestring(a, "\\_SB.PCI0"));
	EXPECT_AML(((const uint8_t[]){ 0x2f, 3, 'A', '_', '_', '_', 'B', '1',
				       '_', '_', '_', 'C', '2', '3' }),
		   aml_namestring(a, "A.B1._C23"));
	EXPECT_AML(((const uint8_t[]){ '^', '^', 'F', 'O', 'O', '_' }),
		   aml_namestring(a, "^^FOO"));
	EXPECT_AML(((const uint8_t[]){ '\\', 0x00 }), aml_namestring(a, "\\"));
	/* Name (_UID, One) */
	EXPECT_AML(((const uint8_t[]){ 0x08, '_', 'U', 'I', 'D', 0x01 }),
		   aml_name(a, "_UID"), aml_integer(a, 1));

	static const char *const bad[] = {
		"", "1ABC", "ABCDE", "abc", "A..B", "A.", ".A", "\\\\A",
		"^\\A", "A-B",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t buf[32];
		struct aml a;
		size_t len;
		aml_init(&a, buf, sizeof(buf));
		assert_int_equal(aml_namestring(&a, bad[i]), -EINVAL);
		/* Sticky: later calls fail too. */
		assert_int_equal(aml_integer(&a, 5), -EINVAL);
		assert_int_equal(aml_finish(&a, &len), -EINVAL);
	}
}

static void test_objects(void **state)
{
	(void)state;
	struct aml_mark m, m2;

	/* Device (COM1) { Name (_UID, One) } */
	EXPECT_AML(((const uint8_t[]){ 0x5b, 0x82, 0x0b, 'C', 'O', 'M', '1',
				       0x08, '_', 'U', 'I', 'D', 0x01 }),
		   aml_device_begin(a, "COM1", &m), aml_name(a, "_UID"),
		   aml_integer(a, 1), aml_end(a, &m));
	/* Method (_STA, 0, NotSerialized) { Return (0x0F) } */
	EXPECT_AML(((const uint8_t[]){ 0x14, 0x09, '_', 'S', 'T', 'A', 0x00,
				       0xa4, 0x0a, 0x0f }),
		   aml_method_begin(a, "_STA", 0, false, &m), aml_return(a),
		   aml_integer(a, 0x0f), aml_end(a, &m));
	/* Method (FOO, 2, Serialized) {} */
	EXPECT_AML(((const uint8_t[]){ 0x14, 0x06, 'F', 'O', 'O', '_', 0x0a }),
		   aml_method_begin(a, "FOO", 2, true, &m), aml_end(a, &m));
	/* Package () { One, Package () { Zero } } */
	EXPECT_AML(((const uint8_t[]){ 0x12, 0x07, 0x02, 0x01, 0x12, 0x03,
				       0x01, 0x00 }),
		   aml_package_begin(a, 2, &m), aml_integer(a, 1),
		   aml_package_begin(a, 1, &m2), aml_integer(a, 0),
		   aml_end(a, &m2), aml_end(a, &m));
	/* Buffer () { 1, 2, 3 } and an empty one */
	EXPECT_AML(((const uint8_t[]){ 0x11, 0x06, 0x0a, 0x03, 1, 2, 3 }),
		   aml_buffer(a, (const uint8_t[]){ 1, 2, 3 }, 3));
	EXPECT_AML(((const uint8_t[]){ 0x11, 0x02, 0x00 }),
		   aml_buffer(a, NULL, 0));
	/* Scope (\) {} */
	EXPECT_AML(((const uint8_t[]){ 0x10, 0x03, '\\', 0x00 }),
		   aml_scope_begin(a, "\\", &m), aml_end(a, &m));

	/* A Buffer of 200 bytes: ByteConst size, 2-byte PkgLength (204). */
	uint8_t big[200];
	memset(big, 0x5a, sizeof(big));
	uint8_t buf[256];
	struct aml a;
	size_t len;
	aml_init(&a, buf, sizeof(buf));
	aml_buffer(&a, big, sizeof(big));
	assert_int_equal(aml_finish(&a, &len), 0);
	assert_int_equal(len, 1 + 2 + 2 + 200);
	assert_memory_equal(buf, ((const uint8_t[]){ 0x11, 0x4c, 0x0c, 0x0a, 200 }),
			    5);
	assert_memory_equal(buf + 5, big, sizeof(big));

	/* Bad arguments. */
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_method_begin(&a, "FOO", 8, false, &m), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_package_begin(&a, 256, &m), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_string(&a, "\x80"), -EINVAL);
	/* An object left open. */
	aml_init(&a, buf, sizeof(buf));
	aml_device_begin(&a, "DEV0", &m);
	assert_int_equal(aml_finish(&a, &len), -EINVAL);
	/* Closing with nothing open. */
	aml_init(&a, buf, sizeof(buf));
	m.pos = 0;
	m.reserved = 0;
	m.is_buffer = false;
	assert_int_equal(aml_end(&a, &m), -EINVAL);
}

static void test_overflow(void **state)
{
	(void)state;
	uint8_t buf[16];
	struct aml a;
	size_t len;

	aml_init(&a, buf, 4);
	assert_int_equal(aml_string(&a, "abc"), -ENOSPC); /* needs 5 */
	assert_int_equal(aml_byte(&a, 0), -ENOSPC); /* sticky */
	assert_int_equal(aml_finish(&a, &len), -ENOSPC);

	/* Every prefix of a small device: -ENOSPC until it fits, never more. */
	static const uint8_t want[] = { 0x5b, 0x82, 0x0b, 'C', 'O', 'M', '1',
					0x08, '_', 'U', 'I', 'D', 0x01 };
	for (size_t cap = 0; cap <= sizeof(buf); cap++) {
		struct aml_mark m;
		memset(buf, 0xee, sizeof(buf));
		aml_init(&a, buf, cap);
		aml_device_begin(&a, "COM1", &m);
		aml_name(&a, "_UID");
		aml_integer(&a, 1);
		aml_end(&a, &m);
		int ret = aml_finish(&a, &len);
		/* 3 bytes of PkgLength room are held until the end. */
		if (cap < sizeof(want) + 3) {
			assert_int_equal(ret, -ENOSPC);
		} else {
			assert_int_equal(ret, 0);
			assert_int_equal(len, sizeof(want));
			assert_memory_equal(buf, want, sizeof(want));
		}
		for (size_t i = cap; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0xee);
	}

	aml_init(&a, NULL, 100);
	assert_int_equal(aml_byte(&a, 0), -ENOSPC);
}

/* ---- Resource descriptors ---- */

static void test_resources(void **state)
{
	(void)state;
	struct aml_mark m;

	/* ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 1, 8) IRQNoFlags () {4} } */
	EXPECT_AML(((const uint8_t[]){ 0x11, 0x10, 0x0a, 0x0d,
				       0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
				       0x22, 0x10, 0x00,
				       0x79, 0x00 }),
		   aml_restemplate_begin(a, &m), aml_res_io_fixed(a, 0x3f8, 8),
		   aml_res_irq_noflags(a, 1u << 4), aml_restemplate_end(a, &m));
	/* An empty template is just the end tag. */
	EXPECT_AML(((const uint8_t[]){ 0x11, 0x05, 0x0a, 0x02, 0x79, 0x00 }),
		   aml_restemplate_begin(a, &m), aml_restemplate_end(a, &m));
	/* IRQ (Level, ActiveLow, Shared) {5, 11} */
	EXPECT_AML(((const uint8_t[]){ 0x23, 0x20, 0x08, 0x18 }),
		   aml_res_irq(a, (1u << 5) | (1u << 11),
			       AML_IRQ_ACTIVE_LOW | AML_IRQ_SHARED));
	/* WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
	 *                0, 0, 0x0F, 0, 0x10) */
	EXPECT_AML(((const uint8_t[]){ 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00,
				       0x00, 0x00, 0x00, 0x00, 0x0f, 0x00,
				       0x00, 0x00, 0x10, 0x00 }),
		   aml_res_word_bus_number(a, true, 0, 15));
	/* WordIO (ResourceProducer, ..., EntireRange, 0, 0xD00, 0xFFFF, 0, 0xF300) */
	EXPECT_AML(((const uint8_t[]){ 0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03,
				       0x00, 0x00, 0x00, 0x0d, 0xff, 0xff,
				       0x00, 0x00, 0x00, 0xf3 }),
		   aml_res_word_io(a, true, 0xd00, 0xffff));
	/* DWordMemory (ResourceConsumer, PosDecode, MinFixed, MaxFixed,
	 *              NonCacheable, ReadWrite, 0, 0xE0000000, 0xE0FFFFFF, 0,
	 *              0x1000000) */
	EXPECT_AML(((const uint8_t[]){ 0x87, 0x17, 0x00, 0x00, 0x0d, 0x01,
				       0, 0, 0, 0,
				       0x00, 0x00, 0x00, 0xe0,
				       0xff, 0xff, 0xff, 0xe0,
				       0, 0, 0, 0,
				       0x00, 0x00, 0x00, 0x01 }),
		   aml_res_dword_memory(a, false, AML_MEM_RW, 0xe0000000,
					0xe0ffffff));
	/* QWordMemory (ResourceProducer, ..., Prefetchable, ReadWrite, 0,
	 *              0x10_0000_0000, 0x1F_FFFF_FFFF, 0, 0x10_0000_0000) */
	EXPECT_AML(((const uint8_t[]){ 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x07,
				       0, 0, 0, 0, 0, 0, 0, 0,
				       0, 0, 0, 0, 0x10, 0, 0, 0,
				       0xff, 0xff, 0xff, 0xff, 0x1f, 0, 0, 0,
				       0, 0, 0, 0, 0, 0, 0, 0,
				       0, 0, 0, 0, 0x10, 0, 0, 0 }),
		   aml_res_qword_memory(a, true,
					AML_MEM_RW | AML_MEM_PREFETCHABLE,
					0x1000000000ULL, 0x1fffffffffULL));

	uint8_t buf[64];
	struct aml a;
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_res_word_bus_number(&a, true, 0, 0xffff), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_res_word_io(&a, true, 10, 9), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_res_qword_memory(&a, true, 0, 0, UINT64_MAX),
			 -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_res_irq(&a, 1, 0x40), -EINVAL);
	struct aml_addr_space d = { .type = AML_ADDR_MEMORY, .max = 0x10000 };
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_res_word_addr(&a, &d), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_res_dword_addr(&a, &d), 0);
	d.type = 3;
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_res_qword_addr(&a, &d), -EINVAL);
}

/* ---- Expressions, operation regions, fields (the GED's _EVT) ---- */

static void test_expressions(void **state)
{
	(void)state;
	struct aml_mark m;

	/* Store (GEVT, Local0), Store (Local0, GEVT) */
	EXPECT_AML(((const uint8_t[]){ 0x70, 'G', 'E', 'V', 'T', 0x60,
				       0x70, 0x60, 'G', 'E', 'V', 'T' }),
		   aml_store(a), aml_name_ref(a, "GEVT"), aml_local(a, 0),
		   aml_store(a), aml_local(a, 0), aml_name_ref(a, "GEVT"));
	/* Local7, Arg0, Arg6 */
	EXPECT_AML(((const uint8_t[]){ 0x67, 0x68, 0x6e }), aml_local(a, 7),
		   aml_arg(a, 0), aml_arg(a, 6));
	/* LEqual (And (Local0, One, ), One) */
	EXPECT_AML(((const uint8_t[]){ 0x93, 0x7b, 0x60, 0x01, 0x00, 0x01 }),
		   aml_lequal(a), aml_and(a), aml_local(a, 0), aml_integer(a, 1),
		   aml_null_name(a), aml_integer(a, 1));
	/* Notify (\_SB.PWRB, 0x80) */
	EXPECT_AML(((const uint8_t[]){ 0x86, 0x5c, 0x2e, '_', 'S', 'B', '_',
				       'P', 'W', 'R', 'B', 0x0a, 0x80 }),
		   aml_notify(a), aml_name_ref(a, "\\_SB.PWRB"), aml_integer(a, 0x80));
	/* If (Arg0) { Store (One, Local1) }: PkgLength 5 (itself, 4 bytes) */
	EXPECT_AML(((const uint8_t[]){ 0xa0, 0x05, 0x68, 0x70, 0x01, 0x61 }),
		   aml_if_begin(a, &m), aml_arg(a, 0), aml_store(a),
		   aml_integer(a, 1), aml_local(a, 1), aml_end(a, &m));

	uint8_t buf[32];
	struct aml a;
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_local(&a, 8), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_arg(&a, 7), -EINVAL);
}

static void test_region_field(void **state)
{
	(void)state;
	struct aml_mark m;

	/* OperationRegion (GREG, SystemMemory, 0xFEB00000, 0x04) */
	EXPECT_AML(((const uint8_t[]){ 0x5b, 0x80, 'G', 'R', 'E', 'G', 0x00,
				       0x0c, 0x00, 0x00, 0xb0, 0xfe, 0x0a, 0x04 }),
		   aml_operation_region(a, "GREG", AML_SPACE_SYSTEM_MEMORY,
					0xfeb00000, 4));
	/* Field (GREG, DWordAcc, NoLock, WriteAsZeros) { GEVT, 32 }:
	 * PkgLength 11 = itself, NameSeg, flags 0x43, NamedField (4 + 1) */
	EXPECT_AML(((const uint8_t[]){ 0x5b, 0x81, 0x0b, 'G', 'R', 'E', 'G', 0x43,
				       'G', 'E', 'V', 'T', 0x20 }),
		   aml_field_begin(a, "GREG",
				   AML_FIELD_DWORD_ACC | AML_FIELD_WRITE_AS_ZEROS, &m),
		   aml_field_unit(a, "GEVT", 32), aml_end(a, &m));
	/* Field (REGN, ByteAcc, Lock, Preserve) { AB, 8, WIDE, 100 }: a short
	 * name is padded, a width over 63 takes two bytes (0x44 0x06 = 100). */
	EXPECT_AML(((const uint8_t[]){ 0x5b, 0x81, 0x11, 'R', 'E', 'G', 'N', 0x11,
				       'A', 'B', '_', '_', 0x08,
				       'W', 'I', 'D', 'E', 0x44, 0x06 }),
		   aml_field_begin(a, "REGN", AML_FIELD_BYTE_ACC | AML_FIELD_LOCK, &m),
		   aml_field_unit(a, "AB", 8), aml_field_unit(a, "WIDE", 100),
		   aml_end(a, &m));

	uint8_t buf[32];
	struct aml a;
	static const char *const bad_names[] = { "", "TOOLONG", "A.B", "\\ABC",
						  "1ABC", "ab" };
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		aml_init(&a, buf, sizeof(buf));
		assert_int_equal(aml_field_unit(&a, bad_names[i], 8), -EINVAL);
	}
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_field_unit(&a, "ZERO", 0), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_field_unit(&a, "HUGE", AML_PKGLEN_MAX + 1), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_field_begin(&a, "GREG", 0x80, &m), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_operation_region(&a, "bad", 0, 0, 1), -EINVAL);
}

static void test_ged_resources(void **state)
{
	(void)state;
	/* Memory32Fixed (ReadWrite, 0xFEB00000, 0x10) */
	EXPECT_AML(((const uint8_t[]){ 0x86, 0x09, 0x00, 0x01,
				       0x00, 0x00, 0xb0, 0xfe,
				       0x10, 0x00, 0x00, 0x00 }),
		   aml_res_memory32_fixed(a, true, 0xfeb00000, 0x10));
	/* Memory32Fixed (ReadOnly, 0x1000, 0x1000) */
	EXPECT_AML(((const uint8_t[]){ 0x86, 0x09, 0x00, 0x00,
				       0x00, 0x10, 0x00, 0x00,
				       0x00, 0x10, 0x00, 0x00 }),
		   aml_res_memory32_fixed(a, false, 0x1000, 0x1000));
	/* Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { 23 } */
	EXPECT_AML(((const uint8_t[]){ 0x89, 0x06, 0x00, 0x01, 0x01,
				       0x17, 0x00, 0x00, 0x00 }),
		   aml_res_interrupt(a, AML_EXT_IRQ_CONSUMER, 23));
	/* Interrupt (ResourceProducer, Edge, ActiveLow, Shared, , , ) { 0x12345 } */
	EXPECT_AML(((const uint8_t[]){ 0x89, 0x06, 0x00, 0x0e, 0x01,
				       0x45, 0x23, 0x01, 0x00 }),
		   aml_res_interrupt(a, AML_EXT_IRQ_EDGE | AML_EXT_IRQ_ACTIVE_LOW |
					 AML_EXT_IRQ_SHARED, 0x12345));
	uint8_t buf[32];
	struct aml a;
	aml_init(&a, buf, sizeof(buf));
	assert_int_equal(aml_res_interrupt(&a, 0x20, 5), -EINVAL);
}

/* ---- DSDT devices ---- */

static void default_config(struct dsdt_config *c)
{
	memset(c, 0, sizeof(*c));
	c->pci = true;
	c->ecam_base = ECAM_START;
	c->ecam_end_bus = (unsigned)(ECAM_SIZE >> 20) - 1;
	c->mmio32_base = MMIO32_START;
	c->mmio32_size = MMIO32_SIZE;
	c->mmio64_base = 0x8000000000ULL;
	c->mmio64_size = PCI_MMIO64_SIZE;
	for (unsigned s = 1; s <= PCI_INTX_GSI_COUNT; s++)
		c->intx_gsi[s] = PCI_INTX_GSI_FIRST + s - 1;
	c->com1 = c->ps2_keyboard = c->ps2_mouse = c->rtc = true;
	c->ged = true;
	c->ged_base = (uint32_t)GED_MMIO_ADDR;
	c->ged_size = (uint32_t)GED_MMIO_SIZE;
	c->ged_gsi = GED_GSI;
}

/* Where needle (n bytes) occurs in hay, or NULL. */
static const uint8_t *find(const uint8_t *hay, size_t len, const void *needle,
			   size_t n)
{
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(hay + i, needle, n) == 0)
			return hay + i;
	return NULL;
}

static void test_dsdt_bytes(void **state)
{
	(void)state;
	struct dsdt_config c;
	default_config(&c);
	uint8_t buf[DSDT_AML_MAX];
	size_t len;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &c), 0);
	assert_true(len > 100 && len < sizeof(buf));
	/* Scope (\_SB) { ... } around everything but, last,
	 * Name (\_S5, Package (1) { 5 }) for ACPI soft-off. */
	static const uint8_t s5[] = { AML_NAME_OP, '\\', '_', 'S', '5', '_',
				      AML_PACKAGE_OP, 4, 1, AML_BYTE_PREFIX, 5 };
	assert_memory_equal(buf + len - sizeof(s5), s5, sizeof(s5));
	assert_int_equal(buf[0], AML_SCOPE_OP);
	uint8_t pl[4];
	int n = aml_pkglen_encode((uint32_t)(len - 1 - sizeof(s5)), pl);
	assert_true(n > 0);
	assert_memory_equal(buf + 1, pl, (size_t)n);
	assert_memory_equal(buf + 1 + n, "\\_SB_", 5);

	/* Name (_HID, EisaId ("PNP0A08")) */
	static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c,
				       0x41, 0xd0, 0x0a, 0x08 };
	assert_non_null(find(buf, len, hid, sizeof(hid)));
	/* _PRT entry of slot 3, INTC#: { 0x3FFFF, 2, Zero, 18 } */
	static const uint8_t prt3c[] = { 0x12, 0x0c, 0x04, 0x0c, 0xff, 0xff,
					 0x03, 0x00, 0x0a, 0x02, 0x00, 0x0a,
					 PCI_INTX_GSI_FIRST + 2 };
	assert_non_null(find(buf, len, prt3c, sizeof(prt3c)));
	/* Slot 0 has no GSI: no entry (NumElements 4, address 0xFFFF). */
	static const uint8_t prt0[] = { 0x04, 0x0b, 0xff, 0xff };
	assert_null(find(buf, len, prt0, sizeof(prt0)));
	/* ECAM as a consumer DWordMemory in RES0. */
	static const uint8_t ecam[] = { 0x87, 0x17, 0x00, 0x00, 0x0d, 0x01 };
	assert_non_null(find(buf, len, ecam, sizeof(ecam)));
	/* 64-bit window as a QWordMemory. */
	static const uint8_t qw[] = { 0x8a, 0x2b, 0x00, 0x00, 0x0c };
	assert_non_null(find(buf, len, qw, sizeof(qw)));

	/* The power button and the GED that notifies it. */
	static const uint8_t ged_hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C',
					   'P', 'I', '0', '0', '1', '3', 0x00 };
	assert_non_null(find(buf, len, ged_hid, sizeof(ged_hid)));
	static const uint8_t pwrb_hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c,
					    0x41, 0xd0, 0x0c, 0x0c };
	assert_non_null(find(buf, len, pwrb_hid, sizeof(pwrb_hid)));
	/* _CRS: Buffer, PkgLength, BufferSize 11, the interrupt only (Linux's
	 * acpi-ged fails its probe on any other descriptor), EndTag. */
	static const uint8_t ged_crs[] = { 0x08, '_', 'C', 'R', 'S', 0x11, 0x0e, 0x0a, 0x0b,
					   0x89, 0x06, 0x00, 0x01, 0x01, GED_GSI, 0, 0, 0,
					   0x79, 0x00 };
	assert_non_null(find(buf, len, ged_crs, sizeof(ged_crs)));
	/* The registers through OperationRegion (GREG, SystemMemory, base, 4). */
	static const uint8_t greg[] = { 0x5b, 0x80, 'G', 'R', 'E', 'G', 0x00,
					0x0c, 0x00, 0x00, 0xb0, 0xfe, 0x0a, 0x04 };
	assert_non_null(find(buf, len, greg, sizeof(greg)));
	/* Method (_EVT, 1, Serialized): NameSeg then flags 0x09 */
	static const uint8_t evt[] = { '_', 'E', 'V', 'T', 0x09, 0x70, 'G', 'E', 'V', 'T',
				       0x60, 0x70, 0x60, 'G', 'E', 'V', 'T', 0xa0 };
	assert_non_null(find(buf, len, evt, sizeof(evt)));
	static const uint8_t notify[] = { 0x86, 0x5c, 0x2e, '_', 'S', 'B', '_',
					  'P', 'W', 'R', 'B', 0x0a, 0x80 };
	assert_non_null(find(buf, len, notify, sizeof(notify)));

	/* Without the optional parts. */
	size_t full = len;
	memset(c.intx_gsi, 0, sizeof(c.intx_gsi));
	c.mmio64_size = 0;
	c.com1 = c.ps2_keyboard = c.ps2_mouse = c.rtc = false;
	c.ged = false;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &c), 0);
	assert_true(len < full);
	assert_null(find(buf, len, qw, sizeof(qw)));
	assert_null(find(buf, len, "COM1", 4));
	assert_null(find(buf, len, "PS2K", 4));
	assert_null(find(buf, len, "RTC_", 4));
	assert_null(find(buf, len, "GED_", 4));
	assert_null(find(buf, len, "PWRB", 4));
	assert_non_null(find(buf, len, "_PRT", 4)); /* empty package */

	/* The largest config fits DSDT_AML_MAX. */
	default_config(&c);
	for (unsigned s = 0; s < DSDT_PCI_SLOTS; s++)
		c.intx_gsi[s] = 0x10000 + s; /* DWordConst GSIs */
	c.mmio64_base = 0xffffff0000000000ULL;
	c.mmio64_size = 0x10000000000ULL;
	c.ecam_end_bus = 255;
	c.pci_hotplug = true; /* the slots and PCNT too */
	c.hotplug_base = (uint32_t)PCI_HOTPLUG_MMIO_ADDR;
	assert_int_equal(dsdt_build_devices(buf, DSDT_AML_MAX, &len, &c), 0);
	print_message("largest DSDT term list: %zu bytes\n", len);
	assert_true(len <= DSDT_AML_MAX - 512);

	/* Too small a buffer, at every size. */
	default_config(&c);
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &full, &c), 0);
	for (size_t cap = 0; cap < full; cap += 7)
		assert_int_equal(dsdt_build_devices(buf, cap, &len, &c), -ENOSPC);

	/* Bad configs. */
	struct dsdt_config bad;
	bad = c;
	bad.ecam_end_bus = 256;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &bad), -EINVAL);
	bad = c;
	bad.ecam_base += 0x1000;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &bad), -EINVAL);
	bad = c;
	bad.mmio32_size = 0;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &bad), -EINVAL);
	bad = c;
	bad.mmio32_base = 0xf0000000;
	bad.mmio32_size = 0x20000000;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &bad), -EINVAL);
	bad = c;
	bad.ged_size = 2;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &bad), -EINVAL);
	bad = c;
	bad.ged_base = 0xfffffff8;
	bad.ged_size = 0x10;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &bad), -EINVAL);
	bad = c;
	bad.mmio64_base = UINT64_MAX - 0xfff;
	bad.mmio64_size = 0x2000;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &bad), -EINVAL);
	assert_int_equal(dsdt_build_devices(NULL, 10, &len, &c), -EINVAL);
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), NULL, &c), -EINVAL);
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, NULL), -EINVAL);
}

/* The AML of virtio-mmio window i as build_virtio_mmio() writes it, in
 * pieces: Device (VRnn) { Name (_HID, "LNRO0005"), Name (_UID, i),
 * Name (_CCA, One), Name (_CRS, ResourceTemplate () { Memory32Fixed
 * (ReadWrite, base, size) Interrupt (ResourceConsumer, Level, ActiveHigh,
 * Exclusive) { gsi } }) }. */
static void check_virtio_mmio_device(const uint8_t *buf, size_t len, unsigned i,
				     const struct dsdt_virtio_mmio *d)
{
	static const char hex[] = "0123456789ABCDEF";
	const char name[4] = { 'V', 'R', hex[i >> 4], hex[i & 15] };
	const uint8_t *dev = find(buf, len, name, 4);
	if (!dev)
		fail_msg("no Device VR%c%c", name[2], name[3]);
	/* DeviceOp, a two-byte PkgLength (the body is 64-4095 bytes), the
	 * name. */
	assert_true(dev - buf >= 4);
	assert_int_equal(dev[-4], 0x5b);
	assert_int_equal(dev[-3], 0x82);
	assert_int_equal(dev[-2] >> 6, 1);
	const uint8_t *end = dev - 2 + ((dev[-2] & 0x0f) | (uint32_t)dev[-1] << 4);
	assert_true(end <= buf + len);
	size_t room = (size_t)(end - dev);

	static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O',
				       '0', '0', '0', '5', 0x00 };
	assert_ptr_equal(find(dev, room, hid, sizeof(hid)), dev + 4);
	/* Zero and One are opcodes of their own, then ByteConst. */
	const uint8_t uid[] = { 0x08, '_', 'U', 'I', 'D', 0x0a, (uint8_t)i };
	const uint8_t uid01[] = { 0x08, '_', 'U', 'I', 'D', (uint8_t)i };
	if (i <= 1)
		assert_non_null(find(dev, room, uid01, sizeof(uid01)));
	else
		assert_non_null(find(dev, room, uid, sizeof(uid)));
	static const uint8_t cca[] = { 0x08, '_', 'C', 'C', 'A', 0x01 };
	assert_non_null(find(dev, room, cca, sizeof(cca)));
	/* Buffer, PkgLength 26, BufferSize 23: Memory32Fixed (12 bytes),
	 * Extended Interrupt (9), EndTag (2). */
	const uint8_t crs[] = {
		0x08, '_', 'C', 'R', 'S', 0x11, 0x1a, 0x0a, 0x17,
		0x86, 0x09, 0x00, 0x01,
		(uint8_t)d->base, (uint8_t)(d->base >> 8), (uint8_t)(d->base >> 16),
		(uint8_t)(d->base >> 24),
		(uint8_t)d->size, (uint8_t)(d->size >> 8), (uint8_t)(d->size >> 16),
		(uint8_t)(d->size >> 24),
		0x89, 0x06, 0x00, 0x01, 0x01,
		(uint8_t)d->gsi, (uint8_t)(d->gsi >> 8), (uint8_t)(d->gsi >> 16),
		(uint8_t)(d->gsi >> 24),
		0x79, 0x00,
	};
	const uint8_t *c = find(dev, room, crs, sizeof(crs));
	if (!c)
		fail_msg("VR%c%c: _CRS differs", name[2], name[3]);
	assert_ptr_equal(c + sizeof(crs), end); /* the last object */
}

static void test_dsdt_virtio_mmio(void **state)
{
	(void)state;
	struct dsdt_config c;
	default_config(&c);
	uint8_t buf[DSDT_AML_MAX];
	size_t len, plain;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &plain, &c), 0);
	assert_null(find(buf, plain, "LNRO0005", 8));

	c.nvirtio_mmio = 3;
	for (unsigned i = 0; i < c.nvirtio_mmio; i++)
		c.virtio_mmio[i] = (struct dsdt_virtio_mmio){
			.base = 0xfeb01000 + 0x1000 * i, .size = 0x1000, .gsi = 16 + i,
		};
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &c), 0);
	assert_true(len > plain);
	for (unsigned i = 0; i < c.nvirtio_mmio; i++)
		check_virtio_mmio_device(buf, len, i, &c.virtio_mmio[i]);
	assert_null(find(buf, len, "VR03", 4));
	/* The GED is still there, after them. */
	assert_non_null(find(buf, len, "ACPI0013", 8));

	/* Every window there may be, with DWordConst GSIs, on the largest
	 * config: it still fits. */
	for (unsigned s = 0; s < DSDT_PCI_SLOTS; s++)
		c.intx_gsi[s] = 0x10000 + s;
	c.mmio64_base = 0xffffff0000000000ULL;
	c.mmio64_size = 0x10000000000ULL;
	c.ecam_end_bus = 255;
	c.nvirtio_mmio = DSDT_VIRTIO_MMIO_MAX;
	for (unsigned i = 0; i < c.nvirtio_mmio; i++)
		c.virtio_mmio[i] = (struct dsdt_virtio_mmio){
			.base = 0xfeb01000 + 0x1000 * i, .size = 0x1000, .gsi = 0x100 + i,
		};
	assert_int_equal(dsdt_build_devices(buf, DSDT_AML_MAX, &len, &c), 0);
	print_message("largest DSDT term list with %u virtio-mmio devices: %zu bytes\n",
		      c.nvirtio_mmio, len);
	for (unsigned i = 0; i < c.nvirtio_mmio; i++)
		check_virtio_mmio_device(buf, len, i, &c.virtio_mmio[i]);

	/* Bad windows: none of them is built. */
	struct dsdt_config bad = c;
	bad.nvirtio_mmio = DSDT_VIRTIO_MMIO_MAX + 1;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &bad), -EINVAL);
	bad = c;
	bad.virtio_mmio[5].size = 0;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &bad), -EINVAL);
	bad = c;
	bad.virtio_mmio[0].base = 0xfffff800;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &bad), -EINVAL);
	assert_int_equal(len, 0);
	/* Up to the last byte below 4 GiB is fine. */
	bad = c;
	bad.virtio_mmio[0].base = 0xfffff000;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &bad), 0);
}

/*
 * No PCI bus (every virtio device on virtio-mmio): no host bridge, no
 * motherboard resource for an ECAM, nothing of the PCI fields read (even
 * garbage passes); the rest as with one.
 */
static void test_dsdt_no_pci(void **state)
{
	(void)state;
	struct dsdt_config c;
	default_config(&c);
	c.nvirtio_mmio = 1;
	c.virtio_mmio[0] = (struct dsdt_virtio_mmio){ .base = 0xfeb01000, .size = 0x1000,
						     .gsi = 16 };
	uint8_t buf[DSDT_AML_MAX], pci[DSDT_AML_MAX];
	size_t with, len;
	assert_int_equal(dsdt_build_devices(pci, sizeof(pci), &with, &c), 0);
	assert_non_null(find(pci, with, "PCI0", 4));

	c.pci = false;
	memset(c.intx_gsi, 0, sizeof(c.intx_gsi));
	c.ecam_base = 0x1234; /* misaligned: never looked at */
	c.ecam_end_bus = 999;
	c.mmio32_size = 0;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &c), 0);
	print_message("DSDT term list with a PCI bus: %zu bytes, without: %zu\n", with, len);
	assert_true(len < with);
	static const uint8_t pnp0a08[] = { 0x0c, 0x41, 0xd0, 0x0a, 0x08 };
	static const uint8_t pnp0a03[] = { 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
	static const uint8_t pnp0c02[] = { 0x0c, 0x41, 0xd0, 0x0c, 0x02 };
	assert_null(find(buf, len, pnp0a08, sizeof(pnp0a08)));
	assert_null(find(buf, len, pnp0a03, sizeof(pnp0a03)));
	assert_null(find(buf, len, pnp0c02, sizeof(pnp0c02)));
	assert_null(find(buf, len, "PCI0", 4));
	assert_null(find(buf, len, "RES0", 4));
	assert_null(find(buf, len, "_PRT", 4));
	assert_null(find(buf, len, "_BBN", 4));
	/* The legacy devices, the virtio-mmio window, the GED and \_S5. */
	assert_non_null(find(buf, len, "COM1", 4));
	assert_non_null(find(buf, len, "PS2K", 4));
	assert_non_null(find(buf, len, "RTC_", 4));
	assert_non_null(find(buf, len, "ACPI0013", 8));
	assert_non_null(find(buf, len, "_S5_", 4));
	check_virtio_mmio_device(buf, len, 0, &c.virtio_mmio[0]);
	/* Exactly what the PCI bus added is gone: the scope's length aside,
	 * the rest is byte for byte the same. */
	assert_int_equal(buf[0], AML_SCOPE_OP);
	const uint8_t *com1 = find(buf, len, "COM1", 4);
	const uint8_t *com1_with = find(pci, with, "COM1", 4);
	size_t tail = len - (size_t)(com1 - buf);
	assert_int_equal(tail, with - (size_t)(com1_with - pci));
	assert_memory_equal(com1, com1_with, tail);

	/* Too small a buffer, at every size. */
	size_t n;
	for (size_t cap = 0; cap < len; cap += 5)
		assert_int_equal(dsdt_build_devices(buf, cap, &n, &c), -ENOSPC);
}

/* ---- A whole DSDT through acpi_build() (and iasl) ---- */

/* RSDP -> XSDT -> FADT -> X_DSDT, checking checksums on the way. */
static const uint8_t *find_dsdt(const uint8_t *mem, uint64_t rsdp)
{
	const uint8_t *r = mem + rsdp;
	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(sum8(r, 20), 0);
	assert_int_equal(sum8(r, 36), 0);
	uint64_t xsdt = rd64(r + offsetof(struct acpi_rsdp, xsdt_address));
	assert_true(xsdt >= ACPI_START && xsdt < ACPI_TABLES_END);
	const uint8_t *x = mem + xsdt;
	assert_memory_equal(x, "XSDT", 4);
	uint32_t xlen = rd32(x + 4);
	assert_int_equal(sum8(x, xlen), 0);

	const uint8_t *dsdt = NULL;
	for (uint32_t off = sizeof(struct acpi_table_header); off + 8 <= xlen;
	     off += 8) {
		uint64_t t = rd64(x + off);
		assert_true(t >= ACPI_START && t < ACPI_TABLES_END);
		if (memcmp(mem + t, "FACP", 4))
			continue;
		assert_null(dsdt);
		uint64_t d = rd64(mem + t + offsetof(struct acpi_fadt, x_dsdt));
		assert_true(d >= ACPI_START && d < ACPI_TABLES_END);
		dsdt = mem + d;
	}
	assert_non_null(dsdt);
	assert_memory_equal(dsdt, "DSDT", 4);
	assert_int_equal(dsdt[8], 2); /* revision 2: 64-bit integers */
	uint32_t len = rd32(dsdt + 4);
	assert_true(dsdt + len <= mem + ACPI_TABLES_END);
	assert_int_equal(sum8(dsdt, len), 0);
	return dsdt;
}

/* The full path of an executable named name in $PATH, into out. */
static bool find_program(const char *name, char *out, size_t cap)
{
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		const char *end = strchr(path, ':');
		size_t n = end ? (size_t)(end - path) : strlen(path);
		if (n > 0 && (size_t)snprintf(out, cap, "%.*s/%s", (int)n, path,
					      name) < cap &&
		    access(out, X_OK) == 0)
			return true;
		path += n + (end ? 1 : 0);
	}
	return false;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	assert_non_null(buf);
	for (;;) {
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (n < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap + 1);
		assert_non_null(buf);
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* No line of text holds "Error" or "Warning" (iasl's message words). */
static void assert_no_diagnostics(const char *what, const char *text)
{
	const char *line = text;
	while (*line) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		char tmp[512];
		snprintf(tmp, sizeof(tmp), "%.*s", (int)(n < 511 ? n : 511), line);
		if (strstr(tmp, "Error") || strstr(tmp, "Warning"))
			fail_msg("%s: %s", what, tmp);
		line += n + (end ? 1 : 0);
	}
}

static void iasl_check(const uint8_t *dsdt, uint32_t len, const char *const *more)
{
	char iasl[4096];
	if (!find_program("iasl", iasl, sizeof(iasl))) {
		print_message("note: iasl not found, DSDT disassembly check skipped\n");
		return;
	}
	char dir[] = "/tmp/cvmm-dsdt-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char dat[64], dsl[64], log[64], cmd[4096 + 256];
	snprintf(dat, sizeof(dat), "%s/dsdt.dat", dir);
	snprintf(dsl, sizeof(dsl), "%s/dsdt.dsl", dir);
	snprintf(log, sizeof(log), "%s/iasl.log", dir);
	FILE *f = fopen(dat, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(dsdt, 1, len, f), len);
	assert_int_equal(fclose(f), 0);

	/* -p: output prefix, so the .dsl goes into our directory. */
	snprintf(cmd, sizeof(cmd), "'%s' -p '%s/dsdt' -d '%s' >'%s' 2>&1",
		 iasl, dir, dat, log);
	int rc = system(cmd);
	size_t n;
	char *out = read_file(log, &n);
	assert_non_null(out);
	if (rc != 0)
		fail_msg("iasl -d failed (%d):\n%s", rc, out);
	assert_no_diagnostics("iasl -d", out);
	free(out);

	char *text = read_file(dsl, &n);
	assert_non_null(text);
	static const char *const want[] = {
		"PNP0A08", "PNP0A03", "_PRT", "_CRS", "PNP0C02", "PNP0501",
		"PNP0303", "PNP0F13", "PNP0B00", "WordBusNumber", "WordIO",
		"DWordMemory", "QWordMemory", "IRQNoFlags", "ResourceTemplate",
		"0xE0000000", /* ECAM, in RES0 */
		"0xC0000000", /* 32-bit window */
		"0x0000008000000000", /* 64-bit window */
		/* The power button and its Generic Event Device. */
		"\"ACPI0013\"", "PNP0C0C", "0xFEB00000", "Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive",
		"OperationRegion (GREG, SystemMemory", "GEVT,   32", "Method (_EVT, 1, Serialized)",
		"Notify (\\_SB.PWRB, 0x80)",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(text, want[i]))
			fail_msg("disassembly lacks \"%s\":\n%s", want[i], text);
	for (size_t i = 0; more && more[i]; i++)
		if (!strstr(text, more[i]))
			fail_msg("disassembly lacks \"%s\":\n%s", more[i], text);
	assert_no_diagnostics("disassembly", text);
	free(text);

	/*
	 * Round trip: iasl compiles the disassembly back, with its
	 * optimizations off, into the very same AML (header aside: iasl puts
	 * its own compiler id there).
	 */
	char aml[64];
	snprintf(aml, sizeof(aml), "%s/rt.aml", dir);
	snprintf(cmd, sizeof(cmd), "'%s' -oa -p '%s/rt' '%s' >'%s' 2>&1", iasl,
		 dir, dsl, log);
	rc = system(cmd);
	out = read_file(log, &n);
	assert_non_null(out);
	if (rc != 0 || !strstr(out, "0 Errors, 0 Warnings, 0 Remarks"))
		fail_msg("iasl could not compile the disassembly (%d):\n%s", rc,
			 out);
	free(out);
	char *rt = read_file(aml, &n);
	assert_non_null(rt);
	assert_int_equal(n, len);
	size_t hdr = sizeof(struct acpi_table_header);
	for (size_t i = hdr; i < len; i++)
		if ((uint8_t)rt[i] != dsdt[i])
			fail_msg("iasl's AML differs at byte 0x%zx: 0x%02x, ours 0x%02x",
				 i, (uint8_t)rt[i], dsdt[i]);
	free(rt);

	unlink(aml);
	unlink(dat);
	unlink(dsl);
	unlink(log);
	rmdir(dir);
}

/*
 * The INTx routing the VMM gives a hotplug machine (vm.c): slots 1-7 a GSI
 * each, slots 8-31 sharing those seven in turn.
 */
static void route_all_slots(struct dsdt_config *c)
{
	for (unsigned s = 1; s < DSDT_PCI_SLOTS; s++)
		c->intx_gsi[s] = PCI_INTX_GSI_FIRST + (s - 1) % PCI_INTX_GSI_COUNT;
}

static void dsdt_acpi_build(bool hotplug, const char *const *more)
{
	uint8_t *mem = malloc(MEM_SIZE);
	assert_non_null(mem);
	memset(mem, 0xa5, MEM_SIZE);
	struct guest_mem gm;
	memset(&gm, 0, sizeof(gm));
	assert_int_equal(guest_mem_add(&gm, 0, MEM_SIZE, mem), 0);

	struct dsdt_config c;
	default_config(&c);
	c.pci_hotplug = hotplug;
	c.hotplug_base = (uint32_t)PCI_HOTPLUG_MMIO_ADDR;
	if (hotplug) {
		route_all_slots(&c);
		c.no_eject = 1u << 3;
	}
	uint8_t aml[DSDT_AML_MAX];
	size_t aml_len;
	assert_int_equal(dsdt_build_devices(aml, sizeof(aml), &aml_len, &c), 0);

	struct acpi_config ac = {
		.ncpus = 2,
		.has_ecam = true,
		.ecam_base = c.ecam_base,
		.ecam_end_bus = c.ecam_end_bus,
		.dsdt_aml = aml,
		.dsdt_aml_len = aml_len,
	};
	uint64_t rsdp;
	assert_int_equal(acpi_build(&gm, &ac, &rsdp), 0);
	const uint8_t *dsdt = find_dsdt(mem, rsdp);
	uint32_t len = rd32(dsdt + 4);
	/* Our term list is the tail of the table. */
	assert_true(len >= sizeof(struct acpi_table_header) + aml_len);
	assert_memory_equal(dsdt + len - aml_len, aml, aml_len);

	iasl_check(dsdt, len, more);
	free(mem);
}

static void test_dsdt_acpi_build(void **state)
{
	(void)state;
	dsdt_acpi_build(false, NULL);
}

/* The hotplug slots and methods as iasl reads them (and compiles back). */
static void test_dsdt_acpi_build_hotplug(void **state)
{
	(void)state;
	static const char *const more[] = {
		"OperationRegion (PCST, SystemMemory, 0xFEB00800, 0x10)",
		"PCIU,   32", "PCID,   32", "B0EJ,   32", "PSEG,   32",
		"Device (S01)", "Device (S1F)", "Name (_SUN, 0x05)", "Name (_ADR, 0x00050000)",
		"Method (_EJ0, 1, NotSerialized)", "\\_SB.PCI0.B0EJ = 0x20",
		"\\_SB.PCI0.B0EJ = 0x80000000",
		"Method (PCNT, 0, Serialized)", "Local0 = PCIU", "Local1 = PCID",
		"Notify (S05, One)", "Notify (S05, 0x03)", "Notify (S1F, 0x03)",
		"\\_SB.PCI0.PCNT ()",
		/* _PRT entries of slots empty at boot, slot 31's included */
		"0x0008FFFF", "0x001FFFFF",
		NULL,
	};
	dsdt_acpi_build(true, more);
}

/* Bytes of \_SB.PCI0.<seg>: RootChar, MultiNamePrefix, 3 segments. */
static size_t pci0_path(uint8_t *out, const char *seg)
{
	out[0] = '\\';
	out[1] = 0x2f;
	out[2] = 3;
	memcpy(out + 3, "_SB_PCI0", 8);
	memcpy(out + 11, seg, 4);
	return 15;
}

/*
 * ACPI PCI hotplug (dsdt.h): the controller's fields in PCI0, a slot device
 * with _ADR, _SUN and an _EJ0 that writes its bit to B0EJ for each of
 * slots 1-31 (none for the host bridge), PCNT notifying each slot from
 * PCIU (1) and PCID (3), and the GED calling PCNT on its event bit 1.
 */
static void test_dsdt_hotplug(void **state)
{
	(void)state;
	struct dsdt_config c;
	default_config(&c);
	uint8_t plain[DSDT_AML_MAX], buf[DSDT_AML_MAX];
	size_t plain_len, len;
	assert_int_equal(dsdt_build_devices(plain, sizeof(plain), &plain_len, &c), 0);
	assert_null(find(plain, plain_len, "PCNT", 4));
	assert_null(find(plain, plain_len, "B0EJ", 4));
	assert_null(find(plain, plain_len, "S01_", 4));

	c.pci_hotplug = true;
	c.hotplug_base = (uint32_t)PCI_HOTPLUG_MMIO_ADDR;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &c), 0);
	print_message("DSDT term list without hotplug: %zu bytes, with: %zu (max %d)\n",
		      plain_len, len, DSDT_AML_MAX);
	assert_true(len > plain_len && len < sizeof(buf));

	/* OperationRegion (PCST, SystemMemory, 0xfeb00800, 16) */
	static const uint8_t region[] = { 0x5b, 0x80, 'P', 'C', 'S', 'T', 0x00, 0x0c,
					  0x00, 0x08, 0xb0, 0xfe, 0x0a, 0x10 };
	assert_non_null(find(buf, len, region, sizeof(region)));
	/* Field units in register order, 32 bits each. */
	static const uint8_t units[] = { 'P', 'C', 'I', 'U', 0x20, 'P', 'C', 'I', 'D', 0x20,
					 'B', '0', 'E', 'J', 0x20, 'P', 'S', 'E', 'G', 0x20 };
	assert_non_null(find(buf, len, units, sizeof(units)));

	assert_null(find(buf, len, "S00_", 4));
	for (unsigned s = 1; s < 32; s++) {
		char name[5];
		snprintf(name, sizeof(name), "S%02X_", s);
		const uint8_t *dev = find(buf, len, name, 4);
		assert_non_null(dev);
		/* Device (Snn) { Name (_ADR, s << 16) Name (_SUN, s) ... } */
		assert_int_equal(dev[-3] == 0x5b || dev[-4] == 0x5b, 1);
		uint8_t adr[] = { 0x08, '_', 'A', 'D', 'R', 0x0c, 0, 0, (uint8_t)s, 0 };
		assert_ptr_equal(find(dev, 32, adr, sizeof(adr)), dev + 4);
		/* _SUN 1 is One (0x01), the others ByteConsts. */
		uint8_t sun[] = { 0x08, '_', 'S', 'U', 'N', 0x0a, (uint8_t)s };
		size_t sun_len = sizeof(sun);
		if (s == 1) {
			sun[5] = 0x01;
			sun_len--;
		}
		assert_ptr_equal(find(dev, 32, sun, sun_len), dev + 4 + sizeof(adr));
		/* Method (_EJ0, 1) { Store (Zero, PSEG) Store (1 << s, B0EJ) } */
		uint8_t ej0[64];
		size_t n = 0;
		memcpy(ej0, "_EJ0", 4);
		n = 4;
		ej0[n++] = 0x01; /* one argument, not serialized */
		ej0[n++] = 0x70;
		ej0[n++] = 0x00;
		n += pci0_path(ej0 + n, "PSEG");
		ej0[n++] = 0x70;
		uint32_t bit = 1u << s;
		if (bit <= 0xff) {
			ej0[n++] = 0x0a;
			ej0[n++] = (uint8_t)bit;
		} else if (bit <= 0xffff) {
			ej0[n++] = 0x0b;
			ej0[n++] = (uint8_t)bit;
			ej0[n++] = (uint8_t)(bit >> 8);
		} else {
			ej0[n++] = 0x0c;
			for (unsigned i = 0; i < 4; i++)
				ej0[n++] = (uint8_t)(bit >> (8 * i));
		}
		n += pci0_path(ej0 + n, "B0EJ");
		assert_non_null(find(dev, 96, ej0, n));

		/* In PCNT: If ((Local0 & bit) == bit) { Notify (Snn, One) }
		 * and If ((Local1 & bit) == bit) { Notify (Snn, 3) }. */
		uint8_t bitb[8];
		size_t bn = 0;
		memcpy(bitb, ej0 + 4 + 1 + 2 + 15 + 1, 5);
		bn = bit <= 0xff ? 2 : bit <= 0xffff ? 3 : 5;
		for (unsigned local = 0; local < 2; local++) {
			uint8_t want[32];
			size_t k = 0;
			want[k++] = 0x93; /* LEqual */
			want[k++] = 0x7b; /* And */
			want[k++] = (uint8_t)(0x60 + local);
			memcpy(want + k, bitb, bn);
			k += bn;
			want[k++] = 0x00; /* no target */
			memcpy(want + k, bitb, bn);
			k += bn;
			want[k++] = 0x86; /* Notify */
			memcpy(want + k, name, 4);
			k += 4;
			if (local == 0) {
				want[k++] = 0x01; /* One: device check */
			} else {
				want[k++] = 0x0a;
				want[k++] = 0x03; /* eject request */
			}
			assert_non_null(find(buf, len, want, k));
		}
	}
	/* Method (PCNT, 0, Serialized) { Store (PCIU, Local0) Store (PCID, Local1) ... */
	static const uint8_t pcnt[] = { 'P', 'C', 'N', 'T', 0x08, 0x70, 'P', 'C', 'I', 'U', 0x60,
					0x70, 'P', 'C', 'I', 'D', 0x61 };
	assert_non_null(find(buf, len, pcnt, sizeof(pcnt)));
	/* The GED: If ((Local0 & 2) == 2) { \_SB.PCI0.PCNT } in _EVT. */
	uint8_t evt[32] = { 0x93, 0x7b, 0x60, 0x0a, 0x02, 0x00, 0x0a, 0x02 };
	size_t en = 8 + pci0_path(evt + 8, "PCNT");
	const uint8_t *ged = find(buf, len, "_EVT", 4);
	assert_non_null(ged);
	assert_non_null(find(ged, len - (size_t)(ged - buf), evt, en));

	/* Hotplug needs the PCI bus and the GED, and a register block below 4 GiB. */
	size_t n;
	c.ged = false;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &n, &c), -EINVAL);
	c.ged = true;
	c.pci = false;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &n, &c), -EINVAL);
	c.pci = true;
	c.hotplug_base = 0xfffffff8;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &n, &c), -EINVAL);
	c.hotplug_base = (uint32_t)PCI_HOTPLUG_MMIO_ADDR;
	/* Too small a buffer, at every size. */
	for (size_t cap = 0; cap < len; cap += 97)
		assert_int_equal(dsdt_build_devices(buf, cap, &n, &c), -ENOSPC);
}

/*
 * Every hotplug slot routed (shared GSIs): each slot's four pins in _PRT
 * with its GSI, slots empty at boot included.
 */
static void test_dsdt_hotplug_routes(void **state)
{
	(void)state;
	struct dsdt_config c;
	default_config(&c);
	c.pci_hotplug = true;
	c.hotplug_base = (uint32_t)PCI_HOTPLUG_MMIO_ADDR;
	route_all_slots(&c);
	uint8_t buf[DSDT_AML_MAX];
	size_t len;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &c), 0);
	/* Name (_PRT, Package (124) {...}): PackageOp, PkgLength (2 bytes), count */
	const uint8_t *prt = find(buf, len, "_PRT", 4);
	assert_non_null(prt);
	assert_int_equal(prt[4], 0x12);
	assert_int_equal(prt[7], 31 * 4);
	for (unsigned s = 1; s < DSDT_PCI_SLOTS; s++)
		for (unsigned pin = 0; pin < 4; pin++) {
			/* Package (4) { DWordConst (s << 16 | 0xffff), pin, Zero, GSI } */
			uint8_t e[16];
			size_t n = 0;
			e[n++] = 0x04;
			e[n++] = 0x0c;
			e[n++] = 0xff;
			e[n++] = 0xff;
			e[n++] = (uint8_t)s;
			e[n++] = 0x00;
			if (pin == 0) {
				e[n++] = 0x00;
			} else if (pin == 1) {
				e[n++] = 0x01;
			} else {
				e[n++] = 0x0a;
				e[n++] = (uint8_t)pin;
			}
			e[n++] = 0x00;
			e[n++] = 0x0a;
			e[n++] = (uint8_t)c.intx_gsi[s];
			if (!find(prt, len - (size_t)(prt - buf), e, n))
				fail_msg("no _PRT entry for slot %u pin %u -> GSI %u", s, pin,
					 c.intx_gsi[s]);
		}
}

/* A slot in no_eject (the console's) has no _EJ0; its neighbours have. */
static void test_dsdt_no_eject(void **state)
{
	(void)state;
	struct dsdt_config c;
	default_config(&c);
	c.pci_hotplug = true;
	c.hotplug_base = (uint32_t)PCI_HOTPLUG_MMIO_ADDR;
	uint8_t buf[DSDT_AML_MAX];
	size_t all, len;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &all, &c), 0);
	c.no_eject = 1u << 3;
	assert_int_equal(dsdt_build_devices(buf, sizeof(buf), &len, &c), 0);
	assert_true(len < all);
	const uint8_t *s2 = find(buf, len, "S02_", 4), *s3 = find(buf, len, "S03_", 4);
	const uint8_t *s4 = find(buf, len, "S04_", 4), *s5 = find(buf, len, "S05_", 4);
	assert_non_null(s2);
	assert_non_null(s3);
	assert_non_null(s4);
	assert_non_null(s5);
	assert_non_null(find(s2, (size_t)(s3 - s2), "_EJ0", 4));
	assert_null(find(s3, (size_t)(s4 - s3), "_EJ0", 4));
	assert_non_null(find(s4, (size_t)(s5 - s4), "_EJ0", 4));
	/* The slot stays a device with _ADR and _SUN, and PCNT still notifies it. */
	uint8_t adr[] = { 0x08, '_', 'A', 'D', 'R', 0x0c, 0, 0, 3, 0 };
	assert_non_null(find(s3, (size_t)(s4 - s3), adr, sizeof(adr)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkglen_encode),
		cmocka_unit_test(test_pkglen_builder),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_eisaid),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_objects),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_expressions),
		cmocka_unit_test(test_region_field),
		cmocka_unit_test(test_ged_resources),
		cmocka_unit_test(test_dsdt_bytes),
		cmocka_unit_test(test_dsdt_virtio_mmio),
		cmocka_unit_test(test_dsdt_no_pci),
		cmocka_unit_test(test_dsdt_acpi_build),
		cmocka_unit_test(test_dsdt_hotplug),
		cmocka_unit_test(test_dsdt_acpi_build_hotplug),
		cmocka_unit_test(test_dsdt_hotplug_routes),
		cmocka_unit_test(test_dsdt_no_eject),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
