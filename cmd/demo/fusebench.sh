#!/usr/bin/env bash
# fusebench.sh compares demo mount (an image served through LKL and
# go-fuse) with fuse2fs (e2fsprogs' FUSE server for ext4, Debian package
# fuse2fs), both read-only, with the host's own programs on the mount:
#   big   cp of a 1 GiB file out of the mount
#   tree  cp -a of 20,000 files of 1-8 KiB in 200 directories
#   ls    ls -lR of that tree
# and, for big and tree, demo cp-out (the same copy through ufs, no FUSE)
# as a whole process. The images are cpbench.sh's (made on first use, in
# WORK, default /dev/shm/gk-cpbench); every output goes to tmpfs. Only the
# program is timed (cp, ls); each timed run gets a fresh mount, so no page
# cache is shared between runs. Each round runs every tool once per case,
# the order rotating, so all see the same moments of a shared machine; the
# summary gives medians and the median of the per-round ratios to fuse2fs
# (fuse2fs time / tool time: above 1 is faster).
#
#   BIN=.build/bin ./cmd/demo/fusebench.sh     (make build makes $BIN/demo)
#
# ROUNDS (default 3) is the number of rounds; CASES (default "big tree ls")
# picks the cases.
set -euo pipefail
BIN=${BIN:-.build/bin}
WORK=${WORK:-/dev/shm/gk-cpbench}
ROUNDS=${ROUNDS:-3}
CASES=${CASES:-big tree ls}
DEMO=$BIN/demo
PATH=$PATH:/usr/sbin:/sbin
for tool in fuse2fs fusermount3; do
	command -v $tool > /dev/null || { echo "fusebench: $tool is missing (apt-get install fuse2fs fuse3)" >&2; exit 1; }
done
# Make the images (and nothing else) with cpbench.sh.
ROUNDS=0 CASES=" " BIN=$BIN WORK=$WORK "$(dirname "$0")/cpbench.sh" > /dev/null

mnt=$(mktemp -d)
out=$WORK/fuse-out
server=""
cleanup() {
	if mountpoint -q "$mnt"; then fusermount3 -u "$mnt" || umount -l "$mnt"; fi
	[ -n "$server" ] && wait "$server" 2> /dev/null || true
	rmdir "$mnt"
	rm -rf "$out"
}
trap cleanup EXIT

# serve TOOL IMAGE mounts IMAGE read-only at $mnt with TOOL and waits for
# the mount; unserve undoes it.
serve() {
	case $1 in
	demo) "$DEMO" mount -o ro "$2" "$mnt" > /dev/null & server=$! ;;
	fuse2fs) fuse2fs -o ro,fakeroot "$2" "$mnt" > /dev/null ;;
	esac
	for _ in $(seq 600); do mountpoint -q "$mnt" && return; sleep 0.05; done
	echo "fusebench: $1 did not mount $2" >&2
	exit 1
}
unserve() {
	fusermount3 -u "$mnt"
	if [ -n "$server" ]; then wait "$server"; server=""; fi
	while mountpoint -q "$mnt"; do sleep 0.05; done
}

# seconds runs its arguments with their output discarded and prints the
# wall time in seconds.
seconds() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" > /dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc
}

image() { if [ "$1" = big ]; then echo "$WORK/big.img"; else echo "$WORK/tree.img"; fi; }

# run TOOL CASE: one timed run, checked afterwards.
run() {
	rm -rf "$out" && mkdir -p "$out"
	local t
	if [ "$1" = cp-out ]; then
		case $2 in
		big) t=$(seconds "$DEMO" cp-out "$WORK/big.img" /big.bin "$out") ;;
		tree) t=$(seconds "$DEMO" cp-out "$WORK/tree.img" /tree "$out") ;;
		esac
	else
		serve "$1" "$(image "$2")"
		case $2 in
		big) t=$(seconds cp "$mnt/big.bin" "$out/") ;;
		tree) t=$(seconds cp -a "$mnt/tree" "$out/") ;;
		ls) t=$(seconds ls -lR "$mnt/tree") ;;
		esac
		unserve
	fi
	case $2 in
	big)
		[ "$(stat -c %s "$out/big.bin")" = $((1 << 30)) ] || { echo "$1: big.bin has the wrong size" >&2; exit 1; }
		cmp -s <(tail -c 1048576 "$out/big.bin") "$WORK/big.ref" || { echo "$1: big.bin differs" >&2; exit 1; } ;;
	tree)
		local n
		n=$(find "$out/tree" -type f | wc -l)
		[ "$n" = 20000 ] || { echo "$1 copied $n files, not 20000" >&2; exit 1; } ;;
	esac
	echo "$t"
}

tools() { if [ "$1" = ls ]; then echo "fuse2fs demo"; else echo "fuse2fs demo cp-out"; fi; }
declare -A times
echo "round case: seconds per tool (demo = cp or ls through demo mount; cp-out = demo cp-out, whole process)"
for r in $(seq "$ROUNDS"); do
	for c in $CASES; do
		read -r -a ts <<< "$(tools "$c")"
		n=${#ts[@]}
		line=""
		for i in $(seq 0 $((n - 1))); do
			t=${ts[$(((i + r) % n))]}
			v=$(run "$t" "$c")
			times[$c/$t]+="$v "
			line+=" $t=$(printf %.3f "$v")"
		done
		echo "$r $c:$line"
	done
done

# median of the numbers in $1
median() { tr ' ' '\n' <<< "$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "summary over $ROUNDS rounds: median time (min-max); ratio = median over rounds of fuse2fs time / tool time"
for c in $CASES; do
	for t in $(tools "$c"); do
		v=${times[$c/$t]}
		ratios=$(paste -d/ <(tr ' ' '\n' <<< "${times[$c/fuse2fs]}" | grep .) <(tr ' ' '\n' <<< "$v" | grep .) | bc -l | tr '\n' ' ')
		m=$(median "$v")
		extra=""
		[ "$c" = big ] && extra=$(printf " %5.0f MB/s" "$(echo "1073.741824 / $m" | bc -l)")
		printf "%-5s %-8s %8.3fs (%.3f-%.3f)%s  ratio %.2f\n" "$c" "$t" "$m" \
			"$(tr ' ' '\n' <<< "$v" | grep . | sort -g | head -1)" "$(tr ' ' '\n' <<< "$v" | grep . | sort -g | tail -1)" \
			"$extra" "$(median "$ratios")"
	done
done
