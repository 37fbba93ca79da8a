#!/bin/bash
# SPDX-License-Identifier: MIT
#
# cvmm benchmarks (BENCHMARKS.md): cvmm next to a bare KVM floor
# (bench/floor.c) and QEMU, on the same guest images. Prints a table;
# asserts nothing (a run that ends with the wrong status shows as "ERR").
#
#   bench/run.sh [BUILD]          (`make bench` builds everything first)
#
# Environment: BENCH_RUNS (timed runs per cell; default 7), BENCH_N (exits
# per PIO/MMIO run; default 30000), BENCH_BLK_N (blk_bench
# requests per case; default 200000), BENCH_BLK_REQS (guest virtio-blk
# requests per run; default 3000), QEMU (binary; "none" skips QEMU),
# QEMU_MACHINE (default microvm), QEMU_CPU (default host,-arch-capabilities:
# QEMU 7.2 aborts on hosts whose KVM refuses MSR_IA32_ARCH_CAPABILITIES).
#
# What is measured (each run under timeout(1), BENCH_RUNS runs after one
# warm-up; wall time from fork to exit status, and the CPU time, user +
# system, of the VMM's whole process tree; each as the best run, the better
# estimate on a shared, loaded host, and as the median run):
#  - start -> first guest output: build/bench/first.bzImage, whose first
#    instruction writes '!' to COM1 and whose second exits; bench/firstout
#    times fork -> first byte on the VMM's stdout (each VMM copies COM1 to
#    stdout: cvmm --serial tty, QEMU -serial stdio, floor -v). Wall time
#    only: the VMM's start-up up to the guest's first instruction, plus one
#    exit and one write(2).
#  - start -> exit, null guest: build/bench/null.bzImage, whose first
#    instruction writes port 0xf4 (no guest work at all).
#    cvmm's VM is torn down by its cvmm-teardown helper after cvmm
#    exits: that CPU (about 0.25 ms) is not in the CPU figures. Also for
#    cvmm --platform pit=off (no in-kernel PIT), with first output.
#  - the same two (first output, null guest) with virtio devices attached:
#    a virtio-blk disk (16 MiB raw file in /dev/shm) and a virtio-rng, on
#    cvmm --virtio-transport pci and mmio, and on QEMU -M microvm's
#    virtio-mmio (virtio-blk-device, virtio-rng-device) and, with
#    pcie=on, as virtio-*-pci,disable-legacy=on functions. The guest uses
#    none of them: what differs is the VMM's set-up (PCI: BARs, MSI-X
#    vectors and their routes; virtio-mmio: a window and a GSI each, the
#    DSDT's device entries) and its teardown.
#  - start -> exit, bench_exit: the test-guest runtime's start-up (page
#    tables, IDT, banner on a port no UART claims) and debug-exit.
#  - PIO / MMIO exit: (bench_pio|bench_mmio with n=N) minus bench_exit,
#    divided by N. Port 0x2f0 and address 0xd0000000 belong to no device in
#    any of the three, so each is a full exit to user space and the VMM's
#    bus-miss path (writes dropped).
#  - idle memory: bench_idle (banner, then hlt with interrupts off) with
#    256 MiB of RAM; VmRSS/VmHWM from /proc/PID/status, and the resident part
#    of the guest-RAM mapping from /proc/PID/smaps; the VMM's own memory is
#    VmRSS minus that, and also Pss (smaps_rollup: shared pages such as
#    libc's divided among the processes that map them) minus that.
#  - virtio-blk, guest-driven: bench_blk (tests/guest/tests/bench_blk.c)
#    does n=N 4 KiB reads at queue depth 1 (notify, then sti;hlt until the
#    MSI-X interrupt) from a 16 MiB raw file in /dev/shm; per request =
#    (time with n=N - time with n=0) / N, CPU of the whole VMM process tree
#    (vCPU threads included), and its user-space part alone. cvmm: its
#    virtio-blk (PCI, CF8), with its default engine for a tmpfs image (sync)
#    and with engine=uring; QEMU: virtio-blk-pci,disable-legacy=on (the same
#    1af4:1042 modern device) on -M microvm,pcie=on (ECAM only; the guest
#    assigns the BARs, which no firmware does there), with aio=threads (its
#    default) and aio=io_uring.
#  - virtio-blk, device code alone: host CPU per 4 KiB request in cvmm's
#    device code (bench/blk_bench.c, no guest, file on tmpfs).
set -u
export LC_ALL=C

