#!/usr/bin/env bash
# The control API end to end with curl --unix-socket: configure and start a
# test guest through `skiff serve`, reject bad requests without changing
# anything, pause (the guest's tick counter stops) and resume, metrics,
# drive swap, shutdown; 50 clients of load while the guest runs; --config-file.
source "$SKIFF_ROOT/tests/lib.sh"
T=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$T"' EXIT
export XDG_RUNTIME_DIR=$T/xdg
mkdir -p "$XDG_RUNTIME_DIR"

if ! have_kvm; then
	skip "control API tests" "/dev/kvm is missing or not accessible"
	exit 0
fi
if ! command -v curl >/dev/null; then
	not_ok "curl is installed (scripts/install-deps.sh installs it)"
	exit 1
fi
APILOAD=$T/apiload
if ! cc -O2 -pthread -o "$APILOAD" "$SKIFF_ROOT/bench/apiload.c" 2>"$T/cc.err"; then
	not_ok "apiload builds: $(head -c 300 "$T/cc.err")"
	exit 1
fi

S=$T/api.sock
# api METHOD PATH [BODY]: sets code and body.
api() {
	local args=(-s --max-time 10 --unix-socket "$S" -X "$1" -o "$T/body" -w '%{http_code}')
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' -d "$3")
	code=$(curl "${args[@]}" "http://localhost$2")
	body=$(cat "$T/body" 2>/dev/null)
}
# expect CODE DESC METHOD PATH [BODY]
expect() {
	local want=$1 d=$2
	shift 2
	api "$@"
	if [ "$code" = "$want" ]; then ok "$d ($code)"; else not_ok "$d: got $code, want $want: $body"; fi
}
# fault_has TEXT DESC: the last body is a fault message containing TEXT.
fault_has() {
	check "$2" grep -q "\"fault_message\":\".*$1" <<<"$body"
}
# ticks FILE: the last tick the ticker guest printed.
ticks() { tr -d '\r' <"$1" | grep -o 'ticker: [0-9]*' | tail -1 | cut -d' ' -f2; }
# wait_sock PATH: up to 10 s for the socket to answer GET /.
wait_sock() {
	local i
	for i in $(seq 200); do
		curl -s --max-time 1 --unix-socket "$1" http://localhost/ >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

# ---- skiff serve: pre-boot configuration ----
"$SKIFF" serve --api-sock "$S" --name api-vm </dev/null >"$T/serve.out" 2>"$T/serve.err" &
pid=$!
if ! wait_sock "$S"; then
	not_ok "skiff serve answers on its socket: $(cat "$T/serve.err")"
	exit 1
fi
ok "skiff serve answers on --api-sock"
check "the API socket is mode 0600" [ "$(stat -c %a "$S")" = 600 ]
expect 200 "GET / before the start" GET /
check "  ... says Not started" grep -q '"state":"Not started"' <<<"$body"
check "  ... carries id and vmm_version" grep -q '"id":"api-vm".*"vmm_version"' <<<"$body"

truncate -s 1M "$T/d0.img"
truncate -s 2M "$T/d1.img"
: >"$T/metrics.json"
expect 400 "malformed JSON is refused" PUT /boot-source '{"kernel_image_path": '
fault_has "invalid JSON" "  ... with a fault message saying so"
expect 400 "an unknown field is refused" PUT /boot-source \
	"{\"kernel_image_path\": \"$GUESTS/ticker.elf\", \"kernel_args\": \"x\"}"
fault_has "kernel_args" "  ... naming the field"
expect 400 "a wrong type is refused" PUT /machine-config '{"vcpu_count": "2", "mem_size_mib": 64}'
fault_has "vcpu_count" "  ... naming the field"
expect 400 "an out-of-range value is refused" PUT /machine-config '{"vcpu_count": 0, "mem_size_mib": 64}'
expect 400 "a missing kernel file is refused" PUT /boot-source '{"kernel_image_path": "/nonexistent"}'
fault_has "No such file" "  ... with the reason"
expect 400 "a body over the size limit is refused" PUT /boot-source \
	"{\"boot_args\": \"$(head -c 60000 /dev/zero | tr '\0' a)\"}"
expect 400 "an unknown path is refused" GET /nowhere
expect 400 "PATCH /vm before the start is refused" PATCH /vm '{"state": "Paused"}'
expect 400 "Shutdown before the start is refused" PUT /actions '{"action_type": "Shutdown"}'
expect 400 "an unknown action is refused" PUT /actions '{"action_type": "Reboot"}'
expect 200 "GET /machine-config" GET /machine-config
check "  ... the refused requests changed nothing (1 vCPU, 128 MiB)" \
	grep -q '"vcpu_count":1.*"mem_size_mib":128\|"mem_size_mib":128.*"vcpu_count":1' <<<"$body"

expect 204 "PUT /boot-source" PUT /boot-source "{\"kernel_image_path\": \"$GUESTS/ticker.elf\"}"
expect 204 "PUT /machine-config" PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 64}'
expect 204 "PUT /drives/rootfs" PUT /drives/rootfs \
	"{\"drive_id\": \"rootfs\", \"path_on_host\": \"$T/d0.img\", \"is_root_device\": true, \"is_read_only\": false}"
