/* SPDX-License-Identifier: MIT */
/*
 * snapshot_run: a guest with state in flight for the snapshot tests
 * (tests/snapshot-test.sh), which pause it, snapshot it, kill cvmm and
 * restore it in a new process, once or twice:
 *  - a memory pattern (256 KiB at 32 MiB, from a seed in the command
 *    line) checked whole every round;
 *  - a tick counter from the LAPIC timer (periodic interrupts): it must
 *    keep going up, and the TSC must never go back;
 *  - a virtio-blk exchange: round N writes sector N % 64 with a block
 *    naming N, reads it back, and reads the previous round's sector
 *    (what the disk kept across the restore), each request on the same
 *    virtqueue, so lost or repeated requests break the ring's indices.
 * Each round prints "snap: round N ticks T"; after rounds=R (default 40)
 * rounds it prints "snap: done R rounds" and passes (debug-exit 0).
 * A failed check exits with its code. period_ms=P between rounds (50).
 *
 * net=1 (mac=, gip=, hip= as virtio_net's): a virtio-net exchange too.
 * The guest learns the host's MAC (ARP), then each round sends one ICMP
 * echo request (sequence number = the round, a payload naming it) to the
 * host kernel on the other side of the tap and takes frames until its
 * reply; ARP requests for its address are answered (a restored cvmm
 * opens the tap again, and the host may ask again). A reply to a
 * sequence number never sent, or a second reply to one, fails the run;
 * a request left without a reply for 1 s is sent again, after asking
 * for the host's MAC again (the tap a restored cvmm makes anew has
 * another one, as a stale neighbour entry would be refreshed), and
 * counted. Each round prints "snap: net round N echo ok"; the last line
 * adds "net E echoes, R resent".
 *
 * unkicked_at=K: after round K the guest makes a write of sector
 * UNKICKED_SECTOR (a block starting "UNKICKED") available without
 * notifying the device, prints "snap: unkicked write posted" and waits
 * (up to 60 s) for it: only a restore's kick of each ready queue gets it
 * served (the resume=false test: not before vm.resume). Then "snap:
 * unkicked write done" and the rounds go on.
 */
#include "inet.h"
#include "virtio.h"

const char test_name[] = "snapshot_run";

#define PATTERN_ADDR 0x2000000ull
#define PATTERN_WORDS (256 * 1024 / 8)
#define NSECT 64
#define UNKICKED_SECTOR 100

static volatile u64 ticks;
static struct virtio_dev blk;
static u8 wbuf[512], rbuf[512], ubuf[512];

/* ---- net=1 ---- */
#define NRX 8
#define BUFSZ 1536
#define NHDR VIRTIO_NET_HDR_LEN
#define ECHO_ID 0x534e
#define ECHO_LEN 64
static struct virtio_dev net;
static u8 rxbuf[NRX][BUFSZ] __aligned(64);
static u8 txframe[NHDR + BUFSZ];
static u8 mac[6], host_mac[6], gip[4], hip[4];
static bool have_host_mac;
static u64 echo_sent, echo_answered; /* rounds sent (n + 1), replies taken */
static u64 echo_resent_seq = ~0ull; /* the last sequence number sent twice */
static u64 echo_got_seq = ~0ull;
static u32 resent;

/* The frame in txframe + NHDR, len bytes, sent behind a zero header. */
static void net_send(u32 len)
{
	if (len < 60) {
		memset(txframe + NHDR + len, 0, 60 - len);
		len = 60;
	}
	memset(txframe, 0, NHDR);
	struct vbuf b = { txframe, NHDR + len, false };
	int head = virtq_add(&net.vq[1], &b, 1, NULL);
	CHECK(30, head >= 0, "transmitq full");
	virtq_kick(&net.vq[1]);
	int r = virtq_wait(&net.vq[1], 5000, NULL, NULL);
	CHECK(31, r == head, "transmit not completed: %s", r < 0 ? virtio_strerror(r) : "wrong id");
}

static u8 *eth(const u8 *dst, u16 type)
{
	u8 *f = txframe + NHDR;
	memcpy(f, dst, 6);
	memcpy(f + 6, mac, 6);
	inet_put16(f + 12, type);
	return f + 14;
}

