#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Snapshot and restore, end to end (docs/snapshot.md):
#
#   tests/snapshot-test.sh CVMM CVMM_REMOTE GUESTDIR [FILTER]
#
# The snapshot_run guest (a memory pattern, LAPIC timer ticks, virtio-blk
# writes and reads on one queue) is paused, snapshotted (vm.snapshot) and
# its cvmm killed; a new cvmm restores it (--restore or vm.restore) and the
# guest must finish: every round exactly once (no lost or repeated
# request), the pattern intact, ticks and the TSC going up, one boot only.
# Also snapshot -> restore -> snapshot -> restore (prefault=on), resume=false
# (devices too stay parked: a write the guest made available without a
# notification is served only after vm.resume), and the refusals: a folder
# that is no snapshot, truncated and corrupted files, another format
# version, a disk that changed size or is gone, devices that cannot be
# snapshotted (virtio-vsock, a vhost-user-blk disk from qemu-storage-daemon,
# virtio-fs from virtiofsd, a vfio-user device from tests/vfio-user's edu
# server; each skipped without its server), a VM not paused.
# Prints "ok NAME" / "FAIL NAME: why", then "snapshot: N passed, M failed".

# shellcheck disable=SC2317,SC2119
set -u
CVMM=${1:?usage: snapshot-test.sh CVMM CVMM_REMOTE GUESTDIR [FILTER]}
REMOTE=${2:?usage: snapshot-test.sh CVMM CVMM_REMOTE GUESTDIR [FILTER]}
GDIR=${3:?usage: snapshot-test.sh CVMM CVMM_REMOTE GUESTDIR [FILTER]}
FILTER=${4:-*}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GUEST=$GDIR/snapshot_run.bzImage

# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"
t_init snapshot

[ -f "$GUEST" ] || t_setup_fail "$GUEST missing (run 'make guests')"
if [ ! -e /dev/kvm ]; then
	echo "SKIP: no /dev/kvm"
	t_finish
fi

SOCK=$TMP/api.sock
SERIAL=$TMP/serial.txt
ERR=$TMP/cvmm.err
DISK=$TMP/disk.img
SNAP=$TMP/snap
ROUNDS=24
VM_PREFIX=() # words before cvmm (ip netns exec NS for the net case)

t_on_fail() {
	t_show "serial" "$SERIAL" 6
	t_show "cvmm stderr" "$ERR" 6
}

API_TIMEOUT=25 # lib.sh's api: a snapshot writes guest RAM

# start_vm [args]: the guest with the API socket, until round 2 is out.
start_vm() {
	: >"$SERIAL"
	rm -f "$SOCK"
	truncate -s 0 "$DISK"
	truncate -s 1M "$DISK"
	${VM_PREFIX[@]+"${VM_PREFIX[@]}"} "$CVMM" --kernel "$GUEST" --serial "file=$SERIAL" \
		--memory "${MEM_OPT:-size=128M}" --debug-exit \
		--disk "path=$DISK,id=d0" --api-socket "$SOCK" --log-level info \
		--cmdline "rounds=$ROUNDS period_ms=20${GUEST_ARGS:+ $GUEST_ARGS}" "$@" </dev/null 2>"$ERR" &
	PID=$!
	vm_up 20 up_with '^snap: round 2 '
}

# snapshot_and_kill DIR: pause, snapshot into DIR, SIGKILL the VMM.
snapshot_and_kill() {
	api pause && [ "$RC" = 0 ] || { why="pause failed"; return 1; }
	api snapshot "file://$1"
	[ "$RC" = 0 ] || { why="snapshot failed: $(cat "$TMP/resp" "$TMP/resp.err")"; return 1; }
	vm_kill
}

# snapshot_running [cvmm args...]: boots the guest (start_vm), snapshots
# it into $SNAP and kills it; 1 with why set when a step failed.
snapshot_running() {
	start_vm "$@" || { why="guest did not start"; return 1; }
	snapshot_and_kill "$SNAP"
}

# restore_start ARGS...: restores in a new cvmm (API socket too), in the
# background (PID).
restore_start() {
	rm -f "$SOCK"
	${VM_PREFIX[@]+"${VM_PREFIX[@]}"} "$CVMM" --restore "$@" --api-socket "$SOCK" \
		--log-level info </dev/null 2>>"$ERR" &
	PID=$!
}

