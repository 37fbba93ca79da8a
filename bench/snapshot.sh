#!/bin/bash
# SPDX-License-Identifier: MIT
# Snapshot and restore (BENCHMARKS.md), cvmm next to QEMU on the same guest:
# the api_counter test guest ("tick N" on COM1 every period_ms=1) with
# 256 MiB and 2 GiB of RAM runs until tick 3, is paused and snapshotted,
# then restored N times each way:
#   cvmm lazy       cvmm --restore source_url=file://DIR
#   cvmm prefault   ... ,prefault=on (the snapshot's data extents populated)
#   qemu            QEMU -M microvm: HMP "stop" and 'migrate "exec:cat > F"'
#                   on a TCP monitor; restored by the same command line with
#                   -incoming "exec:cat F" (it runs when the load is done:
#                   -global migration.store-global-state=off on both)
# Figures: the snapshot's time (cvmm's log; QEMU's "info migrate" total
# time) and size on disk; "first out": wall time from the restoring
# process's start to the first byte of guest serial output after the
# restore (bench/firstout: the VMM's stdout, cvmm --serial tty / QEMU
# -serial stdio; the guest prints within 1 ms of guest time once it runs),
# the same yardstick for both; for cvmm also its own "first guest entry"
# (the log: process start to the restored vCPU's first KVM_RUN). Median
# and range of N. Each restore runs for RUN_S seconds (default 2), then
# SIGTERM. Prints a table; asserts nothing.
#   bench/snapshot.sh BUILD [N]      (QEMU=none skips QEMU)
set -u
B=${1:?usage: bench/snapshot.sh BUILD [N]}
N=${2:-5}
RUN_S=${RUN_S:-2}
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_CPU=${QEMU_CPU:-host,-arch-capabilities}
T=$(mktemp -d /tmp/cvmm-bench-snap.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill -9 $PID 2>/dev/null; rm -rf "$T"' EXIT
G=$B/guest/api_counter.bzImage
FIRSTOUT=$B/bench/firstout
ARGS="console=ttyS0 period_ms=1"
have_qemu=0
[ "$QEMU" != none ] && command -v "$QEMU" >/dev/null 2>&1 && have_qemu=1

wait_tick3() {
	for _ in $(seq 200); do grep -q '^tick 3' "$1" 2>/dev/null && return 0; sleep 0.05; done
	return 1
}

# median and range of the numbers on stdin: "MED (MIN..MAX)"
stats() {
	grep -E '^[0-9.]+$' | sort -n | awk '{ a[NR] = $1 } END {
		if (!NR) { print "-"; exit }
		printf "%s (%s..%s)\n", a[int((NR + 1) / 2)], a[1], a[NR] }'
}

row() { printf '%-7s %-13s %9s %9s  %-24s %-24s\n' "$@"; }
row RAM mode "snap ms" "snap MiB" "first out ms" "first guest entry ms"

for mem in 256M 2G; do
	# ---- cvmm ----
	rm -rf "$T/s" "$T/sock"
	"$B/cvmm" --kernel "$G" --cmdline "$ARGS" --serial tty --memory "size=$mem" \
		--api-socket "$T/sock" --log-level info 2>"$T/err" </dev/null >"$T/serial" &
	PID=$!
	wait_tick3 "$T/serial" || echo "# cvmm $mem: the guest did not start" >&2
	"$B/cvmm-remote" --api-socket "$T/sock" pause >/dev/null
	"$B/cvmm-remote" --api-socket "$T/sock" snapshot "file://$T/s" >/dev/null
	kill -9 $PID; wait $PID 2>/dev/null; PID=
	sms=$(sed -n 's/.*snapshot: .* in \([0-9.]*\) ms/\1/p' "$T/err")
	smib=$(du -m "$T/s" | tail -1 | cut -f1)
	for mode in lazy prefault; do
		arg="source_url=file://$T/s"
		[ $mode = prefault ] && arg="$arg,prefault=on"
		: >"$T/first"; : >"$T/entry"
		for _ in $(seq "$N"); do
			rm -f "$T/rlog"
			"$FIRSTOUT" timeout -s TERM "$RUN_S" "$B/cvmm" --restore "$arg" \
				--log-level info --log-file "$T/rlog" | cut -d' ' -f1 >>"$T/first"
			sed -n 's/.*first guest entry \([0-9.]*\) ms.*/\1/p' "$T/rlog" >>"$T/entry"
		done
		row "$mem" "cvmm $mode" "$sms" "$smib" "$(stats <"$T/first")" "$(stats <"$T/entry")"
	done
	# ---- QEMU ----
	[ $have_qemu = 1 ] || continue
	port=$((20000 + RANDOM % 20000))
	# store-global-state=off: the stream does not carry the source's
	# run state ("paused" after stop), so the restored VM starts as soon
	# as the load is done, as cvmm's --restore does.
	qemu=("$QEMU" -M microvm -enable-kvm -cpu "$QEMU_CPU" -m "$mem" -nodefaults
		-no-user-config -display none -global migration.store-global-state=off
		-kernel "$G" -append "$ARGS")
	rm -f "$T/q.mig" "$T/qserial"
	"${qemu[@]}" -serial "file:$T/qserial" -monitor "tcp:127.0.0.1:$port,server,nowait" \
		</dev/null >/dev/null 2>"$T/qerr" &
	PID=$!
	if ! wait_tick3 "$T/qserial"; then
		echo "# qemu $mem: the guest did not start: $(head -c 300 "$T/qerr")" >&2
		kill -9 $PID; wait $PID 2>/dev/null; PID=
		continue
	fi
	exec 3<>"/dev/tcp/127.0.0.1/$port"
	printf 'stop\nmigrate "exec:cat > %s"\n' "$T/q.mig" >&3
	status=
	for _ in $(seq 600); do
		printf 'info migrate\n' >&3
		sleep 0.05
		while IFS= read -r -t 0.05 l <&3; do
			l=${l//$'\r'/}
			case $l in
			"Migration status: completed"*) status=completed ;;
			"Migration status: failed"*) status=failed ;;
			"total time: "*) qms=${l#total time: }; qms=${qms%% *} ;;
			esac
		done
		[ -n "$status" ] && break
	done
	# QEMU closes the monitor when it has quit (a close before that may
	# drop the command).
	printf 'quit\n' >&3
	timeout 10 cat <&3 >/dev/null
	exec 3>&-
	kill -9 $PID 2>/dev/null
	wait $PID 2>/dev/null; PID=
	if [ "$status" != completed ]; then
		echo "# qemu $mem: migration ${status:-did not finish}" >&2
		continue
	fi
	qmib=$(du -m "$T/q.mig" | cut -f1)
	: >"$T/first"
	for _ in $(seq "$N"); do
		"$FIRSTOUT" timeout -s TERM "$RUN_S" "${qemu[@]}" -serial stdio \
			-incoming "exec:cat $T/q.mig" | cut -d' ' -f1 >>"$T/first"
	done
	row "$mem" "qemu incoming" "${qms:--}" "$qmib" "$(stats <"$T/first")" "-"
done
[ $have_qemu = 1 ] && echo "# QEMU: $("$QEMU" --version | head -1), -M microvm -cpu $QEMU_CPU" ||
	echo "# QEMU: not run"
