package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

func init() {
	register(&cli.Command{
		Name:    "echo",
		Args:    "[-api loop|unet|net|gnet] [-addr host:port] [-loops N]",
		Summary: "an echo server on eloop, unet's net.Conn, the standard library's net, or gnet",
		Help: `echo serves TCP echo until it gets SIGINT or SIGTERM. It prints
"listening on ADDR" as its first line.

  -api loop  eloop's stream server, on the selected kernel (GOKERNEL). On LKL
             it listens on LKL's own loopback, which only this process can
             reach. On the host it runs on io_uring (GOKERNEL_AIO=epoll:
             on epoll); it says which on stderr.
  -api unet  the same net.Conn server as -api net, on unet.Listen: on the
             selected kernel (GOKERNEL), LKL's loopback included.
  -api net   the standard library: net.Listen and a goroutine per connection
             copying with io.Copy (host kernel only).
  -api gnet  github.com/panjf2000/gnet/v2 with multicore event loops (host
             kernel only).

It is the server side of echo-bench; load is the client side.`,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			var o echoOptions
			fs.StringVar(&o.api, "api", "loop", "the server: `loop`, unet, net or gnet")
			fs.StringVar(&o.addr, "addr", "127.0.0.1:0", "listen on `host:port` (port 0 picks one)")
			fs.IntVar(&o.loops, "loops", 0, "event loops for loop and gnet (0: one per CPU)")
			// -self-load runs the load generator in this process over the
			// kernel's own sockets (libgo), for LKL; echo-bench uses it.
			fs.BoolVar(&o.selfLoad, "self-load", false, "(echo-bench) run the load generator in this process, then stop")
			fs.IntVar(&o.load.conns, "conns", 64, "(with -self-load) number of connections")
			fs.IntVar(&o.load.size, "size", 64, "(with -self-load) message size in bytes")
			fs.DurationVar(&o.load.duration, "duration", 3*time.Second, "(with -self-load) how long to run")
			return func(args []string) error {
				if len(args) != 0 {
					return fmt.Errorf("%w: echo takes no arguments", errUsage)
				}
				return echoServe(o)
			}
		},
	})
}

type echoOptions struct {
	api      string
	addr     string
	loops    int
	selfLoad bool
	load     loadConfig
}

// echoServe starts the server o asks for and serves until a signal, or
// until the self-load run ends.
func echoServe(o echoOptions) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.selfLoad && o.api != "loop" && o.api != "unet" {
		return fmt.Errorf("%w: -self-load needs -api loop or unet", errUsage)
	}
	if o.selfLoad {
		if err := o.load.check(); err != nil {
			return err
		}
	}
	switch o.api {
	case "loop":
		return echoLoopServer(ctx, o)
	case "unet":
		if o.selfLoad {
			return echoUnetSelfLoad(ctx, o)
		}
		return echoNetServer(ctx, o.addr, unet.Listen)
	case "net", "gnet":
		if k := sys.Default(); !sys.IsHost(k) {
			return fmt.Errorf("echo -api %s runs on the host kernel only, not on %s (use -api loop)", o.api, k.Name())
		}
		if o.api == "net" {
			return echoNetServer(ctx, o.addr, net.Listen)
		}
		return echoGnetServer(ctx, o.addr, o.loops)
	}
	return fmt.Errorf("%w: -api %q: want loop, unet, net or gnet", errUsage, o.api)
}

// loopEcho is eloop's echo server: OnData writes back what it reads.
type loopEcho struct{ eloop.BuiltinHandler }

func (loopEcho) OnData(c *eloop.Conn, data []byte) eloop.Action {
	c.Write(data) // an error means c is closing; OnClose follows
	return eloop.None
}

// echoLoopServer serves with eloop on the selected kernel. With
// o.selfLoad it runs the load generator in this process, through the
// same kernel's sockets, prints its result and stops.
func echoLoopServer(ctx context.Context, o echoOptions) error {
	k := sys.Default()
	s, err := eloop.Listen(k, o.addr, loopEcho{}, eloop.ServerOptions{Loops: o.loops})
	if err != nil {
		return err
	}
	cli.PrintListening(out.W, s.Addr().String())
	fmt.Fprintf(out.Err, "eloop on %s: %v\n", k.Name(), s.Loops()[0].Backend())
	if !o.selfLoad {
		if err := s.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	// The client is unet's, as in "echo -api unet -self-load", so that the
	// two LKL rows of echo-bench differ only in their servers (see
	// docs/eloop.md for what a client on blocking libgo sockets did).
	to := s.Addr().String()
	o.load.selfAndKernel()
	cs, err := unet.New(k, unet.Options{Loop: s.Loops()[0]})
	if err != nil {
		cancel()
		<-served
		return err
	}
	res, lerr := runLoad(o.load, func() (io.ReadWriteCloser, error) { return cs.Dial("tcp", to) })
	cs.Close()
	cancel()
	if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
		lerr = errors.Join(lerr, err)
	}
	if lerr != nil {
		return lerr
	}
	fmt.Fprintf(out.W, "%s (%s kernel, in-process client; cpu/msg is the whole process)\n", res, k.Name())
	return nil
}

