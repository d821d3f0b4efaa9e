package usernet_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/gokernel/gokernel/sys/lkl/usernet"
)

// TestPolicy checks the allow-list parser and the matcher.
func TestPolicy(t *testing.T) {
	for _, s := range []string{"tcp:10.0.2.2:8080", "udp:10.0.2.3:53", "tcp:192.0.2.0/24:443", "tcp:10.0.2.2:*"} {
		r, err := usernet.ParseRule(s)
		if err != nil {
			t.Fatalf("ParseRule(%q): %v", s, err)
		}
		if r.String() != s {
			t.Errorf("ParseRule(%q).String() = %q", s, r)
		}
	}
	for _, s := range []string{"", "tcp", "tcp:10.0.2.2", "icmp:10.0.2.2:1", "tcp:10.0.2.2:0", "tcp:10.0.2.2:70000",
		"tcp:host:80", "tcp:::1:80", "tcp:10.0.2.0/33:80", "udp:10.0.2.3:x"} {
		if _, err := usernet.ParseRule(s); err == nil || !strings.Contains(err.Error(), "allow") {
			t.Errorf("ParseRule(%q) = %v, want an error naming allow", s, err)
		}
	}
	rule := func(s string) usernet.Rule {
		r, err := usernet.ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	p := usernet.Policy{Restrict: true, Allow: []usernet.Rule{rule("tcp:10.0.2.2:8080"), rule("udp:10.0.2.3:53"), rule("tcp:192.0.2.0/24:*")}}
	for _, tc := range []struct {
		network, dst string
		want         bool
	}{
		{"tcp", "10.0.2.2:8080", true},
		{"tcp", "10.0.2.2:8081", false},
		{"udp", "10.0.2.2:8080", false},
		{"udp", "10.0.2.3:53", true},
		{"tcp", "10.0.2.3:53", false},
		{"tcp", "192.0.2.200:1", true},
		{"tcp", "192.0.3.1:1", false},
		{"icmp", "10.0.2.2:0", false},
	} {
		dst := netip.MustParseAddrPort(tc.dst)
		if got := p.Allows(tc.network, dst); got != tc.want {
			t.Errorf("restricted Allows(%s, %s) = %v, want %v", tc.network, dst, got, tc.want)
		}
		if !(usernet.Policy{}).Allows(tc.network, dst) {
			t.Errorf("the zero Policy refuses %s %s", tc.network, dst)
		}
	}
	if (usernet.Policy{Restrict: true}).Allows("tcp", netip.MustParseAddrPort("10.0.2.2:80")) {
		t.Error("restrict with no allow list lets a connection out")
	}
}

// TestRestrict runs a restricted network with one allowed TCP destination:
// the guest reaches it, cannot reach another host listener through the
// gateway nor the DNS forwarder (the host never sees a dial), and a port
// forward into the guest still works.
func TestRestrict(t *testing.T) {
	allowed, other := echoTCP(t), echoTCP(t)
	dnsEcho := echoUDP(t, "dns:")
	var (
		mu     sync.Mutex
		dialed []string
	)
	cfg := usernet.Config{Resolver: dnsEcho.String(), Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, network+" "+address)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}}
	cfg.Policy.Restrict = true
	r, err := usernet.ParseRule("tcp:10.0.2.2:" + strconv.Itoa(allowed.Port))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Policy.Allow = []usernet.Rule{r}
	n, g := start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, err := gonet.DialContextTCP(ctx, g.s, g.addr("10.0.2.2", uint16(allowed.Port)), ipv4.ProtocolNumber)
	if err != nil {
		t.Fatalf("allowed destination: %v", err)
	}
	roundTrip(t, c, []byte("allowed"))
	c.Close()

	if _, err := gonet.DialContextTCP(ctx, g.s, g.addr("10.0.2.2", uint16(other.Port)), ipv4.ProtocolNumber); err == nil {
		t.Fatal("a restricted guest connected to a host listener on 127.0.0.1 through 10.0.2.2")
	}
	raddr := g.addr("10.0.2.3", 53)
	u, err := gonet.DialUDP(g.s, nil, &raddr, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(300 * time.Millisecond))
	u.Write([]byte("ping"))
	if k, err := u.Read(make([]byte, 100)); err == nil {
		t.Fatalf("a restricted guest's DNS query got an answer (%d bytes)", k)
	}
	mu.Lock()
	got := strings.Join(dialed, ", ")
	mu.Unlock()
	if want := "tcp " + allowed.String(); got != want {
		t.Errorf("the host dialed %q, want only %q", got, want)
	}

	l, err := gonet.ListenTCP(g.s, g.addr("10.0.2.15", 80), ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, l)
	fc, err := dialForward(t, n, "tcp", 80)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	roundTrip(t, fc, bytes.Repeat([]byte("forward!"), 1<<12))
}
