#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Device passthrough benchmark (BENCHMARKS.md, "Device passthrough"): the
# bench_vfio guest (tests/guest/tests/bench_vfio.c) measures with its TSC
# a 4-byte read of guest RAM (the floor), a trapped and a mapped read of
# edu's BAR0, and the interrupt latency from a write to edu's raise
# register to the guest's handler. Prints its lines; asserts nothing.
#
#   bench/vfio.sh [BUILD]         (`make bench-vfio` builds what it needs)
#
# Here: vfio-user, against tests/vfio-user/edu-server. edu-server traps
# BAR0's register half (each read: a vCPU exit, a REGION_READ message to
# the server and its reply) and maps its upper half (a scratch page of its
# memfd, a KVM memory slot: no exit); its interrupts are eventfds it
# writes, KVM irqfds. Two runs: the server as it is (trapped 0x0, mapped
# 0x80000), then --no-mmap (both trapped). --memory shared=on.
#
# Kernel VFIO needs the nested rig (tests/nested/README.md): its
# vfio-bench part binds QEMU's edu to vfio-pci and runs bench_vfio with
# BAR0 mapped, then with --device ...,mmap=off (trapped: region reads on
# the VFIO device fd):
#
#   NESTED_PARTS=vfio-bench tests/nested/run-nested-test.sh build/cvmm
#
# Environment: BENCH_VFIO_ARGS (the guest's command line, default
# "n=2000 reps=9 irqs=200").
set -u
BUILD=${1:-build}
CVMM=$BUILD/cvmm
EDU=$BUILD/tests/vfio-user/edu-server
IMG=$BUILD/guest/bench_vfio.bzImage
ARGS=${BENCH_VFIO_ARGS:-n=2000 reps=9 irqs=200}
for f in "$CVMM" "$EDU" "$IMG"; do
	[ -e "$f" ] || { echo "bench/vfio.sh: no $f (make bench-vfio)" >&2; exit 1; }
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-bench-vfio.XXXXXX") || exit 1
EPID=
cleanup() {
	[ -n "$EPID" ] && kill "$EPID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

echo "cvmm device passthrough benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "host: $(uname -r), $(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "guest: bench_vfio $ARGS, 64 MiB shared"
# run LABEL [edu-server options]
run() {
	local label=$1
	shift
	rm -f "$TMP/edu.sock"
	"$EDU" --socket "$TMP/edu.sock" "$@" 2>"$TMP/edu.log" &
	EPID=$!
	for _ in $(seq 50); do [ -S "$TMP/edu.sock" ] && break; sleep 0.1; done
	echo "-- vfio-user, edu-server $label"
	timeout -k 5 120 "$CVMM" --kernel "$IMG" --serial tty --debug-exit \
		--memory size=64M,shared=on --user-device "socket=$TMP/edu.sock" \
		--cmdline "$ARGS" </dev/null 2>"$TMP/cvmm.err" | tr -d '\r' | grep '^bench_vfio: \|^FAIL'
	sed 's/^/  cvmm: /' "$TMP/cvmm.err"
	kill "$EPID" 2>/dev/null
	wait "$EPID" 2>/dev/null
	EPID=
}
run "(BAR0+0x0 trapped, BAR0+0x80000 mapped)"
run "--no-mmap (both trapped)" --no-mmap
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "kernel VFIO (nested rig): NESTED_PARTS=vfio-bench tests/nested/run-nested-test.sh $CVMM"
