#!/usr/bin/env bash
# Install what skiff needs to build, test, build its default guest and run
# its benchmarks, from Debian's packages. Installs only what is missing.
set -euo pipefail
PACKAGES=(
	build-essential pkg-config
	zlib1g-dev liblz4-dev libzstd-dev liblzma-dev libcmocka-dev liburing-dev
	libslirp-dev
	# the control API: JSON (linked statically), HTTP (loaded when serving)
	libjansson-dev libmicrohttpd-dev curl
	acpica-tools
	# the default Linux guest (make guest)
	linux-source-6.1 busybox-static flex bison bc libelf-dev libssl-dev
	cpio xz-utils lz4 zstd e2fsprogs
	# e2e network peers (tests/e2e/netpeer.py), network namespaces
	python3 iproute2
	# tests/run.sh: ps, pgrep, and thread backtraces of a test that hangs
	procps gdb
	# benchmarks compare with QEMU
	qemu-system-x86
)
missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
