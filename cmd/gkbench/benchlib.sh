# Shell functions shared by the bench scripts beside this file (sourced, not run).

# seconds runs its arguments with their output discarded and prints the
# wall time in seconds.
seconds() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" > /dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc
}

# check_copy TOOL CASE OUT REF: exits with a message naming TOOL unless
# TOOL's copy in OUT is whole: for CASE big, a 1 GiB big.bin whose last
# MiB equals REF (the image's last MiB); for CASE tree, 20,000 files under
# tree. Other cases are checked by their caller.
check_copy() {
	case $2 in
	big)
		[ "$(stat -c %s "$3/big.bin")" = $((1 << 30)) ] || { echo "$1: big.bin has the wrong size" >&2; exit 1; }
		cmp -s <(tail -c 1048576 "$3/big.bin") "$4" || { echo "$1: big.bin differs" >&2; exit 1; } ;;
	tree)
		local n
		n=$(find "$3/tree" -type f | wc -l)
		[ "$n" = 20000 ] || { echo "$1 copied $n files, not 20000" >&2; exit 1; } ;;
	esac
}

# listening_addr LOG [TENTHS]: waits up to TENTHS tenths of a second
# (default 100) for the "listening on ADDR" line a server (gkbench's, demo
# serve's: cli.PrintListening) writes to LOG, and prints ADDR; without
# one it prints LOG on stderr and fails.
listening_addr() {
	local a=
	for _ in $(seq "${2:-100}"); do
		a=$(sed -n 's/.*listening on //p' "$1" 2>/dev/null | head -1)
		[ -n "$a" ] && break
		sleep 0.1
	done
	[ -n "$a" ] || { echo "no \"listening on\" line in $1:" >&2; cat "$1" >&2; return 1; }
	echo "$a"
}
