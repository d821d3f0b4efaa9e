package unet

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
)

// A netKind is what a network name means: its socket type, the address
// families it allows and the address type it uses.
type netKind struct {
	sotype int
	family int // AF_INET or AF_INET6 to force one; AF_UNSPEC for either; AF_UNIX
	inet   bool
	stream bool
}

// parseNetwork checks a network name.
func parseNetwork(network string) (netKind, error) {
	switch network {
	case "tcp":
		return netKind{unix.SOCK_STREAM, unix.AF_UNSPEC, true, true}, nil
	case "tcp4":
		return netKind{unix.SOCK_STREAM, unix.AF_INET, true, true}, nil
	case "tcp6":
		return netKind{unix.SOCK_STREAM, unix.AF_INET6, true, true}, nil
	case "udp":
		return netKind{unix.SOCK_DGRAM, unix.AF_UNSPEC, true, false}, nil
	case "udp4":
		return netKind{unix.SOCK_DGRAM, unix.AF_INET, true, false}, nil
	case "udp6":
		return netKind{unix.SOCK_DGRAM, unix.AF_INET6, true, false}, nil
	case "unix":
		return netKind{unix.SOCK_STREAM, unix.AF_UNIX, false, true}, nil
	case "unixgram":
		return netKind{unix.SOCK_DGRAM, unix.AF_UNIX, false, false}, nil
	case "unixpacket":
		return netKind{unix.SOCK_SEQPACKET, unix.AF_UNIX, false, true}, nil
	}
	return netKind{}, net.UnknownNetworkError(network)
}

// resolveAddrs turns address into the candidate IP addresses and port of
// an inet network: the IP literal, or the names the resolver finds, in its
// order, filtered by the network's family. An empty host is the
// unspecified address (nil IP).
func (s *Stack) resolveAddrs(ctx context.Context, network string, kind netKind, address string) ([]netip.Addr, int, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, 0, err
	}
	port, err := parsePort(network, portStr)
	if err != nil {
		return nil, 0, err
	}
	if host == "" {
		return nil, port, nil
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		if ips, err = s.Resolver().LookupNetIP(ctx, "ip", host); err != nil {
			return nil, 0, err
		}
	}
	var out []netip.Addr
	for _, ip := range ips {
		ip = ip.Unmap()
		if kind.family == unix.AF_INET && !ip.Is4() || kind.family == unix.AF_INET6 && !ip.Is6() {
			continue
		}
		out = append(out, ip)
	}
	if len(out) == 0 {
		return nil, 0, &net.AddrError{Err: "no suitable address found", Addr: host}
	}
	return out, port, nil
}

// parsePort accepts decimal ports and the few service names a program
// on a bare kernel needs; /etc/services is not read.
func parsePort(network, s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 0xFFFF {
			return 0, &net.AddrError{Err: "invalid port", Addr: s}
		}
		return n, nil
	}
	switch s {
	case "domain":
		return 53, nil
	case "http":
		return 80, nil
	case "https":
		return 443, nil
	}
	return 0, &net.DNSError{Err: "unknown port", Name: network + "/" + s, IsNotFound: true}
}

// inetSockaddr returns the kernel address of ip:port for a socket of
// family (an IPv4 address on an AF_INET6 socket becomes v4-mapped).
func inetSockaddr(family int, ip netip.Addr, port int) (libgo.Sockaddr, error) {
	if family == unix.AF_INET {
		if !ip.IsValid() {
			return &libgo.SockaddrInet4{Port: port}, nil
		}
		if !ip.Unmap().Is4() {
			return nil, &net.AddrError{Err: "non-IPv4 address", Addr: ip.String()}
		}
		return &libgo.SockaddrInet4{Port: port, Addr: ip.Unmap().As4()}, nil
	}
	if !ip.IsValid() {
		return &libgo.SockaddrInet6{Port: port}, nil
	}
	sa := &libgo.SockaddrInet6{Port: port, Addr: ip.As16()}
	if z := ip.Zone(); z != "" {
		n, err := strconv.Atoi(z)
		if err != nil {
			return nil, &net.AddrError{Err: "unsupported zone (numeric zones only)", Addr: ip.String()}
		}
		sa.ZoneId = uint32(n)
	}
	return sa, nil
}

// sockaddrToAddr converts a kernel address to the net.Addr of network;
// nil for nil.
func sockaddrToAddr(network string, sa libgo.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *libgo.SockaddrInet4:
		ip := net.IP(append([]byte(nil), sa.Addr[:]...))
		if network[:3] == "udp" {
			return &net.UDPAddr{IP: ip, Port: sa.Port}
		}
		return &net.TCPAddr{IP: ip, Port: sa.Port}
	case *libgo.SockaddrInet6:
		ip := net.IP(append([]byte(nil), sa.Addr[:]...))
		zone := ""
		if sa.ZoneId != 0 {
			zone = strconv.Itoa(int(sa.ZoneId))
		}
		if network[:3] == "udp" {
			return &net.UDPAddr{IP: ip, Port: sa.Port, Zone: zone}
		}
		return &net.TCPAddr{IP: ip, Port: sa.Port, Zone: zone}
	case *libgo.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: network}
	}
	return nil
}

// addrToSockaddr converts a net.Addr given to WriteTo and the like.
func addrToSockaddr(family int, a net.Addr) (libgo.Sockaddr, error) {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok && len(a.IP) != 0 {
			return nil, &net.AddrError{Err: "invalid IP", Addr: a.String()}
		}
		return inetSockaddr(family, ip.WithZone(a.Zone), a.Port)
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok && len(a.IP) != 0 {
			return nil, &net.AddrError{Err: "invalid IP", Addr: a.String()}
		}
		return inetSockaddr(family, ip.WithZone(a.Zone), a.Port)
	case *net.UnixAddr:
		return &libgo.SockaddrUnix{Name: a.Name}, nil
	case nil:
		return nil, syscall.EINVAL
	}
	return nil, &net.AddrError{Err: "unsupported address type", Addr: a.String()}
}

// addrPortToSockaddr converts a netip.AddrPort.
func addrPortToSockaddr(family int, ap netip.AddrPort) (libgo.Sockaddr, error) {
	return inetSockaddr(family, ap.Addr(), int(ap.Port()))
}

// familyOf picks the socket family for ip under kind: AF_INET for IPv4
// addresses unless the network asks for IPv6.
func familyOf(kind netKind, ip netip.Addr) int {
	if kind.family != unix.AF_UNSPEC {
		return kind.family
	}
	if ip.IsValid() && ip.Unmap().Is4() {
		return unix.AF_INET
	}
	if !ip.IsValid() {
		return unix.AF_INET6 // wildcard: dual-stack when the kernel has IPv6
	}
	return unix.AF_INET6
}
