package libgo_test

import (
	"encoding/binary"
	"errors"
	"math"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// pipeOn returns a pipe made with flags, closed when the test ends.
func pipeOn(t *testing.T, lc *libgo.Libc, flags int) [2]int {
	t.Helper()
	p, err := lc.Pipe2(flags)
	require.NoError(t, err)
	autoClose(t, lc, p[0])
	autoClose(t, lc, p[1])
	return p
}

// readCounter reads the 8-byte counter of an eventfd or timerfd.
func readCounter(t *testing.T, lc *libgo.Libc, fd int) (uint64, error) {
	t.Helper()
	var b [8]byte
	n, err := lc.Read(fd, b[:])
	if err != nil {
		return 0, err
	}
	require.Equal(t, 8, n)
	return binary.NativeEndian.Uint64(b[:]), nil
}

func TestPipe2(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		for _, tc := range []struct {
			name     string
			flags    int
			nonblock bool
			err      error
		}{
			{name: "no flags", flags: 0},
			{name: "O_CLOEXEC", flags: unix.O_CLOEXEC},
			{name: "O_NONBLOCK", flags: unix.O_NONBLOCK, nonblock: true},
			{name: "bad flag", flags: unix.O_APPEND, err: syscall.EINVAL},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p, err := lc.Pipe2(tc.flags)
				if tc.err != nil {
					require.Equal(t, tc.err, err)
					require.Equal(t, [2]int{-1, -1}, p)
					return
				}
				require.NoError(t, err)
				autoClose(t, lc, p[0])
				autoClose(t, lc, p[1])
				for _, fd := range p {
					requireCloexec(t, lc, fd)
					fl, err := lc.FcntlGetfl(fd)
					require.NoError(t, err)
					require.Equal(t, tc.nonblock, fl&unix.O_NONBLOCK != 0)
				}
				if tc.nonblock {
					_, err := lc.Read(p[0], make([]byte, 1))
					require.Equal(t, syscall.EAGAIN, err)
				}
				_, err = lc.Write(p[1], []byte("pipe"))
				require.NoError(t, err)
				buf := make([]byte, 8)
				n, err := lc.Read(p[0], buf)
				require.NoError(t, err)
				require.Equal(t, "pipe", string(buf[:n]))
			})
		}
	})
}

func TestDup(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		p := pipeOn(t, lc, 0)

		d, err := lc.Dup(p[1])
		require.NoError(t, err)
		autoClose(t, lc, d)
		require.NotEqual(t, p[1], d)
		requireCloexec(t, lc, d)
		_, err = lc.Write(d, []byte("dup"))
		require.NoError(t, err)
		buf := make([]byte, 8)
		n, err := lc.Read(p[0], buf)
		require.NoError(t, err)
		require.Equal(t, "dup", string(buf[:n]), "the copy writes to the same pipe")

		// dup3 over an open fd closes it first; the copy is close-on-exec.
		q := pipeOn(t, lc, 0)
		require.NoError(t, lc.Dup3(p[1], q[1], 0))
		requireCloexec(t, lc, q[1])
		_, err = lc.Write(q[1], []byte("dup3"))
		require.NoError(t, err)
		n, err = lc.Read(p[0], buf)
		require.NoError(t, err)
		require.Equal(t, "dup3", string(buf[:n]), "q[1] now writes to p")

		require.Equal(t, syscall.EINVAL, lc.Dup3(p[1], p[1], 0), "dup3 onto itself")
		require.Equal(t, syscall.EINVAL, lc.Dup3(p[1], q[1], unix.O_NONBLOCK), "bad flag")
	})
}

func TestFcntlFlags(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		p := pipeOn(t, lc, 0)

		// FD_CLOEXEC: clear it by hand, then CloseOnExec sets it back.
		_, err := lc.FcntlInt(p[0], unix.F_SETFD, 0)
		require.NoError(t, err)
		fl, err := lc.FcntlInt(p[0], unix.F_GETFD, 0)
		require.NoError(t, err)
		require.Zero(t, fl&unix.FD_CLOEXEC)
		require.NoError(t, lc.CloseOnExec(p[0]))
		requireCloexec(t, lc, p[0])

		// O_NONBLOCK, set and cleared, and what it does to a read.
		for _, on := range []bool{true, true, false, false} {
			require.NoError(t, lc.SetNonblock(p[0], on))
			fl, err := lc.FcntlGetfl(p[0])
			require.NoError(t, err)
			require.Equal(t, on, fl&unix.O_NONBLOCK != 0)
			require.Equal(t, unix.O_RDONLY, fl&unix.O_ACCMODE, "the access mode stays")
		}
		require.NoError(t, lc.SetNonblock(p[0], true))
		_, err = lc.Read(p[0], make([]byte, 1))
		require.Equal(t, syscall.EAGAIN, err)

		require.NoError(t, lc.FcntlSetfl(p[1], unix.O_NONBLOCK))
		fl, err = lc.FcntlGetfl(p[1])
		require.NoError(t, err)
		require.Equal(t, unix.O_WRONLY|unix.O_NONBLOCK, fl&(unix.O_ACCMODE|unix.O_NONBLOCK))

		_, err = lc.FcntlInt(p[0], 9999, 0)
		require.Equal(t, syscall.EINVAL, err, "unknown command")
	})
}

