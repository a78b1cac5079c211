#!/bin/sh
# skiff-checks CPUS [TASK...]: sanity checks of the guest's view of the VM,
# installed as /bin/skiff-checks in the default guest, then the TASKs:
#   disk-write   mkfs.ext4 on /dev/vda, write files and their checksums, sync
#   disk-verify  mount /dev/vda, check the files, delete them, fstrim
#   hwrng        read /dev/hwrng (virtio-rng)
#   net-tap      eth0 = 192.168.77.2/24 (the e2e's tap is .1): ping it, send
#                4 MiB to .1:5555, then take a file on port 6666
#   net-user:P   DHCP on eth0 (user-mode networking), send 4 MiB to the
#                host's loopback port P (10.0.2.2:P), then take a file on 6667
#   net-mq:P     eth1 = 192.168.78.2/24, a tap with a queue pair per vCPU:
#                send 1 MiB from each vCPU at once (taskset), to the host's
#                192.168.78.1:P and :P+1 (NETSENT-MQ <md5>)
# The network tasks print NETSENT <md5> for what they sent, NET-LISTEN
# <port> when they wait for the host, and NETRECV <md5> <bytes> for what came.
# One line per check,
#   CHECK <name>: ok
#   CHECK <name>: FAIL <detail>
# then "CHECKS DONE". Exits 1 when a check failed.
#
# On kvm_pvm a fork costs ~0.45 s of guest time and a syscall ~1.5 ms, so
# this reads files with the read builtin, matches with case, and reads the
# kernel log once.

if [ $# -lt 1 ] || [ -z "$1" ] || [ -z "${1##*[!0-9]*}" ]; then
	echo "usage: skiff-checks EXPECTED_CPUS [disk-write|disk-verify|hwrng|net-tap|net-user:PORT|net-mq:PORT|dns:NAME:IP]..." >&2
	exit 2
fi
want_cpus=$1
shift
failed=0
nl='
'

pass() { echo "CHECK $1: ok"; }
fail() { echo "CHECK $1: FAIL $2"; failed=1; }

# first_match TEXT PATTERN...: set $match to the first line of TEXT that
# matches one of the glob PATTERNs, or to nothing.
first_match() {
	local text=$1 line p
	shift
	match=
	while [ -n "$text" ]; do
		line=${text%%"$nl"*}
		case "$text" in
		*"$nl"*) text=${text#*"$nl"} ;;
		*) text= ;;
		esac
		for p in "$@"; do
			case "$line" in
			$p) match=$line; return ;;
			esac
		done
	done
}

check_cpus() {
	local online n=0 r n_proc
	read -r online </sys/devices/system/cpu/online
	local IFS=,
	for r in $online; do
		n=$((n + ${r#*-} - ${r%-*} + 1))
	done
	unset IFS
	n_proc=$(nproc)
	if [ "$n" = "$want_cpus" ] && [ "$n_proc" = "$want_cpus" ]; then
		pass cpus
	else
		fail cpus "want $want_cpus, /sys/devices/system/cpu/online=\"$online\" ($n), nproc=$n_proc"
	fi
}

check_acpi() {
	case "$log" in
	*"ACPI Error"* | *"ACPI BIOS Error"* | *"ACPI Warning"* | *"[Firmware Bug]"*)
		first_match "$log" "*ACPI Error*" "*ACPI BIOS Error*" \
			"*ACPI Warning*" "*\[Firmware Bug\]*"
		fail acpi-clean "$match"
		;;
	*) pass acpi-clean ;;
	esac
}

# The 8250 driver logs "ttyS0 at I/O 0x3f8 (irq = 4, base_baud = ...)".
# With console=hvc0 (skiff --console virtio) there is no UART: the console
# must be virtio-console's hvc0 instead.
check_serial() {
	local active= cmdline=
	read -r cmdline </proc/cmdline
	case " $cmdline " in
	*" console=hvc0 "*)
		read -r active </sys/class/tty/console/active
		case "$active" in
		*hvc0*) pass console-hvc0 ;;
		*) fail console-hvc0 "active console is '$active'" ;;
		esac
		case "$log" in
		*"ttyS0 at "*) fail no-uart "a UART was found with --console virtio" ;;
		*) pass no-uart ;;
		esac
		return
		;;
	esac
	case "$log" in
	*"ttyS0 at I/O 0x3f8 (irq = 4,"*) pass serial-ttyS0 ;;
	*"ttyS0 at "*)
		first_match "$log" "*ttyS0 at *"
		fail serial-ttyS0 "not on irq 4: $match"
		;;
	*) fail serial-ttyS0 "ttyS0 not registered (no 'ttyS0 at' in dmesg)" ;;
	esac
}

check_cmdline() {
	local cmdline=
	read -r cmdline </proc/cmdline
	echo "cmdline: $cmdline"
	if [ -n "$cmdline" ]; then
		pass cmdline
	else
		fail cmdline "/proc/cmdline empty or unreadable"
	fi
}