expect 400 "a drive_id that differs from the path is refused" PUT /drives/other \
	"{\"drive_id\": \"rootfs\", \"path_on_host\": \"$T/d0.img\", \"is_root_device\": false}"
expect 204 "PUT /entropy" PUT /entropy '{}'
expect 204 "PUT /metrics" PUT /metrics "{\"metrics_path\": \"$T/metrics.json\"}"
expect 204 "PUT /actions InstanceStart" PUT /actions '{"action_type": "InstanceStart"}'

# ---- run time ----
expect 200 "GET / after the start" GET /
check "  ... says Running" grep -q '"state":"Running"' <<<"$body"
expect 400 "InstanceStart twice is refused" PUT /actions '{"action_type": "InstanceStart"}'
expect 400 "vcpu_count cannot change after the start" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}'
fault_has "after the instance started" "  ... and the fault says why"
expect 200 "GET /vm/config" GET /vm/config
check "  ... still 2 vCPUs" grep -q '"vcpu_count":2' <<<"$body"
check "  ... the drive is there" grep -q "\"path_on_host\":\"$T/d0.img\"" <<<"$body"

sleep 0.5
t1=$(ticks "$T/serve.out")
check "the guest ticks after InstanceStart (tick ${t1:-none})" [ -n "$t1" ]
expect 204 "PATCH /vm Paused" PATCH /vm '{"state": "Paused"}'
sleep 0.2
p1=$(ticks "$T/serve.out")
sleep 1
p2=$(ticks "$T/serve.out")
check "paused: the tick counter stops ($p1 then $p2 a second later)" [ "$p1" = "$p2" ]
expect 200 "GET / while paused" GET /
check "  ... says Paused" grep -q '"state":"Paused"' <<<"$body"
expect 400 "pausing twice is refused" PATCH /vm '{"state": "Paused"}'
expect 400 "a bad state is refused" PATCH /vm '{"state": "Sleeping"}'
expect 204 "PATCH /vm Resumed" PATCH /vm '{"state": "Resumed"}'
sleep 1
r1=$(ticks "$T/serve.out")
check "resumed: the counter goes on ($p2 then $r1)" [ "${r1:-0}" -gt "${p2:-0}" ]

expect 200 "GET /metrics" GET /metrics
check "  ... per-vCPU exit counters for both vCPUs" \
	python3 -c 'import json,sys; m=json.load(sys.stdin); assert len(m["vcpus"])==2 and m["vcpus"][0]["exits"]["io"]>0' <<<"$body"
check "  ... the disk's counters" \
	python3 -c 'import json,sys; m=json.load(sys.stdin); d=[x for x in m["devices"] if x["kind"]=="block"]; assert d and "read_bytes" in d[0]' <<<"$body"
check "  ... the VMM's pid and uptime" \
	python3 -c "import json,sys; m=json.load(sys.stdin); assert m['vmm']['pid']==$pid and m['vmm']['uptime_ms']>0" <<<"$body"
expect 204 "FlushMetrics" PUT /actions '{"action_type": "FlushMetrics"}'
check "  ... wrote one JSON line to the metrics file" \
	python3 -c 'import json,sys; l=open(sys.argv[1]).read().splitlines(); assert len(l)==1; json.loads(l[0])["vcpus"]' "$T/metrics.json"

expect 204 "PATCH /drives/rootfs swaps the backing file" PATCH /drives/rootfs \
	"{\"drive_id\": \"rootfs\", \"path_on_host\": \"$T/d1.img\"}"
expect 200 "GET /vm/config after the swap" GET /vm/config
check "  ... shows the new file" grep -q "\"path_on_host\":\"$T/d1.img\"" <<<"$body"
expect 400 "PATCH of a missing file is refused" PATCH /drives/rootfs \
	"{\"drive_id\": \"rootfs\", \"path_on_host\": \"$T/none.img\"}"
expect 400 "PATCH of an unknown drive is refused" PATCH /drives/nope \
	"{\"drive_id\": \"nope\", \"path_on_host\": \"$T/d0.img\"}"

# ---- a client that stalls is dropped ----
python3 - "$S" >"$T/stall.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"GET / HTTP/1.1\r\nHost: local")	# and then nothing
t0 = time.time()
s.settimeout(30)
try:
    closed = s.recv(1) == b""
except OSError:
    closed = True
print("closed after %.1f s" % (time.time() - t0) if closed else "answered")
PY
stall=$!

