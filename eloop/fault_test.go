package eloop_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
)

// TestInterruptedWaits makes a third of the loop's epoll_pwait calls fail
// with EINTR, and on io_uring a third of its io_uring_enter calls with
// EINTR and some with EAGAIN, EBUSY and ENOMEM (the kernel busy: reap,
// then submit again); every timer and every posted task must still run,
// in order.
func TestInterruptedWaits(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		in, err := sys.NewInjector(k, 7, append([]sys.Fault{
			{Trap: unix.SYS_EPOLL_PWAIT, Probability: 0.3, Errno: unix.EINTR}},
			enterFaults(backend)...)...)
		require.NoError(t, err)
		l, _ := startLoop(t, in, eloop.Options{MaxTasksPerTurn: 3})

		const posts, timers = 100, 20
		got := make(chan int, posts)
		for i := range posts {
			require.NoError(t, l.Post(func() { got <- i }))
		}
		for i := range posts {
			require.Equal(t, i, recv(t, got))
		}

		fired := make(chan int, timers)
		require.NoError(t, l.Post(func() {
			for i := range timers {
				l.AfterFunc(time.Duration(i)*time.Millisecond, func() { fired <- i })
			}
		}))
		for i := range timers {
			require.Equal(t, i, recv(t, fired))
		}
		require.NotEmpty(t, in.Fired(), "no fault fired")
	})
}

// enterFaults are the io_uring_enter faults of the fault tests on the
// uring backend (none on epoll): EINTR often, and the three "busy"
// errnos a few times each.
func enterFaults(backend string) []sys.Fault {
	if backend != "uring" {
		return nil
	}
	return []sys.Fault{
		{Trap: unix.SYS_IO_URING_ENTER, Probability: 0.3, Errno: unix.EINTR},
		{Trap: unix.SYS_IO_URING_ENTER, Probability: 0.1, Count: 3, Errno: unix.EAGAIN},
		{Trap: unix.SYS_IO_URING_ENTER, Probability: 0.1, Count: 3, Errno: unix.EBUSY},
		{Trap: unix.SYS_IO_URING_ENTER, Probability: 0.1, Count: 3, Errno: unix.ENOMEM},
	}
}
