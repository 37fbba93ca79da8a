/* SPDX-License-Identifier: MIT */
/*
 * virtio_vsock: a guest agent on the virtio-vsock device (5.10), written
 * from the spec: the configuration's guest_cid, then two stream
 * connections at once, each moving a pattern both ways with credit flow
 * control (a 16 KiB receive window of ours, the device's window for what
 * we send):
 *  - guest-initiated: a REQUEST to host port hport=, which the harness
 *    listens on as PATH_<hport> (tests/guest/tools/vsock-host.c);
 *  - host-initiated: the harness connects to PATH and writes
 *    "CONNECT <gport>\n"; the REQUEST to gport= is answered here.
 * Each side sends n1= bytes and receives n2= bytes (the harness the other
 * way round), both larger than the window in play, checked byte by byte;
 * the harness closes, we see SHUTDOWN, shut down both ways and get the
 * device's RST. Then a device reset: a TRANSPORT_RESET event must come.
 * hostile=1 instead: packets that break the rules (unknown connection,
 * bad length, unknown op, wrong CID, oversize, short header) must each
 * get an RST (the short one nothing), and the device keep serving.
 * Command line: cid=N hport=P gport=P n1=N n2=N irq=msix|intx
 * [hostile=1].
 */
#include "virtio.h"

const char test_name[] = "virtio_vsock";

#define VIRTIO_ID_VSOCK 19
#define OP_REQUEST 1
#define OP_RESPONSE 2
#define OP_RST 3
#define OP_SHUTDOWN 4
#define OP_RW 5
#define OP_CREDIT_UPDATE 6
#define OP_CREDIT_REQUEST 7
#define SHUT_RCV 1
#define SHUT_SEND 2
#define TYPE_STREAM 1
#define HOST_CID 2
#define EVENT_TRANSPORT_RESET 0

#define RXQ 0
#define TXQ 1
#define EVQ 2
#define QSIZE 32
#define NRX 16
#define RXBUF 4096
#define CHUNK 4096
#define WINDOW 16384u /* our buf_alloc */

