package libgo_test

import (
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// loopbackIfreq is struct ifreq's name and flags (linux/if.h), 40 bytes.
type loopbackIfreq struct {
	Name  [16]byte
	Flags uint16
	_     [22]byte
}

// loopbackUp makes sure k's lo is up. LKL boots with lo down, so there the
// test brings it up with SIOCSIFFLAGS, as an ifconfig would.
func loopbackUp(t *testing.T, k sys.Kernel) {
	t.Helper()
	lc := libgo.New(k)
	s, err := lc.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	require.NoError(t, err)
	defer lc.Close(s)
	var ifr loopbackIfreq
	copy(ifr.Name[:], "lo")
	_, _, e := sys.SyscallOn(k, unix.SYS_IOCTL, uintptr(s), unix.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr)), 0, 0, 0)
	require.Zero(t, e, "SIOCGIFFLAGS lo")
	if ifr.Flags&unix.IFF_UP != 0 {
		return
	}
	kerneltest.Differs(t, k, "lkl", "lo is down at boot: the test brings it up with SIOCSIFFLAGS")
	ifr.Flags |= unix.IFF_UP
	_, _, e = sys.SyscallOn(k, unix.SYS_IOCTL, uintptr(s), unix.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr)), 0, 0, 0)
	require.Zero(t, e, "SIOCSIFFLAGS lo up")
}

// autoClose closes fd on kernel lc when the test ends.
func autoClose(t *testing.T, lc *libgo.Libc, fd int) int {
	t.Cleanup(func() { lc.Close(fd) })
	return fd
}

// requireCloexec checks that fd is close-on-exec.
func requireCloexec(t *testing.T, lc *libgo.Libc, fd int) {
	t.Helper()
	flags, err := lc.FcntlInt(fd, unix.F_GETFD, 0)
	require.NoError(t, err)
	require.Equal(t, unix.FD_CLOEXEC, flags&unix.FD_CLOEXEC, "fd %d is close-on-exec", fd)
}

// loopbacks are the two loopback addresses every test network runs on.
var loopbacks = []struct {
	name   string
	domain int
	addr   libgo.Sockaddr // port 0: the kernel picks one
}{
	{name: "ipv4", domain: unix.AF_INET, addr: &libgo.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}},
	{name: "ipv6", domain: unix.AF_INET6, addr: &libgo.SockaddrInet6{Addr: [16]byte{15: 1}}},
}

// tcpListener returns a listening TCP socket on addr and its address.
func tcpListener(t *testing.T, lc *libgo.Libc, domain int, addr libgo.Sockaddr) (int, libgo.Sockaddr) {
	t.Helper()
	ln, err := lc.Socket(domain, unix.SOCK_STREAM, 0)
	require.NoError(t, err)
	autoClose(t, lc, ln)
	require.NoError(t, lc.SetReuseAddr(ln, true))
	require.NoError(t, lc.Bind(ln, addr))
	require.NoError(t, lc.Listen(ln, 8))
	name, err := lc.Getsockname(ln)
	require.NoError(t, err)
	return ln, name
}

// tcpConn returns both ends of a TCP connection over addr's loopback.
func tcpConn(t *testing.T, lc *libgo.Libc, domain int, addr libgo.Sockaddr) (client, server int) {
	t.Helper()
	ln, name := tcpListener(t, lc, domain, addr)
	c, err := lc.Socket(domain, unix.SOCK_STREAM, 0)
	require.NoError(t, err)
	autoClose(t, lc, c)
	require.NoError(t, lc.Connect(c, name))
	s, _, err := lc.Accept4(ln, 0)
	require.NoError(t, err)
	autoClose(t, lc, s)
	return c, s
}

