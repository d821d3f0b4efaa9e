//go:build lkl

package isolated

import (
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/host"
)

// The data calls read, pread64, write and pwrite64 of more than a page,
// and getdents64, go through a buffer of the child's: LKL moves the data
// with plain copies and one process_vm_writev (or readv) per chunk moves
// it to (or from) the parent. Through lkl.Process every piece LKL copies
// is a process_vm_* call of its own: a page at a time for file data
// (copy_page_to_iter; 131,072 process_vm_writev calls for a 512 MiB demo
// cat, 82% of the child's system call time), six writes per directory
// entry (filldir64's __put_user and copy_to_user). fstat's struct stat
// is made in the child too: through lkl.Process, Kernel.Syscall's ABI
// conversion has LKL write its struct stat into the parent, reads it back
// and writes the host's (three process_vm calls per fstat, one of the
// four calls demo cp-out makes per file); here it is one
// process_vm_writev of the converted struct. Every other call, and the
// data calls of a page or less, go through lkl.Process unchanged.
const (
	bounceMin   = 4096
	bounceChunk = 1 << 20
)

var bounceBufs = sync.Pool{New: func() any { b := make([]byte, bounceChunk); return &b }}

// bounce serves a data call through a local buffer and reports whether
// it did.
func (s *server) bounce(trap uintptr, a [6]uintptr) (uintptr, syscall.Errno, bool) {
	var write, positioned, dirents bool
	switch trap {
	case unix.SYS_FSTAT:
		return s.fstat(a[0], a[1])
	case unix.SYS_GETDENTS64:
		dirents = true
	case unix.SYS_READ:
	case unix.SYS_PREAD64:
		positioned = true
	case unix.SYS_WRITE:
		write = true
	case unix.SYS_PWRITE64:
		write, positioned = true, true
	default:
		return 0, 0, false
	}
	fd, addr, n, off := a[0], a[1], a[2], a[3]
	if dirents {
		// One call: a second would add entries, and its result is not
		// a byte count to give back with lseek.
		off = 0
		n = min(n, bounceChunk)
	}
	if !dirents && n <= bounceMin || int64(n) <= 0 {
		return 0, 0, false
	}
	bp := bounceBufs.Get().(*[]byte)
	defer bounceBufs.Put(bp)
	buf := *bp
	var done uintptr
	for done < n {
		chunk := min(n-done, bounceChunk)
		b := buf[:chunk]
		args := [6]uintptr{fd, uintptr(unsafe.Pointer(&b[0])), chunk, off + done}
		if !positioned {
			args[3] = 0
		}
		var got uintptr
		if write {
			moved, e := s.moveParent(unix.SYS_PROCESS_VM_READV, b, addr+done)
			if moved == 0 {
				return result(done, e)
			}
			args[2] = moved
			r, _, e := s.k.Syscall(trap, args[0], args[1], args[2], args[3], 0, 0)
			if e != 0 {
				return result(done, e)
			}
			got = r
		} else {
			r, _, e := s.k.Syscall(trap, args[0], args[1], args[2], args[3], 0, 0)
			if e != 0 {
				return result(done, e)
			}
			moved, e := s.moveParent(unix.SYS_PROCESS_VM_WRITEV, b[:r], addr+done)
			if moved < r && !positioned && !dirents {
				// Give back what the parent could not take, as a read
				// into a bad buffer would not have consumed it.
				s.k.Syscall(unix.SYS_LSEEK, fd, uintptr(-int64(r-moved)), unix.SEEK_CUR, 0, 0, 0)
			}
			if moved < r {
				done += moved
				return result(done, e)
			}
			got = r
		}
		runtime.KeepAlive(b)
		done += got
		if got < chunk || dirents {
			break
		}
	}
	return done, 0, true
}

// fstat serves fstat(fd, st) into a struct of the child's, copied to the
// parent's st once converted. A nil st is left to lkl.Process (EFAULT
// before any work, as the kernel does).
func (s *server) fstat(fd, addr uintptr) (uintptr, syscall.Errno, bool) {
	if addr == 0 {
		return 0, 0, false
	}
	var st unix.Stat_t
	b := unsafe.Slice((*byte)(unsafe.Pointer(&st)), unsafe.Sizeof(st))
	if _, _, e := s.k.Syscall(unix.SYS_FSTAT, fd, uintptr(unsafe.Pointer(&st)), 0, 0, 0, 0); e != 0 {
		return ^uintptr(0), e, true
	}
	if moved, e := s.moveParent(unix.SYS_PROCESS_VM_WRITEV, b, addr); moved < uintptr(len(b)) {
		if e == 0 {
			e = syscall.EFAULT
		}
		return ^uintptr(0), e, true
	}
	return 0, 0, true
}

// result is a data call's answer after done bytes: the count if any were
// moved, else the error.
func result(done uintptr, e syscall.Errno) (uintptr, syscall.Errno, bool) {
	if done > 0 || e == 0 {
		return done, 0, true
	}
	return ^uintptr(0), e, true
}

// moveParent copies between b and the parent's memory at addr with
// process_vm_readv (into b) or process_vm_writev (from b), and returns how
// many bytes moved. EFAULT if none did because the parent's range is not
// mapped.
func (s *server) moveParent(trap uintptr, b []byte, addr uintptr) (uintptr, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	r, e := host.MoveMem(s.h, trap == unix.SYS_PROCESS_VM_WRITEV, s.p.Pid(), addr, b)
	if e != 0 {
		if e == syscall.ESRCH || e == syscall.EPERM {
			return 0, e
		}
		return 0, syscall.EFAULT
	}
	return uintptr(r), 0
}