check_memory() {
	local key kb=
	read -r key kb _ </proc/meminfo
	echo "memory: $key $kb kB"
	if [ "$key" = "MemTotal:" ] && [ "${kb:-0}" -gt 0 ]; then
		pass memory
	else
		fail memory "no MemTotal in /proc/meminfo"
	fi
}

# Processes on every CPU in turn: user mode and the kvm_pvm SYSCALL repair
# on each vCPU. Each run must list /bin, and no process may crash (the
# kernel logs "segfault at" or "general protection" for each). One process
# at a time, no pipelines: on kvm_pvm hosts, processes started together
# still crash at start-up now and then (see the README).
check_userspace() {
	local cpu=0 i n bad= crashes line
	while [ "$cpu" -lt "$want_cpus" ]; do
		for i in 1 2 3; do
			taskset -c "$cpu" ls /bin >/tmp/userspace.out 2>&1
			n=0
			while read -r _; do n=$((n + 1)); done </tmp/userspace.out
			[ "$n" -gt 10 ] || bad="$bad cpu$cpu:$n"
		done
		cpu=$((cpu + 1))
	done
	dmesg >/tmp/userspace.dmesg
	crashes=0
	while IFS= read -r line; do
		case "$line" in
		*"ommand line"*) ;;
		*"segfault at"*|*"general protection"*) crashes=$((crashes + 1)) ;;
		esac
	done </tmp/userspace.dmesg
	if [ -z "$bad" ] && [ "$crashes" -eq 0 ]; then
		pass userspace
	else
		fail userspace "short /bin listings:${bad:- none}; $crashes crash(es)"
	fi
}

# The disk is virtio-blk with the serial the e2e test gives it.
check_vda() {
	local serial=
	if [ ! -b /dev/vda ]; then
		fail disk-present "no /dev/vda"
		return 1
	fi
	read -r serial </sys/block/vda/serial
	if [ "$serial" = "SKIFF-E2E" ]; then
		pass disk-serial
	else
		fail disk-serial "serial '$serial', want SKIFF-E2E"
	fi
}

# Files for the disk tasks: busybox and libc (4 MB together) and 64 KiB
# from virtio-rng (its driver takes 64 bytes per request: more is slow).
task_disk_write() {
	check_vda || return
	if mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 /dev/vda >/tmp/mkfs.out 2>&1; then
		pass disk-mkfs
	else
		fail disk-mkfs "$(cat /tmp/mkfs.out)"
		return
	fi
	if ! mount -t ext4 /dev/vda /mnt; then
		fail disk-mount "mount /dev/vda failed"
		return
	fi
	cp /bin/busybox /mnt/busybox &&
		cp /lib/x86_64-linux-gnu/libc.so.6 /mnt/libc &&
		dd if=/dev/hwrng of=/mnt/random bs=4096 count=16 2>/dev/null &&
		cd /mnt && md5sum busybox libc random >/mnt/SUMS && cd /
	if [ $? -eq 0 ]; then
		pass disk-write
	else
		fail disk-write "writing files to /mnt failed"
	fi
	cat /mnt/SUMS
	sync
	umount /mnt && pass disk-umount || fail disk-umount "umount failed"
}

task_disk_verify() {
	check_vda || return
	if ! mount -t ext4 /dev/vda /mnt; then
		fail disk-mount "mount /dev/vda failed"
		return
	fi
	cd /mnt
	if md5sum -c SUMS >/tmp/md5.out 2>&1; then
		pass disk-readback
	else
		fail disk-readback "$(cat /tmp/md5.out)"
	fi
	rm -f busybox libc random SUMS
	cd /
	sync
	if fstrim -v /mnt >/tmp/fstrim.out 2>&1; then
		pass disk-fstrim
	else
		fail disk-fstrim "$(cat /tmp/fstrim.out)"
	fi
	cat /tmp/fstrim.out
	umount /mnt && pass disk-umount || fail disk-umount "umount failed"
}

# A 4 MiB file to send: busybox and libc.
net_payload() {
	cat /bin/busybox /lib/x86_64-linux-gnu/libc.so.6 >/tmp/net.out
	md5sum /tmp/net.out >/tmp/net.sum
	read -r sent _ </tmp/net.sum
	echo "NETSENT $sent"
}

# net_exchange NAME HOST PORT LISTEN: send the payload to HOST:PORT, then
# receive a file on LISTEN.
net_exchange() {
	local got
	net_payload
	if nc "$2" "$3" </tmp/net.out; then
		pass "$1-send"
	else
		fail "$1-send" "nc $2 $3 failed"
	fi
	echo "NET-LISTEN $4"
	if nc -l -p "$4" >/tmp/net.in; then
		md5sum /tmp/net.in >/tmp/net.sum
		read -r got _ </tmp/net.sum
		wc -c </tmp/net.in >/tmp/net.size
		read -r size </tmp/net.size
		echo "NETRECV $got $size"
		pass "$1-receive"
	else
		fail "$1-receive" "nc -l -p $4 failed"
	fi
}

