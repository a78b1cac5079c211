#!/usr/bin/env bash
# e2e: boot the default Linux guest (built by guest/build.sh) twice and run
# skiff-checks in it: 1 vCPU from vmlinux (PVH entry), then 2 vCPUs from the
# bzImage. Each CHECK line the guest prints becomes one TAP result.
# A boot takes minutes on kvm_pvm hosts; each has a 900 s timeout.
#
# Both boots share a fresh sparse disk image (virtio-blk): the first makes
# an ext4 filesystem on it, writes files (busybox and 1 MiB read from
# virtio-rng's /dev/hwrng) and their checksums; the second, on the
# virtio console instead of the UART, reads them back, deletes them and
# runs fstrim, after which the image must be sparser again.
set -u
ROOT=${SKIFF_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib.sh"
SKIFF=${SKIFF:-$ROOT/build/skiff}
CACHE=${SKIFF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/skiff}
CUR=$CACHE/guest/current
BOOT_TIMEOUT=${BOOT_TIMEOUT:-900}

# boot NAME CPUS MODE TASKS [SKIFF RUN OPTIONS...]: boot, run skiff-checks CPUS TASKS,
# and turn the console output into TAP results. MODE "exit": the command
# ends and the guest powers off. MODE "button": the guest then waits, and
# the test sends SIGTERM, which must power it off through the ACPI power
# button (acpid in the guest), status 0.
boot() {
	local name=$1 cpus=$2 mode=$3 out start secs rc line n_checks=0 pid i watchdog
	local cmd="skiff-checks $cpus $4"
	shift 4
	[ "$mode" = button ] && cmd="$cmd; echo SKIFF-E2E-WAITING; sleep 600"
	out=$(mktemp)
	start=$(date +%s)
	# skiff runs directly (no timeout(1)), so the SIGTERM below is its
	# own; a watchdog kills it if it hangs.
	"$SKIFF" run -v --cpus "$cpus" --memory 256M --shutdown-timeout 120 \
		"$@" -- "$cmd" </dev/null >"$out" 2>&1 &
	pid=$!
	(sleep "$BOOT_TIMEOUT"; kill -9 $pid 2>/dev/null) &
	watchdog=$!
	if [ "$mode" = button ]; then
		for i in $(seq "$BOOT_TIMEOUT"); do
			grep -q '^SKIFF-E2E-WAITING' "$out" && break
			kill -0 $pid 2>/dev/null || break
			sleep 1
		done
		kill -TERM $pid 2>/dev/null
	fi
	wait $pid
	rc=$?
	kill $watchdog 2>/dev/null
	[ "$rc" -eq 137 ] && rc=124	# the watchdog fired
	secs=$(($(date +%s) - start))
	tr -d '\r' <"$out" >"$out.txt"
	mv "$out.txt" "$out"
	echo "# boot took $secs s ($name)"

	case $rc in
	0) ok "$name: skiff exits 0 (guest powered off)" ;;
	124) not_ok "$name: timed out after $BOOT_TIMEOUT s" ;;
	*) not_ok "$name: skiff exited with status $rc" ;;
	esac
	check "$name: banner printed" grep -q 'skiff guest: Linux ' "$out"
	if [ "$mode" = button ]; then
		check "$name: SIGTERM powered the guest off through the ACPI button" \
			grep -q 'pressing the ACPI power button' "$out"
		check "$name: the guest went through S5" grep -q 'entered S5' "$out"
	else
		check "$name: command exited with status 0" \
			grep -q 'skiff-init: command exited with status 0' "$out"
	fi
	case "$*" in
	*bzImage*)
		# skiff must inflate the payload itself, not run the guest's
		# decompressor.
		check "$name: bzImage payload decompressed on the host" \
			grep -q 'decompressed on the host' "$out" ;;
	*)
		check "$name: PVH entry used" grep -q 'kernel: PVH ELF' "$out" ;;
	esac
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
	skip "linux boot, 1 vCPU, vmlinux, disk write" "$1"
	skip "linux boot, 2 vCPUs, bzImage, virtio console, disk read-back" "$1"
	exit 0
}

[ -x "$SKIFF" ] || skip_all "no skiff binary at $SKIFF"
have_kvm || skip_all "/dev/kvm missing or not read/writable"
for f in vmlinux bzImage initramfs.cpio; do
	[ -s "$CUR/$f" ] || skip_all "guest not built ($CUR/$f missing; run guest/build.sh)"
done

# Allocated KiB of a file (sparse files allocate less than their size).
allocated_kib() {
	echo $(($(stat -c '%b * %B' "$1") / 1024))
}

img=$(mktemp /tmp/skiff-e2e-XXXXXX.img)
trap 'rm -f "$img"' EXIT
truncate -s 256M "$img"
disk=(--disk "path=$img,serial=SKIFF-E2E" --rng)

# The power button needs acpid to start a handler while the command's
# process lives: on kvm_pvm that is only reliable with one vCPU (README,
# known issue), so the SIGTERM path is checked on the 1-vCPU boot.
boot "1 vCPU, vmlinux, SIGTERM" 1 button "disk-write hwrng" "${disk[@]}"
after_write=$(allocated_kib "$img")
echo "# image: $after_write KiB allocated after mkfs and writes"
boot "2 vCPUs, bzImage, virtio console" 2 exit "disk-verify" \
	--kernel "$CUR/bzImage" --initrd "$CUR/initramfs.cpio" --console virtio "${disk[@]}"
after_trim=$(allocated_kib "$img")
echo "# image: $after_trim KiB allocated after deleting the files and fstrim"
# The files were 3 MiB; fstrim must have punched (most of) them out.
check "disk image sparser after fstrim ($after_write -> $after_trim KiB)" \
	test "$after_trim" -le $((after_write - 2048))
check "disk image still sparse (256 MiB, $after_trim KiB allocated)" \
	test "$after_trim" -lt $((64 * 1024))
