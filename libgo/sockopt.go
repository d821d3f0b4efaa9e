package libgo

import (
	"math"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Socket options: getsockopt(2) and setsockopt(2) by value type, and typed
// helpers for the options every network program sets.

// GetsockoptInt returns the int option opt at level of socket fd with
// getsockopt(2).
func (l *Libc) GetsockoptInt(fd, level, opt int) (value int, err error) {
	var v int32
	n := uint32(unsafe.Sizeof(v))
	if _, err := l.call(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&n)), 0); err != nil {
		return -1, err
	}
	return int(v), nil
}

// SetsockoptInt sets the int option opt at level of socket fd to value
// with setsockopt(2). The kernel's option is a C int: a value outside the
// int32 range is EINVAL, not silently truncated.
func (l *Libc) SetsockoptInt(fd, level, opt, value int) error {
	if value < math.MinInt32 || value > math.MaxInt32 {
		return syscall.EINVAL
	}
	v := int32(value)
	_, err := l.call(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&v)), unsafe.Sizeof(v), 0)
	return err
}

// GetsockoptLinger returns the struct linger option opt (SO_LINGER) at
// level of socket fd with getsockopt(2).
func (l *Libc) GetsockoptLinger(fd, level, opt int) (*unix.Linger, error) {
	var v unix.Linger
	n := uint32(unix.SizeofLinger)
	if _, err := l.call(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&n)), 0); err != nil {
		return nil, err
	}
	return &v, nil
}

// SetsockoptLinger sets the struct linger option opt (SO_LINGER) at level
// of socket fd with setsockopt(2). A nil lg is EFAULT (see efaultNil).
func (l *Libc) SetsockoptLinger(fd, level, opt int, lg *unix.Linger) error {
	if lg == nil {
		return efaultNil
	}
	_, err := l.call(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(lg)), unix.SizeofLinger, 0)
	return err
}

// GetsockoptTimeval returns the struct timeval option opt (SO_RCVTIMEO,
// SO_SNDTIMEO) at level of socket fd with getsockopt(2).
func (l *Libc) GetsockoptTimeval(fd, level, opt int) (*unix.Timeval, error) {
	var v unix.Timeval
	n := uint32(unsafe.Sizeof(v))
	if _, err := l.call(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&n)), 0); err != nil {
		return nil, err
	}
	return &v, nil
}

// SetsockoptTimeval sets the struct timeval option opt (SO_RCVTIMEO,
// SO_SNDTIMEO) at level of socket fd with setsockopt(2). A nil tv is
// EFAULT (see efaultNil).
func (l *Libc) SetsockoptTimeval(fd, level, opt int, tv *unix.Timeval) error {
	if tv == nil {
		return efaultNil
	}
	_, err := l.call(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(tv)), unsafe.Sizeof(*tv), 0)
	return err
}

// sockoptBool is a boolean socket option's int value.
func sockoptBool(on bool) int {
	if on {
		return 1
	}
	return 0
}

// SetReuseAddr sets SO_REUSEADDR on socket fd with setsockopt(2), so a
// listener can bind its port again while old connections are in
// TIME_WAIT.
func (l *Libc) SetReuseAddr(fd int, on bool) error {
	return l.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, sockoptBool(on))
}

// SetNoDelay sets TCP_NODELAY on TCP socket fd with setsockopt(2): with it
// on, small writes are sent at once instead of being coalesced (Nagle's
// algorithm off).
func (l *Libc) SetNoDelay(fd int, on bool) error {
	return l.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, sockoptBool(on))
}

// SetKeepAlive sets SO_KEEPALIVE on socket fd with setsockopt(2).
func (l *Libc) SetKeepAlive(fd int, on bool) error {
	return l.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, sockoptBool(on))
}

// SetKeepAlivePeriod sets both the idle time before the first keep-alive
// probe (TCP_KEEPIDLE) and the time between probes (TCP_KEEPINTVL) of TCP
// socket fd to d, with two setsockopt(2) calls. The kernel counts whole
// seconds: d is rounded up, and is at least 1 second. The kernel refuses
// more than 32767 seconds with EINVAL.
func (l *Libc) SetKeepAlivePeriod(fd int, d time.Duration) error {
	secs := int64(d / time.Second)
	if d%time.Second > 0 {
		secs++
	}
	secs = min(max(secs, 1), math.MaxInt32)
	if err := l.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(secs)); err != nil {
		return err
	}
	return l.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(secs))
}

// SetRecvBuffer asks for a receive buffer of bytes on socket fd with
// setsockopt(2) SO_RCVBUF. The kernel doubles the value for its own
// bookkeeping and caps it at net.core.rmem_max; GetsockoptInt(fd,
// SOL_SOCKET, SO_RCVBUF) reads what it chose.
func (l *Libc) SetRecvBuffer(fd, bytes int) error {
	return l.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, bytes)
}

// SetSendBuffer asks for a send buffer of bytes on socket fd with
// setsockopt(2) SO_SNDBUF; the kernel doubles and caps it as for
// SetRecvBuffer (net.core.wmem_max).
func (l *Libc) SetSendBuffer(fd, bytes int) error {
	return l.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, bytes)
}

// SocketError reads and clears the pending error of socket fd with
// getsockopt(2) SO_ERROR: the outcome of a non-blocking connect, for
// instance. It returns that error as a syscall.Errno, or nil if there is
// none; an error from getsockopt itself (EBADF, ENOTSOCK) is returned the
// same way.
func (l *Libc) SocketError(fd int) error {
	v, err := l.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return err
	}
	if v != 0 {
		return syscall.Errno(v)
	}
	return nil
}
