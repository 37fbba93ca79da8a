/* SPDX-License-Identifier: MIT */
/*
 * The kernel VFIO backend's pieces that need no device (src/vfio/kernel.c):
 * VFIO_DEVICE_GET_REGION_INFO answers with their capability chains
 * (sparse mmap, MSIX_MAPPABLE, malformed chains) as region descriptions,
 * and the probe of a --device path on fake sysfs trees (not there, not a
 * PCI device, not a PCI address, no driver, another driver, no IOMMU
 * group, and a good one that then needs /dev/vfio), each refusal one line
 * naming the device; vfio_kernel_open logs exactly one line for them.
 * And the host's interrupt counts of a device from a fake /proc/interrupts
 * (vfio/host_irqs.h): vfio-pci's handler names, shared INTx lines, names
 * that only look like ours, a file bigger than one read, and
 * vfio_kernel_create's path (a missing file: one warning, no failure).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "log_capture.h"
#include "vfio/host_irqs.h"
#include "vfio/kernel.h"

/* A region info with room for capabilities after it. */
struct ri_buf {
	struct vfio_region_info info;
	uint8_t caps[256];
} __attribute__((aligned(8)));

static void test_region_plain(void **state)
{
	(void)state;
	struct ri_buf b;
	memset(&b, 0, sizeof(b));
	struct vfio_region_desc d;
	b.info = (struct vfio_region_info){ .argsz = sizeof(b.info), .index = 4,
		.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE, .size = 32 };
	assert_int_equal(vfio_kernel_parse_region(&b.info, sizeof(b.info), &d), 0);
	assert_int_equal(d.size, 32);
	assert_int_equal(d.nareas, 0);
	assert_false(d.msix_mappable);
	/* mmap-able, no sparse capability: the whole region. */
	b.info.flags |= VFIO_REGION_INFO_FLAG_MMAP;
	b.info.size = 0x4000;
	assert_int_equal(vfio_kernel_parse_region(&b.info, sizeof(b.info), &d), 0);
	assert_int_equal(d.nareas, 1);
	assert_int_equal(d.areas[0].offset, 0);
	assert_int_equal(d.areas[0].size, 0x4000);
	assert_int_equal(d.flags, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
				  VFIO_REGION_INFO_FLAG_MMAP);
	/* Too short to be one. */
	assert_int_equal(vfio_kernel_parse_region(&b.info, 8, &d), -EINVAL);
}

/* Sparse areas (one of them empty) and MSIX_MAPPABLE, chained. */
static size_t build_sparse(struct ri_buf *b, uint32_t nr, bool msix)
{
	memset(b, 0, sizeof(*b));
	uint32_t off = sizeof(b->info);
	b->info = (struct vfio_region_info){
		.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
			 VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS,
		.index = 0, .cap_offset = off, .size = 0x100000,
	};
	struct vfio_region_info_cap_sparse_mmap *s = (void *)((char *)b + off);
	s->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
	s->header.version = 1;
	s->nr_areas = nr;
	uint64_t areas[][2] = { { 0, 0x2000 }, { 0x3000, 0 }, { 0x4000, 0xfc000 } };
	for (uint32_t i = 0; i < nr && i < 3; i++) {
		s->areas[i].offset = areas[i][0];
		s->areas[i].size = areas[i][1];
	}
	uint32_t end = off + (uint32_t)sizeof(*s) + nr * (uint32_t)sizeof(s->areas[0]);
	if (msix) {
		s->header.next = end;
		struct vfio_info_cap_header *h = (void *)((char *)b + end);
		h->id = VFIO_REGION_INFO_CAP_MSIX_MAPPABLE;
		h->version = 1;
		end += sizeof(*h);
	}
	b->info.argsz = end;
	return end;
}

