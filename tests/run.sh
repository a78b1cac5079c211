#!/usr/bin/env bash
# Run every test against the build in $1 (default: build) and print one
# closing line "N passed, N failed, N skipped". Each test program speaks TAP
# ("ok", "not ok", "# SKIP"); cmocka binaries are asked for TAP too.
# $2 (optional) limits the run to one suite: unit, integration or e2e.
set -u
B=${1:-build}
ONLY=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export SKIFF="$ROOT/$B/skiff" GUESTS="$ROOT/$B/guests" SKIFF_ROOT="$ROOT"
export CMOCKA_MESSAGE_OUTPUT=TAP
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
pass=0 fail=0 skip=0
failed_names=()
timings=()

# tree_pids PID: PID and all its descendants.
tree_pids() {
	local c
	echo "$1"
	for c in $(pgrep -P "$1" 2>/dev/null); do
		tree_pids "$c"
	done
}

# diagnose PID: what every skiff process under PID is doing, as TAP comments.
diagnose() {
	local p
	for p in $(tree_pids "$1"); do
		case "$(cat /proc/$p/comm 2>/dev/null)" in skiff*) ;; *) continue;; esac
		echo "# hung: $(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null)"
		ps -L -o tid=,stat=,wchan:32=,comm= -p "$p" 2>&1 | sed 's/^/#   /'
		if command -v gdb >/dev/null; then
			timeout 60 gdb -p "$p" -batch -ex 'thread apply all bt' 2>&1 |
				grep -E '^(Thread|#)' | head -80 | sed 's/^/#   /'
		fi
	done
}

# watchdog PID LIMIT NAME: after LIMIT s, report, diagnose and kill PID's tree.
watchdog() {
	local i pids
	for ((i = 0; i < $2; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 1
	done
	echo "not ok - $3 timed out after $2 s"
	diagnose "$1"
	# Not $1 itself: it is run_one's wrapper, which then reports the status.
	pids=$(tree_pids "$1" | tail -n +2)
	kill -9 $pids 2>/dev/null
}

# run_one NAME LIMIT CMD...: run a TAP-speaking test for at most LIMIT s,
# show its output as it comes, then tally its lines.
run_one() {
	local name=$1 limit=$2 out rc p=0 f=0 s=0 line tpid wpid t0=$SECONDS
	shift 2
	echo "# --- $name (at $((SECONDS / 60))m$((SECONDS % 60))s)"
	out=$(mktemp)
	# Appending, so the watchdog's lines and the test's never overwrite.
	bash -c '"$@"; exit $?' test "$@" >>"$out" 2>&1 &
	tpid=$!
	watchdog "$tpid" "$limit" "$name" >>"$out" 2>&1 &
	wpid=$!
	# sed -u: Debian's awk (mawk) reads a pipe in blocks, which held a
	# script's output back until it ended.
	tail -n +1 -f -s 0.1 --pid="$tpid" "$out" 2>/dev/null |
		sed -u -e '/^\(not \)\?ok/!s/^/    /'
	wait "$tpid"
	rc=$?
	kill "$wpid" 2>/dev/null
	wait "$wpid" 2>/dev/null
	while IFS= read -r line; do
		case "$line" in
		*ok*"# SKIP"*|*ok*"# skip"*) s=$((s + 1));;
		"not ok"*) f=$((f + 1));;
		ok*) p=$((p + 1));;
		esac
	done <"$out"
	rm -f "$out"
	echo "    # $name took $((SECONDS - t0)) s"
	timings+=("$name $((SECONDS - t0))s")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name exited with status $rc"
		f=$((f + 1))
	fi
	if [ $((p + f + s)) -eq 0 ]; then
		echo "not ok - $name ran no test"
		f=1
	fi
	[ "$f" -gt 0 ] && failed_names+=("$name")
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
}

if [ -z "$ONLY" ] || [ "$ONLY" = unit ]; then
	for t in "$ROOT/$B"/tests/unit/test_*; do
		[ -x "$t" ] || continue
		case "$t" in *.d) continue;; esac
		run_one "unit/$(basename "$t")" 300 "$t"
	done
fi
# Limits far above a normal run here (e2e: about 8 min), so a hang fails
# the suite with a diagnosis instead of stalling CI.
for suite in integration:600 e2e:1500; do
	limit=${suite#*:} suite=${suite%:*}
	[ -z "$ONLY" ] || [ "$ONLY" = "$suite" ] || continue
	for t in "$ROOT"/tests/$suite/*.sh; do
		[ -f "$t" ] || continue
		run_one "$suite/$(basename "$t")" "$limit" bash "$t"
	done
done

echo "# took: ${timings[*]}"
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "# failed: ${failed_names[*]}"
fi
if [ "$skip" -gt 0 ]; then
	echo "# WARNING: $skip test(s) SKIPPED (see '# SKIP' lines above)"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
