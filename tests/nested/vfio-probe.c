/* SPDX-License-Identifier: MIT */
/*
 * vfio-probe: the nested rig's own check of its VFIO set-up, independent of
 * cvmm (tests/nested/README.md, part vfio). Run inside the rig on a device
 * bound to vfio-pci, it does what a VMM's kernel VFIO backend does first:
 *
 *   container (/dev/vfio/vfio, type1v2), group (/dev/vfio/N, viable),
 *   device fd, its regions (BARs, config space, the MSI-X mappable
 *   capability) and interrupt indexes;
 *
 * and then, by kind:
 *
 *   edu  QEMU's edu device (docs/specs/edu.rst): BAR0 mmap'd, the
 *        identification and liveness registers, a factorial; DMA through
 *        the IOMMU (a buffer mapped at IOVA 16 MiB with
 *        VFIO_IOMMU_MAP_DMA, copied into the card and back to a second
 *        IOVA: the data can only match if the IOMMU translated), then the
 *        source unmapped and read again, which the IOMMU must block (the
 *        caller looks for the DMAR fault in dmesg); an interrupt by MSI
 *        and one by INTx, each to an eventfd (VFIO_DEVICE_SET_IRQS).
 *   rng  a modern virtio-pci device: the common configuration found
 *        through the vendor capabilities, in its BAR mmap'd (num_queues,
 *        device status reset), MSI-X vectors to eventfds enabled and
 *        disabled.
 *
 *   vfio-probe edu|rng DDDD:BB:DD.F
 *
 * Prints "VFIO-PROBE: KIND ..." lines and last "VFIO-PROBE: KIND ok" (exit
 * 0) or "VFIO-PROBE: KIND FAIL: why" (exit 1). Built by run-nested-test.sh
 * with the host's cc.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/vfio.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static const char *kind;

static void say(const char *fmt, ...)
{
	va_list ap;
	printf("VFIO-PROBE: %s ", kind);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void fail(const char *fmt, ...)
{
	va_list ap;
	printf("VFIO-PROBE: %s FAIL: ", kind);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	exit(1);
}

static int device = -1;
static struct vfio_region_info regions[VFIO_PCI_NUM_REGIONS];

static void cfg_rw(int write, uint32_t off, void *buf, size_t len)
{
	const struct vfio_region_info *r = &regions[VFIO_PCI_CONFIG_REGION_INDEX];
	ssize_t n = write ? pwrite(device, buf, len, (off_t)(r->offset + off))
			  : pread(device, buf, len, (off_t)(r->offset + off));
	if (n != (ssize_t)len)
		fail("config %s at 0x%x: %s", write ? "write" : "read", off,
		     n < 0 ? strerror(errno) : "short");
}

static uint32_t cfg_read(uint32_t off, size_t len)
{
	uint32_t v = 0;
	cfg_rw(0, off, &v, len);
	return v;
}

static void cfg_write16(uint32_t off, uint16_t v)
{
	cfg_rw(1, off, &v, 2);
}

static volatile void *bar_map(unsigned idx)
{
	const struct vfio_region_info *r = &regions[idx];
	if (!(r->flags & VFIO_REGION_INFO_FLAG_MMAP))
		fail("BAR%u cannot be mmap'd (flags 0x%x)", idx, r->flags);
	void *p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, device,
		       (off_t)r->offset);
	if (p == MAP_FAILED)
		fail("mmap BAR%u: %s", idx, strerror(errno));
	return p;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One eventfd wait; returns 1 when it was signalled within ms. */
static int efd_wait(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	if (poll(&p, 1, ms) != 1)
		return 0;
	uint64_t n;
	return read(efd, &n, sizeof(n)) == sizeof(n);
}

/* VFIO_DEVICE_SET_IRQS with eventfds (fds) or nothing (count 0: off). */
static int set_irqs(unsigned index, unsigned count, const int *fds)
{
	char buf[sizeof(struct vfio_irq_set) + 8 * sizeof(int)];
	struct vfio_irq_set *s = (struct vfio_irq_set *)buf;
	memset(buf, 0, sizeof(buf));
	s->argsz = sizeof(*s) + count * sizeof(int);
	s->flags = (count ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE) |
		   VFIO_IRQ_SET_ACTION_TRIGGER;
	s->index = index;
	s->count = count;
	memcpy(s->data, fds, count * sizeof(int));
	return ioctl(device, VFIO_DEVICE_SET_IRQS, s);
}

static int set_irq_action(unsigned index, uint32_t action)
{
	struct vfio_irq_set s = { .argsz = sizeof(s),
				  .flags = VFIO_IRQ_SET_DATA_NONE | action,
				  .index = index,
				  .count = 1 };
	return ioctl(device, VFIO_DEVICE_SET_IRQS, &s);
}

