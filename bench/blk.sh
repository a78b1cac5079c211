#!/usr/bin/env bash
# virtio-blk throughput, side by side: the same guest (bench/blk_guest.elf,
# request loop at CPL3, TSC timing calibrated against the ACPI PM timer)
# under QEMU q35 (virtio-blk-pci, aio=io_uring, cache=none) and under skiff
# (--disk ...,cache=none), and the host reading the image itself
# (bench/hostio, O_DIRECT + io_uring) as the limit. Phases: 4 KiB random
# reads at queue depth 1 and 32, 1 MiB sequential reads and writes.
# Prints the median of RUNS runs per side and the ratios skiff/QEMU and
# skiff/host. A side that cannot run says why and shows as "-".
#
# usage: bench/blk.sh [BUILD_DIR]
#   RUNS=N          runs per side (default 3)
#   BLK_ARGS=...    guest/hostio parameters (see bench/blk_guest.c)
#   IMG_DIR=DIR     where the 1 GiB sparse test image goes (default
#                   BUILD_DIR/bench; must support O_DIRECT, so not tmpfs)
#   SKIFF=PATH      a skiff binary to use (default: BUILD_DIR/skiff, built)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$ROOT/build}" 2>/dev/null && pwd || echo "${1:-$ROOT/build}")
RUNS=${RUNS:-3}
# seg=16384: 64 segments per 1 MiB request fit every device's seg_max here
# (skiff 126, QEMU 254), so both VMMs see the same request shape.
BLK_ARGS=${BLK_ARGS:-"span=256M count=20000 seqcount=512 seqqd=4 seconds=10 seg=16384"}
IMG_DIR=${IMG_DIR:-$B/bench}
SKIFF=${SKIFF:-}
GUEST=$B/bench/blk_guest.elf
HOSTIO=$B/bench/hostio
RUN_TIMEOUT=${RUN_TIMEOUT:-180}

say() { echo "# $*"; }

mkdir -p "$B/bench" "$IMG_DIR" || exit 1
: >"$B/bench/blk-make.log"
if [ -z "$SKIFF" ]; then
	SKIFF=$B/skiff
	make -s -C "$ROOT" O="$B" all >/dev/null 2>"$B/bench/blk-make.log" ||
		say "skiff build failed (see $B/bench/blk-make.log); the skiff side may not run"
fi
if ! make -s -C "$ROOT/bench" O="$B/bench" >/dev/null 2>>"$B/bench/blk-make.log"; then
	say "bench tools failed to build:"
	sed 's/^/#   /' "$B/bench/blk-make.log" | tail -20
	exit 1
fi

tmp=$(mktemp -d)
img=$IMG_DIR/blk-bench.$$.img
trap 'rm -rf "$tmp" "$img"' EXIT
# 1 GiB sparse; the span the guest reads (256 MiB) holds real data.
if ! truncate -s 1G "$img" ||
   ! dd if=/dev/urandom of="$img" bs=1M count=256 conv=notrunc status=none; then
	say "cannot create the test image $img"
	exit 1
fi

# Which sides can run, and why not.
declare -A why_not=()
if ! [ -c /dev/kvm ] || ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	why_not[qemu]="no usable /dev/kvm"; why_not[skiff]="no usable /dev/kvm"
fi
command -v qemu-system-x86_64 >/dev/null || why_not[qemu]="qemu-system-x86_64 not installed"
if [ ! -x "$SKIFF" ]; then
	why_not[skiff]="no skiff binary at $SKIFF"
elif ! "$SKIFF" run --help 2>&1 | grep -q -- '--disk'; then
	why_not[skiff]="$SKIFF has no --disk option yet"
fi
if ! "$HOSTIO" "$img" mode=seqread seqcount=1 >/dev/null 2>"$tmp/hostio.err"; then
	why_not[host]="hostio cannot read $img: $(head -1 "$tmp/hostio.err")"
fi

run_host() {
	# shellcheck disable=SC2086 # BLK_ARGS is a word list
	timeout "$RUN_TIMEOUT" "$HOSTIO" "$img" $BLK_ARGS
}

