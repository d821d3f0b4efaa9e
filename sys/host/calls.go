package host

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Caller makes system calls on the host kernel: Kernel itself, or a
// wrapper of it (sys.Host() inside a sys.Tracer or sys.Injector). The
// kernels sys boots make the host calls of their own plumbing through
// the Caller sys gives them (sys/lkl's Config.Host, usernet's
// Config.Host), so a trace or an injector around the host sees those
// calls too. sys.Kernel satisfies it.
type Caller interface {
	Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno)
}

// Call makes system call trap on c, or on Kernel when c is nil. Like
// sys.SyscallOn it is marked //go:uintptrescapes, so a pointer converted
// in the call expression stays alive and in place for the call.
//
//go:uintptrescapes
func Call(c Caller, trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno) {
	if c == nil {
		return Kernel{}.Syscall(trap, a1, a2, a3, a4, a5, a6)
	}
	return c.Syscall(trap, a1, a2, a3, a4, a5, a6)
}

// errnoErr returns nil for 0, else e.
func errnoErr(e syscall.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

// Socket is socket(2) on c.
func Socket(c Caller, domain, typ, proto int) (int, error) {
	fd, _, e := Call(c, unix.SYS_SOCKET, uintptr(domain), uintptr(typ), uintptr(proto), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// Socketpair is socketpair(2) on c.
func Socketpair(c Caller, domain, typ, proto int) ([2]int, error) {
	var fds [2]int32
	if _, _, e := Call(c, unix.SYS_SOCKETPAIR, uintptr(domain), uintptr(typ), uintptr(proto), uintptr(unsafe.Pointer(&fds)), 0, 0); e != 0 {
		return [2]int{-1, -1}, e
	}
	return [2]int{int(fds[0]), int(fds[1])}, nil
}

// SetsockoptInt is setsockopt(2) of an int option on c.
func SetsockoptInt(c Caller, fd, level, opt, value int) error {
	v := int32(value)
	_, _, e := Call(c, unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&v)), 4, 0)
	return errnoErr(e)
}

// SetNonblock sets or clears O_NONBLOCK on fd (fcntl(2) on c).
func SetNonblock(c Caller, fd int, on bool) error {
	fl, _, e := Call(c, unix.SYS_FCNTL, uintptr(fd), unix.F_GETFL, 0, 0, 0, 0)
	if e != 0 {
		return e
	}
	if on {
		fl |= unix.O_NONBLOCK
	} else {
		fl &^= unix.O_NONBLOCK
	}
	_, _, e = Call(c, unix.SYS_FCNTL, uintptr(fd), unix.F_SETFL, fl, 0, 0, 0)
	return errnoErr(e)
}

// Close is close(2) on c.
func Close(c Caller, fd int) error {
	_, _, e := Call(c, unix.SYS_CLOSE, uintptr(fd), 0, 0, 0, 0, 0)
	return errnoErr(e)
}

// MoveMem copies between b and address addr of process pid's memory with
// one process_vm_readv (write false: into b) or process_vm_writev (write
// true: from b), made on c. It returns how many bytes moved and the
// call's errno, as the kernel gave them: a short transfer means the
// range ran into memory that is not mapped. It is the one place the
// callers that reach another process's memory (sys/lkl's Kernel.ForProcess,
// sys/isolated's child, supervise's supervisor) make that call.
func MoveMem(c Caller, write bool, pid int, addr uintptr, b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	trap := uintptr(unix.SYS_PROCESS_VM_READV)
	if write {
		trap = unix.SYS_PROCESS_VM_WRITEV
	}
	local := unix.Iovec{Base: unsafe.SliceData(b)}
	local.SetLen(len(b))
	remote := unix.RemoteIovec{Base: addr, Len: len(b)}
	n, _, e := Call(c, trap, uintptr(pid), uintptr(unsafe.Pointer(&local)), 1, uintptr(unsafe.Pointer(&remote)), 1, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}
