package usernet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/gokernel/gokernel/sys/host"
)

// Defaults of Config, QEMU's user network.
var (
	DefaultPrefix  = netip.MustParsePrefix("10.0.2.0/24")
	DefaultGateway = netip.MustParseAddr("10.0.2.2")
	DefaultDNS     = netip.MustParseAddr("10.0.2.3")
	DefaultGuest   = netip.MustParseAddr("10.0.2.15")
)

// DefaultMTU is the link MTU when Config.MTU is 0.
const DefaultMTU = 1500

// DefaultUDPIdle is how long a UDP flow lives without traffic when
// Config.UDPIdle is 0.
const DefaultUDPIdle = 60 * time.Second

// Config describes the user network. The zero Config is QEMU's: guest
// 10.0.2.15 on 10.0.2.0/24, gateway 10.0.2.2, DNS 10.0.2.3, MTU 1500, the
// first nameserver of the host's /etc/resolv.conf as upstream resolver.
type Config struct {
	// Prefix is the guest's network (10.0.2.0/24).
	Prefix netip.Prefix
	// Gateway is the router's address (10.0.2.2). Connections to it go to
	// the host's 127.0.0.1 on the same port.
	Gateway netip.Addr
	// DNS is the DNS forwarder's address (10.0.2.3). Port 53 on it, TCP
	// or UDP, goes to Resolver.
	DNS netip.Addr
	// Guest is the guest's address (10.0.2.15), where port forwards go.
	Guest netip.Addr
	// Resolver is the host's DNS server as "ip:port" or "ip". Empty means
	// the first nameserver in /etc/resolv.conf (127.0.0.1 if none).
	Resolver string
	// MTU of the link (1500). The guest's device must use the same.
	MTU int
	// ChecksumOffload skips checksums on both sides of the link: the
	// netstack neither computes nor verifies them, so the guest must
	// accept frames without valid checksums (virtio-net's GUEST_CSUM).
	ChecksumOffload bool
	// UDPIdle ends a UDP flow after this long without traffic (60s).
	UDPIdle time.Duration
	// Policy says which destinations the guest may reach through the NAT
	// (the zero Policy: all of them). A refused TCP connection gets a
	// reset, a refused UDP flow an ICMP port unreachable, a refused ping
	// no answer.
	Policy Policy
	// Dial opens the host side of NATed connections; nil means a
	// net.Dialer with a 30s timeout. The context ends when the Network
	// closes. Tests use it to watch or refuse connections.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Host makes the Network's own host calls (closing its fds, opening
	// ping sockets); nil means the host kernel (host.Kernel). sys/lkl
	// passes its Config.Host, so a sys.Tracer or sys.Injector around the
	// host sees them. The fdbased link's reads and writes (gVisor) and
	// the NAT's host sockets (package net) are made by those packages
	// and the Go runtime, outside any Kernel; the link's waits for room
	// (poll) are the Network's own.
	Host host.Caller
}

// withDefaults fills in zero fields.
func (c Config) withDefaults() (Config, error) {
	if !c.Prefix.IsValid() {
		c.Prefix = DefaultPrefix
	}
	if !c.Gateway.IsValid() {
		c.Gateway = DefaultGateway
	}
	if !c.DNS.IsValid() {
		c.DNS = DefaultDNS
	}
	if !c.Guest.IsValid() {
		c.Guest = DefaultGuest
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.UDPIdle == 0 {
		c.UDPIdle = DefaultUDPIdle
	}
	if c.Dial == nil {
		d := &net.Dialer{Timeout: 30 * time.Second}
		c.Dial = d.DialContext
	}
	for _, a := range []netip.Addr{c.Gateway, c.DNS, c.Guest} {
		if !a.Is4() || !c.Prefix.Contains(a) {
			return c, fmt.Errorf("usernet: %v is not an IPv4 address in %v", a, c.Prefix)
		}
	}
	if c.MTU < 68 || c.MTU > 65535 {
		return c, fmt.Errorf("usernet: MTU %d: want 68 to 65535", c.MTU)
	}
	if c.Resolver == "" {
		c.Resolver = hostResolver("/etc/resolv.conf")
	}
	if _, _, err := net.SplitHostPort(c.Resolver); err != nil {
		c.Resolver = net.JoinHostPort(c.Resolver, "53")
	}
	if _, err := netip.ParseAddrPort(c.Resolver); err != nil {
		return c, fmt.Errorf("usernet: resolver %q: want ip or ip:port", c.Resolver)
	}
	return c, nil
}

// hostResolver returns the first nameserver of a resolv.conf file.
func hostResolver(file string) string {
	f, err := os.Open(file)
	if err != nil {
		return "127.0.0.1:53"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if a, err := netip.ParseAddr(fields[1]); err == nil {
				return netip.AddrPortFrom(a.WithZone(""), 53).String()
			}
		}
	}
	return "127.0.0.1:53"
}

