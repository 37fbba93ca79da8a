#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Guest integration tests: boots each test guest under cvmm and checks the
# exit status and the serial output.
#
#   tests/guest/run-tests.sh CVMM GUESTDIR [FILTER]
#
# FILTER (optional) is a shell glob: only cases whose name matches run.
# Prints "ok NAME" or "FAIL NAME: why" (plus the last lines of output) per
# case, then one line "guest: N passed, M failed"; exits 1 if any failed.

# lib.sh runs the t_on_* hooks (SC2317); ok names $CASE (SC2119).
# shellcheck disable=SC2317,SC2119
set -u

CVMM=${1:?usage: run-tests.sh CVMM GUESTDIR [FILTER]}
GDIR=${2:?usage: run-tests.sh CVMM GUESTDIR [FILTER]}
FILTER=${3:-*}
TIMEOUT=${GUEST_TIMEOUT:-60}

# t_init, ok/bad/skip, wanted, t_finish (tests/lib.sh; the nested rig
# copies it beside this script's folder, as payload/lib.sh).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh" || {
	echo "FAIL setup: $(dirname "$0")/../lib.sh missing"
	echo "guest: 0 passed, 1 failed"
	exit 1
}
t_init guest

[ -x "$CVMM" ] || t_setup_fail "$CVMM is not executable"
# The network namespace of the virtio cases with --net (made on first use).
NETNS=
t_on_exit() {
	faildisk_down 2>/dev/null
	edu_down 2>/dev/null
	qsd_down 2>/dev/null
	if [ -n "$NETNS" ]; then
		ip netns del "$NETNS" 2>/dev/null
	fi
}

RC=0
OUT=
ERR=
# Words between `timeout` and cvmm (the virtio-net cases: ip netns exec NS).
PREFIX=()

# run NAME INPUT IMAGE [cvmm args...]: INPUT is "null" (stdin from
# /dev/null), "pipe:TEXT" (TEXT, then EOF, through a pipe) or "late:TEXT"
# (the same, one second after start, when the guest is already waiting).
# Sets RC, OUT (serial output, CRs removed) and ERR (cvmm's stderr).
run() {
	local name=$1 input=$2 image=$3
	shift 3
	CASE=$name
	OUT=$TMP/$name.out
	ERR=$TMP/$name.err
	local cmd=(timeout -k 5 "$TIMEOUT" ${PREFIX[@]+"${PREFIX[@]}"} "$CVMM" --kernel "$GDIR/$image" --serial tty
		--debug-exit --log-level warn "$@")
	case $input in
	null)
		"${cmd[@]}" </dev/null >"$OUT.raw" 2>"$ERR"
		RC=$?
		;;
	pipe:*)
		printf '%s' "${input#pipe:}" | "${cmd[@]}" >"$OUT.raw" 2>"$ERR"
		RC=${PIPESTATUS[1]}
		;;
	late:*)
		{ sleep 1; printf '%s' "${input#late:}"; } | "${cmd[@]}" >"$OUT.raw" 2>"$ERR"
		RC=${PIPESTATUS[1]}
		;;
	esac
	tr -d '\r' <"$OUT.raw" >"$OUT"
}

# A failure shows the end of the guest's output and of cvmm's stderr.
t_on_fail() {
	t_show "last output lines" "$OUT" 10
	t_show "cvmm stderr" "$ERR" 10
}

# verify EXPECTED_RC [STRING...]: the exit status, each fixed STRING present
# in the output, and no "FAIL" line from the guest. Returns 1 with WHY set.
WHY=
verify() {
	local want=$1 s
	shift
	if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
		WHY="timed out after ${TIMEOUT}s (exit $RC)"
		return 1
	fi
	if grep -q '^FAIL' "$OUT"; then
		WHY="guest reported: $(grep -m1 '^FAIL' "$OUT")"
		return 1
	fi
	if [ "$RC" -ne "$want" ]; then
		WHY="exit status $RC, expected $want"
		return 1
	fi
	for s in "$@"; do
		if ! grep -qF -- "$s" "$OUT"; then
			WHY="output lacks \"$s\""
			return 1
		fi
	done
	return 0
}

# check_run EXPECTED_RC [STRING...]: verify, then ok or bad.
check_run() {
	if verify "$@"; then ok; else bad "$WHY"; fi
}

# The banner a test image prints: its test name and the boot path taken
# (a .pvh.elf must come in through PVH, a bzImage through the 64-bit entry).
banner() {
	local image=$1 test proto
	test=${image%%.*}
	test=${test%-setup0}
	case $image in
	*.pvh.elf) proto="PVH" ;;
	*) proto="Linux 64-bit" ;;
	esac
	echo "== cvmm test guest '$test' ($proto boot"
}

# case NAME INPUT IMAGE EXPECTED_RC "STRINGS" [cvmm args...] (STRINGS is a
# '|'-separated list; empty for none).
tcase() {
	local name=$1 input=$2 image=$3 want=$4 strings=$5
	shift 5
	wanted "$name" || return 0
	run "$name" "$input" "$image" "$@"
	local IFS='|'
	# shellcheck disable=SC2086
	check_run "$want" "$(banner "$image")" $strings
}

for f in hello.bzImage hello.pvh.elf diskpat; do
	[ -f "$GDIR/$f" ] || t_setup_fail "$GDIR/$f missing (run 'make guests')"
done

# ---- boot and basic output ----
tcase hello-bzimage null hello.bzImage 0 "hello from guest|PASS" --memory size=256M
tcase hello-pvh null hello.pvh.elf 0 "hello from guest|PASS" --memory size=256M
tcase hello-setup-sects-0 null hello-setup0.bzImage 0 "hello from guest|PASS"

# ---- command line, passed through exactly ----
LONG=$(printf 'x%.0s' $(seq 1 300))
CMDLINE="console=ttyS0 root=/dev/vda1 rw  init=/sbin/init a.b=c=d empty= path=/a/b,c long=$LONG end"
# cmdline_case NAME IMAGE CMDLINE: the guest must see CMDLINE exactly.
cmdline_case() {
	local name=$1 img=$2 want=$3 got
	wanted "$name" || return 0
	run "$name" null "$img" --cmdline "$want"
	if ! verify 0 "$(banner "$img")" "PASS"; then
		bad "$WHY"
		return
	fi
	got=$(sed -n 's/^CMDLINE<<\(.*\)>>$/\1/p' "$OUT")
	if [ "$got" = "$want" ]; then
		ok
	else
		bad "command line differs: got [${got:0:200}] (${#got} bytes), sent ${#want} bytes"
	fi
}
cmdline_case cmdline-bzimage cmdline.bzImage "$CMDLINE"
cmdline_case cmdline-pvh cmdline.pvh.elf "$CMDLINE"
# The bzImage header says cmdline_size = 2047: exactly that much must pass...
MAXLINE="k=$(printf 'y%.0s' $(seq 1 2045))"
cmdline_case cmdline-2047-bzimage cmdline.bzImage "$MAXLINE"
# ...PVH has no such limit...
cmdline_case cmdline-3000-pvh cmdline.pvh.elf "k=$(printf 'z%.0s' $(seq 1 2998))"

