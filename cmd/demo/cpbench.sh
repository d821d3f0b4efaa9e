#!/usr/bin/env bash
# cpbench.sh compares "demo cp-out" with debugfs reading out of ext4 images
# (issue 7's baselines): a 1 GiB file (debugfs -R "dump ...") and a tree
# of 20,000 files of 1-8 KiB in 200 directories (debugfs -R "rdump ...").
# Whole processes are timed (LKL boot, mount and halt included), with a
# warm page cache and every output on tmpfs. Rounds alternate the tools so
# both see the same moments of a shared machine.
#
#   BIN=.build/bin ./cmd/demo/cpbench.sh        (make demo builds $BIN/demo)
#
# WORK (default /dev/shm/gk-cpbench) holds the images, made on the first
# run and reused; ROUNDS (default 5) is the number of rounds.
set -euo pipefail
BIN=${BIN:-.build/bin}
WORK=${WORK:-/dev/shm/gk-cpbench}
ROUNDS=${ROUNDS:-5}
DEMO=$BIN/demo
PATH=$PATH:/usr/sbin:/sbin
mkdir -p "$WORK"

if [ ! -f "$WORK/big.img" ]; then
	echo "making $WORK/big.img (one 1 GiB file)" >&2
	mkdir -p "$WORK/big-src"
	head -c $((1 << 30)) /dev/urandom > "$WORK/big-src/big.bin"
	truncate -s 1200M "$WORK/big.img"
	mke2fs -q -F -t ext4 -d "$WORK/big-src" "$WORK/big.img"
	rm -rf "$WORK/big-src"
fi
if [ ! -f "$WORK/tree.img" ]; then
	echo "making $WORK/tree.img (20,000 files of 1-8 KiB in 200 directories)" >&2
	src=$WORK/tree-src/tree
	for d in $(seq 0 199); do
		mkdir -p "$src/d$d"
		size=$((1024 * (1 + d % 8)))
		head -c $((100 * size)) /dev/urandom | split -b "$size" -a 3 - "$src/d$d/f"
	done
	truncate -s 400M "$WORK/tree.img"
	mke2fs -q -F -t ext4 -N 30000 -d "$WORK/tree-src" "$WORK/tree.img"
	rm -rf "$WORK/tree-src"
fi

# seconds runs its arguments with their output discarded and prints the
# wall time in seconds.
seconds() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" > /dev/null 2>&1
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc
}

out=$WORK/out
cat "$WORK/big.img" "$WORK/tree.img" > /dev/null # warm the page cache
printf "%-6s %-22s %10s %10s\n" round case debugfs demo
for r in $(seq "$ROUNDS"); do
	rm -rf "$out" && mkdir -p "$out"
	a=$(seconds debugfs -R "dump /big.bin $out/big.bin" "$WORK/big.img")
	rm -rf "$out" && mkdir -p "$out"
	b=$(seconds "$DEMO" cp-out "$WORK/big.img" /big.bin "$out")
	cmp -s <(head -c 1048576 "$out/big.bin") <(debugfs -R "cat /big.bin" "$WORK/big.img" 2>/dev/null | head -c 1048576) || { echo "cp-out differs" >&2; exit 1; }
	printf "%-6s %-22s %9.3fs %9.3fs   (%.0f vs %.0f MB/s)\n" "$r" "1 GiB file" "$a" "$b" \
		"$(echo "1073.741824 / $a" | bc -l)" "$(echo "1073.741824 / $b" | bc -l)"
	rm -rf "$out" && mkdir -p "$out"
	a=$(seconds debugfs -R "rdump /tree $out" "$WORK/tree.img")
	rm -rf "$out" && mkdir -p "$out"
	b=$(seconds "$DEMO" cp-out "$WORK/tree.img" /tree "$out")
	n=$(find "$out/tree" -type f | wc -l)
	[ "$n" = 20000 ] || { echo "cp-out copied $n files, not 20000" >&2; exit 1; }
	printf "%-6s %-22s %9.3fs %9.3fs\n" "$r" "20,000-file tree" "$a" "$b"
done
rm -rf "$out"
