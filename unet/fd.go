package unet

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
)

// Names of the system calls in the *os.SyscallError values unet returns.
const (
	socketName      = "socket"
	bindName        = "bind"
	listenName      = "listen"
	connectName     = "connect"
	getsocknameName = "getsockname"
	setsockoptName  = "setsockopt"
	shutdownName    = "shutdown"
	closeName       = "close"
	recvfromName    = "recvfrom"
	sendtoName      = "sendto"
	recvmsgName     = "recvmsg"
	sendmsgName     = "sendmsg"
)

// maxRW caps one stream read or write, as internal/poll does.
const maxRW = 1 << 30

// A netFD owns one non-blocking socket of a Stack's kernel, the way
// internal/poll.FD owns a host fd:
//
//   - refs holds a closed bit and a reference count; every operation holds
//     a reference while it uses sysfd, so the number is closed, and may be
//     reused, only after the last one is dropped;
//   - reads serialize on rmu and writes on wmu (lock order: rmu or wmu,
//     then a deadline's mu);
//   - Close marks the fd closed, wakes every waiter through pd.closing,
//     waits for the references, and closes sysfd last.
type netFD struct {
	s      *Stack
	sysfd  int
	family int
	sotype int
	net    string
	laddr  net.Addr
	raddr  net.Addr
	pd     *pollDesc

	refs    atomic.Uint64
	drained chan struct{}
	rmu     sync.Mutex
	wmu     sync.Mutex

	unlinkOnClose atomic.Pointer[string] // the socket file a Unix listener made, removed by Close
}

const fdClosed = 1 << 63

// newFD registers sysfd with the stack's poller; on failure sysfd is closed.
func (s *Stack) newFD(sysfd, family, sotype int, network string) (*netFD, error) {
	pd, err := s.poll.add(sysfd)
	if err != nil {
		s.lc.Close(sysfd)
		return nil, err
	}
	fd := &netFD{s: s, sysfd: sysfd, family: family, sotype: sotype, net: network, pd: pd, drained: make(chan struct{})}
	pd.owner.Store(fd)
	return fd, nil
}

// incref takes a reference, or fails with net.ErrClosed.
func (fd *netFD) incref() error {
	for {
		v := fd.refs.Load()
		if v&fdClosed != 0 {
			return net.ErrClosed
		}
		if fd.refs.CompareAndSwap(v, v+1) {
			return nil
		}
	}
}

func (fd *netFD) decref() {
	if fd.refs.Add(^uint64(0)) == fdClosed {
		close(fd.drained)
	}
}

func (fd *netFD) readLock() error {
	if err := fd.incref(); err != nil {
		return err
	}
	fd.rmu.Lock()
	return nil
}

func (fd *netFD) readUnlock() { fd.rmu.Unlock(); fd.decref() }

func (fd *netFD) writeLock() error {
	if err := fd.incref(); err != nil {
		return err
	}
	fd.wmu.Lock()
	return nil
}

func (fd *netFD) writeUnlock() { fd.wmu.Unlock(); fd.decref() }

// Close wakes blocked callers, waits for them, then closes the socket. A
// second Close is net.ErrClosed.
func (fd *netFD) Close() error {
	for {
		v := fd.refs.Load()
		if v&fdClosed != 0 {
			return net.ErrClosed
		}
		if fd.refs.CompareAndSwap(v, v|fdClosed) {
			if v == 0 {
				close(fd.drained)
			}
			break
		}
	}
	close(fd.pd.closing)
	fd.pd.rdl.stop()
	fd.pd.wdl.stop()
	<-fd.drained
	fd.s.poll.remove(fd.pd)
	if name := fd.unlinkOnClose.Load(); name != nil {
		fd.s.lc.Unlink(*name)
	}
	if err := fd.s.lc.Close(fd.sysfd); err != nil {
		return os.NewSyscallError(closeName, err)
	}
	return nil
}

