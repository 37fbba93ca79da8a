/* SPDX-License-Identifier: MIT */
#include "pci/msix.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "snap/snap.h"

#define MSIX_CTRL_MASKED 1u

/* Enable and Function Mask live in the high byte, written by vCPU threads
 * under the PCI bus lock and read here from device threads. */
static uint16_t msg_ctrl(const struct msix *m)
{
	uint8_t hi = __atomic_load_n(&m->dev->config[m->cap_off + PCI_MSIX_FLAGS + 1],
				     __ATOMIC_ACQUIRE);
	return (uint16_t)(hi << 8);
}

bool msix_enabled(struct msix *m)
{
	return msg_ctrl(m) & PCI_MSIX_FLAGS_ENABLE;
}

static bool fn_masked(const struct msix *m)
{
	return msg_ctrl(m) & PCI_MSIX_FLAGS_MASKALL;
}

static void fire(struct msix *m, unsigned v)
{
	uint64_t one = 1;
	if (write(m->vec[v].irqfd, &one, sizeof(one)) != sizeof(one))
		log_ratelimited(&m->rl, LOG_ERROR, "%s: MSI-X vector %u: irqfd write failed",
				m->dev->name, v);
}

/* External vectors: can vector v reach the guest now? */
static bool deliverable(const struct msix *m, unsigned v)
{
	uint16_t ctrl = msg_ctrl(m);
	return (ctrl & PCI_MSIX_FLAGS_ENABLE) && !(ctrl & PCI_MSIX_FLAGS_MASKALL) &&
	       !(m->vec[v].ctrl & MSIX_CTRL_MASKED);
}

/* An external vector's eventfd and GSI (from the reservation, routed as
 * its entry says), made the first time it can be delivered; the device
 * gets the eventfd through hooks->vector. Failures are logged here (the
 * guest's unmask drives them): the vector then stays undeliverable. Lock
 * held. */
static int materialize(struct msix *m, unsigned v)
{
	struct msix_vector *mv = &m->vec[v];
	if (mv->irqfd >= 0)
		return 0;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0) {
		int err = errno;
		log_ratelimited(&m->rl, LOG_WARN, "%s: MSI-X vector %u: eventfd: %s",
				m->dev->name, v, strerror(err));
		return -err;
	}
	uint64_t addr = (uint64_t)mv->addr_hi << 32 | mv->addr_lo;
	int ret = irq_router_alloc_reserved_msi(m->router, &mv->gsi, addr, mv->data);
	if (ret) {
		log_ratelimited(&m->rl, LOG_WARN, "%s: MSI-X vector %u route: %s",
				m->dev->name, v, strerror(-ret));
		close(fd);
		return ret;
	}
	m->reserved--;
	mv->irqfd = fd;
	if (m->hooks && m->hooks->vector)
		m->hooks->vector(m->hooks_opaque, v, fd);
	return 0;
}

/* Binds or unbinds an external vector's irqfd as deliverable() says; a
 * KVM failure (logged here: the guest's masking drives it) leaves it as it
 * was. Lock held. */
static void sync_vector(struct msix *m, unsigned v)
{
	struct msix_vector *mv = &m->vec[v];
	bool want = deliverable(m, v);
	if (want == mv->routed)
		return;
	if (want && materialize(m, v))
		return;
	int ret = kvm_irqfd(m->router->kvm, mv->irqfd, mv->gsi, want);
	if (ret) {
		log_ratelimited(&m->rl, LOG_WARN, "%s: MSI-X vector %u: KVM_IRQFD %s (GSI %u): %s",
				m->dev->name, v, want ? "assign" : "deassign", mv->gsi,
				strerror(-ret));
		return;
	}
	mv->routed = want;
	atomic_fetch_add(want ? &m->unmasks : &m->masks, 1);
}

/* An external vector back to "never used": unbound (by the caller), its
 * eventfd closed, its GSI back in the reservation. Lock held. */
static void release(struct msix *m, unsigned v)
{
	struct msix_vector *mv = &m->vec[v];
	if (mv->irqfd < 0)
		return;
	close(mv->irqfd);
	mv->irqfd = -1;
	if (irq_router_free_msi(m->router, mv->gsi, true) == 0)
		m->reserved++;
}

