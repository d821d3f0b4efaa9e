package usernet_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/gokernel/gokernel/sys/lkl/usernet"
)

// TestPing sends ICMP echo requests from the guest and reports which
// addresses answer.
func TestPing(t *testing.T) {
	_, g := start(t, usernet.Config{})
	// The guest cannot ping the host's 127.0.0.1 (its own stack would
	// not send that out), so the local echo goes to one of the host's own
	// addresses, which the host answers without sending anything out.
	self := hostAddr(t)
	tests := []struct {
		name, ip string
		answer   bool
	}{
		{"gateway", "10.0.2.2", true},
		{"dns", "10.0.2.3", true},
		// Other addresses are pinged from the host (a ping socket, or a raw
		// one for root). Only an address of the host's own: the tests send
		// nothing off the machine.
		{"host's own address", self, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ip == self && !hostMayPing() {
				t.Skip("the host allows neither ping sockets (net.ipv4.ping_group_range) nor raw sockets to this process")
			}
			if got := ping(t, g, tc.ip); got != tc.answer {
				t.Fatalf("ping %s answered: %v, want %v", tc.ip, got, tc.answer)
			}
		})
	}
}

// hostMayPing reports whether this process may open a ping or raw ICMP
// socket, as the forwarder does.
func hostMayPing() bool {
	for _, typ := range []int{unix.SOCK_DGRAM, unix.SOCK_RAW} {
		if fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP); err == nil {
			unix.Close(fd)
			return true
		}
	}
	return false
}

// hostAddr returns one of the host's non-loopback IPv4 addresses.
func hostAddr(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			return ipn.IP.String()
		}
	}
	t.Fatal("the host has no IPv4 address but loopback")
	return ""
}

// ping sends one echo request from the guest's stack and reports whether
// a reply came within two seconds.
func ping(t *testing.T, g *guest, ip string) bool {
	var wq waiter.Queue
	ep, e := g.s.NewEndpoint(icmp.ProtocolNumber4, ipv4.ProtocolNumber, &wq)
	if e != nil {
		t.Fatal(e)
	}
	defer ep.Close()
	entry, ready := waiter.NewChannelEntry(waiter.ReadableEvents)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)
	req := make([]byte, header.ICMPv4MinimumSize+4)
	copy(req[header.ICMPv4MinimumSize:], "gkpi")
	header.ICMPv4(req).SetType(header.ICMPv4Echo)
	to := g.addr(ip, 0)
	if _, e := ep.Write(bytes.NewReader(req), tcpip.WriteOptions{To: &to}); e != nil {
		t.Fatal(e)
	}
	deadline := time.After(2 * time.Second)
	for {
		var buf bytes.Buffer
		if _, e := ep.Read(&buf, tcpip.ReadOptions{}); e == nil {
			return header.ICMPv4(buf.Bytes()).Type() == header.ICMPv4EchoReply
		}
		select {
		case <-ready:
		case <-deadline:
			return false
		}
	}
}
