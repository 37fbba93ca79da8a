#!/bin/sh
# Command-line behaviour of the real binary: tests/cli-test.sh build/cvmm
#
# - every invalid option or value: exit status 2, nothing on stdout and
#   exactly one line on stderr that names the option;
# - --help / -h / --version: exit status 0, output on stdout only;
# - a file named by an option that cannot be opened (--kernel, --initramfs,
#   --disk path=, --rng src=, --serial/--console file=) or is of the wrong
#   kind (a directory as kernel): bad usage too, exit status 2 and one line
#   naming the option and the file;
# - a --device path that is not a PCI device bound to vfio-pci with its
#   IOMMU group usable (fake sysfs trees; no /dev/vfio): the same, the line
#   naming the device;
# - a kernel file that opens but cannot be booted (empty, not a kernel):
#   exit status 1 and exactly one error line naming the file (these need
#   /dev/kvm and are skipped without it);
# - other failures while the VM is built or its control loop set up (an
#   API socket that cannot be made, more virtio-mmio devices than windows):
#   exit status 1 and exactly one error line, from the place that knows
#   what failed (docs/logging.md: its callers add no line of their own).
# Prints "cli: N passed, M failed" and exits non-zero if anything failed.

# lib.sh runs the t_on_* hooks (SC2317).
# shellcheck disable=SC2317
BIN=${1:?usage: $0 path/to/cvmm}
[ -x "$BIN" ] || { echo "cli: $BIN is not executable" >&2; exit 2; }

# t_init, bad/pass_quiet, t_finish (tests/lib.sh).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
t_init cli

# run ARGS...: runs the binary, sets rc; output in $TMP/out and $TMP/err.
run() {
	timeout 30 "$BIN" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
	rc=$?
}

# Number of lines on stderr (a final line without '\n' counts too).
err_lines() {
	tr -d '\r' <"$TMP/err" | awk 'END { print NR }'
}

# describe ARGS...: CASE is the command line, "cvmm 'ARG' 'ARG'...".
describe() {
	CASE=cvmm
	for a in "$@"; do
		CASE="$CASE '$a'"
	done
}

# A failure shows what cvmm said on stderr.
t_on_fail() {
	t_show stderr "$TMP/err" 20
}

# expect_usage NEEDLE ARGS...: exit 2, one stderr line containing NEEDLE.
expect_usage() {
	needle=$1
	shift
	run "$@"
	describe "$@"
	n=$(err_lines)
	if [ "$rc" -ne 2 ]; then
		bad "exit status $rc, want 2"
	elif [ "$n" -ne 1 ]; then
		bad "$n lines on stderr, want 1"
	elif ! grep -qF -- "$needle" "$TMP/err"; then
		bad "stderr does not name '$needle'"
	elif [ -s "$TMP/out" ]; then
		bad "unexpected output on stdout"
	else
		pass_quiet
	fi
}

# expect_ok PATTERN ARGS...: exit 0, stdout matches PATTERN (grep -E), no stderr.
expect_ok() {
	pattern=$1
	shift
	run "$@"
	describe "$@"
	if [ "$rc" -ne 0 ]; then
		bad "exit status $rc, want 0"
	elif ! grep -qE -- "$pattern" "$TMP/out"; then
		bad "stdout does not match /$pattern/"
	elif [ -s "$TMP/err" ]; then
		bad "unexpected output on stderr"
	else
		pass_quiet
	fi
}

# expect_fail NEEDLE ARGS...: exit 1 with one stderr line containing NEEDLE.
expect_fail() {
	needle=$1
	shift
	run "$@"
	describe "$@"
	n=$(err_lines)
	if [ "$rc" -ne 1 ]; then
		bad "exit status $rc, want 1"
	elif [ "$n" -ne 1 ]; then
		bad "$n lines on stderr, want 1"
	elif ! grep -qF -- "$needle" "$TMP/err"; then
		bad "stderr does not name '$needle'"
	else
		pass_quiet
	fi
}

K="--kernel /nonexistent/bzImage"

# --- help and version ---------------------------------------------------
expect_ok '^Usage: cvmm' --help
expect_ok '^Usage: cvmm' -h
expect_ok '^cvmm [0-9]+\.[0-9]+\.[0-9]+ \([^()]+\)$' --version
# The version is the file VERSION's.
expect_ok "^cvmm $(sed 's/\./\\./g' "$(dirname "$0")/../VERSION") " --version
expect_ok '--kernel' --help --cpus boot=2