# The serial log of a whole run: one boot, every round once and in order,
# ticks going up, the end reached.
check_run() {
	local banners rounds
	banners=$(grep -c "== cvmm test guest 'snapshot_run'" "$SERIAL")
	[ "$banners" = 1 ] || { why="$banners boots in the serial log"; return 1; }
	grep -q "^snap: done $ROUNDS rounds, pattern intact" "$SERIAL" ||
		{ why="the guest did not finish"; return 1; }
	rounds=$(sed -n 's/^snap: round \([0-9]*\) .*/\1/p' "$SERIAL" | tr '\n' ' ')
	[ "$rounds" = "$(seq -s ' ' 0 $((ROUNDS - 1))) " ] ||
		{ why="rounds not each once in order: $rounds"; return 1; }
	tr -d '\r' <"$SERIAL" | sed -n 's/^snap: round [0-9]* ticks \([0-9]*\)$/\1/p' |
		awk 'NR > 1 && $1 + 0 < prev + 0 { bad = 1 } { prev = $1 } END { exit bad }' ||
		{ why="the tick counter went back"; return 1; }
	return 0
}

# finish_run: waits for the restored cvmm to end (VMRC), then checks the
# whole run's serial log unless something failed already (why).
finish_run() {
	vm_wait_exit 60
	[ "$VMRC" = 0 ] || why="${why:+$why; }restored cvmm exited $VMRC"
	[ -z "$why" ] && check_run || true
}

CASE=restore
if wanted $CASE; then
	why=
	if snapshot_running; then
		at=$(grep -c '^snap: round' "$SERIAL")
		restore_start "source_url=file://$SNAP"
		finish_run
		[ -z "$why" ] && [ "$at" -ge "$ROUNDS" ] && why="the snapshot came after the end"
		# Sparse: untouched guest RAM is holes (128 MiB guest).
		used=$(du -k "$SNAP/memory.bin" | cut -f1)
		[ -z "$why" ] && [ "$used" -gt 16384 ] && why="memory.bin uses $used KiB (not sparse)"
	fi
	[ -z "$why" ]
	check $? "$why"
fi

# Guest RAM from a memfd (--memory shared=on): the restore copies the
# snapshot's data extents into the new memfd instead of mapping the file.
CASE=restore-shared
if wanted $CASE; then
	why=
	if MEM_OPT=size=128M,shared=on snapshot_running; then
		restore_start "source_url=file://$SNAP"
		finish_run
	fi
	[ -z "$why" ]
	check $? "$why"
fi

# A disk grown by vm.resize-disk: the snapshot has the capacity the guest
# was told (not the one at start), so the grown image restores.
CASE=restore-resized
if wanted $CASE; then
	why=
	if ! start_vm; then
		why="guest did not start"
	else
		api resize-disk --disk d0 --size 2M
		if [ "$RC" != 0 ]; then
			why="resize-disk failed: $(cat "$TMP/resp" "$TMP/resp.err")"
		elif snapshot_and_kill "$SNAP"; then
			restore_start "source_url=file://$SNAP"
			finish_run
		fi
	fi
	[ -z "$why" ]
	check $? "$why"
fi

CASE=restore-twice
if wanted $CASE; then
	why=
	if snapshot_running; then
		restore_start "source_url=file://$SNAP"
		if ! vm_up 20 up_with '^snap: round 8 '; then
			why="first restore did not go on"
		elif snapshot_and_kill "$TMP/snap2"; then
			restore_start "source_url=file://$TMP/snap2,prefault=on"
			finish_run
		fi
	fi
	[ -z "$why" ]
	check $? "$why"
fi

CASE=resume-false
if wanted $CASE; then
	why=
	if snapshot_running; then
		n0=$(grep -c '^snap: round' "$SERIAL")
		restore_start "source_url=file://$SNAP,resume=false"
		t_wait 10 test -S "$SOCK"
		sleep 1
		api info
		grep -q '"state":"Paused"' "$TMP/resp" || why="restored VM not Paused"
		n1=$(grep -c '^snap: round' "$SERIAL")
		[ "$n0" = "$n1" ] || why="${why:+$why; }the guest ran while paused ($n0 -> $n1)"
		api resume
		finish_run
	fi
	[ -z "$why" ]
	check $? "$why"
