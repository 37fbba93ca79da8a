/* SPDX-License-Identifier: MIT */
#include "pci/msi.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

unsigned msi_cap_size(uint16_t flags)
{
	unsigned size = flags & PCI_MSI_FLAGS_64BIT ? 14 : 10;
	if (flags & PCI_MSI_FLAGS_MASKBIT)
		size += 10;
	return size;
}

static unsigned data_off(const struct msi *m)
{
	return m->cap_off + (m->is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32);
}

static unsigned mask_off(const struct msi *m)
{
	return m->cap_off + (m->is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32);
}

static uint32_t mask_bits(const struct msi *m)
{
	return m->maskable ? pci_cfg_read(m->dev, mask_off(m), 4) : 0;
}

/* Binds or unbinds vector v's irqfd as the state says; a KVM failure
 * (logged here, rate-limited: the guest drives it) leaves it as it was.
 * Lock held. */
static void sync_vector(struct msi *m, unsigned v, uint32_t mask)
{
	struct msi_vector *mv = &m->vec[v];
	bool want = v < m->enabled && !(mask >> v & 1);
	if (want == mv->bound)
		return;
	int ret = kvm_irqfd(m->router->kvm, mv->fd, mv->gsi, want);
	if (ret) {
		log_ratelimited(&m->rl, LOG_WARN, "%s: MSI vector %u: KVM_IRQFD %s (GSI %u): %s",
				m->dev->name, v, want ? "assign" : "deassign", mv->gsi,
				strerror(-ret));
		return;
	}
	mv->bound = want;
	atomic_fetch_add(want ? &m->unmasks : &m->masks, 1);
}

