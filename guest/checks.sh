#!/bin/sh
# skiff-checks CPUS: sanity checks of the guest's view of the VM, installed
# as /bin/skiff-checks in the default guest. One line per check,
#   CHECK <name>: ok
#   CHECK <name>: FAIL <detail>
# then "CHECKS DONE". Exits 1 when a check failed.
#
# On kvm_pvm a fork costs ~0.45 s of guest time and a syscall ~1.5 ms, so
# this reads files with the read builtin, matches with case, and reads the
# kernel log once.

if [ $# -ne 1 ] || [ -z "$1" ] || [ -z "${1##*[!0-9]*}" ]; then
	echo "usage: skiff-checks EXPECTED_CPUS" >&2
	exit 2
fi
want_cpus=$1
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
check_serial() {
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

log=$(dmesg)
check_cpus
check_acpi
check_serial
check_cmdline
check_memory
check_userspace
echo "CHECKS DONE"
exit $failed
