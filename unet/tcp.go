package unet

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// TCPConn is a TCP connection on a Stack's kernel: net.Conn plus the
// methods of net.TCPConn that make sense on a kernel fd.
type TCPConn struct {
	conn
}

// CloseRead shuts down the reading side (shutdown(2) SHUT_RD).
func (c *TCPConn) CloseRead() error {
	return c.opError("close", c.fd.shutdown(unix.SHUT_RD))
}

// CloseWrite shuts down the writing side (shutdown(2) SHUT_WR): the peer
// reads end of file.
func (c *TCPConn) CloseWrite() error {
	return c.opError("close", c.fd.shutdown(unix.SHUT_WR))
}

// SetNoDelay turns Nagle's algorithm off (true, the default in net) or on.
func (c *TCPConn) SetNoDelay(noDelay bool) error {
	return c.opError("set", c.fd.setsockoptInt(unix.IPPROTO_TCP, unix.TCP_NODELAY, boolInt(noDelay)))
}

// SetKeepAlive turns keep-alive probes on or off (SO_KEEPALIVE).
func (c *TCPConn) SetKeepAlive(keepalive bool) error {
	return c.opError("set", c.fd.setsockoptInt(unix.SOL_SOCKET, unix.SO_KEEPALIVE, boolInt(keepalive)))
}

// SetKeepAlivePeriod sets the idle time before the first probe and the
// time between probes, in whole seconds, rounded up.
func (c *TCPConn) SetKeepAlivePeriod(d time.Duration) error {
	if err := c.fd.Incref(); err != nil {
		return c.opError("set", err)
	}
	defer c.fd.Decref()
	return c.opError("set", wrapSyscall(setsockoptName, c.fd.s.lc.SetKeepAlivePeriod(c.fd.Sysfd, d)))
}

// SetLinger sets what Close does with unsent data, as net.TCPConn's: sec
// < 0 sends it in the background (the default), 0 discards it and resets
// the connection, > 0 sends it in the background for up to sec seconds.
func (c *TCPConn) SetLinger(sec int) error {
	if err := c.fd.Incref(); err != nil {
		return c.opError("set", err)
	}
	defer c.fd.Decref()
	var l unix.Linger
	if sec >= 0 {
		l.Onoff, l.Linger = 1, int32(sec)
	}
	return c.opError("set", wrapSyscall(setsockoptName, c.fd.s.lc.SetsockoptLinger(c.fd.Sysfd, unix.SOL_SOCKET, unix.SO_LINGER, &l)))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TCPListener is a TCP listener on a Stack's kernel.
type TCPListener struct {
	listener
}

// Accept waits for the next connection; it is a *TCPConn.
func (l *TCPListener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptTCP waits for the next connection. As net does, it turns
// Nagle's algorithm off on it.
func (l *TCPListener) AcceptTCP() (*TCPConn, error) {
	fd, err := l.accept()
	if err != nil {
		return nil, err
	}
	fd.s.lc.SetNoDelay(fd.Sysfd, true)
	return &TCPConn{conn{fd}}, nil
}