func TestTCP(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		loopbackUp(t, k)
		lc := libgo.New(k)
		for _, tc := range loopbacks {
			t.Run(tc.name, func(t *testing.T) {
				ln, lnName := tcpListener(t, lc, tc.domain, tc.addr)
				requireCloexec(t, lc, ln)
				switch sa := lnName.(type) {
				case *libgo.SockaddrInet4:
					require.Equal(t, [4]byte{127, 0, 0, 1}, sa.Addr)
					require.NotZero(t, sa.Port)
				case *libgo.SockaddrInet6:
					require.Equal(t, [16]byte{15: 1}, sa.Addr)
					require.NotZero(t, sa.Port)
				default:
					t.Fatalf("listener address %#v", lnName)
				}

				c, err := lc.Socket(tc.domain, unix.SOCK_STREAM, 0)
				require.NoError(t, err)
				autoClose(t, lc, c)
				require.NoError(t, lc.Connect(c, lnName))
				s, peer, err := lc.Accept4(ln, unix.SOCK_NONBLOCK)
				require.NoError(t, err)
				autoClose(t, lc, s)
				requireCloexec(t, lc, s)
				fl, err := lc.FcntlGetfl(s)
				require.NoError(t, err)
				require.NotZero(t, fl&unix.O_NONBLOCK, "SOCK_NONBLOCK reaches the accepted fd")
				require.NoError(t, lc.SetNonblock(s, false))

				cName, err := lc.Getsockname(c)
				require.NoError(t, err)
				require.Equal(t, cName, peer, "accept4 returns the client's address")
				cPeer, err := lc.Getpeername(c)
				require.NoError(t, err)
				require.Equal(t, lnName, cPeer)
				_, err = lc.Getpeername(ln)
				require.Equal(t, syscall.ENOTCONN, err)

				msg := []byte("hello over " + tc.name)
				n, err := lc.Sendto(c, msg, 0, nil)
				require.NoError(t, err)
				require.Equal(t, len(msg), n)
				buf := make([]byte, 64)
				n, from, err := lc.Recvfrom(s, buf, 0)
				require.NoError(t, err)
				require.Equal(t, string(msg), string(buf[:n]))
				require.Nil(t, from, "a connected stream socket gives no address")

				require.NoError(t, lc.Shutdown(c, unix.SHUT_WR))
				n, _, err = lc.Recvfrom(s, buf, 0)
				require.NoError(t, err)
				require.Zero(t, n, "end of stream after the peer's SHUT_WR")
				_, err = lc.Sendto(c, msg, unix.MSG_NOSIGNAL, nil)
				require.Equal(t, syscall.EPIPE, err, "no writing after SHUT_WR")
				n, err = lc.Sendto(s, msg, 0, nil)
				require.NoError(t, err, "the other direction stays open")
				require.Equal(t, len(msg), n)
				n, _, err = lc.Recvfrom(c, buf, 0)
				require.NoError(t, err)
				require.Equal(t, string(msg), string(buf[:n]))
				require.Equal(t, syscall.EINVAL, lc.Shutdown(s, 7), "bad how")
			})
		}
	})
}

// udpPair opens two UDP sockets bound to addr and returns them with their
// names.
func udpPair(t *testing.T, lc *libgo.Libc, domain int, addr libgo.Sockaddr) (a int, aName libgo.Sockaddr, b int, bName libgo.Sockaddr) {
	t.Helper()
	a = autoClose(t, lc, mustOK(lc.Socket(domain, unix.SOCK_DGRAM, 0)))
	b = autoClose(t, lc, mustOK(lc.Socket(domain, unix.SOCK_DGRAM, 0)))
	require.NoError(t, lc.Bind(a, addr))
	require.NoError(t, lc.Bind(b, addr))
	return a, mustOK(lc.Getsockname(a)), b, mustOK(lc.Getsockname(b))
}

func TestUDP(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		loopbackUp(t, k)
		lc := libgo.New(k)
		for _, tc := range loopbacks {
			t.Run(tc.name, func(t *testing.T) {
				a, aName, b, bName := udpPair(t, lc, tc.domain, tc.addr)

				buf := make([]byte, 64)
				_, _, err := lc.Recvfrom(a, buf, unix.MSG_DONTWAIT)
				require.Equal(t, syscall.EAGAIN, err, "nothing queued yet")

				n, err := lc.Sendto(b, []byte("datagram"), 0, aName)
				require.NoError(t, err)
				require.Equal(t, 8, n)
				n, from, err := lc.Recvfrom(a, buf, 0)
				require.NoError(t, err)
				require.Equal(t, "datagram", string(buf[:n]))
				require.Equal(t, bName, from)

				// An empty datagram is a datagram.
				n, err = lc.Sendto(b, nil, 0, aName)
				require.NoError(t, err)
				require.Zero(t, n)
				n, from, err = lc.Recvfrom(a, buf, 0)
				require.NoError(t, err)
				require.Zero(t, n)
				require.Equal(t, bName, from)

				_, err = lc.Sendto(b, []byte("x"), 0, nil)
				require.Equal(t, syscall.EDESTADDRREQ, err, "no peer to send to")
			})
		}
	})
}

