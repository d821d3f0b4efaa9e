#!/usr/bin/env bash
# diskbench.sh measures issue 16's disk sources side by side, as whole
# demo processes (LKL boot, mount and halt included) with a warm page
# cache and every image on tmpfs:
#
#   raw     demo cat of a 1 GiB file from a raw ext4 image (the C preadv path)
#   qcow2   the same file from the image converted to qcow2 (disk/qcow2)
#   nbd     the same qcow2 served by qemu-nbd to gokernel's NBD client
#   http    demo cat of a 256 MiB file from an image served over HTTP with
#           Range requests by a local server (gkbench rangeserve: Go's
#           http.ServeContent with sendfile, many connections at once)
#   httpls  demo ls / of the 1 GiB image over HTTP: the bytes it fetched
#   old     raw with the demo binary $OLD (if set): the same command from
#           another build, e.g. main before the Go-device work
#
# Each round runs every case once, in a rotated order, so all of them see
# the same moments of a shared machine; the summary gives medians and the
# median of per-round ratios.
#
#   BIN=.build/bin ./cmd/gkbench/diskbench.sh
#   OLD=/tmp/old/demo BIN=.build/bin ./cmd/gkbench/diskbench.sh
#
# WORK (default /dev/shm/gk-diskbench) holds the images, made on the
# first run and reused; ROUNDS (default 5); CASES (default: all that the
# installed tools allow).
set -euo pipefail
BIN=${BIN:-.build/bin}
WORK=${WORK:-/dev/shm/gk-diskbench}
ROUNDS=${ROUNDS:-5}
OLD=${OLD:-}
DEMO=$(realpath "$BIN/demo")
GKBENCH=$(realpath "$BIN/gkbench")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PATH=$PATH:/usr/sbin:/sbin
mkdir -p "$WORK"

# mkimg NAME MIB SIZE: an ext4 image NAME.img of SIZE holding NAME.bin,
# MIB MiB of random bytes.
mkimg() {
	[ -f "$WORK/$1.img" ] && return
	echo "making $WORK/$1.img (one $2 MiB file)" >&2
	mkdir -p "$WORK/$1-src"
	head -c $(($2 << 20)) /dev/urandom > "$WORK/$1-src/$1.bin"
	truncate -s "$3" "$WORK/$1.img"
	mke2fs -q -F -t ext4 -d "$WORK/$1-src" "$WORK/$1.img"
	rm -rf "$WORK/$1-src"
}
mkimg big 1024 1200M
mkimg med 256 300M
[ -f "$WORK/big.qcow2" ] || qemu-img convert -O qcow2 "$WORK/big.img" "$WORK/big.qcow2"

. "$here/benchlib.sh"

cleanup() {
	[ -n "${http_pid:-}" ] && kill "$http_pid" 2>/dev/null
	[ -n "${nbd_pid:-}" ] && kill "$nbd_pid" 2>/dev/null
	wait 2>/dev/null || true
}
trap cleanup EXIT
"$GKBENCH" rangeserve "$WORK" > "$WORK/http.out" 2>&1 &
http_pid=$!
haddr=$(listening_addr "$WORK/http.out") || { echo "gkbench rangeserve did not start" >&2; exit 1; }
served() { curl -sf "http://$haddr/__bytes"; }

default=(raw qcow2 http httpls)
if command -v qemu-nbd > /dev/null; then
	rm -f "$WORK/nbd.sock"
	qemu-nbd --read-only --persistent --shared=4 --format=qcow2 --socket="$WORK/nbd.sock" "$WORK/big.qcow2" &
	nbd_pid=$!
	for _ in $(seq 200); do [ -S "$WORK/nbd.sock" ] && break; sleep 0.05; done
	default+=(nbd)
fi
[ -n "$OLD" ] && default+=(old)
read -r -a cases <<< "${CASES:-${default[*]}}"