B=${1:-build}
CVMM=$B/cvmm
FLOOR=$B/bench/floor
NULLIMG=$B/bench/null.bzImage
FIRSTIMG=$B/bench/first.bzImage
FIRSTOUT=$B/bench/firstout
BLK=$B/bench/blk_bench
G=$B/guest
RUNS=${BENCH_RUNS:-7}
N=${BENCH_N:-30000}
BLK_N=${BENCH_BLK_N:-200000}
BLK_REQS=${BENCH_BLK_REQS:-3000}
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_MACHINE=${QEMU_MACHINE:-microvm}
QEMU_CPU=${QEMU_CPU:-host,-arch-capabilities}
MEM=256M
TMO=60

for f in "$CVMM" "$FLOOR" "$NULLIMG" "$FIRSTIMG" "$FIRSTOUT" "$G/bench_exit.bzImage" "$G/bench_pio.bzImage" \
	"$G/bench_mmio.bzImage" "$G/bench_idle.bzImage" "$G/bench_blk.bzImage"; do
	[ -e "$f" ] || { echo "bench: $f is missing (run make bench)" >&2; exit 1; }
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-bench.XXXXXX") || exit 1
# The disk of the virtio rows and of the guest-driven virtio-blk runs.
BLK_IMG=/dev/shm/cvmm-bench-blk.$$.img
trap 'rm -rf "$TMP"; rm -f "$BLK_IMG"' EXIT
head -c 16M /dev/zero >"$BLK_IMG"

# shellcheck disable=SC2054 # commas belong to -device
QEMU_BASE=("$QEMU" -M "$QEMU_MACHINE" -enable-kvm -cpu "$QEMU_CPU" -m "$MEM" -nodefaults
	-no-user-config -nographic -device isa-debug-exit,iobase=0xf4,iosize=1)
have_qemu=0
qemu_why="not installed (bench/setup.sh)"
if [ "$QEMU" = none ]; then
	qemu_why="skipped (QEMU=none)"
elif command -v "$QEMU" >/dev/null 2>&1; then
	timeout 30 "${QEMU_BASE[@]}" -serial none -kernel "$NULLIMG" >"$TMP/probe" 2>&1
	rc=$?
	if [ $rc -eq 1 ]; then
		have_qemu=1
	else
		qemu_why="probe run ended with status $rc: $(head -c 200 "$TMP/probe" | tr '\n' ' ')"
	fi
fi

