#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Root on virtio-fs vs on vhost-user-blk (BENCHMARKS.md, "virtio-fs and
# vhost-user-blk roots"): the vfs and vub boots of
# tests/linux/run-linux-test.sh, one after the other rather than beside
# two other boots: the tiny Linux vmlinux (tests/linux/build-kernel.sh's
# cache), 1 vCPU, 256 MiB shared memory, the same command lines;
#   vfs  root on virtio-fs: virtiofsd (cache=none, sandbox=chroot) serving
#        a directory with a static /sbin/init (exit(0));
#   vub  root on vhost-user-blk: qemu-storage-daemon serving a fresh 16 MiB
#        ext2 image (no init: the kernel panics after the attempt).
# Every serial line is stamped with the host clock on arrival; prints the
# seconds from cvmm's start to "Linux version", "VFS: Mounted root",
# "Run /sbin/init" and "Kernel panic", cvmm's exit, and cvmm's CPU time
# (user + sys, GNU time). Asserts nothing.
#
#   bench/vhost-root.sh [BUILD]       (`make bench-vhost-root`)
#
# Environment: VHOST_ROOT_RUNS (boots of each, default 1), LINUX_KERNEL_DIR
# (DIR/vmlinux instead of the cache), VIRTIOFSD (default
# /usr/lib/qemu/virtiofsd), BOOT_TIMEOUT (seconds per boot, default 600).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${1:-build}
CVMM=$(readlink -f "$B/cvmm")
RUNS=${VHOST_ROOT_RUNS:-1}
TMO=${BOOT_TIMEOUT:-600}
VIRTIOFSD=${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
die() { echo "bench/vhost-root.sh: $*" >&2; exit 2; }
[ -x "$CVMM" ] || die "no $B/cvmm"
[ -x "$VIRTIOFSD" ] || die "no virtiofsd at $VIRTIOFSD"
for t in qemu-storage-daemon mke2fs gcc /usr/bin/time; do command -v "$t" >/dev/null || die "no $t"; done
if [ -n "${LINUX_KERNEL_DIR:-}" ]; then
	VMLINUX=$LINUX_KERNEL_DIR/vmlinux
else
	VMLINUX=$("$ROOT/tests/linux/build-kernel.sh" | sed -n 2p) || die "build-kernel.sh failed"
fi
[ -s "$VMLINUX" ] || die "no kernel at $VMLINUX"
TSC_KHZ=$("$ROOT/tests/linux/host-tsc-khz.sh") || die "host-tsc-khz.sh failed"
BASE="console=ttyS0 earlyprintk=serial,ttyS0 noxsave nopcid lpj=2000000 tsc_early_khz=$TSC_KHZ tsc=reliable no_timer_check reboot=k panic=-1 clearcpuid=151,158,306,308,295,288,298,145,150,534,156,293,291,296 clocksource=jiffies pty.legacy_count=0 rodata=off"
W=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-bench-vhost.XXXXXX") || exit 1
BACK=()
cleanup() {
	local p
	for p in "${BACK[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$W/fsroot/sbin"
# shellcheck disable=SC2016 # assembly, not shell
printf '.globl _start\n_start:\n\tmov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall\n' >"$W/init.S"
gcc -nostdlib -static -o "$W/fsroot/sbin/init" "$W/init.S" || die "static init"

stamp() {
	local l
	while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "${l%$'\r'}"; done
}
# boot NAME cvmm-args...: NAME.ts (stamped serial), NAME.t0, NAME.time.
boot() {
	local n=$1
	shift
	echo "$EPOCHREALTIME" >"$W/$n.t0"
	/usr/bin/time -o "$W/$n.time" -f '%e %U %S %x' timeout -k 10 "$TMO" "$CVMM" \
		--kernel "$VMLINUX" --cpus boot=1 --memory size=256M,shared=on --log-level warn "$@" \
		</dev/null 2>"$W/$n.err" | stamp >"$W/$n.ts" &
	wait $!
}
at() {
	local t
	t=$(grep -F -m1 -- "$2" "$W/$1.ts" 2>/dev/null | cut -d' ' -f1)
	[ -n "$t" ] || { echo -; return; }
	awk -v a="$(cat "$W/$1.t0")" -v b="$t" 'BEGIN { printf "%.2f\n", b - a }'
}
row() {
	local n=$1 label=$2 m i
	m=$(at "$1" "VFS: Mounted root")
	i=$(at "$1" "Run /sbin/init")
	printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$(at "$n" "Linux version")" "$m" "$i" \
		"$(awk -v a="$m" -v b="$i" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.2f", b - a }')" \
		"$(at "$n" "Kernel panic")" "$(awk '{ print $1 }' "$W/$n.time")" \
		"$(awk '{ printf "%.2f", $2 + $3 }' "$W/$n.time")"
}

echo "# vfs vs vub roots, $(date -u '+%F %T') UTC, load:$(uptime | sed 's/.*load average//')"
echo "| boot | Linux version | VFS: Mounted root | Run /sbin/init | mount → init | Kernel panic | exit | CPU |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for r in $(seq "$RUNS"); do
	"$VIRTIOFSD" --socket-path="$W/fs.sock" -o source="$W/fsroot" -o cache=none \
		-o sandbox=chroot </dev/null >"$W/virtiofsd.log" 2>&1 &
	BACK+=($!)
	for _ in $(seq 100); do [ -S "$W/fs.sock" ] && break; sleep 0.05; done
	boot "vfs$r" --fs "tag=cvmmfs,socket=$W/fs.sock" --cmdline "$BASE rootfstype=virtiofs root=cvmmfs rw"
	rm -f "$W/vub.img"
	mke2fs -q -F -t ext2 -L cvmmvub "$W/vub.img" 16M >/dev/null || die mke2fs
	qemu-storage-daemon --blockdev "driver=file,node-name=disk0,filename=$W/vub.img" \
		--export "type=vhost-user-blk,id=vub0,node-name=disk0,addr.type=unix,addr.path=$W/vub.sock,writable=on" \
		</dev/null >"$W/qsd.log" 2>&1 &
	BACK+=($!)
	for _ in $(seq 100); do [ -S "$W/vub.sock" ] && break; sleep 0.05; done
	boot "vub$r" --disk "vhost_user=on,socket=$W/vub.sock" --cmdline "$BASE root=/dev/vda rw rootfstype=ext2"
	row "vfs$r" "virtio-fs (vfs), run $r"
	row "vub$r" "vhost-user-blk (vub), run $r"
	for p in "${BACK[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	BACK=()
	rm -f "$W/fs.sock" "$W/vub.sock"
done
