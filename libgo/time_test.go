package libgo_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// monotonic reads lc's kernel's CLOCK_MONOTONIC.
func monotonic(t *testing.T, lc *libgo.Libc) time.Duration {
	t.Helper()
	var ts unix.Timespec
	require.NoError(t, lc.ClockGettime(unix.CLOCK_MONOTONIC, &ts))
	return time.Duration(ts.Nano())
}

func TestClockGettime(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		prev := monotonic(t, lc)
		for range 1000 {
			now := monotonic(t, lc)
			require.GreaterOrEqual(t, now, prev, "CLOCK_MONOTONIC never goes back")
			prev = now
		}
		for _, tc := range []struct {
			name  string
			clock int32
		}{
			{name: "realtime", clock: unix.CLOCK_REALTIME},
			{name: "boottime", clock: unix.CLOCK_BOOTTIME},
			{name: "monotonic raw", clock: unix.CLOCK_MONOTONIC_RAW},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var ts unix.Timespec
				require.NoError(t, lc.ClockGettime(tc.clock, &ts))
				require.Positive(t, ts.Nano())
				require.Less(t, ts.Nsec, int64(1e9))
			})
		}
		var ts unix.Timespec
		require.Equal(t, syscall.EINVAL, lc.ClockGettime(1000, &ts), "no such clock")
		require.Equal(t, syscall.EFAULT, lc.ClockGettime(unix.CLOCK_MONOTONIC, nil))
	})
}

func TestNanosleep(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		for _, tc := range []struct {
			name string
			d    time.Duration
		}{
			{name: "zero", d: 0},
			{name: "1ns", d: 1},
			{name: "1ms", d: time.Millisecond},
			{name: "20ms", d: 20 * time.Millisecond},
			{name: "1.01s", d: 1010 * time.Millisecond}, // seconds and nanoseconds
		} {
			t.Run(tc.name, func(t *testing.T) {
				start := monotonic(t, lc)
				require.NoError(t, lc.Nanosleep(tc.d))
				require.GreaterOrEqual(t, monotonic(t, lc)-start, tc.d, "slept at least d on the kernel's own clock")
			})
		}
		require.Equal(t, syscall.EINVAL, lc.Nanosleep(-time.Millisecond))
	})
}

func TestNanosleepEINTR(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		const d = 10 * time.Millisecond
		in, err := sys.NewInjector(k, 1, sys.Fault{Trap: unix.SYS_NANOSLEEP, Count: 2, Errno: syscall.EINTR})
		require.NoError(t, err)
		lc := libgo.New(in)
		start := monotonic(t, lc)
		require.NoError(t, lc.Nanosleep(d))
		require.GreaterOrEqual(t, monotonic(t, lc)-start, d, "the whole request is slept after EINTR")
		require.Len(t, in.Fired(), 2, "two EINTRs, both retried")
	})
}
