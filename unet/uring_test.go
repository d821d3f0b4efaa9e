package unet_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

// requireUringClean checks that s's io_uring dispatchers, if it has any,
// never saw a completion for an operation they did not know (none
// handled twice, none for a closed socket) and closed their rings with
// nothing in flight (none leaked); on epoll it checks s has none.
func requireUringClean(t *testing.T, s *unet.Stack, backend string) {
	t.Helper()
	st := unet.UringStats(s)
	if backend == "uring" {
		require.NotZero(t, st.Rings, "the Stack ran on io_uring: %v", s.Backend())
	} else {
		require.Zero(t, st.Rings, "the Stack ran on epoll: %v", s.Backend())
	}
	require.Zero(t, st.Stale, "completions for operations that had ended")
	require.Zero(t, st.Leaked, "operations in flight when a ring closed")
}

// TestCancelStorm closes sockets while reads, accepts and writes are
// blocked in them, some with deadlines firing meanwhile, on every
// backend: each blocked call returns net.ErrClosed or
// os.ErrDeadlineExceeded, data sent before a deadline is read after it,
// and afterwards no goroutine, fd or io_uring operation is left.
func TestCancelStorm(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		kerneltest.CheckFDs(t, k)
		goroutines0 := goleak.IgnoreCurrent()
		s, err := unet.New(k, unet.Options{})
		require.NoError(t, err)
		ln, err := s.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)

		// Deadlines firing with the poll in flight, then data: the
		// socket stays usable and nothing is lost.
		c1, c2, err := connPair(t, ln, func() (net.Conn, error) { return s.Dial("tcp4", ln.Addr().String()) })
		require.NoError(t, err)
		buf := make([]byte, 16)
		for range 20 {
			require.NoError(t, c2.SetReadDeadline(time.Now().Add(time.Millisecond)))
			_, err = c2.Read(buf)
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		}
		require.NoError(t, c2.SetReadDeadline(time.Time{}))
		_, err = c1.Write([]byte("after"))
		require.NoError(t, err)
		n, err := io.ReadAtLeast(c2, buf, 5)
		require.NoError(t, err)
		require.Equal(t, "after", string(buf[:n]))
		c1.Close()
		c2.Close()

		// The storm: 100 pairs, a blocked Read on every socket, a
		// blocked Write on some (the peer never reads), a blocked Accept;
		// half the reads have deadlines that fire while it goes on.
		const pairs = 100
		var conns []net.Conn
		for range pairs {
			a, b, err := connPair(t, ln, func() (net.Conn, error) { return s.Dial("tcp4", ln.Addr().String()) })
			require.NoError(t, err)
			conns = append(conns, a, b)
		}
		errs := make(chan error, 4*len(conns)+1)
		var wg sync.WaitGroup
		for i, c := range conns {
			if i%8 == 0 {
				// A writer whose peer (conns[i+1]) never reads; when
				// the peer is closed first, the write fails with a reset
				// or a broken pipe instead.
				wg.Go(func() {
					_, err := c.Write(make([]byte, 8<<20)) // more than the buffers hold
					errs <- peerClosedFirst(err)
				})
			}
			if i%8 == 1 {
				continue
			}
			if i%4 == 2 {
				require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Duration(i%7)*time.Millisecond)))
			}
			wg.Go(func() {
				_, err := c.Read(make([]byte, 64))
				errs <- peerClosedFirst(err)
			})
		}
		wg.Go(func() { _, err := ln.Accept(); errs <- err })
		time.Sleep(20 * time.Millisecond) // let the calls block
		var closers sync.WaitGroup
		for _, c := range conns {
			closers.Go(func() { c.Close() })
		}
		closers.Go(func() { ln.Close() })
		closers.Wait()
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("a blocked call returned %v, want net.ErrClosed or a deadline", err)
			}
		}
		require.NoError(t, s.Close())
		requireUringClean(t, s, backend)
		require.NoError(t, goleak.Find(goroutines0))
	})
}

// peerClosedFirst maps the errors of a call whose peer was closed before
// its own socket (end of stream, a reset, a broken pipe) to
// net.ErrClosed: the storm closes both ends at once.
func peerClosedFirst(err error) error {
	if err == io.EOF || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		return net.ErrClosed
	}
	return err
}

