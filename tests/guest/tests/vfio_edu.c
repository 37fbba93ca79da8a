/* SPDX-License-Identifier: MIT */
/*
 * vfio_edu: a driver for QEMU's "edu" teaching device (1234:11e8, QEMU's
 * docs/specs/edu.rst) behind cvmm's device passthrough: the real edu of a
 * QEMU passed through kernel VFIO (the nested rig), or cvmm's own
 * tests/vfio-user/edu-server (--user-device). Its mandatory checks use
 * only what real edu has:
 *
 *   - the function on bus 0 (CF8/CFC), BAR0 a memory BAR of at least
 *     1 MiB; memory decoding and bus mastering on;
 *   - identification (0x00: 0xRRrr00ed), liveness (0x04 reads the inverse
 *     of what was written);
 *   - factorial (0x08, polled on status bit 0): 10! and 12!, then 5! with
 *     the interrupt bit (status 0x80): an interrupt with status 0x01;
 *   - interrupts: raised through 0x60, seen in 0x24, acknowledged through
 *     0x64 (which must clear them), delivered by MSI-X when the function
 *     has the capability (edu-server; QEMU's edu does not), else MSI
 *     (edu's capability), else INTx (IOAPIC, level); irq=msix|msi|intx on
 *     the command line forces one;
 *   - DMA both ways through edu's 4 KiB buffer at 0x40000, with a pattern:
 *     4095 bytes RAM -> edu -> RAM (QEMU 7.2's edu aborts QEMU on a
 *     transfer that reaches the buffer's last byte), and 100 bytes at an
 *     offset, the last transfer raising interrupt 0x100. Buffers lie below
 *     256 MiB (edu's 28-bit DMA mask).
 *
 * With MSI-X it also masks the vector: a raise must wait until it is
 * unmasked. With msix_vec=N (edu-server --msix-vectors M, M > N; real edu
 * has no MSI-X) it also uses MSI-X table entry N: edu-server's register
 * 0x70 raises status 0x200 on vector N, which must arrive on N's own IDT
 * vector; masked, it must be held, shown in the PBA (word N / 64), and
 * delivered on unmask.
 *
 * At the end it prints how many interrupts it caused (raises, the
 * factorial's and the DMA's: what the host counts for the device), and
 * with hold=1 then waits (up to 60 s) with its interrupts off, printing
 * "holding for the host": the nested rig reads cvmm's vm.counters then,
 * which must count as many, and ends cvmm with SIGTERM (exit status 0).
 *
 * With reboot=1 it runs twice, with a reboot through the API in between
 * (the host waits for "waiting for a reboot" and sends vm.reboot). RAM is
 * cleared by a reboot, CMOS RAM is not: the first pass notes itself and
 * BAR0's address in CMOS bytes 0x48-0x4c. The first pass runs the checks,
 * then leaves the device as no firmware would: factorial 7 (5040) in its
 * register, interrupt 0x40000 raised and not acknowledged (interrupts off
 * in the CPU), its interrupts, decoding and bus mastering on and BAR0
 * moved 16 MiB up; and waits. The second pass checks what cvmm's reset
 * must give back whatever the device can do: the command register and
 * BAR0 as at the first boot (bus mastering off), MSI and MSI-X off; reports whether the
 * device's own registers were reset (edu-server: DEVICE_RESET) or kept
 * (QEMU's edu has no reset VFIO can use); acknowledges what is left and
 * runs every check again. And it tries BAR0's upper half: edu-server maps a scratch
 * window there (writes read back), real edu decodes nothing (all-ones);
 * either is reported, neither is an error.
 */
#include "pci.h"

const char test_name[] = "vfio_edu";

#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11e8
#define EDU_ID 0x00
#define EDU_LIVENESS 0x04
#define EDU_FACT 0x08
#define EDU_STATUS 0x20
#define EDU_IRQ_STATUS 0x24
#define EDU_IRQ_RAISE 0x60
#define EDU_IRQ_ACK 0x64
#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_CNT 0x90
#define EDU_DMA_CMD 0x98
#define EDU_BUF 0x40000u
#define EDU_BUF_SIZE 4096u
#define EDU_ST_COMPUTING 0x01u
#define EDU_ST_IRQFACT 0x80u
#define EDU_DMA_START 0x1u
#define EDU_DMA_TO_RAM 0x2u
#define EDU_DMA_IRQ 0x4u

