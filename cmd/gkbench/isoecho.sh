#!/usr/bin/env bash
# isoecho.sh runs gkbench's echo servers on LKL (eloop's and unet's, with
# the load generator in the same process over LKL's loopback, as
# echo-bench's LKL rows) with LKL in-process and isolated (GOKERNEL=lkl
# with "isolation": "process": LKL in a sandboxed child, sys/isolated),
# alternated run by run, for 64 connections x 64 B and 8 x 16 KiB. It
# prints each run, then per configuration the medians of messages per
# second, p99 round trip and CPU time per message (the whole server's:
# isolated, its kernel's process included) and the ratios isolated /
# in-process, with the load average before and after.
#
#   BIN=.build/bin ./cmd/gkbench/isoecho.sh     (go build -tags lkl -o .build/bin/gkbench ./cmd/gkbench)
#
# ROUNDS (default 5), DURATION (default 3s) per run.
set -euo pipefail
BIN=${BIN:-.build/bin}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3s}
conf=$(mktemp --suffix .json)
trap 'rm -f "$conf"' EXIT
echo '{"isolation": "process"}' > "$conf"

# run MODE API CONNS SIZE: one run's "msgs/s p99-µs cpu-µs".
run() {
	local env=(GOKERNEL=lkl) line
	[ "$1" = isolated ] && env+=(GOKERNEL_CONFIG="$conf")
	line=$(env "${env[@]}" "$BIN/gkbench" echo -api "$2" -self-load -conns "$3" -size "$4" -duration "$DURATION" 2>/dev/null | grep '^msgs/s=')
	# msgs/s=N p50=D p99=D cpu/msg=D: durations to µs.
	awk '{ for (i = 1; i <= NF; i++) { if (split($i, kv, "=") == 2) v[kv[1]] = kv[2] } }
	function us(d) { if (d ~ /ms$/) return d * 1000; if (d ~ /µs$/) return d + 0; if (d ~ /ns$/) return d / 1000; return d * 1e6 }
	END { printf "%d %.1f %.2f\n", v["msgs/s"], us(v["p99"]), us(v["cpu/msg"]) }' <<<"$line"
}

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
modes=(inprocess isolated)
configs=("loop 64 64" "unet 64 64" "loop 8 16384" "unet 8 16384")
declare -A mps p99 cpu
for r in $(seq "$ROUNDS"); do
	for c in "${configs[@]}"; do
		for i in 0 1; do
			m=${modes[$(((i + r) % 2))]}
			read -r a b d <<<"$(run "$m" $c)"
			mps[$c/$m]+="$a "; p99[$c/$m]+="$b "; cpu[$c/$m]+="$d "
			printf "round %d  %-14s %-9s msgs/s %8d  p99 %8.1f µs  cpu/msg %7.2f µs\n" "$r" "$c" "$m" "$a" "$b" "$d"
		done
	done
done
echo
echo "medians over $ROUNDS rounds of $DURATION (load average before: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg))"
printf "%-14s %22s %22s %22s\n" "api conns size" "msgs/s in-proc/isol" "p99 µs in-proc/isol" "cpu/msg µs in-proc/isol"
for c in "${configs[@]}"; do
	mi=$(median "${mps[$c/inprocess]}"); ms=$(median "${mps[$c/isolated]}")
	pi=$(median "${p99[$c/inprocess]}"); ps=$(median "${p99[$c/isolated]}")
	ci=$(median "${cpu[$c/inprocess]}"); cs=$(median "${cpu[$c/isolated]}")
	printf "%-14s %9d/%-9d %.2fx %8.1f/%-8.1f %.1fx %8.2f/%-8.2f %.1fx\n" "$c" "$mi" "$ms" "$(echo "$ms / $mi" | bc -l)" \
		"$pi" "$ps" "$(echo "$ps / $pi" | bc -l)" "$ci" "$cs" "$(echo "$cs / $ci" | bc -l)"
done
