#!/usr/bin/env bash
# echofloor.sh measures where an echo server's CPU goes (docs/aio.md, "The
# floor"): for each server it runs "gkbench echo" on the host, loads it
# with "gkbench load" for 6 s, and from 1.5 s to 4.5 s records it with
# "perf record -g" and counts its context switches, system calls and
# io_uring submissions and completions with "perf stat". It prints per
# message: the server's CPU time (from load), those counts, and the shares
# of the server's samples under tcp_sendmsg, tcp_recvmsg, net_rx_action,
# schedule, runtime.sysmon and io_uring_enter. Needs perf and root (or
# perf_event_paranoid <= -1).
#
#   BIN=.build/bin ./cmd/gkbench/echofloor.sh CONNS SIZE SERVER...
#
# A SERVER is NAME:API:ENV,ENV:FLAGS, e.g.
#   uring2:loop:GOKERNEL_AIO=uring  uring1:loop:GOKERNEL_AIO=uring:-loops=1
#   gnet2:gnet::  gnet1:gnet::-loops=1
# The recordings stay in OUT (default /tmp/gk-echofloor).
set -uo pipefail
conns=$1 size=$2
shift 2
BIN=${BIN:-.build/bin}
OUT=${OUT:-/tmp/gk-echofloor}
mkdir -p "$OUT"
. "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh" # listening_addr
per() { echo "scale=3; $1/($2*3)" | bc; }
for v in "$@"; do
	IFS=: read -r name api envs flags <<<"$v"
	o=$OUT/$name-$conns-$size
	: >"$o.srv"
	# shellcheck disable=SC2046,SC2086
	env GOKERNEL=host GOKERNEL_TRACE= $(echo "$envs" | tr , ' ') "$BIN/gkbench" echo -api "$api" $flags >"$o.srv" 2>&1 &
	spid=$!
	addr=$(listening_addr "$o.srv" 50) || { kill $spid; exit 1; }
	"$BIN/gkbench" load -addr "$addr" -conns "$conns" -size "$size" -duration 6s -server-pid $spid >"$o.load" &
	lpid=$!
	sleep 1.5
	perf stat -x, -o "$o.stat" -e context-switches,raw_syscalls:sys_enter,io_uring:io_uring_complete,io_uring:io_uring_submit_req -p $spid -- sleep 3 &
	perf record -q -g -o "$o.data" -p $spid -- sleep 3 >/dev/null 2>&1
	wait $lpid
	kill $spid
	wait $spid 2>/dev/null
	sleep 0.5
	mps=$(sed -n 's/.*msgs\/s=\([0-9]*\).*/\1/p' "$o.load")
	cpu=$(sed -n 's/.*cpu\/msg=\([^ ]*\).*/\1/p' "$o.load")
	rep=$(perf report -i "$o.data" --children --sort sym -g none --stdio 2>/dev/null)
	pct() { echo "$rep" | awk -v s="$1" '$NF==s {gsub("%","",$1); print $1; exit}'; }
	count() { awk -F, -v e="$1" '$3==e {print $1}' "$o.stat"; }
	echo "$name msgs/s=$mps cpu/msg=$cpu cs/msg=$(per "$(count context-switches)" "$mps")" \
		"syscalls/msg=$(per "$(count raw_syscalls:sys_enter)" "$mps")" \
		"cqe/msg=$(per "$(count io_uring:io_uring_complete)" "$mps") sqe/msg=$(per "$(count io_uring:io_uring_submit_req)" "$mps")" \
		"tcp_sendmsg=$(pct tcp_sendmsg)% tcp_recvmsg=$(pct tcp_recvmsg)% net_rx_action=$(pct net_rx_action)%" \
		"schedule=$(pct schedule)% sysmon=$(pct runtime.sysmon)% io_uring_enter=$(pct __do_sys_io_uring_enter)% load=$(cut -d' ' -f1 /proc/loadavg)"
done
