package eloop

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// Defaults for the zero fields of ServerOptions.
const (
	defaultMaxPending = 1 << 20
	defaultReadBuffer = 64 << 10
	listenBacklog     = 1024
	acceptsPerEvent   = 64
)

// An Action is what a Handler's callback asks of the server as it returns,
// as in gnet.
type Action int

// The actions.
const (
	// None asks for nothing.
	None Action = iota
	// Close closes the connection, as Conn.Close does: pending output is
	// flushed as the socket allows, then OnClose follows. From OnClose it
	// is the same as None.
	Close
	// Shutdown shuts the server down, as Server.Close does: Serve closes
	// every connection and returns nil.
	Shutdown
)

// Handler receives a stream server's events, each on the connection's
// loop goroutine, and returns what it asks of the server (an Action).
// Embed BuiltinHandler to implement only some of the callbacks.
type Handler interface {
	// OnOpen is called once for each accepted connection, before any
	// other event of it.
	OnOpen(c *Conn) Action
	// OnData is called with bytes read from c. data is valid only
	// during the call: it is the loop's read buffer.
	OnData(c *Conn, data []byte) Action
	// OnClose is called once, after c's socket is closed. err is nil
	// when the peer closed in order, Close was called, or the server
	// shut down; a *PanicError when a callback of c panicked; otherwise
	// the error that ended the connection (an *os.SyscallError, so
	// errors.Is(err, syscall.ECONNRESET) holds after a reset).
	OnClose(c *Conn, err error) Action
}

// BuiltinHandler is a Handler whose callbacks do nothing and return None
// (gnet's BuiltinEventEngine): embed it in a handler to implement only
// the callbacks it needs.
type BuiltinHandler struct{}

// OnOpen returns None.
func (BuiltinHandler) OnOpen(*Conn) Action { return None }

// OnData returns None.
func (BuiltinHandler) OnData(*Conn, []byte) Action { return None }

// OnClose returns None.
func (BuiltinHandler) OnClose(*Conn, error) Action { return None }

// ServerOptions configures a Server; the zero value works.
type ServerOptions struct {
	// Loops is the number of event loops, each with its own
	// SO_REUSEPORT listener; 0 means one per CPU: runtime.GOMAXPROCS(0),
	// at most the kernel's CPU count (sched_getaffinity), which makes it
	// one on LKL.
	Loops int
	// Loop holds the options of each loop. Its OnPanic also receives
	// the panics of the Handler's callbacks.
	Loop Options
	// MaxPending is the number of bytes of unsent output per connection
	// above which reading from it pauses until half is sent; 0 means
	// 1 MiB.
	MaxPending int
	// ReadBuffer is the size of each loop's read buffer; 0 means 64 KiB.
	// On io_uring it caps the size of each of the loop's 64 provided
	// buffers, which are at most 16 KiB.
	ReadBuffer int
}

// Server states.
const (
	srvNew = iota
	srvRunning
	srvClosed
)

// A Server is a TCP stream server in the manner of gnet and evio: several
// event loops, each with its own non-blocking listening socket bound to
// the same address with SO_REUSEPORT, so that the kernel spreads the
// connections among them. Each connection stays on the loop that
// accepted it, and its Handler events run on that loop's goroutine.
//
// Listening sockets and connections are watched level-triggered: a loop
// makes one read of each readable connection per turn (into the loop's
// one read buffer), so that a fast sender does not starve the others,
// and an accept that failed is tried again at the next turn.
//
// Accept errors never stop the server: ECONNABORTED and EINTR are retried
// at once (by libgo's Accept4, the fd runtime's one policy); any other
// error (EMFILE, ENFILE, ENOMEM, ENOBUFS, …) is counted and the accept
// is tried again when the listener is next reported readable, which for
// a level-triggered listener with connections waiting is the next turn
// of the loop.
type Server struct {
	lc    *libgo.Libc
	nb    aio.Nonblock
	h     Handler
	opts  ServerOptions
	addr  netip.AddrPort
	loops []*serverLoop

	mu       sync.Mutex
	state    int                // srvNew, srvRunning, srvClosed; guarded by mu
	closed   bool               // Close was called; guarded by mu
	byClose  bool               // Serve was ended by Close; guarded by mu
	cancel   context.CancelFunc // ends a running Serve; guarded by mu
	acceptEr atomic.Int64       // accept errors counted and retried
}