# Commands for one guest image and command line, per VMM. QEMU's
# isa-debug-exit ends QEMU with (V << 1) | 1, so a guest exit of 0 reads 1.
# cmd_VMM IMAGE CMDLINE [stdout]: with "stdout", COM1 goes to the VMM's
# stdout (first_ms times its first byte); without, it goes nowhere.
# shellcheck disable=SC2317 # called as "cmd_$1"
cmd_floor() {
	CMD=("$FLOOR" -k "$1" -c "$2")
	[ "${3:-}" = stdout ] && CMD+=(-v)
	EXPECT=0
}
cmd_cvmm() {
	local serial=off
	[ "${3:-}" = stdout ] && serial="tty"
	CMD=("$CVMM" --kernel "$1" --cmdline "$2" --memory "size=$MEM" --serial "$serial" --debug-exit)
	EXPECT=0
}
cmd_qemu() {
	local serial=none
	[ "${3:-}" = stdout ] && serial=stdio
	CMD=("${QEMU_BASE[@]}" -serial "$serial" -kernel "$1" -append "$2")
	EXPECT=1
}
# The same with a virtio-blk disk ($BLK_IMG): PCI on both sides.
# shellcheck disable=SC2317
cmd_cvmmblk() { cmd_cvmm "$@"; CMD+=(--disk "path=$BLK_IMG"); }
# The same disk on cvmm's io_uring engine (a tmpfs image defaults to sync).
# shellcheck disable=SC2317
cmd_cvmmublk() { cmd_cvmm "$@"; CMD+=(--disk "path=$BLK_IMG,engine=uring"); }
# cvmm without the in-kernel PIT.
# shellcheck disable=SC2317
cmd_cvmmnopit() { cmd_cvmm "$@"; CMD+=(--platform pit=off); }
# QEMU -M microvm with pcie=on (ECAM, no CF8) and the disk as the same
# modern-only 1af4:1042 function as cvmm's, one queue. (A second -M sets
# the machine: its type replaces QEMU_BASE's, its options merge.)
# shellcheck disable=SC2317,SC2054
cmd_qemublk() {
	cmd_qemu "$@"
	CMD+=(-M microvm,pcie=on -drive "id=d0,file=$BLK_IMG,format=raw,if=none"
		-device virtio-blk-pci,drive=d0,disable-legacy=on,num-queues=1)
}
# The same with QEMU's io_uring AIO (aio=io_uring) instead of its default
# thread pool (aio=threads).
# shellcheck disable=SC2317,SC2054
cmd_qemuublk() {
	cmd_qemu "$@"
	CMD+=(-M microvm,pcie=on -drive "id=d0,file=$BLK_IMG,format=raw,if=none,aio=io_uring"
		-device virtio-blk-pci,drive=d0,disable-legacy=on,num-queues=1)
}
# Devices the guest does not use, by transport: the disk and an rng.
# shellcheck disable=SC2317
cmd_cvmmvpci() { cmd_cvmm "$@"; CMD+=(--disk "path=$BLK_IMG" --rng --virtio-transport pci); }
# shellcheck disable=SC2317
cmd_cvmmvmmio() { cmd_cvmm "$@"; CMD+=(--disk "path=$BLK_IMG" --rng --virtio-transport mmio); }
# shellcheck disable=SC2317,SC2054
cmd_qemuvmmio() {
	cmd_qemu "$@"
	CMD+=(-M microvm -drive "id=d0,file=$BLK_IMG,format=raw,if=none"
		-device virtio-blk-device,drive=d0 -device virtio-rng-device)
}
# shellcheck disable=SC2317,SC2054
cmd_qemuvpci() {
	cmd_qemu "$@"
	CMD+=(-M microvm,pcie=on -drive "id=d0,file=$BLK_IMG,format=raw,if=none"
		-device virtio-blk-pci,drive=d0,disable-legacy=on,num-queues=1
		-device virtio-rng-pci,disable-legacy=on)
}

# stats: numbers on stdin -> "MIN MEDIAN"
stats() {
	sort -n | awk '{ a[NR] = $1 } END {
		if (!NR) { print "ERR ERR"; exit }
		m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		printf "%.3f %.3f\n", a[1], m }'
}

# cpu_ms FILE: the children's user + system time that `times` wrote to FILE.
cpu_ms() {
	awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); t += p[1] * 60 + p[2] }
		printf "%.3f", t * 1000 }' "$1"
}

# user_ms FILE: the children's user time alone.
user_ms() {
	awk 'NR == 2 { split($1, p, "m"); printf "%.3f", (p[1] * 60 + p[2]) * 1000 }' "$1"
}

