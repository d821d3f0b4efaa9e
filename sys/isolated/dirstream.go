package isolated

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dirStreams catches a directory stream that does not advance: a
// getdents64 that returns entries but leaves the directory's position
// where the previous one left it (the last entry's d_off, which becomes
// the file position) can only be followed by the same answer, for ever.
// LKL 4.9's btrfs does that on a directory item whose key offset is
// 2^64-1 (the hostile-image campaign's btrfs seeds 2592 and 5190): every
// call returns the same entry again, each call quick, so no deadline
// fires while the reader piles up entries without end. Such a call
// returns EUCLEAN (the file system's structure needs cleaning), as a
// file system that noticed would.
//
// The position is remembered per fd from one getdents64 to the next and
// forgotten when the stream ends (a getdents64 that returns 0) and on
// close, lseek (rewinddir) and dup2/dup3 onto the fd. Not seen: an lseek
// through another fd sharing the file (a dup) between two reads that do
// not reach the end.
type dirStreams struct {
	n   atomic.Int32 // len(pos): the calls that could forget check it first
	mu  sync.Mutex
	pos map[uintptr]uint64 // fd -> the d_off the last getdents64 ended at
}

// forget drops fd's position.
func (d *dirStreams) forget(fd uintptr) {
	if d.n.Load() == 0 {
		return
	}
	d.mu.Lock()
	delete(d.pos, fd)
	d.n.Store(int32(len(d.pos)))
	d.mu.Unlock()
}

// after checks the answer n of getdents64(fd, buf, size): the errno to
// return instead of none (EUCLEAN: the stream did not advance; EIO: the
// answer does not fit the buffer, the child is not behaving).
func (d *dirStreams) after(fd, buf, size, n uintptr) syscall.Errno {
	if n == 0 {
		d.forget(fd)
		return 0
	}
	if n > size {
		return syscall.EIO
	}
	// The buffer is the caller's, alive and in place for the call
	// (sys.SyscallOn's //go:uintptrescapes), which has not returned.
	b := unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&buf))), n)
	var last uint64
	for off := uintptr(0); off < n; {
		// struct linux_dirent64: ino 8, off 8, reclen 2, type 1, name.
		if n-off < 19 {
			return syscall.EIO
		}
		reclen := uintptr(binary.NativeEndian.Uint16(b[off+16:]))
		if reclen < 19 || reclen > n-off {
			return syscall.EIO
		}
		last = binary.NativeEndian.Uint64(b[off+8:])
		off += reclen
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pos == nil {
		d.pos = map[uintptr]uint64{}
	}
	if p, ok := d.pos[fd]; ok && p == last {
		return syscall.EUCLEAN
	}
	d.pos[fd] = last
	d.n.Store(int32(len(d.pos)))
	return 0
}

// track runs after each answered call: it feeds getdents64 answers to the
// check and forgets the positions of fds a call closes, seeks or
// replaces.
func (d *dirStreams) track(trap, a1, a2, a3, r1 uintptr, e syscall.Errno) syscall.Errno {
	switch trap {
	case unix.SYS_GETDENTS64:
		if e == 0 {
			return d.after(a1, a2, a3, r1)
		}
	case unix.SYS_CLOSE, unix.SYS_LSEEK:
		d.forget(a1)
	case unix.SYS_DUP2, unix.SYS_DUP3:
		d.forget(a2)
	}
	return e
}
