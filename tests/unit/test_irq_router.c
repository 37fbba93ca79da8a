/* SPDX-License-Identifier: MIT */
/*
 * The GSI router without KVM (kvm == NULL: no ioctls, the table is kept and
 * commits are counted): the irqchip routes kept at init (not committed:
 * KVM has its defaults until the first MSI route), MSI GSI
 * allocation from 24 up, route updates that commit only on change, unknown
 * GSIs, a full table (KVM_MAX_IRQ_ROUTES, 4096 entries), reservations
 * (what plain allocations cannot take, allocation from them with the route
 * set in one commit), freed GSIs handed out again, concurrent allocation,
 * and the irqfd/ioeventfd helpers' no-KVM path.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kvm/irq_router.h"
#include "log.h"

#define IRQCHIP_ROUTES 39 /* 15 PIC (no GSI 2) + 24 IOAPIC */

static int setup(void **state)
{
	struct irq_router *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	assert_int_equal(irq_router_init(r, NULL), 0);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct irq_router *r = *state;
	irq_router_destroy(r);
	free(r);
	return 0;
}

static const struct kvm_irq_routing_entry *find(const struct irq_router *r, uint32_t gsi,
						uint32_t type, uint32_t chip)
{
	for (unsigned i = 0; i < r->count; i++) {
		const struct kvm_irq_routing_entry *e = &r->entries[i];
		if (e->gsi == gsi && e->type == type &&
		    (type != KVM_IRQ_ROUTING_IRQCHIP || e->u.irqchip.irqchip == chip))
			return e;
	}
	return NULL;
}

static void test_init_irqchip_routes(void **state)
{
	struct irq_router *r = *state;
	assert_null(r->kvm);
	assert_int_equal(r->count, IRQCHIP_ROUTES);
	assert_int_equal(r->commits, 0);
	assert_int_equal(r->max_routes, IRQ_ROUTER_MAX_ROUTES);
	assert_int_equal(r->msi_routes, 0);
	assert_int_equal(irq_router_msi_room(r), IRQ_ROUTER_MAX_ROUTES - IRQCHIP_ROUTES);
	unsigned pic = 0, ioapic = 0;
	for (unsigned i = 0; i < r->count; i++) {
		const struct kvm_irq_routing_entry *e = &r->entries[i];
		assert_int_equal(e->type, KVM_IRQ_ROUTING_IRQCHIP);
		assert_int_equal(e->flags, 0);
		if (e->u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC) {
			ioapic++;
			assert_true(e->gsi < IRQ_LEGACY_GSIS);
			assert_int_equal(e->u.irqchip.pin, e->gsi);
		} else {
			pic++;
			assert_true(e->gsi < 16);
			assert_int_not_equal(e->gsi, 2);
			assert_int_equal(e->u.irqchip.irqchip, e->gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
									  : KVM_IRQCHIP_PIC_SLAVE);
			assert_int_equal(e->u.irqchip.pin, e->gsi % 8);
		}
	}
	assert_int_equal(pic, 15);
	assert_int_equal(ioapic, 24);
	/* Each GSI exactly once per chip. */
	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		assert_non_null(find(r, gsi, KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQCHIP_IOAPIC));
		const struct kvm_irq_routing_entry *p =
			find(r, gsi, KVM_IRQ_ROUTING_IRQCHIP,
			     gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE);
		if (gsi < 16 && gsi != 2)
			assert_non_null(p);
		else
			assert_null(p);
	}
	/* GSI 2 (the cascade) reaches IOAPIC pin 2 only; no MSI routes yet. */
	assert_null(find(r, 2, KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQCHIP_PIC_MASTER));
	for (unsigned i = 0; i < r->count; i++)
		assert_int_not_equal(r->entries[i].type, KVM_IRQ_ROUTING_MSI);
}

static void test_alloc_msi(void **state)
{
	struct irq_router *r = *state;
	for (uint32_t i = 0; i < 10; i++) {
		uint32_t gsi = 0xdead;
		uint64_t c = r->commits;
		assert_int_equal(irq_router_alloc_msi(r, &gsi), 0);
		assert_int_equal(gsi, IRQ_MSI_GSI_BASE + i);
		assert_int_equal(r->count, IRQCHIP_ROUTES + i + 1);
		assert_int_equal(r->commits, c + 1);
		const struct kvm_irq_routing_entry *e = find(r, gsi, KVM_IRQ_ROUTING_MSI, 0);
		assert_non_null(e);
		assert_ptr_equal(e, &r->entries[r->count - 1]);
		assert_int_equal(e->flags, 0);
		assert_int_equal(e->u.msi.address_lo, 0);
		assert_int_equal(e->u.msi.address_hi, 0);
		assert_int_equal(e->u.msi.data, 0);
	}
	assert_int_equal(r->msi_routes, 10);
	/* The irqchip routes are untouched. */
	for (unsigned i = 0; i < IRQCHIP_ROUTES; i++)
		assert_int_equal(r->entries[i].type, KVM_IRQ_ROUTING_IRQCHIP);
}