func TestEventFD(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		fd, err := lc.EventFD(3, unix.EFD_NONBLOCK)
		require.NoError(t, err)
		autoClose(t, lc, fd)
		requireCloexec(t, lc, fd)

		v, err := readCounter(t, lc, fd)
		require.NoError(t, err)
		require.Equal(t, uint64(3), v, "the initial value")
		_, err = readCounter(t, lc, fd)
		require.Equal(t, syscall.EAGAIN, err, "read resets the counter")

		var b [8]byte
		for range 2 {
			binary.NativeEndian.PutUint64(b[:], 5)
			_, err = lc.Write(fd, b[:])
			require.NoError(t, err)
		}
		v, err = readCounter(t, lc, fd)
		require.NoError(t, err)
		require.Equal(t, uint64(10), v, "writes add up")

		sem, err := lc.EventFD(2, unix.EFD_SEMAPHORE|unix.EFD_NONBLOCK)
		require.NoError(t, err)
		autoClose(t, lc, sem)
		for range 2 {
			v, err = readCounter(t, lc, sem)
			require.NoError(t, err)
			require.Equal(t, uint64(1), v, "a semaphore counts down by one")
		}
		_, err = readCounter(t, lc, sem)
		require.Equal(t, syscall.EAGAIN, err)

		_, err = lc.EventFD(math.MaxUint32+1, 0)
		require.Equal(t, syscall.EINVAL, err, "initval is 32 bits")
		_, err = lc.EventFD(0, unix.O_APPEND)
		require.Equal(t, syscall.EINVAL, err, "bad flag")
	})
}

func TestTimerfd(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		var cur unix.ItimerSpec
		fd, err := lc.TimerfdCreate(unix.CLOCK_MONOTONIC, 0)
		if kerneltest.Differs(t, k, "lkl", "this LKL is built without CONFIG_TIMERFD: every timerfd call is ENOSYS") {
			require.Equal(t, syscall.ENOSYS, err)
			require.Equal(t, -1, fd)
			require.Equal(t, syscall.ENOSYS, lc.TimerfdSettime(3, 0, &unix.ItimerSpec{}, nil))
			require.Equal(t, syscall.ENOSYS, lc.TimerfdGettime(3, &cur))
			return
		}
		require.NoError(t, err)
		autoClose(t, lc, fd)
		requireCloexec(t, lc, fd)

		require.NoError(t, lc.TimerfdGettime(fd, &cur))
		require.Zero(t, cur, "a new timer is disarmed")

		// Armed far away, it reports the time left and, when re-armed,
		// the old setting.
		far := unix.ItimerSpec{Value: unix.Timespec{Sec: 3600}, Interval: unix.Timespec{Sec: 60}}
		require.NoError(t, lc.TimerfdSettime(fd, 0, &far, nil))
		require.NoError(t, lc.TimerfdGettime(fd, &cur))
		require.Equal(t, far.Interval, cur.Interval)
		require.Positive(t, cur.Value.Nano())
		require.LessOrEqual(t, cur.Value.Nano(), far.Value.Nano())

		// Armed for 1 ms, it fires: a blocking read gives the number of
		// expirations.
		soon := unix.ItimerSpec{Value: unix.Timespec{Nsec: 1_000_000}}
		var old unix.ItimerSpec
		require.NoError(t, lc.TimerfdSettime(fd, 0, &soon, &old))
		require.Equal(t, far.Interval, old.Interval)
		require.Positive(t, old.Value.Nano())
		n, err := readCounter(t, lc, fd)
		require.NoError(t, err)
		require.GreaterOrEqual(t, n, uint64(1))
		require.NoError(t, lc.TimerfdGettime(fd, &cur))
		require.Zero(t, cur, "a one-shot timer is disarmed after it fired")

		require.Equal(t, syscall.EFAULT, lc.TimerfdSettime(fd, 0, nil, nil))
		require.Equal(t, syscall.EFAULT, lc.TimerfdGettime(fd, nil))
		require.Equal(t, syscall.EBADF, lc.TimerfdSettime(-1, 0, &soon, nil))
		require.Equal(t, syscall.EBADF, lc.TimerfdGettime(-1, &cur))
		require.Equal(t, syscall.EINVAL, lc.TimerfdSettime(fd, 0, &unix.ItimerSpec{Value: unix.Timespec{Nsec: 2e9}}, nil), "nsec out of range")
		_, err = lc.TimerfdCreate(9999, 0)
		require.Equal(t, syscall.EINVAL, err, "bad clock")
		_, err = lc.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.O_APPEND)
		require.Equal(t, syscall.EINVAL, err, "bad flag")
		p := pipeOn(t, lc, 0)
		require.Equal(t, syscall.EINVAL, lc.TimerfdGettime(p[0], &cur), "not a timerfd")
	})
}