# ---- memory map ----
for fmt in bzimage pvh; do
	img=e820.bzImage
	[ $fmt = pvh ] && img=e820.pvh.elf
	tcase "e820-256M-$fmt" null $img 0 "PASS" --memory size=256M --cmdline "mem=268435456"
	tcase "e820-5G-$fmt" null $img 0 "PASS" --memory size=5G --cmdline "mem=5368709120"
done
tcase e820-3G-bzimage null e820.bzImage 0 "PASS" --memory size=3G --cmdline "mem=3221225472"
tcase e820-3074M-bzimage null e820.bzImage 0 "PASS" --memory size=3074M \
	--cmdline "mem=3223322624"
tcase e820-3073M-pvh null e820.pvh.elf 0 "PASS" --memory size=3073M --cmdline "mem=3222274048"
tcase e820-16M-pvh null e820.pvh.elf 0 "PASS" --memory size=16M --cmdline "mem=16777216"
tcase e820-262148K-bzimage null e820.bzImage 0 "PASS" --memory size=262148K \
	--cmdline "mem=268439552"
# Guest RAM as a shared memory file (--memory shared=on): the same map, the
# ends of low and high RAM (high RAM lies after low RAM in the file).
tcase e820-256M-shared null e820.bzImage 0 "PASS" --memory size=256M,shared=on \
	--cmdline "mem=268435456"
tcase e820-5G-shared null e820.pvh.elf 0 "PASS" --memory size=5G,shared=on \
	--cmdline "mem=5368709120"
