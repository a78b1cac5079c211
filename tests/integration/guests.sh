#!/usr/bin/env bash
# Run each freestanding PVH test guest (tests/guests, built into $GUESTS) in
# skiff and check its exit status and console lines. Guests that check
# things print "PASS: ..." / "FAIL: ..." and debug-exit 0 when all passed
# (skiff status 1) or 1 otherwise (status 3).
set -u
ROOT=${SKIFF_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"
SKIFF=${SKIFF:-$ROOT/build/skiff}
GUESTS=${GUESTS:-$ROOT/build/guests}
TIMEOUT=${GUEST_TIMEOUT:-30}

ALL_RUNS="hello memmap-256M memmap-64M memmap-5G acpi-1 acpi-4 cpuid-2 smp-2
smp-4 syscall-2 syscall-4 debug_exit-0 debug_exit-5 debug_exit-42 triple_fault"

if ! have_kvm; then
	for r in $ALL_RUNS; do
		skip "guest $r" "no usable /dev/kvm"
	done
	exit 0
fi
if [ ! -x "$SKIFF" ]; then
	not_ok "skiff binary at $SKIFF (not built?)"
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out err=$tmp/err rc=0

# run_guest NAME SKIFF-ARGS...: run NAME.elf with --debug-exit; sets rc,
# leaves stdout (minus CRs) in $out and stderr in $err.
run_guest() {
	local name=$1 start ms
	shift
	if [ ! -f "$GUESTS/$name.elf" ]; then
		echo "# $GUESTS/$name.elf is missing (make guests)"
		: >"$out"; : >"$err"; rc=127
		return
	fi
	start=$(date +%s%N)
	timeout "$TIMEOUT" "$SKIFF" run --kernel "$GUESTS/$name.elf" --debug-exit \
		"$@" >"$out.raw" 2>"$err"
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	tr -d '\r' <"$out.raw" >"$out"
	echo "# $name $*: exit $rc"
	echo "# took $ms ms"
}

# show: the run's console and stderr as TAP comments, after a failure.
show() {
	sed 's/^/#   out: /' "$out" | head -60
	sed 's/^/#   err: /' "$err" | head -30
}

# want_status DESC WANT: the last run exited with WANT.
want_status() {
	if [ "$rc" -eq "$2" ]; then
		ok "$1 (exit $rc)"
	else
		not_ok "$1 (exit $rc, want $2)"
		show
	fi
}

# want_out DESC FIXED-STRING [FILE]: a line of the console (or FILE) has it.
want_out() {
	if grep -qF -- "$2" "${3:-$out}"; then
		ok "$1"
	else
		not_ok "$1 (no \"$2\")"
		show
	fi
}

# guest_passed NAME: status 1 (debug-exit 0), no FAIL line, summary PASS.
guest_passed() {
	want_status "$1 exits through debug-exit 0" 1
	if grep -q '^FAIL' "$out"; then
		not_ok "$1 checks"
		grep '^FAIL' "$out" | sed 's/^/#   /'
	elif grep -q ': [0-9]* checks, 0 failed: PASS$' "$out"; then
		ok "$1 checks ($(grep -c '^PASS' "$out") passed)"
	else
		not_ok "$1 checks (no summary line)"
		show
	fi
}

# hello: greeting, command line, ACPI S5 power-off.
run_guest hello --cmdline 'greeting=ahoy answer=42'
want_status "hello powers off through ACPI" 0
want_out "hello greets" "Hello from a skiff PVH guest"
want_out "hello prints its cmdline" "greeting=ahoy answer=42"

# memmap: with and without a module (initrd of known content).
initrd=$tmp/initrd
printf 'skiff initrd test module %s\n' {1..100} >"$initrd"
printf '\001\377\200' >>"$initrd"	# odd length, high bytes
isize=$(stat -c %s "$initrd")
isum=$(od -An -v -tu1 "$initrd" | awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s % 4294967296 }')
run_guest memmap --memory 256M --initrd "$initrd" \
	--cmdline "mem=256M initrd_size=$isize initrd_sum=$isum"
guest_passed "memmap 256M with initrd"
want_out "memmap 256M checked the module" "PASS: module byte sum $isum"
run_guest memmap --memory 64M --cmdline 'mem=64M'
guest_passed "memmap 64M"
run_guest memmap --memory 5G --cmdline 'mem=5G'
guest_passed "memmap 5G"
want_out "memmap 5G has RAM above 4 GiB" "PASS: RAM above 4 GiB"

# acpi: tables, MADT LAPIC count follows --cpus.
for n in 1 4; do
	run_guest acpi --cpus "$n" --cmdline "cpus=$n"
	guest_passed "acpi cpus=$n"
	want_out "acpi cpus=$n: $n LAPICs" "PASS: $n enabled LAPICs"
done

# cpuid: the KVM signature only where KVM_SET_CPUID2 is honoured.
strict=1
[ -d /sys/module/kvm_pvm ] && strict=0
run_guest cpuid --cpus 2 --cmdline "strict_cpuid=$strict"
guest_passed "cpuid (strict_cpuid=$strict)"
want_out "cpuid: leaf 1 APIC id matches the LAPIC" "PASS: leaf 1 APIC id"
if [ "$strict" -eq 1 ]; then
	want_out "cpuid: KVM signature" "PASS: leaf 0x40000000 signature"
else
	skip "cpuid: KVM signature" "kvm_pvm ignores KVM_SET_CPUID2"
fi

# smp: INIT/SIPI/SIPI, APs through real mode to long mode.
for n in 2 4; do
	run_guest smp --cpus "$n" --cmdline "cpus=$n"
	guest_passed "smp cpus=$n"
	want_out "smp cpus=$n: every AP arrived" "PASS: all $((n - 1)) APs arrived"
done

# syscall: each AP's first act in user mode is SYSCALL, with no exit to
# skiff since it loaded the IDT; on kvm_pvm that needs the SYSCALL repair
# armed from vCPU 0 (README, "Hosts without VMX/SVM").
for n in 2 4; do
	run_guest syscall --cpus "$n" --cmdline "cpus=$n"
	guest_passed "syscall cpus=$n"
	want_out "syscall cpus=$n: every AP's SYSCALL entered at CPL0" \
		"PASS: and ran it at CPL0 (0x$(printf %x $(((1 << n) - 2)))"
done

# debug_exit: status (code << 1) | 1.
for code in 0 5 42; do
	run_guest debug_exit --cmdline "code=$code"
	want_status "debug_exit code=$code" $(((code << 1) | 1))
done

# triple_fault: a guest crash with a register dump.
run_guest triple_fault
want_status "triple_fault is a guest crash" 6
want_out "triple_fault dumps registers on stderr" "RIP" "$err"
