package eloop_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// The backend follows GOKERNEL_AIO and Options.Backend, and LKL is
// always epoll, saying why.
func TestLoopBackend(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		l, _ := startLoop(t, k, eloop.Options{})
		// Once a task has run, Run has set the ring up (or fallen back).
		done := make(chan struct{})
		require.NoError(t, l.Post(func() { close(done) }))
		recv(t, done)
		c := l.Backend()
		require.Equal(t, backend, c.Backend.String(), c.Reason)
		if kerneltest.Differs(t, k, "lkl", "no io_uring on Linux 4.9: epoll, whatever is asked") {
			l2, err := eloop.New(k, eloop.Options{Backend: aio.Uring})
			require.NoError(t, err)
			require.Equal(t, aio.Epoll, l2.Backend().Backend)
			require.Contains(t, l2.Backend().Reason, "not the host")
			l2.Stop()
			require.NoError(t, l2.Run(t.Context()))
			return
		}
		other := aio.Uring
		if backend == "uring" {
			other = aio.Epoll
		}
		l2, _ := startLoop(t, k, eloop.Options{Backend: other})
		require.Equal(t, other, l2.Backend().Backend, "Options.Backend wins over GOKERNEL_AIO")
	})
}

// A ring far too small for the load: the submission queue fills (the
// loop submits and goes on) and the completion queue overflows (the
// kernel holds completions back and the loop flushes them); every byte
// still comes back, and no completion is lost or handled twice.
func TestUringTinyRing(t *testing.T) {
	eloop.SetRingSize(t, 2, 4)
	t.Setenv(kerneltest.EnvBackend, "uring")
	k := sys.Host()
	kerneltest.CheckFDs(t, k)
	// Every connection's message is in flight at once, so one turn has
	// more completions than the queue holds.
	overflows := echoServer(t, k, 64, 20, 512)
	require.Positive(t, overflows, "the completion queue overflowed")
	t.Logf("%d overflow flushes", overflows)
}

// stormHandler echoes, and closes some connections itself: from OnData
// (Close action) or from another goroutine (Post). It checks that every
// opened connection is closed exactly once.
type stormHandler struct {
	eloop.BuiltinHandler
	mu     sync.Mutex
	open   map[*eloop.Conn]int // data callbacks so far
	closed map[*eloop.Conn]bool
	twice  atomic.Int64
	posted atomic.Int64
}

func (h *stormHandler) OnOpen(c *eloop.Conn) eloop.Action {
	h.mu.Lock()
	h.open[c] = 0
	h.mu.Unlock()
	return eloop.None
}

func (h *stormHandler) OnData(c *eloop.Conn, p []byte) eloop.Action {
	h.mu.Lock()
	h.open[c]++
	n := h.open[c]
	h.mu.Unlock()
	c.Write(p) // an error means closing; OnClose follows
	switch port := c.RemoteAddr().Port(); {
	case port%3 == 0 && n == 1:
		return eloop.Close
	case port%3 == 1 && n == 1:
		h.posted.Add(1)
		go func() {
			time.Sleep(time.Millisecond)
			c.Loop().Post(func() { c.Close() })
		}()
	}
	return eloop.None
}

func (h *stormHandler) OnClose(c *eloop.Conn, err error) eloop.Action {
	h.mu.Lock()
	if h.closed[c] {
		h.twice.Add(1)
	}
	h.closed[c] = true
	h.mu.Unlock()
	return eloop.None
}

