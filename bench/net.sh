#!/usr/bin/env bash
# virtio-net throughput, side by side: the same guest (bench/net_guest.elf,
# its loop at CPL3, TSC timing calibrated against the ACPI PM timer) under
# QEMU q35 (virtio-net-pci, disable-legacy=on) and under skiff. The tap
# phases put both on one tap (QEMU: vhost=off; skiff: --net tap=...), used
# in turn; the user-* phases put them on user-mode networking (QEMU:
# -netdev user; skiff: --net user; both libslirp, 10.0.2.0/24). Phases:
#   tx64, tx1514  the guest keeps its transmit ring full for SECONDS_PER;
#                 the host counts what the tap got (its rx_packets and
#                 rx_bytes) over the guest's own measured time. The guest's
#                 count is shown too (*-guest): a gap means lost frames.
#   rx64, rx1514  the host floods the tap with frames (tapio flood:
#                 AF_PACKET, sendmmsg, no qdisc) from the moment the guest
#                 says it is ready; the guest counts what it receives.
#                 *-offered is what the host tried to send per second,
#                 whether the tap took it or dropped it (queue full: the
#                 VMM did not keep up). Offered close to received means
#                 the flood, not the VMM, set the pace.
#   user-udp1472, user-udp64
#                 UDP through user-mode networking, guest to host: the
#                 guest answers its own ARP and keeps its transmit ring
#                 full of IPv4/UDP datagrams with a 1472- or 64-byte
#                 payload (1472: full 1514-byte frames) from 10.0.2.15 to
#                 10.0.2.2:PORT for SECONDS_PER; slirp sends them on to
#                 the host's 127.0.0.1:PORT, where a receiver (python3)
#                 counts them. user-udpN is payload Mbit/s and
#                 user-udpN-recv datagrams/s that reached the host's
#                 socket, over the guest's own measured time; -sent is
#                 what the guest's ring took per second. A gap between
#                 them means drops: slirp or the VMM could not keep up
#                 (datagrams the receiving socket overflowed on, shown per
#                 run, did reach the host and count as received). No
#                 root or tap needed.
# The issue asked for TCP through user-mode networking (QEMU's -nic user);
# that needs a guest with a TCP stack, and neither VMM boots the Linux
# guest here (QEMU dies on kvm_pvm), so user-mode networking is measured
# with UDP, which the CPL3 guest builds by hand.
# 64-byte tap phases report frames per second, 1514-byte ones Mbit/s of
# Ethernet frame (10^6 bit/s, without the virtio-net header or FCS).
# Prints the median of RUNS runs per side and the ratio skiff/QEMU. A side
# that cannot run says why and shows as "-".
#
# The tap has no address, no route and no IPv6: nothing it carries goes
# anywhere but the VM and tapio. It is deleted on exit. Needs root. The
# user phases' traffic stays on the host's loopback (slirp maps 10.0.2.2
# to 127.0.0.1), and their receiver binds 127.0.0.1 alone.
# On two host CPUs the flood, the VMM's I/O thread and the guest's vCPU
# share them: rx numbers are what a busy host gives, for both sides alike.
#
# usage: bench/net.sh [BUILD_DIR]
#   RUNS=N            runs per side (default 3)
#   SECONDS_PER=S     seconds per phase (default 5)
#   PHASES="..."      any of tx64 tx1514 rx64 rx1514 user-udp1472 user-udp64
#                     (default all; user-udpN takes any payload 18..1472)
#   SKIFF=PATH        a skiff binary to use (default: BUILD_DIR/skiff, built)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$ROOT/build}" 2>/dev/null && pwd || echo "${1:-$ROOT/build}")
RUNS=${RUNS:-3}
SECONDS_PER=${SECONDS_PER:-5}
PHASES=${PHASES:-"tx64 tx1514 rx64 rx1514 user-udp1472 user-udp64"}
SKIFF=${SKIFF:-}
GUEST=$B/bench/net_guest.elf
TAPIO=$B/bench/tapio
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
MAC=52:54:00:12:34:56
TAP=sknb$$