// A Network is a running user network: a netstack on one end of a
// socketpair. Its methods are safe for concurrent use.
type Network struct {
	cfg    Config
	stack  *stack.Stack
	ctx    context.Context // ends when Close starts; cancels dials
	cancel context.CancelFunc
	link   *waitLink // on the fdbased endpoint on the socketpair's end

	mu       sync.Mutex
	closed   bool
	conns    map[net.Conn]struct{} // host-side connections, closed by Close
	forwards []*forward
	wg       sync.WaitGroup // NAT and forward goroutines
}

const nicID tcpip.NICID = 1

// New starts a user network on fd, one end of a socketpair(AF_UNIX,
// SOCK_DGRAM) whose other end is the guest's Ethernet device. The Network
// owns fd from then on (also when New fails) and closes it in Close.
func New(fd int, cfg Config) (*Network, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		host.Close(cfg.Host, fd)
		return nil, err
	}
	ep, err := fdbased.New(&fdbased.Options{
		FDs:            []int{fd},
		MTU:            uint32(cfg.MTU),
		EthernetHeader: true,
		Address:        tcpip.LinkAddress([]byte{0x52, 0x55, 0x0a, 0x00, 0x02, 0x02}),
		// Readv, not RecvMMsg: for RecvMMsg this gVisor version first
		// makes a readv dispatcher and then drops it without closing its
		// fds or stopping its goroutines (fdbased.createInboundDispatcher).
		PacketDispatchMode: fdbased.Readv,
		// One processor: packets are delivered on the dispatcher's
		// goroutine, no hand-off.
		ProcessorsPerChannel: 1,
		RXChecksumOffload:    cfg.ChecksumOffload,
		TXChecksumOffload:    cfg.ChecksumOffload,
	})
	if err != nil {
		host.Close(cfg.Host, fd)
		return nil, fmt.Errorf("usernet: link: %w", err)
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4},
	})
	n := &Network{cfg: cfg, stack: s, link: newWaitLink(cfg.Host, fd, ep), conns: map[net.Conn]struct{}{}}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.setup(n.link); err != nil {
		n.stop()
		return nil, err
	}
	return n, nil
}

// setup attaches the link and installs addresses, routes and forwarders.
func (n *Network) setup(ep stack.LinkEndpoint) error {
	s := n.stack
	// Handlers and options come first: the link delivers packets as soon
	// as the NIC exists.
	sack := tcpip.TCPSACKEnabled(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	buf := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4 << 10, Default: 1 << 20, Max: 8 << 20}
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &buf)
	sbuf := tcpip.TCPSendBufferSizeRangeOption{Min: 4 << 10, Default: 1 << 20, Max: 8 << 20}
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sbuf)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &moderate)
	tf := tcp.NewForwarder(s, 0, 1024, n.natTCP)
	s.SetTransportProtocolHandler(tcp.ProtocolNumber, tf.HandlePacket)
	uf := udp.NewForwarder(s, n.natUDP)
	s.SetTransportProtocolHandler(udp.ProtocolNumber, uf.HandlePacket)
	if e := s.CreateNIC(nicID, newPingLink(n, ep)); e != nil {
		return fmt.Errorf("usernet: create NIC: %s", e)
	}
	for _, a := range []netip.Addr{n.cfg.Gateway, n.cfg.DNS} {
		pa := tcpip.ProtocolAddress{
			Protocol: ipv4.ProtocolNumber,
			AddressWithPrefix: tcpip.AddressWithPrefix{
				Address:   tcpip.AddrFrom4(a.As4()),
				PrefixLen: n.cfg.Prefix.Bits(),
			},
		}
		if e := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); e != nil {
			return fmt.Errorf("usernet: address %v: %s", a, e)
		}
	}
	// Promiscuous mode and spoofing let the router accept packets for any
	// destination and answer from it: that is the NAT.
	if e := s.SetPromiscuousMode(nicID, true); e != nil {
		return fmt.Errorf("usernet: promiscuous mode: %s", e)
	}
	if e := s.SetSpoofing(nicID, true); e != nil {
		return fmt.Errorf("usernet: spoofing: %s", e)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: header4Any(), NIC: nicID}})
	return n.serveDHCP()
}

