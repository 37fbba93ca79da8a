#!/usr/bin/env bash
# Build (once) and cache the tiny Linux test kernel cvmm's tests boot.
#
#   tests/linux/build-kernel.sh [CACHE_DIR]
#
# Default CACHE_DIR: ${CVMM_CACHE:-/var/cache/cvmm}/linux-<hash>, where <hash>
# covers kernel.config, the source edits below, the build recipe and the
# linux-source-6.1 package version, so changing any of them builds afresh.
#
# On success stdout carries exactly two lines, the paths of bzImage and
# vmlinux; all progress goes to stderr. A cache hit returns at once.
# The cache dir also holds config (the final .config), System.map,
# kernel.config (the fragment used) and build-info.
#
# Environment: CVMM_CACHE (cache root), CVMM_KEEP_BUILD=1 (keep the build
# tree), TMPDIR (where the build tree goes), JOBS (make -j, default nproc),
# CVMM_KERNEL_CONFIG (another config fragment instead of kernel.config, e.g.
# the contention reproduction's; it is part of the cache key like ours).
# See tests/linux/README.md for why the source edits exist.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FRAGMENT=${CVMM_KERNEL_CONFIG:-$HERE/kernel.config}
PKG=linux-source-6.1
TARBALL=/usr/src/linux-source-6.1.tar.xz
DEPS=(linux-source-6.1 bc bison flex libelf-dev libssl-dev xz-utils make gcc)
MAKE_ARGS=(ARCH=x86_64 KBUILD_BUILD_USER=cvmm KBUILD_BUILD_HOST=cvmm)
# Bump when the steps of build_kernel() change in a way that matters.
RECIPE="v1: tinyconfig; merge_config.sh -m kernel.config; olddefconfig; bzImage vmlinux"

# --- source edits (part of the cache key) -----------------------------------
# (INT3, which the emulator lacks too, needs no edit: cvmm completes it, see
#  src/arch/x86/emulate.c; the kernel's int3_selftest() runs at every boot.)
# (a) X86_BUG_FXSAVE_LEAK makes every FPU restore on AMD run FNCLEX/FILD
#     first; the emulator has no x87 FNCLEX, so never set the bug.
EDIT_FXSAVE_FILE=arch/x86/kernel/cpu/amd.c
EDIT_FXSAVE_SED='s/^\([[:space:]]*\)set_cpu_bug([[:space:]]*c[[:space:]]*,[[:space:]]*X86_BUG_FXSAVE_LEAK[[:space:]]*);/\1(void)c; \/* cvmm: X86_BUG_FXSAVE_LEAK not set, FNCLEX is not emulated *\//'
EDIT_FXSAVE_MARK='cvmm: X86_BUG_FXSAVE_LEAK not set'
# (b) evbug logs input events at KERN_DEBUG, below the console's default
#     level; make its "Event." line KERN_INFO so the power button test sees
#     it without loglevel=8 (which would print every debug line, slowly).
EDIT_EVBUG_FILE=drivers/input/evbug.c
EDIT_EVBUG_SED='s/printk(KERN_DEBUG pr_fmt("Event\. Dev: /printk(KERN_INFO \/* cvmm: evbug events at KERN_INFO *\/ pr_fmt("Event. Dev: /'
EDIT_EVBUG_MARK='cvmm: evbug events at KERN_INFO'

log() { printf 'build-kernel: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

case "${1:-}" in
-h|--help) usage; exit 0 ;;
-*) usage >&2; exit 2 ;;
esac
[ $# -le 1 ] || { usage >&2; exit 2; }
[ -f "$FRAGMENT" ] || die "missing $FRAGMENT"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root to run: $*"
    fi
}

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Version of linux-source-6.1: the installed one, else what apt would install.
pkg_version() {
    local v
    if pkg_installed "$PKG"; then
        dpkg-query -W -f='${Version}' "$PKG"
        return
    fi
    v=$(apt-cache policy "$PKG" 2>/dev/null | awk '/Candidate:/ { print $2 }')
    if [ -z "$v" ] || [ "$v" = "(none)" ]; then v=unknown; fi
    printf '%s\n' "$v"
}

