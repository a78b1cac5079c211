#!/usr/bin/env bash
# `make bench`: every benchmark against the build in $1, one after the other
# (never two at once: the machine has two cores and each compares timings).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build}
status=0
for b in startup api blk net linux-boot; do
	echo "=== bench/$b.sh"
	bash "$ROOT/bench/$b.sh" "$B" || status=1
	echo
done
exit $status
