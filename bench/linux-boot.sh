#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Linux boot time, cvmm next to QEMU -M microvm (BENCHMARKS.md, "Linux boot"):
# the tiny Linux test kernel (tests/linux/, cached; never built here unless
# missing), the same command line, 2 vCPUs, 256 MiB, an empty 16 MiB ext2
# root on virtio-blk. Each boot runs until the kernel, finding no init on the
# root, panics and resets (panic=-1 reboot=k; QEMU gets -no-reboot), which
# ends the VMM. Every serial line is stamped with the host clock as it
# arrives (the VMM's serial port on its stdout, through a pipe), giving the
# time from the VMM's start to
#   Linux version        the kernel proper's first line
#   smp: Brought up      both vCPUs online
#   VFS: Mounted root    the root file system mounted (the figure of issue 6)
#   exit                 the VMM ended (GNU time's elapsed time)
# and the CPU time (user + system) of the VMM's process tree, from
# GNU time (getrusage of the waited-for children). Prints asserts-nothing
# tables; a boot that did not mount its root shows as ERR.
#
#   bench/linux-boot.sh [BUILD]           (`make bench-linux`)
#
# Configurations (BOOT_CONFIGS, space-separated; default "cvmm-vmlinux
# cvmm-vmlinux-mmio qemu-vmlinux-mmio qemu-vmlinux-pci", about 13 minutes):
#   cvmm-vmlinux        cvmm, vmlinux through its PVH note, virtio-blk over PCI
#   cvmm-vmlinux-mmio   the same with --virtio-transport mmio: virtio-blk on
#                       virtio-mmio, found through the DSDT (LNRO0005) as
#                       under QEMU microvm; the command line is the same
#   cvmm-bzimage        cvmm, bzImage through the 64-bit boot protocol
#   cvmm-bzimage-mmio   the same on virtio-mmio
#   qemu-vmlinux-mmio   QEMU -M microvm (ACPI on, default devices), vmlinux
#                       through its PVH note, virtio-blk over virtio-mmio
#                       (virtio-blk-device; the kernel finds it in the DSDT)
#   qemu-vmlinux-pci    QEMU -M microvm,pcie=on with virtio-blk-pci
#                       (disable-legacy=on: 1af4:1042, the modern-only device
#                       cvmm has), vmlinux through its PVH note
#   qemu-bzimage-mmio, qemu-bzimage-pci
#                       the same with the bzImage (qboot loads it through
#                       the 16-bit boot protocol; the LZ4 decompressor runs)
#   all                 every one of the above
# Environment: BOOT_RUNS (boots per configuration, default 2; the runs go
# round-robin over the configurations, one boot at a time), BOOT_TIMEOUT
# (seconds per boot, default 600), LINUX_KERNEL_DIR (DIR/vmlinux and
# DIR/bzImage instead of tests/linux/build-kernel.sh's cache; on a host
# whose KVM emulates every instruction, QEMU needs a kernel built with
# int3_selftest() skipped, as before b491489: the emulator cannot deliver
# its INT3, QEMU stops with "KVM internal error" and the boot waits out
# BOOT_TIMEOUT, while cvmm completes the INT3), QEMU (binary),
# QEMU_CPU (default host,-arch-capabilities), BOOT_KEEP=1 (keep the logs).
set -u
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
B=${1:-build}
CVMM=$B/cvmm
RUNS=${BOOT_RUNS:-2}
TMO=${BOOT_TIMEOUT:-600}
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_CPU=${QEMU_CPU:-host,-arch-capabilities}
CONFIGS=${BOOT_CONFIGS:-cvmm-vmlinux cvmm-vmlinux-mmio qemu-vmlinux-mmio qemu-vmlinux-pci}
[ "$CONFIGS" = all ] &&
	CONFIGS="cvmm-vmlinux cvmm-vmlinux-mmio qemu-vmlinux-mmio qemu-vmlinux-pci cvmm-bzimage cvmm-bzimage-mmio qemu-bzimage-mmio qemu-bzimage-pci"
