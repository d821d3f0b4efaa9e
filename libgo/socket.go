package libgo

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sockets: making, naming, connecting them, and moving data and control
// messages through them. Socket options are in sockopt.go, addresses in
// sockaddr.go.

// Socket makes a socket with socket(2). SOCK_CLOEXEC is always added to
// typ.
func (l *Libc) Socket(domain, typ, proto int) (fd int, err error) {
	r, err := l.call(unix.SYS_SOCKET, uintptr(domain), uintptr(typ|unix.SOCK_CLOEXEC), uintptr(proto), 0, 0, 0)
	if err != nil {
		return -1, err
	}
	return int(r), nil
}

// Socketpair makes a pair of connected sockets with socketpair(2).
// SOCK_CLOEXEC is always added to typ.
func (l *Libc) Socketpair(domain, typ, proto int) (fds [2]int, err error) {
	var fd [2]int32
	if _, err := l.call(unix.SYS_SOCKETPAIR, uintptr(domain), uintptr(typ|unix.SOCK_CLOEXEC), uintptr(proto), uintptr(unsafe.Pointer(&fd)), 0, 0); err != nil {
		return [2]int{-1, -1}, err
	}
	return [2]int{int(fd[0]), int(fd[1])}, nil
}

// Bind gives socket fd the address sa with bind(2). A nil sa, a port
// outside 0..65535 or a Unix name that does not fit is EINVAL.
func (l *Libc) Bind(fd int, sa Sockaddr) error {
	if sa == nil {
		return syscall.EINVAL
	}
	p, n, err := sa.sockaddr()
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_BIND, uintptr(fd), uintptr(p), uintptr(n), 0, 0, 0)
	return err
}

// Connect connects socket fd to sa with connect(2); sa is checked as in
// Bind. EINTR is returned, not retried: the connection goes on in the
// background, a second connect would fail with EALREADY, and the caller
// waits for writability and reads SocketError instead, as for
// EINPROGRESS.
func (l *Libc) Connect(fd int, sa Sockaddr) error {
	if sa == nil {
		return syscall.EINVAL
	}
	p, n, err := sa.sockaddr()
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_CONNECT, uintptr(fd), uintptr(p), uintptr(n), 0, 0, 0)
	return err
}

// Listen marks socket fd as accepting connections with listen(2), with a
// queue of up to backlog pending ones (the kernel caps it at somaxconn).
func (l *Libc) Listen(fd, backlog int) error {
	_, err := l.call(unix.SYS_LISTEN, uintptr(fd), uintptr(backlog), 0, 0, 0, 0)
	return err
}

// Accept4 takes a connection from listening socket fd with accept4(2) and
// returns its fd and the peer's address. SOCK_CLOEXEC is always added to
// flags. EINTR and ECONNABORTED (a connection reset while it waited in the
// queue) are retried, as internal/poll's Accept does. If the peer's
// address does not decode (see ParseSockaddr) the new fd is closed and the
// error returned, as x/sys/unix does.
func (l *Libc) Accept4(fd, flags int) (nfd int, sa Sockaddr, err error) {
	for {
		var rsa unix.RawSockaddrAny
		n := uint32(unix.SizeofSockaddrAny)
		r, _, e := l.syscall(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)), uintptr(flags|unix.SOCK_CLOEXEC), 0, 0)
		switch e {
		case 0:
		case syscall.EINTR, syscall.ECONNABORTED:
			continue
		default:
			return -1, nil, e
		}
		sa, err := parseRawSockaddr(&rsa, n)
		if err != nil {
			l.syscall(unix.SYS_CLOSE, r, 0, 0, 0, 0, 0)
			return -1, nil, err
		}
		return int(r), sa, nil
	}
}

// parseRawSockaddr decodes the n bytes the kernel wrote to rsa; n = 0 (no
// address, as for a connected socket's recvfrom) is a nil Sockaddr.
func parseRawSockaddr(rsa *unix.RawSockaddrAny, n uint32) (Sockaddr, error) {
	if n == 0 {
		return nil, nil
	}
	return ParseSockaddr(sockaddrBytes(unsafe.Pointer(rsa), min(n, unix.SizeofSockaddrAny)))
}

// Getsockname returns the address socket fd is bound to, with
// getsockname(2).
func (l *Libc) Getsockname(fd int) (sa Sockaddr, err error) {
	return l.sockname(unix.SYS_GETSOCKNAME, fd)
}

// Getpeername returns the address of the peer socket fd is connected to,
// with getpeername(2); ENOTCONN if there is none.
func (l *Libc) Getpeername(fd int) (sa Sockaddr, err error) {
	return l.sockname(unix.SYS_GETPEERNAME, fd)
}

// sockname makes getsockname or getpeername and decodes the address.
func (l *Libc) sockname(trap uintptr, fd int) (Sockaddr, error) {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	if _, err := l.call(trap, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)), 0, 0, 0); err != nil {
		return nil, err
	}
	return ParseSockaddr(sockaddrBytes(unsafe.Pointer(&rsa), min(n, unix.SizeofSockaddrAny)))
}

// Shutdown shuts down the read side (SHUT_RD), the write side (SHUT_WR) or
// both (SHUT_RDWR) of socket fd with shutdown(2).
func (l *Libc) Shutdown(fd, how int) error {
	_, err := l.call(unix.SYS_SHUTDOWN, uintptr(fd), uintptr(how), 0, 0, 0, 0)
	return err
}