/* ---- edu ------------------------------------------------------------------ */

#define EDU_IOVA_SRC 0x1000000ull /* 16 MiB: below the card's 28-bit DMA mask */
#define EDU_IOVA_DST 0x1001000ull
#define EDU_DMA_BUF 0x40000ull /* the card's own buffer */

static volatile uint32_t *edu;

static uint32_t edu_rd(unsigned off)
{
	return edu[off / 4];
}

static void edu_wr(unsigned off, uint32_t v)
{
	edu[off / 4] = v;
}

static void edu_wr64(unsigned off, uint64_t v)
{
	*(volatile uint64_t *)((volatile char *)edu + off) = v;
}

/* A DMA of len bytes from src to dst; dir 0: RAM to card, 1: card to RAM. */
static int edu_dma(uint64_t src, uint64_t dst, uint32_t len, int dir)
{
	edu_wr64(0x80, src);
	edu_wr64(0x88, dst);
	edu_wr64(0x90, len);
	edu_wr64(0x98, 1 | (dir ? 2 : 0));
	uint64_t end = now_ms() + 5000; /* the card runs DMA 100 ms later */
	while (edu_rd(0x98) & 1)
		if (now_ms() > end)
			return -1;
	return 0;
}

static void *dma_buffer(uint64_t iova, int container)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fail("mmap: %s", strerror(errno));
	memset(p, 0, 4096);
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)p,
		.iova = iova,
		.size = 4096,
	};
	if (ioctl(container, VFIO_IOMMU_MAP_DMA, &m))
		fail("VFIO_IOMMU_MAP_DMA at iova 0x%llx: %s", (unsigned long long)iova,
		     strerror(errno));
	return p;
}

static void probe_edu(int container)
{
	/* memory decoding and bus mastering (vfio-pci enables the device,
	 * decoding included, but leaves bus mastering to the user) */
	cfg_write16(4, (uint16_t)(cfg_read(4, 2) | 0x6));
	edu = bar_map(0);
	uint32_t id = edu_rd(0x00);
	if ((id & 0xff) != 0xed)
		fail("BAR0 identification 0x%08x, expected 0xRRrr00ed", id);
	edu_wr(0x04, 0x12345678);
	uint32_t live = edu_rd(0x04);
	if (live != ~0x12345678u)
		fail("liveness: wrote 0x12345678, read 0x%08x", live);
	edu_wr(0x08, 10);
	uint64_t end = now_ms() + 5000;
	while (edu_rd(0x20) & 1)
		if (now_ms() > end)
			fail("factorial: still computing after 5 s");
	uint32_t f = edu_rd(0x08);
	if (f != 3628800)
		fail("factorial of 10: %u", f);
	say("bar0 mmap ident 0x%08x liveness ok factorial(10) %u", id, f);

	unsigned char *src = dma_buffer(EDU_IOVA_SRC, container);
	unsigned char *dst = dma_buffer(EDU_IOVA_DST, container);
	for (unsigned i = 0; i < 256; i++)
		src[i] = (unsigned char)(i * 7 + 3);
	if (edu_dma(EDU_IOVA_SRC, EDU_DMA_BUF, 256, 0) || edu_dma(EDU_DMA_BUF, EDU_IOVA_DST, 256, 1))
		fail("DMA did not complete in 5 s");
	if (memcmp(src, dst, 256))
		fail("DMA through the IOMMU: data differs (dst[0] 0x%02x, expected 0x%02x)", dst[0],
		     src[0]);
	say("dma iova 0x%llx -> card -> iova 0x%llx ok (256 bytes through the IOMMU)",
	    (unsigned long long)EDU_IOVA_SRC, (unsigned long long)EDU_IOVA_DST);
	/* unmapped again (type1 unmaps strictly: IOTLB flushed), the same
	 * IOVA must no longer reach the buffer, which still holds the
	 * pattern: the IOMMU blocks the read (and logs a DMAR fault) */
	struct vfio_iommu_type1_dma_unmap um = { .argsz = sizeof(um), .iova = EDU_IOVA_SRC,
						 .size = 4096 };
	if (ioctl(container, VFIO_IOMMU_UNMAP_DMA, &um) || um.size != 4096)
		fail("VFIO_IOMMU_UNMAP_DMA: %s", strerror(errno));
	memset(dst, 0xff, 256);
	if (edu_dma(EDU_IOVA_SRC, EDU_DMA_BUF, 256, 0) || edu_dma(EDU_DMA_BUF, EDU_IOVA_DST, 256, 1))
		fail("DMA did not complete in 5 s");
	if (!memcmp(src, dst, 256))
		fail("DMA from the unmapped iova 0x%llx still read the buffer",
		     (unsigned long long)EDU_IOVA_SRC);
	say("dma from iova 0x%llx after unmap blocked (the card read 0x%02x, not 0x%02x)",
	    (unsigned long long)EDU_IOVA_SRC, dst[0], src[0]);

	/* MSI: one vector to an eventfd; the card's raise register */
	int efd = eventfd(0, EFD_CLOEXEC);
	if (set_irqs(VFIO_PCI_MSI_IRQ_INDEX, 1, &efd))
		fail("SET_IRQS MSI: %s", strerror(errno));
	edu_wr(0x60, 0x1);
	if (!efd_wait(efd, 3000))
		fail("no MSI on the eventfd within 3 s (irq status 0x%x)", edu_rd(0x24));
	edu_wr(0x64, 0x1);
	if (set_irqs(VFIO_PCI_MSI_IRQ_INDEX, 0, NULL))
		fail("SET_IRQS MSI off: %s", strerror(errno));
	say("msi -> eventfd ok");

	/* INTx: level, masked by vfio-pci when it fires; ack, then unmask */
	if (set_irqs(VFIO_PCI_INTX_IRQ_INDEX, 1, &efd))
		fail("SET_IRQS INTx: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		edu_wr(0x60, 0x2);
		if (!efd_wait(efd, 3000))
			fail("no INTx %d on the eventfd within 3 s (irq status 0x%x)", i,
			     edu_rd(0x24));
		edu_wr(0x64, 0x2);
		if (set_irq_action(VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK))
			fail("INTx unmask: %s", strerror(errno));
	}
	if (set_irqs(VFIO_PCI_INTX_IRQ_INDEX, 0, NULL))
		fail("SET_IRQS INTx off: %s", strerror(errno));
	say("intx -> eventfd ok (2, unmasked in between)");
	close(efd);
}

