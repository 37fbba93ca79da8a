# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# Sourced by the nested rig's scripts (bash).
#
# copy_bin ROOT PROGRAM: copies PROGRAM to ROOT/bin and every shared library
# ldd names for it (the dynamic loader included) to the same path under ROOT.
copy_bin() {
    local root=$1 prog=$2 lib
    [ -x "$prog" ] || return 1
    mkdir -p "$root/bin"
    # (rm first: the name may be a busybox link, which cp would write through)
    rm -f "$root/bin/$(basename "$prog")"
    cp -L "$prog" "$root/bin/$(basename "$prog")" || return 1
    while read -r lib; do
        [ -n "$lib" ] || continue
        mkdir -p "$root$(dirname "$lib")"
        [ -e "$root$lib" ] || cp -L "$lib" "$root$lib" || return 1
    done < <(ldd "$prog" 2>/dev/null | awk '/=> \// { print $3 } /^[[:space:]]*\/[^ ]+ \(/ { print $1 }')
    return 0
}