cache_key() {
    {
        printf 'recipe %s\n' "$RECIPE"
        printf 'make %s\n' "${MAKE_ARGS[*]}"
        printf 'edit %s %s\n' "$EDIT_FXSAVE_FILE" "$EDIT_FXSAVE_SED"
        printf 'edit %s %s\n' "$EDIT_EVBUG_FILE" "$EDIT_EVBUG_SED"
        printf 'package %s %s\n' "$PKG" "$1"
        printf 'fragment\n'
        cat "$FRAGMENT"
    } | sha256sum | cut -c1-16
}

have_kernel() { [ -s "$1/bzImage" ] && [ -s "$1/vmlinux" ]; }

print_paths() { printf '%s\n%s\n' "$1/bzImage" "$1/vmlinux"; }

# --- cache lookup -------------------------------------------------------------
VERSION=$(pkg_version)
if [ $# -eq 1 ]; then
    CACHE_DIR=$1
    FIXED_DIR=1
else
    CACHE_DIR=${CVMM_CACHE:-/var/cache/cvmm}/linux-$(cache_key "$VERSION")
    FIXED_DIR=0
fi
CACHE_DIR=${CACHE_DIR%/}
[ -n "$CACHE_DIR" ] || die "bad cache dir"
case "$CACHE_DIR" in /*) ;; *) CACHE_DIR=$PWD/$CACHE_DIR ;; esac
if have_kernel "$CACHE_DIR"; then
    print_paths "$CACHE_DIR"
    exit 0
fi

# --- build dependencies -------------------------------------------------------
missing=()
for p in "${DEPS[@]}"; do pkg_installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! as_root apt-get install -y "${missing[@]}" >&2; then
        log "apt-get install failed, running apt-get update and retrying"
        as_root apt-get update >&2
        as_root apt-get install -y "${missing[@]}" >&2
    fi
fi
[ -f "$TARBALL" ] || die "$TARBALL not found after installing $PKG"
NEW_VERSION=$(pkg_version)
if [ "$NEW_VERSION" != "$VERSION" ]; then
    VERSION=$NEW_VERSION
    if [ "$FIXED_DIR" -eq 0 ]; then
        CACHE_DIR=${CVMM_CACHE:-/var/cache/cvmm}/linux-$(cache_key "$VERSION")
        if have_kernel "$CACHE_DIR"; then print_paths "$CACHE_DIR"; exit 0; fi
    fi
fi

# --- serialize concurrent builders of the same kernel ----------------------------
mkdir -p "$(dirname "$CACHE_DIR")"
exec 9>"$CACHE_DIR.lock"
if ! flock -n 9; then
    log "another build of $CACHE_DIR is running, waiting for it"
    flock 9
fi
if have_kernel "$CACHE_DIR"; then print_paths "$CACHE_DIR"; exit 0; fi

# --- build ----------------------------------------------------------------------
BUILD_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-linux.XXXXXX")
STAGE=
cleanup() {
    local rc=$?
    [ -n "$STAGE" ] && rm -rf "$STAGE"
    if [ "${CVMM_KEEP_BUILD:-0}" = 1 ]; then
        log "build tree kept in $BUILD_ROOT"
    elif [ $rc -ne 0 ] && [ -f "$BUILD_ROOT/build.log" ]; then
        cp "$BUILD_ROOT/build.log" "$CACHE_DIR.failed.log" 2>/dev/null &&
            log "build log saved to $CACHE_DIR.failed.log"
        rm -rf "$BUILD_ROOT"
    else
        rm -rf "$BUILD_ROOT"
    fi
}
trap cleanup EXIT

# Apply one sed edit; fail unless it changed the file and left its marker once.
apply_edit() {
    local file=$1 expr=$2 mark=$3 n
    [ -f "$file" ] || die "source edit: $file does not exist"
    cp "$file" "$file.cvmm-orig"
    sed -i -e "$expr" "$file"
    if cmp -s "$file" "$file.cvmm-orig"; then
        die "source edit did not change $file (the kernel source changed; update the sed in $0)"
    fi
    n=$(grep -cF "$mark" "$file" || true)
    [ "$n" = 1 ] || die "source edit of $file applied $n times, expected once"
    rm -f "$file.cvmm-orig"
    log "patched $file"
}

START=$(date +%s)
log "building Linux ($PKG $VERSION) in $BUILD_ROOT for $CACHE_DIR"
log "unpacking $TARBALL"
tar -xJf "$TARBALL" -C "$BUILD_ROOT"
SRC=$BUILD_ROOT/linux-source-6.1
[ -d "$SRC" ] || die "unexpected tarball layout: no linux-source-6.1/ in $TARBALL"
cd "$SRC"

apply_edit "$EDIT_FXSAVE_FILE" "$EDIT_FXSAVE_SED" "$EDIT_FXSAVE_MARK"
! grep -q 'X86_BUG_FXSAVE_LEAK)' "$EDIT_FXSAVE_FILE" ||
    die "$EDIT_FXSAVE_FILE still sets X86_BUG_FXSAVE_LEAK"
apply_edit "$EDIT_EVBUG_FILE" "$EDIT_EVBUG_SED" "$EDIT_EVBUG_MARK"

LOG=$BUILD_ROOT/build.log
run_logged() {
    if ! "$@" >>"$LOG" 2>&1; then
        tail -n 60 "$LOG" >&2
        die "failed: $*"
    fi
}

log "configuring (tinyconfig + $(basename "$FRAGMENT"))"
run_logged make "${MAKE_ARGS[@]}" tinyconfig
run_logged scripts/kconfig/merge_config.sh -m .config "$FRAGMENT"
run_logged make "${MAKE_ARGS[@]}" olddefconfig

# Every option the fragment asks for must have survived olddefconfig.
bad=()
while read -r sym; do
    grep -qx "$sym=y" .config || bad+=("$sym (is: $(grep -E "^(# )?${sym}[= ]" .config || echo absent))")
done < <(sed -n 's/^\(CONFIG_[A-Za-z0-9_]*\)=y[[:space:]]*$/\1/p' "$FRAGMENT")
while read -r sym; do
    if grep -qE "^$sym=[ym]" .config; then bad+=("$sym (wanted off, is: $(grep -E "^$sym=" .config))"); fi
done < <(sed -n 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set[[:space:]]*$/\1/p' "$FRAGMENT")
if [ ${#bad[@]} -gt 0 ]; then
    log "these kernel.config options did not stick after olddefconfig (missing dependencies?):"
    printf '  %s\n' "${bad[@]}" >&2
    exit 1
fi

JOBS=${JOBS:-$(nproc)}
log "compiling with -j$JOBS (log: $LOG)"
run_logged make "${MAKE_ARGS[@]}" -j"$JOBS" bzImage vmlinux

# --- install into the cache atomically -------------------------------------------
STAGE=$(mktemp -d "$CACHE_DIR.tmp.XXXXXX")
cp arch/x86/boot/bzImage vmlinux System.map "$STAGE/"
cp .config "$STAGE/config"
cp "$FRAGMENT" "$STAGE/kernel.config"
{
    printf 'package: %s %s\n' "$PKG" "$VERSION"
    printf 'recipe: %s\n' "$RECIPE"
    printf 'kernel: %s\n' "$(make -s "${MAKE_ARGS[@]}" kernelrelease 2>/dev/null)"
    printf 'built: %s in %ss with %s\n' "$(date -u +%FT%TZ)" "$(($(date +%s) - START))" "$(gcc --version | head -n1)"
} >"$STAGE/build-info"
chmod 0755 "$STAGE"
if [ -e "$CACHE_DIR" ]; then   # a leftover without a kernel (we hold the lock)
    if [ -f "$CACHE_DIR/build-info" ] || rmdir "$CACHE_DIR" 2>/dev/null; then
        rm -rf "$CACHE_DIR"
    else
        die "$CACHE_DIR exists and is not a cvmm kernel cache dir; not replacing it"
    fi
fi
mv -T "$STAGE" "$CACHE_DIR"
STAGE=
log "done in $(($(date +%s) - START))s"
print_paths "$CACHE_DIR"