# time_ms VMM IMAGE CMDLINE: "WALL_MIN WALL_MEDIAN CPU_MIN CPU_MEDIAN
# USER_MIN USER_MEDIAN" in milliseconds (CPU: user + system of the whole VMM
# process tree, from getrusage via `times`; USER: its user time alone), or
# ERR(status) six times.
time_ms() {
	"cmd_$1" "$2" "$3"
	local i rc t0 t1 bad='' wall=() cpu=() usr=()
	timeout $TMO "${CMD[@]}" </dev/null >/dev/null 2>&1 # warm-up
	for ((i = 0; i < RUNS; i++)); do
		times >"$TMP/c0"
		t0=$EPOCHREALTIME
		timeout $TMO "${CMD[@]}" </dev/null >/dev/null 2>"$TMP/err"
		rc=$?
		t1=$EPOCHREALTIME
		times >"$TMP/c1"
		[ $rc -eq "$EXPECT" ] || bad=$rc
		# QEMU's exit status 1 is also that of its start-up errors.
		grep -v ': warning: ' "$TMP/err" | grep -q '^qemu-system' && bad="$rc, $(head -c 100 "$TMP/err")"
		wall+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) * 1000 }')")
		cpu+=("$(awk -v a="$(cpu_ms "$TMP/c0")" -v b="$(cpu_ms "$TMP/c1")" 'BEGIN { print b - a }')")
		usr+=("$(awk -v a="$(user_ms "$TMP/c0")" -v b="$(user_ms "$TMP/c1")" 'BEGIN { print b - a }')")
	done
	if [ -n "$bad" ]; then
		echo "ERR($bad) ERR($bad) ERR($bad) ERR($bad) ERR($bad) ERR($bad)"
		echo "bench: $1 $(basename "$2") '$3' ended with status $bad (expected $EXPECT): $(head -c 300 "$TMP/err")" >&2
	else
		echo "$(printf '%s\n' "${wall[@]}" | stats) $(printf '%s\n' "${cpu[@]}" | stats) $(printf '%s\n' "${usr[@]}" | stats)"
	fi
}

# first_ms VMM: "FIRST_MIN FIRST_MEDIAN" in milliseconds of wall time from
# fork to the first byte of COM1 output of first.bzImage, or ERR twice.
first_ms() {
	local i f rc first=() bad=''
	"cmd_$1" "$FIRSTIMG" "" stdout
	"$FIRSTOUT" timeout $TMO "${CMD[@]}" >/dev/null # warm-up
	for ((i = 0; i < RUNS; i++)); do
		read -r f _ rc <<<"$("$FIRSTOUT" timeout $TMO "${CMD[@]}")"
		if [ "$rc" != "$EXPECT" ] || [ "$f" = -1.000 ]; then
			bad="$rc"
		fi
		first+=("$f")
	done
	if [ -n "$bad" ]; then
		echo "ERR ERR"
		echo "bench: $1 first.bzImage ended with status $bad (expected $EXPECT) or printed nothing" >&2
	else
		printf '%s\n' "${first[@]}" | stats
	fi
}

# idle_mem VMM: "VmRSS VmHWM guest-RAM-resident Pss" in KiB for bench_idle
# (Pss: the resident pages with each shared one divided among its users,
# from /proc/PID/smaps_rollup).
idle_mem() {
	local out=$TMP/idle-$1.serial pid i
	: >"$out"
	case $1 in
	cvmm) "$CVMM" --kernel "$G/bench_idle.bzImage" --memory "size=$MEM" \
		--serial "file=$out" </dev/null >/dev/null 2>&1 &
		;;
	qemu) "${QEMU_BASE[@]}" -serial "file:$out" -kernel "$G/bench_idle.bzImage" \
		</dev/null >/dev/null 2>&1 &
		;;
	esac
	pid=$!
	for ((i = 0; i < 300; i++)); do
		grep -q idle "$out" 2>/dev/null && break
		sleep 0.1
	done
	sleep 0.5
	if grep -q idle "$out" 2>/dev/null && [ -r /proc/$pid/status ]; then
		local rss hwm ram pss
		rss=$(awk '/^VmRSS:/ { print $2 }' /proc/$pid/status)
		hwm=$(awk '/^VmHWM:/ { print $2 }' /proc/$pid/status)
		# The guest-RAM mapping: the one 256-260 MiB long (QEMU aligns it).
		ram=$(awk '/^Size:/ { size = $2 } /^Rss:/ { if (size >= 262144 && size <= 266240) r += $2 }
			END { print r + 0 }' /proc/$pid/smaps)
		pss=$(awk '/^Pss:/ { print $2 }' /proc/$pid/smaps_rollup)
		echo "$rss $hwm $ram $pss"
	else
		echo "ERR ERR ERR ERR"
	fi
	kill -TERM $pid 2>/dev/null
	wait $pid 2>/dev/null
}