// serverLoop is one loop of a Server with its listener and connections.
type serverLoop struct {
	s     *Server
	l     *Loop
	lfd   int // listening socket, -1 once closed
	lid   WatchID
	buf   []byte
	conns map[*Conn]struct{} // open connections; loop goroutine only
	u     serverRing         // the io_uring side (server_uring.go)
}

// defaultLoops is ServerOptions.Loops' default. LKL runs one CPU: a loop
// per host core only hands it between threads (docs/eloop.md has the
// measurement).
func defaultLoops(k sys.Kernel) int {
	n := runtime.GOMAXPROCS(0)
	var set unix.CPUSet
	if err := libgo.New(k).SchedGetaffinity(&set); err == nil && set.Count() > 0 {
		n = min(n, set.Count())
	}
	return n
}

// Listen makes a Server on kernel k (nil means the process default) for
// addr, an IPv4 or IPv6 address and port such as "127.0.0.1:0" or
// "[::1]:0", with its loops and listening sockets, which accept nothing
// until Serve. Port 0 binds a free port, which Addr tells. Errors are
// those of netip.ParseAddrPort, New, and *os.SyscallError for the
// socket calls.
func Listen(k sys.Kernel, addr string, h Handler, opts ServerOptions) (*Server, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("eloop: listen: %w", err)
	}
	if k == nil {
		k = sys.Default()
	}
	if opts.Loops <= 0 {
		opts.Loops = defaultLoops(k)
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = defaultMaxPending
	}
	if opts.ReadBuffer <= 0 {
		opts.ReadBuffer = defaultReadBuffer
	}
	s := &Server{lc: libgo.New(k), nb: aio.NewNonblock(k), h: h, opts: opts}
	for i := range opts.Loops {
		sl := &serverLoop{s: s, lfd: -1, conns: make(map[*Conn]struct{})}
		s.loops = append(s.loops, sl)
		if sl.l, err = New(k, opts.Loop); err != nil {
			s.release()
			return nil, err
		}
		if sl.lfd, err = s.listenOne(ap); err != nil {
			s.release()
			return nil, err
		}
		if i == 0 {
			sa, err := s.lc.Getsockname(sl.lfd)
			if err != nil {
				s.release()
				return nil, os.NewSyscallError("getsockname", err)
			}
			ap = libgo.AddrPort(sa)
		}
	}
	s.addr = ap
	return s, nil
}

// listenOne makes one non-blocking listening socket bound to ap with
// SO_REUSEADDR and SO_REUSEPORT, through the stack's one listen path
// (aio.Nonblock.Bind, which unet's listeners use too).
func (s *Server) listenOne(ap netip.AddrPort) (fd int, err error) {
	domain := unix.AF_INET
	var sa libgo.Sockaddr = &libgo.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		domain = unix.AF_INET6
		sa = &libgo.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	return s.nb.Bind(domain, unix.SOCK_STREAM, sa, aio.BindOptions{ReuseAddr: true, ReusePort: true, Backlog: listenBacklog})
}

// release frees the loops and listeners of a Server that never served.
func (s *Server) release() {
	for _, sl := range s.loops {
		sl.closeListener()
		if sl.l != nil {
			sl.l.Stop()
			sl.l.Run(context.Background()) // returns at once, freeing the poller
		}
	}
}

