#!/usr/bin/env bash
# Default Linux guest, exec → init (the init's "skiff guest:" banner) and
# exec → exit (init runs `true` and powers off), skiff vs QEMU microvm with
# the same kernel, initramfs and command line. Medians of RUNS runs (default
# 3; a boot takes about two minutes on a kvm_pvm host).
# usage: bench/linux-boot.sh [BUILD_DIR] [CPUS]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build}
CPUS=${2:-1}
RUNS=${RUNS:-3}
TIMEOUT=${TIMEOUT:-900}
make -s -C "$ROOT" O="$B" all >/dev/null || exit 1
# Resolve the link once: both VMMs boot the very same files.
GUEST_DIR=$(readlink -f "${SKIFF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/skiff}/guest/current")
KERNEL=$GUEST_DIR/vmlinux
INITRD=$GUEST_DIR/initramfs.cpio
[ -r "$KERNEL" ] || { echo "no default guest: run make guest" >&2; exit 1; }
CMDLINE="console=ttyS0 reboot=k panic=-1"
# QEMU gets the same kvm_pvm kernel parameters skiff appends, to be fair.
[ -e /sys/module/kvm_pvm ] && QCMD="$CMDLINE clearcpuid=xsave,smap,popcnt,cx16" || QCMD=$CMDLINE

# boot_once LOG CMD...: prints "init_ms exit_ms status" (init_ms "-" if the
# banner never came). A VMM that reports a KVM internal error (QEMU pauses
# the VM then, instead of exiting) is stopped and counted as status "fail".
boot_once() {
	local log=$1 t0 t_init=- pid rc
	shift
	t0=$(date +%s%N)
	timeout "$TIMEOUT" "$@" </dev/null >"$log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$t_init" = - ] && grep -q "skiff guest:" "$log"; then
			t_init=$((($(date +%s%N) - t0) / 1000000))
		fi
		if grep -qE "KVM internal error|emulation failure" "$log"; then
			kill "$pid"
			wait "$pid"
			echo "$t_init $((($(date +%s%N) - t0) / 1000000)) fail"
			return
		fi
		sleep 0.1
	done
	wait "$pid"
	rc=$?
	if [ "$t_init" = - ] && grep -q "skiff guest:" "$log"; then
		t_init=$((($(date +%s%N) - t0) / 1000000))
	fi
	echo "$t_init $((($(date +%s%N) - t0) / 1000000)) $rc"
}

median() { sort -n | awk '{v[NR]=$1} END {if (!NR) print "-"; else print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

bench_vmm() {	# name, command...
	local name=$1 i r inits=() exits=() statuses=() log
	shift
	for i in $(seq "$RUNS"); do
		log=$(mktemp /tmp/skiff-linux-boot-$name.XXXXXX)
		r=$(boot_once "$log" "$@")
		read -r ti te st <<<"$r"
		[ "$ti" != - ] && inits+=("$ti")
		exits+=("$te")
		statuses+=("$st")
		if [ "$ti" = - ]; then
			echo "# $name run $i: init never reached (exit $st); last lines:" >&2
			grep -E "internal error|emulation failure|RIP|EIP|Code=" "$log" | head -4 | sed 's/^/#   /' >&2
			tail -2 "$log" | sed 's/^/#   /' >&2
		fi
		rm -f "$log"
	done
	printf '%-6s %12s %12s   %s\n' "$name" \
		"$(printf '%s\n' "${inits[@]}" | median)" \
		"$(printf '%s\n' "${exits[@]}" | median)" "exit statuses: ${statuses[*]}"
}

echo "# default Linux guest ($(cat "$GUEST_DIR/kernelrelease" 2>/dev/null)), $CPUS vCPU(s), 256 MiB, median of $RUNS runs"
echo "# kvm_pvm host: $([ -e /sys/module/kvm_pvm ] && echo yes || echo no)"
printf '%-6s %12s %12s\n' vmm "init (ms)" "exit (ms)"
bench_vmm skiff "$B/skiff" run --kernel "$KERNEL" --initrd "$INITRD" --cpus "$CPUS" \
	--memory 256M --cmdline "$CMDLINE" -- true
bench_vmm qemu qemu-system-x86_64 -enable-kvm -M microvm,x-option-roms=off \
	-cpu host,-arch-capabilities -nodefaults -no-user-config -nographic \
	-serial stdio -smp "$CPUS" -m 256M -kernel "$KERNEL" -initrd "$INITRD" \
	-append "$QCMD -- true" -no-reboot
