//go:build lkl

package lkl_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/hostecho"
	"github.com/gokernel/gokernel/sys/lkl"
	"github.com/gokernel/gokernel/sys/lkl/usernet"
)

func usernetForward(port uint16) usernet.Forward {
	return usernet.Forward{Network: "tcp", Host: "127.0.0.1:0", GuestPort: port}
}

func init() {
	children["net-dhcp"] = childNetDHCP
	children["net-user"] = childNetUser
	children["net-peer-closed"] = childNetPeerClosed
}

// TestUserNetwork boots LKL on a user network in a child: TCP and UDP out
// through the NAT to servers on the host's loopback, a DNS query through
// the forwarder, TCP and UDP port forwards in, a reset from the host, and
// a halt with connections open, with no goroutine or fd left behind.
func TestUserNetwork(t *testing.T) { child(t, "net-user") }

// TestUserNetworkPeerClosed closes the netstack end of the socketpair under
// a running LKL: LKL's connections fail, and halt still cleans up.
func TestUserNetworkPeerClosed(t *testing.T) { child(t, "net-peer-closed") }

// hostServers are the servers a child runs on the host's loopback.
type hostServers struct {
	*hostecho.Servers
	tcp      *net.TCPAddr
	udp, dns *net.UDPAddr
}

// startHostServers starts a TCP echo server, a UDP echo server and a DNS
// server that answers every A query with 192.0.2.7.
func startHostServers() (*hostServers, error) {
	h := &hostServers{Servers: hostecho.New()}
	var err error
	h.tcp, err = h.TCP()
	if err == nil {
		h.udp, err = h.UDP(nil)
	}
	if err == nil {
		h.dns, err = h.UDP(dnsAnswer)
	}
	if err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// dnsQuery is an A query for name with id 0x1234.
func dnsQuery(name string) []byte {
	q := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, label := range bytes.Split([]byte(name), []byte(".")) {
		q = append(append(q, byte(len(label))), label...)
	}
	return append(q, 0, 0, 1, 0, 1)
}

// dnsAnswer answers a query (as dnsQuery makes them) with 192.0.2.7.
func dnsAnswer(q []byte) []byte {
	a := append([]byte(nil), q...)
	a[2], a[3] = 0x81, 0x80                                // response, recursion available
	a[7] = 1                                               // one answer
	a = append(a, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4) // name at 12, A, IN, ttl 60, 4 bytes
	return append(a, 192, 0, 2, 7)
}

// netChildStart warms up the runtime's own fds and returns the count.
func netChildStart() int {
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	return openFDs()
}

// netChildEnd checks that nothing outlived the kernel and the servers.
func netChildEnd(fdsBefore int) error {
	var err error
	for range 50 { // closed connections finish on their own goroutines
		if err = goleak.Find(); err == nil && openFDs() == fdsBefore {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := openFDs(); n != fdsBefore {
		var links []string
		entries, _ := os.ReadDir("/proc/self/fd")
		for _, e := range entries {
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			links = append(links, e.Name()+"="+l)
		}
		return fmt.Errorf("host fds: %d before boot, %d after halt: %v", fdsBefore, n, links)
	}
	return err
}

func childNetUser() error {
	return runUserKernel(func(h *hostServers) lkl.Config {
		return lkl.Config{
			Interfaces: []lkl.Interface{{Type: "user", Resolver: h.dns.String()}},
			Forward:    []string{"tcp:127.0.0.1:0:80", "udp:127.0.0.1:0:53"},
		}
	}, userNetworkChecks)
}

// runUserKernel starts the host servers, boots LKL as config says, runs
// check, halts, and checks that nothing outlived the kernel.
func runUserKernel(config func(*hostServers) lkl.Config, check func(*lkl.Kernel, *hostServers) error) error {
	fds := netChildStart()
	h, err := startHostServers()
	if err != nil {
		return err
	}
	cfg := config(h)
	k, err := lkl.Boot(&cfg)
	if err != nil {
		h.Close()
		return err
	}
	err = check(k, h)
	if herr := k.Halt(); herr != nil {
		err = errors.Join(err, herr)
	}
	h.Close()
	if err != nil {
		return err
	}
	return netChildEnd(fds)
}

// userNetworkChecks runs the user network's checks in order; the last one
// leaves connections open for the halt.
func userNetworkChecks(k *lkl.Kernel, h *hostServers) error {
	checks := []struct {
		name string
		run  func(*lkl.Kernel, *hostServers) error
	}{
		{"resolv.conf", func(k *lkl.Kernel, _ *hostServers) error {
			got, err := readString(k, "/etc/resolv.conf")
			return errors.Join(err, check(got == "nameserver 10.0.2.3\n", "resolv.conf = %q", got))
		}},
		{"tcp out", checkTCPOut},
		{"udp out", checkUDPOut},
		{"dns", checkDNS},
		{"ping", checkPing},
		{"tcp forward", checkTCPForward},
		{"udp forward", checkUDPForward},
		{"host reset", checkHostReset},
		{"open at halt", openAtHalt},
	}
	for _, c := range checks {
		if err := c.run(k, h); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return nil
}

// echo writes msg to c, half-closes it and checks that msg comes back.
func echo(c io.ReadWriter, closeWrite func() error, msg []byte) error {
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		werr <- errors.Join(err, closeWrite())
	}()
	got, err := io.ReadAll(c)
	if err := errors.Join(err, <-werr); err != nil {
		return err
	}
	return check(bytes.Equal(got, msg), "echo: got %d bytes, want %d (or different bytes)", len(got), len(msg))
}

func payload() []byte { return bytes.Repeat([]byte("gokernel user network "), 50_000) }

func checkTCPOut(k *lkl.Kernel, h *hostServers) error {
	port := h.tcp.Port
	s, err := dial(k, unix.SOCK_STREAM, fmt.Sprintf("10.0.2.2:%d", port))
	if err != nil {
		return err
	}
	defer s.close()
	s.timeout(10 * time.Second)
	return echo(s, s.closeWrite, payload())
}

func udpRoundTrip(k *lkl.Kernel, to netip.AddrPort, msg []byte) ([]byte, error) {
	s, err := socket(k, unix.SOCK_DGRAM)
	if err != nil {
		return nil, err
	}
	defer s.close()
	s.timeout(10 * time.Second)
	if err := s.sendto(msg, to); err != nil {
		return nil, fmt.Errorf("sendto: %w", err)
	}
	buf := make([]byte, 2048)
	n, from, err := s.recvfrom(buf)
	if err != nil {
		return nil, fmt.Errorf("recvfrom: %w", err)
	}
	return buf[:n], check(from == to, "answer from %v, want %v", from, to)
}

func checkUDPOut(k *lkl.Kernel, h *hostServers) error {
	to := netip.AddrPortFrom(netip.MustParseAddr("10.0.2.2"), uint16(h.udp.Port))
	got, err := udpRoundTrip(k, to, []byte("ping"))
	return errors.Join(err, check(string(got) == "ping", "got %q", got))
}

func checkDNS(k *lkl.Kernel, _ *hostServers) error {
	got, err := udpRoundTrip(k, netip.MustParseAddrPort("10.0.2.3:53"), dnsQuery("disk.example"))
	if err != nil {
		return err
	}
	return check(len(got) > 4 && bytes.Equal(got[len(got)-4:], []byte{192, 0, 2, 7}) &&
		binary.BigEndian.Uint16(got[6:]) == 1, "answer % x", got)
}

// checkPing pings the gateway from a raw ICMP socket in LKL.
func checkPing(k *lkl.Kernel, _ *hostServers) error {
	fd, err := kcall(k, unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	s := &ksock{k: k, fd: fd}
	defer s.close()
	s.timeout(10 * time.Second)
	req := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1, 'g', 'k'}
	binary.BigEndian.PutUint16(req[2:], inetChecksum(req))
	gw := netip.MustParseAddrPort("10.0.2.2:0")
	if err := s.sendto(req, gw); err != nil {
		return fmt.Errorf("sendto: %w", err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := s.recvfrom(buf)
		if err != nil {
			return fmt.Errorf("recvfrom: %w", err)
		}
		// A raw socket returns the IP header too.
		if ihl := int(buf[0]&0xf) * 4; from.Addr() == gw.Addr() && n >= ihl+8 && buf[ihl] == 0 {
			return nil
		}
	}
}

// serveLKL accepts one connection on l (in LKL) and hands it to serve.
func serveLKL(l *ksock, serve func(c *ksock)) {
	go func() {
		c, err := l.accept()
		if err != nil {
			return
		}
		serve(c)
	}()
}

func checkTCPForward(k *lkl.Kernel, _ *hostServers) error {
	l, err := listen(k, unix.SOCK_STREAM, 80)
	if err != nil {
		return err
	}
	defer l.close()
	serveLKL(l, func(c *ksock) {
		defer c.close()
		io.Copy(c, c)
		c.closeWrite()
	})
	c, err := net.Dial("tcp", k.Forwards()[0].String())
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return echo(c, c.(*net.TCPConn).CloseWrite, payload())
}

func checkUDPForward(k *lkl.Kernel, _ *hostServers) error {
	s, err := listen(k, unix.SOCK_DGRAM, 53)
	if err != nil {
		return err
	}
	defer s.close()
	go func() {
		buf := make([]byte, 100)
		n, from, err := s.recvfrom(buf)
		if err == nil {
			s.sendto(append([]byte("lkl:"), buf[:n]...), from)
		}
	}()
	c, err := net.Dial("udp", k.Forwards()[1].String())
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("hello"))
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	return errors.Join(err, check(string(buf[:n]) == "lkl:hello", "got %q", buf[:n]))
}

// checkHostReset resets a forwarded connection on the host side; LKL's
// end reads ECONNRESET.
func checkHostReset(k *lkl.Kernel, _ *hostServers) error {
	l, err := listen(k, unix.SOCK_STREAM, 81)
	if err != nil {
		return err
	}
	defer l.close()
	addr, err := k.Forward(usernetForward(81))
	if err != nil {
		return err
	}
	got := make(chan error, 1)
	serveLKL(l, func(c *ksock) {
		defer c.close()
		c.timeout(10 * time.Second)
		_, err := io.ReadAll(c)
		got <- err
	})
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		return err
	}
	c.Write([]byte("some data"))
	time.Sleep(100 * time.Millisecond) // let LKL accept before the reset
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	select {
	case err := <-got:
		return check(errors.Is(err, unix.ECONNRESET), "LKL read %v, want ECONNRESET", err)
	case <-time.After(10 * time.Second):
		return errors.New("LKL's end never saw the reset")
	}
}

// openAtHalt leaves an outbound and a forwarded connection open; the
// child then halts.
func openAtHalt(k *lkl.Kernel, h *hostServers) error {
	out, err := dial(k, unix.SOCK_STREAM, fmt.Sprintf("10.0.2.2:%d", h.tcp.Port))
	if err != nil {
		return err
	}
	_ = out // closed by the halt
	l, err := listen(k, unix.SOCK_STREAM, 82)
	if err != nil {
		return err
	}
	addr, err := k.Forward(usernetForward(82))
	if err != nil {
		return err
	}
	serveLKL(l, func(c *ksock) { io.Copy(io.Discard, c) })
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		return err
	}
	go func() { // ends when the halt resets the connection
		defer c.Close()
		io.Copy(io.Discard, c)
	}()
	_, err = c.Write([]byte("still open"))
	return err
}

func childNetPeerClosed() error {
	fds := netChildStart()
	h, err := startHostServers()
	if err != nil {
		return err
	}
	defer h.Close()
	k, err := lkl.Boot(&lkl.Config{Interfaces: []lkl.Interface{{Type: "user"}}})
	if err != nil {
		return err
	}
	if err := k.UserNetwork().Close(); err != nil {
		k.Halt()
		return fmt.Errorf("closing the user network: %w", err)
	}
	s, err := socket(k, unix.SOCK_STREAM)
	if err != nil {
		k.Halt()
		return err
	}
	s.timeout(time.Second)
	cerr := s.connect(fmt.Sprintf("10.0.2.2:%d", h.tcp.Port))
	s.close()
	if err := k.Halt(); err != nil {
		return fmt.Errorf("halt: %w", err)
	}
	if cerr == nil {
		return errors.New("connect through a closed user network succeeded")
	}
	h.Close()
	return netChildEnd(fds)
}

// TestNetConfigRefused checks the interface settings Boot refuses, in a
// child (a refused Boot leaves the process free to boot again).
func TestNetConfigRefused(t *testing.T) { child(t, "net-refused") }

func init() { children["net-refused"] = childNetRefused }

func childNetRefused() error {
	fds := netChildStart()
	tests := []struct {
		name string
		cfg  lkl.Config
		want string
	}{
		{"qdisc", lkl.Config{Interfaces: []lkl.Interface{{Type: "user", Qdisc: "root|fq"}}}, "no qdisc support"},
	}
	for _, tc := range tests {
		_, err := lkl.Boot(&tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			return fmt.Errorf("%s: Boot = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	return netChildEnd(fds)
}

// TestUserNetworkDHCP boots with ip=dhcp: the kernel gets its address and
// default route from the user network's DHCP server while it boots.
func TestUserNetworkDHCP(t *testing.T) { child(t, "net-dhcp") }

func childNetDHCP() error {
	return runUserKernel(func(*hostServers) lkl.Config {
		return lkl.Config{BootCmdline: "ip=dhcp", Interfaces: []lkl.Interface{{Type: "user"}}}
	}, checkTCPOut)
}
