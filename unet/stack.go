package unet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// Options configures a Stack. The zero value works.
type Options struct {
	// Backlog is the listen(2) queue length; 0 means 4096 (the kernel
	// caps it at net.core.somaxconn).
	Backlog int
	// Resolver configures the Stack's resolver; nil reads /etc/hosts and
	// /etc/resolv.conf on the Stack's kernel.
	Resolver *ResolverConfig
	// Loop, if not nil, binds the Stack to an event loop on the same
	// kernel: its sockets are watched by the Loop's poller, and the Loop's
	// goroutine wakes their blocked calls, so a program built on eloop
	// has one poller and one waiting goroutine for its loop and its
	// network. Blocked calls wait while the Loop is not running; a call
	// made on the Loop's goroutine (from a callback) that would block
	// waits forever, so do those on other goroutines. Close the Stack
	// before the Loop stops: after that, new sockets fail with
	// net.ErrClosed and blocked calls wait until the Stack is closed.
	Loop *eloop.Loop
}

const defaultBacklog = 4096

// A Stack is the network of one kernel: Dial, Listen and ListenPacket make
// sockets on that kernel, and a Resolver looks names up through it. Its
// blocking calls wait on one epoll poller (see the package doc). A Stack is
// safe for concurrent use.
//
// Where the kernels differ:
//   - fd numbers (SyscallConn, SCM_RIGHTS) belong to the Stack's kernel.
//   - LKL (Linux 4.9, pruned) has no AF_UNIX: unix, unixgram and
//     unixpacket fail with an error wrapping EAFNOSUPPORT there.
//   - LKL's network is its own: its loopback, and whatever devices its
//     configuration adds; 127.0.0.1 on LKL is not the host's.
//   - Close every Stack on LKL before the kernel halts (Halt cannot wake
//     a thread in LKL's epoll_pwait); an idle Stack holds no such thread.
type Stack struct {
	k      sys.Kernel
	lc     *libgo.Libc
	nb     aio.Nonblock
	poll   netpoll
	opts   Options
	choice aio.Choice

	resolverOnce sync.Once
	resolver     *Resolver
}

// New makes a Stack on kernel k (nil: the process default kernel as it is
// now, or Options.Loop's kernel if a Loop is given). Errors are those of
// aio.New, or a Loop on another kernel.
func New(k sys.Kernel, opts Options) (*Stack, error) {
	if k == nil && opts.Loop != nil {
		k = opts.Loop.Kernel()
	} else if k == nil {
		k = sys.Default()
	}
	s := &Stack{k: k, lc: libgo.New(k), nb: aio.NewNonblock(k), opts: opts}
	if opts.Loop != nil {
		if lk := opts.Loop.Kernel(); lk != k {
			return nil, fmt.Errorf("unet: Options.Loop runs on kernel %q, the Stack on %q", lk.Name(), k.Name())
		}
		s.poll.loop = opts.Loop
		s.choice = opts.Loop.Backend()
		return s, nil
	}
	s.choice = chooseBackend(k)
	if s.choice.Backend == aio.Uring {
		s.poll.uring, s.poll.k = true, k
		return s, nil
	}
	p, err := aio.New(k)
	if err != nil {
		return nil, err
	}
	s.poll.p = p
	return s, nil
}

// chooseBackend is aio.Choose for a Stack, but io_uring only when
// GOKERNEL_AIO=uring asks for it: unet's io_uring dispatcher replaces
// epoll's readiness with multishot polls, and measured against epoll it
// costs more CPU per request (docs/aio.md, "unet on io_uring"), so auto
// (and unset) is epoll.
func chooseBackend(k sys.Kernel) aio.Choice {
	want := os.Getenv(aio.EnvBackend)
	c := aio.Decide(k, want)
	if c.Backend == aio.Uring && want != "uring" {
		return aio.Choice{Backend: aio.Epoll, Reason: "auto: unet takes io_uring only when " + aio.EnvBackend + "=uring asks (its polls cost more CPU per request than epoll; docs/aio.md)"}
	}
	return c
}

// Kernel returns the Stack's kernel.
func (s *Stack) Kernel() sys.Kernel { return s.k }

// Backend returns how the Stack waits for its sockets and why, as
// decided at New: aio.Uring, one io_uring whose multishot polls stand for
// epoll, when GOKERNEL_AIO=uring and the kernel has it (the host, Linux
// 6.0 or later); otherwise aio.Epoll, one Poller (auto and unset included:
// see chooseBackend). A Stack bound to a Loop reports the Loop's.
func (s *Stack) Backend() aio.Choice { return s.choice }

// Close closes every connection and listener of the Stack (their blocked
// calls return net.ErrClosed), then its poller. A second Close returns
// net.ErrClosed.
func (s *Stack) Close() error {
	for _, fd := range s.poll.sockets() {
		fd.Close()
	}
	return s.poll.close()
}

