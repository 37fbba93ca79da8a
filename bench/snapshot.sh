#!/bin/bash
# SPDX-License-Identifier: MIT
# Snapshot and restore (BENCHMARKS.md): the api_counter guest with 256 MiB
# and 2 GiB of RAM is paused and snapshotted (time and size of the
# snapshot), then restored N times lazily and N times with prefault=on;
# "restore -> first guest instruction" is cvmm's own figure (the log's
# "first guest entry X ms after start", process start to the first
# KVM_RUN of the restored vCPU). Prints a table; asserts nothing.
#   bench/snapshot.sh BUILD [N]
set -u
B=${1:?usage: bench/snapshot.sh BUILD [N]}
N=${2:-5}
T=$(mktemp -d /tmp/cvmm-bench-snap.XXXXXX)
trap 'kill -9 $PID 2>/dev/null; rm -rf "$T"' EXIT
PID=
G=$B/guest/api_counter.bzImage
printf '%-8s %-9s %12s %12s %14s %14s\n' RAM mode "snap ms" "snap MiB" "first-run ms" "(min..max)"
for mem in 256M 2G; do
	rm -rf "$T/s" "$T/sock"
	"$B/cvmm" --kernel "$G" --serial "file=$T/serial" --memory "size=$mem" \
		--api-socket "$T/sock" --log-level info 2>"$T/err" </dev/null &
	PID=$!
	for _ in $(seq 100); do grep -q '^tick 3' "$T/serial" 2>/dev/null && break; sleep 0.1; done
	"$B/cvmm-remote" --api-socket "$T/sock" pause
	"$B/cvmm-remote" --api-socket "$T/sock" snapshot "file://$T/s"
	kill -9 $PID; wait $PID 2>/dev/null; PID=
	sms=$(sed -n 's/.*snapshot: .* in \([0-9.]*\) ms/\1/p' "$T/err")
	smib=$(du -m "$T/s" | tail -1 | cut -f1)
	for mode in lazy prefault; do
		arg="source_url=file://$T/s"
		[ $mode = prefault ] && arg="$arg,prefault=on"
		vals=
		for _ in $(seq "$N"); do
			"$B/cvmm" --restore "$arg" --log-level info 2>"$T/rerr" </dev/null &
			PID=$!
			sleep 0.5
			kill -TERM $PID; wait $PID 2>/dev/null; PID=
			v=$(sed -n 's/.*first guest entry \([0-9.]*\) ms.*/\1/p' "$T/rerr")
			vals="$vals $v"
		done
		echo "$vals" | tr ' ' '\n' | grep . | sort -n | awk -v m="$mem" -v mode=$mode -v s="$sms" -v sz="$smib" '
			{ a[NR] = $1 } END { printf "%-8s %-9s %12s %12s %14s %14s\n", m, mode, s, sz, a[int((NR + 1) / 2)], a[1] ".." a[NR] }'
	done
done