isnum() { [[ $1 =~ ^[0-9.]+$ ]]; }
per_exit() { # TOTAL_MS BASE_MS -> microseconds per exit
	if isnum "$1" && isnum "$2"; then
		awk -v t="$1" -v b="$2" -v n="$N" 'BEGIN { printf "%.2f", (t - b) * 1000 / n }'
	else
		echo "ERR"
	fi
}
ratio() { # A B -> A/B
	if isnum "$1" && isnum "$2" && [ "$(awk -v b="$2" 'BEGIN { print (b > 0) }')" = 1 ]; then
		awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'
	else
		echo "-"
	fi
}
kib2mib() { isnum "$1" && awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }' || echo "${1:--}"; }

VMMS="floor cvmm"
[ $have_qemu = 1 ] && VMMS="$VMMS qemu"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

declare -A R
STATS="wmin wmed cmin cmed"
# put KEY VMM "WALL_MIN WALL_MEDIAN CPU_MIN CPU_MEDIAN USER_MIN USER_MEDIAN":
# R[KEY,VMM,wmin] ...
put() {
	read -r "R[$1,$2,wmin]" "R[$1,$2,wmed]" "R[$1,$2,cmin]" "R[$1,$2,cmed]" \
		"R[$1,$2,umin]" "R[$1,$2,umed]" <<<"$3"
}
for v in $VMMS; do
	read -r "R[first,$v,wmin]" "R[first,$v,wmed]" <<<"$(first_ms "$v")"
	put null $v "$(time_ms "$v" "$NULLIMG" "")"
	put exit $v "$(time_ms "$v" "$G/bench_exit.bzImage" "")"
	put pio_t $v "$(time_ms "$v" "$G/bench_pio.bzImage" "n=$N")"
	put mmio_t $v "$(time_ms "$v" "$G/bench_mmio.bzImage" "n=$N")"
	for st in $STATS; do
		R[pio,$v,$st]=$(per_exit "${R[pio_t,$v,$st]}" "${R[exit,$v,$st]}")
		R[mmio,$v,$st]=$(per_exit "${R[mmio_t,$v,$st]}" "${R[exit,$v,$st]}")
	done
done
# cvmm --platform pit=off: start-up and the whole process, null guest.
read -r "R[first,cvmmnopit,wmin]" "R[first,cvmmnopit,wmed]" <<<"$(first_ms cvmmnopit)"
put null cvmmnopit "$(time_ms cvmmnopit "$NULLIMG" "")"
# The same with virtio devices attached, per transport.
VDEVS="cvmmvpci cvmmvmmio"
[ $have_qemu = 1 ] && VDEVS="$VDEVS qemuvmmio qemuvpci"
for v in $VDEVS; do
	read -r "R[first,$v,wmin]" "R[first,$v,wmed]" <<<"$(first_ms "$v")"
	put null "$v" "$(time_ms "$v" "$NULLIMG" "")"
done
# The floor's own real-mode loop: N x (out, dec, jnz), minus N = 0.
blob_t() {
	local i t0 t1 s=()
	for ((i = 0; i < RUNS; i++)); do
		t0=$EPOCHREALTIME
		"$FLOOR" -n "$1" >/dev/null 2>&1
		t1=$EPOCHREALTIME
		s+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) * 1000 }')")
	done
	printf '%s\n' "${s[@]}" | stats | cut -d' ' -f1
}
blob_pio=$(per_exit "$(blob_t "$N")" "$(blob_t 0)")

for v in cvmm qemu; do
	[ $v = qemu ] && [ $have_qemu = 0 ] && continue
	read -r rss hwm ram pss <<<"$(idle_mem $v)"
	R[rss,$v]=$(kib2mib "$rss")
	R[hwm,$v]=$(kib2mib "$hwm")
	R[ram,$v]=$(kib2mib "$ram")
	if isnum "$rss" && isnum "$ram"; then
		R[ovh,$v]=$(kib2mib $((rss - ram)))
	else
		R[ovh,$v]=ERR
	fi
	if isnum "$pss" && isnum "$ram"; then
		R[povh,$v]=$(kib2mib $((pss - ram)))
	else
		R[povh,$v]=ERR
	fi
done

