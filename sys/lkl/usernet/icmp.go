package usernet

import (
	"context"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/gokernel/gokernel/sys/host"
)

// pingTimeout is how long a forwarded echo request waits for its reply.
const pingTimeout = 5 * time.Second

// pingLink sits between the link and the netstack and takes the guest's
// ICMP echo requests to addresses other than the router's: the netstack
// would drop them. Each is sent from a host ping socket
// (socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), allowed to root and to the
// groups in net.ipv4.ping_group_range), and the reply is written back to
// the guest from the address it pinged. Where the host refuses ping
// sockets the request goes unanswered, as if lost.
type pingLink struct {
	nested.Endpoint
	n *Network
}

func newPingLink(n *Network, child stack.LinkEndpoint) *pingLink {
	l := &pingLink{n: n}
	l.Init(child, l)
	return l
}

// DeliverNetworkPacket implements stack.NetworkDispatcher.
func (l *pingLink) DeliverNetworkPacket(protocol tcpip.NetworkProtocolNumber, pkt *stack.PacketBuffer) {
	if protocol == ipv4.ProtocolNumber && l.takeEcho(pkt) {
		return
	}
	l.Endpoint.DeliverNetworkPacket(protocol, pkt)
}

// takeEcho starts forwarding pkt if it is an echo request to an address
// that is not the router's, and reports whether it did.
func (l *pingLink) takeEcho(pkt *stack.PacketBuffer) bool {
	b := pkt.Data().AsRange().ToSlice()
	ip := header.IPv4(b)
	if len(b) < header.IPv4MinimumSize || !ip.IsValid(len(b)) ||
		ip.TransportProtocol() != header.ICMPv4ProtocolNumber || ip.More() || ip.FragmentOffset() != 0 {
		return false
	}
	dst, src := ip.DestinationAddress(), ip.SourceAddress()
	if dst == tcpip.AddrFrom4(l.n.cfg.Gateway.As4()) || dst == tcpip.AddrFrom4(l.n.cfg.DNS.As4()) {
		return false
	}
	msg := header.ICMPv4(ip.Payload())
	if len(msg) < header.ICMPv4MinimumSize || msg.Type() != header.ICMPv4Echo {
		return false
	}
	if !l.n.allows("icmp", dst, 0) {
		return true // dropped: as if lost
	}
	req := append([]byte(nil), msg...)
	if !l.n.enter() {
		return true
	}
	go func() {
		defer l.n.wg.Done()
		if reply := l.n.hostPing(dst, req); reply != nil {
			l.n.writeICMP(dst, src, reply)
		}
	}()
	return true
}

// hostPing sends the echo request req to dst from a host ICMP socket and
// returns the reply, with req's identifier, or nil.
func (n *Network) hostPing(dst tcpip.Address, req header.ICMPv4) header.ICMPv4 {
	c, to, err := pingSocket(n.cfg.Host, dst)
	if err != nil {
		return nil
	}
	defer c.Close()
	stop := context.AfterFunc(n.ctx, func() { c.Close() }) // Network.Close interrupts the wait
	defer stop()
	if _, err := c.WriteTo(req, to); err != nil {
		return nil
	}
	c.SetReadDeadline(time.Now().Add(pingTimeout))
	buf := make([]byte, 65536)
	for {
		k, from, err := c.ReadFrom(buf)
		if err != nil {
			return nil
		}
		reply := header.ICMPv4(buf[:k])
		// A ping socket's replies are its own; a raw socket sees every
		// ICMP message of the host, so the identifier must match too.
		if k < header.ICMPv4MinimumSize || reply.Type() != header.ICMPv4EchoReply || reply.Sequence() != req.Sequence() ||
			!sameIP(from, to) || (isRaw(to) && reply.Ident() != req.Ident()) {
			continue
		}
		reply.SetIdent(req.Ident())
		reply.SetChecksum(0)
		reply.SetChecksum(^checksum.Checksum(reply, 0))
		return reply
	}
}

// pingSocket opens a ping socket (socket(AF_INET, SOCK_DGRAM,
// IPPROTO_ICMP), for the groups in net.ipv4.ping_group_range), else a raw
// ICMP socket (CAP_NET_RAW), and returns it with dst as its address type.
// The ping socket is made through h; from then on it is an *os.File's,
// read and written by package net (the raw socket is net's from the
// start).
func pingSocket(h host.Caller, dst tcpip.Address) (net.PacketConn, net.Addr, error) {
	ip := net.IP(dst.AsSlice())
	fd, err := host.Socket(h, unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		c, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
		return c, &net.IPAddr{IP: ip}, err
	}
	f := os.NewFile(uintptr(fd), "ping")
	defer f.Close()
	c, err := net.FilePacketConn(f)
	return c, &net.UDPAddr{IP: ip}, err
}

func isRaw(a net.Addr) bool { _, ok := a.(*net.IPAddr); return ok }

// sameIP compares the IPs of two addresses of the kinds pingSocket uses.
func sameIP(a, b net.Addr) bool {
	ip := func(a net.Addr) net.IP {
		switch a := a.(type) {
		case *net.IPAddr:
			return a.IP
		case *net.UDPAddr:
			return a.IP
		}
		return nil
	}
	return ip(a).Equal(ip(b))
}

// writeICMP sends an ICMP message to the guest from address from.
func (n *Network) writeICMP(from, to tcpip.Address, msg []byte) {
	r, e := n.stack.FindRoute(nicID, from, to, ipv4.ProtocolNumber, false)
	if e != nil {
		return
	}
	defer r.Release()
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{
		ReserveHeaderBytes: int(r.MaxHeaderLength()),
		Payload:            buffer.MakeWithData(msg),
	})
	defer pkt.DecRef()
	r.WritePacket(stack.NetworkHeaderParams{Protocol: header.ICMPv4ProtocolNumber, TTL: 64}, pkt)
}
