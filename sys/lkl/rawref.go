//go:build lkl

package lkl

// #include "gk.h"
import "C"

// rawParams is the argument array of rawSyscall, a global so that passing
// it to C allocates nothing. It is for the benchmark's single goroutine.
var rawParams [6]C.long

// rawSyscall calls lkl_syscall directly through cgo, with no translation
// and no bookkeeping: the reference BenchmarkGetpid compares Kernel.Syscall
// with. Not safe for concurrent use.
func rawSyscall(nr int) int64 {
	return int64(C.lkl_syscall(C.long(nr), &rawParams[0]))
}
