/* SPDX-License-Identifier: MIT */
/*
 * bench_vfio: benchmark guest (bench/vfio.sh, the nested rig's vfio-bench
 * part), not a test case. It finds QEMU's edu device (1234:11e8) behind
 * cvmm's passthrough and measures with the TSC:
 *
 *   - a 4-byte read of guest RAM (the floor), of BAR0 + 0x0 (edu's identification register) and of
 *     BAR0 + 0x80000 (edu-server's scratch window; nothing decoded on real
 *     edu), n=N reads per batch (default 2000), reps=R batches (default
 *     9): cycles per read, the median and the least batch. Whether each
 *     is trapped or mapped is the VMM's doing: edu-server maps its upper
 *     half and traps the registers; kernel VFIO maps all of BAR0 unless
 *     --device ...,mmap=off;
 *   - interrupt latency, irqs=K times (default 200): rdtsc, a write of 1
 *     to edu's raise register (0x60), rdtsc again in the handler (MSI-X
 *     when the function has it, else MSI); the median and the least. The
 *     handler then reads the status (0x24) and acknowledges it (0x64),
 *     outside the measured span. It includes the raise write's own path.
 *
 * Prints "bench_vfio: ..." lines with cycles and, from the TSC rate,
 * nanoseconds (microseconds from 10 us on), with one decimal.
 */
#include "pci.h"

const char test_name[] = "bench_vfio";

#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11e8
#define EDU_IRQ_STATUS 0x24
#define EDU_IRQ_RAISE 0x60
#define EDU_IRQ_ACK 0x64
#define VEC 0x50
#define MAX_REPS 64
#define MAX_IRQS 4096

static struct pci_dev devs[32];
static struct pci_dev *edu;
static u64 bar;
static volatile u64 t_irq;
static volatile u32 nirq;
static u64 lat[MAX_IRQS];

static void edu_irq(struct trap_frame *tf)
{
	(void)tf;
	t_irq = rdtsc();
	u32 st = mmio_read32(bar + EDU_IRQ_STATUS);
	mmio_write32(bar + EDU_IRQ_ACK, st);
	nirq++;
}

static void sort(u64 *v, u32 n)
{
	for (u32 i = 1; i < n; i++)
		for (u32 j = i; j && v[j - 1] > v[j]; j--) {
			u64 t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

/* "X.Y ns" (or "X.Y us" from 10 us on) of c cycles, into buf. */
static const char *ns(u64 c, char *buf)
{
	u64 t = tsc_khz ? c * 10000000 / tsc_khz : 0; /* tenths of ns */
	if (t >= 100000)
		snprintf(buf, 32, "%lu.%lu us", t / 10000, t / 1000 % 10);
	else
		snprintf(buf, 32, "%lu.%lu ns", t / 10, t % 10);
	return buf;
}

static u32 ram_word[16];

/* n reads of `addr` per batch; off only labels it. */
static void reads_at(const char *what, u64 addr, u64 n, u32 reps)
{
	u64 per[MAX_REPS];
	u32 v = 0;
	for (u32 r = 0; r < reps; r++) {
		u64 t0 = rdtsc();
		for (u64 i = 0; i < n; i++)
			v = mmio_read32(addr);
		per[r] = (rdtsc() - t0) / n;
	}
	sort(per, reps);
	char a[32], b[32];
	printf("bench_vfio: read %s: median %lu cycles (%s), least %lu (%s); %lu reads x %u (read 0x%08x)\n",
	       what, per[reps / 2], ns(per[reps / 2], a), per[0], ns(per[0], b), n, reps, v);
}

static void irq_latency(u32 k)
{
	set_irq_handler(VEC, edu_irq);
	pci_intx_enable(edu, false);
	const char *kind;
	if (edu->msix_cap) {
		pci_msix_mask_all(edu, true);
		pci_msix_enable(edu, true);
		pci_msix_set(edu, 0, lapic_id(), VEC, false);
		pci_msix_mask_all(edu, false);
		kind = "MSI-X";
	} else {
		CHECK(5, edu->msi_cap, "edu has neither MSI-X nor MSI");
		pci_msi_set(edu, lapic_id(), VEC);
		pci_msi_enable(edu, true);
		kind = "MSI";
	}
	u32 got = 0;
	for (u32 i = 0; i < k; i++) {
		u32 before = nirq;
		u64 t0 = rdtsc(), end = t0 + ms_to_tsc(1000);
		mmio_write32(bar + EDU_IRQ_RAISE, 1);
		while (nirq == before && rdtsc() < end)
			cpu_relax();
		if (nirq == before)
			continue;
		lat[got++] = t_irq - t0;
	}
	CHECK(6, got, "%s: no interrupt arrived", kind);
	sort(lat, got);
	char a[32], b[32], c[32];
	printf("bench_vfio: interrupt (%s) raise -> handler: median %lu cycles (%s), least %lu (%s), 90th %lu (%s); %u of %u arrived\n",
	       kind, lat[got / 2], ns(lat[got / 2], a), lat[0], ns(lat[0], b), lat[got * 9 / 10],
	       ns(lat[got * 9 / 10], c), got, k);
	if (edu->msix_cap)
		pci_msix_enable(edu, false);
	else
		pci_msi_enable(edu, false);
}

int test_main(struct boot_info *bi)
{
	u64 n = 2000, reps = 9, k = 200;
	cmdline_get_u64(bi->cmdline, "n", &n);
	cmdline_get_u64(bi->cmdline, "reps", &reps);
	cmdline_get_u64(bi->cmdline, "irqs", &k);
	if (!n)
		n = 1;
	if (!reps || reps > MAX_REPS)
		reps = 9;
	if (k > MAX_IRQS)
		k = MAX_IRQS;
	pic_disable();
	lapic_init();
	pci_init(bi);
	sti();
	int nd = pci_scan_bus0(PCI_MECH_CF8, devs, 32);
	for (int i = 0; i < nd; i++)
		if (devs[i].vendor == EDU_VENDOR && devs[i].device == EDU_DEVICE)
			edu = &devs[i];
	CHECK(3, edu, "no edu function on bus 0");
	CHECK(4, edu->bar[0].size >= (1u << 20), "BAR0 of 0x%lx bytes", edu->bar[0].size);
	bar = edu->bar[0].addr;
	pci_enable(edu);
	printf("bench_vfio: edu at 00:%02x.%x, BAR0 0x%lx, TSC %lu kHz\n", edu->slot, edu->fn, bar,
	       tsc_khz);
	ram_word[3] = 0x5a5a5a5a;
	reads_at("guest RAM", (u64)(uintptr_t)&ram_word[3], n, (u32)reps);
	reads_at("BAR0+0x00000", bar, n, (u32)reps);
	reads_at("BAR0+0x80000", bar + 0x80000, n, (u32)reps);
	irq_latency((u32)k);
	return 0;
}