for c in $CONFIGS; do
	case $c in
	cvmm-vmlinux | cvmm-vmlinux-mmio | cvmm-bzimage | cvmm-bzimage-mmio) ;;
	qemu-vmlinux-mmio | qemu-vmlinux-pci | qemu-bzimage-mmio | qemu-bzimage-pci) ;;
	*) echo "linux-boot: unknown configuration '$c' (BOOT_CONFIGS)" >&2; exit 2 ;;
	esac
done
CPUS=2
MEM=256M
ROOT_MB=16
MARKERS=("Linux version" "smp: Brought up" "VFS: Mounted root")

die() { echo "linux-boot: $*" >&2; exit 1; }
[ -x "$CVMM" ] || die "$CVMM is missing (make bench-linux builds it)"
for t in mke2fs timeout awk; do command -v $t >/dev/null || die "$t is missing"; done
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is missing (apt-get install time)"
if [ -n "${LINUX_KERNEL_DIR:-}" ]; then
	BZIMAGE=$LINUX_KERNEL_DIR/bzImage
	VMLINUX=$LINUX_KERNEL_DIR/vmlinux
else
	paths=$("$ROOT/tests/linux/build-kernel.sh") || die "tests/linux/build-kernel.sh failed"
	BZIMAGE=$(sed -n 1p <<<"$paths")
	VMLINUX=$(sed -n 2p <<<"$paths")
fi
if [ ! -s "$BZIMAGE" ] || [ ! -s "$VMLINUX" ]; then die "no kernel at $BZIMAGE / $VMLINUX"; fi
TSC_KHZ=$("$ROOT/tests/linux/host-tsc-khz.sh") || die "host-tsc-khz.sh failed"
# tests/linux/run-linux-test.sh's command line for the bzImage boot (the
# reasons for each option: tests/linux/README.md), no network.
CMDLINE="console=ttyS0 earlyprintk=serial,ttyS0 noxsave nopcid lpj=2000000 tsc_early_khz=$TSC_KHZ tsc=reliable no_timer_check reboot=k panic=-1 clearcpuid=151,158,306,308,295,288,298,145,150,534,156,293,291,296 clocksource=jiffies pty.legacy_count=0 rodata=off root=/dev/vda rw rootfstype=ext2"

have_qemu=0
command -v "$QEMU" >/dev/null 2>&1 && have_qemu=1

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-linuxboot.XXXXXX") || exit 1
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local p
	# a boot still running (after a signal)
	for p in $(descendants $$); do kill "$p" 2>/dev/null; done
	if [ "${BOOT_KEEP:-0}" = 1 ]; then
		echo "logs kept in $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# cmd CONFIG IMG: sets CMD (the VMM's command line; serial on stdout).
cmd() {
	local kernel
	case $1 in
	*-vmlinux*) kernel=$VMLINUX ;;
	*) kernel=$BZIMAGE ;;
	esac
	case $1 in
	cvmm-*)
		CMD=("$CVMM" --kernel "$kernel" --cmdline "$CMDLINE" --cpus "boot=$CPUS"
			--memory "size=$MEM" --disk "path=$2" --serial tty)
		if [[ $1 == *-mmio ]]; then CMD+=(--virtio-transport mmio); fi ;;
	qemu-*)
		local machine=microvm dev=virtio-blk-device,drive=d0
		case $1 in
		*-pci) machine=microvm,pcie=on dev=virtio-blk-pci,drive=d0,disable-legacy=on,num-queues=1 ;;
		esac
		# i8042: microvm has none, and reboot=k resets through it (cvmm
		# has one for that); -no-reboot turns the reset into QEMU's exit.
		CMD=("$QEMU" -M "$machine" -enable-kvm -cpu "$QEMU_CPU" -smp "$CPUS" -m "$MEM"
			-nodefaults -no-user-config -display none -no-reboot -serial stdio
			-device i8042 -kernel "$kernel" -append "$CMDLINE"
			-drive "id=d0,file=$2,format=raw,if=none" -device "$dev") ;;
	esac
}