/* What an external vector's eventfd holds is dropped. */
static void drain(struct msix *m, unsigned v)
{
	uint64_t n;
	if (m->vec[v].irqfd >= 0 && read(m->vec[v].irqfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_ratelimited(&m->rl, LOG_WARN, "%s: MSI-X vector %u: eventfd read: %s",
				m->dev->name, v, strerror(errno));
}

/* Delivers pending vectors that are no longer masked. Lock held. */
static void deliver_pending(struct msix *m)
{
	if (m->external) {
		for (unsigned v = 0; v < m->nvec; v++)
			sync_vector(m, v);
		return;
	}
	if (!(msg_ctrl(m) & PCI_MSIX_FLAGS_ENABLE) || fn_masked(m))
		return;
	for (unsigned w = 0; w < (m->nvec + 63) / 64; w++) {
		for (uint64_t bits = m->pba[w]; bits; bits &= bits - 1) {
			unsigned v = 64 * w + (unsigned)__builtin_ctzll(bits);
			if (!(m->vec[v].ctrl & MSIX_CTRL_MASKED)) {
				m->pba[w] &= ~(1ULL << (v % 64));
				fire(m, v);
			}
		}
	}
}

/* What msix_init and msix_adopt share: the state before any vector, the
 * table and PBA allocated (every vector masked, without an eventfd). 0 or
 * -ENOMEM (m->nvec 0 then: nothing for msix_destroy to do). */
static int msix_state_init(struct msix *m, struct pci_device *dev,
			   struct irq_router *router, unsigned nvec, unsigned table_bar,
			   uint32_t table_off, unsigned pba_bar, uint32_t pba_off)
{
	memset(m, 0, sizeof(*m));
	m->dev = dev;
	m->router = router;
	m->bar = table_bar;
	m->pba_bar = pba_bar;
	m->table_off = table_off;
	m->pba_off = pba_off;
	pthread_mutex_init(&m->lock, NULL);
	if (!nvec)
		return 0;
	m->vec = calloc(nvec, sizeof(*m->vec));
	m->pba = calloc((nvec + 63) / 64, sizeof(*m->pba));
	if (!m->vec || !m->pba) {
		free(m->vec);
		free(m->pba);
		m->vec = NULL;
		m->pba = NULL;
		return -ENOMEM;
	}
	m->nvec = nvec;
	for (unsigned v = 0; v < nvec; v++) {
		m->vec[v].irqfd = -1;
		m->vec[v].ctrl = MSIX_CTRL_MASKED; /* all vectors start masked */
	}
	return 0;
}

int msix_init(struct msix *m, struct pci_device *dev, struct irq_router *router,
	      unsigned nvec, unsigned bar, uint32_t table_off, uint32_t pba_off)
{
	if (nvec == 0 || nvec > MSIX_MAX_VECTORS || bar >= PCI_NUM_BARS ||
	    (table_off & 7) || (pba_off & 7))
		return -EINVAL;
	int ret = msix_state_init(m, dev, router, nvec, bar, table_off, bar, pba_off);
	if (ret)
		return ret;

	uint8_t cap[12] = { PCI_CAP_ID_MSIX, 0 };
	uint16_t ctrl = (uint16_t)(nvec - 1);
	uint32_t table = table_off | bar, pba = pba_off | bar;
	memcpy(&cap[2], &ctrl, 2);
	memcpy(&cap[4], &table, 4);
	memcpy(&cap[8], &pba, 4);
	int off = pci_device_add_cap(dev, cap, sizeof(cap));
	if (off < 0)
		return off;
	m->cap_off = (unsigned)off;
	/* Only Enable and Function Mask are writable. */
	pci_config_writable(dev, m->cap_off + PCI_MSIX_FLAGS + 1, 1,
			    (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8);

	for (unsigned v = 0; v < nvec; v++) {
		struct msix_vector *mv = &m->vec[v];
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0)
			return -errno;
		ret = irq_router_alloc_msi(router, &mv->gsi);
		if (ret) {
			close(fd);
			return ret;
		}
		mv->irqfd = fd;
		ret = kvm_irqfd(router->kvm, mv->irqfd, mv->gsi, true);
		if (ret)
			return ret;
		mv->routed = true;
	}
	return 0;
}

int msix_adopt(struct msix *m, struct pci_device *dev, struct irq_router *router,
	       unsigned cap_off, unsigned nvec, unsigned table_bar, uint32_t table_off,
	       unsigned pba_bar, uint32_t pba_off, const struct msix_hooks *hooks,
	       void *opaque)
{
	if (nvec == 0 || nvec > MSIX_MAX_VECTORS || table_bar >= PCI_NUM_BARS ||
	    pba_bar >= PCI_NUM_BARS || (table_off & 7) || (pba_off & 7) ||
	    cap_off < PCI_STD_HEADER_SIZEOF || cap_off + PCI_CAP_MSIX_SIZEOF > 0x100 ||
	    dev->config[cap_off] != PCI_CAP_ID_MSIX)
		return -EINVAL;
	unsigned got = irq_router_reserve_msi(router, nvec);
	int ret = msix_state_init(m, dev, router, got, table_bar, table_off, pba_bar, pba_off);
	if (ret || !got) {
		irq_router_unreserve_msi(router, got);
		return ret ?: -ENOSPC;
	}
	m->reserved = got;
	m->cap_off = cap_off;
	m->external = true;
	m->hooks = hooks;
	m->hooks_opaque = opaque;
	/* Off and unmasked as after a reset, the table size as offered; only
	 * Enable and Function Mask are writable. No vector has an eventfd or
	 * a GSI yet (materialize()). */
	pci_cfg_set(dev, cap_off + PCI_MSIX_FLAGS, 2, got - 1);
	pci_config_writable(dev, cap_off, PCI_CAP_MSIX_SIZEOF, 0);
	pci_config_writable(dev, cap_off + PCI_MSIX_FLAGS + 1, 1,
			    (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8);
	return 0;
}

void msix_destroy(struct msix *m)
{
	for (unsigned v = 0; v < m->nvec; v++) {
		struct msix_vector *mv = &m->vec[v];
		int ret = mv->routed ? kvm_irqfd(m->router->kvm, mv->irqfd, mv->gsi,
						 false) : 0;
		if (ret)
			log_ratelimited(&m->rl, LOG_WARN,
					"%s: MSI-X vector %u: KVM_IRQFD deassign (GSI %u): %s",
					m->dev->name, v, mv->gsi, strerror(-ret));
		if (mv->irqfd >= 0) {
			close(mv->irqfd);
			irq_router_free_msi(m->router, mv->gsi, false);
		}
		mv->irqfd = -1;
		mv->routed = false;
	}
	irq_router_unreserve_msi(m->router, m->reserved);
	m->reserved = 0;
	free(m->vec);
	free(m->pba);
	m->vec = NULL;
	m->pba = NULL;
	m->nvec = 0;
	pthread_mutex_destroy(&m->lock);
}

void msix_reset(struct msix *m)
{
	pthread_mutex_lock(&m->lock);
	for (unsigned v = 0; v < m->nvec; v++) {
		struct msix_vector *mv = &m->vec[v];
		mv->addr_lo = mv->addr_hi = mv->data = 0;
		mv->ctrl = MSIX_CTRL_MASKED;
		if (m->external) {
			sync_vector(m, v);
			if (!mv->routed)
				release(m, v);
			continue;
		}
		/* KVM's route follows the table, as after msix_init(). */
		if (mv->irqfd >= 0) {
			int ret = irq_router_set_msi(m->router, mv->gsi, 0, 0);
			if (ret)
				log_ratelimited(&m->rl, LOG_WARN,
						"%s: MSI-X vector %u route reset: %s",
					 m->dev->name, v, strerror(-ret));
		}
	}
	memset(m->pba, 0, (m->nvec + 63) / 64 * sizeof(*m->pba));
	m->was_enabled = msg_ctrl(m) & PCI_MSIX_FLAGS_ENABLE;
	pthread_mutex_unlock(&m->lock);
}

int msix_save(struct msix *m, struct snap_buf *b)
{
	if (m->external)
		return -ENOTSUP;
	pthread_mutex_lock(&m->lock);
	snap_put_u32(b, m->nvec);
	for (unsigned v = 0; v < m->nvec; v++) {
		snap_put_u32(b, m->vec[v].addr_lo);
		snap_put_u32(b, m->vec[v].addr_hi);
		snap_put_u32(b, m->vec[v].data);
		snap_put_u32(b, m->vec[v].ctrl);
	}
	for (unsigned w = 0; w < (m->nvec + 63) / 64; w++)
		snap_put_u64(b, m->pba[w]);
	snap_put_u8(b, m->was_enabled);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int msix_restore(struct msix *m, struct snap_cur *c)
{
	if (m->external || snap_get_u32(c) != m->nvec)
		return -EBADMSG;
	unsigned words = (m->nvec + 63) / 64;
	uint32_t (*t)[4] = calloc(m->nvec, sizeof(*t));
	uint64_t *pba = calloc(words, sizeof(*pba));
	if (!t || !pba) {
		free(t);
		free(pba);
		return -ENOMEM;
	}
	for (unsigned v = 0; v < m->nvec; v++)
		for (unsigned w = 0; w < 4; w++)
			t[v][w] = snap_get_u32(c);
	for (unsigned w = 0; w < words; w++)
		pba[w] = snap_get_u64(c);
	bool was_enabled = snap_get_u8(c) != 0;
	int ret = 0;
	if (c->bad || (m->nvec % 64 && (pba[words - 1] >> (m->nvec % 64))))
		ret = -EBADMSG;
	if (!ret) {
		pthread_mutex_lock(&m->lock);
		for (unsigned v = 0; v < m->nvec; v++) {
			struct msix_vector *mv = &m->vec[v];
			mv->addr_lo = t[v][0] & ~3u;
			mv->addr_hi = t[v][1];
			mv->data = t[v][2];
			mv->ctrl = t[v][3] & MSIX_CTRL_MASKED;
			uint64_t addr = (uint64_t)mv->addr_hi << 32 | mv->addr_lo;
			int r = irq_router_set_msi(m->router, mv->gsi, addr, mv->data);
			if (r && !ret) {
				log_error("%s: MSI-X vector %u route: %s", m->dev->name, v,
					  strerror(-r));
				ret = r;
			}
		}
		memcpy(m->pba, pba, words * sizeof(*pba));
		m->was_enabled = was_enabled;
		deliver_pending(m);
		pthread_mutex_unlock(&m->lock);
	}
	free(t);
	free(pba);
	return ret;
}

void msix_config_write(struct msix *m, uint32_t off, uint32_t len)
{
	if (off + len <= m->cap_off + PCI_MSIX_FLAGS ||
	    off > m->cap_off + PCI_MSIX_FLAGS + 1)
		return;
	pthread_mutex_lock(&m->lock);
	bool enabled = msg_ctrl(m) & PCI_MSIX_FLAGS_ENABLE;
	bool changed = enabled != m->was_enabled;
	if (changed) {
		m->was_enabled = enabled;
		log_ratelimited(&m->rl, LOG_DEBUG, "%s: MSI-X %s (%u vectors)",
				m->dev->name,
			  enabled ? "enabled" : "disabled", m->nvec);
	}
	/* The device gets its eventfds before any is bound (those of vectors
	 * deliverable right away made first, so that one call hands them
	 * over), and loses them after all are unbound; what an old enable
	 * left is dropped. */
	if (changed && enabled && m->external)
		for (unsigned v = 0; v < m->nvec; v++)
			if (deliverable(m, v))
				materialize(m, v);
	if (changed && enabled && m->hooks && m->hooks->enable)
		m->hooks->enable(m->hooks_opaque, true);
	deliver_pending(m);
	if (changed && !enabled && m->external) {
		if (m->hooks && m->hooks->enable)
			m->hooks->enable(m->hooks_opaque, false);
		for (unsigned v = 0; v < m->nvec; v++)
			drain(m, v);
	}
	pthread_mutex_unlock(&m->lock);
}

static void table_write(struct msix *m, unsigned v, unsigned word, uint32_t val)
{
	struct msix_vector *mv = &m->vec[v];
	switch (word) {
	case 0: mv->addr_lo = val & ~3u; break;
	case 1: mv->addr_hi = val; break;
	case 2: mv->data = val; break;
	case 3: mv->ctrl = val & MSIX_CTRL_MASKED; break;
	}
	if (word == 3 && m->external) {
		sync_vector(m, v);
		return;
	}
	if (word < 3 && mv->irqfd >= 0) {
		/* (An external vector without a GSI yet gets its route from
		 * the entry when it is made.) */
		uint64_t addr = (uint64_t)mv->addr_hi << 32 | mv->addr_lo;
		int ret = irq_router_set_msi(m->router, mv->gsi, addr, mv->data);
		if (ret)
			log_ratelimited(&m->rl, LOG_WARN, "%s: MSI-X vector %u route: %s",
					m->dev->name, v,
				 strerror(-ret));
	} else if (word == 3) {
		deliver_pending(m);
	}
}

/* PBA word w (vectors 64w..64w+63). External vectors: pending = cannot be
 * delivered and signalled. Lock held. */
static uint64_t pba_word(struct msix *m, unsigned w)
{
	if (w >= (m->nvec + 63) / 64)
		return 0;
	if (!m->external)
		return m->pba[w];
	struct pollfd pfd[64];
	unsigned idx[64], n = 0;
	uint64_t pba = 0;
	for (unsigned v = 64 * w; v < m->nvec && v < 64 * w + 64; v++) {
		if (m->vec[v].routed || m->vec[v].irqfd < 0)
			continue;
		pfd[n] = (struct pollfd){ .fd = m->vec[v].irqfd, .events = POLLIN };
		idx[n++] = v % 64;
	}
	if (n && poll(pfd, n, 0) > 0)
		for (unsigned i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN)
				pba |= 1ULL << idx[i];
	return pba;
}

bool msix_access(struct msix *m, unsigned bar, uint64_t off, uint8_t *data,
		 uint32_t len, bool is_write)
{
	uint64_t table_end = m->table_off + (uint64_t)m->nvec * MSIX_ENTRY_SIZE;
	uint64_t pba_end = m->pba_off + 8ULL * ((m->nvec + 63) / 64);
	if (bar == m->bar && off >= m->table_off && off < table_end) {
		uint64_t rel = off - m->table_off;
		/* Dword or qword accesses, naturally aligned (spec 6.8.2). */
		if ((len != 4 && len != 8) || (rel & (len - 1)) || rel + len > table_end - m->table_off) {
			if (!is_write)
				memset(data, 0xff, len);
			return true;
		}
		pthread_mutex_lock(&m->lock);
		for (uint32_t done = 0; done < len; done += 4) {
			unsigned v = (unsigned)((rel + done) / MSIX_ENTRY_SIZE);
			unsigned word = (unsigned)(((rel + done) % MSIX_ENTRY_SIZE) / 4);
			uint32_t val;
			if (is_write) {
				memcpy(&val, data + done, 4);
				table_write(m, v, word, val);
			} else {
				val = word == 0 ? m->vec[v].addr_lo : word == 1 ? m->vec[v].addr_hi :
				      word == 2 ? m->vec[v].data : m->vec[v].ctrl;
				memcpy(data + done, &val, 4);
			}
		}
		pthread_mutex_unlock(&m->lock);
		return true;
	}
	if (bar == m->pba_bar && off >= m->pba_off && off < pba_end) {
		/* The PBA is read-only. */
		if (!is_write) {
			uint64_t rel = off - m->pba_off;
			pthread_mutex_lock(&m->lock);
			uint64_t word = 0;
			for (uint32_t i = 0; i < len; i++) {
				uint64_t byte = rel + i;
				if (i == 0 || byte % 8 == 0)
					word = pba_word(m, (unsigned)(byte / 8));
				data[i] = (uint8_t)(word >> (8 * (byte % 8)));
			}
			pthread_mutex_unlock(&m->lock);
		}
		return true;
	}
	return false;
}

bool msix_bar_access(struct msix *m, uint64_t off, uint8_t *data, uint32_t len,
		     bool is_write)
{
	return msix_access(m, m->bar, off, data, len, is_write);
}

int msix_notify(struct msix *m, unsigned vector)
{
	if (vector >= m->nvec)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	/* External: as the device would (a masked vector's signal waits in
	 * its eventfd). */
	int ret = 0;
	if (m->external && m->vec[vector].irqfd < 0)
		ret = -ENOENT;
	else if (m->external)
		fire(m, vector);
	else if (!(msg_ctrl(m) & PCI_MSIX_FLAGS_ENABLE) || fn_masked(m) ||
	    (m->vec[vector].ctrl & MSIX_CTRL_MASKED))
		m->pba[vector / 64] |= 1ULL << (vector % 64);
	else
		fire(m, vector);
	pthread_mutex_unlock(&m->lock);
	return ret;
}
