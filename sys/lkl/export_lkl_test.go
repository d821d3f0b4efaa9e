//go:build lkl

package lkl

// RawGetpid is getpid through a bare cgo call of lkl_syscall.
func RawGetpid() int64 { return rawSyscall(lklSYS_GETPID) }
