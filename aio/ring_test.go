package aio_test

import (
	"errors"
	"io/fs"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// onRing runs f with a Ring on each kernel that has io_uring, and checks
// that the others (LKL, Linux 4.9) refuse one with ENOSYS.
func onRing(t *testing.T, cfg aio.RingConfig, f func(t *testing.T, k sys.Kernel, r *aio.Ring)) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		r, err := aio.NewRing(k, cfg)
		if kerneltest.Differs(t, k, "lkl", "Linux 4.9 has no io_uring: io_uring_setup is ENOSYS") {
			require.Nil(t, r)
			requireSyscallError(t, err, "io_uring_setup", syscall.ENOSYS)
			require.ErrorIs(t, err, errors.ErrUnsupported)
			return
		}
		require.NoError(t, err)
		kerneltest.CheckFDs(t, k)
		t.Cleanup(func() { r.Close() })
		f(t, k, r)
	})
}

// reapN waits until n completions have been reaped and returns them.
func reapN(t testing.TB, r *aio.Ring, n int) []aio.CQE {
	t.Helper()
	out := make([]aio.CQE, 0, n)
	buf := make([]aio.CQE, 16)
	deadline := time.Now().Add(waitLimit)
	for len(out) < n {
		got, err := r.Reap(buf)
		require.NoError(t, err)
		out = append(out, buf[:got]...)
		if got == 0 {
			require.True(t, time.Now().Before(deadline), "%d of %d completions within %v", len(out), n, waitLimit)
			_, err := r.SubmitAndWaitTimeout(1, 100*time.Millisecond)
			require.NoError(t, err)
		}
	}
	return out
}

func getSQE(t testing.TB, r *aio.Ring) *aio.SQE {
	t.Helper()
	s := r.GetSQE()
	require.NotNil(t, s, "submission queue full")
	return s
}

