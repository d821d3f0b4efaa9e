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