struct hdr {
	u64 src_cid, dst_cid;
	u32 src_port, dst_port;
	u32 len;
	u16 type, op;
	u32 flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

_Static_assert(sizeof(struct hdr) == 44, "vsock header");

struct conn {
	const char *name;
	u32 lport, pport;           /* ours (guest), the host's */
	bool established, peer_shut, rst;
	u32 peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	u32 fwd_cnt, fwd_sent;      /* consumed, as the device last heard */
	u32 recvd, bad;             /* payload received, mismatches */
	u32 seed_in;
};

static struct virtio_dev vd;
static u64 cid;
static u8 rxbuf[NRX][RXBUF] __aligned(64);
static struct hdr txhdr;
static u8 txdata[CHUNK + 64];
static u32 evbuf[2];
static struct conn ca = { .name = "guest-initiated" }, cb = { .name = "host-initiated" };
static u32 rst_seen; /* RSTs to ports of no connection of ours */
static u32 last_rst_port;

/* The pattern both sides use: byte i of the stream seeded s. */
static inline u8 pat(u32 i, u32 s)
{
	return (u8)(i * 31u + s + (i >> 8));
}

static void rx_post(u8 *b)
{
	struct vbuf v = { b, RXBUF, true };
	CHECK(3, virtq_add(&vd.vq[RXQ], &v, 1, b) >= 0, "rx: no room");
}

/* One packet out (header, then len bytes of data), used before return. */
static void tx_pkt(const struct hdr *h, const void *data, u32 len, u32 chain_len)
{
	struct virtq *vq = &vd.vq[TXQ];
	txhdr = *h;
	struct vbuf b[2] = { { &txhdr, chain_len < 44 ? chain_len : 44, false },
			     { txdata, chain_len > 44 ? chain_len - 44 : 0, false } };
	if (data && len)
		memcpy(txdata, data, len);
	int head = virtq_add(vq, b, chain_len > 44 ? 2 : 1, NULL);
	CHECK(4, head >= 0, "tx: virtq_add: %s", virtio_strerror(head));
	virtq_kick(vq);
	int r = virtq_wait(vq, 3000, NULL, NULL);
	CHECK(5, r == head, "tx: %s", r < 0 ? virtio_strerror(r) : "wrong id");
}

static struct hdr mkhdr(struct conn *c, u16 op, u32 flags, u32 len)
{
	struct hdr h = {
		.src_cid = cid, .dst_cid = HOST_CID, .src_port = c->lport,
		.dst_port = c->pport, .len = len, .type = TYPE_STREAM, .op = op,
		.flags = flags, .buf_alloc = WINDOW, .fwd_cnt = c->fwd_cnt,
	};
	c->fwd_sent = c->fwd_cnt;
	return h;
}

static void send_ctl(struct conn *c, u16 op, u32 flags)
{
	struct hdr h = mkhdr(c, op, flags, 0);
	tx_pkt(&h, NULL, 0, 44);
}

static struct conn *lookup(const struct hdr *h)
{
	struct conn *cs[2] = { &ca, &cb };
	for (int i = 0; i < 2; i++)
		if (cs[i]->lport == h->dst_port && cs[i]->pport == h->src_port &&
		    (cs[i]->established || cs[i] == &ca))
			return cs[i];
	return NULL;
}

/* One packet from the device, if any: dispatched. False when none. */
static bool rx_one(void)
{
	struct virtq *vq = &vd.vq[RXQ];
	u32 len;
	void *tok;
	if (virtq_get(vq, &len, &tok) < 0)
		return false;
	u8 *b = tok;
	CHECK(6, b && len >= 44 && len <= RXBUF, "rx: used length %u", len);
	struct hdr h;
	memcpy(&h, b, 44);
	CHECK(7, h.len == len - 44, "rx: header len %u, used %u", h.len, len);
	CHECK(8, h.dst_cid == cid && h.type == TYPE_STREAM, "rx: dst_cid %lu type %u",
	      h.dst_cid, h.type);
	struct conn *c = lookup(&h);
	if (!c && h.op == OP_REQUEST && h.dst_port == cb.lport && !cb.established) {
		c = &cb;
		cb.pport = h.src_port;
		cb.established = true;
		cb.peer_buf_alloc = h.buf_alloc;
		cb.peer_fwd_cnt = h.fwd_cnt;
		printf("virtio_vsock: REQUEST from host port %u to %u\n", h.src_port, h.dst_port);
		send_ctl(&cb, OP_RESPONSE, 0);
	} else if (!c) {
		CHECK(9, h.op == OP_RST, "rx: op %u for no connection (%u -> %u)", h.op,
		      h.src_port, h.dst_port);
		rst_seen++;
		last_rst_port = h.dst_port;
	} else {
		c->peer_buf_alloc = h.buf_alloc;
		c->peer_fwd_cnt = h.fwd_cnt;
		switch (h.op) {
		case OP_RESPONSE:
			c->established = true;
			break;
		case OP_RST:
			c->rst = true;
			c->established = false;
			break;
		case OP_SHUTDOWN:
			c->peer_shut = true;
			break;
		case OP_RW:
			/* The device knows our fwd_cnt as we last sent it. */
			CHECK(10, c->recvd + h.len - c->fwd_sent <= WINDOW,
			      "%s: %u bytes beyond our window", c->name, h.len);
			for (u32 i = 0; i < h.len; i++)
				if (b[44 + i] != pat(c->recvd + i, c->seed_in))
					c->bad++;
			c->recvd += h.len;
			c->fwd_cnt = c->recvd; /* consumed at once */
			if (c->fwd_cnt - c->fwd_sent >= WINDOW / 2)
				send_ctl(c, OP_CREDIT_UPDATE, 0);
			break;
		case OP_CREDIT_REQUEST:
			send_ctl(c, OP_CREDIT_UPDATE, 0);
			break;
		case OP_CREDIT_UPDATE:
			break;
		default:
			fail(11, "%s: op %u from the device", c->name, h.op);
		}
	}
	rx_post(b);
	virtq_kick(vq);
	return true;
}

/* Dispatches packets until cond() holds (at most ms). */
static bool pump_until(bool (*cond)(void), u64 ms)
{
	u64 end = rdtsc() + ms_to_tsc(ms);
	while (!cond()) {
		if (rdtsc() >= end)
			return false;
		if (!rx_one())
			cpu_relax();
		CHECK(12, !(virtio_status(&vd) & VIRTIO_S_NEEDS_RESET), "device needs reset");
	}
	return true;
}

static struct conn *cur;
static bool cur_established(void) { return cur->established || cur->rst; }
static bool cur_credit(void)
{
	return cur->rst || cur->peer_buf_alloc - (cur->tx_cnt - cur->peer_fwd_cnt) > 0;
}
static bool cur_done(void) { return cur->peer_shut || cur->rst; }
static bool cur_rst(void) { return cur->rst; }
static u32 rst_want;
static bool rst_count(void) { return rst_seen >= rst_want; }

/* n bytes of pattern seed s on c, as the device's credit allows. */
static void send_all(struct conn *c, u32 n, u32 seed)
{
	u32 stalls = 0;
	cur = c;
	while (c->tx_cnt < n) {
		u32 credit = c->peer_buf_alloc - (c->tx_cnt - c->peer_fwd_cnt);
		if (!credit) {
			stalls++;
			CHECK(13, pump_until(cur_credit, 10000), "%s: no credit from the device for 10 s (sent %u)",
			      c->name, c->tx_cnt);
			CHECK(14, !c->rst, "%s: RST while sending", c->name);
			continue;
		}
		u32 k = n - c->tx_cnt;
		if (k > credit)
			k = credit;
		if (k > CHUNK)
			k = CHUNK;
		for (u32 i = 0; i < k; i++)
			txdata[i] = pat(c->tx_cnt + i, seed);
		struct hdr h = mkhdr(c, OP_RW, 0, k);
		tx_pkt(&h, NULL, k, 44 + k);
		c->tx_cnt += k;
		while (rx_one())
			;
	}
	printf("virtio_vsock: %s: sent %u bytes (%u credit stalls)\n", c->name, n, stalls);
}

static void hostile(u32 hport)
{
	struct conn x = { .lport = 9000, .pport = hport };
	struct hdr h;
	/* Data for no connection. */
	rst_want = rst_seen + 1;
	h = mkhdr(&x, OP_RW, 0, 4);
	tx_pkt(&h, "abcd", 4, 48);
	CHECK(20, pump_until(rst_count, 3000), "no RST for data of no connection");
	/* A length beyond the chain. */
	rst_want = rst_seen + 1;
	x.lport++;
	h = mkhdr(&x, OP_RW, 0, 1000);
	tx_pkt(&h, "abcd", 4, 48);
	CHECK(21, pump_until(rst_count, 3000), "no RST for a bad length");
	/* An unknown op. */
	rst_want = rst_seen + 1;
	x.lport++;
	h = mkhdr(&x, 77, 0, 0);
	tx_pkt(&h, NULL, 0, 44);
	CHECK(22, pump_until(rst_count, 3000), "no RST for op 77");
	/* To another CID than the host's. */
	rst_want = rst_seen + 1;
	x.lport++;
	h = mkhdr(&x, OP_REQUEST, 0, 0);
	h.dst_cid = 99;
	tx_pkt(&h, NULL, 0, 44);
	CHECK(23, pump_until(rst_count, 3000), "no RST for CID 99");
	/* From another CID than ours. */
	rst_want = rst_seen + 1;
	x.lport++;
	h = mkhdr(&x, OP_REQUEST, 0, 0);
	h.src_cid = cid + 1;
	tx_pkt(&h, NULL, 0, 44);
	CHECK(24, pump_until(rst_count, 3000), "no RST for a foreign source CID");
	/* Oversize: 70000 bytes claimed. */
	rst_want = rst_seen + 1;
	x.lport++;
	h = mkhdr(&x, OP_RW, 0, 70000);
	tx_pkt(&h, NULL, 0, 44 + CHUNK);
	CHECK(25, pump_until(rst_count, 3000), "no RST for an oversize packet");
	/* A chain shorter than a header: dropped, nothing comes. */
	rst_want = rst_seen + 1;
	x.lport++;
	h = mkhdr(&x, OP_REQUEST, 0, 0);
	tx_pkt(&h, NULL, 0, 20);
	CHECK(26, !pump_until(rst_count, 200), "an answer to a 20-byte chain");
	/* Still serving: a REQUEST to a port nobody listens on is refused. */
	x.lport++;
	x.pport = 4242;
	h = mkhdr(&x, OP_REQUEST, 0, 0);
	tx_pkt(&h, NULL, 0, 44);
	CHECK(27, pump_until(rst_count, 3000), "no RST for a REQUEST to port 4242");
	CHECK(28, last_rst_port == x.lport, "RST to port %u, expected %u", last_rst_port, x.lport);
	printf("virtio_vsock: hostile packets: %u RSTs, device still serving\n", rst_seen);
}

static void setup(enum virtio_irq_mode mode)
{
	int r = virtio_init(&vd, BIT_ULL(VIRTIO_F_EVENT_IDX), mode, 3, QSIZE);
	CHECK(30, r == 0, "init: %s", virtio_strerror(r));
	virtq_set_poll(&vd.vq[RXQ], true);
	virtq_set_poll(&vd.vq[EVQ], true);
	for (int i = 0; i < NRX; i++)
		rx_post(rxbuf[i]);
	virtq_kick(&vd.vq[RXQ]);
}

int test_main(struct boot_info *bi)
{
	u64 hport = 5555, gport = 1234, n1 = 70000, n2 = 24000, hostile_on = 0;
	cmdline_get_u64(bi->cmdline, "hport", &hport);
	cmdline_get_u64(bi->cmdline, "gport", &gport);
	cmdline_get_u64(bi->cmdline, "n1", &n1);
	cmdline_get_u64(bi->cmdline, "n2", &n2);
	cmdline_get_u64(bi->cmdline, "hostile", &hostile_on);
	u64 want_cid = 0;
	cmdline_get_u64(bi->cmdline, "cid", &want_cid);
	enum virtio_irq_mode mode = virtio_irq_mode_arg(bi);

	virtio_platform_init(bi);
	int r = virtio_find(PCI_MECH_CF8, VIRTIO_ID_VSOCK, 0, &vd);
	CHECK(31, r == 0, "no virtio-vsock device (%d)", r);
	setup(mode);
	virtio_read_config(&vd, 0, &cid, 8);
	printf("virtio_vsock: %s, %u queues, guest CID %lu\n", vd.where, vd.num_queues, cid);
	CHECK(32, vd.num_queues == 3, "%u queues", vd.num_queues);
	CHECK(33, cid == want_cid, "guest_cid %lu, expected %lu", cid, want_cid);

	if (hostile_on) {
		hostile((u32)hport);
		virtio_reset(&vd);
		return 0;
	}

	/* Guest-initiated: our port 40000 to the host's hport. */
	ca.lport = 40000;
	ca.pport = (u32)hport;
	ca.seed_in = 0x22;
	cb.lport = (u32)gport;
	cb.seed_in = 0x44;
	struct hdr h = mkhdr(&ca, OP_REQUEST, 0, 0);
	tx_pkt(&h, NULL, 0, 44);
	cur = &ca;
	CHECK(34, pump_until(cur_established, 5000), "no answer to our REQUEST");
	CHECK(35, !ca.rst, "the host refused our connection to port %lu", hport);
	printf("virtio_vsock: connected to host port %lu\n", hport);
	send_all(&ca, (u32)n1, 0x11);
	/* Host-initiated: the harness's CONNECT line. */
	cur = &cb;
	CHECK(36, pump_until(cur_established, 20000), "no REQUEST to port %lu", gport);
	send_all(&cb, (u32)n1, 0x33);
	/* Both ways done: the host closes its end. */
	struct conn *cs[2] = { &ca, &cb };
	for (int i = 0; i < 2; i++) {
		cur = cs[i];
		CHECK(37, pump_until(cur_done, 20000), "%s: received %u of %lu bytes, no SHUTDOWN",
		      cur->name, cur->recvd, n2);
		CHECK(38, !cur->rst, "%s: RST", cur->name);
		CHECK(39, cur->recvd == n2 && !cur->bad, "%s: received %u bytes (%lu expected), %u wrong",
		      cur->name, cur->recvd, n2, cur->bad);
		printf("virtio_vsock: %s: received %u bytes, pattern ok, host shut down\n",
		       cur->name, cur->recvd);
		send_ctl(cur, OP_SHUTDOWN, SHUT_RCV | SHUT_SEND);
		CHECK(40, pump_until(cur_rst, 3000), "%s: no RST after our SHUTDOWN", cur->name);
	}
	printf("virtio_vsock: both connections closed\n");

	/* A reset closes the transport: the next driver hears of it. */
	virtio_reset(&vd);
	setup(mode);
	struct vbuf e = { evbuf, sizeof(evbuf), true };
	evbuf[0] = 0xffffffff;
	CHECK(41, virtq_add(&vd.vq[EVQ], &e, 1, evbuf) >= 0, "event buffer");
	virtq_kick(&vd.vq[EVQ]);
	u32 len = 0;
	r = virtq_wait(&vd.vq[EVQ], 3000, &len, NULL);
	CHECK(42, r >= 0 && len == 4 && evbuf[0] == EVENT_TRANSPORT_RESET,
	      "no TRANSPORT_RESET event after reset (%d, len %u, id %u)", r, len, evbuf[0]);
	printf("virtio_vsock: TRANSPORT_RESET after reset\n");
	virtio_reset(&vd);
	return 0;
}