// echoPairs echoes msgs messages of size bytes over conns pairs of s,
// each checked, and returns an error on the first difference.
func echoPairs(t *testing.T, s *unet.Stack, conns, msgs, size int) error {
	t.Helper()
	ln, err := s.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 2*conns)
	for i := range conns {
		a, b, err := connPair(t, ln, func() (net.Conn, error) { return s.Dial("tcp4", ln.Addr().String()) })
		if err != nil {
			return err
		}
		wg.Go(func() { // the server: echo until EOF
			defer b.Close()
			_, err := io.Copy(b, readerOnly{b})
			errs <- err
		})
		wg.Go(func() {
			defer a.Close()
			want, got := make([]byte, size), make([]byte, size)
			for m := range msgs {
				for j := range want {
					want[j] = byte(i*31 + m*7 + j)
				}
				if _, err := a.Write(want); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(a, got); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(want, got) {
					errs <- fmt.Errorf("conn %d message %d: bytes differ", i, m)
					return
				}
			}
			errs <- nil
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// readerOnly hides a conn's WriterTo, so io.Copy reads and writes.
type readerOnly struct{ io.Reader }

// TestUringEnterFaults fails io_uring_enter the ways the kernel may
// (EINTR, EAGAIN, EBUSY, ENOMEM) while connections echo: every byte comes
// back, and no completion is lost, handled twice or left in flight.
func TestUringEnterFaults(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		if backend != "uring" {
			t.Logf("io_uring_enter faults: only the io_uring backend makes the call")
			return
		}
		kerneltest.CheckFDs(t, k)
		s, sw := faulty(t, k,
			sys.Fault{Trap: unix.SYS_IO_URING_ENTER, Probability: 0.3, Errno: unix.EINTR},
			sys.Fault{Trap: unix.SYS_IO_URING_ENTER, Probability: 0.1, Count: 20, Errno: unix.EAGAIN},
			sys.Fault{Trap: unix.SYS_IO_URING_ENTER, Probability: 0.1, Count: 20, Errno: unix.EBUSY},
			sys.Fault{Trap: unix.SYS_IO_URING_ENTER, Probability: 0.1, Count: 20, Errno: unix.ENOMEM})
		require.Equal(t, aio.Uring, s.Backend().Backend, "%v", s.Backend())
		sw.on.Store(true)
		err := echoPairs(t, s, 16, 50, 4096)
		sw.on.Store(false)
		require.NoError(t, err)
		require.NotEmpty(t, sw.inj.Fired())
		require.NoError(t, s.Close())
		requireUringClean(t, s, backend)
	})
}

// TestUringTinyRing runs 64 echoing connections through a dispatcher
// whose ring has 2 submission and 4 completion entries: submissions wait
// for room, completions overflow and are flushed, and every byte still
// comes back.
func TestUringTinyRing(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		if backend != "uring" {
			t.Logf("a tiny ring: only the io_uring backend has one")
			return
		}
		defer unet.SetUringConfig(aio.RingConfig{Entries: 2, CQEntries: 4, SingleIssuer: true})()
		s, err := unet.New(k, unet.Options{})
		require.NoError(t, err)
		require.NoError(t, echoPairs(t, s, 64, 20, 1024))
		require.NoError(t, s.Close())
		requireUringClean(t, s, backend)
		t.Logf("overflow flushes: %d", unet.UringStats(s).Overflows)
	})
}

// TestBackendChoice: a Stack takes io_uring only when GOKERNEL_AIO=uring
// asks and the kernel has it; auto and unset are epoll, and LKL is epoll
// whatever is asked, each with its reason.
func TestBackendChoice(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		for _, want := range []string{"", "auto", "epoll", "uring"} {
			t.Setenv(aio.EnvBackend, want)
			s, err := unet.New(k, unet.Options{})
			require.NoError(t, err)
			c := s.Backend()
			require.NoError(t, s.Close())
			require.NotEmpty(t, c.Reason)
			if want == "uring" && sys.IsHost(k) {
				require.Equal(t, aio.Uring, c.Backend, "%v", c)
			} else {
				require.Equal(t, aio.Epoll, c.Backend, "GOKERNEL_AIO=%q: %v", want, c)
			}
		}
	})
}