static void test_set_msi(void **state)
{
	struct irq_router *r = *state;
	uint32_t g[3];
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(irq_router_alloc_msi(r, &g[i]), 0);
	struct kvm_irq_routing_entry before[IRQCHIP_ROUTES + 3];
	memcpy(before, r->entries, sizeof(before));

	uint64_t c = r->commits;
	assert_int_equal(irq_router_set_msi(r, g[1], 0x1fee01000ULL, 0x4041), 0);
	assert_int_equal(r->commits, c + 1);
	const struct kvm_irq_routing_entry *e = find(r, g[1], KVM_IRQ_ROUTING_MSI, 0);
	assert_int_equal(e->u.msi.address_lo, 0xfee01000);
	assert_int_equal(e->u.msi.address_hi, 1);
	assert_int_equal(e->u.msi.data, 0x4041);
	assert_int_equal(e->gsi, g[1]);
	assert_int_equal(e->type, KVM_IRQ_ROUTING_MSI);
	/* Only that entry changed. */
	for (unsigned i = 0; i < IRQCHIP_ROUTES + 3; i++)
		if (&r->entries[i] != e)
			assert_memory_equal(&r->entries[i], &before[i], sizeof(before[i]));
	assert_int_equal(r->count, IRQCHIP_ROUTES + 3);

	/* The same values again: no commit. */
	assert_int_equal(irq_router_set_msi(r, g[1], 0x1fee01000ULL, 0x4041), 0);
	assert_int_equal(r->commits, c + 1);
	/* Each field alone is a change. */
	assert_int_equal(irq_router_set_msi(r, g[1], 0x1fee01000ULL, 0x4042), 0);
	assert_int_equal(r->commits, c + 2);
	assert_int_equal(irq_router_set_msi(r, g[1], 0x0fee01000ULL, 0x4042), 0);
	assert_int_equal(r->commits, c + 3);
	assert_int_equal(e->u.msi.address_hi, 0);
	assert_int_equal(irq_router_set_msi(r, g[1], 0x0fee02000ULL, 0x4042), 0);
	assert_int_equal(r->commits, c + 4);
	assert_int_equal(e->u.msi.address_lo, 0xfee02000);
	/* Back to all zeros (the allocation state) is a change too... */
	assert_int_equal(irq_router_set_msi(r, g[1], 0, 0), 0);
	assert_int_equal(r->commits, c + 5);
	/* ...and zeros on a fresh GSI are not. */
	assert_int_equal(irq_router_set_msi(r, g[2], 0, 0), 0);
	assert_int_equal(r->commits, c + 5);

	/* Unknown GSIs: never allocated, the irqchip ones, far out. */
	const uint32_t unknown[] = { g[2] + 1, 0, 2, 5, 23, 1000, UINT32_MAX };
	memcpy(before, r->entries, sizeof(before));
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_int_equal(irq_router_set_msi(r, unknown[i], 0xfee00000, 0x4020),
				 -ENOENT);
	assert_int_equal(r->commits, c + 5);
	assert_memory_equal(r->entries, before, sizeof(before));
	assert_int_equal(r->count, IRQCHIP_ROUTES + 3);
}

static void test_table_full(void **state)
{
	struct irq_router *r = *state;
	const unsigned room = IRQ_ROUTER_MAX_ROUTES - IRQCHIP_ROUTES;
	uint32_t gsi = 0;
	for (unsigned i = 0; i < room; i++) {
		assert_int_equal(irq_router_alloc_msi(r, &gsi), 0);
		assert_int_equal(gsi, IRQ_MSI_GSI_BASE + i);
	}
	assert_int_equal(r->count, IRQ_ROUTER_MAX_ROUTES);
	uint64_t c = r->commits;
	assert_int_equal(c, room); /* one per allocation, none at init */
	uint32_t out = 0x5a5a;
	assert_int_equal(irq_router_alloc_msi(r, &out), -ENOSPC);
	assert_int_equal(irq_router_alloc_msi(r, &out), -ENOSPC);
	assert_int_equal(out, 0x5a5a);
	assert_int_equal(r->count, IRQ_ROUTER_MAX_ROUTES);
	assert_int_equal(r->commits, c);
	assert_int_equal(r->msi_routes, room);
	assert_int_equal(irq_router_msi_room(r), 0);
	assert_int_equal(irq_router_reserve_msi(r, 5), 0);
	/* The full table still takes updates, first and last MSI GSI. */
	assert_int_equal(irq_router_set_msi(r, IRQ_MSI_GSI_BASE, 0xfee00000, 0x4020), 0);
	assert_int_equal(irq_router_set_msi(r, gsi, 0xfee00000, 0x4021), 0);
	assert_int_equal(r->commits, c + 2);
	assert_int_equal(r->entries[IRQ_ROUTER_MAX_ROUTES - 1].u.msi.data, 0x4021);
	assert_int_equal(irq_router_set_msi(r, gsi + 1, 0xfee00000, 0x4021), -ENOENT);
}