run_qemu() {
	timeout "$RUN_TIMEOUT" qemu-system-x86_64 -enable-kvm -cpu 'host,-arch-capabilities' \
		-M q35 -m 256M -nographic -nodefaults -no-user-config -serial stdio \
		-no-reboot -device 'isa-debug-exit,iobase=0xf4,iosize=4' \
		-kernel "$GUEST" -append "$BLK_ARGS" \
		-drive "file=$img,if=none,id=d0,format=raw,cache=none,aio=io_uring" \
		-device 'virtio-blk-pci,drive=d0,disable-legacy=on,disable-modern=off' </dev/null
}

run_skiff() {
	timeout "$RUN_TIMEOUT" "$SKIFF" run --kernel "$GUEST" --debug-exit --memory 256M \
		--disk "path=$img,cache=none" --cmdline "$BLK_ARGS" </dev/null
}

# One run of SIDE into $tmp/SIDE.N; a run without every RESULT line and
# (for guests) "BENCH done" is reported and left out of the medians.
one_run() {
	local side=$1 n=$2 out=$tmp/$1.$2 rc
	"run_$side" >"$out.raw" 2>"$out.err"
	rc=$?
	tr -d '\r' <"$out.raw" | grep -a '^RESULT \|^BENCH' >"$out.log"
	grep '^RESULT ' "$out.log" >"$out"
	if grep -q '^BENCH-ERROR\|errors=[1-9]' "$out.log" ||
	   { [ "$side" != host ] && ! grep -q '^BENCH done' "$out.log"; } ||
	   { [ "$side" = host ] && [ "$rc" -ne 0 ]; }; then
		say "$side run $n failed (exit $rc):"
		{ grep -a 'BENCH-ERROR\|errors=[1-9]' "$out.log"; tail -5 "$out.raw"; tail -5 "$out.err"; } |
			sed 's/^/#   /' | head -15
		rm -f "$out"
		return
	fi
	grep -h '^BENCH tsc_hz\|^BENCH cpl' "$out.log" | sed "s/^/# $side run $n: /"
}

say "virtio-blk: $BLK_ARGS; median of $RUNS runs"
say "$(uname -r), $(nproc) CPUs, kvm_pvm: $([ -e /sys/module/kvm_pvm ] && echo yes || echo no)"
for side in host qemu skiff; do
	[ -n "${why_not[$side]:-}" ] && say "$side: not run: ${why_not[$side]}"
done
for ((n = 1; n <= RUNS; n++)); do
	for side in host qemu skiff; do
		[ -z "${why_not[$side]:-}" ] && one_run "$side" "$n"
	done
done

# median SIDE METRIC: the median first value of METRIC's RESULT lines, or "-".
median() {
	cat "$tmp/$1".[0-9]* 2>/dev/null |
		awk -v m="$2" '$1 == "RESULT" && $2 == m { split($3, kv, "="); print kv[2] }' |
		sort -g | awk '{ v[NR] = $1 } END {
			if (!NR) { print "-"; exit }
			print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

metrics=$(cat "$tmp"/*.[0-9]* 2>/dev/null | awk '$1 == "RESULT" { print $2 }' | awk '!seen[$0]++')
if [ -z "$metrics" ]; then
	say "no side produced results"
	exit 1
fi
printf '%-14s %-5s %10s %10s %10s %11s %11s\n' metric unit host qemu skiff skiff/qemu skiff/host
for m in $metrics; do
	unit=$(cat "$tmp"/*.[0-9]* | awk -v m="$m" '$2 == m { split($3, kv, "="); print kv[1]; exit }')
	h=$(median host "$m") q=$(median qemu "$m") s=$(median skiff "$m")
	awk -v m="$m" -v u="$unit" -v h="$h" -v q="$q" -v s="$s" 'BEGIN {
		r1 = (s != "-" && q != "-" && q > 0) ? sprintf("%.2fx", s / q) : "-"
		r2 = (s != "-" && h != "-" && h > 0) ? sprintf("%.2fx", s / h) : "-"
		printf "%-14s %-5s %10s %10s %10s %11s %11s\n", m, u, h, q, s, r1, r2 }'
done