say() { echo "# $*"; }

mkdir -p "$B/bench" || exit 1
: >"$B/bench/net-make.log"
if [ -z "$SKIFF" ]; then
	SKIFF=$B/skiff
	make -s -C "$ROOT" O="$B" all >/dev/null 2>"$B/bench/net-make.log" ||
		say "skiff build failed (see $B/bench/net-make.log); the skiff side may not run"
fi
if ! make -s -C "$ROOT/bench" O="$B/bench" >/dev/null 2>>"$B/bench/net-make.log"; then
	say "bench tools failed to build:"
	sed 's/^/#   /' "$B/bench/net-make.log" | tail -20
	exit 1
fi

# Which phases are asked for: the tap ones, the user-mode ones.
want_tap='' want_user=''
for phase in $PHASES; do
	case $phase in
	tx*|rx*) want_tap=1;;
	user-*) want_user=1;;
	esac
done

# Which sides can run, and why not: why_not[SIDE] for every phase,
# why_not[SIDE.tap] and why_not[SIDE.user] for one kind of phase.
declare -A why_not=()
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/net/tun ] || ! command -v ip >/dev/null; then
	why_not[qemu.tap]="needs root, /dev/net/tun and ip(8) for a tap"
	why_not[skiff.tap]=${why_not[qemu.tap]}
fi
if ! command -v python3 >/dev/null; then
	why_not[qemu.user]="needs python3 for the host's UDP receiver"
	why_not[skiff.user]=${why_not[qemu.user]}
fi
if ! [ -c /dev/kvm ] || ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	why_not[qemu]="no usable /dev/kvm"; why_not[skiff]="no usable /dev/kvm"
fi
if ! command -v qemu-system-x86_64 >/dev/null; then
	why_not[qemu]="qemu-system-x86_64 not installed"
elif [ -n "$want_user" ] && [ -z "${why_not[qemu.user]:-}" ] &&
     ! qemu-system-x86_64 -netdev help 2>/dev/null | grep -qx user; then
	why_not[qemu.user]="this QEMU has no -netdev user (built without libslirp)"
fi
if [ -z "${why_not[skiff]:-}" ]; then
	if [ ! -x "$SKIFF" ]; then
		why_not[skiff]="no skiff binary at $SKIFF"
	elif ! "$SKIFF" run --help 2>&1 | grep -q -- '--net'; then
		why_not[skiff]="$SKIFF has no --net option yet"
	elif ! "$SKIFF" run --help 2>&1 | grep -q -- '--net .*|user'; then
		why_not[skiff.user]=${why_not[skiff.user]:-"$SKIFF has no --net user yet"}
	fi
fi

# can_run SIDE KIND: no reason against SIDE for phases of KIND (tap, user).
can_run() { [ -z "${why_not[$1]:-}" ] && [ -z "${why_not[$1.$2]:-}" ]; }

tmp=$(mktemp -d)
bg=()
cleanup() {
	local p
	for p in "${bg[@]}"; do
		kill "$p" 2>/dev/null
	done
	ip link del "$TAP" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ -n "$want_tap" ] && { can_run qemu tap || can_run skiff tap; }; then
	if ! ip tuntap add mode tap name "$TAP" ||
	   ! sysctl -qw "net.ipv6.conf.$TAP.disable_ipv6=1" ||
	   ! ip link set "$TAP" up; then
		why_not[qemu.tap]="could not create tap $TAP"
		why_not[skiff.tap]=${why_not[qemu.tap]}
	fi
fi

# run_SIDE CMDLINE [user]: the guest on the tap, or on user-mode networking.
run_qemu() {
	local netdev="tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=off"

	[ "${2:-}" = user ] && netdev="user,id=n0"
	timeout "$RUN_TIMEOUT" qemu-system-x86_64 -enable-kvm -cpu 'host,-arch-capabilities' \
		-M q35 -m 256M -nographic -nodefaults -no-user-config -serial stdio \
		-no-reboot -device 'isa-debug-exit,iobase=0xf4,iosize=4' \
		-kernel "$GUEST" -append "$1" \
		-netdev "$netdev" \
		-device "virtio-net-pci,netdev=n0,disable-legacy=on,mac=$MAC,romfile=" </dev/null
}

