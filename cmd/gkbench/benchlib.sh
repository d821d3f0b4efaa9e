# Shell functions shared by cpbench.sh, fusebench.sh and diskbench.sh (sourced, not run).

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
