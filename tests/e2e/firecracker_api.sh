#!/usr/bin/env bash
# e2e: Firecracker's getting-started sequence of curl calls, unchanged
# (logger, boot-source with "pci=off" in boot_args, a root drive, machine
# config, InstanceStart), against `skiff serve`, booting the default Linux
# guest's vmlinux from an ext4 root filesystem made from its initramfs; no
# initrd. The root filesystem's /sbin/init reports what / is, then waits;
# PUT /actions SendCtrlAltDel types Ctrl-Alt-Del on the PS/2 keyboard and
# the guest reboots, which ends skiff serve (status 4). One boot.
# The guide's network (tap0, 172.16.0.1/30, net1 with its guest_mac) is
# set up in a network namespace of the test's own when it runs as root, and
# PUT /entropy adds virtio-rng: the guest pings the tap's host end and
# reports its MAC and its hardware RNG.
set -u
ROOT=${SKIFF_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib.sh"
SKIFF=${SKIFF:-$ROOT/build/skiff}
CACHE=${SKIFF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/skiff}
CUR=$CACHE/guest/current
BOOT_TIMEOUT=${BOOT_TIMEOUT:-900}
T=$(mktemp -d)
ns=skifffc$$
trap 'kill -9 $(jobs -p) 2>/dev/null; ip netns del "$ns" 2>/dev/null; rm -rf "$T"' EXIT

skip_all() {
	echo "# SKIPPING the Firecracker API boot: $1" >&2
	skip "Firecracker getting-started sequence boots the default guest" "$1"
	exit 0
}
[ -x "$SKIFF" ] || skip_all "no skiff binary at $SKIFF"
have_kvm || skip_all "/dev/kvm missing or not read/writable"
for f in vmlinux initramfs.cpio; do
	[ -s "$CUR/$f" ] || skip_all "guest not built ($CUR/$f missing; run guest/build.sh)"
done
for c in curl cpio mkfs.ext4; do
	command -v $c >/dev/null || { not_ok "$c is installed (scripts/install-deps.sh)"; exit 1; }
done

# The root filesystem: the initramfs's files, and an init that checks /.
mkdir "$T/root"
(cd "$T/root" && cpio -idm --quiet <"$CUR/initramfs.cpio") || { not_ok "initramfs unpacks"; exit 1; }
mkdir -p "$T/root/sbin" "$T/root/proc" "$T/root/sys"
cat >"$T/root/sbin/init" <<'EOF'
#!/bin/busybox sh
# Shell builtins where it can: on kvm_pvm a process started while another
# runs may crash (README, known issue), and a report must not depend on it.
/bin/busybox mount -t proc proc /proc
while read -r dev dir type opts rest; do
	[ "$dir" = / ] && echo "SKIFF-FC-ROOT $type ${opts%%,*}"
done </proc/mounts
read -r cmdline </proc/cmdline
echo "SKIFF-FC-CMDLINE $cmdline"
/bin/busybox mount -t sysfs sysfs /sys
read -r rng </sys/class/misc/hw_random/rng_current
echo "SKIFF-FC-RNG $rng"
if [ -e /sys/class/net/eth0 ]; then
	read -r mac </sys/class/net/eth0/address
	echo "SKIFF-FC-MAC $mac"
	# The guide's guest side of the network.
	/bin/busybox ip addr add 172.16.0.2/30 dev eth0
	/bin/busybox ip link set eth0 up
	/bin/busybox ping -c 1 -W 10 172.16.0.1 >/dev/null && echo "SKIFF-FC-PING ok"
fi
/bin/busybox sync
echo "SKIFF-FC-WAITING"
exec /bin/busybox sleep 900
EOF
chmod 755 "$T/root/sbin/init"
if ! mkfs.ext4 -q -F -d "$T/root" "$T/rootfs.ext4" 128M >/dev/null 2>"$T/mkfs.err"; then
	not_ok "mkfs.ext4 -d makes the root filesystem: $(cat "$T/mkfs.err")"
	exit 1
fi
cp "$CUR/vmlinux" "$T/vmlinux"

API_SOCKET=$T/firecracker.socket
# The guide's host side of the network, in our own namespace.
NSX=()
if [ "$(id -u)" -eq 0 ] && [ -c /dev/net/tun ] && ip netns add "$ns" 2>/dev/null; then
	NSX=(ip netns exec "$ns")
	"${NSX[@]}" ip tuntap add dev tap0 mode tap
	"${NSX[@]}" ip addr add 172.16.0.1/30 dev tap0
	"${NSX[@]}" ip link set tap0 up
else
	echo "# SKIPPING the guide's network: needs root, /dev/net/tun and ip netns" >&2
	skip "PUT /network-interfaces boots a NIC the guest pings through" \
		"needs root, /dev/net/tun and ip netns"
fi
"${NSX[@]}" "$SKIFF" serve --api-sock "$API_SOCKET" --shutdown-timeout 60 </dev/null \
	>"$T/console" 2>"$T/stderr" &
pid=$!
for i in $(seq 200); do
	[ -S "$API_SOCKET" ] && break
	sleep 0.05
done
check "skiff serve is up on --api-sock" [ -S "$API_SOCKET" ]

# Firecracker's getting-started guide, as written there (paths ours).
LOGFILE=$T/firecracker.log
touch "$LOGFILE"
status=$(curl -s -o "$T/r1" -w '%{http_code}' -X PUT --unix-socket "${API_SOCKET}" \
	--data "{
		\"log_path\": \"${LOGFILE}\",
		\"level\": \"Debug\",
		\"show_level\": true,
		\"show_log_origin\": true
	}" \
	"http://localhost/logger")
check "PUT /logger ($status $(cat "$T/r1"))" [ "$status" = 204 ]
KERNEL=$T/vmlinux
KERNEL_BOOT_ARGS="console=ttyS0 reboot=k panic=1 pci=off"
status=$(curl -s -o "$T/r2" -w '%{http_code}' -X PUT --unix-socket "${API_SOCKET}" \
	--data "{
		\"kernel_image_path\": \"${KERNEL}\",
		\"boot_args\": \"${KERNEL_BOOT_ARGS}\"
	}" \
	"http://localhost/boot-source")
check "PUT /boot-source ($status $(cat "$T/r2"))" [ "$status" = 204 ]
ROOTFS=$T/rootfs.ext4
status=$(curl -s -o "$T/r3" -w '%{http_code}' -X PUT --unix-socket "${API_SOCKET}" \
	--data "{
		\"drive_id\": \"rootfs\",
		\"path_on_host\": \"${ROOTFS}\",
		\"is_root_device\": true,
		\"is_read_only\": false
	}" \
	"http://localhost/drives/rootfs")
check "PUT /drives/rootfs ($status $(cat "$T/r3"))" [ "$status" = 204 ]
status=$(curl -s -o "$T/r4" -w '%{http_code}' -X PUT --unix-socket "${API_SOCKET}" \
	--data "{
		\"vcpu_count\": 2,
		\"mem_size_mib\": 1024
	}" \
	"http://localhost/machine-config")
check "PUT /machine-config ($status $(cat "$T/r4"))" [ "$status" = 204 ]
if [ ${#NSX[@]} -gt 0 ]; then
	status=$(curl -s -o "$T/r7" -w '%{http_code}' -X PUT --unix-socket "${API_SOCKET}" \
		--data '{
			"iface_id": "net1",
			"guest_mac": "06:00:AC:10:00:02",
			"host_dev_name": "tap0"
		}' \
		"http://localhost/network-interfaces/net1")
	check "PUT /network-interfaces/net1 ($status $(cat "$T/r7"))" [ "$status" = 204 ]
fi
status=$(curl -s -o "$T/r8" -w '%{http_code}' -X PUT --unix-socket "${API_SOCKET}" \
	--data '{}' "http://localhost/entropy")
check "PUT /entropy ($status $(cat "$T/r8"))" [ "$status" = 204 ]
sleep 0.015
status=$(curl -s -o "$T/r5" -w '%{http_code}' -X PUT --unix-socket "${API_SOCKET}" \
	--data "{
		\"action_type\": \"InstanceStart\"
	}" \
	"http://localhost/actions")
check "PUT /actions InstanceStart ($status $(cat "$T/r5"))" [ "$status" = 204 ]
state=$(curl -s --unix-socket "$API_SOCKET" http://localhost/)
check "GET / says Running" grep -q '"state":"Running"' <<<"$state"

start=$(date +%s)
for i in $(seq "$BOOT_TIMEOUT"); do
	grep -q 'SKIFF-FC-WAITING' "$T/console" 2>/dev/null && break
	kill -0 $pid 2>/dev/null || break
	sleep 1
done
echo "# boot took $(($(date +%s) - start)) s"
status=$(curl -s -o "$T/r6" -w '%{http_code}' -X PUT --unix-socket "${API_SOCKET}" \
	--data '{"action_type": "SendCtrlAltDel"}' "http://localhost/actions")
check "PUT /actions SendCtrlAltDel ($status $(cat "$T/r6"))" [ "$status" = 204 ]
wait_pid $pid 120
rc=$?
tr -d '\r' <"$T/console" >"$T/console.txt"
check "Ctrl-Alt-Del rebooted the guest: skiff serve exits 4 (exit $rc)" [ "$rc" -eq 4 ]
check "the root filesystem is the ext4 drive, mounted read-write" \
	grep -q 'SKIFF-FC-ROOT ext4 rw' "$T/console.txt"
check "the kernel got root=/dev/vda rw and no pci=off" \
	bash -c "grep -o 'SKIFF-FC-CMDLINE.*' '$T/console.txt' | grep 'root=/dev/vda rw' | grep -qv 'pci=off'"
check "PUT /entropy gave the guest virtio-rng as its hardware RNG" \
	grep -q 'SKIFF-FC-RNG virtio_rng' "$T/console.txt"
if [ ${#NSX[@]} -gt 0 ]; then
	check "PUT /network-interfaces: the guest's eth0 has the guest_mac" \
		grep -q 'SKIFF-FC-MAC 06:00:ac:10:00:02' "$T/console.txt"
	check "  ... and pings the tap's host end, 172.16.0.1" \
		grep -q 'SKIFF-FC-PING ok' "$T/console.txt"
fi
check "skiff's messages went to the logger's log_path" grep -q 'stopped, exit status 4' "$LOGFILE"
check "  ... the keys went in through the i8042" grep -q 'SendCtrlAltDel: typed' "$LOGFILE"
if [ "$tap_failed" -gt 0 ]; then
	echo "# the init's reports, then the last console lines:"
	grep -a 'SKIFF-FC' "$T/console.txt" | sed 's/^/#   /'
	tail -n 20 "$T/console.txt" | sed 's/^/#   /'
	tail -n 10 "$LOGFILE" | sed 's/^/#   log: /'
fi