# ...and in huge pages, where the host has 128 free 2 MiB ones to spare.
if wanted e820-256M-hugepages; then
	hp_free=$(awk '/^HugePages_Free:/ { f = $2 } /^HugePages_Rsvd:/ { r = $2 }
		/^Hugepagesize:/ { s = $2 } END { print (s == 2048) ? f - r : 0 }' /proc/meminfo)
	if [ "${hp_free:-0}" -ge 128 ]; then
		tcase e820-256M-hugepages null e820.bzImage 0 "PASS" \
			--memory size=256M,shared=on,hugepages=on --cmdline "mem=268435456"
	else
		skip e820-256M-hugepages "${hp_free:-0} free 2 MiB huge pages, 128 needed"
	fi
fi

# ---- initramfs ----
INITRD=$TMP/initrd.bin
head -c 65659 /dev/urandom >"$INITRD"
read -r SUM SIZE _ < <(cksum "$INITRD")
for fmt in bzimage pvh; do
	img=initrd.bzImage
	[ $fmt = pvh ] && img=initrd.pvh.elf
	tcase "initrd-$fmt" null $img 0 "PASS" --memory size=256M --initramfs "$INITRD" \
		--cmdline "initrd_size=$SIZE initrd_cksum=$SUM"
done

# ---- SMP ----
tcase smp-1-bzimage null smp.bzImage 0 "1 CPUs online|PASS" --cpus boot=1 --cmdline "cpus=1"
tcase smp-2-bzimage null smp.bzImage 0 "2 CPUs online|PASS" --cpus boot=2 --cmdline "cpus=2"
tcase smp-4-bzimage null smp.bzImage 0 "4 CPUs online|PASS" --cpus boot=4 --cmdline "cpus=4"
tcase smp-8-bzimage null smp.bzImage 0 "8 CPUs online|PASS" --cpus boot=8 --cmdline "cpus=8"
tcase smp-2-pvh null smp.pvh.elf 0 "2 CPUs online|PASS" --cpus boot=2 --cmdline "cpus=2"

# ---- interrupts ----
tcase timer-bzimage null timer.bzImage 0 "PASS"
tcase timer-pvh null timer.pvh.elf 0 "PASS"
# The timer guest needs the PIT (on by default); --platform pit=off takes
# it away: no tick in 3 s, and the guest ends with its check's status 3.
tcase timer-pit-on null timer.bzImage 0 "PASS" --platform pit=on
if wanted timer-pit-off; then
	run timer-pit-off null timer.bzImage --platform pit=off
	if [ "$RC" -eq 3 ] && grep -qF "PIT (IOAPIC pin 0): 0 of 10 ticks within 3 s" "$OUT"; then
		ok
	else
		bad "exit status $RC (want 3) or no 'PIT (IOAPIC pin 0): 0 of 10 ticks' line"
	fi
fi
# Everything else runs without it (LAPIC timer, IOAPIC, SMP).
tcase smp-2-pit-off null smp.bzImage 0 "2 CPUs online|PASS" --cpus boot=2 --cmdline "cpus=2" \
	--platform pit=off
tcase exceptions-bzimage null exceptions.bzImage 0 "all delivered and resumed|PASS"
tcase exceptions-pvh null exceptions.pvh.elf 0 "all delivered and resumed|PASS"
tcase serial-rx pipe:"cvmm-rx-42
" serial_rx.bzImage 0 "RX<<cvmm-rx-42>>|PASS"
RXLONG=$(printf '0123456789abcdefghij%.0s' $(seq 1 10))
tcase serial-rx-long pipe:"$RXLONG
" serial_rx.bzImage 0 "RX<<$RXLONG>>|PASS"
tcase serial-rx-late late:"late-line
" serial_rx.pvh.elf 0 "RX<<late-line>>|PASS"

# ---- ways out ----
tcase reset null reset.bzImage 0 "about to reset via i8042"
tcase triple-fault null triple_fault.bzImage 1 "about to triple fault"
tcase unhandled-io null unhandled_io.bzImage 0 "outs: string-io-ok|flooded|still running|PASS"
# The same guest at --log-level debug: 10^4 unhandled port writes (vCPU exit
# path, bus) and 10^4 refused GED reads (legacy device) must come out as a
# few rate-limited lines each (10 per 5 s, plus a "suppressed" summary),
# not 10^4.
if wanted unhandled-io-log; then
	t0=$(date +%s)
	run unhandled-io-log null unhandled_io.bzImage --log-level debug
	# 11 lines per started 5 s window, however slow the host.
	most=$(( ($(date +%s) - t0) / 5 * 11 + 22 ))
	ports=$(grep -c "unhandled port" "$ERR")
	ged=$(grep -c "ged: ignored" "$ERR")
	if ! verify 0 "flooded" "PASS"; then
		bad "$WHY"
	elif [ "$ports" -lt 10 ] || [ "$ged" -lt 10 ]; then
		bad "expected the first 10 lines of each flood, got $ports and $ged"
	elif [ "$ports" -gt "$most" ] || [ "$ged" -gt "$most" ]; then
		bad "log flood: $ports unhandled-port and $ged GED lines for 10^4 accesses each"
	else
		ok
	fi
fi

# ---- ACPI power button: the guest finds the GED (RSDP -> XSDT -> FADT ->
# DSDT, _HID ACPI0013, _CRS) and programs its interrupt; nobody presses
# here (tests/api-test.sh presses through the API), so none may come. ----
tcase power-button-acpi-bzimage null power_button.bzImage 0 \
	"GED at 0xfeb00000 (4 bytes), GSI 23 level, active high|no press, no GED interrupt|PASS" \
	--cmdline "wait_ms=300 expect_none=1"
tcase power-button-acpi-pvh null power_button.pvh.elf 0 \
	"GSI 23 level, active high|no press, no GED interrupt|PASS" --cmdline "wait_ms=300 expect_none=1"

# ---- serial back ends ----
if wanted serial-file; then
	run serial-file null hello.bzImage --serial "file=$TMP/serial.txt"
	if [ -s "$OUT" ]; then
		bad "output on stdout with --serial file="
	elif [ ! -f "$TMP/serial.txt" ]; then
		bad "no serial output file"
	else
		tr -d '\r' <"$TMP/serial.txt" >"$OUT"
		check_run 0 "$(banner hello.bzImage)" "hello from guest" "PASS"
	fi
fi
if wanted serial-off; then
	run serial-off null hello.bzImage --serial off
	if [ -s "$OUT" ]; then bad "output with --serial off"; else check_run 0; fi
fi

# ---- PCI and virtio (tests/guest/lib/pci.c, virtio.c) ----
# vrun NAME IMAGE "STRINGS" [cvmm args...]: runs a virtio guest (stdin
# /dev/null) and verifies exit status 0, the banner and STRINGS ('|'-
# separated). Returns 1 with WHY set; the caller adds host-side checks.
vrun() {
	local name=$1 image=$2 strings=$3
	shift 3
	run "$name" null "$image" "$@"
	local IFS='|'
	# shellcheck disable=SC2086
	verify 0 "$(banner "$image")" $strings
}

# The private network namespace for cases with --net: cvmm runs inside it,
# so the tap, its addresses and its traffic never touch another network.
NETNS_TRIED=0
netns_up() {
	if [ "$NETNS_TRIED" = 0 ]; then
		NETNS_TRIED=1
		if command -v ip >/dev/null && ip netns add "cvmmtest$$" 2>"$TMP/netns.err"; then
			NETNS=cvmmtest$$
		fi
	fi
	[ -n "$NETNS" ]
}
NET_ARGS=(--net "tap=cvmmtap0,mac=52:54:00:12:34:56,ip=10.77.0.1,mask=255.255.255.0")

# Disk images in the pattern of lib/diskpat.h (1 MiB: 2048 sectors).
DISK_SECTORS=2048
mkdisk() {
	"$GDIR/diskpat" "$1" "$DISK_SECTORS"
}

# enum_case NAME "STRINGS" [cvmm args...]: virtio_enum with every kind of
# device (in the netns: --net).
enum_case() {
	local name=$1 strings=$2
	shift 2
	wanted "$name" || return 0
	CASE=$name
	if ! netns_up; then
		skip "$name" "no network namespace ($(head -c 200 "$TMP/netns.err" 2>/dev/null))"
		return
	fi
	mkdisk "$TMP/$name.img"
	PREFIX=(ip netns exec "$NETNS")
	if vrun "$name" virtio_enum.bzImage "$strings" --disk "path=$TMP/$name.img" \
		"${NET_ARGS[@]}" --rng --console null "$@"; then
		ok
	else
		bad "$WHY"
	fi
	PREFIX=()
}
enum_case virtio-enum "CF8 and ECAM agree on 5 functions|device works there|PASS" \
	--cmdline "expect=1042,1041,1044,1043"
# The same devices on virtio-mmio: the DSDT's LNRO0005 devices, and the
# command line's virtio_mmio.device= entries with cmdline=on.
enum_case virtio-mmio-enum \
	"no PCI bus (no MCFG, nothing at CF8/CFC or ECAM, no host bridge in the DSDT)|4 virtio-mmio devices, windows and GSIs distinct|virtio_mmio.device= entries agree|PASS" \
	--virtio-transport mmio,cmdline=on --cmdline "expect=1042,1041,1044,1043 transport=mmio cmdline=1"

tcase virtio-rng-msix null virtio_rng.bzImage 0 "irq msix|polled read ok|delivered on unmask|PASS" \
	--rng --cmdline "irq=msix evidx=1"
# The same with guest RAM in a shared memory file (the device reads and
# writes the rings and buffers through the same MAP_SHARED mapping).
tcase virtio-rng-msix-shared null virtio_rng.bzImage 0 "irq msix|polled read ok|delivered on unmask|PASS" \
	--rng --memory size=64M,shared=on --cmdline "irq=msix evidx=1"
tcase virtio-rng-msix-noevidx null virtio_rng.pvh.elf 0 "irq msix|polled read ok|PASS" \
	--rng --cmdline "irq=msix evidx=0"
tcase virtio-rng-intx null virtio_rng.bzImage 0 "irq intx|polled read ok|INTx interrupts|PASS" \
	--rng --cmdline "irq=intx evidx=1"
# The same driver on virtio-mmio: the device's GSI (level, through the
# IOAPIC; InterruptStatus/InterruptACK), found in the DSDT.
tcase virtio-mmio-rng null virtio_rng.bzImage 0 "virtio_rng: mmio 0x|irq intx|polled read ok|GSI interrupts|PASS" \
	--rng --virtio-transport mmio --cmdline "irq=intx evidx=1 transport=mmio"
tcase virtio-mmio-rng-noevidx null virtio_rng.pvh.elf 0 "virtio_rng: mmio 0x|polled read ok|GSI interrupts|PASS" \
	--rng --virtio-transport mmio --cmdline "irq=intx evidx=0 transport=mmio"

# virtio-blk: disk 0 read-write (the guest writes sectors 100-103 and the
# last one with diskpat_written(SALT)), disk 1 readonly=on. After cvmm
# exits, disk 0 must equal the pattern with exactly those sectors
# replaced, and disk 1 must be unchanged.
# blk_case NAME IRQ EVIDX IMAGE [pci|mmio [DISKOPTS]]: DISKOPTS (",engine=sync")
# are added to both disks' --disk.
blk_case() {
	local name=$1 irq=$2 evidx=$3 img=$4 tr=${5:-pci} dopts=${6:-}
	wanted "$name" || return 0
	local targs=() where="pci 00:"
	if [ "$tr" = mmio ]; then
		targs=(--virtio-transport mmio)
		where="mmio 0x"
	fi
	local d0=$TMP/$name-0.img d1=$TMP/$name-1.img exp=$TMP/$name-exp.img
	local salt=$((RANDOM % 256))
	if ! { mkdisk "$d0" && cp "$d0" "$exp" && mkdisk "$d1" && cp "$d1" "$d1.orig" &&
		"$GDIR/diskpat" -w "$salt" "$exp" 100 101 102 103 $((DISK_SECTORS - 1)); }; then
		CASE=$name
		bad "cannot create the disk images"
		return
	fi
	if ! vrun "$name" "$img" "disk 0: $where|reads ok|writes + flush ok|GET_ID \"cvmm-disk-0\"|out-of-range and bad requests refused|read-only disk ok|PASS" \
		--disk "path=$d0,id=cvmm-disk-0$dopts" --disk "path=$d1,readonly=on,id=cvmm-ro-disk$dopts" \
		${targs[@]+"${targs[@]}"} \
		--cmdline "irq=$irq evidx=$evidx sectors=$DISK_SECTORS salt=$salt id0=cvmm-disk-0 id1=cvmm-ro-disk transport=$tr"; then
		bad "$WHY"
	elif ! cmp "$d0" "$exp" >"$TMP/$name.cmp" 2>&1; then
		bad "disk 0 after the run differs from the expected image: $(head -n 1 "$TMP/$name.cmp") (sector $(($(awk '{print $5}' "$TMP/$name.cmp" | tr -d ,) / 512)))"
	elif ! cmp -s "$d1" "$d1.orig"; then
		bad "the read-only disk changed"
	else
		ok
	fi
}
blk_case virtio-blk-msix msix 1 virtio_blk.bzImage
blk_case virtio-blk-intx intx 0 virtio_blk.pvh.elf
# The engines (the default is io_uring where the kernel has it, except for
# images on tmpfs, which $TMP may be: named here) and MQ.
blk_case virtio-blk-uring msix 1 virtio_blk.bzImage pci ",engine=uring"
blk_case virtio-blk-uring-intx intx 0 virtio_blk.pvh.elf pci ",engine=uring"
blk_case virtio-blk-sync msix 1 virtio_blk.bzImage pci ",engine=sync"
blk_case virtio-blk-sync-intx intx 0 virtio_blk.pvh.elf pci ",engine=sync"
blk_case virtio-blk-mq msix 1 virtio_blk.bzImage pci ",num_queues=2,queue_size=128,engine=uring"
blk_case virtio-blk-mq-sync msix 1 virtio_blk.bzImage pci ",num_queues=2,engine=sync"
blk_case virtio-mmio-blk intx 1 virtio_blk.bzImage mmio
blk_case virtio-mmio-blk-noevidx intx 0 virtio_blk.pvh.elf mmio

# net_case NAME TRANSPORT IRQ
net_case() {
	local name=$1 tr=$2 irq=$3 targs=()
	wanted "$name" || return 0
	CASE=$name
	[ "$tr" = mmio ] && targs=(--virtio-transport mmio)
	if netns_up; then
		PREFIX=(ip netns exec "$NETNS")
		if vrun "$name" virtio_net.bzImage \
			"mac 52:54:00:12:34:56|is at|ICMP echo replies ok|PASS" \
			"${NET_ARGS[@]}" ${targs[@]+"${targs[@]}"} \
			--cmdline "mac=52:54:00:12:34:56 gip=10.77.0.2 hip=10.77.0.1 irq=$irq transport=$tr"; then
			ok
		else
			bad "$WHY"
		fi
		PREFIX=()
	else
		skip "$name" "no network namespace ($(head -c 200 "$TMP/netns.err" 2>/dev/null))"
	fi
}
net_case virtio-net pci msix
net_case virtio-mmio-net mmio intx

# virtio-console: the lines the guest sends on port 0 land in the file.
# console_case NAME IRQ [TRANSPORT]
console_case() {
	local name=$1 irq=$2 tr=${3:-pci} f=$TMP/$1.txt token=tok$$x$RANDOM l targs=()
	wanted "$name" || return 0
	[ "$tr" = mmio ] && targs=(--virtio-transport mmio)
	if ! vrun "$name" virtio_console.bzImage "3 lines sent|PASS" --console "file=$f" \
		${targs[@]+"${targs[@]}"} --cmdline "token=$token irq=$irq transport=$tr"; then
		bad "$WHY"
		return
	fi
	for l in "virtio-console line 1 token=$token" \
		"virtio-console line 2 (two descriptors) token=$token" \
		"virtio-console line 3 (polled) token=$token"; do
		if ! grep -qxF -- "$l" "$f" 2>/dev/null; then
			bad "console file lacks \"$l\" (has: $(head -c 300 "$f" 2>/dev/null | tr '\n' '|'))"
			return
		fi
	done
	ok
}
console_case virtio-console msix
console_case virtio-console-intx intx
console_case virtio-mmio-console intx mmio

# virtio-vsock through the hybrid UNIX-socket backend: vsock-host (a host
# tool built with the guests) is the host end of both connections: one
# listens on PATH_5555 for the guest's, one connects to PATH with
# "CONNECT 1234". Each moves a pattern both ways, larger than the window in
# play (the device's 64 KiB one way, the guest's 16 KiB the other).
# vsock_case NAME TRANSPORT IRQ
VSOCK_HOST=$GDIR/vsock-host
vsock_case() {
	local name=$1 tr=$2 irq=$3 targs=() sock lpid cpid lrc crc
	wanted "$name" || return 0
	CASE=$name
	[ "$tr" = mmio ] && targs=(--virtio-transport mmio)
	if [ ! -x "$VSOCK_HOST" ]; then
		bad "$VSOCK_HOST missing (make guests)"
		return
	fi
	sock=$TMP/$name.vsock
	"$VSOCK_HOST" listen "${sock}_5555" 24000 70000 0x22 0x11 >"$TMP/$name.listen" 2>&1 &
	lpid=$!
	"$VSOCK_HOST" connect "$sock" 1234 24000 70000 0x44 0x33 >"$TMP/$name.connect" 2>&1 &
	cpid=$!
	vrun "$name" virtio_vsock.bzImage \
		"guest CID 7|connected to host port 5555|REQUEST from host port|pattern ok, host shut down|both connections closed|TRANSPORT_RESET after reset|PASS" \
		--vsock "cid=7,socket=$sock" ${targs[@]+"${targs[@]}"} \
		--cmdline "cid=7 hport=5555 gport=1234 n1=70000 n2=24000 irq=$irq transport=$tr"
	local vrc=$?
	kill "$lpid" "$cpid" 2>/dev/null
	wait "$lpid"
	lrc=$?
	wait "$cpid"
	crc=$?
	if [ "$vrc" -ne 0 ]; then
		bad "$WHY (host ends: $(tr '\n' ' ' <"$TMP/$name.listen") $(tr '\n' ' ' <"$TMP/$name.connect"))"
	elif [ "$lrc" -ne 0 ] || ! grep -q "pattern ok" "$TMP/$name.listen"; then
		bad "the listening host end: $(head -c 300 "$TMP/$name.listen")"
	elif [ "$crc" -ne 0 ] || ! grep -q "pattern ok" "$TMP/$name.connect"; then
		bad "the connecting host end: $(head -c 300 "$TMP/$name.connect")"
	elif [ -e "$sock" ]; then
		bad "cvmm left its socket $sock behind"
	else
		ok
	fi
}
vsock_case vsock-pci pci msix
vsock_case vsock-mmio mmio intx

# The guest as a server (serve=1), host clients in turn: echo (64 KiB back
# through the guest's 4 KiB window), bulk (BULK bytes each way, u64 sum and
# xor checked at both ends), COUNT connections opened and closed 4 at a
# time, then vm.counters must show the connection table empty (within 5 s)
# and connections_total = COUNT + 2, then a refused "quit" connection ends
# the guest, which must have seen every connection close cleanly.
# vsock_serve_case NAME TRANSPORT IRQ BULK COUNT
vsock_serve_case() {
	local name=$1 tr=$2 irq=$3 bulk=$4 count=$5 targs=() sock api remote cpid crc
	wanted "$name" || return 0
	CASE=$name
	[ "$tr" = mmio ] && targs=(--virtio-transport mmio)
	remote=$(dirname "$CVMM")/cvmm-remote
	if [ ! -x "$VSOCK_HOST" ] || [ ! -x "$remote" ]; then
		bad "$VSOCK_HOST or $remote missing"
		return
	fi
	sock=$TMP/$name.vsock
	api=$TMP/$name.api
	{
		"$VSOCK_HOST" echo "$sock" 7 65536 &&
			"$VSOCK_HOST" bulk "$sock" 2000 "$bulk" &&
			"$VSOCK_HOST" many "$sock" 7 "$count" 4 &&
			for _ in $(seq 50); do
				"$remote" --api-socket "$api" counters >"$TMP/$name.counters" 2>&1
				grep -o '"virtio-vsock":{[^}]*}' "$TMP/$name.counters" |
					grep -q '"connections":0,' && break
				sleep 0.1
			done
		echo "client rc=$?"
		"$VSOCK_HOST" quit "$sock" 9
	} >"$TMP/$name.client" 2>&1 &
	cpid=$!
	vrun "$name" virtio_vsock.bzImage \
		"guest CID 8|bulk: $bulk bytes in, sum ok; $bulk bytes out, the host's sum and xor agree|served $((count + 2)) connections ($((count + 1)) echo, 1 bulk), all closed|PASS" \
		--vsock "cid=8,socket=$sock" --api-socket "$api" ${targs[@]+"${targs[@]}"} \
		--cmdline "cid=8 serve=1 bulk=$bulk conns=$((count + 2)) irq=$irq transport=$tr"
	local vrc=$?
	kill "$cpid" 2>/dev/null
	wait "$cpid"
	local vs
	vs=$(grep -o '"virtio-vsock":{[^}]*}' "$TMP/$name.counters" 2>/dev/null)
	if [ "$vrc" -ne 0 ]; then
		bad "$WHY (host client: $(tail -c 300 "$TMP/$name.client" | tr '\n' ' '))"
	elif ! grep -q "client rc=0" "$TMP/$name.client"; then
		bad "host client: $(tail -c 300 "$TMP/$name.client" | tr '\n' ' ')"
	elif [[ "$vs" != *'"connections":0,'* ]] ||
		[[ "$vs" != *"\"connections_total\":$((count + 2)),"* ]]; then
		bad "vm.counters after $count connections: ${vs:-none}"
	else
		ok
	fi
}
vsock_serve_case vsock-serve-pci pci msix 4194304 100
vsock_serve_case vsock-serve-mmio mmio intx 1048576 20

# A guest whose packets break the rules: each gets an RST (the short one
# nothing), cvmm keeps serving, and says why (rate-limited warnings).
vsock_hostile_case() {
	local name=$1 tr=$2 irq=$3 targs=()
	wanted "$name" || return 0
	CASE=$name
	[ "$tr" = mmio ] && targs=(--virtio-transport mmio)
	if ! vrun "$name" virtio_vsock.bzImage "hostile packets: 7 RSTs, device still serving|PASS" \
		--vsock "cid=9,socket=$TMP/$name.vsock" ${targs[@]+"${targs[@]}"} \
		--cmdline "cid=9 hostile=1 hport=5555 irq=$irq transport=$tr"; then
		bad "$WHY"
	elif ! grep -q "virtio-vsock: guest packet .*: RST" "$ERR"; then
		bad "cvmm logged no RST warning"
	else
		ok
	fi
}
vsock_hostile_case vsock-hostile pci msix
vsock_hostile_case vsock-mmio-hostile mmio intx

# A driver breaking the rules: cvmm must keep running (the exit status is
# the guest's 0), log why the device needs a reset, and not touch the disk.
# hostile_case NAME TRANSPORT IRQ
hostile_case() {
	local name=$1 tr=$2 irq=$3 targs=()
	wanted "$name" || return 0
	[ "$tr" = mmio ] && targs=(--virtio-transport mmio)
	mkdisk "$TMP/$name.img" && cp "$TMP/$name.img" "$TMP/$name.orig"
	if ! vrun "$name" virtio_hostile.bzImage \
		"virtio-blk at $tr|looping descriptor chain: status|queue_size 3: status|rings beyond RAM: status|zero-length chain|rng looping chain|cvmm still serving|PASS" \
		--disk "path=$TMP/$name.img" --rng ${targs[@]+"${targs[@]}"} \
		--cmdline "irq=$irq transport=$tr"; then
		bad "$WHY"
	elif ! grep -q "needs reset" "$ERR"; then
		bad "cvmm logged no \"needs reset\" warning"
	elif ! cmp -s "$TMP/$name.img" "$TMP/$name.orig"; then
		bad "the disk changed"
	else
		ok
	fi
}
hostile_case virtio-hostile pci msix
hostile_case virtio-mmio-hostile mmio intx

# A disk whose writeback fails: a loop device over a sparse file on a full
# 1 MiB tmpfs (written blocks need tmpfs pages there are none of, so the
# loop device fails the writes; device-mapper's "error" target would do
# too, but needs dm-mod). Guest writes land in the page cache; fdatasync
# fails once, after which Linux has dropped the pages. The guest checks
# that every later FLUSH and write fails until its device reset (sticky),
# or writes and stops (exit): either way cvmm must exit 1 with one error
# line naming the disk.
FAILDISK_DIR=
FAILDISK=
FAILDISK_WHY=
faildisk_up() {
	[ -n "$FAILDISK" ] && return 0
	[ -n "$FAILDISK_WHY" ] && return 1
	if [ "$(id -u)" != 0 ] || ! command -v losetup >/dev/null; then
		FAILDISK_WHY="needs root and losetup"
		return 1
	fi
	FAILDISK_DIR=$TMP/faildisk
	mkdir -p "$FAILDISK_DIR"
	if ! mount -t tmpfs -o size=1M cvmm-faildisk "$FAILDISK_DIR" 2>"$TMP/faildisk.err"; then
		FAILDISK_WHY="cannot mount a tmpfs: $(head -c 200 "$TMP/faildisk.err")"
		FAILDISK_DIR=
		return 1
	fi
	truncate -s 1M "$FAILDISK_DIR/backing"
	dd if=/dev/zero of="$FAILDISK_DIR/fill" bs=4k 2>/dev/null
	if ! FAILDISK=$(losetup -f --show "$FAILDISK_DIR/backing" 2>"$TMP/faildisk.err"); then
		FAILDISK_WHY="no loop device: $(head -c 200 "$TMP/faildisk.err")"
		FAILDISK=
		return 1
	fi
}
faildisk_down() {
	[ -n "$FAILDISK" ] && losetup -d "$FAILDISK"
	[ -n "$FAILDISK_DIR" ] && umount "$FAILDISK_DIR"
	FAILDISK=
	FAILDISK_DIR=
}
flush_error_case() {
	local name=$1 mode=$2 strings=$3 dopts=${4:-} n
	wanted "$name" || return 0
	CASE=$name
	if ! faildisk_up; then
		skip "$name" "$FAILDISK_WHY"
		return
	fi
	run "$name" null blk_flush_error.bzImage --disk "path=$FAILDISK$dopts" --cmdline "mode=$mode"
	local IFS='|'
	# shellcheck disable=SC2086
	if ! verify 1 "$(banner blk_flush_error.bzImage)" $strings PASS; then
		bad "$WHY"
		return
	fi
	n=$(grep -c "disk $FAILDISK: .*may be lost" "$ERR")
	if [ "$n" -ne 1 ]; then
		bad "$n error lines naming the disk, expected 1"
	else
		ok
	fi
}
flush_error_case virtio-blk-flush-error-sticky sticky "failed flush stays failed until reset"
flush_error_case virtio-blk-flush-error-exit exit "write: status 0"
flush_error_case virtio-blk-flush-error-sticky-uring sticky "failed flush stays failed until reset" ",engine=uring"
flush_error_case virtio-blk-flush-error-sticky-sync sticky "failed flush stays failed until reset" ",engine=sync"
faildisk_down

# ---- demo (what `make run` boots) ----
if wanted demo; then
	CASE=demo
	OUT=$TMP/demo.out
	ERR=$TMP/demo.err
	timeout -k 5 "$TIMEOUT" "$CVMM" --kernel "$GDIR/demo.bzImage" --cpus boot=2 \
		--memory size=256M --cmdline "console=ttyS0 demo=1" --serial tty \
		</dev/null >"$OUT.raw" 2>"$ERR"
	RC=$?
	tr -d '\r' <"$OUT.raw" >"$OUT"
	check_run 0 "$(banner demo.bzImage)" 'cmdline: "console=ttyS0 demo=1"' "cpus: 2 (from the ACPI MADT)" \
		"cpus online: 2" "usable" "resetting through the i8042"
fi

# ---- device passthrough: vfio-user (tests/vfio-user/edu-server.c) ----
# edu-server serves QEMU's edu device on a socket (built beside cvmm:
# make build/tests/vfio-user/edu-server, part of make check-guest).
EDU=${EDU_SERVER:-$(dirname "$CVMM")/tests/vfio-user/edu-server}
EDU_PID=
# edu_up NAME [edu-server options]: starts it on $TMP/NAME.sock and waits
# for the socket (it appears once the server listens). Sets EDU_SOCK.
edu_up() {
	local name=$1
	shift
	EDU_SOCK=$TMP/$name.sock
	"$EDU" --socket "$EDU_SOCK" "$@" 2>"$TMP/$name.srv" &
	EDU_PID=$!
	t_wait 5 test -S "$EDU_SOCK"
}
edu_down() {
	if [ -n "$EDU_PID" ]; then
		kill "$EDU_PID" 2>/dev/null
		wait "$EDU_PID" 2>/dev/null
	fi
	EDU_PID=
}
# edu_case NAME "EDU-SERVER OPTIONS" GUEST-CMDLINE STRINGS [cvmm args...]:
# the vfio_edu guest drives the device through cvmm's passthrough core.
edu_case() {
	local name=$1 eopts=$2 cmdline=$3 strings=$4
	shift 4
	wanted "$name" || return 0
	CASE=$name
	if [ ! -x "$EDU" ]; then
		skip "$name" "no $EDU"
		return
	fi
	# shellcheck disable=SC2086
	if ! edu_up "$name" $eopts; then
		bad "edu-server did not come up: $(head -c 200 "$TMP/$name.srv")"
		edu_down
		return
	fi
	run "$name" null vfio_edu.bzImage --user-device "socket=$EDU_SOCK" "$@" --cmdline "$cmdline"
	edu_down
	local IFS='|'
	# shellcheck disable=SC2086
	check_run 0 "$(banner vfio_edu.bzImage)" $strings
}
# MSI-X, DMA through guest RAM's memfd (the server maps it).
edu_case vfio-user-edu-msix "" "" \
	"interrupts by MSI-X|MSI-X interrupts ok|masked vector held|DMA both ways ok|a scratch window|PASS" \
	--memory size=64M,shared=on
# Tables past 64 vectors (a NIC's, the PCI maximum): the guest uses a high
# entry (edu-server's register 0x70 raises on any vector); cvmm gives only
# the entries used an eventfd and a route, the PBA word of the entry shows
# it pending while masked.
edu_case vfio-user-edu-msix-256 "--msix-vectors 256" "msix_vec=200" \
	"interrupts by MSI-X|MSI-X interrupts ok|MSI-X entry 200 of 256: interrupt delivered on its vector; masked: held (pending bit set in PBA word 3)|DMA both ways ok|PASS" \
	--memory size=64M,shared=on
edu_case vfio-user-edu-msix-2048 "--msix-vectors 2048" "msix_vec=2047" \
	"MSI-X interrupts ok|MSI-X entry 2047 of 2048: interrupt delivered on its vector; masked: held (pending bit set in PBA word 31)|DMA both ways ok|PASS" \
	--memory size=64M
# Private guest RAM: every DMA byte through DMA_READ/DMA_WRITE messages.
edu_case vfio-user-edu-private "" "" "interrupts by MSI-X|DMA both ways ok|PASS" \
	--memory size=64M
# No MSI-X capability (as QEMU's edu): MSI; and INTx, asked for. Without
# the mmap, the scratch window is reached through trapped accesses (the
# region's reads and writes), which edu-server serves too.
edu_case vfio-user-edu-msi "--no-msix --no-mmap" "" \
	"interrupts by MSI|MSI interrupts ok|DMA both ways ok|a scratch window|PASS" \
	--memory size=64M,shared=on
edu_case vfio-user-edu-intx "" "irq=intx" "interrupts by INTx|INTx interrupts ok|DMA both ways ok|PASS" \
	--memory size=64M,shared=on
# A passthrough device needs PCI: with every virtio device on virtio-mmio
# the VM keeps its PCI bus (MCFG, CF8/CFC, ECAM, the DSDT's host bridge)
# for it, where it would otherwise have none.
edu_case vfio-user-edu-mmio-transport "" "" "interrupts by MSI-X|MSI-X interrupts ok|DMA both ways ok|PASS" \
	--memory size=64M,shared=on --virtio-transport mmio --rng

# A reboot through the API between two passes of vfio_edu (reboot=1: the
# first pass leaves the device dirty and waits, the second checks what the
# reset gave back and runs again): edu-server offers DEVICE_RESET, so its
# registers must come back reset too. cvmm-remote sends the reboot.
REMOTE=$(dirname "$CVMM")/cvmm-remote
edu_reboot_case() {
	local name=vfio-user-edu-reboot
	wanted "$name" || return 0
	CASE=$name
	if [ ! -x "$EDU" ] || [ ! -x "$REMOTE" ]; then
		skip "$name" "no $EDU or $REMOTE"
		return
	fi
	if ! edu_up "$name"; then
		bad "edu-server did not come up: $(head -c 200 "$TMP/$name.srv")"
		edu_down
		return
	fi
	OUT=$TMP/$name.out
	ERR=$TMP/$name.err
	rm -f "$TMP/$name.api"
	timeout -k 5 "$TIMEOUT" "$CVMM" --kernel "$GDIR/vfio_edu.bzImage" --serial tty --debug-exit \
		--log-level warn --memory size=64M,shared=on --user-device "socket=$EDU_SOCK" \
		--api-socket "$TMP/$name.api" --cmdline "reboot=1" </dev/null >"$OUT.raw" 2>"$ERR" &
	PID=$!
	if vm_up 30 grep -q "waiting for a reboot" "$OUT.raw"; then
		"$REMOTE" --api-socket "$TMP/$name.api" reboot >>"$ERR" 2>&1
	fi
	vm_wait_exit "$TIMEOUT"
	RC=$VMRC
	edu_down
	tr -d '\r' <"$OUT.raw" >"$OUT"
	check_run 0 "$(banner vfio_edu.bzImage)" "reboot=1, pass 1" "waiting for a reboot" \
		"reboot=1, pass 2" "as at the first boot, MSI and MSI-X off" "edu's own registers reset" \
		"pass 2 after the reboot ok" "PASS"
}
edu_reboot_case

# cvmm connects to the server while it builds the VM (version, device
# info, config space, regions, interrupts: the passthrough core puts it on
# the bus, which --log-level info reports); a server that goes away or
# stops answering then is a failed VM (status 1) with one line naming the
# socket.
# user_case NAME WANT-RC STDERR-STRING "EDU-SERVER OPTIONS"
user_case() {
	local name=$1 want=$2 needle=$3 eopts=$4
	wanted "$name" || return 0
	CASE=$name
	if [ ! -x "$EDU" ]; then
		skip "$name" "no $EDU"
		return
	fi
	# shellcheck disable=SC2086
	if ! edu_up "$name" $eopts; then
		bad "edu-server did not come up: $(head -c 200 "$TMP/$name.srv")"
		edu_down
		return
	fi
	local ll=()
	[ "$want" -eq 0 ] && ll=(--log-level info)
	run "$name" null hello.bzImage --user-device "socket=$EDU_SOCK,id=edu0" --memory size=64M,shared=on \
		"${ll[@]}"
	edu_down
	if [ "$RC" -ne "$want" ]; then
		bad "exit status $RC, expected $want"
	elif ! grep -qF -- "$needle" "$ERR"; then
		bad "stderr lacks \"$needle\""
	elif [ "$want" -ne 0 ] && [ "$(grep -c . "$ERR")" -ne 1 ]; then
		bad "$(grep -c . "$ERR") lines on stderr, expected 1"
	else
		ok
	fi
}
user_case vfio-user-connect 0 "(1234:11e8) at 00:01.0: 2 BARs" ""
user_case vfio-user-server-closes 1 "the server closed the connection; the device is lost" \
	"--close-after 3"
user_case vfio-user-server-garbage 1 "bytes from the server" "--garbage-after 2"
user_case vfio-user-server-hangs 1 "no answer from the server in 5000 ms" "--hang-after 3"
user_case vfio-user-server-old 1 "the server speaks vfio-user 7.1" "--bad-version"

# ---- vhost-user: qemu-storage-daemon's vhost-user-blk export ----
# The vhost_user_blk guest drives a disk whose queue qemu-storage-daemon
# serves (a 1 MiB image in the diskpat pattern, writable=on); cvmm only
# sets it up (its log stays empty unless the backend goes).
QSD=${QSD:-$(command -v qemu-storage-daemon)}
QSD_PID=
# qsd_up NAME IMAGE: starts it on $TMP/NAME.vub.sock (appended to
# $TMP/NAME.qsd) and waits for the socket. Sets QSD_SOCK.
qsd_up() {
	QSD_SOCK=$TMP/$1.vub.sock
	rm -f "$QSD_SOCK"
	"$QSD" --blockdev "driver=file,node-name=file0,filename=$2" \
		--export "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=$QSD_SOCK,writable=on" \
		>>"$TMP/$1.qsd" 2>&1 &
	QSD_PID=$!
	t_wait 10 test -S "$QSD_SOCK"
}
qsd_down() {
	if [ -n "$QSD_PID" ]; then
		kill "${1:--TERM}" "$QSD_PID" 2>/dev/null
		wait "$QSD_PID" 2>/dev/null
	fi
	QSD_PID=
}
# vub_case NAME MODE IRQ TRANSPORT "STRINGS": mode=io and mode=hostile. The
# image must afterwards hold exactly the guest's writes; cvmm's stderr may
# hold only one "device needs reset" line per time the backend went (the
# hostile descriptors make qemu-storage-daemon drop the connection).
vub_case() {
	local name=$1 mode=$2 irq=$3 tr=$4 strings=$5
	wanted "$name" || return 0
	CASE=$name
	if [ -z "$QSD" ]; then
		skip "$name" "no qemu-storage-daemon (scripts/install-deps.sh)"
		return
	fi
	local img=$TMP/$name.img exp=$TMP/$name-exp.img salt=$((RANDOM % 256)) targs=()
	[ "$tr" = mmio ] && targs=(--virtio-transport mmio)
	if ! { mkdisk "$img" && cp "$img" "$exp" &&
		"$GDIR/diskpat" -w "$salt" "$exp" 100 101 102 103 $((DISK_SECTORS - 1)); }; then
		bad "cannot create the disk images"
		return
	fi
	if ! qsd_up "$name" "$img"; then
		bad "qemu-storage-daemon did not come up: $(head -c 300 "$TMP/$name.qsd")"
		qsd_down
		return
	fi
	if ! vrun "$name" vhost_user_blk.bzImage "$strings" \
		--memory size=64M,shared=on --disk "vhost_user=on,socket=$QSD_SOCK" \
		${targs[@]+"${targs[@]}"} \
		--cmdline "mode=$mode irq=$irq transport=$tr sectors=$DISK_SECTORS salt=$salt"; then
		qsd_down
		bad "$WHY"
		return
	fi
	qsd_down
	local gone lines
	gone=$(grep -c '(backend gone)' "$OUT")
	lines=$(grep -c . "$ERR")
	if ! cmp "$img" "$exp" >"$TMP/$name.cmp" 2>&1; then
		bad "the image after the run differs from the expected one: $(head -n 1 "$TMP/$name.cmp")"
	elif [ "$lines" -ne "$gone" ] ||
		[ "$(grep -c 'vhost-user backend .*: the backend closed the connection; device needs reset' "$ERR")" -ne "$gone" ]; then
		bad "the backend went $gone times, cvmm logged $lines lines: $(head -c 300 "$ERR")"
	else
		ok
	fi
}
# Interrupts straight from the backend into KVM (MSI-X vector irqfd), and
# relayed by cvmm (INTx on virtio-pci; virtio-mmio's InterruptStatus).
vub_case vhost-user-blk-msix io msix pci "pci 00:|reads ok|writes + flush ok|MSI-X|PASS"
vub_case vhost-user-blk-intx io intx pci "pci 00:|reads ok|writes + flush ok|INTx|PASS"
vub_case vhost-user-mmio-blk io intx mmio "mmio 0x|reads ok|writes + flush ok|INTx|PASS"
vub_case vhost-user-blk-hostile hostile msix pci "writes + flush ok|hostile: a chain that loops|hostile: avail index +100|PASS"
vub_case vhost-user-mmio-blk-hostile hostile intx mmio "writes + flush ok|hostile: a chain that loops|hostile: avail index +100|PASS"

# The backend dies while the guest runs (SIGKILL when the guest says it
# waits for that): the device goes DEVICE_NEEDS_RESET with one line from
# cvmm; then it comes back on the same socket and the guest's reset and
# re-initialisation reconnect (cvmm reconnects at activation).
# die_case NAME IRQ TRANSPORT
die_case() {
	local name=$1 irq=$2 tr=$3 targs=()
	wanted "$name" || return 0
	CASE=$name
	if [ -z "$QSD" ]; then
		skip "$name" "no qemu-storage-daemon (scripts/install-deps.sh)"
		return
	fi
	[ "$tr" = mmio ] && targs=(--virtio-transport mmio)
	local img=$TMP/$name.img exp=$TMP/$name-exp.img salt=$((RANDOM % 256))
	mkdisk "$img" && cp "$img" "$exp" &&
		"$GDIR/diskpat" -w "$salt" "$exp" 100 101 102 103 $((DISK_SECTORS - 1))
	if ! qsd_up "$name" "$img"; then
		bad "qemu-storage-daemon did not come up: $(head -c 300 "$TMP/$name.qsd")"
		qsd_down
		return
	fi
	OUT=$TMP/$name.out
	ERR=$TMP/$name.err
	: >"$OUT.raw"
	timeout -k 5 "$TIMEOUT" "$CVMM" --kernel "$GDIR/vhost_user_blk.bzImage" --serial tty \
		--debug-exit --log-level warn --memory size=64M,shared=on \
		--disk "vhost_user=on,socket=$QSD_SOCK" ${targs[@]+"${targs[@]}"} \
		--cmdline "mode=die irq=$irq transport=$tr sectors=$DISK_SECTORS salt=$salt" \
		</dev/null >"$OUT.raw" 2>"$ERR" &
	local vm=$!
	local killed=0 restarted=0
	if t_wait 30 grep -q 'waiting for the backend to die' "$OUT.raw"; then
		qsd_down -KILL
		killed=1
		if t_wait 30 grep -q 'waiting for the backend to come back' "$OUT.raw" &&
			qsd_up "$name" "$img"; then
			restarted=1
		fi
	fi
	wait "$vm"
	RC=$?
	qsd_down
	tr -d '\r' <"$OUT.raw" >"$OUT"
	if [ "$killed$restarted" != 11 ]; then
		bad "the guest never got to the point (killed $killed, restarted $restarted)"
	elif ! verify 0 "$(banner vhost_user_blk.bzImage)" "device needs reset (status" \
		"reconnected after" "the disk works again" "PASS"; then
		bad "$WHY"
	elif [ "$(grep -c 'error' "$ERR")" -ne 1 ] ||
		! grep -q 'vhost-user backend .*: the backend closed the connection; device needs reset' "$ERR"; then
		bad "want exactly one error line (the backend closed the connection), stderr: $(head -c 400 "$ERR")"
	elif grep -vE 'closed the connection; device needs reset|cannot reconnect: (Connection refused|No such file or directory)' "$ERR" | grep -q .; then
		bad "unexpected lines: $(head -c 400 "$ERR")"
	elif ! cmp -s "$img" "$exp"; then
		bad "the image after the run differs from the expected one"
	else
		ok
	fi
}
die_case vhost-user-blk-backend-dies msix pci
die_case vhost-user-mmio-blk-backend-dies intx mmio

# ---- bad input must fail cleanly ----
# cli NAME EXPECTED(2|nonzero) cvmm args...
cli() {
	local name=$1 want=$2
	shift 2
	wanted "$name" || return 0
	CASE=$name
	OUT=$TMP/$name.out
	ERR=$TMP/$name.err
	timeout -k 5 "$TIMEOUT" "$CVMM" "$@" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	if [ "$want" = nonzero ]; then
		if [ "$RC" -eq 0 ] || [ "$RC" -ge 124 ]; then
			bad "exit status $RC, expected a clean failure (1..123)"
		else
			ok
		fi
	elif [ "$RC" -ne "$want" ]; then
		bad "exit status $RC, expected $want"
	else
		ok
	fi
}
head -c 8192 /dev/urandom >"$TMP/junk.bin"
cli cli-bad-memory 2 --kernel "$GDIR/hello.bzImage" --memory size=12Q
cli cli-zero-cpus 2 --kernel "$GDIR/hello.bzImage" --cpus boot=0
cli cli-missing-kernel nonzero --kernel "$TMP/does-not-exist" --serial null
cli cli-junk-kernel nonzero --kernel "$TMP/junk.bin" --serial null
# ...and one byte more than a bzImage's cmdline_size must be refused.
cli cli-cmdline-too-long nonzero --kernel "$GDIR/cmdline.bzImage" --serial null \
	--cmdline "${MAXLINE}y"
if wanted cli-initrd-too-big; then
	truncate -s 300M "$TMP/huge.bin"
	cli cli-initrd-too-big nonzero --kernel "$GDIR/hello.bzImage" --serial null \
		--memory size=256M --initramfs "$TMP/huge.bin"
	rm -f "$TMP/huge.bin"
fi

t_finish
