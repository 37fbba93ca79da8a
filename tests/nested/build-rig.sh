#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Build (once) and cache the nested test rig: Debian's stock kernel and two
# busybox-static initramfs images made from Debian packages.
#
#   tests/nested/build-rig.sh [CACHE_DIR]
#
# Default CACHE_DIR: ${CVMM_CACHE:-/var/cache/cvmm}/nested-<hash>, where
# <hash> covers this script, the init scripts next to it and the versions of
# the two packages (linux-image-<abi>-amd64 as linux-image-amd64 depends on
# now, busybox-static), so a new package or a changed script builds afresh.
# stdout carries exactly one line, the cache dir; progress goes to stderr.
#
# The cache dir holds
#   vmlinuz          the stock kernel (boots the rig under QEMU+TCG, and is
#                    the kernel cvmm boots to user space inside it)
#   rig.cpio.gz      the rig's initramfs: busybox, tests/nested/rig-init.sh
#                    as /init, the modules kvm, kvm-amd, tun (and their
#                    dependencies; /lib/modules/load-order, loaded at boot),
#                    the VFIO modules (/lib/modules/vfio-load-order, loaded
#                    by the vfio part of rig-run.sh), and bash, ip, cksum and timeout from this
#                    host with their shared libraries (the guest suite needs
#                    bash, `ip netns` and cksum, which busybox lacks, and a
#                    timeout that runs `ip` from PATH, not busybox's applet). run-nested-test.sh appends a second
#                    archive with cvmm and the payload.
#   inner.cpio.gz    the initramfs of the stock kernel under cvmm: busybox,
#                    tests/nested/inner-init.sh as /init, the virtio modules
#   build-info       package versions
#
# Packages come from Debian's archive with `apt-get download` (no install);
# the host needs dpkg-deb, cpio, gzip and modinfo (kmod).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf 'build-rig: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The rig's modules and the inner kernel's, with their dependencies
# resolved from the modules' own `depends` (the package has no modules.dep;
# depmod runs in its postinst).
RIG_MODULES=(kvm kvm-amd tun)
# VFIO (part vfio): in Debian's 6.1 VFIO, its type1 IOMMU driver, vfio-pci,
# vfio-pci-core, vfio_virqfd and irqbypass are modules (CONFIG_VFIO=m ...),
# the IOMMU drivers (CONFIG_INTEL_IOMMU, CONFIG_IRQ_REMAP) and KVM's VFIO
# device (CONFIG_KVM_VFIO) built in; 6.1 has no iommufd. vfio-pci pulls
# vfio-pci-core, vfio_virqfd and irqbypass in as dependencies; what the
# boot list already has (irqbypass, for kvm) is left out of this one.
RIG_VFIO_MODULES=(vfio vfio_iommu_type1 vfio-pci)
INNER_MODULES=(virtio_pci virtio_blk virtio_net virtio_console virtio-rng)
# Host programs the rig carries with their libraries.
RIG_HOST_BINS=(bash ip cksum timeout)

[ $# -le 1 ] || { echo "usage: $0 [CACHE_DIR]" >&2; exit 2; }
for t in dpkg-deb cpio gzip modinfo apt-get ldd; do
    command -v "$t" >/dev/null || die "$t not found (scripts/install-deps.sh)"
done

candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }'; }
# linux-image-amd64 is the metapackage; its dependency names the ABI package.
KPKG=${NESTED_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }')}
[ -n "$KPKG" ] || die "cannot find the kernel package linux-image-amd64 depends on (apt-get update?)"
KVER=$(candidate "$KPKG")
BVER=$(candidate busybox-static)
{ [ -n "$KVER" ] && [ "$KVER" != "(none)" ] && [ -n "$BVER" ] && [ "$BVER" != "(none)" ]; } ||
    die "no candidate version for $KPKG or busybox-static (apt-get update?)"

key() {
    {
        printf '%s %s\nbusybox-static %s\n' "$KPKG" "$KVER" "$BVER"
        printf 'modules %s / %s / %s / %s\n' "${RIG_MODULES[*]}" "${RIG_VFIO_MODULES[*]}" "${INNER_MODULES[*]}" "${RIG_HOST_BINS[*]}"
        cat "${BASH_SOURCE[0]}" "$HERE/copy-bins.sh" "$HERE/rig-init.sh" "$HERE/inner-init.sh"
    } | sha256sum | cut -c1-16
}
CACHE_DIR=${1:-${CVMM_CACHE:-/var/cache/cvmm}/nested-$(key)}
CACHE_DIR=${CACHE_DIR%/}
complete() { [ -s "$1/vmlinuz" ] && [ -s "$1/rig.cpio.gz" ] && [ -s "$1/inner.cpio.gz" ]; }
if complete "$CACHE_DIR"; then echo "$CACHE_DIR"; exit 0; fi