func TestCloseRange(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		p, err := lc.Pipe2(0)
		require.NoError(t, err)
		defer lc.Close(p[1])
		err = lc.CloseRange(uint(p[0]), uint(p[0]), 0)
		if kerneltest.Differs(t, k, "lkl", "Linux 4.9 has no close_range (5.9+): ENOSYS") {
			require.Equal(t, syscall.ENOSYS, err)
			require.ErrorIs(t, err, errors.ErrUnsupported)
			require.NoError(t, lc.Close(p[0]))
			return
		}
		require.NoError(t, err)
		_, err = lc.FcntlInt(p[0], unix.F_GETFD, 0)
		require.Equal(t, syscall.EBADF, err, "closed by close_range")

		// CLOSE_RANGE_CLOEXEC marks instead of closing.
		_, err = lc.FcntlInt(p[1], unix.F_SETFD, 0)
		require.NoError(t, err)
		require.NoError(t, lc.CloseRange(uint(p[1]), uint(p[1]), unix.CLOSE_RANGE_CLOEXEC))
		requireCloexec(t, lc, p[1])

		require.Equal(t, syscall.EINVAL, lc.CloseRange(10, 9, 0), "first > last")
	})
}

// TestBadFD calls every wrapper that takes an fd with one that is not
// open: each says EBADF, as the kernel does. (The timerfd calls are in
// TestTimerfd: LKL has none.)
func TestBadFD(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		const bad = -1
		buf := make([]byte, 8)
		sa := &libgo.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
		for _, tc := range []struct {
			name string
			call func() error
		}{
			{"Dup", func() error { _, err := lc.Dup(bad); return err }},
			{"Dup3", func() error { return lc.Dup3(bad, 100, 0) }},
			{"FcntlInt", func() error { _, err := lc.FcntlInt(bad, unix.F_GETFD, 0); return err }},
			{"CloseOnExec", func() error { return lc.CloseOnExec(bad) }},
			{"FcntlGetfl", func() error { _, err := lc.FcntlGetfl(bad); return err }},
			{"FcntlSetfl", func() error { return lc.FcntlSetfl(bad, 0) }},
			{"SetNonblock", func() error { return lc.SetNonblock(bad, true) }},
			{"Bind", func() error { return lc.Bind(bad, sa) }},
			{"Connect", func() error { return lc.Connect(bad, sa) }},
			{"Listen", func() error { return lc.Listen(bad, 1) }},
			{"Accept4", func() error { _, _, err := lc.Accept4(bad, 0); return err }},
			{"Getsockname", func() error { _, err := lc.Getsockname(bad); return err }},
			{"Getpeername", func() error { _, err := lc.Getpeername(bad); return err }},
			{"Shutdown", func() error { return lc.Shutdown(bad, unix.SHUT_RDWR) }},
			{"Sendto", func() error { _, err := lc.Sendto(bad, buf, 0, sa); return err }},
			{"Recvfrom", func() error { _, _, err := lc.Recvfrom(bad, buf, 0); return err }},
			{"Sendmsg", func() error { _, err := lc.Sendmsg(bad, buf, nil, sa, 0); return err }},
			{"Sendmsg oob only", func() error { _, err := lc.Sendmsg(bad, nil, buf, nil, 0); return err }},
			{"Recvmsg", func() error { _, _, _, _, err := lc.Recvmsg(bad, buf, nil, 0); return err }},
			{"GetsockoptInt", func() error { _, err := lc.GetsockoptInt(bad, unix.SOL_SOCKET, unix.SO_TYPE); return err }},
			{"SetsockoptInt", func() error { return lc.SetsockoptInt(bad, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) }},
			{"GetsockoptLinger", func() error { _, err := lc.GetsockoptLinger(bad, unix.SOL_SOCKET, unix.SO_LINGER); return err }},
			{"SetsockoptLinger", func() error { return lc.SetsockoptLinger(bad, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{}) }},
			{"GetsockoptTimeval", func() error { _, err := lc.GetsockoptTimeval(bad, unix.SOL_SOCKET, unix.SO_RCVTIMEO); return err }},
			{"SetsockoptTimeval", func() error { return lc.SetsockoptTimeval(bad, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{}) }},
			{"SetKeepAlivePeriod", func() error { return lc.SetKeepAlivePeriod(bad, 1) }},
			{"SocketError", func() error { return lc.SocketError(bad) }},
			{"EpollCtl", func() error { return lc.EpollCtl(bad, unix.EPOLL_CTL_ADD, 0, &unix.EpollEvent{}) }},
			{"EpollWait", func() error { _, err := lc.EpollWait(bad, make([]unix.EpollEvent, 1), 0); return err }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				require.Equal(t, syscall.EBADF, tc.call())
			})
		}
	})
}