# --- general ------------------------------------------------------------
expect_usage --kernel
expect_usage --kernel --cpus boot=2
expect_usage --kernel --kernel
expect_usage --kernel --kernel ""
expect_usage --kernel --kernel=
expect_usage --initramfs $K --initramfs
expect_usage --initramfs $K --initramfs ""
expect_usage --cmdline $K --cmdline
expect_usage --bogus $K --bogus
expect_usage --bogus=1 $K --bogus=1
expect_usage vmlinux vmlinux
expect_usage extra $K extra
expect_usage -x $K -x
expect_usage -Z -Z
expect_usage --debug-exit $K --debug-exit=1

# --- --cpus -------------------------------------------------------------
for v in boot=0 boot=255 boot=abc "" boot= boot=-1 boot=1x foo=1 boot \
	"boot=2,boot=" "boot=2," ",boot=2"; do
	expect_usage --cpus $K --cpus "$v"
done
expect_usage --cpus $K --cpus

# --- --memory -----------------------------------------------------------
for v in size=0 size=1K size=15M size=2T size=12345 size=16777217 size=1X \
	size=-1 size=99999999999999999999G size= "" foo=1G 1G "size=1G,"; do
	expect_usage --memory $K --memory "$v"
done
expect_usage --memory $K --memory
# shared= and hugepages= (on|off), beside size=.
expect_ok '--memory size=SIZE[[],shared=on[|]off[]][[],hugepages=on[|]off[]]' --help
for v in shared shared= shared=yes "size=64M,shared=ON" hugepages hugepages=2 \
	"size=64M,hugepage=on" "shared=on," ",shared=on" "size=64M,shared=on,size=1K"; do
	expect_usage --memory $K --memory "$v"
done

# --- --disk num_queues=, queue_size=, engine= (virtio-blk) ---------------
expect_ok '[[],num_queues=N[]][[],queue_size=M[]][[],engine=uring[|]sync[]]' --help
for v in num_queues=0 num_queues=9 num_queues= num_queues=x num_queues=-1 \
	num_queues=1x queue_size=0 queue_size=2 queue_size=100 queue_size=2048 \
	queue_size= queue_size=256k engine= engine=aio engine=URING "engine=sync,"; do
	expect_usage "--disk" $K --disk "path=/x.img,$v"
done
expect_usage "num_queues=9: expected 1-8" $K --disk path=/x.img,num_queues=9
expect_usage "queue_size=100: expected a power of two, 4-1024" $K --disk path=/x.img,queue_size=100
expect_usage "engine=aio: expected uring or sync" $K --disk path=/x.img,engine=aio
expect_ok '[[],fixed_buffers=on[|]off[]]' --help
expect_usage "fixed_buffers=yes: expected on or off" $K --disk path=/x.img,fixed_buffers=yes
expect_usage "fixed_buffers=on needs the io_uring engine" $K --disk path=/x.img,engine=sync,fixed_buffers=on
expect_usage "takes no path, readonly, direct, engine or fixed_buffers" $K $S \
	--disk vhost_user=on,socket=/s,fixed_buffers=on

# --- --serial, --log-level ------------------------------------------------
for v in bogus file= "" TTY; do
	expect_usage --serial $K --serial "$v"
done
expect_usage --serial $K --serial
for v in loud "" WARN; do
	expect_usage --log-level $K --log-level "$v"
done
expect_usage --log-level $K --log-level

# --- --seccomp (on|off; off is a debugging aid) ---------------------------
expect_ok '--seccomp on[|]off' --help
for v in bogus "" ON 1; do
	expect_usage --seccomp $K --seccomp "$v"
done
expect_usage --seccomp $K --seccomp

# --- --platform pit=on|off (the in-kernel PIT) ---------------------------
expect_ok '--platform pit=on[|]off' --help
for v in "" pit pit= pit=0 pit=yes "pit=off," ",pit=off" pic=off hpet=on "pit=off,hpet=on"; do
	expect_usage --platform $K --platform "$v"
done
expect_usage --platform $K --platform

# --- --virtio-transport pci|mmio[,cmdline=on|off] -------------------------
expect_ok '--virtio-transport pci[|]mmio' --help
for v in "" usb PCI "mmio," ",mmio" mmio,cmdline mmio,cmdline= mmio,cmdline=maybe \
	mmio,irq=5 =mmio type= type=virtio; do
	expect_usage --virtio-transport $K --virtio-transport "$v"