# ---- load: 50 clients for 10 s while the guest runs ----
l0=$(ticks "$T/serve.out")
"$APILOAD" load "$S" 50 10 / >"$T/load.out" 2>&1
lrc=$?
l1=$(ticks "$T/serve.out")
check "50 concurrent clients for 10 s: no error ($(tr '\n' ' ' <"$T/load.out"))" [ "$lrc" -eq 0 ]
check "  ... and the guest kept ticking ($l0 then $l1)" [ "${l1:-0}" -gt "${l0:-0}" ]
wait_pid $stall 40
check "a client that stalls mid-request is dropped ($(cat "$T/stall.out"))" \
	grep -qE "closed after (9|1[0-9])\." "$T/stall.out"

expect 204 "Shutdown presses the power button" PUT /actions '{"action_type": "Shutdown"}'
wait_pid $pid 30
rc=$?
check "  ... and the guest powers off: skiff serve exits 0 (exit $rc)" [ "$rc" -eq 0 ]
check "  ... and removes its socket" [ ! -e "$S" ]

# ---- SIGTERM before InstanceStart, and a Kill ----
"$SKIFF" serve --api-sock "$S" </dev/null >/dev/null 2>"$T/serve2.err" &
pid=$!
wait_sock "$S"
kill -TERM $pid
wait_pid $pid 10
rc=$?
check "SIGTERM before InstanceStart ends skiff serve with 0 (exit $rc)" [ "$rc" -eq 0 ]

"$SKIFF" run --kernel "$GUESTS/ticker.elf" --api-sock "$S" </dev/null >"$T/run.out" 2>&1 &
pid=$!
wait_sock "$S"
expect 204 "skiff run serves the API too: Kill" PUT /actions '{"action_type": "Kill"}'
wait_pid $pid 10
rc=$?
check "  ... Kill stops at once: exit 8 (exit $rc)" [ "$rc" -eq 8 ]

# ---- the default socket, and a name already in use ----
"$SKIFF" run --kernel "$GUESTS/ticker.elf" --name dup </dev/null >/dev/null 2>&1 &
pid=$!
wait_sock "$XDG_RUNTIME_DIR/skiff/dup.sock"
check "skiff run serves on \$XDG_RUNTIME_DIR/skiff/NAME.sock by default" \
	[ -S "$XDG_RUNTIME_DIR/skiff/dup.sock" ]
"$SKIFF" run --kernel "$GUESTS/ticker.elf" --name dup </dev/null >/dev/null 2>"$T/dup.err"
rc=$?
check "a second VM with the same name exits 2 (exit $rc)" [ "$rc" -eq 2 ]
check "  ... saying the name is in use" grep -q "already running" "$T/dup.err"
check "  ... and the first still answers" wait_sock "$XDG_RUNTIME_DIR/skiff/dup.sock"
kill -TERM $pid
wait_pid $pid 30
check "SIGTERM: the API VM powers off (exit $?)" [ $? -eq 0 ]

# ---- --config-file ----
cat >"$T/vm.json" <<EOF
{
  "boot-source": {"kernel_image_path": "$GUESTS/debug_exit.elf", "boot_args": "code=3"},
  "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
  "drives": [{"drive_id": "d0", "path_on_host": "$T/d0.img", "is_root_device": false, "is_read_only": true}]
}
EOF
"$SKIFF" run --config-file "$T/vm.json" --debug-exit --api-sock none </dev/null >"$T/cf.out" 2>&1
rc=$?
check "--config-file boots the file's kernel with its boot_args (exit $rc, want 7)" [ "$rc" -eq 7 ]
sed 's/"vcpu_count": 1/"vcpu_count": "one"/' "$T/vm.json" >"$T/bad.json"
"$SKIFF" run --config-file "$T/bad.json" --api-sock none </dev/null >/dev/null 2>"$T/bad.err"
rc=$?
check "--config-file with a wrong type exits 2 (exit $rc)" [ "$rc" -eq 2 ]
check "  ... naming the field" grep -q "vcpu_count" "$T/bad.err"

# ---- metrics every flush_interval_s, and once more at the end ----
cat >"$T/metrics-vm.json" <<EOF
{
  "boot-source": {"kernel_image_path": "$GUESTS/ticker.elf"},
  "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
  "metrics": {"metrics_path": "$T/periodic.json", "flush_interval_s": 1}
}
EOF
: >"$T/periodic.json"
"$SKIFF" run --config-file "$T/metrics-vm.json" --api-sock none </dev/null >/dev/null 2>&1 &
pid=$!
sleep 3.5
lines=$(wc -l <"$T/periodic.json")
check "flush_interval_s 1: metrics written every second ($lines lines after 3.5 s)" \
	[ "$lines" -ge 2 -a "$lines" -le 4 ]
kill -TERM $pid
wait_pid $pid 30
check "  ... SIGTERM: exit 0 (exit $?)" [ $? -eq 0 ]
check "  ... and one last line when the VM stops, each a metrics document" \
	python3 -c 'import json,sys; l=open(sys.argv[1]).read().splitlines(); assert len(l)==int(sys.argv[2])+1, len(l); [json.loads(x)["vcpus"] for x in l]' \
	"$T/periodic.json" "$lines"
