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
 * unkicked_at=K: after round K the guest makes a write of sector
 * UNKICKED_SECTOR (a block starting "UNKICKED") available without
 * notifying the device, prints "snap: unkicked write posted" and waits
 * (up to 60 s) for it: only a restore's kick of each ready queue gets it
 * served (the resume=false test: not before vm.resume). Then "snap:
 * unkicked write done" and the rounds go on.
 */
#include "virtio.h"

const char test_name[] = "snapshot_run";

#define PATTERN_ADDR 0x2000000ull
#define PATTERN_WORDS (256 * 1024 / 8)
#define NSECT 64
#define UNKICKED_SECTOR 100

static volatile u64 ticks;
static struct virtio_dev blk;
static u8 wbuf[512], rbuf[512], ubuf[512];

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
	u64 rounds = 40, seed = 0x5eed, period = 50, unkicked_at = ~0ull;
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
		if (n == unkicked_at)
			unkicked_write();
		mdelay(period);
	}
	cli();
	lapic_write(LAPIC_LVT_TIMER, 0x10000);
	printf("snap: done %lu rounds, pattern intact, %lu ticks\n", rounds, last_ticks);
	return 0;
}
