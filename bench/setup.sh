#!/bin/sh
# Installs what `make bench` needs beyond scripts/install-deps.sh (the tests
# do not need it): QEMU, the side-by-side comparison; fio, the physical
# reference of `make bench-blk`. Idempotent.
set -e
PKGS="qemu-system-x86 fio"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q $missing >/dev/null 2>&1 || {
	$SUDO apt-get update -q >/dev/null
	$SUDO apt-get install -y -q $missing >/dev/null
}
