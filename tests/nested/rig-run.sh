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

# ---- part vfio ---------------------------------------------------------------
# VFIO passthrough of the rig's two spare devices: run-nested-test.sh gives
# QEMU an Intel IOMMU (DMA and interrupt remapping), QEMU's edu device and
# a modern virtio-rng (MSI-X), and the rig kernel intel_iommu=on. The part
# loads the VFIO modules, lists the IOMMU groups, runs cvmm once on edu
# while no driver has it (the negative case: exit 2 naming the device),
# binds both devices to vfio-pci, checks them with vfio-probe (a VFIO user
# independent of cvmm: tests/nested/vfio-probe.c) and runs cvmm with each
# passed through: the vfio_edu test guest on edu (MSI, INTx, and a run with
# a reboot through the API between two passes), the stock kernel with edu
# hot-plugged and unplugged through the API, the virtio_rng test guest
# on the rng (MSI-X, then INTx), and the stock kernel driving the rng with
# its own drivers. Output, for run-nested-test.sh:
#   VFIO: ...                  set-up facts, one per line
#   VFIO-PROBE: KIND ...       vfio-probe's lines, "VFIO-PROBE: KIND ok" last
#   VFIO-RUN-BEGIN NAME        per cvmm run (neg, edu, edu-intx, stock-hp, edu-reboot,
#                              rng-msix, rng-intx, stock-rng):
#   VFIO-OUT NAME: ...         its serial output (the test guest's lines)
#   VFIO-ERR NAME: ...         its stderr (log level info)
#   VFIO-RUN-END NAME rc=N secs=S  its status and seconds; rc=none: not run
#                              (why: a VFIO: line)
# The part's own status (NESTED-END vfio rc=) counts the set-up steps that
# failed; the cvmm runs are judged by run-nested-test.sh (VFIO_CVMM there).
VFIO_EDU_ID="0x1234 0x11e8"
VFIO_RNG_ID="0x1af4 0x1044"
PCI=/sys/bus/pci/devices

# pci_find VENDOR DEVICE: the address of the first such PCI function.
pci_find() {
	for d in "$PCI"/*; do
		if [ "$(cat "$d/vendor")" = "$1" ] && [ "$(cat "$d/device")" = "$2" ]; then
			echo "${d##*/}"
			return 0
		fi
	done
	return 1
}
# drv_of BDF / group_of BDF: the bound driver ("none") / the IOMMU group.
drv_of() {
	l=$(readlink "$PCI/$1/driver") && echo "${l##*/}" || echo none
}
group_of() {
	l=$(readlink "$PCI/$1/iommu_group") && echo "${l##*/}" || echo none
}

# vfio_bind NAME BDF: BDF off its driver and onto vfio-pci (driver_override);
# prints "VFIO: bound NAME BDF from OLD driver NOW group G dev DEV viable yes|no".
vfio_bind() {
	old=$(drv_of "$2")
	if [ "$old" != none ] && [ "$old" != vfio-pci ]; then
		echo "$2" >"$PCI/$2/driver/unbind"
	fi
	echo vfio-pci >"$PCI/$2/driver_override"
	[ "$old" = vfio-pci ] || echo "$2" >/sys/bus/pci/drivers_probe
	drv=$(drv_of "$2")
	g=$(group_of "$2")
	dev=/dev/vfio/$g
	[ -c "$dev" ] || dev=none
	# viable: every device of the group on vfio-pci (the rig's groups
	# have no bridges)
	viable=yes
	for m in /sys/kernel/iommu_groups/"$g"/devices/*; do
		[ "$(drv_of "${m##*/}")" = vfio-pci ] || viable=no
	done
	echo "VFIO: bound $1 $2 from $old driver $drv group $g dev $dev viable $viable"
	[ "$drv" = vfio-pci ] && [ "$dev" != none ] && [ "$viable" = yes ]
}

