#!/usr/bin/env bash
# e2e: boot the default Linux guest (built by guest/build.sh) twice and run
# skiff-checks in it: 1 vCPU from vmlinux (PVH entry), then 2 vCPUs from the
# bzImage. Each CHECK line the guest prints becomes one TAP result.
# A boot takes minutes on kvm_pvm hosts; each has a 900 s timeout.
set -u
ROOT=${SKIFF_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib.sh"
SKIFF=${SKIFF:-$ROOT/build/skiff}
CACHE=${SKIFF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/skiff}
CUR=$CACHE/guest/current
BOOT_TIMEOUT=${BOOT_TIMEOUT:-900}

# boot NAME CPUS [SKIFF RUN OPTIONS...]: boot, run skiff-checks CPUS, and
# turn the console output into TAP results.
boot() {
	local name=$1 cpus=$2 out start secs rc line n_checks=0
	shift 2
	out=$(mktemp)
	start=$(date +%s)
	timeout "$BOOT_TIMEOUT" "$SKIFF" run --cpus "$cpus" --memory 256M "$@" \
		-- skiff-checks "$cpus" </dev/null 2>&1 | tr -d '\r' >"$out"
	rc=${PIPESTATUS[0]}
	secs=$(($(date +%s) - start))
	echo "# boot took $secs s ($name)"

	case $rc in
	0) ok "$name: skiff exits 0 (guest powered off)" ;;
	124) not_ok "$name: timed out after $BOOT_TIMEOUT s" ;;
	*) not_ok "$name: skiff exited with status $rc" ;;
	esac
	check "$name: banner printed" grep -q 'skiff guest: Linux ' "$out"
	check "$name: command exited with status 0" \
		grep -q 'skiff-init: command exited with status 0' "$out"
	# Kernel messages can share a line with ours: match anywhere.
	while IFS= read -r line; do
		n_checks=$((n_checks + 1))
		line=${line#*CHECK }
		case "$line" in
		*": ok") ok "$name: ${line%: ok}" ;;
		*) not_ok "$name: $line" ;;
		esac
	done < <(grep -oE 'CHECK [A-Za-z0-9_-]+: (ok$|FAIL.*)' "$out")
	[ "$n_checks" -gt 0 ] || not_ok "$name: no CHECK lines in the output"
	check "$name: CHECKS DONE" grep -q 'CHECKS DONE' "$out"

	if [ "$rc" -ne 0 ] || grep -q 'FAIL' "$out" || ! grep -q 'CHECKS DONE' "$out"; then
		echo "# last console lines ($name):"
		tail -n 30 "$out" | sed 's/^/#   /'
	fi
	rm -f "$out"
}

# skip_all WHY: skip both boots, loudly.
skip_all() {
	echo "# SKIPPING Linux boots: $1" >&2
	skip "linux boot, 1 vCPU, vmlinux" "$1"
	skip "linux boot, 2 vCPUs, bzImage" "$1"
	exit 0
}

[ -x "$SKIFF" ] || skip_all "no skiff binary at $SKIFF"
have_kvm || skip_all "/dev/kvm missing or not read/writable"
for f in vmlinux bzImage initramfs.cpio; do
	[ -s "$CUR/$f" ] || skip_all "guest not built ($CUR/$f missing; run guest/build.sh)"
done

boot "1 vCPU, vmlinux" 1
boot "2 vCPUs, bzImage" 2 --kernel "$CUR/bzImage" --initrd "$CUR/initramfs.cpio"
