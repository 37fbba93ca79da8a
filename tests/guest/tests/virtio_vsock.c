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
 * serve=1 instead: a server for vsock-host's echo, bulk, many and quit
 * (connections from the host, several at a time):
 *  - port 7, echo: what comes goes back (a 4 KiB window, consumed as it
 *    is echoed); the host's SHUTDOWN, once all is echoed, is answered;
 *  - port 2000, bulk: bulk= bytes of u64 words w_i = i * K + 0xA1 come in
 *    (their sum checked against its closed form, sum and xor sent back for
 *    the host to compare), then bulk= bytes of w_i = i * K + 0xB2 go out
 *    and the host's 16-byte sum and xor of them must match ours: a 64 KiB
 *    window, 16 KiB receive buffers, 32 KiB packets out;
 *  - port 9, quit: refused, and the agent stops; every connection must
 *    have closed cleanly (our SHUTDOWN answered by the device's RST), and
 *    conns= of them.
 * Command line: cid=N hport=P gport=P n1=N n2=N irq=msix|intx
 * [hostile=1] [serve=1 bulk=N conns=N].
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
#define RXBUF_MAX 16384
#define CHUNK 4096
#define BIGCHUNK 32768u
#define WINDOW 16384u /* our buf_alloc */
#define ECHO_WIN 4096u
#define BULK_WIN 65536u
#define KMUL 0x9E3779B97F4A7C15ull

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
	/* serve=1 */
	u32 win;                    /* our buf_alloc (0: WINDOW) */
	int kind;                   /* K_ECHO, K_BULK */
	bool used, shut_sent;
	u8 *ring;                   /* echo: recvd - tx_cnt bytes to send back */
	int phase;                  /* bulk: B_* */
	u64 sum, xr;                /* bulk: of the words received */
	u8 stage[16];
	u32 stage_len, out;         /* bulk: a word's bytes; bytes sent */
	u64 osum, oxr;              /* bulk: of the words sent */
};

enum { K_ECHO = 1, K_BULK };
enum { B_IN, B_OUT, B_ACK, B_DONE };

static struct virtio_dev vd;
static u64 cid;
static u8 rxbuf[NRX][RXBUF_MAX] __aligned(64);
static u32 rxlen = RXBUF;
static struct hdr txhdr;
static u8 txdata[BIGCHUNK + 64] __aligned(64);
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
	struct vbuf v = { b, rxlen, true };
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
		.flags = flags, .buf_alloc = c->win ? c->win : WINDOW, .fwd_cnt = c->fwd_cnt,
	};
	c->fwd_sent = c->fwd_cnt;
	return h;
}

static void send_ctl(struct conn *c, u16 op, u32 flags)
{
	struct hdr h = mkhdr(c, op, flags, 0);
	tx_pkt(&h, NULL, 0, 44);
}

#define NSLOT 8
static struct conn slots[NSLOT];
static u8 echo_ring[NSLOT][ECHO_WIN];
static bool serve_on, quit;
static u64 bulk_n;
static u32 served, served_echo, served_bulk;

static void bulk_in(struct conn *c, const u8 *p, u32 len);
static bool serve_request(const struct hdr *h);

