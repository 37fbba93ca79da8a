#!/bin/sh
# SPDX-License-Identifier: MIT
# /payload/run.sh inside the nested rig (busybox sh): runs the parts named
# in /payload/params and frames each with "NESTED-BEGIN NAME" and
# "NESTED-END NAME rc=N secs=S" lines for tests/nested/run-nested-test.sh.
. /payload/params
cd /tmp || exit 1
# /bin/timeout is coreutils' (status 124 on expiry; cvmm exits 0 on SIGTERM).
now() { cut -d' ' -f1 /proc/uptime; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
echo "RIG: boot to payload $(now) s"

# The rig's TSC rate (the guest's: KVM does not scale it under TCG), for
# the tiny kernel, which has no kvmclock: on AMD it has no CPUID source
# of the TSC rate and would calibrate against the PIT, which fails at
# TCG's exit cost; tsc=reliable because the clocksource watchdog compares
# the TSC with jiffies, and TCG delivers the guest's ticks late (see
# tests/nested/README.md). cvmm creates its taps itself.
TSC_KHZ=$(dmesg | sed -n 's/.*tsc: Detected \([0-9.]*\) MHz.*/\1/p' | tail -n1 |
	awk '{ printf "%d", $1 * 1000 + 0.5 }')
echo "RIG: tsc ${TSC_KHZ} kHz"
# NESTED_TINY_TSC (run-nested-test.sh): "none" runs the tiny kernel without
# these, as issue 20 ran it (to show the PIT calibration failing); any
# other value but "auto" replaces them.
case ${TINY_TSC_MODE:-auto} in
auto) TINY_TSC="tsc_early_khz=$TSC_KHZ tsc=reliable" ;;
none) TINY_TSC="" ;;
*) TINY_TSC=$TINY_TSC_MODE ;;
esac

for part in $PARTS; do
	echo "NESTED-BEGIN $part"
	t=$(now)
	case $part in
	guest)
		bash /payload/tests/run-tests.sh /bin/cvmm /payload/guest "$FILTER"
		rc=$?
		;;
	tiny)
		: >/tmp/tiny.hvc
		/bin/timeout -k 5 "$TINY_TIMEOUT" cvmm --kernel /payload/vmlinux --cpus boot=1 \
			--memory size=256M --serial tty --console file=/tmp/tiny.hvc \
			--disk path=/payload/root.img --net tap=cvmmt0,ip=10.79.0.1,mask=255.255.255.0 \
			--rng src=/payload/rng.bin --log-level warn \
			--cmdline "console=ttyS0 console=hvc0 $TINY_TSC reboot=k panic=-1 root=/dev/vda rw rootfstype=ext2 ip=10.79.0.2::10.79.0.1:255.255.255.0::eth0:off" </dev/null
		rc=$?
		sed 's/^/TINY-HVC: /' /tmp/tiny.hvc | head -n 400
		;;
	stock)
		: >/tmp/stock.hvc
		cp /payload/pattern.img /tmp/vda.img
		truncate -s 64K /tmp/vdb.img
		/bin/timeout -k 5 "$STOCK_TIMEOUT" cvmm --kernel /payload/stock-vmlinuz \
			--initramfs /payload/stock-initrd --cpus boot=1 --memory size=512M \
			--serial tty --console file=/tmp/stock.hvc \
			--disk path=/tmp/vda.img,readonly=on --disk path=/tmp/vdb.img \
			--net tap=cvmms0,ip=10.78.0.1,mask=255.255.255.0 --rng src=/payload/rng.bin \
			--log-level info --cmdline "console=ttyS0 reboot=k panic=-1 quiet" </dev/null
		rc=$?
		sed 's/^/STOCK-HVC: /' /tmp/stock.hvc
		dd if=/tmp/vdb.img bs=22 count=1 2>/dev/null | sed 's/^/STOCK-VDB: /'
		echo
		;;
	qemu-kvm)
		# Evidence, not a check: the same tiny kernel and command line
		# under QEMU+KVM on the rig's KVM (NESTED_PARTS=qemu-kvm).
		/bin/timeout -k 5 "$TINY_TIMEOUT" /bin/qemu-system-x86_64 -L /payload/qemu-fw \
			-enable-kvm -M pc -cpu host -m 256 -smp 1 -nodefaults -nographic \
			-serial stdio -no-reboot -kernel /payload/vmlinux \
			-append "console=ttyS0 $TINY_TSC reboot=k panic=-1" </dev/null
		rc=$?
		;;
	*)
		echo "unknown part $part"
		rc=2
		;;
	esac
	echo "NESTED-END $part rc=$rc secs=$(secs "$t")"
done
