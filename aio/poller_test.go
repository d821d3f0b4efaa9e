package aio_test

import (
	"fmt"
	"io/fs"
	"math"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

func TestPipeReadiness(t *testing.T) {
	tests := []struct {
		name  string
		end   int                                                              // the end registered: 0 read, 1 write
		ev    aio.Events                                                       // registered for
		setup func(t *testing.T, lc *libgo.Libc, p [2]int, closeEnd [2]func()) // what happens first
		want  aio.Events                                                       // reported; 0: nothing
	}{
		{name: "nothing before a write", end: 0, ev: aio.Read},
		{name: "read after a write", end: 0, ev: aio.Read,
			setup: func(t *testing.T, lc *libgo.Libc, p [2]int, _ [2]func()) { write(t, lc, p[1], "x") },
			want:  aio.Read},
		{name: "write on an empty pipe", end: 1, ev: aio.Write, want: aio.Write},
		{name: "read end not writable", end: 0, ev: aio.Write},
		{name: "write end not readable", end: 1, ev: aio.Read},
		{name: "writer closed", end: 0, ev: aio.Read,
			setup: func(t *testing.T, _ *libgo.Libc, _ [2]int, closeEnd [2]func()) { closeEnd[1]() },
			want:  aio.HUP},
		{name: "writer closed after a write", end: 0, ev: aio.Read,
			setup: func(t *testing.T, lc *libgo.Libc, p [2]int, closeEnd [2]func()) {
				write(t, lc, p[1], "x")
				closeEnd[1]()
			},
			want: aio.Read | aio.HUP},
		{name: "reader closed", end: 1, ev: aio.Write,
			setup: func(t *testing.T, _ *libgo.Libc, _ [2]int, closeEnd [2]func()) { closeEnd[0]() },
			want:  aio.Write | aio.Error},
		{name: "HUP and Error are reported unasked", end: 0, ev: 0,
			setup: func(t *testing.T, _ *libgo.Libc, _ [2]int, closeEnd [2]func()) { closeEnd[1]() },
			want:  aio.HUP},
	}
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p := newPoller(t, k)
				fds, closeEnd := pipe(t, lc)
				const token = 0x1234_5678_9abc_def0
				require.NoError(t, p.Add(fds[tc.end], tc.ev, token))
				if tc.setup != nil {
					tc.setup(t, lc, fds, closeEnd)
				}
				if tc.want == 0 {
					requireNone(t, p)
					return
				}
				var events [4]aio.Event
				require.Equal(t, []aio.Event{{Token: token, Events: tc.want}}, wait(t, p, events[:]))
			})
		}
	})
}

func TestEdgeTriggered(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		p := newPoller(t, k)
		fds, _ := pipe(t, lc)
		require.NoError(t, p.Add(fds[0], aio.Read|aio.EdgeTriggered, 7))
		requireNone(t, p)
		var events [4]aio.Event
		for i := range 3 {
			write(t, lc, fds[1], "x")
			require.Equal(t, []aio.Event{{Token: 7, Events: aio.Read}}, wait(t, p, events[:]), "edge %d", i)
			requireNone(t, p) // the data is still there, but there is no new edge
		}
		// Draining makes no edge either; the next write does.
		buf := make([]byte, 8)
		n, err := lc.Read(fds[0], buf)
		require.NoError(t, err)
		require.Equal(t, 3, n)
		requireNone(t, p)
		write(t, lc, fds[1], "y")
		require.Equal(t, []aio.Event{{Token: 7, Events: aio.Read}}, wait(t, p, events[:]))
	})
}

func TestLevelTriggeredRepeats(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		p := newPoller(t, k)
		fds, _ := pipe(t, lc)
		require.NoError(t, p.Add(fds[0], aio.Read, 7))
		write(t, lc, fds[1], "x")
		var events [4]aio.Event
		for range 3 {
			require.Equal(t, []aio.Event{{Token: 7, Events: aio.Read}}, wait(t, p, events[:]))
		}
	})
}

func TestOneShot(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		p := newPoller(t, k)
		fds, _ := pipe(t, lc)
		require.NoError(t, p.Add(fds[0], aio.Read|aio.OneShot, 1))
		write(t, lc, fds[1], "x")
		var events [4]aio.Event
		require.Equal(t, []aio.Event{{Token: 1, Events: aio.Read}}, wait(t, p, events[:]))
		requireNone(t, p) // disabled, though the data is still there
		write(t, lc, fds[1], "y")
		requireNone(t, p) // and a new edge does not arm it either
		require.NoError(t, p.Modify(fds[0], aio.Read|aio.OneShot, 2))
		require.Equal(t, []aio.Event{{Token: 2, Events: aio.Read}}, wait(t, p, events[:]), "Modify re-arms, with the new token")
		requireNone(t, p)
	})
}

