# Shell helpers for TAP-speaking tests (sourced by integration and e2e tests).
# SKIFF (the binary), GUESTS (built test guests) and SKIFF_ROOT come from
# tests/run.sh.
tap_n=0
tap_failed=0
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() { tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1)); echo "not ok $tap_n - $*"; }
skip() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $1 # SKIP $2"; }
# check DESC CMD...: ok when CMD succeeds.
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
# have_kvm: /dev/kvm usable by us. Tests that need it skip loudly otherwise.
have_kvm() { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }
# expect_status DESC WANT CMD...: run CMD, ok when it exits with WANT.
expect_status() {
	local d=$1 want=$2 got; shift 2
	"$@"; got=$?
	if [ "$got" -eq "$want" ]; then ok "$d"; else not_ok "$d (exit $got, want $want)"; fi
}
# proc_state PID: the process's state letter (R, S, Z, ...), empty when gone.
proc_state() { sed 's/.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null; }
# wait_pid PID SECS: wait for our child PID, at most SECS; if it is still
# running then, print why, kill it and return 124, so a hung VMM fails the
# test instead of stalling the suite.
wait_pid() {
	local i st
	for ((i = 0; i < $2 * 10; i++)); do
		st=$(proc_state "$1")
		[ -z "$st" ] || [ "$st" = Z ] && break
		sleep 0.1
	done
	st=$(proc_state "$1")
	if [ -n "$st" ] && [ "$st" != Z ]; then
		echo "# pid $1 still running after $2 s: killing it"
		ps -L -o tid=,stat=,wchan:32=,comm= -p "$1" 2>&1 | sed 's/^/#   /'
		kill -9 "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		return 124
	fi
	wait "$1"
}
