package aio

import (
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// Names of the system calls in the errors of Nonblock's methods.
const (
	accept4Name     = "accept4"
	connectName     = "connect"
	getsockoptName  = "getsockopt"
	getpeernameName = "getpeername"
)

// Nonblock makes the calls of non-blocking I/O on one kernel: reads,
// writes, accepts and connects on fds with O_NONBLOCK set, which say that
// they would block instead of blocking. A caller that is told so waits for
// readiness in a Poller, then calls again.
//
// Every method reports "would block" (EAGAIN, EWOULDBLOCK, EINPROGRESS)
// as an explicit bool, wouldBlock or inProgress, with a nil error: it is
// the common case in an event loop, and building an error for it would
// allocate every time. Other errors are *os.SyscallError naming the call
// ("read", "write", "accept4", "connect", "getsockopt", "getpeername").
// EINTR is retried, never returned.
//
// Nonblock is a small value, safe for concurrent use. The zero Nonblock
// calls the process default kernel, as the zero libgo.Libc does.
type Nonblock struct {
	lc *libgo.Libc // nil: the default kernel
}

// NewNonblock returns the Nonblock of kernel k; nil means the process
// default kernel as it is now (sys.Default), kept even if the default
// changes (sys's binding rule).
func NewNonblock(k sys.Kernel) Nonblock {
	return Nonblock{lc: libgo.New(k)}
}

// defaultLibc is the zero libgo.Libc: the process default kernel. It is
// never changed.
var defaultLibc libgo.Libc

func (nb Nonblock) libc() *libgo.Libc {
	if nb.lc == nil {
		return &defaultLibc
	}
	return nb.lc
}

// Read reads up to len(p) bytes from fd with read(2), at most 1 GiB per
// call. wouldBlock reports that nothing can be read yet: wait for Read.
// n == 0 with neither wouldBlock nor an error is end of file on a stream
// or pipe (an empty datagram on a datagram socket). An empty p returns
// 0 at once without a call, so that 0 does not look like end of file.
func (nb Nonblock) Read(fd int, p []byte) (n int, wouldBlock bool, err error) {
	if len(p) == 0 {
		return 0, false, nil
	}
	n, err = nb.libc().Read(fd, p)
	switch err {
	case nil:
		return n, false, nil
	case syscall.EAGAIN:
		return 0, true, nil
	}
	return 0, false, os.NewSyscallError(readName, err)
}

// Write writes p to fd with write(2), calling again after a short write,
// until all of p is written or the call would block; at most 1 GiB goes in
// one call. n is the number of bytes written in all. wouldBlock reports
// that p[n:] is left to write: wait for Write, then call again with it.
// An empty p makes one call, so an empty datagram is sent. A call that
// writes nothing of a non-empty buffer is io.ErrUnexpectedEOF.
func (nb Nonblock) Write(fd int, p []byte) (n int, wouldBlock bool, err error) {
	lc := nb.libc()
	for {
		m, err := lc.Write(fd, p[n:])
		switch {
		case err == syscall.EAGAIN:
			return n, true, nil
		case err != nil:
			return n, false, os.NewSyscallError(writeName, err)
		}
		n += m
		if n == len(p) {
			return n, false, nil
		}
		if m == 0 {
			return n, false, io.ErrUnexpectedEOF
		}
	}
}

// Accept takes a connection from the listening socket fd with accept4(2),
// and returns its fd, non-blocking and close-on-exec (SOCK_NONBLOCK,
// SOCK_CLOEXEC), and the peer's address. wouldBlock reports that no
// connection is waiting: wait for Read on fd. A connection reset while it
// waited (ECONNABORTED) is skipped, as internal/poll does.
func (nb Nonblock) Accept(fd int) (nfd int, sa libgo.Sockaddr, wouldBlock bool, err error) {
	nfd, sa, err = nb.libc().Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	switch err {
	case nil:
		return nfd, sa, false, nil
	case syscall.EAGAIN:
		return -1, nil, true, nil
	}
	return -1, nil, false, os.NewSyscallError(accept4Name, err)
}

// Connect starts connecting the non-blocking socket fd to sa with
// connect(2). inProgress reports that the connection goes on in the
// background (EINPROGRESS, or EINTR, after which it goes on as well):
// wait for Write on fd, then ask ConnectResult how it ended. Otherwise
// the connection is made (a nil error) or has failed.
func (nb Nonblock) Connect(fd int, sa libgo.Sockaddr) (inProgress bool, err error) {
	switch err := nb.libc().Connect(fd, sa); err {
	case nil:
		return false, nil
	case syscall.EINPROGRESS, syscall.EINTR:
		return true, nil
	default:
		return false, os.NewSyscallError(connectName, err)
	}
}

// ConnectResult tells how a connection that Connect left in progress
// ended, once fd is writable (or reports HUP or Error): it reads and
// clears the socket's pending error with getsockopt(2) SO_ERROR. A
// refused or failed connection is that errno as an *os.SyscallError
// "connect", so errors.Is(err, syscall.ECONNREFUSED) holds. As net does,
// a socket with no pending error is confirmed connected with
// getpeername(2); inProgress reports that it is not connected yet (a
// readiness report that came early): wait for Write again. Reading the
// error clears it, so call ConnectResult once per readiness report and
// close the socket after an error: a second call would find no error and
// no connection, and report inProgress.
func (nb Nonblock) ConnectResult(fd int) (inProgress bool, err error) {
	lc := nb.libc()
	v, err := lc.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return false, os.NewSyscallError(getsockoptName, err)
	}
	switch e := syscall.Errno(v); e {
	case 0:
	case syscall.EINPROGRESS, syscall.EALREADY, syscall.EINTR:
		return true, nil
	case syscall.EISCONN:
		return false, nil
	default:
		return false, os.NewSyscallError(connectName, e)
	}
	switch _, err := lc.Getpeername(fd); err {
	case nil:
		return false, nil
	case syscall.ENOTCONN:
		return true, nil
	default:
		return false, os.NewSyscallError(getpeernameName, err)
	}
}