func TestManyFDs(t *testing.T) {
	const pipes = 256
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		p := newPoller(t, k)
		readEnd := map[uint64]int{}
		for i := range pipes {
			fds, _ := pipe(t, lc)
			token := uint64(i+1) * 0x9e37_79b9_7f4a_7c15 // spread over all 64 bits
			readEnd[token] = fds[0]
			require.NoError(t, p.Add(fds[0], aio.Read, token))
			write(t, lc, fds[1], "x")
		}
		seen := map[uint64]bool{}
		events := make([]aio.Event, 17) // fewer than the fds: several Waits
		buf := make([]byte, 4)
		for len(seen) < pipes {
			for _, ev := range wait(t, p, events) {
				fd, ok := readEnd[ev.Token]
				require.True(t, ok, "unknown token %#x", ev.Token)
				require.False(t, seen[ev.Token], "token %#x seen twice", ev.Token)
				require.Equal(t, aio.Read, ev.Events)
				seen[ev.Token] = true
				n, err := lc.Read(fd, buf) // drained: level-triggered, it is not reported again
				require.NoError(t, err)
				require.Equal(t, 1, n)
			}
		}
		requireNone(t, p)
	})
}

func TestTokens(t *testing.T) {
	tokens := []uint64{0, 1, 1 << 31, 1 << 32, 1 << 63, math.MaxUint32, math.MaxUint64, math.MaxUint64 - 1,
		0xdead_beef_cafe_f00d, 0x0123_4567_89ab_cdef}
	for i := range 64 {
		tokens = append(tokens, 1<<i, ^(uint64(1) << i))
	}
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		p := newPoller(t, k)
		efd, err := lc.EventFD(1, unix.EFD_NONBLOCK) // readable while its counter is not 0
		require.NoError(t, err)
		closer(t, lc, efd)
		require.NoError(t, p.Add(efd, aio.Read, 0))
		var events [4]aio.Event
		for _, token := range tokens {
			require.NoError(t, p.Modify(efd, aio.Read, token))
			require.Equal(t, []aio.Event{{Token: token, Events: aio.Read}}, wait(t, p, events[:]), "token %#x", token)
		}
	})
}

// The poller's eventfd has the reserved token; a caller's fd may not.
func TestReservedToken(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		p := newPoller(t, k)
		fds, _ := pipe(t, lc)
		err := p.Add(fds[0], aio.Read, aio.ReservedToken)
		require.ErrorIs(t, err, syscall.EINVAL)
		var se *os.SyscallError
		require.ErrorAs(t, err, &se)
		require.NoError(t, p.Add(fds[0], aio.Read, 5))
		require.ErrorIs(t, p.Modify(fds[0], aio.Read, aio.ReservedToken), syscall.EINVAL)
		requireSilentWake(t, p)
		require.NoError(t, p.Delete(fds[0]))
	})
}

// requireSilentWake checks that a Wake ends a Wait without an event.
func requireSilentWake(t *testing.T, p *aio.Poller) {
	t.Helper()
	require.NoError(t, p.Wake())
	var events [4]aio.Event
	for aio.WakeSig(p) != 0 { // a signal may end a Wait before it reads the eventfd
		n, err := p.Wait(events[:], waitLimit)
		require.NoError(t, err)
		require.Zero(t, n)
	}
}

// Every Wake ends a Wait blocked in another goroutine, however many times:
// on LKL the woken epoll_wait is a task made runnable by another thread's
// eventfd write, and such tasks used to wait for a timer tick that might
// never come (third_party/lkl fix 12).
func TestWakeEndsWait(t *testing.T) {
	const rounds = 2000
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		wk := newWatchKernel(k)
		p := newPoller(t, wk)
		for i := range rounds {
			done := waitInBackground(p)
			receive(t, wk.blocking, "Wait(-1) entering the kernel")
			require.NoError(t, p.Wake())
			r := receive(t, done, fmt.Sprintf("Wait(-1) after Wake %d of %d", i+1, rounds))
			require.NoError(t, r.err)
			require.Zero(t, r.n, "the wake itself is never reported")
		}
	})
}

func TestConcurrentWakes(t *testing.T) {
	const wakers = 100
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		wk := newWatchKernel(k)
		p := newPoller(t, wk)
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, wakers)
		for range wakers {
			wg.Go(func() {
				<-start
				errs <- p.Wake()
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.EqualValues(t, 1, wk.writes.Load(), "one write to the eventfd for all the wakes")
		require.EqualValues(t, 1, aio.WakeSig(p))

		var events [4]aio.Event
		for aio.WakeSig(p) != 0 { // a signal may end a Wait before it reads the eventfd
			n, err := p.Wait(events[:], waitLimit)
			require.NoError(t, err)
			require.Zero(t, n)
		}
		lc := libgo.New(k)
		var counter [8]byte
		_, err := lc.Read(aio.WakeFD(p), counter[:])
		require.Equal(t, syscall.EAGAIN, err, "the eventfd is drained")
		requireNone(t, p)

		// The flag is clear again: the next Wake writes.
		require.NoError(t, p.Wake())
		require.EqualValues(t, 2, wk.writes.Load())
	})
}

