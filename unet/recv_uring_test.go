package unet_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

// onUring runs f with a Stack on the host's io_uring backend only: the
// completion-based receive exists nowhere else.
func onUring(t *testing.T, f func(t *testing.T, s *unet.Stack)) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		if backend != "uring" {
			t.Logf("the completion-based receive: only the io_uring backend has it")
			return
		}
		kerneltest.CheckFDs(t, k)
		defer unet.SetUringRecvBufs(0, 0)()
		s, err := unet.New(k, unet.Options{})
		require.NoError(t, err)
		f(t, s)
		require.NoError(t, s.Close())
		requireUringClean(t, s, backend)
	})
}

// tcpPair returns a dialed and an accepted conn of s, closed (if they
// are not yet) when the test ends.
func tcpPair(t *testing.T, s *unet.Stack) (client, server *unet.TCPConn) {
	ln, err := s.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	a, b, err := connPair(t, ln, func() (net.Conn, error) { return s.Dial("tcp4", ln.Addr().String()) })
	require.NoError(t, err)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*unet.TCPConn), b.(*unet.TCPConn)
}

// startRecv makes c's receive start: a Read that finds c empty (its
// deadline ends it).
func startRecv(t *testing.T, c *unet.TCPConn) {
	require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Millisecond)))
	_, err := c.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	require.Equal(t, "on", unet.RecvMode(c))
}

// TestUringRecv: a Read that finds its conn empty starts the receive;
// later bytes arrive by completion, in order, then the peer's EOF after
// them, and the buffers go back.
func TestUringRecv(t *testing.T) {
	onUring(t, func(t *testing.T, s *unet.Stack) {
		a, b := tcpPair(t, s)
		startRecv(t, b)
		got := make(chan []byte, 1)
		go func() {
			all, err := io.ReadAll(b)
			if err != nil {
				all = []byte(err.Error())
			}
			got <- all
		}()
		var want []byte
		for i := range 100 {
			msg := bytes.Repeat([]byte{byte(i)}, 1+i*97)
			want = append(want, msg...)
			_, err := a.Write(msg)
			require.NoError(t, err)
		}
		require.NoError(t, a.Close())
		require.Equal(t, want, <-got, "the bytes, then EOF")
		require.Equal(t, "on", unet.RecvMode(b))
		require.NotZero(t, unet.UringStats(s).Recycled, "buffers given back")
		n, err := b.Read(make([]byte, 4))
		require.Equal(t, 0, n)
		require.Equal(t, io.EOF, err, "EOF stays")
	})
}

// TestUringRecvShortRead: a Read that takes fewer bytes than it asked
// for (all there was) starts the receive too, as one that finds nothing
// does; the next bytes arrive by completion.
func TestUringRecvShortRead(t *testing.T) {
	onUring(t, func(t *testing.T, s *unet.Stack) {
		a, b := tcpPair(t, s)
		buf := make([]byte, 16)
		for i := range 3 {
			_, err := a.Write([]byte{byte(i)})
			require.NoError(t, err)
			n, err := b.Read(buf)
			require.NoError(t, err)
			require.Equal(t, []byte{byte(i)}, buf[:n])
			require.Equal(t, "on", unet.RecvMode(b), "message %d", i)
		}
	})
}

// TestUringRecvDeadline: read deadlines fire while the receive is armed,
// and the bytes sent afterwards are read.
func TestUringRecvDeadline(t *testing.T) {
	onUring(t, func(t *testing.T, s *unet.Stack) {
		a, b := tcpPair(t, s)
		buf := make([]byte, 8)
		for i := range 20 {
			require.NoError(t, b.SetReadDeadline(time.Now().Add(time.Millisecond)))
			_, err := b.Read(buf)
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			require.Equal(t, "on", unet.RecvMode(b), "round %d", i)
			_, err = a.Write([]byte{byte(i)})
			require.NoError(t, err)
			require.NoError(t, b.SetReadDeadline(time.Time{}))
			n, err := b.Read(buf)
			require.NoError(t, err)
			require.Equal(t, []byte{byte(i)}, buf[:n])
		}
	})
}