func TestSendmsgRecvmsg(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		loopbackUp(t, k)
		lc := libgo.New(k)
		for _, tc := range loopbacks {
			t.Run(tc.name, func(t *testing.T) {
				a, aName, b, bName := udpPair(t, lc, tc.domain, tc.addr)

				n, err := lc.Sendmsg(b, []byte("sendmsg"), nil, aName, 0)
				require.NoError(t, err)
				require.Equal(t, 7, n)
				buf := make([]byte, 64)
				n, oobn, flags, from, err := lc.Recvmsg(a, buf, nil, 0)
				require.NoError(t, err)
				require.Equal(t, "sendmsg", string(buf[:n]))
				require.Zero(t, oobn)
				require.Zero(t, flags)
				require.Equal(t, bName, from)

				// A datagram longer than the buffer is cut: MSG_TRUNC.
				_, err = lc.Sendmsg(b, []byte("too long for four"), nil, aName, 0)
				require.NoError(t, err)
				n, _, flags, _, err = lc.Recvmsg(a, buf[:4], nil, 0)
				require.NoError(t, err)
				require.Equal(t, "too ", string(buf[:n]))
				require.Equal(t, unix.MSG_TRUNC, flags&unix.MSG_TRUNC)

				// Connected: no address needed.
				require.NoError(t, lc.Connect(b, aName))
				n, err = lc.Sendmsg(b, []byte("connected"), nil, nil, 0)
				require.NoError(t, err)
				require.Equal(t, 9, n)
				n, _, _, _, err = lc.Recvmsg(a, buf, nil, 0)
				require.NoError(t, err)
				require.Equal(t, "connected", string(buf[:n]))

				_, _, _, _, err = lc.Recvmsg(a, buf, nil, unix.MSG_DONTWAIT)
				require.Equal(t, syscall.EAGAIN, err)
			})
		}
	})
}

func TestSCMRights(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		fds, err := lc.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if kerneltest.Differs(t, k, "lkl", "this LKL build has no AF_UNIX (net/unix is not in its source tree)") {
			require.Equal(t, syscall.EAFNOSUPPORT, err)
			return
		}
		require.NoError(t, err)
		autoClose(t, lc, fds[0])
		autoClose(t, lc, fds[1])
		requireCloexec(t, lc, fds[0])
		requireCloexec(t, lc, fds[1])

		for _, tc := range []struct {
			name string
			data []byte
		}{
			{name: "with data", data: []byte("fd")},
			{name: "no data", data: nil}, // Sendmsg adds a byte of its own
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := mustOK(lc.Pipe2(0))
				autoClose(t, lc, p[0])
				autoClose(t, lc, p[1])

				n, err := lc.Sendmsg(fds[0], tc.data, unix.UnixRights(p[1]), nil, 0)
				require.NoError(t, err)
				require.Equal(t, len(tc.data), n)

				buf := make([]byte, 64)
				oob := make([]byte, unix.CmsgSpace(4))
				n, oobn, flags, from, err := lc.Recvmsg(fds[1], buf[:len(tc.data)], oob, 0)
				require.NoError(t, err)
				require.Equal(t, string(tc.data), string(buf[:n]))
				require.Zero(t, flags&unix.MSG_CTRUNC)
				if from != nil {
					require.Equal(t, &libgo.SockaddrUnix{}, from, "a socketpair's peer is unnamed")
				}
				msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
				require.NoError(t, err)
				require.Len(t, msgs, 1)
				got, err := unix.ParseUnixRights(&msgs[0])
				require.NoError(t, err)
				require.Len(t, got, 1)
				passed := autoClose(t, lc, got[0])
				require.NotEqual(t, p[1], passed)
				requireCloexec(t, lc, passed)

				// The received fd is the pipe's write end.
				_, err = lc.Write(passed, []byte("through the passed fd"))
				require.NoError(t, err)
				n, err = lc.Read(p[0], buf)
				require.NoError(t, err)
				require.Equal(t, "through the passed fd", string(buf[:n]))
			})
		}
	})
}

