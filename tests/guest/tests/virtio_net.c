/* SPDX-License-Identifier: MIT */
/*
 * virtio_net: drives the virtio-net device (5.1) as a driver would and
 * talks to the host kernel on the other side of the tap. The harness runs
 * cvmm inside a network namespace of its own with
 * --net tap=...,mac=MAC,ip=HOST_IP,mask=...; the guest's own address is
 * set here (command line gip=, default 10.77.0.2) and nowhere else.
 *
 * The config space must hold the MAC (mac=) and LINK_UP. Receive buffers
 * are posted, an ARP request for the host's address goes out and the
 * host kernel's ARP reply must come back (host -> guest), then ICMP echo
 * requests (56 and 1400 bytes of payload) must be answered by the host
 * kernel with matching id, sequence and payload, and valid checksums.
 * ARP requests from the host for our address are answered, anything else
 * received (IPv6 chatter...) is counted and ignored. Receive completions
 * come by interrupt (MSI-X); transmit chains are checked as used.
 * Command line: mac=52:54:00:12:34:56 hip=10.77.0.1 gip=10.77.0.2,
 * irq=msix|intx (virtio-mmio: intx, the device's GSI).
 */
#include "inet.h"
#include "virtio.h"

const char test_name[] = "virtio_net";

#define RXQ 0
#define TXQ 1
#define NRX 8
#define BUFSZ 1536
#define HDR VIRTIO_NET_HDR_LEN
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806

static struct virtio_dev vd;
static u8 rxbuf[NRX][BUFSZ] __aligned(64);
static u8 txhdr[HDR];
static u8 txbuf[BUFSZ];
static u8 mac[6], host_mac[6];
static u8 gip[4], hip[4];
static bool have_host_mac;
static u32 echo_ok; /* bit per sequence number answered */
static u32 rx_frames, rx_other, arp_answered;
static u16 echo_id = 0x4356;
static u32 echo_len[4];

/* Sends txbuf[0..len) behind a zero header; split: header and frame in
 * two descriptors (else one descriptor holding both). */
static void send_frame(u32 len, bool split, const char *what)
{
	static u8 one[HDR + BUFSZ];
	struct vbuf b[2];
	u32 n;
	if (len < 60) {
		memset(txbuf + len, 0, 60 - len); /* Ethernet minimum */
		len = 60;
	}
	if (split) {
		memset(txhdr, 0, HDR);
		b[0] = (struct vbuf){ txhdr, HDR, false };
		b[1] = (struct vbuf){ txbuf, len, false };
		n = 2;
	} else {
		memset(one, 0, HDR);
		memcpy(one + HDR, txbuf, len);
		b[0] = (struct vbuf){ one, HDR + len, false };
		n = 1;
	}
	struct virtq *vq = &vd.vq[TXQ];
	int head = virtq_add(vq, b, n, NULL);
	CHECK(3, head >= 0, "%s: transmitq full", what);
	virtq_kick(vq);
	u32 used = 0;
	int r = virtq_wait(vq, 2000, &used, NULL);
	CHECK(4, r == head, "%s: transmit not completed: %s (status 0x%x)", what,
	      r < 0 ? virtio_strerror(r) : "wrong id", virtio_status(&vd));
}

static u32 eth_header(const u8 *dst, u16 type)
{
	memcpy(txbuf, dst, 6);
	memcpy(txbuf + 6, mac, 6);
	inet_put16(txbuf + 12, type);
	return ETH_HLEN;
}

static void send_arp(u16 op, const u8 *dst_mac, const u8 *tha, const u8 *tpa, bool split)
{
	static const u8 bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	u32 o = eth_header(dst_mac ? dst_mac : bcast, ETH_P_ARP);
	inet_arp(txbuf + o, op, mac, gip, tha, tpa);
	send_frame(o + 28, split, op == 1 ? "ARP request" : "ARP reply");
}

static void echo_payload(u8 *p, u32 len, u16 seq)
{
	for (u32 i = 0; i < len; i++)
		p[i] = (u8)(i * 3 + seq * 17 + 1);
}

static void send_echo(u16 seq, u32 plen)
{
	u32 o = eth_header(host_mac, ETH_P_IP);
	u8 *ip = txbuf + o, *icmp = ip + 20;
	u16 total = (u16)(20 + 8 + plen);
	ip[0] = 0x45;
	ip[1] = 0;
	inet_put16(ip + 2, total);
	inet_put16(ip + 4, (u16)(0x1000 + seq));
	inet_put16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = 1; /* ICMP */
	inet_put16(ip + 10, 0);
	memcpy(ip + 12, gip, 4);
	memcpy(ip + 16, hip, 4);
	inet_put16(ip + 10, inet_csum(ip, 20));
	icmp[0] = 8; /* echo request */
	icmp[1] = 0;
	inet_put16(icmp + 2, 0);
	inet_put16(icmp + 4, echo_id);
	inet_put16(icmp + 6, seq);
	echo_payload(icmp + 8, plen, seq);
	inet_put16(icmp + 2, inet_csum(icmp, 8 + plen));
	echo_len[seq & 3] = plen;
	send_frame(o + total, false, "ICMP echo request");
}