fi

# virtio-net too (net=1): each round an ICMP echo to the host kernel
# across a tap in a network namespace of this test's own; the restored
# cvmm opens the tap again by name. Every round's reply exactly once, in
# order; a reply never sent or a second one fails the guest. At most one
# request may be sent again, after the guest asked for the host's MAC
# again: the first after the restore when the tap cvmm made anew has
# another MAC (docs/snapshot.md), or one whose reply was waiting in the
# tap when cvmm was killed.
CASE=restore-net
if wanted $CASE; then
	why=
	NETNS=cvmmsnap$$
	if ! ip netns add "$NETNS" 2>"$TMP/netns.err"; then
		skip $CASE "no network namespace ($(head -c 200 "$TMP/netns.err"))"
	else
		VM_PREFIX=(ip netns exec "$NETNS")
		if ! GUEST_ARGS="net=1 gip=10.77.0.2 hip=10.77.0.1" start_vm \
			--net "tap=snaptap0,mac=52:54:00:12:34:57,ip=10.77.0.1,mask=255.255.255.0"; then
			why="guest did not start"
		elif ! serial_has '^snap: net round 1 echo ok'; then
			why="no echo reply before the snapshot"
		elif snapshot_and_kill "$SNAP"; then
			at=$(grep -c '^snap: net round .* echo ok' "$SERIAL")
			restore_start "source_url=file://$SNAP"
			finish_run
			echoes=$(sed -n 's/^snap: net round \([0-9]*\) echo ok.*/\1/p' "$SERIAL" | tr -d '\r' | tr '\n' ' ')
			[ -z "$why" ] && [ "$echoes" != "$(seq -s ' ' 0 $((ROUNDS - 1))) " ] &&
				why="echo replies not each once in order: $echoes"
			[ -z "$why" ] && [ "$at" -ge "$ROUNDS" ] && why="the snapshot came after the end"
			resent=$(sed -n 's/.*net [0-9]* echoes, \([0-9]*\) resent.*/\1/p' "$SERIAL")
			[ -z "$why" ] && ! grep -q "net $ROUNDS echoes" "$SERIAL" &&
				why="the guest did not count $ROUNDS echoes"
			[ -z "$why" ] && [ "${resent:-9}" -gt 1 ] && why="$resent requests sent again"
			[ "${resent:-0}" = 1 ] && echo "  (note: one echo request sent again: $(grep -m1 'sent again' "$SERIAL" | tr -d '\r'))"
		fi
		VM_PREFIX=()
		ip netns del "$NETNS" 2>/dev/null
		[ -z "$why" ]
		check $? "$why"
	fi
fi

CASE=api-restore
if wanted $CASE; then
	why=
	if snapshot_running; then
		rm -f "$SOCK"
		"$CVMM" --api-socket "$SOCK" --log-level info </dev/null 2>>"$ERR" &
		PID=$!
		t_wait 10 test -S "$SOCK"
		api restore "{\"source_url\":\"file://$SNAP\",\"prefault\":true}"
		[ "$RC" = 0 ] || why="vm.restore failed: $(cat "$TMP/resp")"
		finish_run
	fi
	[ -z "$why" ]
	check $? "$why"
fi

# resume=false keeps the devices parked until vm.resume: the guest made a
# write available without notifying (unkicked_at), so only the restore's
# kick of each ready queue serves it; with the VM restored paused the
# write must not reach the disk (nor be counted) before vm.resume, and
# must once it comes, exactly once.
CASE=resume-false-devices-parked
if wanted $CASE; then
	why=
	if ! GUEST_ARGS="unkicked_at=3" start_vm; then
		why="guest did not start"
	elif ! vm_up 20 serial_has '^snap: unkicked write posted'; then
		why="the guest never posted its write"
	elif snapshot_and_kill "$SNAP"; then
		grep -q UNKICKED "$DISK" && why="the write was served before the snapshot (it was kicked)"
		restore_start "source_url=file://$SNAP,resume=false"
		t_wait 10 test -S "$SOCK"
		api info
		grep -q '"state":"Paused"' "$TMP/resp" || why="${why:+$why; }restored VM not Paused"
		sleep 1
		grep -q UNKICKED "$DISK" && why="${why:+$why; }the write reached the disk while the VM was paused"
		api counters
		wops=$(tr -d ' \n' <"$TMP/resp" | grep -o '"write_ops":[0-9]*' | head -n1)
		[ "$wops" = '"write_ops":0' ] || why="${why:+$why; }blk counted $wops while paused"
		api resume
		finish_run
		[ "$(grep -c '^snap: unkicked write done' "$SERIAL")" = 1 ] ||
			why="${why:+$why; }no (single) 'unkicked write done'"
		grep -q UNKICKED "$DISK" || why="${why:+$why; }the write never reached the disk"
	fi
	[ -z "$why" ]
	check $? "$why"