// A write and a read on a pipe, linked, in one enter.
func TestRingReadWrite(t *testing.T) {
	onRing(t, aio.RingConfig{}, func(t *testing.T, k sys.Kernel, r *aio.Ring) {
		require.Equal(t, uint32(aio.DefaultRingEntries), r.SQEntries())
		require.Equal(t, 2*r.SQEntries(), r.CQEntries())
		lc := libgo.New(k)
		fds, _ := pipe(t, lc)
		msg := []byte("through the ring")
		buf := make([]byte, 64)
		s := getSQE(t, r)
		s.PrepWrite(fds[1], msg, -1)
		s.UserData = 1
		s.Flags |= aio.SQEIOLink
		s = getSQE(t, r)
		s.PrepRead(fds[0], buf, -1)
		s.UserData = 2
		require.Equal(t, uint32(2), r.Pending())
		n, err := r.SubmitAndWait(2)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		require.Zero(t, r.Pending())
		cqes := reapN(t, r, 2)
		require.Equal(t, []aio.CQE{{UserData: 1, Res: int32(len(msg))}, {UserData: 2, Res: int32(len(msg))}}, cqes)
		require.Equal(t, msg, buf[:len(msg)])
		require.Nil(t, r.PeekCQE())
		require.Zero(t, r.Ready())

		// A bad fd is the completion's error, not Submit's.
		s = getSQE(t, r)
		s.PrepRead(1<<20, buf, 0)
		s.UserData = 3
		_, err = r.Submit()
		require.NoError(t, err)
		c := reapN(t, r, 1)[0]
		require.Equal(t, uint64(3), c.UserData)
		require.Equal(t, syscall.EBADF, c.Err())

		// Nothing to submit costs nothing and says 0.
		n, err = r.Submit()
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

// The queue holds SQEntries entries; GetSQE says nil beyond.
func TestRingFull(t *testing.T) {
	onRing(t, aio.RingConfig{Entries: 3}, func(t *testing.T, k sys.Kernel, r *aio.Ring) {
		require.Equal(t, uint32(4), r.SQEntries(), "rounded up to a power of two")
		for i := range 4 {
			getSQE(t, r).PrepNop()
			_ = i
		}
		require.Nil(t, r.GetSQE())
		_, err := r.Submit()
		require.NoError(t, err)
		require.NotNil(t, r.GetSQE(), "room again once submitted")
		r.Submit()
		require.Len(t, reapN(t, r, 5), 5)
	})
}

// More completions than the completion queue holds: the kernel keeps
// them (IORING_FEAT_NODROP), flags the overflow, and Reap delivers every
// one, in order, none twice.
func TestRingCQOverflow(t *testing.T) {
	onRing(t, aio.RingConfig{Entries: 2, CQEntries: 2}, func(t *testing.T, k sys.Kernel, r *aio.Ring) {
		require.NotZero(t, r.Features()&aio.FeatNoDrop)
		const total = 40
		for i := range total {
			s := getSQE(t, r)
			s.PrepNop()
			s.UserData = uint64(i)
			if r.Pending() == r.SQEntries() || i == total-1 {
				_, err := r.Submit()
				require.NoError(t, err)
			}
		}
		require.NotZero(t, aio.SQFlags(r)&aio.SQCQOverflow, "the kernel holds completions back")
		cqes := reapN(t, r, total)
		for i, c := range cqes {
			require.Equal(t, uint64(i), c.UserData)
			require.Zero(t, c.Res)
		}
		require.Zero(t, aio.SQFlags(r)&aio.SQCQOverflow)
		require.Zero(t, r.Overflowed())
		n, err := r.Reap(make([]aio.CQE, 4))
		require.NoError(t, err)
		require.Zero(t, n, "nothing twice")
	})
}

// A timed wait with nothing to complete returns after its timeout, with
// no error; a registered eventfd counts completions.
func TestRingWaitTimeoutAndEventFD(t *testing.T) {
	onRing(t, aio.RingConfig{}, func(t *testing.T, k sys.Kernel, r *aio.Ring) {
		n, err := r.SubmitAndWaitTimeout(1, time.Millisecond)
		require.NoError(t, err)
		require.Zero(t, n)
		require.Zero(t, r.Ready())

		lc := libgo.New(k)
		efd, err := lc.EventFD(0, unix.EFD_NONBLOCK)
		require.NoError(t, err)
		closer(t, lc, efd)
		require.NoError(t, r.RegisterEventFD(efd))
		getSQE(t, r).PrepNop()
		_, err = r.SubmitAndWait(1)
		require.NoError(t, err)
		var b [8]byte
		_, err = lc.Read(efd, b[:])
		require.NoError(t, err, "the eventfd was signalled")
		reapN(t, r, 1)
		require.NoError(t, r.UnregisterEventFD())
	})
}

// Faults in io_uring_enter: EAGAIN, EBUSY and ENOMEM leave the entries
// queued (RingBusy), and the next Submit sends them; EINTR in a wait is
// "wait again"; another errno is an error naming the call.
func TestRingEnterFaults(t *testing.T) {
	for _, errno := range []syscall.Errno{unix.EAGAIN, unix.EBUSY, unix.ENOMEM, unix.EINTR, unix.EBADF} {
		t.Run(errno.Error(), func(t *testing.T) {
			kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
				in := injector(t, k, 1, sys.Fault{Trap: unix.SYS_IO_URING_ENTER, Nth: 1, Errno: errno})
				r, err := aio.NewRing(in, aio.RingConfig{Entries: 4})
				if kerneltest.Differs(t, k, "lkl", "no io_uring on Linux 4.9") {
					require.ErrorIs(t, err, syscall.ENOSYS)
					return
				}
				require.NoError(t, err)
				defer r.Close()
				s := getSQE(t, r)
				s.PrepNop()
				s.UserData = 7
				n, err := r.SubmitAndWait(1)
				switch errno {
				case unix.EINTR:
					require.NoError(t, err, "a signal ends the wait early")
					require.Zero(t, n)
				case unix.EBADF:
					requireSyscallError(t, err, "io_uring_enter", errno)
					require.False(t, aio.RingBusy(err))
				default:
					requireSyscallError(t, err, "io_uring_enter", errno)
					require.True(t, aio.RingBusy(err))
				}
				require.Equal(t, uint32(1), r.Pending(), "the entry is still queued")
				require.Len(t, in.Fired(), 1)
				require.Equal(t, []aio.CQE{{UserData: 7}}, reapN(t, r, 1))
				require.Zero(t, r.Pending())
			})
		})
	}
}

// Setup falls back to fewer flags when the kernel refuses some, and a
// failed mmap leaks nothing.
func TestRingSetupFaults(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		if kerneltest.Differs(t, k, "lkl", "no io_uring on Linux 4.9: only ENOSYS to check") {
			_, err := aio.NewRing(k, aio.RingConfig{})
			require.ErrorIs(t, err, syscall.ENOSYS)
			return
		}
		kerneltest.CheckFDs(t, k)
		in := injector(t, k, 1, sys.Fault{Trap: unix.SYS_IO_URING_SETUP, Nth: 1, Errno: unix.EINVAL})
		r, err := aio.NewRing(in, aio.RingConfig{})
		require.NoError(t, err)
		require.Zero(t, r.SetupFlags()&aio.SetupCoopTaskrun, "the second try asks for no task-run flags")
		require.NoError(t, r.Close())
		require.ErrorIs(t, r.Close(), fs.ErrClosed, "a second close")

		for nth := 1; nth <= 2; nth++ {
			in = injector(t, k, 1, sys.Fault{Trap: unix.SYS_MMAP, Nth: nth, Errno: unix.ENOMEM})
			r, err = aio.NewRing(in, aio.RingConfig{})
			require.Nil(t, r)
			requireSyscallError(t, err, "mmap", unix.ENOMEM)
		}
		in = injector(t, k, 1, sys.Fault{Trap: unix.SYS_IO_URING_SETUP, Errno: unix.ENOSYS})
		_, err = aio.NewRing(in, aio.RingConfig{})
		require.ErrorIs(t, err, errors.ErrUnsupported)
		for _, cfg := range []aio.RingConfig{{Entries: aio.MaxRingEntries + 1}, {Entries: 8, CQEntries: 4}} {
			_, err = aio.NewRing(k, cfg)
			requireSyscallError(t, err, "io_uring_setup", unix.EINVAL)
		}
	})
}

