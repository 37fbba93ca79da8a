/* SPDX-License-Identifier: MIT */
/*
 * api_counter: counts forever, printing "tick N" on the serial port every
 * period_ms (command line, default 20 ms). Never exits by itself: the API
 * tests (tests/api-test.sh) pause, resume, reboot and stop it through the
 * API and watch the ticks stop, go on, and start again from 0.
 *
 * With aps=1 on the command line it first starts every AP the MADT lists
 * (INIT/SIPI) and prints "api_counter: N CPUs online": after a reboot the
 * APs must come up again, which needs them reset to their power-on state.
 *
 * With console=1 it first prints the virtio-console function's config
 * space as it finds it ("api_counter: console at boot: ..."), drives the
 * device (MSI-X, receive buffers posted, receiveq polled), prints
 * "api_counter: console ready", and at every tick prints each line that
 * arrived ("api_counter: console got 'TEXT'"). scramble=1 then leaves the
 * function as no firmware would (BAR 0 moved, MSI-X function-masked, INTx
 * disabled, latency timer set): after a reboot the "at boot" line must
 * read as it did the first time.
 *
 * With churn=1 it drives the virtio-rng device through a whole driver
 * session at every tick (reset, negotiation, queue set-up, DRIVER_OK, one
 * polled request, reset), so that device threads start and stop all the
 * time while the API pauses and resumes the VM; every 10 sessions it
 * prints "api_counter: rng churn N".
 *
 * With console=1 flood=1 it also sends a 256-byte line on the console's
 * transmitq at every tick (polled, waiting for each to complete): with
 * period_ms=0 that floods the console output, as period_ms=0 alone floods
 * the serial port (the stalled-output tests).
 *
 * With disk=1 it first writes "cvmm-flush-test " 32 times into sector 0 of
 * the virtio-blk disk (polled, no FLUSH request) and prints "api_counter:
 * disk written": vm.shutdown must leave those bytes in the image, flushed.
 *
 * With ramcheck=ADDR it first looks at 16 bytes of RAM at ADDR (below
 * 1 GiB, away from the image): "api_counter: RAM clean" when they are all
 * zero, else "api_counter: RAM dirty", then writes a marker there: after a
 * reboot, RAM must be clean again (the shared-memory cases).
 */
#include "virtio.h"

const char test_name[] = "api_counter";

#define RXBUFS 4
#define RXLEN 64

static struct virtio_dev vd;
static u8 rxbuf[RXBUFS][RXLEN];
static struct virtio_dev rng;
static u8 rngbuf[16];
static struct virtio_dev blkdev;
static u8 sector0[512];

/* Sector 0 of the disk := "cvmm-flush-test " x 32, without a FLUSH. */
static void disk_write(void)
{
	static const char text[] = "cvmm-flush-test ";
	int r = virtio_find(PCI_MECH_CF8, VIRTIO_ID_BLOCK, 0, &blkdev);
	CHECK(13, r == 0, "no virtio-blk device (%d)", r);
	r = virtio_init(&blkdev, 0, VIRTIO_IRQ_NONE, 1, 16);
	CHECK(14, r == 0, "virtio-blk init: %s", virtio_strerror(r));
	virtq_set_poll(&blkdev.vq[0], true);
	for (u32 i = 0; i < sizeof(sector0); i++)
		sector0[i] = (u8)text[i % (sizeof(text) - 1)];
	u8 st = 0xff;
	u32 used = 0;
	r = virtio_blk_request(&blkdev.vq[0], VIRTIO_BLK_T_OUT, 0, sector0, sizeof(sector0), 1,
			       &st, &used, 3000);
	CHECK(15, r == 0 && st == VIRTIO_BLK_S_OK, "disk write: %s, status %u",
	      r < 0 ? virtio_strerror(r) : "ok", st);
	printf("api_counter: disk written\n");
}

/* One whole virtio-rng driver session (activation and reset included). */
static void rng_churn(u64 n)
{
	int r = virtio_init(&rng, 0, VIRTIO_IRQ_NONE, 1, 16);
	CHECK(9, r == 0, "rng session %lu: init: %s", n, virtio_strerror(r));
	struct virtq *vq = &rng.vq[0];
	virtq_set_poll(vq, true);
	struct vbuf b = { rngbuf, sizeof(rngbuf), true };
	int head = virtq_add(vq, &b, 1, rngbuf);
	virtq_kick(vq);
	u32 len = 0;
	r = virtq_wait(vq, 10000, &len, NULL);
	CHECK(10, r == head && len == sizeof(rngbuf), "rng session %lu: %s (len %u)", n,
	      r < 0 ? virtio_strerror(r) : "wrong head", len);
	CHECK(11, virtio_reset(&rng) == 0, "rng session %lu: reset", n);
	if (n % 10 == 9)
		printf("api_counter: rng churn %lu\n", n + 1);
}

/* The console function as the guest finds it, before any driver. */
static void console_at_boot(void)
{
	struct pci_dev d;
	for (u8 slot = 0; slot < 32; slot++) {
		if (pci_probe(PCI_MECH_CF8, 0, slot, 0, &d) != 0 ||
		    d.vendor != VIRTIO_PCI_VENDOR ||
		    d.device != VIRTIO_PCI_DEVICE_BASE + VIRTIO_ID_CONSOLE)
			continue;
		printf("api_counter: console at boot: slot %u cmd 0x%x bar0 0x%x 0x%x "
		       "msix 0x%x latency 0x%x line %u\n",
		       slot, pci_read16(&d, PCI_COMMAND), pci_read32(&d, PCI_BAR0),
		       pci_read32(&d, PCI_BAR0 + 4), pci_msix_ctrl(&d), pci_read8(&d, 0x0d),
		       pci_read8(&d, PCI_INT_LINE));
		return;
	}
	fail(5, "no virtio-console function");
}

