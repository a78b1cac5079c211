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

# run_one NAME CMD...: run a TAP-speaking test, tally its lines.
run_one() {
	local name=$1 out rc p=0 f=0 s=0 line
	shift
	echo "# --- $name"
	out=$(mktemp)
	"$@" >"$out" 2>&1
	rc=$?
	while IFS= read -r line; do
		case "$line" in
		*ok*"# SKIP"*|*ok*"# skip"*) s=$((s + 1)); echo "$line";;
		"not ok"*) f=$((f + 1)); echo "$line";;
		ok*) p=$((p + 1)); echo "$line";;
		*) echo "    $line";;
		esac
	done <"$out"
	rm -f "$out"
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
		run_one "unit/$(basename "$t")" "$t"
	done
fi
for suite in integration e2e; do
	[ -z "$ONLY" ] || [ "$ONLY" = "$suite" ] || continue
	for t in "$ROOT"/tests/$suite/*.sh; do
		[ -f "$t" ] || continue
		run_one "$suite/$(basename "$t")" bash "$t"
	done
done

if [ ${#failed_names[@]} -gt 0 ]; then
	echo "# failed: ${failed_names[*]}"
fi
if [ "$skip" -gt 0 ]; then
	echo "# WARNING: $skip test(s) SKIPPED (see '# SKIP' lines above)"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
