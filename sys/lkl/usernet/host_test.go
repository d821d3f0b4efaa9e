package usernet_test

import (
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/host"
	"github.com/gokernel/gokernel/sys/lkl/usernet"
)

// recordingHost is a host.Caller that records each call's number and
// first argument on its way to the host kernel, as a sys.Tracer around
// sys.Host() would.
type recordingHost struct {
	mu    sync.Mutex
	calls [][2]uintptr
}

func (r *recordingHost) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, syscall.Errno) {
	r.mu.Lock()
	r.calls = append(r.calls, [2]uintptr{trap, a1})
	r.mu.Unlock()
	return host.Kernel{}.Syscall(trap, a1, a2, a3, a4, a5, a6)
}

// The Network's own host calls go through Config.Host: closing its end
// of the socketpair, on Close and when New fails.
func TestHostCallsThroughConfig(t *testing.T) {
	for _, fail := range []bool{false, true} {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err)
		rec := &recordingHost{}
		cfg := usernet.Config{Host: rec}
		if fail {
			cfg.MTU = -1 // New refuses it and closes fds[1]
		}
		n, err := usernet.New(fds[1], cfg)
		if fail {
			require.Error(t, err)
		} else {
			require.NoError(t, err)
			require.NoError(t, n.Close())
		}
		unix.Close(fds[0])
		rec.mu.Lock()
		require.True(t, slices.Contains(rec.calls, [2]uintptr{unix.SYS_CLOSE, uintptr(fds[1])}),
			"fail=%v: close(%d) not made through Config.Host: %v", fail, fds[1], rec.calls)
		rec.mu.Unlock()
	}
}
