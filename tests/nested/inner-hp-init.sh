#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of Debian's stock kernel under cvmm for the vfio part's stock-hp
# run (run-nested-test.sh appends it over inner.cpio.gz's /init): the
# rig's edu (1234:11e8) is hot-plugged with vm.add-device and unplugged
# with vm.remove-device, twice; the stock kernel's acpiphp (built in)
# scans the slot and ejects it. No driver binds edu: the check is the PCI
# core's. Prints "USER: ..." lines on the serial console for rig-run.sh,
# which sends the API calls, and for run-nested-test.sh:
#   USER: hp waiting K            ready for hot-plug K (K = 1, 2)
#   USER: hp added K BDF          edu appeared in /sys/bus/pci/devices
#   USER: hp dmesg K LINE         the kernel's PCI scan lines of it (new
#                                 since cycle K-1)
#   USER: hp removed K BDF        edu gone again (ejected)
#   USER: hp timeout K what       it did not come (or go) within 60 s
# Ends with `poweroff -f`.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "USER: init running, pid $$ (vfio hotplug)"
# edu_bdf: the address of the first 1234:11e8 function, or nothing
edu_bdf() {
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ]; then
			echo "${d##*/}"
			return 0
		fi
	done
	return 1
}
seen=0
for k in 1 2; do
	echo "USER: hp waiting $k"
	i=0
	while [ $i -lt 300 ] && ! edu_bdf >/dev/null; do
		sleep 0.2
		i=$((i + 1))
	done
	b=$(edu_bdf) || { echo "USER: hp timeout $k add"; break; }
	echo "USER: hp added $k $b"
	# (this cycle's scan only: the lines after the ones seen before)
	dmesg | grep -F "$b" | grep -F '[1234:11e8]' | tail -n +$((seen + 1)) | sed "s/^/USER: hp dmesg $k /"
	seen=$(dmesg | grep -F "$b" | grep -cF '[1234:11e8]')
	i=0
	while [ $i -lt 300 ] && [ -e "/sys/bus/pci/devices/$b" ]; do
		sleep 0.2
		i=$((i + 1))
	done
	[ -e "/sys/bus/pci/devices/$b" ] && { echo "USER: hp timeout $k remove"; break; }
	echo "USER: hp removed $k $b"
done
dmesg | grep -iE 'acpiphp|pci_hotplug|hotplug|1234:11e8' | tail -n 20 | sed 's/^/USER: dmesg: /'
echo "USER: done"
poweroff -f
