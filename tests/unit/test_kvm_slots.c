/* SPDX-License-Identifier: MIT */
/*
 * KVM memory slots (src/kvm/kvm.c): guest RAM and host memory that is not
 * RAM (kvm_map_slot, a passthrough BAR) take the lowest free slot number,
 * kvm_unmap_slot deletes a slot (size 0) and frees its number for the next
 * map, KVM's slot limit is honoured (-ENOSPC past it), and a refused
 * mapping (an overlap) leaves no slot taken and logs nothing (the caller,
 * pci.c, names the device). Needs /dev/kvm; skipped without it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvm/kvm.h"
#include "log_capture.h"

#define PAGE 4096ULL

struct env {
	struct kvm kvm;
	void *mem;
	size_t mem_size;
};

static int setup(void **state)
{
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		return 0; /* each test skips */
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	assert_int_equal(kvm_open(&e->kvm), 0);
	assert_int_equal(kvm_create_vm(&e->kvm), 0);
	e->mem_size = 64 * PAGE;
	e->mem = mmap(NULL, e->mem_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(e->mem != MAP_FAILED);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	if (!e)
		return 0;
	kvm_close(&e->kvm);
	munmap(e->mem, e->mem_size);
	free(e);
	return 0;
}

static void *page(struct env *e, unsigned i)
{
	return (char *)e->mem + i * PAGE;
}

static void test_slot_numbers_reused(void **state)
{
	struct env *e = *state;
	if (!e)
		skip();
	assert_true(e->kvm.nr_slots >= 32 && e->kvm.nr_slots <= KVM_MAX_SLOTS);
	/* RAM first (slot 0), then three BAR-like slots 1, 2, 3. */
	assert_int_equal(kvm_map_region(&e->kvm, 0, 4 * PAGE, page(e, 0)), 0);
	assert_int_equal(e->kvm.mem.count, 1);
	uint32_t s[3];
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(kvm_map_slot(&e->kvm, 0x100000 + i * PAGE, PAGE,
					      page(e, 8 + i), &s[i]), 0);
		assert_int_equal(s[i], 1 + i);
	}
	/* Not RAM: kvm->mem only has the first region. */
	assert_int_equal(e->kvm.mem.count, 1);
	assert_int_equal(kvm_slots_used(&e->kvm), 4);
	/* Slot 2 goes; the next map takes number 2 again, at the same place
	 * (the old one is really gone: no overlap). */
	assert_int_equal(kvm_unmap_slot(&e->kvm, s[1]), 0);
	assert_int_equal(kvm_slots_used(&e->kvm), 3);
	uint32_t again;
	assert_int_equal(kvm_map_slot(&e->kvm, 0x100000 + PAGE, PAGE, page(e, 20), &again), 0);
	assert_int_equal(again, 2);
	/* Moved elsewhere, as a BAR move does: unmap, then map. */
	assert_int_equal(kvm_unmap_slot(&e->kvm, again), 0);
	assert_int_equal(kvm_map_slot(&e->kvm, 0x200000, PAGE, page(e, 20), &again), 0);
	assert_int_equal(again, 2);
	assert_int_equal(kvm_slots_used(&e->kvm), 4);
}

static void test_overlap_refused(void **state)
{
	struct env *e = *state;
	if (!e)
		skip();
	uint32_t s, t;
	assert_int_equal(kvm_map_slot(&e->kvm, 0x100000, 2 * PAGE, page(e, 0), &s), 0);
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	assert_int_equal(kvm_map_slot(&e->kvm, 0x101000, PAGE, page(e, 4), &t), -EEXIST);
	assert_int_equal(log_capture_stop(&cap), 0);
	/* Nothing kept for the refused one. */
	assert_int_equal(kvm_slots_used(&e->kvm), 1);
	assert_int_equal(kvm_unmap_slot(&e->kvm, s), 0);
	assert_int_equal(kvm_map_slot(&e->kvm, 0x101000, PAGE, page(e, 4), &t), 0);
	assert_int_equal(t, s);
}

static void test_slot_limit(void **state)
{
	struct env *e = *state;
	if (!e)
		skip();
	/* A smaller limit than KVM's, as an older KVM would report. */
	e->kvm.nr_slots = 5;
	uint32_t s[5];
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(kvm_map_slot(&e->kvm, 0x100000 + i * PAGE, PAGE,
					      page(e, i), &s[i]), 0);
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	uint32_t extra;
	assert_int_equal(kvm_map_slot(&e->kvm, 0x200000, PAGE, page(e, 10), &extra), -ENOSPC);
	assert_int_equal(log_capture_stop(&cap), 0);
	assert_int_equal(kvm_unmap_slot(&e->kvm, s[3]), 0);
	assert_int_equal(kvm_map_slot(&e->kvm, 0x200000, PAGE, page(e, 10), &extra), 0);
	assert_int_equal(extra, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_slot_numbers_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlap_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_limit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