// Addr returns the bound address, with the port filled in.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Serve runs the server's loops, each on a goroutine of its own, until
// ctx is done or Close is called; then each loop closes its listener and
// every connection (writing what output the socket takes at once, and
// calling OnClose with a nil error), and Serve returns once all loops
// have stopped: nil after Close, ctx.Err() after ctx is done. A loop
// whose poller fails stops the others too, and its error is returned.
// When ServerOptions.Loop.OnPanic is nil, the first panic of each loop
// is joined to the result as a *PanicError. A Server serves once: Serve
// after Serve or Close returns an error satisfying
// errors.Is(err, net.ErrClosed).
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.state != srvNew {
		s.mu.Unlock()
		return fmt.Errorf("eloop: serve: %w", aio.Socket.ErrClosed())
	}
	s.state = srvRunning
	ctx2, cancel := context.WithCancel(ctx)
	defer cancel()
	s.cancel = cancel
	s.mu.Unlock()

	var err error
	for _, sl := range s.loops {
		if sl.l.Backend().Backend == aio.Uring {
			// Set up on the loop, where the ring is (server_uring.go).
			if err = sl.l.Post(sl.startUring); err != nil {
				break
			}
			continue
		}
		sl.buf = make([]byte, s.opts.ReadBuffer)
		if sl.lid, err = sl.l.Watch(sl.lfd, aio.Read, sl.onAccept); err != nil {
			break
		}
	}
	errs := make([]error, len(s.loops))
	var wg sync.WaitGroup
	if err == nil {
		for i, sl := range s.loops {
			wg.Go(func() {
				errs[i] = sl.l.Run(context.Background())
				cancel() // a loop that ended on its own ends the others
			})
		}
	} else {
		cancel()
	}
	<-ctx2.Done()
	for _, sl := range s.loops {
		if sl.l.Post(sl.shutdown) != nil {
			sl.l.Stop()
		}
	}
	wg.Wait()
	for _, sl := range s.loops {
		sl.closeAll() // a loop that stopped early, or never ran
		sl.closeListener()
		if err != nil {
			sl.l.Stop()
			sl.l.Run(context.Background())
		}
	}

	s.mu.Lock()
	s.state = srvClosed
	byClose := s.byClose
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if !byClose {
		err = ctx.Err()
	}
	return errors.Join(append([]error{err}, errs...)...)
}

// Close stops Serve, or releases the server if Serve was never called. A
// second Close returns an error satisfying errors.Is(err, net.ErrClosed).
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("eloop: server close: %w", aio.Socket.ErrClosed())
	}
	s.closed = true
	switch s.state {
	case srvNew:
		s.state = srvClosed
		s.mu.Unlock()
		s.release()
		return nil
	case srvRunning:
		s.byClose = true
		cancel := s.cancel
		s.mu.Unlock()
		cancel()
		return nil
	}
	s.mu.Unlock()
	return nil
}

// onAccept takes the connections waiting on the listener.
func (sl *serverLoop) onAccept(aio.Events) {
	for range acceptsPerEvent {
		if sl.lfd < 0 {
			return
		}
		nfd, sa, wouldBlock, err := sl.s.nb.Accept(sl.lfd)
		switch {
		case wouldBlock:
			return
		case err != nil:
			sl.s.acceptEr.Add(1)
			return // level-triggered: tried again at the next readiness
		}
		sl.open(nfd, libgo.AddrPort(sa))
	}
}

// open sets up an accepted connection and calls OnOpen.
func (sl *serverLoop) open(fd int, remote netip.AddrPort) {
	sl.s.lc.SetNoDelay(fd, true) // best effort: a failure costs latency only
	c := &Conn{sl: sl, fd: fd, remote: remote, reading: true, watched: aio.Read}
	id, err := sl.l.Watch(fd, aio.Read, c.onEvent)
	if err != nil {
		sl.s.acceptEr.Add(1)
		sl.s.lc.Close(fd)
		return
	}
	c.id = id
	sl.conns[c] = struct{}{}
	c.onOpen()
}

// shutdown runs on the loop when Serve ends: it closes the listener and
// every connection, then stops the loop.
func (sl *serverLoop) shutdown() {
	sl.closeListener()
	sl.closeAll()
	sl.l.Stop()
}

// closeListener closes the listening socket, once.
func (sl *serverLoop) closeListener() {
	if sl.lfd < 0 {
		return
	}
	if sl.u.on && sl.l.u.r != nil {
		sl.closeListenerUring()
		return
	}
	if sl.lid != 0 {
		sl.l.Unwatch(sl.lid)
		sl.lid = 0
	}
	sl.s.lc.Close(sl.lfd)
	sl.lfd = -1
}

// closeAll closes every connection, writing what the sockets take of
// their pending output.
func (sl *serverLoop) closeAll() {
	for c := range sl.conns {
		c.flush()
		c.closeNow(nil)
	}
}

// Loops returns the server's event loops, one per listener, so that a
// program can put more on them: a unet.Stack bound to one (unet.Options.Loop)
// shares its poller and its goroutine, as the in-process client of
// "demo echo -api loop -self-load" does.
func (s *Server) Loops() []*Loop {
	ls := make([]*Loop, len(s.loops))
	for i, sl := range s.loops {
		ls[i] = sl.l
	}
	return ls
}