static void send_arp(u16 op, const u8 *dst, const u8 *tha, const u8 *tpa)
{
	static const u8 bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	inet_arp(eth(dst ? dst : bcast, 0x0806), op, mac, gip, tha, tpa);
	net_send(14 + 28);
}

static void echo_payload(u8 *p, u64 seq)
{
	for (u32 i = 0; i < ECHO_LEN; i++)
		p[i] = (u8)(seq * 13 + i);
}

static void send_echo(u64 seq)
{
	u8 *ip = eth(host_mac, 0x0800), *icmp = ip + 20;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	inet_put16(ip + 2, 20 + 8 + ECHO_LEN);
	inet_put16(ip + 4, (u16)seq);
	ip[8] = 64;
	ip[9] = 1;
	memcpy(ip + 12, gip, 4);
	memcpy(ip + 16, hip, 4);
	inet_put16(ip + 10, inet_csum(ip, 20));
	icmp[0] = 8;
	icmp[1] = 0;
	inet_put16(icmp + 2, 0);
	inet_put16(icmp + 4, ECHO_ID);
	inet_put16(icmp + 6, (u16)seq);
	echo_payload(icmp + 8, seq);
	inet_put16(icmp + 2, inet_csum(icmp, 8 + ECHO_LEN));
	net_send(14 + 20 + 8 + ECHO_LEN);
}

static void handle_frame(const u8 *f, u32 len)
{
	bool to_us = !memcmp(f, mac, 6) || (f[0] == 0xff && f[1] == 0xff && f[5] == 0xff);
	if (!to_us || len < 14 + 28)
		return;
	const u8 *p = f + 14;
	if (inet_get16(f + 12) == 0x0806 && inet_get16(p + 2) == 0x0800) {
		u16 op = inet_get16(p + 6);
		if (op == 2 && !memcmp(p + 14, hip, 4) && !memcmp(p + 24, gip, 4)) {
			memcpy(host_mac, p + 8, 6);
			have_host_mac = true;
		} else if (op == 1 && !memcmp(p + 24, gip, 4)) {
			u8 who[6], wip[4];
			memcpy(who, p + 8, 6);
			memcpy(wip, p + 14, 4);
			send_arp(2, who, who, wip); /* who-has us: answer */
		}
		return;
	}
	if (inet_get16(f + 12) != 0x0800 || p[0] != 0x45 || p[9] != 1 || memcmp(p + 12, hip, 4) ||
	    len < 14 + 20 + 8 + ECHO_LEN)
		return;
	const u8 *icmp = p + 20;
	if (icmp[0] != 0 || inet_get16(icmp + 4) != ECHO_ID)
		return;
	CHECK(32, inet_csum(icmp, 8 + ECHO_LEN) == 0, "echo reply checksum wrong");
	u16 seq = inet_get16(icmp + 6);
	u8 want[ECHO_LEN];
	echo_payload(want, seq);
	CHECK(33, !memcmp(icmp + 8, want, ECHO_LEN), "echo reply %u: payload differs", seq);
	/* The one expected next: the last one sent. A second reply to a
	 * request sent twice is the only other one allowed. */
	if (seq == (u16)(echo_sent - 1) && echo_got_seq != echo_sent - 1) {
		echo_got_seq = echo_sent - 1;
		echo_answered++;
		return;
	}
	CHECK(34, seq == (u16)echo_resent_seq && echo_got_seq == echo_resent_seq,
	      "echo reply %u unexpected (last sent %lu, answered %lu): duplicated or never sent",
	      seq, echo_sent - 1, echo_got_seq);
	echo_resent_seq = ~0ull; /* that late one is used up */
}

/* Takes received frames until done() or ms pass; buffers go back. */
static void net_receive(u64 ms, bool (*done)(void))
{
	struct virtq *vq = &net.vq[0];
	u64 end = rdtsc() + ms_to_tsc(ms);
	while (!done() && rdtsc() < end) {
		u32 len = 0;
		void *tok = NULL;
		int r = virtq_wait(vq, 50, &len, &tok);
		if (r == VIRTIO_ERR_TIMEOUT)
			continue;
		CHECK(35, r >= 0 && tok && len >= NHDR + 14 && len <= BUFSZ,
		      "receiveq: %d, length %u", r, len);
		handle_frame((u8 *)tok + NHDR, len - NHDR);
		struct vbuf rb = { tok, BUFSZ, true };
		CHECK(36, virtq_add(vq, &rb, 1, tok) >= 0, "receiveq: cannot repost");
		virtq_kick(vq);
	}
}