#define VEC_EDU0 0x50 /* MSI, MSI-X entry 0 */
#define VEC_EDU1 0x51 /* MSI-X entry 1 */
#define VEC_EDU_N 0x52 /* MSI-X entry N (msix_vec=N) */
#define EDU_RAISE_VECTOR 0x70 /* edu-server only: raise 0x200 on MSI-X vector V */

enum mode { MODE_MSIX, MODE_MSI, MODE_INTX };

/* CMOS RAM survives a reboot (RAM does not): reboot=1's notes. */
#define CMOS_PASS 0x48 /* PASS1_DONE: the first pass is over */
#define CMOS_BAR0 0x49 /* 4 bytes: BAR0 at the first boot */
#define CMOS_CMD 0x4d  /* 2 bytes: the command register at the first boot */
#define PASS1_DONE 0xed
#define LEFT_IRQ 0x40000u /* raised before the reboot, not acknowledged */

static struct pci_dev devs[32];
static struct pci_dev *edu;
static u64 bar;
static u16 boot_cmd; /* the command register as the guest found it */
static enum mode mode;

static u8 src[EDU_BUF_SIZE] __aligned(4096);
static u8 dst[EDU_BUF_SIZE] __aligned(4096);

/* What the interrupt handler saw. */
static volatile u32 irqs, irqs_vec1, irqs_vec_n, status_seen, spurious;
/* Interrupts this guest made the device raise. */
static u32 caused;

static u32 rd(u32 off) { return mmio_read32(bar + off); }
static void wr(u32 off, u32 v) { mmio_write32(bar + off, v); }

static const char *mode_name(enum mode m)
{
	return m == MODE_MSIX ? "MSI-X" : m == MODE_MSI ? "MSI" : "INTx";
}

/* Every kind: the status read, acknowledged (edu wants it with MSI too). */
static void edu_irq(struct trap_frame *tf)
{
	u32 st = rd(EDU_IRQ_STATUS);
	if (!st) {
		spurious++; /* INTx delivered twice on this host: see README */
		return;
	}
	wr(EDU_IRQ_ACK, st);
	status_seen |= st;
	irqs++;
	if (tf->vector == VEC_EDU1)
		irqs_vec1++;
	if (tf->vector == VEC_EDU_N)
		irqs_vec_n++;
}

/* Waits until the interrupt count passes `before`: true if it did. */
static bool wait_irq(u32 before, u64 ms)
{
	u64 end = rdtsc() + ms_to_tsc(ms);
	while (READ_ONCE(irqs) == before && rdtsc() < end)
		cpu_relax();
	return READ_ONCE(irqs) != before;
}

/* Waits until (reg & mask) == 0: true if it did. */
static bool wait_clear(u32 reg, u32 mask, u64 ms)
{
	u64 end = rdtsc() + ms_to_tsc(ms);
	while ((rd(reg) & mask) && rdtsc() < end)
		cpu_relax();
	return !(rd(reg) & mask);
}

static void find_edu(void)
{
	int n = pci_scan_bus0(PCI_MECH_CF8, devs, 32);
	CHECK(3, n > 0, "PCI bus 0: scan failed (%d)", n);
	for (int i = 0; i < n; i++)
		if (devs[i].vendor == EDU_VENDOR && devs[i].device == EDU_DEVICE)
			edu = &devs[i];
	CHECK(4, edu, "no %04x:%04x function on bus 0 (%d functions)", EDU_VENDOR, EDU_DEVICE, n);
	const struct pci_bar_info *b = &edu->bar[0];
	printf("vfio_edu: %04x:%04x at 00:%02x.%x, revision 0x%02x, class 0x%06x, BAR0 0x%lx size 0x%lx (%s), pin %u line %u, MSI %s, MSI-X %u entries\n",
	       edu->vendor, edu->device, edu->slot, edu->fn, edu->revision, edu->class_code, b->addr,
	       b->size, b->kind == PCI_BAR_MEM64 ? "mem64" : b->kind == PCI_BAR_MEM32 ? "mem32" : "?",
	       edu->irq_pin, edu->irq_line, edu->msi_cap ? "yes" : "no",
	       edu->msix_cap ? edu->msix_size : 0);
	CHECK(5, (b->kind == PCI_BAR_MEM32 || b->kind == PCI_BAR_MEM64) && b->size >= (1u << 20) &&
		 b->addr && b->addr + b->size <= (4ULL << 30),
	      "BAR0 unusable: kind %d addr 0x%lx size 0x%lx", b->kind, b->addr, b->size);
	bar = b->addr;
	boot_cmd = pci_read16(edu, PCI_COMMAND);
}

