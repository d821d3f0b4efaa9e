package kerneltest

import (
	"syscall"
	"time"
)

// CPUTime returns the process's user and system CPU time so far, from
// getrusage(2) on the host: benchmarks report it per operation next to
// the wall time, since on a shared machine it measures a variant's own
// work better than the clock does.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