fi

# ---- refusals ----

# bad_restore NAME WANT: --restore of $BAD must exit 2 with one line
# matching WANT, and start nothing.
bad_restore() {
	CASE=$1
	wanted "$CASE" || return 0
	timeout 20 "$CVMM" --restore "source_url=file://$BAD" </dev/null >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	local lines
	lines=$(grep -c . "$TMP/err")
	if [ "$rc" != 2 ]; then
		bad "exit $rc, expected 2: $(head -c 300 "$TMP/err")"
	elif ! grep -qE -- "$2" "$TMP/err"; then
		bad "no '$2' in: $(head -c 300 "$TMP/err")"
	elif ! tail -n 1 "$TMP/err" | grep -q '^cvmm: --restore'; then
		bad "last line is not the refusal: $(tail -n 1 "$TMP/err")"
	else
		ok
	fi
	[ "$lines" -le 3 ] || echo "  (note: $lines lines on stderr)"
}

REF=$TMP/ref
need_ref=
for n in missing-dir empty-dir truncated-state flipped-byte version magic truncated-ram \
	disk-resized disk-missing; do
	wanted "bad-$n" && need_ref=1
done
if [ -n "$need_ref" ]; then
	why=
	if start_vm && snapshot_and_kill "$REF"; then :; else
		CASE=refusals-setup
		bad "cannot make the reference snapshot: $why"
	fi
fi

fresh() {
	[ -n "$need_ref" ] || return 0
	rm -rf "$TMP/bad"
	cp -a "$REF" "$TMP/bad"
	BAD=$TMP/bad
}

BAD=$TMP/nothing; bad_restore bad-missing-dir "is not a snapshot"
mkdir -p "$TMP/empty"; BAD=$TMP/empty; bad_restore bad-empty-dir "is not a snapshot"
fresh; truncate -s 2000 "$BAD/state.bin"; bad_restore bad-truncated-state "truncated"
fresh; printf 'X' | dd of="$BAD/state.bin" bs=1 seek=3000 conv=notrunc 2>/dev/null
bad_restore bad-flipped-byte "fails its checksum"
fresh; printf '\x09' | dd of="$BAD/state.bin" bs=1 seek=8 conv=notrunc 2>/dev/null
bad_restore bad-version "format version 9"
fresh; printf 'NOTASNAP' | dd of="$BAD/state.bin" bs=1 seek=0 conv=notrunc 2>/dev/null
bad_restore bad-magic "not a cvmm snapshot"
fresh; truncate -s 1M "$BAD/memory.bin"; bad_restore bad-truncated-ram "truncated"
fresh; truncate -s 2M "$DISK"; bad_restore bad-disk-resized "changed size"
fresh; rm -f "$DISK"; bad_restore bad-disk-missing "No such file"

CASE=refuse-vsock
if wanted $CASE; then
	why=
	if ! start_vm --vsock "cid=3,socket=$TMP/vsock"; then
		why="guest did not start"
	else
		api pause
		api snapshot "file://$TMP/vsnap"
		grep -q 'virtio-vsock.*cannot be snapshotted' "$TMP/resp" ||
			why="no refusal naming the device: $(cat "$TMP/resp")"
		[ -e "$TMP/vsnap/state.bin" ] && why="${why:+$why; }a state file was written"
		api resume
		[ "$RC" = 0 ] || why="${why:+$why; }the VM did not resume"
		vm_wait_exit 60
		[ "$VMRC" = 0 ] || why="${why:+$why; }exit $VMRC"
	fi
	[ -z "$why" ]
	check $? "$why"
fi

