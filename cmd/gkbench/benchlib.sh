# Shell functions shared by cpbench.sh and fusebench.sh (sourced, not run).

# seconds runs its arguments with their output discarded and prints the
# wall time in seconds.
seconds() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" > /dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc
}
