#!/bin/sh
# `make bench-blk`: virtio-blk IOPS and host CPU per request, cvmm's device
# model driven in-process (bench/blk_iops.c: both engines, 1 and 2 queues),
# next to fio's io_uring engine on the same file with the same pattern and
# depth (the physical reference), run right after cvmm's cases of that
# pattern and depth, and the ratio. Asserts nothing; BENCHMARKS.md has the
# figures and how to read them.
#
#   bench/blk-iops.sh BUILD
# Environment: BENCH_BLK_DIRS (folders to put the test file in, default
# "/var/tmp /dev/shm": the root file system's disk, and tmpfs),
# BENCH_BLK_SIZE (MiB, default 1024), BENCH_BLK_SECS (per case, default 3),
# BENCH_BLK_DEPTHS (default 1,8,32,128), BENCH_BLK_RW (randread,randwrite),
# BENCH_BLK_ENGINES (uring,sync), BENCH_BLK_QUEUES (1,2).
set -e
B=${1:?usage: $0 BUILD}
DIRS=${BENCH_BLK_DIRS:-/var/tmp /dev/shm}
SIZE=${BENCH_BLK_SIZE:-1024}
SECS=${BENCH_BLK_SECS:-3}
DEPTHS=${BENCH_BLK_DEPTHS:-1,8,32,128}
RWS=${BENCH_BLK_RW:-randread,randwrite}
ENGINES=${BENCH_BLK_ENGINES:-uring,sync}
QUEUES=${BENCH_BLK_QUEUES:-1,2}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
for dir in $DIRS; do
	f=$dir/cvmm-blk-iops.img
	trap 'rm -f "$f" "$f.out" "$f.json"' EXIT INT TERM
	# Written, not sparse: reads must reach the device, not a hole.
	dd if=/dev/urandom of="$f" bs=1M count="$SIZE" status=none
	sync "$f" 2>/dev/null || sync
	echo "# $dir: $(df -T "$dir" | awk 'NR == 2 { print $2 " on " $1 }')"
	direct=1
	dd if="$f" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null || direct=0
	have_fio=1
	command -v fio >/dev/null || { have_fio=0; echo "# fio not installed (bench/setup.sh): no reference"; }
	# Each pattern and depth: cvmm's cases, then fio's at once (the disk
	# under this host drifts by tens of per cent within minutes), then
	# the io_uring engine's IOPS over fio's, per queue count.
	head=1
	for rw in $(echo "$RWS" | tr , ' '); do
		for d in $(echo "$DEPTHS" | tr , ' '); do
			"$B/bench/blk_iops" "$f" "$SECS" "$ENGINES" "$QUEUES" "$d" "$rw" >"$f.out"
			if [ $head = 1 ]; then
				grep '^#' "$f.out"
				echo "# fio --ioengine=io_uring --direct=$direct --bs=4k, one job: IOPS, CPU us/IO (usr+sys) in total_us"
				head=0
			fi
			grep -v '^#' "$f.out" || true
			[ $have_fio = 1 ] || continue
			fio --name=ref --filename="$f" --ioengine=io_uring --direct=$direct \
				--rw="$rw" --bs=4k --iodepth="$d" --numjobs=1 --time_based \
				--runtime="$SECS" --ramp_time=0.3 --randrepeat=0 \
				--output-format=json >"$f.json" 2>/dev/null || { echo "  fio $rw $d failed"; continue; }
			python3 - "$f.json" "$rw" "$d" "$f.out" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
op = "read" if "read" in sys.argv[2] else "write"
ios = j[op]["total_ios"]
rt = j["job_runtime"] / 1000.0
cpu = (j["usr_cpu"] + j["sys_cpu"]) / 100.0 * rt
iops = j[op]["iops"]
print("  %-9s %-6s %-6s %5s %10.0f %12s %12.2f" % (sys.argv[2], "fio", "-", sys.argv[3],
      iops, "-", cpu / ios * 1e6 if ios else 0))
for line in open(sys.argv[4]):
    w = line.split()
    if len(w) >= 5 and w[1] == "uring" and iops > 0:
        print("  %-9s %-6s %-6s %5s %9.2fx  (uring / fio)" % (w[0], "ratio", w[2], w[3],
              float(w[4]) / iops))
PY
			rm -f "$f.json"
		done
	done
	rm -f "$f" "$f.out"
done
