#!/usr/bin/env bash
# virtio over PCI, end to end: run tests/guests/virtio_io.elf in skiff with
# --disk, --rng and --console virtio, check its PASS/FAIL lines, then check
# on the host what the guest did to the image: its pattern blocks are in the
# file, the WRITE_ZEROES range is zeros, the DISCARD punched holes (the
# sparse image's allocated blocks stay far below what was written), and a
# read-only disk is untouched. A skiff without --disk fails here: these are
# required features. Only a missing /dev/kvm skips.
set -u
ROOT=${SKIFF_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"
SKIFF=${SKIFF:-$ROOT/build/skiff}
GUESTS=${GUESTS:-$ROOT/build/guests}
TIMEOUT=${GUEST_TIMEOUT:-60}
SERIAL=SKIFF0001
IMG_MB=64
SECTORS=$((IMG_MB * 2048))

ALL_CASES="blk+rng readonly console-virtio hostile guest-placed-BARs"

if ! have_kvm; then
	for c in $ALL_CASES; do
		skip "virtio $c" "no usable /dev/kvm"
	done
	exit 0
fi
if [ ! -x "$SKIFF" ]; then
	not_ok "skiff binary at $SKIFF (not built?)"
	exit 1
fi
if ! "$SKIFF" run --help 2>&1 | grep -q -- '--disk'; then
	for c in $ALL_CASES; do
		not_ok "virtio $c: $SKIFF run has no --disk option"
	done
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out err=$tmp/err rc=0

# run_vio SKIFF-ARGS...: run virtio_io.elf with --debug-exit; sets rc, leaves
# stdout (minus CRs) in $out and stderr in $err.
run_vio() {
	local start ms
	if [ ! -f "$GUESTS/virtio_io.elf" ]; then
		echo "# $GUESTS/virtio_io.elf is missing (make guests)"
		: >"$out"; : >"$err"; rc=127
		return
	fi
	start=$(date +%s%N)
	timeout "$TIMEOUT" "$SKIFF" run --kernel "$GUESTS/virtio_io.elf" --debug-exit \
		"$@" >"$out.raw" 2>"$err" </dev/null
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	tr -d '\r' <"$out.raw" >"$out"
	echo "# virtio_io $*: exit $rc, $ms ms"
}

show() {
	sed 's/^/#   out: /' "$out" | head -80
	sed 's/^/#   err: /' "$err" | head -30
}

# want_out DESC FIXED-STRING: a console line has it.
want_out() {
	if grep -qF -- "$2" "$out"; then
		ok "$1"
	else
		not_ok "$1 (no \"$2\")"
		show
	fi
}

# vio_passed DESC: debug-exit 0 (status 1), no FAIL line, summary PASS.
vio_passed() {
	if [ "$rc" -ne 1 ]; then
		not_ok "$1 exits through debug-exit 0 (exit $rc, want 1)"
		show
	else
		ok "$1 exits through debug-exit 0"
	fi
	if grep -q '^FAIL' "$out"; then
		not_ok "$1 guest checks"
		grep '^FAIL' "$out" | sed 's/^/#   /'
	elif grep -q '^virtio_io: [0-9]* checks, 0 failed: PASS$' "$out"; then
		ok "$1 guest checks ($(grep -c '^PASS' "$out") passed)"
	else
		not_ok "$1 guest checks (no summary line)"
		show
	fi
}

# pattern SECTOR: the 4 KiB block virtio_io writes at SECTOR (see its header).
DOTS=$(printf '%.0s.' $(seq 38))
pattern() {
	local i
	for i in $(seq 0 63); do
		printf 'skiff %016x %02d%s\n' "$1" "$i" "$DOTS"
	done
}

# image_range IMG SECTOR COUNT: COUNT sectors of IMG from SECTOR.
image_range() {
	dd if="$1" bs=512 skip="$2" count="$3" status=none
}

new_image() {
	rm -f "$1"
	truncate -s "${IMG_MB}M" "$1"
}

# Where virtio_io writes, as it computes them from the capacity.
mid=$(((SECTORS / 2) & ~7))
last=$((SECTORS - 8))
discard=$(((SECTORS / 4) & ~2047))
wzero=$(((SECTORS / 4 * 3) & ~2047))	# as the guest rounds
base_cl="serial=$SERIAL sectors=$SECTORS"

# 1. blk + rng, O_DIRECT: every check, then the image from the host side.
# (cache=none needs O_DIRECT, which tmpfs lacks: fall back to writeback.)
cache=none
if ! dd if=/dev/zero of="$tmp/direct" bs=4096 count=1 oflag=direct status=none 2>/dev/null; then
	echo "# $tmp has no O_DIRECT: cache=writeback"
	cache=writeback
fi
img=$tmp/rw.img
new_image "$img"
run_vio --disk "path=$img,serial=$SERIAL,cache=$cache" --rng \
	--cmdline "expect=blk,rng $base_cl"
vio_passed "blk+rng"
want_out "blk+rng: GET_ID returns the --disk serial" "PASS: GET_ID returns serial=$SERIAL"
want_out "blk+rng: DISCARD checked" "PASS: discarded range reads back as zeros"
want_out "blk+rng: WRITE_ZEROES checked" "PASS: written-zeroes range reads back as zeros"
want_out "blk+rng: decoding off reads all ones" "memory decoding off: BAR reads 0xffffffff "
want_out "blk+rng: virtio-rng reads differ" "PASS: virtio-rng: two reads differ"
for s in 0 "$mid" "$last"; do
	if cmp -s <(image_range "$img" "$s" 8) <(pattern "$s"); then
		ok "image holds the guest's pattern at sector $s"
	else
		not_ok "image holds the guest's pattern at sector $s"
		image_range "$img" "$s" 1 | od -An -c | head -4 | sed 's/^/#   /'
	fi
done
if cmp -s <(image_range "$img" "$wzero" 128) <(head -c 65536 /dev/zero); then
	ok "image: WRITE_ZEROES range is zeros"
else
	not_ok "image: WRITE_ZEROES range is zeros"
fi
if cmp -s <(image_range "$img" "$discard" 2048) <(head -c 1048576 /dev/zero); then
	ok "image: discarded 1 MiB is zeros"
else
	not_ok "image: discarded 1 MiB is zeros"
fi
# The guest wrote 1 MiB there, then discarded it; what stays allocated is
# the three pattern blocks and the 64 KiB zeroed range (plus slack).
kib=$(($(stat -c '%b * %B' "$img") / 1024))
if [ "$kib" -lt 512 ]; then
	ok "image: DISCARD freed its blocks ($kib KiB allocated, < 512)"
else
	not_ok "image: DISCARD freed its blocks ($kib KiB allocated, want < 512)"
fi

# 1b. Durability: the guest writes and FLUSHes, then waits; skiff is
# killed with SIGKILL (no chance to flush anything itself) and the image
# must hold every flushed write.
img=$tmp/kill.img
new_image "$img"
"$SKIFF" run --kernel "$GUESTS/virtio_io.elf" --debug-exit \
	--disk "path=$img,serial=$SERIAL" --cmdline "expect=blk wait $base_cl" \
	>"$out" 2>"$err" </dev/null &
pid=$!
for _ in $(seq $((TIMEOUT * 10))); do
	grep -q 'virtio_io: WAITING' "$out" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
# While it runs, the image is locked: a second VM on it must not start.
"$SKIFF" run --kernel "$GUESTS/virtio_io.elf" --disk "path=$img" >/dev/null 2>"$tmp/lock.err"
lock_rc=$?
if [ "$lock_rc" -eq 2 ] && grep -q 'locked by another process' "$tmp/lock.err"; then
	ok "a second VM on the same image exits 2 (image locked)"
else
	not_ok "a second VM on the same image exits 2 (exit $lock_rc: $(head -c 200 "$tmp/lock.err"))"
fi
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
if grep -q 'virtio_io: WAITING' "$out"; then
	ok "kill -9: the guest flushed its writes and waited"
else
	not_ok "kill -9: the guest flushed its writes and waited"
	show
fi
for s in 0 "$mid" "$last"; do
	check "kill -9: flushed pattern at sector $s is in the image" \
		cmp -s <(image_range "$img" "$s" 8) <(pattern "$s")
done

# 2. read-only: F_RO offered, writes fail with IOERR, the file is untouched.
img=$tmp/ro.img
new_image "$img"
printf 'read-only image\n' | dd of="$img" conv=notrunc status=none
before=$(md5sum <"$img")
run_vio --disk "path=$img,readonly=on,serial=$SERIAL" \
	--cmdline "expect=blk readonly $base_cl"
vio_passed "readonly"
want_out "readonly: VIRTIO_BLK_F_RO offered" "PASS: VIRTIO_BLK_F_RO offered"
want_out "readonly: writes fail" "PASS: read-only: write at sector 0 fails (status 1)"
check "readonly: the image is unchanged" [ "$(md5sum <"$img")" = "$before" ]

# 3. --console virtio: no UART, every line over virtio-console port 0.
img=$tmp/con.img
new_image "$img"
run_vio --console virtio --disk "path=$img,serial=$SERIAL,cache=writeback" --rng \
	--cmdline "expect=blk,rng,console $base_cl"
vio_passed "console virtio"
want_out "console virtio: the guest saw no COM1" "COM1 absent"
want_out "console virtio: early lines replayed" "pci 00:00.0"
want_out "console virtio: port 0 live" "PASS: virtio-console status 0xf after DRIVER_OK"

# 4. hostile: a chain with next >= queue size; skiff sets DEVICE_NEEDS_RESET,
# keeps running, and the device works after a reset.
img=$tmp/hostile.img
new_image "$img"
run_vio --disk "path=$img,serial=$SERIAL" --cmdline "expect=blk hostile $base_cl"
vio_passed "hostile"
want_out "hostile: DEVICE_NEEDS_RESET set" "sets DEVICE_NEEDS_RESET"
want_out "hostile: works after a reset" "PASS: hostile: a read works after the reset"

# 5. BARs the guest places itself (firmware that assigned none): virtio_io
# clears them, then every device must work at the addresses it chose.
img=$tmp/placed.img
new_image "$img"
run_vio --disk "path=$img,serial=$SERIAL" --rng --cmdline "expect=blk,rng unassign $base_cl"
vio_passed "guest-placed BARs"
want_out "guest-placed BARs: cleared first" "pci: virtio BARs cleared"