// defaultStack is the Stack of the process default kernel: the state that
// belongs to it, made on first use and made again if the default changes.
var defaultStack atomic.Pointer[Stack]

// Default returns the Stack of the process default kernel, the one the
// package-level Dial, Listen and ListenPacket use.
//
// That Stack lives as long as the process, as package net's poller does:
// the conns and listeners it hands out may outlive any caller, so no one
// caller may close it. It costs nothing while idle: its dispatcher
// goroutine (and the thread it holds in epoll_pwait) exists only while
// one of its sockets is open (TestDefaultStackIdle). If the default
// kernel changes, a new Stack serves the new kernel and the old one stays
// with the sockets made on it.
func Default() (*Stack, error) {
	k := sys.Default()
	if s := defaultStack.Load(); s != nil && s.k == k {
		return s, nil
	}
	s, err := New(k, Options{})
	if err != nil {
		return nil, err
	}
	for {
		old := defaultStack.Load()
		if old != nil && old.k == k {
			s.poll.close()
			return old, nil
		}
		if defaultStack.CompareAndSwap(old, s) {
			return s, nil
		}
	}
}

// Listen listens on the default kernel; see Stack.Listen.
func Listen(network, address string) (net.Listener, error) {
	s, err := Default()
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return s.Listen(network, address)
}

// Dial connects on the default kernel; see Stack.Dial.
func Dial(network, address string) (net.Conn, error) {
	return DialContext(context.Background(), network, address)
}

// DialContext connects on the default kernel; see Stack.DialContext.
func DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	s, err := Default()
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	return s.DialContext(ctx, network, address)
}

// ListenPacket opens a datagram socket on the default kernel; see
// Stack.ListenPacket.
func ListenPacket(network, address string) (net.PacketConn, error) {
	s, err := Default()
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return s.ListenPacket(network, address)
}

// socket makes a non-blocking socket and registers it with the poller.
func (s *Stack) socket(family, sotype int, network string) (*netFD, error) {
	sysfd, err := s.lc.Socket(family, sotype|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, os.NewSyscallError(socketName, err)
	}
	return s.newFD(sysfd, family, sotype, network)
}

// Dial connects to address on network; see DialContext.
func (s *Stack) Dial(network, address string) (net.Conn, error) {
	return s.DialContext(context.Background(), network, address)
}

// DialContext connects to address on network, as net.Dialer.DialContext
// does: tcp, tcp4, tcp6, udp, udp4, udp6 take "host:port", where host is
// an IP literal or a name the Stack's Resolver looks up (each address is
// tried in turn); unix, unixgram and unixpacket take a socket path, "@"
// starting an abstract name. ctx bounds the whole dial. The result is a
// *TCPConn, *UDPConn or *UnixConn. Errors are *net.OpError with Op "dial".
func (s *Stack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	kind, err := parseNetwork(network)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if !kind.inet {
		sa := &libgo.SockaddrUnix{Name: address}
		raddr := &net.UnixAddr{Name: address, Net: network}
		fd, err := s.dialOne(ctx, unix.AF_UNIX, kind.sotype, network, sa)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
		}
		fd.raddr = raddr
		return &UnixConn{conn{fd}}, nil
	}
	ips, port, err := s.resolveAddrs(ctx, network, kind, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if ips == nil { // no host: the local system, as net dials it
		ips = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}
		if kind.family == unix.AF_INET6 {
			ips[0] = netip.IPv6Loopback()
		}
	}
	var first error
	for _, ip := range ips {
		family := familyOf(kind, ip)
		sa, err := inetSockaddr(family, ip, port)
		var fd *netFD
		if err == nil {
			fd, err = s.dialOne(ctx, family, kind.sotype, network, sa)
		}
		if err == nil {
			fd.raddr = sockaddrToAddr(network, sa)
			if kind.stream {
				fd.s.lc.SetNoDelay(fd.Sysfd, true)
				return &TCPConn{conn{fd}}, nil
			}
			return &UDPConn{conn{fd}}, nil
		}
		if first == nil {
			first = &net.OpError{Op: "dial", Net: network, Addr: sockaddrToAddr(network, sa), Err: err}
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// dialOne makes one socket and connects it to sa.
func (s *Stack) dialOne(ctx context.Context, family, sotype int, network string, sa libgo.Sockaddr) (*netFD, error) {
	if err := ctx.Err(); err != nil {
		return nil, mapCtxErr(err)
	}
	fd, err := s.socket(family, sotype, network)
	if err != nil {
		return nil, err
	}
	if err := fd.connect(ctx, sa); err != nil {
		fd.Close()
		return nil, err
	}
	lsa, _ := s.lc.Getsockname(fd.Sysfd)
	fd.laddr = sockaddrToAddr(network, lsa)
	return fd, nil
}

// connect connects fd to sa, waiting for a connection in progress until
// ctx is done; SO_ERROR decides the outcome.
func (fd *netFD) connect(ctx context.Context, sa libgo.Sockaddr) error {
	started := false
	err := fd.PD.Retry(aio.ModeWrite, ctx.Done(), func() (inProgress bool, err error) {
		if !started {
			started = true
			return fd.s.nb.Connect(fd.Sysfd, sa)
		}
		return fd.s.nb.ConnectResult(fd.Sysfd)
	})
	if err == aio.ErrCanceled {
		return mapCtxErr(ctx.Err())
	}
	return err
}

// mapCtxErr turns a context's error into net's: a deadline is
// os.ErrDeadlineExceeded (a timeout), a cancel context.Canceled.
func mapCtxErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return os.ErrDeadlineExceeded
	}
	return err
}

