#!/usr/bin/env bash
# The CLI's help, version and error paths: every bad input exits 2 with a
# message that names the flag or file and the reason. No KVM needed: skiff
# checks its inputs before it opens /dev/kvm.
source "$SKIFF_ROOT/tests/lib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
GUEST=$GUESTS/hello.elf

# expect_err DESC PATTERN ARGS...: exit 2 and PATTERN on stderr.
expect_err() {
	local d=$1 pat=$2 rc
	shift 2
	"$SKIFF" "$@" </dev/null >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -eq 2 ] && grep -qE -- "$pat" "$T/err"; then
		ok "$d"
	else
		not_ok "$d (exit $rc, stderr: $(head -c 300 "$T/err"))"
	fi
}

"$SKIFF" --help >"$T/out" 2>&1
check "skiff --help exits 0 and lists run" grep -q "run" "$T/out"
"$SKIFF" run --help >"$T/out" 2>&1
check "skiff run --help documents --kernel and the exit statuses" \
	grep -q -- "--kernel" "$T/out"
check "skiff run --help documents Ctrl-A x" grep -q "Ctrl-A x" "$T/out"
"$SKIFF" --version >"$T/out" 2>&1
check "skiff --version prints a version" grep -qE "^skiff [0-9]+\.[0-9]+" "$T/out"
expect_err "no command is a usage error" "usage" 
expect_err "unknown command" "unknown command.*frobnicate" frobnicate
expect_err "unknown flag" "'--frobnicate' is unknown" run --kernel "$GUEST" --frobnicate
expect_err "flag missing its value" "unknown or needs a value" run --kernel
expect_err "--cpus 0" "--cpus: '0'" run --kernel "$GUEST" --cpus 0
expect_err "--cpus 1000" "--cpus: '1000'" run --kernel "$GUEST" --cpus 1000
expect_err "--memory bogus" "--memory: 'lots'" run --kernel "$GUEST" --memory lots
expect_err "--memory too small" "--memory: '1M'" run --kernel "$GUEST" --memory 1M
expect_err "--on-reboot bogus" "--on-reboot: 'sometimes'" run --kernel "$GUEST" --on-reboot sometimes
expect_err "--name with a slash" "--name: 'a/b'" run --kernel "$GUEST" --name a/b
expect_err "missing kernel file" "--kernel: $T/nope: No such file" run --kernel "$T/nope"
expect_err "kernel is a directory" "--kernel: $T: is a directory" run --kernel "$T"
expect_err "missing initrd" "--initrd: $T/nope" run --kernel "$GUEST" --initrd "$T/nope"
printf 'this is not a kernel' >"$T/garbage"
expect_err "garbage kernel names the file and the reason" "$T/garbage: .*magic" run --kernel "$T/garbage"
: >"$T/empty"
expect_err "empty kernel" "$T/empty: " run --kernel "$T/empty"
head -c 100 "$GUEST" >"$T/truncated"
expect_err "truncated ELF kernel" "$T/truncated: " run --kernel "$T/truncated"
head -c 5000000 /dev/zero >"$T/big-initrd"
truncate -s 40M "$T/big-initrd"
expect_err "initrd larger than guest memory" "initrd.*(fit|memory)" \
	run --kernel "$GUEST" --initrd "$T/big-initrd" --memory 32M
SKIFF_CACHE=$T/no-cache expect_err "no kernel and no default guest says make guest" \
	"make guest" run
expect_err "stray argument without --" "unexpected argument 'ls'" run --kernel "$GUEST" ls