# virtio-blk driven by the guest: n=BLK_REQS reads minus n=0, per request.
per_req() { # TOTAL_MS BASE_MS -> microseconds per request
	if isnum "$1" && isnum "$2"; then
		awk -v t="$1" -v b="$2" -v n="$BLK_REQS" 'BEGIN { printf "%.1f", (t - b) * 1000 / n }'
	else
		echo "ERR"
	fi
}
for v in cvmm cvmmu qemu qemuu; do
	[ "${v#qemu}" != "$v" ] && [ $have_qemu = 0 ] && continue
	put blk0 $v "$(time_ms ${v}blk "$G/bench_blk.bzImage" "n=0")"
	put blkn $v "$(time_ms ${v}blk "$G/bench_blk.bzImage" "n=$BLK_REQS")"
	for st in $STATS umin umed; do
		R[blk,$v,$st]=$(per_req "${R[blkn,$v,$st]}" "${R[blk0,$v,$st]}")
	done
done

blk_out=
[ -x "$BLK" ] && blk_out=$("$BLK" /dev/shm "$BLK_N" 2>&1)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report ----
echo "cvmm benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "host: $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
echo "load average before/after: $load_before / $load_after"
if [ $have_qemu = 1 ]; then
	echo "QEMU: $("$QEMU" --version | head -1), -M $QEMU_MACHINE -cpu $QEMU_CPU"
else
	echo "QEMU: $qemu_why"
fi
echo "$RUNS runs per cell after a warm-up; N = $N exits per PIO/MMIO run; guest RAM $MEM (floor: 2 MiB)"
q() { [ $have_qemu = 1 ] && echo "${R[$1]:-ERR}" || echo "n/a"; }
fmt="%-38s %9s %9s %9s %11s %10s\n"
row() { # KEY STAT LABEL
	local f=${R[$1,floor,$2]:--} c=${R[$1,cvmm,$2]:--} qq
	qq=$(q "$1,qemu,$2")
	printf "$fmt" "$3" "$f" "$c" "$qq" "$(ratio "$c" "$f")" "$(ratio "$qq" "$c")"
}
for st in $STATS; do
	echo
	case $st in
	wmin) echo "wall time, best run:" ;;
	wmed) echo "wall time, median run:" ;;
	cmin) echo "CPU time (user + system, all threads), best run:" ;;
	cmed) echo "CPU time (user + system, all threads), median run:" ;;
	esac
	printf "$fmt" "" "floor" "cvmm" "QEMU" "cvmm/floor" "QEMU/cvmm"
	case $st in w*) row first $st "start -> first guest output (ms)" ;; esac
	row null $st "start -> exit, null guest (ms)"
	row exit $st "start -> exit, bench_exit (ms)"
	row pio $st "PIO write exit, bus miss (us/exit)"
	row mmio $st "MMIO write exit, bus miss (us/exit)"