static void test_region_sparse(void **state)
{
	(void)state;
	struct ri_buf b;
	struct vfio_region_desc d;
	size_t len = build_sparse(&b, 3, true);
	assert_int_equal(vfio_kernel_parse_region(&b.info, len, &d), 0);
	assert_int_equal(d.nareas, 2); /* the empty one is no area */
	assert_int_equal(d.areas[0].size, 0x2000);
	assert_int_equal(d.areas[1].offset, 0x4000);
	assert_int_equal(d.areas[1].size, 0xfc000);
	assert_true(d.msix_mappable);
	/* Sparse with no areas: nothing may be mapped. */
	len = build_sparse(&b, 0, false);
	assert_int_equal(vfio_kernel_parse_region(&b.info, len, &d), 0);
	assert_int_equal(d.nareas, 0);
	assert_false(d.msix_mappable);
	/* Without FLAG_MMAP the areas mean nothing. */
	len = build_sparse(&b, 3, false);
	b.info.flags &= ~VFIO_REGION_INFO_FLAG_MMAP;
	assert_int_equal(vfio_kernel_parse_region(&b.info, len, &d), 0);
	assert_int_equal(d.nareas, 0);
}

static void test_region_malformed(void **state)
{
	(void)state;
	struct ri_buf b;
	struct vfio_region_desc d;
	/* The areas run past what the kernel returned. */
	size_t len = build_sparse(&b, 3, false);
	assert_int_equal(vfio_kernel_parse_region(&b.info, len - 8, &d), -EINVAL);
	/* A capability outside the buffer, inside the struct, misaligned. */
	len = build_sparse(&b, 1, false);
	b.info.cap_offset = (uint32_t)len + 64;
	assert_int_equal(vfio_kernel_parse_region(&b.info, len, &d), -EINVAL);
	b.info.cap_offset = 8;
	assert_int_equal(vfio_kernel_parse_region(&b.info, len, &d), -EINVAL);
	b.info.cap_offset = sizeof(b.info) + 2;
	assert_int_equal(vfio_kernel_parse_region(&b.info, len, &d), -EINVAL);
	/* A chain that loops. */
	len = build_sparse(&b, 1, true);
	struct vfio_info_cap_header *h = (void *)((char *)&b + b.info.cap_offset);
	struct vfio_info_cap_header *h2 = (void *)((char *)&b + h->next);
	h2->next = b.info.cap_offset;
	assert_int_equal(vfio_kernel_parse_region(&b.info, len, &d), -EINVAL);
}

/* ---- fake sysfs trees ---- */

struct tree {
	char root[PATH_MAX / 2];
	char dev[PATH_MAX + 64];
};

static void mk(const char *p)
{
	assert_int_equal(mkdir(p, 0755), 0);
}

