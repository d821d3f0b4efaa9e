#!/bin/bash
# abbench.sh OLD NEW: the echo and HTTP rows of two gkbench builds (say
# main before a change and after it), alternated run by run, with the
# medians of each and their ratios new/old. Both builds' servers get their
# load from NEW's load generator, so only the servers differ.
#
#   ROUNDS=5 ./cmd/gkbench/abbench.sh /tmp/old/gkbench .build/bin/gkbench
#
# Build OLD from a clean tree of the old commit (git archive COMMIT | tar x
# -C DIR; then, in DIR, eval "$(gokernel-lkl env)" and go build -tags lkl
# ./cmd/gkbench). Each row: the echo server (-api loop, unet) on the host
# with NEW's load from another process, then on LKL with its in-process
# load (-self-load); net/http over unet the same way. The machine is
# shared: quote the medians and the ratios, and read the spread of the
# per-round ratios the summary prints before calling a change real.
set -euo pipefail
OLD=$(realpath "$1") NEW=$(realpath "$2")
ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-2s}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh" # listening_addr
mkdir "$WORK/www" && head -c 1024 /dev/urandom > "$WORK/www/body.bin"

# serve NAME BIN ARGS...: start BIN ARGS in the background, wait for its
# "listening on" line, leave its pid in $pid and its address in $addr.
serve() {
	local log=$WORK/$1.out; shift
	"$@" > "$log" 2>&1 & pid=$!
	addr=$(listening_addr "$log") || { echo "server did not start: $*" >&2; exit 1; }
}

for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then order="old new"; else order="new old"; fi
	for b in $order; do
		bin=$OLD; [ $b = new ] && bin=$NEW
		for cfg in "64 64" "8 16384"; do
			set -- $cfg
			for api in loop unet; do
				serve echo "$bin" echo -api $api
				res=$("$NEW" load -addr "$addr" -conns $1 -size $2 -duration "$DURATION" -server-pid $pid 2>&1 | tail -1)
				kill -TERM $pid; wait $pid 2>/dev/null || true
				echo "$b|$1×$2 $api host|$res"
				res=$(GOKERNEL=lkl "$bin" echo -api $api -self-load -duration "$DURATION" -conns $1 -size $2 2>&1 | tail -1)
				echo "$b|$1×$2 $api lkl|$res"
			done
		done
		serve http "$bin" http "$WORK/www" -api unet -listen 127.0.0.1:0
		res=$("$NEW" http-load "http://$addr/body.bin" -dir "$WORK/www" -duration "$DURATION" -server-pid $pid 2>&1 | tail -1)
		kill -TERM $pid; wait $pid 2>/dev/null || true
		echo "$b|http unet host|$res"
		res=$(GOKERNEL=lkl "$bin" http "$WORK/www" -api unet -listen 127.0.0.1:0 -self-load -duration "$DURATION" 2>&1 | tail -1)
		echo "$b|http unet lkl|$res"
	done
done | tee "$WORK/runs.txt" >&2

python3 - "$WORK/runs.txt" <<'EOF'
import collections, re, statistics, sys
unit = {'ns': 1e-3, 'µs': 1, 'us': 1, 'ms': 1e3, 's': 1e6}
def us(s):
    m = re.match(r'([\d.]+)(ns|µs|us|ms|s)$', s)
    return float(m.group(1)) * unit[m.group(2)]
runs = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    b, row, res = line.rstrip('\n').split('|', 2)
    m = re.search(r'/s=(\d+) p50=\S+ p99=(\S+) cpu/\w+=(\S+)', res)
    if not m:
        sys.exit(f'unreadable result for {row} ({b}): {res}')
    runs[row][b].append((int(m.group(1)), us(m.group(2)), us(m.group(3))))
print(f"{'row':22} {'old msgs/s':>11} {'new msgs/s':>11} {'old p99':>9} {'new p99':>9} {'old cpu':>8} {'new cpu':>8}   new/old: rate  p99   cpu   (per-round rate ratios)")
for row, by in runs.items():
    med = {b: [statistics.median(x[i] for x in by[b]) for i in range(3)] for b in ('old', 'new')}
    o, n = med['old'], med['new']
    per = ' '.join(f'{b[0] / a[0]:.2f}' for a, b in zip(by['old'], by['new']))
    print(f"{row:22} {o[0]:11.0f} {n[0]:11.0f} {o[1]/1e3:7.2f}ms {n[1]/1e3:7.2f}ms {o[2]:6.1f}µs {n[2]:6.1f}µs   {n[0]/o[0]:13.3f} {n[1]/o[1]:.3f} {n[2]/o[2]:.3f}   ({per})")
EOF
