package unet_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

// requireTimeout checks err is a deadline error as net gives it.
func requireTimeout(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "%v: Timeout() false", err)
	var oe *net.OpError
	require.True(t, errors.As(err, &oe), "%T is not *net.OpError", err)
}

// heldPort returns an address on 127.0.0.1 whose port a socket of type
// typ on k holds until the test ends: bound without SO_REUSEADDR, so no
// other socket can take the port (as one could take a closed listener's),
// and unreachable: a TCP socket that does not listen answers a connect
// with RST (ECONNREFUSED), and a UDP socket connected elsewhere drops a
// datagram from anyone else with ICMP port unreachable.
func heldPort(t *testing.T, k sys.Kernel, typ int) string {
	t.Helper()
	lc := libgo.New(k)
	fd, err := lc.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { lc.Close(fd) })
	require.NoError(t, lc.Bind(fd, &libgo.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	if typ == unix.SOCK_DGRAM {
		require.NoError(t, lc.Connect(fd, &libgo.SockaddrInet4{Port: 9, Addr: [4]byte{127, 0, 0, 1}}))
	}
	sa, err := lc.Getsockname(fd)
	require.NoError(t, err)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*libgo.SockaddrInet4).Port))
}

// TestSemantics checks deadlines, Close and errors against net's rules.
func TestSemantics(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, _ string) {
		s := newStack(t, k)
		ln, err := s.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		pair := func(t *testing.T) (*unet.TCPConn, *unet.TCPConn) {
			c1, c2, err := connPair(t, ln, func() (net.Conn, error) { return s.Dial("tcp", ln.Addr().String()) })
			require.NoError(t, err)
			t.Cleanup(func() { c1.Close(); c2.Close() })
			return c1.(*unet.TCPConn), c2.(*unet.TCPConn)
		}
		cases := []struct {
			name string
			f    func(t *testing.T)
		}{
			{"past-deadline-then-reset", func(t *testing.T) {
				c1, c2 := pair(t)
				_, err := c2.Write([]byte("x")) // data is there, yet a past deadline wins
				require.NoError(t, err)
				time.Sleep(10 * time.Millisecond)
				require.NoError(t, c1.SetReadDeadline(time.Now().Add(-time.Second)))
				_, err = c1.Read(make([]byte, 1))
				requireTimeout(t, err)
				require.NoError(t, c1.SetReadDeadline(time.Time{}))
				n, err := c1.Read(make([]byte, 1))
				require.NoError(t, err)
				require.Equal(t, 1, n)
			}},
			{"deadline-unblocks", func(t *testing.T) {
				c1, _ := pair(t)
				done := make(chan error, 1)
				go func() { _, err := c1.Read(make([]byte, 1)); done <- err }()
				time.Sleep(20 * time.Millisecond)
				require.NoError(t, c1.SetDeadline(time.Now()))
				requireTimeout(t, <-done)
			}},
			{"close-unblocks-read", func(t *testing.T) {
				c1, _ := pair(t)
				done := make(chan error, 1)
				go func() { _, err := c1.Read(make([]byte, 1)); done <- err }()
				time.Sleep(20 * time.Millisecond)
				require.NoError(t, c1.Close())
				require.ErrorIs(t, <-done, net.ErrClosed)
				require.ErrorIs(t, c1.Close(), net.ErrClosed, "second Close")
				_, err := c1.Write([]byte("x"))
				require.ErrorIs(t, err, net.ErrClosed)
			}},
			{"close-unblocks-write", func(t *testing.T) {
				c1, _ := pair(t) // nobody reads c2: the write blocks once the buffers fill
				done := make(chan error, 1)
				go func() { _, err := c1.Write(make([]byte, 64<<20)); done <- err }()
				time.Sleep(50 * time.Millisecond)
				require.NoError(t, c1.Close())
				require.ErrorIs(t, <-done, net.ErrClosed)
			}},
			{"listener-deadline-and-close", func(t *testing.T) {
				l, err := s.Listen("tcp4", "127.0.0.1:0")
				require.NoError(t, err)
				tl := l.(*unet.TCPListener)
				require.NoError(t, tl.SetDeadline(time.Now().Add(10*time.Millisecond)))
				_, err = l.Accept()
				requireTimeout(t, err)
				require.NoError(t, tl.SetDeadline(time.Time{}))
				done := make(chan error, 1)
				go func() { _, err := l.Accept(); done <- err }()
				time.Sleep(20 * time.Millisecond)
				require.NoError(t, l.Close())
				err = <-done
				require.ErrorIs(t, err, net.ErrClosed)
				var oe *net.OpError
				require.True(t, errors.As(err, &oe) && oe.Op == "accept", "%v", err)
			}},
			{"refused", func(t *testing.T) {
				addr := heldPort(t, k, unix.SOCK_STREAM)
				_, err := s.Dial("tcp", addr)
				var oe *net.OpError
				require.True(t, errors.As(err, &oe) && oe.Op == "dial", "%v", err)
				var se *os.SyscallError
				require.True(t, errors.As(err, &se), "%v", err)
				require.ErrorIs(t, err, syscall.ECONNREFUSED)
			}},
			{"dial-canceled", func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				_, err := s.DialContext(ctx, "tcp", ln.Addr().String())
				require.ErrorIs(t, err, context.Canceled)
			}},
			{"close-write-eof", func(t *testing.T) {
				c1, c2 := pair(t)
				_, err := c1.Write([]byte("bye"))
				require.NoError(t, err)
				require.NoError(t, c1.CloseWrite())
				got, err := io.ReadAll(c2)
				require.NoError(t, err)
				require.Equal(t, "bye", string(got))
				require.NoError(t, c2.CloseRead())
			}},
			{"sockopts", func(t *testing.T) {
				c1, _ := pair(t)
				require.NoError(t, c1.SetNoDelay(false))
				require.NoError(t, c1.SetKeepAlive(true))
				require.NoError(t, c1.SetKeepAlivePeriod(30*time.Second))
				require.NoError(t, c1.SetLinger(1))
				require.NoError(t, c1.SetReadBuffer(64<<10))
				require.NoError(t, c1.SetWriteBuffer(64<<10))
			}},
			{"syscallconn", func(t *testing.T) {
				c1, _ := pair(t)
				rc, err := c1.SyscallConn()
				require.NoError(t, err)
				var typ int
				var gerr error
				require.NoError(t, rc.Control(func(fd uintptr) {
					typ, gerr = libgo.New(k).GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
				}))
				require.NoError(t, gerr)
				require.Equal(t, unix.SOCK_STREAM, typ)
				wrote := false
				require.NoError(t, rc.Write(func(fd uintptr) bool {
					_, err := libgo.New(k).Write(int(fd), []byte("raw"))
					wrote = err == nil
					return true
				}))
				require.True(t, wrote)
			}},
			{"wildcard-listen", func(t *testing.T) {
				l, err := s.Listen("tcp", ":0")
				require.NoError(t, err)
				defer l.Close()
				_, port, _ := net.SplitHostPort(l.Addr().String())
				c1, c2, err := connPair(t, l, func() (net.Conn, error) { return s.Dial("tcp4", "127.0.0.1:"+port) })
				require.NoError(t, err)
				c1.Close()
				c2.Close()
			}},
			{"ipv6-loopback", func(t *testing.T) {
				l, err := s.Listen("tcp6", "[::1]:0")
				require.NoError(t, err)
				defer l.Close()
				c1, c2, err := connPair(t, l, func() (net.Conn, error) { return s.Dial("tcp", l.Addr().String()) })
				require.NoError(t, err)
				require.Equal(t, "::1", c1.LocalAddr().(*net.TCPAddr).IP.String())
				c1.Close()
				c2.Close()
			}},
			{"bad-network", func(t *testing.T) {
				_, err := s.Dial("sctp", "x:1")
				var ue net.UnknownNetworkError
				require.ErrorAs(t, err, &ue)
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, tc.f)
		}
	})
}