static u8 cmos_read(u8 idx)
{
	outb(0x70, idx);
	return inb(0x71);
}

static void cmos_write(u8 idx, u8 v)
{
	outb(0x70, idx);
	outb(0x71, v);
}

/* The first pass's end with reboot=1: the device left dirty, then wait. */
static void before_reboot(void)
{
	for (u32 i = 0; i < 4; i++)
		cmos_write((u8)(CMOS_BAR0 + i), (u8)(bar >> (8 * i)));
	cmos_write(CMOS_CMD, (u8)boot_cmd);
	cmos_write(CMOS_CMD + 1, (u8)(boot_cmd >> 8));
	cmos_write(CMOS_PASS, PASS1_DONE);
	wr(EDU_FACT, 7);
	CHECK(27, wait_clear(EDU_STATUS, EDU_ST_COMPUTING, 3000), "factorial of 7: still computing");
	cli();
	wr(EDU_IRQ_RAISE, LEFT_IRQ);
	pci_write32(edu, PCI_BAR0, pci_read32(edu, PCI_BAR0) + 0x1000000);
	printf("vfio_edu: pass 1 done: edu left with factorial %u, interrupt 0x%x raised and not acknowledged, %s on, BAR0 moved to 0x%x; waiting for a reboot\n",
	       5040, LEFT_IRQ, mode_name(mode), pci_read32(edu, PCI_BAR0) & ~0xfu);
	mdelay(60000);
	fail(28, "no reboot within 60 s of 'waiting for a reboot'");
}

/* The second pass's start: what cvmm's reset gave back. */
static void after_reboot(void)
{
	u32 was = 0;
	for (u32 i = 0; i < 4; i++)
		was |= (u32)cmos_read((u8)(CMOS_BAR0 + i)) << (8 * i);
	u16 was_cmd = (u16)(cmos_read(CMOS_CMD) | cmos_read(CMOS_CMD + 1) << 8);
	cmos_write(CMOS_PASS, 0);
	/* As cvmm built it (memory decoding on, as firmware leaves it; bus
	 * mastering off), whatever the first pass left. */
	u16 cmd = boot_cmd;
	CHECK(30, cmd == was_cmd && !(cmd & 0x4),
	      "after the reboot: command 0x%04x, 0x%04x at the first boot", cmd, was_cmd);
	if (edu->msi_cap) {
		u16 c = pci_read16(edu, (u16)(edu->msi_cap + 2));
		CHECK(31, !(c & 1), "after the reboot: MSI enabled (control 0x%04x)", c);
	}
	if (edu->msix_cap)
		CHECK(31, !(pci_msix_ctrl(edu) & 0x8000), "after the reboot: MSI-X enabled");
	CHECK(32, (u32)bar == was, "after the reboot: BAR0 at 0x%lx, 0x%x at the first boot", bar, was);
	pci_enable(edu);
	u32 fact = rd(EDU_FACT), st = rd(EDU_IRQ_STATUS);
	bool kept = fact == 5040 || (st & LEFT_IRQ);
	printf("vfio_edu: after the reboot: command 0x%04x and BAR0 0x%lx as at the first boot, MSI%s off; edu's own registers %s (factorial %u, interrupt status 0x%x)\n",
	       cmd, bar, edu->msix_cap ? " and MSI-X" : "",
	       kept ? "kept (the device was not reset)" : "reset", fact, st);
	if (st)
		wr(EDU_IRQ_ACK, st);
	CHECK(33, rd(EDU_IRQ_STATUS) == 0, "after the reboot: interrupt status 0x%x after acknowledging",
	      rd(EDU_IRQ_STATUS));
}

