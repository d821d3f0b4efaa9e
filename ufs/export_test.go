package ufs

import (
	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/sys"
)

// AsyncBackends returns the backends an Async can take on k, by the names
// GOKERNEL_AIO takes: epoll always, and uring where aio.Choose would pick
// it for the Async's operations.
func AsyncBackends(k sys.Kernel) []string {
	backends := []string{aio.Epoll.String()}
	if sys.IsHost(k) && aio.Choose(k, ringOps...).Backend == aio.Uring {
		backends = append(backends, aio.Uring.String())
	}
	return backends
}

// RingOps returns how many operations a's ring has started (0 without a
// ring).
func RingOps(a *Async) uint64 {
	if a.ring == nil {
		return 0
	}
	a.ring.mu.Lock()
	defer a.ring.mu.Unlock()
	return a.ring.started
}

// RingDirect reports whether a's ring has a file table, so that its
// ReadFiles are linked chains (uring_direct.go).
func RingDirect(a *Async) bool {
	return a.ring != nil && a.ring.direct
}
