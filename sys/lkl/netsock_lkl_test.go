//go:build lkl

package lkl_test

// Minimal sockets on a kernel through sys.SyscallOn for the network tests
// (sys may not import libgo, which sits above it).

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// ksock is a socket fd in kernel k.
type ksock struct {
	k  sys.Kernel
	fd uintptr
}

//go:uintptrescapes
func kcall(k sys.Kernel, trap uintptr, a ...uintptr) (uintptr, error) {
	var args [6]uintptr
	copy(args[:], a)
	r, _, e := sys.SyscallOn(k, trap, args[0], args[1], args[2], args[3], args[4], args[5])
	if e != 0 {
		return r, e
	}
	return r, nil
}

func rawInet4(ap netip.AddrPort) unix.RawSockaddrInet4 {
	sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ap.Addr().As4()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], ap.Port())
	return sa
}

func socket(k sys.Kernel, typ int) (*ksock, error) {
	fd, err := kcall(k, unix.SYS_SOCKET, unix.AF_INET, uintptr(typ|unix.SOCK_CLOEXEC), 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	return &ksock{k: k, fd: fd}, nil
}

// dial connects a new TCP or UDP socket to addr ("10.0.2.2:80").
func dial(k sys.Kernel, typ int, addr string) (*ksock, error) {
	s, err := socket(k, typ)
	if err != nil {
		return nil, err
	}
	if err := s.connect(addr); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *ksock) connect(addr string) error {
	sa := rawInet4(netip.MustParseAddrPort(addr))
	if _, err := kcall(s.k, unix.SYS_CONNECT, s.fd, uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet4); err != nil {
		return fmt.Errorf("connect %s: %w", addr, err)
	}
	return nil
}

// listen binds a new socket to 0.0.0.0:port (and listens, for TCP).
func listen(k sys.Kernel, typ int, port uint16) (*ksock, error) {
	s, err := socket(k, typ)
	if err != nil {
		return nil, err
	}
	sa := rawInet4(netip.AddrPortFrom(netip.IPv4Unspecified(), port))
	if _, err := kcall(k, unix.SYS_BIND, s.fd, uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet4); err != nil {
		s.close()
		return nil, fmt.Errorf("bind: %w", err)
	}
	if typ == unix.SOCK_STREAM {
		if _, err := kcall(k, unix.SYS_LISTEN, s.fd, 16); err != nil {
			s.close()
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	return s, nil
}

func (s *ksock) accept() (*ksock, error) {
	fd, err := kcall(s.k, unix.SYS_ACCEPT4, s.fd, 0, 0, unix.SOCK_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("accept: %w", err)
	}
	return &ksock{k: s.k, fd: fd}, nil
}

// timeout sets SO_RCVTIMEO and SO_SNDTIMEO.
func (s *ksock) timeout(d time.Duration) error {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	for _, opt := range []uintptr{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO} {
		if _, err := kcall(s.k, unix.SYS_SETSOCKOPT, s.fd, unix.SOL_SOCKET, opt, uintptr(unsafe.Pointer(&tv)), unsafe.Sizeof(tv)); err != nil {
			return fmt.Errorf("setsockopt: %w", err)
		}
	}
	return nil
}

func (s *ksock) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := kcall(s.k, unix.SYS_READ, s.fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	switch {
	case err != nil:
		return 0, err
	case n == 0:
		return 0, io.EOF
	}
	return int(n), nil
}

func (s *ksock) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := kcall(s.k, unix.SYS_WRITE, s.fd, uintptr(unsafe.Pointer(&p[done])), uintptr(len(p)-done))
		if err != nil {
			return done, err
		}
		done += int(n)
	}
	return done, nil
}

func (s *ksock) closeWrite() error {
	_, err := kcall(s.k, unix.SYS_SHUTDOWN, s.fd, unix.SHUT_WR)
	return err
}

// recvfrom reads one datagram and returns the sender.
func (s *ksock) recvfrom(p []byte) (int, netip.AddrPort, error) {
	var sa unix.RawSockaddrInet4
	l := uint32(unsafe.Sizeof(sa))
	n, err := kcall(s.k, unix.SYS_RECVFROM, s.fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0,
		uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&l)))
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	return int(n), netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port), nil
}

func (s *ksock) sendto(p []byte, to netip.AddrPort) error {
	sa := rawInet4(to)
	_, err := kcall(s.k, unix.SYS_SENDTO, s.fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0,
		uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet4)
	return err
}

func (s *ksock) close() error {
	_, err := kcall(s.k, unix.SYS_CLOSE, s.fd)
	return err
}