/* ---- virtio-rng (modern virtio-pci) ----------------------------------------- */

static void probe_rng(void)
{
	/* the vendor capability with cfg_type 1: the common configuration */
	unsigned bar = 6, off = 0, guard = 0;
	for (unsigned p = cfg_read(0x34, 1) & 0xfc; p && guard < 48; guard++) {
		if (cfg_read(p, 1) == 0x09 && cfg_read(p + 3, 1) == 1) {
			bar = cfg_read(p + 4, 1);
			off = cfg_read(p + 8, 4);
			break;
		}
		p = cfg_read(p + 1, 1) & 0xfc;
	}
	if (bar > 5)
		fail("no virtio common configuration capability");
	cfg_write16(4, (uint16_t)(cfg_read(4, 2) | 0x6));
	volatile unsigned char *common = (volatile unsigned char *)bar_map(bar) + off;
	*(volatile uint8_t *)(common + 0x14) = 0; /* device_status: reset */
	uint16_t nq = *(volatile uint16_t *)(common + 0x12);
	uint8_t status = *(volatile uint8_t *)(common + 0x14);
	if (nq != 1 || status != 0)
		fail("common configuration in BAR%u+0x%x: num_queues %u status 0x%x", bar, off, nq,
		     status);
	say("bar%u mmap common cfg at 0x%x num_queues 1", bar, off);

	struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = VFIO_PCI_MSIX_IRQ_INDEX };
	if (ioctl(device, VFIO_DEVICE_GET_IRQ_INFO, &ii) || ii.count < 1 || ii.count > 8)
		fail("MSI-X irq info: count %u", ii.count);
	int fds[8];
	for (unsigned i = 0; i < ii.count; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	if (set_irqs(VFIO_PCI_MSIX_IRQ_INDEX, ii.count, fds))
		fail("SET_IRQS MSI-X (%u vectors): %s", ii.count, strerror(errno));
	if (set_irqs(VFIO_PCI_MSIX_IRQ_INDEX, 0, NULL))
		fail("SET_IRQS MSI-X off: %s", strerror(errno));
	say("msix %u vectors -> eventfds enabled and disabled", ii.count);
}

/* ---- common --------------------------------------------------------------- */

