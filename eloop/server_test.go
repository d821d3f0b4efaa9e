package eloop_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// testHandler echoes unless onData is set, and reports opens and closes.
type testHandler struct {
	onData func(c *eloop.Conn, p []byte)
	opens  chan *eloop.Conn
	closes chan error
}

func newHandler(onData func(c *eloop.Conn, p []byte)) *testHandler {
	return &testHandler{onData: onData, opens: make(chan *eloop.Conn, 2048), closes: make(chan error, 2048)}
}

func (h *testHandler) OnOpen(c *eloop.Conn) eloop.Action {
	select {
	case h.opens <- c:
	default:
	}
	return eloop.None
}

func (h *testHandler) OnData(c *eloop.Conn, p []byte) eloop.Action {
	if h.onData != nil {
		h.onData(c, p)
		return eloop.None
	}
	if err := c.Write(p); err != nil {
		panic(err)
	}
	return eloop.None
}

func (h *testHandler) OnClose(c *eloop.Conn, err error) eloop.Action {
	select {
	case h.closes <- err:
	default:
	}
	return eloop.None
}

// startServer listens on 127.0.0.1:0 of k and serves until the test
// ends; the channel gets Serve's result.
func startServer(t *testing.T, k sys.Kernel, h eloop.Handler, opts eloop.ServerOptions) (*eloop.Server, <-chan error) {
	t.Helper()
	s, err := eloop.Listen(k, "127.0.0.1:0", h, opts)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		select {
		case <-done:
		case <-time.After(failAfter):
			t.Error("Serve did not return after Close")
		}
	})
	return s, done
}

// client is a blocking socket on a kernel.
type client struct {
	lc *libgo.Libc
	fd int
}

// dial connects a blocking client to s, with 10 s timeouts.
func dial(t testing.TB, k sys.Kernel, s *eloop.Server, rcvbuf int) *client {
	t.Helper()
	c, err := dialErr(k, s, rcvbuf)
	require.NoError(t, err)
	return c
}

// dialErr is dial for other goroutines than the test's.
func dialErr(k sys.Kernel, s *eloop.Server, rcvbuf int) (*client, error) {
	lc := libgo.New(k)
	fd, err := lc.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	tv := unix.NsecToTimeval(failAfter.Nanoseconds())
	err = errors.Join(lc.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv),
		lc.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv))
	if err == nil && rcvbuf > 0 {
		err = lc.SetRecvBuffer(fd, rcvbuf)
	}
	if err == nil {
		a := s.Addr()
		err = connect(lc, fd, &libgo.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()})
	}
	if err != nil {
		lc.Close(fd)
		return nil, err
	}
	return &client{lc: lc, fd: fd}, nil
}

// connect is a blocking connect(2) that survives signals. With SO_SNDTIMEO
// set, a signal (the Go runtime preempts goroutines with SIGURG) makes
// connect fail with EINTR while the connection goes on, as connect(2)
// says; asking again answers EALREADY until it is done, then EISCONN or
// the connection's error.
func connect(lc *libgo.Libc, fd int, sa libgo.Sockaddr) error {
	for {
		err := lc.Connect(fd, sa)
		switch {
		case errors.Is(err, syscall.EISCONN):
			return nil
		case errors.Is(err, syscall.EINTR), errors.Is(err, syscall.EALREADY):
			time.Sleep(time.Millisecond)
		default:
			return err
		}
	}
}

func (c *client) close() error { return c.lc.Close(c.fd) }

func (c *client) write(p []byte) error {
	for len(p) > 0 {
		n, err := c.lc.Write(c.fd, p)
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// readFull reads len(p) bytes; a 0 read is io.ErrUnexpectedEOF.
func (c *client) readFull(p []byte) error {
	for len(p) > 0 {
		n, err := c.lc.Read(c.fd, p)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("unexpected EOF with %d bytes left", len(p))
		}
		p = p[n:]
	}
	return nil
}

// roundTrip sends msg and checks that it comes back.
func (c *client) roundTrip(msg []byte) error {
	if err := c.write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if err := c.readFull(got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return errors.New("echo differs")
	}
	return nil
}

// pattern returns n bytes distinct for (a, b).
func pattern(n, a, b int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + a*13 + b*31 + i/251)
	}
	return p
}