done
expect_usage --virtio-transport $K --virtio-transport
# virtio_mmio.device= entries describe virtio-mmio windows: not for pci.
for v in pci,cmdline=on cmdline=on; do
	expect_usage "cmdline=on needs mmio" $K --virtio-transport "$v"
done

# --- --user-device socket=PATH[,id=NAME] (repeatable) ---------------------
expect_ok '--user-device socket=PATH[[],id=NAME[]]' --help
LONGSOCK=/tmp/$(printf 's%.0s' $(seq 1 110))
for v in "" socket= id=x "socket=/a,sock=/b" "socket=/a,id=" \
	"socket=/a,id=abcdefghijklmnopqrstuvwxyz0123456" "socket=/a," ",socket=/a" \
	/a "socket=$LONGSOCK"; do
	expect_usage --user-device $K --user-device "$v"
done
expect_usage --user-device $K --user-device
expect_usage "socket= is required" $K --user-device id=edu
expect_usage "socket /a given twice" $K --user-device socket=/a --user-device socket=/a
expect_usage "id e given twice" $K --user-device socket=/a,id=e --user-device socket=/b,id=e
expect_usage "at most 8" $K --user-device socket=/1 --user-device socket=/2 \
	--user-device socket=/3 --user-device socket=/4 --user-device socket=/5 \
	--user-device socket=/6 --user-device socket=/7 --user-device socket=/8 \
	--user-device socket=/9

# --- --vsock cid=N,socket=PATH (one device) -------------------------------
expect_ok '--vsock cid=N,socket=PATH' --help
LONGVS=/tmp/$(printf 's%.0s' $(seq 1 96))
for v in "" cid=3 socket=/a cid=2,socket=/a cid=0,socket=/a cid=-3,socket=/a \
	cid=4294967295,socket=/a cid=x,socket=/a cid=3,socket= "cid=3,socket=/a,port=1" \
	"cid=3,socket=$LONGVS" 3 "cid=3,socket=/a,"; do
	expect_usage --vsock $K --vsock "$v"
done
expect_usage --vsock $K --vsock
expect_usage "cid=2: expected 3-4294967294" $K --vsock cid=2,socket=/a
expect_usage "socket= is required" $K --vsock cid=3
expect_usage "cid= is required" $K --vsock socket=/a
expect_usage "given twice" $K --vsock cid=3,socket=/a --vsock cid=4,socket=/b

# --- vhost-user: --fs tag=,socket= and --disk vhost_user=on,socket= -------
expect_ok '--fs tag=TAG,socket=PATH' --help
expect_ok '--disk vhost_user=on,socket=PATH' --help
S="--memory size=64M,shared=on"
for v in "" tag=x socket=/s "tag=,socket=/s" "tag=x,socket=" "tag=x,socket=/s,bus=1" \
	"tag=x,socket=/s,num_queues=0" "tag=x,socket=/s,num_queues=8" \
	"tag=x,socket=/s,queue_size=100" "tag=x,socket=/s,queue_size=1" "tag=x,socket=/s,queue_size=2048" \
	"tag=x,socket=$LONGSOCK" "tag=0123456789012345678901234567890123456,socket=/s"; do
	expect_usage --fs $K $S --fs "$v"
done
expect_usage "--fs: socket= is required" $K $S --fs tag=x
expect_usage "--fs: tag= is required" $K $S --fs socket=/s
expect_usage "tag=0123456789012345678901234567890123456: 1 to 36 bytes" $K $S \
	--fs tag=0123456789012345678901234567890123456,socket=/s
expect_usage "--fs tag=x: vhost-user devices need --memory shared=on" $K --fs tag=x,socket=/s
expect_usage "--fs tag=x: vhost-user devices need --memory shared=on" $K \
	--memory size=64M,shared=off --fs tag=x,socket=/s
expect_usage "--fs: tag a given twice" $K $S --fs tag=a,socket=/s --fs tag=a,socket=/t
expect_usage "--fs: socket /s given twice" $K $S --fs tag=a,socket=/s --fs tag=b,socket=/s
expect_usage "--fs: at most 4" $K $S --fs tag=1,socket=/1 --fs tag=2,socket=/2 \
	--fs tag=3,socket=/3 --fs tag=4,socket=/4 --fs tag=5,socket=/5
expect_usage "--disk: vhost_user=on needs socket=PATH" $K $S --disk vhost_user=on
expect_usage "--disk socket=/s: vhost-user devices need --memory shared=on" $K \
	--disk vhost_user=on,socket=/s
