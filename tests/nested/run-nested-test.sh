#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Nested test (`make check-nested`): cvmm on an ordinary (SVM) KVM. QEMU in
# TCG mode boots Debian's stock kernel with kvm-amd loaded on TCG's emulated
# SVM (the rig, tests/nested/build-rig.sh), and cvmm runs inside it:
#   guest   the guest suite's device cases (run-tests.sh FILTER, default
#           'virtio-*' and 'demo')
#   tiny    the tiny Linux of check-linux (vmlinux, PVH entry, 1 vCPU) to
#           its root mount with every device: root ext2 on vda, virtio-net
#           with a static address, virtio-rng, virtio-console
#   stock   Debian's stock kernel (the rig's own) with a busybox initramfs to
#           user space (tests/nested/inner-init.sh): virtio devices listed,
#           vda read, vdb written, eth0 pinging the tap's host side,
#           /dev/hwrng read, hvc0 written, then a reset: cvmm exits 0
#   vfio    VFIO passthrough (issue 14) of the rig's edu and virtio-rng
#           devices behind QEMU's intel-iommu: modules, IOMMU groups,
#           vfio-pci binding, tests/nested/vfio-probe.c on each, then cvmm
#           --device with the vfio_edu (MSI, INTx, a reboot through the
#           API between two passes) and virtio_rng (MSI-X, INTx) test
#           guests, the stock kernel's own drivers on the rng
#           (inner-vfio-init.sh), edu hot-plugged into the stock kernel
#           and unplugged, twice, through the API (inner-hp-init.sh),
#           and a device not on vfio-pci (exit 2
#           naming it). VFIO_CVMM below says what the cvmm runs must do.
#           `make check-vfio` runs this part alone.
#   vfio-bench  (not by default) the bench_vfio guest on edu, BAR0 mapped
#           and --device ...,mmap=off (bench/vfio.sh, BENCHMARKS.md);
#           NESTED_VFIO_BENCH_ARGS its command line
#
#   tests/nested/run-nested-test.sh CVMM [GUESTDIR]
#
# Prints "ok NAME" / "FAIL NAME: why" per check, the seconds each part took
# in the rig, then "nested: N passed, M failed"; exits 1 on any failure.
# Environment: NESTED_PARTS (default "guest tiny stock vfio"), NESTED_GUEST_FILTER,
# NESTED_TIMEOUT (seconds for the whole rig run, default 900),
# NESTED_TINY_TSC=none (the tiny kernel without tsc_early_khz= and
# tsc=reliable, as issue 20 ran it; another value replaces them), NESTED_TINY_TIMEOUT / NESTED_STOCK_TIMEOUT (per boot inside the rig,
# default 420 / 300), NESTED_CPU (QEMU -cpu, default qemu64,+svm,+npt),
# NESTED_VFIO_TIMEOUT (per cvmm run of the vfio part, default 120),
# NESTED_VFIO_CVMM (overrides VFIO_CVMM below),
# CVMM_NESTED_KEEP=1 (keep the work directory and print its path).
set -u

# VFIO_CVMM: the switch for the vfio part's cvmm runs, flipped to 1 when
# cvmm's `--device path=` (kernel VFIO) and the guest kit's vfio_edu land.
#   0  cvmm has no --device yet: each run must be refused with exit 2 and
#      "unknown option '--device'" (the edu run may be missing: no vfio_edu
#      guest); a run that gets further FAILs with "set VFIO_CVMM=1".
#   1  the edu run (vfio_edu) and the rng runs (virtio_rng, irq=msix and
#      irq=intx) must PASS with exit 0, and the negative run (edu while on
#      no driver) must exit 2 with a stderr line naming the device.
# The rig's own set-up checks (modules, IOMMU, groups, binding, vfio-probe)
# are the same either way.
VFIO_CVMM=${NESTED_VFIO_CVMM:-1}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CVMM=${1:?usage: run-nested-test.sh CVMM [GUESTDIR]}
GDIR=${2:-$(dirname "$CVMM")/guest}
PARTS=${NESTED_PARTS:-guest tiny stock vfio}
FILTER=${NESTED_GUEST_FILTER:-virtio-*}
RIG_TIMEOUT=${NESTED_TIMEOUT:-900}
TINY_TIMEOUT=${NESTED_TINY_TIMEOUT:-420}
STOCK_TIMEOUT=${NESTED_STOCK_TIMEOUT:-300}
VFIO_TIMEOUT=${NESTED_VFIO_TIMEOUT:-120}
QCPU=${NESTED_CPU:-qemu64,+svm,+npt}