static const char *region_caps(unsigned idx, const struct vfio_region_info *r)
{
	static char out[64];
	char buf[1024];
	struct vfio_region_info *ri = (struct vfio_region_info *)buf;
	out[0] = 0;
	if (!(r->flags & VFIO_REGION_INFO_FLAG_CAPS))
		return out;
	memset(buf, 0, sizeof(buf));
	ri->argsz = sizeof(buf);
	ri->index = idx;
	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, ri) || !ri->cap_offset)
		return out;
	for (uint32_t c = ri->cap_offset; c && c + sizeof(struct vfio_info_cap_header) <= sizeof(buf);) {
		const struct vfio_info_cap_header *h = (const void *)(buf + c);
		if (h->id == VFIO_REGION_INFO_CAP_MSIX_MAPPABLE)
			strcat(out, " msix-mappable");
		else if (h->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP)
			strcat(out, " sparse-mmap");
		if (h->next <= c)
			break;
		c = h->next;
	}
	return out;
}

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "edu") && strcmp(argv[1], "rng"))) {
		fprintf(stderr, "usage: vfio-probe edu|rng DDDD:BB:DD.F\n");
		return 2;
	}
	kind = argv[1];
	const char *bdf = argv[2];
	char path[PATH_MAX], link[PATH_MAX];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		fail("%s: %s (no IOMMU group)", path, strerror(errno));
	link[n] = 0;
	const char *group_nr = basename(link);

	int container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (container < 0)
		fail("/dev/vfio/vfio: %s", strerror(errno));
	if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		fail("VFIO API version differs");
	if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
		fail("no type1v2 IOMMU");
	snprintf(path, sizeof(path), "/dev/vfio/%s", group_nr);
	int group = open(path, O_RDWR | O_CLOEXEC);
	if (group < 0)
		fail("%s: %s", path, strerror(errno));
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &gs))
		fail("GROUP_GET_STATUS: %s", strerror(errno));
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		fail("group %s not viable (a device of it is bound to another driver)", group_nr);
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container))
		fail("GROUP_SET_CONTAINER: %s", strerror(errno));
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		fail("SET_IOMMU type1v2: %s", strerror(errno));
	struct vfio_iommu_type1_info ii = { .argsz = sizeof(ii) };
	if (ioctl(container, VFIO_IOMMU_GET_INFO, &ii))
		fail("IOMMU_GET_INFO: %s", strerror(errno));
	say("%s group %s viable, container type1v2, iova page sizes 0x%llx", bdf, group_nr,
	    (unsigned long long)ii.iova_pgsizes);

	device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (device < 0)
		fail("GROUP_GET_DEVICE_FD %s: %s", bdf, strerror(errno));
	struct vfio_device_info di = { .argsz = sizeof(di) };
	if (ioctl(device, VFIO_DEVICE_GET_INFO, &di))
		fail("DEVICE_GET_INFO: %s", strerror(errno));
	if (!(di.flags & VFIO_DEVICE_FLAGS_PCI) || di.num_regions < VFIO_PCI_NUM_REGIONS - 1)
		fail("not a PCI device (flags 0x%x, %u regions)", di.flags, di.num_regions);
	say("device flags 0x%x (%s%s) regions %u irqs %u", di.flags, "pci",
	    di.flags & VFIO_DEVICE_FLAGS_RESET ? ",reset" : "", di.num_regions, di.num_irqs);
	for (unsigned i = 0; i < VFIO_PCI_NUM_REGIONS && i < di.num_regions; i++) {
		struct vfio_region_info *r = &regions[i];
		r->argsz = sizeof(*r);
		r->index = i;
		if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, r))
			r->size = 0;
		if (r->size && (i <= VFIO_PCI_BAR5_REGION_INDEX || i == VFIO_PCI_CONFIG_REGION_INDEX))
			say("region %u%s size 0x%llx %s%s%s%s", i,
			    i == VFIO_PCI_CONFIG_REGION_INDEX ? " (config)" : "",
			    (unsigned long long)r->size, r->flags & VFIO_REGION_INFO_FLAG_READ ? "r" : "",
			    r->flags & VFIO_REGION_INFO_FLAG_WRITE ? "w" : "",
			    r->flags & VFIO_REGION_INFO_FLAG_MMAP ? "m" : "", region_caps(i, r));
	}
	static const char *const irq_names[] = { "intx", "msi", "msix", "err", "req" };
	char irqs[128] = "";
	for (unsigned i = 0; i < di.num_irqs && i < 5; i++) {
		struct vfio_irq_info q = { .argsz = sizeof(q), .index = i };
		if (!ioctl(device, VFIO_DEVICE_GET_IRQ_INFO, &q))
			snprintf(irqs + strlen(irqs), sizeof(irqs) - strlen(irqs), " %s %u", irq_names[i],
				 q.count);
	}
	say("irqs%s", irqs);
	uint32_t id = cfg_read(0, 4);
	say("config vendor:device %04x:%04x", id & 0xffff, id >> 16);

	if (!strcmp(kind, "edu"))
		probe_edu(container);
	else
		probe_rng();
	say("ok");
	return 0;
}