// Sendto sends p on socket fd with sendto(2), to the address to or, if to
// is nil, to the connected peer. Unlike x/sys/unix's, it returns the byte
// count, so a short send on a stream socket shows. EINTR is retried, as
// for write: the kernel says EINTR only when nothing was sent.
func (l *Libc) Sendto(fd int, p []byte, flags int, to Sockaddr) (n int, err error) {
	var (
		ptr unsafe.Pointer
		sl  uint32
	)
	if to != nil {
		if ptr, sl, err = to.sockaddr(); err != nil {
			return 0, err
		}
	}
	r, err := l.callEINTR(unix.SYS_SENDTO, uintptr(fd), uintptr(bufp(p)), uintptr(len(p)), uintptr(flags), uintptr(ptr), uintptr(sl))
	if err != nil {
		return 0, err
	}
	return int(r), nil
}

// Recvfrom receives into p from socket fd with recvfrom(2) and returns the
// byte count and the sender's address (nil when the kernel gives none, as
// on a connected stream socket). If the address does not decode, n is
// still the count received and err says why from is nil. EINTR is
// retried.
func (l *Libc) Recvfrom(fd int, p []byte, flags int) (n int, from Sockaddr, err error) {
	var rsa unix.RawSockaddrAny
	sl := uint32(unix.SizeofSockaddrAny)
	r, err := l.callEINTR(unix.SYS_RECVFROM, uintptr(fd), uintptr(bufp(p)), uintptr(len(p)), uintptr(flags), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&sl)))
	if err != nil {
		return 0, nil, err
	}
	from, err = parseRawSockaddr(&rsa, sl)
	return int(r), from, err
}

// Sendmsg sends p and the control messages oob (built with
// unix.UnixRights and the like) on socket fd with sendmsg(2), to the
// address to or, if nil, to the connected peer, and returns the number of
// bytes of p sent. As in x/sys/unix, when p is empty and oob is not, one
// zero byte is sent on a socket that is not SOCK_DGRAM, because a stream
// socket sends no control message without data; n is 0 then. EINTR is
// retried.
func (l *Libc) Sendmsg(fd int, p, oob []byte, to Sockaddr, flags int) (n int, err error) {
	var msg unix.Msghdr
	if to != nil {
		ptr, sl, err := to.sockaddr()
		if err != nil {
			return 0, err
		}
		msg.Name = (*byte)(ptr)
		msg.Namelen = sl
	}
	if err := l.msgBuffers(fd, &msg, p, oob); err != nil {
		return 0, err
	}
	r, err := l.callEINTR(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags), 0, 0, 0)
	if err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	return int(r), nil
}

// Recvmsg receives into p and control messages into oob from socket fd
// with recvmsg(2). It returns the bytes of data and of control messages
// received (parse oob[:oobn] with unix.ParseSocketControlMessage), the
// message flags (MSG_TRUNC, MSG_CTRUNC, …) and the sender's address (nil
// when the kernel gives none). As in x/sys/unix, when p is empty and oob
// is not, one byte is read on a socket that is not SOCK_DGRAM, to match
// Sendmsg's. MSG_CMSG_CLOEXEC is always added to flags, so fds received
// with SCM_RIGHTS are close-on-exec. If the address does not decode, the
// counts are still valid and err says why from is nil. EINTR is retried.
func (l *Libc) Recvmsg(fd int, p, oob []byte, flags int) (n, oobn int, recvflags int, from Sockaddr, err error) {
	var msg unix.Msghdr
	var rsa unix.RawSockaddrAny
	msg.Name = (*byte)(unsafe.Pointer(&rsa))
	msg.Namelen = unix.SizeofSockaddrAny
	if err := l.msgBuffers(fd, &msg, p, oob); err != nil {
		return 0, 0, 0, nil, err
	}
	r, err := l.callEINTR(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags|unix.MSG_CMSG_CLOEXEC), 0, 0, 0)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	n = int(r)
	if len(p) == 0 {
		n = 0
	}
	oobn = int(msg.Controllen)
	recvflags = int(msg.Flags)
	if flags&unix.MSG_CMSG_CLOEXEC == 0 {
		// The kernel echoes MSG_CMSG_CLOEXEC in msg_flags; the caller
		// did not ask for it.
		recvflags &^= unix.MSG_CMSG_CLOEXEC
	}
	from, err = parseRawSockaddr(&rsa, msg.Namelen)
	return n, oobn, recvflags, from, err
}

// msgBuffers points msg at the data p (one iovec) and the control
// messages oob. When p is empty and oob is not, the data is one byte of
// its own instead on a socket that is not SOCK_DGRAM (see Sendmsg).
func (l *Libc) msgBuffers(fd int, msg *unix.Msghdr, p, oob []byte) error {
	iov := new(unix.Iovec)
	if len(p) > 0 {
		iov.Base = &p[0]
		iov.SetLen(len(p))
	}
	if len(oob) > 0 {
		if len(p) == 0 {
			typ, err := l.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
			if err != nil {
				return err
			}
			if typ != unix.SOCK_DGRAM {
				iov.Base = new(byte)
				iov.SetLen(1)
			}
		}
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	msg.Iov = iov
	msg.SetIovlen(1)
	return nil
}
