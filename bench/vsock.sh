#!/bin/bash
# SPDX-License-Identifier: MIT
#
# virtio-vsock throughput and cvmm's CPU per MiB (BENCHMARKS.md, "vsock"):
# one VM runs the guest kit's vsock agent as a server (virtio_vsock.bzImage
# serve=1, tests/guest/tests/virtio_vsock.c), the host tool vsock-host
# (tests/guest/tools/vsock-host.c) opens VSOCK_RUNS bulk connections in
# turn through the hybrid UNIX-socket backend, each moving VSOCK_BYTES
# host->guest and then guest->host, checked (u64 sum and xor at both ends,
# every word on the host). Per direction: MiB/s (host wall clock, first
# byte written to the guest's 16-byte checksum back, and checksum to the
# last byte read) and cvmm's CPU time per MiB (utime + stime of all its
# threads, /proc/PID/stat, around each direction: the vCPU thread's
# instruction emulation included; and of the vsock device thread alone,
# /proc/PID/task/*/stat). Prints the runs and their medians;
# asserts nothing.
#
#   bench/vsock.sh [BUILD]            (`make bench-vsock`)
#
# Environment: VSOCK_BYTES (default 4194304, a multiple of 8), VSOCK_RUNS
# (default 3), VSOCK_TRANSPORT (pci or mmio, default pci).
set -u
B=${1:-build}
N=${VSOCK_BYTES:-4194304}
RUNS=${VSOCK_RUNS:-3}
TR=${VSOCK_TRANSPORT:-pci}
CVMM=$B/cvmm
HOST=$B/guest/vsock-host
IMG=$B/guest/virtio_vsock.bzImage
for f in "$CVMM" "$HOST" "$IMG"; do
	[ -e "$f" ] || { echo "bench/vsock.sh: $f missing (make && make guests)" >&2; exit 2; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-bench-vsock.XXXXXX") || exit 1
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
targs=()
irq=msix
if [ "$TR" = mmio ]; then
	targs=(--virtio-transport mmio)
	irq=intx
fi
echo "# vsock bulk: $RUNS connections x $N bytes each way, virtio-$TR, $(date -u '+%F %T') UTC, load:$(uptime | sed 's/.*load average//')"
"$CVMM" --kernel "$IMG" --serial tty --debug-exit --log-level warn \
	--vsock "cid=3,socket=$W/v.sock" ${targs[@]+"${targs[@]}"} \
	--cmdline "cid=3 serve=1 bulk=$N limit=600000 irq=$irq transport=$TR" \
	</dev/null >"$W/guest.out" 2>"$W/cvmm.err" &
PID=$!
for _ in $(seq 100); do [ -S "$W/v.sock" ] && break; sleep 0.05; done
for i in $(seq "$RUNS"); do
	if ! "$HOST" bulk "$W/v.sock" 2000 "$N" "$PID" >"$W/run$i" 2>&1; then
		echo "# run $i failed: $(tr '\n' ' ' <"$W/run$i")"
		continue
	fi
	grep -- '->' "$W/run$i" | sed "s/^vsock-host: bulk: /run $i: /"
done
"$HOST" quit "$W/v.sock" 9 >/dev/null 2>&1
wait "$PID"
echo "# cvmm exit $?; guest: $(grep -c 'host.s sum and xor agree' "$W/guest.out") bulk connection(s) checked, $(tr -d '\r' <"$W/guest.out" | grep -E '^(PASS|FAIL)' | head -1)"
PID=
# Medians: MiB/s and ms/MiB per direction.
cat "$W"/run* 2>/dev/null | awk '
	/host->guest|guest->host/ {
		d = $3; t = $14; sub(/\)/, "", t)
		r[d] = r[d] " " $4; c[d] = c[d] " " $10; dt[d] = dt[d] " " t }
	function med(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n ? a[int((n + 1) / 2)] : "-" }
	END {
		printf "%-12s %8s %16s %22s\n", "# median", "MiB/s", "cvmm CPU ms/MiB", "device thread ms/MiB"
		for (d in r) printf "%-12s %8s %16s %22s\n", d, med(r[d]), med(c[d]), med(dt[d]) }'