static void handle_arp(const u8 *a, u32 len)
{
	if (len < 28 || inet_get16(a) != 1 || inet_get16(a + 2) != ETH_P_IP || a[4] != 6 || a[5] != 4)
		return;
	u16 op = inet_get16(a + 6);
	if (op == 2 && !memcmp(a + 14, hip, 4) && !memcmp(a + 24, gip, 4)) {
		CHECK(5, !memcmp(a + 18, mac, 6), "ARP reply addressed to another MAC");
		memcpy(host_mac, a + 8, 6);
		have_host_mac = true;
	} else if (op == 1 && !memcmp(a + 24, gip, 4)) {
		send_arp(2, a + 8, a + 8, a + 14, true); /* who-has us: answer */
		arp_answered++;
	}
}

static void handle_ip(const u8 *ip, u32 len)
{
	if (len < 20 || ip[0] != 0x45 || ip[9] != 1 || memcmp(ip + 12, hip, 4) ||
	    memcmp(ip + 16, gip, 4))
		return;
	u16 total = inet_get16(ip + 2);
	CHECK(6, total <= len && total >= 28, "IPv4 total length %u in a %u-byte frame", total, len);
	CHECK(7, inet_csum(ip, 20) == 0, "IPv4 header checksum of the reply is wrong");
	const u8 *icmp = ip + 20;
	u32 ilen = total - 20u;
	if (icmp[0] != 0 || inet_get16(icmp + 4) != echo_id)
		return;
	CHECK(8, inet_csum(icmp, ilen) == 0, "ICMP checksum of the echo reply is wrong");
	u16 seq = inet_get16(icmp + 6);
	u32 plen = ilen - 8;
	CHECK(9, seq < 4 && plen == echo_len[seq], "echo reply seq %u with %u bytes", seq, plen);
	static u8 want[BUFSZ];
	echo_payload(want, plen, seq);
	CHECK(10, !memcmp(icmp + 8, want, plen), "echo reply payload differs (seq %u)", seq);
	echo_ok |= 1u << seq;
}

/* Takes received frames for up to ms (or until done() says so). */
static void receive(u64 ms, bool (*done)(void))
{
	struct virtq *vq = &vd.vq[RXQ];
	u64 end = rdtsc() + ms_to_tsc(ms);
	while (!done() && rdtsc() < end) {
		u32 len = 0;
		void *tok = NULL;
		int r = virtq_wait(vq, 100, &len, &tok);
		if (r == VIRTIO_ERR_TIMEOUT)
			continue;
		CHECK(11, r >= 0, "receiveq: %s (status 0x%x)", virtio_strerror(r), virtio_status(&vd));
		u8 *b = tok;
		CHECK(12, b && len >= HDR + ETH_HLEN && len <= BUFSZ, "received chain %d: length %u",
		      r, len);
		/* VERSION_1 header: num_buffers is 1 without MRG_RXBUF. */
		CHECK(13, b[10] == 1 && b[11] == 0, "received header num_buffers %u", b[10] | b[11] << 8);
		rx_frames++;
		const u8 *f = b + HDR;
		u32 flen = len - HDR;
		u16 type = inet_get16(f + 12);
		bool to_us = !memcmp(f, mac, 6) || (f[0] == 0xff && f[1] == 0xff && f[5] == 0xff);
		if (to_us && type == ETH_P_ARP)
			handle_arp(f + ETH_HLEN, flen - ETH_HLEN);
		else if (to_us && type == ETH_P_IP)
			handle_ip(f + ETH_HLEN, flen - ETH_HLEN);
		else
			rx_other++;
		/* Give the buffer back. */
		struct vbuf rb = { b, BUFSZ, true };
		CHECK(14, virtq_add(vq, &rb, 1, b) >= 0, "receiveq: cannot repost");
		virtq_kick(vq);
	}
}

static bool got_host_mac(void) { return have_host_mac; }
static bool got_echo_0(void) { return echo_ok & 1; }
static bool got_echo_1(void) { return echo_ok & 2; }