// TestUringRecvCloseHeld closes conns whose queues hold buffers, some
// with a Read blocked in another conn: the buffers go back, nothing stays
// in flight.
func TestUringRecvCloseHeld(t *testing.T) {
	onUring(t, func(t *testing.T, s *unet.Stack) {
		for range 20 {
			a, b := tcpPair(t, s)
			startRecv(t, a)
			one := make([]byte, 1)
			require.NoError(t, b.SetReadDeadline(time.Now().Add(time.Millisecond)))
			_, err := b.Read(one) // empty: starts the receive
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			require.NoError(t, b.SetReadDeadline(time.Time{}))
			for range 4 {
				_, err := a.Write(make([]byte, 1000))
				require.NoError(t, err)
			}
			_, err = io.ReadFull(b, one) // the rest stays queued
			require.NoError(t, err)
			blocked := make(chan error, 1)
			go func() {
				_, err := a.Read(one)
				blocked <- err
			}()
			require.NoError(t, b.Close()) // its receive armed, buffers queued
			require.NoError(t, a.Close())
			if err := <-blocked; err != io.EOF { // b's close, or a's
				require.ErrorIs(t, err, net.ErrClosed)
			}
		}
	})
}

// TestUringRecvExhausted runs the provided buffer ring dry (2 buffers of
// 64 bytes for 8 conns sending 64 KiB each before their peers read):
// receives end with ENOBUFS, their conns go back to read(2) after what
// was queued, and every byte arrives in order.
func TestUringRecvExhausted(t *testing.T) {
	defer unet.SetUringRecvBufs(2, 64)()
	onUring(t, func(t *testing.T, s *unet.Stack) {
		const conns, size = 8, 64 << 10
		type pair struct{ a, b *unet.TCPConn }
		var pairs []pair
		for range conns {
			a, b := tcpPair(t, s)
			pairs = append(pairs, pair{a, b})
			require.NoError(t, b.SetReadDeadline(time.Now().Add(time.Millisecond)))
			_, err := b.Read(make([]byte, 1))
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			require.NoError(t, b.SetReadDeadline(time.Time{}))
		}
		errs := make(chan error, conns)
		for i, p := range pairs {
			want := make([]byte, size)
			for j := range want {
				want[j] = byte(i*7 + j*13)
			}
			go func() {
				_, err := p.a.Write(want)
				p.a.Close()
				errs <- err
			}()
			go func() {
				got, err := io.ReadAll(p.b)
				p.b.Close()
				if err == nil && !bytes.Equal(got, want) {
					err = errors.New("bytes differ")
				}
				errs <- err
			}()
		}
		for range 2 * conns {
			require.NoError(t, <-errs)
		}
		require.NotZero(t, unet.UringStats(s).Starved, "the ring ran dry")
	})
}

