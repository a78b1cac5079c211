#!/usr/bin/env bash
# Cross-check virtio_io.elf (or another guest) on QEMU q35 with the same
# devices skiff gives it: modern-only virtio-blk, virtio-rng and
# virtio-console over PCI. For developers; not part of the test suite.
#
# usage: tests/guests/run-qemu.sh [options] [-- extra QEMU args]
#   -g ELF      guest (default: $GUESTS/virtio_io.elf, GUESTS=build/guests)
#   -d LIST     devices: any of blk,rng,console (default: all three)
#   -r          read-only disk (adds "readonly" to the command line)
#   -H          hostile check (adds "hostile")
#   -n          no COM1 UART: output only over virtio-console
#   -i IMG      disk image to use (default: a new sparse 64 MiB file)
#   -c ARGS     extra guest command-line words
#   -k          keep the temporary directory
# Prints the guest's COM1 output, then its virtio-console output, and exits
# with the guest's debug-exit code (0 = all checks passed).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GUESTS=${GUESTS:-$ROOT/build/guests}
elf=$GUESTS/virtio_io.elf devices=blk,rng,console readonly='' hostile='' uart=1
img='' extra='' keep=''
while getopts "g:d:rHni:c:k" o; do
	case $o in
	g) elf=$OPTARG;;
	d) devices=$OPTARG;;
	r) readonly=1;;
	H) hostile=1;;
	n) uart=;;
	i) img=$OPTARG;;
	c) extra=$OPTARG;;
	k) keep=1;;
	*) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 2;;
	esac
done
shift $((OPTIND - 1))
[ -f "$elf" ] || { echo "run-qemu: $elf is missing (make guests)" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null ||
	{ echo "run-qemu: qemu-system-x86_64 is not installed" >&2; exit 2; }

tmp=$(mktemp -d)
if [ -n "$keep" ]; then echo "run-qemu: keeping $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi
if [ -z "$img" ]; then
	img=$tmp/disk.img
	truncate -s 64M "$img"
fi
sectors=$(($(stat -c %s "$img") / 512))
serial=SKIFF0001
cl="expect=$devices serial=$serial sectors=$sectors"
[ -n "$readonly" ] && cl="$cl readonly"
[ -n "$hostile" ] && cl="$cl hostile"
[ -n "$extra" ] && cl="$cl $extra"

args=(-enable-kvm -cpu 'host,-arch-capabilities' -M q35 -m 256M -nographic
	-no-reboot -nodefaults -device 'isa-debug-exit,iobase=0xf4,iosize=4'
	-kernel "$elf" -append "$cl")
if [ -n "$uart" ]; then args+=(-serial stdio); else args+=(-serial none); fi
case ",$devices," in *,blk,*)
	ro=''; [ -n "$readonly" ] && ro=,readonly=on
	# discard=unmap: DISCARD punches holes, as skiff's does.
	args+=(-drive "file=$img,if=none,id=d0,format=raw,cache=none,aio=io_uring,discard=unmap$ro"
		-device "virtio-blk-pci,drive=d0,disable-legacy=on,disable-modern=off,serial=$serial");;
esac
case ",$devices," in *,rng,*)
	args+=(-device 'virtio-rng-pci,disable-legacy=on,disable-modern=off');;
esac
case ",$devices," in *,console,*)
	args+=(-device 'virtio-serial-pci,disable-legacy=on,disable-modern=off'
		-chardev "file,id=c0,path=$tmp/console.txt" -device 'virtconsole,chardev=c0');;
esac

echo "run-qemu: cmdline \"$cl\""
timeout "${QEMU_TIMEOUT:-120}" qemu-system-x86_64 "${args[@]}" "$@" </dev/null | tr -d '\r'
rc=${PIPESTATUS[0]}
if [ -s "$tmp/console.txt" ]; then
	echo "run-qemu: --- virtio-console output"
	cat "$tmp/console.txt"
fi
# isa-debug-exit makes QEMU exit with (v << 1) | 1.
if [ $((rc & 1)) -eq 1 ] && [ "$rc" -lt 128 ]; then
	echo "run-qemu: guest debug-exit $((rc >> 1))"
	exit $((rc >> 1))
fi
echo "run-qemu: QEMU exited with status $rc (no debug-exit)"
exit 125
