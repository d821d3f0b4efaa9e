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
// default kernel, looked up at each call.
func NewNonblock(k sys.Kernel) Nonblock {
	if k == nil {
		return Nonblock{}
	}
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