expect_usage "takes no path, readonly, direct, engine or fixed_buffers" $K $S --disk vhost_user=on,socket=/s,path=/x
expect_usage "takes no path, readonly, direct, engine or fixed_buffers" $K $S --disk vhost_user=on,socket=/s,readonly=on
expect_usage "--disk: socket= needs vhost_user=on" $K $S --disk path=/x,socket=/s
expect_usage "takes no path, readonly, direct, engine or fixed_buffers" $K $S --disk vhost_user=on,socket=/s,engine=sync
expect_usage "--disk: num_queues=9: expected 1-8" $K $S --disk vhost_user=on,socket=/s,num_queues=9
expect_usage "--disk: vhost_user=yes: expected on or off" $K $S --disk vhost_user=yes,socket=/s
expect_usage "--disk: socket /s given twice" $K $S --disk vhost_user=on,socket=/s \
	--disk vhost_user=on,socket=/s
expect_usage "--fs: socket /s is also a --disk's" $K $S --disk vhost_user=on,socket=/s \
	--fs tag=a,socket=/s

# --- files named by options that cannot be used: bad usage --------------
: >"$TMP/empty"
printf 'not a kernel\n' >"$TMP/text"
NOENT="No such file or directory"
expect_usage "--kernel /nonexistent/bzImage: $NOENT" \
	--kernel /nonexistent/bzImage --serial null
expect_usage "--initramfs /nonexistent/initrd: $NOENT" \
	--kernel "$TMP/text" --initramfs /nonexistent/initrd --serial null
expect_usage "--disk path=/nonexistent/disk.img: $NOENT" \
	--kernel "$TMP/text" --disk path=/nonexistent/disk.img --serial null
expect_usage "--disk path=/nonexistent/ro.img: $NOENT" \
	--kernel "$TMP/text" --disk path=/nonexistent/ro.img,readonly=on --serial null
expect_usage "--rng src=/nonexistent/rng: $NOENT" \
	--kernel "$TMP/text" --rng src=/nonexistent/rng --serial null
expect_usage "--serial file=/nonexistent/dir/out: $NOENT" \
	--kernel "$TMP/text" --serial file=/nonexistent/dir/out
expect_usage "--console file=/nonexistent/dir/out: $NOENT" \
	--kernel "$TMP/text" --serial null --console file=/nonexistent/dir/out
expect_usage "--kernel $TMP: not a regular file" --kernel "$TMP" --serial null
expect_usage "--disk path=$TMP: " --kernel "$TMP/text" --disk "path=$TMP" --serial null
expect_usage "--rng src=$TMP: Is a directory" --kernel "$TMP/text" --rng "src=$TMP" --serial null
# A user device's socket: missing, or not a socket.
expect_usage "--user-device socket=/nonexistent/edu.sock: $NOENT" \
	--kernel "$TMP/text" --serial null --user-device socket=/nonexistent/edu.sock
expect_usage "--user-device socket=$TMP/text: not a socket" \
	--kernel "$TMP/text" --serial null --user-device "socket=$TMP/text"
# The vsock socket's folder must exist; the path, if there, be a socket.
expect_usage "--vsock socket=/nonexistent/v.sock: $NOENT" \
	--kernel "$TMP/text" --serial null --vsock cid=3,socket=/nonexistent/v.sock
expect_usage "--vsock socket=$TMP/text/v.sock: Not a directory" \
	--kernel "$TMP/text" --serial null --vsock "cid=3,socket=$TMP/text/v.sock"
expect_usage "--vsock socket=$TMP/text: exists and is not a socket" \
	--kernel "$TMP/text" --serial null --vsock "cid=3,socket=$TMP/text"
# A vhost-user backend's socket: missing, or not a socket.
expect_usage "--fs socket=/nonexistent/fs.sock: $NOENT" --kernel "$TMP/text" --serial null \
	--memory size=64M,shared=on --fs tag=x,socket=/nonexistent/fs.sock
expect_usage "--disk socket=$TMP/text: not a socket" --kernel "$TMP/text" --serial null \
	--memory size=64M,shared=on --disk "vhost_user=on,socket=$TMP/text"
# Huge pages the host does not have (1 TiB of them): bad usage before any
# VM is built, one line naming the option.
expect_usage "--memory hugepages=on: " --kernel "$TMP/text" --serial null \
	--memory size=1T,hugepages=on