int test_main(struct boot_info *bi)
{
	char arg[32];
	const u8 def_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	u8 want_mac[6];
	memcpy(want_mac, def_mac, 6);
	if (cmdline_get(bi->cmdline, "mac", arg, sizeof(arg)))
		CHECK(15, inet_parse_mac(arg, want_mac), "bad mac= %s", arg);
	CHECK(16, inet_parse_ip(cmdline_get(bi->cmdline, "gip", arg, sizeof(arg)) ? arg : "10.77.0.2",
			   gip), "bad gip=");
	CHECK(17, inet_parse_ip(cmdline_get(bi->cmdline, "hip", arg, sizeof(arg)) ? arg : "10.77.0.1",
			   hip), "bad hip=");

	virtio_platform_init(bi);
	int r = virtio_find(PCI_MECH_CF8, VIRTIO_ID_NET, 0, &vd);
	CHECK(18, r == 0, "no virtio-net device (%d)", r);
	u64 want = BIT_ULL(VIRTIO_NET_F_MAC) | BIT_ULL(VIRTIO_NET_F_STATUS) |
		   BIT_ULL(VIRTIO_NET_F_MTU) | BIT_ULL(VIRTIO_F_EVENT_IDX);
	r = virtio_init(&vd, want, virtio_irq_mode_arg(bi), 2, 16);
	CHECK(19, r == 0, "init: %s", virtio_strerror(r));
	CHECK(20, (vd.features & (BIT_ULL(VIRTIO_NET_F_MAC) | BIT_ULL(VIRTIO_NET_F_STATUS))) ==
			  (BIT_ULL(VIRTIO_NET_F_MAC) | BIT_ULL(VIRTIO_NET_F_STATUS)),
	      "MAC/STATUS not offered (0x%lx)", vd.dev_features);
	u16 status = 0, mtu = 0;
	virtio_read_config(&vd, 0, mac, 6);
	virtio_read_config(&vd, 6, &status, 2);
	if (vd.features & BIT_ULL(VIRTIO_NET_F_MTU))
		virtio_read_config(&vd, 10, &mtu, 2);
	printf("virtio_net: %s, mac %02x:%02x:%02x:%02x:%02x:%02x, status 0x%x, mtu %u, features 0x%lx\n",
	       vd.where, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], status, mtu,
	       vd.features);
	CHECK(21, !memcmp(mac, want_mac, 6), "config MAC differs from mac=");
	CHECK(22, status & VIRTIO_NET_S_LINK_UP, "link down (status 0x%x)", status);

	for (int i = 0; i < NRX; i++) {
		struct vbuf b = { rxbuf[i], BUFSZ, true };
		CHECK(23, virtq_add(&vd.vq[RXQ], &b, 1, rxbuf[i]) >= 0, "rx buffer %d", i);
	}
	virtq_kick(&vd.vq[RXQ]);

	static const u8 zero_mac[6];
	for (int attempt = 0; attempt < 3 && !have_host_mac; attempt++) {
		send_arp(1, NULL, zero_mac, hip, attempt == 0);
		receive(1000, got_host_mac);
	}
	CHECK(24, have_host_mac, "no ARP reply from %u.%u.%u.%u (%u frames received, %u other)",
	      hip[0], hip[1], hip[2], hip[3], rx_frames, rx_other);
	printf("virtio_net: ARP: %u.%u.%u.%u is at %02x:%02x:%02x:%02x:%02x:%02x\n", hip[0],
	       hip[1], hip[2], hip[3], host_mac[0], host_mac[1], host_mac[2], host_mac[3],
	       host_mac[4], host_mac[5]);

	for (int attempt = 0; attempt < 3 && !got_echo_0(); attempt++) {
		send_echo(0, 56);
		receive(1000, got_echo_0);
	}
	CHECK(25, got_echo_0(), "no echo reply to a 56-byte ping (%u frames, %u other)", rx_frames,
	      rx_other);
	for (int attempt = 0; attempt < 3 && !got_echo_1(); attempt++) {
		send_echo(1, 1400);
		receive(1000, got_echo_1);
	}
	CHECK(26, got_echo_1(), "no echo reply to a 1400-byte ping (%u frames, %u other)", rx_frames,
	      rx_other);
	printf("virtio_net: ICMP echo replies ok (56 and 1400 bytes)\n");
	printf("virtio_net: %u frames received (%u ignored), %u ARP requests answered, rx irqs %u, tx irqs %u\n",
	       rx_frames, rx_other, arp_answered, vd.vq[RXQ].irqs, vd.vq[TXQ].irqs);
	CHECK(27, vd.vq[RXQ].irqs > 0, "no receive interrupt");
	CHECK(28, !(virtio_status(&vd) & VIRTIO_S_NEEDS_RESET), "device needs reset");
	virtio_reset(&vd);
	return 0;
}
