#!/usr/bin/env bash
# Start-up cost, side by side: skiff vs QEMU microvm booting the same tiny
# PVH guest that only writes to the debug-exit port. Prints the median wall
# time from exec to exit and the median peak RSS over RUNS runs each.
# usage: bench/startup.sh [BUILD_DIR]   (RUNS=N to change the run count)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build}
RUNS=${RUNS:-20}
make -s -C "$ROOT" O="$B" all >/dev/null
make -s -C "$ROOT/bench" O="$B/bench" >/dev/null
SPAWN=$B/bench/spawn
GUEST=$B/bench/exit_guest.elf

run() {	# label, command...: prints "label ms rss statuses"
	local label=$1 out
	shift
	out=$("$SPAWN" "$RUNS" -- "$@")
	printf '%s\t%s\n' "$label" "$out"
}

echo "# exec → exit of a PVH guest that writes 0 to port 0xf4; median of $RUNS runs"
echo "# $(uname -r), $(nproc) CPUs, kvm_pvm: $([ -e /sys/module/kvm_pvm ] && echo yes || echo no)"
skiff_line=$(run skiff "$B/skiff" run --kernel "$GUEST" --debug-exit --memory 256M)
if command -v qemu-system-x86_64 >/dev/null; then
	qemu_line=$(run qemu qemu-system-x86_64 -enable-kvm -M microvm,x-option-roms=off \
		-cpu host,-arch-capabilities -nodefaults -no-user-config -nographic \
		-m 256M -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$GUEST")
else
	qemu_line=$'qemu\tnan\tnan\tnot installed'
fi
printf '%-8s %10s %12s   %s\n' vmm "wall ms" "peak RSS" "exit statuses"
for l in "$skiff_line" "$qemu_line"; do
	IFS=$'\t' read -r name ms rss st <<<"$l"
	printf '%-8s %10s %9s KiB   %s\n' "$name" "$ms" "$rss" "$st"
done
IFS=$'\t' read -r _ s_ms s_rss _ <<<"$skiff_line"
IFS=$'\t' read -r _ q_ms q_rss _ <<<"$qemu_line"
awk -v sm="$s_ms" -v qm="$q_ms" -v sr="$s_rss" -v qr="$q_rss" 'BEGIN {
	if (sm > 0 && qm > 0)
		printf "ratio    QEMU/skiff: %.1fx faster start, %.1fx less memory\n", qm / sm, qr / sr
}'
