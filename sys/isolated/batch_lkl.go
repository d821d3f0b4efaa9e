//go:build lkl

package isolated

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batch runs the parent's batch of n calls at addr (see Kernel.Batch) and
// writes their results back. Its errno is the batch's own: EINVAL for a
// bad count or reference, EFAULT if the calls cannot be read or written.
func (s *server) batch(addr, n uintptr) syscall.Errno {
	if n == 0 || n > MaxBatch {
		return syscall.EINVAL
	}
	var calls [MaxBatch]Call
	b := unsafe.Slice((*byte)(unsafe.Pointer(&calls[0])), n*unsafe.Sizeof(Call{}))
	if moved, e := s.moveParent(unix.SYS_PROCESS_VM_READV, b, addr); moved < uintptr(len(b)) {
		return orEFAULT(e)
	}
	failed := false
	for i := range calls[:n] {
		c := &calls[i]
		cancel := failed && !c.Always
		for j, f := range c.From {
			switch {
			case f == 0:
			case int(f) > i:
				return syscall.EINVAL
			case calls[f-1].Errno != 0:
				cancel = true
			default:
				c.Args[j] = calls[f-1].R1
			}
		}
		if c.Trap >= ctlHalt {
			return syscall.EINVAL
		}
		if cancel {
			c.R1, c.Errno = ^uintptr(0), syscall.ECANCELED
			failed = true
			continue
		}
		c.R1, _, c.Errno = s.one(c.Trap, c.Args)
		if c.Errno != 0 {
			failed = true
		}
	}
	if moved, e := s.moveParent(unix.SYS_PROCESS_VM_WRITEV, b, addr); moved < uintptr(len(b)) {
		return orEFAULT(e)
	}
	return 0
}

// one runs a system call for the parent: through the child's buffers
// where bounce serves it, else through lkl.Process.
func (s *server) one(trap uintptr, a [6]uintptr) (uintptr, uintptr, syscall.Errno) {
	if r1, e, ok := s.bounce(trap, a); ok {
		return r1, 0, e
	}
	return s.p.Syscall(trap, a[0], a[1], a[2], a[3], a[4], a[5])
}

// orEFAULT is e, or EFAULT if e is 0 (a short move).
func orEFAULT(e syscall.Errno) syscall.Errno {
	if e == 0 {
		return syscall.EFAULT
	}
	return e
}