/* A device reserves routes for vectors it routes later: plain allocations
 * leave them alone, reserved ones draw on them (route set, one commit),
 * and what is never used goes back. */
static void test_reserve(void **state)
{
	struct irq_router *r = *state;
	const unsigned room = IRQ_ROUTER_MAX_ROUTES - IRQCHIP_ROUTES;
	uint32_t gsi;
	/* Nothing reserved: no reserved allocation either. */
	assert_int_equal(irq_router_alloc_reserved_msi(r, &gsi, 0xfee00000, 1), -ENOSPC);
	assert_int_equal(irq_router_reserve_msi(r, 2048), 2048);
	assert_int_equal(irq_router_msi_room(r), room - 2048);
	/* A second 2048-vector device gets what is left, a third nothing. */
	assert_int_equal(irq_router_reserve_msi(r, 2048), room - 2048);
	assert_int_equal(irq_router_msi_room(r), 0);
	assert_int_equal(irq_router_reserve_msi(r, 1), 0);
	assert_int_equal(irq_router_alloc_msi(r, &gsi), -ENOSPC);
	assert_int_equal(r->count, IRQCHIP_ROUTES);
	/* Reserved allocations: the lowest free GSI, the route as given, one
	 * commit each, the table grown as needed. */
	uint64_t c = r->commits;
	for (unsigned i = 0; i < 300; i++) {
		assert_int_equal(irq_router_alloc_reserved_msi(r, &gsi, 0xfee00000 + 0x1000 * (i % 4),
							       0x4000 + i), 0);
		assert_int_equal(gsi, IRQ_MSI_GSI_BASE + i);
		const struct kvm_irq_routing_entry *e = find(r, gsi, KVM_IRQ_ROUTING_MSI, 0);
		assert_non_null(e);
		assert_int_equal(e->u.msi.address_lo, 0xfee00000 + 0x1000 * (i % 4));
		assert_int_equal(e->u.msi.data, 0x4000 + i);
	}
	assert_int_equal(r->commits, c + 300);
	assert_int_equal(r->count, IRQCHIP_ROUTES + 300);
	assert_true(r->cap >= r->count);
	assert_int_equal(r->reserved, room - 300);
	/* Freed back into the reservation: no commit, the GSI reused first. */
	assert_int_equal(irq_router_free_msi(r, IRQ_MSI_GSI_BASE + 7, true), 0);
	assert_int_equal(irq_router_free_msi(r, IRQ_MSI_GSI_BASE + 7, true), -ENOENT);
	assert_int_equal(irq_router_free_msi(r, 5, true), -ENOENT); /* irqchip */
	assert_int_equal(r->commits, c + 300);
	assert_null(find(r, IRQ_MSI_GSI_BASE + 7, KVM_IRQ_ROUTING_MSI, 0));
	assert_int_equal(r->reserved, room - 299);
	assert_int_equal(irq_router_alloc_reserved_msi(r, &gsi, 0xfee00000, 0x77), 0);
	assert_int_equal(gsi, IRQ_MSI_GSI_BASE + 7);
	/* The rest given back: plain allocations may have it. */
	irq_router_unreserve_msi(r, r->reserved);
	assert_int_equal(r->reserved, 0);
	assert_int_equal(irq_router_msi_room(r), room - 300);
	assert_int_equal(irq_router_alloc_msi(r, &gsi), 0);
	assert_int_equal(gsi, IRQ_MSI_GSI_BASE + 300);
	/* Freed into the pool. */
	assert_int_equal(irq_router_free_msi(r, IRQ_MSI_GSI_BASE, false), 0);
	assert_int_equal(irq_router_msi_room(r), room - 300);
	assert_int_equal(irq_router_alloc_msi(r, &gsi), 0);
	assert_int_equal(gsi, IRQ_MSI_GSI_BASE);
}

/* Every GSI up to KVM's limit (a GSI must be below KVM_MAX_IRQ_ROUTES),
 * each used once; a full table frees and takes one again. */
