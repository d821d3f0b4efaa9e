package unet

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// errNoSuchHost and friends are the Err strings of *net.DNSError, as net
// spells them.
const (
	errNoSuchHost   = "no such host"
	errServerFailed = "server misbehaving"
	errTimeout      = "i/o timeout"
)

// errTruncated makes exchange retry over TCP.
var errTruncated = errors.New("unet: truncated DNS response")

// lookupDNS queries each name of the search list, A then AAAA as asked,
// until one has addresses.
func (r *Resolver) lookupDNS(ctx context.Context, c dnsConfig, host string, want4, want6 bool) ([]netip.Addr, error) {
	var last *net.DNSError
	for _, name := range c.nameList(host) {
		qn, err := dnsmessage.NewName(name)
		if err != nil {
			return nil, &net.DNSError{Err: "invalid name", Name: host, IsNotFound: true}
		}
		var ips []netip.Addr
		var derr *net.DNSError
		for _, qt := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA} {
			if qt == dnsmessage.TypeA && !want4 || qt == dnsmessage.TypeAAAA && !want6 {
				continue
			}
			got, err := r.query(ctx, c, qn, qt)
			if err != nil {
				derr = err
				continue
			}
			ips = append(ips, got...)
		}
		if len(ips) > 0 {
			return ips, nil
		}
		if derr == nil {
			derr = &net.DNSError{Err: errNoSuchHost, Name: host, IsNotFound: true}
		}
		derr.Name = host
		last = derr
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

// query asks each server in turn, attempts times, for one name and type.
func (r *Resolver) query(ctx context.Context, c dnsConfig, name dnsmessage.Name, qt dnsmessage.Type) ([]netip.Addr, *net.DNSError) {
	var last *net.DNSError
	for range c.attempts {
		for _, server := range c.servers {
			if ctx.Err() != nil {
				return nil, &net.DNSError{Err: ctx.Err().Error(), Server: server, IsTimeout: errors.Is(ctx.Err(), context.DeadlineExceeded)}
			}
			ips, rcode, err := r.exchange(ctx, c.timeout, server, name, qt)
			switch {
			case err != nil:
				var ne net.Error
				timeout := errors.As(err, &ne) && ne.Timeout()
				msg := errServerFailed
				if timeout {
					msg = errTimeout
				}
				last = &net.DNSError{Err: msg, Server: server, IsTimeout: timeout, UnwrapErr: err}
				continue
			case rcode == dnsmessage.RCodeNameError:
				return nil, &net.DNSError{Err: errNoSuchHost, Server: server, IsNotFound: true}
			case rcode != dnsmessage.RCodeSuccess:
				last = &net.DNSError{Err: errServerFailed, Server: server}
				continue
			}
			if len(ips) == 0 {
				return nil, &net.DNSError{Err: errNoSuchHost, Server: server, IsNotFound: true}
			}
			return ips, nil
		}
	}
	return nil, last
}

// exchange sends one query over UDP, and over TCP if the answer comes
// back truncated, within timeout.
func (r *Resolver) exchange(ctx context.Context, timeout time.Duration, server string, name dnsmessage.Name, qt dnsmessage.Type) ([]netip.Addr, dnsmessage.RCode, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	id := uint16(rand.Uint32())
	q := dnsmessage.Question{Name: name, Type: qt, Class: dnsmessage.ClassINET}
	b := dnsmessage.NewBuilder(make([]byte, 2, 514), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, 0, err
	}
	if err := b.Question(q); err != nil {
		return nil, 0, err
	}
	msg, err := b.Finish()
	if err != nil {
		return nil, 0, err
	}
	binary.BigEndian.PutUint16(msg, uint16(len(msg)-2))
	for _, network := range []string{"udp", "tcp"} {
		resp, err := r.roundTrip(ctx, network, server, msg)
		if err != nil {
			return nil, 0, err
		}
		ips, rcode, err := parseAnswer(resp, id, q)
		if err == errTruncated {
			continue
		}
		return ips, rcode, err
	}
	return nil, 0, errTruncated
}

// roundTrip sends msg (with its 2-byte length prefix, sent over TCP
// only) and reads the response.
func (r *Resolver) roundTrip(ctx context.Context, network, server string, msg []byte) ([]byte, error) {
	c, err := r.s.DialContext(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if network == "udp" {
		if _, err := c.Write(msg[2:]); err != nil {
			return nil, err
		}
		buf := make([]byte, 65535)
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// parseAnswer checks that resp answers q with id and collects its A and
// AAAA records.
func parseAnswer(resp []byte, id uint16, q dnsmessage.Question) ([]netip.Addr, dnsmessage.RCode, error) {
	var p dnsmessage.Parser
	h, err := p.Start(resp)
	if err != nil {
		return nil, 0, err
	}
	if !h.Response || h.ID != id {
		return nil, 0, errors.New("unet: DNS response does not match the query")
	}
	if h.Truncated {
		return nil, 0, errTruncated
	}
	got, err := p.Question()
	if err != nil || got.Type != q.Type || got.Class != q.Class {
		return nil, 0, errors.New("unet: DNS response does not match the query")
	}
	if err := p.SkipAllQuestions(); err != nil {
		return nil, 0, err
	}
	if h.RCode != dnsmessage.RCodeSuccess {
		return nil, h.RCode, nil
	}
	var ips []netip.Addr
	for {
		ah, err := p.AnswerHeader()
		if err == dnsmessage.ErrSectionDone {
			return ips, h.RCode, nil
		}
		if err != nil {
			return nil, 0, err
		}
		switch {
		case ah.Type == dnsmessage.TypeA && q.Type == dnsmessage.TypeA:
			a, err := p.AResource()
			if err != nil {
				return nil, 0, err
			}
			ips = append(ips, netip.AddrFrom4(a.A))
		case ah.Type == dnsmessage.TypeAAAA && q.Type == dnsmessage.TypeAAAA:
			a, err := p.AAAAResource()
			if err != nil {
				return nil, 0, err
			}
			ips = append(ips, netip.AddrFrom16(a.AAAA))
		default:
			if err := p.SkipAnswer(); err != nil {
				return nil, 0, err
			}
		}
	}
}
