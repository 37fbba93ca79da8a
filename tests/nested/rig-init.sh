#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the nested test rig (busybox sh under QEMU+TCG): mounts the
# pseudo file systems, loads the modules of /lib/modules/load-order (kvm,
# kvm-amd, tun), runs /payload/run.sh (appended by run-nested-test.sh) with
# its output on the console, and powers off. The host reads the console.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
ln -sf /proc/self/fd /dev/fd   # bash's process substitution
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /run/netns
ip link set lo up 2>/dev/null
while read -r m; do
	if ! insmod "/lib/modules/$m" 2>/tmp/insmod.err; then
		echo "RIG: insmod $m failed: $(cat /tmp/insmod.err)"
	fi
done </lib/modules/load-order
if [ -c /dev/kvm ]; then
	echo "RIG: /dev/kvm ready"
else
	echo "RIG: no /dev/kvm"
	dmesg | grep -iE 'kvm|svm' | tail -n 5 | sed 's/^/RIG: dmesg: /'
fi
if [ -x /payload/run.sh ]; then
	echo "RIG: payload start"
	/payload/run.sh
	echo "RIG: payload exit $?"
fi
sync
poweroff -f
