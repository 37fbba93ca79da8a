/* SPDX-License-Identifier: MIT */
/*
 * virtio_console: drives the virtio-console device (5.3, port 0, no
 * MULTIPORT) as a driver would: receiveq (0) gets buffers posted, lines go
 * out on transmitq (1): one in a single descriptor, one split over two, one
 * by polling. The harness (--console file=PATH) checks the file holds the
 * lines, each carrying the token= the command line gave.
 * Command line: token=STRING, irq=msix|intx.
 */
#include "virtio.h"

const char test_name[] = "virtio_console";

static struct virtio_dev vd;
static u8 rxbuf[4][64];
static char line[3][128];

static void tx(struct vbuf *b, u32 n, const char *what)
{
	struct virtq *vq = &vd.vq[1];
	int head = virtq_add(vq, b, n, NULL);
	CHECK(3, head >= 0, "%s: virtq_add: %s", what, virtio_strerror(head));
	virtq_kick(vq);
	u32 len = 0;
	int r = virtq_wait(vq, 3000, &len, NULL);
	CHECK(4, r == head, "%s: %s (status 0x%x)", what, r < 0 ? virtio_strerror(r) : "wrong id",
	      virtio_status(&vd));
	/* The device wrote nothing into these read-only buffers. */
	CHECK(5, len == 0, "%s: used length %u for a device-readable chain", what, len);
}

int test_main(struct boot_info *bi)
{
	char token[40];
	if (!cmdline_get(bi->cmdline, "token", token, sizeof(token)))
		memcpy(token, "none", 5);
	enum virtio_irq_mode mode = virtio_irq_mode_arg(bi);

	virtio_platform_init(bi);
	int r = virtio_find(PCI_MECH_CF8, VIRTIO_ID_CONSOLE, 0, &vd);
	CHECK(6, r == 0, "no virtio-console device (%d)", r);
	r = virtio_init(&vd, BIT_ULL(VIRTIO_F_EVENT_IDX), mode, 2, 16);
	CHECK(7, r == 0, "init: %s", virtio_strerror(r));
	printf("virtio_console: %s, %u queues, features 0x%lx (offered 0x%lx), config %u bytes\n",
	       vd.where, vd.num_queues, vd.features, vd.dev_features, vd.device_len);
	CHECK(8, vd.num_queues >= 2, "%u queues", vd.num_queues);
	CHECK(9, !(vd.dev_features & BIT_ULL(VIRTIO_CONSOLE_F_MULTIPORT)),
	      "MULTIPORT offered: port 0's queues would need the control queue");

	/* Receive buffers, as a driver posts them before any input. */
	for (int i = 0; i < 4; i++) {
		struct vbuf b = { rxbuf[i], sizeof(rxbuf[i]), true };
		CHECK(10, virtq_add(&vd.vq[0], &b, 1, rxbuf[i]) >= 0, "rx buffer %d", i);
	}
	virtq_kick(&vd.vq[0]);

	snprintf(line[0], sizeof(line[0]), "virtio-console line 1 token=%s\n", token);
	struct vbuf b[2] = { { line[0], (u32)strlen(line[0]), false } };
	tx(b, 1, "line 1");
	snprintf(line[1], sizeof(line[1]), "virtio-console line 2 (two descriptors) token=%s\n",
		 token);
	u32 l = (u32)strlen(line[1]);
	b[0] = (struct vbuf){ line[1], 10, false };
	b[1] = (struct vbuf){ line[1] + 10, l - 10, false };
	tx(b, 2, "line 2");
	u32 irqs = vd.vq[1].irqs;
	CHECK(11, irqs >= 2, "transmitq: %u interrupts for 2 chains", irqs);

	virtq_set_poll(&vd.vq[1], true);
	snprintf(line[2], sizeof(line[2]), "virtio-console line 3 (polled) token=%s\n", token);
	b[0] = (struct vbuf){ line[2], (u32)strlen(line[2]), false };
	tx(b, 1, "line 3");
	mdelay(20);
	CHECK(12, vd.vq[1].irqs == irqs, "transmitq interrupt despite suppression");
	/* No input was given: the receive buffers stay with the device. */
	CHECK(13, virtq_pending(&vd.vq[0]) == 0, "receiveq returned %u buffer(s) without input",
	      virtq_pending(&vd.vq[0]));
	CHECK(14, !(virtio_status(&vd) & VIRTIO_S_NEEDS_RESET), "device needs reset");
	printf("virtio_console: 3 lines sent (%u transmit interrupts)\n", irqs);
	virtio_reset(&vd);
	return 0;
}
