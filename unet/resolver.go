package unet

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ResolverConfig configures a Resolver. The zero value reads /etc/hosts
// and /etc/resolv.conf on the Stack's kernel at each lookup; a non-zero
// field overrides what the file says.
type ResolverConfig struct {
	HostsFile  string        // default /etc/hosts
	ResolvConf string        // default /etc/resolv.conf
	Servers    []string      // name servers, "ip" or "ip:port"; default: resolv.conf's, else 127.0.0.1:53
	Search     []string      // search domains; default: resolv.conf's
	Ndots      int           // default: resolv.conf's options ndots, else 1
	Timeout    time.Duration // per query; default: resolv.conf's options timeout, else 5s
	Attempts   int           // per server; default: resolv.conf's options attempts, else 2
}

// A Resolver looks host names up through one Stack's kernel: the hosts
// file and resolv.conf are read with that kernel's system calls, and DNS
// queries (A and AAAA, over UDP, again over TCP when the answer is
// truncated) go out on that kernel's network. On LKL a name is therefore
// resolved by LKL's own files and network.
type Resolver struct {
	s   *Stack
	cfg ResolverConfig
}

// Resolver returns the Stack's resolver, configured by Options.Resolver.
func (s *Stack) Resolver() *Resolver {
	s.resolverOnce.Do(func() {
		s.resolver = &Resolver{s: s}
		if s.opts.Resolver != nil {
			s.resolver.cfg = *s.opts.Resolver
		}
	})
	return s.resolver
}

// NewResolver returns a resolver on s with configuration cfg.
func (s *Stack) NewResolver(cfg ResolverConfig) *Resolver {
	return &Resolver{s: s, cfg: cfg}
}

// LookupHost returns the addresses of host as strings.
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out, nil
}

// LookupNetIP returns the addresses of host: network "ip" for both
// families (IPv4 first), "ip4" or "ip6" for one. An IP literal is itself.
// The hosts file answers first; then DNS. "localhost" and names under it
// are the loopback addresses when the hosts file does not name them (RFC
// 6761). Errors are *net.DNSError.
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	want4, want6 := true, true
	switch network {
	case "ip":
	case "ip4":
		want6 = false
	case "ip6":
		want4 = false
	default:
		return nil, net.UnknownNetworkError(network)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	if host == "" {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	filter := func(ips []netip.Addr) []netip.Addr {
		var out []netip.Addr
		for _, ip := range ips {
			if ip.Unmap().Is4() && want4 || !ip.Unmap().Is4() && want6 {
				out = append(out, ip)
			}
		}
		return out
	}
	if ips := filter(r.lookupHosts(host)); len(ips) > 0 {
		return ips, nil
	}
	lower := strings.ToLower(strings.TrimSuffix(host, "."))
	if lower == "localhost" || strings.HasSuffix(lower, ".localhost") {
		return filter([]netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}), nil
	}
	conf := r.config()
	return r.lookupDNS(ctx, conf, host, want4, want6)
}

// readFile reads a small file on the Stack's kernel.
func (r *Resolver) readFile(path string) ([]byte, error) {
	lc := r.s.lc
	fd, err := lc.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer lc.Close(fd)
	var out []byte
	buf := make([]byte, 4096)
	for len(out) < 1<<20 {
		n, err := lc.Read(fd, buf)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
	}
	return nil, io.ErrShortBuffer
}

// lookupHosts returns the addresses the hosts file gives host.
func (r *Resolver) lookupHosts(host string) []netip.Addr {
	path := r.cfg.HostsFile
	if path == "" {
		path = "/etc/hosts"
	}
	data, err := r.readFile(path)
	if err != nil {
		return nil
	}
	return parseHosts(data, host)
}

// parseHosts finds host in a hosts file: "addr name [alias...]" lines,
// "#" comments, names matched without case and without a final dot.
func parseHosts(data []byte, host string) []netip.Addr {
	host = strings.TrimSuffix(host, ".")
	var out []netip.Addr
	for line := range bytes.Lines(data) {
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(string(line))
		if len(f) < 2 {
			continue
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, name := range f[1:] {
			if strings.EqualFold(strings.TrimSuffix(name, "."), host) {
				out = append(out, ip)
				break
			}
		}
	}
	return out
}

// dnsConfig is the configuration of one lookup.
type dnsConfig struct {
	servers  []string // "ip:port"
	search   []string
	ndots    int
	timeout  time.Duration
	attempts int
}

// config reads resolv.conf and applies the overrides.
func (r *Resolver) config() dnsConfig {
	path := r.cfg.ResolvConf
	if path == "" {
		path = "/etc/resolv.conf"
	}
	c := dnsConfig{ndots: 1, timeout: 5 * time.Second, attempts: 2}
	if data, err := r.readFile(path); err == nil {
		parseResolvConf(data, &c)
	}
	if len(c.servers) == 0 {
		c.servers = []string{"127.0.0.1:53"}
	}
	if r.cfg.Servers != nil {
		c.servers = nil
		for _, s := range r.cfg.Servers {
			c.servers = append(c.servers, withPort53(s))
		}
	}
	if r.cfg.Search != nil {
		c.search = r.cfg.Search
	}
	if r.cfg.Ndots > 0 {
		c.ndots = r.cfg.Ndots
	}
	if r.cfg.Timeout > 0 {
		c.timeout = r.cfg.Timeout
	}
	if r.cfg.Attempts > 0 {
		c.attempts = r.cfg.Attempts
	}
	return c
}

func withPort53(s string) string {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	return net.JoinHostPort(s, "53")
}

// parseResolvConf reads nameserver, search, domain and options lines.
func parseResolvConf(data []byte, c *dnsConfig) {
	for line := range bytes.Lines(data) {
		f := strings.Fields(string(line))
		if len(f) == 0 || f[0][0] == '#' || f[0][0] == ';' {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				if ip, err := netip.ParseAddr(f[1]); err == nil {
					c.servers = append(c.servers, net.JoinHostPort(ip.String(), "53"))
				}
			}
		case "domain":
			if len(f) > 1 {
				c.search = []string{f[1]}
			}
		case "search":
			c.search = append([]string(nil), f[1:]...)
		case "options":
			for _, o := range f[1:] {
				k, v, _ := strings.Cut(o, ":")
				n, err := strconv.Atoi(v)
				switch {
				case err != nil:
				case k == "ndots":
					c.ndots = min(max(n, 0), 15)
				case k == "timeout" && n >= 1:
					c.timeout = time.Duration(n) * time.Second
				case k == "attempts" && n >= 1:
					c.attempts = n
				}
			}
		}
	}
}

// nameList returns the names to query for host, in order (resolv.conf(5)):
// a name ending in "." as it is; one with at least ndots dots first as it
// is, then with each search domain; others the other way round.
func (c *dnsConfig) nameList(host string) []string {
	if strings.HasSuffix(host, ".") {
		return []string{host}
	}
	var out []string
	asIs := strings.Count(host, ".") >= c.ndots
	if asIs {
		out = append(out, host+".")
	}
	for _, d := range c.search {
		out = append(out, host+"."+strings.TrimSuffix(d, ".")+".")
	}
	if !asIs {
		out = append(out, host+".")
	}
	return out
}
