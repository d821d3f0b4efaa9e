package libgo

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// Libc is the libc of one kernel. The zero Libc uses the process default
// kernel (sys.Default); New binds one to an explicit kernel, so a program
// can work on the host and on LKL at once. A Libc is a small value and safe
// for concurrent use.
type Libc struct {
	k sys.Kernel // nil: the default kernel
}

// New returns the libc of kernel k. A nil k means the process default
// kernel as it is now (sys.Default): the Libc keeps that kernel even if the
// default changes, as every object of the stack does (sys's binding rule).
// Only the package-level functions, whose Libc is the zero one, follow the
// default at each call.
func New(k sys.Kernel) *Libc {
	if k == nil {
		k = sys.Default()
	}
	return &Libc{k: k}
}

// std is the Libc of the package-level functions.
var std Libc

// Kernel returns the kernel l calls: its own, or the current default.
func (l *Libc) Kernel() sys.Kernel {
	if l.k == nil {
		return sys.Default()
	}
	return l.k
}

// syscall makes a system call on l's kernel. Wrappers convert pointers to
// uintptr in the call expression; //go:uintptrescapes keeps them alive and
// unmoved until the call returns, as sys.Syscall does.
//
//go:uintptrescapes
func (l *Libc) syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, syscall.Errno) {
	if l.k == nil {
		return sys.Syscall(trap, a1, a2, a3, a4, a5, a6)
	}
	return sys.SyscallOn(l.k, trap, a1, a2, a3, a4, a5, a6)
}

// call is syscall for the common case of one result and an error.
//
//go:uintptrescapes
func (l *Libc) call(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, error) {
	r, _, e := l.syscall(trap, a1, a2, a3, a4, a5, a6)
	if e != 0 {
		return r, e
	}
	return r, nil
}

// callEINTR is call, retried while the kernel says EINTR: for calls POSIX
// lets a libc restart (read, write, open, accept, …).
//
//go:uintptrescapes
func (l *Libc) callEINTR(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, error) {
	for {
		r, _, e := l.syscall(trap, a1, a2, a3, a4, a5, a6)
		switch e {
		case 0:
			return r, nil
		case syscall.EINTR:
			continue
		}
		return r, e
	}
}

// cstring returns a NUL-terminated copy of s; a NUL inside s is EINVAL.
func cstring(s string) (*byte, error) {
	return unix.BytePtrFromString(s)
}

// bufp returns the address of b's first byte, or of a static byte when b is
// empty, so that empty buffers never make a nil pointer the kernel might
// reject with EFAULT.
func bufp(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return unsafe.Pointer(&zeroByte)
	}
	return unsafe.Pointer(&b[0])
}

var zeroByte byte
