package usernet

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// natTCP handles a SYN from the guest: it dials the destination on the
// host first, so that a refused connection is refused to the guest too
// (with a reset), then completes the handshake and splices.
func (n *Network) natTCP(r *tcp.ForwarderRequest) {
	if !n.enter() {
		r.Complete(true)
		return
	}
	defer n.wg.Done()
	id := r.ID()
	if !n.allows("tcp", id.LocalAddress, id.LocalPort) {
		r.Complete(true)
		return
	}
	host, err := n.cfg.Dial(n.ctx, "tcp", n.hostAddr(id.LocalAddress, id.LocalPort))
	if err != nil {
		r.Complete(true)
		return
	}
	var wq waiter.Queue
	ep, e := r.CreateEndpoint(&wq)
	if e != nil {
		r.Complete(true)
		host.Close()
		return
	}
	r.Complete(false)
	ep.SocketOptions().SetKeepAlive(true)
	n.splice(host, &wq, ep)
}

// splice copies between a host connection and a netstack endpoint in both
// directions until both are done. An EOF is passed on as a half-close; any
// other error resets both sides. Each direction holds one buffer, and a
// write blocks while its peer's window is full, so nothing buffers without
// bound.
func (n *Network) splice(host net.Conn, wq *waiter.Queue, ep tcpip.Endpoint) {
	guest := gonet.NewTCPConn(wq, ep)
	if !n.track(host) {
		guest.Close()
		return
	}
	reset := sync.OnceFunc(func() {
		ep.SocketOptions().SetLinger(tcpip.LingerOption{Enabled: true, Timeout: 0})
		ep.Abort()
		if tc, ok := host.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		host.Close()
	})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if pipe(guest, host, guest.CloseWrite) != nil {
			reset()
		}
	}()
	go func() {
		defer wg.Done()
		if pipe(host, guest, closeWrite(host)) != nil {
			reset()
		}
	}()
	go func() {
		wg.Wait()
		guest.Close()
		host.Close()
		n.untrack(host)
	}()
}

// pipe copies src to dst; at src's EOF it half-closes dst with done. It
// returns nil at a clean EOF, else the error.
func pipe(dst io.Writer, src io.Reader, done func() error) error {
	buf := make([]byte, 64<<10)
	if _, err := io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, buf); err != nil {
		return err
	}
	return done()
}

// closeWrite returns c's half-close, or Close if c has none.
func closeWrite(c net.Conn) func() error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite
	}
	return c.Close
}

// natUDP handles the first datagram of a new flow from the guest: it opens
// a host socket for the flow and relays both ways until the flow has been
// idle for Config.UDPIdle.
func (n *Network) natUDP(r *udp.ForwarderRequest) bool {
	if !n.enter() {
		return false
	}
	defer n.wg.Done()
	id := r.ID()
	if !n.allows("udp", id.LocalAddress, id.LocalPort) {
		return false
	}
	host, err := n.cfg.Dial(n.ctx, "udp", n.hostAddr(id.LocalAddress, id.LocalPort))
	if err != nil {
		return false
	}
	var wq waiter.Queue
	ep, e := r.CreateEndpoint(&wq)
	if e != nil {
		host.Close()
		return false
	}
	guest := gonet.NewUDPConn(&wq, ep)
	n.relayUDP(host, guest)
	return true
}

// relayUDP copies datagrams between two connected packet conns until one
// fails or both have been idle for Config.UDPIdle, then closes both.
func (n *Network) relayUDP(a, b net.Conn) {
	if !n.track(a) {
		b.Close()
		return
	}
	var (
		mu   sync.Mutex
		last = time.Now()
	)
	touch := func() {
		mu.Lock()
		last = time.Now()
		mu.Unlock()
	}
	idle := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return time.Since(last) >= n.cfg.UDPIdle
	}
	stop := sync.OnceFunc(func() { a.Close(); b.Close() })
	copyDatagrams := func(dst, src net.Conn) {
		buf := make([]byte, 65536)
		for {
			src.SetReadDeadline(time.Now().Add(n.cfg.UDPIdle))
			m, err := src.Read(buf)
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err) {
					if !idle() {
						continue
					}
				}
				stop()
				return
			}
			touch()
			dst.Write(buf[:m]) // a lost datagram is UDP's normal failure
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); copyDatagrams(a, b) }()
	go func() { defer wg.Done(); copyDatagrams(b, a) }()
	go func() {
		wg.Wait()
		n.untrack(a)
	}()
}

// isTimeout reports a net.Error timeout (gonet's deadline error is not
// os.ErrDeadlineExceeded).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
