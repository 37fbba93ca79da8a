#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The rig's cost, for BENCHMARKS.md: QEMU+TCG running the nested test's
# two Linux guests directly (no KVM, no cvmm), with the same kinds of
# devices:
#   tiny    the tiny Linux (vmlinux, PVH entry) to "VFS: Mounted root"
#   stock   Debian's stock kernel with the inner initramfs to "USER: done"
#           (its ping goes to QEMU's user-mode network: may fail, not timed)
#
#   tests/nested/qemu-direct.sh
#
# Prints one line per guest: seconds from QEMU's start to the marker, and to
# QEMU's exit. Uses the cached rig (build-rig.sh) and kernel (build-kernel.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RIG=$("$HERE/build-rig.sh")
read -r _ VMLINUX < <("$HERE/../linux/build-kernel.sh" | paste -sd' ')
W=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-qemu-direct.XXXXXX")
trap 'rm -rf "$W"' EXIT
TSC_KHZ=$("$HERE/../linux/host-tsc-khz.sh")

# run NAME MARKER qemu-args...: the seconds to MARKER and to the end.
run() {
    local name=$1 marker=$2 t0 t_mark='' line
    shift 2
    t0=$EPOCHREALTIME
    while IFS= read -r line; do
        if [ -z "$t_mark" ] && [[ $line == *"$marker"* ]]; then t_mark=$EPOCHREALTIME; fi
    done < <(timeout 600 qemu-system-x86_64 -accel tcg -cpu qemu64 -m 512 -smp 1 \
        -nodefaults -nographic -serial stdio -no-reboot "$@" </dev/null 2>&1)
    awk -v n="$name" -v m="$marker" -v a="$t0" -v b="${t_mark:-0}" -v c="$EPOCHREALTIME" \
        'BEGIN { printf "%-6s %s: %s s, exit: %.1f s\n", n, m, (b > 0 ? sprintf("%.1f", b - a) : "never"), c - a }'
}

mkdir -p "$W/root"
mke2fs -q -t ext2 -d "$W/root" "$W/root.img" 8M
run tiny "VFS: Mounted root" -M q35 -kernel "$VMLINUX" \
    -drive "file=$W/root.img,if=virtio,format=raw" \
    -append "console=ttyS0 tsc_early_khz=$TSC_KHZ tsc=reliable reboot=k panic=-1 root=/dev/vda rw rootfstype=ext2"

printf 'cvmm-nested-pat1' >"$W/vda.img"
truncate -s 64K "$W/vda.img"
truncate -s 64K "$W/vdb.img"
run stock "USER: done" -M q35 -kernel "$RIG/vmlinuz" -initrd "$RIG/inner.cpio.gz" \
    -drive "file=$W/vda.img,if=virtio,format=raw,readonly=on" \
    -drive "file=$W/vdb.img,if=virtio,format=raw" \
    -netdev user,id=n0,net=10.78.0.0/24,host=10.78.0.1 -device virtio-net-pci,netdev=n0 \
    -device virtio-rng-pci -device virtio-serial-pci -device virtconsole,chardev=c0 \
    -chardev "file,id=c0,path=$W/hvc0" \
    -append "console=ttyS0 reboot=k panic=-1 quiet"
