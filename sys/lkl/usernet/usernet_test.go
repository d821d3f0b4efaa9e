package usernet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gokernel/gokernel/internal/hostecho"
	"github.com/gokernel/gokernel/sys/lkl/usernet"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// TestMain fails on goroutines or host fds left behind by the tests.
func TestMain(m *testing.M) {
	// The runtime's poller fds open on first use; open them now.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	before := openFDs()
	code := m.Run()
	if after := openFDs(); code == 0 && after != before {
		entries, _ := os.ReadDir("/proc/self/fd")
		var links []string
		for _, e := range entries {
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			links = append(links, e.Name()+"="+l)
		}
		fmt.Fprintf(os.Stderr, "host fds: %d before the tests, %d after: %v\n", before, after, links)
		code = 1
	}
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func openFDs() int {
	entries, _ := os.ReadDir("/proc/self/fd")
	return len(entries)
}

// guest is a second netstack standing in for LKL on the other end of the
// socketpair, addressed as QEMU's guest. Its link waits for room in the
// socketpair, as LKL's does, instead of dropping frames.
type guest struct {
	s    *stack.Stack
	link *usernet.Link
}

func (g *guest) close() { usernet.Teardown(g.s, g.link) }

func (g *guest) addr(ip string, port uint16) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(netip.MustParseAddr(ip).As4()), Port: port}
}

// start makes a socketpair, a Network on one end and a guest on the other.
func start(t *testing.T, cfg usernet.Config) (*usernet.Network, *guest) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	n, err := usernet.New(fds[1], cfg)
	if err != nil {
		unix.Close(fds[0])
		t.Fatal(err)
	}
	ep, err := fdbased.New(&fdbased.Options{FDs: []int{fds[0]}, MTU: 1500, EthernetHeader: true,
		Address: tcpip.LinkAddress([]byte{0x52, 0x54, 0, 0x12, 0x34, 0x56})})
	if err != nil {
		t.Fatal(err)
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4},
	})
	g := &guest{s: s, link: usernet.NewLink(fds[0], ep)}
	if e := s.CreateNIC(1, g.link); e != nil {
		t.Fatal(e)
	}
	s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddrFrom4([4]byte{10, 0, 2, 15}).WithPrefix()}, stack.AddressProperties{})
	sn, _ := tcpip.NewSubnet(tcpip.AddrFrom4([4]byte{}), tcpip.MaskFromBytes([]byte{0, 0, 0, 0}))
	s.SetRouteTable([]tcpip.Route{{Destination: sn, Gateway: tcpip.AddrFrom4([4]byte{10, 0, 2, 2}), NIC: 1}})
	t.Cleanup(func() {
		n.Close()
		g.close()
	})
	return n, g
}

// hostServers returns a set of servers closed when the test ends.
func hostServers(t *testing.T) *hostecho.Servers {
	s := hostecho.New()
	t.Cleanup(s.Close)
	return s
}

// echoTCP serves TCP echo on host loopback until the test ends.
func echoTCP(t *testing.T) *net.TCPAddr {
	a, err := hostServers(t).TCP()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// serveEcho echoes every connection accepted on l until the test ends.
func serveEcho(t *testing.T, l net.Listener) { hostServers(t).Echo(l) }

// echoUDP serves UDP echo on host loopback, prefixing each answer.
func echoUDP(t *testing.T, prefix string) *net.UDPAddr {
	a, err := hostServers(t).UDP(func(b []byte) []byte { return append([]byte(prefix), b...) })
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// roundTrip writes msg, half-closes and expects msg back, then EOF.
func roundTrip(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		c.Write(msg)
		c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: got %d bytes (err %v), want %d; goroutines:\n%s", len(got), err, len(msg), allStacks())
	}
}

// allStacks returns every goroutine's stack, to show where a stalled
// transfer waits.
func allStacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

func TestNAT(t *testing.T) {
	tcpEcho := echoTCP(t)
	udpEcho := echoUDP(t, "udp:")
	dnsEcho := echoUDP(t, "dns:")
	_, g := start(t, usernet.Config{Resolver: dnsEcho.String()})
	msg := bytes.Repeat([]byte("gokernel"), 1<<16)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("tcp via gateway", func(t *testing.T) {
		c, err := gonet.DialContextTCP(ctx, g.s, g.addr("10.0.2.2", uint16(tcpEcho.Port)), ipv4.ProtocolNumber)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		roundTrip(t, c, msg)
	})
	t.Run("tcp refused", func(t *testing.T) {
		_, err := gonet.DialContextTCP(ctx, g.s, g.addr("10.0.2.2", 1), ipv4.ProtocolNumber)
		if err == nil {
			t.Fatal("connect to a closed host port succeeded")
		}
	})
	udpCases := []struct {
		name, ip string
		port     uint16
		want     string
	}{
		{"udp via gateway", "10.0.2.2", uint16(udpEcho.Port), "udp:ping"},
		{"dns forwarder", "10.0.2.3", 53, "dns:ping"},
	}
	for _, tc := range udpCases {
		t.Run(tc.name, func(t *testing.T) {
			raddr := g.addr(tc.ip, tc.port)
			c, err := gonet.DialUDP(g.s, nil, &raddr, ipv4.ProtocolNumber)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 100)
			n, err := c.Read(buf)
			if err != nil || string(buf[:n]) != tc.want {
				t.Fatalf("got %q, %v; want %q", buf[:n], err, tc.want)
			}
		})
	}
}

