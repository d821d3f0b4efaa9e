package unet_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

// zone is the test DNS server's data: name → addresses. Names under
// "big." answer over UDP with the TC bit and no records, so the resolver
// must ask again over TCP; "slow.test." is never answered.
var zone = map[string][]string{
	"a.test.":               {"10.0.0.1"},
	"two.test.":             {"10.0.0.2", "10.0.0.3", "fd00::2"},
	"big.test.":             {"10.0.0.4"},
	"short.search.test.":    {"10.0.0.5"},
	"dotted.name.":          {"10.0.0.6"},
	"dotted.name.s.test.":   {"10.9.9.9"},
	"x.dotted.name.":        {"10.0.0.7"},
	"x.dotted.name.s.test.": {"10.9.9.8"},
}

// dnsAnswer builds the response to query req; tcp says which transport.
func dnsAnswer(req []byte, tcp bool) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	name := q.Name.String()
	if name == "slow.test." {
		return nil, false
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true}
	addrs, ok := zone[name]
	if !ok {
		rh.RCode = dnsmessage.RCodeNameError
	}
	truncate := !tcp && name == "big.test."
	rh.Truncated = truncate
	b := dnsmessage.NewBuilder(nil, rh)
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	for _, a := range addrs {
		if truncate {
			break
		}
		ip := netip.MustParseAddr(a)
		rr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		switch {
		case ip.Is4() && q.Type == dnsmessage.TypeA:
			b.AResource(rr, dnsmessage.AResource{A: ip.As4()})
		case ip.Is6() && q.Type == dnsmessage.TypeAAAA:
			b.AAAAResource(rr, dnsmessage.AAAAResource{AAAA: ip.As16()})
		}
	}
	out, err := b.Finish()
	return out, err == nil
}

// startDNS serves zone on 127.0.0.1 of s's kernel, UDP and TCP on one
// port, until the test ends; it returns "127.0.0.1:port".
func startDNS(t *testing.T, s *unet.Stack) string {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	for range 20 { // the TCP port may be taken; try another
		var err error
		pc, err = s.ListenPacket("udp4", "127.0.0.1:0")
		require.NoError(t, err)
		ln, err = s.Listen("tcp4", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	require.NotNil(t, ln)
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp, ok := dnsAnswer(buf[:n], false); ok {
				pc.WriteTo(resp, from)
			}
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			var l [2]byte
			if _, err := io.ReadFull(c, l[:]); err == nil {
				req := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, req); err == nil {
					if resp, ok := dnsAnswer(req, true); ok {
						c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(resp))))
						c.Write(resp)
					}
				}
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { pc.Close(); ln.Close(); <-done; <-done })
	return pc.LocalAddr().String()
}

// writeFile writes a file on kernel k.
func writeFile(t *testing.T, k sys.Kernel, path, data string) {
	t.Helper()
	lc := libgo.New(k)
	fd, err := lc.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o644)
	require.NoError(t, err)
	_, err = lc.Write(fd, []byte(data))
	require.NoError(t, err)
	require.NoError(t, lc.Close(fd))
}

// TestResolver resolves names against a DNS server on the same kernel's
// 127.0.0.1, with hosts and resolv.conf files on that kernel.
func TestResolver(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, _ string) {
		s := newStack(t, k)
		server := startDNS(t, s)
		host, port, _ := net.SplitHostPort(server)
		dir := kerneltest.TempDir(t, k)
		writeFile(t, k, dir+"/hosts", "# comment\n10.1.1.1 fromhosts fh.alias\n::1 v6hosts\n")
		writeFile(t, k, dir+"/resolv.conf", "nameserver "+host+"\nsearch s.test search.test\noptions ndots:2 timeout:1 attempts:1\n")
		p, _ := strconv.Atoi(port)
		r := s.NewResolver(unet.ResolverConfig{
			HostsFile: dir + "/hosts", ResolvConf: dir + "/resolv.conf",
			Servers: []string{net.JoinHostPort(host, strconv.Itoa(p))}, // resolv.conf has no port syntax
			Timeout: 300 * time.Millisecond,
		})
		cases := []struct {
			name, network, host string
			want                []string
			notFound, timeout   bool
		}{
			{name: "literal", network: "ip", host: "192.0.2.1", want: []string{"192.0.2.1"}},
			{name: "hosts", network: "ip", host: "FH.alias", want: []string{"10.1.1.1"}},
			{name: "hosts-v6", network: "ip6", host: "v6hosts", want: []string{"::1"}},
			{name: "localhost", network: "ip4", host: "localhost", want: []string{"127.0.0.1"}},
			{name: "dns-a", network: "ip", host: "a.test", want: []string{"10.0.0.1"}},
			{name: "dns-a-and-aaaa", network: "ip", host: "two.test.", want: []string{"10.0.0.2", "10.0.0.3", "fd00::2"}},
			{name: "dns-ip6-only", network: "ip6", host: "two.test", want: []string{"fd00::2"}},
			{name: "truncated-then-tcp", network: "ip4", host: "big.test", want: []string{"10.0.0.4"}},
			{name: "search", network: "ip4", host: "short", want: []string{"10.0.0.5"}},
			{name: "ndots-search-first", network: "ip4", host: "dotted.name", want: []string{"10.9.9.9"}},
			{name: "ndots-absolute-first", network: "ip4", host: "x.dotted.name", want: []string{"10.0.0.7"}},
			{name: "nxdomain", network: "ip", host: "nope.test", notFound: true},
			{name: "timeout", network: "ip4", host: "slow.test.", timeout: true},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ips, err := r.LookupNetIP(context.Background(), tc.network, tc.host)
				if tc.notFound || tc.timeout {
					var de *net.DNSError
					require.True(t, errors.As(err, &de), "%v", err)
					require.Equal(t, tc.notFound, de.IsNotFound, "%v", err)
					require.Equal(t, tc.timeout, de.IsTimeout, "%v", err)
					return
				}
				require.NoError(t, err)
				var got []string
				for _, ip := range ips {
					got = append(got, ip.String())
				}
				require.Equal(t, tc.want, got)
			})
		}
		t.Run("dial-by-name", func(t *testing.T) {
			ds, err := unet.New(k, unet.Options{Resolver: &unet.ResolverConfig{HostsFile: dir + "/hosts2"}})
			require.NoError(t, err)
			defer ds.Close()
			writeFile(t, k, dir+"/hosts2", "127.0.0.1 myservice\n")
			ln, err := ds.Listen("tcp", "myservice:0")
			require.NoError(t, err)
			defer ln.Close()
			_, lport, _ := net.SplitHostPort(ln.Addr().String())
			c1, c2, err := connPair(t, ln, func() (net.Conn, error) { return ds.Dial("tcp", "myservice:"+lport) })
			require.NoError(t, err)
			c1.Close()
			c2.Close()
		})
	})
}