static void registers(void)
{
	u32 id = rd(EDU_ID);
	CHECK(6, (id & 0xff) == 0xed, "identification 0x%08x, expected 0xRRrr00ed", id);
	printf("vfio_edu: identification 0x%08x: edu %u.%u\n", id, id >> 24, (id >> 16) & 0xff);
	static const u32 live[] = { 0x12345678, 0, 0xa5a5a5a5, 0xffffffff };
	for (u32 i = 0; i < ARRAY_SIZE(live); i++) {
		wr(EDU_LIVENESS, live[i]);
		u32 v = rd(EDU_LIVENESS);
		CHECK(7, v == ~live[i], "liveness: wrote 0x%08x, read 0x%08x", live[i], v);
	}
	static const struct { u32 n, f; } fact[] = { { 10, 3628800 }, { 12, 479001600 }, { 1, 1 } };
	for (u32 i = 0; i < ARRAY_SIZE(fact); i++) {
		wr(EDU_FACT, fact[i].n);
		CHECK(8, wait_clear(EDU_STATUS, EDU_ST_COMPUTING, 3000), "factorial of %u: still computing",
		      fact[i].n);
		u32 v = rd(EDU_FACT);
		CHECK(9, v == fact[i].f, "factorial of %u: %u, expected %u", fact[i].n, v, fact[i].f);
	}
	printf("vfio_edu: liveness and factorial ok\n");
}

static enum mode pick_mode(const struct boot_info *bi)
{
	char arg[8];
	if (cmdline_get(bi->cmdline, "irq", arg, sizeof(arg))) {
		enum mode m = !strcmp(arg, "msix") ? MODE_MSIX : !strcmp(arg, "msi") ? MODE_MSI : MODE_INTX;
		CHECK(10, m != MODE_MSIX || edu->msix_cap, "irq=msix: no MSI-X capability");
		CHECK(10, m != MODE_MSI || edu->msi_cap, "irq=msi: no MSI capability");
		return m;
	}
	return edu->msix_cap ? MODE_MSIX : edu->msi_cap ? MODE_MSI : MODE_INTX;
}

static void irq_setup(void)
{
	set_irq_handler(VEC_EDU0, edu_irq);
	set_irq_handler(VEC_EDU1, edu_irq);
	if (edu->msix_cap)
		pci_msix_enable(edu, false);
	if (edu->msi_cap)
		pci_msi_enable(edu, false);
	switch (mode) {
	case MODE_MSIX:
		pci_intx_enable(edu, false);
		pci_msix_mask_all(edu, true);
		pci_msix_enable(edu, true);
		for (u16 n = 0; n < edu->msix_size && n < 2; n++)
			pci_msix_set(edu, n, lapic_id(), n ? VEC_EDU1 : VEC_EDU0, false);
		pci_msix_mask_all(edu, false);
		break;
	case MODE_MSI:
		pci_intx_enable(edu, false);
		pci_msi_set(edu, lapic_id(), VEC_EDU0);
		pci_msi_enable(edu, true);
		break;
	case MODE_INTX: {
		u8 line = edu->irq_line;
		CHECK(11, edu->irq_pin && line < ioapic_max_pins(), "INTx: pin %u line %u unusable",
		      edu->irq_pin, line);
		set_irq_handler((u8)(VEC_IRQ_BASE + line), edu_irq);
		ioapic_route(line, (u8)(VEC_IRQ_BASE + line), lapic_id(), true);
		pci_intx_enable(edu, true);
		break;
	}
	}
	printf("vfio_edu: interrupts by %s\n", mode_name(mode));
}

