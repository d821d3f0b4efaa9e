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
#   BIN=.build/bin ./cmd/gkbench/fusebench.sh     (make build makes $BIN/demo)
#
# ROUNDS (default 3) is the number of rounds; CASES (default "big tree ls")
# picks the cases.
set -euo pipefail
BIN=${BIN:-.build/bin}
WORK=${WORK:-/dev/shm/gk-cpbench}
ROUNDS=${ROUNDS:-3}
CASES=${CASES:-big tree ls write}
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
	rm -rf "$out" "$WORK/empty.img"
}
trap cleanup EXIT

# serve TOOL IMAGE mounts IMAGE read-only at $mnt with TOOL and waits for
# the mount; unserve undoes it.
serve() {
	case $1 in
	demo) "$DEMO" mount -o ro "$2" "$mnt" > /dev/null & server=$! ;;
	demo-nx) "$DEMO" mount -o ro,noxattr "$2" "$mnt" > /dev/null & server=$! ;;
	fuse2fs) fuse2fs -o ro,fakeroot "$2" "$mnt" > /dev/null ;;
	demo-w) "$DEMO" mount "$2" "$mnt" > /dev/null & server=$! ;;
	demo-nowb) "$DEMO" mount -o nowriteback "$2" "$mnt" > /dev/null & server=$! ;;
	fuse2fs-w) fuse2fs -o rw,fakeroot "$2" "$mnt" > /dev/null ;;
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

# seconds CMD...: wall time of CMD in seconds (benchlib.sh).
. "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"

image() {
	case $1 in
	big) echo "$WORK/big.img" ;;
	write) echo "$WORK/empty.img" ;;
	*) echo "$WORK/tree.img" ;;
	esac
}
# The write case's source and image (a fresh empty ext4 for every run).
if [[ " $CASES " == *" write "* ]]; then
	[ -f "$WORK/write.src" ] || head -c $((1 << 30)) /dev/urandom > "$WORK/write.src"
fi
fresh_empty() { rm -f "$WORK/empty.img" && truncate -s 3G "$WORK/empty.img" && mkfs.ext4 -q -F "$WORK/empty.img"; }

# run TOOL CASE: one timed run, checked afterwards.
run() {
	rm -rf "$out" && mkdir -p "$out"
	local t
	[ "$2" = write ] && fresh_empty
	if [ "$1" = cp-out ]; then
		case $2 in
		big) t=$(seconds "$DEMO" cp-out "$WORK/big.img" /big.bin "$out") ;;
		tree) t=$(seconds "$DEMO" cp-out "$WORK/tree.img" /tree "$out") ;;
		esac
	elif [ "$1" = cp-in ]; then
		t=$(seconds "$DEMO" cp-in "$WORK/empty.img" "$WORK/write.src" /)
	else
		local tool=$1
		[ "$2" = write ] && [ "$tool" != demo-nowb ] && tool=$tool-w
		serve "$tool" "$(image "$2")"
		case $2 in
		big) t=$(seconds cp "$mnt/big.bin" "$out/") ;;
		tree) t=$(seconds cp -a "$mnt/tree" "$out/") ;;
		ls) t=$(seconds ls -lR "$mnt/tree") ;;
		write) t=$(seconds sh -c 'cp "$1" "$2/write.bin" && sync "$2/write.bin"' - "$WORK/write.src" "$mnt") ;;
		esac
		[ "$2" = write ] && { cmp -s "$mnt/write.bin" "$WORK/write.src" || { echo "$1: write.bin differs" >&2; exit 1; }; }
		unserve
	fi
	check_copy "$1" "$2" "$out" "$WORK/big.ref"
	echo "$t"
}

tools() {
	case $1 in
	big) echo "fuse2fs demo cp-out" ;;
	tree) echo "fuse2fs demo demo-nx cp-out" ;;
	ls) echo "fuse2fs demo demo-nx" ;;
	write) echo "fuse2fs demo demo-nowb cp-in" ;;
	esac
}
results=$WORK/fuse-results.txt # "case tool round seconds" lines
: > "$results"
echo "round case: seconds per tool (demo = cp or ls through demo mount; demo-nx: -o noxattr; demo-nowb: -o nowriteback; cp-out, cp-in = demo cp-out, cp-in, whole process)"
for r in $(seq "$ROUNDS"); do
	for c in $CASES; do
		read -r -a ts <<< "$(tools "$c")"
		n=${#ts[@]}
		line=""
		for i in $(seq 0 $((n - 1))); do
			t=${ts[$(((i + r) % n))]}
			v=$(run "$t" "$c")
			echo "$c $t $r $v" >> "$results"
			line+=" $t=$(printf %.3f "$v")"
		done
		echo "$r $c:$line"
	done
done

echo
echo "summary over $ROUNDS rounds: median time (min-max); ratio = median over rounds of fuse2fs time / tool time"
sort -k1,1 -k2,2 -k3,3n "$results" | awk '
	function median(a, n,   s, i, j, t) {
		for (i = 1; i <= n; i++) s[i] = a[i]
		for (i = 2; i <= n; i++) for (j = i; j > 1 && s[j-1] > s[j]; j--) { t = s[j]; s[j] = s[j-1]; s[j-1] = t }
		return n % 2 ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
	}
	{ key = $1 " " $2; n[key]++; v[key, n[key]] = $4; ref[$1, $3] = ($2 == "fuse2fs") ? $4 : ref[$1, $3]; rnd[key, n[key]] = $3; keys[key] = 1 }
	END {
		for (key in keys) {
			split(key, kc, " ")
			lo = hi = v[key, 1]
			for (i = 1; i <= n[key]; i++) {
				x[i] = v[key, i]; r[i] = ref[kc[1], rnd[key, i]] / v[key, i]
				if (x[i] < lo) lo = x[i]
				if (x[i] > hi) hi = x[i]
			}
			m = median(x, n[key])
			mbs = (kc[1] == "big" || kc[1] == "write") ? sprintf(" %5.0f MB/s", 1073.741824 / m) : ""
			printf "%-5s %-8s %8.3fs (%.3f-%.3f)%s  ratio %.2f\n", kc[1], kc[2], m, lo, hi, mbs, median(r, n[key])
		}
	}' | sort -k1,1 -k2,2