// echoNetServer is the standard library's echo server: a goroutine per
// connection, copying with io.Copy, on listen's listener (net.Listen or
// unet.Listen).
func echoNetServer(ctx context.Context, addr string, listen func(network, address string) (net.Listener, error)) error {
	ln, err := listen("tcp", addr)
	if err != nil {
		return err
	}
	cli.PrintListening(out.W, ln.Addr().String())
	return serveEcho(ctx, ln)
}

// serveEcho echoes on every connection ln accepts until ctx is done.
func serveEcho(ctx context.Context, ln net.Listener) error {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	closed := make(chan struct{})
	stopped := context.AfterFunc(ctx, func() {
		defer close(closed)
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.Close()
		}
	})
	defer func() {
		if !stopped() { // the closing ran: wait until every close is done
			<-closed
		}
	}()
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			continue
		}
		conns[c] = true
		mu.Unlock()
		wg.Go(func() {
			io.Copy(c, c)
			c.Close()
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		})
	}
}

// gnetEcho is gnet's echo server: each event loop writes back what it
// reads.
type gnetEcho struct {
	gnet.BuiltinEventEngine
	eng   chan gnet.Engine
	bound chan error // the address printed, or why not
}

// OnBoot passes the engine on and prints the listener's address.
func (h *gnetEcho) OnBoot(eng gnet.Engine) gnet.Action {
	h.eng <- eng
	fd, err := eng.Dup()
	if err != nil {
		h.bound <- err
		return gnet.Shutdown
	}
	host := libgo.New(sys.Host()) // gnet runs on the host kernel only
	defer host.Close(fd)
	sa, err := host.Getsockname(fd)
	if err != nil {
		h.bound <- err
		return gnet.Shutdown
	}
	var ap netip.AddrPort
	switch sa := sa.(type) {
	case *libgo.SockaddrInet4:
		ap = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *libgo.SockaddrInet6:
		ap = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	default:
		h.bound <- fmt.Errorf("gnet listens on %T", sa)
		return gnet.Shutdown
	}
	cli.PrintListening(out.W, ap.String())
	h.bound <- nil
	return gnet.None
}

// OnTraffic echoes everything buffered on c.
func (h *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, err := c.Next(-1)
	if err != nil {
		return gnet.Close
	}
	if _, err := c.Write(buf); err != nil {
		return gnet.Close
	}
	return gnet.None
}

// gnetLog keeps gnet quiet but for errors, which go to stderr.
type gnetLog struct{}

func (gnetLog) Debugf(string, ...any) {}
func (gnetLog) Infof(string, ...any)  {}
func (gnetLog) Warnf(string, ...any)  {}
func (gnetLog) Errorf(format string, args ...any) {
	fmt.Fprintf(out.Err, "gnet: "+format+"\n", args...)
}
func (gnetLog) Fatalf(format string, args ...any) {
	fmt.Fprintf(out.Err, "gnet: "+format+"\n", args...)
	os.Exit(1)
}

func echoGnetServer(ctx context.Context, addr string, loops int) error {
	h := &gnetEcho{eng: make(chan gnet.Engine, 1), bound: make(chan error, 1)}
	opts := []gnet.Option{gnet.WithMulticore(true), gnet.WithLogger(gnetLog{})}
	if loops > 0 {
		opts = append(opts, gnet.WithNumEventLoop(loops))
	}
	done := make(chan error, 1)
	go func() { done <- gnet.Run(h, "tcp://"+addr, opts...) }()
	var eng gnet.Engine
	select {
	case err := <-done:
		return fmt.Errorf("gnet: %w", err)
	case eng = <-h.eng:
	}
	if err := <-h.bound; err != nil {
		<-done
		return fmt.Errorf("gnet: %w", err)
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := eng.Stop(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("gnet: stop: %w", err)
	}
	return <-done
}
