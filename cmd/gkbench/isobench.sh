#!/usr/bin/env bash
# isobench.sh compares isolated LKL (demo --isolate: LKL in a sandboxed
# child process, sys/isolated) with in-process LKL on issue 20's two
# throughput cases, as whole processes (boot, mount and halt included):
#   tree: demo cp-out of the 20,000-file tree image (1-8 KiB files in 200
#         directories) into a fresh directory on tmpfs;
#   big:  demo cat of the 1 GiB file of the big image to /dev/null;
#   pipe: the same into a pipe that cat empties to /dev/null (not in the
#         default CASES).
# The images are cpbench.sh's (run it once to make them, or point TREE
# and BIG at copies). Each round runs both modes once per case, the order
# swapped every round, so both see the same moments of a shared machine;
# the summary gives medians and the median of the per-round ratios
# in-process time / isolated time (isolated's speed as a fraction of
# in-process': issue 20 asks >= 0.7 for tree, >= 0.8 for big), and the
# load average before and after.
#
#   BIN=.build/bin ./cmd/gkbench/isobench.sh      (make build makes $BIN/demo)
#
# ROUNDS (default 9), CASES (default "tree big"), TREE and BIG (the
# images; default cpbench.sh's in /dev/shm/gk-cpbench), OUT (default
# /dev/shm/gk-isobench-out, emptied before each cp-out).
set -euo pipefail
BIN=${BIN:-.build/bin}
DEMO=$BIN/demo
ROUNDS=${ROUNDS:-9}
CASES=${CASES:-tree big}
TREE=${TREE:-/dev/shm/gk-cpbench/tree.img}
BIG=${BIG:-/dev/shm/gk-cpbench/big.img}
OUT=${OUT:-/dev/shm/gk-isobench-out}
for img in "$TREE" "$BIG"; do
	[ -f "$img" ] || { echo "$img is missing: run cmd/gkbench/cpbench.sh once (it makes the images)" >&2; exit 1; }
done

# seconds CMD... (wall time) and check_copy (benchlib.sh).
. "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"

# run MODE CASE: one timed run; MODE is inprocess or isolated.
run() {
	local flag=() t
	[ "$1" = isolated ] && flag=(--isolate)
	case $2 in
	tree)
		rm -rf "$OUT" && mkdir -p "$OUT"
		t=$(seconds "$DEMO" cp-out "${flag[@]}" "$TREE" /tree "$OUT")
		check_copy "$1" tree "$OUT" ;;
	big) t=$(seconds "$DEMO" cat "${flag[@]}" --readonly "$BIG" /big.bin) ;;
	pipe) t=$(seconds sh -c '"$0" cat "$@" | cat > /dev/null' "$DEMO" "${flag[@]}" --readonly "$BIG" /big.bin) ;;
	esac
	echo "$t"
}

# median of the numbers in $1
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

cat "$TREE" "$BIG" > /dev/null # warm the page cache
load0=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A times
modes=(inprocess isolated)
printf "%-6s %-5s %10s %10s\n" round case inprocess isolated
for r in $(seq "$ROUNDS"); do
	for c in $CASES; do
		for i in 0 1; do
			m=${modes[$(((i + r) % 2))]}
			times[$c/$m]+="$(run "$m" "$c") "
		done
		printf "%-6s %-5s" "$r" "$c"
		for m in "${modes[@]}"; do v=${times[$c/$m]% }; printf " %9.3fs" "${v##* }"; done
		echo
	done
done
rm -rf "$OUT"
echo
echo "summary over $ROUNDS rounds (load average before: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "median time (min-max); ratio = median over rounds of in-process time / isolated time"
for c in $CASES; do
	ratios=$(paste -d/ <(tr ' ' '\n' <<<"${times[$c/inprocess]}" | grep .) <(tr ' ' '\n' <<<"${times[$c/isolated]}" | grep .) | bc -l | tr '\n' ' ')
	for m in "${modes[@]}"; do
		v=${times[$c/$m]}
		printf "%-5s %-10s %7.3fs (%.3f-%.3f)\n" "$c" "$m" "$(median "$v")" \
			"$(tr ' ' '\n' <<<"$v" | grep . | sort -g | head -1)" "$(tr ' ' '\n' <<<"$v" | grep . | sort -g | tail -1)"
	done
	printf "%-5s ratio %.2f (per round: %s)\n" "$c" "$(median "$ratios")" "$(for x in $ratios; do printf "%.2f " "$x"; done)"
done
