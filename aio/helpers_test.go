package aio_test

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// waitLimit bounds every wait that expects something to happen, so a
// broken kernel fails the test instead of hanging it; it is not a timing
// claim.
const waitLimit = 10 * time.Second

// newPoller returns a Poller on k, closed when the test ends.
func newPoller(t testing.TB, k sys.Kernel) *aio.Poller {
	t.Helper()
	p, err := aio.New(k)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

// closer returns a function that closes fd once, also run when the test
// ends, so a test can close an fd early without a second close hitting a
// reused number.
func closer(t testing.TB, lc *libgo.Libc, fd int) func() {
	var once sync.Once
	f := func() { once.Do(func() { require.NoError(t, lc.Close(fd)) }) }
	t.Cleanup(f)
	return f
}

// pipe returns a non-blocking pipe on lc and a closer for each end.
func pipe(t testing.TB, lc *libgo.Libc) (p [2]int, closeEnd [2]func()) {
	t.Helper()
	p, err := lc.Pipe2(unix.O_NONBLOCK)
	require.NoError(t, err)
	return p, [2]func(){closer(t, lc, p[0]), closer(t, lc, p[1])}
}

// wait waits until p reports at least one event and returns them. A Wait
// may return 0 events early (a signal to the waiting thread, a Wake), so
// it loops, until waitLimit.
func wait(t testing.TB, p *aio.Poller, events []aio.Event) []aio.Event {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		left := time.Until(deadline)
		require.Positive(t, left, "no event within %v", waitLimit)
		n, err := p.Wait(events, left)
		require.NoError(t, err)
		if n > 0 {
			return events[:n]
		}
	}
}

// requireNone checks that p has no event ready now.
func requireNone(t testing.TB, p *aio.Poller) {
	t.Helper()
	var events [4]aio.Event
	n, err := p.Wait(events[:], 0)
	require.NoError(t, err)
	require.Zero(t, n, "unexpected events %v", events[:n])
}

// write writes b to fd in one call.
func write(t testing.TB, lc *libgo.Libc, fd int, b string) {
	t.Helper()
	n, err := lc.Write(fd, []byte(b))
	require.NoError(t, err)
	require.Equal(t, len(b), n)
}

// watchKernel passes calls to its inner kernel, counting writes,
// recording the timeout of every epoll_pwait, and telling when one without
// a timeout starts, so a test can act while a Wait(-1) blocks (or is about
// to: the eventfd keeps a wake until it is read, so acting just before the
// call works the same).
type watchKernel struct {
	sys.Kernel
	blocking chan struct{} // gets a value (if there is room) as a Wait(-1) enters the kernel
	writes   atomic.Int64  // write(2) calls

	mu       sync.Mutex
	timeouts []int // of each epoll_pwait, in ms; guarded by mu
}

func newWatchKernel(k sys.Kernel) *watchKernel {
	return &watchKernel{Kernel: k, blocking: make(chan struct{}, 1)}
}

// waitTimeouts returns the timeouts of the epoll_pwaits so far.
func (w *watchKernel) waitTimeouts() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.timeouts)
}

func (w *watchKernel) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, sys.Errno) {
	if trap == unix.SYS_EPOLL_PWAIT {
		w.mu.Lock()
		w.timeouts = append(w.timeouts, int(int32(a4)))
		w.mu.Unlock()
	}
	switch {
	case trap == unix.SYS_EPOLL_PWAIT && int(a4) == -1:
		select {
		case w.blocking <- struct{}{}:
		default:
		}
	case trap == unix.SYS_WRITE:
		w.writes.Add(1)
	}
	return w.Kernel.Syscall(trap, a1, a2, a3, a4, a5, a6)
}

// waitResult is what a Wait in another goroutine returned.
type waitResult struct {
	n   int
	err error
}

// waitInBackground starts Wait(-1) on p in a goroutine and returns where
// its result arrives; the channel has room for it, so the goroutine ends
// even if the test has stopped listening.
func waitInBackground(p *aio.Poller) <-chan waitResult {
	done := make(chan waitResult, 1)
	go func() {
		var events [4]aio.Event
		n, err := p.Wait(events[:], -1)
		done <- waitResult{n, err}
	}()
	return done
}

// receive returns what arrives on c, failing the test after waitLimit.
func receive[T any](t testing.TB, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("%s: nothing within %v", what, waitLimit)
		panic("unreachable")
	}
}

// IsHost passes the inner kernel's capability on (sys.HostKernel).
func (w *watchKernel) IsHost() bool { return sys.IsHost(w.Kernel) }
