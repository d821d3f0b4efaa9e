//go:build lkl

package unet_test

// unet over LKL's user network (issue 8): a name resolved by the unet
// resolver on LKL through the user network's DNS forwarder, a TCP
// connection by that name to a server on the host's loopback through the
// NAT, and a UDP round trip. LKL boots once per process, and these tests
// need a kernel with a user interface, so they run in a child process.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/gokernel/gokernel/internal/hostecho"
	"github.com/gokernel/gokernel/sys/lkl"
	"github.com/gokernel/gokernel/unet"
)

const userNetChildEnv = "GOKERNEL_UNET_TEST_USERNET"

func init() {
	if os.Getenv(userNetChildEnv) == "1" {
		// Run as the child, before TestMain boots a kernel of its own.
		if err := userNetChild(); err != nil {
			fmt.Fprintln(os.Stderr, "usernet child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func TestUserNetworkDialByName(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), userNetChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child:\n%s", out)
}

// userNetChild boots LKL with a user interface whose DNS forwarder points
// at a DNS server on the host's loopback that answers every A query with
// the gateway (10.0.2.2, which is the host's 127.0.0.1 to LKL), then dials
// the host's echo servers through unet on LKL, by name and by address.
func userNetChild() error {
	ignore := goleak.IgnoreCurrent()
	h := hostecho.New()
	defer h.Close()
	tcpEcho, err := h.TCP()
	if err != nil {
		return err
	}
	udpEcho, err := h.UDP(nil)
	if err != nil {
		return err
	}
	dns, err := h.UDP(answerGateway)
	if err != nil {
		return err
	}

	k, err := lkl.Boot(&lkl.Config{Interfaces: []lkl.Interface{{Type: "user", Resolver: dns.String()}}})
	if err != nil {
		return err
	}
	s, err := unet.New(k, unet.Options{})
	if err != nil {
		return errors.Join(err, k.Halt())
	}
	err = userNetChecks(s, tcpEcho.Port, udpEcho.Port)
	err = errors.Join(err, s.Close(), k.Halt())
	if err != nil {
		return err
	}
	h.Close()
	return goleak.Find(ignore)
}

func userNetChecks(s *unet.Stack, tcpPort, udpPort int) error {
	// By name: resolv.conf on LKL names 10.0.2.3, the forwarder.
	c, err := s.Dial("tcp", fmt.Sprintf("echo.gokernel.test:%d", tcpPort))
	if err != nil {
		return fmt.Errorf("dial by name: %w", err)
	}
	if got := c.RemoteAddr().String(); got != fmt.Sprintf("10.0.2.2:%d", tcpPort) {
		c.Close()
		return fmt.Errorf("dialed %s, want the gateway", got)
	}
	msg := bytes.Repeat([]byte("unet over LKL's user network "), 40_000) // ~1.1 MiB
	errc := make(chan error, 1)
	go func() { _, err := c.Write(msg); errc <- errors.Join(err, c.(*unet.TCPConn).CloseWrite()) }()
	c.SetDeadline(time.Now().Add(time.Minute))
	got, err := io.ReadAll(c)
	err = errors.Join(err, <-errc, c.Close())
	if err != nil {
		return fmt.Errorf("tcp echo: %w", err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("tcp echo: %d bytes back of %d, or different", len(got), len(msg))
	}
	// UDP, by address.
	u, err := s.Dial("udp", fmt.Sprintf("10.0.2.2:%d", udpPort))
	if err != nil {
		return fmt.Errorf("dial udp: %w", err)
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 64)
	for i := range 3 { // UDP may drop: the NAT's flow is made by the first datagram
		if _, err := u.Write([]byte("ping")); err != nil {
			return fmt.Errorf("udp write: %w", err)
		}
		u.SetReadDeadline(time.Now().Add(time.Duration(i+1) * 2 * time.Second))
		n, err := u.Read(buf)
		if err == nil {
			if string(buf[:n]) != "ping" {
				return fmt.Errorf("udp echo: %q", buf[:n])
			}
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("udp read: %w", err)
		}
	}
	return errors.New("udp echo: no answer in 3 tries")
}

// answerGateway answers an A query for a name under gokernel.test with
// 10.0.2.2, an AAAA query with no records, and anything else with NXDOMAIN.
func answerGateway(q []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 {
		return nil
	}
	h.Response, h.RecursionAvailable = true, true
	b := dnsmessage.NewBuilder(nil, h)
	b.EnableCompression()
	b.StartQuestions()
	b.Question(qs[0])
	b.StartAnswers()
	switch {
	case !strings.HasSuffix(qs[0].Name.String(), "gokernel.test."):
		h.RCode = dnsmessage.RCodeNameError
		b = dnsmessage.NewBuilder(nil, h)
		b.StartQuestions()
		b.Question(qs[0])
	case qs[0].Type == dnsmessage.TypeA:
		b.AResource(dnsmessage.ResourceHeader{Name: qs[0].Name, Class: dnsmessage.ClassINET, TTL: 60},
			dnsmessage.AResource{A: [4]byte{10, 0, 2, 2}})
	}
	r, err := b.Finish()
	if err != nil {
		return nil
	}
	return r
}