// Read reads from a stream or a connected datagram socket.
func (fd *netFD) Read(p []byte) (int, error) {
	if err := fd.readLock(); err != nil {
		return 0, err
	}
	defer fd.readUnlock()
	if len(p) == 0 {
		return 0, nil
	}
	if err := fd.pd.prepare(modeRead); err != nil {
		return 0, err
	}
	if fd.sotype == unix.SOCK_STREAM && len(p) > maxRW {
		p = p[:maxRW]
	}
	for {
		n, wouldBlock, err := fd.s.nb.Read(fd.sysfd, p)
		switch {
		case wouldBlock:
			if err := fd.pd.wait(modeRead, nil); err != nil {
				return 0, err
			}
			continue
		case err != nil:
			return 0, err
		case n == 0 && fd.sotype != unix.SOCK_DGRAM && fd.sotype != unix.SOCK_RAW:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Write writes all of p to a stream, or one datagram.
func (fd *netFD) Write(p []byte) (int, error) {
	if err := fd.writeLock(); err != nil {
		return 0, err
	}
	defer fd.writeUnlock()
	if err := fd.pd.prepare(modeWrite); err != nil {
		return 0, err
	}
	var nn int
	for {
		max := len(p)
		if fd.sotype == unix.SOCK_STREAM && max-nn > maxRW {
			max = nn + maxRW
		}
		n, wouldBlock, err := fd.s.nb.Write(fd.sysfd, p[nn:max])
		nn += n
		switch {
		case err != nil:
			return nn, err
		case wouldBlock:
			if err := fd.pd.wait(modeWrite, nil); err != nil {
				return nn, err
			}
			continue
		}
		if nn == len(p) {
			return nn, nil
		}
	}
}

// readMsg receives one message with recvmsg(2), waiting for readability.
func (fd *netFD) readMsg(p, oob []byte, flags int) (n, oobn, rflags int, sa libgo.Sockaddr, err error) {
	if err := fd.readLock(); err != nil {
		return 0, 0, 0, nil, err
	}
	defer fd.readUnlock()
	if err := fd.pd.prepare(modeRead); err != nil {
		return 0, 0, 0, nil, err
	}
	for {
		n, oobn, rflags, sa, err = fd.s.lc.Recvmsg(fd.sysfd, p, oob, flags)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if err := fd.pd.wait(modeRead, nil); err != nil {
				return 0, 0, 0, nil, err
			}
			continue
		case nil:
			return n, oobn, rflags, sa, nil
		}
		return 0, 0, 0, nil, os.NewSyscallError(recvmsgName, err)
	}
}

// readFrom receives one datagram with recvfrom(2).
func (fd *netFD) readFrom(p []byte) (int, libgo.Sockaddr, error) {
	if err := fd.readLock(); err != nil {
		return 0, nil, err
	}
	defer fd.readUnlock()
	if err := fd.pd.prepare(modeRead); err != nil {
		return 0, nil, err
	}
	for {
		n, sa, err := fd.s.lc.Recvfrom(fd.sysfd, p, 0)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if err := fd.pd.wait(modeRead, nil); err != nil {
				return 0, nil, err
			}
			continue
		case nil:
			return n, sa, nil
		}
		return 0, nil, os.NewSyscallError(recvfromName, err)
	}
}

// writeMsg sends p and oob with sendmsg(2) (sendto(2) when oob is empty)
// to sa, or to the connected peer when sa is nil.
func (fd *netFD) writeMsg(p, oob []byte, sa libgo.Sockaddr) (n, oobn int, err error) {
	if err := fd.writeLock(); err != nil {
		return 0, 0, err
	}
	defer fd.writeUnlock()
	if err := fd.pd.prepare(modeWrite); err != nil {
		return 0, 0, err
	}
	name := sendtoName
	if len(oob) > 0 {
		name = sendmsgName
	}
	for {
		if len(oob) > 0 {
			n, err = fd.s.lc.Sendmsg(fd.sysfd, p, oob, sa, 0)
		} else {
			n, err = fd.s.lc.Sendto(fd.sysfd, p, 0, sa)
		}
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if err := fd.pd.wait(modeWrite, nil); err != nil {
				return 0, 0, err
			}
			continue
		case nil:
			return n, len(oob), nil
		}
		return 0, 0, os.NewSyscallError(name, err)
	}
}

// accept takes one connection, waiting for it.
func (fd *netFD) accept() (*netFD, error) {
	if err := fd.readLock(); err != nil {
		return nil, err
	}
	defer fd.readUnlock()
	if err := fd.pd.prepare(modeRead); err != nil {
		return nil, err
	}
	for {
		nfd, rsa, wouldBlock, err := fd.s.nb.Accept(fd.sysfd)
		switch {
		case wouldBlock:
			if err := fd.pd.wait(modeRead, nil); err != nil {
				return nil, err
			}
			continue
		case err != nil:
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
}

// shutdown shuts down one direction or both.
func (fd *netFD) shutdown(how int) error {
	if err := fd.incref(); err != nil {
		return err
	}
	defer fd.decref()
	if err := fd.s.lc.Shutdown(fd.sysfd, how); err != nil {
		return os.NewSyscallError(shutdownName, err)
	}
	return nil
}

// setsockopt sets an int option.
func (fd *netFD) setsockoptInt(level, opt, v int) error {
	if err := fd.incref(); err != nil {
		return err
	}
	defer fd.decref()
	if err := fd.s.lc.SetsockoptInt(fd.sysfd, level, opt, v); err != nil {
		return os.NewSyscallError(setsockoptName, err)
	}
	return nil
}
