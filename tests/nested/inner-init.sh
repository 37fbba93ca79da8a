#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of Debian's stock kernel under cvmm inside the nested rig (busybox
# sh, user space). Each step prints "USER: ..." lines on the serial console;
# run-nested-test.sh checks them. Ends with `poweroff -f`: Linux's ACPI
# power-off (S5 through the FADT's sleep control register) ends cvmm with
# exit status 0.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "USER: init running, pid $$"
while read -r m; do
	insmod "/lib/modules/$m" 2>/dev/null || echo "USER: insmod $m failed"
done </lib/modules/load-order
# Give the drivers a moment to bind (the devices are probed as modules load).
i=0
while [ $i -lt 50 ] && ! { [ -b /dev/vda ] && [ -b /dev/vdb ] && [ -e /sys/class/net/eth0 ] && [ -c /dev/hvc0 ]; }; do
	sleep 0.2
	i=$((i + 1))
done
for d in /sys/bus/virtio/devices/*; do
	echo "USER: virtio $(basename "$d") device $(cat "$d/device") driver $(basename "$(readlink "$d/driver")")"
done
echo "USER: clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
dmesg | grep -E 'calibrate against PIT|TSC unstable|XSAVE consistency' | sed 's/^/USER: clock warning: /'
echo "USER: vda pattern $(dd if=/dev/vda bs=16 count=1 2>/dev/null)"
if echo "written-by-stock-linux" | dd of=/dev/vdb bs=512 conv=sync,fsync 2>/dev/null; then
	echo "USER: vdb written"
fi
ip link set eth0 up
ip addr add 10.78.0.2/24 dev eth0
if ping -c 2 -W 5 10.78.0.1 >/tmp/ping 2>&1; then
	echo "USER: ping ok"
else
	echo "USER: ping failed: $(tail -n 2 /tmp/ping | tr '\n' ' ')"
fi
echo "USER: hwrng $(dd if=/dev/hwrng bs=16 count=1 2>/dev/null | od -An -tx1 | tr -d ' \n')"
echo "USER: hello over hvc0" >/dev/hvc0 && echo "USER: hvc0 written"
echo "USER: done"
sync
poweroff -f
