package usernet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// A Forward is a port forward from the host into the guest, like QEMU's
// hostfwd: connections (or datagrams) arriving at Host reach GuestPort on
// the guest's address.
type Forward struct {
	Network   string // "tcp" or "udp"
	Host      string // host address to listen on, "127.0.0.1:8080"; port 0 picks one
	GuestPort uint16
}

// ParseForward parses "tcp:127.0.0.1:8080:80" (network, host address,
// guest port); the host address may be "[::1]:8080".
func ParseForward(s string) (Forward, error) {
	netw, rest, ok := strings.Cut(s, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i < 0 || (netw != "tcp" && netw != "udp") {
		return Forward{}, fmt.Errorf("usernet: forward %q: want tcp:HOSTIP:HOSTPORT:GUESTPORT or udp:...", s)
	}
	host, guest := rest[:i], rest[i+1:]
	port, err := strconv.ParseUint(guest, 10, 16)
	if err != nil || port == 0 {
		return Forward{}, fmt.Errorf("usernet: forward %q: guest port %q: want 1 to 65535", s, guest)
	}
	if _, err := netip.ParseAddrPort(host); err != nil {
		return Forward{}, fmt.Errorf("usernet: forward %q: host address %q: want ip:port", s, host)
	}
	return Forward{Network: netw, Host: host, GuestPort: uint16(port)}, nil
}

// String returns the form ParseForward reads.
func (f Forward) String() string {
	return fmt.Sprintf("%s:%s:%d", f.Network, f.Host, f.GuestPort)
}

// forward is a running port forward.
type forward struct {
	close func() error
}

// Forward starts a port forward and returns the host address it listens
// on (useful with port 0). It runs until the Network closes.
func (n *Network) Forward(f Forward) (net.Addr, error) {
	var (
		addr net.Addr
		fw   *forward
	)
	switch f.Network {
	case "tcp":
		l, err := net.Listen("tcp", f.Host)
		if err != nil {
			return nil, fmt.Errorf("usernet: forward %v: %w", f, err)
		}
		addr, fw = l.Addr(), n.forwardTCP(l, f.GuestPort)
	case "udp":
		pc, err := net.ListenPacket("udp", f.Host)
		if err != nil {
			return nil, fmt.Errorf("usernet: forward %v: %w", f, err)
		}
		addr, fw = pc.LocalAddr(), n.forwardUDP(pc.(*net.UDPConn), f.GuestPort)
	default:
		return nil, fmt.Errorf("usernet: forward %v: network %q: want tcp or udp", f, f.Network)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		fw.close()
		return nil, fmt.Errorf("usernet: forward %v: %w", f, net.ErrClosed)
	}
	n.forwards = append(n.forwards, fw)
	return addr, nil
}

// guestAddr is the guest's address and port as the netstack names it.
func (n *Network) guestAddr(port uint16) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFrom4(n.cfg.Guest.As4()), Port: port}
}

// forwardTCP accepts on l and splices each connection with a new one to
// the guest's port. A connection the guest refuses is reset on the host.
func (n *Network) forwardTCP(l net.Listener, port uint16) *forward {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				wq, ep, err := n.dialGuest(ctx, port)
				if err != nil {
					if tc, ok := c.(*net.TCPConn); ok {
						tc.SetLinger(0)
					}
					c.Close()
					return
				}
				n.splice(c, wq, ep)
			}()
		}
	}()
	return &forward{close: func() error {
		cancel()
		err := l.Close()
		wg.Wait()
		return err
	}}
}

// dialGuest connects a netstack endpoint to the guest's port.
func (n *Network) dialGuest(ctx context.Context, port uint16) (*waiter.Queue, tcpip.Endpoint, error) {
	wq := new(waiter.Queue)
	ep, e := n.stack.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, wq)
	if e != nil {
		return nil, nil, fmt.Errorf("usernet: endpoint: %s", e)
	}
	entry, ready := waiter.NewChannelEntry(waiter.WritableEvents)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)
	e = ep.Connect(n.guestAddr(port))
	if _, started := e.(*tcpip.ErrConnectStarted); started {
		select {
		case <-ctx.Done():
			ep.Close()
			return nil, nil, ctx.Err()
		case <-ready:
		}
		e = ep.LastError()
	}
	if e != nil {
		ep.Close()
		return nil, nil, fmt.Errorf("usernet: connect to guest port %d: %s", port, e)
	}
	return wq, ep, nil
}

// forwardUDP relays datagrams arriving at pc to the guest's port, one
// netstack socket per host peer, and the guest's answers back to that
// peer. A peer's flow ends after Config.UDPIdle without an answer from the
// guest (the peer's next datagram starts a new one).
func (n *Network) forwardUDP(pc *net.UDPConn, port uint16) *forward {
	var (
		mu    sync.Mutex
		flows = map[netip.AddrPort]*gonet.UDPConn{}
		wg    sync.WaitGroup
	)
	raddr := n.guestAddr(port)
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			m, peer, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				break
			}
			mu.Lock()
			g := flows[peer]
			if g == nil {
				g, err = gonet.DialUDP(n.stack, nil, &raddr, ipv4.ProtocolNumber)
				if err != nil {
					mu.Unlock()
					continue
				}
				flows[peer] = g
				wg.Add(1)
				go func() {
					defer wg.Done()
					b := make([]byte, 65536)
					for {
						g.SetReadDeadline(time.Now().Add(n.cfg.UDPIdle))
						k, err := g.Read(b)
						if err != nil {
							break
						}
						pc.WriteToUDPAddrPort(b[:k], peer)
					}
					mu.Lock()
					delete(flows, peer)
					mu.Unlock()
					g.Close()
				}()
			}
			mu.Unlock()
			g.Write(buf[:m])
		}
		mu.Lock()
		for _, g := range flows {
			g.Close()
		}
		mu.Unlock()
	}()
	return &forward{close: func() error {
		err := pc.Close()
		wg.Wait()
		return err
	}}
}
