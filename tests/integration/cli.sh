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

# --disk: the option, then the image file (checked before /dev/kvm too).
truncate -s 1M "$T/disk.img"
truncate -s 1000 "$T/odd.img"
: >"$T/empty.img"
expect_err "--disk without path" "--disk 'serial=x': path=FILE is missing" \
	run --kernel "$GUEST" --disk serial=x
expect_err "--disk unknown key" "unknown key 'size'" run --kernel "$GUEST" --disk "path=$T/disk.img,size=1"
expect_err "--disk readonly=maybe" "readonly=maybe is not 'on' or 'off'" \
	run --kernel "$GUEST" --disk "path=$T/disk.img,readonly=maybe"
expect_err "--disk cache=unsafe" "cache=unsafe is not 'none' or 'writeback'" \
	run --kernel "$GUEST" --disk "path=$T/disk.img,cache=unsafe"
expect_err "--disk serial too long" "serial '123456789012345678901' must be 1-20" \
	run --kernel "$GUEST" --disk "path=$T/disk.img,serial=123456789012345678901"
expect_err "--disk missing file" "--disk: $T/nope.img: no such file" \
	run --kernel "$GUEST" --disk "path=$T/nope.img"
expect_err "--disk a directory" "--disk: $T: is a directory" run --kernel "$GUEST" --disk "path=$T"
expect_err "--disk size not a multiple of 512" "size 1000 is not a multiple of 512" \
	run --kernel "$GUEST" --disk "path=$T/odd.img"
expect_err "--disk empty image" "empty image" run --kernel "$GUEST" --disk "path=$T/empty.img"
expect_err "--console bogus" "--console: 'tty' is not 'serial' or 'virtio'" \
	run --kernel "$GUEST" --console tty
# A read-only file opened read-write: root may write anything, so run as
# nobody, with skiff and the guest copied where nobody can reach them (a
# checkout may sit in a directory only root can enter).
chmod 0444 "$T/disk.img"
chmod 0755 "$T"
if command -v setpriv >/dev/null && [ "$(id -u)" -eq 0 ]; then
	cp "$SKIFF" "$T/skiff" && cp "$GUEST" "$T/guest.elf" && chmod 0644 "$T/guest.elf"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$T/skiff" run --kernel "$T/guest.elf" \
		--disk "path=$T/disk.img" </dev/null >"$T/out" 2>"$T/err"
	rc=$?
	check "--disk read-only file without readonly=on (exit $rc)" \
		eval '[ "$rc" -eq 2 ] && grep -q "not writable; use readonly=on" "$T/err"'
elif [ "$(id -u)" -ne 0 ]; then
	expect_err "--disk read-only file without readonly=on" "not writable; use readonly=on" \
		run --kernel "$GUEST" --disk "path=$T/disk.img"
else
	skip "--disk read-only file without readonly=on" "root without setpriv"
fi
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