static bool got_host_mac(void) { return have_host_mac; }
static bool got_echo(void) { return echo_got_seq == echo_sent - 1; }

static void net_init(struct boot_info *bi)
{
	char arg[32];
	CHECK(37, inet_parse_ip(cmdline_get(bi->cmdline, "gip", arg, sizeof(arg)) ? arg : "10.77.0.2",
			   gip), "bad gip=");
	CHECK(38, inet_parse_ip(cmdline_get(bi->cmdline, "hip", arg, sizeof(arg)) ? arg : "10.77.0.1",
			   hip), "bad hip=");
	int r = virtio_find(PCI_MECH_CF8, VIRTIO_ID_NET, 0, &net);
	CHECK(39, r == 0, "no virtio-net device (%d)", r);
	r = virtio_init(&net, BIT_ULL(VIRTIO_NET_F_MAC), VIRTIO_IRQ_NONE, 2, 16);
	CHECK(40, r == 0, "virtio-net init: %s", virtio_strerror(r));
	virtq_set_poll(&net.vq[0], true);
	virtq_set_poll(&net.vq[1], true);
	virtio_read_config(&net, 0, mac, 6);
	for (int i = 0; i < NRX; i++) {
		struct vbuf b = { rxbuf[i], BUFSZ, true };
		CHECK(41, virtq_add(&net.vq[0], &b, 1, rxbuf[i]) >= 0, "rx buffer %d", i);
	}
	virtq_kick(&net.vq[0]);
	static const u8 zero[6];
	for (int i = 0; i < 5 && !have_host_mac; i++) {
		send_arp(1, NULL, zero, hip);
		net_receive(1000, got_host_mac);
	}
	CHECK(42, have_host_mac, "no ARP reply from the host");
}

/* Round n's exchange: one echo, its reply (sent again after 1 s). */
static void net_round(u64 n)
{
	echo_sent = n + 1;
	send_echo(n);
	net_receive(1000, got_echo);
	for (int i = 0; i < 5 && !got_echo(); i++) {
		/* As a stale neighbour entry would: ask for the host's MAC
		 * again (a tap made anew, by a restored cvmm, has another). */
		static const u8 zero[6];
		have_host_mac = false;
		for (int k = 0; k < 3 && !have_host_mac; k++) {
			send_arp(1, NULL, zero, hip);
			net_receive(1000, got_host_mac);
		}
		resent++;
		echo_resent_seq = n;
		printf("snap: net round %lu echo sent again (host %02x:%02x:%02x:%02x:%02x:%02x)\n", n,
		       host_mac[0], host_mac[1], host_mac[2], host_mac[3], host_mac[4], host_mac[5]);
		send_echo(n);
		net_receive(1000, got_echo);
	}
	CHECK(43, got_echo(), "round %lu: no echo reply", n);
	printf("snap: net round %lu echo ok\n", n);
}

static void tick(struct trap_frame *tf)
{
	(void)tf;
	ticks++;
	lapic_eoi();
}

static u64 pattern(u64 seed, u64 i)
{
	return (i * 0x9e3779b97f4a7c15ull) ^ seed;
}

static void fill_block(u8 *b, u64 round)
{
	for (u32 i = 0; i < 512; i++)
		b[i] = (u8)(round * 7 + i);
	memcpy(b, &round, sizeof(round));
}

static void blk_io(u32 type, u64 sector, u8 *buf, u64 round)
{
	u8 st = 0xff;
	u32 used = 0;
	int r = virtio_blk_request(&blk.vq[0], type, sector, buf, 512, 1, &st, &used, 5000);
	CHECK(20, r == 0 && st == VIRTIO_BLK_S_OK, "round %lu: blk %s sector %lu: %s, status %u",
	      round, type == VIRTIO_BLK_T_OUT ? "write" : "read", sector,
	      r < 0 ? virtio_strerror(r) : "ok", st);
}