/* root/devices/NAME with the links given (NULL: none). */
static void tree_make(struct tree *t, const char *name, const char *subsystem,
		      const char *driver, const char *group)
{
	snprintf(t->root, sizeof(t->root), "%s/cvmm-vfio-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(t->root));
	char p[PATH_MAX + 128];
	snprintf(p, sizeof(p), "%s/devices", t->root);
	mk(p);
	snprintf(t->dev, sizeof(t->dev), "%s/devices/%s", t->root, name);
	mk(t->dev);
	const char *links[3][2] = { { "subsystem", subsystem }, { "driver", driver },
				    { "iommu_group", group } };
	for (unsigned i = 0; i < 3; i++) {
		if (!links[i][1])
			continue;
		snprintf(p, sizeof(p), "%s/%s", t->dev, links[i][0]);
		assert_int_equal(symlink(links[i][1], p), 0);
	}
}

static void tree_rm(struct tree *t)
{
	char cmd[PATH_MAX];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	assert_int_equal(system(cmd), 0);
}

/* Probes the tree's device: the error and that `why` has `needle`. */
static void expect_probe(struct tree *t, int err, const char *needle)
{
	struct vfio_sysfs_info info;
	char why[256] = "";
	assert_int_equal(vfio_kernel_probe(t->dev, &info, why, sizeof(why)), err);
	if (!strstr(why, needle))
		fail_msg("'%s' does not say '%s'", why, needle);
	assert_null(strchr(why, '\n'));
}

static void test_probe(void **state)
{
	(void)state;
	struct vfio_sysfs_info info;
	char why[256];
	assert_int_equal(vfio_kernel_probe("/nonexistent/0000:00:03.0", &info, why, sizeof(why)),
			 -ENOENT);
	assert_string_equal(why, "No such file or directory");
	/* A directory that is no device. */
	assert_int_equal(vfio_kernel_probe("/tmp", &info, why, sizeof(why)), -ENODEV);
	assert_non_null(strstr(why, "not a PCI device"));
	/* A file. */
	assert_int_equal(vfio_kernel_probe("/etc/hostname", &info, why, sizeof(why)), -ENODEV);

	struct tree t;
	tree_make(&t, "0000:01:00.0", "../../bus/usb", NULL, NULL);
	expect_probe(&t, -ENODEV, "not a PCI device");
	tree_rm(&t);
	tree_make(&t, "pci-thing", "../../bus/pci", "../../drivers/vfio-pci", "../../groups/7");
	expect_probe(&t, -ENODEV, "'pci-thing' is not a PCI address");
	tree_rm(&t);
	tree_make(&t, "0000:01:00.0", "../../bus/pci", NULL, "../../groups/7");
	expect_probe(&t, -ENODEV, "0000:01:00.0 is bound to no driver, not to vfio-pci");
	tree_rm(&t);
	tree_make(&t, "0000:01:00.0", "../../bus/pci", "../../drivers/e1000e", "../../groups/7");
	expect_probe(&t, -EBUSY, "0000:01:00.0 is bound to e1000e, not to vfio-pci");
	tree_rm(&t);
	tree_make(&t, "0000:01:00.0", "../../bus/pci", "../../drivers/vfio-pci", NULL);
	expect_probe(&t, -ENODEV, "0000:01:00.0 has no IOMMU group");
	tree_rm(&t);
	/* All sysfs says is right: then it is /dev/vfio's turn. */
	tree_make(&t, "0000:01:00.0", "../../bus/pci", "../../drivers/vfio-pci",
		  "../../kernel/iommu_groups/4242");
	if (access("/dev/vfio/vfio", R_OK | W_OK) != 0) {
		expect_probe(&t, -ENOENT, "0000:01:00.0: /dev/vfio/vfio: No such file or directory");
	} else {
		/* This host has VFIO: group 4242 is not there. */
		expect_probe(&t, -ENOENT, "0000:01:00.0: /dev/vfio/4242: ");
	}
	/* Opening it logs one line naming the path, and fails the same. */
	struct vfio_kernel *k;
	assert_int_equal(vfio_kernel_create(&k, NULL), 0);
	struct vfio_backend *b = NULL;
	tree_rm(&t);
	tree_make(&t, "0000:01:00.0", "../../bus/pci", "../../drivers/nvme", "../../groups/1");
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	assert_int_equal(vfio_kernel_open(k, t.dev, &b), -EBUSY);
	assert_int_equal(log_capture_stop(&cap), 1);
	assert_non_null(strstr(cap.text, t.dev));
	assert_non_null(strstr(cap.text, "bound to nvme"));
	assert_null(b);
	vfio_kernel_destroy(k);
	vfio_kernel_destroy(NULL);
	tree_rm(&t);
}

/* As Linux 6.1 prints it (kernel/irq/proc.c): two CPUs, IR on. */
static const char proc_interrupts[] =
	"           CPU0       CPU1       \n"
	"  0:         45          0   IO-APIC   2-edge      timer\n"
	" 16:          3          4   IO-APIC  16-fasteoi   vfio-intx(0000:00:04.0)\n"
	" 17:         10          2   IO-APIC  17-fasteoi   ehci_hcd:usb1, vfio-intx(0000:00:05.0)\n"
	" 24:          5          6  IR-PCI-MSI 65536-edge      vfio-msi[0](0000:00:04.0)\n"
	" 25:          1          2  IR-PCI-MSI 81920-edge      vfio-msix[0](0000:00:05.0)\n"
	" 26:        100          0  IR-PCI-MSI 81921-edge      vfio-msix[1](0000:00:05.0)\n"
	/* not ours: another address that starts like it, a name that
	 * only contains ours, a malformed vector */
	" 27:          9          9  IR-PCI-MSI 81922-edge      vfio-msix[2](0000:00:05.00)\n"
	" 28:          9          9  IR-PCI-MSI 81923-edge      xvfio-msix[3](0000:00:05.0)\n"
	" 29:          9          9  IR-PCI-MSI 81924-edge      vfio-msix[](0000:00:05.0)\n"
	"NMI:          0          0   Non-maskable interrupts\n"
	"LOC:       1234       5678   Local timer interrupts\n";

static void test_host_irqs_parse(void **state)
{
	(void)state;
	struct vfio_host_irqs h;
	memset(&h, 0, sizeof(h));
	vfio_host_irqs_parse(proc_interrupts, strlen(proc_interrupts), "0000:00:04.0", &h);
	assert_int_equal(h.count[VFIO_PCI_INTX_IRQ_INDEX], 7);
	assert_int_equal(h.vectors[VFIO_PCI_INTX_IRQ_INDEX], 1);
	assert_false(h.intx_shared);
	assert_int_equal(h.count[VFIO_PCI_MSI_IRQ_INDEX], 11);
	assert_int_equal(h.vectors[VFIO_PCI_MSI_IRQ_INDEX], 1);
	assert_int_equal(h.count[VFIO_PCI_MSIX_IRQ_INDEX], 0);
	assert_int_equal(h.vectors[VFIO_PCI_MSIX_IRQ_INDEX], 0);
	memset(&h, 0, sizeof(h));
	vfio_host_irqs_parse(proc_interrupts, strlen(proc_interrupts), "0000:00:05.0", &h);
	/* INTx shares IRQ 17 with ehci: its count includes ehci's. */
	assert_int_equal(h.count[VFIO_PCI_INTX_IRQ_INDEX], 12);
	assert_true(h.intx_shared);
	assert_int_equal(h.count[VFIO_PCI_MSI_IRQ_INDEX], 0);
	assert_int_equal(h.count[VFIO_PCI_MSIX_IRQ_INDEX], 103);
	assert_int_equal(h.vectors[VFIO_PCI_MSIX_IRQ_INDEX], 2);
	/* A line cut short (no newline) is not counted. */
	memset(&h, 0, sizeof(h));
	vfio_host_irqs_parse(proc_interrupts, strstr(proc_interrupts, " 26:") +
			     strlen(" 26:          100          0  IR") - proc_interrupts,
			     "0000:00:05.0", &h);
	assert_int_equal(h.count[VFIO_PCI_MSIX_IRQ_INDEX], 3);
	/* Nothing for a device with no line. */
	memset(&h, 0, sizeof(h));
	vfio_host_irqs_parse(proc_interrupts, strlen(proc_interrupts), "0000:00:06.0", &h);
	for (unsigned k = 0; k < VFIO_HOST_IRQ_KINDS; k++)
		assert_int_equal(h.count[k] + h.vectors[k], 0);
}

/* From a file, through vfio_kernel_create's path: bigger than one read. */
static void test_host_irqs_file(void **state)
{
	(void)state;
	char path[] = "/tmp/cvmm-interrupts-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	for (unsigned i = 0; i < 4000; i++)
		fprintf(f, "%4u:          1          1  IR-PCI-MSI %u-edge      eth0-rx-%u\n",
			100 + i, i, i);
	fprintf(f, "9999:   4000000000 4000000000  IR-PCI-MSI 1-edge      vfio-msix[7](0000:00:04.0)\n");
	assert_int_equal(fclose(f), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct vfio_host_irqs h;
	for (int pass = 0; pass < 2; pass++) { /* read again: from the start */
		assert_int_equal(vfio_host_irqs_read(fd, "0000:00:04.0", &h), 0);
		assert_int_equal(h.count[VFIO_PCI_MSIX_IRQ_INDEX], 8000000000ULL);
		assert_int_equal(h.vectors[VFIO_PCI_MSIX_IRQ_INDEX], 1);
	}
	close(fd);
	/* Not a readable file: read's errno. */
	assert_int_equal(vfio_host_irqs_read(-1, "0000:00:04.0", &h), -EBADF);
	/* vfio_kernel_create opens the path it is given; a missing one is
	 * one warning, not a failure (nothing is counted then). */
	struct vfio_kernel *k = NULL;
	assert_int_equal(vfio_kernel_create(&k, path), 0);
	vfio_kernel_destroy(k);
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	assert_int_equal(vfio_kernel_create(&k, "/nonexistent/interrupts"), 0);
	assert_int_equal(log_capture_stop(&cap), 1);
	assert_non_null(strstr(cap.text, "/nonexistent/interrupts"));
	assert_non_null(strstr(cap.text, "not counted"));
	vfio_kernel_destroy(k);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_region_plain),
		cmocka_unit_test(test_region_sparse),
		cmocka_unit_test(test_region_malformed),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_host_irqs_parse),
		cmocka_unit_test(test_host_irqs_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
