package unet

import (
	"io"
	"net"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/libgo"
)

// Names of the system calls in the *os.SyscallError values unet returns.
const (
	socketName      = "socket"
	getsocknameName = "getsockname"
	setsockoptName  = "setsockopt"
	shutdownName    = "shutdown"
	closeName       = "close"
)

// maxRW caps one stream read or write, as internal/poll does.
const maxRW = 1 << 30

// A netFD is one non-blocking socket of a Stack's kernel on the fd
// runtime (aio.FD: reference count, read and write locks, a Close that
// wakes every waiter and closes the socket last; aio.PollDesc: readiness
// and deadlines), with what package net adds: the network and addresses.
type netFD struct {
	aio.FD
	s      *Stack
	family int
	sotype int
	net    string
	laddr  net.Addr
	raddr  net.Addr
	watch  eloop.WatchID // with a Loop: the fd's watch (0 until Watch succeeds)
	ud     *uringDisp    // on io_uring: the dispatcher that polls the fd

	// On io_uring, for stream sockets (poll_uring.go): rseq counts the
	// poll completions the dispatcher passed on (it adds before it wakes
	// the waiters), and drainedAt is rseq's value when a read last found
	// nothing more to read: EAGAIN, or fewer bytes than asked before any
	// completion said RDHUP, HUP or Error (hup; end of stream and errors
	// stay readable with no further wake-up). While rseq equals drainedAt
	// nothing can have arrived, and Read waits without a read(2) that
	// would say EAGAIN. drainedAt is the read lock's.
	rseq      atomic.Uint64
	hup       atomic.Bool
	drainedAt uint64

	// On io_uring, for TCP conns: the completion-based receive's queue
	// (recv_uring.go).
	rq recvQueue

	unlinkOnClose atomic.Pointer[string] // the socket file a Unix listener made, removed by Close
}

// newFD registers sysfd with the stack's poller; on failure sysfd is closed.
func (s *Stack) newFD(sysfd, family, sotype int, network string) (*netFD, error) {
	fd := &netFD{s: s, family: family, sotype: sotype, net: network, drainedAt: ^uint64(0)}
	fd.Init(sysfd, aio.Socket, aio.NewPollDesc(aio.Socket))
	if err := s.poll.add(fd); err != nil {
		s.lc.Close(sysfd)
		return nil, err
	}
	return fd, nil
}

// Close wakes blocked callers, waits for them, then closes the socket. A
// second Close is net.ErrClosed.
func (fd *netFD) Close() error {
	return fd.FD.Close(func() error {
		fd.s.poll.remove(fd)
		if name := fd.unlinkOnClose.Load(); name != nil {
			fd.s.lc.Unlink(*name)
		}
		if err := fd.s.lc.Close(fd.Sysfd); err != nil {
			return os.NewSyscallError(closeName, err)
		}
		return nil
	})
}

