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
#
# Networking (virtio-net): the first boot runs in a network namespace the
# test creates, on a tap whose host end is 192.168.77.1 there: the guest
# pings it and moves 4 MiB each way over TCP. The second uses user-mode
# networking: DHCP, 4 MiB to a server on the host's loopback, 4 MiB back
# in through a port forward, and a name resolved through the DNS
# forwarder by a resolver the test runs; with root it also has a second
# NIC on a multiqueue tap, loaded by one sender per vCPU. It runs in the
# first boot's namespace then. No traffic leaves this machine.
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
	"${BOOT_PREFIX[@]}" "$SKIFF" run -v --cpus "$cpus" --memory 256M --shutdown-timeout 120 \
		"$@" -- "$cmd" </dev/null >"$out" 2>&1 &
	pid=$!
	# BOOT_HOOK, if set, runs alongside with the console file.
	[ -n "${BOOT_HOOK:-}" ] && "$BOOT_HOOK" "$out" &
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
	cp "$out" "$tmpd/last-boot.out"

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
	skip "tap networking" "$1"
	skip "user-mode networking" "$1"
	skip "tap multiqueue on 2 vCPUs" "$1"
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

tmpd=$(mktemp -d /tmp/skiff-e2e-XXXXXX)
ns=skiffe2e$$
cleanup() {
	ip netns del "$ns" 2>/dev/null
	kill $(jobs -p) 2>/dev/null
	rm -rf "$tmpd"
}
trap cleanup EXIT
img=$tmpd/disk.img
truncate -s 256M "$img"
disk=(--disk "path=$img,serial=SKIFF-E2E" --rng)
NETPEER=$ROOT/tests/e2e/netpeer.py
# What the host sends the guest: 3 MiB of random bytes.
head -c 3145728 /dev/urandom >"$tmpd/to-guest"
to_guest_md5=$(md5sum <"$tmpd/to-guest" | cut -d' ' -f1)

# wait_marker FILE WORD: until a console line starts with WORD (or 900 s),
# then a few seconds more: the guest prints it just before starting its
# listener, and user-mode networking accepts a host connection before the
# guest's listener exists (the data would be lost).
wait_marker() {
	for _ in $(seq 900); do
		if grep -q "$2" "$1" 2>/dev/null; then
			sleep 5
			return 0
		fi
		sleep 1
	done
	return 1
}

# check_transfers NAME: what the guest sent arrived, what it got was ours.
check_transfers() {
	local out=$tmpd/last-boot.out sent recv got
	# Kernel messages can share a line with ours: match anywhere.
	sent=$(grep -oE 'NETSENT [0-9a-f]{32}' "$out" | tail -1 | cut -d' ' -f2)
	recv=$(grep -oE 'NETRECV [0-9a-f]{32}' "$out" | tail -1 | cut -d' ' -f2)
	got=$(cut -d' ' -f3 "$tmpd/peer.out" 2>/dev/null)
	check "$1: 4 MiB guest -> host over TCP arrived byte for byte" \
		test -n "$sent" -a "$sent" = "$got"
	check "$1: 3 MiB host -> guest over TCP arrived byte for byte" \
		test -n "$recv" -a "$recv" = "$to_guest_md5"
	[ -n "$recv" ] && [ "$recv" = "$to_guest_md5" ] ||
		echo "# $1: guest got '$(grep -oE 'NETRECV [0-9a-f]{32} [0-9]+' "$out" | tail -1)'," \
			"host sent $to_guest_md5; sender: $(cat "$tmpd/sender.out" 2>/dev/null)"
	[ -n "$sent" ] && [ "$sent" = "$got" ] ||
		echo "# $1: guest sent '$sent'; receiver: $(cat "$tmpd/peer.out" 2>/dev/null)"
}

# check_multiqueue: both of boot 2's senders arrived whole, and each of
# the tap's queue pairs carried frames both ways (skiff's exit log).
check_multiqueue() {
	local out=$tmpd/last-boot.out sent i line tx rx
	sent=$(grep -oE 'NETSENT-MQ [0-9a-f]{32}' "$out" | tail -1 | cut -d' ' -f2)
	for i in 0 1; do
		check "tap multiqueue: the sender on vCPU $i arrived byte for byte" \
			test -n "$sent" -a "$sent" = "$(cut -d' ' -f3 "$tmpd/mq$i.out" 2>/dev/null)"
		line=$(grep -oE "virtio-net1: queue pair $i: sent [0-9]+ frames, received [0-9]+" "$out")
		tx=$(echo "$line" | awk '{print $6}')
		rx=$(echo "$line" | awk '{print $9}')
		echo "# tap multiqueue, queue pair $i: ${tx:-?} frames from the guest, ${rx:-?} to it"
		check "tap multiqueue: queue pair $i carried frames both ways" \
			test "${tx:-0}" -ge 10 -a "${rx:-0}" -ge 10
	done
}

# Boot 1's network: a tap in a namespace of our own, host end .1.
tap_hook() {
	wait_marker "$1" "NET-LISTEN 6666" &&
		ip netns exec "$ns" "$NETPEER" send 192.168.77.2 6666 "$tmpd/to-guest" \
			>"$tmpd/sender.out" 2>&1
}

