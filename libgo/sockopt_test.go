package libgo_test

import (
	"math"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

func TestSockoptRoundTrip(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		for _, tc := range []struct {
			name       string
			set        func(fd int) error
			level, opt int
			want       int
		}{
			{name: "SO_REUSEADDR on", set: func(fd int) error { return lc.SetReuseAddr(fd, true) }, level: unix.SOL_SOCKET, opt: unix.SO_REUSEADDR, want: 1},
			{name: "SO_REUSEADDR off", set: func(fd int) error { return lc.SetReuseAddr(fd, false) }, level: unix.SOL_SOCKET, opt: unix.SO_REUSEADDR, want: 0},
			{name: "TCP_NODELAY on", set: func(fd int) error { return lc.SetNoDelay(fd, true) }, level: unix.IPPROTO_TCP, opt: unix.TCP_NODELAY, want: 1},
			{name: "TCP_NODELAY off", set: func(fd int) error { return lc.SetNoDelay(fd, false) }, level: unix.IPPROTO_TCP, opt: unix.TCP_NODELAY, want: 0},
			{name: "SO_KEEPALIVE on", set: func(fd int) error { return lc.SetKeepAlive(fd, true) }, level: unix.SOL_SOCKET, opt: unix.SO_KEEPALIVE, want: 1},
			{name: "SO_KEEPALIVE off", set: func(fd int) error { return lc.SetKeepAlive(fd, false) }, level: unix.SOL_SOCKET, opt: unix.SO_KEEPALIVE, want: 0},
			// The kernel doubles buffer sizes for its bookkeeping.
			{name: "SO_RCVBUF", set: func(fd int) error { return lc.SetRecvBuffer(fd, 8192) }, level: unix.SOL_SOCKET, opt: unix.SO_RCVBUF, want: 2 * 8192},
			{name: "SO_SNDBUF", set: func(fd int) error { return lc.SetSendBuffer(fd, 8192) }, level: unix.SOL_SOCKET, opt: unix.SO_SNDBUF, want: 2 * 8192},
			{name: "keep-alive 1.5s idle", set: func(fd int) error { return lc.SetKeepAlivePeriod(fd, 1500*time.Millisecond) }, level: unix.IPPROTO_TCP, opt: unix.TCP_KEEPIDLE, want: 2},
			{name: "keep-alive 1.5s interval", set: func(fd int) error { return lc.SetKeepAlivePeriod(fd, 1500*time.Millisecond) }, level: unix.IPPROTO_TCP, opt: unix.TCP_KEEPINTVL, want: 2},
			{name: "keep-alive 0 is 1s", set: func(fd int) error { return lc.SetKeepAlivePeriod(fd, 0) }, level: unix.IPPROTO_TCP, opt: unix.TCP_KEEPIDLE, want: 1},
			{name: "keep-alive 30s", set: func(fd int) error { return lc.SetKeepAlivePeriod(fd, 30*time.Second) }, level: unix.IPPROTO_TCP, opt: unix.TCP_KEEPINTVL, want: 30},
			{name: "SetsockoptInt", set: func(fd int) error { return lc.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, 17) }, level: unix.IPPROTO_IP, opt: unix.IP_TTL, want: 17},
		} {
			t.Run(tc.name, func(t *testing.T) {
				fd := autoClose(t, lc, mustOK(lc.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)))
				require.NoError(t, tc.set(fd))
				got, err := lc.GetsockoptInt(fd, tc.level, tc.opt)
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
			})
		}

		fd := autoClose(t, lc, mustOK(lc.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)))
		t.Run("SO_LINGER", func(t *testing.T) {
			require.NoError(t, lc.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 5}))
			lg, err := lc.GetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER)
			require.NoError(t, err)
			require.Equal(t, &unix.Linger{Onoff: 1, Linger: 5}, lg)
			require.Equal(t, syscall.EFAULT, lc.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, nil))
		})
		t.Run("SO_RCVTIMEO", func(t *testing.T) {
			tv := unix.Timeval{Sec: 2, Usec: 500_000}
			require.NoError(t, lc.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv))
			got, err := lc.GetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO)
			require.NoError(t, err)
			require.Equal(t, &tv, got)
			require.Equal(t, syscall.EFAULT, lc.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, nil))
		})
		t.Run("errors", func(t *testing.T) {
			require.Equal(t, syscall.EINVAL, lc.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, math.MaxInt32+1), "more than a C int")
			require.Equal(t, syscall.EINVAL, lc.SetKeepAlivePeriod(fd, 1e6*time.Second), "more than 32767 s")
			require.Equal(t, syscall.ENOPROTOOPT, lc.SetsockoptInt(fd, unix.SOL_SOCKET, 9999, 1))
			_, err := lc.GetsockoptInt(fd, unix.SOL_SOCKET, 9999)
			require.Equal(t, syscall.ENOPROTOOPT, err)
			require.NoError(t, lc.SocketError(fd), "no pending error")
		})
	})
}