func TestUnixSockets(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		ln, err := lc.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if kerneltest.Differs(t, k, "lkl", "this LKL build has no AF_UNIX (net/unix is not in its source tree)") {
			require.Equal(t, syscall.EAFNOSUPPORT, err)
			return
		}
		require.NoError(t, err)
		autoClose(t, lc, ln)
		path := kerneltest.TempDir(t, k) + "/sock"
		require.NoError(t, lc.Bind(ln, &libgo.SockaddrUnix{Name: path}))
		require.NoError(t, lc.Listen(ln, 1))
		require.Equal(t, &libgo.SockaddrUnix{Name: path}, mustOK(lc.Getsockname(ln)))

		c := autoClose(t, lc, mustOK(lc.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)))
		require.NoError(t, lc.Connect(c, &libgo.SockaddrUnix{Name: path}))
		s, peer, err := lc.Accept4(ln, 0)
		require.NoError(t, err)
		autoClose(t, lc, s)
		require.Equal(t, &libgo.SockaddrUnix{}, peer, "an unbound client is unnamed")
		require.Equal(t, &libgo.SockaddrUnix{Name: path}, mustOK(lc.Getpeername(c)))

		for _, tc := range []struct {
			name, bind, want string
		}{
			{name: "abstract @", bind: "@libgo-test-abstract", want: "@libgo-test-abstract"},
			{name: "abstract NUL", bind: "\x00libgo-test-nul", want: "@libgo-test-nul"},
			{name: "autobind", bind: "", want: "@"}, // "@" and five hex digits
		} {
			t.Run(tc.name, func(t *testing.T) {
				fd := autoClose(t, lc, mustOK(lc.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0)))
				require.NoError(t, lc.Bind(fd, &libgo.SockaddrUnix{Name: tc.bind}))
				name := mustOK(lc.Getsockname(fd)).(*libgo.SockaddrUnix).Name
				if tc.bind == "" {
					require.Len(t, name, 6)
					require.Equal(t, "@", name[:1])
					return
				}
				require.Equal(t, tc.want, name)
			})
		}
	})
}

func TestSocketErrorRefused(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		loopbackUp(t, k)
		lc := libgo.New(k)
		for _, tc := range loopbacks {
			t.Run(tc.name, func(t *testing.T) {
				// A bound socket that does not listen answers SYN with RST.
				closed := autoClose(t, lc, mustOK(lc.Socket(tc.domain, unix.SOCK_STREAM, 0)))
				require.NoError(t, lc.Bind(closed, tc.addr))
				to := mustOK(lc.Getsockname(closed))

				c := autoClose(t, lc, mustOK(lc.Socket(tc.domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)))
				require.NoError(t, lc.SocketError(c), "no pending error yet")
				require.Equal(t, syscall.EINPROGRESS, lc.Connect(c, to))

				ep := autoClose(t, lc, mustOK(lc.EpollCreate1(0)))
				require.NoError(t, lc.EpollCtl(ep, unix.EPOLL_CTL_ADD, c, &unix.EpollEvent{Events: unix.EPOLLOUT}))
				events := make([]unix.EpollEvent, 1)
				n, err := lc.EpollWait(ep, events, 10_000)
				require.NoError(t, err)
				require.Equal(t, 1, n, "the connect finishes")

				require.Equal(t, syscall.ECONNREFUSED, lc.SocketError(c))
				require.NoError(t, lc.SocketError(c), "reading SO_ERROR clears it")
			})
		}
	})
}