func TestServerEcho(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		h := newHandler(nil)
		s, _ := startServer(t, k, h, eloop.ServerOptions{Loops: 2})
		require.True(t, s.Addr().Addr().IsLoopback())
		require.NotZero(t, s.Addr().Port())
		c := dial(t, k, s, 0)
		defer c.close()
		for i, n := range []int{1, 100, 4096, 200_000} {
			require.NoError(t, c.roundTrip(pattern(n, i, 0)))
		}
		sc := recv(t, h.opens)
		remote := make(chan bool, 1)
		require.NoError(t, sc.Loop().Post(func() { remote <- sc.RemoteAddr().Addr().IsLoopback() && sc.RemoteAddr().Port() != 0 }))
		require.True(t, recv(t, remote))
	})
}

// TestServerDefaultLoops: one loop per CPU that both Go and the kernel
// have, so one on LKL.
func TestServerDefaultLoops(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		s, _ := startServer(t, k, newHandler(nil), eloop.ServerOptions{})
		want := 1
		if sys.IsHost(k) {
			var set unix.CPUSet
			require.NoError(t, unix.SchedGetaffinity(0, &set))
			want = min(runtime.GOMAXPROCS(0), set.Count())
		}
		require.Equal(t, want, len(s.Loops()))
	})
}

// raiseNofile raises k's RLIMIT_NOFILE to at least want: on the host the
// soft limit up to the hard one, on LKL both to 8192.
func raiseNofile(t *testing.T, k sys.Kernel, want uint64) {
	if sys.IsHost(k) {
		var rl syscall.Rlimit
		require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl))
		if rl.Cur < want {
			old := rl
			rl.Cur, rl.Max = want, max(rl.Max, want)
			if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
				// A higher hard limit needs CAP_SYS_RESOURCE: up to it, then.
				rl = old
				rl.Cur = min(rl.Max, want)
				require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl))
			}
			t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
		}
		require.GreaterOrEqual(t, rl.Cur, want, "RLIMIT_NOFILE")
		return
	}
	kerneltest.Differs(t, k, "lkl", "LKL's fd table holds both ends of every connection and starts at RLIMIT_NOFILE 1024: raise it with setrlimit")
	rl := unix.Rlimit{Cur: 8192, Max: 8192}
	_, _, e := sys.SyscallOn(k, unix.SYS_SETRLIMIT, unix.RLIMIT_NOFILE, uintptr(unsafe.Pointer(&rl)), 0, 0, 0, 0)
	require.Zero(t, e, "setrlimit on LKL: %v", e)
}

func TestServerManyConns(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		manyConns(t, k, 1000, 4)
	})
}

// 10,000 connections open at once on the host through io_uring, every
// byte checked. The clients are another process (this test binary, run
// by TestMain as runClients): the hard RLIMIT_NOFILE here (20,000, and no
// CAP_SYS_RESOURCE to raise it) does not hold both ends of 10,000
// connections in one process.
func TestServerTenThousandConns(t *testing.T) {
	const conns = 10000
	t.Setenv(kerneltest.EnvBackend, "uring")
	k := sys.Host()
	kerneltest.CheckFDs(t, k)
	raiseNofile(t, k, conns+1024)
	h := &testHandler{opens: make(chan *eloop.Conn, conns), closes: make(chan error, conns)}
	s, _ := startServer(t, k, h, eloop.ServerOptions{Loops: 2})

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envClient+"="+s.Addr().String(), envClientConns+"="+strconv.Itoa(conns))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer cmd.Wait()
	defer stdin.Close()

	// The client says "open" once every connection has echoed its first
	// message, and holds them all open until its stdin closes.
	line := make(chan string, 1)
	go func() {
		b, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- b
	}()
	select {
	case got := <-line:
		require.Equal(t, "open\n", got)
	case <-time.After(2 * time.Minute):
		t.Fatal("the client did not open its connections")
	}
	require.Len(t, h.opens, conns, "connections open at once")
	requireBackend(t, s)
	stdin.Close()
	require.NoError(t, cmd.Wait(), "the client checked every byte")
	for range conns {
		require.NoError(t, recv(t, h.closes))
	}
}

// The client process of TestServerTenThousandConns.
const (
	envClient      = "ELOOP_TEST_CLIENT"       // the server's address
	envClientConns = "ELOOP_TEST_CLIENT_CONNS" // how many connections
)