done
echo
echo "cvmm --platform pit=off (no in-kernel PIT), null guest (ms):"
pfmt="%-38s %9s %9s %9s %9s\n"
printf "$pfmt" "" "best" "median" "/floor" "/cvmm"
prow() { # KEY STAT_BEST STAT_MEDIAN LABEL: the ratios are of the medians
	printf "$pfmt" "$4" "${R[$1,cvmmnopit,$2]}" "${R[$1,cvmmnopit,$3]}" \
		"$(ratio "${R[$1,cvmmnopit,$3]}" "${R[$1,floor,$3]}")" \
		"$(ratio "${R[$1,cvmmnopit,$3]}" "${R[$1,cvmm,$3]}")"
}
prow first wmin wmed "start -> first guest output, wall"
prow null wmin wmed "start -> exit, wall"
prow null cmin cmed "start -> exit, CPU"
echo
echo "virtio devices attached (virtio-blk on a 16 MiB file in /dev/shm, virtio-rng; the guest"
echo "uses neither), null guest and first output (ms): cvmm with none, on pci, on mmio; QEMU"
echo "microvm with virtio-*-device on its virtio-mmio, and pcie=on with virtio-*-pci:"
vfmt="%-34s %8s %8s %8s %9s %10s %10s %10s\n"
printf "$vfmt" "" "none" "pci" "mmio" "mmio/pci" "QEMU mmio" "QEMU pci" "QEMU/cvmm"
vrow() { # KEY STAT LABEL; QEMU/cvmm: mmio against mmio
	local m=${R[$1,cvmmvmmio,$2]:--} qm qp
	qm=$(q "$1,qemuvmmio,$2")
	qp=$(q "$1,qemuvpci,$2")
	printf "$vfmt" "$3" "${R[$1,cvmm,$2]:--}" "${R[$1,cvmmvpci,$2]:--}" "$m" \
		"$(ratio "$m" "${R[$1,cvmmvpci,$2]:-}")" "$qm" "$qp" "$(ratio "$qm" "$m")"
}
vrow first wmin "start -> first output, wall best"
vrow first wmed "start -> first output, wall median"
vrow null wmin "start -> exit, wall best"
vrow null wmed "start -> exit, wall median"
vrow null cmin "start -> exit, CPU best"
vrow null cmed "start -> exit, CPU median"
echo
echo "idle guest, $MEM of RAM (MiB):"
mfmt="%-38s %9s %9s %10s\n"
printf "$mfmt" "" "cvmm" "QEMU" "QEMU/cvmm"
mrow() { printf "$mfmt" "$2" "${R[$1,cvmm]}" "$(q "$1,qemu")" "$(ratio "$(q "$1,qemu")" "${R[$1,cvmm]}")"; }
mrow rss "VmRSS"
mrow hwm "VmHWM"
mrow ram "guest RAM resident (smaps)"
mrow ovh "VMM overhead = VmRSS - guest RAM"
mrow povh "VMM overhead by PSS = Pss - guest RAM"
echo
echo "virtio-blk, guest-driven: bench_blk, $BLK_REQS x 4 KiB reads at queue depth 1, 16 MiB raw file in /dev/shm"
echo "(QEMU: -M microvm,pcie=on, virtio-blk-pci,disable-legacy=on,num-queues=1); (n=$BLK_REQS - n=0) / $BLK_REQS;"
echo "cvmm: its default engine for a tmpfs image (sync) and engine=uring; QEMU: aio=threads (its default) and"
echo "aio=io_uring; QEMU/cvmm compares the defaults, uring/uring the two io_uring columns:"
bkfmt="%-34s %9s %9s %10s %11s %10s %11s\n"
printf "$bkfmt" "" "cvmm" "cvmm uring" "QEMU" "QEMU uring" "QEMU/cvmm" "uring/uring"
brow() {
	local c=${R[blk,cvmm,$1]} cu=${R[blk,cvmmu,$1]} qq qu
	qq=$(q "blk,qemu,$1")
	qu=$(q "blk,qemuu,$1")
	printf "$bkfmt" "$2" "$c" "$cu" "$qq" "$qu" "$(ratio "$qq" "$c")" "$(ratio "$qu" "$cu")"
}
brow cmin "CPU, best (us/request)"
brow cmed "CPU, median (us/request)"
brow umin "user CPU, best (us/request)"
brow umed "user CPU, median (us/request)"
brow wmin "wall, best (us/request)"
brow wmed "wall, median (us/request)"
bfmt="%-34s %9s %9s %10s %11s\n"
printf "$bfmt" "CPU with n=0, best (ms)" "${R[blk0,cvmm,cmin]}" "${R[blk0,cvmmu,cmin]}" \
	"$(q "blk0,qemu,cmin")" "$(q "blk0,qemuu,cmin")"
printf "$bfmt" "CPU with n=$BLK_REQS, best (ms)" "${R[blkn,cvmm,cmin]}" "${R[blkn,cvmmu,cmin]}" \
	"$(q "blkn,qemu,cmin")" "$(q "blkn,qemuu,cmin")"
echo
echo "floor's 14-byte real-mode loop (out, dec, jnz): $blob_pio us/exit"
if [ -n "$blk_out" ]; then
	echo "virtio-blk, cvmm device code only (no guest):"
	printf '%s\n' "$blk_out" | sed 's/^/  /'
fi
exit 0
