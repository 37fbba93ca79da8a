#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of Debian's stock kernel under cvmm for the vfio part's stock-rng
# run (run-nested-test.sh appends it over inner.cpio.gz's /init): the
# rig's virtio-rng, passed through with --device, driven by Linux's own
# virtio_pci and virtio-rng drivers, with cvmm's own --rng beside it (the
# hw_random sources are read one after the other, each selected, three
# times: cvmm's own used to answer only the first request).
# Prints "USER: ..." lines on the serial console for run-nested-test.sh:
#   USER: virtio virtioN device 0x0004 driver virtio_rng pci BDF platform 0|1
#       one per virtio device; platform: VIRTIO_F_ACCESS_PLATFORM (bit 33)
#       negotiated, which the rig's device offers (iommu_platform=on) and
#       cvmm's own does not: that tells the passed-through one
#   USER: hwrng available NAME NAME
#   USER: hwrng NAME read K HEX passthrough-irqs A->B cvmm-irqs C->D
#       per hw_random source, selected with rng_current, K = 1..3: 16
#       bytes from /dev/hwrng and the "virtioN-input" interrupts
#       (/proc/interrupts) of the passed-through device and of cvmm's own
#       before and after (which of them rose tells the source)
# Ends with `poweroff -f`.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "USER: init running, pid $$ (vfio rng)"
while read -r m; do
	insmod "/lib/modules/$m" 2>/dev/null || echo "USER: insmod $m failed"
done </lib/modules/load-order
HW=/sys/class/misc/hw_random
i=0
while [ $i -lt 50 ]; do
	# shellcheck disable=SC2046
	set -- $(cat "$HW/rng_available" 2>/dev/null)
	[ $# -ge 1 ] && [ -e /sys/bus/virtio/devices/virtio0/driver ] && break
	sleep 0.2
	i=$((i + 1))
done
pt=
own=
for d in /sys/bus/virtio/devices/*; do
	v=$(basename "$d")
	pci=$(basename "$(dirname "$(readlink -f "$d")")")
	plat=$(cut -c34 "$d/features")
	[ "$plat" = 1 ] && [ "$(cat "$d/device")" = 0x0004 ] && pt=$v
	[ "$plat" = 0 ] && [ "$(cat "$d/device")" = 0x0004 ] && own=$v
	echo "USER: virtio $v device $(cat "$d/device") driver $(basename "$(readlink "$d/driver")") pci $pci platform $plat"
done
echo "USER: hwrng available $(cat "$HW/rng_available")"
irqs() {
	[ -n "$1" ] || { echo none; return; }
	awk -v n="$1-input" '$NF == n { print $2; f = 1 } END { if (!f) print "none" }' /proc/interrupts
}
grep virtio /proc/interrupts | sed 's/^/USER: interrupts: /'
echo "USER: hwrng current $(cat "$HW/rng_current")"
# (each step bounded: a device that never answers blocks the hw_random core)
# shellcheck disable=SC2013 # one line of names
for r in $(cat "$HW/rng_available"); do
	timeout 10 sh -c "echo $r >$HW/rng_current" || echo "USER: hwrng $r: cannot select it"
	for k in 1 2 3; do
		a=$(irqs "$pt")
		c=$(irqs "$own")
		x=$(timeout 20 dd if=/dev/hwrng bs=16 count=1 2>/dev/null | od -An -tx1 | tr -d ' \n')
		echo "USER: hwrng $r read $k $x passthrough-irqs $a->$(irqs "$pt") cvmm-irqs $c->$(irqs "$own")"
	done
done
grep virtio /proc/interrupts | sed 's/^/USER: interrupts: /'
dmesg | grep -iE 'virtio|msi|rng' | tail -n 20 | sed 's/^/USER: dmesg: /'
echo "USER: done"
poweroff -f
