#!/usr/bin/env bash
# cpbench.sh compares "demo cp-out" with debugfs reading out of ext4 images
# (issue 7's baselines): a 1 GiB file (debugfs -R "dump ...") and a tree
# of 20,000 files of 1-8 KiB in 200 directories (debugfs -R "rdump ...").
# Whole processes are timed (LKL boot, mount and halt included), with a
# warm page cache and every output on tmpfs. Each round runs every tool
# once per case, in turn, so all of them see the same moments of a shared
# machine; the summary gives medians and the median of the per-round
# ratios to debugfs (debugfs time / tool time: above 1 is faster).
#
#   BIN=.build/bin ./cmd/gkbench/cpbench.sh     (make build makes $BIN/demo)
#   REF="/tmp/old/demo /tmp/new/demo" BIN=.build/bin ./cmd/gkbench/cpbench.sh
#         (also other demo binaries, each named by its directory: old, new)
#
# WORK (default /dev/shm/gk-cpbench) holds the images, made on the first
# run and reused; ROUNDS (default 5) is the number of rounds; CASES
# (default "big tree") picks the cases.
set -euo pipefail
BIN=${BIN:-.build/bin}
WORK=${WORK:-/dev/shm/gk-cpbench}
ROUNDS=${ROUNDS:-5}
CASES=${CASES:-big tree}
DEMO=$BIN/demo
REF=${REF:-}
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

# seconds CMD...: wall time of CMD in seconds (benchlib.sh).
. "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"

out=$WORK/out
tools=(debugfs demo)
declare -A bins=([demo]=$DEMO)
for b in $REF; do
	name=$(basename "$(dirname "$b")")
	bins[$name]=$b
	tools+=("$name")
done
# run TOOL CASE: one timed run into a fresh $out, checked afterwards.
run() {
	rm -rf "$out" && mkdir -p "$out"
	local bin=${bins[$1]:-} t
	case $1/$2 in
	debugfs/big) t=$(seconds debugfs -R "dump /big.bin $out/big.bin" "$WORK/big.img") ;;
	debugfs/tree) t=$(seconds debugfs -R "rdump /tree $out" "$WORK/tree.img") ;;
	*/big) t=$(seconds "$bin" cp-out "$WORK/big.img" /big.bin "$out") ;;
	*/tree) t=$(seconds "$bin" cp-out "$WORK/tree.img" /tree "$out") ;;
	esac
	check_copy "$1" "$2" "$out" "$WORK/big.ref"
	echo "$t"
}

[ -f "$WORK/big.ref" ] || debugfs -R "cat /big.bin" "$WORK/big.img" 2>/dev/null | tail -c 1048576 > "$WORK/big.ref"
cat "$WORK/big.img" "$WORK/tree.img" > /dev/null # warm the page cache
declare -A times
printf "%-6s %-6s" round case; printf " %9s" "${tools[@]}"; echo
for r in $(seq "$ROUNDS"); do
	for c in $CASES; do
		printf "%-6s %-6s" "$r" "$c"
		# Rotate the order each round: A B C, B C A, ...
		n=${#tools[@]}
		for i in $(seq 0 $((n - 1))); do
			t=${tools[$(((i + r) % n))]}
			times[$c/$t]+="$(run "$t" "$c") "
		done
		for t in "${tools[@]}"; do
			v=${times[$c/$t]% }; printf " %8.3fs" "${v##* }"
		done
		echo
	done
done
rm -rf "$out"

# median of the numbers in $1
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "summary over $ROUNDS rounds: median time (min-max); ratio = median over rounds of debugfs time / tool time"
for c in $CASES; do
	for t in "${tools[@]}"; do
		v=${times[$c/$t]}
		ratios=$(paste -d/ <(tr ' ' '\n' <<<"${times[$c/debugfs]}" | grep .) <(tr ' ' '\n' <<<"$v" | grep .) | bc -l | tr '\n' ' ')
		m=$(median "$v")
		extra=""
		[ "$c" = big ] && extra=$(printf " %5.0f MB/s" "$(echo "1073.741824 / $m" | bc -l)")
		printf "%-6s %-8s %7.3fs (%.3f-%.3f)%s  ratio %.2f\n" "$c" "$t" "$m" \
			"$(tr ' ' '\n' <<<"$v" | grep . | sort -g | head -1)" "$(tr ' ' '\n' <<<"$v" | grep . | sort -g | tail -1)" \
			"$extra" "$(median "$ratios")"
	done
done
