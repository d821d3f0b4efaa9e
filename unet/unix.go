package unet

import (
	"net"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
)

// UnixConn is a Unix-domain socket on a Stack's kernel (unix, unixgram,
// unixpacket): net.Conn and net.PacketConn plus net.UnixConn's methods,
// among them ReadMsgUnix and WriteMsgUnix, which pass fds with
// SCM_RIGHTS (build oob with unix.UnixRights, parse it with
// unix.ParseSocketControlMessage and unix.ParseUnixRights). The fds are
// the kernel's: they mean nothing to another kernel.
type UnixConn struct {
	conn
}

// CloseRead shuts down the reading side.
func (c *UnixConn) CloseRead() error {
	return c.opError("close", c.fd.shutdown(unix.SHUT_RD))
}

// CloseWrite shuts down the writing side.
func (c *UnixConn) CloseWrite() error {
	return c.opError("close", c.fd.shutdown(unix.SHUT_WR))
}

// ReadFrom reads one message and returns its sender (nil if unnamed).
func (c *UnixConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromUnix(b)
	if addr == nil {
		return n, nil, err
	}
	return n, addr, err
}

// ReadFromUnix reads one message and returns its sender.
func (c *UnixConn) ReadFromUnix(b []byte) (int, *net.UnixAddr, error) {
	n, sa, err := c.fd.readFrom(b)
	if err != nil {
		return 0, nil, c.opError("read", err)
	}
	return n, unixAddr(c.fd.net, sa), nil
}

// ReadMsgUnix reads a message and its control messages (SCM_RIGHTS fds
// arrive close-on-exec).
func (c *UnixConn) ReadMsgUnix(b, oob []byte) (n, oobn, flags int, addr *net.UnixAddr, err error) {
	n, oobn, flags, sa, err := c.fd.readMsg(b, oob, 0)
	if err != nil {
		return 0, 0, 0, nil, c.opError("read", err)
	}
	return n, oobn, flags, unixAddr(c.fd.net, sa), nil
}

// WriteTo sends b to addr, a *net.UnixAddr (unixgram).
func (c *UnixConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	sa, err := addrToSockaddr(unix.AF_UNIX, addr)
	if err == nil {
		var n int
		if n, _, err = c.fd.writeMsg(b, nil, sa); err == nil {
			return n, nil
		}
	}
	return 0, &net.OpError{Op: "write", Net: c.fd.net, Source: c.fd.laddr, Addr: addr, Err: err}
}

// WriteToUnix sends b to addr.
func (c *UnixConn) WriteToUnix(b []byte, addr *net.UnixAddr) (int, error) {
	return c.WriteTo(b, addr)
}

// WriteMsgUnix sends b and the control messages oob to addr, or to the
// connected peer when addr is nil.
func (c *UnixConn) WriteMsgUnix(b, oob []byte, addr *net.UnixAddr) (n, oobn int, err error) {
	var sa libgo.Sockaddr
	if addr != nil {
		sa = &libgo.SockaddrUnix{Name: addr.Name}
	}
	n, oobn, err = c.fd.writeMsg(b, oob, sa)
	if err != nil {
		return n, oobn, c.opError("write", err)
	}
	return n, oobn, nil
}

func unixAddr(network string, sa libgo.Sockaddr) *net.UnixAddr {
	if u, ok := sa.(*libgo.SockaddrUnix); ok && u.Name != "" {
		return &net.UnixAddr{Name: u.Name, Net: network}
	}
	return nil
}

// UnixListener is a Unix-domain stream or seqpacket listener. Close
// removes the socket file it made.
type UnixListener struct {
	listener
}

// Accept waits for the next connection; it is a *UnixConn.
func (l *UnixListener) Accept() (net.Conn, error) {
	c, err := l.AcceptUnix()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptUnix waits for the next connection.
func (l *UnixListener) AcceptUnix() (*UnixConn, error) {
	fd, err := l.accept()
	if err != nil {
		return nil, err
	}
	return &UnixConn{conn{fd}}, nil
}

// SetUnlinkOnClose sets whether Close removes the socket file (it does
// by default when Listen made it).
func (l *UnixListener) SetUnlinkOnClose(unlink bool) {
	if !unlink {
		l.fd.unlinkOnClose.Store(nil)
	} else if a, ok := l.fd.laddr.(*net.UnixAddr); ok && a.Name != "" && a.Name[0] != '@' {
		l.fd.unlinkOnClose.Store(&a.Name)
	}
}
