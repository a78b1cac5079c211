#!/usr/bin/env bash
# A VM is a process: SIGTERM presses the ACPI power button, then a hard stop
# after --shutdown-timeout; reboot exits or restarts; Ctrl-A x quits; ps and
# top show the VM's name.
source "$SKIFF_ROOT/tests/lib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"; kill $(jobs -p) 2>/dev/null' EXIT

if ! have_kvm; then
	skip "lifecycle tests" "/dev/kvm is missing or not accessible"
	exit 0
fi

# wait_for FILE PATTERN: up to 10 s for PATTERN to show in FILE.
wait_for() {
	local i
	for i in $(seq 100); do
		grep -q "$1" "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# SIGTERM → power button → a guest that handles it powers off: status 0.
"$SKIFF" run --kernel "$GUESTS/powerbtn.elf" --name lc-button --shutdown-timeout 20 \
	</dev/null >"$T/out" 2>"$T/err" &
pid=$!
if wait_for "waiting for the power button" "$T/out"; then
	check "ps shows the VM name in the process title" \
		grep -q "skiff: lc-button" <(ps -o args= -p $pid)
	check "top shows the VM name (comm)" grep -q "skiff: lc-butto" "/proc/$pid/comm"
	start=$(date +%s%N)
	kill -TERM $pid
	wait_pid $pid 60
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	check "SIGTERM: the guest saw the power button and powered off (exit $rc)" \
		[ "$rc" -eq 0 ]
	check "SIGTERM: powered off well before the timeout (${ms} ms)" [ "$ms" -lt 5000 ]
	check "SIGTERM: the guest printed its power-off" grep -q "pressed, powering off" "$T/out"
else
	not_ok "powerbtn guest did not start: $(cat "$T/err")"
	kill -9 $pid
fi

# A guest that ignores the button is stopped after the timeout: status 8.
"$SKIFF" run --kernel "$GUESTS/debug_exit.elf" --cmdline code=1 --shutdown-timeout 1 \
	</dev/null >"$T/out" 2>"$T/err" &
pid=$!
wait_for "writing" "$T/out"
start=$(date +%s%N)
kill -TERM $pid
wait_pid $pid 60
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
check "SIGTERM, guest ignores the button: hard stop, exit 8 (exit $rc)" [ "$rc" -eq 8 ]
check "hard stop after about the 1 s timeout (${ms} ms)" [ "$ms" -ge 900 -a "$ms" -lt 5000 ]

# A second signal stops at once.
"$SKIFF" run --kernel "$GUESTS/debug_exit.elf" --cmdline code=1 --shutdown-timeout 60 \
	</dev/null >"$T/out" 2>"$T/err" &
pid=$!
wait_for "writing" "$T/out"
kill -TERM $pid
sleep 1.2
start=$(date +%s%N)
kill -INT $pid
wait_pid $pid 60
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
check "a second signal stops at once (exit $rc in $ms ms)" [ "$rc" -eq 8 -a "$ms" -lt 5000 ]

# timeout(1) signals skiff and its process group at once: that is one
# request, so a guest that handles the power button still powers off.
timeout -k 60 --preserve-status -s TERM 3 "$SKIFF" run --kernel "$GUESTS/powerbtn.elf" --shutdown-timeout 20 \
	</dev/null >"$T/out" 2>&1
rc=$?
check "timeout(1)'s double SIGTERM is one power-button press (exit $rc)" [ "$rc" -eq 0 ]
check "  ... and the guest powered off" grep -q "pressed, powering off" "$T/out"

# Reboot: exit with status 4, or boot again with --on-reboot restart.
timeout -k 30 10 "$SKIFF" run --kernel "$GUESTS/reboot.elf" </dev/null >"$T/out" 2>&1
rc=$?
check "guest reboot with --on-reboot exit: status 4 (exit $rc)" [ "$rc" -eq 4 ]
timeout -k 30 -s TERM 3 "$SKIFF" run --kernel "$GUESTS/reboot.elf" --on-reboot restart \
	--shutdown-timeout 0 </dev/null >"$T/out" 2>&1
boots=$(grep -c "reboot: booted" "$T/out")
check "--on-reboot restart boots again ($boots boots in 3 s)" [ "$boots" -ge 2 ]

# Ctrl-A x on the console quits (stdin is a pipe here).
(sleep 0.5; printf '\001x') | timeout -k 30 10 "$SKIFF" run --kernel "$GUESTS/debug_exit.elf" \
	--cmdline code=1 >"$T/out" 2>&1
check "Ctrl-A x quits (exit $?)" [ $? -eq 8 ]

# --verbose reports each vCPU's exit counters when the VM stops.
timeout -k 5 60 "$SKIFF" run -v --cpus 2 --kernel "$GUESTS/smp.elf" --debug-exit --cmdline cpus=2 \
	</dev/null >"$T/out" 2>&1
check "--verbose prints exit counters for every vCPU" \
	grep -qE "vcpu1: [0-9]+ port I/O and [0-9]+ MMIO exits" "$T/out"
check "  ... and vcpu0 counted its port I/O" \
	grep -qE "vcpu0: [1-9][0-9]* port I/O" "$T/out"

# SIGQUIT: every vCPU dumps its registers, and the VM keeps running.
"$SKIFF" run --kernel "$GUESTS/powerbtn.elf" --cpus 2 --shutdown-timeout 20 \
	</dev/null >"$T/out" 2>"$T/err" &
pid=$!
if wait_for "waiting for the power button" "$T/out"; then
	kill -QUIT $pid
	wait_for "vcpu0: registers (SIGQUIT)" "$T/err"
	wait_for "vcpu1: registers (SIGQUIT)" "$T/err"
	check "SIGQUIT: vcpu0 dumped its registers" grep -q "vcpu0: registers (SIGQUIT)" "$T/err"
	check "SIGQUIT: vcpu1 dumped its registers" grep -q "vcpu1: registers (SIGQUIT)" "$T/err"
	check "SIGQUIT: the dump shows RIP" grep -qE "RIP=[0-9a-f]{16}" "$T/err"
	check "SIGQUIT: the dump shows the code bytes at RIP" \
		grep -qE "code at RIP:( [0-9a-f]{2})+$" "$T/err"
	check "SIGQUIT: the AP the guest never started says so" \
		grep -q "never started: waiting for INIT/SIPI" "$T/err"
	check "SIGQUIT: the VM is still running" kill -0 $pid
	kill -TERM $pid
	wait_pid $pid 60
	rc=$?
	check "SIGQUIT: the guest still powers off afterwards (exit $rc)" [ "$rc" -eq 0 ]
else
	not_ok "powerbtn guest did not start for the SIGQUIT test"
	kill -9 $pid
fi