mkdir -p "$(dirname "$CACHE_DIR")"
exec 9>"$CACHE_DIR.lock"
flock 9
if complete "$CACHE_DIR"; then echo "$CACHE_DIR"; exit 0; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-rig.XXXXXX")
STAGE=
trap 'rm -rf "$WORK" ${STAGE:+"$STAGE"}' EXIT
cd "$WORK"
log "downloading $KPKG $KVER and busybox-static $BVER"
# apt-get download as root drops to _apt, which must be able to write here.
chmod 0777 "$WORK"
apt-get download "$KPKG=$KVER" "busybox-static=$BVER" >&2 ||
    die "apt-get download failed"
mkdir pkg
for d in ./*.deb; do dpkg-deb -x "$d" pkg; done
VMLINUZ=$(echo pkg/boot/vmlinuz-*)
[ -f "$VMLINUZ" ] || die "no vmlinuz in $KPKG"
MODDIR=$(echo pkg/lib/modules/*)
[ -f "$MODDIR/modules.order" ] || die "no modules.order in $KPKG"
BUSYBOX=pkg/bin/busybox
[ -x "$BUSYBOX" ] || die "no busybox in busybox-static"

# mod_path NAME: the module file for NAME (- and _ are the same).
mod_path() {
    local n=${1//-/_} p b
    while read -r p; do
        b=$(basename "$p"); b=${b%%.ko*}
        if [ "${b//-/_}" = "$n" ]; then echo "$MODDIR/$p"; return 0; fi
    done <"$MODDIR/modules.order"
    return 1
}

# resolve NAME...: the module files in load order (dependencies first).
declare -A SEEN
ORDER=()
resolve() {
    local m f d
    for m in "$@"; do
        m=${m//-/_}
        [ -n "${SEEN[$m]:-}" ] && continue
        SEEN[$m]=1
        f=$(mod_path "$m") || die "module $m not in $KPKG"
        d=$(modinfo -F depends "$f")
        if [ -n "$d" ]; then
            # shellcheck disable=SC2086
            resolve ${d//,/ }
        fi
        ORDER+=("$f")
    done
}

# base_root DIR: busybox with its applets linked, the usual directories;
# a fresh module set (add_modules).
base_root() {
    SEEN=()
    mkdir -p "$1"/{bin,sbin,dev,proc,sys,tmp,etc,mnt,lib/modules,run,var}
    cp "$BUSYBOX" "$1/bin/busybox"
    local a
    for a in $("$BUSYBOX" --list); do
        [ -e "$1/bin/$a" ] || ln -s busybox "$1/bin/$a"
    done
}

# add_modules DIR LIST NAME...: the modules and their dependencies, and
# DIR/lib/modules/LIST naming them in load order; what an earlier list of
# the same root named is not named again (it is loaded by then).
add_modules() {
    local dir=$1 list=$2 f
    shift 2
    ORDER=()
    resolve "$@"
    : >"$dir/lib/modules/$list"
    for f in "${ORDER[@]}"; do
        cp "$f" "$dir/lib/modules/"
        basename "$f" >>"$dir/lib/modules/$list"
    done
    log "$(basename "$dir") $list: $(tr '\n' ' ' <"$dir/lib/modules/$list")"
}

pack() { (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 >"$2"; }

# rig root
base_root rig
add_modules rig load-order "${RIG_MODULES[@]}"
add_modules rig vfio-load-order "${RIG_VFIO_MODULES[@]}"
cp "$HERE/rig-init.sh" rig/init
chmod 0755 rig/init
. "$HERE/copy-bins.sh"
for b in "${RIG_HOST_BINS[@]}"; do
    copy_bin rig "$(command -v "$b")" || die "cannot copy $b into the rig"
done
# bash is what the rig's scripts run under; busybox's sh stays /bin/sh.

# inner root (the stock kernel under cvmm)
base_root inner
add_modules inner load-order "${INNER_MODULES[@]}"
cp "$HERE/inner-init.sh" inner/init
chmod 0755 inner/init

STAGE=$(mktemp -d "$CACHE_DIR.tmp.XXXXXX")
cp "$VMLINUZ" "$STAGE/vmlinuz"
pack rig "$STAGE/rig.cpio.gz"
pack inner "$STAGE/inner.cpio.gz"
printf '%s %s\nbusybox-static %s\nkernel %s\n' "$KPKG" "$KVER" "$BVER" "$(basename "$MODDIR")" >"$STAGE/build-info"
chmod 0755 "$STAGE"
rm -rf "$CACHE_DIR"
mv -T "$STAGE" "$CACHE_DIR"
STAGE=
log "done: $CACHE_DIR"
echo "$CACHE_DIR"
