/* SPDX-License-Identifier: MIT */
#include "kvm/irq_router.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm/kvm.h"

/*
 * With kvm == NULL (unit tests of PCI and virtio transports) the router
 * keeps its table and counts commits but makes no ioctl.
 */
static int commit_locked(struct irq_router *r)
{
	r->commits++;
	if (!r->kvm)
		return 0;
	size_t sz = sizeof(struct kvm_irq_routing) +
		    r->count * sizeof(struct kvm_irq_routing_entry);
	struct kvm_irq_routing *table = calloc(1, sz);
	if (!table)
		return -ENOMEM;
	table->nr = r->count;
	memcpy(table->entries, r->entries, r->count * sizeof(r->entries[0]));
	int ret = ioctl(r->kvm->vm_fd, KVM_SET_GSI_ROUTING, table) < 0 ? -errno : 0;
	free(table);
	return ret;
}

/* Room for one more entry. Lock held (or init). */
static int grow(struct irq_router *r)
{
	if (r->count < r->cap)
		return 0;
	unsigned cap = r->cap ? 2 * r->cap : 64;
	if (cap > r->max_routes)
		cap = r->max_routes;
	if (cap <= r->count)
		return -ENOSPC;
	struct kvm_irq_routing_entry *e = realloc(r->entries, cap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	r->entries = e;
	r->cap = cap;
	return 0;
}

static void add_irqchip_route(struct irq_router *r, uint32_t gsi,
			      uint32_t chip, uint32_t pin)
{
	struct kvm_irq_routing_entry *e = &r->entries[r->count++];
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

int irq_router_init(struct irq_router *r, struct kvm *kvm)
{
	memset(r, 0, sizeof(*r));
	r->kvm = kvm;
	/* KVM_CAP_IRQ_ROUTING answers KVM_MAX_IRQ_ROUTES (4096 on x86 since
	 * Linux 4.?; 1024 before): the most entries of a table, and the GSI
	 * limit (a GSI must be below it). */
	unsigned max = IRQ_ROUTER_MAX_ROUTES;
	if (kvm) {
		int cap = kvm_check_cap(kvm, KVM_CAP_IRQ_ROUTING);
		if (cap > 0 && (unsigned)cap < max)
			max = (unsigned)cap;
	}
	r->max_routes = max;
	/* Room for the irqchip routes and a few devices' vectors; grown. */
	r->cap = 64;
	r->entries = calloc(r->cap, sizeof(*r->entries));
	if (!r->entries)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	/* KVM's default routing, which SET_GSI_ROUTING would otherwise drop:
	 * GSI 0-15 to the PICs (2 is the cascade), GSI 0-23 to the IOAPIC. */
	for (uint32_t gsi = 0; gsi < 16; gsi++) {
		if (gsi == 2)
			continue;
		add_irqchip_route(r, gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER :
					       KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
	}
	for (uint32_t gsi = 0; gsi < IRQ_LEGACY_GSIS; gsi++)
		add_irqchip_route(r, gsi, KVM_IRQCHIP_IOAPIC, gsi);
	/*
	 * Not committed here: KVM_CREATE_IRQCHIP installed KVM's defaults,
	 * which route every GSI that cvmm raises the same way (they add only
	 * GSI 2 to PIC pin 2, which nothing raises), and each
	 * KVM_SET_GSI_ROUTING waits for an SRCU grace period (0.05 ms on an
	 * idle host, 1-5 ms on a busy one). The first MSI route commits the
	 * whole table.
	 */
	return 0;
}

void irq_router_destroy(struct irq_router *r)
{
	free(r->entries);
	r->entries = NULL;
	r->count = r->cap = 0;
	pthread_mutex_destroy(&r->lock);
}

static struct kvm_irq_routing_entry *find_msi(struct irq_router *r, uint32_t gsi)
{
	for (unsigned i = 0; i < r->count; i++)
		if (r->entries[i].gsi == gsi && r->entries[i].type == KVM_IRQ_ROUTING_MSI)
			return &r->entries[i];
	return NULL;
}

/* MSI routes that could still be added, reserved ones included. */
static unsigned free_routes(const struct irq_router *r)
{
	unsigned entries = r->max_routes - r->count;
	unsigned gsis = r->max_routes > IRQ_MSI_GSI_BASE ?
			r->max_routes - IRQ_MSI_GSI_BASE - r->msi_routes : 0;
	return entries < gsis ? entries : gsis;
}

unsigned irq_router_msi_room(struct irq_router *r)
{
	pthread_mutex_lock(&r->lock);
	unsigned n = free_routes(r) - r->reserved;
	pthread_mutex_unlock(&r->lock);
	return n;
}

unsigned irq_router_reserve_msi(struct irq_router *r, unsigned n)
{
	pthread_mutex_lock(&r->lock);
	unsigned room = free_routes(r) - r->reserved;
	if (n > room)
		n = room;
	r->reserved += n;
	pthread_mutex_unlock(&r->lock);
	return n;
}

void irq_router_unreserve_msi(struct irq_router *r, unsigned n)
{
	pthread_mutex_lock(&r->lock);
	r->reserved -= n < r->reserved ? n : r->reserved;
	pthread_mutex_unlock(&r->lock);
}

/* A new MSI entry on the lowest free GSI, committed; nothing changed
 * when the commit fails. Lock held; room checked. */
static int add_msi_locked(struct irq_router *r, uint32_t *gsi, uint64_t addr, uint32_t data)
{
	int ret = grow(r);
	if (ret)
		return ret;
	uint32_t g = IRQ_MSI_GSI_BASE;
	while (r->msi_gsis[g / 64] >> (g % 64) & 1)
		g++;
	r->msi_gsis[g / 64] |= 1ULL << (g % 64);
	r->msi_routes++;
	struct kvm_irq_routing_entry *e = &r->entries[r->count++];
	memset(e, 0, sizeof(*e));
	e->gsi = g;
	e->type = KVM_IRQ_ROUTING_MSI;
	e->u.msi.address_lo = (uint32_t)addr;
	e->u.msi.address_hi = (uint32_t)(addr >> 32);
	e->u.msi.data = data;
	ret = commit_locked(r);
	if (ret) {
		r->count--;
		r->msi_routes--;
		r->msi_gsis[g / 64] &= ~(1ULL << (g % 64));
		return ret;
	}
	*gsi = g;
	return 0;
}

int irq_router_alloc_msi(struct irq_router *r, uint32_t *gsi)
{
	pthread_mutex_lock(&r->lock);
	int ret = free_routes(r) > r->reserved ? add_msi_locked(r, gsi, 0, 0) : -ENOSPC;
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int irq_router_alloc_reserved_msi(struct irq_router *r, uint32_t *gsi, uint64_t addr,
				  uint32_t data)
{
	pthread_mutex_lock(&r->lock);
	int ret = -ENOSPC;
	if (r->reserved && free_routes(r)) {
		ret = add_msi_locked(r, gsi, addr, data);
		if (!ret)
			r->reserved--;
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int irq_router_free_msi(struct irq_router *r, uint32_t gsi, bool reserved)
{
	pthread_mutex_lock(&r->lock);
	int ret = -ENOENT;
	struct kvm_irq_routing_entry *e = find_msi(r, gsi);
	if (e) {
		*e = r->entries[--r->count];
		r->msi_gsis[gsi / 64] &= ~(1ULL << (gsi % 64));
		r->msi_routes--;
		if (reserved)
			r->reserved++;
		ret = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int irq_router_set_msi(struct irq_router *r, uint32_t gsi, uint64_t addr,
		       uint32_t data)
{
	int ret = -ENOENT;
	pthread_mutex_lock(&r->lock);
	struct kvm_irq_routing_entry *e = find_msi(r, gsi);
	if (e) {
		if (e->u.msi.address_lo == (uint32_t)addr &&
		    e->u.msi.address_hi == (uint32_t)(addr >> 32) &&
		    e->u.msi.data == data) {
			ret = 0;
		} else {
			e->u.msi.address_lo = (uint32_t)addr;
			e->u.msi.address_hi = (uint32_t)(addr >> 32);
			e->u.msi.data = data;
			ret = commit_locked(r);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int kvm_irqfd_resample(struct kvm *kvm, int fd, int resample_fd, uint32_t gsi,
		       bool assign)
{
	if (!kvm)
		return 0;
	struct kvm_irqfd req = {
		.fd = (uint32_t)fd,
		.gsi = gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};
	if (assign && resample_fd >= 0) {
		req.flags |= KVM_IRQFD_FLAG_RESAMPLE;
		req.resamplefd = (uint32_t)resample_fd;
	}
	return ioctl(kvm->vm_fd, KVM_IRQFD, &req) < 0 ? -errno : 0;
}

int kvm_irqfd(struct kvm *kvm, int fd, uint32_t gsi, bool assign)
{
	return kvm_irqfd_resample(kvm, fd, -1, gsi, assign);
}

static int ioeventfd(struct kvm *kvm, struct kvm_ioeventfd *req, bool assign)
{
	if (!kvm)
		return 0;
	if (!assign)
		req->flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	return ioctl(kvm->vm_fd, KVM_IOEVENTFD, req) < 0 ? -errno : 0;
}

int kvm_ioeventfd(struct kvm *kvm, int fd, uint64_t addr, uint32_t len,
		  bool pio, bool assign)
{
	struct kvm_ioeventfd req = {
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = pio ? KVM_IOEVENTFD_FLAG_PIO : 0,
	};
	return ioeventfd(kvm, &req, assign);
}

int kvm_ioeventfd_match(struct kvm *kvm, int fd, uint64_t addr, uint32_t len,
			uint64_t datamatch, bool assign)
{
	struct kvm_ioeventfd req = {
		.datamatch = datamatch,
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};
	return ioeventfd(kvm, &req, assign);
}