# refuse_case NAME WANT [cvmm args...]: vm.snapshot of the running guest
# with that device refused (the message matching WANT: the device named),
# no state file written, the VM resumes and finishes.
refuse_case() {
	CASE=$1
	local want=$2
	shift 2
	why=
	if ! start_vm "$@"; then
		why="guest did not start: $(tail -n 2 "$ERR" | tr '\n' ' ')"
	else
		api pause
		api snapshot "file://$TMP/rsnap"
		grep -qE -- "$want" "$TMP/resp" ||
			why="no refusal naming the device: $(cat "$TMP/resp")"
		[ -e "$TMP/rsnap/state.bin" ] && why="${why:+$why; }a state file was written"
		api resume
		[ "$RC" = 0 ] || why="${why:+$why; }the VM did not resume"
		vm_wait_exit 60
		[ "$VMRC" = 0 ] || why="${why:+$why; }exit $VMRC"
	fi
	rm -rf "$TMP/rsnap"
	[ -z "$why" ]
	check $? "$why"
}

# A vhost-user-blk disk (qemu-storage-daemon) and virtio-fs (virtiofsd):
# their queues are the backend's.
QSD=$(command -v qemu-storage-daemon)
VIRTIOFSD=${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
if wanted refuse-vhost-user-blk; then
	if [ -z "$QSD" ]; then
		skip refuse-vhost-user-blk "no qemu-storage-daemon"
	else
		truncate -s 1M "$TMP/vub.img"
		"$QSD" --blockdev "driver=file,node-name=disk0,filename=$TMP/vub.img" \
			--export "type=vhost-user-blk,id=vub0,node-name=disk0,addr.type=unix,addr.path=$TMP/vub.sock,writable=on" \
			</dev/null >"$TMP/qsd.log" 2>&1 &
		QSD_PID=$!
		t_wait 10 test -S "$TMP/vub.sock"
		MEM_OPT=size=128M,shared=on refuse_case refuse-vhost-user-blk \
			'vhost-user-blk\(vub\): a vhost-user device .*cannot be snapshotted' \
			--disk "vhost_user=on,socket=$TMP/vub.sock,id=vub"
		kill "$QSD_PID" 2>/dev/null
		wait "$QSD_PID" 2>/dev/null
	fi
fi
if wanted refuse-virtio-fs; then
	if [ ! -x "$VIRTIOFSD" ]; then
		skip refuse-virtio-fs "no $VIRTIOFSD"
	else
		mkdir -p "$TMP/fsroot"
		"$VIRTIOFSD" --socket-path="$TMP/fs.sock" -o source="$TMP/fsroot" -o cache=none \
			-o sandbox=chroot </dev/null >"$TMP/virtiofsd.log" 2>&1 &
		FSD_PID=$!
		t_wait 10 test -S "$TMP/fs.sock"
		MEM_OPT=size=128M,shared=on refuse_case refuse-virtio-fs \
			'virtio-fs\(snapfs\): a vhost-user device .*cannot be snapshotted' \
			--fs "tag=snapfs,socket=$TMP/fs.sock"
		kill "$FSD_PID" 2>/dev/null
		wait "$FSD_PID" 2>/dev/null
	fi
fi
# A vfio-user device (the edu server, tests/vfio-user/edu-server.c).
EDU=${EDU_SERVER:-$(dirname "$CVMM")/tests/vfio-user/edu-server}
if wanted refuse-vfio-user; then
	if [ ! -x "$EDU" ]; then
		skip refuse-vfio-user "no $EDU"
	else
		"$EDU" --socket "$TMP/edu.sock" 2>"$TMP/edu.log" &
		EDU_PID=$!
		t_wait 10 test -S "$TMP/edu.sock"
		refuse_case refuse-vfio-user \
			'edu: a passthrough device \(vfio-user\) cannot be snapshotted' \
			--user-device "socket=$TMP/edu.sock,id=edu"
		kill "$EDU_PID" 2>/dev/null
		wait "$EDU_PID" 2>/dev/null
	fi
fi

CASE=refuse-running
if wanted $CASE; then
	why=
	if ! start_vm; then
		why="guest did not start"
	else
		api snapshot "file://$TMP/rsnap"
		grep -q 'vm.pause first' "$TMP/resp" || why="not refused: $(cat "$TMP/resp")"
		vm_kill
	fi
	[ -z "$why" ]
	check $? "$why"
fi

t_finish