static void interrupts(void)
{
	/* Raised by hand: seen, acknowledged, cleared. */
	u32 before = irqs;
	status_seen = 0;
	caused++;
	wr(EDU_IRQ_RAISE, 0x1234);
	CHECK(12, wait_irq(before, 3000), "%s: no interrupt after a raise (status 0x%x)",
	      mode_name(mode), rd(EDU_IRQ_STATUS));
	CHECK(13, (status_seen & 0x1234) == 0x1234, "raise 0x1234: the handler saw 0x%x", status_seen);
	CHECK(14, rd(EDU_IRQ_STATUS) == 0, "after the acknowledgement status 0x%x",
	      rd(EDU_IRQ_STATUS));
	/* Factorial with the interrupt bit. */
	before = irqs;
	status_seen = 0;
	wr(EDU_STATUS, EDU_ST_IRQFACT);
	caused++;
	wr(EDU_FACT, 5);
	CHECK(15, wait_irq(before, 3000), "no interrupt after a factorial with status 0x80");
	CHECK(16, status_seen & 0x1, "factorial interrupt: status 0x%x", status_seen);
	CHECK(17, rd(EDU_FACT) == 120, "5! = %u", rd(EDU_FACT));
	wr(EDU_STATUS, 0);
	printf("vfio_edu: %s interrupts ok (%u so far, %u spurious)\n", mode_name(mode), irqs,
	       spurious);

	if (mode != MODE_MSIX)
		return;
	/* A masked vector holds its message until unmasked. */
	pci_msix_mask(edu, 0, true);
	before = irqs;
	caused++;
	wr(EDU_IRQ_RAISE, 0x8);
	mdelay(50);
	CHECK(18, irqs == before, "MSI-X: interrupt delivered through a masked vector");
	bool pending = pci_msix_pending(edu, 0);
	pci_msix_mask(edu, 0, false);
	CHECK(19, wait_irq(before, 3000), "MSI-X: nothing delivered after unmasking");
	printf("vfio_edu: MSI-X masked vector held its message (pending bit %s), delivered on unmask\n",
	       pending ? "set" : "not set");
}

/* MSI-X table entry n (msix_vec=n): delivered on its own vector, held
 * while masked with its pending bit set, delivered on unmask. */
static void high_vector(u16 n)
{
	CHECK(35, n < edu->msix_size, "msix_vec=%u: the table has %u entries", n, edu->msix_size);
	set_irq_handler(VEC_EDU_N, edu_irq);
	pci_msix_set(edu, n, lapic_id(), VEC_EDU_N, false);
	u32 before = irqs, before_n = irqs_vec_n;
	status_seen = 0;
	caused++;
	wr(EDU_RAISE_VECTOR, n);
	CHECK(36, wait_irq(before, 3000), "MSI-X entry %u: no interrupt after a raise on it", n);
	CHECK(36, irqs_vec_n == before_n + 1 && (status_seen & 0x200),
	      "MSI-X entry %u: the interrupt came on another vector (status 0x%x)", n, status_seen);
	pci_msix_mask(edu, n, true);
	before = irqs;
	caused++;
	wr(EDU_RAISE_VECTOR, n);
	mdelay(50);
	CHECK(37, irqs == before, "MSI-X entry %u: interrupt delivered through the masked entry", n);
	CHECK(37, pci_msix_pending(edu, n), "MSI-X entry %u: masked and raised, its pending bit is clear", n);
	pci_msix_mask(edu, n, false);
	CHECK(38, wait_irq(before, 3000), "MSI-X entry %u: nothing delivered after unmasking", n);
	CHECK(38, irqs_vec_n == before_n + 2, "MSI-X entry %u: the held interrupt came on another vector", n);
	CHECK(38, !pci_msix_pending(edu, n), "MSI-X entry %u: pending bit still set after delivery", n);
	printf("vfio_edu: MSI-X entry %u of %u: interrupt delivered on its vector; masked: held (pending bit set in PBA word %u), delivered on unmask\n",
	       n, edu->msix_size, n / 64);
}

static void dma(u32 buf_off, u32 len, u32 ram_off, bool irq)
{
	/* RAM -> edu */
	wr(EDU_DMA_SRC, (u32)(uintptr_t)(src + ram_off));
	wr(EDU_DMA_DST, EDU_BUF + buf_off);
	wr(EDU_DMA_CNT, len);
	wr(EDU_DMA_CMD, EDU_DMA_START);
	CHECK(20, wait_clear(EDU_DMA_CMD, EDU_DMA_START, 3000), "DMA to edu: not done");
	/* edu -> RAM */
	u32 before = irqs;
	status_seen = 0;
	wr(EDU_DMA_SRC, EDU_BUF + buf_off);
	wr(EDU_DMA_DST, (u32)(uintptr_t)(dst + ram_off));
	wr(EDU_DMA_CNT, len);
	caused += irq;
	wr(EDU_DMA_CMD, EDU_DMA_START | EDU_DMA_TO_RAM | (irq ? EDU_DMA_IRQ : 0));
	CHECK(21, wait_clear(EDU_DMA_CMD, EDU_DMA_START, 3000), "DMA to RAM: not done");
	if (irq) {
		CHECK(22, wait_irq(before, 3000), "no interrupt after a DMA with 0x4");
		CHECK(23, status_seen & 0x100, "DMA interrupt: status 0x%x", status_seen);
	}
	for (u32 i = 0; i < len; i++)
		CHECK(24, dst[ram_off + i] == src[ram_off + i],
		      "DMA of %u bytes (buffer +0x%x, RAM +0x%x): byte %u is 0x%02x, sent 0x%02x", len,
		      buf_off, ram_off, i, dst[ram_off + i], src[ram_off + i]);
}

