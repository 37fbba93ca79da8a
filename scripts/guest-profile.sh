#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Where is a guest spending its time? For a guest that stops making progress
# (no output, no exits to cvmm) on a host whose KVM runs guest instructions
# through its instruction emulator (PVM): records KVM's tracepoints for the
# cvmm process for a few seconds and prints
#   - the guest functions executing (instruction addresses mapped through
#     the guest kernel's System.map, when given), most frequent first;
#   - the interrupt vectors KVM injected, and IPIs sent;
#   - MSR writes (the LAPIC TSC-deadline timer is MSR 0x6e0).
#
#   scripts/guest-profile.sh CVMM_PID [SYSTEM_MAP] [SECONDS]   (default 3 s; TOP=N functions, default 25)
#
# Needs root and perf (Debian: linux-perf). On hosts that run the guest
# natively (VMX/SVM) only the interrupt and MSR sections have content.
set -euo pipefail

pid=${1:?usage: $0 CVMM_PID [SYSTEM_MAP] [SECONDS]}
map=${2:-}
secs=${3:-3}
command -v perf >/dev/null || { echo "$0: perf is not installed (apt-get install linux-perf)" >&2; exit 2; }
[ -d "/proc/$pid" ] || { echo "$0: no process $pid" >&2; exit 2; }
[ -z "$map" ] || [ -r "$map" ] || { echo "$0: cannot read $map" >&2; exit 2; }

w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
perf record -q -o "$w/perf.data" -p "$pid" \
    -e kvm:kvm_emulate_insn -e kvm:kvm_inj_virq -e kvm:kvm_apic_ipi -e kvm:kvm_msr \
    -e kvm:kvm_userspace_exit -- sleep "$secs" >/dev/null 2>&1 || true
perf script -i "$w/perf.data" -F comm,event,trace 2>/dev/null >"$w/trace" || true

echo "# $(wc -l <"$w/trace") events in ${secs}s"
echo "# events per thread and kind"
awk '{ sub(":$", "", $2); n[$1 " " $2]++ } END { for (k in n) printf "%9d  %s\n", n[k], k }' "$w/trace" | sort -rn

echo "# guest functions by emulated instructions"
# kvm_emulate_insn: "CS_BASE:RIP:BYTES (MODE)"
sed -n 's/.*kvm:kvm_emulate_insn: *[0-9a-f]*:\([0-9a-f]*\):.*/\1/p' "$w/trace" >"$w/rips"
if [ -n "$map" ]; then
    # Sorted symbol starts, then each rip to the last symbol at or below it.
    awk '$2 ~ /^[tTwW]$/ { print $1, $3 }' "$map" | sort >"$w/syms"
    awk 'NR == FNR { a[NR] = $1; s[NR] = $2; n = NR; next }
        { r = sprintf("%016s", $1); gsub(/ /, "0", r); lo = 1; hi = n; f = "?"
          while (lo <= hi) { m = int((lo + hi) / 2); if (a[m] <= r) { f = s[m]; lo = m + 1 } else hi = m - 1 }
          c[f]++ }
        END { for (k in c) printf "%9d  %s\n", c[k], k }' "$w/syms" "$w/rips" | sort -rn | head -n "${TOP:-25}"
else
    sort "$w/rips" | uniq -c | sort -rn | head -n "${TOP:-25}"
fi

echo "# injected interrupt vectors"
sed -n 's/.*kvm:kvm_inj_virq: *\(irq\|IRQ\) *\(0x[0-9a-f]*\|[0-9]*\).*/\2/p' "$w/trace" | sort | uniq -c | sort -rn
echo "# MSR accesses"
sed -n 's/.*kvm:kvm_msr: *\(msr_[a-z]* [0-9a-f]*\).*/\1/p' "$w/trace" | sort | uniq -c | sort -rn | head