// header4Any is the IPv4 subnet that matches every address.
func header4Any() tcpip.Subnet {
	sn, _ := tcpip.NewSubnet(tcpip.AddrFrom4([4]byte{}), tcpip.MaskFromBytes([]byte{0, 0, 0, 0}))
	return sn
}

// Config returns the network's configuration with defaults filled in.
func (n *Network) Config() Config { return n.cfg }

// Close stops the port forwards, resets every connection and UDP flow,
// stops the netstack and closes the socketpair end. It waits for all of
// the Network's goroutines. A second Close returns net.ErrClosed.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return net.ErrClosed
	}
	n.closed = true
	n.cancel()
	fwds := n.forwards
	n.forwards = nil
	for c := range n.conns {
		c.Close()
	}
	n.mu.Unlock()
	var errs []error
	for _, f := range fwds {
		errs = append(errs, f.close())
	}
	n.stop()
	n.wg.Wait()
	return errors.Join(errs...)
}

// stop tears the netstack down.
func (n *Network) stop() { teardown(n.cfg.Host, n.stack, n.link) }

// teardown stops stack s, whose NIC nicID is on l, the fdbased link on
// l.fd: the writers waiting for room first, then the link's goroutines,
// the NIC, every endpoint, fd, and the link's stop eventfds (stopfd.go).
// Attach(nil) stops the dispatchers and waits for them. RemoveNIC would do the same, but it waits while
// holding the stack's lock, and a dispatcher in the middle of delivering a
// packet needs that lock (ipv4's HandlePacket looks up the NIC's name): a
// deadlock whenever frames arrive during Close. Stopped first, the link
// has no dispatcher left and RemoveNIC's detach returns at once.
func teardown(h host.Caller, s *stack.Stack, l *waitLink) {
	stops := stopFDs(l.child)
	l.stop()
	l.child.Attach(nil)
	s.RemoveNIC(nicID)
	s.Destroy()
	host.Close(h, l.fd)
	for _, sfd := range stops {
		host.Close(h, sfd)
	}
}

// track registers a host-side connection so Close can interrupt it; it
// reports false (and closes c) when the Network is already closed.
func (n *Network) track(c net.Conn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		c.Close()
		return false
	}
	n.conns[c] = struct{}{}
	n.wg.Add(1)
	return true
}

// enter counts a forwarder handler as running, so Close waits for it; it
// reports false once the Network is closed.
func (n *Network) enter() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	return true
}

// untrack undoes track once the connection's goroutines are done.
func (n *Network) untrack(c net.Conn) {
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
	n.wg.Done()
}

// allows reports whether the policy lets the guest reach a on network.
func (n *Network) allows(network string, a tcpip.Address, port uint16) bool {
	return n.cfg.Policy.Allows(network, netip.AddrPortFrom(netip.AddrFrom4(a.As4()), port))
}

// hostAddr maps a destination the guest asked for to the host address to
// dial: the gateway is the host's loopback, the DNS forwarder's port 53 is
// the resolver, anything else is itself.
func (n *Network) hostAddr(a tcpip.Address, port uint16) string {
	ip := netip.AddrFrom4(a.As4())
	switch {
	case ip == n.cfg.Gateway:
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case ip == n.cfg.DNS && port == 53:
		return n.cfg.Resolver
	case ip == n.cfg.DNS:
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return netip.AddrPortFrom(ip, port).String()
}
