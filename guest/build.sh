#!/usr/bin/env bash
# Build skiff's default Linux guest: a minimal 6.1 kernel (vmlinux with the
# PVH note, and a bzImage) plus a busybox initramfs, into
#   ${SKIFF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/skiff}/guest/<key>/
# where <key> hashes this script, linux.config, init, checks.sh and the
# versions of the Debian packages used. guest/current points at the newest
# build. A complete key dir is reused as is, so a second run is instant.
#
# Needs (Debian): linux-source-6.1 busybox-static gcc make flex bison bc
#                 libelf-dev libssl-dev lz4
# Safe to interrupt: outputs are assembled in a temp dir and renamed into
# place; the kernel object tree is reused by the next run.
set -euo pipefail
# The whole script is one brace group, read before it runs: editing this
# file during a build cannot derail the running build.
{

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${SKIFF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/skiff}
GUEST=$CACHE/guest
TARBALL=/usr/src/linux-source-6.1.tar.xz
BUSYBOX=/bin/busybox
INPUTS="linux.config init checks.sh build.sh"

die() { echo "guest/build.sh: error: $*" >&2; exit 1; }
say() { echo "guest/build.sh: $*" >&2; }

pkg_version() {
	dpkg-query -W -f='${Version}' "$1" 2>/dev/null ||
		die "Debian package $1 is not installed (apt-get install $1)"
}

# complete DIR: DIR holds every output of a finished build.
complete() {
	local f
	for f in vmlinux bzImage initramfs.cpio; do
		[ -s "$1/$f" ] || return 1
	done
}

# point_current KEY: make guest/current -> KEY, atomically.
point_current() {
	[ "$(readlink "$GUEST/current" 2>/dev/null)" = "$1" ] && return 0
	ln -sfn "$1" "$GUEST/current.tmp.$$"
	mv -fT "$GUEST/current.tmp.$$" "$GUEST/current"
}

for f in $INPUTS; do
	[ -f "$HERE/$f" ] || die "missing input $HERE/$f"
done
linux_version=$(pkg_version linux-source-6.1)
busybox_version=$(pkg_version busybox-static)
# input_key DIR: the cache key of the inputs in DIR.
input_key() {
	{
		for f in $INPUTS; do
			echo "== $f"
			cat "$1/$f"
		done
		echo "linux-source-6.1 $linux_version"
		echo "busybox-static $busybox_version"
	} | sha256sum | cut -c1-12
}
key=$(input_key "$HERE")
out=$GUEST/$key

if complete "$out"; then
	point_current "$key"
	echo "$out"
	exit 0
fi

[ -r "$TARBALL" ] || die "$TARBALL missing (apt-get install linux-source-6.1)"
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing (apt-get install busybox-static)"
"$BUSYBOX" --list | grep -x acpid >/dev/null || die "$BUSYBOX has no acpid applet"
for tool in make gcc flex bison bc lz4 objcopy readelf; do
	command -v "$tool" >/dev/null || die "'$tool' not found in PATH"
done

mkdir -p "$GUEST" "$CACHE/src"
# One build at a time per cache: the kernel object tree is shared.
exec 9>"$GUEST/.lock"
if ! flock -n 9; then
	say "another build holds $GUEST/.lock, waiting"
	flock 9
fi
if complete "$out"; then	# built while we waited
	point_current "$key"
	echo "$out"
	exit 0
fi

# We hold the lock: temp dirs left by killed builds are nobody's.
rm -rf "$GUEST"/.tmp-* "$CACHE"/src/.extract.*
tmp=$(mktemp -d "$GUEST/.tmp-$key.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
# Work from copies so edits made during the build cannot leak into it.
mkdir "$tmp/in"
for f in $INPUTS; do
	cp "$HERE/$f" "$tmp/in/$f"
done
[ "$(input_key "$tmp/in")" = "$key" ] ||
	die "guest/ inputs changed while starting the build; run it again"
log=$GUEST/build-$key.log
: >"$log"

# fail_log WHAT: report a failed step with the tail of the log.
fail_log() {
	echo "guest/build.sh: error: $1 failed; last lines of $log:" >&2
	tail -n 40 "$log" >&2
	exit 1
}

# --- kernel source, extracted once
src=$CACHE/src/linux-6.1-${linux_version//[^A-Za-z0-9.+~-]/_}
if [ ! -f "$src/Makefile" ]; then
	say "extracting $TARBALL into $src"
	x=$(mktemp -d "$CACHE/src/.extract.XXXXXX")
	tar -xJf "$TARBALL" -C "$x" || { rm -rf "$x"; die "extracting $TARBALL"; }
	top=$(ls "$x")
	[ -f "$x/$top/Makefile" ] || { rm -rf "$x"; die "no kernel tree in $TARBALL"; }
	rm -rf "$src"
	mv "$x/$top" "$src"
	rmdir "$x"
fi

# --- configure (out of tree) and check that the fragment survived
obj=$CACHE/obj/linux-6.1-${linux_version//[^A-Za-z0-9.+~-]/_}
mkdir -p "$obj"
kmake() {
	make -C "$src" O="$obj" KBUILD_BUILD_USER=skiff \
		KBUILD_BUILD_HOST=skiff "$@" >>"$log" 2>&1
}
say "configuring (log: $log)"
kmake allnoconfig KCONFIG_ALLCONFIG="$tmp/in/linux.config" ||
	fail_log "make allnoconfig"

missing=
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*)
		grep -qxF -- "$line" "$obj/.config" || missing="$missing
  want $line, got: $(grep -E "^(# )?${line%%=*}[= ]" "$obj/.config" || echo absent)"
		;;
	"# CONFIG_"*" is not set")
		name=${line#\# }
		name=${name%% *}
		grep -qE "^$name=" "$obj/.config" && missing="$missing
  want $name off, got: $(grep -E "^$name=" "$obj/.config")"
		;;
	esac
done <"$tmp/in/linux.config"
if [ -n "$missing" ]; then
	die "guest/linux.config options that allnoconfig dropped (missing dependencies?):$missing"
fi

# --- build
say "building the kernel with $(nproc) jobs (log: $log)"
start=$(date +%s)
kmake -j"$(nproc)" vmlinux bzImage || fail_log "kernel build"
say "kernel built in $(($(date +%s) - start)) s"

objcopy --strip-all "$obj/vmlinux" "$tmp/vmlinux" || die "objcopy vmlinux"
# The PVH entry point: Xen note XEN_ELFNOTE_PHYS32_ENTRY (type 18).
readelf -n "$tmp/vmlinux" | grep -E 'Xen.*(0x00000012|PHYS32_ENTRY)' >/dev/null ||
	die "vmlinux has no XEN_ELFNOTE_PHYS32_ENTRY note (is CONFIG_PVH on?)"
cp "$obj/arch/x86/boot/bzImage" "$tmp/bzImage"
cp "$obj/System.map" "$tmp/System.map"
cp "$obj/.config" "$tmp/config"
make -s -C "$src" O="$obj" kernelrelease >"$tmp/kernelrelease" 2>>"$log" ||
	fail_log "make kernelrelease"

# --- initramfs: uncompressed newc, built without root by gen_init_cpio
gen=$obj/usr/gen_init_cpio
if [ ! -x "$gen" ]; then
	gcc -O2 -o "$tmp/gen_init_cpio" "$src/usr/gen_init_cpio.c" >>"$log" 2>&1 ||
		fail_log "compiling gen_init_cpio"
	gen=$tmp/gen_init_cpio
fi
# busybox acpid runs /etc/acpi/<ACTION>/<PARAM> for an event; the power
# key (KEY_POWER from the ACPI button's evdev) maps to PWRF/00000080.
cat >"$tmp/power-button" <<'EOF'
#!/bin/sh
echo "skiff-init: power button pressed, powering off" >/dev/console
sync
poweroff -f
EOF
# udhcpc's hook: apply the lease (busybox passes ip, subnet, router, dns).
cat >"$tmp/udhcpc.script" <<'EOF'
#!/bin/sh
case "$1" in
deconfig)
	ifconfig "$interface" 0.0.0.0 up
	;;
bound|renew)
	ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
	for r in $router; do route add default gw "$r" dev "$interface"; break; done
	: >/etc/resolv.conf
	for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
	echo "udhcpc: $interface is $ip"
	;;
esac
exit 0
EOF
# One "mount -a" instead of three mount processes (a fork+exec costs
# ~0.8 s of guest time on kvm_pvm).
cat >"$tmp/fstab" <<'EOF'
proc /proc proc defaults 0 0
sysfs /sys sysfs defaults 0 0
devtmpfs /dev devtmpfs defaults 0 0
EOF
# mkfs.ext4 for the disk checks: e2fsprogs' mke2fs from the host (Debian),
# with the shared libraries ldd names, at the same paths.
MKE2FS=/sbin/mke2fs
[ -x "$MKE2FS" ] || die "$MKE2FS missing: apt-get install e2fsprogs (scripts/install-deps.sh)"
{
	echo "dir /lib 0755 0 0"
	echo "dir /lib/x86_64-linux-gnu 0755 0 0"
	echo "dir /lib64 0755 0 0"
	echo "dir /mnt 0755 0 0"
	echo "file /sbin/mke2fs $MKE2FS 0755 0 0"
	echo "slink /sbin/mkfs.ext4 mke2fs 0777 0 0"
	[ -f /etc/mke2fs.conf ] && echo "file /etc/mke2fs.conf /etc/mke2fs.conf 0644 0 0"
	ldd "$MKE2FS" | while read -r a b c _; do
		case "$a" in
		/*) lib=$a ;;		# the loader: "/lib64/ld-linux-x86-64.so.2 (0x...)"
		*) [ "$b" = "=>" ] && lib=$c || continue ;;
		esac
		[ -f "$lib" ] || continue
		echo "file $lib $(readlink -f "$lib") 0755 0 0"
	done
} >"$tmp/files.mkfs" || die "listing mke2fs libraries"
cat >"$tmp/files" <<EOF
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /proc 0755 0 0
dir /sys 0755 0 0
dir /tmp 1777 0 0
dir /root 0700 0 0
dir /bin 0755 0 0
dir /sbin 0755 0 0
dir /usr 0755 0 0
dir /usr/bin 0755 0 0
dir /usr/sbin 0755 0 0
dir /var 0755 0 0
dir /var/log 0755 0 0
dir /var/run 0755 0 0
dir /etc 0755 0 0
dir /etc/acpi 0755 0 0
dir /etc/acpi/PWRF 0755 0 0
file /etc/acpi/PWRF/00000080 $tmp/power-button 0755 0 0
file /bin/busybox $BUSYBOX 0755 0 0
file /bin/skiff-checks $tmp/in/checks.sh 0755 0 0
file /init $tmp/in/init 0755 0 0
file /etc/fstab $tmp/fstab 0644 0 0
file /etc/udhcpc.script $tmp/udhcpc.script 0755 0 0
EOF
cat "$tmp/files.mkfs" >>"$tmp/files"
"$gen" "$tmp/files" >"$tmp/initramfs.cpio" 2>>"$log" ||
	fail_log "gen_init_cpio"
rm -rf "$tmp/in" "$tmp/files" "$tmp/files.mkfs" "$tmp/fstab" "$tmp/udhcpc.script" "$tmp/power-button" "$tmp/gen_init_cpio"

complete "$tmp" || die "build finished but outputs are missing in $tmp"
chmod 755 "$tmp"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
point_current "$key"
# Keep the four newest builds (other checkouts may use older keys).
hex='[0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
ls -1dt "$GUEST"/$hex$hex$hex 2>/dev/null | tail -n +5 | while IFS= read -r d; do
	[ "${d##*/}" = "$key" ] || rm -rf "$d" "$GUEST/build-${d##*/}.log"
done
say "done: $(cat "$out/kernelrelease"), $(du -h "$out/bzImage" | cut -f1) bzImage"
echo "$out"
exit 0
}
