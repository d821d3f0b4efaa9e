package aio_test

import (
	"bytes"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// loopback4 is 127.0.0.1 with port 0, for the kernel to pick one. LKL
// brings lo up at boot, as the host has it.
var loopback4 = &libgo.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}

// tcpSocket returns a non-blocking TCP socket on lc, closed when the test
// ends, and a closer for closing it earlier.
func tcpSocket(t testing.TB, lc *libgo.Libc) (int, func()) {
	t.Helper()
	fd, err := lc.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	require.NoError(t, err)
	return fd, closer(t, lc, fd)
}

// tcpListener returns a non-blocking listening socket on 127.0.0.1 and
// its address.
func tcpListener(t testing.TB, lc *libgo.Libc) (int, libgo.Sockaddr) {
	t.Helper()
	ln, _ := tcpSocket(t, lc)
	require.NoError(t, lc.Bind(ln, loopback4))
	require.NoError(t, lc.Listen(ln, 16))
	name, err := lc.Getsockname(ln)
	require.NoError(t, err)
	return ln, name
}

// tcpPair connects a client to a new listener the way an event loop does
// (Connect, wait for Write, ConnectResult; wait for Read, Accept) and
// returns both ends of the connection, each with a closer.
func tcpPair(t testing.TB, k sys.Kernel) (client, server int, closeClient, closeServer func()) {
	t.Helper()
	lc, nb := libgo.New(k), aio.NewNonblock(k)
	p := newPoller(t, k)
	ln, name := tcpListener(t, lc)
	client, closeClient = tcpSocket(t, lc)
	inProgress, err := nb.Connect(client, name)
	require.NoError(t, err)
	var events [2]aio.Event
	for inProgress {
		require.NoError(t, p.Add(client, aio.Write|aio.OneShot, 1))
		wait(t, p, events[:])
		require.NoError(t, p.Delete(client))
		inProgress, err = nb.ConnectResult(client)
		require.NoError(t, err)
	}
	require.NoError(t, p.Add(ln, aio.Read, 2))
	for {
		nfd, sa, wouldBlock, err := nb.Accept(ln)
		require.NoError(t, err)
		if !wouldBlock {
			require.IsType(t, &libgo.SockaddrInet4{}, sa)
			flags, err := lc.FcntlGetfl(nfd)
			require.NoError(t, err)
			require.NotZero(t, flags&unix.O_NONBLOCK, "accepted non-blocking")
			fd, err := lc.FcntlInt(nfd, unix.F_GETFD, 0)
			require.NoError(t, err)
			require.NotZero(t, fd&unix.FD_CLOEXEC, "accepted close-on-exec")
			return client, nfd, closeClient, closer(t, lc, nfd)
		}
		wait(t, p, events[:])
	}
}

func TestNonblockPipe(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc, nb := libgo.New(k), aio.NewNonblock(k)
		fds, closeEnd := pipe(t, lc)
		buf := make([]byte, 16)

		n, wouldBlock, err := nb.Read(fds[0], buf)
		require.NoError(t, err)
		require.True(t, wouldBlock, "empty pipe")
		require.Zero(t, n)

		n, wouldBlock, err = nb.Read(fds[0], nil)
		require.NoError(t, err)
		require.False(t, wouldBlock, "an empty read returns at once")
		require.Zero(t, n)

		n, wouldBlock, err = nb.Write(fds[1], []byte("hello"))
		require.NoError(t, err)
		require.False(t, wouldBlock)
		require.Equal(t, 5, n)
		n, wouldBlock, err = nb.Read(fds[0], buf)
		require.NoError(t, err)
		require.False(t, wouldBlock)
		require.Equal(t, "hello", string(buf[:n]))

		closeEnd[1]()
		n, wouldBlock, err = nb.Read(fds[0], buf)
		require.NoError(t, err)
		require.False(t, wouldBlock)
		require.Zero(t, n, "end of file")

		_, _, err = nb.Read(fds[1], buf)
		var se *os.SyscallError
		require.ErrorAs(t, err, &se)
		require.Equal(t, "read", se.Syscall)
		require.ErrorIs(t, err, syscall.EBADF)
	})
}

// A pipe fills up: Write reports how much went in and that the rest would
// block; after the reader drains it, Write goes on from there.
func TestNonblockWriteFull(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc, nb := libgo.New(k), aio.NewNonblock(k)
		p := newPoller(t, k)
		fds, closeEnd := pipe(t, lc)
		msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, more than a pipe holds
		n, wouldBlock, err := nb.Write(fds[1], msg)
		require.NoError(t, err)
		require.True(t, wouldBlock)
		require.Positive(t, n)
		require.Less(t, n, len(msg))

		require.NoError(t, p.Add(fds[0], aio.Read|aio.RDHUP|aio.EdgeTriggered, 0))
		require.NoError(t, p.Add(fds[1], aio.Write|aio.EdgeTriggered, 1))
		var got []byte
		buf := make([]byte, 64<<10)
		events := make([]aio.Event, 4)
		for done := false; !done; {
			for _, ev := range wait(t, p, events) {
				switch ev.Token {
				case 0: // read until it would block, as edge-triggered needs
					for {
						m, wouldBlock, err := nb.Read(fds[0], buf)
						require.NoError(t, err)
						if wouldBlock {
							break
						}
						if m == 0 {
							done = true
							break
						}
						got = append(got, buf[:m]...)
					}
				case 1:
					if n == len(msg) {
						continue
					}
					m, _, err := nb.Write(fds[1], msg[n:])
					require.NoError(t, err)
					n += m
					if n == len(msg) {
						require.NoError(t, p.Delete(fds[1]))
						closeEnd[1]()
					}
				}
			}
		}
		require.True(t, bytes.Equal(msg, got), "every byte arrived, in order")
	})
}