// TestUnixRights passes an fd with SCM_RIGHTS over a unixgram pair.
func TestUnixRights(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, _ string) {
		s := newStack(t, k)
		path := unixPath(t, k)
		if !unixSupported(t, k) {
			_, err := s.ListenPacket("unixgram", path)
			require.True(t, isErrno(err, syscall.EAFNOSUPPORT), "%v", err)
			return
		}
		pc, err := s.ListenPacket("unixgram", path)
		require.NoError(t, err)
		defer pc.Close()
		c, err := s.Dial("unixgram", path)
		require.NoError(t, err)
		defer c.Close()
		lc := libgo.New(k)
		p, err := lc.Pipe2(unix.O_CLOEXEC)
		require.NoError(t, err)
		defer lc.Close(p[0])
		defer lc.Close(p[1])
		_, _, err = c.(*unet.UnixConn).WriteMsgUnix([]byte("fd"), unix.UnixRights(p[1]), nil)
		require.NoError(t, err)
		buf, oob := make([]byte, 8), make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := pc.(*unet.UnixConn).ReadMsgUnix(buf, oob)
		require.NoError(t, err)
		require.Equal(t, "fd", string(buf[:n]))
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		require.NoError(t, err)
		fds, err := unix.ParseUnixRights(&msgs[0])
		require.NoError(t, err)
		require.Len(t, fds, 1)
		_, err = lc.Write(fds[0], []byte("via passed fd"))
		require.NoError(t, err)
		lc.Close(fds[0])
		got := make([]byte, 32)
		n, err = lc.Read(p[0], got)
		require.NoError(t, err)
		require.Equal(t, "via passed fd", string(got[:n]))

		// A Unix listener removes the socket file it made when it closes.
		spath := unixPath(t, k)
		ln, err := s.Listen("unixpacket", spath)
		require.NoError(t, err)
		var st unix.Stat_t
		require.NoError(t, lc.Stat(spath, &st))
		c1, c2, err := connPair(t, ln, func() (net.Conn, error) { return s.Dial("unixpacket", spath) })
		require.NoError(t, err)
		c1.Write([]byte("one"))
		c1.Write([]byte("two"))
		for _, want := range []string{"one", "two"} { // seqpacket keeps message boundaries
			n, err := c2.Read(got)
			require.NoError(t, err)
			require.Equal(t, want, string(got[:n]))
		}
		c1.Close()
		_, err = c2.Read(got)
		require.ErrorIs(t, err, io.EOF)
		c2.Close()
		require.NoError(t, ln.Close())
		require.ErrorIs(t, lc.Stat(spath, &st), syscall.ENOENT)
	})
}

// TestNoAllocs checks that Read and Write do not allocate in steady state.
func TestNoAllocs(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, _ string) {
		s := newStack(t, k)
		ln, err := s.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		c1, c2, err := connPair(t, ln, func() (net.Conn, error) { return s.Dial("tcp", ln.Addr().String()) })
		require.NoError(t, err)
		defer c1.Close()
		defer c2.Close()
		out, in := make([]byte, 64), make([]byte, 64)
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := c1.Write(out); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c2, in); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, "allocations per Write+Read")
	})
}
