package ufs

import (
	"errors"
	"io"
	"os"
	"syscall"

	"github.com/gokernel/gokernel/sys"
)

// Copies into a host fd. A File whose kernel can copy into a host fd by
// itself (sys.HostCopier: the isolated LKL kernel, in whose process the
// data would otherwise be read only to cross into this one) is copied to
// an io.Writer that is a host fd (syscall.Conn: an *os.File, a net.Conn;
// or a File of the host kernel) by that kernel: demo cat --isolate's
// io.Copy(os.Stdout, f) takes it through WriteTo.
//
// A write to the fd that fails stops it, and the rest is copied through
// memory as it would have been: that copy's own write meets the error
// (or succeeds, if the failure has passed), so the error is the writer's
// as usual, and a broken pipe on os.Stdout or os.Stderr ends the program
// with SIGPIPE as it does without the kernel's help. The kernel gives
// the bytes it read but did not write back to the File's offset.

// copyToHost copies f from its offset to its end into w inside f's
// kernel, where the kernel and w allow. done is false when the caller is
// to copy the rest through memory: not copied this way, or a write to w
// failed; err is a read's error.
func (f *File) copyToHost(w io.Writer) (n int64, done bool, err error) {
	hc, ok := f.l.Kernel().(sys.HostCopier)
	if !ok {
		return 0, false, nil
	}
	// hold runs fn with w's fd, again once there is room if fn says
	// false (rc.Write's contract).
	var hold func(fn func(fd uintptr) bool) error
	switch d := w.(type) {
	case *File:
		if !sys.IsHost(d.l.Kernel()) {
			return 0, false, nil
		}
		hold = func(fn func(fd uintptr) bool) error {
			return d.useWrite("write", func() error {
				if !fn(uintptr(d.fd)) {
					return syscall.EAGAIN // a File's fd blocks: not seen
				}
				return nil
			})
		}
	case syscall.Conn:
		rc, err := d.SyscallConn()
		if err != nil {
			return 0, false, nil
		}
		hold = rc.Write
	default:
		return 0, false, nil
	}
	err = f.useRead("read", func() error {
		var cerr error
		werr := hold(func(fd uintptr) bool {
			m, err := hc.CopyToHost(f.fd, fd, -1)
			n += m
			var se *os.SyscallError
			if errors.As(err, &se) && se.Err == syscall.EAGAIN {
				return false // a non-blocking fd is full: wait for room
			}
			cerr = err
			return true
		})
		var se *os.SyscallError
		switch {
		case werr != nil, errors.As(cerr, &se), errors.Is(cerr, errors.ErrUnsupported):
			return nil // the rest through memory
		case cerr != nil:
			done = true
			return pathErr("read", f.name, cerr)
		}
		done = true
		return nil
	})
	return n, done, err
}
