//go:build lkl

package lkl_test

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/lkl"
)

func init() {
	children["net-restrict"] = childNetRestrict
	children["net-allow"] = childNetAllow
}

// TestUserNetworkRestrict boots LKL on a user network with restrict "on":
// a connection to a host listener on 127.0.0.1 through 10.0.2.2 is reset,
// UDP out and DNS get no answer, and the port forwards into LKL still work.
func TestUserNetworkRestrict(t *testing.T) { child(t, "net-restrict") }

// TestUserNetworkAllow boots LKL on a restricted user network with an
// allow list naming one host listener: that one is reached, another
// listener on the same host address is not.
func TestUserNetworkAllow(t *testing.T) { child(t, "net-allow") }

func childNetRestrict() error {
	return runUserKernel(func(h *hostServers) lkl.Config {
		return lkl.Config{
			Interfaces: []lkl.Interface{{Type: "user", Resolver: h.dns.String(), Restrict: "on"}},
			Forward:    []string{"tcp:127.0.0.1:0:80", "udp:127.0.0.1:0:53"},
		}
	}, func(k *lkl.Kernel, h *hostServers) error {
		if err := refusedTCP(k, h.tcp.Port); err != nil {
			return err
		}
		if err := silentUDP(k, netip.AddrPortFrom(netip.MustParseAddr("10.0.2.2"), uint16(h.udp.Port))); err != nil {
			return fmt.Errorf("udp out: %w", err)
		}
		if err := silentUDP(k, netip.MustParseAddrPort("10.0.2.3:53")); err != nil {
			return fmt.Errorf("dns: %w", err)
		}
		if err := checkTCPForward(k, h); err != nil {
			return fmt.Errorf("tcp forward: %w", err)
		}
		if err := checkUDPForward(k, h); err != nil {
			return fmt.Errorf("udp forward: %w", err)
		}
		return nil
	})
}

func childNetAllow() error {
	var other int
	return runUserKernel(func(h *hostServers) lkl.Config {
		o, err := h.TCP()
		if err == nil {
			other = o.Port
		}
		return lkl.Config{Interfaces: []lkl.Interface{{Type: "user", Resolver: h.dns.String(),
			Allow: []string{fmt.Sprintf("tcp:10.0.2.2:%d", h.tcp.Port), "udp:10.0.2.3:53"}}}}
	}, func(k *lkl.Kernel, h *hostServers) error {
		if other == 0 {
			return errors.New("no second host listener")
		}
		if err := checkTCPOut(k, h); err != nil {
			return fmt.Errorf("allowed tcp: %w", err)
		}
		if err := checkDNS(k, h); err != nil {
			return fmt.Errorf("allowed dns: %w", err)
		}
		return refusedTCP(k, other)
	})
}

// refusedTCP checks that LKL's connect to the host's port through the
// gateway is refused.
func refusedTCP(k *lkl.Kernel, port int) error {
	addr := fmt.Sprintf("10.0.2.2:%d", port)
	s, err := socket(k, unix.SOCK_STREAM)
	if err != nil {
		return err
	}
	defer s.close()
	s.timeout(10 * time.Second)
	err = s.connect(addr)
	return check(errors.Is(err, unix.ECONNREFUSED), "connect to the host's 127.0.0.1:%d through 10.0.2.2: %v, want ECONNREFUSED", port, err)
}

// silentUDP checks that a datagram to addr gets no answer.
func silentUDP(k *lkl.Kernel, addr netip.AddrPort) error {
	s, err := socket(k, unix.SOCK_DGRAM)
	if err != nil {
		return err
	}
	defer s.close()
	s.timeout(500 * time.Millisecond)
	if err := s.sendto(dnsQuery("disk.example"), addr); err != nil {
		return fmt.Errorf("sendto: %w", err)
	}
	n, from, err := s.recvfrom(make([]byte, 512))
	return check(err != nil, "%d bytes came back from %v", n, from)
}