# stamp: prefixes each line of stdin with the host clock.
stamp() {
	local l
	while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "${l%$'\r'}"; done
}

# boot CONFIG RUN: one boot; writes $TMP/CONFIG.RUN.{ts,err,time,t0,load}.
boot() {
	local c=$1 r=$2 p=$TMP/$1.$2 img=$TMP/root.img
	rm -f "$img"
	mke2fs -q -F -t ext2 -L cvmmroot "$img" ${ROOT_MB}M >/dev/null 2>"$p.mkfs" ||
		die "mke2fs failed: $(head -n 2 "$p.mkfs")"
	cmd "$c" "$img"
	cut -d' ' -f1 /proc/loadavg >"$p.load"
	echo "$EPOCHREALTIME" >"$p.t0"
	# In the background, so that a signal to this script is handled at once.
	/usr/bin/time -o "$p.time" -f '%e %U %S %x' timeout -k 10 "$TMO" "${CMD[@]}" \
		</dev/null 2>"$p.err" | stamp >"$p.ts" &
	wait $!
}

# descendants PID: every process below PID, deepest last.
# shellcheck disable=SC2317 # called from cleanup
descendants() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		echo "$c"
		descendants "$c"
	done
}

# marker_s CONFIG.RUN MARKER: seconds from start to the first line with MARKER.
marker_s() {
	local t
	t=$(grep -F -m1 -- "$2" "$TMP/$1.ts" 2>/dev/null | cut -d' ' -f1)
	[ -n "$t" ] || { echo ERR; return; }
	awk -v a="$(cat "$TMP/$1.t0")" -v b="$t" 'BEGIN { printf "%.1f\n", b - a }'
}