task_net_tap() {
	ip link set eth0 up
	ip addr add 192.168.77.2/24 dev eth0
	if ping -c 3 -W 10 192.168.77.1 >/tmp/ping.out 2>&1; then
		pass net-tap-ping
	else
		fail net-tap-ping "$(cat /tmp/ping.out)"
	fi
	net_exchange net-tap 192.168.77.1 5555 6666
}

task_net_user() {
	local addr=
	ip link set eth0 up
	if udhcpc -i eth0 -s /etc/udhcpc.script -q -n -t 10 >/tmp/dhcp.out 2>&1; then
		pass net-user-dhcp
	else
		fail net-user-dhcp "$(cat /tmp/dhcp.out)"
	fi
	ip -4 addr show dev eth0 >/tmp/addr.out
	case "$(cat /tmp/addr.out)" in
	*"inet 10.0.2.15/24"*) pass net-user-address ;;
	*) fail net-user-address "$(cat /tmp/addr.out)" ;;
	esac
	net_exchange net-user 10.0.2.2 "$1" 6667
}

# net-mq:PORT  needs 2 vCPUs: the guest's transmit queue follows the
# sending CPU (XPS), so a sender pinned to each vCPU loads both queue pairs.
task_net_mq() {
	local port=$1 pid0 pid1 rc0 rc1 q
	ip link set eth1 up
	ip addr add 192.168.78.2/24 dev eth1
	q=$(ls /sys/class/net/eth1/queues 2>&1)
	case "$q" in
	*rx-1*tx-1*) pass net-mq-queues ;;
	*) fail net-mq-queues "eth1 has queues: $q" ;;
	esac
	# 1 MiB each: enough frames on every queue, and ~30 s, not ~2 min.
	cat /bin/busybox /lib/x86_64-linux-gnu/libc.so.6 | head -c 1048576 >/tmp/net.mq
	md5sum /tmp/net.mq >/tmp/net.sum
	read -r q _ </tmp/net.sum
	echo "NETSENT-MQ $q"
	mkfifo /tmp/mq.wait
	taskset -c 0 nc 192.168.78.1 "$port" </tmp/net.mq &
	pid0=$!
	# The second sender starts when the first is past its start-up (a
	# builtin read that times out, no process): on kvm_pvm processes that
	# start together can corrupt each other (README, known issue).
	read -t 3 q <>/tmp/mq.wait
	taskset -c 1 nc 192.168.78.1 $((port + 1)) </tmp/net.mq &
	pid1=$!
	wait $pid0
	rc0=$?
	wait $pid1
	rc1=$?
	if [ $rc0 -eq 0 ] && [ $rc1 -eq 0 ]; then
		pass net-mq-send
	else
		fail net-mq-send "nc to :$port exited $rc0, to :$((port + 1)) $rc1"
	fi
}

# dns:NAME:IP  after net-user: resolve NAME through user-mode networking's
# DNS forwarder (10.0.2.3), which asks the host's resolver; the e2e runs
# one that knows NAME.
task_dns() {
	local name=${1%%:*} ip=${1#*:}
	nslookup "$name" 10.0.2.3 >/tmp/dns.out 2>&1
	case "$(cat /tmp/dns.out)" in
	*"Name:"*"$name"*"$ip"*) pass net-user-dns ;;
	*) fail net-user-dns "$(cat /tmp/dns.out)" ;;
	esac
}

# Two reads of /dev/hwrng: full length, and different.
task_hwrng() {
	local a= b= cur=
	read -r cur </sys/class/misc/hw_random/rng_current
	case "$cur" in
	virtio_rng*) pass hwrng-virtio ;;
	*) fail hwrng-virtio "rng_current is '$cur'" ;;
	esac
	# No pipelines: see check_userspace.
	head -c 32 /dev/hwrng >/tmp/rng.a
	head -c 32 /dev/hwrng >/tmp/rng.b
	md5sum /tmp/rng.a /tmp/rng.b >/tmp/rng.sums
	{ read -r a _; read -r b _; } </tmp/rng.sums
	if [ -n "$a" ] && [ "$a" != "$b" ] &&
		[ "$a" != "70bc8f4b72a86921468bf8e8441dce51" ]; then	# 32 zero bytes
		pass hwrng-read
	else
		fail hwrng-read "'$a' then '$b'"
	fi
}

log=$(dmesg)
check_cpus
check_acpi
check_serial
check_cmdline
check_memory
check_userspace
for task in "$@"; do
	case "$task" in
	disk-write) task_disk_write ;;
	disk-verify) task_disk_verify ;;
	hwrng) task_hwrng ;;
	net-tap) task_net_tap ;;
	net-user:*) task_net_user "${task#net-user:}" ;;
	dns:*) task_dns "${task#dns:}" ;;
	net-mq:*) task_net_mq "${task#net-mq:}" ;;
	*) fail "task-$task" "unknown task" ;;
	esac
done
echo "CHECKS DONE"
exit $failed