// A cancellation storm: clients stream data while the server closes
// their connections (from OnData, from other goroutines) and while they
// reset theirs, so receives and sends are in flight at every close. Each
// connection is closed once, no completion is stale, no fd leaks, and
// the server serves on.
func TestServerCloseStorm(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		kerneltest.CheckFDs(t, k)
		h := &stormHandler{open: map[*eloop.Conn]int{}, closed: map[*eloop.Conn]bool{}}
		s, wait := serve(t, k, h, eloop.ServerOptions{Loops: 2})
		const conns, writes = 150, 5000
		var wg sync.WaitGroup
		for i := range conns {
			wg.Go(func() {
				c, err := dialErr(k, s, 0)
				if err != nil {
					t.Error(err)
					return
				}
				defer c.close()
				var rd sync.WaitGroup
				rd.Go(func() { // drain the echo until the server or we end it
					buf := make([]byte, 4096)
					for {
						if n, err := c.lc.Read(c.fd, buf); err != nil || n == 0 {
							return
						}
					}
				})
				sa, err := c.lc.Getsockname(c.fd)
				if err != nil {
					t.Error(err)
					return
				}
				// The server closes the connections of ports 0 and 1
				// modulo 3 (stormHandler); these clients write on until
				// that fails. The others write a few times, then reset.
				reset := libgo.AddrPort(sa).Port()%3 == 2
				msg := pattern(1000, i, 0)
				for w := range writes {
					if reset && w == 10 {
						// A reset with the server's receive in flight.
						c.lc.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
						break
					}
					if c.write(msg) != nil {
						break // the server closed it
					}
				}
				c.lc.Shutdown(c.fd, unix.SHUT_RDWR)
				rd.Wait()
			})
		}
		wg.Wait()
		// Every connection ends; then the server still echoes.
		deadline := time.Now().Add(failAfter)
		for {
			h.mu.Lock()
			opened, closed := len(h.open), len(h.closed)
			h.mu.Unlock()
			if opened == conns && closed == conns {
				break
			}
			require.True(t, time.Now().Before(deadline), "%d opened, %d closed of %d", opened, closed, conns)
			time.Sleep(time.Millisecond)
		}
		c := dial(t, k, s, 0)
		require.NoError(t, c.roundTrip([]byte("still there")))
		c.close()
		require.NoError(t, s.Close())
		require.NoError(t, wait())
		require.Zero(t, h.twice.Load(), "OnClose twice")
		require.Positive(t, h.posted.Load())
		stale, _, cancels := s.RingStats()
		require.Zero(t, stale, "stale completions")
		// How many closes find a receive in flight depends on timing
		// (TestServerCloseIdle makes every one do).
		t.Logf("%d cancellations of operations in flight", cancels)
		requireBackendAfter(t, s, backend)
	})
}

// requireBackendAfter is requireBackend for a server that has stopped.
func requireBackendAfter(t *testing.T, s *eloop.Server, backend string) {
	t.Helper()
	var errs []error
	for _, l := range s.Loops() {
		if got := l.Backend().Backend.String(); got != backend {
			errs = append(errs, fmt.Errorf("loop on %s, not %s", got, backend))
		}
	}
	require.NoError(t, errors.Join(errs...))
}

// serve is startServer for tests that wait for Serve themselves: wait
// returns Serve's result (after a Close), as the cleanup does.
func serve(t *testing.T, k sys.Kernel, h eloop.Handler, opts eloop.ServerOptions) (*eloop.Server, func() error) {
	t.Helper()
	s, err := eloop.Listen(k, "127.0.0.1:0", h, opts)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(t.Context()) }()
	var once sync.Once
	var res error
	wait := func() error {
		once.Do(func() {
			select {
			case res = <-done:
			case <-time.After(failAfter):
				res = errors.New("Serve did not return after Close")
			}
		})
		return res
	}
	t.Cleanup(func() {
		s.Close()
		if err := wait(); err != nil {
			t.Error(err)
		}
	})
	return s, wait
}

// Closing idle connections from another goroutine: each has its receive
// in flight, which the close cancels and reaps before the fd is closed
// and OnClose called; the peers see the end of the stream.
func TestServerCloseIdle(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		kerneltest.CheckFDs(t, k)
		const conns = 100
		h := &testHandler{opens: make(chan *eloop.Conn, conns), closes: make(chan error, conns)}
		s, wait := serve(t, k, h, eloop.ServerOptions{Loops: 2})
		cs := make([]*client, conns)
		for i := range cs {
			cs[i] = dial(t, k, s, 0)
			defer cs[i].close()
			require.NoError(t, cs[i].roundTrip(pattern(100, i, 0)))
		}
		for range conns {
			c := recv(t, h.opens)
			require.NoError(t, c.Loop().Post(func() { require.NoError(t, c.Close()) }))
		}
		for range conns {
			require.NoError(t, recv(t, h.closes))
		}
		var b [1]byte
		for _, c := range cs {
			n, err := c.lc.Read(c.fd, b[:])
			require.NoError(t, err)
			require.Zero(t, n, "end of stream")
		}
		require.NoError(t, s.Close())
		require.NoError(t, wait())
		stale, _, cancels := s.RingStats()
		require.Zero(t, stale)
		if backend == "uring" {
			require.GreaterOrEqual(t, cancels, conns, "each close cancelled the receive in flight")
		}
	})
}