# --- --device path=PATH[,id=NAME] (PCI passthrough) ----------------------
expect_ok '--device path=PATH' --help
long_id=$(printf '%033d' 0)
for v in "" path= id=x "path=/x,bogus=1" "path=/x,id=" "path=/x," ",path=/x" \
	"path=/x,id=$long_id" /sys/bus/pci/devices/0000:00:01.0; do
	expect_usage --device $K --device "$v"
done
expect_usage --device $K --device
expect_usage "--device: mmap=no: on or off" $K --device path=/x,mmap=no
expect_usage "--device: /x given twice" $K --device path=/x --device path=/x
expect_usage "--device: id=a given twice" $K --device path=/x,id=a --device path=/y,id=a
expect_usage "--device: at most 8 devices" $K --device path=/1 --device path=/2 \
	--device path=/3 --device path=/4 --device path=/5 --device path=/6 \
	--device path=/7 --device path=/8 --device path=/9
# The path, probed before the VM is built: one line naming the device.
expect_usage "--device path=/nonexistent/0000:00:1f.0: $NOENT" \
	--kernel "$TMP/text" --device path=/nonexistent/0000:00:1f.0 --serial null
expect_usage "--device path=$TMP: not a PCI device" \
	--kernel "$TMP/text" --device "path=$TMP" --serial null
expect_usage "--device path=/etc/hostname: not a PCI device" \
	--kernel "$TMP/text" --device path=/etc/hostname --serial null
# Fake sysfs trees: a PCI function bound to another driver, to none, not a
# PCI address, no IOMMU group, and one that is right but finds no /dev/vfio.
S=$TMP/sys
mkdir -p "$S/bus/pci" "$S/bus/usb" "$S/drivers/e1000e" "$S/drivers/vfio-pci" "$S/groups/4242"
fake_dev() { # NAME SUBSYSTEM DRIVER GROUP ("-": no link)
	mkdir -p "$S/devices/$1"
	[ "$2" = - ] || ln -s "../../bus/$2" "$S/devices/$1/subsystem"
	[ "$3" = - ] || ln -s "../../drivers/$3" "$S/devices/$1/driver"
	[ "$4" = - ] || ln -s "../../groups/$4" "$S/devices/$1/iommu_group"
}
fake_dev 0000:01:00.0 pci e1000e 4242
fake_dev 0000:02:00.0 pci - 4242
fake_dev 0000:03:00.0 pci vfio-pci -
fake_dev 0000:04:00.0 pci vfio-pci 4242
fake_dev 1-1:1.0 usb - -
fake_dev pci-thing pci vfio-pci 4242
dev_refused() { # NAME WHY
	expect_usage "--device path=$S/devices/$1: $2" \
		--kernel "$TMP/text" --device "path=$S/devices/$1" --serial null
}
dev_refused 0000:01:00.0 "0000:01:00.0 is bound to e1000e, not to vfio-pci"
dev_refused 0000:02:00.0 "0000:02:00.0 is bound to no driver, not to vfio-pci"
dev_refused 0000:03:00.0 "0000:03:00.0 has no IOMMU group"
dev_refused 1-1:1.0 "not a PCI device"
dev_refused pci-thing "'pci-thing' is not a PCI address"
if [ ! -e /dev/vfio/vfio ]; then
	expect_usage "--device path=$S/devices/0000:04:00.0: 0000:04:00.0: /dev/vfio/vfio: $NOENT" \
		--kernel "$TMP/text" --device "path=$S/devices/0000:04:00.0" --serial null
else
	expect_usage "--device path=$S/devices/0000:04:00.0: 0000:04:00.0: /dev/vfio/4242: " \
		--kernel "$TMP/text" --device "path=$S/devices/0000:04:00.0" --serial null
fi
# Each of several devices is checked, in order.
expect_usage "--device path=$S/devices/0000:02:00.0: " --kernel "$TMP/text" \
	--device "path=$S/devices/0000:02:00.0" --device "path=$S/devices/0000:01:00.0" \
	--serial null
