#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Linux acceptance test: boots the tiny Linux 6.1 test kernel under cvmm with
# every device and checks what the kernel (and cvmm's own debug log) reports.
#
#   tests/linux/run-linux-test.sh CVMM
#   tests/linux/run-linux-test.sh --recheck DIR    (checks only, on kept logs)
#
# Two boots, at the same time:
#   full     vmlinux through the PVH entry, 2 vCPUs, 256 MiB; vda = a fresh
#            ext2 image mounted as root rw (its mount count must go up),
#            vdb = a second ext2 image with readonly=on; virtio-net on a tap
#            inside a network namespace made here, cvmm configuring the host
#            side and dnsmasq serving DHCP on it (ip=dhcp); virtio-rng reading
#            a file; virtio-console to a file (console=hvc0); an API socket:
#            once the kernel has registered its ACPI power button, the test
#            presses it (cvmm-remote power-button) and the kernel must log
#            exactly one KEY_POWER press and release (evbug). Its root holds
#            an /sbin/init that spins without system calls (the kernel stays
#            up), and then comes ACPI PCI hotplug: cvmm-remote add-disk
#            (the kernel's acpiphp scans the slot: a new virtio disk of the
#            image's size), resize-disk (the kernel logs the new size),
#            remove-device (acpiphp ejects it: cvmm releases the device and
#            closes the image); then cvmm-remote shutdown-vmm ends it.
#   bzimage  the bzImage through the 64-bit boot protocol (its decompressor
#            runs), same CPUs and memory, --virtio-transport mmio (the
#            kernel finds its disk in the DSDT); vda = the read-only image with
#            root=/dev/vda rw: the kernel must fall back to mounting it
#            read-only; virtio-net on its own tap in the same namespace
#            (ip=dhcp, the same dnsmasq); an API socket: once the kernel has
#            probed its disk, the test pauses the VM, snapshots it
#            (vm.snapshot), kills cvmm (SIGKILL) and restores it in a new
#            cvmm (--restore: serial file, tap and disk reopened from the
#            snapshot), whose guest must finish the boot: DHCP lease, root
#            mount, no clocksource watchdog or RCU stall complaint.
# and two more, each with a vhost-user device (--memory shared=on, 1 vCPU):
#   vfs      vmlinux with its root on virtio-fs (rootfstype=virtiofs
#            root=cvmmfs): a host directory served by virtiofsd (its debug
#            log shows the lookups and reads), holding a static /sbin/init
#            (one syscall) that the kernel must load and start;
#   vub      vmlinux with its root on vhost-user-blk: qemu-storage-daemon
#            serves a fresh ext2 image (mount count 7) that the kernel mounts
#            rw: the superblock write must reach the image (count 8).
# The others run until the kernel finds no (working) init, panics and resets
# (panic=-1 reboot=k), which ends cvmm with exit status 0.
# User space cannot run on this host (see tests/linux/README.md), so every
# check reads kernel messages on the serial console, the hvc0 file, cvmm's
# debug log (stderr), the images, the dnsmasq lease file, and what cvmm
# has read from the rng source file.
#
# Prints "ok NAME" or "FAIL NAME: why" per check, the boot times of both
# kernels to the same markers, then "linux: N passed, M failed"; exits 1 if
# any check failed.
#
# Needs root (network namespace, tap), e2fsprogs (mke2fs, tune2fs, dumpe2fs),
# dnsmasq, iproute2, gcc (the static init), virtiofsd and
# qemu-storage-daemon (qemu-system-common) (scripts/install-deps.sh
# installs them). Builds the
# kernel first if it is not cached (tests/linux/build-kernel.sh).
#
# Environment: LINUX_TIMEOUT (seconds for the vmlinux boot, default 1200),
# LINUX_BZ_TIMEOUT (the bzImage boot, default 1200), LINUX_BUILD_TIMEOUT
# (kernel build, default 3600), LINUX_KERNEL_DIR (use DIR/bzImage and
# DIR/vmlinux instead of building the kernel), CVMM_LINUX_KEEP=1 (keep the work directory
# with all logs and print its path; --recheck DIR reruns the checks on it),
# LINUX_LOAD=1 (`make check-linux LOAD=1`: one busy loop per host CPU runs
# beside the boots, as on a contended host; every check must still pass).
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BOOT_TIMEOUT=${LINUX_TIMEOUT:-1200}
BZ_TIMEOUT=${LINUX_BZ_TIMEOUT:-1200}
BUILD_TIMEOUT=${LINUX_BUILD_TIMEOUT:-3600}

usage() { echo "usage: $0 CVMM | --recheck DIR" >&2; exit 2; }

RECHECK=
case "${1:-}" in
"") usage ;;
--recheck) RECHECK=${2:?$(usage)} ;;
-*) usage ;;
esac

