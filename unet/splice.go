package unet

import (
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// Names of the calls of the io.ReaderFrom fast paths.
const (
	spliceName   = "splice"
	sendfileName = "sendfile"
)

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
		if c.fd.s.k.Name() == "host" {
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

// splice moves up to n bytes from in to out with splice(2), on the Stack's
// kernel. libgo has no wrapper for it yet; this is the only call unet makes
// outside libgo, through sys.SyscallOn like libgo's own.
func (s *Stack) splice(in, out, n int) (int, error) {
	for {
		r, _, e := sys.SyscallOn(s.k, unix.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n), unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
		switch e {
		case 0:
			return int(r), nil
		case syscall.EINTR:
			continue
		}
		return 0, e
	}
}

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
	if err := src.readLock(); err != nil {
		return 0, true, err
	}
	defer src.readUnlock()
	if err := fd.writeLock(); err != nil {
		return 0, true, err
	}
	defer fd.writeUnlock()
	if err := src.pd.prepare(modeRead); err != nil {
		return 0, true, err
	}
	if err := fd.pd.prepare(modeWrite); err != nil {
		return 0, true, err
	}
	for remain > 0 {
		n, err := fd.s.splice(src.sysfd, p[1], int(min(remain, spliceChunk)))
		switch {
		case err == syscall.EAGAIN:
			// Closing either end wakes the wait.
			if err := src.pd.wait(modeRead, fd.pd.closing); err != nil {
				return written, true, closedIfCanceled(err)
			}
			continue
		case err != nil && written == 0 && (err == syscall.EINVAL || err == syscall.ENOSYS):
			return 0, false, nil // no splice for these fds on this kernel
		case err != nil:
			return written, true, os.NewSyscallError(spliceName, err)
		case n == 0:
			return written, true, nil // end of stream
		}
		remain -= int64(n)
		for n > 0 { // drain the pipe into fd
			m, err := fd.s.splice(p[0], fd.sysfd, n)
			switch {
			case err == syscall.EAGAIN:
				if err := fd.pd.wait(modeWrite, src.pd.closing); err != nil {
					return written, true, closedIfCanceled(err)
				}
				continue
			case err != nil:
				return written, true, os.NewSyscallError(spliceName, err)
			}
			n -= m
			written += int64(m)
		}
	}
	return written, true, nil
}

// closedIfCanceled maps the wait of one end of a splice, cut short by the
// other end's Close, to net.ErrClosed.
func closedIfCanceled(err error) error {
	if err == errCanceled {
		return net.ErrClosed
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
	if err := fd.writeLock(); err != nil {
		return 0, true, err
	}
	defer fd.writeUnlock()
	if err := fd.pd.prepare(modeWrite); err != nil {
		return 0, true, err
	}
	cerr := rc.Control(func(ffd uintptr) {
		for remain > 0 {
			n, e := fd.s.lc.Sendfile(fd.sysfd, int(ffd), nil, int(min(remain, 1<<30)))
			switch {
			case e == syscall.EAGAIN:
				if e := fd.pd.wait(modeWrite, nil); e != nil {
					err = e
					return
				}
				continue
			case e == syscall.EINTR:
				continue
			case e != nil && written == 0 && (e == syscall.EINVAL || e == syscall.ENOSYS):
				handled = false
				return
			case e != nil:
				err = os.NewSyscallError(sendfileName, e)
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