// Names of the calls below, in their errors.
const (
	readvName    = "readv"
	writevName   = "writev"
	preadName    = "pread64"
	pwriteName   = "pwrite64"
	sendtoName   = "sendto"
	sendmsgName  = "sendmsg"
	recvfromName = "recvfrom"
	recvmsgName  = "recvmsg"
	spliceName   = "splice"
)

// result is the one EAGAIN policy of Nonblock: EAGAIN (EWOULDBLOCK) is
// wouldBlock with a nil error, any other errno an *os.SyscallError naming
// the call. (EINTR never gets here: libgo retries it.)
func result(name string, err error) (wouldBlock bool, _ error) {
	switch err {
	case nil:
		return false, nil
	case syscall.EAGAIN:
		return true, nil
	}
	return false, os.NewSyscallError(name, err)
}

// Readv reads into the buffers of iovs with readv(2); see Read.
func (nb Nonblock) Readv(fd int, iovs [][]byte) (n int, wouldBlock bool, err error) {
	n, err = nb.libc().Readv(fd, iovs)
	wouldBlock, err = result(readvName, err)
	return n, wouldBlock, err
}

// Writev writes the buffers of iovs with one writev(2); n may be short of
// their total: the caller goes on from there.
func (nb Nonblock) Writev(fd int, iovs [][]byte) (n int, wouldBlock bool, err error) {
	n, err = nb.libc().Writev(fd, iovs)
	wouldBlock, err = result(writevName, err)
	return n, wouldBlock, err
}

// Pread reads at offset off with pread(2), without moving the offset.
func (nb Nonblock) Pread(fd int, p []byte, off int64) (n int, wouldBlock bool, err error) {
	n, err = nb.libc().Pread(fd, p, off)
	wouldBlock, err = result(preadName, err)
	return n, wouldBlock, err
}

// Pwrite writes at offset off with pwrite(2), without moving the offset.
func (nb Nonblock) Pwrite(fd int, p []byte, off int64) (n int, wouldBlock bool, err error) {
	n, err = nb.libc().Pwrite(fd, p, off)
	wouldBlock, err = result(pwriteName, err)
	return n, wouldBlock, err
}

// Recvfrom receives one message into p with recvfrom(2) and returns the
// sender's address (nil when the kernel gives none).
func (nb Nonblock) Recvfrom(fd int, p []byte) (n int, sa libgo.Sockaddr, wouldBlock bool, err error) {
	n, sa, err = nb.libc().Recvfrom(fd, p, 0)
	wouldBlock, err = result(recvfromName, err)
	return n, sa, wouldBlock, err
}

// Recvmsg receives one message and its control messages with
// recvmsg(2); see libgo.Libc.Recvmsg.
func (nb Nonblock) Recvmsg(fd int, p, oob []byte, flags int) (n, oobn, rflags int, sa libgo.Sockaddr, wouldBlock bool, err error) {
	n, oobn, rflags, sa, err = nb.libc().Recvmsg(fd, p, oob, flags)
	wouldBlock, err = result(recvmsgName, err)
	return n, oobn, rflags, sa, wouldBlock, err
}

// SendMsg sends p, and the control messages oob, to sa (nil: the
// connected peer), with sendto(2), or sendmsg(2) when oob is not empty.
func (nb Nonblock) SendMsg(fd int, p, oob []byte, sa libgo.Sockaddr) (n int, wouldBlock bool, err error) {
	name := sendtoName
	if len(oob) > 0 {
		name = sendmsgName
		n, err = nb.libc().Sendmsg(fd, p, oob, sa, 0)
	} else {
		n, err = nb.libc().Sendto(fd, p, 0, sa)
	}
	wouldBlock, err = result(name, err)
	return n, wouldBlock, err
}

// Splice moves up to n bytes from in to out, one of them a pipe, with
// splice(2), SPLICE_F_NONBLOCK and SPLICE_F_MOVE. Unlike the other calls
// it returns the bare errno, so the caller can tell the kernel's "cannot
// splice these fds" (EINVAL, ENOSYS) from a failure; wrap others with
// SpliceError.
func (nb Nonblock) Splice(in, out, n int) (m int, wouldBlock bool, errno error) {
	m, err := nb.libc().Splice(in, out, n, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
	if err == syscall.EAGAIN {
		return 0, true, nil
	}
	return m, false, err
}

// Sendfile sends up to n bytes of file in, from its offset, to out with
// sendfile(2). Like Splice it returns the bare errno (EINVAL and ENOSYS
// say the kernel cannot send these fds); the caller wraps others.
func (nb Nonblock) Sendfile(out, in, n int) (m int, wouldBlock bool, errno error) {
	m, err := nb.libc().Sendfile(out, in, nil, n)
	if err == syscall.EAGAIN {
		return 0, true, nil
	}
	return m, false, err
}

// SpliceError wraps an errno of Splice as the other calls' errors are.
func SpliceError(errno error) error { return os.NewSyscallError(spliceName, errno) }
