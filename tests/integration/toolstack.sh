#!/usr/bin/env bash
# The toolstack: skiff run --detach, ls, info, top, pause/resume, console,
# stop, kill, and the cleanup of a VM that died with kill -9, on the
# ticker test guest (it prints a growing counter).
source "$SKIFF_ROOT/tests/lib.sh"
T=$(mktemp -d)
export XDG_RUNTIME_DIR=$T/xdg
mkdir -p "$XDG_RUNTIME_DIR"
D=$XDG_RUNTIME_DIR/skiff
trap 'for p in $(cat "$T"/pid.* 2>/dev/null); do kill -9 $p 2>/dev/null; done; rm -rf "$T"' EXIT

if ! have_kvm; then
	skip "toolstack tests" "/dev/kvm is missing or not accessible"
	exit 0
fi

# console_ticks NAME: the last tick the console shows (attach, detach).
console_ticks() {
	local out=$T/console.out
	: >"$out"
	# Detach once the replay has shown a tick (and 0.2 s more for the rest
	# of it), not after a fixed time: a slow start could detach first.
	(for _ in $(seq 100); do grep -q 'ticker: ' "$out" && break; sleep 0.1; done
	 sleep 0.2; printf '\001d') | timeout 10 "$SKIFF" console "$1" 2>/dev/null >"$out"
	tr -d '\r' <"$out" | grep -o 'ticker: [0-9]*' | tail -1 | cut -d' ' -f2
}
vm_pid() { python3 -c 'import json,sys; print(json.load(sys.stdin)["metrics"]["vmm"]["pid"])'; }

out=$("$SKIFF" run --detach --name tk1 --cpus 2 --memory 64M --kernel "$GUESTS/ticker.elf" 2>"$T/err")
rc=$?
check "run --detach returns at once and prints the name (exit $rc, '$out')" \
	[ "$rc" -eq 0 -a "$out" = tk1 ]
"$SKIFF" info tk1 >"$T/info.json"
pid=$(vm_pid <"$T/info.json")
echo "$pid" >"$T/pid.1"
check "the VM's socket, console and log are in the runtime dir" \
	[ -S "$D/tk1.sock" -a -S "$D/tk1.console" -a -f "$D/tk1.log" ]
check "info: instance, metrics and config as JSON" \
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["instance"]["state"]=="Running" and j["config"]["machine-config"]["vcpu_count"]==2' "$T/info.json"

"$SKIFF" run --detach --name tk2 --memory 32M --kernel "$GUESTS/ticker.elf" >/dev/null 2>&1
"$SKIFF" info tk2 | vm_pid >"$T/pid.2"
"$SKIFF" ls >"$T/ls.txt"
check "ls lists both VMs, sorted" \
	python3 -c 'import sys; l=open(sys.argv[1]).read().split("\n"); n=[x.split()[0] for x in l[1:] if x]; assert n==["tk1","tk2"], n' "$T/ls.txt"
check "ls: tk1 running with 2 vCPUs and 64 MiB" \
	grep -qE "^tk1 +$pid +running +2 +64 " "$T/ls.txt"
"$SKIFF" ls --json >"$T/ls.json"
check "ls --json: name, pid, state, vcpus, memory, uptime, CPU %" \
	python3 -c "import json,sys; v=[x for x in json.load(open(sys.argv[1])) if x['name']=='tk1'][0]; assert v['pid']==$pid and v['state']=='running' and v['vcpus']==2 and v['mem_mib']==64 and v['uptime_s']>=0 and v['cpu_percent']>=0" "$T/ls.json"

"$SKIFF" run --detach --name tk1 --kernel "$GUESTS/ticker.elf" >/dev/null 2>"$T/dup.err"
rc=$?
check "a second --detach with a used name exits 2 (exit $rc)" [ "$rc" -eq 2 ]
check "  ... saying why" grep -q "already running" "$T/dup.err"

c1=$(console_ticks tk1)
check "console shows the guest's output (tick ${c1:-none}) and Ctrl-A d detaches" [ -n "$c1" ]
check "  ... and the VM runs on after the detach" kill -0 "$pid"

"$SKIFF" pause tk1
check "pause: exit 0" [ $? -eq 0 ]
check "  ... ls says paused" grep -qE "^tk1 .* paused " <("$SKIFF" ls)
p1=$(console_ticks tk1)
sleep 1
p2=$(console_ticks tk1)
check "  ... the guest's counter stands still ($p1, then $p2)" [ -n "$p1" -a "$p1" = "$p2" ]
"$SKIFF" pause tk1 2>"$T/pause.err"
rc=$?
check "pause of a paused VM exits 1 (exit $rc)" [ "$rc" -eq 1 ]
check "  ... with the API's reason" grep -q "already paused" "$T/pause.err"
"$SKIFF" resume tk1
check "resume: exit 0" [ $? -eq 0 ]
sleep 1
r1=$(console_ticks tk1)
check "  ... the counter goes on ($p2, then $r1)" [ "${r1:-0}" -gt "${p2:-0}" ]

timeout 20 "$SKIFF" top -n 2 -d 0.3 >"$T/top.txt" 2>&1
rc=$?
check "top -n 2 ends by itself (exit $rc)" [ "$rc" -eq 0 ]
check "  ... and shows both VMs with an exit rate" \
	python3 -c 'import sys; t=open(sys.argv[1]).read(); assert "tk1" in t and "tk2" in t and "EXITS" in t.upper(), t' "$T/top.txt"

"$SKIFF" stop tk1
rc=$?
check "stop: the guest powers off and the command waits for it (exit $rc)" [ "$rc" -eq 0 ]
wait_for_gone() { local i; for i in $(seq 50); do [ -e "/proc/$1" ] || return 0; sleep 0.1; done; return 1; }
check "  ... the process is gone" wait_for_gone "$pid"
check "  ... and so are its sockets" [ ! -e "$D/tk1.sock" -a ! -e "$D/tk1.console" ]
check "  ... its log says it powered off" grep -q "exit status 0" "$D/tk1.log"

"$SKIFF" stop tk1 2>"$T/stop.err"
rc=$?
check "stop of an unknown VM exits 1 (exit $rc)" [ "$rc" -eq 1 ]
check "  ... naming it" grep -q "no VM named 'tk1'" "$T/stop.err"

pid2=$(cat "$T/pid.2")
kill -9 "$pid2"
wait_for_gone "$pid2"
check "kill -9 leaves a stale socket behind" [ -S "$D/tk2.sock" ]
"$SKIFF" ls >"$T/ls2.txt" 2>"$T/ls2.err"
check "the next ls removes it" [ ! -e "$D/tk2.sock" -a ! -e "$D/tk2.console" ]
check "  ... and does not list the dead VM" bash -c "! grep -q '^tk2 ' '$T/ls2.txt'"

"$SKIFF" run --detach --name tk3 --kernel "$GUESTS/ticker.elf" >/dev/null 2>&1
pid3=$("$SKIFF" info tk3 | vm_pid)
echo "$pid3" >"$T/pid.3"
"$SKIFF" kill tk3
rc=$?
check "kill: exit 0 (exit $rc)" [ "$rc" -eq 0 ]
wait_for_gone "$pid3"
check "  ... the VM is gone at once" [ ! -e "/proc/$pid3" ]
check "  ... its log says it was stopped (status 8)" grep -q "exit status 8" "$D/tk3.log"

"$SKIFF" run --detach --name tk4 --kernel /nonexistent >/dev/null 2>"$T/bad.err"
rc=$?
check "run --detach with a missing kernel fails in the foreground (exit $rc)" [ "$rc" -eq 2 ]