# cmd CASE: the command line of CASE.
cmd() {
	case $1 in
	raw) echo "$DEMO cat $WORK/big.img /big.bin" ;;
	old) echo "$OLD cat $WORK/big.img /big.bin" ;;
	qcow2) echo "$DEMO cat $WORK/big.qcow2 /big.bin" ;;
	nbd) echo "$DEMO cat nbd+unix:///?socket=$WORK/nbd.sock /big.bin" ;;
	http) echo "$DEMO cat http://$haddr/med.img /med.bin" ;;
	httpls) echo "$DEMO ls http://$haddr/big.img /" ;;
	esac
}

# Check every case once: the right bytes (the last MiB) or listing.
for c in "${cases[@]}"; do
	case $c in
	httpls) $(cmd "$c") | grep -q 'big.bin' || { echo "$c: big.bin not listed" >&2; exit 1; } ;;
	http) cmp <($(cmd "$c") | tail -c 1048576) <(debugfs -R "cat /med.bin" "$WORK/med.img" 2>/dev/null | tail -c 1048576) ||
		{ echo "$c: wrong bytes" >&2; exit 1; } ;;
	*) cmp <($(cmd "$c") | tail -c 1048576) <(debugfs -R "cat /big.bin" "$WORK/big.img" 2>/dev/null | tail -c 1048576) ||
		{ echo "$c: wrong bytes" >&2; exit 1; } ;;
	esac
done
served > /dev/null

cat "$WORK"/*.img "$WORK/big.qcow2" > /dev/null # warm the page cache
declare -A times
lsbytes=""
printf "%-6s" round; printf " %9s" "${cases[@]}"; echo
for r in $(seq "$ROUNDS"); do
	printf "%-6s" "$r"
	n=${#cases[@]}
	for i in $(seq 0 $((n - 1))); do
		c=${cases[$(((i + r) % n))]}
		# shellcheck disable=SC2046
		times[$c]+="$(seconds $(cmd "$c")) "
		b=$(served)
		[ "$c" = httpls ] && lsbytes+="$b "
	done
	for c in "${cases[@]}"; do v=${times[$c]% }; printf " %8.3fs" "${v##* }"; done
	echo
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# ratio A B: median over rounds of time(B) / time(A), i.e. how many times
# faster A is than B (above 1: A is faster).
ratio() {
	median "$(paste -d/ <(tr ' ' '\n' <<<"${times[$2]}" | grep .) <(tr ' ' '\n' <<<"${times[$1]}" | grep .) | bc -l | tr '\n' ' ')"
}
has() { [[ " ${cases[*]} " == *" $1 "* ]]; }
echo
echo "summary over $ROUNDS rounds: median time (min-max)"
for c in "${cases[@]}"; do
	v=${times[$c]}
	m=$(median "$v")
	extra=""
	case $c in
	raw | old | qcow2 | nbd) extra=$(printf " %5.0f MB/s" "$(echo "1073.741824 / $m" | bc -l)") ;;
	http) extra=$(printf " %5.0f MB/s" "$(echo "268.435456 / $m" | bc -l)") ;;
	httpls) extra=$(printf " fetched %.2f MiB (median)" "$(echo "$(median "$lsbytes") / 1048576" | bc -l)") ;;
	esac
	printf "%-7s %7.3fs (%.3f-%.3f)%s\n" "$c" "$m" \
		"$(tr ' ' '\n' <<<"$v" | grep . | sort -g | head -1)" "$(tr ' ' '\n' <<<"$v" | grep . | sort -g | tail -1)" "$extra"
done
echo "ratios (median of per-round ratios; above 1: the first is faster)"
has qcow2 && has raw && printf "qcow2 vs raw   %.2f  (target >= 0.8)\n" "$(ratio qcow2 raw)"
has qcow2 && has nbd && printf "qcow2 vs nbd   %.2f  (native reader vs qemu-nbd + NBD client; target > 1)\n" "$(ratio qcow2 nbd)"
has raw && has old && printf "raw vs old     %.3f (target 0.95-1.05)\n" "$(ratio raw old)"
true