// runClients opens the connections to addr with package net, echoes a
// message on each, says "open", echoes 2 more once stdin has closed,
// then closes them; it returns the exit code.
func runClients(addr string) int {
	n, _ := strconv.Atoi(os.Getenv(envClientConns))
	const size = 1024
	cs := make([]net.Conn, n)
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	echo := func(i, m int) error {
		c := cs[i]
		c.SetDeadline(time.Now().Add(time.Minute))
		want := pattern(size, i, m)
		if _, err := c.Write(want); err != nil {
			return fmt.Errorf("conn %d write %d: %w", i, m, err)
		}
		got := make([]byte, size)
		if _, err := io.ReadFull(c, got); err != nil {
			return fmt.Errorf("conn %d read %d: %w", i, m, err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("conn %d message %d differs", i, m)
		}
		return nil
	}
	// each runs f on every connection, 256 at a time.
	each := func(f func(i int) error) error {
		var wg sync.WaitGroup
		errs := make([]error, n)
		sem := make(chan struct{}, 256)
		for i := range n {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				errs[i] = f(i)
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	err := each(func(i int) (err error) {
		if cs[i], err = net.Dial("tcp", addr); err != nil {
			return err
		}
		return echo(i, 0)
	})
	if err != nil {
		return fail(err)
	}
	fmt.Println("open")
	io.Copy(io.Discard, os.Stdin)
	err = each(func(i int) error {
		defer cs[i].Close()
		for m := 1; m < 3; m++ {
			if err := echo(i, m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return 0
}

// manyConns opens conns connections to a server of loops loops, all open
// at once, and echoes 3 messages on each, checking every byte.
func manyConns(t *testing.T, k sys.Kernel, conns, loops int) {
	const msgs, size, perWorker = 3, 1024, 50
	raiseNofile(t, k, uint64(2*conns+1024))
	h := &testHandler{opens: make(chan *eloop.Conn, conns), closes: make(chan error, conns)}
	s, _ := startServer(t, k, h, eloop.ServerOptions{Loops: loops})
	// Connect all, at most 64 at a time so no accept queue overflows.
	cs := make([]*client, conns)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	dialErrs := make([]error, conns)
	for i := range cs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cs[i], dialErrs[i] = dialErr(k, s, 0)
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range cs {
			if c != nil {
				c.close()
			}
		}
	}()
	require.NoError(t, errors.Join(dialErrs...))
	// Every connection is open at once; each worker sends a message on
	// each of its connections, then reads them all back.
	errs := make(chan error, conns/perWorker)
	for w := 0; w < conns; w += perWorker {
		wg.Go(func() {
			for m := range msgs {
				for i := w; i < w+perWorker; i++ {
					if err := cs[i].write(pattern(size, i, m)); err != nil {
						errs <- fmt.Errorf("conn %d write %d: %w", i, m, err)
						return
					}
				}
				got := make([]byte, size)
				for i := w; i < w+perWorker; i++ {
					if err := cs[i].readFull(got); err != nil {
						errs <- fmt.Errorf("conn %d read %d: %w", i, m, err)
						return
					}
					if !bytes.Equal(got, pattern(size, i, m)) {
						errs <- fmt.Errorf("conn %d message %d differs", i, m)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for range conns {
		recv(t, h.opens)
	}
	requireBackend(t, s)
}

// requireBackend checks that every loop of s runs on the backend the test
// asked for (GOKERNEL_AIO, which RunBackends sets), and logs why.
func requireBackend(t *testing.T, s *eloop.Server) {
	t.Helper()
	want := os.Getenv(kerneltest.EnvBackend)
	for _, l := range s.Loops() {
		c := l.Backend()
		t.Logf("backend: %v", c)
		if want != "" {
			require.Equal(t, want, c.Backend.String(), c.Reason)
		}
	}
}

func TestServerFlowControl(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		const chunk, maxPending, n = 64 << 10, 256 << 10, 200
		var datas atomic.Int64
		out := make([]byte, chunk)
		h := newHandler(func(c *eloop.Conn, p []byte) {
			for _, b := range p {
				for i := range out {
					out[i] = b
				}
				datas.Add(1) // before Write: the client may read the chunk at once
				if err := c.Write(out); err != nil {
					panic(err)
				}
			}
		})
		// A 1-byte read buffer: each OnData writes one chunk, so pending
		// output is bounded by MaxPending plus one chunk.
		s, _ := startServer(t, k, h, eloop.ServerOptions{Loops: 1, MaxPending: maxPending, ReadBuffer: 1})
		c := dial(t, k, s, 16<<10)
		defer c.close()
		sc := recv(t, h.opens)
		in := make([]byte, n)
		for i := range in {
			in[i] = byte(i)
		}
		require.NoError(t, c.write(in))

		type state struct {
			pending int
			paused  bool
		}
		deadline := time.Now().Add(failAfter)
		for {
			st := make(chan state, 1)
			require.NoError(t, sc.Loop().Post(func() {
				p, paused := sc.PendingOutput()
				st <- state{p, paused}
			}))
			got := recv(t, st)
			require.LessOrEqual(t, got.pending, maxPending+chunk)
			if got.paused {
				if backend == "uring" {
					// Output is queued first and sent at the end of the
					// turn, so a send may have taken some since the pause:
					// paused means above half (reading resumes at half).
					require.Greater(t, got.pending, maxPending/2)
				} else {
					require.Greater(t, got.pending, maxPending)
				}
				break
			}
			require.True(t, time.Now().Before(deadline), "reading never paused")
			time.Sleep(time.Millisecond)
		}
		require.Less(t, datas.Load(), int64(n), "everything was read while paused")

		buf := make([]byte, chunk)
		for i := range n {
			require.NoError(t, c.readFull(buf))
			require.Equal(t, bytes.Repeat([]byte{byte(i)}, chunk), buf, "chunk %d", i)
		}
		require.Equal(t, int64(n), datas.Load())
	})
}

func TestServerOnClose(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		h := newHandler(func(c *eloop.Conn, p []byte) {
			c.Write(p)
			if bytes.HasSuffix(p, []byte("bye")) {
				require.NoError(t, c.Close())
				require.ErrorIs(t, c.Write(p), net.ErrClosed)
			}
		})
		s, _ := startServer(t, k, h, eloop.ServerOptions{Loops: 2})

		// The peer closes in order.
		c := dial(t, k, s, 0)
		require.NoError(t, c.roundTrip([]byte("hello")))
		require.NoError(t, c.close())
		require.NoError(t, recv(t, h.closes))

		// The server closes, after sending what is pending.
		c = dial(t, k, s, 0)
		require.NoError(t, c.roundTrip([]byte("bye")))
		var b [1]byte
		n, err := c.lc.Read(c.fd, b[:])
		require.NoError(t, err)
		require.Zero(t, n, "expected end of stream")
		require.NoError(t, recv(t, h.closes))
		c.close()

		// The peer resets.
		c = dial(t, k, s, 0)
		require.NoError(t, c.roundTrip([]byte("hello")))
		require.NoError(t, c.lc.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}))
		require.NoError(t, c.close())
		err = recv(t, h.closes)
		require.ErrorIs(t, err, syscall.ECONNRESET)
	})
}

func TestServerPanic(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		panics := make(chan any, 10)
		h := newHandler(func(c *eloop.Conn, p []byte) {
			if string(p) == "panic" {
				panic("boom")
			}
			c.Write(p)
		})
		opts := eloop.ServerOptions{Loops: 1, Loop: eloop.Options{OnPanic: func(v any, _ []byte) { panics <- v }}}
		s, _ := startServer(t, k, h, opts)
		good := dial(t, k, s, 0)
		defer good.close()
		require.NoError(t, good.roundTrip([]byte("before")))
		bad := dial(t, k, s, 0)
		defer bad.close()
		require.NoError(t, bad.write([]byte("panic")))
		require.Equal(t, "boom", recv(t, panics))
		var pe *eloop.PanicError
		require.ErrorAs(t, recv(t, h.closes), &pe)
		require.Equal(t, "boom", pe.Value)
		var b [1]byte
		n, err := bad.lc.Read(bad.fd, b[:])
		if err == nil {
			require.Zero(t, n, "expected end of stream")
		} else {
			require.ErrorIs(t, err, syscall.ECONNRESET)
		}
		require.NoError(t, good.roundTrip([]byte("after")))
	})
}

func TestServerServeEnds(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		// Close: Serve returns nil, open conns get OnClose(nil).
		h := newHandler(nil)
		s, err := eloop.Listen(k, "127.0.0.1:0", h, eloop.ServerOptions{Loops: 2})
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- s.Serve(context.Background()) }()
		c := dial(t, k, s, 0)
		require.NoError(t, c.roundTrip([]byte("x")))
		require.NoError(t, s.Close())
		require.NoError(t, recv(t, done))
		require.NoError(t, recv(t, h.closes))
		require.ErrorIs(t, s.Close(), net.ErrClosed)
		require.ErrorIs(t, s.Serve(context.Background()), net.ErrClosed)
		c.close()

		// Cancel: Serve returns ctx.Err().
		s, err = eloop.Listen(k, "127.0.0.1:0", h, eloop.ServerOptions{Loops: 2})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { done <- s.Serve(ctx) }()
		c = dial(t, k, s, 0)
		require.NoError(t, c.roundTrip([]byte("y")))
		cancel()
		require.ErrorIs(t, recv(t, done), context.Canceled)
		require.NoError(t, recv(t, h.closes))
		require.NoError(t, s.Close())
		c.close()

		// Close before Serve releases the server.
		s, err = eloop.Listen(k, "127.0.0.1:0", h, eloop.ServerOptions{Loops: 2})
		require.NoError(t, err)
		require.NoError(t, s.Close())
		require.ErrorIs(t, s.Serve(context.Background()), net.ErrClosed)
	})
}

func TestServerFaults(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		// On io_uring the reads and accepts are the kernel's, out of the
		// injector's reach: its io_uring_enter calls fail instead.
		faults := []sys.Fault{
			{Trap: unix.SYS_EPOLL_PWAIT, Probability: 0.3, Errno: unix.EINTR},
			{Trap: unix.SYS_READ, Probability: 0.3, Errno: unix.EAGAIN},
			{Trap: unix.SYS_ACCEPT4, Count: 3, Errno: unix.ENOMEM},
		}
		if backend == "uring" {
			faults = enterFaults(backend)
		}
		in, err := sys.NewInjector(k, 11, faults...)
		require.NoError(t, err)
		h := newHandler(nil)
		s, done := startServer(t, in, h, eloop.ServerOptions{Loops: 2})
		const conns, msgs = 20, 10
		var wg sync.WaitGroup
		errs := make(chan error, conns)
		for i := range conns {
			wg.Go(func() {
				c, err := dialErr(k, s, 0)
				if err != nil {
					errs <- err
					return
				}
				defer c.close()
				for m := range msgs {
					if err := c.roundTrip(pattern(100+m*500, i, m)); err != nil {
						errs <- fmt.Errorf("conn %d message %d: %w", i, m, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		fired := map[int]bool{}
		for _, inj := range in.Fired() {
			fired[inj.Fault] = true
		}
		if backend == "uring" {
			require.Zero(t, s.AcceptErrors())
			require.True(t, fired[0], "EINTR in io_uring_enter")
			require.GreaterOrEqual(t, len(fired), 2, "and a busy errno")
		} else {
			require.EqualValues(t, 3, s.AcceptErrors())
			require.Equal(t, map[int]bool{0: true, 1: true, 2: true}, fired)
		}
		select {
		case err := <-done:
			t.Fatalf("Serve returned: %v", err)
		default:
		}
	})
}

// actionHandler returns the Action its OnData is told by the message:
// "close" closes the connection after echoing, "shutdown" stops the
// server; each connection counts its messages in its user data. Embedding
// BuiltinHandler gives it OnOpen; closes reports OnClose.
type actionHandler struct {
	eloop.BuiltinHandler
	closes chan int // the message count of each closed connection
}

func (h *actionHandler) OnData(c *eloop.Conn, p []byte) eloop.Action {
	n, _ := c.UserData().(int)
	c.SetUserData(n + 1)
	c.Write(p)
	switch string(p) {
	case "close":
		return eloop.Close
	case "shutdown":
		return eloop.Shutdown
	}
	return eloop.None
}

func (h *actionHandler) OnClose(c *eloop.Conn, err error) eloop.Action {
	n, _ := c.UserData().(int)
	h.closes <- n
	return eloop.Close // the same as None here
}

func TestServerActions(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		h := &actionHandler{closes: make(chan int, 16)}
		s, err := eloop.Listen(k, "127.0.0.1:0", h, eloop.ServerOptions{Loops: 1})
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- s.Serve(context.Background()) }()
		defer s.Close() // on failure; after Shutdown it says ErrClosed

		// Close: the echo arrives, then end of stream; OnClose sees the
		// user data the connection's two OnData calls left.
		c := dial(t, k, s, 0)
		require.NoError(t, c.roundTrip([]byte("hello")))
		require.NoError(t, c.roundTrip([]byte("close")))
		var b [1]byte
		n, err := c.lc.Read(c.fd, b[:])
		require.NoError(t, err)
		require.Zero(t, n, "expected end of stream after Close")

		require.Equal(t, 2, recv(t, h.closes))
		c.close()

		// Shutdown: Serve returns nil and the other connection is closed.
		other := dial(t, k, s, 0)
		defer other.close()
		require.NoError(t, other.roundTrip([]byte("hi")))
		c = dial(t, k, s, 0)
		defer c.close()
		require.NoError(t, c.roundTrip([]byte("shutdown")))
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(failAfter):
			t.Fatal("Serve did not return after Shutdown")
		}
		got := []int{recv(t, h.closes), recv(t, h.closes)}
		require.ElementsMatch(t, []int{1, 1}, got)
	})
}