// TestUringRecvFaults fails the arming of receives: EINVAL (a kernel
// without multishot receive) and ENOBUFS turn the conn back to read(2)
// with its bytes intact; ECONNRESET is the next Read's error.
func TestUringRecvFaults(t *testing.T) {
	for _, errno := range []syscall.Errno{unix.EINVAL, unix.ENOBUFS, unix.ECONNRESET} {
		t.Run(errno.Error(), func(t *testing.T) {
			var fired atomic.Int32
			defer unet.SetUringRecvFault(func() error {
				fired.Add(1)
				return errno
			})()
			onUring(t, func(t *testing.T, s *unet.Stack) {
				a, b := tcpPair(t, s)
				defer a.Close()
				defer b.Close()
				// An empty Read starts the receive, whose arming fails.
				require.NoError(t, b.SetReadDeadline(time.Now().Add(time.Millisecond)))
				_, err := b.Read(make([]byte, 1))
				if errno == unix.ECONNRESET && !errors.Is(err, os.ErrDeadlineExceeded) {
					require.ErrorIs(t, err, unix.ECONNRESET) // the failed receive's, before the deadline
				} else {
					require.ErrorIs(t, err, os.ErrDeadlineExceeded)
				}
				require.NoError(t, b.SetReadDeadline(time.Time{}))
				_, err = a.Write([]byte("hello"))
				require.NoError(t, err)
				buf := make([]byte, 5)
				_, err = io.ReadFull(b, buf)
				require.NotZero(t, fired.Load())
				if errno == unix.ECONNRESET {
					require.ErrorIs(t, err, unix.ECONNRESET)
					return
				}
				require.NoError(t, err)
				require.Equal(t, "hello", string(buf))
				require.Equal(t, "off", unet.RecvMode(b))
			})
		})
	}
}

// TestUringRecvRaw: a raw read on a conn whose receive is on stops the
// receive and reads the socket itself; a splice from such a conn copies
// through Read; neither loses or reorders a byte.
func TestUringRecvRaw(t *testing.T) {
	onUring(t, func(t *testing.T, s *unet.Stack) {
		a, b := tcpPair(t, s)
		require.NoError(t, b.SetReadDeadline(time.Now().Add(time.Millisecond)))
		_, err := b.Read(make([]byte, 1))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		require.NoError(t, b.SetReadDeadline(time.Time{}))
		require.Equal(t, "on", unet.RecvMode(b))

		// A splice from b: through Read.
		c, d := tcpPair(t, s)
		_, err = a.Write([]byte("spliced"))
		require.NoError(t, err)
		n, err := c.ReadFrom(io.LimitReader(b, 7))
		require.NoError(t, err)
		require.EqualValues(t, 7, n)
		got := make([]byte, 7)
		_, err = io.ReadFull(d, got)
		require.NoError(t, err)
		require.Equal(t, "spliced", string(got))

		// A raw read with bytes queued would skip them: refused.
		rc, err := b.SyscallConn()
		require.NoError(t, err)
		_, err = a.Write([]byte("q"))
		require.NoError(t, err)
		_, err = io.ReadFull(b, make([]byte, 1)) // waits for it, then the queue holds none
		require.NoError(t, err)
		_, err = a.Write([]byte("queued"))
		require.NoError(t, err)
		for {
			err = rc.Read(func(uintptr) bool { return true })
			if err != nil || unet.RecvMode(b) == "off" {
				break
			}
		}
		if err != nil { // "queued" had arrived: the raw read is refused, Read has it
			require.ErrorContains(t, err, "raw read on a conn holding received bytes")
			got := make([]byte, 6)
			_, err = io.ReadFull(b, got)
			require.NoError(t, err)
			require.Equal(t, "queued", string(got))
			require.NoError(t, rc.Read(func(uintptr) bool { return true }))
		} else { // it had not: it comes to the socket, after the receive's stop
			got := make([]byte, 6)
			_, err = io.ReadFull(b, got)
			require.NoError(t, err)
			require.Equal(t, "queued", string(got))
		}
		require.Equal(t, "off", unet.RecvMode(b))

		// A raw read once the receive has stopped reads the socket.
		_, err = a.Write([]byte("raw"))
		require.NoError(t, err)
		var rerr error
		var rn int
		raw := make([]byte, 3)
		require.NoError(t, rc.Read(func(fd uintptr) bool {
			m, err := unix.Read(int(fd), raw[rn:])
			if m > 0 {
				rn += m
			}
			if err != unix.EAGAIN {
				rerr = err
			}
			return rerr != nil || rn == 3
		}))
		require.NoError(t, rerr)
		require.Equal(t, "raw", string(raw))
		require.Equal(t, "off", unet.RecvMode(b))
	})
}
