package aio

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
)

// Names of the calls of Nonblock.Bind.
const (
	socketName     = "socket"
	setsockoptName = "setsockopt"
	bindName       = "bind"
	listenName     = "listen"
)

// BindOptions says how Nonblock.Bind sets a socket up before bind(2).
type BindOptions struct {
	ReuseAddr bool // SO_REUSEADDR, as package net sets on TCP listeners
	ReusePort bool // SO_REUSEPORT: several sockets share the address (eloop's loops)
	DualStack bool // IPV6_V6ONLY off on an AF_INET6 socket, as net's "tcp" (best effort)
	Backlog   int  // > 0: listen(2) with this backlog after bind
}

// Bind is the one listen path of the stack (eloop's servers and unet's
// listeners and datagram sockets): a non-blocking, close-on-exec socket of
// family and sotype, set up as o says, bound to sa and, with o.Backlog > 0,
// listening. Errors are *os.SyscallError naming the call ("socket",
// "setsockopt", "bind", "listen"); the socket is closed after one.
func (nb Nonblock) Bind(family, sotype int, sa libgo.Sockaddr, o BindOptions) (fd int, err error) {
	lc := nb.libc()
	fd, err = lc.Socket(family, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError(socketName, err)
	}
	fail := func(name string, err error) (int, error) {
		lc.Close(fd)
		return -1, os.NewSyscallError(name, err)
	}
	if o.ReuseAddr {
		if err := lc.SetReuseAddr(fd, true); err != nil {
			return fail(setsockoptName, err)
		}
	}
	if o.ReusePort {
		if err := lc.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail(setsockoptName, err)
		}
	}
	if o.DualStack && family == unix.AF_INET6 {
		lc.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0) // best effort, as net
	}
	if err := lc.Bind(fd, sa); err != nil {
		return fail(bindName, err)
	}
	if o.Backlog > 0 {
		if err := lc.Listen(fd, o.Backlog); err != nil {
			return fail(listenName, err)
		}
	}
	return fd, nil
}