pass=0
failed=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
finish() { echo "nested: $pass passed, $failed failed"; [ "$failed" -eq 0 ]; exit; }
has() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

for t in qemu-system-x86_64 cpio gzip mke2fs; do
    command -v "$t" >/dev/null || { bad setup "$t not found (scripts/install-deps.sh)"; finish; }
done
[ -x "$CVMM" ] || { bad setup "$CVMM is not executable"; finish; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-nested.XXXXXX") || exit 1
QPID=
cleanup() {
    [ -n "$QPID" ] && kill "$QPID" 2>/dev/null
    if [ "${CVMM_NESTED_KEEP:-0}" = 1 ]; then echo "# kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RIG=$("$HERE/build-rig.sh" 2>"$WORK/build-rig.log") || {
    tail -n 20 "$WORK/build-rig.log" | sed 's/^/  | /'
    bad setup "tests/nested/build-rig.sh failed"
    finish
}

# ---- the payload: a second initramfs archive over the rig's ----------------
P=$WORK/payload
mkdir -p "$P/payload"
# shellcheck disable=SC1091
. "$HERE/copy-bins.sh"
copy_bin "$P" "$CVMM" || { bad setup "cannot copy $CVMM and its libraries"; finish; }
cp "$HERE/rig-run.sh" "$P/payload/run.sh"
chmod 0755 "$P/payload/run.sh"
{
    printf 'PARTS="%s"\nTINY_TIMEOUT=%s\nSTOCK_TIMEOUT=%s\nVFIO_TIMEOUT=%s\n' "$PARTS" "$TINY_TIMEOUT" "$STOCK_TIMEOUT" "$VFIO_TIMEOUT"
    printf 'FILTER=%q\n' "$FILTER"
    printf 'VFIO_BENCH_ARGS=%q\n' "${NESTED_VFIO_BENCH_ARGS:-n=500 reps=7 irqs=100}"
    printf 'TINY_TSC_MODE=%q\n' "${NESTED_TINY_TSC:-auto}"
} >"$P/payload/params"

if has guest || has vfio || has vfio-bench; then
    mkdir -p "$P/payload/guest"
    cp "$GDIR"/*.bzImage "$GDIR"/*.elf "$P/payload/guest/" 2>/dev/null
fi
if has guest; then
    mkdir -p "$P/payload/tests"
    copy_bin "$P" "$GDIR/diskpat" && mv "$P/bin/diskpat" "$P/payload/guest/"
    cp "$ROOT/tests/guest/run-tests.sh" "$P/payload/tests/"
    cp "$ROOT/tests/lib.sh" "$P/payload/" # run-tests.sh sources ../lib.sh
fi
if has vfio; then
    # the rig's own VFIO user (independent of cvmm), with the host's cc
    if ${CC:-cc} -O2 -Wall -Wextra -Werror -o "$WORK/vfio-probe" "$HERE/vfio-probe.c" 2>"$WORK/vfio-probe.log"; then
        copy_bin "$P" "$WORK/vfio-probe"
    else
        sed 's/^/  | /' "$WORK/vfio-probe.log" | head -n 20
        bad setup "cannot build tests/nested/vfio-probe.c"
    fi
fi
if has tiny; then
    read -r _ VMLINUX < <("$ROOT/tests/linux/build-kernel.sh" 2>"$WORK/build-kernel.log" | paste -sd' ')
    if [ -z "${VMLINUX:-}" ] || [ ! -f "$VMLINUX" ]; then
        bad setup "tests/linux/build-kernel.sh failed (see its log)"
        PARTS=${PARTS/tiny/}
    else
        cp "$VMLINUX" "$P/payload/vmlinux"
        mkdir -p "$WORK/rootfs/sbin"
        echo "cvmm nested root" >"$WORK/rootfs/NESTED"
        mke2fs -q -t ext2 -d "$WORK/rootfs" "$P/payload/root.img" 8M ||
            { bad setup "mke2fs failed"; finish; }
    fi
fi
if has qemu-kvm; then
    # QEMU+KVM inside the rig (evidence for tests/nested/README.md).
    copy_bin "$P" "$(command -v qemu-system-x86_64)" || { bad setup "cannot copy qemu"; finish; }
    mkdir -p "$P/payload/qemu-fw"
    for f in /usr/share/seabios/bios-256k.bin /usr/share/qemu/linuxboot_dma.bin \
        /usr/share/qemu/pvh.bin /usr/share/qemu/kvmvapic.bin; do
        cp -L "$f" "$P/payload/qemu-fw/"
    done
    [ -f "$P/payload/vmlinux" ] || {
        read -r _ VMLINUX < <("$ROOT/tests/linux/build-kernel.sh" 2>>"$WORK/build-kernel.log" | paste -sd' ')
        cp "$VMLINUX" "$P/payload/vmlinux"
    }
fi
if has vfio; then
    # the edu-reboot run's API client; the stock-rng run's kernel and
    # initramfs: inner.cpio.gz with inner-vfio-init.sh as /init (a second
    # archive over it: the rig's cached images stay as they are)
    copy_bin "$P" "$(dirname "$CVMM")/cvmm-remote" || bad setup "no cvmm-remote beside $CVMM (make build/cvmm-remote)"
    cp "$RIG/vmlinuz" "$P/payload/stock-vmlinuz"
    mkdir -p "$WORK/inner-vfio"
    cp "$HERE/inner-vfio-init.sh" "$WORK/inner-vfio/init"
    chmod 0755 "$WORK/inner-vfio/init"
    { cat "$RIG/inner.cpio.gz"
      (cd "$WORK/inner-vfio" && echo init | cpio -o -H newc --quiet -R 0:0) | gzip -1
    } >"$P/payload/stock-vfio-initrd"
    # the stock-hp run's: inner-hp-init.sh as /init, the same way
    mkdir -p "$WORK/inner-hp"
    cp "$HERE/inner-hp-init.sh" "$WORK/inner-hp/init"
    chmod 0755 "$WORK/inner-hp/init"
    { cat "$RIG/inner.cpio.gz"
      (cd "$WORK/inner-hp" && echo init | cpio -o -H newc --quiet -R 0:0) | gzip -1
    } >"$P/payload/stock-hp-initrd"
fi
if has stock; then
    cp "$RIG/vmlinuz" "$P/payload/stock-vmlinuz"
    cp "$RIG/inner.cpio.gz" "$P/payload/stock-initrd"
    printf 'cvmm-nested-pat1' >"$P/payload/pattern.img"
    truncate -s 64K "$P/payload/pattern.img"
fi
head -c 4096 /dev/urandom >"$P/payload/rng.bin"
(cd "$P" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$WORK/payload.cpio.gz"
cat "$RIG/rig.cpio.gz" "$WORK/payload.cpio.gz" >"$WORK/initrd"

# ---- boot the rig --------------------------------------------------------------
# The VFIO test rig (part vfio; every part runs on the same rig): an Intel
# IOMMU with interrupt remapping (QEMU 7.2 accepts intel-iommu with TCG's
# AMD qemu64 CPU, and kvm-amd loads beside it), and two devices for the rig
# to pass through to cvmm's guests, on slots of their own (own IOMMU
# groups): QEMU's edu (1234:11e8: MSI, INTx, DMA with a 28-bit mask) at
# 00:04.0 and a modern-only virtio-rng (1af4:1044: MSI-X, 2 vectors) at
# 00:05.0. The rig's own devices (ICH9 LPC with the serial port, SATA,
# SMBus: one group at 00:1f) are left alone; the rig kernel loads no
# driver for either new device. intel_iommu=on (Debian's 6.1 leaves the
# IOMMU off by default) and no iommu=pt: DMA is really remapped.
# kernel-irqchip=split and caching-mode=on change nothing under TCG (no
# in-kernel irqchip; QEMU's devices walk the IOMMU's tables themselves),
# they make the same line valid with -accel kvm, where intremap=on needs a
# split irqchip and a host device passed through needs caching mode.
# shellcheck disable=SC2054
RIG_VFIO_DEVICES=(-device intel-iommu,intremap=on,caching-mode=on
    -device edu,addr=04.0 -device virtio-rng-pci,disable-legacy=on,iommu_platform=on,addr=05.0)
LOG=$WORK/rig.log
T0=$(date +%s)
timeout -k 10 "$RIG_TIMEOUT" qemu-system-x86_64 -M q35,kernel-irqchip=split -accel tcg -cpu "$QCPU" \
    -m 2048 -smp 1 "${RIG_VFIO_DEVICES[@]}" \
    -nographic -no-reboot -nodefaults -serial stdio -kernel "$RIG/vmlinuz" -initrd "$WORK/initrd" \
    -append "console=ttyS0 panic=-1 quiet intel_iommu=on" </dev/null >"$LOG.raw" 2>&1 &
QPID=$!
wait "$QPID"
RC=$?
QPID=
tr -d '\r' <"$LOG.raw" >"$LOG"
echo "# rig ran ${RC:+(status $RC) }for $(($(date +%s) - T0)) s"
[ "$RC" -eq 0 ] || bad rig "qemu exited with status $RC (timeout: $RIG_TIMEOUT s)"

# section NAME: the lines between the part's BEGIN and END markers.
section() { sed -n "/^NESTED-BEGIN $1\$/,/^NESTED-END $1 /p" "$LOG"; }
# end_field NAME FIELD: rc= or secs= of the part's END line.
end_field() { sed -n "s/^NESTED-END $1 .*$2=\([0-9.]*\).*/\1/p" "$LOG" | head -n1; }
show_tail() { section "$1" | tail -n "${2:-15}" | sed 's/^/  | /'; }

if grep -q 'RIG: /dev/kvm ready' "$LOG"; then ok rig-kvm
else bad rig-kvm "no /dev/kvm in the rig: $(grep 'RIG:' "$LOG" | tr '\n' ' ')"; finish; fi

if has guest; then
    s=$(section guest)
    line=$(grep -E '^guest: [0-9]+ passed, [0-9]+ failed' <<<"$s")
    if [ -z "$line" ]; then bad guest-suite "no summary line"; show_tail guest
    elif [ "$(end_field guest rc)" = 0 ]; then ok "guest-suite ($line)"
    else bad guest-suite "$line"; grep -E '^(FAIL|  \|)' <<<"$s" | head -n 30
    fi
fi

if has tiny; then
    s=$(section tiny)
    for want in "VFS: Mounted root" "virtio_blk virtio" "IP-Config: Complete" "Run /sbin/init"; do
        if grep -qF "$want" <<<"$s"; then ok "tiny: $want"; else bad "tiny" "no '$want'"; fi
    done
    if grep -q 'Marking TSC unstable\|Unable to calibrate against PIT' <<<"$s"; then
        bad tiny-tsc "$(grep -m1 'TSC unstable\|calibrate against PIT' <<<"$s")"
    else ok tiny-tsc; fi
    # (hvc0 gets the log from its registration on: the root mount is on it)
    if grep -q '^TINY-HVC: .*VFS: Mounted root' <<<"$s"; then ok tiny-hvc0; else bad tiny-hvc0 "no root mount line on hvc0"; fi
    if [ "$(end_field tiny rc)" = 0 ]; then ok tiny-exit; else bad tiny-exit "cvmm status $(end_field tiny rc)"; show_tail tiny; fi
fi

if has stock; then
    s=$(section stock)
    u=$(grep '^USER: ' <<<"$s")
    chk() { if grep -qE "$2" <<<"$u"; then ok "stock: $1"; else bad "stock" "$1: no /$2/"; fi; }
    chk user-space '^USER: init running'
    for dev in 1 2 3 4; do chk "virtio device $dev bound" "^USER: virtio .* device 0x000$dev driver virtio_"; done
    chk kvm-clock '^USER: clocksource kvm-clock'
    if grep -q '^USER: clock warning' <<<"$u"; then bad stock "$(grep -m1 '^USER: clock warning' <<<"$u")"; else ok "stock: no PIT calibration, TSC stable, XSAVE consistent"; fi
    chk vda-read '^USER: vda pattern cvmm-nested-pat1'
    chk vdb-write '^USER: vdb written'
    chk ping '^USER: ping ok'
    chk hwrng '^USER: hwrng [0-9a-f]{32}'
    chk hvc0-write '^USER: hvc0 written'
    if grep -q '^STOCK-HVC: USER: hello over hvc0' <<<"$s"; then ok "stock: hvc0 reached the host"; else bad stock "hvc0 file lacks the line"; fi
    if grep -q '^STOCK-VDB: written-by-stock-linux' <<<"$s"; then ok "stock: vdb data on the host"; else bad stock "vdb image lacks the line"; fi
    if [ "$(end_field stock rc)" = 0 ]; then ok stock-exit; else bad stock-exit "cvmm status $(end_field stock rc)"; show_tail stock 25; fi
    # user space ran `poweroff -f`: Linux's ACPI power-off wrote S5 to the
    # FADT's sleep control register (cvmm's info line names why it ended)
    if grep -q 'VM exit (guest power off (ACPI S5)), status 0' <<<"$s"; then ok stock-poweroff
    else bad stock-poweroff "no 'VM exit (guest power off (ACPI S5))' line from cvmm"; fi
fi

if has vfio; then
    s=$(section vfio)
    vchk() { if grep -qE "$2" <<<"$s"; then ok "vfio: $1"; else bad "vfio" "$1: no /$2/"; fi; }
    grep '^VFIO: \(group\|bound\|device\|iommu\)' <<<"$s" | sed 's/^/# /'
    vchk modules '^VFIO: modules loaded: vfio'
    vchk iommu '^VFIO: iommu dma translated ir on$'
    vchk groups '^VFIO: group [0-9]+ '
    for d in edu rng; do
        vchk "$d bound" "^VFIO: bound $d [0-9a-f:.]+ from [^ ]+ driver vfio-pci group [0-9]+ dev /dev/vfio/[0-9]+ viable yes$"
        vchk "$d probe" "^VFIO-PROBE: $d ok$"
    done
    grep -E '^VFIO-PROBE: [a-z]+ FAIL' <<<"$s" | sed 's/^/  | /'
    EDU_BDF=$(sed -n 's/^VFIO: device edu \([0-9a-f:.]*\)$/\1/p' <<<"$s")
    # the probe's DMA after unmapping: the IOMMU's fault names the device
    vchk "dma after unmap faulted" "^VFIO: dmar fault: .*DMA Read.*\[${EDU_BDF#0000:}\]"
    if [ "$(end_field vfio rc)" = 0 ]; then ok "vfio: rig set-up"; else bad vfio "rig set-up: $(end_field vfio rc) step(s) failed"; show_tail vfio 25; fi
    # vrun NAME WANT_RC "STRINGS": one cvmm run of the part (STRINGS: fixed
    # strings, |-separated, that its serial output must hold)
    vrun() {
        local n=$1 want=$2 strings=$3 rc out err w
        rc=$(sed -n "s/^VFIO-RUN-END $n rc=\([^ ]*\).*/\1/p" <<<"$s")
        out=$(sed -n "s/^VFIO-OUT $n: //p" <<<"$s")
        err=$(sed -n "s/^VFIO-ERR $n: //p" <<<"$s")
        if [ "$VFIO_CVMM" = 0 ]; then
            if [ "$rc" = 2 ] && grep -qF "unknown option '--device'" <<<"$err"; then
                ok "vfio-run $n: refused (cvmm has no --device yet, VFIO_CVMM=0)"
            elif [ "$n" = edu ] && [ "$rc" = none ]; then
                ok "vfio-run $n: not run ($(sed -n "s/^VFIO: $n not run: //p" <<<"$s"), VFIO_CVMM=0)"
            else
                bad "vfio-run $n" "cvmm exit ${rc:-?} without \"unknown option '--device'\": does it have --device? set VFIO_CVMM=1 in tests/nested/run-nested-test.sh"
                sed 's/^/  | /' <<<"$err" | tail -n 5
            fi
            return
        fi
        if [ "$rc" = none ]; then
            bad "vfio-run $n" "not run: $(sed -n "s/^VFIO: $n not run: //p" <<<"$s")"
            return
        elif [ "$rc" != "$want" ]; then
            bad "vfio-run $n" "cvmm exit ${rc:-?}, expected $want"
        elif [ "$n" = neg ] && ! grep -qF "${EDU_BDF:-?}" <<<"$err"; then
            bad "vfio-run $n" "no stderr line names ${EDU_BDF:-the device}"
        elif grep -q '^FAIL' <<<"$out"; then
            bad "vfio-run $n" "guest reported: $(grep -m1 '^FAIL' <<<"$out")"
        else
            local missing='' IFS='|'
            for w in $strings; do
                grep -qF -- "$w" <<<"$out" || { missing=$w; break; }
            done
            IFS=$' \t\n'
            if [ -z "$missing" ]; then ok "vfio-run $n"; return; fi
            bad "vfio-run $n" "output lacks \"$missing\""
        fi
        [ -z "$out" ] || sed 's/^/  | /' <<<"$out" | tail -n 10
        [ -z "$err" ] || sed 's/^/  | err: /' <<<"$err" | tail -n 10
    }
    vrun neg 2 ""
    # edu and edu-intx run with hold=1: every check passed, then the guest
    # holds while the part reads vm.counters, and SIGTERM ends cvmm (0)
    vrun edu 0 "== cvmm test guest 'vfio_edu' (Linux 64-bit boot|interrupts caused by MSI|holding for the host"
    # counted NAME KIND: vm.counters' KIND_interrupts of edu0 (the host's
    # /proc/interrupts count, kept across the guest turning the vectors
    # off) must be what the guest says it caused, and the other kinds 0
    counted() {
        local n=$1 kind=$2 json dev caused k v want
        json=$(sed -n "s/^VFIO-COUNTERS $n: //p" <<<"$s")
        dev=$(sed -n 's/.*"edu0":{\([^}]*\)}.*/\1/p' <<<"$json")
        caused=$(sed -n "s/^VFIO-OUT $n: vfio_edu: \([0-9]*\) interrupts caused by .*/\1/p" <<<"$s")
        if [ -z "$dev" ] || [ -z "$caused" ]; then
            bad "vfio-run $n counters" "no edu0 counters (${json:0:200}) or no 'interrupts caused' line"
            return
        fi
        echo "# $n: guest caused $caused; vm.counters edu0: $dev"
        for k in intx msi msix; do
            v=$(sed -n "s/.*\"${k}_interrupts\":\([0-9]*\).*/\1/p" <<<"$dev")
            want=0
            [ "$k" = "$kind" ] && want=$caused
            if [ "$v" != "$want" ]; then
                bad "vfio-run $n counters" "${k}_interrupts ${v:-missing}, expected $want (the guest caused $caused by $kind)"
                return
            fi
        done
        if [ "$caused" -gt 0 ]; then ok "vfio-run $n counters: ${kind}_interrupts $caused, as the guest caused"
        else bad "vfio-run $n counters" "the guest caused no interrupts"; fi
    }
    counted edu msi
    vrun rng-msix 0 "== cvmm test guest 'virtio_rng' (Linux 64-bit boot|irq msix|polled read ok|delivered on unmask|PASS"
    vrun rng-intx 0 "== cvmm test guest 'virtio_rng' (Linux 64-bit boot|irq intx|polled read ok|INTx interrupts|PASS"
    vrun edu-intx 0 "== cvmm test guest 'vfio_edu' (Linux 64-bit boot|interrupts by INTx|INTx interrupts ok|DMA both ways ok|interrupts caused by INTx|holding for the host"
    counted edu-intx intx
    # reboot through the API between two passes: what cvmm's reset gives
    # back (command register and BAR0 as at the first boot, MSI off); edu
    # has no reset VFIO can use (VFIO_DEVICE_FLAGS_RESET unset), so its own
    # registers are kept, and the second pass must pass all the same
    # hot-plug of kernel VFIO (edu) into the stock kernel, twice: the
    # answer names the slot, the guest's PCI scan finds [1234:11e8], the
    # guest ejects it on remove-device, cvmm releases it and holds no fd
    # on its group any more (and edu-reboot, next, uses edu again)
    vrun stock-hp 0 "USER: init running|USER: hp added 1 |USER: hp removed 1 |USER: hp added 2 |USER: hp removed 2 |USER: done"
    grep "^VFIO-HP stock-hp: \|^VFIO-OUT stock-hp: USER: hp " <<<"$s" | sed 's/^/# /'
    hp=$(sed -n 's/^VFIO-HP stock-hp: //p' <<<"$s")
    for k in 1 2; do
        if grep -qE "^add $k: .*\"id\": ?\"hpedu$k\".*\"bdf\": ?\"0000:00:[0-9a-f]{2}\.0\".* status 0$" <<<"$hp"; then
            ok "vfio stock-hp: add-device $k answered with its bdf"
        else bad "vfio stock-hp" "add-device $k: $(grep "^add $k:" <<<"$hp")"; fi
        if grep -qE "^VFIO-OUT stock-hp: USER: hp dmesg $k .*\[1234:11e8\]" <<<"$s"; then
            ok "vfio stock-hp: the guest's PCI scan found [1234:11e8] ($k)"
        else bad "vfio stock-hp" "no [1234:11e8] in the guest's log ($k)"; fi
        if grep -q "^fds $k plugged [1-9]" <<<"$hp" && grep -q "^fds $k released 0$" <<<"$hp"; then
            ok "vfio stock-hp: group fd held while plugged, closed on release ($k)"
        else bad "vfio stock-hp" "group fds ($k): $(grep "^fds $k" <<<"$hp" | tr '\n' ' ')"; fi
        if grep -q "^VFIO-ERR stock-hp: .*hotplug: hpedu$k released" <<<"$s"; then
            ok "vfio stock-hp: cvmm logged hpedu$k released"
        else bad "vfio stock-hp" "no 'hpedu$k released' from cvmm"; fi
    done
    vrun edu-reboot 0 "reboot=1, pass 1|waiting for a reboot|reboot=1, pass 2|as at the first boot, MSI off|edu's own registers kept|pass 2 after the reboot ok|PASS"
    if grep -q '^VFIO-ERR edu-reboot: .*VM rebooted' <<<"$s"; then ok "vfio-run edu-reboot: cvmm logged the reboot"
    else bad "vfio-run edu-reboot" "no 'VM rebooted' line from cvmm"; fi
    # the stock kernel's virtio_pci and virtio-rng on the passed-through
    # rng (ACCESS_PLATFORM negotiated: QEMU's device behind the rig's
    # IOMMU); a read through it raises its MSI-X interrupts
    vrun stock-rng 0 "USER: init running|USER: done"
    so=$(sed -n 's/^VFIO-OUT stock-rng: //p' <<<"$s")
    grep '^USER: \(virtio\|hwrng\)' <<<"$so" | sed 's/^/# /'
    if grep -q '^USER: virtio virtio[0-9]* device 0x0004 driver virtio_rng pci [0-9a-f:.]* platform 1$' <<<"$so"; then
        ok "vfio stock-rng: Linux's virtio_rng bound the passed-through rng (ACCESS_PLATFORM)"
    else bad "vfio stock-rng" "no virtio-rng with ACCESS_PLATFORM bound to virtio_rng"; fi
    grep '^VFIO: rig random pool' <<<"$s" | sed 's/^/# /'
    if grep -qE '^USER: hwrng virtio_rng\.[0-9]+ read [123] [0-9a-f]{32} passthrough-irqs [0-9]+->[0-9]+ ' <<<"$so" &&
        awk '/^USER: hwrng .*passthrough-irqs/ { split($8, a, "->"); if (a[2] + 0 > a[1] + 0) f = 1 } END { exit !f }' <<<"$so"; then
        ok "vfio stock-rng: /dev/hwrng read through it, its MSI-X interrupts raised"
    else bad "vfio stock-rng" "no 16 bytes read through the passed-through rng with its interrupts"; fi
    # both sources (the passed-through rng and cvmm's own --rng, which
    # waits for the rig's random pool), three 16-byte reads each: cvmm's
    # own used to answer only the driver's first request with 0 bytes
    nreads=$(grep -cE '^USER: hwrng virtio_rng\.[0-9]+ read [123] [0-9a-f]{32} ' <<<"$so")
    if [ "$nreads" = 6 ]; then ok "vfio stock-rng: three reads from each hw_random source (cvmm's own rng too)"
    else bad "vfio stock-rng" "$nreads of 6 reads (3 per source) gave 16 bytes"; fi
    # whether cvmm's rng had to hold a request for the rig's pool (it
    # depends on when the pool became ready: evidence, not a check)
    if grep -q '^VFIO-ERR stock-rng: .*virtio-rng: getrandom() has no entropy now' <<<"$s"; then
        echo "# stock-rng: cvmm's rng held a request until the rig's random pool was ready"
    else echo "# stock-rng: cvmm's rng never had to wait (the rig's pool was ready first)"; fi
fi

if has vfio-bench; then
    # evidence, not a check (bench/vfio.sh, BENCHMARKS.md)
    s=$(section vfio-bench)
    for n in bench-mapped bench-trapped; do
        echo "# $n:"
        sed -n "s/^VFIO-OUT $n: \(bench_vfio: \|FAIL\)/#   \1/p" <<<"$s"
    done
    if [ "$(end_field vfio-bench rc)" = 0 ] && grep -q "^VFIO-RUN-END bench-trapped rc=0 " <<<"$s"; then ok vfio-bench
    else bad vfio-bench "rc $(end_field vfio-bench rc)"; show_tail vfio-bench 25; fi
fi

echo "# rig: $(sed -n 's/^RIG: boot to payload //p' "$LOG" | head -n1) from boot to the payload (rig uptime)"
for p in guest tiny stock vfio vfio-bench qemu-kvm; do
    has "$p" || continue
    echo "# $p: $(end_field "$p" secs) s inside the rig"
done
finish