pass=0
failed=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
finish() {
    echo "linux: $pass passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

# ---- fixed parameters of the two boots ----------------------------------------
MEM_MB=256
CPUS=2
NS_SUBNET=10.77.0
HOST_IP=$NS_SUBNET.1
MASK=255.255.255.0
DHCP_LO=$NS_SUBNET.50
DHCP_HI=$NS_SUBNET.59
MAC=52:54:00:c7:4d:01
TAP=cvmmlt0
TAP2=cvmmlt1 # hot-plugged (vm.add-net) in the full boot
# The bzimage boot's own tap and subnet (same namespace and dnsmasq).
BZ_SUBNET=10.77.1
BZ_HOST_IP=$BZ_SUBNET.1
BZ_DHCP_LO=$BZ_SUBNET.50
BZ_DHCP_HI=$BZ_SUBNET.59
BZ_MAC=52:54:00:c7:4d:02
BZ_TAP=cvmmlt2
# The bzimage boot is snapshotted (vm.snapshot) once the kernel has probed
# its disk (this line), killed and restored in a new cvmm (--restore).
BZ_SNAP_AT=': [vda] '
SNAP_AT_MARKER=$BZ_SNAP_AT
ROOT_MB=16
RO_MB=4
HP_MB=8                      # the hot-plugged disk, then resized to twice that
MNT_BEFORE=7                 # mount count written into root.img before boot
# virtio PCI device IDs (modern, 0x1040 + virtio device ID)
ID_NET=1af4:1041
ID_BLK=1af4:1042
ID_CONSOLE=1af4:1043
ID_RNG=1af4:1044
ID_VSOCK=1af4:1053
ID_FS=1af4:105a
FS_TAG=cvmmfs
VIRTIOFSD=${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
# Boot-time markers, measured on both boots (host wall clock from cvmm start
# to the moment the line reached the serial log).
MARKERS=("Linux version" "smp: Brought up" ": [vda] " "VFS: Mounted root" "Run /sbin/init")

# ---- work directory --------------------------------------------------------------
if [ -n "$RECHECK" ]; then
    WORK=$(cd "$RECHECK" && pwd) || exit 2
    # shellcheck disable=SC1091
    . "$WORK/params" || exit 2
else
    CVMM=$1
    case "$CVMM" in /*) ;; *) CVMM=$PWD/$CVMM ;; esac
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-linuxtest.XXXXXX") || exit 1
    NS=cvmm-linux-$$
fi

PIDS=()
HOGS=()
cleanup() {
    local p
    if [ -z "$RECHECK" ]; then
        for p in $(cat "$WORK"/*.pids 2>/dev/null) "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    fi
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    if [ -z "$RECHECK" ]; then
        if ip netns list 2>/dev/null | grep -qw "$NS"; then
            ip netns exec "$NS" ip tuntap del mode tap name "$TAP" 2>/dev/null
            ip netns exec "$NS" ip tuntap del mode tap name "$TAP2" 2>/dev/null
            ip netns exec "$NS" ip tuntap del mode tap name "$BZ_TAP" 2>/dev/null
            ip netns del "$NS" 2>/dev/null
        fi
        if [ "${CVMM_LINUX_KEEP:-0}" = 1 ]; then
            echo "# logs kept in $WORK (rerun the checks: $0 --recheck $WORK)"
        else
            rm -rf "$WORK"
        fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers ---------------------------------------------------------------------
# The serial log with CRs removed.
clean() { tr -d '\r' <"$1"; }

# stamp: prefixes each line of stdin with the host clock.
stamp() {
    local l
    while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "${l%$'\r'}"; done
}

# pid of the cvmm process under PID (timeout -> [ip netns exec ->] cvmm).
find_cvmm() {
    local p=$1 c c2
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        for c in $p $(cat /proc/"$p"/task/*/children 2>/dev/null); do
            if [ "$(readlink /proc/"$c"/exe 2>/dev/null)" = "$CVMM_REAL" ]; then
                echo "$c"
                return 0
            fi
            for c2 in $(cat /proc/"$c"/task/*/children 2>/dev/null); do
                if [ "$(readlink /proc/"$c2"/exe 2>/dev/null)" = "$CVMM_REAL" ]; then
                    echo "$c2"
                    return 0
                fi
            done
        done
        sleep 0.2
    done
    return 1
}

# watch_rng PID FILE OUT: while PID lives, records in OUT the highest file
# offset of cvmm's descriptor for FILE (the virtio-rng source): how many
# bytes the guest has taken from the device.
watch_rng() {
    local pid=$1 file=$2 out=$3 max=0 fd pos
    echo 0 >"$out"
    while kill -0 "$pid" 2>/dev/null; do
        for fd in /proc/"$pid"/fd/*; do
            [ "$(readlink "$fd" 2>/dev/null)" = "$file" ] || continue
            pos=$(sed -n 's/^pos:[[:space:]]*//p' /proc/"$pid"/fdinfo/"${fd##*/}" 2>/dev/null)
            if [ -n "$pos" ] && [ "$pos" -gt "$max" ]; then
                max=$pos
                echo "$max" >"$out"
            fi
        done
        sleep 1
    done
}

# boot NAME TIMEOUT [ip netns exec NS] -- cvmm args...: runs cvmm with
# --serial file=$WORK/NAME.serial and stderr in $WORK/NAME.err under
# timeout(1); writes the exit status to NAME.rc, start and end times to
# NAME.t0 and NAME.t1, a timestamped copy of the serial log to NAME.ts.
# Meant to run in the background: the pids of what it starts go to
# NAME.pids for the cleanup.
# With SNAP_AT=MARKER (and --api-socket $WORK/NAME.api among the args): once
# MARKER is in the serial log, the VM is paused and snapshotted into
# $WORK/NAME.snap (cvmm-remote), that cvmm is killed (SIGKILL) and a new one
# restores it (--restore, under the same prefix and timeout) and runs to
# the end; the first cvmm's status goes to NAME.rc0, the serial log's size
# at the snapshot to NAME.snap.at, the snapshot's outcome to NAME.snap.log.
boot() {
    local name=$1 limit=$2
    shift 2
    local prefix=()
    while [ "$1" != -- ]; do prefix+=("$1"); shift; done
    shift
    local serial=$WORK/$name.serial
    : >"$serial"
    echo "$EPOCHREALTIME" >"$WORK/$name.t0"
    "${prefix[@]}" timeout -k 10 "$limit" "$CVMM" --serial "file=$serial" \
        --log-level debug "$@" </dev/null >"$WORK/$name.out" 2>"$WORK/$name.err" &
    local top=$!
    echo "$top" >>"$WORK/$name.pids"
    tail --pid="$top" -n +1 -F "$serial" 2>/dev/null | stamp >"$WORK/$name.ts" &
    local tailer=$!
    echo "$tailer" >>"$WORK/$name.pids"
    local cpid watcher=
    cpid=$(find_cvmm "$top") || cpid=
    if [ -n "$cpid" ] && [ -n "${RNG_SRC_WATCH:-}" ]; then
        watch_rng "$cpid" "$RNG_SRC_WATCH" "$WORK/$name.rngpos" &
        watcher=$!
        echo "$watcher" >>"$WORK/$name.pids"
    fi
    if [ -n "${SNAP_AT:-}" ] && snap_and_restore "$name" "$top" "$tailer" "$cpid" "$limit" "${prefix[@]}"; then
        top=$SNAP_TOP
        tailer=$SNAP_TAILER
    fi
    wait "$top"
    echo $? >"$WORK/$name.rc"
    echo "$EPOCHREALTIME" >"$WORK/$name.t1"
    wait "$tailer" 2>/dev/null
    [ -z "$watcher" ] || wait "$watcher" 2>/dev/null
    echo "# $name boot: exit $(cat "$WORK/$name.rc") after $(secs "$name")s"
}

# snap_and_restore NAME TOP TAILER CPID LIMIT [PREFIX...]: boot()'s SNAP_AT part.
# Returns 1 (and the boot goes on as it was) when cvmm ended before MARKER;
# else sets SNAP_TOP and SNAP_TAILER to the restored cvmm's and its serial
# tailer's pids.
snap_and_restore() {
    local name=$1 top=$2 tailer=$3 cpid=$4 limit=$5
    shift 5
    local serial=$WORK/$name.serial sock=$WORK/$name.api dir=$WORK/$name.snap
    local log=$WORK/$name.snap.log
    until grep -qaF -- "$SNAP_AT" "$serial" 2>/dev/null; do
        kill -0 "$top" 2>/dev/null || { echo "cvmm ended before '$SNAP_AT'" >>"$log"; return 1; }
        sleep 0.1
    done
    {
        echo "pause: $(timeout 20 "$REMOTE" --api-socket "$sock" --timeout 10 pause 2>&1; echo "rc $?")"
        echo "snapshot: $(timeout 60 "$REMOTE" --api-socket "$sock" --timeout 50 snapshot "file://$dir" 2>&1; echo "rc $?")"
    } >>"$log"
    stat -c %s "$serial" >"$WORK/$name.snap.at"
    if [ -z "$cpid" ]; then
        echo "no cvmm process found under $top: not killed" >>"$log"
        return 1
    fi
    kill -KILL "$cpid" 2>/dev/null
    wait "$top" 2>/dev/null
    echo $? >"$WORK/$name.rc0"
    wait "$tailer" 2>/dev/null
    echo "restore: $EPOCHREALTIME" >>"$log"
    "$@" timeout -k 10 "$limit" "$CVMM" --restore "source_url=file://$dir" \
        --log-level debug </dev/null >>"$WORK/$name.out" 2>>"$WORK/$name.err" &
    SNAP_TOP=$!
    echo "$SNAP_TOP" >>"$WORK/$name.pids"
    tail --pid="$SNAP_TOP" -c +"$(($(cat "$WORK/$name.snap.at") + 1))" -F "$serial" 2>/dev/null |
        stamp >>"$WORK/$name.ts" &
    SNAP_TAILER=$!
    echo "$SNAP_TAILER" >>"$WORK/$name.pids"
    return 0
}

# press_button NAME SOCK: once the kernel has registered the ACPI power
# button's input device and every built-in driver is up (the first
# late_initcall line: evbug connects to input devices in its own device
# initcall, after the button's, and a press before that reaches no
# handler), presses the button through the API socket (cvmm-remote
# power-button); writes cvmm-remote's exit status to NAME.button.rc and the
# serial line count at the press to NAME.button.at. Gives up when cvmm exits
# first.
press_button() {
    local name=$1 sock=$2 serial=$WORK/$1.serial
    until grep -qa 'input: Power Button as ' "$serial" 2>/dev/null &&
        grep -qa 'IPI shorthand broadcast: ' "$serial" 2>/dev/null; do
        [ -e "$WORK/$name.t1" ] && return 0
        sleep 0.2
    done
    wc -l <"$serial" >"$WORK/$name.button.at"
    timeout 20 "$REMOTE" --api-socket "$sock" --timeout 10 power-button \
        >"$WORK/$name.button.out" 2>&1
    echo $? >"$WORK/$name.button.rc"
}

# wait_for FILE PATTERN SECONDS: a line of FILE matches PATTERN (grep -E)
# within SECONDS; 1 when not (or cvmm exited first: NAME.t1 is there).
wait_for() {
    local f=$1 pat=$2 n=$(($3 * 5))
    while ! grep -qaE -- "$pat" "$f" 2>/dev/null; do
        n=$((n - 1))
        [ "$n" -gt 0 ] && [ ! -e "$WORK/full.t1" ] || return 1
        sleep 0.2
    done
}

# Whether cvmm (PID) holds the hot-plugged image open: yes or no.
holds_image() {
    local fd
    for fd in /proc/"$1"/fd/*; do
        [ "$(readlink "$fd" 2>/dev/null)" = "$HP_IMG" ] && { echo yes; return; }
    done
    echo no
}

# How many tap fds (/dev/net/tun) cvmm (PID) holds.
tun_fds() {
    local fd n=0
    for fd in /proc/"$1"/fd/*; do
        [ "$(readlink "$fd" 2>/dev/null)" = /dev/net/tun ] && n=$((n + 1))
    done
    echo "$n"
}

# BDF ("00:05.0") from a PciDeviceInfo answer with id ID (file), or nothing.
answer_bdf() { sed -nE 's/.*"id":"'"$2"'","bdf":"0000:(00:[0-9a-f]{2}\.0)".*/\1/p' "$1"; }

# wait_driver SOCK BDF OUT: vm.info until the virtio device at BDF has
# MSI-X enabled (its guest driver took it) or 180 s pass; the last answer
# in OUT.
wait_driver() {
    local n=180
    while [ "$n" -gt 0 ] && [ ! -e "$WORK/full.t1" ]; do
        r info >"$3" 2>&1
        python3 - "$3" "0000:$2" <<'PY' && return 0
import json, sys
info = json.load(open(sys.argv[1]))
devs = [d for d in info.get("devices", []) if d.get("bdf") == sys.argv[2]]
sys.exit(0 if devs and devs[0].get("msix", {}).get("enabled") else 1)
PY
        n=$((n - 1))
        sleep 1
    done
    return 1
}

# hotplug NAME SOCK: after the power button, ACPI PCI hotplug on the
# running kernel: add-disk (the kernel must log the new disk), resize-disk
# (the new size), remove-device (the guest ejects, cvmm releases the
# device), each step's outcome in NAME.hp.*; then the VMM is shut down
# (the kernel's init spins for ever). Every step waits at most 180 s.
hotplug() {
    local name=$1 sock=$2 serial=$WORK/$1.serial err=$WORK/$1.err pid r
    [ -f "$WORK/$name.button.rc" ] || return 0
    r() { timeout 30 "$REMOTE" --api-socket "$sock" --timeout 20 "$@"; }
    pid=$(r ping | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
    r add-disk "path=$HP_IMG,id=hp0" >"$WORK/$name.hp.add" 2>&1
    echo $? >"$WORK/$name.hp.add.rc"
    wait_for "$serial" "^virtio_blk virtio[0-9]+: \[vd[a-z]+\] $((HP_MB * 2048)) 512-byte logical blocks" 180
    echo "$(holds_image "$pid")" >"$WORK/$name.hp.open"
    r resize-disk --disk hp0 --size "$((HP_MB * 2))M" >"$WORK/$name.hp.resize" 2>&1
    echo $? >"$WORK/$name.hp.resize.rc"
    wait_for "$serial" "\] new size: $((HP_MB * 4096)) 512-byte logical blocks" 180
    stat -c %s "$HP_IMG" >"$WORK/$name.hp.size"
    r remove-device hp0 >"$WORK/$name.hp.remove" 2>&1
    echo $? >"$WORK/$name.hp.remove.rc"
    wait_for "$err" "hotplug: hp0 released" 180
    echo "$(holds_image "$pid")" >"$WORK/$name.hp.closed"
    r info >"$WORK/$name.hp.info" 2>&1
    # vm.add-net on a second tap in the namespace: the kernel scans a
    # virtio-net function in a slot empty at boot, with its INTx routed,
    # and virtio_net takes it (MSI-X on); remove-device: ejected, released,
    # the tap's fd closed.
    tun_fds "$pid" >"$WORK/$name.hpnet.fds0"
    r add-net "tap=$TAP2,id=hpnet" >"$WORK/$name.hpnet.add" 2>&1
    echo $? >"$WORK/$name.hpnet.add.rc"
    local bdf
    bdf=$(answer_bdf "$WORK/$name.hpnet.add" hpnet)
    if [ -n "$bdf" ]; then
        wait_for "$serial" "^pci 0000:$bdf: \[1af4:1041\]" 180
        wait_driver "$sock" "$bdf" "$WORK/$name.hpnet.info"
        echo $? >"$WORK/$name.hpnet.driver"
    fi
    tun_fds "$pid" >"$WORK/$name.hpnet.fds1"
    r remove-device hpnet >"$WORK/$name.hpnet.remove" 2>&1
    echo $? >"$WORK/$name.hpnet.remove.rc"
    wait_for "$err" "hotplug: hpnet released" 180
    tun_fds "$pid" >"$WORK/$name.hpnet.fds2"
    # vm.add-user-device: the vfio-user test server's edu device without
    # MSI-X (MSI and INTx); the kernel scans [1234:11e8] in the slot; then
    # remove-device.
    local edu_sock=$WORK/edu.sock
    "$EDU" --socket "$edu_sock" --no-msix >"$WORK/$name.edu.out" 2>&1 &
    echo $! >>"$WORK/$name.pids"
    local n=50
    while [ ! -S "$edu_sock" ] && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
    r add-user-device "socket=$edu_sock,id=hpedu" >"$WORK/$name.hpedu.add" 2>&1
    echo $? >"$WORK/$name.hpedu.add.rc"
    bdf=$(answer_bdf "$WORK/$name.hpedu.add" hpedu)
    [ -z "$bdf" ] || wait_for "$serial" "^pci 0000:$bdf: \[1234:11e8\]" 180
    r remove-device hpedu >"$WORK/$name.hpedu.remove" 2>&1
    echo $? >"$WORK/$name.hpedu.remove.rc"
    wait_for "$err" "hotplug: hpedu released" 180
    # The console stays: remove-device is refused, naming why.
    r remove-device "$(sed -nE 's/.*"id":"(_console[0-9]+)".*/\1/p' "$WORK/$name.hp.info" | head -n1)" \
        >"$WORK/$name.hpcon.remove" 2>&1
    echo $? >"$WORK/$name.hpcon.remove.rc"
    r info >"$WORK/$name.hp.info2" 2>&1
    r shutdown-vmm >/dev/null 2>&1
}

# Seconds from cvmm start to its exit.
secs() {
    awk -v a="$(cat "$WORK/$1.t0" 2>/dev/null)" -v b="$(cat "$WORK/$1.t1" 2>/dev/null)" \
        'BEGIN { if (a == "" || b == "") print "-"; else printf "%.1f\n", b - a }'
}

# Seconds (one decimal) from cvmm start to the first serial line with MARKER.
marker_time() {
    local name=$1 marker=$2 t0 t
    t0=$(cat "$WORK/$name.t0" 2>/dev/null) || return 1
    t=$(grep -F -m1 -- "$marker" "$WORK/$name.ts" 2>/dev/null | cut -d' ' -f1)
    [ -n "$t" ] || return 1
    awk -v a="$t0" -v b="$t" 'BEGIN { printf "%.1f\n", b - a }'
}

mount_count() { dumpe2fs -h "$1" 2>/dev/null | sed -n 's/^Mount count:[[:space:]]*//p'; }
write_time() { dumpe2fs -h "$1" 2>/dev/null | sed -n 's/^Last write time:[[:space:]]*//p'; }

# ---- prerequisites, kernel, images, network (skipped by --recheck) --------------
setup() {
    local missing=() t
    [ "$(id -u)" -eq 0 ] || { bad setup "must run as root (network namespace, tap device)"; finish; }
    [ -x "$CVMM" ] || { bad setup "$CVMM is not executable"; finish; }
    REMOTE=$(dirname "$CVMM")/cvmm-remote
    [ -x "$REMOTE" ] || { bad setup "$REMOTE is not executable"; finish; }
    CVMM_REAL=$(readlink -f "$CVMM")
    for t in mke2fs tune2fs dumpe2fs dnsmasq ip timeout tail awk sha256sum gcc qemu-storage-daemon; do
        command -v "$t" >/dev/null || missing+=("$t")
    done
    [ ${#missing[@]} -eq 0 ] ||
        { bad setup "missing tools: ${missing[*]} (run scripts/install-deps.sh)"; finish; }
    [ -x "$VIRTIOFSD" ] || { bad setup "no virtiofsd at $VIRTIOFSD (qemu-system-common; VIRTIOFSD=PATH)"; finish; }
    [ -c /dev/kvm ] || { bad setup "/dev/kvm is missing"; finish; }

    local paths
    if [ -n "${LINUX_KERNEL_DIR:-}" ]; then
        paths=$(printf '%s\n' "$LINUX_KERNEL_DIR/bzImage" "$LINUX_KERNEL_DIR/vmlinux")
    elif ! paths=$(timeout "$BUILD_TIMEOUT" "$HERE/build-kernel.sh"); then
        bad kernel-build "tests/linux/build-kernel.sh failed (see its messages above)"
        finish
    fi
    BZIMAGE=$(sed -n 1p <<<"$paths")
    VMLINUX=$(sed -n 2p <<<"$paths")
    if [ ! -s "$BZIMAGE" ] || [ ! -s "$VMLINUX" ]; then
        bad setup "no kernel at $BZIMAGE / $VMLINUX"; finish
    fi
    TSC_KHZ=$("$HERE/host-tsc-khz.sh") || { bad setup "host-tsc-khz.sh failed"; finish; }

    # The command line of tests/linux/README.md plus clocksource=jiffies:
    # the kernel (HZ_PERIODIC, HZ=250) runs its periodic tick on the
    # oneshot-only TSC-deadline LAPIC timer, and once a clocksource that is
    # valid for high resolution (tsc-early) takes over, tick_handle_periodic()
    # catches up every missed 4 ms tick in a loop with interrupts off; a
    # guest this slow never catches up and the boot livelocks right after
    # "clocksource: Switched to clocksource tsc-early". A jiffies clocksource
    # keeps that loop from running tick_periodic().
    # pty.legacy_count=0: the kernel would register 256 legacy BSD pty pairs
    # (512 devices, CONFIG_LEGACY_PTYS), minutes of emulated work.
    # rodata=off: no write-protecting of kernel text and data after init
    # (page splits, IPI TLB shootdowns, freeing the gaps: over a minute).
    BASE_CMDLINE="console=ttyS0 earlyprintk=serial,ttyS0 noxsave nopcid lpj=2000000 tsc_early_khz=$TSC_KHZ tsc=reliable no_timer_check reboot=k panic=-1 clearcpuid=151,158,306,308,295,288,298,145,150,534,156,293,291,296 clocksource=jiffies pty.legacy_count=0 rodata=off"
    # console=hvc0 first: kernel messages go to both consoles, ttyS0 stays
    # /dev/console.
    FULL_CMDLINE="console=hvc0 $BASE_CMDLINE root=/dev/vda rw rootfstype=ext2 ip=dhcp"
    BZ_CMDLINE="$BASE_CMDLINE root=/dev/vda rw rootfstype=ext2 ip=dhcp"
    VFS_CMDLINE="$BASE_CMDLINE rootfstype=virtiofs root=$FS_TAG rw"
    VUB_CMDLINE="$BASE_CMDLINE root=/dev/vda rw rootfstype=ext2"

    # Images: an empty ext2 root (no init: the kernel panics after mounting
    # it) with a known mount count, and a small read-only one.
    ROOT_IMG=$WORK/root.img
    RO_IMG=$WORK/ro.img
    RNG_SRC=$WORK/rng.bin
    # The full boot's root: an /sbin/init that spins without system calls
    # (this host's user space cannot make one), so that the kernel stays up
    # for the hotplug steps; the test ends that VM through the API.
    mkdir -p "$WORK/fullroot/sbin" &&
        printf '.globl _start\n_start:\n\tjmp _start\n' >"$WORK/spin.S" &&
        gcc -nostdlib -static -o "$WORK/fullroot/sbin/init" "$WORK/spin.S" 2>"$WORK/spin.err" ||
        { bad setup "building the spinning init failed: $(head -n3 "$WORK/spin.err")"; finish; }
    HP_IMG=$WORK/hp.img
    truncate -s "${HP_MB}M" "$HP_IMG" || { bad setup "cannot make $HP_IMG"; finish; }
    if ! { mke2fs -q -F -t ext2 -L cvmmroot -d "$WORK/fullroot" "$ROOT_IMG" "${ROOT_MB}M" >/dev/null &&
           tune2fs -C "$MNT_BEFORE" "$ROOT_IMG" >/dev/null &&
           mke2fs -q -F -t ext2 -L cvmmro "$RO_IMG" "${RO_MB}M" >/dev/null &&
           head -c 1M /dev/urandom >"$RNG_SRC"; } 2>"$WORK/mkfs.err"; then
        bad setup "making the images failed: $(head -n3 "$WORK/mkfs.err")"
        finish
    fi
    MNT_READ_BEFORE=$(mount_count "$ROOT_IMG")
    # The vhost-user boots: a directory for virtiofsd with a static
    # /sbin/init (exit(0): its first syscall, which this host's user space
    # cannot make, ends it either way), and an ext2 image for
    # qemu-storage-daemon.
    FS_DIR=$WORK/fsroot
    VUB_IMG=$WORK/vub.img
    mkdir -p "$FS_DIR/sbin" &&
        printf '.globl _start\n_start:\n\tmov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall\n' >"$WORK/init.S" &&
        gcc -nostdlib -static -o "$FS_DIR/sbin/init" "$WORK/init.S" 2>"$WORK/init.err" ||
        { bad setup "building the static init failed: $(head -n3 "$WORK/init.err")"; finish; }
    echo "cvmm virtio-fs root" >"$FS_DIR/README"
    if ! { mke2fs -q -F -t ext2 -L cvmmvub "$VUB_IMG" "${ROOT_MB}M" >/dev/null &&
           tune2fs -C "$MNT_BEFORE" "$VUB_IMG" >/dev/null; } 2>"$WORK/mkfs.err"; then
        bad setup "making the vhost-user-blk image failed: $(head -n3 "$WORK/mkfs.err")"
        finish
    fi
    VUB_READ_BEFORE=$(mount_count "$VUB_IMG")
    VUB_WTIME_BEFORE=$(write_time "$VUB_IMG")
    RO_SUM_BEFORE=$(sha256sum <"$RO_IMG" | cut -d' ' -f1)

    # Network namespace with a persistent tap that cvmm attaches to and
    # configures (ip=, mask=); dnsmasq serves DHCP on it.
    if ! { ip netns add "$NS" &&
           ip netns exec "$NS" ip link set lo up &&
           ip netns exec "$NS" ip tuntap add mode tap name "$TAP" &&
           ip netns exec "$NS" ip tuntap add mode tap name "$TAP2" &&
           ip netns exec "$NS" ip tuntap add mode tap name "$BZ_TAP"; } 2>"$WORK/netns.err"; then
        bad setup "network namespace: $(head -n3 "$WORK/netns.err")"
        finish
    fi
    ip netns exec "$NS" dnsmasq --keep-in-foreground --conf-file=/dev/null \
        --port=0 --no-resolv --no-hosts --user=root --group=root \
        --interface="$TAP" --interface="$BZ_TAP" --dhcp-authoritative \
        --dhcp-range="$DHCP_LO,$DHCP_HI,$MASK,1h" \
        --dhcp-range="$BZ_DHCP_LO,$BZ_DHCP_HI,$MASK,1h" \
        --dhcp-leasefile="$WORK/dnsmasq.leases" --pid-file="$WORK/dnsmasq.pid" \
        --log-dhcp --log-facility="$WORK/dnsmasq.log" \
        </dev/null >"$WORK/dnsmasq.out" 2>&1 &
    PIDS+=($!)
    sleep 0.5
    if ! kill -0 "${PIDS[-1]}" 2>/dev/null; then
        bad setup "dnsmasq did not start: $(head -n3 "$WORK/dnsmasq.out" "$WORK/dnsmasq.log" 2>/dev/null | tr '\n' ' ')"
        finish
    fi

    EDU=$(dirname "$CVMM")/tests/vfio-user/edu-server
    declare -p CVMM CVMM_REAL REMOTE EDU NS BZIMAGE VMLINUX TSC_KHZ BASE_CMDLINE FULL_CMDLINE \
        BZ_CMDLINE ROOT_IMG RO_IMG RNG_SRC MNT_READ_BEFORE RO_SUM_BEFORE \
        VFS_CMDLINE VUB_CMDLINE FS_DIR VUB_IMG VUB_READ_BEFORE VUB_WTIME_BEFORE HP_IMG >"$WORK/params"
}

# The two boots run at the same time: the bzImage one spends most of its
# time in the decompressor, which this host executes instruction by
# instruction in KVM's emulator, and the guests mostly keep one vCPU busy.
run_boots() {
    local hog
    if [ "${LINUX_LOAD:-0}" != 0 ]; then
        # A contended host: one busy loop per CPU beside the two boots (each
        # ended with the boots, or by its own timeout at the latest).
        echo "# load: $(nproc) busy loops beside the boots (LOAD=1)"
        for _ in $(seq "$(nproc)"); do
            timeout "$((BOOT_TIMEOUT + 60))" sh -c 'while :; do :; done' &
            PIDS+=($!); HOGS+=($!)
        done
    fi
    echo "# full boot: vmlinux (PVH), $CPUS CPUs, ${MEM_MB}M, 2 disks (root: 2 queues, io_uring), net, rng, console, vsock (timeout ${BOOT_TIMEOUT}s)"
    echo "# bzimage boot: bzImage, $CPUS CPUs, ${MEM_MB}M, read-only root, net (DHCP), snapshotted after '$BZ_SNAP_AT' and restored in a new cvmm (timeout ${BZ_TIMEOUT}s)"
    # cvmm configures the host side of the tap (ip=, mask=) at start.
    ( for _ in $(seq 120); do
          if ip netns exec "$NS" ip -4 -o addr show dev "$TAP" 2>/dev/null |
              grep -q " inet $HOST_IP/24 "; then
              echo yes >"$WORK/tap_configured"; exit 0
          fi
          sleep 1
      done ) &
    PIDS+=($!)
    RNG_SRC_WATCH=$(readlink -f "$RNG_SRC") boot full "$BOOT_TIMEOUT" ip netns exec "$NS" -- \
        --kernel "$VMLINUX" --cpus boot=$CPUS --memory size=${MEM_MB}M \
        --console "file=$WORK/full.hvc" \
        --disk "path=$ROOT_IMG,id=root,num_queues=2,engine=uring" \
        --disk "path=$RO_IMG,readonly=on,id=ro" \
        --net "tap=$TAP,mac=$MAC,ip=$HOST_IP,mask=$MASK" \
        --rng "src=$RNG_SRC" \
        --vsock "cid=3,socket=$WORK/vsock.sock" \
        --api-socket "$WORK/full.api" \
        --cmdline "$FULL_CMDLINE" &
    local full=$!
    PIDS+=("$full")
    { press_button full "$WORK/full.api"; hotplug full "$WORK/full.api"; } &
    PIDS+=($!)
    RNG_SRC_WATCH="" SNAP_AT=$BZ_SNAP_AT boot bzimage "$BZ_TIMEOUT" ip netns exec "$NS" -- \
        --kernel "$BZIMAGE" --cpus boot=$CPUS --memory size=${MEM_MB}M \
        --virtio-transport mmio \
        --disk "path=$RO_IMG,readonly=on,id=ro" \
        --net "tap=$BZ_TAP,mac=$BZ_MAC,ip=$BZ_HOST_IP,mask=$MASK" \
        --api-socket "$WORK/bzimage.api" \
        --cmdline "$BZ_CMDLINE" &
    local bz=$!
    PIDS+=("$bz")
    vhost_boots &
    local vh=$!
    PIDS+=("$vh")
    wait "$full"
    wait "$bz"
    wait "$vh"
    for hog in "${HOGS[@]}"; do kill "$hog" 2>/dev/null; wait "$hog" 2>/dev/null; done
    # Host side after the boots: mount count, the read-only image.
    mount_count "$ROOT_IMG" >"$WORK/mnt_after"
    sha256sum <"$RO_IMG" | cut -d' ' -f1 >"$WORK/ro_sum_after"
}

# The two vhost-user boots, each with its backend: virtiofsd (debug log:
# the requests it served; it exits when cvmm closes the connection) and
# qemu-storage-daemon (stopped after the boot, then the image is read).
vhost_boots() {
    echo "# vfs boot: vmlinux, 1 CPU, ${MEM_MB}M shared, root on virtio-fs (virtiofsd) (timeout ${BOOT_TIMEOUT}s)"
    echo "# vub boot: vmlinux, 1 CPU, ${MEM_MB}M shared, root on vhost-user-blk (qemu-storage-daemon) (timeout ${BOOT_TIMEOUT}s)"
    local fsd qsd
    "$VIRTIOFSD" --socket-path="$WORK/fs.sock" -o source="$FS_DIR" -o cache=none \
        -o sandbox=chroot -o log_level=debug </dev/null >"$WORK/virtiofsd.log" 2>&1 &
    fsd=$!
    echo "$fsd" >>"$WORK/vfs.pids"
    qemu-storage-daemon --blockdev "driver=file,node-name=disk0,filename=$VUB_IMG" \
        --export "type=vhost-user-blk,id=vub0,node-name=disk0,addr.type=unix,addr.path=$WORK/vub.sock,writable=on" \
        </dev/null >"$WORK/qsd.log" 2>&1 &
    qsd=$!
    echo "$qsd" >>"$WORK/vub.pids"
    local i
    for i in $(seq 100); do
        [ -S "$WORK/fs.sock" ] && [ -S "$WORK/vub.sock" ] && break
        sleep 0.1
    done
    boot vfs "$BOOT_TIMEOUT" -- \
        --kernel "$VMLINUX" --cpus boot=1 --memory size=${MEM_MB}M,shared=on \
        --fs "tag=$FS_TAG,socket=$WORK/fs.sock" \
        --cmdline "$VFS_CMDLINE" &
    local vfs=$!
    boot vub "$BOOT_TIMEOUT" -- \
        --kernel "$VMLINUX" --cpus boot=1 --memory size=${MEM_MB}M,shared=on \
        --disk "vhost_user=on,socket=$WORK/vub.sock" \
        --cmdline "$VUB_CMDLINE" &
    local vub=$!
    wait "$vfs"
    wait "$vub"
    kill "$qsd" 2>/dev/null
    wait "$qsd" 2>/dev/null
    # virtiofsd leaves once cvmm is gone; not later than this.
    for i in $(seq 50); do kill -0 "$fsd" 2>/dev/null || break; sleep 0.1; done
    kill "$fsd" 2>/dev/null
    wait "$fsd" 2>/dev/null
    mount_count "$VUB_IMG" >"$WORK/vub_mnt_after"
    write_time "$VUB_IMG" >"$WORK/vub_wtime_after"
}

# ---- checks ----------------------------------------------------------------------
WHY=
has() { grep -qF -- "$2" "$1"; }             # has FILE STRING
hasx() { grep -qxF -- "$2" "$1"; }           # has FILE LINE (whole line)

# exit status 0 (guest reset), not a timeout
c_exit() {
    local name=$1 rc why=${2:-i8042: guest requested reset}
    rc=$(cat "$WORK/$name.rc" 2>/dev/null || echo none)
    if [ "$rc" = 0 ] && has "$WORK/$name.err" "$why"; then return 0; fi
    case $rc in
    124|137) WHY="timed out (exit $rc)" ;;
    *) WHY="exit status $rc; cvmm stderr: $(grep -v ' debug' "$WORK/$name.err" | tail -n 3 | tr '\n' ' ')" ;;
    esac
    return 1
}

# earliest lines through earlyprintk, then the 8250 driver takes over
c_earlyprintk() {
    local s=$1 first
    first=$(grep -m1 -n 'Linux version' "$s" | cut -d: -f1)
    local boot real
    boot=$(grep -m1 -n 'printk: bootconsole \[earlyser0\] enabled' "$s" | cut -d: -f1)
    real=$(grep -m1 -n 'printk: console \[ttyS0\] enabled' "$s" | cut -d: -f1)
    if [ -z "$first" ]; then WHY="no 'Linux version' line"; return 1; fi
    if [ -z "$boot" ]; then WHY="no 'bootconsole [earlyser0] enabled' line"; return 1; fi
    if [ -z "$real" ]; then WHY="no 'console [ttyS0] enabled' line"; return 1; fi
    # the 8250 driver finds COM1 through ACPI/PnP ("00:0N: ttyS0 at ...");
    # irq is Linux's number for GSI 4, not necessarily 4
    if ! grep -qE ': ttyS0 at I/O 0x3f8 \(irq = [0-9]+, base_baud = 115200\) is a 16550A$' "$s"; then
        WHY="no 'ttyS0 at I/O 0x3f8 (irq = N, base_baud = 115200) is a 16550A' line"; return 1
    fi
    if [ "$first" -gt "$boot" ] || [ "$boot" -gt "$real" ]; then
        WHY="line order: Linux version @$first, earlyser0 @$boot, ttyS0 @$real"; return 1
    fi
    return 0
}

c_cmdline() {
    local s=$1 want=$2 got
    got=$(sed -n 's/^Command line: //p' "$s" | head -n1)
    [ "$got" = "$want" ] && return 0
    WHY="kernel printed 'Command line: $got'"
    return 1
}

# The e820 map printed by the kernel: usable RAM must end exactly at
# --memory (below 3 GiB there is no hole), sum to within 1 MiB of it (the
# legacy 640K-1M hole), and no usable range may lie above it.
c_e820() {
    local s=$1 mb=$2 mem sum=0 max=0 n=0 a b
    mem=$((mb * 1024 * 1024))
    if ! has "$s" "BIOS-provided physical RAM map:"; then WHY="no 'BIOS-provided physical RAM map:' line"; return 1; fi
    while read -r a b; do
        a=$((16#$a))
        b=$((16#$b + 1))
        sum=$((sum + b - a))
        n=$((n + 1))
        [ "$b" -gt "$max" ] && max=$b
    done < <(sed -nE 's/^BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] usable$/\1 \2/p' "$s")
    if [ "$n" -eq 0 ]; then WHY="no usable 'BIOS-e820: [mem ...] usable' ranges"; return 1; fi
    if [ "$max" -ne "$mem" ]; then
        WHY=$(printf 'usable RAM ends at 0x%x, --memory is 0x%x' "$max" "$mem"); return 1
    fi
    if [ "$sum" -gt "$mem" ] || [ "$sum" -lt $((mem - 1048576)) ]; then
        WHY="usable RAM sums to $sum bytes, --memory is $mem"; return 1
    fi
    return 0
}

c_smp() {
    has "$1" "smp: Brought up 1 node, $CPUS CPUs" && return 0
    WHY="no 'smp: Brought up 1 node, $CPUS CPUs' line ($(grep -m1 'smp: Brought up' "$1" || echo 'none'))"
    return 1
}

# every virtio device in the kernel's PCI scan, with the right IDs
c_pci_scan() {
    local s=$1
    shift
    local got want
    # the boot's scan: up to init (the full boot hot-plugs more later)
    got=$(sed -nE '/Run \/sbin\/init as init process/q; s/^pci 0000:00:[0-9a-f]{2}\.0: \[(1af4:[0-9a-f]{4})\] type 00 class .*/\1/p' "$s" | sort | tr '\n' ' ')
    want=
    [ $# -eq 0 ] || want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
    [ "$got" = "$want" ] && return 0
    WHY="virtio devices in the PCI scan: [${got% }], expected [${want% }]"
    return 1
}

# A VM whose every device is on virtio-mmio has no PCI bus: no MCFG table,
# no config mechanism (CF8/CFC or ECAM) and no host bridge in the DSDT, so
# the kernel gives PCI up at once and scans nothing.
c_no_pci() {
    local s=$1
    if grep -qE '^ACPI: MCFG |PCI host bridge to bus|ACPI: PCI Root Bridge|^pci 0000:' "$s"; then
        WHY="the kernel found PCI: $(grep -m1 -E '^ACPI: MCFG |PCI host bridge to bus|ACPI: PCI Root Bridge|^pci 0000:' "$s")"
        return 1
    fi
    has "$s" "PCI: System does not support PCI" && return 0
    WHY="no 'PCI: System does not support PCI' line"
    return 1
}

# The bzImage boot puts its disk on virtio-mmio: cvmm placed it (window and
# GSI in its log) and the kernel found it through the DSDT's LNRO0005 device
# (bz-vda-capacity and the read-only root show the kernel used it).
c_mmio() {
    grep -qE 'virtio-blk[^ ]*: virtio-mmio at 0x[0-9a-f]+, GSI [0-9]+' "$1" && return 0
    WHY="no 'virtio-blk...: virtio-mmio at ADDR, GSI N' line in cvmm's log"
    return 1
}

# cvmm's debug log shows the guest enabling MSI-X on each virtio-pci device.
# cvmm names each device in "NAME: virtio-pci slot N, BAR0 ..."; the check
# wants, for every NAME, a line with NAME, "MSI-X" and "enabled".
c_msix() {
    local err=$1 names n missing=()
    names=$(sed -nE 's/.*[] ]([^ ]+): virtio-pci slot [0-9]+, BAR0 .*/\1/p' "$err")
    if [ -z "$names" ]; then WHY="no 'NAME: virtio-pci slot' lines in cvmm's log"; return 1; fi
    for n in $names; do
        grep -F -- "$n" "$err" | grep -F 'MSI-X' | grep -qi 'enabled' || missing+=("$n")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    WHY="no 'MSI-X ... enabled' debug line for: ${missing[*]}"
    return 1
}

# The root disk has two queues on the io_uring engine: cvmm says so, and the
# kernel's virtio_blk uses both (one line per disk: vdb has one queue).
c_blk_mq() {
    local s=$1 err=$2
    grep -qE 'virtio-blk\(root\): .*engine=uring(, [a-z ()]+)*, 2 queues of [0-9]+' "$err" || {
        WHY="no 'virtio-blk(root): ... engine=uring, 2 queues of N' line in cvmm's log"; return 1; }
    grep -qE '^virtio_blk virtio[0-9]+: 2/0/0 default/read/poll queues$' "$s" && return 0
    WHY="kernel said: $(grep -m2 'default/read/poll queues' "$s" | tr '\n' ' ' || echo nothing)"
    return 1
}

c_blk_capacity() {
    local s=$1 disk=$2 mb=$3 sectors
    sectors=$((mb * 2048))
    grep -qE "^virtio_blk virtio[0-9]+: \[$disk\] $sectors 512-byte logical blocks " "$s" && return 0
    WHY="want '[$disk] $sectors 512-byte logical blocks', kernel said: $(grep -m1 "\[$disk\]" "$s" || echo nothing)"
    return 1
}

c_root_rw() {
    local s=$1
    if grep -qE '^VFS: Mounted root \(ext2 filesystem\) on device 254:0\.$' "$s"; then return 0; fi
    WHY="no 'VFS: Mounted root (ext2 filesystem) on device 254:0.' line ($(grep -m1 -E 'VFS: |Kernel panic' "$s" || echo 'none'))"
    return 1
}

c_mount_count() {
    local after
    after=$(cat "$WORK/mnt_after" 2>/dev/null)
    if [ "$MNT_READ_BEFORE" != "$MNT_BEFORE" ]; then
        WHY="the image had mount count '$MNT_READ_BEFORE' before the boot, expected $MNT_BEFORE"; return 1
    fi
    [ "$after" = $((MNT_BEFORE + 1)) ] && return 0
    WHY="mount count $MNT_READ_BEFORE before, '$after' after the boot (want $((MNT_BEFORE + 1)))"
    return 1
}

c_ro_unchanged() {
    local after
    after=$(cat "$WORK/$1" 2>/dev/null)
    [ "$after" = "$RO_SUM_BEFORE" ] && return 0
    WHY="ro.img changed (sha256 $RO_SUM_BEFORE -> $after)"
    return 1
}

c_ro_root() {
    grep -qE '^VFS: Mounted root \(ext2 filesystem\) readonly on device 254:0\.$' "$1" && return 0
    WHY="no 'VFS: Mounted root (ext2 filesystem) readonly on device 254:0.' line ($(grep -m1 -E 'VFS: |Kernel panic' "$1" || echo 'none'))"
    return 1
}

c_cvmm_ro() {
    grep -qE "debug.*: $RO_IMG, $((RO_MB * 2048)) sectors, read-only" "$1" && return 0
    WHY="cvmm's log has no '$RO_IMG, $((RO_MB * 2048)) sectors, read-only' line"
    return 1
}

# The tap has the address cvmm was given (checked from the cvmm log: the tap
# is gone when we look, as the namespace cleanup deletes it at the end).
c_dhcp() {
    local s=$1 MAC=${2:-$MAC} HOST_IP=${3:-$HOST_IP} got lease ip
    got=$(sed -nE 's/^IP-Config: Got DHCP answer from ([0-9.]+), my address is ([0-9.]+)$/\1 \2/p' "$s" | head -n1)
    if [ -z "$got" ]; then
        WHY="no 'IP-Config: Got DHCP answer from ..., my address is ...' line ($(grep -m1 -E 'IP-Config|DHCP' "$s" || echo 'none'))"
        return 1
    fi
    lease=$(awk -v mac="$MAC" '$2 == mac { print $3 }' "$WORK/dnsmasq.leases" 2>/dev/null | head -n1)
    ip=${got#* }
    if [ "${got% *}" != "$HOST_IP" ]; then WHY="answer came from ${got% *}, not $HOST_IP"; return 1; fi
    if [ -z "$lease" ]; then WHY="dnsmasq has no lease for $MAC"; return 1; fi
    if [ "$ip" != "$lease" ]; then WHY="kernel got $ip, dnsmasq leased $lease"; return 1; fi
    if ! grep -qE "^ +device=eth0, hwaddr=$MAC, ipaddr=$ip, mask=$MASK," "$s"; then
        WHY="no 'device=eth0, hwaddr=$MAC, ipaddr=$ip, mask=$MASK' line after 'IP-Config: Complete:'"; return 1
    fi
    return 0
}

# ---- the bzimage boot's snapshot (boot(), SNAP_AT) ----
# The serial log from the snapshot on (what the restored cvmm's guest
# printed), CRs removed.
after_snap() { tail -c +"$(($(cat "$WORK/$1.snap.at" 2>/dev/null || echo 0) + 1))" "$WORK/$1.serial" | tr -d '\r'; }
before_snap() { head -c "$(cat "$WORK/$1.snap.at" 2>/dev/null || echo 0)" "$WORK/$1.serial" | tr -d '\r'; }

# Paused and snapshotted after MARKER and before the root mount and the
# DHCP answer; the first cvmm was killed (SIGKILL, status 137 through
# timeout), a new one restored the VM (its log says so).
c_snap_mid_boot() {
    local name=$1 err=$2 rc0 log=$WORK/$1.snap.log
    if ! grep -q '^pause: .*rc 0$' "$log" 2>/dev/null; then WHY="pause failed: $(grep -m1 -E '^(pause|cvmm|no )' "$log" 2>/dev/null)"; return 1; fi
    if ! grep -q '^snapshot: .*rc 0$' "$log"; then WHY="snapshot failed: $(grep -m1 '^snapshot' "$log")"; return 1; fi
    if [ ! -s "$WORK/$name.snap/state.bin" ] || [ ! -e "$WORK/$name.snap/memory.bin" ]; then
        WHY="no state.bin and memory.bin in $WORK/$name.snap"; return 1
    fi
    rc0=$(cat "$WORK/$name.rc0" 2>/dev/null)
    if [ "$rc0" != 137 ]; then WHY="the snapshotted cvmm ended with '$rc0', not killed (137)"; return 1; fi
    if ! before_snap "$name" | grep -qF -- "$SNAP_AT_MARKER"; then WHY="'$SNAP_AT_MARKER' not in the log before the snapshot"; return 1; fi
    if before_snap "$name" | grep -qE 'VFS: Mounted root|IP-Config: Got DHCP answer'; then
        WHY="snapshot too late: $(before_snap "$name" | grep -m1 -E 'VFS: Mounted root|IP-Config: Got DHCP answer')"; return 1
    fi
    grep -qE "^cvmm: info: restore: $WORK/$name.snap: VM running in [0-9.]+ ms" "$err" && return 0
    WHY="no 'restore: $WORK/$name.snap: VM running' line in cvmm's log"
    return 1
}

# The restored process's guest went on: LINE (an ERE) after the snapshot.
c_after_snap() {
    after_snap "$1" | grep -qE -- "$2" && return 0
    WHY="no '$2' after the restore (last lines: $(after_snap "$1" | tail -n 2 | tr '\n' ' '))"
    return 1
}

# Timekeeping survived the snapshot: no clocksource watchdog complaint, RCU
# stall, soft lockup or hung task anywhere in the log, and the kernel's
# printk timestamps (if any) do not go back.
c_timekeeping() {
    local bad
    bad=$(grep -m1 -iE 'clocksource.*unstable|watchdog|rcu.*(stall|self-detected)|soft lockup|hung_task|blocked for more than|timekeeping' "$1")
    [ -z "$bad" ] && return 0
    WHY="kernel said: $bad"
    return 1
}

c_tap_configured() {
    [ -s "$WORK/tap_configured" ] && return 0
    WHY="the tap $TAP in the namespace never got $HOST_IP/24 from cvmm (ip=, mask=)"
    return 1
}

c_rng() {
    local s=$1 pos
    pos=$(cat "$WORK/full.rngpos" 2>/dev/null || echo 0)
    if [ "${pos:-0}" -gt 0 ]; then return 0; fi
    WHY="the guest took no bytes from the virtio-rng source (cvmm's offset in $RNG_SRC stayed 0)"
    return 1
}

# hvc0 registered as a console, and everything the kernel printed after
# that reached the --console file too, line for line as on the serial port.
c_hvc() {
    local s=$1 hvc=$2 n
    if ! has "$s" "printk: console [hvc0] enabled"; then WHY="no 'printk: console [hvc0] enabled' line"; return 1; fi
    if [ ! -s "$hvc" ]; then WHY="the --console file is empty"; return 1; fi
    tr -d '\r' <"$hvc" >"$hvc.clean"
    sed -n '/^printk: console \[hvc0\] enabled$/,$p' "$s" | sed 1d >"$hvc.expect"
    n=$(wc -l <"$hvc.clean")
    if ! head -n "$n" "$hvc.expect" | cmp -s - "$hvc.clean"; then
        WHY="the --console file differs from the serial log after 'console [hvc0] enabled': $(head -n "$n" "$hvc.expect" | diff - "$hvc.clean" | head -n 3 | tr '\n' ' ')"
        return 1
    fi
    if ! grep -q '^Run /sbin/init as init process' "$hvc.clean"; then
        WHY="the hvc0 output ($n lines) lacks 'Run /sbin/init as init process'"; return 1
    fi
    return 0
}

# The bzImage went through the Linux boot protocol (cvmm's log names the
# format), so its decompressor ran before the kernel proper printed
# anything (this kernel has no X86_VERBOSE_BOOTUP, so the decompressor
# itself prints nothing).
c_bzimage_entry() {
    if ! grep -qE "^cvmm: info: kernel .*: bzImage, entry 0x" "$2"; then
        WHY="cvmm did not load it as a bzImage: $(grep -m1 ' kernel ' "$2")"; return 1
    fi
    has "$1" "Linux version" && return 0
    WHY="the kernel never printed 'Linux version'"
    return 1
}

# cvmm logs the boot path it chose: the ELF's PVH note; and the kernel came up.
c_pvh() {
    if ! has "$1" "Linux version"; then WHY="the kernel never printed 'Linux version'"; return 1; fi
    grep -qE "^cvmm: info: kernel .*: ELF \(PVH\), entry 0x" "$2" && return 0
    WHY="cvmm did not take the PVH entry: $(grep -m1 ' kernel ' "$2")"
    return 1
}

# The DSDT's \_SB.PWRB (PNP0C0C) found by the ACPI button driver, which
# registered an input device under it, and the GED (ACPI0013) bound by
# acpi-ged: without it a press never reaches the button.
c_button_device() {
    local s=$1 err
    err=$(grep -m1 -E '^acpi-ged' "$s")
    if [ -n "$err" ]; then
        WHY="the GED's driver complained: $err"; return 1
    fi
    if ! hasx "$s" "ACPI: button: Power Button [PWRB]"; then
        WHY="no 'ACPI: button: Power Button [PWRB]' line"; return 1
    fi
    if ! grep -qE '^input: Power Button as /devices/LNXSYSTM:00/LNXSYBUS:00/PNP0C0C:00/input/input[0-9]+$' "$s"; then
        WHY="no 'input: Power Button as /devices/LNXSYSTM:00/LNXSYBUS:00/PNP0C0C:00/input/inputN' line"; return 1
    fi
    return 0
}

# vm.power-button while the kernel runs: the API answered 2xx, and after the
# press the kernel logged exactly one KEY_POWER (type 1, code 116) press and
# one release on the power button's input device: the GED's interrupt ran
# _EVT, which cleared the event (a level interrupt left asserted would
# repeat it) and notified PWRB.
c_button_press() {
    local name=$1 s=$2 dev at n1 n0
    if [ ! -f "$WORK/$name.button.rc" ]; then
        WHY="never pressed: the power button input device or the late_initcall line (IPI shorthand broadcast) did not appear before cvmm exited"; return 1
    fi
    if [ "$(cat "$WORK/$name.button.rc")" != 0 ]; then
        WHY="cvmm-remote power-button failed: $(head -c 200 "$WORK/$name.button.out")"; return 1
    fi
    dev=$(sed -nE 's|^input: Power Button as /devices/LNXSYSTM:00/LNXSYBUS:00/PNP0C0C:00/input/(input[0-9]+)$|\1|p' "$s" | head -n1)
    at=$(cat "$WORK/$name.button.at")
    n1=$(grep -cxF "evbug: Event. Dev: $dev, Type: 1, Code: 116, Value: 1" "$s")
    n0=$(grep -cxF "evbug: Event. Dev: $dev, Type: 1, Code: 116, Value: 0" "$s")
    if [ "$n1" != 1 ] || [ "$n0" != 1 ]; then
        WHY="want one KEY_POWER press and one release on $dev, the log has $n1 press(es) and $n0 release(s)"; return 1
    fi
    if [ "$(grep -nxF "evbug: Event. Dev: $dev, Type: 1, Code: 116, Value: 1" "$s" | cut -d: -f1)" -le "$at" ]; then
        WHY="the KEY_POWER event came before the press (line $at)"; return 1
    fi
    return 0
}

# vm.add-disk on the running kernel: 200 with the device's id and address,
# and the kernel (acpiphp, then virtio_blk) found a disk of the image's size
# at that address.
c_hp_add() {
    local name=$1 s=$2 bdf
    if [ ! -f "$WORK/$name.hp.add.rc" ]; then WHY="never tried (no power button press before cvmm exited)"; return 1; fi
    if [ "$(cat "$WORK/$name.hp.add.rc")" != 0 ]; then WHY="cvmm-remote add-disk failed: $(head -c 300 "$WORK/$name.hp.add")"; return 1; fi
    bdf=$(sed -nE 's/.*"id":"hp0","bdf":"0000:(00:[0-9a-f]{2}\.0)".*/\1/p' "$WORK/$name.hp.add")
    [ -n "$bdf" ] || { WHY="answer without id hp0 and a bdf: $(head -c 200 "$WORK/$name.hp.add")"; return 1; }
    grep -qE "^pci 0000:$bdf: \[1af4:1042\]" "$s" ||
        { WHY="the kernel did not scan a virtio-blk function at $bdf ($(grep -m2 -E 'acpiphp|pci 0000:'"$bdf" "$s" | tr '\n' ' '))"; return 1; }
    grep -qE "^virtio_blk virtio[0-9]+: \[vd[a-z]+\] $((HP_MB * 2048)) 512-byte logical blocks " "$s" ||
        { WHY="no virtio_blk line with $((HP_MB * 2048)) blocks"; return 1; }
    [ "$(cat "$WORK/$name.hp.open")" = yes ] || { WHY="cvmm does not hold $HP_IMG open"; return 1; }
    return 0
}

# vm.resize-disk: the image grew and the kernel logged the new capacity.
c_hp_resize() {
    local name=$1 s=$2
    if [ "$(cat "$WORK/$name.hp.resize.rc" 2>/dev/null)" != 0 ]; then WHY="cvmm-remote resize-disk failed: $(head -c 300 "$WORK/$name.hp.resize" 2>/dev/null)"; return 1; fi
    [ "$(cat "$WORK/$name.hp.size")" = $((HP_MB * 2 << 20)) ] || { WHY="image size $(cat "$WORK/$name.hp.size"), want $((HP_MB * 2 << 20))"; return 1; }
    grep -qE "^virtio_blk virtio[0-9]+: \[vd[a-z]+\] new size: $((HP_MB * 4096)) 512-byte logical blocks " "$s" ||
        { WHY="no 'new size: $((HP_MB * 4096)) 512-byte logical blocks' line"; return 1; }
    return 0
}

# vm.remove-device: the guest ejected the slot (acpiphp, _EJ0), cvmm
# released the device and closed the image, and it left the configuration.
c_hp_remove() {
    local name=$1 e=$2
    if [ "$(cat "$WORK/$name.hp.remove.rc" 2>/dev/null)" != 0 ]; then WHY="cvmm-remote remove-device failed: $(head -c 300 "$WORK/$name.hp.remove" 2>/dev/null)"; return 1; fi
    # (cvmm's log lines end in CR LF: no $ anchor)
    grep -E "hotplug: the guest ejected slot [0-9]+" "$e" | grep -qv "not asked to" || { WHY="the guest did not eject the slot (no 'the guest ejected slot' in cvmm's log)"; return 1; }
    grep -qE "hotplug: hp0 released \(slot [0-9]+ free\)" "$e" || { WHY="cvmm did not release hp0"; return 1; }
    [ "$(cat "$WORK/$name.hp.closed")" = no ] || { WHY="cvmm still holds $HP_IMG open"; return 1; }
    ! grep -q '"hp0"' "$WORK/$name.hp.info" || { WHY="vm.info still lists hp0"; return 1; }
    return 0
}

# vm.add-net on the running kernel: 200 with hpnet's address, the kernel
# scanned a virtio-net function there without "no GSI" for any device (a
# slot empty at boot has its INTx in the _PRT), virtio_net took it (MSI-X
# enabled), and cvmm held one more tap fd.
c_hpnet_add() {
    local name=$1 s=$2 bdf n0 n1
    if [ "$(cat "$WORK/$name.hpnet.add.rc" 2>/dev/null)" != 0 ]; then WHY="cvmm-remote add-net failed: $(head -c 300 "$WORK/$name.hpnet.add" 2>/dev/null)"; return 1; fi
    bdf=$(answer_bdf "$WORK/$name.hpnet.add" hpnet)
    [ -n "$bdf" ] || { WHY="answer without id hpnet and a bdf: $(head -c 200 "$WORK/$name.hpnet.add")"; return 1; }
    grep -qE "^pci 0000:$bdf: \[1af4:1041\]" "$s" ||
        { WHY="the kernel did not scan a virtio-net function at $bdf"; return 1; }
    ! grep -q "no GSI" "$s" || { WHY="the kernel found no INTx route: $(grep -m1 'no GSI' "$s")"; return 1; }
    [ "$(cat "$WORK/$name.hpnet.driver" 2>/dev/null)" = 0 ] ||
        { WHY="virtio_net did not enable MSI-X on $bdf within 180 s"; return 1; }
    python3 - "$WORK/$name.hpnet.info" "0000:$bdf" <<'PY' || { WHY="vm.info: no INTx GSI for $bdf"; return 1; }
import json, sys
d = [d for d in json.load(open(sys.argv[1]))["devices"] if d.get("bdf") == sys.argv[2]]
sys.exit(0 if d and d[0].get("intx_gsi") else 1)
PY
    n0=$(cat "$WORK/$name.hpnet.fds0"); n1=$(cat "$WORK/$name.hpnet.fds1")
    [ "$n1" = $((n0 + 1)) ] || { WHY="tap fds: $n0 before the add, $n1 after (want one more)"; return 1; }
    return 0
}

# remove-device hpnet: ejected by the guest, released, its tap fd closed,
# gone from vm.info's configuration.
c_hpnet_remove() {
    local name=$1 e=$2 n0 n2
    if [ "$(cat "$WORK/$name.hpnet.remove.rc" 2>/dev/null)" != 0 ]; then WHY="cvmm-remote remove-device hpnet failed: $(head -c 300 "$WORK/$name.hpnet.remove" 2>/dev/null)"; return 1; fi
    grep -qE "hotplug: hpnet released \(slot [0-9]+ free\)" "$e" || { WHY="cvmm did not release hpnet"; return 1; }
    n0=$(cat "$WORK/$name.hpnet.fds0"); n2=$(cat "$WORK/$name.hpnet.fds2")
    [ "$n2" = "$n0" ] || { WHY="tap fds: $n0 before the add, $n2 after the remove"; return 1; }
    ! grep -q '"hpnet"' "$WORK/$name.hp.info2" || { WHY="vm.info still lists hpnet"; return 1; }
    return 0
}

# add-user-device (edu without MSI-X) then remove-device hpedu.
c_hpedu() {
    local name=$1 s=$2 e=$3 bdf
    if [ "$(cat "$WORK/$name.hpedu.add.rc" 2>/dev/null)" != 0 ]; then WHY="cvmm-remote add-user-device failed: $(head -c 300 "$WORK/$name.hpedu.add" 2>/dev/null)"; return 1; fi
    bdf=$(answer_bdf "$WORK/$name.hpedu.add" hpedu)
    [ -n "$bdf" ] || { WHY="answer without id hpedu and a bdf: $(head -c 200 "$WORK/$name.hpedu.add")"; return 1; }
    grep -qE "^pci 0000:$bdf: \[1234:11e8\]" "$s" || { WHY="the kernel did not scan [1234:11e8] at $bdf"; return 1; }
    [ "$(cat "$WORK/$name.hpedu.remove.rc" 2>/dev/null)" = 0 ] || { WHY="remove-device hpedu failed: $(head -c 300 "$WORK/$name.hpedu.remove")"; return 1; }
    grep -qE "hotplug: hpedu released \(slot [0-9]+ free\)" "$e" || { WHY="cvmm did not release hpedu"; return 1; }
    return 0
}

# remove-device of the virtio-console: refused, saying why; it stays.
c_hpcon() {
    local name=$1
    [ "$(cat "$WORK/$name.hpcon.remove.rc" 2>/dev/null)" != 0 ] || { WHY="remove-device of the console succeeded"; return 1; }
    grep -q "is the virtio-console, which cvmm cannot unplug" "$WORK/$name.hpcon.remove" ||
        { WHY="refusal without the reason: $(head -c 200 "$WORK/$name.hpcon.remove")"; return 1; }
    grep -q '"_console' "$WORK/$name.hp.info2" || { WHY="the console left vm.info"; return 1; }
    return 0
}

c_reached_init() {
    has "$1" "Run /sbin/init as init process" && return 0
    WHY="no 'Run /sbin/init as init process' line (last lines: $(tail -n 2 "$1" | tr '\n' ' '))"
    return 1
}

# The kernel's int3_selftest() executes an INT3 at boot, which KVM's emulator
# cannot deliver: cvmm must have completed it (debug line "instruction at
# ADDR completed by cvmm") at the label int3_selftest_ip (System.map next to
# the kernel), and the boot went on (the self-test BUGs if #BP came with the
# wrong RIP). Other INT3s (text_poke_bp() racing another vCPU) may add lines
# anywhere in kernel text.
c_int3() {
    local err=$1 map want a
    map=$(dirname "$VMLINUX")/System.map
    [ -s "$map" ] || { WHY="no $map"; return 1; }
    want=$(awk '$3 == "int3_selftest_ip" { print $1; exit }' "$map")
    [ -n "$want" ] || { WHY="no int3_selftest_ip in $map"; return 1; }
    for a in $(sed -n 's/.*instruction at 0x\([0-9a-f]*\) completed by cvmm.*/\1/p' "$err"); do
        [ "$(printf '%016x' "0x$a")" = "$want" ] && return 0
    done
    WHY="no INT3 completed at int3_selftest_ip ($want); cvmm logged: $(grep -m3 'completed by cvmm' "$err" | tr '\n' ' ')"
    return 1
}

# only "debug" / "info" lines in cvmm's log: no warning or error. At
# --log-level debug cvmm dumps each vCPU's registers at exit (with error
# severity, even on a clean reset); those lines are not counted.
c_cvmm_log() {
    local bad
    bad=$(grep -vE '^cvmm: (debug|info): ' "$1" |
        grep -vE '^cvmm: error: (vCPU [0-9]+ registers:| +(rip|rax|rsi|r10|r14|cs|cr0|gdt) )' |
        head -n 3)
    [ -z "$bad" ] && return 0
    WHY="cvmm logged: $(tr '\n' ' ' <<<"$bad")"
    return 1
}

# ---- the vhost-user boots ----
# cvmm handed the device's queues to the backend, interrupts by KVM irqfd
# (virtio-pci, MSI-X): the data path does not pass through cvmm.
c_vhost_direct() {
    local err=$1 name=$2 n=$3
    grep -qE "debug: $name: $n queues handed to the vhost-user backend \(interrupts: $n through KVM irqfds, 0 relayed by cvmm\)" "$err" && return 0
    WHY="no '$name: $n queues handed to the vhost-user backend (interrupts: $n through KVM irqfds, 0 relayed by cvmm)' line: $(grep -m1 'handed to the vhost-user' "$err" || echo none)"
    return 1
}

c_vfs_root() {
    grep -qE '^VFS: Mounted root \(virtiofs filesystem\) on device 0:[0-9]+\.$' "$1" && return 0
    WHY="no 'VFS: Mounted root (virtiofs filesystem) on device 0:N.' line ($(grep -m1 -E 'VFS: |virtiofs|Kernel panic' "$1" || echo 'none'))"
    return 1
}

# The kernel loaded /sbin/init from virtio-fs and started it: no fallback
# to the next candidate, and init itself ended (its first syscall faults
# on this host: "init[1]: segfault", then "Attempted to kill init!").
c_vfs_init() {
    local s=$1
    if ! has "$s" "Run /sbin/init as init process"; then WHY="no 'Run /sbin/init as init process' line"; return 1; fi
    if has "$s" "Run /etc/init as init process"; then WHY="/sbin/init could not be executed (the kernel went on to /etc/init)"; return 1; fi
    has "$s" "Attempted to kill init!" && return 0
    WHY="no 'Attempted to kill init!' after starting /sbin/init (last lines: $(tail -n 2 "$s" | tr '\n' ' '))"
    return 1
}

# virtiofsd's debug log: the lookups of /sbin and /sbin/init, init opened
# and read.
c_vfs_served() {
    local log=$WORK/virtiofsd.log node
    if ! grep -q 'lo_lookup(parent=1, name=sbin)' "$log"; then WHY="virtiofsd never looked up /sbin ($(grep -c opcode "$log") requests in its log)"; return 1; fi
    if ! grep -qE 'lo_lookup\(parent=[0-9]+, name=init\)' "$log"; then WHY="virtiofsd never looked up /sbin/init"; return 1; fi
    node=$(sed -nE 's/.*opcode: OPEN \(14\), nodeid: ([0-9]+),.*/\1/p' "$log" | tail -n1)
    if [ -z "$node" ]; then WHY="virtiofsd opened nothing"; return 1; fi
    grep -qE "opcode: READ \(15\), nodeid: $node," "$log" && return 0
    WHY="virtiofsd never read node $node (/sbin/init)"
    return 1
}

c_vub_root() {
    grep -qE '^VFS: Mounted root \(ext2 filesystem\) on device 254:0\.$' "$1" && return 0
    WHY="no 'VFS: Mounted root (ext2 filesystem) on device 254:0.' line ($(grep -m1 -E 'VFS: |Kernel panic' "$1" || echo 'none'))"
    return 1
}

# The mount's superblock write went through qemu-storage-daemon into the
# image: mount count 7 -> 8, and the superblock's write time is the
# guest's, not mke2fs's (ext2 sets s_wtime when it writes the superblock;
# it keeps no mount time).
c_vub_mount_count() {
    local after wt
    after=$(cat "$WORK/vub_mnt_after" 2>/dev/null)
    wt=$(cat "$WORK/vub_wtime_after" 2>/dev/null)
    if [ "$VUB_READ_BEFORE" != "$MNT_BEFORE" ]; then
        WHY="the image had mount count '$VUB_READ_BEFORE' before the boot, expected $MNT_BEFORE"; return 1
    fi
    if [ "$after" != $((MNT_BEFORE + 1)) ]; then
        WHY="mount count $VUB_READ_BEFORE before, '$after' after the boot (want $((MNT_BEFORE + 1)))"; return 1
    fi
    if [ -z "$wt" ] || [ "$wt" = "${VUB_WTIME_BEFORE:-}" ]; then
        WHY="the superblock's write time did not change ('${VUB_WTIME_BEFORE:-}' -> '$wt')"; return 1
    fi
    return 0
}

run_checks() {
    local F=$WORK/full.serial.clean B=$WORK/bzimage.serial.clean
    clean "$WORK/full.serial" >"$F"
    clean "$WORK/bzimage.serial" >"$B"
    local FE=$WORK/full.err BE=$WORK/bzimage.err
    WHY=

    # full boot (vmlinux, PVH)
    c() { local n=$1; shift; WHY=; if "$@"; then ok "$n"; else bad "$n" "$WHY"; fi; }
    c full-exit-status c_exit full "VM exit (API shutdown request)"
    c full-pvh-entry c_pvh "$F" "$FE"
    c full-earlyprintk-then-8250 c_earlyprintk "$F"
    c full-cmdline c_cmdline "$F" "$FULL_CMDLINE"
    c full-e820-${MEM_MB}M c_e820 "$F" "$MEM_MB"
    c full-smp-$CPUS-cpus c_smp "$F"
    # (three virtio-blk functions: vda, vdb and the hot-plugged disk)
    c full-pci-scan-virtio c_pci_scan "$F" $ID_BLK $ID_BLK $ID_BLK $ID_NET $ID_RNG $ID_CONSOLE $ID_VSOCK
    c full-msix-enabled c_msix "$FE"
    c full-vda-capacity c_blk_capacity "$F" vda $ROOT_MB
    c full-blk-multiqueue-uring c_blk_mq "$F" "$FE"
    c full-vdb-capacity c_blk_capacity "$F" vdb $RO_MB
    c full-root-mounted-rw c_root_rw "$F"
    c full-mount-count c_mount_count
    c full-vdb-readonly-host c_cvmm_ro "$FE"
    c ro-image-unchanged c_ro_unchanged ro_sum_after
    c full-tap-host-config c_tap_configured
    c full-dhcp-lease c_dhcp "$F"
    c full-rng-used c_rng "$F"
    c full-hvc0-console c_hvc "$F" "$WORK/full.hvc"
    c full-power-button-device c_button_device "$F"
    c full-power-button-press c_button_press full "$F"
    c full-hotplug-add-disk c_hp_add full "$F"
    c full-hotplug-resize-disk c_hp_resize full "$F"
    c full-hotplug-remove-device c_hp_remove full "$WORK/full.err"
    c full-hotplug-add-net c_hpnet_add full "$F"
    c full-hotplug-remove-net c_hpnet_remove full "$WORK/full.err"
    c full-hotplug-user-device c_hpedu full "$F" "$WORK/full.err"
    c full-hotplug-console-stays c_hpcon full
    c full-reached-init c_reached_init "$F"
    c full-int3-completed c_int3 "$FE"
    c full-cvmm-log-clean c_cvmm_log "$FE"

    # bzImage boot
    c bz-exit-status c_exit bzimage
    c bz-boot-protocol c_bzimage_entry "$B" "$BE"
    c bz-earlyprintk-then-8250 c_earlyprintk "$B"
    c bz-cmdline c_cmdline "$B" "$BZ_CMDLINE"
    c bz-e820-${MEM_MB}M c_e820 "$B" "$MEM_MB"
    c bz-smp-$CPUS-cpus c_smp "$B"
    c bz-no-pci-bus c_no_pci "$B"
    c bz-virtio-mmio c_mmio "$BE"
    c bz-vda-capacity c_blk_capacity "$B" vda $RO_MB
    c bz-snapshot-mid-boot c_snap_mid_boot bzimage "$BE"
    c bz-readonly-disk-mounted-ro c_ro_root "$B"
    c bz-restored-root-mount c_after_snap bzimage '^VFS: Mounted root \(ext2 filesystem\) readonly on device 254:0\.$'
    c bz-dhcp-lease c_dhcp "$B" "$BZ_MAC" "$BZ_HOST_IP"
    c bz-restored-dhcp c_after_snap bzimage "^IP-Config: Got DHCP answer from $BZ_HOST_IP, "
    c bz-timekeeping c_timekeeping "$B"
    c bz-reached-init c_reached_init "$B"
    c bz-int3-completed c_int3 "$BE"
    c bz-cvmm-log-clean c_cvmm_log "$BE"

    # root on virtio-fs (virtiofsd)
    local V=$WORK/vfs.serial.clean U=$WORK/vub.serial.clean
    clean "$WORK/vfs.serial" >"$V"
    clean "$WORK/vub.serial" >"$U"
    c vfs-exit-status c_exit vfs
    c vfs-pci-scan-virtio-fs c_pci_scan "$V" $ID_FS
    c vfs-queues-to-backend c_vhost_direct "$WORK/vfs.err" "virtio-fs\\($FS_TAG\\)" 2
    c vfs-root-mounted c_vfs_root "$V"
    c vfs-init-loaded c_vfs_init "$V"
    c vfs-virtiofsd-served c_vfs_served
    c vfs-cvmm-log-clean c_cvmm_log "$WORK/vfs.err"

    # root on vhost-user-blk (qemu-storage-daemon)
    c vub-exit-status c_exit vub
    c vub-pci-scan-virtio-blk c_pci_scan "$U" $ID_BLK
    c vub-queues-to-backend c_vhost_direct "$WORK/vub.err" "vhost-user-blk\\(disk0\\)" 1
    c vub-vda-capacity c_blk_capacity "$U" vda $ROOT_MB
    c vub-root-mounted-rw c_vub_root "$U"
    c vub-mount-count c_vub_mount_count
    c vub-cvmm-log-clean c_cvmm_log "$WORK/vub.err"

    # boot times, host clock from cvmm start to the serial line
    local m tf tb tv tu
    printf '# boot times (s from cvmm start)   %8s %8s %8s %8s\n' vmlinux bzImage vfs vub
    for m in "${MARKERS[@]}"; do
        tf=$(marker_time full "$m") || tf=-
        tb=$(marker_time bzimage "$m") || tb=-
        tv=$(marker_time vfs "$m") || tv=-
        tu=$(marker_time vub "$m") || tu=-
        printf '#   %-32s %8s %8s %8s %8s\n' "$m" "$tf" "$tb" "$tv" "$tu"
    done
    tf=$(secs full)
    tb=$(secs bzimage)
    tv=$(secs vfs)
    tu=$(secs vub)
    printf '#   %-32s %8s %8s %8s %8s\n' "cvmm exit" "$tf" "$tb" "$tv" "$tu"
}

START=$EPOCHREALTIME
if [ -z "$RECHECK" ]; then
    setup
    run_boots
fi
run_checks
echo "# total $(awk -v a="$START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')s"
finish