static void console_setup(bool scramble)
{
	console_at_boot();
	int r = virtio_find(PCI_MECH_CF8, VIRTIO_ID_CONSOLE, 0, &vd);
	CHECK(6, r == 0, "virtio-console: %d", r);
	r = virtio_init(&vd, 0, VIRTIO_IRQ_MSIX, 2, 16);
	CHECK(7, r == 0, "virtio-console init: %s", virtio_strerror(r));
	struct virtq *rx = &vd.vq[0];
	virtq_set_poll(rx, true);
	for (int i = 0; i < RXBUFS; i++) {
		struct vbuf b = { rxbuf[i], RXLEN, true };
		CHECK(8, virtq_add(rx, &b, 1, rxbuf[i]) >= 0, "rx buffer %d", i);
	}
	virtq_kick(rx);
	printf("api_counter: console ready\n");
	if (!scramble)
		return;
	/* The device keeps serving (it polls its input while it has
	 * buffers, and the receiveq is polled here): no kick, no vector. */
	pci_msix_mask_all(&vd.pci, true);
	pci_intx_enable(&vd.pci, false);
	pci_write8(&vd.pci, 0x0d, 0x40);
	pci_write32(&vd.pci, PCI_BAR0, pci_read32(&vd.pci, PCI_BAR0) + 0x100000);
	printf("api_counter: console state scrambled\n");
}

static char flood_line[256];

/* One flood line on the transmitq, waited for (polled). */
static void console_flood(void)
{
	struct virtq *tx = &vd.vq[1];
	struct vbuf b = { flood_line, sizeof(flood_line), false };
	int head = virtq_add(tx, &b, 1, NULL);
	CHECK(16, head >= 0, "console flood: virtq_add: %s", virtio_strerror(head));
	virtq_kick(tx);
	int r = virtq_wait(tx, 3000, NULL, NULL);
	CHECK(17, r == head, "console flood: %s", r < 0 ? virtio_strerror(r) : "wrong id");
}

/* Prints what arrived on the console (one line per buffer). */
static void console_poll(void)
{
	struct virtq *rx = &vd.vq[0];
	while (virtq_pending(rx)) {
		u32 len = 0;
		void *tok = NULL;
		if (virtq_get(rx, &len, &tok) < 0 || !tok)
			break;
		char line[RXLEN + 1];
		u32 n = len < RXLEN ? len : RXLEN;
		memcpy(line, tok, n);
		line[n] = 0;
		for (u32 i = 0; i < n; i++)
			if (line[i] == '\n' || line[i] == '\r')
				line[i] = 0;
		printf("api_counter: console got '%s'\n", line);
		struct vbuf b = { tok, RXLEN, true };
		virtq_add(rx, &b, 1, tok);
	}
}

int test_main(struct boot_info *bi)
{
	u64 period = 20, aps = 0, console = 0, scramble = 0, churn = 0, disk = 0, flood = 0;
	cmdline_get_u64(bi->cmdline, "period_ms", &period);
	cmdline_get_u64(bi->cmdline, "aps", &aps);
	cmdline_get_u64(bi->cmdline, "console", &console);
	cmdline_get_u64(bi->cmdline, "scramble", &scramble);
	cmdline_get_u64(bi->cmdline, "churn", &churn);
	cmdline_get_u64(bi->cmdline, "disk", &disk);
	cmdline_get_u64(bi->cmdline, "flood", &flood);
	u64 ramcheck = 0;
	if (cmdline_get_u64(bi->cmdline, "ramcheck", &ramcheck) && ramcheck) {
		volatile u8 *p = (volatile u8 *)ramcheck;
		bool clean = true;
		for (u32 i = 0; i < 16; i++)
			clean &= p[i] == 0;
		printf("api_counter: RAM %s\n", clean ? "clean" : "dirty");
		for (u32 i = 0; i < 16; i++)
			p[i] = (u8)("cvmm-ram-marker!"[i]);
	}
	if (aps) {
		struct madt_info mi;
		CHECK(3, acpi_parse_madt(bi, &mi) == 0, "cannot read the MADT");
		u32 online = smp_boot_aps(&mi);
		printf("api_counter: %u CPUs online\n", online);
		CHECK(4, online == mi.nr_cpus, "%u of %u CPUs checked in", online, mi.nr_cpus);
	}
	if (console || churn || disk)
		virtio_platform_init(bi);
	if (disk)
		disk_write();
	if (console)
		console_setup(scramble);
	if (console && flood) {
		memset(flood_line, 'f', sizeof(flood_line));
		flood_line[sizeof(flood_line) - 1] = '\n';
		virtq_set_poll(&vd.vq[1], true);
	}
	if (churn) {
		int r = virtio_find(PCI_MECH_CF8, VIRTIO_ID_RNG, 0, &rng);
		CHECK(12, r == 0, "no virtio-rng device (%d)", r);
	}
	printf("api_counter: a tick every %lu ms\n", period);
	for (u64 n = 0;; n++) {
		printf("tick %lu\n", n);
		if (console)
			console_poll();
		if (console && flood)
			console_flood();
		if (churn)
			rng_churn(n);
		mdelay(period);
	}
	return 0;
}
