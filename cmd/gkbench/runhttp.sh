#!/usr/bin/env bash
# runhttp.sh compares a static Go HTTP server (gkbench http, CGO_ENABLED=0)
# on the host with the same binary under "demo run" (bridged TCP sockets,
# the default) and under "demo run --sockets=lkl": ROUNDS rounds, the three
# in turn with the order rotating each round, 3 s each, the server loading
# itself with CLIENTS clients (-self-load). Prints each round's req/s and
# the load average before and after (issue 19's HTTP row in the README).
#
#   BIN=.build/bin DIR=/some/dir ROUNDS=5 CLIENTS=50 ./cmd/gkbench/runhttp.sh
#
# BIN holds demo (built with -tags lkl: make build); the server is a
# static gkbench, $BIN/gkbench-static, built here with CGO_ENABLED=0 if
# missing (run from the repository's root). DIR is the directory served (a
# 1 KiB file is requested from it: body.bin, made if missing).
set -euo pipefail
BIN=${BIN:-.build/bin}
DIR=${DIR:-/tmp/gk-runhttp}
ROUNDS=${ROUNDS:-5}
CLIENTS=${CLIENTS:-50}
G=$BIN/gkbench-static
[ -x "$G" ] || CGO_ENABLED=0 go build -o "$G" ./cmd/gkbench
mkdir -p "$DIR"
[ -f "$DIR/body.bin" ] || head -c 1024 /dev/urandom >"$DIR/body.bin"
args=(http "$DIR" -api net -listen 127.0.0.1:0 -self-load -clients "$CLIENTS" -duration 3s)
run() {
	case $1 in
	host) "$G" "${args[@]}" ;;
	bridge) "$BIN/demo" run -- "$G" "${args[@]}" ;;
	lkl) "$BIN/demo" run --sockets=lkl -- "$G" "${args[@]}" ;;
	esac 2>/dev/null | grep -o 'msgs/s=[0-9]*' | cut -d= -f2
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
modes=(host bridge lkl)
for r in $(seq "$ROUNDS"); do
	line="round $r:"
	for i in 0 1 2; do
		m=${modes[$(((i + r) % 3))]}
		line="$line $m=$(run "$m")"
	done
	echo "$line"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