// A client that sends much more than the sockets hold before it reads:
// the server's echoes fill the socket and are sent in parts (on io_uring,
// some from lent provided buffers whose rest moves to Go memory), and
// every byte comes back in order.
func TestServerEchoBackpressure(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		h := newHandler(nil)
		s, _ := startServer(t, k, h, eloop.ServerOptions{Loops: 1})
		c := dial(t, k, s, 32<<10)
		defer c.close()
		const total = 4 << 20
		msg := pattern(total, 1, 2)
		wrote := make(chan error, 1)
		go func() { wrote <- c.write(msg) }()
		time.Sleep(50 * time.Millisecond) // let the server's sends fill the socket
		got := make([]byte, total)
		require.NoError(t, c.readFull(got))
		require.NoError(t, recv(t, wrote))
		require.True(t, bytes.Equal(msg, got), "echo differs")
	})
}

// Each optional ring feature GOKERNEL_URING turns on (and them
// together) serves as the defaults do: every byte back, no stale
// completion; an unknown name is Serve's error, naming the variable.
func TestUringFeatures(t *testing.T) {
	t.Setenv(kerneltest.EnvBackend, "uring")
	k := sys.Host()
	for _, features := range []string{"regring", "nosqarray", "sqpoll", "pollfirst", "yield", "regring,nosqarray,pollfirst", "-regring,-nosqarray,-sqpoll,-pollfirst,-yield"} {
		t.Run(features, func(t *testing.T) {
			t.Setenv(eloop.EnvUring, features)
			kerneltest.CheckFDs(t, k)
			echoServer(t, k, 16, 20, 1000)
		})
	}
	t.Run("unknown", func(t *testing.T) {
		t.Setenv(eloop.EnvUring, "regring,fast")
		s, err := eloop.Listen(k, "127.0.0.1:0", newHandler(nil), eloop.ServerOptions{Loops: 1})
		require.NoError(t, err)
		err = s.Serve(t.Context())
		require.ErrorContains(t, err, `GOKERNEL_URING="regring,fast": unknown feature "fast"`)
		s.Close()
	})
}

// echoAll dials conns connections to s and sends msgs messages of size
// bytes on each, every connection's message in flight at once, checking
// every byte of every echo.
func echoAll(t *testing.T, k sys.Kernel, s *eloop.Server, conns, msgs, size int) {
	t.Helper()
	cs := make([]*client, conns)
	for i := range cs {
		cs[i] = dial(t, k, s, 0)
		defer cs[i].close()
	}
	for m := range msgs {
		for i, c := range cs {
			require.NoError(t, c.write(pattern(size, i, m)))
		}
		for i, c := range cs {
			got := make([]byte, size)
			require.NoError(t, c.readFull(got), "conn %d message %d", i, m)
			require.Equal(t, pattern(size, i, m), got)
		}
	}
}

// echoServer runs an echo server of one loop on the backend asked for
// through echoAll, closes it, requires that no completion was stale, and
// returns its ring's overflow flushes.
func echoServer(t *testing.T, k sys.Kernel, conns, msgs, size int) (overflows uint64) {
	t.Helper()
	s, wait := serve(t, k, newHandler(nil), eloop.ServerOptions{Loops: 1})
	echoAll(t, k, s, conns, msgs, size)
	requireBackend(t, s)
	require.NoError(t, s.Close())
	require.NoError(t, wait())
	stale, overflows, _ := s.RingStats()
	require.Zero(t, stale)
	return overflows
}
