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

// injector returns k with faults injected.
func injector(t testing.TB, k sys.Kernel, seed uint64, faults ...sys.Fault) *sys.Injector {
	t.Helper()
	in, err := sys.NewInjector(k, seed, faults...)
	require.NoError(t, err)
	return in
}

// requireSyscallError checks that err is an *os.SyscallError for the call
// name wrapping errno.
func requireSyscallError(t testing.TB, err error, name string, errno syscall.Errno) {
	t.Helper()
	var se *os.SyscallError
	require.ErrorAs(t, err, &se)
	require.Equal(t, name, se.Syscall)
	require.Equal(t, errno, se.Err)
	require.ErrorIs(t, err, errno)
}

// Faults in Wait: EINTR is "wait again", anything else an error; either
// way the next Wait works.
func TestWaitFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault sys.Fault
		errno syscall.Errno // 0: Wait returns 0, nil
		name2 string        // the call named in the error
	}{
		{name: "EINTR in epoll_pwait", fault: sys.Fault{Trap: unix.SYS_EPOLL_PWAIT, Nth: 1, Errno: unix.EINTR}},
		{name: "ENOMEM in epoll_pwait", fault: sys.Fault{Trap: unix.SYS_EPOLL_PWAIT, Nth: 1, Errno: unix.ENOMEM},
			errno: unix.ENOMEM, name2: "epoll_pwait"},
		{name: "EIO reading the eventfd", fault: sys.Fault{Trap: unix.SYS_READ, Nth: 1, Errno: unix.EIO},
			errno: unix.EIO, name2: "read"},
	}
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				in := injector(t, k, 1, tc.fault)
				p := newPoller(t, in)
				require.NoError(t, p.Wake()) // something to read from the eventfd
				var events [4]aio.Event
				n, err := p.Wait(events[:], waitLimit)
				require.Zero(t, n)
				if tc.errno == 0 {
					require.NoError(t, err)
				} else {
					requireSyscallError(t, err, tc.name2, tc.errno)
				}
				require.Len(t, in.Fired(), 1)

				// The wake is still there for the next Wait, which drains it.
				n, err = p.Wait(events[:], waitLimit)
				require.NoError(t, err)
				require.Zero(t, n)
				require.Zero(t, aio.WakeSig(p))

				// And events come through.
				lc := libgo.New(k)
				fds, _ := pipe(t, lc)
				require.NoError(t, p.Add(fds[0], aio.Read, 8))
				write(t, lc, fds[1], "x")
				require.Equal(t, []aio.Event{{Token: 8, Events: aio.Read}}, wait(t, p, events[:]))
			})
		}
	})
}

// Faults while making a Poller and registering fds name the failing call.
func TestSetupFaults(t *testing.T) {
	tests := []struct {
		name  string
		trap  uintptr
		call  string
		errno syscall.Errno
	}{
		{"epoll_create1", unix.SYS_EPOLL_CREATE1, "epoll_create1", unix.EMFILE},
		{"eventfd2", unix.SYS_EVENTFD2, "eventfd2", unix.ENFILE},
		{"epoll_ctl", unix.SYS_EPOLL_CTL, "epoll_ctl", unix.ENOMEM},
	}
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				in := injector(t, k, 1, sys.Fault{Trap: tc.trap, Nth: 1, Errno: tc.errno})
				p, err := aio.New(in)
				require.Nil(t, p)
				requireSyscallError(t, err, tc.call, tc.errno)
			})
		}
		// A failed epoll_ctl in Add leaves the poller working.
		in := injector(t, k, 1, sys.Fault{Trap: unix.SYS_EPOLL_CTL, Nth: 2, Errno: unix.ENOSPC})
		p := newPoller(t, in)
		lc := libgo.New(k)
		fds, _ := pipe(t, lc)
		requireSyscallError(t, p.Add(fds[0], aio.Read, 1), "epoll_ctl", unix.ENOSPC)
		require.NoError(t, p.Add(fds[0], aio.Read, 1))
	})
}

// Reads that say EAGAIN half the time are would-blocks, and a retry loop
// still reads every byte, in order.
func TestReadEAGAINStorm(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		in := injector(t, k, 42, sys.Fault{Trap: unix.SYS_READ, Probability: 0.5, Errno: unix.EAGAIN})
		lc := libgo.New(k)
		nb := aio.NewNonblock(in)
		p := newPoller(t, k)
		fds, closeEnd := pipe(t, lc)
		msg := bytes.Repeat([]byte("aio!"), 4096) // 16 KiB: fits in the pipe
		n, wouldBlock, err := aio.NewNonblock(k).Write(fds[1], msg)
		require.NoError(t, err)
		require.False(t, wouldBlock)
		require.Equal(t, len(msg), n)
		closeEnd[1]()

		require.NoError(t, p.Add(fds[0], aio.Read, 0))
		var got []byte
		buf := make([]byte, 100)
		var events [1]aio.Event
		blocked := 0
		for {
			n, wouldBlock, err := nb.Read(fds[0], buf)
			require.NoError(t, err)
			if wouldBlock {
				blocked++
				wait(t, p, events[:]) // level-triggered: the data is still there
				continue
			}
			if n == 0 {
				break
			}
			got = append(got, buf[:n]...)
		}
		require.Equal(t, msg, got)
		require.Positive(t, blocked)
		require.Len(t, in.Fired(), blocked, "every injected EAGAIN, and only those, was a would-block")
	})
}

// EINTR is retried, and short writes are written on, inside Nonblock.
func TestNonblockRetries(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		in := injector(t, k, 1,
			sys.Fault{Trap: unix.SYS_READ, Nth: 1, Errno: unix.EINTR},
			sys.Fault{Trap: unix.SYS_WRITE, Count: 3, Short: 2},
			sys.Fault{Trap: unix.SYS_WRITE, Nth: 1, Errno: unix.EINTR})
		nb := aio.NewNonblock(in)
		fds, _ := pipe(t, libgo.New(k))
		n, wouldBlock, err := nb.Write(fds[1], []byte("0123456789"))
		require.NoError(t, err)
		require.False(t, wouldBlock)
		require.Equal(t, 10, n)
		buf := make([]byte, 16)
		n, wouldBlock, err = nb.Read(fds[0], buf)
		require.NoError(t, err)
		require.False(t, wouldBlock)
		require.Equal(t, "0123456789", string(buf[:n]))
		require.Len(t, in.Fired(), 5, "3 short writes, an EINTR on each side")
	})
}

func TestAcceptENOMEM(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		in := injector(t, k, 1, sys.Fault{Trap: unix.SYS_ACCEPT4, Nth: 1, Errno: unix.ENOMEM})
		nb := aio.NewNonblock(in)
		ln, _ := tcpListener(t, libgo.New(k))
		nfd, sa, wouldBlock, err := nb.Accept(ln)
		require.False(t, wouldBlock)
		require.Equal(t, -1, nfd)
		require.Nil(t, sa)
		requireSyscallError(t, err, "accept4", unix.ENOMEM)

		_, _, wouldBlock, err = nb.Accept(ln)
		require.NoError(t, err)
		require.True(t, wouldBlock, "the next accept4 reaches the kernel: nothing is waiting")
	})
}
