package usernet

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// A Rule is one destination a restricted guest may still reach, written
// "tcp:10.0.2.2:8080", "udp:10.0.2.3:53", "tcp:192.0.2.0/24:443" or
// "tcp:10.0.2.2:*" (any port). The address is the one the guest connects
// to, before the router maps it (10.0.2.2 is the host's 127.0.0.1, 10.0.2.3
// port 53 the resolver).
type Rule struct {
	Network string       // "tcp" or "udp"
	Dest    netip.Prefix // one address is a /32
	Port    uint16       // 0 matches every port
}

// ParseRule parses a Rule.
func ParseRule(s string) (Rule, error) {
	bad := func(format string, args ...any) (Rule, error) {
		return Rule{}, fmt.Errorf("usernet: allow %q: "+format, append([]any{s}, args...)...)
	}
	netw, rest, ok := strings.Cut(s, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i < 0 || (netw != "tcp" && netw != "udp") {
		return bad("want tcp:IP:PORT or udp:IP:PORT (IP may be a prefix such as 10.0.2.0/24, PORT may be *)")
	}
	addr, port := rest[:i], rest[i+1:]
	var r Rule
	r.Network = netw
	if strings.Contains(addr, "/") {
		p, err := netip.ParsePrefix(addr)
		if err != nil || !p.Addr().Is4() {
			return bad("destination %q: want an IPv4 address or prefix", addr)
		}
		r.Dest = p.Masked()
	} else {
		a, err := netip.ParseAddr(addr)
		if err != nil || !a.Is4() {
			return bad("destination %q: want an IPv4 address or prefix", addr)
		}
		r.Dest = netip.PrefixFrom(a, 32)
	}
	if port != "*" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return bad("port %q: want 1 to 65535, or * for any", port)
		}
		r.Port = uint16(n)
	}
	return r, nil
}

// String returns the form ParseRule reads.
func (r Rule) String() string {
	dest := r.Dest.String()
	if r.Dest.IsSingleIP() {
		dest = r.Dest.Addr().String()
	}
	port := "*"
	if r.Port != 0 {
		port = strconv.Itoa(int(r.Port))
	}
	return r.Network + ":" + dest + ":" + port
}

// Match reports whether a connection or flow on network ("tcp", "udp") to
// dst is the rule's.
func (r Rule) Match(network string, dst netip.AddrPort) bool {
	return r.Network == network && r.Dest.Contains(dst.Addr()) && (r.Port == 0 || r.Port == dst.Port())
}

// Policy is what the guest may reach through the NAT: everything (the zero
// Policy, QEMU's default), or, when Restrict is set, only the destinations
// of Allow, like QEMU's restrict=on with guestfwd-style exceptions. Port
// forwards into the guest are never restricted, and neither are pings to
// the gateway and DNS addresses, which the router answers itself; pings to
// other addresses are host traffic and a restricted guest's are dropped.
type Policy struct {
	Restrict bool
	Allow    []Rule
}

// Allows reports whether the guest may open a connection or flow on
// network ("tcp", "udp", "icmp") to dst (the address the guest asked for).
func (p Policy) Allows(network string, dst netip.AddrPort) bool {
	if !p.Restrict {
		return true
	}
	for _, r := range p.Allow {
		if r.Match(network, dst) {
			return true
		}
	}
	return false
}
