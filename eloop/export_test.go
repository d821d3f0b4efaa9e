package eloop

import "github.com/gokernel/gokernel/aio"

// Dispatch delivers an event with token as if the poller had reported
// it; call it on the loop goroutine.
func (l *Loop) Dispatch(token uint64, ev aio.Events) { l.dispatch(token, ev) }

// PendingOutput returns c's unsent output and whether reading from c is
// paused; call it on c's loop.
func (c *Conn) PendingOutput() (pending int, paused bool) { return c.pending(), !c.reading }

// AcceptErrors returns how many accept errors s counted and retried.
func (s *Server) AcceptErrors() int64 { return s.acceptEr.Load() }

// SetRingSize sizes the rings of the loops made from now on, until the
// test ends.
func SetRingSize(t interface{ Cleanup(func()) }, sq, cq uint32) {
	old := ringConfig
	ringConfig.Entries, ringConfig.CQEntries = sq, cq
	t.Cleanup(func() { ringConfig = old })
}

// RingStats returns, once Serve has returned, the completions of s's
// loops that matched no connection (never expected), how many times
// their rings' completion queues overflowed and were flushed, and how
// many cancellations of operations in flight were queued.
func (s *Server) RingStats() (stale int, overflows uint64, cancels int) {
	for _, sl := range s.loops {
		stale += sl.u.stale
		overflows += sl.l.u.overflows
		cancels += sl.u.cancels
	}
	return stale, overflows, cancels
}