func TestSocketArgs(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		fd := autoClose(t, lc, mustOK(lc.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)))
		requireCloexec(t, lc, fd)
		long := string(make([]byte, 107)) // 107 NULs: abstract, fits
		for _, tc := range []struct {
			name string
			sa   libgo.Sockaddr
			want error
		}{
			{name: "nil", sa: nil, want: syscall.EINVAL},
			{name: "port -1", sa: &libgo.SockaddrInet4{Port: -1}, want: syscall.EINVAL},
			{name: "port 65536", sa: &libgo.SockaddrInet4{Port: 65536}, want: syscall.EINVAL},
			{name: "inet6 port 65536", sa: &libgo.SockaddrInet6{Port: 65536}, want: syscall.EINVAL},
			{name: "unix path 108", sa: &libgo.SockaddrUnix{Name: "/" + strings.Repeat("a", 107)}, want: syscall.EINVAL},
			{name: "unix abstract 109", sa: &libgo.SockaddrUnix{Name: "@" + long + "x"}, want: syscall.EINVAL},
		} {
			t.Run(tc.name, func(t *testing.T) {
				require.Equal(t, tc.want, lc.Bind(fd, tc.sa), "bind")
				require.Equal(t, tc.want, lc.Connect(fd, tc.sa), "connect")
				if tc.sa != nil {
					_, err := lc.Sendto(fd, []byte("x"), 0, tc.sa)
					require.Equal(t, tc.want, err, "sendto")
					_, err = lc.Sendmsg(fd, []byte("x"), nil, tc.sa, 0)
					require.Equal(t, tc.want, err, "sendmsg")
				}
			})
		}

		_, err := lc.Socket(unix.AF_INET, 12345, 0)
		require.Equal(t, syscall.EINVAL, err, "bad socket type")
		_, err = lc.Socket(9999, unix.SOCK_STREAM, 0)
		require.Equal(t, syscall.EAFNOSUPPORT, err, "bad domain")
		_, err = lc.Socketpair(unix.AF_INET, unix.SOCK_STREAM, 0)
		require.Equal(t, syscall.EOPNOTSUPP, err, "TCP has no socketpair")

		// accept4 on a socket that does not listen, with bad flags.
		_, _, err = lc.Accept4(fd, 0)
		require.Equal(t, syscall.EINVAL, err)
		p := mustOK(lc.Pipe2(0))
		autoClose(t, lc, p[0])
		autoClose(t, lc, p[1])
		_, _, err = lc.Accept4(p[0], 0)
		require.Equal(t, syscall.ENOTSOCK, err)
		_, err = lc.Getsockname(p[0])
		require.Equal(t, syscall.ENOTSOCK, err)
	})
}

func TestAccept4Faults(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		loopbackUp(t, k)
		lc := libgo.New(k)
		for _, tc := range []struct {
			name    string
			errno   syscall.Errno
			wantErr error // nil: retried, and the accept succeeds
		}{
			{name: "EINTR retried", errno: syscall.EINTR},
			{name: "ECONNABORTED retried", errno: syscall.ECONNABORTED},
			{name: "ENOMEM surfaces", errno: syscall.ENOMEM, wantErr: syscall.ENOMEM},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ln, name := tcpListener(t, lc, unix.AF_INET, loopbacks[0].addr)
				c := autoClose(t, lc, mustOK(lc.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)))
				require.NoError(t, lc.Connect(c, name))

				in, err := sys.NewInjector(k, 1, sys.Fault{Trap: unix.SYS_ACCEPT4, Nth: 1, Errno: tc.errno})
				require.NoError(t, err)
				fd, sa, err := libgo.New(in).Accept4(ln, 0)
				require.Len(t, in.Fired(), 1, "the fault fired once")
				require.Equal(t, tc.errno, in.Fired()[0].Errno)
				if tc.wantErr != nil {
					require.Equal(t, tc.wantErr, err, "a bare errno")
					require.Equal(t, -1, fd)
					require.Nil(t, sa)
					return
				}
				require.NoError(t, err)
				autoClose(t, lc, fd)
				require.Equal(t, mustOK(lc.Getsockname(c)), sa)
			})
		}
	})
}

// mustOK returns v, or panics if err is not nil: for set-up steps in
// expressions, where require cannot be used.
func mustOK[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