run_skiff() {
	local net="tap=$TAP"

	[ "${2:-}" = user ] && net="user"
	timeout "$RUN_TIMEOUT" "$SKIFF" run --kernel "$GUEST" --debug-exit --memory 256M \
		--net "$net,mac=$MAC" --cmdline "$1" </dev/null
}

stat_of() { cat "/sys/class/net/$TAP/statistics/$1"; }

# guest_ok OUT: the guest finished and printed its RESULT.
guest_ok() {
	tr -d '\r' <"$1.raw" | grep -a '^RESULT \|^BENCH' >"$1.log"
	grep -q '^BENCH done' "$1.log" && grep -q '^RESULT ' "$1.log" &&
		! grep -q '^BENCH-ERROR' "$1.log"
}

run_failed() {
	say "$1 failed (exit $2):"
	{ grep -a 'BENCH-ERROR' "$3.log"; tr -d '\r' <"$3.raw" | tail -5; tail -5 "$3.err"; } |
		sed 's/^/#   /' | head -15
}

# field LINE KEY: the value of KEY=... on LINE.
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# tx_run SIDE LEN OUT: the guest sends; the tap's counters say what arrived.
tx_run() {
	local side=$1 len=$2 out=$3 p0 b0 rc line us pk by
	p0=$(stat_of rx_packets) b0=$(stat_of rx_bytes)
	"run_$side" "mode=tx len=$len seconds=$SECONDS_PER" >"$out.raw" 2>"$out.err"
	rc=$?
	pk=$(($(stat_of rx_packets) - p0)) by=$(($(stat_of rx_bytes) - b0))
	if ! guest_ok "$out"; then
		run_failed "$side tx$len" "$rc" "$out"
		return 1
	fi
	line=$(grep '^RESULT ' "$out.log")
	us=$(field "$line" us)
	if [ "$len" -le 128 ]; then
		echo "RESULT tx$len pps=$((pk * 1000000 / us))"
		echo "RESULT tx$len-guest pps=$(field "$line" pps)"
	else
		echo "RESULT tx$len mbps=$(awk -v b="$by" -v u="$us" 'BEGIN { printf "%.1f", b * 8 / u }')"
		echo "RESULT tx$len-guest mbps=$(field "$line" mbps)"
	fi >"$out.res"
	say "$side tx$len: guest sent $(field "$line" frames) frames, the tap got $pk"
}

# rx_run SIDE LEN OUT: the host floods from "BENCH READY" on; the guest counts.
rx_run() {
	local side=$1 len=$2 out=$3 vm fl rc i line flood sent dropped secs
	"run_$side" "mode=rx len=$len seconds=$SECONDS_PER" >"$out.raw" 2>"$out.err" &
	vm=$!
	bg+=("$vm")
	for ((i = 0; i < RUN_TIMEOUT * 10; i++)); do
		tr -d '\r' 2>/dev/null <"$out.raw" | grep -q 'BENCH READY' && break
		kill -0 "$vm" 2>/dev/null || break
		sleep 0.1
	done
	"$TAPIO" flood "$TAP" "$MAC" "$len" $((SECONDS_PER + 30)) >"$out.flood" 2>&1 &
	fl=$!
	bg+=("$fl")
	wait "$vm"
	rc=$?
	kill "$fl" 2>/dev/null
	wait "$fl" 2>/dev/null
	if ! guest_ok "$out"; then
		run_failed "$side rx$len" "$rc" "$out"
		return 1
	fi
	line=$(grep '^RESULT ' "$out.log")
	flood=$(grep '^tapio: flood' "$out.flood")
	sent=$(field "$flood" sent) dropped=$(field "$flood" dropped) secs=$(field "$flood" seconds)
	# offered: what the host tried to hand the tap, taken or dropped.
	if [ "$len" -le 128 ]; then
		echo "RESULT rx$len pps=$(field "$line" pps)"
		echo "RESULT rx$len-offered pps=$(awk -v s="$sent" -v d="$dropped" -v t="$secs" \
			'BEGIN { printf "%d", (s + d) / t }')"
	else
		echo "RESULT rx$len mbps=$(field "$line" mbps)"
		echo "RESULT rx$len-offered mbps=$(awk -v s="$sent" -v d="$dropped" -v t="$secs" \
			-v l="$len" 'BEGIN { printf "%.1f", (s + d) * l * 8 / t / 1e6 }')"
	fi >"$out.res"
	say "$side rx$len: guest got $(field "$line" frames) ($(field "$line" bad) of another" \
		"length); the tap took $sent from the host and dropped $dropped (queue full)"
}

