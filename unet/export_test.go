package unet

import "github.com/gokernel/gokernel/aio"

// UringCounts are a Stack's io_uring dispatchers' counters (poll_uring.go).
type UringCounts struct {
	Rings, Stale, Leaked, Overflows uint64
}

// UringStats returns s's counters; all zero on epoll.
func UringStats(s *Stack) UringCounts {
	st := &s.poll.ustats
	st.mu.Lock()
	defer st.mu.Unlock()
	return UringCounts{Rings: st.rings, Stale: st.stale, Leaked: st.leaked, Overflows: st.overflows}
}

// SetUringConfig sizes the rings of dispatchers started from now on and
// returns a function that restores the old size.
func SetUringConfig(c aio.RingConfig) (restore func()) {
	old := uringConfig
	uringConfig = c
	return func() { uringConfig = old }
}
