package unet

import (
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/sys"
)

// sendfileName names sendfile(2) in the errors of ReadFrom's fast path.
const sendfileName = "sendfile"

// ReadFrom implements io.ReaderFrom, so io.Copy(conn, r) takes a fast path
// where the kernel can move the bytes itself:
//
//   - from a *TCPConn or *UnixConn of the same Stack (or an
//     *io.LimitedReader of one): splice(2) through a pipe, socket to socket
//     inside the kernel, on any kernel that has splice;
//   - from an *os.File (or a limited one) when the Stack's kernel is the
//     host, whose fd table the file belongs to: sendfile(2);
//   - from anything else: through a buffer, as io.Copy would.
func (c *TCPConn) ReadFrom(r io.Reader) (int64, error) {
	n, err := c.readFrom(r)
	if err != nil && err != io.EOF {
		err = c.opError("readfrom", err)
	}
	return n, err
}

// WriteTo implements io.WriterTo: to a *TCPConn of the same Stack it
// splices (see ReadFrom); otherwise it copies through a buffer.
func (c *TCPConn) WriteTo(w io.Writer) (int64, error) {
	if d, ok := w.(*TCPConn); ok && d.fd.s == c.fd.s {
		return d.ReadFrom(c)
	}
	n, err := io.Copy(w, readerOnly{c})
	if err != nil {
		err = c.opError("writeto", err)
	}
	return n, err
}

// readerOnly and writerOnly hide the fast paths, so the generic copy does
// not call back into them.
type readerOnly struct{ io.Reader }
type writerOnly struct{ io.Writer }

func (c *TCPConn) readFrom(r io.Reader) (int64, error) {
	remain := int64(1<<63 - 1)
	lr, limited := r.(*io.LimitedReader)
	if limited {
		remain, r = lr.N, lr.R
		if remain <= 0 {
			return 0, nil
		}
	}
	var (
		n       int64
		handled bool
		err     error
	)
	switch src := r.(type) {
	case *TCPConn:
		if src.fd.s == c.fd.s {
			n, handled, err = c.fd.spliceFrom(src.fd, remain)
		}
	case *UnixConn:
		if src.fd.s == c.fd.s {
			n, handled, err = c.fd.spliceFrom(src.fd, remain)
		}
	case *os.File:
		if sys.IsHost(c.fd.s.k) {
			n, handled, err = c.fd.sendfileFrom(src, remain)
		}
	}
	if limited {
		lr.N -= n
	}
	if handled {
		return n, err
	}
	if limited {
		r = lr
	}
	m, err := io.Copy(writerOnly{c}, r)
	return n + m, err
}

// spliceChunk is the most one splice call asks for: a pipe's default
// capacity.
const spliceChunk = 64 << 10

// spliceFrom moves up to remain bytes from src to fd through a pipe.
// handled is false when the kernel cannot splice these fds and nothing was
// moved: the caller copies through a buffer instead.
func (fd *netFD) spliceFrom(src *netFD, remain int64) (written int64, handled bool, err error) {
	p, err := fd.s.lc.Pipe2(unix.O_NONBLOCK | unix.O_CLOEXEC)
	if err != nil {
		return 0, false, nil
	}
	defer fd.s.lc.Close(p[0])
	defer fd.s.lc.Close(p[1])
	if err := src.ReadLock(); err != nil {
		return 0, true, err
	}
	defer src.ReadUnlock()
	if src.recvPending() {
		// io_uring's receive takes src's bytes (recv_uring.go): copy
		// them through Read, in order.
		return 0, false, nil
	}
	if err := fd.WriteLock(); err != nil {
		return 0, true, err
	}
	defer fd.WriteUnlock()
	// Both ends are prepared once: bytes already in the pipe are
	// written even if fd's deadline passes meanwhile.
	if err := src.PD.Prepare(aio.ModeRead); err != nil {
		return 0, true, err
	}
	if err := fd.PD.Prepare(aio.ModeWrite); err != nil {
		return 0, true, err
	}
	for remain > 0 {
		// Closing either end wakes either wait.
		var (
			n    int
			serr error
		)
		err := src.PD.RetryPrepared(aio.ModeRead, fd.PD.Closing(), func() (wouldBlock bool, _ error) {
			n, wouldBlock, serr = fd.s.nb.Splice(src.Sysfd, p[1], int(min(remain, spliceChunk)))
			return wouldBlock, nil
		})
		switch {
		case err != nil:
			return written, true, closedIfCanceled(err)
		case serr != nil && written == 0 && (serr == syscall.EINVAL || serr == syscall.ENOSYS):
			return 0, false, nil // no splice for these fds on this kernel
		case serr != nil:
			return written, true, aio.SpliceError(serr)
		case n == 0:
			return written, true, nil // end of stream
		}
		remain -= int64(n)
		for n > 0 { // drain the pipe into fd
			err := fd.PD.RetryPrepared(aio.ModeWrite, src.PD.Closing(), func() (wouldBlock bool, err error) {
				m, wouldBlock, err := fd.s.nb.Splice(p[0], fd.Sysfd, n)
				if err != nil {
					return false, aio.SpliceError(err)
				}
				n -= m
				written += int64(m)
				return wouldBlock, nil
			})
			if err != nil {
				return written, true, closedIfCanceled(err)
			}
		}
	}
	return written, true, nil
}

// closedIfCanceled maps the wait of one end of a splice, cut short by the
// other end's Close, to net.ErrClosed.
func closedIfCanceled(err error) error {
	if err == aio.ErrCanceled {
		return aio.Socket.ErrClosed()
	}
	return err
}

// sendfileFrom sends up to remain bytes of the host file f to fd with
// sendfile(2), from f's offset on.
func (fd *netFD) sendfileFrom(f *os.File, remain int64) (written int64, handled bool, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	if err := fd.WriteLock(); err != nil {
		return 0, true, err
	}
	defer fd.WriteUnlock()
	cerr := rc.Control(func(ffd uintptr) {
		for remain > 0 {
			var (
				n    int
				serr error
			)
			err = fd.PD.Retry(aio.ModeWrite, nil, func() (wouldBlock bool, _ error) {
				n, wouldBlock, serr = fd.s.nb.Sendfile(fd.Sysfd, int(ffd), int(min(remain, 1<<30)))
				return wouldBlock, nil
			})
			switch {
			case err != nil:
				return
			case serr != nil && written == 0 && (serr == syscall.EINVAL || serr == syscall.ENOSYS):
				handled = false
				return
			case serr != nil:
				err = os.NewSyscallError(sendfileName, serr)
				return
			case n == 0:
				return // end of file
			}
			written += int64(n)
			remain -= int64(n)
		}
	})
	if cerr != nil && err == nil && written == 0 {
		return 0, false, nil
	}
	return written, handled || written > 0 || err != nil, err
}
