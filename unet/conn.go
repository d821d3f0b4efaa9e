package unet

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
)

// conn is the part every connection type shares, as net.conn is: net.Conn
// over a netFD, errors wrapped once in *net.OpError.
type conn struct {
	fd *netFD
}

// opError wraps err for op; io.EOF and nil pass through unwrapped.
func (c *conn) opError(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: c.fd.net, Source: c.fd.laddr, Addr: c.fd.raddr, Err: err}
}

// Read implements net.Conn. It does not allocate unless it fails.
func (c *conn) Read(b []byte) (int, error) {
	n, err := c.fd.Read(b)
	if err != nil && err != io.EOF {
		err = c.opError("read", err)
	}
	return n, err
}

// Write implements net.Conn: it writes all of b unless it fails.
func (c *conn) Write(b []byte) (int, error) {
	n, err := c.fd.Write(b)
	if err != nil {
		err = c.opError("write", err)
	}
	return n, err
}

// Close closes the connection: blocked Reads and Writes return
// net.ErrClosed, and the socket is closed once they have. A second Close
// is an error wrapping net.ErrClosed.
func (c *conn) Close() error { return c.opError("close", c.fd.Close()) }

// LocalAddr returns the local address.
func (c *conn) LocalAddr() net.Addr { return c.fd.laddr }

// RemoteAddr returns the peer's address.
func (c *conn) RemoteAddr() net.Addr { return c.fd.raddr }

// SetDeadline sets the read and write deadlines.
func (c *conn) SetDeadline(t time.Time) error {
	if err := c.fd.Incref(); err != nil {
		return c.opError("set", err)
	}
	c.fd.PD.SetDeadline(0, t)
	c.fd.Decref()
	return nil
}

// SetReadDeadline sets the read deadline; see net.Conn.
func (c *conn) SetReadDeadline(t time.Time) error {
	if err := c.fd.Incref(); err != nil {
		return c.opError("set", err)
	}
	c.fd.PD.SetDeadline(aio.ModeRead, t)
	c.fd.Decref()
	return nil
}

// SetWriteDeadline sets the write deadline; see net.Conn.
func (c *conn) SetWriteDeadline(t time.Time) error {
	if err := c.fd.Incref(); err != nil {
		return c.opError("set", err)
	}
	c.fd.PD.SetDeadline(aio.ModeWrite, t)
	c.fd.Decref()
	return nil
}

// SetReadBuffer sets the size of the kernel's receive buffer (SO_RCVBUF).
func (c *conn) SetReadBuffer(bytes int) error {
	return c.opError("set", c.fd.setsockoptInt(unix.SOL_SOCKET, unix.SO_RCVBUF, bytes))
}

// SetWriteBuffer sets the size of the kernel's send buffer (SO_SNDBUF).
func (c *conn) SetWriteBuffer(bytes int) error {
	return c.opError("set", c.fd.setsockoptInt(unix.SOL_SOCKET, unix.SO_SNDBUF, bytes))
}

// SyscallConn returns a raw connection on the kernel's fd: the fd numbers
// its methods pass to f belong to the Stack's kernel, not necessarily to
// the host.
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	if err := c.fd.Incref(); err != nil {
		return nil, c.opError("raw-control", err)
	}
	c.fd.Decref()
	return &rawConn{fd: c.fd}, nil
}

// rawConn is syscall.RawConn over a netFD.
type rawConn struct{ fd *netFD }

// Control calls f with the fd, which stays open until f returns.
func (r *rawConn) Control(f func(fd uintptr)) error {
	if err := r.fd.Incref(); err != nil {
		return r.err("raw-control", err)
	}
	defer r.fd.Decref()
	f(uintptr(r.fd.Sysfd))
	return nil
}

// Read calls f with the fd until f returns true, waiting for readability
// between calls; the read deadline applies.
func (r *rawConn) Read(f func(fd uintptr) (done bool)) error {
	return r.loop(aio.ModeRead, f)
}

// Write calls f with the fd until f returns true, waiting for
// writability between calls; the write deadline applies.
func (r *rawConn) Write(f func(fd uintptr) (done bool)) error {
	return r.loop(aio.ModeWrite, f)
}

func (r *rawConn) loop(mode aio.Mode, f func(fd uintptr) bool) error {
	op, lock, unlock := "raw-read", r.fd.ReadLock, r.fd.ReadUnlock
	if mode == aio.ModeWrite {
		op, lock, unlock = "raw-write", r.fd.WriteLock, r.fd.WriteUnlock
	}
	if err := lock(); err != nil {
		return r.err(op, err)
	}
	defer unlock()
	if mode == aio.ModeRead && r.fd.ud != nil {
		// f reads the socket itself: no receive may take its bytes.
		if err := r.fd.stopRecv(); err != nil {
			return r.err(op, err)
		}
	}
	if err := r.fd.PD.Retry(mode, nil, func() (bool, error) { return !f(uintptr(r.fd.Sysfd)), nil }); err != nil {
		return r.err(op, err)
	}
	return nil
}

func (r *rawConn) err(op string, err error) error {
	return &net.OpError{Op: op, Net: r.fd.net, Source: r.fd.laddr, Addr: r.fd.raddr, Err: err}
}

// listener is what TCPListener and UnixListener share.
type listener struct {
	fd *netFD
}

func (l *listener) opError(op string, err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: op, Net: l.fd.net, Addr: l.fd.laddr, Err: err}
}

// Addr returns the listener's address.
func (l *listener) Addr() net.Addr { return l.fd.laddr }

// Close stops listening: a blocked Accept returns net.ErrClosed.
func (l *listener) Close() error { return l.opError("close", l.fd.Close()) }

// SetDeadline sets the deadline of Accept; zero means none.
func (l *listener) SetDeadline(t time.Time) error {
	if err := l.fd.Incref(); err != nil {
		return l.opError("set", err)
	}
	l.fd.PD.SetDeadline(aio.ModeRead, t)
	l.fd.Decref()
	return nil
}

// SyscallConn returns a raw connection on the listener's kernel fd.
func (l *listener) SyscallConn() (syscall.RawConn, error) {
	if err := l.fd.Incref(); err != nil {
		return nil, l.opError("raw-control", err)
	}
	l.fd.Decref()
	return &rawConn{fd: l.fd}, nil
}

func (l *listener) accept() (*netFD, error) {
	fd, err := l.fd.accept()
	if err != nil {
		return nil, l.opError("accept", err)
	}
	return fd, nil
}

// wrapSyscall wraps a bare errno from libgo with the call's name.
func wrapSyscall(name string, err error) error {
	if e, ok := err.(syscall.Errno); ok {
		return os.NewSyscallError(name, e)
	}
	return err
}
