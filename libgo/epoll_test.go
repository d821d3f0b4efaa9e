package libgo_test

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// waitLimit bounds each EpollWait that expects an event, so a broken
// kernel fails the test instead of hanging it; it is not a timing claim.
const waitLimit = 10_000 // ms

func TestEpoll(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		ep, err := lc.EpollCreate1(0)
		require.NoError(t, err)
		autoClose(t, lc, ep)
		requireCloexec(t, lc, ep)
		p := pipeOn(t, lc, unix.O_NONBLOCK)

		// The 64 data bits (Fd and Pad) come back as they were given.
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p[0]), Pad: 0x5eed_cafe}
		require.NoError(t, lc.EpollCtl(ep, unix.EPOLL_CTL_ADD, p[0], &ev))
		require.Equal(t, syscall.EEXIST, lc.EpollCtl(ep, unix.EPOLL_CTL_ADD, p[0], &ev))

		events := make([]unix.EpollEvent, 4)
		n, err := lc.EpollWait(ep, events, 0)
		require.NoError(t, err)
		require.Zero(t, n, "nothing to read yet")

		_, err = lc.Write(p[1], []byte("ready"))
		require.NoError(t, err)
		n, err = lc.EpollWait(ep, events, waitLimit)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, uint32(unix.EPOLLIN), events[0].Events)
		require.Equal(t, int32(p[0]), events[0].Fd)
		require.Equal(t, int32(0x5eed_cafe), events[0].Pad)

		// MOD changes the data; level-triggered, the event is still there.
		ev.Pad = -7
		require.NoError(t, lc.EpollCtl(ep, unix.EPOLL_CTL_MOD, p[0], &ev))
		n, err = lc.EpollWait(ep, events[:1], waitLimit)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, int32(-7), events[0].Pad)

		// After DEL, nothing comes back.
		require.NoError(t, lc.EpollCtl(ep, unix.EPOLL_CTL_DEL, p[0], nil))
		n, err = lc.EpollWait(ep, events, 0)
		require.NoError(t, err)
		require.Zero(t, n)

		require.Equal(t, syscall.ENOENT, lc.EpollCtl(ep, unix.EPOLL_CTL_MOD, p[0], &ev), "not registered")
		require.Equal(t, syscall.EINVAL, lc.EpollCtl(ep, unix.EPOLL_CTL_ADD, ep, &ev), "an epoll fd watching itself")
		require.Equal(t, syscall.EINVAL, lc.EpollCtl(ep, 99, p[0], &ev), "bad op")
		require.Equal(t, syscall.EFAULT, lc.EpollCtl(ep, unix.EPOLL_CTL_ADD, p[1], nil), "ADD needs an event")
		_, err = lc.EpollWait(ep, nil, 0)
		require.Equal(t, syscall.EINVAL, err, "no room for events")
		_, err = lc.EpollWait(p[0], events, 0)
		require.Equal(t, syscall.EINVAL, err, "not an epoll fd")
		_, err = lc.EpollCreate1(unix.O_APPEND)
		require.Equal(t, syscall.EINVAL, err, "bad flag")
	})
}

func TestEpollRDHUP(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		loopbackUp(t, k)
		lc := libgo.New(k)
		for _, tc := range loopbacks {
			t.Run(tc.name, func(t *testing.T) {
				c, s := tcpConn(t, lc, tc.domain, tc.addr)
				ep := autoClose(t, lc, mustOK(lc.EpollCreate1(0)))
				ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(s)}
				require.NoError(t, lc.EpollCtl(ep, unix.EPOLL_CTL_ADD, s, &ev))
				events := make([]unix.EpollEvent, 2)
				n, err := lc.EpollWait(ep, events, 0)
				require.NoError(t, err)
				require.Zero(t, n)

				require.NoError(t, lc.Shutdown(c, unix.SHUT_WR))
				n, err = lc.EpollWait(ep, events, waitLimit)
				require.NoError(t, err)
				require.Equal(t, 1, n)
				require.Equal(t, int32(s), events[0].Fd)
				require.NotZero(t, events[0].Events&unix.EPOLLRDHUP, "the peer shut down its side")
				require.NotZero(t, events[0].Events&unix.EPOLLIN, "reading gives end of stream")
				require.Zero(t, events[0].Events&unix.EPOLLHUP, "our side is still open")
			})
		}
	})
}