static void test_gsi_limit(void **state)
{
	struct irq_router *r = *state;
	const unsigned room = IRQ_ROUTER_MAX_ROUTES - IRQCHIP_ROUTES;
	assert_int_equal(irq_router_reserve_msi(r, room + 100), room);
	uint32_t gsi = 0, max = 0;
	for (unsigned i = 0; i < room; i++) {
		assert_int_equal(irq_router_alloc_reserved_msi(r, &gsi, 0, i), 0);
		if (gsi > max)
			max = gsi;
	}
	assert_true(max < IRQ_ROUTER_MAX_ROUTES);
	assert_int_equal(r->count, IRQ_ROUTER_MAX_ROUTES);
	assert_int_equal(irq_router_alloc_reserved_msi(r, &gsi, 0, 0), -ENOSPC);
	assert_int_equal(irq_router_free_msi(r, 1000, false), 0);
	assert_int_equal(irq_router_alloc_msi(r, &gsi), 0);
	assert_int_equal(gsi, 1000);
	assert_int_equal(irq_router_alloc_msi(r, &gsi), -ENOSPC);
}

#define THREADS 2
#define PER_THREAD 300

struct alloc_arg {
	struct irq_router *r;
	uint32_t gsi[PER_THREAD];
	int err;
};

static void *alloc_thread(void *p)
{
	struct alloc_arg *a = p;
	for (unsigned i = 0; i < PER_THREAD; i++) {
		int ret = irq_router_alloc_msi(a->r, &a->gsi[i]);
		if (!ret)
			ret = irq_router_set_msi(a->r, a->gsi[i], 0xfee00000, a->gsi[i]);
		if (ret && !a->err)
			a->err = ret;
	}
	return NULL;
}

static void test_concurrent_alloc(void **state)
{
	struct irq_router *r = *state;
	static struct alloc_arg args[THREADS];
	pthread_t t[THREADS];
	for (unsigned i = 0; i < THREADS; i++) {
		args[i] = (struct alloc_arg){ .r = r };
		assert_int_equal(pthread_create(&t[i], NULL, alloc_thread, &args[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(args[i].err, 0);
	}
	const unsigned n = THREADS * PER_THREAD;
	assert_int_equal(r->count, IRQCHIP_ROUTES + n);
	assert_int_equal(r->msi_routes, n);
	/* Every GSI handed out once, and its route carries its own data. */
	uint8_t seen[THREADS * PER_THREAD] = { 0 };
	for (unsigned i = 0; i < THREADS; i++) {
		for (unsigned k = 0; k < PER_THREAD; k++) {
			uint32_t g = args[i].gsi[k];
			assert_true(g >= IRQ_MSI_GSI_BASE && g < IRQ_MSI_GSI_BASE + n);
			assert_int_equal(seen[g - IRQ_MSI_GSI_BASE], 0);
			seen[g - IRQ_MSI_GSI_BASE] = 1;
			const struct kvm_irq_routing_entry *e = find(r, g, KVM_IRQ_ROUTING_MSI, 0);
			assert_non_null(e);
			assert_int_equal(e->u.msi.data, g);
		}
	}
	/* One per allocation + one per (changing) update; none at init. */
	assert_int_equal(r->commits, 2 * n);
}

static void test_reinit(void **state)
{
	struct irq_router *r = *state;
	uint32_t gsi;
	assert_int_equal(irq_router_alloc_msi(r, &gsi), 0);
	irq_router_destroy(r);
	assert_int_equal(irq_router_init(r, NULL), 0);
	assert_int_equal(r->count, IRQCHIP_ROUTES);
	assert_int_equal(r->commits, 0);
	assert_int_equal(irq_router_alloc_msi(r, &gsi), 0);
	assert_int_equal(gsi, IRQ_MSI_GSI_BASE);
	assert_int_equal(irq_router_set_msi(r, gsi + 1, 0, 1), -ENOENT);
}

static void test_no_kvm_helpers(void **state)
{
	(void)state;
	assert_int_equal(kvm_irqfd(NULL, 5, 24, true), 0);
	assert_int_equal(kvm_irqfd(NULL, 5, 24, false), 0);
	assert_int_equal(kvm_irqfd(NULL, -1, 0, true), 0);
	assert_int_equal(kvm_ioeventfd(NULL, 5, 0xc0001000, 4, false, true), 0);
	assert_int_equal(kvm_ioeventfd(NULL, 5, 0xc050, 2, true, true), 0);
	assert_int_equal(kvm_ioeventfd(NULL, 5, 0xc050, 2, true, false), 0);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_irqchip_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_msi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_msi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gsi_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_alloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reinit, setup, teardown),
		cmocka_unit_test(test_no_kvm_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
