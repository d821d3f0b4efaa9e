package isolated

import (
	"os"
	"sync/atomic"
	"syscall"
)

// Host copies: a copy from a file of the isolated kernel into a host fd
// (demo cat's stdout, a file or a pipe of the program) runs in the child.
// Through Syscall each chunk is read into the child, moved into this
// process with process_vm_writev, and written out from here; with
// CopyToHost the child takes the host fd from this process (pidfd_getfd,
// as AddDisk's images: takeFD) and loops on a read from LKL into a buffer
// of its own and a write to that fd, then closes its copy of the fd and
// answers with the count. The bytes never enter this process.
//
// The request is bounded by isolation_call_deadline as any call is, but
// by its progress rather than its length: the child counts the chunks it
// has done in the slot (progress) and says while it waits on the host fd
// (hostWait, the write to a pipe whose reader is slow waits by design);
// the watcher starts a copy's clock again whenever either says it moves
// (hostCopyMoving), so only a copy whose read from LKL stands still for
// the deadline gets the child killed.

// ctlHostCopy asks the child for a host copy: a = the kernel's fd, this
// process's fd, the limit (negative: none). r1 is the count written, r2
// hostCopyWrite if the errno is the write's.
const ctlHostCopy = ctlHalt + 8

// hostCopyWrite in r2 says the errno is that of a write to the host fd.
const hostCopyWrite = 1

// CopyToHost copies up to n bytes (n < 0: to the end of the file) from fd,
// open on this kernel and seekable, at its offset, to this process's fd
// dst at dst's offset, inside the kernel's process, and advances fd's
// offset by the bytes written (sys.HostCopier). A failed write to dst is
// an *os.SyscallError for "write" (the bytes read but not written are
// given back to fd's offset); EOPNOTSUPP (errors.ErrUnsupported) if the
// child cannot take dst or fd is not seekable, before any byte; the read's
// errno otherwise, or the *DiedError once the child has died.
//
// What the child can do with dst, should a hostile image take it over
// while it holds it: what the allow list lets it do with any fd it has
// (docs/isolation.md, "Host copies"): write, read, seek, fstat, fsync,
// fallocate, ioctl and fcntl; not ftruncate, fchmod or fchown. It holds
// it for the length of the call only.
func (k *Kernel) CopyToHost(fd int, dst uintptr, n int64) (int64, error) {
	if n == 0 {
		return 0, nil
	}
	r1, r2, e := k.call(ctlHostCopy, [6]uintptr{uintptr(fd), dst, uintptr(n)})
	w := int64(r1)
	if w < 0 || n >= 0 && w > n {
		w = 0 // no count (the call failed here), or a count the child may not give
		if e == 0 {
			e = syscall.EIO
		}
	}
	switch {
	case e == 0:
		return w, nil
	case r2 == hostCopyWrite:
		return w, os.NewSyscallError("write", e)
	case e == syscall.EIO:
		if d := k.died.Load(); d != nil {
			return w, d
		}
	}
	return w, e
}

// hostCopyMoving reports whether the host copy c, overdue, waits on its
// host fd or has done a chunk since its clock last started; either way
// its clock starts again.
func (k *Kernel) hostCopyMoving(c inflight) bool {
	k.chMu.RLock()
	if k.gone {
		k.chMu.RUnlock()
		return false
	}
	sl := k.ch.slot(c.slot)
	waiting := atomic.LoadUint32(&sl.hostWait) != 0
	p := atomic.LoadUint32(&sl.progress)
	k.chMu.RUnlock()
	if !waiting && p == c.progress {
		return false
	}
	k.slots.restart(c, p)
	return true
}