# The host's end of the user phases: a UDP socket on 127.0.0.1 (a free
# port, printed first) that reads and counts datagrams until one shorter
# than the guest's smallest (18 bytes) says stop, then prints how many
# it read, their bytes and how many the socket dropped for want of room
# (/proc/net/udp; they reached the host all the same). A big receive
# buffer so that a receiver in python falls behind as little as it can.
UDPSINK='
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for opt in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
    try:
        s.setsockopt(socket.SOL_SOCKET, opt, 16 << 20)
        break
    except OSError:
        pass
s.bind(("127.0.0.1", 0))
print("udpsink port=%d" % s.getsockname()[1], flush=True)
buf = bytearray(65536)
recv = s.recv_into
n = nbytes = 0
while True:
    k = recv(buf)
    if k < 18:
        break
    n += 1
    nbytes += k
ino, drops = str(os.fstat(s.fileno()).st_ino), 0
with open("/proc/net/udp") as f:
    for w in map(str.split, f):
        if len(w) > 12 and w[9] == ino:
            drops = int(w[-1])
print("udpsink got=%d bytes=%d drops=%d" % (n, nbytes, drops), flush=True)
'

# user_run SIDE LEN OUT: the guest sends UDP through slirp to the receiver.
user_run() {
	local side=$1 len=$2 out=$3 sink port rc i line us got bytes drops pk
	python3 -c "$UDPSINK" >"$out.sink" 2>&1 &
	sink=$!
	bg+=("$sink")
	for ((i = 0; i < 100; i++)); do
		port=$(sed -n 's/^udpsink port=//p' "$out.sink")
		[ -n "$port" ] && break
		kill -0 "$sink" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		say "$side user-udp$len: the UDP receiver did not start:"
		sed 's/^/#   /' "$out.sink" | tail -5
		kill "$sink" 2>/dev/null
		return 1
	fi
	"run_$side" "mode=udp len=$len port=$port seconds=$SECONDS_PER" user \
		>"$out.raw" 2>"$out.err"
	rc=$?
	# The stop datagram (1 byte), again until the receiver is gone: a
	# socket that is still full drops it.
	for ((i = 0; i < 100; i++)); do
		kill -0 "$sink" 2>/dev/null || break
		{ printf x >"/dev/udp/127.0.0.1/$port"; } 2>/dev/null
		sleep 0.1
	done
	kill "$sink" 2>/dev/null
	wait "$sink" 2>/dev/null
	if ! guest_ok "$out"; then
		run_failed "$side user-udp$len" "$rc" "$out"
		return 1
	fi
	line=$(grep '^udpsink got=' "$out.sink")
	if [ -z "$line" ]; then
		say "$side user-udp$len: the UDP receiver did not report"
		return 1
	fi
	got=$(field "$line" got) bytes=$(field "$line" bytes) drops=$(field "$line" drops)
	pk=$((got + drops))
	line=$(grep '^RESULT ' "$out.log")
	us=$(field "$line" us)
	{
		echo "RESULT user-udp$len mbps=$(awk -v b="$((bytes + drops * len))" -v u="$us" \
			'BEGIN { printf "%.1f", b * 8 / u }')"
		echo "RESULT user-udp$len-recv dgps=$((pk * 1000000 / us))"
		echo "RESULT user-udp$len-sent dgps=$(field "$line" pps)"
	} >"$out.res"
	say "$side user-udp$len: guest sent $(field "$line" frames) datagrams, the host's socket" \
		"got $pk ($drops of them dropped there, its buffer full: the receiver fell behind)"
}

