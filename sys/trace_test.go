package sys_test

import (
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

func TestTracerRecords(t *testing.T) {
	var calls []sys.Call
	tr := sys.NewTracer(sys.Host(), func(c sys.Call) { calls = append(calls, c) })
	require.Equal(t, "host", tr.Name())
	require.Equal(t, sys.Host(), tr.Unwrap())

	r, w := pipe(t, sys.Host())
	msg := []byte("abc")
	n, _, errno := sys.SyscallOn(tr, unix.SYS_WRITE, w, uintptr(unsafe.Pointer(&msg[0])), 3, 0, 0, 0)
	require.Zero(t, errno)
	require.Equal(t, uintptr(3), n)
	_, _, errno = sys.SyscallOn(tr, unix.SYS_CLOSE, 1<<30, 0, 0, 0, 0, 0)
	require.Equal(t, unix.EBADF, errno)
	_ = r

	require.Len(t, calls, 2)
	require.Equal(t, "write", calls[0].Name())
	require.Equal(t, uintptr(unix.SYS_WRITE), calls[0].Trap)
	require.Equal(t, [6]uintptr{w, uintptr(unsafe.Pointer(&msg[0])), 3}, calls[0].Args)
	require.Equal(t, uintptr(3), calls[0].R1)
	require.Zero(t, calls[0].Err)
	require.Equal(t, "host", calls[0].Kernel)
	require.False(t, calls[0].Start.IsZero())
	require.Positive(t, calls[0].Duration)

	require.Equal(t, "close", calls[1].Name())
	require.Equal(t, unix.EBADF, calls[1].Err)
}

func TestCallString(t *testing.T) {
	tests := []struct {
		name string
		call sys.Call
		want string
	}{
		{"no args", sys.Call{Trap: unix.SYS_GETPID, R1: 42, Duration: 300 * time.Nanosecond}, "getpid() = 42 <300ns>"},
		{"three args", sys.Call{Trap: unix.SYS_READ, Args: [6]uintptr{3, 0xc000, 0x1000}, R1: 5, Duration: time.Microsecond}, "read(0x3, 0xc000, 0x1000) = 5 <1µs>"},
		{"zero args still shown up to arity", sys.Call{Trap: unix.SYS_READ, Args: [6]uintptr{0, 0, 0}}, "read(0x0, 0x0, 0x0) = 0 <0s>"},
		{"error", sys.Call{Trap: unix.SYS_CLOSE, Args: [6]uintptr{9}, R1: ^uintptr(0), Err: unix.EBADF}, "close(0x9) = -1 EBADF (bad file descriptor) <0s>"},
		{"unknown number", sys.Call{Trap: 99999, Args: [6]uintptr{1, 0, 2}, Err: unix.ENOSYS}, "syscall_99999(0x1, 0x0, 0x2) = -1 ENOSYS (function not implemented) <0s>"},
		{"extra non-zero argument shown", sys.Call{Trap: unix.SYS_GETPID, Args: [6]uintptr{0, 7}}, "getpid(0x0, 0x7) = 0 <0s>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.call.String())
		})
	}
}

// lockedBuilder is a strings.Builder that the race detector may watch.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestWriteTraceConcurrent(t *testing.T) {
	var out lockedBuilder
	tr := sys.NewTracer(sys.Host(), sys.WriteTrace(&out))
	const goroutines, calls = 8, 200
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range calls {
				sys.SyscallOn(tr, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(out.b.String(), "\n"), "\n")
	require.Len(t, lines, goroutines*calls)
	for _, l := range lines {
		require.Regexp(t, `^\[host\] getpid\(\) = \d+ <[0-9.]+[nµm]?s>$`, l)
	}
}