// Listen listens on address: tcp, tcp4 and tcp6 take "host:port" (an
// empty host is every address; port 0 picks one), unix and unixpacket a
// socket path ("@" for an abstract name), which Close removes. The result
// is a *TCPListener or *UnixListener.
func (s *Stack) Listen(network, address string) (net.Listener, error) {
	kind, fd, err := s.bound(network, address, true)
	if err != nil {
		return nil, err
	}
	if kind.inet {
		return &TCPListener{listener{fd}}, nil
	}
	l := &UnixListener{listener{fd}}
	l.SetUnlinkOnClose(true)
	return l, nil
}

// ListenPacket opens a datagram socket bound to address: udp, udp4 and
// udp6 take "host:port", unixgram a socket path. The result is a
// *UDPConn or *UnixConn.
func (s *Stack) ListenPacket(network, address string) (net.PacketConn, error) {
	kind, fd, err := s.bound(network, address, false)
	if err != nil {
		return nil, err
	}
	if kind.inet {
		return &UDPConn{conn{fd}}, nil
	}
	return &UnixConn{conn{fd}}, nil
}

// bound makes a socket bound to address, for Listen (stream networks)
// and ListenPacket (the others).
func (s *Stack) bound(network, address string, stream bool) (netKind, *netFD, error) {
	kind, err := parseNetwork(network)
	if err == nil && kind.stream != stream {
		err = net.UnknownNetworkError(network)
	}
	if err != nil {
		return kind, nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	backlog := 0
	if stream {
		backlog = s.opts.Backlog
		if backlog <= 0 {
			backlog = defaultBacklog
		}
	}
	fd, err := s.bind(network, kind, address, backlog)
	return kind, fd, err
}

// bind makes a socket of kind bound to address, through the stack's one
// listen path (aio.Nonblock.Bind, which eloop's servers use too), and
// listening with backlog > 0.
func (s *Stack) bind(network string, kind netKind, address string, backlog int) (*netFD, error) {
	var sa libgo.Sockaddr
	family := unix.AF_UNIX
	if kind.inet {
		ips, port, err := s.resolveAddrs(context.Background(), network, kind, address)
		if err != nil {
			return nil, &net.OpError{Op: "listen", Net: network, Err: err}
		}
		var ip netip.Addr
		if len(ips) > 0 {
			ip = ips[0]
		}
		family = familyOf(kind, ip)
		if sa, err = inetSockaddr(family, ip, port); err != nil {
			return nil, &net.OpError{Op: "listen", Net: network, Err: err}
		}
	} else {
		sa = &libgo.SockaddrUnix{Name: address}
	}
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: network, Addr: sockaddrToAddr(network, sa), Err: err}
	}
	o := aio.BindOptions{
		ReuseAddr: kind.inet && kind.stream,
		DualStack: kind.family == unix.AF_UNSPEC, // as net
		Backlog:   backlog,
	}
	sysfd, err := s.nb.Bind(family, kind.sotype, sa, o)
	if err != nil && kind.inet && kind.family == unix.AF_UNSPEC && family == unix.AF_INET6 && errors.Is(err, syscall.EAFNOSUPPORT) {
		// A kernel without IPv6 listens on IPv4 alone.
		family, sa = unix.AF_INET, &libgo.SockaddrInet4{Port: sa.(*libgo.SockaddrInet6).Port}
		sysfd, err = s.nb.Bind(family, kind.sotype, sa, o)
	}
	if err != nil {
		return nil, opErr(err)
	}
	fd, err := s.newFD(sysfd, family, kind.sotype, network)
	if err != nil {
		return nil, opErr(err)
	}
	lsa, err := s.lc.Getsockname(fd.Sysfd)
	if err != nil {
		fd.Close()
		return nil, opErr(os.NewSyscallError(getsocknameName, err))
	}
	fd.laddr = sockaddrToAddr(network, lsa)
	return fd, nil
}
