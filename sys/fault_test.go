package sys_test

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

func getpid(k sys.Kernel) sys.Errno {
	_, _, e := sys.SyscallOn(k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
	return e
}

func TestInjectorNth(t *testing.T) {
	in, err := sys.NewInjector(sys.Host(), 1, sys.Fault{Trap: unix.SYS_GETPID, Nth: 3, Errno: unix.EIO})
	require.NoError(t, err)
	var got []sys.Errno
	for range 5 {
		got = append(got, getpid(in))
	}
	require.Equal(t, []sys.Errno{0, 0, unix.EIO, 0, 0}, got)
	require.Equal(t, []sys.Injection{{Fault: 0, Trap: unix.SYS_GETPID, Call: 3, Errno: unix.EIO}}, in.Fired())
}

func TestInjectorCountAndAnyTrap(t *testing.T) {
	in, err := sys.NewInjector(sys.Host(), 1, sys.Fault{Trap: sys.AnyTrap, Count: 2, Errno: unix.ENOMEM})
	require.NoError(t, err)
	require.Equal(t, unix.ENOMEM, getpid(in))
	_, _, e := sys.SyscallOn(in, unix.SYS_GETUID, 0, 0, 0, 0, 0, 0)
	require.Equal(t, unix.ENOMEM, e)
	require.Zero(t, getpid(in))
	require.Len(t, in.Fired(), 2)
}

func TestInjectorProbabilityIsSeeded(t *testing.T) {
	run := func(seed uint64) []sys.Errno {
		in, err := sys.NewInjector(sys.Host(), seed, sys.Fault{Trap: unix.SYS_GETPID, Probability: 0.3, Errno: unix.EAGAIN})
		require.NoError(t, err)
		var got []sys.Errno
		for range 1000 {
			got = append(got, getpid(in))
		}
		return got
	}
	a, b, c := run(7), run(7), run(8)
	require.Equal(t, a, b, "same seed, same faults")
	require.NotEqual(t, a, c, "another seed, other faults")
	failed := 0
	for _, e := range a {
		if e != 0 {
			require.Equal(t, unix.EAGAIN, e)
			failed++
		}
	}
	require.InDelta(t, 300, failed, 60, "about 30%% of 1000 calls")
}

// An injected errno must not reach the kernel: the write has no effect.
func TestInjectorErrnoHasNoSideEffect(t *testing.T) {
	in, err := sys.NewInjector(sys.Host(), 1, sys.Fault{Trap: unix.SYS_WRITE, Nth: 1, Errno: unix.EINTR})
	require.NoError(t, err)
	r, w := pipe(t, sys.Host())
	msg := []byte("xy")
	n, _, e := sys.SyscallOn(in, unix.SYS_WRITE, w, uintptr(unsafe.Pointer(&msg[0])), 2, 0, 0, 0)
	require.Equal(t, unix.EINTR, e)
	require.Equal(t, ^uintptr(0), n)
	var avail int32 // TIOCINQ is FIONREAD: bytes waiting in the pipe
	_, _, e = sys.SyscallOn(sys.Host(), unix.SYS_IOCTL, r, unix.TIOCINQ, uintptr(unsafe.Pointer(&avail)), 0, 0, 0)
	require.Zero(t, e)
	require.Zero(t, avail, "the injected EINTR wrote nothing")
}

func TestInjectorShort(t *testing.T) {
	in, err := sys.NewInjector(sys.Host(), 1,
		sys.Fault{Trap: unix.SYS_WRITE, Short: 3},
		sys.Fault{Trap: unix.SYS_READ, Nth: 1, Short: 1})
	require.NoError(t, err)
	r, w := pipe(t, sys.Host())
	msg := []byte("hello")
	n, _, e := sys.SyscallOn(in, unix.SYS_WRITE, w, uintptr(unsafe.Pointer(&msg[0])), 5, 0, 0, 0)
	require.Zero(t, e)
	require.Equal(t, uintptr(3), n, "write cut to 3 bytes")
	n, _, e = sys.SyscallOn(in, unix.SYS_WRITE, w, uintptr(unsafe.Pointer(&msg[3])), 2, 0, 0, 0)
	require.Zero(t, e)
	require.Equal(t, uintptr(2), n, "a write of no more than Short bytes is untouched")

	buf := make([]byte, 8)
	n, _, e = sys.SyscallOn(in, unix.SYS_READ, r, uintptr(unsafe.Pointer(&buf[0])), 8, 0, 0, 0)
	require.Zero(t, e)
	require.Equal(t, "h", string(buf[:n]))
	n, _, e = sys.SyscallOn(in, unix.SYS_READ, r, uintptr(unsafe.Pointer(&buf[0])), 8, 0, 0, 0)
	require.Zero(t, e)
	require.Equal(t, "ello", string(buf[:n]))
	require.Len(t, in.Fired(), 2)
}

func TestInjectorRejectsBadFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault sys.Fault
		want  string
	}{
		{"neither errno nor short", sys.Fault{Trap: unix.SYS_READ}, "exactly one of Errno and Short"},
		{"both errno and short", sys.Fault{Trap: unix.SYS_READ, Errno: unix.EIO, Short: 1}, "exactly one of Errno and Short"},
		{"short on a call without a count", sys.Fault{Trap: unix.SYS_CLOSE, Short: 1}, "not close"},
		{"probability over 1", sys.Fault{Trap: unix.SYS_READ, Errno: unix.EIO, Probability: 2}, "at most 1"},
		{"negative nth", sys.Fault{Trap: unix.SYS_READ, Errno: unix.EIO, Nth: -1}, "non-negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sys.NewInjector(sys.Host(), 1, tc.fault)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
