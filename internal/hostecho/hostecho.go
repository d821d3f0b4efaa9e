// Package hostecho runs small servers on the host's loopback for the
// tests of LKL's user network (sys/lkl, sys/lkl/usernet, unet), which
// reach them through the network's NAT: a TCP echo server, and UDP
// servers that answer each datagram with a function of it.
//
// It uses the standard library's net on the host, and nothing of
// gokernel. Close closes every listener and every connection the servers
// still hold, then waits for all their goroutines, so a test's goroutine
// and fd leak checks see none of them.
package hostecho

import (
	"io"
	"net"
	"sync"
)

// Servers is a set of servers started with TCP and UDP.
type Servers struct {
	mu     sync.Mutex
	open   map[io.Closer]struct{} // listeners, packet conns and accepted conns
	closed bool
	wg     sync.WaitGroup
}

// New returns an empty set of servers.
func New() *Servers { return &Servers{open: map[io.Closer]struct{}{}} }

// track adds c to the closed-by-Close set, or closes it at once if
// Close has run.
func (s *Servers) track(c io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	s.open[c] = struct{}{}
	return true
}

func (s *Servers) untrack(c io.Closer) {
	s.mu.Lock()
	delete(s.open, c)
	s.mu.Unlock()
	c.Close()
}

// TCP starts a TCP echo server on 127.0.0.1 and returns its address;
// after Close, net.ErrClosed.
func (s *Servers) TCP() (*net.TCPAddr, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if !s.echo(l) {
		return nil, net.ErrClosed
	}
	return l.Addr().(*net.TCPAddr), nil
}

// Echo serves every connection accepted on l (a host listener or any
// other) by copying it back to itself until its peer closes, then
// closing it. l is closed by Close (at once, after Close).
func (s *Servers) Echo(l net.Listener) { s.echo(l) }

func (s *Servers) echo(l net.Listener) bool {
	if !s.track(l) {
		return false
	}
	s.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if !s.track(c) {
				return
			}
			// struct{ io.Writer } hides ReadFrom: a *net.TCPConn would
			// splice through pooled pipes, which read as leaked fds.
			s.wg.Go(func() { io.Copy(struct{ io.Writer }{c}, c); s.untrack(c) })
		}
	})
	return true
}

// UDP starts a UDP server on 127.0.0.1 that answers each datagram with
// reply(datagram) (nothing when that is nil; reply nil: the datagram
// itself) and returns its address; after Close, net.ErrClosed.
func (s *Servers) UDP(reply func([]byte) []byte) (*net.UDPAddr, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if reply == nil {
		reply = func(b []byte) []byte { return b }
	}
	if !s.track(pc) {
		return nil, net.ErrClosed
	}
	s.wg.Go(func() { ServePackets(pc, reply) })
	return pc.LocalAddr().(*net.UDPAddr), nil
}

// Close closes every listener, packet conn and open connection of the
// servers and waits for their goroutines.
func (s *Servers) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.open {
		c.Close()
	}
	clear(s.open)
	s.mu.Unlock()
	s.wg.Wait()
}

// ServePackets answers each datagram on pc with reply(datagram) until pc
// is closed; a nil reply sends nothing.
func ServePackets(pc net.PacketConn, reply func([]byte) []byte) {
	buf := make([]byte, 2048)
	for {
		n, a, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if r := reply(buf[:n]); r != nil {
			pc.WriteTo(r, a)
		}
	}
}
