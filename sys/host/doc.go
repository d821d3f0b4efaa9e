// Package host is the host kernel: system calls go straight to the Linux
// kernel this process runs on, through golang.org/x/sys/unix. It is pure Go
// and builds with CGO_ENABLED=0.
//
// host sits under package sys and imports nothing of gokernel; sys uses it as
// the default kernel and returns it from sys.Host. Nothing else should import
// it: upper layers reach every kernel through sys.Syscall or sys.SyscallOn,
// which keep pointer arguments alive and unmoved during the call.
package host