// SINGLE_ISSUER|DEFER_TASKRUN on a locked thread: completions come
// through the waits and reaps of that thread.
func TestRingSingleIssuer(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		// The ring is the thread's that made it: lock before NewRing, in
		// the goroutine that uses it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		r, err := aio.NewRing(k, aio.RingConfig{SingleIssuer: true})
		if kerneltest.Differs(t, k, "lkl", "no io_uring on Linux 4.9") {
			require.ErrorIs(t, err, syscall.ENOSYS)
			return
		}
		require.NoError(t, err)
		defer r.Close()
		require.NotZero(t, r.SetupFlags()&aio.SetupDeferTaskrun, "Linux 6.1 or later has DEFER_TASKRUN")
		lc := libgo.New(k)
		fds, _ := pipe(t, lc)
		buf := make([]byte, 8)
		s := getSQE(t, r)
		s.PrepRead(fds[0], buf, -1)
		s.UserData = 1
		_, err = r.Submit()
		require.NoError(t, err)
		write(t, lc, fds[1], "late")
		c := reapN(t, r, 1)[0]
		require.Equal(t, aio.CQE{UserData: 1, Res: 4}, c)
		require.Equal(t, "late", string(buf[:4]))
	})
}

// The probe knows the basic operations, and Choose follows it and
// GOKERNEL_AIO.
func TestProbeAndChoose(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		c := aio.Choose(k)
		if kerneltest.Differs(t, k, "lkl", "LKL has no io_uring: epoll") {
			require.Equal(t, aio.Epoll, c.Backend)
			require.Contains(t, c.Reason, "not the host")
			return
		}
		r, err := aio.NewRing(k, aio.RingConfig{Entries: 2})
		require.NoError(t, err)
		defer r.Close()
		p, err := r.Probe()
		require.NoError(t, err)
		for _, op := range append(aio.NetOps, aio.OpNop, aio.OpOpenat2, aio.OpStatx, aio.OpFsync) {
			require.True(t, p.Supports(op), "op %d", op)
		}
		require.GreaterOrEqual(t, p.LastOp(), aio.OpSendZC)
		require.False(t, p.Supports(255))

		require.Equal(t, aio.Uring, c.Backend, c.Reason)
		require.Equal(t, "uring", c.Backend.String())
		in := injector(t, k, 1) // not the plain host: probed afresh
		require.Equal(t, aio.Uring, aio.Choose(in, aio.OpRead).Backend)
		require.Equal(t, aio.Epoll, aio.Choose(in, 255).Backend)
		t.Setenv(aio.EnvBackend, "epoll")
		require.Equal(t, aio.Choice{Backend: aio.Epoll, Reason: "GOKERNEL_AIO=epoll"}, aio.Choose(k))
		t.Setenv(aio.EnvBackend, "bogus")
		c = aio.Choose(k)
		require.Equal(t, aio.Uring, c.Backend)
		require.Contains(t, c.Reason, `"bogus" is not`)
		f := sys.Fault{Trap: unix.SYS_IO_URING_SETUP, Errno: unix.ENOSYS}
		t.Setenv(aio.EnvBackend, "uring")
		c = aio.Choose(injector(t, k, 1, f))
		require.Equal(t, aio.Epoll, c.Backend)
		require.Contains(t, c.Reason, "no io_uring")
	})
}