static void drain(struct msi *m, unsigned v)
{
	uint64_t n;
	if (read(m->vec[v].fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_ratelimited(&m->rl, LOG_WARN, "%s: MSI vector %u: eventfd read: %s",
				m->dev->name, v, strerror(errno));
}

int msi_adopt(struct msi *m, struct pci_device *dev, struct irq_router *router,
	      unsigned cap_off, unsigned max_vec, const struct msi_hooks *hooks,
	      void *opaque)
{
	if (cap_off < PCI_STD_HEADER_SIZEOF || cap_off + 10 > 0x100 ||
	    dev->config[cap_off] != PCI_CAP_ID_MSI || max_vec == 0)
		return -EINVAL;
	uint16_t flags = (uint16_t)pci_cfg_read(dev, cap_off + PCI_MSI_FLAGS, 2);
	unsigned size = msi_cap_size(flags);
	if (cap_off + size > 0x100)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	m->dev = dev;
	m->router = router;
	m->cap_off = cap_off;
	m->is64 = flags & PCI_MSI_FLAGS_64BIT;
	m->maskable = flags & PCI_MSI_FLAGS_MASKBIT;
	m->hooks = hooks;
	m->hooks_opaque = opaque;
	for (unsigned v = 0; v < MSI_MAX_VECTORS; v++)
		m->vec[v].fd = -1;
	pthread_mutex_init(&m->lock, NULL);

	/* Multiple Message Capable, lowered to what the device's interrupt
	 * index offers (a power of two). */
	unsigned mmc = (flags & PCI_MSI_FLAGS_QMASK) >> 1;
	if (mmc > 5)
		mmc = 5;
	if (max_vec > MSI_MAX_VECTORS)
		max_vec = MSI_MAX_VECTORS;
	while (mmc && (1u << mmc) > max_vec)
		mmc--;
	m->max_vec = 1u << mmc;
	flags &= (uint16_t)~(PCI_MSI_FLAGS_QMASK | PCI_MSI_FLAGS_QSIZE | PCI_MSI_FLAGS_ENABLE);
	flags |= (uint16_t)(mmc << 1);
	/* As after a reset: off, no address or data, nothing masked. */
	pci_cfg_set(dev, cap_off + PCI_MSI_FLAGS, 2, flags);
	for (unsigned o = PCI_MSI_ADDRESS_LO; o < size; o++)
		dev->config[cap_off + o] = 0;
	pci_config_writable(dev, cap_off, size, 0);
	pci_config_writable(dev, cap_off + PCI_MSI_FLAGS, 1,
			    PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
	pci_config_writable(dev, cap_off + PCI_MSI_ADDRESS_LO, 4, 0xff);
	dev->wmask[cap_off + PCI_MSI_ADDRESS_LO] = 0xfc;
	if (m->is64)
		pci_config_writable(dev, cap_off + PCI_MSI_ADDRESS_HI, 4, 0xff);
	pci_config_writable(dev, data_off(m), 2, 0xff);
	if (m->maskable) {
		uint32_t bits = m->max_vec == 32 ? 0xffffffffu : (1u << m->max_vec) - 1;
		for (unsigned i = 0; i < 4; i++)
			dev->wmask[mask_off(m) + i] = (uint8_t)(bits >> (8 * i));
	}
	for (unsigned v = 0; v < m->max_vec; v++) {
		struct msi_vector *mv = &m->vec[v];
		mv->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (mv->fd < 0)
			return -errno;
		int ret = irq_router_alloc_msi(router, &mv->gsi);
		if (ret)
			return ret;
		mv->routed = true;
	}
	return 0;
}

void msi_destroy(struct msi *m)
{
	for (unsigned v = 0; v < MSI_MAX_VECTORS; v++) {
		struct msi_vector *mv = &m->vec[v];
		int ret = mv->bound ? kvm_irqfd(m->router->kvm, mv->fd, mv->gsi, false) : 0;
		if (ret)
			log_ratelimited(&m->rl, LOG_WARN,
					"%s: MSI vector %u: KVM_IRQFD deassign (GSI %u): %s",
					m->dev->name, v, mv->gsi, strerror(-ret));
		if (mv->fd >= 0)
			close(mv->fd);
		mv->fd = -1;
		mv->bound = false;
		/* The GSI goes back to the router (a hot-unplugged device's
		 * routes serve the next one). */
		ret = mv->routed ? irq_router_free_msi(m->router, mv->gsi, false) : 0;
		if (ret)
			log_ratelimited(&m->rl, LOG_WARN, "%s: MSI vector %u: GSI %u: %s",
					m->dev->name, v, mv->gsi, strerror(-ret));
		mv->routed = false;
	}
	pthread_mutex_destroy(&m->lock);
}

/* Routes, the enabled count and the bindings from config space. Lock held. */
static void update(struct msi *m)
{
	struct pci_device *d = m->dev;
	uint16_t flags = (uint16_t)pci_cfg_read(d, m->cap_off + PCI_MSI_FLAGS, 2);
	unsigned n = 1u << ((flags & PCI_MSI_FLAGS_QSIZE) >> 4);
	if (n > m->max_vec)
		n = m->max_vec; /* more than offered: what is offered */
	unsigned count = flags & PCI_MSI_FLAGS_ENABLE ? n : 0;
	uint64_t addr = pci_cfg_read(d, m->cap_off + PCI_MSI_ADDRESS_LO, 4);
	if (m->is64)
		addr |= (uint64_t)pci_cfg_read(d, m->cap_off + PCI_MSI_ADDRESS_HI, 4) << 32;
	uint32_t data = pci_cfg_read(d, data_off(m), 2);
	/* Multiple messages: the device puts the vector in the low bits. */
	for (unsigned v = 0; v < n; v++) {
		int ret = irq_router_set_msi(m->router, m->vec[v].gsi, addr,
					     (data & ~(n - 1)) | v);
		if (ret)
			log_ratelimited(&m->rl, LOG_WARN, "%s: MSI vector %u route: %s",
					d->name, v, strerror(-ret));
	}
	uint32_t mask = mask_bits(m);
	if (count != m->enabled) {
		unsigned old = m->enabled;
		m->enabled = 0;
		for (unsigned v = 0; v < m->max_vec; v++)
			sync_vector(m, v, mask);
		if (old && m->hooks && m->hooks->enable)
			m->hooks->enable(m->hooks_opaque, 0);
		for (unsigned v = 0; old && v < m->max_vec; v++)
			drain(m, v);
		m->enabled = count;
		if (count && m->hooks && m->hooks->enable)
			m->hooks->enable(m->hooks_opaque, count);
		log_ratelimited(&m->rl, LOG_DEBUG, "%s: MSI %s (%u vectors)", d->name,
				count ? "enabled" : "disabled", count ? count : old);
	}
	for (unsigned v = 0; v < m->max_vec; v++)
		sync_vector(m, v, mask);
}

void msi_config_write(struct msi *m, uint32_t off, uint32_t len)
{
	unsigned size = msi_cap_size((uint16_t)pci_cfg_read(m->dev, m->cap_off + PCI_MSI_FLAGS, 2));
	if (off + len <= m->cap_off || off >= m->cap_off + size)
		return;
	pthread_mutex_lock(&m->lock);
	update(m);
	pthread_mutex_unlock(&m->lock);
}

void msi_config_read(struct msi *m, uint32_t off, uint8_t *data, uint32_t len)
{
	if (!m->maskable)
		return;
	unsigned pend = mask_off(m) + 4;
	if (off + len <= pend || off >= pend + 4)
		return;
	struct pollfd pfd[MSI_MAX_VECTORS];
	uint32_t bits = 0;
	pthread_mutex_lock(&m->lock);
	unsigned n = 0;
	for (unsigned v = 0; v < m->max_vec; v++)
		pfd[n++] = (struct pollfd){ .fd = m->vec[v].bound ? -1 : m->vec[v].fd,
					    .events = POLLIN };
	if (poll(pfd, n, 0) > 0)
		for (unsigned v = 0; v < n; v++)
			if (pfd[v].revents & POLLIN)
				bits |= 1u << v;
	pthread_mutex_unlock(&m->lock);
	for (uint32_t i = 0; i < len; i++)
		if (off + i >= pend && off + i < pend + 4)
			data[i] = (uint8_t)(bits >> (8 * (off + i - pend)));
}

void msi_reset(struct msi *m)
{
	pthread_mutex_lock(&m->lock);
	m->enabled = 0;
	for (unsigned v = 0; v < m->max_vec; v++) {
		sync_vector(m, v, 0);
		drain(m, v);
		int ret = irq_router_set_msi(m->router, m->vec[v].gsi, 0, 0);
		if (ret)
			log_ratelimited(&m->rl, LOG_WARN, "%s: MSI vector %u route reset: %s",
					m->dev->name, v, strerror(-ret));
	}
	pthread_mutex_unlock(&m->lock);
}

int msi_notify(struct msi *m, unsigned vector)
{
	if (vector >= m->max_vec)
		return -EINVAL;
	uint64_t one = 1;
	if (write(m->vec[vector].fd, &one, sizeof(one)) != sizeof(one))
		return -errno;
	return 0;
}
