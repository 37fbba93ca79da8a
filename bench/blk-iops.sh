#!/bin/sh
# `make bench-blk`: virtio-blk IOPS and host CPU per request, cvmm's device
# model driven in-process (bench/blk_iops.c: both engines, 1 and 2 queues),
# next to fio's io_uring engine on the same file with the same pattern and
# depth (the physical reference). Asserts nothing; BENCHMARKS.md has the
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
	trap 'rm -f "$f"' EXIT INT TERM
	# Written, not sparse: reads must reach the device, not a hole.
	dd if=/dev/urandom of="$f" bs=1M count="$SIZE" status=none
	sync "$f" 2>/dev/null || sync
	echo "# $dir: $(df -T "$dir" | awk 'NR == 2 { print $2 " on " $1 }')"
	"$B/bench/blk_iops" "$f" "$SECS" "$ENGINES" "$QUEUES" "$DEPTHS" "$RWS"
	if command -v fio >/dev/null; then
		direct=1
		dd if="$f" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null || direct=0
		echo "# fio --ioengine=io_uring --direct=$direct --bs=4k, one job, $SECS s: IOPS, CPU us/IO (usr+sys)"
		for rw in $(echo "$RWS" | tr , ' '); do
			for d in $(echo "$DEPTHS" | tr , ' '); do
				fio --name=ref --filename="$f" --ioengine=io_uring --direct=$direct \
					--rw="$rw" --bs=4k --iodepth="$d" --numjobs=1 --time_based \
					--runtime="$SECS" --ramp_time=0.3 --randrepeat=0 \
					--output-format=json >"$f.json" 2>/dev/null || { echo "  fio $rw $d failed"; continue; }
				python3 - "$f.json" "$rw" "$d" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
op = "read" if "read" in sys.argv[2] else "write"
ios = j[op]["total_ios"]
rt = j["job_runtime"] / 1000.0
cpu = (j["usr_cpu"] + j["sys_cpu"]) / 100.0 * rt
print("  %-9s %-6s %-6s %5s %10.0f %12s %12.2f" % (sys.argv[2], "fio", "-", sys.argv[3],
      j[op]["iops"], "-", cpu / ios * 1e6 if ios else 0))
PY
				rm -f "$f.json"
			done
		done
	else
		echo "# fio not installed (bench/setup.sh): no reference"
	fi
	rm -f "$f"
done