# vfio_run NAME CVMM-ARGS...: one cvmm run, framed (see above).
vfio_run() {
	n=$1
	shift
	echo "VFIO-RUN-BEGIN $n"
	t0=$(now)
	/bin/timeout -k 5 "$VFIO_TIMEOUT" cvmm --serial tty --debug-exit --log-level info "$@" \
		</dev/null >"/tmp/vfio-$n.out" 2>"/tmp/vfio-$n.err"
	vfio_show "$n" $?
}
# vfio_show NAME RC: the run's output and its END line.
vfio_show() {
	tr -d '\r' <"/tmp/vfio-$1.out" | head -n 300 | sed "s/^/VFIO-OUT $1: /"
	head -n 60 "/tmp/vfio-$1.err" | sed "s/^/VFIO-ERR $1: /"
	echo "VFIO-RUN-END $1 rc=$2 secs=$(secs "$t0")"
}
# vfio_start NAME CVMM-ARGS...: cvmm in the background with an API socket
# ($api), framed like vfio_run; $pid is its /bin/timeout.
vfio_start() {
	n=$1
	shift
	echo "VFIO-RUN-BEGIN $n"
	t0=$(now)
	api=/tmp/vfio-$n.api
	/bin/timeout -k 5 "$VFIO_TIMEOUT" cvmm --serial tty --debug-exit --log-level info \
		--api-socket "$api" "$@" </dev/null >"/tmp/vfio-$n.out" 2>"/tmp/vfio-$n.err" &
	pid=$!
}
# vfio_await STRING: up to 60 s, while cvmm runs, for STRING in its guest
# output; status 1 if it did not come.
vfio_await() {
	i=0
	while [ $i -lt 600 ] && kill -0 "$pid" 2>/dev/null &&
		! grep -qF -- "$1" "/tmp/vfio-$n.out"; do
		sleep 0.1
		i=$((i + 1))
	done
	grep -qF -- "$1" "/tmp/vfio-$n.out"
}
# vfio_run_reboot NAME CVMM-ARGS...: vfio_run with an API socket; when the
# guest prints "waiting for a reboot" (vfio_edu reboot=1), cvmm-remote
# reboots the VM once.
vfio_run_reboot() {
	vfio_start "$@"
	if vfio_await 'waiting for a reboot'; then
		echo "VFIO: $n: rebooting through the API: $(cvmm-remote --api-socket "$api" reboot 2>&1 | tr '\n' ' ')"
	else
		echo "VFIO: $n: no 'waiting for a reboot' from the guest"
	fi
	wait "$pid"
	vfio_show "$n" $?
}
# vfio_run_counted NAME CVMM-ARGS...: vfio_run with an API socket, for a
# guest run with hold=1 (vfio_edu): when it prints "holding for the host",
# cvmm-remote reads vm.counters ("VFIO-COUNTERS NAME: JSON"), then cvmm
# gets SIGTERM (exit status 0).
vfio_run_counted() {
	vfio_start "$@"
	if vfio_await 'holding for the host'; then
		echo "VFIO-COUNTERS $n: $(cvmm-remote --api-socket "$api" counters 2>&1 | tr -d '\n')"
		kill -TERM "$pid"
	else
		echo "VFIO: $n: no 'holding for the host' from the guest"
	fi
	wait "$pid"
	vfio_show "$n" $?
}
# child_of PID: the first child process of PID (cvmm under /bin/timeout).
child_of() {
	for st in /proc/[0-9]*/stat; do
		awk -v p="$1" '$4 == p { print $1; f = 1 } END { exit !f }' "$st" 2>/dev/null && return 0
	done
	return 1
}
# vfio_fds PID GROUP: how many of PID's fds are /dev/vfio/GROUP.
vfio_fds() {
	n=0
	for f in /proc/"$1"/fd/*; do
		[ "$(readlink "$f")" = "/dev/vfio/$2" ] && n=$((n + 1))
	done
	echo "$n"
}
# wait_for FILE STRING [COUNT]: up to 60 s for COUNT (default 1) lines of
# FILE holding STRING; status 1 if they did not come.
wait_for() {
	i=0
	while [ $i -lt 600 ]; do
		[ "$(grep -cF -- "$2" "$1" 2>/dev/null)" -ge "${3:-1}" ] 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
# vfio_run_hp NAME BDF CVMM-ARGS...: the stock kernel with an API socket
# (inner-hp-init.sh), BDF (on vfio-pci) hot-plugged and unplugged twice:
# per cycle K, when the guest prints "hp waiting K", `add-device
# path=...,id=hpeduK`; when it prints "hp added K", the fds cvmm holds on
# /dev/vfio/GROUP are counted and `remove-device hpeduK` sent; when cvmm
# logs "hpeduK released", they are counted again. Lines:
#   VFIO-HP NAME: add K: ANSWER      cvmm-remote's answer and status
#   VFIO-HP NAME: fds K plugged|released N   fds on /dev/vfio/GROUP
#   VFIO-HP NAME: remove K: ANSWER
#   VFIO-HP NAME: K: no ...           a step that did not come
vfio_run_hp() {
	n=$1
	b=$2
	shift 2
	g=$(group_of "$b")
	vfio_start "$n" "$@"
	out=/tmp/vfio-$n.out
	err=/tmp/vfio-$n.err
	sleep 0.5
	cpid=$(child_of "$pid") || cpid=$pid
	echo "VFIO-HP $n: cvmm pid $cpid group $g fds at boot $(vfio_fds "$cpid" "$g")"
	for k in 1 2; do
		wait_for "$out" "USER: hp waiting $k" || { echo "VFIO-HP $n: $k: no 'hp waiting'"; break; }
		a=$(cvmm-remote --api-socket "$api" add-device "path=$PCI/$b,id=hpedu$k" 2>&1)
		st=$?
		echo "VFIO-HP $n: add $k: $(echo "$a" | tr '\n' ' ') status $st"
		wait_for "$out" "USER: hp added $k" || { echo "VFIO-HP $n: $k: no 'hp added'"; break; }
		echo "VFIO-HP $n: fds $k plugged $(vfio_fds "$cpid" "$g")"
		r=$(cvmm-remote --api-socket "$api" remove-device "hpedu$k" 2>&1)
		st=$?
		echo "VFIO-HP $n: remove $k: $(echo "$r" | tr '\n' ' ') status $st"
		wait_for "$err" "hpedu$k released" || { echo "VFIO-HP $n: $k: no 'hpedu$k released'"; break; }
		echo "VFIO-HP $n: fds $k released $(vfio_fds "$cpid" "$g")"
		wait_for "$out" "USER: hp removed $k" || { echo "VFIO-HP $n: $k: no 'hp removed'"; break; }
	done
	wait "$pid"
	vfio_show "$n" $?
}
vfio_norun() {
	echo "VFIO: $1 not run: $2"
	echo "VFIO-RUN-BEGIN $1"
	echo "VFIO-RUN-END $1 rc=none"
}

# vfio_modules: loads the VFIO modules (irqbypass is in already, for kvm);
# adds the failures to $fails.
vfio_modules() {
	while read -r m; do
		mod=${m%.ko}
		[ -d "/sys/module/$(echo "$mod" | tr - _)" ] && continue
		if ! insmod "/lib/modules/$m" 2>/tmp/insmod.err; then
			echo "VFIO: insmod $m failed: $(cat /tmp/insmod.err)"
			fails=$((fails + 1))
		fi
	done </lib/modules/vfio-load-order
}

# Part vfio-bench (not in the default parts; bench/vfio.sh): the
# bench_vfio guest on edu with BAR0 mapped, then with mmap=off (trapped).
vfio_bench_part() {
	fails=0
	vfio_modules
	# shellcheck disable=SC2086
	edu=$(pci_find $VFIO_EDU_ID) || { echo "VFIO: no edu"; return 1; }
	vfio_bind edu "$edu" || return 1
	vfio_run bench-mapped --kernel /payload/guest/bench_vfio.bzImage --memory size=256M \
		--device "path=$PCI/$edu" --cmdline "$VFIO_BENCH_ARGS"
	vfio_run bench-trapped --kernel /payload/guest/bench_vfio.bzImage --memory size=256M \
		--device "path=$PCI/$edu,mmap=off" --cmdline "$VFIO_BENCH_ARGS"
	return "$fails"
}

vfio_part() {
	fails=0
	# (a) the modules
	vfio_modules
	if [ -c /dev/vfio/vfio ] && [ -d /sys/bus/pci/drivers/vfio-pci ]; then
		echo "VFIO: modules loaded: $(tr '\n' ' ' </lib/modules/vfio-load-order)"
	else
		echo "VFIO: no /dev/vfio/vfio or no vfio-pci driver"
		fails=$((fails + 1))
	fi
	# the IOMMU as the rig kernel set it up: DMA translated (not
	# identity: iommu=pt is not wanted), interrupt remapping on
	dma=off
	ir=off
	dmesg | grep -q 'iommu: Default domain type: Translated' && dma=translated
	dmesg | grep -q 'DMAR-IR: Enabled IRQ remapping' && ir=on
	echo "VFIO: iommu dma $dma ir $ir"
	[ "$dma" = translated ] && [ "$ir" = on ] || fails=$((fails + 1))
	# (b) the IOMMU groups
	ngroups=0
	for g in /sys/kernel/iommu_groups/*; do
		[ -d "$g/devices" ] || continue
		ngroups=$((ngroups + 1))
		for d in "$g"/devices/*; do
			b=${d##*/}
			echo "VFIO: group ${g##*/} $b $(cat "$PCI/$b/vendor"):$(cat "$PCI/$b/device") class $(cat "$PCI/$b/class") driver $(drv_of "$b")"
		done
	done
	[ "$ngroups" -gt 0 ] || { echo "VFIO: no IOMMU groups"; fails=$((fails + 1)); }
	# shellcheck disable=SC2086
	edu=$(pci_find $VFIO_EDU_ID) || edu=
	# shellcheck disable=SC2086
	rng=$(pci_find $VFIO_RNG_ID) || rng=
	echo "VFIO: device edu ${edu:-none}"
	echo "VFIO: device rng ${rng:-none}"
	[ -n "$edu" ] || fails=$((fails + 1))
	[ -n "$rng" ] || fails=$((fails + 1))
	# (e) the negative case: edu, bound to no driver, is not for VFIO yet
	if [ -n "$edu" ] && [ "$(drv_of "$edu")" != vfio-pci ]; then
		vfio_run neg --kernel /payload/guest/hello.bzImage --memory size=64M \
			--device "path=$PCI/$edu"
	else
		vfio_norun neg "no edu device off vfio-pci"
	fi
	# (c) onto vfio-pci, and the rig's own VFIO user on each
	edu_ok=
	rng_ok=
	if [ -n "$edu" ]; then
		if vfio_bind edu "$edu" && vfio-probe edu "$edu"; then edu_ok=1; else fails=$((fails + 1)); fi
		dmesg | grep 'DMAR: \[DMA' | sed 's/^/VFIO: dmar fault: /'
	fi
	if [ -n "$rng" ]; then
		if vfio_bind rng "$rng" && vfio-probe rng "$rng"; then rng_ok=1; else fails=$((fails + 1)); fi
	fi
	ls -l /dev/vfio | sed 's/^/VFIO: \/dev\/vfio: /'
	# (d) cvmm with each passed through
	if [ -z "$edu_ok" ]; then
		vfio_norun edu "edu not on vfio-pci"
	elif [ ! -f /payload/guest/vfio_edu.bzImage ]; then
		vfio_norun edu "no vfio_edu test guest (build/guest/vfio_edu.bzImage)"
	else
		# (hold=1: vm.counters read while the guest holds, after
		# its MSI and INTx cases)
		vfio_run_counted edu --kernel /payload/guest/vfio_edu.bzImage --memory size=256M \
			--device "path=$PCI/$edu,id=edu0" --cmdline "hold=1"
		vfio_run_counted edu-intx --kernel /payload/guest/vfio_edu.bzImage --memory size=256M \
			--device "path=$PCI/$edu,id=edu0" --cmdline "irq=intx hold=1"
		# hot-plug and unplug (twice) into the stock kernel; edu-reboot
		# after it shows edu usable again once unplugged
		vfio_run_hp stock-hp "$edu" --kernel /payload/stock-vmlinuz \
			--initramfs /payload/stock-hp-initrd --memory size=256M \
			--cmdline "console=ttyS0 reboot=k panic=-1 quiet"
		vfio_run_reboot edu-reboot --kernel /payload/guest/vfio_edu.bzImage \
			--memory size=256M --device "path=$PCI/$edu" --cmdline "reboot=1"
	fi
	if [ -z "$rng_ok" ]; then
		vfio_norun rng-msix "rng not on vfio-pci"
		vfio_norun rng-intx "rng not on vfio-pci"
	else
		vfio_run rng-msix --kernel /payload/guest/virtio_rng.bzImage --memory size=256M \
			--device "path=$PCI/$rng" --cmdline "irq=msix evidx=1"
		vfio_run rng-intx --kernel /payload/guest/virtio_rng.bzImage --memory size=256M \
			--device "path=$PCI/$rng" --cmdline "irq=intx evidx=1"
		# Linux's own drivers on the passed-through rng and on
		# cvmm's own (--rng: getrandom), each read three times
		# (tests/nested/inner-vfio-init.sh). The rig's random pool is
		# not initialised here (no RDRAND, few interrupts under TCG):
		# cvmm's getrandom(GRND_NONBLOCK) says EAGAIN, and its rng
		# must hold the driver's requests until it is (and the guest's
		# hw_random core then waits: its fill thread holds the read
		# lock, so probing the second rng waits too). Once the guest's
		# user space runs (its modules load next), a blocking read of
		# /dev/random makes the rig's kernel initialise the pool
		# (jitter entropy).
		echo "VFIO: rig random pool before stock-rng: $(dmesg | grep -q 'crng init done' && echo ready || echo 'not ready')"
		(i=0
		 while [ $i -lt 1200 ] && ! grep -q 'USER: init running' /tmp/vfio-stock-rng.out 2>/dev/null; do
			sleep 0.1
			i=$((i + 1))
		 done
		 timeout 100 dd if=/dev/random of=/dev/null bs=1 count=1 2>/dev/null
		 echo "VFIO: rig random pool ready at $(now) s (uptime)") &
		vfio_run stock-rng --kernel /payload/stock-vmlinuz \
			--initramfs /payload/stock-vfio-initrd --memory size=256M \
			--device "path=$PCI/$rng" --rng \
			--cmdline "console=ttyS0 reboot=k panic=-1 quiet"
	fi
	return "$fails"
}

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
	vfio)
		vfio_part
		rc=$?
		;;
	vfio-bench)
		vfio_bench_part
		rc=$?
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
