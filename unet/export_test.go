package unet

import "github.com/gokernel/gokernel/aio"

// UringCounts are a Stack's io_uring dispatchers' counters (poll_uring.go).
type UringCounts struct {
	Rings, Stale, Leaked, Overflows uint64
	Recycled, Starved               uint64 // provided buffers read, receives out of buffers
}

// UringStats returns s's counters; all zero on epoll.
func UringStats(s *Stack) UringCounts {
	st := &s.poll.ustats
	st.mu.Lock()
	defer st.mu.Unlock()
	return UringCounts{Rings: st.rings, Stale: st.stale, Leaked: st.leaked, Overflows: st.overflows,
		Recycled: st.recycled.Load(), Starved: st.starved}
}

// SetUringConfig sizes the rings of dispatchers started from now on and
// returns a function that restores the old size.
func SetUringConfig(c aio.RingConfig) (restore func()) {
	old := uringConfig
	uringConfig = c
	return func() { uringConfig = old }
}

// SetUringRecvBufs turns the completion-based receive on for dispatchers
// started from now on, with count provided buffers of size bytes (0: the
// default), and returns a function that restores the old state.
func SetUringRecvBufs(count, size int) (restore func()) {
	old, oldForce := uringRecvBufs, uringRecvForce
	if count > 0 {
		uringRecvBufs.count, uringRecvBufs.size = count, size
	}
	uringRecvForce = true
	return func() { uringRecvBufs, uringRecvForce = old, oldForce }
}

// SetUringRecvFault makes the arming of receives fail with what f returns
// (nil: arm) and returns a function that restores the old state.
func SetUringRecvFault(f func() error) (restore func()) {
	old := uringRecvFault
	uringRecvFault = f
	return func() { uringRecvFault = old }
}

// RecvMode returns c's receive mode: "none", "on" or "off".
func RecvMode(c any) string {
	var fd *netFD
	switch c := c.(type) {
	case *TCPConn:
		fd = c.fd
	default:
		return "?"
	}
	return [...]string{"none", "on", "off"}[fd.rq.mode.Load()]
}
