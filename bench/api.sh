#!/usr/bin/env bash
# The control plane, side by side: how soon a VMM with no VM answers its
# control socket (skiff serve: GET / on the API; QEMU -M microvm -S: the QMP
# greeting), wall time and the CPU time it used to get there (Firecracker's
# spec: API ready within 8 CPU ms); then 50 clients sending GET / for 10 s
# to a running ticker guest: requests/s, latency, and how much the guest
# slowed down meanwhile. QEMU's QMP serves one client at a time, so the
# load figures are skiff's alone.
# usage: bench/api.sh [BUILD_DIR]   (RUNS=N for the start-up runs, default 20)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build}
RUNS=${RUNS:-20}
SECS=${SECS:-10}
make -s -C "$ROOT" O="$B" all guests >/dev/null
make -s -C "$ROOT/bench" O="$B/bench" "$B/bench/apiload" >/dev/null
LOAD=$B/bench/apiload
T=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$T"' EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ready LABEL MODE SOCK CMD...: RUNS runs; prints "LABEL wall_us cpu_us".
ready() {
	local label=$1 mode=$2 sock=$3 i
	shift 3
	: >"$T/$label.wall"
	: >"$T/$label.cpu"
	for i in $(seq "$RUNS"); do
		"$LOAD" "$mode" "$sock" 10000 -- "$@" >"$T/one" 2>/dev/null || true
		grep -o 'ready_us=[0-9]*' "$T/one" | cut -d= -f2 >>"$T/$label.wall"
		grep -o 'cpu_us=[0-9]*' "$T/one" | cut -d= -f2 >>"$T/$label.cpu"
	done
	echo "$label $(median <"$T/$label.wall") $(median <"$T/$label.cpu")"
}

echo "# control socket ready after exec; median of $RUNS runs"
echo "# $(uname -r), $(nproc) CPUs, kvm_pvm: $([ -e /sys/module/kvm_pvm ] && echo yes || echo no)"
s=$(ready skiff ready "$T/s.sock" "$B/skiff" serve --api-sock "$T/s.sock")
if command -v qemu-system-x86_64 >/dev/null; then
	q=$(ready qemu ready-qmp "$T/q.sock" qemu-system-x86_64 -enable-kvm -M microvm \
		-cpu host,-arch-capabilities -S -nodefaults -no-user-config -nographic \
		-display none -m 128M -qmp "unix:$T/q.sock,server=on,wait=off")
else
	q="qemu nan nan"
fi
printf '%-8s %12s %12s\n' vmm "wall ms" "CPU ms"
for l in "$s" "$q"; do
	read -r name w c <<<"$l"
	awk -v n="$name" -v w="$w" -v c="$c" 'BEGIN { printf "%-8s %12.2f %12.2f\n", n, w / 1000, c / 1000 }'
done
read -r _ sw sc <<<"$s"
read -r _ qw qc <<<"$q"
awk -v sw="$sw" -v qw="$qw" -v sc="$sc" -v qc="$qc" 'BEGIN {
	if (sw > 0 && qw > 0)
		printf "ratio    QEMU/skiff: %.1fx sooner ready, %.1fx less CPU\n", qw / sw, qc / sc
	printf "target   skiff CPU to ready <= 8 ms: %s\n", (sc / 1000 <= 8) ? "met" : "NOT met"
}'

# Load on a running guest: ticks per second without and with 50 clients.
"$B/skiff" run --kernel "$B/guests/ticker.elf" --api-sock "$T/l.sock" </dev/null \
	>"$T/ticker.out" 2>/dev/null &
vm=$!
for i in $(seq 100); do [ -S "$T/l.sock" ] && break; sleep 0.05; done
sleep 1
ticks() { tr -d '\r' <"$T/ticker.out" | grep -o 'ticker: [0-9]*' | tail -1 | cut -d' ' -f2; }
t0=$(ticks); sleep "$SECS"; t1=$(ticks)
"$LOAD" load "$T/l.sock" 50 "$SECS" / >"$T/load" || true
t2=$(ticks)
kill -TERM $vm; wait $vm || true
echo
echo "# 50 clients, GET / for $SECS s, while the ticker guest runs"
sed 's/^/  /' "$T/load"
awk -v a=$((t1 - t0)) -v b=$((t2 - t1)) -v s="$SECS" 'BEGIN {
	printf "  guest ticks/s: %.1f idle, %.1f under load (%.2fx)\n", a / s, b / s, (a > 0) ? b / a : 0
}'