func TestForward(t *testing.T) {
	n, g := start(t, usernet.Config{})
	l, err := gonet.ListenTCP(g.s, g.addr("10.0.2.15", 80), ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, l)
	c, err := dialForward(t, n, "tcp", 80)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, bytes.Repeat([]byte("forward!"), 1<<15))

	// Nobody listens on guest port 81: the host connection is reset,
	// which the client may already see in Dial.
	c2, err := dialForward(t, n, "tcp", 81)
	if err != nil {
		return
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Fatal("read from a forward to a closed guest port succeeded")
	}
}

// dialForward starts a forward from a free host port to the guest's port
// and dials it.
func dialForward(t *testing.T, n *usernet.Network, network string, port uint16) (net.Conn, error) {
	t.Helper()
	addr, err := n.Forward(usernet.Forward{Network: network, Host: "127.0.0.1:0", GuestPort: port})
	if err != nil {
		t.Fatal(err)
	}
	return net.Dial(network, addr.String())
}

func TestForwardUDP(t *testing.T) {
	n, g := start(t, usernet.Config{})
	pc, err := gonet.DialUDP(g.s, &tcpip.FullAddress{NIC: 1, Port: 53}, nil, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 100)
		for {
			k, a, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("guest:"), buf[:k]...), a)
		}
	}()
	c, err := dialForward(t, n, "udp", 53)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("hi"))
	buf := make([]byte, 100)
	k, err := c.Read(buf)
	if err != nil || string(buf[:k]) != "guest:hi" {
		t.Fatalf("got %q, %v", buf[:k], err)
	}
}

// TestCloseWithOpenConnections closes the Network under an open NATed
// connection: the guest's end is reset, Close returns after every
// goroutine is done (TestMain checks for leaks), and a second Close says
// so.
func TestCloseWithOpenConnections(t *testing.T) {
	tcpEcho := echoTCP(t)
	n, g := start(t, usernet.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, g.s, g.addr("10.0.2.2", uint16(tcpEcho.Port)), ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after the network closed succeeded")
	}
	if err := n.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v, want net.ErrClosed", err)
	}
}

// TestCloseUnderTraffic closes the Network while the guest keeps sending
// to it, many times over: a frame in delivery while the NIC is removed
// must not deadlock Close (gVisor's RemoveNIC waits for the link's
// goroutines while holding the lock they need; see teardown).
func TestCloseUnderTraffic(t *testing.T) {
	udpEcho := echoUDP(t, "")
	for i := range 50 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			n, g := start(t, usernet.Config{})
			raddr := g.addr("10.0.2.2", uint16(udpEcho.Port))
			c, err := gonet.DialUDP(g.s, nil, &raddr, ipv4.ProtocolNumber)
			if err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			done := make(chan struct{})
			var sent atomic.Int64
			go func() {
				defer close(done)
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := c.Write([]byte("flood")); err == nil {
						sent.Add(1)
					}
				}
			}()
			// Frames are in flight when Close starts.
			for deadline := time.Now().Add(10 * time.Second); sent.Load() < 20; runtime.Gosched() {
				if time.Now().After(deadline) {
					close(stop)
					c.Close()
					<-done
					t.Fatalf("the guest sent %d datagrams in 10 s", sent.Load())
				}
			}
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			close(stop)
			c.Close() // the guest's write may block once the network is gone
			<-done
		})
	}
}

// noSplice hides a *net.TCPConn's ReadFrom: io.Copy between two TCP conns
// would splice(2) through a pooled pipe pair, which stays open after the
// test and reads as an fd leak.
type noSplice struct{ io.Writer }

// TestForwardBackpressure writes into a forward whose guest never reads:
// the host's writes stall after a bounded amount (the guest's window, the
// netstack's send buffer, one splice buffer, the host's socket buffers)
// instead of the forward buffering everything.
func TestForwardBackpressure(t *testing.T) {
	n, g := start(t, usernet.Config{})
	l, err := gonet.ListenTCP(g.s, g.addr("10.0.2.15", 80), ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	t.Cleanup(func() {
		l.Close()
		if c := <-accepted; c != nil {
			c.Close()
		}
	})
	c, err := dialForward(t, n, "tcp", 80)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const limit = 64 << 20
	buf := make([]byte, 1<<20)
	written := 0
	for written < limit {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		k, err := c.Write(buf)
		written += k
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return // stalled: backpressure reached the host
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("wrote %d bytes into a guest that never reads without stalling", written)
}

// closeSignal is a host connection that reports its Close.
type closeSignal struct {
	net.Conn
	closed chan struct{}
	once   sync.Once
}

func (c *closeSignal) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// TestUDPIdle checks that a UDP flow's host socket closes once the flow has
// been idle for Config.UDPIdle.
func TestUDPIdle(t *testing.T) {
	udpEcho := echoUDP(t, "")
	flows := make(chan *closeSignal, 1)
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		cs := &closeSignal{Conn: c, closed: make(chan struct{})}
		flows <- cs
		return cs, nil
	}
	_, g := start(t, usernet.Config{UDPIdle: 200 * time.Millisecond, Dial: dial})
	raddr := g.addr("10.0.2.2", uint16(udpEcho.Port))
	c, err := gonet.DialUDP(g.s, nil, &raddr, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("once"))
	if _, err := c.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-(<-flows).closed:
	case <-time.After(10 * time.Second):
		t.Fatal("an idle UDP flow kept its host socket")
	}
}