# A real function of this host, if one is bound to another driver.
for p in /sys/bus/pci/devices/*; do
	[ -L "$p/driver" ] || continue
	drv=$(basename "$(readlink "$p/driver")")
	[ "$drv" = vfio-pci ] && continue
	expect_usage "--device path=$p: $(basename "$p") is bound to $drv, not to vfio-pci" \
		--kernel "$TMP/text" --device "path=$p" --serial null
	break
done
# --- one failure, one line (docs/logging.md) ------------------------------
# No /dev/kvm needed: without --kernel the VM waits for the API, whose
# socket is made in the control loop's setup (it said so twice before).
expect_fail "--api-socket $TMP/nodir/api.sock: bind: $NOENT" \
	--api-socket "$TMP/nodir/api.sock"
expect_fail "--api-socket $TMP/text: exists and is not a socket" \
	--api-socket "$TMP/text"

# --- the soft limit of open files goes up to the hard one -----------------
# (each used passthrough MSI-X vector is a file). Seen on a VMM that waits
# for the API; a hard limit already equal to the soft one proves nothing.
CASE="cvmm raises RLIMIT_NOFILE's soft limit to the hard one"
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -le 256 ]; then
	bad "hard limit of open files is $hard: cannot check"
else
	(ulimit -Sn 256 && exec "$BIN" --api-socket "$TMP/nofile.sock") >"$TMP/out" 2>"$TMP/err" </dev/null &
	nf_pid=$!
	soft=
	for _ in $(seq 100); do
		[ -S "$TMP/nofile.sock" ] && soft=$(awk '/^Max open files/ { print $4 }' "/proc/$nf_pid/limits" 2>/dev/null) && break
		sleep 0.1
	done
	kill "$nf_pid" 2>/dev/null
	wait "$nf_pid" 2>/dev/null
	if [ "$soft" = "$hard" ]; then pass_quiet; else bad "soft limit '$soft', want $hard (started with 256)"; fi
fi

# --- kernel files that open but cannot be booted (need /dev/kvm) ----------
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	expect_fail /etc/hostname --kernel /etc/hostname --serial null
	expect_fail "$TMP/text" --kernel "$TMP/text" --serial null
	# --seccomp on and off are both accepted (the kernel is what fails).
	expect_fail "$TMP/text" --kernel "$TMP/text" --serial null --seccomp off
	expect_fail "$TMP/text" --kernel "$TMP/text" --serial null --seccomp on
	# --memory shared=on and hugepages=off likewise (a memfd for RAM).
	expect_fail "$TMP/text" --kernel "$TMP/text" --serial null --memory size=64M,shared=on
	expect_fail "$TMP/text" --kernel "$TMP/text" --serial null \
		--memory size=64M,shared=off,hugepages=off
	# --platform pit=off and on likewise.
	expect_fail "$TMP/text" --kernel "$TMP/text" --serial null --platform pit=off
	expect_fail "$TMP/text" --kernel "$TMP/text" --serial null --platform pit=on
	# A socket nobody listens on (bound, then left): the VM build fails,
	# one line naming it.
	if command -v python3 >/dev/null 2>&1 &&
		python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
			"$TMP/stale.sock" 2>/dev/null; then
		expect_fail "vfio-user $TMP/stale.sock: cannot connect: Connection refused" \
			--kernel "$TMP/text" --serial null --user-device "socket=$TMP/stale.sock"
		# The same for a vhost-user backend: one line, the device and socket named.
		expect_fail "vhost-user-blk(disk0): cannot connect to the vhost-user backend at $TMP/stale.sock: Connection refused" \
			--kernel "$TMP/text" --serial null --memory size=64M,shared=on \
			--disk "vhost_user=on,socket=$TMP/stale.sock"
		expect_fail "virtio-fs(x): cannot connect to the vhost-user backend at $TMP/stale.sock: Connection refused" \
			--kernel "$TMP/text" --serial null --memory size=64M,shared=on \
			--fs "tag=x,socket=$TMP/stale.sock"
	else
		skip user-device-stale-socket "no python3 to bind a socket with"
	fi
	expect_fail "$TMP/empty" --kernel "$TMP/empty" --serial null
	if [ -f /bin/sh ]; then
		# An ELF, but a shared object, not a kernel.
		expect_fail /bin/sh --kernel /bin/sh --serial null
	fi
	# Eight disks on virtio-mmio: seven windows and GSIs; the eighth is
	# refused before the kernel is read, in one line naming the disk.
	disks=""
	for i in 1 2 3 4 5 6 7 8; do
		: >"$TMP/disk$i.img"
		disks="$disks --disk path=$TMP/disk$i.img"
	done
	# shellcheck disable=SC2086
	expect_fail "virtio-blk(disk8.img): no room for another virtio-mmio device" \
		--kernel "$TMP/text" --serial null --virtio-transport mmio $disks
else
	echo "cli: /dev/kvm not usable, skipped 12 kernel-file checks"
fi

t_finish