# ok CONFIG.RUN: the root was mounted and the VMM exited on the reset
# (QEMU -no-reboot and cvmm both exit 0).
ok() {
	grep -q 'VFS: Mounted root (ext2 filesystem) on device' "$TMP/$1.ts" 2>/dev/null &&
		[ "$(tail -n 1 "$TMP/$1.time" 2>/dev/null | awk '{ print $4 }')" = 0 ]
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$EPOCHREALTIME
for ((r = 1; r <= RUNS; r++)); do
	for c in $CONFIGS; do
		if [[ $c == qemu-* ]] && [ $have_qemu = 0 ]; then continue; fi
		boot "$c" "$r"
		read -r wall usr sys rc < <(tail -n 1 "$TMP/$c.$r.time" 2>/dev/null)
		printf '# %-18s run %d: exit %s, %ss wall, %ss user, %ss sys, root mounted at %ss (load %s)\n' \
			"$c" "$r" "${rc:-?}" "${wall:-?}" "${usr:-?}" "${sys:-?}" \
			"$(marker_s "$c.$r" "VFS: Mounted root")" "$(cat "$TMP/$c.$r.load")" >&2
	done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report ----
echo "cvmm Linux boot, $(date -u '+%Y-%m-%d %H:%M UTC'), $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) / 60 }') min"
echo "host: $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
echo "load average before/after: $load_before / $load_after"
echo "kernel: $VMLINUX, $BZIMAGE ($(head -c 60 "$(dirname "$VMLINUX")/build-info" 2>/dev/null | head -n 1))"
[ $have_qemu = 1 ] && echo "QEMU: $("$QEMU" --version | head -1), -cpu $QEMU_CPU" ||
	echo "QEMU: $QEMU not installed (bench/setup.sh)"
echo "$CPUS vCPUs, $MEM, ${ROOT_MB} MiB ext2 root; $RUNS boots per configuration; seconds from the VMM's start"
echo "cmdline: $CMDLINE"
fmt="%-18s %4s %8s %8s %8s %8s %8s %8s %8s %6s\n"
echo
printf "$fmt" config run "version" "smp" "root" "exit" "CPU" "user" "sys" "load"
declare -A BEST
for c in $CONFIGS; do
	for ((r = 1; r <= RUNS; r++)); do
		[ -e "$TMP/$c.$r.t0" ] || continue
		p=$c.$r
		# GNU time's last line (a line before it names a non-zero status or a signal)
		read -r wall usr sys _ < <(tail -n 1 "$TMP/$p.time" 2>/dev/null) || wall=ERR
		cpu=$(awk -v u="$usr" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')
		v=$(marker_s "$p" "${MARKERS[0]}")
		s=$(marker_s "$p" "${MARKERS[1]}")
		m=$(marker_s "$p" "${MARKERS[2]}")
		if ! ok "$p"; then
			m="ERR"
			wall="ERR"
			echo "linux-boot: $p did not mount its root and exit 0: $(tail -n 2 "$TMP/$p.ts" | cut -d' ' -f2- | tr '\n' ' ') $(head -c 200 "$TMP/$p.err")" >&2
		fi
		printf "$fmt" "$c" "$r" "$v" "$s" "$m" "$wall" "$cpu" "$usr" "$sys" "$(cat "$TMP/$p.load")"
		# best (lowest) of each column
		for k in v s m wall cpu usr sys; do
			x=${!k}
			[[ $x =~ ^[0-9.]+$ ]] || continue
			o=${BEST[$c,$k]:-}
			if [ -z "$o" ] || awk -v a="$x" -v b="$o" 'BEGIN { exit !(a < b) }'; then BEST[$c,$k]=$x; fi
		done
	done
done
echo
echo "best of $RUNS, and the ratio to cvmm (virtio-pci) with the same kernel format:"
rfmt="%-18s %8s %8s %8s %8s %8s %9s %9s\n"
printf "$rfmt" config "version" "smp" "root" "exit" "CPU" "root/cvmm" "CPU/cvmm"
for c in $CONFIGS; do
	base=cvmm-vmlinux
	[[ $c == *bzimage* ]] && base=cvmm-bzimage
	rr=- rc=-
	for k in m cpu; do
		a=${BEST[$c,$k]:-} b=${BEST[$base,$k]:-}
		x=-
		[ -n "$a" ] && [ -n "$b" ] && x=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2fx", a / b }')
		[ $k = m ] && rr=$x || rc=$x
	done
	printf "$rfmt" "$c" "${BEST[$c,v]:-ERR}" "${BEST[$c,s]:-ERR}" "${BEST[$c,m]:-ERR}" \
		"${BEST[$c,wall]:-ERR}" "${BEST[$c,cpu]:-ERR}" "$rr" "$rc"
done
# Transport against transport: cvmm's virtio-mmio against QEMU microvm's
# (the goal: at most 0.80x its time to the root mount), cvmm's virtio-pci
# against QEMU's pcie=on.
tfmt="%-40s %9s %9s\n"
header=0
for f in vmlinux bzimage; do
	for pair in "cvmm-$f-mmio qemu-$f-mmio" "cvmm-$f qemu-$f-pci"; do
		read -r a b <<<"$pair"
		if [ -z "${BEST[$a,m]:-}" ] || [ -z "${BEST[$b,m]:-}" ]; then continue; fi
		if [ $header = 0 ]; then
			header=1
			echo
			echo "cvmm / QEMU, the same transport and kernel format, best boots:"
			printf "$tfmt" "" "root" "CPU"
		fi
		printf "$tfmt" "$a / $b" \
			"$(awk -v a="${BEST[$a,m]}" -v b="${BEST[$b,m]}" 'BEGIN { printf "%.2fx", a / b }')" \
			"$(awk -v a="${BEST[$a,cpu]:-0}" -v b="${BEST[$b,cpu]:-0}" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')"
	done
done
exit 0
