#!/bin/sh
# Installs the Debian packages cvmm's build and tests need (idempotent).
#   gcc, make      - build
#   libcmocka-dev  - unit tests
#   libcjson-dev   - JSON for the API socket (--api-socket)
#   zlib1g-dev     - CRC-32 of the snapshot sections (vm.snapshot, --restore)
#   libseccomp-dev - compiles the per-thread seccomp filters to BPF at build time (tools/seccomp-gen.c)
#   liburing-dev   - virtio-blk's io_uring engine (src/virtio/blk_uring.c)
#   iproute2       - network tests (namespaces, tap)
#   clang, libclang-rt-14-dev - libFuzzer targets (make fuzz; fuzz/README.md)
#   e2fsprogs, dnsmasq-base - Linux acceptance test (ext2 images, DHCP server)
#   qemu-system-x86, cpio, kmod - the nested rig (make check-nested; tests/nested/;
#                    its kernel and busybox-static come with apt-get download)
#   qemu-system-common - vhost-user backends for the guest and Linux tests:
#                    qemu-storage-daemon (vhost-user-blk), /usr/lib/qemu/virtiofsd
#   dpkg-dev, debhelper, lintian - the Debian package (debian/; make check-install PACKAGE=1)
set -e
PKGS="gcc make libcmocka-dev iproute2 libcjson-dev zlib1g-dev libseccomp-dev liburing-dev clang libclang-rt-14-dev e2fsprogs dnsmasq-base qemu-system-x86 qemu-system-common cpio kmod dpkg-dev debhelper lintian"
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