func TestCloseEndsWait(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		wk := newWatchKernel(k)
		p, err := aio.New(wk)
		require.NoError(t, err)
		done := waitInBackground(p)
		receive(t, wk.blocking, "Wait(-1) entering the kernel")
		require.NoError(t, p.Close())
		r := receive(t, done, "Wait(-1) after Close")
		require.ErrorIs(t, r.err, fs.ErrClosed)
		require.Zero(t, r.n)
	})
}

func TestUseAfterClose(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		fds, _ := pipe(t, lc)
		p, err := aio.New(k)
		require.NoError(t, err)
		require.NoError(t, p.Add(fds[0], aio.Read, 1))
		require.NoError(t, p.Close())
		var events [1]aio.Event
		for _, tc := range []struct {
			name string
			call func() error
		}{
			{"Close", p.Close},
			{"Add", func() error { return p.Add(fds[1], aio.Write, 2) }},
			{"Modify", func() error { return p.Modify(fds[0], aio.Read, 3) }},
			{"Delete", func() error { return p.Delete(fds[0]) }},
			{"Wake", p.Wake},
			{"Wait", func() error { _, err := p.Wait(events[:], 0); return err }},
			{"Wait(-1)", func() error { _, err := p.Wait(events[:], -1); return err }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call()
				require.ErrorIs(t, err, fs.ErrClosed)
				require.ErrorIs(t, err, os.ErrClosed)
			})
		}
	})
}

func TestErrors(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		p := newPoller(t, k)
		fds, closeEnd := pipe(t, lc)
		other, _ := pipe(t, lc)
		require.NoError(t, p.Add(fds[0], aio.Read, 1))
		closeEnd[1]()
		var events [1]aio.Event
		for _, tc := range []struct {
			name    string
			call    func() error
			syscall string
			errno   syscall.Errno
		}{
			{"Wait with no room", func() error { _, err := p.Wait(nil, 0); return err }, "epoll_pwait", syscall.EINVAL},
			{"Wait with an empty slice", func() error { _, err := p.Wait(events[:0], -1); return err }, "epoll_pwait", syscall.EINVAL},
			{"Add twice", func() error { return p.Add(fds[0], aio.Read, 1) }, "epoll_ctl", syscall.EEXIST},
			{"Add a closed fd", func() error { return p.Add(fds[1], aio.Read, 1) }, "epoll_ctl", syscall.EBADF},
			{"Add unknown bits", func() error { return p.Add(fds[0], aio.OneShot<<1, 1) }, "epoll_ctl", syscall.EINVAL},
			{"Add the eventfd", func() error { return p.Add(aio.WakeFD(p), aio.Read, 1) }, "epoll_ctl", syscall.EINVAL},
			{"Delete the eventfd", func() error { return p.Delete(aio.WakeFD(p)) }, "epoll_ctl", syscall.EINVAL},
			{"Modify unregistered", func() error { return p.Modify(other[0], aio.Read, 1) }, "epoll_ctl", syscall.ENOENT},
			{"Delete unregistered", func() error { return p.Delete(other[0]) }, "epoll_ctl", syscall.ENOENT},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call()
				var se *os.SyscallError
				require.ErrorAs(t, err, &se)
				require.Equal(t, tc.syscall, se.Syscall)
				require.Equal(t, tc.errno, se.Err)
			})
		}
		// The poller still works.
		require.Equal(t, []aio.Event{{Token: 1, Events: aio.HUP}}, wait(t, p, events[:]))
	})
}

// A nil kernel is the process default, fixed when New is called.
func TestNewDefaultKernel(t *testing.T) {
	p, err := aio.New(nil)
	require.NoError(t, err)
	defer p.Close()
	fds, _ := pipe(t, libgo.New(sys.Default()))
	require.NoError(t, p.Add(fds[0], aio.Read, 9))
	write(t, &libgo.Libc{}, fds[1], "x")
	var events [2]aio.Event
	require.Equal(t, []aio.Event{{Token: 9, Events: aio.Read}}, wait(t, p, events[:]))
}

func TestWaitAllocatesNothing(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		p := newPoller(t, k)
		fds, _ := pipe(t, lc)
		require.NoError(t, p.Add(fds[0], aio.Read, 1))
		write(t, lc, fds[1], "x")
		events := make([]aio.Event, 8)
		var n int
		var err error
		allocs := testing.AllocsPerRun(100, func() { n, err = p.Wait(events, 0) })
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Zero(t, allocs, "allocations per Wait")
		// Nor with a wake to drain.
		allocs = testing.AllocsPerRun(100, func() {
			p.Wake()
			n, err = p.Wait(events, 0)
		})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Zero(t, allocs, "allocations per Wake + Wait")
	})
}
