#!/usr/bin/env bash
# httpfloor.sh measures where an HTTP server's CPU goes (docs/aio.md, "HTTP:
# what a backend can change"): for each server it runs "gkbench http DIR"
# on the host, loads it with "gkbench http-load" (50 keep-alive clients,
# a 1 KiB file) for 6 s, records it from 1.5 s to 4.5 s with "perf record
# -g", and splits the samples with "gkbench perf-split" into what every
# backend pays, Go's scheduler, and what io_uring can replace. Needs perf
# and root (or perf_event_paranoid <= -1).
#
#   BIN=.build/bin ./cmd/gkbench/httpfloor.sh SERVER...
#
# A SERVER is NAME:API:ENV,ENV, e.g.
#   net:net:  unet-epoll:unet:GOKERNEL_AIO=epoll  unet-uring:unet:GOKERNEL_AIO=uring
# The recordings stay in OUT (default /tmp/gk-httpfloor); DIR (default
# /tmp/gk-runhttp) gets body.bin if missing.
set -uo pipefail
BIN=${BIN:-.build/bin}
OUT=${OUT:-/tmp/gk-httpfloor}
DIR=${DIR:-/tmp/gk-runhttp}
. "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh" # listening_addr
mkdir -p "$OUT" "$DIR"
[ -f "$DIR/body.bin" ] || head -c 1024 /dev/urandom >"$DIR/body.bin"
for v in "$@"; do
	IFS=: read -r name api envs <<<"$v"
	o=$OUT/$name
	: >"$o.srv"
	# shellcheck disable=SC2046
	env GOKERNEL=host GOKERNEL_TRACE= $(echo "$envs" | tr , ' ') "$BIN/gkbench" http "$DIR" -api "$api" -listen 127.0.0.1:0 >"$o.srv" 2>&1 &
	spid=$!
	addr=$(listening_addr "$o.srv" 50) || { kill $spid; exit 1; }
	"$BIN/gkbench" http-load "http://$addr/body.bin" -dir "$DIR" -clients 50 -duration 6s -server-pid $spid >"$o.load" &
	lpid=$!
	sleep 1.5
	perf record -q -g -o "$o.data" -p $spid -- sleep 3 >/dev/null 2>&1
	wait $lpid
	kill $spid
	wait $spid 2>/dev/null
	echo "$name: $(cat "$o.load") load=$(cut -d' ' -f1 /proc/loadavg)"
	perf script -i "$o.data" -F ip,sym,dso 2>/dev/null | "$BIN/gkbench" perf-split | sed 's/^/  /'
done