# Boot 2's network: user mode; the host end is loopback.
user_hook() {
	wait_marker "$1" "NET-LISTEN 6667" &&
		"${NSX[@]}" "$NETPEER" send 127.0.0.1 "$fwd_port" "$tmpd/to-guest" \
			>"$tmpd/sender.out" 2>&1
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

tap_opts=()
tap_task=
BOOT_PREFIX=()
if [ "$(id -u)" -eq 0 ] && [ -c /dev/net/tun ] && ip netns add "$ns" 2>/dev/null; then
	ip netns exec "$ns" ip tuntap add mode tap name ske2e0
	ip netns exec "$ns" ip addr add 192.168.77.1/24 dev ske2e0
	ip netns exec "$ns" ip link set ske2e0 up
	ip netns exec "$ns" "$NETPEER" recv 5555 "$tmpd/from-guest" >"$tmpd/peer.out" &
	tap_opts=(--net tap=ske2e0)
	tap_task=net-tap
	BOOT_PREFIX=(ip netns exec "$ns")
	BOOT_HOOK=tap_hook
else
	echo "# SKIPPING the tap network checks: needs root, /dev/net/tun and ip netns" >&2
	skip "tap networking" "needs root, /dev/net/tun and ip netns"
fi

# The power button needs acpid to start a handler while the command's
# process lives: on kvm_pvm that is only reliable with one vCPU (README,
# known issue), so the SIGTERM path is checked on the 1-vCPU boot.
boot "1 vCPU, vmlinux, SIGTERM" 1 button "disk-write hwrng $tap_task" \
	"${disk[@]}" "${tap_opts[@]}"
[ -n "$tap_task" ] && check_transfers "tap"
after_write=$(allocated_kib "$img")
echo "# image: $after_write KiB allocated after mkfs and writes"

# Boot 2 runs in the test's namespace too when there is one: its loopback
# is the host end of user-mode networking, and a second NIC, a tap with two
# queue pairs (ske2e1, host end 192.168.78.1), takes a sender per vCPU.
NSX=()
mq_task=
mq_opts=()
if [ -n "$tap_task" ]; then
	NSX=(ip netns exec "$ns")
	"${NSX[@]}" ip link set lo up
	"${NSX[@]}" ip tuntap add mode tap multi_queue name ske2e1
	"${NSX[@]}" ip addr add 192.168.78.1/24 dev ske2e1
	"${NSX[@]}" ip link set ske2e1 up
	"${NSX[@]}" "$NETPEER" recv 5556 "$tmpd/mq0" 192.168.78.1 >"$tmpd/mq0.out" &
	"${NSX[@]}" "$NETPEER" recv 5557 "$tmpd/mq1" 192.168.78.1 >"$tmpd/mq1.out" &
	mq_task=net-mq:5556
	mq_opts=(--net tap=ske2e1,queues=2)
else
	skip "tap multiqueue on 2 vCPUs" "needs root, /dev/net/tun and ip netns"
fi
BOOT_PREFIX=("${NSX[@]}")
peer_port=$(free_port)
fwd_port=$(free_port)
"${NSX[@]}" "$NETPEER" recv "$peer_port" "$tmpd/from-guest" 127.0.0.1 >"$tmpd/peer.out" &
# DNS forwarding: skiff runs in a mount namespace whose /etc/resolv.conf
# names a resolver of ours on 127.0.0.77 that knows one name; the guest
# asks 10.0.2.3 for it. No query leaves this machine.
dns_task=
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && [ -e /etc/resolv.conf ]; then
	echo "nameserver 127.0.0.77" >"$tmpd/resolv.conf"
	"${NSX[@]}" "$NETPEER" dns 127.0.0.77 53 skiff-e2e.test 192.0.2.77 >"$tmpd/dns.out" 2>&1 &
	dns_pid=$!
	BOOT_PREFIX=("${NSX[@]}" unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
		"$tmpd/resolv.conf")
	dns_task=dns:skiff-e2e.test:192.0.2.77
else
	echo "# SKIPPING the DNS forwarding check: needs root and unshare" >&2
	skip "user-mode DNS forwarding" "needs root and unshare"
fi
BOOT_HOOK=user_hook
boot "2 vCPUs, bzImage, virtio console" 2 exit \
	"disk-verify net-user:$peer_port $dns_task $mq_task" \
	--kernel "$CUR/bzImage" --initrd "$CUR/initramfs.cpio" --console virtio "${disk[@]}" \
	--net "user,hostfwd=tcp:127.0.0.1:$fwd_port-:6667" "${mq_opts[@]}"
check_transfers "user"
if [ -n "$dns_task" ]; then
	kill "$dns_pid" 2>/dev/null
	check "user: the guest's DNS query reached the host's resolver through skiff" \
		grep -q '^DNS-QUERY skiff-e2e.test 1' "$tmpd/dns.out"
fi
[ -n "$mq_task" ] && check_multiqueue
after_trim=$(allocated_kib "$img")
echo "# image: $after_trim KiB allocated after deleting the files and fstrim"
# The files were 4 MiB; fstrim must have punched (most of) them out.
check "disk image sparser after fstrim ($after_write -> $after_trim KiB)" \
	test "$after_trim" -le $((after_write - 2048))
check "disk image still sparse (256 MiB, $after_trim KiB allocated)" \
	test "$after_trim" -lt $((64 * 1024))