static struct conn *lookup(const struct hdr *h)
{
	for (int i = 0; serve_on && i < NSLOT; i++)
		if (slots[i].used && slots[i].lport == h->dst_port && slots[i].pport == h->src_port)
			return &slots[i];
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
	CHECK(6, b && len >= 44 && len <= rxlen, "rx: used length %u", len);
	struct hdr h;
	memcpy(&h, b, 44);
	CHECK(7, h.len == len - 44, "rx: header len %u, used %u", h.len, len);
	CHECK(8, h.dst_cid == cid && h.type == TYPE_STREAM, "rx: dst_cid %lu type %u",
	      h.dst_cid, h.type);
	struct conn *c = lookup(&h);
	if (!c && serve_on && h.op == OP_REQUEST && serve_request(&h)) {
		/* served */
	} else if (!c && h.op == OP_REQUEST && h.dst_port == cb.lport && !cb.established) {
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
		case OP_RW: {
			u32 win = c->win ? c->win : WINDOW;
			/* The device knows our fwd_cnt as we last sent it. */
			CHECK(10, c->recvd + h.len - c->fwd_sent <= win,
			      "%s: %u bytes beyond our window", c->name, h.len);
			if (c->kind == K_ECHO) {
				/* Consumed when echoed: the ring never overflows. */
				u32 at = c->recvd % ECHO_WIN, k = ECHO_WIN - at;
				if (k > h.len)
					k = h.len;
				memcpy(c->ring + at, b + 44, k);
				memcpy(c->ring, b + 44 + k, h.len - k);
				c->recvd += h.len;
				break;
			}
			if (c->kind == K_BULK)
				bulk_in(c, b + 44, h.len);
			else
				for (u32 i = 0; i < h.len; i++)
					if (b[44 + i] != pat(c->recvd + i, c->seed_in))
						c->bad++;
			c->recvd += h.len;
			c->fwd_cnt = c->recvd; /* consumed at once */
			if (c->fwd_cnt - c->fwd_sent >= win / 2)
				send_ctl(c, OP_CREDIT_UPDATE, 0);
			break;
		}
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

/* ---- serve=1: echo, bulk and quit for vsock-host ---- */

typedef u64 u64u __attribute__((aligned(1), may_alias));

static bool serve_request(const struct hdr *h)
{
	struct conn x = { .lport = h->dst_port, .pport = h->src_port };
	if (h->dst_port != 7 && h->dst_port != 2000) {
		/* port 9 (quit) or nobody's: refused */
		send_ctl(&x, OP_RST, 0);
		quit = quit || h->dst_port == 9;
		return true;
	}
	int i = 0;
	while (i < NSLOT && slots[i].used)
		i++;
	CHECK(50, i < NSLOT, "more than %d connections at once", NSLOT);
	struct conn *c = &slots[i];
	bool echo = h->dst_port == 7;
	*c = (struct conn){
		.name = echo ? "echo" : "bulk", .lport = h->dst_port, .pport = h->src_port,
		.established = true, .peer_buf_alloc = h->buf_alloc, .peer_fwd_cnt = h->fwd_cnt,
		.win = echo ? ECHO_WIN : BULK_WIN, .kind = echo ? K_ECHO : K_BULK, .used = true,
		.ring = echo_ring[i], .phase = B_IN,
	};
	send_ctl(c, OP_RESPONSE, 0);
	return true;
}

/* Bulk bytes in: summed word by word (a word split between packets waits
 * in stage); in B_ACK, the host's 16-byte answer. */
static void bulk_in(struct conn *c, const u8 *p, u32 len)
{
	if (c->phase != B_IN) {
		CHECK(51, c->phase == B_ACK && c->stage_len + len <= 16,
		      "bulk: %u bytes out of turn (phase %d)", len, c->phase);
		memcpy(c->stage + c->stage_len, p, len);
		c->stage_len += len;
		return;
	}
	CHECK(52, c->recvd + len <= bulk_n, "bulk: more than %lu bytes", bulk_n);
	u64 s = c->sum, x = c->xr;
	u32 i = 0;
	while (c->stage_len && i < len) {
		c->stage[c->stage_len++] = p[i++];
		if (c->stage_len == 8) {
			u64 w;
			memcpy(&w, c->stage, 8);
			s += w;
			x ^= w;
			c->stage_len = 0;
		}
	}
	const u64u *q = (const u64u *)(p + i);
	u32 nw = (len - i) / 8;
	for (u32 j = 0; j < nw; j++) {
		s += q[j];
		x ^= q[j];
	}
	i += nw * 8;
	if (i < len) {
		memcpy(c->stage, p + i, len - i);
		c->stage_len = len - i;
	}
	c->sum = s;
	c->xr = x;
}

static u32 credit_of(const struct conn *c)
{
	return c->peer_buf_alloc - (c->tx_cnt - c->peer_fwd_cnt);
}

/* One step of a served connection: true when it did something. */
static bool serve_step(struct conn *c)
{
	if (c->rst) {
		CHECK(53, c->shut_sent, "%s: RST before our SHUTDOWN (received %u, sent %u)",
		      c->name, c->recvd, c->tx_cnt);
		c->used = false;
		served++;
		if (c->kind == K_ECHO)
			served_echo++;
		else
			served_bulk++;
		return true;
	}
	u32 credit = credit_of(c);
	if (c->kind == K_ECHO && c->recvd != c->tx_cnt && credit) {
		u32 at = c->tx_cnt % ECHO_WIN, k = c->recvd - c->tx_cnt;
		if (k > ECHO_WIN - at)
			k = ECHO_WIN - at;
		if (k > credit)
			k = credit;
		c->fwd_cnt = c->tx_cnt + k; /* consumed as it goes out */
		struct hdr h = mkhdr(c, OP_RW, 0, k);
		tx_pkt(&h, c->ring + at, k, 44 + k);
		c->tx_cnt += k;
		return true;
	}
	if (c->kind == K_BULK && c->phase == B_IN && c->recvd == bulk_n) {
		u64 n = bulk_n / 8, want = KMUL * (n * (n - 1) / 2) + n * 0xA1;
		CHECK(54, !c->stage_len && c->sum == want,
		      "bulk: %lu bytes in, sum %lx, expected %lx", bulk_n, c->sum, want);
		u64 ans[2] = { c->sum, c->xr };
		struct hdr h = mkhdr(c, OP_RW, 0, 16);
		tx_pkt(&h, ans, 16, 60);
		c->tx_cnt += 16;
		c->phase = B_OUT;
		return true;
	}
	if (c->kind == K_BULK && c->phase == B_OUT) {
		u32 k = (u32)bulk_n - c->out;
		if (k > credit)
			k = credit;
		if (k > BIGCHUNK)
			k = BIGCHUNK;
		k &= ~7u;
		if (!k)
			return false;
		u64 *q = (u64 *)txdata, w = (c->out / 8) * KMUL + 0xB2, s = c->osum, x = c->oxr;
		for (u32 j = 0; j < k / 8; j++) {
			q[j] = w;
			s += w;
			x ^= w;
			w += KMUL;
		}
		c->osum = s;
		c->oxr = x;
		struct hdr h = mkhdr(c, OP_RW, 0, k);
		tx_pkt(&h, NULL, k, 44 + k);
		c->tx_cnt += k;
		c->out += k;
		if (c->out == bulk_n) {
			c->phase = B_ACK;
			c->stage_len = 0;
		}
		return true;
	}
	if (c->kind == K_BULK && c->phase == B_ACK && c->stage_len == 16) {
		u64 ans[2];
		memcpy(ans, c->stage, 16);
		CHECK(55, ans[0] == c->osum && ans[1] == c->oxr,
		      "bulk: the host's sum/xor %lx/%lx of what we sent, ours %lx/%lx", ans[0],
		      ans[1], c->osum, c->oxr);
		printf("virtio_vsock: bulk: %lu bytes in, sum ok; %lu bytes out, the host's sum and xor agree\n",
		       bulk_n, bulk_n);
		c->phase = B_DONE;
		return true;
	}
	if (c->peer_shut && !c->shut_sent) {
		CHECK(56, c->kind == K_ECHO ? c->recvd == c->tx_cnt : c->phase == B_DONE,
		      "%s: the host shut down early (received %u, sent %u)", c->name, c->recvd,
		      c->tx_cnt);
		send_ctl(c, OP_SHUTDOWN, SHUT_RCV | SHUT_SEND);
		c->shut_sent = true;
		return true;
	}
	return false;
}

static void serve(u64 want_conns, u64 limit_ms)
{
	u64 end = rdtsc() + ms_to_tsc(limit_ms);
	printf("virtio_vsock: serving echo (7), bulk (2000, %lu bytes), quit (9)\n", bulk_n);
	for (;;) {
		bool busy = false, did = rx_one();
		for (int i = 0; i < NSLOT; i++)
			if (slots[i].used) {
				did |= serve_step(&slots[i]);
				busy = true;
			}
		if (quit && !busy)
			break;
		CHECK(57, !(virtio_status(&vd) & VIRTIO_S_NEEDS_RESET), "device needs reset");
		CHECK(58, rdtsc() < end, "serving: no quit within %lu ms (%u served)", limit_ms, served);
		if (!did)
			cpu_relax();
	}
	printf("virtio_vsock: served %u connections (%u echo, %u bulk), all closed\n", served,
	       served_echo, served_bulk);
	CHECK(59, !want_conns || served == want_conns, "%u connections served, %lu expected",
	      served, want_conns);
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
	u64 serve_arg = 0, want_conns = 0, limit = 50000;
	cmdline_get_u64(bi->cmdline, "serve", &serve_arg);
	cmdline_get_u64(bi->cmdline, "bulk", &bulk_n);
	cmdline_get_u64(bi->cmdline, "conns", &want_conns);
	cmdline_get_u64(bi->cmdline, "limit", &limit);
	serve_on = serve_arg != 0;
	if (serve_on)
		rxlen = RXBUF_MAX;
	CHECK(60, bulk_n % 8 == 0 && bulk_n < (1ull << 31), "bulk=%lu: a multiple of 8 below 2 GiB", bulk_n);
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

	if (serve_on) {
		serve(want_conns, limit);
		virtio_reset(&vd);
		return 0;
	}
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
