# Shell helpers for TAP-speaking tests (sourced by integration and e2e tests).
# SKIFF (the binary), GUESTS (built test guests) and SKIFF_ROOT come from
# tests/run.sh.
tap_n=0
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() { tap_n=$((tap_n + 1)); echo "not ok $tap_n - $*"; }
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