/* A write made available, no notification: see the header. */
static void unkicked_write(void)
{
	static struct virtio_blk_hdr hdr = { .type = VIRTIO_BLK_T_OUT, .sector = UNKICKED_SECTOR };
	static volatile u8 st = 0xee;
	memset(ubuf, 'u', sizeof(ubuf));
	memcpy(ubuf, "UNKICKED", 8);
	struct vbuf b[3] = {
		{ &hdr, sizeof(hdr), false },
		{ ubuf, sizeof(ubuf), false },
		{ (const void *)&st, 1, true },
	};
	int head = virtq_add(&blk.vq[0], b, 3, &hdr);
	CHECK(26, head >= 0, "unkicked write: %s", virtio_strerror(head));
	printf("snap: unkicked write posted\n");
	int r = virtq_wait(&blk.vq[0], 60000, NULL, NULL);
	CHECK(27, r == head && st == VIRTIO_BLK_S_OK, "unkicked write: %s, status %u",
	      r < 0 ? virtio_strerror(r) : "ok", st);
	printf("snap: unkicked write done\n");
}

int test_main(struct boot_info *bi)
{
	u64 rounds = 40, seed = 0x5eed, period = 50, unkicked_at = ~0ull, use_net = 0;
	cmdline_get_u64(bi->cmdline, "net", &use_net);
	cmdline_get_u64(bi->cmdline, "rounds", &rounds);
	cmdline_get_u64(bi->cmdline, "unkicked_at", &unkicked_at);
	cmdline_get_u64(bi->cmdline, "seed", &seed);
	cmdline_get_u64(bi->cmdline, "period_ms", &period);
	volatile u64 *pat = (volatile u64 *)PATTERN_ADDR;
	for (u64 i = 0; i < PATTERN_WORDS; i++)
		pat[i] = pattern(seed, i);

	virtio_platform_init(bi);
	int r = virtio_find(PCI_MECH_CF8, VIRTIO_ID_BLOCK, 0, &blk);
	CHECK(10, r == 0, "no virtio-blk device (%d)", r);
	r = virtio_init(&blk, 0, VIRTIO_IRQ_NONE, 1, 16);
	CHECK(11, r == 0, "virtio-blk init: %s", virtio_strerror(r));
	virtq_set_poll(&blk.vq[0], true);
	if (use_net)
		net_init(bi);

	set_irq_handler(VEC_LAPIC_TIMER, tick);
	lapic_write(LAPIC_TIMER_DIV, 0x3);
	lapic_write(LAPIC_LVT_TIMER, VEC_LAPIC_TIMER | (1u << 17)); /* periodic */
	lapic_write(LAPIC_TIMER_INIT, 200000);
	sti();
	printf("snap: ready (%lu rounds)\n", rounds);

	u64 last_ticks = 0, last_tsc = rdtsc();
	for (u64 n = 0; n < rounds; n++) {
		fill_block(wbuf, n);
		blk_io(VIRTIO_BLK_T_OUT, n % NSECT, wbuf, n);
		memset(rbuf, 0, sizeof(rbuf));
		blk_io(VIRTIO_BLK_T_IN, n % NSECT, rbuf, n);
		CHECK(21, !memcmp(rbuf, wbuf, 512), "round %lu: sector %lu read back wrong", n,
		      n % NSECT);
		if (n) {
			fill_block(wbuf, n - 1);
			blk_io(VIRTIO_BLK_T_IN, (n - 1) % NSECT, rbuf, n);
			CHECK(22, !memcmp(rbuf, wbuf, 512), "round %lu: the previous round's sector lost",
			      n);
		}
		for (u64 i = 0; i < PATTERN_WORDS; i++)
			CHECK(23, pat[i] == pattern(seed, i), "round %lu: memory pattern broken at word %lu",
			      n, i);
		u64 t = READ_ONCE(ticks), tsc = rdtsc();
		CHECK(24, tsc > last_tsc, "round %lu: the TSC went back", n);
		CHECK(25, n < 3 || t > last_ticks, "round %lu: the timer stopped (%lu ticks)", n, t);
		last_ticks = t;
		last_tsc = tsc;
		printf("snap: round %lu ticks %lu\n", n, t);
		if (use_net)
			net_round(n);
		if (n == unkicked_at)
			unkicked_write();
		mdelay(period);
	}
	cli();
	lapic_write(LAPIC_LVT_TIMER, 0x10000);
	printf("snap: done %lu rounds, pattern intact, %lu ticks", rounds, last_ticks);
	if (use_net)
		printf(", net %lu echoes, %u resent", echo_answered, resent);
	printf("\n");
	return 0;
}