// Read reads from a stream or a connected datagram socket.
func (fd *netFD) Read(p []byte) (n int, err error) {
	if len(p) == 0 { // as net: no wait, no deadline, only the closed check
		if err := fd.Incref(); err != nil {
			return 0, err
		}
		fd.Decref()
		return 0, nil
	}
	if fd.sotype == unix.SOCK_STREAM && len(p) > maxRW {
		p = p[:maxRW]
	}
	skip := fd.ud != nil && fd.sotype == unix.SOCK_STREAM
	recv := skip && fd.recvEligible()
	err = fd.ReadRetry(func() (wouldBlock bool, err error) {
		if recv && fd.rq.mode.Load() != recvNone {
			var done bool
			if n, wouldBlock, done, err = fd.takeRecv(p); done {
				return wouldBlock, err
			}
			recv = false // the receive ended for good with an empty queue
		}
		var seq uint64
		if skip {
			if seq = fd.rseq.Load(); seq == fd.drainedAt {
				if recv {
					fd.startRecv() // empty: what comes next arrives by completion
				}
				return true, nil // nothing to read, and no completion since
			}
		}
		n, wouldBlock, err = fd.s.nb.Read(fd.Sysfd, p)
		if skip && (wouldBlock || err == nil && n > 0 && n < len(p) && !fd.hup.Load()) {
			// A short read of a stream took all there was; what
			// arrives later wakes the poll, which moves rseq on.
			fd.drainedAt = seq
			if recv {
				fd.startRecv() // and by completion once the receive is on
			}
		}
		return wouldBlock, err
	})
	switch {
	case err != nil:
		return 0, err
	case n == 0 && fd.sotype != unix.SOCK_DGRAM && fd.sotype != unix.SOCK_RAW:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p to a stream, or one datagram.
func (fd *netFD) Write(p []byte) (nn int, err error) {
	err = fd.WriteRetry(func() (bool, error) {
		for {
			max := len(p)
			if fd.sotype == unix.SOCK_STREAM && max-nn > maxRW {
				max = nn + maxRW
			}
			n, wouldBlock, err := fd.s.nb.Write(fd.Sysfd, p[nn:max])
			nn += n
			if err != nil || wouldBlock || nn == len(p) {
				return wouldBlock, err
			}
		}
	})
	return nn, err
}

// readMsg receives one message with recvmsg(2), waiting for readability.
func (fd *netFD) readMsg(p, oob []byte, flags int) (n, oobn, rflags int, sa libgo.Sockaddr, err error) {
	err = fd.ReadRetry(func() (wouldBlock bool, err error) {
		n, oobn, rflags, sa, wouldBlock, err = fd.s.nb.Recvmsg(fd.Sysfd, p, oob, flags)
		return wouldBlock, err
	})
	return n, oobn, rflags, sa, err
}

// readFrom receives one datagram with recvfrom(2).
func (fd *netFD) readFrom(p []byte) (n int, sa libgo.Sockaddr, err error) {
	err = fd.ReadRetry(func() (wouldBlock bool, err error) {
		n, sa, wouldBlock, err = fd.s.nb.Recvfrom(fd.Sysfd, p)
		return wouldBlock, err
	})
	return n, sa, err
}

// writeMsg sends p and oob with sendmsg(2) (sendto(2) when oob is empty)
// to sa, or to the connected peer when sa is nil.
func (fd *netFD) writeMsg(p, oob []byte, sa libgo.Sockaddr) (n, oobn int, err error) {
	err = fd.WriteRetry(func() (wouldBlock bool, err error) {
		n, wouldBlock, err = fd.s.nb.SendMsg(fd.Sysfd, p, oob, sa)
		return wouldBlock, err
	})
	if err != nil {
		return 0, 0, err
	}
	return n, len(oob), nil
}

// accept takes one connection, waiting for it.
func (fd *netFD) accept() (*netFD, error) {
	var (
		nfd int
		rsa libgo.Sockaddr
	)
	err := fd.ReadRetry(func() (wouldBlock bool, err error) {
		nfd, rsa, wouldBlock, err = fd.s.nb.Accept(fd.Sysfd)
		return wouldBlock, err
	})
	if err != nil {
		return nil, err
	}
	c, err := fd.s.newFD(nfd, fd.family, fd.sotype, fd.net)
	if err != nil {
		return nil, err
	}
	lsa, _ := fd.s.lc.Getsockname(nfd)
	c.laddr, c.raddr = sockaddrToAddr(fd.net, lsa), sockaddrToAddr(fd.net, rsa)
	return c, nil
}

// shutdown shuts down one direction or both.
func (fd *netFD) shutdown(how int) error {
	if err := fd.Incref(); err != nil {
		return err
	}
	defer fd.Decref()
	if err := fd.s.lc.Shutdown(fd.Sysfd, how); err != nil {
		return os.NewSyscallError(shutdownName, err)
	}
	return nil
}

// setsockoptInt sets an int option.
func (fd *netFD) setsockoptInt(level, opt, v int) error {
	if err := fd.Incref(); err != nil {
		return err
	}
	defer fd.Decref()
	if err := fd.s.lc.SetsockoptInt(fd.Sysfd, level, opt, v); err != nil {
		return os.NewSyscallError(setsockoptName, err)
	}
	return nil
}