static void dmas(void)
{
	CHECK(25, (uintptr_t)(dst + sizeof(dst)) <= (256u << 20), "buffers above edu's 28-bit DMA mask");
	u32 x = 0x2545f491;
	for (u32 i = 0; i < sizeof(src); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		src[i] = (u8)x;
	}
	memset(dst, 0, sizeof(dst));
	dma(0, EDU_BUF_SIZE - 1, 0, false);
	memset(dst, 0, sizeof(dst));
	u32 before = irqs_vec1;
	dma(0x100, 100, 0x321, true);
	for (u32 i = 0; i < 0x321; i++)
		CHECK(26, dst[i] == 0, "DMA wrote before its destination (byte %u)", i);
	CHECK(26, dst[0x321 + 100] == 0, "DMA wrote past its destination");
	printf("vfio_edu: DMA both ways ok (%u bytes, then 100 at an offset; completion interrupt%s)\n", EDU_BUF_SIZE - 1,
	       mode == MODE_MSIX ? (irqs_vec1 != before ? " on MSI-X entry 1" : " on MSI-X entry 0") : "");
}

/* BAR0's upper half: edu-server's scratch window, or nothing (real edu). */
static void window(void)
{
	u64 w = bar + 0x80000;
	for (u32 i = 0; i < 16; i++)
		mmio_write32(w + 4 * i, 0x5ca7c400 + i);
	bool same = true;
	for (u32 i = 0; i < 16; i++)
		same &= mmio_read32(w + 4 * i) == 0x5ca7c400 + i;
	printf("vfio_edu: BAR0 upper half: %s\n",
	       same ? "a scratch window (writes read back)" : "nothing decoded (edu)");
}

int test_main(struct boot_info *bi)
{
	pic_disable();
	lapic_init();
	ioapic_init();
	pci_init(bi);
	sti();
	char arg[4];
	bool reboot = cmdline_get(bi->cmdline, "reboot", arg, sizeof(arg)) && arg[0] == '1';
	bool pass2 = reboot && cmos_read(CMOS_PASS) == PASS1_DONE;
	if (reboot)
		printf("vfio_edu: reboot=1, pass %u\n", pass2 ? 2 : 1);
	find_edu();
	if (pass2)
		after_reboot();
	else
		pci_enable(edu);
	registers();
	mode = pick_mode(bi);
	irq_setup();
	interrupts();
	u64 vec_n;
	if (cmdline_get_u64(bi->cmdline, "msix_vec", &vec_n)) {
		CHECK(35, mode == MODE_MSIX && vec_n < 2048, "msix_vec=%lu: needs MSI-X", vec_n);
		high_vector((u16)vec_n);
	}
	dmas();
	window();
	if (reboot && !pass2)
		before_reboot();
	if (pass2)
		printf("vfio_edu: pass 2 after the reboot ok\n");
	if (mode == MODE_MSIX)
		pci_msix_enable(edu, false);
	else if (mode == MODE_MSI)
		pci_msi_enable(edu, false);
	else
		pci_intx_enable(edu, false);
	printf("vfio_edu: %u interrupts caused by %s (%u handled, %u spurious)\n", caused,
	       mode_name(mode), irqs, spurious);
	if (cmdline_get(bi->cmdline, "hold", arg, sizeof(arg)) && arg[0] == '1') {
		printf("vfio_edu: all checks passed; holding for the host\n");
		mdelay(60000);
		fail(34, "hold=1: not ended within 60 s of 'holding for the host'");
	}
	return 0;
}