# one_run SIDE PHASE N: RESULT lines into $tmp/SIDE.N.PHASE.res.
one_run() {
	local dir=${2:0:2} len=${2:2}
	case $2 in
	user-udp*) user_run "$1" "${2#user-udp}" "$tmp/$1.$3.$2";;
	*) "${dir}_run" "$1" "$len" "$tmp/$1.$3.$2";;
	esac
}

say "virtio-net on a tap and on user-mode networking: $PHASES, $SECONDS_PER s each;" \
	"median of $RUNS runs"
say "$(uname -r), $(nproc) CPUs, kvm_pvm: $([ -e /sys/module/kvm_pvm ] && echo yes || echo no)"
say "user-mode networking is measured with UDP, not TCP: neither VMM boots a" \
	"guest with a TCP stack here"
for side in qemu skiff; do
	[ -n "${why_not[$side]:-}" ] && say "$side: not run: ${why_not[$side]}"
	[ -z "${why_not[$side]:-}" ] && [ -n "$want_tap" ] && [ -n "${why_not[$side.tap]:-}" ] &&
		say "$side: tap phases not run: ${why_not[$side.tap]}"
	[ -z "${why_not[$side]:-}" ] && [ -n "$want_user" ] && [ -n "${why_not[$side.user]:-}" ] &&
		say "$side: user phases not run: ${why_not[$side.user]}"
done
for ((n = 1; n <= RUNS; n++)); do
	for phase in $PHASES; do
		case $phase in
		tx64|tx1514|rx64|rx1514) kind=tap;;
		user-udp[0-9]*)
			kind=user
			len=${phase#user-udp}
			if [[ ! $len =~ ^[0-9]+$ ]] || ((10#$len < 18 || 10#$len > 1472)); then
				say "bad phase $phase (user-udpN: a payload of 18..1472 bytes)"
				continue
			fi;;
		*) say "unknown phase $phase (want tx64 tx1514 rx64 rx1514 user-udp1472" \
			"user-udp64)"; continue;;
		esac
		for side in qemu skiff; do
			can_run "$side" "$kind" && one_run "$side" "$phase" "$n"
		done
	done
done

# median SIDE METRIC: the median value of METRIC's RESULT lines, or "-".
median() {
	cat "$tmp/$1".*.res 2>/dev/null |
		awk -v m="$2" '$1 == "RESULT" && $2 == m { split($3, kv, "="); print kv[2] }' |
		sort -g | awk '{ v[NR] = $1 } END {
			if (!NR) { print "-"; exit }
			print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

metrics=$(cat "$tmp"/*.res 2>/dev/null | awk '$1 == "RESULT" { print $2 }' | awk '!seen[$0]++')
if [ -z "$metrics" ]; then
	say "no side produced results"
	exit 1
fi
printf '%-18s %-5s %12s %12s %11s\n' metric unit qemu skiff skiff/qemu
for m in $metrics; do
	unit=$(cat "$tmp"/*.res | awk -v m="$m" '$2 == m { split($3, kv, "="); print kv[1]; exit }')
	q=$(median qemu "$m") s=$(median skiff "$m")
	awk -v m="$m" -v u="$unit" -v q="$q" -v s="$s" 'BEGIN {
		r = (s != "-" && q != "-" && q > 0) ? sprintf("%.2fx", s / q) : "-"
		printf "%-18s %-5s %12s %12s %11s\n", m, u, q, s, r }'
done
