package libgo

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Socket addresses: the Go forms, their encoding into the kernel's structs,
// and decoding from the bytes the kernel returns.

// A Sockaddr is a socket address libgo can pass to the kernel and decode
// from it: *SockaddrInet4, *SockaddrInet6 or *SockaddrUnix. The interface
// is sealed, as x/sys/unix's is: only this package implements it.
type Sockaddr interface {
	// sockaddr encodes the address into a new raw struct (unix.RawSockaddr*)
	// and returns its address and the length to pass to the kernel. The
	// pointer is only ever converted to uintptr inside a system call's
	// argument list.
	sockaddr() (ptr unsafe.Pointer, n uint32, err error)
}

// SockaddrInet4 is an AF_INET address: struct sockaddr_in.
type SockaddrInet4 struct {
	Port int // 0..65535, host byte order
	Addr [4]byte
}

// SockaddrInet6 is an AF_INET6 address: struct sockaddr_in6. The flow
// label is always 0.
type SockaddrInet6 struct {
	Port   int // 0..65535, host byte order
	ZoneId uint32
	Addr   [16]byte
}

// SockaddrUnix is an AF_UNIX address: struct sockaddr_un. Name is
//
//   - a path name, at most 107 bytes (sun_path's 108 with the NUL) with no
//     NUL byte;
//   - an abstract name when it starts with "@" or a NUL byte, as in
//     x/sys/unix: the first byte becomes the NUL that marks an abstract
//     address, and the rest are its bytes, at most 107 of them;
//   - empty for an unnamed socket (binding it autobinds an abstract name).
type SockaddrUnix struct {
	Name string
}

// sockaddrUnixPathMax is the size of sun_path.
const sockaddrUnixPathMax = len(unix.RawSockaddrUnix{}.Path)

// putPort stores port in network byte order in the port field at p.
func putPort(p *uint16, port int) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0] = byte(port >> 8)
	b[1] = byte(port)
}

func (sa *SockaddrInet4) sockaddr() (unsafe.Pointer, uint32, error) {
	if sa.Port < 0 || sa.Port > 0xFFFF {
		return nil, 0, syscall.EINVAL
	}
	raw := &unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: sa.Addr}
	putPort(&raw.Port, sa.Port)
	return unsafe.Pointer(raw), unix.SizeofSockaddrInet4, nil
}

func (sa *SockaddrInet6) sockaddr() (unsafe.Pointer, uint32, error) {
	if sa.Port < 0 || sa.Port > 0xFFFF {
		return nil, 0, syscall.EINVAL
	}
	raw := &unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: sa.Addr, Scope_id: sa.ZoneId}
	putPort(&raw.Port, sa.Port)
	return unsafe.Pointer(raw), unix.SizeofSockaddrInet6, nil
}

func (sa *SockaddrUnix) sockaddr() (unsafe.Pointer, uint32, error) {
	name := sa.Name
	abstract := name != "" && (name[0] == '@' || name[0] == 0)
	switch {
	case abstract && len(name) > sockaddrUnixPathMax:
		return nil, 0, syscall.EINVAL // no NUL follows an abstract name
	case !abstract && len(name) >= sockaddrUnixPathMax:
		return nil, 0, syscall.EINVAL // no room for the NUL
	case !abstract && strings.IndexByte(name, 0) >= 0:
		return nil, 0, syscall.EINVAL // the kernel would cut the path there
	}
	raw := &unix.RawSockaddrUnix{Family: unix.AF_UNIX}
	for i := 0; i < len(name); i++ {
		raw.Path[i] = int8(name[i])
	}
	// The length is the family, the name and, for a path, its NUL; an
	// unnamed address is the family alone.
	n := uint32(2 + len(name))
	if abstract {
		raw.Path[0] = 0
	} else if name != "" {
		n++
	}
	return unsafe.Pointer(raw), n, nil
}

// sockaddrBytes returns the n bytes of the raw address at p. n is at most
// the size of the struct p points to, which the caller ensures.
func sockaddrBytes(p unsafe.Pointer, n uint32) []byte {
	return unsafe.Slice((*byte)(p), n)
}

// ParseSockaddr decodes a socket address as the kernel returns it (accept4,
// getsockname, recvfrom, …): raw holds the address's bytes, family first
// in host byte order, and its length is the address length the kernel
// gave. It never panics.
//
//   - AF_INET needs 16 bytes, AF_INET6 28 (more are ignored);
//   - AF_UNIX reads sun_path up to the length, at most 108 bytes: a
//     length of 2 is an unnamed socket (Name ""), a leading NUL an
//     abstract name (returned with "@" in its place, every byte up to the
//     length kept), otherwise a path up to its first NUL; a path that
//     fills sun_path without a NUL cannot be encoded again and is EINVAL;
//   - a buffer shorter than its family needs is EINVAL, any other family
//     EAFNOSUPPORT.
func ParseSockaddr(raw []byte) (Sockaddr, error) {
	if len(raw) < 2 {
		return nil, syscall.EINVAL
	}
	switch binary.NativeEndian.Uint16(raw) {
	case unix.AF_INET:
		if len(raw) < unix.SizeofSockaddrInet4 {
			return nil, syscall.EINVAL
		}
		sa := &SockaddrInet4{Port: int(binary.BigEndian.Uint16(raw[2:]))}
		copy(sa.Addr[:], raw[4:8])
		return sa, nil
	case unix.AF_INET6:
		if len(raw) < unix.SizeofSockaddrInet6 {
			return nil, syscall.EINVAL
		}
		sa := &SockaddrInet6{
			Port:   int(binary.BigEndian.Uint16(raw[2:])),
			ZoneId: binary.NativeEndian.Uint32(raw[24:]),
		}
		copy(sa.Addr[:], raw[8:24])
		return sa, nil
	case unix.AF_UNIX:
		path := raw[2:min(len(raw), unix.SizeofSockaddrUnix)]
		switch {
		case len(path) == 0:
			return &SockaddrUnix{}, nil
		case path[0] == 0:
			return &SockaddrUnix{Name: "@" + string(path[1:])}, nil
		}
		n := 0
		for n < len(path) && path[n] != 0 {
			n++
		}
		if n >= sockaddrUnixPathMax {
			return nil, syscall.EINVAL
		}
		return &SockaddrUnix{Name: string(path[:n])}, nil
	}
	return nil, syscall.EAFNOSUPPORT
}

// AddrPort returns an inet socket address as a netip.AddrPort, without
// allocating; any other address (unix, nil) gives the zero AddrPort.
func AddrPort(sa Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}