func TestNonblockTCP(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		nb := aio.NewNonblock(k)
		p := newPoller(t, k)
		c, s, _, _ := tcpPair(t, k)
		buf := make([]byte, 64)
		_, wouldBlock, err := nb.Read(s, buf)
		require.NoError(t, err)
		require.True(t, wouldBlock)

		require.NoError(t, p.Add(s, aio.Read|aio.RDHUP, 3))
		n, wouldBlock, err := nb.Write(c, []byte("ping"))
		require.NoError(t, err)
		require.False(t, wouldBlock)
		require.Equal(t, 4, n)
		var events [2]aio.Event
		require.Equal(t, []aio.Event{{Token: 3, Events: aio.Read}}, wait(t, p, events[:]))
		n, wouldBlock, err = nb.Read(s, buf)
		require.NoError(t, err)
		require.False(t, wouldBlock)
		require.Equal(t, "ping", string(buf[:n]))
	})
}

// The peer closes or shuts down: which of Read, RDHUP, HUP and Error the
// other end sees.
func TestPeerHangup(t *testing.T) {
	tests := []struct {
		name string
		act  func(t *testing.T, lc *libgo.Libc, c, s int, closeClient func())
		want aio.Events
	}{
		{"peer shuts down writing", func(t *testing.T, lc *libgo.Libc, c, _ int, _ func()) {
			require.NoError(t, lc.Shutdown(c, unix.SHUT_WR))
		}, aio.Read | aio.RDHUP},
		{"peer closes", func(t *testing.T, _ *libgo.Libc, _, _ int, closeClient func()) {
			closeClient()
		}, aio.Read | aio.RDHUP},
		{"both directions shut", func(t *testing.T, lc *libgo.Libc, c, s int, _ func()) {
			require.NoError(t, lc.Shutdown(c, unix.SHUT_WR))
			require.NoError(t, lc.Shutdown(s, unix.SHUT_WR))
		}, aio.Read | aio.RDHUP | aio.HUP},
		{"peer resets", func(t *testing.T, lc *libgo.Libc, c, _ int, closeClient func()) {
			require.NoError(t, lc.SetsockoptLinger(c, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}))
			closeClient()
		}, aio.Read | aio.RDHUP | aio.HUP | aio.Error},
	}
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc, nb := libgo.New(k), aio.NewNonblock(k)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p := newPoller(t, k)
				c, s, closeClient, _ := tcpPair(t, k)
				require.NoError(t, p.Add(s, aio.Read|aio.RDHUP, 4))
				requireNone(t, p)
				tc.act(t, lc, c, s, closeClient)
				var events [2]aio.Event
				require.Equal(t, []aio.Event{{Token: 4, Events: tc.want}}, wait(t, p, events[:]))

				n, wouldBlock, err := nb.Read(s, make([]byte, 8))
				require.False(t, wouldBlock)
				require.Zero(t, n)
				if tc.want&aio.Error != 0 {
					var se *os.SyscallError
					require.ErrorAs(t, err, &se)
					require.ErrorIs(t, err, syscall.ECONNRESET)
				} else {
					require.NoError(t, err, "end of stream")
				}
			})
		}
	})
}

func TestConnectRefused(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc, nb := libgo.New(k), aio.NewNonblock(k)
		// A port nothing listens on: bound, not listening, and held until
		// the test ends, so that no other test can take it.
		fd, _ := tcpSocket(t, lc)
		require.NoError(t, lc.Bind(fd, loopback4))
		addr, err := lc.Getsockname(fd)
		require.NoError(t, err)

		c, _ := tcpSocket(t, lc)
		inProgress, err := nb.Connect(c, addr)
		t.Logf("connect in progress: %v", inProgress)
		if inProgress {
			require.NoError(t, err)
			p := newPoller(t, k)
			require.NoError(t, p.Add(c, aio.Write, 5))
			var events [2]aio.Event
			ev := wait(t, p, events[:])
			require.Equal(t, uint64(5), ev[0].Token)
			require.NotZero(t, ev[0].Events&aio.Error, "the failure is reported: %v", ev[0].Events)
			inProgress, err = nb.ConnectResult(c)
			require.False(t, inProgress)
		}
		var se *os.SyscallError
		require.ErrorAs(t, err, &se)
		require.Equal(t, "connect", se.Syscall)
		require.Equal(t, syscall.ECONNREFUSED, se.Err)
	})
}

func TestAcceptWouldBlock(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc, nb := libgo.New(k), aio.NewNonblock(k)
		ln, _ := tcpListener(t, lc)
		nfd, sa, wouldBlock, err := nb.Accept(ln)
		require.NoError(t, err)
		require.True(t, wouldBlock)
		require.Equal(t, -1, nfd)
		require.Nil(t, sa)

		pfd, _ := pipe(t, lc)
		_, _, wouldBlock, err = nb.Accept(pfd[0])
		require.False(t, wouldBlock)
		var se *os.SyscallError
		require.ErrorAs(t, err, &se)
		require.Equal(t, "accept4", se.Syscall)
		require.ErrorIs(t, err, syscall.ENOTSOCK)
	})
}

// The zero Nonblock is the process default kernel.
func TestNonblockZero(t *testing.T) {
	var nb aio.Nonblock
	fds, _ := pipe(t, &libgo.Libc{})
	n, wouldBlock, err := nb.Write(fds[1], []byte("x"))
	require.NoError(t, err)
	require.False(t, wouldBlock)
	require.Equal(t, 1, n)
	// sys's binding rule: NewNonblock(nil) pins the default kernel as it
	// is at construction (it used to be the zero Nonblock, which follows
	// the default at each call).
	require.Equal(t, aio.NewNonblock(sys.Default()), aio.NewNonblock(nil))
}
