package aio_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
)

// nops pushes rounds × SQEntries no-ops through r, a queue's worth per
// enter, so the rings wrap around, and checks every completion.
func nops(t *testing.T, r *aio.Ring, rounds int) {
	t.Helper()
	n := int(r.SQEntries())
	for round := range rounds {
		for i := range n {
			s := getSQE(t, r)
			s.PrepNop()
			s.UserData = uint64(round*n + i)
		}
		got := reapN(t, r, n)
		for i, c := range got {
			require.Equal(t, aio.CQE{UserData: uint64(round*n + i)}, c)
		}
	}
}

// onHostRing runs f on each kernel with io_uring, on a locked thread
// (the registered ring fd and SINGLE_ISSUER are the thread's); LKL has
// none.
func onHostRing(t *testing.T, f func(t *testing.T, k sys.Kernel)) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		if kerneltest.Differs(t, k, "lkl", "no io_uring on Linux 4.9: nothing to register or set up") {
			_, err := aio.NewRing(k, aio.RingConfig{RegisterRing: true, SingleIssuer: true, NoSQArray: true, SQPoll: true})
			require.ErrorIs(t, err, unix.ENOSYS)
			return
		}
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		kerneltest.CheckFDs(t, k)
		f(t, k)
	})
}

// RegisterRing: enters name the ring by its registered index; Close
// unregisters it (the kernel allows 16 per thread, and 20 rings in turn
// are each registered); a kernel that refuses falls back to the fd; and
// without SingleIssuer nothing is registered.
func TestRingRegisterRing(t *testing.T) {
	onHostRing(t, func(t *testing.T, k sys.Kernel) {
		cfg := aio.RingConfig{Entries: 4, SingleIssuer: true, RegisterRing: true}
		for i := range 20 {
			r, err := aio.NewRing(k, cfg)
			require.NoError(t, err)
			require.True(t, r.RegisteredRing(), "ring %d registered (Close unregisters the ones before)", i)
			nops(t, r, 3)
			require.NoError(t, r.Close())
			require.False(t, r.RegisteredRing())
		}

		in := injector(t, k, 1, sys.Fault{Trap: unix.SYS_IO_URING_REGISTER, Nth: 1, Errno: unix.EINVAL})
		r, err := aio.NewRing(in, cfg)
		require.NoError(t, err)
		require.Len(t, in.Fired(), 1)
		require.False(t, r.RegisteredRing(), "refused: the plain fd")
		nops(t, r, 3)
		require.NoError(t, r.Close())

		r, err = aio.NewRing(k, aio.RingConfig{Entries: 4, RegisterRing: true})
		require.NoError(t, err)
		require.False(t, r.RegisteredRing(), "a registration is one thread's: only with SingleIssuer")
		nops(t, r, 1)
		require.NoError(t, r.Close())
	})
}

// NoSQArray: the kernel takes entries in ring order; one that refuses
// the flag gives a ring with the array and the other flags.
func TestRingNoSQArray(t *testing.T) {
	onHostRing(t, func(t *testing.T, k sys.Kernel) {
		cfg := aio.RingConfig{Entries: 4, SingleIssuer: true, NoSQArray: true}
		r, err := aio.NewRing(k, cfg)
		require.NoError(t, err)
		require.NotZero(t, r.SetupFlags()&aio.SetupNoSQArray, "Linux 6.6 or later has NO_SQARRAY")
		nops(t, r, 5)
		require.NoError(t, r.Close())

		in := injector(t, k, 1, sys.Fault{Trap: unix.SYS_IO_URING_SETUP, Nth: 1, Errno: unix.EINVAL})
		r, err = aio.NewRing(in, cfg)
		require.NoError(t, err)
		require.Zero(t, r.SetupFlags()&aio.SetupNoSQArray, "refused: the array")
		require.NotZero(t, r.SetupFlags()&aio.SetupDeferTaskrun, "the rest as asked")
		nops(t, r, 5)
		require.NoError(t, r.Close())
	})
}

// SQPoll: the kernel thread takes the entries, also after it has gone to
// sleep (the next Submit wakes it); with SQPOLL refused, a plain ring.
func TestRingSQPoll(t *testing.T) {
	onHostRing(t, func(t *testing.T, k sys.Kernel) {
		cfg := aio.RingConfig{Entries: 4, SingleIssuer: true, SQPoll: true, SQThreadIdle: time.Millisecond}
		r, err := aio.NewRing(k, cfg)
		require.NoError(t, err)
		require.NotZero(t, r.SetupFlags()&aio.SetupSQPoll)
		require.Zero(t, r.SetupFlags()&aio.SetupDeferTaskrun, "DEFER_TASKRUN does not go with SQPOLL")
		nops(t, r, 3)
		time.Sleep(20 * time.Millisecond) // idle: the thread sleeps
		nops(t, r, 3)
		require.NoError(t, r.Close())

		// Every SQPOLL try refused (three of them): the tries without it.
		in := injector(t, k, 1, sys.Fault{Trap: unix.SYS_IO_URING_SETUP, Count: 3, Errno: unix.EINVAL})
		r, err = aio.NewRing(in, cfg)
		require.NoError(t, err)
		require.Len(t, in.Fired(), 3)
		require.Zero(t, r.SetupFlags()&aio.SetupSQPoll)
		require.NotZero(t, r.SetupFlags()&aio.SetupDeferTaskrun)
		nops(t, r, 3)
		require.NoError(t, r.Close())
	})
}