// Multishot accept and multishot receive into a buffer ring, then
// cancellation: every operation ends with one completion without
// CQEFMore, and the buffers come back.
func TestRingMultishotNet(t *testing.T) {
	onRing(t, aio.RingConfig{}, func(t *testing.T, k sys.Kernel, r *aio.Ring) {
		lc := libgo.New(k)
		br, err := r.NewBufRing(1, 4, 16)
		require.NoError(t, err)
		defer br.Close()
		require.Equal(t, 16, br.Size())
		require.Nil(t, br.Buf(4))

		ln, addr := tcpListener(t, lc)
		s := getSQE(t, r)
		s.PrepAcceptMultishot(ln, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		s.UserData = 100
		_, err = r.Submit()
		require.NoError(t, err)

		var clients [2]int
		for i := range clients {
			clients[i] = dial(t, lc, addr)
		}
		var conns []int
		for _, c := range reapN(t, r, 2) {
			require.Equal(t, uint64(100), c.UserData)
			require.NoError(t, c.Err())
			require.True(t, c.More())
			conns = append(conns, int(c.Res))
			closer(t, lc, int(c.Res))
		}

		s = getSQE(t, r)
		s.PrepRecvMultishot(conns[0], br.Group(), 0)
		s.UserData = 200
		_, err = r.Submit()
		require.NoError(t, err)
		var got []byte
		for _, msg := range []string{"first", "second message!", "third"} {
			write(t, lc, clients[0], msg)
			c := reapN(t, r, 1)[0]
			require.Equal(t, uint64(200), c.UserData)
			require.True(t, c.More())
			id, ok := c.BufferID()
			require.True(t, ok)
			got = append(got, br.Buf(id)[:c.Res]...)
			br.Recycle(id)
			br.Publish()
		}
		require.Equal(t, "firstsecond message!third", string(got))

		// Cancel both by user data; each ends with ECANCELED.
		for _, ud := range []uint64{100, 200} {
			s = getSQE(t, r)
			s.PrepCancel(ud, 0)
			s.UserData = 1000 + ud
		}
		_, err = r.Submit()
		require.NoError(t, err)
		ends := map[uint64]aio.CQE{}
		for _, c := range reapN(t, r, 4) {
			ends[c.UserData] = c
		}
		require.Equal(t, syscall.ECANCELED, ends[100].Err())
		require.False(t, ends[100].More())
		require.Equal(t, syscall.ECANCELED, ends[200].Err())
		require.NoError(t, ends[1100].Err())
		require.NoError(t, ends[1200].Err())
		n, _ := r.Reap(make([]aio.CQE, 4))
		require.Zero(t, n)
	})
}

// dial connects a blocking TCP socket to addr and returns it, closed when
// the test ends.
func dial(t testing.TB, lc *libgo.Libc, addr libgo.Sockaddr) int {
	t.Helper()
	fd, err := lc.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	require.NoError(t, err)
	closer(t, lc, fd)
	require.NoError(t, lc.Connect(fd, addr))
	return fd
}
