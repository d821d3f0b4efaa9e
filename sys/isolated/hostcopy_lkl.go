//go:build lkl

package isolated

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/host"
)

// hostCopyHook, set only by this package's tests, runs in the child before
// each read of a host copy, with the copy's limit.
var hostCopyHook func(limit int64)

// hostCopy serves a ctlHostCopy request (hostcopy.go) on slot sl: a =
// LKL's fd, the parent's fd, the limit. It answers the count written,
// hostCopyWrite in r2 if the errno is the host write's.
func (s *server) hostCopy(a [6]uintptr, sl *slot) (uintptr, uintptr, syscall.Errno) {
	fd, limit := a[0], int64(a[2])
	defer func() {
		atomic.StoreUint32(&sl.hostWait, 0)
		atomic.StoreUint32(&sl.progress, 0)
	}()
	// Bytes read but not written are given back to fd with lseek: a file
	// that cannot seek is left to the parent's copy through memory.
	if _, _, e := s.k.Syscall(unix.SYS_LSEEK, fd, 0, unix.SEEK_CUR, 0, 0, 0); e != 0 {
		if e == syscall.ESPIPE {
			e = syscall.EOPNOTSUPP
		}
		return 0, 0, e
	}
	dst, err := s.takeFD(int(a[1]))
	if err != nil {
		return 0, 0, syscall.EOPNOTSUPP
	}
	defer host.Close(s.h, dst)
	bp := bounceBufs.Get().(*[]byte)
	defer bounceBufs.Put(bp)
	buf := *bp
	var done uintptr
	for limit < 0 || int64(done) < limit {
		want := uintptr(len(buf))
		if limit >= 0 {
			want = uintptr(min(int64(want), limit-int64(done)))
		}
		if hostCopyHook != nil {
			hostCopyHook(limit)
		}
		r, _, e := s.k.Syscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), want, 0, 0, 0)
		if e != 0 {
			return done, 0, e
		}
		if r == 0 || r > want {
			break
		}
		atomic.AddUint32(&sl.progress, 1)
		for w := uintptr(0); w < r; {
			atomic.StoreUint32(&sl.hostWait, 1)
			m, _, e := host.Call(s.h, unix.SYS_WRITE, uintptr(dst), uintptr(unsafe.Pointer(&buf[w])), r-w, 0, 0, 0)
			atomic.StoreUint32(&sl.hostWait, 0)
			if e == syscall.EINTR {
				continue
			}
			if e == 0 && (m == 0 || m > r-w) {
				e = syscall.EIO // a write that writes nothing: the parent's write will say why
			}
			if e != 0 {
				s.k.Syscall(unix.SYS_LSEEK, fd, uintptr(-int64(r-w)), unix.SEEK_CUR, 0, 0, 0)
				return done + w, hostCopyWrite, e
			}
			w += m
			atomic.AddUint32(&sl.progress, 1)
		}
		runtime.KeepAlive(buf)
		done += r
	}
	return done, 0, 0
}
