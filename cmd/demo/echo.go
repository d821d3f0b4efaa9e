package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/libgo"
)

func init() {
	register(&cli.Command{
		Name:    "echo-blocking",
		Args:    "[-addr host:port] [-n connections] [-selftest]",
		Summary: "an echo server made of blocking libgo calls, one connection at a time",
		Help: `echo-blocking is jskernel's libjs echo example: socket, bind, listen, then
accept, read and write with blocking libgo calls, serving one connection at
a time until the peer closes it. It prints "listening on ADDR" when ready.

With -selftest a client in the same process connects through the same
kernel, checks its messages come back, and the server stops: on LKL the
server listens on LKL's own loopback, which only this process can reach.`,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			addr := fs.String("addr", "127.0.0.1:0", "listen on `host:port` (IPv4; port 0 picks one)")
			n := fs.Int("n", 0, "stop after `count` connections (0: serve forever)")
			self := fs.Bool("selftest", false, "run a client in this process and stop after it")
			return func(args []string) error {
				if len(args) != 0 {
					return fmt.Errorf("%w: echo-blocking takes no arguments", errUsage)
				}
				if *self {
					*n = 1
				}
				return echoBlocking(*addr, *n, *self)
			}
		},
	})
}

func echoBlocking(addr string, conns int, selftest bool) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("%w: -addr %q: want an IPv4 host:port", errUsage, addr)
	}
	ln, err := libgo.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer libgo.Close(ln)
	if err := libgo.SetReuseAddr(ln, true); err != nil {
		return fmt.Errorf("setsockopt SO_REUSEADDR: %w", err)
	}
	if err := libgo.Bind(ln, &libgo.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return fmt.Errorf("bind %s: %w", addr, err)
	}
	if err := libgo.Listen(ln, 16); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sa, err := libgo.Getsockname(ln)
	if err != nil {
		return fmt.Errorf("getsockname: %w", err)
	}
	bound := sa.(*libgo.SockaddrInet4)
	fmt.Fprintf(out.W, "listening on %s\n", netip.AddrPortFrom(netip.AddrFrom4(bound.Addr), uint16(bound.Port)))

	client := make(chan error, 1)
	if selftest {
		go func() { client <- echoClient(bound) }()
	}
	for served := 0; conns == 0 || served < conns; served++ {
		c, _, err := libgo.Accept4(ln, 0)
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		err = echoConn(c)
		libgo.Close(c)
		if err != nil {
			return err
		}
	}
	if selftest {
		if err := <-client; err != nil {
			return fmt.Errorf("selftest client: %w", err)
		}
		fmt.Fprintln(out.W, "selftest: 3 messages echoed")
	}
	return nil
}

// echoConn writes back everything it reads until the peer closes.
func echoConn(fd int) error {
	buf := make([]byte, 4096)
	for {
		n, err := libgo.Read(fd, buf)
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if n == 0 {
			return nil
		}
		for p := buf[:n]; len(p) > 0; {
			w, err := libgo.Write(fd, p)
			if err != nil {
				return fmt.Errorf("write: %w", err)
			}
			p = p[w:]
		}
	}
}

// echoClient sends three messages through the server and checks each
// comes back whole.
func echoClient(to *libgo.SockaddrInet4) error {
	fd, err := libgo.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer libgo.Close(fd)
	if err := libgo.Connect(fd, to); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	for i, msg := range []string{"hello", "echo through the kernel", "bye"} {
		if _, err := libgo.Write(fd, []byte(msg)); err != nil {
			return err
		}
		got := make([]byte, 0, len(msg))
		buf := make([]byte, 64)
		for len(got) < len(msg) {
			n, err := libgo.Read(fd, buf)
			if err != nil {
				return err
			}
			if n == 0 {
				return errors.New("server closed early")
			}
			got = append(got, buf[:n]...)
		}
		if !bytes.Equal(got, []byte(msg)) {
			return fmt.Errorf("message %d: got %q, want %q", i, got, msg)
		}
	}
	return libgo.Shutdown(fd, unix.SHUT_WR)
}
